-- kubelua: one require gives the client and the data primitives.
--
--   local k8s = require "kubelua"
--   local c = assert(k8s.connect())              -- kubectl's loading rules
--   local ns = assert(c:get("v1", "Namespace", "default"))
--   k8s.parallel(items, function(item) ... end, { concurrency = 32 })
--
-- Fields: connect, parallel, run, sleep, errors, version, and the data
-- modules base64, yaml, json, jwt (loaded on first use).
local client = require "kubelua.client"
require "kubelua.resources" -- c:get, c:list, c:apply, c:watch, c:wait, ...
require "kubelua.auth"      -- c:can_i, c:whoami, c:token_request, ...

local M = {}

M.version = client.VERSION
M.errors = require "kubelua.errors"
M.Client = client.Client

--- k8s.connect(opts) -> client | nil, err (see kubelua.client.connect).
M.connect = client.connect

--- k8s.parallel(items, fn, { concurrency = 8, progress = fn(done, total,
--- item, ok) }) -> results, errors: fn(item, i) runs in coroutine tasks;
--- every client request inside yields to one curl multi loop, so up to
--- `concurrency` requests are in flight. A failing item (raised, or
--- returned nil, err) never stops the others: errors[i] holds its error.
function M.parallel(items, fn, opts)
  if type(items) ~= "table" then
    error("parallel: items must be a table, got " .. type(items), 2)
  end
  if type(fn) ~= "function" then
    error("parallel: fn must be a function, got " .. type(fn), 2)
  end
  return require("kubelua.async").parallel(items, fn, opts)
end

--- k8s.run(fn, ...): runs fn as a task (requests in its spawned tasks run
--- concurrently); k8s.sleep(seconds) yields inside a task.
function M.run(...) return require("kubelua.async").run(...) end
function M.sleep(s) return require("kubelua.async").sleep(s) end

-- the data modules load on first use
local lazy = {
  base64 = "kubelua.base64", yaml = "kubelua.yaml", json = "kubelua.json", jwt = "kubelua.jwt",
  async = "kubelua.async", log = "kubelua.log", discovery = "kubelua.discovery",
}
return setmetatable(M, { __index = function(t, k)
  local name = lazy[k]
  if not name then return nil end
  local mod = require(name)
  rawset(t, k, mod)
  return mod
end })
