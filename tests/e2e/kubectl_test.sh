#!/bin/bash
# Beyond the tutorial: whoami, create token, get -w, api-resources, namespace deletion, lifecycle errors.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

kubectl create namespace team-a >/dev/null
# SA default and ConfigMap kube-root-ca.crt come from asynchronous controllers; the checks below
# (get -w, get sa) expect them, so wait for them first (bounded), as a real cluster needs too
wait_for "kube-root-ca.crt in team-a" 10 kubectl get configmap kube-root-ca.crt -n team-a
wait_for "ServiceAccount default in team-a" 10 kubectl get serviceaccount default -n team-a
kubectl create serviceaccount bot -n team-a >/dev/null

out=$(kubectl auth whoami --token=ignored 2>&1)
expect_match "client cert wins over --token (x509 authenticator first)" "Username +kubernetes-admin" "$out"
# auth whoami: admin client certificate, then a TokenRequest token
out=$(kubectl auth whoami 2>&1)
expect_match "whoami (client cert)" "Username +kubernetes-admin" "$out"
expect_match "whoami groups" 'Groups +\[system:masters system:authenticated\]' "$out"

tok=$(kubectl create token bot -n team-a 2>&1)
# kubectl sends the kubeconfig's client certificate along with --token, and the apiserver's
# x509 authenticator wins; token tests therefore use a kubeconfig without a user
cat > "$KUBESIM_DIR/nouser.kubeconfig" <<EOF2
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: $KUBESIM_DIR/ca.crt
    server: $KUBESIM_URL
  name: kubesim
contexts:
- context:
    cluster: kubesim
  name: kubesim
current-context: kubesim
EOF2
tk() { kubectl --kubeconfig="$KUBESIM_DIR/nouser.kubeconfig" "$@"; }
expect_match "create token prints a JWT" '^eyJ[^.]+\.[^.]+\.[^.]+$' "$tok"
out=$(tk auth whoami --token="$tok" 2>&1)
expect_match "whoami --token" "Username +system:serviceaccount:team-a:bot" "$out"
expect_match "whoami --token groups" 'Groups +\[system:serviceaccounts system:serviceaccounts:team-a system:authenticated\]' "$out"
out=$(tk auth whoami --token="not-a-token" 2>&1); rc=$?
expect_eq "whoami with a bad token" "error: You must be logged in to the server (Unauthorized)" "$out"
expect_eq "whoami with a bad token exits 1" "1" "$rc"

out=$(kubectl create token bot -n team-a --duration=5m 2>&1); rc=$?
expect_match "create token below 10m is refused" 'may not specify a duration less than 10 minutes' "$out"
out=$(kubectl create token nobody -n team-a 2>&1)
expect_eq "create token for a missing SA" 'error: failed to create token: serviceaccounts "nobody" not found' "$out"

# the bound token: fresh SA has only discovery/basic-user, so listing pods is forbidden
out=$(tk get pods -n team-a --token="$tok" 2>&1)
expect_eq "SA token forbidden to list pods" 'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:team-a:bot" cannot list resource "pods" in API group "" in the namespace "team-a"' "$out"

out=$(kubectl get nodes --no-headers 2>&1)
expect_match "one Ready node" '^kubesim +Ready +control-plane +[0-9]+[smhd] +v1\.32\.4$' "$out"

# api-resources: the whole table, rbac and authorization groups included
out=$(kubectl api-resources 2>&1)
expect_match "api-resources header" "^NAME +SHORTNAMES +APIVERSION +NAMESPACED +KIND" "$out"
expect_match "api-resources deployments" "deployments +deploy +apps/v1 +true +Deployment" "$out"
expect_match "api-resources selfsubjectaccessreviews" "selfsubjectaccessreviews +authorization.k8s.io/v1 +false +SelfSubjectAccessReview" "$out"

# get -w: the initial list, then an event, bounded by --request-timeout
(
    # create once kubectl has listed (the watch follows the list); bounded
    for _ in $(seq 1 100); do
        grep -q '"verb":"list","method":"GET","path":"/api/v1/namespaces/team-a/configmaps"' "$KUBESIM_DIR/requests.jsonl" && break
        sleep 0.05
    done
    sleep 0.3
    kubectl create configmap watched -n team-a --from-literal=k=v >/dev/null
) &
out=$(timeout 20 kubectl get configmaps -n team-a -w --request-timeout=4s 2>/dev/null)
wait
expect_match "get -w shows kube-root-ca.crt" "kube-root-ca.crt" "$out"
expect_match "get -w shows the new configmap" "watched +1 " "$out"

out=$(kubectl get sa -n team-a -o name 2>&1 | sort | tr '\n' ' ')
expect_eq "namespace has default SA (no token secrets)" "serviceaccount/bot serviceaccount/default " "$out"
out=$(kubectl get secrets -n team-a 2>&1)
expect_eq "no auto-created token secrets" "No resources found in team-a namespace." "$out"

# creating in a namespace that does not exist
out=$(kubectl create configmap x -n nope 2>&1)
expect_eq "create in a missing namespace" 'error: failed to create configmap: namespaces "nope" not found' "$out"

