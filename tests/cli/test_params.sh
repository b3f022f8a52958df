#!/usr/bin/env bash
# Params (FORMAT §3): coercion of -p strings per type, --params-file (JSON and YAML), defaults,
# and every way a value can be wrong: undeclared name (did-you-mean + declared list), bad value,
# required missing, choice. Errors exit 2 before anything runs, and record nothing.
source "$(dirname "$0")/lib.sh"

cat > p.yml <<'EOF'
p:
  type: Workflow
  params:
    source: {type: str, required: true}
    count: int
    ratio: float
    amount: {type: decimal, precision: 2}
    dry: bool
    day: date
    at: datetime
    mode: {type: choice, options: [full, incremental]}
    level: {type: choice, options: [1, 2, 3]}
    regions: array
    settings: map
    label: {type: str, default: nightly}
    size: {type: int, default: 100}
  jobs:
    j:
      stages:
        - name: s
          bash: touch ran.marker
EOF

# jv JSON PATH: the value at PATH (sqlite JSON path, e.g. $.a[0]) as compact JSON, or <missing>.
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }
jv() {
  sqlite3 :memory: "SELECT CASE WHEN json_type(v, p) IS NULL THEN '<missing>'
    WHEN json_type(v, p) = 'text' THEN json_quote(json_extract(v, p))
    WHEN json_type(v, p) IN ('true', 'false', 'null') THEN json_type(v, p)
    ELSE json_extract(v, p) END FROM (SELECT $(sqlq "$1") AS v, $(sqlq "$2") AS p)"
}
# params of the last run, as compact JSON; param NAME: one of them
last_params() { sql "SELECT json(params) FROM runs WHERE id = '$(last_run_id)'"; }
param() { jv "$(sql "SELECT params FROM runs WHERE id = '$(last_run_id)'")" "\$.\"$1\""; }

# coerce NAME=VALUE EXPECTED-JSON: a -p value is accepted and recorded as EXPECTED-JSON
coerce() {
  wf run p.yml -p source=s -p "$1" -q
  expect_rc 0 "-p $1"
  expect_eq "$(param "${1%%=*}")" "$2" "-p $1"
}

# --- defaults and nulls --------------------------------------------------------------------------
wf run p.yml -p source=s3://in -q
expect_rc 0 "only the required param"
expect_eq "$out" "" "-q prints nothing on success"
expect_eq "$(last_params)" \
  '{"amount":null,"at":null,"count":null,"day":null,"dry":null,"label":"nightly","level":1,"mode":"full","ratio":null,"regions":null,"settings":null,"size":100,"source":"s3://in"}' \
  "defaults apply, choice defaults to its first option, the rest are null"

# --- coercion per type ---------------------------------------------------------------------------
coerce "source=hello world" '"hello world"'
coerce "source=" '""'
coerce "source=12" '"12"'
coerce "source=on" '"on"'
coerce "count=12" '12'
coerce "count=-3" '-3'
coerce "count=0" '0'
coerce "ratio=2" '2.0'
coerce "ratio=0.25" '0.25'
coerce "ratio=-1.5e2" '-150.0'
coerce "amount=3.14159" '3.14'
coerce "amount=10.50" '10.5'
coerce "dry=true" 'true'
coerce "dry=false" 'false'
coerce "dry=True" 'true'
coerce "dry=1" 'true'
coerce "dry=0" 'false'
coerce "dry=yes" 'true'
coerce "dry=no" 'false'
coerce "day=2024-02-29" '"2024-02-29"'
coerce "at=2024-01-01" '"2024-01-01T00:00:00Z"'
coerce "at=2024-01-01T12:30:00" '"2024-01-01T12:30:00Z"'
coerce "at=2024-01-01T12:30:00Z" '"2024-01-01T12:30:00Z"'
coerce "at=2024-01-01T12:30:00+02:00" '"2024-01-01T10:30:00Z"'
coerce "at=2024-01-01T23:30:00-05:00" '"2024-01-02T04:30:00Z"'
coerce "mode=incremental" '"incremental"'
coerce "level=2" '2'
coerce 'regions=["eu", "us"]' '["eu","us"]'
coerce 'regions=[]' '[]'
coerce 'settings={"a": 1, "b": [true]}' '{"a":1,"b":[true]}'
coerce "label=override" '"override"'
coerce "size=5" '5'

# a later -p wins over an earlier one
wf run p.yml -p source=a -p source=b -q
expect_rc 0 "repeated -p"
expect_eq "$(param source)" '"b"' "the last -p wins"

