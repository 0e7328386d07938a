-- k8s.connect and c:request against kubesim: credentials, TLS, impersonation,
-- errors, 401 refresh, retries under injected faults.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"
local json = require "kubelua.json"
local async = require "kubelua.async"

local admin = assert(k8s.connect())

t.test("connect with kubectl's loading rules", function()
  local c = assert(k8s.connect())
  t.eq(c.server, h.url)
  t.eq(c.namespace, "default")
  t.eq(type(c.config), "table")
  local me = assert(c:whoami())
  t.eq(me.username, "kubernetes-admin") -- the client certificate's CN
end)

t.test("connect overrides: server, token, certificate_authority, namespace", function()
  local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = "wrong" }),
    server = h.url, token = h.admin_token, certificate_authority = h.ca_file,
    namespace = "kube-system" })
  t.eq(c.namespace, "kube-system")
  local me = assert(c:whoami())
  t.eq(me.username, "kubesim-admin")
end)

t.test("certificate_authority_data: kubesim's CA in memory verifies, another CA fails", function()
  local pem = h.read(h.ca_file)
  -- the kubeconfig names kubesim's CA file: the option replaces it
  local kc = h.kubeconfig_with({ token = h.admin_token })
  local c = assert(k8s.connect{ kubeconfig = kc, certificate_authority_data = pem })
  t.eq(c.config.tls.ca_file, nil)
  t.eq(assert(c:whoami()).username, "kubesim-admin")
  -- a throwaway CA that did not sign kubesim's certificate
  local other_key, other_crt = h.dir .. "/other-ca.key", h.dir .. "/other-ca.crt"
  local ok = os.execute(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    .. "-nodes -subj /CN=kubelua-other-ca -days 1 -keyout '%s' -out '%s' >/dev/null 2>&1")
    :format(other_key, other_crt))
  t.ok(ok, "openssl made a CA")
  local other = h.read(other_crt)
  local bad = assert(k8s.connect{ kubeconfig = kc, certificate_authority_data = other,
    retries = { max = 1 } })
  local r, err = bad:whoami()
  t.eq(r, nil)
  t.eq(err.kind, "transport")
  t.contains(tostring(err), "TLS certificate verification failed")
  t.ok(not tostring(err):find("BEGIN CERTIFICATE", 1, true), "no PEM in the error")
  -- -v9 logs the requests, never the CA
  local out, code = h.run(([[
local k8s = require "kubelua"
local c = assert(k8s.connect{ kubeconfig = %q, certificate_authority_data = %q, verbose = 9 })
assert(c:whoami())
print("done")
]]):format(kc, pem))
  t.eq(code, 0, out)
  t.contains(out, "done")
  t.contains(out, "curl command")
  t.ok(not out:find("BEGIN CERTIFICATE", 1, true), out)
end)

t.test("connect: a kubeconfig error is nil, err in one line naming the file", function()
  local path = h.kubeconfig_with({ token = "x" }, nil, nil)
  local c, err = k8s.connect{ kubeconfig = path, context = "missing" }
  t.eq(c, nil)
  t.eq(err.kind, "config")
  t.contains(tostring(err), path)
  t.contains(tostring(err), "missing")
  t.ok(not tostring(err):find("\n"), "one line")
  t.raises(path, function() assert(k8s.connect{ kubeconfig = path, context = "missing" }) end)
end)

t.test("request: the one door (query, JSON body, headers, non-JSON bodies)", function()
  local mark = h.mark()
  local resp = assert(admin:request{ path = "/api/v1/namespaces",
    query = { limit = 2, labelSelector = "kubernetes.io/metadata.name in (default,kube-system)" } })
  t.eq(resp.status, 200)
  t.eq(resp.object.kind, "NamespaceList")
  t.eq(#resp.object.items, 2)
  t.eq(resp.attempts, 1)
  local log = h.requests(mark)
  t.eq(log[1].query,
    "labelSelector=kubernetes.io%2Fmetadata.name%20in%20%28default%2Ckube-system%29&limit=2")
  t.eq(log[1].user_agent, "kubelua/" .. k8s.version)
  local health = assert(admin:request{ path = "/healthz" })
  t.eq(health.body, "ok")
  t.eq(health.object, nil)
  local name = h.name("req-body")
  local created = assert(admin:request{ method = "POST",
    path = "/api/v1/namespaces/default/configmaps",
    body = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name },
      data = { a = "1" } } })
  t.eq(created.status, 201)
  t.eq(created.object.data, { a = "1" })
  local raw = assert(admin:request{ method = "PATCH",
    path = "/api/v1/namespaces/default/configmaps/" .. name,
    body = '{"data":{"b":"2"}}', content_type = "application/merge-patch+json" })
  t.eq(raw.object.data, { a = "1", b = "2" })
