/* Unit tests of kubelua.yaml (host/kl_yaml.c), table driven: decode results
 * (compared as compact JSON), every decode failure message, encode texts,
 * every encode error, and decode/encode under an allocator that runs out of
 * memory at every step (a clean "not enough memory" error, never a crash;
 * the sanitizer build checks that nothing leaks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "kl_json.h"
#include "unitcheck.h"

#define S(lit) lit, sizeof(lit) - 1

/* decode(in) must give the document that JSON text json decodes to. */
struct decode_case {
  const char *in;
  size_t in_len;
  const char *json;
};

static const struct decode_case decode_cases[] = {
    {S("a: []\nb: {}\nc: ~\nd: yes\ne: \"yes\"\n"),
     "{\"a\":[],\"b\":{},\"c\":null,\"d\":true,\"e\":\"yes\"}"},
    {S(""), "null"},
    {S("# just a comment\n"), "null"},
    {S("---\n"), "null"},
    {S("[]"), "[]"},
    {S("{}"), "{}"},
    {S("- a\n- b\n"), "[\"a\",\"b\"]"},
    {S("key:\n- 1\n- 2\n"), "{\"key\":[1,2]}"},
    {S("a: 0755\nb: 0x1F\nc: 0o17\nd: 0b101\ne: 1_000\nf: -0x10\n"),
     "{\"a\":493,\"b\":31,\"c\":15,\"d\":5,\"e\":1000,\"f\":-16}"},
    {S("a: 9223372036854775807\nb: -9223372036854775808\n"),
     "{\"a\":9223372036854775807,\"b\":-9223372036854775808}"},
    {S("a: 1e3\nb: .5\nc: -1.5\nd: 09\ne: 1.\n"),
     "{\"a\":1000.0,\"b\":0.5,\"c\":-1.5,\"d\":9.0,\"e\":1.0}"},
    {S("[y, Y, yes, on, ON, True, n, N, no, off, OFF, FALSE]"),
     "[true,true,true,true,true,true,false,false,false,false,false,false]"},
    {S("[~, null, Null, NULL, ]"), "[null,null,null,null]"},
    {S("[nULL, yES, 'yes', \"on\", !!str 1, !!str true]"),
     "[\"nULL\",\"yES\",\"yes\",\"on\",\"1\",\"true\"]"},
    {S("t: 2001-12-14\nu: 2001-12-14T21:59:43.10-05:00\n"),
     "{\"t\":\"2001-12-14\",\"u\":\"2001-12-14T21:59:43.10-05:00\"}"},
    {S("[!!int '12', !!float 3, !!bool off, !!null '', !!binary aGk=]"),
     "[12,3.0,false,null,\"hi\"]"},
    {S("1: a\nyes: b\n1.5: c\n0x10: d\n"),
     "{\"1\":\"a\",\"1.5\":\"c\",\"16\":\"d\",\"true\":\"b\"}"},
    {S("a: |\n  x\n  y\nb: >-\n  folded\n  line\n"),
     "{\"a\":\"x\\ny\\n\",\"b\":\"folded line\"}"},
    {S("a: &x {k: [1]}\nb: *x\n"), "{\"a\":{\"k\":[1]},\"b\":{\"k\":[1]}}"},
    {S("d: &d {x: 1, z: 0}\nm:\n  <<: *d\n  z: 2\n"),
     "{\"d\":{\"x\":1,\"z\":0},\"m\":{\"x\":1,\"z\":2}}"},
    {S("a: &a {x: 1}\nb: &b {x: 2, w: 3}\nm:\n  <<: [*a, *b]\n"),
     "{\"a\":{\"x\":1},\"b\":{\"w\":3,\"x\":2},\"m\":{\"w\":3,\"x\":1}}"},
    {S("a: 1\n---\n"), "{\"a\":1}"},
    {S("\xef\xbb\xbf"
       "a: \xc3\xa9\n"),
     "{\"a\":\"\xc3\xa9\"}"},
    {S("a: \"\\0\\x01\\u00e9\"\n"), "{\"a\":\"\\u0000\\u0001\xc3\xa9\"}"},
    /* a key given twice: the last wins, as in kubectl apply -f (the strict
     * option's messages are in tests/lua/yaml_test.lua) */
    {S("a: 1\nb: 2\na: 3"), "{\"a\":3,\"b\":2}"},
    {S("yes: 1\ntrue: 2"), "{\"true\":2}"},
};