# the values reach the stages with their types
cat > typed.yml <<'EOF'
typed:
  type: Workflow
  params:
    n: int
    flag: bool
    list: array
    at: datetime
  jobs:
    j:
      stages:
        - name: s
          if: ${{ params.n > 9 && params.flag && params.list[1] == 'b' }}
          env: {N: "${{ params.n }}", LIST: "${{ params.list }}", AT: "${{ params.at }}", FLAG: "${{ params.flag }}"}
          bash: echo "n=$N list=$LIST at=$AT flag=$FLAG"
EOF
wf run typed.yml -p n=10 -p flag=yes -p 'list=["a","b"]' -p at=2024-03-01T01:00:00+01:00
expect_rc 0 "typed params in a stage"
expect_out 'j/s | n=10 list=["a","b"] at=2024-03-01T00:00:00Z flag=true' "typed params in a stage"
wf run typed.yml -p n=9 -p flag=yes -p 'list=["a","b"]'
expect_rc 0 "int compares as a number"
expect_no_out "j/s | n=" "9 > 9 is false"

# --- --params-file ------------------------------------------------------------------------------
cat > params.json <<'EOF'
{"source": "from-json", "count": 7, "ratio": 1, "dry": true, "day": "2024-05-01",
 "regions": ["ap"], "settings": {"k": "v"}, "level": 3, "at": "2024-05-01T10:00:00+02:00"}
EOF
wf run p.yml --params-file params.json -q
expect_rc 0 "--params-file JSON"
expect_eq "$(last_params)" \
  '{"amount":null,"at":"2024-05-01T08:00:00Z","count":7,"day":"2024-05-01","dry":true,"label":"nightly","level":3,"mode":"full","ratio":1.0,"regions":["ap"],"settings":{"k":"v"},"size":100,"source":"from-json"}' \
  "--params-file JSON"

cat > params.yaml <<'EOF'
# YAML 1.2: on and yes are strings here; the declared type decides
source: on
count: "12"
dry: yes
day: 2024-06-01
mode: incremental
regions: [eu, us]
settings: {nested: {deep: 1}}
EOF
wf run p.yml --params-file params.yaml -q
expect_rc 0 "--params-file YAML"
expect_eq "$(last_params)" \
  '{"amount":null,"at":null,"count":12,"day":"2024-06-01","dry":true,"label":"nightly","level":1,"mode":"incremental","ratio":null,"regions":["eu","us"],"settings":{"nested":{"deep":1}},"size":100,"source":"on"}' \
  "--params-file YAML"

wf run p.yml --params-file params.yaml -p count=99 -p source=cli -q
expect_rc 0 "-p over --params-file"
expect_eq "$(param count) $(param source) $(param mode)" '99 "cli" "incremental"' "-p wins over --params-file"

# --- errors: exit 2, nothing runs, nothing is recorded ---------------------------------------------
runs_before=$(sql "SELECT count(*) FROM runs")
rm -f ran.marker

