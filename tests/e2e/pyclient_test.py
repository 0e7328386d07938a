#!/usr/bin/python3
"""A second real client: Debian's python3-kubernetes lists namespaces against kubesim,
with the admin kubeconfig (client certificate) and with a service-account token.
Run under tests/with-kubesim."""
import base64
import os
import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException

fails = 0


def check(desc, ok, detail=""):
    global fails
    print(("ok   - " if ok else "FAIL - ") + desc + ("" if ok else ": " + str(detail)))
    if not ok:
        fails += 1


d = os.environ["KUBESIM_DIR"]
url = os.environ["KUBESIM_URL"]

# 1. admin kubeconfig (client certificate in system:masters)
config.load_kube_config(config_file=os.path.join(d, "kubeconfig"))
core = client.CoreV1Api()
names = [n.metadata.name for n in core.list_namespace().items]
check("admin lists namespaces", "kube-system" in names and "default" in names, names)

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-ns")))
core.create_namespaced_service_account("py-ns", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
rbac = client.RbacAuthorizationV1Api()
rbac.create_cluster_role(client.V1ClusterRole(
    metadata=client.V1ObjectMeta(name="ns-reader"),
    rules=[client.V1PolicyRule(api_groups=[""], resources=["namespaces"], verbs=["get", "list"])]))
rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
    metadata=client.V1ObjectMeta(name="ns-reader"),
    role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="ns-reader"),
    subjects=[client.V1Subject(kind="ServiceAccount", name="reader", namespace="py-ns")]))
core.create_namespaced_secret("py-ns", client.V1Secret(
    metadata=client.V1ObjectMeta(name="reader-token", annotations={"kubernetes.io/service-account.name": "reader"}),
    type="kubernetes.io/service-account-token"))
token = None
for _ in range(100):  # the token controller is asynchronous (bounded: 10 s)
    s = core.read_namespaced_secret("reader-token", "py-ns")
    if s.data and s.data.get("token"):
        token = base64.b64decode(s.data["token"]).decode()
        break
    time.sleep(0.1)
check("token controller filled the secret", token is not None)

# 2. the service-account token, as a monitoring tool would use it
cfg = client.Configuration()
cfg.host = url
cfg.ssl_ca_cert = os.path.join(d, "ca.crt")
cfg.api_key = {"authorization": "Bearer " + (token or "")}
sa_core = client.CoreV1Api(client.ApiClient(cfg))
names = [n.metadata.name for n in sa_core.list_namespace().items]
check("SA token lists namespaces", "py-ns" in names, names)
try:
    sa_core.list_namespaced_secret("py-ns")
    check("SA token may not list secrets", False, "allowed")
except ApiException as e:
    check("SA token may not list secrets", e.status == 403 and "cannot list resource \\\"secrets\\\"" in e.body, e.body)

# 3. a TokenRequest token works too
tr = core.create_namespaced_service_account_token("reader", "py-ns", client.AuthenticationV1TokenRequest(
    spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)))
cfg2 = client.Configuration()
cfg2.host = url
cfg2.ssl_ca_cert = os.path.join(d, "ca.crt")
cfg2.api_key = {"authorization": "Bearer " + tr.status.token}
names = [n.metadata.name for n in client.CoreV1Api(client.ApiClient(cfg2)).list_namespace().items]
check("TokenRequest token lists namespaces", "py-ns" in names, names)

# 4. a bad token is a 401 with the real Status body
cfg3 = client.Configuration()
cfg3.host = url
cfg3.ssl_ca_cert = os.path.join(d, "ca.crt")
cfg3.api_key = {"authorization": "Bearer nope"}
try:
    client.CoreV1Api(client.ApiClient(cfg3)).list_namespace()
    check("bad token is 401", False, "allowed")
except ApiException as e:
    check("bad token is 401", e.status == 401 and '"reason":"Unauthorized"' in e.body, e.body)

# 5. watch through the client library (bounded by timeout_seconds)
from kubernetes import watch
w = watch.Watch()
seen = [ev["object"].metadata.name for ev in w.stream(core.list_namespace, timeout_seconds=1)]
check("watch streams namespaces", "py-ns" in seen, seen)

print("all checks passed" if not fails else "%d check(s) failed" % fails)
sys.exit(1 if fails else 0)