end)

t.test("request: API errors keep the server's Status", function()
  local resp, err = admin:request{ path = "/api/v1/namespaces/nope-ns" }
  t.eq(resp, nil)
  t.eq(tostring(err), 'Error from server (NotFound): namespaces "nope-ns" not found')
  t.eq(err.code, 404)
  t.eq(err.method, "GET")
  t.eq(err.url, h.url .. "/api/v1/namespaces/nope-ns")
  t.ok(type(err.audit_id) == "string" and #err.audit_id > 0, "audit id")
  t.eq(err.status.kind, "Status")
  t.eq(err.details, { name = "nope-ns", kind = "namespaces" })
  t.ok(k8s.errors.is(err, "NotFound"))
  local _, dup = admin:request{ method = "POST", path = "/api/v1/namespaces",
    body = { apiVersion = "v1", kind = "Namespace", metadata = { name = "default" } } }
  t.eq(tostring(dup), 'Error from server (AlreadyExists): namespaces "default" already exists')
  t.eq(dup.attempts, 1)
end)

t.test("401: one line, with what was rejected, never the token", function()
  local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = "not-a-valid-token" }) })
  local resp, err = c:get("v1", "Namespace", "default")
  t.eq(resp, nil)
  t.eq(tostring(err), "error: You must be logged in to the server (Unauthorized); "
    .. "the server rejected bearer token from kubeconfig (scripts/diagnose.lua explains why)")
  t.eq(err.code, 401)
  t.ok(not tostring(err):find("not-a-valid-token", 1, true))
end)

t.test("401: exec credentials are refreshed and the request retried once", function()
  local state = h.dir .. "/exec-runs"
  os.remove(state)
  local plugin = h.write(h.dir .. "/exec-plugin.sh", ([[#!/bin/sh
n=$(cat '%s' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '%s'
if [ $n -eq 1 ]; then tok=stale-token; else tok=$(cat '%s'); fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%%s"}}' "$tok"
]]):format(state, state, h.dir .. "/admin.token"), "700")
  local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ exec = {
    apiVersion = "client.authentication.k8s.io/v1", command = plugin,
    interactiveMode = "Never" } }) })
  local mark = h.mark()
  local ns = assert(c:get("v1", "Namespace", "default"))
  t.eq(ns.metadata.name, "default")
  t.eq(h.read(state):gsub("%s", ""), "2")
  local statuses = {}
  for _, r in ipairs(h.requests(mark)) do statuses[#statuses + 1] = r.status end
  t.eq(statuses[1], 401)
  t.eq(statuses[#statuses], 200)
end)

t.test("a credential with a line break is an error that never shows it, not a raise", function()
  local cases = {
    { { token = h.admin_token .. "\r\nX-Injected: 1" }, "bearer token from kubeconfig" },
    { { token = "nul\0token-value" }, "bearer token from kubeconfig" },
  }
  local tf = h.write(h.dir .. "/" .. h.name("tokenfile"), "line-one-secret\nline-two-secret\n")
  cases[#cases + 1] = { { tokenFile = tf },
    ("bearer token from file %s (re-read as it rotates)"):format(tf) }
  for _, case in ipairs(cases) do
    local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with(case[1]) })
    local mark = h.mark()
    local ok, r, err = pcall(c.get, c, "v1", "Namespace", "default")
    t.ok(ok, tostring(r))
    t.eq(r, nil)
    t.eq(err.kind, "config")
    t.eq(tostring(err), ("error: the credential (%s) holds a line break or NUL byte and cannot "
      .. "be sent"):format(case[2]))
    t.eq(#h.requests(mark), 0, "nothing sent")
  end
end)

t.test("impersonation: user, several groups (one header each), uid", function()
  local c = assert(k8s.connect{ as = "jane", as_groups = { "devs", "ops" }, as_uid = "u-1" })
  local me = assert(c:whoami())
  t.eq(me.username, "jane")
  t.eq(me.uid, "u-1")
  t.eq(me.groups, json.array{ "devs", "ops", "system:authenticated" })
end)

t.test("transport errors: refused, TLS name mismatch; tls-server-name works", function()
  local c = assert(k8s.connect{ server = "https://127.0.0.1:1", token = "x",
    certificate_authority = h.ca_file, retries = { max = 2, base = 0.01 } })
  local r, err = c:request{ path = "/version" }
  t.eq(r, nil)
  t.eq(err.kind, "transport")
  t.eq(err.attempts, 2)
  t.contains(tostring(err), "The connection to the server 127.0.0.1:1 was refused - did you "
    .. "specify the right host or port?")
  local good = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = h.admin_token },
    { ["tls-server-name"] = "kubernetes.default.svc" }) })
  t.eq(good.server, h.url)
  t.eq(assert(good:whoami()).username, "kubesim-admin")
  local bad = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = h.admin_token },
    { ["tls-server-name"] = "wrong.example" }), retries = { max = 1 } })
  local r2, err2 = bad:whoami()
  t.eq(r2, nil)
  t.eq(err2.kind, "transport")
  t.contains(tostring(err2), "Unable to connect to the server " .. h.url:match("//(.*)$")
    .. ": TLS certificate verification failed")
  t.contains(tostring(err2), "wrong.example")
