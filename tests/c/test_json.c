/* Unit tests of kubelua.json: kl_json_decode and kl_json_encode, table
 * driven: round trips, every decode error with its byte offset, encode
 * results and every encode error with its path. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "kl_json.h"
#include "unitcheck.h"

#define S(lit) lit, sizeof(lit) - 1

/* decode(in) then encode compactly must give out. */
struct round_case {
  const char *in;
  size_t in_len;
  const char *out;
};

static const struct round_case round_cases[] = {
    {S("{}"), "{}"},
    {S("[]"), "[]"},
    {S("{\"a\":[]}"), "{\"a\":[]}"},
    {S("{\"a\":{}}"), "{\"a\":{}}"},
    {S("{\"a\":null}"), "{\"a\":null}"},
    {S("[[],{},null,[[]]]"), "[[],{},null,[[]]]"},
    {S("null"), "null"},
    {S("true"), "true"},
    {S("false"), "false"},
    {S("0"), "0"},
    {S("-0"), "-0"},
    {S("-0.0"), "-0"},
    {S("42"), "42"},
    {S("-42"), "-42"},
    {S("9223372036854775807"), "9223372036854775807"},
    {S("-9223372036854775808"), "-9223372036854775808"},
    {S("9223372036854775808"), "9223372036854776000"},
    {S("-9223372036854775809"), "-9223372036854776000"},
    {S("18446744073709551616"), "18446744073709552000"},
    {S("123456789012345678901234567890"), "1.2345678901234568e+29"},
    {S("9007199254740993"), "9007199254740993"},
    /* integral floats in [2^53, 2^63) print exactly (they read back as
     * integers); Go would print 184488547758052450 (found by fuzz_json) */
    {S("184488547758052446.1"), "184488547758052448"},
    {S("4.611686018427388e18"), "4611686018427387904"},
    {S("-9.2233720368547748e18"), "-9223372036854774784"},
    {S("9007199254740993.0"), "9007199254740992"},
    {S("1.0"), "1"},
    {S("1e3"), "1000"},
    {S("1E+2"), "100"},
    {S("1e-2"), "0.01"},
    {S("0.1"), "0.1"},
    {S("1.5"), "1.5"},
    {S("-2.5e-3"), "-0.0025"},
    {S("1e300"), "1e+300"},
    {S("1e21"), "1e+21"},
    {S("1e20"), "100000000000000000000"},
    {S("1e-6"), "0.000001"},
    {S("1e-7"), "1e-7"},
    {S("1.7976931348623157e308"), "1.7976931348623157e+308"},
    {S("5e-324"), "5e-324"},
    {S("1e-400"), "0"},
    {S("0.30000000000000004"), "0.30000000000000004"},
    /* longer than the 64-byte number buffer: parsed from the scratch buffer */
    {S("[100000000000000000000000000000000000000000000000000000000000000000000"
       "000000000000000000000000000000000.0]"),
     "[1e+101]"},
    {S("0.0000000000000000000000000000000000000000000000000000000000000000000"
       "0000000000000000000000000000000000000000000000000000000000000000000000"
       "00000000000000000000000000001"),
     "1e-166"},
    {S("\"\""), "\"\""},
    {S("\"a/b\""), "\"a/b\""},
    {S("\"a\\/b\""), "\"a/b\""},
    {S("\"\\\"\\\\\\b\\f\\n\\r\\t\""), "\"\\\"\\\\\\b\\f\\n\\r\\t\""},
    {S("\"\\u0000\""), "\"\\u0000\""},
    {S("\"\\u001F\\u0001\""), "\"\\u001f\\u0001\""},
    {S("\"\\u007f\""), "\"\x7f\""},
    {S("\"\\u00e9\""), "\"\xc3\xa9\""},
    {S("\"\\u20AC\""), "\"\xe2\x82\xac\""},
    {S("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\""},
    {S("\"\\uDBFF\\uDFFF\""), "\"\xf4\x8f\xbf\xbf\""},
    {S("\"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\""),
     "\"\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\""},
    {S("\"\xff\xfe raw bytes\""), "\"\xff\xfe raw bytes\""},
    {S("\"x\\n\\u0041y\""), "\"x\\nAy\""},
    {S(" \t\r\n[ 1 ,\n 2 ] \n"), "[1,2]"},
    {S("{\"b\":1,\"a\":2,\"A\":3,\"\":4,\"aa\":5}"),
     "{\"\":4,\"A\":3,\"a\":2,\"aa\":5,\"b\":1}"},
    {S("{\"a\":1,\"a\":2}"), "{\"a\":2}"},
    {S("{\"k\\u0000\":1}"), "{\"k\\u0000\":1}"},
    {S("{\"metadata\":{\"labels\":{\"app\":\"x\"},\"finalizers\":[]},"
       "\"spec\":{\"emptyDir\":{},\"replicas\":3}}"),
     "{\"metadata\":{\"finalizers\":[],\"labels\":{\"app\":\"x\"}},"
     "\"spec\":{\"emptyDir\":{},\"replicas\":3}}"},
};

struct error_case {
  const char *in;
  size_t in_len;
  const char *err;
};

static const struct error_case error_cases[] = {
    {S(""), "json: unexpected end of input at byte 1"},
    {S("   "), "json: unexpected end of input at byte 4"},
    {S("["), "json: unexpected end of input at byte 2"},
    {S("[1"), "json: unexpected end of input at byte 3"},
    {S("[1,"), "json: unexpected end of input at byte 4"},
    {S("{"), "json: unexpected end of input at byte 2"},
    {S("{\"a\""), "json: unexpected end of input at byte 5"},
    {S("{\"a\":"), "json: unexpected end of input at byte 6"},
    {S("{\"a\":1"), "json: unexpected end of input at byte 7"},
    {S("{\"a\":1,"), "json: unexpected end of input at byte 8"},
    {S("[1,]"), "json: expected value at byte 4"},
    {S("[,1]"), "json: expected value at byte 2"},
    {S("[1 2]"), "json: expected ',' or ']' at byte 4"},
    {S("[1}"), "json: expected ',' or ']' at byte 3"},
    {S("{1:2}"), "json: expected string key or '}' at byte 2"},
    {S("{'a':1}"), "json: expected string key or '}' at byte 2"},
    {S("{\"a\":1,}"), "json: expected string key at byte 8"},
    {S("{\"a\" 1}"), "json: expected ':' at byte 6"},
    {S("{\"a\":1 \"b\":2}"), "json: expected ',' or '}' at byte 8"},
    {S("{\"a\":1]"), "json: expected ',' or '}' at byte 7"},
    {S("]"), "json: expected value at byte 1"},
    {S("tru"), "json: invalid literal at byte 1"},
    {S("trUe"), "json: invalid literal at byte 1"},
    {S("nul"), "json: invalid literal at byte 1"},
    {S("[fals]"), "json: invalid literal at byte 2"},
    {S("True"), "json: expected value at byte 1"},
    {S("NaN"), "json: expected value at byte 1"},
    {S("[truex]"), "json: expected ',' or ']' at byte 6"},
    {S("undefined"), "json: expected value at byte 1"},
    {S("01"), "json: invalid number (leading zero) at byte 1"},
    {S("[-01]"), "json: invalid number (leading zero) at byte 2"},
    {S("-"), "json: invalid number at byte 1"},
    {S("-a"), "json: invalid number at byte 1"},
    {S("1."), "json: invalid number at byte 1"},
    {S("1.e5"), "json: invalid number at byte 1"},
    {S("1e"), "json: invalid number at byte 1"},
    {S("1e+"), "json: invalid number at byte 1"},
    {S("[0, 2E-]"), "json: invalid number at byte 5"},
    {S(".5"), "json: expected value at byte 1"},
    {S("+1"), "json: expected value at byte 1"},
    {S("0x10"), "json: trailing garbage at byte 2"},
    {S("1e400"), "json: number out of range at byte 1"},
    {S("[1, -1e999]"), "json: number out of range at byte 5"},
    {S("[-9999999999999999999999999999999999999999999999999999999999999999999"
       "99999999999999999999999999999999999999999999999999999999999999999999999"
       "99999999999999999999999999999999999999999999999999999999999999999999999"
       "99999999999999999999999999999999999999999999999999999999999999999999999"
       "99999999999999999999999999999999999999999999999999999999999999999999999"
       "99999999999999999999999999999999999999999999999999999999999999999999999"
       "9999]"),
     "json: number out of range at byte 2"},
    {S("\"abc"), "json: unterminated string at byte 1"},
    {S("[\"abc\\\"]"), "json: unterminated string at byte 2"},
    {S("\"a\\"), "json: unterminated string at byte 1"},
    {S("{\"a"), "json: unterminated string at byte 2"},
    {S("\"a\tb\""), "json: control character in string at byte 3"},
    {S("\"a\nb\""), "json: control character in string at byte 3"},
    {S("\"a\\nb\x1f\""), "json: control character in string at byte 6"},
    {S("\"a\0b\""), "json: control character in string at byte 3"},
    {S("\"a\\x\""), "json: invalid escape at byte 3"},
    {S("\"\\'\""), "json: invalid escape at byte 2"},
    {S("\"\\U0041\""), "json: invalid escape at byte 2"},
    {S("\"\\u12\""), "json: invalid \\u escape at byte 2"},
    {S("\"\\u12G4\""), "json: invalid \\u escape at byte 2"},
    {S("\"ab\\u\""), "json: invalid \\u escape at byte 4"},
    {S("\"\\ud83d\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ude00\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ud83dx\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ud83d\\n......\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ud83d\\u0041\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ud83d\\ud83d\""), "json: lone surrogate in \\u escape at byte 2"},
    {S("\"\\ud83d\\uZZZZ\""), "json: invalid \\u escape at byte 8"},
    {S("1 2"), "json: trailing garbage at byte 3"},
    {S("{} x"), "json: trailing garbage at byte 4"},
    {S("[]]"), "json: trailing garbage at byte 3"},
    {S("[1]\0"), "json: trailing garbage at byte 4"},
    {S("\xef\xbb\xbf{}"), "json: expected value at byte 1"},
    {S("\0"), "json: expected value at byte 1"},
};

/* encode(value of the Lua expression) with indent must give out, or raise
 * err. */
struct encode_case {
  const char *expr;
  int indent;
  const char *out;
  const char *err;
};

static const struct encode_case encode_cases[] = {
    {"{}", 0, "{}", NULL},
    {"json.array()", 0, "[]", NULL},
    {"json.object()", 0, "{}", NULL},
    {"json.array{}", 2, "[]", NULL},
    {"json.object{1, 2}", 0, "{\"1\":1,\"2\":2}", NULL},
    {"json.object{[10] = 1, [9] = 2, a = 3, [-1] = 4}", 0,
     "{\"-1\":4,\"10\":1,\"9\":2,\"a\":3}", NULL},
    {"{1, 2, 3}", 0, "[1,2,3]", NULL},
    {"json.array{1, 'a', true}", 0, "[1,\"a\",true]", NULL},
    {"{a = json.null, b = false}", 0, "{\"a\":null,\"b\":false}", NULL},
    {"{finalizers = json.array(), labels = {team = json.null}}", 0,
     "{\"finalizers\":[],\"labels\":{\"team\":null}}", NULL},
    {"json.null", 0, "null", NULL},
    {"'a/b'", 0, "\"a/b\"", NULL},
    {"'\\0'", 0, "\"\\u0000\"", NULL},
    {"'\"\\\\\\b\\f\\n\\r\\t\\1\\31\\127'", 0,
     "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"", NULL},
    {"'\\xc3\\xa9'", 0, "\"\xc3\xa9\"", NULL},
    {"1000.0", 0, "1000", NULL},
    {"-0.0", 0, "-0", NULL},
    {"0.0", 0, "0", NULL},
    {"0.1", 0, "0.1", NULL},
    {"1/3", 0, "0.3333333333333333", NULL},
    {"2^53", 0, "9007199254740992", NULL},
    {"2^63", 0, "9223372036854776000", NULL},
    {"2^62", 0, "4611686018427387904", NULL},
    {"-2^62 - 2^61", 0, "-6917529027641081856", NULL},
    {"2^53 + 2.0", 0, "9007199254740994", NULL},
    {"1e21", 0, "1e+21", NULL},
    {"-1.5e-10", 0, "-1.5e-10", NULL},
    {"1e-6", 0, "0.000001", NULL},
    {"123.456", 0, "123.456", NULL},
    {"math.maxinteger", 0, "9223372036854775807", NULL},
    {"math.mininteger", 0, "-9223372036854775808", NULL},
    {"{b = 1, a = 2, A = 3, ['a b'] = 4, aa = 5, [''] = 6}", 0,
     "{\"\":6,\"A\":3,\"a\":2,\"a b\":4,\"aa\":5,\"b\":1}", NULL},
    {"{['\\xc3\\xa9'] = 1, z = 2, ['~'] = 3}", 0,
     "{\"z\":2,\"~\":3,\"\xc3\xa9\":1}", NULL},
    {"(function() local t = {} for i = 20, 1, -1 do "
     "t[('k%02d'):format(i)] = i end return t end)()",
     0,
     "{\"k01\":1,\"k02\":2,\"k03\":3,\"k04\":4,\"k05\":5,\"k06\":6,\"k07\":7,"
     "\"k08\":8,\"k09\":9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,"
     "\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,\"k18\":18,\"k19\":19,"
     "\"k20\":20}",
     NULL},
    {"{a = {1, 2}, b = {}, c = json.array(), d = {x = 'y'}}", 2,
     "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": [],\n"
     "  \"d\": {\n    \"x\": \"y\"\n  }\n}",
     NULL},
    {"{a = {{}}}", 4, "{\n    \"a\": [\n        {}\n    ]\n}", NULL},
    {"setmetatable({1}, {__index = {}})", 0, "[1]", NULL},
    /* errors */
    {"nil", 0, NULL, "json: cannot encode nil (use json.null) at $"},
    {"print", 0, NULL, "json: cannot encode function at $"},
    {"{a = {1, 2, print}}", 0, NULL, "json: cannot encode function at $.a[3]"},
    {"{['x y'] = {co = coroutine.create(print)}}", 0, NULL,
     "json: cannot encode thread at $[\"x y\"].co"},
    {"io.stdout", 0, NULL, "json: cannot encode userdata at $"},
    {"0/0", 0, NULL, "json: cannot encode NaN at $"},
    {"{v = math.huge}", 0, NULL, "json: cannot encode inf at $.v"},
    {"{-math.huge}", 0, NULL, "json: cannot encode -inf at $[1]"},
    {"{[2] = 1}", 0, NULL,
     "json: cannot encode integer key 2 in an object (a sparse array, or "
     "mixed keys? json.object() writes integer keys as strings) at $"},
    {"{a = {x = 1, [5] = 2}}", 0, NULL,
     "json: cannot encode integer key 5 in an object (a sparse array, or "
     "mixed keys? json.object() writes integer keys as strings) at $.a"},
    {"{1, nil, 3}", 0, NULL,
     "json: cannot encode sparse array (holes in 1..3) at $"},
    {"{1, 2, [4] = 4}", 0, NULL,
     "json: cannot encode sparse array (key 4 beside 1..2) at $"},
    {"{1, a = 2}", 0, NULL,
     "json: cannot encode table with both string and integer keys (key \"a\" "
     "beside 1..1) at $"},
    {"{[true] = 1}", 0, NULL,
     "json: cannot encode boolean key in a table at $"},
    {"{[1.5] = 1}", 0, NULL,
     "json: cannot encode float key 1.5 in a table at $"},
    {"{1, [1.5] = 1}", 0, NULL,
     "json: cannot encode float key 1.5 in a table at $"},
    {"{1, [{}] = 1}", 0, NULL, "json: cannot encode table key in a table at $"},
    {"json.object{[0.5] = 1}", 0, NULL,
     "json: cannot encode float key 0.5 in an object at $"},
    {"json.object{[print] = 1}", 0, NULL,
     "json: cannot encode function key in an object at $"},
    {"{items = {json.array{1, nil, 3}}}", 0, NULL,
     "json: cannot encode sparse array (nil element) at $.items[1][2]"},
    {"json.object{[7] = {f = print}}", 0, NULL,
     "json: cannot encode function at $[\"7\"].f"},
    {"{['app.kubernetes.io/name'] = print}", 0, NULL,
     "json: cannot encode function at $[\"app.kubernetes.io/name\"]"},
    {"{['a\"b\\n'] = print}", 0, NULL,
     "json: cannot encode function at $[\"a\\x22b\\x0a\"]"},
    {"(function() local t = {} t.a = t return t end)()", 0, NULL,
     "json: cannot encode nesting deeper than 1000 (a cycle?) at "
     "$.a.a.a.a.a.a.a.a.a.a.a.a....a.a.a.a.a.a.a.a.a.a.a.a"},
    {"(function() local t = json.array() t[1] = t return t end)()", 0, NULL,
     "json: cannot encode nesting deeper than 1000 (a cycle?) at "
     "$[1][1][1][1][1][1][1][1][1][1][1][1]...[1][1][1][1][1][1][1][1][1][1]"
     "[1][1]"},
};

/* [-2, +1] lua_pcall target: encode(value, indent) via the C API. */
static int encode_c(lua_State *L)
{
  int indent = (int)lua_tointeger(L, 2);

  lua_settop(L, 1);
  kl_json_encode(L, 1, indent);
  return 1;
}

/* [-0, +0] Evaluate expr with `json` in scope, encode it, compare. */
static void check_encode(lua_State *L, const struct encode_case *c)
{
  int top = lua_gettop(L);
  char code[1024];
  const char *got;
  size_t n;

  snprintf(code, sizeof(code), "local json = require 'kubelua.json' return %s",
           c->expr);
  if(luaL_loadstring(L, code) || lua_pcall(L, 0, 1, 0)) {
    fail_unless(0, c->expr);
    fprintf(stderr, "  %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return;
  }
  lua_pushcfunction(L, encode_c);
  lua_insert(L, -2);
  lua_pushinteger(L, c->indent);
  if(lua_pcall(L, 2, 1, 0) == LUA_OK) {
    got = lua_tolstring(L, -1, &n);
    if(c->out) {
      check_mem(got, n, c->out, strlen(c->out), c->expr);
    } else {
      fail_unless(0, c->expr);
      fprintf(stderr, "  encoded %s, expected the error %s\n", got, c->err);
    }
  } else {
    got = lua_tostring(L, -1);
    if(c->err) {
      check_str(got, c->err, c->expr);
    } else {
      fail_unless(0, c->expr);
      fprintf(stderr, "  raised %s\n", got);
    }
  }
  lua_settop(L, top);
}

static void check_round(lua_State *L, const struct round_case *c)
{
  int top = lua_gettop(L);
  const char *got;
  size_t n;

  if(kl_json_decode(L, c->in, c->in_len) != 1) {
    fail_unless(0, c->in);
    fprintf(stderr, "  decode: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return;
  }
  lua_pushcfunction(L, encode_c);
  lua_insert(L, -2);
  lua_pushinteger(L, 0);
  if(lua_pcall(L, 2, 1, 0) != LUA_OK) {
    fail_unless(0, c->in);
    fprintf(stderr, "  encode: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
    return;
  }
  got = lua_tolstring(L, -1, &n);
  check_mem(got, n, c->out, strlen(c->out), c->in);
  lua_settop(L, top);
}

static void check_error(lua_State *L, const struct error_case *c)
{
  int top = lua_gettop(L);
  int r = kl_json_decode(L, c->in, c->in_len);

  fail_unless(r == 2 && lua_isnil(L, -2), c->err);
  check_str(lua_tostring(L, -1), c->err, c->err);
  check_int(lua_gettop(L), top + r, "stack balance after an error");
  lua_settop(L, top);
}

/* Typed checks beyond the text form: integers stay integers, arrays carry
 * the marker, null is lightuserdata(NULL). */
static void check_types(lua_State *L)
{
  int top = lua_gettop(L);

  abort_unless(kl_json_decode(L, S("[1, 1.0, -0, null, [], {}]")) == 1,
               "decode typed");
  fail_unless(kl_is_array(L, -1), "decoded array is marked");
  lua_rawgeti(L, -1, 1);
  fail_unless(lua_isinteger(L, -1) && lua_tointeger(L, -1) == 1, "1 int");
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 2);
  fail_unless(!lua_isinteger(L, -1) && lua_tonumber(L, -1) == 1.0, "1.0 float");
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 3);
  fail_unless(!lua_isinteger(L, -1), "-0 float");
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 4);
  fail_unless(lua_islightuserdata(L, -1) && !lua_touserdata(L, -1),
              "null is lightuserdata(NULL)");
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 5);
  fail_unless(kl_is_array(L, -1), "empty array marked");
  lua_pop(L, 1);
  lua_rawgeti(L, -1, 6);
  fail_unless(lua_istable(L, -1) && !kl_is_array(L, -1) &&
                  !lua_getmetatable(L, -1),
              "object is a plain table");
  lua_settop(L, top);

  /* The marker is the registry's kubelua.array_mt. */
  lua_newtable(L);
  fail_unless(!kl_is_array(L, -1), "plain table is not an array");
  kl_set_array_mt(L, -1);
  fail_unless(kl_is_array(L, -1), "kl_set_array_mt marks");
  lua_getmetatable(L, -1);
  luaL_getmetatable(L, KL_ARRAY_MT);
  fail_unless(lua_rawequal(L, -1, -2), "registry kubelua.array_mt");
  lua_settop(L, top);
  kl_push_null(L);
  fail_unless(lua_islightuserdata(L, -1) && !lua_touserdata(L, -1),
              "kl_push_null");
  lua_settop(L, top);

  /* A non-null lightuserdata is not encodable. */
  {
    static int x;
    lua_pushcfunction(L, encode_c);
    lua_pushlightuserdata(L, &x);
    lua_pushinteger(L, 0);
    fail_unless(lua_pcall(L, 2, 1, 0) != LUA_OK, "lightuserdata raises");
    check_str(lua_tostring(L, -1),
              "json: cannot encode lightuserdata (only json.null) at $",
              "lightuserdata message");
    lua_settop(L, top);
  }
}

/* Nesting: 1000 levels decode and encode, 1001 fail cleanly. */
static void check_depth(lua_State *L)
{
  static char doc[2 * 1001 + 1];
  int top = lua_gettop(L), i;

  for(i = 0; i < 1000; i++) {
    doc[i] = '[';
    doc[1000 + i] = ']';
  }
  fail_unless(kl_json_decode(L, doc, 2000) == 1, "depth 1000 decodes");
  lua_pushcfunction(L, encode_c);
  lua_insert(L, -2);
  lua_pushinteger(L, 0);
  fail_unless(lua_pcall(L, 2, 1, 0) == LUA_OK, "depth 1000 encodes");
  fail_unless(lua_rawlen(L, -1) == 2000, "depth 1000 output");
  lua_settop(L, top);
  for(i = 0; i < 1001; i++) {
    doc[i] = '[';
    doc[1001 + i] = ']';
  }
  check_int(kl_json_decode(L, doc, 2002), 2, "depth 1001 fails");
  check_str(lua_tostring(L, -1), "json: nesting deeper than 1000 at byte 1001",
            "depth message");
  lua_settop(L, top);
  /* objects count too, and a huge unbalanced prefix is no C stack risk */
  {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for(i = 0; i < 100000; i++)
      luaL_addstring(&b, "{\"a\":[");
    luaL_pushresult(&b);
    {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      check_int(kl_json_decode(L, s, n), 2, "deep prefix fails");
      check_str(lua_tostring(L, -1),
                "json: nesting deeper than 1000 at byte 3001",
                "deep prefix message");
    }
  }
  lua_settop(L, top);
}

UNITTEST_START
{
  lua_State *L = unit_lua_state();
  size_t i;

  for(i = 0; i < sizeof(round_cases) / sizeof(round_cases[0]); i++)
    check_round(L, &round_cases[i]);
  for(i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
    check_error(L, &error_cases[i]);
  for(i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++)
    check_encode(L, &encode_cases[i]);
  check_types(L);
  check_depth(L);
  check_int(lua_gettop(L), 0, "stack is balanced");
  lua_close(L);
}
UNITTEST_STOP
