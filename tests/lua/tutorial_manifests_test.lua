-- scripts/manifests/ holds the tutorial's manifests exactly as the tutorial
-- (../shared/tutorial.txt) prints them, trailing spaces and all: the bundled
-- scripts, the kubectl peers of the e2e test and the benchmark, and the YAML
-- tests all read them from there.
local t = require "testlib"

local TUTORIAL = t.root .. "/../shared/tutorial.txt"

-- The tutorial's manifests in order: the three `cat <<EOF | kubectl apply
-- -f -` bodies, then the sa-token.yaml it asks the reader to create.
local function tutorial_manifests()
  local f = assert(io.open(TUTORIAL, "rb"), "the tutorial is not at " .. TUTORIAL)
  local text = f:read("a")
  f:close()
  local out = {}
  for body in text:gmatch("cat <<EOF | kubectl apply %-f %-\n(.-\n)EOF\n") do
    out[#out + 1] = body
  end
  out[#out + 1] = text:match("Create a file named sa%-token%.yaml, and copy the following "
    .. "content%.\n\n(.-\n)\n")
  return out
end

t.test("scripts/manifests/ are the tutorial's manifests, byte for byte", function()
  local want = tutorial_manifests()
  local files = { "serviceaccount.yaml", "clusterrole.yaml", "clusterrolebinding.yaml",
    "sa-token.yaml" }
  t.eq(#want, #files, "manifests found in the tutorial")
  for i, name in ipairs(files) do
    t.eq(t.read("scripts/manifests/" .. name), want[i], name)
  end
end)
