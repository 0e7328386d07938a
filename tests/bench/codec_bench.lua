-- Decode/encode throughput of one codec on one file, in MB per CPU-second
-- (os.clock), as ../shared/research/perf-baseline.md measures: decode rates
-- count input bytes, encode rates output bytes.
--
--   kubelua tests/bench/codec_bench.lua kubelua.json FILE.json [ROUNDS]
--   lua5.4  tests/bench/codec_bench.lua cjson        FILE.json [ROUNDS]  (raw lua-cjson)
--   kubelua tests/bench/codec_bench.lua kubelua.yaml FILE.yaml [ROUNDS]
--   kubelua tests/bench/codec_bench.lua --convert IN.json OUT.yaml
--
-- The measuring forms print, for tests/bench/data-bench:
--   decode MEDIAN MIN MAX
--   encode MEDIAN MIN MAX
--   bytes  INPUT OUTPUT
-- and, for kubelua's codecs, exit non-zero if the document does not survive
-- decode -> encode -> decode unchanged (empty arrays, integers, nulls: the
-- re-encoding of its own output comes back byte for byte). --convert writes
-- the JSON document as YAML (what `kubectl -o yaml` would print), outside
-- any timing.
local USAGE = "usage: codec_bench.lua kubelua.json|cjson|kubelua.yaml FILE [ROUNDS]"
  .. " | --convert IN.json OUT.yaml"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

if arg[1] == "--convert" then
  local src, dst = assert(arg[2], USAGE), assert(arg[3], USAGE)
  local doc = assert(require("kubelua.json").decode(slurp(src)))
  local f = assert(io.open(dst, "wb"))
  f:write(require("kubelua.yaml").encode(doc))
  f:close()
  return
end

local engine = assert(arg[1], USAGE)
local modules = { ["kubelua.json"] = "kubelua.json", cjson = "cjson",
  ["kubelua.yaml"] = "kubelua.yaml" }
local codec = require(assert(modules[engine], "unknown engine " .. engine .. "; " .. USAGE))
local text = slurp(assert(arg[2], USAGE))
local rounds = tonumber(arg[3]) or 7

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2], t[1], t[#t]
end

local function rate(bytes, seconds)
  return bytes / 1e6 / seconds
end

local decode_rates, encode_rates = {}, {}
local doc, out
for r = 1, rounds do
  doc = nil -- luacheck: ignore 311 (free the last round's tree before collecting)
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  local err
  doc, err = codec.decode(text)
  local t1 = os.clock()
  assert(doc, err or "decode failed")
  decode_rates[r] = rate(#text, t1 - t0)

  collectgarbage()
  local t2 = os.clock()
  out = codec.encode(doc)
  local t3 = os.clock()
  encode_rates[r] = rate(#out, t3 - t2)
end

print(("decode %.1f %.1f %.1f"):format(median(decode_rates)))
print(("encode %.1f %.1f %.1f"):format(median(encode_rates)))
print(("bytes %d %d"):format(#text, #out))

if engine ~= "cjson" and codec.encode(assert(codec.decode(out))) ~= out then
  io.stderr:write("codec_bench: ", engine, ": decode -> encode -> decode changed the document\n")
  os.exit(1)
end
