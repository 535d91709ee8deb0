"""Tests of grader.grade: whole notebooks graded through the real sandbox and hidden checks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader import grade as grade_module
from grader.exercises import EXERCISE_NAMES, EXERCISES, part_points, total_points
from grader.extract import NOTE_BY_NAME, extract
from grader.grade import (
    DEVELOPMENT_SECRET,
    GraderConfigError,
    grade_many,
    grade_notebook,
    grading_secret,
    grading_seed,
)
from grader.sandbox import Limits, SubmissionRun
from grader.verdict import Grade
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.mistakes import MISTAKES
from tests.factories import submission, write

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CANONICAL_SOURCES = {name: variant.source for name, variant in CANONICAL.items()}
POINTS = {exercise.name: float(exercise.points) for exercise in EXERCISES}


def _by_name(grade: Grade) -> dict:
    return {verdict.name: verdict for verdict in grade.exercises}


def _forward(grade: Grade) -> float:
    forward = {exercise.name for exercise in EXERCISES if exercise.part == "forward"}
    return sum(verdict.score for verdict in grade.exercises if verdict.name in forward)


def _solution_cell_index(notebook, name: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == name:
            return index
    raise AssertionError(f"no cell {name}")


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    """The canonical and the all-stubs submissions, written once for the module."""
    folder = tmp_path_factory.mktemp("notebooks")
    paths = {"canonical": folder / "canonical.ipynb", "stubs": folder / "stubs.ipynb"}
    write(submission(CANONICAL_SOURCES), paths["canonical"])
    write(submission({}), paths["stubs"])
    return paths


@pytest.fixture(scope="module")
def canonical_grade(notebooks) -> Grade:
    return grade_notebook(notebooks["canonical"])


@pytest.fixture(scope="module")
def stubs_grade(notebooks) -> Grade:
    return grade_notebook(notebooks["stubs"])


def test_canonical_solution_gets_full_marks(canonical_grade):
    """Does the canonical solution get full marks (in each part), every exercise graded in
    order?"""
    assert canonical_grade.error is None
    assert canonical_grade.total == canonical_grade.max == total_points()
    assert _forward(canonical_grade) == part_points("forward")
    assert [verdict.name for verdict in canonical_grade.exercises] == list(EXERCISE_NAMES)
    for verdict in canonical_grade.exercises:
        assert verdict.status == "graded", verdict
        assert verdict.score == verdict.max == POINTS[verdict.name]
        assert verdict.checks and all(check.passed for check in verdict.checks)
    assert canonical_grade.notes == ()


def test_printing_and_warning_correct_code_gets_full_marks(tmp_path):
    """Does correct code that prints to stdout and stderr and warns, in the cell and inside
    every call, still get full marks? (Vanilla nbgrader gave 0 to a correct answer that printed to
    stderr.)"""
    noisy = {}
    for name, source in CANONICAL_SOURCES.items():
        chatter = (
            "import sys, warnings\n"
            f"print('defining {name}')\n"
            f"sys.stderr.write('stderr while defining {name}\\n')\n"
        )
        body = source.replace(f"def {name}(", f"def _{name}_quiet(", 1) + (
            f"\ndef {name}(*args, **kwargs):\n"
            f"    print('calling {name}', [getattr(a, 'shape', a) for a in args])\n"
            f"    sys.stderr.write('debug: {name} on stderr\\n')\n"
            f"    warnings.warn('{name} is noisy')\n"
            f"    return _{name}_quiet(*args, **kwargs)\n"
        )
        noisy[name] = chatter + body
    path = tmp_path / "noisy.ipynb"
    write(submission(noisy), path)
    grade = grade_notebook(path)
    assert grade.error is None
    assert grade.total == grade.max == total_points(), [
        (verdict.name, verdict.score, verdict.message) for verdict in grade.exercises
    ]


def test_stubs_are_not_implemented_everywhere(stubs_grade):
    """Does a notebook whose functions all raise NotImplementedError score 0, every exercise
    "not implemented"?"""
    assert stubs_grade.total == 0
    assert stubs_grade.error is None
    for verdict in stubs_grade.exercises:
        assert verdict.status == "not implemented"
        assert verdict.score == 0
        assert "NotImplementedError" in verdict.message


def test_other_edition_is_graded_by_function_name():
    """Is the older edition graded by name: its correct functions full marks, conv_single_step
    not found (convolve_window has another contract), and the note in the feedback?"""
    grade = grade_notebook(EXAMPLES / "other_edition.ipynb")
    verdicts = _by_name(grade)
    assert verdicts["conv_single_step"].status == "not found"
    assert verdicts["conv_single_step"].score == 0
    assert "convolve_window" in verdicts["conv_single_step"].message
    for name in set(EXERCISE_NAMES) - {"conv_single_step"}:
        assert verdicts[name].score == POINTS[name], verdicts[name]
    assert grade.total == total_points() - POINTS["conv_single_step"]
    assert any(note.startswith(NOTE_BY_NAME) for note in grade.notes)


def test_damaged_notebook_gets_honest_scores(tmp_path):
    """Deleted, duplicated, tagged, metadata-damaged and renamed cells in one notebook: is each
    exercise scored for what is really there, and the others untouched?"""
    notebook = submission(CANONICAL_SOURCES)
    # pool_forward: its cell deleted -> not found
    del notebook.cells[_solution_cell_index(notebook, "pool_forward")]
    # zero_pad: renamed -> not found (conv_forward and conv_backward call zero_pad; the
    # harness's stand-in keeps them independent of it)
    index = _solution_cell_index(notebook, "zero_pad")
    notebook.cells[index].source = notebook.cells[index].source.replace(
        "def zero_pad(", "def zero_padding("
    )
    # distribute_value: duplicated, the later copy wrong -> the later copy is graded
    index = _solution_cell_index(notebook, "distribute_value")
    later = nbformat.from_dict(json.loads(json.dumps(notebook.cells[index])))
    later.source = later.source.replace("average = dz /", "average = dz *")
    later.id = "later-copy"
    notebook.cells.insert(index + 2, later)
    # conv_forward: nbgrader metadata damaged -> found by name, full marks
    notebook.cells[_solution_cell_index(notebook, "conv_forward")].metadata["nbgrader"] = 7
    # every code cell tagged as nbgrader/Jupyter tags that must not matter
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    path = tmp_path / "damaged.ipynb"
    write(notebook, path)

    grade = grade_notebook(path)
    verdicts = _by_name(grade)
    assert verdicts["pool_forward"].status == "not found"
    assert "def pool_forward(" in verdicts["pool_forward"].message
    assert verdicts["zero_pad"].status == "not found"
    assert "zero_padding" in verdicts["zero_pad"].message
    assert verdicts["distribute_value"].status == "graded"
    assert 0 <= verdicts["distribute_value"].score < POINTS["distribute_value"]
    for name in ("conv_single_step", "conv_forward", "conv_backward"):
        assert verdicts[name].score == POINTS[name], verdicts[name]
    for name in ("create_mask_from_window", "pool_backward"):
        assert verdicts[name].score == POINTS[name], verdicts[name]
    assert any("conv_forward" in note and "distribute_value" in note for note in grade.notes)


def test_crashes_timeouts_and_syntax_errors_are_errors_with_reasons(tmp_path):
    """Is a syntax error, an endless loop and a crash each its own exercise's "error", with a
    message saying which, while a raising function is graded (its checks failed) and the other
    exercises keep full marks?"""
    sources = {
        **CANONICAL_SOURCES,
        "zero_pad": "def zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (pad, pad)\n",
        "distribute_value": "def distribute_value(dz, shape):\n    while True:\n        pass\n",
        "create_mask_from_window": (
            "import os\n\ndef create_mask_from_window(x):\n    os._exit(3)\n"
        ),
        "conv_single_step": "def conv_single_step(a_slice_prev, W, b):\n    return 1 / 0\n",
    }
    path = tmp_path / "broken.ipynb"
    write(submission(sources), path)
    grade = grade_notebook(path, limits=Limits(exercise_seconds=3))
    verdicts = _by_name(grade)

    assert verdicts["zero_pad"].status == "error"
    assert "SyntaxError" in verdicts["zero_pad"].message
    assert verdicts["distribute_value"].status == "error"
    assert "timeout" in verdicts["distribute_value"].message
    assert "3 s" in verdicts["distribute_value"].message
    assert verdicts["create_mask_from_window"].status == "error"
    assert "crashed" in verdicts["create_mask_from_window"].message
    assert verdicts["conv_single_step"].status == "graded"
    assert verdicts["conv_single_step"].score == 0
    assert any(
        "ZeroDivisionError" in (check.hint or "") for check in verdicts["conv_single_step"].checks
    )
    for name in ("conv_forward", "pool_forward", "conv_backward", "pool_backward"):
        assert verdicts[name].score == POINTS[name], verdicts[name]


def test_parser_crashing_cell_costs_only_its_exercise(tmp_path):
    """Does a cell that crashes Python's parser (absurd nesting) cost its own exercise only?"""
    sources = dict(CANONICAL_SOURCES)
    sources["zero_pad"] += "\nx = " + "-" * 1_000_000 + "1\n"
    path = tmp_path / "hostile.ipynb"
    write(submission(sources), path)
    verdicts = _by_name(grade_notebook(path))
    assert verdicts["zero_pad"].score == 0
    assert verdicts["zero_pad"].status == "error"
    assert verdicts["zero_pad"].message.startswith("the cell could not be compiled: MemoryError")
    for name in set(EXERCISE_NAMES) - {"zero_pad"}:
        assert verdicts[name].score == POINTS[name], verdicts[name]


