-- Pure parts of the client: error objects and their kubectl-like printing,
-- query encoding, backoff, retry decisions, time parsing, resource parsing.
local t = require "testlib"
local errors = require "kubelua.errors"
local client = require "kubelua.client"
local discovery = require "kubelua.discovery"
local json = require "kubelua.json"

local function status(code, reason, message, details)
  return { kind = "Status", apiVersion = "v1", metadata = {}, status = "Failure",
    code = code, reason = reason, message = message, details = details }
end

local req = { method = "GET", url = "https://127.0.0.1:6443/api/v1/namespaces/x" }

t.test("from_response keeps the server's Status words", function()
  local cases = {
    { 403, "Forbidden", 'secrets is forbidden: User "u" cannot list resource "secrets"',
      'Error from server (Forbidden): secrets is forbidden: User "u" cannot list resource '
        .. '"secrets"' },
    { 404, "NotFound", 'namespaces "nope" not found',
      'Error from server (NotFound): namespaces "nope" not found' },
    { 409, "AlreadyExists", 'configmaps "x" already exists',
      'Error from server (AlreadyExists): configmaps "x" already exists' },
    { 409, "Conflict", 'Operation cannot be fulfilled on configmaps "x": stale',
      'Error from server (Conflict): Operation cannot be fulfilled on configmaps "x": stale' },
    { 401, "Unauthorized", "Unauthorized",
      "error: You must be logged in to the server (Unauthorized)" },
    { 500, "InternalError", "Internal error occurred: boom",
      "Error from server (InternalError): Internal error occurred: boom" },
  }
  for _, c in ipairs(cases) do
    local resp = { status = c[1], headers = { ["audit-id"] = "abc" } }
    local e = errors.from_response(req, resp, status(c[1], c[2], c[3], { name = "x" }))
    t.eq(tostring(e), c[4])
    t.eq(e.kind, "api")
    t.eq(e.code, c[1])
    t.eq(e.reason, c[2])
    t.eq(e.message, c[3])
    t.eq(e.details, { name = "x" })
    t.eq(e.audit_id, "abc")
    t.eq(e.method, "GET")
    t.eq(e.url, req.url)
    t.ok(errors.is(e, c[2]), "is " .. c[2])
    t.ok(errors.is(e, c[1]), "is code")
    t.ok(errors.is(e, "api"), "is kind")
    t.ok(not errors.is(e, "Gone"))
    t.ok(errors.is_error(e))
  end
end)

t.test("401 with a hint stays on one line", function()
  local e = errors.from_response(req, { status = 401, headers = {} },
    status(401, "Unauthorized", "Unauthorized"))
  e.hint = 'the server rejected token of user "admin"'
  t.eq(tostring(e), 'error: You must be logged in to the server (Unauthorized); '
    .. 'the server rejected token of user "admin"')
end)

t.test("non-Status bodies: reason from the code, like kubectl", function()
  local cases = {
    { 404, "404 page not found\n", "NotFound", "404 page not found" },
    { 404, "", "NotFound", "the server could not find the requested resource" },
    { 409, "<html>x</html>", "AlreadyExists", "the server reported a conflict" },
    { 403, "", "Forbidden", "forbidden" },
    { 429, "Too many requests, please try again later.", "TooManyRequests",
      "Too many requests, please try again later." },
    { 502, "", "InternalError",
      "an error on the server has prevented the request from succeeding" },
    { 418, "", "BadRequest", "the server rejected our request for an unknown reason" },
  }
  for _, c in ipairs(cases) do
    local e = errors.from_response(req, { status = c[1], headers = { ["retry-after"] = "3" },
      body = c[2] }, nil)
    t.eq(e.reason, c[3], "reason for " .. c[1])
    t.eq(e.message, c[4], "message for " .. c[1])
    t.eq(e.retry_after, 3)
  end
end)

t.test("retryAfterSeconds in details becomes retry_after", function()
  local e = errors.from_response(req, { status = 429, headers = {} },
    status(429, "TooManyRequests", "slow down", { retryAfterSeconds = 2 }))
  t.eq(e.retry_after, 2)
end)

t.test("watch ERROR Status becomes an error", function()
  local e = errors.from_status(status(410, "Expired", "too old resource version: 5 (90)"))
  t.eq(tostring(e), "Error from server (Expired): too old resource version: 5 (90)")
  t.eq(e.code, 410)
end)

