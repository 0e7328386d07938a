-- kubelua.config against kubesim (run under tests/with-kubesim): every way
-- of connecting proves itself with one raw request through kubelua.http,
-- using exactly cfg.server, cfg.tls, cfg.proxy, cfg.impersonate and the
-- credentials' headers()/tls() (the client is tested on its own).
local t = require "testlib"
local config = require "kubelua.config"
local credentials = require "kubelua.credentials"
local http = require "kubelua.http"
local json = require "kubelua.json"

local DIR = assert(os.getenv("KUBESIM_DIR"), "run under tests/with-kubesim")
local URL = assert(os.getenv("KUBESIM_URL"))
local KUBECONFIG = DIR .. "/kubeconfig"
local CA = DIR .. "/ca.crt"
local q = credentials.shell_quote

local slurp = t.read

local function spit(path, data, mode)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  if mode then os.execute("chmod " .. mode .. " " .. q(path)) end
  return path
end

local ADMIN_TOKEN = slurp(DIR .. "/admin.token"):gsub("%s+$", "")
local PORT = assert(URL:match(":(%d+)$"), URL)

local TMP = (function()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end)()

-- a kubeconfig for kubesim with these cluster and user fields (JSON is YAML)
local seq = 0
local function kubeconfig(cluster, user)
  seq = seq + 1
  local c = { server = URL }
  for k, v in pairs(cluster or {}) do c[k] = v end
  local doc = { ["current-context"] = "sim",
    clusters = json.array({ { name = "sim", cluster = c } }),
    users = json.array({ { name = "u", user = user or json.object() } }),
    contexts = json.array({ { name = "sim", context = { cluster = "sim", user = "u" } } }) }
  return spit(("%s/kc-%d.yaml"):format(TMP, seq), json.encode(doc))
end

-- One request with the connection settings, as the client makes it.
local function request(cfg, method, path, body)
  local headers, err = cfg.credentials:headers()
  if not headers then return nil, err end
  headers["Accept"] = "application/json"
  if body then headers["Content-Type"] = "application/json" end
  local imp = cfg.impersonate
  if imp then
    headers["Impersonate-User"] = imp.user
    if imp.groups then headers["Impersonate-Group"] = imp.groups end
    if imp.uid then headers["Impersonate-Uid"] = imp.uid end
  end
  local tls = cfg.tls
  local exec_tls = cfg.credentials:tls()
  local url = cfg.server .. path
  local connect_to
  if tls.server_name then
    -- tls-server-name: ask for that name (SNI and verification), connect to
    -- the real host
    local host, port = cfg.server:match("^https://([^/:]+):(%d+)")
    url = ("https://%s:%s%s"):format(tls.server_name, port, path)
    connect_to = { ("%s:%s:%s:%s"):format(tls.server_name, port, host, port) }
  end
  local resp, rerr = http.request({ url = url, method = method or "GET", headers = headers,
    body = body and json.encode(body) or nil, timeout = 20,
    ca_data = tls.ca_data, ca_file = tls.ca_file, insecure = tls.insecure or nil,
    cert_data = exec_tls and exec_tls.cert_data or tls.cert_data, cert_file = tls.cert_file,
    key_data = exec_tls and exec_tls.key_data or tls.key_data, key_file = tls.key_file,
    proxy = cfg.proxy, connect_to = connect_to }):perform()
  if not resp then return nil, tostring(rerr and (rerr.message or rerr) or "request failed") end
  return resp
end

local function list_namespaces(cfg)
  local resp, err = request(cfg, "GET", "/api/v1/namespaces")
  t.ok(resp, err)
  t.eq(resp.status, 200, "status of GET /api/v1/namespaces: " .. tostring(resp.body))
  local names = {}
  for _, ns in ipairs(json.decode(resp.body).items) do names[ns.metadata.name] = true end
  t.ok(names.default and names["kube-system"], resp.body)
end

local function whoami(cfg)
  local resp, err = request(cfg, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    { apiVersion = "authentication.k8s.io/v1", kind = "SelfSubjectReview" })
  t.ok(resp, err)
  t.eq(resp.status, 201, resp.body)
  return json.decode(resp.body).status.userInfo
end

t.test("kubesim's kubeconfig, loaded as kubectl would ($KUBECONFIG)", function()
  local cfg, err = config.load()
  t.ok(cfg, err)
  t.eq(cfg.source, KUBECONFIG)
  t.eq(cfg.context, "kubesim")
  t.eq(cfg.server, URL)
  t.eq(cfg.namespace, "default")
  t.ok(cfg.tls.ca_data and cfg.tls.cert_data and cfg.tls.key_data, "data fields decoded")
  t.eq(cfg.credentials:describe(), "client certificate from kubeconfig")
  list_namespaces(cfg)
  t.eq(whoami(cfg).username, "kubernetes-admin")
end)