/* decode(in) must fail with exactly msg. */
struct error_case {
  const char *in;
  size_t in_len;
  const char *msg;
};

static const struct error_case error_cases[] = {
    {S("a: [1, 2"), "yaml: line 2, column 1: did not find expected ',' or ']'"},
    {S("x: y\n  z: w"),
     "yaml: line 2, column 4: mapping values are not allowed in this context"},
    {S("a: 'x"), "yaml: line 1, column 6: found unexpected end of stream"},
    {S("\tx: 1"),
     "yaml: line 1, column 1: found character that cannot start any token"},
    {S("a: \x01"),
     "yaml: line 1, column 4: control characters are not allowed (#x01)"},
    {S("a: b\0c"),
     "yaml: line 1, column 5: control characters are not allowed (#x00)"},
    {S("a: \xff"), "yaml: line 1, column 4: invalid leading UTF-8 octet"},
    {S("a: \xe2\x82"),
     "yaml: line 1, column 4: incomplete UTF-8 octet sequence"},
    {S("a: !!int foo"),
     "yaml: line 1, column 4: cannot decode !!str `foo` as a !!int"},
    {S("a: !!bool 1"),
     "yaml: line 1, column 4: cannot decode !!int `1` as a !!bool"},
    {S("a: !!binary '!'"),
     "yaml: line 1, column 4: !!binary value contains invalid base64 data"},
    {S("~: x"), "yaml: line 1, column 1: unsupported map key: null"},
    {S("[a]: x"), "yaml: line 1, column 1: invalid map key: a sequence"},
    {S("a: *b"), "yaml: line 1, column 4: unknown anchor 'b' referenced"},
    {S("a: &b [*b]"),
     "yaml: line 1, column 8: anchor 'b' value contains itself"},
    {S("m:\n  <<: 1"),
     "yaml: line 2, column 7: map merge requires map or sequence of maps as "
     "the value"},
    {S("a: 1\n---\nb: 2"),
     "yaml: expected a single document, found 2; use decode_all"},
};

/* encode(json.decode(json)) must print yaml. */
struct encode_case {
  const char *json;
  const char *yaml;
};

static const struct encode_case encode_cases[] = {
    {"{}", "{}\n"},
    {"[]", "[]\n"},
    {"null", "null\n"},
    {"\"x\"", "x\n"},
    {"{\"a\":[],\"b\":{},\"c\":null}", "a: []\nb: {}\nc: null\n"},
    {"{\"b\":1,\"a\":[1,\"2\",true]}", "a:\n- 1\n- \"2\"\n- true\nb: 1\n"},
    {"{\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":\"web\"}}}",
     "metadata:\n  labels:\n    app: web\n  name: x\n"},
    {"[[1,[2]],{\"k\":[{}]}]", "- - 1\n  - - 2\n- k:\n  - {}\n"},
    {"{\"s\":[\"on\",\"0755\",\"1e3\",\"~\",\"\",\" x\",\"a: b\",\"*\"]}",
     "s:\n- \"on\"\n- \"0755\"\n- \"1e3\"\n- \"~\"\n- \"\"\n- ' x'\n- 'a: b'\n"
     "- '*'\n"},
    {"{\"n\":[0.5,1e21,-7,9223372036854775807]}",
     "\"n\":\n- 0.5\n- 1e+21\n- -7\n- 9223372036854775807\n"},
    {"{\"t\":\"a\\nb\\n\",\"u\":\"a\\nb\"}",
     "t: |\n  a\n  b\nu: |-\n  a\n  b\n"},
    {"{\"ts\":\"2024-03-02T02:11:59Z\"}", "ts: \"2024-03-02T02:11:59Z\"\n"},
    {"{\"a10\":1,\"a9\":2,\"a\":3}", "a: 3\na9: 2\na10: 1\n"},
};