t.test("transport errors print like kubectl", function()
  local refused = errors.transport({ kind = "transport", code = 7, curl = "COULDNT_CONNECT",
    message = "connection refused: Failed to connect to 127.0.0.1 port 1" },
    { method = "GET", url = "https://127.0.0.1:1/api" })
  t.eq(tostring(refused), "The connection to the server 127.0.0.1:1 was refused - did you "
    .. "specify the right host or port? (connection refused: Failed to connect to 127.0.0.1 "
    .. "port 1)")
  t.eq(refused.method, "GET")
  t.ok(errors.is(refused, "transport"))
  local tls = errors.transport({ code = 60, curl = "PEER_FAILED_VERIFICATION",
    message = "TLS certificate verification failed:\nunknown CA" }, { url = "https://h:6443/x" })
  t.eq(tostring(tls), "Unable to connect to the server h:6443: TLS certificate verification "
    .. "failed: unknown CA")
  local slow = errors.transport({ code = 28, curl = "OPERATION_TIMEDOUT", message = "timed out" },
    { url = "https://h/x" })
  t.eq(slow.kind, "timeout")
  t.eq(tostring(slow), "error: timed out")
  t.ok(errors.is(slow, "timeout"))
end)

t.test("other kinds and wrap", function()
  t.eq(tostring(errors.usage("get: name must be a string")), "error: get: name must be a string")
  t.eq(tostring(errors.config("kubeconfig /x: bad")), "error: kubeconfig /x: bad")
  t.eq(tostring(errors.timeout("timed out waiting")), "error: timed out waiting")
  local w = errors.wrap("plain\nstring", "config")
  t.eq(w.kind, "config")
  t.eq(w.message, "plain string")
  local tbl = errors.wrap({ message = "m" })
  t.eq(getmetatable(tbl), errors.Error)
  t.eq(tbl.kind, "transport")
  t.ok(not errors.is(nil, "NotFound"))
  t.ok(not errors.is("NotFound", "NotFound"))
end)

t.test("the class is shared with C (registry kubelua.Error)", function()
  t.eq(debug.getregistry()["kubelua.Error"], errors.Error)
  t.eq(errors.Error.__name, "kubelua.Error")
end)

t.test("encode_query: sorted, escaped, lists repeat", function()
  local cases = {
    { nil, "" },
    { {}, "" },
    { { b = "2", a = "1" }, "a=1&b=2" },
    { { fieldSelector = "metadata.name=x" }, "fieldSelector=metadata.name%3Dx" },
    { { labelSelector = "app in (a,b)" }, "labelSelector=app%20in%20%28a%2Cb%29" },
    { { watch = true, limit = 500 }, "limit=500&watch=true" },
    { { dryRun = { "All", "x" } }, "dryRun=All&dryRun=x" },
    { { f = 1.0 }, "f=1" },
    { { s = "a~b_c.d-e" }, "s=a~b_c.d-e" },
  }
  for _, c in ipairs(cases) do t.eq(client.encode_query(c[1]), c[2]) end
  local bad = {
    { { [1] = "x" }, "query keys must be strings, got number" },
    { { a = function() end },
      'query value for "a" must be a string, number or boolean, got function' },
    { 5, "query must be a table, got number" },
  }
  for _, c in ipairs(bad) do
    local v, err = client.encode_query(c[1])
    t.eq(v, nil)
    t.eq(err.kind, "usage")
    t.eq(err.message, c[2])
  end
end)

t.test("escape_segment keeps ':' and escapes '/'", function()
  t.eq(client.escape_segment("system:basic-user"), "system:basic-user")
  t.eq(client.escape_segment("a/b c"), "a%2Fb%20c")
end)

t.test("parse_url", function()
  t.eq(client.parse_url("https://127.0.0.1:6443"),
    { scheme = "https", host = "127.0.0.1", port = "6443", path = "" })
  t.eq(client.parse_url("https://k8s.example/prefix/"),
    { scheme = "https", host = "k8s.example", port = "443", path = "/prefix/" })
  t.eq(client.parse_url("http://[::1]:8080"),
    { scheme = "http", host = "[::1]", port = "8080", path = "" })
  t.eq(client.parse_url("not a url"), nil)
  t.eq(client.parse_url("https://"), nil)
end)

