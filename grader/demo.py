"""`make demo`: a demo course graded end to end by nbgrader's own commands, through the sandbox.

    python -m grader.demo

Builds ``demo/course`` afresh from ``course/`` (configuration and master source), releases the
assignment with ``nbgrader generate_assignment``, hands in the bundled example submissions of
``examples/`` for five students, runs ``nbgrader autograde``, ``nbgrader generate_feedback`` and
``nbgrader export``, then prints the score table and where the feedback pages are. One line per
step while it works; exit status 1 if a step fails (its log is in ``demo/logs/``).

The students: alice (correct), bob (two stride mistakes), carol (a notebook of the assignment's
older edition), dave (an empty file) and eve (hostile: see examples/build.py).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME, part_points
from grader.nbgrader_plugin import SUMMARY_KEY

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_TEMPLATE = REPO_ROOT / "course"
EXAMPLES = REPO_ROOT / "examples"
DEMO_ROOT = REPO_ROOT / "demo"

# student -> (bundled example in examples/, or None for an empty file; what it shows)
STUDENTS = {
    "alice": ("alice.ipynb", "correct"),
    "bob": ("bob.ipynb", "conv_forward and pool_backward ignore the stride"),
    "carol": ("other_edition.ipynb", "a notebook of the older edition"),
    "dave": (None, "an empty file"),
    "eve": ("eve.ipynb", "hostile"),
}

# What a course needs from course/: the configuration and the master source (symlinks resolved,
# so the copy stands alone). Nothing nbgrader generated there (gradebook, release...) is copied.
COURSE_FILES = ("nbgrader_config.py", "source")


class NbgraderError(RuntimeError):
    """An nbgrader command exited non-zero; the message ends with the tail of its log."""


@dataclass(frozen=True)
class Row:
    """One line of the score table (points as nbgrader recorded them)."""

    student: str
    forward: float
    backward: float
    total: float
    notes: str


def create_course(destination: Path) -> Path:
    """A fresh nbgrader course at ``destination`` (replaced if it exists), copied from course/."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for name in COURSE_FILES:
        source = COURSE_TEMPLATE / name
        if source.is_dir():
            shutil.copytree(source, destination / name, symlinks=False)
        else:
            shutil.copyfile(source, destination / name)
    return destination


def submission_path(course: Path, student: str) -> Path:
    """Where nbgrader expects ``student``'s notebook: submitted/<student>/<assignment>/."""
    return course / "submitted" / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.ipynb"


def submit(course: Path, student: str, example: Path | None) -> Path:
    """Hand in ``example`` (None: an empty file) as ``student``'s submission."""
    target = submission_path(course, student)
    target.parent.mkdir(parents=True, exist_ok=True)
    if example is None:
        target.write_bytes(b"")
    else:
        shutil.copyfile(example, target)
    return target


