-- kubelua.resources: typed verbs on top of the one request door.
--
-- Methods added to the client: get, list, create, replace, patch, apply,
-- delete, watch, wait. Resources are found by apiVersion + kind through
-- discovery (CRDs included); a namespace on a cluster-scoped object is
-- dropped with a warning, as kubectl does. Every write takes dry_run = true
-- (dryRun=All). Results are decoded objects; failures are `nil, err`.
local errors = require "kubelua.errors"
local discovery = require "kubelua.discovery"
local client = require "kubelua.client"
local log = require "kubelua.log"

local M = {}
local Client = client.Client

local function json() return require "kubelua.json" end
local function async() return require "kubelua.async" end

local esc = client.escape_segment

-- argument checks shared with kubelua.auth

--- A value for an error message: strings quoted, anything else as tostring.
local function qname(s)
  return type(s) == "string" and ("%q"):format(s) or tostring(s)
end
M.qname = qname

local is_string_list = client.is_string_list

-- The type of every option of the client's methods, by name (a name means
-- the same thing wherever it appears). Flags (dry_run, force, wait, ...)
-- are truthy or not and are not listed. A wrong type is a usage error
-- here rather than a raise in libcurl or a 400 from the server.
local option_types = {
  namespace = "string", name = "string", uid = "string", group = "string",
  subresource = "string", label_selector = "string", field_selector = "string",
  resource_version = "string", field_manager = "string", propagation_policy = "string",
  type = "string", secret_name = "string",
  timeout = "seconds", server_timeout = "seconds",
  limit = "integer", grace_period_seconds = "integer", expiration_seconds = "integer",
  audiences = "strings", bound_object_ref = "table", until_ = "function",
}
local type_words = {
  string = "a string", seconds = "a number of seconds >= 0", integer = "an integer",
  strings = "a list of strings", table = "a table", ["function"] = "a function",
}

local function type_ok(want, v)
  if want == "seconds" then return type(v) == "number" and v == v and v >= 0 end
  if want == "integer" then return math.type(v) == "integer" end
  if want == "strings" then return is_string_list(v) end
  return type(v) == want
end

--- opts (nil or a table holding only `allowed` keys, each of its type)
--- -> opts | nil, usage err
local function check_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    return nil, errors.usage(("%s: options must be a table, got %s"):format(fname, type(opts)))
  end
  local keys = {}
  for k in pairs(opts) do
    if not allowed[k] then
      return nil, errors.usage(("%s: unknown option %q"):format(fname, tostring(k)))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local want, v = option_types[k], opts[k]
    if want and not type_ok(want, v) then
      return nil, errors.usage(("%s: %s must be %s, got %s"):format(fname, k, type_words[want],
        type(v) == "number" and tostring(v) or type(v)))
    end
  end
  return opts
end
M.check_opts = check_opts

--- set("a", "b") -> { a = true, b = true }
local function set(...)
  local t = {}
  for _, k in ipairs({ ... }) do t[k] = true end
  return t
end
M.set = set

local function check_name(fname, name)
  if type(name) ~= "string" or name == "" then
    return nil, errors.usage(("%s: name must be a non-empty string, got %s")
      :format(fname, qname(name)))
  end
  return true
end

--- The path of a resource collection or object.
function M.path(info, namespace, name, subresource)
  local p = discovery.gv_path(info.group, info.version)
  if info.namespaced and namespace then p = p .. "/namespaces/" .. esc(namespace) end
  p = p .. "/" .. info.name
  if name then p = p .. "/" .. esc(name) end
  if subresource then p = p .. "/" .. subresource end
  return p
end

-- Resolves the resource and the namespace a call acts in.
local function target(c, api_version, kind, namespace)
  local info, err = discovery.resolve(c, api_version, kind)
  if not info then return nil, err end
  if namespace ~= nil and (type(namespace) ~= "string") then
    return nil, errors.usage("namespace must be a string, got " .. type(namespace))
  end
  local ns = nil
  if info.namespaced then ns = namespace or c.namespace end
  return info, ns
end

