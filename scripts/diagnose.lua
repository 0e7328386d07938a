-- Explains why a bearer token gets 401 Unauthorized or 403 Forbidden, the way
-- the tutorial's last commenter needed. It reads the token (never printing
-- it), makes the request with it, and when that fails finds the cause:
--   * the token is still base64-encoded (a Secret's data.token, not decoded)
--   * it is not a JWT at all (truncated, wrapped, a wrong copy)
--   * it has expired, or is not valid yet
--   * it was issued for another audience (TokenReview says so)
--   * its Secret or service account was deleted, or deleted and recreated
--     (uid mismatch), found through TokenReview and the live objects
--   * the server URL is unreachable, or its TLS certificate does not match
--     the CA in use
--   * it authenticates, but the user lacks the verb/resource/group asked for
-- Server-side checks use the current kubeconfig's credentials (TokenReview,
-- the live objects, the bindings); without them the script says what it
-- could not check. Exit status: 0 the token works, 1 a problem was found.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/diagnose.lua (--token T | --token-file F | TOKEN) [--server URL]",
  summary = "Explain why a bearer token gets 401 Unauthorized or 403 Forbidden.",
  description = "The token is never printed. --token-file - reads it from stdin. The request "
    .. "made with it is GET /api/v1/namespaces (the tutorial's), or --method/--path.",
  args = { min = 0, max = 1, metavar = "TOKEN" },
  options = {
    { "token", metavar = "T", help = "the token (visible in ps: prefer --token-file)" },
    { "token-file", metavar = "F", help = "read the token from F ('-': stdin)" },
    { "server", metavar = "URL", help = "the API server the token is used with "
      .. "(default: the kubeconfig's)" },
    { "certificate-authority", metavar = "FILE",
      help = "the CA to verify the server with (default: the kubeconfig's)" },
    { "insecure-skip-tls-verify", type = "boolean",
      help = "do not verify the server's certificate" },
    { "method", default = "GET", help = "the HTTP method of the failing request (other than "
      .. "GET and HEAD it is sent as a server-side dry run: nothing is changed)" },
    { "path", default = "/api/v1/namespaces", help = "the path of the failing request" },
  },
  examples = {
    "kubelua scripts/diagnose.lua --token-file ./token",
    "kubectl get secret NAME -o jsonpath='{.data.token}' | kubelua scripts/diagnose.lua "
      .. "--token-file -",
  },
})

local json = k8s.json

-- ------------------------------------------------------------------ output

local problems = 0
local function say(label, fmt, ...)
  local text = select("#", ...) > 0 and fmt:format(...) or fmt
  io.stdout:write(("%-8s %s\n"):format(label .. ":", text))
  io.stdout:flush()
end
local function cause(fmt, ...)
  problems = problems + 1
  say("cause", fmt, ...)
end
local function fix(fmt, ...) say("fix", fmt, ...) end
local function note(fmt, ...) say("note", fmt, ...) end

local function is_null(v) return v == nil or v == json.null end

local function list_text(v)
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = tostring(x) end
    return "[" .. table.concat(out, ", ") .. "]"
  end
  return tostring(v)
end

-- ------------------------------------------------------------------- token

local function read_token()
  local sources = (opts.token and 1 or 0) + (opts["token-file"] and 1 or 0)
    + (opts.args[1] and 1 or 0)
  if sources ~= 1 then cli.raise("give the token once: --token T, --token-file F or TOKEN") end
  local raw = opts.token or opts.args[1]
  if opts["token-file"] then raw = cli.check(cli.read_file(opts["token-file"])) end
  local t = raw:gsub("^%s+", ""):gsub("%s+$", "")
  local bearer = t:match("^[Bb]earer%s+(.*)$")
  if bearer then
    note('the token starts with "Bearer ": that word belongs in the header, not in the token; '
      .. "it is removed here")
    t = bearer
  end
  if t == "" then cli.raise("the token is empty") end
  k8s.log.add_secret(t) -- -v never prints it
  return t
