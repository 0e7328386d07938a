-- get/list/create/replace/patch/apply/delete/watch/wait and discovery,
-- against kubesim.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"
local json = require "kubelua.json"
local async = require "kubelua.async"

local c = assert(k8s.connect())

local function cm(name, data, labels)
  return { apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = name, namespace = "default", labels = labels }, data = data }
end

-- captures what the client writes to stderr (warnings go through kubelua.log.out)
local function capture_stderr(fn)
  local buf = {}
  local log = require "kubelua.log"
  local saved = log.out
  log.out = { write = function(self, ...)
    for _, s in ipairs({ ... }) do buf[#buf + 1] = s end
    return self
  end, flush = function() end }
  local ok, err = pcall(fn)
  log.out = saved
  if not ok then error(err, 0) end
  return table.concat(buf)
end

t.test("get: object with kind; errors keep the server's words", function()
  local ns = assert(c:get("v1", "Namespace", "kube-system"))
  t.eq(ns.kind, "Namespace")
  t.eq(ns.apiVersion, "v1")
  t.eq(ns.metadata.name, "kube-system")
  local svc = assert(c:get("v1", "Service", "kubernetes")) -- default namespace from the context
  t.eq(svc.metadata.namespace, "default")
  local cases = {
    { { "v1", "Secret", "nope", { namespace = "default" } },
      'Error from server (NotFound): secrets "nope" not found' },
    { { "v1", "Foo", "x" }, 'Error from server (NoKindMatch): no matches for kind "Foo" in version '
      .. '"v1" (ensure CRDs are installed first)' },
    { { "a/b/c", "Foo", "x" },
      'error: apiVersion must be "version" or "group/version", got "a/b/c"' },
    { { "v1", "", "x" }, 'error: kind must be a non-empty string, got ""' },
    { { "v1", "Secret", "" }, 'error: get: name must be a non-empty string, got ""' },
    { { "v1", "Secret", "x", { namespaec = "y" } }, 'error: get: unknown option "namespaec"' },
    { { "v1", "Secret", "x", { namespace = 5 } }, "error: get: namespace must be a string, got 5" },
  }
  for _, case in ipairs(cases) do
    local obj, err = c:get(table.unpack(case[1], 1, 4))
    t.eq(obj, nil)
    t.eq(tostring(err), case[2])
  end
end)

t.test("discovery: cached per client, refreshed once on a miss", function()
  local c2 = assert(k8s.connect())
  local mark = h.mark()
  assert(c2:get("rbac.authorization.k8s.io/v1", "ClusterRole", "cluster-admin"))
  assert(c2:get("rbac.authorization.k8s.io/v1", "ClusterRole", "admin"))
  local _, err = c2:get("rbac.authorization.k8s.io/v1", "NoSuchKind", "x")
  t.eq(tostring(err), 'Error from server (NoKindMatch): no matches for kind "NoSuchKind" in '
    .. 'version "rbac.authorization.k8s.io/v1" (ensure CRDs are installed first)')
  local fetches = 0
  for _, r in ipairs(h.requests(mark)) do
    if r.path == "/apis/rbac.authorization.k8s.io/v1" then fetches = fetches + 1 end
  end
  t.eq(fetches, 2) -- first use, then one refresh for the miss
  -- invalidate forgets the cache: the next use fetches again
  k8s.discovery.invalidate(c2)
  local mark2 = h.mark()
  assert(c2:get("rbac.authorization.k8s.io/v1", "ClusterRole", "admin"))
  local refetched = 0
  for _, r in ipairs(h.requests(mark2)) do
    if r.path == "/apis/rbac.authorization.k8s.io/v1" then refetched = refetched + 1 end
  end
  t.eq(refetched, 1)
  local info = assert(k8s.discovery.resolve(c2, "apps/v1", "Deployment"))
  t.eq({ info.name, info.group, info.version, info.namespaced },
    { "deployments", "apps", "v1", true })
  local _, gerr = c2:get("example.com/v1", "Widget", "w")
  t.eq(tostring(gerr), 'Error from server (NoKindMatch): no matches for kind "Widget" in version '
    .. '"example.com/v1" (ensure CRDs are installed first)')
end)

t.test("CRD end to end: a kind created after discovery resolves on the same client", function()
  local group = "gadgets.kubelua.test"
  local gv = group .. "/v1"
  -- the client has cached discovery and knows the kind is missing
  local _, before = c:get(gv, "Gadget", "g1", { namespace = "default" })
  t.eq(tostring(before), 'Error from server (NoKindMatch): no matches for kind "Gadget" in version '
    .. '"gadgets.kubelua.test/v1" (ensure CRDs are installed first)')
  local crd = {
    apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition",
    metadata = { name = "gadgets." .. group },
    spec = {
      group = group, scope = "Namespaced",
      names = { plural = "gadgets", singular = "gadget", kind = "Gadget", shortNames = { "gd" } },
      versions = { { name = "v1", served = true, storage = true,
        schema = { openAPIV3Schema = { type = "object",
          ["x-kubernetes-preserve-unknown-fields"] = true } } } },
    },
  }
  local created, action = c:apply(crd)
  t.ok(created, action)
  t.eq(action, "created")
  local established
  for _, cond in ipairs(created.status.conditions) do
    if cond.type == "Established" then established = cond.status end
  end
  t.eq(established, "True")
  -- the same client: its cached discovery misses, refreshes once, and finds the new kind
  local mark = h.mark()
  local gadget = { apiVersion = gv, kind = "Gadget",
    metadata = { name = "g1", namespace = "default", labels = { app = "crd-e2e" } },
    spec = { size = 3, parts = { "a", "b" } } }
  local obj, gaction = c:apply(gadget)
  t.ok(obj, gaction)
  t.eq(gaction, "created")
  t.eq({ obj.kind, obj.apiVersion, obj.spec.size, obj.metadata.generation },
    { "Gadget", gv, 3, 1 })
  local gv_fetches = 0
  for _, r in ipairs(h.requests(mark)) do
    if r.path == "/apis/" .. gv then gv_fetches = gv_fetches + 1 end
  end
  t.eq(gv_fetches, 1)
  local _, again = c:apply(gadget)
  t.eq(again, "unchanged")
  local got = assert(c:get(gv, "Gadget", "g1", { namespace = "default" }))
  t.eq(json.encode(got.spec.parts), '["a","b"]')
  assert(c:create({ apiVersion = gv, kind = "Gadget",
    metadata = { name = "g2", namespace = "default", labels = { app = "crd-e2e" } } }))
  local items = assert(c:list(gv, "Gadget",
    { namespace = "default", label_selector = "app=crd-e2e" }))
  local names = {}
  for _, item in ipairs(items) do names[#names + 1] = item.kind .. "/" .. item.metadata.name end
  t.eq(names, { "Gadget/g1", "Gadget/g2" })
  local st = assert(c:delete(gv, "Gadget", "g1", { namespace = "default" }))
  t.eq({ st.kind, st.status }, { "Status", "Success" })
  local _, nf = c:get(gv, "Gadget", "g1", { namespace = "default" })
  t.eq(tostring(nf), 'Error from server (NotFound): gadgets.gadgets.kubelua.test "g1" not found')
  -- deleting the CRD takes g2 with it
  assert(c:delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", "gadgets." .. group,
    { wait = true, timeout = 10 }))
  local _, gone = c:get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "gadgets." .. group)
  t.ok(k8s.errors.is(gone, "NotFound"), "CRD gone after wait")
end)

