/* kubelua.base64: RFC 4648 base64 and base64url, binary safe.
 *
 *   encode(s)     standard alphabet, '=' padding, no line breaks
 *   decode(s)     standard alphabet; padding required
 *   urlencode(s)  base64url ('-', '_'), no padding (JWT style)
 *   urldecode(s)  base64url; padding optional, but if present it must
 *                 complete the last quantum
 *
 * What decode accepts is what users paste: ASCII whitespace (space, \t, \n,
 * \r, \v, \f) before and after the data, and line breaks (\n, \r\n, \r)
 * anywhere inside it, as `base64` (76 columns) and PEM (64) wrap. Anything
 * else returns nil, "invalid base64 at byte N", N being the 1-based byte
 * offset in the input of:
 *   - a byte outside the alphabet (also a space or tab inside the data);
 *   - a misplaced '=': one in the first or second position of a quantum, or
 *     any byte after the padding but the trailing whitespace;
 *   - the first byte of an incomplete final quantum (e.g. "QUJDRA" fails at
 *     byte 5; for urldecode only a lone final character is incomplete).
 * The unused low bits of the last data character are ignored, as Go's
 * base64.StdEncoding and Python's b64decode do. Misuse (a non-string
 * argument) raises. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

/* decode table codes beside 0..63 */
#define B64_BAD 0xFF
#define B64_PAD 0xFE
#define B64_EOL 0xFD /* \n or \r: skipped inside the data */
#define B64_WS 0xFC  /* space, \t, \v, \f: only around the data */

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static unsigned char std_table[256], url_table[256];
static int tables_ready;

static void fill_table(unsigned char *t, const char *alphabet)
{
  int i;

  memset(t, B64_BAD, 256);
  for(i = 0; i < 64; i++)
    t[(unsigned char)alphabet[i]] = (unsigned char)i;
  t['='] = B64_PAD;
  t['\n'] = B64_EOL;
  t['\r'] = B64_EOL;
  t[' '] = B64_WS;
  t['\t'] = B64_WS;
  t['\v'] = B64_WS;
  t['\f'] = B64_WS;
}

/* [-0, +1] Encode s[0..n) with alphabet, '=' padded if pad. */
static void b64_encode(lua_State *L,
                       const unsigned char *s,
                       size_t n,
                       const char *alphabet,
                       int pad)
{
  luaL_Buffer b;
  size_t out, i;
  char *o, *start;

  if(n > (SIZE_MAX / 4) * 3 - 3)
    luaL_error(L, "base64: input too large");
  out = (n + 2) / 3 * 4;
  start = o = luaL_buffinitsize(L, &b, out ? out : 1);
  for(i = 0; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  if(n - i == 1) {
    uint32_t v = (uint32_t)s[i] << 16;
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    if(pad) {
      *o++ = '=';
      *o++ = '=';
    }
  } else if(n - i == 2) {
    uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    if(pad)
      *o++ = '=';
  }
  luaL_pushresultsize(&b, (size_t)(o - start));
}

static int b64_fail(lua_State *L, size_t at)
{
  lua_pushnil(L);
  lua_pushfstring(L, "invalid base64 at byte %I", (lua_Integer)at);
  return 2;
}

/* [-0, +1 or +2] Decode s[0..n) with table; pads_optional for base64url.
 * Pushes the bytes, or nil and the message. */
static int b64_decode(lua_State *L,
                      const unsigned char *s,
                      size_t n,
                      const unsigned char *table,
                      int pads_optional)
{
  luaL_Buffer b;
  size_t i = 0, end = n, qstart = 0, npad = 0;
  unsigned char q[4];
  int nq = 0;
  char *o, *start;

  /* Trim surrounding whitespace. */
  while(i < end && (table[s[i]] == B64_WS || table[s[i]] == B64_EOL))
    i++;
  while(end > i &&
        (table[s[end - 1]] == B64_WS || table[s[end - 1]] == B64_EOL))
    end--;
  start = o = luaL_buffinitsize(L, &b, (end - i) / 4 * 3 + 3);
  for(; i < end; i++) {
    unsigned char c = table[s[i]];
    if(c < 64) {
      if(npad)
        return b64_fail(L, i + 1); /* data after the padding */
      if(nq == 0)
        qstart = i;
      q[nq++] = c;
      if(nq == 4) {
        *o++ = (char)(q[0] << 2 | q[1] >> 4);
        *o++ = (char)(q[1] << 4 | q[2] >> 2);
        *o++ = (char)(q[2] << 6 | q[3]);
        nq = 0;
      }
    } else if(c == B64_PAD) {
      /* '=' may stand in the third and fourth place of the last quantum. */
      if(nq + npad < 2 || nq + npad >= 4)
        return b64_fail(L, i + 1);
      npad++;
    } else if(c == B64_EOL) {
      continue;
    } else {
      return b64_fail(L, i + 1);
    }
  }
  if(npad) {
    if(nq + npad != 4)
      return b64_fail(L, qstart + 1); /* "QQ=": padding cut short */
  } else if(nq == 1 || (nq > 1 && !pads_optional)) {
    return b64_fail(L, qstart + 1);
  }
  if(nq >= 2)
    *o++ = (char)(q[0] << 2 | q[1] >> 4);
  if(nq == 3)
    *o++ = (char)(q[1] << 4 | q[2] >> 2);
  luaL_pushresultsize(&b, (size_t)(o - start));
  return 1;
}

/* base64.encode(s) -> string */
static int base64_encode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);

  b64_encode(L, (const unsigned char *)s, n, std_alphabet, 1);
  return 1;
}

/* base64.decode(s) -> string | nil, "invalid base64 at byte N" */
static int base64_decode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);

  return b64_decode(L, (const unsigned char *)s, n, std_table, 0);
}

/* base64.urlencode(s) -> string (base64url, no padding) */
static int base64_urlencode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);

  b64_encode(L, (const unsigned char *)s, n, url_alphabet, 0);
  return 1;
}

/* base64.urldecode(s) -> string | nil, "invalid base64 at byte N" */
static int base64_urldecode(lua_State *L)
{
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);

  return b64_decode(L, (const unsigned char *)s, n, url_table, 1);
}

int luaopen_kubelua_base64(lua_State *L)
{
  static const luaL_Reg funcs[] = {{"encode", base64_encode},
                                   {"decode", base64_decode},
                                   {"urlencode", base64_urlencode},
                                   {"urldecode", base64_urldecode},
                                   {NULL, NULL}};

  if(!tables_ready) {
    fill_table(std_table, std_alphabet);
    fill_table(url_table, url_alphabet);
    tables_ready = 1;
  }
  luaL_newlib(L, funcs);
  return 1;
}
