#!/usr/bin/env bash
# Times wf against ninja, make and a plain shell loop on generated trivial workloads, prints
# a table of medians and writes it into docs/performance.md (between the bench markers).
#
# Shapes, each task being one `sh -c true` process (wf: a stage `true` under `shell: sh`; ninja:
# `command = true`, which ninja runs as `/bin/sh -c true`):
#   fanout  N independent jobs        chain  N jobs, each needing the one before
#   stages  one job with N sequential stages (also against a shell loop of N `sh -c true`)
# plus `wf validate` on a 100- and a 1000-job file and `wf --version`.
#
# Environment:
#   WF_BIN=path        time this binary instead of building build-bench/wf (Release)
#   BENCH_N=1000       tasks per shape
#   BENCH_RUNS=5       timed runs per command (BENCH_WARMUP=2 untimed runs first)
#   BENCH_JOBS=2       -j given to wf, ninja and make
#   BENCH_QUICK=1      smoke test: N=100, 3 runs; docs/performance.md is left alone
#   BENCH_DOCS=path    file to write the table into (default docs/performance.md; "" = none)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
  n=${BENCH_N:-100} runs=${BENCH_RUNS:-3} warmup=${BENCH_WARMUP:-1}
  docs=${BENCH_DOCS-}
else
  n=${BENCH_N:-1000} runs=${BENCH_RUNS:-5} warmup=${BENCH_WARMUP:-2}
  docs=${BENCH_DOCS-docs/performance.md}
fi
jobs=${BENCH_JOBS:-2}

# --- tools ---------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${WF_BIN:-}" ]; then
  # Only the wf target; when configuring fails (a fresh machine without the libraries) the
  # bootstrap script installs them and builds everything.
  if cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1; then
    cmake --build build-bench --target wf >/dev/null
  else
    WF_BUILD_DIR=build-bench WF_BUILD_TYPE=Release scripts/bootstrap.sh >/dev/null
  fi
  WF_BIN=$root/build-bench/wf
fi
WF_BIN=$(realpath "$WF_BIN")
[ -x "$WF_BIN" ] || { echo "bench: $WF_BIN is not executable" >&2; exit 1; }

# --- inputs --------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wf-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 scripts/bench_gen.py "$n" "$tmp/in"
state=$tmp/state
export WF_STATE_DIR=$state  # nothing of the benchmark lands in the user's state dir
export HOME=$tmp XDG_STATE_HOME=$tmp/xdg-state XDG_CONFIG_HOME=$tmp/xdg-config

# One checked run of every wf workload first, so a failure is reported with wf's own words
# (hyperfine would only say that the command failed).
failed=()
for s in fanout chain stages; do
  rm -rf "$state"
  if ! out=$("$WF_BIN" run "$tmp/in/$s.yml" -j "$jobs" 2>&1); then
    failed+=("$s")
    echo "bench: wf failed on $s.yml:" >&2
    printf '%s\n' "$out" | tail -20 >&2
  fi
done
for f in validate_100 validate_1000; do
  "$WF_BIN" validate "$tmp/in/$f.yml" >/dev/null 2>&1 || {
    failed+=("$f")
    echo "bench: wf validate failed on $f.yml:" >&2
    "$WF_BIN" validate "$tmp/in/$f.yml" 2>&1 | tail -20 >&2 || true
  }
done

# --- timing --------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load_before" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }' &&
  echo "bench: warning: load average is $load_before on $(nproc) CPUs; the numbers will be noisy" >&2
res=$tmp/res
mkdir -p "$res"
hf() {  # hyperfine NAME ARGS...: one command, its JSON in $res/NAME.json
  local name=$1
  shift
  echo "bench: $name" >&2
  hyperfine --style none --export-json "$res/$name.json" "$@" >"$res/$name.txt" 2>&1 || {
    echo "bench: $name failed" >&2
    tail -5 "$res/$name.txt" >&2
    rm -f "$res/$name.json"
  }
}
is_failed() { local f; for f in "${failed[@]}"; do [ "$f" = "$1" ] && return 0; done; return 1; }

q() { printf '%q' "$1"; }
wf_warmup=$((warmup > 0 ? warmup - 1 : 0))  # the checked run above was the first warmup of each
for s in fanout chain stages; do
  if ! is_failed "$s"; then
    hf "wf-$s" --warmup "$wf_warmup" --runs "$runs" --prepare "rm -rf $(q "$state")" \
      "$(q "$WF_BIN") run $(q "$tmp/in/$s.yml") -j $jobs"
  fi
  d=$tmp/in/$s
  hf "ninja-$s" --warmup "$warmup" --runs "$runs" --prepare "rm -f $(q "$d")/.ninja_log $(q "$d")/.ninja_deps" \
    "ninja -C $(q "$d") -j $jobs"
  hf "make-$s" --warmup "$warmup" --runs "$runs" "make -s -C $(q "$d") -j $jobs"
