#!/usr/bin/env python3
"""Generates the benchmark inputs that scripts/bench.sh times.

For N and an output directory it writes, for each shape:
  fanout  N independent jobs, one stage `true` each
  chain   N jobs, job i needs job i-1
  stages  one job with N sequential stages
  layers  10 matrix jobs of N/10 legs each, each job needing the one before (as wf users
          would write layers); ninja/make: 10 layers of N/10 edges, every edge of a layer
          depending on every edge of the layer before (through one phony target per layer)
  matrix  one matrix job of N legs (ninja/make: the fanout graph)
the workflow file (<shape>.yml), an equivalent <shape>/build.ninja and <shape>/Makefile,
plus stages.sh (a shell loop spawning `sh -c true` N times), stages_distinct.yml (the stages
shape with a different script text per stage, so that no two share a script file),
stages_quarter.yml (the stages shape at N/4, to see whether wf's per-task cost grows with N)
and two validate-only files (validate_100.yml, validate_1000.yml: a 100- and a 1000-job
chain), and history.yml, a small
workflow whose recorded run `--grow-store` copies into a state file of many runs (for timing
`wf runs` and `wf show`).

Every ninja edge and make target is always out of date, so each run executes every command:
ninja outputs are never created (ninja treats a missing output as dirty) and make targets are
.PHONY. Stamps are not used, so no file system writes besides wf's state (and ninja's
.ninja_log) are timed. Every tool spawns exactly one `sh -c true` process per task.
"""
import os
import sqlite3
import sys


def stage(indent):
    return f"{indent}stages: [{{name: s, shell: sh, bash: \"true\"}}]\n"


def workflow(n, shape):
    out = ["bench:\n", "  type: Workflow\n", "  jobs:\n"]
    if shape in ("stages", "stages_distinct"):
        out.append("    j0:\n      stages:\n")
        for i in range(n):
            # stages_distinct: every script differs (a comment), so none shares a script file.
            script = f"true # {i}" if shape == "stages_distinct" else "true"
            out.append(f"        - {{name: s{i}, shell: sh, bash: \"{script}\"}}\n")
        return "".join(out)
    for i in range(n):
        out.append(f"    j{i}:\n")
        if shape == "chain" and i > 0:
            out.append(f"      needs: [j{i - 1}]\n")
        out.append(stage("      "))
    return "".join(out)


def matrix_workflow(n, layers):
    out = ["bench:\n", "  type: Workflow\n", "  jobs:\n"]
    legs = n // layers
    values = ", ".join(str(i) for i in range(legs))
    for k in range(layers):
        out.append(f"    l{k}:\n")
        if k > 0:
            out.append(f"      needs: [l{k - 1}]\n")
        out.append(f"      strategy: {{matrix: {{i: [{values}]}}}}\n")
        out.append(stage("      "))
    return "".join(out)


def layered_ninja(n, layers):
    legs = n // layers
    out = ["rule t\n  command = true\n\n"]
    for k in range(layers):
        dep = f" | L{k - 1}" if k > 0 else ""
        for i in range(legs):
            out.append(f"build o{k}_{i}: t{dep}\n")
        out.append(f"build L{k}: phony " + " ".join(f"o{k}_{i}" for i in range(legs)) + "\n")
    out.append(f"default L{layers - 1}\n")
    return "".join(out)


def layered_makefile(n, layers):
    legs = n // layers
    names = [f"L{k}" for k in range(layers)] + [f"t{k}_{i}" for k in range(layers) for i in range(legs)]
    out = [".PHONY: all " + " ".join(names) + "\n", f"all: L{layers - 1}\n"]
    for k in range(layers):
        out.append(f"L{k}: " + " ".join(f"t{k}_{i}" for i in range(legs)) + "\n")
        dep = f" L{k - 1}" if k > 0 else ""
        for i in range(legs):
            out.append(f"t{k}_{i}:{dep}\n\t@sh -c true\n")
    return "".join(out)


def ninja(n, shape):
    # `stages` is a strict sequence too, so it has the same graph as `chain`.
    # ninja runs every command through `/bin/sh -c`, so `command = true` is what spawns exactly
    # one `sh -c true` per edge; `command = sh -c true` would spawn two shells per edge.
    out = ["rule t\n  command = true\n\n"]
    for i in range(n):
        dep = f" | o{i - 1}" if shape != "fanout" and i > 0 else ""
        out.append(f"build o{i}: t{dep}\n")
    out.append("build all: phony " + " ".join(f"o{i}" for i in range(n)) + "\n")
    out.append("default all\n")
    return "".join(out)


