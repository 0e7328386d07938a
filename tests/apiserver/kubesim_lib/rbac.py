"""RBAC for kubesim: the authorizer, the 403 message, SelfSubjectRulesReview,
escalation prevention on role and binding writes, and the bootstrap policy.

Written to behave like kube-apiserver (plugin/pkg/auth/authorizer/rbac,
pkg/apis/rbac/v1/evaluation_helpers.go, pkg/registry/rbac/validation/rule.go,
pkg/registry/rbac/*/policybased/storage.go, endpoints/handlers/responsewriters).
See ../shared/research/apiserver-semantics.md sections 1.3, 3 and 4.3.

Inputs are plain JSON-like dicts as the API stores them; nothing here mutates
them or keeps them between calls.

    user   {"username", "uid", "groups": [...], "extra": {k: [...]}}
    attrs  {"verb", "api_group", "resource", "subresource", "name",
            "namespace", "path"}; a request is a resource request when
            "resource" is non-empty (or attrs["resource_request"] is True),
            otherwise a non-resource request on "path".
    lookup(kind, namespace=None) -> list of stored objects, for kind in
            ClusterRole, ClusterRoleBinding, Role, RoleBinding.
"""

RBAC_GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"

__all__ = [
    "authorize", "forbidden_message", "forbidden_status", "rules_review",
    "check_escalation", "EscalationError", "default_objects",
    "rule_allows", "go_quote", "qualified_resource",
]


# ---------------------------------------------------------------- formatting

def go_quote(s):
    """Go's %q (strconv.Quote) for a string."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif o >= 0x80 and not ch.isprintable():
            out.append("\\u%04x" % o if o <= 0xFFFF else "\\U%08x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_quote_list(items):
    """Go's %q on a []string: ["a" "b"]."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def _aggregate(msgs):
    """utilerrors.NewAggregate(...).Error(): one message bare, several
    de-duplicated as [a, b]."""
    if not msgs:
        return ""
    if len(msgs) == 1:
        return msgs[0]
    seen = []
    for m in msgs:
        if m not in seen:
            seen.append(m)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def qualified_resource(group, resource):
    """schema.GroupResource.String()."""
    if group:
        return "%s.%s" % (resource, group)
    return resource


def _new_forbidden_message(group, resource, name, err):
    """apierrors.NewForbidden(...) message text."""
    if not group and not resource:
        return "forbidden: %s" % err
    gr = qualified_resource(group, resource)
    if not name:
        return "%s is forbidden: %s" % (gr, err)
    return "%s %s is forbidden: %s" % (gr, go_quote(name), err)


def _html_sanitize(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _is_resource_request(attrs):
    flag = attrs.get("resource_request")
    if flag is not None:
        return bool(flag)
    return bool(attrs.get("resource"))


def _authz_sentence(user, attrs):
    """responsewriters.forbiddenMessage."""
    username = user.get("username") or ""
    verb = attrs.get("verb") or ""
    if not _is_resource_request(attrs):
        return "User %s cannot %s path %s" % (
            go_quote(username), verb, go_quote(attrs.get("path") or ""))
    resource = attrs.get("resource") or ""
    sub = attrs.get("subresource") or ""
    if sub:
        resource = resource + "/" + sub
    group = attrs.get("api_group") or ""
    ns = attrs.get("namespace") or ""
    if ns:
        return "User %s cannot %s resource %s in API group %s in the namespace %s" % (
            go_quote(username), verb, go_quote(resource), go_quote(group), go_quote(ns))
    return "User %s cannot %s resource %s in API group %s at the cluster scope" % (
        go_quote(username), verb, go_quote(resource), go_quote(group))


def forbidden_message(user, attrs, reason=""):
    """The full Status message of a 403 from the authorization filter.

    `reason` is the authorizer's reason (second value of authorize()); it is
    appended as ": <reason>" when non-empty. Allowed reasons never reach here.
    """
    msg = _html_sanitize(_authz_sentence(user, attrs))
    if reason:
        msg = "%s: %s" % (msg, reason)
    if not _is_resource_request(attrs):
        return _new_forbidden_message("", "", "", msg)
    return _new_forbidden_message(attrs.get("api_group") or "",
                                  attrs.get("resource") or "",
                                  attrs.get("name") or "", msg)


def forbidden_status(user, attrs, reason=""):
    """The whole 403 Status body (a dict, keys in the real order)."""
    details = {}
    if _is_resource_request(attrs):
        if attrs.get("name"):
            details["name"] = attrs["name"]
        if attrs.get("api_group"):
            details["group"] = attrs["api_group"]
        if attrs.get("resource"):
            details["kind"] = attrs["resource"]
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
              "status": "Failure",
              "message": forbidden_message(user, attrs, reason),
              "reason": "Forbidden"}
    if details:
        status["details"] = details
    status["code"] = 403
    return status


