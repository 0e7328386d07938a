/* Error objects shared by the C modules: tables tagged with the class
 * "kubelua.Error" (STYLE.md section 3). lua/kubelua/errors.lua may own the
 * class: it either registers its table under registry["kubelua.Error"]
 * before any C error is made, or adopts the one created here. */
#include <stdarg.h>

#include <lauxlib.h>
#include <lua.h>

#include "kl_error.h"

/* [-1, +1] __tostring: "<kind> error: <message>". */
static int error_tostring(lua_State *L)
{
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_pushfstring(L, "%s error: %s", luaL_optstring(L, -2, "unknown"),
                  luaL_optstring(L, -1, "(no message)"));
  return 1;
}

void kl_error_class(lua_State *L)
{
  if(luaL_newmetatable(L, KL_ERROR_MT)) {
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
}

static void error_vnew(
    lua_State *L, const char *kind, long long code, const char *fmt, va_list ap)
{
  lua_createtable(L, 0, 6);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)code);
  lua_setfield(L, -2, "code");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  kl_error_class(L);
  lua_setmetatable(L, -2);
}

void kl_error_new(
    lua_State *L, const char *kind, long long code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  error_vnew(L, kind, code, fmt, ap);
  va_end(ap);
}

int kl_fail(
    lua_State *L, const char *kind, long long code, const char *fmt, ...)
{
  va_list ap;

  luaL_pushfail(L);
  va_start(ap, fmt);
  error_vnew(L, kind, code, fmt, ap);
  va_end(ap);
  return 2;
}
