-- kubelua.config and kubelua.credentials: client-go's loading rules against
-- the fixtures in fixtures/kubeconfig/ (every field, merge order,
-- current-context precedence, relative paths, every error message, exec
-- plugins, tokenFile rotation, in-cluster).
local t = require "testlib"
local config = require "kubelua.config"
local credentials = require "kubelua.credentials"
local base64 = require "kubelua.base64"
local json = require "kubelua.json"

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
if HERE:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  HERE = p:read("l") .. "/" .. HERE
  p:close()
end
HERE = config.clean_path(HERE)
local FIX = HERE .. "/fixtures/kubeconfig"
local FULL = FIX .. "/full.yaml"
local ERRS = FIX .. "/errors.yaml"
local q = credentials.shell_quote

local slurp = t.read

local function spit(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local made = {} -- every temporary directory, removed by the last test

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  made[#made + 1] = d
  return d
end

local function rmrf(d)
  assert(d:match("^/tmp/"), d)
  os.execute("rm -rf " .. q(d))
end

-- an environment with nothing in it but what the test says
local function env(vars)
  vars = vars or {}
  return function(k) return vars[k] end
end
local EMPTY = env({ HOME = "/nonexistent-home" })

local function load(opts, vars)
  return config.load(opts, env(vars or { HOME = "/nonexistent-home" }))
end

local CA_PEM = slurp(FIX .. "/certs/ca.crt")
-- certificate_authority_data=: a PEM unlike any fixture's, to see whose CA won
local OTHER_PEM = "-----BEGIN CERTIFICATE-----\nb3RoZXIgQ0E=\n-----END CERTIFICATE-----\n"
local CERT_PEM = slurp(FIX .. "/certs/client.crt")
local KEY_PEM = slurp(FIX .. "/certs/client.key")

---------------------------------------------------------------------------
-- every field of full.yaml, one context each

local FIELDS = {
  { "dev", { server = "https://127.0.0.1:6443", namespace = "team-a", cluster_name = "dev",
    user_name = "token-user", tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false } },
    "bearer token from kubeconfig", { Authorization = "Bearer static-token" } },
  { "prod-file", { server = "https://prod.example.com:6443", namespace = "default",
    proxy = "http://proxy.example.com:3128",
    tls = { ca_data = CA_PEM, insecure = false, server_name = "api.prod.internal" } },
    "bearer token from file " .. FIX .. "/token.txt (re-read as it rotates)",
    { Authorization = "Bearer token-from-file" } },
  -- token and tokenFile: client-go uses the file while it reads, the token otherwise
  { "both", { server = "https://127.0.0.1:6443" },
    "bearer token from file " .. FIX .. "/token.txt (re-read as it rotates)",
    { Authorization = "Bearer token-from-file" } },
  { "cert", { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false,
    cert_file = FIX .. "/certs/client.crt", key_file = FIX .. "/certs/client.key" } },
    "client certificate from kubeconfig", {} },
  { "certdata", { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false,
    cert_data = CERT_PEM, key_data = KEY_PEM } }, "client certificate from kubeconfig", {} },
  { "basic", { server = "https://10.0.0.1", tls = { insecure = true } },
    'basic auth as "alice" from kubeconfig',
    { Authorization = "Basic " .. base64.encode("alice:s3cret") } },
  { "exec", { server = "https://prod.example.com:6443" }, "exec: aws-iam-authenticator", nil },
  -- a token wins over an exec plugin (client-go UpdateTransportConfig)
  { "exec-and-token", {}, "bearer token from kubeconfig",
    { Authorization = "Bearer token-beats-exec" } },
  { "imp", { impersonate = { user = "jane", groups = { "devs", "ops" }, uid = "1234",
    extra = { scopes = { "view", "edit" } } } }, "bearer token from kubeconfig",
    { Authorization = "Bearer imp-token" } },
  -- client-go reads no auth information for a plain-http server
  { "plain", { server = "http://localhost:8080", tls = { insecure = false } },
    "none (plain http: credentials are not sent)", {} },
  -- no scheme: https when TLS is configured, else http (DefaultServerURL)
  { "noscheme-tls", { server = "https://10.0.0.2:6443", user_name = "anonymous",
    tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false } }, "none (anonymous)", {} },
  { "noscheme-plain", { server = "http://10.0.0.3:8080" },
    "none (plain http: credentials are not sent)", {} },
  { "socks", { proxy = "socks5://127.0.0.1:1080", impersonate = nil }, "none (anonymous)", {} },
}

for _, row in ipairs(FIELDS) do
  local ctx, want, describe, headers = row[1], row[2], row[3], row[4]
  t.test("full.yaml context " .. ctx, function()
    local cfg, err = load({ kubeconfig = FULL, context = ctx })
    t.ok(cfg, err)
    t.eq(cfg.context, ctx)
    t.eq(cfg.source, FULL)
    for k, v in pairs(want) do t.eq(cfg[k], v, k) end
    t.eq(cfg.credentials:describe(), describe)
    if headers then t.eq(cfg.credentials:headers(), headers) end
    t.eq(cfg.credentials:tls(), nil)
    t.eq(cfg.credentials:refresh(), false)
  end)
end

t.test("current-context is used when no context= is given", function()
  local cfg = assert(load({ kubeconfig = FULL }))
  t.eq(cfg.context, "dev")
  t.eq(cfg.namespace, "team-a")
end)

t.test("describe and tostring never show the secret; json of cfg neither", function()
  for _, ctx in ipairs({ "dev", "prod-file", "basic", "imp" }) do
    local cfg = assert(load({ kubeconfig = FULL, context = ctx }))
    for _, s in ipairs({ cfg.credentials:describe(), tostring(cfg.credentials),
      json.encode(cfg.credentials) }) do
      for _, secret in ipairs({ "static-token", "token-from-file", "s3cret", "imp-token" }) do
        t.ok(not s:find(secret, 1, true), s)
      end
    end
  end
end)

