-- kubelua.yaml: table-driven decode/encode expectations. The reference for
-- decoding is what `kubectl apply -f` reads (sigs.k8s.io/yaml on go-yaml
-- v2); for encoding what `kubectl -o yaml` prints. See host/kl_yaml.c.
local t = require "testlib"
local yaml = require "kubelua.yaml"
local json = require "kubelua.json"

local null = yaml.null
local A = yaml.array_mt

local function arr(...)
  return setmetatable({ ... }, A)
end

t.test("module shape: functions, null, the shared array metatable", function()
  for _, name in ipairs({ "decode", "decode_all", "encode", "encode_all" }) do
    t.eq(type(yaml[name]), "function", name)
  end
  t.eq(yaml.null, json.null, "yaml.null is json.null")
  t.eq(getmetatable(json.decode("[]")), A, "one array metatable for JSON and YAML")
  t.eq(getmetatable(yaml.decode("[]")), A)
end)

t.test("done-when check of issue 2", function()
  local v = yaml.decode("a: []\nb: {}\nc: ~\nd: yes\ne: \"yes\"\n")
  t.eq(json.encode(v), '{"a":[],"b":{},"c":null,"d":true,"e":"yes"}')
end)

-- Plain scalars as go-yaml v2's resolve.go reads them (YAML 1.1).
local scalar_rows = {
  -- booleans: every spelling go-yaml v2 knows, and near misses
  { "y", true }, { "Y", true }, { "yes", true }, { "Yes", true }, { "YES", true },
  { "true", true }, { "True", true }, { "TRUE", true }, { "on", true }, { "On", true },
  { "ON", true }, { "n", false }, { "N", false }, { "no", false }, { "No", false },
  { "NO", false }, { "false", false }, { "False", false }, { "FALSE", false },
  { "off", false }, { "Off", false }, { "OFF", false },
  { "yES", "yES" }, { "tRUE", "tRUE" }, { "oN", "oN" }, { "nO", "nO" }, { "ye", "ye" },
  -- null
  { "~", null }, { "null", null }, { "Null", null }, { "NULL", null }, { "", null },
  { "nULL", "nULL" }, { "nil", "nil" }, { "None", "None" },
  -- integers
  { "0", 0 }, { "-0", 0 }, { "+7", 7 }, { "42", 42 }, { "-42", -42 }, { "0755", 493 },
  { "00", 0 }, { "0o17", 15 }, { "0O17", 15 }, { "0x1F", 31 }, { "0X1f", 31 },
  { "-0x10", -16 }, { "+0x10", 16 }, { "0b1010", 10 }, { "0B11", 3 }, { "-0b11", -3 },
  { "1_000", 1000 }, { "1__0", 10 }, { "1_", 1 }, { "0x_1F", 31 }, { "0_7", 7 },
  { "9223372036854775807", math.maxinteger }, { "-9223372036854775808", math.mininteger },
  { "9007199254740993", 9007199254740993 },
  -- beyond int64: a float (kubectl keeps the digits; a Lua number cannot)
  { "9223372036854775808", 9223372036854775808.0 },
  { "-9223372036854775809", -9223372036854775809.0 },
  { "99999999999999999999", 1e20 }, { "0xFFFFFFFFFFFFFFFF", 18446744073709551615.0 },
  -- Go's ParseInt/ParseUint(s, 0, 64), then go-yaml's own "0b" retry with base 2
  -- (measured against kubectl 1.32: `kubectl label --local -f - -o json`)
  { "01777777777777777777777", 18446744073709551615.0 }, -- octal, fits uint64
  { "0o1777777777777777777777", 18446744073709551615.0 },
  { "02000000000000000000000", 2e21 }, -- beyond uint64: read as a decimal float
  { "0x10000000000000000", "0x10000000000000000" }, -- hex beyond uint64: a string
  { "-0x8000000000000000", math.mininteger },
  { "-0x8000000000000001", "-0x8000000000000001" }, { "-0o", "-0o" },
  { "0o", "0o" }, { "0O", "0O" }, { "0O_", "0O_" }, { "0x_", "0x_" },
  { "0b-101", -5 }, { "0b+101", 5 }, { "0b-0", 0 }, { "0b+0111_0", 14 },
  { "0B-101", "0B-101" }, { "-0b-1", "-0b-1" }, { "-0b+1", "-0b+1" }, { "0b-", "0b-" },
  -- floats
  { "1e3", 1000.0 }, { "1E3", 1000.0 }, { "1e+3", 1000.0 }, { "2.5e-3", 0.0025 },
  { "1.5", 1.5 }, { "-1.5", -1.5 }, { ".5", 0.5 }, { "-.5", -0.5 }, { "+.5", 0.5 },
  { "1.", 1.0 }, { "09", 9.0 }, { "08.5", 8.5 }, { "1_0.5", 10.5 }, { ".5e1", 5.0 },
  { ".inf", math.huge }, { ".Inf", math.huge }, { ".INF", math.huge },
  { "+.inf", math.huge }, { "-.inf", -math.huge }, { "-.INF", -math.huge },
  { "1e-999", 0.0 },
  -- not numbers: strings
  { "1.5e999", "1.5e999" }, { "0x", "0x" }, { "0xG", "0xG" }, { "1,000", "1,000" },
  { "+", "+" }, { "-x", "-x" }, { ".", "." }, { "._5", "._5" }, { "_1", "_1" },
  { "12:30", "12:30" }, { "1:20:30", "1:20:30" }, { "0x1p3", "0x1p3" },
  { "inf", "inf" }, { "nan", "nan" }, { "Infinity", "Infinity" }, { ".in", ".in" },
  -- timestamps stay the text (go-yaml hands interface{} the string)
  { "2001-12-14", "2001-12-14" },
  { "2001-12-14T21:59:43.10-05:00", "2001-12-14T21:59:43.10-05:00" },
  { "2001-12-14 21:59:43.10", "2001-12-14 21:59:43.10" },
  { "2024-03-02T02:11:59Z", "2024-03-02T02:11:59Z" },
  -- strings
  { "hello", "hello" }, { "hello world", "hello world" }, { "<<", "<<" },
  { "a:b", "a:b" }, { "x#y", "x#y" }, { "apps/v1", "apps/v1" }, { "é", "é" },
}