# ------------------------------------------------------------ rule matching

def _has(items, value):
    return bool(items) and value in items


def rule_allows(attrs, rule, is_resource=None):
    """RBAC RuleAllows for one PolicyRule dict."""
    verbs = rule.get("verbs") or ()
    verb = attrs.get("verb") or ""
    if "*" not in verbs and verb not in verbs:
        return False
    if is_resource is None:
        is_resource = _is_resource_request(attrs)
    if not is_resource:
        path = attrs.get("path") or ""
        for url in rule.get("nonResourceURLs") or ():
            if url == "*" or url == path:
                return True
            if url.endswith("*") and path.startswith(url.rstrip("*")):
                return True
        return False
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and (attrs.get("api_group") or "") not in groups:
        return False
    resource = attrs.get("resource") or ""
    sub = attrs.get("subresource") or ""
    combined = resource + "/" + sub if sub else resource
    ok = False
    for r in rule.get("resources") or ():
        if r == "*" or r == combined:
            ok = True
            break
        if sub and len(r) == len(sub) + 2 and r.startswith("*/") and r.endswith(sub):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames")
    if not names:
        return True
    return (attrs.get("name") or "") in names


# ------------------------------------------------------ binding resolution

def _meta(obj):
    return obj.get("metadata") or {}


def _subject_index(subjects, username, groups, binding_ns):
    """appliesTo: index of the first subject matching the user, or -1."""
    for i, s in enumerate(subjects or ()):
        kind = s.get("kind")
        name = s.get("name")
        if kind == "User":
            if name == username:
                return i
        elif kind == "Group":
            if name in groups:
                return i
        elif kind == "ServiceAccount":
            ns = s.get("namespace") or binding_ns
            if ns and username == "system:serviceaccount:%s:%s" % (ns, name):
                return i
    return -1


def _describe_subject(s, binding_ns):
    kind = s.get("kind") or ""
    name = s.get("name") or ""
    if kind == "ServiceAccount":
        return "%s %s" % (kind, go_quote(name + "/" + (s.get("namespace") or binding_ns)))
    return "%s %s" % (kind, go_quote(name))


