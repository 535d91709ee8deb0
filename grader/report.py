"""Class analytics: the score distribution per exercise, the share of students failing each named
check and the most frequent diagnosed mistakes (hints), as a CSV and an HTML page with plots.

    python -m grader report COURSE_DIR            # nbgrader's gradebook + autograded notebooks
    python -m grader report grades.jsonl          # `python -m grader grade --json` (JSON Lines)
    python -m grader report grades.csv            # `python -m grader grade --csv` (scores only)

Where the numbers come from. Scores: the gradebook's score of each exercise's test cell (a
manual score, where an instructor gave one, counts instead of the autograder's, as in
``nbgrader export``), or the batch file's. Checks and hints: the gradebook holds one score per
cell, so they come from the summary TrustedGrade writes into each autograded notebook's metadata
(``nbgrader_plugin.SUMMARY_KEY``: every check passed or failed, with its hint), or from the
batch JSON; a batch CSV has none. The share failing a check counts the students whose exercise
ran (a crashed or missing function has no check verdicts: it is counted under "did not run").

Output (``--out``, default ``COURSE_DIR/analytics`` or beside the batch file): ``analytics.csv``
(long format: section, exercise, item, count, students, value) and ``analytics.html`` (tables,
and the plots as PNG images embedded in the page, so the one file can be mailed or archived).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import ASSIGNMENT_ID, EXERCISES, NOTEBOOK_NAME

CSV_NAME = "analytics.csv"
HTML_NAME = "analytics.html"
TOP_HINTS = 15
HISTOGRAM_BINS = 5


@dataclass
class StudentResult:
    """One student's result. checks: {exercise: [(check, passed, hint)]}, absent when unknown
    (a batch CSV, or an exercise that did not run)."""

    student: str
    scores: dict[str, float]
    checks: dict[str, list[tuple[str, bool, str | None]]] = field(default_factory=dict)
    needs_manual_grading: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExerciseStats:
    exercise: str
    points: float
    students: int
    mean: float
    median: float
    minimum: float
    maximum: float
    full_marks: int
    zero: int
    did_not_run: int  # students without check verdicts for it (crashed, missing, unreadable)
    histogram: tuple[int, ...]  # students per bin of HISTOGRAM_BINS equal bins over [0, points]


@dataclass(frozen=True)
class CheckStats:
    exercise: str
    check: str
    failed: int
    students: int  # students whose exercise ran

    @property
    def share_failed(self) -> float:
        return self.failed / self.students if self.students else 0.0


@dataclass(frozen=True)
class HintStats:
    """One diagnosed mistake: a hint, the checks it was given on, the students shown it."""

    exercise: str
    check: str  # the checks that gave it, comma-separated
    hint: str
    students: int


@dataclass(frozen=True)
class Analytics:
    source: str
    students: int
    exercises: list[ExerciseStats]
    checks: list[CheckStats]
    hints: list[HintStats]
    flagged: list[tuple[str, str]]  # (student, reasons) needing manual grading


# --- reading -----------------------------------------------------------------------------------


def _checks_of(exercises: dict) -> dict[str, list[tuple[str, bool, str | None]]]:
    found = {}
    for name, exercise in exercises.items():
        checks = exercise.get("checks") or []
        if checks:
            found[name] = [(c["name"], bool(c["passed"]), c.get("hint")) for c in checks]
    return found


def read_course(course: Path, assignment: str = ASSIGNMENT_ID) -> list[StudentResult]:
    """Every submission of ``assignment`` in the course's gradebook (the course's configuration
    says where it is), with the check verdicts of its autograded notebook and, if the gradebook
    still flags it for manual grading, why."""
    from nbgrader.api import Gradebook

    from grader.parallel import course_config

    config = course_config(course)
    directories = config.CourseDirectory
    root = Path(directories.get("root", course))
    db_url = directories.get("db_url", f"sqlite:///{root / 'gradebook.db'}")
    autograded = root / directories.get("autograded_directory", "autograded")
    by_test_cell = {exercise.test_cell_id: exercise.name for exercise in EXERCISES}
    results = []
    with Gradebook(db_url) as gradebook:
        for submission in sorted(
            gradebook.assignment_submissions(assignment), key=lambda s: s.student.id
        ):
            scores = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.name in by_test_cell:
                        scores[by_test_cell[grade.name]] = float(grade.score)
            student = submission.student.id
            path = autograded / student / assignment / f"{NOTEBOOK_NAME}.ipynb"
            summary = {}
            if path.is_file():
                summary = json.loads(path.read_text()).get("metadata", {}).get("trusted_grader", {})
            results.append(
                StudentResult(
                    student,
                    scores,
                    _checks_of(summary.get("exercises", {})),
                    _still_flagged(submission, summary),
                )
            )
    return results


def _still_flagged(submission, summary: dict) -> list[str]:
    """Why the gradebook still flags this submission for manual grading (nothing once an
    instructor has graded it): the reasons the autograde recorded, else its comment, else that
    the gradebook flags it (nbgrader flags a failed submission, or one with a manual score)."""
    if not any(grade.needs_manual_grade for nb in submission.notebooks for grade in nb.grades):
        return []
    prefix = "Needs manual grading: "
    comments = [
        comment.auto_comment.removeprefix(prefix)
        for notebook in submission.notebooks
        for comment in notebook.comments
        if (comment.auto_comment or "").startswith(prefix)
    ]
    return list(summary.get("needs_manual_grading") or comments or ["flagged in the gradebook"])


def read_batch(path: Path) -> list[StudentResult]:
    """The output of ``python -m grader grade``: JSON Lines (``--json``, several notebooks), one
    JSON object (one notebook), or its ``--csv``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as stream:
            return [
                StudentResult(
                    row["student"],
                    {e.name: float(row[e.name] or 0) for e in EXERCISES},
                    {},
                    [f"not graded: {row['error']}"] if row.get("error") else [],
                )
                for row in csv.DictReader(stream)
            ]
    objects = [json.loads(line) for line in text.splitlines() if line.strip()]
    results = []
    for number, data in enumerate(objects, start=1):
        exercises = {exercise["name"]: exercise for exercise in data["exercises"]}
        reasons = [f"not graded: {data['error']}"] if data.get("error") else []
        results.append(
            StudentResult(
                data.get("student") or f"notebook {number}",
                {name: float(exercise["score"]) for name, exercise in exercises.items()},
                _checks_of(exercises),
                reasons + list(data.get("notes", [])),
            )
        )
    return results


