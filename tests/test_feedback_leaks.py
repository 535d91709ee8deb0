"""Do the feedback pages of `nbgrader generate_feedback` give away anything hidden?

The demo pipeline, run in a temporary folder (alice correct, bob wrong, carol older edition, dave
empty, eve hostile: she tries to read the grader's files and to smuggle the hidden inputs out
through her error messages), gives one feedback page per student. Every page is searched for
what only the instructor has: lines of the reference and of the hidden checks, the hidden inputs
and the expected outputs drawn for that very submission (their numbers printed at several
precisions), nbgrader's hidden-test and solution delimiters, and the lines of the canonical
solution. Text the student wrote or was given (the released notebook, public_tests.py) may
appear and is not counted.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.demo import STUDENTS, feedback_path, submission_path
from grader.exercises import EXERCISES
from grader.extract import extract
from grader.grade import grading_seed
from grader.hidden_checks import expected_output, hidden_checks
from tests.catalogue.canonical import CANONICAL
from tests.course_fixture import demo_course

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR_FILES = ("grader/reference.py", "grader/hidden_checks.py")
DELIMITERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION")
VALUES_PER_ARRAY = 3


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """{student: (feedback page as text, unescaped; the student's submission as text)}."""
    course, _, _ = demo_course(tmp_path_factory)
    return {
        student: (
            html.unescape(feedback_path(course, student).read_text()),
            submission_path(course, student).read_text(),
        )
        for student in STUDENTS
    }


def notebook_text(raw: str) -> str:
    """The cells' sources of a notebook given as JSON text (the raw text if it is not one)."""
    try:
        notebook = nbformat.reads(raw, as_version=4)
    except Exception:
        return raw
    return "\n".join(cell.source for cell in notebook.cells)


def student_visible_text() -> str:
    """What every student has anyway: the released notebook and the public tests."""
    released = notebook_text((REPO_ROOT / "assignment.ipynb").read_text())
    return released + (REPO_ROOT / "public_tests.py").read_text()


def distinctive_lines(text: str, *, shortest: int) -> set[str]:
    """Stripped lines of at least ``shortest`` characters (shorter ones, like ``return Z``,
    say nothing about where they came from)."""
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= shortest}


def leaked_lines(lines: set[str], page: str, own_text: str) -> list[str]:
    """The lines found on the page that neither the student wrote nor was given."""
    visible = student_visible_text() + notebook_text(own_text)
    return sorted(line for line in lines if line in page and line not in visible)


def printed_forms(value: float) -> set[str]:
    """How a number may be printed: repr, numpy's default and fixed-point precisions."""
    forms = {repr(float(value)), np.format_float_positional(value, precision=8)}
    forms |= {f"{value:.{digits}f}" for digits in (5, 6, 8)}
    return forms


def hidden_numbers(notebook_path: Path) -> set[str]:
    """The printed forms of the first values of every hidden input and expected output that
    the grader drew for this submission (same extraction, same seed)."""
    extraction = extract(notebook_path)
    seed = grading_seed(extraction)
    numbers = set()
    for exercise in EXERCISES:
        for check in hidden_checks(exercise.name, seed):
            for case in check.cases:
                if not case.hidden:
                    continue
                values = list(case.call.args) + [expected_output(exercise.name, case.call.args)]
                for array in _arrays(values):
                    flat = array.ravel()[:VALUES_PER_ARRAY]
                    for value in flat:
                        if round(value, 3) != value:  # 2.0 or 0.5 say nothing about a case
                            numbers |= printed_forms(float(value))
    return numbers


def _arrays(values) -> list[np.ndarray]:
    found = []
    for value in values:
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            found.append(value)
        elif isinstance(value, tuple | list):
            found += _arrays(value)
        elif isinstance(value, dict):
            found += _arrays(list(value.values()))
    return found


def canonical_solution_text() -> str:
    """The solution notebook's solution regions and the canonical catalogue, as one text."""
    solution = nbformat.read(REPO_ROOT / "solutions" / "assignment.ipynb", as_version=4)
    regions = []
    for cell in solution.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside:
                regions.append(line)
    return "\n".join(regions + [variant.source for variant in CANONICAL.values()])


@pytest.mark.parametrize("student", list(STUDENTS))
def test_no_line_of_the_reference_or_the_hidden_checks(pages, student):
    page, own = pages[student]
    text = "".join((REPO_ROOT / name).read_text() for name in INSTRUCTOR_FILES)
    assert leaked_lines(distinctive_lines(text, shortest=25), page, own) == []


@pytest.mark.parametrize("student", list(STUDENTS))
def test_no_line_of_the_canonical_solution(pages, student):
    page, own = pages[student]
    lines = distinctive_lines(canonical_solution_text(), shortest=20)
    assert leaked_lines(lines, page, own) == []


@pytest.mark.parametrize("student", list(STUDENTS))
def test_no_hidden_test_or_solution_delimiters(pages, student):
    page, _ = pages[student]
    assert [word for word in DELIMITERS if word in page] == []


@pytest.mark.parametrize("student", [student for student in STUDENTS if student != "dave"])
def test_no_hidden_input_or_expected_value(pages, student, tmp_path):
    """Are none of the numbers the grader drew for this very submission on its page?"""
    page, own = pages[student]
    notebook = tmp_path / "submission.ipynb"
    notebook.write_text(own)
    numbers = hidden_numbers(notebook)
    assert len(numbers) > 100  # the search has something to look for
    assert sorted(number for number in numbers if number in page) == []


def test_the_scan_finds_a_planted_leak(pages, tmp_path):
    """Would the scan notice a page that printed a hidden input or a line of the reference
    (so that the tests above can fail)?"""
    _, own = pages["alice"]
    notebook = tmp_path / "submission.ipynb"
    notebook.write_text(own)
    numbers = hidden_numbers(notebook)
    planted = f"<pre>{sorted(numbers)[0]}</pre>"
    assert [number for number in numbers if number in planted] != []
    text = (REPO_ROOT / "grader/reference.py").read_text()
    line = max(distinctive_lines(text, shortest=25), key=len)
    assert leaked_lines({line}, f"<pre>{line}</pre>", own) == [line]
