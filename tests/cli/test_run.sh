#!/usr/bin/env bash
# `wf run` and the commands that read what it recorded: exit codes, config path lookup, job
# selection, --dry-run, --json, -q, plain output, stage if/continue-on-error/retry/timeout,
# --fail-fast, workflow timeout, background children, SIGINT/SIGTERM, `wf show`, `wf logs`,
# `wf runs`, unknown run ids and unusable state files (CLI.md, FORMAT §5, §6, §8, §9).
source "$(dirname "$0")/lib.sh"

# flow NAME [STAGE-SCRIPT]: a one-job workflow body (stdout)
flow() {
  printf '%s:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - name: s\n          bash: %s\n' \
    "$1" "${2:-echo $1}"
}
run_field() { sql "SELECT $1 FROM runs WHERE id = '$(last_run_id)'"; }
job_field() { sql "SELECT $2 FROM job_instances WHERE run_id = '$(last_run_id)' AND job = '$1'"; }
stage_rows() { # JOB: "name|attempt|status|exit_code|error_name" per stage attempt
  sql "SELECT s.name, s.attempt, s.status, s.exit_code, s.error_name FROM stages s
       JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$(last_run_id)' AND j.job = '$1' ORDER BY s.stage_index, s.attempt"
}
is_json() { printf '%s' "$1" | python3 -m json.tool >/dev/null 2>&1; }
expect_json() { if is_json "$out"; then pass_test; else fail_test "$1: stdout is not JSON only"; fi; }
expect_no_ansi() { if [[ "$out$err" == *$'\e'* ]]; then fail_test "$1: ANSI escape codes without a terminal"; else pass_test; fi; }
elapsed_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# --- exit codes 0, 1, 2 ------------------------------------------------------------------------------
flow ok > ok.yml
flow bad 'echo failing; exit 3' > bad.yml
printf 'broken:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - name: s\n          bsh: echo\n' > invalid.yml
wf run ok.yml
expect_rc 0 "success"
expect_out "j/s | ok" "success"
expect_no_ansi "success"
expect_eq "$(run_field status) $(run_field exit_code)" "SUCCESS 0" "success recorded"
wf run bad.yml
expect_rc 1 "failure"
expect_no_ansi "failure"
expect_eq "$(run_field status) $(run_field exit_code)" "FAILED 1" "failure recorded"
expect_eq "$(stage_rows j)" "s|1|FAILED|3|ShellError" "failure stage recorded"
runs_before=$(sql "SELECT count(*) FROM runs")
wf run invalid.yml
expect_rc 2 "invalid workflow"
expect_err "invalid.yml:7:11: error: unknown key 'bsh' in stage 's'; did you mean 'bash'?" "invalid workflow"
expect_err "wf: error: workflow 'broken' is not valid (1 error); nothing was run" "invalid workflow"
wf run missing.yml
expect_rc 2 "missing file"
expect_err "wf: error: no such workflow file: missing.yml" "missing file"
wf run
expect_rc 2 "no target"
wf run ok.yml --bogus-flag
expect_rc 2 "unknown flag"
expect_eq "$(sql "SELECT count(*) FROM runs")" "$runs_before" "invalid runs record nothing"

# --- config path lookup by name -----------------------------------------------------------------------
mkdir -p c1 c2 conf/deep
flow alpha > c1/alpha.yml
flow beta > c2/beta.yml
flow gamma > conf/deep/gamma.yaml
flow alpha 'echo alpha-from-c2' > c2/alpha2.yml.off
wf --conf c1 run alpha
expect_rc 0 "--conf"
expect_out "j/s | alpha" "--conf"
wf --conf c1 --conf c2 run beta
expect_rc 0 "--conf repeated"
wf run beta --conf c2
expect_rc 0 "--conf after the command"
WF_CONF_PATH="/nonexistent:c1:c2" wf run beta
expect_rc 0 "WF_CONF_PATH"
WORKFLOW_CORE_CONF_PATH=c2 wf run beta
expect_rc 0 "WORKFLOW_CORE_CONF_PATH"
wf run gamma
expect_rc 0 "./conf, walked recursively, .yaml"
expect_out "j/s | gamma" "./conf"
WF_CONF_PATH=c1 WORKFLOW_CORE_CONF_PATH=c2 wf run beta
expect_rc 2 "WF_CONF_PATH wins over WORKFLOW_CORE_CONF_PATH"
WF_CONF_PATH=c2 wf --conf c1 run beta
expect_rc 2 "--conf wins over WF_CONF_PATH"
WORKFLOW_CORE_CONF_PATH=c1 wf run gamma
expect_rc 2 "WORKFLOW_CORE_CONF_PATH wins over ./conf"
wf --conf c1 --conf c2 run alpah
expect_rc 2 "name not found"
expect_err "wf: error: no workflow named 'alpah' in the config path (c1:c2)" "name not found"
expect_err "did you mean 'alpha'?" "name not found: did-you-mean"
expect_err "alpha" "name not found lists the workflows"
expect_err "beta" "name not found lists the workflows"
wf --conf c1 run zzzzzz
expect_rc 2 "name not found, nothing close"
expect_no_err "did you mean" "name not found, nothing close"
expect_err "available workflows: alpha" "name not found, nothing close"

