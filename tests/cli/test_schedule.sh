#!/usr/bin/env bash
# Schedules, releases, audit and ticks (FORMAT §4, §10; CLI.md rows release, tick, schedule,
# audit, list): `on:` in both forms, cron validation in `wf validate`, exact next fire times
# (DST gap and overlap), `wf list`, `wf release` (schedule check, types normal/force/dryrun/
# rerun/event, dedupe, logical date, audit), `wf audit` and `wf tick` (first tick, catch-up
# modes, misfires, window, overlapping ticks, exit codes, -q). Stages append their logical minute
# to marker files under m/ so the tests can count what actually ran.
source "$(dirname "$0")/lib.sh"

mkdir -p m
count() { if [ -f "m/$1" ]; then wc -l < "m/$1" | tr -d ' '; else echo 0; fi; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }
audit_rows() { if [ -f "$WF_STATE_DIR/wf.db" ]; then sql "SELECT count(*) FROM audit WHERE workflow = '$1'${2:+ AND $2}"; else echo 0; fi; }
runs_of() { sql "SELECT count(*) FROM runs WHERE workflow = '$1'"; }
ms() { python3 -c "import datetime,sys; print(int(datetime.datetime.fromisoformat(sys.argv[1]).timestamp())*1000)" "$1"; }

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
  want="${want//[^$'\t']/ }^"
  caret=${caret%"${caret##*[! ]}"}
  if [ "$caret" == "$want" ]; then pass_test; else fail_test "$head: caret '$caret' should be '$want'"; fi
}

# === wf validate: cron and time zones ==========================================================
cat > badcron.yml <<'EOF'
bad:
  type: Workflow
  on:
    - cron: "0 25 * * *"
    - cron: "0 0 * * *"
      timezone: "Mars/Olympus"
    - cron: "0 0 30 2 *"
    - manual: true
  jobs:
    j:
      stages:
        - name: s
          echo: hi
dd:
  type: Workflow
  on:
    schedule:
      - cronjob: "*/0 * * * *"
        tz: Asia/Bangkok
      - cronjob: "0 0 * * FOO"
      - cronjob: "0 0 * * *"
        tz: Nowhere/Land
      - cronjob: "@reboot"
  jobs:
    j:
      stages:
        - name: s
          echo: hi
EOF
wf validate badcron.yml
expect_rc 2 "invalid cron and zones are errors"
expect_diag badcron.yml 4 13 "error: invalid cron expression '0 25 * * *': hour value 25 is out of range (0-23)"
expect_diag badcron.yml 6 17 "error: unknown time zone 'Mars/Olympus'"
expect_diag badcron.yml 7 13 "warning: cron expression '0 0 30 2 *' can never fire"
expect_diag badcron.yml 18 18 "error: invalid cron expression '*/0 * * * *': minute step 0 is out of range (1-60)"
expect_diag badcron.yml 20 18 "error: invalid cron expression '0 0 * * FOO': day-of-week value 'FOO' is not a number or day name (SUN-SAT)"
expect_diag badcron.yml 22 13 "error: unknown time zone 'Nowhere/Land'"
expect_err "'@reboot'" "an unknown alias is an error"
expect_err "6 errors, 1 warning" "every problem is reported"

cat > never.yml <<'EOF'
never:
  type: Workflow
  on:
    - cron: "0 0 30 2 *"
  jobs:
    j:
      stages:
        - name: s
          echo: hi
EOF
wf validate never.yml
expect_rc 0 "a never-firing expression is only a warning"
expect_diag never.yml 4 13 "warning: cron expression '0 0 30 2 *' can never fire"

for c in "0 9 * * mon-fri" "0 0 1,15 JAN,jul 7" "@daily" "*/15 8-18/2 * * 1-5" "0 0 1 1 * 2030" "@midnight"; do
  printf 'ok:\n  type: Workflow\n  on:\n    - cron: "%s"\n      timezone: Europe/Paris\n  jobs: {j: {stages: [{name: s, echo: hi}]}}\n' "$c" > okcron.yml
  wf validate okcron.yml
  expect_rc 0 "valid cron '$c'"
  expect_no_err "warning" "valid cron '$c' has no warning"
done

