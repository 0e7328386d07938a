#!/usr/bin/env bash
# The scripts against a kubesim that answers 3% of requests with 429 and
# 3% with 500/503 (fixed seed): the client's retries absorb them, so the
# tutorial, a batch of 50 namespaces, its rerun and the teardown all end as
# on a healthy server.
. "$(dirname "$0")/scripts_helpers.bash"
KUBESIM_ARGS=${KUBESIM_ARGS:---token-delay 0 --faults seed=3,429=0.03,503=0.02,500=0.01,latency=2ms}
with_kubesim "$@"

run_script tutorial.lua
expect_rc 0 "tutorial under faults: exit 0"
expect_out_has "namespaces the service account sees (5): default devops-tools kube-node-lease kube-public kube-system" "tutorial under faults: the token works"
run_script tutorial.lua
expect_rc 0 "tutorial rerun under faults: exit 0"
check "tutorial rerun under faults: everything unchanged" $([ "$(printf '%s\n' "$out" | grep -c ' unchanged$')" = 5 ]; echo $?) "$out"

run_script batch.lua --count 50 --prefix flaky --concurrency 16
expect_rc 0 "batch under faults: exit 0"
expect_out_has "50 namespaces: 50 ready (50 created, 0 configured, 0 unchanged), 0 failed" "batch under faults: all ready"
run_script batch.lua --count 50 --prefix flaky --concurrency 16
expect_out_has "50 namespaces: 50 ready (0 created, 0 configured, 50 unchanged), 0 failed" "batch rerun under faults: unchanged"

run_script teardown.lua --prefix flaky
expect_rc 0 "teardown under faults: exit 0"
expect_out_has "teardown: 50 deleted, 0 already gone, 0 kept" "teardown under faults: all deleted"
run_script teardown.lua
expect_rc 0 "teardown of the tutorial under faults: exit 0"
check "nothing of kubelua is left" $([ -z "$(kubectl get ns,clusterroles,clusterrolebindings -l app.kubernetes.io/managed-by=kubelua -o name 2>/dev/null)" ]; echo $?)

finish
