-- Verbose output (-v=0..10) shows requests, bodies and curl commands, and
-- never a credential: not the admin token, not a service-account token
-- (bound or legacy), not a client key, not a Secret's data.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"

local SECRET_RAW = "s3cr3t-value-XYZ-0123456789"
local STRING_DATA = "plain-secret-ABC-9876543210"

local BASIC_PASSWORD = "basic-pass-Q7w8e9r0"
local token_kc = h.kubeconfig_with({ token = h.admin_token })
local basic_kc = h.kubeconfig_with({ username = "admin", password = BASIC_PASSWORD })
-- an exec plugin that prints the admin token
local exec_kc = h.kubeconfig_with({ exec = { apiVersion = "client.authentication.k8s.io/v1",
  command = h.write(h.dir .. "/verbosity-exec.sh", ([[#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
printf '"status":{"token":"%%s"}}' "$(cat '%s')"
]]):format(h.dir .. "/admin.token"), "700"), interactiveMode = "Never" } })
local tokens_file = h.dir .. "/verbosity-tokens"

-- what every run does: every code path that carries a secret
local script = ([[
local k8s = require "kubelua"
local tc = assert(k8s.connect{ kubeconfig = %q })
local cert = assert(k8s.connect())
local ns = "verbose-" .. os.getenv("LEVEL")
assert(tc:apply({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
assert(tc:apply({ apiVersion = "v1", kind = "ServiceAccount",
  metadata = { name = "bot", namespace = ns } }))
local s = assert(tc:create({ apiVersion = "v1", kind = "Secret",
  metadata = { name = "db", namespace = ns },
  data = { password = k8s.base64.encode(%q) }, stringData = { other = %q } }))
assert(cert:get("v1", "Secret", "db", { namespace = ns }))
assert(tc:list("v1", "Secret", { namespace = ns }))
assert(tc:apply({ apiVersion = "v1", kind = "Secret", metadata = { name = "db", namespace = ns },
  stringData = { other = %q } }))
assert(tc:patch("v1", "Secret", "db", { metadata = { labels = { a = "b" } } }, { namespace = ns }))
assert(tc:watch("v1", "Secret", { namespace = ns, name = "db" }, function() return false end))
local bound = assert(tc:token_request(ns, "bot"))
assert(tc:token_review(bound))
local legacy = assert(tc:service_account_token(ns, "bot"))
local as = assert(k8s.connect{ server = tc.server, token = legacy.token,
  certificate_authority = os.getenv("KUBESIM_DIR") .. "/ca.crt" })
assert(as:whoami())
local bad = assert(k8s.connect{ server = tc.server, token = "wrong-" .. bound,
  certificate_authority = os.getenv("KUBESIM_DIR") .. "/ca.crt" })
local _, e401 = bad:whoami()
print(tostring(e401))
local _, basic401 = assert(k8s.connect{ kubeconfig = %q }):whoami()
print(tostring(basic401))
assert(assert(k8s.connect{ kubeconfig = %q }):whoami())
local keys = {}
for k in pairs(s.data) do keys[#keys + 1] = k end
table.sort(keys)
print("secret data keys: " .. table.concat(keys, ","))
local f = assert(io.open(%q, "w"))
f:write(bound, "\n", legacy.token, "\n")
f:close()
]]):format(token_kc, SECRET_RAW, STRING_DATA, STRING_DATA, basic_kc, exec_kc, tokens_file)

local kc = assert(k8s.yaml.decode(h.read(h.kubeconfig)))
local key_data = kc.users[1].user["client-key-data"]
local key_pem = assert(k8s.base64.decode(key_data))
local key_lines = {}
for line in key_pem:gmatch("[^\n]+") do
  if not line:find("-----", 1, true) then key_lines[#key_lines + 1] = line end
end

local function must_not_contain(out, secret, what, level)
  if out:find(secret, 1, true) then
    error(("-v=%d printed %s"):format(level, what), 2)
  end
end

t.test("no verbosity level prints a token, a client key or Secret data", function()
  for level = 0, 10 do
    local out, code = h.run(script, "-v=" .. level, { LEVEL = level })
    t.eq(code, 0, out)
    local toks = {}
    for line in io.lines(tokens_file) do toks[#toks + 1] = line end
    t.eq(#toks, 2)
    local checks = {
      { h.admin_token, "the admin token" },
      { toks[1], "the bound service-account token" },
      { toks[2], "the legacy service-account token" },
      { toks[1]:match("^[^.]+%.[^.]+%.(.+)$"), "the bound token's signature" },
      { toks[2]:match("^[^.]+%.([^.]+)%."), "the legacy token's payload" },
      { k8s.base64.encode(toks[2]), "the legacy token as stored (base64)" },
      { SECRET_RAW, "Secret data (decoded)" },
      { k8s.base64.encode(SECRET_RAW), "Secret data (base64)" },
      { STRING_DATA, "Secret stringData" },
      { k8s.base64.encode(STRING_DATA), "Secret stringData (base64)" },
      { key_data, "the client key (base64)" },
      { key_lines[2], "a line of the client key" },
      { BASIC_PASSWORD, "the basic-auth password" },
      { k8s.base64.encode("admin:" .. BASIC_PASSWORD), "the basic-auth header value" },
    }
    for _, c in ipairs(checks) do must_not_contain(out, c[1], c[2], level) end
    -- what each level must show, so this test cannot pass by printing nothing
    t.contains(out, "error: You must be logged in to the server (Unauthorized); the server "
      .. "rejected bearer token from arguments (scripts/diagnose.lua explains why)")
    t.contains(out, "secret data keys: other,password")
    t.contains(out, 'the server rejected basic auth as "admin" from kubeconfig')
    local has = function(s) return out:find(s, 1, true) ~= nil end
    t.eq(has('"Response" verb="POST"'), level >= 6, "requests at -v=" .. level)
    t.eq(has("Authorization: Bearer <masked>"), level >= 7, "headers at -v=" .. level)
    t.eq(has('"Response Body"'), level >= 8, "bodies at -v=" .. level)
    t.eq(has('"Watch Event"'), level >= 8, "watch events at -v=" .. level)
    t.eq(has("curl -v -XPOST"), level >= 9, "curl at -v=" .. level)
    if level >= 8 then
      t.contains(out, '"password":"<masked>"')
      t.contains(out, '"token":"<masked>"')
    end
  end
end)

t.test("KUBELUA_VERBOSE and connect{ verbose } set the level", function()
  local out = h.run([[
local k8s = require "kubelua"
local c = assert(k8s.connect())
assert(c:get("v1", "Namespace", "default"))
local quiet = assert(k8s.connect{ verbose = 0 })
assert(quiet:get("v1", "Namespace", "kube-system"))
]], "", { KUBELUA_VERBOSE = "6" })
  t.contains(out, '"Response" verb="GET" url="' .. h.url .. '/api/v1/namespaces/default" '
    .. 'status="200 OK" milliseconds=')
  t.ok(not out:find("kube-system", 1, true), "verbose = 0 wins over the environment")
end)

t.test("c.config holds no client key or password: json.encode, -v=10 and errors", function()
  local PROXY_PASSWORD = "proxy-pass-Z9y8x7w6"
  local proxy_kc = h.kubeconfig_with({ token = h.admin_token },
    { ["proxy-url"] = "http://proxyuser:" .. PROXY_PASSWORD .. "@127.0.0.1:1" })
  local out, code = h.run(([[
local k8s = require "kubelua"
local function walk(v, seen)
  if type(v) ~= "table" or seen[v] then return tostring(v) end
  seen[v] = true
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. walk(x, seen) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local cert = assert(k8s.connect())            -- client-key-data in the kubeconfig
local basic = assert(k8s.connect{ kubeconfig = %q })
local proxied = assert(k8s.connect{ kubeconfig = %q, retries = { max = 1 } })
for _, c in ipairs({ cert, basic, proxied }) do
  print("config: " .. k8s.json.encode(c.config))
  print("walked: " .. walk(c.config, {}))
end
print("key_data: " .. tostring(cert.config.tls.key_data))
print("proxy: " .. tostring(proxied.config.proxy))
-- the client still uses them: the certificate authenticates, the proxy is tried
print("whoami: " .. assert(cert:whoami()).username)
local _, err = proxied:get("v1", "Namespace", "default")
print("error: " .. tostring(err))
print("error fields: " .. k8s.json.encode(err))
]]):format(basic_kc, proxy_kc), "-v=10")
  t.eq(code, 0, out)
  for _, c in ipairs({
    { key_data, "the client key (base64)" },
    { key_lines[2], "a line of the client key" },
    { BASIC_PASSWORD, "the basic-auth password" },
    { PROXY_PASSWORD, "the proxy password" },
    { h.admin_token, "the admin token" },
  }) do
    must_not_contain(out, c[1], c[2], 10)
  end
  t.contains(out, "key_data: nil")
  t.contains(out, "proxy: http://proxyuser:REDACTED@127.0.0.1:1")
  t.contains(out, "whoami: kubernetes-admin")
  t.contains(out, ("error: Unable to connect to the server %s through the proxy 127.0.0.1:1: "
    .. "connection refused"):format(h.url:match("//(.*)$")))
  t.contains(out, '"proxy":"http://proxyuser:REDACTED@127.0.0.1:1"')
  t.contains(out, '"ca_data":"-----BEGIN CERTIFICATE-----') -- the rest of c.config stays
end)
