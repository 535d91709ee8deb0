"""Tests of grader/nbgrader_plugin.py: nbgrader records the trusted grader's verdicts, and nothing
a student does outside the solution code changes a score.

The first half drives the preprocessors directly with stand-in grades (no sandbox); the second
half runs the real ``nbgrader autograde`` and ``nbgrader export`` once on a throwaway course.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import logging
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.utils import determine_grade
from traitlets.config import Config

import grader.nbgrader_plugin as plugin
from grader import precomputed
from grader.demo import NbgraderError
from grader.exercises import (
    ASSIGNMENT_ID,
    EXERCISES,
    NOTEBOOK_NAME,
    exercise_named,
    part_points,
    total_points,
)
from grader.extract import extract
from grader.grade import grade_notebook
from grader.nbgrader_plugin import (
    HideTestCode,
    TrustedGrade,
    cell_verdicts,
    earned_points,
    verdict_outputs,
    verdict_report,
)
from grader.verdict import CheckVerdict, ExerciseVerdict, Grade
from tests import factories
from tests.course_fixture import (
    autograded_notebook,
    grades_by_cell,
    hand_in,
    nbgrader,
    released_course,
    submission_path,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
LOG = logging.getLogger("test")


def verdict(name: str, passed: tuple[bool, ...], status="graded", message=None):
    """An ExerciseVerdict of ``name`` whose checks passed as given, scored like the grader."""
    exercise = exercise_named(name)
    checks = tuple(
        CheckVerdict(f"check {index}", ok, None if ok else f"hint {index}")
        for index, ok in enumerate(passed)
    )
    score = round(exercise.points * sum(passed) / len(passed), 2) if passed else 0.0
    return ExerciseVerdict(name, score, float(exercise.points), checks, status, message)


def stand_in_grade(passed: tuple[bool, ...] = (True, False, True, True)) -> Grade:
    verdicts = tuple(verdict(exercise.name, passed) for exercise in EXERCISES)
    return Grade(sum(v.score for v in verdicts), total_points(), verdicts, None, ("a note",))


def forged_test_cell(name: str, points: float):
    """A test cell carrying an output the student forged."""
    cell = factories.test_cell(name, points)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="forged\n")]
    return cell


# --- what a test cell shows, and how nbgrader reads it ---------------------------------------


@pytest.mark.parametrize("passed", [(True,) * 4, (True, False, True, True), (False,) * 4])
def test_nbgrader_reads_the_verdict_outputs_as_the_earned_points(passed):
    """Does nbgrader's own determine_grade turn our outputs into exactly the earned points
    (full, partial and zero credit)?"""
    exercise_verdict = verdict("conv_forward", passed)
    points = exercise_named("conv_forward").points
    cell = forged_test_cell("conv_forward", points)
    cell.outputs = verdict_outputs("report\n", exercise_verdict.score)
    score, max_score = determine_grade(cell, LOG)
    assert (score, max_score) == (exercise_verdict.score, points)
    assert score == points * sum(passed) / 4


def test_report_names_every_check_and_gives_hints_for_failed_ones_only():
    """Does the readable report list each check as passed/FAILED with the hint of failures?"""
    exercise_verdict = verdict("pool_forward", (True, False))
    points = exercise_named("pool_forward").points
    report = verdict_report(exercise_verdict, points, points / 2)
    assert report.startswith(f"pool_forward: {points / 2:g} / {points:g} points - 1 of 2 checks")
    assert "passed  check 0" in report and "FAILED  check 1" in report
    assert "hint: hint 1" in report and "hint 0" not in report


def test_a_long_hint_is_wrapped_whole_within_the_report_width():
    """Is every line of the report at most REPORT_WIDTH columns (nbgrader's pages show outputs
    unwrapped: a 200-character hint ran off the page), with the whole hint and note still there?"""
    hint = "your windows start at the wrong place when the stride is above one: " * 4
    checks = (CheckVerdict("stride", False, hint.strip()), CheckVerdict("values", True))
    message = "timed out on 1 call of the hidden cases; " * 5
    long = ExerciseVerdict("conv_forward", 20.0, 40.0, checks, "error", message.strip())
    report = verdict_report(long, 40.0, 20.0)
    assert max(len(line) for line in report.splitlines()) <= plugin.REPORT_WIDTH
    flat = " ".join(report.split())
    assert f"hint: {' '.join(hint.split())}" in flat
    assert f"note: {' '.join(message.split())}" in flat
    assert "  FAILED  stride\n          hint: your windows" in report


def test_report_of_an_exercise_that_did_not_run_says_why():
    """Does an exercise that raised NotImplementedError (no checks) show its message?"""
    exercise_verdict = verdict("zero_pad", (), "not implemented", "still raises it")
    points = exercise_named("zero_pad").points
    assert verdict_report(exercise_verdict, points, 0.0) == (
        f"zero_pad: 0 / {points:g} points - still raises it\n"
    )


def test_report_of_an_exercise_that_partly_timed_out_shows_its_checks_and_why():
    """Does an exercise judged on some calls but stopped on others show both?"""
    exercise_verdict = verdict("conv_forward", (True, False), "error", "timed out on 1 call")
    points = exercise_named("conv_forward").points
    report = verdict_report(exercise_verdict, points, points / 2)
    assert "1 of 2 checks passed" in report and "note: timed out on 1 call" in report


def test_an_ungradable_submission_gives_every_exercise_zero_with_the_reason():
    """Does a submission-level error reach every test cell, with 0 points?"""
    verdicts = cell_verdicts(Grade(0.0, total_points(), (), "the file is empty"))
    assert set(verdicts) == {exercise.test_cell_id for exercise in EXERCISES}
    for exercise_verdict, _ in verdicts.values():
        assert exercise_verdict.score == 0
        assert "could not be graded: the file is empty" in exercise_verdict.message


def test_an_exercise_missing_from_the_grade_scores_zero():
    """Does an exercise the grader gave no verdict for score 0 rather than pass by silence?"""
    grade = stand_in_grade()
    partial = Grade(grade.total, grade.max, grade.exercises[1:], None, ())
    missing, _ = cell_verdicts(partial)["zero_pad_test"]
    assert missing.score == 0 and missing.status == "error"


def test_earned_points_are_the_verdicts_fraction_of_the_cells_points():
    """Does a cell reweighted in the gradebook get the verdict's fraction of its own points?"""
    exercise_verdict = verdict("conv_forward", (True, True, False, False))  # half its points
    points = exercise_named("conv_forward").points
    assert earned_points(exercise_verdict, points) == points / 2
    assert earned_points(exercise_verdict, 10.0) == 5.0  # reweighted to 10 in the gradebook


