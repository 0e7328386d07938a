-- kubelua.json run by the host: every shape of STYLE.md section 6, round
-- trips, integer and float exactness, strings and escapes, errors with byte
-- offsets and paths, and bounded fuzz and property loops (seeded).
local t = require "testlib"
local json = require "kubelua.json"

local null = json.null
local A = json.array

-- The message of luaL_argerror for a function of this module.
local function bad(n, fname, msg)
  return ("bad argument #%d to 'kubelua.json.%s' (%s)"):format(n, fname, msg)
end

-- { input, compact output } rows: decode then encode.
local shapes = {
  { '{"a":[]}', '{"a":[]}' },
  { '{"a":{}}', '{"a":{}}' },
  { '{"a":null}', '{"a":null}' },
  { "[]", "[]" },
  { "{}", "{}" },
  { "null", "null" },
  { "[null]", "[null]" },
  { "[[]]", "[[]]" },
  { "[{}]", "[{}]" },
  { '{"a":[{}],"b":[[],{}]}', '{"a":[{}],"b":[[],{}]}' },
  { '{"finalizers":[],"labels":{"team":null}}', '{"finalizers":[],"labels":{"team":null}}' },
  { '{"spec":{"volumes":[{"emptyDir":{},"name":"x"}]}}',
    '{"spec":{"volumes":[{"emptyDir":{},"name":"x"}]}}' },
  { '{"z":1,"a":2,"m":{"y":true,"b":false}}', '{"a":2,"m":{"b":false,"y":true},"z":1}' },
  { "[1,-1,0,1.5,-0.25,1e3,12345678901234567]", "[1,-1,0,1.5,-0.25,1000,12345678901234567]" },
  { '"a/b"', '"a/b"' },
  { ' { "a" : [ 1 , 2 ] } ', '{"a":[1,2]}' },
}

for i, row in ipairs(shapes) do
  t.test(("shape %d: %s"):format(i, row[1]), function()
    local v, err = json.decode(row[1])
    t.eq(err, nil)
    t.eq(json.encode(v), row[2])
    t.eq(json.encode(json.decode(row[2])), row[2])
  end)
end

t.test("decoded shapes: arrays marked, objects plain, null sentinel", function()
  local v = json.decode('{"a":[],"b":{},"c":null,"d":[1,{"e":[]}]}')
  t.ok(json.is_array(v.a))
  t.eq(getmetatable(v.a), json.array_mt)
  t.eq(getmetatable(v.b), nil)
  t.eq(getmetatable(v), nil)
  t.ok(v.c == null)
  t.eq(type(v.c), "userdata")
  t.ok(json.is_array(v.d) and json.is_array(v.d[2].e))
  t.eq(v, { a = A(), b = {}, c = null, d = A { 1, { e = A() } } })
  t.eq(json.is_array({}), false)
  t.eq(json.is_array("x"), false)
  t.eq(json.is_array(json.object()), false)
end)

t.test("json.null is cjson.null and lightuserdata(NULL); require 'cjson' works", function()
  local cjson = require "cjson"
  t.ok(json.null == cjson.null)
  t.eq(json.encode({ x = cjson.null }), '{"x":null}')
  t.ok(json.decode(cjson.encode({ a = 1 })).a == 1)
  t.eq(tostring(json.null), tostring(cjson.null))
end)

t.test("array_mt is the registry's kubelua.array_mt", function()
  local reg = debug.getregistry()
  t.ok(json.array_mt == reg["kubelua.array_mt"])
  t.ok(json.object_mt == reg["kubelua.object_mt"])
  t.eq(json.array_mt.__name, "kubelua.array_mt")
  t.eq(json.encode(setmetatable({}, json.array_mt)), "[]")
  t.eq(json.encode(setmetatable({}, json.object_mt)), "{}")
end)

