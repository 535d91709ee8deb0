"""Does `nbgrader zip_collect` work with the course's configuration out of the box: a zip of
submissions named the way Canvas downloads them becomes submitted/<student>/<assignment>/, and a
file named otherwise is skipped with a warning that names it?

course/nbgrader_config.py sets ``c.FileNameCollectorPlugin.named_regexp`` (nbgrader has no
default: without it every file is skipped). One released course, one nbgrader run.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from grader.exercises import ASSIGNMENT_ID
from tests.course_fixture import nbgrader, released_course, submission_path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"

# name in the LMS download -> (student id it must be collected as, example notebook)
COLLECTED = {
    "doejane_12345_6789012_assignment.ipynb": ("doejane", "alice.ipynb"),
    "smithjohn_LATE_23456_7890123_assignment-1.ipynb": ("smithjohn", "bob.ipynb"),
}
SKIPPED = "roeric_34567_8901234_my_notebook.ipynb"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    course = released_course(tmp_path_factory.mktemp("zip_collect"))
    archive = course / "downloaded" / ASSIGNMENT_ID / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:
        for name, (_, example) in COLLECTED.items():
            bundle.write(EXAMPLES / example, name)
        bundle.write(EXAMPLES / "alice.ipynb", SKIPPED)
    log = nbgrader(course, "zip_collect", ASSIGNMENT_ID).stdout
    return course, log


def test_lms_names_are_collected_as_the_students_submissions(collected):
    course, _ = collected
    for student, example in COLLECTED.values():
        target = submission_path(course, student)
        assert target.read_bytes() == (EXAMPLES / example).read_bytes()
    submitted = sorted(path.name for path in (course / "submitted").iterdir())
    assert submitted == sorted(student for student, _ in COLLECTED.values())


def test_a_file_named_otherwise_is_skipped_with_a_warning_naming_it(collected):
    _, log = collected
    assert "Skipped submission with no match information provided" in log
    assert SKIPPED in log
