#!/usr/bin/env bash
# Runs every workflow in examples/ with its expected exit code and checks what the state file
# recorded (run, job and stage statuses, outputs, params). An example that this file does not
# know about fails the test, so each new example lands with its checks.
source "$(dirname "$0")/lib.sh"

EX="$WF_SRC/examples"

# Statuses of the last run, read from the state file.
run_status() { sql "SELECT status || ' ' || exit_code FROM runs WHERE id = '$(last_run_id)'"; }
job_status() { sql "SELECT status FROM job_instances WHERE run_id = '$(last_run_id)' AND job = '$1'"; }
job_skip_reason() { sql "SELECT skip_reason FROM job_instances WHERE run_id = '$(last_run_id)' AND job = '$1'"; }
job_outputs() { sql "SELECT outputs FROM job_instances WHERE run_id = '$(last_run_id)' AND job = '$1'"; }
stage_field() { # JOB STAGE_KEY FIELD
  sql "SELECT s.$3 FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' AND s.stage_key = '$2'
       ORDER BY s.attempt DESC LIMIT 1"
}
# jv JSON PATH: the value at PATH (sqlite JSON path, e.g. $.a[0]) as compact JSON, or <missing>.
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }
jv() {
  sqlite3 :memory: "SELECT CASE WHEN json_type(v, p) IS NULL THEN '<missing>'
    WHEN json_type(v, p) = 'text' THEN json_quote(json_extract(v, p))
    WHEN json_type(v, p) IN ('true', 'false', 'null') THEN json_type(v, p)
    ELSE json_extract(v, p) END FROM (SELECT $(sqlq "$1") AS v, $(sqlq "$2") AS p)"
}

known="call case cleanup diamond foreach hello matrix outputs parallel params python raise secret shell slurm trigger trigger-rules until"

