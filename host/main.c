/* kubelua: the command line. Runs a script, -e code, stdin or a REPL in a
 * lua_State prepared by kl_state.c; shaped after Lua's own lua.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "kl_state.h"

static const char *progname = "kubelua";
static lua_State *global_L;

static void print_usage(FILE *f)
{
  fprintf(f,
          "usage: %s [options] [script [args...]]\n"
          "Run Lua 5.4 scripts with a Kubernetes API client.\n\n"
          "  -e CODE      run CODE (may be repeated)\n"
          "  -v=N         verbosity for API requests (6: requests, 8: bodies,\n"
          "               9: curl commands); same as KUBELUA_VERBOSE=N\n"
          "  -            run the script read from standard input\n"
          "  --           stop handling options\n"
          "  --version    print the version and exit\n"
          "  --help       print this help and exit\n\n"
          "With no script and a terminal on stdin, starts a REPL.\n",
          progname);
}

/* Hook set on SIGINT: stops a busy Lua loop at the next instruction. */
static void lstop(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int sig)
{
  int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;

  signal(sig, SIG_DFL); /* a second SIGINT kills the process */
  lua_sethook(global_L, lstop, flag, 1);
}

/* [-1, +1] Message handler: keeps error objects (tables) whole and adds
 * a traceback field; turns anything else into "message\ntraceback". */
static int msghandler(lua_State *L)
{
  if(lua_type(L, 1) == LUA_TTABLE) {
    /* raw: a read-only error object (__newindex) keeps its message */
    lua_pushliteral(L, "traceback");
    luaL_traceback(L, L, NULL, 1);
    lua_rawset(L, 1);
    lua_settop(L, 1);
    return 1;
  }
  if(!lua_isstring(L, 1) && !luaL_callmeta(L, 1, "__tostring"))
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, lua_tostring(L, -1), 1);
  return 1;
}

