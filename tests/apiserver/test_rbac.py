"""Unit tests for kubesim_lib.rbac (run from tests/apiserver:
/usr/bin/python3 -m unittest -v test_rbac)."""

import copy
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubesim_lib import rbac  # noqa: E402

G = rbac.RBAC_GROUP


# ------------------------------------------------------------------ helpers

def user(name, *groups, authenticated=True):
    gs = list(groups)
    if authenticated and "system:authenticated" not in gs:
        gs.append("system:authenticated")
    return {"username": name, "uid": "", "groups": gs, "extra": {}}


def sa_user(ns, name):
    return user("system:serviceaccount:%s:%s" % (ns, name),
                "system:serviceaccounts", "system:serviceaccounts:" + ns)


ANON = {"username": "system:anonymous", "uid": "", "groups": ["system:unauthenticated"], "extra": {}}
ADMIN = user("kubernetes-admin", "system:masters")


def res(verb, resource, ns="", name="", group="", sub=""):
    return {"verb": verb, "api_group": group, "resource": resource, "subresource": sub,
            "name": name, "namespace": ns, "path": ""}


def url(path, verb="get"):
    return {"verb": verb, "api_group": "", "resource": "", "subresource": "", "name": "",
            "namespace": "", "path": path}


def rule(verbs, resources=None, groups=("",), names=None, urls=None):
    if urls is not None:
        return {"verbs": list(verbs), "nonResourceURLs": list(urls)}
    r = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names is not None:
        r["resourceNames"] = list(names)
    return r


def cluster_role(name, rules, labels=None, aggregate=None):
    o = {"apiVersion": G + "/v1", "kind": "ClusterRole",
         "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if aggregate is not None:
        o["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return o


def role(ns, name, rules):
    return {"apiVersion": G + "/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": ns}, "rules": rules}


def subj(kind, name, ns=None):
    s = {"kind": kind, "name": name}
    if kind == "ServiceAccount":
        s["apiGroup"] = ""
        if ns is not None:
            s["namespace"] = ns
    else:
        s["apiGroup"] = G
    return s


def crb(name, role_name, *subjects):
    return {"apiVersion": G + "/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role_name},
            "subjects": list(subjects)}


def rb(ns, name, role_kind, role_name, *subjects):
    return {"apiVersion": G + "/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": G, "kind": role_kind, "name": role_name},
            "subjects": list(subjects)}


class Store(object):
    """A lookup() over a list of objects, recording calls."""

    def __init__(self, objs, defaults=True):
        self.objs = (rbac.default_objects() if defaults else []) + list(objs)
        self.calls = 0

    def __call__(self, kind, namespace=None):
        self.calls += 1
        out = []
        for o in self.objs:
            if o["kind"] != kind:
                continue
            if kind in ("Role", "RoleBinding") and o["metadata"].get("namespace") != namespace:
                continue
            out.append(o)
        return out


NS = "devops-tools"
SA = sa_user(NS, "api-service-account")

TUTORIAL_ROLE = cluster_role("api-cluster-role", [rule(
    ["get", "list", "watch", "create", "update", "patch", "delete"],
    ["pods", "componentstatuses", "configmaps", "daemonsets", "deployments", "events",
     "endpoints", "horizontalpodautoscalers", "ingress", "jobs", "limitranges", "namespaces",
     "nodes", "pods", "persistentvolumes", "persistentvolumeclaims", "resourcequotas",
     "replicasets", "replicationcontrollers", "serviceaccounts", "services"],
    groups=["", "apps", "autoscaling", "batch", "extensions", "policy", G])])
TUTORIAL_BINDING = crb("api-cluster-role-binding", "api-cluster-role",
                       subj("ServiceAccount", "api-service-account", NS))


