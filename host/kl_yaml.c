/* kubelua.yaml: YAML <-> Lua on libyaml's event API (STYLE.md section 6).
 *
 * The reference is what `kubectl apply -f` reads and what `kubectl -o yaml`
 * prints: kubectl converts YAML to JSON with sigs.k8s.io/yaml, which is
 * go-yaml v2 (v2.4.0) decoding into interface{}. So:
 *
 * decode(text [, {strict = true}]) / decode_all(text [, {strict = true}])
 *   - sequences are tables with the registry metatable "kubelua.array_mt"
 *     (empty ones too), mappings plain tables, null lightuserdata(NULL);
 *   - plain scalars resolve by go-yaml v2's resolve.go (YAML 1.1): booleans
 *     y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON
 *     off Off OFF; null ~ null Null NULL and the empty value; integers with
 *     sign, 0x hex, 0o and leading-zero octal, 0b binary, '_' separators
 *     (removed before parsing, as go-yaml does); an integer beyond int64
 *     that fits uint64 is a float (kubectl keeps its digits, a Lua number
 *     cannot; as a mapping key it fails, as in kubectl), a hex or octal one
 *     beyond uint64 a string, a decimal one a float; go-yaml's "0b" retry
 *     makes "0b-101" the integer -5, as kubectl reads it; floats 1e3 1.5
 *     .5 +.5 .inf -.inf .nan ...; "09" is the float 9 (go-yaml: not octal,
 *     but matches its float pattern); timestamps such as 2001-12-14 stay the
 *     string they are (go-yaml hands interface{} the text); a float beyond
 *     the double range stays a string, as in go-yaml;
 *   - quoted and block scalars are strings; tags !!str !!int !!float !!bool
 *     !!null !!timestamp !!binary (base64, decoded to bytes) !!merge are
 *     honoured, e.g. "!!int foo" fails with go-yaml's "cannot decode !!str
 *     `foo` as a !!int"; other tags leave the scalar a string;
 *   - mapping keys become strings as sigs.k8s.io/yaml makes them: 1 -> "1",
 *     yes -> "true", 1.5 -> "1.5" (float keys print like Go's
 *     FormatFloat(f, 'g', -1, 32), so does an integer beyond int64); a null
 *     key and a mapping or sequence key fail, as they fail in kubectl;
 *   - a key given twice in one mapping: the last one wins, as in kubectl
 *     apply -f (measured with kubectl 1.32: it converts the YAML to JSON,
 *     which drops the first, and sends that JSON, so the server's strict
 *     field validation never sees the duplicate). With {strict = true} it
 *     fails instead, as go-yaml's UnmarshalStrict (and kubectl apply -k)
 *     do: "mapping key "x" already defined at line N"; keys that a merge
 *     brought in may still be overridden;
 *   - anchors and aliases: an alias is a deep copy, so every decoded value
 *     is a tree (no shared tables; encode never sees a cycle); alias
 *     expansion is bounded by go-yaml's own rule ("document contains
 *     excessive aliasing"), an alias to an anchor still being defined fails
 *     ("anchor 'x' value contains itself"), an unknown one too;
 *   - merge keys "<<: *a" and "<<: [*a, *b]" behave as in go-yaml v2: the
 *     merged entries are written where "<<" stands, so keys after it win
 *     (and, unlike the YAML merge spec, a key written before "<<" loses),
 *     and within a list the earlier maps win; only a plain "<<" (or one
 *     tagged !!merge) merges, a quoted '<<' is an ordinary key;
 *   - nesting deeper than KL_YAML_MAX_DEPTH fails, never a C stack overflow;
 *   - errors: nil, "yaml: line L, column C: problem" (1-based; libyaml's
 *     problem text and mark; invalid UTF-8 is located by its byte offset).
 *   decode() of an empty stream (or one holding only empty / null
 *   documents) is json.null, like sigs.k8s.io/yaml.YAMLToJSON(""); of more
 *   than one document an error pointing at decode_all. decode_all() returns
 *   an array of the documents, skipping empty and null ones, as kubectl
 *   apply -f does (an empty file is no object: []).
 *
 * encode(value) / encode_all(list)
 *   go-yaml v2's Marshal as kubectl -o yaml runs it, on libyaml's emitter
 *   (go-yaml's emitter is a port of it): block style, indent 2, sequences in
 *   mappings not indented, lines folded at 80 columns, mapping keys sorted
 *   in go-yaml's key order (its natural sort: digit runs compare by value,
 *   non-letters before letters), strings double-quoted exactly when they
 *   would read back as something else (decode's own resolver decides),
 *   libyaml choosing single quotes or double quotes for strings that cannot
 *   be plain; strings holding a newline as literal blocks; invalid UTF-8 as
 *   !!binary base64, as go-yaml does; [] and {} for empty arrays/objects.
 *   Integers print exactly, floats as Go's FormatFloat(f, 'g', -1, 64) but
 *   with ".0" added to an integral float so that it reads back as a float
 *   (go-yaml prints 1000 for 1000.0). Unlike go-yaml, "<<" is quoted, so
 *   that it never reads back as a merge key. A table with the array
 *   metatable is a sequence, one with "kubelua.object_mt" a mapping; any
 *   other is a sequence when its keys are exactly 1..n (n >= 1), else a
 *   mapping ({} is an empty mapping); integer and float keys print as
 *   strings. A table shared by two fields is written twice. Functions,
 *   userdata, threads, cycles, other key types and nesting deeper than
 *   KL_YAML_MAX_DEPTH raise. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <yaml.h>

#define KL_YAML_MAX_DEPTH 1000
#define ARRAY_MT "kubelua.array_mt"
#define OBJECT_MT "kubelua.object_mt"
#define DEC_MT "kubelua.yaml.decoder"
#define ENC_MT "kubelua.yaml.encoder"
#define TAG_PREFIX "tag:yaml.org,2002:"
#define TAG_PREFIX_LEN (sizeof(TAG_PREFIX) - 1)

/* ---- shared helpers ---------------------------------------------------- */

/* [-0, +0] Give the table at idx the shared array metatable. */
static void set_array_mt(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  luaL_newmetatable(L, ARRAY_MT);
  lua_setmetatable(L, idx);
}

/* [-0, +0] Does the value at idx have the registry metatable name? */
static int has_mt(lua_State *L, int idx, const char *name)
{
  int r;

  if(!lua_getmetatable(L, idx))
    return 0;
  luaL_getmetatable(L, name);
  r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

/* [-0, +0] Is the value at idx json.null, lightuserdata(NULL)? */
static int is_null(lua_State *L, int idx)
{
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, idx);
}

static int is_digit(int c)
{
  return c >= '0' && c <= '9';
}

/* Shortest decimal digits of v that read back to the same double (or, with
 * f32, to the same float): writes them to digs (no dot, no sign) and
 * returns their count; *exp is the decimal exponent of the first digit. */
