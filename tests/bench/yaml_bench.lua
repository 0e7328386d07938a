-- YAML decode/encode throughput of kubelua.yaml on one file, in MB per
-- CPU-second (os.clock), in the shape of json_bench.lua: decode rates count
-- input bytes, encode rates output bytes.
--
--   kubelua tests/bench/yaml_bench.lua FILE.yaml [ROUNDS]
--   kubelua tests/bench/yaml_bench.lua --convert IN.json OUT.yaml
--
-- The first form prints, for tests/bench/data-bench:
--   decode MEDIAN MIN MAX
--   encode MEDIAN MIN MAX
--   bytes  INPUT OUTPUT
-- and exits non-zero if the document does not survive decode -> encode ->
-- decode unchanged. The second writes the JSON document as YAML (what
-- `kubectl -o yaml` would print), outside any timing.
local yaml = require "kubelua.yaml"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

if arg[1] == "--convert" then
  local json = require "kubelua.json"
  local src = assert(arg[2], "usage: yaml_bench.lua --convert IN.json OUT.yaml")
  local dst = assert(arg[3], "usage: yaml_bench.lua --convert IN.json OUT.yaml")
  local doc = assert(json.decode(slurp(src)))
  local f = assert(io.open(dst, "wb"))
  f:write(yaml.encode(doc))
  f:close()
  return
end

local path = assert(arg[1], "usage: yaml_bench.lua FILE.yaml [ROUNDS]")
local rounds = tonumber(arg[2]) or 7
local text = slurp(path)

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2], t[1], t[#t]
end

local function rate(bytes, seconds)
  return bytes / 1e6 / seconds
end

local decode_rates, encode_rates = {}, {}
local out
for r = 1, rounds do
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  local doc, err = yaml.decode(text)
  local t1 = os.clock()
  assert(doc, err)
  decode_rates[r] = rate(#text, t1 - t0)

  collectgarbage()
  local t2 = os.clock()
  out = yaml.encode(doc)
  local t3 = os.clock()
  encode_rates[r] = rate(#out, t3 - t2)
end

print(("decode %.1f %.1f %.1f"):format(median(decode_rates)))
print(("encode %.1f %.1f %.1f"):format(median(encode_rates)))
print(("bytes %d %d"):format(#text, #out))

-- Encoding what was decoded must reproduce a document: the text of our own
-- encoding comes back byte for byte.
local again = yaml.encode(assert(yaml.decode(out)))
if again ~= out then
  io.stderr:write("yaml_bench: decode -> encode -> decode changed the document\n")
  os.exit(1)
end
