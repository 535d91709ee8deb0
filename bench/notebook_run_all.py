"""Benchmark: Run-All time of the solution notebook on this machine, kernel start-up excluded.

    python -m bench.notebook_run_all [--runs N]

Each run starts a fresh ``python3`` kernel on this Python (the virtualenv's ipykernel), waits
until it answers, then times executing every cell in order from the notebook's folder, as
*Run All* would once the kernel is up. Imports (numpy, matplotlib), the public tests, the photo
section and the gradient checks all count. Prints the median and range over the runs and the
slowest cells of the median run; the goal is a median of at most GOAL_SECONDS. A report, not a
test: it never fails on time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from authoring.notebooks import REPO_ROOT, SOLUTION_NOTEBOOK, this_python_kernel

GOAL_SECONDS = 5.0


def run_all_once(path: Path) -> tuple[float, list[tuple[float, str]]]:
    """One Run-All of the notebook at ``path`` in a fresh kernel.

    Returns (seconds for all cells, [(seconds, cell label) per code cell]); kernel start-up and
    the first kernel_info round trip are not counted.
    """
    notebook = nbformat.read(str(path), as_version=4)
    client = NotebookClient(
        notebook,
        km=this_python_kernel(),
        timeout=300,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.reset_execution_trackers()
    per_cell = []
    with client.setup_kernel():
        client.wait_for_reply(client.kc.kernel_info())  # the kernel is up and answering
        start = time.perf_counter()
        for index, cell in enumerate(notebook.cells):
            before = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                per_cell.append((time.perf_counter() - before, grade_id or cell.get("id", "?")))
        total = time.perf_counter() - start
    return total, per_cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notebook_run_all", description=__doc__)
    parser.add_argument("--runs", "-n", type=int, default=5, help="fresh-kernel runs (default 5)")
    args = parser.parse_args(argv)
    runs = [run_all_once(SOLUTION_NOTEBOOK) for _ in range(args.runs)]
    totals = [total for total, _ in runs]
    median = statistics.median(totals)
    _, median_cells = min(runs, key=lambda run: abs(run[0] - median))
    verdict = "within" if median <= GOAL_SECONDS else "OVER"
    print(
        f"Run-All of {SOLUTION_NOTEBOOK.relative_to(REPO_ROOT)}, kernel start-up excluded, "
        f"{args.runs} fresh kernels: median {median:.2f} s (min {min(totals):.2f} s, "
        f"max {max(totals):.2f} s), {verdict} the {GOAL_SECONDS:g} s goal"
    )
    print("slowest cells of the median run:")
    for seconds, label in sorted(median_cells, reverse=True)[:6]:
        print(f"  {seconds:6.3f} s  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