def test_a_grade_survives_the_json_round_trip():
    """Does a precomputed verdict read back equal to the Grade that was stored?"""
    grade = stand_in_grade()
    assert precomputed.grade_from_json_dict(json.loads(grade.to_json())) == grade


def key_of(notebook, tmp_path, *, sandbox=True) -> str:
    path = tmp_path / "key.ipynb"
    nbformat.write(notebook, str(path))
    return precomputed.verdict_key(extract(path), sandbox=sandbox)


def test_the_verdict_key_depends_on_the_graded_code_only(tmp_path):
    """Is a precomputed verdict found again for a notebook that differs only outside the graded
    code (cell ids, test cells, outputs), and never used for other code or sandbox setting?"""
    notebook = factories.submission({"zero_pad": "def zero_pad(X, pad):\n    return X"})
    elsewhere = copy.deepcopy(notebook)
    for index, cell in enumerate(elsewhere.cells):
        cell["id"] = f"other-{index}"
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_test"):
            cell.source = "pass"
    edited = copy.deepcopy(notebook)
    edited.cells[3].source += "\n# one more line"
    key = key_of(notebook, tmp_path)
    assert key_of(elsewhere, tmp_path) == key
    assert key_of(edited, tmp_path) != key
    assert key_of(notebook, tmp_path, sandbox=False) != key


def test_a_reader_waits_for_an_announced_verdict_and_not_for_others(tmp_path):
    """Does fetch return a stored verdict, give up at once on an unannounced key, and give up
    on an announced one when it is withdrawn or the wait runs out?"""
    grade = stand_in_grade()
    precomputed.store(tmp_path, "stored", grade)
    assert precomputed.fetch(tmp_path, "stored", wait_seconds=0) == grade
    assert precomputed.fetch(tmp_path, "unknown", wait_seconds=60) is None
    precomputed.announce(tmp_path, "late")
    assert precomputed.fetch(tmp_path, "late", wait_seconds=0.05) is None
    precomputed.withdraw(tmp_path, "late")
    assert precomputed.fetch(tmp_path, "late", wait_seconds=60) is None


