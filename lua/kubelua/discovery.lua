-- kubelua.discovery: apiVersion + kind -> where the resource lives.
--
-- Resolves through the server's own APIResourceLists (GET /api/v1,
-- /apis/<group>/<version>), fetched lazily per group-version and cached per
-- client. A miss (a CRD created after the first fetch) refreshes that
-- group-version once. Only when discovery itself is forbidden (403) does it
-- fall back to a table of built-in kinds.
local errors = require "kubelua.errors"

local M = {}

-- Used only when the server forbids discovery: the built-in kinds a
-- provisioning script touches. { plural, namespaced }
local builtin = {
  ["v1"] = {
    Namespace = { "namespaces", false }, Node = { "nodes", false },
    PersistentVolume = { "persistentvolumes", false },
    ServiceAccount = { "serviceaccounts", true }, Secret = { "secrets", true },
    ConfigMap = { "configmaps", true }, Pod = { "pods", true }, Service = { "services", true },
    Endpoints = { "endpoints", true }, Event = { "events", true },
    PersistentVolumeClaim = { "persistentvolumeclaims", true },
    ResourceQuota = { "resourcequotas", true }, LimitRange = { "limitranges", true },
    ReplicationController = { "replicationcontrollers", true },
  },
  ["apps/v1"] = {
    Deployment = { "deployments", true }, StatefulSet = { "statefulsets", true },
    DaemonSet = { "daemonsets", true }, ReplicaSet = { "replicasets", true },
  },
  ["batch/v1"] = { Job = { "jobs", true }, CronJob = { "cronjobs", true } },
  ["rbac.authorization.k8s.io/v1"] = {
    ClusterRole = { "clusterroles", false }, ClusterRoleBinding = { "clusterrolebindings", false },
    Role = { "roles", true }, RoleBinding = { "rolebindings", true },
  },
  ["networking.k8s.io/v1"] = {
    Ingress = { "ingresses", true }, NetworkPolicy = { "networkpolicies", true },
  },
}
M.builtin = builtin

--- Splits an apiVersion into group, version ("v1" -> "", "v1").
function M.split_api_version(api_version)
  if type(api_version) ~= "string" or api_version == "" then return nil end
  local g, v = api_version:match("^([^/]+)/([^/]+)$")
  if g then return g, v end
  if api_version:find("/", 1, true) then return nil end
  return "", api_version
end

local function gv_path(group, version)
  if group == "" then return "/api/" .. version end
  return ("/apis/%s/%s"):format(group, version)
end
M.gv_path = gv_path

local function index(group, version, list)
  local byKind, byName = {}, {}
  for _, r in ipairs(list.resources or {}) do
    if type(r) == "table" and type(r.name) == "string" then
      local info = {
        name = r.name, kind = r.kind, namespaced = r.namespaced == true,
        verbs = r.verbs, group = (r.group and r.group ~= "") and r.group or group,
        version = (r.version and r.version ~= "") and r.version or version,
        singular = r.singularName, short_names = r.shortNames,
      }
      if r.name:find("/", 1, true) then
        byName[r.name] = info -- subresource
      else
        byName[r.name] = info
        if type(r.kind) == "string" and not byKind[r.kind] then byKind[r.kind] = info end
      end
    end
  end
  return { byKind = byKind, byName = byName }
end

-- Fetches one group-version: the entry, or nil and the error. A 404 gives an
-- empty entry (the group-version does not exist, yet).
local function fetch(client, group, version)
  local resp, err = client:request{ method = "GET", path = gv_path(group, version) }
  if not resp then
    if errors.is(err, "NotFound") then return { byKind = {}, byName = {}, missing = true } end
    return nil, err
  end
  local obj = resp.object
  if type(obj) ~= "table" then
    return nil, errors.new("api", ("discovery of %s returned no APIResourceList")
      :format(gv_path(group, version)), { code = resp.status, reason = "BadResponse" })
  end
  return index(group, version, obj)
end

-- Returns the cached (or freshly fetched) entry for a group-version.
-- Concurrent callers for the same group-version share one fetch.
local function entry(client, group, version, refresh)
  local cache = client._discovery
  local key = group .. "/" .. version
  local e = cache[key]
  -- another task is fetching it: wait (a fetch abandoned by a closed task
  -- is taken over after 30 s)
  while e and e.loading and os.time() - e.loading < 30 do
    require("kubelua.async").sleep(0.005)
    e = cache[key]
  end
  if e and e.loading then e = nil end
  if e and not refresh then return e end
  cache[key] = { loading = os.time() }
  local got, err = fetch(client, group, version)
  if not got then
    cache[key] = e -- keep what we had
    return nil, err
  end
  got.fetched = os.time()
  cache[key] = got
  return got
