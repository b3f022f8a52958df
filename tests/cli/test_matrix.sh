#!/usr/bin/env bash
# Matrix fail-fast and max-parallel, job retry (short and long form), job and stage timeouts,
# --max-legs, and the history commands cancel, gc and logs -f.
source "$(dirname "$0")/lib.sh"

count() { [ -f "$1" ] && wc -l < "$1" | tr -d ' ' || echo 0; }

# --- fail-fast cancels the other legs; unstarted legs are recorded CANCEL -------------------
cat > ff.yml <<'YAML'
ff:
  type: Workflow
  jobs:
    legs:
      strategy:
        matrix: {i: [1, 2, 3, 4, 5, 6]}
        max-parallel: 2
        fail-fast: true
      stages:
        - name: leg
          bash: |
            echo "${{ matrix.i }}" >> started
            if [ "${{ matrix.i }}" = 2 ]; then
              # Fail once leg 1 runs, so that there is a running leg to cancel.
              while ! grep -qx 1 started; do sleep 0.02; done
              exit 1
            fi
            sleep 5
YAML
start=$(date +%s)
wf run ff.yml -j 4
expect_rc 1 "fail-fast exit code"
[ $(( $(date +%s) - start )) -lt 5 ] && pass_test || fail_test "fail-fast should kill the running leg at once"
expect_eq "$(count started)" "2" "fail-fast starts no more legs"
rid=$(last_run_id)
expect_eq "$(sql "SELECT status FROM job_instances WHERE run_id='$rid' AND leg=1")" "FAILED" "failed leg"
expect_eq "$(sql "SELECT status FROM job_instances WHERE run_id='$rid' AND leg=0")" "CANCEL" "running leg cancelled"
expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id='$rid' AND status='CANCEL'")" "5" "unstarted legs CANCEL"
expect_eq "$(sql "SELECT status || ' ' || exit_code FROM runs WHERE id='$rid'")" "FAILED 1" "fail-fast run FAILED, exit 1"

# --- max-parallel bounds running legs ------------------------------------------------------
cat > mp.yml <<'YAML'
mp:
  type: Workflow
  jobs:
    legs:
      strategy:
        matrix: {i: [1, 2, 3, 4, 5, 6]}
        max-parallel: "${{ 1 + 1 }}"
      stages:
        - name: leg
          bash: |
            n=$(find . -maxdepth 1 -name 'running.*' | wc -l); echo "$n" >> seen
            touch running.$$; sleep 0.2; rm running.$$
YAML
wf run mp.yml -j 6
expect_rc 2 "max-parallel with arithmetic is an invalid expression"
sed -i 's/"\${{ 1 + 1 }}"/2/' mp.yml
wf run mp.yml -j 6
expect_rc 0 "max-parallel"
[ "$(sort -n seen | tail -1)" -le 1 ] && pass_test || fail_test "at most 2 legs at once (each sees at most 1 other)"
expect_eq "$(count seen)" "6" "every leg ran"

# --- more legs than --max-legs --------------------------------------------------------------
python3 -c "
print('big:\n  type: Workflow\n  jobs:\n    j:\n      strategy:\n        matrix:\n          i: [' + ','.join(str(i) for i in range(300)) + ']\n      stages: [{name: s, echo: hi}]')" > big.yml
wf validate big.yml
expect_rc 2 "300 legs over the default cap"
expect_err "job matrix has 300 legs, more than the limit of 256; raise it with --max-legs" "max legs message"
wf run big.yml --max-legs 300 -q
expect_rc 0 "--max-legs raises the cap"
expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id='$(last_run_id)'")" "300" "300 legs recorded"

# --- job retry: short and long form; attempts recorded --------------------------------------
cat > jr.yml <<'YAML'
jr:
  type: Workflow
  jobs:
    short:
      retry: 2
      stages:
        - name: try
          bash: |
            echo "job attempt $WF_JOB_ATTEMPT stage attempt $WF_ATTEMPT" >> short.log
            [ "$WF_JOB_ATTEMPT" = 3 ]
    long:
      retry: {count: 1, delay: 0.1, backoff: fixed}
      stages:
        - name: try
          bash: echo "$WF_JOB_ATTEMPT" >> long.log; exit 1
YAML
wf run jr.yml
expect_rc 1 "job retry: long fails in the end"
expect_eq "$(cat short.log | tr '\n' '|')" "job attempt 1 stage attempt 1|job attempt 2 stage attempt 1|job attempt 3 stage attempt 1|" "short retry attempts"
expect_eq "$(count long.log)" "2" "long form: count 1 = 2 attempts"
rid=$(last_run_id)
expect_eq "$(sql "SELECT group_concat(status, ',') FROM (SELECT status FROM job_instances WHERE run_id='$rid' AND job='short' ORDER BY id)")" "FAILED,FAILED,SUCCESS" "each job attempt recorded"
expect_eq "$(sql "SELECT max(job_attempt) FROM job_instances WHERE run_id='$rid' AND job='long'")" "2" "job_attempt numbering"

