/* lua_State set-up shared by the CLI and the C tests. */
#ifndef KL_STATE_H
#define KL_STATE_H

#include <lua.h>

/* A new state with the standard libraries, every kubelua C module (and
 * cjson) in package.preload, and package.path reaching lua/kubelua/.
 * Returns NULL when memory runs out. */
lua_State *kl_state_new(void);

/* The directory holding the shipped Lua library (no trailing slash). */
const char *kl_lua_dir(void);

#endif
