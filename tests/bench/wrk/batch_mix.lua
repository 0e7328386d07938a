-- luacheck: globals wrk init request response setup done namespaces
-- wrk script: kubesim's ceiling on the batch case's request mix, over one
-- reused connection (tests/bench/run runs it as wrk -t1 -c1 over TLS).
-- Per namespace, the six requests tests/bench/batch.lua sends, with the
-- same work for the server: POST namespace, POST serviceaccount, POST
-- rolebinding (to ClusterRole view), POST the token Secret, GET the token
-- Secret, GET the ServiceAccount with that token (the server verifies the
-- JWT and records its first use). The two GETs are two namespaces behind
-- (namespace n reads n-2's Secret, whose token the controller filled while
-- n-1 and n were created), so the ceiling has the clients' server work
-- without their wait; a Secret still unfilled is read again.
-- Names are unique (PREFIX-1, PREFIX-2, ...), so every create is a real
-- create. It has no TLS handshake for the service account (one connection
-- for all), which the clients pay once. One thread only (-t1): threads
-- would create the same names. done() prints "namespaces: N" (the ones
-- finished, through the GET as the service account).
--
--   wrk -t1 -c1 -d5s -s tests/bench/wrk/batch_mix.lua URL -- TOKEN_FILE PREFIX
local headers
local checked = false
local prefix
local n, step = 0, 0
local sa_token -- the filled Secret's token, decoded
namespaces = 0 -- a global: done() reads it through thread:get

-- base64 (the Secret's data.token) in whole 4-character groups: 3 bytes each
local B64 = {}
for i = 1, 64 do
  B64[("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):byte(i)] = i - 1
end
local function b64decode(s)
  local out, pad = {}, 0
  s = s:gsub("=+$", function(eq) pad = #eq return ("A"):rep(#eq) end)
  for i = 1, #s - 3, 4 do
    local a, b, c, d = s:byte(i, i + 3)
    local v = ((B64[a] * 64 + B64[b]) * 64 + B64[c]) * 64 + B64[d]
    out[#out + 1] = string.char(math.floor(v / 65536), math.floor(v / 256) % 256, v % 256)
  end
  local r = table.concat(out)
  return r:sub(1, #r - pad)
end

function init(args)
  local f = assert(io.open(args[1] or "", "r"), "usage: -- TOKEN_FILE PREFIX")
  local token = f:read("*l")
  f:close()
  prefix = args[2] or "wrk"
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
    ["Accept"] = "application/json" }
end

local function post(path, body)
  return wrk.format("POST", path, headers, body)
end

function request()
  -- wrk calls request() once at start-up to check it and throws the result
  -- away; that first call gets a harmless GET so no create is lost
  if not checked then
    checked = true
    return wrk.format("GET", "/version", headers)
  end
  if step == 0 then n = n + 1 end
  local ns = prefix .. "-" .. n
  local s = step
  if s < 3 then
    step = s + 1
  elseif s == 3 then
    step = n > 2 and 4 or 0 -- the GETs are of namespace n-2
  end -- 4 and 5 move on in response()
  local prev = prefix .. "-" .. (n - 2)
  if s == 0 then
    return post("/api/v1/namespaces",
      '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"' .. ns .. '"}}')
  elseif s == 1 then
    return post("/api/v1/namespaces/" .. ns .. "/serviceaccounts",
      '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"bench-sa","namespace":"'
      .. ns .. '"}}')
  elseif s == 2 then
    return post("/apis/rbac.authorization.k8s.io/v1/namespaces/" .. ns .. "/rolebindings",
      '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":'
      .. '{"name":"bench-sa-view","namespace":"' .. ns .. '"},"roleRef":{"apiGroup":'
      .. '"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":'
      .. '[{"kind":"ServiceAccount","name":"bench-sa","namespace":"' .. ns .. '"}]}')
  elseif s == 3 then
    return post("/api/v1/namespaces/" .. ns .. "/secrets",
      '{"apiVersion":"v1","kind":"Secret","metadata":{"annotations":'
      .. '{"kubernetes.io/service-account.name":"bench-sa"},"name":"bench-sa-token",'
      .. '"namespace":"' .. ns .. '"},"type":"kubernetes.io/service-account-token"}')
  elseif s == 4 then
    return wrk.format("GET", "/api/v1/namespaces/" .. prev .. "/secrets/bench-sa-token", headers)
  else
    return wrk.format("GET", "/api/v1/namespaces/" .. prev .. "/serviceaccounts/bench-sa",
      { ["Authorization"] = "Bearer " .. sa_token, ["Accept"] = "application/json" })
  end
end

-- one request at a time on the connection: each response comes before the
-- next request() (the Secret is read again until it holds a token)
function response(status, _, body)
  if not checked or status >= 300 then return end
  if step == 4 then
    local tok = body and body:match('"token"%s*:%s*"([^"]+)"')
    if tok then
      sa_token = b64decode(tok)
      step = 5
    end
  elseif step == 5 then
    namespaces = namespaces + 1
    step = 0
  end
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done()
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("namespaces") or 0) end
  io.write(("namespaces: %d\n"):format(total))
end
