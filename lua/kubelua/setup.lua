-- kubelua.setup: the tutorial's service account setup as building blocks,
-- shared by scripts/tutorial.lua, batch.lua, teardown.lua, kubeconfig.lua
-- and token.lua, and meant to be required by your own scripts too:
--
--   local k8s = require "kubelua"
--   local setup = require "kubelua.setup"
--   local c = assert(k8s.connect())
--   local names = setup.names{ namespace = "team-a", name = "ci" }
--   for _, o in ipairs(assert(setup.objects(names))) do
--     local line = assert(setup.apply(c, o.obj))
--     print(line)                              -- namespace/team-a created
--   end
--   local creds = assert(setup.wait_token(c, names))  -- { token, ca, uid, ... }
--   local text = k8s.yaml.encode(setup.kubeconfig{ server = c.server,
--     ca = creds.ca, namespace = "team-a", service_account = "ci", token = creds.token })
--
-- The tutorial's manifests are read, verbatim, from scripts/manifests/
-- (next to lua/ both in the source tree and in an installation).
local k8s = require "kubelua"

local M = {}

M.MANAGED_BY = "app.kubernetes.io/managed-by"
M.MANAGED_BY_VALUE = "kubelua"
M.SELECTOR = M.MANAGED_BY .. "=" .. M.MANAGED_BY_VALUE

-- lua/kubelua/setup.lua -> scripts/ (share/kubelua/{lua,scripts} when installed)
local function scripts_dir()
  local src = debug.getinfo(1, "S").source:sub(2)
  local lua_dir = src:match("^(.*)/kubelua/[^/]*$") or "lua"
  return (lua_dir:match("^(.*)/[^/]*$") or ".") .. "/scripts"
end
M.SCRIPTS_DIR = scripts_dir()
M.MANIFEST_DIR = M.SCRIPTS_DIR .. "/manifests"

-- ---------------------------------------------------------------- names

--- The object names for service account `o.name` (default the tutorial's
--- api-service-account) in namespace `o.namespace` (default devops-tools):
--- the Secret is `<name>-token`; the ClusterRole and its binding take the
--- name without its `-service-account` suffix (api-cluster-role,
--- api-cluster-role-binding); `o.read_only` picks the read-only role.
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

--- true, or nil and a message when s is not a namespace name (an RFC 1123 label).
function M.check_namespace_name(s)
  if type(s) ~= "string" or #s == 0 or #s > 63 or not shaped(s, "%-a-z0-9") then
    return nil, ("invalid namespace name %q: a lowercase RFC 1123 label (a-z, 0-9, '-'), "
      .. "at most 63 characters"):format(tostring(s))
  end
  return true
end

--- true, or nil and a message when s is not an object name (an RFC 1123
--- subdomain); `what` names the object in the message.
function M.check_object_name(s, what)
  if type(s) ~= "string" or #s == 0 or #s > 253 or not shaped(s, "%-.a-z0-9") then
    return nil, ("invalid %s name %q: lowercase letters, digits, '-' and '.', "
      .. "starting and ending with a letter or digit"):format(what or "object", tostring(s))
  end
  return true
end

-- ------------------------------------------------------------ manifests

