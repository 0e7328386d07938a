/* The shared body of the libFuzzer targets (tests/fuzz/fuzz_*.c): each
 * input runs in a fresh lua_State with kubelua.json, kubelua.yaml and
 * kubelua.base64 loaded, through the target's property script: a Lua chunk
 * the target defines as `static const char fuzz_property[]` before it
 * includes this file, called as chunk(data, json, yaml, base64, same). The
 * script decodes the bytes; when they decode, it encodes again, decodes again
 * and checks that nothing changed. Any Lua error (a decoder that raised on bad
 * input, or a property that failed) aborts with the message, so libFuzzer keeps
 * the input; ASan and UBSan catch the rest. lua_close() frees every Lua object,
 * so a leak report is a real leak in C.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DKUBELUA_FUZZ=ON
 *        cmake --build build-fuzz --target fuzz_json fuzz_yaml fuzz_base64
 * Run:   build-fuzz/fuzz_json -max_total_time=60 tests/fuzz/corpus/json
 * A crashing input becomes a row of the unit tests (tests/c/test_*.c). */
#ifndef KL_FUZZ_H
#define KL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_kubelua_json(lua_State *L);
int luaopen_kubelua_yaml(lua_State *L);
int luaopen_kubelua_base64(lua_State *L);

/* same(a, b): deep equality as the codecs promise it: the same types (an
 * integer and a float of equal value are equal: JSON writes 1.0 as 1),
 * NaN equals NaN, -0.0 differs from 0.0, and tables match key by key and
 * in their array/object marker (metatable). Returns true, or false and the
 * path where they differ. */
static const char fuzz_same_lua[] =
    "local function same(a, b, path)\n"
    "  path = path or '$'\n"
    "  if type(a) ~= type(b) then\n"
    "    return false, path .. ': ' .. type(a) .. ' vs ' .. type(b)\n"
    "  end\n"
    "  if type(a) == 'number' then\n"
    "    if a ~= a and b ~= b then return true end\n"
    "    if a ~= b or (a == 0 and 1 / a ~= 1 / b) then\n"
    "      return false, path .. (': %.17g vs %.17g'):format(a, b)\n"
    "    end\n"
    "    return true\n"
    "  end\n"
    "  if type(a) ~= 'table' then\n"
    "    if a == b then return true end\n"
    "    return false, path .. (': %q vs %q'):format(tostring(a), "
    "tostring(b))\n"
    "  end\n"
    "  if getmetatable(a) ~= getmetatable(b) then\n"
    "    return false, path .. ': array vs object'\n"
    "  end\n"
    "  for k, v in pairs(a) do\n"
    "    local ok, where = same(v, b[k], path .. '[' .. ('%q'):format(k) .. "
    "']')\n"
    "    if not ok then return false, where end\n"
    "  end\n"
    "  for k in pairs(b) do\n"
    "    if a[k] == nil then return false, path .. ': extra key ' .. "
    "tostring(k) end\n"
    "  end\n"
    "  return true\n"
    "end\n"
    "return same\n";

/* [-0, +1] Load module `open` as a local argument. */
static void fuzz_push_module(lua_State *L, lua_CFunction open)
{
  lua_pushcfunction(L, open);
  lua_call(L, 0, 1);
}

static int fuzz_traceback(lua_State *L)
{
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lua_State *L = luaL_newstate();

  if(!L)
    return 0;
  luaL_openlibs(L);
  lua_pushcfunction(L, fuzz_traceback);
  if(luaL_loadbuffer(L, fuzz_property, sizeof(fuzz_property) - 1,
                     "=property") != LUA_OK) {
    fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlstring(L, (const char *)data, size);
  fuzz_push_module(L, luaopen_kubelua_json);
  fuzz_push_module(L, luaopen_kubelua_yaml);
  fuzz_push_module(L, luaopen_kubelua_base64);
  if(luaL_dostring(L, fuzz_same_lua) != LUA_OK) {
    fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
    abort();
  }
  if(lua_pcall(L, 5, 0, 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);

    fprintf(stderr, "fuzz: property failed: %s\n", msg ? msg : "?");
    abort();
  }
  lua_close(L);
  return 0;
}

#endif
