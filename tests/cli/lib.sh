# Shared helpers for the black-box CLI tests. Each tests/cli/test_*.sh sources this file,
# runs the real wf binary ($WF_BIN) on real YAML with a private state dir, and calls the
# assertions below. A failed assertion prints what was expected and exits 1.
set -u

WF_BIN=${WF_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/wf}
WF_SRC=${WF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wf-cli-test.XXXXXX")
export WF_STATE_DIR="$TEST_TMP/state"
unset WF_CONF_PATH WORKFLOW_CORE_CONF_PATH WF_TIMEOUT WORKFLOW_CORE_TIMEOUT WF_MAX_JOB_PARALLEL NO_COLOR
trap 'rm -rf "$TEST_TMP"' EXIT
cd "$TEST_TMP"

failures=0
passes=0

# wf ARGS...: runs wf, leaving $out (stdout), $err (stderr) and $rc.
wf() {
  out=$("$WF_BIN" "$@" 2>"$TEST_TMP/.stderr")
  rc=$?
  err=$(cat "$TEST_TMP/.stderr")
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_until CONDITION SECONDS: polls the shell condition every 20 ms; false on timeout.
wait_until() {
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  until eval "$1"; do
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.02
  done
}

fail_test() {
  echo "FAIL: $1" >&2
  echo "  command rc=$rc" >&2
  echo "  stdout: ${out:0:2000}" >&2
  echo "  stderr: ${err:0:2000}" >&2
  failures=$((failures + 1))
}

pass_test() { passes=$((passes + 1)); }

expect_rc() { if [ "$rc" -eq "$1" ]; then pass_test; else fail_test "${2:-} expected exit code $1, got $rc"; fi; }
expect_out() { if [[ "$out" == *"$1"* ]]; then pass_test; else fail_test "${2:-} stdout should contain: $1"; fi; }
expect_err() { if [[ "$err" == *"$1"* ]]; then pass_test; else fail_test "${2:-} stderr should contain: $1"; fi; }
expect_no_out() { if [[ "$out" != *"$1"* ]]; then pass_test; else fail_test "${2:-} stdout should not contain: $1"; fi; }
expect_no_err() { if [[ "$err" != *"$1"* ]]; then pass_test; else fail_test "${2:-} stderr should not contain: $1"; fi; }
expect_eq() { if [ "$1" == "$2" ]; then pass_test; else fail_test "${3:-} expected '$2', got '$1'"; fi; }

# sql QUERY: runs a query on the state file.
sql() { sqlite3 "$WF_STATE_DIR/wf.db" "$1"; }

# last_run_id: the newest run id in the state file.
last_run_id() { sql "SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1"; }

finish() {
  echo "$(basename "$0"): $passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}
