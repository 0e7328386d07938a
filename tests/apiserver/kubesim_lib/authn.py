"""Authentication (client certs, static token, service-account JWTs, anonymous) and impersonation.

Order follows kube-apiserver's union authenticator: a verified client certificate wins;
otherwise a bearer token must validate or the request gets 401 (never anonymous).
"""
import base64
import copy
import time
import urllib.parse

from . import errors, fields, tokens
from .resources import BY_PLURAL

ANONYMOUS = {"username": "system:anonymous", "uid": "", "groups": ["system:unauthenticated"], "extra": {}}
LEEWAY = 60  # jwt.DefaultLeeway
LAST_USED = "kubernetes.io/legacy-token-last-used"
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"
AUTO_TOKEN_WARNING = ("Use tokens from the TokenRequest API or manually created secret-based tokens instead of "
                      "auto-generated secret-based tokens.")

_SA = BY_PLURAL["serviceaccounts"]
_SECRET = BY_PLURAL["secrets"]
_POD = BY_PLURAL["pods"]


class TokenInvalid(Exception):
    """Carries the authenticator's reason; callers only ever show 401 Unauthorized."""


def with_authenticated(groups):
    return groups if "system:authenticated" in groups else groups + ["system:authenticated"]


def sa_user(ns, name, uid, extra=None):
    return {"username": "system:serviceaccount:%s:%s" % (ns, name), "uid": uid,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"],
            "extra": extra or {}}


def split_sa(username):
    """SplitUsername: ("ns", "name") for system:serviceaccount:ns:name, else None."""
    parts = username.split(":")
    if len(parts) == 4 and parts[0] == "system" and parts[1] == "serviceaccount" and parts[2] and parts[3]:
        return parts[2], parts[3]
    return None


def cert_user(peercert):
    """User from a verified client certificate: CN = name, every O = a group."""
    if not peercert:
        return None
    cn, orgs = None, []
    for rdn in peercert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    if not cn:
        return None
    return {"username": cn, "uid": "", "groups": with_authenticated(orgs), "extra": {}}


