-- kubelua.log: masking of secrets in everything verbose output can show.
local t = require "testlib"
local log = require "kubelua.log"
local json = require "kubelua.json"

local JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bnM6c2EifQ."
  .. "c2lnbmF0dXJlLWJ5dGVz"

local function no(s, needle, what)
  if s:find(needle, 1, true) then
    error(("%s leaked: %q in %q"):format(what or "secret", needle, s), 2)
  end
end

t.test("headers: Authorization keeps its scheme only", function()
  local cases = {
    { "Authorization", "Bearer abc.def", "Bearer <masked>" },
    { "authorization", "Basic dXNlcjpwYXNz", "Basic <masked>" },
    { "Proxy-Authorization", "Bearer x", "Bearer <masked>" },
    { "Cookie", "session=1", "<masked>" },
    { "Accept", "application/json", "application/json" },
    { "Impersonate-User", "alice", "alice" },
  }
  for _, c in ipairs(cases) do t.eq(log.mask_header(c[1], c[2]), c[3], c[1]) end
end)

t.test("scrub: JWTs, base64 JWTs, PEM keys, bearer values, registered secrets", function()
  local cases = {
    { "token " .. JWT .. " end", "token <masked> end" },
    { "b64 ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklp end", "b64 <masked> end" },
    { "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
      "-----BEGIN RSA PRIVATE KEY-----<masked>-----END RSA PRIVATE KEY-----" },
    { "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
      "-----BEGIN PRIVATE KEY-----<masked>-----END PRIVATE KEY-----" },
    { 'H: "Bearer s3cr3t-opaque"', 'H: "Bearer <masked>"' },
    { "nothing secret here", "nothing secret here" },
  }
  for _, c in ipairs(cases) do t.eq(log.scrub(c[1]), c[2]) end
  log.add_secret("opaque-admin-token-123")
  t.eq(log.scrub("x=opaque-admin-token-123;"), "x=<masked>;")
  t.eq(log.scrub("b=" .. log._b64("opaque-admin-token-123")), "b=<masked>")
  log.add_secret("abc") -- too short to mask safely: ignored
  t.eq(log.scrub("abc"), "abc")
end)

t.test("secrets of an owner: registered once, sorted lazily, dropped with the owner", function()
  collectgarbage() collectgarbage()
  local base = log.secret_count()
  local owner = {}
  local sorts = log._sorts
  for _ = 1, 100 do log.add_secret("owned-token-AAAAAAAA", owner) end
  t.eq(log._sorts, sorts, "no sort before the list is used")
  t.eq(log.secret_count(), base + 2, "the token and its base64, once")
  t.eq(log._sorts, sorts + 1)
  for _ = 1, 100 do log.add_secret("owned-token-AAAAAAAA", owner) end
  t.eq(log.scrub("a owned-token-AAAAAAAA b"), "a <masked> b")
  t.eq(log.scrub(log._b64("owned-token-AAAAAAAA")), "<masked>")
  t.eq({ log.secret_count(), log._sorts }, { base + 2, sorts + 1 }, "no growth, no new sort")
  -- 1,000 owners (clients) with a token each: one sort when next used
  local owners = {}
  for i = 1, 1000 do
    owners[i] = {}
    log.add_secret(("client-token-%06d"):format(i), owners[i])
  end
  t.eq(log.scrub("x client-token-000777 y"), "x <masked> y")
  t.eq({ log.secret_count(), log._sorts }, { base + 2 + 2000, sorts + 2 })
  -- the longest secret wins when one contains another
  local o2 = {}
  log.add_secret("abcdef-long", o2)
  log.add_secret("abcdef-long-and-longer", o2)
  t.eq(log.scrub("[abcdef-long-and-longer]"), "[<masked>]")
  -- collected owners take their secrets with them; the others stay
  owners, o2 = nil, nil -- luacheck: ignore 311 (dropped for the collector)
  collectgarbage() collectgarbage()
  t.eq(log.secret_count(), base + 2)
  t.eq(log.scrub("x client-token-000777 y"), "x client-token-000777 y")
  t.eq(log.scrub("a owned-token-AAAAAAAA b"), "a <masked> b")
  -- a secret also registered for the process outlives its owner
  log.add_secret("owned-token-AAAAAAAA")
  owner = nil -- luacheck: ignore 311 (dropped for the collector)
  collectgarbage() collectgarbage()
  t.eq(log.scrub("a owned-token-AAAAAAAA b"), "a <masked> b")
  t.eq(log.secret_count(), base + 2)
  -- not a table: registered for the process
  log.add_secret("owner-is-a-string", "x")
  t.eq(log.scrub("owner-is-a-string"), "<masked>")
end)

t.test("base64 helper", function()
  local cases = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "foobar", "Zm9vYmFy" } }
  for _, c in ipairs(cases) do t.eq(log._b64(c[1]), c[2]) end
end)