done
# The same 1-stage-per-task work at a quarter of N: per-task cost should not depend on N.
if ! is_failed stages; then
  hf wf-stages-quarter --warmup "$warmup" --runs "$runs" --prepare "rm -rf $(q "$state")" \
    "$(q "$WF_BIN") run $(q "$tmp/in/stages_quarter.yml") -j $jobs"
fi
hf loop-stages --warmup "$warmup" --runs "$runs" "sh $(q "$tmp/in/stages.sh")"

for v in 100 1000; do
  is_failed "validate_$v" || hf "validate-$v" -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") validate $(q "$tmp/in/validate_$v.yml")"
done
hf version -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") --version"

load_after=$(cut -d' ' -f1 /proc/loadavg)

# --- report --------------------------------------------------------------------------------
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
[ -n "$cpu" ] || cpu=$(uname -m)
machine="$(nproc) CPUs, ${cpu}, $(uname -sr), load average ${load_before} before / ${load_after} after"
versions="$("$WF_BIN" --version | head -1), ninja $(ninja --version), $(make --version | head -1), hyperfine $(hyperfine --version | cut -d' ' -f2)"
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src include CMakeLists.txt 2>/dev/null || rev="$rev+local changes"

table=$(python3 - "$res" "$n" "$jobs" "$runs" "$warmup" "$machine" "$(date -u +%Y-%m-%d)" "$versions" "$rev" <<'EOF'
import json, os, sys
res, n, jobs, runs, warmup, machine, date, versions, rev = sys.argv[1:]
n = int(n)

def result(name):
    p = os.path.join(res, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["results"][0]

def med(name):
    r = result(name)
    return None if r is None else r["median"]

def cpu(name):  # mean user + system time of the command and the children it waited for
    r = result(name)
    return None if r is None else r["user"] + r["system"]

def s(v):
    return "FAILED" if v is None else f"{v:.3f} s"

def ms(v):
    return "FAILED" if v is None else f"{v * 1000:.1f} ms"

def ratio(a, b):
    return "–" if a is None or b is None else f"{a / b:.1f}×"

out = [
    f"Measured {date} on {machine}; {versions}; wf at {rev}.",
    f"N = {n} tasks per shape, each `sh -c true`; every tool at -j{jobs}; median of {runs} runs "
    f"after {warmup} warmup run(s). wf starts each run with an empty state dir.",
    "",
    "| shape | wf | ninja | make | sh loop | wf/ninja | wf/sh loop | wf per task | CPU wf | CPU ninja | CPU wf/ninja |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
names = {"fanout": f"{n} independent jobs", "chain": f"chain of {n} jobs", "stages": f"1 job, {n} stages"}
for shape in ("fanout", "chain", "stages"):
    w, nj, mk = med("wf-" + shape), med("ninja-" + shape), med("make-" + shape)
    lp = med("loop-stages") if shape == "stages" else None
    per = "–" if w is None else f"{w / n * 1000:.2f} ms"
    out.append(f"| {names[shape]} | {s(w)} | {s(nj)} | {s(mk)} | {s(lp) if shape == 'stages' else '–'} "
               f"| {ratio(w, nj)} | {ratio(w, lp)} | {per} "
               f"| {s(cpu('wf-' + shape))} | {s(cpu('ninja-' + shape))} | {ratio(cpu('wf-' + shape), cpu('ninja-' + shape))} |")
q = n // 4
wq = med("wf-stages-quarter")
out += [
    "",
    "| command | median | CPU |",
    "|---|---:|---:|",
    f"| `wf run`, 1 job, {q} stages | {s(wq)} ({'–' if wq is None else f'{wq / q * 1000:.2f} ms'} per task) "
    f"| {s(cpu('wf-stages-quarter'))} |",
    f"| `wf validate` (100 jobs) | {ms(med('validate-100'))} | {ms(cpu('validate-100'))} |",
    f"| `wf validate` (1000 jobs) | {ms(med('validate-1000'))} | {ms(cpu('validate-1000'))} |",
    f"| `wf --version` | {ms(med('version'))} | {ms(cpu('version'))} |",
]
print("\n".join(out))
EOF
)

echo
printf '%s\n' "$table"
for f in "${failed[@]}"; do echo "bench: wf FAILED on $f (see above)" >&2; done

if [ -n "$docs" ]; then
  python3 - "$docs" "$table" <<'EOF'
import os, sys
path, table = sys.argv[1:]
begin, end = "<!-- bench:begin (generated by scripts/bench.sh) -->", "<!-- bench:end -->"
block = f"{begin}\n{table}\n{end}"
text = open(path).read() if os.path.exists(path) else "# Performance\n\n"
i, j = text.find(begin), text.find(end)
if i >= 0 and j > i:
    text = text[:i] + block + text[j + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
with open(path, "w") as f:
    f.write(text)
EOF
  echo "bench: wrote $docs" >&2
fi
[ ${#failed[@]} -eq 0 ]
