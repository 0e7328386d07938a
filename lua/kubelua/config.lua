-- kubelua.config: where to connect and as whom, by client-go's rules.
--
--   local cfg, err = config.load(opts, env)
--
-- opts (all optional): kubeconfig, context, cluster, user, namespace,
-- server, token, certificate_authority, certificate_authority_data,
-- insecure_skip_tls_verify, as, as_groups, as_uid, as_user_extra.
-- certificate_authority is a CA file; certificate_authority_data the PEM
-- text itself (kubeconfig's certificate-authority-data, already decoded;
-- give one of the two). user = false keeps the context's
-- cluster (server, CA, tls-server-name, proxy-url) and takes no credentials
-- (nor impersonation) from the kubeconfig: with token = T, T alone.
-- Unknown keys are ignored, so a caller may pass its own options table
-- through; a known key of the wrong type raises (a programming error).
--
-- env (optional): a table or a function(name) used instead of os.getenv
-- for every environment variable the loading rules read (KUBECONFIG, HOME,
-- PWD, KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, POD_NAMESPACE,
-- KUBELUA_SERVICEACCOUNT_DIR). Lua has no setenv, so tests inject the
-- environment this way. Exec plugins still inherit the real environment.
--
-- Loading rules (client-go tools/clientcmd loader.go, client_config.go,
-- merged_client_builder.go; rest InClusterConfig):
-- 1. opts.kubeconfig: that one file, no merging; a missing file is an error.
-- 2. else $KUBECONFIG, a ':'-separated list (empty entries and duplicates
--    skipped, missing files skipped): merged so that the first file to set
--    a cluster/user/context name wins the whole entry, and the first
--    non-empty current-context wins.
-- 3. else $HOME/.kube/config, when it exists.
-- 4. when that yields nothing usable (no files, or no context, cluster or
--    server chosen): in-cluster config, when KUBERNETES_SERVICE_HOST and
--    KUBERNETES_SERVICE_PORT are set and the service-account token file
--    exists (directory /var/run/secrets/kubernetes.io/serviceaccount, or
--    $KUBELUA_SERVICEACCOUNT_DIR). opts.server alone (no kubeconfig) makes
--    a connection from the arguments.
-- Relative certificate-authority, client-certificate, client-key,
-- tokenFile and exec command (when it holds a '/') resolve against the
-- directory of the file that holds them.
--
-- The result (see the issue's contract):
--   { server, namespace, source, context, cluster_name, user_name,
--     tls = { ca_data, ca_file, insecure, server_name, cert_data, cert_file,
--             key_data, key_file },
--     proxy, impersonate = nil | { user, groups, uid, extra },
--     credentials = kubelua.credentials object }
-- Errors are one-line strings naming the file and the key:
--   'kubeconfig ./kc.yaml: users[0].user.client-key: cannot read /x/key.pem: No such file ...'
-- Every entry of every file is type-checked; only the context, cluster and
-- user in use are checked further (files readable, base64, pairs), as
-- client-go validates only what it uses.
--
-- Credentials (client-go's precedence): token, or tokenFile (re-read on every
-- request; with both, the file's token is used while it reads and token is
-- the fallback), or username/password, or a client certificate; an exec
-- plugin only when none of those is set; auth-provider is refused. A server
-- without https:// gets no credentials at all (client-go reads none).
--
-- Where kubelua deliberately differs from client-go:
-- - token= replaces all of the kubeconfig user's credentials (client-go
--   keeps a client certificate beside --token, and the server then
--   authenticates the certificate and ignores the token);
-- - a context naming a missing user is an error (client-go connects
--   anonymously);
-- - in-cluster also applies namespace=, insecure_skip_tls_verify= and the
--   impersonation options (client-go: only server, token, CA);
-- - tokenFile is re-read on every request (client-go: at most once a
--   minute), so a rotated token is used at once; a read costs ~5 us.
local base64 = require "kubelua.base64"
local credentials = require "kubelua.credentials"
local json = require "kubelua.json"
local yaml = require "kubelua.yaml"

local M = {}

M.SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
M.NO_CONFIGURATION = "no configuration: set KUBECONFIG, create ~/.kube/config, or run in a cluster"
M.EXEC_EXTENSION = "client.authentication.k8s.io/exec"

---------------------------------------------------------------------------
-- paths and files

local function is_abs(p) return p:sub(1, 1) == "/" end

