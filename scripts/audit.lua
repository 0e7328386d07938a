-- Who can do what, from the RBAC objects and token Secrets of a cluster:
--   * service accounts with cluster-wide bindings (ClusterRoleBindings), and
--     what the bound role allows (admin, write or read)
--   * bindings to `default` service accounts (every pod of the namespace
--     that sets no serviceAccountName gets those rights)
--   * rules with wildcards (*) in verbs, resources or API groups
--   * long-lived token Secrets (kubernetes.io/service-account-token) and
--     when they were last used (label kubernetes.io/legacy-token-last-used)
-- Built-in objects (system:* names, kubernetes.io/bootstrapping=rbac-defaults)
-- are left out unless --all is given.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local client = require "kubelua.client"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/audit.lua [-o table|json|yaml] [--all] [-n NS]",
  summary = "Report service accounts with cluster-wide rights, bindings to default service "
    .. "accounts, wildcard rules and long-lived token Secrets.",
  options = {
    { "output", short = "o", type = "enum", choices = { "table", "json", "yaml" },
      default = "table", help = "output format" },
    { "all", type = "boolean", help = "include the built-in system: roles and bindings" },
    { "namespace", short = "n", metavar = "NS",
      help = "look at RoleBindings, Roles and Secrets of NS only (default: all namespaces)" },
  },
})

local RBAC = "rbac.authorization.k8s.io/v1"
local json = k8s.json

local function arr(t) return setmetatable(t or {}, json.array_mt) end

local function builtin(obj)
  if opts.all then return false end
  local m = obj.metadata or {}
  local labels = m.labels or {}
  return (m.name or ""):match("^system:") ~= nil
    or labels["kubernetes.io/bootstrapping"] == "rbac-defaults"
end

local WRITE = { create = true, update = true, patch = true, delete = true,
  deletecollection = true, escalate = true, bind = true, impersonate = true }

--- "admin", "write" or "read" for a list of rules (nil when there are none).
local function access(rules)
  local level
  for _, r in ipairs(rules or {}) do
    for _, v in ipairs(r.verbs or {}) do
      local all_res = false
      for _, res in ipairs(r.resources or r.nonResourceURLs or {}) do
        if res == "*" then all_res = true end
      end
      if v == "*" and all_res then return "admin" end
      if v == "*" or WRITE[v] then level = "write" end
      if not level then level = "read" end
    end
  end
  return level
end

