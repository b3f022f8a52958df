#!/usr/bin/env bash
# The man page and the shell completions against the real `wf --help`: every command and
# every option that the help prints is documented in its section of man/wf.1 and offered by
# the bash completion; the man page renders without warnings; the zsh and fish scripts parse;
# `wf completion SHELL` prints exactly the files in completions/; and `wf __complete` gives
# the completion scripts workflow names, job names and run ids.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MAN="$WF_SRC/man/wf.1"
COMP="$WF_SRC/completions"

skip() { echo "SKIP: $1"; }

# help_commands: the subcommands `wf --help` lists, one per line.
help_commands() {
  "$WF_BIN" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

# help_options ARGS...: the option names (-x and --xxx) that `wf ARGS --help` lists.
help_options() {
  "$WF_BIN" "$@" --help | awk '
    /^[A-Za-z].*:$/ { on = ($0 == "Options:"); next }
    on && /^  +-/ { n = split($1, names, ","); for (i = 1; i <= n; i++) print names[i] }'
}

# man_section NAME: the text of the man page subsection `.SS "wf NAME ..."`, or of the
# GLOBAL OPTIONS section for NAME=GLOBAL, with roff escapes removed.
man_section() {
  awk -v want="$1" '
    /^\.SH/ { cur = ($0 ~ /GLOBAL OPTIONS/) ? "GLOBAL" : ""; next }
    /^\.SS/ {
      line = $0
      gsub(/\\f[BIRP]/, "", line); gsub(/"/, "", line)
      split(line, w, " ")
      cur = (w[2] == "wf") ? w[3] : ""
      next
    }
    cur == want { print }' "$MAN" | sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\(em/-/g'
}

# has_option TEXT OPTION: OPTION appears in TEXT as a whole word.
has_option() {
  grep -qE -- "(^|[^A-Za-z0-9-])$2([^A-Za-z0-9-]|$)" <<<"$1"
}

# bash_complete WORDS...: the completions bash offers for the command line WORDS (the last
# word is the one being completed), from completions/wf.bash, with $WF_BIN as the command.
bash_complete() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _wf; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$COMP/wf.bash" "$WF_BIN" "$@" 2>&1
}

# offers WORD: the last bash_complete output ($out) has WORD as one of its lines.
offers() { grep -qxF -- "$1" <<<"$out"; }

expect_offers() {
  local w
  for w in "$@"; do
    if offers "$w"; then pass_test; else fail_test "completion of '$line' should offer $w"; fi
  done
}

# --- the man page documents every command and option of --help ------------------------------

commands=$(help_commands)
if [ -z "$commands" ]; then
  rc=1 out="" err=""
  fail_test "could not read the subcommands from wf --help"
fi

section=$(man_section GLOBAL)
for opt in $(help_options); do
  rc=0 out="" err=""
  if has_option "$section" "$opt"; then pass_test; else fail_test "global option $opt is not in GLOBAL OPTIONS of man/wf.1"; fi
done

for cmd in $commands; do
  section=$(man_section "$cmd")
  rc=0 out="" err=""
  if [ -z "$section" ]; then
    fail_test "man/wf.1 has no subsection '.SS \"wf $cmd ...\"' for command $cmd"
    continue
  fi
  pass_test
  for opt in $(help_options "$cmd"); do
    case $opt in -h | --help) continue ;; esac
    if has_option "$section" "$opt"; then pass_test; else fail_test "option $opt of 'wf $cmd' is not in its section of man/wf.1"; fi
  done
done

# The hidden helper stays hidden.
wf --help
expect_no_out "__complete" "wf --help:"

# Sections and names the man page must have.
for s in NAME SYNOPSIS DESCRIPTION COMMANDS "FILE FORMAT" ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
  if grep -q "^\.SH \"\?$s\"\?\$" "$MAN"; then pass_test; else rc=0 out="" err="" fail_test "man/wf.1 has no .SH $s"; fi