class Authenticator:
    def __init__(self, store, signer, admin_token):
        self.store, self.signer, self.admin_token = store, signer, admin_token
        self.admin = {"username": "kubesim-admin", "uid": "", "groups": ["system:masters", "system:authenticated"],
                      "extra": {}}

    def authenticate(self, authorization, cert, warnings=None):
        """authorization: the raw header or None; cert: user from the TLS client cert or None.
        Warning texts for the response are appended to warnings."""
        if cert is not None:
            return cert
        if authorization is None:
            return ANONYMOUS
        scheme, _, tok = authorization.strip().partition(" ")
        tok = tok.strip()
        if scheme.lower() != "bearer" or not tok:
            raise errors.unauthorized()
        try:
            return self.token_user(tok, warnings=warnings)[0]
        except TokenInvalid:
            raise errors.unauthorized()

    def token_user(self, tok, audiences=None, warnings=None):
        """Returns (user, audiences) or raises TokenInvalid(reason)."""
        if tokens.constant_eq(tok, self.admin_token):
            return self.admin, list(audiences or tokens.API_AUDIENCES)
        claims = self.signer.verify(tok)
        if claims is None:
            raise TokenInvalid("invalid bearer token")
        if claims.get("iss") == tokens.LEGACY_ISSUER:
            return self._legacy(tok, claims, warnings), list(audiences or tokens.API_AUDIENCES)
        if claims.get("iss") == tokens.ISSUER:
            return self._bound(claims, audiences)
        raise TokenInvalid("invalid bearer token")

    def _legacy(self, tok, c, warnings=None):
        # pkg/serviceaccount/legacy.go, with --service-account-lookup=true
        for claim, what in (("sub", "sub"), ("kubernetes.io/serviceaccount/namespace", "namespace"),
                            ("kubernetes.io/serviceaccount/secret.name", "secretName"),
                            ("kubernetes.io/serviceaccount/service-account.name", "serviceAccountName"),
                            ("kubernetes.io/serviceaccount/service-account.uid", "serviceAccountUID")):
            if not c.get(claim):
                raise TokenInvalid("%s claim is missing" % what)
        ns = c["kubernetes.io/serviceaccount/namespace"]
        sa_name = c["kubernetes.io/serviceaccount/service-account.name"]
        if c["sub"] != "system:serviceaccount:%s:%s" % (ns, sa_name):
            raise TokenInvalid("sub claim is invalid")
        secret = self.store.get(_SECRET, ns, c["kubernetes.io/serviceaccount/secret.name"])
        if secret is None or secret["metadata"].get("deletionTimestamp"):
            raise TokenInvalid("Token has been invalidated")
        stored = (secret.get("data") or {}).get("token", "")
        try:
            stored = base64.b64decode(stored).decode()
        except (ValueError, UnicodeDecodeError):
            stored = ""
        if not tokens.constant_eq(stored, tok):
            raise TokenInvalid("Token does not match server's copy")
        sa = self.store.get(_SA, ns, sa_name)
        if sa is None:
            raise TokenInvalid('serviceaccounts "%s" not found' % sa_name)
        if sa["metadata"].get("deletionTimestamp"):
            raise TokenInvalid("ServiceAccount %s/%s has been deleted" % (ns, sa_name))
        claim_uid = c["kubernetes.io/serviceaccount/service-account.uid"]
        if sa["metadata"]["uid"] != claim_uid:
            raise TokenInvalid("ServiceAccount UID (%s) does not match claim (%s)" % (sa["metadata"]["uid"], claim_uid))
        labels = secret["metadata"].get("labels") or {}
        if INVALID_SINCE in labels:
            raise TokenInvalid("the token in secret %s/%s for service account %s/%s has been marked invalid. Use tokens "
                               "from the TokenRequest API or manually created secret-based tokens, or remove the "
                               "'%s' label from the secret to temporarily allow use of this token"
                               % (ns, secret["metadata"]["name"], ns, sa_name, INVALID_SINCE))
        # LegacyServiceAccountTokenTracking (GA 1.28): a last-used label, written at most once a day
        today = time.strftime("%Y-%m-%d", time.gmtime())
        if labels.get(LAST_USED) != today:
            self._mark_used(secret, today)
        if warnings is not None and any(isinstance(r, dict) and r.get("name") == secret["metadata"]["name"]
                                        for r in sa.get("secrets") or []):
            warnings.append(AUTO_TOKEN_WARNING)
        return sa_user(ns, sa_name, claim_uid)

    def _mark_used(self, secret, today):
        new = copy.deepcopy(secret)
        new["metadata"].setdefault("labels", {})[LAST_USED] = today
        fields.track_update(secret, new, "kube-apiserver", "v1", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        try:
            self.store.update(_SECRET, new, expect_rv=secret["metadata"]["resourceVersion"])
        except errors.APIError:
            pass  # a concurrent write: the next use retries

    def _bound(self, c, audiences):
        want = audiences or tokens.API_AUDIENCES
        aud = c.get("aud") or []
        if isinstance(aud, str):
            aud = [aud]
        matched = [a for a in want if a in aud]
        if not matched:
            raise TokenInvalid("token audiences %s is invalid for the target audiences %s" % (aud, want))
        now = time.time()
        if "exp" in c and now > c["exp"] + LEEWAY:
            raise TokenInvalid("service account token has expired")
        if "nbf" in c and now < c["nbf"] - LEEWAY:
            raise TokenInvalid("service account token is not valid yet")
        k = c.get("kubernetes.io") or {}
        ns = k.get("namespace")
        sa_ref = k.get("serviceaccount") or {}
        sa = self.store.get(_SA, ns, sa_ref.get("name", "")) if ns else None
        if sa is None or sa["metadata"].get("deletionTimestamp"):
            raise TokenInvalid("service account %s/%s has been deleted" % (ns, sa_ref.get("name")))
        if sa["metadata"]["uid"] != sa_ref.get("uid"):
            raise TokenInvalid("service account UID (%s) does not match claim (%s)" % (sa["metadata"]["uid"], sa_ref.get("uid")))
        extra = {}
        for kind, res in (("pod", _POD), ("secret", _SECRET)):
            ref = k.get(kind)
            if ref:
                obj = self.store.get(res, ns, ref.get("name", ""))
                if obj is None or obj["metadata"].get("deletionTimestamp"):
                    raise TokenInvalid("service account token has been invalidated")
                if obj["metadata"]["uid"] != ref.get("uid"):
                    raise TokenInvalid("%s UID (%s) does not match service account %s ref claim (%s)"
                                       % (kind, obj["metadata"]["uid"], kind, ref.get("uid")))
                if kind == "pod":
                    extra["authentication.kubernetes.io/pod-name"] = [ref["name"]]
                    extra["authentication.kubernetes.io/pod-uid"] = [ref["uid"]]
        if c.get("jti"):
            extra["authentication.kubernetes.io/credential-id"] = ["JTI=" + c["jti"]]
        return sa_user(ns, sa_ref["name"], sa_ref["uid"], extra), matched


def impersonation_requests(headers):
    """Parse Impersonate-* headers: (user, uid, groups, extra) or None when absent."""
    names = [k for k in headers.keys_lower() if k.startswith("impersonate-")] \
        if hasattr(headers, "keys_lower") else [k.lower() for k, _ in headers.items() if k.lower().startswith("impersonate-")]
    if not names:
        return None
    user = headers.get("Impersonate-User")
    uid = headers.get("Impersonate-Uid")
    groups = list(headers.get_all("Impersonate-Group") or [])
    extra = {}
    for k, v in headers.items():
        lk = k.lower()
        if lk.startswith("impersonate-extra-"):
            key = urllib.parse.unquote(lk[len("impersonate-extra-"):])
            extra.setdefault(key, []).append(v)
    if user is None and uid is None and not groups and not extra:
        return None
    return user, uid, groups, extra


def impersonate(real, req, authorize, uri):
    """Authorize each impersonated attribute for the real user (verb impersonate); returns the new user."""
    user, uid, groups, extra = req
    if user is None:
        what = []
        if groups:
            what.append("groups=%s" % groups)
        if uid is not None:
            what.append("uid=%s" % uid)
        if extra:
            what.append("userExtra=%s" % extra)
        raise errors.APIError(500, "", "", text='Internal Server Error: "%s": requested %s without impersonating a user'
                              % (uri, " ".join(what)))
    checks = []
    sa = split_sa(user)
    if sa:
        checks.append({"verb": "impersonate", "api_group": "", "resource": "serviceaccounts", "subresource": "",
                       "name": sa[1], "namespace": sa[0], "path": ""})
    else:
        checks.append({"verb": "impersonate", "api_group": "", "resource": "users", "subresource": "",
                       "name": user, "namespace": "", "path": ""})
    for g in groups:
        checks.append({"verb": "impersonate", "api_group": "", "resource": "groups", "subresource": "",
                       "name": g, "namespace": "", "path": ""})
    for k, vs in extra.items():
        for v in vs:
            checks.append({"verb": "impersonate", "api_group": "authentication.k8s.io", "resource": "userextras",
                           "subresource": k, "name": v, "namespace": "", "path": ""})
    if uid is not None:
        checks.append({"verb": "impersonate", "api_group": "authentication.k8s.io", "resource": "uids",
                       "subresource": "", "name": uid, "namespace": "", "path": ""})
    for attrs in checks:
        authorize(real, attrs)  # raises 403
    if groups:
        new_groups = list(groups)
        if user == "system:anonymous":
            if "system:unauthenticated" not in new_groups:
                new_groups.append("system:unauthenticated")
        elif "system:authenticated" not in new_groups and "system:unauthenticated" not in new_groups:
            new_groups.append("system:authenticated")
    elif sa:
        new_groups = ["system:serviceaccounts", "system:serviceaccounts:" + sa[0], "system:authenticated"]
    elif user == "system:anonymous":
        new_groups = ["system:unauthenticated"]
    else:
        new_groups = ["system:authenticated"]
    return {"username": user, "uid": uid or "", "groups": new_groups, "extra": extra}
