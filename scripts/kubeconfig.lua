-- Writes a kubeconfig for a service account: the API server, its CA embedded,
-- and either the account's long-lived token (from its token Secret, created
-- and waited on when missing) or, with --exec, an exec entry that fetches a
-- short-lived TokenRequest token through kubelua each time it is used.
-- The file is written 0600, atomically (it never exists half-written or
-- readable by others).
local here = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "lib.setup"
local kubeconfig = require "lib.kubeconfig"

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
    { "timeout", type = "duration", default = 60, help = "how long to wait for the token" },
  },
  examples = {
    "kubelua scripts/kubeconfig.lua -n team-a --service-account ci --output sa.kubeconfig",
    "kubectl --kubeconfig sa.kubeconfig get pods",
  },
})

-- The CA of the cluster: the Secret's ca.crt, else the current kubeconfig's,
-- else the kube-root-ca.crt ConfigMap published in every namespace.
local function cluster_ca(c, ns)
  local tls = c.config and c.config.tls or {}
  if tls.ca_data then return tls.ca_data end
  if tls.ca_file then
    local pem = cli.read_file(tls.ca_file)
    if pem then return pem end
  end
  local cm = c:get("v1", "ConfigMap", "kube-root-ca.crt", { namespace = ns })
  if cm and cm.data and cm.data["ca.crt"] then return cm.data["ca.crt"] end
  return nil
end

-- The kubeconfig file(s) the exec entry reads the caller's credentials from.
local function admin_kubeconfig(c)
  if opts.kubeconfig then return kubeconfig.absolute(opts.kubeconfig) end
  local src = c.config and c.config.source
  if src and src:sub(1, 1) == "/" then return src end -- one file or an a:b list
  cli.raise("--exec needs the credentials of a kubeconfig file (this connection comes from "
    .. tostring(src) .. ")")
end

local function long_lived(c, ns, sa)
  local secret_name = opts.secret or (sa .. "-token")
  local existing, gerr = c:get("v1", "Secret", secret_name, { namespace = ns })
  if not existing and not k8s.errors.is(gerr, "NotFound") then cli.raise(gerr) end
  if existing and existing.type ~= "kubernetes.io/service-account-token" then
    cli.raise(("secret %s/%s is of type %s, not kubernetes.io/service-account-token")
      :format(ns, secret_name, tostring(existing.type)))
  end
  if existing then
    local owner = existing.metadata.annotations
      and existing.metadata.annotations["kubernetes.io/service-account.name"]
    if owner ~= sa then
      cli.raise(("secret %s/%s holds a token for service account %q, not %q")
        :format(ns, secret_name, tostring(owner), sa))
    end
  else
    local docs = cli.check(setup.load_manifest("sa-token.yaml"))
    local s = docs[1]
    s.metadata.name, s.metadata.namespace = secret_name, ns
    s.metadata.annotations["kubernetes.io/service-account.name"] = sa
    local line, err = setup.apply(c, s)
    if not line then cli.raise(err) end
    io.stderr:write(line, "\n")
  end
  return cli.try(("waiting for the token in secret %s/%s"):format(ns, secret_name),
    setup.wait_token(c, { namespace = ns, secret = secret_name }, opts.timeout))
end

local function main()
  local c = cli.check(k8s.connect(cli.connect_options(opts)))
  local ns = opts.namespace or c.namespace
  local sa = opts["service-account"]
  cli.check(setup.check_namespace_name(ns))
  cli.check(setup.check_object_name(sa, "service account"))
  local account, err = c:get("v1", "ServiceAccount", sa, { namespace = ns })
  if not account then
    if k8s.errors.is(err, "NotFound") then
      cli.raise(("service account %s/%s not found (create it first, e.g. with "
        .. "scripts/tutorial.lua --namespace %s --name %s)"):format(ns, sa, ns, sa))
    end
    cli.raise(err)
  end
  local cfg
  local server = opts.server or c.server
  if opts.exec then
    local ca = cluster_ca(c, ns)
    local tls = c.config and c.config.tls or {}
    if not ca and not tls.insecure then
      cli.raise("cannot find the cluster's CA certificate (not in the kubeconfig, no "
        .. "kube-root-ca.crt ConfigMap in " .. ns .. ")")
    end
    cfg = kubeconfig.build{
      server = server, ca = ca, insecure = tls.insecure, namespace = ns,
      service_account = sa,
      exec = { kubeconfig = admin_kubeconfig(c), context = opts.context or c.config.context,
        duration = opts.duration },
    }
  else
    local creds = long_lived(c, ns, sa)
    cfg = kubeconfig.build{ server = server, ca = creds.ca, namespace = ns,
      service_account = sa, token = creds.token }
  end
  cli.check(cli.write_private(opts.output, kubeconfig.encode(cfg)))
  io.stdout:write(("kubeconfig for system:serviceaccount:%s:%s written to %s (mode 0600, %s)\n")
    :format(ns, sa, opts.output, opts.exec and "exec: short-lived tokens via scripts/token.lua"
      or "long-lived token from secret " .. (opts.secret or (sa .. "-token"))))
  return 0
end

cli.main(main)
