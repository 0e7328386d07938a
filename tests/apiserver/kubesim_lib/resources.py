"""The resource types kubesim serves: names, scope, verbs, and what discovery says about them."""

RW_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CREATE_ONLY = ["create"]


class Resource:
    __slots__ = ("group", "version", "plural", "singular", "kind", "namespaced", "verbs",
                 "short_names", "categories", "subresources", "stored", "gv", "list_kind",
                 "api_version", "prefix", "key", "custom", "crd", "generation", "status_sub")

    def __init__(self, group, version, plural, kind, namespaced, verbs=RW_VERBS, short=(),
                 categories=(), subresources=(), stored=True, crd=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.singular = kind.lower()
        self.namespaced, self.verbs = namespaced, list(verbs)
        self.short_names, self.categories = list(short), list(categories)
        # (name, responseKind group, version, kind, verbs)
        self.subresources = list(subresources)
        self.stored = stored  # review APIs are never stored
        self.api_version = self.gv = group + "/" + version if group else version
        self.list_kind = kind + "List"
        self.prefix = "/apis/" + self.gv if group else "/api/" + version
        # the store's table; custom resources use plural.group (a CRD group always has a dot, so
        # this never meets a built-in plural) and every version of one shares it
        self.custom = crd is not None
        self.crd = crd  # the CustomResourceDefinition's name for custom resources
        self.key = plural + "." + group if self.custom else plural
        # metadata.generation kept; status written only through the status subresource
        self.generation = self.custom or kind in ("Deployment", "CustomResourceDefinition")
        self.status_sub = any(s[0] == "status" for s in self.subresources) if self.custom else \
            kind in ("Namespace", "Pod", "Service", "Deployment", "Node", "CustomResourceDefinition")

    def __repr__(self):
        return "<Resource %s %s>" % (self.gv, self.plural)


RBAC = "rbac.authorization.k8s.io"
APIEXT = "apiextensions.k8s.io"
AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"

_ALL = [
    Resource("", "v1", "configmaps", "ConfigMap", True, short=["cm"]),
    Resource("", "v1", "endpoints", "Endpoints", True, short=["ep"]),
    Resource("", "v1", "namespaces", "Namespace", False, ["create", "delete", "get", "list", "patch", "update", "watch"],
             short=["ns"], subresources=[("finalize", "", "v1", "Namespace", ["update"]),
                                         ("status", "", "v1", "Namespace", ["get", "patch", "update"])]),
    Resource("", "v1", "nodes", "Node", False, short=["no"],
             subresources=[("status", "", "v1", "Node", ["get", "patch", "update"])]),
    Resource("", "v1", "pods", "Pod", True, short=["po"], categories=["all"],
             subresources=[("status", "", "v1", "Pod", ["get", "patch", "update"])]),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, short=["sa"],
             subresources=[("token", AUTHN, "v1", "TokenRequest", ["create"])]),
    Resource("", "v1", "services", "Service", True, ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
             short=["svc"], categories=["all"],
             subresources=[("status", "", "v1", "Service", ["get", "patch", "update"])]),
    Resource("apps", "v1", "deployments", "Deployment", True, short=["deploy"], categories=["all"],
             subresources=[("scale", "autoscaling", "v1", "Scale", ["get", "patch", "update"]),
                           ("status", "apps", "v1", "Deployment", ["get", "patch", "update"])]),
    Resource(AUTHN, "v1", "selfsubjectreviews", "SelfSubjectReview", False, CREATE_ONLY, stored=False),
    Resource(AUTHN, "v1", "tokenreviews", "TokenReview", False, CREATE_ONLY, stored=False),
    Resource(AUTHZ, "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True, CREATE_ONLY, stored=False),
    Resource(AUTHZ, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, CREATE_ONLY, stored=False),
    Resource(AUTHZ, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False, CREATE_ONLY, stored=False),
    Resource(AUTHZ, "v1", "subjectaccessreviews", "SubjectAccessReview", False, CREATE_ONLY, stored=False),
    Resource(RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource(RBAC, "v1", "clusterroles", "ClusterRole", False),
    Resource(RBAC, "v1", "rolebindings", "RoleBinding", True),
    Resource(RBAC, "v1", "roles", "Role", True),
    Resource(APIEXT, "v1", "customresourcedefinitions", "CustomResourceDefinition", False, short=["crd", "crds"],
             categories=["api-extensions"],
             subresources=[("status", APIEXT, "v1", "CustomResourceDefinition", ["get", "patch", "update"])]),
]

# group order as a real 1.32 server lists them (core first, then by priority)
GROUP_ORDER = ["", "apps", AUTHN, AUTHZ, RBAC, APIEXT]

BY_GV_PLURAL = {(r.gv, r.plural): r for r in _ALL}
BY_PLURAL = {r.plural: r for r in _ALL}  # plurals are unique among our types
BY_KIND = {r.kind: r for r in _ALL}
STORED = [r for r in _ALL if r.stored]
ALL = _ALL


# custom resources, replaced as a whole (readers never see a half-updated registry):
# {(gv, plural): Resource} and [(group, [(version, [Resource])])] in discovery order
_custom = {}
_custom_groups = []


def set_custom(by_gv_plural, groups):
    global _custom, _custom_groups
    _custom, _custom_groups = by_gv_plural, groups


def custom_groups():
    return _custom_groups


def by_group_version():
    """[(group, version, [resources])] in discovery order: built-in groups, then custom ones."""
    out = []
    for g in GROUP_ORDER:
        rs = sorted((r for r in _ALL if r.group == g), key=lambda r: r.plural)
        out.append((g, "v1", rs))
    for g, versions in _custom_groups:
        for v, rs in versions:
            out.append((g, v, rs))
    return out


def lookup(gv, plural):
    r = BY_GV_PLURAL.get((gv, plural))
    return r if r is not None else _custom.get((gv, plural))


def stored_resources():
    """Every stored resource, one per store table (a custom resource once, not per version)."""
    seen = set()
    out = list(STORED)
    for r in _custom.values():
        if r.key not in seen:
            seen.add(r.key)
            out.append(r)
    return out