# --- job timeout and stage timeout ------------------------------------------------------------
cat > to.yml <<'YAML'
to:
  type: Workflow
  jobs:
    slow-job:
      timeout: 1
      stages:
        - {name: a, bash: sleep 0.2}
        - {name: b, bash: sleep 30}
    slow-stage:
      stages:
        - {name: c, timeout: 0.5, bash: "trap '' TERM; sleep 30"}
YAML
start=$(date +%s)
wf run to.yml --kill-grace 0.5
expect_rc 1 "timeouts fail the jobs"
[ $(( $(date +%s) - start )) -lt 6 ] && pass_test || fail_test "timeouts must kill the stages (and SIGKILL after the grace)"
rid=$(last_run_id)
expect_eq "$(sql "SELECT error_name FROM stages WHERE name='b' AND job_instance_id IN (SELECT id FROM job_instances WHERE run_id='$rid')")" "TimeoutError" "job timeout"
expect_eq "$(sql "SELECT error_name FROM stages WHERE name='c' AND job_instance_id IN (SELECT id FROM job_instances WHERE run_id='$rid')")" "TimeoutError" "stage timeout"
expect_eq "$(sql "SELECT error_message FROM stages WHERE name='b' AND job_instance_id IN (SELECT id FROM job_instances WHERE run_id='$rid')")" "job timed out; the process group was killed" "job timeout message"

# --- wf cancel from another shell: exit 3, CANCEL ----------------------------------------------
cat > long.yml <<'YAML'
long:
  type: Workflow
  jobs:
    a:
      stages:
        - name: ticks
          bash: for i in 1 2 3 4 5 6 7 8 9 10; do echo "tick $i"; sleep 0.3; done
YAML
"$WF_BIN" run long.yml > long.out 2>&1 &
pid=$!
for _ in $(seq 50); do [ -n "$(sql "SELECT id FROM runs WHERE status='WAIT'" 2>/dev/null)" ] && break; sleep 0.1; done
rid=$(sql "SELECT id FROM runs WHERE status='WAIT' LIMIT 1")
# logs -f follows the running run until it ends
"$WF_BIN" logs -f "$rid" > follow.out 2>/dev/null &
fpid=$!
sleep 1
wf cancel "$rid"
expect_rc 0 "wf cancel"
expect_out "run $rid CANCEL" "cancel waits for the run to stop"
wait $pid; expect_eq "$?" "3" "a cancelled run exits 3"
wait $fpid
expect_eq "$(sql "SELECT status || ' ' || error_name FROM runs WHERE id='$rid'")" "CANCEL CancelError" "cancel recorded"
grep -q "a/ticks | tick 1" follow.out && pass_test || fail_test "logs -f printed the output as it came"
wf cancel "$rid"
expect_rc 2 "cancel of a finished run"
expect_err "is not running (CANCEL)" "cancel message"

# --- the run summary counts jobs, and the legs of matrix jobs apart ----------------------------
cat > count.yml <<'EOF'
count:
  type: Workflow
  jobs:
    plain:
      stages: [{name: s, echo: hi}]
    legs:
      strategy: {matrix: {r: [eu, us, asia]}}
      stages: [{name: s, bash: '[ "${{ matrix.r }}" != asia ]'}]
    single:
      strategy: {matrix: {r: [x]}}
      stages: [{name: s, echo: hi}]
EOF
wf run count.yml
expect_rc 1 "summary counts: a leg fails"
expect_out "(3 jobs: 2 success, 1 failed; 3 legs: 2 success, 1 failed)" "summary counts jobs and legs apart"
count_id=$(last_run_id)
wf rerun "$count_id"
expect_out "(3 jobs: 2 success, 1 failed; 3 legs: 2 success, 1 failed)" "rerun summary counts kept legs as legs"
wf run count.yml --job plain
expect_out "(3 jobs: 1 success, 2 skip)" "no legs part when no matrix job ran legs"

# --- gc -----------------------------------------------------------------------------------------
wf run jr.yml -q
before=$(sql "SELECT count(*) FROM runs")
wf gc
expect_rc 2 "gc needs a rule"
wf gc --keep-runs 1
expect_rc 0 "gc"
expect_eq "$(sql "SELECT count(*) FROM runs WHERE workflow='jr'")" "1" "gc keeps the newest run per workflow"
expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id NOT IN (SELECT id FROM runs)")" "0" "gc deletes instances with runs"
[ "$(sql "SELECT count(*) FROM runs")" -lt "$before" ] && pass_test || fail_test "gc deleted nothing"

finish