end

-- What can be read from the token alone. A token with whitespace inside
-- (a wrapped copy) cannot even be sent: the rest is checked without it.
local function offline(token)
  local info = { token = token }
  if token:find("%s") then
    info.whitespace = true
    token = token:gsub("%s+", "")
    info.token = token
    k8s.log.add_secret(token)
  end
  if token:sub(1, 4) == "ZXlK" then
    info.base64 = true
    local decoded = k8s.base64.decode((token:gsub("%s+", "")))
    if decoded then
      decoded = decoded:gsub("^%s+", ""):gsub("%s+$", "")
      if k8s.jwt.claims(decoded) then
        info.decoded = decoded
        k8s.log.add_secret(decoded)
      end
    end
  end
  local claims, header = k8s.jwt.claims(info.decoded or token)
  if claims then
    info.claims, info.header = claims, header
  else
    info.jwt_error = tostring(header):gsub("^not a JWT: ", "")
  end
  return info
end

local function token_kind(claims)
  local legacy_ns = claims["kubernetes.io/serviceaccount/namespace"]
  if claims.iss == "kubernetes/serviceaccount" or legacy_ns then
    return "legacy", {
      namespace = legacy_ns,
      secret = claims["kubernetes.io/serviceaccount/secret.name"],
      name = claims["kubernetes.io/serviceaccount/service-account.name"],
      uid = claims["kubernetes.io/serviceaccount/service-account.uid"],
    }
  end
  local k = claims["kubernetes.io"]
  if type(k) == "table" and type(k.serviceaccount) == "table" then
    return "bound", {
      namespace = k.namespace, name = k.serviceaccount.name, uid = k.serviceaccount.uid,
      secret = type(k.secret) == "table" and k.secret.name or nil,
      secret_uid = type(k.secret) == "table" and k.secret.uid or nil,
      pod = type(k.pod) == "table" and k.pod.name or nil,
      pod_uid = type(k.pod) == "table" and k.pod.uid or nil,
    }
  end
  return "other", {}
end

