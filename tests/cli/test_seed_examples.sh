#!/usr/bin/env bash
# The YAML examples of the seed reference (shared/seeds/004_a5c303cb1b64bc4a.txt, sections
# "YAML Configuration" and "Workflow Patterns") are what users paste first. tests/cli/seed/
# holds each one exactly as the ddeutil-workflow documentation writes it (indentation restored,
# nothing fixed), and this test checks that wf accepts them as written and behaves as
# FORMAT.md says when they run.
#
# Part 1 runs them as they are: the programs and functions they call (process_region.sh,
# process_data(), split_data(), risky_operation(), an unimported datetime, ...) do not exist
# here, so those stages fail with the real error name (python NameError, ShellError with exit
# status 127) and the trigger rules / `if:` decide what runs after (FORMAT §5.2).
# Part 2 runs the same files, unchanged, with stubs for those names (a sitecustomize.py on
# PYTHONPATH that puts them into builtins, and a process_region.sh on PATH), so that the success
# paths of the examples are covered too: fallback skipped when main-process succeeds, the
# fan-out matrix built from a python stage's result.outputs (FORMAT §5.4), retry stopping at
# the first successful attempt, matrix max-parallel.
source "$(dirname "$0")/lib.sh"

SEED="$WF_SRC/tests/cli/seed"
examples="my-workflow complex-workflow robust-workflow scheduled-workflow fan-out-fan-in circuit-breaker retry-pattern"

