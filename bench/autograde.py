"""Benchmark of autograding: nbgrader's kernel, nbgrader with the trusted grader, the batch.

The same N generated submissions are graded in one run by

    (a) ``nbgrader autograde`` with nbgrader's default pipeline (a Jupyter kernel per submission),
        in a course that has only nbgrader's defaults;
    (b) ``nbgrader autograde`` with this repository's configuration (TrustedGrade, no kernel);
    (c) ``python -m grader.parallel --jobs <CPUs>`` (sandboxes in parallel, then nbgrader records);

and the floor is one sandboxed ``python -c "import numpy"`` per submission, one after another:
what any design that runs each submission in its own sandboxed interpreter must pay.
Per-submission times of (a) and (b) come from nbgrader's pre/post convert hooks (added to the
benchmark's course configuration only); totals are wall-clock times of the whole command,
nbgrader's start-up included.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from examples.build import ALICE, BOB, STUDENT_NOTEBOOK, submission
from grader.demo import create_course, nbgrader, nbgrader_environment, submission_path
from grader.exercises import ASSIGNMENT_ID, EXERCISES

GOALS = {"b_vs_a": 2.5, "c_vs_a": 10.0, "c_vs_floor": 1.5}

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
    """One way of grading the N submissions: wall time of the run, per-submission times."""

    label: str
    total: float
    per_submission: tuple[float, ...]

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


def prepare_course(root: Path, notebooks, *, vanilla: bool, timing_file: Path | None) -> Path:
    """A released course under ``root`` with ``notebooks`` handed in as student000, student001..."""
    course = create_course(root / "course")
    if vanilla:
        (course / "nbgrader_config.py").write_text(VANILLA_CONFIG.format(root=str(course)))
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


def timed_nbgrader_autograde(course: Path, timing_file: Path, label: str) -> Run:
    started = time.perf_counter()
    nbgrader(course, "autograde", ASSIGNMENT_ID)
    total = time.perf_counter() - started
    return Run(label, total, per_submission_times(timing_file))


def timed_parallel(course: Path, count: int, jobs: int) -> Run:
    command = [sys.executable, "-m", "grader.parallel", str(course), f"--jobs={jobs}", "--quiet"]
    started = time.perf_counter()
    subprocess.run(command, env=nbgrader_environment(), check=True)
    total = time.perf_counter() - started
    return Run(f"(c) python -m grader.parallel --jobs {jobs}", total, (total / count,) * count)


def sandboxed_import_numpy(scratch: Path) -> list[str]:
    """The grader's own bubblewrap sandbox (grader.sandbox.bwrap_arguments: same namespaces,
    mounts and environment) around ``python -c "import numpy"``: the harness minus its work."""
    from grader import sandbox

    sites = [f"{sandbox.SANDBOX_SITE}/{i}" for i in range(len(sandbox._site_directories()))]
    arguments = sandbox.bwrap_arguments(scratch, scratch, sandbox.Limits(), seccomp_fd=None)
    code = f"import sys; sys.path.extend({sites!r}); import numpy"
    return [*arguments, "--", os.path.realpath(sys.executable), "-c", code]


def timed_grading_phase(course: Path, count: int, jobs: int) -> Run:
    """(c)'s grading alone, in its worker processes, without nbgrader: the CPU-bound part."""
    from grader.parallel import start_grading

    paths = sorted((course / "submitted").glob(f"*/{ASSIGNMENT_ID}/*.ipynb"))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        executor, _ = start_grading(paths, Path(folder), jobs=jobs, sandbox=True, on_done=_nothing)
        executor.shutdown(wait=True)
        total = time.perf_counter() - started
    return Run(f"    of which grading alone, {jobs} workers", total, (total / count,) * count)


def _nothing() -> None:
    pass


def timed_floor(count: int) -> Run:
    """One sandboxed ``python -c "import numpy"`` per submission, sequentially."""
    with tempfile.TemporaryDirectory() as scratch:
        command = sandboxed_import_numpy(Path(scratch))
        times = []
        for _ in range(count):
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
    return Run('floor: sandboxed python -c "import numpy"', sum(times), tuple(times))


def run_benchmark(count: int, jobs: int, say=print) -> dict[str, Run]:
    """Grade ``count`` generated submissions the three ways; return the runs and the floor."""
    notebooks = generated_submissions(count)
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
        say(f"running (c) grader.parallel on {count} submissions, {jobs} jobs...")
        runs["c"] = timed_parallel(course, count, jobs)
        say(f"  {runs['c'].total:.2f} s")
        say("running (c)'s grading phase alone...")
        runs["c_grading"] = timed_grading_phase(course, count, jobs)
    say("running the floor...")
    runs["floor"] = timed_floor(count)
    return runs


def report(runs: dict[str, Run], count: int, jobs: int) -> str:
    """The printed result: totals, medians, the three ratios against their goals."""
    lines = [
        f"{count} submissions, {os.cpu_count()} CPUs, parallel jobs = {jobs}",
        f"{'':46} {'total':>9} {'median per submission':>22}",
    ]
    for key in ("a", "b", "c", "c_grading", "floor"):
        run = runs[key]
        lines.append(f"{run.label:46} {run.total:8.2f}s {run.median:21.3f}s")
    a, b, c, floor = (runs[key].total for key in ("a", "b", "c", "floor"))
    ratios = {
        "b_vs_a": (a / b, f"(b) is {a / b:.1f}x faster than (a)", "at least"),
        "c_vs_a": (a / c, f"(c) is {a / c:.1f}x faster than (a)", "at least"),
        "c_vs_floor": (c / floor, f"(c) takes {c / floor:.2f}x the floor", "at most"),
    }
    lines.append("")
    for key, (value, text, direction) in ratios.items():
        goal = GOALS[key]
        met = value >= goal if direction == "at least" else value <= goal
        lines.append(f"{text:40} goal {direction} {goal:g}x: {'met' if met else 'NOT MET'}")
    grading = runs["c_grading"].total
    lines.append(
        f"(c) per submission, amortised: {c / count:.3f} s; its grading phase alone takes "
        f"{grading / floor:.2f}x the floor; floor per submission: {runs['floor'].median:.3f} s"
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines.append(f"load average at the end (1, 5, 15 min): {load}; other work slows every run")
    return "\n".join(lines)
