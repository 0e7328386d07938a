-- kubelua.errors: the one error class of kubelua ("kubelua.Error").
--
-- Every failure in the outside world comes back as `nil, err` where err is a
-- table with this metatable:
--   kind      "api" (the server answered non-2xx), "transport" (no answer:
--             refused, DNS, TLS), "timeout", "config" (kubeconfig,
--             credentials), "usage" (bad arguments caught before a request)
--   code      HTTP status for "api", CURLcode for "transport"/"timeout"
--   reason    the Status reason ("NotFound", "AlreadyExists", "Conflict", ...)
--   message   the server's words (Status.message) or ours
--   details   Status.details, when the server sent them
--   status    the decoded Status object, when the body was one
--   method, url, audit_id, retry_after (seconds, from the Retry-After
--             header or Status.details.retryAfterSeconds), retry_after_header
--             (true when the header said so), attempts
--   proxy     (transport) the proxy URL the request went through
-- tostring(err) reads like kubectl: `Error from server (Forbidden): ...`.
-- The C side (kl_fail) tags its error tables with the same registry
-- metatable, so both halves share one class whichever loads first.
local M = {}

local registry = debug.getregistry()
local Error = registry["kubelua.Error"] or {}
registry["kubelua.Error"] = Error
Error.__name = "kubelua.Error"
Error.__index = Error
M.Error = Error

-- What kubectl prints for a non-Status body, by HTTP code
-- (k8s.io/apimachinery/pkg/api/errors NewGenericServerResponse).
local generic = {
  [400] = { "BadRequest", "the server rejected our request for an unknown reason" },
  [401] = { "Unauthorized", "the server has asked for the client to provide credentials" },
  [403] = { "Forbidden", "forbidden" },
  [404] = { "NotFound", "the server could not find the requested resource" },
  [405] = { "MethodNotAllowed", "the server does not allow this method on the requested resource" },
  [406] = { "NotAcceptable",
    "the server was unable to respond with a content type that the client supports" },
  [409] = { "AlreadyExists", "the server reported a conflict" },
  [410] = { "Expired", "the requested resource has expired" },
  [415] = { "UnsupportedMediaType", "the server was unable to handle the content type" },
  [422] = { "Invalid", "the server rejected our request due to an error in our request" },
  [429] = { "TooManyRequests",
    "the server has received too many requests and has asked us to try again later" },
  [500] = { "InternalError", "an error on the server has prevented the request from succeeding" },
  [503] = { "ServiceUnavailable", "the server is currently unable to handle the request" },
  [504] = { "Timeout", "the server was unable to return a response in the time allotted,"
    .. " but may still be processing the request" },
}

-- Plain words for the curl failures users meet (CURLcode names as strings).
local curl_words = {
  COULDNT_CONNECT = "connection refused",
  COULDNT_RESOLVE_HOST = "could not resolve host",
  COULDNT_RESOLVE_PROXY = "could not resolve proxy",
  OPERATION_TIMEDOUT = "timed out",
  SSL_CONNECT_ERROR = "TLS handshake failed",
  PEER_FAILED_VERIFICATION = "TLS certificate verification failed",
  SSL_CACERT_BADFILE = "cannot read the CA certificate",
  SSL_CERTPROBLEM = "problem with the client certificate",
  GOT_NOTHING = "the server closed the connection without a response",
  SEND_ERROR = "failed sending the request",
  RECV_ERROR = "failed receiving the response",
}
M.curl_words = curl_words

local function one_line(s)
  s = tostring(s or "")
  s = s:gsub("%s*\r?\n%s*", " "):gsub("%s+$", "")
  return s
end

--- Creates an error of any kind. `fields` are copied into it.
function M.new(kind, message, fields)
  local e = {}
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  e.kind = kind
  e.message = message
  return setmetatable(e, Error)
end

function M.usage(message, fields) return M.new("usage", message, fields) end
function M.config(message, fields) return M.new("config", message, fields) end
function M.timeout(message, fields) return M.new("timeout", message, fields) end

--- True when v is an error object of this class.
function M.is_error(v)
  return type(v) == "table" and getmetatable(v) == Error
end

--- Gives a plain error table (e.g. from C before this module set the class
--- up) the class. Strings become errors of `kind` (default "usage").
function M.wrap(v, kind)
  if M.is_error(v) then return v end
  if type(v) == "table" then
    v.kind = v.kind or kind or "transport"
    return setmetatable(v, Error)
  end
  return M.new(kind or "usage", one_line(v))