-- Checks an object argument and works out its resource and namespace. A
-- cluster-scoped object with metadata.namespace gets a copy without it
-- (and one warning line).
local function object_target(c, fname, obj, opts)
  if type(obj) ~= "table" then
    return nil, errors.usage(("%s: object must be a table, got %s"):format(fname, type(obj)))
  end
  if type(obj.apiVersion) ~= "string" or type(obj.kind) ~= "string" then
    return nil, errors.usage(("%s: object needs apiVersion and kind (got apiVersion=%s, kind=%s)")
      :format(fname, qname(obj.apiVersion), qname(obj.kind)))
  end
  local meta = obj.metadata
  if type(meta) ~= "table" then
    return nil, errors.usage(("%s: %s object has no metadata"):format(fname, obj.kind))
  end
  local info, err = discovery.resolve(c, obj.apiVersion, obj.kind)
  if not info then return nil, err end
  local ns
  if info.namespaced then
    local ons = meta.namespace
    if ons ~= nil and type(ons) ~= "string" then
      return nil, errors.usage(("%s: metadata.namespace must be a string"):format(fname))
    end
    if ons == "" then ons = nil end
    if opts.namespace and ons and opts.namespace ~= ons then
      return nil, errors.usage(("%s: the namespace of the object (%q) does not match the"
        .. " namespace option (%q)")
        :format(fname, ons, opts.namespace))
    end
    ns = opts.namespace or ons or c.namespace
    if ons ~= ns then
      obj = M.with_metadata(obj, "namespace", ns)
    end
  elseif meta.namespace ~= nil and meta.namespace ~= "" and meta.namespace ~= json().null then
    c:_warn(("%s %q is cluster-scoped; ignoring metadata.namespace %q")
      :format(obj.kind, tostring(meta.name), tostring(meta.namespace)))
    obj = M.with_metadata(obj, "namespace", nil)
  end
  return info, ns, obj
end

--- A shallow copy of obj whose metadata has key set to value.
function M.with_metadata(obj, key, value)
  local copy = setmetatable({}, getmetatable(obj))
  for k, v in pairs(obj) do copy[k] = v end
  local meta = setmetatable({}, getmetatable(obj.metadata))
  for k, v in pairs(obj.metadata) do meta[k] = v end
  meta[key] = value
  copy.metadata = meta
  return copy
end

local function write_query(opts, extra)
  local q = extra or {}
  if opts.dry_run then q.dryRun = "All" end
  if opts.field_manager then q.fieldManager = opts.field_manager end
  return q
end

-- An object from the server, with kind and apiVersion filled in if missing.
-- Every object handed out has a metadata table, so callers (and auth.lua)
-- may index obj.metadata even when a broken server left it out.
local function typed(obj, info)
  if type(obj) == "table" then
    if type(obj.metadata) ~= "table" then obj.metadata = {} end
    if obj.kind == nil then obj.kind = info.kind end
    if obj.apiVersion == nil then
      obj.apiVersion = info.group == "" and info.version or (info.group .. "/" .. info.version)
    end
  end
  return obj
end

-- The object of a 2xx answer, or an error when the body was not one.
local function object_of(resp, info)
  if type(resp.object) ~= "table" then
    return nil, errors.new("api", ("the server answered %d to %s without a JSON object")
      :format(resp.status, info.name), { code = resp.status, reason = "BadResponse" })
  end
  return typed(resp.object, info)
end

-- ------------------------------------------------------------------ get

local get_opts = set("namespace", "timeout")

--- c:get(apiVersion, kind, name, { namespace }) -> object | nil, err
function Client:get(api_version, kind, name, opts)
  local o, oerr = check_opts("get", opts, get_opts)
  if not o then return nil, oerr end
  local ok, nerr = check_name("get", name)
  if not ok then return nil, nerr end
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  local resp, err = self:request{ method = "GET", path = M.path(info, ns, name),
    timeout = o.timeout }
  if not resp then return nil, err end
  return object_of(resp, info)
end

-- ----------------------------------------------------------------- list

local list_opts = set("namespace", "all_namespaces", "label_selector", "field_selector", "limit",
  "timeout", "resource_version")

