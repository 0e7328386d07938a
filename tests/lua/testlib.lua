-- A small test library in the shape of luv's tap.lua: table-driven cases,
-- deep equality that knows json.null and array markers, error matching.
local M = {}

local cases = {}

function M.test(name, fn)
  cases[#cases + 1] = { name = name, fn = fn }
end

local function repr(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local ok, json = pcall(require, "kubelua.json")
  if ok then
    local ok2, s = pcall(json.encode, v)
    if ok2 then return s end
  end
  return tostring(v)
end
M.repr = repr

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    -- integers and floats of equal value are different JSON documents
    if math.type(a) and math.type(b) and a == b then return math.type(a) == math.type(b) end
    return false
  end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do
    if not deep_eq(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.deep_eq = deep_eq

function M.eq(got, want, msg)
  if not deep_eq(got, want) then
    error(("%sexpected %s, got %s"):format(msg and (msg .. ": ") or "", repr(want), repr(got)), 2)
  end
end

function M.ok(v, msg)
  if not v then error(msg or "expected a true value", 2) end
  return v
end

-- Asserts that `s` (a string, or an error value's tostring) contains `pattern`
-- as plain text.
function M.contains(s, pattern, msg)
  s = tostring(s)
  if not s:find(pattern, 1, true) then
    error(("%sexpected %q in %q"):format(msg and (msg .. ": ") or "", pattern, s), 2)
  end
end

-- Calls fn(...) and asserts that it raises an error containing `pattern`.
function M.raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error containing " .. repr(pattern), 2) end
  if not tostring(err):find(pattern, 1, true) then
    error(("expected an error containing %q, got %q"):format(pattern, tostring(err)), 2)
  end
end

--- The repository's root directory (this file is tests/lua/testlib.lua).
M.root = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."

--- The contents of a file: an absolute path, or one relative to the
--- repository's root.
function M.read(path)
  if path:sub(1, 1) ~= "/" then path = M.root .. "/" .. path end
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.run()
  local passed, failed = 0, 0
  for _, c in ipairs(cases) do
    local ok, err = xpcall(c.fn, debug.traceback)
    collectgarbage()
    if ok then
      passed = passed + 1
      print("ok     " .. c.name)
    else
      failed = failed + 1
      print("FAILED " .. c.name .. "\n" .. tostring(err))
    end
  end
  print(("%d passed, %d failed"):format(passed, failed))
  return failed == 0
end

return M
