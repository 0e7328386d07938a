"""kubesim: watch streams (initial events, resume, 410 Gone, bookmarks, selectors, timeouts)."""
import http.client
import json
import ssl
import time
import unittest

from kubesim_lib.testing import Sim

CM = "/api/v1/namespaces/w/configmaps"


class WatchStream:
    """Reads a watch response line by line on its own connection (bounded by the server timeout)."""

    def __init__(self, sim, path):
        self.c = http.client.HTTPSConnection("127.0.0.1", sim.port, context=sim.ctx, timeout=15)
        self.c.request("GET", path, headers={"Authorization": "Bearer " + sim.admin_token})
        self.r = self.c.getresponse()
        self.status = self.r.status

    def events(self, n=None, until=None):
        out = []
        while n is None or len(out) < n:
            line = self.r.readline()
            if not line:
                break
            ev = json.loads(line)
            out.append(ev)
            if until and until(ev):
                break
        return out

    def close(self):
        self.c.close()


def names(evs):
    return [(e["type"], e["object"]["metadata"].get("name")) for e in evs]


class WatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Sim("--history", "50", "--bookmark-interval", "0.3")
        cls.s.ns("w")

    @classmethod
    def tearDownClass(cls):
        assert cls.s.stop() == 0

    def test_initial_then_live(self):
        self.s.post(CM, {"metadata": {"name": "a", "labels": {"t": "live"}}})
        w = WatchStream(self.s, CM + "?watch=1&labelSelector=t%3Dlive&timeoutSeconds=5")
        self.assertEqual(w.status, 200)
        self.assertEqual(w.r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(names(w.events(1)), [("ADDED", "a")])
        self.s.post(CM, {"metadata": {"name": "b", "labels": {"t": "live"}}})
        self.s.post(CM, {"metadata": {"name": "other"}})
        self.s.patch(CM + "/b", {"data": {"k": "v"}})
        self.s.patch(CM + "/b", {"metadata": {"labels": {"t": "gone"}}})  # leaves the selection
        self.s.delete(CM + "/a")
        evs = w.events(4)
        self.assertEqual(names(evs), [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b"), ("DELETED", "a")])
        self.assertEqual(evs[0]["object"]["kind"], "ConfigMap")  # event objects carry kind
        w.close()

    def test_resume_from_resource_version(self):
        rv = self.s.post(CM, {"metadata": {"name": "r1"}}).json["metadata"]["resourceVersion"]
        self.s.post(CM, {"metadata": {"name": "r2"}})
        self.s.delete(CM + "/r1")
        w = WatchStream(self.s, CM + "?watch=true&resourceVersion=%s&timeoutSeconds=2" % rv)
        evs = w.events(2)
        self.assertEqual(names(evs), [("ADDED", "r2"), ("DELETED", "r1")])
        self.assertGreater(int(evs[1]["object"]["metadata"]["resourceVersion"]), int(rv))
        w.close()

    def test_too_old_resource_version(self):
        for i in range(60):  # overflow the 50-event history
            self.s.post(CM, {"metadata": {"name": "old%d" % i}})
        w = WatchStream(self.s, CM + "?watch=1&resourceVersion=1&timeoutSeconds=2")
        self.assertEqual(w.status, 200)
        evs = w.events()
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["type"], "ERROR")
        st = evs[0]["object"]
        self.assertEqual((st["kind"], st["code"], st["reason"]), ("Status", 410, "Expired"))
        self.assertTrue(st["message"].startswith("too old resource version: 1 ("))
        w.close()

    def test_bookmarks_and_timeout(self):
        rv = self.s.get(CM).json["metadata"]["resourceVersion"]
        t0 = time.monotonic()
        w = WatchStream(self.s, "/api/v1/namespaces?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=1" % rv)
        evs = w.events()
        took = time.monotonic() - t0
        self.assertLess(took, 5)
        self.assertGreaterEqual(took, 0.9)
        bms = [e for e in evs if e["type"] == "BOOKMARK"]
        self.assertTrue(bms)
        self.assertEqual(set(bms[0]["object"]), {"kind", "apiVersion", "metadata"})
        self.assertEqual(bms[0]["object"]["kind"], "Namespace")
        w.close()

    def test_field_selector_single_object(self):
        w = WatchStream(self.s, "/api/v1/namespaces?watch=1&fieldSelector=metadata.name%3Dwdoomed&timeoutSeconds=5")
        self.s.ns("wdoomed")
        self.s.ns("wother")
        self.assertEqual(names(w.events(1)), [("ADDED", "wdoomed")])
        self.s.delete("/api/v1/namespaces/wdoomed")
        evs = w.events(until=lambda e: e["type"] == "DELETED")
        self.assertEqual(evs[-1]["type"], "DELETED")
        self.assertEqual(evs[0]["object"]["status"]["phase"], "Terminating")
        w.close()

    def test_send_initial_events(self):
        self.s.post(CM, {"metadata": {"name": "si", "labels": {"si": "1"}}})
        w = WatchStream(self.s, CM + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                                     "&resourceVersionMatch=NotOlderThan&labelSelector=si&timeoutSeconds=2")
        evs = w.events(2)
        self.assertEqual(evs[0]["type"], "ADDED")
        self.assertEqual(evs[1]["type"], "BOOKMARK")
        self.assertEqual(evs[1]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        w.close()

    def watch_logged(self, path):
        return [e for e in self.s.log() if e["verb"] == "watch" and e["path"] + "?" + e["query"] == path]

    def test_abandoned_watch_ends_while_idle(self):
        # no bookmarks, no events: before, the stream noticed a gone client only when a write
        # failed, i.e. at timeoutSeconds; a watch is logged when it ends
        for how in ("fin", "close_notify"):
            path = CM + "?watch=1&labelSelector=abandoned%%3D%s&timeoutSeconds=30" % how.replace("_", "")
            w = WatchStream(self.s, path)
            self.assertEqual(w.status, 200)
            time.sleep(0.3)
            self.assertEqual(self.watch_logged(path), [])
            sock = w.c.sock
            t0 = time.monotonic()
            if how == "close_notify":
                try:
                    sock = sock.unwrap()  # TLS close_notify first, then the FIN
                except ssl.SSLError:
                    pass  # the server answered the close_notify by ending the stream (data after it)
            sock.close()
            w.c.sock = None
            w.r.close()
            self.s.wait_for(lambda: self.watch_logged(path), timeout=5, interval=0.02)
            self.assertLess(time.monotonic() - t0, 2, how)

    def test_abandoned_watch_ends_while_its_resource_is_busy(self):
        # writes of the watched kind keep waking the stream; before, a wake with events
        # pending skipped the client check, so abandoned watches piled up for as long as the
        # kind was busy (each then woken by every write: a batch slowed quadratically)
        path = CM + "?watch=1&labelSelector=busy%3D1&timeoutSeconds=30"
        w = WatchStream(self.s, path)
        self.assertEqual(w.status, 200)
        w.c.sock.close()
        w.c.sock = None
        w.r.close()
        t0 = time.monotonic()
        for i in range(200):  # bounded: 200 writes or 5 s, whichever first
            self.s.post(CM, {"metadata": {"name": "busy%d" % i}})
            if self.watch_logged(path) or time.monotonic() - t0 > 5:
                break
        self.assertTrue(self.watch_logged(path), "the abandoned watch was still running")
        self.assertLess(time.monotonic() - t0, 2)

    def test_idle_watch_survives_other_kinds_writes(self):
        w = WatchStream(self.s, CM + "?watch=1&labelSelector=keep&timeoutSeconds=5")
        time.sleep(0.25)  # several idle slices: the client check must not end a live watch
        for i in range(60):  # more than --history 50 events of another kind
            self.s.post("/api/v1/namespaces/w/secrets", {"metadata": {"name": "other%d" % i}})
        self.s.post(CM, {"metadata": {"name": "kept", "labels": {"keep": "1"}}})
        self.assertEqual(names(w.events(1)), [("ADDED", "kept")])
        w.close()


if __name__ == "__main__":
    unittest.main()