--- c:list(apiVersion, kind, { namespace, all_namespaces, label_selector,
--- field_selector, limit (page size, default 500) }) -> items, list metadata.
--- Follows `continue` until the last page.
function Client:list(api_version, kind, opts)
  local o, oerr = check_opts("list", opts, list_opts)
  if not o then return nil, oerr end
  if o.limit ~= nil and (math.type(o.limit) ~= "integer" or o.limit < 1) then
    return nil, errors.usage("list: limit must be a positive integer, got " .. tostring(o.limit))
  end
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  if o.all_namespaces or o.namespace == "" then ns = nil end
  local items = json().array and json().array() or {}
  local query = {
    labelSelector = o.label_selector, fieldSelector = o.field_selector,
    limit = o.limit or 500, resourceVersion = o.resource_version,
  }
  local meta
  local item_kind
  repeat
    local resp, err = self:request{ method = "GET", path = M.path(info, ns), query = query,
      timeout = o.timeout }
    if not resp then return nil, err end
    local list = resp.object or {}
    meta = list.metadata or {}
    item_kind = item_kind or (type(list.kind) == "string" and list.kind:gsub("List$", ""))
      or info.kind
    for _, item in ipairs(list.items or {}) do
      items[#items + 1] = typed(item, { kind = item_kind, group = info.group,
        version = info.version })
    end
    local cont = meta.continue
    query.continue = (type(cont) == "string" and cont ~= "") and cont or nil
    query.resourceVersion = nil
  until not query.continue
  meta.continue = nil
  return items, meta
end

-- --------------------------------------------------------------- create

local write_opts = set("namespace", "dry_run", "field_manager", "timeout")

--- c:create(obj, { namespace, dry_run, field_manager }) -> created object
function Client:create(obj, opts)
  local o, oerr = check_opts("create", opts, write_opts)
  if not o then return nil, oerr end
  local info, ns, body = object_target(self, "create", obj, o)
  if not info then return nil, ns end
  if (type(body.metadata.name) ~= "string" or body.metadata.name == "")
    and type(body.metadata.generateName) ~= "string" then
    return nil, errors.usage("create: object needs metadata.name or metadata.generateName")
  end
  local resp, err = self:request{ method = "POST", path = M.path(info, ns), body = body,
    query = write_query(o), timeout = o.timeout }
  if not resp then return nil, err end
  return object_of(resp, info)
end

--- c:replace(obj, { namespace, dry_run, field_manager }) -> object (PUT; a
--- metadata.resourceVersion makes it conditional: 409 Conflict if stale)
function Client:replace(obj, opts)
  local o, oerr = check_opts("replace", opts, write_opts)
  if not o then return nil, oerr end
  local info, ns, body = object_target(self, "replace", obj, o)
  if not info then return nil, ns end
  local ok, nerr = check_name("replace", body.metadata.name)
  if not ok then return nil, nerr end
  local resp, err = self:request{ method = "PUT", path = M.path(info, ns, body.metadata.name),
    body = body, query = write_query(o), timeout = o.timeout }
  if not resp then return nil, err end
  return object_of(resp, info)
end

-- ---------------------------------------------------------------- patch

local patch_types = {
  merge = "application/merge-patch+json",
  json = "application/json-patch+json",
  strategic = "application/strategic-merge-patch+json",
  apply = "application/apply-patch+yaml",
}
M.patch_types = patch_types

local patch_opts = set("namespace", "type", "dry_run", "field_manager", "force", "timeout",
  "subresource")

--- c:patch(apiVersion, kind, name, patch, { type = "merge"|"json"|"strategic"
--- (default "merge"), namespace, dry_run, field_manager, subresource })
function Client:patch(api_version, kind, name, patch, opts)
  local o, oerr = check_opts("patch", opts, patch_opts)
  if not o then return nil, oerr end
  local ok, nerr = check_name("patch", name)
  if not ok then return nil, nerr end
  local ptype = o.type or "merge"
  local ct = patch_types[ptype]
  if not ct then
    return nil, errors.usage(("patch: type must be \"merge\", \"json\", \"strategic\" or"
      .. " \"apply\", got %s")
      :format(qname(ptype)))
  end
  if type(patch) ~= "table" and type(patch) ~= "string" then
    return nil, errors.usage("patch: the patch must be a table or a JSON string, got "
      .. type(patch))
  end
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  local q = write_query(o)
  if o.force then q.force = "true" end
  if ptype == "apply" and not q.fieldManager then q.fieldManager = "kubelua" end
  local resp, err = self:request{ method = "PATCH", path = M.path(info, ns, name, o.subresource),
    body = patch, content_type = ct, query = q, timeout = o.timeout }
  if not resp then return nil, err end
  return object_of(resp, info)
end

-- ---------------------------------------------------------------- apply

local apply_opts = set("namespace", "dry_run", "field_manager", "force", "timeout", "current")

