#!/usr/bin/env bash
# scripts/audit.lua against kubesim: each finding (cluster-wide service
# accounts, default-SA bindings, wildcard rules, long-lived tokens and their
# last use) as a table and as JSON/YAML with exact contents.
. "$(dirname "$0")/scripts_helpers.bash"
with_kubesim "$@"

# ---- a fresh cluster: nothing to report (built-ins are left out)
run_script audit.lua
expect_rc 0 "fresh cluster: exit 0"
expect_out "Service accounts with cluster-wide bindings (0)

Bindings to default service accounts (0)

Rules with wildcards (0)

Long-lived token Secrets (0)" "fresh cluster: four empty sections"
run_script audit.lua --all
expect_rc 0 "--all: exit 0"
expect_out_has "ClusterRole/cluster-admin" "--all includes the built-in wildcard roles"

# ---- the tutorial and a few classic mistakes
run_script tutorial.lua
kubectl create rolebinding default-view --clusterrole=view --serviceaccount=devops-tools:default -n devops-tools >/dev/null
kubectl create clusterrolebinding default-admin --clusterrole=cluster-admin --serviceaccount=web:default >/dev/null
kubectl create clusterrole everything --verb='*' --resource='*' >/dev/null
kubectl create clusterrolebinding all-sas --clusterrole=everything --group=system:serviceaccounts >/dev/null
kubectl create role pods-any -n devops-tools --verb='*' --resource=pods >/dev/null
# the tutorial's own API call used the long-lived token: the server marks it
run_script audit.lua -o json
check "the tutorial's token is marked used today" $([ "$(printf '%s' "$out" | json_field 'o["longLivedTokens"][0]["lastUsed"]')" = "$(date -u +%Y-%m-%d)" ]; echo $?) "$out"
kubectl label --overwrite secret api-service-account-token -n devops-tools kubernetes.io/legacy-token-last-used=2026-11-01 >/dev/null

run_script audit.lua -o json
expect_rc 0 "-o json: exit 0"
got=$(printf '%s' "$out" | python3 -c 'import json,sys
o=json.load(sys.stdin)
for t in o["longLivedTokens"]: t.pop("age")
print(json.dumps(o, sort_keys=True))')
want=$(python3 -c 'import json; print(json.dumps({
 "clusterWideServiceAccounts": [
  {"access": "write", "binding": "api-cluster-role-binding", "exists": True,
   "role": "ClusterRole/api-cluster-role", "serviceAccount": "devops-tools/api-service-account"},
  {"access": "admin", "binding": "all-sas", "exists": None, "role": "ClusterRole/everything",
   "serviceAccount": "every service account (group system:serviceaccounts)"},
  {"access": "admin", "binding": "default-admin", "exists": False, "role": "ClusterRole/cluster-admin",
   "serviceAccount": "web/default"}],
 "defaultServiceAccountBindings": [
  {"access": "admin", "binding": "ClusterRoleBinding/default-admin", "role": "ClusterRole/cluster-admin",
   "scope": "cluster", "serviceAccount": "web/default"},
  {"access": "read", "binding": "RoleBinding/devops-tools/default-view", "role": "ClusterRole/view",
   "scope": "namespace devops-tools", "serviceAccount": "devops-tools/default"}],
 "longLivedTokens": [
  {"invalidSince": None, "lastUsed": "2026-11-01", "secret": "devops-tools/api-service-account-token",
   "serviceAccount": "devops-tools/api-service-account"}],
 "wildcardRules": [
  {"boundBy": ["all-sas"], "role": "ClusterRole/everything", "rule": 0,
   "wildcards": ["verbs=*", "resources=*"]},
  {"boundBy": [], "role": "Role/devops-tools/pods-any", "rule": 0, "wildcards": ["verbs=*"]}]},
 sort_keys=True))')
check "-o json: the exact findings" $([ "$got" = "$want" ]; echo $?) "got:  $got
want: $want"

run_script audit.lua
expect_rc 0 "table: exit 0"
expect_out_has "Service accounts with cluster-wide bindings (3)
SERVICE ACCOUNT                                        BINDING                    ROLE                           ACCESS   EXISTS
devops-tools/api-service-account                       api-cluster-role-binding   ClusterRole/api-cluster-role   write    yes
every service account (group system:serviceaccounts)   all-sas                    ClusterRole/everything         admin    <none>
web/default                                            default-admin              ClusterRole/cluster-admin      admin    NO (dangling)" "table: cluster-wide service accounts, a missing account flagged"
expect_out_has "Bindings to default service accounts (2)" "table: default-SA bindings counted"
expect_out_has "Rules with wildcards (2)" "table: wildcard rules counted"
check "table: last use of the long-lived token" $(printf '%s\n' "$out" | grep -q '^devops-tools/api-service-account-token .* 2026-11-01 *<none>$'; echo $?) "$out"

run_script audit.lua -o yaml
expect_rc 0 "-o yaml: exit 0"
check "-o yaml: the same report as JSON" $(printf '%s' "$out" | python3 -c 'import yaml,json,sys
o=yaml.safe_load(sys.stdin)
for t in o["longLivedTokens"]: t.pop("age")
print(json.dumps(o, sort_keys=True))' | grep -qxF "$want"; echo $?)

run_script audit.lua -n devops-tools -o json
expect_rc 0 "-n: exit 0"
check "-n limits Roles, RoleBindings and Secrets to the namespace" $(printf '%s' "$out" | python3 -c 'import json,sys
o=json.load(sys.stdin)
assert [b["binding"] for b in o["defaultServiceAccountBindings"]] == ["ClusterRoleBinding/default-admin", "RoleBinding/devops-tools/default-view"]
assert len(o["longLivedTokens"]) == 1'; echo $?) "$out"

run_script audit.lua -o xml
expect_rc 2 "-o xml: exit 2"
expect_err "error: invalid argument \"xml\" for \"-o\" flag: must be one of table|json|yaml (see 'kubelua $SCRIPTS/audit.lua --help')" "-o xml: one line"
run_script audit.lua --kubeconfig "$tmp/none"
expect_rc 1 "missing kubeconfig: exit 1"

finish
