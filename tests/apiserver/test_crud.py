"""kubesim: object lifecycle, selectors, paging, optimistic concurrency, dryRun, Status shapes."""
import json
import time
import unittest

from kubesim_lib.testing import Sim

CM = "/api/v1/namespaces/%s/configmaps"


class CrudTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim("--token-delay", "0", "--namespace-delay", "0.2")
        cls.s.ns("crud")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0, "kubesim must exit 0 on SIGTERM"

    def test_create_get_metadata(self):
        r = self.s.post(CM % "crud", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "meta"}, "data": {"a": "1"}})
        self.assertEqual(r.status, 201)
        md = r.json["metadata"]
        self.assertEqual(list(r.json)[:3], ["kind", "apiVersion", "metadata"])
        self.assertRegex(md["uid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(md["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(md["resourceVersion"].isdigit())
        self.assertNotIn("generation", md)
        g = self.s.get(CM % "crud" + "/meta")
        self.assertEqual(g.json, r.json)
        self.assertTrue(g.headers["Audit-Id"])

    def test_already_exists_and_not_found(self):
        body = {"metadata": {"name": "dup"}}
        self.assertEqual(self.s.post(CM % "crud", body).status, 201)
        r = self.s.post(CM % "crud", body)
        self.assertEqual(r.status, 409)
        self.assertEqual(r.raw.decode(), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                         '"message":"configmaps \\"dup\\" already exists","reason":"AlreadyExists",'
                         '"details":{"name":"dup","kind":"configmaps"},"code":409}')
        r = self.s.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/nope")
        self.assertEqual(r.json["message"], 'clusterroles.rbac.authorization.k8s.io "nope" not found')
        self.assertEqual(r.json["details"], {"name": "nope", "group": "rbac.authorization.k8s.io", "kind": "clusterroles"})

    def test_missing_namespace(self):
        r = self.s.post(CM % "ghost", {"metadata": {"name": "x"}})
        self.assertEqual((r.status, r.json["message"]), (404, 'namespaces "ghost" not found'))

    def test_cluster_scoped_drops_namespace(self):
        r = self.s.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "dropns", "namespace": "crud"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
        self.assertEqual(r.status, 201)
        self.assertNotIn("namespace", r.json["metadata"])

    def test_namespace_mismatch(self):
        r = self.s.post(CM % "crud", {"metadata": {"name": "mm", "namespace": "other"}})
        self.assertEqual((r.status, r.json["reason"]), (400, "BadRequest"))
        self.assertEqual(r.json["message"], "the namespace of the provided object does not match the namespace sent on the request")

    def test_invalid(self):
        r = self.s.post(CM % "crud", {"metadata": {"name": "Bad_Name"}})
        self.assertEqual(r.status, 422)
        self.assertTrue(r.json["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'))
        self.assertEqual(r.json["details"]["kind"], "ConfigMap")
        self.assertEqual(r.json["details"]["causes"][0]["reason"], "FieldValueInvalid")
        r = self.s.post("/api/v1/namespaces/crud/secrets", {"metadata": {"name": "t"}, "type": "kubernetes.io/service-account-token"})
        self.assertEqual(r.json["message"], 'Secret "t" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value')
        r = self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/crud/roles", {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]})
        self.assertEqual(r.json["message"], 'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value')

    def test_meta_and_immutable_validation(self):
        r = self.s.post(CM % "crud", {"metadata": {"name": "lv", "labels": {"ok": "bad value!"}}})
        self.assertEqual(r.status, 422)
        self.assertTrue(r.json["message"].startswith('ConfigMap "lv" is invalid: metadata.labels: Invalid value: "bad value!": a valid label must be an empty string'))
        r = self.s.post(CM % "crud", {"metadata": {"name": "lk", "annotations": {"a b": "x"}}})
        self.assertEqual(r.status, 422)
        self.s.post(CM % "crud", {"metadata": {"name": "im"}, "data": {"a": "1"}, "immutable": True})
        r = self.s.patch(CM % "crud" + "/im", {"data": {"a": "2"}})
        self.assertEqual(r.json["message"], 'ConfigMap "im" is invalid: data: Forbidden: field is immutable when `immutable` is set')
        self.assertEqual(self.s.patch(CM % "crud" + "/im", {"metadata": {"labels": {"x": "y"}}}).status, 200)

    def test_update_conflict(self):
        r = self.s.post(CM % "crud", {"metadata": {"name": "cas"}, "data": {"v": "1"}})
        obj = r.json
        obj["data"]["v"] = "2"
        r2 = self.s.put(CM % "crud" + "/cas", obj)
        self.assertEqual(r2.status, 200)
        self.assertNotEqual(r2.json["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"])
        obj["data"]["v"] = "3"  # stale resourceVersion
        r3 = self.s.put(CM % "crud" + "/cas", obj)
        self.assertEqual(r3.status, 409)
        self.assertEqual(r3.json["reason"], "Conflict")
        self.assertEqual(r3.json["message"], 'Operation cannot be fulfilled on configmaps "cas": the object has been '
                         'modified; please apply your changes to the latest version and try again')
        # a no-op update keeps the resourceVersion
        cur = self.s.get(CM % "crud" + "/cas").json
        r4 = self.s.put(CM % "crud" + "/cas", cur)
        self.assertEqual(r4.json["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])

    def test_update_name_mismatch_and_missing(self):
        r = self.s.put(CM % "crud" + "/zz", {"metadata": {"name": "other"}})
        self.assertEqual(r.status, 400)
        r = self.s.put(CM % "crud" + "/zz", {"metadata": {"name": "zz"}})
        self.assertEqual(r.status, 404)

    def test_selectors_and_paging(self):
        self.s.ns("sel")
        for i in range(7):
            self.s.post(CM % "sel", {"metadata": {"name": "c%d" % i, "labels": {"i": str(i), "even": str(i % 2 == 0).lower()}}})
        names = lambda r: [o["metadata"]["name"] for o in r.json["items"]]
        self.assertEqual(names(self.s.get(CM % "sel" + "?labelSelector=even%3Dtrue")), ["c0", "c2", "c4", "c6"])
        self.assertEqual(names(self.s.get(CM % "sel" + "?labelSelector=even!%3Dtrue,i")), ["c1", "c3", "c5"])
        self.assertEqual(names(self.s.get(CM % "sel" + "?labelSelector=i%20in%20(1,2)")), ["c1", "c2"])
        self.assertEqual(names(self.s.get(CM % "sel" + "?labelSelector=i%20notin%20(1,2),i")), ["c0", "c3", "c4", "c5", "c6"])
        self.assertEqual(names(self.s.get(CM % "sel" + "?labelSelector=!i")), ["kube-root-ca.crt"])
        self.assertEqual(names(self.s.get(CM % "sel" + "?fieldSelector=metadata.name%3Dc3")), ["c3"])
        self.assertEqual(len(names(self.s.get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Dsel"))), 8)
        self.assertEqual(self.s.get(CM % "sel" + "?fieldSelector=spec.foo%3Dx").status, 400)
        # limit/continue walk every item exactly once
        seen, cont = [], ""
        for _ in range(10):
            r = self.s.get(CM % "sel" + "?labelSelector=i&limit=3" + ("&continue=" + cont if cont else ""))
            seen += names(r)
            cont = r.json["metadata"].get("continue")
            if not cont:
                break
            self.assertEqual(r.json["metadata"]["remainingItemCount"], 7 - len(seen))
        self.assertEqual(seen, ["c%d" % i for i in range(7)])
        items = self.s.get(CM % "sel").json["items"]
        self.assertNotIn("kind", items[0])  # typed list items carry no kind/apiVersion

    def test_dry_run(self):
        r = self.s.post(CM % "crud" + "?dryRun=All", {"metadata": {"name": "dry"}})
        self.assertEqual(r.status, 201)
        self.assertTrue(r.json["metadata"]["uid"])
        self.assertEqual(self.s.get(CM % "crud" + "/dry").status, 404)
        self.s.post(CM % "crud", {"metadata": {"name": "dry2"}, "data": {"a": "1"}})
        r = self.s.patch(CM % "crud" + "/dry2?dryRun=All", {"data": {"a": "2"}})
        self.assertEqual(r.json["data"]["a"], "2")
        self.assertEqual(self.s.get(CM % "crud" + "/dry2").json["data"]["a"], "1")
        r = self.s.delete(CM % "crud" + "/dry2?dryRun=All")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.s.get(CM % "crud" + "/dry2").status, 200)
        # dry-run validation errors are real errors
        self.assertEqual(self.s.post(CM % "crud" + "?dryRun=All", {"metadata": {"name": "dry2"}}).status, 409)

    def test_delete_status_and_preconditions(self):
        c = self.s.post(CM % "crud", {"metadata": {"name": "gone"}}).json
        r = self.s.delete(CM % "crud" + "/gone", {"preconditions": {"uid": "wrong"}})
        self.assertEqual(r.status, 409)
        r = self.s.delete(CM % "crud" + "/gone", {"propagationPolicy": "Background"})
        self.assertEqual(r.json, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                  "details": {"name": "gone", "kind": "configmaps", "uid": c["metadata"]["uid"]}})
        self.assertEqual(self.s.delete(CM % "crud" + "/gone").status, 404)

    def test_patch_types(self):
        self.s.post(CM % "crud", {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}})
        r = self.s.patch(CM % "crud" + "/p", {"metadata": {"labels": {"a": None}}, "data": {"y": "2"}})
        self.assertEqual((r.json["metadata"]["labels"], r.json["data"]), ({"b": "2"}, {"x": "1", "y": "2"}))
        r = self.s.patch(CM % "crud" + "/p", [{"op": "replace", "path": "/data/x", "value": "9"},
                                               {"op": "remove", "path": "/data/y"}], ctype="application/json-patch+json")
        self.assertEqual(r.json["data"], {"x": "9"})
        r = self.s.patch(CM % "crud" + "/p", [{"op": "test", "path": "/data/x", "value": "0"}], ctype="application/json-patch+json")
        self.assertEqual(r.status, 422)
        r = self.s.patch(CM % "crud" + "/p", {"data": {"z": "3"}}, ctype="application/strategic-merge-patch+json")
        self.assertEqual(r.json["data"], {"x": "9", "z": "3"})
        r = self.s.patch(CM % "crud" + "/p", {"data": {"z": "3"}}, ctype="text/plain")
        self.assertEqual(r.status, 415)
        r = self.s.patch(CM % "crud" + "/missing", {"data": {}})
        self.assertEqual(r.status, 404)
        r = self.s.patch(CM % "crud" + "/p?force=true", {"data": {}})
        self.assertEqual(r.json["message"], 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch')

    def test_strategic_merge_containers(self):
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox:1"}]}}}}
        r = self.s.post("/apis/apps/v1/namespaces/crud/deployments", dep)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["metadata"]["generation"], 1)
        self.assertEqual(r.json["spec"]["replicas"], 1)
        r = self.s.patch("/apis/apps/v1/namespaces/crud/deployments/web", {"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "busybox:2"}, {"name": "a", "$patch": "delete"}]}}}}, ctype="application/strategic-merge-patch+json")
        self.assertEqual([(c["name"], c["image"]) for c in r.json["spec"]["template"]["spec"]["containers"]], [("b", "busybox:2")])
        self.assertEqual(r.json["metadata"]["generation"], 2)
        r = self.s.patch("/apis/apps/v1/namespaces/crud/deployments/web", {"metadata": {"labels": {"x": "y"}}})
        self.assertEqual(r.json["metadata"]["generation"], 2)  # metadata changes do not bump generation

    def test_table(self):
        r = self.s.get("/api/v1/namespaces/default/endpoints?limit=500", headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"})
        self.assertEqual(r.headers["Content-Type"], "application/json;as=Table;v=v1;g=meta.k8s.io")
        self.assertEqual([c["name"] for c in r.json["columnDefinitions"]], ["Name", "Endpoints", "Age"])
        self.assertEqual(r.json["rows"][0]["cells"][:2], ["kubernetes", "127.0.0.1:%d" % self.s.port])
        self.assertEqual(r.json["rows"][0]["object"]["kind"], "PartialObjectMetadata")

    def test_service_defaults(self):
        r = self.s.post("/api/v1/namespaces/crud/services", {"metadata": {"name": "np"},
                        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]}})
        p = r.json["spec"]["ports"][0]
        self.assertEqual((p["protocol"], p["targetPort"]), ("TCP", 80))
        self.assertTrue(30000 <= p["nodePort"] <= 32767)
        self.assertRegex(r.json["spec"]["clusterIP"], r"^10\.96\.")
        r2 = self.s.patch("/api/v1/namespaces/crud/services/np", {"metadata": {"labels": {"a": "b"}}})
        self.assertEqual((r2.json["spec"]["clusterIP"], r2.json["spec"]["ports"][0]["nodePort"]),
                         (r.json["spec"]["clusterIP"], p["nodePort"]))

    def test_kubernetes_service(self):
        r = self.s.get("/api/v1/namespaces/default/services/kubernetes")
        self.assertEqual(r.json["spec"]["clusterIP"], "10.96.0.1")
        self.assertEqual(r.json["spec"]["ports"][0]["targetPort"], self.s.port)

    def test_namespace_lifecycle(self):
        r = self.s.ns("life")
        self.assertEqual(r.json["status"]["phase"], "Active")
        self.assertEqual(r.json["spec"]["finalizers"], ["kubernetes"])
        uid = r.json["metadata"]["uid"]
        self.s.post(CM % "life", {"metadata": {"name": "c"}})
        r = self.s.delete("/api/v1/namespaces/life", {"propagationPolicy": "Background"})
        self.assertEqual((r.status, r.json["kind"], r.json["metadata"]["uid"]), (200, "Namespace", uid))
        self.assertEqual(r.json["status"]["phase"], "Terminating")
        self.assertIn("deletionTimestamp", r.json["metadata"])
        r = self.s.post(CM % "life", {"metadata": {"name": "late"}})
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["message"], 'configmaps "late" is forbidden: unable to create new content in namespace life because it is being terminated')
        self.assertEqual(r.json["details"]["causes"], [{"reason": "NamespaceTerminating", "message": "namespace life is being terminated", "field": "metadata.namespace"}])
        r = self.s.delete("/api/v1/namespaces/life")
        self.assertEqual(r.status, 409)
        self.s.wait_for(lambda: self.s.get("/api/v1/namespaces/life").status == 404, timeout=10)
        self.assertEqual(self.s.get(CM % "life" + "/c").status, 404)
        r = self.s.delete("/api/v1/namespaces/kube-system")
        self.assertEqual(r.json["message"], 'namespaces "kube-system" is forbidden: this namespace may not be deleted')

    def test_namespace_finalize_subresource(self):
        self.s.ns("stuck")
        self.s.post(CM % "stuck", {"metadata": {"name": "h", "finalizers": ["example.com/x"]}})
        self.s.delete("/api/v1/namespaces/stuck")
        self.assertEqual(self.s.delete("/api/v1/namespaces/stuck").status, 409)
        ns = self.s.get("/api/v1/namespaces/stuck").json
        ns["spec"]["finalizers"] = []
        r = self.s.put("/api/v1/namespaces/stuck/finalize", ns)
        self.assertEqual((r.status, r.json["spec"]), (200, {"finalizers": []}))
        self.assertEqual(self.s.get("/api/v1/namespaces/stuck").status, 404)
        # as in etcd, content the finalize skipped is still there when the name comes back
        self.s.ns("stuck")
        self.assertEqual(self.s.get(CM % "stuck" + "/h").status, 200)

    def test_field_validation(self):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fv", "labelz": {}}, "datta": {}}
        r = self.s.post(CM % "crud" + "?fieldValidation=Strict", body)
        self.assertEqual((r.status, r.json["reason"]), (400, "BadRequest"))
        self.assertEqual(r.json["message"], 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding '
                         'error: unknown field "metadata.labelz", unknown field "datta"')
        r = self.s.post(CM % "crud", body)  # no parameter: Warn
        self.assertEqual(r.status, 201)
        self.assertEqual(r.headers["Warning"], '299 - "unknown field \\"metadata.labelz\\"", 299 - "unknown field \\"datta\\""')
        r = self.s.post(CM % "crud" + "?fieldValidation=Ignore", dict(body, metadata={"name": "fv2"}))
        self.assertEqual((r.status, r.headers["Warning"]), (201, None))
        r = self.s.post(CM % "crud" + "?fieldValidation=Sloppy", body)
        self.assertEqual(r.status, 400)

    def test_finalizers(self):
        self.s.ns("fin")
        self.s.post(CM % "fin", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
        r = self.s.delete(CM % "fin" + "/held")
        self.assertEqual((r.status, r.json["kind"]), (200, "ConfigMap"))  # marked, not gone
        self.assertIn("deletionTimestamp", r.json["metadata"])
        self.assertEqual(self.s.get(CM % "fin" + "/held").status, 200)
        self.s.delete("/api/v1/namespaces/fin")

        def reported():
            conds = (self.s.get("/api/v1/namespaces/fin").json.get("status") or {}).get("conditions") or []
            return [c for c in conds if c["type"] == "NamespaceFinalizersRemaining"]
        c = self.s.wait_for(reported)[0]
        self.assertEqual(c["message"], "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances")
        r = self.s.patch(CM % "fin" + "/held", {"metadata": {"finalizers": None}})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.s.get(CM % "fin" + "/held").status, 404)
        self.s.wait_for(lambda: self.s.get("/api/v1/namespaces/fin").status == 404)

    def test_discovery(self):
        agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        r = self.s.get("/apis", headers={"Accept": agg})
        self.assertEqual(r.headers["Content-Type"], "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        self.assertEqual([g["metadata"]["name"] for g in r.json["items"]],
                         ["apps", "authentication.k8s.io", "authorization.k8s.io", "rbac.authorization.k8s.io",
                          "apiextensions.k8s.io"])
        r = self.s.get("/apis")
        self.assertEqual(r.json["kind"], "APIGroupList")
        r = self.s.get("/api/v1")
        by = {x["name"]: x for x in r.json["resources"]}
        self.assertEqual(by["serviceaccounts/token"]["verbs"], ["create"])
        self.assertEqual(by["endpoints"]["shortNames"], ["ep"])
        self.assertFalse(by["namespaces"]["namespaced"])
        self.assertEqual(self.s.get("/openapi/v2").status, 404)
        idx = self.s.get("/openapi/v3").json["paths"]
        doc = self.s.get(idx["apis/rbac.authorization.k8s.io/v1"]["serverRelativeURL"]).json
        patch = doc["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"]["patch"]
        self.assertIn("fieldValidation", [p["name"] for p in patch["parameters"]])
        self.assertEqual(self.s.get("/apis/nope.example/v1").status, 404)
        v = self.s.get("/version", token=None).json
        self.assertEqual((v["major"], v["minor"]), ("1", "32"))
        self.assertEqual(self.s.get("/healthz", token=None).raw, b"ok")
        self.assertIn(b"readyz check passed", self.s.get("/readyz?verbose", token=None).raw)

    def test_request_log(self):
        self.s.post(CM % "crud", {"metadata": {"name": "logged"}, "data": {"k": "v"}})
        self.s.post("/api/v1/namespaces/crud/secrets", {"metadata": {"name": "s"}, "stringData": {"pw": "hunter2"}})
        self.s.patch("/api/v1/namespaces/crud/secrets/s", [{"op": "add", "path": "/data/x", "value": "c2VjcmV0MQ=="}],
                     ctype="application/json-patch+json")
        self.s.patch("/api/v1/namespaces/crud/secrets/s?fieldManager=m",
                     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {y: c2VjcmV0Mg==}\n",
                     ctype="application/apply-patch+yaml")
        log = self.s.log()
        for leak in ("c2VjcmV0MQ==", "c2VjcmV0Mg=="):
            self.assertNotIn(leak, json.dumps(log))
        e = [x for x in log if x["path"] == CM % "crud" and x["method"] == "POST" and x.get("body", {}).get("metadata", {}).get("name") == "logged"][0]
        self.assertEqual((e["verb"], e["status"], e["user"]), ("create", 201, "kubesim-admin"))
        self.assertNotIn("hunter2", json.dumps(log))
        self.assertNotIn(self.s.admin_token, json.dumps(log))


class PublisherRaceTest(unittest.TestCase):
    """The SA/root-ca publishers are asynchronous: Sim.ns waits for them (bounded), so tests that
    list a fresh namespace right away see both, even when the publishers are slow."""

    def test_ns_waits_for_the_publishers(self):
        s = Sim("--publish-delay", "0.5")
        try:
            t0 = time.monotonic()
            r = s.ns("late")
            self.assertEqual(r.status, 201)
            self.assertGreaterEqual(time.monotonic() - t0, 0.45)
            names = lambda p: [o["metadata"]["name"] for o in s.get(p).json["items"]]
            self.assertEqual(names(CM % "late"), ["kube-root-ca.crt"])
            self.assertEqual(names("/api/v1/namespaces/late/serviceaccounts"), ["default"])
            r = s.ns("late")  # a failed create does not wait
            self.assertEqual(r.status, 409)
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