# --- computing ---------------------------------------------------------------------------------


def analyse(results: list[StudentResult], source: str = "") -> Analytics:
    exercises, checks, hints = [], [], []
    for exercise in EXERCISES:
        scores = [result.scores.get(exercise.name, 0.0) for result in results]
        points = float(exercise.points)
        bins = [0] * HISTOGRAM_BINS
        for score in scores:
            index = min(int(score / points * HISTOGRAM_BINS), HISTOGRAM_BINS - 1) if points else 0
            bins[max(index, 0)] += 1
        ran = [result for result in results if exercise.name in result.checks]
        exercises.append(
            ExerciseStats(
                exercise.name,
                points,
                len(scores),
                round(statistics.fmean(scores), 2) if scores else 0.0,
                round(statistics.median(scores), 2) if scores else 0.0,
                min(scores, default=0.0),
                max(scores, default=0.0),
                sum(score >= points for score in scores),
                sum(score == 0 for score in scores),
                len(results) - len(ran),
                tuple(bins),
            )
        )
        names: list[str] = []
        failed: Counter = Counter()
        shown: dict[str, set[str]] = {}  # hint -> students shown it (once, whatever the checks)
        hint_checks: dict[str, list[str]] = {}
        for result in ran:
            for check, passed, hint in result.checks[exercise.name]:
                if check not in names:
                    names.append(check)
                if not passed:
                    failed[check] += 1
                    if hint:
                        shown.setdefault(hint, set()).add(result.student)
                        if check not in hint_checks.setdefault(hint, []):
                            hint_checks[hint].append(check)
        checks += [CheckStats(exercise.name, name, failed[name], len(ran)) for name in names]
        hints += [
            HintStats(exercise.name, ", ".join(hint_checks[hint]), hint, len(students))
            for hint, students in shown.items()
        ]
    hints.sort(key=lambda h: (-h.students, h.exercise, h.check, h.hint))
    flagged = [
        (result.student, "; ".join(result.needs_manual_grading))
        for result in results
        if result.needs_manual_grading
    ]
    return Analytics(source, len(results), exercises, checks, hints[:TOP_HINTS], flagged)


# --- writing -----------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "exercise", "item", "count", "students", "value")


