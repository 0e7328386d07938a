-- luacheck: globals wrk init request
-- wrk script: kubesim's ceiling on the batch case's request mix, over one
-- reused connection (tests/bench/run runs it as wrk -t1 -c1 over TLS).
-- Per namespace, six requests in order, as tests/bench/batch.lua sends them:
--   POST namespace, POST serviceaccount, POST rolebinding (to ClusterRole
--   view), POST the token Secret, GET the Secret, GET the ServiceAccount.
-- Names are unique (PREFIX-1, PREFIX-2, ...), so every create is a real
-- create. The last GET goes with the admin token (wrk cannot learn the
-- service account's token); the ceiling also has no TLS handshake per
-- namespace, which the clients' service-account GET pays. One thread only
-- (-t1): threads would create the same names.
--
--   wrk -t1 -c1 -d5s -s tests/bench/wrk/batch_mix.lua URL -- TOKEN_FILE PREFIX
local headers
local checked = false
local prefix
local n, step = 0, 0

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
  step = (step + 1) % 6
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
    return wrk.format("GET", "/api/v1/namespaces/" .. ns .. "/secrets/bench-sa-token", headers)
  else
    return wrk.format("GET", "/api/v1/namespaces/" .. ns .. "/serviceaccounts/bench-sa", headers)
  end
end