def test_regrading_is_deterministic(notebooks, canonical_grade):
    """Does grading the same notebook again give exactly the same grade?"""
    assert grade_notebook(notebooks["canonical"]) == canonical_grade


def test_unreadable_file_gives_zero_with_an_error(tmp_path):
    """Does a non-notebook file give a Grade (not an exception): 0, error set, all eight named?"""
    path = tmp_path / "junk.ipynb"
    path.write_bytes(b"\x00\xff\x10 not a notebook")
    grade = grade_notebook(path)
    assert grade.total == 0
    assert grade.max == total_points()
    assert grade.error
    assert [verdict.name for verdict in grade.exercises] == list(EXERCISE_NAMES)
    json.loads(grade.to_json())


def test_notebook_without_any_exercise_is_not_found_everywhere(tmp_path):
    """Does a notebook of something else entirely give 0 with every exercise "not found"?"""
    path = tmp_path / "other.ipynb"
    write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]), path)
    grade = grade_notebook(path)
    assert grade.total == 0 and grade.error is None
    assert {verdict.status for verdict in grade.exercises} == {"not found"}


def test_grade_many_matches_sequential_and_isolates_failures(
    tmp_path, notebooks, canonical_grade, stubs_grade
):
    """Do parallel grades equal sequential ones, in the input order, with a broken file in the
    batch affecting nobody else?"""
    empty = tmp_path / "empty.ipynb"
    empty.write_bytes(b"")
    paths = [notebooks["canonical"], empty, notebooks["stubs"], notebooks["canonical"]]
    grades = grade_many(paths, jobs=2, progress=False)
    assert grades[0] == grades[3] == canonical_grade
    assert grades[2] == stubs_grade
    assert grades[1].error and grades[1].total == 0


