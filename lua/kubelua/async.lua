-- kubelua.async: requests in coroutine tasks over one curl multi.
--
-- C (kubelua.http) runs curl's multi interface and hands back the requests
-- that finished or, in stream mode, received data; this module decides
-- which task to resume (the shape of Neovim's vim/_async.lua). A task is a
-- coroutine started by async.run, async.parallel or async.spawn. Inside a
-- task, request/stream/sleep yield to the loop; outside, they block.
--
-- Tasks belong to groups: run and parallel wait until every task of their
-- group finished. A task that raises cancels the rest of its group and the
-- error is raised again by run (parallel keeps per-item errors). Cancelling
-- a task is coroutine.close(co): its <close> requests detach from the multi
-- and the loop forgets it.
local http = require "kubelua.http"

local M = {}

local multi = http.default_multi()
local WAIT = setmetatable({}, { __name = "kubelua.async.wait" }) -- what tasks yield
local tasks = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local waiting = setmetatable({}, { __mode = "k" }) -- request -> task
local live = {} -- task -> true until it finished
local runq = {} -- tasks to resume, in order
local timers = {} -- { at, task, token }, sorted by at
-- key -> { [parking] = true }: tasks parked on key (see park); weak, so the
-- entry of a key nobody holds any more (a cancelled wait's) goes with it
local parked = setmetatable({}, { __mode = "k" })

M.now = http.now

local function current()
  local co = coroutine.running()
  return tasks[co]
end

--- True inside a task (where request, stream and sleep yield).
function M.in_task()
  return current() ~= nil
end

local function wake(task, token)
  if not task.done and task.wait == token then
    task.wait = nil
    runq[#runq + 1] = task
  end
end

-- Yield the running task until wake(task, token).
local function suspend(task, token)
  task.wait = token
  coroutine.yield(WAIT)
  if task.wait == token then task.wait = nil end -- resumed by someone else
end

local cancel_group

local function finish(task, ok, err)
  if task.done then return end
  task.done = true
  task.wait = nil
  live[task] = nil
  tasks[task.co] = nil
  for g in pairs(task.owned) do cancel_group(g) end -- children of a cancelled task
  local g = task.group
  g.tasks[task] = nil
  g.live = g.live - 1
  if not ok and not g.failed then
    g.failed, g.err = true, err
    cancel_group(g)
  end
  if g.live == 0 then
    if g.owner then g.owner.owned[g] = nil end
    if g.waiter then wake(g.waiter, g) end
  end
end

local function close_task(task)
  if task.done then return end
  local st = coroutine.status(task.co)
  if st == "suspended" then coroutine.close(task.co) end -- runs its <close> handlers
  if st == "suspended" or st == "dead" then finish(task, true) end
end

function cancel_group(g)
  local list = {}
  for t in pairs(g.tasks) do list[#list + 1] = t end
  for _, t in ipairs(list) do close_task(t) end
end

local function new_group(owner)
  local g = { live = 0, tasks = {}, owner = owner }
  if owner then owner.owned[g] = true end
  return g
end

local function traceback(e)
  if type(e) == "string" then return debug.traceback(e, 2) end
  return e
end

local function spawn(g, fn, ...)
  local args = table.pack(...)
  local task = { group = g, owned = {} }
  task.co = coroutine.create(function()
    local r = table.pack(xpcall(fn, traceback, table.unpack(args, 1, args.n)))
    if not r[1] then error(r[2], 0) end
    task.results = table.pack(table.unpack(r, 2, r.n))
  end)
  tasks[task.co] = task
  live[task] = true
  g.live = g.live + 1
  g.tasks[task] = true
  runq[#runq + 1] = task
  return task
end

local function step(task)
  local ok, what = coroutine.resume(task.co)
  if not ok then
    finish(task, false, what)
  elseif coroutine.status(task.co) == "dead" then
    finish(task, true)
  elseif what ~= WAIT then
    coroutine.close(task.co)
    finish(task, false, "kubelua.async: a task yielded outside kubelua.async"
      .. " (wrap generators in their own coroutine)")
  end
end

-- Tasks closed with coroutine.close by their users are finished here.
local function sweep()
  local dead
  for t in pairs(live) do
    if coroutine.status(t.co) == "dead" then
      dead = dead or {}
      dead[#dead + 1] = t
    end
  end
  if dead then
    for _, t in ipairs(dead) do finish(t, true) end
  end
end

local function fire_timers()
  local now = http.now()
  while timers[1] and timers[1].at <= now do
    local tm = table.remove(timers, 1)
    wake(tm.task, tm.token or tm)
  end
end

local function next_timer_ms()
  while timers[1] and timers[1].task.done do table.remove(timers, 1) end
  if not timers[1] then return nil end
  return math.max(0, (timers[1].at - http.now()) * 1000)
end

-- Run the loop until group g has no live task.
local function drive(g)
  while g.live > 0 do
    if #runq > 0 then
      local q = runq
      runq = {}
      for i = 1, #q do
        local t = q[i]
        if not t.done and coroutine.status(t.co) == "suspended" then step(t) end
      end
    else
      sweep()
      if g.live == 0 then break end
      local ms = next_timer_ms()
      if multi:pending() == 0 and not ms then
        error("kubelua.async: deadlock: " .. g.live
          .. " task(s) wait, but no request or timer is pending", 0)
      end
      local ready = multi:wait(ms)
      for i = 1, #ready do
        local req = ready[i]
        local t = waiting[req]
        if t then wake(t, req) end
      end
      fire_timers()
    end
  end
end

-- Wait for group g: yield the parent task, or drive the loop outside tasks.
local function join(parent, g)
  if parent then
    g.waiter = parent
    while g.live > 0 do suspend(parent, g) end
    return
  end
  local ok, err = pcall(drive, g)
  if not ok then
    cancel_group(g)
    error(err, 0)
  end
end

--- Runs fn(...) as a task and drives the loop until it and every task it
--- spawned finished; returns fn's results and raises its error.
function M.run(fn, ...)
  local parent = current()
  local g = new_group(parent)
  local task = spawn(g, fn, ...)
  join(parent, g)
  if g.failed then error(g.err, 0) end
  local r = task.results
  if not r then return end -- cancelled
  return table.unpack(r, 1, r.n)
end

--- Starts fn(...) as a task of the running task's group (run waits for it).
function M.spawn(fn, ...)
  local parent = current()
  if not parent then error("async.spawn needs a task; use async.run", 2) end
  spawn(parent.group, fn, ...)
end

--- Runs fn(item, i) for every item, at most `concurrency` at once.
--- @return table results results[i] = first value fn returned (or nil)
--- @return table errors errors[i] = what fn raised, or the err of `nil, err`
function M.parallel(items, fn, opts)
  opts = opts or {}
  local conc = opts.concurrency or 8
  if math.type(conc) ~= "integer" or conc < 1 then
    error("async.parallel: concurrency must be a positive integer", 2)
  end
  local progress = opts.progress
  local n = #items
  local results, errs = {}, {}
  local next_i, ndone = 1, 0
  local function worker()
    while next_i <= n do
      local i = next_i
      next_i = i + 1
      local item = items[i]
      local r = table.pack(pcall(fn, item, i))
      local ok = true
      if not r[1] then
        errs[i], ok = r[2], false
      elseif r[2] == nil and r[3] ~= nil then
        errs[i], ok = r[3], false
      else
        results[i] = r[2]
      end
      ndone = ndone + 1
      if progress then progress(ndone, n, item, ok) end
    end
  end
  local parent = current()
  local g = new_group(parent)
  for _ = 1, math.min(conc, n) do spawn(g, worker) end
  join(parent, g)
  if g.failed then error(g.err, 0) end
  return results, errs
end

--- One request: yields inside a task, blocks outside.
--- @return table|nil resp
--- @return table|nil err transport error (kubelua.Error)
function M.request(opts)
  local task = current()
  local req <close> = http.request(opts)
  if not task then return req:perform() end
  waiting[req] = task
  multi:add(req)
  while not req:done() do suspend(task, req) end
  waiting[req] = nil
  return req:response()
end

--- A stream=true request: on_data(chunk, head) for every chunk as it
--- arrives (head: status, headers); on_data returning false stops it and
--- returns the response with body "".
--- @return table|nil resp
--- @return table|nil err
function M.stream(opts, on_data)
  local task = current()
  if not task then return M.run(M.stream, opts, on_data) end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.stream = true
  local req <close> = http.request(o)
  waiting[req] = task
  multi:add(req)
  local head
  while true do
    local chunk = req:read()
    if chunk ~= "" then
      head = head or req:head()
      if on_data(chunk, head) == false then
        waiting[req] = nil
        local resp = req:head() or head
        resp.body = ""
        req:close()
        return resp
      end
    elseif req:done() then
      waiting[req] = nil
      return req:response()
    else
      suspend(task, req)
    end
  end
end

local function add_timer(task, seconds, token)
  local tm = { at = http.now() + seconds, task = task, token = token }
  local i = #timers + 1
  while i > 1 and timers[i - 1].at > tm.at do i = i - 1 end
  table.insert(timers, i, tm)
  return tm
end

--- Sleeps: a timer of the loop inside a task, a blocking sleep outside.
function M.sleep(seconds)
  local task = current()
  if not task then return http.sleep(seconds) end
  suspend(task, add_timer(task, seconds))
end

--- Parks the running task on `key` (any value) until M.unpark(key) or,
--- with `seconds`, until that much time passed; outside a task it drives
--- the loop meanwhile. Returns true when unparked, false on the timeout.
function M.park(key, seconds)
  local task = current()
  if not task then return M.run(M.park, key, seconds) end
  local parking = { task = task }
  local set = parked[key]
  if not set then
    set = {}
    parked[key] = set
  end
  set[parking] = true
  if seconds then add_timer(task, math.max(0, seconds), parking) end
  suspend(task, parking)
  set[parking] = nil
  if parked[key] == set and next(set) == nil then parked[key] = nil end
  return parking.unparked == true
end

--- Wakes every task parked on `key`.
function M.unpark(key)
  local set = parked[key]
  if not set then return end
  parked[key] = nil
  for parking in pairs(set) do
    parking.unparked = true
    wake(parking.task, parking)
  end
end

--- Runs fn(...) as a background task: no run or parallel waits for it; it
--- runs whenever the loop does (inside run and parallel, and while a park
--- outside tasks drives it), and what it raises is kept, not raised.
--- Returns a handle: h:cancel() closes it (its <close> requests detach),
--- h:done(), h:error().
function M.background(fn, ...)
  local g = new_group(nil)
  local task = spawn(g, fn, ...)
  return {
    cancel = function() close_task(task) end,
    done = function() return task.done == true end,
    error = function() return g.err end,
  }
end

return M