/* [-1, +1] tostring(error object), called protected by report(). */
static int error_tostring(lua_State *L)
{
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* [-0, +0] Print the error on top of the stack as "kubelua: message". */
static void report(lua_State *L)
{
  const char *msg;

  fflush(stdout); /* keep what the script printed before its error */
  if(lua_type(L, -1) == LUA_TTABLE) {
    /* an error object's __tostring may itself fail: still report both */
    lua_pushcfunction(L, error_tostring);
    lua_pushvalue(L, -2);
    if(lua_pcall(L, 1, 1, 0) != LUA_OK) {
      msg = lua_tostring(L, -1);
      lua_pushfstring(L,
                      "(error object is a table value; its __tostring "
                      "failed: %s)",
                      msg ? msg : "(no message)");
      lua_remove(L, -2);
    }
    fprintf(stderr, "%s: %s\n", progname, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushliteral(L, "traceback");
    if(lua_rawget(L, -2) == LUA_TSTRING)
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  } else {
    msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(no message)");
  }
  fflush(stderr);
  lua_pop(L, 1);
}

/* [-(nargs+1), +0] Call the chunk under the message handler and SIGINT. */
static int docall(lua_State *L, int nargs, int nres)
{
  int base = lua_gettop(L) - nargs;
  int status;

  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  global_L = L;
  signal(SIGINT, laction);
  status = lua_pcall(L, nargs, nres, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

/* [-1, +0] __index of _G: reading an undefined global is an error, so a
 * typo in a script fails at once with its name, not as "call a nil". */
static int undefined_global(lua_State *L)
{
  return luaL_error(L, "undefined global '%s'", luaL_tolstring(L, 2, NULL));
}

/* [-0, +0] */
static void strict_globals(lua_State *L)
{
  lua_pushglobaltable(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, undefined_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* [-0, +1] The `arg` table, as lua.c builds it: script at 0, its arguments
 * at 1.., the interpreter and its options at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
  int i;

  lua_createtable(L, argc - script - 1, script + 1);
  for(i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status)
{
  if(status == LUA_OK)
    status = docall(L, 0, 0);
  if(status != LUA_OK)
    report(L);
  return status;
}

static int run_script(lua_State *L, char **argv, int argc, int script)
{
  const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
  int n = argc - script - 1;
  int status;
  int i;

  status = luaL_loadfilex(L, fname, "t"); /* text only, never bytecode */
  if(status != LUA_OK) {
    report(L);
    return status;
  }
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for(i = 1; i <= n; i++)
    lua_pushstring(L, argv[script + i]);
  status = docall(L, n, 0);
  if(status != LUA_OK)
    report(L);
  return status;
}

/* Does `line` need more input? Lua reports an unfinished chunk as an
 * error message ending in "<eof>". */
static int incomplete(lua_State *L, int status)
{
  size_t len;
  const char *msg;

  if(status != LUA_ERRSYNTAX)
    return 0;
  msg = lua_tolstring(L, -1, &len);
  return len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* A plain REPL: expressions print their values; statements may span lines. */
static void repl(lua_State *L)
{
  char line[4096];

  printf("kubelua %s (%s)  local k8s = require \"kubelua\"\n", KL_VERSION,
         LUA_RELEASE);
  for(;;) {
    int status;

    lua_settop(L, 0);
    fputs("> ", stdout);
    fflush(stdout);
    if(!fgets(line, sizeof(line), stdin))
      break;
    lua_pushfstring(L, "return %s", line);
    status =
        luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
    if(status != LUA_OK) {
      lua_settop(L, 0);
      lua_pushstring(L, line);
      for(;;) {
        status =
            luaL_loadbuffer(L, lua_tostring(L, 1), lua_rawlen(L, 1), "=stdin");
        if(!incomplete(L, status))
          break;
        lua_pop(L, 1);
        fputs(">> ", stdout);
        fflush(stdout);
        if(!fgets(line, sizeof(line), stdin))
          break;
        lua_pushstring(L, line);
        lua_concat(L, 2);
      }
    }
    if(status == LUA_OK) {
      int base = lua_gettop(L);

      status = docall(L, 0, LUA_MULTRET);
      if(status == LUA_OK && lua_gettop(L) >= base) {
        int n = lua_gettop(L) - base + 1;

        lua_getglobal(L, "print");
        lua_insert(L, base);
        if(lua_pcall(L, n, 0, 0) != LUA_OK)
          report(L);
      } else if(status != LUA_OK) {
        report(L);
      }
    } else {
      report(L);
    }
  }
  fputs("\n", stdout);
}

static int set_verbosity(const char *level)
{
  char *end;
  long v = strtol(level, &end, 10);

  if(!*level || *end || v < 0 || v > 10) {
    fprintf(stderr, "%s: -v takes a level from 0 to 10, not '%s'\n", progname,
            level);
    return 0;
  }
  setenv("KUBELUA_VERBOSE", level, 1);
  return 1;
}

/* The protected main, called through lua_pcall as lua.c's pmain is. */
static int pmain(lua_State *L)
{
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script = 0;
  int ran = 0;
  int i;

  /* first pass: flags that act before any code runs */
  for(i = 1; i < argc; i++) {
    const char *a = argv[i];

    if(strcmp(a, "--") == 0) {
      if(i + 1 < argc)
        script = i + 1;
      break;
    } else if(strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_usage(stdout);
      lua_pushinteger(L, 0);
      return 1;
    } else if(strcmp(a, "--version") == 0) {
      /* the http module (and so libcurl) loads only on demand */
      luaL_dostring(L, "local ok, http = pcall(require, 'kubelua.http')\n"
                       "if not ok then return 'kubelua.http not loadable' end\n"
                       "local v = http.curl_version()\n"
                       "return ('libcurl %s, %s%s'):format(v.version, v.ssl,\n"
                       "  v.http2 and ', HTTP/2' or '')");
      printf("kubelua %s (%s, %s)\n", KL_VERSION, LUA_RELEASE,
             lua_tostring(L, -1));
      lua_pushinteger(L, 0);
      return 1;
    } else if(strcmp(a, "-e") == 0) {
      if(++i >= argc) {
        fprintf(stderr, "%s: '-e' needs an argument\n", progname);
        print_usage(stderr);
        lua_pushinteger(L, 1);
        return 1;
      }
    } else if(strncmp(a, "-v=", 3) == 0) {
      if(!set_verbosity(a + 3)) {
        lua_pushinteger(L, 1);
        return 1;
      }
    } else if(strcmp(a, "-v") == 0) {
      if(++i >= argc || !set_verbosity(argv[i])) {
        lua_pushinteger(L, 1);
        return 1;
      }
    } else if(strcmp(a, "-") == 0 || a[0] != '-') {
      script = i;
      break;
    } else {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
      print_usage(stderr);
      lua_pushinteger(L, 1);
      return 1;
    }
  }
  create_arg_table(L, argv, argc, script);
  strict_globals(L);

  /* second pass: -e chunks, in order */
  for(i = 1; i < argc && (!script || i < script); i++) {
    if(strcmp(argv[i], "-e") == 0) {
      if(dochunk(L, luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]),
                                    "=(command line)")) != LUA_OK) {
        lua_pushinteger(L, 1);
        return 1;
      }
      ran = 1;
      i++;
    }
  }
  if(script) {
    lua_pushinteger(L, run_script(L, argv, argc, script) == LUA_OK ? 0 : 1);
    return 1;
  }
  if(!ran) {
    if(isatty(STDIN_FILENO)) {
      repl(L);
    } else {
      char *dash[] = {argv[0], "-"};

      lua_pushinteger(L, run_script(L, dash, 2, 1) == LUA_OK ? 0 : 1);
      return 1;
    }
  }
  lua_pushinteger(L, 0);
  return 1;
}

int main(int argc, char **argv)
{
  lua_State *L = kl_state_new();
  int status;
  int code = 1;

  if(!L) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  if(status != LUA_OK)
    report(L);
  else
    code = (int)lua_tointeger(L, -1);
  lua_close(L);
  return code;
}
