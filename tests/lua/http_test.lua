-- kubelua.http against tests/fixtures/echo_server.py (HTTPS on loopback).
local t = require "testlib"
local http = require "kubelua.http"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local root = here .. "/../.."
local fixture = dofile(root .. "/tests/fixtures/echo.lua")
local echo = fixture.start()
local dir = echo.dir
local SECRET = "Bearer SECRET-TOKEN-e0c9f1"

local function tohex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function get(opts)
  local resp, err = http.request(opts):perform()
  if not resp then error("request failed: " .. tostring(err), 2) end
  return resp
end

-- req on multi m until done (at most 10 s); its response
local function run_on(m, req)
  m:add(req)
  local deadline = http.now() + 10
  while not req:done() and http.now() < deadline do m:wait(1000) end
  return assert(req:response())
end

local function echoed(resp)
  t.eq(resp.status, 200, "status")
  local e = cjson.decode(resp.body)
  e.h = {}
  for _, kv in ipairs(e.headers) do e.h[kv[1]:lower()] = kv[2] end
  return e
end

local function once(list)
  local seen = {}
  for _, v in ipairs(list) do seen[v] = (seen[v] or 0) + 1 end
  return seen
end

-- ------------------------------------------------------------ round trips

local methods = {
  { "GET", nil },
  { "POST", '{"kind":"Namespace"}' },
  { "PUT", '{"a":1}' },
  { "PATCH", '{"metadata":{"labels":{"x":"y"}}}' },
  { "DELETE", '{"propagationPolicy":"Foreground"}' },
  { "DELETE", nil },
  { "POST", nil },
  { "OPTIONS", nil },
  { "GET", "a body on GET" },
}
for _, row in ipairs(methods) do
  local method, body = row[1], row[2]
  t.test(("%s with body %s round-trips"):format(method, tostring(body ~= nil)), function()
    local e = echoed(get{ url = echo.https .. "/echo?x=1", method = method, body = body,
      ca_data = echo.ca,
      headers = { ["Content-Type"] = "application/json", Accept = "application/json",
        ["X-Empty"] = "", ["X-List"] = { "one", "two" }, ["X-Num"] = 7 } })
    t.eq(e.method, method)
    t.eq(e.path, "/echo?x=1")
    t.eq(e.body_hex, tohex(body or ""))
    t.eq(e.h["content-type"], "application/json")
    t.eq(e.h["accept"], "application/json")
    t.eq(e.h["x-empty"], "")
    t.eq(e.h["x-num"], "7")
    t.eq(e.h["user-agent"], "kubelua/0.1.0")
    t.eq(e.h["expect"], nil, "no Expect: 100-continue")
    local xl = {}
    for _, kv in ipairs(e.headers) do
      if kv[1] == "X-List" then xl[#xl + 1] = kv[2] end
    end
    t.eq(xl, { "one", "two" }, "a list value sends one header line per value")
    if body or method == "POST" then t.eq(e.h["content-length"], tostring(#(body or ""))) end
  end)
end

t.test("a body without Content-Type gets none (not curl's form type)", function()
  local e = echoed(get{ url = echo.https .. "/echo", method = "POST", body = "x=1",
    ca_data = echo.ca })
  t.eq(e.h["content-type"], nil)
end)

t.test("HEAD returns headers and an empty body", function()
  local resp = get{ url = echo.https .. "/respond?status=200", method = "HEAD", ca_data = echo.ca }
  t.eq(resp.status, 200)
  t.eq(resp.body, "")
  t.eq(resp.headers["audit-id"], "0f3c6a3e-audit")
end)

t.test("binary request body (all 256 bytes, twice) is sent unchanged", function()
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local body = table.concat(bytes):rep(2)
  local e = echoed(get{ url = echo.https .. "/echo", method = "PUT", body = body,
    ca_data = echo.ca, headers = { ["Content-Type"] = "application/octet-stream" } })
  t.eq(e.body_len, 512)
  t.eq(e.body_hex, tohex(body))
end)

t.test("response: status, lowercased headers, joined repeats, warnings, version", function()
  local resp = get{ url = echo.https .. "/respond?status=418", ca_data = echo.ca }
  t.eq(resp.status, 418)
  t.eq(resp.body, "status 418")
  t.eq(resp.http_version, "1.1")
  t.eq(resp.headers["content-type"], "text/plain")
  t.eq(resp.headers["audit-id"], "0f3c6a3e-audit")
  t.eq(resp.headers["x-multi"], "a, b")
  t.eq(resp.headers["content-length"], "10")
  t.eq(resp.warnings, { '299 - "first warning"', '299 - "second, with comma"' })
  t.eq(resp.headers.warning, '299 - "first warning", 299 - "second, with comma"')
  t.ok(type(resp.time) == "number" and resp.time >= 0, "time")
end)

t.test("a response without Warning headers has an empty warnings list", function()
  local resp = get{ url = echo.https .. "/echo", ca_data = echo.ca }
  t.eq(resp.warnings, {})
end)

t.test("gzip responses are decoded by curl", function()
  local resp = get{ url = echo.https .. "/gzip", ca_data = echo.ca }
  t.eq(resp.headers["content-encoding"], "gzip")
  t.eq(resp.body, ("compressed "):rep(100))
end)

t.test("a 5 MB body arrives whole", function()
  local resp = get{ url = echo.https .. "/big?n=5000000", ca_data = echo.ca }
  t.eq(#resp.body, 5000000)
  t.eq(resp.body:sub(1, 12), "012345678901")
  t.eq(resp.body:sub(-3), "789")
end)

t.test("redirects are not followed", function()
  local resp = get{ url = echo.https .. "/respond?status=301", ca_data = echo.ca }
  t.eq(resp.status, 301)
  t.eq(resp.headers.location, "/echo")
  t.eq(resp.body, "status 301")
end)

-- ------------------------------------------------------------ TLS

local tls_ok = {
  { "ca_data", { ca_data = echo.ca } },
  { "ca_file", { ca_file = dir .. "/ca.crt" } },
  { "insecure without a CA", { insecure = true } },
  { "insecure with the wrong CA", { insecure = true, ca_file = dir .. "/wrong-ca.crt" } },
}
for _, row in ipairs(tls_ok) do
  t.test("TLS succeeds with " .. row[1], function()
    local opts = { url = echo.https .. "/echo" }
    for k, v in pairs(row[2]) do opts[k] = v end
    t.eq(echoed(get(opts)).client_cn, cjson.null)
  end)
end

local client_certs = {
  { "cert_data/key_data", { cert_data = fixture.read(dir .. "/client.crt"),
    key_data = fixture.read(dir .. "/client.key") } },
  { "cert_file/key_file", { cert_file = dir .. "/client.crt", key_file = dir .. "/client.key" } },
  { "cert_data/key_file", { cert_data = fixture.read(dir .. "/client.crt"),
    key_file = dir .. "/client.key" } },
}
for _, row in ipairs(client_certs) do
  t.test("client certificate via " .. row[1], function()
    local opts = { url = echo.mtls .. "/echo", ca_data = echo.ca }
    for k, v in pairs(row[2]) do opts[k] = v end
    t.eq(echoed(get(opts)).client_cn, "jane")
  end)
end

t.test("connect_to: the URL names echo.test, the socket goes to 127.0.0.1", function()
  local hostport = "echo.test:" .. echo.port
  local e = echoed(get{ url = "https://" .. hostport .. "/echo", ca_data = echo.ca,
    connect_to = { hostport .. ":127.0.0.1:" .. echo.port } })
  t.eq(e.h.host, hostport)
end)

-- ------------------------------------------------------------ failures

-- Every transport failure: kind, curl name, code and the exact message
-- (a Lua pattern, anchored), with an Authorization header that must never
-- show up anywhere in the error.
local failures = {
  { "connection refused", { url = "https://127.0.0.1:1/api" }, "COULDNT_CONNECT", 7,
    -- (curl's generic "Couldn't connect to server" after it says nothing more)
    "^connection refused: Failed to connect to 127%.0%.0%.1 port 1 after %d+ ms$" },
  { "TLS verification with the wrong CA",
    { url = echo.https .. "/echo", ca_file = dir .. "/wrong-ca.crt" },
    "PEER_FAILED_VERIFICATION", 60,
    "^TLS certificate verification failed: SSL certificate problem: "
      .. "unable to get local issuer certificate$" },
  { "TLS verification with the system CAs", { url = echo.https .. "/echo" },
    "PEER_FAILED_VERIFICATION", 60,
    "^TLS certificate verification failed: SSL certificate problem: "
      .. "unable to get local issuer certificate$" },
  { "TLS host name mismatch",
    { url = "https://wrong.test:" .. echo.port .. "/", ca_data = echo.ca,
      connect_to = { "wrong.test:" .. echo.port .. ":127.0.0.1:" .. echo.port } },
    "PEER_FAILED_VERIFICATION", 60,
    "^TLS certificate verification failed: SSL: no alternative certificate subject name "
      .. "matches target host name 'wrong%.test'$" },
  { "timeout", { url = echo.https .. "/slow?ms=3000", ca_data = echo.ca, timeout = 0.3 },
    "OPERATION_TIMEDOUT", 28,
    -- (curl's sentence holds the words: it alone, never "timed out: ... timed out")
    "^operation timed out after %d+ milliseconds with 0 bytes received$" },
  { "unresolvable host", { url = "https://nonexistent.invalid/" },
    "COULDNT_RESOLVE_HOST", 6,
    "^could not resolve host: nonexistent%.invalid$" },
  { "dropped before the response", { url = echo.https .. "/drop", ca_data = echo.ca },
    "GOT_NOTHING", 52, "^connection dropped: Empty reply from server$" },
  { "dropped in the body", { url = echo.https .. "/partial", ca_data = echo.ca },
    "PARTIAL_FILE", 18,
    "^connection dropped: transfer closed with 990 bytes remaining to read$" },
  { "TLS to a plain HTTP port", { url = echo.http:gsub("^http:", "https:") .. "/echo" },
    "SSL_CONNECT_ERROR", 35,
    "^TLS handshake failed: OpenSSL/[%d.]+: error:0A00010B:SSL routines::wrong version number$" },
  { "missing CA file", { url = echo.https .. "/echo", ca_file = dir .. "/nope.crt" },
    "SSL_CACERT_BADFILE", 77,
    "^could not load CA certificates: error setting certificate file: .*/nope%.crt$" },
  { "garbage CA data", { url = echo.https .. "/echo", ca_data = "garbage" },
    "SSL_CACERT_BADFILE", 77,
    "^could not load CA certificates: error importing CA certificate blob$" },
  { "garbage client certificate",
    { url = echo.mtls .. "/echo", ca_data = echo.ca, cert_data = "garbage", key_data = "x" },
    "SSL_CERTPROBLEM", 58,
    "^could not use the TLS client certificate: could not load PEM client certificate "
      .. "from CURLOPT_SSLCERT_BLOB, OpenSSL error .*$" },
  -- (a certificate no earlier request used: curl reuses a connection whose
  -- client certificate matches without comparing keys)
  { "client key that does not match its certificate (files)",
    { url = echo.mtls .. "/echo", ca_data = echo.ca, cert_file = dir .. "/server.crt",
      key_file = dir .. "/client.key" },
    "SSL_CERTPROBLEM", 58,
    "^could not use the TLS client certificate: unable to set private key file: "
      .. "'.*/client%.key' type PEM$" },
  { "client key that does not match its certificate (data)",
    { url = echo.mtls .. "/echo", ca_data = echo.ca, cert_data = fixture.read(dir .. "/server.crt"),
      key_data = fixture.read(dir .. "/client.key") },
    "SSL_CERTPROBLEM", 58,
    "^could not use the TLS client certificate: unable to set private key file: "
      .. "'%(memory blob%)' type PEM$" },
  { "proxy refusing the tunnel",
    { url = echo.https .. "/echo", ca_data = echo.ca, proxy = echo.http },
    "RECV_ERROR", 56, "^proxy error: CONNECT tunnel failed, response 501$" },
  { "unsupported scheme", { url = "file:///etc/passwd" }, "UNSUPPORTED_PROTOCOL", 1,
    '^unsupported protocol: Protocol "file" not supported or disabled in libcurl$' },
  { "malformed URL", { url = "http://" }, "URL_MALFORMAT", 3,
    -- (curl's generic text for the code alone: the plain words alone)
    "^malformed URL$" },
}

local function no_secret(v, path)
  if type(v) == "string" then
    t.ok(not v:find("SECRET-TOKEN", 1, true), "secret found in err" .. path)
  elseif type(v) == "table" then
    for k, x in pairs(v) do no_secret(x, path .. "." .. tostring(k)) end
  end
end

for _, row in ipairs(failures) do
  local name, opts, curl, code, pattern = row[1], row[2], row[3], row[4], row[5]
  t.test("failure: " .. name, function()
    opts.headers = { Authorization = SECRET }
    opts.connect_timeout = opts.connect_timeout or 5
    local resp, err = http.request(opts):perform()
    t.eq(resp, nil)
    t.eq(getmetatable(err).__name, "kubelua.Error")
    t.eq(err.kind, "transport")
    t.eq(err.curl, curl)
    t.eq(err.code, code)
    if not err.message:match(pattern) then
      error(("message %q does not match %q"):format(err.message, pattern))
    end
    t.contains(tostring(err), err.message)
    t.eq(err.method, opts.method or "GET")
    t.eq(err.url, opts.url)
    no_secret(err, "err")
    no_secret(tostring(err), "tostring")
  end)
end

t.test("a URL's user:password never reaches the error", function()
  local _, err = http.request{ url = "https://user:SECRET-TOKEN@127.0.0.1:1/x" }:perform()
  t.eq(err.url, "https://127.0.0.1:1/x")
  no_secret(err, "err")
end)

-- ------------------------------------------------------------ proxies

local exe = arg[-1]
local function child(env, code)
  local path = dir .. "/child.lua"
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("env %s '%s' '%s' 2>&1"):format(env, exe, path), "r"))
  local out = p:read("a")
  p:close()
  return out
end

t.test("HTTPS_PROXY from the environment is honoured; proxy = false ignores it", function()
  local code = ([[
    local http = require "kubelua.http"
    local r, e = http.request{ url = %q, ca_data = %q, proxy = %s }:perform()
    io.write(r and r.status or e.message)
  ]]):format(echo.https .. "/echo", echo.ca, "%s")
  local env = "HTTPS_PROXY=" .. echo.http .. " https_proxy=" .. echo.http
  t.eq(child(env, code:format("nil")), "proxy error: CONNECT tunnel failed, response 501")
  t.eq(child(env, code:format("false")), "200")
  t.eq(child(env .. " NO_PROXY=127.0.0.1", code:format("nil")), "200")
end)

-- ------------------------------------------------------------ streaming

t.test("stream: read() hands out the body as it arrives", function()
  local m = http.multi()
  local req <close> = http.request{ url = echo.https .. "/stream?n=4&ms=80",
    ca_data = echo.ca, stream = true }
  m:add(req)
  local got, wakeups = {}, 0
  local deadline = http.now() + 10
  while not req:done() and http.now() < deadline do
    for _, r in ipairs(m:wait(1000)) do
      t.eq(r, req)
      wakeups = wakeups + 1
      local chunk = r:read()
      if chunk ~= "" then got[#got + 1] = chunk end
    end
  end
  t.ok(req:done(), "finished in time")
  t.eq(table.concat(got), "line 1\nline 2\nline 3\nline 4\n")
  t.ok(#got >= 3, "arrived in pieces, got " .. #got)
  t.eq(req:read(), "")
  local resp = assert(req:response())
  t.eq(resp.status, 200)
  t.eq(resp.body, "")
  t.eq(m:pending(), 0)
end)

t.test("stream: head() has status and headers before the end", function()
  local m = http.multi()
  local req <close> = http.request{ url = echo.https .. "/stream?n=3&ms=200",
    ca_data = echo.ca, stream = true }
  t.eq(req:head(), nil)
  m:add(req)
  local ready = m:wait(5000)
  t.eq(ready, { req })
  t.eq(req:done(), false)
  local head = req:head()
  t.eq(head.status, 200)
  t.eq(head.headers["content-type"], "text/plain")
  t.eq(head.body, nil)
  req:close()
  t.eq(m:pending(), 0)
end)

t.test("stream: closing a stream keeps the pooled keep-alive connection", function()
  -- a watch is stopped by closing its connection: it must not be the pooled
  -- one, or the next request pays a new TLS handshake
  local m = http.multi()
  local function run(req) return run_on(m, req) end
  local first = run(http.request{ url = echo.https .. "/echo?i=1", ca_data = echo.ca })
  t.eq(first.new_connection, true)
  local conn = cjson.decode(first.body).conn
  local s <close> = http.request{ url = echo.https .. "/stream?n=3&ms=300",
    ca_data = echo.ca, stream = true }
  m:add(s)
  t.eq(m:wait(5000), { s })
  t.eq(s:head().status, 200)
  t.eq(s:done(), false)
  s:close() -- mid-stream
  local second = run(http.request{ url = echo.https .. "/echo?i=2", ca_data = echo.ca })
  t.eq(second.new_connection, false)
  t.eq(cjson.decode(second.body).conn, conn)
end)

t.test("stream: an unread stream pauses at 8 MB and resumes on read()", function()
  local m = http.multi()
  local req <close> = http.request{ url = echo.https .. "/big?n=20000000",
    ca_data = echo.ca, stream = true }
  m:add(req)
  -- let curl run without reading until it pauses on the unread data: a
  -- state waited for (bounded), not a delay guessed, so a loaded machine
  -- (ctest -j2) only makes it slower
  local deadline = http.now() + 60
  while not select(2, req:buffered()) and not req:done() and http.now() < deadline do
    m:wait(100)
  end
  t.eq({ req:done(), select(2, req:buffered()) }, { false, true }, "paused, not finished")
  m:wait(200) -- paused means no more data arrives
  local n, paused = req:buffered()
  t.eq(paused, true)
  local first = req:read()
  t.eq(#first, n)
  t.ok(#first >= 8 << 20 and #first < (8 << 20) + 65536, "buffered " .. #first)
  t.eq(select(2, req:buffered()), false, "read() resumes the transfer")
  local parts, total = { first }, #first
  while not req:done() and http.now() < deadline do
    m:wait(1000)
    local chunk = req:read()
    parts[#parts + 1] = chunk
    total = total + #chunk
  end
  parts[#parts + 1] = req:read()
  local body = table.concat(parts)
  t.eq(#body, 20000000)
  t.eq(body, ("0123456789"):rep(2000000))
  t.eq(assert(req:response()).status, 200)
end)

-- ------------------------------------------------------------ connections

t.test("50 sequential requests reuse one connection", function()
  local conns, counts = {}, {}
  for i = 1, 50 do
    local e = echoed(get{ url = echo.https .. "/echo?i=" .. i, ca_data = echo.ca })
    conns[#conns + 1] = e.conn
    counts[#counts + 1] = e.conn_requests
  end
  local seen = once(conns)
  t.eq(next(seen, next(seen)), nil, "one connection id")
  local resp = get{ url = echo.https .. "/echo", ca_data = echo.ca }
  t.eq(resp.new_connection, false)
  for i = 2, 50 do t.eq(counts[i], counts[i - 1] + 1, "requests on the connection") end
end)

t.test("a multi runs requests concurrently, bounded by max_host_connections", function()
  local function run(limit)
    local m = http.multi{ max_host_connections = limit }
    local reqs = {}
    for i = 1, 4 do
      reqs[i] = http.request{ url = echo.https .. "/slow?ms=500", ca_data = echo.ca }
      m:add(reqs[i])
    end
    local t0, done = http.now(), 0
    while done < 4 do done = done + #m:wait(5000) end
    local conns = {}
    for i = 1, 4 do conns[i] = cjson.decode(assert(reqs[i]:response()).body).conn end
    return http.now() - t0, once(conns)
  end
  local fast, c4 = run(4)
  local slow, c1 = run(1)
  t.ok(fast < 1.5, "4 x 500 ms in parallel took " .. fast)
  t.ok(slow >= 1.95, "4 x 500 ms over one connection took " .. slow)
  local n = 0
  for _ in pairs(c4) do n = n + 1 end
  t.eq(n, 4, "4 connections")
  n = 0
  for _ in pairs(c1) do n = n + 1 end
  t.eq(n, 1, "1 connection")
end)

-- ------------------------------------------------------------ HTTP/2
-- nghttpd (Debian nghttp2-server) speaks h2 with ALPN, as a real API server
-- does; it serves a file and echoes uploads. It runs under `timeout` so it
-- never outlives the test.

local function start_nghttpd()
  if not os.execute("command -v nghttpd >/dev/null 2>&1") then return nil end
  local docs = dir .. "/h2docs"
  os.execute("mkdir -p '" .. docs .. "' && printf hello > '" .. docs .. "/hello.txt'")
  local p = assert(io.popen("python3 -c 'import socket; s = socket.socket(); "
    .. "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'"))
  local port = p:read("l")
  p:close()
  p = assert(io.popen(("timeout 120 nghttpd -a 127.0.0.1 -d '%s' --echo-upload %s '%s' '%s' "
    .. "</dev/null >/dev/null 2>&1 & echo $!"):format(docs, port, dir .. "/server.key",
    dir .. "/server.crt")))
  local pid = p:read("l")
  p:close()
  local base = "https://127.0.0.1:" .. port
  for _ = 1, 50 do
    if http.request{ url = base .. "/hello.txt", ca_data = echo.ca }:perform() then
      return base, pid
    end
    http.sleep(0.1)
  end
  os.execute("kill " .. pid)
  error("nghttpd did not start")
end

local h2, h2pid = start_nghttpd()
if not h2 then
  t.test("HTTP/2 tests need nghttpd: apt-get install nghttp2-server", function()
    error("nghttpd not found")
  end)
else
  t.test("HTTP/2: 20 parallel requests multiplex over one connection", function()
    local m = http.multi()
    local reqs = {}
    for i = 1, 20 do
      reqs[i] = http.request{ url = h2 .. "/hello.txt", ca_data = echo.ca }
      m:add(reqs[i])
    end
    local n = 0
    local deadline = http.now() + 10
    while n < 20 and http.now() < deadline do n = n + #m:wait(1000) end
    local new = 0
    for i = 1, 20 do
      local resp = assert(reqs[i]:response())
      t.eq(resp.status, 200)
      t.eq(resp.http_version, "2")
      t.eq(resp.body, "hello")
      if resp.new_connection then new = new + 1 end
    end
    t.eq(new, 1, "connections opened")
  end)

  t.test("HTTP/2: request bodies and sequential reuse", function()
    local m = http.multi()
    for i = 1, 5 do
      local req = http.request{ url = h2 .. "/up", method = "PUT", body = "body " .. i,
        ca_data = echo.ca }
      m:add(req)
      while not req:done() do m:wait(1000) end
      local resp = assert(req:response())
      t.eq(resp.body, "body " .. i)
      t.eq(resp.http_version, "2")
      t.eq(resp.new_connection, i == 1)
    end
  end)

  t.test("HTTP/2: a stream shares the connection (closing it resets only its stream)", function()
    local m = http.multi()
    local function run(req) return run_on(m, req) end
    t.eq(run(http.request{ url = h2 .. "/hello.txt", ca_data = echo.ca }).new_connection, true)
    local s = http.request{ url = h2 .. "/hello.txt", ca_data = echo.ca, stream = true }
    local resp = run(s)
    t.eq({ resp.http_version, resp.new_connection }, { "2", false })
    s:close()
    t.eq(run(http.request{ url = h2 .. "/hello.txt", ca_data = echo.ca }).new_connection, false)
  end)

  t.test("stop nghttpd", function()
    os.execute("kill " .. h2pid)
  end)
end

-- ------------------------------------------------------------ lifecycle

t.test("close is idempotent, done() and response() after close", function()
  local req = http.request{ url = echo.https .. "/echo" }
  req:close()
  req:close()
  t.eq(req:done(), true)
  local resp, err = req:response()
  t.eq(resp, nil)
  t.eq(err.kind, "cancelled")
  t.eq(err.message, "request closed before it finished")
  t.raises("attempt to use a closed request", function() req:perform() end)
  t.contains(tostring(req), "kubelua.http.Request (closed)")
end)

t.test("close mid-flight detaches from the multi", function()
  local m = http.multi()
  local req = http.request{ url = echo.https .. "/slow?ms=2000", ca_data = echo.ca }
  m:add(req)
  t.eq(m:wait(100), {})
  t.eq(m:pending(), 1)
  t.contains(tostring(req), "(in flight)")
  req:close()
  t.eq(m:pending(), 0)
  t.eq(m:wait(10), {})
  t.eq(req:done(), true)
end)

t.test("a request that finished keeps its response after close", function()
  local req = http.request{ url = echo.https .. "/echo", ca_data = echo.ca }
  local r1 = assert(req:perform())
  t.eq(req:perform(), r1, "perform again returns the same response")
  t.eq(req:response(), r1)
  req:close()
  t.eq(req:response(), r1)
end)

t.test("misuse raises", function()
  local req = http.request{ url = echo.https .. "/slow?ms=1000", ca_data = echo.ca }
  local m = http.multi()
  m:add(req)
  t.raises("request already started", function() m:add(req) end)
  t.raises("request already started", function() req:perform() end)
  t.raises("response() called before the request finished", function() req:response() end)
  t.raises("read() needs a request made with stream = true", function() req:read() end)
  t.raises("buffered() needs a request made with stream = true", function() req:buffered() end)
  req:close()
  m:close()
  t.raises("attempt to use a closed multi", function() m:wait(1) end)
  t.raises("bad argument #1 to 'wait' (kubelua.http.Multi expected, got",
    function() m.wait(req, 1) end)
end)

t.test("wait returns at once with nothing pending and no timeout; sleeps with one", function()
  local m = http.multi()
  local t0 = http.now()
  t.eq(m:wait(), {})
  t.ok(http.now() - t0 < 0.05, "no wait")
  t0 = http.now()
  t.eq(m:wait(150), {})
  local dt = http.now() - t0
  t.ok(dt >= 0.14 and dt < 1, "slept " .. dt)
end)

local bad_options = {
  { {}, "http.request: option 'url' is required" },
  { { url = 1 }, "http.request: option 'url' must be a string, not number" },
  { { url = "http://x\0y" }, "http.request: option 'url' contains a NUL byte" },
  { { url = "http://x", timout = 1 }, "http.request: unknown option 'timout'" },
  { { url = "http://x", [1] = "y" }, "http.request: option names must be strings" },
  { { url = "http://x", method = "GE T" }, "http.request: invalid method" },
  { { url = "http://x", method = "" }, "http.request: empty method" },
  { { url = "http://x", timeout = -1 },
    "http.request: option 'timeout' must be between 0 and 1e9 seconds" },
  { { url = "http://x", timeout = "5" },
    "http.request: option 'timeout' must be a number of seconds, not string" },
  { { url = "http://x", connect_timeout = 0 / 0 },
    "http.request: option 'connect_timeout' must be between 0 and 1e9 seconds" },
  { { url = "http://x", insecure = "yes" },
    "http.request: option 'insecure' must be a boolean, not string" },
  { { url = "http://x", stream = 1 },
    "http.request: option 'stream' must be a boolean, not number" },
  { { url = "http://x", proxy = true },
    "http.request: option 'proxy' must be a URL string or false, not boolean" },
  { { url = "http://x", body = {} }, "http.request: option 'body' must be a string, not table" },
  { { url = "http://x", headers = "A: b" },
    "http.request: option 'headers' must be a table, not string" },
  { { url = "http://x", headers = { "A: b" } },
    "http.request: header names must be strings, not number" },
  { { url = "http://x", headers = { A = true } },
    "http.request: header 'A' must be a string, not boolean" },
  { { url = "http://x", headers = { A = { "ok", false } } },
    "http.request: header 'A' values must be strings, not boolean" },
  { { url = "http://x", headers = { ["Bad Name"] = "v" } },
    "http.request: invalid header name 'Bad Name'" },
  { { url = "http://x", headers = { [""] = "v" } }, "http.request: empty header name" },
  { { url = "http://x", headers = { Authorization = SECRET .. "\r\nX-Evil: 1" } },
    "http.request: header 'Authorization' has a line break or NUL in its value" },
  { { url = "http://x", connect_to = "a:1:b:2" },
    "http.request: option 'connect_to' must be a list of strings, not string" },
  { { url = "http://x", connect_to = { 5 } },
    "http.request: connect_to[1] must be a string, not number" },
}
for i, row in ipairs(bad_options) do
  t.test("bad option " .. i .. ": " .. row[2], function()
    local ok, err = pcall(http.request, row[1])
    t.eq(ok, false)
    t.eq(err, row[2])
    t.ok(not tostring(err):find("SECRET", 1, true), "no header value in the message")
  end)
end

t.test("the default multi takes options too (fresh process)", function()
  local code = ([[
    local http = require "kubelua.http"
    -- one request first: the origin is known to be HTTP/1, so the next ones
    -- do not wait for a multiplexed connection (PIPEWAIT)
    assert(http.request{ url = %q, ca_data = %q }:perform())
    local m = http.default_multi%s
    assert(m == http.default_multi())
    local reqs, ids = {}, {}
    for i = 1, 3 do
      reqs[i] = http.request{ url = %q, ca_data = %q }
      m:add(reqs[i])
    end
    local n = 0
    while n < 3 do n = n + #m:wait(5000) end
    for i = 1, 3 do ids[i] = require("cjson").decode(reqs[i]:response().body).conn end
    io.write(ids[1] == ids[2] and ids[2] == ids[3] and "one connection" or "several")
  ]]):format(echo.https .. "/echo", echo.ca, "%s", echo.https .. "/slow?ms=100", echo.ca)
  t.eq(child("", code:format("{ max_host_connections = 1 }")), "one connection")
  t.eq(child("", code:format("()")), "several")
  t.raises("http.multi: unknown option 'x'", http.default_multi, { x = 1 })
end)

t.test("bad multi options raise", function()
  t.raises("http.multi: unknown option 'max'", http.multi, { max = 1 })
  t.raises("http.multi: option 'max_host_connections' must be an integer from 0 to 100000",
    http.multi, { max_host_connections = -1 })
end)

t.test("the error class is shared with kubelua.errors", function()
  t.eq(http.Error, debug.getregistry()["kubelua.Error"])
  local ok, errors = pcall(require, "kubelua.errors")
  if ok then t.eq(errors.Error, http.Error) end
end)

t.test("no request is left in flight on the default multi", function()
  collectgarbage()
  t.eq(http.default_multi():pending(), 0)
end)

t.test("stop the echo server", function()
  echo.stop()
end)
