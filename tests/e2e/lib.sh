# shellcheck shell=bash
# Shared helpers for the kubectl end-to-end tests (sourced; run under tests/with-kubesim).
set -u
fails=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
# expect_eq DESC WANT GOT
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want [$2] got [$3]"; fi; }
# expect_match DESC REGEX TEXT
expect_match() { if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1: [$3] does not match /$2/"; fi; }
finish() {
    if [ "$fails" -ne 0 ]; then
        echo "$fails check(s) failed"
        echo "--- kubesim stderr:"; tail -30 "$KUBESIM_DIR/stderr" 2>/dev/null
        exit 1
    fi
    echo "all checks passed"
    exit 0
}
# wait_for DESC SECONDS CMD...: poll CMD every 0.1 s until it succeeds (bounded)
wait_for() {
    local desc=$1 secs=$2; shift 2
    for _ in $(seq 1 $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "timed out waiting for $desc"
    return 1
}
: "${KUBESIM_DIR:?run me under tests/with-kubesim}"
