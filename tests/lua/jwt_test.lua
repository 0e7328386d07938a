-- kubelua.jwt: claims decoding, every error message, expires_in, describe.
local t = require "testlib"
local jwt = require "kubelua.jwt"
local base64 = require "kubelua.base64"
local json = require "kubelua.json"

local function seg(s) return base64.urlencode(s) end
local function token(header, payload, sig)
  return seg(header) .. "." .. seg(payload) .. "." .. (sig or seg("signature-bytes"))
end

-- a bound service-account token's shape (research/apiserver-semantics.md 2.3)
local BOUND = token('{"alg":"RS256","kid":"abc"}', json.encode({
  aud = json.array({ "https://kubernetes.default.svc.cluster.local" }),
  exp = 1661172376, iat = 1661168776, nbf = 1661168776,
  iss = "https://kubernetes.default.svc.cluster.local",
  ["kubernetes.io"] = { namespace = "default",
    serviceaccount = { name = "default", uid = "78fd6341" } },
  sub = "system:serviceaccount:default:default" }))
local LEGACY = token('{"alg":"RS256"}', json.encode({ iss = "kubernetes/serviceaccount",
  sub = "system:serviceaccount:ns:sa" }))

t.test("claims of a bound token, header too", function()
  local c, h = jwt.claims(BOUND)
  t.eq(c.sub, "system:serviceaccount:default:default")
  t.eq(c.exp, 1661172376)
  t.eq(math.type(c.exp), "integer")
  t.eq(c.aud, json.array({ "https://kubernetes.default.svc.cluster.local" }))
  t.eq(c["kubernetes.io"].serviceaccount.name, "default")
  t.eq(h, { alg = "RS256", kid = "abc" })
end)

t.test("surrounding whitespace and a Bearer prefix are tolerated", function()
  for _, s in ipairs({ BOUND .. "\n", "  " .. BOUND, "Bearer " .. BOUND, "bearer\t" .. BOUND }) do
    local c, err = jwt.claims(s)
    t.ok(c, err)
    t.eq(c.sub, "system:serviceaccount:default:default")
  end
end)

t.test("an empty signature (alg none) decodes", function()
  local c = jwt.claims(seg('{"alg":"none"}') .. "." .. seg('{"sub":"x"}') .. ".")
  t.eq(c, { sub = "x" })
end)

local ERRORS = {
  { "base64 of a JWT", base64.encode(BOUND),
    'token looks base64-encoded (starts "ZXlK"): decode it first, e.g. base64 --decode' },
  { "empty", "", "not a JWT: expected 3 dot-separated parts, found 1" },
  { "opaque token", "abcdef0123456789", "not a JWT: expected 3 dot-separated parts, found 1" },
  { "two parts", "eyJhIjoxfQ.eyJhIjoxfQ", "not a JWT: expected 3 dot-separated parts, found 2" },
  { "four parts", "a.b.c.d", "not a JWT: expected 3 dot-separated parts, found 4" },
  { "header not base64url", "e+J.eyJhIjoxfQ.c2ln",
    "not a JWT: header (part 1) is not valid base64url: invalid base64 at byte 2" },
  { "payload not base64url", seg("{}") .. ".ab$d.c2ln",
    "not a JWT: payload (part 2) is not valid base64url: invalid base64 at byte 3" },
  { "signature not base64url", seg("{}") .. "." .. seg("{}") .. ".x",
    "not a JWT: signature (part 3) is not valid base64url: invalid base64 at byte 1" },
  { "header not JSON", seg("nope") .. "." .. seg("{}") .. ".",
    "not a JWT: header (part 1) is not valid JSON: " },
  { "payload not JSON", seg("{}") .. "." .. seg("{\"a\":") .. ".",
    "not a JWT: payload (part 2) is not valid JSON: " },
  { "payload an array", seg("{}") .. "." .. seg("[1,2]") .. ".",
    "not a JWT: payload (part 2) is not a JSON object" },
  { "header a string", seg('"x"') .. "." .. seg("{}") .. ".",
    "not a JWT: header (part 1) is not a JSON object" },
}
for _, row in ipairs(ERRORS) do
  t.test("error: " .. row[1], function()
    local c, err = jwt.claims(row[2])
    t.eq(c, nil)
    if row[3]:sub(-2) == ": " then
      t.eq(err:sub(1, #row[3]), row[3])
      t.contains(err, "json: ")
    else
      t.eq(err, row[3])
    end
  end)
end

t.test("error for a non-string", function()
  t.eq({ jwt.claims(nil) }, { nil, "not a JWT: expected a string, got a nil" })
  t.eq({ jwt.claims(42) }, { nil, "not a JWT: expected a string, got a number" })
end)

t.test("errors never contain the token", function()
  local secretish = seg('{"alg":"RS256"}') .. "." .. seg('{"sub":"s3cr3t-sub"') .. ".c2ln"
  local _, err = jwt.claims(secretish)
  t.ok(not err:find("s3cr3t", 1, true), err)
  t.ok(not err:find(secretish, 1, true), err)
end)

t.test("expires_in", function()
  local c = jwt.claims(BOUND)
  t.eq(jwt.expires_in(c, 1661172376 - 60), 60)
  t.eq(jwt.expires_in(c, 1661172376 + 5), -5)
  t.eq(jwt.expires_in(jwt.claims(LEGACY), 0), nil)
  t.eq(jwt.expires_in({ exp = "soon" }), nil)
  t.ok(jwt.expires_in({ exp = os.time() + 100 }) <= 100)
end)

t.test("describe", function()
  local c = jwt.claims(BOUND)
  t.eq(jwt.describe(c, 1661168776), "sub=system:serviceaccount:default:default "
    .. "iss=https://kubernetes.default.svc.cluster.local "
    .. "aud=https://kubernetes.default.svc.cluster.local exp=2022-08-22T12:46:16Z (in 1h0m)")
  t.eq(jwt.describe(c, 1661172376 + 125), "sub=system:serviceaccount:default:default "
    .. "iss=https://kubernetes.default.svc.cluster.local "
    .. "aud=https://kubernetes.default.svc.cluster.local exp=2022-08-22T12:46:16Z "
    .. "(expired 2m5s ago)")
  t.eq(jwt.describe(jwt.claims(LEGACY)),
    "sub=system:serviceaccount:ns:sa iss=kubernetes/serviceaccount exp=none (does not expire)")
  t.eq(jwt.describe({ aud = json.array({ "a", "b" }), exp = 100 }, 100 - 3 * 86400 - 7200),
    "aud=a,b exp=1970-01-01T00:01:40Z (in 3d2h)")
  t.eq(jwt.describe({ exp = 10 }, 1), "exp=1970-01-01T00:00:10Z (in 9s)")
  t.eq(jwt.describe(nil), "no claims")
end)