end)

t.test("user = false: the kubeconfig's cluster settings, the token alone", function()
  assert(admin:apply({ apiVersion = "v1", kind = "Namespace", metadata = { name = "userfalse" } }))
  assert(admin:apply({ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = "bot", namespace = "userfalse" } }))
  local token = assert(admin:token_request("userfalse", "bot"))
  -- the kubeconfig's user is the admin; its cluster reaches the server by
  -- tls-server-name
  local kc = h.kubeconfig_with({ token = h.admin_token },
    { ["tls-server-name"] = "kubernetes.default.svc" })
  local sa = assert(k8s.connect{ kubeconfig = kc, user = false, token = token })
  t.eq(sa.config.user_name, nil)
  t.eq(assert(sa:whoami()).username, "system:serviceaccount:userfalse:bot")
  -- the cluster's tls-server-name is kept (a wrong one fails)
  local wrong = h.kubeconfig_with({ token = h.admin_token },
    { ["tls-server-name"] = "wrong.example" })
  local _, err = assert(k8s.connect{ kubeconfig = wrong, user = false, token = token,
    retries = { max = 1 } }):whoami()
  t.contains(tostring(err), "wrong.example")
  -- without a token: anonymous, not the admin
  local anon = assert(k8s.connect{ kubeconfig = kc, user = false })
  t.eq(anon.config.credentials:headers(), {})
  local _, cerr = k8s.connect{ kubeconfig = kc, user = true }
  t.eq(tostring(cerr), "error: connect: user must be a string, got boolean")
end)