---------------------------------------------------------------------------
-- overrides (kubectl's flags)

local OVERRIDES = {
  { "namespace=", { kubeconfig = FULL, namespace = "other" }, { namespace = "other" } },
  { "cluster= replaces the context's cluster", { kubeconfig = FULL, cluster = "insecure" },
    { cluster_name = "insecure", server = "https://10.0.0.1", user_name = "token-user",
      tls = { insecure = true } } },
  { "user= replaces the context's user", { kubeconfig = FULL, user = "basic-user" },
    { user_name = "basic-user", cluster_name = "dev" }, 'basic auth as "alice" from kubeconfig' },
  { "server= replaces the server and clears tls-server-name",
    { kubeconfig = FULL, context = "prod-file", server = "https://other.example.com/" },
    { server = "https://other.example.com",
      tls = { ca_data = CA_PEM, insecure = false } } },
  { "token= replaces token and tokenFile", { kubeconfig = FULL, context = "prod-file",
    token = "override-token" }, {}, "bearer token from arguments",
    { Authorization = "Bearer override-token" } },
  { "token= drops the user's client certificate (else the server would use it)",
    { kubeconfig = FULL, context = "cert", token = "t3" },
    { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false } }, "bearer token from arguments",
    { Authorization = "Bearer t3" } },
  { "token= drops basic auth", { kubeconfig = FULL, context = "basic", token = "t4" }, {},
    "bearer token from arguments", { Authorization = "Bearer t4" } },
  { "token= keeps the user's impersonation", { kubeconfig = FULL, context = "imp", token = "t5" },
    { impersonate = { user = "jane", groups = { "devs", "ops" }, uid = "1234",
      extra = { scopes = { "view", "edit" } } } }, "bearer token from arguments" },
  { "token= wins over an exec plugin", { kubeconfig = FULL, context = "exec", token = "t2" },
    {}, "bearer token from arguments", { Authorization = "Bearer t2" } },
  { "certificate_authority= replaces CA data",
    { kubeconfig = FULL, context = "prod-file", certificate_authority = FIX .. "/certs/ca.crt" },
    { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false,
      server_name = "api.prod.internal" } } },
  { "certificate_authority= replaces insecure",
    { kubeconfig = FULL, context = "basic", certificate_authority = FIX .. "/certs/ca.crt" },
    { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false } } },
  { "certificate_authority_data= replaces CA data",
    { kubeconfig = FULL, context = "prod-file", certificate_authority_data = OTHER_PEM },
    { tls = { ca_data = OTHER_PEM, insecure = false, server_name = "api.prod.internal" } } },
  { "certificate_authority_data= replaces a CA file",
    { kubeconfig = FULL, context = "dev", certificate_authority_data = OTHER_PEM },
    { tls = { ca_data = OTHER_PEM, insecure = false } } },
  { "certificate_authority_data= replaces insecure",
    { kubeconfig = FULL, context = "basic", certificate_authority_data = OTHER_PEM },
    { tls = { ca_data = OTHER_PEM, insecure = false } } },
  { "certificate_authority_data= empty is not given",
    { kubeconfig = FULL, context = "prod-file", certificate_authority_data = "" },
    { tls = { ca_data = CA_PEM, insecure = false, server_name = "api.prod.internal" } } },
  { "certificate_authority_data= empty beside certificate_authority=",
    { kubeconfig = FULL, context = "prod-file", certificate_authority = FIX .. "/certs/ca.crt",
      certificate_authority_data = "" },
    { tls = { ca_file = FIX .. "/certs/ca.crt", insecure = false,
      server_name = "api.prod.internal" } } },
  { "insecure_skip_tls_verify= drops the CA (kubectl's flag)",
    { kubeconfig = FULL, insecure_skip_tls_verify = true },
    { tls = { insecure = true } } },
  { "insecure_skip_tls_verify=false changes nothing",
    { kubeconfig = FULL, context = "basic", insecure_skip_tls_verify = false },
    { tls = { insecure = true } } },
  { "as= with kubeconfig groups kept", { kubeconfig = FULL, context = "imp", as = "bob" },
    { impersonate = { user = "bob", groups = { "devs", "ops" }, uid = "1234",
      extra = { scopes = { "view", "edit" } } } } },
  { "as, as_groups, as_uid, as_user_extra",
    { kubeconfig = FULL, as = "system:serviceaccount:ns:sa", as_groups = { "g1" },
      as_uid = "u-1", as_user_extra = { ["acme.com/project"] = "p1" } },
    { impersonate = { user = "system:serviceaccount:ns:sa", groups = { "g1" }, uid = "u-1",
      extra = { ["acme.com/project"] = { "p1" } } } } },
  { "empty overrides are ignored", { kubeconfig = FULL, context = "", namespace = "",
    server = "", token = "" }, { context = "dev", namespace = "team-a",
    server = "https://127.0.0.1:6443" }, "bearer token from kubeconfig" },
}

for _, row in ipairs(OVERRIDES) do
  t.test("override: " .. row[1], function()
    local cfg, err = load(row[2])
    t.ok(cfg, err)
    for k, v in pairs(row[3]) do t.eq(cfg[k], v, k) end
    if row[4] then t.eq(cfg.credentials:describe(), row[4]) end
    if row[5] then t.eq(cfg.credentials:headers(), row[5]) end
  end)
end

t.test("server= and token= without any kubeconfig", function()
  local cfg, err = load({ server = "https://1.2.3.4:6443", token = "tok",
    certificate_authority = FIX .. "/certs/ca.crt" })
  t.ok(cfg, err)
  t.eq(cfg.source, "arguments")
  t.eq(cfg.server, "https://1.2.3.4:6443")
  t.eq(cfg.namespace, "default")
  t.eq(cfg.tls, { ca_file = FIX .. "/certs/ca.crt", insecure = false })
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer tok" })
  t.eq(cfg.context, nil)
  -- no scheme and no TLS settings: http, and then no credentials (client-go)
  cfg = assert(load({ server = "1.2.3.4:8080", token = "tok" }))
  t.eq(cfg.server, "http://1.2.3.4:8080")
  t.eq(cfg.credentials:headers(), {})
end)

t.test("certificate_authority_data= without any kubeconfig: TLS, so https", function()
  local cfg, err = load({ server = "1.2.3.4:6443", token = "tok",
    certificate_authority_data = OTHER_PEM })
  t.ok(cfg, err)
  t.eq(cfg.server, "https://1.2.3.4:6443")
  t.eq(cfg.tls, { ca_data = OTHER_PEM, insecure = false })
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer tok" })
end)

t.test("certificate_authority_data=: usage errors come before any file is read", function()
  local both = "certificate_authority and certificate_authority_data are both given; give one "
    .. "(a CA file or the PEM text)"
  t.eq({ load({ kubeconfig = FIX .. "/nope.yaml", certificate_authority = FIX .. "/certs/ca.crt",
    certificate_authority_data = OTHER_PEM }) }, { nil, both })
  -- base64 (as in a kubeconfig), a file name, anything else: never echoed
  for _, bad in ipairs({ base64.encode(CA_PEM), FIX .. "/certs/ca.crt", "s3cret-looking" }) do
    local cfg, err = load({ kubeconfig = FULL, certificate_authority_data = bad })
    t.eq(cfg, nil)
    t.eq(err, "certificate_authority_data: not a PEM certificate (no -----BEGIN CERTIFICATE----- "
      .. "line); give the PEM text itself, not a file name or base64")
    t.ok(not err:find(bad, 1, true), "the value is not in the error")
  end
end)

