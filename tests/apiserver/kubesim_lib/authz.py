"""Glue between the request pipeline and rbac.py (written to its contract)."""
from . import errors as E
from . import rbac
from .resources import BY_KIND


class Authorizer:
    def __init__(self, store):
        self.store = store

    def lookup(self, kind, namespace=None):
        res = BY_KIND[kind]
        items, _ = self.store.list(res, namespace if res.namespaced else None)
        return items

    def allowed(self, user, attrs):
        return rbac.authorize(user, attrs, self.lookup)

    def require(self, user, attrs):
        """Raise the real 403 unless user may do attrs."""
        ok, reason = rbac.authorize(user, attrs, self.lookup)
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
