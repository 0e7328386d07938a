-- c:shared_watch: many c:wait calls on one watch, against kubesim.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"
local async = require "kubelua.async"

local c = assert(k8s.connect())

local function cm(name, ns, data)
  return { apiVersion = "v1", kind = "ConfigMap",
    metadata = { name = name, namespace = ns or "default" }, data = data }
end

local function ready(o) return o.data ~= nil and o.data.ready == "yes" end

-- kubesim logs a watch when it ends: close the shared watch, then read the log
local function watches_since(mark, sw)
  sw:close()
  local seen = {}
  for _ = 1, 40 do -- up to 2 s for the ended watch to be logged
    seen = {}
    for _, r in ipairs(h.requests(mark)) do
      if r.verb == "watch" then seen[#seen + 1] = r.path .. "?" .. r.query end
    end
    if #seen > 0 then break end
    async.sleep(0.05)
  end
  return seen
end

t.test("twenty waits in parallel share one watch, and each gets its object", function()
  local ns = h.name("shared")
  assert(c:create{ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } })
  local mark = h.mark()
  local sw = assert(c:shared_watch("v1", "ConfigMap", { namespace = ns }))
  async.run(function() async.sleep(0.2) end) -- the watch has started (its resync is done)
  local names = {}
  for i = 1, 20 do names[i] = "cm-" .. i end
  local results, errs
  async.run(function()
    async.spawn(function()
      results, errs = k8s.parallel(names, function(name)
        return c:wait("v1", "ConfigMap", name, { namespace = ns, timeout = 10, until_ = ready,
          watch = sw })
      end, { concurrency = 20 })
    end)
    async.sleep(0.2) -- every wait has read its object (absent) and parked
    for _, name in ipairs(names) do assert(c:create(cm(name, ns, { ready = "no" }))) end
    for _, name in ipairs(names) do
      assert(c:patch("v1", "ConfigMap", name, { data = { ready = "yes" } }, { namespace = ns }))
    end
  end)
  t.eq(next(errs), nil)
  for i, name in ipairs(names) do
    t.eq(results[i].metadata.name, name)
    t.eq(results[i].data.ready, "yes")
  end
  local seen = watches_since(mark, sw)
  t.eq(#seen, 1, "one watch for twenty waits: " .. table.concat(seen, " "))
  -- each wait read its object twice: not there yet, then as created; the
  -- change to ready came on the watch, newer than that read, and was taken
  -- as it came (no third read)
  local reads = {}
  for _, r in ipairs(h.requests(mark)) do
    local name = r.method == "GET" and r.path:match("^/api/v1/namespaces/"
      .. ns:gsub("%-", "%%-") .. "/configmaps/(cm%-%d+)$")
    if name then reads[name] = (reads[name] or 0) + 1 end
  end
  for _, name in ipairs(names) do
    t.ok((reads[name] or 0) >= 1 and reads[name] <= 2, name .. " read " .. tostring(reads[name]))
  end
  t.contains(seen[1], "/api/v1/namespaces/" .. ns .. "/configmaps?")
  t.ok(not seen[1]:find("metadata.name", 1, true), "not a per-object watch: " .. seen[1])
end)

t.test("outside tasks: a wait parks and the loop runs the shared watch", function()
  -- the token controller fills the Secret a moment after it is created
  -- (kubesim's --token-delay): the wait must park on the watch to see it
  local ns = h.name("shared-seq")
  assert(c:create{ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } })
  assert(c:create{ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = "sa", namespace = ns } })
  local sw <close> = assert(c:shared_watch("v1", "Secret",
    { field_selector = "type=kubernetes.io/service-account-token" }))
  for i = 1, 3 do
    local name = "sa-token-" .. i
    assert(c:create{ apiVersion = "v1", kind = "Secret",
      type = "kubernetes.io/service-account-token", metadata = { name = name, namespace = ns,
        annotations = { ["kubernetes.io/service-account.name"] = "sa" } } })
    local s = assert(c:wait("v1", "Secret", name, { namespace = ns, timeout = 10, watch = sw,
      until_ = function(o) return o.data ~= nil and o.data.token ~= nil end }))
    t.eq(s.metadata.name, name)
    t.ok(#s.data.token > 0, "filled")
  end
  t.ok(sw:covers(sw.info, ns), "all namespaces cover the test's one")
end)

t.test("deleted = true, deleted while waiting, timeout", function()
  local sw <close> = assert(c:shared_watch("v1", "ConfigMap"))
  local name = h.name("sw-del")
  assert(c:create(cm(name, "default", { ready = "no" })))
  local gone, gerr
  async.run(function()
    async.spawn(function()
      gone, gerr = c:wait("v1", "ConfigMap", name, { namespace = "default", deleted = true,
        timeout = 10, watch = sw })
    end)
    async.sleep(0.2)
    assert(c:delete("v1", "ConfigMap", name, { namespace = "default" }))
  end)
  t.eq(gone, true, tostring(gerr))

  local other = h.name("sw-del2")
  assert(c:create(cm(other, "default", { ready = "no" })))
  local _, derr
  async.run(function()
    async.spawn(function()
      _, derr = c:wait("v1", "ConfigMap", other, { namespace = "default", until_ = ready,
        timeout = 10, watch = sw })
    end)
    async.sleep(0.2)
    assert(c:delete("v1", "ConfigMap", other, { namespace = "default" }))
  end)
  t.eq(tostring(derr), ('Error from server (NotFound): configmaps "%s" was deleted while waiting '
    .. "for the condition"):format(other))

  local _, terr = c:wait("v1", "ConfigMap", h.name("sw-never"), { namespace = "default",
    timeout = 0.3, watch = sw })
  t.eq(terr.kind, "timeout")
  t.contains(tostring(terr), "timed out waiting for the condition on configmaps/sw-never")
end)

t.test("the timeout holds while the object keeps changing", function()
  local sw <close> = assert(c:shared_watch("v1", "ConfigMap", { namespace = "default" }))
  local name = h.name("sw-busy")
  assert(c:create(cm(name, "default", { n = "0" })))
  -- every read is followed by a reported change (as when the object changes
  -- faster than it is read), so the wait never parks; bounded: 2000 reads
  local busy = assert(k8s.connect())
  local reads = 0
  function busy:get(...)
    reads = reads + 1
    if reads > 2000 then error("still reading after 2000 reads", 0) end
    local obj, err = k8s.Client.get(self, ...)
    sw:_flag_all()
    return obj, err
  end
  local _, terr = busy:wait("v1", "ConfigMap", name, { namespace = "default", timeout = 0.2,
    until_ = function() return false end, watch = sw })
  t.eq(terr.kind, "timeout")
  t.ok(reads > 1 and reads <= 2000, "read again on each change, then gave up: " .. reads)
end)

t.test("closing the shared watch under parked waits: they go on with their own", function()
  local sw = assert(c:shared_watch("v1", "ConfigMap", { namespace = "default" }))
  local name = h.name("sw-closed")
  local got, err
  async.run(function()
    async.spawn(function()
      got, err = c:wait("v1", "ConfigMap", name, { namespace = "default", timeout = 10,
        until_ = ready, watch = sw })
    end)
    async.sleep(0.2) -- parked on the shared watch
    sw:close()
    async.sleep(0.2)
    assert(c:create(cm(name, "default", { ready = "yes" })))
  end)
  t.ok(got, tostring(err))
  t.eq(got.data.ready, "yes")
  t.eq(sw.err.kind, "usage")
  t.contains(tostring(sw.err), "was closed")
end)

t.test("a wait the shared watch does not cover is a usage error", function()
  local sw <close> = assert(c:shared_watch("v1", "ConfigMap", { namespace = "default" }))
  local _, e1 = c:wait("v1", "Secret", "x", { namespace = "default", watch = sw })
  t.eq(tostring(e1), "error: wait: the shared watch of configmaps in namespace default does not "
    .. "cover secrets/x in namespace default")
  local _, e2 = c:wait("v1", "ConfigMap", "x", { namespace = "kube-system", watch = sw })
  t.contains(tostring(e2), "does not cover configmaps/x in namespace kube-system")
  local _, e3 = c:wait("v1", "ConfigMap", "x", { namespace = "default", watch = {} })
  t.eq(tostring(e3), "error: wait: watch must be a c:shared_watch(...), got table")
end)

t.test("a shared watch that fails (403, closed) leaves the waits to their own watches", function()
  -- a service account that may read config maps in its namespace only:
  -- its cluster-wide shared watch is forbidden
  local ns = h.name("sw-rbac")
  assert(c:create{ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } })
  assert(c:create{ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = "reader", namespace = ns } })
  assert(c:create{ apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",
    metadata = { name = "reader-view", namespace = ns },
    subjects = { { kind = "ServiceAccount", name = "reader", namespace = ns } },
    roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "view" } })
  local tok = assert(c:token_request(ns, "reader"))
  local sa = assert(k8s.connect{ kubeconfig = "/dev/null", server = h.url, token = tok,
    certificate_authority = h.ca_file, namespace = ns })
  local sw <close> = assert(sa:shared_watch("v1", "ConfigMap"))
  local name = "later"
  local got, err
  async.run(function()
    async.spawn(function()
      got, err = sa:wait("v1", "ConfigMap", name, { timeout = 10, until_ = ready, watch = sw })
    end)
    async.sleep(0.3)
    assert(c:create(cm(name, ns, { ready = "yes" })))
  end)
  t.ok(got, tostring(err))
  t.eq(got.data.ready, "yes")
  t.eq(sw.err.reason, "Forbidden")

  local closed = assert(c:shared_watch("v1", "ConfigMap"))
  closed:close()
  t.eq(assert(c:wait("v1", "ConfigMap", name, { namespace = ns, watch = closed })).data.ready,
    "yes")
end)