# delete namespace: a finalizer on one object holds the namespace in Terminating (deterministically),
# creating inside it is refused; once the finalizer is removed, kubectl's wait sees it go
kubectl create namespace doomed >/dev/null
kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: ConfigMap
metadata: {name: held, namespace: doomed, finalizers: [example.com/hold]}
EOF2
out=$(kubectl delete namespace doomed --wait=false 2>&1)
expect_eq "delete namespace" 'namespace "doomed" deleted' "$out"
is_terminating() { [ "$(kubectl get ns doomed -o jsonpath='{.status.phase}')" = Terminating ]; }
wait_for "namespace Terminating" 10 is_terminating
out=$(kubectl create configmap late -n doomed --from-literal=a=b 2>&1)
expect_eq "create in a terminating namespace" 'error: failed to create configmap: configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated' "$out"
has_condition() { kubectl get ns doomed -o jsonpath='{.status.conditions[*].reason}' | grep -q SomeFinalizersRemain; }
wait_for "namespace reports the finalizer" 10 has_condition && pass "namespace reports the remaining finalizer"
kubectl patch configmap held -n doomed --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
out=$(timeout 30 kubectl wait --for=delete namespace/doomed --timeout=20s 2>&1); rc=$?
expect_eq "namespace goes once the finalizer is removed" "0" "$rc"
# a plain namespace with content: kubectl delete blocks until it is really gone
kubectl create namespace doomed2 >/dev/null
kubectl create configmap c -n doomed2 --from-literal=a=b >/dev/null
out=$(timeout 30 kubectl delete namespace doomed2 2>&1); rc=$?
expect_eq "blocking delete namespace" 'namespace "doomed2" deleted' "$out"
expect_eq "blocking delete namespace exits 0" "0" "$rc"
out=$(kubectl get ns doomed2 2>&1)
expect_eq "namespace is gone when delete returns" 'Error from server (NotFound): namespaces "doomed2" not found' "$out"
out=$(kubectl get ns doomed 2>&1)
expect_eq "namespace is gone" 'Error from server (NotFound): namespaces "doomed" not found' "$out"
out=$(kubectl delete namespace default 2>&1)
expect_eq "default namespace is immortal" 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted' "$out"

# impersonation without the permission: a fresh SA may not impersonate
out=$(tk auth can-i list pods --as=alice --token="$tok" 2>&1 | tail -1)
expect_eq "impersonation needs the impersonate verb" 'Error from server (Forbidden): users "alice" is forbidden: User "system:serviceaccount:team-a:bot" cannot impersonate resource "users" in API group "" at the cluster scope' "$out"

# default apply validation is server-side Strict: an unknown field is the real 400
out=$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo, namespace: team-a}\ndatta: {a: "1"}\n' | kubectl apply -f - 2>&1); rc=$?
expect_eq "apply with an unknown field" 'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datta"' "$out"
expect_eq "apply with an unknown field exits 1" "1" "$rc"

# replace with a stale resourceVersion, JSON patch, label --overwrite, server-side dry run
kubectl create configmap cas -n team-a --from-literal=a=1 >/dev/null
kubectl get configmap cas -n team-a -o yaml | sed 's/a: "1"/a: "2"/' > "$KUBESIM_DIR/cas.yaml"
out=$(kubectl replace -f "$KUBESIM_DIR/cas.yaml" 2>&1)
expect_eq "replace" "configmap/cas replaced" "$out"
out=$(kubectl replace -f "$KUBESIM_DIR/cas.yaml" 2>&1)
expect_match "replace with a stale resourceVersion" 'Error from server \(Conflict\): error when replacing ".*": Operation cannot be fulfilled on configmaps "cas": the object has been modified; please apply your changes to the latest version and try again' "$out"
out=$(kubectl patch configmap cas -n team-a --type=json -p '[{"op":"replace","path":"/data/a","value":"3"}]' 2>&1)
expect_eq "json patch" "configmap/cas patched" "$out"
kubectl label configmap cas -n team-a x=1 >/dev/null
out=$(kubectl label configmap cas -n team-a x=2 2>&1)
expect_eq "label without --overwrite" "error: 'x' already has a value (1), and --overwrite is false" "$out"
out=$(kubectl delete configmap cas -n team-a --dry-run=server 2>&1)
expect_eq "server-side dry-run delete" 'configmap "cas" deleted (server dry run)' "$out"
expect_eq "dry run kept the object" "configmap/cas" "$(kubectl get configmap cas -n team-a -o name 2>&1)"

# deployments: nothing runs, but the status reports the rollout so waits terminate
kubectl create deployment web --image=nginx:1.27 --replicas=2 -n team-a >/dev/null
out=$(timeout 20 kubectl rollout status deployment/web -n team-a --timeout=15s 2>&1 | tail -1)
expect_eq "rollout status" 'deployment "web" successfully rolled out' "$out"
out=$(kubectl get deployment web -n team-a --no-headers 2>&1)
expect_match "deployment READY 2/2" '^web +2/2 +2 +2 ' "$out"

# the request log records what kubectl sent (and never a bearer token)
expect_match "requests.jsonl has the namespace POST" '"method":"POST","path":"/api/v1/namespaces"' "$(cat "$KUBESIM_DIR/requests.jsonl")"
if grep -q "$tok" "$KUBESIM_DIR/requests.jsonl"; then fail "a token leaked into requests.jsonl"; else pass "no token in requests.jsonl"; fi

finish
