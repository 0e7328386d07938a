#!/usr/bin/env bash
# Every bundled script: --help generated from its spec with the global flags,
# usage errors as one line and exit 2; and kubelua.cli's main/fail/raise
# turning failures into one line (a traceback only for bugs). No kubesim.
. "$(dirname "$0")/scripts_helpers.bash"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scripts-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for s in tutorial kubeconfig token batch teardown diagnose audit; do
  run_script $s.lua --help
  expect_rc 0 "$s --help: exit 0"
  check "$s --help: usage, options and the global flags" $([[ "$out" == "Usage: kubelua scripts/$s.lua"* ]] &&
    [[ "$out" == *"Global options:"* ]] && [[ "$out" == *"--kubeconfig FILE"* ]] &&
    [[ "$out" == *"--context NAME"* ]] && [[ "$out" == *"-n, --namespace NS"* ]] &&
    [[ "$out" == *"-v, -v=N"* ]] && [[ "$out" == *"-h, --help"* ]]; echo $?) "$out"
  check "$s --help: lines fit 100 columns" $([ "$(printf '%s\n' "$out" | awk "length > 100" | wc -l)" = 0 ]; echo $?) "$(printf '%s\n' "$out" | awk "length > 100")"
  run_script $s.lua --no-such-flag
  expect_rc 2 "$s unknown flag: exit 2"
  expect_err "error: unknown flag: --no-such-flag (see 'kubelua $SCRIPTS/$s.lua --help')" "$s unknown flag: one line"
  run_script $s.lua -v=42
  expect_rc 2 "$s -v=42: exit 2"
  expect_err "error: invalid argument \"42\" for \"-v\" flag: must be at most 10 (see 'kubelua $SCRIPTS/$s.lua --help')" "$s -v=42: one line"
done

# every script, with its required arguments: a missing kubeconfig and an
# unreachable server are one error line and exit 1 (warnings may come first)
cat >"$tmp/refused.kubeconfig" <<'K'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
K
refused="The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"
one_error_line() { # the last stderr line is $1*, every other line a warning
  [ "$(printf '%s\n' "$err" | grep -v '^warning: ' | grep -c .)" = 1 ] &&
    [[ "$(printf '%s\n' "$err" | tail -1)" == "$1"* ]]
}
commands=(
  "tutorial.lua"
  "kubeconfig.lua --service-account sa -n ns --output /dev/null"
  "token.lua --service-account sa -n ns"
  "batch.lua --count 2 --prefix p"
  "teardown.lua"
  "teardown.lua --prefix p"
  "audit.lua"
)
# the client retries a refused connection for a while: all at once
for i in "${!commands[@]}"; do
  # shellcheck disable=SC2086
  (cd "$tmp" && timeout 120 "$KUBELUA" $SCRIPTS/${commands[$i]} --kubeconfig "$tmp/refused.kubeconfig" \
    >"$tmp/refused-$i.out" 2>"$tmp/refused-$i.err"; echo $? >"$tmp/refused-$i.rc") &
done
for i in "${!commands[@]}"; do
  s=${commands[$i]%% *}
  # shellcheck disable=SC2086
  run_script ${commands[$i]} --kubeconfig "$tmp/none"
  expect_rc 1 "$s with a missing kubeconfig: exit 1"
  one_error_line "error: kubeconfig $tmp/none: cannot read: No such file or directory"
  check "$s with a missing kubeconfig: one error line naming it" $? "$(detail)"
done
wait
for i in "${!commands[@]}"; do
  s=${commands[$i]%% *}
  rc=$(cat "$tmp/refused-$i.rc") out=$(cat "$tmp/refused-$i.out") err=$(cat "$tmp/refused-$i.err")
  expect_rc 1 "$s with an unreachable server: exit 1"
  prefix="error: "
  [ "$s" = token.lua ] && prefix="error: failed to create token: " # kubectl create token's words
  one_error_line "$prefix$refused"
  check "$s with an unreachable server: one error line" $? "$(detail)"
done
# diagnose.lua explains instead: exit 1, the cause on stdout
run_script diagnose.lua --kubeconfig "$tmp/refused.kubeconfig" --token x.y.z
expect_rc 1 "diagnose.lua with an unreachable server: exit 1"
expect_out_has "cause:   the server URL https://127.0.0.1:1 is unreachable: $refused" "diagnose.lua with an unreachable server: the cause"

# the tutorial's manifests are its heredocs byte for byte (trailing spaces,
# the ClusterRole's namespace and duplicate pods included); the sums were
# taken from the tutorial's text (the heredoc bodies; sa-token.yaml as the
# file it says to create)
while read -r sum file; do
  check "manifest $file is the tutorial's, verbatim" $([ "$(sha256sum <"$SCRIPTS/manifests/$file" | cut -d' ' -f1)" = "$sum" ]; echo $?)
