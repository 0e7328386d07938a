"""kubesim: CustomResourceDefinitions (validation, status, discovery, OpenAPI) and the custom
resources they serve (CRUD, list, watch, patch, apply, RBAC, namespace cascade, CRD deletion)."""
import copy
import http.client
import json
import random
import unittest

from kubesim_lib.testing import Sim
from test_robustness import CTYPES, mutate

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
W = "/apis/example.com/v1/namespaces/%s/widgets"
AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
SCHEMA = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}


def crd(plural="widgets", group="example.com", kind="Widget", scope="Namespaced", versions=None, **names):
    n = {"plural": plural, "kind": kind}
    n.update(names)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope, "names": n,
                     "versions": versions if versions is not None else
                     [{"name": "v1", "served": True, "storage": True, "schema": SCHEMA}]}}


def widget(name, ns="crd", **fields):
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}}
    if ns:
        body["metadata"]["namespace"] = ns
    body.update(fields)
    return body


class CRDTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim("--token-delay", "0.05")
        cls.s.ns("crd")
        body = crd(shortNames=["wd"], categories=["all"], versions=[
            {"name": "v1beta1", "served": True, "storage": False, "schema": SCHEMA},
            {"name": "v1", "served": True, "storage": True, "schema": SCHEMA,
             "subresources": {"status": {}}}])
        cls.created = cls.s.post(CRDS, body)

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_crd_create_status_and_defaults(self):
        r = self.created
        self.assertEqual(r.status, 201, r)
        o = r.json
        self.assertEqual(o["metadata"]["generation"], 1)
        self.assertEqual(o["metadata"]["finalizers"], ["customresourcecleanup.apiextensions.k8s.io"])
        self.assertEqual(o["spec"]["names"], {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                                              "categories": ["all"], "singular": "widget", "listKind": "WidgetList"})
        self.assertEqual(o["spec"]["conversion"], {"strategy": "None"})
        conds = [(c["type"], c["status"], c["reason"], c["message"]) for c in o["status"]["conditions"]]
        self.assertEqual(conds, [("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                                 ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted")])
        self.assertEqual(o["status"]["acceptedNames"]["listKind"], "WidgetList")
        self.assertEqual(o["status"]["storedVersions"], ["v1"])
        self.assertNotIn("namespace", o["metadata"])
        r = self.s.get(CRDS + "/widgets.example.com", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        self.assertEqual([c["name"] for c in r.json["columnDefinitions"]], ["Name", "Created At"])
        self.assertEqual(self.s.post(CRDS, crd(shortNames=["wd"], categories=["all"])).status, 409)

    def test_crd_validation(self):
        v1 = {"name": "v1", "served": True, "storage": True, "schema": SCHEMA}
        cases = [
            (dict(crd(), metadata={"name": "gadgets.example.com"}),
             'CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.com" is invalid: metadata.name: '
             'Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'),
            (crd(group="example"),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.example" is invalid: spec.group: Invalid value: '
             '"example": should be a domain with at least one dot'),
            (crd(scope="Global"),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: spec.scope: Unsupported '
             'value: "Global": supported values: "Cluster", "Namespaced"'),
            (crd(scope=""),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: spec.scope: Required value'),
            (crd(group="b.example.com", versions=[dict(v1), dict(v1, name="v2")]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.versions: Invalid '
             'value: ["v1","v2"]: must have exactly one version marked as storage version'),
            (crd(group="b.example.com", versions=[dict(v1, storage=False)]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.versions: Invalid '
             'value: ["v1"]: must have exactly one version marked as storage version'),
            (crd(group="b.example.com", versions=[]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.versions: Invalid '
             'value: []: must have exactly one version marked as storage version'),
            (crd(group="b.example.com", versions=[{"name": "v1", "served": True, "storage": True}]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: '
             'spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required'),
            (crd(group="b.example.com", versions=[dict(v1, name="V1")]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.versions[0].name: '
             'Invalid value: "V1": a DNS-1035 label must consist of lower case alphanumeric characters or \'-\', start '
             'with an alphabetic character, and end with an alphanumeric character (e.g. \'my-name\',  or \'abc-123\', '
             'regex used for validation is \'[a-z]([-a-z0-9]*[a-z0-9])?\')'),
            (crd(group="b.example.com", versions=[dict(v1, served=False)]),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.versions: Invalid '
             'value: ["v1"]: must have at least one served version'),
            (crd(group="b.example.com", kind=""),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: [spec.names.kind: '
             'Required value, spec.names.listKind: Required value]'),
            (crd(group="b.example.com", shortNames="wd"),
             'CustomResourceDefinition.apiextensions.k8s.io "widgets.b.example.com" is invalid: spec.names.shortNames: '
             'Invalid value: "wd": must be a list of strings'),
        ]
        for body, msg in cases:
            r = self.s.post(CRDS, body)
            self.assertEqual((r.status, r.json["reason"], r.json["message"]), (422, "Invalid", msg))
        r = self.s.post(CRDS, {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                               "metadata": {"name": "x.example.com"}, "spec": "nope"})
        self.assertEqual(r.status, 422)
        self.assertEqual(self.s.get(CRDS + "/widgets.b.example.com").status, 404)

    def test_crd_immutable_fields(self):
        cur = self.s.get(CRDS + "/widgets.example.com").json
        bad = copy.deepcopy(cur)
        bad["spec"]["scope"] = "Cluster"
        r = self.s.put(CRDS + "/widgets.example.com", bad)
        self.assertEqual((r.status, r.json["message"]), (422, 'CustomResourceDefinition.apiextensions.k8s.io '
                         '"widgets.example.com" is invalid: spec.scope: Invalid value: "Cluster": field is immutable'))

    def test_discovery(self):
        r = self.s.get("/apis")
        g = [x for x in r.json["groups"] if x["name"] == "example.com"][0]
        self.assertEqual(g, {"name": "example.com", "versions": [
            {"groupVersion": "example.com/v1", "version": "v1"},
            {"groupVersion": "example.com/v1beta1", "version": "v1beta1"}],
            "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}})
        self.assertEqual(self.s.get("/apis/example.com").json["kind"], "APIGroup")
        r = self.s.get("/apis", headers={"Accept": AGG})
        item = [x for x in r.json["items"] if x["metadata"]["name"] == "example.com"][0]
        self.assertEqual([v["version"] for v in item["versions"]], ["v1", "v1beta1"])
        res = item["versions"][0]["resources"][0]
        self.assertEqual(res["resource"], "widgets")
        self.assertEqual((res["scope"], res["singularResource"], res["shortNames"], res["categories"]),
                         ("Namespaced", "widget", ["wd"], ["all"]))
        self.assertEqual(res["responseKind"], {"group": "example.com", "version": "v1", "kind": "Widget"})
        self.assertEqual(res["subresources"][0]["subresource"], "status")
        r = self.s.get("/apis/example.com/v1")
        self.assertEqual(r.json["groupVersion"], "example.com/v1")
        self.assertEqual(r.json["resources"][0], {
            "name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["wd"], "categories": ["all"]})
        self.assertEqual(r.json["resources"][1]["name"], "widgets/status")
        self.assertEqual(self.s.get("/apis/example.com/v1beta1").status, 200)
        self.assertEqual(self.s.get("/apis/example.com/v2").status, 404)
        idx = self.s.get("/openapi/v3").json["paths"]
        doc = self.s.get(idx["apis/example.com/v1"]["serverRelativeURL"]).json
        patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
        self.assertEqual(patch["x-kubernetes-group-version-kind"], {"group": "example.com", "version": "v1", "kind": "Widget"})
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])

    def test_custom_resource_crud(self):
        r = self.s.post(W % "crd", widget("w1", spec={"size": 1}, extra={"any": ["thing"]}))
        self.assertEqual(r.status, 201, r)
        o = r.json
        self.assertEqual((o["kind"], o["apiVersion"], o["metadata"]["generation"]), ("Widget", "example.com/v1", 1))
        self.assertEqual(o["extra"], {"any": ["thing"]})  # schema-less: kept as sent
        self.assertEqual(self.s.post(W % "crd", widget("w1")).json["message"], 'widgets.example.com "w1" already exists')
        self.assertEqual(self.s.get(W % "crd" + "/nope").json["message"], 'widgets.example.com "nope" not found')
        # served in the version asked for
        r = self.s.get("/apis/example.com/v1beta1/namespaces/crd/widgets/w1")
        self.assertEqual((r.status, r.json["apiVersion"]), (200, "example.com/v1beta1"))
        # list: unstructured items keep kind and apiVersion
        r = self.s.get(W % "crd")
        self.assertEqual((r.json["kind"], r.json["apiVersion"]), ("WidgetList", "example.com/v1"))
        self.assertEqual([(i["kind"], i["metadata"]["name"]) for i in r.json["items"]], [("Widget", "w1")])
        self.assertEqual(len(self.s.get("/apis/example.com/v1/widgets").json["items"]), 1)
        # update: stale rv conflicts; a spec change bumps generation, a label does not
        cur = self.s.get(W % "crd" + "/w1").json
        stale = dict(cur, spec={"size": 2})
        self.assertEqual(self.s.put(W % "crd" + "/w1", stale).status, 200)
        r = self.s.put(W % "crd" + "/w1", stale)
        self.assertEqual((r.status, r.json["reason"]), (409, "Conflict"))
        r = self.s.patch(W % "crd" + "/w1", {"metadata": {"labels": {"a": "b"}}})
        self.assertEqual((r.status, r.json["metadata"]["generation"]), (200, 2))
        r = self.s.patch(W % "crd" + "/w1", [{"op": "replace", "path": "/spec/size", "value": 3}],
                         ctype="application/json-patch+json")
        self.assertEqual((r.json["spec"], r.json["metadata"]["generation"]), ({"size": 3}, 3))
        r = self.s.patch(W % "crd" + "/w1", {"spec": {"size": 4}}, ctype="application/strategic-merge-patch+json")
        self.assertEqual((r.status, r.json["message"]), (415, "the body of the request was in an unknown format - "
                         "accepted media types include: application/json-patch+json, application/merge-patch+json, "
                         "application/apply-patch+yaml"))
        # status subresource: status ignored on the object, written through /status
        r = self.s.patch(W % "crd" + "/w1", {"status": {"ok": True}})
        self.assertNotIn("status", r.json)
        r = self.s.patch(W % "crd" + "/w1/status", {"status": {"ok": True}})
        self.assertEqual((r.status, r.json["status"]), (200, {"ok": True}))
        self.assertEqual(self.s.get(W % "crd" + "/w1").json["metadata"]["generation"], 3)
        # delete answers a Status
        r = self.s.delete(W % "crd" + "/w1")
        self.assertEqual(r.json["details"], {"name": "w1", "group": "example.com", "kind": "widgets",
                                             "uid": o["metadata"]["uid"]})
        self.assertEqual(self.s.get(W % "crd" + "/w1").status, 404)

    def test_server_side_apply_and_watch(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.s.port, context=self.s.ctx, timeout=10)
        c.request("GET", W % "crd" + "?watch=1&labelSelector=ssa&timeoutSeconds=3",
                  headers={"Authorization": "Bearer " + self.s.admin_token})
        stream = c.getresponse()
        body = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: sw\n  labels: {ssa: '1'}\nspec:\n  size: 1\n"
        r = self.s.patch(W % "crd" + "/sw?fieldManager=a", body, ctype="application/apply-patch+yaml")
        self.assertEqual((r.status, r.json["spec"]), (201, {"size": 1}))
        r = self.s.patch(W % "crd" + "/sw?fieldManager=b", body.replace("size: 1", "size: 2"),
                         ctype="application/apply-patch+yaml")
        self.assertEqual((r.status, r.json["reason"]), (409, "Conflict"))
        r = self.s.patch(W % "crd" + "/sw?fieldManager=b&force=true", body.replace("size: 1", "size: 2"),
                         ctype="application/apply-patch+yaml")
        self.assertEqual((r.status, r.json["spec"]), (200, {"size": 2}))
        self.s.delete(W % "crd" + "/sw")
        evs = [json.loads(stream.readline()) for _ in range(3)]
        self.assertEqual([(e["type"], e["object"]["kind"], e["object"]["spec"]["size"]) for e in evs],
                         [("ADDED", "Widget", 1), ("MODIFIED", "Widget", 2), ("DELETED", "Widget", 2)])
        c.close()

    def test_rbac_on_custom_resources(self):
        s = self.s
        tok = s.sa_token_secret("crd", "wbot", "wbot-token")
        r = s.get(W % "crd", token=tok)
        self.assertEqual((r.status, r.json["message"]), (403, 'widgets.example.com is forbidden: User '
                         '"system:serviceaccount:crd:wbot" cannot list resource "widgets" in API group "example.com" '
                         'in the namespace "crd"'))
        s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/crd/roles", {"metadata": {"name": "widgets"}, "rules": [
            {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "create"]}]})
        s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/crd/rolebindings", {
            "metadata": {"name": "widgets"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "widgets"},
            "subjects": [{"kind": "ServiceAccount", "name": "wbot", "namespace": "crd"}]})
        self.assertEqual(s.post(W % "crd", widget("by-bot"), token=tok).status, 201)
        self.assertEqual(s.get(W % "crd" + "/by-bot", token=tok).status, 200)
        r = s.delete(W % "crd" + "/by-bot", token=tok)
        self.assertEqual(r.status, 403)
        s.delete(W % "crd" + "/by-bot")

    def test_namespace_cascade(self):
        self.s.ns("crd-gone")
        self.assertEqual(self.s.post(W % "crd-gone", widget("in-ns", "crd-gone")).status, 201)
        self.s.delete("/api/v1/namespaces/crd-gone")
        self.s.wait_for(lambda: self.s.get("/api/v1/namespaces/crd-gone").status == 404)
        self.assertEqual(self.s.get(W % "crd-gone" + "/in-ns").status, 404)


class CRDLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.s = Sim()

    def tearDown(self):
        self.assertEqual(self.s.stop(), 0)

    def test_cluster_scoped(self):
        s = self.s
        self.assertEqual(s.post(CRDS, crd("gizmos", "tools.example.org", "Gizmo", "Cluster")).status, 201)
        r = s.post("/apis/tools.example.org/v1/gizmos", widget("g1", None, spec={"a": 1}) | {"apiVersion": "tools.example.org/v1", "kind": "Gizmo"})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("namespace", r.json["metadata"])
        self.assertEqual(s.get("/apis/tools.example.org/v1/namespaces/default/gizmos/g1").status, 404)
        r = s.get("/apis/tools.example.org/v1")
        self.assertFalse(r.json["resources"][0]["namespaced"])

    def test_delete_crd_removes_objects_and_discovery(self):
        s = self.s
        s.ns("x")
        self.assertEqual(s.post(CRDS, crd()).status, 201)
        self.assertEqual(s.post(W % "x", widget("a", "x")).status, 201)
        held = widget("held", "x")
        held["metadata"]["finalizers"] = ["example.com/hold"]
        self.assertEqual(s.post(W % "x", held).status, 201)
        r = s.delete(CRDS + "/widgets.example.com")
        self.assertEqual((r.status, r.json["kind"]), (200, "CustomResourceDefinition"))
        self.assertIn("deletionTimestamp", r.json["metadata"])

        def terminating():
            conds = {c["type"]: c for c in s.get(CRDS + "/widgets.example.com").json["status"]["conditions"]}
            return conds.get("Terminating")
        t = s.wait_for(terminating)
        self.assertEqual((t["status"], t["reason"]), ("True", "InstanceDeletionInProgress"))
        self.assertEqual(s.get(W % "x" + "/a").status, 404)  # deleted; held waits for its finalizer
        r = s.post(W % "x", widget("late", "x"))
        self.assertEqual((r.status, r.json["message"]), (405, "create not allowed while custom resource definition is terminating"))
        s.patch(W % "x" + "/held", {"metadata": {"finalizers": None}})
        s.wait_for(lambda: s.get(CRDS + "/widgets.example.com").status == 404)
        self.assertEqual(s.get(W % "x").status, 404)
        self.assertEqual(s.get("/apis/example.com/v1").status, 404)
        self.assertNotIn("example.com", [g["name"] for g in s.get("/apis").json["groups"]])
        self.assertNotIn("apis/example.com/v1", s.get("/openapi/v3").json["paths"])
        # created again: empty, served again
        self.assertEqual(s.post(CRDS, crd()).status, 201)
        self.assertEqual(s.get(W % "x").json["items"], [])

    def test_malformed_crds_and_custom_resources_never_500(self):
        s = self.s
        rnd = random.Random(1128)
        good_crd = crd("fuzzes", "fuzz.example.com", "Fuzz", shortNames=["fz"],
                       versions=[{"name": "v1", "served": True, "storage": True, "schema": SCHEMA,
                                  "subresources": {"status": {}}}])
        good_cr = widget("f", "crd", spec={"a": [1, {"b": "c"}]}, status={"x": 1})
        good_cr.update(apiVersion="fuzz.example.com/v1", kind="Fuzz")
        self.assertEqual(s.post(CRDS, good_crd).status, 201)
        paths = [(CRDS, good_crd), (CRDS + "/fuzzes.fuzz.example.com", good_crd),
                 (CRDS + "/fuzzes.fuzz.example.com/status", good_crd),
                 ("/apis/fuzz.example.com/v1/namespaces/crd/fuzzes", good_cr),
                 ("/apis/fuzz.example.com/v1/namespaces/crd/fuzzes/f", good_cr),
                 ("/apis/fuzz.example.com/v1/namespaces/crd/fuzzes/f/status", good_cr),
                 ("/apis/fuzz.example.com/v1/fuzzes", good_cr)]
        failures = []
        for _ in range(600):
            m = rnd.choice(["POST", "PUT", "PATCH", "GET", "DELETE"])
            p, good = rnd.choice(paths)
            v = mutate(rnd, mutate(rnd, good)) if rnd.random() < 0.8 else good
            q = rnd.choice(["", "?fieldManager=m", "?dryRun=All", "?fieldManager=m&force=true"])
            r = s.request(m, p + q, None if m == "GET" else json.dumps(v), ctype=rnd.choice(CTYPES))
            if r.status >= 500:
                failures.append((m, p, v, r.status, r.raw[:200]))
        self.assertEqual(failures, [])
        self.assertEqual(s.get("/apis").status, 200)


if __name__ == "__main__":
    unittest.main()
