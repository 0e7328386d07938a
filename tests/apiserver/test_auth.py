"""kubesim: authentication kinds, 401/403 bodies, impersonation, review APIs, TokenRequest, token controller."""
import base64
import json
import time
import unittest

from kubesim_lib.testing import Sim
from kubesim_lib.tokens import b64url_decode

UNAUTHORIZED = b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}'


def claims(tok):
    return json.loads(b64url_decode(tok.split(".")[1]))


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim("--token-delay", "0.05")
        s = cls.s
        s.ns("auth")
        s.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {"metadata": {"name": "ns-reader"},
               "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}]})
        s.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {"metadata": {"name": "ns-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ns-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "auth"}]})
        cls.legacy = s.sa_token_secret("auth", "reader", "reader-token")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_admin_token_and_cert(self):
        self.assertEqual(self.s.get("/api/v1/namespaces").status, 200)
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=None, ctx=self.s.cert_context())
        self.assertEqual(r.json["status"]["userInfo"], {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
        self.assertEqual(r.json["status"]["userInfo"]["username"], "kubesim-admin")

    def test_anonymous(self):
        r = self.s.get("/api/v1/namespaces", token=None)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["message"], 'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope')
        self.assertEqual(self.s.get("/version", token=None).status, 200)
        self.assertEqual(self.s.get("/healthz", token=None).status, 200)
        r = self.s.get("/api", token=None)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["message"], 'forbidden: User "system:anonymous" cannot get path "/api"')

    def test_bad_credentials_401(self):
        for tok in ("garbage", self.legacy + "x", base64.b64encode(self.legacy.encode()).decode()):
            r = self.s.get("/api/v1/namespaces", token=tok)
            self.assertEqual((r.status, r.raw), (401, UNAUTHORIZED))
        r = self.s.get("/api/v1/namespaces", token=None, headers={"Authorization": "Basic Zm9vOmJhcg=="})
        self.assertEqual(r.status, 401)

    def test_legacy_token(self):
        c = claims(self.legacy)
        self.assertEqual(c["iss"], "kubernetes/serviceaccount")
        self.assertEqual(c["sub"], "system:serviceaccount:auth:reader")
        self.assertEqual(c["kubernetes.io/serviceaccount/secret.name"], "reader-token")
        for k in ("exp", "iat", "aud"):
            self.assertNotIn(k, c)
        hdr = json.loads(b64url_decode(self.legacy.split(".")[0]))
        self.assertEqual(hdr["alg"], "RS256")
        self.assertTrue(hdr["kid"])
        r = self.s.get("/api/v1/namespaces", token=self.legacy)
        self.assertEqual((r.status, r.json["kind"]), (200, "NamespaceList"))
        r = self.s.get("/api/v1/namespaces/auth/secrets", token=self.legacy)
        self.assertEqual(r.json["message"], 'secrets is forbidden: User "system:serviceaccount:auth:reader" cannot list resource "secrets" in API group "" in the namespace "auth"')
        sec = self.s.get("/api/v1/namespaces/auth/secrets/reader-token").json
        sa = self.s.get("/api/v1/namespaces/auth/serviceaccounts/reader").json
        self.assertEqual(sec["metadata"]["annotations"]["kubernetes.io/service-account.uid"], sa["metadata"]["uid"])
        self.assertEqual(base64.b64decode(sec["data"]["namespace"]), b"auth")
        self.assertTrue(base64.b64decode(sec["data"]["ca.crt"]).startswith(b"-----BEGIN CERTIFICATE-----"))

    def test_legacy_token_dies_with_secret_or_sa(self):
        tok = self.s.sa_token_secret("auth", "short", "short-token")
        self.assertEqual(self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=tok).status, 201)
        self.s.delete("/api/v1/namespaces/auth/secrets/short-token")
        self.assertEqual(self.s.get("/version", token=tok).status, 401)
        tok = self.s.sa_token_secret("auth", "short2", "short2-token")
        self.s.delete("/api/v1/namespaces/auth/serviceaccounts/short2")
        self.assertEqual(self.s.get("/version", token=tok).status, 401)
        self.s.wait_for(lambda: self.s.get("/api/v1/namespaces/auth/secrets/short2-token").status == 404)
        # recreating the SA gives a new uid: the old token stays dead
        tok = self.s.sa_token_secret("auth", "short3", "short3-token")
        sec = self.s.get("/api/v1/namespaces/auth/secrets/short3-token").json
        self.s.delete("/api/v1/namespaces/auth/serviceaccounts/short3")
        self.s.post("/api/v1/namespaces/auth/serviceaccounts", {"metadata": {"name": "short3"}})
        self.assertEqual(self.s.get("/version", token=tok).status, 401)
        # editing data.token kills it too
        tok = self.s.sa_token_secret("auth", "short4", "short4-token")
        sec = self.s.get("/api/v1/namespaces/auth/secrets/short4-token").json
        sec["data"]["token"] = base64.b64encode(b"other").decode()
        self.s.put("/api/v1/namespaces/auth/secrets/short4-token", sec)
        self.assertEqual(self.s.get("/version", token=tok).status, 401)

    def test_legacy_token_tracking(self):
        tok = self.s.sa_token_secret("auth", "tracked", "tracked-token")
        self.assertEqual(self.s.get("/api", token=tok).status, 200)
        labels = self.s.get("/api/v1/namespaces/auth/secrets/tracked-token").json["metadata"]["labels"]
        self.assertRegex(labels["kubernetes.io/legacy-token-last-used"], r"^\d{4}-\d\d-\d\d$")
        self.assertIsNone(self.s.get("/api", token=tok).headers["Warning"])
        # listed in sa.secrets (as auto-generated ones were): the apiserver warns
        sa = self.s.get("/api/v1/namespaces/auth/serviceaccounts/tracked").json
        sa["secrets"] = [{"name": "tracked-token"}]
        self.s.put("/api/v1/namespaces/auth/serviceaccounts/tracked", sa)
        self.assertIn("instead of auto-generated secret-based tokens", self.s.get("/api", token=tok).headers["Warning"])
        sec = self.s.get("/api/v1/namespaces/auth/secrets/tracked-token").json
        sec["metadata"]["labels"]["kubernetes.io/legacy-token-invalid-since"] = "2026-01-01"
        self.s.put("/api/v1/namespaces/auth/secrets/tracked-token", sec)
        self.assertEqual(self.s.get("/api", token=tok).status, 401)

    def test_token_controller(self):
        # no secrets for new SAs; a secret for a missing SA is deleted
        self.s.post("/api/v1/namespaces/auth/serviceaccounts", {"metadata": {"name": "plain"}})
        time.sleep(0.2)
        secrets = self.s.get("/api/v1/namespaces/auth/secrets").json["items"]
        self.assertFalse([x for x in secrets if "plain" in x["metadata"]["name"]])
        self.assertEqual(self.s.get("/api/v1/namespaces/auth/serviceaccounts/plain").json.get("secrets"), None)
        r = self.s.post("/api/v1/namespaces/auth/secrets", {"metadata": {"name": "orphan", "annotations": {
            "kubernetes.io/service-account.name": "nobody"}}, "type": "kubernetes.io/service-account-token"})
        self.assertEqual(r.status, 201)
        self.assertNotIn("data", r.json)  # filled asynchronously, not at create time
        self.s.wait_for(lambda: self.s.get("/api/v1/namespaces/auth/secrets/orphan").status == 404)

    def test_token_request(self):
        r = self.s.post("/api/v1/namespaces/auth/serviceaccounts/reader/token", {})
        self.assertEqual(r.status, 201)
        st = r.json["status"]
        c = claims(st["token"])
        self.assertEqual(c["exp"] - c["iat"], 3600)
        self.assertEqual(c["aud"], ["https://kubernetes.default.svc.cluster.local"])
        self.assertEqual(c["kubernetes.io"]["serviceaccount"]["name"], "reader")
        self.assertEqual(r.json["spec"]["expirationSeconds"], 3600)
        self.assertEqual(self.s.get("/api/v1/namespaces", token=st["token"]).status, 200)
        # other audiences are not accepted by the API
        r = self.s.post("/api/v1/namespaces/auth/serviceaccounts/reader/token", {"spec": {"audiences": ["vault"]}})
        self.assertEqual(self.s.get("/api/v1/namespaces", token=r.json["status"]["token"]).status, 401)
        r = self.s.post("/api/v1/namespaces/auth/serviceaccounts/reader/token", {"spec": {"expirationSeconds": 599}})
        self.assertEqual(r.json["message"], 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes')
        r = self.s.post("/api/v1/namespaces/auth/serviceaccounts/ghost/token", {})
        self.assertEqual((r.status, r.json["message"]), (404, 'serviceaccounts "ghost" not found'))

    def test_bound_token_revoked_with_sa(self):
        self.s.post("/api/v1/namespaces/auth/serviceaccounts", {"metadata": {"name": "temp"}})
        tok = self.s.post("/api/v1/namespaces/auth/serviceaccounts/temp/token", {}).json["status"]["token"]
        self.assertEqual(self.s.get("/version", token=tok).status, 200)
        self.s.delete("/api/v1/namespaces/auth/serviceaccounts/temp")
        self.assertEqual(self.s.get("/version", token=tok).status, 401)

    def test_token_review(self):
        r = self.s.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": self.legacy}})
        self.assertEqual(r.status, 201)
        self.assertTrue(r.json["status"]["authenticated"])
        self.assertEqual(r.json["status"]["user"]["username"], "system:serviceaccount:auth:reader")
        r = self.s.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": "junk"}})
        self.assertNotIn("authenticated", r.json["status"])
        self.assertEqual(r.json["status"]["user"], {})
        r = self.s.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {}})
        self.assertEqual((r.status, r.json["message"]), (400, "token is required for TokenReview in authentication"))
        # the reader SA may not create tokenreviews
        self.assertEqual(self.s.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": "x"}}, token=self.legacy).status, 403)

    def test_access_reviews(self):
        r = self.s.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": {"resourceAttributes": {"verb": "list", "resource": "namespaces"}}}, token=self.legacy)
        self.assertEqual(r.status, 201)
        self.assertTrue(r.json["status"]["allowed"])
        self.assertIn("ClusterRoleBinding \"ns-reader\"", r.json["status"]["reason"])
        r = self.s.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": {"resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "auth"}}}, token=self.legacy)
        self.assertEqual(r.json["status"], {"allowed": False})
        r = self.s.post("/apis/authorization.k8s.io/v1/subjectaccessreviews",
                        {"spec": {"user": "system:serviceaccount:auth:reader", "resourceAttributes": {"verb": "list", "resource": "namespaces"}}})
        self.assertTrue(r.json["status"]["allowed"])
        r = self.s.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {"spec": {"resourceAttributes": {"verb": "get"}}})
        self.assertEqual(r.json["message"], 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified')
        r = self.s.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {"spec": {"namespace": "auth"}}, token=self.legacy)
        rules = r.json["status"]["resourceRules"]
        self.assertIn({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["namespaces"]}, rules)
        r = self.s.post("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {"spec": {}})
        self.assertEqual((r.status, r.json["message"]), (400, "no namespace on request"))
        r = self.s.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}}, token=self.legacy)
        self.assertTrue(r.json["status"]["allowed"])

    def test_impersonation(self):
        h = {"Impersonate-User": "system:serviceaccount:auth:reader"}
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, headers=h)
        self.assertEqual(r.json["status"]["userInfo"]["groups"], ["system:serviceaccounts", "system:serviceaccounts:auth", "system:authenticated"])
        r = self.s.get("/api/v1/namespaces/auth/secrets", headers=h)
        self.assertEqual(r.status, 403)
        h = {"Impersonate-User": "alice", "Impersonate-Group": "devs", "Impersonate-Extra-Scopes": "a"}
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, headers=h)
        self.assertEqual(r.json["status"]["userInfo"], {"username": "alice", "groups": ["devs", "system:authenticated"], "extra": {"scopes": ["a"]}})
        # the reader may not impersonate
        r = self.s.get("/api/v1/namespaces", token=self.legacy, headers={"Impersonate-User": "alice"})
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["message"], 'users "alice" is forbidden: User "system:serviceaccount:auth:reader" cannot impersonate resource "users" in API group "" at the cluster scope')
        r = self.s.get("/api/v1/namespaces", headers={"Impersonate-Group": "devs"})
        self.assertEqual(r.status, 500)
        # granting impersonate on one SA through a namespaced Role
        self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/roles", {"metadata": {"name": "imp"},
                    "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"], "resourceNames": ["plain2"]}]})
        self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/rolebindings", {"metadata": {"name": "imp"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "imp"},
                    "subjects": [{"kind": "ServiceAccount", "name": "reader"}]})
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=self.legacy,
                        headers={"Impersonate-User": "system:serviceaccount:auth:plain2"})
        self.assertEqual((r.status, r.json["status"]["userInfo"]["username"]), (201, "system:serviceaccount:auth:plain2"))

    def test_escalation_prevention(self):
        # reader holds get/list namespaces; it may not create a role granting secrets even if allowed to write roles
        self.s.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {"metadata": {"name": "role-writer"},
                    "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create"]}]})
        self.s.post("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {"metadata": {"name": "role-writer"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "role-writer"},
                    "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "auth"}]})
        r = self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/roles", {"metadata": {"name": "grab"},
                        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}, token=self.legacy)
        self.assertEqual(r.status, 403)
        self.assertTrue(r.json["message"].startswith('roles.rbac.authorization.k8s.io "grab" is forbidden: user "system:serviceaccount:auth:reader"'), r.json["message"])
        r = self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/roles", {"metadata": {"name": "ok"},
                        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]}, token=self.legacy)
        self.assertEqual(r.status, 201, r)

    def test_rbac_changes_take_effect_at_once(self):
        tok = self.s.sa_token_secret("auth", "flip", "flip-token")
        path = "/api/v1/namespaces/auth/configmaps"
        self.assertEqual(self.s.get(path, token=tok).status, 403)
        self.s.post("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/rolebindings", {"metadata": {"name": "flip"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                    "subjects": [{"kind": "ServiceAccount", "name": "flip"}]})
        self.assertEqual(self.s.get(path, token=tok).status, 200)
        self.assertEqual(self.s.get("/api/v1/namespaces/default/configmaps", token=tok).status, 403)
        self.s.delete("/apis/rbac.authorization.k8s.io/v1/namespaces/auth/rolebindings/flip")
        self.assertEqual(self.s.get(path, token=tok).status, 403)

    def test_faults_endpoint_is_admin_only(self):
        r = self.s.post("/kubesim/faults", {"spec": "seed=1"}, token=self.legacy)
        self.assertEqual(r.status, 403)


if __name__ == "__main__":
    unittest.main()