t.test("create, replace (stale resourceVersion conflicts), dry_run creates nothing", function()
  local name = h.name("crud")
  local obj = assert(c:create(cm(name, { a = "1" })))
  t.eq(obj.kind, "ConfigMap")
  t.eq(obj.data, { a = "1" })
  local _, dup = c:create(cm(name, { a = "1" }))
  t.eq(tostring(dup), ('Error from server (AlreadyExists): configmaps "%s" already exists')
    :format(name))
  t.ok(k8s.errors.is(dup, "AlreadyExists"))
  local stale = obj.metadata.resourceVersion
  obj.data = { a = "2" }
  local upd = assert(c:replace(obj))
  t.eq(upd.data, { a = "2" })
  obj.data = { a = "3" }
  obj.metadata.resourceVersion = stale
  local _, conflict = c:replace(obj)
  t.eq(tostring(conflict), ('Error from server (Conflict): Operation cannot be fulfilled on '
    .. 'configmaps "%s": the object has been modified; please apply your changes to the latest '
    .. 'version and try again'):format(name))
  t.ok(k8s.errors.is(conflict, "Conflict"))
  local dry = h.name("dry")
  local d = assert(c:create(cm(dry, { x = "y" }), { dry_run = true }))
  t.eq(d.metadata.name, dry)
  local _, nf = c:get("v1", "ConfigMap", dry)
  t.ok(k8s.errors.is(nf, "NotFound"), "dry run created nothing")
  local bad = {
    { function() return c:create("x") end, "error: create: object must be a table, got string" },
    { function() return c:create({ kind = "ConfigMap", metadata = {} }) end,
      "error: create: object needs apiVersion and kind (got apiVersion=nil, kind=\"ConfigMap\")" },
    { function() return c:create({ apiVersion = "v1", kind = "ConfigMap" }) end,
      "error: create: ConfigMap object has no metadata" },
    { function() return c:create({ apiVersion = "v1", kind = "ConfigMap", metadata = {} }) end,
      "error: create: object needs metadata.name or metadata.generateName" },
    { function() return c:create(cm("x"), { namespace = "other" }) end,
      'error: create: the namespace of the object ("default") does not match the namespace option '
        .. '("other")' },
    { function() return c:replace({ apiVersion = "v1", kind = "ConfigMap", metadata = {} }) end,
      "error: replace: name must be a non-empty string, got nil" },
  }
  for _, b in ipairs(bad) do
    local v, err = b[1]()
    t.eq(v, nil)
    t.eq(tostring(err), b[2])
  end
end)

