/* lua_State set-up: standard libraries, preloaded C modules, Lua paths. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "kl_modules.h"
#include "kl_state.h"

int luaopen_cjson(lua_State *L);

static char lua_dir[2 * PATH_MAX];

static int dir_has_library(const char *dir)
{
  char probe[2 * PATH_MAX + 32];

  snprintf(probe, sizeof(probe), "%s/kubelua/init.lua", dir);
  return access(probe, R_OK) == 0;
}

/* An installed binary finds its library at <prefix>/<datadir>/kubelua/lua,
 * relative to itself; a binary in the build tree uses the source tree.
 * KUBELUA_LUA_DIR overrides both (for relocated installs). */
const char *kl_lua_dir(void)
{
  char exe[PATH_MAX];
  const char *env;
  ssize_t n;

  if(lua_dir[0])
    return lua_dir;
  env = getenv("KUBELUA_LUA_DIR");
  if(env && *env) {
    snprintf(lua_dir, sizeof(lua_dir), "%s", env);
    return lua_dir;
  }
  n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n > 0) {
    char *slash;

    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if(slash) {
      *slash = '\0';
      snprintf(lua_dir, sizeof(lua_dir), "%s/../%s", exe, KL_INSTALL_LUA_DIR);
      if(dir_has_library(lua_dir))
        return lua_dir;
    }
  }
  snprintf(lua_dir, sizeof(lua_dir), "%s", KL_SOURCE_LUA_DIR);
  return lua_dir;
}

/* [-0, +0] Put our directory first on package.path; LUA_PATH and the
 * defaults stay after it, so users can still add their own paths. */
static void set_path(lua_State *L)
{
  const char *dir = kl_lua_dir();

  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
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
  lua_pop(L, 1);
}

lua_State *kl_state_new(void)
{
  lua_State *L = luaL_newstate();

  if(!L)
    return NULL;
  luaL_openlibs(L);
  preload(L);
  set_path(L);
  return L;
}