t.test("the tutorial: no duplicate reads (at most 24 requests on a first run)", function()
  local src = debug.getinfo(1, "S").source
  local root = src:match("^@(.*)/tests/lua/cluster/[^/]*$")
    or (src:find("^@tests/lua/cluster/") and ".")
  local mark = h.mark()
  local p = assert(io.popen(("cd '%s' && '%s' scripts/tutorial.lua -n tut-count "
    .. "--name count-service-account 2>&1"):format(root, h.kubelua)))
  local out = p:read("a")
  local _, _, code = p:close()
  t.eq(code, 0, out)
  local reqs = h.requests(mark)
  -- before: 29-30 (setup.apply and c:apply both read each of the 4
  -- objects, can_i read the ServiceAccount before each of its 2 reviews);
  -- now 23, or 24 when the token wait needs its watch
  t.ok(#reqs <= 24, "requests: " .. #reqs)
  local reads = {}
  for _, r in ipairs(reqs) do
    if r.method == "GET" then
      reads[r.path] = (reads[r.path] or 0) + 1
    end
  end
  for _, path in ipairs({ "/api/v1/namespaces/tut-count",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/count-cluster-role",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/count-cluster-role-binding" }) do
    t.eq(reads[path], 1, path)
  end
  local sa_reads = reads["/api/v1/namespaces/tut-count/serviceaccounts/count-service-account"]
  -- apply, can_i (once for both questions), the token's owner check(s)
  t.ok(sa_reads <= 4, "ServiceAccount reads: " .. tostring(sa_reads))
end)

t.test("insecure-skip-tls-verify: works, warns on stderr once per run", function()
  local out, code = h.run(([[
local k8s = require "kubelua"
for _ = 1, 2 do
  local c = assert(k8s.connect{ kubeconfig = %q })
  assert(c:whoami())
end
print("done")
]]):format(h.kubeconfig_with({ token = h.admin_token },
    { ["insecure-skip-tls-verify"] = true, ["certificate-authority"] = json.null })))
  t.eq(code, 0, out)
  local pat = "Warning: TLS certificate verification is disabled for " .. h.url:gsub("%p", "%%%0")
  local _, n = out:gsub(pat, "")
  t.eq(n, 1, out)
  t.contains(out, "done")
end)

t.test("retries: 429 with Retry-After and 5xx are retried, visible at -v=6", function()
  h.faults(admin, "seed=7,429=0.3,503=0.1")
  local c = assert(k8s.connect{ retries = { max = 8, base = 0.01, cap = 0.05 } })
  local mark = h.mark()
  for _ = 1, 30 do assert(c:get("v1", "Namespace", "default")) end
  h.faults(admin, "")
  local faults = 0
  for _, r in ipairs(h.requests(mark)) do if r.fault then faults = faults + 1 end end
  t.ok(faults > 5, "faults were injected: " .. faults)

  local out, code = h.run([[
local k8s = require "kubelua"
local c = assert(k8s.connect{ retries = { max = 10, base = 0.01, cap = 0.02 } })
local admin = assert(k8s.connect())
assert(admin:request{ method = "POST", path = "/kubesim/faults",
  body = { spec = "seed=1,429=0.5" } })
for _ = 1, 10 do assert(c:get("v1", "Namespace", "default")) end
assert(admin:request{ method = "POST", path = "/kubesim/faults", body = { spec = "" } })
]], "-v=6")
  t.eq(code, 0, out)
  t.contains(out, '"Retrying" verb="GET" url="' .. h.url .. '/api/v1/namespaces/default" attempt=2')
  t.contains(out, 'reason="429 TooManyRequests"')
  t.contains(out, 'status="429 Too Many Requests"')
end)

t.test("retries: dropped responses to creates are recognised, never duplicated", function()
  local c = assert(k8s.connect{ retries = { max = 8, base = 0.01, cap = 0.05 } })
  h.faults(admin, "seed=11,drop=0.3,500=0.1")
  local mark = h.mark()
  local names = {}
  for i = 1, 20 do
    names[i] = h.name("dropped")
    local obj, err = c:create({ apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = names[i], namespace = "default" }, data = { i = tostring(i) } })
    t.ok(obj, tostring(err))
    t.eq(obj.metadata.name, names[i])
  end
  h.faults(admin, "")
  local dropped_posts = 0
  for _, r in ipairs(h.requests(mark)) do
    if r.method == "POST" and r.fault == "drop" then dropped_posts = dropped_posts + 1 end
  end
  t.ok(dropped_posts > 0, "some creates were dropped after the server stored them")
  for i, n in ipairs(names) do
    local cm = assert(admin:get("v1", "ConfigMap", n, { namespace = "default" }))
    t.eq(cm.data.i, tostring(i))
  end
end)

-- tests/fixtures/connect_proxy.py: a CONNECT proxy on loopback that logs
-- every tunnel; auth = "user:password" makes it demand Proxy-Authorization
local function start_proxy(auth)
  local log = h.dir .. "/" .. h.name("proxy") .. ".log"
  local cmd = ("exec python3 '%s/tests/fixtures/connect_proxy.py' --log '%s'%s </dev/null")
    :format(h.root, log, auth and (" --auth '" .. auth .. "'") or "")
  local p = assert(io.popen(cmd, "r"))
  local port, pid = (p:read("l") or ""):match("^ready (%d+) (%d+)$")
  assert(port, "connect_proxy.py did not start")
  return { port = port, url = "http://127.0.0.1:" .. port, log = log,
    stop = function() os.execute("kill " .. pid) p:close() end }
