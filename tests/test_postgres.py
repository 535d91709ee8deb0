"""Does the whole nbgrader pipeline work with a PostgreSQL gradebook (nbgrader's ``db_url``)?

The test starts a throwaway PostgreSQL server of its own (initdb into a temporary folder, a unix
socket in that folder, no TCP), runs ``generate_assignment``, ``autograde``, ``generate_feedback``
and ``export`` against it with ``--CourseDirectory.db_url=postgresql+psycopg2://...``, and stops
it. PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.
Missing PostgreSQL binaries fail the test with the way to install them: no silent skip.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from grader.demo import create_course, feedback_path
from grader.exercises import ASSIGNMENT_ID, EXERCISES, part_points, total_points
from grader.grade import grade_notebook
from tests.course_fixture import hand_in, nbgrader
from tests.postgres_server import PostgresMissingError, postgres_bin, throwaway_postgres

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="module")
def postgres_url():
    """A running throwaway server with an empty database ``nbgrader``; yields its SQLAlchemy URL."""
    try:
        binaries = postgres_bin()
    except PostgresMissingError as missing:
        pytest.fail(str(missing))
    with throwaway_postgres(binaries) as url:
        yield url


@pytest.fixture(scope="module")
def graded(postgres_url, tmp_path_factory):
    """A course whose gradebook is the PostgreSQL database, taken through the whole pipeline."""
    course = create_course(tmp_path_factory.mktemp("postgres") / "course")
    database = f"--CourseDirectory.db_url={postgres_url}"
    nbgrader(course, "generate_assignment", ASSIGNMENT_ID, database)
    for student in ("alice", "bob"):
        hand_in(course, student, nbformat.read(EXAMPLES / f"{student}.ipynb", as_version=4))
    hand_in(course, "dave", b"")
    nbgrader(course, "autograde", ASSIGNMENT_ID, database)
    nbgrader(course, "generate_feedback", ASSIGNMENT_ID, database)
    nbgrader(course, "export", "--to=grades.csv", database)
    with open(course / "grades.csv", newline="") as stream:
        export = {row["student_id"]: row for row in csv.DictReader(stream)}
    assert not (course / "gradebook.db").exists()  # nothing went to the default SQLite file
    return course, postgres_url, export


def test_the_export_from_postgres_has_the_trusted_graders_scores(graded):
    """Are alice's full marks, bob's partial credit (as graded directly) and dave's 0 what
    nbgrader exports from the PostgreSQL gradebook, part columns included?"""
    _, _, export = graded
    alice = export["alice"]
    assert float(alice["forward_score"]) == part_points("forward")
    assert float(alice["backward_score"]) == part_points("backward")
    bob = grade_notebook(EXAMPLES / "bob.ipynb")
    forward = sum(v.score for v in bob.exercises if v.name in _names("forward"))
    assert float(export["bob"]["forward_score"]) == pytest.approx(forward)
    assert float(export["bob"]["raw_score"]) == pytest.approx(bob.total)
    assert float(export["dave"]["raw_score"]) == 0


def test_the_postgres_gradebook_holds_one_final_grade_per_test_cell(graded):
    """Does every student have a grade per exercise, none waiting for manual review?"""
    from nbgrader.api import Gradebook

    _, url, _ = graded
    with Gradebook(url, ASSIGNMENT_ID) as gradebook:
        for student in ("alice", "bob", "dave"):
            notebook = gradebook.find_submission_notebook("assignment", ASSIGNMENT_ID, student)
            grades = {grade.name: grade for grade in notebook.grades}
            assert set(grades) == {exercise.test_cell_id for exercise in EXERCISES}
            # dave's empty file is flagged for a human (issue 9, item 7), the others are final
            flagged = [grade.needs_manual_grade for grade in grades.values()]
            assert all(flagged) if student == "dave" else not any(flagged)


def test_feedback_is_generated_from_the_postgres_gradebook(graded):
    """Does each feedback page carry the score nbgrader read back from PostgreSQL?"""
    course, _, _ = graded
    total = float(total_points())
    assert f"Score: {total} / {total}" in feedback_path(course, "alice").read_text()
    assert f"Score: 0.0 / {total}" in feedback_path(course, "dave").read_text()


def _names(part: str) -> set[str]:
    return {exercise.name for exercise in EXERCISES if exercise.part == part}
