"""kubesim: server-side apply (fieldManager, managedFields, conflicts, force) and client-side apply patches."""
import json
import unittest

from kubesim_lib.testing import Sim

CM = "/api/v1/namespaces/ssa/configmaps"
APPLY = "application/apply-patch+yaml"


class ApplyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim()
        cls.s.ns("ssa")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def apply(self, name, data, manager="mgr-a", force=False, labels=None):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
        if labels:
            body["metadata"]["labels"] = labels
        q = "?fieldManager=%s%s" % (manager, "&force=true" if force else "")
        return self.s.patch(CM + "/" + name + q, json.dumps(body), ctype=APPLY)

    def test_create_and_managed_fields(self):
        r = self.apply("c1", {"a": "1"})
        self.assertEqual(r.status, 201)
        mf = r.json["metadata"]["managedFields"]
        self.assertEqual(len(mf), 1)
        self.assertEqual((mf[0]["manager"], mf[0]["operation"], mf[0]["fieldsType"]), ("mgr-a", "Apply", "FieldsV1"))
        self.assertEqual(mf[0]["fieldsV1"], {"f:data": {".": {}, "f:a": {}}})
        r = self.apply("c1", {"a": "1"})
        self.assertEqual(r.status, 200)

    def test_yaml_body(self):
        r = self.s.patch(CM + "/y1?fieldManager=yml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y1\ndata:\n  k: v\n", ctype=APPLY)
        self.assertEqual((r.status, r.json["data"]), (201, {"k": "v"}))

    def test_field_manager_required(self):
        r = self.s.patch(CM + "/x", '{"apiVersion":"v1","kind":"ConfigMap"}', ctype=APPLY)
        self.assertEqual(r.raw.decode(), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                         '"PatchOptions.meta.k8s.io \\"\\" is invalid: fieldManager: Required value: is required for apply patch",'
                         '"reason":"Invalid","details":{"group":"meta.k8s.io","kind":"PatchOptions","causes":[{"reason":'
                         '"FieldValueRequired","message":"Required value: is required for apply patch","field":"fieldManager"}]},"code":422}')

    def test_conflict_and_force(self):
        self.apply("c2", {"shared": "1", "mine": "a"}, "mgr-a")
        r = self.apply("c2", {"shared": "2"}, "mgr-b")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json["reason"], "Conflict")
        self.assertEqual(r.json["message"], 'Apply failed with 1 conflict: conflict with "mgr-a" using v1: .data.shared')
        self.assertEqual(r.json["details"]["causes"], [{"reason": "FieldManagerConflict",
                                                        "message": 'conflict with "mgr-a" using v1', "field": ".data.shared"}])
        # the same value is not a conflict: the field becomes shared
        r = self.apply("c2", {"shared": "1"}, "mgr-b")
        self.assertEqual(r.status, 200, r)
        owners = {m["manager"]: m["fieldsV1"] for m in r.json["metadata"]["managedFields"]}
        self.assertEqual(owners["mgr-b"], {"f:data": {".": {}, "f:shared": {}}})
        self.assertIn("f:shared", owners["mgr-a"]["f:data"])
        r = self.apply("c2", {"shared": "3"}, "mgr-b", force=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["data"], {"shared": "3", "mine": "a"})
        owners = {m["manager"]: m["fieldsV1"] for m in r.json["metadata"]["managedFields"]}
        self.assertEqual(owners["mgr-a"], {"f:data": {".": {}, "f:mine": {}}})
        self.assertEqual(owners["mgr-b"], {"f:data": {".": {}, "f:shared": {}}})

    def test_conflict_with_update_manager(self):
        self.s.post(CM + "?fieldManager=kubectl-client-side-apply", {"metadata": {"name": "c3"}, "data": {"k": "old"}})
        r = self.apply("c3", {"k": "new"}, "kubectl")
        self.assertEqual(r.json["message"], 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.k')

    def test_reapply_after_other_writers_is_a_no_op(self):
        r = self.apply("noop", {"a": "1"})
        self.s.patch(CM + "/noop?fieldManager=other", {"metadata": {"labels": {"x": "y"}}})
        rv = self.s.get(CM + "/noop").json["metadata"]["resourceVersion"]
        r = self.apply("noop", {"a": "1"})
        self.assertEqual((r.status, r.json["metadata"]["resourceVersion"]), (200, rv))

    def test_apply_removes_fields_it_no_longer_applies(self):
        self.apply("c4", {"a": "1", "b": "2"})
        r = self.apply("c4", {"a": "1"})
        self.assertEqual(r.json["data"], {"a": "1"})

    def test_update_takes_ownership(self):
        self.apply("c5", {"a": "1"})
        r = self.s.patch(CM + "/c5?fieldManager=editor", {"data": {"a": "2"}})
        owners = {m["manager"]: m for m in r.json["metadata"]["managedFields"]}
        self.assertEqual(owners["editor"]["operation"], "Update")
        self.assertNotIn("mgr-a", owners)  # its only field was taken over

    def test_client_side_apply_patch(self):
        last = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"annotations":{},"name":"csa","namespace":"ssa"},"data":{"a":"1"}}\n'
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "csa", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": last}}, "data": {"a": "1", "b": "2"}}
        self.s.post(CM + "?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", body)
        patch = {"data": {"b": None, "c": "3"}, "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x"}}}
        r = self.s.patch(CM + "/csa?fieldManager=kubectl-client-side-apply", patch, ctype="application/strategic-merge-patch+json")
        self.assertEqual(r.json["data"], {"a": "1", "c": "3"})
        self.assertEqual(r.json["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], "x")

    def test_retain_keys_and_replace(self):
        self.s.post(CM, {"metadata": {"name": "rk", "labels": {"a": "1", "b": "2"}}})
        r = self.s.patch(CM + "/rk", {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
                         ctype="application/strategic-merge-patch+json")
        self.assertEqual(r.json["metadata"]["labels"], {"c": "3"})
        r = self.s.patch(CM + "/rk", {"metadata": {"labels": {"$retainKeys": ["c", "d"], "d": "4"}}},
                         ctype="application/strategic-merge-patch+json")
        self.assertEqual(r.json["metadata"]["labels"], {"c": "3", "d": "4"})

    def test_apply_cluster_scoped_and_dry_run(self):
        body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "ssa-role", "namespace": "ignored"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
        r = self.s.patch("/apis/rbac.authorization.k8s.io/v1/clusterroles/ssa-role?fieldManager=m&dryRun=All",
                         json.dumps(body), ctype=APPLY)
        self.assertEqual(r.status, 201)
        self.assertEqual(self.s.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/ssa-role").status, 404)
        r = self.s.patch("/apis/rbac.authorization.k8s.io/v1/clusterroles/ssa-role?fieldManager=m", json.dumps(body), ctype=APPLY)
        self.assertEqual(r.status, 201)
        self.assertNotIn("namespace", r.json["metadata"])


if __name__ == "__main__":
    unittest.main()
