"""Tests of grader/report.py (`python -m grader report`): on the demo course, do the class
analytics (CSV and HTML page) say what the gradebook and the autograded notebooks say, from the
gradebook and from the batch output of `python -m grader grade`; and does the page render in a
real browser with every plot loaded and the gradebook's numbers?

The expected numbers are computed here independently: scores from the gradebook through
nbgrader's API (tests.course_fixture.grades_by_cell), check verdicts from the report text written
into each autograded test cell ("passed  <check>" / "FAILED  <check>", "hint: ..."), not from the
metadata summary the report reads.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest

from grader import cli
from grader.exercises import ASSIGNMENT_ID, EXERCISES, NOTEBOOK_NAME
from grader.report import HTML_NAME, analyse, manual_grading_lines, read_batch
from tests.browser.jupyterlab import CHROMIUM, CHROMIUM_ARGS
from tests.course_fixture import (
    autograded_notebook,
    demo_course,
    grades_by_cell,
    submission_path,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO_ROOT / "build" / "browser" / "analytics.png"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_course(tmp_path_factory)


@pytest.fixture(scope="module")
def course_report(demo, tmp_path_factory):
    """`python -m grader report COURSE --out DIR` on the demo course: (course, students, DIR)."""
    course, rows, _ = demo
    out = tmp_path_factory.mktemp("analytics")
    assert cli.main(["report", str(course), "--out", str(out)]) == 0
    return course, sorted(rows), out


def read_csv(folder: Path) -> list[dict]:
    with open(folder / "analytics.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def gradebook_scores(course: Path, students: list[str]) -> dict[str, list[float]]:
    """{exercise: [score of each student]}: the manual score where given, else the autograder's."""
    scores: dict[str, list[float]] = {exercise.name: [] for exercise in EXERCISES}
    for student in students:
        grades = grades_by_cell(course, student)
        for exercise in EXERCISES:
            grade = grades[exercise.test_cell_id]
            manual = grade["manual_score"]
            scores[exercise.name].append(manual if manual is not None else grade["auto_score"])
    return scores


def verdicts_in_test_cells(course: Path, students: list[str]) -> dict[tuple[str, str], list[bool]]:
    """{(exercise, check): [passed, ...] of the students whose exercise ran}, read from the
    verdict text of each autograded test cell."""
    found: dict[tuple[str, str], list[bool]] = {}
    for student in students:
        cells = {
            cell.metadata.get("nbgrader", {}).get("grade_id"): cell
            for cell in autograded_notebook(course, student).cells
        }
        for exercise in EXERCISES:
            text = "".join(o.get("text", "") for o in cells[exercise.test_cell_id].outputs)
            for line in text.splitlines():
                for mark, passed in (("  passed  ", True), ("  FAILED  ", False)):
                    if line.startswith(mark):
                        check = line[len(mark) :]
                        found.setdefault((exercise.name, check), []).append(passed)
    return found


def test_score_statistics_match_the_gradebook(course_report):
    """Are the mean, median, min, max, full-marks and zero counts of each exercise those of the
    gradebook's scores?"""
    course, students, out = course_report
    expected = gradebook_scores(course, students)
    rows = {(r["exercise"], r["item"]): r for r in read_csv(out) if r["section"] == "score"}
    for exercise in EXERCISES:
        scores = expected[exercise.name]
        mine = {item: row for (name, item), row in rows.items() if name == exercise.name}
        row = mine.__getitem__
        assert float(row("mean")["value"]) == pytest.approx(statistics.fmean(scores), abs=0.01)
        assert float(row("median")["value"]) == pytest.approx(statistics.median(scores))
        assert float(row("min")["value"]) == min(scores)
        assert float(row("max")["value"]) == max(scores)
        assert int(row("full_marks")["count"]) == sum(s >= exercise.points for s in scores)
        assert int(row("zero")["count"]) == sum(s == 0 for s in scores)
        bins = [r for (name, item), r in rows.items() if name == exercise.name and "bin" in item]
        assert sum(int(r["count"]) for r in bins) == len(students)


def test_share_failing_each_check_matches_the_verdicts_in_the_test_cells(course_report):
    """Does each check's "failed k of n" equal the FAILED lines of the autograded test cells?"""
    course, students, out = course_report
    expected = verdicts_in_test_cells(course, students)
    rows = {(r["exercise"], r["item"]): r for r in read_csv(out) if r["section"] == "check"}
    assert set(rows) == set(expected)
    for key, verdicts in expected.items():
        assert int(rows[key]["count"]) == verdicts.count(False), key
        assert int(rows[key]["students"]) == len(verdicts), key
    assert any(int(row["count"]) for row in rows.values())  # bob and eve fail some