# --- the preprocessors on a notebook in memory -------------------------------------------------


def test_trusted_grade_writes_verdicts_into_test_cells_and_clears_every_other_output(monkeypatch):
    """Do test cells get the verdict outputs (and nothing forged survives), and do other cells
    lose their outputs, given a stand-in grader?"""
    grade = stand_in_grade()
    monkeypatch.setattr(plugin, "grade_submission", lambda path, sandbox, **_: grade)
    notebook = factories.submission({})
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="forged\n")]
            cell.execution_count = 7
    notebook, _ = TrustedGrade().preprocess(notebook, {})
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.endswith("_test"):
            score, _ = determine_grade(cell, LOG)
            name = grade_id.removesuffix("_test")
            assert score == exercise_named(name).points * 3 / 4
            assert "forged" not in json.dumps(cell.outputs)
        else:
            assert cell.outputs == []
    assert notebook.metadata[plugin.SUMMARY_KEY]["total"] == grade.total


def test_a_grade_cell_of_no_exercise_scores_zero_instead_of_passing_silently(monkeypatch):
    """Does an autograder cell the trusted grader does not know get 0 (nbgrader's rule for a
    cell without output is full marks)?"""
    monkeypatch.setattr(plugin, "grade_submission", lambda path, sandbox, **_: stand_in_grade())
    notebook = factories.submission({})
    extra = factories.test_cell("zero_pad", 7)
    extra.metadata.nbgrader["grade_id"] = "bonus_test"
    notebook.cells.append(extra)
    notebook, _ = TrustedGrade().preprocess(notebook, {})
    assert determine_grade(notebook.cells[-1], LOG) == (0.0, 7.0)
    assert "grade this cell by hand" in notebook.cells[-1].outputs[0].text


def test_trusted_grade_uses_a_precomputed_verdict_without_grading_again(monkeypatch, tmp_path):
    """Given a verdict stored under the notebook's key, is it used and the grader not called?"""

    def must_not_grade(path, sandbox, **_):
        raise AssertionError("graded again")

    monkeypatch.setattr(plugin, "grade_submission", must_not_grade)
    notebook = factories.submission({})
    grade = stand_in_grade((True, True))
    folder = tmp_path / "verdicts"
    folder.mkdir()
    precomputed.store(folder, key_of(notebook, tmp_path), grade)
    notebook, _ = TrustedGrade(verdict_cache=str(folder)).preprocess(notebook, {})
    assert notebook.metadata[plugin.SUMMARY_KEY]["total"] == grade.total


def test_hide_test_code_strips_hidden_regions_from_test_cells_only():
    """Does HideTestCode remove a hidden-test region from a locked test cell, and leave a
    solution cell alone even when the student typed an unbalanced delimiter into it?"""
    test = factories.test_cell("zero_pad", 10)
    test.source = "zero_pad_test(zero_pad)\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS"
    solution = factories.solution_cell(
        "zero_pad", "# ### BEGIN HIDDEN TESTS\ndef zero_pad(X, pad): ..."
    )
    notebook = nbformat.v4.new_notebook(cells=[solution, test])
    notebook, _ = HideTestCode().preprocess(notebook, {})
    assert test.source == "zero_pad_test(zero_pad)"
    assert "BEGIN HIDDEN TESTS" in solution.source


def test_hide_test_code_accepts_the_feedback_exporters_configuration(caplog):
    """Does HideTestCode take nbconvert's display_data_priority option (which generate_feedback's
    HTMLExporter sets) without the "not recognized" warning on every nbgrader run?"""
    config = Config()
    config.NbConvertBase.display_data_priority = ["text/plain"]
    with caplog.at_level(logging.WARNING):
        HideTestCode(config=config, log=logging.getLogger("nbgrader"))
    assert not [record for record in caplog.records if "not recognized" in record.getMessage()]


# --- nbgrader autograde and export on a real course ------------------------------------------


def tampered(notebook):
    """alice's notebook with everything outside the solution cells turned against the grader:
    test cells rewritten and tagged skip-execution, one deleted, one duplicated, the setup cell
    patching numpy, a scratch cell with side effects."""
    notebook = copy.deepcopy(notebook)
    cells = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id == "zero_pad_test":
            continue  # deleted
        if grade_id.endswith("_test"):
            cell.source = "pass"
            cell.metadata["tags"] = ["skip-execution"]
        if grade_id == "conv_forward_test":
            twin = copy.deepcopy(cell)
            twin["id"] = "twin"
            cells.append(twin)
        if grade_id == "setup":
            cell.source = "import numpy as np\nnp.allclose = lambda *a, **k: True"
        cells.append(cell)
    notebook.cells = cells
    return notebook