t.test("array() and object() mark tables", function()
  local x = { 1, 2 }
  t.ok(A(x) == x)
  t.eq(json.encode(x), "[1,2]")
  t.eq(json.encode(A()), "[]")
  t.eq(json.encode(json.object()), "{}")
  t.eq(json.encode(json.object { 1, 2 }), '{"1":1,"2":2}')
  t.eq(json.encode(json.object { [10] = "a", [9] = "b", c = 1 }), '{"10":"a","9":"b","c":1}')
  -- re-marking switches the kind
  local y = json.object(A { 5 })
  t.eq(json.encode(y), '{"1":5}')
  t.eq(json.encode(A(y)), "[5]")
  -- array_mt takes elements 1..#t and ignores other keys, as openresty's
  -- lua-cjson does
  t.eq(json.encode(A { 1, 2, name = "x" }), "[1,2]")
end)

t.test("array()/object() misuse raises", function()
  t.raises(bad(1, "array", "table expected, got number"), json.array, 5)
  t.raises(bad(1, "object", "table expected, got string"), json.object, "x")
  t.raises(bad(1, "array", "table already has another metatable"),
    json.array, setmetatable({}, {}))
  t.raises(bad(1, "is_array", "value expected"), json.is_array)
end)

t.test("plain tables: empty is {}, 1..n is an array, string keys an object", function()
  t.eq(json.encode({}), "{}")
  t.eq(json.encode({ 1, "a", true, false, null }), '[1,"a",true,false,null]')
  t.eq(json.encode({ a = 1 }), '{"a":1}')
  t.eq(json.encode({ [1] = "x", [2] = "y" }), '["x","y"]')
end)

t.test("integers stay integers: decode", function()
  local cases = {
    { "0", 0 }, { "-1", -1 }, { "9007199254740993", 9007199254740993 },
    { "-9007199254740993", -9007199254740993 },
    { "9223372036854775807", math.maxinteger }, { "-9223372036854775808", math.mininteger },
    { "9223372036854775806", math.maxinteger - 1 },
    { "-9223372036854775807", math.mininteger + 1 },
  }
  for _, c in ipairs(cases) do
    local v = json.decode(c[1])
    t.eq(math.type(v), "integer", c[1])
    t.eq(v, c[2], c[1])
    t.eq(json.encode(v), c[1])
  end
  -- 2^53 + 1 is not a double: proof that no float was involved
  t.ok(json.decode("9007199254740993") ~= 2.0 ^ 53)
  t.eq(json.decode("[9007199254740993]")[1] - 1, 9007199254740992)
end)

t.test("numbers beyond int64 and with fraction/exponent are floats", function()
  local cases = {
    { "9223372036854775808", 2.0 ^ 63, "9223372036854776000" },
    { "-9223372036854775809", -2.0 ^ 63, "-9223372036854776000" },
    { "1.0", 1.0, "1" }, { "1e2", 100.0, "100" }, { "1E-2", 0.01, "0.01" },
    { "0.1", 0.1, "0.1" }, { "1e300", 1e300, "1e+300" }, { "-2.5e-8", -2.5e-8, "-2.5e-8" },
    { "5e-324", 5e-324, "5e-324" },
  }
  for _, c in ipairs(cases) do
    local v = json.decode(c[1])
    t.eq(math.type(v), "float", c[1])
    t.eq(v, c[2], c[1])
    t.eq(json.encode(v), c[3], c[1])
  end
end)

t.test("negative zero keeps its sign both ways", function()
  for _, s in ipairs { "-0", "-0.0", "-0e5" } do
    local v = json.decode(s)
    t.eq(math.type(v), "float")
    t.eq(1 / v, -math.huge, s)
    t.eq(json.encode(v), "-0")
  end
  t.eq(math.type(json.decode("0")), "integer")
  t.eq(json.encode(-0.0), "-0")
  t.eq(json.encode(0.0), "0")
end)