--- c:apply(obj, { force, field_manager = "kubelua", namespace, dry_run })
--- Server-side apply: create or update, idempotent.
--- Returns the object and what happened: "created", "configured" or
--- "unchanged" (the resourceVersion before and after are compared; the
--- before comes from a GET, so the answer is exact unless someone else
--- writes the object between the two requests). opts.current: the live
--- object the caller has just read (a table), or false when it knows the
--- object does not exist; apply then makes no GET of its own.
--- @return table|nil object, string|table action or err
function Client:apply(obj, opts)
  local o, oerr = check_opts("apply", opts, apply_opts)
  if not o then return nil, oerr end
  if o.current ~= nil and o.current ~= false and type(o.current) ~= "table" then
    return nil, errors.usage(("apply: current must be the object as read (a table) or false, "
      .. "got %s"):format(type(o.current)))
  end
  local info, ns, body = object_target(self, "apply", obj, o)
  if not info then return nil, ns end
  local name = body.metadata.name
  local ok, nerr = check_name("apply", name)
  if not ok then return nil, nerr end
  local path = M.path(info, ns, name)
  local before_rv, existed
  local cur, gerr
  if o.current == false then
    gerr = errors.new("api", "known not to exist", { code = 404, reason = "NotFound" })
  elseif o.current then
    cur = { object = o.current }
  else
    cur, gerr = self:request{ method = "GET", path = path, timeout = o.timeout }
  end
  if cur then
    existed = true
    before_rv = type(cur.object) == "table" and cur.object.metadata
      and cur.object.metadata.resourceVersion
  elseif errors.is(gerr, "NotFound") then
    existed = false
  elseif not errors.is(gerr, "Forbidden") then
    return nil, gerr
  end
  local q = write_query(o)
  q.fieldManager = q.fieldManager or "kubelua"
  if o.force then q.force = "true" end
  local resp, err = self:request{ method = "PATCH", path = path, body = body,
    content_type = patch_types.apply, query = q, timeout = o.timeout }
  if not resp then return nil, err end
  local out, oerr2 = object_of(resp, info)
  if not out then return nil, oerr2 end
  local after_rv = type(out) == "table" and out.metadata and out.metadata.resourceVersion
  local action
  if existed == false or (existed == nil and resp.status == 201) then
    action = "created"
  elseif o.dry_run and existed then
    -- a dry run never bumps the resourceVersion: compare the content
    action = M.same_object(cur.object, out) and "unchanged" or "configured"
  elseif existed and before_rv and after_rv == before_rv then
    action = "unchanged"
  else
    action = "configured"
  end
  return out, action
