/* Unit tests of kubelua.base64, table-driven through its Lua functions. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "unitcheck.h"

#define S(lit) lit, sizeof(lit) - 1

struct codec_case {
  const char *plain;
  size_t plain_len;
  const char *std;
  const char *url;
};

/* RFC 4648 section 10 vectors, binary data and every alphabet character. */
static const struct codec_case codec_cases[] = {
    {S(""), "", ""},
    {S("f"), "Zg==", "Zg"},
    {S("fo"), "Zm8=", "Zm8"},
    {S("foo"), "Zm9v", "Zm9v"},
    {S("foob"), "Zm9vYg==", "Zm9vYg"},
    {S("fooba"), "Zm9vYmE=", "Zm9vYmE"},
    {S("foobar"), "Zm9vYmFy", "Zm9vYmFy"},
    {S("\0"), "AA==", "AA"},
    {S("\0\0\0"), "AAAA", "AAAA"},
    {S("a\0b"), "YQBi", "YQBi"},
    {S("\xfb\xff"), "+/8=", "-_8"},
    {S("\xff\xff\xff"), "////", "____"},
    {S("\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51"
       "\x55\x97\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a"
       "\xab\xb2\xdb\xaf\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf"),
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"},
};

struct decode_case {
  const char *name;
  const char *in;
  size_t in_len;
  const char *out; /* NULL: expect an error */
  size_t out_len;
  const char *err;
};

#define OK(name, in, out)                                                      \
  {                                                                            \
    name, S(in), S(out), NULL                                                  \
  }
#define BAD(name, in, err)                                                     \
  {                                                                            \
    name, S(in), NULL, 0, err                                                  \
  }

static const struct decode_case std_cases[] = {
    OK("empty", "", ""),
    OK("only whitespace", " \r\n\t", ""),
    OK("padded 1", "Zg==", "f"),
    OK("padded 2", "Zm8=", "fo"),
    OK("wrapped \\n", "Zm9v\nYmFy\n", "foobar"),
    OK("wrapped \\r\\n", "Zm9v\r\nYmFy\r\n", "foobar"),
    OK("break inside a quantum", "Zm\n9vYg=\n=", "foob"),
    OK("surrounding whitespace", "  \t\nZm9vYmE=\n \t", "fooba"),
    OK("vertical tab and form feed around", "\v\fZg==\f\v", "f"),
    OK("nul bytes", "AAAA", "\0\0\0"),
    OK("non-canonical low bits ignored", "Zh==", "f"),
    BAD("bad char", "Zm9v!mFy", "invalid base64 at byte 5"),
    BAD("bad char after whitespace", "  Zm$v", "invalid base64 at byte 5"),
    BAD("url alphabet -", "-_8=", "invalid base64 at byte 1"),
    BAD("url alphabet _", "+_8=", "invalid base64 at byte 2"),
    BAD("space inside", "Zm9v YmFy", "invalid base64 at byte 5"),
    BAD("tab inside", "Zm9v\tYmFy", "invalid base64 at byte 5"),
    BAD("high byte", "Zm9v\xc3\xa9", "invalid base64 at byte 5"),
    BAD("truncated 1", "Zm9vY", "invalid base64 at byte 5"),
    BAD("truncated 2", "Zm9vYm", "invalid base64 at byte 5"),
    BAD("truncated 3", "Zm9vYmF", "invalid base64 at byte 5"),
    BAD("truncated after break", "Zm9v\nYm", "invalid base64 at byte 6"),
    BAD("single char", "Z", "invalid base64 at byte 1"),
    BAD("pad first", "=Zg=", "invalid base64 at byte 1"),
    BAD("pad second", "Z===", "invalid base64 at byte 2"),
    BAD("only pad", "====", "invalid base64 at byte 1"),
    BAD("pad cut short", "Zg=", "invalid base64 at byte 1"),
    BAD("pad cut short later", "Zm9vYg=", "invalid base64 at byte 5"),
    BAD("third pad", "Zg===", "invalid base64 at byte 5"),
    BAD("data after pad", "Zg==Zg==", "invalid base64 at byte 5"),
    BAD("data after single pad", "Zm8=Zm8=", "invalid base64 at byte 5"),
    BAD("data inside pad", "Zm=v", "invalid base64 at byte 4"),
    BAD("pad in full quantum", "Zm9v=", "invalid base64 at byte 5"),
    BAD("pad then garbage", "Zg==!", "invalid base64 at byte 5"),
};

static const struct decode_case url_cases[] = {
    OK("empty", "", ""),
    OK("unpadded 1", "Zg", "f"),
    OK("unpadded 2", "Zm8", "fo"),
    OK("padded 1", "Zg==", "f"),
    OK("padded 2", "Zm8=", "fo"),
    OK("url chars", "-_8", "\xfb\xff"),
    OK("jwt header", "eyJhbGciOiJSUzI1NiJ9", "{\"alg\":\"RS256\"}"),
    OK("wrapped", "Zm9v\nYmFy", "foobar"),
    OK("surrounding whitespace", " Zm9vYg \n", "foob"),
    BAD("std alphabet +", "+/8", "invalid base64 at byte 1"),
    BAD("std alphabet /", "-/8", "invalid base64 at byte 2"),
    BAD("lone final char", "Zm9vY", "invalid base64 at byte 5"),
    BAD("single char", "Z", "invalid base64 at byte 1"),
    BAD("pad cut short", "Zg=", "invalid base64 at byte 1"),
    BAD("pad first", "=Zg", "invalid base64 at byte 1"),
    BAD("pad second", "Z==", "invalid base64 at byte 2"),
    BAD("data after pad", "Zg==Zg", "invalid base64 at byte 5"),
    BAD("dot", "Zg.", "invalid base64 at byte 3"),
};

/* [-0, +0] Call module function fname(in) and compare with the case. */
static void
check_decode(lua_State *L, const char *fname, const struct decode_case *c)
{
  char label[160];
  int top = lua_gettop(L);

  snprintf(label, sizeof(label), "%s: %s", fname, c->name);
  lua_getfield(L, 1, fname);
  lua_pushlstring(L, c->in, c->in_len);
  if(lua_pcall(L, 1, 2, 0) != LUA_OK) {
    fail_unless(0, label);
    fprintf(stderr, "  raised: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return;
  }
  if(c->out) {
    size_t n = 0;
    const char *got = lua_tolstring(L, -2, &n);
    check_mem(got, n, c->out, c->out_len, label);
    fail_unless(lua_isnil(L, -1), label);
  } else {
    fail_unless(lua_isnil(L, -2), label);
    check_str(lua_tostring(L, -1), c->err, label);
  }
  lua_settop(L, top);
}

/* [-0, +0] fname(in) must return exactly want. */
static void check_encode(lua_State *L,
                         const char *fname,
                         const char *in,
                         size_t in_len,
                         const char *want)
{
  char label[160];
  size_t n = 0;
  const char *got;

  snprintf(label, sizeof(label), "%s of %zu bytes -> %s", fname, in_len, want);
  lua_getfield(L, 1, fname);
  lua_pushlstring(L, in, in_len);
  abort_unless(lua_pcall(L, 1, 1, 0) == LUA_OK, label);
  got = lua_tolstring(L, -1, &n);
  check_str(got, want, label);
  lua_pop(L, 1);
}

/* [-0, +0] fname(arg) must raise an error containing want. */
static void
check_raises(lua_State *L, const char *fname, int argtype, const char *want)
{
  char label[160];
  const char *msg;

  snprintf(label, sizeof(label), "%s(%s) raises", fname,
           argtype == LUA_TNIL ? "nil" : "table");
  lua_getfield(L, 1, fname);
  if(argtype == LUA_TNIL)
    lua_pushnil(L);
  else
    lua_newtable(L);
  fail_unless(lua_pcall(L, 1, 1, 0) != LUA_OK, label);
  msg = lua_tostring(L, -1);
  fail_unless(msg && strstr(msg, want), label);
  if(msg && !strstr(msg, want))
    fprintf(stderr, "  got: %s\n", msg);
  lua_pop(L, 1);
}

UNITTEST_START
{
  lua_State *L = unit_lua_state();
  size_t i;
  char big[3000];

  unit_require(L, "kubelua.base64");
  abort_unless(lua_istable(L, 1), "module is a table");

  for(i = 0; i < sizeof(codec_cases) / sizeof(codec_cases[0]); i++) {
    const struct codec_case *c = &codec_cases[i];
    struct decode_case d = {"round trip", c->std,       strlen(c->std),
                            c->plain,     c->plain_len, NULL};
    check_encode(L, "encode", c->plain, c->plain_len, c->std);
    check_encode(L, "urlencode", c->plain, c->plain_len, c->url);
    check_decode(L, "decode", &d);
    d.in = c->url;
    d.in_len = strlen(c->url);
    check_decode(L, "urldecode", &d);
    /* urldecode also takes padding */
    if(!strchr(c->std, '+') && !strchr(c->std, '/')) {
      d.in = c->std;
      d.in_len = strlen(c->std);
      check_decode(L, "urldecode", &d);
    }
  }
  for(i = 0; i < sizeof(std_cases) / sizeof(std_cases[0]); i++)
    check_decode(L, "decode", &std_cases[i]);
  for(i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++)
    check_decode(L, "urldecode", &url_cases[i]);

  /* A NUL byte inside the input is outside the alphabet. */
  {
    static const struct decode_case nul = {
        "nul inside", "Zm\0v", 4, NULL, 0, "invalid base64 at byte 3"};
    check_decode(L, "decode", &nul);
    check_decode(L, "urldecode", &nul);
  }

  /* Every byte value through encode/decode, and 76-column wrapping as the
   * base64 tool prints it. */
  for(i = 0; i < sizeof(big); i++)
    big[i] = (char)(i * 7 + 3);
  lua_getfield(L, 1, "encode");
  lua_pushlstring(L, big, sizeof(big));
  abort_unless(lua_pcall(L, 1, 1, 0) == LUA_OK, "encode big");
  {
    size_t n, j;
    const char *enc = lua_tolstring(L, -1, &n);
    luaL_Buffer b;
    check_int(n, 4000, "encoded length");
    luaL_buffinit(L, &b);
    for(j = 0; j < n; j += 76) {
      luaL_addlstring(&b, enc + j, n - j < 76 ? n - j : 76);
      luaL_addstring(&b, "\r\n");
    }
    luaL_pushresult(&b);
    lua_getfield(L, 1, "decode");
    lua_insert(L, -2);
    abort_unless(lua_pcall(L, 1, 2, 0) == LUA_OK, "decode wrapped");
    enc = lua_tolstring(L, -2, &n);
    check_mem(enc, n, big, sizeof(big), "wrapped 76 columns round trip");
    lua_pop(L, 3);
  }

  check_raises(L, "encode", LUA_TNIL, "bad argument #1 to");
  check_raises(L, "decode", LUA_TTABLE, "bad argument #1 to");
  check_raises(L, "urlencode", LUA_TNIL, "string expected, got nil");
  check_raises(L, "urldecode", LUA_TTABLE, "string expected, got table");
  lua_close(L);
}
UNITTEST_STOP