t.test("plain scalars resolve as kubectl apply -f reads them", function()
  for _, row in ipairs(scalar_rows) do
    local text = "v: " .. row[1] .. "\n"
    local got, err = yaml.decode(text)
    t.ok(got, ("%q: %s"):format(text, tostring(err)))
    t.eq(got.v, row[2], ("%q"):format(row[1]))
    if type(row[2]) == "number" then
      t.eq(math.type(got.v), math.type(row[2]), ("%q: integer vs float"):format(row[1]))
    end
  end
end)

t.test(".nan is NaN; -0 is the integer 0; 1e3 is the float 1000", function()
  local v = yaml.decode("a: .nan\nb: .NaN\nc: .NAN\nd: -0\ne: 1e3\n")
  t.ok(v.a ~= v.a and v.b ~= v.b and v.c ~= v.c, "NaN")
  t.eq(math.type(v.d), "integer")
  t.eq(math.type(v.e), "float")
  t.eq(json.encode(yaml.decode("e: 1e3")), '{"e":1000}', "JSON prints it as Go does")
end)

-- Quoted and block scalars are strings; explicit tags are honoured.
local typed_rows = {
  { "v: 'yes'", "yes" }, { 'v: "0755"', "0755" }, { "v: '~'", "~" }, { 'v: ""', "" },
  { "v: '1e3'", "1e3" }, { 'v: "a\\tb\\n\\u00e9\\x41"', "a\tb\né" .. "A" },
  { "v: 'it''s'", "it's" }, { 'v: "\\0"', "\0" }, { "v: '<<'", "<<" },
  { "v: |\n  line1\n  line2\n", "line1\nline2\n" }, { "v: |-\n  x\n", "x" },
  { "v: |+\n  x\n\n", "x\n\n" }, { "v: >\n  folded\n  text\n", "folded text\n" },
  { "v: |\n  yes\n", "yes\n" }, { "v: |2\n    indented\n", "  indented\n" },
  { "v: !!str 123", "123" }, { "v: !!str yes", "yes" }, { "v: !!str", "" },
  { "v: !!int 0x10", 16 }, { "v: !!int '7'", 7 }, { "v: !!float 1", 1.0 },
  { "v: !!float 2.5", 2.5 }, { "v: !!bool yes", true }, { "v: !!bool off", false },
  { "v: !!null ~", null }, { "v: !!null", null }, { "v: !!timestamp 2001-12-14", "2001-12-14" },
  { "v: !!binary aGVsbG8=", "hello" }, { "v: !!binary |\n  aGVs\n  bG8=\n", "hello" },
  { "v: !!binary AP8=", "\0\255" }, { "v: !custom text", "text" }, { "v: ! 123", "123" },
  { "v: !!seq 5", "5" }, { "v: !!merge <<", "<<" },
  { "v: tag:yaml.org,2002:int", "tag:yaml.org,2002:int" },
  { "v: !<tag:yaml.org,2002:int> 12", 12 },
}

t.test("quoted, block and explicitly tagged scalars", function()
  for _, row in ipairs(typed_rows) do
    local got, err = yaml.decode(row[1])
    t.ok(got, ("%q: %s"):format(row[1], tostring(err)))
    t.eq(got.v, row[2], ("%q"):format(row[1]))
    if type(row[2]) == "number" then
      t.eq(math.type(got.v), math.type(row[2]), row[1])
    end
  end
end)

