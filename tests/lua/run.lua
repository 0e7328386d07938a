-- Runs one Lua test file: `kubelua tests/lua/run.lua FILE`.
-- The file registers cases with t.test(name, fn) (see testlib.lua); this
-- runner executes them, prints one line each and a closing
-- "N passed, N failed" line, and exits non-zero on any failure.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local t = require "testlib"

local file = assert(arg[1], "usage: kubelua tests/lua/run.lua FILE")
local chunk, err = loadfile(file, "t")
if not chunk then
  io.stderr:write(err, "\n")
  os.exit(1)
end
chunk(table.unpack(arg, 2))
os.exit(t.run() and 0 or 1)
