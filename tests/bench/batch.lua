-- The batch-provisioning workload of tests/bench/run, written the way a
-- kubelua user would, with the same request mix as the Python and kubectl
-- peers (tests/bench/batch_python.py, the kubectl loop in tests/bench/run):
-- for each namespace P-1 .. P-N,
--   POST Namespace, POST ServiceAccount, POST RoleBinding (to the ClusterRole
--   --role, default view), POST the token Secret, wait until the token
--   controller filled it (--wait shared, the default, as scripts/batch.lua:
--   c:wait on one c:shared_watch of token Secrets; diagnostics: --wait
--   watch, c:wait's own list, then a watch if not yet filled; --wait poll:
--   GET every 5 ms; --wait hybrid: up to 5 GETs 5-40 ms apart, then c:wait),
--   then one GET as the service account (a new client with its token).
--
--   kubelua tests/bench/batch.lua --count N --prefix P --concurrency C \
--     --ca-file CA [--role view]
--
-- --concurrency 0 is a plain sequential loop (no tasks); C >= 1 runs the
-- namespaces with k8s.parallel at that concurrency. stdout gets one JSON line:
-- {"count","ok","failed","seconds" (the loop alone, without start-up),
--  "fds_start","fds_end" (open descriptors after connect and at the end),
--  "rss_kib" (VmHWM at the end)}. The first errors go to stderr; any failed
-- namespace makes the exit status 1. Tokens are never printed.
local k8s = require "kubelua"
local http = require "kubelua.http"

local USAGE = "usage: kubelua tests/bench/batch.lua --count N --prefix P --concurrency C "
  .. "--ca-file CA [--role ROLE] [--timeout S] [--wait shared|watch|poll|hybrid]"

local function die(msg)
  io.stderr:write("batch.lua: ", msg, "\n", USAGE, "\n")
  os.exit(2)
end

local opts = { role = "view", timeout = 30, wait = "shared" }
do
  local i = 1
  while i <= #arg do
    local k, v = arg[i], arg[i + 1]
    local name = k:match("^%-%-([%w-]+)$")
    if not name or v == nil then die("bad argument " .. k) end
    name = name:gsub("-", "_")
    if name == "count" or name == "concurrency" or name == "timeout" then
      local n = math.tointeger(tonumber(v))
      if not n or n < 0 then die(("--%s must be a non-negative integer, got %q"):format(k, v)) end
      opts[name] = n
    elseif name == "prefix" or name == "ca_file" or name == "role" then
      opts[name] = v
    elseif name == "wait" then
      if v ~= "shared" and v ~= "watch" and v ~= "poll" and v ~= "hybrid" then
        die(("--wait must be shared, watch, poll or hybrid, got %q"):format(v))
      end
      opts.wait = v
    else
      die("unknown option " .. k)
    end
    i = i + 2
  end
end
if not opts.count or opts.count < 1 then die("--count N (N >= 1) is required") end
if not opts.prefix or not opts.prefix:match("^[a-z0-9][a-z0-9-]*$") then
  die("--prefix must be a lowercase DNS label prefix")
end
if not opts.concurrency then die("--concurrency C is required (0: a plain loop)") end
if not opts.ca_file then die("--ca-file is required (the cluster CA, for the service accounts)") end

-- open descriptors of this process: ls of /proc/<pid>/fd, minus the popen pipe
local function count_fds()
  local f = io.open("/proc/self/stat")
  if not f then return -1 end
  local pid = f:read("l"):match("^(%d+)")
  f:close()
  local p = io.popen("ls /proc/" .. pid .. "/fd")
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n - 1
end

local function peak_rss_kib()
  local f = io.open("/proc/self/status")
  if not f then return -1 end
  local kib = f:read("a"):match("VmHWM:%s*(%d+)")
  f:close()
  return tonumber(kib) or -1
end

local c = assert(k8s.connect{})
local server = c.server
local SA = "bench-sa"
local SECRET = SA .. "-token"

-- --wait shared (the default, what scripts/batch.lua does): every wait
-- shares one watch of token Secrets in all namespaces
local secrets = opts.wait == "shared" and assert(c:shared_watch("v1", "Secret",
  { field_selector = "type=kubernetes.io/service-account-token" })) or nil