done
plain_man=$(sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' "$MAN")
for v in WF_CONF_PATH WF_STATE_DIR WF_TIMEOUT WF_MAX_JOB_PARALLEL WF_PYTHON WF_PARAM_ NO_COLOR XDG_STATE_HOME \
  WORKFLOW_CORE_CONF_PATH WORKFLOW_CORE_TIMEOUT WORKFLOW_CORE_MAX_JOB_PARALLEL wf.db docs/format.md; do
  if grep -qF -- "$v" <<<"$plain_man"; then pass_test; else rc=0 out="" err="" fail_test "man/wf.1 does not mention $v"; fi
done
for code in 0 1 2 3 4 5 130 143; do
  if sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$MAN" | grep -qx "\.B $code"; then pass_test
  else rc=0 out="" err="" fail_test "EXIT STATUS of man/wf.1 does not list $code"; fi
done

# --- the man page renders without warnings -----------------------------------------------------

if command -v man >/dev/null 2>&1; then
  warnings=$(MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
  rc=$? out="" err=$warnings
  if [ "$rc" -eq 0 ] && [ -z "$warnings" ]; then pass_test; else fail_test "man --warnings -l man/wf.1 warns"; fi
else
  skip "man is not installed: the man page rendering is not checked"
fi
if command -v groff >/dev/null 2>&1; then
  warnings=$(groff -man -ww -z "$MAN" 2>&1)
  rc=$? out="" err=$warnings
  if [ "$rc" -eq 0 ] && [ -z "$warnings" ]; then pass_test; else fail_test "groff -man -ww warns on man/wf.1"; fi
else
  skip "groff is not installed: groff -ww is not checked"
fi

# --- bash completion: commands and options ------------------------------------------------------

line="wf r"
out=$(bash_complete r) rc=$? err=""
expect_offers run rerun runs
if offers validate; then fail_test "completion of 'wf r' should not offer validate"; else pass_test; fi

line="wf run --"
out=$(bash_complete run --) rc=$? err=""
expect_offers --dry-run --param --job --exclude --conf

line="wf "
out=$(bash_complete "") rc=$? err=""
expect_offers $commands
if offers __complete; then fail_test "completion of 'wf ' should not offer __complete"; else pass_test; fi

line="wf -"
out=$(bash_complete -) rc=$? err=""
expect_offers $(help_options | grep -e '^--')

for cmd in $commands; do
  line="wf $cmd --"
  out=$(bash_complete "$cmd" --) rc=$? err=""
  expect_offers $(help_options "$cmd" | grep -e '^--')
done

line="wf --color "
out=$(bash_complete --color "") rc=$? err=""
expect_offers auto always never
line="wf --color=al"
out=$(bash_complete --color = al) rc=$? err=""
expect_offers always
line="wf graph x --format "
out=$(bash_complete graph x --format "") rc=$? err=""
expect_offers mermaid dot
line="wf runs --status "
out=$(bash_complete runs --status "") rc=$? err=""
expect_offers SUCCESS FAILED
line="wf completion "
out=$(bash_complete completion "") rc=$? err=""
expect_offers bash zsh fish

# --- zsh and fish scripts parse -----------------------------------------------------------------

if command -v zsh >/dev/null 2>&1; then
  err=$(zsh -n "$COMP/_wf" 2>&1) rc=$? out=""
  expect_rc 0 "zsh -n completions/_wf:"
else
  skip "zsh is not installed: completions/_wf is not checked"
fi
if command -v fish >/dev/null 2>&1; then
  err=$(fish -n "$COMP/wf.fish" 2>&1) rc=$? out=""
  expect_rc 0 "fish -n completions/wf.fish:"
  line="wf r (fish)"
  out=$(fish -c 'source $argv[1]; complete -C "wf r"' "$COMP/wf.fish" 2>&1 | cut -f1) rc=$? err=""
  expect_offers run rerun runs
  line="wf run --d (fish)"
  out=$(fish -c 'source $argv[1]; complete -C "wf run --d"' "$COMP/wf.fish" 2>&1 | cut -f1) rc=$? err=""
  expect_offers --dry-run
else
  skip "fish is not installed: completions/wf.fish is not checked"
fi

# --- wf completion and wf __complete ------------------------------------------------------------

if ! "$WF_BIN" completion --help >/dev/null 2>&1; then
  skip "'wf completion' is not registered in this build: completion and __complete are not checked"
  finish
  exit
fi

for pair in bash:wf.bash zsh:_wf fish:wf.fish; do
  shell=${pair%%:*} file=${pair#*:}
  "$WF_BIN" completion "$shell" >"$TEST_TMP/completion.$shell" 2>"$TEST_TMP/.stderr"
  rc=$? out="" err=$(cat "$TEST_TMP/.stderr")
  expect_rc 0 "wf completion $shell:"
  if cmp -s "$TEST_TMP/completion.$shell" "$COMP/$file"; then pass_test
  else fail_test "wf completion $shell differs from completions/$file (src/cli/completion.cpp holds a copy: edit both)"; fi
done
wf completion tcsh
expect_rc 2 "wf completion tcsh:"

mkdir -p conf/sub
cat >conf/etl.yml <<'EOF'
etl:
  type: Workflow
  jobs:
    extract: {stages: [{name: e, echo: extracting}]}
    load: {needs: extract, stages: [{name: l, echo: loading}]}
EOF
cat >conf/sub/more.yaml <<'EOF'
report:
  type: Workflow
  jobs:
    render: {stages: [{name: r, echo: rendering}]}
nightly:
  type: Workflow
  jobs:
    main: {stages: [{name: m, echo: nightly}]}
EOF

wf __complete workflows --conf conf
expect_rc 0 "__complete workflows:"
expect_eq "$out" $'etl\nnightly\nreport' "__complete workflows --conf conf:"
wf --conf conf __complete workflows
expect_eq "$out" $'etl\nnightly\nreport' "--conf before __complete:"
WF_CONF_PATH=conf/sub wf __complete workflows
expect_eq "$out" $'nightly\nreport' "__complete workflows with WF_CONF_PATH:"
wf __complete workflows conf/sub/more.yaml
expect_eq "$out" $'report\nnightly' "__complete workflows FILE:"
wf __complete jobs conf/etl.yml
expect_eq "$out" $'extract\nload' "__complete jobs FILE:"
wf __complete jobs etl --conf conf
expect_eq "$out" $'extract\nload' "__complete jobs NAME:"

# Nothing (and exit 0) on errors, and no state file created by asking for runs.
wf __complete runs
expect_rc 0 "__complete runs without a state file:"
expect_eq "$out" "" "__complete runs without a state file:"
if [ -e "$WF_STATE_DIR/wf.db" ]; then fail_test "__complete runs created a state file"; else pass_test; fi
for args in "jobs /nonexistent.yml" "jobs nosuchworkflow" "workflows /nonexistent.yml" "bogus" ""; do
  wf __complete $args --conf conf
  expect_rc 0 "__complete $args:"
  expect_eq "$out$err" "" "__complete $args prints nothing:"
done

wf run conf/etl.yml -q
expect_rc 0 "run etl:"
id=$(last_run_id)
wf __complete runs
expect_eq "$out" "$id" "__complete runs:"
wf __complete jobs "${id:0:12}"
expect_eq "$out" $'extract\nload' "__complete jobs RUN_ID_PREFIX:"

# The bash completion passes --conf on to the helper.
line="wf --conf conf run "
out=$(bash_complete --conf conf run "") rc=$? err=""
expect_offers etl nightly report
line="wf run conf/etl.yml --job "
out=$(bash_complete run conf/etl.yml --job "") rc=$? err=""
expect_offers extract load
line="wf show "
out=$(bash_complete show "") rc=$? err=""
expect_offers "$id"
line="wf logs ID "
out=$(bash_complete logs "$id" "") rc=$? err=""
expect_offers extract load

finish