# === wf schedule: exact next fire times ========================================================
mkdir -p conf
cat > conf/sched.yml <<'EOF'
paris:
  type: Workflow
  tags: [etl, daily]
  on:
    - cron: "0 2 * * *"
      timezone: "Europe/Paris"
    - manual: true
  jobs: {j: {stages: [{name: s, echo: hi}]}}
ny:
  type: Workflow
  on:
    - cron: "0 1 * * *"
      timezone: America/New_York
  jobs: {j: {stages: [{name: s, echo: hi}]}}
ny-hourly:
  type: Workflow
  on:
    - cron: "30 * * * *"
      timezone: America/New_York
  jobs: {j: {stages: [{name: s, echo: hi}]}}
bkk:
  type: Workflow
  tags: [ops]
  on:
    schedule:
      - cronjob: "*/15 * * * *"
        tz: Asia/Bangkok
  jobs: {j: {stages: [{name: s, echo: hi}]}}
far:
  type: Workflow
  on:
    schedule:
      - cronjob: "0 9 1 1 * 2099"
        timezone: Europe/Paris
      - cronjob: "0 0 1 1 * 2098"
  jobs: {j: {stages: [{name: s, echo: hi}]}}
nofire:
  type: Workflow
  on:
    - cron: "0 0 30 2 *"
  jobs: {j: {stages: [{name: s, echo: hi}]}}
manual-only:
  type: Workflow
  on:
    - manual: true
  jobs: {j: {stages: [{name: s, echo: hi}]}}
EOF
utc_next() { echo "$out" | jq_py "print(' '.join(t['utc'] for s in d for t in s['next']))"; }

wf --conf conf schedule paris --from 2024-03-30 --next 3 --json
expect_rc 0 "schedule --json"
expect_eq "$(utc_next)" "2024-03-30T01:00:00Z 2024-03-31T01:00:00Z 2024-04-01T00:00:00Z" \
  "Paris 02:00 across the spring gap: the skipped 02:00 fires at 03:00 CEST"
expect_eq "$(echo "$out" | jq_py "print(d[0]['timezone'], d[0]['cron'], d[0]['workflow'])")" \
  "Europe/Paris 0 2 * * * paris" "schedule --json names the schedule"
wf --conf conf schedule paris --from 2024-03-30 --next 3
expect_out "2024-03-31 03:00 CEST" "text shows the local time after the gap"
expect_out "2024-03-31T01:00:00Z" "text shows UTC"

wf --conf conf schedule ny --from 2024-11-02 --next 3 --json
expect_eq "$(utc_next)" "2024-11-02T05:00:00Z 2024-11-03T05:00:00Z 2024-11-04T06:00:00Z" \
  "New York 01:00 on the fall-back day fires once, on the first (EDT) occurrence"
wf --conf conf schedule ny-hourly --from 2024-11-03T00:00-04:00 --next 4 --json
expect_eq "$(utc_next)" "2024-11-03T04:30:00Z 2024-11-03T05:30:00Z 2024-11-03T06:30:00Z 2024-11-03T07:30:00Z" \
  "hour '*' fires in both repeated hours (offset in --from honoured)"
wf --conf conf schedule bkk --from 2024-01-01T00:07 --next 2 --json
expect_eq "$(utc_next)" "2024-01-01T00:15:00Z 2024-01-01T00:30:00Z" "ddeutil form with tz:"
wf --conf conf schedule far --from 2024-01-01 --next 2 --json
expect_eq "$(utc_next)" "2099-01-01T08:00:00Z 2098-01-01T00:00:00Z" "year field, per-schedule zone"
wf --conf conf schedule nofire --json
expect_rc 0 "schedule of a never-firing workflow"
expect_eq "$(echo "$out" | jq_py "print(len(d[0]['next']))")" "0" "never-firing: no next time"

# === wf list ===================================================================================
wf --conf conf list --json
expect_rc 0 "list --json"
expect_eq "$(echo "$out" | jq_py "w={x['name']:x for x in d}; print(w['far']['next'], w['far']['schedules'][0]['cron'], w['far']['schedules'][0]['timezone'])")" \
  "2098-01-01T00:00:00Z 0 9 1 1 * 2099 Europe/Paris" "list --json: schedules and the earliest next fire time"
