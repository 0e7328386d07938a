-- kubelua.client: connect, and the one door every API request goes through.
--
-- c:request{...} adds credentials (Authorization from the kubeconfig user,
-- refreshed once after a 401), impersonation headers, User-Agent and Accept;
-- encodes the query and a table body; retries what is safe to retry with
-- capped exponential backoff and jitter; turns a non-2xx answer into an
-- error object (kubelua.errors); and logs at verbosity 6/7/8/9 with every
-- secret masked (kubelua.log). Requests go through kubelua.async, so inside
-- k8s.parallel they run concurrently and outside they block.
--
-- A refused connection or a host that does not resolve fails fast, as with
-- kubectl: one retry after 0.1 s, then the error. 429, 5xx and dropped or
-- reset connections keep the backoff retries (retries.max attempts).
--
-- connect{ user = false, token = T }: the context's cluster (server, CA,
-- tls-server-name, proxy-url) with no credentials from the kubeconfig: T
-- alone authenticates (a service account's token, checked as itself).
--
-- Secrets a client carries (its token, client key, proxy password) are
-- registered with kubelua.log once, owned by the client: masked while it
-- lives, dropped from the registry when it is collected.
local errors = require "kubelua.errors"
local log = require "kubelua.log"

local M = {}

M.VERSION = require "kubelua.version" -- CMake's PROJECT_VERSION, via the host
M.USER_AGENT = "kubelua/" .. M.VERSION

local Client = { __name = "kubelua.Client" }
Client.__index = Client
M.Client = Client

-- kubelua.async and kubelua.json are loaded on first use: the pure helpers
-- here (query encoding, backoff, should_retry) load and test without them
local function async() return require "kubelua.async" end
local function json() return require "kubelua.json" end

--- Monotonic seconds (a float), the clock of request latencies and deadlines.
local function now() return async().now() end
M.now = now

-- ------------------------------------------------------------ URL helpers

--- Percent-encodes a query component (RFC 3986 unreserved kept).
function M.escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- Percent-encodes one path segment (keeps pchar characters such as ':').
function M.escape_segment(s)
  return (tostring(s):gsub("[^%w%-%._~:@!$&'()*+,;=]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

--- Encodes a query table: keys sorted; a list value repeats the key;
--- booleans become true/false; nil/false-y json.null values are skipped.
--- @return string|nil, table|nil err
function M.encode_query(q)
  if q == nil then return "" end
  if type(q) == "string" then return q end
  if type(q) ~= "table" then return nil, errors.usage("query must be a table, got " .. type(q)) end
  local keys = {}
  for k in pairs(q) do
    if type(k) ~= "string" then
      return nil, errors.usage("query keys must be strings, got " .. type(k))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    local vals = type(v) == "table" and v or { v }
    for _, x in ipairs(vals) do
      local tx = type(x)
      if tx == "boolean" then x = tostring(x)
      elseif tx == "number" then
        x = math.type(x) == "float" and x == math.floor(x) and ("%d"):format(x) or tostring(x)
      elseif tx ~= "string" then
        return nil, errors.usage(("query value for %q must be a string, number or boolean, got %s")
          :format(k, tx))
      end
      parts[#parts + 1] = M.escape(k) .. "=" .. M.escape(x)
    end
  end
  return table.concat(parts, "&")
end

--- Splits a server URL into scheme, host (IPv6 kept in brackets), port, path.
function M.parse_url(url)
  if type(url) ~= "string" then return nil end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  scheme = scheme:lower()
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  authority = authority:gsub("^.*@", "")
  local host, port = authority:match("^(%[[^%]]+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host or host == "" then return nil end
  if port == "" then port = scheme == "https" and "443" or "80" end
  return { scheme = scheme, host = host, port = port, path = path }
end

-- ---------------------------------------------------------------- backoff

-- max counts attempts: client-go's first try plus its 10 retries
-- (rest.Request's maxRetries). Fewer is not enough under load: with 20% of
-- answers 429/5xx, five attempts fail one request in 3,125, and a batch of
-- 50 namespaces sends ~700 requests, so one run in five lost a namespace.
M.DEFAULT_RETRIES = { max = 11, base = 0.2, cap = 5 }

--- Seconds to wait before retry number `attempt` (1 = the first retry):
--- min(cap, base * 2^(attempt-1)) with equal jitter (half fixed, half
--- random), or the server's Retry-After (capped) with up to 20% added.
--- `rand` is math.random unless given (tests pass a fixed one).
function M.backoff(policy, attempt, retry_after, rand)
  rand = rand or math.random
  local cap = policy.cap or M.DEFAULT_RETRIES.cap
  if retry_after and retry_after > 0 then
    local d = math.min(cap, retry_after)
    return d * (1 + 0.2 * rand())
  end
  local d = math.min(cap, (policy.base or M.DEFAULT_RETRIES.base) * 2 ^ (attempt - 1))
  return d / 2 + (d / 2) * rand()
end

-- CURLcode names: the request never reached the server (safe to resend any
-- request), or it may have (resend only what is idempotent or recognisable)
local not_sent = {
  COULDNT_CONNECT = true, COULDNT_RESOLVE_HOST = true, COULDNT_RESOLVE_PROXY = true,
  SSL_CONNECT_ERROR = true,
}
-- of those, a server that is not there (refused, or a name that does not
-- resolve) fails fast, as with kubectl/client-go: one quick retry (a server
-- that is just restarting), then the error
local fail_fast = { COULDNT_CONNECT = true, COULDNT_RESOLVE_HOST = true }
M.FAIL_FAST_DELAY = 0.1 -- seconds before that one retry
local maybe_sent = {
  GOT_NOTHING = true, SEND_ERROR = true, RECV_ERROR = true, PARTIAL_FILE = true,
  HTTP2 = true, HTTP2_STREAM = true,
}
local curl_by_code = {
  [6] = "COULDNT_RESOLVE_HOST", [5] = "COULDNT_RESOLVE_PROXY", [7] = "COULDNT_CONNECT",
  [35] = "SSL_CONNECT_ERROR", [52] = "GOT_NOTHING", [55] = "SEND_ERROR", [56] = "RECV_ERROR",
  [18] = "PARTIAL_FILE", [16] = "HTTP2", [92] = "HTTP2_STREAM", [28] = "OPERATION_TIMEDOUT",
  [60] = "PEER_FAILED_VERIFICATION",
}

local function curl_name(err)
  return err.curl or curl_by_code[err.code]
end

--- Is err a refused connection or a host that does not resolve?
function M.fails_fast(err)
  return type(err) == "table" and err.kind == "transport" and fail_fast[curl_name(err)] == true
end

--- Is the request safe to send twice? (json-patch is not: "add" appends.)
local function idempotent(req)
  local m = req.method
  if m == "GET" or m == "HEAD" or m == "PUT" or m == "DELETE" or m == "OPTIONS" then return true end
  if m == "PATCH" then return req.content_type ~= "application/json-patch+json" end
  return false
end

--- Decides whether a failed attempt is retried. Returns retry?, ambiguous?
--- (ambiguous: the server may have acted on it). client-go's rule first
--- (rest/with_retry.go checkWait): 429, and any 5xx that carries a
--- Retry-After header, are retried whatever the verb, POST included — the
--- server asked for it. Beyond client-go, a 5xx without Retry-After (501
--- aside) and a connection that failed after the request may have been sent
--- are retried when that is safe: idempotent verbs, and a POST unless it
--- creates with generateName only (a named create that meets AlreadyExists
--- is recognised, reviews and TokenRequests are not stored). A connection
--- that never reached the server is retried for every request — but a
--- refused connection or a host that does not resolve only once, after
--- M.FAIL_FAST_DELAY: `attempt` is the number of the failed attempt (1 =
--- the first; nil counts as 1), and the third result, when set, is the
--- delay to wait instead of the backoff.
function M.should_retry(req, err, attempt)
  local safe = idempotent(req) or (req.method == "POST" and not req.generate_name)
  if err.kind == "transport" then
    local name = curl_name(err)
    if fail_fast[name] then
      if (attempt or 1) < 2 then return true, false, M.FAIL_FAST_DELAY end
      return false, false
    end
    if not_sent[name] then return true, false end
    if maybe_sent[name] then return safe, true end
    return false, false
  elseif err.kind == "api" then
    local code = err.code
    if code == 429 then return true, false end
    if code >= 500 and code <= 599 then
      if err.retry_after_header then return true, true end
      if code ~= 501 then return safe, true end
    end
  end
  return false, false
end

-- -------------------------------------------------------------- time

--- Whole seconds since the epoch of an RFC 3339 time ("2024-05-01T10:00:00Z",
--- offsets and fractions accepted; fractions dropped), or nil. The parser is
--- kubelua.credentials' (exec plugins' expirationTimestamp).
function M.parse_time(s)
  local t = require("kubelua.credentials").parse_rfc3339(s)
  return t and math.floor(t)
end

-- ---------------------------------------------------------------- connect

local reason_phrase = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [410] = "Gone",
  [415] = "Unsupported Media Type", [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

local config_keys = {
  kubeconfig = true, context = true, cluster = true, user = true, namespace = true,
  server = true, token = true, certificate_authority = true, certificate_authority_data = true,
  insecure_skip_tls_verify = true, as = true, as_groups = true, as_uid = true,
  as_user_extra = true,
}
local client_keys = { verbose = true, retries = true, timeout = true, connect_timeout = true,
  user_agent = true }

local warned_insecure = false

local function check_number(name, v, lo, hi)
  if v == nil then return true end
  if type(v) ~= "number" or v ~= v or v < lo or (hi and v > hi) then
    return nil, errors.usage(("connect: %s must be a number%s, got %s"):format(name,
      hi and (" from %s to %s"):format(lo, hi) or (" >= %s"):format(lo), tostring(v)))
  end
  return true
end

--- Connects (loads the kubeconfig; no request is made). Options: the
--- kubeconfig overrides of kubelua.config (kubeconfig, context, cluster, user,
--- namespace, server, token, certificate_authority (a CA file),
--- certificate_authority_data (the CA's PEM text, not base64),
--- insecure_skip_tls_verify, as, as_groups, as_uid, as_user_extra;
--- user = false: the context's cluster (server, CA, tls-server-name,
--- proxy-url) with no credentials from the kubeconfig, e.g. { user = false,
--- token = T } authenticates with T alone) and client settings: verbose (0..10),
--- retries = { max (attempts, default 11), base (first backoff, 0.2 s), cap
--- (longest wait, 5 s) }, timeout and connect_timeout (seconds),
--- user_agent.
--- @return table|nil client, table|nil err
function M.connect(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    return nil, errors.usage("connect: options must be a table, got " .. type(opts))
  end
  local load = {}
  for k, v in pairs(opts) do
    if config_keys[k] then load[k] = v
    elseif not client_keys[k] then
      return nil, errors.usage(("connect: unknown option %q"):format(tostring(k)))
    end
  end
  -- the kubeconfig overrides' types, checked here so that a wrong one is
  -- an error naming connect (config.load raises on them)
  local config = require "kubelua.config"
  local names = {}
  for k in pairs(load) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    local v, want = load[k], config.OPTION_TYPES[k]
    local bad = type(v) ~= want and not (k == "user" and v == false)
    if not bad and k == "as_groups" then bad = not M.is_string_list(v) end
    if not bad and k == "as_user_extra" then
      for ek, ev in pairs(v) do
        if type(ek) ~= "string" or not (type(ev) == "string" or M.is_string_list(ev)) then
          bad = true
        end
      end
    end
    if bad then
      local words = { as_groups = "a list of strings",
        as_user_extra = "a table of name = string or list of strings",
        boolean = "a boolean", string = "a string" }
      return nil, errors.usage(("connect: %s must be %s, got %s"):format(k,
        words[k] or words[want], type(v)))
    end
  end
  local ca_usage = config.check_ca_options(load)
  if ca_usage then return nil, errors.usage("connect: " .. ca_usage) end
  local ok, err = check_number("verbose", opts.verbose, 0, 10)
  if ok then ok, err = check_number("timeout", opts.timeout, 0) end
  if ok then ok, err = check_number("connect_timeout", opts.connect_timeout, 0) end
  if not ok then return nil, err end
  local retries = {}
  for k, v in pairs(M.DEFAULT_RETRIES) do retries[k] = v end
  if opts.retries ~= nil then
    if type(opts.retries) ~= "table" then
      return nil, errors.usage("connect: retries must be a table { max, base, cap }")
    end
    for k, v in pairs(opts.retries) do
      if retries[k] == nil then
        return nil, errors.usage(("connect: unknown retries option %q"):format(tostring(k)))
      end
      ok, err = check_number("retries." .. k, v, k == "max" and 1 or 0)
      if not ok then return nil, err end
      retries[k] = v
    end
  end

  local okl, cfg, cerr = pcall(config.load, load)
  if not okl then
    return nil, errors.config("cannot load the kubeconfig: " .. tostring(cfg))
  end
  if not cfg then
    if errors.is_error(cerr) then return nil, cerr end
    return nil, errors.config(tostring(cerr or "cannot load the kubeconfig"))
  end
  return M.new(cfg, {
    verbose = opts.verbose, retries = retries, timeout = opts.timeout,
    connect_timeout = opts.connect_timeout, user_agent = opts.user_agent,
  })
end

-- The secrets of a client's config, out of its fields (as credentials.lua
-- keeps tokens): c.config -> { key_data, proxy }. A script that prints
-- json.encode(c.config) or walks it shows no client key and no proxy
-- password; the client reads them from here.
local private = setmetatable({}, { __mode = "k" })

local REDACTED = "REDACTED" -- kubectl config view's word for a hidden value

--- The proxy URL with its password replaced by REDACTED (nil stays nil).
function M.redact_proxy(url)
  if type(url) ~= "string" then return url end
  return (url:gsub("^(%a[%w+.-]*://[^/@:]*:)[^/@]*@", "%1" .. REDACTED .. "@"))
end

-- The config a client exposes: a copy of cfg whose tls has no key_data and
-- whose proxy has no password; the originals go to `private`.
local function public_config(cfg)
  local pub, tls = {}, {}
  for k, v in pairs(cfg) do pub[k] = v end
  for k, v in pairs(type(cfg.tls) == "table" and cfg.tls or {}) do tls[k] = v end
  local hidden = { key_data = tls.key_data, proxy = cfg.proxy }
  tls.key_data = nil
  pub.tls = tls
  pub.proxy = M.redact_proxy(cfg.proxy)
  private[pub] = hidden
  return pub
end

--- The client's secret config values (the client key, the proxy URL with
--- its password): for kubelua's own use, never printed.
function Client:_secret_config()
  local hidden = private[self.config]
  local cfg = self.config or {}
  if hidden then
    return { key_data = hidden.key_data, proxy = hidden.proxy }
  end
  -- a config replaced by the caller: its own fields
  return { key_data = cfg.tls and cfg.tls.key_data, proxy = cfg.proxy }
end

--- Builds a client from a loaded config (kubelua.config's shape). c.config
--- is a copy without the secrets (tls.key_data is absent, a proxy password
--- reads REDACTED); cfg itself is not changed.
function M.new(cfg, settings)
  settings = settings or {}
  local server = tostring(cfg.server or ""):gsub("/+$", "")
  local u = M.parse_url(server)
  if not u then
    return nil, errors.config(("server %q is not a URL (scheme://host:port)"):format(server))
  end
  local tls = cfg.tls or {}
  local c = setmetatable({
    server = server,
    namespace = (cfg.namespace and cfg.namespace ~= "") and cfg.namespace or "default",
    config = public_config(cfg),
    retries = settings.retries or M.DEFAULT_RETRIES,
    verbose = settings.verbose,
    timeout = settings.timeout,
    connect_timeout = settings.connect_timeout or 10,
    user_agent = settings.user_agent or M.USER_AGENT,
    _base = server,
    _warned = {},
    _discovery = {},
  }, Client)
  -- the client's secrets are masked in logs while it lives
  if type(tls.key_data) == "string" then log.add_secret(tls.key_data, c) end
  -- tls-server-name: ask curl for that name (SNI and verification) while
  -- connecting to the real address
  if tls.server_name and tls.server_name ~= "" and u.scheme == "https"
    and tls.server_name ~= u.host then
    c._base = ("https://%s:%s%s"):format(tls.server_name, u.port, u.path)
    c._connect_to = { ("%s:%s:%s:%s"):format(tls.server_name, u.port, u.host, u.port) }
  end
  -- a proxy-url may carry user:password (curl sends Proxy-Authorization)
  local proxy_password = type(cfg.proxy) == "string"
    and cfg.proxy:match("^%a[%w+.-]*://[^/@]-:([^/@]*)@")
  if proxy_password and proxy_password ~= "" then
    log.add_secret(proxy_password, c)
    log.add_secret((proxy_password:gsub("%%(%x%x)", function(x)
      return string.char(tonumber(x, 16))
    end)), c)
  end
  if tls.insecure and not warned_insecure then
    warned_insecure = true
    log.out:write(("Warning: TLS certificate verification is disabled for %s "
      .. "(insecure-skip-tls-verify); the connection is not secure\n"):format(server))
  end
  return c
end

function Client:__tostring()
  return ("kubelua.Client: %s (namespace %s)"):format(self.server, self.namespace)
end

--- The verbosity level of this client.
function Client:level()
  return self.verbose or log.env_level()
end

-- -------------------------------------------------------------- headers

local function header_token(name)
  -- characters legal in a header name are kept; others percent-encoded
  return (tostring(name):lower():gsub("[^%w!#$&'*+%-.^_`|~]", function(ch)
    return ("%%%02X"):format(ch:byte())
  end))
end

--- True for a sequence of strings ({} included).
function M.is_string_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return false end
  for _, x in ipairs(v) do
    if type(x) ~= "string" then return false end
  end
  return true
end

--- Checks an impersonation table { user, groups, uid, extra } given by a
--- caller; `what` names it in the message. Returns nil, or a usage error.
function M.check_impersonation(imp, what)
  if type(imp) ~= "table" then
    return errors.usage(("%s must be a table { user, groups, uid, extra }, got %s")
      :format(what, type(imp)))
  end
  local names = {}
  for k in pairs(imp) do names[#names + 1] = tostring(k) end
  table.sort(names)
  for _, k in ipairs(names) do
    local v = imp[k]
    local ok
    if k == "user" or k == "uid" then
      ok = type(v) == "string" and v ~= ""
    elseif k == "groups" then
      ok = M.is_string_list(v)
    elseif k == "extra" then
      ok = type(v) == "table"
      for ek, ev in pairs(type(v) == "table" and v or {}) do
        if type(ek) ~= "string" or not (type(ev) == "string" or M.is_string_list(ev)) then
          ok = false
        end
      end
    else
      return errors.usage(("%s: unknown field %q (user, groups, uid, extra)"):format(what, k))
    end
    if not ok then
      local want = ({ user = "a non-empty string", uid = "a non-empty string",
        groups = "a list of strings",
        extra = "a table of name = string or list of strings" })[k]
      return errors.usage(("%s.%s must be %s"):format(what, k, want))
    end
  end
  return nil
end

--- Impersonation headers for { user, groups, uid, extra }.
function M.impersonation_headers(imp, h)
  h = h or {}
  if not imp then return h end
  if (imp.groups and #imp.groups > 0 or imp.uid or (imp.extra and next(imp.extra)))
    and not imp.user then
    return nil, errors.usage("requesting uid, groups or user-extra without impersonating a user")
  end
  if imp.user then h["Impersonate-User"] = imp.user end
  if imp.uid then h["Impersonate-Uid"] = imp.uid end
  if imp.groups and #imp.groups > 0 then
    local g = {}
    for i, v in ipairs(imp.groups) do g[i] = v end
    h["Impersonate-Group"] = #g == 1 and g[1] or g
  end
  if imp.extra then
    for k, v in pairs(imp.extra) do
      local vals = type(v) == "table" and v or { v }
      h["Impersonate-Extra-" .. header_token(k)] = #vals == 1 and vals[1] or vals
    end
  end
  return h
end

--- The Authorization header (and TLS client cert) from the credentials.
function Client:_credentials()
  local creds = self.config.credentials
  if not creds then return {}, nil end
  local h, err = creds:headers()
  if not h then
    if errors.is_error(err) then return nil, err end
    return nil, errors.config(tostring(err or "cannot get credentials"))
  end
  for name, v in pairs(h) do
    -- masked in logs while this client lives; registered once per value
    -- (an exec plugin or a token file may hand out a new one)
    if name:lower() == "authorization" and type(v) == "string" and v ~= self._masked_auth then
      log.add_secret((v:gsub("^%a+%s+", "")), self)
      self._masked_auth = v
    end
    -- a token with a line break would be a header injection (and libcurl's
    -- binding raises on it): an error that describes, never shows, it
    if tostring(v):find("[\r\n%z]") then
      return nil, errors.config(("the credential (%s) holds a line break or NUL byte and cannot "
        .. "be sent"):format(creds.describe and creds:describe() or "?"))
    end
  end
  local tls = creds.tls and creds:tls() or nil
  if tls and tls.key_data and tls.key_data ~= self._masked_key then
    log.add_secret(tls.key_data, self)
    self._masked_key = tls.key_data
  end
  return h, tls
end

-- ---------------------------------------------------------------- request

local function content_is_json(ct)
  return type(ct) == "string" and (ct:find("^application/json") or ct:find("%+json"))
end

--- The text of a Warning header (`299 - "text"`), or the raw value.
function M.parse_warning(v)
  local text = tostring(v):match('^%d%d%d%s+%S+%s+"(.*)"')
  if text then return (text:gsub('\\(.)', "%1")) end
  return tostring(v)
end

local function body_hint(path, body)
  if type(path) == "string" and path:find("/secrets", 1, true) then return { secret = true } end
  if type(body) == "table" and body.kind == "Secret" then return { secret = true } end
  return nil
end

local request_keys = {
  method = true, path = true, query = true, body = true, headers = true, content_type = true,
  timeout = true, accept = true, on_data = true, impersonate = true, retry = true,
}

--- Builds the request: { method, url, path, headers, body, content_type, hint }.
function Client:_build(opts)
  if type(opts) ~= "table" then
    return nil, errors.usage("request: options must be a table, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not request_keys[k] then
      return nil, errors.usage(("request: unknown option %q"):format(tostring(k)))
    end
  end
  local method = opts.method or "GET"
  if type(method) ~= "string" or not method:match("^%u+$") then
    return nil, errors.usage(("request: method must be an upper-case HTTP verb, got %s")
      :format(tostring(method)))
  end
  local path = opts.path
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    return nil, errors.usage(("request: path must be a string starting with '/', got %s")
      :format(type(path) == "string" and ("%q"):format(path) or tostring(path)))
  end
  local q, qerr = M.encode_query(opts.query)
  if not q then return nil, qerr end
  local url = self.server .. path -- shown in logs and errors; _perform rewrites the host
  if q ~= "" then url = url .. (path:find("?", 1, true) and "&" or "?") .. q end

  local body, content_type = opts.body, opts.content_type
  local hint = body_hint(path, body)
  if type(body) == "table" then
    local ok, s = pcall(json().encode, body)
    if not ok or not s then
      return nil, errors.usage("request: cannot encode the body as JSON: " .. tostring(s))
    end
    body = s
    content_type = content_type or "application/json"
  elseif body ~= nil and type(body) ~= "string" then
    return nil, errors.usage("request: body must be a string or a table, got " .. type(body))
  elseif body ~= nil then
    content_type = content_type or "application/json"
  end

  local headers = {
    ["User-Agent"] = self.user_agent,
    Accept = opts.accept or "application/json",
  }
  if content_type then headers["Content-Type"] = content_type end
  for _, k in ipairs({ "accept", "content_type" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      return nil, errors.usage(("request: %s must be a string, got %s"):format(k, type(opts[k])))
    end
  end
  local timeout = opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    return nil, errors.usage(("request: timeout must be a number of seconds >= 0, got %s")
      :format(type(timeout) == "number" and tostring(timeout) or type(timeout)))
  end
  local imp = opts.impersonate
  if imp ~= nil and imp ~= false then
    local ierr = M.check_impersonation(imp, "request: impersonate")
    if ierr then return nil, ierr end
  end
  if imp == nil then imp = self.config.impersonate end
  if imp then
    local _, ierr = M.impersonation_headers(imp, headers)
    if ierr then return nil, ierr end
  end
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then
      return nil, errors.usage("request: headers must be a table of name = value")
    end
    for k, v in pairs(opts.headers) do headers[k] = v end
  end
  for k, v in pairs(headers) do
    for _, x in ipairs(type(v) == "table" and v or { v }) do
      if type(x) ~= "string" and type(x) ~= "number" then
        return nil, errors.usage(("request: header %q must be a string or a list of strings")
          :format(k))
      end
      if tostring(x):find("[\r\n%z]") then
        return nil, errors.usage(("request: header %q has a line break or NUL in its value")
          :format(k))
      end
    end
  end
  local generate_name = false
  if method == "POST" and type(opts.body) == "table" and type(opts.body.metadata) == "table" then
    local md = opts.body.metadata
    generate_name = md.generateName ~= nil and (md.name == nil or md.name == "")
  elseif method == "POST" and type(body) == "string" then
    generate_name = body:find('"generateName"', 1, true) ~= nil and not body:find('"name"', 1, true)
  end
  return {
    generate_name = generate_name,
    method = method, url = url, path = path, headers = headers, body = body,
    content_type = content_type, hint = hint,
    timeout = opts.timeout or self.timeout,
  }
end

function Client:_warn(text)
  if self._warned[text] then return end
  self._warned[text] = true
  log.out:write("Warning: ", log.scrub(text), "\n")
end

local function log_response(req, status, ms, attempt)
  log.info(('"Response" verb=%q url=%q status="%s" milliseconds=%d%s'):format(req.method,
    req.url, status, math.floor(ms + 0.5), attempt > 1 and (" attempt=%d"):format(attempt) or ""))
end

-- Sends once: returns resp | nil, err (err already an error object).
function Client:_perform(req, creds_headers, tls_creds, on_data)
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end
  for k, v in pairs(creds_headers) do headers[k] = v end
  local cfgtls = self.config.tls or {}
  local hidden = self:_secret_config()
  local url = req.url
  if self._base ~= self.server then url = self._base .. url:sub(#self.server + 1) end
  local h = {
    url = url, method = req.method, headers = headers, body = req.body,
    timeout = req.timeout, connect_timeout = self.connect_timeout,
    ca_data = cfgtls.ca_data, ca_file = cfgtls.ca_file, insecure = cfgtls.insecure or nil,
    cert_data = cfgtls.cert_data, cert_file = cfgtls.cert_file,
    key_data = hidden.key_data, key_file = cfgtls.key_file,
    connect_to = self._connect_to, proxy = hidden.proxy,
  }
  if tls_creds then
    if tls_creds.cert_data then h.cert_data, h.cert_file = tls_creds.cert_data, nil end
    if tls_creds.key_data then h.key_data, h.key_file = tls_creds.key_data, nil end
  end
  local level = self:level()
  if level >= 7 then
    local names = {}
    for k in pairs(headers) do names[#names + 1] = k end
    table.sort(names)
    local parts = {}
    for _, k in ipairs(names) do
      local v = headers[k]
      v = type(v) == "table" and table.concat(v, ", ") or v
      parts[#parts + 1] = ("%s: %s"):format(k, log.mask_header(k, v))
    end
    log.info(('"Request" verb=%q url=%q headers=<%s>'):format(req.method, req.url,
      table.concat(parts, "; ")))
  end
  if level >= 8 and req.body then
    log.info('"Request Body" body=' .. log.mask_body(req.body, req.hint))
  end
  if level >= 9 then
    log.info('"curl command" curl=' .. log.curl_command({ method = req.method, url = req.url,
      headers = headers, body = req.body }, req.hint))
  end
  local resp, err
  if on_data then
    resp, err = async().stream(h, on_data)
  else
    resp, err = async().request(h)
  end
  if not resp then
    local e = errors.transport(err, req)
    if h.proxy then e.proxy = M.redact_proxy(h.proxy) end
    return nil, e
  end
  return resp
end

--- The one door. opts: method (default GET), path ("/api/v1/..."), query
--- (table, encoded sorted), body (string, or a table sent as JSON), headers,
--- content_type, accept, timeout (seconds), impersonate ({user, groups, uid,
--- extra}; replaces the kubeconfig's for this request), retry (false: one
--- attempt only), on_data (stream the body to this function, chunk by chunk;
--- return false to stop; no retries).
--- Returns resp { status, headers, body, object (decoded JSON), warnings,
--- attempts } for a 2xx answer, or nil, err (kubelua.errors).
function Client:request(opts)
  local req, err = self:_build(opts)
  if not req then return nil, err end
  return self:_send(req, opts.on_data, opts.retry ~= false)
end

function Client:_send(req, on_data, may_retry)
  local policy = self.retries
  local max = may_retry and not on_data and (policy.max or 5) or 1
  local attempt, refreshed, ambiguous = 0, false, false
  local first_start = nil
  local stream_buf, stream_len = nil, 0
  local wrapped = on_data
  if on_data then
    stream_buf = {}
    wrapped = function(chunk)
      if stream_len < 65536 then
        stream_buf[#stream_buf + 1] = chunk
        stream_len = stream_len + #chunk
      end
      return on_data(chunk)
    end
  end
  while true do
    attempt = attempt + 1
    if stream_buf then stream_buf, stream_len = {}, 0 end
    local creds, tls_creds = self:_credentials()
    if not creds then return nil, tls_creds end
    local t0 = now()
    first_start = first_start or now()
    local level = self:level()
    local resp, err = self:_perform(req, creds, tls_creds, wrapped)
    local ms = (now() - t0) * 1000
    if resp then
      local status = resp.status
      if level >= 6 then
        log_response(req, ("%d %s"):format(status, reason_phrase[status] or ""), ms, attempt)
      end
      for _, w in ipairs(resp.warnings or {}) do self:_warn(M.parse_warning(w)) end
      local body = resp.body
      if on_data and (body == nil or body == "") and status >= 300 then
        body = table.concat(stream_buf)
        resp.body = body
      end
      if level >= 8 and not on_data and body and body ~= "" then
        log.info('"Response Body" body=' .. log.mask_body(body, req.hint))
      end
      local ctype = resp.headers and resp.headers["content-type"]
      local obj
      if content_is_json(ctype) and type(body) == "string" and body ~= "" then
        local derr
        obj, derr = json().decode(body)
        if obj == nil and status < 300 then
          return nil, errors.new("api", ("cannot decode the server's JSON response: %s")
            :format(tostring(derr)), { code = status, reason = "BadResponse",
              method = req.method, url = req.url })
        end
      end
      if status >= 200 and status < 300 then
        resp.object = obj
        resp.attempts = attempt
        return resp
      end
      err = errors.from_response(req, resp, obj)
      if status == 401 then
        local creds_obj = self.config.credentials
        if not refreshed and creds_obj and creds_obj.refresh and creds_obj:refresh() then
          refreshed = true
          attempt = attempt - 1
          if level >= 6 then
            log.info(('"Retrying after 401" verb=%q url=%q reason="credentials refreshed"')
              :format(req.method, req.url))
          end
          goto continue
        end
        if creds_obj and creds_obj.describe then
          local ok, d = pcall(creds_obj.describe, creds_obj)
          if ok and d then
            err.hint = ("the server rejected %s (scripts/diagnose.lua explains why)"):format(d)
          end
        end
      end
    else
      if level >= 6 then
        log_response(req, "error: " .. err.message, ms, attempt)
      end
    end
    do
      local retry, amb, quick = M.should_retry(req, err, attempt)
      -- a create that meets AlreadyExists after an attempt the server may
      -- have carried out: find out whether it is ours
      if err.kind == "api" and err.code == 409 and err.reason == "AlreadyExists" and ambiguous
        and req.method == "POST" then
        local got = self:_recognise_create(req, first_start, err.date)
        if got then return got end
        err.retried_create = true
      end
      if err.kind == "api" and err.code == 404 and ambiguous and req.method == "DELETE" then
        -- our earlier attempt deleted it
        return { status = 200, headers = {}, body = "", attempts = attempt, retried_delete = true }
      end
      if not retry or attempt >= max then
        err.attempts = attempt
        return nil, err
      end
      ambiguous = ambiguous or amb
      local delay = quick or M.backoff(policy, attempt, err.retry_after)
      if level >= 6 then
        log.info(('"Retrying" verb=%q url=%q attempt=%d max=%d delay="%.2fs" reason=%q')
          :format(req.method, req.url, attempt + 1, max, delay,
            err.kind == "api" and ("%d %s"):format(err.code, err.reason) or err.message))
      end
      async().sleep(delay)
    end
    ::continue::
  end
end

local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

--- Seconds since the epoch of an HTTP Date header (IMF-fixdate), or nil.
function M.parse_http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, hh, mm, ss =
    s:match("^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d or not months[mon] then return nil end
  return M.parse_time(("%s-%02d-%sT%s:%s:%sZ"):format(y, months[mon], d, hh, mm, ss))
end

-- After a retried create met 409 AlreadyExists: GET the object; it is ours
-- when it was created at or after our first attempt. The first attempt's
-- time is taken on the server's clock (the 409's Date header minus the time
-- elapsed since), so clock skew cannot fool it; second precision, one
-- second of slack.
function Client:_recognise_create(req, first_start, date_header)
  local okj, obj = pcall(json().decode, req.body or "")
  if not okj or type(obj) ~= "table" or type(obj.metadata) ~= "table" then return nil end
  local name = obj.metadata.name
  if type(name) ~= "string" or name == "" then return nil end
  local path = req.path:gsub("%?.*$", "") .. "/" .. M.escape_segment(name)
  local got = self:_build({ method = "GET", path = path, timeout = req.timeout })
  got.hint = req.hint
  local resp = self:_send(got, nil, true)
  if not resp or type(resp.object) ~= "table" then return nil end
  local meta = resp.object.metadata or {}
  local created = M.parse_time(meta.creationTimestamp)
  local server_now = M.parse_http_date(date_header) or os.time()
  local first = server_now - (now() - first_start)
  if created and created >= math.floor(first) - 1 then
    resp.retried_create = true
    resp.status = 201
    return resp
  end
  return nil
end

return M
