-- kubelua.setup: the tutorial's names, manifests with names substituted, the
-- lint of the manifests' traps, kubectl-style references, kubeconfigs.
-- No cluster: these are the pure parts of the bundled scripts.
local t = require "testlib"
local setup = require "kubelua.setup"
local yaml = require "kubelua.yaml"
local json = require "kubelua.json"

t.test("names: the tutorial's by default", function()
  t.eq(setup.names(), {
    namespace = "devops-tools", service_account = "api-service-account",
    secret = "api-service-account-token", cluster_role = "api-cluster-role",
    binding = "api-cluster-role-binding",
    user = "system:serviceaccount:devops-tools:api-service-account",
  })
end)

t.test("names: derived from --name and --namespace, read-only role", function()
  t.eq(setup.names{ namespace = "mon", name = "prometheus", read_only = true }, {
    namespace = "mon", service_account = "prometheus", secret = "prometheus-token",
    cluster_role = "prometheus-cluster-role-read-only", binding = "prometheus-cluster-role-binding",
    user = "system:serviceaccount:mon:prometheus",
  })
  t.eq(setup.names{ name = "ci-service-account" }.cluster_role, "ci-cluster-role")
end)

local ns_error = "a lowercase RFC 1123 label (a-z, 0-9, '-'), at most 63 characters"
local names_table = {
  { "devops-tools", true }, { "a", true }, { "a1-b2", true }, { string.rep("a", 63), true },
  { "", false }, { "-a", false }, { "a-", false }, { "A", false }, { "a_b", false },
  { "a.b", false }, { string.rep("a", 64), false },
}
for _, row in ipairs(names_table) do
  t.test(("namespace name %q"):format(row[1]:sub(1, 20)), function()
    local ok, err = setup.check_namespace_name(row[1])
    if row[2] then
      t.eq(ok, true)
    else
      t.eq(ok, nil)
      t.eq(err, ("invalid namespace name %q: %s"):format(row[1], ns_error))
    end
  end)
end

t.test("object names allow dots, not capitals", function()
  t.eq(setup.check_object_name("a.b-c", "service account"), true)
  local ok, err = setup.check_object_name("Bad", "service account")
  t.eq(ok, nil)
  t.eq(err, 'invalid service account name "Bad": lowercase letters, digits, \'-\' and \'.\', '
    .. "starting and ending with a letter or digit")
end)

local function by_kind(objs)
  local out = {}
  for _, o in ipairs(objs) do out[o.obj.kind] = o end
  return out
end

