"""In-memory object store: one global resourceVersion counter, and an event history for watch.

Stored objects are treated as immutable: every write stores a fresh dict, so readers may
serialise what get()/list() return without copying, and must never mutate it.
"""
import bisect
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


# a cached sorted key list up to this long is kept in step by insertion (a memmove of at most
# 32 KB); a longer one is dropped on a write and rebuilt when next listed, from the namespace's
# keys only, so a write never costs O(objects of the kind)
_INSORT_MAX = 4096


class Event:
    __slots__ = ("rv", "resource", "type", "obj", "old")

    def __init__(self, rv, resource, type_, obj, old):
        self.rv, self.resource, self.type, self.obj, self.old = rv, resource, type_, obj, old


class Store:
    """Objects per resource (res.key) and namespace. Sorted key lists for list() are cached per
    (key, namespace) and per key (cluster-wide) and kept up to date by insertion and removal, so
    a write costs O(log n) plus a memmove, never a re-sort of the whole kind; updates do not touch
    them (keys do not change). Watchers wait on a condition per resource key, so a write wakes
    only the watchers of its own kind."""

    def __init__(self, resources, history=2000):
        self.lock = threading.RLock()
        self.rv = 0
        self.objs = {}  # res.key -> {(ns, name): obj}
        self._by_ns = {}  # res.key -> {ns: set of (ns, name)}
        self._sorted = {}  # (res.key, ns or None) -> sorted keys
        self._conds = {}  # res.key -> Condition on self.lock
        self._last_rv = {}  # res.key -> rv of its last event
        self._dropped = {}  # res.key -> rv of its newest event dropped from the history
        for r in resources:
            self.add_resource(r)
        self.events = collections.deque()
        self.history = history
        self.compacted = 0  # highest rv dropped from the history
        self.listeners = []  # called (event) under the lock; must only enqueue work
        self.closed = False

    def add_resource(self, res):
        """Make room for res's objects (custom resources come and go at run time)."""
        with self.lock:
            if res.key not in self.objs:
                self.objs[res.key] = {}
                self._by_ns[res.key] = {}
                self._conds[res.key] = threading.Condition(self.lock)
                self._last_rv[res.key] = 0

    def drop_resource(self, res):
        """Forget res's table (its objects must be gone); its watchers are woken and end."""
        with self.lock:
            cond = self._conds.pop(res.key, None)
            self.objs.pop(res.key, None)
            self._by_ns.pop(res.key, None)
            self._last_rv.pop(res.key, None)
            self._dropped.pop(res.key, None)
            for ck in [ck for ck in self._sorted if ck[0] == res.key]:
                del self._sorted[ck]
            if cond is not None:
                cond.notify_all()

    def serves(self, res):
        return res.key in self.objs

    # ---- reads ----
    def get(self, res, ns, name):
        try:
            return self.objs[res.key].get((ns or "", name))
        except KeyError:  # a custom resource whose CRD just went
            return None

    def list(self, res, ns=None):
        """Objects of res (in namespace ns when given), ordered by namespace then name."""
        with self.lock:
            table = self.objs.get(res.key)
            if table is None:  # a custom resource whose CRD just went
                return [], self.rv
            ck = (res.key, ns or None)
            keys = self._sorted.get(ck)
            if keys is None:
                keys = sorted(self._by_ns[res.key].get(ns, ())) if ns else sorted(table)
                self._sorted[ck] = keys
            return [table[k] for k in keys], self.rv

    def current_rv(self):
        return self.rv

    # ---- writes ----
    def _key_added(self, rk, key):
        in_ns = self._by_ns[rk].get(key[0])
        if in_ns is None:
            in_ns = self._by_ns[rk][key[0]] = set()
        in_ns.add(key)
        for ck in ((rk, key[0] or None), (rk, None)):
            keys = self._sorted.get(ck)
            if keys is not None:
                if len(keys) < _INSORT_MAX:
                    bisect.insort(keys, key)
                else:
                    del self._sorted[ck]  # re-sorted from the namespace index when next listed
            if not key[0]:
                break  # cluster-scoped: one list

    def _key_removed(self, rk, key):
        in_ns = self._by_ns[rk].get(key[0])
        if in_ns is not None:
            in_ns.discard(key)
            if not in_ns:
                del self._by_ns[rk][key[0]]
        for ck in ((rk, key[0] or None), (rk, None)):
            keys = self._sorted.get(ck)
            if keys is not None:
                if len(keys) < _INSORT_MAX:
                    i = bisect.bisect_left(keys, key)
                    if i < len(keys) and keys[i] == key:
                        del keys[i]
                else:
                    del self._sorted[ck]
            if not key[0]:
                break

    def _emit(self, res, type_, obj, old):
        ev = Event(self.rv, res, type_, obj, old)
        self.events.append(ev)
        while len(self.events) > self.history:
            gone = self.events.popleft()
            self.compacted = gone.rv
            self._dropped[gone.resource.key] = gone.rv
        for fn in self.listeners:
            fn(ev)
        self._last_rv[res.key] = self.rv
        self._conds[res.key].notify_all()

    def create(self, res, obj):
        obj = normalize(obj, placeholder=True)
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        with self.lock:
            table = self.objs.get(res.key)
            if table is None:
                raise errors.not_found_path()
            if key in table:
                raise errors.already_exists(res.plural, res.group, md["name"])
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            table[key] = obj
            self._key_added(res.key, key)
            self._emit(res, "ADDED", obj, None)
        return obj

    def update(self, res, obj, expect_rv=None):
        """Replace the stored object. expect_rv (a string) makes it a compare-and-swap."""
        obj = normalize(obj, placeholder=True)
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        with self.lock:
            table = self.objs.get(res.key, {})
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
            table = self.objs.get(res.key, {})
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
            self._key_removed(res.key, key)
            self.rv += 1
            gone = dict(old)
            gone["metadata"] = dict(old["metadata"], resourceVersion=str(self.rv))
            self._emit(res, "DELETED", gone, old)
        return gone

    # ---- watch ----
    def too_old(self, res, rv):
        """The 410 message when events of res newer than rv fell out of the history, else None.
        The history is global but judged per resource, as the apiserver's watch cache is per
        resource: writes to other kinds never expire a watch."""
        dropped = self._dropped.get(res.key, 0)
        if rv < dropped:
            return "too old resource version: %d (%d)" % (rv, dropped + 1)
        return None

    def events_after(self, rv, res):
        """Events for res newer than rv; raises 410-style ValueError when rv fell out of history."""
        key = res.key
        with self.lock:
            msg = self.too_old(res, rv)
            if msg:
                raise ValueError(msg)
            out = []
            if self._last_rv.get(key, 0) > rv:
                for ev in reversed(self.events):
                    if ev.rv <= rv:
                        break
                    if ev.resource.key == key:
                        out.append(ev)
                out.reverse()
            return out, self.rv

    def events_pending(self, res, rv):
        """Whether res has events newer than rv."""
        return self._last_rv.get(res.key, 0) > rv

    def wait(self, res, rv, timeout):
        """Block until an event of res newer than rv, close(), the removal of res, or timeout
        (seconds). Writes to other resources do not wake the caller."""
        with self.lock:
            cond = self._conds.get(res.key)
            if cond is not None and self._last_rv[res.key] <= rv and not self.closed:
                cond.wait(timeout)
            return self.rv

    def close(self):
        with self.lock:
            self.closed = True
            for cond in self._conds.values():
                cond.notify_all()
