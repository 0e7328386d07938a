-- kubelua.shared_watch: one watch that many c:wait calls share.
--
-- On its own, c:wait lists the object and, when it is not ready yet, opens
-- a watch of its own: on HTTP/1.1 a connection (and a server goroutine) per
-- waiting object. A batch waiting on hundreds of objects of one kind shares
-- one watch of that kind instead:
--
--   local secrets <close> = c:shared_watch("v1", "Secret",
--     { field_selector = "type=kubernetes.io/service-account-token" })
--   c:wait("v1", "Secret", name, { namespace = ns, until_ = filled, watch = secrets })
--
-- It keeps no objects, so memory stays flat however many it sees: a wait
-- registers its key, reads the object, and reads it again whenever the
-- watch reports a change of that key. A change after that read is always
-- reported (the watch resumes from its last resourceVersion; when it
-- (re)starts from a fresh one, every registered wait reads again), so none
-- is missed whatever the watch's lag, and resourceVersions, which are
-- opaque, are never compared. The watch must select the objects waited on
-- (its namespace, label and field selectors). If it fails for good (e.g.
-- 403: no cluster-wide watch), the waits go on with watches of their own.
local async = require "kubelua.async"
local errors = require "kubelua.errors"

local M = {}

local SharedWatch = {}
SharedWatch.__index = SharedWatch
SharedWatch.__name = "kubelua.SharedWatch"

-- A registration: parked on by its wait, flagged by the watch.
local Token = { __name = "kubelua.SharedWatch.token" }
Token.__index = Token
function Token:__close()
  local set = self.sw.keys[self.key]
  if set then
    set[self] = nil
    if next(set) == nil then self.sw.keys[self.key] = nil end
  end
end

local function key(namespace, name) return (namespace or "") .. "/" .. name end

-- Wakes the waits in set; with obj, not those whose last read saw this very
-- version (the event of a change the read already showed: resourceVersions
-- are compared only for equality, which is all their opacity allows).
local function flag(set, obj)
  local rv = obj and obj.metadata.resourceVersion
  for token in pairs(set) do
    if rv == nil or rv ~= token.rv then
      token.flagged = true
      async.unpark(token)
    end
  end
end

function SharedWatch:_flag_all()
  for _, set in pairs(self.keys) do flag(set) end
end

--- Starts the watch (as a background task: it runs whenever the loop runs,
--- in k8s.parallel or while a wait parks). c: the client; info: the
--- resource (discovery); namespace nil for all; opts: label_selector,
--- field_selector.
function M.new(c, api_version, kind, info, namespace, opts)
  local sw = setmetatable({ info = info, namespace = namespace, keys = {},
    what = info.name .. (namespace and (" in namespace " .. namespace) or "") }, SharedWatch)
  sw.task = async.background(function()
    local ok, res, err = pcall(c.watch, c, api_version, kind, { namespace = namespace or "",
      label_selector = opts.label_selector, field_selector = opts.field_selector,
      _forget = true }, function(etype, obj)
        if etype == "RESYNC" then
          sw:_flag_all()
        elseif type(obj) == "table" and type(obj.metadata) == "table" then
          local set = sw.keys[key(obj.metadata.namespace, tostring(obj.metadata.name))]
          if set then flag(set, obj) end
        end
      end)
    if not ok then err = errors.new("api", tostring(res)) end
    sw.err = err or errors.new("api", "the shared watch of " .. sw.what .. " ended")
    sw:_flag_all()
  end)
  return sw
end

--- Whether it reports changes of `info` objects in `namespace`.
function SharedWatch:covers(info, namespace)
  return info.name == self.info.name and info.group == self.info.group
    and (self.namespace == nil or self.namespace == namespace)
end

--- Registers a wait on namespace/name; close the token (<close>) when done.
--- The wait sets token.rv to the resourceVersion its last read saw.
function SharedWatch:register(namespace, name)
  local k = key(namespace, name)
  local token = setmetatable({ sw = self, key = k, flagged = false }, Token)
  local set = self.keys[k]
  if not set then
    set = {}
    self.keys[k] = set
  end
  set[token] = true
  return token
end

--- Stops the watch; waits still registered go on with their own watches.
function SharedWatch:close()
  if self.closed then return end
  self.closed = true
  self.task.cancel()
  self.err = self.err or errors.usage("the shared watch of " .. self.what .. " was closed")
  self:_flag_all()
end
SharedWatch.__close = SharedWatch.close

M.SharedWatch = SharedWatch
return M
