-- The client against a scripted transport: the answers no well-behaved API
-- server (so not kubesim) gives, and the retry decisions, made exact.
-- kubelua.async is replaced before the client loads, so every request the
-- client sends lands in `route` below and nothing touches the network.
local t = require "testlib"
local json = require "kubelua.json"
local base64 = require "kubelua.base64"

local sent = {}      -- every request: { method, path, query, headers, body }
local routes = {}    -- "METHOD /path" -> list of answers (the last one repeats)
local clock = 0
local slept = {}

local function answer(status, body, headers)
  local h = { ["content-type"] = type(body) == "table" and "application/json" or "text/plain" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status, headers = h, body = type(body) == "table" and json.encode(body)
    or body or "" }
end

local function route(opts)
  local path, query = opts.url:match("^https?://[^/]+(/[^?]*)%??(.*)$")
  sent[#sent + 1] = { method = opts.method, path = path, query = query, headers = opts.headers,
    body = opts.body }
  local list = routes[opts.method .. " " .. path]
  if not list then return answer(404, { kind = "Status", code = 404, reason = "NotFound",
    message = "no route " .. path }) end
  local a = #list > 1 and table.remove(list, 1) or list[1]
  if type(a) == "function" then a = a(opts) end
  -- { transport = err, data = "..." }: a stream that delivered data, then failed
  if a.transport then return nil, a.transport, a.data end
  return a
end

