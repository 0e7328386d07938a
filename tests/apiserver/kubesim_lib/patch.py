"""The three non-apply patch types: JSON merge (RFC 7386), JSON patch (RFC 6902), and
strategic merge as kubectl's client-side apply sends it."""
import copy


class PatchError(Exception):
    """The patch could not be applied to this object (422)."""


class PatchDecodeError(PatchError):
    """The patch itself is malformed (400, as jsonpatch.DecodePatch errors are)."""


# ---- RFC 7386 ----
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- RFC 6902 ----
def _pointer(path):
    if not isinstance(path, str):
        raise PatchDecodeError("json: cannot unmarshal %s into Go value of type string" % type(path).__name__)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchDecodeError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError("doc is missing path: %s" % "/" + "/".join(parts))
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError("doc is missing path: /%s" % "/".join(parts))
        else:
            raise PatchError("doc is missing path: /%s" % "/".join(parts))
    return cur


def _add(doc, parts, value, replace=False):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError("replace operation does not apply: doc is missing key: /%s" % "/".join(parts))
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
            return doc
        try:
            i = int(last)
        except ValueError:
            raise PatchError("invalid array index %r" % last)
        if replace:
            if not 0 <= i < len(parent):
                raise PatchError("replace operation does not apply: doc is missing path: /%s" % "/".join(parts))
            parent[i] = value
        else:
            if not 0 <= i <= len(parent):
                raise PatchError("add operation does not apply: doc is missing path: /%s" % "/".join(parts))
            parent.insert(i, value)
    else:
        raise PatchError("doc is missing path: /%s" % "/".join(parts))
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, dict):
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(int(last))
    except (KeyError, ValueError, IndexError):
        pass
    raise PatchError("remove operation does not apply: doc is missing path: \"/%s\"" % "/".join(parts))


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchDecodeError("json: cannot unmarshal %s into Go value of type jsonpatch.Patch"
                               % ("object" if isinstance(ops, dict) else "string" if isinstance(ops, str) else "number"))
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchDecodeError("Unexpected kind: missing op")
        kind = op["op"]
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), replace=True)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            val = _remove(doc, src) if kind == "move" else copy.deepcopy(_walk(doc, src))
            doc = _add(doc, parts, val)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError("testing value /%s failed: test failed" % "/".join(parts))
        else:
            raise PatchDecodeError("Unexpected kind: %s" % kind)
    return doc


# ---- strategic merge ----
# patchMergeKey by field name; lists not named here are replaced whole (RBAC rules/subjects too).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "volumes": "name", "env": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
              "secrets": "name", "hostAliases": "ip", "conditions": "type", "topologySpreadConstraints": "topologyKey",
              "ports": None}  # ports: containerPort for containers, port for services


def _merge_key(field, items):
    if field not in MERGE_KEYS:
        return None
    key = MERGE_KEYS[field]
    if key is None:
        sample = next((i for i in items if isinstance(i, dict)), {})
        key = "containerPort" if "containerPort" in sample else "port"
    return key


def strategic_merge(orig, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(orig, dict):
        orig = {}
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(orig)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            continue  # ordering hint only
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k)
        else:
            out[k] = v
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(orig, patch, field):
    key = _merge_key(field, patch + (orig or []) if isinstance(orig, list) else patch)
    if key is None or not isinstance(orig, list) or not all(isinstance(i, dict) for i in patch):
        # a replace directive inside a primitive list is not something kubectl sends
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and i.get("$patch"))]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    out = [copy.deepcopy(i) for i in orig]
    for item in patch:
        kv = item.get(key)
        idx = next((n for n, o in enumerate(out) if isinstance(o, dict) and o.get(key) == kv), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out
