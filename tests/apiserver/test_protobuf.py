"""Unit tests for kubesim_lib.protobuf (run from tests/apiserver:
/usr/bin/python3 -m unittest -v test_protobuf)."""

import glob
import json
import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from kubesim_lib import protobuf as pb  # noqa: E402


# ------------------------------------------------- a tiny protobuf encoder

def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wt):
    return varint(num << 3 | wt)


def ld(num, payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return key(num, 2) + varint(len(payload)) + payload


def vi(num, n):
    return key(num, 0) + varint(n)


def msg(num, *parts):
    return ld(num, b"".join(parts))


def entry(num, k, v):
    """A map<string, string|bytes> entry."""
    return msg(num, ld(1, k), ld(2, v))


def gogo_meta(name="", namespace="", extra=b""):
    """ObjectMeta as gogo writes it: every non-pointer field, even empty."""
    return msg(1, ld(1, name), ld(2, ""), ld(3, namespace), ld(4, ""), ld(5, ""), ld(6, ""),
               vi(7, 0), ld(8, b""), extra)


def envelope(api_version, kind, raw, encoding="", content_type=""):
    return pb.MAGIC + msg(1, ld(1, api_version), ld(2, kind)) + ld(2, raw) + \
        ld(3, encoding) + ld(4, content_type)


# ---------------------------------------------- captures from kubectl-wire.md

CAPTURES = [
    ("create namespace devops-tools",
     "6b3873000a0f0a02763112094e616d65737061636512240a1c0a0c6465766f70732d746f6f6c7312001a00"
     "22002a0032003800420012001a020a001a002200",
     {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "devops-tools"}}),
    ("create serviceaccount api-service-account -n devops-tools",
     "6b3873000a140a027631120e536572766963654163636f756e7412310a2f0a136170692d73657276696365"
     "2d6163636f756e7412001a0c6465766f70732d746f6f6c7322002a003200380042001a002200",
     {"kind": "ServiceAccount", "apiVersion": "v1",
      "metadata": {"name": "api-service-account", "namespace": "devops-tools"}}),
    ("auth can-i get pods",
     "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563"
     "74416363657373526576696577123c0a100a0012001a0022002a00320038004200121e0a1c0a0764656661"
     "756c7412036765741a0022002a04706f647332003a001a08080012001a0020001a002200",
     {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
      "spec": {"resourceAttributes": {"namespace": "default", "verb": "get",
                                      "resource": "pods"}}}),
    ("auth can-i delete deployments",
     "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563"
     "74416363657373526576696577124a0a100a0012001a0022002a00320038004200122c0a2a0a0764656661"
     "756c74120664656c6574651a046170707322002a0b6465706c6f796d656e747332003a001a080800120"
     "01a0020001a002200",
     {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
      "spec": {"resourceAttributes": {"namespace": "default", "verb": "delete", "group": "apps",
                                      "resource": "deployments"}}}),
    ("create token api-service-account -n devops-tools",
     "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e52657175"
     "657374121a0a100a0012001a0022002a0032003800420012001a040a0012001a002200",
     {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1"}),
    ("auth whoami",
     "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a65"
     "6374526576696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200",
     {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1"}),
]


class Captures(unittest.TestCase):

    def test_documented_captures(self):
        for name, hexbody, want in CAPTURES:
            with self.subTest(name):
                got = pb.decode(bytes.fromhex(hexbody))
                self.assertEqual(got, want)
                self.assertEqual(list(got)[:2], ["kind", "apiVersion"])

    def test_real_kubectl_fixtures_by_hand(self):
        """Expected values written independently of the decoder."""
        G = "rbac.authorization.k8s.io"
        want = {
            "kubectl-can-i-get-healthz.pb": {
                "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}},
            "kubectl-can-i-pods-log.pb": {
                "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": {"resourceAttributes": {"namespace": "devops-tools", "verb": "get",
                                                "resource": "pods", "subresource": "log"}}},
            "kubectl-can-i-list.pb": {
                "kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                "spec": {"namespace": "devops-tools"}},
            "kubectl-create-token-duration-audiences.pb": {
                "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "spec": {"audiences": ["https://example.test", "vault"],
                         "expirationSeconds": 600}},
            "kubectl-create-token-bound-pod.pb": {
                "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p1",
                                            "uid": "1234-uid"}}},
            "kubectl-create-secret-generic.pb": {
                "kind": "Secret", "apiVersion": "v1",
                "metadata": {"name": "s1", "namespace": "devops-tools"},
                "data": {"a": "Yg==", "empty": ""}},
            "kubectl-create-clusterrole-urls.pb": {
                "kind": "ClusterRole", "apiVersion": G + "/v1", "metadata": {"name": "cr1"},
                "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/logs/*"]}]},
            "kubectl-create-rolebinding.pb": {
                "kind": "RoleBinding", "apiVersion": G + "/v1",
                "metadata": {"name": "rb1", "namespace": "devops-tools"},
                "subjects": [{"kind": "User", "apiGroup": G, "name": "jane"},
                             {"kind": "Group", "apiGroup": G, "name": "devs"},
                             {"kind": "ServiceAccount", "name": "api-service-account",
                              "namespace": "devops-tools"}],
                "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"}},
            "kubectl-create-deployment.pb": {
                "kind": "Deployment", "apiVersion": "apps/v1",
                "metadata": {"name": "nginx", "namespace": "devops-tools",
                             "labels": {"app": "nginx"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
                         "template": {"metadata": {"labels": {"app": "nginx"}},
                                      "spec": {"containers": [{
                                          "name": "nginx", "image": "nginx:1.27",
                                          "ports": [{"containerPort": 80}]}]}}}},
            "kubectl-create-service-clusterip.pb": {
                "kind": "Service", "apiVersion": "v1",
                "metadata": {"name": "web", "namespace": "devops-tools",
                             "labels": {"app": "web"}},
                "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80,
                                    "targetPort": 8080}],
                         "selector": {"app": "web"}, "type": "ClusterIP"}},
        }
        for name, expected in want.items():
            with self.subTest(name):
                with open(os.path.join(HERE, "fixtures", name), "rb") as f:
                    self.assertEqual(pb.decode(f.read()), expected)

    def test_encoder_reproduces_namespace_capture(self):
        # the test encoder writes the same bytes as kubectl for the namespace
        raw = gogo_meta("devops-tools") + ld(2, b"") + msg(3, ld(1, ""))
        body = envelope("v1", "Namespace", raw)
        self.assertEqual(body.hex(), CAPTURES[0][1])

    def test_fixture_files(self):
        """Bodies captured from the real kubectl 1.32.4 (fixtures/kubectl-*.pb,
        listed with their request paths in fixtures/kubectl-protobuf-requests.json);
        the sibling .json holds the expected decode (checked by hand when
        captured; the six bodies also in kubectl-wire.md are byte-identical)."""
        files = sorted(glob.glob(os.path.join(HERE, "fixtures", "*.pb")))
        with open(os.path.join(HERE, "fixtures", "kubectl-protobuf-requests.json")) as f:
            index = json.load(f)["requests"]
        self.assertGreaterEqual(len(index), 23)
        for name in index:
            self.assertTrue(os.path.exists(os.path.join(HERE, "fixtures", name)), name)
        by_name = {os.path.basename(p): p for p in files}
        with open(by_name["kubectl-create-namespace.pb"], "rb") as f:
            self.assertEqual(f.read().hex(), CAPTURES[0][1])
        with open(by_name["kubectl-whoami.pb"], "rb") as f:
            self.assertEqual(f.read().hex(), CAPTURES[5][1])
        for path in files:
            with self.subTest(os.path.basename(path)):
                with open(path, "rb") as f:
                    got = pb.decode(f.read())
                self.assertIn("kind", got)
                want_path = path[:-3] + ".json"
                if os.path.exists(want_path):
                    with open(want_path) as f:
                        self.assertEqual(got, json.load(f))