expect_eq "$(echo "$out" | jq_py "w={x['name']:x for x in d}; print(w['far']['schedules'][0]['next'], w['bkk']['schedules'][0]['timezone'])")" \
  "2099-01-01T08:00:00Z Asia/Bangkok" "list --json: next time per schedule; ddeutil tz"
expect_eq "$(echo "$out" | jq_py "w={x['name']:x for x in d}; print(w['nofire']['next'], w['manual-only']['schedules'])")" \
  "None []" "list --json: no next time for never-firing / manual-only"
wf --conf conf list
expect_out "2098-01-01T00:00:00Z" "list text shows the next fire time"
expect_out "0 2 * * * Europe/Paris" "list text shows the schedule with its zone"
wf --conf conf list --tag ops --json
expect_eq "$(echo "$out" | jq_py "print(' '.join(x['name'] for x in d))")" "bkk" "list --tag"

# === wf release ================================================================================
cat > conf/daily.yml <<'EOF'
daily:
  type: Workflow
  params:
    run-date: {type: date, default: "${{ release.logical_date | fmt('%Y-%m-%d') }}"}
    token: {type: str, default: "tok-default", secret: true}
  on:
    - cron: "0 2 * * *"
      timezone: Europe/Paris
    - cron: "30 12 * * 1-5"
  jobs:
    j:
      stages:
        - name: s
          env:
            RD: ${{ params.run-date }}
          bash: |
            echo "$RD $WF_LOGICAL_DATE" >> m/daily
            echo "rd=$RD ld=$WF_LOGICAL_DATE"
EOF

wf --conf conf release daily --at 2024-03-30T01:30
expect_rc 2 "a minute that matches no schedule is rejected"
expect_err "not a fire time" "rejection says why"
expect_err "0 2 * * * (Europe/Paris)" "rejection names the schedules"
expect_err "30 12 * * 1-5 (UTC)" "rejection names every schedule"
expect_eq "$(count daily)$(audit_rows daily)" "00" "a rejected release runs nothing and writes no audit"

wf --conf conf release daily --at 2024-03-30T02:00:45+01:00
expect_rc 0 "release at a fire time (offset honoured, seconds truncated)"
expect_eq "$(tail -1 m/daily)" "2024-03-30 2024-03-30T01:00:00Z" \
  "release.logical_date in a param default and WF_LOGICAL_DATE in the stage"
first_run=$(last_run_id)
runs_before=$(runs_of daily)

wf --conf conf release daily --at 2024-03-30T01:00
expect_rc 0 "second normal release of the same minute"
expect_out "skipped" "second normal release is skipped"
expect_eq "$(count daily) $(runs_of daily) $(audit_rows daily)" "1 $runs_before 1" \
  "a skipped release runs nothing and writes no audit record"

wf --conf conf release daily --at 2024-03-30T01:00 --json
expect_rc 0 "skipped release with --json"
expect_eq "$(echo "$out" | jq_py "print(d.get('status'))" 2>&1)" "SKIP" \
  "--json: stdout is JSON only, and a skipped release says SKIP"

wf --conf conf release daily --at 2024-03-30T01:00 --type force -p token=hunter2secret
expect_rc 0 "force release of a succeeded minute"
expect_eq "$(count daily)" "2" "force runs again"
force_run=$(last_run_id)
[ "$force_run" != "$first_run" ] && pass_test || fail_test "force makes a new run"

wf --conf conf release daily --at 2024-03-30T01:00
expect_out "skipped" "normal after force is still skipped"

r0=$(sql "SELECT (SELECT count(*) FROM runs) || (SELECT count(*) FROM audit) || (SELECT count(*) FROM releases)")
wf --conf conf release daily --at 2024-04-02T12:30 --type dryrun
expect_rc 0 "dryrun"
expect_out "2024-04-02" "dryrun shows the resolved params (logical date)"
expect_out "j" "dryrun shows the jobs"
expect_eq "$(sql "SELECT (SELECT count(*) FROM runs) || (SELECT count(*) FROM audit) || (SELECT count(*) FROM releases)")$(count daily)" \
  "${r0}2" "dryrun runs nothing and records nothing"
