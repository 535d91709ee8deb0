"""Does `make clean` leave an instructor's course alone, and does only an explicit
`make reset-course CONFIRM=yes` delete what nbgrader made in course/?

The Makefile runs in a temporary copy of the repository's layout (its own Makefile, a course/ with
submissions, autograded notebooks, feedback, a gradebook, exports and downloads), never in the
checkout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# What an instructor's course holds after a term of grading, none of it reproducible.
COURSE_DATA = (
    "course/submitted/alice/cnn_step_by_step/assignment.ipynb",
    "course/autograded/alice/cnn_step_by_step/assignment.ipynb",
    "course/feedback/alice/cnn_step_by_step/assignment.html",
    "course/release/cnn_step_by_step/assignment.ipynb",
    "course/gradebook.db",
    "course/grades.csv",
    "course/downloaded/cnn_step_by_step/archive/submissions.zip",
    "course/analytics/analytics.html",
)
AUTHORED = ("course/nbgrader_config.py", "course/source/cnn_step_by_step/assignment.ipynb")
BUILD_OUTPUTS = ("build/student.zip", "demo/course/gradebook.db")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copyfile(REPO_ROOT / "Makefile", tmp_path / "Makefile")
    for name in COURSE_DATA + AUTHORED + BUILD_OUTPUTS:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n")
    return tmp_path


def make(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def existing(checkout: Path, names) -> list[str]:
    return [name for name in names if (checkout / name).exists()]


def test_make_clean_keeps_every_file_of_the_course(checkout: Path):
    result = make(checkout, "clean")
    assert result.returncode == 0, result.stderr
    assert existing(checkout, COURSE_DATA + AUTHORED) == list(COURSE_DATA + AUTHORED)
    assert existing(checkout, BUILD_OUTPUTS) == []


def test_reset_course_without_confirmation_refuses_and_deletes_nothing(checkout: Path):
    for args in (["reset-course"], ["reset-course", "CONFIRM=y"], ["reset-course", "CONFIRM="]):
        result = make(checkout, *args)
        assert result.returncode != 0
        assert "CONFIRM=yes" in result.stdout
        assert existing(checkout, COURSE_DATA + AUTHORED) == list(COURSE_DATA + AUTHORED)


def test_reset_course_with_confirmation_keeps_only_what_is_authored(checkout: Path):
    result = make(checkout, "reset-course", "CONFIRM=yes")
    assert result.returncode == 0, result.stderr
    assert existing(checkout, COURSE_DATA) == []
    assert existing(checkout, AUTHORED) == list(AUTHORED)


def test_git_ignores_grade_exports_and_downloads():
    names = ["course/grades.csv", "course/downloaded/x/archive/a.zip", "course/analytics/a.html"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *names],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == names
