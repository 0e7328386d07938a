"""Service-account JWTs: signing (RS256, kid = hash of the public key) and verification.

RSA-2048 generation takes 0.1-0.5 s, so it runs in a background thread started first
thing; the first signature or verification waits for it.
"""
import base64
import hashlib
import hmac
import json
import threading
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

LEGACY_ISSUER = "kubernetes/serviceaccount"
ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = [ISSUER]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode())


class Signer:
    def __init__(self):
        self._key = None
        self._ready = threading.Event()
        threading.Thread(target=self._generate, name="rsa-keygen", daemon=True).start()
        self._verified = {}  # token -> claims; signature checks are cached, claims never are
        self._lock = threading.Lock()

    def _generate(self):
        self._key = rsa.generate_private_key(65537, 2048)
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = b64url(hashlib.sha256(der).digest())
        self._ready.set()

    @property
    def key(self):
        self._ready.wait()
        return self._key

    def public_pem(self):
        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims):
        key = self.key
        header = {"alg": "RS256", "kid": self.kid}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)

    def verify(self, token):
        """Returns the claims dict if the token is a JWT signed by us, else None."""
        with self._lock:
            hit = self._verified.get(token)
        if hit is not None:
            return hit
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(b64url_decode(parts[0]))
            if header.get("alg") != "RS256":
                return None
            self.key.public_key().verify(b64url_decode(parts[2]), (parts[0] + "." + parts[1]).encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(b64url_decode(parts[1]))
        except (ValueError, InvalidSignature, TypeError, UnicodeDecodeError):
            return None
        if not isinstance(claims, dict):
            return None
        with self._lock:
            if len(self._verified) > 10000:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    # ---- the two token flavours ----
    def legacy_token(self, ns, sa_name, sa_uid, secret_name):
        return self.sign({
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": ns,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": sa_name,
            "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
            "sub": "system:serviceaccount:%s:%s" % (ns, sa_name),
        })

    def bound_token(self, ns, sa_name, sa_uid, audiences, seconds, bound=None, jti=None):
        now = int(time.time())
        k8s = {"namespace": ns, "serviceaccount": {"name": sa_name, "uid": sa_uid}}
        if bound:
            k8s.update(bound)  # {"pod": {name, uid}} or {"secret": {name, uid}}
        claims = {"aud": audiences, "exp": now + seconds, "iat": now, "iss": ISSUER}
        if jti:
            claims["jti"] = jti
        claims.update({"kubernetes.io": k8s, "nbf": now, "sub": "system:serviceaccount:%s:%s" % (ns, sa_name)})
        return self.sign(claims), now + seconds


def constant_eq(a, b):
    return hmac.compare_digest(a.encode(), b.encode())