static int shortest_digits(double v, int f32, char *digs, int *exp)
{
  char buf[64];
  int prec, n = 0;
  char *p, *e;

  for(prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
    if(f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
      break;
  }
  p = buf;
  if(*p == '-')
    p++;
  e = strchr(p, 'e');
  for(; p < e; p++)
    if(is_digit(*p))
      digs[n++] = *p;
  while(n > 1 && digs[n - 1] == '0')
    n--;
  *exp = atoi(e + 1);
  return n;
}

/* Formats v like Go's strconv.FormatFloat(v, 'g', -1, 64 or 32), then maps
 * +Inf/-Inf/NaN to YAML's .inf/-.inf/.nan. Returns the length. */
static int format_go_g(double v, int f32, char *out)
{
  char digs[32];
  int n, exp, len = 0, i;

  if(isnan(v))
    return sprintf(out, ".nan");
  if(isinf(v))
    return sprintf(out, v > 0 ? ".inf" : "-.inf");
  if(f32) {
    v = (float)v;
    if(isinf(v))
      return sprintf(out, v > 0 ? ".inf" : "-.inf");
  }
  if(signbit(v))
    out[len++] = '-';
  if(v == 0) {
    out[len++] = '0';
    out[len] = '\0';
    return len;
  }
  n = shortest_digits(v, f32, digs, &exp);
  if(exp < -4 || exp >= 6) { /* %e, as Go's 'g' with the shortest digits */
    out[len++] = digs[0];
    if(n > 1) {
      out[len++] = '.';
      memcpy(out + len, digs + 1, n - 1);
      len += n - 1;
    }
    len += sprintf(out + len, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    return len;
  }
  if(exp < 0) {
    out[len++] = '0';
    out[len++] = '.';
    for(i = 0; i < -exp - 1; i++)
      out[len++] = '0';
    memcpy(out + len, digs, n);
    len += n;
  } else {
    for(i = 0; i <= exp || i < n; i++) {
      if(i == exp + 1)
        out[len++] = '.';
      out[len++] = i < n ? digs[i] : '0';
    }
  }
  out[len] = '\0';
  return len;
}

/* ---- base64 (for !!binary) --------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(int c)
{
  if(c >= 'A' && c <= 'Z')
    return c - 'A';
  if(c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if(c >= '0' && c <= '9')
    return c - '0' + 52;
  if(c == '+')
    return 62;
  if(c == '/')
    return 63;
  return -1;
}

/* [-0, +1 or +0] Decode standard, padded base64 as Go's
 * base64.StdEncoding does (it skips '\r' and '\n'); pushes the bytes and
 * returns 1, or pushes nothing and returns 0 on bad input. */
static int b64_decode_push(lua_State *L, const char *s, size_t n)
{
  luaL_Buffer b;
  unsigned quad[4];
  size_t i;
  int q = 0, pad = 0;

  luaL_buffinit(L, &b);
  for(i = 0; i < n; i++) {
    int c = (unsigned char)s[i], v;

    if(c == '\r' || c == '\n')
      continue;
    if(c == '=') {
      if(q < 2)
        goto bad;
      pad++;
      quad[q++] = 0;
    } else {
      v = b64_value(c);
      if(v < 0 || pad)
        goto bad;
      quad[q++] = (unsigned)v;
    }
    if(q == 4) {
      unsigned w = quad[0] << 18 | quad[1] << 12 | quad[2] << 6 | quad[3];

      luaL_addchar(&b, (char)(w >> 16));
      if(pad < 2)
        luaL_addchar(&b, (char)(w >> 8 & 0xff));
      if(pad < 1)
        luaL_addchar(&b, (char)(w & 0xff));
      q = 0;
      if(pad)
        pad = 3; /* nothing may follow the padding */
    }
  }
  if(q)
    goto bad;
  luaL_pushresult(&b);
  return 1;
bad:
  luaL_pushresult(&b);
  lua_pop(L, 1);
  return 0;
}

/* ---- timestamps (go-yaml's parseTimestamp with Go's time.Parse) -------- */

/* Go's getnum(s, fixed=false): one or two digits. */
static int ts_num(const char **p, const char *e, int *out)
{
  const char *s = *p;

  if(s >= e || !is_digit(*s))
    return 0;
  *out = *s++ - '0';
  if(s < e && is_digit(*s))
    *out = *out * 10 + (*s++ - '0');
  *p = s;
  return 1;
}

static int days_in(int month, int year)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

  if(month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    return 29;
  return days[month - 1];
}

/* Does s match one of go-yaml's timestamp layouts: "2006-1-2",
 * "2006-1-2T15:4:5.999999999Z07:00" (also with 't') or
 * "2006-1-2 15:4:5.999999999"? */
static int is_timestamp(const char *s, size_t n)
{
  const char *p = s, *e = s + n;
  int year, month, day, hour, min, sec, i, tz;

  if(n < 5)
    return 0;
  for(i = 0; i < 4; i++)
    if(!is_digit(s[i]))
      return 0;
  if(s[4] != '-')
    return 0;
  year = atoi(s); /* stops at the '-' */
  p = s + 5;
  if(!ts_num(&p, e, &month) || month < 1 || month > 12)
    return 0;
  if(p >= e || *p++ != '-')
    return 0;
  if(!ts_num(&p, e, &day) || day < 1 || day > days_in(month, year))
    return 0;
  if(p == e)
    return 1;
  if(*p == 'T' || *p == 't') {
    tz = 1;
    p++;
  } else if(*p == ' ') {
    tz = 0;
    while(p < e && *p == ' ')
      p++;
  } else
    return 0;
  if(!ts_num(&p, e, &hour) || hour >= 24 || p >= e || *p++ != ':')
    return 0;
  if(!ts_num(&p, e, &min) || min >= 60 || p >= e || *p++ != ':')
    return 0;
  if(!ts_num(&p, e, &sec) || sec >= 60)
    return 0;
  if(e - p >= 2 && (*p == '.' || *p == ',') && is_digit(p[1])) {
    p++;
    while(p < e && is_digit(*p))
      p++;
  }
  if(!tz)
    return p == e;
  if(p < e && *p == 'Z')
    return p + 1 == e;
  if(e - p != 6 || (*p != '+' && *p != '-') || p[3] != ':')
    return 0;
  if(!is_digit(p[1]) || !is_digit(p[2]) || !is_digit(p[4]) || !is_digit(p[5]))
    return 0;
  return (p[1] - '0') * 10 + (p[2] - '0') <= 24 &&
         (p[4] - '0') * 10 + (p[5] - '0') <= 60;
}

/* ---- scalar resolution (go-yaml v2 resolve.go) ------------------------- */

/* R_UINT: an integer beyond int64 that fits uint64 (go-yaml's uint64);
 * its value is the nearest double. */
enum rkind {
  R_STR,
  R_NULL,
  R_BOOL,
  R_INT,
  R_FLOAT,
  R_TIMESTAMP,
  R_MERGE,
  R_UINT
};

static const char *const rkind_tag[] = {"str",   "null",      "bool",  "int",
                                        "float", "timestamp", "merge", "int"};

struct resolved {
  enum rkind kind;
  int b;
  lua_Integer i;
  double f;
};

/* go-yaml's resolveTable: the first byte's hint. */
static char hint_of(unsigned char c)
{
  if(c == '+' || c == '-')
    return 'S';
  if(is_digit(c))
    return 'D';
  if(strchr("yYnNtTfFoO~", c) && c)
    return 'M';
  if(c == '.')
    return '.';
  return 0;
}

/* go-yaml's resolveMap: exact words. */
static int resolve_word(const char *s, size_t n, struct resolved *r)
{
  static const struct {
    const char *w;
    enum rkind k;
    int b;
  } words[] = {
      {"y", R_BOOL, 1},       {"Y", R_BOOL, 1},       {"yes", R_BOOL, 1},
      {"Yes", R_BOOL, 1},     {"YES", R_BOOL, 1},     {"true", R_BOOL, 1},
      {"True", R_BOOL, 1},    {"TRUE", R_BOOL, 1},    {"on", R_BOOL, 1},
      {"On", R_BOOL, 1},      {"ON", R_BOOL, 1},      {"n", R_BOOL, 0},
      {"N", R_BOOL, 0},       {"no", R_BOOL, 0},      {"No", R_BOOL, 0},
      {"NO", R_BOOL, 0},      {"false", R_BOOL, 0},   {"False", R_BOOL, 0},
      {"FALSE", R_BOOL, 0},   {"off", R_BOOL, 0},     {"Off", R_BOOL, 0},
      {"OFF", R_BOOL, 0},     {"~", R_NULL, 0},       {"null", R_NULL, 0},
      {"Null", R_NULL, 0},    {"NULL", R_NULL, 0},    {".nan", R_FLOAT, 0},
      {".NaN", R_FLOAT, 0},   {".NAN", R_FLOAT, 0},   {".inf", R_FLOAT, 1},
      {".Inf", R_FLOAT, 1},   {".INF", R_FLOAT, 1},   {"+.inf", R_FLOAT, 1},
      {"+.Inf", R_FLOAT, 1},  {"+.INF", R_FLOAT, 1},  {"-.inf", R_FLOAT, -1},
      {"-.Inf", R_FLOAT, -1}, {"-.INF", R_FLOAT, -1},
  };
  size_t i;

  if(n > 6)
    return 0;
  for(i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
    if(strlen(words[i].w) == n && !memcmp(words[i].w, s, n)) {
      r->kind = words[i].k;
      r->b = words[i].b;
      if(r->kind == R_FLOAT)
        r->f = r->b ? r->b * HUGE_VAL : NAN;
      return 1;
    }
  }
  return 0;
}

/* Go's strconv.ParseUint(s, base, 64) on s (no underscores left; base 0
 * reads a 0b/0o/0x prefix, or a leading 0 as octal, as Go does). A sign is
 * a syntax error. Returns 1 with *u set, or 0 on a syntax or range error
 * (go-yaml treats both alike). */
static int go_parse_uint(const char *s, size_t n, int base, uint64_t *u)
{
  const char *p = s, *e = s + n;
  uint64_t acc = 0;

  if(p >= e)
    return 0;
  if(base == 0) {
    base = 10;
    if(*p == '0') {
      char c = e - p >= 3 ? (char)(p[1] | 0x20) : 0;

      if(c == 'b' || c == 'o' || c == 'x') {
        base = c == 'b' ? 2 : c == 'o' ? 8 : 16;
        p += 2;
      } else {
        base = 8; /* "0" alone is 0: no digits left is fine here */
        p += 1;
      }
    }
  }
  for(; p < e; p++) {
    int d, c = (unsigned char)*p;

    if(is_digit(c))
      d = c - '0';
    else if((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
      d = (c | 0x20) - 'a' + 10;
    else
      return 0;
    if(d >= base)
      return 0;
    if(acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
      return 0;
    acc = acc * (uint64_t)base + (uint64_t)d;
  }
  *u = acc;
  return 1;
}

/* Go's strconv.ParseInt(s, base, 64): an optional sign, then ParseUint,
 * within int64. Returns 1 with *v set, else 0. */
static int go_parse_int(const char *s, size_t n, int base, lua_Integer *v)
{
  int neg = 0;
  uint64_t u;

  if(n && (*s == '+' || *s == '-')) {
    neg = *s == '-';
    s++;
    n--;
  }
  if(!go_parse_uint(s, n, base, &u))
    return 0;
  if(!neg && u <= (uint64_t)INT64_MAX) {
    *v = (lua_Integer)u;
    return 1;
  }
  if(neg && u <= (uint64_t)INT64_MAX + 1) {
    *v = (lua_Integer)(0 - u);
    return 1;
  }
  return 0;
}

/* go-yaml's yamlStyleFloat:
 * ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int yaml_style_float(const char *s, size_t n)
{
  const char *p = s, *e = s + n;

  if(p < e && (*p == '+' || *p == '-'))
    p++;
  if(p < e && *p == '.') {
    p++;
    if(p >= e || !is_digit(*p))
      return 0;
    while(p < e && is_digit(*p))
      p++;
  } else {
    if(p >= e || !is_digit(*p))
      return 0;
    while(p < e && is_digit(*p))
      p++;
    if(p < e && *p == '.') {
      p++;
      while(p < e && is_digit(*p))
        p++;
    }
  }
  if(p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if(p < e && (*p == '+' || *p == '-'))
      p++;
    if(p >= e || !is_digit(*p))
      return 0;
    while(p < e && is_digit(*p))
      p++;
  }
  return p == e;
}

/* Go's strconv.ParseFloat on a string already matching the float pattern:
 * 1 with *f set, 0 when it overflows (Go reports ErrRange; go-yaml then
 * keeps the string). Underflow is fine (0 or a subnormal, no error). */
static int parse_float(const char *s, size_t n, double *f)
{
  char buf[128], *end;
  char *tmp = n < sizeof(buf) ? buf : malloc(n + 1);

  if(!tmp)
    return 0;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  errno = 0;
  *f = strtod(tmp, &end);
  if(tmp != buf)
    free(tmp);
  if(errno == ERANGE && isinf(*f))
    return 0;
  return 1;
}

/* Go's underscoreOK for a string without base prefix handling needed here:
 * '_' only between digits. */
static int underscore_ok(const char *s, size_t n)
{
  char saw = '^';
  size_t i = 0;

  if(n && (s[0] == '-' || s[0] == '+'))
    i = 1;
  for(; i < n; i++) {
    if(is_digit(s[i])) {
      saw = '0';
      continue;
    }
    if(s[i] == '_') {
      if(saw != '0')
        return 0;
      saw = '_';
      continue;
    }
    if(saw == '_')
      return 0;
    saw = '!';
  }
  return saw != '_';
}

/* go-yaml's resolve("" or a resolvable tag, s) for the implicit kinds:
 * fills r and returns its kind. Strings are R_STR. tagged: the explicit tag
 * kind, which disables the timestamp check unless it is timestamp. */
static enum rkind
resolve_scalar(const char *s, size_t n, int ts_allowed, struct resolved *r)
{
  char hint;
  char stackbuf[64];
  char *plain;
  size_t i, pn;
  lua_Integer iv;
  uint64_t u;
  double fv;
  int rc;

  r->kind = R_STR;
  hint = n ? hint_of((unsigned char)s[0]) : 'N';
  if(!hint)
    return R_STR;
  if(n == 0) {
    r->kind = R_NULL;
    return R_NULL;
  }
  if(resolve_word(s, n, r))
    return r->kind;
  if(hint == 'M')
    return R_STR;
  if(hint == '.') {
    /* Go's ParseFloat on the text itself (underscores allowed between
     * digits), which for a leading '.' means \.[0-9]+([eE][-+]?[0-9]+)? */
    if(!underscore_ok(s, n))
      return R_STR;
    plain = n < sizeof(stackbuf) ? stackbuf : malloc(n);
    if(!plain)
      return R_STR;
    for(i = 0, pn = 0; i < n; i++)
      if(s[i] != '_')
        plain[pn++] = s[i];
    rc = yaml_style_float(plain, pn) && parse_float(plain, pn, &fv);
    if(plain != stackbuf)
      free(plain);
    if(rc) {
      r->kind = R_FLOAT;
      r->f = fv;
    }
    return r->kind;
  }
  /* 'D' or 'S': int, float or timestamp */
  if(ts_allowed && is_timestamp(s, n)) {
    r->kind = R_TIMESTAMP;
    return R_TIMESTAMP;
  }
  plain = n < sizeof(stackbuf) ? stackbuf : malloc(n);
  if(!plain)
    return R_STR;
  for(i = 0, pn = 0; i < n; i++)
    if(s[i] != '_')
      plain[pn++] = s[i];
  /* go-yaml v2's order: ParseInt, ParseUint (base 0), the float pattern,
   * then its own "0b"/"-0b" retry with ParseInt(..., 2), which lets a sign
   * follow the prefix ("0b-101" is -5, as kubectl reads it). */
  if(go_parse_int(plain, pn, 0, &iv)) {
    r->kind = R_INT;
    r->i = iv;
  } else if(go_parse_uint(plain, pn, 0, &u)) {
    r->kind = R_UINT; /* beyond int64: kubectl's JSON has the digits */
    r->f = (double)u;
  } else if(yaml_style_float(plain, pn) && parse_float(plain, pn, &fv)) {
    r->kind = R_FLOAT; /* also decimals beyond uint64, and "09" */
    r->f = fv;
  } else if(pn >= 2 && plain[0] == '0' && plain[1] == 'b') {
    if(go_parse_int(plain + 2, pn - 2, 2, &iv)) {
      r->kind = R_INT;
      r->i = iv;
    } else if(go_parse_uint(plain + 2, pn - 2, 2, &u)) {
      r->kind = R_UINT;
      r->f = (double)u;
    }
  } else if(pn >= 3 && !memcmp(plain, "-0b", 3)) {
    /* ParseInt("-" + plain[3:], 2): a second sign is a syntax error */
    if(pn > 3 && plain[3] != '+' && plain[3] != '-' &&
       go_parse_uint(plain + 3, pn - 3, 2, &u) &&
       u <= (uint64_t)INT64_MAX + 1) {
      r->kind = R_INT;
      r->i = (lua_Integer)(0 - u);
    }
  }
  if(plain != stackbuf)
    free(plain);
  return r->kind;
}

/* The short name of a full tag ("tag:yaml.org,2002:int" -> "!!int"). */
static const char *short_tag(const char *tag, char *buf, size_t size)
{
  if(!strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN)) {
    snprintf(buf, size, "!!%s", tag + TAG_PREFIX_LEN);
    return buf;
  }
  return tag;
}

/* ---- decoder ------------------------------------------------------------ */

struct frame {
  int kind;          /* 0 sequence, 1 mapping */
  int tidx;          /* stack index: table, anchor name, merge side table */
  lua_Integer n;     /* sequence length */
  int key_pending;   /* mapping: key at tidx + 3 */
  int key_is_merge;  /* that key is "<<" */
  int merged;        /* a merge happened: side table tracks explicit keys */
  yaml_mark_t start; /* the collection's start mark */
  yaml_mark_t keymark;
};

struct kl_yaml_dec {
  yaml_parser_t parser;
  yaml_event_t event;
  int parser_live;
  int event_live;
  struct frame *frames;
  size_t nframes;
  size_t cap;
  long long decode_count;
  long long alias_count;
  int strict; /* a key given twice in one mapping is an error */
  const char *text;
  size_t len;
};

/* The anchors table's mark for an anchor whose collection is still open. */
static char anchor_open;

/* Everything a value carries to its parent besides itself. */
struct dinfo {
  yaml_mark_t mark;
  int is_merge_key; /* a plain "<<" or !!merge scalar */
  int from_alias;
  const unsigned char *uint_key; /* the text of an integer beyond int64 */
};

static void dec_release(struct kl_yaml_dec *d)
{
  if(d->event_live) {
    yaml_event_delete(&d->event);
    d->event_live = 0;
  }
  if(d->parser_live) {
    yaml_parser_delete(&d->parser);
    d->parser_live = 0;
  }
  free(d->frames);
  d->frames = NULL;
  d->nframes = d->cap = 0;
}

static int dec_gc(lua_State *L)
{
  dec_release(luaL_checkudata(L, 1, DEC_MT));
  return 0;
}

/* [-0, +1] Push "yaml: line L, column C: " + message; returns -1, the
 * failure result of every decoder step. */
static int dec_fail(lua_State *L, yaml_mark_t mark, const char *fmt, ...)
{
  va_list ap;

  lua_pushfstring(L, "yaml: line %d, column %d: ", (int)mark.line + 1,
                  (int)mark.column + 1);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return -1;
}

/* [-0, +1] The parser's own error, located by its mark (or, for reader
 * errors, by the byte offset libyaml reports). */
static int dec_parser_fail(lua_State *L, struct kl_yaml_dec *d)
{
  yaml_parser_t *p = &d->parser;
  yaml_mark_t mark = p->problem_mark;
  const char *problem = p->problem ? p->problem : "unknown problem";

  if(p->error == YAML_READER_ERROR) {
    size_t i, off = p->problem_offset;

    memset(&mark, 0, sizeof(mark));
    for(i = 0; i < off && i < d->len; i++) {
      unsigned char c = (unsigned char)d->text[i];

      if(c == '\n') {
        mark.line++;
        mark.column = 0;
      } else if((c & 0xc0) != 0x80)
        mark.column++;
    }
    if(p->problem_value != -1 && !strstr(problem, "UTF")) {
      char hex[16];

      snprintf(hex, sizeof(hex), "#x%02X", (unsigned)p->problem_value);
      return dec_fail(L, mark, "%s (%s)", problem, hex);
    }
  } else if(p->error == YAML_MEMORY_ERROR)
    return dec_fail(L, mark, "out of memory");
  return dec_fail(L, mark, "%s", problem);
}

static double allowed_alias_ratio(long long decode_count)
{
  const double low = 400000, high = 4000000;

  if(decode_count <= low)
    return 0.99;
  if(decode_count >= high)
    return 0.10;
  return 0.99 - 0.89 * ((double)decode_count - low) / (high - low);
}

/* go-yaml's guard against alias bombs, counted per node decoded. */
static int excessive_aliasing(struct kl_yaml_dec *d)
{
  return d->alias_count > 100 && d->decode_count > 1000 &&
         (double)d->alias_count / (double)d->decode_count >
             allowed_alias_ratio(d->decode_count);
}

/* [-0, +1 or +1 error] Deep-copy the value at idx (an anchored value)
 * counting every node as an alias expansion. Returns 0, or -1 with the
 * message pushed instead of the copy. */
static int
dec_copy(lua_State *L, struct kl_yaml_dec *d, int idx, yaml_mark_t mark)
{
  int dst;

  idx = lua_absindex(L, idx);
  d->decode_count++;
  d->alias_count++;
  if(excessive_aliasing(d))
    return dec_fail(L, mark, "document contains excessive aliasing");
  if(lua_type(L, idx) != LUA_TTABLE) {
    lua_pushvalue(L, idx);
    return 0;
  }
  luaL_checkstack(L, 6, "yaml: nesting too deep");
  if(has_mt(L, idx, ARRAY_MT)) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);

    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    dst = lua_gettop(L);
    set_array_mt(L, dst);
    for(i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, i);
      if(dec_copy(L, d, -1, mark) < 0) {
        lua_replace(L, dst);
        lua_settop(L, dst);
        return -1;
      }
      lua_rawseti(L, dst, i);
      lua_pop(L, 1);
    }
    return 0;
  }
  lua_newtable(L);
  dst = lua_gettop(L);
  lua_pushnil(L);
  while(lua_next(L, idx)) {
    /* stack: dst, key, value; the key counts as a node too */
    d->decode_count++;
    d->alias_count++;
    if(dec_copy(L, d, -1, mark) < 0) {
      lua_replace(L, dst);
      lua_settop(L, dst);
      return -1;
    }
    lua_pushvalue(L, -3);
    lua_insert(L, -2);
    lua_rawset(L, dst);
    lua_pop(L, 1);
  }
  return 0;
}

/* [-1, +1] Turn the key value on top into the string sigs.k8s.io/yaml makes
 * of it; returns 0, or -1 with the message in its place. */
static int dec_key_string(lua_State *L, yaml_mark_t mark)
{
  char buf[64];

  switch(lua_type(L, -1)) {
  case LUA_TSTRING:
    return 0;
  case LUA_TNUMBER:
    if(lua_isinteger(L, -1)) {
      lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
    } else {
      format_go_g(lua_tonumber(L, -1), 1, buf);
      lua_pushstring(L, buf);
    }
    lua_replace(L, -2);
    return 0;
  case LUA_TBOOLEAN:
    lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
    lua_replace(L, -2);
    return 0;
  case LUA_TTABLE: {
    int seq = has_mt(L, -1, ARRAY_MT);

    lua_pop(L, 1);
    return dec_fail(L, mark, "invalid map key: a %s",
                    seq ? "sequence" : "mapping");
  }
  default:
    lua_pop(L, 1);
    return dec_fail(L, mark, "unsupported map key: null");
  }
}

static int dec_scalar(lua_State *L, yaml_event_t *ev, struct dinfo *info);

/* [-0, +0] Find the line of the first definition of key (a string) in the
 * mapping that starts at byte index start, before byte index before:
 * re-parses the text (error path only), reading each key as the decoder
 * does. Returns the 1-based line, or 0 when not found (an alias key). */
static int first_key_line(lua_State *L,
                          struct kl_yaml_dec *d,
                          size_t start,
                          size_t before,
                          const char *key,
                          size_t keylen)
{
  yaml_parser_t p;
  yaml_event_t ev;
  int line = 0, depth = -1, is_key = 1, done = 0;

  if(!yaml_parser_initialize(&p))
    return 0;
  yaml_parser_set_input_string(&p, (const unsigned char *)d->text, d->len);
  while(!done && yaml_parser_parse(&p, &ev)) {
    if(ev.start_mark.index >= before && depth >= 0)
      done = 1;
    switch(done ? YAML_NO_EVENT : ev.type) {
    case YAML_STREAM_END_EVENT:
      done = 1;
      break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if(depth < 0) {
        if(ev.type == YAML_MAPPING_START_EVENT && ev.start_mark.index == start)
          depth = 0;
      } else {
        if(depth == 0)
          is_key = !is_key;
        depth++;
      }
      break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      if(depth > 0 && --depth == 0) {
        /* a collection value (or key) ended */
      } else if(depth == 0)
        done = 1;
      break;
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
      if(depth == 0) {
        if(is_key && ev.type == YAML_SCALAR_EVENT) {
          struct dinfo info = {0};

          /* one value on top either way: the key, or a message */
          if(dec_scalar(L, &ev, &info) == 0 && !info.is_merge_key &&
             !info.uint_key && dec_key_string(L, ev.start_mark) == 0 &&
             lua_rawlen(L, -1) == keylen &&
             !memcmp(lua_tostring(L, -1), key, keylen)) {
            line = (int)ev.start_mark.line + 1;
            done = 1;
          }
          lua_pop(L, 1);
        }
        is_key = !is_key;
      }
      break;
    default:
      break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return line;
}

/* [-0, +0 or +1 error] Merge the mapping at index src into the frame's
 * table (go-yaml v2: entries overwrite, so keys after "<<" win). Returns 0,
 * or -1 with the message pushed. */
static int
dec_merge_one(lua_State *L, struct frame *f, int src, yaml_mark_t mark)
{
  int t = f->tidx;

  if(lua_type(L, src) != LUA_TTABLE || has_mt(L, src, ARRAY_MT))
    return dec_fail(L, mark,
                    "map merge requires map or sequence of maps as the value");
  if(!f->merged) {
    /* remember the keys written so far: they are the explicit ones */
    lua_newtable(L);
    lua_pushnil(L);
    while(lua_next(L, t)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushboolean(L, 1);
      lua_rawset(L, -4);
    }
    lua_replace(L, t + 2);
    f->merged = 1;
  }
  lua_pushnil(L);
  while(lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, t);
  }
  return 0;
}

/* [-1, +0] A completed value is on top: hand it to the open collection
 * (a mapping's key stays on the stack until its value comes; the document's
 * root stays on top). Returns 0, or -1 with the message pushed. */
static int
dec_deliver(lua_State *L, struct kl_yaml_dec *d, const struct dinfo *info)
{
  struct frame *f;
  int t;

  if(!d->nframes)
    return 0; /* the document's root stays on top */
  f = &d->frames[d->nframes - 1];
  t = f->tidx;
  if(f->kind == 0) {
    lua_rawseti(L, t, ++f->n);
    return 0;
  }
  if(!f->key_pending) {
    if(info->is_merge_key) {
      f->key_is_merge = 1;
    } else if(info->uint_key) {
      /* sigs.k8s.io/yaml: "unsupported map key of type: uint64" */
      lua_pop(L, 1);
      return dec_fail(L, info->mark, "unsupported map key of type uint64: %s",
                      (const char *)info->uint_key);
    } else {
      f->key_is_merge = 0;
      if(dec_key_string(L, info->mark) < 0)
        return -1;
    }
    f->key_pending = 1;
    f->keymark = info->mark;
    return 0;
  }
  f->key_pending = 0;
  /* stack: table, anchor, side, key, value */
  if(f->key_is_merge) {
    int v = lua_gettop(L);

    if(lua_type(L, v) == LUA_TTABLE && has_mt(L, v, ARRAY_MT) &&
       !info->from_alias) {
      lua_Integer i;

      for(i = (lua_Integer)lua_rawlen(L, v); i >= 1; i--) {
        lua_rawgeti(L, v, i);
        if(dec_merge_one(L, f, lua_gettop(L), info->mark) < 0)
          return -1;
        lua_pop(L, 1);
      }
    } else if(dec_merge_one(L, f, v, info->mark) < 0)
      return -1;
    lua_settop(L, t + 2);
    return 0;
  }
  lua_pushvalue(L, t + 3);
  if(!d->strict) {
    lua_pop(L, 1); /* kubectl apply -f: the last one wins */
  } else if(lua_rawget(L, t) != LUA_TNIL) {
    int dup = 1;

    lua_pop(L, 1);
    if(f->merged) {
      lua_pushvalue(L, t + 3);
      dup = lua_rawget(L, t + 2) != LUA_TNIL;
      lua_pop(L, 1);
    }
    if(dup) {
      size_t klen;
      const char *k = lua_tolstring(L, t + 3, &klen);
      int line =
          first_key_line(L, d, f->start.index, f->keymark.index, k, klen);

      if(line)
        return dec_fail(L, f->keymark,
                        "mapping key \"%s\" already defined at line %d", k,
                        line);
      return dec_fail(L, f->keymark, "mapping key \"%s\" already defined", k);
    }
  } else
    lua_pop(L, 1);
  if(f->merged) {
    lua_pushvalue(L, t + 3);
    lua_pushboolean(L, 1);
    lua_rawset(L, t + 2);
  }
  lua_rawset(L, t);
  return 0;
}

/* [-0, +1] Push the value of a scalar event, resolved as go-yaml does;
 * returns 0, or -1 with the message pushed. Sets info->is_merge_key. */
static int dec_scalar(lua_State *L, yaml_event_t *ev, struct dinfo *info)
{
  const char *v = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  const char *want = NULL; /* the tag's kind name, "str", "int", ... */
  struct resolved r;
  enum rkind k;
  char b1[64], b2[64];

  info->is_merge_key = 0;
  info->uint_key = NULL;
  if(!tag || !*tag) {
    if(!ev->data.scalar.plain_implicit) {
      lua_pushlstring(L, v, n); /* quoted or block: always a string */
      return 0;
    }
    if(n == 2 && v[0] == '<' && v[1] == '<') {
      info->is_merge_key = 1;
      lua_pushliteral(L, "<<");
      return 0;
    }
    /* fast path: most plain scalars are plain strings */
    if(n && !hint_of((unsigned char)v[0])) {
      lua_pushlstring(L, v, n);
      return 0;
    }
    k = resolve_scalar(v, n, 1, &r);
  } else {
    if(!strncmp(tag, TAG_PREFIX, TAG_PREFIX_LEN))
      want = tag + TAG_PREFIX_LEN;
    if(want && !strcmp(want, "merge") && n == 2 && !memcmp(v, "<<", 2)) {
      info->is_merge_key = 1;
      lua_pushliteral(L, "<<");
      return 0;
    }
    if(want && !strcmp(want, "binary")) {
      if(!b64_decode_push(L, v, n))
        return dec_fail(L, ev->start_mark,
                        "!!binary value contains invalid base64 data");
      return 0;
    }
    if(!want || (strcmp(want, "str") && strcmp(want, "bool") &&
                 strcmp(want, "int") && strcmp(want, "float") &&
                 strcmp(want, "null") && strcmp(want, "timestamp"))) {
      lua_pushlstring(L, v, n); /* unresolvable tag: the text */
      return 0;
    }
    if(!strcmp(want, "str")) {
      lua_pushlstring(L, v, n);
      return 0;
    }
    k = resolve_scalar(v, n, !strcmp(want, "timestamp"), &r);
    if(strcmp(rkind_tag[k], want)) {
      if(!strcmp(want, "float") && k == R_INT) {
        r.f = (double)r.i;
        k = R_FLOAT;
      } else {
        char t1[80];

        snprintf(t1, sizeof(t1), "%s%s", TAG_PREFIX, rkind_tag[k]);
        return dec_fail(L, ev->start_mark, "cannot decode %s `%s` as a %s",
                        short_tag(t1, b1, sizeof(b1)), v,
                        short_tag(tag, b2, sizeof(b2)));
      }
    }
  }
  switch(k) {
  case R_NULL:
    lua_pushlightuserdata(L, NULL);
    break;
  case R_BOOL:
    lua_pushboolean(L, r.b);
    break;
  case R_INT:
    lua_pushinteger(L, r.i);
    break;
  case R_FLOAT:
    lua_pushnumber(L, r.f);
    break;
  case R_UINT: /* the nearest double; as a key it is an error */
    info->uint_key = ev->data.scalar.value;
    lua_pushnumber(L, r.f);
    break;
  default: /* strings and timestamps (go-yaml hands over the text) */
    lua_pushlstring(L, v, n);
  }
  return 0;
}

/* [-0, +0] Store the value on top as anchors[name] (the anchors table is
 * at index anchors); the value stays on top. */
static void dec_set_anchor(lua_State *L, int anchors, const char *name)
{
  lua_pushvalue(L, -1);
  lua_setfield(L, anchors, name);
}

/* Parse the whole stream; every non-empty, non-null document is appended to
 * the array at index out. [-0, +0] on success (returns the number of
 * documents kept), [-0, +1] with the message on failure (returns -1). */
static int dec_stream(lua_State *L, struct kl_yaml_dec *d, int anchors, int out)
{
  int ndocs = 0, done = 0, base = lua_gettop(L);
  lua_Integer nout = 0;

  while(!done) {
    yaml_event_t *ev = &d->event;
    struct dinfo info = {0};
    int rc = 0;

    if(!yaml_parser_parse(&d->parser, ev))
      return dec_parser_fail(L, d);
    d->event_live = 1;
    info.mark = ev->start_mark;
    switch(ev->type) {
    case YAML_STREAM_END_EVENT:
      done = 1;
      break;
    case YAML_DOCUMENT_START_EVENT:
      lua_newtable(L);
      lua_replace(L, anchors);
      d->decode_count = d->alias_count = 0;
      break;
    case YAML_DOCUMENT_END_EVENT:
      if(lua_gettop(L) > base) {
        if(is_null(L, -1))
          lua_pop(L, 1);
        else {
          ndocs++;
          lua_rawseti(L, out, ++nout);
        }
      }
      lua_settop(L, base);
      break;
    case YAML_ALIAS_EVENT: {
      const char *name = (const char *)ev->data.alias.anchor;

      d->decode_count++;
      if(lua_getfield(L, anchors, name) == LUA_TNIL) {
        lua_pop(L, 1);
        rc =
            dec_fail(L, ev->start_mark, "unknown anchor '%s' referenced", name);
        break;
      }
      if(lua_touserdata(L, -1) == &anchor_open) { /* still open */
        lua_pop(L, 1);
        rc = dec_fail(L, ev->start_mark, "anchor '%s' value contains itself",
                      name);
        break;
      }
      rc = dec_copy(L, d, -1, ev->start_mark);
      if(rc < 0) {
        lua_remove(L, -2);
        break;
      }
      lua_remove(L, -2);
      info.from_alias = 1;
      rc = dec_deliver(L, d, &info);
      break;
    }
    case YAML_SCALAR_EVENT:
      d->decode_count++;
      luaL_checkstack(L, 4, "yaml: nesting too deep");
      rc = dec_scalar(L, ev, &info);
      if(rc < 0)
        break;
      if(ev->data.scalar.anchor)
        dec_set_anchor(L, anchors, (const char *)ev->data.scalar.anchor);
      rc = dec_deliver(L, d, &info);
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      struct frame *f;
      const char *anchor = (const char *)(ev->type == YAML_SEQUENCE_START_EVENT
                                              ? ev->data.sequence_start.anchor
                                              : ev->data.mapping_start.anchor);

      d->decode_count++;
      if(d->nframes >= KL_YAML_MAX_DEPTH) {
        rc = dec_fail(L, ev->start_mark, "exceeded max depth of %d",
                      KL_YAML_MAX_DEPTH);
        break;
      }
      if(d->nframes == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct frame *nf = realloc(d->frames, cap * sizeof(*nf));

        if(!nf) {
          rc = dec_fail(L, ev->start_mark, "out of memory");
          break;
        }
        d->frames = nf;
        d->cap = cap;
      }
      luaL_checkstack(L, 8, "yaml: nesting too deep");
      f = &d->frames[d->nframes++];
      memset(f, 0, sizeof(*f));
      f->start = ev->start_mark;
      if(ev->type == YAML_SEQUENCE_START_EVENT) {
        f->kind = 0;
        lua_newtable(L);
        set_array_mt(L, -1);
      } else {
        f->kind = 1;
        lua_newtable(L);
      }
      f->tidx = lua_gettop(L);
      if(anchor) {
        lua_pushstring(L, anchor);
        /* open: an alias to it now would be a cycle */
        lua_pushlightuserdata(L, &anchor_open);
        lua_setfield(L, anchors, anchor);
      } else
        lua_pushnil(L);
      lua_pushnil(L); /* merge side table, made on first merge */
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
      struct frame *f = &d->frames[d->nframes - 1];
      int t = f->tidx;

      info.mark = f->start;
      if(!lua_isnil(L, t + 1)) {
        lua_pushvalue(L, t);
        lua_setfield(L, anchors, lua_tostring(L, t + 1));
      }
      lua_settop(L, t);
      d->nframes--;
      rc = dec_deliver(L, d, &info);
      break;
    }
    default:
      break;
    }
    yaml_event_delete(ev);
    d->event_live = 0;
    if(rc < 0)
      return -1;
  }
  return ndocs;
}

/* [-0, +2] Set up a decoder on the string at index 1 (options at index 2:
 * {strict = true}) and parse it all: leaves the array of documents on top
 * (returns the count), or the message on top (returns -1). */
static int dec_run(lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  struct kl_yaml_dec *d;
  int rc, strict = 0;

  if(!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "strict");
    strict = lua_toboolean(L, -1);
  }
  lua_settop(L, 1);
  d = lua_newuserdatauv(L, sizeof(*d), 0);
  memset(d, 0, sizeof(*d));
  luaL_setmetatable(L, DEC_MT);
  d->strict = strict;
  d->text = text;
  d->len = len;
  if(!yaml_parser_initialize(&d->parser))
    return luaL_error(L, "yaml: cannot initialize the parser");
  d->parser_live = 1;
  yaml_parser_set_input_string(&d->parser, (const unsigned char *)text, len);
  lua_newtable(L); /* 3: anchors */
  lua_newtable(L); /* 4: documents */
  set_array_mt(L, 4);
  rc = dec_stream(L, d, 3, 4);
  dec_release(d);
  if(rc < 0) {
    lua_replace(L, 4);
    lua_settop(L, 4);
  }
  return rc;
}

