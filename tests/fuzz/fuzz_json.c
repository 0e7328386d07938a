/* libFuzzer target: kubelua.json on arbitrary bytes (see fuzz.h). A decoded
 * document must encode, decode to the same value (arrays stay arrays, null
 * stays null), encode to the same text again, and survive a trip through
 * YAML; bad input must give nil, "json: <problem> at byte N" with N inside
 * the input (or one past its end), never an error raised. */
static const char fuzz_property[] =
    "local data, json, yaml, _, same = ...\n"
    "local v, err = json.decode(data)\n"
    "if v == nil then\n"
    "  local n = tonumber(tostring(err):match('^json: .+ at byte (%d+)$'))\n"
    "  assert(n and n >= 1 and n <= #data + 1, 'bad error: ' .. "
    "tostring(err))\n"
    "  return\n"
    "end\n"
    "local text = json.encode(v)\n"
    "local v2, err2 = json.decode(text)\n"
    "assert(v2 ~= nil, 'decode(encode(v)) failed: ' .. tostring(err2))\n"
    "local ok, where = same(v, v2)\n"
    "assert(ok, 'json round trip: ' .. tostring(where))\n"
    "assert(json.encode(v2) == text, 'encode is not a fixpoint')\n"
    "local v3, err3 = json.decode(json.encode(v, {indent = 2}))\n"
    "assert(v3 ~= nil, 'indented text does not decode: ' .. tostring(err3))\n"
    "ok, where = same(v, v3)\n"
    "assert(ok, 'indented round trip: ' .. tostring(where))\n"
    "local y = yaml.encode(v)\n"
    "local v4, yerr = yaml.decode(y)\n"
    "assert(v4 ~= nil, 'yaml.decode(yaml.encode(v)): ' .. tostring(yerr) "
    ".. '\\n' .. y)\n"
    "ok, where = same(v, v4)\n"
    "assert(ok, 'json -> yaml -> lua: ' .. tostring(where) .. '\\n' .. y)\n";

#include "fuzz.h"