end

--- Builds an "api" error from a non-2xx response.
--- req: { method, url }; resp: { status, headers, body }; st: decoded body
--- (a Status, or anything else the server sent) or nil.
function M.from_response(req, resp, st)
  local code = resp.status
  local headers = resp.headers or {}
  local g = generic[code] or (code >= 500 and generic[500]) or generic[400]
  local e = {
    kind = "api", code = code, method = req.method, url = req.url,
    audit_id = headers["audit-id"], date = headers["date"],
    retry_after = tonumber(headers["retry-after"]),
  }
  -- the header itself (not Status.details.retryAfterSeconds) is what makes
  -- client-go retry a 5xx
  e.retry_after_header = e.retry_after ~= nil or nil
  if type(st) == "table" and st.kind == "Status" then
    e.status = st
    e.reason = (type(st.reason) == "string" and st.reason ~= "") and st.reason or g[1]
    e.message = (type(st.message) == "string" and st.message ~= "") and st.message or g[2]
    if type(st.details) == "table" then
      e.details = st.details
      if not e.retry_after and math.type(st.details.retryAfterSeconds) then
        e.retry_after = st.details.retryAfterSeconds
      end
    end
    if math.type(st.code) == "integer" and st.code ~= 0 then e.code = st.code end
  else
    -- not a Status: kubectl derives the reason from the code; keep the
    -- server's text when it is short plain text
    e.reason = g[1]
    local body = type(resp.body) == "string" and one_line(resp.body) or ""
    if body ~= "" and #body <= 300 and not body:find("^[{%[<]") then
      e.message = body
    else
      e.message = g[2]
    end
  end
  return setmetatable(e, Error)
end

--- Builds an error from a Status found inside a watch ERROR event.
function M.from_status(st, req)
  req = req or {}
  return M.from_response(req, { status = math.type(st.code) and st.code or 500, headers = {} }, st)
end

--- Normalises an error from kubelua.http: { kind="transport", code, curl,
--- message, url }. A curl timeout becomes kind "timeout".
function M.transport(err, req)
  local e = M.wrap(type(err) == "table" and err or { message = tostring(err) }, "transport")
  e.method = e.method or (req and req.method)
  e.url = (req and req.url) or e.url
  if e.curl == "OPERATION_TIMEDOUT" or e.code == 28 then e.kind = "timeout" end
  e.message = one_line(e.message or curl_words[e.curl] or "transport failure")
  return e
end

local function hostport(url)
  local hp = type(url) == "string" and url:match("^%a+://([^/?#]+)") or nil
  if hp then hp = hp:gsub("^.*@", "") end
  return hp
end
M.hostport = hostport

function Error:__tostring()
  local kind = self.kind
  if kind == "api" then
    if self.code == 401 then
      local s = ("error: You must be logged in to the server (%s)"):format(one_line(self.message))
      if self.hint then s = s .. "; " .. self.hint end
      return s
    end
    return ("Error from server (%s): %s"):format(self.reason or "Unknown", one_line(self.message))
  elseif kind == "transport" then
    local hp = hostport(self.url)
    if self.proxy then
      -- curl only ever talked to the proxy: name it, or "refused" would
      -- blame the API server
      return ("Unable to connect to the server%s through the proxy %s: %s")
        :format(hp and (" " .. hp) or "", hostport(self.proxy) or "?", one_line(self.message))
    end
    if self.curl == "COULDNT_CONNECT" and hp then
      return ("The connection to the server %s was refused - did you specify the right host"
        .. " or port? (%s)")
        :format(hp, one_line(self.message))
    end
    return ("Unable to connect to the server%s: %s"):format(hp and (" " .. hp) or "",
      one_line(self.message))
  elseif kind == "timeout" then
    return "error: " .. one_line(self.message)
  elseif kind == "config" or kind == "usage" then
    return "error: " .. one_line(self.message)
  end
  return ("%s error: %s"):format(tostring(kind), one_line(self.message))
end

--- errors.is(err, what): `what` is a Status reason ("NotFound",
--- "AlreadyExists", "Conflict", ...), an HTTP code (404), or a kind
--- ("transport", "timeout", "config", "usage", "api").
function M.is(err, what)
  if type(err) ~= "table" then return false end
  if type(what) == "number" then return err.kind == "api" and err.code == what end
  return err.reason == what or err.kind == what
end

return M