package.loaded["kubelua.async"] = {
  request = route,
  stream = function(opts, on_data)
    local resp, err, data = route(opts)
    if resp and resp.body ~= "" then
      on_data(resp.body, resp)
      -- as kubelua.async: what went to on_data is not in the body too
      local copy = {}
      for k, v in pairs(resp) do copy[k] = v end
      copy.body = ""
      resp = copy
    end
    if data then on_data(data, {}) end
    return resp, err
  end,
  now = function() return clock end,
  sleep = function(s) slept[#slept + 1] = s clock = clock + s end,
}

local k8s = require "kubelua"
local errors = k8s.errors

local function reset(r)
  sent, slept, routes = {}, {}, r or {}
end

local function client(opts)
  local o = { server = "https://api.test:6443", token = "fake-token-value",
    insecure_skip_tls_verify = true, retries = { max = 3, base = 0.1, cap = 1 } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(k8s.connect(o))
end

local CORE = answer(200, { kind = "APIResourceList", groupVersion = "v1", resources = json.array{
  { name = "configmaps", kind = "ConfigMap", namespaced = true },
  { name = "secrets", kind = "Secret", namespaced = true },
  { name = "serviceaccounts", kind = "ServiceAccount", namespaced = true },
} })

-- the warning about insecure-skip-tls-verify goes to stderr once; keep it out
local log = require "kubelua.log"
log.out = { write = function(self) return self end, flush = function() end }

t.test("answers that are not what an API server sends: BadResponse errors", function()
  local cases = {
    { "a 2xx whose JSON does not decode",
      { ["GET /api/v1"] = { CORE }, ["GET /api/v1/namespaces/default/configmaps/x"] = {
        answer(200, "{not json", { ["content-type"] = "application/json" }) } },
      function(c) return c:get("v1", "ConfigMap", "x") end,
      "^Error from server %(BadResponse%): cannot decode the server's JSON response: " },
    { "a 2xx that is not JSON",
      { ["GET /api/v1"] = { CORE },
        ["GET /api/v1/namespaces/default/configmaps/x"] = { answer(200, "hello") } },
      function(c) return c:get("v1", "ConfigMap", "x") end,
      "^Error from server %(BadResponse%): the server answered 200 to configmaps without a "
        .. "JSON object$" },
    { "discovery that is not an APIResourceList",
      { ["GET /apis/example.com/v1"] = { answer(200, "<html>") } },
      function(c) return c:get("example.com/v1", "Widget", "w") end,
      "^Error from server %(BadResponse%): discovery of /apis/example.com/v1 returned no "
        .. "APIResourceList$" },
    { "no SelfSubjectReview in any version", {},
      function(c) return c:whoami() end,
      "^Error from server %(NotFound%): the selfsubjectreviews API is not enabled in the "
        .. "cluster$" },
    { "a TokenRequest answer without a token",
      { ["POST /api/v1/namespaces/ns/serviceaccounts/sa/token"] = {
        answer(201, { kind = "TokenRequest", status = {} }) } },
      function(c) return c:token_request("ns", "sa") end,
      "^Error from server %(BadResponse%): failed to create token: no token in server "
        .. "response$" },
  }
  for _, case in ipairs(cases) do
    reset(case[2])
    local v, err = case[3](client())
    t.eq(v, nil, case[1])
    t.eq(err.reason, case[1]:find("any version") and "NotFound" or "BadResponse", case[1])
    t.ok(tostring(err):find(case[4]), case[1] .. ": " .. tostring(err))
  end
end)

t.test("service_account_token: a token or ca.crt that is not base64", function()
  local sa = { kind = "ServiceAccount", apiVersion = "v1",
    metadata = { name = "sa", namespace = "ns", uid = "u-1" } }
  local function secret(data)
    return { kind = "Secret", apiVersion = "v1", type = "kubernetes.io/service-account-token",
      metadata = { name = "sa-token", namespace = "ns", resourceVersion = "5", annotations = {
        ["kubernetes.io/service-account.name"] = "sa",
        ["kubernetes.io/service-account.uid"] = "u-1" } }, data = data }
  end
  local rows = {
    { { token = "!!!", ["ca.crt"] = base64.encode("ca") }, "data.token" },
    { { token = base64.encode("tok.en.x"), ["ca.crt"] = "%%%" }, 'data["ca.crt"]' },
  }
  for _, row in ipairs(rows) do
    local s = secret(row[1])
    reset({
      ["GET /api/v1"] = { CORE },
      ["GET /api/v1/namespaces/ns/serviceaccounts/sa"] = { answer(200, sa) },
      ["GET /api/v1/namespaces/ns/secrets/sa-token"] = { answer(200, s) },
      ["GET /api/v1/namespaces/ns/secrets"] = { answer(200, { kind = "SecretList",
        metadata = { resourceVersion = "5" }, items = json.array{ s } }) },
    })
    local v, err = client():service_account_token("ns", "sa")
    t.eq(v, nil)
    t.eq(err.reason, "BadResponse")
    t.ok(tostring(err):find(("cannot decode %s of secret ns/sa-token: "):format(row[2]), 1, true),
      tostring(err))
  end
end)

t.test("retries: Retry-After is honoured and capped; each decision is exact", function()
  local c = client({ retries = { max = 4, base = 0.1, cap = 2 } })
  reset({ ["GET /api/v1/namespaces"] = {
    answer(429, { kind = "Status", code = 429, reason = "TooManyRequests", message = "slow" },
      { ["retry-after"] = "1" }),
    answer(503, "busy"),
    { transport = errors.new("transport", "empty reply", { curl = "GOT_NOTHING", code = 52 }) },
    answer(200, { kind = "NamespaceList", items = json.array{} }),
  } })
  local resp = assert(c:request{ path = "/api/v1/namespaces" })
  t.eq(resp.attempts, 4)
  t.eq(#slept, 3)
  t.ok(slept[1] >= 1 and slept[1] <= 1.2, "Retry-After 1 s (+<=20%): " .. slept[1])
  t.ok(slept[2] >= 0.1 and slept[2] <= 0.2, "backoff 2: " .. slept[2])
  t.ok(slept[3] >= 0.2 and slept[3] <= 0.4, "backoff 3: " .. slept[3])
  -- a Retry-After beyond the cap waits the cap
  reset({ ["GET /x"] = { answer(429, "later", { ["retry-after"] = "60" }), answer(200, {}) } })
  assert(c:request{ path = "/x" })
  t.ok(slept[1] >= 2 and slept[1] <= 2.4, "capped: " .. slept[1])
  -- the limit: max attempts, then the last error, with the count
  reset({ ["GET /x"] = { answer(503, "busy") } })
  local _, err = c:request{ path = "/x" }
  t.eq({ err.code, err.attempts, #sent }, { 503, 4, 4 })
  -- not retried: 4xx, 501, json-patch after an ambiguous failure, retry = false
  local no = {
    { "GET", answer(404, "nope") }, { "GET", answer(501, "no") },
    { "PATCH", answer(500, "oops"), "application/json-patch+json" },
  }
  for _, n in ipairs(no) do
    reset({ [n[1] .. " /x"] = { n[2] } })
    c:request{ method = n[1], path = "/x", body = n[3] and "[]" or nil, content_type = n[3] }
    t.eq(#sent, 1, n[1] .. " " .. n[2].status)
  end
  reset({ ["GET /x"] = { answer(503, "busy") } })
  c:request{ path = "/x", retry = false }
  t.eq(#sent, 1)
end)

t.test("log masking: a client's credentials are registered once and leave with it", function()
  local klog = k8s.log
  collectgarbage() collectgarbage()
  local base, sorts = klog.secret_count(), klog._sorts
  local c = client({ token = "per-client-token-0123456789" })
  reset({ ["GET /x"] = { answer(200, {}) } })
  for _ = 1, 50 do assert(c:request{ path = "/x" }) end
  t.eq(#sent, 50)
  t.eq(sent[1].headers.Authorization or sent[1].headers.authorization,
    "Bearer per-client-token-0123456789")
  t.eq(klog.secret_count(), base + 2)
  t.eq(klog.scrub("t=per-client-token-0123456789"), "t=<masked>")
  for _ = 1, 50 do assert(c:request{ path = "/x" }) end
  t.eq({ klog.secret_count(), klog._sorts }, { base + 2, sorts + 1 })
  -- 200 clients, one request each, then collected: the registry is back
  local many = {}
  for i = 1, 200 do
    many[i] = client({ token = ("short-lived-token-%04d"):format(i) })
    assert(many[i]:request{ path = "/x" })
  end
  t.eq(klog.secret_count(), base + 2 + 400)
  c, many = nil, nil -- luacheck: ignore 311 (dropped for the collector)
  collectgarbage() collectgarbage()
  t.eq(klog.secret_count(), base)
  t.eq(klog.scrub("t=per-client-token-0123456789"), "t=per-client-token-0123456789")
end)

t.test("retries: a refused connection or unresolvable host is retried once, quickly", function()
  local c = client({ retries = { max = 11, base = 0.2, cap = 5 } })
  local refused = { transport = errors.new("transport", "refused",
    { curl = "COULDNT_CONNECT", code = 7 }) }
  local nodns = { transport = errors.new("transport", "no such host",
    { curl = "COULDNT_RESOLVE_HOST", code = 6 }) }
  for _, e in ipairs({ refused, nodns }) do
    for _, m in ipairs({ "GET", "POST" }) do
      reset({ [m .. " /x"] = { e } })
      local r, err = c:request{ method = m, path = "/x", body = m == "POST" and "{}" or nil }
      t.eq(r, nil)
      t.eq({ err.curl, err.attempts, #sent, slept }, { e.transport.curl, 2, 2, { 0.1 } }, m)
    end
  end
  -- a server that comes back within the quick retry is used
  reset({ ["GET /x"] = { refused, answer(200, {}) } })
  t.eq(assert(c:request{ path = "/x" }).attempts, 2)
  -- a watch that cannot connect when it starts fails at once (its list)
  reset({ ["GET /api/v1"] = { CORE }, ["GET /api/v1/namespaces/ns/configmaps"] = { refused } })
  local ok, werr = c:watch("v1", "ConfigMap", { namespace = "ns" }, function() end)
  t.eq({ ok, werr.curl, #slept }, { nil, "COULDNT_CONNECT", 1 })
end)

t.test("retries: a create whose answer was lost is recognised by its creation time", function()
  local c = client()
  local obj = { kind = "ConfigMap", apiVersion = "v1", metadata = { name = "cm", namespace =
    "default", creationTimestamp = "2026-11-28T10:00:00Z", uid = "u-new" } }
  local exists = answer(409, { kind = "Status", code = 409, reason = "AlreadyExists",
    message = 'configmaps "cm" already exists' },
    { date = "Sat, 28 Nov 2026 10:00:01 GMT" })
  local dropped = { transport = errors.new("transport", "empty reply",
    { curl = "GOT_NOTHING", code = 52 }) }
  reset({ ["GET /api/v1"] = { CORE },
    ["POST /api/v1/namespaces/default/configmaps"] = { dropped, exists },
    ["GET /api/v1/namespaces/default/configmaps/cm"] = { answer(200, obj) } })
  local got = assert(c:create({ apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = "cm" } }))
  t.eq(got.metadata.uid, "u-new")
  -- an object created long before our first attempt is someone else's: AlreadyExists stands
  obj.metadata.creationTimestamp = "2026-11-28T09:00:00Z"
  reset({ ["GET /api/v1"] = { CORE },
    ["POST /api/v1/namespaces/default/configmaps"] = { dropped, exists },
    ["GET /api/v1/namespaces/default/configmaps/cm"] = { answer(200, obj) } })
  local v, err = c:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = "cm" } })
  t.eq(v, nil)
  t.eq(tostring(err), 'Error from server (AlreadyExists): configmaps "cm" already exists')
  t.eq(err.retried_create, true)
  -- a first AlreadyExists (nothing ambiguous before it) is never looked into
  reset({ ["GET /api/v1"] = { CORE }, ["POST /api/v1/namespaces/default/configmaps"] = { exists } })
  local _, e2 = c:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = "cm" } })
  t.eq(e2.retried_create, nil)
  t.eq(#sent, 1) -- the POST alone (discovery is cached)
  -- a generateName create is not resent after an ambiguous failure (it would duplicate)
  reset({ ["GET /api/v1"] = { CORE },
    ["POST /api/v1/namespaces/default/configmaps"] = { dropped, answer(201, obj) } })
  local _, e3 = c:create({ apiVersion = "v1", kind = "ConfigMap",
    metadata = { generateName = "cm-" } })
  t.eq(e3.curl, "GOT_NOTHING")
  -- a DELETE whose answer was lost and whose retry meets 404: it was ours
  reset({ ["GET /api/v1"] = { CORE },
    ["DELETE /api/v1/namespaces/default/configmaps/cm"] = { dropped, answer(404, "gone") } })
  local d = assert(c:delete("v1", "ConfigMap", "cm"))
  t.eq(d.kind, "Status")
end)

t.test("401: a token file that changed is re-read and the request retried once", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("old-token-value\n")
  f:close()
  local kc = os.tmpname()
  f = assert(io.open(kc, "w"))
  f:write(json.encode({ ["current-context"] = "c",
    clusters = json.array{ { name = "c", cluster = { server = "https://api.test:6443",
      ["insecure-skip-tls-verify"] = true } } },
    users = json.array{ { name = "u", user = { tokenFile = path } } },
    contexts = json.array{ { name = "c", context = { cluster = "c", user = "u" } } } }))
  f:close()
  local c = assert(k8s.connect{ kubeconfig = kc })
  reset({ ["GET /x"] = { function()
    -- the token rotates while the request is in flight
    local w = assert(io.open(path, "w"))
    w:write("new-token-value\n")
    w:close()
    return answer(401, { kind = "Status", code = 401, reason = "Unauthorized",
      message = "Unauthorized" })
  end, answer(200, {}) } })
  assert(c:request{ path = "/x" })
  t.eq(#sent, 2)
  t.eq(sent[1].headers.Authorization, "Bearer old-token-value")
  t.eq(sent[2].headers.Authorization, "Bearer new-token-value")
  -- an unchanged file: no retry, the 401 says what was rejected
  reset({ ["GET /x"] = { answer(401, { kind = "Status", code = 401, reason = "Unauthorized",
    message = "Unauthorized" }) } })
  local _, err = c:request{ path = "/x" }
  t.eq(#sent, 1)
  t.eq(tostring(err), ("error: You must be logged in to the server (Unauthorized); the server "
    .. "rejected bearer token from file %s (re-read as it rotates) (scripts/diagnose.lua "
    .. "explains why)"):format(path))
  os.remove(path)
  os.remove(kc)
end)

t.test("watch: an undecodable event and an ERROR event are errors with the server's words",
function()
  local c = client()
  local function stream(body)
    return function(opts)
      if opts.url:find("watch=true", 1, true) then
        return answer(200, body, { ["content-type"] = "application/json" })
      end
      return answer(200, { kind = "ConfigMapList", metadata = { resourceVersion = "7" },
        items = json.array{} })
    end
  end
  local cases = {
    { "not json\n", "^Error from server %(BadResponse%): cannot decode a watch event: " },
    { json.encode({ type = "ERROR", object = { kind = "Status", code = 500,
      reason = "InternalError", message = "etcd is sad" } }) .. "\n",
      "^Error from server %(InternalError%): etcd is sad$" },
  }
  for _, case in ipairs(cases) do
    reset({ ["GET /api/v1"] = { CORE },
      ["GET /api/v1/namespaces/default/configmaps"] = { stream(case[1]) } })
    local ok, err = c:watch("v1", "ConfigMap", { resource_version = "7" }, function() end)
    t.eq(ok, nil)
    t.ok(tostring(err):find(case[2]), tostring(err))
  end
end)

t.test("service_account_token: why the token controller deleted the Secret", function()
  local function sa(uid)
    return answer(200, { kind = "ServiceAccount", apiVersion = "v1",
      metadata = { name = "sa", namespace = "ns", uid = uid } })
  end
  local unfilled = { kind = "Secret", apiVersion = "v1",
    type = "kubernetes.io/service-account-token",
    metadata = { name = "sa-token", namespace = "ns", resourceVersion = "5",
      annotations = { ["kubernetes.io/service-account.name"] = "sa" } } }
  local notfound = answer(404, { kind = "Status", code = 404, reason = "NotFound",
    message = 'secrets "sa-token" not found' })
  local rows = {
    { { sa("u-1"), sa("u-2") }, "serviceaccount ns/sa was re-created (uid changed)" },
    { { sa("u-1"), notfound }, "serviceaccount ns/sa no longer exists" },
    { { sa("u-1") }, "its service account annotation did not match a live ServiceAccount" },
  }
  for _, row in ipairs(rows) do
    reset({
      ["GET /api/v1"] = { CORE },
      ["GET /api/v1/namespaces/ns/serviceaccounts/sa"] = row[1],
      ["GET /api/v1/namespaces/ns/secrets/sa-token"] = { notfound },
      ["PATCH /api/v1/namespaces/ns/secrets/sa-token"] = { answer(201, unfilled) },
      ["GET /api/v1/namespaces/ns/secrets"] = { function(opts)
        if opts.url:find("watch=true", 1, true) then
          return answer(200, json.encode({ type = "DELETED", object = unfilled }) .. "\n",
            { ["content-type"] = "application/json" })
        end
        return answer(200, { kind = "SecretList", metadata = { resourceVersion = "5" },
          items = json.array{ unfilled } })
      end },
    })
    local v, err = client():service_account_token("ns", "sa")
    t.eq(v, nil)
    t.eq(tostring(err), "Error from server (NotFound): the token controller deleted secret "
      .. "ns/sa-token: " .. row[2])
  end
end)

t.test("objects without metadata (a broken server) never make a method raise", function()
  local bare = answer(200, { kind = "ServiceAccount", apiVersion = "v1" })
  reset({ ["GET /api/v1"] = { CORE },
    ["GET /api/v1/namespaces/ns/serviceaccounts/sa"] = { bare },
    ["GET /api/v1/namespaces/ns/secrets/sa-token"] = { answer(200, { kind = "Secret" }) },
    ["GET /api/v1/namespaces/default/configmaps"] = { answer(200, { kind = "ConfigMapList",
      items = json.array{ { data = { a = "b" } } } }) } })
  local c = client()
  local obj = assert(c:get("v1", "ServiceAccount", "sa", { namespace = "ns" }))
  t.eq(obj.metadata, {})
  local items = assert(c:list("v1", "ConfigMap"))
  t.eq(items[1].metadata, {})
  local ok, v, err = pcall(c.service_account_token, c, "ns", "sa")
  t.ok(ok, tostring(v))
  t.eq(v, nil)
  t.eq(tostring(err), 'error: secret ns/sa-token exists with type "nil", not '
    .. "kubernetes.io/service-account-token")
end)

-- kubesim has no CRDs (see the audit notes), so the CRD life cycle is
-- scripted here: a group-version that appears, then a kind added to it
t.test("discovery: a CRD installed after the first lookup is found (group, then kind)", function()
  local c = client()
  local function list(...)
    local res = {}
    for i, r in ipairs({ ... }) do
      res[i] = { name = r[1], kind = r[2], namespaced = r[3], verbs = json.array{ "get" } }
    end
    return answer(200, { kind = "APIResourceList", groupVersion = "example.com/v1",
      resources = json.array(res) })
  end
  local widget = answer(200, { apiVersion = "example.com/v1", kind = "Widget",
    metadata = { name = "w", namespace = "default" } })
  reset({ ["GET /apis/example.com/v1"] = { answer(404, "404 page not found") } })
  local _, e1 = c:get("example.com/v1", "Widget", "w")
  t.eq(tostring(e1), 'Error from server (NoKindMatch): no matches for kind "Widget" in version '
    .. '"example.com/v1" (ensure CRDs are installed first)')
  -- the CRD is installed: the group-version now exists
  reset({ ["GET /apis/example.com/v1"] = { list({ "widgets", "Widget", true }) },
    ["GET /apis/example.com/v1/namespaces/default/widgets/w"] = { widget } })
  local w = assert(c:get("example.com/v1", "Widget", "w"))
  t.eq({ w.kind, w.metadata.name }, { "Widget", "w" })
  t.eq(#sent, 2) -- the cached entry misses: one refresh, then the GET
  -- a second CRD in the same group: the cached group-version is refreshed once
  reset({ ["GET /apis/example.com/v1"] = { list({ "widgets", "Widget", true },
    { "gadgets", "Gadget", false }) },
    ["GET /apis/example.com/v1/gadgets/g"] = { answer(200, { kind = "Gadget",
      apiVersion = "example.com/v1", metadata = { name = "g" } }) },
    ["GET /apis/example.com/v1/namespaces/default/widgets/w"] = { widget } })
  assert(c:get("example.com/v1", "Gadget", "g", { namespace = "ignored-cluster-scoped" }))
  t.eq({ sent[1].path, sent[2].path }, { "/apis/example.com/v1", "/apis/example.com/v1/gadgets/g" })
  assert(c:get("example.com/v1", "Widget", "w")) -- still cached: no discovery request
  t.eq(#sent, 3)
  t.eq(sent[3].path, "/apis/example.com/v1/namespaces/default/widgets/w")
end)

t.test("retries: client-go's count by default (11 attempts), and its Retry-After rule", function()
  -- the default policy: ten 503s in a row are ridden out, eleven are not
  local c = assert(k8s.connect{ server = "https://api.test:6443", token = "fake-token-value",
    insecure_skip_tls_verify = true })
  t.eq(c.retries, { max = 11, base = 0.2, cap = 5 })
  local busy = answer(503, { kind = "Status", code = 503, reason = "ServiceUnavailable",
    message = "busy" })
  local list = {}
  for i = 1, 10 do list[i] = busy end
  list[11] = answer(200, { kind = "NamespaceList", items = json.array{} })
  reset({ ["GET /api/v1/namespaces"] = list })
  t.eq(assert(c:request{ path = "/api/v1/namespaces" }).attempts, 11)
  t.eq(#slept, 10)
  t.ok(slept[10] >= 2.5 and slept[10] <= 5, "capped backoff: " .. slept[10])
  reset({ ["GET /api/v1/namespaces"] = { busy } })
  local _, err = c:request{ path = "/api/v1/namespaces" }
  t.eq({ err.code, err.attempts, #sent }, { 503, 11, 11 })
  -- a generateName create (never resent blindly: it would duplicate) is
  -- retried when the server asks with a Retry-After header, as client-go
  -- does for every verb; a retryAfterSeconds in the Status alone is not that
  local gen = { method = "POST", path = "/api/v1/namespaces/default/configmaps",
    body = { metadata = { generateName = "cm-" } } }
  local rows = {
    { "503 + Retry-After", answer(503, "busy", { ["retry-after"] = "2" }), 2 },
    { "500 + Retry-After", answer(500, "oops", { ["retry-after"] = "1" }), 2 },
    { "429 without Retry-After", answer(429, "slow"), 2 },
    { "503 without Retry-After", answer(503, "busy"), 1 },
    { "504 with details.retryAfterSeconds only", answer(504, { kind = "Status", code = 504,
      reason = "Timeout", message = "later", details = { retryAfterSeconds = 1 } }), 1 },
  }
  for _, row in ipairs(rows) do
    reset({ ["POST /api/v1/namespaces/default/configmaps"] = { row[2],
      answer(201, { kind = "ConfigMap", metadata = { name = "cm-x" } }) } })
    local resp = c:request(gen)
    t.eq(#sent, row[3], row[1])
    t.eq(resp ~= nil, row[3] == 2, row[1])
  end
  -- a Retry-After beyond the cap waits the cap (5 s by default), jitter included
  reset({ ["POST /api/v1/namespaces/default/configmaps"] = {
    answer(503, "busy", { ["retry-after"] = "30" }), answer(201, {}) } })
  assert(c:request(gen))
  t.ok(slept[1] >= 5 and slept[1] <= 6, "capped Retry-After: " .. slept[1])
end)

-- A scripted watch: the list answers rv 7; each watch request takes the
-- next answer of `watches` and its resourceVersion is recorded.
local function watch_routes(watches, items)
  local rvs = {}
  local routes_ = { ["GET /api/v1"] = { CORE },
    ["GET /api/v1/namespaces/default/configmaps"] = { function(opts)
      if not opts.url:find("watch=true", 1, true) then
        return answer(200, { kind = "ConfigMapList", metadata = { resourceVersion = "7" },
          items = json.array(items or {}) })
      end
      rvs[#rvs + 1] = opts.url:match("resourceVersion=(%d+)") or "none"
      return table.remove(watches, 1) or answer(500, "script ran out")
    end } }
  return routes_, rvs
end

local function ev(etype, name, rv)
  return json.encode({ type = etype, object = { kind = "ConfigMap", apiVersion = "v1",
    metadata = { name = name, namespace = "default", resourceVersion = rv } } }) .. "\n"
end

local function stream_of(body)
  return answer(200, body, { ["content-type"] = "application/json" })
end

t.test("watch: a stream cut mid-event, 429 and 503 resume from the last event, once each",
function()
  local c = client({ retries = { max = 4, base = 0.1, cap = 1 } })
  local cut = ev("ADDED", "b", "9")
  local dropped = errors.new("transport", "connection dropped: transfer closed with outstanding "
    .. "read data remaining", { curl = "PARTIAL_FILE", code = 18 })
  local routes_, rvs = watch_routes({
    -- 1: one event, then half of the next and the connection drops
    { transport = dropped, data = ev("ADDED", "a", "8") .. cut:sub(1, 20) },
    -- 2, 3: the watch request itself meets 503, then 429 (Retry-After 1)
    answer(503, { kind = "Status", code = 503, reason = "ServiceUnavailable", message = "busy" }),
    answer(429, { kind = "Status", code = 429, reason = "TooManyRequests", message = "slow" },
      { ["retry-after"] = "1" }),
    -- 4: the stream ends cleanly, but in the middle of its last line
    stream_of(cut .. ev("MODIFIED", "a", "10"):sub(1, 30)),
    -- 5: the rest
    stream_of(ev("MODIFIED", "a", "10") .. ev("DELETED", "b", "11")),
  })
  reset(routes_)
  local seen = {}
  local ok, err = c:watch("v1", "ConfigMap", { resource_version = "7" }, function(etype, obj)
    seen[#seen + 1] = etype .. " " .. obj.metadata.name .. " " .. obj.metadata.resourceVersion
    return etype ~= "DELETED"
  end)
  t.eq(ok, true, tostring(err))
  t.eq(seen, { "ADDED a 8", "ADDED b 9", "MODIFIED a 10", "DELETED b 11" })
  t.eq(rvs, { "7", "8", "8", "8", "9" })
  t.ok(slept[3] >= 1 and slept[3] <= 1.2, "Retry-After honoured: " .. tostring(slept[3]))
end)

t.test("watch: failures in a row are bounded by retries.max; progress resets the count",
function()
  local c = client({ retries = { max = 3, base = 0.1, cap = 1 } })
  local busy = answer(503, { kind = "Status", code = 503, reason = "ServiceUnavailable",
    message = "busy" })
  local dropped = errors.new("transport", "connection dropped", { curl = "RECV_ERROR", code = 56 })
  -- two failures, an event then a drop (progress: the count starts again),
  -- one more failure, the end
  local routes_, rvs = watch_routes({ busy, busy, { transport = dropped,
    data = ev("ADDED", "a", "8") }, busy, stream_of(ev("DELETED", "a", "9")) })
  reset(routes_)
  local n = 0
  assert(c:watch("v1", "ConfigMap", { resource_version = "7" }, function()
    n = n + 1
    return n < 2
  end))
  t.eq(rvs, { "7", "7", "7", "8", "8" })
  -- three in a row: the last error, with the server's words
  routes_, rvs = watch_routes({ busy, busy, busy, stream_of(ev("ADDED", "a", "8")) })
  reset(routes_)
  local ok, err = c:watch("v1", "ConfigMap", { resource_version = "7" }, function() end)
  t.eq(ok, nil)
  t.eq(tostring(err), "Error from server (ServiceUnavailable): busy")
  t.eq(#rvs, 3)
  -- streams that keep ending mid-event: the last one's error says so
  local half = ev("ADDED", "a", "8"):sub(1, 20)
  routes_, rvs = watch_routes({ stream_of(half), stream_of(half), stream_of(half) })
  reset(routes_)
  ok, err = c:watch("v1", "ConfigMap", { resource_version = "7" }, function() end)
  t.eq({ ok, err.kind, err.curl, #rvs }, { nil, "transport", "PARTIAL_FILE", 3 })
  t.eq(tostring(err), "Unable to connect to the server api.test:6443: the watch stream ended "
    .. "in the middle of an event (20 bytes)")
  -- not retried: a 403 on the watch
  routes_, rvs = watch_routes({ answer(403, { kind = "Status", code = 403, reason = "Forbidden",
    message = "no" }) })
  reset(routes_)
  ok, err = c:watch("v1", "ConfigMap", { resource_version = "7" }, function() end)
  t.eq({ ok, err.code, #rvs }, { nil, 403, 1 })
end)

t.test("watch: without resource_version it lists first, so even the first stream resumes",
function()
  local c = client()
  local a = { kind = "ConfigMap", apiVersion = "v1",
    metadata = { name = "a", namespace = "default", resourceVersion = "5" } }
  local dropped = errors.new("transport", "connection dropped", { curl = "GOT_NOTHING", code = 52 })
  -- the first stream fails before its first event: it resumes from the list's 7
  local routes_, rvs = watch_routes({ { transport = dropped },
    stream_of(ev("MODIFIED", "a", "8")) }, { a })
  reset(routes_)
  local seen = {}
  assert(c:watch("v1", "ConfigMap", {}, function(etype, obj)
    seen[#seen + 1] = etype .. " " .. obj.metadata.resourceVersion
    return etype ~= "MODIFIED"
  end))
  t.eq(seen, { "ADDED 5", "MODIFIED 8" })
  t.eq(rvs, { "7", "7" })
  -- the callback stopping on an ADDED of the list: no watch at all
  routes_, rvs = watch_routes({}, { a })
  reset(routes_)
  t.eq(c:watch("v1", "ConfigMap", {}, function() return false end), true)
  t.eq(#rvs, 0)
end)
