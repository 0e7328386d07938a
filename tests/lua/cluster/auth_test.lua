-- can_i, rules, whoami, token_review, token_request, service_account_token
-- against kubesim, with the tutorial's objects.
local t = require "testlib"
local h = require "cluster.client_helpers"
local k8s = require "kubelua"
local async = require "kubelua.async"

local c = assert(k8s.connect())
local NS, SA = "devops-tools", "api-service-account"
local SA_USER = "system:serviceaccount:devops-tools:api-service-account"

local function manifest(name)
  return assert(k8s.yaml.decode(h.read(h.root .. "/scripts/manifests/" .. name)))
end

-- the tutorial's set-up, through apply
assert(c:apply({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }))
assert(c:apply({ apiVersion = "v1", kind = "ServiceAccount",
  metadata = { name = SA, namespace = NS } }))

local function connect_as_token(token)
  return assert(k8s.connect{ kubeconfig = h.kubeconfig_with({ token = token }) })
end

t.test("whoami: the admin, and under impersonation", function()
  local me = assert(c:whoami())
  t.eq(me.username, "kubernetes-admin")
  t.contains(table.concat(me.groups, ","), "system:masters")
  local as = assert(k8s.connect{ as = SA_USER })
  local them = assert(as:whoami())
  t.eq(them.username, SA_USER)
  t.eq(them.groups, k8s.json.array{ "system:serviceaccounts", "system:serviceaccounts:devops-tools",
    "system:authenticated" })
end)

t.test("can_i: before and after the tutorial's ClusterRole and binding", function()
  local as = { serviceaccount = NS .. "/" .. SA }
  t.eq({ c:can_i("get", "pods", { as = as }) }, { false })
  local cr = manifest("clusterrole.yaml")
  local crb = manifest("clusterrolebinding.yaml")
  io.stderr:write("(a warning about the ClusterRole's namespace is expected below)\n")
  local _, a1 = assert(c:apply(cr))
  t.eq(a1, "created")
  assert(c:apply(crb))
  local cases = {
    -- verb, resource, opts, allowed
    { "get", "pods", {}, true },
    { "delete", "deployments", {}, true },
    { "delete", "deployments.apps", {}, true },
    { "get", "pods/log", {}, false },
    { "get", "secrets", {}, false },
    { "list", "namespaces", {}, true },
    { "get", "/healthz", {}, true, "RBAC: allowed by ClusterRoleBinding" },
    { "get", "pods", { namespace = "kube-system" }, true },
    { "create", "clusterroles", {}, false },
  }
  for _, case in ipairs(cases) do
    local o = { as = as }
    for k, v in pairs(case[3]) do o[k] = v end
    local ok, reason = c:can_i(case[1], case[2], o)
    t.eq(ok, case[4], case[1] .. " " .. case[2] .. " (" .. tostring(reason) .. ")")
    if ok then t.contains(reason, case[5] or "api-cluster-role") end
  end
  t.eq(c:can_i("get", "pods", { as = SA_USER }), true)
  t.eq(c:can_i("get", "pods"), true) -- the admin itself
end)

t.test("can_i: errors name what is wrong", function()
  local cases = {
    { { "get", "pods", { as = { serviceaccount = NS .. "/nope" } } },
      "error: can_i: serviceaccount devops-tools/nope not found (checked before asking as "
        .. "system:serviceaccount:devops-tools:nope)" },
    { { "get", "pods", { as = { serviceaccount = "nope" } } },
      'error: can_i: as.serviceaccount must be "namespace/name", got "nope"' },
    { { "get", "pods", { as = 5 } },
      "error: can_i: as must be a user name or a table, got number" },
    { { "", "pods" }, 'error: can_i: verb must be a non-empty string, got ""' },
    { { "get", nil }, "error: can_i: resource must be a non-empty string, got nil" },
    { { "get", "pods", { nme = "x" } }, 'error: can_i: unknown option "nme"' },
  }
  for _, case in ipairs(cases) do
    local ok, err = c:can_i(case[1][1], case[1][2], case[1][3])
    t.eq(ok, nil)
    t.eq(tostring(err), case[2])
  end
end)

