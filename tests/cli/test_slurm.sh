#!/usr/bin/env bash
# runs-on: slurm (FORMAT §11) on a real one-node Slurm cluster that scripts/local-slurm.sh
# brings up on this machine (installing Slurm if needed; needs root). Outputs and exit codes
# come back; a failing stage; a timeout, fail-fast and `wf cancel` that scancel their jobs; a
# job cancelled outside wf; a refused submission; sbatch missing; `kill -9` of wf while jobs
# run, then `wf rerun`, which submits no stage twice; examples/slurm.yml. The cluster is
# stopped at the end unless it was already running.
# WF_TEST_SLURM=0 skips this test (for machines where it cannot run as root).
source "$(dirname "$0")/lib.sh"
if [ ! -x "$WF_BIN" ]; then echo "$(basename "$0"): no wf binary at $WF_BIN" >&2; exit 1; fi
if [ "${WF_TEST_SLURM:-1}" = 0 ]; then echo "$(basename "$0"): skipped (WF_TEST_SLURM=0)"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "$(basename "$0"): needs root to start the local Slurm cluster (or set WF_TEST_SLURM=0)" >&2
  exit 1
fi
LOCAL_SLURM="$WF_SRC/scripts/local-slurm.sh"

# A wf that hangs must not hang the suite.
wf() {
  out=$(timeout 120 "$WF_BIN" "$@" 2>"$TEST_TMP/.stderr")
  rc=$?
  err=$(cat "$TEST_TMP/.stderr")
}
# Slurm job ids recorded for the stages of run $1 (all attempts), in stage order.
slurm_ids() {
  sql "SELECT substr(s.external_id, 7, instr(substr(s.external_id, 7), ':') - 1) FROM stages s
       JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$1' AND s.external_id LIKE 'slurm:%' ORDER BY s.id"
}
# Jobs of run $1 that Slurm still lists as queued or running.
active_jobs() { squeue -h -o '%j' 2>/dev/null | grep -c "^wf\.$1\." ; }
# Submissions of run $1 in the job completion log (every job that ended).
submissions() { sacct -c -n -P -o JobName 2>/dev/null | grep -c "^wf\.$1\." ; }

# One cluster user at a time among the tests (test_examples.sh runs examples/slurm.yml too).
exec 8>"${TMPDIR:-/tmp}/wf-test-slurm.lock"
flock -w 600 8
was_up=0
"$LOCAL_SLURM" status >/dev/null 2>&1 && was_up=1
cleanup() {
  local r ids
  for r in $(sql "SELECT id FROM runs" 2>/dev/null); do
    ids=$(squeue -h -o '%i %j' 2>/dev/null | awk -v p="wf.$r." 'index($2, p) == 1 {print $1}')
    # shellcheck disable=SC2086
    [ -n "$ids" ] && scancel $ids
  done
  [ $was_up = 1 ] || "$LOCAL_SLURM" stop >/dev/null 2>&1
  rm -rf "$TEST_TMP"
}
trap cleanup EXIT
t0=$(now_ms)
if ! LOCAL_SLURM_CPUS=${LOCAL_SLURM_CPUS:-8} "$LOCAL_SLURM" start > start.log 2>&1; then
  cat start.log >&2
  echo "$(basename "$0"): could not start the local Slurm cluster" >&2
  exit 1
fi
echo "$(basename "$0"): $(tail -1 start.log)"

# --- examples/slurm.yml: four legs at once, outputs back ------------------------------------------------
wf run "$WF_SRC/examples/slurm.yml"
expect_rc 0 "examples/slurm.yml"
expect_out "simulate (3)/Simulate seed 3 | seed 3: Slurm job" "example: output streamed back"
expect_out "summarize/Sum | legs=4 seed4=16" "example: outputs of the legs"
run=$(last_run_id)
expect_eq "$(slurm_ids "$run" | sort -u | wc -l)" "4" "example: one Slurm job per leg, ids recorded"
# The legs overlapped: each started before any other ended.
expect_eq "$(sql "SELECT max(s.started_at) < min(s.finished_at) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                  WHERE j.run_id = '$run' AND j.job = 'simulate'")" "1" "example: legs ran in parallel"
expect_eq "$(ls "$WF_STATE_DIR/slurm" 2>/dev/null)" "" "example: job files removed after the run"

# --- outputs, exit codes, env, working directory, python --------------------------------------------------
mkdir -p work
cat > io.yml <<'EOF'
io:
  type: Workflow
  env: {FROM_WORKFLOW: wflow}
  jobs:
    io:
      runs-on: {type: slurm, with: {partition: debug, time: "00:02:00"}}
      stages:
        - name: produce
          id: produce
          working-directory: work
          env: {GREETING: "it's ${{ 'me' }}"}
          bash: |
            echo "in $(basename "$PWD") as $WF_JOB/$WF_STAGE: $GREETING $FROM_WORKFLOW job=$SLURM_JOB_ID"
            echo "answer=42" >> "$WF_OUTPUT"
            printf 'list<<END\na\nb\nEND\n' >> "$WF_OUTPUT"
            echo "to stderr" >&2
        - name: soft fail
          id: soft
          continue-on-error: true
          bash: exit 3
        - name: python
          id: py
          run: |
            doubled = int("${{ stages.produce.outputs.answer }}") * 2
            print("doubled", doubled)
      outputs:
        answer: ${{ stages.produce.outputs.answer }}
        doubled: ${{ stages.py.outputs.doubled }}
        soft_rc: ${{ stages.soft.outputs.return_code }}
