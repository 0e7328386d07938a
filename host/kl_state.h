/* lua_State set-up shared by the CLI and the C tests. */
#ifndef KL_STATE_H
#define KL_STATE_H

#include <lua.h>

/* A new state with the standard libraries, every kubelua C module (and
 * cjson) in package.preload, and package.path reaching lua/kubelua/.
 * Returns NULL when memory runs out. */
lua_State *kl_state_new(void);

/* The directories holding the shipped Lua library and the loadable C
 * modules (kubelua/http.so), without a trailing slash. */
const char *kl_lua_dir(void);
const char *kl_lib_dir(void);

#endif
