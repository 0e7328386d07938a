"""Per-kind defaulting and validation, the part of each registry strategy a client can observe."""
import base64
import itertools
import re
import threading

from . import crds
from . import errors as E

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
SA_TOKEN = "kubernetes.io/service-account-token"
RBAC_GROUP = "rbac.authorization.k8s.io"

_ip_lock = threading.Lock()
_ip_counter = itertools.count(10)  # 10.96.0.1 is the kubernetes Service
_node_ports = itertools.count(30000)

LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def next_node_port():
    with _ip_lock:
        return next(_node_ports)


def _qualified_name_errors(field, key):
    """IsQualifiedName: [prefix/]name, prefix a DNS subdomain, name <= 63 characters."""
    prefix, _, name = key.rpartition("/")
    errs = []
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        errs.append(E.invalid_value(field, key, "prefix part " + SUBDOMAIN_MSG))
    if not name:
        errs.append(E.invalid_value(field, key, "name part must be non-empty"))
    elif len(name) > 63:
        errs.append(E.invalid_value(field, key, "name part must be no more than 63 characters"))
    elif not LABEL_NAME.match(name):
        errs.append(E.invalid_value(field, key, NAME_PART_MSG))
    return errs


def validate_meta(obj):
    """ValidateObjectMeta's label and annotation rules."""
    md = obj.get("metadata") or {}
    errs = []
    for key, val in (md.get("labels") or {}).items():
        errs += _qualified_name_errors("metadata.labels", key)
        val = val or ""
        if len(val) > 63:
            errs.append(E.invalid_value("metadata.labels", val, "must be no more than 63 characters"))
        elif not LABEL_VALUE.match(val):
            errs.append(E.invalid_value("metadata.labels", val, LABEL_VALUE_MSG))
    total = 0
    for key, val in (md.get("annotations") or {}).items():
        errs += _qualified_name_errors("metadata.annotations", key.lower())
        total += len(key) + len(val or "")
    if total > 256 * 1024:
        errs.append(E.FieldError("Too long", "metadata.annotations", None, "may not be more than 262144 bytes"))
    return errs