def csv_rows(analytics: Analytics) -> list[dict]:
    """section "score": item = mean, median, min, max, full_marks (count), zero (count),
    did_not_run (count), bin <lo>-<hi> (count); "check": item = the check, count = students
    failing it, value = their share; "hint": item = the hint, count = students shown it."""
    rows = []
    for stats in analytics.exercises:
        base = {"section": "score", "exercise": stats.exercise, "students": stats.students}
        for item, value in (
            ("mean", stats.mean),
            ("median", stats.median),
            ("min", stats.minimum),
            ("max", stats.maximum),
            ("points", stats.points),
        ):
            rows.append({**base, "item": item, "count": "", "value": value})
        for item, count in (
            ("full_marks", stats.full_marks),
            ("zero", stats.zero),
            ("did_not_run", stats.did_not_run),
        ):
            rows.append({**base, "item": item, "count": count, "value": ""})
        for index, count in enumerate(stats.histogram):
            rows.append({**base, "item": f"bin {_bin_label(stats.points, index)}", "count": count})
    for check in analytics.checks:
        rows.append(
            {
                "section": "check",
                "exercise": check.exercise,
                "item": check.check,
                "count": check.failed,
                "students": check.students,
                "value": round(check.share_failed, 4),
            }
        )
    for hint in analytics.hints:
        rows.append(
            {
                "section": "hint",
                "exercise": hint.exercise,
                "item": f"{hint.check}: {hint.hint}",
                "count": hint.students,
                "students": analytics.students,
                "value": "",
            }
        )
    return rows


def _bin_label(points: float, index: int) -> str:
    width = points / HISTOGRAM_BINS
    return f"{index * width:g}-{(index + 1) * width:g}"


