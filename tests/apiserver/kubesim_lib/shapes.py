"""JSON shape checks standing in for Go's typed decoding: a body whose field has the wrong JSON
type is a 400 (`json: cannot unmarshal array into Go struct field ...`), never a crash."""
from . import errors as E

STR, INT, BOOL, OBJ, LIST, MAPSTR, LISTSTR = "string", "int", "bool", "object", "list", "mapstr", "liststr"
_GO = {STR: "string", INT: "int32", BOOL: "bool", OBJ: "struct", LIST: "[]struct", MAPSTR: "map[string]string",
       LISTSTR: "[]string"}

_META = {"name": STR, "generateName": STR, "namespace": STR, "uid": STR, "resourceVersion": STR,
         "generation": INT, "creationTimestamp": STR, "deletionTimestamp": STR, "labels": MAPSTR,
         "annotations": MAPSTR, "finalizers": LISTSTR, "ownerReferences": LIST,
         "managedFields": (LIST, {"manager": STR, "operation": STR, "apiVersion": STR, "time": STR,
                                  "fieldsType": STR, "fieldsV1": OBJ, "subresource": STR})}
_RULE = {"apiGroups": LISTSTR, "resources": LISTSTR, "verbs": LISTSTR, "resourceNames": LISTSTR,
         "nonResourceURLs": LISTSTR}
_SUBJECT = {"kind": STR, "apiGroup": STR, "name": STR, "namespace": STR}
_RA = {"namespace": STR, "verb": STR, "group": STR, "version": STR, "resource": STR, "subresource": STR, "name": STR}

# kind -> {field: type or (type, nested schema)}
SCHEMAS = {
    "ConfigMap": {"data": MAPSTR, "binaryData": MAPSTR, "immutable": BOOL},
    "Secret": {"data": MAPSTR, "stringData": MAPSTR, "type": STR, "immutable": BOOL},
    "ServiceAccount": {"secrets": (LIST, {"name": STR}), "imagePullSecrets": (LIST, {"name": STR}),
                       "automountServiceAccountToken": BOOL},
    "Namespace": {"spec": (OBJ, {"finalizers": LISTSTR}), "status": (OBJ, {"phase": STR})},
    "Endpoints": {"subsets": LIST},
    "Service": {"spec": (OBJ, {"ports": (LIST, {"port": INT, "name": STR, "protocol": STR, "nodePort": INT}),
                               "selector": MAPSTR, "type": STR, "clusterIP": STR, "clusterIPs": LISTSTR}),
                "status": OBJ},
    "Pod": {"spec": (OBJ, {"containers": (LIST, {"name": STR, "image": STR}), "serviceAccountName": STR,
                           "nodeName": STR}), "status": OBJ},
    "Deployment": {"spec": (OBJ, {"replicas": INT, "selector": (OBJ, {"matchLabels": MAPSTR}),
                                  "template": (OBJ, {"metadata": (OBJ, {"labels": MAPSTR}), "spec": OBJ})}),
                   "status": OBJ},
    "ClusterRole": {"rules": (LIST, _RULE), "aggregationRule": OBJ},
    "Role": {"rules": (LIST, _RULE)},
    "ClusterRoleBinding": {"subjects": (LIST, _SUBJECT), "roleRef": (OBJ, _SUBJECT)},
    "RoleBinding": {"subjects": (LIST, _SUBJECT), "roleRef": (OBJ, _SUBJECT)},
    "TokenRequest": {"spec": (OBJ, {"audiences": LISTSTR, "expirationSeconds": INT,
                                    "boundObjectRef": (OBJ, {"kind": STR, "apiVersion": STR, "name": STR, "uid": STR})})},
    "TokenReview": {"spec": (OBJ, {"token": STR, "audiences": LISTSTR})},
    "SelfSubjectReview": {},
    "SelfSubjectAccessReview": {"spec": (OBJ, {"resourceAttributes": (OBJ, _RA),
                                               "nonResourceAttributes": (OBJ, {"path": STR, "verb": STR})})},
    "SelfSubjectRulesReview": {"spec": (OBJ, {"namespace": STR})},
}
_SAR_SPEC = {"resourceAttributes": (OBJ, _RA), "nonResourceAttributes": (OBJ, {"path": STR, "verb": STR}),
             "user": STR, "groups": LISTSTR, "uid": STR, "extra": OBJ}
SCHEMAS["DeleteOptions"] = {"propagationPolicy": STR, "gracePeriodSeconds": INT, "dryRun": LISTSTR,
                            "orphanDependents": BOOL, "preconditions": (OBJ, {"uid": STR, "resourceVersion": STR})}
SCHEMAS["Scale"] = {"spec": (OBJ, {"replicas": INT})}
SCHEMAS["SubjectAccessReview"] = {"spec": (OBJ, _SAR_SPEC)}
SCHEMAS["LocalSubjectAccessReview"] = {"spec": (OBJ, _SAR_SPEC)}


def _jtype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _ok(t, v):
    if v is None:
        return True  # null decodes to the zero value
    if t == STR:
        return isinstance(v, str)
    if t == INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if t == BOOL:
        return isinstance(v, bool)
    if t in (OBJ,):
        return isinstance(v, dict)
    if t == LIST:
        return isinstance(v, list)
    if t == MAPSTR:
        return isinstance(v, dict) and all(isinstance(x, str) or x is None for x in v.values())
    if t == LISTSTR:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    return True


def _walk(kind, schema, obj, path):
    for k, spec in schema.items():
        if k not in obj:
            continue
        t, sub = spec if isinstance(spec, tuple) else (spec, None)
        v = obj[k]
        if not _ok(t, v):
            bad = v
            if (t == MAPSTR and isinstance(v, dict)) or (t == LISTSTR and isinstance(v, list)):
                # the container is right, one of its elements is not a string
                bad = next((x for x in (v.values() if isinstance(v, dict) else v) if not isinstance(x, str)), v)
            return "json: cannot unmarshal %s into Go struct field %s.%s of type %s" % (
                _jtype(bad), kind, path + k, _GO[t] if bad is v else ("string" if t in (MAPSTR, LISTSTR) else _GO[t]))
        if sub and v is not None:
            for item in (v if t == LIST else [v]):
                if not isinstance(item, dict):
                    return "json: cannot unmarshal %s into Go struct field %s.%s of type struct" % (_jtype(item), kind, path + k)
                err = _walk(kind, sub, item, path + k + ".")
                if err:
                    return err
    return None


def check(kind, api_version, body, typed=True):
    """Raise 400 when body cannot be decoded as kind (typed=False: only ObjectMeta has a type,
    as for schema-less custom resources)."""
    version = (api_version or "v1").split("/")[-1]
    prefix = '%s in version "%s" cannot be handled as a %s: ' % (kind, version, kind)
    if not isinstance(body, dict):
        raise E.bad_request(prefix + "json: cannot unmarshal %s into Go value of type %s" % (_jtype(body), kind))
    md = body.get("metadata")
    if md is not None and not isinstance(md, dict):
        raise E.bad_request(prefix + "json: cannot unmarshal %s into Go struct field %s.metadata of type v1.ObjectMeta"
                            % (_jtype(md), kind))
    err = _walk(kind, {"metadata": (OBJ, _META)}, body, "") or _walk(kind, SCHEMAS.get(kind, {}) if typed else {}, body, "")
    if err:
        raise E.bad_request(prefix + err)
