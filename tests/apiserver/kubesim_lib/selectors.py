"""Label and field selectors as the apiserver parses them from list/watch queries."""
import re

from . import errors

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$")


def _split_top(s):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_labels(expr):
    """Returns a list of (op, key, values); raises 400 on syntax errors."""
    reqs = []
    if not expr:
        return reqs
    for part in _split_top(expr):
        m = _SET_RE.match(part)
        if not m:
            raise errors.bad_request("unable to parse requirement: %s" % part.strip())
        neg, key, setop, setvals, op, val = m.groups()
        if neg:
            if setop or op:
                raise errors.bad_request("unable to parse requirement: %s" % part.strip())
            reqs.append(("!", key, ()))
        elif setop:
            reqs.append((setop, key, tuple(v.strip() for v in setvals.split(",") if v.strip())))
        elif op:
            reqs.append(("!=" if op == "!=" else "=", key, (val,)))
        else:
            reqs.append(("exists", key, ()))
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for op, key, vals in reqs:
        has = key in labels
        if op == "=":
            if not has or labels[key] != vals[0]:
                return False
        elif op == "!=":
            if has and labels[key] == vals[0]:
                return False
        elif op == "in":
            if not has or labels[key] not in vals:
                return False
        elif op == "notin":
            if has and labels[key] in vals:
                return False
        elif op == "exists":
            if not has:
                return False
        elif op == "!":
            if has:
                return False
    return True


# Fields each kind supports beyond metadata.name/metadata.namespace.
_EXTRA_FIELDS = {
    "Secret": {"type": lambda o: o.get("type", "")},
    "Namespace": {"status.phase": lambda o: (o.get("status") or {}).get("phase", "")},
    "Pod": {"spec.nodeName": lambda o: (o.get("spec") or {}).get("nodeName", ""),
            "status.phase": lambda o: (o.get("status") or {}).get("phase", ""),
            "spec.serviceAccountName": lambda o: (o.get("spec") or {}).get("serviceAccountName", "")},
}


def parse_fields(expr, kind):
    reqs = []
    if not expr:
        return reqs
    extra = _EXTRA_FIELDS.get(kind, {})
    for part in expr.split(","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            if op in part:
                key, val = part.split(op, 1)
                break
        else:
            raise errors.bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (expr, part))
        key = key.strip()
        if key == "metadata.name":
            get = lambda o: o["metadata"].get("name", "")
        elif key == "metadata.namespace":
            get = lambda o: o["metadata"].get("namespace", "")
        elif key in extra:
            get = extra[key]
        else:
            raise errors.bad_request('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % key)
        reqs.append((op == "!=", get, val.strip(), key))
    return reqs


def fields_match(reqs, obj):
    for neg, get, val, _ in reqs:
        if (get(obj) == val) == neg:
            return False
    return True


def name_from_fields(expr):
    """metadata.name=<n> on a list/watch is authorized with that name (RequestInfoFactory)."""
    if not expr:
        return ""
    for part in expr.split(","):
        for op in ("==", "="):
            if op in part and "!=" not in part:
                k, v = part.split(op, 1)
                if k.strip() == "metadata.name":
                    return v.strip()
                break
    return ""


class Selector:
    __slots__ = ("labels", "fields")

    def __init__(self, label_expr, field_expr, kind):
        self.labels = parse_labels(label_expr)
        self.fields = parse_fields(field_expr, kind)

    def empty(self):
        return not self.labels and not self.fields

    def match(self, obj):
        if self.labels and not labels_match(self.labels, obj["metadata"].get("labels")):
            return False
        if self.fields and not fields_match(self.fields, obj):
            return False
        return True
