#!/usr/bin/env bash
# Crash safety (FORMAT §9, §9.1): `wf run` killed with SIGKILL at several points leaves a sound
# state file; the next wf command records the run as CANCEL (error Interrupted) once it sees the
# wf process is gone, and kills the stage processes that wf left behind; `wf rerun` then runs
# exactly the job instances (matrix legs one by one) that had not succeeded. Also: a locked
# state file (wait for it), a corrupt one (exit 4, left alone).
source "$(dirname "$0")/lib.sh"
if [ ! -x "$WF_BIN" ]; then echo "$(basename "$0"): no wf binary at $WF_BIN" >&2; exit 1; fi

# A wf that hangs must not hang the suite.
wf() {
  out=$(timeout 60 "$WF_BIN" "$@" 2>"$TEST_TMP/.stderr")
  rc=$?
  err=$(cat "$TEST_TMP/.stderr")
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
# shellcheck disable=SC2034  # read as ${!last}
LAST_STAGE_a=s2 LAST_STAGE_b=s2 LAST_STAGE_c=s2 LAST_STAGE_d=s1
starts() { grep -c '^s1$' "m/$1" 2>/dev/null || true; }
all_starts() { local s="" k; for k in $INSTANCES; do s+="$k=$(starts "$k") "; done; echo "$s"; }
# inst_status RUN ATTEMPT KEY: status of that instance in that attempt ("" when it never started)
inst_sql="job || coalesce('-' || json_extract(matrix, '$.n'), '')"
inst_status() { sql "SELECT status FROM job_instances WHERE run_id = '$1' AND run_attempt = $2 AND $inst_sql = '$3'
                      ORDER BY id DESC LIMIT 1"; }

# attempt1_closed LABEL RUN: the interrupted first attempt is closed: nothing left WAIT, CANCEL rows carry
# error Interrupted, and its run_attempts row is CANCEL (Interrupted).
attempt1_closed() {
  local label=$1 rid=$2
  expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$rid' AND run_attempt = 1 AND status = 'WAIT'")" "0" \
    "$label: no job instance left WAIT"
  expect_eq "$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                    WHERE j.run_id = '$rid' AND j.run_attempt = 1 AND s.status = 'WAIT'")" "0" "$label: no stage left WAIT"
  expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$rid' AND run_attempt = 1
                    AND status = 'CANCEL' AND error_name != 'Interrupted'")" "0" \
    "$label: interrupted job instances carry error Interrupted"
  local n
  n=$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
           WHERE j.run_id = '$rid' AND j.run_attempt = 1 AND s.status = 'CANCEL' AND s.error_name = 'Interrupted'")
  if [ "$n" -ge 1 ]; then pass_test; else
    fail_test "$label: the stage that ran when wf was killed is not recorded CANCEL (Interrupted)"; fi
  expect_eq "$(sql "SELECT status || '|' || error_name FROM run_attempts WHERE run_id = '$rid' AND attempt = 1")" \
    "CANCEL|Interrupted" "$label: the run_attempts row of the interrupted attempt is CANCEL (Interrupted)"
}

# crash_at LABEL LINES DELAY LONG_FILE FIRST: starts `wf run crash.yml` in the background, SIGKILLs it
# once m/all has LINES lines (plus DELAY seconds; LONG_FILE, if not "-", makes one stage long), then
# checks the state file, the recovery done by the first wf command afterwards (FIRST: runs, show,
# logs or rerun), leftover processes, and that a rerun runs exactly what had not succeeded.
crash_at() {
  local label=$1 n=$2 delay=$3 long=$4 first=$5
  rm -rf m long.* pids; mkdir m; : > pids
  [ "$long" != - ] && touch "$long"
  "$WF_BIN" run crash.yml > "run-$label.out" 2>&1 &
  local wfpid=$!
  if ! wait_until '[ "$(lines m/all)" -ge '"$n"' ]' 20; then
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
                WHERE j.run_id = '$rid' AND j.run_attempt = 1
                AND j.job || coalesce('-' || json_extract(j.matrix, '$.n'), '') = '$k'")
    marks=$(lines "m/$k")
    [ "$rows" -lt "$marks" ] && missing+="$k: $marks started, $rows recorded; "
  done
  expect_eq "$missing" "" "$label: every started stage has a committed row"
  local before
  before=$(all_starts)

  if [ "$first" != rerun ]; then
    case $first in
      runs) wf runs ;;
      show) wf show "$rid" ;;
      logs) wf logs "$rid" ;;
    esac
    expect_rc 0 "$label: wf $first after the crash"
    expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$rid'")" "CANCEL|Interrupted" \
      "$label: wf $first records the run as CANCEL (Interrupted)"
    [ "$first" = runs ] && expect_out "CANCEL" "$label: wf runs shows the run as CANCEL"
    wait_until '[ -z "$(survivors pids)" ]' 2  # SIGKILL takes effect asynchronously; allow a moment, no more
    expect_eq "$(survivors pids)" "" "$label: no stage process of the killed wf still runs after wf $first"
    expect_eq "$(integrity)" "ok" "$label: integrity_check after recovery"
  fi
  [ "$first" != rerun ] && attempt1_closed "$label" "$rid"

  # Which instances succeeded in the interrupted attempt (a SUCCESS row must mean it really finished).
  local ok="" st last
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
  [ "$first" = rerun ] && attempt1_closed "$label" "$rid"
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

