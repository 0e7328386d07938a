-- JSON decode/encode throughput of one engine on one file, in MB per
-- CPU-second (os.clock), as ../shared/research/perf-baseline.md measures:
-- decode rates count input bytes, encode rates output bytes.
--
--   kubelua tests/bench/json_bench.lua kubelua FILE [ROUNDS]   kubelua.json
--   lua5.4  tests/bench/json_bench.lua cjson   FILE [ROUNDS]   raw lua-cjson
--
-- Prints, for tests/bench/data-bench:
--   decode MEDIAN MIN MAX
--   encode MEDIAN MIN MAX
--   bytes  INPUT OUTPUT
-- and exits non-zero if a decode -> encode -> decode round trip of the
-- kubelua engine changes the document (empty arrays, integers, nulls).
local engine = assert(arg[1], "usage: json_bench.lua kubelua|cjson FILE [ROUNDS]")
local path = assert(arg[2], "usage: json_bench.lua kubelua|cjson FILE [ROUNDS]")
local rounds = tonumber(arg[3]) or 7

local json
if engine == "kubelua" then
  json = require "kubelua.json"
elseif engine == "cjson" then
  json = require "cjson"
else
  error("unknown engine " .. engine)
end

local f = assert(io.open(path, "rb"))
local text = f:read("a")
f:close()

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
  doc = json.decode(text)
  local t1 = os.clock()
  assert(doc, "decode failed")
  decode_rates[r] = rate(#text, t1 - t0)

  collectgarbage()
  local t2 = os.clock()
  out = json.encode(doc)
  local t3 = os.clock()
  encode_rates[r] = rate(#out, t3 - t2)
end

print(("decode %.1f %.1f %.1f"):format(median(decode_rates)))
print(("encode %.1f %.1f %.1f"):format(median(encode_rates)))
print(("bytes %d %d"):format(#text, #out))

if engine == "kubelua" then
  -- The exact path must reproduce the document: re-encoding what it decodes
  -- from its own output is byte-identical (keys are sorted).
  local again = json.encode(json.decode(out))
  if again ~= out then
    io.stderr:write("json_bench: kubelua round trip changed the document\n")
    os.exit(1)
  end
end