def makefile(n, shape):
    names = [f"t{i}" for i in range(n)]
    out = [".PHONY: all " + " ".join(names) + "\n", "all: " + " ".join(names) + "\n"]
    for i in range(n):
        dep = f" t{i - 1}" if shape != "fanout" and i > 0 else ""
        out.append(f"t{i}:{dep}\n\t@sh -c true\n")
    return "".join(out)


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# A small workflow with the usual parts (params, needs, a matrix, output, an echo stage),
# whose one recorded run is copied into a history of many runs by grow_store.
HISTORY = """history:
  type: Workflow
  params:
    name: {type: str, default: world}
  jobs:
    prepare:
      stages:
        - {name: greet, shell: sh, bash: 'echo "hello $WF_RUN_ID"; echo "n=3" >> "$WF_OUTPUT"'}
    work:
      needs: [prepare]
      strategy: {matrix: {shard: [1, 2, 3]}}
      stages:
        - {name: "work ${{ matrix.shard }}", shell: sh, bash: 'echo "shard $WF_MATRIX_SHARD"; echo note >&2'}
        - {name: done, echo: "shard finished"}
    report:
      needs: [work]
      stages: [{name: report, shell: sh, bash: "echo all done"}]
"""


def grow_store(db_path, total):
    """Copies the runs of a wf state file until it holds `total` runs, each copy a run
    10 minutes older than the one before, with its own job instances, stages and logs."""
    db = sqlite3.connect(db_path)
    have = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    copies = (total - have + have - 1) // have if have else 0
    if copies <= 0:
        return
    jmax = db.execute("SELECT coalesce(max(id), 0) FROM job_instances").fetchone()[0]
    smax = db.execute("SELECT coalesce(max(id), 0) FROM stages").fetchone()[0]
    lmax = db.execute("SELECT coalesce(max(seq), 0) FROM logs").fetchone()[0]
    cols = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            for t in ("runs", "run_attempts", "job_instances", "stages", "logs")}
    new_id = ("strftime('%Y%m%dT%H%M%S', (r.created_at - k.n * 600000) / 1000, 'unixepoch')"
              " || '-' || printf('%08x', k.n)")
    time_cols = {"created_at", "started_at", "finished_at", "at"}

    def select(table, alias, overrides):
        out = []
        for c in cols[table]:
            if c in overrides:
                out.append(overrides[c])
            elif c in time_cols:
                out.append(f"CASE WHEN {alias}.{c} > 0 THEN {alias}.{c} - k.n * 600000 ELSE 0 END")
            else:
                out.append(f"{alias}.{c}")
        return ", ".join(out)

    k = f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < {copies}) "
    with db:
        db.execute(k + f"INSERT INTO runs SELECT {select('runs', 'r', {'id': new_id})} FROM runs r, k")
        db.execute(k + f"INSERT INTO run_attempts SELECT {select('run_attempts', 'a', {'run_id': new_id})}"
                   " FROM run_attempts a JOIN runs r ON r.id = a.run_id, k")
        db.execute(k + "INSERT INTO job_instances SELECT "
                   + select("job_instances", "j", {"id": f"j.id + k.n * {jmax}", "run_id": new_id})
                   + " FROM job_instances j JOIN runs r ON r.id = j.run_id, k")
        db.execute(k + "INSERT INTO stages SELECT "
                   + select("stages", "s", {"id": f"s.id + k.n * {smax}",
                                            "job_instance_id": f"s.job_instance_id + k.n * {jmax}"})
                   + " FROM stages s, k")
        db.execute(k + "INSERT INTO logs SELECT "
                   + select("logs", "l", {"seq": f"l.seq + k.n * {lmax}", "stage_id": f"l.stage_id + k.n * {smax}"})
                   + " FROM logs l, k")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--grow-store":
        grow_store(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) != 3:
        sys.exit("usage: bench_gen.py N OUTDIR | bench_gen.py --grow-store STATE_FILE RUNS")
    n, d = int(sys.argv[1]), sys.argv[2]
    for shape in ("fanout", "chain", "stages"):
        write(f"{d}/{shape}.yml", workflow(n, shape))
        write(f"{d}/{shape}/build.ninja", ninja(n, shape))
        write(f"{d}/{shape}/Makefile", makefile(n, shape))
    layers = 10 if n >= 10 else 1
    write(f"{d}/layers.yml", matrix_workflow(n, layers))
    write(f"{d}/layers/build.ninja", layered_ninja(n, layers))
    write(f"{d}/layers/Makefile", layered_makefile(n, layers))
    write(f"{d}/matrix.yml", matrix_workflow(n, 1))
    write(f"{d}/stages.sh", f"i=0\nwhile [ $i -lt {n} ]; do sh -c true; i=$((i + 1)); done\n")
    write(f"{d}/stages_quarter.yml", workflow(max(n // 4, 1), "stages"))
    write(f"{d}/stages_distinct.yml", workflow(n, "stages_distinct"))
    for v in (100, 1000):
        write(f"{d}/validate_{v}.yml", workflow(v, "chain"))
    write(f"{d}/history.yml", HISTORY)


if __name__ == "__main__":
    main()