# --- several workflows in one file --------------------------------------------------------------------
cat > multi.yml <<'EOF'
first:
  type: Workflow
  jobs:
    a:
      stages: [{name: s, bash: touch a.marker}]
    b:
      needs: a
      stages: [{name: s, bash: touch b.marker}]
    c:
      stages: [{name: s, bash: touch c.marker}]
    d:
      needs: [b, c]
      stages: [{name: s, bash: touch d.marker}]
second:
  type: Workflow
  jobs:
    x:
      stages: [{name: s, echo: second}]
EOF
wf run multi.yml
expect_rc 2 "multi-workflow file without a name"
expect_err "wf: error: multi.yml holds several workflows; name one: first, second" "multi-workflow file"
wf run multi.yml second
expect_rc 0 "wf run FILE WORKFLOW"
expect_out "x/s | second" "wf run FILE WORKFLOW"
expect_eq "$(run_field workflow)" "second" "wf run FILE WORKFLOW recorded"
wf run multi.yml third
expect_rc 2 "unknown workflow in file"
expect_err "wf: error: no workflow 'third' in multi.yml (it has: first, second)" "unknown workflow in file"

# --- --job and --exclude ------------------------------------------------------------------------------
rm -f ./*.marker
wf run multi.yml first --job b
expect_rc 0 "--job"
expect_eq "$(ls ./*.marker | tr '\n' ' ')" "./a.marker ./b.marker " "--job runs the job and what it needs"
expect_eq "$(job_field c status) $(job_field d status)" "SKIP SKIP" "--job: others not run"
rm -f ./*.marker
wf run multi.yml first --job c --job a
expect_rc 0 "--job repeated"
expect_eq "$(ls ./*.marker | tr '\n' ' ')" "./a.marker ./c.marker " "--job repeated"
rm -f ./*.marker
wf run multi.yml first --exclude b
expect_rc 0 "--exclude"
expect_eq "$(ls ./*.marker | tr '\n' ' ')" "./a.marker ./c.marker " "--exclude leaves out the job and what needs it"
expect_eq "$(job_field b status) $(job_field d status)" "SKIP SKIP" "--exclude statuses"
expect_eq "$(job_field b skip_reason)" "excluded" "--exclude reason"
rm -f ./*.marker
wf run multi.yml first --job zz
expect_rc 2 "--job unknown"
expect_err "wf: error: no job 'zz' in workflow 'first'" "--job unknown"
wf run multi.yml first --exclude zz
expect_rc 2 "--exclude unknown"
expect_err "wf: error: no job 'zz' in workflow 'first'" "--exclude unknown"
if ls ./*.marker >/dev/null 2>&1; then fail_test "unknown --job ran something"; else pass_test; fi

# --- --dry-run records nothing --------------------------------------------------------------------------
runs_before=$(sql "SELECT count(*) FROM runs")
wf run multi.yml first --dry-run
expect_rc 0 "--dry-run"
expect_out "nothing was run (--dry-run)" "--dry-run"
expect_out "d  (needs b, c)" "--dry-run shows the order"
if ls ./*.marker >/dev/null 2>&1; then fail_test "--dry-run ran a stage"; else pass_test; fi
expect_eq "$(sql "SELECT count(*) FROM runs")" "$runs_before" "--dry-run records no run"
WF_STATE_DIR="$TEST_TMP/dry-state" wf run multi.yml first --dry-run
if [ -e "$TEST_TMP/dry-state/wf.db" ]; then fail_test "--dry-run created a state file"; else pass_test; fi
wf run multi.yml first --dry-run --json
expect_rc 0 "--dry-run --json"
expect_json "--dry-run --json"

# --- --json: JSON only, on success and on failure ------------------------------------------------------
wf run ok.yml --json
expect_rc 0 "--json success"
expect_json "--json success"
expect_out '"status":"SUCCESS"' "--json success"
wf run bad.yml --json
expect_rc 1 "--json failure"
expect_json "--json failure"
expect_out '"status":"FAILED"' "--json failure"
wf --json run ok.yml
expect_rc 0 "--json before the command name (CLI.md: global options, --json where listed)"
expect_json "--json before the command name"
wf show "$(last_run_id)" --json
expect_rc 0 "show --json"
expect_json "show --json"
wf runs --json
expect_rc 0 "runs --json"
expect_json "runs --json"

# --- -q: nothing on success, a summary of the failed stages on failure ---------------------------------
wf run ok.yml -q
expect_rc 0 "-q success"
expect_eq "$out" "" "-q success prints nothing"
expect_eq "$err" "" "-q success prints nothing on stderr"
wf -q run ok.yml
expect_eq "$out$err" "" "-q before the command"
cat > qfail.yml <<'EOF'
qfail:
  type: Workflow
  jobs:
    a:
      stages:
        - name: noisy
          bash: |
            for i in $(seq 1 30); do echo "line $i"; done
            exit 1
    b:
      stages:
        - name: boom
          raise: "it broke"
EOF
wf run qfail.yml -q
expect_rc 1 "-q failure"
rid=$(last_run_id)
all="$out$err"
if [[ "$all" == *"a/noisy"* && "$all" == *"b/boom"* ]]; then pass_test; else fail_test "-q names every failed stage"; fi
if [[ "$all" == *"line 30"* && "$all" == *"line 11"* && "$all" != *"line 10"$'\n'* ]]; then pass_test; else
  fail_test "-q shows the last 20 lines of the failed stage"; fi
if [[ "$all" == *"StageError: it broke"* && "$all" == *"ShellError"* ]]; then pass_test; else fail_test "-q shows the errors"; fi
if [[ "$all" == *"wf logs $rid"* ]]; then pass_test; else fail_test "-q shows the wf logs command"; fi
expect_no_ansi "-q failure"

# --- stage if, continue-on-error (stage and job) -------------------------------------------------------
cat > coe.yml <<'EOF'
coe:
  type: Workflow
  jobs:
    a:
      stages:
        - name: skipped
          if: false
          bash: touch skipped.marker
        - name: skipped-expr
          if: ${{ 1 > 2 }}
          bash: touch skipped.marker
        - name: runs
          if: true
          bash: touch runs.marker
        - name: soft
          continue-on-error: true
          bash: exit 4
        - name: after
          bash: touch after.marker
    b:
      continue-on-error: true
      stages:
        - name: hard
          bash: exit 5
        - name: not reached
          bash: touch not-reached.marker
    c:
      needs: b
      if: ${{ needs.b.result == 'failure' }}
      stages: [{name: s, bash: touch c.marker}]
    d:
      needs: [b]
      stages: [{name: s, bash: touch d.marker}]
EOF
rm -f ./*.marker
wf run coe.yml
expect_rc 0 "continue-on-error keeps the run green"
expect_eq "$(ls ./*.marker | tr '\n' ' ')" "./after.marker ./c.marker ./runs.marker " "continue-on-error markers"
expect_eq "$(run_field status)" "SUCCESS" "continue-on-error run status"
expect_eq "$(stage_rows a | tr '\n' ' ')" \
  "skipped|1|SKIP|-1| skipped-expr|1|SKIP|-1| runs|1|SUCCESS|0| soft|1|FAILED|4|ShellError after|1|SUCCESS|0| " \
  "stage if / continue-on-error statuses"
expect_eq "$(job_field a status)" "SUCCESS" "stage continue-on-error: job succeeds"
expect_eq "$(job_field b status) $(job_field c status) $(job_field d status)" "FAILED SUCCESS SKIP" \
  "job continue-on-error: FAILED, seen as failure downstream"
rm -f ./*.marker

# --- stage retry records every attempt -------------------------------------------------------------------
cat > retry.yml <<'EOF'
retry:
  type: Workflow
  jobs:
    a:
      stages:
        - name: flaky
          retry: {count: 3, delay: 0}
          bash: |
            echo "try $WF_ATTEMPT"
            n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count
            [ "$n" -ge 3 ]
    b:
      stages:
        - name: short form
          retry: 1
          bash: echo "attempt $WF_ATTEMPT"; exit 7
EOF
rm -f count
start=$(date +%s%N)
wf run retry.yml
expect_rc 1 "retry"
expect_eq "$(stage_rows a | tr '\n' ' ')" "flaky|1|FAILED|1|ShellError flaky|2|FAILED|1|ShellError flaky|3|SUCCESS|0| " \
  "long-form retry records every attempt"
expect_eq "$(stage_rows b | tr '\n' ' ')" "short form|1|FAILED|7|ShellError short form|2|FAILED|7|ShellError " \
  "retry: 1 makes two attempts"
expect_eq "$(job_field a status) $(job_field b status)" "SUCCESS FAILED" "retry job statuses"
ms=$(elapsed_ms "$start")
if [ "$ms" -ge 1100 ] && [ "$ms" -lt 5000 ]; then pass_test; else fail_test "retry: 1 waits about 1.2 s (took ${ms} ms)"; fi
rid=$(last_run_id)
wf logs "$rid" a/flaky
expect_rc 0 "logs of a retried stage"
expect_out "try 1" "logs of every attempt"
expect_out "try 3" "logs of every attempt"
if [[ "$out$err" == *"failed: a/flaky"* ]]; then fail_test "a stage that succeeded on retry is not a failure"; else pass_test; fi
wf run retry.yml -q
if [[ "$out$err" == *"a/flaky"* ]]; then fail_test "-q: a stage that succeeded on retry is not listed"; else pass_test; fi

# --- stage timeout -------------------------------------------------------------------------------------
cat > stimeout.yml <<'EOF'
stimeout:
  type: Workflow
  jobs:
    a:
      stages:
        - name: slow
          timeout: 0.5
          bash: sleep 30
        - name: never
          bash: touch never.marker
EOF
start=$(date +%s%N)
wf run stimeout.yml --kill-grace 1
ms=$(elapsed_ms "$start")
expect_rc 1 "stage timeout"
if [ "$ms" -lt 3000 ]; then pass_test; else fail_test "stage timeout is hard (took ${ms} ms)"; fi
expect_eq "$(stage_rows a | head -1 | cut -d'|' -f1,3,5)" "slow|FAILED|TimeoutError" "stage timeout recorded"
expect_eq "$(job_field a error_name)" "TimeoutError" "stage timeout fails the job"
if [ -e never.marker ]; then fail_test "the job went on after a stage timeout"; else pass_test; fi

# --- workflow timeout: exit 3 -----------------------------------------------------------------------------
cat > wtimeout.yml <<'EOF'
wtimeout:
  type: Workflow
  timeout: 1
  jobs:
    a:
      stages: [{name: slow, bash: sleep 30}]
    b:
      needs: a
      stages: [{name: s, bash: touch b.marker}]
EOF
start=$(date +%s%N)
wf run wtimeout.yml
ms=$(elapsed_ms "$start")
expect_rc 3 "workflow timeout"
if [ "$ms" -lt 4000 ]; then pass_test; else fail_test "workflow timeout is hard (took ${ms} ms)"; fi
expect_eq "$(run_field status) $(run_field exit_code) $(run_field error_name)" "CANCEL 3 TimeoutError" "workflow timeout recorded"
expect_eq "$(job_field a status) $(job_field b status)" "CANCEL CANCEL" "workflow timeout job statuses"
expect_out "(2 jobs:" "workflow timeout summary counts each job once"
sed 's/timeout: 1/timeout: 3600/' wtimeout.yml > wtimeout2.yml
wf run wtimeout2.yml --timeout 1
expect_rc 3 "--timeout overrides the file"
WF_TIMEOUT=1 wf run stimeout.yml --job a
expect_rc 1 "a stage timeout is not a workflow timeout"

# --- --fail-fast -----------------------------------------------------------------------------------------
cat > ff.yml <<'EOF'
ff:
  type: Workflow
  jobs:
    slow:
      stages: [{name: wait, bash: sleep 10; touch slow.marker}]
    boom:
      stages: [{name: fail, bash: sleep 0.2; exit 1}]
    later:
      needs: boom
      trigger-rule: all_done
      stages: [{name: s, bash: touch later.marker}]
EOF
start=$(date +%s%N)
wf run ff.yml --fail-fast --kill-grace 1
ms=$(elapsed_ms "$start")
expect_rc 1 "--fail-fast"
if [ "$ms" -lt 3000 ]; then pass_test; else fail_test "--fail-fast stops the other jobs (took ${ms} ms)"; fi
expect_eq "$(job_field boom status) $(job_field slow status) $(job_field later status)" "FAILED CANCEL CANCEL" "--fail-fast statuses"
expect_eq "$(run_field status)" "FAILED" "--fail-fast run status"
expect_out "(3 jobs: 1 failed, 2 cancel)" "--fail-fast summary counts each job once"
if ls ./*.marker >/dev/null 2>&1; then fail_test "--fail-fast let a job finish"; else pass_test; fi
# without --fail-fast, independent jobs go on
sed 's/sleep 10/sleep 0.5/' ff.yml > ff2.yml
wf run ff2.yml
expect_rc 1 "no --fail-fast"
expect_eq "$(job_field slow status) $(job_field later status)" "SUCCESS SUCCESS" "a failed job does not stop the others"
rm -f ./*.marker

# --- a script leaving `sleep &` behind does not hang wf; its process group is cleaned up -------------------
cat > bg.yml <<'EOF'
bg:
  type: Workflow
  jobs:
    a:
      stages:
        - name: leave a child
          bash: |
            sleep 100 &
            echo $! > bg.pid
            echo started
EOF
start=$(date +%s%N)
out=$(timeout 20 "$WF_BIN" run bg.yml 2>&1); rc=$?; err=""
ms=$(elapsed_ms "$start")
expect_rc 0 "background child"
if [ "$ms" -lt 5000 ]; then pass_test; else fail_test "a background child hangs wf (took ${ms} ms)"; fi
bgpid=$(cat bg.pid 2>/dev/null)
if [ -n "$bgpid" ] && kill -0 "$bgpid" 2>/dev/null && [[ "$(cat /proc/"$bgpid"/cmdline 2>/dev/null | tr '\0' ' ')" == "sleep 100 "* ]]; then
  fail_test "the background child outlived its stage"
  kill "$bgpid"
else pass_test; fi

# --- the script is a file, stdin is /dev/null -------------------------------------------------------------
cat > script.yml <<'EOF'
script:
  type: Workflow
  jobs:
    j:
      stages:
        - name: stdin
          bash: if read -r x; then echo "stdin is not /dev/null"; exit 1; fi
        - name: file
          bash: '[ -f "$0" ] && grep -q "marker-text-42" "$0"'
EOF
wf run script.yml
expect_eq "$(stage_rows j | cut -d'|' -f1,3 | tr '\n' ' ')" "stdin|SUCCESS file|SUCCESS " \
  "bash stages read /dev/null and run the script from a file (\$0)"
# wf started with stdin closed (as some daemons start it) or with input piped in: the stages
# still read /dev/null, read-only
cat > stdin.yml <<'EOF'
stdin:
  type: Workflow
  jobs:
    j:
      strategy: {matrix: {i: [1, 2, 3]}}
      stages:
        - name: s
          bash: readlink /proc/self/fd/0; if read -r x; then exit 1; fi; (echo x >&0) 2>/dev/null && exit 2; true
EOF
wf run stdin.yml 0<&-
expect_rc 0 "stdin closed: every stage runs"
expect_eq "$(sql "SELECT count(*) FROM logs WHERE rtrim(text, char(10)) = '/dev/null'")" "3" \
  "stdin closed: every leg reads /dev/null"
echo 'input that must not reach a stage' | wf run stdin.yml
expect_rc 0 "stdin piped: no stage sees wf's stdin"

# --- where stage files live; identical scripts share one file -----------------------------------------
cat > files.yml <<'EOF'
files:
  type: Workflow
  jobs:
    legs:
      strategy: {matrix: {i: [1, 2, 3]}}
      stages:
        - name: same
          bash: echo "same $0"
        - name: own
          bash: echo "own-${{ matrix.i }} $0; out $WF_OUTPUT"
EOF
mkdir -p "$TEST_TMP/tmpd"
out=$(TMPDIR="$TEST_TMP/tmpd" "$WF_BIN" run files.yml -j 1 2>&1)
rc=$?
expect_rc 0 "stage files run:"
same=$(printf '%s\n' "$out" | grep -o 'same /[^ ]*' | sort -u)
expect_eq "$(printf '%s\n' "$out" | grep -c 'same /')" "3" "the three legs ran the stage"
expect_eq "$(printf '%s\n' "$same" | wc -l | tr -d ' ')" "1" "three legs with the same script run one file"
[[ "$same" == "same $TEST_TMP/tmpd/wf-run-"* ]] && pass_test || fail_test "stage files go under \$TMPDIR: $same"
expect_eq "$(printf '%s\n' "$out" | grep -o 'own-[0-9] /[^;]*' | awk '{print $2}' | sort -u | wc -l | tr -d ' ')" "3" \
  "scripts that differ get files of their own"
expect_eq "$(printf '%s\n' "$out" | grep -o 'out /[^ ]*' | sort -u | wc -l | tr -d ' ')" "3" "each stage has its own \$WF_OUTPUT"
expect_eq "$(ls -A "$TEST_TMP/tmpd")" "" "the run's directory is gone when it ends"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  out=$(env -u TMPDIR -u XDG_RUNTIME_DIR "$WF_BIN" run files.yml -j 1 2>&1)
  rc=$?
  expect_rc 0 "stage files without TMPDIR:"
  expect_out "same /dev/shm/wf-run-" "without \$TMPDIR, stage files are in memory (/dev/shm)"
fi

# --- waiting does not spin -----------------------------------------------------------------------------
printf 'nap:\n  type: Workflow\n  jobs:\n    j:\n      stages:\n        - {name: nap, sleep: 1}\n        - {name: child, bash: sleep 1}\n' > nap.yml
TIMEFORMAT='%U %S'
cpu=$( { time "$WF_BIN" run nap.yml >/dev/null 2>&1; } 2>&1 )
if awk -v c="$cpu" 'BEGIN { split(c, t, " "); exit !(t[1] + t[2] < 0.3) }'; then pass_test; else
  out="" err="" rc=0; fail_test "wf burns CPU while waiting 2 s (user/sys: $cpu)"; fi

# --- SIGINT and SIGTERM ---------------------------------------------------------------------------------
cat > long.yml <<'EOF'
long:
  type: Workflow
  jobs:
    a:
      stages:
        - name: wait
          bash: |
            trap 'echo term > term.marker; exit 1' TERM
            touch started.marker
            sleep 60 & wait
    b:
      needs: a
      stages: [{name: after, bash: touch after.marker}]
EOF
for sig in INT TERM; do
  rm -f ./*.marker
  "$WF_BIN" run long.yml > sig.out 2> sig.err &
  pid=$!
  for _ in $(seq 100); do
    running=$(sql "SELECT count(*) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                   JOIN runs r ON r.id = j.run_id WHERE r.workflow = 'long' AND r.status = 'WAIT' AND s.status = 'WAIT'" 2>/dev/null)
    [ "$running" = 1 ] && [ -e started.marker ] && break
    sleep 0.1
  done
  start=$(date +%s%N)
  kill -"$sig" "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"   # still our unreaped child: safe to kill by id
  wait "$pid"; rc=$?
  ms=$(elapsed_ms "$start")
  out=$(cat sig.out); err=$(cat sig.err)
  if [ "$sig" = INT ]; then expect_rc 130 "SIGINT"; else expect_rc 143 "SIGTERM"; fi
  if [ "$ms" -lt 5000 ]; then pass_test; else fail_test "SIG$sig: wf took ${ms} ms to stop"; fi
  if [ -e term.marker ]; then pass_test; else fail_test "SIG$sig: the stage got SIGTERM"; fi
  if [ -e after.marker ]; then fail_test "SIG$sig: work started after the signal"; else pass_test; fi
  expect_eq "$(run_field status)" "CANCEL" "SIG$sig: run recorded CANCEL"
  expect_eq "$(run_field exit_code)" "$rc" "SIG$sig: exit code recorded"
  expect_eq "$(job_field a status) $(job_field b status)" "CANCEL CANCEL" "SIG$sig: jobs recorded CANCEL"
  expect_eq "$(stage_rows a | cut -d'|' -f1,3)" "wait|CANCEL" "SIG$sig: stage recorded CANCEL"
done
wf runs long --status cancel
expect_rc 0 "runs --status cancel"
expect_eq "$(grep -c ' CANCEL ' <<< "$out")" "2" "both signalled runs are CANCEL"

# --- wf show and wf logs of a run -------------------------------------------------------------------------
cat > showme.yml <<'EOF'
showme:
  type: Workflow
  jobs:
    build:
      outputs: {artifact: "${{ stages.compile.outputs.artifact }}"}
      stages:
        - name: compile
          bash: |
            echo "compiling"
            echo "warning: x" >&2
            echo "artifact=app.bin" >> "$WF_OUTPUT"
    test:
      needs: build
      stages:
        - name: unit
          bash: echo "testing ${{ needs.build.outputs.artifact }}"; exit 2
EOF
wf run showme.yml
expect_rc 1 "showme"
rid=$(last_run_id)
wf show "$rid"
expect_rc 0 "show"
expect_out "$rid" "show"
expect_out "showme" "show"
expect_out "FAILED" "show"
expect_out "compile" "show: stages"
expect_out "ShellError: exit status 2" "show: errors"
expect_out '"artifact":"app.bin"' "show: outputs"
wf show "${rid:0:20}"
expect_rc 0 "show by unique prefix"
expect_out "$rid" "show by unique prefix"
wf show "$rid" --json
expect_rc 0 "show --json"
expect_json "show --json"
expect_eq "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["run_id"], d["status"], d["exit_code"])')" \
  "$rid FAILED 1" "show --json"
wf logs "$rid"
expect_rc 0 "logs"
expect_out "compiling" "logs"
expect_out "warning: x" "logs: stderr too"
expect_out "testing app.bin" "logs"
wf logs "$rid" build
expect_rc 0 "logs JOB"
expect_out "compiling" "logs JOB"
expect_no_out "testing app.bin" "logs JOB"
wf logs "$rid" test/unit
expect_rc 0 "logs JOB/STAGE"
expect_out "testing app.bin" "logs JOB/STAGE"
expect_no_out "compiling" "logs JOB/STAGE"
wf logs "$rid" nope
expect_rc 2 "logs unknown job"
expect_err "wf: error: run $rid has no job 'nope'" "logs unknown job"
wf logs "$rid" build/nope
expect_rc 2 "logs unknown stage"
expect_err "wf: error: job 'build' of run $rid has no stage 'nope'" "logs unknown stage"

# --- wf runs --status --------------------------------------------------------------------------------------
wf runs --status failed
expect_rc 0 "runs --status failed"
expect_out "$rid" "runs --status failed"
expect_no_out "SUCCESS" "runs --status failed lists only failed runs"
expect_no_out "CANCEL" "runs --status failed lists only failed runs"
wf runs --status FAILED --json
expect_rc 0 "runs --status FAILED --json"
expect_json "runs --status --json"
expect_eq "$(printf '%s' "$out" | python3 -c 'import json,sys; print(sorted({r["status"] for r in json.load(sys.stdin)}))')" \
  "['FAILED']" "runs --status in any case"
wf runs showme
expect_rc 0 "runs NAME"
expect_out "$rid" "runs NAME"
expect_no_out "qfail" "runs NAME filters by workflow"
wf runs --limit 1
expect_rc 0 "runs --limit"
expect_eq "$(grep -c '^20' <<< "$out")" "1" "runs --limit 1"
wf runs --status bogus
expect_rc 2 "runs --status bogus"
expect_err "wf: error: unknown status 'bogus'" "runs --status bogus"

# --- unknown and ambiguous run ids: exit 2 ----------------------------------------------------------------
wf show nonexistent
expect_rc 2 "show unknown run"
expect_err "wf: error: no run matches 'nonexistent'" "show unknown run"
wf logs nonexistent
expect_rc 2 "logs unknown run"
expect_err "wf: error: no run matches 'nonexistent'" "logs unknown run"
wf show 2
expect_rc 2 "ambiguous prefix"
expect_err "wf: error: run id '2' is ambiguous" "ambiguous prefix"

# --- unusable state file: exit 4, file left alone ------------------------------------------------------------
mkdir -p corrupt
echo garbage > corrupt/wf.db
cp corrupt/wf.db garbage.orig
for cmd in "run ok.yml" "runs" "show x" "logs x"; do
  # shellcheck disable=SC2086
  WF_STATE_DIR="$TEST_TMP/corrupt" wf $cmd
  expect_rc 4 "corrupt state file: wf $cmd"
  expect_err "wf: error: cannot open state file $TEST_TMP/corrupt/wf.db" "corrupt state file: wf $cmd"
done
if cmp -s corrupt/wf.db garbage.orig; then pass_test; else fail_test "the corrupt state file was changed"; fi
expect_eq "$(ls corrupt)" "wf.db" "nothing was added next to the corrupt state file"
echo "not a dir" > notadir
WF_STATE_DIR="$TEST_TMP/notadir" wf run ok.yml
expect_rc 4 "state dir is a file"
expect_err "wf: error: cannot create state directory $TEST_TMP/notadir" "state dir is a file"
wf --state-dir "$TEST_TMP/corrupt" runs
expect_rc 4 "--state-dir"

# --- an unknown command is an error, also with --help after it ------------------------------------
wf bogus --help
expect_rc 2 "unknown command with --help:"
expect_err "wf: error: unknown command 'bogus'"
wf rnu hello.yml
expect_rc 2 "misspelt command:"
expect_err "unknown command 'rnu'; did you mean 'run'?"
wf --state-dir "$TEST_TMP/other" runs
expect_rc 0 "a global option with a value before the command:"

# --- wf --version and wf version (answered before the rest of the command line is parsed) -----
wf --version
expect_rc 0 "--version"
version_out=$out
if [[ "${version_out%%$'\n'*}" =~ ^wf\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then pass_test; else fail_test "--version: first line '${version_out%%$'\n'*}'"; fi
expect_out "state schema" "--version"
wf version
expect_rc 0 "version command"
expect_eq "$out" "$version_out" "wf version prints what wf --version prints"
wf -q --version
expect_rc 0 "--version after a global flag"
expect_eq "$out" "$version_out" "--version after a global flag"
wf version --bogus
expect_rc 2 "version with an unknown option"

# --- bytes that are not UTF-8 (a Latin-1 tool's output) do not break the JSON outputs -----------
cat > latin1.yml <<'EOF'
latin1:
  type: Workflow
  jobs:
    a:
      stages:
        - name: s
          id: s
          bash: printf 'k=caf\xe9\n' >> "$WF_OUTPUT"; printf 'caf\xe9\n'
EOF
WF_STATE_DIR="$TEST_TMP/latin1-state" wf run latin1.yml --json
expect_rc 0 "non-UTF-8 output: run --json"
expect_eq "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" SUCCESS "non-UTF-8 output: run --json is JSON"
lid=$(WF_STATE_DIR="$TEST_TMP/latin1-state" "$WF_BIN" runs --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')
WF_STATE_DIR="$TEST_TMP/latin1-state" wf show "$lid" --json
expect_rc 0 "non-UTF-8 output: show --json"
expect_eq "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["outputs"]["k"])' 2>&1)" \
  "$(printf 'caf\xef\xbf\xbd')" "non-UTF-8 output: the byte is U+FFFD in JSON"

# --- concurrency groups: cancel-new exits 5, queue waits, a queued wf stops on SIGTERM ---------
cat > conc.yml <<'EOF'
conc:
  type: Workflow
  params:
    g: {type: str, default: one}
    strategy: {type: str, default: queue}
  concurrency:
    group: "grp-${{ params.g }}"
    strategy: cancel-new
  jobs:
    a:
      stages:
        - name: hold
          bash: touch "conc.$WF_RUN_ID.started"; while [ ! -f conc.release ]; do sleep 0.05; done
EOF
sed 's/strategy: cancel-new/strategy: queue/' conc.yml > concq.yml
long=$(printf 'x%.0s' $(seq 300))
rm -f conc.release conc.*.started
WF_STATE_DIR="$TEST_TMP/conc-state" "$WF_BIN" run conc.yml -p g="$long" > conc1.out 2>&1 &
holder=$!
if wait_until 'ls conc.*.started >/dev/null 2>&1' 20; then
  WF_STATE_DIR="$TEST_TMP/conc-state" wf run conc.yml -p g="$long"
  expect_rc 5 "cancel-new with a 300-character group name: exit 5"
  expect_err "already runs 1 run" "cancel-new: says why"
  WF_STATE_DIR="$TEST_TMP/conc-state" "$WF_BIN" run concq.yml -p g="$long" > conc2.out 2> conc2.err &
  queued=$!
  sleep 0.5
  kill -TERM "$queued"
  t0=$(now_ms)
  wait "$queued"; rc=$?
  err=$(cat conc2.err)
  expect_rc 143 "a queued wf stops on SIGTERM with 143"
  expect_err "interrupted while waiting for a slot of concurrency group" "queued wf: says why"
  [ $(( $(now_ms) - t0 )) -lt 5000 ] && pass_test || fail_test "queued wf took long to stop"
  touch conc.release
  wait "$holder"; rc=$?
  expect_rc 0 "the holder finishes"
else
  kill -KILL "$holder" 2>/dev/null
  fail_test "concurrency: the holder did not start"
fi

finish
