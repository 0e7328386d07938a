-- kubelua.async: tasks, parallel, streams, timers and cancellation, against
-- tests/fixtures/echo_server.py.
local t = require "testlib"
local http = require "kubelua.http"
local async = require "kubelua.async"
local cjson = require "cjson"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local fixture = dofile(here .. "/../../tests/fixtures/echo.lua")
local echo = fixture.start()
local multi = http.default_multi()

local function url(path) return echo.https .. path end
local function req(path, extra)
  local o = { url = url(path), ca_data = echo.ca }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function elapsed(fn)
  local t0 = http.now()
  fn()
  return http.now() - t0
end

-- ------------------------------------------------------------ run

t.test("run returns every result of the task", function()
  local a, b, c = async.run(function(x, y) return x + y, "two", nil end, 1, 2)
  t.eq({ a, b, c }, { 3, "two", nil })
end)

t.test("run raises a task's string error with its traceback", function()
  local ok, err = pcall(async.run, function() error("boom") end)
  t.eq(ok, false)
  t.contains(err, "async_test.lua:")
  t.contains(err, "boom")
  t.contains(err, "stack traceback:")
end)

t.test("run raises a task's error object unchanged", function()
  local obj = setmetatable({ kind = "api" }, { __name = "X" })
  local ok, err = pcall(async.run, function() error(obj) end)
  t.eq(ok, false)
  t.ok(rawequal(err, obj), "the same table")
end)

t.test("request inside a task yields, outside it blocks; same response", function()
  local outside = assert(async.request(req("/echo?where=out")))
  local inside, in_task = async.run(function()
    return assert(async.request(req("/echo?where=in"))), async.in_task()
  end)
  t.eq(async.in_task(), false)
  t.eq(in_task, true)
  t.eq(cjson.decode(outside.body).path, "/echo?where=out")
  t.eq(cjson.decode(inside.body).path, "/echo?where=in")
end)

t.test("request failures return nil, err inside and outside tasks", function()
  local _, e1 = async.request{ url = "https://127.0.0.1:1/" }
  local _, e2 = async.run(function() return async.request{ url = "https://127.0.0.1:1/" } end)
  for _, e in ipairs{ e1, e2 } do
    t.eq(e.kind, "transport")
    t.eq(e.curl, "COULDNT_CONNECT")
  end
end)

t.test("nested run inside a task joins its own task", function()
  local r = async.run(function()
    local x = async.run(function()
      async.sleep(0.01)
      return 41
    end)
    return x + 1
  end)
  t.eq(r, 42)
end)