crash_at first-stage 1 0 - runs             # before the first stage finished: nothing succeeded
crash_at mid-legs 5 0 - runs                # a done, legs of b running
crash_at between-stages 6 0.15 - show       # likely between two stages
crash_at late-legs 8 0.1 - logs
crash_at long-stage 9 0.5 long.c.s1 runs    # during a 30 s stage of c
crash_at rerun-first 4 0.1 - rerun          # the rerun itself is the first command after the crash
# --- a stage with background children, wf killed while the stage runs ---------------------------------------------
# One child ignores SIGTERM, so only a SIGKILL of the stage's process group stops it.
cat > bg.yml <<'EOF'
bg:
  type: Workflow
  jobs:
    j:
      stages:
        - name: s
          bash: |
            echo "$$" > leader.pid
            echo "$0" > script.path
            if [ -f bg-hold ]; then
              sleep 100 &
              echo "$!" > bg1.pid
              sh -c 'trap "" TERM; exec sleep 101' &
              echo "$!" > bg2.pid
              echo started >> bg.marks
              sleep 30
            fi
            echo done >> bg.marks
EOF
touch bg-hold
"$WF_BIN" run bg.yml > run-bg.out 2>&1 &
wfpid=$!
if wait_until '[ "$(lines bg.marks)" -ge 1 ]' 20; then
  bgid=$(last_run_id)
  kill -KILL "$wfpid"; { wait "$wfpid"; } 2>/dev/null
  rm -f bg-hold
  run_dir=$(dirname "$(cat script.path)")
  [ -d "$run_dir" ] && [[ "$run_dir" == */wf-run-"$bgid" ]] && pass_test ||
    fail_test "bg: the killed run's stage files are in wf-run-$bgid: $run_dir"
  wf runs
  expect_rc 0 "bg: wf runs after kill -9"
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$bgid'")" "CANCEL|Interrupted" "bg: run interrupted"
  [ ! -e "$run_dir" ] && pass_test || fail_test "bg: recovery removes the killed run's stage files ($run_dir)"
  # give a SIGTERM'd group a moment, no more
  wait_until '[ -z "$(survivors leader.pid bg1.pid bg2.pid)" ]' 3
  expect_eq "$(survivors leader.pid bg1.pid bg2.pid)" "" \
    "bg: the stage and its background children (one ignoring SIGTERM) are killed"
  wf rerun "$bgid"
  expect_rc 0 "bg: rerun"
  expect_eq "$(tr '\n' ' ' < bg.marks)" "started done " "bg: rerun ran the stage once more"
else
  out=$(cat run-bg.out) err="" rc=0
  fail_test "bg: the stage never started"
  kill -KILL "$wfpid" 2>/dev/null; { wait "$wfpid"; } 2>/dev/null
fi