# declared_list: the declared params and their types are listed
expect_declared() {
  local ok=1 n
  for n in "source (str" "count (int" "ratio (float" "amount (decimal" "dry (bool" "day (date" \
           "at (datetime" "mode (choice" "level (choice" "regions (array" "settings (map" "label (str" "size (int"; do
    [[ "$err" == *"$n"* ]] || ok=0
  done
  if [ $ok = 1 ]; then pass_test; else fail_test "$1: the declared params are listed with their types"; fi
}
# bad ARGS... -- MESSAGE: wf run p.yml ARGS fails with exit 2 and MESSAGE
bad() {
  local msg=${!#}
  wf run p.yml "${@:1:$#-1}"
  expect_rc 2 "$*"
  expect_err "wf: error: $msg" "$*"
  expect_eq "$out" "" "$*: nothing on stdout"
}

bad -p source=s -p sourc=x "unknown param 'sourc'; did you mean 'source'?"
expect_declared "undeclared param"
bad -p source=s -p Count=1 "unknown param 'Count'; did you mean 'count'?"
bad -p source=s -p zzzzz=1 "unknown param 'zzzzz'; declared params:"
expect_no_err "did you mean" "no suggestion for a far name"
expect_declared "undeclared param, no suggestion"
bad "param 'source' (str) is required but was not given"
expect_declared "required param missing"
bad -p count=1 "param 'source' (str) is required but was not given"
bad -p source=s -p count=1.5 "param 'count' (int): cannot convert \"1.5\" to int"
expect_declared "bad int"
bad -p source=s -p count=abc "param 'count' (int): cannot convert \"abc\" to int"
bad -p source=s -p count= "param 'count' (int): cannot convert \"\" to int"
bad -p source=s -p ratio=x "param 'ratio' (float): cannot convert \"x\" to float"
bad -p source=s -p amount=abc "param 'amount' (decimal): cannot convert \"abc\" to decimal"
bad -p source=s -p dry=maybe "param 'dry' (bool): cannot convert \"maybe\" to bool"
bad -p source=s -p day=2024-02-30 "param 'day' (date): cannot convert \"2024-02-30\" to date: day 30 does not exist in 2024-02"
bad -p source=s -p day=2023-02-29 "param 'day' (date): cannot convert \"2023-02-29\" to date"
bad -p source=s -p day=2024-13-01 "param 'day' (date): cannot convert \"2024-13-01\" to date: month 13 is out of range (01-12)"
bad -p source=s -p day=20240101 "param 'day' (date): cannot convert \"20240101\" to date: expected YYYY-MM-DD"
bad -p source=s -p at=noon "param 'at' (datetime): cannot convert \"noon\" to datetime"
bad -p source=s -p at=2024-01-01T25:00:00 "param 'at' (datetime): cannot convert \"2024-01-01T25:00:00\" to datetime"
bad -p source=s -p mode=other "param 'mode' (choice): \"other\" is not one of: full, incremental"
expect_declared "bad choice"
bad -p source=s -p mode=FULL "param 'mode' (choice): \"FULL\" is not one of: full, incremental"
bad -p source=s -p level=4 "param 'level' (choice): \"4\" is not one of: 1, 2, 3"
bad -p source=s -p regions=a,b "param 'regions' (array): cannot convert \"a,b\" to array: expected a JSON list, e.g. [\"a\", \"b\"]"
bad -p source=s -p 'regions={"a":1}' "param 'regions' (array): cannot convert"
bad -p source=s -p 'settings=[1]' "param 'settings' (map): cannot convert \"[1]\" to map: expected a JSON object, e.g. {\"key\": \"value\"}"
bad -p noequals "-p expects name=value, got 'noequals'"

echo '{"source": "s", "count": 1.5}' > bad-type.json
bad --params-file bad-type.json "param 'count' (int): cannot convert 1.5 to int"
echo '{"source": "s", "zz": 1}' > bad-name.json
bad --params-file bad-name.json "unknown param 'zz'; declared params:"
echo '[1, 2]' > bad-list.json
bad --params-file bad-list.json "bad-list.json: expected a map of param names to values"
printf '{"source": \n' > bad-syntax.json
bad --params-file bad-syntax.json "bad-syntax.json:"
expect_err "invalid YAML/JSON" "params file syntax error"
bad --params-file missing.json "cannot read params file missing.json: No such file or directory"

if [ -e ran.marker ]; then fail_test "a stage ran although the params were bad"; else pass_test; fi
expect_eq "$(sql "SELECT count(*) FROM runs")" "$runs_before" "bad params record no run"

# A fresh state dir is not even created by a run with bad params.
WF_STATE_DIR="$TEST_TMP/fresh" wf run p.yml -p count=x
expect_rc 2 "bad params, fresh state dir"
if [ -e "$TEST_TMP/fresh/wf.db" ] && [ "$(sqlite3 "$TEST_TMP/fresh/wf.db" "SELECT count(*) FROM runs")" != 0 ]; then
  fail_test "bad params recorded a run"; else pass_test; fi

# --- secret params: a bad value is not echoed back ------------------------------------------------
cat > sp.yml <<'EOF'
sp:
  type: Workflow
  params:
    pin: {type: int, secret: true}
    key: {type: choice, options: [alpha, beta], secret: true}
  jobs:
    j:
      stages: [{name: s, echo: ok}]
EOF
wf run sp.yml -p pin=hunter2
expect_rc 2 "bad secret value"
expect_err "wf: error: param 'pin' (int): cannot convert the given (secret) value to int" "bad secret value"
expect_no_err "hunter2" "bad secret value is not shown"
wf run sp.yml -p key=hunter3
expect_rc 2 "bad secret choice"
expect_err "wf: error: param 'key' (choice): the given (secret) value is not one of: alpha, beta" "bad secret choice"
expect_no_err "hunter3" "bad secret choice is not shown"
wf run sp.yml -p pin=4242 -p key=beta --dry-run
expect_rc 0 "secret in --dry-run"
expect_no_out "4242" "secret in --dry-run"
expect_out 'pin = "***"' "secret in --dry-run"

# --- params in the dry-run plan ---------------------------------------------------------------------
wf run p.yml -p source=plan -p count=3 --dry-run
expect_rc 0 "dry-run with params"
expect_out 'source = "plan"' "dry-run shows resolved params"
expect_out 'count = 3' "dry-run shows typed params"
expect_out 'label = "nightly"' "dry-run shows defaults"

finish