-- Non-string keys become the strings sigs.k8s.io/yaml makes of them.
local key_rows = {
  { "1: a", "1" }, { "-7: a", "-7" }, { "0x10: a", "16" }, { "0755: a", "493" },
  { "yes: a", "true" }, { "y: a", "true" }, { "off: a", "false" }, { "N: a", "false" },
  { "1.5: a", "1.5" }, { "1e3: a", "1000" }, { "0.1: a", "0.1" }, { "1.0: a", "1" },
  { "3.14159265358979: a", "3.1415927" }, { "1e7: a", "1e+07" }, { "1e-5: a", "1e-05" },
  { "123456.0: a", "123456" }, { ".inf: a", ".inf" }, { "-.inf: a", "-.inf" },
  { ".nan: a", ".nan" }, { "2001-12-14: a", "2001-12-14" }, { "'1': a", "1" },
  { "\"yes\": a", "yes" }, { "!!binary aGk=: a", "hi" }, { "!!str 1: a", "1" },
  { "? |\n  multi\n  line\n: a", "multi\nline\n" }, { "'<<': a", "<<" },
}

t.test("mapping keys become strings as kubectl makes them", function()
  for _, row in ipairs(key_rows) do
    local got, err = yaml.decode(row[1])
    t.ok(got, ("%q: %s"):format(row[1], tostring(err)))
    t.eq(got, { [row[2]] = "a" }, row[1])
  end
end)

local structure_rows = {
  { "a: []", { a = arr() } }, { "a: {}", { a = {} } }, { "[]", arr() }, { "{}", {} },
  { "- a\n- b\n", arr("a", "b") }, { "a:\n- 1\n- 2\n", { a = arr(1, 2) } },
  { "a:\n  - 1\n  - 2\n", { a = arr(1, 2) } }, { "a:\nb: 1\n", { a = null, b = 1 } },
  { "{a: [1, {b: c}], d: {}}", { a = arr(1, { b = "c" }), d = {} } },
  { "- - a\n  - b\n- []\n- {}\n", arr(arr("a", "b"), arr(), {}) },
  { "- a: 1\n  b: [x, z]\n- ~\n", arr({ a = 1, b = arr("x", "z") }, null) },
  { "[x, y, n]", arr("x", true, false) }, -- go-yaml v2: y and n are booleans
  { "[a, , b]", nil }, -- handled in the error rows
  { "a: 1\n  - b", { a = "1 - b" } }, -- a multi-line plain scalar
  { "a: # comment\n  b # a comment too\n", { a = "b" } },
  { "a: b#c d\n", { a = "b#c d" } },
  { "\xef\xbb\xbfa: 1", { a = 1 } }, -- a UTF-8 byte order mark
  { "a:\r\n  b: 1\r\n", { a = { b = 1 } } },
  { "key with spaces: v", { ["key with spaces"] = "v" } },
  { "a: x\0y", nil },
}

t.test("sequences are array_mt tables, mappings plain tables, empty ones too", function()
  for _, row in ipairs(structure_rows) do
    if row[2] ~= nil then
      local got, err = yaml.decode(row[1])
      t.ok(got ~= nil, ("%q: %s"):format(row[1], tostring(err)))
      t.eq(got, row[2], ("%q"):format(row[1]))
    end
  end
end)

t.test("decode_all: every document, skipping empty and null ones", function()
  local rows = {
    { "", arr() }, { "# only a comment\n", arr() }, { "---\n", arr() }, { "---\n---\n", arr() },
    { "a: 1\n---\nb: 2\n", arr({ a = 1 }, { b = 2 }) },
    { "---\n---\na: 1\n---\n", arr({ a = 1 }) },
    { "~\n---\na: 1\n---\nnull\n", arr({ a = 1 }) },
    { "--- 1\n--- false\n--- []\n--- x\n", arr(1, false, arr(), "x") },
    { "a: 1\n...\n---\nb: 2\n...\n", arr({ a = 1 }, { b = 2 }) },
    { "%YAML 1.1\n---\na: 1\n", arr({ a = 1 }) },
  }
  for _, row in ipairs(rows) do
    local got, err = yaml.decode_all(row[1])
    t.ok(got, ("%q: %s"):format(row[1], tostring(err)))
    t.eq(got, row[2], ("%q"):format(row[1]))
  end
end)

t.test("decode: one document, json.null for none, an error for several", function()
  t.eq(yaml.decode(""), null)
  t.eq(yaml.decode("# nothing\n"), null)
  t.eq(yaml.decode("---\n---\n"), null)
  t.eq(yaml.decode("a: 1\n---\n"), { a = 1 })
  t.eq(yaml.decode("---\na: 1\n"), { a = 1 })
  local v, err = yaml.decode("a: 1\n---\nb: 2\n")
  t.eq(v, nil)
  t.eq(err, "yaml: expected a single document, found 2; use decode_all")
end)

