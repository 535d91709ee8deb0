"""nbgrader glue: the trusted autograde step that replaces nbgrader's kernel, and the grade export.

``nbgrader autograde`` normally starts a Jupyter kernel and runs the whole submission in it, then
reads each autograder test cell's outputs to score it. Code running in that kernel can rewrite its
own score (patch the checks, print before failing, write into the gradebook). Here no kernel is
started: ``TrustedGrade`` grades the sanitized notebook with ``grader.grade`` (student code runs in
the bubblewrap sandbox, verdicts are computed in this process) and writes each test cell's verdict
as that cell's outputs, in the form nbgrader's own ``SaveAutoGrades`` turns into a score:

    stream (stdout)        the readable report: points, every check passed or failed, hints
    execute_result         text/plain = the points earned (nbgrader's partial credit)

``HideTestCode`` removes the hidden-test regions that nbgrader's ``OverwriteCells`` restores into
locked test cells, so neither the autograded notebooks nor the feedback pages show them.
``IntakeAutograde`` is nbgrader's ``Autograde`` converter taking from a submission folder only
what ``grader.intake`` accepts (``install_intake`` puts it in nbgrader's place): a folder holding
a link, a FIFO, a device... is refused unread, graded 0 with the reason and flagged for manual
grading (``FlagRefused``); of the others only the notebook and the timestamp are taken.
``SubmissionReader`` reads the notebook through ``grader.intake`` and turns an unreadable or
refused submission (empty file, not JSON, a link) into a stub that is graded 0 with the reason,
instead of an error row nobody explains to the student.
``RepairCellMetadata`` restores each known cell's nbgrader metadata from the gradebook, so edited
flags cannot fail a submission; ``RestoreCells`` is nbgrader's ``OverwriteCells`` without the
crashes a submission can trigger.
``PartsCsvExport`` writes nbgrader's CSV columns plus the forward and backward part scores.
``course/nbgrader_config.py`` wires these in.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import json
import os
import tempfile
import textwrap
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils as nbgrader_utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde, BaseConverter, NbGraderException
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Float, List, Unicode

from grader import intake, precomputed
from grader.exercises import ASSIGNMENT_ID, EXERCISES, PARTS, SETUP_CELL_ID, part_points
from grader.extract import extract
from grader.verdict import ExerciseVerdict, Grade

# Metadata key the stub of an unreadable submission carries (see SubmissionReader).
UNREADABLE_KEY = "unreadable_submission"
# Metadata key of the autograded notebook's machine-readable summary (see grade_summary).
SUMMARY_KEY = "trusted_grader"

_EXERCISE_BY_TEST_CELL = {exercise.test_cell_id: exercise for exercise in EXERCISES}


# ---------------------------------------------------------------------------------------------
# What a test cell shows
# ---------------------------------------------------------------------------------------------


def format_points(points: float) -> str:
    """``10.0`` -> ``"10"``, ``7.5`` -> ``"7.5"``, ``3.333`` -> ``"3.33"``."""
    return f"{round(points, 2):g}"


# Columns of a test cell's report. nbgrader's feedback pages show outputs in a <pre>
# (white-space: pre, overflow: auto) about 95 columns wide, so a hint of 200 characters on one
# line ran off the right edge, readable only through a scrollbar at the bottom of the output (not
# LimitOutput: it cuts at 1,000 lines). Hints and notes, the long lines, are wrapped instead.
REPORT_WIDTH = 88


def _wrap(text: str, first: str, rest: str) -> str:
    """``text`` wrapped to REPORT_WIDTH, its first line after ``first``, the others after
    ``rest``; words are never broken (a long name stays whole on its own line)."""
    return textwrap.fill(
        text,
        width=REPORT_WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def verdict_report(verdict: ExerciseVerdict, points: float, earned: float) -> str:
    """The readable text of one exercise's verdict: points, then one line per check with its hint.
    Hints and notes are wrapped to REPORT_WIDTH columns.

    points -- the test cell's points (nbgrader's, authoritative); earned -- the points given
    """
    head = f"{verdict.name}: {format_points(earned)} / {format_points(points)} points"
    if not verdict.checks:  # it did not run: not found, not implemented, crashed...
        return f"{head} - {verdict.message or verdict.status}\n"
    passed = sum(check.passed for check in verdict.checks)
    lines = [f"{head} - {passed} of {len(verdict.checks)} checks passed"]
    for check in verdict.checks:
        mark = "passed" if check.passed else "FAILED"
        line = f"  {mark}  {check.name}"
        if not check.passed and check.hint:
            line += "\n" + _wrap(f"hint: {check.hint}", " " * 10, " " * 16)
        lines.append(line)
    if verdict.message:
        lines.append(_wrap(f"note: {verdict.message}", "  ", " " * 8))
    return "\n".join(lines) + "\n"


def verdict_outputs(report: str, earned: float) -> list[NotebookNode]:
    """The outputs of a graded test cell: the report, then the points as nbgrader partial credit.

    nbgrader's ``determine_grade`` scores a code cell by its first error/stderr output (0), else
    its first execute_result whose text/plain is a number (partial credit), else full points; so
    the report must go to stdout and the points must be the only execute_result.
    """
    return [
        nbformat.v4.new_output("stream", name="stdout", text=report),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": repr(float(earned))}, execution_count=None
        ),
    ]


def cell_verdicts(grade: Grade) -> dict[str, tuple[ExerciseVerdict, str | None]]:
    """{test cell grade_id: (verdict, submission-level note or None)} for every exercise.

    An exercise missing from ``grade`` (the grader could not reach it) gets a 0 verdict that says
    so; a submission-level error gives every exercise a 0 verdict carrying that error.
    """
    by_name = {verdict.name: verdict for verdict in grade.exercises}
    notes = "; ".join(grade.notes) if grade.notes else None
    result = {}
    for index, exercise in enumerate(EXERCISES):
        if grade.error is not None:
            message = f"this submission could not be graded: {grade.error}"
            verdict = ExerciseVerdict(exercise.name, 0.0, exercise.points, (), "error", message)
        else:
            verdict = by_name.get(exercise.name) or ExerciseVerdict(
                exercise.name, 0.0, exercise.points, (), "error", "the grader gave no verdict"
            )
        # Submission-level notes (e.g. how the code was found) are said once, in the first cell.
        result[exercise.test_cell_id] = (verdict, notes if index == 0 else None)
    return result


def grade_summary(grade: Grade) -> dict:
    """What tools read from an autograded notebook (metadata, never rendered in feedback):
    {"total", "max", "error", "notes": [...], "exercises": {name: {"score", "max", "status",
    "checks": [{"name", "passed", "hint"}]}}}; FlagRefused adds "needs_manual_grading":
    [reason, ...]. grader.report reads the checks (the gradebook holds only cell scores)."""
    return {
        "total": grade.total,
        "max": grade.max,
        "error": grade.error,
        "notes": list(grade.notes),
        "exercises": {
            verdict.name: {
                "score": verdict.score,
                "max": verdict.max,
                "status": verdict.status,
                "checks": [
                    {"name": check.name, "passed": check.passed, "hint": check.hint}
                    for check in verdict.checks
                ],
            }
            for verdict in grade.exercises
        },
    }


def earned_points(verdict: ExerciseVerdict, cell_points: float) -> float:
    """The verdict's fraction of the test cell's points (the gradebook's points are authoritative,
    so a course that reweights an exercise in the notebook still gets consistent scores)."""
    if verdict.max <= 0:
        return 0.0
    fraction = min(max(verdict.score / verdict.max, 0.0), 1.0)
    return round(fraction * cell_points, 2)


@functools.cache
def warn_if_development_secret(log, source: str = "development default") -> None:
    """Once per process: say so when the hidden inputs are drawn with the public secret."""
    if source == "development default":
        log.warning(
            "No course secret (c.TrustedGrader.secret_file, GRADER_SECRET): the hidden inputs "
            "are drawn with the public development secret (fine for a demo, not for a course; "
            "see the README, 'The course secret')"
        )


def grade_submission(path: Path, *, sandbox: bool, limits=None, secret=None) -> Grade:
    """Grade the notebook at ``path`` with the trusted grader (the hidden inputs' seed is the
    grader's: derived from the graded code and the course ``secret``), within ``limits``."""
    from grader.grade import grade_notebook  # imported late: the sandbox runner is heavy

    return grade_notebook(path, sandbox=sandbox, limits=limits, secret=secret)


# ---------------------------------------------------------------------------------------------
# The autograde step
# ---------------------------------------------------------------------------------------------


class TrustedGrade(NbGraderPreprocessor):
    """Replaces nbgrader's ``Execute``: grade with the sandboxed trusted grader, no kernel.

    Every autograder test cell of an exercise gets its verdict as outputs (see module docstring);
    the verdict depends on the graded code only, so test cells the student edited, tagged or
    duplicated change nothing (DeduplicateIds and RestoreCells have already restored them).
    A submission that cannot be graded gets 0 in every test cell with the reason.
    An autograder test cell that belongs to no exercise of ``grader.exercises`` gets 0 and a
    message: nothing graded it, so it must not pass by default (nbgrader's rule for a silent
    cell is full marks).
    """

    sandbox = Bool(
        True, help="Run student code in the bubblewrap sandbox (False only for tests)."
    ).tag(config=True)
    verdict_cache = Unicode(
        "", help="Folder of verdicts precomputed by grader.parallel (see grader.precomputed)."
    ).tag(config=True)
    wait_seconds = Float(
        600.0, help="How long to wait for a verdict grader.parallel announced before grading."
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from grader.grade import unreadable_grade

        # A student who forges this flag only gives themselves 0 with their own message.
        unreadable = nb.metadata.get(UNREADABLE_KEY)
        grade = unreadable_grade(str(unreadable)) if unreadable else self.grade(nb)
        if grade.error is not None and REFUSED_KEY not in resources.get("nbgrader", {}):
            needs_manual_grading(resources, f"not graded: {grade.error}")
        for note in grade.notes:  # how the code was found when its metadata was damaged
            needs_manual_grading(resources, note)
        verdicts = cell_verdicts(grade)
        nb.metadata[SUMMARY_KEY] = grade_summary(grade)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            # Nothing ran: no cell may carry outputs or counts that look like a kernel's.
            cell.outputs = []
            cell.execution_count = None
            if not (nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell)):
                continue
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            points = float(cell.metadata["nbgrader"]["points"])
            if grade_id not in verdicts:
                self.log.warning("Test cell %s belongs to no exercise: scored 0", grade_id)
                report = f"{grade_id}: 0 / {format_points(points)} points - not an exercise of "
                report += "the trusted grader; an instructor must grade this cell by hand\n"
                cell.outputs = verdict_outputs(report, 0.0)
                continue
            verdict, note = verdicts[grade_id]
            earned = earned_points(verdict, points)
            report = verdict_report(verdict, points, earned)
            if note:
                report += f"({note})\n"
            cell.outputs = verdict_outputs(report, earned)
        return nb, resources

    def grade(self, nb: NotebookNode) -> Grade:
        """The Grade of this notebook: the one grader.parallel computed (or is computing) for the
        same graded code if there is one (see grader.precomputed), else graded now.

        The secret, the limits and the sandbox switch are the course's ``c.TrustedGrader``
        settings (``grader.settings``), read from this preprocessor's configuration; the sandbox
        runs only if both ``TrustedGrade.sandbox`` and ``TrustedGrader.sandbox`` say so.
        The grader reads a file: the sanitized notebook goes to a private temporary folder.
        """
        from grader.settings import TrustedGrader

        settings = TrustedGrader(config=self.config)
        secret, source = settings.secret()
        limits, sandbox = settings.limits(), self.sandbox and settings.sandbox
        warn_if_development_secret(self.log, source)
        with tempfile.TemporaryDirectory(prefix="trusted-grade-") as private:  # mode 0700
            path = Path(private) / "assignment.ipynb"
            path.write_text(json.dumps(nb))
            if self.verdict_cache:
                key = precomputed.verdict_key(
                    extract(path), sandbox=sandbox, secret=secret, limits=limits
                )
                folder = Path(self.verdict_cache)
                grade = precomputed.fetch(folder, key, wait_seconds=self.wait_seconds)
                if grade is not None:
                    return grade
                self.log.info("No precomputed verdict for this notebook: grading it now")
            return grade_submission(path, sandbox=sandbox, limits=limits, secret=secret)


class HideTestCode(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, applied to autograder test cells only.

    OverwriteCells restores locked test cells from the gradebook, hidden-test regions included;
    the verdicts are already written, so those regions are removed before anything is saved or
    shown. Only locked test cells are touched: a student who types the delimiters into a solution
    cell must not make the run fail (ClearHiddenTests raises on unbalanced delimiters).
    """

    # Configurable, as in nbgrader's GetGrades: generate_feedback's HTMLExporter configures
    # NbConvertBase.display_data_priority, and traitlets warns on every run when a subclass
    # (nbgrader's preprocessor base) redeclares that option as not configurable.
    display_data_priority = List(
        NbGraderPreprocessor.display_data_priority.default_value, config=True
    )

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        if nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell):
            self._remove_hidden_test_region(cell)
        return cell, resources


class RepairCellMetadata(NbGraderPreprocessor):
    """The nbgrader metadata of every cell the gradebook knows, rewritten from the gradebook;
    nbgrader metadata that names no cell is dropped. No edit of it can fail a submission.

    nbgrader trusts the flags a submission's cells carry, and OverwriteCells restores a locked
    cell's source, type, lock and points, not its other flags. So in nbgrader 0.9.6 a test cell
    flagged ``"solution": true``, ``"task": true`` or ``"grade": "yes"`` (checksum mismatch,
    schema validation), a ``grade_id`` that is a list (TypeError in DeduplicateIds), points as a
    string (schema validation), a solution cell flagged as graded, or a test cell given its
    solution's ``grade_id`` (MissingEntry) made nbgrader fail the whole submission: correct
    code scored 0. Here a cell whose ``grade_id`` the gradebook knows gets exactly the recorded
    metadata (grade, solution, task, locked, points, cell type, checksum, schema_version), and
    metadata that is not a mapping or has no string ``grade_id`` is dropped (a test cell is then
    put back by RestoreCells, a solution cell is found by its function name). Each repair is
    logged. Grading never depended on these flags: the verdict comes from the solution code.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            recorded = recorded_metadata(gradebook, info["notebook"], info["assignment"])
        repaired = []
        for index, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                continue
            metadata = cell.metadata["nbgrader"]
            grade_id = metadata.get("grade_id") if isinstance(metadata, dict) else None
            if not isinstance(grade_id, str) or not grade_id:
                self.log.warning("Cell %d: nbgrader metadata without a grade_id dropped", index)
                del cell.metadata["nbgrader"]
                repaired.append(f"cell {index}")
            elif grade_id in recorded and metadata != recorded[grade_id]:
                changed = sorted(
                    key
                    for key in set(metadata) | set(recorded[grade_id])
                    if metadata.get(key) != recorded[grade_id].get(key)
                )
                # Only written by nbgrader's tools, absent from notebooks saved elsewhere:
                # filling them in is no repair of anything the student did.
                edited = [
                    key for key in changed if key in metadata or key not in METADATA_FILLED_IN
                ]
                self.log.warning(
                    "Cell %s: nbgrader metadata edited (%s): restored from the gradebook",
                    grade_id,
                    ", ".join(changed),
                )
                cell.metadata["nbgrader"] = NotebookNode(copy.deepcopy(recorded[grade_id]))
                if edited:
                    repaired.append(grade_id)
        if repaired:
            needs_manual_grading(
                resources,
                f"nbgrader metadata edited in {len(repaired)} cells ({_first(repaired)}): "
                "restored from the gradebook",
            )
        return nb, resources


def _short(reason: str, width: int = 90) -> str:
    """A reason cut for the closing list (the gradebook's comment keeps it whole)."""
    return reason if len(reason) <= width else reason[: width - 3].rstrip() + "..."


def _first(names: list[str], shown: int = 3) -> str:
    """'a, b, c' or 'a, b, c and 5 more'."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


METADATA_FILLED_IN = frozenset({"cell_type", "checksum"})


def recorded_metadata(gradebook: Gradebook, notebook_id: str, assignment_id: str) -> dict:
    """{grade_id: the cell's nbgrader metadata as ``generate_assignment`` released it}."""
    notebook = gradebook.find_notebook(notebook_id, assignment_id)
    points = {cell.name: cell.max_score for cell in notebook.grade_cells}
    solutions = {cell.name for cell in notebook.solution_cells}
    tasks = {cell.name for cell in notebook.task_cells}
    recorded = {}
    for cell in notebook.source_cells:
        metadata = {
            "cell_type": cell.cell_type,
            "checksum": cell.checksum,
            "grade": cell.name in points,
            "grade_id": cell.name,
            "locked": cell.locked,
            "schema_version": MetadataValidator.schema_version,
            "solution": cell.name in solutions,
        }
        if cell.name in points:
            metadata["points"] = points[cell.name]
        if cell.name in tasks:
            metadata["task"] = True
        recorded[cell.name] = metadata
    return recorded


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, made total: no submission can make it, or the run, fail.

    Two defects of nbgrader 0.9.6 it works around:

    - a cell whose nbgrader metadata has no grade_id (DeduplicateIds empties a duplicate's
      metadata; OverwriteCells itself deletes a grade_id unknown to the gradebook), or whose
      schema_version is not nbgrader's (a student can edit it), makes CheckCellMetadata raise
      SchemaTooOldError or SchemaTooNewError, which abort the whole autograde run for every
      student after this one; a missing grade_id also makes re-adding missing cells raise
      KeyError. Metadata without a grade_id marks no nbgrader cell any more, so it is dropped;
      the schema_version of the others is set to nbgrader's, so that a damaged cell fails
      validation for this submission alone; both before and after nbgrader's pass;
    - with ``add_missing_cells``, nbgrader inserts a missing grade cell after the cell preceding
      it in the source and raises KeyError when that cell is missing too (a notebook of the older
      edition has no nbgrader metadata at all). Here a missing test cell goes right after its
      exercise's solution cell when present, else at the end; it says it was added back, and
      TrustedGrade grades it like any other.
    """

    def preprocess(self, nb: NotebookNode, resources: dict):
        # DeduplicateIds emptied the metadata of every copy of a cell but the first.
        copies = sum(1 for cell in nb.cells if "nbgrader" in cell.metadata and not _grade_id(cell))
        if copies:
            needs_manual_grading(resources, f"{copies} duplicated nbgrader cells (ignored)")
        _normalise_nbgrader_metadata(nb)
        nb, resources = super().preprocess(nb, resources)
        _normalise_nbgrader_metadata(nb)
        return nb, resources

    def report_change(self, name: str, attr: str, old, new) -> None:
        super().report_change(name, attr, old, new)
        if attr in ("cell_type", "locked", "max_score", "points"):  # the cell's nature, not text
            needs_manual_grading(self._resources, f"{attr} of cell {name} edited: restored")

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        self._resources = resources  # for report_change, which nbgrader calls without them
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict):
        source_notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        sources = {cell.name: cell for cell in source_notebook.source_cells}
        solutions = {cell.name for cell in source_notebook.solution_cells}
        order = _notebook_order()
        present = {_grade_id(cell) for cell in nb.cells}
        missing = [cell for cell in source_notebook.grade_cells if cell.name not in present]
        if missing:
            names = sorted(cell.name for cell in missing)
            needs_manual_grading(
                resources, f"{len(missing)} test cells missing ({_first(names)}): put back"
            )
        for grade_cell in sorted(missing, key=lambda cell: order.get(cell.name, len(order))):
            self.log.warning("Missing grade cell %s: added back", grade_cell.name)
            cell = self.missing_cell_transform(
                sources[grade_cell.name], grade_cell.max_score, grade_cell.name in solutions
            )
            exercise = _EXERCISE_BY_TEST_CELL.get(grade_cell.name)
            after = [
                index
                for index, existing in enumerate(nb.cells)
                if exercise is not None and _grade_id(existing) == exercise.solution_cell_id
            ]
            nb.cells.insert(after[-1] + 1 if after else len(nb.cells), cell)
        return nb, resources

    def add_missing_task_cells(self, nb: NotebookNode, resources: dict):
        source_notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        sources = {cell.name: cell for cell in source_notebook.source_cells}
        present = {_grade_id(cell) for cell in nb.cells}
        for task_cell in source_notebook.task_cells:
            if task_cell.name not in present:
                cell = sources[task_cell.name]
                nb.cells.append(
                    self.missing_cell_transform(cell, task_cell.max_score, is_task=True)
                )
        return nb, resources


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _normalise_nbgrader_metadata(nb: NotebookNode) -> None:
    for cell in nb.cells:
        if "nbgrader" not in cell.metadata:
            continue
        if not _grade_id(cell):
            del cell.metadata["nbgrader"]
        else:
            cell.metadata["nbgrader"]["schema_version"] = MetadataValidator.schema_version


# ---------------------------------------------------------------------------------------------
# Reading submissions
# ---------------------------------------------------------------------------------------------


def _notebook_order() -> dict[str, int]:
    """Position of each grade_id in the assignment (the gradebook stores cells unordered)."""
    names = [SETUP_CELL_ID]
    for exercise in EXERCISES:
        names += [exercise.solution_cell_id, exercise.test_cell_id]
    return {name: index for index, name in enumerate(names)}


def unreadable_stub(gradebook: Gradebook, notebook_id: str, assignment_id: str, reason: str):
    """A notebook standing in for an unreadable submission: the assignment's cells as recorded in
    the gradebook (solution cells empty), flagged so that TrustedGrade scores it 0 with ``reason``.
    """
    notebook = gradebook.find_notebook(notebook_id, assignment_id)
    solutions = {cell.name for cell in notebook.solution_cells}
    recorded = recorded_metadata(gradebook, notebook_id, assignment_id)
    order = _notebook_order()
    cells = []
    for source_cell in sorted(notebook.source_cells, key=lambda c: order.get(c.name, len(order))):
        metadata = copy.deepcopy(recorded[source_cell.name])
        source = "" if source_cell.name in solutions else source_cell.source
        if source_cell.cell_type == "code":
            cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": metadata})
        else:
            cell = nbformat.v4.new_markdown_cell(source, metadata={"nbgrader": metadata})
        cells.append(cell)
    stub = nbformat.v4.new_notebook(cells=cells)
    stub.metadata[UNREADABLE_KEY] = reason
    return stub


def unreadable_reason(filename: str, error: Exception) -> str:
    """What to tell a student whose file could not be read (no traceback, no paths)."""
    size = os.path.getsize(filename) if os.path.exists(filename) else 0
    return _unreadable_reason(size, error)


def _unreadable_reason(size: int, error: Exception) -> str:
    if size == 0:
        return "the submitted file is empty (0 bytes); submit the saved notebook"
    kind = type(error).__name__
    return f"the submitted file is not a readable Jupyter notebook ({kind}); submit the .ipynb"


# What nbformat.read raises on a file that is not a notebook: NotJSONError and JSONDecodeError
# are ValueErrors (so is UnicodeDecodeError); a JSON document of the wrong shape gives KeyError
# or TypeError.
NOT_A_NOTEBOOK = (ValueError, KeyError, TypeError, AttributeError)


class SubmissionReader(NotebookExporter):
    """NotebookExporter for ``Autograde``: reads a submission through ``grader.intake``, and an
    unreadable or refused submission becomes a 0-graded stub.

    nbconvert's ``from_filename`` opens the file with a plain ``open``: it follows a link (to
    another student's notebook), blocks for good on a FIFO and reads ``/dev/zero`` without end.
    Here the file is read with ``intake.read_regular_file`` (no link followed, never blocking, at
    most ``intake.MAX_NOTEBOOK_BYTES``), and a submission ``IntakeAutograde`` refused is not read
    at all. nbgrader would log a traceback for a file it cannot read, leave the gradebook row
    without a score and give the student no feedback page; the stub goes through the same
    pipeline as every other submission, so the student's feedback says what was wrong and the
    gradebook says 0.
    """

    def from_filename(self, filename: str, resources: dict | None = None, **kw):
        if resources is None or "nbgrader" not in resources:  # not autograding: nbconvert's
            return super().from_filename(filename, resources, **kw)
        if not isinstance(self.parent, IntakeAutograde):  # fail closed: see install_intake
            raise NbGraderException(
                "nbgrader's Autograde converter would copy and follow whatever a submission "
                "folder holds: course/nbgrader_config.py must call install_intake()"
            )
        resources.setdefault("metadata", ResourcesDict())
        resources["metadata"]["name"] = Path(filename).stem
        resources["metadata"]["path"] = str(Path(filename).parent)
        nb = self.read_submission(filename, resources["nbgrader"])
        return self.from_notebook_node(nb, resources=resources, **kw)

    def read_submission(self, filename: str, info: dict) -> NotebookNode:
        """The notebook at ``filename``, or the stub that stands for it with the reason.

        info -- ``resources["nbgrader"]``: student, notebook, assignment, db_url, and the reason
                ``IntakeAutograde`` refused the submission for (``REFUSED_KEY``), if it did
        """
        reason = info.get(REFUSED_KEY)
        if reason is None:
            data = b""
            try:
                data = intake.read_regular_file(filename, intake.MAX_NOTEBOOK_BYTES)
                return nbformat.reads(data.decode("utf-8-sig"), as_version=4)
            except intake.IntakeError as error:
                reason = error.reason
            except NOT_A_NOTEBOOK as error:
                reason = _unreadable_reason(len(data), error)
            self.log.warning("Unreadable submission %s: %s", filename, reason)
        with Gradebook(info["db_url"]) as gradebook:
            return unreadable_stub(gradebook, info["notebook"], info["assignment"], reason)

    def from_file(self, file_stream, resources: dict | None = None, **kw):
        try:
            nb = nbformat.read(file_stream, as_version=4)
        except NOT_A_NOTEBOOK as error:
            if resources is None or "nbgrader" not in resources:
                raise
            reason = unreadable_reason(file_stream.name, error)
            self.log.warning("Unreadable submission %s: %s", file_stream.name, reason)
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gradebook:
                nb = unreadable_stub(gradebook, info["notebook"], info["assignment"], reason)
        return self.from_notebook_node(nb, resources=resources, **kw)


# ---------------------------------------------------------------------------------------------
# The intake: what nbgrader takes from a submission folder
# ---------------------------------------------------------------------------------------------

# resources["nbgrader"] key: why IntakeAutograde refused this submission (absent: accepted).
# In resources, never in the notebook, so a student cannot set or clear it.
REFUSED_KEY = "refused_submission"
# resources["nbgrader"] key: why this submission could not be graded normally (a list that
# IntakeAutograde shares between the sanitize and the autograde pass of one submission).
MANUAL_GRADING_KEY = "needs_manual_grading"


class ManualGradingReasons(list):
    """The reasons of one submission. nbconvert deep-copies the resources before running the
    preprocessors, and nbgrader makes new ones for each pass: the list is shared, never copied."""

    def __deepcopy__(self, memo) -> ManualGradingReasons:
        return self


def needs_manual_grading(resources: dict, reason: str) -> None:
    """Record that this submission needs an instructor's look, and why (FlagRefused flags it in
    the gradebook, IntakeAutograde lists it at the end of the run). Outside IntakeAutograde (a
    bare preprocessor in a test) there is nowhere to record it, and nothing happens."""
    reasons = resources.get("nbgrader", {}).get(MANUAL_GRADING_KEY)
    if reasons is not None and reason not in reasons:
        reasons.append(reason)


def flag_for_manual_grading(
    gradebook: Gradebook, notebook_id: str, assignment_id: str, student_id: str, reasons
) -> None:
    """Every grade of this submitted notebook flagged "needs manual grade", and the reasons as the
    automatic comment of its first solution cell (formgrader shows it in that cell's comment box
    until a manual comment is typed, and the feedback page shows it to the student)."""
    submission = gradebook.find_submission_notebook(notebook_id, assignment_id, student_id)
    for grade in submission.grades:
        grade.needs_manual_grade = True
    comments = {comment.name: comment for comment in submission.comments}
    first = [name for name in _notebook_order() if name in comments][:1]
    comment = comments[first[0]] if first else next(iter(comments.values()), None)
    if comment is not None:
        comment.auto_comment = "Needs manual grading: " + "; ".join(reasons)
    gradebook.db.commit()


class _TakeOnlyTheNotebook(BaseConverter):
    """Placed between ``Autograde`` and ``BaseConverter`` in IntakeAutograde's class order, so
    that ``Autograde.init_assignment``'s call of ``BaseConverter.init_assignment`` comes here.

    nbgrader's copies every file of the submission folder but the notebooks into autograded/
    (and generate_feedback on into feedback/, which formgrader serves), with ``shutil.copy``: it
    follows links (the gradebook, another student's notebook), blocks on a FIFO and copies
    /dev/zero without end. Here nothing of the submission is copied: the notebook is written by
    nbgrader from what SubmissionReader read, and nbgrader's own timestamp.txt is written anew
    from the validated timestamp (nbgrader compares it on later runs; the exchange returns it
    with the feedback). Other files are named in the log and left where they are.
    """

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        source = Path(self._format_source(assignment_id, student_id))
        dest = Path(self._format_dest(assignment_id, student_id))
        if self._refusal(assignment_id, student_id) is not None:
            return  # nothing of a refused submission is read, its timestamp included
        ignored = intake.ignored_files(source)
        if ignored:
            self.log.warning(
                "%s: only %s is graded; not carried into %s: %s",
                student_id,
                intake.NOTEBOOK_FILE,
                dest.parent.parent.name,
                ", ".join(ignored),
            )
        timestamp = read_timestamp(source, self.log)
        if timestamp is not None:
            dest.mkdir(parents=True, exist_ok=True)
            target = dest / intake.TIMESTAMP_FILE
            target.unlink(missing_ok=True)  # nbgrader made it read-only on an earlier run
            target.write_text(timestamp + "\n")

    def _refusal(self, assignment_id: str, student_id: str) -> str | None:
        """Why the intake refused this submission (None: accepted)."""
        return self._refusals.get((assignment_id, student_id))


def read_timestamp(folder: Path, log) -> str | None:
    """The text of ``folder``/timestamp.txt if it holds a timestamp nbgrader can parse, else None
    (with a warning). Read through the intake: a link, FIFO or device is no timestamp."""
    path = folder / intake.TIMESTAMP_FILE
    if not os.path.lexists(path):
        return None
    try:
        text = intake.read_regular_file(path, intake.MAX_TIMESTAMP_BYTES).decode("utf-8").strip()
        if not text:
            raise ValueError("empty")
        nbgrader_utils.parse_utc(text)
    except (intake.IntakeError, ValueError, OverflowError) as error:
        reason = error.reason if isinstance(error, intake.IntakeError) else "not a timestamp"
        log.warning("Ignored %s: %s", path, reason)
        return None
    return text


class IntakeAutograde(Autograde, _TakeOnlyTheNotebook):
    """nbgrader's ``Autograde`` converter, taking from each submission folder only what
    ``grader.intake`` accepts. ``install_intake`` (called by course/nbgrader_config.py) makes
    ``nbgrader autograde``, formgrader and ``grader.parallel`` use it.

    - Before nbgrader looks at a submission (``init_destination``, the first step that reads a
      submission's file: its timestamp), the folder is checked (``intake.check_submission_folder``,
      lstat only). A refused submission is never opened: SubmissionReader stands a stub for it,
      graded 0 with the reason on its feedback page, and ``FlagRefused`` flags its grades for
      manual grading. The run goes on for every other student.
    - Of an accepted submission, nbgrader reads the notebook through SubmissionReader and the
      timestamp through ``read_timestamp``; no other file is copied (``_TakeOnlyTheNotebook``).
    - The run ends with the list of submissions that could not be graded normally, and why
      (``manual_grading``; FlagRefused flags them in the gradebook).
    """

    list_manual_grading = Bool(
        True,
        help="End the run with the submissions that need manual grading, and why "
        "(grader.parallel turns it off and prints the list itself, last).",
    ).tag(config=True)

    def init_notebooks(self) -> None:
        """nbgrader's, except that each submission folder's notebooks are its own: nbgrader globs
        a found folder's path again for its notebooks, so the folder of a student whose id holds
        glob characters ("x*") also took another student's ("xy"), graded under that student."""
        super().init_notebooks()
        for folder, found in list(self.assignments.items()):
            own = [path for path in found if os.path.dirname(path) == folder]
            if own:
                self.assignments[folder] = own
            else:
                self.log.warning("No notebooks in %s", folder)
                del self.assignments[folder]

    def start(self) -> None:
        if not issubclass(self.exporter_class, SubmissionReader):  # fail closed
            raise NbGraderException(
                "IntakeAutograde reads submissions through grader.nbgrader_plugin."
                f"SubmissionReader, not {self.exporter_class.__name__}: see nbgrader_config.py"
            )
        self._refusals: dict[tuple[str, str], str | None] = {}
        self._refused_folders: set[str] = set()
        # (assignment, student) -> why it needs manual grading, in nbgrader's order
        self.manual_grading: dict[tuple[str, str], ManualGradingReasons] = {}
        # nbgrader reads each submission's timestamp.txt through CourseDirectory, with a plain
        # open (and crashes that student's run on a malformed one): for this run, through the
        # intake instead.
        self.coursedir.get_existing_timestamp = self._existing_timestamp
        try:
            super().start()
        finally:
            del self.coursedir.get_existing_timestamp
            self._report_manual_grading()

    def _report_manual_grading(self) -> None:
        """The run's last lines: every submission that could not be graded normally, and why."""
        flagged = [(key, reasons) for key, reasons in self.manual_grading.items() if reasons]
        global LAST_RUN_NEEDS_MANUAL_GRADING
        LAST_RUN_NEEDS_MANUAL_GRADING = [(student, reasons) for (_, student), reasons in flagged]
        if not flagged or not self.list_manual_grading:
            return
        self.log.warning(
            "%d submissions need manual grading (flagged in the gradebook):", len(flagged)
        )
        from grader.report import printable  # ids and reasons are the student's text

        for (_, student), reasons in flagged:
            line = f"  {student}: {'; '.join(_short(r) for r in reasons)}"
            self.log.warning("%s", printable(line))

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        try:
            super().init_assignment(assignment_id, student_id)
        except Exception:  # e.g. no notebook of a known name: nbgrader fails this submission
            self._flag_missing_notebooks(assignment_id, student_id, failed=True)
            raise
        self._flag_missing_notebooks(assignment_id, student_id, failed=False)

    def _flag_missing_notebooks(self, assignment_id: str, student_id: str, *, failed: bool):
        """nbgrader scores a notebook missing from a submission 0 without a flag, and fails a
        submission without any notebook of a known name: both are flagged, saying what is
        there instead."""
        if self._refusal(assignment_id, student_id) is not None:
            return  # flagged by FlagRefused; nothing of it is looked at
        folder = Path(self._format_source(assignment_id, student_id))
        reasons = self.manual_grading[(assignment_id, student_id)]
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
            for notebook in gradebook.find_assignment(assignment_id).notebooks:
                name = f"{notebook.name}.ipynb"
                if os.path.lexists(folder / name) and not failed:
                    continue
                if os.path.lexists(folder / name):
                    reason = "nbgrader failed on it (see the error above): not graded"
                else:
                    others = sorted(path.name for path in folder.glob("*.ipynb"))
                    reason = f"no {name} in the submission" + (
                        f" (it holds {', '.join(others)})" if others else ""
                    )
                with contextlib.suppress(MissingEntry):
                    flag_for_manual_grading(
                        gradebook, notebook.name, assignment_id, student_id, [reason]
                    )
                if reason not in reasons:
                    reasons.append(reason)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except Exception:
            # nbgrader logs the error and goes on with the next student; the list says who.
            assignment_id, student_id = self._current
            reason = "nbgrader failed on it (see the error above): not graded"
            self.manual_grading[self._current].append(reason)
            notebook_id = Path(notebook_filename).stem
            with contextlib.suppress(Exception), Gradebook(self.coursedir.db_url) as gradebook:
                flag_for_manual_grading(gradebook, notebook_id, assignment_id, student_id, [reason])
            raise

    def _existing_timestamp(self, path: str):
        if os.path.normpath(path) in self._refused_folders:
            return None  # nothing of a refused submission is read
        text = read_timestamp(Path(path), self.log)
        return None if text is None else nbgrader_utils.parse_utc(text)

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        folder = self._format_source(assignment_id, student_id)
        problems = intake.check_submission_folder(folder)
        reason = intake.refusal_reason(problems) if problems else None
        self._refusals[(assignment_id, student_id)] = reason
        self._current = (assignment_id, student_id)
        self.manual_grading[self._current] = ManualGradingReasons()
        if reason is not None:
            self._refused_folders.add(os.path.normpath(folder))
            self.log.error("Refused the submission of %s: %s", student_id, "; ".join(problems))
        return super().init_destination(assignment_id, student_id)

    def init_single_notebook_resources(self, notebook_filename: str) -> dict:
        resources = super().init_single_notebook_resources(notebook_filename)
        info = resources["nbgrader"]
        reason = self._refusal(info["assignment"], info["student"])
        if reason is not None:
            info[REFUSED_KEY] = reason
        # the same list in both passes, so reasons found while sanitizing are flagged at the end
        info[MANUAL_GRADING_KEY] = self.manual_grading.setdefault(
            (info["assignment"], info["student"]), ManualGradingReasons()
        )
        if reason is not None:
            needs_manual_grading(resources, f"refused at intake: {reason}")
        return resources


class FlagRefused(NbGraderPreprocessor):
    """Flags every grade of a submission that could not be graded normally as needing manual
    grading, with the reasons as a comment formgrader shows (``flag_for_manual_grading``).

    The reasons were recorded (``needs_manual_grading``) by the steps that met them: refused at
    intake (a link, a FIFO, another student's file...), unreadable or empty (TrustedGrade: the
    stub's error), nbgrader metadata edited (RepairCellMetadata), test cells duplicated or deleted
    (RestoreCells), code found by function name or of the older edition (TrustedGrade: the
    grade's notes). SaveAutoGrades clears the flag of every grade it records, hence this step
    after it: the instructor must see why, not a plain 0 or a silently repaired notebook. The
    reasons also go into the notebook's summary (``SUMMARY_KEY``, "needs_manual_grading").
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        reasons = list(info.get(MANUAL_GRADING_KEY) or [])
        if info.get(REFUSED_KEY) is not None and not reasons:
            reasons = [f"refused at intake: {info[REFUSED_KEY]}"]
        if SUMMARY_KEY in nb.metadata:
            nb.metadata[SUMMARY_KEY]["needs_manual_grading"] = reasons
        if not reasons:
            return nb, resources
        with Gradebook(info["db_url"]) as gradebook:
            flag_for_manual_grading(
                gradebook, info["notebook"], info["assignment"], info["student"], reasons
            )
        return nb, resources


# (student, [reason, ...]) of the last IntakeAutograde run in this process (grader.parallel
# reads it for its own last line).
LAST_RUN_NEEDS_MANUAL_GRADING: list[tuple[str, list[str]]] = []


def install_intake() -> None:
    """Make nbgrader 0.9.6 autograde with ``IntakeAutograde``: its ``AutogradeApp`` (``nbgrader
    autograde``, and ``grader.parallel``'s record step) and formgrader's API build their converter
    by the name ``Autograde``, with no option to choose another class."""
    import nbgrader.apps.api
    import nbgrader.apps.autogradeapp

    nbgrader.apps.autogradeapp.Autograde = IntakeAutograde
    nbgrader.apps.api.Autograde = IntakeAutograde
    _add_submissions_without_autoflush()


def _add_submissions_without_autoflush() -> None:
    """nbgrader 0.9.6's ``Gradebook.add_submission`` builds a submission's rows through
    relationships and adds them to the session only at the end; with SQLAlchemy 2 (no cascade
    along backrefs), reading ``submission.assignment.notebooks`` on the way autoflushes and warns
    three SAWarnings per new submission ("not in session, add operation ... will not proceed").
    Harmless (the rows are added just after), but every autograde printed them; SQLAlchemy's own
    advice is ``no_autoflush`` around such construction, which is all this does."""
    if getattr(Gradebook.add_submission, "_without_autoflush", False):
        return
    original = Gradebook.add_submission

    @functools.wraps(original)
    def add_submission(self, *args, **kwargs):
        with self.db.no_autoflush:
            return original(self, *args, **kwargs)

    add_submission._without_autoflush = True
    Gradebook.add_submission = add_submission


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

STANDARD_COLUMNS = (
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
)
PART_COLUMNS = tuple(f"{part}_{what}" for part in PARTS for what in ("score", "max"))


def part_scores(submission) -> dict[str, float]:
    """{part: points} of one SubmittedAssignment, summed over its exercises' test cells
    (a grader's manual score, where given, counts instead of the autograder's)."""
    scores = dict.fromkeys(PARTS, 0.0)
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            exercise = _EXERCISE_BY_TEST_CELL.get(grade.name)
            if exercise is not None:
                scores[exercise.part] += grade.score
    return {part: round(score, 2) for part, score in scores.items()}


def export_rows(gradebook: Gradebook, assignments=(), students=()) -> list[dict[str, str]]:
    """One row per (assignment, student): nbgrader's CSV columns, then ``forward_score``,
    ``forward_max``, ``backward_score``, ``backward_max`` (empty for other assignments).

    The late penalty applies to ``score`` only, as in nbgrader; the part columns are raw points.
    """
    rows = []
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            row = {
                "assignment": assignment.name,
                "duedate": assignment.duedate,
                "student_id": student.id,
                "last_name": student.last_name,
                "first_name": student.first_name,
                "email": student.email,
                "max_score": assignment.max_score,
            }
            ours = assignment.name == ASSIGNMENT_ID
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                parts = dict.fromkeys(PARTS, 0.0)
            else:
                penalty = submission.late_submission_penalty or 0.0
                row.update(
                    timestamp=submission.timestamp,
                    raw_score=submission.score,
                    late_submission_penalty=penalty,
                    score=max(0.0, submission.score - penalty),
                )
                parts = part_scores(submission) if ours else {}
            for part in PARTS:
                row[f"{part}_score"] = parts.get(part, "") if ours else ""
                row[f"{part}_max"] = part_points(part) if ours else ""
            rows.append({key: "" if value is None else str(value) for key, value in row.items()})
    return rows


class PartsCsvExport(ExportPlugin):
    """``nbgrader export``: nbgrader's CSV columns plus per-part scores, properly CSV-quoted.

    An instructor who counts only the graded forward part reads ``forward_score`` (out of
    ``forward_max`` = 100); ``score`` is nbgrader's total over every autograder cell (140).
    """

    def export(self, gradebook: Gradebook) -> None:
        destination = self.to or "grades.csv"
        rows = export_rows(
            gradebook,
            assignments=[str(name) for name in self.assignment],
            students=[str(name) for name in self.student],
        )
        self.log.info("Exporting grades to %s", destination)
        with open(destination, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=STANDARD_COLUMNS + PART_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
