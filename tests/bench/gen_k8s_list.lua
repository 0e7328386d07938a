-- Generates a realistic Kubernetes v1 List as compact JSON, the data of the
-- JSON/YAML benchmark (tests/bench/data-bench; the shape follows
-- ../shared/research/perf-baseline.md section 5): ServiceAccounts and their
-- kubernetes.io/service-account-token Secrets, with Helm-style labels and
-- annotations (incl. a kubectl last-applied-configuration JSON string),
-- managedFields, uids, timestamps, base64 data, some non-ASCII text and a few
-- empty arrays and objects. Deterministic: the same arguments give the same
-- bytes.
--
--   kubelua tests/bench/gen_k8s_list.lua OUT.json [MEGABYTES]   (default 10)
local json = require "kubelua.json"
local base64 = require "kubelua.base64"

local out_path = assert(arg[1], "usage: gen_k8s_list.lua OUT.json [MEGABYTES]")
local target = math.floor((tonumber(arg[2]) or 10) * 1e6)

-- A small deterministic generator (LCG), independent of math.random.
local state = 20240301
local function rnd(n)
  state = (state * 1103515245 + 12345) % 2147483648
  return (state // 65536) % n + 1 -- the high bits: the low ones cycle fast
end

local hexdigits = "0123456789abcdef"
local function hex(n)
  local t = {}
  for i = 1, n do
    local k = rnd(16)
    t[i] = hexdigits:sub(k, k)
  end
  return table.concat(t)
end

local function uid()
  return ("%s-%s-%s-%s-%s"):format(hex(8), hex(4), hex(4), hex(4), hex(12))
end

local alnum = "bcdfghjklmnpqrstvwxz2456789"
local function suffix(n)
  local t = {}
  for i = 1, n do
    local k = rnd(#alnum)
    t[i] = alnum:sub(k, k)
  end
  return table.concat(t)
end

local function timestamp(i)
  local day, sec = 1 + i % 28, (i * 7919) % 86400
  return ("2024-03-%02dT%02d:%02d:%02dZ"):format(day, sec // 3600, sec // 60 % 60, sec % 60)
end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(rnd(256) - 1) end
  return table.concat(t)
end

-- A PEM certificate: 64-column base64 lines, as a cluster CA looks.
local function pem(nbytes)
  local b = base64.encode(random_bytes(nbytes))
  local lines = { "-----BEGIN CERTIFICATE-----" }
  for i = 1, #b, 64 do lines[#lines + 1] = b:sub(i, i + 63) end
  lines[#lines + 1] = "-----END CERTIFICATE-----"
  return table.concat(lines, "\n") .. "\n"
end
local ca_crt = pem(800) -- the same CA in every token Secret

local function jwt(ns, sa, sa_uid)
  local header = base64.urlencode('{"alg":"RS256","kid":"' .. hex(40) .. '"}')
  local claims = base64.urlencode(json.encode {
    aud = { "https://kubernetes.default.svc.cluster.local" },
    iss = "https://kubernetes.default.svc.cluster.local",
    sub = "system:serviceaccount:" .. ns .. ":" .. sa,
    ["kubernetes.io"] = {
      namespace = ns,
      serviceaccount = { name = sa, uid = sa_uid },
    },
    nbf = 1709280000 + rnd(100000),
    exp = 1740816000 + rnd(100000),
  })
  return header .. "." .. claims .. "." .. base64.urlencode(random_bytes(256))
end

local teams = { "payments", "search", "platform", "data", "frontend", "ml", "infra" }
local notes = {
  "Zugriff für das Team in Zürich",
  "東京チームのサービスアカウント",
  "équipe données — accès en lecture",
  "Служебная учётная запись",
  "plain ascii description",
  "✓ managed by platform ☁",
}

local function labels(app, release, chart)
  return {
    ["app.kubernetes.io/name"] = app,
    ["app.kubernetes.io/instance"] = release,
    ["app.kubernetes.io/managed-by"] = "Helm",
    ["app.kubernetes.io/part-of"] = release,
    ["app.kubernetes.io/version"] = "1." .. rnd(20) .. "." .. rnd(10),
    ["helm.sh/chart"] = chart,
  }
end

local function managed(manager, time, fields)
  return {
    manager = manager,
    operation = "Update",
    apiVersion = "v1",
    time = time,
    fieldsType = "FieldsV1",
    fieldsV1 = fields,
  }
end

local function keys_set(prefix, names)
  local t = { ["."] = {} }
  for _, n in ipairs(names) do t[prefix .. n] = {} end
  return t
end

local function service_account(i, ns, name, sa_uid, secret, release, chart)
  local ts = timestamp(i)
  local l = labels(name, release, chart)
  local applied = {
    apiVersion = "v1",
    kind = "ServiceAccount",
    metadata = { name = name, namespace = ns, labels = l,
      annotations = { ["meta.helm.sh/release-name"] = release } },
    automountServiceAccountToken = true,
  }
  return {
    apiVersion = "v1",
    kind = "ServiceAccount",
    metadata = {
      name = name,
      namespace = ns,
      uid = sa_uid,
      resourceVersion = tostring(1000000 + i * 3),
      creationTimestamp = ts,
      labels = l,
      annotations = {
        ["meta.helm.sh/release-name"] = release,
        ["meta.helm.sh/release-namespace"] = ns,
        ["kubectl.kubernetes.io/last-applied-configuration"] = json.encode(applied) .. "\n",
        ["example.com/description"] = notes[rnd(#notes)],
      },
      finalizers = i % 10 == 0 and json.array() or nil,
      managedFields = json.array {
        managed("helm", ts, {
          ["f:automountServiceAccountToken"] = {},
          ["f:metadata"] = {
            ["f:annotations"] = keys_set("f:", { "meta.helm.sh/release-name",
              "meta.helm.sh/release-namespace",
              "kubectl.kubernetes.io/last-applied-configuration" }),
            ["f:labels"] = keys_set("f:", { "app.kubernetes.io/name", "app.kubernetes.io/instance",
              "app.kubernetes.io/managed-by", "helm.sh/chart" }),
          },
        }),
        managed("kube-controller-manager", ts, { ["f:secrets"] = {
          ["."] = {}, ['k:{"name":"' .. secret .. '"}'] = { ["."] = {}, ["f:name"] = {} } } }),
      },
    },
    automountServiceAccountToken = true,
    secrets = json.array { { name = secret } },
    imagePullSecrets = i % 7 == 0 and json.array() or json.array { { name = "registry-" .. ns } },
  }
end

local function token_secret(i, ns, sa, sa_uid, name, release, chart)
  local ts = timestamp(i)
  return {
    apiVersion = "v1",
    kind = "Secret",
    type = "kubernetes.io/service-account-token",
    metadata = {
      name = name,
      namespace = ns,
      uid = uid(),
      resourceVersion = tostring(1000001 + i * 3),
      creationTimestamp = ts,
      labels = labels(sa, release, chart),
      annotations = {
        ["kubernetes.io/service-account.name"] = sa,
        ["kubernetes.io/service-account.uid"] = sa_uid,
        ["example.com/owner"] = notes[rnd(#notes)],
      },
      ownerReferences = i % 5 == 0 and json.array() or nil,
      managedFields = json.array {
        managed("kube-controller-manager", ts, {
          ["f:data"] = keys_set("f:", { "ca.crt", "namespace", "token" }),
          ["f:metadata"] = { ["f:annotations"] = keys_set("f:", {
            "kubernetes.io/service-account.name", "kubernetes.io/service-account.uid" }) },
          ["f:type"] = {},
        }),
      },
    },
    data = {
      ["ca.crt"] = base64.encode(ca_crt),
      namespace = base64.encode(ns),
      token = base64.encode(jwt(ns, sa, sa_uid)),
    },
  }
end

local items = json.array()
local size = 0
local i = 0
while size < target do
  i = i + 1
  local ns = teams[rnd(#teams)] .. "-" .. rnd(9)
  local release = ns .. "-rel" .. rnd(40)
  local chart = "app-" .. rnd(3) .. "." .. rnd(12) .. "." .. rnd(9)
  local sa = "svc-" .. i .. "-" .. suffix(4)
  local sa_uid = uid()
  local secret = sa .. "-token-" .. suffix(5)
  local a = service_account(i, ns, sa, sa_uid, secret, release, chart)
  local b = token_secret(i, ns, sa, sa_uid, secret, release, chart)
  items[#items + 1] = a
  items[#items + 1] = b
  size = size + #json.encode(a) + #json.encode(b) + 2
end

local list = {
  apiVersion = "v1",
  kind = "List",
  metadata = { resourceVersion = "" },
  items = items,
}
local text = json.encode(list)
local f = assert(io.open(out_path, "wb"))
f:write(text)
f:close()
io.stderr:write(("gen_k8s_list: %s: %d items, %.2f MB\n"):format(out_path, #items, #text / 1e6))
