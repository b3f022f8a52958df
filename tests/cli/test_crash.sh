#!/usr/bin/env bash
# Crash safety (FORMAT §9, §9.1): `wf run` killed with SIGKILL at several points leaves a sound
# state file; the next wf command records the run as CANCEL (error Interrupted) once it sees the
# wf process is gone, and kills the stage processes that wf left behind; `wf rerun` then runs
# exactly the job instances (matrix legs one by one) that had not succeeded. Also: a locked
# state file (wait for it), a corrupt one (exit 4, left alone).
source "$(dirname "$0")/lib.sh"

# A wf that hangs must not hang the suite.
wf() {
  out=$(timeout 60 "$WF_BIN" "$@" 2>"$TEST_TMP/.stderr")
  rc=$?
  err=$(cat "$TEST_TMP/.stderr")
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_for CONDITION SECONDS: polls the shell condition every 20 ms; false on timeout.
wait_for() {
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  until eval "$1"; do
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.02
  done
}
lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
# alive PID: the process exists and is not a zombie (orphans may stay zombies here: pid 1 may not reap).
alive() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
# survivors FILE...: the pids listed in the files that still run (bash or sleep processes).
survivors() {
  local p s=""
  for p in $(cat "$@" 2>/dev/null); do
    if alive "$p" && grep -qaE 'sleep|bash|sh' "/proc/$p/cmdline" 2>/dev/null; then s+="$p($(tr '\0' ' ' < "/proc/$p/cmdline")) "; fi
  done
  echo "$s"
}
cleanup() {
  local p
  for p in $(cat "$TEST_TMP"/pids "$TEST_TMP"/*.pid 2>/dev/null); do
    alive "$p" && grep -qaE 'sleep|bash|sh' "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$TEST_TMP"
}
trap cleanup EXIT
integrity() { sqlite3 "$WF_STATE_DIR/wf.db" 'PRAGMA integrity_check' 2>&1; }
start_ms=$(now_ms)

# --- the workflow: a -> b (3 legs) -> c -> d, every stage marks its start, then sleeps 0.3 s -----------------
# st.sh STAGE: sourced by each stage, so $$ is the stage's process (group leader). Appends
# "<instance> <stage>" to m/all and "<stage>" to m/<instance> (instance = job or job-leg); a
# file long.<instance>.<stage> makes that stage sleep 30 s.
cat > st.sh <<'EOF'
k="$WF_JOB${WF_MATRIX_N:+-$WF_MATRIX_N}"
echo "$$" >> pids
echo "$1" >> "m/$k"
echo "$k $1" >> m/all
d=0.3
if [ -f "long.$k.$1" ]; then d=30; fi
sleep "$d" &
echo "$!" >> pids
wait "$!"
EOF
cat > crash.yml <<'EOF'
crash:
  type: Workflow
  max-job-parallel: 2
  jobs:
    a:
      stages:
        - {name: s1, bash: . ./st.sh s1}
        - {name: s2, bash: . ./st.sh s2}
    b:
      needs: [a]
      strategy:
        matrix:
          n: [1, 2, 3]
      stages:
        - {name: s1, bash: . ./st.sh s1}
        - {name: s2, bash: . ./st.sh s2}
    c:
      needs: [b]
      stages:
        - {name: s1, bash: . ./st.sh s1}
        - {name: s2, bash: . ./st.sh s2}
    d:
      needs: [c]
      stages:
        - {name: s1, bash: . ./st.sh s1}
EOF
INSTANCES="a b-1 b-2 b-3 c d"
LAST_STAGE_a=s2 LAST_STAGE_b=s2 LAST_STAGE_c=s2 LAST_STAGE_d=s1
starts() { grep -c '^s1$' "m/$1" 2>/dev/null || true; }
all_starts() { local s="" k; for k in $INSTANCES; do s+="$k=$(starts "$k") "; done; echo "$s"; }
# attempt1_status RUN KEY: status of that instance in attempt 1 ("" when it never started)
inst_sql="job || coalesce('-' || json_extract(matrix, '$.n'), '')"
inst_status() { sql "SELECT status FROM job_instances WHERE run_id = '$1' AND run_attempt = $2 AND $inst_sql = '$3'
                      ORDER BY id DESC LIMIT 1"; }

# crash_at LABEL LINES [EXTRA_DELAY] [LONG_STAGE_FILE] [FIRST_COMMAND...]: starts `wf run crash.yml` in the
# background, SIGKILLs it once m/all has LINES lines (plus EXTRA_DELAY seconds), then checks the
# state file, the recovery done by FIRST_COMMAND (default `wf runs`), leftover processes, and a rerun.
crash_at() {
  local label=$1 n=$2 delay=${3:-0} long=${4:-}
  shift 4 2>/dev/null || shift $#
  local first=("$@")
  [ ${#first[@]} -eq 0 ] && first=(runs)
  rm -rf m long.* pids; mkdir m; : > pids
  [ -n "$long" ] && touch "$long"
  "$WF_BIN" run crash.yml > "run-$label.out" 2>&1 &
  local wfpid=$!
  if ! wait_for '[ "$(lines m/all)" -ge '"$n"' ]' 20; then
    out=$(cat "run-$label.out") err="" rc=0
    fail_test "$label: the run never reached $n stage starts"
    kill -KILL "$wfpid" 2>/dev/null; { wait "$wfpid"; } 2>/dev/null
    return
  fi
  [ "$delay" != 0 ] && sleep "$delay"
  local rid
  rid=$(last_run_id)
  if [ "$label" = first-stage ]; then
    # while wf is alive, other commands leave its run alone
    wf runs
    expect_eq "$(sql "SELECT status FROM runs WHERE id = '$rid'")" "WAIT" "$label: a live run is not taken for interrupted"
    wf rerun "$rid"
    expect_rc 2 "$label: rerun of a run that is still running"
    expect_err "still running" "$label: rerun of a run that is still running"
  fi
  kill -KILL "$wfpid"
  { wait "$wfpid"; } 2>/dev/null
  rm -f long.*
  expect_eq "$(integrity)" "ok" "$label: integrity_check after kill -9"
  expect_eq "$(sql "SELECT status FROM runs WHERE id = '$rid'")" "WAIT" "$label: run left as WAIT by the killed wf"
  # every stage that started was committed before it started
  local k rows marks missing=""
  for k in $INSTANCES; do
    rows=$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                WHERE j.run_id = '$rid' AND j.run_attempt = 1 AND $(echo "$inst_sql" | sed 's/job ||/j.job ||/; s/(matrix/(j.matrix/') = '$k'")
    marks=$(lines "m/$k")
    [ "$rows" -lt "$marks" ] && missing+="$k: $marks started, $rows recorded; "
  done
  expect_eq "$missing" "" "$label: every started stage has a committed row"

  wf "${first[@]}"
  expect_rc 0 "$label: wf ${first[*]} after the crash"
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$rid'")" "CANCEL|Interrupted" \
    "$label: wf ${first[*]} records the run as CANCEL (Interrupted)"
  if [ "${first[0]}" = runs ]; then expect_out "CANCEL" "$label: wf runs shows the run as CANCEL"; fi
  expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$rid' AND status = 'WAIT'")" "0" \
    "$label: no job instance left WAIT"
  expect_eq "$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                    WHERE j.run_id = '$rid' AND s.status = 'WAIT'")" "0" "$label: no stage left WAIT"
  expect_eq "$(sql "SELECT status FROM run_attempts WHERE run_id = '$rid' AND attempt = 1")" "CANCEL" \
    "$label: run_attempts row of the interrupted attempt is CANCEL"
  expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$rid' AND run_attempt = 1
                    AND status = 'CANCEL' AND error_name != 'Interrupted'")" "0" \
    "$label: interrupted job instances carry error Interrupted"
  local surv
  surv=$(survivors pids)
  expect_eq "$surv" "" "$label: no stage process of the killed wf still runs"
  expect_eq "$(integrity)" "ok" "$label: integrity_check after recovery"

  # Which instances succeeded in the interrupted attempt, and how often each started.
  local before ok="" st last
  before=$(all_starts)
  for k in $INSTANCES; do
    st=$(inst_status "$rid" 1 "$k")
    if [ "$st" = SUCCESS ]; then
      ok+="$k "
      last=LAST_STAGE_${k%%-*}
      if grep -q "^${!last}\$" "m/$k" 2>/dev/null; then pass_test; else
        fail_test "$label: $k recorded SUCCESS but its last stage never started"; fi
    fi
  done

  wf rerun "$rid"
  expect_rc 0 "$label: rerun after the crash"
  expect_eq "$(sql "SELECT status || ' ' || attempt FROM runs WHERE id = '$rid'")" "SUCCESS 2" "$label: rerun finishes the run"
  local want="" b
  for k in $INSTANCES; do
    b=$(echo "$before" | grep -o "$k=[0-9]*" | cut -d= -f2)
    if [[ " $ok" == *" $k "* ]]; then want+="$k=$b "; else want+="$k=$((b + 1)) "; fi
  done
  expect_eq "$(all_starts)" "$want" \
    "$label: rerun runs each unfinished instance once more and no succeeded one (succeeded: ${ok:-none})"
  for k in $ok; do
    expect_eq "$(sql "SELECT skip_reason FROM job_instances WHERE run_id = '$rid' AND run_attempt = 2 AND $inst_sql = '$k'")" \
      "kept from attempt 1" "$label: $k kept"
  done
  expect_eq "$(survivors pids)" "" "$label: no process left after the rerun"
}

crash_at first-stage 1                    # before the first stage finished: nothing succeeded
crash_at mid-legs 5                       # a done, legs of b running
crash_at between-stages 6 0.15            # most likely between two stages
crash_at late-legs 8 0.1 "" show "$(echo)" 2>/dev/null || true
crash_at long-stage 9 0.5 long.c.s1       # during a 30 s stage of c
crash_at rerun-first 3 0.1 "" rerun-placeholder 2>/dev/null || true
