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
-- It keeps no objects, only the last version of its last 1024 keys, so
-- memory stays flat however many it sees: a wait registers its key and
-- reads the object; a change after that read is always reported (the
-- watch resumes from its last resourceVersion; when it (re)starts from a
-- fresh one, every registered wait reads again), so none is missed
-- whatever the watch's lag. Once the stream has delivered the version the
-- wait read, later events are newer and the wait takes their object as it
-- comes; before that, an event makes it read again (resourceVersions,
-- opaque, are only compared for equality). The watch must select the
-- objects waited on (its namespace, label and field selectors). If it
-- fails for good (e.g. 403: no cluster-wide watch), the waits go on with
-- watches of their own.
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

-- the last version delivered of the last RECENT keys (bounded: memory stays
-- flat), for a wait whose object's event came before it registered
local RECENT = 1024
local function remember(sw, k, rv)
  local recent = sw.recent
  if recent[k] == nil then
    local old = sw.ring[sw.ring_at]
    if old ~= nil then recent[old] = nil end
    sw.ring[sw.ring_at] = k
    sw.ring_at = sw.ring_at % RECENT + 1
  end
  recent[k] = rv
end

-- Wakes the waits in set for an event (etype, obj) of their object, or for
-- a resync (obj nil: every wait reads again). A key's events come in order,
-- and resourceVersions are compared only for equality (all their opacity
-- allows): the event carrying the version a wait's last read saw
-- (token.rv) wakes nobody, but shows the stream has caught up with that
-- read (token.synced), so each later event is newer than the read and the
-- wait takes its object (token.event) instead of reading again. Events that
-- come while the wait reads (token.reading) are kept for it to judge
-- against the version it gets (M.after_read), as is the last version the
-- stream had delivered of the key when the read began (sw.recent).
local function flag(set, obj, etype)
  local rv = obj and obj.metadata.resourceVersion
  for token in pairs(set) do
    if token.reading then
      local during = token.during
      during[#during + 1] = rv ~= nil and { type = etype, object = obj, rv = rv } or false
    elseif rv ~= nil and rv == token.rv then
      token.synced = true
    else
      if rv ~= nil and token.synced then
        token.event = { type = etype, object = obj }
      else
        token.event, token.synced = nil, false
      end
      token.flagged = true
      async.unpark(token)
    end
  end
end

--- Before a wait reads its object: events from now on are kept.
function M.before_read(token)
  token.reading, token.during = true, {}
  token.event, token.synced, token.flagged = nil, false, false
  token.before = token.sw.recent[token.key]
end

--- After the read (rv: the version it got, nil when not found): the events
--- that came meanwhile are judged against it. Returns with token.flagged
--- true when the wait must look again (token.event: the newer object, or
--- nil to read again).
function M.after_read(token, rv)
  local during = token.during
  token.reading, token.during, token.rv = false, nil, rv
  -- 0: the stream had delivered this version before the read began
  local at = (rv ~= nil and token.before == rv) and 0 or nil
  for i, e in ipairs(during) do
    if not e then at = nil break end -- a resync: read again
    if rv ~= nil and e.rv == rv then at = i end
  end
  if at then
    token.synced = true
    if at < #during then token.event, token.flagged = during[#during], true end
  elseif #during > 0 then
    token.flagged = true
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
    recent = {}, ring = {}, ring_at = 1,
    what = info.name .. (namespace and (" in namespace " .. namespace) or "") }, SharedWatch)
  sw.task = async.background(function()
    local ok, res, err = pcall(c.watch, c, api_version, kind, { namespace = namespace or "",
      label_selector = opts.label_selector, field_selector = opts.field_selector,
      _forget = true }, function(etype, obj)
        if etype == "RESYNC" then -- a fresh start: what was delivered before tells nothing
          sw.recent, sw.ring, sw.ring_at = {}, {}, 1
          sw:_flag_all()
        elseif type(obj) == "table" and type(obj.metadata) == "table" then
          local k = key(obj.metadata.namespace, tostring(obj.metadata.name))
          local set = sw.keys[k]
          if set then flag(set, obj, etype) end
          local rv = obj.metadata.resourceVersion
          if rv ~= nil then remember(sw, k, rv) end
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
--- Its reads go between M.before_read and M.after_read; it takes
--- token.event, when set, as a newer read.
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