t.test("objects: the tutorial's order and its manifests as written", function()
  local objs = assert(setup.objects(setup.names()))
  local kinds = {}
  for i, o in ipairs(objs) do kinds[i] = o.obj.kind end
  t.eq(kinds, { "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret" })
  local k = by_kind(objs)
  local role = k.ClusterRole.obj
  t.eq(role.metadata, { name = "api-cluster-role", namespace = "devops-tools" })
  local res = role.rules[1].resources
  t.eq(#res, 21)
  t.eq(res[1], "pods")
  t.eq(res[14], "pods") -- the duplicate, kept
  t.eq(role.rules[1].apiGroups[1], "")
  t.eq(role.rules[1].verbs, json.array{ "get", "list", "watch", "create", "update", "patch",
    "delete" })
  t.eq(k.ClusterRoleBinding.obj.subjects[1], { namespace = "devops-tools",
    kind = "ServiceAccount", name = "api-service-account" })
  t.eq(k.Secret.obj.type, "kubernetes.io/service-account-token")
  t.contains(k.Secret.source, "scripts/manifests/sa-token.yaml")
end)

t.test("objects: names substituted everywhere they appear", function()
  local objs = assert(setup.objects(setup.names{ namespace = "n1", name = "bot" }))
  local k = by_kind(objs)
  t.eq(k.Namespace.obj.metadata.name, "n1")
  t.eq(k.ServiceAccount.obj.metadata, { name = "bot", namespace = "n1" })
  t.eq(k.ClusterRole.obj.metadata, { name = "bot-cluster-role", namespace = "n1" })
  local crb = k.ClusterRoleBinding.obj
  t.eq(crb.metadata.name, "bot-cluster-role-binding")
  t.eq(crb.roleRef.name, "bot-cluster-role")
  t.eq({ crb.subjects[1].namespace, crb.subjects[1].name }, { "n1", "bot" })
  t.eq(k.Secret.obj.metadata.annotations["kubernetes.io/service-account.name"], "bot")
  t.eq(k.Secret.obj.metadata.name, "bot-token")
end)

t.test("objects: namespace scope binds with a RoleBinding, no ClusterRole", function()
  local objs = assert(setup.objects(setup.names{ namespace = "t1" },
    { scope = "namespace", skip_role = true }))
  local k = by_kind(objs)
  t.eq(k.ClusterRole, nil)
  t.eq(k.RoleBinding.obj.metadata, { name = "api-cluster-role-binding", namespace = "t1" })
  t.eq(k.RoleBinding.obj.roleRef.kind, "ClusterRole")
end)

t.test("lint: the tutorial's three traps, word for word", function()
  local k = by_kind(assert(setup.objects(setup.names())))
  t.eq(setup.lint(k.ClusterRole, k.ClusterRoleBinding), {
    'clusterrole.yaml: ClusterRole api-cluster-role has metadata.namespace "devops-tools", '
      .. "which the server ignores: ClusterRoles are cluster-scoped",
    'clusterrole.yaml: rules[0]: "ingress" in API groups "", "extensions" grants nothing on '
      .. 'Ingresses: RBAC needs the plural "ingresses" in group "networking.k8s.io" '
      .. "(extensions/v1beta1 Ingress was removed in Kubernetes 1.22)",
    "clusterrolebinding.yaml: ClusterRoleBinding api-cluster-role-binding gives "
      .. "api-cluster-role the verbs create, update, patch, delete on pods, componentstatuses, "
      .. "configmaps, daemonsets, deployments, events, and 14 more in every namespace (write "
      .. "access cluster-wide); a monitoring agent needs only read access: use --read-only",
  })
end)

t.test("lint: the read-only role has no trap", function()
  local k = by_kind(assert(setup.objects(setup.names{ read_only = true }, { read_only = true })))
  t.eq(setup.lint(k.ClusterRole, k.ClusterRoleBinding), {})
end)

t.test("lint: table of rules", function()
  local rows = {
    { { apiGroups = { "networking.k8s.io" }, resources = { "ingresses" }, verbs = { "get" } }, 0 },
    { { apiGroups = { "extensions" }, resources = { "ingresses" }, verbs = { "get" } }, 1 },
    { { apiGroups = { "networking.k8s.io" }, resources = { "ingress" }, verbs = { "get" } }, 1 },
    { { apiGroups = { "" }, resources = { "pods" }, verbs = { "*" } }, 1 },
    { { apiGroups = { "" }, resources = { "pods" }, verbs = { "get", "list" } }, 0 },
  }
  local binding = { obj = { kind = "ClusterRoleBinding", metadata = { name = "b" } } }
  for i, r in ipairs(rows) do
    local role = { obj = { kind = "ClusterRole", metadata = { name = "r" }, rules = { r[1] } } }
    t.eq(#setup.lint(role, binding), r[2], "row " .. i)
  end
  -- write access through a RoleBinding is not cluster-wide
  local role = { obj = { kind = "ClusterRole", metadata = { name = "r" }, rules = { rows[4][1] } } }
  t.eq(setup.lint(role, { obj = { kind = "RoleBinding", metadata = { name = "b" } } }), {})
end)

t.test("ref: kubectl's kind.group/name", function()
  t.eq(setup.ref{ apiVersion = "v1", kind = "Namespace", metadata = { name = "x" } },
    "namespace/x")
  t.eq(setup.ref{ apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
    metadata = { name = "y" } }, "clusterrolebinding.rbac.authorization.k8s.io/y")
end)

t.test("label and is_managed", function()
  local obj = { metadata = { name = "x" } }
  t.eq(setup.is_managed(obj), false)
  setup.label(obj)
  t.eq(obj.metadata.labels, { ["app.kubernetes.io/managed-by"] = "kubelua" })
  t.eq(setup.is_managed(obj), true)
end)

t.test("load_manifest: a missing file is one clear message", function()
  local docs, err = setup.load_manifest("nope.yaml")
  t.eq(docs, nil)
  t.contains(err, "cannot read manifest ")
  t.contains(err, "nope.yaml")
end)

t.test("kubeconfig: token kind, CA embedded, reads back as YAML", function()
  local cfg = setup.kubeconfig{ server = "https://127.0.0.1:6443", ca = "PEM\n",
    namespace = "ns", service_account = "sa", token = "tok" }
  local back = assert(yaml.decode(yaml.encode(cfg)))
  t.eq(back["current-context"], "ns-sa")
  t.eq(back.clusters[1].cluster, { server = "https://127.0.0.1:6443",
    ["certificate-authority-data"] = "UEVNCg==" })
  t.eq(back.users[1], { name = "ns-sa", user = { token = "tok" } })
  t.eq(back.contexts[1].context, { cluster = "kubelua", user = "ns-sa", namespace = "ns" })
end)

t.test("kubeconfig: exec kind runs token.lua with the caller's kubeconfig", function()
  local cfg = setup.kubeconfig{ server = "https://h:1", ca = "PEM", namespace = "ns",
    service_account = "sa", exec = { kubeconfig = "/a/k:/b/k", context = "c", duration = 900 } }
  local e = cfg.users[1].user.exec
  t.eq(e.apiVersion, "client.authentication.k8s.io/v1")
  t.eq(e.interactiveMode, "Never")
  t.ok(e.command:match("^/"), "absolute command")
  t.ok(e.args[1]:match("^/.*/scripts/token%.lua$"), "absolute token.lua: " .. e.args[1])
  t.eq({ table.unpack(e.args, 2) }, { "--exec-credential", "-n", "ns", "--service-account", "sa",
    "--context", "c", "--duration", "900s" })
  t.eq(e.env, json.array{ { name = "KUBECONFIG", value = "/a/k:/b/k" } })
  t.eq(cfg.users[1].user.token, nil)
end)

t.test("subset: what apply would change", function()
  local rows = {
    { { a = 1 }, { a = 1, b = 2 }, true },
    { { a = 1 }, { a = 2 }, false },
    { { m = { x = "1" } }, { m = { x = "1", y = "2" } }, true },
    { { m = { x = "1" } }, { m = {} }, false },
    { { l = json.array{ "a", "b" } }, { l = json.array{ "a", "b" } }, true },
    { { l = json.array{ "a" } }, { l = json.array{ "a", "b" } }, false },
    { { l = json.array{ { kind = "SA" } } },
      { l = json.array{ { kind = "SA", apiGroup = "" } } }, true },
    { { l = json.array{} }, {}, false },
    { { a = "" }, {}, false },
  }
  for i, r in ipairs(rows) do t.eq(setup.subset(r[1], r[2]), r[3], "row " .. i) end
end)
