#!/usr/bin/env bash
# scripts/tutorial.lua against kubesim: the tutorial's steps and output line by
# line, the warnings, an idempotent rerun, --show-token/--token-file, TLS
# verification and -k, --read-only, --dry-run, and every failure path.
. "$(dirname "$0")/scripts_helpers.bash"
with_kubesim "$@"

url=$KUBESIM_URL
hostport=${url#https://}
user=system:serviceaccount:devops-tools:api-service-account
warnings="warning: clusterrole.yaml: ClusterRole api-cluster-role has metadata.namespace \"devops-tools\", which the server ignores: ClusterRoles are cluster-scoped
warning: clusterrole.yaml: rules[0]: \"ingress\" in API groups \"\", \"extensions\" grants nothing on Ingresses: RBAC needs the plural \"ingresses\" in group \"networking.k8s.io\" (extensions/v1beta1 Ingress was removed in Kubernetes 1.22)
warning: clusterrolebinding.yaml: ClusterRoleBinding api-cluster-role-binding gives api-cluster-role the verbs create, update, patch, delete on pods, componentstatuses, configmaps, daemonsets, deployments, events, and 14 more in every namespace (write access cluster-wide); a monitoring agent needs only read access: use --read-only"

steps() { # action: created | unchanged
  cat <<EOF
namespace/devops-tools $1
serviceaccount/api-service-account $1
clusterrole.rbac.authorization.k8s.io/api-cluster-role $1
clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding $1
auth can-i get pods --as=$user: yes
auth can-i delete deployments.apps --as=$user: yes
secret/api-service-account-token $1
secret/api-service-account-token: token decoded: JWT for $user, issuer kubernetes/serviceaccount, no expiry (long-lived)
endpoints/kubernetes $hostport (the API server as seen inside the cluster)
GET $url/api/v1/namespaces as $user (TLS verified with the Secret's ca.crt): 200
namespaces the service account sees (5): default devops-tools kube-node-lease kube-public kube-system
(the token is not shown: use --show-token or --token-file PATH)
EOF
}

# ---- the tutorial, first run
run_script tutorial.lua
expect_rc 0 "first run succeeds"
expect_out "$(steps created)" "first run: one kubectl-style line per step"
expect_err "$warnings" "the manifests' traps are warned about on stderr, once each"

token=$(kubectl get secret api-service-account-token -n devops-tools -o jsonpath='{.data.token}' | base64 --decode)
check "the Secret was filled by the token controller" $([ -n "$token" ]; echo $?)
expect_no "$token" "the token is not printed without --show-token"

cr=$(kget clusterrole api-cluster-role)
check "the ClusterRole keeps the rule list as written (duplicate pods, ingress)" $(echo "$cr" | json_field \
  'o["rules"][0]["resources"].count("pods") == 2 and "ingress" in o["rules"][0]["resources"] and len(o["rules"][0]["resources"]) == 21' | grep -qx True; echo $?)
check "the ClusterRole is stored without a namespace" $(echo "$cr" | json_field '"namespace" in o["metadata"]' | grep -qx False; echo $?)
check "created objects are labelled managed-by=kubelua" $(kubectl get ns,sa,secret -n devops-tools -l app.kubernetes.io/managed-by=kubelua -o name | sort | tr '\n' ' ' | grep -qx 'namespace/devops-tools secret/api-service-account-token serviceaccount/api-service-account '; echo $?)

# ---- idempotent rerun
rv_before=$(kubectl get sa,secret,clusterrole,clusterrolebinding -A -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}')
run_script tutorial.lua
expect_rc 0 "second run succeeds"
expect_out "$(steps unchanged)" "second run: every object unchanged"
rv_after=$(kubectl get sa,secret,clusterrole,clusterrolebinding -A -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}')
check "second run writes nothing (resourceVersions equal)" $([ "$rv_before" = "$rv_after" ]; echo $?) "$rv_before
$rv_after"

# ---- --show-token: only the token on stdout
run_script tutorial.lua --show-token
expect_rc 0 "--show-token succeeds"
expect_out "$token" "--show-token: stdout is exactly the decoded token"
expect_err_has "secret/api-service-account-token unchanged" "--show-token: the steps go to stderr"
expect_err_has "namespaces the service account sees (5)" "--show-token: the API check goes to stderr"

# ---- --token-file: 0600, atomically replacing a wider file
echo old >"$tmp/token"; chmod 644 "$tmp/token"
run_script tutorial.lua --token-file "$tmp/token"
expect_rc 0 "--token-file succeeds"
check "--token-file writes the token" $([ "$(cat "$tmp/token")" = "$token" ]; echo $?)
check "--token-file makes the file 0600" $([ "$(mode "$tmp/token")" = 600 ]; echo $?) "mode $(mode "$tmp/token")"
expect_out_has "token written to $tmp/token (mode 0600)" "--token-file says where"
expect_no "$token" "--token-file: the token is not printed"
check "--token-file leaves no temporary file" $([ "$(ls -A "$tmp" | grep -c '^\.token')" = 0 ]; echo $?)

# ---- -k: the tutorial's curl -k, said loudly
run_script tutorial.lua --insecure-skip-tls-verify
expect_rc 0 "--insecure-skip-tls-verify succeeds"
expect_out_has "GET $url/api/v1/namespaces as $user (TLS NOT verified (--insecure-skip-tls-verify, like the tutorial's curl -k)): 200" "-k says TLS is not verified"

# ---- verbose logs never show the token
run_script tutorial.lua -v=9
expect_rc 0 "-v=9 succeeds"
expect_no "$token" "-v=9: the token is masked in the request log"

# ---- --read-only, another namespace and name
run_script tutorial.lua --read-only -n monitoring --name prometheus
expect_rc 0 "--read-only succeeds"
expect_out_has "clusterrole.rbac.authorization.k8s.io/prometheus-cluster-role-read-only created" "--read-only: its own ClusterRole"
expect_out_has "auth can-i get pods --as=system:serviceaccount:monitoring:prometheus: yes" "--read-only: may read pods"
expect_out_has "auth can-i delete deployments.apps --as=system:serviceaccount:monitoring:prometheus: no" "--read-only: may not delete deployments"
expect_out_has "namespaces the service account sees (6)" "--read-only: may list namespaces"
check "--read-only: no trap warnings" $([ -z "$err" ]; echo $?) "$err"
check "--read-only: the role grants no write verb" $(kget clusterrole prometheus-cluster-role-read-only | json_field \
  'sorted({v for r in o["rules"] for v in r["verbs"]})' | grep -qx "\['get', 'list', 'watch'\]"; echo $?)

# switching an existing setup to --read-only replaces the binding (roleRef is immutable)
run_script tutorial.lua --read-only
expect_rc 0 "tutorial then --read-only succeeds"
expect_out_has "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding replaced (roleRef changed)" "--read-only after the tutorial replaces the binding"
expect_out_has "auth can-i delete deployments.apps --as=$user: no" "--read-only after the tutorial: write access is gone"

# ---- --dry-run: nothing stored
snapshot >"$tmp/before-dry"
run_script tutorial.lua --dry-run -n dry-ns --name dry
expect_rc 0 "--dry-run succeeds"
expect_out "namespace/dry-ns created (server dry run)
serviceaccount/dry created (server dry run skipped: namespace dry-ns does not exist yet)
clusterrole.rbac.authorization.k8s.io/dry-cluster-role created (server dry run)
clusterrolebinding.rbac.authorization.k8s.io/dry-cluster-role-binding created (server dry run)
secret/dry-token created (server dry run skipped: namespace dry-ns does not exist yet)" "--dry-run: the lines say server dry run"
expect_err_has "server dry run: nothing was stored" "--dry-run says nothing was stored"
check "--dry-run stores nothing" $(kubectl get ns dry-ns >/dev/null 2>&1 || kubectl get clusterrole dry-cluster-role >/dev/null 2>&1; [ $? -ne 0 ]; echo $?)
run_script tutorial.lua --read-only --dry-run
expect_rc 0 "--dry-run on an existing setup succeeds"
expect_out_has "secret/api-service-account-token unchanged (server dry run)" "--dry-run on an existing setup: unchanged"
run_script tutorial.lua --dry-run
expect_out_has "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding replaced (roleRef changed) (server dry run skipped)" "--dry-run back to the tutorial's role: the binding would be replaced"
snapshot >"$tmp/after-dry"
diff "$tmp/before-dry" "$tmp/after-dry" >"$tmp/dry-diff"
check "--dry-run runs changed no object of the cluster (names and resourceVersions)" $? "$(cat "$tmp/dry-diff")"

# back to the tutorial's role: the binding is replaced again
run_script tutorial.lua
expect_rc 0 "back from --read-only succeeds"
expect_out_has "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding replaced (roleRef changed)" "back from --read-only replaces the binding"
expect_out_has "auth can-i delete deployments.apps --as=$user: yes" "back from --read-only: write access again"

# ---- failures: one line, non-zero
run_script tutorial.lua --namespace Bad_NS
expect_rc 1 "bad namespace: exit 1"
expect_err 'error: invalid namespace name "Bad_NS": a lowercase RFC 1123 label (a-z, 0-9, '"'"'-'"'"'), at most 63 characters' "bad namespace: one clear line"
run_script tutorial.lua --name -sa
expect_rc 1 "bad name: exit 1"
expect_err 'error: invalid service account name "-sa": lowercase letters, digits, '"'"'-'"'"' and '"'"'.'"'"', starting and ending with a letter or digit' "bad name: one clear line"
run_script tutorial.lua --show-token --token-file "$tmp/x"
expect_rc 1 "--show-token with --token-file: exit 1"
expect_err "error: --show-token and --token-file: choose one" "--show-token with --token-file: one line"
run_script tutorial.lua --bogus
expect_rc 2 "unknown flag: exit 2"
expect_err "error: unknown flag: --bogus (see 'kubelua $SCRIPTS/tutorial.lua --help')" "unknown flag: one line"
run_script tutorial.lua --token-file
expect_rc 2 "missing value: exit 2"
expect_err "error: flag needs an argument: --token-file (see 'kubelua $SCRIPTS/tutorial.lua --help')" "missing value: one line"
run_script tutorial.lua --kubeconfig "$tmp/missing"
expect_rc 1 "missing kubeconfig: exit 1"
check "missing kubeconfig: one line naming the file" $([ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && [[ "$err" == "error: "*"$tmp/missing"* ]]; echo $?) "$err"
run_script tutorial.lua --token-file /nonexistent-dir/token
expect_rc 1 "unwritable --token-file: exit 1"
check "unwritable --token-file: one error line" $([ "$(printf '%s\n' "$err" | grep -c '^error:')" = 1 ] && [[ "$(printf '%s\n' "$err" | tail -1)" == "error: cannot write /nonexistent-dir/token: "* ]]; echo $?) "$err"
run_script tutorial.lua --timeout 2s -n slow --name slow --kubeconfig <(sed "s#$url#https://127.0.0.1:1#" "$KUBECONFIG")
expect_rc 1 "unreachable server: exit 1"
check "unreachable server: one error line" $([ "$(printf '%s\n' "$err" | grep -c '^error:')" = 1 ] && [[ "$(printf '%s\n' "$err" | tail -1)" == "error: The connection to the server 127.0.0.1:1 was refused"* ]]; echo $?) "$err"

# the API call fails (the Secret's token was overwritten): one line, exit 1,
# pointing at diagnose.lua
kubectl patch secret api-service-account-token -n devops-tools -p '{"data":{"token":"Ym9ndXM="}}' >/dev/null
echo previous >"$tmp/kept"
run_script tutorial.lua --token-file "$tmp/rejected"
expect_rc 1 "a rejected token with --token-file: exit 1"
check "a rejected token: no token file is written" $([ ! -e "$tmp/rejected" ] && [ -z "$(ls -A "$tmp" | grep '^\.rejected')" ]; echo $?) "$(ls -A "$tmp")"
run_script tutorial.lua --token-file "$tmp/kept"
check "a rejected token: an existing token file is left as it was" $([ "$(cat "$tmp/kept")" = previous ]; echo $?)
run_script tutorial.lua --show-token
expect_out "" "a rejected token with --show-token: nothing on stdout"
run_script tutorial.lua
expect_rc 1 "a rejected token: exit 1"
expect_out_has "secret/api-service-account-token: token decoded: not a JWT" "a rejected token: decoded, not a JWT"
expect_out_has "GET $url/api/v1/namespaces as $user (TLS verified with the Secret's ca.crt): failed" "a rejected token: the call failed"
check "a rejected token: one error line naming the 401 and diagnose.lua" $([ "$(printf '%s\n' "$err" | grep -c '^error:')" = 1 ] && [[ "$(printf '%s\n' "$err" | tail -1)" == "error: You must be logged in to the server (Unauthorized)"*"diagnose.lua"* ]]; echo $?) "$err"

# a token controller slower than --timeout (a second kubesim, 30 s per token)
run env -u KUBESIM_URL KUBESIM_ARGS="--token-delay 30" bash "$ROOT/tests/with-kubesim" \
  "$KUBELUA" "$SCRIPTS/tutorial.lua" --timeout 1s --token-file "$tmp/slow"
expect_rc 1 "token not filled in time: exit 1"
check "token not filled in time: one error line saying what it waited for" $([ "$(printf '%s\n' "$err" | grep -c '^error:')" = 1 ] &&
  [ "$(printf '%s\n' "$err" | tail -1)" = "error: secret devops-tools/api-service-account-token was not filled with a token within 1s; is the token controller running? (timed out waiting for the condition on secrets/api-service-account-token in namespace devops-tools (after 1s))" ]; echo $?) "$(detail)"
check "token not filled in time: no token file" $([ ! -e "$tmp/slow" ]; echo $?)

run_script tutorial.lua --help
expect_rc 0 "--help: exit 0"
expect_out_has "Usage: kubelua scripts/tutorial.lua [options]" "--help: usage line"
expect_out_has "--insecure-skip-tls-verify" "--help lists the options"
expect_out_has "--kubeconfig FILE" "--help lists the global options"

finish
