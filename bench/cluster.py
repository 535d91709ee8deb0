"""Benchmark of autograding on a Dask cluster into PostgreSQL against sequential nbgrader, in one
run, and the CPU each submission costs (issue 11's cost model).

    python -m bench.cluster [--submissions N]

The same N generated submissions (``bench.autograde``'s generator, files identical byte for
byte) are graded by

    (b) ``nbgrader autograde`` with TrustedGrade, one submission after another, SQLite gradebook
        (as ``python -m bench`` runs it);
    (c) ``python -m grader grade --jobs 2 --csv``: grading alone, nothing recorded (what the cost
        model calls grading);
    (d) ``python -m grader.parallel --jobs 2``: sandboxes in parallel, nbgrader the one writer of
        the SQLite gradebook;
    Dask 1, Dask 2: ``grader.cluster_autograde`` (``grader.parallel --scheduler``) on a
        LocalCluster of 1, then 2 worker processes (one thread each), every worker recording its
        batches of students into a throwaway PostgreSQL server (``tests/postgres_server.py``),
        default batch size, each worker thread's nbgrader process (``grader.batch_recorder``)
        started by its first batch, within the timed run.

Wall time: the whole command for (b), (c) and (d); for the Dask runs, ``autograde_on_cluster``
from its call to its return with the LocalCluster already up (a cluster exists before a class is
graded), the workers' first imports of nbgrader and the grader included.

CPU: as root with a writable cgroup v1 ``cpuacct``, each run goes in a fresh cpuacct group
(this process moves in before the run starts anything, so every process the run starts counts:
nbgrader, the Dask scheduler, workers and client, bubblewrap and every sandboxed process), and
the PostgreSQL server has a group of its own, read before and after each Dask run. Without it,
CPU figures are left out.

Goals (issue 11): Dask 2 at least 1.6x faster than Dask 1, and at least 1.5x faster than (b).
Every run must agree with (b) on every student's total, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.autograde import (
    Run,
    generated_submissions,
    gradebook_scores,
    prepare_course,
    timed_batch_cli,
    timed_nbgrader_autograde,
    timed_parallel,
)
from tests.postgres_server import another_database, throwaway_postgres

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
JOBS = 2
# Issue 11's goals: (run, baseline) -> at least this many times faster.
GOALS = {("dask2", "dask1"): 1.6, ("dask2", "b"): 1.5}
# The cost model's class sizes and wall-clock budgets (hours).
CLASS_SIZES = (10_000, 100_000)
BUDGETS_HOURS = (1, 8)


class CpuGroup:
    """A fresh cgroup v1 cpuacct group. ``enter()`` moves this process in: what it starts from
    then on stays in the group, and counts, even after ``leave()`` moves this process back."""

    def __init__(self, name: str):
        self.path = CPUACCT / f"grader-bench-{name}-{uuid.uuid4().hex[:8]}"
        self.path.mkdir()

    @staticmethod
    def available() -> bool:
        return os.geteuid() == 0 and os.access(CPUACCT / "cgroup.procs", os.W_OK)

    def seconds(self) -> float:
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def enter(self) -> None:
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def leave(self) -> None:
        (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        # A process the run started may outlive it (seen after the first LocalCluster's run: its
        # group empties only when this benchmark exits): the group is then left behind.
        with contextlib.suppress(OSError):
            self.path.rmdir()


class NoCpuGroup:
    """Stands in for CpuGroup where cpuacct cannot be used: no CPU figures."""

    def seconds(self) -> float:
        return math.nan

    def enter(self) -> None:
        pass

    def leave(self) -> None:
        pass

    def remove(self) -> None:
        pass


def cpu_group(name: str):
    return CpuGroup(name) if CpuGroup.available() else NoCpuGroup()


@dataclass(frozen=True)
class Measured:
    """A run and the CPU seconds it used (``server``: the PostgreSQL server's, during it)."""

    run: Run
    cpu: float
    server: float = 0.0


def measured(name: str, action) -> Measured:
    """``action()`` (returning a Run) inside a fresh cpuacct group."""
    group = cpu_group(name)
    group.enter()
    try:
        before = group.seconds()
        run = action()
        cpu = group.seconds() - before
    finally:
        group.leave()
    group.remove()
    return Measured(run, cpu)


def timed_dask(course: Path, url: str, workers: int, count: int, server_group) -> Measured:
    """``grader.cluster_autograde`` on a LocalCluster of ``workers`` single-threaded worker
    processes, timed from the call to its return, the cluster already up."""
    from grader.cluster_autograde import autograde_on_cluster, default_batch
    from tests.local_cluster import local_cluster

    label = f"Dask {workers} worker(s), PostgreSQL, batch {default_batch(count, workers)}"
    group = cpu_group(f"dask{workers}")
    group.enter()
    try:
        with local_cluster(workers) as cluster:
            cpu, server = group.seconds(), server_group.seconds()
            started = time.perf_counter()
            status = autograde_on_cluster(
                course, scheduler=cluster.scheduler_address, progress=False
            )
            total = time.perf_counter() - started
            cpu, server = group.seconds() - cpu, server_group.seconds() - server
    finally:
        group.leave()
    group.remove()
    if status != 0:
        raise RuntimeError(f"{label}: autograde_on_cluster exited {status}")
    run = Run(label, total, (total / count,) * count, gradebook_scores(course, url))
    return Measured(run, cpu, server)


def run_benchmark(count: int, say=print) -> dict[str, Measured]:
    """Grade ``count`` generated submissions the five ways; AssertionError if any run disagrees
    with (b) on a student's total."""
    notebooks = generated_submissions(count)
    os.environ["GRADER_SECRET"] = secrets.token_hex(16)  # every run, the workers too
    runs: dict[str, Measured] = {}
    server_group = cpu_group("postgres")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        scratch = Path(scratch)
        timing = scratch / "b-times.txt"
        course = prepare_course(scratch / "b", notebooks, vanilla=False, timing_file=timing)
        label = "(b) nbgrader autograde, TrustedGrade, SQLite"
        say(f"running {label} on {count} submissions...")
        runs["b"] = measured("b", lambda: timed_nbgrader_autograde(course, timing, label))
        say(f"  {runs['b'].run.total:.2f} s")
        course = prepare_course(scratch / "c", notebooks, vanilla=False, timing_file=None)
        say(f"running (c) python -m grader grade on {count} submissions, {JOBS} jobs...")
        csv_path = scratch / "c-grades.csv"
        runs["c"] = measured("c", lambda: timed_batch_cli(course, count, JOBS, csv_path))
        say(f"  {runs['c'].run.total:.2f} s")
        say(f"running (d) python -m grader.parallel on {count} submissions, {JOBS} jobs...")
        runs["d"] = measured("d", lambda: timed_parallel(course, count, JOBS))
        say(f"  {runs['d'].run.total:.2f} s")
        server_group.enter()  # the server's processes, started now, stay in its group
        with throwaway_postgres() as url:
            server_group.leave()
            for workers in (1, 2):
                database = another_database(url, f"dask{workers}")
                course = prepare_course(
                    scratch / f"dask{workers}",
                    notebooks,
                    vanilla=False,
                    timing_file=None,
                    db_url=database,
                )
                say(f"running Dask, {workers} worker(s), on {count} submissions...")
                runs[f"dask{workers}"] = timed_dask(course, database, workers, count, server_group)
                say(f"  {runs[f'dask{workers}'].run.total:.2f} s")
        server_group.remove()
    check_scores(runs, count)
    return runs


def check_scores(runs: dict[str, Measured], count: int) -> None:
    """Every run graded the same ``count`` students as (b), with the same totals."""
    expected = runs["b"].run.scores
    assert len(expected) == count, f"(b) graded {len(expected)} students, not {count}"
    for key, measured_run in runs.items():
        scores = measured_run.run.scores
        assert sorted(scores) == sorted(expected), f"{key} graded other students than (b)"
        differ = [s for s in expected if scores[s] != expected[s]]
        assert not differ, f"{key} and (b) disagree on {len(differ)} students: " + ", ".join(
            f"{s} {scores[s]:g} vs {expected[s]:g}" for s in differ[:5]
        )


def cost_model(runs: dict[str, Measured], count: int) -> list[str]:
    """CPU seconds per submission, and the worker cores a class needs in a given wall time."""
    grading = runs["c"].cpu / count
    nbgrader_total = runs["b"].cpu / count
    dask = runs["dask2"]
    worker_side = dask.cpu / count  # workers, client and scheduler
    server = dask.server / count
    efficiency = runs["dask1"].run.total / dask.run.total / 2
    lines = [
        "cost model (CPU seconds per submission, from the runs above):",
        f"  grading alone, (c): {grading:.3f} s",
        f"  nbgrader autograde with TrustedGrade, (b): {nbgrader_total:.3f} s, so nbgrader's "
        f"recording (sanitize, validate, gradebook) {nbgrader_total - grading:.3f} s",
        f"  Dask path, 2 workers: {worker_side:.3f} s on the workers (client and scheduler "
        f"included) + {server:.3f} s in the PostgreSQL server",
        f"  2-worker scaling efficiency: {efficiency:.0%} (Dask 1 total / Dask 2 total / 2)",
    ]
    for size in CLASS_SIZES:
        cpu_hours = size * worker_side / 3600
        cores = [math.ceil(cpu_hours / hours / efficiency) for hours in BUDGETS_HOURS]
        budgets = ", ".join(
            f"{count} worker core{'s' if count != 1 else ''} for {hours} h"
            for count, hours in zip(cores, BUDGETS_HOURS, strict=True)
        )
        lines.append(
            f"  {size:,} submissions: {cpu_hours:.1f} worker CPU-hours "
            f"(+ {size * server / 3600:.2f} h of the database server's CPU): {budgets}"
        )
    return lines


def report(runs: dict[str, Measured], count: int) -> str:
    cpus = os.cpu_count() or 1
    lines = [
        f"{count} submissions, {cpus} CPUs",
        "",
        f"{'run':50} {'total':>8} {'per submission':>15} {'CPU/subm.':>10} {'b / run':>8}",
    ]
    for key in ("b", "c", "d", "dask1", "dask2"):
        run, cpu = runs[key].run, runs[key].cpu + runs[key].server
        per = f"{run.median:.3f}s" + (" med" if key == "b" else " amo")
        speedup = f"{runs['b'].run.total / run.total:7.2f}x"
        lines.append(f"{run.label:50} {run.total:7.2f}s {per:>15} {cpu / count:9.3f}s {speedup:>8}")
    lines.append(
        "(med: median of per-submission times; amo: total / N; CPU: every process of the run, "
        "PostgreSQL's included)"
    )
    lines.append("")
    for (run, baseline), goal in GOALS.items():
        value = runs[baseline].run.total / runs[run].run.total
        text = f"{runs[run].run.label} is {value:.2f}x faster than {runs[baseline].run.label}"
        lines.append(f"{'MET    ' if value >= goal else 'NOT MET'}  {text} (goal: {goal:g}x)")
    lines.append("")
    if not math.isnan(runs["b"].cpu):
        lines.extend(cost_model(runs, count))
        lines.append("")
    lines.append(f"scores: every run agrees with (b) on all {count} students' totals")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines.append(f"load average at the end (1, 5, 15 min): {load}; other work slows every run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--submissions", "-n", type=int, default=200, help="how many (200)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"python -m bench.cluster, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    machine = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} CPUs, {machine}, Python {platform.python_version()}")
    print(f"load average at the start (1, 5, 15 min): {load}")
    if not CpuGroup.available():
        print("no writable cgroup v1 cpuacct (root needed): CPU figures left out")
    runs = run_benchmark(args.submissions)
    print()
    print(report(runs, args.submissions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