t.test("anchors and aliases: deep copies, per document, redefinable", function()
  local v = yaml.decode("a: &x [1, {k: v}]\nb: *x\ns: &s hello\nt: *s\n")
  t.eq(v, { a = arr(1, { k = "v" }), b = arr(1, { k = "v" }), s = "hello", t = "hello" })
  t.ok(not rawequal(v.a, v.b) and not rawequal(v.a[2], v.b[2]), "an alias is a copy")
  v.b[2].k = "changed"
  t.eq(v.a[2].k, "v", "changing the copy leaves the anchor's value")
  t.eq(yaml.decode("a: &x 1\nb: &x 2\nc: *x\n"), { a = 1, b = 2, c = 2 })
  t.eq(yaml.decode("a: &n ~\nb: *n\nc: &f false\nd: *f\n"),
    { a = null, b = null, c = false, d = false })
  t.eq(yaml.decode("- &k key\n- {*k : v}\n"), arr("key", { key = "v" }))
  local docs, err = yaml.decode_all("a: &x 1\n---\nb: *x\n")
  t.eq(docs, nil)
  t.eq(err, "yaml: line 3, column 4: unknown anchor 'x' referenced")
end)

t.test("merge keys follow go-yaml v2", function()
  local rows = {
    { "b: &b {x: 1, z: 0}\nm:\n  <<: *b\n  z: 2\n", { x = 1, z = 2 } },
    { "d1: &d1 {x: 1}\nd2: &d2 {x: 2, w: 3}\nm:\n  <<: [*d1, *d2]\n", { x = 1, w = 3 } },
    { "d1: &d1 {x: 1}\nd2: &d2 {x: 2, w: 3}\nm:\n  <<: [*d1, *d2]\n  w: 4\n", { x = 1, w = 4 } },
    -- go-yaml v2 writes merged entries where "<<" stands: an earlier key loses
    { "b: &b {x: 1}\nm:\n  x: 0\n  <<: *b\n", { x = 1 } },
    { "m:\n  <<: {a: 1}\n  b: 2\n", { a = 1, b = 2 } },
    { "m:\n  <<: [{a: 1}, {a: 2, b: 2}]\n", { a = 1, b = 2 } },
    { "m:\n  <<: {}\n", {} },
    { "m:\n  '<<': {a: 1}\n", { ["<<"] = { a = 1 } } },
    { "m:\n  !!merge <<: {a: 1}\n", { a = 1 } },
    { "m: {<<: {a: 1}, <<: {b: 2}}\n", { a = 1, b = 2 } },
  }
  for _, row in ipairs(rows) do
    local got, err = yaml.decode(row[1])
    t.ok(got, ("%q: %s"):format(row[1], tostring(err)))
    t.eq(got.m, row[2], ("%q"):format(row[1]))
  end
  local v = yaml.decode("base: &b {labels: {app: x}}\nm:\n  <<: *b\n")
  t.ok(not rawequal(v.base.labels, v.m.labels), "merged values are copies")
end)