wf --conf conf release daily --at 2024-04-02T12:30
expect_rc 0 "a dryrun does not count as a release"
expect_no_out "skipped" "normal release after a dryrun runs"
expect_eq "$(tail -1 m/daily)" "2024-04-02 2024-04-02T12:30:00Z" "the second schedule (UTC) matches"

wf --conf conf release daily --at 2024-04-06T12:30
expect_rc 2 "Saturday 12:30 matches no schedule"
wf --conf conf release daily --at 2024-04-06T12:31 --type event -p run-date=2020-01-01
expect_rc 0 "event skips the schedule check"
expect_eq "$(tail -1 m/daily)" "2020-01-01 2024-04-06T12:31:00Z" "-p overrides the default; the logical date is still the minute"
wf --conf conf release daily --at 2024-04-06T12:31 --type event
expect_out "skipped" "event dedupes like normal"

# --- wf audit -----------------------------------------------------------------------------------
wf audit daily --json
expect_rc 0 "audit --json"
expect_eq "$(echo "$out" | jq_py "print(len(d))")" "4" "one audit record per release that ran (normal, force, normal, event)"
wf audit daily --release 2024-03-30T01:00Z --json
expect_rc 0 "audit --release"
expect_eq "$(echo "$out" | jq_py "print(' '.join(sorted(r['type'] for r in d)))" 2>&1)" "force normal" \
  "audit --release selects that minute's records"
wf audit daily --release 2024-03-30T02:00+01:00 --json --limit 1
expect_eq "$(echo "$out" | jq_py "print(len(d), d[0]['type'])" 2>&1)" "1 force" "audit --release with an offset, --limit"
wf audit daily --json
expect_eq "$(echo "$out" | jq_py "r=[x for x in d if x['run_id']=='$force_run'][0]; print(len(d), r['workflow'], r['release'], r['type'], r['run_id'], r['status'], r['params']['token'], r['params']['run-date'])" 2>&1)" \
  "4 daily 2024-03-30T01:00:00Z force $force_run SUCCESS *** 2024-03-30" \
  "audit --json fields: workflow, release, type, run_id, status, params with secrets masked"
wf audit --json
expect_eq "$(echo "$out" | jq_py "r=[x for x in d if x['run_id']=='$first_run'][0]; print(r['type'], r['status'], r['host']!='', r['wf_version']!='', 'started_at' in r and 'finished_at' in r, r['params']['token'])")" \
  "normal SUCCESS True True True ***" "audit --json: host, wf_version, times"
expect_eq "$(sql "SELECT count(*) FROM audit WHERE params || command_line || note LIKE '%hunter2secret%'")" "0" \
  "a secret given with -p appears nowhere in the audit record (command line included)"
wf audit --json
expect_no_out "hunter2secret" "audit --json does not show the secret"
expect_eq "$(sql "SELECT count(*) FROM runs WHERE command_line LIKE '%hunter2secret%' OR params LIKE '%hunter2secret%'")" "0" \
  "the secret is not in the runs table"
wf audit
expect_rc 0 "audit text"
expect_out "2024-04-06T12:31:00Z" "audit text lists the release minute"
expect_out "event" "audit text lists the type"
wf audit daily --limit 2 --json
expect_eq "$(echo "$out" | jq_py "print(len(d))")" "2" "audit --limit"

( unset USER LOGNAME; "$WF_BIN" --conf conf -q release daily --at 2024-04-03T12:30 )
expect_eq "$(sql "SELECT user FROM audit WHERE release_at = $(ms 2024-04-03T12:30:00+00:00)")" "$(id -un)" \
  "audit user is known even when \$USER is not set"

WF_AUDIT=false wf --conf conf release daily --at 2024-04-04T12:30
expect_rc 0 "release with WF_AUDIT=false"
expect_eq "$(audit_rows daily "release_at = $(ms 2024-04-04T12:30:00+00:00)")" "0" "WF_AUDIT=false: no audit record"
WORKFLOW_CORE_AUDIT_ENABLED=false wf --conf conf release daily --at 2024-04-05T12:30
expect_eq "$(audit_rows daily "release_at = $(ms 2024-04-05T12:30:00+00:00)")" "0" "WORKFLOW_CORE_AUDIT_ENABLED=false: no audit record"
WF_AUDIT=false wf --conf conf release daily --at 2024-04-04T12:30
expect_out "skipped" "dedupe works without audit"

