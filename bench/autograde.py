"""Benchmark of autograding: nbgrader's kernel, nbgrader with the trusted grader, the batch.

The same N generated submissions (files identical byte for byte) are graded in one run by

    (a) ``nbgrader autograde`` with nbgrader's default pipeline (a Jupyter kernel per submission),
        in a course that has only nbgrader's defaults;
    (b) ``nbgrader autograde`` with this repository's configuration (TrustedGrade, no kernel);
    (c) the batch grading CLI, ``python -m grader grade PATHS... --jobs J --csv FILE -q``
        (sandboxes in parallel, no gradebook), timed end to end as a subprocess;
    (d) ``python -m grader.parallel --jobs J``: sandboxes in parallel while nbgrader records
        every grade in its gradebook (one writer), timed end to end as a subprocess;

and the floor is one sandboxed ``python -c "import numpy"`` per submission, one after another
(``grader.sandbox.sandboxed_python_command``: the harness's sandbox, seccomp filter included):
what any design that runs each submission in its own sandboxed interpreter must pay. The floor
uses one core; (c) and (d) use J, so the report also shows the floor divided by the CPU count.

Per-submission times of (a) and (b) come from nbgrader's pre/post convert hooks (added to the
benchmark's course configuration only); for (c) and (d), which grade several submissions at
once, the per-submission time is the total divided by N (amortised). Totals are wall-clock times
of the whole command, start-up included.

Scores: the per-student totals of (b) and (d) (nbgrader's gradebook) and (c) (the CSV) must be
equal, or the benchmark fails; (a) runs only the public test cells, so it may differ: the report
lists the students where it does.
"""

from __future__ import annotations

import csv
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from examples.build import ALICE, BOB, STUDENT_NOTEBOOK, submission
from grader.demo import create_course, nbgrader, nbgrader_environment, submission_path
from grader.exercises import ASSIGNMENT_ID, EXERCISES

# The goals: (b) and (c) this many times faster than (a); (c) at most 1.5x the floor.
GOALS = {("b", "a"): 2.5, ("c", "a"): 10.0, ("c", "floor"): 1.5}

# Appended to a benchmark course's configuration: one line per submission start and end.
TIMING_HOOKS = """
import time as _time

def _stamp(event):
    def hook(**_):
        with open({path!r}, "a") as stream:
            stream.write(f"{{event}} {{_time.perf_counter()}}\\n")
    return hook

c.Autograde.pre_convert_hook = _stamp("start")
c.Autograde.post_convert_hook = _stamp("end")
"""

# nbgrader's defaults only: the course of run (a).
VANILLA_CONFIG = """
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "cnn_step_by_step"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
"""


@dataclass(frozen=True)
class Run:
    """One way of grading the N submissions: wall time of the run, per-submission times, and
    each student's total score (empty for the floor)."""

    label: str
    total: float
    per_submission: tuple[float, ...]
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.per_submission)


def variant_sources(index: int) -> dict[str, str]:
    """Submission ``index``'s code: per exercise alice's (correct) or bob's (stride mistakes)
    body, chosen by the bits of ``index``; every fifth student skips the optional backward part.
    A comment naming the student makes every notebook distinct (no two grade alike by chance)."""
    bodies = {}
    for bit, exercise in enumerate(EXERCISES):
        if exercise.part == "backward" and index % 5 == 4:
            continue
        bodies[exercise.name] = (BOB if (index >> bit) & 1 else ALICE)[exercise.name]
    bodies["zero_pad"] = f"    # student {index:03d}\n" + bodies["zero_pad"].lstrip("\n")
    return bodies


def generated_submissions(count: int) -> list[nbformat.NotebookNode]:
    release = nbformat.read(STUDENT_NOTEBOOK, as_version=4)
    return [submission(release, variant_sources(index)) for index in range(count)]


def prepare_course(
    root: Path, notebooks, *, vanilla: bool, timing_file: Path | None, db_url: str = ""
) -> Path:
    """A released course under ``root`` with ``notebooks`` handed in as student000, student001...
    (its gradebook at ``db_url``, else the course's SQLite file)."""
    course = create_course(root / "course")
    if vanilla:
        (course / "nbgrader_config.py").write_text(VANILLA_CONFIG.format(root=str(course)))
    if db_url:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    if timing_file is not None:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(TIMING_HOOKS.format(path=str(timing_file)))
    nbgrader(course, "generate_assignment", ASSIGNMENT_ID)
    for index, notebook in enumerate(notebooks):
        path = submission_path(course, f"student{index:03d}")
        path.parent.mkdir(parents=True)
        nbformat.write(notebook, str(path))
    return course