EOF
wf run io.yml
expect_rc 0 "io"
expect_out "io/produce | in work as io/produce: it's me wflow job=" "io: env, cwd and WF_* in the job"
expect_out "io/produce | to stderr" "io: stderr streamed"
expect_out "io/python | doubled 84" "io: python stage"
run=$(last_run_id)
outs=$(sql "SELECT outputs FROM job_instances WHERE run_id = '$run'")
expect_eq "$outs" '{"answer":"42","doubled":84,"soft_rc":3}' "io: outputs and return code back"
expect_eq "$(sql "SELECT group_concat(exit_code) FROM stages WHERE job_instance_id IN
                  (SELECT id FROM job_instances WHERE run_id = '$run') ORDER BY id")" "0,3,0" "io: exit codes recorded"
wf logs "$run" io/produce
expect_out "to stderr" "io: log kept"
wf show "$run"
expect_out "slurm job $(slurm_ids "$run" | head -1)" "io: wf show names the Slurm job"
wf show "$run" --json
expect_out '"external_id": "slurm:' "io: wf show --json has the external id"

# --- a failing stage ----------------------------------------------------------------------------
cat > fail.yml <<'EOF'
fail:
  type: Workflow
  jobs:
    broken:
      runs-on: slurm
      stages:
        - name: boom
          bash: |
            echo "working"
            echo "disk on fire" >&2
            exit 4
        - name: never
          bash: echo "must not run"
EOF
wf run fail.yml
expect_rc 1 "fail"
expect_out "broken/boom  FAILED" "fail: stage failed"
expect_out "ShellError: exit status 4: disk on fire" "fail: exit status and stderr tail"
expect_no_out "must not run" "fail: later stage skipped"
expect_eq "$(sql "SELECT exit_code FROM stages WHERE stage_key = 'boom' ORDER BY id DESC LIMIT 1")" "4" "fail: exit code recorded"

# --- a timeout cancels the Slurm job ----------------------------------------------------------------
cat > slow.yml <<'EOF'
slow:
  type: Workflow
  jobs:
    slow:
      runs-on: slurm
      stages:
        - name: sleepy
          timeout: 2
          bash: echo started; sleep 120
EOF
wf run slow.yml
expect_rc 1 "timeout"
expect_out "TimeoutError: stage timed out; its Slurm job was cancelled" "timeout: error"
run=$(last_run_id)
job=$(slurm_ids "$run")
expect_eq "$(squeue -h -j "$job" -o %T 2>/dev/null)" "" "timeout: job $job gone from squeue"
expect_eq "$(squeue -h -t all -j "$job" -o %T 2>/dev/null)" "CANCELLED" "timeout: job $job was cancelled"

# --- fail-fast and wf cancel scancel the running jobs --------------------------------------------------
cat > ff.yml <<'EOF'
ff:
  type: Workflow
  max-job-parallel: 2
  jobs:
    legs:
      runs-on: slurm
      strategy:
        matrix: {n: [1, 2]}
        fail-fast: true
      stages:
        - name: work
          bash: if [ "$WF_MATRIX_N" = 1 ]; then sleep 1; exit 5; fi; sleep 120
EOF
wf run ff.yml
expect_rc 1 "fail-fast"
expect_out "legs (2)/work  CANCEL" "fail-fast: the other leg cancelled"
run=$(last_run_id)
expect_eq "$(active_jobs "$run")" "0" "fail-fast: its Slurm job is gone from squeue"
cat > cancel.yml <<'EOF'
cancel:
  type: Workflow
  jobs:
    long:
      runs-on: slurm
      stages:
        - name: long
          bash: echo running; sleep 120
EOF
"$WF_BIN" run cancel.yml > cancel.log 2>&1 &
wfpid=$!
wait_until 'grep -q "long/long | running" cancel.log' 30
wf cancel "$(last_run_id)"
wait $wfpid
rc=$? out=$(cat cancel.log) err=""
expect_rc 3 "wf cancel"
expect_out "long/long  CANCEL" "wf cancel: stage cancelled"
expect_eq "$(active_jobs "$(last_run_id)")" "0" "wf cancel: its Slurm job is gone from squeue"

# --- a job cancelled outside wf (scancel by someone else) fails the stage with Slurm's word --------------
"$WF_BIN" run cancel.yml > ext.log 2>&1 &
wfpid=$!
wait_until 'grep -q "long/long | running" ext.log' 30
scancel "$(slurm_ids "$(last_run_id)")"
wait $wfpid
rc=$? out=$(cat ext.log) err=""
expect_rc 1 "scancel outside wf"
expect_out "StageError: Slurm job $(slurm_ids "$(last_run_id)") ended CANCELLED (cancelled outside wf, e.g. by scancel or an administrator)" \
  "scancel outside wf: reason from Slurm"