def test_the_most_frequent_hints_are_the_hints_students_were_shown(course_report):
    """Is each hint counted once per student shown it, as the test cells show it; is bob's
    stride mistake among them?"""
    course, students, out = course_report
    texts = {  # the report wraps long hints: compared with whitespace collapsed
        student: " ".join(
            "".join(
                o.get("text", "")
                for cell in autograded_notebook(course, student).cells
                for o in cell.get("outputs", [])
            ).split()
        )
        for student in students
    }
    hints = [r for r in read_csv(out) if r["section"] == "hint"]
    assert hints
    for row in hints:
        hint = " ".join(row["item"].split(": ", 1)[1].split())
        assert int(row["count"]) == sum(f"hint: {hint}" in text for text in texts.values())
    assert any("stride" in row["item"] for row in hints)


def test_the_report_lists_the_submissions_that_need_manual_grading(course_report):
    course, _, out = course_report
    page = (out / HTML_NAME).read_text()
    for student in ("carol", "dave"):
        assert f"<td>{student}</td>" in page
    assert "<td>alice</td>" not in page.split('id="flagged"')[1]


def test_who_needs_manual_grading_is_what_the_gradebook_says_now(course_report, tmp_path):
    """Once an instructor has graded dave by hand (flag cleared), is he off the list; is a
    submission the gradebook flags without a recorded reason listed anyway?"""
    from nbgrader.api import Gradebook

    from grader.report import read_course

    course, _, _ = course_report
    copy = tmp_path / "course"
    shutil.copytree(course, copy)  # its configuration finds its gradebook from its own place
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gradebook:
        for student, flag in (("dave", False), ("alice", True)):
            notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student)
            for grade in notebook.grades:
                grade.needs_manual_grade = flag
        gradebook.db.commit()
    flagged = {result.student: result.needs_manual_grading for result in read_course(copy)}
    assert flagged["dave"] == []
    assert flagged["alice"] == ["flagged in the gradebook"]
    assert flagged["carol"] and "by function name" in " ".join(flagged["carol"])


@pytest.fixture(scope="module")
def batch_json(course_report, tmp_path_factory):
    """`python -m grader grade --json` of the demo's submissions, as JSON Lines in a file."""
    import subprocess
    import sys

    course, students, _ = course_report
    paths = [str(submission_path(course, student)) for student in students]
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", *paths, "--json", "--jobs", "2", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    path = tmp_path_factory.mktemp("batch") / "grades.jsonl"
    path.write_text(result.stdout)
    return path, result.stderr


def test_the_batch_json_gives_the_same_class_analytics_as_the_gradebook(course_report, batch_json):
    """From `grade --json` output: the same scores per exercise and the same failing checks as
    from the gradebook (the same graded code and secret give the same verdicts)?"""
    course, students, out = course_report
    path, _ = batch_json
    assert cli.main(["report", str(path), "--out", str(path.parent / "analytics")]) == 0
    from_batch = {
        (r["section"], r["exercise"], r["item"]): r for r in read_csv(path.parent / "analytics")
    }
    from_course = {(r["section"], r["exercise"], r["item"]): r for r in read_csv(out)}
    for key, row in from_course.items():
        if key[0] == "score" and key[2] in ("mean", "full_marks", "zero"):
            assert (from_batch[key]["value"], from_batch[key]["count"]) == (
                row["value"],
                row["count"],
            ), key
    course_checks = {k: r["count"] for k, r in from_course.items() if k[0] == "check"}
    batch_checks = {k: r["count"] for k, r in from_batch.items() if k[0] == "check"}
    # carol's older edition has no nbgrader test cells to restore outside nbgrader: same verdicts
    assert batch_checks == course_checks


def test_grade_ends_with_the_submissions_that_need_manual_grading(batch_json):
    """Does `python -m grader grade` end (stderr) with who needs manual grading, and why?"""
    _, stderr = batch_json
    closing = stderr.strip().splitlines()
    start = next(i for i, line in enumerate(closing) if "need manual grading" in line)
    named = [line.split(":")[0].strip() for line in closing[start + 1 :]]
    assert named == ["carol", "dave"]