# ------------------------------------------------------------ per kind

class Kinds(unittest.TestCase):

    def test_namespace_full_metadata(self):
        meta = msg(1,
                   ld(1, "ns1"), ld(2, "gen-"), ld(3, ""), ld(5, "uid-1"), ld(6, "42"), vi(7, 3),
                   msg(8, vi(1, 1714557600)),
                   msg(9, vi(1, 1714557660), vi(2, 5)),
                   vi(10, 30),
                   entry(11, "app", "demo"), entry(11, "empty", ""),
                   entry(12, "note", "x=y"),
                   msg(13, ld(1, "Deployment"), ld(3, "d"), ld(4, "u"), ld(5, "apps/v1"),
                       vi(6, 0)),
                   ld(14, "kubernetes"), ld(14, "other"),
                   msg(17, ld(1, "kubectl"), ld(2, "Apply"), ld(3, "v1"),
                       msg(4, vi(1, 0)), ld(6, "FieldsV1"),
                       msg(7, ld(1, b'{"f:metadata":{"f:labels":{}}}'))))
        raw = meta + msg(2, ld(1, "kubernetes")) + msg(3, ld(1, "Active"),
                                                        msg(2, ld(1, "NamespaceContentRemaining"),
                                                            ld(2, "True"), msg(4, vi(1, 86400)),
                                                            ld(5, "R"), ld(6, "m")))
        got = pb.decode(envelope("v1", "Namespace", raw))
        self.assertEqual(got, {
            "kind": "Namespace", "apiVersion": "v1",
            "metadata": {
                "name": "ns1", "generateName": "gen-", "uid": "uid-1", "resourceVersion": "42",
                "generation": 3, "creationTimestamp": "2024-05-01T10:00:00Z",
                "deletionTimestamp": "2024-05-01T10:01:00Z", "deletionGracePeriodSeconds": 30,
                "labels": {"app": "demo", "empty": ""}, "annotations": {"note": "x=y"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d",
                                     "uid": "u", "controller": False}],
                "finalizers": ["kubernetes", "other"],
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                   "time": "1970-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active", "conditions": [{
                "type": "NamespaceContentRemaining", "status": "True",
                "lastTransitionTime": "1970-01-02T00:00:00Z", "reason": "R", "message": "m"}]}})
        self.assertEqual(list(got["metadata"])[:3], ["name", "generateName", "uid"])

    def test_service_account(self):
        raw = gogo_meta("sa", "ns") + msg(2, ld(1, "Secret"), ld(3, "tok"), ld(2, "")) + \
            msg(3, ld(1, "regcred")) + vi(4, 0)
        self.assertEqual(pb.decode(envelope("v1", "ServiceAccount", raw)), {
            "kind": "ServiceAccount", "apiVersion": "v1",
            "metadata": {"name": "sa", "namespace": "ns"},
            "secrets": [{"kind": "Secret", "name": "tok"}],
            "imagePullSecrets": [{"name": "regcred"}],
            "automountServiceAccountToken": False})

    def test_token_request(self):
        raw = gogo_meta() + msg(2, ld(1, "https://example.test"), ld(1, "vault"), vi(4, 600),
                                msg(3, ld(1, "Pod"), ld(2, "v1"), ld(3, "p"), ld(4, "pod-uid"))) + \
            msg(3, ld(1, ""), ld(2, b""))
        self.assertEqual(pb.decode(envelope("authentication.k8s.io/v1", "TokenRequest", raw)), {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "spec": {"audiences": ["https://example.test", "vault"], "expirationSeconds": 600,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p",
                                        "uid": "pod-uid"}}})
        # expirationSeconds is a pointer: an explicit 0 is kept (validation rejects it)
        raw = gogo_meta() + msg(2, vi(4, 0))
        self.assertEqual(pb.decode(envelope("authentication.k8s.io/v1", "TokenRequest", raw))
                         ["spec"], {"expirationSeconds": 0})

    def test_ssar_non_resource_and_selectors(self):
        status = msg(3, vi(1, 0), ld(2, ""), ld(3, ""), vi(4, 0))
        raw = gogo_meta() + msg(2, msg(2, ld(1, "/healthz"), ld(2, "get"))) + status
        self.assertEqual(
            pb.decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw)),
            {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
             "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}})
        attrs = msg(1, ld(1, "ns"), ld(2, "list"), ld(3, ""), ld(4, "v1"), ld(5, "pods"),
                    ld(6, ""), ld(7, ""),
                    msg(8, ld(1, "spec.nodeName=n1")),
                    msg(9, msg(2, ld(1, "app"), ld(2, "In"), ld(3, "a"), ld(3, "b"))))
        got = pb.decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                 gogo_meta() + msg(2, attrs) + status))
        self.assertEqual(got["spec"], {"resourceAttributes": {
            "namespace": "ns", "verb": "list", "version": "v1", "resource": "pods",
            "fieldSelector": {"rawSelector": "spec.nodeName=n1"},
            "labelSelector": {"requirements": [{"key": "app", "operator": "In",
                                                "values": ["a", "b"]}]}}})
        # resourceAttributes present but empty stays present ({}): it is a pointer
        got = pb.decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                 gogo_meta() + msg(2, msg(1)) + status))
        self.assertEqual(got["spec"], {"resourceAttributes": {}})
        # status allowed=true survives
        got = pb.decode(envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                                 gogo_meta() + msg(3, vi(1, 1), ld(2, "ok"))))
        self.assertEqual(got["status"], {"allowed": True, "reason": "ok"})

    def test_subject_access_review(self):
        spec = msg(2, msg(1, ld(1, "ns"), ld(2, "get"), ld(5, "secrets"), ld(7, "db")),
                   ld(3, "system:serviceaccount:ns:sa"), ld(4, "system:serviceaccounts"),
                   ld(4, "system:authenticated"),
                   msg(5, ld(1, "scopes"), msg(2, ld(1, "a"), ld(1, "b"))),
                   msg(5, ld(1, "empty"), ld(2, b"")),
                   ld(6, "uid-9"))
        got = pb.decode(envelope("authorization.k8s.io/v1", "SubjectAccessReview",
                                 gogo_meta() + spec))
        self.assertEqual(got["spec"], {
            "resourceAttributes": {"namespace": "ns", "verb": "get", "resource": "secrets",
                                   "name": "db"},
            "user": "system:serviceaccount:ns:sa",
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "extra": {"scopes": ["a", "b"], "empty": []}, "uid": "uid-9"})
        got = pb.decode(envelope("authorization.k8s.io/v1", "LocalSubjectAccessReview",
                                 gogo_meta(namespace="ns") + spec))
        self.assertEqual(got["metadata"], {"namespace": "ns"})

    def test_self_subject_rules_review(self):
        raw = gogo_meta() + msg(2, ld(1, "devops-tools")) + msg(3, vi(3, 0), ld(4, ""))
        self.assertEqual(
            pb.decode(envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview", raw)),
            {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
             "spec": {"namespace": "devops-tools"}})

    def test_token_review_and_whoami(self):
        raw = gogo_meta() + msg(2, ld(1, "eyJhbGc"), ld(2, "api")) + \
            msg(3, vi(1, 0), msg(2, ld(1, ""), ld(2, "")), ld(3, ""))
        self.assertEqual(pb.decode(envelope("authentication.k8s.io/v1", "TokenReview", raw)), {
            "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "spec": {"token": "eyJhbGc", "audiences": ["api"]}})
        raw = gogo_meta() + msg(2, msg(1, ld(1, "jane"), ld(2, ""), ld(3, "devs")))
        for version in ("v1", "v1beta1", "v1alpha1"):
            got = pb.decode(envelope("authentication.k8s.io/" + version, "SelfSubjectReview", raw))
            self.assertEqual(got["status"], {"userInfo": {"username": "jane", "groups": ["devs"]}})

    def test_secret_and_configmap(self):
        raw = gogo_meta("tok", "ns", entry(12, "kubernetes.io/service-account.name", "sa")) + \
            entry(2, "token", b"\x00\xffjwt") + entry(4, "plain", "text") + \
            ld(3, "kubernetes.io/service-account-token") + vi(5, 1)
        self.assertEqual(pb.decode(envelope("v1", "Secret", raw)), {
            "kind": "Secret", "apiVersion": "v1",
            "metadata": {"name": "tok", "namespace": "ns",
                         "annotations": {"kubernetes.io/service-account.name": "sa"}},
            "immutable": True, "data": {"token": "AP9qd3Q="}, "stringData": {"plain": "text"},
            "type": "kubernetes.io/service-account-token"})
        raw = gogo_meta("cm", "ns") + entry(2, "k", "v") + entry(3, "b", b"\x01")
        self.assertEqual(pb.decode(envelope("v1", "ConfigMap", raw)), {
            "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm", "namespace": "ns"},
            "data": {"k": "v"}, "binaryData": {"b": "AQ=="}})

    def test_rbac_kinds(self):
        rule = msg(2, ld(1, "get"), ld(1, "list"), ld(2, ""), ld(2, "apps"), ld(3, "pods"))
        url_rule = msg(2, ld(1, "get"), ld(5, "/healthz"))
        agg = msg(3, msg(1, entry(1, "rbac.example/aggregate", "true"),
                         msg(2, ld(1, "tier"), ld(2, "Exists"))))
        got = pb.decode(envelope("rbac.authorization.k8s.io/v1", "ClusterRole",
                                 gogo_meta("cr") + rule + url_rule + agg))
        self.assertEqual(got, {
            "kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": "cr"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": ["pods"]},
                      {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
            "aggregationRule": {"clusterRoleSelectors": [{
                "matchLabels": {"rbac.example/aggregate": "true"},
                "matchExpressions": [{"key": "tier", "operator": "Exists"}]}]}})
        binding = gogo_meta("b", "ns") + \
            msg(2, ld(1, "ServiceAccount"), ld(2, ""), ld(3, "sa"), ld(4, "ns")) + \
            msg(3, ld(1, "rbac.authorization.k8s.io"), ld(2, "Role"), ld(3, "r"))
        got = pb.decode(envelope("rbac.authorization.k8s.io/v1", "RoleBinding", binding))
        self.assertEqual(got["subjects"], [{"kind": "ServiceAccount", "name": "sa",
                                            "namespace": "ns"}])
        self.assertEqual(got["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                          "kind": "Role", "name": "r"})
        got = pb.decode(envelope("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", binding))
        self.assertEqual(got["kind"], "ClusterRoleBinding")
        got = pb.decode(envelope("rbac.authorization.k8s.io/v1", "Role", gogo_meta("r", "ns") + rule))
        self.assertEqual(got["rules"][0]["apiGroups"], ["", "apps"])

    def test_deployment_and_pod_spec(self):
        env = [msg(7, ld(1, "A"), ld(2, "B")),
               msg(7, ld(1, "POD"), msg(3, msg(1, ld(1, "v1"), ld(2, "metadata.name")))),
               msg(7, ld(1, "PW"), msg(3, msg(4, msg(1, ld(1, "db-secret")), ld(2, "pw"),
                                             vi(3, 0))))]
        container = msg(2, ld(1, "app"), ld(2, "img:1"), ld(3, "sleep"), ld(4, "3600"), ld(5, ""),
                        msg(6, ld(1, "http"), vi(2, 0), vi(3, 8080), ld(4, "TCP"), ld(5, "")),
                        *env,
                        msg(8, msg(1, ld(1, "cpu"), msg(2, ld(1, "500m"))),
                            msg(2, ld(1, "memory"), msg(2, ld(1, "64Mi")))),
                        msg(9, ld(1, "data"), vi(2, 1), ld(3, "/data")),
                        ld(13, ""), ld(14, "IfNotPresent"), vi(16, 0), vi(17, 0), vi(18, 1),
                        ld(20, ""))
        pod_spec = msg(2, container, ld(3, "Always"), vi(4, 30), ld(6, ""),
                       entry(7, "disk", "ssd"), ld(8, "api-service-account"), ld(9, ""),
                       vi(11, 0), vi(21, 0),
                       msg(22, ld(1, "k"), ld(2, "Exists"), ld(3, ""), ld(4, "NoSchedule")))
        spec = msg(2, vi(1, 0), msg(2, entry(1, "app", "a")),
                   msg(3, msg(1, ld(1, ""), entry(11, "app", "a")), pod_spec),
                   msg(4, ld(1, "RollingUpdate"),
                       msg(2, msg(1, vi(1, 1), vi(2, 0), ld(3, "25%")),
                           msg(2, vi(1, 0), vi(2, 2), ld(3, "")))),
                   vi(5, 0), vi(7, 0))
        status = msg(3, vi(1, 0), vi(2, 0), vi(3, 0), vi(4, 0), vi(5, 0), vi(7, 0))
        got = pb.decode(envelope("apps/v1", "Deployment", gogo_meta("d", "ns") + spec + status))
        self.assertEqual(got, {
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "a"}},
                "template": {
                    "metadata": {"labels": {"app": "a"}},
                    "spec": {
                        "containers": [{
                            "name": "app", "image": "img:1", "command": ["sleep"],
                            "args": ["3600"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "A", "value": "B"},
                                    {"name": "POD", "valueFrom": {"fieldRef": {
                                        "apiVersion": "v1", "fieldPath": "metadata.name"}}},
                                    {"name": "PW", "valueFrom": {"secretKeyRef": {
                                        "name": "db-secret", "key": "pw", "optional": False}}}],
                            "resources": {"limits": {"cpu": "500m"},
                                          "requests": {"memory": "64Mi"}},
                            "volumeMounts": [{"name": "data", "readOnly": True,
                                              "mountPath": "/data"}],
                            "imagePullPolicy": "IfNotPresent", "tty": True}],
                        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                        "nodeSelector": {"disk": "ssd"},
                        "serviceAccountName": "api-service-account",
                        "automountServiceAccountToken": False,
                        "tolerations": [{"key": "k", "operator": "Exists",
                                         "effect": "NoSchedule"}]}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}}}})
        got = pb.decode(envelope("v1", "Pod", gogo_meta("p", "ns") + pod_spec))
        self.assertEqual(got["spec"]["containers"][0]["name"], "app")

    def test_service(self):
        raw = gogo_meta("web", "ns") + msg(2, msg(1, ld(1, "https"), ld(2, "TCP"), vi(3, 443),
                                                 msg(4, vi(1, 1), vi(2, 0), ld(3, "https")),
                                                 vi(5, 30443)),
                                           entry(2, "app", "web"), ld(3, "10.96.0.10"),
                                           ld(18, "10.96.0.10"), ld(4, "NodePort"),
                                           ld(19, "IPv4"), ld(17, "SingleStack"),
                                           ld(22, "Cluster"), vi(12, 0), vi(13, 0)) + \
            msg(3, msg(1))
        self.assertEqual(pb.decode(envelope("v1", "Service", raw)), {
            "kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"ports": [{"name": "https", "protocol": "TCP", "port": 443,
                                "targetPort": "https", "nodePort": 30443}],
                     "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                     "clusterIPs": ["10.96.0.10"], "type": "NodePort", "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}})

    def test_delete_options(self):
        raw = vi(1, 0) + msg(2, ld(1, "u1")) + ld(4, "Background") + ld(5, "All")
        self.assertEqual(pb.decode(envelope("meta.k8s.io/v1", "DeleteOptions", raw)), {
            "kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u1"}, "propagationPolicy": "Background",
            "dryRun": ["All"]})

    def test_negative_and_large_ints(self):
        meta = msg(1, ld(1, "n"), vi(7, -5), vi(10, -1))
        got = pb.decode(envelope("v1", "Namespace", meta))
        self.assertEqual(got["metadata"], {"name": "n", "generation": -5,
                                           "deletionGracePeriodSeconds": -1})
        meta = msg(1, vi(7, (1 << 63) - 1))
        self.assertEqual(pb.decode(envelope("v1", "Namespace", meta))["metadata"],
                         {"generation": (1 << 63) - 1})

    def test_unknown_fields_skipped(self):
        raw = gogo_meta("n") + vi(99, 7) + key(98, 1) + b"\x00" * 8 + key(97, 5) + b"\x00" * 4 + \
            ld(96, b"\xff\xfe") + msg(1, vi(15, 3), ld(16, "cluster"))
        got = pb.decode(envelope("v1", "Namespace", raw))
        self.assertEqual(got, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "n"}})

    def test_envelope_variants(self):
        raw = gogo_meta("n")
        # no contentEncoding/contentType fields at all, and an explicit protobuf contentType
        body = pb.MAGIC + msg(1, ld(1, "v1"), ld(2, "Namespace")) + ld(2, raw)
        self.assertEqual(pb.decode(body)["metadata"], {"name": "n"})
        self.assertEqual(pb.decode(bytearray(envelope("v1", "Namespace", raw, "",
                                                      pb.CONTENT_TYPE)))["metadata"],
                         {"name": "n"})
        self.assertEqual(pb.decode(memoryview(envelope("v1", "Namespace", b""))),
                         {"kind": "Namespace", "apiVersion": "v1"})

    def test_decode_object_and_is_protobuf(self):
        self.assertEqual(pb.decode_object("v1", "Namespace", gogo_meta("x")),
                         {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}})
        self.assertTrue(pb.is_protobuf("application/vnd.kubernetes.protobuf"))
        self.assertTrue(pb.is_protobuf("application/vnd.kubernetes.protobuf; charset=x"))
        self.assertFalse(pb.is_protobuf("application/json"))
        self.assertFalse(pb.is_protobuf(None))


