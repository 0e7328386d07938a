"""REST semantics of stored resources: create/get/list/update/patch/delete, dryRun,
namespace lifecycle admission, optimistic concurrency and field ownership."""
import base64
import copy
import json
import random
import time
import uuid

from . import errors as E
from . import fields, kinds, patch as P, shapes
from .resources import BY_PLURAL
from .selectors import Selector
from .store import normalize

NS = BY_PLURAL["namespaces"]
CRD = BY_PLURAL["customresourcedefinitions"]
_RETURNS_OBJECT = {"Namespace", "Pod"}  # stores with ReturnDeletedObject
_IMMORTAL = {"default", "kube-system", "kube-public"}
_RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml",
               "application/apply-patch+cbor")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _gen_suffix():
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))


def field_manager(query, user_agent):
    fm = query.get("fieldManager")
    if fm:
        return fm
    # the apiserver derives a manager from the User-Agent's first segment
    return (user_agent or "unknown").split("/")[0] or "unknown"


def dry_run(query):
    vals = query.get_all("dryRun")
    if not vals:
        return False
    for v in vals:
        if v != "All":
            raise E.invalid("DryRun", "", "", [E.unsupported("dryRun", v, ["All"])])  # UNCONFIRMED shape
    return True


class Query:
    """Parsed query string with single- and multi-value access."""
    __slots__ = ("_d",)

    def __init__(self, d):
        self._d = d

    def get(self, k, default=None):
        v = self._d.get(k)
        return v[0] if v else default

    def get_all(self, k):
        return self._d.get(k) or []

    def __contains__(self, k):
        return k in self._d


def delete_or_mark(store, res, obj, dry=False):
    """Delete obj, or only mark it (deletionTimestamp) while metadata.finalizers remain.
    Returns (object as answered, deleted?)."""
    md = obj["metadata"]
    if md.get("finalizers"):
        if md.get("deletionTimestamp"):
            return obj, False
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if dry:
            return normalize(new), False
        return store.update(res, new, expect_rv=md["resourceVersion"]), False
    if dry:
        return obj, True
    return store.delete(res, md.get("namespace", ""), md["name"], expect_uid=md["uid"]), True


def field_validation(res, body, query):
    """Server-side field validation of a create/update/apply body. Returns Warning texts;
    raises 400 for Strict. Requests without the parameter get Warn, as since 1.27."""
    mode = query.get("fieldValidation") or "Warn"
    if mode not in ("Strict", "Warn", "Ignore"):
        raise E.bad_request('fieldValidation parameter unsupported: %s. Accepted values are "Ignore", "Warn", "Strict"' % mode)
    if mode == "Ignore":
        return []
    unknown = kinds.unknown_fields(res, body)
    if not unknown:
        return []
    msgs = ['unknown field "%s"' % f for f in unknown]
    if mode == "Strict":
        v = (body.get("apiVersion") or res.api_version).split("/")[-1]
        raise E.bad_request('%s in version "%s" cannot be handled as a %s: strict decoding error: %s'
                            % (res.kind, v, res.kind, ", ".join(msgs)))
    return msgs


def _strip_meta(md):
    for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
              "generation", "selfLink"):
        md.pop(k, None)


def _comparable(obj):
    o = dict(obj)
    md = dict(o.get("metadata") or {})
    md.pop("resourceVersion", None)
    md.pop("managedFields", None)
    o["metadata"] = md
    return o


def _generation_changed(res, obj, old):
    """Whether an update moves metadata.generation: a spec change for built-ins; for custom
    resources any change outside metadata (and status, with a status subresource)."""
    if not res.custom:
        return obj.get("spec") != old.get("spec")
    skip = ("metadata", "status") if res.status_sub else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip} != {k: v for k, v in old.items() if k not in skip}


def served(res, obj):
    """obj as served in res's version: custom resources are stored in one table for all versions
    and converted with strategy None (only apiVersion changes)."""
    if res.custom and obj.get("apiVersion") != res.api_version:
        return dict(obj, apiVersion=res.api_version)
    return obj