def _selector_matches(sel, labels):
    """metav1.LabelSelector against a label map (empty selector: everything)."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in sel.get("matchExpressions") or ():
        key = req.get("key")
        op = req.get("operator")
        vals = req.get("values") or ()
        if op == "In":
            if key not in labels or labels[key] not in vals:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in vals:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            return False
    return True


class _Resolver(object):
    """Per-call view of the stored RBAC objects, indexed lazily."""

    __slots__ = ("lookup", "_cluster_roles", "_roles", "_agg")

    def __init__(self, lookup):
        self.lookup = lookup
        self._cluster_roles = None
        self._roles = {}
        self._agg = {}

    def cluster_roles(self):
        if self._cluster_roles is None:
            idx = {}
            for r in self.lookup("ClusterRole") or ():
                idx.setdefault(_meta(r).get("name"), r)
            self._cluster_roles = idx
        return self._cluster_roles

    def roles(self, ns):
        idx = self._roles.get(ns)
        if idx is None:
            idx = {}
            for r in self.lookup("Role", ns) or ():
                idx.setdefault(_meta(r).get("name"), r)
            self._roles[ns] = idx
        return idx

    def cluster_role_rules(self, name):
        role = self.cluster_roles().get(name)
        if role is None:
            return None
        if role.get("aggregationRule"):
            return self._aggregated(name, set())
        return role.get("rules") or ()

    def _aggregated(self, name, visiting):
        """Union of the rules of every ClusterRole selected by the
        aggregationRule of `name`, as the aggregation controller computes
        it (roles sorted by name, duplicate rules dropped, nested aggregated
        roles resolved)."""
        if name in self._agg:
            return self._agg[name]
        role = self.cluster_roles().get(name)
        selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ()
        visiting = visiting | {name}
        rules = []
        all_roles = self.cluster_roles()
        for other in sorted(n for n in all_roles if n is not None):
            if other == name:
                continue
            labels = _meta(all_roles[other]).get("labels") or {}
            if not any(_selector_matches(sel, labels) for sel in selectors):
                continue
            o = all_roles[other]
            if o.get("aggregationRule"):
                if other in visiting:
                    sub = o.get("rules") or ()
                else:
                    sub = self._aggregated(other, visiting)
            else:
                sub = o.get("rules") or ()
            for rule in sub:
                if rule not in rules:
                    rules.append(rule)
        self._agg[name] = rules
        return rules

    def role_ref_rules(self, ref, binding_ns):
        """GetRoleReferenceRules: (rules, error message or None)."""
        kind = (ref or {}).get("kind")
        name = (ref or {}).get("name") or ""
        if kind == "ClusterRole":
            rules = self.cluster_role_rules(name)
            if rules is None:
                return None, "clusterrole.%s %s not found" % (RBAC_GROUP, go_quote(name))
            return rules, None
        if kind == "Role":
            role = self.roles(binding_ns).get(name)
            if role is None:
                return None, "role.%s %s not found" % (RBAC_GROUP, go_quote(name))
            return role.get("rules") or (), None
        return None, "unsupported role reference kind: %s" % go_quote(kind or "")

    def visit(self, user, namespace, errors):
        """VisitRulesFor: yields (describe, rules) for every binding that
        applies to the user, ClusterRoleBindings first, then RoleBindings in
        `namespace`. `describe()` gives the source string; role resolution
        errors are appended to `errors`."""
        username = user.get("username") or ""
        groups = user.get("groups") or ()
        for b in self.lookup("ClusterRoleBinding") or ():
            subjects = b.get("subjects")
            i = _subject_index(subjects, username, groups, "")
            if i < 0:
                continue
            ref = b.get("roleRef") or {}
            rules, err = self.role_ref_rules(ref, "")
            if err is not None:
                errors.append(err)
                continue
            yield _Describer("ClusterRoleBinding", _meta(b).get("name") or "", ref,
                             subjects[i], ""), rules
        if not namespace:
            return
        for b in self.lookup("RoleBinding", namespace) or ():
            subjects = b.get("subjects")
            bns = _meta(b).get("namespace") or namespace
            i = _subject_index(subjects, username, groups, bns)
            if i < 0:
                continue
            ref = b.get("roleRef") or {}
            rules, err = self.role_ref_rules(ref, bns)
            if err is not None:
                errors.append(err)
                continue
            yield _Describer("RoleBinding", (_meta(b).get("name") or "") + "/" + bns,
                             ref, subjects[i], bns), rules


class _Describer(object):
    __slots__ = ("kind", "name", "ref", "subject", "ns")

    def __init__(self, kind, name, ref, subject, ns):
        self.kind, self.name, self.ref, self.subject, self.ns = kind, name, ref, subject, ns

    def __str__(self):
        return "%s %s of %s %s to %s" % (
            self.kind, go_quote(self.name), self.ref.get("kind") or "",
            go_quote(self.ref.get("name") or ""), _describe_subject(self.subject, self.ns))


# ---------------------------------------------------------------- authorize

def _authorize(user, attrs, res):
    if MASTERS in (user.get("groups") or ()):
        # The privileged-group authorizer in front of RBAC: allow, no reason.
        return True, ""
    is_resource = _is_resource_request(attrs)
    errors = []
    namespace = (attrs.get("namespace") or "") if is_resource else ""
    for source, rules in res.visit(user, namespace, errors):
        for rule in rules:
            if rule_allows(attrs, rule, is_resource):
                return True, "RBAC: allowed by %s" % source
    if errors:
        return False, "RBAC: " + _aggregate(errors)
    return False, ""


def authorize(user, attrs, lookup):
    """-> (allowed, reason). reason is "RBAC: allowed by <source>" when RBAC
    allowed, "" when system:masters allowed or nothing matched, and
    "RBAC: <errors>" when nothing matched and some applicable binding
    references a missing role (suffix for the 403 message and the SAR
    status.reason)."""
    return _authorize(user, attrs, _Resolver(lookup))


# ------------------------------------------------------------- rules review

def _rules_for(user, namespace, res):
    errors = []
    rules = []
    for _source, rs in res.visit(user, namespace or "", errors):
        rules.extend(rs)
    return rules, errors


def rules_review(user, namespace, lookup):
    """SelfSubjectRulesReview status for `user` in `namespace`."""
    rules, errors = _rules_for(user, namespace, _Resolver(lookup))
    resource_rules = []
    non_resource_rules = []
    for r in rules:
        if r.get("resources"):
            rr = {"verbs": list(r.get("verbs") or ())}
            if r.get("apiGroups"):
                rr["apiGroups"] = list(r["apiGroups"])
            rr["resources"] = list(r["resources"])
            if r.get("resourceNames"):
                rr["resourceNames"] = list(r["resourceNames"])
            resource_rules.append(rr)
        if r.get("nonResourceURLs"):
            non_resource_rules.append({"verbs": list(r.get("verbs") or ()),
                                       "nonResourceURLs": list(r["nonResourceURLs"])})
    status = {"resourceRules": resource_rules,
              "nonResourceRules": non_resource_rules,
              "incomplete": False}
    if errors:
        status["evaluationError"] = _aggregate(errors)
    return status


# ------------------------------------------------------------- escalation

_FULL_AUTHORITY = [
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
]


def _breakdown(rule):
    subs = []
    verbs = rule.get("verbs") or ()
    names = rule.get("resourceNames") or ()
    for g in rule.get("apiGroups") or ():
        for r in rule.get("resources") or ():
            for v in verbs:
                if names:
                    for n in names:
                        subs.append({"apiGroups": [g], "resources": [r], "verbs": [v],
                                     "resourceNames": [n]})
                else:
                    subs.append({"apiGroups": [g], "resources": [r], "verbs": [v]})
    for u in rule.get("nonResourceURLs") or ():
        for v in verbs:
            subs.append({"nonResourceURLs": [u], "verbs": [v]})
    return subs


def _has_all(owner, wanted):
    return all(w in owner for w in wanted)


def _resource_covers_all(owner, wanted):
    if "*" in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner, sub):
    if owner == sub:
        return True
    return owner.endswith("*") and sub.startswith(owner.rstrip("*"))


def _rule_covers(owner, sub):
    ov = owner.get("verbs") or ()
    if not ("*" in ov or _has_all(ov, sub.get("verbs") or ())):
        return False
    og = owner.get("apiGroups") or ()
    if not ("*" in og or _has_all(og, sub.get("apiGroups") or ())):
        return False
    if not _resource_covers_all(owner.get("resources") or (), sub.get("resources") or ()):
        return False
    ou = owner.get("nonResourceURLs") or ()
    for u in sub.get("nonResourceURLs") or ():
        if not any(_url_covers(o, u) for o in ou):
            return False
    on = owner.get("resourceNames") or ()
    sn = sub.get("resourceNames") or ()
    if not sn:
        return not on
    return not on or _has_all(on, sn)


def _covers(owner_rules, servant_rules):
    missing = []
    for rule in servant_rules:
        for sub in _breakdown(rule):
            if not any(_rule_covers(o, sub) for o in owner_rules):
                missing.append(sub)
    return missing


def _compact(rules):
    """CompactRules: merge the verbs of simple one-group/one-resource rules."""
    compacted = []
    simple = {}
    order = []
    for r in rules:
        names = r.get("resourceNames") or ()
        if (len(names) <= 1 and not r.get("nonResourceURLs")
                and len(r.get("apiGroups") or ()) == 1 and len(r.get("resources") or ()) == 1):
            key = (r["apiGroups"][0], r["resources"][0], names[0] if names else None)
            if key in simple:
                simple[key]["verbs"].extend(r.get("verbs") or ())
            else:
                simple[key] = {"apiGroups": list(r["apiGroups"]), "resources": list(r["resources"]),
                               "verbs": list(r.get("verbs") or ())}
                if names:
                    simple[key]["resourceNames"] = list(names)
                order.append(key)
        else:
            compacted.append(r)
    compacted.extend(simple[k] for k in order)
    return compacted


def _compact_string(r):
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"),
                       ("nonResourceURLs", "NonResourceURLs"),
                       ("resourceNames", "ResourceNames"), ("verbs", "Verbs")):
        if r.get(key):
            parts.append("%s:%s" % (label, _go_quote_list(r[key])))
    return "{" + ", ".join(parts) + "}"


def _confirm_no_escalation(user, namespace, rules, res):
    """ConfirmNoEscalation: None, or the error text."""
    owner, errors = _rules_for(user, namespace, res)
    missing = _covers(owner, rules)
    if not missing:
        return None
    lines = sorted(set(_compact_string(r) for r in _compact(missing)))
    msg = "user %s (groups=%s) is attempting to grant RBAC permissions not currently held:\n%s" % (
        go_quote(user.get("username") or ""), _go_quote_list(user.get("groups") or ()),
        "\n".join(lines))
    if errors:
        msg += "; resolution errors: [%s]" % _aggregate(errors)
    return msg


class EscalationError(str):
    """The refusal text of check_escalation, a str carrying the Status
    fields: .code (403, or 404 for a binding to a missing role), .reason
    ("Forbidden" / "NotFound") and .details ({name, group, kind})."""

    def __new__(cls, message, code=403, reason="Forbidden", details=None):
        self = str.__new__(cls, message)
        self.code = code
        self.reason = reason
        self.details = details or {}
        return self

    def status(self):
        """The whole Status body for the error."""
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": str(self), "reason": self.reason}
        if self.details:
            s["details"] = dict(self.details)
        s["code"] = self.code
        return s


_GC_META = ("ownerReferences", "finalizers", "resourceVersion", "managedFields",
            "generation")


def _only_gc_fields_changed(obj, old):
    if old is None:
        return False

    def strip(o):
        c = dict(o)
        m = dict(c.get("metadata") or {})
        for k in _GC_META:
            m.pop(k, None)
        c["metadata"] = m
        return c
    return strip(obj) == strip(old)


def _escalation_forbidden(resource, name, err):
    return EscalationError(
        _new_forbidden_message(RBAC_GROUP, resource, name, err),
        403, "Forbidden", _details(resource, name))


def _details(resource, name):
    d = {}
    if name:
        d["name"] = name
    d["group"] = RBAC_GROUP
    d["kind"] = resource
    return d


def check_escalation(user, obj, lookup, old=None):
    """Escalation prevention for a write of a Role, ClusterRole, RoleBinding
    or ClusterRoleBinding (obj, a dict with "kind").

    Pass `old` (the stored object) for an update (PUT/PATCH): then the
    "escalate" check uses the object's name, as the real server does for
    requests naming the object, and an update that touches only GC fields
    (ownerReferences, finalizers) is not checked. For a create (POST), leave
    old=None: the request has no name, so an "escalate" rule restricted by
    resourceNames does not help (as in the real server).

    Returns None when the write may proceed, else an EscalationError (a str
    with the Status message; .code is 403, or 404 when a binding references
    a missing role and the user may not "bind" it).
    """
    kind = obj.get("kind")
    groups = user.get("groups") or ()
    if MASTERS in groups:
        return None
    res = _Resolver(lookup)
    meta = _meta(obj)
    name = meta.get("name") or ""
    req_name = name if old is not None else ""
    if kind in ("Role", "ClusterRole"):
        resource = "roles" if kind == "Role" else "clusterroles"
        ns = (meta.get("namespace") or "") if kind == "Role" else ""
        esc = {"verb": "escalate", "api_group": RBAC_GROUP, "resource": resource,
               "name": req_name, "namespace": ns}
        if _authorize(user, esc, res)[0]:
            return None
        if _only_gc_fields_changed(obj, old):
            return None
        err = _confirm_no_escalation(user, ns, obj.get("rules") or (), res)
        if err is not None:
            return _escalation_forbidden(resource, name, err)
        if kind == "ClusterRole" and (obj.get("aggregationRule")
                                      or (old is not None and old.get("aggregationRule"))):
            if _confirm_no_escalation(user, "", _FULL_AUTHORITY, res) is not None:
                return _escalation_forbidden(
                    resource, name, "must have cluster-admin privileges to use the aggregationRule")
        return None
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        resource = "rolebindings" if kind == "RoleBinding" else "clusterrolebindings"
        ns = (meta.get("namespace") or "") if kind == "RoleBinding" else ""
        ref = obj.get("roleRef") or {}
        ref_kind = ref.get("kind")
        if ref_kind in ("ClusterRole", "Role"):
            bind = {"verb": "bind", "api_group": ref.get("apiGroup") or "",
                    "resource": "clusterroles" if ref_kind == "ClusterRole" else "roles",
                    "name": ref.get("name") or "", "namespace": ns}
            if _authorize(user, bind, res)[0]:
                return None
        if _only_gc_fields_changed(obj, old):
            return None
        rules, _err = res.role_ref_rules(ref, ns)
        if rules is None:
            ref_res = {"ClusterRole": "clusterroles", "Role": "roles"}.get(ref_kind)
            ref_name = ref.get("name") or ""
            if ref_res is None:
                return EscalationError(
                    "unsupported role reference kind: %s" % go_quote(ref_kind or ""),
                    500, "InternalError", {})
            return EscalationError(
                "%s %s not found" % (qualified_resource(RBAC_GROUP, ref_res), go_quote(ref_name)),
                404, "NotFound", _details(ref_res, ref_name))
        err = _confirm_no_escalation(user, ns, rules, res)
        if err is not None:
            return _escalation_forbidden(resource, name, err)
        return None
    return None


# --------------------------------------------------------- bootstrap policy

_BOOT_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_BOOT_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_AGG = "rbac.authorization.k8s.io/aggregate-to-"

_RW = ["create", "delete", "deletecollection", "patch", "update"]
_RO = ["get", "list", "watch"]


def _rule(groups, resources, verbs, names=None):
    r = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        r["resourceNames"] = list(names)
    return r


def _urls(urls, verbs=("get",)):
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _cluster_role(name, rules, labels=None, aggregate_from=None):
    meta = {"name": name, "labels": dict(_BOOT_LABELS), "annotations": dict(_BOOT_ANNOTATIONS)}
    if labels:
        meta["labels"].update(labels)
    obj = {"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRole", "metadata": meta}
    if aggregate_from:
        obj["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {_AGG + aggregate_from: "true"}}]}
    obj["rules"] = rules
    return obj


def _cluster_role_binding(name, role, groups):
    return {"apiVersion": RBAC_GROUP + "/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": dict(_BOOT_LABELS),
                         "annotations": dict(_BOOT_ANNOTATIONS)},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in groups]}


def default_objects():
    """Bootstrap ClusterRoles and ClusterRoleBindings (fresh dicts on every
    call; the store adds uid, resourceVersion, creationTimestamp). The
    aggregated roles admin/edit/view carry their aggregationRule and the
    rules the aggregation controller would have filled in."""
    view = [
        _rule([""], ["configmaps", "endpoints", "persistentvolumeclaims",
                     "persistentvolumeclaims/status", "pods", "replicationcontrollers",
                     "replicationcontrollers/scale", "serviceaccounts", "services",
                     "services/status"], _RO),
        _rule([""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log",
                     "pods/status", "replicationcontrollers/status", "resourcequotas",
                     "resourcequotas/status"], _RO),
        _rule([""], ["namespaces"], _RO),
        _rule(["discovery.k8s.io"], ["endpointslices"], _RO),
        _rule(["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
                         "deployments/scale", "deployments/status", "replicasets",
                         "replicasets/scale", "replicasets/status", "statefulsets",
                         "statefulsets/scale", "statefulsets/status"], _RO),
        _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _RO),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _RO),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _RO),
        _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _RO),
    ]
    edit = [
        _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                     "services/proxy"], _RO),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], _RW),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule([""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                     "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                     "services/proxy"], _RW),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                         "replicasets", "replicasets/scale", "statefulsets",
                         "statefulsets/scale"], _RW),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], _RW),
        _rule(["batch"], ["cronjobs", "jobs"], _RW),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], _RW),
        _rule(["policy"], ["poddisruptionbudgets"], _RW),
    ]
    admin = [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule([RBAC_GROUP], ["rolebindings", "roles"], _RW[:3] + ["get", "list", "patch", "update", "watch"]),
    ]
    roles = [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _cluster_role("admin", [], aggregate_from="admin"),
        _cluster_role("edit", [], labels={_AGG + "admin": "true"}, aggregate_from="edit"),
        _cluster_role("view", [], labels={_AGG + "edit": "true"}, aggregate_from="view"),
        _cluster_role("system:aggregate-to-admin", admin, labels={_AGG + "admin": "true"}),
        _cluster_role("system:aggregate-to-edit", edit, labels={_AGG + "edit": "true"}),
        _cluster_role("system:aggregate-to-view", view, labels={_AGG + "view": "true"}),
        _cluster_role("system:discovery", [_urls([
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
            "/openapi/*", "/readyz", "/version", "/version/"])]),
        _cluster_role("system:basic-user", [
            _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                  ["create"]),
            _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
        ]),
        _cluster_role("system:public-info-viewer", [_urls([
            "/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        _cluster_role("system:auth-delegator", [
            _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        ]),
        _cluster_role("system:service-account-issuer-discovery", [_urls([
            "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
            "/openid/v1/jwks", "/openid/v1/jwks/"])]),
    ]
    # Fill the aggregated roles as the aggregation controller would.
    res = _Resolver(lambda kind, ns=None: roles if kind == "ClusterRole" else [])
    for r in roles:
        if r.get("aggregationRule"):
            r["rules"] = [dict((k, list(v)) for k, v in rule.items())
                          for rule in res.cluster_role_rules(r["metadata"]["name"])]
    bindings = [
        _cluster_role_binding("cluster-admin", "cluster-admin", ["system:masters"]),
        _cluster_role_binding("system:discovery", "system:discovery", ["system:authenticated"]),
        _cluster_role_binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
        _cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                              ["system:authenticated", "system:unauthenticated"]),
        _cluster_role_binding("system:service-account-issuer-discovery",
                              "system:service-account-issuer-discovery", ["system:serviceaccounts"]),
    ]
    return roles + bindings
