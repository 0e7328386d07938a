/* kubelua.json: the JSON <-> Lua mapping shared by the C modules (STYLE.md
 * section 6). JSON null is lightuserdata(NULL) (the same value as
 * cjson.null); a JSON array is a table whose metatable is the registry's
 * "kubelua.array_mt"; a table marked "kubelua.object_mt" always encodes as an
 * object. Other C modules (YAML) may use the registry names directly with
 * luaL_newmetatable / luaL_setmetatable, or these helpers. */
#ifndef KL_JSON_H
#define KL_JSON_H

#include <stddef.h>

#include <lua.h>

#define KL_ARRAY_MT "kubelua.array_mt"
#define KL_OBJECT_MT "kubelua.object_mt"

/* Deepest nesting of arrays/objects that decode and encode accept. */
#define KL_JSON_MAX_DEPTH 1000

/* [-0, +1] Push the null sentinel, lightuserdata(NULL). */
void kl_push_null(lua_State *L);

/* [-0, +0] Is the value at idx a table marked as a JSON array? */
int kl_is_array(lua_State *L, int idx);

/* [-0, +0] Give the table at idx the array metatable (creating the
 * registry entry on first use). */
void kl_set_array_mt(lua_State *L, int idx);

/* [-0, +1 or +2] Decode the JSON text s[0..len): pushes the value and
 * returns 1, or pushes nil and "json: <problem> at byte N" and returns 2.
 * Raises only on out-of-memory. */
int kl_json_decode(lua_State *L, const char *s, size_t len);

/* [-0, +1] Encode the value at idx compactly (indent 0) or pretty printed
 * with indent spaces per level, and push the resulting string. Raises
 * (luaL_error) on a value JSON cannot represent. */
void kl_json_encode(lua_State *L, int idx, int indent);

#endif
