#!/usr/bin/env bash
# `wf validate`: every class of bad input with its exact message, position, source line and
# caret, exit code 2; every problem reported, not just the first; warnings and notes; both file
# layouts; directories, duplicates across files and .confignore (FORMAT §1, §3, §5.1, §6, §7).
source "$(dirname "$0")/lib.sh"

# expect_diag FILE LINE COL MESSAGE: stderr has "FILE:LINE:COL: MESSAGE", then the source line
# LINE of FILE, then a caret under column COL of that source line.
expect_diag() {
  local file=$1 line=$2 col=$3 head="$1:$2:$3: $4" src shown="" caret="" state=0 l indent want
  src=$(sed -n "${line}p" "$file")
  while IFS= read -r l; do
    case $state in
      0) [ "$l" == "$head" ] && state=1 ;;
      1) shown=$l; state=2 ;;
      2) caret=$l; state=3; break ;;
    esac
  done <<< "$err"
  if [ $state = 0 ]; then fail_test "missing diagnostic: $head"; return; fi
  if [ $state != 3 ] || [[ "$shown" != *"$src" ]]; then
    fail_test "$head: the source line should follow (got '$shown')"; return; fi
  indent=$(( ${#shown} - ${#src} ))
  want=${shown:0:indent+col-1}
  want="${want//[^$'\t']/ }^"          # a tab before the column may be echoed as a tab
  caret=${caret%"${caret##*[! ]}"}
  if [ "$caret" == "$want" ]; then pass_test; else fail_test "$head: caret '$caret' should be '$want'"; fi
}

ok_flow() { # a valid workflow body with one job (stdout)
  printf '%s:\n  type: Workflow\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi\n' "$1"
}

# --- invalid YAML, with line:col ----------------------------------------------------------------
cat > badyaml.yml <<'EOF'
w:
  type: Workflow
  jobs:
    a:
      stages: [
        - name: x
EOF
wf validate badyaml.yml
expect_rc 2 "invalid YAML"
expect_diag badyaml.yml 6 9 "error: invalid YAML: illegal block entry"
expect_err "wf: 1 error, 0 warnings in 1 file" "invalid YAML summary"
expect_eq "$out" "" "diagnostics go to stderr, not stdout"

cat > tab.yml <<'EOF'
w:
	type: Workflow
EOF
wf validate tab.yml
expect_rc 2 "tab in YAML"
expect_err "tab.yml:2:" "tab in YAML has a position"
expect_err "error: invalid YAML" "tab in YAML"

# --- unknown keys with did-you-mean, at every level; x- keys are free ---------------------------
cat > unknown.yml <<'EOF'
x-defaults: &defaults
  anything: [1, 2]
w:
  type: Workflow
  paramz: {}
  x-owner: team-a
  params:
    p: {type: str, defualt: x, x-ui: hidden}
    q: {type: str, colour: red}
  jobs:
    a:
      x-note: hi
      need: []
      stages:
        - name: s
          x-anything: 1
          bsh: echo hi
        - name: t
          bash: echo hi
          timout: 5
        - name: u
          echo: hi
          zzzzzzzz: 1
    b:
      params: {}
      stages:
        - name: q
          echo: hi
EOF
wf validate unknown.yml
expect_rc 2 "unknown keys"
expect_diag unknown.yml 5 3 "error: unknown key 'paramz' in workflow 'w'; did you mean 'params'?"
expect_diag unknown.yml 8 20 "error: unknown key 'defualt' in param 'p'; did you mean 'default'?"
expect_diag unknown.yml 9 20 "error: unknown key 'colour' in param 'q'"
expect_diag unknown.yml 13 7 "error: unknown key 'need' in job 'a'; did you mean 'needs'?"
expect_diag unknown.yml 17 11 "error: unknown key 'bsh' in stage 's'; did you mean 'bash'?"
expect_diag unknown.yml 20 11 "error: unknown key 'timout' in stage 't'; did you mean 'timeout'?"
expect_diag unknown.yml 23 11 "error: unknown key 'zzzzzzzz' in stage 'u'"
expect_diag unknown.yml 25 7 "error: unknown key 'params' in job 'b'"
expect_no_err "did you mean 'red'" "no suggestion for far keys"
expect_no_err "'zzzzzzzz' in stage 'u';" "no suggestion for far keys"
expect_no_err "key 'x-" "x- keys are ignored everywhere"
expect_err "wf: 8 errors, 0 warnings in 1 file" "every problem is reported"

# underscore spellings are the same keys
cat > underscore.yml <<'EOF'
w:
  type: Workflow
  max_job_parallel: 2
  jobs:
    a:
      stages: [{name: s, echo: hi}]
    b:
      needs: a
      trigger_rule: all_done
      continue_on_error: true
      stages: [{name: s, echo: hi, continue_on_error: true, working_directory: .}]
EOF
wf validate underscore.yml
expect_rc 0 "ddeutil underscore spellings"
expect_out "ok: 1 workflow in 1 file" "underscore spellings"

# --- needs: unknown job, cycle -------------------------------------------------------------------
cat > graph.yml <<'EOF'
w:
  type: Workflow
  jobs:
    a:
      needs: [c]
      stages: [{name: s, echo: hi}]
    b:
      needs: a
      stages: [{name: s, echo: hi}]
    c:
      needs: [b]
      stages: [{name: s, echo: hi}]
    d:
      needs: [ghost]
      stages: [{name: s, echo: hi}]
    e:
      needs: e
      stages: [{name: s, echo: hi}]
EOF
wf validate graph.yml
expect_rc 2 "graph errors"
expect_diag graph.yml 14 15 "error: job 'd' needs unknown job 'ghost'"
if [[ "$err" =~ "graph.yml:"[0-9]+:[0-9]+": error: workflow 'w' has a cycle in 'needs': "("a -> c -> b -> a"|"c -> b -> a -> c"|"b -> a -> c -> b"|"a -> b -> c -> a"|"b -> c -> a -> b"|"c -> a -> b -> c") ]]; then
  pass_test; else fail_test "the cycle a/b/c is named"; fi
expect_diag graph.yml 17 14 "error: job 'e' needs itself"
expect_err "wf: 3 errors, 0 warnings in 1 file" "graph: every problem"

# --- stages: duplicate id, ambiguous type, docker, runs-on, no name ------------------------------
cat > stages.yml <<'EOF'
stagey:
  type: Workflow
  jobs:
    a:
      stages:
        - name: one
          id: x
          echo: hi
        - name: two
          id: x
          echo: hi
        - name: amb
          bash: echo hi
          raise: boom
        - name: docker
          image: alpine:3
          bash: echo hi
        - echo: no name at all
    b:
      runs-on: {type: k8s}
      stages:
        - name: one
          id: x
          echo: the same id in another job is fine
EOF
wf validate stages.yml
expect_rc 2 "stage errors"
expect_diag stages.yml 10 15 "error: duplicate stage id 'x' in job 'a'"
expect_diag stages.yml 14 11 "error: ambiguous stage: it has both 'bash' and 'raise'; a stage has exactly one type key"
expect_diag stages.yml 16 11 "error: docker stages ('image:') are not supported by wf"
expect_diag stages.yml 18 11 "error: a stage needs 'name:' or 'id:'"
expect_diag stages.yml 20 16 "error: runs-on type 'k8s' is not supported (supported: local, slurm)"
expect_no_err "in job 'b'" "ids are per job"
expect_err "wf: 5 errors, 0 warnings in 1 file" "stages: every problem"

# --- params: unknown type ----------------------------------------------------------------------
cat > ptype.yml <<'EOF'
w:
  type: Workflow
  params:
    q: {type: strng}
    r: integer
  jobs:
    a:
      stages: [{name: s, echo: hi}]
EOF
wf validate ptype.yml
expect_rc 2 "unknown param type"
expect_diag ptype.yml 4 15 "error: unknown param type 'strng' for param 'q' (types: str int float decimal bool date datetime choice array map)"
expect_err "ptype.yml:5:8: error: unknown param type 'integer' for param 'r'" "shorthand unknown type"

# --- expressions ------------------------------------------------------------------------------
cat > expr.yml <<'EOF'
w:
  type: Workflow
  params:
    source: str
  jobs:
    a:
      outputs:
        o: ${{ stages.later.outputs.x }}
      stages:
        - name: s1
          echo: "value ${{ params.source == }}"
        - name: s2
          echo: ${{ foo.bar }}
        - name: s3
          echo: ${{ needs.b.outputs.x }}
        - name: s4
          echo: ${{ params.sorce }}
        - name: s5
          echo: ${{ stages.later.outputs.x }}
        - name: later
          id: later
          echo: hi
        - name: s7
          if: params.source ==
          echo: x
        - name: s8
          env: {A: "${{ params.source }} and ${{ params.source = 'x' }}"}
          echo: ${{ stages.nowhere.outputs.x }}
    b:
      stages:
        - name: s
          echo: ${{ needs.a.result }}
EOF
wf validate expr.yml
expect_rc 2 "expression errors"
expect_diag expr.yml 11 44 "error: unexpected end of expression at column 17 in 'params.source =='"
expect_diag expr.yml 13 21 "error: unknown name 'foo' in expression"
expect_diag expr.yml 15 21 "error: job 'a' reads needs.b but 'b' is not in its 'needs'"
expect_diag expr.yml 17 21 "warning: undeclared param 'sorce'; did you mean 'source'?"
expect_diag expr.yml 19 21 "error: stages.later is read before stage 'later' runs"
expect_diag expr.yml 24 31 "error: unexpected end of expression at column 17 in 'params.source =='"
expect_diag expr.yml 27 64 "error: unexpected character '=' (did you mean '=='?) at column 15 in 'params.source = 'x''"
expect_diag expr.yml 28 21 "error: no stage 'nowhere' earlier in job 'a'"
expect_diag expr.yml 32 21 "error: job 'b' reads needs.a but 'a' is not in its 'needs'"
expect_no_err "expr.yml:8:" "job outputs may read any stage of the job"
expect_err "wf: 8 errors, 1 warning in 1 file" "expressions: every problem"

# An undeclared param is a warning (the seed reference's own files read some); it fails the
# stage that evaluates it, at run time, with the missing path in the message.
cat > und.yml <<'EOF'
und:
  type: Workflow
  params:
    source: str
  jobs:
    a:
      stages:
        - name: s
          echo: ${{ params.sorce }}
EOF
wf validate und.yml
expect_rc 0 "undeclared param is a warning"
expect_diag und.yml 9 21 "warning: undeclared param 'sorce'; did you mean 'source'?"
expect_out "ok: 1 workflow in 1 file, 1 warning" "undeclared param is a warning"
wf run und.yml
expect_rc 1 "undeclared param fails the stage"
expect_out "TemplateError: params.sorce: key 'sorce' not found in 'params'" "undeclared param at run time"

# --- the params-in-bash warning: exit 0 -----------------------------------------------------------
cat > warn.yml <<'EOF'
warned:
  type: Workflow
  params:
    source: str
  jobs:
    a:
      stages:
        - name: s
          bash: |
            echo start
            cp ${{ params.source }} /tmp/x
        - name: fine
          env: {SRC: "${{ params.source }}"}
          bash: echo "$SRC" ${{ params.source | shell_quote }}
EOF
wf validate warn.yml
expect_rc 0 "a warning is not an error"
expect_diag warn.yml 11 20 "warning: '\${{ params.source }}' is pasted into the script as text; pass it through env: and use \"\$VAR\", or '| shell_quote'"
expect_out "ok: 1 workflow in 1 file, 1 warning" "warning summary"
expect_no_err "warn.yml:14" "shell_quote does not warn"
expect_no_err "warn.yml:13" "env: does not warn"

# --- several files: every problem of every file ---------------------------------------------------
wf validate warn.yml expr.yml stages.yml
expect_rc 2 "several files"
expect_err "wf: 13 errors, 2 warnings in 3 files" "several files: every problem"
expect_err "stages.yml:14:11: error: ambiguous stage" "several files"
expect_err "warn.yml:11:20: warning:" "several files"

wf validate nonexistent.yml
expect_rc 2 "missing file"
expect_err "nonexistent.yml: error: no such file or directory" "missing file"

# --- file layouts, empty files, other types, top-level key checks ---------------------------------
mkdir -p layouts
ok_flow one > layouts/map.yml
ok_flow two >> layouts/map.yml
cat > layouts/single.yaml <<'EOF'
name: single-body
type: Workflow
desc: one workflow body with a top-level name
jobs:
  a:
    stages: [{name: s, echo: single}]
EOF
: > layouts/empty.yml
printf '# only a comment\n' > layouts/comment.yml
cat > layouts/notes.yml <<'EOF'
cal:
  type: Calendar
  anything: goes
three:
  type: Workflow
  jobs:
    a:
      stages: [{name: s, echo: hi}]
EOF
wf validate layouts/empty.yml
expect_rc 0 "empty file"
expect_out "ok: 0 workflows in 1 file" "empty file"
wf validate layouts
expect_rc 0 "layouts directory"
expect_out "ok: 4 workflows in 5 files" "layouts directory"
expect_diag layouts/notes.yml 2 9 "note: 'cal' is skipped: type 'Calendar' is not a workflow"
wf --conf layouts list
expect_rc 0 "list layouts"
expect_out "single-body" "single body is found by name"
expect_no_out "cal " "notes are not workflows"
wf --conf layouts run single-body
expect_rc 0 "run single body by name"
expect_out "a/s | single" "run single body by name"

cat > single-bad.yml <<'EOF'
name: single-two
type: Workflow
jobz: {}
EOF
wf validate single-bad.yml
expect_rc 2 "single body with unknown key"
expect_diag single-bad.yml 3 1 "error: unknown key 'jobz' in workflow 'single-two'; did you mean 'jobs'?"

printf 'w:\n  jobs: {}\n' > notype.yml
wf validate notype.yml
expect_rc 2 "no type"
expect_diag notype.yml 1 1 "error: 'w' has no 'type:'; a workflow needs 'type: Workflow'"

printf 'w:\n  type: Workflow\n' > nojobs.yml
wf validate nojobs.yml
expect_rc 2 "no jobs"
expect_diag nojobs.yml 1 1 "error: workflow 'w' has no 'jobs:'"

# YAML 1.2: yes/no/on/off are strings, so `yes` is not a boolean.
cat > y12.yml <<'EOF'
w:
  type: Workflow
  on:
    - manual: true
  params:
    word: {type: str, default: on}
  jobs:
    a:
      continue-on-error: yes
      stages: [{name: s, echo: "${{ params.word }}"}]
EOF
wf validate y12.yml
expect_rc 2 "yes is not a boolean"
expect_diag y12.yml 9 26 "error: continue-on-error must be true or false"
sed -i 's/continue-on-error: yes/continue-on-error: TRUE/' y12.yml
wf run y12.yml
expect_rc 0 "TRUE is a boolean, on is a string"
expect_out "a/s | on" "on is the string 'on'"

# --- the same workflow name in two files ----------------------------------------------------------
mkdir -p dup/sub
ok_flow alpha > dup/a.yml
ok_flow beta > dup/b.yml
ok_flow alpha > dup/sub/again.yml
wf validate dup
expect_rc 2 "duplicate name"
expect_diag dup/sub/again.yml 1 1 "error: workflow 'alpha' is defined twice: in dup/a.yml:1 and in dup/sub/again.yml:1"
wf validate dup/a.yml dup/sub/again.yml
expect_rc 2 "duplicate name across two file arguments"
expect_err "workflow 'alpha' is defined twice: in dup/a.yml:1 and in dup/sub/again.yml:1" "duplicate name, files"
wf --conf dup run alpha
expect_rc 2 "running a duplicated name is an error"
expect_err "workflow 'alpha' is defined twice: in dup/a.yml:1 and in dup/sub/again.yml:1" "run a duplicated name"
expect_no_out "a/s | hi" "run a duplicated name runs nothing"
wf --conf dup list
expect_rc 2 "list with a duplicate"
expect_err "workflow 'alpha' is defined twice" "list with a duplicate"

# --- .confignore ----------------------------------------------------------------------------------
mkdir -p ign/skip ign/keep ign/deep/tmp
ok_flow kept > ign/keep/k.yml
printf 'this: is: [not yaml\n' > ign/skip/broken.yml
printf 'this: is: [not yaml\n' > ign/scratch.tmp.yml
printf 'this: is: [not yaml\n' > ign/deep/tmp/x.yaml
ok_flow negated > ign/deep/tmp/keep-me.yml
printf '# comment\nskip/\n*.tmp.yml\ndeep/tmp/*\n!deep/tmp/keep-me.yml\n' > ign/.confignore
wf validate ign
expect_rc 0 ".confignore skips matching paths"
expect_out "ok: 2 workflows in 2 files" ".confignore"
expect_no_err "broken.yml" ".confignore skip/"
expect_no_err "scratch.tmp.yml" ".confignore *.tmp.yml"
expect_no_err "x.yaml" ".confignore deep/tmp/*"
wf --conf ign run negated
expect_rc 0 ".confignore negation keeps the file"
rm ign/.confignore
wf validate ign
expect_rc 2 "without .confignore the broken files are read"
expect_err "ign/skip/broken.yml:1:" "without .confignore"

# --- a valid file says ok on stdout and nothing on stderr ---------------------------------------
ok_flow fine > fine.yml
wf validate fine.yml
expect_rc 0 "valid file"
expect_eq "$out" "ok: 1 workflow in 1 file" "valid file stdout"
expect_eq "$err" "" "valid file stderr"

# --- hostile input: each is a positioned error (exit 2), never a crash, a hang or a flood --------
mkdir -p hostile
printf 'w:\n  type: Workflow\n  params:\n    x:\n      type: int\n      default: 1e400\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi\n' > hostile/float.yml
wf validate hostile/float.yml
expect_rc 2 "number past a double"
expect_err "hostile/float.yml:6:16: error: number 1e400 is out of range" "number past a double"
printf 'w:\n  type: Workflow\n  params:\n    x:\n      type: int\n      default: %s\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi\n' "$(printf '9%.0s' $(seq 400))" > hostile/int.yml
wf validate hostile/int.yml
expect_rc 2 "400-digit integer"
expect_err "hostile/int.yml:6:16: error: number 9999" "400-digit integer"
# a long line is shown as a window around the column, not whole
expect_eq "$(printf '%s\n' "$err" | awk '/^  / { if (length($0) > m) m = length($0) } END { print (m > 100 && m <= 130) }')" 1 "long line clipped"
printf 'w:\n  type: Workflow\n  params:\n    x:\n      type: int\n      default: 12345678901234567890123\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi\n' > hostile/wide.yml
wf validate hostile/wide.yml
expect_rc 0 "an integer past 64 bits is a double"
expect_no_err "out of range" "an integer past 64 bits is a double"
printf 'a: &a [*a]\n' > hostile/self.yml
wf validate hostile/self.yml
expect_rc 2 "self-referencing alias"
expect_err "hostile/self.yml:1:8: error: invalid YAML: alias *a is inside the node it refers to" "self-referencing alias"
python3 -c "print('a: ' + '['*100000 + ']'*100000)" > hostile/flow.yml
python3 -c "print('- '*100000 + 'x')" > hostile/block.yml
for f in flow block; do
  wf validate hostile/$f.yml
  expect_rc 2 "100000 levels of $f nesting"
  expect_err "error: invalid YAML: nested deeper than 256 levels" "100000 levels of $f nesting"
done
{ echo 'a: &a [x,x,x,x,x,x,x,x,x,x]'; p=a; for n in b c d e f g h i j; do printf '%s: &%s [' $n $n; for _ in 1 2 3 4 5 6 7 8 9; do printf '*%s,' $p; done; printf '*%s]\n' $p; p=$n; done; } > hostile/laughs.yml
wf validate hostile/laughs.yml
expect_rc 2 "a billion laughs"
expect_err "hostile/laughs.yml:6:" "a billion laughs: where the expansion passes the limit"
expect_err "more than 1000000 values" "a billion laughs"
# 256 levels are fine
python3 -c "
print('w:\n  type: Workflow\n  extras:\n    deep: ' + '['*250 + ']'*250 + '\n  jobs:\n    a:\n      stages:\n        - name: s\n          echo: hi')" > hostile/deep-ok.yml
wf validate hostile/deep-ok.yml
expect_rc 0 "250 levels of nesting are fine"
# durations past any clock: an error in validate (literal) and at run time (template), not an overflow
printf 'w:\n  type: Workflow\n  params:\n    t: {type: str, default: "1e308"}\n  jobs:\n    a:\n      timeout: nan\n      stages:\n        - name: s\n          sleep: 1e308\n        - name: t\n          timeout: ${{ params.t }}\n          bash: echo ok\n' > hostile/dur.yml
wf validate hostile/dur.yml
expect_rc 2 "durations out of range"
expect_err "hostile/dur.yml:7:16: error: timeout must be a number of seconds up to 1000000000" "job timeout nan"
expect_err "hostile/dur.yml:10:18: error: sleep must be a number of seconds up to 1000000000" "sleep 1e308"
sed -i 's/      timeout: nan/      timeout: 60/; s/sleep: 1e308/sleep: 0/' hostile/dur.yml
wf run hostile/dur.yml
expect_rc 1 "a templated timeout out of range fails its stage"
expect_out "StageError: stage timeout must be a number of seconds up to 1000000000" "templated timeout"
# numeric options say their range in words
for opt in "-j 0" "-j 2147483648" "--kill-grace nan" "--kill-grace 1e300" "--timeout 1.5"; do
  wf run hostile/dur.yml $opt
  expect_rc 2 "run $opt"
  expect_err "expects a" "run $opt: readable message"
done
wf runs --since 99999999999999999d
expect_rc 2 "runs --since past 100 years"
expect_err "--since accepts at most 36500d" "runs --since past 100 years"

# not a regular file: a directory, an endless device; a FIFO in a conf dir is skipped
ok_flow fine > fine-p.yml
wf run fine-p.yml --params-file "$TEST_TMP"
expect_rc 2 "--params-file DIR"
expect_err "cannot read params file $TEST_TMP: it is a directory" "--params-file DIR"
wf run fine-p.yml --params-file /dev/zero
expect_rc 2 "--params-file /dev/zero"
expect_err "cannot read params file /dev/zero: it is larger than 64 MiB" "--params-file /dev/zero"
wf run fine-p.yml --params-file <(printf 'x: 1\n')
expect_rc 2 "--params-file <(...) is read (x is not a param of the workflow)"
expect_err "x" "--params-file <(...) is read"
mkdir -p fifo-conf && ok_flow fine > fifo-conf/fine.yml && mkfifo fifo-conf/pipe.yml
out=$(timeout 10 "$WF_BIN" validate fifo-conf 2>&1); rc=$?
expect_rc 0 "a FIFO named *.yml in a directory is skipped, not read"
expect_eq "$out" "ok: 1 workflow in 1 file" "a FIFO in a directory"

# --- validate records nothing ---------------------------------------------------------------
WF_STATE_DIR="$TEST_TMP/validate-state" wf validate fine.yml expr.yml
expect_rc 2 "validate with a fresh state dir"
if [ -e "$TEST_TMP/validate-state/wf.db" ]; then fail_test "validate created a state file"; else pass_test; fi

finish
