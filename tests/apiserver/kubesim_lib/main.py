"""Start-up: keys and certificates, the seeded store, the HTTPS listener, the ready files."""
import argparse
import base64
import os
import secrets
import signal
import ssl
import sys
import threading
import time

from . import crds, pki, tokens
from .api import API
from .authn import Authenticator
from .authz import Authorizer
from .controllers import Controllers, new_object
from .discovery import Discovery
from .faults import Faults
from .resources import BY_KIND, BY_PLURAL, STORED
from .reviews import Reviews
from .server import App, Server
from .store import Store

DEFAULT_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="kubesim", description="A local Kubernetes API server simulator.")
    p.add_argument("--dir", required=True, help="directory for kubeconfig, ca.crt, admin.token, requests.jsonl")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    p.add_argument("--faults", default="", help='e.g. "seed=1,429=0.1,500=0.05,503=0.05,drop=0.02,latency=5ms"')
    p.add_argument("--token-delay", type=float, default=0.2,
                   help="seconds before the token controller fills a service-account-token Secret")
    p.add_argument("--namespace-delay", type=float, default=0.3,
                   help="seconds a deleted namespace stays Terminating before it is purged")
    p.add_argument("--rollout-delay", type=float, default=0.5,
                   help="seconds before a Deployment's status reports its replicas ready (nothing runs)")
    p.add_argument("--publish-delay", type=float, default=0.0,
                   help="seconds before a new namespace gets ServiceAccount default and ConfigMap kube-root-ca.crt")
    p.add_argument("--no-request-log", action="store_true",
                   help="do not append requests to DIR/requests.jsonl (long benchmarks)")
    p.add_argument("--history", type=int, default=5000, help="watch events kept for resourceVersion resumes")
    p.add_argument("--bookmark-interval", type=float, default=1.0,
                   help="seconds of watch idleness before a BOOKMARK (when allowed)")
    return p.parse_args(argv)


def kubeconfig(url, ca_pem, cert_pem, key_pem):
    b = lambda x: base64.b64encode(x).decode()
    return ("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
            "    server: %s\n  name: kubesim\ncontexts:\n- context:\n    cluster: kubesim\n"
            "    user: kubernetes-admin\n  name: kubesim\ncurrent-context: kubesim\npreferences: {}\n"
            "users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n"
            % (b(ca_pem), url, b(cert_pem), b(key_pem)))


