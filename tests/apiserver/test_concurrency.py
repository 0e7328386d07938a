"""kubesim: concurrent writers over many connections; a watch sees every change exactly once, in
resourceVersion order, and replaying it reproduces the final list."""
import http.client
import json
import random
import threading
import unittest

from kubesim_lib.testing import Sim

CM = "/api/v1/namespaces/conc/configmaps"


class ConcurrencyTest(unittest.TestCase):
    def test_writers_and_a_watch_agree(self):
        s = Sim("--history", "100000")
        try:
            s.ns("conc")
            s.wait_for(lambda: s.get(CM + "/kube-root-ca.crt").status == 200)
            initial = s.get(CM).json
            start_rv = initial["metadata"]["resourceVersion"]
            w = http.client.HTTPSConnection("127.0.0.1", s.port, context=s.ctx, timeout=30)
            w.request("GET", CM + "?watch=1&timeoutSeconds=20&resourceVersion=" + start_rv,
                      headers={"Authorization": "Bearer " + s.admin_token})
            stream = w.getresponse()
            errors = []

            def writer(seed):
                rnd = random.Random(seed)
                sim = Sim.__new__(Sim)  # share the server, own connections
                sim.__dict__.update(s.__dict__)
                sim._conns = {}
                try:
                    for i in range(150):
                        name = "c%d" % rnd.randrange(12)
                        op = rnd.random()
                        if op < 0.4:
                            r = sim.post(CM, {"metadata": {"name": name}, "data": {"w": str(seed)}})
                            ok = (201, 409)
                        elif op < 0.8:
                            cur = sim.get(CM + "/" + name)
                            if cur.status != 200:
                                continue
                            obj = cur.json
                            obj["data"] = {"w": str(seed), "i": str(i)}
                            r = sim.put(CM + "/" + name, obj)
                            ok = (200, 404, 409)
                        else:
                            r = sim.delete(CM + "/" + name)
                            ok = (200, 404)
                        if r.status not in ok:
                            errors.append((seed, r.status, r.raw[:200]))
                finally:
                    for c in sim._conns.values():
                        c.close()

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            final = s.get(CM)
            end_rv = int(final.json["metadata"]["resourceVersion"])
            state, last_rv = {o["metadata"]["name"]: o for o in initial["items"]}, int(start_rv)
            while last_rv < end_rv:
                line = stream.readline()
                self.assertTrue(line, "the watch ended before rv %d (at %d)" % (end_rv, last_rv))
                ev = json.loads(line)
                if ev["type"] == "BOOKMARK":
                    continue
                rv = int(ev["object"]["metadata"]["resourceVersion"])
                self.assertGreater(rv, last_rv)  # strictly increasing: nothing twice, nothing reordered
                last_rv = rv
                name = ev["object"]["metadata"]["name"]
                if ev["type"] == "DELETED":
                    self.assertIn(name, state)
                    del state[name]
                else:
                    self.assertEqual(ev["type"] == "ADDED", name not in state, ev["type"])
                    state[name] = ev["object"]
            w.close()
            listed = {o["metadata"]["name"]: o for o in final.json["items"]}
            self.assertEqual(sorted(state), sorted(listed))
            for name, o in listed.items():
                self.assertEqual(state[name]["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"])
                self.assertEqual(state[name]["data"], o["data"])
        finally:
            self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
