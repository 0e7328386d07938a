"""Discovery documents (aggregated v2 and legacy) and the OpenAPI v3 kubectl apply needs.

All documents are built once at start-up and served as pre-encoded bytes.
"""
import hashlib
import json

from .resources import by_group_version

AGG_CT_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_CT_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _enc(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _agg_resource(r):
    d = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
         "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular, "verbs": r.verbs}
    if r.short_names:
        d["shortNames"] = r.short_names
    if r.categories:
        d["categories"] = r.categories
    if r.subresources:
        d["subresources"] = [{"subresource": n, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": vb}
                             for n, g, v, k, vb in r.subresources]
    return d


def _legacy_resources(group, version, rs):
    out = []
    for r in rs:
        d = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
             "verbs": r.verbs}
        if r.short_names:
            d["shortNames"] = r.short_names
        if r.categories:
            d["categories"] = r.categories
        out.append(d)
        for n, g, v, k, vb in r.subresources:
            sd = {"name": r.plural + "/" + n, "singularName": "", "namespaced": r.namespaced, "kind": k, "verbs": vb}
            if g != group or v != version:
                sd["group"], sd["version"] = g, v
            out.append(sd)
    gv = group + "/" + version if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


class Discovery:
    """The documents are rebuilt as a whole when custom resources come or go (rebuild()) and
    swapped in attribute by attribute; a request may see the old or the new set, as a client
    racing a CRD does on a real server."""

    def __init__(self, port):
        self.port = port
        self.api_legacy = _enc({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]})
        self.rebuild()

    def rebuild(self):
        gvs = by_group_version()
        core = [x for x in gvs if x[0] == ""][0]
        named = []  # [(group, [(version, resources)])], versions in priority order
        for g, v, rs in gvs:
            if g == "":
                continue
            if named and named[-1][0] == g:
                named[-1][1].append((v, rs))
            else:
                named.append((g, [(v, rs)]))
        groups = []
        for g, versions in named:
            vds = [{"groupVersion": g + "/" + v, "version": v} for v, _ in versions]
            groups.append({"name": g, "versions": vds, "preferredVersion": vds[0]})
        resource_lists = {}
        for g, v, rs in gvs:
            gv = g + "/" + v if g else v
            resource_lists[gv] = _enc(_legacy_resources(g, v, rs))

        def agg(items):
            return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
                    "items": [{"metadata": {"name": g, "creationTimestamp": None},
                               "versions": [{"version": v, "resources": [_agg_resource(r) for r in rs],
                                             "freshness": "Current"} for v, rs in versions]}
                              for g, versions in items]}
        api_agg = agg([("", [(core[1], core[2])])])
        apis_agg = agg(named)
        self.api_agg_b = {AGG_CT_V2: _enc(api_agg),
                          AGG_CT_V2BETA1: _enc(dict(api_agg, apiVersion="apidiscovery.k8s.io/v2beta1"))}
        self.apis_agg_b = {AGG_CT_V2: _enc(apis_agg),
                           AGG_CT_V2BETA1: _enc(dict(apis_agg, apiVersion="apidiscovery.k8s.io/v2beta1"))}
        self.resource_lists = resource_lists
        self.groups = {gr["name"]: _enc(dict({"kind": "APIGroup", "apiVersion": "v1"}, **gr)) for gr in groups}
        self.apis_legacy = _enc({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        self.openapi = OpenAPI(gvs)

    @staticmethod
    def aggregated_type(accept):
        """The aggregated Content-Type to answer with, or None for legacy documents."""
        if not accept or "as=APIGroupDiscoveryList" not in accept:
            return None
        for part in accept.split(","):
            if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part:
                if "v=v2beta1" in part:
                    return AGG_CT_V2BETA1
                if "v=v2" in part:
                    return AGG_CT_V2
        return None


def _params(*names):
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in names]


class OpenAPI:
    """Per-GV v3 documents: every item path has get/put/patch/delete, and PATCH lists
    fieldValidation, which is what makes kubectl apply use server-side validation."""

    def __init__(self, gvs):
        self.docs = {}
        index = {}
        for g, v, rs in gvs:
            key = "apis/%s/%s" % (g, v) if g else "api/" + v
            paths = {}
            for r in rs:
                gvk = {"group": r.group, "version": r.version, "kind": r.kind}
                base = "/" + key + ("/namespaces/{namespace}" if r.namespaced else "")
                coll = base + "/" + r.plural
                if r.stored:
                    item = coll + "/{name}"
                    paths[item] = {
                        "get": {"operationId": "read" + r.kind, "x-kubernetes-action": "get",
                                "x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK"}}},
                        "put": {"operationId": "replace" + r.kind, "x-kubernetes-action": "put",
                                "x-kubernetes-group-version-kind": gvk,
                                "parameters": _params("dryRun", "fieldManager", "fieldValidation"),
                                "responses": {"200": {"description": "OK"}}},
                        "patch": {"operationId": "patch" + r.kind, "x-kubernetes-action": "patch",
                                  "x-kubernetes-group-version-kind": gvk,
                                  "parameters": _params("dryRun", "fieldManager", "fieldValidation", "force"),
                                  "responses": {"200": {"description": "OK"}}},
                        "delete": {"operationId": "delete" + r.kind, "x-kubernetes-action": "delete",
                                   "x-kubernetes-group-version-kind": gvk, "responses": {"200": {"description": "OK"}}},
                        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    }
                paths[coll] = {"post": {"operationId": "create" + r.kind, "x-kubernetes-action": "post",
                                        "x-kubernetes-group-version-kind": gvk,
                                        "parameters": _params("dryRun", "fieldManager", "fieldValidation"),
                                        "responses": {"201": {"description": "Created"}}}}
                if r.stored:
                    paths[coll]["get"] = {"operationId": "list" + r.kind, "x-kubernetes-action": "list",
                                          "x-kubernetes-group-version-kind": gvk,
                                          "responses": {"200": {"description": "OK"}}}
            doc = _enc({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"}, "paths": paths})
            h = hashlib.sha512(doc).hexdigest()[:128].upper()
            self.docs["/openapi/v3/" + key] = (doc, h)
            index[key] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (key, h)}
        self.index = _enc({"paths": index})