t.test("can_i: impersonation forbidden -> SubjectAccessReview fallback, said so", function()
  -- an auditor that may create SubjectAccessReviews and read service
  -- accounts, but not impersonate
  local auditor = "auditor"
  assert(c:apply({ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = auditor, namespace = NS } }))
  assert(c:apply({ apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole",
    metadata = { name = "sa-reader" }, rules = k8s.json.array{ { apiGroups = k8s.json.array{ "" },
      resources = k8s.json.array{ "serviceaccounts" }, verbs = k8s.json.array{ "get" } } } }))
  for _, role in ipairs({ "sa-reader" }) do
    assert(c:apply({ apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
      metadata = { name = "auditor-" .. role },
      roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = role },
      subjects = k8s.json.array{ { kind = "ServiceAccount", name = auditor, namespace = NS } } }))
  end
  local tok = assert(c:token_request(NS, auditor))
  local a = connect_as_token(tok)
  local as = { serviceaccount = NS .. "/" .. SA }
  -- without create on subjectaccessreviews the fallback fails too, and says both
  local no, err = a:can_i("get", "pods", { as = as })
  t.eq(no, nil)
  t.contains(tostring(err), "cannot check as " .. SA_USER .. ": impersonation is forbidden "
    .. '(serviceaccounts "api-service-account" is forbidden: User '
    .. '"system:serviceaccount:devops-tools:auditor" cannot impersonate resource '
    .. '"serviceaccounts" in API group "" in the namespace "devops-tools") and the '
    .. "SubjectAccessReview fallback failed: subjectaccessreviews.authorization.k8s.io is "
    .. "forbidden")
  assert(c:apply({ apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
    metadata = { name = "auditor-delegator" },
    roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole",
      name = "system:auth-delegator" },
    subjects = k8s.json.array{ { kind = "ServiceAccount", name = auditor, namespace = NS } } }))
  local ok, reason = a:can_i("get", "pods", { as = as })
  t.eq(ok, true)
  t.contains(reason, "api-cluster-role")
  t.contains(reason, "via SubjectAccessReview (impersonating " .. SA_USER .. " is forbidden: ")
  local ok2, reason2 = a:can_i("get", "secrets", { as = as })
  t.eq(ok2, false)
  t.contains(reason2, "via SubjectAccessReview")
end)

