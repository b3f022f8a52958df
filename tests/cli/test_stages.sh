#!/usr/bin/env bash
# Nested and trigger stages (FORMAT §6): parallel, foreach, until, case and trigger, run by the
# real binary with real /bin/sh stages; their results are checked in the output, in the state
# file (nested rows carry parent_id and label) and in `wf show`. Marker files under m/ count
# what actually ran.
source "$(dirname "$0")/lib.sh"

mkdir -p m
count() { if [ -f "m/$1" ]; then wc -l < "m/$1" | tr -d ' '; else echo 0; fi; }
# rows RUN: "label:name:status" of every nested stage row of the run, in insertion order
rows() {
  sql "SELECT s.label || ':' || s.name || ':' || s.status FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$1' AND s.parent_id != 0 ORDER BY s.label, s.id" | tr '\n' ' '
}
stage_field() {
  sql "SELECT s.$3 FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
       WHERE j.run_id = '$1' AND s.name = '$2' ORDER BY s.id DESC LIMIT 1"
}

# --- all four nested kinds, results visible to later stages ----------------------------------------
cat > nested.yml <<'EOF'
nested:
  type: Workflow
  params:
    files: {type: array, default: [a.csv, b.csv, c.csv]}
  jobs:
    main:
      defaults: {shell: sh}
      stages:
        - name: each file
          id: each
          foreach: ${{ params.files }}
          concurrent: 2
          stages:
            - name: load
              id: load
              bash: echo "$WF_STAGE ${{ item }}" >> m/load; echo "rows=$(( ${{ loop }} * 10 ))" >> "$WF_OUTPUT"
            - name: report
              echo: "${{ item }} has ${{ stages.load.outputs.rows }} rows"
        - name: fan
          id: fan
          parallel:
            left:
              - {name: l1, id: l, bash: 'echo "side=left" >> "$WF_OUTPUT"'}
            right:
              - {name: r1, id: r, bash: 'echo "side=right" >> "$WF_OUTPUT"'}
        - name: poll
          id: poll
          item: 1
          until: ${{ item >= 4 }}
          max-loop: 5
          stages:
            - name: bump
              id: bump
              bash: echo "item=$(( ${{ item }} + 1 ))" >> "$WF_OUTPUT"
        - name: pick
          id: pick
          case: ${{ stages.poll.outputs.item }}
          match:
            - case: 3
              stages: [{name: three, echo: three}]
            - case: 4
              stages: [{name: four, echo: "four after ${{ stages.poll.outputs.loop }} loops"}]
            - case: _
              stages: [{name: other, echo: other}]
        - name: summary
          echo: "b=${{ stages.each.outputs.foreach['b.csv'].stages.load.outputs.rows }} right=${{ stages.fan.outputs.parallel.right.stages.r.outputs.side }} case=${{ stages.pick.outputs.case }}"
EOF
wf run nested.yml
expect_rc 0 "nested kinds:"
expect_out "b.csv has 10 rows"
expect_out "c.csv has 20 rows"
expect_out "four after 3 loops"
expect_out "b=10 right=right case=4"
expect_no_out "| other"
expect_eq "$(count load)" 3 "foreach ran each item once:"
id=$(last_run_id)
expect_eq "$(rows "$id")" "branch left:l1:SUCCESS branch right:r1:SUCCESS case 4:four:SUCCESS item a.csv:load:SUCCESS item a.csv:report:SUCCESS item b.csv:load:SUCCESS item b.csv:report:SUCCESS item c.csv:load:SUCCESS item c.csv:report:SUCCESS loop 1:bump:SUCCESS loop 2:bump:SUCCESS loop 3:bump:SUCCESS " "nested rows:"
expect_eq "$(sql "SELECT COUNT(*) FROM stages s JOIN stages p ON p.id = s.parent_id WHERE p.name = 'each file'")" 6 "foreach rows point at their stage:"
wf show "$id"
expect_out "  -   [item b.csv] load"
expect_out "  -   [loop 3] bump"
wf show "$id" --json
expect_out '"label": "item a.csv"'

# --- foreach: the first failure cancels running items and starts no more -----------------------------
cat > failfast.yml <<'EOF'
failfast:
  type: Workflow
  jobs:
    main:
      defaults: {shell: sh}
      stages:
        - name: each
          foreach: [slow, bad, c, d]
          concurrent: 2
          stages:
            - name: work
              bash: |
                echo "${{ item }}" >> m/started
                if [ "${{ item }}" = bad ]; then sleep 0.3; echo "bad item" >&2; exit 3; fi
                sleep 20
                echo "${{ item }}" >> m/finished
        - name: never
          bash: echo never >> m/never
