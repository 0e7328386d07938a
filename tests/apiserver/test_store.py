"""kubesim: the object store in-process (namespace index, sorted-key caches, per-kind watch wake-ups,
410 judged per kind)."""
import random
import threading
import time
import unittest

from kubesim_lib.resources import BY_PLURAL, STORED
from kubesim_lib.store import Store

CM = BY_PLURAL["configmaps"]
SECRET = BY_PLURAL["secrets"]
NS = BY_PLURAL["namespaces"]


def obj(ns, name, kind="ConfigMap"):
    md = {"name": name}
    if ns:
        md["namespace"] = ns
    return {"kind": kind, "apiVersion": "v1", "metadata": md}


def names(items):
    return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]


class NoIteration(dict):
    """A table that refuses to be walked: a namespaced list must use the namespace index."""

    def __iter__(self):
        raise AssertionError("the whole table was walked")

    def keys(self):
        raise AssertionError("the whole table was walked")


class StoreTest(unittest.TestCase):
    def test_lists_stay_sorted_through_creates_and_deletes(self):
        s = Store(STORED)
        rnd = random.Random(7)
        live = set()
        for step in range(3000):
            ns, name = "ns%d" % rnd.randrange(12), "c%d" % rnd.randrange(40)
            if (ns, name) in live:
                s.delete(CM, ns, name)
                live.discard((ns, name))
            else:
                s.create(CM, obj(ns, name))
                live.add((ns, name))
            if step % 97 == 0:  # caches exist part of the time, so both paths are exercised
                self.assertEqual(names(s.list(CM)[0]), sorted(live))
                self.assertEqual(names(s.list(CM, ns)[0]), sorted(k for k in live if k[0] == ns))
        self.assertEqual(names(s.list(CM)[0]), sorted(live))
        for i in range(12):
            ns = "ns%d" % i
            self.assertEqual(names(s.list(CM, ns)[0]), sorted(k for k in live if k[0] == ns))
        self.assertEqual(names(s.list(CM, "nowhere")[0]), [])

    def test_cluster_scoped(self):
        s = Store(STORED)
        for n in ("b", "a", "c"):
            s.create(NS, obj("", n, "Namespace"))
        s.delete(NS, "", "b")
        s.create(NS, obj("", "aa", "Namespace"))
        self.assertEqual([n for _, n in names(s.list(NS)[0])], ["a", "aa", "c"])

    def test_namespaced_list_after_writes_does_not_walk_the_kind(self):
        s = Store(STORED)
        for i in range(50):
            s.create(CM, obj("ns%d" % (i % 5), "c%d" % i))
        s.objs[CM.key] = NoIteration(s.objs[CM.key])
        s.create(CM, obj("ns1", "new"))
        s.delete(CM, "ns2", "c2")
        self.assertEqual(len(s.list(CM, "ns1")[0]), 11)
        self.assertEqual(len(s.list(CM, "ns2")[0]), 9)
        s.create(CM, obj("ns3", "later"))
        self.assertEqual(names(s.list(CM, "ns3")[0])[-1], ("ns3", "later"))

    def test_update_keeps_order_and_rv(self):
        s = Store(STORED)
        a = s.create(CM, obj("n", "a"))
        s.create(CM, obj("n", "b"))
        s.list(CM, "n")
        up = s.update(CM, dict(a, data={"k": "v"}), expect_rv=a["metadata"]["resourceVersion"])
        items, rv = s.list(CM, "n")
        self.assertEqual(names(items), [("n", "a"), ("n", "b")])
        self.assertEqual(items[0]["data"], {"k": "v"})
        self.assertEqual(rv, int(up["metadata"]["resourceVersion"]))

    def wait_in_thread(self, s, res, rv, timeout):
        out = {}

        def run():
            t0 = time.monotonic()
            s.wait(res, rv, timeout)
            out["took"] = time.monotonic() - t0
        t = threading.Thread(target=run)
        t.start()
        return t, out

    def test_a_write_wakes_only_the_watchers_of_its_kind(self):
        s = Store(STORED)
        rv = s.current_rv()
        t, out = self.wait_in_thread(s, CM, rv, 0.6)
        time.sleep(0.1)
        for i in range(20):  # secrets do not wake a configmap watcher
            s.create(SECRET, obj("n", "s%d" % i, "Secret"))
        t.join(5)
        self.assertGreaterEqual(out["took"], 0.55)
        rv = s.current_rv()
        t, out = self.wait_in_thread(s, CM, rv, 5)
        time.sleep(0.1)
        s.create(CM, obj("n", "wake"))
        t.join(5)
        self.assertLess(out["took"], 2)
        self.assertTrue(s.events_pending(CM, rv))
        self.assertFalse(s.events_pending(SECRET, s.current_rv()))
        t, out = self.wait_in_thread(s, SECRET, s.current_rv(), 5)
        time.sleep(0.1)
        s.close()  # close wakes everyone
        t.join(5)
        self.assertLess(out["took"], 2)

    def test_history_is_judged_per_kind(self):
        s = Store(STORED, history=10)
        s.create(CM, obj("n", "c0"))
        cm_rv = s.current_rv()
        for i in range(30):  # other kinds overflow the history
            s.create(SECRET, obj("n", "s%d" % i, "Secret"))
        self.assertIsNone(s.too_old(CM, cm_rv))
        self.assertEqual(s.events_after(cm_rv, CM), ([], s.current_rv()))
        for i in range(15):
            s.create(CM, obj("n", "c%d" % (i + 1)))
        msg = s.too_old(CM, cm_rv)
        self.assertRegex(msg, r"^too old resource version: %d \(\d+\)$" % cm_rv)
        with self.assertRaises(ValueError):
            s.events_after(cm_rv, CM)


if __name__ == "__main__":
    unittest.main()