end

local function from_builtin(group, version, kind)
  local gv = group == "" and version or (group .. "/" .. version)
  local b = builtin[gv] and builtin[gv][kind]
  if not b then return nil end
  return { name = b[1], kind = kind, namespaced = b[2], group = group, version = version,
    builtin = true }
end

--- Resolves apiVersion + kind to { name (plural), kind, namespaced, verbs,
--- group, version }.
--- @return table|nil info, table|nil err
function M.resolve(client, api_version, kind)
  local group, version = M.split_api_version(api_version)
  if not group then
    return nil, errors.usage(("apiVersion must be \"version\" or \"group/version\", got %s")
      :format(type(api_version) == "string" and ("%q"):format(api_version)
        or tostring(api_version)))
  end
  if type(kind) ~= "string" or kind == "" then
    return nil, errors.usage(("kind must be a non-empty string, got %s"):format(
      type(kind) == "string" and ("%q"):format(kind) or tostring(kind)))
  end
  local e, err = entry(client, group, version, false)
  if e and e.byKind[kind] then return e.byKind[kind] end
  if not e and errors.is(err, "Forbidden") then
    local b = from_builtin(group, version, kind)
    if b then return b end
  end
  if not e and err then return nil, err end
  -- a miss: CRDs appear after the first fetch; refresh this group-version once
  e, err = entry(client, group, version, true)
  if not e then return nil, err end
  if e.byKind[kind] then return e.byKind[kind] end
  return nil, errors.new("api",
    ("no matches for kind %q in version %q (ensure CRDs are installed first)")
    :format(kind, api_version), { reason = "NoKindMatch", code = 404 })
end

--- Forgets everything cached for this client.
function M.invalidate(client)
  for k in pairs(client._discovery) do client._discovery[k] = nil end
  client._groups = nil
end

--- Parses a kubectl-style resource argument: "pods", "deployments.apps",
--- "pods/log", "deployments.apps/scale" -> resource, group (or nil when not
--- given), subresource.
function M.parse_resource(s)
  if type(s) ~= "string" or s == "" then return nil end
  local main, sub = s:match("^([^/]+)/(.+)$")
  if not main then main = s end
  if sub == "" then sub = nil end
  local resource, group = main:match("^([^.]+)%.(.+)$")
  if not resource then resource = main end
  return resource, group, sub
end

-- The list of API groups with their preferred versions (cached).
local function groups(client)
  if client._groups then return client._groups end
  local resp, err = client:request{ method = "GET", path = "/apis" }
  if not resp then return nil, err end
  local list = {}
  for _, g in ipairs((resp.object or {}).groups or {}) do
    local pv = g.preferredVersion and g.preferredVersion.version
      or (g.versions and g.versions[1] and g.versions[1].version)
    if g.name and pv then list[#list + 1] = { name = g.name, version = pv } end
  end
  client._groups = list
  return list
end

local function match(e, resource)
  if e.byName[resource] then return e.byName[resource] end
  for _, info in pairs(e.byName) do
    if not info.name:find("/", 1, true) then
      if info.singular == resource or (info.kind and info.kind:lower() == resource:lower()) then
        return info
      end
      for _, sn in ipairs(info.short_names or {}) do
        if sn == resource then return info end
      end
    end
  end
  return nil
end

--- Finds a resource by its plural, singular, kind or short name, in the given
--- group (or, when group is nil, the core group first and then every group's
--- preferred version, as kubectl does). Returns the info, or nil when the
--- server has no such resource, or nil, err when discovery failed.
function M.find_resource(client, resource, group)
  if group ~= nil then
    if group == "" then
      local e, err = entry(client, "", "v1", false)
      if not e then return nil, err end
      return match(e, resource)
    end
    local gs, err = groups(client)
    if not gs then return nil, err end
    for _, g in ipairs(gs) do
      if g.name == group then
        local e, eerr = entry(client, g.name, g.version, false)
        if not e then return nil, eerr end
        return match(e, resource)
      end
    end
    return nil
  end
  local e, err = entry(client, "", "v1", false)
  if not e then return nil, err end
  local info = match(e, resource)
  if info then return info end
  local gs, gerr = groups(client)
  if not gs then return nil, gerr end
  for _, g in ipairs(gs) do
    local ge = entry(client, g.name, g.version, false)
    if ge then
      info = match(ge, resource)
      if info then return info end
    end
  end
  return nil
end

return M
