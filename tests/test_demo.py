"""Tests of grader/demo.py (`make demo`) and of the bundled examples: the demo pipeline, run in a
temporary folder, gives each example the score it deserves, and the hostile one changes nothing
of anybody else's in the gradebook."""

from __future__ import annotations

import html
import re

import pytest

from examples.build import main as build_examples
from grader.demo import STUDENTS, autograded_summary, feedback_path, format_table
from grader.exercises import ASSIGNMENT_ID, EXERCISES, exercise_named, part_points, total_points
from tests.course_fixture import (
    demo_course,
    gradebook_rows,
    grades_by_cell,
    lingering_processes,
    nbgrader,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run in a temporary folder: (course, {student: Row}, progress lines)."""
    return demo_course(tmp_path_factory)


def test_the_examples_are_built_from_the_current_student_notebook():
    """Are examples/{alice,bob,eve}.ipynb what examples/build.py makes of assignment.ipynb?"""
    assert build_examples(["--check"]) == 0


def test_the_demo_says_what_it_is_doing_one_line_per_step(demo):
    """Does the demo print one progress line per step, numbered, with its duration?"""
    _, _, lines = demo
    steps = [line for line in lines if re.match(r"\[\d/\d\] .+: \d+\.\d s$", line)]
    assert len(steps) == 6
    assert any("nbgrader autograde" in line for line in steps)


def test_the_table_has_a_row_per_student_with_part_scores(demo):
    """Does the score table show every student with forward, backward and total, each out of
    its points?"""
    _, rows, _ = demo
    assert set(rows) == set(STUDENTS)
    table = format_table(list(rows.values()))
    assert table.splitlines()[0].split() == [
        "student",
        "forward",
        f"/{part_points('forward'):g}",
        "backward",
        f"/{part_points('backward'):g}",
        "total",
        f"/{total_points():g}",
        "notes",
    ]
    for row in rows.values():
        assert row.forward + row.backward == pytest.approx(row.total)


def test_alice_correct_gets_full_marks(demo):
    _, rows, _ = demo
    full = (part_points("forward"), part_points("backward"))
    assert (rows["alice"].forward, rows["alice"].backward) == full


def test_bob_loses_points_exactly_where_he_ignores_the_stride(demo):
    """Does bob lose points in conv_forward and pool_backward only, and keep some of them?"""
    course, _, _ = demo
    grades = grades_by_cell(course, "bob")
    for exercise in EXERCISES:
        score, points = grades[exercise.test_cell_id]["auto_score"], exercise.points
        if exercise.name in ("conv_forward", "pool_backward"):
            assert 0 < score < points, exercise.name
        else:
            assert score == points, exercise.name


def test_carol_older_edition_is_graded_by_function_name(demo):
    """Is carol's older-edition notebook (no nbgrader metadata) graded, with notes saying so
    (after nbgrader added its test cells back), and conv_single_step (a different contract
    there) not found, with the reason on her feedback page?"""
    course, rows, _ = demo
    assert "graded by function name" in rows["carol"].notes
    assert "older edition" in rows["carol"].notes
    page = feedback_path(course, "carol").read_text()
    assert "defines convolve_window, from the older edition" in page
    grades = grades_by_cell(course, "carol")
    assert grades["conv_single_step_test"]["auto_score"] == 0
    assert grades["conv_forward_test"]["auto_score"] == exercise_named("conv_forward").points


def test_dave_empty_file_gets_zero_and_a_page_saying_why(demo):
    """Does dave's empty file score 0, flagged for manual grading (issue 9, item 7), with the
    reason on his feedback page?"""
    course, rows, _ = demo
    assert rows["dave"].total == 0 and "empty" in rows["dave"].notes
    assert all(grade["needs_manual_grade"] for grade in grades_by_cell(course, "dave").values())
    assert "the submitted file is empty" in feedback_path(course, "dave").read_text()


def test_eve_hostile_never_gets_full_marks_for_wrong_code(demo):
    """Do eve's tricks (patched numpy, forged test cells, IPython hooks...) earn her nothing:
    no exercise at full marks, and no manual score written anywhere?"""
    course, rows, _ = demo
    for name, grade in grades_by_cell(course, "eve").items():
        assert grade["auto_score"] < grade["max_score"], name
        assert grade["manual_score"] is None, name
    assert rows["eve"].total < 0.2 * total_points()


def test_every_student_gets_a_feedback_page_with_scores_and_checks(demo):
    """Does each feedback page show the score and, for a graded notebook, the checks?"""
    course, _, _ = demo
    for student in STUDENTS:
        page = html.unescape(feedback_path(course, student).read_text())
        assert "Score:" in page, student
        if student != "dave":
            assert "checks passed" in page, student


def test_the_demo_and_its_nbgrader_runs_print_no_python_warning(demo):
    """Is the demo's output, and the log of each nbgrader command it ran, free of SAWarning or
    any other Python warning (issue 9, item 6: every autograde printed SQLAlchemy SAWarnings)?"""
    course, _, lines = demo
    logs = sorted((course.parent / "logs").glob("*.log"))
    assert len(logs) == 4
    warning = re.compile(r"\b[A-Za-z]*Warning\b")
    for name, text in [("output", "\n".join(lines))] + [
        (log.name, log.read_text()) for log in logs
    ]:
        assert not warning.findall(text), (name, warning.findall(text)[:3])


OUTPUTS_THAT_SCROLL = """() => [...document.querySelectorAll('.output_area pre')]
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1).map(pre => pre.textContent.slice(0, 80))"""


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_bobs_feedback_page_shows_every_hint_whole_without_scrolling(demo):
    """In Chromium: does bob's feedback page show each of his hints whole, with no output wider
    than its box (issue 9: hints of about 200 characters ran off the right edge)?"""
    from playwright.sync_api import sync_playwright

    from tests.browser.jupyterlab import CHROMIUM, CHROMIUM_ARGS

    course, _, _ = demo
    summary = autograded_summary(course, "bob")
    hints = {
        check["hint"]
        for exercise in summary["exercises"].values()
        for check in exercise["checks"]
        if not check["passed"] and check["hint"]
    }
    assert max(len(hint) for hint in hints) > 100  # the case at hand: long hints
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(feedback_path(course, "bob").as_uri(), wait_until="load")
            scrolling = page.evaluate(OUTPUTS_THAT_SCROLL)
            text = " ".join(page.inner_text("body").split())
        finally:
            browser.close()
    assert scrolling == []
    for hint in hints:
        assert f"hint: {' '.join(hint.split())}" in text


def test_regrading_the_hostile_submission_changes_no_other_row_of_the_gradebook(demo):
    """Acceptance: with every other student graded, does grading eve again leave every row that
    is not hers (students, submissions, grades, comments, cells) exactly as it was, leave no
    process behind, and were the others' grades intact after her first grading (she is graded
    last)?"""
    course, _, _ = demo
    for student in ("alice", "bob", "carol", "dave"):
        for grade in grades_by_cell(course, student).values():
            assert grade["manual_score"] is None
    assert {g["auto_score"] for g in grades_by_cell(course, "alice").values()} == {
        e.points for e in EXERCISES
    }
    before = gradebook_rows(course, except_student="eve")
    nbgrader(course, "autograde", ASSIGNMENT_ID, "--student=eve", "--force")
    after = gradebook_rows(course, except_student="eve")
    assert after == before
    assert sum(len(rows) for rows in before.values()) > 50  # the snapshot is not empty
    assert lingering_processes(["sleep", "607"]) == []