t.test("backoff: capped exponential with equal jitter; Retry-After wins", function()
  local p = { base = 0.2, cap = 5 }
  local lo = function() return 0 end
  local hi = function() return 1 end
  local cases = {
    -- attempt, rand, want
    { 1, lo, 0.1 }, { 1, hi, 0.2 }, { 2, lo, 0.2 }, { 2, hi, 0.4 },
    { 3, hi, 0.8 }, { 6, hi, 5 }, { 10, lo, 2.5 }, { 10, hi, 5 },
  }
  for _, c in ipairs(cases) do
    local d = client.backoff(p, c[1], nil, c[2])
    t.ok(math.abs(d - c[3]) < 1e-9, ("attempt %d: want %g got %g"):format(c[1], c[3], d))
  end
  t.eq(client.backoff(p, 1, 1, lo), 1)
  t.ok(math.abs(client.backoff(p, 1, 1, hi) - 1.2) < 1e-9)
  t.eq(client.backoff(p, 1, 60, lo), 5) -- capped
  for _ = 1, 100 do
    local d = client.backoff(p, 3, nil)
    t.ok(d >= 0.4 and d <= 0.8, "jitter range " .. d)
  end
end)

t.test("should_retry: what is safe to send again", function()
  local function tr(curl) return { kind = "transport", curl = curl } end
  local function api(code, ra) return { kind = "api", code = code, retry_after = ra } end
  local get = { method = "GET" }
  local post = { method = "POST" }
  local post_gen = { method = "POST", generate_name = true }
  local jpatch = { method = "PATCH", content_type = "application/json-patch+json" }
  local mpatch = { method = "PATCH", content_type = "application/merge-patch+json" }
  local cases = {
    { get, tr("COULDNT_CONNECT"), true, false },
    { post_gen, tr("COULDNT_CONNECT"), true, false },
    { get, tr("GOT_NOTHING"), true, true },
    { post, tr("RECV_ERROR"), true, true },
    { post_gen, tr("RECV_ERROR"), false, true },
    { jpatch, tr("SEND_ERROR"), false, true },
    { mpatch, tr("SEND_ERROR"), true, true },
    { get, tr("PEER_FAILED_VERIFICATION"), false, false },
    { get, { kind = "timeout", curl = "OPERATION_TIMEDOUT" }, false, false },
    { post_gen, api(429, 1), true, false },
    { post, api(500), true, true },
    { post_gen, api(503), false, true },
    { get, api(503), true, true },
    { get, api(501), false, false },
    { get, api(404), false, false },
    { post, api(409), false, false },
    { { method = "DELETE" }, api(500), true, true },
  }
  for i, c in ipairs(cases) do
    local r, amb = client.should_retry(c[1], c[2])
    t.eq(r, c[3], "retry case " .. i)
    t.eq(amb, c[4], "ambiguous case " .. i)
  end
end)

t.test("should_retry: a refused connection or unresolvable host fails fast", function()
  local get, post = { method = "GET" }, { method = "POST" }
  local function tr(curl, code) return { kind = "transport", curl = curl, code = code } end
  local q = client.FAIL_FAST_DELAY
  t.eq(q, 0.1)
  local cases = {
    -- request, error, attempt that failed -> retry?, ambiguous?, delay
    { get, tr("COULDNT_CONNECT"), 1, { true, false, q } },
    { get, tr("COULDNT_CONNECT"), 2, { false, false } },
    { post, tr(nil, 7), 1, { true, false, q } },
    { post, tr(nil, 7), 2, { false, false } },
    { get, tr("COULDNT_RESOLVE_HOST"), nil, { true, false, q } },
    { get, tr("COULDNT_RESOLVE_HOST"), 2, { false, false } },
    { get, tr(nil, 6), 3, { false, false } },
    -- the others keep their retries
    { get, tr("COULDNT_RESOLVE_PROXY"), 5, { true, false } },
    { get, tr("SSL_CONNECT_ERROR"), 5, { true, false } },
    { get, tr("RECV_ERROR"), 5, { true, true } },
    { get, { kind = "api", code = 503 }, 5, { true, true } },
    { get, { kind = "api", code = 429 }, 9, { true, false } },
  }
  for i, c in ipairs(cases) do
    t.eq(table.pack(client.should_retry(c[1], c[2], c[3])), table.pack(table.unpack(c[4])),
      "case " .. i)
  end
  t.eq(client.fails_fast(tr("COULDNT_CONNECT")), true)
  t.eq(client.fails_fast(tr(nil, 6)), true)
  t.eq(client.fails_fast(tr("RECV_ERROR")), false)
  t.eq(client.fails_fast({ kind = "api", code = 7 }), false)
  t.eq(client.fails_fast(nil), false)
end)

