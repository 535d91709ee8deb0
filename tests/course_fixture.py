"""Throwaway nbgrader courses for the tests: course/ copied, the assignment released, and helpers
to hand in submissions and read the gradebook.

Each nbgrader command costs about 3 s of start-up, so a test module builds one course (a
module-scoped fixture) and runs each command once for all its students.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import nbformat

from grader.demo import Row, create_course, nbgrader, run, submission_path, submit
from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME

__all__ = [
    "autograded_notebook",
    "demo_course",
    "gradebook_rows",
    "grades_by_cell",
    "hand_in",
    "lingering_processes",
    "nbgrader",
    "released_course",
    "submission_path",
    "submit",
]


_DEMO_RUNS: dict[Path, tuple[Path, dict[str, Row], list[str]]] = {}


def demo_course(tmp_path_factory) -> tuple[Path, dict[str, Row], list[str]]:
    """The demo pipeline (grader.demo.run) run once per test session in a temporary folder:
    (course, {student: Row}, progress lines). test_demo and test_feedback_leaks both read it;
    only test_demo's last test changes it (it regrades eve), which the feedback pages ignore."""
    root = tmp_path_factory.getbasetemp() / "demo"
    if root not in _DEMO_RUNS:
        lines: list[str] = []
        rows = run(root, say=lines.append)
        _DEMO_RUNS[root] = (root / "course", {row.student: row for row in rows}, lines)
    return _DEMO_RUNS[root]


def released_course(root: Path) -> Path:
    """A fresh copy of course/ under ``root`` with the assignment released (gradebook created)."""
    course = create_course(root / "course")
    nbgrader(course, "generate_assignment", ASSIGNMENT_ID)
    return course


def hand_in(course: Path, student: str, notebook: nbformat.NotebookNode | str | bytes) -> Path:
    """Write ``notebook`` (a node, or raw text/bytes for a broken file) as a submission."""
    target = submission_path(course, student)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, bytes):
        target.write_bytes(notebook)
    elif isinstance(notebook, str):
        target.write_text(notebook)
    else:
        nbformat.write(notebook, str(target))
    return target


def autograded_notebook(course: Path, student: str) -> nbformat.NotebookNode:
    path = course / "autograded" / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.ipynb"
    return nbformat.read(str(path), as_version=4)


def grades_by_cell(course: Path, student: str) -> dict[str, dict]:
    """{grade cell name: {"auto_score", "manual_score", "needs_manual_grade", "max_score"}} of one
    student's submission, read from the gradebook with nbgrader's API."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student)
        return {
            grade.name: {
                "auto_score": grade.auto_score,
                "manual_score": grade.manual_score,
                "needs_manual_grade": grade.needs_manual_grade,
                "max_score": grade.max_score,
            }
            for grade in notebook.grades
        }


# Rows that belong to one student, by table: how to recognise them from the student id.
_OWNED_ROWS = {
    "student": "id = :student",
    "submitted_assignment": "student_id = :student",
    "submitted_notebook": (
        "assignment_id IN (SELECT id FROM submitted_assignment WHERE student_id = :student)"
    ),
    "grade": (
        "notebook_id IN (SELECT n.id FROM submitted_notebook n JOIN submitted_assignment a"
        " ON n.assignment_id = a.id WHERE a.student_id = :student)"
    ),
    "comment": (
        "notebook_id IN (SELECT n.id FROM submitted_notebook n JOIN submitted_assignment a"
        " ON n.assignment_id = a.id WHERE a.student_id = :student)"
    ),
}


def gradebook_rows(course: Path, *, except_student: str) -> dict[str, list[tuple]]:
    """Every row of every table of the course's SQLite gradebook, sorted, except the rows that
    belong to ``except_student`` (their student, submission, notebooks, grades and comments)."""
    database = sqlite3.connect(course / "gradebook.db")
    try:
        tables = [
            name
            for (name,) in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        rows = {}
        for table in tables:
            query = f'SELECT * FROM "{table}"'
            if table in _OWNED_ROWS:
                query += f" WHERE NOT ({_OWNED_ROWS[table]})"
            rows[table] = sorted(
                database.execute(query, {"student": except_student}).fetchall(), key=repr
            )
        return rows
    finally:
        database.close()


def lingering_processes(argv: list[str]) -> list[int]:
    """Pids of processes whose command line is exactly ``argv`` (e.g. ["sleep", "607"])."""
    wanted = "\0".join(argv).encode() + b"\0"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() == wanted:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids
