"""kubesim: the start-up contract other tests rely on (files, kubeconfig, ready line, TLS, flags)."""
import base64
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubesim_lib.testing import KUBESIM, Sim

WITH_KUBESIM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "with-kubesim")


class ContractTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim()

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_files(self):
        for f in ("kubeconfig", "ca.crt", "admin.token", "requests.jsonl"):
            self.assertTrue(os.path.exists(os.path.join(self.s.dir, f)), f)
        for f in ("kubeconfig", "admin.token", "server.key"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.s.dir, f)).st_mode)
            self.assertEqual(mode & 0o077, 0, "%s must not be readable by others" % f)

    def test_kubeconfig(self):
        with open(os.path.join(self.s.dir, "kubeconfig")) as f:
            kc = yaml.safe_load(f)
        self.assertEqual(kc["current-context"], "kubesim")
        ctx = kc["contexts"][0]
        self.assertEqual((ctx["name"], ctx["context"]["cluster"], ctx["context"]["user"]), ("kubesim", "kubesim", "kubernetes-admin"))
        cluster = kc["clusters"][0]["cluster"]
        self.assertEqual(cluster["server"], self.s.url)
        with open(os.path.join(self.s.dir, "ca.crt"), "rb") as f:
            self.assertEqual(base64.b64decode(cluster["certificate-authority-data"]), f.read())
        user = kc["users"][0]["user"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        self.assertEqual(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "kubernetes-admin")
        self.assertEqual([a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)], ["system:masters"])
        self.assertIn(b"PRIVATE KEY", base64.b64decode(user["client-key-data"]))

    def test_tls(self):
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=5) as raw:
            ctx = ssl.create_default_context(cafile=os.path.join(self.s.dir, "ca.crt"))
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")  # never h2
                cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertIn("localhost", san.get_values_for_type(x509.DNSName))
        self.assertIn("127.0.0.1", [str(ip) for ip in san.get_values_for_type(x509.IPAddress)])
        # localhost verifies as well
        ctx = ssl.create_default_context(cafile=os.path.join(self.s.dir, "ca.crt"))
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                pass

    def test_listens_on_loopback_only(self):
        r = self.s.get("/version")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Audit-Id"])
        if not shutil.which("ss"):
            return  # iproute2 not installed: the bind address is still checked by the ready line
        out = subprocess.run(["ss", "-ltnH", "sport = :%d" % self.s.port], capture_output=True, text=True).stdout
        if out.strip():
            self.assertTrue(all("127.0.0.1:%d" % self.s.port in line for line in out.strip().splitlines()), out)

    def test_write_paths_warmed_up_before_ready(self):
        # the yaml import (libyaml's extension) and the apply code are paid before the ready
        # line, not by the first client's server-side apply (was ~7 ms, 30-80 ms under load)
        with open("/proc/%d/maps" % self.s.proc.pid) as f:
            self.assertTrue("/_yaml." in f.read(), "libyaml extension not loaded")
        # ... by dry runs only: no request logged, nothing stored
        self.assertFalse([e for e in self.s.log() if "warm" in json.dumps(e)])
        r = self.s.get("/api/v1/namespaces/default/configmaps/kubesim-warm-up")
        self.assertEqual(r.status, 404)

    def test_bad_dir(self):
        q = subprocess.run([KUBESIM, "--dir", "/proc/nope/x"], capture_output=True, timeout=20)
        self.assertEqual(q.returncode, 1)
        self.assertTrue(q.stderr.startswith(b"kubesim: --dir /proc/nope/x: "), q.stderr)

    def test_admin_token_identity(self):
        r = self.s.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
        self.assertEqual(r.json["status"]["userInfo"], {"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]})

    def test_fixed_port_and_busy_port(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        d = tempfile.mkdtemp()
        p = subprocess.Popen([KUBESIM, "--dir", d, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertEqual(line, "kubesim ready https://127.0.0.1:%d %s/kubeconfig\n" % (port, os.path.realpath(d)))
            # a second server on the same port fails cleanly
            q = subprocess.run([KUBESIM, "--dir", tempfile.mkdtemp(), "--port", str(port)], capture_output=True, timeout=20)
            self.assertEqual(q.returncode, 1)
            self.assertEqual(q.stdout, b"")
            self.assertIn(b"kubesim: cannot listen on 127.0.0.1:%d: " % port, q.stderr)
        finally:
            p.terminate()
            self.assertEqual(p.wait(5), 0)
            p.stdout.close()
            p.stderr.close()



class WithKubesimTest(unittest.TestCase):
    """tests/with-kubesim: ready line read only from files that exist, status passed through,
    nothing of its own on stderr when all goes well."""

    def run_with(self, *cmd, args=None):
        env = dict(os.environ)
        env.pop("KUBESIM_ARGS", None)
        if args is not None:
            env["KUBESIM_ARGS"] = args
        return subprocess.run([WITH_KUBESIM] + list(cmd), capture_output=True, env=env, timeout=60)

    def test_runs_the_command_quietly(self):
        for _ in range(5):  # each run races the start of its kubesim
            q = self.run_with("sh", "-c", 'test -s "$KUBESIM_DIR/stdout" && test -e "$KUBESIM_DIR/stderr" && '
                                          'test -s "$KUBECONFIG" && echo "$KUBESIM_URL"')
            self.assertEqual((q.returncode, q.stderr), (0, b""))
            self.assertRegex(q.stdout.decode(), r"^https://127\.0\.0\.1:\d+\n$")

    def test_exit_status_and_cleanup(self):
        q = self.run_with("sh", "-c", 'echo "$KUBESIM_DIR"; exit 7')
        self.assertEqual((q.returncode, q.stderr), (7, b""))
        self.assertFalse(os.path.exists(q.stdout.decode().strip()))

    def test_not_ready(self):
        q = self.run_with("true", args="--bogus")
        self.assertEqual(q.returncode, 1)
        err = q.stderr.decode()
        self.assertTrue(err.startswith("with-kubesim: kubesim did not become ready\nusage: kubesim "), err)
        self.assertIn("kubesim: error: unrecognized arguments: --bogus", err)
        self.assertNotIn("No such file", err)

    def test_usage(self):
        q = self.run_with()
        self.assertEqual((q.returncode, q.stderr), (2, b"usage: with-kubesim CMD [ARGS...]\n"))


if __name__ == "__main__":
    unittest.main()