t.test("parse_time: RFC 3339", function()
  t.eq(client.parse_time("1970-01-01T00:00:00Z"), 0)
  t.eq(client.parse_time("2024-05-01T10:00:00Z"), 1714557600)
  t.eq(client.parse_time("2024-05-01T12:00:00+02:00"), 1714557600)
  t.eq(client.parse_time("2024-05-01T10:00:00.123456Z"), 1714557600)
  t.eq(client.parse_time("2000-02-29T00:00:00Z"), 951782400)
  t.eq(client.parse_time("yesterday"), nil)
  t.eq(client.parse_time(nil), nil)
end)

t.test("Warning headers: text, printed once per client", function()
  t.eq(client.parse_warning('299 - "v1 Endpoints is deprecated; use \\"EndpointSlice\\""'),
    'v1 Endpoints is deprecated; use "EndpointSlice"')
  t.eq(client.parse_warning("not the usual shape"), "not the usual shape")
  local log = require "kubelua.log"
  local buf = {}
  local saved = log.out
  log.out = { write = function(self, ...)
    for _, v in ipairs({ ... }) do buf[#buf + 1] = v end
    return self
  end, flush = function() end }
  local c = assert(client.new({ server = "https://h", tls = {} }))
  c:_warn("deprecated")
  c:_warn("deprecated")
  c:_warn("other")
  log.out = saved
  t.eq(table.concat(buf), "Warning: deprecated\nWarning: other\n")
end)

t.test("parse_http_date", function()
  t.eq(client.parse_http_date("Sat, 28 Nov 2026 10:07:30 GMT"),
    client.parse_time("2026-11-28T10:07:30Z"))
  t.eq(client.parse_http_date("Wed, 01 May 2024 10:00:00 GMT"), 1714557600)
  t.eq(client.parse_http_date("yesterday"), nil)
  t.eq(client.parse_http_date("Sat, 28 Foo 2026 10:07:30 GMT"), nil)
end)

t.test("impersonation headers: one line per group", function()
  local h = client.impersonation_headers({ user = "u", groups = { "g1", "g2" }, uid = "42",
    extra = { ["Reason/Why"] = { "a", "b" }, scope = "x" } })
  t.eq(h["Impersonate-User"], "u")
  t.eq(h["Impersonate-Uid"], "42")
  t.eq(h["Impersonate-Group"], { "g1", "g2" })
  t.eq(h["Impersonate-Extra-reason%2Fwhy"], { "a", "b" })
  t.eq(h["Impersonate-Extra-scope"], "x")
  local single = client.impersonation_headers({ user = "u", groups = { "g" } })
  t.eq(single["Impersonate-Group"], "g")
  local none, err = client.impersonation_headers({ groups = { "g" } })
  t.eq(none, nil)
  t.eq(err.message, "requesting uid, groups or user-extra without impersonating a user")
end)

t.test("parse_resource like kubectl", function()
  local cases = {
    { "pods", "pods", nil, nil },
    { "deployments.apps", "deployments", "apps", nil },
    { "pods/log", "pods", nil, "log" },
    { "deployments.apps/scale", "deployments", "apps", "scale" },
    { "clusterroles.rbac.authorization.k8s.io", "clusterroles", "rbac.authorization.k8s.io", nil },
    { "*", "*", nil, nil },
  }
  for _, c in ipairs(cases) do
    local r, g, s = discovery.parse_resource(c[1])
    t.eq({ r, g, s }, { c[2], c[3], c[4] }, c[1])
  end
  t.eq(discovery.parse_resource(""), nil)
  t.eq({ discovery.split_api_version("v1") }, { "", "v1" })
  t.eq({ discovery.split_api_version("apps/v1") }, { "apps", "v1" })
  t.eq(discovery.split_api_version("a/b/c"), nil)
  t.eq(discovery.split_api_version(""), nil)
end)

t.test("connect rejects bad options before loading anything", function()
  local cases = {
    { 5, "connect: options must be a table, got number" },
    { { verbos = 6 }, 'connect: unknown option "verbos"' },
    { { verbose = 11 }, "connect: verbose must be a number from 0 to 10, got 11" },
    { { timeout = -1 }, "connect: timeout must be a number >= 0, got -1" },
    { { retries = 3 }, "connect: retries must be a table { max, base, cap }" },
    { { retries = { tries = 3 } }, 'connect: unknown retries option "tries"' },
    { { retries = { max = 0 } }, "connect: retries.max must be a number >= 1, got 0" },
    { { certificate_authority_data = 5 },
      "connect: certificate_authority_data must be a string, got number" },
    { { certificate_authority = "/x/ca.crt", certificate_authority_data = "-----BEGIN "
      .. "CERTIFICATE-----\n" }, "connect: certificate_authority and certificate_authority_data "
      .. "are both given; give one (a CA file or the PEM text)" },
    { { certificate_authority_data = "/x/ca.crt" }, "connect: certificate_authority_data: not "
      .. "a PEM certificate (no -----BEGIN CERTIFICATE----- line); give the PEM text itself, not "
      .. "a file name or base64" },
  }
  for _, c in ipairs(cases) do
    local cl, err = client.connect(c[1])
    t.eq(cl, nil)
    t.eq(err.kind, "usage")
    t.eq(err.message, c[2])
    t.eq(tostring(err), "error: " .. c[2])
  end
end)

t.test("connect: a bad kubeconfig is one config error naming the file", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("apiVersion: v1\nkind: Config\ncurrent-context: nope\n")
  f:close()
  local cl, err = client.connect{ kubeconfig = path }
  os.remove(path)
  t.eq(cl, nil)
  t.eq(err.kind, "config")
  t.contains(err.message, path)
  t.ok(not tostring(err):find("\n"), "one line")
end)

t.test("request builds URL, headers and body; bad input is a usage error", function()
  local c = assert(client.new({ server = "https://h:6443/", namespace = "ns", tls = {} }))
  t.eq(c.server, "https://h:6443")
  t.eq(c.namespace, "ns")
  t.eq(tostring(c), "kubelua.Client: https://h:6443 (namespace ns)")
  local r = assert(c:_build{ method = "POST", path = "/api/v1/namespaces",
    query = { dryRun = "All", fieldManager = "me" }, body = { metadata = { name = "x" } } })
  t.eq(r.url, "https://h:6443/api/v1/namespaces?dryRun=All&fieldManager=me")
  t.eq(r.body, json.encode({ metadata = { name = "x" } }))
  t.eq(r.headers["Content-Type"], "application/json")
  t.eq(r.headers.Accept, "application/json")
  t.eq(r.headers["User-Agent"], "kubelua/" .. client.VERSION)
  t.eq(r.generate_name, false)
  local g = assert(c:_build{ method = "POST", path = "/x",
    body = { metadata = { generateName = "a-" } } })
  t.eq(g.generate_name, true)
  local bad = {
    { 1, "request: options must be a table, got number" },
    { { path = "api" }, 'request: path must be a string starting with \'/\', got "api"' },
    { { path = "/x", method = "get" }, "request: method must be an upper-case HTTP verb, got get" },
    { { path = "/x", bogus = 1 }, 'request: unknown option "bogus"' },
    { { path = "/x", body = 5 }, "request: body must be a string or a table, got number" },
    { { path = "/x", headers = { X = "a\r\nB: c" } },
      'request: header "X" has a line break or NUL in its value' },
    { { path = "/x", headers = "x" }, "request: headers must be a table of name = value" },
  }
  for _, b in ipairs(bad) do
    local v, err = c:_build(b[1])
    t.eq(v, nil)
    t.eq(err.message, b[2])
    local v2, err2 = c:request(b[1])
    t.eq(v2, nil)
    t.eq(err2.message, b[2])
  end
end)

t.test("tls-server-name: connect_to and URL host", function()
  local c = assert(client.new({ server = "https://127.0.0.1:6443",
    tls = { server_name = "kube" } }))
  t.eq(c.server, "https://127.0.0.1:6443")
  t.eq(c._base, "https://kube:6443")
  t.eq(c._connect_to, { "kube:6443:127.0.0.1:6443" })
  local bad, err = client.new({ server = "127.0.0.1:6443", tls = {} })
  t.eq(bad, nil)
  t.eq(err.message, 'server "127.0.0.1:6443" is not a URL (scheme://host:port)')
end)
