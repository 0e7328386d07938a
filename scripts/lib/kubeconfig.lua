-- A kubeconfig for a service account (scripts/kubeconfig.lua, batch.lua):
-- server and embedded CA, and either the token itself or an `exec` entry that
-- runs kubelua's token.lua for a short-lived TokenRequest token.
local k8s = require "kubelua"

local M = {}

-- marks t as a JSON/YAML sequence
local function arr(t)
  return setmetatable(t, k8s.json.array_mt)
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("l")
  p:close()
  return (cwd .. "/" .. path):gsub("/%./", "/")
end
M.absolute = absolute

--- The running kubelua binary, as an absolute path.
function M.kubelua_binary()
  local p = io.popen("readlink -f /proc/$PPID/exe 2>/dev/null")
  local exe = p and p:read("l")
  if p then p:close() end
  if exe and exe ~= "" then return exe end
  return absolute(arg and arg[-1] or "kubelua")
end

--- The kubeconfig (a table) for service account `sa` in namespace `ns`.
--- o: server, ca (PEM text), token | exec = { kubeconfig, context, duration,
--- audiences }, insecure (skip TLS verification), cluster (a name).
function M.build(o)
  local user = ("%s-%s"):format(o.namespace, o.service_account)
  local cluster_name = o.cluster or "kubelua"
  local cluster = { server = o.server }
  if o.insecure then
    cluster["insecure-skip-tls-verify"] = true
  elseif o.ca then
    cluster["certificate-authority-data"] = k8s.base64.encode(o.ca)
  end
  local u
  if o.exec then
    local here = debug.getinfo(1, "S").source:match("^@(.*)/lib/[^/]*$") or "scripts"
    local args = { absolute(here .. "/token.lua"), "--exec-credential",
      "-n", o.namespace, "--service-account", o.service_account }
    if o.exec.context then
      args[#args + 1] = "--context"
      args[#args + 1] = o.exec.context
    end
    if o.exec.duration then
      args[#args + 1] = "--duration"
      args[#args + 1] = tostring(o.exec.duration) .. "s"
    end
    for _, a in ipairs(o.exec.audiences or {}) do
      args[#args + 1] = "--audience"
      args[#args + 1] = a
    end
    u = { exec = {
      apiVersion = "client.authentication.k8s.io/v1",
      command = M.kubelua_binary(),
      args = arr(args),
      -- KUBECONFIG (not --kubeconfig) so that a merged a:b list works too
      env = arr({ { name = "KUBECONFIG", value = o.exec.kubeconfig } }),
      interactiveMode = "Never",
      provideClusterInfo = false,
    } }
  else
    u = { token = o.token }
  end
  local context = { cluster = cluster_name, user = user, namespace = o.namespace }
  return {
    apiVersion = "v1",
    kind = "Config",
    clusters = arr({ { name = cluster_name, cluster = cluster } }),
    users = arr({ { name = user, user = u } }),
    contexts = arr({ { name = user, context = context } }),
    ["current-context"] = user,
    preferences = {},
  }
end

--- The kubeconfig as text: YAML when kubelua.yaml can write it, else JSON
--- (which every kubeconfig reader accepts as YAML).
function M.encode(cfg)
  if k8s.yaml.encode then
    local ok, s = pcall(k8s.yaml.encode, cfg)
    if ok and type(s) == "string" then return s end
  end
  return k8s.json.encode(cfg) .. "\n"
end

return M