# Statuses of the last run, read from the state file.
run_status() { sql "SELECT status || ' ' || exit_code || ' ' || error_name FROM runs WHERE id = '$(last_run_id)'"; }
# job_status JOB: status and skip reason of each instance of JOB, in leg order, one per line.
job_status() {
  sql "SELECT status || CASE WHEN skip_reason <> '' THEN ' (' || skip_reason || ')' ELSE '' END
       FROM job_instances WHERE run_id = '$(last_run_id)' AND job = '$1' ORDER BY leg"
}
# stage_attempts JOB STAGE_NAME: "attempt status exit_code error_name" per recorded attempt.
stage_attempts() {
  sql "SELECT s.attempt || ' ' || s.status || ' ' || s.exit_code || ' ' || s.error_name
       FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' AND s.name = '$2' ORDER BY s.attempt"
}
# stage_ms JOB STAGE_NAME ATTEMPT: how long that attempt ran, in ms.
stage_ms() {
  sql "SELECT s.finished_at - s.started_at FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' AND s.name = '$2' AND s.attempt = $3"
}
# gap_ms JOB STAGE_NAME ATTEMPT: ms between the end of ATTEMPT-1 and the start of ATTEMPT.
gap_ms() {
  sql "SELECT b.started_at - a.finished_at FROM stages a JOIN stages b ON b.job_instance_id = a.job_instance_id
       JOIN job_instances j ON j.id = a.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' AND a.name = '$2' AND b.name = '$2'
         AND a.attempt = $3 - 1 AND b.attempt = $3"
}
# in_range VALUE LOW HIGH LABEL
in_range() {
  if [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; then pass_test; else
    fail_test "$4: expected $2..$3, got '$1'"
  fi
}
# stage_log JOB STAGE_NAME: the captured output of the stage's last attempt.
stage_log() {
  sql "SELECT group_concat(l.text, '') FROM logs l WHERE l.stage_id = (SELECT s.id FROM stages s
       JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' AND s.name = '$2' ORDER BY s.attempt DESC LIMIT 1)"
}

# --- the files are there, one per example, and hold that one workflow ----------------------------
for name in $examples; do
  if [ -f "$SEED/$name.yml" ] && head -1 "$SEED/$name.yml" | grep -qx "$name:"; then pass_test; else
    out="" err="" rc=0; fail_test "tests/cli/seed/$name.yml is missing or does not start with '$name:'"
  fi
done

# --- validate: each file alone, then the directory ---------------------------------------------------
for name in $examples; do
  wf validate "$SEED/$name.yml"
  expect_rc 0 "validate $name"
  expect_out "ok: 1 workflow in 1 file" "validate $name"
  expect_no_err "error" "validate $name"
done
wf validate "$SEED"
expect_rc 0 "validate seed/"
expect_out "ok: 7 workflows in 7 files, 3 warnings" "validate seed/"
# The warnings are the two of FORMAT §7 (params pasted into a bash script, an undeclared param).
wf validate "$SEED/complex-workflow.yml"
expect_err "complex-workflow.yml:31:32: warning: '\${{ params.start_date }}' is pasted into the script as text" "validate complex-workflow"
expect_err "complex-workflow.yml:32:30: warning: '\${{ params.end_date }}' is pasted into the script as text" "validate complex-workflow"
wf validate "$SEED/my-workflow.yml"
expect_err "my-workflow.yml:26:22: warning: undeclared param 'data_url'" "validate my-workflow"

########################################################################################################
# Part 1: as written, nothing they call exists.
########################################################################################################

# --- my-workflow ---------------------------------------------------------------------------------------
# `params.data_url` is not declared: giving it is a usage error (FORMAT §3, exit 2, nothing runs) ...
wf run "$SEED/my-workflow.yml" -p data_url=http://127.0.0.1:9/data.csv
expect_rc 2 "my-workflow -p data_url"
expect_err "unknown param 'data_url'" "my-workflow -p data_url"
expect_err "declared params: input_file (str), environment (str)" "my-workflow -p data_url"
# ... and reading it fails the "Download data" stage with a TemplateError (FORMAT §7) before wget
# runs; "Validate data" (import pandas) is never reached, and data-processing (all_success) is
# skipped without expanding its matrix.
wf run "$SEED/my-workflow.yml" -p input_file=/tmp/in.csv
expect_rc 1 "my-workflow"
expect_out "TemplateError: params.data_url: key 'data_url' not found in 'params'" "my-workflow"
expect_eq "$(run_status)" "FAILED 1 TemplateError" "my-workflow run"
expect_eq "$(job_status data-ingestion)" "FAILED" "my-workflow data-ingestion"
expect_eq "$(stage_attempts data-ingestion 'Download data')" "1 FAILED -1 TemplateError" "my-workflow Download data"
# (the stages after a failed one are recorded as SKIP, or not at all)
expect_eq "$(stage_attempts data-ingestion 'Validate data' | grep -v '^1 SKIP -1 $')" "" "my-workflow Validate data not run"
expect_eq "$(job_status data-processing)" "SKIP (trigger-rule)" "my-workflow data-processing"
p=$(sql "SELECT params FROM runs WHERE id = '$(last_run_id)'")
expect_eq "$p" '{"environment":"development","input_file":"/tmp/in.csv"}' "my-workflow params (default applied)"

# --- complex-workflow ------------------------------------------------------------------------------------
# 3 x 4 legs, fail-fast false: every leg runs and fails with exit status 127; aggregation skipped.
wf run "$SEED/complex-workflow.yml" -p start_date=2024-01-01 -p end_date=2024-01-02T00:00:00+02:00
expect_rc 1 "complex-workflow"
expect_eq "$(run_status)" "FAILED 1 ShellError" "complex-workflow run"
expect_eq "$(job_status setup)" "SUCCESS" "complex-workflow setup"
expect_eq "$(sql "SELECT count(*) || ' ' || group_concat(DISTINCT status) FROM job_instances
                  WHERE run_id = '$(last_run_id)' AND job = 'parallel-processing'")" "12 FAILED" "complex-workflow legs"
expect_eq "$(sql "SELECT group_concat(display_name, ';') FROM (SELECT display_name FROM job_instances
                  WHERE run_id = '$(last_run_id)' AND job = 'parallel-processing' ORDER BY leg)")" \
  "parallel-processing (us-east, 1);parallel-processing (us-east, 2);parallel-processing (us-east, 3);parallel-processing (us-east, 4);parallel-processing (us-west, 1);parallel-processing (us-west, 2);parallel-processing (us-west, 3);parallel-processing (us-west, 4);parallel-processing (eu-central, 1);parallel-processing (eu-central, 2);parallel-processing (eu-central, 3);parallel-processing (eu-central, 4)" \
  "complex-workflow leg order"
expect_eq "$(stage_attempts parallel-processing 'Process eu-central-4')" "1 FAILED 127 ShellError" "complex-workflow eu-central-4"
expect_eq "$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                  WHERE j.run_id = '$(last_run_id)' AND j.job = 'parallel-processing' AND s.status = 'FAILED'
                    AND s.exit_code = 127 AND s.error_name = 'ShellError'
                    AND s.error_message LIKE 'exit status 127%process_region.sh: command not found%'")" "12" \
  "complex-workflow: all 12 stages ShellError 127"
expect_out "parallel-processing (us-west, 3)/Process us-west-3  FAILED" "complex-workflow"
expect_eq "$(job_status aggregation)" "SKIP (trigger-rule)" "complex-workflow aggregation"
p=$(sql "SELECT params FROM runs WHERE id = '$(last_run_id)'")
expect_eq "$p" '{"batch_size":1000,"end_date":"2024-01-01T22:00:00Z","start_date":"2024-01-01T00:00:00Z"}' "complex-workflow params"

# --- robust-workflow ---------------------------------------------------------------------------------------
# retry: ${{ params.retry_count }} = 3 -> 4 attempts of "Attempt processing", 1.2^n s apart
# (1.2 + 1.44 + 1.73 ≈ 4.4 s), each a NameError; fallback runs because main-process failed, cleanup
# runs because of always() (after fallback, which it needs); both fail with their own NameError.
wf run "$SEED/robust-workflow.yml"
expect_rc 1 "robust-workflow"
expect_eq "$(run_status)" "FAILED 1 NameError" "robust-workflow run"
expect_eq "$(stage_attempts main-process 'Attempt processing')" \
  "$(printf '1 FAILED 1 NameError\n2 FAILED 1 NameError\n3 FAILED 1 NameError\n4 FAILED 1 NameError')" "robust-workflow attempts"
in_range "$(gap_ms main-process 'Attempt processing' 2)" 1150 2200 "robust-workflow delay before attempt 2 (1.2 s)"
in_range "$(gap_ms main-process 'Attempt processing' 3)" 1390 2440 "robust-workflow delay before attempt 3 (1.44 s)"
in_range "$(gap_ms main-process 'Attempt processing' 4)" 1680 2730 "robust-workflow delay before attempt 4 (1.728 s)"
expect_eq "$(job_status main-process)" "FAILED" "robust-workflow main-process"
expect_eq "$(stage_attempts fallback 'Fallback processing')" "1 FAILED 1 NameError" "robust-workflow fallback ran"
expect_eq "$(stage_attempts cleanup 'Cleanup resources')" "1 FAILED 1 NameError" "robust-workflow cleanup ran"
expect_out "NameError: name 'process_data' is not defined" "robust-workflow"
expect_out "NameError: name 'fallback_process' is not defined" "robust-workflow"
expect_out "NameError: name 'cleanup_resources' is not defined" "robust-workflow"
[[ "$(stage_log main-process 'Attempt processing')" == *"NameError: name 'process_data' is not defined"* ]] &&
  pass_test || fail_test "robust-workflow: the traceback is in the stored log"

# --- scheduled-workflow ---------------------------------------------------------------------------------------
# Its three `on:` entries (two timezones, manual) validate; run by hand, the stage uses datetime
# without importing it.
wf run "$SEED/scheduled-workflow.yml"
expect_rc 1 "scheduled-workflow"
expect_eq "$(run_status)" "FAILED 1 NameError" "scheduled-workflow run"
expect_eq "$(stage_attempts scheduled-task 'Scheduled execution')" "1 FAILED 1 NameError" "scheduled-workflow stage"
expect_out "NameError: name 'datetime' is not defined" "scheduled-workflow"

# --- fan-out-fan-in ---------------------------------------------------------------------------------------------
# split_data() does not exist: split fails, so the dynamic matrix is never expanded; both
# downstream jobs are skipped (merge because its only need was skipped).
wf run "$SEED/fan-out-fan-in.yml"
expect_rc 1 "fan-out-fan-in"
expect_eq "$(run_status)" "FAILED 1 NameError" "fan-out-fan-in run"
expect_eq "$(stage_attempts split 'Split data')" "1 FAILED 1 NameError" "fan-out-fan-in split"
expect_out "NameError: name 'split_data' is not defined" "fan-out-fan-in"
expect_eq "$(job_status process-partitions)" "SKIP (trigger-rule)" "fan-out-fan-in process-partitions"
expect_eq "$(job_status merge)" "SKIP (trigger-rule)" "fan-out-fan-in merge"

# --- circuit-breaker ---------------------------------------------------------------------------------------------
# check-health raises (NameError here): main-process (all_success) is skipped, fallback runs
# because its `if` reads needs.check-health.result (and fails: fallback_processing is missing).
wf run "$SEED/circuit-breaker.yml"
expect_rc 1 "circuit-breaker"
expect_eq "$(run_status)" "FAILED 1 NameError" "circuit-breaker run"
expect_eq "$(stage_attempts check-health 'Check system health')" "1 FAILED 1 NameError" "circuit-breaker check-health"
expect_eq "$(job_status main-process)" "SKIP (trigger-rule)" "circuit-breaker main-process"
expect_eq "$(stage_attempts fallback 'Fallback mode')" "1 FAILED 1 NameError" "circuit-breaker fallback ran"
expect_out "NameError: name 'fallback_processing' is not defined" "circuit-breaker"

# --- retry-pattern -------------------------------------------------------------------------------------------------
# retry: 5 with 1.2^n s between attempts, and each attempt sleeps 2**(attempt-1) s before
# risky_operation() fails: all 6 attempts would take ~40 s. We run it with --timeout 8, which
# lands in the middle of attempt 3 (attempt 1 ≈ 0-1.1 s, wait 1.2 s, attempt 2 ≈ 2.3-4.4 s, wait
# 1.44 s, attempt 3 from ≈ 5.9 s sleeping 4 s), so the margins are ~2 s on each side. The run
# ends at its workflow timeout: CANCEL, exit 3 (CLI.md), attempts 1-2 recorded as NameError and
# attempt 3 killed with TimeoutError. The attempt durations (≈1 s, ≈2 s) show that
# context['attempt'] counts up (FORMAT §5.5).
wf run "$SEED/retry-pattern.yml" --timeout 8
expect_rc 3 "retry-pattern --timeout 8"
expect_eq "$(run_status)" "CANCEL 3 TimeoutError" "retry-pattern run"
expect_eq "$(stage_attempts retry-job 'Retry with backoff')" \
  "$(printf '1 FAILED 1 NameError\n2 FAILED 1 NameError\n3 CANCEL -1 TimeoutError')" "retry-pattern attempts"
expect_eq "$(job_status retry-job)" "CANCEL" "retry-pattern job"
in_range "$(stage_ms retry-job 'Retry with backoff' 1)" 1000 1900 "retry-pattern attempt 1 sleeps 1 s"
in_range "$(stage_ms retry-job 'Retry with backoff' 2)" 2000 2900 "retry-pattern attempt 2 sleeps 2 s"
in_range "$(gap_ms retry-job 'Retry with backoff' 2)" 1150 2200 "retry-pattern delay before attempt 2"
in_range "$(gap_ms retry-job 'Retry with backoff' 3)" 1390 2440 "retry-pattern delay before attempt 3"
expect_out "NameError: name 'risky_operation' is not defined" "retry-pattern"
expect_out "workflow timeout of 8s reached" "retry-pattern"
d=$(sql "SELECT finished_at - started_at FROM runs WHERE id = '$(last_run_id)'")
in_range "$d" 7900 9500 "retry-pattern ends at the 8 s timeout"

########################################################################################################
# Part 2: the same files with stubs for what they call.
########################################################################################################
STUBS="$TEST_TMP/stubs"
mkdir -p "$STUBS/bin" "$STUBS/py"
cat >"$STUBS/py/sitecustomize.py" <<'EOF'
# Test stubs for the seed examples: names they call, put into builtins. SEED_FAIL lists stubs
# that raise; SEED_HEALTHY=0 makes check_system_health() unhealthy; risky_operation() raises
# until the stage's own `attempt` variable reaches SEED_RISKY_OK_AT.
import builtins, datetime as _dt, os, sys, types

def _stub(name, value=None):
    def f(*args, **kwargs):
        if name in os.environ.get("SEED_FAIL", "").split(","):
            raise RuntimeError(name + " failed")
        shown = ", ".join([repr(a) for a in args] + ["%s=%r" % kv for kv in kwargs.items()])
        print("stub %s(%s)" % (name, shown))
        return value() if callable(value) else value
    setattr(builtins, name, f)

for n in ["process_data", "fallback_process", "cleanup_resources", "aggregate_results",
          "perform_scheduled_task", "process_partition", "merge_results", "fallback_processing"]:
    _stub(n)
_stub("split_data", lambda: [1, 2, 3])
_stub("check_system_health",
      lambda: types.SimpleNamespace(is_healthy=os.environ.get("SEED_HEALTHY", "1") == "1"))

def risky_operation():
    attempt = sys._getframe(1).f_globals.get("attempt")
    if attempt is None or attempt < int(os.environ.get("SEED_RISKY_OK_AT", "1")):
        raise RuntimeError("risky_operation failed on attempt %s" % attempt)
    print("stub risky_operation() ok on attempt %s" % attempt)
    return "ok"
builtins.risky_operation = risky_operation
builtins.datetime = _dt.datetime   # the scheduled-workflow example forgets `from datetime import datetime`
EOF
cat >"$STUBS/bin/process_region.sh" <<'EOF'
#!/bin/sh
echo "process_region.sh $*"
sleep 0.3
EOF
chmod +x "$STUBS/bin/process_region.sh"
export PYTHONPATH="$STUBS/py${PYTHONPATH:+:$PYTHONPATH}"
PATH="$STUBS/bin:$PATH"

# --- robust-workflow: main-process succeeds -> fallback skipped by its `if`, cleanup still runs ----------
wf run "$SEED/robust-workflow.yml"
expect_rc 0 "robust-workflow (stubs)"
expect_eq "$(run_status)" "SUCCESS 0 " "robust-workflow (stubs) run"
expect_eq "$(stage_attempts main-process 'Attempt processing')" "1 SUCCESS 0 " "robust-workflow (stubs) one attempt"
expect_eq "$(job_status fallback)" "SKIP (if)" "robust-workflow (stubs) fallback"
expect_eq "$(job_status cleanup)" "SUCCESS" "robust-workflow (stubs) cleanup after a skipped need"
expect_out "main-process/Attempt processing | stub process_data()" "robust-workflow (stubs)"
expect_out "cleanup/Cleanup resources | stub cleanup_resources()" "robust-workflow (stubs)"
# ... main-process fails (with -p retry_count=1: two attempts) -> fallback and cleanup run and
# succeed; the run still failed.
SEED_FAIL=process_data wf run "$SEED/robust-workflow.yml" -p retry_count=1
expect_rc 1 "robust-workflow (stubs, main fails)"
expect_eq "$(run_status)" "FAILED 1 RuntimeError" "robust-workflow (stubs, main fails) run"
expect_eq "$(stage_attempts main-process 'Attempt processing')" \
  "$(printf '1 FAILED 1 RuntimeError\n2 FAILED 1 RuntimeError')" "robust-workflow (stubs, main fails) attempts"
expect_eq "$(job_status fallback) $(job_status cleanup)" "SUCCESS SUCCESS" "robust-workflow (stubs, main fails) fallback, cleanup"
expect_out "fallback/Fallback processing | stub fallback_process()" "robust-workflow (stubs, main fails)"

# --- circuit-breaker: healthy -> main-process runs, fallback skipped; unhealthy -> the example's raise ------
wf run "$SEED/circuit-breaker.yml"
expect_rc 0 "circuit-breaker (healthy)"
expect_eq "$(job_status check-health) $(job_status main-process)" "SUCCESS SUCCESS" "circuit-breaker (healthy)"
expect_eq "$(job_status fallback)" "SKIP (if)" "circuit-breaker (healthy) fallback"
SEED_HEALTHY=0 wf run "$SEED/circuit-breaker.yml"
expect_rc 1 "circuit-breaker (unhealthy)"
expect_eq "$(stage_attempts check-health 'Check system health')" "1 FAILED 1 Exception" "circuit-breaker (unhealthy) check-health"
expect_out "Exception: System unhealthy" "circuit-breaker (unhealthy)"
expect_eq "$(job_status main-process)" "SKIP (trigger-rule)" "circuit-breaker (unhealthy) main-process"
expect_eq "$(job_status fallback)" "SUCCESS" "circuit-breaker (unhealthy) fallback"
expect_out "fallback/Fallback mode | stub fallback_processing()" "circuit-breaker (unhealthy)"

# --- fan-out-fan-in: result.outputs of a run: stage feeds the matrix (FORMAT §5.3, §5.4) -----------------------
wf run "$SEED/fan-out-fan-in.yml"
expect_rc 0 "fan-out-fan-in (stubs)"
expect_eq "$(run_status)" "SUCCESS 0 " "fan-out-fan-in (stubs) run"
expect_eq "$(sql "SELECT outputs FROM job_instances WHERE run_id = '$(last_run_id)' AND job = 'split'")" \
  '{"partitions":[1,2,3]}' "fan-out-fan-in (stubs) split outputs"
expect_eq "$(sql "SELECT group_concat(display_name || '=' || matrix || '=' || status, ';') FROM (SELECT * FROM job_instances
                  WHERE run_id = '$(last_run_id)' AND job = 'process-partitions' ORDER BY leg)")" \
  'process-partitions (1)={"partition":1}=SUCCESS;process-partitions (2)={"partition":2}=SUCCESS;process-partitions (3)={"partition":3}=SUCCESS' \
  "fan-out-fan-in (stubs) legs"
expect_out "process-partitions (2)/Process partition 2 | stub process_partition(2)" "fan-out-fan-in (stubs)"
expect_eq "$(job_status merge)" "SUCCESS" "fan-out-fan-in (stubs) merge"

# --- scheduled-workflow ---------------------------------------------------------------------------------------------
wf run "$SEED/scheduled-workflow.yml"
expect_rc 0 "scheduled-workflow (stubs)"
expect_out "scheduled-task/Scheduled execution | Executing at $(date -u +%Y-)" "scheduled-workflow (stubs)"
expect_out "scheduled-task/Scheduled execution | stub perform_scheduled_task()" "scheduled-workflow (stubs)"

# --- complex-workflow: the rendered script, and max-parallel: 4 over 12 legs ----------------------------------------
wf run "$SEED/complex-workflow.yml" -j 8 -p start_date=2024-01-01 -p end_date=2024-01-02T00:00:00+02:00
expect_rc 0 "complex-workflow (stubs)"
expect_eq "$(run_status)" "SUCCESS 0 " "complex-workflow (stubs) run"
expect_out "parallel-processing (eu-central, 3)/Process eu-central-3 | process_region.sh --region=eu-central --shard=3 --start-date=2024-01-01T00:00:00Z --end-date=2024-01-01T22:00:00Z" "complex-workflow (stubs)"
# The most legs running at one time (from the recorded stage times): max-parallel, not -j.
maxpar=$(sql "WITH l AS (SELECT s.started_at st, s.finished_at fi FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                         WHERE j.run_id = '$(last_run_id)' AND j.job = 'parallel-processing')
              SELECT max((SELECT count(*) FROM l b WHERE b.st <= a.st AND b.fi > a.st)) FROM l a")
expect_eq "$maxpar" "4" "complex-workflow (stubs) legs at once"
expect_eq "$(job_status aggregation)" "SUCCESS" "complex-workflow (stubs) aggregation"

# --- retry-pattern: risky_operation() succeeds on attempt 2 (after 1 s + 1.2 s + 2 s) -------------------------------
SEED_RISKY_OK_AT=2 wf run "$SEED/retry-pattern.yml"
expect_rc 0 "retry-pattern (stubs)"
expect_eq "$(run_status)" "SUCCESS 0 " "retry-pattern (stubs) run"
expect_eq "$(stage_attempts retry-job 'Retry with backoff')" \
  "$(printf '1 FAILED 1 RuntimeError\n2 SUCCESS 0 ')" "retry-pattern (stubs) attempts"
expect_out "stub risky_operation() ok on attempt 2" "retry-pattern (stubs)"

finish
