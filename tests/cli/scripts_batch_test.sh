#!/usr/bin/env bash
# scripts/batch.lua and scripts/teardown.lua against kubesim: 200 namespaces
# in parallel with kubeconfigs, an idempotent rerun, files (CSV/YAML) and
# their errors, a failing namespace that does not stop the others, the
# progress display, and teardown leaving nothing behind.
. "$(dirname "$0")/scripts_helpers.bash"
KUBESIM_ARGS=${KUBESIM_ARGS:---token-delay 0 --namespace-delay 0.2}
with_kubesim "$@"

managed() { kubectl get "$@" -l app.kubernetes.io/managed-by=kubelua -o name 2>/dev/null | grep -c . ; }

# ---- 200 namespaces, 16 at a time, one kubeconfig each
run_script batch.lua --count 200 --prefix team --concurrency 16 --kubeconfig-dir "$tmp/kc"
expect_rc 0 "batch of 200: exit 0"
expect_out_has "200 namespaces: 200 ready (200 created, 0 configured, 0 unchanged), 0 failed, in " "batch of 200: summary line"
check "batch of 200: a table row per namespace" $([ "$(printf '%s\n' "$out" | grep -c '^team-[0-9]* .* created ')" = 200 ]; echo $?)
expect_out_has "NAMESPACE   SERVICE ACCOUNT       ROLE               BINDING                                RESULT    KUBECONFIG/ERROR" "batch of 200: table header"
expect_out_has "team-7      api-service-account   api-cluster-role   rolebinding/api-cluster-role-binding   created   $tmp/kc/team-7.kubeconfig" "batch of 200: a row"
check "batch of 200: progress lines when not on a terminal" $([ "$(printf '%s\n' "$err" | grep -c '^\[[0-9]*/200\] team-[0-9]* ok$')" = 200 ]; echo $?)
check "batch of 200: 200 namespaces labelled managed-by=kubelua" $([ "$(managed namespaces)" = 200 ]; echo $?)
check "batch of 200: 200 token Secrets filled" $([ "$(kubectl get secrets -A --field-selector type=kubernetes.io/service-account-token -o jsonpath='{range .items[*]}{.data.token}{"\n"}{end}' | grep -c .)" = 200 ]; echo $?)
# the token waits share one watch (kubesim logs a watch when it ends: bounded wait)
watches() { grep -c '"verb":"watch"' "$KUBESIM_DIR/requests.jsonl"; }
for _ in $(seq 30); do [ "$(watches)" -ge 1 ] && break; sleep 0.1; done
check "batch of 200: the token waits shared one watch" $([ "$(watches)" = 1 ]; echo $?) "$(watches) watches"
check "batch of 200: 200 kubeconfigs, all 0600" $([ "$(find "$tmp/kc" -name '*.kubeconfig' -perm 600 | wc -l)" = 200 ]; echo $?)
check "batch: the kubeconfig directory is 0700" $([ "$(mode "$tmp/kc")" = 700 ]; echo $?)
run kubectl --kubeconfig "$tmp/kc/team-42.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "system:serviceaccount:team-42:api-service-account" "batch: a kubeconfig works with the real kubectl"
run kubectl --kubeconfig "$tmp/kc/team-42.kubeconfig" get pods
expect_rc 0 "batch: the account may read pods in its namespace"
run kubectl --kubeconfig "$tmp/kc/team-42.kubeconfig" get pods -n team-43
expect_rc 1 "batch: RoleBindings stop at the namespace"

# ---- rerun: nothing changes
run_script batch.lua --count 200 --prefix team --concurrency 32
expect_rc 0 "batch rerun: exit 0"
expect_out_has "200 namespaces: 200 ready (0 created, 0 configured, 200 unchanged), 0 failed, in " "batch rerun: everything unchanged"

# ---- a failing namespace does not stop the others
# (dying-2 holds a Secret of the token's name but another type, created by
# kubectl: applying over it is refused)
kubectl create namespace dying-2 >/dev/null
kubectl create secret generic api-service-account-token -n dying-2 --from-literal=a=b >/dev/null
run_script batch.lua --count 3 --prefix dying
expect_rc 1 "one failing namespace: exit 1"
expect_out_has "3 namespaces: 2 ready (2 created, 0 configured, 0 unchanged), 1 failed, in " "one failing namespace: the others are done"
check "one failing namespace: its row says why" $(printf '%s\n' "$out" | grep -q '^dying-2 .* failed    Error from server'; echo $?) "$out"
check "one failing namespace: progress line" $(printf '%s\n' "$err" | grep -qx '\[[1-3]/3\] dying-2 failed'; echo $?) "$err"
check "one failing namespace: one error line at the end" $([ "$(printf '%s\n' "$err" | tail -1)" = "error: 1 of 3 namespaces failed (see the table above)" ]; echo $?) "$err"

