-- kubelua.log: request logging by verbosity level, with secrets masked.
--
-- Levels (kubectl's): 6 method, URL, status, latency; 8 adds request and
-- response bodies (truncated); 9 adds the equivalent curl command.
-- The level comes from connect{ verbose = N } or KUBELUA_VERBOSE (which
-- the CLI's -v=N sets). Whatever the level, these never reach the output:
-- Authorization/Proxy-Authorization/Cookie header values, token-like fields
-- (TokenRequest status.token, TokenReview spec.token, ExecCredential
-- status.token/clientKeyData, password, ...), Secret data/stringData values
-- (keys are kept), JWTs and PEM private keys anywhere in text, and every
-- string registered with log.add_secret (with its base64 form).
local M = {}

M.BODY_LIMIT = 1024
M.MASK = "<masked>"

-- the json module is needed only for bodies; load it lazily so that this
-- module (and its masking of text) works before it exists
local json_mod
local function json()
  if json_mod == nil then
    local ok, m = pcall(require, "kubelua.json")
    json_mod = ok and m or false
  end
  return json_mod or nil
end

--- The level from the environment (0 when unset or not a number).
function M.env_level()
  local v = tonumber(os.getenv("KUBELUA_VERBOSE") or "")
  if not v then return 0 end
  return math.max(0, math.floor(v))
end

-- Literal secrets to scrub from every line. `permanent`: value -> true,
-- for the life of the process. `owned`: owner -> { value -> true }, weakly
-- keyed: an owner's secrets (a client's token, key, proxy password) leave
-- the registry when the owner is collected; a sentinel in the set, whose
-- __gc runs then, marks the list for a rebuild. The list scrub walks is
-- rebuilt (and sorted, longest first) only when it is used after a change.
local permanent = {}
local owned = setmetatable({}, { __mode = "k" })
local SENTINEL = {} -- the key of an owner's sentinel in its set
local secret_list = {}
local dirty = false
M._sorts = 0 -- how many times the list was sorted (tests)

local function b64(s) return require("kubelua.base64").encode(s) end
M._b64 = b64

local function mark_dirty() dirty = true end

local function add_one(s, owner)
  if owner == nil then
    if not permanent[s] then
      permanent[s] = true
      dirty = true
    end
    return
  end
  local set = owned[owner]
  if not set then
    set = { [SENTINEL] = setmetatable({}, { __gc = mark_dirty }) }
    owned[owner] = set
  end
  if not set[s] then
    set[s] = true
    if not permanent[s] then dirty = true end
  end
end

-- the secrets, longest first (a secret that contains another is masked whole)
local function list()
  if dirty then
    dirty = false
    local seen, l = {}, {}
    for v in pairs(permanent) do
      seen[v] = true
      l[#l + 1] = v
    end
    for _, set in pairs(owned) do
      for v in pairs(set) do
        if v ~= SENTINEL and not seen[v] then
          seen[v] = true
          l[#l + 1] = v
        end
      end
    end
    table.sort(l, function(a, b) return #a > #b or (#a == #b and a < b) end)
    M._sorts = M._sorts + 1
    secret_list = l
  end
  return secret_list
end

--- Registers a secret string (a token, a password): it and its base64
--- encoding are replaced by <masked> in everything this module prints.
--- Strings shorter than 6 bytes are ignored (they would mask ordinary words).
--- With `owner` (any table, e.g. the client that holds the credential) the
--- secret is kept only as long as the owner lives; registering the same
--- string again costs a table lookup.
function M.add_secret(s, owner)
  if type(s) ~= "string" or #s < 6 then return end
  if owner ~= nil and type(owner) ~= "table" and type(owner) ~= "userdata" then owner = nil end
  local set = owner == nil and permanent or owned[owner]
  if set and set[s] then return end -- registered already (its base64 too)
  add_one(s, owner)
  add_one(b64(s), owner)
end

--- The number of registered secret strings (each secret and its base64
--- form count apart), after owners that were collected are dropped.
function M.secret_count()
  return #list()
end

local function plain_gsub(s, needle, repl)
  local out, i = {}, 1
  while true do
    local a, b = s:find(needle, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = repl
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

--- Masks secrets in free text: registered secrets, JWTs (eyJ...), base64
--- of JWTs (ZXlK...), PEM private keys and "Bearer <x>".
function M.scrub(s)
  s = tostring(s)
  for _, v in ipairs(list()) do s = plain_gsub(s, v, M.MASK) end
  s = s:gsub("eyJ[%w_%-]+%.[%w_%-]+%.?[%w_%-]*", M.MASK)
  s = s:gsub("ZXlK[%w+/=]+", M.MASK)
  s = s:gsub("%-%-%-%-%-BEGIN ([%u ]*)PRIVATE KEY%-%-%-%-%-.-"
    .. "%-%-%-%-%-END [%u ]*PRIVATE KEY%-%-%-%-%-",
    "-----BEGIN %1PRIVATE KEY-----" .. M.MASK .. "-----END %1PRIVATE KEY-----")
  s = s:gsub("(%f[%w]Bearer )([^%s\"'<>][^%s\"'>]*)", "%1" .. M.MASK)
  s = s:gsub("(%f[%w]Basic )([%w+/=]+)", "%1" .. M.MASK)
  return s
end

local masked_headers = {
  authorization = true, ["proxy-authorization"] = true, cookie = true, ["set-cookie"] = true,
}

--- Masks one header value by name: Authorization keeps its scheme.
function M.mask_header(name, value)
  if masked_headers[name:lower()] then
    local scheme = tostring(value):match("^(%a+) ")
    return scheme and (scheme .. " " .. M.MASK) or M.MASK
  end
  return M.scrub(tostring(value))
end

-- field names whose string values are credentials, compared lowercased
-- with '-' and '_' removed
local secret_keys = {
  token = true, password = true, clientkeydata = true, clientkey = true,
  accesstoken = true, idtoken = true, refreshtoken = true, bearertoken = true,
  clientsecret = true, privatekey = true,
}
local function is_secret_key(k)
  if type(k) ~= "string" then return false end
  return secret_keys[k:lower():gsub("[-_]", "")] == true
end
M.is_secret_key = is_secret_key

local function mask_values(t)
  if type(t) ~= "table" then return t end
  local out = setmetatable({}, getmetatable(t))
  for k, v in pairs(t) do
    out[k] = (type(v) == "string" or type(v) == "number") and M.MASK or v
  end
  return out
end

local walk
-- secret: this table is a Secret (its data/stringData values are masked)
walk = function(v, secret)
  if type(v) == "string" then return M.scrub(v) end
  if type(v) ~= "table" then return v end
  local is_secret = secret or v.kind == "Secret"
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do
    if is_secret and (k == "data" or k == "stringData") and type(x) == "table" then
      out[k] = mask_values(x)
    elseif is_secret_key(k) and type(x) == "string" and x ~= "" then
      out[k] = M.MASK
    elseif k == "items" and type(x) == "table" and v.kind == "SecretList" then
      local items = setmetatable({}, getmetatable(x))
      for i, item in ipairs(x) do items[i] = walk(item, true) end
      out[k] = items
    else
      out[k] = walk(x, false)
    end
  end
  return out
end

--- A deep copy of a decoded object with every secret masked. `hint.secret`
--- says the object is a Secret even without a kind (a typed list item).
function M.mask_object(obj, hint)
  return walk(obj, hint and hint.secret)
end

local function truncate(s, limit)
  limit = limit or M.BODY_LIMIT
  if #s <= limit then return s end
  return s:sub(1, limit) .. (" [truncated %d bytes]"):format(#s - limit)
end
M.truncate = truncate

--- Masks a body for printing. JSON bodies (and JSON lines, as in a watch
--- stream) are decoded and masked field by field; anything else is scrubbed
--- as text. Returns the masked text, truncated to `limit` bytes.
function M.mask_body(body, hint, limit)
  if type(body) == "table" then
    local j = json()
    local ok, s = false, nil
    if j then ok, s = pcall(j.encode, M.mask_object(body, hint)) end
    return truncate(ok and s or M.MASK, limit)
  end
  if type(body) ~= "string" or body == "" then return "" end
  local j = json()
  local out = {}
  if j and body:find("^%s*[{%[]") then
    for line in body:gmatch("[^\n]+") do
      local obj = j.decode(line)
      if type(obj) == "table" then
        local ok, s = pcall(j.encode, M.mask_object(obj, hint))
        out[#out + 1] = ok and s or M.MASK
      elseif line:find("%S") then
        -- not decodable (cut short?): its fields cannot be told apart, so
        -- none of it is shown
        out[#out + 1] = ("<masked: %d bytes of undecodable JSON>"):format(#line)
      end
    end
  end
  if #out > 0 then return truncate(M.scrub(table.concat(out, "\n")), limit) end
  if (hint and hint.secret) or body:find('"kind"%s*:%s*"Secret') then return M.MASK end
  return truncate(M.scrub(body), limit)
end

-- ---------------------------------------------------------------- output

M.out = io.stderr
local clock -- seconds as a float, for timestamps

--- Sets the clock used for timestamps (a function returning seconds).
function M.set_clock(fn) clock = fn end

-- wall-clock seconds with a fraction: os.time() anchored once, advanced by
-- the monotonic clock of kubelua.http when there is one
local anchor_wall, anchor_mono
local function default_clock()
  if anchor_wall == nil then
    local ok, http = pcall(require, "kubelua.http")
    if ok and type(http) == "table" and type(http.now) == "function" then
      anchor_wall, anchor_mono = os.time(), http.now()
      clock = function() return anchor_wall + (http.now() - anchor_mono) end
      return clock()
    end
    anchor_wall = false
  end
  return os.time()
end

local function stamp()
  local now = clock and clock() or default_clock()
  local secs = math.floor(now)
  local frac = math.floor((now - secs) * 1e6)
  return os.date("!%m%d %H:%M:%S", secs) .. (".%06d"):format(frac)
end

--- Writes one klog-style line to stderr, scrubbed: `I1128 10:00:00.123456 client] msg`.
function M.write(level_char, msg)
  local line = ("%s%s %s] %s\n"):format(level_char or "I", stamp(), "kubelua", M.scrub(msg))
  M.out:write(line)
  M.out:flush()
end

function M.info(msg) M.write("I", msg) end
function M.warn(msg) M.write("W", msg) end

-- ------------------------------------------------------------ curl command

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- The equivalent curl command for a request, secrets masked.
--- req: { method, url, headers = {name=value or {values}}, body }
function M.curl_command(req, hint)
  local parts = { "curl", "-v", "-X" .. (req.method or "GET") }
  local names = {}
  for k in pairs(req.headers or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = req.headers[k]
    local vals = type(v) == "table" and v or { v }
    for _, x in ipairs(vals) do
      parts[#parts + 1] = "-H " .. shq(k .. ": " .. M.mask_header(k, x))
    end
  end
  if req.body and req.body ~= "" then
    parts[#parts + 1] = "--data-binary " .. shq(M.mask_body(req.body, hint, math.huge))
  end
  parts[#parts + 1] = shq(req.url)
  return M.scrub(table.concat(parts, " "))
end

return M
