"""CustomResourceDefinitions (apiextensions.k8s.io/v1): defaulting, validation of the basics,
and the registry that turns stored CRDs into served resources and discovery documents.

A CRD is Established as soon as it is written (its names never conflict here: the name is
plural.group, and kinds or short names shared with other groups are allowed, as on a real
server). Custom resources are schema-less: stored as sent (metadata handled as for any
object), all versions share one table, and an object is served in the version asked for
(conversion strategy None: only apiVersion changes).

Wordings marked UNCONFIRMED follow apiextensions-apiserver's validation.go from memory.
"""
import re
import time

from . import errors as E
from . import resources as R

CRD = R.BY_PLURAL["customresourcedefinitions"]
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
KIND_RE = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(v):
    """Sort key of Kubernetes version names: GA before beta before alpha, higher numbers first,
    anything else after them, alphabetically (version.CompareKubeAwareVersionStrings)."""
    m = _VERSION_RE.match(v)
    if not m:
        return (3, 0, 0, v)
    major, pre, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[pre], -major, -minor, v)


def _spec(obj):
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _names(spec):
    names = spec.get("names")
    return names if isinstance(names, dict) else {}


def _versions(spec):
    vs = spec.get("versions")
    return [v for v in vs if isinstance(v, dict)] if isinstance(vs, list) else []


def accepted_names(spec):
    n = _names(spec)
    out = {"plural": n.get("plural", ""), "singular": n.get("singular", ""), "kind": n.get("kind", ""),
           "listKind": n.get("listKind", "")}
    for k in ("shortNames", "categories"):
        if n.get(k):
            out[k] = list(n[k])
    return out