# --- wf killed after a stage's main process ended but while its background child still runs ----------------------
# wf is stopped (SIGSTOP) so it cannot clean up the group when the stage's shell exits; then it is killed.
cat > bg2.yml <<'EOF'
bg2:
  type: Workflow
  jobs:
    j:
      stages:
        - name: s
          bash: |
            if [ -f bg2-hold ]; then
              sleep 100 &
              echo "$!" > bg3.pid
              echo "$$" > leader2.pid
              echo started >> bg2.marks
              sleep 1
            fi
            echo done >> bg2.marks
EOF
touch bg2-hold
"$WF_BIN" run bg2.yml > run-bg2.out 2>&1 &
wfpid=$!
if wait_until '[ "$(lines bg2.marks)" -ge 1 ]' 20; then
  kill -STOP "$wfpid"
  bgid=$(last_run_id)
  stage_state=$(sql "SELECT s.status FROM stages s JOIN job_instances j ON j.id = s.job_instance_id WHERE j.run_id = '$bgid'")
  wait_until '! alive "$(cat leader2.pid)"' 10
  kill -KILL "$wfpid"; { wait "$wfpid"; } 2>/dev/null
  rm -f bg2-hold
  if [ "$stage_state" != WAIT ]; then
    echo "note: bg2: wf was stopped too late (stage $stage_state); scenario not exercised" >&2
  else
    wf runs
    expect_rc 0 "bg2: wf runs after kill -9"
    expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$bgid'")" "CANCEL|Interrupted" \
      "bg2: run interrupted"
    wait_until '[ -z "$(survivors bg3.pid)" ]' 3
    expect_eq "$(survivors bg3.pid)" "" \
      "bg2: a background child left in the stage's process group after its shell exited is killed"
    wf rerun "$bgid"
    expect_rc 0 "bg2: rerun"
    expect_eq "$(tr '\n' ' ' < bg2.marks)" "started done done " "bg2: rerun ran the stage once more (the first shell finished while wf was stopped)"
  fi
else
  out=$(cat run-bg2.out) err="" rc=0
  fail_test "bg2: the stage never started"
  kill -KILL "$wfpid" 2>/dev/null; { wait "$wfpid"; } 2>/dev/null
fi

# --- a reused pid is not taken for the dead wf ----------------------------------------------------------------
# The killed wf's pid now belongs to a live process (here: this test's shell) with another start time.
cat > quick.yml <<'EOF'
quick:
  type: Workflow
  jobs:
    j:
      stages:
        - name: s
          bash: |
            echo run >> quick.marks
            if [ -f quick-hold ]; then sleep 30; fi
EOF
touch quick-hold
"$WF_BIN" run quick.yml > run-quick.out 2>&1 &
wfpid=$!
qid=none
if wait_until '[ "$(lines quick.marks)" -ge 1 ]' 20; then
  qid=$(last_run_id)
  kill -KILL "$wfpid"; { wait "$wfpid"; } 2>/dev/null
  rm -f quick-hold
  sql "UPDATE runs SET pid = $$ WHERE id = '$qid'; UPDATE run_attempts SET pid = $$ WHERE run_id = '$qid'"
  wf runs
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$qid'")" "CANCEL|Interrupted" \
    "a live process with the dead wf's pid but another start time is not taken for it"
  wf rerun "$qid"
  expect_rc 0 "pid reuse: rerun"
else
  out=$(cat run-quick.out) err="" rc=0
  fail_test "quick: the stage never started"
  kill -KILL "$wfpid" 2>/dev/null; { wait "$wfpid"; } 2>/dev/null
fi
rm -f quick-hold

# --- a state file locked by another process for less than the busy timeout: wf waits -------------------------
cat > lock.py <<'EOF'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN EXCLUSIVE")
c.execute("SELECT 1").fetchall()
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
c.execute("COMMIT")
EOF
runs_before=$(sql "SELECT count(*) FROM runs")
python3 lock.py "$WF_STATE_DIR/wf.db" locked 2 &
lockpid=$!
if wait_until '[ -f locked ]' 10; then
  t0=$(now_ms)
  wf runs
  expect_rc 0 "locked state file: wf runs reads while another process holds a write lock"
  wf run quick.yml
  ms=$(( $(now_ms) - t0 ))
  expect_rc 0 "locked state file: wf run waits for the lock and succeeds"
  expect_no_err "locked" "locked state file: no 'database is locked'"
  if [ "$ms" -ge 800 ]; then pass_test; else fail_test "locked state file: wf run did not wait for the lock (${ms} ms)"; fi
  expect_eq "$(sql "SELECT count(*) FROM runs")" "$((runs_before + 1))" "locked state file: the run was recorded"
  expect_eq "$(sql "SELECT status FROM runs ORDER BY created_at DESC, id DESC LIMIT 1")" "SUCCESS" \
    "locked state file: the run succeeded"
