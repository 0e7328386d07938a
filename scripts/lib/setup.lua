-- The tutorial's objects for one namespace (scripts/tutorial.lua, batch.lua,
-- teardown.lua): names, the manifests of scripts/manifests/ with the names
-- substituted, idempotent apply with a kubectl-style line per object, the
-- wait for the token controller, and the manifest traps worth a warning.
local k8s = require "kubelua"

local M = {}

M.MANAGED_BY = "app.kubernetes.io/managed-by"
M.MANAGED_BY_VALUE = "kubelua"
M.SELECTOR = M.MANAGED_BY .. "=" .. M.MANAGED_BY_VALUE

local here = debug.getinfo(1, "S").source:match("^@(.*)/lib/[^/]*$") or "scripts"
M.MANIFEST_DIR = here .. "/manifests"

--- The object names for a service account `name` (default the tutorial's
--- api-service-account) in namespace `namespace`: the Secret is
--- `<name>-token`; the ClusterRole and its binding take the name without its
--- `-service-account` suffix (`api-cluster-role`, `api-cluster-role-binding`).
function M.names(o)
  o = o or {}
  local ns = o.namespace or "devops-tools"
  local sa = o.name or "api-service-account"
  local base = sa:gsub("%-service%-account$", "")
  return {
    namespace = ns,
    service_account = sa,
    secret = sa .. "-token",
    cluster_role = base .. "-cluster-role" .. (o.read_only and "-read-only" or ""),
    binding = base .. "-cluster-role-binding",
    user = ("system:serviceaccount:%s:%s"):format(ns, sa),
  }
end

-- starts and ends with [a-z0-9], only `chars` in between
local function shaped(s, chars)
  return s:match("^[a-z0-9]") and s:match("[a-z0-9]$") and s:match("^[" .. chars .. "]*$")
end

--- nil, message when s is not a valid namespace (DNS-1123 label) name.
function M.check_namespace_name(s)
  if type(s) ~= "string" or #s == 0 or #s > 63 or not shaped(s, "%-a-z0-9") then
    return nil, ("invalid namespace name %q: a lowercase RFC 1123 label (a-z, 0-9, '-'), "
      .. "at most 63 characters"):format(tostring(s))
  end
  return true
end

--- nil, message when s is not a valid service account (DNS-1123 subdomain) name.
function M.check_object_name(s, what)
  if type(s) ~= "string" or #s == 0 or #s > 253
    or not shaped(s, "%-.a-z0-9") then
    return nil, ("invalid %s name %q: lowercase letters, digits, '-' and '.', "
      .. "starting and ending with a letter or digit"):format(what or "object", tostring(s))
  end
  return true
end