/* yaml.decode(text [, {strict = true}]) -> value | nil, err */
static int l_decode(lua_State *L)
{
  int n = dec_run(L);

  if(n < 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if(n == 0) {
    lua_pushlightuserdata(L, NULL);
    return 1;
  }
  if(n > 1) {
    lua_pushnil(L);
    lua_pushfstring(L,
                    "yaml: expected a single document, found %d; "
                    "use decode_all",
                    n);
    return 2;
  }
  lua_rawgeti(L, -1, 1);
  return 1;
}

/* yaml.decode_all(text [, {strict = true}]) -> array of documents | nil, err */
static int l_decode_all(lua_State *L)
{
  if(dec_run(L) < 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

/* ---- encoder ------------------------------------------------------------ */

struct kl_yaml_enc {
  yaml_emitter_t emitter;
  int live;
  char *buf;
  size_t len;
  size_t cap;
  int depth;
  int visiting; /* stack index of the set of tables on the current path */
};

static void enc_release(struct kl_yaml_enc *e)
{
  if(e->live) {
    yaml_emitter_delete(&e->emitter);
    e->live = 0;
  }
  free(e->buf);
  e->buf = NULL;
  e->len = e->cap = 0;
}

static int enc_gc(lua_State *L)
{
  enc_release(luaL_checkudata(L, 1, ENC_MT));
  return 0;
}

static int enc_write(void *data, unsigned char *buffer, size_t size)
{
  struct kl_yaml_enc *e = data;

  if(e->len + size > e->cap) {
    size_t cap = e->cap ? e->cap : 4096;
    char *nb;

    while(cap < e->len + size)
      cap *= 2;
    nb = realloc(e->buf, cap);
    if(!nb)
      return 0;
    e->buf = nb;
    e->cap = cap;
  }
  memcpy(e->buf + e->len, buffer, size);
  e->len += size;
  return 1;
}

/* [-0, +0] Emit one event (ok: its initialization succeeded); raises with
 * libyaml's problem on failure. */
static void
enc_emit(lua_State *L, struct kl_yaml_enc *e, yaml_event_t *ev, int ok)
{
  if(!ok)
    luaL_error(L, "yaml.encode: out of memory");
  if(!yaml_emitter_emit(&e->emitter, ev))
    luaL_error(L, "yaml.encode: %s",
               e->emitter.problem ? e->emitter.problem : "emitter error");
}

/* [-0, +0] Emit a scalar: untagged ones are implicit (plain or quoted). */
static void enc_scalar(lua_State *L,
                       struct kl_yaml_enc *e,
                       const char *tag,
                       const char *s,
                       size_t n,
                       yaml_scalar_style_t style)
{
  yaml_event_t ev;
  int ok = yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)tag,
                                        (const yaml_char_t *)s, (int)n, !tag,
                                        !tag, style);

  enc_emit(L, e, &ev, ok);
}

static int utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;

  while(i < n) {
    unsigned c = s[i];
    size_t k, len;
    uint32_t cp;

    if(c < 0x80) {
      i++;
      continue;
    }
    if((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else
      return 0;
    if(i + len > n)
      return 0;
    for(k = 1; k < len; k++) {
      if((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
       (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
       (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += len;
  }
  return 1;
}

/* go-yaml's isBase60Float: ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
 */
static int is_base60_float(const char *s, size_t n)
{
  const char *p = s, *e = s + n;
  int groups = 0;

  if(!n || !memchr(s, ':', n))
    return 0;
  if(*p == '+' || *p == '-')
    p++;
  if(p >= e || !is_digit(*p))
    return 0;
  while(p < e && (is_digit(*p) || *p == '_'))
    p++;
  while(p < e && *p == ':') {
    p++;
    if(p < e && *p >= '0' && *p <= '5' && p + 1 < e && is_digit(p[1]))
      p += 2;
    else if(p < e && is_digit(*p))
      p++;
    else
      return 0;
    groups++;
  }
  if(!groups)
    return 0;
  if(p < e && *p == '.') {
    p++;
    while(p < e && (is_digit(*p) || *p == '_'))
      p++;
  }
  return p == e;
}

/* Would this plain text read back as something other than the string? */
static int needs_quotes(const char *s, size_t n)
{
  struct resolved r;

  if(n && !hint_of((unsigned char)s[0]))
    return n == 2 && s[0] == '<' && s[1] == '<';
  return resolve_scalar(s, n, 1, &r) != R_STR || is_base60_float(s, n);
}

/* [-0, +0] Emit a string the way go-yaml's stringv does. */
static void
enc_string(lua_State *L, struct kl_yaml_enc *e, const char *s, size_t n)
{
  if(!utf8_valid((const unsigned char *)s, n)) {
    /* go-yaml: !!binary, base64 in lines of 70 */
    luaL_Buffer b;
    size_t i, col = 0, enc_len = (n + 2) / 3 * 4;
    int multi = enc_len > 70;

    luaL_buffinit(L, &b);
    for(i = 0; i < n; i += 3) {
      unsigned w = (unsigned char)s[i] << 16;
      char q[4];
      int k;

      if(i + 1 < n)
        w |= (unsigned char)s[i + 1] << 8;
      if(i + 2 < n)
        w |= (unsigned char)s[i + 2];
      q[0] = b64_alphabet[w >> 18 & 63];
      q[1] = b64_alphabet[w >> 12 & 63];
      q[2] = i + 1 < n ? b64_alphabet[w >> 6 & 63] : '=';
      q[3] = i + 2 < n ? b64_alphabet[w & 63] : '=';
      for(k = 0; k < 4; k++) {
        luaL_addchar(&b, q[k]);
        if(++col == 70) {
          if(multi)
            luaL_addchar(&b, '\n');
          col = 0;
        }
      }
    }
    if(multi && col)
      luaL_addchar(&b, '\n');
    luaL_pushresult(&b);
    {
      size_t bl;
      const char *bs = lua_tolstring(L, -1, &bl);

      enc_scalar(L, e, TAG_PREFIX "binary", bs, bl,
                 multi ? YAML_LITERAL_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
    }
    lua_pop(L, 1);
    return;
  }
  if(memchr(s, '\n', n))
    enc_scalar(L, e, NULL, s, n, YAML_LITERAL_SCALAR_STYLE);
  else if(needs_quotes(s, n))
    enc_scalar(L, e, NULL, s, n, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
  else
    enc_scalar(L, e, NULL, s, n, YAML_PLAIN_SCALAR_STYLE);
}

/* ---- go-yaml v2's key order (sorter.go keyList.Less on strings) -------- */

/* Next code point of s[*i..n) as Go's []rune conversion reads it (invalid
 * bytes are U+FFFD). */
static uint32_t next_rune(const unsigned char *s, size_t n, size_t *i)
{
  unsigned c = s[*i];
  size_t len, k;
  uint32_t cp;

  if(c < 0x80) {
    (*i)++;
    return c;
  }
  if((c & 0xe0) == 0xc0) {
    len = 2;
    cp = c & 0x1f;
  } else if((c & 0xf0) == 0xe0) {
    len = 3;
    cp = c & 0x0f;
  } else if((c & 0xf8) == 0xf0) {
    len = 4;
    cp = c & 0x07;
  } else {
    (*i)++;
    return 0xfffd;
  }
  if(*i + len > n) {
    (*i)++;
    return 0xfffd;
  }
  for(k = 1; k < len; k++) {
    if((s[*i + k] & 0xc0) != 0x80) {
      (*i)++;
      return 0xfffd;
    }
    cp = cp << 6 | (s[*i + k] & 0x3f);
  }
  *i += len;
  return cp;
}

/* unicode.IsLetter: exact for ASCII and Latin-1; beyond that, every code
 * point outside the common punctuation, symbol, mark, emoji and private-use
 * blocks counts as a letter (an approximation: Kubernetes keys are ASCII). */
static int rune_is_letter(uint32_t c)
{
  if(c < 0x80)
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  if(c < 0xc0)
    return c == 0xaa || c == 0xb5 || c == 0xba;
  if(c == 0xd7 || c == 0xf7)
    return 0;
  if(c >= 0x300 && c <= 0x36f)
    return 0;
  if(c >= 0x2000 && c <= 0x2bff)
    return 0;
  if(c >= 0x3000 && c <= 0x303f)
    return 0;
  if(c >= 0xe000 && c <= 0xf8ff)
    return 0;
  if((c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff20) ||
     c >= 0xfff0)
    return c > 0xffff && !(c >= 0x1f000 && c <= 0x1faff) && c < 0xf0000;
  return 1;
}

static int rune_is_digit(uint32_t c)
{
  return c >= '0' && c <= '9';
}

#define MAX_RUNES_ON_STACK 256

/* Go's keyList.Less for two string keys. */
static int go_key_less(const char *a, size_t an_, const char *b, size_t bn_)
{
  uint32_t abuf[MAX_RUNES_ON_STACK], bbuf[MAX_RUNES_ON_STACK];
  uint32_t *ar = abuf, *br = bbuf;
  size_t na = 0, nb = 0, i, pos;
  int result;

  if(an_ > MAX_RUNES_ON_STACK)
    ar = malloc(an_ * sizeof(*ar));
  if(bn_ > MAX_RUNES_ON_STACK)
    br = malloc(bn_ * sizeof(*br));
  if(!ar || !br) {
    /* no memory: fall back to bytewise order */
    size_t m = an_ < bn_ ? an_ : bn_;
    int c = memcmp(a, b, m);

    if(ar != abuf)
      free(ar);
    if(br != bbuf)
      free(br);
    return c ? c < 0 : an_ < bn_;
  }
  for(pos = 0; pos < an_;)
    ar[na++] = next_rune((const unsigned char *)a, an_, &pos);
  for(pos = 0; pos < bn_;)
    br[nb++] = next_rune((const unsigned char *)b, bn_, &pos);
  result = na < nb;
  for(i = 0; i < na && i < nb; i++) {
    int al, bl;
    size_t ai, bi;
    int64_t anum = 0, bnum = 0;

    if(ar[i] == br[i])
      continue;
    al = rune_is_letter(ar[i]);
    bl = rune_is_letter(br[i]);
    if(al && bl) {
      result = ar[i] < br[i];
      break;
    }
    if(al || bl) {
      result = bl;
      break;
    }
    if(ar[i] == '0' || br[i] == '0') {
      size_t j;

      for(j = i; j-- > 0 && rune_is_digit(ar[j]);) {
        if(ar[j] != '0') {
          anum = 1;
          bnum = 1;
          break;
        }
      }
    }
    for(ai = i; ai < na && rune_is_digit(ar[ai]); ai++)
      anum = (int64_t)((uint64_t)anum * 10 + (ar[ai] - '0'));
    for(bi = i; bi < nb && rune_is_digit(br[bi]); bi++)
      bnum = (int64_t)((uint64_t)bnum * 10 + (br[bi] - '0'));
    if(anum != bnum)
      result = anum < bnum;
    else if(ai != bi)
      result = ai < bi;
    else
      result = ar[i] < br[i];
    break;
  }
  if(ar != abuf)
    free(ar);
  if(br != bbuf)
    free(br);
  return result;
}

struct kentry {
  const char *s;
  size_t n;
  int idx; /* position in the keys/values scratch tables */
};

static int kentry_bytes_cmp(const void *pa, const void *pb)
{
  const struct kentry *a = pa, *b = pb;
  size_t m = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->s, b->s, m);

  if(c)
    return c;
  return a->n < b->n ? -1 : a->n > b->n;
}

static int kentry_cmp(const void *pa, const void *pb)
{
  const struct kentry *a = pa, *b = pb;

  if(go_key_less(a->s, a->n, b->s, b->n))
    return -1;
  if(go_key_less(b->s, b->n, a->s, a->n))
    return 1;
  return 0;
}

static void enc_value(lua_State *L, struct kl_yaml_enc *e, int idx);

/* [-0, +0] Is the table at idx (no array/object marker) a sequence 1..n,
 * n >= 1? */
static int plain_table_is_seq(lua_State *L, int idx)
{
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;

  if(n == 0)
    return 0;
  lua_pushnil(L);
  while(lua_next(L, idx)) {
    lua_pop(L, 1);
    if(!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
       lua_tointeger(L, -1) > n) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  return count == n;
}

/* [-0, +0] Emit the table at idx as a block sequence of its 1..#t. */
static void enc_sequence(lua_State *L, struct kl_yaml_enc *e, int idx)
{
  yaml_event_t ev;
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);

  enc_emit(L, e, &ev,
           yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                YAML_BLOCK_SEQUENCE_STYLE));
  for(i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    enc_value(L, e, lua_gettop(L));
    lua_pop(L, 1);
  }
  enc_emit(L, e, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* [-0, +0] Emit the table at idx as a block mapping, keys (strings, or
 * numbers printed as strings) in go-yaml's order. */
static void enc_mapping(lua_State *L, struct kl_yaml_enc *e, int idx)
{
  yaml_event_t ev;
  struct kentry *ents;
  int keys, vals, n = 0, i;

  lua_newtable(L);
  keys = lua_gettop(L);
  lua_newtable(L);
  vals = lua_gettop(L);
  lua_pushnil(L);
  while(lua_next(L, idx)) {
    /* stack: keys, vals, key, value */
    n++;
    lua_rawseti(L, vals, n);
    switch(lua_type(L, -1)) {
    case LUA_TSTRING:
      lua_pushvalue(L, -1);
      break;
    case LUA_TNUMBER:
      if(lua_isinteger(L, -1))
        lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, -1));
      else {
        char buf[64];

        format_go_g(lua_tonumber(L, -1), 0, buf);
        lua_pushstring(L, buf);
      }
      break;
    default:
      luaL_error(L, "yaml.encode: cannot encode a table key of type %s",
                 luaL_typename(L, -1));
    }
    lua_rawseti(L, keys, n);
  }
  ents = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(*ents), 0);
  for(i = 0; i < n; i++) {
    lua_rawgeti(L, keys, i + 1);
    ents[i].s = lua_tolstring(L, -1, &ents[i].n); /* kept alive by keys */
    ents[i].idx = i + 1;
    lua_pop(L, 1);
  }
  /* go-yaml's order is not a total order for every set of keys (digits
   * against punctuation), so its result depends on the order the keys come
   * in; sorting bytewise first makes ours deterministic. */
  qsort(ents, (size_t)n, sizeof(*ents), kentry_bytes_cmp);
  qsort(ents, (size_t)n, sizeof(*ents), kentry_cmp);
  for(i = 1; i < n; i++)
    if(ents[i].n == ents[i - 1].n &&
       !memcmp(ents[i].s, ents[i - 1].s, ents[i].n))
      luaL_error(L,
                 "yaml.encode: duplicate key \"%s\" (a number and a "
                 "string key print the same)",
                 ents[i].s);
  enc_emit(L, e, &ev,
           yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                               YAML_BLOCK_MAPPING_STYLE));
  for(i = 0; i < n; i++) {
    enc_string(L, e, ents[i].s, ents[i].n);
    lua_rawgeti(L, vals, ents[i].idx);
    enc_value(L, e, lua_gettop(L));
    lua_pop(L, 1);
  }
  enc_emit(L, e, &ev, yaml_mapping_end_event_initialize(&ev));
  lua_settop(L, keys - 1);
}

/* [-0, +0] Emit the value at idx; raises on what YAML cannot hold. */
static void enc_value(lua_State *L, struct kl_yaml_enc *e, int idx)
{
  char buf[64];
  int len;

  switch(lua_type(L, idx)) {
  case LUA_TNIL:
    enc_scalar(L, e, NULL, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    return;
  case LUA_TBOOLEAN:
    if(lua_toboolean(L, idx))
      enc_scalar(L, e, NULL, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    else
      enc_scalar(L, e, NULL, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    return;
  case LUA_TNUMBER:
    if(lua_isinteger(L, idx)) {
      len = snprintf(buf, sizeof(buf), LUA_INTEGER_FMT,
                     (LUAI_UACINT)lua_tointeger(L, idx));
    } else {
      double v = lua_tonumber(L, idx);

      len = format_go_g(v, 0, buf);
      if(!strpbrk(buf, ".en")) { /* integral: keep it a float */
        memcpy(buf + len, ".0", 3);
        len += 2;
      }
    }
    enc_scalar(L, e, NULL, buf, (size_t)len, YAML_PLAIN_SCALAR_STYLE);
    return;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);

    enc_string(L, e, s, n);
    return;
  }
  case LUA_TLIGHTUSERDATA:
    if(!lua_touserdata(L, idx)) {
      enc_scalar(L, e, NULL, "null", 4, YAML_PLAIN_SCALAR_STYLE);
      return;
    }
    break;
  case LUA_TTABLE: {
    const void *p = lua_topointer(L, idx);

    if(e->depth >= KL_YAML_MAX_DEPTH)
      luaL_error(L, "yaml.encode: nesting deeper than %d", KL_YAML_MAX_DEPTH);
    luaL_checkstack(L, 8, "yaml.encode: nesting too deep");
    if(lua_rawgetp(L, e->visiting, p) != LUA_TNIL)
      luaL_error(L, "yaml.encode: cannot encode a table that contains "
                    "itself (cycle)");
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, e->visiting, p);
    e->depth++;
    if(has_mt(L, idx, ARRAY_MT))
      enc_sequence(L, e, idx);
    else if(has_mt(L, idx, OBJECT_MT) || !plain_table_is_seq(L, idx))
      enc_mapping(L, e, idx);
    else
      enc_sequence(L, e, idx);
    e->depth--;
    lua_pushnil(L);
    lua_rawsetp(L, e->visiting, p);
    return;
  }
  default:
    break;
  }
  luaL_error(L, "yaml.encode: cannot encode a value of type %s",
             luaL_typename(L, idx));
}

/* [-0, +1] Encode the values at indexes first..last as documents. */
static void enc_run(lua_State *L, int first, int last)
{
  struct kl_yaml_enc *e;
  yaml_event_t ev;
  int i, ud;

  e = lua_newuserdatauv(L, sizeof(*e), 0);
  memset(e, 0, sizeof(*e));
  luaL_setmetatable(L, ENC_MT);
  ud = lua_gettop(L);
  lua_newtable(L);
  e->visiting = lua_gettop(L);
  if(!yaml_emitter_initialize(&e->emitter))
    luaL_error(L, "yaml.encode: cannot initialize the emitter");
  e->live = 1;
  yaml_emitter_set_output(&e->emitter, enc_write, e);
  yaml_emitter_set_unicode(&e->emitter, 1);
  enc_emit(L, e, &ev,
           yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
  for(i = first; i <= last; i++) {
    enc_emit(L, e, &ev,
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    enc_value(L, e, i);
    enc_emit(L, e, &ev, yaml_document_end_event_initialize(&ev, 1));
  }
  enc_emit(L, e, &ev, yaml_stream_end_event_initialize(&ev));
  yaml_emitter_flush(&e->emitter);
  /* libyaml ends a stream whose last document is a plain root scalar with
   * "...": go-yaml does not */
  if(e->len >= 4 && !memcmp(e->buf + e->len - 4, "...\n", 4) &&
     (e->len == 4 || e->buf[e->len - 5] == '\n'))
    e->len -= 4;
  lua_pushlstring(L, e->buf ? e->buf : "", e->len);
  enc_release(e);
  lua_replace(L, ud);
  lua_settop(L, ud);
}

/* yaml.encode(value) -> text */
static int l_encode(lua_State *L)
{
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  enc_run(L, 1, 1);
  return 1;
}

/* yaml.encode_all(list) -> text of a "---"-separated stream */
static int l_encode_all(lua_State *L)
{
  lua_Integer i, n;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  n = (lua_Integer)lua_rawlen(L, 1);
  luaL_checkstack(L, (int)(n > 100000 ? 100000 : n) + 8,
                  "yaml.encode_all: too many documents");
  if(n > 100000)
    return luaL_error(L, "yaml.encode_all: too many documents");
  for(i = 1; i <= n; i++)
    lua_rawgeti(L, 1, i);
  if(n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  enc_run(L, 2, (int)n + 1);
  return 1;
}

int luaopen_kubelua_yaml(lua_State *L)
{
  static const luaL_Reg funcs[] = {
      {"decode", l_decode}, {"decode_all", l_decode_all},
      {"encode", l_encode}, {"encode_all", l_encode_all},
      {NULL, NULL},
  };

  if(luaL_newmetatable(L, DEC_MT)) {
    lua_pushcfunction(L, dec_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if(luaL_newmetatable(L, ENC_MT)) {
    lua_pushcfunction(L, enc_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  luaL_newmetatable(L, ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  return 1;
}
