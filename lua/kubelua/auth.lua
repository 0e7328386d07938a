-- kubelua.auth: who am I, what may I do, and tokens.
--
-- Methods added to the client: can_i, rules, whoami, token_review,
-- token_request, service_account_token. Tokens returned here are
-- registered with kubelua.log so that no verbosity level prints them.
local errors = require "kubelua.errors"
local discovery = require "kubelua.discovery"
local client = require "kubelua.client"
local log = require "kubelua.log"
local resources = require "kubelua.resources" -- get/apply/wait used below

local M = {}
local Client = client.Client

local function json() return require "kubelua.json" end
local function b64() return require "kubelua.base64" end

local qs, check_opts, set = resources.qname, resources.check_opts, resources.set

local function array(t)
  local j = json()
  return j.array and j.array(t) or t
end

local function now() return require("kubelua.async").now() end

--- can_i: seconds a service account found to exist is not looked up again
--- (per client)
M.SA_SEEN_TTL = 10

local SA_PREFIX = "system:serviceaccount:"

--- Splits "system:serviceaccount:<ns>:<name>" -> ns, name (or nil).
function M.split_sa_user(user)
  if type(user) ~= "string" or user:sub(1, #SA_PREFIX) ~= SA_PREFIX then return nil end
  local ns, name = user:sub(#SA_PREFIX + 1):match("^([^:]+):([^:]+)$")
  return ns, name
end

-- Turns the `as` option into an identity: { user, groups, uid, extra,
-- sa_namespace, sa_name }.
local function identity(as)
  if type(as) == "string" then
    if as == "" then return nil, errors.usage("can_i: as must not be empty") end
    local ns, name = M.split_sa_user(as)
    return { user = as, sa_namespace = ns, sa_name = name }
  end
  if type(as) ~= "table" then
    return nil, errors.usage("can_i: as must be a user name or a table, got " .. type(as))
  end
  local imp = {}
  for k, v in pairs(as) do
    if k ~= "serviceaccount" then imp[k] = v end
  end
  if as.serviceaccount ~= nil then imp.user = imp.user or "x" end
  local ierr = client.check_impersonation(imp, "can_i: as")
  if ierr then return nil, ierr end
  if as.serviceaccount ~= nil then
    local ns, name = tostring(as.serviceaccount):match("^([^/]+)/([^/]+)$")
    if not ns then
      return nil, errors.usage(("can_i: as.serviceaccount must be \"namespace/name\", got %s")
        :format(qs(as.serviceaccount)))
    end
    return { user = SA_PREFIX .. ns .. ":" .. name, groups = as.groups, uid = as.uid,
      extra = as.extra, sa_namespace = ns, sa_name = name }
  end
  if type(as.user) ~= "string" or as.user == "" then
    return nil, errors.usage("can_i: as needs user = \"name\" or serviceaccount = \"ns/name\"")
  end
  local ns, name = M.split_sa_user(as.user)
  return { user = as.user, groups = as.groups, uid = as.uid, extra = as.extra,
    sa_namespace = ns, sa_name = name }
end

-- The groups the API server gives an identity when none are impersonated.
local function implied_groups(id)
  if id.groups and #id.groups > 0 then
    local g = {}
    for i, v in ipairs(id.groups) do g[i] = v end
    local has = false
    for _, v in ipairs(g) do
      if v == "system:authenticated" or v == "system:unauthenticated" then has = true end
    end
    if not has then g[#g + 1] = "system:authenticated" end
    return g
  end
  if id.sa_namespace then
    return { "system:serviceaccounts", "system:serviceaccounts:" .. id.sa_namespace,
      "system:authenticated" }
  end
  return { "system:authenticated" }
end

local can_i_opts = set("namespace", "group", "subresource", "name", "as")

--- c:can_i(verb, resource, { namespace, group, subresource, name, as })
--- -> allowed (boolean), reason | nil, err.
--- resource: "pods", "deployments.apps", "pods/log", or a non-resource
--- path ("/healthz"). as: a user name, { serviceaccount = "ns/name" }
--- (checked to exist, remembered for M.SA_SEEN_TTL s per client) or { user,
--- groups, uid, extra }. Asks a
--- SelfSubjectAccessReview with impersonation headers, as kubectl does; if
--- impersonating is itself forbidden, asks a SubjectAccessReview instead
--- (needs create on subjectaccessreviews) and says so in the reason.
function Client:can_i(verb, resource, opts)
  local o, oerr = check_opts("can_i", opts, can_i_opts)
  if not o then return nil, oerr end
  if type(verb) ~= "string" or verb == "" then
    return nil, errors.usage("can_i: verb must be a non-empty string, got " .. qs(verb))
  end
  if type(resource) ~= "string" or resource == "" then
    return nil, errors.usage("can_i: resource must be a non-empty string, got " .. qs(resource))
  end
  local spec = {}
  if resource:sub(1, 1) == "/" then
    spec.nonResourceAttributes = { path = resource, verb = verb }
  else
    local res, group, sub = discovery.parse_resource(resource) -- non-empty: never nil
    group = o.group or group
    sub = o.subresource or sub
    local ns = o.namespace or self.namespace
    -- map the name to its resource and group as kubectl does; an unknown
    -- resource is still asked about (with a warning)
    local info, derr = discovery.find_resource(self, res, group)
    if info then
      res, group = info.name, info.group
      if not info.namespaced then ns = "" end
    elseif derr and not errors.is(derr, "Forbidden") then
      return nil, derr
    else
      self:_warn(("the server doesn't have a resource type %q"):format(res))
    end
    if res == "*" then ns = o.namespace or "" end
    spec.resourceAttributes = { namespace = ns, verb = verb, group = group or "",
      resource = res, subresource = sub, name = o.name }
  end
  local id
  if o.as ~= nil then
    local ierr
    id, ierr = identity(o.as)
    if not id then return nil, ierr end
    -- an account seen to exist in the last M.SA_SEEN_TTL seconds is not
    -- looked up again (a script asks several questions as the same account)
    local key = id.sa_namespace and (id.sa_namespace .. "/" .. id.sa_name)
    local seen = key and self._sa_seen and self._sa_seen[key]
    if key and not (seen and now() < seen) then
      local sa, serr = self:get("v1", "ServiceAccount", id.sa_name, { namespace = id.sa_namespace })
      if sa then
        self._sa_seen = self._sa_seen or {}
        self._sa_seen[key] = now() + M.SA_SEEN_TTL
      elseif not errors.is(serr, "Forbidden") then -- forbidden to look: ask anyway
        if errors.is(serr, "NotFound") then
          return nil, errors.usage(("can_i: serviceaccount %s/%s not found (checked before"
            .. " asking as %s)")
            :format(id.sa_namespace, id.sa_name, id.user), { code = 404, reason = "NotFound" })
        end
        return nil, serr
      end
    end
  end
  local resp, err = self:request{ method = "POST",
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body = { apiVersion = "authorization.k8s.io/v1", kind = "SelfSubjectAccessReview",
      spec = spec },
    impersonate = id and { user = id.user, groups = id.groups, uid = id.uid, extra = id.extra }
      or nil }
  local via = ""
  if not resp and id and errors.is(err, "Forbidden")
    and tostring(err.message):find("cannot impersonate", 1, true) then
    -- impersonation is forbidden to us: ask the authorizer about them directly
    local sar = { apiVersion = "authorization.k8s.io/v1", kind = "SubjectAccessReview",
      spec = { user = id.user, groups = array(implied_groups(id)), uid = id.uid,
        extra = id.extra, resourceAttributes = spec.resourceAttributes,
        nonResourceAttributes = spec.nonResourceAttributes } }
    local r2, err2 = self:request{ method = "POST",
      path = "/apis/authorization.k8s.io/v1/subjectaccessreviews", body = sar }
    if not r2 then
      return nil, errors.new("api", ("cannot check as %s: impersonation is forbidden (%s) and the "
        .. "SubjectAccessReview fallback failed: %s"):format(id.user, err.message, err2.message),
        { code = err2.code, reason = err2.reason, status = err2.status, method = "POST",
          url = err2.url })
    end
    resp = r2
    via = ("via SubjectAccessReview (impersonating %s is forbidden: %s)")
      :format(id.user, err.message)
  elseif not resp then
    return nil, err
  end
  local st = (resp.object or {}).status or {}
  local reason = st.reason ~= json().null and st.reason or nil
  if st.evaluationError and st.evaluationError ~= "" and st.evaluationError ~= json().null then
    reason = (reason and reason ~= "" and (reason .. " - ") or "") .. st.evaluationError
  end
  if via ~= "" then reason = (reason and reason ~= "") and (reason .. "; " .. via) or via end
  if reason == "" then reason = nil end
  return st.allowed == true, reason
end

--- c:rules(namespace) -> SelfSubjectRulesReview status { resourceRules,
--- nonResourceRules, incomplete, evaluationError } | nil, err
function Client:rules(namespace)
  namespace = namespace or self.namespace
  if type(namespace) ~= "string" or namespace == "" then
    return nil, errors.usage("rules: namespace must be a non-empty string")
  end
  local resp, err = self:request{ method = "POST",
    path = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
    body = { apiVersion = "authorization.k8s.io/v1", kind = "SelfSubjectRulesReview",
      spec = { namespace = namespace } } }
  if not resp then return nil, err end
  return (resp.object or {}).status or {}
end

--- c:whoami() -> userInfo { username, uid, groups, extra } | nil, err
--- (SelfSubjectReview: v1, then v1beta1 and v1alpha1 on 404, like kubectl)
function Client:whoami()
  local last
  for _, v in ipairs({ "v1", "v1beta1", "v1alpha1" }) do
    local resp, err = self:request{ method = "POST",
      path = "/apis/authentication.k8s.io/" .. v .. "/selfsubjectreviews",
      body = { apiVersion = "authentication.k8s.io/" .. v, kind = "SelfSubjectReview" } }
    if resp then return (((resp.object or {}).status or {}).userInfo) or {} end
    if not errors.is(err, "NotFound") then return nil, err end
    last = err
  end
  last.message = "the selfsubjectreviews API is not enabled in the cluster"
  return nil, last
end

--- c:token_review(token, { audiences }) -> TokenReview status
--- { authenticated, user, audiences, error } | nil, err
function Client:token_review(token, opts)
  local o, oerr = check_opts("token_review", opts, set("audiences"))
  if not o then return nil, oerr end
  if type(token) ~= "string" or token == "" then
    return nil, errors.usage("token_review: token must be a non-empty string")
  end
  log.add_secret(token, self)
  local resp, err = self:request{ method = "POST",
    path = "/apis/authentication.k8s.io/v1/tokenreviews",
    body = { apiVersion = "authentication.k8s.io/v1", kind = "TokenReview",
      spec = { token = token, audiences = o.audiences and array(o.audiences) or nil } } }
  if not resp then return nil, err end
  return (resp.object or {}).status or {}
end

local function check_ns_name(fname, namespace, sa)
  if type(namespace) ~= "string" or namespace == "" then
    return nil, errors.usage(fname .. ": namespace must be a non-empty string, got "
      .. qs(namespace))
  end
  if type(sa) ~= "string" or sa == "" then
    return nil, errors.usage(fname .. ": service account name must be a non-empty string, got "
      .. qs(sa))
  end
  return true
end

--- c:token_request(namespace, sa, { expiration_seconds, audiences,
--- bound_object_ref }) -> token, expirationTimestamp (RFC 3339) | nil, err
function Client:token_request(namespace, sa, opts)
  local o, oerr = check_opts("token_request", opts,
    set("expiration_seconds", "audiences", "bound_object_ref"))
  if not o then return nil, oerr end
  local ok, cerr = check_ns_name("token_request", namespace, sa)
  if not ok then return nil, cerr end
  local resp, err = self:request{ method = "POST",
    path = ("/api/v1/namespaces/%s/serviceaccounts/%s/token"):format(
      client.escape_segment(namespace), client.escape_segment(sa)),
    body = { apiVersion = "authentication.k8s.io/v1", kind = "TokenRequest",
      spec = { expirationSeconds = o.expiration_seconds,
        audiences = o.audiences and array(o.audiences) or nil,
        boundObjectRef = o.bound_object_ref } } }
  if not resp then return nil, err end
  local st = (resp.object or {}).status or {}
  if type(st.token) ~= "string" or st.token == "" then
    return nil, errors.new("api", "failed to create token: no token in server response",
      { code = resp.status, reason = "BadResponse", method = "POST" })
  end
  log.add_secret(st.token, self)
  return st.token, st.expirationTimestamp
end

local SA_NAME_ANN = "kubernetes.io/service-account.name"
local SA_UID_ANN = "kubernetes.io/service-account.uid"

--- c:service_account_token(namespace, sa, { secret_name = sa .. "-token",
--- timeout = 30, watch = c:shared_watch of token Secrets (optional: for
--- many at once, see c:wait) }) -> { token, ca, namespace, secret, uid } | nil, err.
--- The long-lived token of the tutorial, done right: the ServiceAccount
--- must exist; the annotated kubernetes.io/service-account-token Secret is
--- applied (never listed in the SA's `secrets`); a watch waits until the
--- token controller filled token and ca.crt; the Secret's uid annotation
--- must match the live ServiceAccount. Returns the decoded token and CA PEM.
function Client:service_account_token(namespace, sa, opts)
  local o, oerr = check_opts("service_account_token", opts, set("secret_name", "timeout", "watch"))
  if not o then return nil, oerr end
  local ok, cerr = check_ns_name("service_account_token", namespace, sa)
  if not ok then return nil, cerr end
  local secret_name = o.secret_name or (sa .. "-token")
  local timeout = o.timeout or 30
  local function fail(msg, fields)
    return nil, errors.new(fields and fields.kind or "api", msg, fields)
  end

  local acct, gerr = self:get("v1", "ServiceAccount", sa, { namespace = namespace })
  if not acct then
    if errors.is(gerr, "NotFound") then
      return fail(("serviceaccount %s/%s not found: create the ServiceAccount before its token "
        .. "Secret (the token controller deletes token Secrets of missing service accounts)")
        :format(namespace, sa), { code = 404, reason = "NotFound" })
    end
    return nil, gerr
  end
  local sa_uid = acct.metadata.uid

  -- an existing Secret of that name must be a token Secret for this SA
  local cur, serr = self:get("v1", "Secret", secret_name, { namespace = namespace })
  if cur then
    local ann = cur.metadata.annotations or {}
    if cur.type ~= "kubernetes.io/service-account-token" then
      return fail(("secret %s/%s exists with type %q, not kubernetes.io/service-account-token")
        :format(namespace, secret_name, tostring(cur.type)),
        { kind = "usage", reason = "Conflict" })
    end
    if ann[SA_NAME_ANN] ~= sa then
      return fail(("secret %s/%s is the token of service account %q, not %q")
        :format(namespace, secret_name, tostring(ann[SA_NAME_ANN]), sa),
        { kind = "usage", reason = "Conflict" })
    end
  elseif not errors.is(serr, "NotFound") then
    return nil, serr
  end
  if not cur then
    local applied, aerr = self:apply({
      apiVersion = "v1", kind = "Secret", type = "kubernetes.io/service-account-token",
      metadata = { name = secret_name, namespace = namespace,
        annotations = { [SA_NAME_ANN] = sa } },
    })
    if not applied then return nil, aerr end
  end

  local function filled(s)
    local d = s.data
    return type(d) == "table" and type(d.token) == "string" and d.token ~= ""
      and type(d["ca.crt"]) == "string" and d["ca.crt"] ~= ""
  end
  -- read just now and already filled (a second run): nothing to wait for
  local secret, werr = cur and filled(cur) and cur or nil, nil
  if not secret then
    secret, werr = self:wait("v1", "Secret", secret_name, { namespace = namespace,
      timeout = timeout, until_ = filled, watch = o.watch })
  end
  if not secret then
    if errors.is(werr, "NotFound") then
      -- the controller deletes a token Secret whose SA is missing or was re-created
      local still = self:get("v1", "ServiceAccount", sa, { namespace = namespace })
      local why = not still and ("serviceaccount %s/%s no longer exists"):format(namespace, sa)
        or (still.metadata.uid ~= sa_uid
          and ("serviceaccount %s/%s was re-created (uid changed)"):format(namespace, sa))
        or "its service account annotation did not match a live ServiceAccount"
      return fail(("the token controller deleted secret %s/%s: %s"):format(namespace,
        secret_name, why), { code = 404, reason = "NotFound" })
    end
    if werr and werr.kind == "timeout" then
      werr.message = ("secret %s/%s was not filled with a token within %gs; is the token "
        .. "controller running? (%s)"):format(namespace, secret_name, timeout, werr.message)
    end
    return nil, werr
  end
  local ann = secret.metadata.annotations or {}
  local live, lerr = self:get("v1", "ServiceAccount", sa, { namespace = namespace })
  if not live then
    if errors.is(lerr, "NotFound") then
      return fail(("serviceaccount %s/%s was deleted while its token was issued")
        :format(namespace, sa),
        { code = 404, reason = "NotFound" })
    end
    return nil, lerr
  end
  if ann[SA_UID_ANN] ~= live.metadata.uid then
    return fail(("secret %s/%s belongs to an older serviceaccount %s/%s (uid annotation %s,"
      .. " live uid %s); "
      .. "delete the Secret and try again"):format(namespace, secret_name, namespace, sa,
        tostring(ann[SA_UID_ANN]), tostring(live.metadata.uid)),
      { reason = "Conflict", code = 409 })
  end
  local token, terr = b64().decode(secret.data.token)
  if not token then
    return fail("cannot decode data.token of secret " .. namespace .. "/" .. secret_name .. ": "
      .. tostring(terr), { reason = "BadResponse" })
  end
  local ca, caerr = b64().decode(secret.data["ca.crt"])
  if not ca then
    return fail("cannot decode data[\"ca.crt\"] of secret " .. namespace .. "/" .. secret_name
      .. ": " .. tostring(caerr), { reason = "BadResponse" })
  end
  log.add_secret(token, self)
  return { token = token, ca = ca, namespace = namespace, secret = secret_name,
    uid = live.metadata.uid, service_account = sa }
end

return M