def test_a_batch_csv_gives_the_score_distribution(tmp_path):
    """From `grade --csv` output (scores only): the distribution, no checks, no hints."""
    path = tmp_path / "grades.csv"
    columns = ["student", "file", *(e.name for e in EXERCISES), "forward", "backward", "total"]
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=[*columns, "max", "error"])
        writer.writeheader()
        for student, fraction in (("a", 1.0), ("b", 0.5), ("c", 0.0)):
            row = {e.name: e.points * fraction for e in EXERCISES}
            writer.writerow({**row, "student": student, "file": "x", "error": ""})
    analytics = analyse(read_batch(path))
    zero_pad = next(s for s in analytics.exercises if s.exercise == "zero_pad")
    assert (zero_pad.mean, zero_pad.full_marks, zero_pad.zero) == (5.0, 1, 1)
    assert analytics.checks == [] and analytics.hints == []


def test_the_closing_list_names_each_flagged_student_once():
    lines = manual_grading_lines([("a", ["x" * 200]), ("b", []), ("c", ["y", "z"])])
    assert lines[0] == "2 submissions need manual grading:"
    assert lines[1].startswith("  a: ") and lines[1].endswith("...") and len(lines[1]) < 100
    assert lines[2] == "  c: y; z"
    assert manual_grading_lines([("b", [])]) == []


def test_read_batch_accepts_one_json_object(tmp_path):
    path = tmp_path / "one.json"
    exercises = [
        {"name": e.name, "score": 0.0, "max": e.points, "checks": [], "status": "not found"}
        for e in EXERCISES
    ]
    path.write_text(json.dumps({"total": 0, "max": 140, "exercises": exercises, "error": "e"}))
    (result,) = read_batch(path)
    assert result.needs_manual_grading == ["not graded: e"]


# --- the page in a browser --------------------------------------------------------------------

PAGE_STATE = """() => ({
  images: [...document.images].map(image => [image.id, image.complete, image.naturalWidth]),
  cells: [...document.querySelectorAll('td[data-stat]')].map(cell => ({
    exercise: cell.dataset.exercise, check: cell.dataset.check || null,
    stat: cell.dataset.stat, text: cell.textContent})),
  students: document.querySelector('#summary').dataset.students,
})"""


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_the_analytics_page_renders_and_its_numbers_match_the_gradebook(course_report):
    """In headless Chromium: is every plot loaded (three images, each decoded), and does every
    number the page shows match the gradebook (scores) and the test cells' verdicts (checks)?"""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install the Debian package `chromium`")
    course, students, out = course_report
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto((out / HTML_NAME).as_uri(), wait_until="load")
            state = page.evaluate(PAGE_STATE)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    # Nothing fetched but the page itself: the plots are inline.
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert sorted(image[0] for image in state["images"]) == [
        "plot-checks",
        "plot-hints",
        "plot-scores",
    ]
    assert all(complete and width > 0 for _, complete, width in state["images"])
    assert int(state["students"]) == len(students)

    scores = gradebook_scores(course, students)
    shown = {(c["exercise"], c["check"], c["stat"]): c["text"] for c in state["cells"]}
    for exercise in EXERCISES:
        values = scores[exercise.name]
        mean = float(shown[(exercise.name, None, "mean")])
        assert mean == pytest.approx(statistics.fmean(values), abs=0.01)
        assert int(shown[(exercise.name, None, "full_marks")]) == sum(
            v >= exercise.points for v in values
        )
        assert int(shown[(exercise.name, None, "zero")]) == sum(v == 0 for v in values)
    verdicts = verdicts_in_test_cells(course, students)
    for (exercise, check), passed in verdicts.items():
        assert int(shown[(exercise, check, "failed")]) == passed.count(False)
        assert int(shown[(exercise, check, "students")]) == len(passed)
        share = f"{100 * passed.count(False) / len(passed):.0f}%"
        assert shown[(exercise, check, "share")] == share


def test_the_closing_list_shows_no_control_character_of_a_submission():
    """Student ids are folder names and a reason can quote a submission's file names ("no
    assignment.ipynb in the submission (it holds ...)"): can either move the instructor's cursor,
    erase a line (another student's) or set the terminal's title, or is each control character
    shown as '?'?"""
    erase_the_line_above = "\x1b[1A\x1b[2K\r"
    lines = manual_grading_lines(
        [
            (f"eve{erase_the_line_above}", ["no assignment.ipynb (it holds \x1b]2;hi\x07.ipynb)"]),
            ("bob\u2028", ["line\nbreak"]),
        ]
    )
    assert all(character.isprintable() for line in lines for character in line), lines
    assert lines[1] == "  eve?[1A?[2K?: no assignment.ipynb (it holds ?]2;hi?.ipynb)"
    assert lines[2] == "  bob?: line?break"
