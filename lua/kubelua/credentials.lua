-- kubelua.credentials: the auth side of a connection, as client-go does it.
--
-- config.lua decides which credential a connection uses and builds one of
-- these objects; the client asks it for headers before each request:
--
--   creds:headers()   -> { Authorization = "Bearer ..." | "Basic ..." } or {}
--                        | nil, err
--   creds:tls()       -> { cert_data =, key_data = } when an exec plugin
--                        returned a client certificate, else nil (nil, err
--                        when the plugin fails)
--   creds:refresh()   -> true when retrying with fresh credentials makes
--                        sense (called after a 401), false otherwise
--   creds:describe()  -> a short description that never holds the secret
--
-- Kinds (client-go's rules):
--   none        no credential (also: plain-http servers, where client-go
--               sends none)
--   token       a static bearer token
--   token_file  a bearer token read from a file on every request (bound
--               service-account tokens rotate); a failed or empty read keeps
--               the last good token, as client-go's cached file source does
--   basic       username/password
--   cert        client certificate only (the TLS side lives in cfg.tls)
--   exec        an ExecCredential plugin (client.authentication.k8s.io v1
--               and v1beta1), run through /bin/sh with io.popen and cached
--               until status.expirationTimestamp (no expiry: for the process)
--
-- Secrets are kept in a private weak table, not in the object's fields, so
-- printing, logging or JSON-encoding a credentials object cannot leak them.
local base64 = require "kubelua.base64"
local json = require "kubelua.json"

local M = {}

local Credentials = { __name = "kubelua.Credentials" }
Credentials.__index = Credentials

local secret = setmetatable({}, { __mode = "k" }) -- object -> its secrets

M.EXEC_API_VERSIONS = {
  ["client.authentication.k8s.io/v1"] = true,
  ["client.authentication.k8s.io/v1beta1"] = true,
}

local NOT_FOUND_MARK = "kubelua:exec-executable-not-found"

---------------------------------------------------------------------------
-- helpers (exported for tests)

--- Quote s for /bin/sh: one single-quoted word, safe for any bytes but NUL.
function M.shell_quote(s)
  s = tostring(s)
  if s:find("%z") then error("shell_quote: NUL byte in argument", 2) end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local q = M.shell_quote

-- days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
-- days_from_civil), so no local time zone is involved
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  if m == 2 then
    return (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28
  end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

--- Parse an RFC 3339 timestamp ("2026-11-28T10:00:00Z",
--- "2026-11-28T10:00:00.5+01:00") into Unix seconds (a float when there
--- are fractions). Returns nil for anything else.
function M.parse_rfc3339(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest =
    s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d), tonumber(h),
    tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59
    or sec > 60 then
    return nil
  end
  local frac = 0
  local f, after = rest:match("^%.(%d+)(.*)$")
  if f then
    frac = tonumber("0." .. f)
    rest = after
  end
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then return nil end
    offset = (oh * 3600 + om * 60) * (sign == "-" and -1 or 1)
  end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac ~= 0 then return t + frac end
  return t
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- read a whole file: data | nil, "path: reason"
local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data, rerr = f:read("a")
  f:close()
  if not data then return nil, path .. ": " .. tostring(rerr) end
  return data
end

-- client-go's cleanANSIEscapeCodes: control characters other than
-- \t \n \v \f \r become "U+001B"-style text, so an install hint cannot drive
-- the terminal
local function clean_control(s)
  return (s:gsub("[%z\1-\8\14-\31\127]", function(c)
    return ("U+%04X"):format(c:byte())
  end))
end

local function is_null(v)
  return v == nil or v == json.null
end

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= debug.getregistry()["kubelua.array_mt"]
end

---------------------------------------------------------------------------
-- exec plugins

local function stdin_is_tty()
  return os.execute("[ -t 0 ]") == true
end

-- the shell command that runs the plugin: command lookup as exec.LookPath
-- does (PATH for bare names), env entries after the inherited environment,
-- KUBERNETES_EXEC_INFO last; stdin closed unless interactive
local function exec_command_line(e, info_json, interactive)
  local parts = {
    "p=$(command -v " .. q(e.command) .. " 2>/dev/null) && ",
    "case $p in */*) [ -f \"$p\" ] && [ -x \"$p\" ] ;; *) false ;; esac || ",
    "{ printf '%s' " .. q(NOT_FOUND_MARK) .. "; exit 127; }; ",
    "exec env --",
  }
  for _, kv in ipairs(e.env) do
    parts[#parts + 1] = " " .. q(kv.name .. "=" .. kv.value)
  end
  parts[#parts + 1] = " " .. q("KUBERNETES_EXEC_INFO=" .. info_json)
  -- through sh -c, so that env never reads a path holding '=' as a variable
  parts[#parts + 1] = [[ /bin/sh -c 'exec "$0" "$@"' "$p"]]
  for _, a in ipairs(e.args) do
    parts[#parts + 1] = " " .. q(a)
  end
  if not interactive then parts[#parts + 1] = " </dev/null" end
  return table.concat(parts)
end

local function exec_error(_, msg)
  return nil, "getting credentials: " .. msg
end

-- Run the plugin once: creds table | nil, err. Never puts stdout in err.
local function run_exec(self)
  local e = secret[self].exec
  local interactive = false
  if e.interactive_mode == "IfAvailable" then
    interactive = (self._isatty or stdin_is_tty)()
  elseif e.interactive_mode == "Always" then
    if not (self._isatty or stdin_is_tty)() then
      return exec_error(self,
        "exec plugin cannot support interactive mode: standard input is not a terminal")
    end
    interactive = true
  end
  local spec = { interactive = interactive }
  if e.provide_cluster_info then
    local cluster, err = e.cluster_info()
    if not cluster then return exec_error(self, err) end
    spec.cluster = cluster
  end
  local info = json.encode({ kind = "ExecCredential", apiVersion = e.api_version, spec = spec })
  local cmd = exec_command_line(e, info, interactive)
  local p, perr = io.popen(cmd, "r")
  if not p then return exec_error(self, "exec: " .. tostring(perr)) end
  local out = p:read("a") or ""
  local _, how, code = p:close()
  self._runs = self._runs + 1
  if how == "signal" then
    return exec_error(self, ("exec: executable %s was killed by signal %d"):format(e.command, code))
  end
  if code == 127 and out == NOT_FOUND_MARK then
    local msg = ("exec: executable %s not found\n\nIt looks like you are trying to use a "
      .. "client-go credential plugin that is not installed."):format(e.command)
    if e.install_hint and e.install_hint ~= "" then
      msg = msg .. "\n\n" .. clean_control(e.install_hint)
    end
    return exec_error(self, msg)
  end
  if code ~= 0 then
    return exec_error(self,
      ("exec: executable %s failed with exit code %d"):format(e.command, code))
  end
  -- stdout may hold a secret: errors below describe its shape, never its text
  local cred = json.decode(out)
  if not is_object(cred) then
    return exec_error(self, ("decoding stdout: exec plugin %s did not print an ExecCredential "
      .. "JSON object (%d bytes of output)"):format(e.command, #out))
  end
  if cred.kind ~= "ExecCredential" then
    return exec_error(self, ('decoding stdout: kind is %s, want "ExecCredential"'):format(
      type(cred.kind) == "string" and ("%q"):format(cred.kind) or "missing"))
  end
  if cred.apiVersion ~= e.api_version then
    return exec_error(self, ("exec plugin is configured to use API version %s, "
      .. "plugin returned version %s"):format(e.api_version,
      type(cred.apiVersion) == "string" and cred.apiVersion or "(none)"))
  end
  local st = cred.status
  if is_null(st) then
    return exec_error(self, "exec plugin didn't return a status field")
  end
  if not is_object(st) then
    return exec_error(self, "decoding stdout: status is not an object")
  end
  for _, k in ipairs({ "token", "clientCertificateData", "clientKeyData" }) do
    if not is_null(st[k]) and type(st[k]) ~= "string" then
      return exec_error(self, ("decoding stdout: status.%s is not a string"):format(k))
    end
  end
  local token = not is_null(st.token) and st.token or ""
  local cert = not is_null(st.clientCertificateData) and st.clientCertificateData or ""
  local key = not is_null(st.clientKeyData) and st.clientKeyData or ""
  if token == "" and cert == "" and key == "" then
    return exec_error(self, "exec plugin didn't return a token or cert/key pair")
  end
  if (cert == "") ~= (key == "") then
    return exec_error(self, "exec plugin returned only certificate or key, not both")
  end
  local exp
  if not is_null(st.expirationTimestamp) then
    exp = M.parse_rfc3339(st.expirationTimestamp)
    if not exp then
      return exec_error(self,
        "decoding stdout: status.expirationTimestamp is not an RFC 3339 time")
    end
  end
  return { token = token ~= "" and token or nil, cert_data = cert ~= "" and cert or nil,
    key_data = key ~= "" and key or nil, exp = exp }
end

-- the cached exec result, running the plugin when there is none or it expired
local function exec_creds(self)
  local s = secret[self]
  local c = s.cached
  if c and (c.exp == nil or (self._now or os.time)() <= c.exp) then return c end
  s.cached = nil
  local fresh, err = run_exec(self)
  if not fresh then return nil, err end
  s.cached = fresh
  return fresh
end

---------------------------------------------------------------------------
-- token files

-- the current token of a token_file credential: re-read on every call
-- (a few microseconds for a small file); keeps the last good token when the
-- read fails or the file is empty, as client-go's cachedFileTokenSource
local function file_token(self)
  local s = secret[self]
  local data = read_file(s.token_file)
  if data then
    local tok = trim(data)
    if tok ~= "" then s.token = tok end
  end
  return s.token
end

---------------------------------------------------------------------------
-- the object

--- Build a credentials object.
--- spec.kind: "none" | "token" | "token_file" | "basic" | "cert" | "exec"
---   token      (token; token_file: the initial/fallback token)
---   token_file (token_file)
---   username, password (basic)
---   exec = { command, args, env = {{name=,value=}}, api_version,
---            install_hint, provide_cluster_info, interactive_mode,
---            cluster_info = function() -> table | nil, err }
---   origin     where it came from, for describe() ("kubeconfig", ...)
---   note       appended to describe() (e.g. why no credential is sent)
--- opts (tests): now = function() -> seconds, isatty = function() -> bool
function M.new(spec, opts)
  opts = opts or {}
  local self = setmetatable({
    kind = spec.kind,
    origin = spec.origin or "kubeconfig",
    _note = spec.note,
    _now = opts.now, -- nil: os.time (functions stay off the object when unset,
    _isatty = opts.isatty, -- so that it encodes as JSON without its secrets)
    _runs = 0,
  }, Credentials)
  local s = { token = spec.token, token_file = spec.token_file, username = spec.username,
    password = spec.password }
  if spec.kind == "exec" then
    local e = spec.exec
    s.exec = { command = e.command, args = e.args or {}, env = e.env or {},
      api_version = e.api_version, install_hint = e.install_hint,
      provide_cluster_info = e.provide_cluster_info or false,
      interactive_mode = e.interactive_mode or "IfAvailable",
      cluster_info = e.cluster_info or function() return {} end }
    self._exec_command = e.command
  end
  if spec.kind == "token_file" then self._token_file = spec.token_file end
  if spec.kind == "basic" then self._username = spec.username end
  secret[self] = s
  return self
end

--- Headers that authenticate a request: { Authorization = ... } or {}.
--- @return table|nil, string|nil
function Credentials:headers()
  local kind = self.kind
  local s = secret[self]
  if kind == "token" then
    return { Authorization = "Bearer " .. s.token }
  elseif kind == "token_file" then
    local tok = file_token(self)
    if not tok then
      return nil, ("getting credentials: cannot read a token from %s"):format(s.token_file)
    end
    s.used = tok
    return { Authorization = "Bearer " .. tok }
  elseif kind == "basic" then
    return { Authorization = "Basic " .. base64.encode(s.username .. ":" .. s.password) }
  elseif kind == "exec" then
    local c, err = exec_creds(self)
    if not c then return nil, err end
    if c.token then return { Authorization = "Bearer " .. c.token } end
    return {}
  end
  return {}
end

--- The client certificate an exec plugin returned, if any.
--- @return table|nil, string|nil
function Credentials:tls()
  if self.kind ~= "exec" then return nil end
  local c, err = exec_creds(self)
  if not c then return nil, err end
  if c.cert_data then return { cert_data = c.cert_data, key_data = c.key_data } end
  return nil
end

--- After a 401: true when a retry with fresh credentials makes sense.
--- exec: drops the cached result and runs the plugin again (true when it
--- succeeded); token_file: re-reads the file (true when the token changed).
function Credentials:refresh()
  local s = secret[self]
  if self.kind == "exec" then
    s.cached = nil
    local c = exec_creds(self)
    return c ~= nil
  elseif self.kind == "token_file" then
    local before = s.used or s.token
    local now = file_token(self)
    return now ~= nil and now ~= before
  end
  return false
end

--- A short description of the credential, never the secret itself.
function Credentials:describe()
  local kind, d = self.kind, "none (anonymous)"
  if kind == "token" then
    d = "bearer token from " .. self.origin
  elseif kind == "token_file" then
    d = ("bearer token from file %s (re-read as it rotates)"):format(self._token_file)
    if self.origin == "in-cluster" then d = "in-cluster service account " .. d end
  elseif kind == "basic" then
    d = ("basic auth as %q from %s"):format(self._username, self.origin)
  elseif kind == "cert" then
    d = "client certificate from " .. self.origin
  elseif kind == "exec" then
    d = "exec: " .. self._exec_command
  end
  if self._note then d = kind == "none" and ("none (" .. self._note .. ")") or
    (d .. " (" .. self._note .. ")") end
  return d
end

Credentials.__tostring = function(self) return "kubelua.Credentials: " .. self:describe() end

--- How many times the exec plugin has run (for tests and verbose logs).
function Credentials:exec_runs()
  return self._runs
end

M.Credentials = Credentials

return M