def nbgrader_environment() -> dict[str, str]:
    """The environment nbgrader commands run in.

    PATH starts with this interpreter's bin/: nbgrader runs the ``alembic`` command found on PATH
    when it creates a gradebook. PYTHONPATH holds the repository: the course's configuration
    names the trusted grader by import path, and a course may live outside the repository.
    """
    environment = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([bin_dir, environment.get("PATH", "")])
    paths = [str(REPO_ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return environment


def nbgrader(course: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; its output goes to ``log`` (or is captured).

    Raises NbgraderError, quoting the end of the output, when nbgrader exits non-zero.
    """
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    result = subprocess.run(
        command,
        cwd=course,
        env=nbgrader_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-25:])
        where = f" (full log: {log})" if log is not None else ""
        raise NbgraderError(f"nbgrader {' '.join(args)} exited {result.returncode}{where}:\n{tail}")
    return result


def feedback_path(course: Path, student: str) -> Path:
    """The feedback page nbgrader generate_feedback writes for ``student``."""
    return course / "feedback" / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.html"


def autograded_summary(course: Path, student: str) -> dict | None:
    """TrustedGrade's summary in ``student``'s autograded notebook (None if there is none)."""
    path = course / "autograded" / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.ipynb"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("metadata", {}).get(SUMMARY_KEY)


def summary_notes(summary: dict | None) -> str:
    """A short note for the table: why points are missing beyond failed checks, and how found."""
    if summary is None:
        return "not autograded"
    if summary.get("error"):
        return f"not graded: {summary['error']}"
    by_status: dict[str, list[str]] = {}
    for name, exercise in summary["exercises"].items():
        if exercise["status"] != "graded":
            by_status.setdefault(exercise["status"], []).append(name)
    notes = [f"{status}: {', '.join(names)}" for status, names in sorted(by_status.items())]
    notes += [note.split(":")[0].split(" (")[0] for note in summary.get("notes", [])]
    return "; ".join(notes)


def score_rows(course: Path, grades_csv: Path) -> list[Row]:
    """The table's rows: points from nbgrader's export, notes from the autograded notebooks."""
    with open(grades_csv, newline="") as stream:
        records = [row for row in csv.DictReader(stream) if row["assignment"] == ASSIGNMENT_ID]
    return [
        Row(
            student=record["student_id"],
            forward=float(record["forward_score"] or 0),
            backward=float(record["backward_score"] or 0),
            total=float(record["raw_score"] or 0),
            notes=summary_notes(autograded_summary(course, record["student_id"])),
        )
        for record in sorted(records, key=lambda record: record["student_id"])
    ]


def format_table(rows: list[Row]) -> str:
    """The score table: student, forward, backward and total (each out of its points), notes."""
    forward_max, backward_max = part_points("forward"), part_points("backward")
    header = (
        "student",
        f"forward /{forward_max:g}",
        f"backward /{backward_max:g}",
        f"total /{forward_max + backward_max:g}",
        "notes",
    )
    cells = [header] + [
        (row.student, f"{row.forward:g}", f"{row.backward:g}", f"{row.total:g}", row.notes)
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(4)]
    lines = []
    for line in cells:
        numbers = [text.rjust(width) for text, width in zip(line[1:4], widths[1:], strict=True)]
        lines.append("  ".join([line[0].ljust(widths[0]), *numbers, line[4]]).rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def run(root: Path = DEMO_ROOT, say: Callable[[str], None] = print) -> list[Row]:
    """The whole demo under ``root`` (``root/course``, ``root/logs``); returns the table's rows."""
    course = root / "course"
    logs = root / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    steps = [
        ("create the course from course/", lambda: create_course(course)),
        (
            "nbgrader generate_assignment (gradebook + release)",
            lambda: nbgrader(
                course, "generate_assignment", ASSIGNMENT_ID, log=logs / "1-generate.log"
            ),
        ),
        ("hand in the example submissions", lambda: _submit_examples(course)),
        (
            "nbgrader autograde (sandboxed trusted grader, no kernel)",
            lambda: nbgrader(course, "autograde", ASSIGNMENT_ID, log=logs / "2-autograde.log"),
        ),
        (
            "nbgrader generate_feedback",
            lambda: nbgrader(
                course, "generate_feedback", ASSIGNMENT_ID, log=logs / "3-feedback.log"
            ),
        ),
        (
            "nbgrader export (grades.csv)",
            lambda: nbgrader(course, "export", "--to=grades.csv", log=logs / "4-export.log"),
        ),
    ]
    started = time.perf_counter()
    for number, (title, action) in enumerate(steps, start=1):
        step_started = time.perf_counter()
        action()
        say(f"[{number}/{len(steps)}] {title}: {time.perf_counter() - step_started:.1f} s")
    rows = score_rows(course, course / "grades.csv")
    say(f"done in {time.perf_counter() - started:.1f} s\n")
    return rows


def _submit_examples(course: Path) -> None:
    for student, (example, _) in STUDENTS.items():
        submit(course, student, None if example is None else EXAMPLES / example)


def main() -> int:
    print(f"Demo course: {DEMO_ROOT / 'course'} (recreated on every run)")
    try:
        rows = run()
    except NbgraderError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(format_table(rows))
    course = DEMO_ROOT / "course"
    print("\nStudents:")
    for student, (_, description) in STUDENTS.items():
        print(f"  {student:<6} {description}")
    print("\nFeedback pages (one per student):")
    for student in STUDENTS:
        print(f"  {feedback_path(course, student).relative_to(REPO_ROOT)}")
    print(f"Grades (nbgrader export): {(course / 'grades.csv').relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