/* A Lua chunk that must raise an error containing msg. */
struct raise_case {
  const char *chunk;
  const char *msg;
};

static const struct raise_case raise_cases[] = {
    {"return Y.encode({f = print})",
     "yaml.encode: cannot encode a value of type function"},
    {"local t = {} t[1] = t return Y.encode(t)",
     "yaml.encode: cannot encode a table that contains itself (cycle)"},
    {"return Y.encode({[true] = 1})",
     "yaml.encode: cannot encode a table key of type boolean"},
    {"return Y.encode({[1] = 1, ['1'] = 2})",
     "yaml.encode: duplicate key \"1\""},
    {"local t = {} local c = t for i = 1, 1000 do c.x = {} c = c.x end "
     "return Y.encode(t)",
     "yaml.encode: nesting deeper than 1000"},
    {"return Y.encode_all('x')", "table expected, got string"},
    {"return Y.decode(nil)", "string expected, got nil"},
};

/* Deep equality of two Lua values: same types, integer vs float kept
 * apart, tables with the same metatable and equal entries. */
static int deep_eq(lua_State *L, int a, int b)
{
  int eq = 1;

  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if(lua_type(L, a) != lua_type(L, b))
    return 0;
  if(lua_type(L, a) == LUA_TNUMBER &&
     lua_isinteger(L, a) != lua_isinteger(L, b))
    return 0;
  if(lua_type(L, a) != LUA_TTABLE)
    return lua_rawequal(L, a, b);
  lua_getmetatable(L, a) || (lua_pushnil(L), 0);
  lua_getmetatable(L, b) || (lua_pushnil(L), 0);
  eq = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if(!eq || lua_rawlen(L, a) != lua_rawlen(L, b))
    return 0;
  lua_pushnil(L);
  while(eq && lua_next(L, a)) {
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    eq = deep_eq(L, -2, -1);
    lua_pop(L, 2);
  }
  if(!eq) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushnil(L);
  while(lua_next(L, b)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if(lua_rawget(L, a) == LUA_TNIL)
      eq = 0;
    lua_pop(L, 1);
    if(!eq) {
      lua_pop(L, 1);
      return 0;
    }
  }
  return 1;
}

/* [-0, +1] Call yaml.<fn>(arg at idx) protected; returns the lua_pcall
 * status and leaves the first result (or the error) on top. */
static int call_yaml(lua_State *L, const char *fn, int idx, int nres)
{
  int st;

  idx = lua_absindex(L, idx);
  unit_require(L, "kubelua.yaml");
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
  lua_pushvalue(L, idx);
  st = lua_pcall(L, 1, nres, 0);
  return st;
}

/* ---- an allocator that fails once a budget is spent ---- */

static size_t budget_left = (size_t)-1;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  (void)ud;
  if(nsize == 0) {
    free(ptr);
    return NULL;
  }
  if(nsize > (ptr ? osize : 0)) {
    size_t grow = nsize - (ptr ? osize : 0);

    if(grow > budget_left)
      return NULL;
    budget_left -= grow;
  }
  return realloc(ptr, nsize);
}