def test_grade_many_turns_an_internal_error_into_that_notebook_error(monkeypatch, tmp_path):
    """Does a grader crash on one notebook become that notebook's error, the others graded?"""

    def flaky(path, *, sandbox=True, **_):
        if Path(path).name == "bad.ipynb":
            raise ValueError("boom")
        return grade_module.unreadable_grade(f"fine {Path(path).name}")

    monkeypatch.setattr(grade_module, "grade_notebook", flaky)
    grades = grade_many(
        [tmp_path / "a.ipynb", tmp_path / "bad.ipynb", tmp_path / "c.ipynb"], progress=False
    )
    assert grades[0].error == "fine a.ipynb"
    assert grades[1].error.startswith("internal grader error: ValueError: boom")
    assert grades[2].error == "fine c.ipynb"


def test_trusted_setup_failure_is_never_charged_to_the_student(monkeypatch, notebooks):
    """Does a failing trusted setup raise (a grader fault) instead of grading 0?"""

    def broken_run(setup, cells, calls, **kwargs):
        return SubmissionRun(outcomes={}, exercise_errors={}, setup_error="ImportError: x")

    monkeypatch.setattr(grade_module, "run_submission", broken_run)
    with pytest.raises(RuntimeError, match="trusted setup"):
        grade_notebook(notebooks["canonical"])


