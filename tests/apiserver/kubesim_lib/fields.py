"""Field ownership (metadata.managedFields) and server-side apply.

Simplification, documented in the README: field paths go down through maps only; every
list is owned as a whole (atomic), which is what RBAC rules/subjects really are.
"""
import copy

from . import errors

_META_SKIP = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation",
              "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "generateName"}
# maps (as opposed to structs) get the "." marker in fieldsV1
_MAPS = {"data", "stringData", "binaryData", "labels", "annotations", "matchLabels", "nodeSelector"}


def leaves(obj, with_status=False):
    """{path tuple: value} for the fields a manager can own."""
    out = {}

    def walk(v, path):
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                walk(sub, path + (k,))
        else:
            out[path] = v

    for k, v in obj.items():
        if k in ("apiVersion", "kind") or (k == "status" and not with_status):
            continue
        if k == "metadata":
            for mk, mv in (v or {}).items():
                if mk not in _META_SKIP:
                    walk(mv, ("metadata", mk))
        else:
            walk(v, (k,))
    return out


def encode(paths):
    root = {}
    for p in sorted(paths):
        node = root
        for i, k in enumerate(p):
            node = node.setdefault("f:" + k, {})
            if k in _MAPS and i < len(p) - 1:
                node.setdefault(".", {})
    return root


def decode(fv1):
    out = set()
    if not isinstance(fv1, dict):
        return out

    def walk(node, path):
        kids = [k for k in node if k.startswith("f:")] if isinstance(node, dict) else []
        if not kids:
            out.add(path)
            return
        for k in kids:
            walk(node[k], path + (k[2:],))

    for k, v in (fv1 or {}).items():
        if k.startswith("f:"):
            walk(v, (k[2:],))
    return out


def _get(obj, path):
    cur = obj
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _entries(obj):
    out = []
    for e in (obj.get("metadata") or {}).get("managedFields") or []:
        if isinstance(e, dict) and e.get("manager") is not None:
            out.append((e, decode(e.get("fieldsV1"))))
    return out


def _entry(manager, operation, api_version, now, paths, subresource=""):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
         "fieldsType": "FieldsV1", "fieldsV1": encode(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _same(e, manager, operation):
    return e.get("manager") == manager and e.get("operation") == operation and not e.get("subresource")


def track_update(old, new, manager, api_version, now):
    """Record an Update by manager: it takes over every field it changed."""
    new_leaves = leaves(new)
    old_leaves = leaves(old) if old else {}
    changed = {p for p, v in new_leaves.items() if p not in old_leaves or old_leaves[p] != v}
    out, mine = [], None
    base = _entries(old) if old else []
    for e, paths in base:
        keep = {p for p in paths if p in new_leaves}
        if _same(e, manager, "Update"):
            mine = keep
            continue
        keep -= changed
        if keep:
            out.append(_entry(e["manager"], e["operation"], e.get("apiVersion", api_version), e.get("time", now),
                              keep, e.get("subresource", "")))
    mine = (mine or set()) | changed
    if mine:
        out.append(_entry(manager, "Update", api_version, now, mine))
    md = new.setdefault("metadata", {})
    if out:
        md["managedFields"] = out
    else:
        md.pop("managedFields", None)  # entries owning nothing are dropped, and so is an empty list
    return new


def _merge(live, cfg):
    """Apply merges maps recursively and replaces lists and scalars."""
    for k, v in cfg.items():
        if isinstance(v, dict) and isinstance(live.get(k), dict) and v:
            _merge(live[k], v)
        else:
            live[k] = copy.deepcopy(v)


def _prune(obj, path):
    parent = _get(obj, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
        # drop maps emptied by the removal, but never metadata itself
        for i in range(len(path) - 1, 1, -1):
            p = _get(obj, path[:i])
            if p == {}:
                _get(obj, path[:i - 1]).pop(path[i - 1], None)


def _fmt_path(p):
    return "." + ".".join(p)


def apply(res, live, cfg, manager, force, now):
    """Server-side apply of cfg onto live (None when creating). Returns the new object or raises 409."""
    api_version = cfg.get("apiVersion") or res.api_version
    cfg_leaves = leaves(cfg)
    cfg_paths = set(cfg_leaves)
    if live is None:
        obj = copy.deepcopy(cfg)
        obj.setdefault("metadata", {})["managedFields"] = [_entry(manager, "Apply", api_version, now, cfg_paths)]
        return obj
    entries = _entries(live)
    new = copy.deepcopy(live)
    # fields this manager applied before and no longer applies are removed, unless someone else owns them
    previous = next((p for e, p in entries if _same(e, manager, "Apply")), set())
    others = set()
    for e, paths in entries:
        if not _same(e, manager, "Apply"):
            others |= paths
    for p in previous - cfg_paths:
        if p not in others:
            _prune(new, p)
    _merge(new, cfg)
    conflicts = []
    for e, paths in entries:
        if _same(e, manager, "Apply"):
            continue
        for q in sorted(paths):
            overlaps = any(q[:len(p)] == p or p[:len(q)] == q for p in cfg_paths)
            if overlaps and _get(live, q) != _get(new, q):
                conflicts.append((e, q))
    if conflicts and not force:
        raise _conflict_error(res, live["metadata"]["name"], conflicts)
    out = []
    taken = {q for _, q in conflicts}
    new_leaves = leaves(new)
    mine = _entry(manager, "Apply", api_version, now, cfg_paths)
    for e, paths in entries:  # keep the entries' order: a re-apply that changes nothing must compare equal
        if _same(e, manager, "Apply"):
            if e.get("fieldsV1") == mine["fieldsV1"] and e.get("apiVersion") == api_version:
                mine["time"] = e.get("time", now)
            out.append(mine)
            mine = None
            continue
        keep = {p for p in paths - taken if p in new_leaves}
        if keep:
            out.append(_entry(e["manager"], e["operation"], e.get("apiVersion", api_version), e.get("time", now),
                              keep, e.get("subresource", "")))
    if mine is not None:
        out.append(mine)
    new["metadata"]["managedFields"] = out
    return new


def _conflict_error(res, name, conflicts):
    by_mgr = {}
    for e, q in conflicts:
        label = '"%s" using %s' % (e["manager"], e.get("apiVersion", res.api_version))
        by_mgr.setdefault(label, []).append(q)
    if len(conflicts) == 1:
        (label, qs), = by_mgr.items()
        text = "conflict with %s: %s" % (label, _fmt_path(qs[0]))
    else:
        lines = []
        for label in sorted(by_mgr):
            lines.append("conflicts with %s:" % label)
            lines.extend("- %s" % _fmt_path(q) for q in by_mgr[label])
        text = "\n".join(lines)
    n = len(conflicts)
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with %s" % label, "field": _fmt_path(q)}
              for label, qs in by_mgr.items() for q in qs]
    err = errors.conflict(res.plural, res.group, name, "", causes)
    err.message = "Apply failed with %d conflict%s: %s" % (n, "" if n == 1 else "s", text)
    return err