end

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_eq(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

--- Same content, ignoring what every write changes (managedFields,
--- resourceVersion, generation).
function M.same_object(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  local function strip(o)
    local meta = {}
    for k, v in pairs(o.metadata or {}) do
      if k ~= "managedFields" and k ~= "resourceVersion" and k ~= "generation" then meta[k] = v end
    end
    local c = {}
    for k, v in pairs(o) do c[k] = v end
    c.metadata = meta
    return c
  end
  return deep_eq(strip(a), strip(b))
end

-- --------------------------------------------------------------- delete

local delete_opts = set("namespace", "propagation_policy", "grace_period_seconds", "dry_run",
  "wait", "timeout", "ignore_not_found", "uid")

local policies = { Background = true, Foreground = true, Orphan = true }

--- c:delete(apiVersion, kind, name, { namespace, propagation_policy =
--- "Background"|"Foreground"|"Orphan", grace_period_seconds, dry_run, uid
--- (precondition), ignore_not_found, wait = true, timeout (for the wait,
--- default 60 s) }) -> the server's answer (the object or a Status); with
--- ignore_not_found, a missing object gives false.
function Client:delete(api_version, kind, name, opts)
  local o, oerr = check_opts("delete", opts, delete_opts)
  if not o then return nil, oerr end
  local ok, nerr = check_name("delete", name)
  if not ok then return nil, nerr end
  if o.propagation_policy ~= nil and not policies[o.propagation_policy] then
    return nil, errors.usage(("delete: propagation_policy must be \"Background\","
      .. " \"Foreground\" or \"Orphan\", got %s")
      :format(qname(o.propagation_policy)))
  end
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  local body = { apiVersion = "v1", kind = "DeleteOptions",
    propagationPolicy = o.propagation_policy, gracePeriodSeconds = o.grace_period_seconds }
  if o.dry_run then body.dryRun = json().array and json().array({ "All" }) or { "All" } end
  if o.uid then body.preconditions = { uid = o.uid } end
  local resp, err = self:request{ method = "DELETE", path = M.path(info, ns, name), body = body,
    query = write_query(o), timeout = (not o.wait) and o.timeout or nil }
  if not resp then
    if o.ignore_not_found and errors.is(err, "NotFound") then return false end
    return nil, err
  end
  local out = resp.object or { kind = "Status", apiVersion = "v1", status = "Success" }
  if o.wait and not o.dry_run then
    local uid = out.metadata and out.metadata.uid
    if out.kind == "Status" then uid = out.details and out.details.uid end
    local gone, werr = self:wait(api_version, kind, name, { namespace = ns, deleted = true,
      timeout = o.timeout or 60, uid = uid })
    if not gone then return nil, werr end
  end
  return out
end

-- ---------------------------------------------------------------- watch

local watch_opts = set("namespace", "all_namespaces", "name", "label_selector", "field_selector",
  "resource_version", "timeout", "server_timeout", "bookmarks", "_known", "_what", "_forget")

local function key_of(obj)
  local m = type(obj) == "table" and obj.metadata or {}
  return (m.namespace or "") .. "/" .. tostring(m.name)
end

--- c:watch(apiVersion, kind, { namespace, all_namespaces, name,
--- label_selector, field_selector, resource_version, timeout, bookmarks,
--- server_timeout (seconds one stream may last, default 300) },
--- callback(event_type, object)) streams ADDED/MODIFIED/DELETED events (and
--- BOOKMARK when bookmarks = true) until the callback returns false.
--- Without resource_version the current objects come first as ADDED (from
--- a list, as client-go's ListWatch does, so that even the first stream
--- has a resourceVersion to resume from: a watch without one that failed
--- before its first event would resume at "now" and lose what happened in
--- between). A dropped stream resumes from the last resourceVersion seen
--- (an event cut off by the drop is never delivered half); 410 Gone
--- re-lists and turns the difference into ADDED/MODIFIED/DELETED events.
--- A failed watch request (429, 5xx, a dropped or refused connection, a
--- stalled stream) is retried with backoff, honouring Retry-After, up to
--- the client's retries.max failures in a row (a stream that delivered
--- something starts the count again).
--- Returns true when the callback stopped it, nil, err on failure or when
--- `timeout` seconds passed (err.kind == "timeout").
--- (_forget = true, for kubelua.shared_watch: remember no objects; where
--- the watch would list - at the start without resource_version, and on
--- 410 - it reads only a fresh resourceVersion (limit=1) and calls
--- callback("RESYNC") instead of delivering the difference.)
function Client:watch(api_version, kind, opts, callback)
  local o, oerr = check_opts("watch", opts, watch_opts)
  if not o then return nil, oerr end
  if type(callback) ~= "function" then
    return nil, errors.usage("watch: callback must be a function, got " .. type(callback))
  end
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  if o.all_namespaces or o.namespace == "" then ns = nil end
  local fs = o.field_selector
  if o.name then
    fs = "metadata.name=" .. o.name .. ((fs and fs ~= "") and ("," .. fs) or "")
  end
  local now = client.now
  local deadline = o.timeout and (now() + o.timeout)
  local rv = o.resource_version
  local known = {} -- key -> last object seen (for the 410 re-list)
  for _, obj in ipairs(o._known or {}) do known[key_of(obj)] = obj end
  local failures = 0
  local level = self:level()
  local what = o._what or (info.name .. (ns and (" in namespace " .. ns) or ""))
  local j = json()

  local function timeout_err()
    return errors.timeout(("timed out after %gs watching %s"):format(o.timeout, what),
      { method = "GET" })
  end

  -- delivers one event; returns false when the callback asked to stop
  local function deliver(etype, obj)
    if not o._forget then
      if etype == "DELETED" then known[key_of(obj)] = nil else known[key_of(obj)] = obj end
    end
    return callback(etype, obj) ~= false
  end

  -- _forget: a resourceVersion to (re)start from, then RESYNC
  local function resync()
    local resp, err = self:request{ method = "GET", path = M.path(info, ns),
      query = { limit = 1, labelSelector = o.label_selector, fieldSelector = fs } }
    local meta = resp and type(resp.object) == "table" and resp.object.metadata
    if not meta then
      return nil, err or errors.new("api", "the list of " .. what .. " has no metadata",
        { reason = "BadResponse" })
    end
    rv = meta.resourceVersion
    local okc, r = pcall(callback, "RESYNC")
    if not okc then error(r, 0) end
    return r ~= false
  end

  local answered = false -- has the server answered this watch yet?
  if o._forget and (rv == nil or rv == "") then
    local go, err = resync()
    if go == nil then return nil, err end
    if not go then return true end
    answered = true
  elseif rv == nil or rv == "" then
    local items, meta = self:list(api_version, kind, { namespace = ns or "",
      label_selector = o.label_selector, field_selector = fs,
      timeout = deadline and math.max(0.001, deadline - now()) or nil })
    if not items then return nil, meta end
    for _, item in ipairs(items) do
      local okc, r = pcall(deliver, "ADDED", item)
      if not okc then error(r, 0) end
      if not r then return true end
    end
    rv = meta.resourceVersion
    answered = true
  end

  while true do
    local remaining = deadline and (deadline - now())
    if remaining and remaining <= 0 then return nil, timeout_err() end
    local query = {
      watch = "true", allowWatchBookmarks = "true", resourceVersion = rv,
      labelSelector = o.label_selector, fieldSelector = fs,
      timeoutSeconds = math.min(o.server_timeout or 300,
        remaining and math.max(1, math.ceil(remaining)) or 300),
    }
    local buf = ""
    local stopped, gone, werr, cb_err = false, false, nil, nil
    local events, progress = 0, false
    local function on_line(line)
      if not line:find("%S") then return true end
      local ev, derr = j.decode(line)
      if type(ev) ~= "table" then
        werr = errors.new("api", ("cannot decode a watch event: %s"):format(tostring(derr)),
          { reason = "BadResponse", code = 200 })
        return false
      end
      if ev.kind == "Status" and ev.type == nil then return true end -- an error body
      local etype, obj = ev.type, ev.object
      if level >= 8 then
        log.info(('"Watch Event" type=%s object=%s'):format(tostring(etype),
          log.mask_body(obj, info.name == "secrets" and { secret = true } or nil)))
      end
      if type(obj) ~= "table" then return true end
      if etype == "ERROR" then
        if obj.code == 410 or obj.reason == "Expired" or obj.reason == "Gone" then
          gone = true
        else
          werr = errors.from_status(obj, { method = "GET" })
        end
        return false
      end
      progress = true
      local mrv = obj.metadata and obj.metadata.resourceVersion
      if type(mrv) == "string" and mrv ~= "" then rv = mrv end
      if etype == "BOOKMARK" then
        if o.bookmarks then
          local okc, r = pcall(callback, etype, obj)
          if not okc then cb_err = r return false end
          if r == false then stopped = true return false end
        end
        return true
      end
      events = events + 1
      typed(obj, info)
      local okc, r = pcall(deliver, etype, obj)
      if not okc then cb_err = r return false end
      if not r then stopped = true return false end
      return true
    end
    local function on_data(chunk)
      buf = buf .. chunk
      while true do
        local nl = buf:find("\n", 1, true)
        if not nl then break end
        local line = buf:sub(1, nl - 1)
        buf = buf:sub(nl + 1)
        if not on_line(line) then return false end
      end
      return true
    end
    local started = now()
    -- a stream past its timeoutSeconds by 30 s is a dead connection: curl
    -- ends it and the watch resumes
    local resp, err = self:request{ method = "GET", path = M.path(info, ns), query = query,
      on_data = on_data, timeout = remaining and (remaining + 2) or (query.timeoutSeconds + 30) }
    if cb_err then error(cb_err, 0) end
    if stopped then return true end
    if werr then return nil, werr end
    if resp or progress or (err and err.kind == "api") then answered = true end
    -- A last line without its newline is an event cut off by a dropped
    -- connection (the server ends every event with one), whether curl saw
    -- the drop or the stream just ended: never decoded, never delivered;
    -- the watch resumes from the last event delivered, so the cut event
    -- comes again, once.
    if buf:find("%S") and (resp or (err and err.kind ~= "api")) then
      resp = nil
      if not err or err.kind == "api" then
        err = errors.new("transport", ("the watch stream ended in the middle of an event"
          .. " (%d bytes)"):format(#buf), { curl = "PARTIAL_FILE", code = 18, method = "GET",
            url = self.server .. M.path(info, ns) })
      end
    end
    if not resp and err and err.kind == "api" and (err.code == 410 or err.reason == "Expired") then
      gone = true
    end
    -- a stream that delivered something before it failed made progress:
    -- the bound is on failures in a row
    if progress then failures = 0 end
    if gone and o._forget then
      if level >= 6 then log.info(('"Watch expired, resyncing" resource=%q'):format(what)) end
      local go, rerr = resync()
      if go == nil then return nil, rerr end
      if not go then return true end
      failures = 0
    elseif gone then
      -- 410: our resourceVersion is too old; re-list and resync
      if level >= 6 then log.info(('"Watch expired, re-listing" resource=%q'):format(what)) end
      local items, meta = self:list(api_version, kind, { namespace = ns or "",
        label_selector = o.label_selector, field_selector = fs })
      if not items then return nil, meta end
      local seen = {}
      for _, item in ipairs(items) do
        local k = key_of(item)
        seen[k] = true
        local old = known[k]
        local etype = not old and "ADDED"
          or (old.metadata.resourceVersion ~= item.metadata.resourceVersion and "MODIFIED")
        if etype then
          local okc, r = pcall(deliver, etype, item)
          if not okc then error(r, 0) end
          if not r then return true end
        end
      end
      for k, old in pairs(known) do
        if not seen[k] then
          local okc, r = pcall(deliver, "DELETED", old)
          if not okc then error(r, 0) end
          if not r then return true end
        end
      end
      rv = meta.resourceVersion
      failures = 0
    elseif not resp then
      if err.kind == "timeout" and deadline and now() >= deadline - 0.05 then
        return nil, timeout_err()
      end
      -- a watch is a GET: what the request door would retry (429, 5xx,
      -- dropped connections), and a stalled stream. A refused connection
      -- (or a host that does not resolve) fails at once while the server
      -- has never answered this watch; once it has, it is a restart, which
      -- the watch rides out with the backoff as client-go's reflector does.
      local retry, _, quick = client.should_retry({ method = "GET" }, err, failures + 1)
      if err.kind == "timeout" or (answered and client.fails_fast(err)) then
        retry, quick = true, nil
      end
      failures = failures + 1
      if not retry or failures >= (self.retries.max or 5) then return nil, err end
      local delay = quick or client.backoff(self.retries, failures, err.retry_after)
      if level >= 6 then
        log.info(('"Watch failed, resuming" resource=%q resourceVersion=%q delay="%.2fs" reason=%q')
          :format(what, tostring(rv), delay, tostring(err)))
      end
      async().sleep(delay)
    else
      -- the server ended the stream (timeoutSeconds): resume from rv
      failures = 0
      if events == 0 and now() - started < 1 then async().sleep(0.2) end
    end
  end
end

-- ----------------------------------------------------------------- wait

local wait_opts = set("namespace", "timeout", "until_", "deleted", "uid", "watch")

--- c:shared_watch(apiVersion, kind, { namespace (default: all),
--- label_selector, field_selector }) -> one watch that c:wait calls with
--- watch = it share instead of each opening its own (kubelua.shared_watch);
--- close it (or `local w <close> = ...`) when the waits are done.
function Client:shared_watch(api_version, kind, opts)
  local o, oerr = check_opts("shared_watch", opts, set("namespace", "label_selector",
    "field_selector"))
  if not o then return nil, oerr end
  local info, ns = target(self, api_version, kind, o.namespace or "")
  if not info then return nil, ns end
  if o.namespace == nil or o.namespace == "" then ns = nil end
  return require("kubelua.shared_watch").new(self, api_version, kind, info, ns, o)
end

local function deleted_while_waiting(info, name)
  return errors.new("api", ("%s %q was deleted while waiting for the condition")
    :format(info.name, name), { code = 404, reason = "NotFound", method = "GET" })
end

-- c:wait on a shared watch: read the object, and again whenever the watch
-- reports a change of it. Returns the outcome, or nil, nil, true when the
-- shared watch failed (the caller falls back to a watch of its own).
local function wait_shared(self, sw, api_version, kind, name, ns, info, o, test, deadline)
  local token <close> = sw:register(ns, name)
  local seen = false
  local shared = require "kubelua.shared_watch"
  while true do
    local cur, ev = nil, token.event
    if ev then
      -- newer than the last read (kubelua.shared_watch): no need to read again
      token.event, token.flagged = nil, false
      if ev.type ~= "DELETED" then cur = ev.object end
      token.rv = cur and cur.metadata.resourceVersion or nil
    else
      shared.before_read(token)
      local gerr
      cur, gerr = self:get(api_version, kind, name, { namespace = ns })
      if not cur and not errors.is(gerr, "NotFound") then return nil, gerr end
      shared.after_read(token, cur and cur.metadata.resourceVersion or nil)
    end
    if o.deleted then
      if test(cur) then return true end
    elseif cur then
      seen = true
      if test(cur) then return cur end
    elseif seen then
      return nil, deleted_while_waiting(info, name)
    end
    if sw.err then return nil, nil, true end
    local left = deadline - client.now() -- also when changes keep coming
    if left <= 0 then return nil, "timeout" end
    if not token.flagged then async().park(token, left) end
  end
end

--- c:wait(apiVersion, kind, name, { namespace, timeout (default 60 s),
--- until_ = predicate(obj), deleted = true, uid }) waits on a watch (not by
--- polling) until the object exists and until_(obj) is true, then returns
--- it; with deleted = true, until it is gone (or replaced by another uid)
--- and returns true. An object deleted while waiting for until_ gives an
--- error (reason NotFound); the timeout gives err.kind == "timeout".
--- watch = c:shared_watch(...) (selecting this object) waits on that shared
--- watch instead of one of its own: GETs, no watch request of its own.
function Client:wait(api_version, kind, name, opts)
  local o, oerr = check_opts("wait", opts, wait_opts)
  if not o then return nil, oerr end
  local ok, nerr = check_name("wait", name)
  if not ok then return nil, nerr end
  local timeout = o.timeout or 60 -- types checked by check_opts
  local info, ns = target(self, api_version, kind, o.namespace)
  if not info then return nil, ns end
  local deadline = client.now() + timeout
  local what = ("%s/%s%s"):format(info.name, name, ns and (" in namespace " .. ns) or "")
  local pred = o.until_ or function() return true end
  local function gone_obj(obj) return obj == nil or (o.uid and obj.metadata.uid ~= o.uid) end
  local function timed_out()
    return nil, errors.timeout(("timed out waiting for the condition on %s (after %gs)")
      :format(what, timeout), { method = "GET" })
  end

  local sw = o.watch
  if sw ~= nil then
    if getmetatable(sw) ~= require("kubelua.shared_watch").SharedWatch then
      return nil, errors.usage("wait: watch must be a c:shared_watch(...), got " .. type(sw))
    end
    if not sw:covers(info, ns) then
      return nil, errors.usage(("wait: the shared watch of %s does not cover %s")
        :format(sw.what, what))
    end
    if not sw.err then
      local r, err, fallback = wait_shared(self, sw, api_version, kind, name, ns, info, o,
        function(obj)
          if o.deleted then return gone_obj(obj) end
          local okp, r = pcall(pred, obj)
          if not okp then error(r, 0) end
          return r
        end, deadline)
      if err == "timeout" then return timed_out() end
      if not fallback then return r, err end
      if self:level() >= 6 then
        log.info(('"Shared watch failed, waiting with a watch of its own" object=%q reason=%q')
          :format(what, tostring(sw.err)))
      end
    end
  end

  local items, meta = self:list(api_version, kind, { namespace = ns or "",
    field_selector = "metadata.name=" .. name })
  if not items then return nil, meta end
  local cur = items[1]
  if o.deleted then
    if gone_obj(cur) then return true end
  elseif cur then
    local okp, r = pcall(pred, cur)
    if not okp then error(r, 0) end
    if r then return cur end
  end

  local result, stop_err
  local remaining = deadline - client.now()
  if remaining <= 0 then remaining = 0.001 end
  local wok, werr = self:watch(api_version, kind, { namespace = ns or "", name = name,
    resource_version = meta.resourceVersion, timeout = remaining, _known = { cur },
    _what = what }, function(etype, obj)
      if o.deleted then
        if etype == "DELETED" or gone_obj(obj) then result = true return false end
        return true
      end
      if etype == "DELETED" then
        stop_err = deleted_while_waiting(info, name)
        return false
      end
      if pred(obj) then result = obj return false end
      return true
    end)
  if result ~= nil then return result end
  if stop_err then return nil, stop_err end
  if not wok and werr and werr.kind == "timeout" then return timed_out() end
  return nil, werr
end

return M
