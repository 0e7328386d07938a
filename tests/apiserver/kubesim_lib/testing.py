"""Test harness: start a kubesim on a free port, talk to it over HTTPS, stop it.

Used by tests/apiserver/test_*.py; every wait is bounded.
"""
import base64
import http.client
import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

KUBESIM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kubesim")


class Reply:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<Reply %d %s>" % (self.status, self.raw[:300])


class Sim:
    def __init__(self, *args, ready_timeout=15):
        self.dir = tempfile.mkdtemp(prefix="kubesim-test.")
        self.proc = subprocess.Popen([KUBESIM, "--dir", self.dir, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = b""
        deadline = time.monotonic() + ready_timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 1)
                if not ch:
                    break
                line += ch
        parts = line.decode().split()
        if len(parts) != 4 or parts[:2] != ["kubesim", "ready"]:
            self.stop()
            raise RuntimeError("kubesim did not start: %r %s" % (line, self.proc.stderr.read() if self.proc.poll() is not None else ""))
        self.url = parts[2]
        self.port = int(self.url.rsplit(":", 1)[1])
        with open(os.path.join(self.dir, "admin.token")) as f:
            self.admin_token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self._conns = {}

    def cert_context(self):
        """An SSL context presenting the kubeconfig's admin client certificate."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        import yaml
        with open(os.path.join(self.dir, "kubeconfig")) as f:
            kc = yaml.safe_load(f)
        u = kc["users"][0]["user"]
        cert = os.path.join(self.dir, "test-admin.crt")
        key = os.path.join(self.dir, "test-admin.key")
        with open(cert, "wb") as f:
            f.write(base64.b64decode(u["client-certificate-data"]))
        with open(key, "wb") as f:
            f.write(base64.b64decode(u["client-key-data"]))
        ctx.load_cert_chain(cert, key)
        return ctx

    def conn(self, ctx=None):
        ctx = ctx or self.ctx
        c = self._conns.get(id(ctx))
        if c is None:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
            self._conns[id(ctx)] = c
        return c

    def request(self, method, path, body=None, token="admin", headers=None, ctype=None, ctx=None, retry=True):
        """token: "admin" (static admin token), None (anonymous), or a token string."""
        h = {"Accept": "application/json"}
        if token == "admin":
            h["Authorization"] = "Bearer " + self.admin_token
        elif token:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            h["Content-Type"] = ctype or "application/json"
        h.update(headers or {})
        for attempt in range(2):
            c = self.conn(ctx)
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                return Reply(r.status, r.headers, r.read())
            except (http.client.HTTPException, ConnectionError, ssl.SSLError):
                c.close()
                self._conns.pop(id(ctx or self.ctx), None)
                if attempt or not retry:
                    raise

    # shorthands
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body, ctype="application/merge-patch+json", **kw):
        return self.request("PATCH", path, body, ctype=ctype, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    def wait_for(self, fn, timeout=10, interval=0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(interval)
        raise AssertionError("condition not met within %ss" % timeout)

    def log(self):
        with open(os.path.join(self.dir, "requests.jsonl")) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        for c in self._conns.values():
            c.close()
        self._conns = {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for s in (self.proc.stdout, self.proc.stderr):
            if s:
                s.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    # helpers for common objects
    def ns(self, name, timeout=10):
        """Create namespace name; once created, wait (bounded) until the asynchronous publishers
        have given it ServiceAccount default and ConfigMap kube-root-ca.crt, as a test that lists
        the namespace right away would otherwise race them. Returns the create's Reply."""
        r = self.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        if r.status == 201:
            self.wait_for(lambda: all(self.get(p).status == 200 for p in (
                "/api/v1/namespaces/%s/configmaps/kube-root-ca.crt" % name,
                "/api/v1/namespaces/%s/serviceaccounts/default" % name)), timeout=timeout)
        return r

    def sa_token_secret(self, ns, sa, secret="tok"):
        """Create SA + legacy token Secret and wait for the controller; returns the decoded JWT."""
        self.post("/api/v1/namespaces/%s/serviceaccounts" % ns, {"metadata": {"name": sa}})
        self.post("/api/v1/namespaces/%s/secrets" % ns, {
            "metadata": {"name": secret, "annotations": {"kubernetes.io/service-account.name": sa}},
            "type": "kubernetes.io/service-account-token"})

        def token():
            r = self.get("/api/v1/namespaces/%s/secrets/%s" % (ns, secret))
            return r.status == 200 and (r.json.get("data") or {}).get("token")
        return base64.b64decode(self.wait_for(token)).decode()
