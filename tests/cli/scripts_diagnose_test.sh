#!/usr/bin/env bash
# scripts/diagnose.lua against kubesim: one case per cause of a 401/403, each
# with its exact "cause:" line and exit status, plus the usage errors.
. "$(dirname "$0")/scripts_helpers.bash"
with_kubesim "$@"

url=$KUBESIM_URL
user=system:serviceaccount:devops-tools:api-service-account
run_script tutorial.lua --token-file "$tmp/good"
expect_rc 0 "setup: the tutorial"
token=$(cat "$tmp/good")

# ---- the token works
run_script diagnose.lua --token-file "$tmp/good"
expect_rc 0 "working token: exit 0"
expect_out "token:   long-lived service-account token of secret devops-tools/api-service-account-token: sub=$user iss=kubernetes/serviceaccount exp=none (does not expire)
server:  $url (TLS verified with the kubeconfig's CA)
request: GET /api/v1/namespaces with this token: 200
note:    the token authenticates as $user
result:  the token works" "working token: the report"
expect_no "$token" "the token is never printed"

# the same from stdin, and with a "Bearer " prefix
run bash -c "printf 'Bearer %s\n' \"\$(cat '$tmp/good')\" | '$KUBELUA' '$SCRIPTS/diagnose.lua' --token-file -"
expect_rc 0 "token on stdin with a Bearer prefix: exit 0"
expect_out_has 'note:    the token starts with "Bearer "' "a Bearer prefix is pointed out"

# ---- still base64 (the tutorial's last comment)
base64 -w0 "$tmp/good" >"$tmp/b64"
run_script diagnose.lua --token-file "$tmp/b64"
expect_rc 1 "base64 token: exit 1"
expect_out_has 'token:   1' "base64 token: length shown"
expect_out_has 'still base64-encoded (starts with "ZXlK", the base64 of "eyJ" that opens every JWT)' "base64 token: recognised"
expect_out_has "request: GET /api/v1/namespaces with this token: 401 Unauthorized" "base64 token: the server says 401"
expect_out_has "cause:   the token is still base64-encoded: Secret data is base64, and \`kubectl get secret -o jsonpath='{.data.token}'\` prints it undecoded" "base64 token: the cause"
expect_out_has "fix:     decode it first: kubectl get secret NAME -n NS -o jsonpath='{.data.token}' | base64 --decode" "base64 token: the fix"
expect_out_has "note:    decoded, the token is valid: it authenticates as $user" "base64 token: decoded it works"
expect_no "$(cat "$tmp/b64")" "base64 token: never printed"

# ---- a wrapped copy (a line break inside the token)
printf '%s\n%s\n' "${token:0:60}" "${token:60}" >"$tmp/wrapped"
run_script diagnose.lua --token-file "$tmp/wrapped"
expect_rc 1 "wrapped token: exit 1"
expect_out_has "cause:   the token contains whitespace or line breaks (a wrapped copy); it is checked here without them
fix:     join it into one line: tr -d ' \\n' < FILE > token" "wrapped token: the cause and the fix"
expect_out_has "result:  the token works once its whitespace is removed" "wrapped token: works joined"
expect_no "${token:0:60}" "wrapped token: never printed"
printf '%s %s\n' "${token:0:60}" "${token:60:40}" >"$tmp/wrapped-cut"
run_script diagnose.lua --token-file "$tmp/wrapped-cut"
expect_rc 1 "wrapped and truncated token: exit 1"
expect_out_has "cause:   the token contains whitespace" "wrapped and truncated token: the whitespace"
expect_out_has "request: GET /api/v1/namespaces with this token: 401 Unauthorized" "wrapped and truncated token: then the 401"

# ---- not a JWT
run_script diagnose.lua --token not-a-token
expect_rc 1 "not a JWT: exit 1"
expect_out_has "cause:   the token is not a JWT (expected 3 dot-separated parts, found 1): service-account tokens are three base64url parts separated by dots; the copy is truncated or not a token" "not a JWT: the cause"
run_script diagnose.lua "${token:0:100}"
expect_rc 1 "truncated token: exit 1"
expect_out_has "cause:   the token is not a JWT (expected 3 dot-separated parts, found 2)" "truncated token (positional): the cause"

# ---- expired: a JWT whose exp has passed (its signature cannot verify either)
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
sa_uid=$(kubectl get sa api-service-account -n devops-tools -o jsonpath='{.metadata.uid}')
exp=$(( $(date +%s) - 7200 ))
header=$(printf '{"alg":"RS256","kid":"x"}' | b64url)
payload=$(printf '{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":%d,"iat":%d,"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"devops-tools","serviceaccount":{"name":"api-service-account","uid":"%s"}},"nbf":%d,"sub":"%s"}' \
  "$exp" $((exp - 3600)) "$sa_uid" $((exp - 3600)) "$user" | b64url)
printf '%s.%s.%s' "$header" "$payload" "c2lnbmF0dXJl" >"$tmp/expired"
run_script diagnose.lua --token-file "$tmp/expired"
expect_rc 1 "expired token: exit 1"
expect_out_has "cause:   the token expired 120m ago (exp $(date -u -d @"$exp" +%Y-%m-%dT%H:%M:%SZ))" "expired token: the cause"
expect_out_has "fix:     request a new one: kubelua scripts/token.lua -n NS --service-account SA [--duration 1h]" "expired token: the fix"

# ---- wrong audience
run_script token.lua -n devops-tools --service-account api-service-account --audience vault
expect_rc 0 "setup: a token for audience vault"
printf '%s' "$out" >"$tmp/vault"
run_script diagnose.lua --token-file "$tmp/vault"
expect_rc 1 "wrong audience: exit 1"
expect_out_has "cause:   wrong audience: the token was issued for [vault], which the API server does not accept (TokenReview: " "wrong audience: the cause"

# ---- authenticated but forbidden
run_script tutorial.lua --read-only -n monitoring --name prom --token-file "$tmp/prom"
expect_rc 0 "setup: a read-only account"
run_script diagnose.lua --token-file "$tmp/prom" --path /api/v1/namespaces/kube-system/secrets
expect_rc 1 "forbidden: exit 1"
expect_out_has "request: GET /api/v1/namespaces/kube-system/secrets with this token: 403 Forbidden" "forbidden: the server says 403"
expect_out_has "cause:   the token authenticates as system:serviceaccount:monitoring:prom, but that user may not list secrets in API group \"\" in namespace kube-system (Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:monitoring:prom\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\")" "forbidden: which verb, resource and group"
expect_out_has "note:    ClusterRoleBinding prom-cluster-role-binding binds ClusterRole prom-cluster-role-read-only, whose rules do not include list secrets in API group \"\" in namespace kube-system" "forbidden: which binding falls short"
expect_out_has "fix:     grant it, e.g.: kubectl create clusterrole NAME --verb=list --resource=secrets; kubectl create clusterrolebinding NAME --clusterrole=NAME --serviceaccount=monitoring:prom" "forbidden: the fix"
run_script diagnose.lua --token-file "$tmp/prom" --method DELETE --path /apis/apps/v1/namespaces/monitoring/deployments/web
expect_rc 1 "forbidden delete: exit 1"
expect_out_has "may not delete deployments in API group \"apps\" in namespace monitoring" "forbidden delete: verb, resource and group from the path"

# a write the token is allowed to make: checked as a dry run, nothing deleted
run_script diagnose.lua --token-file "$tmp/good" --method DELETE --path /api/v1/namespaces/devops-tools
expect_rc 0 "allowed DELETE: exit 0"
expect_out_has "request: DELETE /api/v1/namespaces/devops-tools?dryRun=All with this token: 200" "allowed DELETE: sent as a server-side dry run"
expect_out_has "result:  the token works" "allowed DELETE: the token works"
run kubectl get namespace devops-tools -o jsonpath='{.status.phase}'
expect_out "Active" "allowed DELETE: the namespace is untouched"
run_script diagnose.lua --token-file "$tmp/good" --method post --path /api/v1/namespaces
expect_rc 0 "allowed POST without a body: exit 0"
expect_out_has "note:    the server authenticated and authorized the request before it failed (Error from server (BadRequest): " "allowed POST without a body: past authorization"
run_script diagnose.lua --token-file "$tmp/good" --path /api/v1/namespaces/nope
expect_rc 0 "allowed GET of a missing object: exit 0"
expect_out_has "request: GET /api/v1/namespaces/nope with this token: 404 NotFound" "allowed GET of a missing object: the 404"
run_script diagnose.lua --token-file "$tmp/good" --method FETCH
expect_rc 1 "--method FETCH: exit 1"
expect_err 'error: --method "FETCH": one of GET, HEAD, POST, PUT, PATCH, DELETE' "--method FETCH: one line"
run_script diagnose.lua --token-file "$tmp/good" --path api/v1/namespaces
expect_rc 1 "--path without /: exit 1"
expect_err 'error: --path "api/v1/namespaces": an API path starting with /, e.g. /api/v1/namespaces' "--path without /: one line"

# the tutorial's own trap: "ingress" in the core/extensions groups
run_script diagnose.lua --token-file "$tmp/good" --path /apis/networking.k8s.io/v1/ingresses
expect_rc 1 "the tutorial's ingress trap: exit 1"
expect_out_has "cause:   the token authenticates as $user, but that user may not list ingresses in API group \"networking.k8s.io\" at the cluster scope" "the tutorial's ingress trap: the cause"
expect_out_has "note:    ClusterRoleBinding api-cluster-role-binding binds ClusterRole api-cluster-role, whose rules do not include list ingresses in API group \"networking.k8s.io\" at the cluster scope
note:    ClusterRole api-cluster-role: rules[0]: \"ingress\" in API groups \"\", \"extensions\" grants nothing on Ingresses" "the tutorial's ingress trap: the role's rule named"

# a binding to a role that does not exist
kubectl create serviceaccount orphan -n monitoring >/dev/null
kubectl create clusterrolebinding orphan-binding --clusterrole=no-such-role --serviceaccount=monitoring:orphan >/dev/null
run_script token.lua -n monitoring --service-account orphan
printf '%s' "$out" >"$tmp/orphan"
run_script diagnose.lua --token-file "$tmp/orphan"
expect_rc 1 "binding to a missing role: exit 1"
expect_out_has "cause:   ClusterRoleBinding orphan-binding refers to ClusterRole no-such-role, which does not exist" "binding to a missing role: the cause"

# ---- the Secret deleted
run_script tutorial.lua -n ns-secret --name gone --token-file "$tmp/secret-gone"
kubectl delete secret gone-token -n ns-secret >/dev/null
run_script diagnose.lua --token-file "$tmp/secret-gone"
expect_rc 1 "deleted Secret: exit 1"
expect_out_has "cause:   secret ns-secret/gone-token was deleted: a long-lived token dies with its Secret" "deleted Secret: the cause"

# ---- the Secret holds another token now (the copy is stale)
run_script tutorial.lua -n ns-stale --name stale --token-file "$tmp/stale"
kubectl patch secret stale-token -n ns-stale -p "{\"data\":{\"token\":\"$(printf 'eyJhbGciOiJub25lIn0.e30.' | base64 -w0)\"}}" >/dev/null
run_script diagnose.lua --token-file "$tmp/stale"
expect_rc 1 "stale copy: exit 1"
expect_out_has "cause:   secret ns-stale/stale-token holds a different token now (it was regenerated or recreated): this copy is stale
fix:     read the token again: kubectl get secret stale-token -n ns-stale -o jsonpath='{.data.token}' | base64 --decode" "stale copy: the cause and the fix"

# ---- the legacy token cleaner marked the Secret invalid
run_script tutorial.lua -n ns-inv --name inv --token-file "$tmp/inv"
kubectl label secret inv-token -n ns-inv kubernetes.io/legacy-token-invalid-since=2026-01-01 >/dev/null
run_script diagnose.lua --token-file "$tmp/inv"
expect_rc 1 "invalidated legacy token: exit 1"
expect_out_has "cause:   secret ns-inv/inv-token is labelled kubernetes.io/legacy-token-invalid-since=2026-01-01: the legacy token cleaner invalidated it
fix:     remove the label to use it again (kubectl label secret inv-token -n ns-inv kubernetes.io/legacy-token-invalid-since-), or switch to short-lived tokens: kubelua scripts/token.lua -n ns-inv --service-account inv" "invalidated legacy token: the cause and the fix"

# ---- a Secret deleted and created again with the same name works again:
# legacy tokens carry no issue time, so the controller signs the same one
run_script tutorial.lua -n ns-back --name back --token-file "$tmp/back"
kubectl delete secret back-token -n ns-back >/dev/null
run_script diagnose.lua --token-file "$tmp/back"
expect_out_has "cause:   secret ns-back/back-token was deleted: a long-lived token dies with its Secret" "Secret deleted: the cause"
run_script tutorial.lua -n ns-back --name back
run_script diagnose.lua --token-file "$tmp/back"
expect_rc 0 "Secret recreated under the same name: the old copy works again"

# ---- a token bound to a service account that was deleted and recreated
run_script token.lua -n ns-back --service-account back
printf '%s' "$out" >"$tmp/bound"
old_uid=$(kubectl get sa back -n ns-back -o jsonpath='{.metadata.uid}')
kubectl delete sa back -n ns-back >/dev/null
kubectl create sa back -n ns-back >/dev/null
run_script diagnose.lua --token-file "$tmp/bound"
expect_rc 1 "bound token, account recreated: exit 1"
expect_out_has "cause:   service account ns-back/back was deleted and recreated: the token carries uid $old_uid, the live account has uid $(kubectl get sa back -n ns-back -o jsonpath='{.metadata.uid}')" "bound token, account recreated: the uid mismatch"

# ---- the service account deleted and recreated (uid mismatch)
run_script tutorial.lua -n ns-sa --name again --token-file "$tmp/sa-again"
old_uid=$(kubectl get sa again -n ns-sa -o jsonpath='{.metadata.uid}')
kubectl delete sa again -n ns-sa >/dev/null
kubectl create sa again -n ns-sa >/dev/null
new_uid=$(kubectl get sa again -n ns-sa -o jsonpath='{.metadata.uid}')
run_script diagnose.lua --token-file "$tmp/sa-again"
expect_rc 1 "recreated service account: exit 1"
expect_out_has "cause:   service account ns-sa/again was deleted and recreated: the token carries uid $old_uid, the live account has uid $new_uid" "recreated service account: the uid mismatch"

# ---- the service account deleted
run_script tutorial.lua -n ns-sa2 --name dropped --token-file "$tmp/sa-gone"
kubectl delete sa dropped -n ns-sa2 >/dev/null
run_script diagnose.lua --token-file "$tmp/sa-gone"
expect_rc 1 "deleted service account: exit 1"
expect_out_has "cause:   service account ns-sa2/dropped was deleted (the token belonged to it)" "deleted service account: the cause"

# ---- server unreachable
run_script diagnose.lua --token-file "$tmp/good" --server https://127.0.0.1:1
expect_rc 1 "unreachable server: exit 1"
expect_out_has "request: GET /api/v1/namespaces with this token: failed" "unreachable server: the request failed"
expect_out_has "cause:   the server URL https://127.0.0.1:1 is unreachable: The connection to the server 127.0.0.1:1 was refused" "unreachable server: the cause"

run_script diagnose.lua --token-file "$tmp/good" --server http://127.0.0.1:1
expect_rc 1 "plain HTTP server: exit 1"
expect_out_has "server:  http://127.0.0.1:1 (plain HTTP: no TLS, the token travels unencrypted)" "plain HTTP server: says there is no TLS"

# ---- TLS mismatch: a CA that did not sign the server's certificate
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/other.key" -out "$tmp/other-ca.crt" \
  -days 1 -subj /CN=other-ca >/dev/null 2>&1
run_script diagnose.lua --token-file "$tmp/good" --certificate-authority "$tmp/other-ca.crt"
expect_rc 1 "TLS mismatch: exit 1"
expect_out_has "server:  $url (TLS verified with $tmp/other-ca.crt)" "TLS mismatch: which CA was used"
expect_out_has "cause:   TLS mismatch: $url could not be verified with the CA in use (TLS verified with $tmp/other-ca.crt): " "TLS mismatch: the cause"
# the name in the URL is not in the certificate
run_script diagnose.lua --token-file "$tmp/good" --server "https://localhost.localdomain:${url##*:}"
expect_rc 1 "wrong host name: exit 1"
check "wrong host name: TLS mismatch or unreachable" $([[ "$out" == *"cause:   TLS mismatch"* || "$out" == *"cause:   the server URL"* ]]; echo $?) "$out"

# ---- no admin credentials: says what it could not check
run_script diagnose.lua --token-file "$tmp/secret-gone" --server "$url" --insecure-skip-tls-verify --kubeconfig /dev/null
expect_rc 1 "no kubeconfig: exit 1"
expect_out_has "note:    could not ask the server why (TokenReview: " "no kubeconfig: says it could not ask"

# ---- usage errors
run_script diagnose.lua
expect_rc 1 "no token: exit 1"
expect_err "error: give the token once: --token T, --token-file F or TOKEN" "no token: one line"
run_script diagnose.lua --token a --token-file "$tmp/good"
expect_rc 1 "two tokens: exit 1"
expect_err "error: give the token once: --token T, --token-file F or TOKEN" "two tokens: one line"
run_script diagnose.lua --token-file "$tmp/none"
expect_rc 1 "missing token file: exit 1"
expect_err "error: cannot read $tmp/none: No such file or directory" "missing token file: one line"
printf '  \n' >"$tmp/empty"
run_script diagnose.lua --token-file "$tmp/empty"
expect_rc 1 "empty token: exit 1"
expect_err "error: the token is empty" "empty token: one line"
run_script diagnose.lua a b
expect_rc 2 "two positionals: exit 2"
expect_err "error: unexpected argument \"b\" (see 'kubelua $SCRIPTS/diagnose.lua --help')" "two positionals: one line"

finish
