#!/usr/bin/python3
"""The batch-provisioning workload with the Python client (Debian's
python3-kubernetes), the same request mix as tests/bench/batch.lua: for each
namespace P-1 .. P-N, create the Namespace, a ServiceAccount, a RoleBinding to
the ClusterRole --role (default view) and the token Secret, read the Secret
until the token controller filled it (the usual polling loop: bounded in
tries and time), then one GET as the service account (a new ApiClient with
the token as its bearer and the cluster CA).

  /usr/bin/python3 tests/bench/batch_python.py --count N --prefix P --ca-file CA

stdout gets one JSON line: {"count", "ok", "failed", "seconds" (the loop
alone, without the import and start-up), "import_seconds"}. Errors go to
stderr (the first five); any failure makes the exit status 1. Tokens are
never printed.
"""
import argparse
import base64
import json
import sys
import time

t_import = time.perf_counter()
from kubernetes import client, config  # noqa: E402
t_import = time.perf_counter() - t_import

SA = "bench-sa"
SECRET = SA + "-token"
POLL_SLEEP = 0.005


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--ca-file", required=True, help="the cluster CA, for the service-account clients")
    ap.add_argument("--role", default="view")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each token")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be at least 1")

    config.load_kube_config()
    admin = client.ApiClient()
    host = admin.configuration.host
    core = client.CoreV1Api(admin)
    rbac = client.RbacAuthorizationV1Api(admin)

    def provision(i):
        ns = "%s-%d" % (args.prefix, i)
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        core.create_namespaced_service_account(ns, {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA}})
        rbac.create_namespaced_role_binding(ns, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "%s-%s" % (SA, args.role)},
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": ns}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": args.role}})
        core.create_namespaced_secret(ns, {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": SECRET,
                         "annotations": {"kubernetes.io/service-account.name": SA}}})
        deadline = time.monotonic() + args.timeout
        token = None
        for _ in range(100000):
            secret = core.read_namespaced_secret(SECRET, ns)
            if secret.data and secret.data.get("token"):
                token = base64.b64decode(secret.data["token"]).decode()
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_SLEEP)
        if not token:
            raise RuntimeError("secret %s/%s not filled within %gs" % (ns, SECRET, args.timeout))
        cfg = client.Configuration()
        cfg.host = host
        cfg.ssl_ca_cert = args.ca_file
        cfg.api_key = {"authorization": "Bearer " + token}
        with client.ApiClient(cfg) as sa_client:
            client.CoreV1Api(sa_client).read_namespaced_service_account(SA, ns)

    failed = 0
    t0 = time.perf_counter()
    for i in range(1, args.count + 1):
        try:
            provision(i)
        except Exception as e:  # one failing namespace does not stop the others
            failed += 1
            if failed <= 5:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                print("batch_python.py: %s-%d: %s" % (args.prefix, i, msg), file=sys.stderr)
    seconds = time.perf_counter() - t0
    print(json.dumps({"count": args.count, "ok": args.count - failed, "failed": failed,
                      "seconds": round(seconds, 6), "import_seconds": round(t_import, 6)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
