#!/usr/bin/env bash
# scripts/token.lua and scripts/kubeconfig.lua against kubesim: short-lived
# tokens (duration, audience, ExecCredential), kubeconfigs with the token or
# an exec entry, checked with the real kubectl; and their failure paths.
. "$(dirname "$0")/scripts_helpers.bash"
with_kubesim "$@"

user=system:serviceaccount:devops-tools:api-service-account
run_script tutorial.lua
expect_rc 0 "setup: the tutorial"

claims() { # token on stdin -> python expression over the claims c
  python3 -c 'import sys,json,base64
t=sys.stdin.read().strip(); p=t.split(".")[1]; p+="="*(-len(p)%4)
c=json.loads(base64.urlsafe_b64decode(p)); print(eval(sys.argv[1]))' "$1"
}

# ---- token.lua
run_script token.lua -n devops-tools --service-account api-service-account
expect_rc 0 "token: exit 0"
check "token: stdout is one JWT, no newline when piped" $([[ "$out" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] && [ "$(wc -l <"$tmp/out")" = 0 ]; echo $?) "$(detail)"
check "token: default lifetime 1h" $([ "$(printf '%s' "$out" | claims 'c["exp"]-c["iat"]')" = 3600 ]; echo $?)
check "token: for the service account" $([ "$(printf '%s' "$out" | claims 'c["sub"]')" = "$user" ]; echo $?)
tok=$out
run kubectl --server "$KUBESIM_URL" --certificate-authority "$KUBESIM_DIR/ca.crt" --token "$tok" --kubeconfig /dev/null auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "$user" "token: kubectl authenticates with it"

run_script token.lua -n devops-tools --service-account api-service-account --duration 10m --audience vault --audience https://kubernetes.default.svc.cluster.local
expect_rc 0 "token --duration --audience: exit 0"
check "token --duration 10m: 600 s" $([ "$(printf '%s' "$out" | claims 'c["exp"]-c["iat"]')" = 600 ]; echo $?)
check "token --audience twice: both audiences" $([ "$(printf '%s' "$out" | claims 'c["aud"]')" = "['vault', 'https://kubernetes.default.svc.cluster.local']" ]; echo $?) "$(printf '%s' "$out" | claims 'c["aud"]')"

run_script token.lua -n devops-tools --service-account api-service-account -v
expect_rc 0 "token -v: exit 0"
expect_err_has "token for $user expires 20" "token -v: expiry on stderr"

run_script token.lua -n devops-tools --service-account api-service-account --exec-credential
expect_rc 0 "token --exec-credential: exit 0"
check "token --exec-credential: an ExecCredential with token and expiry" $(printf '%s' "$out" | python3 -c 'import json,sys
o=json.load(sys.stdin); s=o["status"]
assert o["apiVersion"]=="client.authentication.k8s.io/v1" and o["kind"]=="ExecCredential"
assert s["token"].count(".")==2 and s["expirationTimestamp"].endswith("Z")'; echo $?) "$out"

run_script token.lua -n devops-tools --service-account nobody
expect_rc 1 "token for a missing account: exit 1"
expect_err 'error: failed to create token: Error from server (NotFound): serviceaccounts "nobody" not found' "token for a missing account: one line"
run_script token.lua -n devops-tools --service-account api-service-account --duration 5m
expect_rc 2 "token --duration below 10m: exit 2"
expect_err "error: invalid argument \"5m\" for \"--duration\" flag: must be at least 10m (see 'kubelua $SCRIPTS/token.lua --help')" "token --duration below 10m: one line"
run_script token.lua -n devops-tools --service-account api-service-account --audience ""
expect_rc 1 "token --audience '': exit 1"
expect_err "error: --audience must not be empty" "token --audience '': one line"
run_script token.lua -n devops-tools
expect_rc 2 "token without --service-account: exit 2"
expect_err "error: required flag \"--service-account\" not set (see 'kubelua $SCRIPTS/token.lua --help')" "token without --service-account: one line"

# ---- kubeconfig.lua with the long-lived token
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/sa.kubeconfig"
expect_rc 0 "kubeconfig: exit 0"
expect_out "kubeconfig for $user written to $tmp/sa.kubeconfig (mode 0600, long-lived token from secret api-service-account-token)" "kubeconfig: says what it wrote"
check "kubeconfig: mode 0600" $([ "$(mode "$tmp/sa.kubeconfig")" = 600 ]; echo $?)
token=$(kubectl get secret api-service-account-token -n devops-tools -o jsonpath='{.data.token}' | base64 --decode)
expect_no "$token" "kubeconfig: the token is not printed"
run kubectl --kubeconfig "$tmp/sa.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "$user" "kubeconfig: the real kubectl authenticates as the service account"
run kubectl --kubeconfig "$tmp/sa.kubeconfig" get serviceaccounts -o name
expect_out_has "serviceaccount/api-service-account" "kubeconfig: its namespace is the account's"
run kubectl --kubeconfig "$tmp/sa.kubeconfig" get secrets -n kube-system
expect_rc 1 "kubeconfig: the account's limits apply (no secrets)"
run kubectl --kubeconfig "$tmp/sa.kubeconfig" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}'
check "kubeconfig: the CA is embedded" $([ "$(printf '%s' "$out" | base64 --decode)" = "$(cat "$KUBESIM_DIR/ca.crt")" ]; echo $?)
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/sa.kubeconfig"
expect_rc 0 "kubeconfig: rerun over the file"
check "kubeconfig: rerun leaves no temporary file" $([ -z "$(ls -A "$tmp" | grep '^\.sa\.kubeconfig')" ]; echo $?)

# --server writes another URL for the same cluster (the certificate names localhost too)
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/local.kubeconfig" --server "https://localhost:${KUBESIM_URL##*:}"
expect_rc 0 "kubeconfig --server: exit 0"
run kubectl --kubeconfig "$tmp/local.kubeconfig" config view -o jsonpath='{.clusters[0].cluster.server}'
expect_out "https://localhost:${KUBESIM_URL##*:}" "kubeconfig --server: the URL written"
run kubectl --kubeconfig "$tmp/local.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "$user" "kubeconfig --server: kubectl authenticates through it"

# an account without a token Secret gets one, like the tutorial's
kubectl create serviceaccount ci -n devops-tools >/dev/null
run_script kubeconfig.lua -n devops-tools --service-account ci --output "$tmp/ci.kubeconfig"
expect_rc 0 "kubeconfig for an account without a Secret: exit 0"
expect_err "secret/ci-token created" "kubeconfig: creates the token Secret"
check "kubeconfig: the created Secret is labelled managed-by=kubelua" $(kubectl get secret ci-token -n devops-tools -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}' | grep -qx kubelua; echo $?)
run kubectl --kubeconfig "$tmp/ci.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "system:serviceaccount:devops-tools:ci" "kubeconfig: works for the new account"

# ---- kubeconfig.lua --exec: kubectl runs kubelua for a short-lived token
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/exec.kubeconfig" --exec --duration 15m
expect_rc 0 "kubeconfig --exec: exit 0"
check "kubeconfig --exec: no token in the file" $(! grep -q 'token:' "$tmp/exec.kubeconfig"; echo $?) "$(cat "$tmp/exec.kubeconfig")"
check "kubeconfig --exec: mode 0600" $([ "$(mode "$tmp/exec.kubeconfig")" = 600 ]; echo $?)
run kubectl --kubeconfig "$tmp/exec.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "$user" "kubeconfig --exec: the real kubectl authenticates through kubelua"
run kubectl --kubeconfig "$tmp/exec.kubeconfig" get pods
expect_rc 0 "kubeconfig --exec: kubectl get pods works"

# ---- kubeconfig.lua failures
run_script kubeconfig.lua -n devops-tools --service-account nobody --output "$tmp/x"
expect_rc 1 "kubeconfig for a missing account: exit 1"
expect_err "error: service account devops-tools/nobody not found (create it first, e.g. with scripts/tutorial.lua --namespace devops-tools --name nobody)" "kubeconfig for a missing account: one line"
check "kubeconfig for a missing account: no file" $([ ! -e "$tmp/x" ]; echo $?)
kubectl create secret generic plain -n devops-tools --from-literal=a=b >/dev/null
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --secret plain --output "$tmp/x"
expect_rc 1 "kubeconfig --secret of another type: exit 1"
expect_err "error: secret devops-tools/plain exists with type \"Opaque\", not kubernetes.io/service-account-token" "kubeconfig --secret of another type: one line"
kubectl create serviceaccount other -n devops-tools >/dev/null
run_script kubeconfig.lua -n devops-tools --service-account other --secret api-service-account-token --output "$tmp/x"
expect_rc 1 "kubeconfig --secret of another account: exit 1"
expect_err "error: secret devops-tools/api-service-account-token is the token of service account \"api-service-account\", not \"other\"" "kubeconfig --secret of another account: one line"
check "kubeconfig --secret of another type or account: no file" $([ ! -e "$tmp/x" ]; echo $?)
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output /nonexistent-dir/k
expect_rc 1 "kubeconfig to an unwritable path: exit 1"
check "kubeconfig to an unwritable path: one line" $([ "$(printf '%s\n' "$err" | grep -c .)" = 1 ] && [[ "$err" == "error: cannot write /nonexistent-dir/k: "* ]]; echo $?) "$err"
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/y" --duration 1h
expect_rc 1 "kubeconfig --duration without --exec: exit 1"
expect_err "error: --duration needs --exec (the long-lived token of a Secret does not expire)" "kubeconfig --duration without --exec: one line"
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/y" --exec --secret s
expect_rc 1 "kubeconfig --exec with --secret: exit 1"
expect_err "error: --secret and --exec: choose one" "kubeconfig --exec with --secret: one line"
check "kubeconfig usage errors: no file" $([ ! -e "$tmp/y" ]; echo $?)
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/y" --timeout 0
expect_rc 2 "kubeconfig --timeout 0: exit 2"
expect_err "error: invalid argument \"0\" for \"--timeout\" flag: must be at least 1s (see 'kubelua $SCRIPTS/kubeconfig.lua --help')" "kubeconfig --timeout 0: one line"
run_script kubeconfig.lua -n devops-tools --service-account api-service-account
expect_rc 2 "kubeconfig without --output: exit 2"
expect_err "error: required flag \"--output\" not set (see 'kubelua $SCRIPTS/kubeconfig.lua --help')" "kubeconfig without --output: one line"

finish