# --- failure, normal again after failure, rerun --------------------------------------------------
cat > conf/flaky.yml <<'EOF'
flaky:
  type: Workflow
  on:
    - cron: "0 * * * *"
  jobs:
    a:
      stages:
        - name: ok
          bash: echo "$WF_LOGICAL_DATE" >> m/flaky-a
    b:
      needs: [a]
      stages:
        - name: chk
          bash: |
            echo "$WF_LOGICAL_DATE" >> m/flaky-b
            [ -f fixed ] || { echo "not-fixed-yet"; exit 1; }
EOF
wf --conf conf release flaky --at 2024-01-01T10:00
expect_rc 1 "a failing release exits 1"
fail_run=$(last_run_id)
expect_eq "$(sql "SELECT type || ':' || status || ':' || run_id FROM audit WHERE workflow = 'flaky'")" "normal:FAILED:$fail_run" \
  "a failed release is audited as FAILED"
wf --conf conf release flaky --at 2024-01-01T10:00
expect_rc 1 "normal runs again after a failure"
expect_eq "$(count flaky-b) $(runs_of flaky) $(audit_rows flaky)" "2 2 2" "the second normal release made a new run and record"
second_fail=$(last_run_id)
touch fixed
wf --conf conf release flaky --at 2024-01-01T10:00
expect_rc 0 "normal after failures, now fixed, succeeds"
expect_eq "$(runs_of flaky)" "3" "a new run"
wf --conf conf release flaky --at 2024-01-01T10:00
expect_out "skipped" "after it succeeded, normal skips"
rm fixed

wf --conf conf release flaky --at 2024-01-01T11:00
expect_rc 1 "11:00 fails"
r11=$(last_run_id)
a0=$(count flaky-a) b0=$(count flaky-b)
wf --conf conf release flaky --at 2024-01-01T11:00 --type rerun
expect_rc 1 "rerun without the fix fails again"
touch fixed
wf --conf conf release flaky --at 2024-01-01T11:00 --type rerun
expect_rc 0 "rerun with the fix succeeds"
expect_out "kept from attempt" "rerun keeps the succeeded job"
expect_eq "$(sql "SELECT id || ':' || attempt || ':' || status FROM runs WHERE workflow = 'flaky' ORDER BY created_at DESC, id DESC LIMIT 1")" \
  "$r11:3:SUCCESS" "rerun reruns that release's run (same run id, next attempts)"
expect_eq "$(( $(count flaky-a) - a0 )) $(( $(count flaky-b) - b0 ))" "0 2" "rerun runs only the failed job"
expect_eq "$(tail -1 m/flaky-b)" "2024-01-01T11:00:00Z" "a rerun of a release keeps its WF_LOGICAL_DATE"
expect_eq "$(audit_rows flaky "type = 'rerun'")" "2" "every rerun release writes an audit record"
expect_eq "$(sql "SELECT status FROM audit WHERE workflow = 'flaky' AND release_at = $(ms 2024-01-01T11:00:00+00:00) ORDER BY id DESC LIMIT 1")" \
  "SUCCESS" "the latest audit record of the minute shows the rerun's success"
wf --conf conf release flaky --at 2024-01-01T11:00
expect_out "skipped" "after a successful rerun, normal skips that minute"
expect_eq "$(( $(count flaky-b) - b0 ))" "2" "nothing ran again"

rm fixed
WF_AUDIT=false wf --conf conf release flaky --at 2024-01-01T12:00
expect_rc 1 "12:00 fails (no audit)"
r12=$(last_run_id)
touch fixed
WF_AUDIT=false wf --conf conf release flaky --at 2024-01-01T12:00 --type rerun
expect_rc 0 "rerun works when audit is disabled"
expect_eq "$(sql "SELECT attempt || status FROM runs WHERE id = '$r12'")" "2SUCCESS" "rerun with audit disabled: attempt 2"

