-- luacheck: globals wrk init request
-- wrk script: kubesim's single-connection ceiling for one request type, to
-- compare with /work/shared/research/perf-baseline.md (its stub: ~5.5k
-- creates/s over HTTPS): POST a ServiceAccount with a unique name into
-- namespace default, with the admin token.
--
--   wrk -t1 -c1 -d5s -s tests/bench/wrk/create_sa.lua URL -- TOKEN_FILE PREFIX
local headers
local checked = false
local prefix
local n = 0

function init(args)
  local f = assert(io.open(args[1] or "", "r"), "usage: -- TOKEN_FILE PREFIX")
  local token = f:read("*l")
  f:close()
  prefix = args[2] or "wrk"
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
    ["Accept"] = "application/json" }
end

function request()
  -- wrk calls request() once at start-up to check it and throws the result
  -- away; that first call gets a harmless GET so no create is lost
  if not checked then
    checked = true
    return wrk.format("GET", "/version", headers)
  end
  n = n + 1
  return wrk.format("POST", "/api/v1/namespaces/default/serviceaccounts", headers,
    '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"' .. prefix .. "-" .. n
    .. '","namespace":"default"}}')
end