# --- every example is known to this test -----------------------------------------------------
for f in "$EX"/*.yml "$EX"/*.yaml; do
  [ -e "$f" ] || continue
  name=$(basename "$f"); name=${name%.*}
  if [[ " $known " == *" $name "* ]]; then pass_test; else
    out="" err="" rc=0; fail_test "examples/$(basename "$f") is not covered by test_examples.sh"
  fi
done
for name in $known; do
  if [ -f "$EX/$name.yml" ]; then pass_test; else out="" err="" rc=0; fail_test "examples/$name.yml is missing"; fi
done
# README has one line per example.
for name in $known; do
  if grep -q "^- \`$name.yml\` — " "$EX/README.md"; then pass_test; else
    out="" err="" rc=0; fail_test "examples/README.md has no line for $name.yml"
  fi
done

# --- all of them validate together --------------------------------------------------------------
wf validate "$EX"
expect_rc 0 "validate examples/"
expect_out "ok: 19 workflows in 18 files" "validate examples/"

# --- matrix -----------------------------------------------------------------------------------
wf run "$EX/matrix.yml"
expect_rc 0 "matrix"
expect_out "process (eu, 1, true)/Process eu-1 | leg eu/1 big=true" "matrix include"
expect_out "process (us, 1)/Process us-1 | leg us/1 big=false" "matrix"
expect_no_out "process (us, 2)" "matrix exclude"
expect_out "report/Report | legs=3 eu1=yes" "matrix legs downstream"
expect_eq "$(sql "SELECT count(*) FROM job_instances WHERE run_id = '$(last_run_id)' AND job = 'process' AND status = 'SUCCESS'")" "3" "matrix legs recorded"

# --- python -----------------------------------------------------------------------------------
wf run "$EX/python.yml"
expect_rc 0 "python"
expect_out "compute/Squares | attempt 1 squares [0, 1, 4]" "python print"
expect_out "compute/Show | total=15 squares=[0,1,4]" "python outputs"
expect_eq "$(sql "SELECT error_name || ': ' || error_message FROM stages WHERE name = 'Guard' ORDER BY id DESC LIMIT 1")" "ValueError: total too large" "python exception"
expect_eq "$(run_status)" "SUCCESS 0" "python run"

# --- call -------------------------------------------------------------------------------------
wf run "$EX/call.yml"
expect_rc 0 "call"
expect_out "add/Print | sum=42" "call outputs"
expect_out "add/Add | adding 2 and 40 (tag v1)" "call stderr"
wf run "$EX/call.yml" -p a=-2
expect_out "add/Print | sum=38" "call with a param"

# --- hello ------------------------------------------------------------------------------------
wf run "$EX/hello.yml"
expect_rc 0 "hello"
expect_out "greet/Greet | hello, world" "hello"
expect_out "greet/Done | said: hello, world" "hello"
expect_eq "$(run_status)" "SUCCESS 0" "hello run"
expect_eq "$(stage_field greet greet status)" "SUCCESS" "hello greet stage"
expect_eq "$(jv "$(job_outputs greet)" '$.greeting')" '"hello, world"' "hello output"
wf run "$EX/hello.yml" -p name=you
expect_rc 0 "hello -p name=you"
expect_out "greet/Greet | hello, you" "hello -p name=you"

# --- params -----------------------------------------------------------------------------------
wf run "$EX/params.yml"
expect_rc 2 "params without the required source"
expect_err "wf: error: param 'source' (str) is required but was not given" "params"

wf run "$EX/params.yml" -p source=s3://bucket/in
expect_rc 0 "params"
expect_out "show/Print params | source=s3://bucket/in label=nightly batch=1000 ratio=0.5 amount=12.5 dry=false" "params"
expect_out "date=2024-01-31 started=2024-01-31T08:00:00Z mode=full regions=eu,us retries=3" "params"
expect_out "show/Big batch only | big batch of 1000 rows" "params"
expect_eq "$(run_status)" "SUCCESS 0" "params run"
p=$(sql "SELECT params FROM runs WHERE id = '$(last_run_id)'")
for kv in 'source="s3://bucket/in"' 'label="nightly"' 'batch-size=1000' 'ratio=0.5' 'dry=false' 'mode="full"' \
          'run-date="2024-01-31"' 'started="2024-01-31T08:00:00Z"' 'regions=["eu","us"]' 'settings={"retries":3}' \
          'amount=12.5' "today=\"$(sql "SELECT date(created_at / 1000, 'unixepoch') FROM runs WHERE id = '$(last_run_id)'")\""; do
  expect_eq "$(jv "$p" "\$.\"${kv%%=*}\"")" "${kv#*=}" "recorded param ${kv%%=*}"
done

wf run "$EX/params.yml" -p source=x -p batch-size=10 -p dry=true -p mode=incremental \
  -p 'regions=["ap"]' -p 'settings={"retries": 9}' -p started=2024-06-01T12:30:00-02:00
expect_rc 0 "params with values"
expect_out "batch=10 ratio=0.5 amount=12.5 dry=true" "params with values"
expect_out "started=2024-06-01T14:30:00Z mode=incremental regions=ap retries=9" "params with values"
expect_eq "$(stage_field show 'Big batch only' status)" "SKIP" "if: false skips the stage"

# --- diamond ----------------------------------------------------------------------------------
wf run "$EX/diamond.yml"
expect_rc 0 "diamond"
expect_out "d/Sum | b=20 c=100 total=120" "diamond"
expect_eq "$(run_status)" "SUCCESS 0" "diamond run"
for j in a b c d; do expect_eq "$(job_status $j)" "SUCCESS" "diamond job $j"; done
expect_eq "$(jv "$(job_outputs a)" '$')" '{"base":"10"}' "diamond a outputs (outputs: map only)"
expect_eq "$(jv "$(job_outputs d)" '$')" '{"total":"120"}' "diamond d outputs"
# d started only after both b and c finished; b and c after a.
order=$(sql "SELECT
  (SELECT started_at FROM job_instances WHERE run_id = r.id AND job = 'd') >=
    MAX((SELECT finished_at FROM job_instances WHERE run_id = r.id AND job = 'b'),
        (SELECT finished_at FROM job_instances WHERE run_id = r.id AND job = 'c'))
  AND (SELECT started_at FROM job_instances WHERE run_id = r.id AND job = 'b') >=
    (SELECT finished_at FROM job_instances WHERE run_id = r.id AND job = 'a')
  FROM runs r WHERE r.id = '$(last_run_id)'")
expect_eq "$order" "1" "diamond order"

# --- cleanup ----------------------------------------------------------------------------------
wf run "$EX/cleanup.yml"
expect_rc 1 "cleanup"
expect_out "cleanup/Remove workspace | cleaned" "cleanup"
expect_out "fallback/Notify | main failed, falling back" "cleanup"
expect_no_out "main succeeded" "cleanup"
expect_eq "$(run_status)" "FAILED 1" "cleanup run"
expect_eq "$(job_status prepare)" "SUCCESS" "cleanup prepare"
expect_eq "$(job_status main)" "FAILED" "cleanup main"
expect_eq "$(job_status report) $(job_skip_reason report)" "SKIP trigger-rule" "cleanup report"
expect_eq "$(job_status cleanup)" "SUCCESS" "cleanup cleanup"
expect_eq "$(job_status fallback)" "SUCCESS" "cleanup fallback"
expect_eq "$(stage_field main Process error_name)" "ShellError" "cleanup main error"
expect_eq "$(stage_field main Process exit_code)" "1" "cleanup main exit code"
if [ -e cleanup-work ]; then fail_test "cleanup left cleanup-work behind"; else pass_test; fi

# --- outputs ----------------------------------------------------------------------------------
wf run "$EX/outputs.yml"
expect_rc 0 "outputs"
expect_out "consume/Check types | first line" "outputs"
expect_out "consume/Check types | second line = with equals" "outputs"
expect_out "consume/Typed condition | count is the number 3" "outputs"
expect_eq "$(run_status)" "SUCCESS 0" "outputs run"
o=$(job_outputs produce)
expect_eq "$(jv "$o" '$')" \
  '{"count":3,"enabled":true,"files":["a.csv","b.csv","c.csv"],"meta":{"owner":"etl","retries":2},"name":"report","notes":"first line\nsecond line = with equals","nothing":null,"summary":"report has 3 files"}' \
  "outputs keep their JSON types"
expect_eq "$(jv "$(stage_field produce write outputs)" '$.count')" '"3"' "\$WF_OUTPUT values are strings"
wf run "$EX/outputs.yml" --json
expect_rc 0 "outputs --json"
expect_eq "$(jv "$out" '$.jobs.produce.outputs.files')" '["a.csv","b.csv","c.csv"]' "outputs --json"

# --- secret -----------------------------------------------------------------------------------
TOKEN="tok-Xq93zLpW7"
wf run "$EX/secret.yml"
expect_rc 2 "secret without token"
expect_err "param 'token' (str) is required but was not given" "secret without token"

wf run "$EX/secret.yml" -p "token=$TOKEN"
expect_rc 0 "secret"
expect_out "login/Log in | logging in as alice with token ***" "secret live output"
expect_out "login/Log in | token on stderr: ***" "secret live output (stderr)"
expect_out "login/Echo the token | the token is ***" "secret echo stage"
expect_out "use/Use the header | sending Bearer ***" "secret through outputs"
expect_no_out "$TOKEN" "secret live output"
expect_no_err "$TOKEN" "secret live stderr"
rid=$(last_run_id)
expect_eq "$(jv "$(job_outputs login)" '$.auth')" '"Bearer ***"' "secret job output"
expect_eq "$(jv "$(sql "SELECT params FROM runs WHERE id = '$rid'")" '$')" '{"token":"***","user":"alice"}' "secret params"

wf logs "$rid"
expect_rc 0 "secret logs"
expect_out "logging in as alice with token ***" "secret logs"
expect_out "the token is ***" "secret logs"
expect_no_out "$TOKEN" "secret logs"
wf show "$rid" --json
expect_rc 0 "secret show --json"
expect_no_out "$TOKEN" "secret show --json"
expect_eq "$(jv "$out" '$.params.token')" '"***"' "secret show --json params"
wf show "$rid"
expect_no_out "$TOKEN" "secret show"
wf runs --json
expect_no_out "$TOKEN" "secret runs --json"
wf run "$EX/secret.yml" -p "token=$TOKEN" --json
expect_rc 0 "secret --json"
expect_no_out "$TOKEN" "secret --json"
expect_eq "$(jv "$out" '$.params.token')" '"***"' "secret --json params"
wf run "$EX/secret.yml" -p "token=$TOKEN" -q
expect_rc 0 "secret -q"
expect_eq "$out" "" "secret -q prints nothing"
echo "{\"token\": \"$TOKEN\"}" > secret-params.json
wf run "$EX/secret.yml" --params-file secret-params.json
expect_rc 0 "secret --params-file"
expect_no_out "$TOKEN" "secret --params-file"

# Nothing in the state file holds the token: not logs, outputs, params, command lines.
for q in "SELECT count(*) FROM logs WHERE text LIKE '%$TOKEN%'" \
         "SELECT count(*) FROM stages WHERE outputs LIKE '%$TOKEN%' OR error_message LIKE '%$TOKEN%'" \
         "SELECT count(*) FROM job_instances WHERE outputs LIKE '%$TOKEN%'" \
         "SELECT count(*) FROM runs WHERE params LIKE '%$TOKEN%'" \
         "SELECT count(*) FROM runs WHERE command_line LIKE '%$TOKEN%'"; do
  expect_eq "$(sql "$q")" "0" "$q"
done
expect_eq "$(sqlite3 "$WF_STATE_DIR/wf.db" .dump | grep -c -- "$TOKEN")" "0" "secret in the SQL dump of the state file"
expect_eq "$(cat "$WF_STATE_DIR"/* 2>/dev/null | grep -a -c -- "$TOKEN")" "0" "secret in the raw state files"

# --- trigger-rules ----------------------------------------------------------------------------
wf run "$EX/trigger-rules.yml"
expect_rc 0 "trigger-rules (job continue-on-error keeps the run green)"
expect_eq "$(run_status)" "SUCCESS 0" "trigger-rules run"
expect_eq "$(job_status ok) $(job_status ok2)" "SUCCESS SUCCESS" "trigger-rules ok"
expect_eq "$(job_status bad) $(job_status bad2)" "FAILED FAILED" "trigger-rules bad"
expect_eq "$(job_status skipped) $(job_skip_reason skipped)" "SKIP if" "trigger-rules skipped"
for j in all-success all-failed all-done one-success one-failed none-failed none-skipped; do
  expect_eq "$(job_status $j-runs)" "SUCCESS" "trigger-rule $j-runs"
done
for j in all-success all-failed one-success one-failed none-failed none-skipped all-needs-skipped; do
  expect_eq "$(job_status $j-skips) $(job_skip_reason $j-skips)" "SKIP trigger-rule" "trigger-rule $j-skips"
done
expect_eq "$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                  WHERE j.run_id = '$(last_run_id)' AND j.job LIKE '%-skips'")" "0" "skipped jobs ran no stage"

# --- shell ------------------------------------------------------------------------------------
wf run "$EX/shell.yml"
expect_rc 0 "shell"
expect_eq "$(run_status)" "SUCCESS 0" "shell run"
expect_out "defaults-shell/Workflow default is sh | sh -e, flags e" "shell"
expect_out "defaults-shell/Command template | ran as sh -eu <file>" "shell"
expect_out "job-defaults/Job default is bash | bash from the job defaults" "shell"
expect_out "env-precedence/Stage env wins | LEVEL=stage FROM_WORKFLOW=w FROM_JOB=j OVERRIDE_ME=job" "shell"
expect_out "working-directory/Run inside it | in shell-example-wd" "shell"
expect_out "wf-vars/Variables | workflow=shell job=wf-vars stage=vars attempt=1" "shell"
expect_eq "$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                  WHERE j.run_id = '$(last_run_id)' AND s.status = 'SUCCESS'")" "11" "shell: every stage succeeded"
expect_eq "$(jv "$(stage_field wf-vars vars outputs)" '$.run_id')" "\"$(last_run_id)\"" "WF_RUN_ID is the run id"
if [ -e shell-example-wd ]; then fail_test "shell left its directory behind"; else pass_test; fi

# --- raise ------------------------------------------------------------------------------------
wf run "$EX/raise.yml"
expect_rc 1 "raise"
expect_eq "$(run_status)" "FAILED 1" "raise run"
expect_eq "$(job_status check)" "FAILED" "raise check"
expect_eq "$(stage_field check 'Soft check' status) $(stage_field check 'Soft check' error_name)" "FAILED StageError" "raise soft"
expect_eq "$(stage_field check 'Soft check' error_message)" "warning only: 7 rows" "raise soft message"
expect_eq "$(stage_field check 'Too many rows' error_name)" "StageError" "raise error name"
expect_eq "$(stage_field check 'Too many rows' error_message)" "too many rows: 7 > 5" "raise message"
expect_eq "$(sql "SELECT error_name || ': ' || error_message FROM job_instances WHERE run_id = '$(last_run_id)' AND job = 'check'")" \
  "StageError: too many rows: 7 > 5" "raise job error"
expect_no_out "unreachable" "raise stops the job"
expect_eq "$(stage_field check 'Never reached' status)" "SKIP" "raise: later stage not run"
expect_eq "$(job_status notify)" "SUCCESS" "raise notify"
expect_out "StageError: too many rows: 7 > 5" "raise"
wf run "$EX/raise.yml" -p limit=10
expect_rc 0 "raise with a higher limit"
expect_eq "$(job_status check) $(job_status notify)" "SUCCESS SKIP" "raise with a higher limit"

# --- nested stages: foreach, parallel, until, case ------------------------------------------------
nested_count() { # STAGE_NAME: nested rows under that stage in the last run
  sql "SELECT count(*) FROM stages s JOIN stages p ON p.id = s.parent_id JOIN job_instances j ON j.id = p.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND p.name = '$1' AND s.status = 'SUCCESS'"
}
wf run "$EX/foreach.yml"
expect_rc 0 "foreach"
expect_out "pipeline/Process partitions [item west] / Count rows | partition west: 400 rows" "foreach"
expect_out "pipeline/Merge results | total: 1000 rows in 4 partitions" "foreach merge"
expect_eq "$(nested_count 'Process partitions')" "4" "foreach: one recorded stage per item"
expect_eq "$(jv "$(job_outputs pipeline)" '$.total')" '"1000"' "foreach total output"
wf run "$EX/parallel.yml"
expect_rc 0 "parallel"
expect_out "extract/Extract sources [branch orders] / Check orders | orders: 42 rows" "parallel branch scope"
expect_out "extract/Join | orders=42 customers=7" "parallel join"
expect_eq "$(nested_count 'Extract sources')" "3" "parallel: branch stages recorded"
wf run "$EX/until.yml"
expect_rc 0 "until"
expect_out "wait-for-service/Ready | healthy after 3 checks" "until"
expect_eq "$(nested_count 'Poll health')" "3" "until: three loops"
wf run "$EX/until.yml" -p healthy-after=9
expect_rc 1 "until past max-loop"
expect_out "StageError: until: max-loop 5 reached" "until past max-loop"
wf run "$EX/case.yml"
expect_rc 0 "case healthy"
expect_out "processing normally" "case healthy"
wf run "$EX/case.yml" -p health=degraded
expect_rc 0 "case degraded"
expect_out "fallback processing (degraded)" "case degraded"
expect_no_out "processing normally" "case degraded"
wf run "$EX/case.yml" -p health=down
expect_rc 1 "case else"
expect_eq "$(stage_field process route status)" "FAILED" "case else fails the route stage"
expect_out "StageError: system is down; not processing" "case else"

# --- trigger ----------------------------------------------------------------------------------
wf run "$EX/trigger.yml" release -p version=2.1
expect_rc 0 "trigger"
parent=$(sql "SELECT id FROM runs WHERE workflow = 'release' ORDER BY created_at DESC LIMIT 1")
child=$(sql "SELECT id FROM runs WHERE parent_run_id = '$parent'")
expect_out "ship/Publish | publishing app-2.1.tar.gz (child run $child)" "trigger outputs"
expect_eq "$(sql "SELECT workflow || ' ' || status || ' ' || json_extract(params, '$.version') FROM runs WHERE id = '$child'")" \
  "build-and-test SUCCESS 2.1" "trigger child run"

# --- slurm ------------------------------------------------------------------------------------
# Needs a Slurm cluster: run only when one answers (test_slurm.sh starts one and runs this
# example for real); it was validated with the others above.
exec 8>"${TMPDIR:-/tmp}/wf-test-slurm.lock"
flock -w 600 8
if command -v sbatch >/dev/null && scontrol ping 2>/dev/null | grep -q "is UP"; then
  wf run "$EX/slurm.yml"
  expect_rc 0 "slurm"
  expect_out "summarize/Sum | legs=4 seed4=16" "slurm legs"
  expect_eq "$(sql "SELECT count(*) FROM stages WHERE external_id LIKE 'slurm:%'")" "4" "slurm job ids recorded"
else
  echo "$(basename "$0"): examples/slurm.yml validated, not run (no Slurm cluster here; test_slurm.sh runs it)"
fi
exec 8>&-

finish
