-- Shared by the client's cluster tests (run under tests/with-kubesim).
local json = require "kubelua.json"

local M = {}

M.dir = assert(os.getenv("KUBESIM_DIR"), "run under tests/with-kubesim")
M.url = assert(os.getenv("KUBESIM_URL"))
M.kubeconfig = os.getenv("KUBECONFIG")
M.root = os.getenv("KUBELUA_ROOT") or "."
M.kubelua = os.getenv("KUBELUA") or arg[-1]

M.read = require("testlib").read

function M.write(path, s, mode)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
  if mode then os.execute(("chmod %s '%s'"):format(mode, path)) end
  return path
end

M.admin_token = M.read(M.dir .. "/admin.token"):gsub("%s+$", "")
M.ca_file = M.dir .. "/ca.crt"

local seq = 0
--- A name unique within the run: prefix-<n>
function M.name(prefix)
  seq = seq + 1
  return ("%s-%d"):format(prefix, seq)
end

--- Writes a kubeconfig (JSON is YAML) for the simulator with this user and
--- returns its path. cluster: extra cluster fields.
function M.kubeconfig_with(user, cluster, ctx)
  local c = { server = M.url, ["certificate-authority"] = M.ca_file }
  for k, v in pairs(cluster or {}) do c[k] = v end
  local context = { cluster = "sim", user = "u" }
  for k, v in pairs(ctx or {}) do context[k] = v end
  local doc = {
    apiVersion = "v1", kind = "Config", ["current-context"] = "sim",
    clusters = json.array{ { name = "sim", cluster = c } },
    contexts = json.array{ { name = "sim", context = context } },
    users = json.array{ { name = "u", user = user } },
  }
  seq = seq + 1
  return M.write(("%s/kc-client-%d.json"):format(M.dir, seq), json.encode(doc), "600")
end

local function read_log(from)
  local out = {}
  local i = 0
  for line in io.lines(M.dir .. "/requests.jsonl") do
    i = i + 1
    if i >= (from or 1) then out[#out + 1] = json.decode(line) end
  end
  return out, i
end

--- The simulator's request log (requests.jsonl) as a list, from line `from`.
--- The simulator logs a request after answering it, so this waits (up to
--- 2 s) until the log stops growing.
function M.requests(from)
  local out, n = read_log(from)
  for _ = 1, 40 do
    require("kubelua.async").sleep(0.05)
    local o2, n2 = read_log(from)
    if n2 == n then break end
    out, n = o2, n2
  end
  return out, n
end

--- Number of lines in the request log so far (a mark for M.requests).
function M.mark()
  local _, n = M.requests(math.huge)
  return n + 1
end

--- Sets the simulator's injected faults ("" to clear).
function M.faults(c, spec)
  local resp, err = c:request{ method = "POST", path = "/kubesim/faults", body = { spec = spec },
    retry = false }
  assert(resp, tostring(err))
  return resp.object
end

--- Runs the kubelua binary with a script; returns stdout+stderr and the
--- exit status. env: table of extra environment variables.
function M.run(script_text, args, env)
  seq = seq + 1
  local path = M.write(("%s/script-%d.lua"):format(M.dir, seq), script_text)
  local prefix = ""
  for k, v in pairs(env or {}) do prefix = prefix .. ("%s='%s' "):format(k, v) end
  local cmd = ("%s'%s' %s '%s' 2>&1"):format(prefix, M.kubelua, args or "", path)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

return M
