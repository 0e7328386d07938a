"""HTTP(S) front end: connection handling, request pipeline, routing, watch streaming.

Pipeline order follows kube-apiserver: authentication (401), impersonation (403), injected
faults where APF would throttle (429/5xx/drops/latency), authorization (403), then the
handler (400/404/409/422...).
"""
import base64
import copy
import email.utils
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import errors as E
from . import authn as A
from .api import Query, dry_run
from .resources import lookup as lookup_resource
from .selectors import name_from_fields
from . import patch as P
from . import shapes
from . import tables, watch
from .watch import Stream

try:  # written concurrently by another engineer; only the protobuf-speaking kubectl commands need it
    from . import protobuf
except ImportError:  # pragma: no cover
    protobuf = None

JSON = "application/json"
PB = "application/vnd.kubernetes.protobuf"
MAX_BODY = 3 * 1024 * 1024
EMPTY_QUERY = Query({})
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "4cb5f07",
           "gitTreeState": "clean", "buildDate": "2025-04-22T16:03:08Z", "goVersion": "go1.23.8",
           "compiler": "gc", "platform": "linux/amd64"}
VERSION_B = json.dumps(VERSION, indent=2).encode()
HEALTH_CHECKS = ["ping", "log", "etcd", "poststarthook/start-apiextensions-informers",
                 "poststarthook/rbac/bootstrap-roles", "poststarthook/bootstrap-controller"]
NS_SUBRESOURCES = ("status", "finalize")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _warning_headers(warnings):
    """Warning: 299 - "text" headers (http.client-style dict: one header, comma-joined, is what Go accepts too)."""
    if not warnings:
        return None
    return {"Warning": ", ".join('299 - "%s"' % w.replace('"', '\\"') for w in warnings)}


