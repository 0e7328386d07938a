-- The tutorial "How to Create Kubernetes Service Account and Long Lived
-- Token", step by step, with its own manifests (scripts/manifests/):
--   1. namespace devops-tools          2. ServiceAccount api-service-account
--   3. ClusterRole api-cluster-role    4. ClusterRoleBinding api-cluster-role-binding
--   5. kubectl auth can-i (get pods, delete deployments) as the service account
--   6. the token Secret, waited on until the token controller fills it; the
--      token decoded; the kubernetes endpoint; GET /api/v1/namespaces as the
--      service account, with TLS verified against the Secret's ca.crt.
-- Each apply is idempotent: a second run prints `unchanged` for each object.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/tutorial.lua [options]",
  summary = "Create a service account with a long-lived token, exactly as the tutorial does, "
    .. "and check that the token works.",
  description = "The token is never printed unless --show-token is given; then it is the only "
    .. "thing on stdout (everything else goes to stderr), so it can be piped.",
  options = {
    { "namespace", short = "n", metavar = "NS", default = "devops-tools",
      help = "the namespace to create the service account in" },
    { "name", metavar = "SA", default = "api-service-account",
      help = "the service account; the Secret is SA-token, the ClusterRole and binding "
        .. "drop a -service-account suffix (api-cluster-role)" },
    { "show-token", type = "boolean", help = "print the decoded token (only it) on stdout" },
    { "token-file", metavar = "PATH", help = "write the decoded token to PATH (mode 0600)" },
    { "read-only", type = "boolean",
      help = "bind a least-privilege read-only ClusterRole instead of the tutorial's" },
    { "dry-run", type = "boolean", help = "server-side dry run: validate, store nothing" },
    { "insecure-skip-tls-verify", type = "boolean",
      help = "call the API as the service account without verifying TLS (the tutorial's curl -k)" },
    { "timeout", type = "duration", min = 1, default = 60,
      help = "how long to wait for the token" },
  },
  examples = {
    "kubelua scripts/tutorial.lua",
    "kubelua scripts/tutorial.lua --read-only --token-file ./token",
    "TOKEN=$(kubelua scripts/tutorial.lua --show-token)",
  },
})

-- with --show-token, stdout carries the token alone
local out = opts["show-token"] and io.stderr or io.stdout
local function say(fmt, ...)
  out:write(select("#", ...) > 0 and fmt:format(...) or fmt, "\n")
  out:flush()
end

local function check_names()
  cli.check(setup.check_namespace_name(opts.namespace))
  cli.check(setup.check_object_name(opts.name, "service account"))
end

-- Step 5: `kubectl auth can-i VERB RESOURCE --as=system:serviceaccount:NS:SA`
local function can_i(c, names, verb, resource, group)
  local allowed, reason = c:can_i(verb, resource, {
    group = group, namespace = c.namespace, as = names.user,
  })
  if allowed == nil then cli.raise(reason) end
  local what = group and (resource .. "." .. group) or resource
  say("auth can-i %s %s --as=%s: %s", verb, what, names.user, allowed and "yes" or "no")
  return allowed
end