def _png(figure) -> str:
    """The figure as a data: URL (PNG), closed after."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(analytics: Analytics) -> dict[str, str]:
    """{name: PNG data URL}: score histograms per exercise, share failing each check, top hints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    columns = 4
    rows = -(-len(analytics.exercises) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(12, 2.6 * rows), squeeze=False)
    for axis, stats in zip(axes.flat, analytics.exercises, strict=False):
        labels = [_bin_label(stats.points, index) for index in range(HISTOGRAM_BINS)]
        axis.bar(range(HISTOGRAM_BINS), stats.histogram, color="#4c72b0")
        axis.set_xticks(range(HISTOGRAM_BINS), labels, fontsize=7)
        axis.set_title(f"{stats.exercise} (/{stats.points:g})", fontsize=9)
        axis.yaxis.get_major_locator().set_params(integer=True)
    for axis in list(axes.flat)[len(analytics.exercises) :]:
        axis.set_visible(False)
    figure.suptitle("Students per score band")
    figure.tight_layout()
    images["scores"] = _png(figure)

    checks = analytics.checks or [CheckStats("-", "no check verdicts", 0, 0)]
    figure, axis = plt.subplots(figsize=(10, 0.25 * len(checks) + 1))
    labels = [f"{check.exercise}: {check.check}" for check in checks]
    axis.barh(range(len(checks)), [100 * c.share_failed for c in checks], color="#c44e52")
    axis.set_yticks(range(len(checks)), labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel("% of students whose exercise ran who fail the check")
    images["checks"] = _png(figure)

    hints = analytics.hints or [HintStats("-", "-", "no hint was shown", 0)]
    figure, axis = plt.subplots(figsize=(10, 0.3 * len(hints) + 1))
    labels = [_shorten(f"{h.exercise}/{h.check}: {h.hint}", 90) for h in hints]
    axis.barh(range(len(hints)), [h.students for h in hints], color="#55a868")
    axis.set_yticks(range(len(hints)), labels, fontsize=7)
    axis.invert_yaxis()
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.set_xlabel("students shown the hint")
    images["hints"] = _png(figure)
    return images


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(value, **data) -> str:
    attributes = "".join(f' data-{key}="{html.escape(str(v))}"' for key, v in data.items())
    return f"<td{attributes}>{html.escape(str(value))}</td>"


def render_html(analytics: Analytics, images: dict[str, str]) -> str:
    """The page: every number in a table cell carrying data-* attributes (what tests read),
    every plot an <img> with its PNG inline."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Class analytics: CNN step by step</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        "td.text{text-align:left;white-space:normal}img{max-width:100%}</style>",
        "</head><body>",
        "<h1>Class analytics: CNN step by step</h1>",
        f'<p id="summary" data-students="{analytics.students}">{analytics.students} students '
        f"({e(analytics.source)}).</p>",
        "<h2>Scores per exercise</h2>",
        f'<img id="plot-scores" alt="students per score band" src="{images["scores"]}">',
        '<table id="scores"><tr><th>exercise</th><th>points</th><th>mean</th><th>median</th>'
        "<th>min</th><th>max</th><th>full marks</th><th>zero</th><th>did not run</th></tr>",
    ]
    for s in analytics.exercises:
        cells = [
            _cell(s.exercise),
            _cell(f"{s.points:g}"),
            _cell(f"{s.mean:g}", exercise=s.exercise, stat="mean"),
            _cell(f"{s.median:g}", exercise=s.exercise, stat="median"),
            _cell(f"{s.minimum:g}", exercise=s.exercise, stat="min"),
            _cell(f"{s.maximum:g}", exercise=s.exercise, stat="max"),
            _cell(s.full_marks, exercise=s.exercise, stat="full_marks"),
            _cell(s.zero, exercise=s.exercise, stat="zero"),
            _cell(s.did_not_run, exercise=s.exercise, stat="did_not_run"),
        ]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts += [
        "</table>",
        "<h2>Share of students failing each check</h2>",
        "<p>Of the students whose exercise ran (a crashed or missing function has no check "
        "verdicts).</p>",
        f'<img id="plot-checks" alt="share failing each check" src="{images["checks"]}">',
        '<table id="checks"><tr><th>exercise</th><th>check</th><th>failed</th>'
        "<th>of</th><th>share</th></tr>",
    ]
    for c in analytics.checks:
        key = {"exercise": c.exercise, "check": c.check}
        parts.append(
            "<tr>"
            + _cell(c.exercise)
            + f'<td class="text">{e(c.check)}</td>'
            + _cell(c.failed, **key, stat="failed")
            + _cell(c.students, **key, stat="students")
            + _cell(f"{100 * c.share_failed:.0f}%", **key, stat="share")
            + "</tr>"
        )
    parts += [
        "</table>",
        f"<h2>Most frequent mistakes (top {TOP_HINTS} hints)</h2>",
        f'<img id="plot-hints" alt="most frequent hints" src="{images["hints"]}">',
        '<table id="hints"><tr><th>exercise</th><th>check</th><th>hint</th><th>students</th></tr>',
    ]
    for h in analytics.hints:
        parts.append(
            f"<tr>{_cell(h.exercise)}<td class='text'>{e(h.check)}</td>"
            f"<td class='text'>{e(h.hint)}</td>"
            + _cell(h.students, exercise=h.exercise, check=h.check, stat="hint_students")
            + "</tr>"
        )
    parts += ["</table>", "<h2>Submissions that need manual grading</h2>"]
    if analytics.flagged:
        parts.append('<table id="flagged"><tr><th>student</th><th>why</th></tr>')
        for student, reasons in analytics.flagged:
            parts.append(f"<tr>{_cell(student)}<td class='text'>{e(reasons)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append('<p id="flagged">None.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(analytics: Analytics, out: Path) -> tuple[Path, Path]:
    """Write analytics.csv and analytics.html into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / CSV_NAME, out / HTML_NAME
    with open(csv_path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(analytics))
    html_path.write_text(render_html(analytics, plots(analytics)), encoding="utf-8")
    return csv_path, html_path


def report(source: Path, out: Path | None = None) -> tuple[Analytics, Path, Path]:
    """Read ``source`` (a course folder, or a batch .json/.jsonl/.csv), write the report."""
    if source.is_dir():
        results = read_course(source)
        default_out = source / "analytics"
        label = f"gradebook of {source.name}"
    else:
        results = read_batch(source)
        default_out = source.parent / "analytics"
        label = source.name
    analytics = analyse(results, label)
    csv_path, html_path = write_report(analytics, out or default_out)
    return analytics, csv_path, html_path


# --- the closing list of a grading run -----------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with each control character (a terminal's escape sequences among them, line
    breaks too) shown as '?': for what reaches the instructor's terminal from a submission."""
    return "".join(character if character.isprintable() else "?" for character in text)


def manual_grading_lines(flagged: list[tuple[str, list[str]]], width: int = 90) -> list[str]:
    """The last lines of a grading command: "N submissions need manual grading:", then one
    "  student: reason; reason" line each (each reason cut to ``width``); nothing if none.
    Student ids (folder names) and reasons (which can quote a submission's file names) are
    ``printable``: they would otherwise move the cursor, erase other lines or set the title."""
    flagged = [(student, reasons) for student, reasons in flagged if reasons]
    if not flagged:
        return []
    lines = [f"{len(flagged)} submissions need manual grading:"]
    for student, reasons in flagged:
        short = [r if len(r) <= width else r[: width - 3].rstrip() + "..." for r in reasons]
        lines.append(printable(f"  {student}: {'; '.join(short)}"))
    return lines