else
  out="" err="" rc=0
  fail_test "could not lock the state file with python3 sqlite3"
fi
wait "$lockpid"
expect_eq "$(integrity)" "ok" "integrity_check after the lock test"

# --- ... and locked for longer than the lock timeout in the middle of a run: the run stops, exits 4,
# and its record says FAILED/StateError with nothing left WAIT (never SUCCESS with lost writes).
cat > lockmid.yml <<'EOF'
lockmid:
  type: Workflow
  jobs:
    a:
      stages:
        - name: one
          bash: touch lockmid.started; while [ ! -f lockmid.locked ]; do sleep 0.05; done
        - name: two
          bash: sleep 0.2
    b:
      needs: [a]
      stages:
        - name: three
          bash: echo three
EOF
rm -f lockmid.started lockmid.locked
WF_LOCK_TIMEOUT=1 "$WF_BIN" run lockmid.yml > lockmid.out 2> lockmid.err &
wfpid=$!
if wait_until '[ -f lockmid.started ]' 20; then
  python3 lock.py "$WF_STATE_DIR/wf.db" lockmid.locked 2.5 &
  lockpid=$!
  wait "$wfpid"; rc=$?
  wait "$lockpid"
  out=$(cat lockmid.out) err=$(cat lockmid.err)
  expect_rc 4 "lock mid-run: exit 4 (state file)"
  expect_err "database is locked" "lock mid-run: says why"
  expect_out "FAILED" "lock mid-run: the summary does not say SUCCESS"
  mid=$(last_run_id)
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$mid'")" "FAILED|StateError" "lock mid-run: run record"
  expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$mid' AND status = 'WAIT'")" 0 "lock mid-run: no job left WAIT"
  expect_eq "$(sql "SELECT count(*) FROM stages WHERE status = 'WAIT' AND job_instance_id IN (SELECT id FROM job_instances WHERE run_id = '$mid')")" 0 \
    "lock mid-run: no stage left WAIT"
  expect_eq "$(sql "SELECT count(*) FROM stages WHERE stage_key = 'three'")" 0 "lock mid-run: b never started"
else
  kill -KILL "$wfpid" 2>/dev/null
  fail_test "lock mid-run: the stage did not start"
fi

# --- a corrupt state file: exit 4 naming the file, file unchanged ----------------------------------------------
mkdir -p bad1 bad2
head -c 8192 /dev/urandom > bad1/wf.db
sqlite3 "$WF_STATE_DIR/wf.db" ".backup bad2/wf.db"
printf 'this is not a sqlite header at all, just garbage bytes written over it......................' |
  dd of=bad2/wf.db bs=1 seek=0 conv=notrunc 2>/dev/null
marks_before=$(lines quick.marks)
for d in bad1 bad2; do
  cp "$d/wf.db" "$d.orig"
  for cmd in "run quick.yml" "runs" "rerun $qid"; do
    # shellcheck disable=SC2086
    WF_STATE_DIR="$TEST_TMP/$d" wf $cmd
    expect_rc 4 "corrupt state file ($d): wf $cmd"
    expect_err "$TEST_TMP/$d/wf.db" "corrupt state file ($d): wf $cmd names the file"
  done
  if cmp -s "$d/wf.db" "$d.orig"; then pass_test; else fail_test "corrupt state file ($d) was changed"; fi
  expect_eq "$(ls "$d")" "wf.db" "corrupt state file ($d): nothing added next to it"
done
expect_eq "$(lines quick.marks)" "$marks_before" "nothing ran against a corrupt state file"