-- The kubernetes endpoint(s), as `kubectl get endpoints | grep kubernetes`.
local function endpoints(c)
  local ep, err = c:get("v1", "Endpoints", "kubernetes", { namespace = "default" })
  if not ep then
    cli.warn("cannot read the kubernetes endpoints: " .. tostring(err))
    return
  end
  local addrs = {}
  for _, s in ipairs(ep.subsets or {}) do
    for _, a in ipairs(s.addresses or {}) do
      for _, p in ipairs(s.ports or {}) do addrs[#addrs + 1] = ("%s:%s"):format(a.ip, p.port) end
    end
  end
  say("endpoints/kubernetes %s (the API server as seen inside the cluster)",
    #addrs > 0 and table.concat(addrs, ",") or "<none>")
end

local function describe_token(token)
  local claims = k8s.jwt.claims(token)
  if not claims then return "not a JWT" end
  local life = claims.exp and ("expires " .. os.date("!%Y-%m-%dT%H:%M:%SZ", claims.exp))
    or "no expiry (long-lived)"
  return ("JWT for %s, issuer %s, %s"):format(tostring(claims.sub), tostring(claims.iss), life)
end

-- A client that authenticates with the token alone (user = false: the
-- context's cluster, its proxy-url and tls-server-name included, but
-- nothing of the caller's credentials, such as a client certificate, may
-- help it) and verifies TLS with the Secret's ca.crt, given in memory (no
-- temporary file) - or, with --insecure-skip-tls-verify, does not verify at
-- all, like `curl -k`.
local function token_client(names, creds)
  local insecure = opts["insecure-skip-tls-verify"] or nil
  local ca = not insecure and creds.ca or nil
  local o = cli.connect_options(opts, { namespace = names.namespace, token = creds.token,
    certificate_authority_data = ca, insecure_skip_tls_verify = insecure })
  o.user = false
  local sa, err = k8s.connect(o)
  if not sa then
    cli.raise("cannot build a client for the service account: " .. cli.message(err))
  end
  return sa, ca and "TLS verified with the Secret's ca.crt"
    or "TLS NOT verified (--insecure-skip-tls-verify, like the tutorial's curl -k)"
end

-- Step 6: GET /api/v1/namespaces with `Authorization: Bearer <token>`.
local function validate(c, names, creds)
  local sa, tls = token_client(names, creds)
  local what = ("GET %s/api/v1/namespaces as %s (%s)"):format(c.server, names.user, tls)
  local resp, err = sa:request{ method = "GET", path = "/api/v1/namespaces" }
  if not resp then
    say("%s: failed", what)
    local msg = tostring(err)
    if (k8s.errors.is(err, "Unauthorized") or k8s.errors.is(err, "Forbidden"))
      and not msg:find("diagnose.lua", 1, true) then
      msg = msg .. "; scripts/diagnose.lua --token-file FILE explains why"
    end
    cli.raise(msg)
  end
  say("%s: %d", what, resp.status)
  local seen = {}
  for _, ns in ipairs(resp.object and resp.object.items or {}) do
    seen[#seen + 1] = ns.metadata.name
  end
  say("namespaces the service account sees (%d): %s", #seen, table.concat(seen, " "))
end

-- The traps of the tutorial's own manifests, said once, before applying.
local function warn_traps(objs)
  local role, binding
  for _, o in ipairs(objs) do
    if o.obj.kind == "ClusterRole" then role = o end
    if o.obj.kind == "ClusterRoleBinding" then binding = o end
  end
  for _, w in ipairs(setup.lint(role, binding)) do cli.warn(w) end
end

-- Steps 1-4 and the Secret of step 6, in the tutorial's order, with the
-- can-i checks of step 5 just before the Secret. A server-side dry run
-- cannot create objects inside a namespace that does not exist yet.
local function apply_steps(c, names, objs, dry)
  local ns_missing = false
  for _, o in ipairs(objs) do
    if o.obj.kind == "Secret" and not dry then
      can_i(c, names, "get", "pods")
      can_i(c, names, "delete", "deployments", "apps")
    end
    if dry and ns_missing and not setup.CLUSTER_SCOPED[o.obj.kind] then
      say("%s created (server dry run skipped: namespace %s does not exist yet)",
        setup.ref(o.obj), names.namespace)
    else
      local line, action = cli.check(setup.apply(c, o.obj, { dry_run = dry }))
      if o.obj.kind == "Namespace" and action == "created" then ns_missing = dry end
      say("%s", line)
    end
  end
end

-- --token-file, --show-token or neither.
local function hand_out(token)
  if opts["token-file"] then
    cli.check(cli.write_private(opts["token-file"], token))
    say("token written to %s (mode 0600)", opts["token-file"])
  elseif opts["show-token"] then
    io.stdout:write(token, cli.isatty(1) and "\n" or "")
  else
    say("(the token is not shown: use --show-token or --token-file PATH)")
  end
end

local function main()
  check_names()
  if opts["show-token"] and opts["token-file"] then
    cli.raise("--show-token and --token-file: choose one")
  end
  -- -n names the tutorial's namespace; the client keeps the kubeconfig's
  -- (which `kubectl auth can-i` uses too)
  local c = cli.check(k8s.connect(cli.connect_options(opts, { namespace = false })))
  local names = setup.names{ namespace = opts.namespace, name = opts.name,
    read_only = opts["read-only"] }
  local objs = cli.check(setup.objects(names, { read_only = opts["read-only"] }))
  warn_traps(objs)
  apply_steps(c, names, objs, opts["dry-run"])
  if opts["dry-run"] then
    io.stderr:write("server dry run: nothing was stored; the can-i checks, the token and "
      .. "the API call were skipped\n")
    return 0
  end
  local creds = cli.check(setup.wait_token(c, names, opts.timeout))
  say("secret/%s: token decoded: %s", names.secret, describe_token(creds.token))
  endpoints(c)
  validate(c, names, creds)
  hand_out(creds.token) -- only once the token has been seen to work
  return 0
end

cli.main(main)
