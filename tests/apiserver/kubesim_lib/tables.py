"""Server-side printing: the meta.k8s.io/v1 Table kubectl asks for with as=Table."""
import calendar
import time

TABLE_CT = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept):
    return bool(accept) and "as=Table" in accept


def human_duration(secs):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(secs)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm" % m if s % 60 == 0 else "%dm%ds" % (m, s % 60)
    if m < 180:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh" % h if m % 60 == 0 else "%dh%dm" % (h, m % 60)
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd" % (h // 24) if h % 24 == 0 else "%dd%dh" % (h // 24, h % 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return "%dy" % (h // 24 // 365) if dy == 0 else "%dy%dd" % (h // 24 // 365, dy)
    return "%dy" % (h // 24 // 365)


def age(obj):
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    return human_duration(time.time() - t)


def _col(name, typ="string", fmt="", desc="", priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time when this object was created.")


def _endpoints(o):
    out = []
    for s in o.get("subsets") or []:
        for a in s.get("addresses") or []:
            for p in s.get("ports") or [{}]:
                out.append("%s:%s" % (a.get("ip"), p.get("port")) if p.get("port") else a.get("ip"))
    if not out:
        return "<none>"
    return ",".join(out[:3]) + (" + %d more..." % (len(out) - 3) if len(out) > 3 else "")


def _ports(o):
    ps = []
    for p in (o.get("spec") or {}).get("ports") or []:
        s = "%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
        if p.get("nodePort"):
            s = "%s:%s/%s" % (p.get("port"), p["nodePort"], p.get("protocol", "TCP"))
        ps.append(s)
    return ",".join(ps) or "<none>"


def _subjects(o, kind):
    out = []
    for s in o.get("subjects") or []:
        if s.get("kind") == kind:
            out.append("%s/%s" % (s.get("namespace", ""), s.get("name")) if kind == "ServiceAccount" else s.get("name"))
    return ", ".join(out)


def _pod_ready(o):
    cs = (o.get("status") or {}).get("containerStatuses") or []
    n = len((o.get("spec") or {}).get("containers") or [])
    return "%d/%d" % (sum(1 for c in cs if c.get("ready")), n)


def _deploy(o, key):
    return (o.get("status") or {}).get(key, 0)


def _node_status(o):
    conds = {c.get("type"): c.get("status") for c in (o.get("status") or {}).get("conditions") or []}
    s = "Ready" if conds.get("Ready") == "True" else "NotReady"
    return s + (",SchedulingDisabled" if (o.get("spec") or {}).get("unschedulable") else "")


def _node_roles(o):
    roles = sorted(k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


COLUMNS = {
    "Node": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"), _col("Internal-IP", priority=1),
              _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
              _col("Container-Runtime", priority=1)],
             lambda o: [_node_status(o), _node_roles(o), age(o),
                        ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
                        next((a.get("address") for a in (o.get("status") or {}).get("addresses") or []
                              if a.get("type") == "InternalIP"), "<none>"), "<none>",
                        ((o.get("status") or {}).get("nodeInfo") or {}).get("osImage", ""),
                        ((o.get("status") or {}).get("nodeInfo") or {}).get("kernelVersion", ""),
                        ((o.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")]),
    "Namespace": ([NAME, _col("Status"), AGE], lambda o: [(o.get("status") or {}).get("phase", ""), age(o)]),
    "ServiceAccount": ([NAME, _col("Secrets", "integer"), AGE], lambda o: [len(o.get("secrets") or []), age(o)]),
    "Secret": ([NAME, _col("Type"), _col("Data", "string"), AGE],
               lambda o: [o.get("type", ""), len(o.get("data") or {}), age(o)]),
    "ConfigMap": ([NAME, _col("Data", "string"), AGE],
                  lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)]),
    "Endpoints": ([NAME, _col("Endpoints"), AGE], lambda o: [_endpoints(o), age(o)]),
    "Service": ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                 _col("Selector", priority=1)],
                lambda o: [(o.get("spec") or {}).get("type", ""), (o.get("spec") or {}).get("clusterIP", "") or "None",
                           "<none>", _ports(o), age(o),
                           ",".join("%s=%s" % kv for kv in sorted(((o.get("spec") or {}).get("selector") or {}).items())) or "<none>"]),
    "Pod": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), AGE],
            lambda o: [_pod_ready(o), (o.get("status") or {}).get("phase", "Pending"), "0", age(o)]),
    "Deployment": ([NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE],
                   lambda o: ["%d/%d" % (_deploy(o, "readyReplicas"), (o.get("spec") or {}).get("replicas", 0)),
                              _deploy(o, "updatedReplicas"), _deploy(o, "availableReplicas"), age(o)]),
    "ClusterRole": ([NAME, _col("Created At", "date")], lambda o: [o["metadata"].get("creationTimestamp")]),
    "Role": ([NAME, _col("Created At", "date")], lambda o: [o["metadata"].get("creationTimestamp")]),
    "CustomResourceDefinition": ([NAME, _col("Created At", "date")], lambda o: [o["metadata"].get("creationTimestamp")]),
    "ClusterRoleBinding": ([NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
                            _col("ServiceAccounts", priority=1)],
                           lambda o: ["ClusterRole/" + (o.get("roleRef") or {}).get("name", ""), age(o),
                                      _subjects(o, "User"), _subjects(o, "Group"), _subjects(o, "ServiceAccount")]),
    "RoleBinding": ([NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
                     _col("ServiceAccounts", priority=1)],
                    lambda o: ["%s/%s" % ((o.get("roleRef") or {}).get("kind", ""), (o.get("roleRef") or {}).get("name", "")),
                               age(o), _subjects(o, "User"), _subjects(o, "Group"), _subjects(o, "ServiceAccount")]),
}


def _partial(res, o):
    md = {k: v for k, v in o["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}


def table(res, objs, list_meta=None, include="Metadata"):
    cols, cells = (None if res.custom else COLUMNS.get(res.kind)) or ([NAME, AGE], lambda o: [age(o)])
    rows = []
    for o in objs:
        row = {"cells": [o["metadata"]["name"]] + cells(o)}
        if include == "Object":
            row["object"] = dict(o, kind=res.kind, apiVersion=res.api_version)
        elif include != "None":
            row["object"] = _partial(res, o)
        rows.append(row)
    meta = {k: v for k, v in (list_meta or {}).items()}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols, "rows": rows}