# --- a killed run's stage directory is removed by a wf whose $TMPDIR differs -------------------
# (cron starts wf without $TMPDIR, so its directory is in memory; a shell with $TMPDIR set
# recovers it.) Only where the default root is not this test's own $TMPDIR.
cat > tmpdir.yml <<'EOF'
tmpdir:
  type: Workflow
  jobs:
    j:
      stages:
        - name: s
          bash: echo "$0" > tmpdir.path; sleep 30
EOF
env -u TMPDIR "$WF_BIN" run tmpdir.yml > run-tmpdir.out 2>&1 &
wfpid=$!
if wait_until '[ -s tmpdir.path ]' 20; then
  tid=$(last_run_id)
  kill -KILL "$wfpid"; { wait "$wfpid"; } 2>/dev/null
  tdir=$(dirname "$(cat tmpdir.path)")
  [[ "$tdir" == */wf-run-"$tid" && -d "$tdir" ]] && pass_test ||
    fail_test "tmpdir: the killed run's directory is wf-run-$tid: $tdir"
  mkdir -p other-tmp
  TMPDIR="$TEST_TMP/other-tmp" wf runs
  expect_rc 0 "tmpdir: wf runs with another \$TMPDIR recovers the run"
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$tid'")" "CANCEL|Interrupted" \
    "tmpdir: run interrupted"
  [ ! -e "$tdir" ] && pass_test || fail_test "tmpdir: recovery under another \$TMPDIR removes $tdir"
else
  kill -KILL "$wfpid" 2>/dev/null
  fail_test "tmpdir: the stage did not start"
fi

# --- ... and one made under a $TMPDIR the recovering wf does not have (the run recorded it) ----
mkdir -p own-tmp
rm -f tmpdir.path
TMPDIR="$TEST_TMP/own-tmp" "$WF_BIN" run tmpdir.yml > run-own-tmp.out 2>&1 &
wfpid=$!
if wait_until '[ -s tmpdir.path ]' 20; then
  tid=$(last_run_id)
  kill -KILL "$wfpid"; { wait "$wfpid"; } 2>/dev/null
  tdir=$(dirname "$(cat tmpdir.path)")
  expect_eq "$tdir" "$TEST_TMP/own-tmp/wf-run-$tid" "own tmpdir: the run's directory is under its \$TMPDIR"
  expect_eq "$(sql "SELECT temp_dir FROM runs WHERE id = '$tid'")" "$tdir" "own tmpdir: the run recorded it"
  TMPDIR= wf runs
  expect_rc 0 "own tmpdir: wf runs without \$TMPDIR recovers the run"
  expect_eq "$(sql "SELECT status || '|' || error_name FROM runs WHERE id = '$tid'")" "CANCEL|Interrupted" \
    "own tmpdir: run interrupted"
  [ ! -e "$tdir" ] && pass_test || fail_test "own tmpdir: recovery without \$TMPDIR removes $tdir"
else
  kill -KILL "$wfpid" 2>/dev/null
  fail_test "own tmpdir: the stage did not start"
fi

# --- recovery racing runs that finish: a run that ends while another wf looks for interrupted
# runs keeps its result (recovery judges a run again under the write lock before closing it).
# Two loops of 150 short runs and a loop of `wf runs`: before the fix 1-4 of 300 runs were
# overwritten as CANCEL/Interrupted.
cat > quick.yml <<'EOF'
quick:
  type: Workflow
  jobs:
    a:
      stages:
        - name: s
          bash: "true"
EOF
export WF_STATE_DIR="$TEST_TMP/race-state"
( for _ in $(seq 150); do "$WF_BIN" run quick.yml >/dev/null 2>&1; done ) &
loop1=$!
( for _ in $(seq 150); do "$WF_BIN" run quick.yml >/dev/null 2>&1; done ) &
loop2=$!
while kill -0 "$loop1" 2>/dev/null || kill -0 "$loop2" 2>/dev/null; do "$WF_BIN" runs >/dev/null 2>&1; done
wait "$loop1" "$loop2"
expect_eq "$(sql "SELECT status || ':' || count(*) FROM runs GROUP BY status")" "SUCCESS:300" \
  "race: runs finishing while recovery looks keep their result"

echo "test_crash.sh: $(( $(now_ms) - start_ms )) ms" >&2

finish