t.test("misuse raises", function()
  t.raises("option certificate_authority_data must be a string, got number", config.load,
    { certificate_authority_data = 5 })
  t.raises("option context must be a string, got number", config.load, { context = 5 })
  t.raises("option insecure_skip_tls_verify must be a boolean", config.load,
    { insecure_skip_tls_verify = "yes" })
  t.raises("options must be a table", config.load, "kubeconfig")
  t.raises("env must be a table or a function", config.load, {}, 42)
  t.raises("as_user_extra must map strings to lists of strings", config.load,
    { kubeconfig = FULL, as = "x", as_user_extra = { k = 5 } }, EMPTY)
end)

t.test("unknown options are ignored", function()
  local cfg, err = load({ kubeconfig = FULL, retries = 3, timeout = 5 })
  t.ok(cfg, err)
end)

---------------------------------------------------------------------------
-- KUBECONFIG merging, HOME, relative paths

local A, B, C = FIX .. "/merge/a.yaml", FIX .. "/merge/b.yaml", FIX .. "/merge/other/c.yaml"

local MERGES = {
  { "first non-empty current-context wins; first file wins each name", A .. ":" .. B, nil,
    { context = "b-ctx", cluster_name = "shared", server = "https://a.example.com",
      user_name = "b-user", namespace = "default", source = A .. ":" .. B },
    { Authorization = "Bearer b-user-token" } },
  { "the same two files the other way round", B .. ":" .. A, nil,
    { context = "b-ctx", server = "https://b.example.com",
      tls = { insecure = false, server_name = "b-name" } } },
  { "a context defined in both: the first file's", A .. ":" .. B, "shared-ctx",
    { cluster_name = "shared", server = "https://a.example.com", namespace = "from-a",
      user_name = "shared", impersonate = nil }, { Authorization = "Bearer a-token" } },
  { "the other way round: the whole entry from b, no field merging", B .. ":" .. A,
    "shared-ctx", { cluster_name = "b-only", namespace = "from-b", user_name = "b-user" } },
  { "a user entry wins whole (b's `as` is not merged in)", A .. ":" .. B, "a-ctx",
    { user_name = "shared", impersonate = nil, server = "https://a-only.example.com" } },
  { "missing files, empty entries and duplicates are skipped",
    ":" .. A .. "::" .. FIX .. "/merge/nope.yaml:" .. B .. ":" .. A .. ":", nil,
    { context = "b-ctx", server = "https://a.example.com", source = A .. ":" .. B } },
  { "a file of comments counts as an empty config", FIX .. "/merge/comments.yaml:" .. B, nil,
    { context = "b-ctx", server = "https://b.example.com" } },
  { "an empty file counts as an empty config", FIX .. "/merge/empty.yaml:" .. B, nil,
    { context = "b-ctx", server = "https://b.example.com" } },
  { "relative paths resolve against their own file's directory", C .. ":" .. B, nil,
    { context = "c-ctx", namespace = "from-c",
      tls = { ca_file = FIX .. "/merge/other/ca.crt", insecure = false } },
    { Authorization = "Bearer c-file-token" } },
  { "a later file's current-context does not override", B .. ":" .. C, nil,
    { context = "b-ctx" } },
  { "within one file the last entry of a name wins", FIX .. "/merge/dup.yaml", nil,
    { server = "https://second.example.com" } },
}

for _, row in ipairs(MERGES) do
  t.test("KUBECONFIG: " .. row[1], function()
    local cfg, err = config.load({ context = row[3] }, env({ KUBECONFIG = row[2], HOME = FIX }))
    t.ok(cfg, err)
    for k, v in pairs(row[4]) do t.eq(cfg[k], v, k) end
    if row[5] then t.eq(cfg.credentials:headers(), row[5]) end
  end)
end

t.test("relative KUBECONFIG entries resolve against the working directory", function()
  local cfg, err = config.load({}, env({ KUBECONFIG = "merge/other/c.yaml", PWD = FIX }))
  t.ok(cfg, err)
  t.eq(cfg.source, C)
  t.eq(cfg.tls.ca_file, FIX .. "/merge/other/ca.crt")
  -- and the explicit kubeconfig= too; the error names the file as given
  local _, err2 = config.load({ kubeconfig = "errors.yaml" }, env({ PWD = FIX }))
  t.eq(err2, 'kubeconfig errors.yaml: context "missing-context" not found (current-context)')
end)

t.test("kubeconfig= loads one file and ignores KUBECONFIG", function()
  local cfg = assert(config.load({ kubeconfig = A, context = "a-ctx" },
    env({ KUBECONFIG = B })))
  t.eq(cfg.source, A)
  local _, err = config.load({ kubeconfig = A, context = "b-ctx" }, env({ KUBECONFIG = B }))
  t.eq(err, "kubeconfig " .. A .. ': context "b-ctx" not found')
end)

t.test("HOME/.kube/config when KUBECONFIG is unset or empty", function()
  for _, vars in ipairs({ { HOME = FIX .. "/home" },
    { HOME = FIX .. "/home/", KUBECONFIG = "" } }) do
    local cfg, err = config.load({}, env(vars))
    t.ok(cfg, err)
    t.eq(cfg.source, FIX .. "/home/.kube/config")
    t.eq(cfg.server, "https://home.example.com:6443")
    t.eq(cfg.namespace, "home-ns")
  end
  -- KUBECONFIG set: HOME is not consulted, even when its files are missing
  local _, err = config.load({}, env({ HOME = FIX .. "/home", KUBECONFIG = "/nope/a:/nope/b" }))
  t.eq(err, "no configuration: none of the KUBECONFIG files exist (/nope/a, /nope/b), and "
    .. "not running in a cluster")
end)

t.test("no configuration at all", function()
  t.eq({ config.load({}, EMPTY) }, { nil, config.NO_CONFIGURATION })
  t.eq({ config.load({}, env({})) },
    { nil, "no configuration: set KUBECONFIG, create ~/.kube/config, or run in a cluster" })
  -- files that exist but are empty are no configuration either
  t.eq({ config.load({}, env({ KUBECONFIG = FIX .. "/merge/empty.yaml" })) },
    { nil, config.NO_CONFIGURATION })
  t.eq({ config.load({ kubeconfig = FIX .. "/merge/comments.yaml" }, EMPTY) }, { nil,
    "kubeconfig " .. FIX .. "/merge/comments.yaml: the file has no contexts, clusters or users" })
end)

---------------------------------------------------------------------------
-- every error, exactly

local function E(file, msg) return "kubeconfig " .. file .. ": " .. msg end