def next_cluster_ip():
    with _ip_lock:
        n = next(_ip_counter)
    return "10.96.%d.%d" % (n // 250, n % 250 + 1)


def validate_name(res, name):
    """metadata.name rules: namespaces are DNS labels, RBAC names only path segments, others subdomains."""
    if not name:
        return [E.required("metadata.name", "name or generateName is required")]
    if res.group == RBAC_GROUP:
        if name in (".", "..") or "/" in name or "%" in name:
            return [E.invalid_value("metadata.name", name, "may not contain '/' or '%'")]
        return []
    if res.kind in ("Namespace", "Service"):
        if len(name) > 63 or not DNS1123_LABEL.match(name):
            return [E.invalid_value("metadata.name", name, LABEL_MSG)]
        return []
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        return [E.invalid_value("metadata.name", name, SUBDOMAIN_MSG)]
    return []


def default(res, obj, old=None):
    """Fill the defaults the real server adds (visible in GET output)."""
    if res.custom:
        return  # schema-less custom resources: stored as sent
    k = res.kind
    if k == "CustomResourceDefinition":
        crds.default(obj, old)
        return
    md = obj["metadata"]
    if k == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        st = obj.setdefault("status", {})
        if not st.get("phase"):
            st["phase"] = "Active"
        md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md["name"]
    elif k == "Secret":
        obj.setdefault("type", "Opaque")
        sd = obj.pop("stringData", None)
        if sd:
            data = obj.setdefault("data", {}) or {}
            obj["data"] = data
            for key, val in sd.items():
                data[key] = base64.b64encode(str(val).encode()).decode()
    elif k == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":
            if old and (old.get("spec") or {}).get("clusterIP"):
                spec.setdefault("clusterIP", old["spec"]["clusterIP"])
            if not spec.get("clusterIP"):
                spec["clusterIP"] = next_cluster_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("sessionAffinity", "None")
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                     for p in ((old or {}).get("spec") or {}).get("ports") or [] if isinstance(p, dict)}
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
                if spec["type"] in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
                    p["nodePort"] = old_ports.get((p.get("port"), p["protocol"])) or next_node_port()
        obj.setdefault("status", {"loadBalancer": {}})
    elif k == "Pod":
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        for c in spec.get("containers") or []:
            if isinstance(c, dict):
                img = c.get("image", "")
                c.setdefault("imagePullPolicy", "Always" if img.endswith(":latest") or ":" not in img.split("/")[-1] else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
        if not old:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif k == "Deployment":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        obj.setdefault("status", {})
    elif k in ("ClusterRoleBinding", "RoleBinding"):
        for s in obj.get("subjects") or []:
            if isinstance(s, dict) and s.get("kind") in ("User", "Group"):
                s.setdefault("apiGroup", RBAC_GROUP)
    return obj


def _rules(rules, namespaced):
    errs = []
    for i, r in enumerate(rules or []):
        f = "rules[%d]" % i
        if not isinstance(r, dict):
            errs.append(E.invalid_value(f, r, "must be an object"))
            continue
        if not r.get("verbs"):
            errs.append(E.required(f + ".verbs", "verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if namespaced:
                errs.append(E.invalid_value(f + ".nonResourceURLs", r["nonResourceURLs"],
                                            "namespaced rules cannot apply to non-resource URLs"))
            if r.get("apiGroups") or r.get("resources") or r.get("resourceNames"):
                errs.append(E.invalid_value(f + ".nonResourceURLs", r["nonResourceURLs"],
                                            "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not r.get("apiGroups"):
            errs.append(E.required(f + ".apiGroups", "resource rules must supply at least one api group"))
        if not r.get("resources"):
            errs.append(E.required(f + ".resources", "resource rules must supply at least one resource"))
        if r.get("resourceNames") and len(r.get("resources") or []) > 1:
            pass  # allowed in v1 (the old restriction is gone)
    return errs


def validate(res, obj, old=None):
    """Returns a list of FieldErrors (empty when valid)."""
    k = res.kind
    errs = validate_meta(obj)
    if res.custom:
        return errs
    if k == "CustomResourceDefinition":
        return errs + crds.validate(obj, old)
    if k in ("Secret", "ConfigMap") and old is not None and old.get("immutable"):
        if not obj.get("immutable"):
            errs.append(E.forbidden_field("immutable", "field is immutable when `immutable` is set"))
        for f in ("data", "binaryData"):
            if (obj.get(f) or {}) != (old.get(f) or {}):
                errs.append(E.forbidden_field(f, "field is immutable when `immutable` is set"))
    if k == "Secret":
        if obj.get("type") == SA_TOKEN:
            ann = obj["metadata"].get("annotations") or {}
            if not ann.get("kubernetes.io/service-account.name"):
                errs.append(E.required("metadata.annotations[kubernetes.io/service-account.name]"))
        for key, val in (obj.get("data") or {}).items():
            try:
                base64.b64decode(val or "", validate=True)
            except (ValueError, TypeError):
                errs.append(E.invalid_value("data[%s]" % key, "<secret contents redacted>", "illegal base64 data"))
        if old is not None and old.get("type") != obj.get("type"):
            errs.append(E.invalid_value("type", obj.get("type"), "field is immutable"))
    elif k in ("Role", "ClusterRole"):
        errs += _rules(obj.get("rules"), k == "Role")
    elif k in ("RoleBinding", "ClusterRoleBinding"):
        ref = obj.get("roleRef") or {}
        if ref.get("apiGroup") != RBAC_GROUP:
            errs.append(E.unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), [RBAC_GROUP]))
        kinds = ["Role", "ClusterRole"] if k == "RoleBinding" else ["ClusterRole"]
        if ref.get("kind") not in kinds:
            errs.append(E.unsupported("roleRef.kind", ref.get("kind", ""), kinds))
        if not ref.get("name"):
            errs.append(E.required("roleRef.name"))
        for i, s in enumerate(obj.get("subjects") or []):
            f = "subjects[%d]" % i
            if not isinstance(s, dict):
                continue
            if not s.get("name"):
                errs.append(E.required(f + ".name"))
            kind = s.get("kind")
            if kind == "ServiceAccount":
                if s.get("apiGroup"):
                    errs.append(E.unsupported(f + ".apiGroup", s["apiGroup"], [""]))
                if k == "ClusterRoleBinding" and not s.get("namespace"):
                    errs.append(E.required(f + ".namespace"))
            elif kind in ("User", "Group"):
                if s.get("apiGroup") != RBAC_GROUP:
                    errs.append(E.unsupported(f + ".apiGroup", s.get("apiGroup", ""), [RBAC_GROUP]))
            else:
                errs.append(E.unsupported(f + ".kind", kind or "", ["ServiceAccount", "User", "Group"]))
        if old is not None and old.get("roleRef") != obj.get("roleRef"):
            errs.append(E.invalid_value("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    elif k == "Deployment":
        spec = obj.get("spec") or {}
        sel = spec.get("selector")
        if not sel:
            errs.append(E.required("spec.selector"))
        else:
            tl = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            for lk, lv in (sel.get("matchLabels") or {}).items():
                if tl.get(lk) != lv:
                    errs.append(E.invalid_value("spec.template.metadata.labels", tl,
                                                "`selector` does not match template `labels`"))
                    break
        if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
            errs.append(E.required("spec.template.spec.containers"))
        if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
            errs.append(E.invalid_value("spec.replicas", spec["replicas"], "must be greater than or equal to 0"))
    elif k == "Pod":
        if not (obj.get("spec") or {}).get("containers"):
            errs.append(E.required("spec.containers"))
    elif k == "Service":
        for i, p in enumerate((obj.get("spec") or {}).get("ports") or []):
            if not isinstance(p, dict) or not isinstance(p.get("port"), int):
                errs.append(E.required("spec.ports[%d].port" % i))
    return errs


# ---- server-side field validation (fieldValidation=Strict|Warn|Ignore) ----
# A shallow schema: top-level fields per kind, ObjectMeta, and the RBAC/Secret structures the
# project's workflows write. Deeper structures (pod specs...) are not checked.
_META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                "ownerReferences", "finalizers", "managedFields"}
_RULE = {"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"}
_SCHEMA = {
    "ConfigMap": {"data": None, "binaryData": None, "immutable": None},
    "Secret": {"data": None, "stringData": None, "type": None, "immutable": None},
    "ServiceAccount": {"secrets": None, "imagePullSecrets": None, "automountServiceAccountToken": None},
    "Namespace": {"spec": {"finalizers"}, "status": None},
    "Endpoints": {"subsets": None},
    "Service": {"spec": {"ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                         "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
                         "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
                         "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                         "internalTrafficPolicy", "trafficDistribution"}, "status": None},
    "Pod": {"spec": None, "status": None},
    "Deployment": {"spec": {"replicas", "selector", "template", "strategy", "minReadySeconds",
                            "revisionHistoryLimit", "paused", "progressDeadlineSeconds"}, "status": None},
    "ClusterRole": {"rules": _RULE, "aggregationRule": {"clusterRoleSelectors"}},
    "Role": {"rules": _RULE},
    "ClusterRoleBinding": {"subjects": {"kind", "apiGroup", "name", "namespace"}, "roleRef": {"apiGroup", "kind", "name"}},
    "RoleBinding": {"subjects": {"kind", "apiGroup", "name", "namespace"}, "roleRef": {"apiGroup", "kind", "name"}},
}


def unknown_fields(res, obj):
    """Paths of fields the kind does not have, as the strict decoder names them."""
    schema = {} if res.custom else _SCHEMA.get(res.kind)
    if schema is None or not isinstance(obj, dict):
        return []
    if res.custom:  # x-kubernetes-preserve-unknown-fields: only ObjectMeta is known
        md = obj.get("metadata")
        return ["metadata." + mk for mk in md if mk not in _META_FIELDS] if isinstance(md, dict) else []
    out = []
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata":
            if isinstance(v, dict):
                out += ["metadata." + mk for mk in v if mk not in _META_FIELDS]
            continue
        if k not in schema:
            out.append(k)
            continue
        sub = schema[k]
        if sub is None:
            continue
        items = v if isinstance(v, list) else [v]
        for i, item in enumerate(items):
            if isinstance(item, dict):
                prefix = "%s[%d]" % (k, i) if isinstance(v, list) else k
                out += ["%s.%s" % (prefix, sk) for sk in item if sk not in sub]
    return out
