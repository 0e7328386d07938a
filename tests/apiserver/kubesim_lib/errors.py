"""Kubernetes Status bodies, built exactly as apimachinery's errors.go does.

Key order matters to tests that compare bytes: kind, apiVersion, metadata,
status, message, reason, details, code.
"""
import json


def gr_string(resource, group):
    """GroupResource.String(): "secrets" or "clusterroles.rbac.authorization.k8s.io"."""
    return resource + "." + group if group else resource


class APIError(Exception):
    """An error answered with a Status body (or plain text when text is set)."""

    def __init__(self, code, reason, message, details=None, headers=None, text=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.text = text  # non-Status errors (maxinflight 429, impersonation 500)

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name, group, kind, **extra):
    # every field of StatusDetails is omitempty
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    d.update({k: v for k, v in extra.items() if v})
    return d


def bad_request(msg):
    return APIError(400, "BadRequest", msg)


def unauthorized(msg="Unauthorized"):
    return APIError(401, "Unauthorized", msg)


def forbidden(resource, group, name, err):
    gr = gr_string(resource, group)
    if gr and name:
        msg = '%s "%s" is forbidden: %s' % (gr, name, err)
    elif gr:
        msg = "%s is forbidden: %s" % (gr, err)
    else:
        msg = "forbidden: %s" % err
    return APIError(403, "Forbidden", msg, _details(name, group, resource))


def forbidden_full(resource, group, name, message, causes=None):
    """Forbidden with a message already formatted (rbac.py hands us whole messages)."""
    return APIError(403, "Forbidden", message, _details(name, group, resource, causes=causes))


def not_found(resource, group, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (gr_string(resource, group), name),
                    _details(name, group, resource))


def not_found_path():
    # unknown resource under a known API prefix
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed(action, resource, group):
    return APIError(405, "MethodNotAllowed", '%s is not supported on resources of kind "%s"'
                    % (action, gr_string(resource, group)), _details("", group, resource))


def already_exists(resource, group, name):
    return APIError(409, "AlreadyExists", '%s "%s" already exists' % (gr_string(resource, group), name),
                    _details(name, group, resource))


def conflict(resource, group, name, err, causes=None):
    return APIError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (gr_string(resource, group), name, err), _details(name, group, resource, causes=causes))


def conflict_modified(resource, group, name):
    return conflict(resource, group, name, "the object has been modified; please apply your "
                    "changes to the latest version and try again")


def expired(msg):
    return APIError(410, "Expired", msg)


def unsupported_media(msg):
    return APIError(415, "UnsupportedMediaType", msg)


def too_many_requests(msg="Too many requests, please try again later.", retry=1):
    return APIError(429, "TooManyRequests", msg, {"retryAfterSeconds": retry},
                    headers={"Retry-After": str(retry)})


def internal(err):
    return APIError(500, "InternalError", "Internal error occurred: %s" % err, {"causes": [{"message": err}]})


def service_unavailable(msg):
    return APIError(503, "ServiceUnavailable", msg)


# ---- 422 Invalid: field.Error formatting (validation/field/errors.go) ----

_TYPE_REASON = {
    "Not found": "FieldValueNotFound", "Required value": "FieldValueRequired",
    "Duplicate value": "FieldValueDuplicate", "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported", "Forbidden": "FieldValueForbidden",
    "Too long": "FieldValueTooLong", "Too many": "FieldValueTooMany", "Internal error": "InternalError",
}
_NO_VALUE = ("Required value", "Forbidden", "Too long", "Internal error")


def _fmt_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    return json.dumps(v, separators=(",", ":"))


class FieldError:
    def __init__(self, type_, field, value=None, detail=""):
        self.type, self.field, self.value, self.detail = type_, field, value, detail

    def body(self):
        s = self.type if self.type in _NO_VALUE else "%s: %s" % (self.type, _fmt_value(self.value))
        return s + (": " + self.detail if self.detail else "")

    def __str__(self):
        return "%s: %s" % (self.field, self.body()) if self.field else self.body()


def required(field, detail=""):
    return FieldError("Required value", field, None, detail)


def invalid_value(field, value, detail=""):
    return FieldError("Invalid value", field, value, detail)


def unsupported(field, value, supported):
    return FieldError("Unsupported value", field, value,
                      "supported values: " + ", ".join(json.dumps(s) for s in supported))


def forbidden_field(field, detail=""):
    return FieldError("Forbidden", field, None, detail)


def invalid(kind, group, name, errs):
    qk = kind + "." + group if group else kind
    uniq = []
    for e in errs:
        if str(e) not in [str(u) for u in uniq]:
            uniq.append(e)
    if not uniq:
        agg = ""
    elif len(uniq) == 1:
        agg = str(uniq[0])
    else:
        agg = "[" + ", ".join(str(e) for e in uniq) + "]"
    msg = '%s "%s" is invalid' % (qk, name) + (": " + agg if agg else "")
    causes = [{"reason": _TYPE_REASON.get(e.type, "FieldValueInvalid"), "message": e.body(), "field": e.field}
              for e in uniq]
    return APIError(422, "Invalid", msg, _details(name, group, kind, causes=causes))
