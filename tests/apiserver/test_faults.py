"""kubesim: injected faults are seeded and replayable; the runtime endpoint; /version is never faulted;
SIGTERM/SIGINT exit 0 quickly."""
import http.client
import signal
import ssl
import subprocess
import time
import unittest

from kubesim_lib.testing import Sim

SPEC = "seed=7,429=0.2,500=0.1,503=0.1,drop=0.1"


def outcomes(s, n=60):
    out = []
    for _ in range(n):
        try:
            r = s.get("/api/v1/namespaces/default", retry=False)
            out.append(r.status)
            if r.status == 429:
                assert r.headers["Retry-After"] == "1"
                assert r.json["reason"] == "TooManyRequests"
                assert r.json["details"] == {"retryAfterSeconds": 1}
        except (http.client.HTTPException, ConnectionError, ssl.SSLError):
            out.append("drop")
            for c in s._conns.values():
                c.close()
            s._conns = {}
    return out


class FaultsTest(unittest.TestCase):
    def test_seeded_replay(self):
        runs = []
        for _ in range(2):
            s = Sim("--faults", SPEC)
            try:
                runs.append(outcomes(s))
                log = s.log()
            finally:
                self.assertEqual(s.stop(), 0)
        self.assertEqual(runs[0], runs[1])
        kinds = set(runs[0])
        self.assertTrue({200, 429, 500, 503, "drop"} <= kinds, kinds)
        self.assertTrue(any(e.get("fault") == "drop" for e in log))

    def test_version_never_faulted_and_runtime_endpoint(self):
        s = Sim("--faults", "seed=1,503=1")
        try:
            for _ in range(20):
                self.assertEqual(s.get("/version").status, 200)
            r = s.get("/api")
            self.assertEqual((r.status, r.json["reason"]), (503, "ServiceUnavailable"))
            r = s.get("/kubesim/faults")
            self.assertEqual((r.status, r.json["503"]), (200, 1.0))
            r = s.post("/kubesim/faults", {"spec": ""})
            self.assertEqual(r.status, 200)
            self.assertEqual(s.get("/api").status, 200)
            r = s.post("/kubesim/faults", {"429": 1, "seed": 3})
            self.assertEqual(s.get("/api").status, 429)
            self.assertEqual(s.post("/kubesim/faults", {"spec": "bogus=1"}).status, 400)
            s.post("/kubesim/faults", {"spec": "latency=150ms"})
            t0 = time.monotonic()
            self.assertEqual(s.get("/api").status, 200)
            self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        finally:
            self.assertEqual(s.stop(), 0)

    def test_watch_dropped_mid_stream(self):
        s = Sim("--faults", "seed=1,drop=1")
        try:
            c = http.client.HTTPSConnection("127.0.0.1", s.port, context=s.ctx, timeout=10)
            c.request("GET", "/api/v1/namespaces?watch=1&timeoutSeconds=5",
                      headers={"Authorization": "Bearer " + s.admin_token})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError, ValueError)):
                while r.read(4096):
                    pass
            c.close()
        finally:
            self.assertEqual(s.stop(), 0)

    def test_bad_fault_spec(self):
        import tempfile
        d = tempfile.mkdtemp()
        p = subprocess.run(["./kubesim", "--dir", d, "--faults", "nope=1"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"unknown fault", p.stderr)

    def test_signals_exit_zero_fast(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            t0 = time.monotonic()
            s = Sim()
            startup = time.monotonic() - t0
            self.assertLess(startup, 5)
            # an open watch must not hold the process
            c = http.client.HTTPSConnection("127.0.0.1", s.port, context=s.ctx, timeout=10)
            c.request("GET", "/api/v1/namespaces?watch=1", headers={"Authorization": "Bearer " + s.admin_token})
            c.getresponse().readline()
            t0 = time.monotonic()
            s.proc.send_signal(sig)
            self.assertEqual(s.proc.wait(5), 0)
            self.assertLess(time.monotonic() - t0, 2)
            c.close()
            s.stop()


if __name__ == "__main__":
    unittest.main()