def _owners(obj):
    """managedFields without timestamps: who owns what."""
    return [(e.get("manager"), e.get("operation"), json.dumps(e.get("fieldsV1"), sort_keys=True))
            for e in (obj.get("metadata") or {}).get("managedFields") or [] if isinstance(e, dict)]


class API:
    def __init__(self, store, authz):
        self.store = store
        self.authz = authz  # for escalation checks on RBAC writes

    # ---- admission ----
    def _admit_custom(self, res):
        """No new custom resources while their CRD is being deleted."""
        crd = self.store.get(CRD, "", res.crd)
        if crd is None or crd["metadata"].get("deletionTimestamp"):
            raise E.APIError(405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating",
                             {"name": "", "group": res.group, "kind": res.plural})  # UNCONFIRMED details

    def _admit_namespace(self, res, ns, name):
        """NamespaceLifecycle admission for creates."""
        if not res.namespaced:
            return
        nso = self.store.get(NS, "", ns)
        if nso is None:
            raise E.not_found("namespaces", "", ns)
        if nso["metadata"].get("deletionTimestamp") or (nso.get("status") or {}).get("phase") == "Terminating":
            raise E.forbidden_full(res.plural, res.group, name,
                                   '%s is forbidden: unable to create new content in namespace %s because it is being terminated'
                                   % ('%s "%s"' % (E.gr_string(res.plural, res.group), name) if name else E.gr_string(res.plural, res.group), ns),
                                   causes=[{"reason": "NamespaceTerminating",
                                            "message": "namespace %s is being terminated" % ns,
                                            "field": "metadata.namespace"}])

    def _escalation(self, res, obj, user, old=None):
        if res.kind in _RBAC_KINDS and not res.custom:
            self.authz.check_escalation(user, obj, old)

    def _fix_namespace(self, res, obj, ns):
        md = obj["metadata"]
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise E.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)  # cluster-scoped: silently cleared

    def _typed(self, res, body, owned=False):
        """A copy of body as res's kind (owned=True: body is ours to change, skip the copy)."""
        shapes.check(res.kind, res.api_version, body, not res.custom)
        kind = body.get("kind")
        if kind and kind != res.kind:
            raise E.bad_request('%s in version "%s" cannot be handled as a %s: no kind "%s" is registered for '
                                'version "%s" in scheme "pkg/api/legacyscheme/scheme.go:30"'
                                % (kind, body.get("apiVersion", res.version), res.kind, kind, body.get("apiVersion", res.version)))
        obj = body if owned else copy.deepcopy(body)
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        return obj

    # ---- create ----
    def _admit_new(self, res, ns, name, obj, user):
        """What every new object passes, by POST or by server-side apply: namespace and CRD
        admission, name validation, a new uid and creation time, defaults, validation and the
        RBAC escalation check."""
        md = obj["metadata"]
        self._admit_namespace(res, ns, name)
        if res.custom:
            self._admit_custom(res)
        errs = kinds.validate_name(res, name)
        if errs:
            raise E.invalid(res.kind, res.group, name, errs)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now()
        if res.generation:
            md["generation"] = 1
        if res.status_sub and res.kind != "Namespace":
            obj.pop("status", None)
        kinds.default(res, obj)
        errs = kinds.validate(res, obj)
        if errs:
            raise E.invalid(res.kind, res.group, name, errs)
        self._escalation(res, obj, user)

    def create(self, res, ns, body, query, user, user_agent, warnings=None, owned=False):
        dry = dry_run(query)
        if warnings is not None:
            warnings += field_validation(res, body, query)
        obj = self._typed(res, body, owned)
        md = obj["metadata"]
        self._fix_namespace(res, obj, ns)
        if md.get("resourceVersion"):
            raise E.bad_request("resourceVersion should not be set on objects to be created")
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + _gen_suffix()
        name = md.get("name", "")
        _strip_meta(md)
        self._admit_new(res, ns, name, obj, user)
        md.pop("managedFields", None)
        fields.track_update(None, obj, field_manager(query, user_agent), res.api_version, md["creationTimestamp"])
        if dry:
            if self.store.get(res, ns, name) is not None:
                raise E.already_exists(res.plural, res.group, name)
            return normalize(obj)
        for attempt in range(8):
            try:
                return self.store.create(res, obj)
            except E.APIError as e:
                # generateName collisions are retried with a new suffix (RetryGenerateName, 1.31+)
                if e.code != 409 or not md.get("generateName") or attempt == 7:
                    raise
                md["name"] = md["generateName"] + _gen_suffix()

    # ---- read ----
    def get(self, res, ns, name):
        obj = self.store.get(res, ns, name)
        if obj is None:
            raise E.not_found(res.plural, res.group, name)
        return served(res, obj) if res.custom else obj

    def list(self, res, ns, query):
        sel = Selector(query.get("labelSelector"), query.get("fieldSelector"), res.kind)
        items, rv = self.store.list(res, ns)
        if not sel.empty():
            items = [o for o in items if sel.match(o)]
        start = query.get("continue")
        if start:
            try:
                tok = json.loads(base64.b64decode(start))
                after = tuple(tok["start"])
            except (ValueError, KeyError, TypeError):
                raise E.bad_request("continue key is not valid: illegal base64 data")
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        meta = {"resourceVersion": str(rv)}
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            limit = 0
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = base64.b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": rv, "start": [last.get("namespace", ""), last["name"]]},
                separators=(",", ":")).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if res.custom:  # unstructured lists: items keep kind and apiVersion
            return {"apiVersion": res.api_version, "items": [served(res, o) for o in items], "kind": res.list_kind,
                    "metadata": meta}
        # items of built-in typed lists carry no kind/apiVersion
        out = []
        for o in items:
            o = dict(o)
            o.pop("kind", None)
            o.pop("apiVersion", None)
            out.append(o)
        return {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta, "items": out}

    # ---- update ----
    def _finish_update(self, res, old, obj, query, user, user_agent, dry, operation_fields=True):
        md = obj["metadata"]
        omd = old["metadata"]
        if md.get("uid") and md["uid"] != omd["uid"]:
            raise E.invalid(res.kind, res.group, omd["name"], [E.invalid_value("metadata.uid", md["uid"], "field is immutable")])
        md["uid"] = omd["uid"]
        md["creationTimestamp"] = omd["creationTimestamp"]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        if res.status_sub:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        kinds.default(res, obj, old)
        if res.generation:
            md["generation"] = omd.get("generation", 1) + (1 if _generation_changed(res, obj, old) else 0)
        errs = kinds.validate(res, obj, old)
        if errs:
            raise E.invalid(res.kind, res.group, omd["name"], errs)
        if _comparable(obj) == _comparable(old) and operation_fields:
            return old  # no-op: nothing written, rv unchanged
        self._escalation(res, obj, user, old)
        if operation_fields:
            if md.get("managedFields") == omd.get("managedFields"):
                fields.track_update(old, obj, field_manager(query, user_agent), res.api_version, now())
            elif not md.get("managedFields"):
                md.pop("managedFields", None)
        if omd.get("deletionTimestamp") and not md.get("finalizers") and res is not NS:
            # the last finalizer is gone: the object goes now
            if dry:
                return normalize(obj)
            self.store.update(res, obj, expect_rv=omd["resourceVersion"])
            return self.store.delete(res, omd.get("namespace", ""), omd["name"], expect_uid=omd["uid"])
        if dry:
            return normalize(obj)
        return self.store.update(res, obj, expect_rv=omd["resourceVersion"])

    def update(self, res, ns, name, body, query, user, user_agent, warnings=None, owned=False):
        dry = dry_run(query)
        if warnings is not None:
            warnings += field_validation(res, body, query)
        obj = self._typed(res, body, owned)
        md = obj["metadata"]
        if md.get("name") and md["name"] != name:
            raise E.bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md["name"], name))
        md["name"] = name
        self._fix_namespace(res, obj, ns)
        old = self.get(res, ns, name)
        rv = md.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise E.conflict_modified(res.plural, res.group, name)
        return self._finish_update(res, old, obj, query, user, user_agent, dry)

    def update_status(self, res, ns, name, body, query):
        """PUT .../status: only status changes."""
        dry = dry_run(query)
        shapes.check(res.kind, res.api_version, body, not res.custom)
        old = self.get(res, ns, name)
        obj = copy.deepcopy(old)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise E.conflict_modified(res.plural, res.group, name)
        obj["status"] = copy.deepcopy(body.get("status") or {})
        if dry:
            return obj
        return self.store.update(res, obj, expect_rv=old["metadata"]["resourceVersion"])

    # ---- patch ----
    def patch(self, res, ns, name, ctype, raw, query, user, user_agent, warnings=None):
        dry = dry_run(query)
        ctype = (ctype or "").split(";")[0].strip().lower()
        apply = ctype == "application/apply-patch+yaml"
        if ctype not in PATCH_TYPES or ctype == "application/apply-patch+cbor":
            raise E.unsupported_media('the body of the request was in an unknown format - accepted media types '
                                      'include: application/json-patch+json, application/merge-patch+json, '
                                      'application/apply-patch+yaml')
        if res.custom and ctype == "application/strategic-merge-patch+json":
            raise E.unsupported_media('the body of the request was in an unknown format - accepted media types '
                                      'include: application/json-patch+json, application/merge-patch+json, '
                                      'application/apply-patch+yaml')
        force = query.get("force")
        if force is not None and not apply:
            raise E.invalid("PatchOptions", "meta.k8s.io", "",
                            [E.forbidden_field("force", "may not be specified for non-apply patch")])
        if apply and not query.get("fieldManager"):
            raise E.invalid("PatchOptions", "meta.k8s.io", "",
                            [E.required("fieldManager", "is required for apply patch")])
        import yaml  # lazily: it costs start-up time and only apply needs it
        try:
            text = raw.decode("utf-8")
            body = yaml.safe_load(text) if apply else json.loads(text)
        except (UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
            raise E.bad_request("error decoding patch: %s" % str(e).splitlines()[0] if str(e) else "invalid patch")
        force = force in ("true", "1", "True")
        if apply and warnings is not None:
            warnings += field_validation(res, body, query)
        for attempt in range(5):
            try:
                return self._patch_once(res, ns, name, ctype, body, query, user, user_agent, dry, apply, force)
            except E.APIError as e:
                # a concurrent write between our read and CAS: re-read and re-apply, as the apiserver does
                if e.code == 409 and e.reason == "Conflict" and getattr(e, "_cas", False) and attempt < 4:
                    continue
                raise

    def _patch_once(self, res, ns, name, ctype, body, query, user, user_agent, dry, apply, force):
        old = self.store.get(res, ns, name)
        if old is not None and res.custom:
            old = served(res, old)
        if apply:
            if not isinstance(body, dict):
                raise E.bad_request("error decoding YAML: the apply patch must be an object")
            for f in ("apiVersion", "kind"):
                if not body.get(f):
                    raise E.bad_request("%s must be set in the apply patch" % f)  # UNCONFIRMED wording
            shapes.check(res.kind, res.api_version, body, not res.custom)
            cfg = copy.deepcopy(body)
            if not isinstance(cfg.get("metadata"), dict):
                cfg["metadata"] = {}
            if cfg["metadata"].get("name") and cfg["metadata"]["name"] != name:
                raise E.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                    % (cfg["metadata"]["name"], name))
            cfg["metadata"]["name"] = name
            if res.namespaced:
                cfg["metadata"]["namespace"] = ns
            else:
                cfg["metadata"].pop("namespace", None)
            manager = query.get("fieldManager")
            if old is None:
                new = fields.apply(res, None, cfg, manager, force, now())
                return self._create_applied(res, ns, new, user, dry)
            new = fields.apply(res, old, cfg, manager, force, now())
            new = self._typed(res, new, owned=True)
            if _comparable(new) == _comparable(old) and _owners(new) == _owners(old):
                return old  # nothing changed, not even field ownership: no write
            try:
                return self._finish_update(res, old, new, query, user, user_agent, dry, operation_fields=False)
            except E.APIError as e:
                e._cas = True
                raise
        if old is None:
            raise E.not_found(res.plural, res.group, name)
        try:
            if ctype == "application/json-patch+json":
                new = P.json_patch(old, body)
            elif ctype == "application/merge-patch+json":
                if not isinstance(body, dict):
                    raise P.PatchError("merge patch must be a JSON object")
                new = P.merge_patch(copy.deepcopy(old), body)
            else:
                if not isinstance(body, dict):
                    raise P.PatchError("strategic merge patch must be a JSON object")
                new = P.strategic_merge(copy.deepcopy(old), body)
        except P.PatchDecodeError as e:
            raise E.bad_request(str(e))
        except P.PatchError as e:
            raise E.APIError(422, "Invalid", str(e), {})
        if not isinstance(new, dict):
            raise E.bad_request("patch produced a non-object")
        new = self._typed(res, new, owned=True)
        md = new["metadata"]
        if md.get("name") != name:
            raise E.bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md.get("name"), name))
        self._fix_namespace(res, new, ns)
        rv = md.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise E.conflict_modified(res.plural, res.group, name)
        try:
            return self._finish_update(res, old, new, query, user, user_agent, dry)
        except E.APIError as e:
            e._cas = True
            raise

    def _create_applied(self, res, ns, obj, user, dry):
        obj = self._typed(res, obj, owned=True)
        md = obj["metadata"]
        name = md["name"]
        self._admit_new(res, ns, name, obj, user)
        if dry:
            return normalize(obj)
        return self.store.create(res, obj)

    # ---- delete ----
    def delete(self, res, ns, name, opts, query):
        dry = dry_run(query) or (isinstance(opts, dict) and opts.get("dryRun") == ["All"])
        old = self.get(res, ns, name)
        pre = (opts or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise E.conflict(res.plural, res.group, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                             % (pre["uid"], old["metadata"]["uid"]))
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise E.conflict(res.plural, res.group, name,
                             "Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s"
                             % (pre["resourceVersion"], old["metadata"]["resourceVersion"]))
        if res is NS:
            return self._delete_namespace(old, dry)
        out, deleted = delete_or_mark(self.store, res, old, dry)
        if res.kind in _RETURNS_OBJECT or not deleted:
            return out  # pending finalizers: the marked object
        return self.success(res, name, old["metadata"]["uid"])

    @staticmethod
    def success(res, name, uid):
        d = {"name": name}
        if res.group:
            d["group"] = res.group
        d["kind"] = res.plural
        d["uid"] = uid
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d}

    def _delete_namespace(self, old, dry):
        name = old["metadata"]["name"]
        if name in _IMMORTAL:
            raise E.forbidden("namespaces", "", name, "this namespace may not be deleted")
        if old["metadata"].get("deletionTimestamp"):
            if not (old.get("spec") or {}).get("finalizers"):
                return old if dry else self.store.delete(NS, "", name, expect_uid=old["metadata"]["uid"])
            raise E.conflict("namespaces", "", name, "The system is ensuring all content is removed from this "
                             "namespace.  Upon completion, this namespace will automatically be purged by the system.")
        obj = copy.deepcopy(old)
        obj["metadata"]["deletionTimestamp"] = now()
        obj["status"] = dict(obj.get("status") or {}, phase="Terminating")
        if dry:
            return obj
        return self.store.update(NS, obj, expect_rv=old["metadata"]["resourceVersion"])

    def delete_collection(self, res, ns, query, opts):
        dry = dry_run(query)
        sel = Selector(query.get("labelSelector"), query.get("fieldSelector"), res.kind)
        items, rv = self.store.list(res, ns)
        gone = []
        for o in items:
            if not sel.match(o):
                continue
            if res is NS:
                continue  # deletecollection is not served for namespaces
            if not dry:
                try:
                    o = self.store.delete(res, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                except E.APIError:
                    continue
            o = dict(o)
            o.pop("kind", None)
            o.pop("apiVersion", None)
            gone.append(o)
        return {"kind": res.list_kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(self.store.current_rv())}, "items": gone}