t.test("token from admin.token with a certificate-authority path", function()
  -- no kubeconfig at all: the arguments are the whole configuration
  local cfg = assert(config.load({ server = URL, token = ADMIN_TOKEN, certificate_authority = CA },
    {}))
  t.eq(cfg.source, "arguments")
  list_namespaces(cfg)
  t.eq(whoami(cfg).username, "kubesim-admin")
  -- over $KUBECONFIG's client-certificate user, token= is the credential
  cfg = assert(config.load({ token = ADMIN_TOKEN }))
  t.eq(cfg.source, KUBECONFIG)
  t.eq(cfg.tls.cert_data, nil)
  t.eq(whoami(cfg).username, "kubesim-admin")
  -- the same as kubeconfig fields, the CA relative to the kubeconfig
  spit(TMP .. "/ca.crt", slurp(CA))
  cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = "ca.crt" },
    { token = ADMIN_TOKEN }) }))
  t.eq(cfg.tls.ca_file, TMP .. "/ca.crt")
  list_namespaces(cfg)
end)

t.test("insecure-skip-tls-verify: in the kubeconfig, and as the override", function()
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["insecure-skip-tls-verify"] = true },
    { token = ADMIN_TOKEN }) }))
  t.eq(cfg.tls, { insecure = true })
  list_namespaces(cfg)
  cfg = assert(config.load({ kubeconfig = KUBECONFIG, insecure_skip_tls_verify = true }))
  t.eq(cfg.tls.ca_data, nil)
  list_namespaces(cfg)
end)

t.test("TLS is verified: no CA fails, a wrong tls-server-name fails", function()
  local cfg = assert(config.load({ kubeconfig = kubeconfig(nil, { token = ADMIN_TOKEN }) }))
  local resp, err = request(cfg, "GET", "/api/v1/namespaces")
  t.eq(resp, nil)
  t.ok(err, "an error")
  cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA,
    ["tls-server-name"] = "not-in-the-cert.example.com" }, { token = ADMIN_TOKEN }) }))
  resp = request(cfg, "GET", "/api/v1/namespaces")
  t.eq(resp, nil)
end)

t.test("tls-server-name: a name in the server certificate", function()
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA,
    ["tls-server-name"] = "kubernetes.default.svc" }, { token = ADMIN_TOKEN }) }))
  t.eq(cfg.tls.server_name, "kubernetes.default.svc")
  list_namespaces(cfg)
end)

t.test("client-certificate and client-key files", function()
  local kc = assert(config.load({ kubeconfig = KUBECONFIG }))
  spit(TMP .. "/admin.crt", kc.tls.cert_data)
  spit(TMP .. "/admin.key", kc.tls.key_data, "600")
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { ["client-certificate"] = "admin.crt", ["client-key"] = TMP .. "/admin.key" }) }))
  t.eq(cfg.tls.cert_file, TMP .. "/admin.crt")
  list_namespaces(cfg)
end)

t.test("tokenFile: rotation is picked up; refresh() after a 401", function()
  local tok = spit(TMP .. "/rotating.token", "not-a-valid-token\n")
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { tokenFile = "rotating.token" }) }))
  local resp = assert(request(cfg, "GET", "/api/v1/namespaces"))
  t.eq(resp.status, 401)
  t.eq(cfg.credentials:refresh(), false) -- same file: retrying would not help
  spit(tok, ADMIN_TOKEN .. "\n")
  t.eq(cfg.credentials:refresh(), true)
  list_namespaces(cfg)
end)

t.test("username/password: sent as Basic, which kubesim (like kube-apiserver) refuses", function()
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { username = "admin", password = "pw" }) }))
  local resp = assert(request(cfg, "GET", "/api/v1/namespaces"))
  t.eq(resp.status, 401)
end)

t.test("impersonation: as and as-groups", function()
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { token = ADMIN_TOKEN, as = "jane", ["as-groups"] = json.array({ "devs" }) }) }))
  t.eq(cfg.impersonate, { user = "jane", groups = { "devs" } })
  local who = whoami(cfg)
  t.eq(who.username, "jane")
  t.eq(who.groups, json.array({ "devs", "system:authenticated" }))
  local resp = assert(request(cfg, "GET", "/api/v1/namespaces"))
  t.eq(resp.status, 403)
  t.contains(resp.body, 'User \\"jane\\" cannot list resource \\"namespaces\\"')
