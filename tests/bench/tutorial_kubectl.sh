#!/bin/bash
# The tutorial (/work/shared/tutorial.txt, "How to Create Kubernetes Service
# Account and Long Lived Token") as its reader runs it: its own kubectl
# commands, verbatim and in order, its manifests from scripts/manifests/ (the
# tutorial's bytes, tests/lua/tutorial_manifests_test.lua) on stdin as its
# heredocs would be. The peer of `kubelua scripts/tutorial.lua` in
# tests/bench/run's tutorial case.
#
#   KUBECONFIG=... KUBESIM_DIR=... tests/bench/tutorial_kubectl.sh
#
# Needs KUBECONFIG (the admin kubeconfig) and a CA file for the final curl:
# CA_FILE, or else $KUBESIM_DIR/ca.crt. The token is never printed: the
# script ends with the curl's output (the namespace list the service account
# sees). Every loop is bounded; any failing step fails the script.
set -euo pipefail

ca_file=${CA_FILE:-${KUBESIM_DIR:-}/ca.crt}
if [[ ! -r $ca_file ]]; then
  echo "tutorial_kubectl.sh: no CA file (set CA_FILE or KUBESIM_DIR)" >&2
  exit 2
fi
manifests=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts/manifests" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Step 1: the namespace and the service account
kubectl create namespace devops-tools
kubectl create serviceaccount api-service-account -n devops-tools

# Step 2: the ClusterRole (the tutorial: cat <<EOF | kubectl apply -f -)
kubectl apply -f - <"$manifests/clusterrole.yaml"

# Step 3: the ClusterRoleBinding (the same)
kubectl apply -f - <"$manifests/clusterrolebinding.yaml"

# Step 4: validate with can-i
kubectl auth can-i get pods --as=system:serviceaccount:devops-tools:api-service-account
kubectl auth can-i delete deployments --as=system:serviceaccount:devops-tools:api-service-account

# Step 5: the token Secret, from sa-token.yaml
cp "$manifests/sa-token.yaml" sa-token.yaml
kubectl apply -f sa-token.yaml

# the token controller fills the Secret asynchronously: retry (at most 100
# times, 50 ms apart) until the jsonpath is non-empty
TOKEN=
for _ in $(seq 100); do
  TOKEN=$(kubectl get secret api-service-account-token -o=jsonpath='{.data.token}' -n devops-tools | base64 --decode)
  [[ -n $TOKEN ]] && break
  sleep 0.05
done
if [[ -z $TOKEN ]]; then
  echo "tutorial_kubectl.sh: the token Secret was not filled after 100 tries" >&2
  exit 1
fi

line=$(kubectl get endpoints | grep kubernetes)
echo "$line"
# the ENDPOINTS column (first address) of that line is the API server
endpoint=$(awk '{print $2}' <<<"$line" | cut -d, -f1)

# Step 6: the API call as the service account (TLS verified, not curl -k)
curl -sS --fail --cacert "$ca_file" "https://$endpoint/api/v1/namespaces" -H "Authorization: Bearer $TOKEN"
