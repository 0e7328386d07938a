/* kubelua.json: an exact JSON codec (STYLE.md section 6).
 *
 * Debian's lua-cjson 2.1.0 turns [] into {}, decodes every number as a float,
 * prints 14 significant digits and escapes '/', so kubelua owns the codec:
 *
 * decode: arrays (also empty ones) get the registry metatable
 *   "kubelua.array_mt"; objects are plain tables; null is lightuserdata(NULL)
 *   (json.null, equal to cjson.null); a number without fraction or exponent
 *   that fits int64 is a Lua integer, every other number a float (strtod,
 *   correctly rounded); "-0" is the float -0.0 so that it encodes back as
 *   "-0". Strings are unescaped to bytes (\u surrogate pairs become UTF-8; a
 *   lone surrogate is rejected: the Kubernetes API server, written in Go,
 *   replaces it with U+FFFD, so nothing it sends contains one). Other bytes,
 *   including invalid UTF-8, pass through unchanged. Bad input returns
 *   nil, "json: <problem> at byte N" (N: 1-based offset of the offending
 *   byte, or length+1 at an unexpected end); nesting deeper than
 *   KL_JSON_MAX_DEPTH is an error, never a C stack overflow.
 *
 * encode: array_mt tables are arrays of their elements 1..#t (other keys
 *   are ignored, as in openresty's lua-cjson; a nil inside is an error);
 *   object_mt tables are objects (string keys, integer keys printed in
 *   decimal); other tables are {} when empty, arrays when their keys are
 *   exactly 1..n, objects when every key is a string, and an error
 *   otherwise. Object keys are sorted bytewise, as Go sorts map keys
 *   (kubectl -o json), so the output is deterministic; on the 10 MB list of
 *   tests/bench/data-bench sorting costs less than the run-to-run noise
 *   (under 5% of encode time), so it is always on. An object's pairs are
 *   held on the Lua stack while it is written, which limits one object to
 *   about 450,000 keys (an error beyond). Integers print exactly; floats
 *   print the shortest digits that read back to the same double, laid out
 *   as Go's encoding/json does (1000, 0.1, 1e+21, 1e-7), except that an
 *   integral float from 2^53 to 2^63 prints its exact digits, which decode
 *   reads back as an equal integer (Go's zero padding would change the
 *   value: 184488547758052448.0 is not 184488547758052450). '/' is not escaped;
 *   '"', '\\' and control characters are; other bytes pass through.
 *   Unencodable values raise an error naming the path, e.g.
 *   "$.spec.ports[2].x" (array indexes 1-based, as in Lua).
 *
 * Owning the codec costs nothing: on the 10 MB list of tests/bench/data-bench
 * this decoder runs about 1.5x as fast as lua-cjson's (which is lossy) and
 * the encoder about as fast (0.85x-1.2x of cjson's time, run to run), so
 * cjson is not used here; `require "cjson"` stays available to scripts
 * (kl_state.c preloads it). */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) && !defined(KL_JSON_NO_SIMD)
#define KL_JSON_SSE2 1
#include <emmintrin.h>
#endif

#include <lauxlib.h>
#include <lua.h>

#include "kl_json.h"

#define ENC_MEM_MT "kubelua.json.buffer"
/* A cached encode buffer larger than this is freed after use; smaller ones
 * are kept, as lua-cjson keeps its buffer (encode_keep_buffer): touching
 * fresh pages costs an encode of the 10 MB benchmark list about 20%. */
#define ENC_KEEP_BYTES (64u << 20)

/* ---- shared helpers ---------------------------------------------------- */

void kl_push_null(lua_State *L)
{
  lua_pushlightuserdata(L, NULL);
}

/* [-0, +1] Push the registry metatable name, creating it on first use. */
static void push_mt(lua_State *L, const char *name)
{
  luaL_newmetatable(L, name);
}

