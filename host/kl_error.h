/* kl_fail(): the error objects C modules return as `nil, err`. */
#ifndef KL_ERROR_H
#define KL_ERROR_H

#include <lua.h>

/* The registry name of the error class; lua/kubelua/errors.lua adopts the
 * same table (see kl_error_class), so C and Lua errors are one class. */
#define KL_ERROR_MT "kubelua.Error"

/* [-0, +1] Push the error class (registry[KL_ERROR_MT]), creating it with a
 * default __tostring ("<kind> error: <message>") and __index = itself when
 * no one registered it yet. */
void kl_error_class(lua_State *L);

/* [-0, +1] Push a new error object { kind, code, message } of the error
 * class; the message is formatted like lua_pushfstring. Callers add fields
 * to the table on top of the stack. */
void kl_error_new(
    lua_State *L, const char *kind, long long code, const char *fmt, ...);

/* [-0, +2] Push fail (nil) and an error object; returns 2, so a C function
 * can `return kl_fail(L, ...)`. */
int kl_fail(
    lua_State *L, const char *kind, long long code, const char *fmt, ...);

#endif
