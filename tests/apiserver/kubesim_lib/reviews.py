"""The review APIs (never stored) and TokenRequest on serviceaccounts/token."""
import time
import uuid

from . import errors as E
from . import shapes
from .api import now
from .authn import TokenInvalid
from .resources import BY_PLURAL

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"
SA = BY_PLURAL["serviceaccounts"]
POD = BY_PLURAL["pods"]
SECRET = BY_PLURAL["secrets"]
MAX_EXPIRATION = 1 << 32


def _echo(body, kind, group):
    out = {"kind": kind, "apiVersion": group + "/v1", "metadata": {"creationTimestamp": None}}
    if isinstance(body, dict):
        md = body.get("metadata")
        if isinstance(md, dict) and md:
            out["metadata"] = dict(md, creationTimestamp=None)
        out["spec"] = body.get("spec") or {}
    else:
        out["spec"] = {}
    return out


def _attrs_from_spec(spec, kind):
    ra = spec.get("resourceAttributes") or None
    nra = spec.get("nonResourceAttributes") or None
    if ra and nra:
        raise E.invalid(kind, AUTHZ, "", [E.invalid_value("spec.nonResourceAttributes", nra,
                                                          "cannot be specified in combination with resourceAttributes")])
    if not ra and not nra:
        raise E.invalid(kind, AUTHZ, "", [E.invalid_value("spec.resourceAttributes", None,
                                                          "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    if ra:
        return {"verb": ra.get("verb", ""), "api_group": ra.get("group", ""), "resource": ra.get("resource", ""),
                "subresource": ra.get("subresource", ""), "name": ra.get("name", ""),
                "namespace": ra.get("namespace", ""), "path": ""}
    return {"verb": nra.get("verb", ""), "api_group": "", "resource": "", "subresource": "", "name": "",
            "namespace": "", "path": nra.get("path", "")}


def _access_status(authz, user, attrs):
    ok, reason = authz.allowed(user, attrs)
    st = {"allowed": bool(ok)}
    if reason:
        st["reason"] = reason  # RBAC puts resolution errors in the reason, never evaluationError
    return st


class Reviews:
    def __init__(self, store, authz, authn, signer):
        self.store, self.authz, self.authn, self.signer = store, authz, authn, signer

    def handle(self, res, ns, body, user):
        if body is not None:
            shapes.check(res.kind, res.api_version, body)
        return getattr(self, "_" + res.plural)(body if isinstance(body, dict) else {}, user, ns)

    def _selfsubjectaccessreviews(self, body, user, ns):
        out = _echo(body, "SelfSubjectAccessReview", AUTHZ)
        attrs = _attrs_from_spec(out["spec"], "SelfSubjectAccessReview")
        out["status"] = _access_status(self.authz, user, attrs)
        return out

    def _localsubjectaccessreviews(self, body, user, ns):
        out = _echo(body, "LocalSubjectAccessReview", AUTHZ)
        spec = out["spec"]
        ra = spec.get("resourceAttributes") or {}
        if spec.get("nonResourceAttributes"):
            raise E.invalid("LocalSubjectAccessReview", AUTHZ, "", [E.invalid_value(
                "spec.nonResourceAttributes", spec["nonResourceAttributes"], "disallowed on this kind of request")])
        if ra.get("namespace", "") != ns:
            raise E.bad_request("spec.resourceAttributes.namespace must match namespace: %s" % ns)
        return self._sar(out, "LocalSubjectAccessReview")

    def _subjectaccessreviews(self, body, user, ns):
        return self._sar(_echo(body, "SubjectAccessReview", AUTHZ), "SubjectAccessReview")

    def _sar(self, out, kind):
        spec = out["spec"]
        if not spec.get("user") and not spec.get("groups"):
            raise E.invalid(kind, AUTHZ, "", [E.invalid_value("spec.user", "", "at least one of user or group must be specified")])
        attrs = _attrs_from_spec(spec, kind)
        # groups are not inferred: the spec is evaluated as given
        subject = {"username": spec.get("user", ""), "uid": spec.get("uid", ""), "groups": list(spec.get("groups") or []),
                   "extra": spec.get("extra") or {}}
        out["status"] = _access_status(self.authz, subject, attrs)
        return out

    def _selfsubjectrulesreviews(self, body, user, ns):
        out = _echo(body, "SelfSubjectRulesReview", AUTHZ)
        namespace = out["spec"].get("namespace", "")
        if not namespace:
            raise E.bad_request("no namespace on request")
        out["status"] = self.authz.rules_review(user, namespace)
        return out

    def _selfsubjectreviews(self, body, user, ns):
        info = {"username": user["username"]}
        if user.get("uid"):
            info["uid"] = user["uid"]
        info["groups"] = list(user.get("groups") or [])
        if user.get("extra"):
            info["extra"] = user["extra"]
        return {"kind": "SelfSubjectReview", "apiVersion": AUTHN + "/v1", "metadata": {"creationTimestamp": now()},
                "status": {"userInfo": info}}

    def _tokenreviews(self, body, user, ns):
        out = _echo(body, "TokenReview", AUTHN)
        spec = out["spec"]
        tok = spec.get("token", "")
        if not tok:
            raise E.bad_request("token is required for TokenReview in authentication")
        try:
            u, auds = self.authn.token_user(tok, spec.get("audiences") or None)
        except TokenInvalid as e:
            out["status"] = {"user": {}, "error": "[invalid bearer token, %s]" % e if str(e) != "invalid bearer token" else str(e)}
            return out
        info = {"username": u["username"]}
        if u.get("uid"):
            info["uid"] = u["uid"]
        info["groups"] = list(u["groups"])
        if u.get("extra"):
            info["extra"] = u["extra"]
        out["status"] = {"authenticated": True, "user": info, "audiences": auds}
        return out

    # ---- TokenRequest ----
    def token_request(self, ns, sa_name, body, dry=False):
        if body is not None:
            shapes.check("TokenRequest", "authentication.k8s.io/v1", body)
        body = body if isinstance(body, dict) else {}
        md = body.get("metadata") or {}
        errs = []
        if md.get("name") and md["name"] != sa_name:
            errs.append(E.invalid_value("metadata.name", md["name"], "must match the service account name if specified"))
        if md.get("namespace") and md["namespace"] != ns:
            errs.append(E.invalid_value("metadata.namespace", md["namespace"], "must match the service account namespace if specified"))
        if errs:
            raise E.invalid("TokenRequest", AUTHN, "", errs)
        sa = self.store.get(SA, ns, sa_name)
        if sa is None:
            raise E.not_found("serviceaccounts", "", sa_name)
        spec = dict(body.get("spec") or {})
        auds = [a for a in (spec.get("audiences") or []) if a] or ["https://kubernetes.default.svc.cluster.local"]
        secs = spec.get("expirationSeconds") or 3600
        if not isinstance(secs, int):
            raise E.bad_request("spec.expirationSeconds must be an integer")
        if secs < 600:
            raise E.invalid("TokenRequest", AUTHN, "", [E.invalid_value("spec.expirationSeconds", secs,
                                                                         "may not specify a duration less than 10 minutes")])
        if secs > MAX_EXPIRATION:
            raise E.invalid("TokenRequest", AUTHN, "", [E.invalid_value("spec.expirationSeconds", secs,
                                                                         "may not specify a duration larger than 2^32 seconds")])
        bound = None
        ref = spec.get("boundObjectRef")
        if ref:
            kind = ref.get("kind")
            res = {"Pod": POD, "Secret": SECRET}.get(kind)
            if res is None:
                raise E.bad_request("cannot bind token to object of type %s" % kind)
            obj = self.store.get(res, ns, ref.get("name", ""))
            if obj is None:
                raise E.not_found(res.plural, "", ref.get("name", ""))
            if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName") != sa_name:
                raise E.bad_request('cannot bind token for serviceaccount "%s" to pod running with different '
                                    'serviceaccount name.' % sa_name)
            if ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]:
                raise E.conflict(kind, "", ref.get("name", ""), "the UID in the bound object reference (%s) does not "
                                 "match the UID in record. The object might have been deleted and then recreated"
                                 % ref["uid"])
            bound = {kind.lower(): {"name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}}
            spec["boundObjectRef"] = dict(ref, uid=obj["metadata"]["uid"], apiVersion=ref.get("apiVersion") or "v1")
        else:
            spec["boundObjectRef"] = None
        spec["audiences"] = auds
        spec["expirationSeconds"] = secs
        created = now()
        tok, exp = self.signer.bound_token(ns, sa_name, sa["metadata"]["uid"], auds, secs, bound, jti=str(uuid.uuid4()))
        return {"kind": "TokenRequest", "apiVersion": AUTHN + "/v1",
                "metadata": {"name": sa_name, "namespace": ns, "creationTimestamp": created},
                "spec": spec,
                "status": {"token": "" if dry else tok,
                           "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}}