end)

-- an exec plugin that prints out.json from its own directory and counts runs
local function exec_plugin(name, status, api)
  local d = TMP .. "/" .. name
  os.execute("mkdir -p " .. q(d))
  spit(d .. "/out.json", json.encode({ apiVersion = api or "client.authentication.k8s.io/v1",
    kind = "ExecCredential", status = status }))
  spit(d .. "/plugin", '#!/bin/sh\necho run >> "$(dirname "$0")/runs"\n'
    .. 'cat "$(dirname "$0")/out.json"\n', "755")
  return d
end

local function runs(d)
  local n = 0
  for _ in io.lines(d .. "/runs") do n = n + 1 end
  return n
end

t.test("exec plugin returning a token; re-run after refresh()", function()
  local d = exec_plugin("exec-token", { token = ADMIN_TOKEN })
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { exec = { apiVersion = "client.authentication.k8s.io/v1", command = "./exec-token/plugin",
      interactiveMode = "Never", provideClusterInfo = true } }) }))
  list_namespaces(cfg)
  list_namespaces(cfg)
  t.eq(runs(d), 1)
  t.eq(cfg.credentials:refresh(), true)
  t.eq(runs(d), 2)
  list_namespaces(cfg)
  t.eq(runs(d), 2)
end)

t.test("exec plugin returning a client certificate", function()
  local kc = assert(config.load({ kubeconfig = KUBECONFIG }))
  local d = exec_plugin("exec-cert", { clientCertificateData = kc.tls.cert_data,
    clientKeyData = kc.tls.key_data, expirationTimestamp = "2099-01-01T00:00:00Z" },
    "client.authentication.k8s.io/v1beta1")
  local cfg = assert(config.load({ kubeconfig = kubeconfig({ ["certificate-authority"] = CA },
    { exec = { apiVersion = "client.authentication.k8s.io/v1beta1",
      command = d .. "/plugin" } }) }))
  t.eq(cfg.credentials:headers(), {})
  list_namespaces(cfg)
  t.eq(whoami(cfg).username, "kubernetes-admin")
  t.eq(runs(d), 1)
end)

t.test("in-cluster: a service-account token from TokenRequest, rotated", function()
  local admin = assert(config.load({ server = URL, token = ADMIN_TOKEN,
    certificate_authority = CA }))
  local ns = "config-test-" .. os.time()
  local resp = assert(request(admin, "POST", "/api/v1/namespaces",
    { apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
  t.eq(resp.status, 201, resp.body)
  resp = assert(request(admin, "POST", "/api/v1/namespaces/" .. ns .. "/serviceaccounts",
    { apiVersion = "v1", kind = "ServiceAccount", metadata = { name = "robot" } }))
  t.eq(resp.status, 201, resp.body)
  local function token()
    local r = assert(request(admin, "POST", "/api/v1/namespaces/" .. ns
      .. "/serviceaccounts/robot/token", { apiVersion = "authentication.k8s.io/v1",
      kind = "TokenRequest", spec = { expirationSeconds = 3600 } }))
    t.eq(r.status, 201, r.body)
    return json.decode(r.body).status.token
  end
  local sa = TMP .. "/serviceaccount"
  os.execute("mkdir -p " .. q(sa))
  spit(sa .. "/token", token())
  spit(sa .. "/ca.crt", slurp(CA))
  spit(sa .. "/namespace", ns .. "\n")
  local cfg, err = config.load({}, { KUBERNETES_SERVICE_HOST = "127.0.0.1",
    KUBERNETES_SERVICE_PORT = PORT, KUBELUA_SERVICEACCOUNT_DIR = sa })
  t.ok(cfg, err)
  t.eq(cfg.source, "in-cluster")
  t.eq(cfg.server, URL)
  t.eq(cfg.namespace, ns)
  local first = cfg.credentials:headers().Authorization
  t.eq(whoami(cfg).username, "system:serviceaccount:" .. ns .. ":robot")
  os.execute("sleep 1") -- a new iat, so a different token
  spit(sa .. "/token", token())
  local second = cfg.credentials:headers().Authorization
  t.ok(first ~= second, "the rotated token is used")
  t.eq(whoami(cfg).username, "system:serviceaccount:" .. ns .. ":robot")
end)

t.test("cleanup", function()
  assert(TMP:match("^/tmp/"))
  os.execute("rm -rf " .. q(TMP))
end)
