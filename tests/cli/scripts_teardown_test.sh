#!/usr/bin/env bash
# teardown.lua leaves the cluster exactly as it was before tutorial.lua and
# batch.lua ran (every listable resource of every namespace compared by
# name), and it returns only once the namespaces are gone. batch.lua and
# teardown.lua really work on namespaces concurrently: with a token
# controller and a namespace finalizer that each take 1 s, 20 namespaces at
# once take a few seconds where one at a time would take 20. The progress
# bar is drawn on a real terminal (script(1)).
. "$(dirname "$0")/scripts_helpers.bash"
KUBESIM_ARGS=${KUBESIM_ARGS:---token-delay 1 --namespace-delay 1}
with_kubesim "$@"

# a namespace that is someone else's, with their work in it
kubectl create namespace theirs >/dev/null
kubectl create configmap their-work -n theirs --from-literal=a=b >/dev/null
snapshot >"$tmp/before"
check "the snapshot sees the built-in objects" $(grep -q '^namespaces <none> *kube-system ' "$tmp/before"; echo $?) "$(head "$tmp/before")"

# ---- concurrency: 20 namespaces, each waiting 1 s for its token
start=$(date +%s%N)
run_script batch.lua --count 20 --prefix par --concurrency 20 --kubeconfig-dir "$tmp/kc"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_rc 0 "batch of 20 at once: exit 0"
expect_out_has "20 namespaces: 20 ready (20 created, 0 configured, 0 unchanged), 0 failed" "batch of 20 at once: all ready"
check "batch of 20 at once: concurrent (${ms} ms, one at a time needs 20 s)" $([ "$ms" -lt 10000 ]; echo $?)
start=$(date +%s%N)
run_script batch.lua --count 3 --prefix one --concurrency 1
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "batch of 3 one at a time: each waits for its token (${ms} ms >= 3 s)" $([ "$ms" -ge 3000 ]; echo $?)

# ---- the progress bar on a real terminal; stdout keeps the table
if command -v script >/dev/null; then
  run script -qec "$KUBELUA $SCRIPTS/batch.lua --count 4 --prefix tty --concurrency 4" /dev/null
  expect_rc 0 "on a terminal: exit 0"
  check "on a terminal: a bar redrawn in place" $([[ "$out" == *$'\r[##############################] 4/4 tty-'* ]] &&
    [[ "$out" != *"[1/4] tty-"* ]]; echo $?) "$(printf '%q' "$out")"
  check "on a terminal: the summary table follows" $([[ "$out" == *"4 namespaces: 4 ready (4 created"* ]]; echo $?)
  run bash -c "'$KUBELUA' '$SCRIPTS/batch.lua' --count 4 --prefix tty 2>&1 >/dev/null"
  check "not on a terminal: plain lines" $([ "$(printf '%s\n' "$out" | grep -c '^\[[1-4]/4\] tty-[1-4] ok$')" = 4 ]; echo $?) "$out"
fi

# ---- everything the scripts make
run_script tutorial.lua
expect_rc 0 "the tutorial"
run_script tutorial.lua --read-only -n monitoring --name prometheus
expect_rc 0 "the tutorial, read-only, other names"
printf 'file-a,read-only,agent,true\nfile-b,view\n' >"$tmp/tenants.csv"
run_script batch.lua --file "$tmp/tenants.csv"
expect_rc 0 "batch from a file, one cluster-wide"
run_script kubeconfig.lua -n devops-tools --service-account api-service-account --output "$tmp/sa.kubeconfig"
expect_rc 0 "a kubeconfig"
run_script tutorial.lua -n theirs --name guest
expect_rc 0 "the tutorial in an existing namespace"
expect_out_has "namespace/theirs unchanged" "an existing namespace: unchanged"
check "an existing namespace does not get the managed-by label" $([ -z "$(kubectl get ns theirs -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" ]; echo $?)
snapshot >"$tmp/during"
check "the scripts created objects" $([ "$(comm -13 "$tmp/before" "$tmp/during" | wc -l)" -gt 40 ]; echo $?)

# ---- teardown: the namespaces are gone when it returns
start=$(date +%s%N)
run_script teardown.lua --prefix par --concurrency 20
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_rc 0 "teardown of 20 at once: exit 0"
expect_out_has "teardown: 20 deleted, 0 already gone, 0 kept" "teardown of 20 at once: all deleted"
check "teardown of 20 at once: concurrent (${ms} ms, one at a time needs 20 s)" $([ "$ms" -lt 10000 ]; echo $?)
check "teardown of 20: no par-* namespace left, not even Terminating" $([ "$(kubectl get ns -o name | grep -c '^namespace/par-')" = 0 ]; echo $?)
run_script teardown.lua
expect_rc 0 "teardown of the tutorial"
run kubectl get namespace devops-tools
expect_rc 1 "teardown of the tutorial: its namespace is gone on return"
run_script teardown.lua -n monitoring --name prometheus
expect_out 'clusterrolebinding.rbac.authorization.k8s.io "prometheus-cluster-role-binding" deleted
clusterrole.rbac.authorization.k8s.io "prometheus-cluster-role-read-only" deleted
namespace "monitoring" deleted
teardown: 3 deleted, 0 already gone, 0 kept' "teardown of the read-only tutorial: its objects"
run_script teardown.lua -n theirs --name guest
expect_rc 0 "teardown in an existing namespace: exit 0"
expect_out 'clusterrolebinding.rbac.authorization.k8s.io "guest-cluster-role-binding" deleted
clusterrole.rbac.authorization.k8s.io "guest-cluster-role" deleted
secret "guest-token" deleted
serviceaccount "guest" deleted
teardown: 4 deleted, 0 already gone, 1 kept' "teardown in an existing namespace: what kubelua made, one by one"
expect_err 'warning: namespace "theirs" kept: not labelled app.kubernetes.io/managed-by=kubelua (not created by kubelua); use --force to delete it' "teardown in an existing namespace: the namespace is kept and said"
for p in one tty file; do
  run_script teardown.lua --prefix $p
  expect_rc 0 "teardown --prefix $p"
done
snapshot >"$tmp/after"
diff "$tmp/before" "$tmp/after" >"$tmp/diff"
check "after teardown the cluster is as it was before (every object of every resource)" $? "$(cat "$tmp/diff")"

finish