def _enc(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Response:
    __slots__ = ("code", "ctype", "body", "headers")

    def __init__(self, code, body, ctype=JSON, headers=None):
        self.code, self.ctype, self.headers = code, ctype, headers
        self.body = body if isinstance(body, bytes) else _enc(body)


class Request:
    """What the pipeline learned about one request (also what gets logged)."""
    __slots__ = ("method", "path", "query", "raw_query", "headers", "body", "user", "real_user", "verb",
                 "fault", "parsed_body", "resource", "warnings", "conn")

    def __init__(self, method, path, raw_query, headers, body):
        self.method, self.path, self.raw_query, self.headers, self.body = method, path, raw_query, headers, body
        self.query = Query(urllib.parse.parse_qs(raw_query, keep_blank_values=True)) if raw_query else EMPTY_QUERY
        self.user = self.real_user = None
        self.verb = method.lower()
        self.fault = None
        self.parsed_body = None
        self.resource = None
        self.warnings = []
        self.conn = None  # the client's socket (a watch checks it while idle)


class App:
    def __init__(self, store, api, authn, authz, reviews, discovery, faults, signer, log_path,
                 bookmark_interval=1.0):
        self.store, self.api, self.authn, self.authz = store, api, authn, authz
        self.reviews, self.discovery, self.faults, self.signer = reviews, discovery, faults, signer
        self.bookmark_interval = bookmark_interval
        # one O_APPEND write per line: no buffering, and lines never interleave
        self._log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log_path else None
        self._log_lock = threading.Lock()
        self.stopping = threading.Event()

    # ---- logging ----
    def log(self, req, status, started):
        if self._log is None:
            return
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(started)) + ".%03dZ" % int(started % 1 * 1000),
                 "user": req.user["username"] if req.user else None}
        if req.real_user and req.user is not req.real_user:
            entry["impersonated_by"] = req.real_user["username"]
        entry.update({"verb": req.verb, "method": req.method, "path": req.path, "query": req.raw_query,
                      "status": status, "latency_ms": round((time.time() - started) * 1000, 3),
                      "user_agent": req.headers.get("User-Agent", "")})
        if req.method in WRITE_METHODS and req.body:
            entry["content_type"] = req.headers.get("Content-Type", "")
            entry["body"] = self._loggable_body(req)
        if req.fault:
            entry["fault"] = req.fault
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._log_lock:
            if self._log is not None:
                os.write(self._log, line)

    def _loggable_body(self, req):
        body = req.parsed_body
        res = req.resource
        secret = res is not None and res.plural == "secrets"
        if body is None:
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError:
                return "<masked binary>" if secret else {"base64": base64.b64encode(req.body).decode()}
            try:
                body = json.loads(text)
            except ValueError:
                if not secret:
                    return text
                import yaml  # an apply body of a Secret: parse it to mask it
                try:
                    body = yaml.safe_load(text)
                except yaml.YAMLError:
                    return "<masked>"
        # never log credentials: Secret data (in any patch shape) and TokenReview tokens are masked
        if secret:
            if isinstance(body, dict):
                body = dict(body)
                for k in ("data", "stringData"):
                    if isinstance(body.get(k), dict):
                        body[k] = {dk: "<masked>" for dk in body[k]}
            elif isinstance(body, list):  # JSON patch operations
                body = [dict(op, value="<masked>") if isinstance(op, dict) and "value" in op else op for op in body]
            else:
                body = "<masked>"
        elif res is not None and res.plural == "tokenreviews" and isinstance(body, dict) \
                and isinstance(body.get("spec"), dict):
            body = dict(body, spec=dict(body["spec"], token="<masked>"))
        return body

    def close(self):
        with self._log_lock:
            if self._log is not None:
                os.close(self._log)
                self._log = None

    # ---- the pipeline ----
    def handle(self, req, cert_user):
        path = req.path
        if path == "/version" or path == "/version/":
            req.user = req.real_user = self.authn.authenticate(req.headers.get("Authorization"), cert_user)
            return Response(200, VERSION_B)
        user = self.authn.authenticate(req.headers.get("Authorization"), cert_user, req.warnings)
        req.user = req.real_user = user
        imp = A.impersonation_requests(req.headers)
        if imp is not None:
            req.user = A.impersonate(user, imp, self.authz.require, req.path + ("?" + req.raw_query if req.raw_query else ""))
        if self.faults.active and not path.startswith("/kubesim/"):
            latency, kind = self.faults.draw()
            if latency:
                time.sleep(latency)
            if kind:
                req.fault = kind
                if kind == "429":
                    raise E.too_many_requests()
                if kind == "500":
                    raise E.internal("injected fault (kubesim)")
                if kind == "503":
                    raise E.service_unavailable("the server is currently unable to handle the request")
        if path.startswith("/kubesim/"):
            return self.admin(req)
        info = self.request_info(req)
        if info is None:
            attrs = {"verb": req.verb, "api_group": "", "resource": "", "subresource": "", "name": "",
                     "namespace": "", "path": path}
            self.authz.require(req.user, attrs)
            return self.non_resource(req)
        group, version, resource, ns, name, sub = info
        attrs = {"verb": req.verb, "api_group": group, "resource": resource, "subresource": sub,
                 "name": name, "namespace": ns, "path": path}
        if req.verb in ("list", "watch") and not name:
            attrs["name"] = name_from_fields(req.query.get("fieldSelector"))
        self.authz.require(req.user, attrs)
        return self.resource_request(req, group, version, resource, ns, name, sub)

    def request_info(self, req):
        """RequestInfoFactory: (group, version, resource, namespace, name, subresource) or None."""
        parts = [p for p in req.path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        ns = ""
        if rest[0] == "namespaces" and len(rest) > 1:
            ns = rest[1]
            if len(rest) > 2 and rest[2] not in NS_SUBRESOURCES:
                rest = rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if len(rest) > 3:
            sub = "/".join(rest[2:])  # unknown deeper paths: 404 later
        m = req.method
        if m == "GET" or m == "HEAD":
            if name:
                req.verb = "get"
            else:
                req.verb = "watch" if req.query.get("watch") in ("1", "true", "True") else "list"
        elif m == "POST":
            req.verb = "create"
        elif m == "PUT":
            req.verb = "update"
        elif m == "PATCH":
            req.verb = "patch"
        elif m == "DELETE":
            req.verb = "delete" if name else "deletecollection"
        return group, version, resource, ns, name, sub

    # ---- body decoding ----
    def decode_body(self, req):
        if not req.body:
            return None
        ctype = (req.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        if ctype == PB:
            if protobuf is None:
                raise E.unsupported_media("the body of the request was in an unknown format - accepted media types "
                                          "include: application/json, application/yaml")
            try:
                body = protobuf.decode(req.body)
            except ValueError as e:
                raise E.bad_request("the object provided is unrecognized: %s" % e)
        elif ctype in ("application/yaml", "application/apply-patch+yaml"):
            import yaml
            try:
                body = yaml.safe_load(req.body.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise E.bad_request("error decoding YAML: %s" % str(e).splitlines()[0])
        else:
            try:
                body = json.loads(req.body)
            except (ValueError, UnicodeDecodeError) as e:
                raise E.bad_request("couldn't get version/kind; json parse error: %s" % e)
        req.parsed_body = body
        return body

    def _owned_body(self, req):
        """The decoded body, and whether the handler may change it in place: a JSON body can be
        re-read from the raw bytes for the log, a protobuf one cannot."""
        body = self.decode_body(req)
        ctype = (req.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        if ctype == PB:
            return body, False
        req.parsed_body = None
        return body, True

    # ---- non-resource endpoints ----
    def non_resource(self, req):
        path = req.path.rstrip("/") or "/"
        accept = req.headers.get("Accept", "")
        d = self.discovery
        if req.method != "GET":
            if path in ("/api", "/apis") or path.startswith("/api/") or path.startswith("/apis/"):
                raise E.method_not_allowed(req.method, "", "")
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if path == "/api":
            agg = d.aggregated_type(accept)
            return Response(200, d.api_agg_b[agg], agg) if agg else Response(200, d.api_legacy)
        if path == "/apis":
            agg = d.aggregated_type(accept)
            return Response(200, d.apis_agg_b[agg], agg) if agg else Response(200, d.apis_legacy)
        if path == "/api/v1":
            return Response(200, d.resource_lists["v1"])
        if path.startswith("/apis/"):
            rest = path[len("/apis/"):]
            if rest in d.resource_lists:
                return Response(200, d.resource_lists[rest])
            if rest in d.groups:
                return Response(200, d.groups[rest])
            raise E.not_found_path()
        if path.startswith("/api/"):
            raise E.not_found_path()
        if path in ("/healthz", "/livez", "/readyz") or path.split("/")[1] in ("healthz", "livez", "readyz"):
            base = path.split("/")[1]
            if "verbose" in req.query:
                lines = "".join("[+]%s ok\n" % c for c in HEALTH_CHECKS)
                return Response(200, (lines + "%s check passed\n" % base).encode(), "text/plain; charset=utf-8")
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/openapi/v3":
            return Response(200, d.openapi.index, headers={"Cache-Control": "no-cache, private"})
        if path in d.openapi.docs:
            doc, h = d.openapi.docs[path]
            hdrs = None
            if req.query.get("hash") == h:
                hdrs = {"Cache-Control": "public, immutable", "Etag": '"%s"' % h,
                        "Expires": email.utils.formatdate(time.time() + 365 * 86400, usegmt=True)}
            return Response(200, doc, headers=hdrs)
        if path.startswith("/openapi/"):
            raise E.not_found_path()  # /openapi/v2 included: kubectl falls back to compiled-in types
        if path == "/.well-known/openid-configuration":
            return Response(200, {"issuer": "https://kubernetes.default.svc.cluster.local",
                                  "jwks_uri": "https://127.0.0.1/openid/v1/jwks", "response_types_supported": ["id_token"],
                                  "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]})
        if path == "/openid/v1/jwks":
            return Response(200, {"keys": [self._jwk()]}, "application/jwk-set+json")
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _jwk(self):
        from .tokens import b64url
        pub = self.signer.key.public_key().public_numbers()
        n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
        return {"use": "sig", "kty": "RSA", "kid": self.signer.kid, "alg": "RS256", "n": b64url(n), "e": b64url(e)}

    # ---- /kubesim/ admin endpoints ----
    def admin(self, req):
        if "system:masters" not in req.user["groups"]:
            raise E.forbidden("", "", "", 'User "%s" cannot %s path "%s"' % (req.user["username"], req.verb, req.path))
        if req.path == "/kubesim/faults":
            if req.method == "GET":
                return Response(200, self.faults.describe())
            if req.method in ("POST", "PUT"):
                body = self.decode_body(req)
                spec = body.get("spec", "") if isinstance(body, dict) and "spec" in body else body
                try:
                    self.faults.configure(spec or "")
                except (ValueError, TypeError) as e:
                    raise E.bad_request(str(e))
                return Response(200, self.faults.describe())
            raise E.method_not_allowed(req.method, "", "")
        return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # ---- resources ----
    def resource_request(self, req, group, version, plural, ns, name, sub):
        gv = group + "/" + version if group else version
        res = lookup_resource(gv, plural)
        if res is None or "/" in sub:
            raise E.not_found_path()
        req.resource = res
        if not res.namespaced and ns and plural != "namespaces":
            raise E.not_found_path()
        if res.namespaced and not ns and req.verb not in ("list", "watch"):
            raise E.not_found_path()
        if plural == "namespaces":
            ns = ""
        verb, api, q = req.verb, self.api, req.query
        ua = req.headers.get("User-Agent", "")
        accept = req.headers.get("Accept", "")
        if not res.stored:
            if verb != "create":
                raise E.method_not_allowed(req.method, res.plural, res.group)
            body = self.decode_body(req)
            dry_run(q)
            return Response(201, self.reviews.handle(res, ns, body, req.user))
        if sub:
            return self.subresource(req, res, ns, name, sub)
        if verb == "get":
            obj = api.get(res, ns, name)
            if tables.wants_table(accept):
                return Response(200, tables.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                                  q.get("includeObject", "Metadata")), tables.TABLE_CT)
            return Response(200, obj)
        if verb == "list":
            out = api.list(res, ns, q)
            if tables.wants_table(accept):
                return Response(200, tables.table(res, out["items"], out["metadata"], q.get("includeObject", "Metadata")),
                                tables.TABLE_CT)
            return Response(200, out)
        if verb == "watch":
            return self.watch(req, res, ns)
        warnings = []
        if verb == "create":
            if name:
                raise E.APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                                 {"name": name, "group": res.group, "kind": res.plural} if res.group else
                                 {"name": name, "kind": res.plural})
            body, owned = self._owned_body(req)
            out = api.create(res, ns, body, q, req.user, ua, warnings, owned)
            return Response(201, out, headers=_warning_headers(warnings))
        if verb == "update":
            body, owned = self._owned_body(req)
            out = api.update(res, ns, name, body, q, req.user, ua, warnings, owned)
            return Response(200, out, headers=_warning_headers(warnings))
        if verb == "patch":
            req.parsed_body = None
            before = self.store.get(res, ns, name)
            out = api.patch(res, ns, name, req.headers.get("Content-Type"), req.body or b"", q, req.user, ua, warnings)
            return Response(201 if before is None else 200, out, headers=_warning_headers(warnings))
        if verb == "delete":
            opts = self.decode_body(req) if req.body else None
            if opts is not None:
                shapes.check("DeleteOptions", "meta.k8s.io/v1", opts)
            return Response(200, api.delete(res, ns, name, opts, q))
        if verb == "deletecollection":
            if "deletecollection" not in res.verbs:
                raise E.method_not_allowed("deletecollection", res.plural, res.group)
            return Response(200, api.delete_collection(res, ns, q, self.decode_body(req) if req.body else None))
        raise E.method_not_allowed(req.method, res.plural, res.group)

    def subresource(self, req, res, ns, name, sub):
        api, q, verb = self.api, req.query, req.verb
        if res.plural == "serviceaccounts" and sub == "token":
            if verb != "create":
                raise E.method_not_allowed(req.method, "serviceaccounts/token", "")
            body = self.decode_body(req)
            return Response(201, self.reviews.token_request(ns, name, body, dry=dry_run(q)))
        if sub == "status" and any(s[0] == "status" for s in res.subresources):
            if verb == "get":
                return Response(200, api.get(res, ns, name))
            if verb == "update":
                return Response(200, api.update_status(res, ns, name, self.decode_body(req) or {}, q))
            if verb == "patch":
                # patch a copy of the object, then keep only its status
                old = api.get(res, ns, name)
                try:
                    patch = json.loads(req.body or b"{}")
                    ct = (req.headers.get("Content-Type") or "").split(";")[0]
                    if ct == "application/json-patch+json":
                        new = P.json_patch(old, patch)
                    elif ct == "application/merge-patch+json":
                        new = P.merge_patch(old, patch)
                    else:
                        new = P.strategic_merge(old, patch)
                except (ValueError, P.PatchError) as e:
                    raise E.bad_request(str(e))
                if not isinstance(new, dict):
                    raise E.bad_request("the patch did not produce an object")
                return Response(200, api.update_status(res, ns, name, {"status": new.get("status") or {}}, q))
        if res.plural == "namespaces" and sub == "finalize" and verb == "update":
            body = self.decode_body(req) or {}
            shapes.check("Namespace", "v1", body)
            old = api.get(res, "", name)
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = list(((body.get("spec") or {}).get("finalizers")) or [])
            if dry_run(q):
                return Response(200, new)
            out = self.store.update(res, new, expect_rv=old["metadata"]["resourceVersion"])
            if out["metadata"].get("deletionTimestamp") and not out["spec"]["finalizers"]:
                # the well-known "force remove a stuck namespace" path: it goes now, and whatever
                # content is left stays behind unseen, as in etcd
                self.store.delete(res, "", name, expect_uid=out["metadata"]["uid"])
            return Response(200, out)
        if res.plural == "deployments" and sub == "scale":
            obj = api.get(res, ns, name)
            if verb in ("update", "patch"):
                try:
                    body = self.decode_body(req) if verb == "update" else json.loads(req.body or b"{}")
                except ValueError as e:
                    raise E.bad_request(str(e))
                shapes.check("Scale", "autoscaling/v1", body)
                replicas = ((body or {}).get("spec") or {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    raise E.invalid("Scale", "autoscaling", name, [E.invalid_value("spec.replicas", replicas,
                                                                                    "must be greater than or equal to 0")])
                new = copy.deepcopy(obj)
                new["spec"]["replicas"] = replicas
                new["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                if not dry_run(q):
                    obj = self.store.update(res, new, expect_rv=obj["metadata"]["resourceVersion"])
                else:
                    obj = new
            elif verb != "get":
                raise E.method_not_allowed(req.method, "deployments/scale", "apps")
            sel = ",".join("%s=%s" % kv for kv in sorted(((obj["spec"].get("selector") or {}).get("matchLabels") or {}).items()))
            md = {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")}
            return Response(200, {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": md,
                                  "spec": {"replicas": obj["spec"].get("replicas", 0)},
                                  "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": sel}})
        raise E.not_found_path()

    # ---- watch ----
    def watch(self, req, res, ns):
        return watch.stream(self.store, req.query, req.headers.get("Accept", ""), res, ns,
                            self.bookmark_interval, self.stopping, req.conn)


class Headers:
    """Case-insensitive request headers with the email.message API subset we use (get, get_all,
    items). http.server's own parser goes through the email package and costs ~50 us a request."""
    __slots__ = ("_items", "_index")

    def __init__(self):
        self._items = []
        self._index = {}

    def add(self, name, value):
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def get(self, name, default=None):
        v = self._index.get(name.lower())
        return v[0] if v else default

    __getitem__ = get

    def get_all(self, name, default=None):
        return self._index.get(name.lower(), default)

    def items(self):
        return list(self._items)

    def __contains__(self, name):
        return name.lower() in self._index

    def keys_lower(self):
        return self._index.keys()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    sys_version = ""
    timeout = 600  # idle keep-alive connections are closed after this
    rbufsize = 64 * 1024

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            self.cert_user = A.cert_user(self.connection.getpeercert())
        except (AttributeError, ValueError):
            self.cert_user = None

    def log_message(self, fmt, *args):  # requests.jsonl is the log
        pass

    def parse_request(self):
        """Request line and headers, like BaseHTTPRequestHandler.parse_request but without the
        email parser (see Headers)."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, "Bad request syntax (%r)" % requestline)
            return False
        command, path, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(505, "Invalid HTTP version (%s)" % version)
            return False
        self.command, self.path, self.request_version = command, path, version
        headers = Headers()
        for _ in range(200):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep:
                self.send_error(400, "Bad header line")
                return False
            headers.add(name.strip(), value.strip())
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers
        conn = (headers.get("Connection") or "").lower()
        self.close_connection = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
        if version == "HTTP/1.1" and (headers.get("Expect") or "").lower() == "100-continue":
            if not self.handle_expect_100():
                return False
        return True

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise E.APIError(413, "RequestEntityTooLarge", "request entity too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise E.APIError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        app = self.server.app
        started = time.time()
        path, _, raw_query = self.path.partition("?")
        req = Request(self.command, path, raw_query, self.headers, b"")
        req.conn = self.connection
        try:
            req.body = self._read_body()
            resp = app.handle(req, self.cert_user)
        except E.APIError as e:
            if e.text is not None:
                resp = Response(e.code, e.text.encode(), "text/plain; charset=utf-8")
            else:
                resp = Response(e.code, e.status(), headers=e.headers)
        except Exception as e:  # a bug must answer 500, not kill the connection thread silently
            import traceback
            traceback.print_exc()
            resp = Response(500, E.internal(repr(e)).status())
        if req.warnings and not isinstance(resp, Stream):
            w = _warning_headers(req.warnings)["Warning"]
            h = dict(resp.headers or {})
            h["Warning"] = h["Warning"] + ", " + w if "Warning" in h else w
            resp.headers = h
        if isinstance(resp, Stream):
            self._stream(resp, drop=req.fault == "drop")
            app.log(req, resp.code, started)  # a watch is logged when it ends
        else:
            # logged before the answer goes out: a client that got its response finds the line
            app.log(req, resp.code, started)
            self._send(resp, drop=req.fault == "drop")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _head(self, code, ctype, extra):
        h = ["HTTP/1.1 %d %s\r\n" % (code, self.responses.get(code, ("",))[0]),
             "Audit-Id: %s\r\n" % uuid.uuid4(),
             "Cache-Control: no-cache, private\r\n",
             "Content-Type: %s\r\n" % ctype,
             "Date: %s\r\n" % email.utils.formatdate(usegmt=True)]
        if extra:
            for k, v in extra.items():
                if k == "Cache-Control":
                    h[2] = "Cache-Control: %s\r\n" % v
                else:
                    h.append("%s: %s\r\n" % (k, v))
        return h

    def _send(self, resp, drop=False):
        h = self._head(resp.code, resp.ctype, resp.headers)
        body = resp.body if self.command != "HEAD" else b""
        h.append("Content-Length: %d\r\n\r\n" % len(resp.body))
        data = "".join(h).encode("latin-1") + body
        if drop:
            # a connection dropped mid-response: half the bytes, then a hard close
            self.wfile.write(data[:len(data) - max(1, len(body) // 2)])
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(data)

    def _stream(self, resp, drop=False):
        h = self._head(200, resp.ctype, None)
        h.append("Transfer-Encoding: chunked\r\n\r\n")
        try:
            self.wfile.write("".join(h).encode("latin-1"))
            for chunk in resp.gen:
                if drop:
                    # a watch cut mid-event: half of the first chunk, then a hard close
                    self.wfile.write(b"%x\r\n%s" % (len(chunk), chunk[:len(chunk) // 2]))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ValueError):
            self.close_connection = True
        finally:
            close = getattr(resp.gen, "close", None)
            if close:
                close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, app, ssl_ctx):
        self.app, self.ssl_ctx = app, ssl_ctx
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, so a slow client never blocks accept()
        request.settimeout(10)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError, ValueError):
            try:
                request.close()
            except OSError:
                pass
            return
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # client disconnects are routine
