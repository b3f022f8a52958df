#!/usr/bin/env bash
# Times wf against ninja, make and a plain shell loop on generated trivial workloads, prints
# a table of medians with the targets of issue #9 and writes it into docs/performance.md
# (between the bench markers).
#
# Shapes, each task being one `sh -c true` process (wf: a stage `true` under `shell: sh`; ninja:
# `command = true`, which ninja runs as `/bin/sh -c true`):
#   fanout  N independent jobs        chain  N jobs, each needing the one before
#   layers  10 matrix jobs of N/10 legs, each job needing the one before
#   matrix  one matrix job of N legs (against ninja and make on the fanout graph)
#   stages  one job with N sequential stages (against a shell loop of N `sh -c true`)
# plus `wf validate` on a 100- and a 1000-job file, `wf --version`, `wf runs` and `wf show` on a
# state file of 10,000 runs, the peak RSS of each `wf run` above, and the floor of the stages
# shape (scripts/spawn_floor.c). Every figure is printed with its target and whether it meets it.
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
[ -x /usr/bin/time ] || missing+=(time)
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
res=$tmp/res
mkdir -p "$res"

shapes=(fanout chain layers matrix stages)
q() { printf '%q' "$1"; }
wf_cmd() {  # the `wf run` command line of shape $1, quoted for a shell
  printf '%s run %s -j %s --max-legs %s' "$(q "$WF_BIN")" "$(q "$tmp/in/$1.yml")" "$jobs" "$n"
}

# One checked run of every wf workload first, so a failure is reported with wf's own words
# (hyperfine would only say that the command failed). It also gives the peak RSS of each
# shape (GNU time's %M, KiB).
failed=()
for s in "${shapes[@]}"; do
  rm -rf "$state"
  if ! out=$(/usr/bin/time -f %M -o "$res/rss-$s" sh -c "exec $(wf_cmd "$s")" 2>&1); then
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

# A state file of 10,000 runs: one real run of a small workflow, copied by bench_gen.py.
history=$tmp/history
show_id=
if WF_STATE_DIR=$history "$WF_BIN" run "$tmp/in/history.yml" >/dev/null 2>&1 &&
  python3 scripts/bench_gen.py --grow-store "$history/wf.db" 10000; then
  # A run from the middle of the history, by its full id.
  show_id=$(WF_STATE_DIR=$history "$WF_BIN" runs --limit 5000 | tail -1 | cut -d' ' -f1)
fi
if [ -z "$show_id" ]; then
  failed+=(history)
  echo "bench: could not build the state file of 10,000 runs" >&2
fi

# --- timing --------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load_before" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }' &&
  echo "bench: warning: load average is $load_before on $(nproc) CPUs; the numbers will be noisy" >&2
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

wf_warmup=$((warmup > 0 ? warmup - 1 : 0))  # the checked run above was the first warmup of each
for s in "${shapes[@]}"; do
  if ! is_failed "$s"; then
    hf "wf-$s" --warmup "$wf_warmup" --runs "$runs" --prepare "rm -rf $(q "$state")" "$(wf_cmd "$s")"
  fi
  [ "$s" = matrix ] && continue  # its graph is the fanout graph
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
if ! is_failed stages; then
  hf wf-stages-distinct --warmup "$warmup" --runs "$runs" --prepare "rm -rf $(q "$state")" \
    "$(q "$WF_BIN") run $(q "$tmp/in/stages_distinct.yml") -j $jobs"
fi
hf loop-stages --warmup "$warmup" --runs "$runs" "sh $(q "$tmp/in/stages.sh")"
# The floor of the stages shape: N `sh -c true` one after the other with only what any runner
# must do per stage (own process group, stdin from /dev/null, output pipes read to EOF).
if cc -O2 -o "$tmp/spawn_floor" scripts/spawn_floor.c 2>"$res/floor-cc.txt"; then
  hf floor-stages -N --warmup "$warmup" --runs "$runs" "$(q "$tmp/spawn_floor") $n"
else
  echo "bench: cannot compile scripts/spawn_floor.c; no floor figure" >&2
fi

for v in 100 1000; do
  is_failed "validate_$v" || hf "validate-$v" -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") validate $(q "$tmp/in/validate_$v.yml")"
done
hf version -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") --version"
if ! is_failed history; then
  hf runs -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") --state-dir $(q "$history") runs"
  hf show -N --warmup 3 --min-runs 20 "$(q "$WF_BIN") --state-dir $(q "$history") show $(q "$show_id")"
