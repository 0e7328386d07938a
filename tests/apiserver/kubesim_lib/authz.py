"""Glue between the request pipeline and rbac.py (written to its contract).

Decisions are cached per (user, attributes) and the cache is dropped on every write of an
RBAC object, so a hot loop of identical requests does not re-walk every binding.
"""
from . import errors as E
from . import rbac
from .resources import BY_KIND

RBAC_GROUP = "rbac.authorization.k8s.io"
_MAX_CACHE = 50000


class Authorizer:
    def __init__(self, store):
        self.store = store
        self._cache = {}
        self._gen = 0
        store.listeners.append(self._on_event)

    def _on_event(self, ev):
        if ev.resource.group == RBAC_GROUP:
            self._gen += 1
            self._cache = {}

    def lookup(self, kind, namespace=None):
        res = BY_KIND[kind]
        items, _ = self.store.list(res, namespace if res.namespaced else None)
        return items

    def allowed(self, user, attrs):
        key = (user["username"], tuple(user.get("groups") or ()), attrs.get("verb"), attrs.get("api_group"),
               attrs.get("resource"), attrs.get("subresource"), attrs.get("name"), attrs.get("namespace"),
               attrs.get("path"))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        gen = self._gen
        hit = rbac.authorize(user, attrs, self.lookup)
        if gen == self._gen:  # no RBAC write happened while we evaluated
            if len(self._cache) >= _MAX_CACHE:
                self._cache = {}
            self._cache[key] = hit
        return hit

    def require(self, user, attrs):
        """Raise the real 403 unless user may do attrs."""
        ok, reason = self.allowed(user, attrs)
        if not ok:
            raise self.forbidden(user, attrs, reason)

    def forbidden(self, user, attrs, reason=""):
        st = rbac.forbidden_status(user, attrs, reason)
        return E.APIError(403, "Forbidden", st["message"], st.get("details"))

    def check_escalation(self, user, obj, old=None):
        err = rbac.check_escalation(user, obj, self.lookup, old)
        if err is not None:
            st = err.status()
            raise E.APIError(st["code"], st.get("reason", ""), st["message"], st.get("details"))

    def rules_review(self, user, namespace):
        return rbac.rules_review(user, namespace, self.lookup)

    @staticmethod
    def default_objects():
        return rbac.default_objects()