--- The objects of scripts/manifests/<file>, in order (empty documents left out).
--- @return table|nil objects, string|nil err
function M.load_manifest(file)
  local path = M.MANIFEST_DIR .. "/" .. file
  local f, err = io.open(path, "rb")
  if not f then return nil, ("cannot read manifest %s: %s"):format(path, err) end
  local text = f:read("a")
  f:close()
  local docs, derr = k8s.yaml.decode_all(text)
  if not docs then return nil, ("%s: %s"):format(path, tostring(derr)) end
  local objs = {}
  for _, d in ipairs(docs) do
    if type(d) == "table" then objs[#objs + 1] = d end
  end
  if #objs == 0 then return nil, ("%s: no object in the manifest"):format(path) end
  return objs
end

-- The first object of a manifest, as an entry { obj, source }.
local function entry(file)
  local objs, err = M.load_manifest(file)
  if not objs then return nil, err end
  return { obj = objs[1], source = M.MANIFEST_DIR .. "/" .. file }
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

-- Puts the names into one of the tutorial's objects (in place).
local function rename(obj, names, opts)
  local md, ns = obj.metadata, names.namespace
  if obj.kind == "ServiceAccount" then
    md.name, md.namespace = names.service_account, ns
  elseif obj.kind == "ClusterRole" then
    md.name = names.cluster_role
    if md.namespace ~= nil then md.namespace = ns end -- the trap, kept as written
  elseif obj.kind == "ClusterRoleBinding" then
    md.name = names.binding
    obj.subjects[1].namespace, obj.subjects[1].name = ns, names.service_account
    obj.roleRef.name = names.cluster_role
    if opts.scope == "namespace" then obj.kind, md.namespace = "RoleBinding", ns end
  elseif obj.kind == "Secret" then
    md.name, md.namespace = names.secret, ns
    md.annotations["kubernetes.io/service-account.name"] = names.service_account
  end
end

--- The tutorial's objects for `names` (see M.names), in its order: a list
--- of { obj = ..., source = where it comes from }.
--- opts.read_only: the ClusterRole of clusterrole-read-only.yaml;
--- opts.skip_role: no ClusterRole (batch.lua applies the shared one once);
--- opts.scope = "namespace": a RoleBinding in the namespace instead of the
--- tutorial's ClusterRoleBinding.
--- @return table|nil entries, string|nil err
function M.objects(names, opts)
  opts = opts or {}
  local list = { {
    obj = { apiVersion = "v1", kind = "Namespace", metadata = { name = names.namespace } },
    source = "kubectl create namespace " .. names.namespace,
  } }
  local role = opts.read_only and "clusterrole-read-only.yaml" or "clusterrole.yaml"
  for _, file in ipairs({ "serviceaccount.yaml", not opts.skip_role and role or false,
    "clusterrolebinding.yaml", "sa-token.yaml" }) do
    if file then
      local e, err = entry(file)
      if not e then return nil, err end
      rename(e.obj, names, opts)
      list[#list + 1] = e
    end
  end
  return list
end

-- ------------------------------------------------------------ references

--- The API group of an apiVersion ("" for the core group).
function M.group_of(api_version)
  return api_version:match("^(.*)/[^/]*$") or ""
end

--- kubectl's `kind.group/name` for an object:
--- namespace/devops-tools, clusterrole.rbac.authorization.k8s.io/api-cluster-role.
function M.ref(obj)
  local g = M.group_of(obj.apiVersion or "")
  return ("%s%s/%s"):format(obj.kind:lower(), g ~= "" and ("." .. g) or "", obj.metadata.name)
end

M.CLUSTER_SCOPED = {
  Namespace = true, ClusterRole = true, ClusterRoleBinding = true, Node = true,
  PersistentVolume = true, CustomResourceDefinition = true, StorageClass = true,
}

-- ------------------------------------------------------------------ lint

local WRITE_VERBS = { create = true, update = true, patch = true, delete = true,
  deletecollection = true, ["*"] = true, escalate = true, bind = true, impersonate = true }

local function list_of(v) return type(v) == "table" and v or {} end

local function add_once(list, x)
  for _, v in ipairs(list) do
    if v == x then return end
  end
  list[#list + 1] = x
end

-- "clusterrole.yaml: " for an entry read from a manifest
local function where(e)
  return e and e.source and (e.source:match("[^/]*$") .. ": ") or ""
end

-- Trap 1: metadata.namespace on a cluster-scoped object.
local function namespace_ignored(e)
  local obj = e and e.obj
  if not (obj and M.CLUSTER_SCOPED[obj.kind] and obj.metadata.namespace ~= nil) then return end
  return ("%s%s %s has metadata.namespace %q, which the server ignores: %ss are "
    .. "cluster-scoped"):format(where(e), obj.kind, obj.metadata.name,
    tostring(obj.metadata.namespace), obj.kind)
end

-- Trap 2: "ingress", or ingresses in the core or extensions group: neither
-- grants anything on networking.k8s.io/ingresses.
local function ingress_misgrouped(e, i, rule)
  for _, r in ipairs(list_of(rule.resources)) do
    if r == "ingress" or r == "ingresses" then
      local wrong = {}
      for _, g in ipairs(list_of(rule.apiGroups)) do
        if g == "" or g == "extensions" then wrong[#wrong + 1] = ("%q"):format(g) end
      end
      if #wrong > 0 or r == "ingress" then
        return ("%srules[%d]: %q in API groups %s grants nothing on Ingresses: RBAC needs the "
          .. "plural \"ingresses\" in group \"networking.k8s.io\" (extensions/v1beta1 Ingress "
          .. "was removed in Kubernetes 1.22)"):format(where(e), i - 1, r,
          #wrong > 0 and table.concat(wrong, ", ") or "listed")
      end
    end
  end
end

-- Trap 3: write verbs granted in every namespace by a ClusterRoleBinding.
local function writes_cluster_wide(role_entry, binding_entry)
  local role, binding = role_entry.obj, binding_entry and binding_entry.obj
  if not (binding and binding.kind == "ClusterRoleBinding") then return end
  local verbs, resources = {}, {}
  for _, rule in ipairs(list_of(role.rules)) do
    local writes = false
    for _, v in ipairs(list_of(rule.verbs)) do
      if WRITE_VERBS[v] then
        writes = true
        add_once(verbs, v)
      end
    end
    if writes then
      for _, r in ipairs(list_of(rule.resources)) do add_once(resources, r) end
    end
  end
  if #verbs == 0 then return end
  local shown = { table.unpack(resources, 1, math.min(#resources, 6)) }
  if #resources > 6 then shown[#shown + 1] = ("and %d more"):format(#resources - 6) end
  return ("%sClusterRoleBinding %s gives %s the verbs %s on %s in every namespace (write "
    .. "access cluster-wide); a monitoring agent needs only read access: use --read-only")
    :format(where(binding_entry), binding.metadata.name, role.metadata.name,
    table.concat(verbs, ", "), table.concat(shown, ", "))
end

--- The traps of a role and its binding (entries { obj, source }, either
--- may be nil), as warning lines: metadata.namespace on a cluster-scoped
--- object, Ingresses named in a group where RBAC never matches them, and
--- write access granted cluster-wide.
function M.lint(role_entry, binding_entry)
  local w = {}
  local function add(line) w[#w + 1] = line end
  add(namespace_ignored(role_entry))
  add(namespace_ignored(binding_entry))
  if role_entry then
    for i, rule in ipairs(list_of(role_entry.obj.rules)) do
      add(ingress_misgrouped(role_entry, i, rule))
    end
    add(writes_cluster_wide(role_entry, binding_entry))
  end
  return w
end

-- ----------------------------------------------------------------- apply

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

local function where_of(obj)
  return { namespace = obj.metadata.namespace }
end

--- Applies obj (server-side) and returns the line kubectl would print
--- (`serviceaccount/x created`), the action and the stored object. What
--- it creates gets the managed-by label (teardown.lua removes only that);
--- an object that exists without the label stays someone else's: it is
--- applied without it. An object whose content is all live already is
--- not written ("unchanged", every resourceVersion kept). A binding whose
--- roleRef changed (immutable in the API) is deleted and created again
--- ("replaced (roleRef changed)"), as `kubectl auth reconcile` does.
--- opts.dry_run: a server-side dry run.
--- @return string|nil line, string|table action_or_err, table|nil object
function M.apply(c, obj, opts)
  opts = opts or {}
  local dry = opts.dry_run and " (server dry run)" or ""
  if M.CLUSTER_SCOPED[obj.kind] then obj.metadata.namespace = nil end
  local cur, gerr = c:get(obj.apiVersion, obj.kind, obj.metadata.name, where_of(obj))
  if not cur and not k8s.errors.is(gerr, "NotFound") and not k8s.errors.is(gerr, "Forbidden") then
    return nil, gerr
  end
  if not cur or M.is_managed(cur) then M.label(obj) end
  if cur and subset(obj, cur) then
    return M.ref(obj) .. " unchanged" .. dry, "unchanged", cur
  end
  local replace = cur and (obj.kind == "ClusterRoleBinding" or obj.kind == "RoleBinding")
    and not same_role_ref(cur.roleRef, obj.roleRef)
  if replace then
    if opts.dry_run then
      return M.ref(obj) .. " replaced (roleRef changed) (server dry run skipped)", "replaced"
    end
    local ok, derr = c:delete(obj.apiVersion, obj.kind, obj.metadata.name, where_of(obj))
    if not ok then return nil, derr end
  end
  -- what was read above decides created/configured/unchanged: no second
  -- GET (unless reading was forbidden, when c:apply finds out itself)
  local current
  if cur then current = not replace and cur or false
  elseif k8s.errors.is(gerr, "NotFound") then current = false end
  local res, action = c:apply(obj, { dry_run = opts.dry_run, current = current })
  if not res then return nil, action end
  if replace then action = "replaced (roleRef changed)" end
  return M.ref(obj) .. " " .. tostring(action) .. dry, action, res
end

-- ----------------------------------------------------------------- token

--- Waits (up to `timeout` seconds, default 60) until the token controller
--- has filled the Secret names.secret of names.service_account in
--- names.namespace, checks that it was issued for the live account (uid),
--- and decodes it: c:service_account_token on the Secret applied before.
--- The token is registered with kubelua.log, so -v never prints it.
--- watch: a c:shared_watch of token Secrets (M.token_secrets) shared by
--- many such waits.
--- @return table|nil { token, ca, namespace, secret, uid }, table|nil err
function M.wait_token(c, names, timeout, watch)
  return c:service_account_token(names.namespace, names.service_account,
    { secret_name = names.secret, timeout = timeout or 60, watch = watch })
end

--- One watch of the token Secrets of every namespace, for many wait_token
--- calls at once (a batch); close it when they are done.
function M.token_secrets(c)
  return c:shared_watch("v1", "Secret",
    { field_selector = "type=kubernetes.io/service-account-token" })
end

-- ------------------------------------------------------------ kubeconfig

--- path made absolute against the current directory.
function M.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p and p:read("l") or "."
  if p then p:close() end
  return (cwd .. "/" .. path):gsub("/%./", "/")
end

--- The running kubelua binary, as an absolute path.
function M.kubelua_binary()
  local p = io.popen("readlink -f /proc/$PPID/exe 2>/dev/null") -- $PPID: this process
  local exe = p and p:read("l")
  if p then p:close() end
  if exe and exe ~= "" then return exe end
  return M.absolute(arg and arg[-1] or "kubelua")
end

local function arr(t) return setmetatable(t, k8s.json.array_mt) end

-- The exec entry: kubectl runs `kubelua scripts/token.lua --exec-credential`.
local function exec_user(o)
  local e = o.exec
  local args = { M.absolute(e.script or (M.SCRIPTS_DIR .. "/token.lua")), "--exec-credential",
    "-n", o.namespace, "--service-account", o.service_account }
  local function flag(name, value)
    args[#args + 1], args[#args + 2] = name, value
  end
  if e.context then flag("--context", e.context) end
  if e.duration then flag("--duration", tostring(e.duration) .. "s") end
  for _, a in ipairs(e.audiences or {}) do flag("--audience", a) end
  return { exec = {
    apiVersion = "client.authentication.k8s.io/v1",
    command = M.kubelua_binary(),
    args = arr(args),
    -- KUBECONFIG (not --kubeconfig) so that a merged a:b list works too
    env = arr({ { name = "KUBECONFIG", value = e.kubeconfig } }),
    interactiveMode = "Never",
    provideClusterInfo = false,
  } }
end

--- A kubeconfig (a table; k8s.yaml.encode writes it) that authenticates as
--- service account o.service_account in o.namespace against o.server:
--- o.ca (PEM) is embedded, or o.insecure skips verification; the user is
--- o.token, or with o.exec = { kubeconfig, context, duration, audiences,
--- script } an exec entry fetching short-lived tokens through token.lua
--- with the credentials of that kubeconfig. o.cluster names the cluster.
function M.kubeconfig(o)
  local name = ("%s-%s"):format(o.namespace, o.service_account)
  local cluster_name = o.cluster or "kubelua"
  local cluster = { server = o.server }
  if o.insecure then
    cluster["insecure-skip-tls-verify"] = true
  elseif o.ca then
    cluster["certificate-authority-data"] = k8s.base64.encode(o.ca)
  end
  return {
    apiVersion = "v1",
    kind = "Config",
    clusters = arr({ { name = cluster_name, cluster = cluster } }),
    users = arr({ { name = name, user = o.exec and exec_user(o) or { token = o.token } } }),
    contexts = arr({ { name = name,
      context = { cluster = cluster_name, user = name, namespace = o.namespace } } }),
    ["current-context"] = name,
    preferences = {},
  }
end

return M