t.test("cluster-scoped object with metadata.namespace: dropped with a warning", function()
  local name = h.name("cr")
  local out
  local warned = capture_stderr(function()
    out = assert(c:create({ apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole",
      metadata = { name = name, namespace = "devops-tools" },
      rules = json.array{ { apiGroups = json.array{ "" }, resources = json.array{ "pods" },
        verbs = json.array{ "get" } } } }))
  end)
  t.eq(out.metadata.namespace, nil)
  t.eq(warned, ('Warning: ClusterRole "%s" is cluster-scoped; ignoring metadata.namespace '
    .. '"devops-tools"\n'):format(name))
end)

t.test("list: selectors, pages followed, items typed", function()
  local tag = h.name("page")
  for i = 1, 7 do assert(c:create(cm(tag .. "-" .. i, { i = tostring(i) }, { batch = tag }))) end
  local mark = h.mark()
  local items, meta = assert(c:list("v1", "ConfigMap", { label_selector = "batch=" .. tag,
    limit = 3 }))
  t.eq(#items, 7)
  t.eq(getmetatable(items), getmetatable(json.array()))
  t.ok(type(meta.resourceVersion) == "string", "list resourceVersion")
  t.eq(meta.continue, nil)
  for _, it in ipairs(items) do
    t.eq(it.kind, "ConfigMap")
    t.eq(it.apiVersion, "v1")
  end
  local pages = 0
  for _, r in ipairs(h.requests(mark)) do
    if r.path == "/api/v1/namespaces/default/configmaps" then pages = pages + 1 end
  end
  t.eq(pages, 3)
  local one = assert(c:list("v1", "ConfigMap",
    { field_selector = "metadata.name=" .. tag .. "-2" }))
  t.eq(#one, 1)
  t.eq(one[1].data, { i = "2" })
  local all = assert(c:list("v1", "Namespace"))
  t.ok(#all >= 4, "namespaces")
  local everywhere = assert(c:list("v1", "ConfigMap", { all_namespaces = true,
    label_selector = "batch=" .. tag }))
  t.eq(#everywhere, 7)
  local _, err = c:list("v1", "ConfigMap", { limit = 0 })
  t.eq(tostring(err), "error: list: limit must be a positive integer, got 0")
  local _, err2 = c:list("v1", "ConfigMap", { field_selector = "spec.nope=1" })
  t.eq(err2.code, 400)
end)

t.test("patch: merge, json, strategic; bad type", function()
  local name = h.name("patch")
  assert(c:create(cm(name, { a = "1", b = "2" })))
  local m = assert(c:patch("v1", "ConfigMap", name, { data = { b = json.null, c = "3" } }))
  t.eq(m.data, { a = "1", c = "3" })
  local j = assert(c:patch("v1", "ConfigMap", name,
    json.array{ { op = "replace", path = "/data/a", value = "10" } }, { type = "json" }))
  t.eq(j.data, { a = "10", c = "3" })
  local s = assert(c:patch("v1", "ConfigMap", name, '{"data":{"d":"4"}}', { type = "strategic" }))
  t.eq(s.data, { a = "10", c = "3", d = "4" })
  local dry = assert(c:patch("v1", "ConfigMap", name, { data = { e = "5" } }, { dry_run = true }))
  t.eq(dry.data.e, "5")
  t.eq(assert(c:get("v1", "ConfigMap", name)).data.e, nil)
  local _, e1 = c:patch("v1", "ConfigMap", name, {}, { type = "yaml" })
  t.eq(tostring(e1),
    'error: patch: type must be "merge", "json", "strategic" or "apply", got "yaml"')
  local _, e2 = c:patch("v1", "ConfigMap", name, 5)
  t.eq(tostring(e2), "error: patch: the patch must be a table or a JSON string, got number")
  local _, e3 = c:patch("v1", "ConfigMap", "nope-" .. name, { data = {} })
  t.eq(tostring(e3), ('Error from server (NotFound): configmaps "nope-%s" not found'):format(name))
end)

t.test("apply: created, unchanged, configured; dry_run; force", function()
  local name = h.name("apply")
  local obj, action = c:apply(cm(name, { k = "v" }))
  t.eq(action, "created")
  t.eq(obj.data, { k = "v" })
  local _, again = c:apply(cm(name, { k = "v" }))
  t.eq(again, "unchanged")
  local o3, changed = c:apply(cm(name, { k = "v2" }))
  t.eq(changed, "configured")
  t.eq(o3.data, { k = "v2" })
  local mf = o3.metadata.managedFields
  t.eq(mf[1].manager, "kubelua")
  t.eq(mf[1].operation, "Apply")
  -- dry run: reports what would happen, changes nothing
  local _, dry_new = c:apply(cm(h.name("apply-dry"), { k = "v" }), { dry_run = true })
  t.eq(dry_new, "created")
  local d2, dry_upd = c:apply(cm(name, { k = "v3" }), { dry_run = true })
  t.eq(dry_upd, "configured")
  t.eq(d2.data.k, "v3")
  local _, dry_same = c:apply(cm(name, { k = "v2" }), { dry_run = true })
  t.eq(dry_same, "unchanged")
  t.eq(assert(c:get("v1", "ConfigMap", name)).data.k, "v2")
  -- another manager owns the field: conflict unless forced
  local _, conflict = c:apply(cm(name, { k = "theirs" }), { field_manager = "other" })
  t.eq(conflict.code, 409)
  t.eq(conflict.reason, "Conflict")
  local forced, faction = c:apply(cm(name, { k = "theirs" }), { field_manager = "other",
    force = true })
  t.eq(faction, "configured")
  t.eq(forced.data.k, "theirs")
  local _, bad = c:apply(cm(name), { forse = true })
  t.eq(tostring(bad), 'error: apply: unknown option "forse"')
end)

t.test("delete: Status or object, propagation, ignore_not_found, wait until gone", function()
  local name = h.name("del")
  assert(c:create(cm(name, {})))
  local st = assert(c:delete("v1", "ConfigMap", name, { propagation_policy = "Background" }))
  t.eq(st.kind, "Status")
  t.eq(st.status, "Success")
  local _, nf = c:delete("v1", "ConfigMap", name)
  t.eq(tostring(nf), ('Error from server (NotFound): configmaps "%s" not found'):format(name))
  t.eq(c:delete("v1", "ConfigMap", name, { ignore_not_found = true }), false)
  local _, bad = c:delete("v1", "ConfigMap", name, { propagation_policy = "Later" })
  t.eq(tostring(bad), 'error: delete: propagation_policy must be "Background", "Foreground" or '
    .. '"Orphan", got "Later"')
  -- dry run leaves it
  local keep = h.name("del-dry")
  assert(c:create(cm(keep, {})))
  assert(c:delete("v1", "ConfigMap", keep, { dry_run = true }))
  assert(c:get("v1", "ConfigMap", keep))
  -- a namespace stays Terminating for a while: wait = true returns once it is gone
  local ns = h.name("del-ns")
  assert(c:create({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
  local out = assert(c:delete("v1", "Namespace", ns, { wait = true, timeout = 10 }))
  t.eq(out.kind, "Namespace")
  local _, gone = c:get("v1", "Namespace", ns)
  t.ok(k8s.errors.is(gone, "NotFound"), "namespace gone after wait")
end)

t.test("watch: events in order, callback stops it, resumes across stream ends", function()
  local tag = h.name("w")
  local events = {}
  local mark = h.mark()
  local ok, err
  async.run(function()
    async.spawn(function()
      ok, err = c:watch("v1", "ConfigMap", { label_selector = "watch=" .. tag, server_timeout = 1,
        timeout = 20 }, function(typ, obj)
          events[#events + 1] = typ .. " " .. obj.metadata.name .. " " .. tostring(obj.kind)
          if typ == "DELETED" then return false end
        end)
    end)
    async.sleep(0.2)
    assert(c:create(cm(tag .. "-a", { n = "1" }, { watch = tag })))
    async.sleep(1.5) -- the first stream ends (timeoutSeconds=1); the watch resumes
    assert(c:patch("v1", "ConfigMap", tag .. "-a", { data = { n = "2" } }))
    async.sleep(1.2)
    assert(c:delete("v1", "ConfigMap", tag .. "-a"))
  end)
  t.eq(ok, true, tostring(err))
  t.eq(events, { "ADDED " .. tag .. "-a ConfigMap", "MODIFIED " .. tag .. "-a ConfigMap",
    "DELETED " .. tag .. "-a ConfigMap" })
  local watches, resumed = 0, 0
  for _, r in ipairs(h.requests(mark)) do
    if r.query and r.query:find("watch=true", 1, true) then
      watches = watches + 1
      if r.query:find("resourceVersion=%d") then resumed = resumed + 1 end
    end
  end
  t.ok(watches >= 2, "the watch was re-opened: " .. watches)
  -- every watch request has a resourceVersion: the first one the list's
  -- (a watch without one, cut before its first event, would lose events)
  t.eq(resumed, watches)
end)

t.test("watch: timeout, callback errors, bad arguments", function()
  local ok, err = c:watch("v1", "ConfigMap", { name = h.name("quiet"), timeout = 0.5 },
    function() end)
  t.eq(ok, nil)
  t.eq(err.kind, "timeout")
  t.eq(tostring(err), "error: timed out after 0.5s watching configmaps in namespace default")
  local name = h.name("raise")
  assert(c:create(cm(name, {})))
  t.raises("boom in callback", function()
    c:watch("v1", "ConfigMap", { name = name, timeout = 5 },
      function() error("boom in callback") end)
  end)
  local _, e2 = c:watch("v1", "ConfigMap", {}, "nope")
  t.eq(tostring(e2), "error: watch: callback must be a function, got string")
end)

t.test("watch: BOOKMARK events when asked for", function()
  local seen = {}
  local ok, err = c:watch("v1", "ConfigMap",
    { name = h.name("bm"), bookmarks = true, timeout = 10 },
    function(typ, obj)
      seen[#seen + 1] = typ
      t.ok(type(obj.metadata.resourceVersion) == "string", "a bookmark carries a resourceVersion")
      return false
    end)
  t.eq(ok, true, tostring(err))
  t.eq(seen, { "BOOKMARK" })
end)

t.test("discovery forbidden: built-in kinds still resolve (and the API answers)", function()
  -- anonymous users may not read discovery documents
  local anon = assert(k8s.connect{ as = "system:anonymous",
    as_groups = { "system:unauthenticated" } })
  local _, err = anon:get("v1", "Namespace", "default")
  t.eq(tostring(err), 'Error from server (Forbidden): namespaces "default" is forbidden: User '
    .. '"system:anonymous" cannot get resource "namespaces" in API group "" in the namespace '
    .. '"default"')
  local _, err2 = anon:get("example.com/v1", "Widget", "w")
  t.eq(err2.code, 403)
  t.contains(tostring(err2), 'cannot get path "/apis/example.com/v1"')
end)

t.test("watch: 410 Gone re-lists and resyncs (kubesim --history 20)", function()
  local script = [[
local k8s = require "kubelua"
local c = assert(k8s.connect())
local function cm(n) return { apiVersion = "v1", kind = "ConfigMap",
  metadata = { name = n, namespace = "default", labels = { g = "x" } } } end
assert(c:create(cm("keep")))
assert(c:create(cm("gone")))
local _, meta = assert(c:list("v1", "ConfigMap", { label_selector = "g=x" }))
local rv = meta.resourceVersion
assert(c:delete("v1", "ConfigMap", "gone"))
for i = 1, 30 do assert(c:create(cm("filler-" .. i))) end
local seen = {}
local ok, err = c:watch("v1", "ConfigMap", { label_selector = "g=x", resource_version = rv,
  timeout = 10 }, function(typ, obj)
    seen[#seen + 1] = typ .. ":" .. obj.metadata.name
    if #seen == 31 then return false end
  end)
assert(ok, tostring(err))
table.sort(seen)
print(table.concat(seen, " "))
]]
  local out, code = h.run(("local s = %q\n"):format(script) .. [[
local f = assert(io.open(os.getenv("KUBESIM_DIR") .. "/inner-410.lua", "w"))
f:write(s) f:close()
local cmd = ("KUBESIM_ARGS='--history 20' bash '%s/tests/with-kubesim' '%s' "
  .. "'%s/inner-410.lua' 2>&1")
  :format(os.getenv("KUBELUA_ROOT"), os.getenv("KUBELUA"), os.getenv("KUBESIM_DIR"))
local p = assert(io.popen(cmd))
io.write(p:read("a"))
os.exit(p:close() and 0 or 1)
]], "-v=6", { KUBELUA = h.kubelua, KUBELUA_ROOT = h.root })
  t.eq(code, 0, out)
  t.contains(out, '"Watch expired, re-listing" resource="configmaps in namespace default"')
  -- the resync: every live object ADDED once (keep and the fillers)
  t.contains(out, "ADDED:filler-1 ADDED:filler-10")
  t.contains(out, "ADDED:keep")
  t.ok(not out:find("ADDED:gone", 1, true), "the deleted one is not re-added")
end)

t.test("wait: until_ on a watch, timeout message, deleted while waiting", function()
  local name = h.name("wait")
  assert(c:create(cm(name, { ready = "no" })))
  local got, err
  async.run(function()
    async.spawn(function()
      got, err = c:wait("v1", "ConfigMap", name, { timeout = 10,
        until_ = function(o) return o.data and o.data.ready == "yes" end })
    end)
    async.sleep(0.3)
    assert(c:patch("v1", "ConfigMap", name, { data = { ready = "yes" } }))
  end)
  t.ok(got, tostring(err))
  t.eq(got.data.ready, "yes")
  -- already true: no watch needed
  t.eq(assert(c:wait("v1", "ConfigMap", name, { until_ = function() return true end })).kind,
    "ConfigMap")
  local _, terr = c:wait("v1", "ConfigMap", name, { timeout = 0.5,
    until_ = function() return false end })
  t.eq(terr.kind, "timeout")
  t.eq(tostring(terr), ("error: timed out waiting for the condition on configmaps/%s in namespace "
    .. "default (after 0.5s)"):format(name))
  local derr
  async.run(function()
    async.spawn(function()
      _, derr = c:wait("v1", "ConfigMap", name,
        { timeout = 10, until_ = function() return false end })
    end)
    async.sleep(0.3)
    assert(c:delete("v1", "ConfigMap", name))
  end)
  t.eq(tostring(derr), ('Error from server (NotFound): configmaps "%s" was deleted while waiting '
    .. "for the condition"):format(name))
  -- waiting for something that does not exist yet
  local later = h.name("later")
  local appeared
  async.run(function()
    async.spawn(function() appeared = c:wait("v1", "ConfigMap", later, { timeout = 10 }) end)
    async.sleep(0.3)
    assert(c:create(cm(later, {})))
  end)
  t.eq(appeared.metadata.name, later)
  t.eq(assert(c:wait("v1", "ConfigMap", h.name("never"), { deleted = true })), true)
  local _, bad = c:wait("v1", "ConfigMap", later, { until_ = "x" })
  t.eq(tostring(bad), "error: wait: until_ must be a function, got string")
end)

t.test("dry_run on every write: dryRun=All on the wire, nothing changes", function()
  local name = h.name("dry-all")
  local orig = assert(c:create(cm(name, { k = "v" })))
  local writes = {
    { "POST", function() return c:create(cm(h.name("dry-new"), {}), { dry_run = true }) end },
    { "PUT", function()
      local o = cm(name, { k = "replaced" })
      return c:replace(o, { dry_run = true })
    end },
    { "PATCH", function()
      return c:patch("v1", "ConfigMap", name, { data = { k = "patched" } }, { dry_run = true })
    end },
    { "PATCH", function() return c:apply(cm(name, { other = "applied" }), { dry_run = true }) end },
    { "DELETE", function() return c:delete("v1", "ConfigMap", name, { dry_run = true }) end },
  }
  for i, w in ipairs(writes) do
    local mark = h.mark()
    local out, err = w[2]()
    t.ok(out, ("write %d: %s"):format(i, tostring(err)))
    local seen = 0
    for _, r in ipairs(h.requests(mark)) do
      if r.method == w[1] then
        seen = seen + 1
        t.contains(r.query, "dryRun=All", w[1])
      end
    end
    t.eq(seen, 1, "one " .. w[1])
  end
  local now = assert(c:get("v1", "ConfigMap", name))
  t.eq(now.data, { k = "v" })
  t.eq(now.metadata.resourceVersion, orig.metadata.resourceVersion)
  t.eq(now.metadata.uid, orig.metadata.uid)
end)

t.test("options of the wrong type: nil and a usage error naming the option, never a raise",
function()
  local cmo = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "typed" } }
  local cb = function() end
  local cases = {
    { function() return c:get("v1", "Secret", "x", { timeout = "5" }) end,
      "get: timeout must be a number of seconds >= 0, got string" },
    { function() return c:list("v1", "Secret", { label_selector = 5 }) end,
      "list: label_selector must be a string, got 5" },
    { function() return c:list("v1", "Secret", { field_selector = {} }) end,
      "list: field_selector must be a string, got table" },
    { function() return c:list("v1", "Secret", { limit = "x" }) end,
      "list: limit must be an integer, got string" },
    { function() return c:create(cmo, { field_manager = 5 }) end,
      "create: field_manager must be a string, got 5" },
    { function() return c:replace(cmo, { namespace = 5 }) end,
      "replace: namespace must be a string, got 5" },
    { function() return c:patch("v1", "ConfigMap", "x", {}, { subresource = 5 }) end,
      "patch: subresource must be a string, got 5" },
    { function() return c:apply(cmo, { timeout = -1 }) end,
      "apply: timeout must be a number of seconds >= 0, got -1" },
    { function() return c:delete("v1", "ConfigMap", "x", { grace_period_seconds = "0" }) end,
      "delete: grace_period_seconds must be an integer, got string" },
    { function() return c:delete("v1", "ConfigMap", "x", { wait = true, timeout = "x" }) end,
      "delete: timeout must be a number of seconds >= 0, got string" },
    { function() return c:watch("v1", "ConfigMap", { timeout = "1" }, cb) end,
      "watch: timeout must be a number of seconds >= 0, got string" },
    { function() return c:watch("v1", "ConfigMap", { name = 5 }, cb) end,
      "watch: name must be a string, got 5" },
    { function() return c:wait("v1", "ConfigMap", "x", { uid = 5 }) end,
      "wait: uid must be a string, got 5" },
    { function() return c:can_i("get", "pods", { group = 5 }) end,
      "can_i: group must be a string, got 5" },
    { function() return c:can_i("get", "pods", { as = { user = "x", groups = "g" } }) end,
      "can_i: as.groups must be a list of strings" },
    { function() return c:can_i("get", "pods", { as = { usr = "x" } }) end,
      'can_i: as: unknown field "usr" (user, groups, uid, extra)' },
    { function() return c:token_review("abcdefgh", { audiences = "api" }) end,
      "token_review: audiences must be a list of strings, got string" },
    { function() return c:token_request("default", "default", { audiences = { 1 } }) end,
      "token_request: audiences must be a list of strings, got table" },
    { function() return c:service_account_token("default", "default", { secret_name = 5 }) end,
      "service_account_token: secret_name must be a string, got 5" },
    { function() return c:request{ path = "/version", timeout = "5" } end,
      "request: timeout must be a number of seconds >= 0, got string" },
    { function() return c:request{ path = "/version", accept = 5 } end,
      "request: accept must be a string, got number" },
    { function() return c:request{ path = "/version", impersonate = "bob" } end,
      "request: impersonate must be a table { user, groups, uid, extra }, got string" },
    { function() return c:request{ path = "/version", impersonate = { user = "bob", uid = 7 } } end,
      "request: impersonate.uid must be a non-empty string" },
    { function() return k8s.connect{ namespace = 5 } end,
      "connect: namespace must be a string, got number" },
    { function() return k8s.connect{ as = "x", as_groups = "devs" } end,
      "connect: as_groups must be a list of strings, got string" },
    { function() return k8s.connect{ as = "x", as_user_extra = { scopes = 5 } } end,
      "connect: as_user_extra must be a table of name = string or list of strings, got table" },
    { function() return k8s.connect{ insecure_skip_tls_verify = "yes" } end,
      "connect: insecure_skip_tls_verify must be a boolean, got string" },
  }
  local mark = h.mark()
  for i, case in ipairs(cases) do
    local ok, v, err = pcall(case[1])
    t.ok(ok, ("case %d raised: %s"):format(i, tostring(v)))
    t.eq(v, nil, "case " .. i)
    t.eq(err.kind, "usage", case[2])
    t.eq(tostring(err), "error: " .. case[2])
  end
  for _, r in ipairs(h.requests(mark)) do -- discovery only
    local discovery = r.path == "/api/v1" or r.path == "/apis"
      or r.path:match("^/apis/[^/]+/[^/]+$")
    t.ok(discovery, "a request was sent: " .. r.method .. " " .. r.path)
  end
end)
