/* A tiny check header for the C unit tests, in the shape of curl's
 * tests/unit/unitcheck.h: checks count and report failures but keep going,
 * so one run lists every broken case; the program exits non-zero if any
 * check failed.
 *
 *   #include "unitcheck.h"
 *
 *   UNITTEST_START
 *     fail_unless(x == 1, "x is one");
 *     check_str(got, "want", "case name");
 *     check_mem(got, got_len, "a\0b", 3, "binary");
 *     check_int(n, 42, "count");
 *   UNITTEST_STOP
 *
 * Helpers for Lua: unit_lua_state() makes a state from kl_state_new() (every
 * kubelua module preloaded); unit_require(L, "kubelua.json") leaves the
 * module table on the stack. */
#ifndef KL_UNITCHECK_H
#define KL_UNITCHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_checks;
static int unit_failures;

/* Prints a byte string as a C literal (quoted, non-printables escaped). */
static inline void unit_print_mem(FILE *f, const char *p, size_t n)
{
  size_t i;

  if(!p) {
    fputs("(null)", f);
    return;
  }
  fputc('"', f);
  for(i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if(c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if(c >= 0x20 && c < 0x7f)
      fputc(c, f);
    else
      fprintf(f, "\\x%02x", c);
  }
  fputc('"', f);
}

static inline int unit_fail_at(const char *file, int line, const char *msg)
{
  unit_failures++;
  fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, msg ? msg : "");
  return 0;
}

#define fail_unless(expr, msg)                                                 \
  do {                                                                         \
    unit_checks++;                                                             \
    if(!(expr))                                                                \
      unit_fail_at(__FILE__, __LINE__, (msg));                                 \
  } while(0)

#define fail_if(expr, msg) fail_unless(!(expr), (msg))

/* Stops the test program at once: for set-up that later checks rely on. */
#define abort_unless(expr, msg)                                                \
  do {                                                                         \
    unit_checks++;                                                             \
    if(!(expr)) {                                                              \
      unit_fail_at(__FILE__, __LINE__, (msg));                                 \
      fprintf(stderr, "aborting\n");                                           \
      exit(2);                                                                 \
    }                                                                          \
  } while(0)

static inline int unit_check_mem(const char *file,
                                 int line,
                                 const char *got,
                                 size_t got_len,
                                 const char *want,
                                 size_t want_len,
                                 const char *msg)
{
  unit_checks++;
  if(got && want && got_len == want_len && !memcmp(got, want, got_len))
    return 1;
  if(!got && !want)
    return 1;
  unit_failures++;
  fprintf(stderr, "%s:%d: FAILED: %s\n  want: ", file, line, msg ? msg : "");
  unit_print_mem(stderr, want, want_len);
  fprintf(stderr, "\n  got:  ");
  unit_print_mem(stderr, got, got_len);
  fprintf(stderr, "\n");
  return 0;
}

/* Byte-exact comparison of two buffers; either may be NULL (NULL equals only
 * NULL). */
#define check_mem(got, got_len, want, want_len, msg)                           \
  unit_check_mem(__FILE__, __LINE__, (got), (got_len), (want), (want_len),     \
                 (msg))

/* Comparison of two NUL-terminated strings; either may be NULL. Evaluates
 * its arguments more than once. */
#define check_str(got, want, msg)                                              \
  unit_check_mem(__FILE__, __LINE__, (got), (got) ? strlen(got) : 0, (want),   \
                 (want) ? strlen(want) : 0, (msg))

static inline int unit_check_int(
    const char *file, int line, long long got, long long want, const char *msg)
{
  unit_checks++;
  if(got == want)
    return 1;
  unit_failures++;
  fprintf(stderr, "%s:%d: FAILED: %s\n  want: %lld\n  got:  %lld\n", file, line,
          msg ? msg : "", want, got);
  return 0;
}

#define check_int(got, want, msg)                                              \
  unit_check_int(__FILE__, __LINE__, (long long)(got), (long long)(want), (msg))

#define UNITTEST_START                                                         \
  int main(int argc, char **argv)                                              \
  {                                                                            \
    (void)argc;                                                                \
    (void)argv;                                                                \
    {

#define UNITTEST_STOP                                                          \
  }                                                                            \
  fprintf(stderr, "%s: %d checks, %d failed\n", argv[0], unit_checks,          \
          unit_failures);                                                      \
  return unit_failures ? 1 : 0;                                                \
  }

/* Lua helpers, only when the test includes <lua.h> first. */
#ifdef LUA_VERSION_NUM
#include "kl_state.h"

/* A fresh state with every kubelua module preloaded; aborts on failure. */
static inline lua_State *unit_lua_state(void)
{
  lua_State *L = kl_state_new();
  if(!L) {
    fprintf(stderr, "kl_state_new failed\n");
    exit(2);
  }
  return L;
}

/* [-0, +1] require(name) and leave the module on the stack; aborts on
 * failure. */
static inline void unit_require(lua_State *L, const char *name)
{
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  if(lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "require %s: %s\n", name, lua_tostring(L, -1));
    exit(2);
  }
}
#endif

#endif