def test_seed_depends_on_secret_and_code_only(monkeypatch, notebooks):
    """Is the seed the same for the same code and secret, different when either changes?"""
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    monkeypatch.delenv("GRADER_SECRET_FILE", raising=False)
    canonical, stubs = extract(notebooks["canonical"]), extract(notebooks["stubs"])
    assert grading_secret() == (DEVELOPMENT_SECRET, "development default")
    seed = grading_seed(canonical)
    assert seed == grading_seed(extract(notebooks["canonical"]))
    assert 0 <= seed < 2**63
    assert grading_seed(stubs) != seed
    monkeypatch.setenv("GRADER_SECRET", "course secret")
    assert grading_secret() == (b"course secret", "GRADER_SECRET")
    assert grading_seed(canonical) != seed


def test_secret_file(monkeypatch, tmp_path):
    """Is the secret read from GRADER_SECRET_FILE, and an unreadable or empty file refused?"""
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    secret_file = tmp_path / "secret"
    secret_file.write_text("from a file\n")
    monkeypatch.setenv("GRADER_SECRET_FILE", str(secret_file))
    assert grading_secret() == (b"from a file", "GRADER_SECRET_FILE")
    secret_file.write_text("")
    with pytest.raises(GraderConfigError, match="empty"):
        grading_secret()
    monkeypatch.setenv("GRADER_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(GraderConfigError, match="cannot be read"):
        grading_secret()


def test_a_mistake_costs_points_on_its_exercise_only(tmp_path):
    """Does one realistic mistake (see tests/test_grade_catalogue.py for all) lose points on its
    exercise and nowhere else?"""
    mistake = next(variant for variant in MISTAKES if variant.exercise == "zero_pad")
    path = tmp_path / "mistake.ipynb"
    write(submission({**CANONICAL_SOURCES, "zero_pad": mistake.source}), path)
    verdicts = _by_name(grade_notebook(path))
    assert verdicts["zero_pad"].score < POINTS["zero_pad"]
    assert any(not check.passed and check.hint for check in verdicts["zero_pad"].checks)
    for name in set(EXERCISE_NAMES) - {"zero_pad"}:
        assert verdicts[name].score == POINTS[name], verdicts[name]


@pytest.mark.skipif(
    not (ROOT / "solutions" / "assignment.ipynb").exists(), reason="no generated notebooks"
)
def test_official_notebooks():
    """Does the generated solution notebook get full marks and the student notebook 0 with every
    exercise "not implemented"?"""
    solution, student = grade_many(
        [ROOT / "solutions" / "assignment.ipynb", ROOT / "assignment.ipynb"],
        jobs=2,
        progress=False,
    )
    assert solution.total == total_points(), [
        (v.name, v.score, v.message) for v in solution.exercises
    ]
    assert solution.notes == ()
    assert student.total == 0
    assert {verdict.status for verdict in student.exercises} == {"not implemented"}


@pytest.mark.slow
def test_an_oversized_cell_fails_only_its_own_exercise(tmp_path):
    """Does a graded cell whose long comment escapes to more than a job's header (900,000
    four-byte characters: 3.6 MB of UTF-8, 10.8 MB as escaped JSON) fail only its exercise,
    with a reason, while every other exercise keeps full marks? (One job for the whole
    notebook made it an internal grader error, 0 of 140.)"""
    sources = {name: CANONICAL[name].source for name in EXERCISE_NAMES}
    sources["zero_pad"] += "\n# " + "\U0001f600" * 900_000 + "\n"
    path = tmp_path / "long.ipynb"
    write(submission(sources), path)
    grade = grade_notebook(path)
    assert grade.error is None
    verdicts = _by_name(grade)
    assert verdicts["zero_pad"].score == 0 and "too large" in verdicts["zero_pad"].message
    assert all(verdicts[name].score == verdicts[name].max for name in EXERCISE_NAMES[1:])
