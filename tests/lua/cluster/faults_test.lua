-- The client under kubesim's injected faults, with its default retry policy:
-- watch and wait across dropped connections (a stream cut in the middle of
-- an event) and 429/5xx on the watch request itself, never losing or
-- repeating an event; and the batch of the scripts (namespace, service
-- account, binding, long-lived token, 50 namespaces in parallel) complete
-- with 20% of all answers 429/500/503. Faults are seeded; with requests in
-- flight together the order of arrival varies, so the bounds are generous.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"
local async = require "kubelua.async"

local admin = assert(k8s.connect())

local function injected(mark)
  local n, kinds = 0, {}
  for _, r in ipairs(h.requests(mark)) do
    if r.fault then
      n = n + 1
      kinds[r.fault] = (kinds[r.fault] or 0) + 1
    end
  end
  return n, kinds
end

local function cm(name, ns, data)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = ns,
    labels = { test = "faults" } }, data = data }
end

t.test("watch: drops mid-event and 500s resume; every event exactly once, in order",
function()
  local ns = h.name("wdrop")
  assert(admin:create({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
  -- 45% of the answers fail: enough attempts that no write or watch runs out
  local c = assert(k8s.connect{ retries = { max = 25, base = 0.02, cap = 0.2 } })
  local N = 15
  local events, ok, err = {}, nil, nil
  local mark = h.mark()
  h.faults(admin, "seed=3,drop=0.4,500=0.05")
  local t0 = async.now()
  async.run(function()
    async.spawn(function()
      local deleted = 0
      -- one-second streams: many watch requests, so many are cut
      ok, err = c:watch("v1", "ConfigMap", { namespace = ns, timeout = 90, server_timeout = 1,
        label_selector = "test=faults" }, function(etype, obj)
          events[#events + 1] = { etype, obj.metadata.name, tonumber(obj.metadata.resourceVersion) }
          if etype == "DELETED" then deleted = deleted + 1 end
          return deleted < N
        end)
    end)
    async.sleep(0.3)
    for i = 1, N do
      local name = ("cm-%02d"):format(i)
      assert(c:create(cm(name, ns, { v = "1" })))
      assert(c:patch("v1", "ConfigMap", name, { data = { v = "2" } }, { namespace = ns }))
      assert(c:delete("v1", "ConfigMap", name, { namespace = ns }))
      async.sleep(0.4)
    end
  end)
  h.faults(admin, "")
  local cut = 0
  for _, r in ipairs(h.requests(mark)) do
    if r.fault == "drop" and (r.query or ""):find("watch=true", 1, true) then cut = cut + 1 end
  end
  t.eq(ok, true, tostring(err))
  t.ok(cut >= 2, "watch streams were cut: " .. cut)
  t.ok(async.now() - t0 < 80, "bounded time")
  -- per object: ADDED, MODIFIED, DELETED, once each; resourceVersions only grow
  local per, last = {}, 0
  for _, e in ipairs(events) do
    per[e[2]] = per[e[2]] or {}
    table.insert(per[e[2]], e[1])
    t.ok(e[3] > last, ("resourceVersion %d after %d: an event came twice"):format(e[3], last))
    last = e[3]
  end
  for i = 1, N do
    t.eq(per[("cm-%02d"):format(i)], { "ADDED", "MODIFIED", "DELETED" }, ("cm-%02d"):format(i))
  end
  t.eq(#events, 3 * N)
end)

t.test("wait: until_ and deleted = true hold across dropped watches and 5xx", function()
  local ns = h.name("waitdrop")
  assert(admin:create({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
  local c = assert(k8s.connect())
  assert(c:create(cm("target", ns, { step = "0" })))
  h.faults(admin, "seed=8,drop=0.2,500=0.05,503=0.05")
  local got, gerr, gone, derr
  async.run(function()
    async.spawn(function()
      got, gerr = c:wait("v1", "ConfigMap", "target", { namespace = ns, timeout = 60,
        until_ = function(o) return o.data and o.data.step == "5" end })
      gone, derr = c:wait("v1", "ConfigMap", "target", { namespace = ns, timeout = 60,
        deleted = true })
    end)
    for i = 1, 5 do
      async.sleep(0.1)
      assert(c:patch("v1", "ConfigMap", "target", { data = { step = tostring(i) } },
        { namespace = ns }))
    end
    -- (deleted before the first wait saw step 5, it would wait for a new one)
    while got == nil and gerr == nil do async.sleep(0.05) end
    assert(c:delete("v1", "ConfigMap", "target", { namespace = ns }))
  end)
  h.faults(admin, "")
  t.ok(got, tostring(gerr))
  t.eq(got.data.step, "5")
  t.eq(gone, true, tostring(derr))
end)

t.test("batch under 20% faults (429, 500, 503): 50 namespaces, every one complete", function()
  local prefix = h.name("fb")
  local items = {}
  for i = 1, 50 do items[i] = ("%s-%d"):format(prefix, i) end
  local c = assert(k8s.connect())
  local mark = h.mark()
  h.faults(admin, "seed=4,429=0.1,500=0.05,503=0.05")
  local t0 = async.now()
  local results, errs = k8s.parallel(items, function(ns)
    local function ok(v, e) if v == nil then error(e, 0) end return v end
    ok(c:apply({ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }))
    ok(c:apply({ apiVersion = "v1", kind = "ServiceAccount",
      metadata = { name = "api-sa", namespace = ns } }))
    ok(c:apply({ apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",
      metadata = { name = "api-sa-view", namespace = ns },
      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "view" },
      subjects = { { kind = "ServiceAccount", name = "api-sa", namespace = ns } } }))
    return ok(c:service_account_token(ns, "api-sa", { timeout = 60 })).token
  end, { concurrency = 16 })
  local elapsed = async.now() - t0
  h.faults(admin, "")
  local n = injected(mark)
  for i, e in pairs(errs) do error(("%s failed: %s"):format(items[i], tostring(e))) end
  t.ok(n >= 100, "faults were injected: " .. n)
  t.ok(elapsed < 150, ("bounded time: %.1fs"):format(elapsed))
  for i, ns in ipairs(items) do
    t.ok(type(results[i]) == "string" and #results[i] > 20, ns .. ": a token")
    local secrets = assert(admin:list("v1", "Secret", { namespace = ns }))
    t.eq(#secrets, 1, ns .. ": one token Secret")
  end
end)