EOF
start=$(date +%s)
wf run failfast.yml -j 4 --kill-grace 1
expect_rc 1 "foreach fail-fast:"
expect_eq "$(( $(date +%s) - start < 15 ))" 1 "the slow item was killed, not waited for:"
expect_eq "$(sort m/started | tr '\n' ' ')" "bad slow " "unstarted items did not run:"
expect_eq "$(count finished)" 0
expect_eq "$(count never)" 0
id=$(last_run_id)
expect_eq "$(rows "$id")" "item bad:work:FAILED item slow:work:CANCEL " "failed and cancelled items recorded:"
expect_eq "$(stage_field "$id" each status)" FAILED
expect_out "item bad"
expect_out "ShellError: exit status 3: bad item"

# --- foreach: items must be unique unless use-index-as-key; a non-list is an error ------------------
cat > items.yml <<'EOF'
items:
  type: Workflow
  params:
    list: {type: str, default: "[1, 2, 1]"}
  jobs:
    dup:
      stages:
        - name: each
          foreach: ${{ params.list | from_json }}
          stages: [{name: e, echo: "${{ item }}"}]
    indexed:
      stages:
        - name: each
          id: each
          foreach: [x, x]
          use-index-as-key: true
          stages: [{name: e, id: e, echo: "${{ loop }}:${{ item }}"}]
        - name: keys
          echo: "keys=${{ stages.each.outputs.foreach | keys | join(',') }}"
    notalist:
      stages:
        - name: each
          foreach: ${{ params.list }}x
          stages: [{name: e, echo: "${{ item }}"}]
EOF
wf run items.yml --job dup
expect_rc 1 "duplicate items:"
expect_out "foreach items must be unique: '1' is item 0 and item 2 (set use-index-as-key: true to allow repeats)"
wf run items.yml --job indexed
expect_rc 0 "use-index-as-key:"
expect_out "0:x"
expect_out "1:x"
expect_out "keys=0,1"
wf run items.yml --job notalist
expect_rc 1 "foreach over a string:"
expect_out "foreach needs a list of items, got string"

# --- until: max-loop; case: no match, skip-not-match, else ------------------------------------------
cat > loops.yml <<'EOF'
loops:
  type: Workflow
  params:
    color: {type: str, default: green}
  jobs:
    forever:
      stages:
        - name: spin
          until: ${{ item > 100 }}
          max-loop: 3
          stages: [{name: tick, bash: 'echo tick >> m/tick'}]
    nomatch:
      stages:
        - name: pick
          case: ${{ params.color }}
          match:
            - {case: red, stages: [{name: r, echo: red}]}
    skipped:
      stages:
        - name: pick
          case: ${{ params.color }}
          skip-not-match: true
          match:
            - {case: red, stages: [{name: r, echo: red}]}
        - name: after
          echo: "after ${{ stages.pick.status }}"
    otherwise:
      stages:
        - name: pick
          case: ${{ params.color }}
          match:
            - {case: red, stages: [{name: r, echo: red}]}
            - else:
                - {name: e, echo: "else got ${{ case }}"}
EOF
wf run loops.yml --job forever
expect_rc 1 "until max-loop:"
expect_out "StageError: until: max-loop 3 reached and '\${{ item > 100 }}' is still false (item: 0)"
expect_eq "$(count tick)" 3 "until ran max-loop times:"
wf run loops.yml --job nomatch
expect_rc 1 "case without a match:"
expect_out "case 'green' matched no entry (entries: red); add \`case: _\` or \`skip-not-match: true\`"
wf run loops.yml --job skipped
expect_rc 0 "skip-not-match:"
expect_out "after SKIP"
wf run loops.yml --job otherwise -p color=blue
expect_rc 0 "else entry:"
expect_out "else got blue"

# --- parallel: max-workers 1 runs branches one at a time; -j bounds nested processes ------------------
cat > lock.yml <<'EOF'
lock:
  type: Workflow
  params:
    workers: {type: int, default: 1}
  jobs:
    par:
      defaults: {shell: sh}
      stages:
        - name: fan
          max-workers: ${{ params.workers }}
          parallel:
            a: [{name: a, bash: 'mkdir m/lock || exit 9; sleep 0.3; rmdir m/lock'}]
            b: [{name: b, bash: 'mkdir m/lock || exit 9; sleep 0.3; rmdir m/lock'}]
            c: [{name: c, bash: 'mkdir m/lock || exit 9; sleep 0.3; rmdir m/lock'}]
    each:
      defaults: {shell: sh}
      stages:
        - name: each
          foreach: [1, 2, 3]
          concurrent: 3
          stages: [{name: e, bash: 'mkdir m/lock || exit 9; sleep 0.3; rmdir m/lock'}]