local function token_filled(s)
  return type(s.data) == "table" and type(s.data.token) == "string" and s.data.token ~= ""
end

-- one namespace, the whole mix; returns true or nil, err
local function provision(i)
  local ns = ("%s-%d"):format(opts.prefix, i)
  local ok, err = c:create{ apiVersion = "v1", kind = "Namespace", metadata = { name = ns } }
  if not ok then return nil, err end
  ok, err = c:create{ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = SA, namespace = ns } }
  if not ok then return nil, err end
  ok, err = c:create{ apiVersion = "rbac.authorization.k8s.io/v1", kind = "RoleBinding",
    metadata = { name = SA .. "-" .. opts.role, namespace = ns },
    subjects = { { kind = "ServiceAccount", name = SA, namespace = ns } },
    roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = opts.role } }
  if not ok then return nil, err end
  ok, err = c:create{ apiVersion = "v1", kind = "Secret",
    type = "kubernetes.io/service-account-token",
    metadata = { name = SECRET, namespace = ns,
      annotations = { ["kubernetes.io/service-account.name"] = SA } } }
  if not ok then return nil, err end
  local secret
  if opts.wait == "hybrid" then
    -- the suggested c:wait: a few GETs with a short backoff (5, 10, 20,
    -- 40 ms between them), then the watch
    local delay = 0.005
    for try = 1, 5 do
      local s
      s, err = c:get("v1", "Secret", SECRET, { namespace = ns })
      if not s then return nil, err end
      if token_filled(s) then secret = s break end
      if try < 5 then k8s.sleep(delay) end
      delay = delay * 2
    end
  elseif opts.wait == "poll" then
    -- poll: GET every 5 ms (at most timeout / 5 ms tries), as the Python peer does
    for _ = 1, math.max(1, opts.timeout * 200) do
      local s
      s, err = c:get("v1", "Secret", SECRET, { namespace = ns })
      if not s then return nil, err end
      if token_filled(s) then secret = s break end
      k8s.sleep(0.005)
    end
    if not secret then
      return nil, ("secret %s/%s not filled within %ds"):format(ns, SECRET, opts.timeout)
    end
  end
  if not secret then
    secret, err = c:wait("v1", "Secret", SECRET, { namespace = ns, timeout = opts.timeout,
      until_ = token_filled, watch = secrets })
    if not secret then return nil, err end
  end
  local token
  token, err = k8s.base64.decode(secret.data.token)
  if not token then return nil, err end
  local sa
  -- kubeconfig = "/dev/null": without it the admin kubeconfig's client
  -- certificate rides along (client-go's merge rules) and the server sees admin
  sa, err = k8s.connect{ kubeconfig = "/dev/null", server = server, token = token,
    certificate_authority = opts.ca_file }
  if not sa then return nil, err end
  local resp
  resp, err = sa:request{ method = "GET",
    path = ("/api/v1/namespaces/%s/serviceaccounts/%s"):format(ns, SA) }
  if not resp then return nil, err end
  return true
end

local fds_start = count_fds()
local t0 = http.now()
local errs = {}
if opts.concurrency == 0 then
  for i = 1, opts.count do
    local okp, ok, err = pcall(provision, i)
    if not okp then errs[i] = ok elseif not ok then errs[i] = err end
  end
else
  local items = {}
  for i = 1, opts.count do items[i] = i end
  local _
  _, errs = k8s.parallel(items, provision, { concurrency = opts.concurrency })
end
local seconds = http.now() - t0

local failed, shown = 0, 0
for i = 1, opts.count do
  if errs[i] ~= nil then
    failed = failed + 1
    if shown < 5 then
      shown = shown + 1
      io.stderr:write(("batch.lua: %s-%d: %s\n"):format(opts.prefix, i, tostring(errs[i])))
    end
  end
end
collectgarbage()
io.write(("{\"count\":%d,\"ok\":%d,\"failed\":%d,\"seconds\":%.6f,\"fds_start\":%d,"
  .. "\"fds_end\":%d,\"rss_kib\":%d}\n"):format(opts.count, opts.count - failed, failed, seconds,
  fds_start, count_fds(), peak_rss_kib()))
os.exit(failed == 0 and 0 or 1)