fi

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

def rss(shape):  # peak RSS of the checked run, MiB
    try:
        with open(os.path.join(res, "rss-" + shape)) as f:
            return int(f.read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None

def s(v):
    return "FAILED" if v is None else f"{v:.3f} s"

def ms(v):
    return "FAILED" if v is None else f"{v * 1000:.1f} ms"

def mib(v):
    return "FAILED" if v is None else f"{v:.1f} MiB"

def ratio(a, b):
    return None if a is None or b is None else a / b

def x(v):
    return "–" if v is None else f"{v:.2f}×"

def verdict(v, limit):
    return "–" if v is None else ("pass" if v < limit else "**FAIL**")

legs = n // 10 if n >= 10 else n
out = [
    f"Measured {date} on {machine}; {versions}; wf at {rev}.",
    f"N = {n} tasks per shape, each `sh -c true`; every tool at -j{jobs}; median of {runs} runs "
    f"after {warmup} warmup run(s). wf starts each run with an empty state dir.",
    "",
    "| shape | wf | ninja | make | sh loop | wf/ref | target | | wf per task | CPU wf | CPU ref | peak RSS wf |",
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
]
names = {"fanout": f"{n} independent jobs", "chain": f"chain of {n} jobs",
         "layers": f"{n // legs} matrix jobs × {legs} legs, chained",
         "matrix": f"1 matrix job of {n} legs (ref: fanout graph)",
         "stages": f"1 job, {n} stages (ref: sh loop)"}
for shape in ("fanout", "chain", "layers", "matrix", "stages"):
    graph = "fanout" if shape == "matrix" else shape
    w, nj, mk = med("wf-" + shape), med("ninja-" + graph), med("make-" + graph)
    if shape == "stages":
        ref, ref_cpu, limit = med("loop-stages"), cpu("loop-stages"), 1.15
    else:
        ref, ref_cpu, limit = nj, cpu("ninja-" + graph), 1.10
    r = ratio(w, ref)
    per = "–" if w is None else f"{w / n * 1000:.2f} ms"
    loop = s(ref) if shape == "stages" else "–"
    out.append(f"| {names[shape]} | {s(w)} | {s(nj)} | {s(mk)} | {loop} | {x(r)} | ≤ {limit:.2f}× "
               f"| {verdict(r, limit + 1e-9)} | {per} | {s(cpu('wf-' + shape))} | {s(ref_cpu)} "
               f"| {mib(rss(shape))} |")
q = n // 4
wq = med("wf-stages-quarter")
m = rss("fanout")

def line(what, name, limit):
    v = med(name)
    return f"| {what} | {ms(v)} | {ms(cpu(name))} | < {limit * 1000:.0f} ms | {verdict(v, limit)} |"

out += [
    "",
    "| command | median | CPU | target | |",
    "|---|---:|---:|---:|---|",
    line("`wf validate`, 100 jobs", "validate-100", 0.010),
    line("`wf validate`, 1000 jobs", "validate-1000", 0.040),
    line("`wf --version`", "version", 0.003),
    line("`wf runs`, 10,000 runs in the state file", "runs", 0.050),
    line("`wf show RUN`, 10,000 runs in the state file", "show", 0.050),
    f"| peak RSS of `wf run`, {n} independent jobs | {mib(m)} | | < 16 MiB | {verdict(m, 16)} |",
    f"| `wf run`, 1 job, {q} stages (per-task cost vs N) | {s(wq)} "
    f"({'–' if wq is None else f'{wq / q * 1000:.2f} ms'} per task) | {s(cpu('wf-stages-quarter'))} | | |",
]
wd = med("wf-stages-distinct")
out.append(f"| `wf run`, 1 job, {n} stages, every script different (no shared script file) | {s(wd)} "
           f"({'–' if wd is None else f'{wd / n * 1000:.2f} ms'} per task) | {s(cpu('wf-stages-distinct'))} | | |")
fl, lp, ws = med("floor-stages"), med("loop-stages"), med("wf-stages")
if fl is not None:
    out.append(f"| spawn floor, {n} stages one after the other (`scripts/spawn_floor.c`) | {s(fl)} "
               f"({x(ratio(fl, lp))} the sh loop; wf {x(ratio(ws, fl))} the floor) | {s(cpu('floor-stages'))} | | |")
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
