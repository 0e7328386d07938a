# Shared by tests/cli/scripts_*_test.sh: runs the test under its own kubesim
# (through tests/with-kubesim), and gives run/check/expect helpers.
#
#   . "$(dirname "$0")/scripts_helpers.bash"
#   with_kubesim "$@"            # re-executes the test under with-kubesim
#   run_script tutorial.lua ...  # sets $rc, $out, $err
#   expect_rc 0 "name"; expect_out "exact text" "name"; expect_err_has "part" "name"
#   finish                       # prints the summary and exits 0/1
set -u
ROOT=${KUBELUA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KUBELUA=${KUBELUA:-$ROOT/build/kubelua}
case "$KUBELUA" in /*) ;; *) KUBELUA=$PWD/$KUBELUA ;; esac
export KUBELUA KUBELUA_ROOT=$ROOT
SCRIPTS=$ROOT/scripts
pass=0 fail=0
T_START=$(date +%s)

# with_kubesim ARGS: unless already inside one, start kubesim for this test.
# KUBESIM_ARGS defaults to an immediate token controller.
with_kubesim() {
  if [ -z "${KUBESIM_URL:-}" ]; then
    export KUBESIM_ARGS=${KUBESIM_ARGS:---token-delay 0}
    exec bash "$ROOT/tests/with-kubesim" bash "$0" "$@"
  fi
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/scripts-test.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
}

check() { # name, status (0 = ok), [detail printed on failure]
  if [ "$2" -eq 0 ]; then
    pass=$((pass + 1)); echo "ok     $1"
  else
    fail=$((fail + 1)); echo "FAILED $1"
    [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/       | /'
  fi
  return 0
}

# run CMD...: captures stdout, stderr and the exit status (a 120 s bound
# for programs; shell functions run as they are)
run() {
  if [ "$(type -t "$1")" = function ]; then
    "$@" >"$tmp/out" 2>"$tmp/err"
  else
    timeout 120 "$@" >"$tmp/out" 2>"$tmp/err"
  fi
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
run_script() { local s=$1; shift; run "$KUBELUA" "$SCRIPTS/$s" "$@"; }

detail() { printf 'rc=%s\n--- stdout\n%s\n--- stderr\n%s' "$rc" "$out" "$err"; }
expect_rc() { [ "$rc" = "$1" ]; check "$2" $? "$(detail)"; }
expect_out() { [ "$out" = "$1" ]; check "$2" $? "$(printf 'want:\n%s\n' "$1"; detail)"; }
expect_err() { [ "$err" = "$1" ]; check "$2" $? "$(printf 'want:\n%s\n' "$1"; detail)"; }
expect_out_has() { [[ "$out" == *"$1"* ]]; check "$2" $? "$(printf 'want part: %s\n' "$1"; detail)"; }
expect_err_has() { [[ "$err" == *"$1"* ]]; check "$2" $? "$(printf 'want part: %s\n' "$1"; detail)"; }
expect_no() { # text name: the text appears in neither stdout nor stderr
  [[ "$out" != *"$1"* && "$err" != *"$1"* ]]; check "$2" $? "(the text was found)"
}

# mode FILE: its permission bits in octal
mode() { stat -c %a "$1"; }

# kget ARGS: kubectl get ... -o json (admin kubeconfig), prints the object
kget() { kubectl get "$@" -o json 2>/dev/null; }
# jq-free field access: json_field 'PYEXPR over o' < json
json_field() { python3 -c 'import json,sys; o=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# snapshot: every object of the cluster as "resource namespace name
# resourceVersion" lines, sorted (compare two to see that nothing changed)
snapshot() {
  local r
  for r in $(kubectl api-resources --verbs=list -o name | sort); do
    kubectl get "$r" -A --no-headers \
      -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion \
      2>/dev/null | sed "s#^#$r #"
  done | sort
}

finish() {
  echo "$pass passed, $fail failed in $(( $(date +%s) - T_START ))s"
  [ "$fail" -eq 0 ]
  exit $?
}
