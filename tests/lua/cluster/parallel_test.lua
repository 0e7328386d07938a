-- k8s.parallel: many client requests in flight at once, results and
-- errors per item, and 500 creates that exist exactly once even with faults.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"

local admin = assert(k8s.connect())

local function parse_ms(stamp) -- "2026-11-28T10:00:00.123Z" -> ms of the day
  local hh, mm, ss, ms = stamp:match("T(%d%d):(%d%d):(%d%d)%.(%d%d%d)Z$")
  return ((tonumber(hh) * 60 + tonumber(mm)) * 60 + tonumber(ss)) * 1000 + tonumber(ms)
end

t.test("requests inside parallel are in flight together", function()
  h.faults(admin, "latency=100ms")
  local c = assert(k8s.connect())
  local mark = h.mark()
  local items = {}
  for i = 1, 64 do items[i] = i end
  local results, errs = k8s.parallel(items, function()
    return assert(c:get("v1", "Namespace", "default")).metadata.name
  end, { concurrency = 32 })
  h.faults(admin, "")
  t.eq(next(errs), nil)
  t.eq(#results, 64)
  -- from the server's log: how many requests overlapped at the busiest moment
  local spans = {}
  for _, r in ipairs(h.requests(mark)) do
    if r.path == "/api/v1/namespaces/default" then
      local s = parse_ms(r.time)
      spans[#spans + 1] = { s, s + r.latency_ms }
    end
  end
  t.eq(#spans, 64)
  local best = 0
  for _, a in ipairs(spans) do
    local n = 0
    for _, b in ipairs(spans) do if b[1] <= a[1] and a[1] < b[2] then n = n + 1 end end
    if n > best then best = n end
  end
  t.ok(best >= 16, "at least 16 requests in flight together, saw " .. best)
end)

t.test("results, per-item errors, progress; one failure never stops the others", function()
  local c = assert(k8s.connect())
  local names = { "default", "nope-1", "kube-system", "nope-2", "kube-public" }
  local seen = {}
  local results, errs = k8s.parallel(names, function(name)
    return c:get("v1", "Namespace", name)
  end, { concurrency = 2, progress = function(done, total, item, ok)
    seen[#seen + 1] = { done, total, item, ok }
  end })
  t.eq(results[1].metadata.name, "default")
  t.eq(results[3].metadata.name, "kube-system")
  t.eq(results[5].metadata.name, "kube-public")
  t.eq(results[2], nil)
  t.eq(tostring(errs[2]), 'Error from server (NotFound): namespaces "nope-1" not found')
  t.eq(tostring(errs[4]), 'Error from server (NotFound): namespaces "nope-2" not found')
  t.eq(#seen, 5)
  t.eq(seen[5][1], 5)
  t.eq(seen[5][2], 5)
  local oks = 0
  for _, s in ipairs(seen) do if s[4] then oks = oks + 1 end end
  t.eq(oks, 3)
  local _, raised = k8s.parallel({ 1, 2 }, function(i)
    if i == 1 then error("item one failed") end
    return i
  end)
  t.contains(tostring(raised[1]), "item one failed")
  t.raises("parallel: fn must be a function, got nil", function() k8s.parallel({}, nil) end)
  t.raises("parallel: items must be a table, got string", function() k8s.parallel("x", print) end)
end)

local function create_many(c, tag, n)
  local items = {}
  for i = 1, n do items[i] = ("%s-%03d"):format(tag, i) end
  local results, errs = k8s.parallel(items, function(name)
    return c:create({ apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = name, namespace = "default", labels = { batch = tag } },
      data = { name = name } })
  end, { concurrency = 32 })
  return items, results, errs
end

local function count(tag)
  local items = assert(admin:list("v1", "ConfigMap", { label_selector = "batch=" .. tag }))
  local distinct, n = {}, 0
  for _, it in ipairs(items) do
    if not distinct[it.metadata.name] then n = n + 1 end
    distinct[it.metadata.name] = true
  end
  return #items, n
end

t.test("500 creates through parallel (concurrency 32) exist exactly once", function()
  local c = assert(k8s.connect())
  local names, results, errs = create_many(c, "p500", 500)
  t.eq(next(errs), nil)
  for i, name in ipairs(names) do t.eq(results[i].metadata.name, name) end
  local total, distinct = count("p500")
  t.eq(total, 500)
  t.eq(distinct, 500)
end)

t.test("500 creates with 5% injected faults (429, 500, 503, dropped) still exactly once", function()
  local c = assert(k8s.connect{ retries = { max = 8, base = 0.05, cap = 1 } })
  h.faults(admin, "seed=5,429=0.02,500=0.01,503=0.01,drop=0.01")
  local mark = h.mark()
  local names, results, errs = create_many(c, "pfault", 500)
  local injected = 0
  for _, r in ipairs(h.requests(mark)) do if r.fault then injected = injected + 1 end end
  h.faults(admin, "")
  for i, e in pairs(errs) do error(("item %d failed: %s"):format(i, tostring(e))) end
  for i, name in ipairs(names) do t.eq(results[i].metadata.name, name) end
  t.ok(injected >= 10, "faults were injected: " .. injected)
  local total, distinct = count("pfault")
  t.eq(total, 500)
  t.eq(distinct, 500)
end)