# ------------------------------------------------------------- garbage

class Garbage(unittest.TestCase):

    def assertBad(self, body, fragment):
        with self.assertRaises(ValueError) as cm:
            pb.decode(body)
        self.assertIn(fragment, str(cm.exception))

    def test_cases(self):
        ns = gogo_meta("n")
        cases = [
            ("empty", b"", "magic"),
            ("json", b'{"kind":"Namespace"}', "magic"),
            ("bad magic", b"k8s\x01" + ns, "magic"),
            ("magic only", pb.MAGIC, "apiVersion/kind"),
            ("no kind", pb.MAGIC + msg(1, ld(1, "v1")) + ld(2, ns), "apiVersion/kind"),
            ("unknown kind", envelope("v1", "Node", ns), "no protobuf schema for v1, Kind=Node"),
            ("unknown version", envelope("v2", "Namespace", ns), "no protobuf schema"),
            ("gzip", envelope("v1", "Namespace", ns, "gzip"), "contentEncoding"),
            ("json content type", envelope("v1", "Namespace", ns, "", "application/json"),
             "contentType"),
            ("truncated varint", pb.MAGIC + b"\x08\x80", "truncated varint"),
            ("truncated key", pb.MAGIC + b"\x80", "truncated varint"),
            ("varint too long", pb.MAGIC + b"\x08" + b"\xff" * 11 + b"\x01", "longer than 10"),
            ("length past end", pb.MAGIC + b"\x0a\x05ab", "runs past the end"),
            ("wire type 3", pb.MAGIC + key(5, 3), "wire type 3"),
            ("wire type 4", pb.MAGIC + key(5, 4), "wire type 4"),
            ("wire type 6", pb.MAGIC + key(5, 6), "wire type 6"),
            ("wire type 7", pb.MAGIC + key(5, 7), "wire type 7"),
            ("field zero", pb.MAGIC + b"\x02\x00", "field number 0"),
            ("truncated fixed64", pb.MAGIC + key(9, 1) + b"\x00", "truncated fixed64"),
            ("truncated fixed32", pb.MAGIC + key(9, 5) + b"\x00", "truncated fixed32"),
            ("bad utf8 name", envelope("v1", "Namespace", msg(1, ld(1, b"\xff\xfe"))),
             "invalid UTF-8"),
            ("string as varint", envelope("v1", "Namespace", msg(1, vi(1, 5))),
             "ObjectMeta.name: wire type 0"),
            ("message as varint", envelope("v1", "Namespace", vi(1, 5)),
             "Namespace.metadata: wire type 0"),
            ("bool as bytes", envelope("v1", "ServiceAccount", ld(4, "x")),
             "automountServiceAccountToken: wire type 2"),
            ("nested truncation", envelope("v1", "Namespace", b"\x0a\x03\x0a\x05a"),
             "runs past the end"),
            ("bad fieldsV1", envelope("v1", "Namespace", msg(1, msg(17, msg(7, ld(1, "{nope")))))
             , "fieldsV1"),
            ("bad map entry", envelope("v1", "Namespace", msg(1, msg(11, vi(1, 3)))), "map entry"),
        ]
        for name, body, fragment in cases:
            with self.subTest(name):
                self.assertBad(body, fragment)
        with self.assertRaises(ValueError):
            pb.decode("k8s\x00 text")

    def test_truncations_of_captures(self):
        for _name, hexbody, _want in CAPTURES:
            body = bytes.fromhex(hexbody)
            for n in range(len(body)):
                try:
                    pb.decode(body[:n])
                except ValueError:
                    pass

    def test_random_bytes_only_value_error(self):
        rnd = random.Random(1234)
        seeds = [bytes.fromhex(h) for _n, h, _w in CAPTURES]
        for i in range(3000):
            if i % 2:
                body = pb.MAGIC + bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
            else:
                body = bytearray(rnd.choice(seeds))
                for _ in range(rnd.randrange(1, 4)):
                    body[rnd.randrange(4, len(body))] = rnd.randrange(256)
                body = bytes(body)
            try:
                out = pb.decode(body)
            except ValueError:
                continue
            self.assertIsInstance(out, dict)
            json.dumps(out)  # always JSON-serialisable


if __name__ == "__main__":
    unittest.main()