--- Lexically clean a path as Go's filepath.Clean does.
function M.clean_path(p)
  if p == "" then return "." end
  local abs = is_abs(p)
  local out = {}
  for seg in p:gmatch("[^/]+") do
    if seg == ".." then
      if #out > 0 and out[#out] ~= ".." then
        out[#out] = nil
      elseif not abs then
        out[#out + 1] = ".."
      end
    elseif seg ~= "." then
      out[#out + 1] = seg
    end
  end
  local s = table.concat(out, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end
local clean_path = M.clean_path

local function dirname(p)
  local d = p:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

-- resolve p against base (a directory); absolute paths are only cleaned
local function resolve(base, p)
  if is_abs(p) then return clean_path(p) end
  return clean_path(base .. "/" .. p)
end

local function strip_path_prefix(err, path)
  err = tostring(err)
  local prefix = path .. ": "
  if err:sub(1, #prefix) == prefix then return err:sub(#prefix + 1) end
  return err
end

-- whole file: data | nil, reason (the OS's words, without the path)
local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, strip_path_prefix(err, path) end
  local data, rerr = f:read("a")
  f:close()
  if not data then return nil, tostring(rerr) end
  return data
end

-- readable regular content? nil | reason
local function check_readable(path)
  local f, err = io.open(path, "rb")
  if not f then return strip_path_prefix(err, path) end
  local ok, rerr = f:read(0)
  f:close()
  if ok == nil and rerr then return tostring(rerr) end
  return nil
end

local function exists(path)
  local f, err, code = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  return code ~= 2, err -- ENOENT: missing; anything else exists but fails
end

---------------------------------------------------------------------------
-- kubeconfig parsing: every entry type-checked, names indexed

local function is_null(v) return v == nil or v == json.null end

local function is_seq(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  if mt ~= nil then return mt == debug.getregistry()["kubelua.array_mt"] end
  if next(v) == nil then return false end -- {} is an empty mapping
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local function is_map(v)
  return type(v) == "table" and not is_seq(v)
end

local function kind_of(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return is_seq(v) and "sequence" or "mapping" end
  return type(v)
end

-- A parse context: collects the first error with its key path.
local Bad = {}
local function bad(key, msg) error(setmetatable({ key = key, msg = msg }, Bad), 0) end

local function want(m, k, t, path)
  local v = m[k]
  if is_null(v) then return nil end
  local got = kind_of(v)
  if got ~= t then
    -- an empty mapping where a sequence is wanted ("args: {}") is harmless
    if t == "sequence" and got == "mapping" and next(v) == nil then return {} end
    bad(path .. k, ("expected a %s, got a %s"):format(t == "boolean" and "boolean (true/false)"
      or t, got))
  end
  return v
end

local function want_str_list(m, k, path)
  local l = want(m, k, "sequence", path)
  if not l then return nil end
  local out = {}
  for i, v in ipairs(l) do
    if type(v) ~= "string" then
      bad(("%s%s[%d]"):format(path, k, i - 1), "expected a string, got a " .. kind_of(v))
    end
    out[i] = v
  end
  return out
end

local CLUSTER_STR = { "server", "certificate-authority", "certificate-authority-data",
  "tls-server-name", "proxy-url" }
local USER_STR = { "token", "tokenFile", "client-certificate", "client-certificate-data",
  "client-key", "client-key-data", "username", "password", "as", "as-uid" }
local CONTEXT_STR = { "cluster", "user", "namespace" }
local EXEC_STR = { "apiVersion", "command", "installHint", "interactiveMode" }

local function parse_cluster(c, path)
  local out = {}
  for _, k in ipairs(CLUSTER_STR) do out[k] = want(c, k, "string", path) end
  out["insecure-skip-tls-verify"] = want(c, "insecure-skip-tls-verify", "boolean", path)
  want(c, "disable-compression", "boolean", path)
  local exts = want(c, "extensions", "sequence", path)
  if exts then
    for i, e in ipairs(exts) do
      local ep = ("%sextensions[%d]"):format(path, i - 1)
      if not is_map(e) then bad(ep, "expected a mapping, got a " .. kind_of(e)) end
      local name = want(e, "name", "string", ep .. ".")
      if name == M.EXEC_EXTENSION and not is_null(e.extension) then
        out.exec_config = e.extension
      end
    end
  end
  return out
end

local function parse_exec(e, path)
  local out = {}
  for _, k in ipairs(EXEC_STR) do out[k] = want(e, k, "string", path) end
  out.args = want_str_list(e, "args", path) or {}
  out.provideClusterInfo = want(e, "provideClusterInfo", "boolean", path) or false
  out.env = {}
  local env = want(e, "env", "sequence", path)
  for i, kv in ipairs(env or {}) do
    local ep = ("%senv[%d]"):format(path, i - 1)
    if not is_map(kv) then bad(ep, "expected a mapping, got a " .. kind_of(kv)) end
    local name = want(kv, "name", "string", ep .. ".")
    local value = want(kv, "value", "string", ep .. ".")
    out.env[i] = { name = name or "", value = value or "", path = ep }
  end
  return out
end

local function parse_user(u, path)
  local out = {}
  for _, k in ipairs(USER_STR) do out[k] = want(u, k, "string", path) end
  out["as-groups"] = want_str_list(u, "as-groups", path)
  local extra = want(u, "as-user-extra", "mapping", path)
  if extra then
    out["as-user-extra"] = {}
    for k in pairs(extra) do
      out["as-user-extra"][k] = want_str_list(extra, k, path .. "as-user-extra.") or {}
    end
  end
  local exec = want(u, "exec", "mapping", path)
  if exec then out.exec = parse_exec(exec, path .. "exec.") end
  local ap = want(u, "auth-provider", "mapping", path)
  if ap then
    out["auth-provider"] = { name = want(ap, "name", "string", path .. "auth-provider.") or "" }
  end
  return out
end

local function parse_context(c, path)
  local out = {}
  for _, k in ipairs(CONTEXT_STR) do out[k] = want(c, k, "string", path) end
  return out
end

local SECTIONS = {
  { list = "clusters", field = "cluster", parse = parse_cluster },
  { list = "users", field = "user", parse = parse_user },
  { list = "contexts", field = "context", parse = parse_context },
}

-- parse one kubeconfig document into { clusters = {name -> entry}, ... }
local function parse_doc(doc, file)
  local cfg = { clusters = {}, users = {}, contexts = {}, file = file }
  if is_null(doc) then return cfg end
  if not is_map(doc) then
    bad(nil, "expected a mapping at the top level, got a " .. kind_of(doc))
  end
  cfg.current_context = want(doc, "current-context", "string", "")
  for _, sec in ipairs(SECTIONS) do
    local list = want(doc, sec.list, "sequence", "")
    for i, item in ipairs(list or {}) do
      local ip = ("%s[%d]"):format(sec.list, i - 1)
      if not is_map(item) then bad(ip, "expected a mapping, got a " .. kind_of(item)) end
      local name = want(item, "name", "string", ip .. ".")
      if not name or name == "" then bad(ip .. ".name", "missing") end
      local body = want(item, sec.field, "mapping", ip .. ".") or {}
      local path = ip .. "." .. sec.field .. "."
      -- within one file a later entry of the same name replaces an earlier
      -- one (client-go's v1 -> internal conversion fills a map in order)
      cfg[sec.list][name] = { name = name, path = path, file = file,
        data = sec.parse(body, path) }
    end
  end
  return cfg
end

local function errtext(err)
  if type(err) == "table" then
    local mt = getmetatable(err)
    if mt and mt.__tostring then return tostring(err) end
    return tostring(err.message or err.msg or "error")
  end
  return tostring(err)
end

-- load one file: cfg | nil, err | false (missing and allow_missing)
local function load_file(display, abs, allow_missing)
  local text, rerr = read_file(abs)
  if not text then
    if allow_missing and not exists(abs) then return false end
    return nil, ("kubeconfig %s: cannot read: %s"):format(display, rerr)
  end
  local file = { display = display, abs = abs, dir = dirname(abs) }
  if text:match("^%s*$") then return parse_doc(nil, file) end
  local doc, yerr = yaml.decode(text)
  if doc == nil and yerr ~= nil then
    -- a kubeconfig is one document: the YAML API's hint does not apply
    return nil, ("kubeconfig %s: %s"):format(display, (errtext(yerr):gsub("; use decode_all$", "")))
  end
  local ok, res = pcall(parse_doc, doc, file)
  if not ok then
    if getmetatable(res) ~= Bad then error(res, 0) end
    if res.key then return nil, ("kubeconfig %s: %s: %s"):format(display, res.key, res.msg) end
    return nil, ("kubeconfig %s: %s"):format(display, res.msg)
  end
  return res
end

---------------------------------------------------------------------------
-- environment and options

local function getenv_from(env)
  if env == nil then return os.getenv end
  if type(env) == "function" then return env end
  if type(env) == "table" then return function(k) return env[k] end end
  error("config.load: env must be a table or a function", 3)
end

local function nonempty(v)
  if v == nil or v == "" then return nil end
  return v
end

local OPTION_TYPES = { -- also checked by kubelua.client.connect
  kubeconfig = "string", context = "string", cluster = "string", user = "string",
  namespace = "string", server = "string", token = "string",
  certificate_authority = "string", certificate_authority_data = "string",
  insecure_skip_tls_verify = "boolean",
  as = "string", as_groups = "table", as_uid = "string", as_user_extra = "table",
}

M.OPTION_TYPES = OPTION_TYPES

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("config.load: options must be a table", 3) end
  for k, t in pairs(OPTION_TYPES) do
    local v = opts[k]
    if v ~= nil and type(v) ~= t and not (k == "user" and v == false) then
      error(("config.load: option %s must be a %s, got %s"):format(k, t, type(v)), 3)
    end
  end
  return opts
end

-- The CA options' usage errors, whatever the kubeconfig holds (also checked
-- by kubelua.client.connect). The PEM is never echoed: a caller may have
-- passed something else by mistake.
function M.check_ca_options(opts)
  local data = nonempty(opts.certificate_authority_data)
  if nonempty(opts.certificate_authority) and data then
    return "certificate_authority and certificate_authority_data are both given; give one "
      .. "(a CA file or the PEM text)"
  end
  if data and not data:find("-----BEGIN CERTIFICATE-----", 1, true) then
    return "certificate_authority_data: not a PEM certificate (no -----BEGIN CERTIFICATE----- "
      .. "line); give the PEM text itself, not a file name or base64"
  end
  return nil
end

local function cwd(getenv)
  local pwd = getenv("PWD")
  if pwd and is_abs(pwd) then return pwd end
  local p = io.popen("pwd")
  local d = p and p:read("l")
  if p then p:close() end
  return d or "/"
end

---------------------------------------------------------------------------
-- building the connection

-- file: the kubeconfig as the user named it, or "" when only arguments
-- were given (then the message says "no kubeconfig")
local function fail(file, key, msg)
  local where = file ~= "" and ("kubeconfig " .. file) or "no kubeconfig"
  if key then return nil, ("%s: %s: %s"):format(where, key, msg) end
  return nil, ("%s: %s"):format(where, msg)
end

local function decode_b64(file, key, s)
  local data, err = base64.decode((s:gsub("[\r\n]", "")))
  if not data then return fail(file, key, errtext(err)) end
  return data
end

-- server URL: scheme defaulted as client-go's DefaultServerURL does, query
-- and fragment dropped, trailing slashes dropped
local function normalize_server(server, tls_configured)
  local s = server
  if not s:find("^[%a][%w+.-]*://") then
    s = (tls_configured and "https://" or "http://") .. s
  end
  s = s:gsub("[?#].*$", "")
  s = s:gsub("/+$", "")
  return s
end

local PROXY_SCHEMES = { http = true, https = true, socks5 = true }

local function impersonation(u, opts, file, upath)
  local user = nonempty(opts.as) or (u and nonempty(u.as))
  local groups = opts.as_groups or (u and u["as-groups"])
  local uid = nonempty(opts.as_uid) or (u and nonempty(u["as-uid"]))
  local extra = opts.as_user_extra or (u and u["as-user-extra"])
  if groups and #groups == 0 then groups = nil end
  if extra and next(extra) == nil then extra = nil end
  if not user and not groups and not uid and not extra then return nil end
  if not user then
    local key = (opts.as_groups or opts.as_uid or opts.as_user_extra) and nil or upath
    return fail(file, key, "requesting uid, groups or user-extra without impersonating a user "
      .. "(set as)")
  end
  local g = {}
  for i, v in ipairs(groups or {}) do
    if type(v) ~= "string" then error("config.load: as_groups must hold strings", 4) end
    g[i] = v
  end
  local x
  if extra then
    x = {}
    for k, v in pairs(extra) do
      if type(v) == "string" then v = { v } end
      if type(k) ~= "string" or type(v) ~= "table" then
        error("config.load: as_user_extra must map strings to lists of strings", 4)
      end
      local l = {}
      for i, s in ipairs(v) do l[i] = s end
      x[k] = l
    end
  end
  return { user = user, groups = #g > 0 and g or nil, uid = uid, extra = x }
end

-- the in-cluster configuration (rest.InClusterConfig plus clientcmd's
-- inClusterClientConfig overrides: server, token, certificate authority;
-- also namespace, insecure and impersonation)
local function in_cluster_possible(getenv)
  local dir = nonempty(getenv("KUBELUA_SERVICEACCOUNT_DIR")) or M.SERVICEACCOUNT_DIR
  if not nonempty(getenv("KUBERNETES_SERVICE_HOST")) or
    not nonempty(getenv("KUBERNETES_SERVICE_PORT")) then
    return false
  end
  local f = io.open(dir .. "/token", "rb")
  if not f then return false end
  local ok, rerr = f:read(0)
  f:close()
  return not (ok == nil and rerr ~= nil), dir
end

local function in_cluster(opts, getenv, dir)
  local host = getenv("KUBERNETES_SERVICE_HOST")
  local port = getenv("KUBERNETES_SERVICE_PORT")
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  local cfg = { source = "in-cluster", tls = { insecure = false } }
  cfg.server = normalize_server(nonempty(opts.server) or ("https://" .. host .. ":" .. port), true)
  local token_path = dir .. "/token"
  if nonempty(opts.token) then
    cfg.credentials = credentials.new({ kind = "token", token = opts.token, origin = "arguments" })
  else
    local tok, err = read_file(token_path)
    if not tok then
      return nil, ("in-cluster config: cannot read %s: %s"):format(token_path, err)
    end
    cfg.credentials = credentials.new({ kind = "token_file", token = tok:gsub("%s+$", ""),
      token_file = token_path, origin = "in-cluster" })
  end
  if nonempty(opts.certificate_authority) then
    cfg.tls.ca_file = opts.certificate_authority
    local reason = check_readable(cfg.tls.ca_file)
    if reason then
      return nil, ("in-cluster config: certificate_authority: cannot read %s: %s"):format(
        cfg.tls.ca_file, reason)
    end
    if opts.insecure_skip_tls_verify then
      return nil, "in-cluster config: certificate_authority: specifying a root certificates "
        .. "file with the insecure flag is not allowed"
    end
  elseif nonempty(opts.certificate_authority_data) then
    cfg.tls.ca_data = opts.certificate_authority_data
    if opts.insecure_skip_tls_verify then
      return nil, "in-cluster config: certificate_authority_data: specifying a root certificates "
        .. "file with the insecure flag is not allowed"
    end
  elseif opts.insecure_skip_tls_verify then
    cfg.tls.insecure = true
  elseif not check_readable(dir .. "/ca.crt") then
    -- client-go uses ca.crt only when it loads, else the system roots
    cfg.tls.ca_file = dir .. "/ca.crt"
  end
  local ns = nonempty(opts.namespace) or nonempty(getenv("POD_NAMESPACE"))
  if not ns then
    local data = read_file(dir .. "/namespace")
    ns = data and nonempty((data:gsub("^%s+", ""):gsub("%s+$", ""))) or "default"
  end
  cfg.namespace = ns
  local imp, ierr = impersonation(nil, opts, "in-cluster", nil)
  if ierr then return nil, (ierr:gsub("^kubeconfig in%-cluster: ", "in-cluster config: ")) end
  cfg.impersonate = imp
  return cfg
end

-- the exec plugin's spec.cluster (client-go ConfigToExecCluster)
local function exec_cluster(cfg, exec_config)
  return function()
    local c = { server = cfg.server }
    local ca = cfg.tls.ca_data
    if not ca and cfg.tls.ca_file then
      local data, err = read_file(cfg.tls.ca_file)
      if not data then
        return nil, ("cannot read certificate-authority %s: %s"):format(cfg.tls.ca_file, err)
      end
      ca = data
    end
    if ca then c["certificate-authority-data"] = base64.encode(ca) end
    if cfg.tls.insecure then c["insecure-skip-tls-verify"] = true end
    c["tls-server-name"] = cfg.tls.server_name
    c["proxy-url"] = cfg.proxy
    c.config = exec_config
    return c
  end
end

-- The cluster or user in use (field: "cluster" or "user"): the one the
-- option names (kubectl's --cluster/--user), else the context's. Returns
-- entry, name; false when neither names one; nil, err when the name is not
-- in the merged config.
local function pick(merged, where, ctx, field, opt)
  local entries = merged[field .. "s"]
  if nonempty(opt) then
    if not entries[opt] then
      return fail(where, nil, ('%s "%s" not found'):format(field, opt))
    end
    return entries[opt], opt
  end
  local name = ctx and nonempty(ctx.data[field])
  if not name then return false end
  if not entries[name] then
    return fail(ctx.file.display, ctx.path .. field, ('%s "%s" not found'):format(field, name))
  end
  return entries[name], name
end

local function build(merged, files, opts)
  local all = {}
  for i, f in ipairs(files) do all[i] = f.display end
  local where = table.concat(all, ":")

  -- context
  local ctx, ctx_name
  if nonempty(opts.context) then
    ctx_name = opts.context
    ctx = merged.contexts[ctx_name]
    if not ctx then
      return fail(where, nil, ('context "%s" not found'):format(ctx_name))
    end
  elseif nonempty(merged.current_context) then
    ctx_name = merged.current_context
    ctx = merged.contexts[ctx_name]
    if not ctx then
      return fail(merged.current_context_file.display, nil,
        ('context "%s" not found (current-context)'):format(ctx_name))
    end
  end
  local cd = ctx and ctx.data or {}

  -- cluster
  local cluster, cluster_name = pick(merged, where, ctx, "cluster", opts.cluster)
  if cluster == nil then return nil, cluster_name end
  cluster = cluster or nil
  if not cluster and not nonempty(opts.server) then
    if ctx then return fail(ctx.file.display, ctx.path .. "cluster", "not set") end
    return false -- nothing chosen: the caller tries in-cluster
  end

  -- user
  -- user = false: the context's cluster, no credentials from the kubeconfig
  local user, user_name
  if opts.user ~= false then
    user, user_name = pick(merged, where, ctx, "user", opts.user)
    if user == nil then return nil, user_name end
    user = user or nil
  end

  local cfg = {
    source = #files == 1 and files[1].abs or nil,
    context = ctx_name, cluster_name = cluster_name, user_name = user_name,
    tls = { insecure = false },
  }
  if #files > 1 then
    local abs = {}
    for i, f in ipairs(files) do abs[i] = f.abs end
    cfg.source = table.concat(abs, ":")
  elseif #files == 0 then
    cfg.source = "arguments"
  end

  -- cluster settings
  local c = cluster and cluster.data or {}
  local cfile = cluster and cluster.file.display
  local cpath = cluster and cluster.path
  local cdir = cluster and cluster.file.dir
  local server = nonempty(opts.server) or nonempty(c.server)
  if not server then return fail(cfile, cpath .. "server", "not set") end

  local tls = cfg.tls
  local ca_file = nonempty(c["certificate-authority"])
  local ca_data = nonempty(c["certificate-authority-data"])
  local insecure = c["insecure-skip-tls-verify"] or false
  if nonempty(opts.certificate_authority) then
    -- an explicit CA replaces the kubeconfig's CA and insecure setting
    tls.ca_file = opts.certificate_authority
    local reason = check_readable(tls.ca_file)
    if reason then
      return fail(where, "certificate_authority",
        ("cannot read %s: %s"):format(tls.ca_file, reason))
    end
    tls.insecure = opts.insecure_skip_tls_verify or false
    if tls.insecure then
      return fail(where, "certificate_authority",
        "specifying a root certificates file with the insecure flag is not allowed")
    end
  elseif nonempty(opts.certificate_authority_data) then
    -- the same, with the PEM in memory
    if opts.insecure_skip_tls_verify then
      return fail(where, "certificate_authority_data",
        "specifying a root certificates file with the insecure flag is not allowed")
    end
    tls.ca_data = opts.certificate_authority_data
  elseif opts.insecure_skip_tls_verify then
    -- kubectl --insecure-skip-tls-verify: drop the kubeconfig's CA
    tls.insecure = true
  else
    if ca_file and ca_data then
      return fail(cfile, cpath .. "certificate-authority-data",
        "certificate-authority and certificate-authority-data are both set; keep one")
    end
    if insecure and (ca_file or ca_data) then
      return fail(cfile, cpath .. "insecure-skip-tls-verify",
        "specifying a root certificates file with the insecure flag is not allowed")
    end
    if ca_file then
      ca_file = resolve(cdir, ca_file)
      local reason = check_readable(ca_file)
      if reason then
        return fail(cfile, cpath .. "certificate-authority",
          ("cannot read %s: %s"):format(ca_file, reason))
      end
      tls.ca_file = ca_file
    elseif ca_data then
      local data, err = decode_b64(cfile, cpath .. "certificate-authority-data", ca_data)
      if not data then return nil, err end
      tls.ca_data = data
    end
    tls.insecure = insecure
  end
  -- --server without --tls-server-name clears the kubeconfig's server name
  if not nonempty(opts.server) then tls.server_name = nonempty(c["tls-server-name"]) end

  local proxy = nonempty(c["proxy-url"])
  if proxy then
    local scheme = proxy:match("^([%a][%w+.-]*)://")
    if not scheme or not PROXY_SCHEMES[scheme:lower()] then
      return fail(cfile, cpath .. "proxy-url", ('unsupported scheme %q, must be http, https, '
        .. 'or socks5'):format(scheme or ""))
    end
    cfg.proxy = proxy
  end

  -- user settings
  local u = user and user.data or {}
  local ufile = user and user.file.display or where
  local upath = user and user.path or ""
  local udir = user and user.file.dir

  if u["auth-provider"] then
    return fail(ufile, upath .. "auth-provider", ('auth-provider "%s" is not supported; use an '
      .. "exec credential plugin"):format(u["auth-provider"].name))
  end

  -- token= is the credential: the kubeconfig user's other credentials are
  -- dropped. (client-go keeps a client certificate next to a --token, and
  -- the server then authenticates the certificate: the token is silently
  -- ignored. A tokenFile would likewise win over the flag.)
  if nonempty(opts.token) then
    u = { exec = u.exec, as = u.as, ["as-groups"] = u["as-groups"], ["as-uid"] = u["as-uid"],
      ["as-user-extra"] = u["as-user-extra"] }
  end
  local token = nonempty(opts.token) or nonempty(u.token)
  local token_file = nonempty(u.tokenFile)
  if token_file then token_file = resolve(udir, token_file) end
  local username, password = nonempty(u.username), nonempty(u.password)
  if token and (username or password) then
    return fail(ufile, upath ~= "" and (upath .. "username") or nil,
      "more than one authentication method found: token and username/password; only one is "
      .. "allowed")
  end

  -- client certificate: both or neither
  local cert_file = nonempty(u["client-certificate"])
  local cert_data = nonempty(u["client-certificate-data"])
  local key_file, key_data = nonempty(u["client-key"]), nonempty(u["client-key-data"])
  if cert_file and cert_data then
    return fail(ufile, upath .. "client-certificate-data",
      "client-certificate and client-certificate-data are both set; keep one")
  end
  if key_file and key_data then
    return fail(ufile, upath .. "client-key-data",
      "client-key and client-key-data are both set; keep one")
  end
  if (cert_file or cert_data) and not (key_file or key_data) then
    return fail(ufile, upath .. "client-key",
      "client-certificate is set but client-key and client-key-data are not; a client "
      .. "certificate needs its key")
  end
  if (key_file or key_data) and not (cert_file or cert_data) then
    return fail(ufile, upath .. "client-certificate",
      "client-key is set but client-certificate and client-certificate-data are not; a client "
      .. "key needs its certificate")
  end
  local has_cert = (cert_file or cert_data) ~= nil
  if has_cert then
    for _, f in ipairs({ { "client-certificate", cert_file, "cert_file" },
      { "client-key", key_file, "key_file" } }) do
      if f[2] then
        local p = resolve(udir, f[2])
        local reason = check_readable(p)
        if reason then
          return fail(ufile, upath .. f[1], ("cannot read %s: %s"):format(p, reason))
        end
        tls[f[3]] = p
      end
    end
    for _, f in ipairs({ { "client-certificate-data", cert_data, "cert_data" },
      { "client-key-data", key_data, "key_data" } }) do
      if f[2] then
        local data, err = decode_b64(ufile, upath .. f[1], f[2])
        if not data then return nil, err end
        tls[f[3]] = data
      end
    end
  end

  -- exec plugin: checked whenever present, used only when nothing else is
  local exec
  if u.exec then
    local e, ep = u.exec, upath .. "exec."
    if not nonempty(e.command) then return fail(ufile, ep .. "command", "not set") end
    if not nonempty(e.apiVersion) then return fail(ufile, ep .. "apiVersion", "not set") end
    if not credentials.EXEC_API_VERSIONS[e.apiVersion] then
      return fail(ufile, ep .. "apiVersion", ('exec plugin: invalid apiVersion "%s" (want '
        .. "client.authentication.k8s.io/v1 or v1beta1)"):format(e.apiVersion))
    end
    for _, kv in ipairs(e.env) do
      if kv.name == "" then return fail(ufile, kv.path .. ".name", "not set") end
      if kv.name:find("=", 1, true) then
        return fail(ufile, kv.path .. ".name", ("%q holds '='"):format(kv.name))
      end
    end
    local mode = nonempty(e.interactiveMode)
    if not mode then
      if e.apiVersion == "client.authentication.k8s.io/v1" then
        return fail(ufile, ep .. "interactiveMode",
          "must be set for client.authentication.k8s.io/v1 (Never, IfAvailable or Always)")
      end
      mode = "IfAvailable"
    elseif mode ~= "Never" and mode ~= "IfAvailable" and mode ~= "Always" then
      return fail(ufile, ep .. "interactiveMode",
        ('invalid interactiveMode "%s" (want Never, IfAvailable or Always)'):format(mode))
    end
    -- the plugin runs through /bin/sh, whose words cannot hold a NUL
    if e.command:find("%z") then return fail(ufile, ep .. "command", "holds a NUL byte") end
    for i, a in ipairs(e.args) do
      if a:find("%z") then
        return fail(ufile, ("%sargs[%d]"):format(ep, i - 1), "holds a NUL byte")
      end
    end
    for _, kv in ipairs(e.env) do
      if (kv.name .. kv.value):find("%z") then
        return fail(ufile, kv.path, "holds a NUL byte")
      end
    end
    local command = e.command
    if command:find("/", 1, true) then command = resolve(udir, command) end
    local env = {}
    for i, kv in ipairs(e.env) do env[i] = { name = kv.name, value = kv.value } end
    exec = { command = command, args = e.args, env = env, api_version = e.apiVersion,
      install_hint = e.installHint, provide_cluster_info = e.provideClusterInfo,
      interactive_mode = mode }
  end

  -- server URL and whether credentials are sent at all
  local tls_configured = tls.ca_file or tls.ca_data or tls.cert_file or tls.cert_data or
    tls.insecure
  cfg.server = normalize_server(server, tls_configured)
  local secure = cfg.server:lower():find("^https://") ~= nil

  local spec
  local origin = nonempty(opts.token) and "arguments" or "kubeconfig"
  if not secure then
    -- client-go reads no auth information for a plain-http server
    spec = { kind = "none", note = "plain http: credentials are not sent" }
    cfg.tls = { insecure = false }
  elseif token_file and not token then
    local data, err = read_file(token_file)
    if not data then
      return fail(ufile, upath .. "tokenFile", ("cannot read %s: %s"):format(token_file, err))
    end
    local tok = data:gsub("^%s+", ""):gsub("%s+$", "")
    if tok == "" then return fail(ufile, upath .. "tokenFile", token_file .. " is empty") end
    spec = { kind = "token_file", token = tok, token_file = token_file }
  elseif token_file then
    -- client-go: the file's token is used when readable, token is the fallback
    spec = { kind = "token_file", token = token, token_file = token_file }
  elseif token then
    spec = { kind = "token", token = token, origin = origin }
  elseif username or password then
    spec = { kind = "basic", username = username or "", password = password or "" }
  elseif has_cert then
    spec = { kind = "cert" }
  elseif exec then
    exec.cluster_info = exec_cluster(cfg, cluster and c.exec_config)
    spec = { kind = "exec", exec = exec }
  else
    spec = { kind = "none" }
  end
  spec.origin = spec.origin or "kubeconfig"
  cfg.credentials = credentials.new(spec)

  local imp, ierr = impersonation(u, opts, ufile, upath ~= "" and (upath .. "as") or nil)
  if ierr then return nil, ierr end
  cfg.impersonate = imp

  cfg.namespace = nonempty(opts.namespace) or nonempty(cd.namespace) or "default"
  return cfg
end

local function merge(cfgs)
  local merged = { clusters = {}, users = {}, contexts = {} }
  for _, c in ipairs(cfgs) do
    for _, sec in ipairs({ "clusters", "users", "contexts" }) do
      for name, entry in pairs(c[sec]) do
        if merged[sec][name] == nil then merged[sec][name] = entry end
      end
    end
    if not merged.current_context and nonempty(c.current_context) then
      merged.current_context = c.current_context
      merged.current_context_file = c.file
    end
  end
  return merged
end

local function is_empty(merged)
  return next(merged.clusters) == nil and next(merged.users) == nil and
    next(merged.contexts) == nil and not merged.current_context
end

--- Load the connection settings. See the top of this file.
--- @return table|nil cfg, string|nil err
function M.load(opts, env)
  opts = check_opts(opts)
  local getenv = getenv_from(env)
  local usage = M.check_ca_options(opts)
  if usage then return nil, usage end
  local here

  local function absolute(p)
    if is_abs(p) then return clean_path(p) end
    here = here or cwd(getenv)
    return clean_path(here .. "/" .. p)
  end

  local files, cfgs, missing = {}, {}, {}
  local kubeconfig_env
  if nonempty(opts.kubeconfig) then
    local abs = absolute(opts.kubeconfig)
    local c, err = load_file(opts.kubeconfig, abs, false)
    if not c then return nil, err end
    files[1], cfgs[1] = c.file, c
  else
    kubeconfig_env = nonempty(getenv("KUBECONFIG"))
    local list = {}
    if kubeconfig_env then
      local seen = {}
      for entry in (kubeconfig_env .. ":"):gmatch("([^:]*):") do
        if entry ~= "" and not seen[entry] then
          seen[entry] = true
          list[#list + 1] = entry
        end
      end
    else
      local home = nonempty(getenv("HOME"))
      if home then list[1] = home:gsub("/+$", "") .. "/.kube/config" end
    end
    for _, entry in ipairs(list) do
      local c, err = load_file(entry, absolute(entry), true)
      if c == nil then return nil, err end
      if c then
        files[#files + 1], cfgs[#cfgs + 1] = c.file, c
      else
        missing[#missing + 1] = entry
      end
    end
  end

  local merged = merge(cfgs)
  local unchosen = false
  if not is_empty(merged) or nonempty(opts.server) then
    local result, err = build(merged, files, opts)
    if result == nil then return nil, err end
    if result then return result end
    unchosen = true
  end
  local possible, dir = in_cluster_possible(getenv)
  if possible then return in_cluster(opts, getenv, dir) end
  if unchosen then
    return nil, ("kubeconfig %s: no context chosen: current-context is not set and no context= "
      .. "given"):format(files[1].display)
  end
  if nonempty(opts.kubeconfig) then
    return nil, ("kubeconfig %s: the file has no contexts, clusters or users"):format(
      opts.kubeconfig)
  end
  if kubeconfig_env and #missing > 0 then
    return nil, ("no configuration: none of the KUBECONFIG files exist (%s), and not running in "
      .. "a cluster"):format(table.concat(missing, ", "))
  end
  return nil, M.NO_CONFIGURATION
end

return M