local billion_laughs = {
  "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
}
for i = 1, 8 do
  local n, p = string.char(97 + i), string.char(96 + i)
  billion_laughs[#billion_laughs + 1] =
    ("%s: &%s [%s*%s]"):format(n, n, string.rep("*" .. p .. ", ", 9), p)
end

local MERGE = "map merge requires map or sequence of maps as the value"

-- Every failure path, with its exact message.
local error_rows = {
  { "a: [1, 2", "yaml: line 2, column 1: did not find expected ',' or ']'" },
  { "x: y\n  z: w", "yaml: line 2, column 4: mapping values are not allowed in this context" },
  { "a: 'x", "yaml: line 1, column 6: found unexpected end of stream" },
  { "\tx: 1", "yaml: line 1, column 1: found character that cannot start any token" },
  { "- a\nb: 1", "yaml: line 2, column 1: did not find expected '-' indicator" },
  { "a: *", "yaml: line 1, column 5: did not find expected alphabetic or numeric character" },
  { 'key: "\\q"', "yaml: line 1, column 7: found unknown escape character" },
  { "%YAML 2.0\n---\na", "yaml: line 1, column 1: found incompatible YAML document" },
  { "---\na: 1\n... x", "yaml: line 3, column 5: did not find expected <document start>" },
  { "[a, , b]", "yaml: line 1, column 5: did not find expected node content" },
  -- bytes YAML does not allow
  { "a: \1", "yaml: line 1, column 4: control characters are not allowed (#x01)" },
  { "a: x\0y", "yaml: line 1, column 5: control characters are not allowed (#x00)" },
  { "a: \xff", "yaml: line 1, column 4: invalid leading UTF-8 octet" },
  { "a: b\n\nc: \xc3", "yaml: line 3, column 4: incomplete UTF-8 octet sequence" },
  { "a: \xc3\x28", "yaml: line 1, column 5: invalid trailing UTF-8 octet" },
  -- resolution and structure
  { "a: !!int foo", "yaml: line 1, column 4: cannot decode !!str `foo` as a !!int" },
  { "a: !!int 1.5", "yaml: line 1, column 4: cannot decode !!float `1.5` as a !!int" },
  { "a: !!float x", "yaml: line 1, column 4: cannot decode !!str `x` as a !!float" },
  { "a: !!bool 1", "yaml: line 1, column 4: cannot decode !!int `1` as a !!bool" },
  { "a: !!null x", "yaml: line 1, column 4: cannot decode !!str `x` as a !!null" },
  { "a: !!int ''", "yaml: line 1, column 4: cannot decode !!null `` as a !!int" },
  { "a: !!timestamp x", "yaml: line 1, column 4: cannot decode !!str `x` as a !!timestamp" },
  { "a: !!binary '***'", "yaml: line 1, column 4: !!binary value contains invalid base64 data" },
  { "a: !!binary aGk", "yaml: line 1, column 4: !!binary value contains invalid base64 data" },
  { "18446744073709551615: x",
    "yaml: line 1, column 1: unsupported map key of type uint64: 18446744073709551615" },
  { "m: {0x8000000000000000: x}",
    "yaml: line 1, column 5: unsupported map key of type uint64: 0x8000000000000000" },
  { "a: !!float 18446744073709551615",
    "yaml: line 1, column 4: cannot decode !!int `18446744073709551615` as a !!float" },
  { "~: x", "yaml: line 1, column 1: unsupported map key: null" },
  { "null: x", "yaml: line 1, column 1: unsupported map key: null" },
  { "? !!null\n: x", "yaml: line 1, column 3: unsupported map key: null" },
  { "[a]: x", "yaml: line 1, column 1: invalid map key: a sequence" },
  { "{a: 1}: x", "yaml: line 1, column 1: invalid map key: a mapping" },
  { "a: *nope", "yaml: line 1, column 4: unknown anchor 'nope' referenced" },
  { "a: &x {b: *x}", "yaml: line 1, column 11: anchor 'x' value contains itself" },
  { "a: &x [1, [*x]]", "yaml: line 1, column 12: anchor 'x' value contains itself" },
  { "s: &s [1]\nm:\n  <<: *s", "yaml: line 3, column 7: " .. MERGE },
  { "m:\n  <<: [1]", "yaml: line 2, column 7: " .. MERGE },
  { "m:\n  <<: ~", "yaml: line 2, column 7: " .. MERGE },
  { "m:\n  <<: [[{a: 1}]]", "yaml: line 2, column 7: " .. MERGE },
  { table.concat(billion_laughs, "\n"),
    "yaml: line 4, column 16: document contains excessive aliasing" },
  { string.rep("[", 1001) .. string.rep("]", 1001),
    "yaml: line 1, column 1001: exceeded max depth of 1000" },
  { string.rep("- ", 1001) .. "x", "yaml: line 1, column 2001: exceeded max depth of 1000" },
}

t.test("malformed documents fail with nil, 'yaml: line L, column C: problem'", function()
  for _, row in ipairs(error_rows) do
    local v, err = yaml.decode(row[1])
    t.eq(v, nil, ("%q decodes to nothing"):format(row[1]:sub(1, 60)))
    t.eq(err, row[2], ("%q"):format(row[1]:sub(1, 60)))
    local all, err2 = yaml.decode_all(row[1])
    t.eq(all, nil)
    t.eq(err2, row[2], "decode_all: " .. row[1]:sub(1, 60))
  end
end)

-- A key given twice: {strict = true} fails with go-yaml's UnmarshalStrict words.
local strict_rows = {
  { "a: 1\na: 2", 'yaml: line 2, column 1: mapping key "a" already defined at line 1' },
  { "a:\n  b: 1\n  c:\n    d: 1\n    d: 2",
    'yaml: line 5, column 5: mapping key "d" already defined at line 4' },
  { "{x: 1, x: 2}", 'yaml: line 1, column 8: mapping key "x" already defined at line 1' },
  { "1: a\n0x1: b", 'yaml: line 2, column 1: mapping key "1" already defined at line 1' },
  { "b: &b {x: 1}\nm:\n  <<: *b\n  x: 2\n  x: 3",
    'yaml: line 5, column 3: mapping key "x" already defined at line 4' },
  { "1.0: a\n1: b", 'yaml: line 2, column 1: mapping key "1" already defined at line 1' },
  { ".inf: a\n.Inf: b", 'yaml: line 2, column 1: mapping key ".inf" already defined at line 1' },
  { "0e5: a\nx: 1\n0: b\n0.0: c",
    'yaml: line 3, column 1: mapping key "0" already defined at line 1' },
  { "!!int 0x10: a\n16: b", 'yaml: line 2, column 1: mapping key "16" already defined at line 1' },
  -- a first definition by an alias key is not located again: no line
  { "a: &k key\nm: {*k : 1, key: 2}",
    'yaml: line 2, column 13: mapping key "key" already defined' },
}

t.test("duplicate keys: the last wins as in kubectl apply -f; strict mode fails", function()
  -- kubectl 1.32 converts YAML to JSON before sending (the first value is
  -- gone, fieldValidation=Strict never sees it): `kubectl apply -f` of
  -- "data: {a: '1', a: '2'}" stores a: "2"
  t.eq(yaml.decode("a: 1\nb: 2\na: 3"), { a = 3, b = 2 })
  t.eq(yaml.decode("yes: 1\ntrue: 2"), { ["true"] = 2 })
  t.eq(yaml.decode("m: {x: 1, x: 2}"), { m = { x = 2 } })
  t.eq(yaml.decode_all("a: 1\na: 2\n---\nb: 1\nb: 2\n"), arr({ a = 2 }, { b = 2 }))
  t.eq(yaml.decode("a: 1\na: 2", { strict = false }), { a = 2 })
  for _, row in ipairs(strict_rows) do
    local got, err = yaml.decode(row[1])
    t.ok(got, ("%q decodes by default: %s"):format(row[1], tostring(err)))
    local v, serr = yaml.decode(row[1], { strict = true })
    t.eq(v, nil, ("%q: strict"):format(row[1]))
    t.eq(serr, row[2], ("%q: strict"):format(row[1]))
    local all, aerr = yaml.decode_all(row[1], { strict = true })
    t.eq(all, nil)
    t.eq(aerr, row[2], "decode_all strict: " .. row[1])
  end
  t.eq(yaml.decode("b: &b {x: 1}\nm:\n  <<: *b\n  x: 2\n", { strict = true }).m, { x = 2 },
    "strict: a merged key may be overridden")
  t.raises("table expected, got string", yaml.decode, "a: 1", "strict")
end)

t.test("nesting up to the limit decodes; aliasing below go-yaml's bound too", function()
  local deep = assert(yaml.decode(string.rep("[", 1000) .. string.rep("]", 1000)))
  local depth = 0
  while deep[1] do deep = deep[1]; depth = depth + 1 end
  t.eq(depth, 999)
  local v = assert(yaml.decode("a: &a [x, x, x, x, x, x, x, x, x, x]\n" ..
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" ..
    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"))
  t.eq(#v.c, 10)
  t.eq(v.c[10][10][10], "x")
end)

t.test("misuse raises", function()
  t.raises("string expected, got table", yaml.decode, {})
  t.raises("string expected, got no value", yaml.decode_all)
  t.raises("table expected, got string", yaml.encode_all, "x")
  t.raises("bad argument #1", yaml.encode)
end)

-- The tutorial's manifests (scripts/manifests/, the tutorial's own bytes:
-- tests/lua/tutorial_manifests_test.lua), as `kubectl apply -f` reads them.
local tutorial = {
  { t.read("scripts/manifests/serviceaccount.yaml"),
    { apiVersion = "v1", kind = "ServiceAccount",
      metadata = { name = "api-service-account", namespace = "devops-tools" } } },
  { t.read("scripts/manifests/clusterrole.yaml"),
    { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole",
      metadata = { name = "api-cluster-role", namespace = "devops-tools" },
      rules = arr({
        apiGroups = arr("", "apps", "autoscaling", "batch", "extensions", "policy",
          "rbac.authorization.k8s.io"),
        resources = arr("pods", "componentstatuses", "configmaps", "daemonsets", "deployments",
          "events", "endpoints", "horizontalpodautoscalers", "ingress", "jobs", "limitranges",
          "namespaces", "nodes", "pods", "persistentvolumes", "persistentvolumeclaims",
          "resourcequotas", "replicasets", "replicationcontrollers", "serviceaccounts",
          "services"),
        verbs = arr("get", "list", "watch", "create", "update", "patch", "delete"),
      }) } },
  { t.read("scripts/manifests/clusterrolebinding.yaml"),
    { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
      metadata = { name = "api-cluster-role-binding" },
      subjects = arr({ namespace = "devops-tools", kind = "ServiceAccount",
        name = "api-service-account" }),
      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole",
        name = "api-cluster-role" } } },
  { t.read("scripts/manifests/sa-token.yaml"),
    { apiVersion = "v1", kind = "Secret", type = "kubernetes.io/service-account-token",
      metadata = { name = "api-service-account-token", namespace = "devops-tools",
        annotations = { ["kubernetes.io/service-account.name"] = "api-service-account" } } } },
}

t.test("the tutorial's manifests decode as kubectl reads them", function()
  local stream = {}
  for i, row in ipairs(tutorial) do
    local v, err = yaml.decode(row[1])
    t.ok(v, ("manifest %d: %s"):format(i, tostring(err)))
    t.eq(v, row[2], "manifest " .. i)
    stream[i] = row[1]
  end
  -- all four as one `kubectl apply -f` stream
  local docs = assert(yaml.decode_all(table.concat(stream, "---\n")))
  t.eq(#docs, 4)
  for i, row in ipairs(tutorial) do t.eq(docs[i], row[2], "stream document " .. i) end
end)

-- Encoding: exact text, as `kubectl -o yaml` prints.
t.test("encode: a nested Kubernetes object, exactly", function()
  local cr = yaml.decode(tutorial[2][1])
  cr.metadata.labels = { ["app.kubernetes.io/name"] = "api", a10 = "x", a9 = "y", ["a-b"] = "z" }
  cr.metadata.annotations = { note = "line one\nline two\n", empty = "" }
  cr.metadata.finalizers = arr()
  cr.aggregationRule = {}
  cr.rules[1].resources = arr("pods", "nodes")
  cr.rules[2] = { apiGroups = arr(""), resources = arr("*"), verbs = arr("get"),
    resourceNames = null }
  t.eq(yaml.encode(cr), [[
aggregationRule: {}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  annotations:
    empty: ""
    note: |
      line one
      line two
  finalizers: []
  labels:
    a-b: z
    a9: "y"
    a10: x
    app.kubernetes.io/name: api
  name: api-cluster-role
  namespace: devops-tools
rules:
- apiGroups:
  - ""
  - apps
  - autoscaling
  - batch
  - extensions
  - policy
  - rbac.authorization.k8s.io
  resources:
  - pods
  - nodes
  verbs:
  - get
  - list
  - watch
  - create
  - update
  - patch
  - delete
- apiGroups:
  - ""
  resourceNames: null
  resources:
  - '*'
  verbs:
  - get
]])
end)

-- Strings are quoted exactly when they would read back as something else,
-- or cannot be plain; what libyaml's emitter picks for the latter.
local quoting_rows = {
  { "plain", "plain" }, { "hello world", "hello world" }, { "on", '"on"' }, { "yes", '"yes"' },
  { "Y", '"Y"' }, { "n", '"n"' }, { "0755", '"0755"' }, { "1e3", '"1e3"' }, { "null", '"null"' },
  { "~", '"~"' }, { "", '""' }, { "1_000", '"1_000"' }, { "0x1F", '"0x1F"' }, { ".5", '".5"' },
  { "-.inf", '"-.inf"' }, { "12:30", '"12:30"' }, { "2001-12-14", '"2001-12-14"' },
  { "2024-03-02T02:11:59Z", '"2024-03-02T02:11:59Z"' }, { "<<", '"<<"' }, { "09", '"09"' },
  { " lead", "' lead'" }, { "trail ", "'trail '" }, { "a: b", "'a: b'" }, { "a #b", "'a #b'" },
  { "-", "'-'" }, { "- a", "'- a'" }, { "*", "'*'" }, { "&a", "'&a'" }, { "!t", "'!t'" },
  { "@x", "'@x'" }, { "%x", "'%x'" }, { "[x]", "'[x]'" }, { "{y}", "'{y}'" }, { "|", "'|'" },
  { "'q'", "'''q'''" }, { '"dq"', "'\"dq\"'" }, { "?", "'?'" }, { "#", "'#'" },
  { "a:b", "a:b" }, { "a#b", "a#b" }, { "1.5e999", "1.5e999" }, { "apps/v1", "apps/v1" },
  { "é", "é" }, { "x\0y", '"x\\0y"' }, { "tab\there", '"tab\\there"' }, { "cr\r", '"cr\\r"' },
  { "\xff\xfe", "!!binary //4=" }, { "a\nb", "|-\n  a\n  b" }, { "a\nb\n", "|\n  a\n  b" },
  { "a\n\n", "|+\n  a\n" }, { " a\nb", "|2-\n   a\n  b" }, { "a \nb", '"a \\nb"' },
}

t.test("encode: quoting of strings, and every quoted scalar reads back", function()
  for _, row in ipairs(quoting_rows) do
    local text = yaml.encode({ k = row[1] })
    t.eq(text, "k: " .. row[2] .. "\n", ("%q"):format(row[1]))
    t.eq(yaml.decode(text), { k = row[1] }, "reads back: " .. text)
  end
end)

t.test("encode: numbers, booleans, null, empty collections, roots", function()
  local rows = {
    { arr(1, -7, math.maxinteger, math.mininteger),
      "- 1\n- -7\n- 9223372036854775807\n- -9223372036854775808\n" },
    { arr(1.5, 0.1, 1000.0, 1e6, 123456.0, 1e-5, 0.0001, 1e21, -0.0),
      "- 1.5\n- 0.1\n- 1000.0\n- 1e+06\n- 123456.0\n- 1e-05\n- 0.0001\n- 1e+21\n- -0.0\n" },
    { arr(math.huge, -math.huge), "- .inf\n- -.inf\n" },
    { arr(true, false, null), "- true\n- false\n- null\n" },
    { { a = {}, b = arr(), c = { d = arr(arr()) } }, "a: {}\nb: []\nc:\n  d:\n  - []\n" },
    { {}, "{}\n" }, { arr(), "[]\n" }, { "x", "x\n" }, { 42, "42\n" }, { null, "null\n" },
    { "yes", '"yes"\n' }, { "a\nb", "|-\n  a\n  b\n" },
    { { 10, 20, 30 }, "- 10\n- 20\n- 30\n" }, -- a plain table 1..n is a sequence
    { { [1] = "a", [3] = "c" }, "\"1\": a\n\"3\": c\n" }, -- a sparse one is a mapping
    { { arr({ a = 1, b = arr({ c = 2 }) }) }, "- - a: 1\n    b:\n    - c: 2\n" },
  }
  for i, row in ipairs(rows) do
    t.eq(yaml.encode(row[1]), row[2], "row " .. i)
  end
  -- the registry's object marker makes a mapping whatever the keys
  local reg = debug.getregistry()
  reg["kubelua.object_mt"] = reg["kubelua.object_mt"] or { __name = "kubelua.object_mt" }
  local om = reg["kubelua.object_mt"]
  t.eq(yaml.encode(setmetatable({ "a" }, om)), "\"1\": a\n")
  t.eq(yaml.encode(setmetatable({}, om)), "{}\n")
end)

t.test("encode: keys in go-yaml's order", function()
  local keys = { "b", "a", "a10", "a9", "a-b", "A", "_x", "z1", "z01", "x.y", "x/y", "é",
    "1", "10", "2" }
  local m = {}
  for _, k in ipairs(keys) do m[k] = 0 end
  t.eq(yaml.encode(m),
    -- go-yaml: "_" before "1" (a non-letter run compares as the number 0)
    '_x: 0\n"1": 0\n"2": 0\n"10": 0\nA: 0\na: 0\na-b: 0\na9: 0\na10: 0\nb: 0\nx.y: 0\nx/y: 0\n' ..
    "z1: 0\nz01: 0\né: 0\n")
end)

t.test("encode: long lines fold at 80 columns as kubectl prints them", function()
  local s = string.rep("word ", 20) .. "end"
  local text = yaml.encode({ description = s })
  t.eq(text, "description: word word word word word word word word word word word word " ..
    "word word\n" ..
    "  word word word word word word end\n")
  t.eq(yaml.decode(text), { description = s })
end)

t.test("encode_all: a --- separated stream", function()
  t.eq(yaml.encode_all(arr({ a = 1 }, { b = arr(1) })), "a: 1\n---\nb:\n- 1\n")
  t.eq(yaml.encode_all(arr("x", 3, { c = true })), "x\n--- 3\n---\nc: true\n")
  t.eq(yaml.encode_all(arr()), "")
  t.eq(yaml.decode_all(yaml.encode_all(arr({ a = 1 }, { b = 2 }))), arr({ a = 1 }, { b = 2 }))
end)

t.test("encode raises on values YAML cannot hold", function()
  t.raises("yaml.encode: cannot encode a value of type function", yaml.encode, { f = print })
  t.raises("yaml.encode: cannot encode a value of type userdata", yaml.encode, { io.stdout })
  t.raises("yaml.encode: cannot encode a value of type thread", yaml.encode,
    arr(coroutine.create(print)))
  local cyc = {}
  cyc.self = cyc
  t.raises("yaml.encode: cannot encode a table that contains itself (cycle)", yaml.encode, cyc)
  local a = arr()
  a[1] = { back = a }
  t.raises("yaml.encode: cannot encode a table that contains itself (cycle)", yaml.encode, a)
  t.raises("yaml.encode: cannot encode a table key of type boolean", yaml.encode, { [true] = 1 })
  t.raises("yaml.encode: cannot encode a table key of type table", yaml.encode, { [{}] = 1 })
  t.raises('yaml.encode: duplicate key "1"', yaml.encode, { [1] = "a", ["1"] = "b", x = 1 })
  local deep = {}
  local cur = deep
  for _ = 1, 1000 do cur.x = {}; cur = cur.x end
  t.raises("yaml.encode: nesting deeper than 1000", yaml.encode, deep)
  t.raises("yaml.encode: cannot encode a value of type function", yaml.encode_all, { print })
  local many = {}
  for i = 1, 100001 do many[i] = i end
  t.raises("yaml.encode_all: too many documents", yaml.encode_all, many)
  -- a table shared by two fields is not a cycle
  local shared = arr(1, 2)
  t.eq(yaml.encode({ a = shared, b = shared }), "a:\n- 1\n- 2\nb:\n- 1\n- 2\n")
end)
