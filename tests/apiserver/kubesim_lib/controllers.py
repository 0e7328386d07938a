"""The controllers a client can observe, run asynchronously like kube-controller-manager:

- token controller: fills kubernetes.io/service-account-token Secrets after --token-delay,
  deletes ones naming a missing SA (or an SA with another uid), and deletes an SA's token
  Secrets when the SA goes;
- namespace controller: after a DELETE, removes every object in the namespace, then the
  namespace itself;
- serviceaccount / root-ca publisher: SA "default" and ConfigMap kube-root-ca.crt in every
  new namespace (no token Secrets: 1.24+ behaviour);
- deployment "rollout": no Pods run, but after --rollout-delay a Deployment's status reports
  its replicas ready and Available, so `kubectl rollout status` and wait loops terminate.
"""
import base64
import copy
import heapq
import itertools
import threading
import time
import uuid

from . import errors as E
from . import fields
from .api import delete_or_mark, now
from .kinds import SA_TOKEN
from . import crds
from .resources import BY_PLURAL, stored_resources

SECRET = BY_PLURAL["secrets"]
SA = BY_PLURAL["serviceaccounts"]
NS = BY_PLURAL["namespaces"]
CM = BY_PLURAL["configmaps"]
DEPLOY = BY_PLURAL["deployments"]
CRD = BY_PLURAL["customresourcedefinitions"]
SA_NAME = "kubernetes.io/service-account.name"
SA_UID = "kubernetes.io/service-account.uid"


def new_object(res, ns, name, body, manager="kube-controller-manager"):
    """A server-side created object with the system fields filled."""
    obj = {"apiVersion": res.api_version, "kind": res.kind}
    obj.update(copy.deepcopy(body))
    md = obj.setdefault("metadata", {})
    md["name"] = name
    if res.namespaced:
        md["namespace"] = ns
    md["uid"] = str(uuid.uuid4())
    md["creationTimestamp"] = now()
    fields.track_update(None, obj, manager, res.api_version, md["creationTimestamp"])
    return obj


class Scheduler:
    """One worker thread running delayed callbacks in due order."""

    def __init__(self):
        self._heap = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._busy = 0
        threading.Thread(target=self._run, name="controllers", daemon=True).start()

    def after(self, delay, fn, *args):
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), fn, args))
            self._cond.notify()

    def stop(self):
        with self._cond:
            self._stop = True
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._stop:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                if self._stop:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
            try:
                fn(*args)
            except E.APIError:
                pass  # Conflict/NotFound: the next event will retry, as the real controllers do
            except Exception:  # a controller bug must not kill the server
                import traceback
                traceback.print_exc()


