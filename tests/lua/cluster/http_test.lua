-- kubelua.http and kubelua.async against kubesim (tests/with-kubesim):
-- the transport alone, no client library.
local t = require "testlib"
local http = require "kubelua.http"
local async = require "kubelua.async"
local cjson = require "cjson"

local dir = assert(os.getenv("KUBESIM_DIR"), "run under tests/with-kubesim")
local server = assert(os.getenv("KUBESIM_URL"))

local read = t.read

local token = read(dir .. "/admin.token"):gsub("%s+$", "")
local ca = read(dir .. "/ca.crt")

local function opts(path, extra)
  local o = { url = server .. path, ca_data = ca, timeout = 30,
    headers = { Authorization = "Bearer " .. token, Accept = "application/json" } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

t.test("GET a list with the admin token", function()
  local resp = assert(http.request(opts("/api/v1/namespaces")):perform())
  t.eq(resp.status, 200)
  t.eq(resp.http_version, "1.1")
  t.ok(resp.headers["audit-id"], "Audit-Id header")
  t.eq(cjson.decode(resp.body).kind, "NamespaceList")
end)

t.test("a wrong token is a 401 response with a Status body, not a transport error", function()
  local o = opts("/api/v1/namespaces")
  o.headers.Authorization = "Bearer not-a-token"
  local resp, err = http.request(o):perform()
  t.eq(err, nil)
  t.eq(resp.status, 401)
  t.eq(cjson.decode(resp.body).reason, "Unauthorized")
end)

t.test("the cluster CA is required: system CAs fail, insecure works", function()
  local o = opts("/version")
  o.ca_data = nil
  local _, err = http.request(o):perform()
  t.eq(err.curl, "PEER_FAILED_VERIFICATION")
  -- kubesim sends its CA in the chain
  t.eq(err.message, "TLS certificate verification failed: SSL certificate problem: "
    .. "self-signed certificate in certificate chain")
  t.ok(not tostring(err):find(token, 1, true), "no token in the error")
  o.insecure = true
  t.eq(assert(http.request(o):perform()).status, 200)
end)

t.test("create, then read back, binary-safe JSON body", function()
  local body = cjson.encode{ apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = "http-test" }, data = { text = "caf\195\169 \226\152\131" } }
  local o = opts("/api/v1/namespaces/default/configmaps",
    { method = "POST", body = body })
  o.headers["Content-Type"] = "application/json"
  local resp = assert(http.request(o):perform())
  t.eq(resp.status, 201)
  resp = assert(http.request(opts("/api/v1/namespaces/default/configmaps/http-test")):perform())
  t.eq(cjson.decode(resp.body).data.text, "caf\195\169 \226\152\131")
end)

t.test("100 GETs through async.parallel at concurrency 16", function()
  local items = {}
  for i = 1, 100 do items[i] = i end
  local results, errs = async.parallel(items, function()
    local resp, err = async.request(opts("/api/v1/namespaces/default"))
    if not resp then return nil, err end
    return resp.status
  end, { concurrency = 16 })
  t.eq(next(errs), nil)
  for i = 1, 100 do t.eq(results[i], 200) end
end)

t.test("a watch streams events; on_data returning false stops it", function()
  local events = {}
  local resp = async.stream(opts("/api/v1/namespaces?watch=1&timeoutSeconds=5"),
    function(chunk)
      for line in chunk:gmatch("[^\n]+") do events[#events + 1] = cjson.decode(line) end
      return #events < 2
    end)
  t.eq(resp.status, 200)
  t.eq(resp.body, "")
  t.ok(#events >= 2, "events: " .. #events)
  t.eq(events[1].type, "ADDED")
end)

t.test("no request left in flight", function()
  collectgarbage()
  t.eq(http.default_multi():pending(), 0)
end)
