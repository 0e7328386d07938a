-- Round-trip property tests over generated documents (issue 2): random
-- nested mappings/sequences/null/booleans/integers/floats/tricky strings go
-- YAML -> Lua -> JSON -> Lua -> YAML and must come back equal, byte for byte
-- for the texts. Seeded and bounded: the same documents every run.
local t = require "testlib"
local yaml = require "kubelua.yaml"
local json = require "kubelua.json"

local A = yaml.array_mt
local null = yaml.null

local function arr(...)
  return setmetatable({ ... }, A)
end

-- Strings that are easy to get wrong: YAML 1.1 words and numbers, YAML
-- indicators, whitespace at the ends, line breaks, control and non-ASCII
-- characters, invalid UTF-8, long lines that the emitter folds.
local tricky = {
  "", " ", "  ", "a", "yes", "Yes", "YES", "no", "No", "on", "Off", "y", "Y", "n", "N",
  "true", "False", "NULL", "null", "Null", "~", "0", "00", "0755", "09", "0x1F", "0X1f",
  "0o17", "0b1010", "-0b11", "1_000", "1e3", "1E3", "1.", ".5", "-.5", "+.5e3", "1.5e999",
  ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "inf", "nan", "-1", "+1", "-", "--", "---",
  "...", "--- a", "a\n---\nb", "- a", ":", ": ", "a:", "a: b", "a:b", "#", "a #b", "a#b",
  "[x]", "{y}", "x]", "*a", "&a", "!t", "!!str", "|", ">", "%x", "@x", "`x", "'", "''",
  "\"", "\\", "?", "? x", "=", "<<", "< <", ",", "a,b", "\t", "a\tb", "\ta", "a\t",
  "\r", "a\r\nb", "a\rb", "\n", "\n\n", "a\n", "a\n\n", "\na", " a\n", "a \nb",
  "a\n b", "a\n\tb", "x\0y", "\0", "\x01", "\x7f", "\x1b[0m", "é", "naïve café", "日本語",
  "\u{2028}", "a\u{2029}b", "\u{85}", "\u{feff}x", "x\u{feff}", "\xff", "a\xfe\xffb",
  "emoji \u{1f600}", "\u{fffe}", "\u{10ffff}", "\xed\xa0\x80",
  "\xc3\x28", "2001-12-14", "2001-12-14T21:59:43.10Z", "2001-12-14 21:59:43.10",
  "2001-13-14", "12:30", "1:20:30.5", "190:20:30", "-1:30", "1,000",
  "apps/v1", "rbac.authorization.k8s.io", "system:serviceaccount:ns:sa", "*",
  "kubernetes.io/service-account.name", "https://example.com/x?y=1#z",
  string.rep("word ", 30), string.rep("x", 200), string.rep("a b", 50) .. "\n",
  "trailing space \nnext", "line1\nline2\n\n\n", "  leading\nspaces",
}