def per_submission_times(timing_file: Path) -> tuple[float, ...]:
    """Durations between each 'start' stamp and the 'end' stamp that follows it."""
    times, started = [], None
    for line in timing_file.read_text().splitlines():
        event, stamp = line.split()
        if event == "start":
            started = float(stamp)
        elif started is not None:
            times.append(float(stamp) - started)
            started = None
    return tuple(times)


def gradebook_scores(course: Path, db_url: str = "") -> dict[str, float]:
    """Each student's total score of the assignment in the course's gradebook (at ``db_url``,
    else its SQLite file)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            student.id: round(gradebook.find_submission(ASSIGNMENT_ID, student.id).score, 2)
            for student in gradebook.students
        }


def csv_scores(path: Path) -> dict[str, float]:
    """Each student's total in the batch CLI's CSV."""
    with open(path, newline="", encoding="utf-8") as stream:
        return {row["student"]: round(float(row["total"]), 2) for row in csv.DictReader(stream)}


def timed_nbgrader_autograde(course: Path, timing_file: Path, label: str) -> Run:
    started = time.perf_counter()
    nbgrader(course, "autograde", ASSIGNMENT_ID)
    total = time.perf_counter() - started
    return Run(label, total, per_submission_times(timing_file), gradebook_scores(course))


def timed_batch_cli(course: Path, count: int, jobs: int, csv_path: Path) -> Run:
    """(c): the batch CLI on the course's submitted notebooks, end to end."""
    paths = sorted(str(path) for path in (course / "submitted").glob(f"*/{ASSIGNMENT_ID}/*.ipynb"))
    assert len(paths) == count, f"{len(paths)} submitted notebooks, expected {count}"
    command = [sys.executable, "-m", "grader", "grade", *paths, f"--jobs={jobs}"]
    command += ["--csv", str(csv_path), "-q"]
    started = time.perf_counter()
    quietly(command)
    total = time.perf_counter() - started
    label = f"(c) python -m grader grade --jobs {jobs} --csv"
    return Run(label, total, (total / count,) * count, csv_scores(csv_path))


def timed_parallel(course: Path, count: int, jobs: int) -> Run:
    """(d): parallel grading while nbgrader records into its gradebook, end to end."""
    command = [sys.executable, "-m", "grader.parallel", str(course), f"--jobs={jobs}", "--quiet"]
    started = time.perf_counter()
    quietly(command)
    total = time.perf_counter() - started
    label = f"(d) python -m grader.parallel --jobs {jobs}"
    return Run(label, total, (total / count,) * count, gradebook_scores(course))


def quietly(command: list[str]) -> None:
    """Run ``command`` in nbgrader's environment; its output is shown only if it fails."""
    completed = subprocess.run(
        command, env=nbgrader_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])}... exited {completed.returncode}:\n"
            + completed.stdout.decode(errors="replace")[-4000:]
        )


def timed_floor(count: int) -> Run:
    """One sandboxed ``python -c "import numpy"`` per submission, sequentially."""
    from grader import sandbox

    with sandbox.SeccompFile() as seccomp:
        command = sandbox.sandboxed_python_command("import numpy", seccomp_fd=seccomp.fd)
        times = []
        for _ in range(count):
            seccomp.rewind()  # bwrap reads the filter from where the fd is
            started = time.perf_counter()
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, pass_fds=seccomp.pass_fds
            )
            times.append(time.perf_counter() - started)
    return Run('floor: sandboxed python -c "import numpy"', sum(times), tuple(times))


def run_benchmark(count: int, jobs: int, say=print) -> dict[str, Run]:
    """Grade ``count`` generated submissions the four ways; return the runs and the floor.

    Raises AssertionError when (b), (c) and (d) disagree on any student's total."""
    notebooks = generated_submissions(count)
    # One course secret for every run (a real course has one), so no run warns about the
    # public development secret, and the hidden inputs are not the public ones.
    os.environ["GRADER_SECRET"] = secrets.token_hex(16)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as scratch:
        scratch = Path(scratch)
        for key, vanilla, label in (
            ("a", True, "(a) nbgrader autograde, kernel Execute"),
            ("b", False, "(b) nbgrader autograde, TrustedGrade"),
        ):
            timing = scratch / f"{key}-times.txt"
            course = prepare_course(scratch / key, notebooks, vanilla=vanilla, timing_file=timing)
            say(f"running {label} on {count} submissions...")
            runs[key] = timed_nbgrader_autograde(course, timing, label)
            say(f"  {runs[key].total:.2f} s, median {runs[key].median:.3f} s per submission")
        course = prepare_course(scratch / "c", notebooks, vanilla=False, timing_file=None)
        say(f"running (c) python -m grader grade on {count} submissions, {jobs} jobs...")
        runs["c"] = timed_batch_cli(course, count, jobs, scratch / "c-grades.csv")
        say(f"  {runs['c'].total:.2f} s")
        say(f"running (d) python -m grader.parallel on {count} submissions, {jobs} jobs...")
        runs["d"] = timed_parallel(course, count, jobs)
        say(f"  {runs['d'].total:.2f} s")
    say("running the floor...")
    runs["floor"] = timed_floor(count)
    check_scores(runs, count)
    return runs