local ERRORS = {
  { "missing-context (current-context)", { kubeconfig = ERRS },
    E(ERRS, 'context "missing-context" not found (current-context)') },
  { "context=", { kubeconfig = ERRS, context = "nope" },
    E(ERRS, 'context "nope" not found') },
  { "cluster=", { kubeconfig = ERRS, context = "fine", cluster = "nope" },
    E(ERRS, 'cluster "nope" not found') },
  { "user=", { kubeconfig = ERRS, context = "fine", user = "nope" },
    E(ERRS, 'user "nope" not found') },
  { "ghost-cluster", nil, E(ERRS, 'contexts[0].context.cluster: cluster "ghost" not found') },
  { "ghost-user", nil, E(ERRS, 'contexts[1].context.user: user "ghost" not found') },
  { "no-cluster", nil, E(ERRS, "contexts[2].context.cluster: not set") },
  { "no-server", nil, E(ERRS, "clusters[1].cluster.server: not set") },
  { "bad-ca-data", nil,
    E(ERRS, "clusters[2].cluster.certificate-authority-data: invalid base64 at byte 4") },
  { "ca-missing", nil, E(ERRS, "clusters[3].cluster.certificate-authority: cannot read "
    .. FIX .. "/no/such/ca.crt: No such file or directory") },
  { "ca-both", nil, E(ERRS, "clusters[4].cluster.certificate-authority-data: "
    .. "certificate-authority and certificate-authority-data are both set; keep one") },
  { "insecure-with-ca", nil, E(ERRS, "clusters[5].cluster.insecure-skip-tls-verify: "
    .. "specifying a root certificates file with the insecure flag is not allowed") },
  { "bad-proxy", nil, E(ERRS, 'clusters[6].cluster.proxy-url: unsupported scheme "ftp", '
    .. "must be http, https, or socks5") },
  { "no-proxy-scheme", nil, E(ERRS, 'clusters[7].cluster.proxy-url: unsupported scheme "", '
    .. "must be http, https, or socks5") },
  { "ca-is-dir", nil, E(ERRS, "clusters[8].cluster.certificate-authority: cannot read "
    .. FIX .. "/certs: Is a directory") },
  { "key-missing", nil, E(ERRS, "users[0].user.client-key: cannot read " .. FIX
    .. "/no/such/client.key: No such file or directory") },
  { "cert-no-key", nil, E(ERRS, "users[1].user.client-key: client-certificate is set but "
    .. "client-key and client-key-data are not; a client certificate needs its key") },
  { "key-no-cert", nil, E(ERRS, "users[2].user.client-certificate: client-key is set but "
    .. "client-certificate and client-certificate-data are not; a client key needs its "
    .. "certificate") },
  { "cert-both", nil, E(ERRS, "users[3].user.client-certificate-data: client-certificate and "
    .. "client-certificate-data are both set; keep one") },
  { "key-both", nil, E(ERRS, "users[4].user.client-key-data: client-key and client-key-data "
    .. "are both set; keep one") },
  { "bad-key-data", nil, E(ERRS, "users[5].user.client-key-data: invalid base64 at byte 5") },
  { "gcp", nil, E(ERRS, 'users[6].user.auth-provider: auth-provider "gcp" is not supported; '
    .. "use an exec credential plugin") },
  { "token-and-basic", nil, E(ERRS, "users[7].user.username: more than one authentication "
    .. "method found: token and username/password; only one is allowed") },
  { "tokenfile-missing", nil, E(ERRS, "users[8].user.tokenFile: cannot read " .. FIX
    .. "/no/such/token: No such file or directory") },
  { "tokenfile-empty", nil,
    E(ERRS, "users[9].user.tokenFile: " .. FIX .. "/empty-token is empty") },
  { "exec-v1alpha1", nil, E(ERRS, 'users[10].user.exec.apiVersion: exec plugin: invalid '
    .. 'apiVersion "client.authentication.k8s.io/v1alpha1" (want '
    .. "client.authentication.k8s.io/v1 or v1beta1)") },
  { "exec-v1-no-mode", nil, E(ERRS, "users[11].user.exec.interactiveMode: must be set for "
    .. "client.authentication.k8s.io/v1 (Never, IfAvailable or Always)") },
  { "exec-bad-mode", nil, E(ERRS, 'users[12].user.exec.interactiveMode: invalid '
    .. 'interactiveMode "Sometimes" (want Never, IfAvailable or Always)') },
  { "exec-no-command", nil, E(ERRS, "users[13].user.exec.command: not set") },
  { "exec-no-api", nil, E(ERRS, "users[14].user.exec.apiVersion: not set") },
  { "exec-env-no-name", nil, E(ERRS, "users[15].user.exec.env[1].name: not set") },
  { "groups-without-as", nil, E(ERRS, "users[16].user.as: requesting uid, groups or "
    .. "user-extra without impersonating a user (set as)") },
  { "as_groups= without as", { kubeconfig = ERRS, context = "fine", as_groups = { "g" } },
    E(ERRS, "requesting uid, groups or user-extra without impersonating a user (set as)") },
  { "certificate_authority= unreadable", { kubeconfig = ERRS, context = "fine",
    certificate_authority = "/no/ca.crt" },
    E(ERRS, "certificate_authority: cannot read /no/ca.crt: No such file or directory") },
  { "certificate_authority= with insecure_skip_tls_verify=", { kubeconfig = ERRS,
    context = "fine", certificate_authority = FIX .. "/certs/ca.crt",
    insecure_skip_tls_verify = true }, E(ERRS, "certificate_authority: specifying a root "
    .. "certificates file with the insecure flag is not allowed") },
  { "certificate_authority_data= with insecure_skip_tls_verify=", { kubeconfig = ERRS,
    context = "fine", certificate_authority_data = OTHER_PEM, insecure_skip_tls_verify = true },
    E(ERRS, "certificate_authority_data: specifying a root certificates file with the insecure "
    .. "flag is not allowed") },
  { "no current-context", { kubeconfig = FIX .. "/no-current-context.yaml" },
    E(FIX .. "/no-current-context.yaml",
      "no context chosen: current-context is not set and no context= given") },
  { "missing kubeconfig=", { kubeconfig = FIX .. "/nope.yaml" },
    E(FIX .. "/nope.yaml", "cannot read: No such file or directory") },
  { "kubeconfig= a directory", { kubeconfig = FIX .. "/certs" },
    E(FIX .. "/certs", "cannot read: Is a directory") },
}

