"""Injected faults: 429 (Retry-After: 1), 500, 503, dropped connections, added latency.

One draw of a seeded random.Random per eligible request, in arrival order, so a
sequential client sees the same faults on every run with the same seed.
Spec: "seed=1,429=0.1,500=0.05,503=0.05,drop=0.02,latency=5ms".
"""
import random
import threading

KINDS = ("429", "500", "503", "drop")


def parse_duration(s):
    s = str(s).strip()
    for suf, mult in (("ms", 0.001), ("us", 0.000001), ("s", 1.0), ("m", 60.0)):
        if s.endswith(suf):
            return float(s[:-len(suf)]) * mult
    return float(s)


class Faults:
    def __init__(self, spec=""):
        self._lock = threading.Lock()
        self.configure(spec or "")

    def configure(self, spec):
        """spec: the flag string, or a dict with the same keys (the runtime endpoint)."""
        if isinstance(spec, str):
            d = {}
            for part in spec.split(","):
                part = part.strip()
                if not part:
                    continue
                if "=" not in part:
                    raise ValueError("bad fault spec %r (want key=value)" % part)
                k, v = part.split("=", 1)
                d[k.strip()] = v.strip()
        else:
            d = dict(spec)
        rates = {}
        seed, latency = 0, 0.0
        for k, v in d.items():
            if k == "seed":
                seed = int(v)
            elif k == "latency":
                latency = parse_duration(v)
            elif k in KINDS:
                rates[k] = float(v)
                if not 0 <= rates[k] <= 1:
                    raise ValueError("fault rate %s=%s out of [0,1]" % (k, v))
            else:
                raise ValueError("unknown fault %r" % k)
        if sum(rates.values()) > 1:
            raise ValueError("fault rates add up to more than 1")
        with self._lock:
            self.rates, self.seed, self.latency = rates, seed, latency
            self.rng = random.Random(seed)
            self.counts = {k: 0 for k in KINDS}
            self.active = bool(rates) or latency > 0

    def describe(self):
        with self._lock:
            d = {"seed": self.seed, "latency": "%gms" % (self.latency * 1000)}
            d.update({k: self.rates.get(k, 0.0) for k in KINDS})
            d["injected"] = dict(self.counts)
            return d

    def draw(self):
        """(latency seconds, fault kind or None) for the next request."""
        with self._lock:
            if not self.rates:
                return self.latency, None
            r = self.rng.random()
            acc = 0.0
            for k in KINDS:
                acc += self.rates.get(k, 0.0)
                if r < acc:
                    self.counts[k] += 1
                    return self.latency, k
            return self.latency, None
