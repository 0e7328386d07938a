-- kubelua.base64 run by the host: RFC 4648 vectors, a pure-Lua reference
-- over random binary strings, what users paste (wrapped, padded, spaced),
-- every rejection with its byte offset, and misuse.
local t = require "testlib"
local b64 = require "kubelua.base64"

-- A slow, obvious reference encoder.
local STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function reference(s, url)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local quad = {}
    for j = 1, 4 do
      local k = (n >> (6 * (4 - j))) & 63
      quad[j] = STD:sub(k + 1, k + 1)
    end
    if not b then quad[3], quad[4] = "=", "="
    elseif not c then quad[4] = "=" end
    out[#out + 1] = table.concat(quad)
  end
  local r = table.concat(out)
  if url then r = r:gsub("+", "-"):gsub("/", "_"):gsub("=", "") end
  return r
end

local function bytes(rng, n)
  local t2 = {}
  for i = 1, n do t2[i] = string.char(rng(0, 255)) end
  return table.concat(t2)
end

t.test("RFC 4648 vectors", function()
  local v = {
    { "", "", "" }, { "f", "Zg==", "Zg" }, { "fo", "Zm8=", "Zm8" }, { "foo", "Zm9v", "Zm9v" },
    { "foob", "Zm9vYg==", "Zm9vYg" }, { "fooba", "Zm9vYmE=", "Zm9vYmE" },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
  }
  for _, c in ipairs(v) do
    t.eq(b64.encode(c[1]), c[2])
    t.eq(b64.urlencode(c[1]), c[3])
    t.eq(b64.decode(c[2]), c[1])
    t.eq(b64.urldecode(c[3]), c[1])
    t.eq(b64.urldecode(c[2]), c[1])
  end
end)

t.test("random binary strings match the reference and round-trip", function()
  math.randomseed(11)
  for n = 0, 300 do
    local s = bytes(math.random, n)
    local e, u = b64.encode(s), b64.urlencode(s)
    t.eq(e, reference(s))
    t.eq(u, reference(s, true))
    t.eq(b64.decode(e), s)
    t.eq(b64.urldecode(u), s)
  end
end)

t.test("NUL bytes and all byte values", function()
  t.eq(b64.encode("\0"), "AA==")
  t.eq(b64.encode("a\0b\0"), "YQBiAA==")
  t.eq(b64.decode("YQBiAA=="), "a\0b\0")
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  local s = table.concat(all)
  t.eq(b64.decode(b64.encode(s)), s)
  t.eq(b64.urldecode(b64.urlencode(s)), s)
  t.eq(b64.urlencode("\xfb\xff"), "-_8")
  t.eq(b64.encode("\xfb\xff"), "+/8=")
end)

t.test("decode accepts pasted forms: wrapped lines, CRLF, surrounding space", function()
  math.randomseed(12)
  local s = bytes(math.random, 1000)
  local e = b64.encode(s)
  local lines = {}
  for i = 1, #e, 76 do lines[#lines + 1] = e:sub(i, i + 75) end
  t.eq(b64.decode(table.concat(lines, "\n") .. "\n"), s) -- `base64` output
  t.eq(b64.decode(table.concat(lines, "\r\n") .. "\r\n"), s)
  local pem = {}
  for i = 1, #e, 64 do pem[#pem + 1] = e:sub(i, i + 63) end
  t.eq(b64.decode(table.concat(pem, "\n")), s)
  t.eq(b64.decode("  \n\tZm9vYmFy\n  "), "foobar")
  t.eq(b64.decode("Zm9v\nYmE=\n"), "fooba")
  t.eq(b64.decode("Zm\r\n8="), "fo")
  t.eq(b64.decode("\n"), "")
  t.eq(b64.urldecode(" eyJhbGciOiJSUzI1NiJ9\n"), '{"alg":"RS256"}')
end)

t.test("decode rejects with the byte offset", function()
  local cases = {
    -- input, function, message
    { "Zm9v!mFy", "decode", "invalid base64 at byte 5" },
    { "Zm9v YmFy", "decode", "invalid base64 at byte 5" },
    { "Zm9v\tYmFy", "decode", "invalid base64 at byte 5" },
    { "Zm9v\0", "decode", "invalid base64 at byte 5" },
    { "-_8=", "decode", "invalid base64 at byte 1" },
    { "é", "decode", "invalid base64 at byte 1" },
    { "Zm9vY", "decode", "invalid base64 at byte 5" },
    { "Zm9vYmF", "decode", "invalid base64 at byte 5" },
    { "  Zm9vY", "decode", "invalid base64 at byte 7" },
    { "Zm9v\nYm", "decode", "invalid base64 at byte 6" },
    { "Zg", "decode", "invalid base64 at byte 1" },
    { "Zg=", "decode", "invalid base64 at byte 1" },
    { "=Zg=", "decode", "invalid base64 at byte 1" },
    { "Z===", "decode", "invalid base64 at byte 2" },
    { "Zg===", "decode", "invalid base64 at byte 5" },
    { "Zg==Zg==", "decode", "invalid base64 at byte 5" },
    { "Zm=v", "decode", "invalid base64 at byte 4" },
    { "Zm9v=", "decode", "invalid base64 at byte 5" },
    { "+/8", "urldecode", "invalid base64 at byte 1" },
    { "Zm9vY", "urldecode", "invalid base64 at byte 5" },
    { "Zg=", "urldecode", "invalid base64 at byte 1" },
    { "Zg==x", "urldecode", "invalid base64 at byte 5" },
    { "a.b", "urldecode", "invalid base64 at byte 2" },
  }
  for _, c in ipairs(cases) do
    local v, err = b64[c[2]](c[1])
    t.eq(v, nil, c[2] .. " " .. c[1])
    t.eq(err, c[3], c[2] .. " " .. c[1])
  end
end)

t.test("garbage never crashes: 2000 random inputs", function()
  math.randomseed(13)
  local alphabet = STD .. "=-_ \n\r\t!\0\xff"
  for _ = 1, 2000 do
    local parts = {}
    for i = 1, math.random(0, 24) do
      local k = math.random(#alphabet)
      parts[i] = alphabet:sub(k, k)
    end
    local s = table.concat(parts)
    for _, f in ipairs { "decode", "urldecode" } do
      local v, err = b64[f](s)
      if v == nil then
        local n = tonumber(err:match("^invalid base64 at byte (%d+)$"))
        t.ok(n and n >= 1 and n <= #s, err)
      else
        t.eq(type(v), "string")
      end
    end
  end
end)

t.test("misuse raises", function()
  local function bad(fname, msg)
    return ("bad argument #1 to 'kubelua.base64.%s' (%s)"):format(fname, msg)
  end
  t.raises(bad("encode", "string expected, got no value"), b64.encode)
  t.raises(bad("decode", "string expected, got table"), b64.decode, {})
  t.raises(bad("urlencode", "string expected, got nil"), b64.urlencode, nil)
  t.raises(bad("urldecode", "string expected, got boolean"), b64.urldecode, true)
end)
