#!/usr/bin/env bash
# tools/demo (what `make demo` runs after building): it starts its own
# kubesim, runs the tutorial, shows diagnose.lua on a still-base64 token,
# stops kubesim, and exits 0.
. "$(dirname "$0")/scripts_helpers.bash"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scripts-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset KUBESIM_URL KUBESIM_DIR KUBESIM_ARGS

run env KUBECONFIG=/nonexistent bash "$ROOT/tools/demo"
expect_rc 0 "demo: exit 0"
expect_out_has "$ kubelua scripts/tutorial.lua
namespace/devops-tools created" "demo: runs the tutorial"
expect_out_has "namespaces the service account sees (5): default devops-tools kube-node-lease kube-public kube-system" "demo: the token works"
expect_out_has "$ kubelua scripts/diagnose.lua --token-file token" "demo: runs diagnose"
expect_out_has "request: GET /api/v1/namespaces with this token: 401 Unauthorized" "demo: the 401"
expect_out_has "cause:   the token is still base64-encoded" "demo: the 401 explained"
expect_out_has "kubesim stopped." "demo: stops kubesim"
check "demo: the token is never printed" $(! printf '%s\n%s\n' "$out" "$err" | grep -Eq 'eyJ[A-Za-z0-9_-]{20,}\.'; echo $?)
port=$(printf '%s\n' "$out" | sed -n 's#^kubesim is listening on https://127.0.0.1:\([0-9]*\) .*#\1#p')
check "demo: kubesim is gone afterwards" $([ -n "$port" ] && ! curl -sk --max-time 2 "https://127.0.0.1:$port/version" >/dev/null; echo $?) "port $port"

run env KUBELUA=/nonexistent/kubelua bash "$ROOT/tools/demo"
expect_rc 1 "demo without a build: exit 1"
expect_err "demo: /nonexistent/kubelua is not built; run: make build" "demo without a build: one line"

finish