t.test("objects: Secret data values, token fields, keys kept", function()
  local secret = { apiVersion = "v1", kind = "Secret", metadata = { name = "s" },
    data = { token = "ZGF0YQ==", ["ca.crt"] = "Y2E=" }, stringData = { password = "hunter2" } }
  local m = log.mask_object(secret)
  t.eq(m.data, { token = "<masked>", ["ca.crt"] = "<masked>" })
  t.eq(m.stringData, { password = "<masked>" })
  t.eq(m.metadata, { name = "s" })
  t.eq(secret.data.token, "ZGF0YQ==", "the original is untouched")

  local list = { kind = "SecretList", items = json.array{ { metadata = { name = "a" },
    data = { k = "djE=" } } } }
  t.eq(log.mask_object(list).items[1].data, { k = "<masked>" })

  local tr = { kind = "TokenRequest", status = { token = "opaque", expirationTimestamp = "t" } }
  t.eq(log.mask_object(tr).status, { token = "<masked>", expirationTimestamp = "t" })
  local rv = { kind = "TokenReview", spec = { token = "opaque" } }
  t.eq(log.mask_object(rv).spec.token, "<masked>")
  local ec = { kind = "ExecCredential", status = { token = "x1", clientKeyData = "k",
    clientCertificateData = "c" } }
  t.eq(log.mask_object(ec).status, { token = "<masked>", clientKeyData = "<masked>",
    clientCertificateData = "c" })
  local kc = { users = json.array{ { user = { ["client-key-data"] = "a2V5", password = "p",
    ["id-token"] = "i", username = "bob" } } } }
  t.eq(log.mask_object(kc).users[1].user, { ["client-key-data"] = "<masked>",
    password = "<masked>", ["id-token"] = "<masked>", username = "bob" })
  -- a typed list item without kind, when the caller knows it is a Secret
  t.eq(log.mask_object({ data = { a = "b" } }, { secret = true }).data, { a = "<masked>" })
  -- ConfigMap data is not secret
  t.eq(log.mask_object({ kind = "ConfigMap", data = { a = "b" } }).data, { a = "b" })
end)

t.test("bodies: JSON, JSON lines, undecodable, truncation", function()
  local body = json.encode{ kind = "Secret", data = { token = "c2VjcmV0LXZhbHVl" } }
  local m = log.mask_body(body)
  no(m, "c2VjcmV0LXZhbHVl")
  t.contains(m, '"token":"<masked>"')
  local lines = json.encode{ type = "ADDED", object = { kind = "Secret", data = { k = "djE=" } } }
    .. "\n" .. json.encode{ type = "MODIFIED", object = { kind = "ConfigMap", data = { k = "v" } } }
  local ml = log.mask_body(lines)
  no(ml, "djE=")
  t.contains(ml, '"k":"v"')
  -- cut short: cannot decode, so a Secret's text is never shown
  t.eq(log.mask_body(body:sub(1, 30)), "<masked: 30 bytes of undecodable JSON>")
  t.eq(log.mask_body('{"a":1, "token": "x'), "<masked: 19 bytes of undecodable JSON>")
  t.eq(log.mask_body("not json", { secret = true }), "<masked>")
  t.eq(log.mask_body("plain text " .. JWT), "plain text <masked>")
  t.eq(log.mask_body(""), "")
  local long = json.encode{ kind = "ConfigMap", data = { k = string.rep("x", 3000) } }
  local tm = log.mask_body(long)
  t.eq(#tm, 1024 + #(" [truncated %d bytes]"):format(#long - 1024))
  t.contains(tm, "[truncated")
  -- a table body
  no(log.mask_body({ kind = "Secret", data = { a = "c2VjcmV0" } }), "c2VjcmV0")
end)

t.test("curl command: masked headers and body, one -H per value", function()
  local cmd = log.curl_command{ method = "POST", url = "https://h/api/v1/namespaces/n/secrets",
    headers = { Authorization = "Bearer " .. JWT, ["Impersonate-Group"] = { "a", "b" } },
    body = json.encode{ kind = "Secret", stringData = { p = "pa'ss" } } }
  no(cmd, JWT)
  no(cmd, "pa'ss")
  t.contains(cmd, "curl -v -XPOST -H 'Authorization: Bearer <masked>' "
    .. "-H 'Impersonate-Group: a' -H 'Impersonate-Group: b' --data-binary ")
  t.contains(cmd, "'https://h/api/v1/namespaces/n/secrets'")
end)

t.test("write: klog-like line, scrubbed", function()
  local buf = {}
  local saved = log.out
  log.out = { write = function(_, s) buf[#buf + 1] = s end, flush = function() end }
  log.info("hello " .. JWT)
  log.out = saved
  local line = table.concat(buf)
  t.ok(line:match("^I%d%d%d%d %d%d:%d%d:%d%d%.%d%d%d%d%d%d kubelua%] hello <masked>\n$"), line)
end)

t.test("env level", function()
  -- the test runner does not set it unless asked
  local v = os.getenv("KUBELUA_VERBOSE")
  t.eq(log.env_level(), v and math.floor(tonumber(v) or 0) or 0)
end)
