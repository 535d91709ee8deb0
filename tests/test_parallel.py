"""Tests of grader/parallel.py: the parallel batch records exactly what a sequential
``nbgrader autograde`` records, and its record step reuses the precomputed verdicts."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

import grader.nbgrader_plugin as plugin
from bench.autograde import variant_sources
from examples.build import STUDENT_NOTEBOOK, submission
from grader.exercises import ASSIGNMENT_ID
from grader.extract import extract
from grader.parallel import autograde_parallel, main
from grader.precomputed import verdict_key
from tests.course_fixture import (
    autograded_notebook,
    grades_by_cell,
    hand_in,
    nbgrader,
    released_course,
    submission_path,
)

# nbgrader's autograde runs in this process (grader.parallel): none of its SQLAlchemy warnings
# may come back (install_intake runs add_submission without autoflush, issue 9, item 6).
pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
STUDENTS = ("alice", "bob", "carol", "dave", "eve", "s1", "s2", "s3")


def submissions() -> dict[str, nbformat.NotebookNode | bytes]:
    release = nbformat.read(STUDENT_NOTEBOOK, as_version=4)

    def read(name):
        return nbformat.read(EXAMPLES / name, as_version=4)

    return {
        "alice": read("alice.ipynb"),
        "bob": read("bob.ipynb"),
        "carol": read("other_edition.ipynb"),
        "dave": b"",
        "eve": read("eve.ipynb"),
        **{f"s{index}": submission(release, variant_sources(index)) for index in (1, 2, 3)},
    }


def test_outputs(course: Path, student: str) -> list:
    """The outputs of every test cell of a student's autograded notebook, in order."""
    return [
        cell.outputs
        for cell in autograded_notebook(course, student).cells
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_test")
    ]


test_outputs.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def two_courses(tmp_path_factory):
    """The same released course twice with the same eight submissions: one autograded by
    ``nbgrader autograde``, the other by the parallel batch, whose record step must not grade."""
    root = tmp_path_factory.mktemp("parallel")
    sequential = released_course(root / "sequential")
    for student, notebook in submissions().items():
        hand_in(sequential, student, notebook)
    parallel = root / "parallel" / "course"
    shutil.copytree(sequential, parallel)  # its config finds its root from its own location

    nbgrader(sequential, "autograde", ASSIGNMENT_ID)

    monkeypatch = pytest.MonkeyPatch()
    graded_in_record_step = []
    real = plugin.grade_submission

    def counting(path, sandbox, **settings):
        graded_in_record_step.append(path)
        return real(path, sandbox=sandbox, **settings)

    monkeypatch.setattr(plugin, "grade_submission", counting)
    try:
        status = autograde_parallel(parallel, jobs=2, progress=False)
    finally:
        monkeypatch.undo()
    return sequential, parallel, status, graded_in_record_step


def test_parallel_gradebook_equals_sequential_gradebook(two_courses):
    """Does every student get the same score, cell by cell, and the same review flags?"""
    sequential, parallel, status, _ = two_courses
    assert status == 0
    for student in STUDENTS:
        assert grades_by_cell(parallel, student) == grades_by_cell(sequential, student), student


def test_parallel_feedback_outputs_equal_sequential_ones(two_courses):
    """Does every test cell carry the same report and points in both runs?"""
    sequential, parallel, _, _ = two_courses
    for student in STUDENTS:
        assert test_outputs(parallel, student) == test_outputs(sequential, student), student


def graded_code_changed_by_nbgrader(course: Path) -> list[str]:
    """Students whose sanitized notebook's graded code (as keyed) differs from the raw file's:
    their verdict cannot be precomputed from the raw file (e.g. carol's older edition, whose
    test cells nbgrader adds back, is no longer recognised as such)."""
    changed = []
    for student in STUDENTS:
        raw = extract(submission_path(course, student))
        if raw.error is not None:
            continue  # unreadable: nbgrader grades its stub, nothing to precompute
        sanitized = course / "autograded" / student / ASSIGNMENT_ID / "assignment.ipynb"
        if verdict_key(raw, sandbox=True) != verdict_key(extract(sanitized), sandbox=True):
            changed.append(student)
    return changed


def test_the_record_step_grades_only_what_could_not_be_precomputed(two_courses):
    """Did nbgrader's pass of the parallel run grade only the submissions whose graded code
    nbgrader's sanitizing changed, so that the sandboxes ran in the workers for the others?"""
    _, parallel, _, graded_in_record_step = two_courses
    changed = graded_code_changed_by_nbgrader(parallel)
    assert len(graded_in_record_step) == len(changed)
    assert len(changed) <= 1  # carol's older edition at most; alice, bob, eve... precomputed


def test_a_rerun_without_force_skips_graded_submissions_like_nbgrader(two_courses, capsys):
    """Does the command line leave already autograded submissions alone without --force?"""
    _, parallel, _, _ = two_courses
    before = {student: grades_by_cell(parallel, student) for student in STUDENTS}
    assert main([str(parallel), "--jobs=2"]) == 0
    assert "autograded 0 submissions" in capsys.readouterr().err
    assert {student: grades_by_cell(parallel, student) for student in STUDENTS} == before


def test_the_run_ends_with_the_submissions_that_need_manual_grading(two_courses, capsys):
    """Do the last lines of `python -m grader.parallel` (even --quiet) name each submission that
    could not be graded normally, with the reason, and flag it as nbgrader autograde does?"""
    sequential, parallel, _, _ = two_courses
    assert main([str(parallel), "--jobs=2", "--force", "--student=[cd]*", "--quiet"]) == 0
    closing = capsys.readouterr().err.strip().splitlines()[-3:]
    assert closing[0] == "2 submissions need manual grading:"
    assert closing[1].startswith("  carol: ") and "by function name" in closing[1]
    assert closing[2] == (
        "  dave: not graded: the submitted file is empty (0 bytes); submit the saved notebook"
    )
    for student in ("carol", "dave"):
        assert grades_by_cell(parallel, student) == grades_by_cell(sequential, student)
        assert all(g["needs_manual_grade"] for g in grades_by_cell(parallel, student).values())
