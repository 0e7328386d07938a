"""In-memory object store: one global resourceVersion counter, and an event history for watch.

Stored objects are treated as immutable: every write stores a fresh dict, so readers may
serialise what get()/list() return without copying, and must never mutate it.
"""
import collections
import threading

from . import errors


_META_ORDER = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
               "ownerReferences", "finalizers", "managedFields")
_META_RANK = {k: i for i, k in enumerate(_META_ORDER)}


def normalize(obj, placeholder=False):
    """Key order of a Go-serialised object: kind, apiVersion, metadata (ObjectMeta order), ..., status.
    placeholder reserves resourceVersion's place for the store to fill."""
    out = {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion")}
    md = dict(obj.get("metadata") or {})
    if placeholder:
        md.setdefault("resourceVersion", "")
    elif md.get("resourceVersion") == "":
        del md["resourceVersion"]
    out["metadata"] = {k: md[k] for k in sorted(md, key=lambda k: _META_RANK.get(k, 99))}
    for k, v in obj.items():
        if k not in ("kind", "apiVersion", "metadata", "status"):
            out[k] = v
    if "status" in obj:
        out["status"] = obj["status"]
    return out


class Event:
    __slots__ = ("rv", "resource", "type", "obj", "old")

    def __init__(self, rv, resource, type_, obj, old):
        self.rv, self.resource, self.type, self.obj, self.old = rv, resource, type_, obj, old


class Store:
    def __init__(self, resources, history=2000):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.objs = {r.plural: {} for r in resources}  # plural -> {(ns, name): obj}
        self._sorted = {}  # (plural, ns or None) -> sorted keys; dropped when keys are added/removed
        self.events = collections.deque()
        self.history = history
        self.compacted = 0  # highest rv dropped from the history
        self.listeners = []  # called (event) under the lock; must only enqueue work
        self.closed = False

    # ---- reads ----
    def get(self, res, ns, name):
        return self.objs[res.plural].get((ns or "", name))

    def list(self, res, ns=None):
        """Objects of res (in namespace ns when given), ordered by namespace then name."""
        with self.lock:
            table = self.objs[res.plural]
            ck = (res.plural, ns or None)
            keys = self._sorted.get(ck)
            if keys is None:
                keys = sorted(k for k in table if k[0] == ns) if ns else sorted(table)
                self._sorted[ck] = keys
            return [table[k] for k in keys], self.rv

    def current_rv(self):
        return self.rv

    # ---- writes ----
    def _drop_sorted(self, res):
        for ck in [ck for ck in self._sorted if ck[0] == res.plural]:
            del self._sorted[ck]

    def _emit(self, res, type_, obj, old):
        ev = Event(self.rv, res, type_, obj, old)
        self.events.append(ev)
        while len(self.events) > self.history:
            self.compacted = self.events.popleft().rv
        for fn in self.listeners:
            fn(ev)
        self.cond.notify_all()

    def create(self, res, obj):
        obj = normalize(obj, placeholder=True)
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        with self.lock:
            table = self.objs[res.plural]
            if key in table:
                raise errors.already_exists(res.plural, res.group, md["name"])
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            table[key] = obj
            self._drop_sorted(res)
            self._emit(res, "ADDED", obj, None)
        return obj

    def update(self, res, obj, expect_rv=None):
        """Replace the stored object. expect_rv (a string) makes it a compare-and-swap."""
        obj = normalize(obj, placeholder=True)
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        with self.lock:
            table = self.objs[res.plural]
            old = table.get(key)
            if old is None:
                raise errors.not_found(res.plural, res.group, md["name"])
            if expect_rv is not None and old["metadata"]["resourceVersion"] != expect_rv:
                raise errors.conflict_modified(res.plural, res.group, md["name"])
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            table[key] = obj
            self._emit(res, "MODIFIED", obj, old)
        return obj

    def delete(self, res, ns, name, expect_uid=None, expect_rv=None):
        """Remove an object; returns its last state carrying the deletion's resourceVersion."""
        key = (ns or "", name)
        with self.lock:
            table = self.objs[res.plural]
            old = table.get(key)
            if old is None:
                raise errors.not_found(res.plural, res.group, name)
            if expect_uid is not None and old["metadata"].get("uid") != expect_uid:
                raise errors.conflict(res.plural, res.group, name,
                                      "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                      % (expect_uid, old["metadata"].get("uid")))
            if expect_rv is not None and old["metadata"].get("resourceVersion") != expect_rv:
                raise errors.conflict(res.plural, res.group, name,
                                      "Precondition failed: ResourceVersion in precondition: %s, "
                                      "ResourceVersion in object meta: %s"
                                      % (expect_rv, old["metadata"].get("resourceVersion")))
            del table[key]
            self._drop_sorted(res)
            self.rv += 1
            gone = dict(old)
            gone["metadata"] = dict(old["metadata"], resourceVersion=str(self.rv))
            self._emit(res, "DELETED", gone, old)
        return gone

    # ---- watch ----
    def events_after(self, rv, res):
        """Events for res newer than rv; raises 410-style ValueError when rv fell out of history."""
        with self.lock:
            if rv < self.compacted:
                raise ValueError("too old resource version: %d (%d)" % (rv, self.compacted + 1))
            out = []
            for ev in reversed(self.events):
                if ev.rv <= rv:
                    break
                if ev.resource is res:
                    out.append(ev)
            out.reverse()
            return out, self.rv

    def wait(self, rv, timeout):
        """Block until the store moves past rv or timeout (seconds) passes."""
        with self.cond:
            if self.rv <= rv and not self.closed:
                self.cond.wait(timeout)
            return self.rv

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