def schema_tampered(notebook):
    """alice's notebook with nbgrader schema versions nbgrader refuses (1 and 99): nbgrader
    0.9.6 aborts the whole run on such a cell."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in ("zero_pad", "conv_forward_test"):
            cell.metadata.nbgrader["schema_version"] = 1 if grade_id == "zero_pad" else 99
    return notebook


def marker_notebook(marker: Path):
    """A submission whose scratch cell and solution cell try to leave a file on the host."""
    touch = f"open({str(marker)!r}, 'w').write('ran')"
    notebook = factories.submission({"zero_pad": f"{touch}\ndef zero_pad(X, pad):\n    return X"})
    notebook.cells.insert(2, new_code_cell(touch))
    notebook.cells.insert(2, new_markdown_cell("scratch"))
    return notebook


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """One course, graded once: alice, alice's code with tampered cells or schema versions
    (ada, graded first), bob (partial credit), bob's notebook as "al*" (an id that is a glob),
    dave (empty file), gus (not JSON), mark (tries to touch a file on the host)."""
    root = tmp_path_factory.mktemp("plugin")
    course = released_course(root)
    alice = nbformat.read(EXAMPLES / "alice.ipynb", as_version=4)
    hand_in(course, "alice", alice)
    hand_in(course, "alice2", tampered(alice))
    hand_in(course, "ada", schema_tampered(alice))  # graded first: the run must go on
    hand_in(course, "bob", nbformat.read(EXAMPLES / "bob.ipynb", as_version=4))
    hand_in(course, "al*", nbformat.read(EXAMPLES / "bob.ipynb", as_version=4))  # a glob's name
    hand_in(course, "dave", b"")
    hand_in(course, "gus", b"\x89PNG\r\n\x1a\n not a notebook")
    whole = nbformat.writes(alice).encode()
    hand_in(course, "tom", whole[: len(whole) // 2])  # an upload cut short: truncated JSON
    other_name = submission_path(course, "nina").with_name("Assignment (1).ipynb")
    other_name.parent.mkdir(parents=True)
    nbformat.write(alice, str(other_name))
    marker = root / "marker"
    hand_in(course, "mark", marker_notebook(marker))
    with contextlib.suppress(NbgraderError):  # nina: nbgrader fails a folder without the notebook
        nbgrader(course, "autograde", ASSIGNMENT_ID, log=course / "autograde.log")
    nbgrader(course, "export", "--to=grades.csv")
    with open(course / "grades.csv", newline="") as stream:
        export = {row["student_id"]: row for row in csv.DictReader(stream)}
    return course, marker, export


def test_a_correct_submission_gets_every_point_without_manual_review(graded_course):
    """Does alice's correct notebook score full marks in every test cell, final (no review)?"""
    course, _, _ = graded_course
    for name, grade in grades_by_cell(course, "alice").items():
        assert grade["auto_score"] == grade["max_score"], name
        assert grade["needs_manual_grade"] is False


def test_a_student_id_that_is_a_glob_is_graded_on_its_own_notebook_only(graded_course):
    """nbgrader globs a submission folder's path again for its notebooks: is "al*" graded on its
    own notebook (bob's partial credit), alice and alice2 each on theirs, once?"""
    course, _, export = graded_course
    assert float(export["al*"]["score"]) == float(export["bob"]["score"]) < 140
    assert float(export["alice"]["score"]) == 140
    notebooks = sorted(path.name for path in (course / "autograded" / "al*").rglob("*.ipynb"))
    assert notebooks == [NOTEBOOK_NAME + ".ipynb"]


def test_editing_tagging_deleting_or_duplicating_test_cells_changes_no_score(graded_course):
    """Does alice's code with sabotaged test cells and setup cell score exactly like alice's
    (flagged for manual grading, since its cells were deleted and duplicated)?"""
    course, _, _ = graded_course
    assert auto_scores(course, "alice2") == auto_scores(course, "alice")
    restored = autograded_notebook(course, "alice2")
    notes = [cell.source for cell in restored.cells if "was missing" in cell.source]
    assert len(notes) == 1  # the deleted test cell is back, saying so


