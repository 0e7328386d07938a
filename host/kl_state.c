/* lua_State set-up: standard libraries, preloaded C modules, Lua paths. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "kl_modules.h"
#include "kl_state.h"

int luaopen_cjson(lua_State *L);

static char lua_dir[2 * PATH_MAX];
static char lib_dir[2 * PATH_MAX];

static int readable(const char *dir, const char *file)
{
  char probe[2 * PATH_MAX + 32];

  snprintf(probe, sizeof(probe), "%s/%s", dir, file);
  return access(probe, R_OK) == 0;
}

/* An installed binary finds its files under its own prefix (<bin>/../rel);
 * a binary in the build tree falls back to `fallback` (the source or build
 * tree). `env` overrides both, for relocated installs. */
static const char *locate(char *out,
                          size_t size,
                          const char *env,
                          const char *rel,
                          const char *probe,
                          const char *fallback)
{
  char exe[PATH_MAX];
  const char *value = getenv(env);
  ssize_t n;

  if(value && *value) {
    snprintf(out, size, "%s", value);
    return out;
  }
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    char *slash;

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if(slash) {
      *slash = '\0';
      snprintf(out, size, "%s/../%s", exe, rel);
      if(readable(out, probe))
        return out;
    }
  }
  snprintf(out, size, "%s", fallback);
  return out;
}

const char *kl_lua_dir(void)
{
  if(!lua_dir[0])
    locate(lua_dir, sizeof(lua_dir), "KUBELUA_LUA_DIR", KL_INSTALL_LUA_DIR,
           "kubelua/init.lua", KL_SOURCE_LUA_DIR);
  return lua_dir;
}

const char *kl_lib_dir(void)
{
  if(!lib_dir[0])
    locate(lib_dir, sizeof(lib_dir), "KUBELUA_LIB_DIR", KL_INSTALL_LIB_DIR,
           "kubelua/http.so", KL_BUILD_LIB_DIR);
  return lib_dir;
}

/* [-0, +0] Put our directories first on package.path and package.cpath;
 * LUA_PATH/LUA_CPATH and the defaults stay after them, so users can still
 * add their own. */
static void set_paths(lua_State *L)
{
  const char *dir = kl_lua_dir();

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  lua_getfield(L, -1, "cpath");
  lua_pushfstring(L, "%s/?.so;%s", kl_lib_dir(), lua_tostring(L, -1));
  lua_setfield(L, -3, "cpath");
  lua_pop(L, 2);
}

static int newer(const struct stat *a, const struct stat *b)
{
  if(a->st_mtim.tv_sec != b->st_mtim.tv_sec)
    return a->st_mtim.tv_sec > b->st_mtim.tv_sec;
  return a->st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

/* [-1, +(0|2)] A package.searchers entry ahead of Lua's source searcher:
 * kubelua's own modules from the bytecode the build compiled into
 * <lib_dir>/kubelua/NAME.luac (unstripped: errors keep the source's
 * file:line), only when it is at least as new as the source the source
 * searcher would load and was compiled from that very file. Otherwise it
 * finds nothing and the source loads: editing lua/kubelua/ needs no rebuild.
 * Upvalue 1: the package table. */
static int search_bytecode(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  const char *base = strcmp(name, "kubelua") == 0 ? "init" : NULL;
  char src[2 * PATH_MAX + 64];
  char bc[2 * PATH_MAX + 64];
  struct stat src_st, bc_st;
  lua_Debug ar;

  if(!base && strncmp(name, "kubelua.", 8) == 0 && name[8] &&
     !strchr(name + 8, '.'))
    base = name + 8;
  if(!base)
    return 0;
  snprintf(src, sizeof(src), "%s/kubelua/%s.lua", kl_lua_dir(), base);
  snprintf(bc, sizeof(bc), "%s/kubelua/%s.luac", kl_lib_dir(), base);
  if(stat(src, &src_st) != 0 || stat(bc, &bc_st) != 0 || newer(&src_st, &bc_st))
    return 0;
  /* a script may have put its own directory ahead of ours */
  if(lua_getfield(L, lua_upvalueindex(1), "searchpath") != LUA_TFUNCTION)
    return 0;
  lua_pushvalue(L, 1);
  lua_getfield(L, lua_upvalueindex(1), "path");
  lua_call(L, 2, 1);
  if(!lua_isstring(L, -1) || strcmp(lua_tostring(L, -1), src) != 0)
    return 0;
  /* unreadable, another Lua's, or compiled for another directory (the
   * chunk names its source): the source searcher takes over */
  if(luaL_loadfilex(L, bc, "b") != LUA_OK)
    return 0;
  lua_pushvalue(L, -1);
  lua_getinfo(L, ">S", &ar);
  if(ar.source[0] != '@' || strcmp(ar.source + 1, src) != 0)
    return 0;
  lua_pushstring(L, src); /* the loader's second argument, as for source */
  return 2;
}

/* [-0, +0] Put search_bytecode second, after package.preload's searcher. */
static void add_bytecode_searcher(lua_State *L)
{
  lua_Integer i;

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for(i = luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, search_bytecode, 1);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}

/* [-0, +1] require "kubelua.version": the one version string, CMake's. */
static int open_version(lua_State *L)
{
  lua_pushliteral(L, KL_VERSION);
  return 1;
}

/* [-0, +0] Register every C module in package.preload. */
static void preload(lua_State *L)
{
  const luaL_Reg *m;

  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for(m = kl_modules; m->func; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, open_version);
  lua_setfield(L, -2, "kubelua.version");
  lua_pop(L, 1);
}

lua_State *kl_state_new(void)
{
  lua_State *L = luaL_newstate();

  if(!L)
    return NULL;
  luaL_openlibs(L);
  preload(L);
  set_paths(L);
  add_bytecode_searcher(L);
  return L;
}