def seed(store, authz, port):
    """What a fresh kubeadm cluster has: namespaces, bootstrap RBAC, the kubernetes Service/Endpoints."""
    for ns in DEFAULT_NAMESPACES:
        store.create(BY_PLURAL["namespaces"], new_object(BY_PLURAL["namespaces"], "", ns, {
            "metadata": {"labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}, "kube-apiserver"))
    for obj in authz.default_objects():
        res = BY_KIND[obj["kind"]]
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        md = dict(body.get("metadata") or {})
        name = md.pop("name")
        md.pop("namespace", None)
        body["metadata"] = md
        store.create(res, new_object(res, md.get("namespace", ""), name, body, "kube-apiserver"))
    node = BY_PLURAL["nodes"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ready = {"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now,
             "reason": "KubeletReady", "message": "kubelet is posting ready status"}
    store.create(node, new_object(node, "", "kubesim", {
        "metadata": {"labels": {"kubernetes.io/hostname": "kubesim", "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": "",
                                "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {"conditions": [ready], "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                                        {"type": "Hostname", "address": "kubesim"}],
                   "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                   "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                   "nodeInfo": {"kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4",
                                "containerRuntimeVersion": "kubesim://0 (nothing runs)",
                                "osImage": "kubesim", "kernelVersion": "", "operatingSystem": "linux",
                                "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""}}},
        "kubelet"))
    svc = BY_PLURAL["services"]
    store.create(svc, new_object(svc, "default", "kubernetes", {
        "metadata": {"labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": port}],
                 "sessionAffinity": "None"},
        "status": {"loadBalancer": {}}}, "kube-apiserver"))
    ep = BY_PLURAL["endpoints"]
    store.create(ep, new_object(ep, "default", "kubernetes", {
        "metadata": {"labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]},
        "kube-apiserver"))


def warm_up(api):
    """Pay the lazy initialisation of the write paths (the yaml import, first uses of the apply,
    managedFields and validation code) before the ready line rather than in a client's first
    server-side apply or create: dry-run requests, nothing is stored."""
    from .api import Query
    cm = BY_PLURAL["configmaps"]
    user = {"username": "system:apiserver", "groups": ["system:masters"]}
    q = Query({"dryRun": ["All"], "fieldManager": ["kubesim-warm-up"]})
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubesim-warm-up\n  labels: {a: b}\ndata:\n  k: v\n"
    api.create(cm, "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubesim-warm-up"},
                               "data": {"k": "v"}}, q, user, "kubesim", [])
    api.patch(cm, "default", "kubesim-warm-up", "application/apply-patch+yaml", body, q, user, "kubesim", [])
    api.patch(BY_PLURAL["endpoints"], "default", "kubernetes", "application/strategic-merge-patch+json",
              b'{"metadata":{"labels":{"a":"b"}}}', q, user, "kubesim", [])


def _fail(msg, code):
    """Exit at once: a daemon thread may still be inside OpenSSL generating the RSA key, and
    interpreter finalisation under it can crash."""
    print("kubesim: " + msg, file=sys.stderr)
    sys.stderr.flush()
    os._exit(code)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # until the server runs, a stop signal simply ends the process (still with status 0)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    d = os.path.abspath(args.dir)
    try:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "requests.jsonl"), "a").close()
    except OSError as e:
        _fail("--dir %s: %s" % (args.dir, e.strerror or e), 1)
    signer = tokens.Signer()  # RSA keygen starts in the background right away
    try:
        faults = Faults(args.faults)
    except ValueError as e:
        _fail("--faults: %s" % e, 2)

    ca = pki.CA()
    srv_cert, srv_key = ca.issue("kube-apiserver", server=True)
    adm_cert, adm_key = ca.issue("kubernetes-admin", ["system:masters"])
    pki.write_private(os.path.join(d, "server.crt"), srv_cert)
    pki.write_private(os.path.join(d, "server.key"), srv_key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(cadata=ca.cert_pem.decode())
    ctx.verify_mode = ssl.CERT_OPTIONAL  # request, don't require, client certificates
    ctx.set_alpn_protocols(["http/1.1"])  # never h2: kubectl would try HTTP/2 and fail

    store = Store(STORED, history=args.history)
    registry = crds.Registry(store)  # before anything can write a CRD
    authz = Authorizer(store)
    controllers = Controllers(store, signer, ca.cert_pem, args.token_delay, args.namespace_delay,
                              args.rollout_delay, args.publish_delay)
    admin_token = secrets.token_urlsafe(32)
    authn = Authenticator(store, signer, admin_token)
    api = API(store, authz)
    reviews = Reviews(store, authz, authn, signer)

    try:
        server = Server(("127.0.0.1", args.port), None, ctx)
    except OSError as e:
        _fail("cannot listen on 127.0.0.1:%d: %s" % (args.port, e.strerror or e), 1)
    port = server.server_address[1]
    url = "https://127.0.0.1:%d" % port
    seed(store, authz, port)
    warm_up(api)
    discovery = Discovery(port)
    registry.discovery = discovery
    app = App(store, api, authn, authz, reviews, discovery, faults, signer,
              None if args.no_request_log else os.path.join(d, "requests.jsonl"), args.bookmark_interval)
    server.app = app

    with open(os.path.join(d, "ca.crt"), "wb") as f:  # public, not a credential
        f.write(ca.cert_pem)
    pki.write_private(os.path.join(d, "admin.token"), admin_token + "\n")
    pki.write_private(os.path.join(d, "kubeconfig"), kubeconfig(url, ca.cert_pem, adm_cert, adm_key))

    def stop(signum, frame):
        app.stopping.set()
        store.close()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("kubesim ready %s %s" % (url, os.path.join(d, "kubeconfig")), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        controllers.stop()
        server.server_close()
        app.close()
    sys.stdout.flush()
    os._exit(0)  # connection threads are daemons; don't wait for idle keep-alives