# ---- from a CSV and a YAML file
cat >"$tmp/tenants.csv" <<'EOF'
namespace,role,serviceAccount
# comment lines and blank lines are skipped

csv-a,read-only,reader
csv-b,tutorial,
"csv-c",read-only,"agent"
EOF
printf '\357\273\277' | cat - "$tmp/tenants.csv" >"$tmp/bom.csv" && mv "$tmp/bom.csv" "$tmp/tenants.csv" # as Excel saves it
run_script batch.lua --file "$tmp/tenants.csv"
expect_rc 0 "CSV file: exit 0"
expect_out_has "csv-a       reader                api-cluster-role-read-only   rolebinding/reader-cluster-role-binding" "CSV file: role and account per line"
expect_out_has "3 namespaces: 3 ready (3 created" "CSV file: all three"
run kubectl auth can-i delete pods -n csv-a --as system:serviceaccount:csv-a:reader
expect_out "no" "CSV file: read-only means read-only"

cat >"$tmp/tenants.yaml" <<'EOF'
namespaces:
  - yaml-a
  - namespace: yaml-b
    role: view
    serviceAccount: viewer
  - {namespace: yaml-c, clusterWide: yes}
EOF
run_script batch.lua --file "$tmp/tenants.yaml"
expect_rc 0 "YAML file: exit 0"
expect_out_has "yaml-b      viewer                view" "YAML file: an existing ClusterRole"
expect_out_has "clusterrolebinding/yaml-c-api-cluster-role-binding" "YAML file: clusterWide gives a ClusterRoleBinding"
run kubectl auth can-i list pods -A --as system:serviceaccount:yaml-c:api-service-account
expect_out "yes" "YAML file: the cluster-wide account reaches every namespace"

# ---- --cluster-wide and --role for --count, the tutorial's write access warned about
run_script batch.lua --count 1 --prefix cw --cluster-wide
expect_rc 0 "--cluster-wide: exit 0"
expect_out_has "1 namespace: 1 ready (1 created, 0 configured, 0 unchanged), 0 failed, in " "--count 1: the summary says 1 namespace"
expect_out_has "clusterrolebinding/cw-1-api-cluster-role-binding   created" "--cluster-wide: a ClusterRoleBinding per namespace"
expect_err_has "warning: ClusterRoleBinding <namespace>-api-cluster-role-binding gives api-cluster-role the verbs create, update, patch, delete" "--cluster-wide: the write-access trap is warned about"
run kubectl auth can-i delete pods -n kube-system --as system:serviceaccount:cw-1:api-service-account
expect_out "yes" "--cluster-wide: the tutorial's reach"
run_script batch.lua --count 1 --prefix rv --role view --service-account reader
expect_rc 0 "--role view --service-account reader: exit 0"
expect_out_has "rv-1        reader            view   rolebinding/reader-cluster-role-binding   created" "--role and --service-account for every namespace"
run kubectl auth can-i list pods -n rv-1 --as system:serviceaccount:rv-1:reader
expect_out "yes" "--role view: may read its namespace"
run kubectl auth can-i list pods -n default --as system:serviceaccount:rv-1:reader
expect_out "no" "--role view: not beyond it"
for p in cw rv; do run_script teardown.lua --prefix $p; done