done <<'SUMS'
056d175ddbd627df43e120fe009e99d3ffdb9c9373244e762938ca824cf4ecc5 serviceaccount.yaml
7172a9de062bbfdd88f4dcb1f9ad84a9196bd934466629fdc02e043aa45877ef clusterrole.yaml
4687fc56500ee6c428aeb893c82d57b3dfa078ef20e7127efe8c16c3a61a99f1 clusterrolebinding.yaml
97141a62da83364477006f3bdedec010f208c8318138199aa5c35b882ab1c36a sa-token.yaml
SUMS

# a user's own script, anywhere, requires kubelua.setup without path tricks;
# it finds the tutorial's manifests in the source tree and in an installation
mkdir -p "$tmp/user"
cat >"$tmp/user/mine.lua" <<'L'
local setup = require "kubelua.setup"
local objs = assert(setup.objects(setup.names{ namespace = "team-a", name = "ci" }))
local kinds = {}
for i, o in ipairs(objs) do kinds[i] = o.obj.kind .. "/" .. o.obj.metadata.name end
print(setup.MANIFEST_DIR)
print(table.concat(kinds, " "))
L
kinds="Namespace/team-a ServiceAccount/ci ClusterRole/ci-cluster-role ClusterRoleBinding/ci-cluster-role-binding Secret/ci-token"
run bash -c "cd '$tmp/user' && '$KUBELUA' mine.lua"
expect_out "$SCRIPTS/manifests
$kinds" "a user script requires kubelua.setup (source tree)"
build=$(dirname "$KUBELUA")
if command -v cmake >/dev/null && [ -f "$build/cmake_install.cmake" ]; then
  cmake --install "$build" --prefix "$tmp/inst" >/dev/null 2>&1
  run bash -c "cd '$tmp/user' && '$tmp/inst/bin/kubelua' mine.lua"
  expect_out "$tmp/inst/bin/../share/kubelua/scripts/manifests
$kinds" "a user script requires kubelua.setup (installed)"
  run "$tmp/inst/bin/kubelua" "$tmp/inst/share/kubelua/scripts/tutorial.lua" --help
  expect_rc 0 "the installed tutorial.lua runs"
fi

# cli.main: expected failures are one line, bugs get a traceback
cat >"$tmp/main.lua" <<'L'
local cli = require "kubelua.cli"
local errors = require "kubelua.errors"
local what = arg[1]
cli.main(function()
  if what == "raise" then cli.raise("the thing\nfailed") end
  if what == "object" then error(errors.config("kubeconfig x: not set")) end
  if what == "api" then
    error(errors.from_response({ method = "GET" }, { status = 404, headers = {} },
      { kind = "Status", reason = "NotFound", message = 'secrets "x" not found' }))
  end
  if what == "check" then
    cli.try("reading the Secret", nil, errors.config('secrets "x" not found'))
  end
  if what == "fail" then cli.fail("plain failure") end
  if what == "bug" then local t = nil; return t.field end
  if what == "code" then return 3 end
  print("fine")
end)
L
run "$KUBELUA" "$tmp/main.lua" ok
expect_rc 0 "cli.main: success exits 0"
expect_out "fine" "cli.main: runs the function"
run "$KUBELUA" "$tmp/main.lua" code
expect_rc 3 "cli.main: an integer result is the exit status"
run "$KUBELUA" "$tmp/main.lua" raise
expect_rc 1 "cli.raise: exit 1"
expect_err "error: the thing failed" "cli.raise: one line"
run "$KUBELUA" "$tmp/main.lua" object
expect_rc 1 "error object: exit 1"
expect_err "error: kubeconfig x: not set" "error object: one line, no doubled prefix, no traceback"
run "$KUBELUA" "$tmp/main.lua" api
expect_err 'error: Error from server (NotFound): secrets "x" not found' "API error: kubectl's words"
run "$KUBELUA" "$tmp/main.lua" check
expect_err 'error: reading the Secret: secrets "x" not found' "cli.try: prefixed one line"
run "$KUBELUA" "$tmp/main.lua" fail
expect_rc 1 "cli.fail: exit 1"
expect_err "error: plain failure" "cli.fail: one line"
run "$KUBELUA" "$tmp/main.lua" bug
expect_rc 1 "a bug: exit 1"
check "a bug: message and traceback" $([[ "$err" == "error: $tmp/main.lua:"*": attempt to index a nil value"* ]] && [[ "$err" == *"stack traceback:"* ]]; echo $?) "$err"

# the TTY check follows the real descriptor, and KUBELUA_TTY overrides it
cat >"$tmp/tty.lua" <<'L'
print(require("kubelua.cli").isatty(1))
L
run "$KUBELUA" "$tmp/tty.lua"
expect_out "false" "isatty: a pipe is not a terminal"
KUBELUA_TTY=1 run "$KUBELUA" "$tmp/tty.lua"
expect_out "true" "isatty: KUBELUA_TTY=1 forces it"
if command -v script >/dev/null; then
  run script -qec "$KUBELUA $tmp/tty.lua" /dev/null
  check "isatty: a pseudo-terminal is a terminal" $([[ "$out" == true* ]]; echo $?) "$out"
fi

finish