def test_a_tampered_schema_version_neither_stops_the_run_nor_changes_the_score(graded_course):
    """Is ada (alice's code, nbgrader schema versions edited; graded before everyone else)
    scored like alice (flagged for manual grading: metadata repaired), and was everyone after
    her graded?"""
    course, _, _ = graded_course
    assert auto_scores(course, "ada") == auto_scores(course, "alice")


def auto_scores(course, student: str) -> dict[str, float]:
    return {name: grade["auto_score"] for name, grade in grades_by_cell(course, student).items()}


# student -> what the gradebook's comment must say (issue 9, item 7); alice and bob: nothing
FLAGGED = {
    "ada": "nbgrader metadata edited",
    "alice2": "test cells missing",
    "dave": "empty (0 bytes)",
    "gus": "not a readable Jupyter notebook",
    "tom": "not a readable Jupyter notebook",
    "nina": "no assignment.ipynb in the submission (it holds Assignment (1).ipynb)",
}


def manual_grading_comments(course, student: str) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student)
        return [c.auto_comment for c in notebook.comments if c.auto_comment]


@pytest.mark.parametrize("student", sorted(FLAGGED))
def test_a_submission_not_graded_normally_is_flagged_with_its_reason(graded_course, student):
    """Is every submission that could not be graded normally (empty, truncated or not JSON, no
    notebook of the right name, metadata repaired, test cells deleted or duplicated) flagged
    "needs manual grade" on every grade, with the reason as the comment formgrader shows?"""
    course, _, _ = graded_course
    assert all(grade["needs_manual_grade"] for grade in grades_by_cell(course, student).values())
    comments = manual_grading_comments(course, student)
    assert len(comments) == 1 and comments[0].startswith("Needs manual grading: ")
    assert FLAGGED[student] in comments[0]


def test_a_normal_submission_carries_no_manual_grading_comment(graded_course):
    course, _, _ = graded_course
    for student in ("alice", "bob", "mark"):
        assert not any(g["needs_manual_grade"] for g in grades_by_cell(course, student).values())
        assert not [c for c in manual_grading_comments(course, student) if "manual" in c]


def test_the_autograde_run_ends_with_the_flagged_submissions_and_why(graded_course):
    """Do the last lines of `nbgrader autograde` name each flagged student with the reason, and
    no one else?"""
    course, _, _ = graded_course
    log = (course / "autograde.log").read_text().splitlines()
    start = max(i for i, line in enumerate(log) if "submissions need manual grading" in line)
    closing = log[start:]
    assert f"{len(FLAGGED)} submissions need manual grading" in closing[0]
    named = {line.split("]   ")[1].split(":")[0]: line for line in closing[1:] if "]   " in line}
    assert set(named) == set(FLAGGED)
    for student, line in named.items():
        assert FLAGGED[student][:40] in line


def test_the_gradebook_holds_exactly_the_trusted_graders_partial_credit(graded_course):
    """Are bob's gradebook scores the verdicts of grading his notebook directly (partial credit
    included), with at least one exercise strictly between 0 and full marks?"""
    course, _, _ = graded_course
    direct = grade_notebook(EXAMPLES / "bob.ipynb")
    recorded = grades_by_cell(course, "bob")
    for exercise_verdict in direct.exercises:
        assert recorded[f"{exercise_verdict.name}_test"]["auto_score"] == exercise_verdict.score
    partial = [v for v in direct.exercises if 0 < v.score < v.max]
    assert {v.name for v in partial} >= {"conv_forward", "pool_backward"}


@pytest.mark.parametrize(
    ("student", "reason"),
    [("dave", "empty (0 bytes)"), ("gus", "not a readable Jupyter notebook")],
)
def test_an_unreadable_file_scores_zero_with_the_reason_in_its_test_cells(
    graded_course, student, reason
):
    """Does an empty or non-notebook file get 0 everywhere, flagged for manual grading (issue 9,
    item 7: a truncated file was a silent 0), with the reason shown?"""
    course, _, _ = graded_course
    for grade in grades_by_cell(course, student).values():
        assert grade["auto_score"] == 0 and grade["needs_manual_grade"] is True
    outputs = [
        output.get("text", "")
        for cell in autograded_notebook(course, student).cells
        for output in cell.get("outputs", [])
    ]
    assert sum(reason in text for text in outputs) == len(EXERCISES)