--- Reads scripts/manifests/<file> and decodes its YAML documents.
--- @return table|nil docs, string|nil err
function M.load_manifest(file)
  local path = M.MANIFEST_DIR .. "/" .. file
  local f, err = io.open(path, "rb")
  if not f then return nil, ("cannot read manifest %s: %s"):format(path, err) end
  local text = f:read("a")
  f:close()
  local docs, derr
  if k8s.yaml.decode_all then
    docs, derr = k8s.yaml.decode_all(text)
  else
    local d
    d, derr = k8s.yaml.decode(text)
    docs = d and { d }
  end
  if not docs then return nil, ("%s: %s"):format(path, tostring(derr)) end
  local out = {}
  for _, d in ipairs(docs) do
    if type(d) == "table" then out[#out + 1] = d end
  end
  if #out == 0 then return nil, ("%s: no object in the manifest"):format(path) end
  return out, nil, path
end

local function one(file)
  local docs, err, path = M.load_manifest(file)
  if not docs then return nil, err end
  return docs[1], nil, path
end

--- Adds the managed-by label (in place) and returns obj.
function M.label(obj)
  local md = obj.metadata
  md.labels = md.labels or {}
  md.labels[M.MANAGED_BY] = M.MANAGED_BY_VALUE
  return obj
end

--- True when obj carries the managed-by label.
function M.is_managed(obj)
  local l = obj and obj.metadata and obj.metadata.labels
  return type(l) == "table" and l[M.MANAGED_BY] == M.MANAGED_BY_VALUE
end

--- The tutorial's objects, in its order, for names (see M.names):
--- a list of { obj = ..., source = "scripts/manifests/x.yaml" }.
--- opts.read_only takes the ClusterRole from clusterrole-read-only.yaml.
--- opts.scope = "namespace" binds with a RoleBinding in the namespace
--- instead of the tutorial's ClusterRoleBinding (batch.lua).
--- @return table|nil objects, string|nil err
function M.objects(names, opts)
  opts = opts or {}
  local objs = {}
  local function add(obj, source) objs[#objs + 1] = { obj = obj, source = source } end

  add({ apiVersion = "v1", kind = "Namespace", metadata = { name = names.namespace } },
    "kubectl create namespace " .. names.namespace)

  local sa, err, path = one("serviceaccount.yaml")
  if not sa then return nil, err end
  sa.metadata.name, sa.metadata.namespace = names.service_account, names.namespace
  add(sa, path)

  if not opts.skip_role then
    local role
    role, err, path = one(opts.read_only and "clusterrole-read-only.yaml" or "clusterrole.yaml")
    if not role then return nil, err end
    role.metadata.name = names.cluster_role
    if role.metadata.namespace ~= nil then role.metadata.namespace = names.namespace end
    add(role, path)
  end

  local crb
  crb, err, path = one("clusterrolebinding.yaml")
  if not crb then return nil, err end
  crb.metadata.name = names.binding
  crb.subjects[1].namespace = names.namespace
  crb.subjects[1].name = names.service_account
  crb.roleRef.name = names.cluster_role
  if opts.scope == "namespace" then
    crb.kind = "RoleBinding"
    crb.metadata.namespace = names.namespace
  end
  add(crb, path)

  local secret
  secret, err, path = one("sa-token.yaml")
  if not secret then return nil, err end
  secret.metadata.name, secret.metadata.namespace = names.secret, names.namespace
  secret.metadata.annotations["kubernetes.io/service-account.name"] = names.service_account
  add(secret, path)
  return objs
end

local function group_of(api_version)
  return api_version:match("^(.*)/[^/]*$") or ""
end
M.group_of = group_of

--- kubectl's `kind.group/name` reference for an object:
--- namespace/devops-tools, clusterrole.rbac.authorization.k8s.io/api-cluster-role.
function M.ref(obj)
  local g = group_of(obj.apiVersion or "")
  return ("%s%s/%s"):format(obj.kind:lower(), g ~= "" and ("." .. g) or "", obj.metadata.name)
end

local CLUSTER_SCOPED = {
  Namespace = true, ClusterRole = true, ClusterRoleBinding = true, Node = true,
  PersistentVolume = true, CustomResourceDefinition = true, StorageClass = true,
}
M.CLUSTER_SCOPED = CLUSTER_SCOPED

local WRITE_VERBS = { create = true, update = true, patch = true, delete = true,
  deletecollection = true, ["*"] = true, escalate = true, bind = true, impersonate = true }

local function list_of(v)
  if type(v) ~= "table" then return {} end
  return v
end

local function contains(list, x)
  for _, v in ipairs(list_of(list)) do
    if v == x then return true end
  end
  return false
end

--- The traps in a role and its binding, as warning lines: metadata.namespace
--- on a cluster-scoped object, resources named in a group where they do not
--- exist (ingress in ""/extensions), and write access granted cluster-wide.
--- role and binding: { obj = ..., source = path } (either may be nil).
function M.lint(role_entry, binding_entry)
  local w = {}
  local function where(e)
    return e and e.source and (e.source:match("[^/]*$") .. ": ") or ""
  end
  local role = role_entry and role_entry.obj
  local binding = binding_entry and binding_entry.obj
  for _, e in ipairs({ role_entry or false, binding_entry or false }) do
    local obj = e and e.obj
    if obj and CLUSTER_SCOPED[obj.kind] and obj.metadata.namespace ~= nil then
      w[#w + 1] = ("%s%s %s has metadata.namespace %q, which the server ignores: "
        .. "%ss are cluster-scoped"):format(where(e), obj.kind, obj.metadata.name,
        tostring(obj.metadata.namespace), obj.kind)
    end
  end
  if not role then return w end
  local writes, write_res = {}, {}
  for i, rule in ipairs(list_of(role.rules)) do
    local groups = list_of(rule.apiGroups)
    for _, r in ipairs(list_of(rule.resources)) do
      if r == "ingress" or r == "ingresses" then
        local wrong = {}
        for _, g in ipairs(groups) do
          if g == "" or g == "extensions" then wrong[#wrong + 1] = ("%q"):format(g) end
        end
        if #wrong > 0 or r == "ingress" then
          w[#w + 1] = ("%srules[%d]: %q in API groups %s grants nothing on Ingresses: RBAC "
            .. "needs the plural \"ingresses\" in group \"networking.k8s.io\" "
            .. "(extensions/v1beta1 Ingress was removed in Kubernetes 1.22)")
            :format(where(role_entry), i - 1, r,
              #wrong > 0 and table.concat(wrong, ", ") or "listed")
        end
      end
    end
    local grants_write = false
    for _, v in ipairs(list_of(rule.verbs)) do
      if WRITE_VERBS[v] then
        grants_write = true
        if not contains(writes, v) then writes[#writes + 1] = v end
      end
    end
    if grants_write then
      for _, r in ipairs(list_of(rule.resources)) do
        if not contains(write_res, r) then write_res[#write_res + 1] = r end
      end
    end
  end
  if #writes > 0 and binding and binding.kind == "ClusterRoleBinding" then
    local shown = {}
    for i = 1, math.min(#write_res, 6) do shown[i] = write_res[i] end
    if #write_res > 6 then shown[#shown + 1] = ("and %d more"):format(#write_res - 6) end
    w[#w + 1] = ("%sClusterRoleBinding %s gives %s the verbs %s on %s in every namespace "
      .. "(write access cluster-wide); a monitoring agent needs only read access: "
      .. "use --read-only"):format(where(binding_entry), binding.metadata.name,
      role.metadata.name, table.concat(writes, ", "), table.concat(shown, ", "))
  end
  return w
end

-- True when every field of `want` is in `have` with the same value: maps
-- may hold more keys, lists must be as long and match element by element.
local function subset(want, have)
  if type(want) ~= "table" then return want == have end
  if type(have) ~= "table" then return false end
  local is_list = getmetatable(want) == k8s.json.array_mt or #want > 0
  if is_list and #want ~= #have then return false end
  for k, v in pairs(want) do
    if not subset(v, have[k]) then return false end
  end
  return true
end
M.subset = subset

local function same_role_ref(a, b)
  return type(a) == "table" and type(b) == "table" and a.kind == b.kind and a.name == b.name
    and (a.apiGroup or "") == (b.apiGroup or "")
end

--- Applies obj (after adding the managed-by label) and returns the line
--- kubectl would print (`serviceaccount/x created`) and the action. A
--- binding whose roleRef changed (immutable in the API) is deleted and
--- applied again ("replaced (roleRef changed)"). dry_run asks the server for
--- a dry run.
--- @return string|nil line, string|table action_or_err, table|nil object
function M.apply(c, obj, opts)
  opts = opts or {}
  M.label(obj)
  if CLUSTER_SCOPED[obj.kind] then obj.metadata.namespace = nil end
  local replaced = false
  local cur, gerr = c:get(obj.apiVersion, obj.kind, obj.metadata.name,
    { namespace = obj.metadata.namespace })
  if not cur and not k8s.errors.is(gerr, "NotFound") and not k8s.errors.is(gerr, "Forbidden") then
    return nil, gerr
  end
  if cur and subset(obj, cur) then
    -- what we would apply is all there: write nothing (kubectl apply sends
    -- no patch either), so a rerun leaves every resourceVersion as it was
    return M.ref(obj) .. " unchanged" .. (opts.dry_run and " (server dry run)" or ""),
      "unchanged", cur
  end
  if obj.kind == "ClusterRoleBinding" or obj.kind == "RoleBinding" then
    if cur and not same_role_ref(cur.roleRef, obj.roleRef) then
      -- roleRef cannot change: delete and create, as `kubectl auth reconcile` does
      if opts.dry_run then
        return M.ref(obj) .. " replaced (roleRef changed) (server dry run skipped)", "replaced"
      end
      local ok, derr = c:delete(obj.apiVersion, obj.kind, obj.metadata.name,
        { namespace = obj.metadata.namespace })
      if not ok then return nil, derr end
      replaced = true
    end
  end
  local res, action = c:apply(obj, { dry_run = opts.dry_run })
  if not res then return nil, action end
  if replaced then action = "replaced (roleRef changed)" end
  local line = M.ref(obj) .. " " .. tostring(action)
  if opts.dry_run then line = line .. " (server dry run)" end
  return line, action, res
end

--- Waits until the token controller has filled the Secret and decodes it.
--- @return table|nil { token, ca, namespace, secret }, table|nil err
function M.wait_token(c, names, timeout)
  local secret, err = c:wait("v1", "Secret", names.secret, {
    namespace = names.namespace, timeout = timeout or 60,
    until_ = function(s)
      return type(s) == "table" and type(s.data) == "table" and s.data.token ~= nil
        and s.data["ca.crt"] ~= nil
    end,
  })
  if not secret then return nil, err end
  local token, terr = k8s.base64.decode(secret.data.token)
  if not token then
    return nil, ("secret %s/%s: data.token is not base64: %s"):format(names.namespace,
      names.secret, tostring(terr))
  end
  local ca, cerr = k8s.base64.decode(secret.data["ca.crt"])
  if not ca then
    return nil, ("secret %s/%s: data.ca.crt is not base64: %s"):format(names.namespace,
      names.secret, tostring(cerr))
  end
  local ok, log = pcall(require, "kubelua.log")
  if ok and log.add_secret then log.add_secret(token) end
  return { token = token, ca = ca, secret = secret, namespace = names.namespace }
end

return M
