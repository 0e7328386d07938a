#!/bin/bash
# The tutorial (../../../shared/tutorial.txt) verbatim with the real kubectl, and what a real cluster prints.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"
# the tutorial's manifests, its own bytes (tests/lua/tutorial_manifests_test.lua)
manifests="$here/../../scripts/manifests"

out=$(kubectl create namespace devops-tools 2>&1)
expect_eq "create namespace" "namespace/devops-tools created" "$out"

out=$(kubectl create serviceaccount api-service-account -n devops-tools 2>&1)
expect_eq "create serviceaccount" "serviceaccount/api-service-account created" "$out"

sa_manifest() { cat "$manifests/serviceaccount.yaml"; }
# the SA exists without last-applied: apply warns and patches the annotation in ("configured")
out=$(sa_manifest | kubectl apply -f - 2>/dev/null)
expect_eq "apply serviceaccount over create" "serviceaccount/api-service-account configured" "$out"

cr_manifest() { cat "$manifests/clusterrole.yaml"; }
out=$(cr_manifest | kubectl apply -f - 2>&1)
expect_eq "apply clusterrole" "clusterrole.rbac.authorization.k8s.io/api-cluster-role created" "$out"

out=$(kubectl api-resources 2>&1)
expect_match "api-resources lists endpoints" "^endpoints +ep +v1 +true +Endpoints" "$(printf '%s\n' "$out" | grep '^endpoints')"
expect_match "api-resources lists clusterroles" "^clusterroles +rbac.authorization.k8s.io/v1 +false +ClusterRole" "$(printf '%s\n' "$out" | grep '^clusterroles ')"

crb_manifest() { cat "$manifests/clusterrolebinding.yaml"; }
out=$(crb_manifest | kubectl apply -f - 2>&1)
expect_eq "apply clusterrolebinding" "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding created" "$out"

out=$(kubectl auth can-i get pods --as=system:serviceaccount:devops-tools:api-service-account 2>&1)
expect_eq "can-i get pods" "yes" "$out"
out=$(kubectl auth can-i delete deployments --as=system:serviceaccount:devops-tools:api-service-account 2>&1)
expect_eq "can-i delete deployments" "yes" "$out"

cp "$manifests/sa-token.yaml" "$KUBESIM_DIR/sa-token.yaml"
out=$(kubectl apply -f "$KUBESIM_DIR/sa-token.yaml" 2>&1)
expect_eq "apply token secret" "secret/api-service-account-token created" "$out"

# the token controller fills the secret asynchronously; poll as a user would
has_token() { [ -n "$(kubectl get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools)" ]; }
wait_for "token in secret" 10 has_token
token=$(kubectl get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools | base64 --decode)
expect_match "decoded token is a JWT" '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$token"
raw=$(kubectl get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools)

out=$(kubectl get endpoints | grep kubernetes)
port=${KUBESIM_URL##*:}
expect_match "get endpoints | grep kubernetes" "^kubernetes +127\.0\.0\.1:$port +[0-9]+[smhd]" "$out"

# Step 6: curl with the decoded token, -k as written and with --cacert
body=$(curl -sS -k "$KUBESIM_URL/api/v1/namespaces" -H "Authorization: Bearer $token")
expect_match "curl -k lists namespaces" '"kind":"NamespaceList"' "$body"
expect_match "curl -k sees devops-tools" '"name":"devops-tools"' "$body"
body=$(curl -sS --cacert "$KUBESIM_DIR/ca.crt" "$KUBESIM_URL/api/v1/namespaces" -H "Authorization: Bearer $token")
expect_match "curl --cacert lists namespaces" '"kind":"NamespaceList"' "$body"

# re-applying the same manifests changes nothing
out=$(sa_manifest | kubectl apply -f - 2>&1)
expect_eq "re-apply serviceaccount" "serviceaccount/api-service-account unchanged" "$out"
out=$(cr_manifest | kubectl apply -f - 2>&1)
expect_eq "re-apply clusterrole" "clusterrole.rbac.authorization.k8s.io/api-cluster-role unchanged" "$out"
out=$(crb_manifest | kubectl apply -f - 2>&1)
expect_eq "re-apply clusterrolebinding" "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding unchanged" "$out"
out=$(kubectl apply -f "$KUBESIM_DIR/sa-token.yaml" 2>&1)
expect_eq "re-apply token secret" "secret/api-service-account-token unchanged" "$out"

# ---- negative cases a real cluster gives ----
out=$(kubectl auth can-i get secrets --as=system:serviceaccount:devops-tools:api-service-account 2>&1); rc=$?
expect_eq "can-i get secrets says no" "no" "$out"
expect_eq "can-i get secrets exits 1" "1" "$rc"

body=$(curl -sS -k "$KUBESIM_URL/api/v1/namespaces" -H "Authorization: Bearer $raw" -w '\n%{http_code}')
expect_eq "still-base64 token gets 401" "401" "$(printf '%s' "$body" | tail -1)"
expect_eq "401 Status body" '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}' "$(printf '%s' "$body" | head -1)"

out=$(kubectl delete serviceaccount api-service-account -n devops-tools 2>&1)
expect_eq "delete serviceaccount" 'serviceaccount "api-service-account" deleted' "$out"
secret_gone() { ! kubectl get secret api-service-account-token -n devops-tools >/dev/null 2>&1; }
wait_for "token secret deleted with its SA" 10 secret_gone && pass "token secret deleted with its SA"
out=$(kubectl get secret api-service-account-token -n devops-tools 2>&1)
expect_eq "secret is NotFound" 'Error from server (NotFound): secrets "api-service-account-token" not found' "$out"
code=$(curl -sS -k -o /dev/null -w '%{http_code}' "$KUBESIM_URL/api/v1/namespaces" -H "Authorization: Bearer $token")
expect_eq "old token gets 401 after SA deletion" "401" "$code"

finish
