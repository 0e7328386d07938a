"""kubesim: malformed requests get 4xx Status answers, never a 500 (seeded, bounded random requests)."""
import json
import random
import unittest

from kubesim_lib.testing import Sim

PATHS = [
    "/api/v1/namespaces", "/api/v1/namespaces/x", "/api/v1/namespaces/x/status", "/api/v1/namespaces/default/finalize",
    "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/configmaps/x",
    "/api/v1/namespaces/default/secrets", "/api/v1/namespaces/default/secrets/x",
    "/api/v1/namespaces/default/services", "/api/v1/namespaces/default/services/x",
    "/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/pods/x", "/api/v1/namespaces/default/pods/x/status",
    "/api/v1/namespaces/default/serviceaccounts/default/token",
    "/apis/apps/v1/namespaces/default/deployments", "/apis/apps/v1/namespaces/default/deployments/x",
    "/apis/apps/v1/namespaces/default/deployments/x/scale", "/apis/apps/v1/namespaces/default/deployments/x/status",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/x",
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
    "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
    "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews",
    "/apis/authentication.k8s.io/v1/tokenreviews", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    "/kubesim/faults", "/api", "/apis/apps", "/openapi/v3/api/v1",
]
BODIES = [
    None, 1, "x", [], {}, [1], {"a": None}, True, {"metadata": None}, {"metadata": {"name": "x"}},
    {"metadata": {"name": "x"}, "spec": []}, {"metadata": {"name": "x"}, "rules": "x"},
    {"metadata": {"name": "x"}, "subjects": [1], "roleRef": "r"}, {"spec": {"resourceAttributes": "x"}},
    {"spec": {"token": 1}}, {"spec": {"expirationSeconds": "x"}}, {"spec": {"audiences": "x"}},
    {"metadata": {"name": "x", "labels": {"a": 1}}}, {"metadata": {"name": "x"}, "data": {"a": 1}},
    {"metadata": {"name": "x"}, "spec": {"ports": [{"port": "x"}]}}, {"status": "x"},
    {"metadata": {"name": "x", "finalizers": "x"}}, {"metadata": {"name": "x", "managedFields": [1]}},
    {"metadata": {"name": "x", "managedFields": [{"manager": 1, "fieldsV1": "x"}]}}, {"spec": {"replicas": "3"}},
    [{"op": "add", "path": "/x", "value": 1}], [{"op": "x"}], [{"op": "replace", "path": "/spec", "value": []}],
    [{"op": "replace", "path": "/metadata", "value": "x"}], [{"op": "add", "path": 1}], [{"op": "move", "from": None, "path": "/a"}],
    [{"op": "remove", "path": "/metadata/name"}], [{"op": "copy", "from": "/data", "path": "/spec"}], [1, 2],
    "apiVersion: v1\nkind: ConfigMap\n",
    "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata: [1]\n", "{{{", {"spec": {"boundObjectRef": "x"}},
    {"spec": {"nonResourceAttributes": {"path": 1}}}, {"spec": {"namespace": 1}},
    {"metadata": {"name": "x"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
     "subjects": [{"kind": "User", "name": "u"}]},
    {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}},
    {"type": "kubernetes.io/service-account-token", "metadata": {"name": "x", "annotations": {"kubernetes.io/service-account.name": "default"}}},
    {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
    {"metadata": {"name": "x"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    {"metadata": {"name": "x", "finalizers": ["a/b"]}}, {"metadata": {"finalizers": None}},
    {"metadata": {"name": "x", "finalizers": {}}}, {"metadata": {"name": "x", "labels": []}},
    {"preconditions": {"uid": "x"}}, {"propagationPolicy": 1}, {"spec": "seed=1"}, {"429": 2},
]
QUERIES = ["", "?fieldManager=m", "?dryRun=All", "?dryRun=x", "?watch=1&timeoutSeconds=0", "?limit=1&continue=zzz",
           "?labelSelector=a%20in%20(", "?fieldSelector=metadata.name%3Dx", "?force=true&fieldManager=m",
           "?fieldManager=m&fieldValidation=Strict", "?fieldValidation=x", "?timeoutSeconds=x&watch=1"]
GARBAGE = [None, 1, "x", [], {}, [1], {"a": 1}, True, -1, 1.5, [{}], [None]]


def mutate(rnd, v):
    """Replace one value somewhere inside v by garbage of another JSON type."""
    if isinstance(v, dict):
        v = dict(v)
        if v and rnd.random() < 0.5:
            k = rnd.choice(list(v))
            v[k] = rnd.choice(GARBAGE) if rnd.random() < 0.5 else mutate(rnd, v[k])
        return v
    if isinstance(v, list) and v:
        v = list(v)
        i = rnd.randrange(len(v))
        v[i] = mutate(rnd, v[i])
        return v
    return rnd.choice(GARBAGE)


CTYPES = ["application/json", "application/merge-patch+json", "application/json-patch+json",
          "application/strategic-merge-patch+json", "application/apply-patch+yaml",
          "application/vnd.kubernetes.protobuf", "text/plain"]


class RobustnessTest(unittest.TestCase):
    def test_no_internal_errors(self):
        s = Sim("--token-delay", "0", "--rollout-delay", "0")
        try:
            rnd = random.Random(20261128)
            failures = []
            for _ in range(3000):
                m = rnd.choice(["GET", "POST", "PUT", "PATCH", "DELETE"])
                p = rnd.choice(PATHS) + rnd.choice(QUERIES)
                v = rnd.choice(BODIES)
                if rnd.random() < 0.5:
                    v = mutate(rnd, v)
                body = None if m == "GET" else (v if isinstance(v, str) else json.dumps(v))
                r = s.request(m, p, body, ctype=rnd.choice(CTYPES))
                if r.status >= 500:
                    failures.append((m, p, body, r.status, r.raw[:200]))
                elif r.status >= 400 and r.headers["Content-Type"] == "application/json":
                    self.assertEqual(list(r.json)[:4], ["kind", "apiVersion", "metadata", "status"], r)
            self.assertEqual(failures, [])
            self.assertEqual(s.get("/healthz").status, 200)
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