# ---- file and flag errors, each one line
bad() { # name, file content, extension, expected error
  printf '%s' "$2" >"$tmp/bad.$3"
  run_script batch.lua --file "$tmp/bad.$3"
  expect_rc 1 "$1: exit 1"
  expect_err "$4" "$1: one line"
}
bad "CSV bad name" $'ok-1\nBad_Name\n' csv "error: $tmp/bad.csv:2: invalid namespace name \"Bad_Name\": a lowercase RFC 1123 label (a-z, 0-9, '-'), at most 63 characters"
bad "CSV too many fields" $'a,b,c,true,e\n' csv "error: $tmp/bad.csv:1: expected namespace[,role[,serviceAccount[,clusterWide]]], got 5 fields"
bad "CSV duplicate" $'dup-1\ndup-1\n' csv "error: $tmp/bad.csv:2: namespace dup-1 is listed twice (also at $tmp/bad.csv:1)"
bad "YAML unknown field" $'- {namespace: a, roles: x}\n' yaml "error: $tmp/bad.yaml: entry 1: unknown field \"roles\" (namespace, role, serviceAccount, clusterWide)"
bad "YAML not a list" $'just text\n' yaml "error: $tmp/bad.yaml: expected a list of namespaces (or {namespaces: [...]})"
bad "YAML bad clusterWide" $'- {namespace: a, clusterWide: maybe}\n' yaml "error: $tmp/bad.yaml: entry 1: clusterWide must be true or false, not \"maybe\""
bad "unknown role" $'- {namespace: a, role: no-such-role}\n' yaml "error: ClusterRole \"no-such-role\" not found (roles: tutorial, read-only, or an existing ClusterRole)"
bad "empty file" $'# nothing\n' csv "error: $tmp/bad.csv: no namespaces"
bad "empty YAML file" '' yaml "error: $tmp/bad.yaml: expected a list of namespaces (or {namespaces: [...]})"
bad "YAML mapping without namespaces" $'foo: bar\n' yaml "error: $tmp/bad.yaml: expected a list of namespaces (or {namespaces: [...]})"
bad "YAML entry that is a list" $'- a\n- [b]\n' yaml "error: $tmp/bad.yaml: entry 2: expected a name or a mapping, got a list"
bad "YAML empty list" $'namespaces: []\n' yaml "error: $tmp/bad.yaml: no namespaces"
run_script batch.lua --count 3
expect_rc 1 "--count without --prefix: exit 1"
expect_err "error: give --count N and --prefix P, or --file F (see --help)" "--count without --prefix: one line"
run_script batch.lua --count 3 --prefix x -n devops-tools
expect_rc 1 "-n: exit 1"
expect_err "error: -n does not apply: batch.lua takes its namespaces from --count/--prefix or --file" "-n: one line"
run_script batch.lua --count 0 --prefix x
expect_rc 2 "--count 0: exit 2"
run_script batch.lua --file "$tmp/tenants.csv" --count 2 --prefix x
expect_rc 1 "--file with --count: exit 1"
expect_err "error: --file and --count/--prefix: choose one" "--file with --count: one line"
printf 'x\n' >"$tmp/plain-file"
run_script batch.lua --count 1 --prefix kd --kubeconfig-dir "$tmp/plain-file"
expect_rc 1 "--kubeconfig-dir on a file: exit 1"
expect_err "error: cannot create directory $tmp/plain-file: a file of that name exists" "--kubeconfig-dir on a file: one line"
run_script batch.lua --file "$tmp/missing.csv"
expect_rc 1 "missing file: exit 1"
expect_err "error: cannot read $tmp/missing.csv: No such file or directory" "missing file: one line"

# ---- the progress bar on a terminal
KUBELUA_TTY=1 run_script batch.lua --count 3 --prefix tty
expect_rc 0 "progress bar: exit 0"
check "progress bar: redrawn in place with a bar" $([[ "$err" == *$'\r['"##########"*"] 3/3"* ]]; echo $?) "$(printf '%q' "$err")"

