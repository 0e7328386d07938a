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

local function collect(c)
  local function get_list(api_version, kind, o)
    local items, err = c:list(api_version, kind, o)
    if not items then cli.raise(err) end
    return items.items or items
  end
  local ns_opt = opts.namespace and { namespace = opts.namespace } or { all_namespaces = true }
  local crbs = get_list(RBAC, "ClusterRoleBinding")
  local rbs = get_list(RBAC, "RoleBinding", ns_opt)
  local croles = get_list(RBAC, "ClusterRole")
  local roles = get_list(RBAC, "Role", ns_opt)
  local sopt = { field_selector = "type=kubernetes.io/service-account-token" }
  for k, v in pairs(ns_opt) do sopt[k] = v end
  local secrets = get_list("v1", "Secret", sopt)
  local sas = get_list("v1", "ServiceAccount", ns_opt)

  local role_by_key = {}
  for _, r in ipairs(croles) do role_by_key[role_key("ClusterRole", nil, r.metadata.name)] = r end
  for _, r in ipairs(roles) do
    role_by_key[role_key("Role", r.metadata.namespace, r.metadata.name)] = r
  end
  local sa_exists = {}
  for _, sa in ipairs(sas) do sa_exists[sa.metadata.namespace .. "/" .. sa.metadata.name] = true end

  local function role_of(b)
    return role_by_key[role_key(b.roleRef.kind, b.metadata.namespace, b.roleRef.name)]
  end
  local function role_ref(b)
    local r = role_of(b)
    local label = b.roleRef.kind .. "/" .. b.roleRef.name
    if not r then return label, "missing role" end
    return label, access(r.rules) or "none"
  end

  local report = {
    clusterWideServiceAccounts = arr(), defaultServiceAccountBindings = arr(),
    wildcardRules = arr(), longLivedTokens = arr(),
  }
  local bound_by = {} -- role key -> list of binding names
  for _, set in ipairs({ crbs, rbs }) do
    for _, b in ipairs(set) do
      local key = role_key(b.roleRef.kind, b.metadata.namespace, b.roleRef.name)
      bound_by[key] = bound_by[key] or {}
      table.insert(bound_by[key], (b.metadata.namespace and (b.metadata.namespace .. "/") or "")
        .. b.metadata.name)
    end
  end

  for _, b in ipairs(crbs) do
    if not builtin(b) then
      for _, s in ipairs(b.subjects or {}) do
        local who
        if s.kind == "ServiceAccount" then
          who = (s.namespace or "?") .. "/" .. s.name
        elseif s.kind == "Group" and s.name == "system:serviceaccounts" then
          who = "every service account (group system:serviceaccounts)"
        elseif s.kind == "Group" and s.name:match("^system:serviceaccounts:") then
          who = ("every service account in %s (group %s)"):format(
            s.name:match("^system:serviceaccounts:(.*)$"), s.name)
        end
        if who then
          local role, level = role_ref(b)
          -- whether the account exists (unknown for groups, and for accounts
          -- outside -n, whose namespace was not read)
          local exists = json.null
          if s.kind == "ServiceAccount"
            and (not opts.namespace or s.namespace == opts.namespace) then
            exists = sa_exists[who] ~= nil
          end
          report.clusterWideServiceAccounts[#report.clusterWideServiceAccounts + 1] = {
            serviceAccount = who, binding = b.metadata.name, role = role, access = level,
            exists = exists,
          }
        end
      end
    end
  end

  for _, set in ipairs({ crbs, rbs }) do
    for _, b in ipairs(set) do
      if not builtin(b) then
        for _, s in ipairs(b.subjects or {}) do
          if s.kind == "ServiceAccount" and s.name == "default" then
            local role, level = role_ref(b)
            report.defaultServiceAccountBindings[#report.defaultServiceAccountBindings + 1] = {
              binding = (b.kind == "RoleBinding" and ("RoleBinding/" .. b.metadata.namespace
                .. "/") or "ClusterRoleBinding/") .. b.metadata.name,
              serviceAccount = (s.namespace or b.metadata.namespace or "?") .. "/default",
              role = role, access = level,
              scope = b.kind == "ClusterRoleBinding" and "cluster"
                or ("namespace " .. b.metadata.namespace),
            }
          end
        end
      end
    end
  end

  for _, set in ipairs({ croles, roles }) do
    for _, r in ipairs(set) do
      if not builtin(r) and not (not opts.all and ({ ["cluster-admin"] = true, admin = true,
        edit = true, view = true })[r.metadata.name] and r.kind ~= "Role") then
        for i, rule in ipairs(r.rules or {}) do
          local w = wildcards(rule)
          if #w > 0 then
            local key = role_key(r.kind or (r.metadata.namespace and "Role" or "ClusterRole"),
              r.metadata.namespace, r.metadata.name)
            report.wildcardRules[#report.wildcardRules + 1] = {
              role = key, rule = i - 1, wildcards = arr(w),
              boundBy = arr(bound_by[key] or {}),
            }
          end
        end
      end
    end
  end

  local now = os.time()
  local parse_time = require("kubelua.client").parse_time
  for _, s in ipairs(secrets) do
    local m = s.metadata
    local ann, labels = m.annotations or {}, m.labels or {}
    local created = m.creationTimestamp and parse_time(m.creationTimestamp)
    local sa = ann["kubernetes.io/service-account.name"] or "?"
    report.longLivedTokens[#report.longLivedTokens + 1] = {
      secret = m.namespace .. "/" .. m.name,
      serviceAccount = m.namespace .. "/" .. sa,
      age = created and cli.age(now - created) or json.null,
      lastUsed = labels["kubernetes.io/legacy-token-last-used"] or json.null,
      invalidSince = labels["kubernetes.io/legacy-token-invalid-since"] or json.null,
    }
  end
  local function by(field)
    return function(a, b) return tostring(a[field]) < tostring(b[field]) end
  end
  table.sort(report.clusterWideServiceAccounts, by("serviceAccount"))
  table.sort(report.defaultServiceAccountBindings, by("binding"))
  table.sort(report.wildcardRules, function(a, b)
    return a.role < b.role or (a.role == b.role and a.rule < b.rule)
  end)
  table.sort(report.longLivedTokens, by("secret"))
  return report
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
  local c = cli.check(k8s.connect(cli.connect_options(opts, { namespace = nil })))
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
