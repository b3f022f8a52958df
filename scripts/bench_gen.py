#!/usr/bin/env python3
"""Generates the benchmark inputs that scripts/bench.sh times.

For N and an output directory it writes, for each shape:
  fanout  N independent jobs, one stage `true` each
  chain   N jobs, job i needs job i-1
  stages  one job with N sequential stages
the workflow file (<shape>.yml), an equivalent <shape>/build.ninja and <shape>/Makefile,
plus stages.sh (a shell loop spawning `sh -c true` N times), stages_quarter.yml (the stages
shape at N/4, to see whether wf's per-task cost grows with N) and two validate-only files
(validate_100.yml, validate_1000.yml: a 100- and a 1000-job chain).

Every ninja edge and make target is always out of date, so each run executes every command:
ninja outputs are never created (ninja treats a missing output as dirty) and make targets are
.PHONY. Stamps are not used, so no file system writes besides wf's state (and ninja's
.ninja_log) are timed. Every tool spawns exactly one `sh -c true` process per task.
"""
import os
import sys


def stage(indent):
    return f"{indent}stages: [{{name: s, shell: sh, bash: \"true\"}}]\n"


def workflow(n, shape):
    out = ["bench:\n", "  type: Workflow\n", "  jobs:\n"]
    if shape == "stages":
        out.append("    j0:\n      stages:\n")
        for i in range(n):
            out.append(f"        - {{name: s{i}, shell: sh, bash: \"true\"}}\n")
        return "".join(out)
    for i in range(n):
        out.append(f"    j{i}:\n")
        if shape == "chain" and i > 0:
            out.append(f"      needs: [j{i - 1}]\n")
        out.append(stage("      "))
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


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_gen.py N OUTDIR")
    n, d = int(sys.argv[1]), sys.argv[2]
    for shape in ("fanout", "chain", "stages"):
        write(f"{d}/{shape}.yml", workflow(n, shape))
        write(f"{d}/{shape}/build.ninja", ninja(n, shape))
        write(f"{d}/{shape}/Makefile", makefile(n, shape))
    write(f"{d}/stages.sh", f"i=0\nwhile [ $i -lt {n} ]; do sh -c true; i=$((i + 1)); done\n")
    write(f"{d}/stages_quarter.yml", workflow(max(n // 4, 1), "stages"))
    for v in (100, 1000):
        write(f"{d}/validate_{v}.yml", workflow(v, "chain"))


if __name__ == "__main__":
    main()
