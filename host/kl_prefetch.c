/* kubelua.prefetch: map a loadable C module on a second thread. Loading
 * kubelua.http maps libcurl and ~30 libraries behind it (~5 ms, nearly all
 * in the dynamic linker); started early, that overlaps the main thread
 * compiling Lua. The later require then finds the library mapped: glibc
 * serialises dlopen, so a require racing the thread just waits for it. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

static char prefetch_path[PATH_MAX];
static int prefetch_started;
/* Never closed: the module is about to be required. A static keeps the
 * handle reachable, so LeakSanitizer does not report it. */
static void *prefetched;

static void *load(void *unused)
{
  (void)unused;
  /* the flags of Lua 5.4's own loader (loadlib.c, lsys_load for require):
   * the later dlopen then only takes a reference. A failure is silent: the
   * require that follows reports it. */
  prefetched = dlopen(prefetch_path, RTLD_NOW | RTLD_LOCAL);
  if(!prefetched)
    dlerror(); /* consume the message so the thread leaves nothing behind */
  return NULL;
}

/* [-1, +1] prefetch(path) -> started: starts mapping the shared library
 * at path on a detached thread; at most once per process. Never touches
 * the lua_State from that thread. */
static int prefetch(lua_State *L)
{
  size_t len;
  const char *path = luaL_checklstring(L, 1, &len);
  pthread_attr_t attr;
  pthread_t thread;
  sigset_t all, old;
  int ok;

  if(prefetch_started || len >= sizeof(prefetch_path)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  memcpy(prefetch_path, path, len + 1);
  if(pthread_attr_init(&attr) != 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* signals (SIGINT's hook, SIGPIPE) stay with the main thread */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  ok = pthread_create(&thread, &attr, load, NULL) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  prefetch_started = ok;
  lua_pushboolean(L, ok);
  return 1;
}

int luaopen_kubelua_prefetch(lua_State *L)
{
  lua_pushcfunction(L, prefetch);
  return 1;
}