def scenario():
    alice = user("alice", "devs")
    objs = [
        TUTORIAL_ROLE, TUTORIAL_BINDING,
        cluster_role("wild-verbs", [rule(["*"], ["configmaps"])]),
        cluster_role("wild-groups", [rule(["get"], ["widgets"], groups=["*"])]),
        cluster_role("wild-res", [rule(["list"], ["*"], groups=["batch"])]),
        cluster_role("logs", [rule(["get"], ["pods/log"])]),
        cluster_role("any-scale", [rule(["update"], ["*/scale"], groups=["apps"])]),
        cluster_role("pods-star", [rule(["get"], ["pods/*"])]),
        cluster_role("named", [rule(["get", "list", "delete"], ["secrets"], names=["db", "web"])]),
        cluster_role("names-empty", [rule(["get"], ["services"], names=[])]),
        cluster_role("metrics", [rule(["get"], urls=["/metrics", "/logs/*"]),
                                 rule(["post"], urls=["*"])]),
        cluster_role("ns-reader", [rule(["get", "list"], ["pods"])]),
        crb("c-wild-verbs", "wild-verbs", subj("User", "alice")),
        crb("c-wild-groups", "wild-groups", subj("Group", "devs")),
        crb("c-wild-res", "wild-res", subj("User", "alice")),
        crb("c-logs", "logs", subj("User", "bob")),
        crb("c-any-scale", "any-scale", subj("User", "bob")),
        crb("c-pods-star", "pods-star", subj("User", "carol")),
        crb("c-named", "named", subj("User", "carol")),
        crb("c-names-empty", "names-empty", subj("User", "carol")),
        crb("c-metrics", "metrics", subj("Group", "monitoring")),
        # a ServiceAccount subject without namespace in a ClusterRoleBinding never matches
        crb("c-sa-nons", "cluster-admin", subj("ServiceAccount", "default")),
        # RoleBinding to a ClusterRole: only in its namespace
        rb("team-a", "read-pods", "ClusterRole", "ns-reader", subj("User", "dave")),
        # RoleBinding to a Role
        role("team-a", "cm-writer", [rule(["create", "update"], ["configmaps"])]),
        rb("team-a", "write-cm", "Role", "cm-writer", subj("User", "dave")),
        # a Role of the same name in another namespace is not used
        role("team-b", "cm-writer", [rule(["*"], ["*"], groups=["*"])]),
        # SA subject without namespace in a RoleBinding: the binding's namespace
        rb("team-a", "sa-read", "ClusterRole", "ns-reader", subj("ServiceAccount", "builder")),
        # bindings to missing roles
        crb("c-missing", "gone", subj("User", "erin")),
        rb("team-a", "r-missing", "Role", "nope", subj("User", "erin")),
        rb("team-a", "r-missing-2", "ClusterRole", "gone-too", subj("User", "erin")),
        crb("c-erin-ok", "ns-reader", subj("User", "erin2")),
        crb("c-missing-2", "gone", subj("User", "erin2")),
    ]
    return Store(objs), alice


# -------------------------------------------------------------- authorize