# --- submission refused: bad partition; sbatch missing ---------------------------------------------
cat > badpart.yml <<'EOF'
badpart:
  type: Workflow
  jobs:
    nowhere:
      runs-on: {type: slurm, with: {partition: nosuch}}
      stages:
        - name: never
          bash: echo hi
EOF
wf run badpart.yml
expect_rc 1 "bad partition"
expect_out "StageError: failed to submit to Slurm: sbatch refused the job: invalid partition specified: nosuch" \
  "bad partition: sbatch's message"
out=$(timeout 60 env PATH=/nonexistent "$WF_BIN" run badpart.yml 2>&1); rc=$?
expect_rc 1 "no sbatch"
expect_out "StageError: failed to submit to Slurm: sbatch not found in PATH; runs-on slurm needs the Slurm client commands" \
  "no sbatch: clear error"

# --- kill -9 of wf while jobs run, then wf rerun: nothing submitted twice -------------------------------
# Three legs of three stages; b sleeps 3, 6 and 9 s. wf is killed once all three b jobs run;
# leg 1's b then finishes while wf is gone, legs 2 and 3 still run when the rerun starts.
cat > crash.yml <<'EOF'
crash:
  type: Workflow
  max-job-parallel: 3
  jobs:
    legs:
      runs-on: slurm
      strategy:
        matrix: {n: [1, 2, 3]}
      stages:
        - name: a
          id: a
          bash: echo "a=$WF_MATRIX_N" >> "$WF_OUTPUT"
        - name: b
          bash: sleep $(( WF_MATRIX_N * 3 )); echo "b-done $WF_MATRIX_N"
        - name: c
          bash: echo "c sees a=${{ stages.a.outputs.a }}"
EOF
"$WF_BIN" run crash.yml > crash1.log 2>&1 &
wfpid=$!
wait_until '[ -n "$(last_run_id 2>/dev/null)" ] && [ "$(squeue -h -t running -o %j | grep -c "^wf\.$(last_run_id)\.")" -ge 3 ] && [ "$(sql "SELECT count(*) FROM stages WHERE stage_key = '"'b'"' AND external_id LIKE '"'slurm:%'"'")" -ge 3 ]' 30
kill -9 $wfpid 2>/dev/null
wait $wfpid 2>/dev/null
run=$(last_run_id)
expect_eq "$(active_jobs "$run")" "3" "crash: the three b jobs run on after kill -9"
wait_until '[ "$(active_jobs "$run")" -le 2 ]' 20   # leg 1's b ends while wf is gone
wf show "$run"
expect_out "Interrupted: wf (pid $wfpid) stopped while this stage ran; its Slurm job" "crash: show says the job was left running"
expect_out "(now RUNNING)" "crash: show asks Slurm about the jobs left running"
expect_out "(now COMPLETED)" "crash: show asks Slurm about the job that ended meanwhile"
wf rerun "$run"
expect_rc 0 "crash: rerun"
expect_out "legs (1)/b | b-done 1" "crash: leg 1's b (finished while wf was gone) collected"
expect_out "legs (3)/b | b-done 3" "crash: leg 3's b (still running) waited for"
expect_out "legs (2)/c | c sees a=2" "crash: outputs of collected stages used downstream"
wait_until '[ "$(active_jobs "$run")" -eq 0 ] && [ "$(submissions "$run")" -ge 9 ]' 20
sleep 0.5
expect_eq "$(submissions "$run")" "9" "crash: 3 legs x 3 stages submitted once each"
expect_eq "$(slurm_ids "$run" | sort -u | wc -l)" "9" "crash: attempts 1 and 2 share the Slurm jobs of a and b"
expect_eq "$(sql "SELECT status FROM runs WHERE id = '$run'")" "SUCCESS" "crash: run succeeded"

# --- per-stage latency: submit to recorded result, stages in sequence ----------------------------------
cat > latency.yml <<'EOF'
latency:
  type: Workflow
  jobs:
    seq:
      runs-on: slurm
      stages:
        - {name: s1, bash: "true"}
        - {name: s2, bash: "true"}
        - {name: s3, bash: "true"}
        - {name: s4, bash: "true"}
        - {name: s5, bash: "true"}
        - {name: s6, bash: "true"}
EOF
wf run latency.yml
expect_rc 0 "latency"
run=$(last_run_id)
lat=$(sql "SELECT finished_at - started_at FROM stages WHERE job_instance_id IN
           (SELECT id FROM job_instances WHERE run_id = '$run') ORDER BY 1" | tr '\n' ' ')
echo "$(basename "$0"): per-stage latency (sbatch to recorded result, ms, sorted): $lat"

echo "$(basename "$0"): took $(( ($(now_ms) - t0) / 1000 )) s"
finish