local PARSE = {
  { "top-sequence", "expected a mapping at the top level, got a sequence" },
  { "clusters-mapping", "clusters: expected a sequence, got a mapping" },
  { "token-number", "users[1].user.token: expected a string, got a number" },
  { "insecure-string",
    "clusters[0].cluster.insecure-skip-tls-verify: expected a boolean (true/false), got a string" },
  { "no-name", "contexts[0].name: missing" },
  { "args-not-strings", "users[0].user.exec.args[1]: expected a string, got a mapping" },
  { "entry-not-mapping", "users[0]: expected a mapping, got a string" },
  { "env-entry", "users[0].user.exec.env[0]: expected a mapping, got a string" },
  { "current-context-list", "current-context: expected a string, got a sequence" },
  { "two-docs", "yaml: expected a single document, found 2" },
  { "extra-string", "users[0].user.as-user-extra.scopes: expected a sequence, got a string" },
  { "exec-nul-arg", "users[0].user.exec.args[1]: holds a NUL byte" },
  { "exec-nul-env", "users[0].user.exec.env[1]: holds a NUL byte" },
}
for _, row in ipairs(PARSE) do
  local f = FIX .. "/parse/" .. row[1] .. ".yaml"
  ERRORS[#ERRORS + 1] = { "parse/" .. row[1], { kubeconfig = f }, E(f, row[2]) }
end

for _, row in ipairs(ERRORS) do
  t.test("error: " .. row[1], function()
    local cfg, err = load(row[2] or { kubeconfig = ERRS, context = row[1] })
    t.eq(cfg, nil)
    t.eq(err, row[3])
    t.ok(not err:find("\n"), "one line")
  end)
end

t.test("error: malformed YAML names the file, line and column", function()
  local f = FIX .. "/parse/syntax.yaml"
  local cfg, err = load({ kubeconfig = f })
  t.eq(cfg, nil)
  t.eq(err, "kubeconfig " .. f .. ": yaml: line 5, column 1: found unexpected end of stream")
end)

t.test("error: a malformed file in KUBECONFIG stops the load and is named", function()
  local bad = FIX .. "/parse/token-number.yaml"
  local _, err = config.load({}, env({ KUBECONFIG = A .. ":" .. bad .. ":" .. B }))
  t.eq(err, E(bad, "users[1].user.token: expected a string, got a number"))
end)

t.test("error: a context missing in a merged config names every file", function()
  local _, err = config.load({ context = "zzz" }, env({ KUBECONFIG = A .. ":" .. B }))
  t.eq(err, E(A .. ":" .. B, 'context "zzz" not found'))
  -- current-context names the file that set it
  _, err = config.load({}, env({ KUBECONFIG = A .. ":" .. ERRS }))
  t.eq(err, E(ERRS, 'context "missing-context" not found (current-context)'))
end)

t.test("error: entries not in use are not validated (as client-go)", function()
  local cfg, err = load({ kubeconfig = ERRS, context = "fine" })
  t.ok(cfg, err)
  t.eq(cfg.server, "https://ok.example.com")
end)

t.test("error: secrets in the file never reach the message", function()
  local _, err = load({ kubeconfig = ERRS, context = "gcp" })
  t.ok(not err:find("secret-access-token", 1, true), err)
end)

---------------------------------------------------------------------------
-- tokenFile rotation

t.test("tokenFile: re-read on every request as it rotates; refresh() says when", function()
  local d = tmpdir()
  spit(d .. "/kc.yaml", [[
current-context: c
clusters: [{name: c, cluster: {server: "https://c.example.com"}}]
users: [{name: u, user: {tokenFile: sub/../tok}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
]])
  spit(d .. "/tok", "first-token\n")
  local cfg, err = load({ kubeconfig = d .. "/kc.yaml" })
  t.ok(cfg, err)
  local creds = cfg.credentials
  t.eq(creds:describe(), "bearer token from file " .. d .. "/tok (re-read as it rotates)")
  t.eq(creds:headers(), { Authorization = "Bearer first-token" })
  t.eq(creds:refresh(), false) -- unchanged: retrying would not help
  spit(d .. "/tok", "second-token")
  t.eq(creds:headers(), { Authorization = "Bearer second-token" })
  spit(d .. "/tok", "third-token\n")
  t.eq(creds:refresh(), true) -- the server saw second-token; a retry sends third
  t.eq(creds:headers(), { Authorization = "Bearer third-token" })
  -- a failed or empty read keeps the last good token (client-go)
  spit(d .. "/tok", "")
  t.eq(creds:headers(), { Authorization = "Bearer third-token" })
  os.remove(d .. "/tok")
  t.eq(creds:headers(), { Authorization = "Bearer third-token" })
  t.eq(creds:refresh(), false)
  rmrf(d)
end)

t.test("tokenFile with token: the token is the fallback while the file is unreadable", function()
  local d = tmpdir()
  spit(d .. "/kc.yaml", [[
current-context: c
clusters: [{name: c, cluster: {server: "https://c.example.com"}}]
users: [{name: u, user: {token: fallback, tokenFile: tok}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
]])
  local cfg = assert(load({ kubeconfig = d .. "/kc.yaml" }))
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer fallback" })
  spit(d .. "/tok", "from-file")
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer from-file" })
  rmrf(d)
end)

---------------------------------------------------------------------------
-- in-cluster

local SA = FIX .. "/incluster"
local function cluster_env(extra)
  local vars = { KUBERNETES_SERVICE_HOST = "10.96.0.1", KUBERNETES_SERVICE_PORT = "443",
    KUBELUA_SERVICEACCOUNT_DIR = SA, HOME = "/nonexistent-home" }
  for k, v in pairs(extra or {}) do vars[k] = v end
  return vars
end

t.test("in-cluster: server, CA, namespace and token from the service account", function()
  local cfg, err = load({}, cluster_env())
  t.ok(cfg, err)
  t.eq(cfg.source, "in-cluster")
  t.eq(cfg.server, "https://10.96.0.1:443")
  t.eq(cfg.namespace, "kube-system")
  t.eq(cfg.tls, { ca_file = SA .. "/ca.crt", insecure = false })
  t.eq(cfg.context, nil)
  t.eq(cfg.impersonate, nil)
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer in-cluster-token" })
  t.eq(cfg.credentials:describe(), "in-cluster service account bearer token from file "
    .. SA .. "/token (re-read as it rotates)")
end)

local IN_CLUSTER = {
  { "IPv6 service host", {}, { KUBERNETES_SERVICE_HOST = "fd00::1" },
    { server = "https://[fd00::1]:443" } },
  { "POD_NAMESPACE beats the namespace file", {}, { POD_NAMESPACE = "pod-ns" },
    { namespace = "pod-ns" } },
  { "namespace= beats POD_NAMESPACE", { namespace = "flag-ns" }, { POD_NAMESPACE = "pod-ns" },
    { namespace = "flag-ns" } },
  { "no namespace file, no CA file", {}, { KUBELUA_SERVICEACCOUNT_DIR = FIX .. "/incluster-min" },
    { namespace = "default", tls = { insecure = false } },
    { Authorization = "Bearer minimal-token" } },
  { "server=, token=, certificate_authority= apply",
    { server = "https://api.example.com:6443", token = "flag-token",
      certificate_authority = FIX .. "/certs/ca.crt" }, {},
    { server = "https://api.example.com:6443", tls = { ca_file = FIX .. "/certs/ca.crt",
      insecure = false } }, { Authorization = "Bearer flag-token" } },
  { "certificate_authority_data= replaces the service account's CA",
    { certificate_authority_data = OTHER_PEM }, {},
    { tls = { ca_data = OTHER_PEM, insecure = false } } },
  { "insecure_skip_tls_verify= drops the CA", { insecure_skip_tls_verify = true }, {},
    { tls = { insecure = true } } },
  { "impersonation applies", { as = "jane", as_groups = { "g" } }, {},
    { impersonate = { user = "jane", groups = { "g" } } } },
  { "an empty KUBECONFIG file falls through to in-cluster", {},
    { KUBECONFIG = FIX .. "/merge/empty.yaml:/nope" }, { source = "in-cluster" } },
  { "a kubeconfig without current-context falls through to in-cluster", {},
    { KUBECONFIG = FIX .. "/no-current-context.yaml" }, { source = "in-cluster" } },
}
for _, row in ipairs(IN_CLUSTER) do
  t.test("in-cluster: " .. row[1], function()
    local cfg, err = load(row[2], cluster_env(row[3]))
    t.ok(cfg, err)
    for k, v in pairs(row[4]) do t.eq(cfg[k], v, k) end
    if row[5] then t.eq(cfg.credentials:headers(), row[5]) end
  end)
end

t.test("in-cluster: a kubeconfig wins; an incomplete environment is not a cluster", function()
  local cfg = assert(load({}, cluster_env({ HOME = FIX .. "/home" })))
  t.eq(cfg.source, FIX .. "/home/.kube/config")
  for _, missing in ipairs({ "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT" }) do
    local vars = cluster_env()
    vars[missing] = nil
    t.eq({ load({}, vars) }, { nil, config.NO_CONFIGURATION })
  end
  t.eq({ load({}, cluster_env({ KUBELUA_SERVICEACCOUNT_DIR = FIX .. "/certs" })) },
    { nil, config.NO_CONFIGURATION }) -- no token file there
  local _, err = load({ as_uid = "x" }, cluster_env())
  t.eq(err, "in-cluster config: requesting uid, groups or user-extra without impersonating a "
    .. "user (set as)")
end)

t.test("in-cluster: errors in the overrides", function()
  t.eq({ load({ certificate_authority = "/no/ca.crt" }, cluster_env()) }, { nil,
    "in-cluster config: certificate_authority: cannot read /no/ca.crt: No such file or directory" })
  t.eq({ load({ certificate_authority = FIX .. "/certs/ca.crt", insecure_skip_tls_verify = true },
    cluster_env()) }, { nil, "in-cluster config: certificate_authority: specifying a root "
    .. "certificates file with the insecure flag is not allowed" })
  t.eq({ load({ certificate_authority_data = OTHER_PEM, insecure_skip_tls_verify = true },
    cluster_env()) }, { nil, "in-cluster config: certificate_authority_data: specifying a root "
    .. "certificates file with the insecure flag is not allowed" })
  t.eq({ load({ certificate_authority = "/no/ca.crt", certificate_authority_data = OTHER_PEM },
    cluster_env()) }, { nil, "certificate_authority and certificate_authority_data are both "
    .. "given; give one (a CA file or the PEM text)" })
end)

t.test("errors with no kubeconfig file at all", function()
  t.eq({ load({ server = "https://x", user = "bob" }) },
    { nil, 'no kubeconfig: user "bob" not found' })
  t.eq({ load({ server = "https://x", context = "c" }) },
    { nil, 'no kubeconfig: context "c" not found' })
  t.eq({ load({ server = "https://x", certificate_authority = "/no/ca.crt" }) }, { nil,
    "no kubeconfig: certificate_authority: cannot read /no/ca.crt: No such file or directory" })
  t.eq({ load({ server = "https://x", as_uid = "1" }) }, { nil, "no kubeconfig: requesting uid, "
    .. "groups or user-extra without impersonating a user (set as)" })
end)

t.test("in-cluster: the token file is re-read as it rotates", function()
  local d = tmpdir()
  spit(d .. "/token", "sa-token-1")
  local cfg = assert(load({}, cluster_env({ KUBELUA_SERVICEACCOUNT_DIR = d })))
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer sa-token-1" })
  spit(d .. "/token", "sa-token-2")
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer sa-token-2" })
  spit(d .. "/token", "sa-token-3")
  t.eq(cfg.credentials:refresh(), true)
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer sa-token-3" })
  rmrf(d)
end)

---------------------------------------------------------------------------
-- exec plugins

local PLUGIN = FIX .. "/exec/plugin.sh"

-- a kubeconfig in a fresh directory whose user runs the plugin; vars become
-- exec env entries (PLUGIN_STATE is the directory itself)
local function exec_setup(o)
  local d = tmpdir()
  local envs = { ("{name: PLUGIN_STATE, value: %q}"):format(d) }
  for k, v in pairs(o.vars or {}) do envs[#envs + 1] = ("{name: %s, value: %q}"):format(k, v) end
  table.sort(envs)
  local args = {}
  for i, a in ipairs(o.args or {}) do args[i] = json.encode(a) end
  spit(d .. "/kc.yaml", ([[
current-context: c
clusters:
- name: c
  cluster:
    server: https://c.example.com:6443
    %s
    tls-server-name: c-name
    proxy-url: http://proxy:3128
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: kubelua, list: [1, 2]}
users:
- name: u
  user:
    exec:
      apiVersion: %s
      command: %s
      args: [%s]
      env: [%s]
      interactiveMode: %s
      provideClusterInfo: %s
      installHint: %s
contexts: [{name: c, context: {cluster: c, user: u}}]
]]):format(o.cluster or "certificate-authority: " .. FIX .. "/certs/ca.crt",
    o.api or "client.authentication.k8s.io/v1", o.command or PLUGIN, table.concat(args, ", "),
    table.concat(envs, ", "), o.mode or "Never", tostring(o.provide or false),
    json.encode(o.hint or "")))
  local cfg, err = load({ kubeconfig = d .. "/kc.yaml" })
  assert(cfg, err)
  return cfg, d
end

local function runs(d)
  local f = io.open(d .. "/runs")
  if not f then return 0 end
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

t.test("exec: token, cached for the process when there is no expiry", function()
  local cfg, d = exec_setup({})
  local c = cfg.credentials
  t.eq(c:describe(), "exec: " .. PLUGIN)
  t.eq(runs(d), 0) -- not run at load time
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-1" })
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-1" })
  t.eq(c:tls(), nil)
  t.eq(runs(d), 1)
  t.eq(c:exec_runs(), 1)
  -- after a 401: run again, new token
  t.eq(c:refresh(), true)
  t.eq(runs(d), 2)
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-2" })
  t.eq(runs(d), 2)
  t.eq(slurp(d .. "/stdin"), "devnull\n") -- interactiveMode Never: stdin closed
  rmrf(d)
end)

t.test("exec: cached until expirationTimestamp, then run again", function()
  local cfg, d = exec_setup({ vars = { PLUGIN_EXPIRY = "2030-01-01T00:00:00Z" } })
  local c = cfg.credentials
  local now = credentials.parse_rfc3339("2029-12-31T23:59:00Z")
  c._now = function() return now end
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-1" })
  now = now + 60 -- exactly at expiry: still valid (client-go: now.After(exp))
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-1" })
  t.eq(runs(d), 1)
  now = now + 1
  t.eq(c:headers(), { Authorization = "Bearer SECRET-token-2" })
  t.eq(runs(d), 2)
  rmrf(d)
end)

t.test("exec: an expiry in the past means a run per request", function()
  local cfg, d = exec_setup({ vars = { PLUGIN_EXPIRY = "2001-02-03T04:05:06.789+01:00" } })
  for i = 1, 3 do
    t.eq(cfg.credentials:headers(), { Authorization = "Bearer SECRET-token-" .. i })
  end
  t.eq(runs(d), 3)
  rmrf(d)
end)

t.test("exec: v1beta1, client certificate from status", function()
  local cfg, d = exec_setup({ api = "client.authentication.k8s.io/v1beta1",
    vars = { PLUGIN_MODE = "cert", PLUGIN_API = "client.authentication.k8s.io/v1beta1" } })
  local c = cfg.credentials
  t.eq(c:tls(), { cert_data = "CERT-1", key_data = "SECRET-KEY-1" })
  t.eq(c:headers(), {})
  t.eq(runs(d), 1)
  local info = json.decode(slurp(d .. "/info"))
  t.eq(info.apiVersion, "client.authentication.k8s.io/v1beta1")
  rmrf(d)
end)

t.test("exec: token and certificate together", function()
  local cfg, d = exec_setup({ vars = { PLUGIN_MODE = "both" } })
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer SECRET-token-1" })
  t.eq(cfg.credentials:tls(), { cert_data = "CERT", key_data = "SECRET-KEY" })
  t.eq(runs(d), 1)
  rmrf(d)
end)

t.test("exec: KUBERNETES_EXEC_INFO with provideClusterInfo", function()
  local cfg, d = exec_setup({ provide = true })
  assert(cfg.credentials:headers())
  local info = json.decode(slurp(d .. "/info"))
  t.eq(info, { kind = "ExecCredential", apiVersion = "client.authentication.k8s.io/v1",
    spec = { interactive = false, cluster = {
      server = "https://c.example.com:6443",
      ["certificate-authority-data"] = base64.encode(CA_PEM),
      ["tls-server-name"] = "c-name", ["proxy-url"] = "http://proxy:3128",
      config = { audience = "kubelua", list = json.array({ 1, 2 }) } } } })
  rmrf(d)
end)

t.test("exec: KUBERNETES_EXEC_INFO without provideClusterInfo; insecure cluster", function()
  local cfg, d = exec_setup({ cluster = "insecure-skip-tls-verify: true" })
  assert(cfg.credentials:headers())
  t.eq(json.decode(slurp(d .. "/info")), { kind = "ExecCredential",
    apiVersion = "client.authentication.k8s.io/v1", spec = { interactive = false } })
  rmrf(d)
  cfg, d = exec_setup({ cluster = "insecure-skip-tls-verify: true", provide = true })
  assert(cfg.credentials:headers())
  local cl = json.decode(slurp(d .. "/info")).spec.cluster
  t.eq(cl["insecure-skip-tls-verify"], true)
  t.eq(cl["certificate-authority-data"], nil)
  rmrf(d)
end)

t.test("exec: args and env reach the plugin intact (shell quoting)", function()
  local tricky = { "plain", "with space", "it's", '"double"', "$(touch /tmp/kubelua-pwned)",
    "`id`", "back\\slash", "new\nline", "*", "", "--flag=x" }
  local cfg, d = exec_setup({ args = tricky,
    vars = { PLUGIN_X = "it's $HOME `id`", PLUGIN_Y = "a=b=c" } })
  assert(cfg.credentials:headers())
  t.eq(slurp(d .. "/args"), table.concat(tricky, "\n") .. "\n")
  t.eq(slurp(d .. "/env"), "PLUGIN_STATE=" .. d .. "\nPLUGIN_X=it's $HOME `id`\n"
    .. "PLUGIN_Y=a=b=c\n")
  t.eq(io.open("/tmp/kubelua-pwned"), nil)
  rmrf(d)
end)

t.test("exec: interactive modes", function()
  local cfg, d = exec_setup({ mode = "IfAvailable" })
  cfg.credentials._isatty = function() return true end
  assert(cfg.credentials:headers())
  t.eq(json.decode(slurp(d .. "/info")).spec.interactive, true)
  rmrf(d)
  cfg, d = exec_setup({ mode = "IfAvailable" })
  cfg.credentials._isatty = function() return false end
  assert(cfg.credentials:headers())
  t.eq(json.decode(slurp(d .. "/info")).spec.interactive, false)
  t.eq(slurp(d .. "/stdin"), "devnull\n")
  rmrf(d)
  cfg, d = exec_setup({ mode = "Always" })
  cfg.credentials._isatty = function() return false end
  t.eq({ cfg.credentials:headers() }, { nil, "getting credentials: exec plugin cannot support "
    .. "interactive mode: standard input is not a terminal" })
  t.eq(runs(d), 0)
  rmrf(d)
end)

t.test("exec: relative command resolves against the kubeconfig's directory; PATH lookup",
  function()
    local cfg, d = exec_setup({ command = "./bin/plugin.sh" })
    os.execute("mkdir " .. q(d .. "/bin") .. " && cp " .. q(PLUGIN) .. " " .. q(d .. "/bin/"))
    t.eq(cfg.credentials:describe(), "exec: " .. d .. "/bin/plugin.sh")
    t.eq(cfg.credentials:headers(), { Authorization = "Bearer SECRET-token-1" })
    rmrf(d)
    -- a bare name is looked up in PATH
    cfg, d = exec_setup({ command = "sh", args = { PLUGIN } })
    t.eq(cfg.credentials:describe(), "exec: sh")
    t.eq(cfg.credentials:headers(), { Authorization = "Bearer SECRET-token-1" })
    rmrf(d)
  end)

local G = "getting credentials: "
local EXEC_ERRORS = {
  { "fail", G .. "exec: executable " .. PLUGIN .. " failed with exit code 3" },
  { "garbage", G .. "decoding stdout: exec plugin " .. PLUGIN
    .. " did not print an ExecCredential JSON object (22 bytes of output)" },
  { "array", G .. "decoding stdout: exec plugin " .. PLUGIN
    .. " did not print an ExecCredential JSON object (11 bytes of output)" },
  { "wrongkind", G .. 'decoding stdout: kind is "Secret", want "ExecCredential"' },
  { "nostatus", G .. "exec plugin didn't return a status field" },
  { "statusarray", G .. "decoding stdout: status is not an object" },
  { "notoken", G .. "exec plugin didn't return a token or cert/key pair" },
  { "onlycert", G .. "exec plugin returned only certificate or key, not both" },
  { "badexp", G .. "decoding stdout: status.expirationTimestamp is not an RFC 3339 time" },
  { "tokennumber", G .. "decoding stdout: status.token is not a string" },
  { "signal", G .. "exec: executable " .. PLUGIN .. " was killed by signal 9" },
}
for _, row in ipairs(EXEC_ERRORS) do
  t.test("exec error: " .. row[1], function()
    local cfg, d = exec_setup({ vars = { PLUGIN_MODE = row[1] } })
    local h, err = cfg.credentials:headers()
    t.eq(h, nil)
    t.eq(err, row[2])
    t.ok(not err:find("SECRET", 1, true), "stdout never in the error")
    t.eq({ cfg.credentials:tls() }, { nil, row[2] })
    t.eq(cfg.credentials:refresh(), false)
    t.eq(runs(d), 3) -- nothing cached after a failure
    rmrf(d)
  end)
end

t.test("exec error: plugin answers with another apiVersion", function()
  local cfg, d = exec_setup({ vars = { PLUGIN_API = "client.authentication.k8s.io/v1beta1" } })
  t.eq({ cfg.credentials:headers() }, { nil, G .. "exec plugin is configured to use API version "
    .. "client.authentication.k8s.io/v1, plugin returned version "
    .. "client.authentication.k8s.io/v1beta1" })
  rmrf(d)
end)

t.test("exec error: executable not found, with the install hint", function()
  local hint = "kubelua-test-plugin is in package foo:\n  apt-get install foo\27[1m"
  for _, cmd in ipairs({ "kubelua-no-such-plugin", "/nonexistent/plugin", FIX .. "/token.txt" }) do
    local cfg, d = exec_setup({ command = cmd, hint = hint })
    t.eq({ cfg.credentials:headers() }, { nil, G .. "exec: executable " .. cmd .. " not found"
      .. "\n\nIt looks like you are trying to use a client-go credential plugin that is not "
      .. "installed.\n\nkubelua-test-plugin is in package foo:\n  apt-get install fooU+001B[1m" })
    rmrf(d)
  end
  local cfg, d = exec_setup({ command = "kubelua-no-such-plugin" })
  t.eq({ cfg.credentials:headers() }, { nil, G .. "exec: executable kubelua-no-such-plugin not "
    .. "found\n\nIt looks like you are trying to use a client-go credential plugin that is not "
    .. "installed." })
  rmrf(d)
end)

---------------------------------------------------------------------------
-- helpers

t.test("shell_quote", function()
  local cases = { "", "a", "it's", "$x `y` \\ \"z\"", "\n", "''" }
  for _, s in ipairs(cases) do
    local p = io.popen("printf '%s' " .. q(s))
    t.eq(p:read("a"), s)
    p:close()
  end
  t.raises("NUL byte", q, "a\0b")
end)

t.test("parse_rfc3339", function()
  local rows = {
    { "1970-01-01T00:00:00Z", 0 }, { "2026-11-28T10:00:00Z", 1795860000 },
    { "2026-11-28T11:00:00+01:00", 1795860000 }, { "2026-11-28T09:30:00-00:30", 1795860000 },
    { "2000-02-29T00:00:00z", 951782400 }, { "2026-11-28t10:00:00.25Z", 1795860000.25 },
    { "2026-02-29T00:00:00Z", nil }, { "2026-13-01T00:00:00Z", nil },
    { "2026-11-28 10:00:00Z", nil }, { "2026-11-28T10:00:00", nil },
    { "2026-11-28T25:00:00Z", nil }, { "tomorrow", nil }, { 42, nil },
  }
  for _, r in ipairs(rows) do t.eq(credentials.parse_rfc3339(r[1]), r[2], tostring(r[1])) end
end)

t.test("clean_path", function()
  local rows = { { "/a/b/../c/./d/", "/a/c/d" }, { "a/../../b", "../b" }, { "", "." },
    { "/../x", "/x" }, { "./", "." }, { "//a//b", "/a/b" } }
  for _, r in ipairs(rows) do t.eq(config.clean_path(r[1]), r[2], r[1]) end
end)

t.test("cleanup: temporary directories, also those of failed tests", function()
  for _, d in ipairs(made) do rmrf(d) end
end)

t.test("user = false: the context's cluster, no credentials from the kubeconfig", function()
  local d = tmpdir()
  spit(d .. "/kc.yaml", ([[
current-context: c
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: %s
    tls-server-name: api.internal
    proxy-url: http://proxy:3128
users:
- name: u
  user: {client-certificate: %s, client-key: %s, as: someone}
contexts: [{name: c, context: {cluster: c, user: u, namespace: team}}]
]]):format(FIX .. "/certs/ca.crt", FIX .. "/certs/client.crt", FIX .. "/certs/client.key"))
  local kc = d .. "/kc.yaml"
  -- the kubeconfig's user: its client certificate and impersonation
  local full = assert(load({ kubeconfig = kc }))
  t.eq({ full.user_name, full.impersonate.user }, { "u", "someone" })
  t.ok(full.tls.cert_file or full.tls.cert_data, "client certificate")
  -- user = false, token = T: T alone, every cluster setting kept
  local cfg = assert(load({ kubeconfig = kc, user = false, token = "sa-token-123456" }))
  t.eq({ cfg.server, cfg.tls.server_name, cfg.proxy, cfg.tls.ca_file, cfg.namespace,
    cfg.user_name, cfg.impersonate },
    { "https://10.0.0.1:6443", "api.internal", "http://proxy:3128", FIX .. "/certs/ca.crt",
      "team", nil, nil })
  t.eq(cfg.credentials:headers(), { Authorization = "Bearer sa-token-123456" })
  t.eq({ cfg.tls.cert_file, cfg.tls.cert_data, cfg.tls.key_file, cfg.tls.key_data },
    { nil, nil, nil, nil })
  -- a CA of its own replaces the cluster's; the rest stays
  local ca = assert(load({ kubeconfig = kc, user = false, token = "sa-token-123456",
    certificate_authority = FIX .. "/certs/ca.crt" }))
  t.eq({ ca.tls.server_name, ca.proxy }, { "api.internal", "http://proxy:3128" })
  -- user = true is still a type error
  t.raises("option user must be a string, got boolean",
    function() load({ kubeconfig = kc, user = true }) end)
  rmrf(d)
end)
