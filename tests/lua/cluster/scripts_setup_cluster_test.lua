-- kubelua.setup against kubesim, as a user's own script would use it: the
-- example at the top of lua/kubelua/setup.lua, step by step, then the
-- kubeconfig it writes used by a second client; apply's idempotence and
-- its roleRef replacement; wait_token's checks.
local t = require "testlib"
local k8s = require "kubelua"
local setup = require "kubelua.setup"

local c = assert(k8s.connect())

local function lines(names, opts)
  local out = {}
  for _, o in ipairs(assert(setup.objects(names, opts))) do
    local line = assert(setup.apply(c, o.obj))
    out[#out + 1] = line
  end
  return out
end

t.test("the module's example: objects, apply, wait_token, kubeconfig", function()
  local names = setup.names{ namespace = "team-a", name = "ci" }
  t.eq(lines(names), {
    "namespace/team-a created",
    "serviceaccount/ci created",
    "clusterrole.rbac.authorization.k8s.io/ci-cluster-role created",
    "clusterrolebinding.rbac.authorization.k8s.io/ci-cluster-role-binding created",
    "secret/ci-token created",
  })
  local creds = assert(setup.wait_token(c, names))
  t.ok(creds.token:match("^eyJ[%w_-]+%.[%w_-]+%.[%w_-]+$"), "a JWT")
  t.contains(creds.ca, "BEGIN CERTIFICATE")
  local sa = assert(c:get("v1", "ServiceAccount", "ci", { namespace = "team-a" }))
  t.eq(creds.uid, sa.metadata.uid)
  -- the kubeconfig it builds authenticates as the account
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(k8s.yaml.encode(setup.kubeconfig{ server = c.server, ca = creds.ca,
    namespace = "team-a", service_account = "ci", token = creds.token }))
  f:close()
  local as_sa = assert(k8s.connect{ kubeconfig = path })
  os.remove(path)
  t.eq(assert(as_sa:whoami()).username, "system:serviceaccount:team-a:ci")
  t.eq(as_sa.namespace, "team-a")
end)

t.test("apply again: unchanged, nothing written", function()
  local names = setup.names{ namespace = "team-a", name = "ci" }
  local before = assert(c:get("v1", "ServiceAccount", "ci", { namespace = "team-a" }))
  for _, line in ipairs(lines(names)) do t.eq(line:match(" unchanged$"), " unchanged", line) end
  local after = assert(c:get("v1", "ServiceAccount", "ci", { namespace = "team-a" }))
  t.eq(after.metadata.resourceVersion, before.metadata.resourceVersion)
end)

t.test("a binding whose roleRef changed is replaced", function()
  local names = setup.names{ namespace = "team-a", name = "ci", read_only = true }
  local got = lines(names, { read_only = true })
  t.eq(got[3], "clusterrole.rbac.authorization.k8s.io/ci-cluster-role-read-only created")
  t.eq(got[4], "clusterrolebinding.rbac.authorization.k8s.io/ci-cluster-role-binding "
    .. "replaced (roleRef changed)")
  local b = assert(c:get("rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
    "ci-cluster-role-binding"))
  t.eq(b.roleRef.name, "ci-cluster-role-read-only")
  t.eq(setup.is_managed(b), true)
end)

t.test("wait_token: a missing account and a Secret of another type", function()
  local creds, err = setup.wait_token(c, { namespace = "team-a", service_account = "nobody",
    secret = "nobody-token" }, 2)
  t.eq(creds, nil)
  t.contains(tostring(err), 'serviceaccount team-a/nobody not found')
  assert(c:apply{ apiVersion = "v1", kind = "Secret", type = "Opaque",
    metadata = { name = "plain", namespace = "team-a" }, data = { a = "Yg==" } })
  creds, err = setup.wait_token(c, { namespace = "team-a", service_account = "ci",
    secret = "plain" }, 2)
  t.eq(creds, nil)
  t.contains(tostring(err), 'secret team-a/plain exists with type "Opaque"')
end)
