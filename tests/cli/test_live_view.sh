#!/usr/bin/env bash
# The terminal live view of `wf run` (CLI.md "Output"), watched through a detached tmux pane:
# running stages with elapsed times while the run works, the summary and nothing of the live
# area left after it, failed stages with their last output and the `wf logs` hint, the
# collapsed area of a 300-leg matrix that never outgrows the pane, a resize mid-run, and no
# escape codes at all when stdout is not a terminal. Skipped when tmux is not installed.
source "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
  echo "$(basename "$0"): skipped: tmux is not installed"
  exit 0
fi

# A tmux server of our own (its socket in the test dir), killed on exit with the test dir.
unset TMUX
TMUX_SOCK="$TEST_TMP/tmux.sock"
tm() { tmux -S "$TMUX_SOCK" "$@"; }
trap 'tm kill-server >/dev/null 2>&1; rm -rf "$TEST_TMP"' EXIT

SPINNER=(⠋ ⠙ ⠹ ⠸ ⠼ ⠴ ⠦ ⠧ ⠇ ⠏)
spinner_args=()
for s in "${SPINNER[@]}"; do spinner_args+=(-e "$s"); done

# start_pane COLS ROWS COMMAND...: runs the command in a fresh detached pane, then keeps the
# pane open with "EXIT=<status>" printed after it.
start_pane() {
  local cols=$1 rows=$2
  shift 2
  tm kill-session -t wftest >/dev/null 2>&1
  tm new-session -d -s wftest -x "$cols" -y "$rows" \
    "cd $(printf %q "$TEST_TMP") && WF_STATE_DIR=$(printf %q "$WF_STATE_DIR") $*; echo EXIT=\$?; sleep 30"
}
capture() { tm capture-pane -p -t wftest; }
capture_all() { tm capture-pane -p -S - -t wftest; }  # with the scrollback
# wait_for REGEX SECONDS: polls the pane until a line matches; leaves the pane in $screen.
wait_for() {
  local deadline=$(($(date +%s%N) + $2 * 1000000000))
  while :; do
    screen=$(capture)
    grep -Eq -- "$1" <<<"$screen" && return 0
    [ "$(date +%s%N)" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}
# The live area's own lines: spinner lines, the collapse line, the counts line.
live_lines() { grep -F "${spinner_args[@]}" -e "more running" -e " running, " <<<"$1" | grep -c .; }
counts_lines() { grep -cE '^  [0-9]+ running, [0-9]+ done' <<<"$1"; }
# on_screen WHAT REGEX: asserts a line of the last pane matches.
on_screen() {
  if grep -Eq -- "$2" <<<"$screen"; then pass_test; else out=$screen; fail_test "$1: pane should show /$2/"; fi
}
not_on_screen() {
  if grep -Eq -- "$2" <<<"$screen"; then out=$screen; fail_test "$1: pane should not show /$2/"; else pass_test; fi
}
rc=0 out="" err=""

# --- parallel sleeping stages: running lines with elapsed times, then the summary --------------------
cat > par.yml <<'EOF'
par:
  type: Workflow
  max-job-parallel: 4
  jobs:
    slow:
      stages:
        - name: nap
          bash: echo starting; sleep 1.5
    slower:
      stages:
        - name: doze
          bash: sleep 1.6
    legs:
      strategy:
        matrix:
          region: [eu, us]
      stages:
        - name: build
          bash: sleep 1.2; echo built ${{ matrix.region }}
EOF
start_pane 100 30 "$(printf %q "$WF_BIN") run par.yml"
if wait_for '^  .+ slow/nap +[0-9]+\.[0-9]s$' 5; then pass_test; else out=$screen; fail_test "a running line with its elapsed time"; fi
wait_for '^  .+ legs \(eu\)/build +[0-9]+\.[0-9]s$' 3
on_screen "running matrix leg" '^  .+ legs \(eu\)/build +[0-9]+\.[0-9]s$'
wait_for '^  4 running, 0 done' 3
on_screen "counts line" '^  4 running, 0 done'
on_screen "output above the live area" '^slow/nap \| starting$'
wait_for '^EXIT=' 10
on_screen "finished" '^EXIT=0$'
on_screen "finished stage line" '^legs \(us\)/build  SUCCESS [0-9.]+m?s$'
on_screen "summary header" '^  JOB +STATUS +TIME$'
on_screen "summary row" '^  slower +SUCCESS +1\.[0-9]+s$'
on_screen "summary row" '^  legs \(eu\) +SUCCESS +1\.[0-9]+s$'
on_screen "final status" '^run [0-9T]+-[0-9a-f]+ SUCCESS in [0-9.]+s \(3 jobs: 3 success; 2 legs: 2 success\)$'
expect_eq "$(live_lines "$screen")" "0" "no live area left after the run"
expect_eq "$(live_lines "$(capture_all)")" "0" "no live area left in the scrollback"
out=$screen

# --- a failing stage: its last output lines and the `wf logs` hint ----------------------------------
cat > bad.yml <<'EOF'
bad:
  type: Workflow
  jobs:
    fine:
      stages:
        - name: ok
          bash: sleep 0.3
    broken:
      stages:
        - name: step one
          bash: echo some context; echo the last words; exit 3
EOF
start_pane 100 30 "$(printf %q "$WF_BIN") run bad.yml"
wait_for '^EXIT=' 10
run_id=$(last_run_id)
on_screen "failure" '^EXIT=1$'
on_screen "failure row" '^  broken +FAILED '
on_screen "failed stage" '^failed: broken/step one — ShellError: '
on_screen "last output lines" '^  \| some context$'
on_screen "last output lines" '^  \| the last words$'
on_screen "logs hint" "^  see: wf logs $run_id 'broken/step one'$"
on_screen "final status" "^run $run_id FAILED in "
expect_eq "$(live_lines "$screen")" "0" "no live area left after a failed run"
expect_eq "$(live_lines "$(capture_all)")" "0" "no live area left in the scrollback after a failed run"

# --- 300 legs, 50 at a time: collapsed, never taller than the pane; then a resize mid-run -------------
{
  printf 'wide:\n  type: Workflow\n  max-job-parallel: 50\n  jobs:\n    m:\n      strategy:\n'
  printf '        matrix:\n          i: [%s]\n        max-parallel: 50\n' "$(seq -s, 1 300)"
  printf '      stages:\n        - name: step-${{ matrix.i }}-with-a-name-long-enough-to-wrap-in-a-narrow-pane\n'
  printf '          bash: sleep 0.2\n'
} > wide.yml
start_pane 100 30 "$(printf %q "$WF_BIN") run wide.yml --max-legs 300"
if wait_for '^  … and [0-9]+ more running$' 10; then pass_test; else out=$screen; fail_test "collapsed live area"; fi
on_screen "counts" '^  [0-9]+ running, [0-9]+ done'
max_live=0 max_counts=0 resized=0 widest=0
deadline=$(($(date +%s%N) + 15000000000))
while [ "$(date +%s%N)" -lt "$deadline" ]; do
  screen=$(capture)
  n=$(live_lines "$screen") && [ "$n" -gt "$max_live" ] && max_live=$n
  n=$(counts_lines "$screen") && [ "$n" -gt "$max_counts" ] && max_counts=$n
  if [ "$resized" -eq 1 ]; then
    w=$(python3 -c 'import sys; print(max([len(l) for l in sys.stdin.read().split("\n")] + [0]))' <<<"$screen")
    [ "$w" -gt "$widest" ] && widest=$w
  fi
  grep -q '^EXIT=' <<<"$screen" && break
  if [ "$resized" -eq 0 ] && grep -q ' running, 1[0-9][0-9] done' <<<"$screen"; then
    # Hundreds of lines have scrolled through: none of the area was left behind in them.
    expect_eq "$(counts_lines "$(capture_all)")" "1" "one counts line in the scrollback before the resize"
    tm resize-window -t wftest -x 60
    resized=1
  fi
  sleep 0.05
done
wait_for '^EXIT=' 10
on_screen "300 legs" '^EXIT=0$'
on_screen "300 legs" 'SUCCESS in [0-9.]+s \(1 job: 1 succ'  # the pane is 60 columns wide by now
expect_eq "$resized" "1" "the pane was resized during the run"
if [ "$max_live" -le 28 ] && [ "$max_live" -gt 20 ]; then pass_test; else fail_test "live area of the 300-leg run should fill but never outgrow the 30-row pane: $max_live lines"; fi
expect_eq "$max_counts" "1" "one counts line on screen at any time (the area is erased, even after the resize)"
if [ "$widest" -le 60 ]; then pass_test; else fail_test "a captured line is wider than the resized pane: $widest"; fi
expect_eq "$(live_lines "$screen")" "0" "no live area left after the 300-leg run"

# --- not a terminal: plain lines, no escape codes --------------------------------------------------
start_pane 100 30 "$(printf %q "$WF_BIN") run bad.yml | cat > plain.txt"
wait_for '^EXIT=' 10
out=$(cat plain.txt)
if [[ "$out" == *$'\e'* ]]; then fail_test "escape codes in piped output"; else pass_test; fi
expect_out "broken/step one | the last words" "piped output"
if grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} broken/step one  FAILED' <<<"$out"; then pass_test; else fail_test "timestamped plain lines"; fi

finish
