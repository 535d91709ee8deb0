"""CPU per submission of the trusted grader, this tree against a baseline commit, in one run.

    python -m bench.grading_cpu [--baseline REV] [--rounds N]

Both trees grade the same notebooks (the solution and the example submissions alice, bob and
the older edition) with ``grader.grade.grade_notebook``, one after another, N rounds. Each
measurement runs in a process that first moves itself into a fresh cgroup v1 ``cpuacct`` group,
so the CPU of everything it starts counts: the grader, bubblewrap, the zygote, every exercise's
process and the extraction children, killed or not (``RUSAGE_CHILDREN`` would miss processes
whose parent was killed before reaping them). The baseline is a temporary ``git worktree`` of
REV (default: the commit before the per-exercise sandbox of issue 8). The goal: at most 1.25x
the baseline. Needs root and a writable ``/sys/fs/cgroup/cpuacct``; says so and exits 0 without.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
BASELINE = "602a020"  # main before issue 8: one sandboxed process for all exercises
GOAL = 1.25
NOTEBOOKS = ("solutions/assignment.ipynb", "examples/alice.ipynb", "examples/bob.ipynb")
NOTEBOOKS += ("examples/other_edition.ipynb",)

# Run in each tree (its own grader), with the notebooks of this tree.
MEASURE = r"""
import json, os, statistics, sys, time, uuid
sys.path.insert(0, os.getcwd())
group = f"/sys/fs/cgroup/cpuacct/grader-bench-{uuid.uuid4().hex[:8]}"
os.mkdir(group)
with open(f"{group}/cgroup.procs", "w") as stream:
    stream.write(str(os.getpid()))
def usage():
    with open(f"{group}/cpuacct.usage") as stream:
        return int(stream.read()) / 1e9
from grader.grade import grade_notebook
paths, rounds = json.loads(sys.argv[1]), int(sys.argv[2])
grade_notebook(paths[0])  # warm: imports, the public cases' expected values
samples = []
for _ in range(rounds):
    for path in paths:
        time.sleep(0.2)  # the last sandbox's processes finish dying outside the sample
        before = usage()
        grade_notebook(path)
        time.sleep(0.2)
        samples.append(usage() - before)
import grader.extract
server = getattr(grader.extract, "_SERVER", None)
if server is not None:
    server.stop()
with open("/sys/fs/cgroup/cpuacct/cgroup.procs", "w") as stream:
    stream.write(str(os.getpid()))
os.rmdir(group)
print(json.dumps(samples))
"""


def measure(tree: Path, rounds: int) -> list[float]:
    """CPU seconds of each grading, in ``tree``'s grader."""
    paths = json.dumps([str(REPOSITORY / notebook) for notebook in NOTEBOOKS])
    completed = subprocess.run(
        [sys.executable, "-c", MEASURE, paths, str(rounds)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grading_cpu", description=__doc__)
    parser.add_argument("--baseline", default=BASELINE, help=f"commit (default {BASELINE})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the notebooks (3)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not os.access(CPUACCT, os.W_OK):
        print("bench.grading_cpu: needs root and a writable cgroup v1 cpuacct: skipped")
        return 0
    with tempfile.TemporaryDirectory(prefix="grader-baseline-") as folder:
        baseline = Path(folder) / "tree"
        subprocess.run(
            ["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "-q", str(baseline),
             args.baseline],
            check=True,
        )  # fmt: skip
        try:
            results = {}
            for _ in range(2):  # interleaved, so that the machine's load hits both alike
                for name, tree in (("baseline", baseline), ("this tree", REPOSITORY)):
                    results.setdefault(name, []).extend(measure(tree, args.rounds))
        finally:
            subprocess.run(
                ["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(baseline)],
                check=False,
            )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    gradings = len(NOTEBOOKS) * args.rounds * 2
    print(f"CPU per submission of grade_notebook, {gradings} gradings per tree")
    print(f"load average at the end (1, 5, 15 min): {load}")
    base, this = median(results["baseline"]), median(results["this tree"])
    print(f"  baseline {args.baseline:10} {base * 1000:7.0f} ms (median)")
    print(f"  this tree          {this * 1000:7.0f} ms (median)   {this / base:.2f}x the baseline")
    verdict = "MET    " if this / base <= GOAL else "NOT MET"
    print(f"{verdict}  at most {GOAL:.2f}x the baseline's CPU per submission")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
