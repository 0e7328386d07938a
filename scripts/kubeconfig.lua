-- Writes a kubeconfig for a service account: the API server, its CA embedded,
-- and either the account's long-lived token (from its token Secret, created
-- and waited on when missing) or, with --exec, an exec entry that fetches a
-- short-lived TokenRequest token through kubelua each time it is used.
-- The file is written 0600, atomically (it never exists half-written or
-- readable by others).
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/kubeconfig.lua -n NS --service-account SA --output FILE [--exec]",
  summary = "Write a kubeconfig (mode 0600) that authenticates as a service account.",
  options = {
    { "namespace", short = "n", metavar = "NS", help = "the service account's namespace "
      .. "(default: the kubeconfig's)" },
    { "service-account", metavar = "SA", required = true, help = "the service account" },
    { "output", short = "o", metavar = "FILE", required = true, help = "the kubeconfig to write" },
    { "exec", type = "boolean", help = "use an exec entry that runs scripts/token.lua for a "
      .. "short-lived token (uses the credentials of the current kubeconfig)" },
    { "duration", type = "duration", min = 600,
      help = "with --exec: lifetime of each token (default: the server's, 1h)" },
    { "secret", metavar = "NAME", help = "the token Secret to read (default: SA-token, "
      .. "created like the tutorial's when missing)" },
    { "server", metavar = "URL", help = "the API server URL to write (default: the current one)" },
    { "timeout", type = "duration", min = 1, default = 60,
      help = "how long to wait for the token" },
  },
  examples = {
    "kubelua scripts/kubeconfig.lua -n team-a --service-account ci --output sa.kubeconfig",
    "kubectl --kubeconfig sa.kubeconfig get pods",
  },
})

-- The CA of the cluster for --exec: the current kubeconfig's, else the
-- kube-root-ca.crt ConfigMap published in every namespace.
local function cluster_ca(c, ns)
  local tls = c.config and c.config.tls or {}
  if tls.ca_data then return tls.ca_data end
  if tls.ca_file then return cli.check(cli.read_file(tls.ca_file)) end
  local cm = c:get("v1", "ConfigMap", "kube-root-ca.crt", { namespace = ns })
  return cm and cm.data and cm.data["ca.crt"] or nil
end

-- The kubeconfig file(s) the exec entry reads the caller's credentials from.
local function admin_kubeconfig(c)
  if opts.kubeconfig then return setup.absolute(opts.kubeconfig) end
  local src = c.config and c.config.source
  if src and src:sub(1, 1) == "/" then return src end -- one file or an a:b list
  cli.raise("--exec needs the credentials of a kubeconfig file (this connection comes from "
    .. tostring(src) .. ")")
end

local function check_service_account(c, ns, sa)
  local _, err = c:get("v1", "ServiceAccount", sa, { namespace = ns })
  if k8s.errors.is(err, "NotFound") then
    cli.raise(("service account %s/%s not found (create it first, e.g. with "
      .. "scripts/tutorial.lua --namespace %s --name %s)"):format(ns, sa, ns, sa))
  end
  if err then cli.raise(err) end
end

-- The token Secret `name` of `sa`, created from the tutorial's
-- sa-token.yaml when missing (an existing one is checked by wait_token).
local function create_token_secret(c, ns, sa, name)
  local _, err = c:get("v1", "Secret", name, { namespace = ns })
  if not k8s.errors.is(err, "NotFound") then
    if err then cli.raise(err) end
    return
  end
  local s = cli.check(setup.load_manifest("sa-token.yaml"))[1]
  s.metadata.name, s.metadata.namespace = name, ns
  s.metadata.annotations["kubernetes.io/service-account.name"] = sa
  io.stderr:write(cli.check(setup.apply(c, s)), "\n")
end

-- A kubeconfig with the long-lived token of the account's Secret.
local function with_token(c, ns, sa)
  local secret = opts.secret or (sa .. "-token")
  create_token_secret(c, ns, sa, secret)
  local creds = cli.check(setup.wait_token(c,
    { namespace = ns, service_account = sa, secret = secret }, opts.timeout))
  return setup.kubeconfig{ server = opts.server or c.server, ca = creds.ca, namespace = ns,
    service_account = sa, token = creds.token }, "long-lived token from secret " .. secret
end

-- A kubeconfig whose exec entry runs token.lua for each short-lived token.
local function with_exec(c, ns, sa)
  local ca = cluster_ca(c, ns)
  local insecure = c.config and c.config.tls and c.config.tls.insecure
  if not ca and not insecure then
    cli.raise("cannot find the cluster's CA certificate (not in the kubeconfig, no "
      .. "kube-root-ca.crt ConfigMap in " .. ns .. ")")
  end
  return setup.kubeconfig{ server = opts.server or c.server, ca = ca, insecure = insecure,
    namespace = ns, service_account = sa,
    exec = { kubeconfig = admin_kubeconfig(c), context = opts.context or c.config.context,
      duration = opts.duration },
  }, "exec: short-lived tokens via scripts/token.lua"
end

local function main()
  if opts.duration and not opts.exec then
    cli.raise("--duration needs --exec (the long-lived token of a Secret does not expire)")
  end
  if opts.secret and opts.exec then cli.raise("--secret and --exec: choose one") end
  local sa = opts["service-account"]
  cli.check(setup.check_object_name(sa, "service account"))
  local c = cli.check(k8s.connect(cli.connect_options(opts)))
  local ns = opts.namespace or c.namespace
  cli.check(setup.check_namespace_name(ns))
  check_service_account(c, ns, sa)
  local cfg, how = (opts.exec and with_exec or with_token)(c, ns, sa)
  cli.check(cli.write_private(opts.output, k8s.yaml.encode(cfg)))
  io.stdout:write(("kubeconfig for system:serviceaccount:%s:%s written to %s (mode 0600, %s)\n")
    :format(ns, sa, opts.output, how))
  return 0
end

cli.main(main)
