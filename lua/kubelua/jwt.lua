-- kubelua.jwt: read a JWT's claims without verifying it.
--
--   local claims, header = jwt.claims(token)  -- or nil, err
--   jwt.expires_in(claims[, now])             -- seconds left (negative when
--                                             -- expired), or nil without exp
--   jwt.describe(claims[, now])               -- "sub=... iss=... aud=...
--                                             --  exp=... (in 59m59s)"
--
-- Decoding is for diagnosis (which service account, which audience, has it
-- expired?); only the API server can say whether a token is valid. A token
-- that still looks base64-encoded (a Secret's `data.token` copied without
-- decoding starts with "ZXlK", the base64 of "eyJ") is reported as such.
-- Errors never contain the token.
local base64 = require "kubelua.base64"
local json = require "kubelua.json"

local M = {}

M.BASE64_HINT = 'token looks base64-encoded (starts "ZXlK"): decode it first, e.g. base64 --decode'

local PART_NAMES = { "header (part 1)", "payload (part 2)", "signature (part 3)" }

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= debug.getregistry()["kubelua.array_mt"]
end

--- Decode a JWT's header and claims (no signature check).
--- @return table|nil claims, table|string header_or_err
function M.claims(token)
  if type(token) ~= "string" then
    return nil, "not a JWT: expected a string, got a " .. type(token)
  end
  token = token:gsub("^%s+", ""):gsub("%s+$", "")
  local bearer = token:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(.*)$")
  if bearer then token = bearer end
  if token:sub(1, 4) == "ZXlK" then return nil, M.BASE64_HINT end
  local parts = {}
  for p in (token .. "."):gmatch("([^.]*)%.") do parts[#parts + 1] = p end
  if #parts ~= 3 then
    return nil, ("not a JWT: expected 3 dot-separated parts, found %d"):format(#parts)
  end
  local decoded = {}
  for i = 1, 3 do
    local raw, err = base64.urldecode(parts[i])
    if not raw then
      return nil, ("not a JWT: %s is not valid base64url: %s"):format(PART_NAMES[i], err)
    end
    decoded[i] = raw
  end
  local out = {}
  for i = 1, 2 do
    local v, err = json.decode(decoded[i])
    if v == nil then
      return nil, ("not a JWT: %s is not valid JSON: %s"):format(PART_NAMES[i], tostring(err))
    end
    if not is_object(v) then
      return nil, ("not a JWT: %s is not a JSON object"):format(PART_NAMES[i])
    end
    out[i] = v
  end
  return out[2], out[1]
end

--- Seconds until `exp` (negative once expired); nil when there is no exp.
function M.expires_in(claims, now)
  if type(claims) ~= "table" or math.type(claims.exp) == nil then return nil end
  return claims.exp - (now or os.time())
end

local function duration(s)
  s = math.floor(math.abs(s))
  local d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
  local sec = s % 60
  if d > 0 then return ("%dd%dh"):format(d, h) end
  if h > 0 then return ("%dh%dm"):format(h, m) end
  if m > 0 then return ("%dm%ds"):format(m, sec) end
  return ("%ds"):format(sec)
end

local function text(v)
  if type(v) == "string" then return v end
  if type(v) == "table" then
    local l = {}
    for i, x in ipairs(v) do l[i] = tostring(x) end
    return table.concat(l, ",")
  end
  return tostring(v)
end

--- A one-line summary of the claims that matter for a 401 (sub, iss, aud,
--- exp); never the signature or the token.
function M.describe(claims, now)
  if type(claims) ~= "table" then return "no claims" end
  local out = {}
  for _, k in ipairs({ "sub", "iss", "aud" }) do
    if claims[k] ~= nil and claims[k] ~= json.null then
      out[#out + 1] = k .. "=" .. text(claims[k])
    end
  end
  local left = M.expires_in(claims, now)
  if left == nil then
    out[#out + 1] = "exp=none (does not expire)"
  else
    local when = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(claims.exp))
    if left > 0 then
      out[#out + 1] = ("exp=%s (in %s)"):format(when, duration(left))
    else
      out[#out + 1] = ("exp=%s (expired %s ago)"):format(when, duration(left))
    end
  end
  return table.concat(out, " ")
end

return M
