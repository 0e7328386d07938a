#!/usr/bin/env bash
# The tutorial's end state, made two ways on two fresh kubesims: (A) the real
# kubectl running the tutorial's own commands verbatim (with the manifests of
# scripts/manifests/, which are the tutorial's heredocs byte for byte), and
# (B) `kubelua scripts/tutorial.lua`. The objects are dumped from both with
# `kubectl get -o json` and compared field by field.
#
# Ignored, because they differ between any two clusters or runs, or between
# client-side and server-side apply: metadata.uid, resourceVersion,
# creationTimestamp, generation, managedFields; the annotation
# kubectl.kubernetes.io/last-applied-configuration (written by kubectl's
# client-side apply only); the label app.kubernetes.io/managed-by=kubelua
# (added by kubelua so that teardown.lua removes only what it created); and
# what the token controller generates per cluster: Secret data.token and
# data.ca.crt (each kubesim has its own signing key and CA) and the
# kubernetes.io/service-account.uid annotation (the account's uid).
. "$(dirname "$0")/scripts_helpers.bash"
export KUBESIM_ARGS=${KUBESIM_ARGS:---token-delay 0}
if [ -z "${A_KUBECONFIG:-}" ]; then
  if [ -n "${KUBESIM_URL:-}" ]; then # inside the first kubesim: start the second
    export A_KUBECONFIG=$KUBECONFIG A_URL=$KUBESIM_URL A_CACHE=$KUBECACHEDIR
    unset KUBESIM_URL
  fi
fi
with_kubesim "$@"
M=$SCRIPTS/manifests
NS=devops-tools
SA=api-service-account

# ---- (A) the tutorial with the real kubectl, verbatim
kA() { KUBECONFIG=$A_KUBECONFIG KUBECACHEDIR=$A_CACHE kubectl "$@"; }
rm -rf "$A_CACHE"
run kA create namespace devops-tools
expect_out "namespace/devops-tools created" "kubectl: create namespace"
run kA create serviceaccount api-service-account -n devops-tools
expect_out "serviceaccount/api-service-account created" "kubectl: create serviceaccount"
run bash -c "cat '$M/serviceaccount.yaml' | KUBECONFIG=$A_KUBECONFIG KUBECACHEDIR=$A_CACHE kubectl apply -f -"
expect_out "serviceaccount/api-service-account configured" "kubectl: the ServiceAccount manifest (or use the following manifest)"
run bash -c "cat '$M/clusterrole.yaml' | KUBECONFIG=$A_KUBECONFIG KUBECACHEDIR=$A_CACHE kubectl apply -f -"
expect_out "clusterrole.rbac.authorization.k8s.io/api-cluster-role created" "kubectl: apply the ClusterRole"
run kA api-resources
expect_rc 0 "kubectl: api-resources"
run bash -c "cat '$M/clusterrolebinding.yaml' | KUBECONFIG=$A_KUBECONFIG KUBECACHEDIR=$A_CACHE kubectl apply -f -"
expect_out "clusterrolebinding.rbac.authorization.k8s.io/api-cluster-role-binding created" "kubectl: apply the ClusterRoleBinding"
run kA auth can-i get pods --as=system:serviceaccount:devops-tools:api-service-account
expect_out "yes" "kubectl: can-i get pods"
run kA auth can-i delete deployments --as=system:serviceaccount:devops-tools:api-service-account
expect_out "yes" "kubectl: can-i delete deployments"
cp "$M/sa-token.yaml" "$tmp/sa-token.yaml"
run kA apply -f "$tmp/sa-token.yaml"
expect_out "secret/api-service-account-token created" "kubectl: apply -f sa-token.yaml"
for _ in $(seq 1 50); do # the token controller fills the Secret
  [ -n "$(kA get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools)" ] && break
  sleep 0.1
done
token=$(kA get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools | base64 --decode)
check "kubectl: the decoded token is a JWT" $([[ "$token" =~ ^eyJ[^.]*\.[^.]*\.[^.]*$ ]]; echo $?)
run bash -c "KUBECONFIG=$A_KUBECONFIG KUBECACHEDIR=$A_CACHE kubectl get endpoints | grep kubernetes"
expect_rc 0 "kubectl: get endpoints | grep kubernetes"
run curl -k -s "$A_URL/api/v1/namespaces" -H "Authorization: Bearer $token"
check "curl -k with the token lists the namespaces" $(printf '%s' "$out" | json_field '" ".join(i["metadata"]["name"] for i in o["items"])' | grep -qx "default devops-tools kube-node-lease kube-public kube-system"; echo $?) "$out"

# ---- (B) the same with kubelua
run_script tutorial.lua
expect_rc 0 "kubelua: scripts/tutorial.lua"

# ---- compare
normalize='
import json, sys
o = json.load(sys.stdin)
m = o["metadata"]
for k in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
    m.pop(k, None)
ann = m.get("annotations", {})
ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
ann.pop("kubernetes.io/service-account.uid", None)
if not ann: m.pop("annotations", None)
lab = m.get("labels", {})
lab.pop("app.kubernetes.io/managed-by", None)
if not lab: m.pop("labels", None)
if o.get("kind") == "Secret":
    for k in ("token", "ca.crt"):
        assert o.get("data", {}).get(k), "Secret data." + k + " is empty"
        o["data"][k] = "<generated>"
print(json.dumps(o, indent=1, sort_keys=True))
'
compare() { # kind name [namespace]
  local args=("$1" "$2") what="$1/$2" a=$tmp/a-$1.json b=$tmp/b-$1.json
  [ -n "${3:-}" ] && args+=(-n "$3")
  kA get "${args[@]}" -o json 2>&1 | python3 -c "$normalize" >"$a" 2>&1 &&
    kubectl get "${args[@]}" -o json 2>&1 | python3 -c "$normalize" >"$b" 2>&1
  check "$what dumped from both clusters" $? "$(cat "$a" "$b")"
  diff -u "$a" "$b" >"$tmp/diff"
  check "same $what from kubectl and kubelua" $? "$(cat "$tmp/diff")"
}
compare namespace $NS
compare serviceaccount $SA $NS
compare clusterrole api-cluster-role
compare clusterrolebinding api-cluster-role-binding
compare secret api-service-account-token $NS
check "the comparison sees the real content" $(grep -q '"ingress"' "$tmp/a-clusterrole.json" &&
  grep -q '"name": "api-service-account"' "$tmp/b-clusterrolebinding.json" &&
  grep -q '"type": "kubernetes.io/service-account-token"' "$tmp/b-secret.json" &&
  grep -q '"kubernetes.io/metadata.name": "devops-tools"' "$tmp/b-namespace.json"; echo $?)
# and it would see a difference: a label added on one side
kubectl label serviceaccount $SA -n $NS extra=1 >/dev/null
kubectl get serviceaccount $SA -n $NS -o json | python3 -c "$normalize" >"$tmp/b2.json"
check "a difference is caught" $(! diff -q "$tmp/a-serviceaccount.json" "$tmp/b2.json" >/dev/null; echo $?)

finish