def test_no_student_code_runs_outside_the_sandbox(graded_course):
    """Did neither the scratch cell nor the solution cell of mark's notebook touch the host?"""
    course, marker, _ = graded_course
    assert not marker.exists()
    zero_pad = exercise_named("zero_pad").points
    assert grades_by_cell(course, "mark")["zero_pad_test"]["auto_score"] < zero_pad


def test_export_adds_part_columns_that_add_up_to_nbgraders_score(graded_course):
    """Does the CSV carry forward/backward scores out of their points summing to nbgrader's
    score?"""
    course, _, export = graded_course
    alice = export["alice"]
    for part in ("forward", "backward"):
        full = part_points(part)
        assert (float(alice[f"{part}_score"]), float(alice[f"{part}_max"])) == (full, full)
    for row in export.values():
        parts = float(row["forward_score"]) + float(row["backward_score"])
        assert parts == pytest.approx(float(row["raw_score"]))
    bob = grades_by_cell(course, "bob")
    forward = sum(bob[f"{e.name}_test"]["auto_score"] for e in EXERCISES if e.part == "forward")
    assert float(export["bob"]["forward_score"]) == pytest.approx(forward)


COMMENT_BOXES = """() => [...document.querySelectorAll('textarea.comment')]
  .map(box => box.getAttribute('placeholder') || '')"""
COMMENTS_LOADED = """() => [...document.querySelectorAll('textarea.comment')]
  .every(box => (box.getAttribute('placeholder') || '') !== '')"""


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_formgrader_shows_why_a_submission_needs_manual_grading(graded_course, tmp_path):
    """In formgrader (Chromium): does the manual-grading page of a flagged submission show the
    reason in a comment box, and that of a normal one no such text?"""
    from nbgrader.api import Gradebook
    from playwright.sync_api import sync_playwright

    from grader.demo import nbgrader_environment
    from tests.browser.formgrader import formgrader_server
    from tests.browser.jupyterlab import CHROMIUM, CHROMIUM_ARGS

    course, _, _ = graded_course
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        ids = {
            student: gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student).id
            for student in ("alice", "alice2", "dave")
        }
    shown = {}
    pythonpath = nbgrader_environment()["PYTHONPATH"]
    with formgrader_server(course, tmp_path, pythonpath) as server, sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/formgrader?token={server.token}", timeout=60_000)
            for student, submission in ids.items():
                page.goto(f"{server.url}/formgrader/submissions/{submission}/", timeout=60_000)
                page.wait_for_selector("textarea.comment", timeout=30_000)
                # formgrader's scripts fill each box's placeholder once its comments are fetched
                # (the auto comment, else a default message): wait for every box, not just one.
                page.wait_for_function(COMMENTS_LOADED, timeout=30_000)
                shown[student] = page.evaluate(COMMENT_BOXES)
        finally:
            browser.close()
    assert any(FLAGGED["dave"] in text for text in shown["dave"]), shown["dave"]
    assert any(FLAGGED["alice2"] in text for text in shown["alice2"]), shown["alice2"]
    assert not any("Needs manual grading" in text for text in shown["alice"])


def test_the_closing_list_in_nbgraders_log_shows_no_control_character(caplog, monkeypatch):
    """nbgrader autograde's last lines (IntakeAutograde, list_manual_grading) name each flagged
    student (a folder name) and reasons that can quote the submission's file names: does a
    terminal escape in either reach the instructor's terminal as '?' rather than as itself?"""
    from types import SimpleNamespace

    monkeypatch.setattr(plugin, "LAST_RUN_NEEDS_MANUAL_GRADING", [])  # restored afterwards
    run = SimpleNamespace(
        manual_grading={
            (ASSIGNMENT_ID, "eve\x1b[1A\x1b[2K"): ["no x.ipynb (it holds \x1b]2;hi\x07.ipynb)"]
        },
        list_manual_grading=True,
        log=logging.getLogger("closing-list"),
    )
    with caplog.at_level(logging.WARNING, logger="closing-list"):
        plugin.IntakeAutograde._report_manual_grading(run)
    logged = [record.getMessage() for record in caplog.records]
    assert logged[-1] == "  eve?[1A?[2K: no x.ipynb (it holds ?]2;hi?.ipynb)", logged
    assert plugin.LAST_RUN_NEEDS_MANUAL_GRADING == [  # the data itself is kept as it is
        ("eve\x1b[1A\x1b[2K", ["no x.ipynb (it holds \x1b]2;hi\x07.ipynb)"])
    ]