# --- running release: normal skips ----------------------------------------------------------------
cat > conf/slow.yml <<'EOF'
slow:
  type: Workflow
  on:
    - cron: "0 * * * *"
  jobs:
    a:
      stages:
        - name: s
          bash: echo "${{ release.type }}" >> m/slow; sleep 1
    b:
      stages:
        - name: s
          bash: echo b >> m/slow-b
    c:
      needs: [b]
      stages:
        - name: s
          bash: echo c >> m/slow-c
EOF
"$WF_BIN" --conf conf -q release slow --at 2024-01-01T09:00 & bg=$!
for _ in $(seq 50); do [ -s m/slow ] && break; sleep 0.05; done
wf --conf conf release slow --at 2024-01-01T09:00
expect_rc 0 "normal release of a running minute"
expect_out "skipped" "a running release is skipped"
expect_out "running" "the skip says it is running"
wait $bg
expect_eq "$(count slow)" "1" "only one run of the minute"
sb=$(count slow-b) sc=$(count slow-c)
wf --conf conf release slow --at 2024-01-01T10:00 --type force --exclude b
expect_rc 0 "--exclude"
expect_eq "$(tail -1 m/slow) $(( $(count slow-b) - sb )) $(( $(count slow-c) - sc ))" "force 0 0" "excluded job and its dependants do not run; release.type"

# === wf tick ====================================================================================
mkdir -p tconf
cat > tconf/t.yml <<'EOF'
tk:
  type: Workflow
  on:
    - cron: "*/10 * * * *"
  jobs:
    j:
      stages:
        - name: s
          bash: echo "$WF_LOGICAL_DATE" >> m/tk
EOF
minutes_run() { if [ -f m/$1 ]; then sed 's/2024-05-01T//; s/:00Z//' m/$1 | sort | tr '\n' ' '; fi; }
misfires() { sql "SELECT strftime('%H:%M', release_at / 1000, 'unixepoch') FROM audit WHERE workflow = '$1' AND type = 'misfire' ORDER BY release_at" | tr '\n' ' '; }

wf --conf tconf tick --now 2024-05-01T11:55:10 --catchup all
expect_rc 0 "first tick, current minute does not fire"
expect_eq "$(count tk)" "0" "nothing due"
rm -rf "$WF_STATE_DIR"
wf --conf tconf tick --now 2024-05-01T12:00:30 --catchup all
expect_rc 0 "first tick"
expect_eq "$(minutes_run tk)" "12:00 " "the first tick runs only the current minute (no catch-up)"
expect_eq "$(audit_rows tk "type = 'normal'") $(misfires tk)" "1 " "first tick: one normal release, no misfires"
wf --conf tconf tick --now 2024-05-01T12:00:50
expect_eq "$(minutes_run tk)" "12:00 " "a second tick in the same minute runs nothing again"
expect_eq "$(audit_rows tk)" "1" "and writes no audit record"

wf --conf tconf tick --now 2024-05-01T13:00:10
expect_rc 0 "tick an hour later, default catch-up (latest)"
expect_eq "$(minutes_run tk)" "12:00 12:50 13:00 " "latest: the latest missed minute and the current one"
expect_eq "$(misfires tk)" "12:10 12:20 12:30 12:40 " "latest: the other missed minutes are misfires"
expect_eq "$(sql "SELECT DISTINCT type || status FROM audit WHERE type = 'misfire'")" "misfireSKIP" "misfire records"

wf --conf tconf -q tick --now 2024-05-01T14:00 --catchup all
expect_rc 0 "catchup all"
expect_eq "$out$err" "" "-q: a successful tick prints nothing"
expect_eq "$(minutes_run tk)" "12:00 12:50 13:00 13:10 13:20 13:30 13:40 13:50 14:00 " "all: every missed minute runs"
expect_eq "$(misfires tk)" "12:10 12:20 12:30 12:40 " "all: no new misfires"

wf --conf tconf tick --now 2024-05-01T15:00 --catchup none
expect_rc 0 "catchup none"
expect_eq "$(minutes_run tk)" "12:00 12:50 13:00 13:10 13:20 13:30 13:40 13:50 14:00 15:00 " "none: only the current minute"
expect_eq "$(misfires tk)" "12:10 12:20 12:30 12:40 14:10 14:20 14:30 14:40 14:50 " "none: the missed ones are misfires"