def default(obj, old):
    """SetDefaults for v1 CRDs, plus what the establishing controllers write at once: the cleanup
    finalizer, status.acceptedNames, NamesAccepted and Established conditions, storedVersions."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        if not names.get("singular"):
            names["singular"] = names["kind"].lower()
        if not names.get("listKind"):
            names["listKind"] = names["kind"] + "List"
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    md = obj["metadata"]
    if old is None and not md.get("deletionTimestamp"):
        fins = list(md.get("finalizers") or [])
        if CLEANUP_FINALIZER not in fins:
            fins.append(CLEANUP_FINALIZER)
        md["finalizers"] = fins
    ost = (old or {}).get("status") or {}
    conds = {c.get("type"): c for c in ost.get("conditions") or [] if isinstance(c, dict)}
    out = []
    for typ, reason, msg in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                             ("Established", "InitialNamesAccepted", "the initial names have been accepted")):
        prev = conds.get(typ)
        ts = prev.get("lastTransitionTime", now) if prev and prev.get("status") == "True" else now
        out.append({"type": typ, "status": "True", "lastTransitionTime": ts, "reason": reason, "message": msg})
    if conds.get("Terminating"):
        out.append(conds["Terminating"])
    stored = list(ost.get("storedVersions") or [])
    for v in _versions(spec):
        if v.get("storage") is True and v.get("name") and v["name"] not in stored:
            stored.append(v["name"])
    obj["status"] = {"conditions": out, "acceptedNames": accepted_names(spec), "storedVersions": stored}


def validate(obj, old=None):
    """The basics of ValidateCustomResourceDefinition: a list of FieldErrors."""
    errs = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [E.required("spec")]
    name = obj["metadata"].get("name", "")
    group = spec.get("group")
    names = _names(spec)
    plural = names.get("plural")
    if not group:
        errs.append(E.required("spec.group"))
    elif not isinstance(group, str) or not DNS1123_SUBDOMAIN.match(group) or len(group) > 253:
        errs.append(E.invalid_value("spec.group", group, "a lowercase RFC 1123 subdomain must consist of lower case "
                                    "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                                    "character (e.g. 'example.com', regex used for validation is "
                                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    elif "." not in group:
        errs.append(E.invalid_value("spec.group", group, "should be a domain with at least one dot"))
    if isinstance(plural, str) and isinstance(group, str) and name != plural + "." + group:
        errs.append(E.invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if not scope:
        errs.append(E.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(E.unsupported("spec.scope", scope, ["Cluster", "Namespaced"]))
    for field in ("plural", "singular"):
        v = names.get(field)
        if field == "plural" and not v:
            errs.append(E.required("spec.names.plural"))
        elif v and (not isinstance(v, str) or not DNS1035.match(v)):
            errs.append(E.invalid_value("spec.names." + field, v, DNS1035_MSG))
    for field in ("kind", "listKind"):
        v = names.get(field)
        if not v:
            errs.append(E.required("spec.names." + field))
        elif not isinstance(v, str) or not KIND_RE.match(v):
            errs.append(E.invalid_value("spec.names." + field, v,
                                        "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?"))
    if not isinstance(spec.get("names"), dict):
        errs.append(E.required("spec.names"))
    for field in ("shortNames", "categories"):
        if names.get(field) is not None and not isinstance(names.get(field), list):
            errs.append(E.invalid_value("spec.names." + field, names.get(field), "must be a list of strings"))
            continue
        for i, v in enumerate(names.get(field) or []):
            if not isinstance(v, str) or not DNS1035.match(v):
                errs.append(E.invalid_value("spec.names.%s[%d]" % (field, i), v, DNS1035_MSG))
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        errs.append(E.invalid_value("spec.versions", versions or [],
                                    "must have exactly one version marked as storage version"))  # UNCONFIRMED value
        return errs
    seen, storage = set(), 0
    for i, v in enumerate(versions):
        path = "spec.versions[%d]" % i
        if not isinstance(v, dict):
            errs.append(E.invalid_value(path, v, "must be an object"))
            continue
        vn = v.get("name")
        if not vn:
            errs.append(E.required(path + ".name"))
        elif not isinstance(vn, str) or not DNS1035.match(vn):
            errs.append(E.invalid_value(path + ".name", vn, DNS1035_MSG))
        elif vn in seen:
            errs.append(E.FieldError("Duplicate value", path + ".name", vn))  # UNCONFIRMED
        seen.add(vn)
        for flag in ("served", "storage"):
            if not isinstance(v.get(flag), bool):
                errs.append(E.required(path + "." + flag))
        if v.get("storage") is True:
            storage += 1
        schema = v.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("openAPIV3Schema"), dict):
            errs.append(E.required(path + ".schema.openAPIV3Schema", "schemas are required"))
        elif not schema["openAPIV3Schema"].get("type") and \
                not schema["openAPIV3Schema"].get("x-kubernetes-preserve-unknown-fields"):
            errs.append(E.required(path + ".schema.openAPIV3Schema.type", "must not be empty at the root"))
    if storage != 1:
        errs.append(E.invalid_value("spec.versions", [v.get("name") for v in versions if isinstance(v, dict)],
                                    "must have exactly one version marked as storage version"))  # UNCONFIRMED value
    if not any(isinstance(v, dict) and v.get("served") is True for v in versions):
        errs.append(E.invalid_value("spec.versions", [v.get("name") for v in versions if isinstance(v, dict)],
                                    "must have at least one served version"))  # UNCONFIRMED
    if old is not None:
        ospec = _spec(old)
        for field in ("group", "scope"):
            if ospec.get(field) != spec.get(field):
                errs.append(E.invalid_value("spec." + field, spec.get(field), "field is immutable"))
    return errs


def table_key(crd):
    spec = _spec(crd)
    return "%s.%s" % (_names(spec).get("plural"), spec.get("group"))


def served_resources(crd, all_versions=False):
    """[(group, version, Resource)] for the served versions of a stored CRD (every version with
    all_versions: the cleanup controller deletes through them)."""
    spec = _spec(crd)
    names = _names(spec)
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    out = []
    for v in _versions(spec):
        if v.get("served") is not True and not all_versions:
            continue
        subs = []
        sub = v.get("subresources") if isinstance(v.get("subresources"), dict) else {}
        if "status" in sub:
            subs.append(("status", group, v["name"], kind, ["get", "patch", "update"]))
        r = R.Resource(group, v["name"], plural, kind, spec.get("scope") == "Namespaced",
                       short=names.get("shortNames") or (), categories=names.get("categories") or (),
                       subresources=subs, crd=crd["metadata"]["name"])
        r.singular = names.get("singular") or kind.lower()
        r.list_kind = names.get("listKind") or kind + "List"
        out.append((group, v["name"], r))
    return out


class Registry:
    """Keeps resources' custom registry, the store's tables and discovery in step with the stored
    CRDs. Runs as a store listener, i.e. under the store lock and before the write returns: once
    a CRD create is answered, its resources are served."""

    def __init__(self, store, discovery=None):
        self.store, self.discovery = store, discovery
        store.listeners.append(self._on_event)

    def _on_event(self, ev):
        if ev.resource is CRD:
            self.refresh()

    def refresh(self):
        by_gv_plural, groups = {}, {}
        items, _ = self.store.list(CRD)
        for crd in items:
            for g, v, r in served_resources(crd):
                by_gv_plural[(r.gv, r.plural)] = r
                groups.setdefault(g, {}).setdefault(v, []).append(r)
        ordered = []
        for g in sorted(groups):
            versions = sorted(groups[g], key=version_priority)
            ordered.append((g, [(v, sorted(groups[g][v], key=lambda r: r.plural)) for v in versions]))
        keys = {table_key(crd) for crd in items}  # a CRD serving no version keeps its objects
        for r in by_gv_plural.values():
            self.store.add_resource(r)
        for old in R.stored_resources():
            if old.custom and old.key not in keys:
                self.store.drop_resource(old)
        R.set_custom(by_gv_plural, ordered)
        if self.discovery is not None:
            self.discovery.rebuild()