def check_scores(runs: dict[str, Run], count: int) -> None:
    """(b), (c) and (d) graded the same ``count`` students and agree on every total."""
    students = sorted(runs["b"].scores)
    assert len(students) == count, f"(b) graded {len(students)} students, not {count}"
    for key in ("a", "c", "d"):
        assert sorted(runs[key].scores) == students, f"({key}) graded other students than (b)"
    for key in ("c", "d"):
        differ = [s for s in students if runs[key].scores[s] != runs["b"].scores[s]]
        assert not differ, f"({key}) and (b) disagree on {len(differ)} students: " + ", ".join(
            f"{s} {runs[key].scores[s]:g} vs {runs['b'].scores[s]:g}" for s in differ[:5]
        )


def score_differences(runs: dict[str, Run]) -> list[str]:
    """The students on whom vanilla nbgrader (a) disagrees with the trusted grade (b)."""
    a, b = runs["a"].scores, runs["b"].scores
    return [f"{s} (a) {a[s]:g} vs (b) {b[s]:g}" for s in sorted(b) if a.get(s) != b[s]]


def report(runs: dict[str, Run], count: int, jobs: int) -> str:
    """The printed result: totals, per-submission times, ratios against their goals, scores."""
    cpus = os.cpu_count() or 1
    floor = runs["floor"].total
    lines = [
        f"{count} submissions, {cpus} CPUs, parallel jobs = {jobs}",
        "",
        f"{'run':48} {'total':>8} {'per submission':>15}  {'a / run':>8} {'run / floor':>11}",
    ]
    for key in ("a", "b", "c", "d", "floor"):
        run = runs[key]
        per = f"{run.median:.3f}s" + (" med" if key in ("a", "b", "floor") else " amo")
        speedup = f"{runs['a'].total / run.total:7.1f}x"
        versus_floor = f"{run.total / floor:10.2f}x"
        lines.append(f"{run.label:48} {run.total:7.2f}s {per:>15}  {speedup:>8} {versus_floor:>11}")
    lines.append(
        f"{'floor / ' + str(cpus) + ' (the floor spread over every CPU)':48} "
        f"{floor / cpus:7.2f}s {floor / cpus / count:14.3f}s"
    )
    lines.append("(med: median of per-submission times; amo: total / N, submissions overlap)")
    lines.append("")
    for (run, baseline), goal in GOALS.items():
        if baseline == "floor":
            value = runs[run].total / floor
            met = value <= goal
            text = f"({run}) takes {value:.2f}x the floor (goal: at most {goal:g}x)"
            text += f"; {runs[run].total / (floor / cpus):.2f}x the floor / {cpus}"
        else:
            value = runs[baseline].total / runs[run].total
            met = value >= goal
            text = f"({run}) is {value:.1f}x faster than ({baseline}) (goal: at least {goal:g}x)"
        lines.append(f"{'MET    ' if met else 'NOT MET'}  {text}")
    d = runs["d"].total
    lines.append(
        f"(no goal) (d) is {runs['a'].total / d:.1f}x faster than (a), takes {d / floor:.2f}x "
        f"the floor; its recording by nbgrader (one writer) costs {d - runs['c'].total:.1f} s "
        "over (c)"
    )
    lines.append("")
    lines.append(f"scores: (b), (c) and (d) agree on all {count} students' totals")
    differences = score_differences(runs)
    if differences:
        lines.append(f"(a) (public test cells only) differs on {len(differences)}:")
        lines.extend(f"  {difference}" for difference in differences)
    else:
        lines.append("(a) (public test cells only) agrees too")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines.append(f"load average at the end (1, 5, 15 min): {load}; other work slows every run")
    return "\n".join(lines)