t.test("floats encode like Go's encoding/json", function()
  local cases = {
    { 1000.0, "1000" }, { 0.1, "0.1" }, { 0.1 + 0.2, "0.30000000000000004" },
    { 1 / 3, "0.3333333333333333" }, { 1e20, "100000000000000000000" }, { 1e21, "1e+21" },
    { 1e-6, "0.000001" }, { 1e-7, "1e-7" }, { 123.456, "123.456" }, { -1.5e300, "-1.5e+300" },
    { 2.0 ^ 53, "9007199254740992" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
    { 2.2250738585072014e-308, "2.2250738585072014e-308" },
  }
  for _, c in ipairs(cases) do
    t.eq(json.encode(c[1]), c[2], c[2])
  end
end)

t.test("floats round-trip bit for bit (2000 random doubles)", function()
  local rng = math.random
  math.randomseed(7)
  for _ = 1, 2000 do
    local bits = string.pack("<I4I4", rng(0, 0xFFFFFFFF), rng(0, 0xFFFFFFFF))
    local x = string.unpack("<d", bits)
    if x == x and x ~= math.huge and x ~= -math.huge then
      local s = json.encode(x)
      local y = json.decode(s)
      t.eq(string.pack("<d", y), string.pack("<d", x), s)
    end
  end
end)

t.test("integral floats from 2^53 to 2^63 decode back to an equal number", function()
  -- they read back as integers, so their digits must be exact: Go's shortest
  -- form pads with zeros (184488547758052448.0 -> 184488547758052450)
  t.eq(json.encode(184488547758052448.0), "184488547758052448")
  t.eq(json.decode("184488547758052446.1"), 184488547758052448)
  math.randomseed(11)
  for _ = 1, 2000 do
    local x = math.random(53, 62)
    x = (math.random() + 1) * 2.0 ^ x * (math.random(2) == 1 and -1 or 1)
    local y = json.decode(json.encode(x))
    t.ok(y == x, ("%.17g came back as %s"):format(x, tostring(y)))
  end
end)

t.test("integer boundary round trips (±2^63 neighbourhood)", function()
  for d = 0, 20 do
    local near = { math.maxinteger - d, math.mininteger + d, (1 << 53) + d, -(1 << 53) - d }
    for _, v in ipairs(near) do
      local s = json.encode(v)
      t.eq(s, ("%d"):format(v))
      t.eq(json.decode(s), v)
      t.eq(math.type(json.decode(s)), "integer")
    end
  end
end)

t.test("strings: escapes, UTF-8, NUL bytes, '/' not escaped", function()
  t.eq(json.encode("a/b"), '"a/b"')
  t.eq(json.encode('"\\\b\f\n\r\t'), [["\"\\\b\f\n\r\t"]])
  t.eq(json.encode("\0\1\31\127"), '"\\u0000\\u0001\\u001f\127"')
  t.eq(json.encode("naïve 日本語 😀"), '"naïve 日本語 😀"')
  t.eq(json.decode([["\u00e9\u65e5\ud83d\ude00"]]), "é日😀")
  t.eq(json.decode([["\/\"\\\b\f\n\r\t"]]), '/"\\\b\f\n\r\t')
  t.eq(json.decode([["a\u0000b"]]), "a\0b")
  t.eq(json.decode(json.encode("x\0y\0")), "x\0y\0")
  -- every byte value survives a round trip (invalid UTF-8 passes through)
  local all = {}
  for b = 0, 255 do all[#all + 1] = string.char(b) end
  local s = table.concat(all)
  t.eq(json.decode(json.encode(s)), s)
  t.eq(json.decode(json.encode({ [s] = s }))[s], s)
end)

-- A slow reference for the string escaper.
local function ref_quote(str)
  local short = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
  return '"' .. str:gsub('[%z\1-\31"\\]', function(c)
    return short[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

t.test("strings: a special byte at every offset of a long string", function()
  -- the scanner takes 8 or 16 bytes at a time: try every alignment
  local fill = "abcdefghijklmnopqrstuvwxyz0123456789é日本語ABCDEFGH"
  for _, special in ipairs { '"', "\\", "\0", "\31", "\n", "\127", "\255" } do
    for pos = 1, #fill + 1 do
      local str = fill:sub(1, pos - 1) .. special .. fill:sub(pos)
      local enc = json.encode(str)
      t.eq(enc, ref_quote(str), ("%q at %d"):format(special, pos))
      t.eq(json.decode(enc), str)
      t.eq(json.decode(json.encode({ [str] = str }))[str], str)
    end
  end
  -- a raw control byte at every offset is rejected at its own offset
  for pos = 1, 40 do
    local doc = '"' .. ("x"):rep(pos - 1) .. "\1" .. ("y"):rep(20) .. '"'
    local v, err = json.decode(doc)
    t.eq(v, nil)
    t.eq(err, ("json: control character in string at byte %d"):format(pos + 1))
    v, err = json.decode('"' .. ("x"):rep(pos))
    t.eq(v, nil)
    t.eq(err, "json: unterminated string at byte 1")
  end
end)

t.test("decode errors: nil plus message with byte offset", function()
  local cases = {
    { "", "json: unexpected end of input at byte 1" },
    { '{"a":', "json: unexpected end of input at byte 6" },
    { "[1,]", "json: expected value at byte 4" },
    { "[1 2]", "json: expected ',' or ']' at byte 4" },
    { '{"a" 1}', "json: expected ':' at byte 6" },
    { '{"a":1,}', "json: expected string key at byte 8" },
    { "{1:2}", "json: expected string key or '}' at byte 2" },
    { '{"a":1 "b":2}', "json: expected ',' or '}' at byte 8" },
    { "tru", "json: invalid literal at byte 1" },
    { "01", "json: invalid number (leading zero) at byte 1" },
    { "1.", "json: invalid number at byte 1" },
    { "1e999", "json: number out of range at byte 1" },
    { '"abc', "json: unterminated string at byte 1" },
    { '"a\tb"', "json: control character in string at byte 3" },
    { '"a\0b"', "json: control character in string at byte 3" },
    { [["a\x"]], "json: invalid escape at byte 3" },
    { [["\u12"]], "json: invalid \\u escape at byte 2" },
    { [["\ud83d"]], "json: lone surrogate in \\u escape at byte 2" },
    { [["\ude00"]], "json: lone surrogate in \\u escape at byte 2" },
    { "[] x", "json: trailing garbage at byte 4" },
    { "[1]\0", "json: trailing garbage at byte 4" },
    { ("["):rep(1001) .. ("]"):rep(1001), "json: nesting deeper than 1000 at byte 1001" },
    { ('{"a":'):rep(1001), "json: nesting deeper than 1000 at byte 5001" },
  }
  for _, c in ipairs(cases) do
    local v, err = json.decode(c[1])
    t.eq(v, nil, c[2])
    t.eq(err, c[2])
  end
  -- 1000 levels are fine
  local deep = json.decode(("["):rep(1000) .. ("]"):rep(1000))
  t.ok(json.is_array(deep))
  t.eq(#json.encode(deep), 2000)
end)

t.test("decode misuse raises", function()
  t.raises(bad(1, "decode", "string expected, got number"), json.decode, 5)
  t.raises(bad(1, "decode", "string expected, got no value"), json.decode)
end)

t.test("encode errors name the path", function()
  local cases = {
    { nil, "json: cannot encode nil (use json.null) at $" },
    { print, "json: cannot encode function at $" },
    { { a = { 1, 2, print } }, "json: cannot encode function at $.a[3]" },
    { { metadata = { labels = { ["app.kubernetes.io/name"] = io.stdout } } },
      'json: cannot encode userdata at $.metadata.labels["app.kubernetes.io/name"]' },
    { { x = 0 / 0 }, "json: cannot encode NaN at $.x" },
    { { math.huge }, "json: cannot encode inf at $[1]" },
    { { 1, nil, 3 }, "json: cannot encode sparse array (holes in 1..3) at $" },
    { { a = { 1, x = 2 } },
      'json: cannot encode table with both string and integer keys (key "x" beside 1..1) at $.a' },
    { { [3] = 1 }, "json: cannot encode integer key 3 in an object (a sparse array, or mixed "
      .. "keys? json.object() writes integer keys as strings) at $" },
    { { [true] = 1 }, "json: cannot encode boolean key in a table at $" },
    { A { 1, nil, 3 }, "json: cannot encode sparse array (nil element) at $[2]" },
    { json.object { [1.5] = 1 }, "json: cannot encode float key 1.5 in an object at $" },
  }
  for _, c in ipairs(cases) do
    t.raises(c[2], json.encode, c[1])
    local ok, err = pcall(json.encode, c[1])
    t.eq(ok, false)
    t.eq(err, c[2])
  end
  local cyc = {}
  cyc.self = cyc
  t.raises("json: cannot encode nesting deeper than 1000 (a cycle?) at $.self.self", json.encode,
    cyc)
  -- after an error the module keeps working
  t.eq(json.encode({ a = 1 }), '{"a":1}')
end)

t.test("an object beyond the key limit is an error, not a crash", function()
  local huge = {}
  for i = 1, 600000 do huge["k" .. i] = i end
  t.raises("json: cannot encode object with too many keys at $.x", json.encode, { x = huge })
  local fine, len = {}, 2 - 1 -- braces, one comma fewer than pairs
  for i = 1, 100000 do
    fine["k" .. i] = i
    len = len + #('"k' .. i .. '":' .. i .. ",")
  end
  local out = json.encode(fine)
  t.eq(#out, len)
  t.eq(json.decode(out), fine)
end)

t.test("encode options: indent", function()
  local v = { b = A { 1, { c = A() } }, a = {} }
  t.eq(json.encode(v, { indent = true }),
    '{\n  "a": {},\n  "b": [\n    1,\n    {\n      "c": []\n    }\n  ]\n}')
  t.eq(json.encode(v, { indent = 4 }),
    '{\n    "a": {},\n    "b": [\n        1,\n        {\n            "c": []\n        }\n    ]\n}')
  t.eq(json.encode(v, { indent = false }), '{"a":{},"b":[1,{"c":[]}]}')
  t.eq(json.encode(v, { indent = 0 }), '{"a":{},"b":[1,{"c":[]}]}')
  t.eq(json.encode(v, {}), '{"a":{},"b":[1,{"c":[]}]}')
  t.eq(json.decode(json.encode(v, { indent = 3 })), json.decode(json.encode(v)))
  t.raises(bad(2, "encode", "indent must be a boolean or an integer from 0 to 16"),
    json.encode, v, { indent = 17 })
  t.raises(bad(2, "encode", "indent must be a boolean or an integer from 0 to 16"),
    json.encode, v, { indent = "  " })
  t.raises(bad(2, "encode", "table expected, got number"), json.encode, v, 2)
  t.raises(bad(1, "encode", "value expected"), json.encode)
end)

t.test("keys are sorted bytewise", function()
  local v = {}
  local keys = { "b", "a", "B", "A", "", "aa", "a b", "é", "z", "~", "10", "9", "_" }
  for i, k in ipairs(keys) do v[k] = i end
  local s = json.encode(v)
  t.eq(s, '{"":5,"10":11,"9":12,"A":4,"B":3,"_":13,"a":2,"a b":7,"aa":6,"b":1,"z":9,"~":10,'
    .. '"é":8}')
  -- many keys (sorted by qsort), the same every time
  local big = {}
  for i = 1, 500 do big["k" .. (i * 7919 % 1000)] = i end
  local out = json.encode(big)
  local prev = ""
  for k in out:gmatch('"(k%d+)"') do
    t.ok(k > prev, k .. " after " .. prev)
    prev = k
  end
  t.eq(json.encode(big), out)
end)

-- Random documents: nested arrays (marked), objects, null, booleans,
-- integers, floats and strings with escapes.
local function random_value(rng, depth)
  local kind = rng(depth > 4 and 6 or 8)
  if kind == 1 then return null end
  if kind == 2 then return rng(2) == 1 end
  if kind == 3 then
    local picks = { 0, -1, 1, math.maxinteger, math.mininteger, rng(-1e9, 1e9), 1 << 53 }
    return picks[rng(#picks)]
  end
  if kind == 4 then
    local picks = { 0.5, -0.0, 1e300, 1e-300, 0.1, rng() * 1e6, -rng() }
    return picks[rng(#picks)]
  end
  if kind == 5 or kind == 6 then
    local parts = {}
    for i = 1, rng(0, 8) do
      local c = rng(0, 255)
      parts[i] = string.char(c)
    end
    return table.concat(parts)
  end
  if kind == 7 then
    local a = A()
    for i = 1, rng(0, 5) do a[i] = random_value(rng, depth + 1) end
    return a
  end
  local o = {}
  for _ = 1, rng(0, 5) do o["k" .. rng(1, 20) .. string.char(rng(0, 255))] = random_value(rng,
    depth + 1) end
  return o
end

t.test("property: encode -> decode gives the same value (500 documents)", function()
  math.randomseed(2)
  for _ = 1, 500 do
    local v = random_value(math.random, 0)
    local s = json.encode(v)
    local back, err = json.decode(s)
    t.eq(err, nil)
    t.eq(back, v)
    t.eq(json.encode(back), s)
    t.eq(json.encode(json.decode(json.encode(v, { indent = 2 }))), s)
  end
end)

t.test("fuzz: 2000 mutations of a document never crash", function()
  local doc = json.encode {
    apiVersion = "v1", kind = "List",
    items = A { { metadata = { name = "a/b", labels = { x = "é\n" }, finalizers = A() },
      data = { n = 12345678901234, f = -1.5e-7, t = true, z = null, s = "\u{1F600}\\\"" } } },
  }
  math.randomseed(3)
  local rng = math.random
  local alphabet = '{}[]":,\\ntfu0123456789.eE+-\0\31 \t\r\n\xff\xc3\xa9'
  local ok_count, err_count = 0, 0
  for _ = 1, 2000 do
    local s = doc
    for _ = 1, rng(1, 4) do
      local pos, op = rng(1, #s), rng(3)
      local k = rng(#alphabet)
      local c = alphabet:sub(k, k)
      if op == 1 then s = s:sub(1, pos - 1) .. c .. s:sub(pos + 1)
      elseif op == 2 then s = s:sub(1, pos - 1) .. c .. s:sub(pos)
      else s = s:sub(1, pos - 1) .. s:sub(pos + 1) end
    end
    local v, err = json.decode(s)
    if v == nil then
      err_count = err_count + 1
      local n = tonumber(err:match("^json: .+ at byte (%d+)$"))
      t.ok(n and n >= 1 and n <= #s + 1, err)
    else
      ok_count = ok_count + 1
      t.eq(err, nil)
      local again = json.encode(v)
      t.eq(json.decode(again), v)
    end
  end
  t.ok(ok_count > 0 and err_count > 0, ("%d ok, %d errors"):format(ok_count, err_count))
end)

t.test("truncations of a document fail at the end, never crash", function()
  local doc = '{"a":[1,2.5,"x\\u00e9"],"b":{"c":null,"d":true},"e":-12e3}'
  for n = 0, #doc - 1 do
    local v, err = json.decode(doc:sub(1, n))
    t.eq(v, nil)
    local at = tonumber(err:match("^json: .+ at byte (%d+)$"))
    t.ok(at and at >= 1 and at <= n + 1, err)
  end
  t.eq(json.encode(json.decode(doc)), '{"a":[1,2.5,"xé"],"b":{"c":null,"d":true},"e":-12000}')
end)

t.test("kubelua.yaml and kubelua.json agree on [] {} null (issue 2 done-when)", function()
  local ok, yaml = pcall(require, "kubelua.yaml")
  t.ok(ok, "kubelua.yaml is available")
  local v = yaml.decode('a: []\nb: {}\nc: ~\nd: yes\ne: "yes"\n')
  t.eq(json.encode(v), '{"a":[],"b":{},"c":null,"d":true,"e":"yes"}')
end)