wf --conf tconf tick --now 2024-05-01T16:00 --catchup all --window 30m
expect_eq "$(minutes_run tk | sed 's/.*15:00 //')" "15:30 15:40 15:50 16:00 " "--window bounds the catch-up"
expect_eq "$(sql "SELECT count(*) FROM releases WHERE workflow = 'tk'") $(audit_rows tk "type = 'normal'")" "14 14" \
  "one claim and one audit record per released minute"

# --- overlapping ticks ------------------------------------------------------------------------------
mkdir -p pconf
cat > pconf/p.yml <<'EOF'
par:
  type: Workflow
  on:
    - cron: "*/10 * * * *"
  jobs:
    j:
      stages:
        - name: s
          bash: echo "$WF_LOGICAL_DATE" >> m/par; sleep 0.3
EOF
"$WF_BIN" --conf pconf -q tick --now 2024-05-01T16:00 >/dev/null 2>&1
for i in 1 2 3; do "$WF_BIN" --conf pconf -q tick --now 2024-05-01T17:00:05 --catchup all > "tick$i.out" 2>&1 & done
wait
expect_eq "$(sort m/par | uniq -d | tr '\n' ' ')" "" "overlapping ticks never run a minute twice"
expect_eq "$(sort -u m/par | wc -l | tr -d ' ')" "7" "every due minute ran once (16:00..17:00)"
expect_eq "$(sql "SELECT count(*), count(DISTINCT run_id) FROM audit WHERE workflow = 'par' AND type = 'normal'")" "7|7" \
  "one audit record and one run per minute"
expect_eq "$(sql "SELECT count(*) FROM runs WHERE workflow = 'par'")" "7" "runs per minute in the runs table"
expect_eq "$(cat tick1.out tick2.out tick3.out)" "" "overlapping -q ticks print nothing"

"$WF_BIN" --conf pconf -q tick --now 2024-05-01T18:00 --catchup none >/dev/null 2>&1
for i in 1 2 3; do "$WF_BIN" --conf pconf -q tick --now 2024-05-01T19:00 --catchup latest >/dev/null 2>&1 & done
wait
expect_eq "$(sort m/par | uniq -d | tr '\n' ' ')" "" "overlapping latest ticks never run a minute twice"
expect_eq "$(sql "SELECT count(*) || '/' || count(DISTINCT release_at) FROM audit WHERE workflow = 'par' AND type = 'misfire' AND release_at > $(ms 2024-05-01T18:00:00+00:00)")" \
  "4/4" "overlapping ticks record each misfire once"

# --- failing release in a tick ----------------------------------------------------------------------
mkdir -p fconf
cat > fconf/f.yml <<'EOF'
tfail:
  type: Workflow
  on:
    - cron: "* * * * *"
  jobs:
    good:
      stages:
        - name: fine
          bash: echo all-good-here
    bad:
      stages:
        - name: explode
          bash: |
            echo "failure-detail-xyz"
            exit 3
tgood:
  type: Workflow
  on:
    - cron: "* * * * *"
  jobs:
    j:
      stages:
        - name: s
          bash: echo "$WF_LOGICAL_DATE" >> m/tgood
EOF
wf --conf fconf -q tick --now 2024-05-01T16:00
expect_rc 1 "a tick exits 1 when a release failed"
expect_eq "$(count tgood)" "1" "the other workflow's release still ran"
expect_eq "$(sql "SELECT status FROM audit WHERE workflow = 'tfail'")" "FAILED" "the failed release is audited"
all="$out$err"
if [[ "$all" == *"failure-detail-xyz"* ]]; then pass_test; else fail_test "-q tick shows the failed stage's output"; fi
if [[ "$all" == *"wf logs"* ]]; then pass_test; else fail_test "-q tick shows the wf logs command"; fi
if [[ "$all" != *"all-good-here"* && "$all" != *"tgood"* ]]; then pass_test; else
  fail_test "-q tick shows only the failures (no output of succeeded stages or releases)"; fi

wf --conf tconf tick --catchup bogus
expect_rc 2 "bad --catchup"
wf --conf tconf tick --now nonsense
expect_rc 2 "bad --now"

finish
