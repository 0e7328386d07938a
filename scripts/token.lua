-- A short-lived token for a service account through the TokenRequest API
-- (`kubectl create token`): the modern alternative to the tutorial's
-- long-lived Secret token. It expires by itself and is bound to the service
-- account's uid, so deleting the account revokes it.
--
-- With --exec-credential it prints a client.authentication.k8s.io/v1
-- ExecCredential instead, which is how kubeconfigs written by
-- `scripts/kubeconfig.lua --exec` fetch their tokens.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/token.lua -n NS --service-account SA [--duration 10m] [--audience A]",
  summary = "Print a short-lived token for a service account (TokenRequest API).",
  description = "The token goes to stdout (with a newline only on a terminal, like kubectl "
    .. "create token); its expiry goes to stderr with -v.",
  options = {
    { "namespace", short = "n", metavar = "NS", help = "the service account's namespace "
      .. "(default: the kubeconfig's)" },
    { "service-account", metavar = "SA", required = true, help = "the service account" },
    { "duration", type = "duration", min = 600,
      help = "how long the token is valid (at least 10m; default: the server's, 1h)" },
    { "audience", type = "list", metavar = "A",
      help = "an intended audience of the token (repeatable; default: the API server)" },
    { "exec-credential", type = "boolean",
      help = "print an ExecCredential (for a kubeconfig exec entry) instead of the token" },
  },
  examples = {
    "kubelua scripts/token.lua -n devops-tools --service-account api-service-account",
    "kubelua scripts/token.lua -n team-a --service-account ci --duration 10m --audience vault",
  },
})

local function main()
  local sa = opts["service-account"]
  cli.check(setup.check_object_name(sa, "service account"))
  for _, a in ipairs(opts.audience or {}) do
    if a == "" then cli.raise("--audience must not be empty") end
  end
  local c = cli.check(k8s.connect(cli.connect_options(opts)))
  local ns = opts.namespace or c.namespace
  cli.check(setup.check_namespace_name(ns))
  local token, expiry = c:token_request(ns, sa, {
    expiration_seconds = opts.duration,
    audiences = (opts.audience and #opts.audience > 0) and opts.audience or nil,
  })
  if not token then cli.raise("failed to create token: " .. tostring(expiry)) end
  local expires = type(expiry) == "number" and os.date("!%Y-%m-%dT%H:%M:%SZ", expiry)
    or tostring(expiry)
  if opts["exec-credential"] then
    io.stdout:write(k8s.json.encode{
      apiVersion = "client.authentication.k8s.io/v1",
      kind = "ExecCredential",
      status = { token = token, expirationTimestamp = expires },
    }, "\n")
    return 0
  end
  if opts.v > 0 then
    io.stderr:write(("token for system:serviceaccount:%s:%s expires %s\n"):format(ns, sa, expires))
  end
  io.stdout:write(token, cli.isatty(1) and "\n" or "")
  return 0
end

cli.main(main)