# ---- teardown --prefix: everything gone, the shared role when unused
kubectl create namespace team-foreign >/dev/null
run_script teardown.lua --prefix team
expect_rc 0 "teardown --prefix team: exit 0"
expect_out_has 'namespace "team-200" deleted' "teardown --prefix: kubectl-style lines"
check "teardown --prefix: in natural order (team-9 before team-10)" $(printf '%s\n' "$out" | sed -n 's/^namespace "team-\([0-9]*\)" deleted$/\1/p' | sort -nc; echo $?)
expect_out_has "teardown: 200 deleted, 0 already gone, 1 kept" "teardown --prefix: summary"
expect_err_has 'warning: namespace "team-foreign" kept: not labelled app.kubernetes.io/managed-by=kubelua (not created by kubelua); use --force to delete it' "teardown --prefix: an unlabelled namespace is kept and said"
check "teardown --prefix: the unlabelled namespace is still there" $(kubectl get ns team-foreign >/dev/null 2>&1; echo $?)
check "teardown --prefix: no team-N namespace left (not even Terminating)" $([ "$(kubectl get ns -o name | grep -c '^namespace/team-[0-9]')" = 0 ]; echo $?)
check "teardown --prefix: the shared ClusterRole stays while others use it" $(kubectl get clusterrole api-cluster-role >/dev/null 2>&1; echo $?)
expect_err_has 'clusterrole.rbac.authorization.k8s.io "api-cluster-role" kept: still bound by ' "teardown --prefix: says why the role stays"
run_script teardown.lua --prefix team --force
expect_rc 0 "teardown --prefix --force: exit 0"
expect_out 'namespace "team-foreign" deleted
teardown: 1 deleted, 0 already gone, 0 kept' "teardown --prefix --force: the unlabelled one too"
check "teardown --prefix --force: no team-* namespace left" $([ "$(kubectl get ns -o name | grep -c '^namespace/team-')" = 0 ]; echo $?)
run_script teardown.lua --prefix team
expect_rc 0 "teardown --prefix again: exit 0"
expect_out "teardown: 0 deleted, 0 already gone, 0 kept" "teardown --prefix again: nothing to do"
run_script teardown.lua --prefix yaml
expect_out_has "clusterrolebinding.rbac.authorization.k8s.io \"yaml-c-api-cluster-role-binding\" deleted" "teardown removes cluster-wide bindings"
run_script teardown.lua --prefix dying
expect_rc 0 "teardown --prefix dying: exit 0"
expect_err_has 'warning: namespace "dying-2" kept: not labelled app.kubernetes.io/managed-by=kubelua (not created by kubelua); use --force to delete it' "teardown: a namespace kubelua did not create is kept"
expect_out_has 'rolebinding.rbac.authorization.k8s.io "api-cluster-role-binding" deleted
serviceaccount "api-service-account" deleted' "teardown: what batch.lua made inside it is removed"
check "teardown: the kept namespace holds nothing of kubelua's, its own Secret stays" $([ -z "$(kubectl get rolebindings,serviceaccounts,secrets -n dying-2 -l app.kubernetes.io/managed-by=kubelua -o name)" ] &&
  kubectl get secret api-service-account-token -n dying-2 >/dev/null 2>&1; echo $?)
for p in csv tty; do run_script teardown.lua --prefix $p; done
check "teardown of every prefix: no kubelua namespace left" $([ "$(managed namespaces)" = 0 ]; echo $?)
check "teardown of every prefix: no kubelua ClusterRole or binding left" $([ "$(managed clusterroles,clusterrolebindings)" = 0 ]; echo $?) "$(kubectl get clusterroles,clusterrolebindings -l app.kubernetes.io/managed-by=kubelua 2>&1)"

# ---- teardown of the tutorial
run_script tutorial.lua
run_script teardown.lua
expect_rc 0 "teardown of the tutorial: exit 0"
expect_out 'clusterrolebinding.rbac.authorization.k8s.io "api-cluster-role-binding" deleted
clusterrole.rbac.authorization.k8s.io "api-cluster-role" deleted
namespace "devops-tools" deleted
teardown: 3 deleted, 0 already gone, 0 kept' "teardown of the tutorial: its three top-level objects"
check "teardown of the tutorial: the namespace is gone, not Terminating" $(! kubectl get ns devops-tools >/dev/null 2>&1; echo $?)
run_script teardown.lua
expect_out "teardown: 0 deleted, 2 already gone, 0 kept" "teardown twice: nothing left to do"

# objects kubelua did not create are kept unless --force
kubectl create namespace devops-tools >/dev/null
kubectl create clusterrolebinding api-cluster-role-binding --clusterrole=view --user=someone >/dev/null
run_script teardown.lua
expect_rc 0 "teardown of foreign objects: exit 0"
expect_err 'warning: clusterrolebinding.rbac.authorization.k8s.io "api-cluster-role-binding" kept: not labelled app.kubernetes.io/managed-by=kubelua (not created by kubelua); use --force to delete it
warning: namespace "devops-tools" kept: not labelled app.kubernetes.io/managed-by=kubelua (not created by kubelua); use --force to delete it' "teardown keeps foreign objects and says so"
check "teardown: foreign namespace still there" $(kubectl get ns devops-tools >/dev/null 2>&1; echo $?)
run_script teardown.lua --force
expect_rc 0 "teardown --force: exit 0"
expect_out_has 'namespace "devops-tools" deleted' "teardown --force deletes them"
run_script teardown.lua --force -n default
expect_err_has 'warning: namespace "default" kept: it is a built-in namespace' "teardown never deletes a built-in namespace"
check "teardown: default still there" $(kubectl get ns default >/dev/null 2>&1; echo $?)
run_script teardown.lua --prefix Bad_
expect_rc 1 "teardown bad prefix: exit 1"
expect_err "error: invalid --prefix \"Bad_\": the namespaces P-1, P-2, ... must be lowercase RFC 1123 labels (a-z, 0-9, '-')" "teardown bad prefix: one line"

finish