-- A small deterministic generator (LCG), independent of math.random.
local state = 12345
local function rnd(n)
  state = (state * 1103515245 + 12345) % 2147483648
  return (state // 65536) % n + 1
end

local ints = { 0, 1, -1, 42, 493, 1000, 65535, 1 << 31, -(1 << 31),
  math.maxinteger, math.mininteger, 9007199254740993, -9007199254740993 }
-- Floats with a fraction, so that JSON (which prints an integral float the
-- way Go does, as "1000") gives the same Lua value back.
local floats = { 0.5, -0.5, 1.5, 0.1, 1e-5, 1.25e-7, 3.14159265358979,
  123456.789, 1.7976931348623157e308, 5e-324, 2.5e-300, 6.02214076e23, -1e100 }

local function gen_string()
  if rnd(3) == 1 then
    local parts = {}
    for i = 1, rnd(3) do parts[i] = tricky[rnd(#tricky)] end
    return table.concat(parts, rnd(2) == 1 and "" or " ")
  end
  return tricky[rnd(#tricky)]
end

local gen_value
local function gen_mapping(depth)
  local m = {}
  for _ = 1, rnd(6) - 1 do
    m[gen_string()] = gen_value(depth + 1)
  end
  return m
end

local function gen_sequence(depth)
  local s = setmetatable({}, A)
  for i = 1, rnd(6) - 1 do
    s[i] = gen_value(depth + 1)
  end
  return s
end

function gen_value(depth)
  local k = rnd(depth > 4 and 6 or 9)
  if k == 1 then return null end
  if k == 2 then return rnd(2) == 1 end
  if k == 3 then return ints[rnd(#ints)] end
  if k == 4 then return floats[rnd(#floats)] end
  if k <= 6 then return gen_string() end
  if k <= 8 then return gen_mapping(depth) end
  return gen_sequence(depth)
end

local function check_one(doc, n)
  local text = yaml.encode(doc)
  local back, err = yaml.decode(text)
  if back == nil then
    error(("document %d: decode of its encoding failed: %s\n%s"):format(n, err, text))
  end
  t.eq(back, doc, ("document %d: YAML -> Lua\n%s"):format(n, text))
  local j = json.encode(back)
  local from_json = assert(json.decode(j))
  t.eq(from_json, doc, ("document %d: Lua -> JSON -> Lua"):format(n))
  local again = yaml.encode(from_json)
  t.eq(again, text, ("document %d: YAML text after the JSON leg"):format(n))
end

t.test("500 generated documents survive YAML -> Lua -> JSON -> Lua -> YAML", function()
  state = 12345
  for n = 1, 500 do
    local doc = rnd(4) == 1 and gen_sequence(0) or gen_mapping(0)
    check_one(doc, n)
  end
end)

t.test("every tricky string round-trips as a value and as a key", function()
  for i, s in ipairs(tricky) do
    check_one({ v = s }, i)
    check_one({ [s] = s }, i)
    check_one(arr(s, arr(s), { k = s }), i)
  end
end)

t.test("every scalar kind round-trips alone at the document root", function()
  for i, v in ipairs({ null, true, false, 0, -7, math.maxinteger, 0.5, -1e-300, "x", "yes" }) do
    local text = yaml.encode(v)
    local back = yaml.decode(text)
    if v == null then
      t.eq(back, null, "root null")
    else
      t.eq(back, v, ("root scalar %d: %q"):format(i, text))
    end
  end
end)

t.test("YAML-only values (integral floats, inf, nan, -0.0) keep their kind", function()
  local text = yaml.encode(arr(1000.0, 1e6, 1e21, -0.0, 1 / 0, -1 / 0, 0 / 0, 3.0, 1e300))
  local back = assert(yaml.decode(text))
  t.eq(text, "- 1000.0\n- 1e+06\n- 1e+21\n- -0.0\n- .inf\n- -.inf\n- .nan\n- 3.0\n- 1e+300\n")
  for i, want in ipairs({ 1000.0, 1e6, 1e21, -0.0, 1 / 0, -1 / 0 }) do
    t.eq(math.type(back[i]), "float", "element " .. i)
    t.eq(back[i], want, "element " .. i)
  end
  t.ok(back[4] == 0 and 1 / back[4] < 0, "-0.0 keeps its sign")
  t.ok(back[7] ~= back[7], ".nan is NaN")
end)

t.test("a stream of generated documents round-trips through encode_all/decode_all", function()
  state = 777
  local docs = setmetatable({}, A)
  for i = 1, 40 do
    docs[i] = rnd(3) == 1 and gen_sequence(1) or gen_mapping(1)
  end
  local text = yaml.encode_all(docs)
  local back = assert(yaml.decode_all(text))
  -- decode_all skips empty (null) documents only; none are generated here
  t.eq(back, docs)
  t.eq(yaml.encode_all(back), text)
end)
