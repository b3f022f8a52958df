#!/usr/bin/env bash
# `wf rerun` (FORMAT §9.1, CLI.md): a new attempt of a stored run keeps the job instances (matrix
# legs one by one) that succeeded and runs the rest plus everything downstream; --from,
# --use-current-spec, -p, secret params, the stored snapshot, attempts in the state file and in
# `wf show` / `wf logs --attempt N`. Each stage appends a line to a marker file under m/ so the
# tests can count what actually ran.
source "$(dirname "$0")/lib.sh"

mkdir -p m
# count NAME: lines in marker file m/NAME (0 when it does not exist)
count() { if [ -f "m/$1" ]; then wc -l < "m/$1" | tr -d ' '; else echo 0; fi; }
counts() { local s="" n; for n in "$@"; do s+="$n=$(count "$n") "; done; echo "${s% }"; }
run_field() { sql "SELECT $2 FROM runs WHERE id = '$1'"; }
# instances RUN ATTEMPT: "job[leg]|status|skip_reason" per job instance of that attempt
instances() {
  sql "SELECT job || CASE WHEN matrix = '{}' THEN '' ELSE matrix END, status, skip_reason FROM job_instances
       WHERE run_id = '$1' AND run_attempt = $2 ORDER BY job, leg, id" | tr '\n' ' '
}
attempt_rows() { sql "SELECT attempt || ':' || status FROM run_attempts WHERE run_id = '$1' ORDER BY attempt" | tr '\n' ' '; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

# --- a failed job, fixed by creating a file: rerun runs it and its downstream only -------------------------
cat > chain.yml <<'EOF'
chain:
  type: Workflow
  jobs:
    prep:
      stages:
        - name: p
          id: p
          bash: |
            echo prep >> m/prep
            echo "value=v-$RANDOM$RANDOM$RANDOM" >> "$WF_OUTPUT"
    flaky:
      needs: [prep]
      stages:
        - name: check
          bash: |
            echo flaky >> m/flaky
            if [ -f fixed ]; then echo try-with-fix; else echo try-without-fix; exit 1; fi
    side:
      needs: [prep]
      stages:
        - name: s
          bash: echo side >> m/side
    down:
      needs: [prep, flaky, side]
      stages:
        - name: d
          env:
            PV: ${{ needs.prep.outputs.value }}
          bash: |
            echo down >> m/down
            echo "$PV $WF_RUN_ATTEMPT" > m/down.seen
    last:
      needs: [down]
      stages:
        - name: l
          bash: echo last >> m/last
EOF
wf run chain.yml
expect_rc 1 "first attempt fails"
id=$(last_run_id)
prep_value=$(sql "SELECT json_extract(outputs, '$.value') FROM job_instances WHERE run_id = '$id' AND job = 'prep'")
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=1 side=1 down=0 last=0" "first attempt ran"
expect_eq "$(run_field "$id" attempt)" "1" "runs.attempt starts at 1"
expect_eq "$(attempt_rows "$id")" "1:FAILED " "one run_attempts row after the first attempt"

wf rerun "$id"
expect_rc 1 "rerun without the fix fails again"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=2 side=1 down=0 last=0" \
  "rerun without the fix runs only the failed job"
expect_eq "$(run_field "$id" "attempt || status")" "2FAILED" "second attempt recorded"

touch fixed
wf rerun "$id"
expect_rc 0 "rerun after the fix succeeds"
expect_out "kept from attempt 2" "rerun shows kept jobs"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=3 side=1 down=1 last=1" \
  "rerun runs the failed job and its downstream, not the kept ones"
expect_eq "$(cat m/down.seen 2>/dev/null)" "$prep_value 3" \
  "downstream sees the kept job's outputs (needs.prep.outputs) and WF_RUN_ATTEMPT"
expect_eq "$(run_field "$id" "attempt || status || exit_code")" "3SUCCESS0" "runs.attempt increments, run succeeds"
expect_eq "$(attempt_rows "$id")" "1:FAILED 2:FAILED 3:SUCCESS " "one run_attempts row per attempt"
expect_eq "$(instances "$id" 3)" \
  "down|SUCCESS| flaky|SUCCESS| last|SUCCESS| prep|SUCCESS|kept from attempt 2 side|SUCCESS|kept from attempt 2 " \
  "kept instances are recorded again in the new attempt"
expect_eq "$(instances "$id" 1)" \
  "down|SKIP|trigger-rule flaky|FAILED| last|SKIP|trigger-rule prep|SUCCESS| side|SUCCESS| " \
  "the first attempt's instances are left as they were"
expect_eq "$(sql "SELECT count(*) FROM runs")" "1" "rerun adds no new run"

# wf show / wf logs see every attempt
wf show "$id" --json
expect_rc 0 "show --json after rerun"
expect_eq "$(printf '%s' "$out" | jq_py 'print(d["attempt"], d["status"])' 2>&1)" "3 SUCCESS" "show --json: latest attempt"
expect_eq "$(printf '%s' "$out" | jq_py '
print(sorted(set(j["run_attempt"] for j in d["jobs"])))
a1 = [j for j in d["jobs"] if j["job"] == "flaky" and j["run_attempt"] == 1][0]
print(a1["status"], a1["stages"][0]["outputs"]["stdout"].strip())' 2>&1 | tr '\n' ' ')" \
  "[1, 2, 3] FAILED try-without-fix " "show --json includes the earlier attempts with their output"
wf logs "$id" flaky --attempt 1
expect_rc 0 "logs --attempt 1"
expect_out "try-without-fix" "logs --attempt 1 shows the first attempt's output"
expect_no_out "try-with-fix" "logs --attempt 1 does not show the latest attempt"
wf logs "$id" flaky
expect_out "try-with-fix" "logs shows the latest attempt by default"
expect_no_out "try-without-fix" "logs by default shows only the latest attempt"
wf logs "$id" --attempt 9
expect_rc 2 "logs of an attempt that does not exist"

# already succeeded: nothing to do
wf rerun "$id"
expect_rc 0 "rerun of a successful run"
expect_out "already succeeded; nothing to rerun" "rerun of a successful run"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=3 side=1 down=1 last=1" "nothing ran"
expect_eq "$(run_field "$id" attempt) $(sql "SELECT count(*) FROM run_attempts WHERE run_id = '$id'")" "3 3" \
  "no new attempt for a run that already succeeded"

# --from JOB: that job and its downstream run again, even after success
wf rerun "$id" --from down
expect_rc 0 "--from down"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=3 side=1 down=2 last=2" "--from down runs down + last"
expect_eq "$(cat m/down.seen 2>/dev/null)" "$prep_value 4" "--from: kept outputs still flow downstream"
wf rerun "$id" --from flaky --from side
expect_rc 0 "--from twice"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=4 side=2 down=3 last=3" "--from flaky --from side"
expect_eq "$(run_field "$id" attempt)" "5" "--from makes new attempts"
wf rerun "$id" --from last --json
expect_rc 0 "--from --json"
expect_eq "$(printf '%s' "$out" | jq_py 'print(d["run_id"], d["status"])' 2>&1)" "$id SUCCESS" \
  "rerun --json prints only the run result as JSON"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=4 side=2 down=3 last=4" "--from last runs last only"
wf rerun "$id" --from nosuchjob
expect_rc 2 "--from an unknown job"
expect_err "nosuchjob" "--from an unknown job"
expect_eq "$(counts prep flaky side down last)" "prep=1 flaky=4 side=2 down=3 last=4" "--from unknown job runs nothing"

# unknown run id
wf rerun nonexistent-run-id
expect_rc 2 "unknown run id"
expect_err "nonexistent-run-id" "unknown run id"

# --- the stored snapshot is used, not the file on disk; --use-current-spec ----------------------------------
cat > snap.yml <<'EOF'
snap:
  type: Workflow
  jobs:
    a:
      stages:
        - name: s
          bash: echo a-old >> m/snap-a
    b:
      needs: [a]
      stages:
        - name: s
          bash: |
            echo b-old >> m/snap-b
            test -f snap-fixed
    c:
      needs: [b]
      stages:
        - name: s
          bash: echo c-old >> m/snap-c
    d:
      stages:
        - name: s
          bash: echo d-old >> m/snap-d
EOF
wf run snap.yml
expect_rc 1 "snap: first attempt fails"
sid=$(last_run_id)
sed -i 's/-old/-new/' snap.yml
touch snap-fixed
wf rerun "$sid"
expect_rc 0 "snap: rerun"
expect_eq "$(cat m/snap-a m/snap-b m/snap-c m/snap-d | tr '\n' ' ')" "a-old b-old b-old c-old d-old " \
  "rerun uses the stored snapshot, not the changed file"
# change only job c's script, then --use-current-spec
sed -i 's/echo c-new/echo c-newer/' snap.yml
wf rerun "$sid" --use-current-spec
expect_rc 0 "--use-current-spec"
expect_out "changed jobs: " "--use-current-spec reports changed jobs"
changed_line=$(printf '%s\n' "$out" | grep "changed jobs:")
for j in a b c d; do
  if [[ "$changed_line" == *" $j"* || "$changed_line" == *",$j"* ]]; then pass_test; else
    fail_test "--use-current-spec: job $j changed since the snapshot but is not in: $changed_line"; fi
done
expect_eq "$(cat m/snap-a m/snap-b m/snap-c m/snap-d | tr '\n' ' ')" \
  "a-old a-new b-old b-old b-new c-old c-newer d-old d-new " "--use-current-spec runs changed jobs + downstream"
# now the snapshot is the current file: only c changes
sed -i 's/echo c-newer/echo c-newest/' snap.yml
wf rerun "$sid" --use-current-spec
expect_rc 0 "--use-current-spec, one job changed"
expect_out "changed jobs: c" "--use-current-spec names the one changed job"
expect_eq "$(counts snap-a snap-b snap-c snap-d)" "snap-a=2 snap-b=3 snap-c=3 snap-d=2" \
  "--use-current-spec reruns only the changed job (c has no downstream)"
expect_eq "$(tail -n1 m/snap-c)" "c-newest" "--use-current-spec runs the file's version"
wf rerun "$sid" --use-current-spec
expect_rc 0 "--use-current-spec, nothing changed"
expect_out "already succeeded; nothing to rerun" "--use-current-spec with no change on a successful run"
expect_eq "$(counts snap-a snap-b snap-c snap-d)" "snap-a=2 snap-b=3 snap-c=3 snap-d=2" "nothing changed, nothing ran"

# --- matrix legs one by one ---------------------------------------------------------------------------------------
cat > mx.yml <<'EOF'
mx:
  type: Workflow
  jobs:
    legs:
      strategy:
        matrix:
          n: [1, 2, 3]
      stages:
        - name: leg
          bash: |
            echo "leg $WF_MATRIX_N" >> "m/leg-$WF_MATRIX_N"
            if [ "$WF_MATRIX_N" = 2 ] && [ ! -f leg2-fixed ]; then exit 1; fi
            echo "out$WF_MATRIX_N=v$WF_MATRIX_N-$RANDOM" >> "$WF_OUTPUT"
    after:
      needs: [legs]
      stages:
        - name: a
          env:
            SEEN: ${{ needs.legs.outputs.out1 }},${{ needs.legs.outputs.out2 }},${{ needs.legs.outputs.out3 }}
          bash: |
            echo after >> m/after
            echo "$SEEN" > m/after.seen
EOF
wf run mx.yml
expect_rc 1 "matrix: one leg fails"
mid=$(last_run_id)
out1=$(sql "SELECT json_extract(outputs, '$.out1') FROM job_instances WHERE run_id = '$mid' AND json_extract(matrix, '$.n') = 1")
out3=$(sql "SELECT json_extract(outputs, '$.out3') FROM job_instances WHERE run_id = '$mid' AND json_extract(matrix, '$.n') = 3")
expect_eq "$(counts leg-1 leg-2 leg-3 after)" "leg-1=1 leg-2=1 leg-3=1 after=0" "matrix: first attempt"
touch leg2-fixed
wf rerun "$mid"
expect_rc 0 "matrix rerun"
expect_eq "$(counts leg-1 leg-2 leg-3 after)" "leg-1=1 leg-2=2 leg-3=1 after=1" "matrix: only the failed leg runs again"
out2=$(sql "SELECT json_extract(outputs, '$.out2') FROM job_instances WHERE run_id = '$mid' AND run_attempt = 2
            AND json_extract(matrix, '$.n') = 2")
expect_eq "$(cat m/after.seen 2>/dev/null)" "$out1,$out2,$out3" "downstream sees kept legs' and the new leg's outputs"
expect_eq "$(instances "$mid" 2)" \
  "after|SUCCESS| legs{\"n\":1}|SUCCESS|kept from attempt 1 legs{\"n\":2}|SUCCESS| legs{\"n\":3}|SUCCESS|kept from attempt 1 " \
  "matrix: kept legs recorded one by one"
wf rerun "$mid" --from legs
expect_rc 0 "matrix --from"
expect_eq "$(counts leg-1 leg-2 leg-3 after)" "leg-1=2 leg-2=3 leg-3=2 after=2" "matrix --from runs every leg"

# --- params: stored ones, -p overrides ----------------------------------------------------------------------------
cat > prm.yml <<'EOF'
prm:
  type: Workflow
  params:
    greeting: {type: str, default: hello}
    count: {type: int, default: 1}
  jobs:
    j:
      stages:
        - name: s
          env:
            G: ${{ params.greeting }}
            C: ${{ params.count }}
          bash: |
            echo "$G $C" >> m/prm
            test -f prm-fixed
EOF
wf run prm.yml -p greeting=one -p count=7
expect_rc 1 "params: first attempt fails"
pid_=$(last_run_id)
wf rerun "$pid_"
expect_rc 1 "params: rerun with stored params"
touch prm-fixed
wf rerun "$pid_" -p greeting=two
expect_rc 0 "params: rerun with -p"
expect_eq "$(tr '\n' ' ' < m/prm)" "one 7 one 7 two 7 " "rerun uses stored params; -p overrides one of them"
printf '{"count": 9}\n' > p.json
wf rerun "$pid_" --from j --params-file p.json
expect_rc 0 "params: --params-file"
expect_eq "$(tail -n1 m/prm)" "two 9" "--params-file overrides a stored param (and -p values were stored)"
wf rerun "$pid_" --from j -p count=notanint
expect_rc 2 "params: bad -p value"
wf rerun "$pid_" --from j -p nosuch=1
expect_rc 2 "params: undeclared -p name"
expect_eq "$(wc -l < m/prm | tr -d ' ')" "4" "bad params run nothing"

# --- secret params must be given again, and are never stored ----------------------------------------------------
cat > sec.yml <<'EOF'
sec:
  type: Workflow
  params:
    token: {type: str, required: true, secret: true}
    user: {type: str, default: bob}
  jobs:
    j:
      stages:
        - name: s
          env:
            TOKEN: ${{ params.token }}
          bash: |
            printf '%s\n' "$TOKEN" | rev >> m/sec
            test -f sec-fixed
EOF
wf run sec.yml -p token=tok-FIRST-5521
expect_rc 1 "secret: first attempt fails"
sec_id=$(last_run_id)
wf rerun "$sec_id"
expect_rc 2 "secret: rerun without the secret"
expect_err "token" "secret: the missing secret param is named"
expect_err "WF_PARAM_TOKEN" "secret: the error says how to give it"
expect_eq "$(count sec)" "1" "secret missing: nothing ran"
expect_eq "$(run_field "$sec_id" attempt)" "1" "secret missing: no new attempt"
WF_PARAM_TOKEN=tok-ENV-7734 wf rerun "$sec_id"
expect_rc 1 "secret from WF_PARAM_TOKEN (still failing)"
touch sec-fixed
wf rerun "$sec_id" -p token=tok-CLI-9182
expect_rc 0 "secret from -p"
expect_eq "$(rev < m/sec | tr '\n' ' ')" "tok-FIRST-5521 tok-ENV-7734 tok-CLI-9182 " "the secret values reached the stage"
expect_eq "$(sql "SELECT json_extract(params, '$.token') FROM runs WHERE id = '$sec_id'")" "***" "secret stored masked"
leaked=""
for f in "$WF_STATE_DIR"/wf.db*; do
  for s in tok-FIRST-5521 tok-ENV-7734 tok-CLI-9182; do
    if grep -aq "$s" "$f"; then leaked+="$s in $(basename "$f") "; fi
  done
done
expect_eq "$leaked" "" "secret values are not in the state file"
wf rerun "$sec_id" --from j
expect_rc 2 "secret: --from on a successful run still needs the secret"
expect_err "token" "secret: --from names the missing secret"

finish