EOF
wf run lock.yml --job par
expect_rc 0 "max-workers 1 is one branch at a time:"
wf run lock.yml --job each -j 1
expect_rc 0 "-j 1 bounds the processes of nested stages:"
rm -rf m/lock
wf run lock.yml --job par -p workers=3 -j 4
expect_rc 1 "max-workers 3 runs branches at once (they collide on the lock):"

# --- trigger: a child run with parent_run_id; outputs; cycles; a failed child -------------------------
cat > trig.yml <<'EOF'
parent:
  type: Workflow
  params:
    who: {type: str, default: world}
  jobs:
    main:
      stages:
        - name: call child
          id: child
          trigger: child
          params:
            name: ${{ params.who }}
        - name: after
          echo: "child said ${{ stages.child.outputs.jobs.greet.outputs.greeting }} in ${{ stages.child.outputs.run_id }}"
child:
  type: Workflow
  params:
    name: {type: str, required: true}
  jobs:
    greet:
      stages:
        - name: hello
          bash: echo "greeting=hello ${{ params.name | shell_quote }}" >> "$WF_OUTPUT"
loop-a:
  type: Workflow
  jobs:
    j:
      stages: [{name: go b, trigger: loop-b}]
loop-b:
  type: Workflow
  jobs:
    j:
      stages: [{name: go a, trigger: loop-a}]
missing:
  type: Workflow
  jobs:
    j:
      stages: [{name: go, trigger: no-such-workflow}]
EOF
wf run trig.yml parent -p who=ann
expect_rc 0 "trigger:"
parent=$(sql "SELECT id FROM runs WHERE workflow = 'parent' ORDER BY created_at DESC LIMIT 1")
child=$(sql "SELECT id FROM runs WHERE parent_run_id = '$parent'")
expect_out "child said hello ann in $child"
expect_eq "$(sql "SELECT workflow || ':' || status FROM runs WHERE id = '$child'")" "child:SUCCESS" "child run recorded:"
expect_eq "$(stage_field "$parent" "call child" external_id)" "run:$child" "child run id on the stage:"
wf show "$parent"
expect_out "run $child"
wf show "$child"
expect_out "parent    $parent"
wf run trig.yml loop-a
expect_rc 1 "trigger cycle:"
expect_out "trigger cycle: loop-a -> loop-b -> loop-a"
wf run trig.yml missing
expect_rc 1 "unknown workflow:"
expect_out "TriggerError: workflow 'no-such-workflow' did not start"
expect_out "no-such-workflow"

# --- rerun of the parent reruns only the failed part of the child ----------------------------------
cat > tree.yml <<'EOF'
top:
  type: Workflow
  jobs:
    main:
      stages:
        - {name: sub, trigger: bottom}
bottom:
  type: Workflow
  jobs:
    good:
      stages: [{name: g, bash: 'echo good >> m/good'}]
    flaky:
      stages: [{name: f, bash: 'echo flaky >> m/flaky; test -f fixed'}]
EOF
wf run tree.yml top
expect_rc 1 "failed child:"
expect_out "TriggerError: run "
expect_out "of workflow 'bottom' ended FAILED: flaky: ShellError"
top=$(last_run_id)
top=$(sql "SELECT id FROM runs WHERE workflow = 'top' ORDER BY created_at DESC LIMIT 1")
bottom=$(sql "SELECT id FROM runs WHERE parent_run_id = '$top'")
touch fixed
wf rerun "$top"
expect_rc 0 "rerun of the parent:"
expect_eq "$(count good),$(count flaky)" "1,2" "only the child's failed job ran again:"
expect_eq "$(sql "SELECT attempt || ':' || status FROM runs WHERE id = '$bottom'")" "2:SUCCESS" "the same child run, attempt 2:"
expect_eq "$(sql "SELECT COUNT(*) FROM runs WHERE parent_run_id = '$top'")" 1 "no second child run:"

# --- a stage timeout stops the child run, which records CANCEL -----------------------------------------
cat > slow.yml <<'EOF'
impatient:
  type: Workflow
  jobs:
    main:
      stages:
        - {name: sub, trigger: sleeper, timeout: 1}
sleeper:
  type: Workflow
  jobs:
    zz:
      stages: [{name: z, bash: 'sleep 37'}]