end

t.test("proxy-url: requests tunnel through the proxy; its failures name the proxy", function()
  local proxy = start_proxy("kube:proxy-pass-4711")
  local sim = h.url:match("//(.*)$")
  local function via(url)
    return assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = h.admin_token },
      { ["proxy-url"] = url }), retries = { max = 1 } })
  end
  local c = via("http://kube:proxy-pass-4711@127.0.0.1:" .. proxy.port)
  t.eq(assert(c:whoami()).username, "kubesim-admin")
  t.eq(h.read(proxy.log), ("CONNECT %s auth=ok\n"):format(sim))
  -- the proxy's password is masked like a token, at every level
  local out, code = h.run(([[
local k8s = require "kubelua"
local c = assert(k8s.connect{ kubeconfig = %q })
assert(c:whoami())
print(c.config.proxy and "proxied")
]]):format(h.kubeconfig_with({ token = h.admin_token },
    { ["proxy-url"] = "http://kube:proxy-pass-4711@127.0.0.1:" .. proxy.port })), "-v=9")
  t.eq(code, 0, out)
  t.contains(out, "proxied")
  t.contains(out, '"Response" verb="POST"')
  t.ok(not out:find("proxy-pass-4711", 1, true), out)
  -- without the credentials: the proxy's 407, in words that name it
  local _, e407 = via(proxy.url):whoami()
  t.eq(e407.kind, "transport")
  t.eq(tostring(e407), ("Unable to connect to the server %s through the proxy 127.0.0.1:%s: "
    .. "proxy error: CONNECT tunnel failed, response 407"):format(sim, proxy.port))
  proxy.stop()
  -- a proxy that is not there: refused, and it is the proxy that refused
  local _, refused = via("http://127.0.0.1:1"):whoami()
  t.eq(refused.kind, "transport")
  t.eq(refused.proxy, "http://127.0.0.1:1")
  t.contains(tostring(refused), ("Unable to connect to the server %s through the proxy "
    .. "127.0.0.1:1: connection refused"):format(sim))
end)

t.test("a refused connection fails fast: two attempts, one retry line at -v=6", function()
  -- kubectl/client-go fail at once; before, 11 attempts over ~24 s
  local out, code = h.run([[
local k8s = require "kubelua"
local c = assert(k8s.connect{ server = "https://127.0.0.1:1", token = "x", verbose = 6 })
local _, err = c:request{ path = "/version" }
print("attempts=" .. err.attempts)
print(tostring(err))
]])
  t.eq(code, 0, out)
  local tries, retries = 0, 0
  for line in out:gmatch("[^\n]+") do
    if line:find('"Response" verb="GET" url="https://127.0.0.1:1/version"', 1, true) then
      tries = tries + 1
    end
    if line:find('"Retrying"', 1, true) then retries = retries + 1 end
  end
  t.eq({ tries, retries }, { 2, 1 }, out)
  t.contains(out, 'reason="connection refused')
  t.contains(out, "attempts=2\n")
  t.contains(out, "The connection to the server 127.0.0.1:1 was refused")
end)

t.test("transport errors: DNS failure and timeout, in plain words", function()
  local c = assert(k8s.connect{ server = "https://no-such-host.invalid:6443", token = "x",
    certificate_authority = h.ca_file, retries = { max = 1 } })
  local r, err = c:request{ path = "/version" }
  t.eq(r, nil)
  t.eq({ err.kind, err.curl }, { "transport", "COULDNT_RESOLVE_HOST" })
  t.eq(tostring(err), "Unable to connect to the server no-such-host.invalid:6443: "
    .. "could not resolve host: no-such-host.invalid")
  h.faults(admin, "latency=2s")
  local r2, slow = admin:request{ path = "/api/v1/namespaces", timeout = 0.5 }
  h.faults(admin, "")
  t.eq(r2, nil)
  t.eq({ slow.kind, slow.curl, slow.attempts }, { "timeout", "OPERATION_TIMEDOUT", 1 })
  t.eq(slow.url, h.url .. "/api/v1/namespaces")
  t.ok(tostring(slow):find("^error: operation timed out after %d+ milliseconds with 0 bytes "
    .. "received$"), tostring(slow))
end)