class Controllers:
    def __init__(self, store, signer, ca_pem, token_delay=0.2, namespace_delay=0.3, rollout_delay=0.5,
                 publish_delay=0.0):
        self.store, self.signer, self.ca_pem = store, signer, ca_pem
        self.token_delay, self.namespace_delay, self.rollout_delay = token_delay, namespace_delay, rollout_delay
        self.publish_delay = publish_delay
        self.sched = Scheduler()
        store.listeners.append(self._on_event)

    def stop(self):
        self.sched.stop()

    # ---- event routing (called under the store lock: only schedule here) ----
    def _on_event(self, ev):
        res = ev.resource
        if res is SECRET and ev.type != "DELETED" and ev.obj.get("type") == SA_TOKEN:
            md = ev.obj["metadata"]
            self.sched.after(self.token_delay, self.sync_token_secret, md["namespace"], md["name"])
        elif res is SA:
            md = ev.obj["metadata"]
            if ev.type == "DELETED":
                self.sched.after(self.token_delay, self.sa_deleted, md["namespace"], md["name"], md["uid"])
            elif ev.type == "ADDED":
                self.sched.after(self.token_delay, self.sa_added, md["namespace"], md["name"])
        elif res is DEPLOY and ev.type != "DELETED":
            md = ev.obj["metadata"]
            st = ev.obj.get("status") or {}
            if st.get("observedGeneration") != md.get("generation") or \
                    st.get("readyReplicas", 0) != (ev.obj.get("spec") or {}).get("replicas", 1):
                self.sched.after(self.rollout_delay, self.sync_deployment, md["namespace"], md["name"])
        elif res is CRD and ev.type == "MODIFIED":
            md = ev.obj["metadata"]
            if md.get("deletionTimestamp") and not (ev.old or {}).get("metadata", {}).get("deletionTimestamp"):
                self.sched.after(0.0, self.crd_cleanup, md["name"])
        elif res is NS:
            md = ev.obj["metadata"]
            if ev.type == "ADDED":
                self.sched.after(self.publish_delay, self.namespace_added, md["name"])
            elif ev.type == "MODIFIED" and md.get("deletionTimestamp") and not (ev.old or {}).get("metadata", {}).get("deletionTimestamp"):
                self.sched.after(self.namespace_delay, self.finalize_namespace, md["name"])

    # ---- token controller ----
    def sync_token_secret(self, ns, name):
        sec = self.store.get(SECRET, ns, name)
        if sec is None or sec.get("type") != SA_TOKEN:
            return
        ann = sec["metadata"].get("annotations") or {}
        sa = self.store.get(SA, ns, ann.get(SA_NAME, ""))
        if sa is None or (ann.get(SA_UID) and ann[SA_UID] != sa["metadata"]["uid"]):
            self.store.delete(SECRET, ns, name, expect_uid=sec["metadata"]["uid"])
            return
        data = sec.get("data") or {}
        ca = base64.b64encode(self.ca_pem).decode()
        nsb = base64.b64encode(ns.encode()).decode()
        if data.get("token") and data.get("ca.crt") == ca and data.get("namespace") == nsb and ann.get(SA_UID):
            return
        new = copy.deepcopy(sec)
        new_data = dict(data)
        new_data["ca.crt"] = ca
        new_data["namespace"] = nsb
        if not data.get("token"):
            tok = self.signer.legacy_token(ns, sa["metadata"]["name"], sa["metadata"]["uid"], name)
            new_data["token"] = base64.b64encode(tok.encode()).decode()
        new["data"] = new_data
        new["metadata"].setdefault("annotations", {})[SA_UID] = sa["metadata"]["uid"]
        new["metadata"]["annotations"][SA_NAME] = sa["metadata"]["name"]
        fields.track_update(sec, new, "kube-controller-manager", "v1", now())
        # PUT with the rv we read; a Conflict is dropped and the resulting event re-queues us
        self.store.update(SECRET, new, expect_rv=sec["metadata"]["resourceVersion"])

    def _token_secrets(self, ns, sa_name):
        items, _ = self.store.list(SECRET, ns)
        return [s for s in items if s.get("type") == SA_TOKEN
                and (s["metadata"].get("annotations") or {}).get(SA_NAME) == sa_name]

    def sa_added(self, ns, name):
        for s in self._token_secrets(ns, name):
            self.sync_token_secret(ns, s["metadata"]["name"])

    def sa_deleted(self, ns, name, uid):
        for s in self._token_secrets(ns, name):
            su = (s["metadata"].get("annotations") or {}).get(SA_UID)
            if su in (None, "", uid) or self.store.get(SA, ns, name) is None:
                try:
                    self.store.delete(SECRET, ns, s["metadata"]["name"], expect_uid=s["metadata"]["uid"])
                except E.APIError:
                    pass

    # ---- deployment rollout (status only) ----
    def sync_deployment(self, ns, name):
        d = self.store.get(DEPLOY, ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        n = (d.get("spec") or {}).get("replicas", 1)
        gen = d["metadata"].get("generation", 1)
        old = d.get("status") or {}
        if old.get("observedGeneration") == gen and old.get("readyReplicas", 0) == n:
            return
        ts = now()
        conds = {c.get("type"): c for c in old.get("conditions") or []}
        avail = conds.get("Available") or {"type": "Available", "lastTransitionTime": ts}
        avail.update({"status": "True", "lastUpdateTime": ts, "reason": "MinimumReplicasAvailable",
                      "message": "Deployment has minimum availability."})
        prog = conds.get("Progressing") or {"type": "Progressing", "lastTransitionTime": ts}
        prog.update({"status": "True", "lastUpdateTime": ts, "reason": "NewReplicaSetAvailable",
                     "message": 'ReplicaSet "%s-%s" has successfully progressed.' % (name, d["metadata"]["uid"][:10].replace("-", ""))})
        new = copy.deepcopy(d)
        new["status"] = {"observedGeneration": gen, "replicas": n, "updatedReplicas": n, "readyReplicas": n,
                         "availableReplicas": n, "conditions": [avail, prog]}
        if n == 0:
            for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
                new["status"].pop(k)
        self.store.update(DEPLOY, new, expect_rv=d["metadata"]["resourceVersion"])

    # ---- CRD finalizer: a deleted CRD takes its custom resources with it ----
    def crd_cleanup(self, name):
        crd = self.store.get(CRD, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        if crds.CLEANUP_FINALIZER not in (crd["metadata"].get("finalizers") or []):
            return
        versions = crds.served_resources(crd, all_versions=True)
        remaining = 0
        if versions and self.store.serves(versions[0][2]):
            res = versions[0][2]
            items, _ = self.store.list(res)
            for o in items:
                try:
                    o, deleted = delete_or_mark(self.store, res, o)
                except E.APIError:
                    deleted = False
                remaining += 0 if deleted else 1
        conds = [c for c in (crd.get("status") or {}).get("conditions") or [] if c.get("type") != "Terminating"]
        if remaining:
            # instances held by their finalizers keep the CRD (and its finalizer) until they go
            term = {"type": "Terminating", "status": "True", "lastTransitionTime": now(),
                    "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}
            old_term = [c for c in (crd.get("status") or {}).get("conditions") or [] if c.get("type") == "Terminating"]
            if not old_term or old_term[0].get("reason") != term["reason"]:
                new = copy.deepcopy(crd)
                new.setdefault("status", {})["conditions"] = conds + [term]
                self.store.update(CRD, new, expect_rv=crd["metadata"]["resourceVersion"])
            self.sched.after(0.25, self.crd_cleanup, name)
            return
        new = copy.deepcopy(crd)
        new["metadata"]["finalizers"] = [f for f in crd["metadata"]["finalizers"] if f != crds.CLEANUP_FINALIZER]
        new.setdefault("status", {})["conditions"] = conds + [{
            "type": "Terminating", "status": "False", "lastTransitionTime": now(),
            "reason": "InstanceDeletionCompleted", "message": "removed all instances"}]
        out = self.store.update(CRD, new, expect_rv=crd["metadata"]["resourceVersion"])
        if not new["metadata"]["finalizers"]:
            self.store.delete(CRD, "", name, expect_uid=out["metadata"]["uid"])

    # ---- namespace controllers ----
    def namespace_added(self, ns):
        nso = self.store.get(NS, "", ns)
        if nso is None or nso["metadata"].get("deletionTimestamp"):
            return
        for res, name, body, mgr in (
                (SA, "default", {}, "kube-controller-manager"),
                (CM, "kube-root-ca.crt", {"data": {"ca.crt": self.ca_pem.decode()}}, "kube-controller-manager")):
            if self.store.get(res, ns, name) is None:
                try:
                    self.store.create(res, new_object(res, ns, name, body, mgr))
                except E.APIError:
                    pass

    def finalize_namespace(self, ns):
        nso = self.store.get(NS, "", ns)
        if nso is None or not nso["metadata"].get("deletionTimestamp"):
            return
        remaining, finalizers = {}, {}
        for res in stored_resources():
            if not res.namespaced:
                continue
            items, _ = self.store.list(res, ns)
            for o in items:
                try:
                    o, deleted = delete_or_mark(self.store, res, o)
                except E.APIError:
                    deleted = False
                if not deleted:
                    remaining[res] = remaining.get(res, 0) + 1
                    for f in o["metadata"].get("finalizers") or []:
                        finalizers[f] = finalizers.get(f, 0) + 1
        if remaining:
            # objects held by finalizers keep the namespace Terminating; report why, as the real controller does
            self._namespace_conditions(nso, remaining, finalizers)
            self.sched.after(0.25, self.finalize_namespace, ns)
            return
        try:
            self.store.delete(NS, "", ns, expect_uid=nso["metadata"]["uid"])
        except E.APIError:
            pass

    def _namespace_conditions(self, nso, remaining, finalizers):
        ts = now()
        res_msg = ", ".join("%s%s has %d resource instances" % (r.plural, "." + r.group if r.group else ".", n)
                            for r, n in sorted(remaining.items(), key=lambda kv: kv[0].plural))
        fin_msg = ", ".join("%s in %d resource instances" % (f, n) for f, n in sorted(finalizers.items()))
        conds = [
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "reason": "ResourcesDiscovered",
             "message": "All resources successfully discovered"},
            {"type": "NamespaceDeletionGroupVersionParsingFailure", "status": "False", "reason": "ParsedGroupVersions",
             "message": "All legacy kube types successfully parsed"},
            {"type": "NamespaceDeletionContentFailure", "status": "False", "reason": "ContentDeleted",
             "message": "All content successfully deleted, may be waiting on finalization"},
            {"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
             "message": "Some resources are remaining: " + res_msg},
            {"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
             "message": "Some content in the namespace has finalizers remaining: " + fin_msg},
        ]
        old = (nso.get("status") or {}).get("conditions") or []
        if [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in old] == conds:
            return
        for c in conds:
            c["lastTransitionTime"] = ts
        new = copy.deepcopy(nso)
        new.setdefault("status", {})["conditions"] = conds
        self.store.update(NS, new, expect_rv=nso["metadata"]["resourceVersion"])