local function describe_offline(info)
  if info.base64 then
    say("token", "%d characters, still base64-encoded (starts with \"ZXlK\", the base64 "
      .. "of \"eyJ\" that opens every JWT)", #info.token)
  elseif not info.claims then
    say("token", "%d characters, not a JWT (%s)", #info.token, info.jwt_error)
  end
  if info.claims then
    local kind, sa = token_kind(info.claims)
    local what = kind == "legacy" and ("long-lived service-account token of secret %s/%s")
      :format(tostring(sa.namespace), tostring(sa.secret))
      or kind == "bound" and "short-lived TokenRequest token" or "JWT"
    say(info.base64 and "decoded" or "token", "%s: %s", what, k8s.jwt.describe(info.claims))
  end
end

-- ------------------------------------------------------------ the request

-- The client that makes the failing request with the token, and how TLS is
-- verified ({ ca_file | ca_data | insecure, how }).
local function token_client(admin, server, token)
  local tls = { how = "TLS verified" }
  if server:match("^[Hh][Tt][Tt][Pp]://") then
    tls.how = "plain HTTP: no TLS, the token travels unencrypted"
  elseif opts["insecure-skip-tls-verify"] then
    tls.how = "TLS NOT verified (--insecure-skip-tls-verify)"
  elseif opts["certificate-authority"] then
    tls.ca_file = opts["certificate-authority"]
    tls.how = "TLS verified with " .. tls.ca_file
  elseif admin and admin.config and admin.config.tls then
    local t = admin.config.tls
    if t.ca_file then
      tls.ca_file = t.ca_file
      tls.how = "TLS verified with the kubeconfig's CA " .. t.ca_file
    elseif t.ca_data then
      tls.ca_data = t.ca_data
      tls.how = "TLS verified with the kubeconfig's CA"
    elseif t.insecure then
      tls.insecure = true
      tls.how = "TLS NOT verified (the kubeconfig says insecure-skip-tls-verify)"
    else
      tls.how = "TLS verified with the system CAs"
    end
  end
  -- the token alone: with the kubeconfig's cluster (its proxy-url and
  -- tls-server-name too) but none of its credentials (user = false), or,
  -- with --server or without a kubeconfig, the server alone
  local o = { kubeconfig = "/dev/null", server = server }
  if admin and not opts.server then
    o = cli.connect_options(opts, { namespace = false })
    o.user = false
  end
  o.token, o.certificate_authority = token, tls.ca_file
  o.certificate_authority_data = tls.ca_data
  o.insecure_skip_tls_verify = (opts["insecure-skip-tls-verify"] or tls.insecure) or nil
  o.retries, o.connect_timeout, o.timeout = { max = 1 }, 5, 15
  o.verbose = opts.v > 0 and opts.v or nil
  local c, err = k8s.connect(o)
  if not c then cli.raise(err) end
  return c, tls
end

local TLS_ERRORS = {
  PEER_FAILED_VERIFICATION = true, SSL_CONNECT_ERROR = true, SSL_CACERT_BADFILE = true,
  SSL_CACERT = true, SSL_CERTPROBLEM = true, SSL_ISSUER_ERROR = true,
}
local UNREACHABLE = {
  COULDNT_CONNECT = true, COULDNT_RESOLVE_HOST = true, OPERATION_TIMEDOUT = true,
  GOT_NOTHING = true, RECV_ERROR = true, SEND_ERROR = true,
}

local function explain_transport(err, server, tls)
  local name = err.curl or ""
  local msg = cli.message(err)
  if TLS_ERRORS[name] or msg:lower():find("certificate") or msg:lower():find("ssl") then
    cause("TLS mismatch: %s could not be verified with the CA in use (%s): %s",
      server, tls.how, msg)
    fix("use the cluster's CA: the Secret's ca.crt (kubectl get secret NAME -o "
      .. "jsonpath='{.data.ca\\.crt}' | base64 --decode > ca.crt; --certificate-authority "
      .. "ca.crt), and the server URL whose name or IP is in the certificate")
  elseif UNREACHABLE[name] or err.kind == "timeout" or err.kind == "transport" then
    cause("the server URL %s is unreachable: %s", server, msg)
    fix("use the API server address from your kubeconfig (kubectl config view --minify "
      .. "-o jsonpath='{.clusters[0].cluster.server}'); the kubernetes endpoint printed by "
      .. "`kubectl get endpoints` is often an in-cluster address")
  else
    cause("the request failed: %s", msg)
  end
end

-- Verb and resource attributes of a request path, as the API server derives
-- them (enough for the paths users call).
local function attributes(method, path)
  local p = path:gsub("%?.*$", "")
  local group, version, rest = p:match("^/apis/([^/]+)/([^/]+)/?(.*)$")
  if not group then
    version, rest = p:match("^/api/([^/]+)/?(.*)$")
    group = ""
  end
  if not version then return { path = p, verb = method:lower(), nonresource = true } end
  local parts = {}
  for s in rest:gmatch("[^/]+") do parts[#parts + 1] = s end
  local ns
  if parts[1] == "namespaces" and #parts >= 3 then
    ns = parts[2]
    table.remove(parts, 1)
    table.remove(parts, 1)
  end
  local resource, name, sub = parts[1], parts[2], parts[3]
  local verbs = { GET = name and "get" or "list", POST = "create", PUT = "update",
    PATCH = "patch", DELETE = name and "delete" or "deletecollection" }
  return { group = group, version = version, namespace = ns, resource = resource,
    name = name, subresource = sub, verb = verbs[method:upper()] or method:lower() }
end

local function attr_text(a)
  if a.nonresource then return ("%s on the path %s"):format(a.verb, a.path) end
  return ("%s %s%s in API group %q %s"):format(a.verb, a.resource or "?",
    a.subresource and ("/" .. a.subresource) or "", a.group,
    a.namespace and ("in namespace " .. a.namespace) or "at the cluster scope")
end

-- ------------------------------------------------------------ 401 causes

local function review(admin, token, audiences)
  if not admin then return nil, "no kubeconfig credentials to ask the server with" end
  return admin:token_review(token, audiences and { audiences = audiences } or nil)
end

local function live(admin, kind, name, ns)
  if not admin or is_null(name) or not name then return nil end
  local obj, err = admin:get("v1", kind, name, { namespace = ns })
  if obj then return obj end
  if k8s.errors.is(err, "NotFound") then return false end
  return nil, err
end

local function utc(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

-- exp in the past, nbf in the future
local function check_lifetime(claims)
  local now = os.time()
  if math.type(claims.exp) and claims.exp <= now then
    cause("the token expired %s ago (exp %s)", cli.age(now - claims.exp), utc(claims.exp))
    fix("request a new one: kubelua scripts/token.lua -n NS --service-account SA "
      .. "[--duration 1h]")
  end
  if math.type(claims.nbf) and claims.nbf > now + 60 then
    cause("the token is not valid before %s (nbf): check the clocks", utc(claims.nbf))
  end
end

-- True when the token authenticates for its own audiences, not the API server's.
local function check_audience(admin, token, claims, review_error)
  local aud = type(claims.aud) == "string" and { claims.aud } or claims.aud
  if type(aud) ~= "table" or #aud == 0 then return false end
  local st = review(admin, token, aud)
  if not (st and st.authenticated == true) then return false end
  cause("wrong audience: the token was issued for %s, which the API server does not "
    .. "accept (TokenReview: %s)", list_text(aud), review_error)
  fix("request it without --audience (or with the API server's audience): "
    .. "kubelua scripts/token.lua -n NS --service-account SA")
  return true
end

-- The account the token names: deleted, or deleted and recreated (uid).
-- Returns the live account, false when it is gone, nil when unknown.
local function check_account(admin, sa)
  local where = ("%s/%s"):format(sa.namespace, tostring(sa.name))
  local again = ("kubelua scripts/tutorial.lua --namespace %s --name %s")
    :format(tostring(sa.namespace), tostring(sa.name))
  local account, err = live(admin, "ServiceAccount", sa.name, sa.namespace)
  if account == false then
    cause("service account %s was deleted (the token belonged to it)", where)
    fix("recreate the account and issue a new token: %s", again)
  elseif account and not is_null(sa.uid) and sa.uid and account.metadata.uid ~= sa.uid then
    cause("service account %s was deleted and recreated: the token carries uid %s, the "
      .. "live account has uid %s", where, tostring(sa.uid), tostring(account.metadata.uid))
    fix("issue a new token for the new account (its old token Secret is deleted by the "
      .. "token controller): %s", again)
  elseif err then
    note("could not read service account %s: %s", where, cli.message(err))
  end
  return account
end

-- A legacy token's Secret: invalidated by the cleaner, or holding another token.
local function check_legacy_secret(secret, sa, token)
  local where = ("%s/%s"):format(sa.namespace, sa.secret)
  local invalid = (secret.metadata.labels or {})["kubernetes.io/legacy-token-invalid-since"]
  local stored = secret.data and secret.data.token and k8s.base64.decode(secret.data.token)
  if invalid then
    cause("secret %s is labelled kubernetes.io/legacy-token-invalid-since=%s: the "
      .. "legacy token cleaner invalidated it", where, invalid)
    fix("remove the label to use it again (kubectl label secret %s -n %s "
      .. "kubernetes.io/legacy-token-invalid-since-), or switch to short-lived tokens: "
      .. "kubelua scripts/token.lua -n %s --service-account %s", sa.secret,
      tostring(sa.namespace), tostring(sa.namespace), tostring(sa.name))
  elseif stored and stored ~= token then
    cause("secret %s holds a different token now (it was regenerated or recreated): "
      .. "this copy is stale", where)
    fix("read the token again: kubectl get secret %s -n %s -o jsonpath='{.data.token}' "
      .. "| base64 --decode", sa.secret, tostring(sa.namespace))
  end
end

-- The Secret the token belongs to (legacy) or is bound to.
local function check_secret(admin, kind, sa, token)
  local where = ("%s/%s"):format(sa.namespace, sa.secret)
  local secret, err = live(admin, "Secret", sa.secret, sa.namespace)
  if secret == false then
    cause("secret %s was deleted: a long-lived token dies with its Secret", where)
    fix("create the Secret again and use its new token (kubelua scripts/tutorial.lua "
      .. "--namespace %s --name %s)", tostring(sa.namespace), tostring(sa.name))
  elseif err then
    note("could not read secret %s: %s", where, cli.message(err))
  elseif secret and kind == "legacy" then
    check_legacy_secret(secret, sa, token)
  elseif secret and sa.secret_uid and secret.metadata.uid ~= sa.secret_uid then
    cause("secret %s was deleted and recreated (uid %s in the token, %s live)", where,
      tostring(sa.secret_uid), tostring(secret.metadata.uid))
  end
end

-- The pod a bound token is bound to.
local function check_pod(admin, sa)
  local pod = live(admin, "Pod", sa.pod, sa.namespace)
  local where = ("%s/%s"):format(tostring(sa.namespace), sa.pod)
  if pod == false then
    cause("pod %s, which the token is bound to, is gone", where)
  elseif pod and sa.pod_uid and pod.metadata.uid ~= sa.pod_uid then
    cause("pod %s, which the token is bound to, was recreated (uid mismatch)", where)
  end
end

-- The cause of a 401 for a token that is a JWT: its own claims first, then
-- what the server says about it (TokenReview) and the live objects it names.
local function explain_401(admin, info)
  local claims = info.claims
  local token = info.decoded or info.token
  local found = problems
  check_lifetime(claims)
  local st, rerr = review(admin, token)
  if not st then
    note("could not ask the server why (TokenReview: %s)", cli.message(rerr))
    return
  end
  if st.authenticated == true then
    local user = st.user and st.user.username or "?"
    if info.decoded then
      note("decoded, the token is valid: it authenticates as %s", user)
    else
      note("TokenReview accepts this token (as %s): the server that answered 401 is not "
        .. "the one checked here, or a proxy in between drops the Authorization header", user)
    end
    return
  end
  local review_error = not is_null(st.error) and tostring(st.error) or "no reason given"
  if check_audience(admin, token, claims, review_error) then return end
  local kind, sa = token_kind(claims)
  if kind ~= "other" and sa.namespace then
    local account = check_account(admin, sa)
    if account ~= false and sa.secret then check_secret(admin, kind, sa, token) end
    if kind == "bound" and sa.pod then check_pod(admin, sa) end
  end
  if problems == found then
    cause("the API server rejects the token (TokenReview: %s); it may come from another "
      .. "cluster or have been edited", review_error)
  end
end

-- ------------------------------------------------------------ 403 causes

local function rule_allows(rule, a)
  local function has(list, x)
    for _, v in ipairs(list or {}) do
      if v == "*" or v == x then return true end
    end
    return false
  end
  if not has(rule.verbs, a.verb) then return false end
  if a.nonresource then
    for _, u in ipairs(rule.nonResourceURLs or {}) do
      if u == "*" or u == a.path or (u:sub(-1) == "*" and a.path:sub(1, #u - 1) == u:sub(1, -2))
      then return true end
    end
    return false
  end
  local res = a.resource .. (a.subresource and ("/" .. a.subresource) or "")
  return has(rule.apiGroups, a.group) and has(rule.resources, res)
end

local RBAC = "rbac.authorization.k8s.io/v1"

-- The bindings that name the user (directly, as a service account, or
-- through one of its groups), built-in system: ClusterRoleBindings left out.
-- nil when the kubeconfig's credentials cannot read them.
local function bindings_for(admin, who)
  local user, groups = who.username, {}
  for _, g in ipairs(who.groups or {}) do groups[g] = true end
  local sa_ns, sa_name = user:match("^system:serviceaccount:([^:]+):(.+)$")
  local function names_user(b)
    for _, s in ipairs(b.subjects or {}) do
      if (s.kind == "User" and s.name == user) or (s.kind == "Group" and groups[s.name])
        or (s.kind == "ServiceAccount" and s.name == sa_name
          and (s.namespace or b.metadata.namespace) == sa_ns) then
        return true
      end
    end
    return false
  end
  local crbs = admin:list(RBAC, "ClusterRoleBinding")
  local rbs = admin:list(RBAC, "RoleBinding", { all_namespaces = true })
  if not crbs or not rbs then return nil end
  local out = {}
  for _, b in ipairs(crbs) do
    if names_user(b) and not b.metadata.name:match("^system:") then out[#out + 1] = b end
  end
  for _, b in ipairs(rbs) do
    if names_user(b) then out[#out + 1] = b end
  end
  return out
end

-- Why binding b does not give the access `a`: a missing role, rules that
-- do not include it (with the role's Ingress trap, if that is the reason),
-- or a RoleBinding asked for access outside its namespace.
local function explain_binding(admin, b, a)
  local bref = ("%s %s%s"):format(b.kind, b.metadata.namespace
    and (b.metadata.namespace .. "/") or "", b.metadata.name)
  local rref = b.roleRef.kind .. " " .. b.roleRef.name
  local role, err = admin:get(RBAC, b.roleRef.kind, b.roleRef.name,
    { namespace = b.roleRef.kind == "Role" and b.metadata.namespace or nil })
  if not role then
    if k8s.errors.is(err, "NotFound") then
      cause("%s refers to %s, which does not exist", bref, rref)
    end
    return
  end
  local grants = false
  for _, rule in ipairs(role.rules or {}) do
    if rule_allows(rule, a) then grants = true end
  end
  if not grants then
    note("%s binds %s, whose rules do not include %s", bref, rref, attr_text(a))
    if a.resource == "ingresses" then
      for _, w in ipairs(setup.lint({ obj = role })) do
        if w:find("Ingresses", 1, true) then note("%s: %s", rref, w) end
      end
    end
  elseif b.kind == "RoleBinding" and a.namespace ~= b.metadata.namespace then
    note("%s grants it through %s, but only inside namespace %s (a RoleBinding never "
      .. "grants access elsewhere)", bref, rref, b.metadata.namespace)
  end
end

local function explain_403(admin, user_client, err, a)
  local who = user_client:whoami() or {}
  local user = who.username or "?"
  cause("the token authenticates as %s, but that user may not %s (%s)", user, attr_text(a),
    cli.message(err))
  if not admin then return end
  local bindings = who.username and bindings_for(admin, who)
  if not bindings then
    note("could not read the bindings with the kubeconfig's credentials")
    return
  end
  if #bindings == 0 then note("no RoleBinding or ClusterRoleBinding names %s", user) end
  for _, b in ipairs(bindings) do explain_binding(admin, b, a) end
  if not a.nonresource then
    local sa_ns, sa_name = user:match("^system:serviceaccount:([^:]+):(.+)$")
    fix("grant it, e.g.: kubectl create clusterrole NAME --verb=%s --resource=%s%s; "
      .. "kubectl create clusterrolebinding NAME --clusterrole=NAME %s", a.verb, a.resource,
      a.group ~= "" and ("." .. a.group) or "",
      sa_name and ("--serviceaccount=" .. sa_ns .. ":" .. sa_name) or ("--user=" .. user))
  end
end

-- ------------------------------------------------------------------- main

local METHODS = { GET = true, HEAD = true, POST = true, PUT = true, PATCH = true, DELETE = true }

-- The request to make with the token: a write is a server-side dry run
-- (authentication and authorization are checked as for the real one, and
-- nothing is stored or deleted).
local function the_request()
  local method = opts.method:upper()
  if not METHODS[method] then
    cli.raise(("--method %q: one of GET, HEAD, POST, PUT, PATCH, DELETE"):format(opts.method))
  end
  if opts.path:sub(1, 1) ~= "/" then
    cli.raise(("--path %q: an API path starting with /, e.g. /api/v1/namespaces"):format(opts.path))
  end
  local path = opts.path
  if method ~= "GET" and method ~= "HEAD" then
    path = path .. (path:find("?", 1, true) and "&" or "?") .. "dryRun=All"
  end
  return { method = method, path = path }
end

-- Answers that come after authentication and authorization: the token
-- passed both, and the request fails for another reason.
local PAST_AUTHZ = { [400] = true, [404] = true, [405] = true, [409] = true, [422] = true }

local function main()
  local req = the_request()
  local token = read_token()
  local admin, aerr = k8s.connect(cli.connect_options(opts))
  if not admin then
    note("no usable kubeconfig (%s): only the token itself and the request are checked",
      cli.message(aerr))
    admin = nil
  end
  local server = opts.server or (admin and admin.server)
  if not server then cli.raise("give --server URL (there is no kubeconfig to take it from)") end

  local info = offline(token)
  describe_offline(info)
  if info.whitespace then
    cause("the token contains whitespace or line breaks (a wrapped copy); it is checked "
      .. "here without them")
    fix("join it into one line: tr -d ' \\n' < FILE > token")
  end
  local c, tls = token_client(admin, server, info.token)
  say("server", "%s (%s)", server, tls.how)
  local a = attributes(req.method, opts.path)
  local resp, err = c:request(req)
  if not resp and err.kind == "api" and PAST_AUTHZ[err.code] then
    say("request", "%s %s with this token: %d %s", req.method, req.path, err.code,
      tostring(err.reason))
    note("the server authenticated and authorized the request before it failed (%s)",
      cli.message(err))
    resp = { status = err.code }
  end
  if resp then
    if resp.status < 300 then
      say("request", "%s %s with this token: %d", req.method, req.path, resp.status)
    end
    local who = c:whoami()
    if who and who.username then note("the token authenticates as %s", who.username) end
    if info.claims and math.type(info.claims.exp) then
      note("it expires in %s", cli.format_duration(info.claims.exp - os.time()))
    end
    if info.whitespace then
      say("result", "the token works once its whitespace is removed")
      return 1
    end
    say("result", "the token works")
    return 0
  end
  if err.kind ~= "api" then
    say("request", "%s %s with this token: failed", req.method, req.path)
    explain_transport(err, server, tls)
    return 1
  end
  say("request", "%s %s with this token: %d %s", req.method, req.path, err.code,
    tostring(err.reason))
  if err.code == 401 then
    if info.base64 then
      cause("the token is still base64-encoded: Secret data is base64, and "
        .. "`kubectl get secret -o jsonpath='{.data.token}'` prints it undecoded")
      fix("decode it first: kubectl get secret NAME -n NS -o jsonpath='{.data.token}' "
        .. "| base64 --decode")
    elseif not info.claims then
      cause("the token is not a JWT (%s): service-account tokens are three base64url parts "
        .. "separated by dots; the copy is truncated or not a token", info.jwt_error)
    end
    if info.claims then explain_401(admin, info) end
  elseif err.code == 403 then
    explain_403(admin, c, err, a)
  else
    cause("the server answered %s", cli.message(err))
  end
  if problems == 0 then cause("unexplained: %s", cli.message(err)) end
  return 1
end

cli.main(main)