class AuthorizeTable(unittest.TestCase):

    def test_table(self):
        store, alice = scenario()
        bob, carol, dave = user("bob"), user("carol"), user("dave")
        mon = user("mon", "monitoring")
        cases = [
            # (name, user, attrs, allowed)
            ("masters anything", ADMIN, res("delete", "nodes", name="n1"), True),
            ("masters path", ADMIN, url("/anything", "post"), True),
            ("tutorial sa get pods", SA, res("get", "pods", ns="default"), True),
            ("tutorial sa list nodes", SA, res("list", "nodes"), True),
            ("tutorial sa delete deployments", SA, res("delete", "deployments", ns="default",
                                                       group="apps", name="d"), True),
            ("tutorial sa no secrets", SA, res("get", "secrets", ns=NS, name="x"), False),
            ("tutorial sa no deletecollection", SA, res("deletecollection", "pods", ns=NS), False),
            ("tutorial sa no pods/log", SA, res("get", "pods", ns=NS, name="p", sub="log"), False),
            ("tutorial sa wrong group", SA, res("get", "deployments", ns=NS, group="extensions2"), False),
            ("verb wildcard", alice, res("deletecollection", "configmaps", ns="x"), True),
            ("verb wildcard other res", alice, res("get", "secrets", ns="x", name="s"), False),
            ("group wildcard", alice, res("get", "widgets", group="example.com", name="w"), True),
            ("group wildcard core", alice, res("get", "widgets", name="w"), True),
            ("group wildcard verb", alice, res("list", "widgets"), False),
            ("resource wildcard", alice, res("list", "jobs", ns="x", group="batch"), True),
            ("resource wildcard covers sub", alice, res("list", "jobs", ns="x", group="batch",
                                                        sub="status"), True),
            ("resource wildcard group", alice, res("list", "jobs", ns="x", group="apps"), False),
            ("exact subresource", bob, res("get", "pods", ns="x", name="p", sub="log"), True),
            ("subresource rule not resource", bob, res("get", "pods", ns="x", name="p"), False),
            ("other subresource", bob, res("get", "pods", ns="x", name="p", sub="exec"), False),
            ("*/sub", bob, res("update", "deployments", ns="x", group="apps", name="d",
                               sub="scale"), True),
            ("*/sub no main", bob, res("update", "deployments", ns="x", group="apps", name="d"), False),
            ("*/sub other sub", bob, res("update", "deployments", ns="x", group="apps",
                                         name="d", sub="status"), False),
            ("res/* is literal", carol, res("get", "pods", ns="x", name="p", sub="log"), False),
            ("res/* literal star", carol, res("get", "pods", ns="x", name="p", sub="*"), True),
            ("resourceNames hit", carol, res("get", "secrets", ns="x", name="db"), True),
            ("resourceNames second", carol, res("delete", "secrets", ns="x", name="web"), True),
            ("resourceNames miss", carol, res("get", "secrets", ns="x", name="other"), False),
            ("resourceNames list no name", carol, res("list", "secrets", ns="x"), False),
            ("resourceNames empty = all", carol, res("get", "services", ns="x", name="any"), True),
            ("nonresource exact", mon, url("/metrics"), True),
            ("nonresource verb", mon, url("/metrics", "put"), False),
            ("nonresource prefix", mon, url("/logs/kube.log"), True),
            ("nonresource prefix slash", mon, url("/logs/"), True),
            ("nonresource prefix no base", mon, url("/logs"), False),
            ("nonresource star", mon, url("/whatever/x", "post"), True),
            ("nonresource not for resources", mon, res("post", "pods", ns="x"), False),
            ("rb->clusterrole in ns", dave, res("list", "pods", ns="team-a"), True),
            ("rb->clusterrole other ns", dave, res("list", "pods", ns="team-b"), False),
            ("rb->clusterrole not cluster", dave, res("list", "pods"), False),
            ("rb->role", dave, res("create", "configmaps", ns="team-a"), True),
            ("rb->role only own ns role", dave, res("delete", "configmaps", ns="team-a",
                                                     name="c"), False),
            ("rb->role other ns", dave, res("create", "configmaps", ns="team-b"), False),
            ("rb sa default ns", sa_user("team-a", "builder"), res("get", "pods", ns="team-a",
                                                                     name="p"), True),
            ("rb sa other ns user", sa_user("team-b", "builder"), res("get", "pods", ns="team-a",
                                                                        name="p"), False),
            ("crb sa without namespace", sa_user("default", "default"), res("get", "pods",
                                                                              ns="default"), False),
            ("group subject", alice, res("get", "widgets", group="x.io", name="w"), True),
            ("group subject missing", user("zed"), res("get", "widgets", group="x.io",
                                                       name="w"), False),
            ("authenticated discovery", user("zed"), url("/apis/apps/v1"), True),
            ("authenticated openapi", user("zed"), url("/openapi/v3"), True),
            ("authenticated ssar", user("zed"), res("create", "selfsubjectaccessreviews",
                                                    group="authorization.k8s.io"), True),
            ("authenticated ssrr", user("zed"), res("create", "selfsubjectrulesreviews",
                                                    group="authorization.k8s.io"), True),
            ("authenticated whoami", user("zed"), res("create", "selfsubjectreviews",
                                                      group="authentication.k8s.io"), True),
            ("authenticated no sar", user("zed"), res("create", "subjectaccessreviews",
                                                      group="authorization.k8s.io"), False),
            ("authenticated no tokenreview", user("zed"), res("create", "tokenreviews",
                                                              group="authentication.k8s.io"), False),
            ("authenticated no list ns", user("zed"), res("list", "namespaces"), False),
            ("authenticated no post /api", user("zed"), url("/api", "post"), False),
            ("anonymous version", ANON, url("/version"), True),
            ("anonymous version slash", ANON, url("/version/"), True),
            ("anonymous healthz", ANON, url("/healthz"), True),
            ("anonymous livez readyz", ANON, url("/readyz"), True),
            ("anonymous no /api", ANON, url("/api"), False),
            ("anonymous no healthz sub", ANON, url("/healthz/etcd"), False),
            ("anonymous no ssar", ANON, res("create", "selfsubjectaccessreviews",
                                            group="authorization.k8s.io"), False),
            ("anonymous no list ns", ANON, res("list", "namespaces"), False),
        ]
        for name, u, attrs, want in cases:
            with self.subTest(name):
                got, reason = rbac.authorize(u, attrs, store)
                self.assertEqual(got, want, (name, reason))

    def test_allowed_reasons(self):
        store, alice = scenario()
        cases = [
            (SA, res("get", "pods", ns="default"),
             'RBAC: allowed by ClusterRoleBinding "api-cluster-role-binding" of ClusterRole '
             '"api-cluster-role" to ServiceAccount "api-service-account/devops-tools"'),
            (user("dave"), res("create", "configmaps", ns="team-a"),
             'RBAC: allowed by RoleBinding "write-cm/team-a" of Role "cm-writer" to User "dave"'),
            (user("dave"), res("get", "pods", ns="team-a"),
             'RBAC: allowed by RoleBinding "read-pods/team-a" of ClusterRole "ns-reader" to User "dave"'),
            (sa_user("team-a", "builder"), res("get", "pods", ns="team-a"),
             'RBAC: allowed by RoleBinding "sa-read/team-a" of ClusterRole "ns-reader" to '
             'ServiceAccount "builder/team-a"'),
            (alice, res("get", "widgets", name="w"),
             'RBAC: allowed by ClusterRoleBinding "c-wild-groups" of ClusterRole "wild-groups" to Group "devs"'),
            (ANON, url("/version"),
             'RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
             '"system:public-info-viewer" to Group "system:unauthenticated"'),
            (ADMIN, res("get", "pods", ns="x"), ""),
        ]
        for u, attrs, want in cases:
            with self.subTest(want):
                self.assertEqual(rbac.authorize(u, attrs, store), (True, want))

    def test_denied_reasons_missing_roles(self):
        store, _ = scenario()
        erin = user("erin")
        self.assertEqual(rbac.authorize(user("zed"), res("get", "pods", ns="a"), store), (False, ""))
        self.assertEqual(
            rbac.authorize(erin, res("get", "pods"), store),
            (False, 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found'))
        self.assertEqual(
            rbac.authorize(erin, res("get", "pods", ns="team-a"), store),
            (False, 'RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
                    'role.rbac.authorization.k8s.io "nope" not found, '
                    'clusterrole.rbac.authorization.k8s.io "gone-too" not found]'))
        # some other binding allows: the errors do not matter
        ok, reason = rbac.authorize(user("erin2"), res("list", "pods", ns="x"), store)
        self.assertTrue(ok)
        self.assertIn('"c-erin-ok"', reason)
        # nothing allows: error appended
        self.assertEqual(
            rbac.authorize(user("erin2"), res("list", "secrets", ns="x"), store),
            (False, 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found'))

    def test_duplicate_errors_are_merged(self):
        store = Store([crb("a", "gone", subj("User", "u")), crb("b", "gone", subj("User", "u"))],
                      defaults=False)
        self.assertEqual(rbac.authorize(user("u"), res("get", "pods"), store),
                         (False, 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found'))

    def test_aggregation(self):
        objs = [
            cluster_role("agg", [rule(["get"], ["stale-rule"])],
                         aggregate=[{"matchLabels": {"team": "x"}},
                                    {"matchExpressions": [{"key": "extra", "operator": "Exists"}]}]),
            cluster_role("part-1", [rule(["get"], ["pods"])], labels={"team": "x"}),
            cluster_role("part-2", [rule(["list"], ["secrets"])], labels={"extra": "1"}),
            cluster_role("other", [rule(["delete"], ["pods"])], labels={"team": "y"}),
            crb("bind-agg", "agg", subj("User", "u")),
        ]
        store = Store(objs, defaults=False)
        u = user("u")
        self.assertTrue(rbac.authorize(u, res("get", "pods", ns="a"), store)[0])
        self.assertTrue(rbac.authorize(u, res("list", "secrets", ns="a"), store)[0])
        self.assertFalse(rbac.authorize(u, res("delete", "pods", ns="a", name="p"), store)[0])
        # the rules written on an aggregated role are replaced by the aggregation
        self.assertFalse(rbac.authorize(u, res("get", "stale-rule", name="x"), store)[0])

    def test_default_admin_edit_view(self):
        store = Store([
            rb("ns1", "v", "ClusterRole", "view", subj("User", "viewer")),
            rb("ns1", "e", "ClusterRole", "edit", subj("User", "editor")),
            rb("ns1", "a", "ClusterRole", "admin", subj("User", "admin")),
            cluster_role("custom-view", [rule(["get"], ["widgets"], groups=["x.io"])],
                         labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        ])
        v, e, a = user("viewer"), user("editor"), user("admin")
        self.assertTrue(rbac.authorize(v, res("list", "pods", ns="ns1"), store)[0])
        self.assertFalse(rbac.authorize(v, res("get", "secrets", ns="ns1", name="s"), store)[0])
        self.assertFalse(rbac.authorize(v, res("list", "pods", ns="ns2"), store)[0])
        # a user-made role labelled aggregate-to-view flows into view, edit and admin
        for u in (v, e, a):
            self.assertTrue(rbac.authorize(u, res("get", "widgets", ns="ns1", group="x.io",
                                                  name="w"), store)[0])
        self.assertTrue(rbac.authorize(e, res("get", "secrets", ns="ns1", name="s"), store)[0])
        self.assertTrue(rbac.authorize(e, res("create", "serviceaccounts", sub="token", name="sa",
                                              ns="ns1"), store)[0])
        self.assertFalse(rbac.authorize(e, res("create", "roles", ns="ns1", group=G), store)[0])
        self.assertTrue(rbac.authorize(a, res("create", "roles", ns="ns1", group=G), store)[0])
        self.assertTrue(rbac.authorize(a, res("list", "pods", ns="ns1"), store)[0])

    def test_explicit_resource_request_flag(self):
        # an SSAR with resourceAttributes but no resource is still a resource request
        store = Store([crb("b", "star", subj("User", "u")),
                       cluster_role("star", [rule(["get"], ["*"])])], defaults=False)
        attrs = res("get", "")
        attrs["resource_request"] = True
        self.assertTrue(rbac.authorize(user("u"), attrs, store)[0])
        attrs["path"] = "/x"
        attrs["resource_request"] = False
        self.assertFalse(rbac.authorize(user("u"), attrs, store)[0])

    def test_inputs_not_mutated(self):
        store, alice = scenario()
        before = copy.deepcopy(store.objs)
        for u in (alice, SA, ADMIN, ANON):
            rbac.authorize(u, res("get", "pods", ns="team-a"), store)
            rbac.rules_review(u, "team-a", store)
            rbac.check_escalation(u, role("team-a", "r", [rule(["get"], ["pods"])]), store)
        self.assertEqual(before, store.objs)

    def test_linear_and_fast(self):
        objs = [cluster_role("r%d" % i, [rule(["get"], ["pods"], names=["x%d" % i])])
                for i in range(300)]
        objs += [crb("b%d" % i, "r%d" % i, subj("User", "u%d" % (i % 300)),
                     subj("Group", "g%d" % i)) for i in range(3000)]
        objs += [rb("ns", "rb%d" % i, "ClusterRole", "r%d" % (i % 300), subj("User", "v%d" % i))
                 for i in range(3000)]
        store = Store(objs)
        u = user("u7", "g7")
        t0 = time.monotonic()
        for _ in range(100):
            ok, _r = rbac.authorize(u, res("get", "pods", ns="ns", name="nope"), store)
            self.assertFalse(ok)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 5.0)
        # one lookup per kind per call at most
        store.calls = 0
        rbac.authorize(u, res("get", "pods", ns="ns", name="nope"), store)
        self.assertLessEqual(store.calls, 3)


# --------------------------------------------------------------- messages

class Messages(unittest.TestCase):

    def test_forbidden_messages(self):
        cases = [
            (sa_user("ns", "sa"), res("list", "namespaces"),
             'namespaces is forbidden: User "system:serviceaccount:ns:sa" cannot list resource '
             '"namespaces" in API group "" at the cluster scope'),
            (sa_user("ns", "sa"), res("get", "secrets", ns="ns", name="db"),
             'secrets "db" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource '
             '"secrets" in API group "" in the namespace "ns"'),
            (user("u"), res("get", "pods", ns="ns", name="p", sub="log"),
             'pods "p" is forbidden: User "u" cannot get resource "pods/log" in API group "" '
             'in the namespace "ns"'),
            (user("u"), res("list", "clusterroles", group=G),
             'clusterroles.rbac.authorization.k8s.io is forbidden: User "u" cannot list resource '
             '"clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'),
            (ANON, url("/metrics"),
             'forbidden: User "system:anonymous" cannot get path "/metrics"'),
            (sa_user("ns", "sa"), res("create", "serviceaccounts", ns="ns", name="sa", sub="token"),
             'serviceaccounts "sa" is forbidden: User "system:serviceaccount:ns:sa" cannot create '
             'resource "serviceaccounts/token" in API group "" in the namespace "ns"'),
            (user("bob"), res("impersonate", "users", name="alice"),
             'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API '
             'group "" at the cluster scope'),
            (user("a<b>&\"c"), url("/x"),
             'forbidden: User "a&lt;b&gt;&amp;\\"c" cannot get path "/x"'),
        ]
        for u, attrs, want in cases:
            with self.subTest(want):
                self.assertEqual(rbac.forbidden_message(u, attrs), want)

    def test_reason_suffix(self):
        store, _ = scenario()
        attrs = res("get", "pods", ns="ns")
        ok, reason = rbac.authorize(user("erin"), attrs, store)
        self.assertFalse(ok)
        self.assertEqual(
            rbac.forbidden_message(user("erin"), attrs, reason),
            'pods is forbidden: User "erin" cannot get resource "pods" in API group "" in the '
            'namespace "ns": RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found')

    def test_forbidden_status(self):
        st = rbac.forbidden_status(sa_user("ns", "sa"), res("list", "namespaces"))
        self.assertEqual(list(st), ["kind", "apiVersion", "metadata", "status", "message",
                                    "reason", "details", "code"])
        self.assertEqual(st["details"], {"kind": "namespaces"})
        self.assertEqual(st["code"], 403)
        st = rbac.forbidden_status(user("u"), res("get", "roles", ns="n", name="r", group=G))
        self.assertEqual(st["details"], {"name": "r", "group": G, "kind": "roles"})
        st = rbac.forbidden_status(ANON, url("/metrics"))
        self.assertNotIn("details", st)

    def test_go_quote(self):
        self.assertEqual(rbac.go_quote('a"b\\c\n\x01é'), '"a\\"b\\\\c\\n\\x01é"')


# ------------------------------------------------------------ rules review

class RulesReview(unittest.TestCase):

    def test_service_account(self):
        store = Store([TUTORIAL_ROLE, TUTORIAL_BINDING,
                       role(NS, "r", [rule(["get"], ["secrets"], names=["tok"])]),
                       rb(NS, "rb", "Role", "r", subj("ServiceAccount", "api-service-account"))])
        st = rbac.rules_review(SA, NS, store)
        self.assertFalse(st["incomplete"])
        self.assertNotIn("evaluationError", st)
        rr = st["resourceRules"]
        self.assertIn({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                       "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}, rr)
        self.assertIn({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                       "resources": ["selfsubjectreviews"]}, rr)
        self.assertEqual(rr[-1], {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"],
                                  "resourceNames": ["tok"]})
        self.assertTrue(any(r["resources"][0] == "pods" for r in rr))
        urls = [u for r in st["nonResourceRules"] for u in r["nonResourceURLs"]]
        self.assertIn("/version", urls)
        self.assertIn("/apis/*", urls)
        # in another namespace the Role does not apply
        st2 = rbac.rules_review(SA, "other", store)
        self.assertEqual(len(st2["resourceRules"]), len(rr) - 1)

    def test_evaluation_error(self):
        store, _ = scenario()
        st = rbac.rules_review(user("erin"), "team-a", store)
        self.assertEqual(st["evaluationError"],
                         '[clusterrole.rbac.authorization.k8s.io "gone" not found, '
                         'role.rbac.authorization.k8s.io "nope" not found, '
                         'clusterrole.rbac.authorization.k8s.io "gone-too" not found]')
        self.assertFalse(st["incomplete"])

    def test_anonymous(self):
        st = rbac.rules_review(ANON, "default", Store([]))
        self.assertEqual(st["resourceRules"], [])
        self.assertEqual(st["nonResourceRules"], [{"verbs": ["get"], "nonResourceURLs": [
            "/healthz", "/livez", "/readyz", "/version", "/version/"]}])

    def test_masters(self):
        st = rbac.rules_review(ADMIN, "default", Store([]))
        self.assertIn({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, st["resourceRules"])
        self.assertIn({"verbs": ["*"], "nonResourceURLs": ["*"]}, st["nonResourceRules"])


# ------------------------------------------------------------- escalation

def esc_store():
    alice = user("alice", "devs")
    objs = [
        role("ns", "secret-reader", [rule(["get", "list"], ["secrets"])]),
        rb("ns", "alice-secrets", "Role", "secret-reader", subj("User", "alice")),
        cluster_role("pod-admin", [rule(["*"], ["pods", "pods/log"])]),
        crb("alice-pods", "pod-admin", subj("Group", "devs")),
        cluster_role("escalator", [rule(["escalate"], ["roles"], groups=[G])]),
        rb("ns2", "bob-escalate", "ClusterRole", "escalator", subj("User", "bob")),
        cluster_role("named-escalator", [rule(["escalate"], ["clusterroles"], groups=[G],
                                              names=["special"])]),
        crb("carol-named-escalate", "named-escalator", subj("User", "carol")),
        cluster_role("binder", [rule(["bind"], ["clusterroles"], groups=[G], names=["view"])]),
        crb("dave-binder", "binder", subj("User", "dave")),
        cluster_role("everything", [rule(["*"], ["*"], groups=["*"]), rule(["*"], urls=["*"])]),
        crb("root-everything", "everything", subj("User", "root")),
        crb("alice-missing", "gone", subj("User", "alice")),
    ]
    return Store(objs), alice


class Escalation(unittest.TestCase):

    def test_role_allowed_when_held(self):
        store, alice = esc_store()
        for rules in ([rule(["get"], ["secrets"])],
                      [rule(["list", "get"], ["secrets"], names=["a"])],
                      [rule(["delete", "get"], ["pods", "pods/log"])],
                      [rule(["get"], ["pods"]), rule(["list"], ["secrets"])],
                      []):
            with self.subTest(rules):
                self.assertIsNone(rbac.check_escalation(alice, role("ns", "r", rules), store))

    def test_role_forbidden_message(self):
        store, alice = esc_store()
        msg = rbac.check_escalation(
            alice, role("ns", "r", [rule(["get", "delete"], ["secrets", "configmaps"]),
                                    rule(["create"], ["secrets"], names=["x"])]), store)
        self.assertIsInstance(msg, str)
        self.assertEqual(msg.code, 403)
        self.assertEqual(msg.reason, "Forbidden")
        self.assertEqual(msg.details, {"name": "r", "group": G, "kind": "roles"})
        self.assertEqual(
            msg,
            'roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" '
            '(groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions '
            'not currently held:\n'
            '{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "delete"]}\n'
            '{APIGroups:[""], Resources:["secrets"], ResourceNames:["x"], Verbs:["create"]}\n'
            '{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}'
            '; resolution errors: [clusterrole.rbac.authorization.k8s.io "gone" not found]')
        self.assertEqual(msg.status()["code"], 403)

    def test_role_rights_are_namespaced(self):
        store, alice = esc_store()
        # secrets are held only in "ns"
        self.assertIsNotNone(rbac.check_escalation(
            alice, role("other", "r", [rule(["get"], ["secrets"])]), store))
        # a ClusterRole is checked against cluster-wide rights only
        msg = rbac.check_escalation(
            alice, cluster_role("cr", [rule(["get"], ["secrets"])]), store)
        self.assertTrue(msg.startswith('clusterroles.rbac.authorization.k8s.io "cr" is forbidden: '
                                       'user "alice"'), msg)
        self.assertIsNone(rbac.check_escalation(
            alice, cluster_role("cr", [rule(["get"], ["pods"])]), store))

    def test_nonresource_and_wildcards(self):
        store, alice = esc_store()
        msg = rbac.check_escalation(alice, cluster_role("cr", [rule(["get"], urls=["/metrics"])]),
                                    store)
        self.assertIn('{NonResourceURLs:["/metrics"], Verbs:["get"]}', msg)
        msg = rbac.check_escalation(alice, role("ns", "r", [rule(["*"], ["secrets"])]), store)
        self.assertIn('{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}', msg)
        root = user("root")
        self.assertIsNone(rbac.check_escalation(
            root, cluster_role("cr", [rule(["*"], ["*"], groups=["*"]), rule(["*"], urls=["*"])]),
            store))

    def test_escalate_verb(self):
        store, _ = esc_store()
        bob = user("bob")
        big = [rule(["*"], ["*"], groups=["*"])]
        self.assertIsNone(rbac.check_escalation(bob, role("ns2", "r", big), store))
        self.assertIsNotNone(rbac.check_escalation(bob, role("ns", "r", big), store))
        # escalate restricted by resourceNames: only for requests naming the object (updates)
        carol = user("carol")
        obj = cluster_role("special", big)
        self.assertIsNotNone(rbac.check_escalation(carol, obj, store))
        self.assertIsNone(rbac.check_escalation(carol, obj, store, old=cluster_role("special", [])))
        self.assertIsNotNone(rbac.check_escalation(carol, cluster_role("other", big), store,
                                                   old=cluster_role("other", [])))

    def test_masters_always(self):
        store, _ = esc_store()
        big = [rule(["*"], ["*"], groups=["*"])]
        self.assertIsNone(rbac.check_escalation(ADMIN, role("ns", "r", big), store))
        self.assertIsNone(rbac.check_escalation(ADMIN, crb("b", "does-not-exist",
                                                           subj("User", "x")), store))

    def test_aggregation_rule_needs_full_authority(self):
        store, alice = esc_store()
        obj = cluster_role("agg", [], aggregate=[{"matchLabels": {"a": "b"}}])
        self.assertEqual(
            rbac.check_escalation(alice, obj, store),
            'clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin '
            'privileges to use the aggregationRule')
        self.assertIsNone(rbac.check_escalation(user("root"), obj, store))

    def test_gc_only_update_skips(self):
        store, alice = esc_store()
        big = role("ns", "r", [rule(["*"], ["*"], groups=["*"])])
        upd = copy.deepcopy(big)
        upd["metadata"]["finalizers"] = ["x"]
        upd["metadata"]["ownerReferences"] = [{"kind": "X", "name": "y"}]
        self.assertIsNone(rbac.check_escalation(alice, upd, store, old=big))
        upd["metadata"]["labels"] = {"a": "b"}
        self.assertIsNotNone(rbac.check_escalation(alice, upd, store, old=big))

    def test_binding_rules_covered(self):
        store, alice = esc_store()
        self.assertIsNone(rbac.check_escalation(
            alice, rb("ns", "b", "Role", "secret-reader", subj("User", "x")), store))
        self.assertIsNone(rbac.check_escalation(
            alice, crb("b", "pod-admin", subj("User", "x")), store))
        msg = rbac.check_escalation(alice, crb("b", "escalator", subj("User", "x")), store)
        self.assertEqual(msg.details, {"name": "b", "group": G, "kind": "clusterrolebindings"})
        self.assertTrue(msg.startswith(
            'clusterrolebindings.rbac.authorization.k8s.io "b" is forbidden: user "alice" '
            '(groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions '
            'not currently held:\n{APIGroups:["rbac.authorization.k8s.io"], Resources:["roles"], '
            'Verbs:["escalate"]}'), msg)
        # a RoleBinding to a ClusterRole is checked against rights in that namespace
        self.assertIsNone(rbac.check_escalation(
            alice, rb("ns", "b", "ClusterRole", "system:basic-user", subj("User", "x")), store))
        msg = rbac.check_escalation(
            alice, rb("ns", "b", "ClusterRole", "view", subj("User", "x")), store)
        self.assertTrue(msg.startswith('rolebindings.rbac.authorization.k8s.io "b" is forbidden'), msg)

    def test_bind_verb(self):
        store, _ = esc_store()
        dave = user("dave")
        self.assertIsNone(rbac.check_escalation(
            dave, crb("b", "view", subj("User", "x")), store))
        self.assertIsNone(rbac.check_escalation(
            dave, rb("any", "b", "ClusterRole", "view", subj("User", "x")), store))
        self.assertIsNotNone(rbac.check_escalation(
            dave, crb("b", "edit", subj("User", "x")), store))
        # bind also allows a binding to a role that does not exist (yet)
        store.objs.append(cluster_role("binder-all", [rule(["bind"], ["clusterroles"], groups=[G])]))
        store.objs.append(crb("erin-binder", "binder-all", subj("User", "erin")))
        self.assertIsNone(rbac.check_escalation(
            user("erin"), crb("b", "not-yet", subj("User", "x")), store))

    def test_binding_missing_role(self):
        store, alice = esc_store()
        msg = rbac.check_escalation(alice, rb("ns", "b", "Role", "nope", subj("User", "x")), store)
        self.assertEqual(msg, 'roles.rbac.authorization.k8s.io "nope" not found')
        self.assertEqual(msg.code, 404)
        self.assertEqual(msg.reason, "NotFound")
        self.assertEqual(msg.details, {"name": "nope", "group": G, "kind": "roles"})
        msg = rbac.check_escalation(alice, crb("b", "nope", subj("User", "x")), store)
        self.assertEqual(msg, 'clusterroles.rbac.authorization.k8s.io "nope" not found')

    def test_tutorial_apply_as_admin_and_sa(self):
        store = Store([])
        self.assertIsNone(rbac.check_escalation(ADMIN, TUTORIAL_ROLE, store))
        self.assertIsNone(rbac.check_escalation(ADMIN, TUTORIAL_BINDING, store))
        store = Store([TUTORIAL_ROLE, TUTORIAL_BINDING])
        # the SA holds the tutorial role, so it may create the same binding again elsewhere
        self.assertIsNone(rbac.check_escalation(SA, crb("copy", "api-cluster-role",
                                                        subj("User", "x")), store))
        self.assertIsNotNone(rbac.check_escalation(SA, crb("copy", "cluster-admin",
                                                           subj("User", "x")), store))


# --------------------------------------------------------- default objects

class Defaults(unittest.TestCase):

    def test_shape(self):
        objs = rbac.default_objects()
        names = {(o["kind"], o["metadata"]["name"]) for o in objs}
        for n in ("cluster-admin", "admin", "edit", "view", "system:discovery",
                  "system:basic-user", "system:public-info-viewer"):
            self.assertIn(("ClusterRole", n), names)
        for n in ("cluster-admin", "system:discovery", "system:basic-user",
                  "system:public-info-viewer"):
            self.assertIn(("ClusterRoleBinding", n), names)
        for o in objs:
            self.assertEqual(o["apiVersion"], "rbac.authorization.k8s.io/v1")
            self.assertEqual(o["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults")
            self.assertEqual(o["metadata"]["annotations"],
                             {"rbac.authorization.kubernetes.io/autoupdate": "true"})
            self.assertNotIn("namespace", o["metadata"])
        by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
        self.assertEqual(by[("ClusterRoleBinding", "cluster-admin")]["subjects"],
                         [{"kind": "Group", "apiGroup": G, "name": "system:masters"}])
        self.assertEqual([s["name"] for s in
                          by[("ClusterRoleBinding", "system:public-info-viewer")]["subjects"]],
                         ["system:authenticated", "system:unauthenticated"])
        self.assertEqual(by[("ClusterRole", "cluster-admin")]["rules"],
                         [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                          {"verbs": ["*"], "nonResourceURLs": ["*"]}])
        # aggregated roles come pre-filled
        self.assertTrue(by[("ClusterRole", "admin")]["rules"])
        self.assertIn("aggregationRule", by[("ClusterRole", "view")])
        # fresh copies on every call
        objs[0]["metadata"]["name"] = "changed"
        self.assertEqual(rbac.default_objects()[0]["metadata"]["name"], "cluster-admin")

    def test_masters_everything_via_rbac(self):
        store = Store([])
        # even without the privileged-group short cut, the binding grants everything
        masters = user("m", "system:masters")
        st = rbac.rules_review(masters, "x", store)
        self.assertIn({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, st["resourceRules"])

    def test_fresh_service_account_only_basics(self):
        store = Store([])
        u = sa_user("ns", "fresh")
        allowed = [url("/api"), url("/apis"), url("/version"), url("/healthz"),
                   url("/openid/v1/jwks"),
                   res("create", "selfsubjectaccessreviews", group="authorization.k8s.io"),
                   res("create", "selfsubjectreviews", group="authentication.k8s.io")]
        denied = [res("get", "secrets", ns="ns", name="s"), res("list", "pods", ns="ns"),
                  res("list", "namespaces"), res("create", "namespaces"),
                  res("get", "serviceaccounts", ns="ns", name="fresh"),
                  res("create", "serviceaccounts", ns="ns", name="fresh", sub="token"),
                  res("list", "clusterroles", group=G), url("/metrics"), url("/logs")]
        for a in allowed:
            with self.subTest(a):
                self.assertTrue(rbac.authorize(u, a, store)[0])
        for a in denied:
            with self.subTest(a):
                self.assertEqual(rbac.authorize(u, a, store), (False, ""))
        # a plain authenticated user has no issuer-discovery right
        self.assertFalse(rbac.authorize(user("x"), url("/openid/v1/jwks"), store)[0])


if __name__ == "__main__":
    unittest.main()