t.test("Warning headers from the server are printed on stderr, once per client", function()
  local out, code = h.run(([[
local k8s = require "kubelua"
local c = assert(k8s.connect())
for i = 1, 2 do
  assert(c:create({ apiVersion = "v1", kind = "ConfigMap", bogus = 1,
    metadata = { name = %q .. i, namespace = "default" } }))
end
local other = assert(k8s.connect())
local resp = assert(other:request{ method = "POST", path = "/api/v1/namespaces/default/configmaps",
  body = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = %q .. "3" }, bogus = 1 } })
print("warnings: " .. k8s.json.encode(resp.warnings))
]]):format(h.name("warn"), h.name("warn")))
  t.eq(code, 0, out)
  local _, n = out:gsub('Warning: unknown field "bogus"\n', "")
  t.eq(n, 2, out) -- once for each client
  t.contains(out, 'warnings: ["299 - \\"unknown field \\\\\\"bogus\\\\\\"\\""]')
end)

t.test("as-user-extra from the kubeconfig reaches the server", function()
  local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = h.admin_token,
    as = "jane", ["as-groups"] = json.array{ "devs" },
    ["as-user-extra"] = { scopes = json.array{ "read", "write" } } }) })
  local me = assert(c:whoami())
  t.eq(me.username, "jane")
  t.eq(me.groups, json.array{ "devs", "system:authenticated" })
  t.eq(me.extra, { scopes = json.array{ "read", "write" } })
end)

t.test("exec plugin, v1 and v1beta1: args, env, provideClusterInfo; cached until expiry", function()
  for _, v in ipairs({ "v1", "v1beta1" }) do
    local api = "client.authentication.k8s.io/" .. v
    local runs = h.dir .. "/" .. h.name("exec-runs")
    -- answers with the admin token only when it got what the kubeconfig says
    local plugin = h.write(h.dir .. "/" .. h.name("exec") .. ".sh", ([[#!/bin/sh
echo run >> '%s'
[ "$1" = --flag ] && [ "$2" = "two words" ] || { echo "bad args: $*" >&2; exit 3; }
[ "$KL_MODE" = "it's set" ] || { echo "bad env" >&2; exit 4; }
case $KUBERNETES_EXEC_INFO in
  *'"apiVersion":"%s"'*'"server":"%s"'*) ;;
  *) echo "bad exec info: $KUBERNETES_EXEC_INFO" >&2; exit 5 ;;
esac
exp=$(date -u -d "@$(( $(date +%%s) + 2 ))" +%%Y-%%m-%%dT%%H:%%M:%%SZ)
printf '{"apiVersion":"%s","kind":"ExecCredential",'
printf '"status":{"token":"%%s","expirationTimestamp":"%%s"}}' "$(cat '%s')" "$exp"
]]):format(runs, api, h.url, api, h.dir .. "/admin.token"), "700")
    local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ exec = {
      apiVersion = api, command = plugin, args = json.array{ "--flag", "two words" },
      env = json.array{ { name = "KL_MODE", value = "it's set" } },
      provideClusterInfo = true, interactiveMode = "Never" } }) })
    t.eq(assert(c:whoami()).username, "kubesim-admin", api)
    assert(c:get("v1", "Namespace", "default"))
    local _, n = h.read(runs):gsub("run", "")
    t.eq(n, 1, "cached while not expired: " .. api)
    async.sleep(3.1)
    assert(c:get("v1", "Namespace", "default"))
    _, n = h.read(runs):gsub("run", "")
    t.eq(n, 2, "run again after expirationTimestamp: " .. api)
  end
end)

t.test("the context's namespace is the client's default namespace", function()
  local c = assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = h.admin_token }, nil,
    { namespace = "kube-system" }) })
  t.eq(c.namespace, "kube-system")
  local name = h.name("ctx-ns")
  local cm = assert(c:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = name } }))
  t.eq(cm.metadata.namespace, "kube-system")
  t.eq(assert(c:get("v1", "ConfigMap", name)).metadata.namespace, "kube-system")
  local _, nf = admin:get("v1", "ConfigMap", name) -- admin's context: default
  t.ok(k8s.errors.is(nf, "NotFound"), "not in default")
  assert(c:delete("v1", "ConfigMap", name))
end)