/* [-0, +0] Does the table at idx have the registry metatable name? */
static int has_mt(lua_State *L, int idx, const char *name)
{
  int r;

  if(lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
    return 0;
  luaL_getmetatable(L, name);
  r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

int kl_is_array(lua_State *L, int idx)
{
  return has_mt(L, idx, KL_ARRAY_MT);
}

void kl_set_array_mt(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  push_mt(L, KL_ARRAY_MT);
  lua_setmetatable(L, idx);
}

/* ---- decoder ----------------------------------------------------------- */

struct decoder {
  lua_State *L;
  const char *start, *p, *end;
  int depth;
  int scratch_idx;  /* stack slot of the unescape buffer (userdata or nil) */
  int array_mt_idx; /* stack slot of kubelua.array_mt */
  char *scratch;
  size_t scratch_cap;
  const char *err; /* problem, when a step returned -1 */
  const char *err_at;
};

/* clang-format off */
/* JSON whitespace. */
static const unsigned char is_ws[256] = {
  [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

/* Bytes that end the fast scan of a string: '"', '\\', control chars. */
static const unsigned char str_stop[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  ['"'] = 1, ['\\'] = 1};
/* clang-format on */

/* The first byte in [p, end) that a JSON string cannot hold as it is: '"',
 * '\\' or a control character (below 0x20); end if none. Strings are most
 * of a Kubernetes document (base64 data, annotations), so this scans 16
 * bytes at a time with SSE2 (every x86-64 has it), else 8 at a time in a
 * word (SWAR); a block that may hold such a byte is scanned bytewise. */
static const char *scan_plain(const char *p, const char *end)
{
#ifdef KL_JSON_SSE2
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
  const __m128i ctl = _mm_set1_epi8(0x1f);

  while(end - p >= 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
        _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x)); /* x <= 0x1f, unsigned */
    int mask = _mm_movemask_epi8(hit);
    if(mask)
      return p + __builtin_ctz((unsigned)mask);
    p += 16;
  }
#else
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;

  while(end - p >= 8) {
    uint64_t x, lt, quote, bslash;
    memcpy(&x, p, 8);
    lt = (x - ones * 0x20) & ~x & highs;
    quote = x ^ (ones * '"');
    quote = (quote - ones) & ~quote & highs;
    bslash = x ^ (ones * '\\');
    bslash = (bslash - ones) & ~bslash & highs;
    if(lt | quote | bslash)
      break;
    p += 8;
  }
#endif
  while(p < end && !str_stop[(unsigned char)*p])
    p++;
  return p;
}

static int dec_fail(struct decoder *d, const char *problem, const char *at)
{
  d->err = problem;
  d->err_at = at;
  return -1;
}

static void dec_skip_ws(struct decoder *d)
{
  const char *p = d->p;

  while(p < d->end && is_ws[(unsigned char)*p])
    p++;
  d->p = p;
}

static int dec_value(struct decoder *d);

/* [-0, +0] Make the scratch buffer hold at least n bytes; a bigger userdata
 * replaces the old one in its stack slot, so nothing leaks on an error. */
static void dec_scratch(struct decoder *d, size_t n)
{
  size_t cap;

  if(n <= d->scratch_cap)
    return;
  cap = d->scratch_cap * 2;
  if(cap < n)
    cap = n;
  if(cap < 256)
    cap = 256;
  d->scratch = lua_newuserdatauv(d->L, cap, 0);
  d->scratch_cap = cap;
  lua_replace(d->L, d->scratch_idx);
}

static int hex4(const char *p, unsigned *out)
{
  unsigned v = 0;
  int i;

  for(i = 0; i < 4; i++) {
    unsigned char c = (unsigned char)p[i];
    v <<= 4;
    if(c >= '0' && c <= '9')
      v |= c - '0';
    else if(c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if(c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  *out = v;
  return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
  if(cp < 0x80) {
    *o++ = (char)cp;
  } else if(cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if(cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/* [-0, +1] A string at d->p (the opening quote). The common case, no
 * escapes, pushes straight from the input. */
static int dec_string(struct decoder *d)
{
  const char *open = d->p, *end = d->end;
  const char *s = open + 1, *q = s, *r;
  char *o;

  q = scan_plain(q, end);
  if(q >= end)
    return dec_fail(d, "unterminated string", open);
  if(*q == '"') {
    lua_pushlstring(d->L, s, (size_t)(q - s));
    d->p = q + 1;
    return 0;
  }
  /* Escapes or a control character: find the closing quote, then unescape
   * into the scratch buffer (the output is never longer than the input). */
  r = q;
  while(r < end && *r != '"') {
    if(*r == '\\') {
      if(end - r < 2)
        return dec_fail(d, "unterminated string", open);
      r += 2;
    } else {
      r++;
    }
  }
  if(r >= end)
    return dec_fail(d, "unterminated string", open);
  dec_scratch(d, (size_t)(r - s));
  memcpy(d->scratch, s, (size_t)(q - s));
  o = d->scratch + (q - s);
  while(q < r) {
    unsigned char c = (unsigned char)*q;
    if(c == '\\') {
      unsigned cp, lo;
      switch(q[1]) {
      case '"':
        *o++ = '"';
        break;
      case '\\':
        *o++ = '\\';
        break;
      case '/':
        *o++ = '/';
        break;
      case 'b':
        *o++ = '\b';
        break;
      case 'f':
        *o++ = '\f';
        break;
      case 'n':
        *o++ = '\n';
        break;
      case 'r':
        *o++ = '\r';
        break;
      case 't':
        *o++ = '\t';
        break;
      case 'u':
        if(r - q < 6 || hex4(q + 2, &cp))
          return dec_fail(d, "invalid \\u escape", q);
        if(cp >= 0xDC00 && cp <= 0xDFFF)
          return dec_fail(d, "lone surrogate in \\u escape", q);
        if(cp >= 0xD800 && cp <= 0xDBFF) {
          if(r - q < 12 || q[6] != '\\' || q[7] != 'u')
            return dec_fail(d, "lone surrogate in \\u escape", q);
          if(hex4(q + 8, &lo))
            return dec_fail(d, "invalid \\u escape", q + 6);
          if(lo < 0xDC00 || lo > 0xDFFF)
            return dec_fail(d, "lone surrogate in \\u escape", q);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          q += 6;
        }
        o = put_utf8(o, cp);
        q += 4;
        break;
      default:
        return dec_fail(d, "invalid escape", q);
      }
      q += 2;
    } else if(c < 0x20) {
      return dec_fail(d, "control character in string", q);
    } else {
      const char *run = q;
      q = scan_plain(q, r);
      memcpy(o, run, (size_t)(q - run));
      o += q - run;
    }
  }
  lua_pushlstring(d->L, d->scratch, (size_t)(o - d->scratch));
  d->p = r + 1;
  return 0;
}

#define IS_DIGIT(c) ((unsigned char)((c) - '0') < 10)

/* [-0, +1] A number at d->p. */
static int dec_number(struct decoder *d)
{
  const char *start = d->p, *p = d->p, *end = d->end;
  uint64_t u = 0;
  int neg = 0, isint = 1, overflow = 0;
  char tmp[64], *buf, *ep;
  size_t len;
  double x;

  if(*p == '-') {
    neg = 1;
    p++;
  }
  if(p >= end || !IS_DIGIT(*p))
    return dec_fail(d, "invalid number", start);
  if(*p == '0') {
    p++;
    if(p < end && IS_DIGIT(*p))
      return dec_fail(d, "invalid number (leading zero)", start);
  } else {
    while(p < end && IS_DIGIT(*p)) {
      unsigned dgt = (unsigned)(*p - '0');
      /* u * 10 + dgt <= UINT64_MAX (18446744073709551615)? */
      if(u > 1844674407370955161u || (u == 1844674407370955161u && dgt > 5))
        overflow = 1;
      else
        u = u * 10 + dgt;
      p++;
    }
  }
  if(p < end && *p == '.') {
    isint = 0;
    p++;
    if(p >= end || !IS_DIGIT(*p))
      return dec_fail(d, "invalid number", start);
    while(p < end && IS_DIGIT(*p))
      p++;
  }
  if(p < end && (*p == 'e' || *p == 'E')) {
    isint = 0;
    p++;
    if(p < end && (*p == '+' || *p == '-'))
      p++;
    if(p >= end || !IS_DIGIT(*p))
      return dec_fail(d, "invalid number", start);
    while(p < end && IS_DIGIT(*p))
      p++;
  }
  d->p = p;
  if(isint && !overflow) {
    if(!neg && u <= (uint64_t)INT64_MAX) {
      lua_pushinteger(d->L, (lua_Integer)u);
      return 0;
    }
    if(neg && u == 0) { /* "-0": keep the sign, as a float */
      lua_pushnumber(d->L, -0.0);
      return 0;
    }
    if(neg && u <= (uint64_t)INT64_MAX) {
      lua_pushinteger(d->L, -(lua_Integer)u);
      return 0;
    }
    if(neg && u == (uint64_t)INT64_MAX + 1) {
      lua_pushinteger(d->L, LUA_MININTEGER);
      return 0;
    }
  }
  /* A float, or an integer beyond int64: strtod on a NUL-terminated copy. */
  len = (size_t)(p - start);
  if(len < sizeof(tmp)) {
    buf = tmp;
  } else {
    dec_scratch(d, len + 1);
    buf = d->scratch;
  }
  memcpy(buf, start, len);
  buf[len] = '\0';
  x = strtod(buf, &ep);
  if(ep != buf + len) {
    /* A locale whose decimal point is not '.' (os.setlocale). */
    const char *dp = localeconv()->decimal_point;
    char *dot = memchr(buf, '.', len);
    if(dot && dp && dp[0] && !dp[1])
      *dot = dp[0];
    x = strtod(buf, &ep);
    if(ep != buf + len)
      return dec_fail(d, "invalid number", start);
  }
  if(isinf(x))
    return dec_fail(d, "number out of range", start);
  lua_pushnumber(d->L, x);
  return 0;
}

/* [-0, +1] An object at d->p (the '{'). */
static int dec_object(struct decoder *d)
{
  lua_State *L = d->L;
  int first = 1;

  if(++d->depth > KL_JSON_MAX_DEPTH)
    return dec_fail(d, "nesting deeper than 1000", d->p);
  luaL_checkstack(L, 4, "json: nesting too deep");
  lua_newtable(L);
  d->p++;
  dec_skip_ws(d);
  if(d->p < d->end && *d->p == '}') {
    d->p++;
    d->depth--;
    return 0;
  }
  for(;;) {
    if(d->p >= d->end)
      return dec_fail(d, "unexpected end of input", d->p);
    if(*d->p != '"')
      return dec_fail(
          d, first ? "expected string key or '}'" : "expected string key",
          d->p);
    first = 0;
    if(dec_string(d))
      return -1;
    dec_skip_ws(d);
    if(d->p >= d->end)
      return dec_fail(d, "unexpected end of input", d->p);
    if(*d->p != ':')
      return dec_fail(d, "expected ':'", d->p);
    d->p++;
    if(dec_value(d))
      return -1;
    lua_rawset(L, -3);
    dec_skip_ws(d);
    if(d->p >= d->end)
      return dec_fail(d, "unexpected end of input", d->p);
    if(*d->p == ',') {
      d->p++;
      dec_skip_ws(d);
      continue;
    }
    if(*d->p == '}') {
      d->p++;
      break;
    }
    return dec_fail(d, "expected ',' or '}'", d->p);
  }
  d->depth--;
  return 0;
}

/* [-0, +1] An array at d->p (the '['), marked with array_mt. */
static int dec_array(struct decoder *d)
{
  lua_State *L = d->L;
  lua_Integer i = 1;

  if(++d->depth > KL_JSON_MAX_DEPTH)
    return dec_fail(d, "nesting deeper than 1000", d->p);
  luaL_checkstack(L, 4, "json: nesting too deep");
  lua_newtable(L);
  lua_pushvalue(L, d->array_mt_idx);
  lua_setmetatable(L, -2);
  d->p++;
  dec_skip_ws(d);
  if(d->p < d->end && *d->p == ']') {
    d->p++;
    d->depth--;
    return 0;
  }
  for(;;) {
    if(dec_value(d))
      return -1;
    lua_rawseti(L, -2, i++);
    dec_skip_ws(d);
    if(d->p >= d->end)
      return dec_fail(d, "unexpected end of input", d->p);
    if(*d->p == ',') {
      d->p++;
      continue;
    }
    if(*d->p == ']') {
      d->p++;
      break;
    }
    return dec_fail(d, "expected ',' or ']'", d->p);
  }
  d->depth--;
  return 0;
}

static int dec_literal(struct decoder *d, const char *word, size_t n)
{
  if((size_t)(d->end - d->p) < n || memcmp(d->p, word, n))
    return dec_fail(d, "invalid literal", d->p);
  d->p += n;
  return 0;
}

/* [-0, +1] Any value after optional whitespace. */
static int dec_value(struct decoder *d)
{
  dec_skip_ws(d);
  if(d->p >= d->end)
    return dec_fail(d, "unexpected end of input", d->p);
  switch(*d->p) {
  case '{':
    return dec_object(d);
  case '[':
    return dec_array(d);
  case '"':
    return dec_string(d);
  case 't':
    if(dec_literal(d, "true", 4))
      return -1;
    lua_pushboolean(d->L, 1);
    return 0;
  case 'f':
    if(dec_literal(d, "false", 5))
      return -1;
    lua_pushboolean(d->L, 0);
    return 0;
  case 'n':
    if(dec_literal(d, "null", 4))
      return -1;
    lua_pushlightuserdata(d->L, NULL);
    return 0;
  case '-':
  case '0':
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9':
    return dec_number(d);
  default:
    return dec_fail(d, "expected value", d->p);
  }
}

int kl_json_decode(lua_State *L, const char *s, size_t len)
{
  struct decoder d;
  int base = lua_gettop(L);

  luaL_checkstack(L, 8, "json: out of stack");
  lua_pushnil(L); /* scratch slot */
  push_mt(L, KL_ARRAY_MT);
  d.L = L;
  d.start = d.p = s;
  d.end = s + len;
  d.depth = 0;
  d.scratch_idx = base + 1;
  d.array_mt_idx = base + 2;
  d.scratch = NULL;
  d.scratch_cap = 0;
  d.err = NULL;
  d.err_at = s;
  if(!dec_value(&d)) {
    dec_skip_ws(&d);
    if(d.p < d.end)
      dec_fail(&d, "trailing garbage", d.p);
  }
  if(d.err) {
    lua_settop(L, base);
    lua_pushnil(L);
    lua_pushfstring(L, "json: %s at byte %I", d.err,
                    (lua_Integer)(d.err_at - s + 1));
    return 2;
  }
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
  return 1;
}

/* ---- encoder ----------------------------------------------------------- */

struct keyent {
  const char *s; /* NULL: an integer key of an object_mt table */
  size_t len;
  lua_Integer ival;
  int slot; /* stack index of the key; its value is at slot + 1 */
};

/* Output buffer and key scratch, malloc'd and owned by a userdata whose
 * __gc frees them, so an error raised mid-encode leaks nothing. The encoder
 * allocates no Lua object until the output is complete, so no finalizer
 * can run (and re-enter encode on the same buffer) in between. */
struct enc_mem {
  char *buf;
  size_t len, cap;
  struct keyent *keys;
  size_t nkeys, kcap;
};

/* The path to the value being encoded, a list through the C frames of the
 * enclosing arrays and objects (for error messages). */
struct path_elem {
  const struct path_elem *up;
  const char *key; /* NULL: array index or integer key in index */
  size_t klen;
  lua_Integer index;
  int is_key;
};

struct encoder {
  lua_State *L;
  struct enc_mem *m;
  int indent;
  int depth;
  int array_mt_idx, object_mt_idx;
  const struct path_elem *path;
};

/* [-0, +0] __gc of the encode buffer: frees its malloc'd memory. */
static int enc_mem_gc(lua_State *L)
{
  struct enc_mem *m = luaL_checkudata(L, 1, ENC_MEM_MT);

  free(m->buf);
  free(m->keys);
  memset(m, 0, sizeof(*m));
  return 0;
}

/* [-0, +1] A new, empty encode buffer userdata. */
static struct enc_mem *enc_mem_new(lua_State *L)
{
  struct enc_mem *m = lua_newuserdatauv(L, sizeof(*m), 0);

  memset(m, 0, sizeof(*m));
  if(luaL_newmetatable(L, ENC_MEM_MT)) {
    lua_pushcfunction(L, enc_mem_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return m;
}

/* Append one path element: ".key", "[\"odd key\"]", "[\"5\"]" (integer key
 * of an object_mt table) or "[i]" (array index, 1-based as in Lua). */
static void
enc_path_elem(lua_State *L, luaL_Buffer *b, const struct path_elem *pe)
{
  size_t j, shown;
  int plain;

  if(!pe->key) {
    lua_pushfstring(L, pe->is_key ? "[\"%I\"]" : "[%I]", pe->index);
    luaL_addvalue(b);
    return;
  }
  shown = pe->klen > 64 ? 64 : pe->klen;
  plain = pe->klen > 0;
  for(j = 0; j < pe->klen; j++) {
    unsigned char c = (unsigned char)pe->key[j];
    if(!(c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z')))
      plain = 0;
  }
  if(plain) {
    luaL_addchar(b, '.');
    luaL_addlstring(b, pe->key, shown);
  } else {
    luaL_addstring(b, "[\"");
    for(j = 0; j < shown; j++) {
      unsigned char c = (unsigned char)pe->key[j];
      if(c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
        char hex[8];
        snprintf(hex, sizeof(hex), "\\x%02x", c);
        luaL_addstring(b, hex);
      } else {
        luaL_addchar(b, (char)c);
      }
    }
    luaL_addstring(b, "\"]");
  }
  if(shown < pe->klen)
    luaL_addstring(b, "...");
}

/* [-0, +0, v] Append "$" and the path; beyond 24 elements only the first
 * and last 12 are shown. */
static void enc_path(struct encoder *e, luaL_Buffer *b)
{
  const struct path_elem *v[KL_JSON_MAX_DEPTH + 2];
  const struct path_elem *pe;
  int n = 0, i;

  for(pe = e->path; pe && n < KL_JSON_MAX_DEPTH + 2; pe = pe->up)
    v[n++] = pe;
  luaL_addchar(b, '$');
  for(i = n - 1; i >= 0; i--) {
    if(n > 24 && i == n - 13) {
      luaL_addstring(b, "...");
      i = 11;
    }
    enc_path_elem(e->L, b, v[i]);
  }
}

/* [-0, +0, v] Raise "json: <what> at <path>". */
static int enc_error(struct encoder *e, const char *fmt, ...)
{
  lua_State *L = e->L;
  luaL_Buffer b;
  va_list ap;

  luaL_buffinit(L, &b);
  luaL_addstring(&b, "json: ");
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_addvalue(&b);
  luaL_addstring(&b, " at ");
  enc_path(e, &b);
  luaL_pushresult(&b);
  return lua_error(L);
}

static void enc_grow(struct encoder *e, size_t n)
{
  struct enc_mem *m = e->m;
  size_t cap = m->cap ? m->cap : 4096;
  char *p;

  while(cap - m->len < n) {
    if(cap > SIZE_MAX / 2)
      luaL_error(e->L, "json: output too large");
    cap *= 2;
  }
  p = realloc(m->buf, cap);
  if(!p)
    luaL_error(e->L, "json: out of memory");
  m->buf = p;
  m->cap = cap;
}

static inline void enc_need(struct encoder *e, size_t n)
{
  if(e->m->cap - e->m->len < n)
    enc_grow(e, n);
}

static inline void enc_putc(struct encoder *e, char c)
{
  enc_need(e, 1);
  e->m->buf[e->m->len++] = c;
}

static inline void enc_put(struct encoder *e, const char *s, size_t n)
{
  enc_need(e, n);
  memcpy(e->m->buf + e->m->len, s, n);
  e->m->len += n;
}

/* clang-format off */
/* The escape letter of each byte that needs one ('u': \u00XX), else 0. */
static const char esc_char[256] = {
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u',
  'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
  'u', 'u', ['"'] = '"', ['\\'] = '\\'};
/* clang-format on */

static void enc_string(struct encoder *e, const char *s, size_t n)
{
  static const char hexd[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  char *o;

  /* Invariant: room for the rest of the input plus the closing quote. */
  enc_need(e, n + 2);
  o = e->m->buf + e->m->len;
  *o++ = '"';
  while(p < end) {
    const unsigned char *run = p;
    char esc;
    p = (const unsigned char *)scan_plain((const char *)p, (const char *)end);
    memcpy(o, run, (size_t)(p - run));
    o += p - run;
    if(p == end)
      break;
    esc = esc_char[*p];
    e->m->len = (size_t)(o - e->m->buf);
    enc_need(e, 6 + (size_t)(end - p) + 1);
    o = e->m->buf + e->m->len;
    *o++ = '\\';
    *o++ = esc;
    if(esc == 'u') {
      *o++ = '0';
      *o++ = '0';
      *o++ = hexd[*p >> 4];
      *o++ = hexd[*p & 15];
    }
    p++;
  }
  *o++ = '"';
  e->m->len = (size_t)(o - e->m->buf);
}

/* Decimal digits of i into the end of tmp[24]; returns the first byte. */
static char *fmt_integer(char tmp[24], lua_Integer i)
{
  char *q = tmp + 24;
  uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;

  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while(u);
  if(i < 0)
    *--q = '-';
  return q;
}

static void enc_integer(struct encoder *e, lua_Integer i)
{
  char tmp[24], *q = fmt_integer(tmp, i);

  enc_put(e, q, (size_t)(tmp + sizeof(tmp) - q));
}

/* Format x (finite) as Go's encoding/json does: the shortest digits that
 * read back to x; plain decimal for 1e-6 <= |x| < 1e21, else exponent form
 * ("1e+21", "1.5e-7"). out needs 40 bytes. */
static size_t format_double(char *out, double x)
{
  char tmp[40], digits[24], etmp[24];
  int prec, nd = 0, exp10 = 0, i;
  char *p, *q, *o = out;

  if(x == 0) {
    if(signbit(x))
      *o++ = '-';
    *o++ = '0';
    return (size_t)(o - out);
  }
  /* An integral float from 2^53 up to 2^63 reads back as a Lua integer,
   * so its digits must be exact: Go's shortest form pads with zeros that
   * would read back as another integer (184488547758052448.0 prints as
   * "184488547758052450"). Any float reader still gets the same double. */
  if(fabs(x) >= 9007199254740992.0 && fabs(x) < 9223372036854775808.0 &&
     x == floor(x))
    return (size_t)snprintf(out, 40, "%.0f", x);
  /* A normal double with a representation of 15 digits or fewer prints as
   * that representation (plus zeros) at 15 digits; subnormals have fewer
   * significant bits, so search them from 1 digit up. */
  for(prec = fabs(x) < DBL_MIN ? 1 : 15; prec < 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
    if(strtod(tmp, NULL) == x)
      break;
  }
  if(prec == 17)
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, x);
  /* tmp: [-]d<point>ddd e[+-]XX, the point as the locale has it. */
  p = tmp;
  if(*p == '-') {
    *o++ = '-';
    p++;
  }
  for(; *p && *p != 'e'; p++)
    if(IS_DIGIT(*p) && nd < (int)sizeof(digits))
      digits[nd++] = *p;
  if(*p)
    exp10 = atoi(p + 1);
  while(nd > 1 && digits[nd - 1] == '0')
    nd--;
  if(exp10 >= -6 && exp10 < 21) {
    if(exp10 >= 0) {
      for(i = 0; i <= exp10; i++)
        *o++ = i < nd ? digits[i] : '0';
      if(nd > exp10 + 1) {
        *o++ = '.';
        for(i = exp10 + 1; i < nd; i++)
          *o++ = digits[i];
      }
    } else {
      *o++ = '0';
      *o++ = '.';
      for(i = -1; i > exp10; i--)
        *o++ = '0';
      for(i = 0; i < nd; i++)
        *o++ = digits[i];
    }
  } else {
    *o++ = digits[0];
    if(nd > 1) {
      *o++ = '.';
      for(i = 1; i < nd; i++)
        *o++ = digits[i];
    }
    *o++ = 'e';
    *o++ = exp10 < 0 ? '-' : '+';
    q = fmt_integer(etmp, exp10 < 0 ? -exp10 : exp10);
    memcpy(o, q, (size_t)(etmp + sizeof(etmp) - q));
    o += etmp + sizeof(etmp) - q;
  }
  return (size_t)(o - out);
}

static void enc_float(struct encoder *e, double x)
{
  char out[48];

  if(isnan(x))
    enc_error(e, "cannot encode NaN");
  if(isinf(x))
    enc_error(e, "cannot encode %s", x > 0 ? "inf" : "-inf");
  enc_put(e, out, format_double(out, x));
}

static void enc_newline(struct encoder *e, int level)
{
  size_t n = (size_t)e->indent * (size_t)level;

  enc_need(e, n + 1);
  e->m->buf[e->m->len++] = '\n';
  memset(e->m->buf + e->m->len, ' ', n);
  e->m->len += n;
}

static void enc_value(struct encoder *e, int idx);

/* [-0, +0, v] Array elements 1..n of the table at idx; a nil among them is
 * an error. */
static void enc_array(struct encoder *e, int idx, lua_Integer n)
{
  lua_State *L = e->L;
  struct path_elem pe = {e->path, NULL, 0, 0, 0};
  lua_Integer i;

  if(n == 0) {
    enc_put(e, "[]", 2);
    return;
  }
  enc_putc(e, '[');
  e->path = &pe;
  for(i = 1; i <= n; i++) {
    if(i > 1)
      enc_putc(e, ',');
    if(e->indent)
      enc_newline(e, e->depth);
    pe.index = i;
    if(lua_rawgeti(L, idx, i) == LUA_TNIL)
      enc_error(e, "cannot encode sparse array (nil element)");
    enc_value(e, lua_gettop(L));
    lua_pop(L, 1);
  }
  e->path = pe.up;
  if(e->indent)
    enc_newline(e, e->depth - 1);
  enc_putc(e, ']');
}

/* The bytes of a key; integer keys are formatted into tmp. */
static const char *key_bytes(const struct keyent *k, char tmp[24], size_t *len)
{
  char *q;

  if(k->s) {
    *len = k->len;
    return k->s;
  }
  q = fmt_integer(tmp, k->ival);
  *len = (size_t)(tmp + 24 - q);
  return q;
}

static int key_less(const struct keyent *a, const struct keyent *b)
{
  char ta[24], tb[24];
  size_t la, lb, n;
  const char *sa = key_bytes(a, ta, &la), *sb = key_bytes(b, tb, &lb);
  int c;

  n = la < lb ? la : lb;
  c = memcmp(sa, sb, n);
  return c < 0 || (c == 0 && la < lb);
}

static int key_cmp(const void *pa, const void *pb)
{
  const struct keyent *a = pa, *b = pb;

  return key_less(a, b) ? -1 : key_less(b, a) ? 1 : 0;
}

static void sort_keys(struct keyent *k, size_t n)
{
  size_t i, j;

  if(n > 16) {
    qsort(k, n, sizeof(*k), key_cmp);
    return;
  }
  for(i = 1; i < n; i++) {
    struct keyent t = k[i];
    for(j = i; j > 0 && key_less(&t, &k[j - 1]); j--)
      k[j] = k[j - 1];
    k[j] = t;
  }
}

static struct keyent *enc_key_push(struct encoder *e)
{
  struct enc_mem *m = e->m;

  if(m->nkeys == m->kcap) {
    size_t cap = m->kcap ? m->kcap * 2 : 64;
    struct keyent *k = realloc(m->keys, cap * sizeof(*k));
    if(!k)
      luaL_error(e->L, "json: out of memory");
    m->keys = k;
    m->kcap = cap;
  }
  return &m->keys[m->nkeys++];
}

/* [-0, +0, v] Raise the error for a key an object cannot have (key at -2). */
static void enc_bad_key(struct encoder *e, int forced)
{
  lua_State *L = e->L;

  if(lua_isinteger(L, -2)) /* forced objects take integer keys */
    enc_error(e,
              "cannot encode integer key %I in an object (a sparse "
              "array, or mixed keys? json.object() writes integer keys "
              "as strings)",
              lua_tointeger(L, -2));
  if(lua_type(L, -2) == LUA_TNUMBER)
    enc_error(e, "cannot encode float key %f in %s", lua_tonumber(L, -2),
              forced ? "an object" : "a table");
  enc_error(e, "cannot encode %s key in %s", luaL_typename(L, -2),
            forced ? "an object" : "a table");
}

/* [-0, +0, v] An object from the table at idx. Every key/value pair is kept on
 * the Lua stack (so key strings stay anchored and values need no second
 * lookup), the keys are sorted, and the values are written in key order. With
 * forced (object_mt), integer keys are written in decimal. */
static void enc_object(struct encoder *e, int idx, int forced)
{
  lua_State *L = e->L;
  int base = lua_gettop(L);
  size_t kstart = e->m->nkeys, i, n;
  struct path_elem pe = {e->path, NULL, 0, 0, 1};

  lua_pushnil(L);
  while(lua_next(L, idx)) {
    /* stack: ..., k, v */
    struct keyent *k;
    if(lua_type(L, -2) != LUA_TSTRING && !(forced && lua_isinteger(L, -2)))
      enc_bad_key(e, forced);
    if(!lua_checkstack(L, 3))
      enc_error(e, "cannot encode object with too many keys");
    k = enc_key_push(e);
    k->slot = lua_gettop(L) - 1;
    if(lua_type(L, -2) == LUA_TSTRING) {
      k->s = lua_tolstring(L, -2, &k->len);
    } else {
      k->s = NULL;
      k->ival = lua_tointeger(L, -2);
    }
    lua_pushvalue(L, -2); /* k, v, k: lua_next continues from the copy */
  }
  n = e->m->nkeys - kstart;
  if(n == 0) {
    enc_put(e, "{}", 2);
    return;
  }
  sort_keys(e->m->keys + kstart, n);
  enc_putc(e, '{');
  e->path = &pe;
  for(i = 0; i < n; i++) {
    /* re-read: nested objects may move the key array */
    const struct keyent *k = &e->m->keys[kstart + i];
    char tmp[24];
    size_t len;
    const char *s = key_bytes(k, tmp, &len);
    int slot = k->slot;
    if(i > 0)
      enc_putc(e, ',');
    if(e->indent)
      enc_newline(e, e->depth);
    enc_string(e, s, len);
    if(e->indent)
      enc_put(e, ": ", 2);
    else
      enc_putc(e, ':');
    pe.key = k->s;
    pe.klen = len;
    pe.index = k->ival;
    enc_value(e, slot + 1);
  }
  e->path = pe.up;
  if(e->indent)
    enc_newline(e, e->depth - 1);
  enc_putc(e, '}');
  e->m->nkeys = kstart;
  lua_settop(L, base);
}

/* [-0, +0, v] A plain table with #t == n > 0: its keys must be exactly
 * 1..n. */
static void enc_check_sequence(struct encoder *e, int idx, lua_Integer n)
{
  lua_State *L = e->L;
  lua_Integer count = 0;

  lua_pushnil(L);
  while(lua_next(L, idx)) {
    lua_pop(L, 1);
    if(lua_isinteger(L, -1)) {
      lua_Integer k = lua_tointeger(L, -1);
      if(k >= 1 && k <= n) {
        count++;
        continue;
      }
      enc_error(e, "cannot encode sparse array (key %I beside 1..%I)", k, n);
    }
    if(lua_type(L, -1) == LUA_TSTRING)
      enc_error(e,
                "cannot encode table with both string and integer keys "
                "(key \"%s\" beside 1..%I)",
                lua_tostring(L, -1), n);
    if(lua_type(L, -1) == LUA_TNUMBER)
      enc_error(e, "cannot encode float key %f in a table",
                lua_tonumber(L, -1));
    enc_error(e, "cannot encode %s key in a table", luaL_typename(L, -1));
  }
  if(count != n)
    enc_error(e, "cannot encode sparse array (holes in 1..%I)", n);
}

/* [-0, +0, v] A table: array, object or error, by its marker and keys. */
static void enc_table(struct encoder *e, int idx)
{
  lua_State *L = e->L;
  lua_Integer n;

  if(e->depth >= KL_JSON_MAX_DEPTH)
    enc_error(e, "cannot encode nesting deeper than 1000 (a cycle?)");
  if(!lua_checkstack(L, 6))
    enc_error(e, "cannot encode: Lua stack exhausted");
  e->depth++;
  if(lua_getmetatable(L, idx)) {
    if(lua_rawequal(L, -1, e->array_mt_idx)) {
      lua_pop(L, 1);
      enc_array(e, idx, (lua_Integer)lua_rawlen(L, idx));
      e->depth--;
      return;
    }
    if(lua_rawequal(L, -1, e->object_mt_idx)) {
      lua_pop(L, 1);
      enc_object(e, idx, 1);
      e->depth--;
      return;
    }
    lua_pop(L, 1);
  }
  n = (lua_Integer)lua_rawlen(L, idx);
  if(n == 0) {
    enc_object(e, idx, 0);
  } else {
    enc_check_sequence(e, idx, n);
    enc_array(e, idx, n);
  }
  e->depth--;
}

/* [-0, +0, v] Any value (the one at stack index idx). */
static void enc_value(struct encoder *e, int idx)
{
  lua_State *L = e->L;

  switch(lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    enc_string(e, s, len);
    break;
  }
  case LUA_TNUMBER:
    if(lua_isinteger(L, idx))
      enc_integer(e, lua_tointeger(L, idx));
    else
      enc_float(e, (double)lua_tonumber(L, idx));
    break;
  case LUA_TBOOLEAN:
    if(lua_toboolean(L, idx))
      enc_put(e, "true", 4);
    else
      enc_put(e, "false", 5);
    break;
  case LUA_TTABLE:
    enc_table(e, idx);
    break;
  case LUA_TLIGHTUSERDATA:
    if(!lua_touserdata(L, idx)) {
      enc_put(e, "null", 4);
      break;
    }
    enc_error(e, "cannot encode lightuserdata (only json.null)");
    break;
  case LUA_TNIL:
    enc_error(e, "cannot encode nil (use json.null)");
    break;
  default:
    enc_error(e, "cannot encode %s", luaL_typename(L, idx));
  }
}

/* [-0, +0, v] Encode the value at idx into m (from empty). */
static void enc_run(lua_State *L, int idx, int indent, struct enc_mem *m)
{
  struct encoder e;

  idx = lua_absindex(L, idx);
  e.L = L;
  e.m = m;
  e.indent = indent;
  e.depth = 0;
  e.path = NULL;
  m->len = 0;
  m->nkeys = 0;
  luaL_checkstack(L, 8, "json: out of stack");
  push_mt(L, KL_ARRAY_MT);
  e.array_mt_idx = lua_gettop(L);
  push_mt(L, KL_OBJECT_MT);
  e.object_mt_idx = lua_gettop(L);
  enc_value(&e, idx);
  lua_pop(L, 2);
}

void kl_json_encode(lua_State *L, int idx, int indent)
{
  struct enc_mem *m;

  idx = lua_absindex(L, idx);
  m = enc_mem_new(L);
  enc_run(L, idx, indent, m);
  lua_pushlstring(L, m->buf ? m->buf : "", m->len);
  free(m->buf);
  free(m->keys);
  memset(m, 0, sizeof(*m));
  lua_remove(L, -2);
}

/* ---- Lua API ----------------------------------------------------------- */

/* json.decode(s) -> value | nil, "json: <problem> at byte N" */
static int json_decode(lua_State *L)
{
  size_t len;
  const char *s;

  luaL_checktype(L, 1, LUA_TSTRING);
  s = lua_tolstring(L, 1, &len);
  lua_settop(L, 1);
  return kl_json_decode(L, s, len);
}

/* json.encode(v [, {indent = true | N}]) -> string; raises on values JSON
 * cannot represent. Upvalue 1 caches the output buffer between calls. */
static int json_encode(lua_State *L)
{
  struct enc_mem *m = lua_touserdata(L, lua_upvalueindex(1));
  int indent = 0;

  luaL_checkany(L, 1);
  if(!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    switch(lua_getfield(L, 2, "indent")) {
    case LUA_TNIL:
      break;
    case LUA_TBOOLEAN:
      indent = lua_toboolean(L, -1) ? 2 : 0;
      break;
    default:
      if(!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
         lua_tointeger(L, -1) > 16)
        return luaL_argerror(L, 2,
                             "indent must be a boolean or an integer "
                             "from 0 to 16");
      indent = (int)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  enc_run(L, 1, indent, m);
  /* Read the buffer before the string's allocation can run a finalizer. */
  lua_pushlstring(L, m->buf ? m->buf : "", m->len);
  if(m->cap > ENC_KEEP_BYTES) {
    free(m->buf);
    m->buf = NULL;
    m->len = m->cap = 0;
  }
  return 1;
}

/* [-0, +1] Mark the optional table argument (or a new one) with the
 * registry metatable name; another metatable is an argument error. */
static int mark_table(lua_State *L, const char *name)
{
  if(lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if(lua_getmetatable(L, 1)) {
      push_mt(L, KL_ARRAY_MT);
      push_mt(L, KL_OBJECT_MT);
      if(!lua_rawequal(L, -3, -2) && !lua_rawequal(L, -3, -1))
        return luaL_argerror(L, 1, "table already has another metatable");
      lua_pop(L, 3);
    }
  }
  push_mt(L, name);
  lua_setmetatable(L, 1);
  return 1;
}

/* json.array([t]) -> t marked as a JSON array */
static int json_array(lua_State *L)
{
  return mark_table(L, KL_ARRAY_MT);
}

/* json.object([t]) -> t marked as a JSON object */
static int json_object(lua_State *L)
{
  return mark_table(L, KL_OBJECT_MT);
}

/* json.is_array(v) -> boolean */
static int json_is_array(lua_State *L)
{
  luaL_checkany(L, 1);
  lua_pushboolean(L, kl_is_array(L, 1));
  return 1;
}

int luaopen_kubelua_json(lua_State *L)
{
  static const luaL_Reg funcs[] = {{"decode", json_decode},
                                   {"array", json_array},
                                   {"object", json_object},
                                   {"is_array", json_is_array},
                                   {NULL, NULL}};

  luaL_newlib(L, funcs);
  enc_mem_new(L);
  lua_pushcclosure(L, json_encode, 1);
  lua_setfield(L, -2, "encode");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  push_mt(L, KL_ARRAY_MT);
  lua_setfield(L, -2, "array_mt");
  push_mt(L, KL_OBJECT_MT);
  lua_setfield(L, -2, "object_mt");
  return 1;
}