EOF
start=$(date +%s)
wf run slow.yml impatient --kill-grace 2
expect_rc 1 "trigger timeout:"
expect_out "TimeoutError: stage timed out; run "
expect_eq "$(( $(date +%s) - start < 15 ))" 1 "the child did not run to its end:"
impatient=$(sql "SELECT id FROM runs WHERE workflow = 'impatient' ORDER BY created_at DESC LIMIT 1")
expect_eq "$(sql "SELECT status FROM runs WHERE parent_run_id = '$impatient'")" "CANCEL" "the child run was cancelled:"
expect_eq "$(pgrep -f 'sleep 37' | wc -l | tr -d ' ')" 0 "no stage process left:"

# --- wf cancel reaches nested processes and the child run ---------------------------------------------
cat > cancel.yml <<'EOF'
outer:
  type: Workflow
  jobs:
    main:
      stages:
        - name: each
          foreach: [1, 2]
          concurrent: 2
          stages: [{name: s, bash: 'sleep 37'}]
    trig:
      stages:
        - {name: sub, trigger: inner}
inner:
  type: Workflow
  jobs:
    zz:
      stages: [{name: z, bash: 'sleep 37'}]
EOF
"$WF_BIN" run cancel.yml outer --kill-grace 1 > cancel.out 2>&1 &
bg=$!
for _ in $(seq 50); do
  [ "$(sql "SELECT COUNT(*) FROM runs WHERE workflow = 'inner' AND status = 'WAIT'" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
sleep 0.3
outer=$(sql "SELECT id FROM runs WHERE workflow = 'outer' ORDER BY created_at DESC LIMIT 1")
wf cancel "$outer"
expect_rc 0 "wf cancel:"
wait "$bg"
rc=$?
expect_rc 3 "the cancelled parent:"
expect_eq "$(sql "SELECT status FROM runs WHERE parent_run_id = '$outer'")" "CANCEL" "the child run was cancelled too:"
expect_eq "$(sql "SELECT group_concat(s.status) FROM stages s JOIN job_instances j ON j.id = s.job_instance_id
                  WHERE j.run_id = '$outer' AND s.parent_id != 0")" "CANCEL,CANCEL" "running items cancelled:"
expect_eq "$(pgrep -f 'sleep 37' | wc -l | tr -d ' ')" 0 "no stage process left:"

# --- validation of nested stages ------------------------------------------------------------------------
cat > bad.yml <<'EOF'
bad:
  type: Workflow
  jobs:
    j:
      stages:
        - name: each
          foreach: [1, 2]
          stages:
            - {name: a, id: x, echo: hi}
            - {name: b, id: x, echo: "${{ stages.nope.outputs }}"}
        - name: pick
          case: x
          match: {x: 1}
        - name: fan
          parallel: [a, b]
        - name: self
          trigger: bad
EOF
wf validate bad.yml
expect_rc 2 "invalid nested stages:"
expect_err "bad.yml:10:29: error: duplicate stage id 'x' in stage 'each'"
expect_err "stage 'nope'"
expect_err "bad.yml:13:18: error: 'match' must be a list of entries"
expect_err "bad.yml:15:21: error: 'parallel' must be a map of branch names to stage lists"
expect_err "trigger cycle: workflow 'bad' triggers itself"

# --- in-process loops (stages that need no process) still obey timeouts and signals ------------
cat > spin.yml <<'EOF'
spin:
  type: Workflow
  jobs:
    a:
      stages:
        - name: spin
          until: ${{ item == 'never' }}
          max-loop: 100000
          stages:
            - name: e
              echo: x
EOF
out=$(timeout 60 "$WF_BIN" run spin.yml --timeout 1 2>&1); rc=$?
expect_rc 3 "until loop of echo stages: the run's --timeout stops it"
expect_out "TimeoutError: workflow timeout of 1s reached" "until loop: --timeout"
sed 's/          max-loop: 100000/          max-loop: 100000\n          timeout: 1/' spin.yml > spin-stage.yml
out=$(timeout 60 "$WF_BIN" run spin-stage.yml 2>&1); rc=$?
expect_rc 1 "until loop of echo stages: the stage's own timeout fails it"
expect_out "TimeoutError: stage timed out" "until loop: stage timeout"
timeout 60 "$WF_BIN" run spin.yml > spin-int.out 2>&1 &
spinpid=$!
sleep 1
kill -INT "$spinpid"
wait "$spinpid"; rc=$?
out=$(cat spin-int.out)
expect_rc 130 "until loop of echo stages: SIGINT stops it"
expect_out "CancelError: interrupted by SIGINT" "until loop: SIGINT"

finish
