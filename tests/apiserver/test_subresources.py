"""kubesim: subresources (status, scale, finalize, token binding), deletecollection, LocalSubjectAccessReview,
Table watch, HEAD."""
import http.client
import json
import unittest

from kubesim_lib.testing import Sim
from kubesim_lib.tokens import b64url_decode

DEP = "/apis/apps/v1/namespaces/sub/deployments"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def deployment(name, replicas=1):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}}}


class SubresourceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim("--rollout-delay", "0.05", "--token-delay", "0")
        cls.s.ns("sub")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_status_and_rollout(self):
        self.s.post(DEP, deployment("st", 2))
        d = self.s.wait_for(lambda: (self.s.get(DEP + "/st").json.get("status") or {}).get("readyReplicas") == 2 and self.s.get(DEP + "/st").json)
        self.assertEqual(d["status"]["observedGeneration"], 1)
        self.assertEqual([c["type"] for c in d["status"]["conditions"]], ["Available", "Progressing"])
        # a PUT of the main resource cannot change status
        d["status"]["readyReplicas"] = 99
        r = self.s.put(DEP + "/st", d)
        self.assertEqual(r.json["status"]["readyReplicas"], 2)
        # the status subresource can, and leaves spec alone
        r = self.s.patch(DEP + "/st/status", {"status": {"readyReplicas": 1}, "spec": {"replicas": 7}})
        self.assertEqual((r.json["status"]["readyReplicas"], r.json["spec"]["replicas"]), (1, 2))

    def test_scale(self):
        self.s.post(DEP, deployment("sc", 1))
        r = self.s.get(DEP + "/sc/scale")
        self.assertEqual((r.json["kind"], r.json["apiVersion"], r.json["spec"]), ("Scale", "autoscaling/v1", {"replicas": 1}))
        self.assertEqual(r.json["status"]["selector"], "app=sc")
        r = self.s.patch(DEP + "/sc/scale", {"spec": {"replicas": 4}})
        self.assertEqual(r.json["spec"]["replicas"], 4)
        self.assertEqual(self.s.get(DEP + "/sc").json["spec"]["replicas"], 4)
        r = self.s.patch(DEP + "/sc/scale", {"spec": {"replicas": -1}})
        self.assertEqual(r.status, 422)

    def test_unknown_subresource(self):
        self.assertEqual(self.s.get("/api/v1/namespaces/sub/configmaps/x/status").status, 404)

    def test_delete_collection(self):
        for i in range(3):
            self.s.post("/api/v1/namespaces/sub/configmaps", {"metadata": {"name": "dc%d" % i, "labels": {"dc": "yes" if i < 2 else "no"}}})
        r = self.s.delete("/api/v1/namespaces/sub/configmaps?labelSelector=dc%3Dyes")
        self.assertEqual((r.status, r.json["kind"]), (200, "ConfigMapList"))
        self.assertEqual(sorted(o["metadata"]["name"] for o in r.json["items"]), ["dc0", "dc1"])
        left = [o["metadata"]["name"] for o in self.s.get("/api/v1/namespaces/sub/configmaps?labelSelector=dc").json["items"]]
        self.assertEqual(left, ["dc2"])

    def test_pod_bound_token(self):
        self.s.post("/api/v1/namespaces/sub/serviceaccounts", {"metadata": {"name": "runner"}})
        pod = self.s.post("/api/v1/namespaces/sub/pods", {"metadata": {"name": "p"}, "spec": {
            "serviceAccountName": "runner", "containers": [{"name": "c", "image": "busybox"}]}}).json
        self.assertEqual(pod["status"]["phase"], "Pending")
        r = self.s.post("/api/v1/namespaces/sub/serviceaccounts/runner/token", {"spec": {
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}})
        self.assertEqual(r.status, 201, r)
        tok = r.json["status"]["token"]
        claims = json.loads(b64url_decode(tok.split(".")[1]))
        self.assertEqual(claims["kubernetes.io"]["pod"], {"name": "p", "uid": pod["metadata"]["uid"]})
        who = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=tok).json["status"]["userInfo"]
        self.assertEqual(who["extra"]["authentication.kubernetes.io/pod-name"], ["p"])
        self.s.delete("/api/v1/namespaces/sub/pods/p")
        self.assertEqual(self.s.get("/api", token=tok).status, 401)  # the bound pod is gone
        r = self.s.post("/api/v1/namespaces/sub/serviceaccounts/runner/token", {"spec": {
            "boundObjectRef": {"kind": "Node", "name": "n"}}})
        self.assertEqual(r.status, 400)
        self.s.post("/api/v1/namespaces/sub/pods", {"metadata": {"name": "other"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
        r = self.s.post("/api/v1/namespaces/sub/serviceaccounts/runner/token", {"spec": {
            "boundObjectRef": {"kind": "Pod", "name": "other"}}})
        self.assertEqual(r.json["message"], 'cannot bind token for serviceaccount "runner" to pod running with different serviceaccount name.')

    def test_local_subject_access_review(self):
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
                "metadata": {"namespace": "sub"},
                "spec": {"user": "nobody", "resourceAttributes": {"namespace": "sub", "verb": "get", "resource": "pods"}}}
        r = self.s.post("/apis/authorization.k8s.io/v1/namespaces/sub/localsubjectaccessreviews", body)
        self.assertEqual((r.status, r.json["status"]["allowed"]), (201, False))
        body["spec"]["groups"] = ["system:masters"]
        r = self.s.post("/apis/authorization.k8s.io/v1/namespaces/sub/localsubjectaccessreviews", body)
        self.assertTrue(r.json["status"]["allowed"])

    def test_table_watch_and_get(self):
        r = self.s.get("/api/v1/namespaces/sub", headers={"Accept": TABLE})
        self.assertEqual([c["name"] for c in r.json["columnDefinitions"]], ["Name", "Status", "Age"])
        self.assertEqual(r.json["rows"][0]["cells"][:2], ["sub", "Active"])
        c = http.client.HTTPSConnection("127.0.0.1", self.s.port, context=self.s.ctx, timeout=10)
        c.request("GET", "/api/v1/namespaces/sub/serviceaccounts?watch=1&timeoutSeconds=1",
                  headers={"Authorization": "Bearer " + self.s.admin_token, "Accept": TABLE})
        ev = json.loads(c.getresponse().readline())
        self.assertEqual((ev["type"], ev["object"]["kind"]), ("ADDED", "Table"))
        self.assertEqual(ev["object"]["rows"][0]["cells"][0], "default")
        c.close()

    def test_head(self):
        r = self.s.request("HEAD", "/api/v1/namespaces/default")
        self.assertEqual((r.status, r.raw), (200, b""))
        self.assertGreater(int(r.headers["Content-Length"]), 0)


if __name__ == "__main__":
    unittest.main()