t.test("spawned tasks finish before run returns", function()
  local order = {}
  async.run(function()
    async.spawn(function()
      async.sleep(0.1)
      order[#order + 1] = "spawned"
    end)
    order[#order + 1] = "root"
  end)
  t.eq(order, { "root", "spawned" })
  t.raises("async.spawn needs a task; use async.run", async.spawn, print)
end)

-- ------------------------------------------------------------ parallel

t.test("parallel: 200 requests at concurrency 16, failures stay per item", function()
  local items = {}
  for i = 1, 200 do items[i] = i end
  local inflight, peak, calls = 0, 0, {}
  local results, errs = async.parallel(items, function(i, idx)
    t.eq(i, idx)
    if i % 50 == 0 then error({ item = i }) end
    if i % 40 == 0 then return nil, "item " .. i .. " refused" end
    inflight = inflight + 1
    peak = math.max(peak, inflight)
    local resp, err = async.request(req("/echo?i=" .. i))
    inflight = inflight - 1
    if not resp then return nil, err end
    return cjson.decode(resp.body).path
  end, { concurrency = 16, progress = function(done, total, item, ok)
    calls[#calls + 1] = { done, total, item, ok }
  end })
  for i = 1, 200 do
    if i % 50 == 0 then
      t.eq(results[i], nil)
      t.eq(errs[i], { item = i })
    elseif i % 40 == 0 then
      t.eq(results[i], nil)
      t.eq(errs[i], "item " .. i .. " refused")
    else
      t.eq(results[i], "/echo?i=" .. i)
      t.eq(errs[i], nil)
    end
  end
  t.eq(#calls, 200)
  for n, c in ipairs(calls) do
    t.eq(c[1], n, "done counts up")
    t.eq(c[2], 200)
    t.eq(c[4], not (c[3] % 50 == 0 or c[3] % 40 == 0), "ok flag of item " .. c[3])
  end
  t.ok(peak > 1 and peak <= 16, "peak in flight " .. peak)
  t.eq(multi:pending(), 0)
end)

t.test("parallel really overlaps: 8 slow requests at concurrency 8", function()
  local items = { 1, 2, 3, 4, 5, 6, 7, 8 }
  local dt = elapsed(function()
    local results, errs = async.parallel(items, function()
      return assert(async.request(req("/slow?ms=300"))).status
    end, { concurrency = 8 })
    t.eq(results, { 200, 200, 200, 200, 200, 200, 200, 200 })
    t.eq(next(errs), nil)
  end)
  t.ok(dt < 1.5, "8 x 300 ms took " .. dt .. " s") -- serial: 2.4 s
end)

t.test("parallel with concurrency 1 runs in order, one at a time", function()
  local order = {}
  local results = async.parallel({ "a", "b", "c" }, function(x)
    order[#order + 1] = x
    async.sleep(0.01)
    return x:upper()
  end, { concurrency = 1 })
  t.eq(order, { "a", "b", "c" })
  t.eq(results, { "A", "B", "C" })
end)

t.test("nested parallel inside a task", function()
  local results, errs = async.parallel({ 1, 2, 3 }, function(i)
    local inner = async.parallel({ 10, 20 }, function(j)
      local resp = assert(async.request(req(("/echo?%d-%d"):format(i, j))))
      return cjson.decode(resp.body).path
    end, { concurrency = 2 })
    return table.concat(inner, ",")
  end, { concurrency = 3 })
  t.eq(results, { "/echo?1-10,/echo?1-20", "/echo?2-10,/echo?2-20", "/echo?3-10,/echo?3-20" })
  t.eq(errs, {})
end)

t.test("parallel on an empty list and bad concurrency", function()
  local r, e = async.parallel({}, error)
  t.eq(r, {})
  t.eq(e, {})
  t.raises("async.parallel: concurrency must be a positive integer", async.parallel, { 1 },
    print, { concurrency = 0 })
end)

t.test("an error in progress is not swallowed", function()
  t.raises("progress broke", async.parallel, { 1, 2, 3 }, function(x) return x end,
    { progress = function() error("progress broke") end })
  t.eq(multi:pending(), 0)
end)

-- ------------------------------------------------------------ sleep

t.test("sleep: timers interleave tasks", function()
  local order = {}
  local dt = elapsed(function()
    async.parallel({ 0.2, 0.05, 0.1 }, function(s)
      async.sleep(s)
      order[#order + 1] = s
    end, { concurrency = 3 })
  end)
  t.eq(order, { 0.05, 0.1, 0.2 })
  t.ok(dt >= 0.19 and dt < 1, "took " .. dt)
end)

t.test("sleep outside a task blocks", function()
  local dt = elapsed(function() async.sleep(0.1) end)
  t.ok(dt >= 0.095 and dt < 1, "took " .. dt)
end)

-- ------------------------------------------------------------ streams

t.test("stream inside a task: chunks arrive over time, on_data may make requests", function()
  local chunks, paths, heads = {}, {}, {}
  local resp = async.run(function()
    return async.stream(req("/stream?n=4&ms=60"), function(chunk, head)
      chunks[#chunks + 1] = chunk
      heads[#heads + 1] = head.status
      local r = assert(async.request(req("/echo?during=" .. #chunks)))
      paths[#paths + 1] = cjson.decode(r.body).path
    end)
  end)
  t.eq(resp.status, 200)
  t.eq(resp.body, "")
  t.eq(table.concat(chunks), "line 1\nline 2\nline 3\nline 4\n")
  t.ok(#chunks >= 3, "chunks: " .. #chunks)
  for i = 1, #chunks do
    t.eq(paths[i], "/echo?during=" .. i)
    t.eq(heads[i], 200)
  end
end)

t.test("stream outside a task blocks and delivers every chunk", function()
  local got = {}
  local resp, err = async.stream(req("/stream?n=3&ms=30"), function(c) got[#got + 1] = c end)
  t.eq(err, nil)
  t.eq(resp.status, 200)
  t.eq(table.concat(got), "line 1\nline 2\nline 3\n")
end)

t.test("on_data returning false stops the stream", function()
  local got = {}
  local resp
  local dt = elapsed(function()
    resp = async.stream(req("/stream?n=20&ms=100"), function(c)
      got[#got + 1] = c
      return false
    end)
  end)
  t.eq(got, { "line 1\n" })
  t.eq(resp.status, 200)
  t.eq(resp.headers["content-type"], "text/plain")
  t.eq(resp.body, "")
  t.ok(dt < 1, "stopped early: " .. dt)
  t.eq(multi:pending(), 0)
end)

t.test("stream errors: refused and timed out", function()
  local resp, err = async.stream({ url = "https://127.0.0.1:1/" }, error)
  t.eq(resp, nil)
  t.eq(err.curl, "COULDNT_CONNECT")
  local got = {}
  resp, err = async.stream(req("/stream?n=20&ms=100", { timeout = 0.35 }),
    function(c) got[#got + 1] = c end)
  t.eq(resp, nil)
  t.eq(err.curl, "OPERATION_TIMEDOUT")
  t.ok(#got >= 1 and #got <= 5, "chunks before the timeout: " .. #got)
end)

-- ------------------------------------------------------------ cancellation

t.test("coroutine.close of a waiting task detaches its request", function()
  local victim
  local dt = elapsed(function()
    local results = async.parallel({ "victim", "killer" }, function(role)
      if role == "victim" then
        victim = coroutine.running()
        async.request(req("/slow?ms=3000"))
        return "not reached"
      end
      async.sleep(0.1)
      t.eq(multi:pending(), 1, "the victim's request is in flight")
      assert(coroutine.close(victim))
      t.eq(multi:pending(), 0, "its <close> request detached")
      return "closed it"
    end, { concurrency = 2 })
    t.eq(results, { nil, "closed it" })
  end)
  t.ok(dt < 1.5, "did not wait for the slow request: " .. dt)
  t.eq(coroutine.status(victim), "dead")
end)

t.test("a failing task cancels its siblings and run raises its error", function()
  local dt = elapsed(function()
    local ok, err = pcall(async.run, function()
      async.spawn(function() async.request(req("/slow?ms=3000")) end)
      async.spawn(function() async.sleep(10) end)
      async.sleep(0.1)
      error("first failure", 0)
    end)
    t.eq(ok, false)
    t.eq(err:match("^(.-)\n"), "first failure")
    t.contains(err, "stack traceback:")
  end)
  t.ok(dt < 1.5, "siblings cancelled: " .. dt)
  t.eq(multi:pending(), 0)
end)

t.test("a task that yields on its own is an error, not a hang", function()
  t.raises("kubelua.async: a task yielded outside kubelua.async", async.run, function()
    coroutine.yield("mine")
  end)
end)

t.test("generators in their own coroutines still work inside tasks", function()
  local r = async.run(function()
    local gen = coroutine.wrap(function()
      for i = 1, 3 do coroutine.yield(i) end
    end)
    local s = 0
    for v in gen do s = s + v end
    -- a request made inside a foreign coroutine blocks instead of yielding
    local inner = coroutine.wrap(function() return async.request(req("/echo?gen")) end)()
    return { s, cjson.decode(inner.body).path }
  end)
  t.eq(r, { 6, "/echo?gen" })
end)

-- SIGINT: main.c's hook stops the script; neither the loop nor a task's
-- pcall may swallow it.
local sigint_cases = {
  { "a blocking request", "async.request(o)" },
  { "parallel requests", "async.parallel({ 1, 2, 3 }, function() "
    .. "return pcall(async.request, o) end)" },
  { "a task's sleep", "async.run(function() pcall(async.sleep, 30) end)" },
  { "a blocking sleep", "async.sleep(30)" },
}
for _, row in ipairs(sigint_cases) do
  t.test("SIGINT interrupts " .. row[1], function()
    local path = echo.dir .. "/sigint.lua"
    local f = assert(io.open(path, "w"))
    f:write(([[
      local async = require "kubelua.async"
      local o = { url = %q, ca_data = %q }
      %s
      print("not interrupted")
    ]]):format(url("/slow?ms=10000"), echo.ca, row[2]))
    f:close()
    local t0 = http.now()
    local p = assert(io.popen(("(%q %q & pid=$!; sleep 0.4; kill -INT $pid; wait $pid; "
      .. "echo \"rc=$?\") 2>&1"):format(arg[-1], path)))
    local out = p:read("a")
    p:close()
    t.contains(out, "interrupted!")
    t.contains(out, "rc=1")
    t.ok(not out:find("not interrupted", 1, true), out)
    t.ok(http.now() - t0 < 5, "stopped quickly")
  end)
end

-- ------------------------------------------------------ park, background

t.test("park: unpark wakes every task parked on the key; the timeout returns false", function()
  local key, woke = {}, {}
  async.run(function()
    for i = 1, 3 do
      async.spawn(function() woke[i] = async.park(key, 5) end)
    end
    async.sleep(0.05)
    async.unpark(key)
  end)
  t.eq(woke, { true, true, true })
  local took = elapsed(function() t.eq(async.park({}, 0.1), false) end)
  t.ok(took >= 0.09 and took < 5, "the timeout ended it: " .. took)
  async.unpark({}) -- nobody parked: nothing happens
end)

t.test("background: runs while the loop runs, outside run's wait; keeps its error", function()
  local key, steps = {}, 0
  local h = async.background(function()
    for _ = 1, 3 do
      async.sleep(0.02)
      steps = steps + 1
    end
    async.unpark(key)
    error("background boom")
  end)
  t.eq(h.done(), false)
  -- a park outside tasks drives the loop: the background task wakes it
  t.eq(async.park(key, 5), true)
  t.eq(steps, 3)
  async.run(function() async.sleep(0.01) end) -- run does not wait for it, nor raise its error
  t.eq(h.done(), true)
  t.contains(tostring(h.error()), "background boom")

  local stopped = false
  local h2 = async.background(function()
    local _ <close> = setmetatable({}, { __close = function() stopped = true end })
    async.sleep(60)
  end)
  async.run(function() async.sleep(0.01) end)
  h2.cancel()
  t.eq(h2.done(), true)
  t.eq(stopped, true)
end)

t.test("no request is left in flight", function()
  collectgarbage()
  t.eq(multi:pending(), 0)
end)

t.test("stop the echo server", function()
  echo.stop()
end)