t.test("rules: SelfSubjectRulesReview", function()
  local st = assert(c:rules(NS))
  t.ok(#st.resourceRules >= 1, "admin has rules")
  local as = assert(k8s.connect{ as = SA_USER })
  local sst = assert(as:rules(NS))
  local found = false
  for _, r in ipairs(sst.resourceRules) do
    for _, res in ipairs(r.resources or {}) do if res == "deployments" then found = true end end
  end
  t.ok(found, "the SA's rules include deployments")
  local _, err = c:rules("")
  t.eq(tostring(err), "error: rules: namespace must be a non-empty string")
end)

t.test("token_request: a bound token that authenticates as the SA", function()
  local tok, exp = assert(c:token_request(NS, SA, { expiration_seconds = 3600,
    audiences = { "https://kubernetes.default.svc.cluster.local" } }))
  t.ok(type(exp) == "string" and exp:match("^%d%d%d%d%-%d%d%-%d%dT"), "expiry " .. tostring(exp))
  local claims = assert(k8s.jwt.claims(tok))
  t.eq(claims.sub, SA_USER)
  t.eq(assert(connect_as_token(tok):whoami()).username, SA_USER)
  local cases = {
    { { NS, "nope" }, 'Error from server (NotFound): serviceaccounts "nope" not found' },
    { { NS, SA, { expiration_seconds = 60 } }, 'Error from server (Invalid): '
      .. 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid '
      .. "value: 60: may not specify a duration less than 10 minutes" },
    { { "", SA }, 'error: token_request: namespace must be a non-empty string, got ""' },
    { { NS, SA, { expiration_seconds = 1.5 } },
      "error: token_request: expiration_seconds must be an integer, got 1.5" },
    { { NS, SA, { audience = "x" } }, 'error: token_request: unknown option "audience"' },
  }
  for _, case in ipairs(cases) do
    local v, err = c:token_request(table.unpack(case[1], 1, 3))
    t.eq(v, nil)
    t.eq(tostring(err), case[2])
  end
end)

t.test("token_review: good and bad tokens", function()
  local tok = assert(c:token_request(NS, SA))
  local st = assert(c:token_review(tok))
  t.eq(st.authenticated, true)
  t.eq(st.user.username, SA_USER)
  local bad = assert(c:token_review("not-a-token"))
  t.ok(not bad.authenticated, "not authenticated")
  t.ok(type(bad.error) == "string" and bad.error ~= "", "an error text")
  local _, err = c:token_review("")
  t.eq(tostring(err), "error: token_review: token must be a non-empty string")
end)

t.test("service_account_token: the tutorial's long-lived token, done right", function()
  local r = assert(c:service_account_token(NS, SA, { secret_name = "api-service-account-token" }))
  t.eq(r.namespace, NS)
  t.eq(r.secret, "api-service-account-token")
  t.contains(r.ca, "-----BEGIN CERTIFICATE-----")
  t.eq(r.ca, h.read(h.ca_file))
  local sa = assert(c:get("v1", "ServiceAccount", SA, { namespace = NS }))
  t.eq(r.uid, sa.metadata.uid)
  t.eq(sa.secrets, nil) -- never added to the SA's secrets list
  local claims = assert(k8s.jwt.claims(r.token))
  t.eq(claims.iss, "kubernetes/serviceaccount")
  t.eq(claims.sub, SA_USER)
  -- the token works, and can list namespaces through the ClusterRole
  local as = connect_as_token(r.token)
  t.eq(assert(as:whoami()).username, SA_USER)
  t.ok(#assert(as:list("v1", "Namespace")) >= 5, "lists namespaces")
  -- idempotent: the same Secret, the same token; read already filled, it
  -- is not waited on (no list, no watch of secrets)
  local mark = h.mark()
  local again = assert(c:service_account_token(NS, SA,
    { secret_name = "api-service-account-token" }))
  t.eq(again.token, r.token)
  for _, req in ipairs(h.requests(mark)) do
    t.ok(req.verb ~= "list" and req.verb ~= "watch", "no wait: " .. req.verb .. " " .. req.path)
  end
  -- default secret name
  local d = assert(c:service_account_token(NS, SA))
  t.eq(d.secret, SA .. "-token")
end)

t.test("service_account_token: clear errors", function()
  local _, e1 = c:service_account_token(NS, "ghost")
  t.eq(tostring(e1), "Error from server (NotFound): serviceaccount devops-tools/ghost not found: "
    .. "create the ServiceAccount before its token Secret (the token controller deletes token "
    .. "Secrets of missing service accounts)")
  assert(c:apply({ apiVersion = "v1", kind = "Secret",
    metadata = { name = "plain", namespace = NS },
    stringData = { a = "b" } }))
  local _, e2 = c:service_account_token(NS, SA, { secret_name = "plain" })
  t.eq(tostring(e2), 'error: secret devops-tools/plain exists with type "Opaque", not '
    .. "kubernetes.io/service-account-token")
  assert(c:apply({ apiVersion = "v1", kind = "ServiceAccount", metadata = { name = "other",
    namespace = NS } }))
  assert(c:service_account_token(NS, "other", { secret_name = "other-tok" }))
  local _, e3 = c:service_account_token(NS, SA, { secret_name = "other-tok" })
  t.eq(tostring(e3), "error: secret devops-tools/other-tok is the token of service account "
    .. '"other", '
    .. 'not "api-service-account"')
  local _, e4 = c:service_account_token(NS, SA, { secret = "x" })
  t.eq(tostring(e4), 'error: service_account_token: unknown option "secret"')
end)

t.test("service_account_token: SA deleted while waiting -> the deletion is explained", function()
  local victim = "short-lived"
  assert(c:apply({ apiVersion = "v1", kind = "ServiceAccount", metadata = { name = victim,
    namespace = NS } }))
  local res, err
  async.run(function()
    async.spawn(function()
      res, err = c:service_account_token(NS, victim, { timeout = 10 })
    end)
    -- delete the SA as soon as its token Secret exists (before the controller fills it)
    for _ = 1, 500 do
      local s = c:get("v1", "Secret", victim .. "-token", { namespace = NS })
      if s then break end
      async.sleep(0.002)
    end
    assert(c:delete("v1", "ServiceAccount", victim, { namespace = NS }))
  end)
  t.eq(res, nil)
  t.eq(tostring(err), "Error from server (NotFound): the token controller deleted secret "
    .. "devops-tools/short-lived-token: serviceaccount devops-tools/short-lived no longer exists")
end)

-- The branches that need the token controller to stay away: a second
-- simulator whose controller waits 30 s, while this script plays the
-- controller by hand (fills data and the uid annotation, as it would).
t.test("service_account_token: not filled in time; uid mismatch; SA deleted while issued",
function()
  local script = h.write(h.dir .. "/sat-branches.lua", [[
local k8s = require "kubelua"
local async = require "kubelua.async"
local c = assert(k8s.connect())
local NS = "sat"
assert(c:apply({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }))
local function sa(name)
  return assert(c:create({ apiVersion = "v1", kind = "ServiceAccount",
    metadata = { name = name, namespace = NS } })).metadata.uid
end
local function report(label, v, err)
  print(("%s: %s kind=%s reason=%s"):format(label, v and "OK" or tostring(err),
    err and err.kind, err and err.reason))
end
-- A: nothing fills the Secret
sa("slow")
report("A", c:service_account_token(NS, "slow", { timeout = 0.5 }))
-- the token Secret exists but is unfilled; `between` runs, then it is filled
-- with the uid annotation `uid`
local function race(name, between)
  local uid = sa(name)
  local v, err
  async.run(function()
    async.spawn(function() v, err = c:service_account_token(NS, name, { timeout = 10 }) end)
    while not c:get("v1", "Secret", name .. "-token", { namespace = NS }) do async.sleep(0.01) end
    between()
    assert(c:patch("v1", "Secret", name .. "-token", { metadata = { annotations = {
      ["kubernetes.io/service-account.uid"] = uid } }, data = {
      token = k8s.base64.encode("not.a.token"), ["ca.crt"] = k8s.base64.encode("ca") } },
      { namespace = NS }))
  end)
  return uid, v, err
end
-- B: the SA is deleted and re-created before the Secret is filled
local new_uid
local old_uid, v, err = race("reborn", function()
  assert(c:delete("v1", "ServiceAccount", "reborn", { namespace = NS }))
  new_uid = sa("reborn")
end)
report("B", v, err)
print("B uids: " .. old_uid .. " " .. new_uid)
-- C: the SA is deleted before the Secret is filled
report("C", select(2, race("gone", function()
  assert(c:delete("v1", "ServiceAccount", "gone", { namespace = NS }))
end)))
]])
  local p = assert(io.popen(("KUBESIM_ARGS='--token-delay 30' '%s/tests/with-kubesim' '%s' '%s'"
    .. " 2>&1"):format(h.root, h.kubelua, script)))
  local out = p:read("a")
  p:close()
  local old_uid, new_uid = out:match("B uids: (%S+) (%S+)")
  t.ok(old_uid and old_uid ~= new_uid, out)
  t.contains(out, "A: error: secret sat/slow-token was not filled with a token within 0.5s; is "
    .. "the token controller running? (timed out waiting for the condition on secrets/slow-token "
    .. "in namespace sat (after 0.5s)) kind=timeout reason=nil\n")
  t.contains(out, ("B: Error from server (Conflict): secret sat/reborn-token belongs to an older "
    .. "serviceaccount sat/reborn (uid annotation %s, live uid %s); delete the Secret and try "
    .. "again kind=api reason=Conflict\n"):format(old_uid, new_uid))
  t.contains(out, "C: Error from server (NotFound): serviceaccount sat/gone was deleted while its "
    .. "token was issued kind=api reason=NotFound\n")
end)