local function wildcards(rule)
  local out = {}
  for _, f in ipairs({ "verbs", "apiGroups", "resources", "nonResourceURLs" }) do
    for _, v in ipairs(rule[f] or {}) do
      if v == "*" then out[#out + 1] = f .. "=*" break end
    end
  end
  return out
end

local function role_key(kind, ns, name)
  return kind == "ClusterRole" and ("ClusterRole/" .. name) or ("Role/" .. ns .. "/" .. name)
end

-- "ns/name" for a namespaced object, "name" otherwise
local function qualified(md)
  return (md.namespace and (md.namespace .. "/") or "") .. md.name
end

-- Everything the report is made of, read once, with the lookups it needs:
-- roles by key, which bindings use each role, which accounts exist.
local function fetch(c)
  local function items(api_version, kind, o)
    return (cli.check(c:list(api_version, kind, o))) -- the items, each with its kind
  end
  local function scoped(o)
    o = o or {}
    if opts.namespace then o.namespace = opts.namespace else o.all_namespaces = true end
    return o
  end
  local cl = {
    crbs = items(RBAC, "ClusterRoleBinding"),
    rbs = items(RBAC, "RoleBinding", scoped()),
    croles = items(RBAC, "ClusterRole"),
    roles = items(RBAC, "Role", scoped()),
    secrets = items("v1", "Secret",
      scoped{ field_selector = "type=kubernetes.io/service-account-token" }),
    role_by_key = {}, bound_by = {}, sa_exists = {},
  }
  for _, set in ipairs({ cl.croles, cl.roles }) do
    for _, r in ipairs(set) do
      cl.role_by_key[role_key(r.kind, r.metadata.namespace, r.metadata.name)] = r
    end
  end
  for _, set in ipairs({ cl.crbs, cl.rbs }) do
    for _, b in ipairs(set) do
      local key = role_key(b.roleRef.kind, b.metadata.namespace, b.roleRef.name)
      cl.bound_by[key] = cl.bound_by[key] or {}
      table.insert(cl.bound_by[key], qualified(b.metadata))
    end
  end
  for _, sa in ipairs(items("v1", "ServiceAccount", scoped())) do
    cl.sa_exists[qualified(sa.metadata)] = true
  end
  return cl
end

-- "ClusterRole/x", and what it allows ("admin", "write", "read", "none",
-- "missing role")
local function role_of(cl, b)
  local r = cl.role_by_key[role_key(b.roleRef.kind, b.metadata.namespace, b.roleRef.name)]
  local label = b.roleRef.kind .. "/" .. b.roleRef.name
  if not r then return label, "missing role" end
  return label, access(r.rules) or "none"
end

-- Who a ClusterRoleBinding subject stands for, when it is service accounts.
local function accounts_of(s)
  if s.kind == "ServiceAccount" then return (s.namespace or "?") .. "/" .. s.name end
  if s.kind ~= "Group" then return nil end
  if s.name == "system:serviceaccounts" then
    return "every service account (group system:serviceaccounts)"
  end
  local ns = s.name:match("^system:serviceaccounts:(.*)$")
  return ns and ("every service account in %s (group %s)"):format(ns, s.name)
end

local function cluster_wide_accounts(cl)
  local out = arr()
  for _, b in ipairs(cl.crbs) do
    for _, s in ipairs(not builtin(b) and b.subjects or {}) do
      local who = accounts_of(s)
      if who then
        local role, level = role_of(cl, b)
        -- whether the account exists: unknown for groups, and for accounts
        -- outside -n (whose namespace was not read)
        local exists = json.null
        if s.kind == "ServiceAccount" and (not opts.namespace or s.namespace == opts.namespace) then
          exists = cl.sa_exists[who] == true
        end
        out[#out + 1] = { serviceAccount = who, binding = b.metadata.name, role = role,
          access = level, exists = exists }
      end
    end
  end
  return out
end

local function default_account_bindings(cl)
  local out = arr()
  for _, set in ipairs({ cl.crbs, cl.rbs }) do
    for _, b in ipairs(set) do
      for _, s in ipairs(not builtin(b) and b.subjects or {}) do
        if s.kind == "ServiceAccount" and s.name == "default" then
          local role, level = role_of(cl, b)
          local ns = b.metadata.namespace
          out[#out + 1] = {
            binding = (ns and "RoleBinding/" or "ClusterRoleBinding/") .. qualified(b.metadata),
            serviceAccount = (s.namespace or ns or "?") .. "/default",
            role = role, access = level,
            scope = ns and ("namespace " .. ns) or "cluster",
          }
        end
      end
    end
  end
  return out
end

-- the built-in user-facing roles, wildcards by design
local DEFAULT_ROLES = { ["cluster-admin"] = true, admin = true, edit = true, view = true }

local function wildcard_rules(cl)
  local out = arr()
  for _, set in ipairs({ cl.croles, cl.roles }) do
    for _, r in ipairs(set) do
      local skip = builtin(r) or (not opts.all and r.kind == "ClusterRole"
        and DEFAULT_ROLES[r.metadata.name])
      for i, rule in ipairs(not skip and r.rules or {}) do
        local w = wildcards(rule)
        if #w > 0 then
          local key = role_key(r.kind, r.metadata.namespace, r.metadata.name)
          out[#out + 1] = { role = key, rule = i - 1, wildcards = arr(w),
            boundBy = arr(cl.bound_by[key] or {}) }
        end
      end
    end
  end
  return out
end

local function long_lived_tokens(cl)
  local out, now = arr(), os.time()
  for _, s in ipairs(cl.secrets) do
    local m = s.metadata
    local ann, labels = m.annotations or {}, m.labels or {}
    local created = m.creationTimestamp and client.parse_time(m.creationTimestamp)
    out[#out + 1] = {
      secret = qualified(m),
      serviceAccount = m.namespace .. "/" .. (ann["kubernetes.io/service-account.name"] or "?"),
      age = created and cli.age(now - created) or json.null,
      lastUsed = labels["kubernetes.io/legacy-token-last-used"] or json.null,
      invalidSince = labels["kubernetes.io/legacy-token-invalid-since"] or json.null,
    }
  end
  return out
end

local function sorted(list, less)
  table.sort(list, less)
  return list
end

local function by(field)
  return function(a, b) return tostring(a[field]) < tostring(b[field]) end
end

local function collect(c)
  local cl = fetch(c)
  return {
    clusterWideServiceAccounts = sorted(cluster_wide_accounts(cl), by("serviceAccount")),
    defaultServiceAccountBindings = sorted(default_account_bindings(cl), by("binding")),
    wildcardRules = sorted(wildcard_rules(cl), function(a, b)
      return a.role < b.role or (a.role == b.role and a.rule < b.rule)
    end),
    longLivedTokens = sorted(long_lived_tokens(cl), by("secret")),
  }
end

local function text(v)
  if v == nil or v == json.null then return "<none>" end
  if type(v) == "table" then return #v > 0 and table.concat(v, ",") or "<none>" end
  return tostring(v)
end

local function print_tables(report)
  local sections = {
    { "Service accounts with cluster-wide bindings", report.clusterWideServiceAccounts,
      { "service account", "binding", "role", "access", "exists" },
      { "serviceAccount", "binding", "role", "access", "exists" } },
    { "Bindings to default service accounts", report.defaultServiceAccountBindings,
      { "binding", "service account", "role", "access", "scope" },
      { "binding", "serviceAccount", "role", "access", "scope" } },
    { "Rules with wildcards", report.wildcardRules,
      { "role", "rule", "wildcards", "bound by" }, { "role", "rule", "wildcards", "boundBy" } },
    { "Long-lived token Secrets", report.longLivedTokens,
      { "secret", "service account", "age", "last used", "invalid since" },
      { "secret", "serviceAccount", "age", "lastUsed", "invalidSince" } },
  }
  for i, s in ipairs(sections) do
    if i > 1 then io.stdout:write("\n") end
    io.stdout:write(("%s (%d)\n"):format(s[1], #s[2]))
    if #s[2] > 0 then
      local rows = {}
      for _, item in ipairs(s[2]) do
        local row = {}
        for j, f in ipairs(s[4]) do
          local v = item[f]
          if type(v) == "boolean" then v = v and "yes" or "NO (dangling)" end
          row[j] = text(v)
        end
        rows[#rows + 1] = row
      end
      cli.print_table(s[3], rows)
    end
  end
end

local function main()
  local c = cli.check(k8s.connect(cli.connect_options(opts, { namespace = false })))
  local report = collect(c)
  if opts.output == "json" then
    io.stdout:write(json.encode(report, { indent = 2 }), "\n")
  elseif opts.output == "yaml" then
    io.stdout:write(k8s.yaml.encode(report))
  else
    print_tables(report)
  end
  return 0
end

cli.main(main)
