#!/bin/bash
# CustomResourceDefinitions with the real kubectl: create a CRD, apply a custom resource of the new
# kind (discovery and OpenAPI must know it), get/list/patch it, RBAC on it, delete the CRD (its
# objects and its group go).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$here/lib.sh"

crd_yaml() {
    cat <<EOF2
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF2
}
cr_yaml() {
    cat <<EOF2
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: $1}
EOF2
}

kubectl create namespace shop >/dev/null
# kubectl's discovery cache is filled before the CRD exists: apply must refresh it on the miss
kubectl get configmaps -n shop >/dev/null 2>&1

out=$(crd_yaml | kubectl apply -f - 2>&1)
expect_eq "apply CRD" "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" "$out"
out=$(kubectl wait --for condition=established crd/widgets.example.com --timeout=10s 2>&1)
expect_eq "CRD established" "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met" "$out"
out=$(kubectl get crd widgets.example.com -o jsonpath='{.status.conditions[*].type}={.status.conditions[*].status}' 2>&1)
expect_eq "CRD conditions" "NamesAccepted Established=True True" "$out"
out=$(kubectl get crd --no-headers 2>&1)
expect_match "get crd" '^widgets\.example\.com +[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$out"
out=$(kubectl api-resources --api-group=example.com --no-headers 2>&1)
expect_match "api-resources lists widgets" '^widgets +wd +example\.com/v1 +true +Widget$' "$out"

out=$(cr_yaml 3 | kubectl apply -f - 2>&1)
expect_eq "apply custom resource" "widget.example.com/w1 created" "$out"
out=$(cr_yaml 3 | kubectl apply -f - 2>&1)
expect_eq "re-apply unchanged" "widget.example.com/w1 unchanged" "$out"
out=$(cr_yaml 4 | kubectl apply -f - 2>&1)
expect_eq "apply a change" "widget.example.com/w1 configured" "$out"
# switching from client-side to server-side apply with a changed value conflicts with
# kubectl-client-side-apply, as on a real server, hence --force-conflicts
out=$(cr_yaml 5 | kubectl apply --server-side --force-conflicts -f - 2>&1)
expect_eq "server-side apply" "widget.example.com/w1 serverside-applied" "$out"
out=$(kubectl get widgets -n shop --no-headers 2>&1)
expect_match "get widgets" '^w1 +[0-9]+s$' "$out"
out=$(kubectl get wd w1 -n shop -o jsonpath='{.kind} {.apiVersion} {.spec.size} {.metadata.generation}' 2>&1)
expect_eq "get by short name" "Widget example.com/v1 5 3" "$out"
out=$(kubectl patch widget w1 -n shop --type=merge -p '{"spec":{"color":"red"}}' 2>&1)
expect_eq "merge patch" "widget.example.com/w1 patched" "$out"
out=$(kubectl get widget w1 -n shop -o jsonpath='{.spec.color}' 2>&1)
expect_eq "patched field" "red" "$out"
out=$(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: shop}\nspec: {size: 1}\nbogus: 1\n' |
      kubectl apply -f - 2>&1)
expect_eq "schema-less: unknown top-level fields are kept" "widget.example.com/w2 created" "$out"

# RBAC: a service account without a grant is refused in the real words, then allowed by a Role
kubectl create serviceaccount viewer -n shop >/dev/null
out=$(kubectl auth can-i list widgets.example.com -n shop --as=system:serviceaccount:shop:viewer 2>&1)
expect_eq "can-i list widgets without a role" "no" "$out"
kubectl create role widget-reader -n shop --verb=get,list --resource=widgets.example.com >/dev/null
kubectl create rolebinding widget-reader -n shop --role=widget-reader --serviceaccount=shop:viewer >/dev/null
out=$(kubectl auth can-i list widgets.example.com -n shop --as=system:serviceaccount:shop:viewer 2>&1)
expect_eq "can-i list widgets with a role" "yes" "$out"
out=$(kubectl get widgets -n shop --as=system:serviceaccount:shop:viewer -o name 2>&1 | tr '\n' ' ')
expect_eq "list widgets as the service account" "widget.example.com/w1 widget.example.com/w2 " "$out"
out=$(kubectl delete widget w2 -n shop --as=system:serviceaccount:shop:viewer 2>&1)
expect_eq "delete refused" 'Error from server (Forbidden): widgets.example.com "w2" is forbidden: User "system:serviceaccount:shop:viewer" cannot delete resource "widgets" in API group "example.com" in the namespace "shop"' "$out"

out=$(kubectl delete widget w2 -n shop 2>&1)
expect_eq "delete custom resource" 'widget.example.com "w2" deleted' "$out"

# deleting the CRD deletes its objects and removes the group (kubectl waits until it is gone)
out=$(timeout 30 kubectl delete crd widgets.example.com 2>&1)
expect_eq "delete CRD" 'customresourcedefinition.apiextensions.k8s.io "widgets.example.com" deleted' "$out"
out=$(kubectl get crd widgets.example.com 2>&1)
expect_eq "CRD gone" 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "widgets.example.com" not found' "$out"
out=$(KUBECACHEDIR="$KUBESIM_DIR/kubecache-after" kubectl get widgets -n shop 2>&1)
expect_eq "kind gone from discovery" 'error: the server doesn'"'"'t have a resource type "widgets"' "$out"
out=$(KUBECACHEDIR="$KUBESIM_DIR/kubecache-after" kubectl api-resources --api-group=example.com --no-headers 2>&1)
expect_eq "api-resources without the group" "" "$out"
# created again, it is empty: the objects went with it
crd_yaml | kubectl apply -f - >/dev/null
kubectl wait --for condition=established crd/widgets.example.com --timeout=10s >/dev/null
out=$(kubectl get widgets -n shop 2>&1)
expect_eq "recreated CRD has no objects" "No resources found in shop namespace." "$out"
finish