UNITTEST_START
{
  lua_State *L = unit_lua_state();
  size_t i;
  int st;

  /* decode results, compared as compact JSON */
  for(i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
    const struct decode_case *c = &decode_cases[i];
    char name[160];

    snprintf(name, sizeof(name), "decode case %zu: %.60s", i, c->in);
    lua_pushlstring(L, c->in, c->in_len);
    st = call_yaml(L, "decode", -1, 2);
    fail_unless(st == LUA_OK, name);
    if(st == LUA_OK) {
      fail_unless(!lua_isnil(L, -2), name);
      abort_unless(kl_json_decode(L, c->json, strlen(c->json)) == 1, name);
      if(!deep_eq(L, -3, -1)) {
        kl_json_encode(L, -3, 0);
        fprintf(stderr, "  got: %s\n", lua_tostring(L, -1));
        fail_unless(0, name);
      }
    }
    lua_settop(L, 0);
  }

  /* every failure message */
  for(i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
    const struct error_case *c = &error_cases[i];
    char name[160];

    snprintf(name, sizeof(name), "error case %zu: %.60s", i, c->in);
    lua_pushlstring(L, c->in, c->in_len);
    st = call_yaml(L, "decode", -1, 2);
    fail_unless(st == LUA_OK, name);
    fail_unless(lua_isnil(L, -2), name);
    check_str(lua_tostring(L, -1), c->msg, name);
    lua_settop(L, 0);
  }

  /* encode texts */
  for(i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
    const struct encode_case *c = &encode_cases[i];
    char name[160];

    snprintf(name, sizeof(name), "encode case %zu: %.60s", i, c->json);
    abort_unless(kl_json_decode(L, c->json, strlen(c->json)) == 1, name);
    st = call_yaml(L, "encode", -1, 1);
    fail_unless(st == LUA_OK, name);
    check_str(lua_tostring(L, -1), c->yaml, name);
    /* and the text reads back to the same JSON */
    if(st == LUA_OK) {
      st = call_yaml(L, "decode", -1, 1);
      fail_unless(st == LUA_OK, name);
      fail_unless(deep_eq(L, 1, -1), name);
    }
    lua_settop(L, 0);
  }

  /* encode and misuse errors */
  unit_require(L, "kubelua.yaml");
  lua_setglobal(L, "Y");
  for(i = 0; i < sizeof(raise_cases) / sizeof(raise_cases[0]); i++) {
    const struct raise_case *c = &raise_cases[i];

    st = luaL_loadstring(L, c->chunk);
    abort_unless(st == LUA_OK, c->chunk);
    st = lua_pcall(L, 0, 1, 0);
    fail_unless(st == LUA_ERRRUN, c->chunk);
    fail_unless(lua_tostring(L, -1) && strstr(lua_tostring(L, -1), c->msg),
                c->chunk);
    if(st == LUA_ERRRUN && !strstr(lua_tostring(L, -1), c->msg))
      fprintf(stderr, "  got: %s\n", lua_tostring(L, -1));
    lua_settop(L, 0);
  }

  /* running out of memory at every step: an error, never a crash */
  {
    static const char doc[] =
        "base: &b {labels: {app: web, tier: [a, b]}}\n"
        "items:\n- <<: *b\n  name: one\n  data: !!binary aGVsbG8=\n"
        "- {name: two, n: 0x10, f: 1.5, t: yes, z: ~}\n"
        "- |\n  block\n  text\n";
    const char *want = NULL;
    size_t budget;
    int oom_seen = 0, ok_seen = 0;
    void *ud;
    lua_Alloc orig = lua_getallocf(L, &ud);

    (void)orig;
    lua_pushlstring(L, doc, sizeof(doc) - 1);
    st = call_yaml(L, "decode", 1, 1);
    abort_unless(st == LUA_OK && lua_istable(L, -1), "oom: reference decode");
    st = call_yaml(L, "encode", -1, 1);
    abort_unless(st == LUA_OK, "oom: reference encode");
    want = strdup(lua_tostring(L, -1));
    lua_settop(L, 1);
    lua_setallocf(L, limited_alloc, NULL);
    for(budget = 0; budget < 40000; budget += 97) {
      lua_gc(L, LUA_GCCOLLECT, 0);
      budget_left = budget;
      st = call_yaml(L, "decode", 1, 1);
      if(st == LUA_OK)
        st = call_yaml(L, "encode", -1, 1);
      budget_left = (size_t)-1;
      if(st == LUA_OK) {
        ok_seen++;
        check_str(lua_tostring(L, -1), want, "oom: result after a retry");
      } else {
        oom_seen++;
        fail_unless(st == LUA_ERRMEM || st == LUA_ERRRUN,
                    "oom: a Lua error status");
      }
      lua_settop(L, 1);
    }
    fail_unless(oom_seen > 10, "oom: small budgets fail");
    fail_unless(ok_seen > 10, "oom: large budgets succeed");
    free((void *)want);
    budget_left = (size_t)-1;
  }

  lua_close(L);
}
UNITTEST_STOP
