"""Does the students' pre-submission check (submission_check.py) apply the grader's rules: the
graded cells the grader picks (graded_cells, shared with grader/extract.py), each run alone, and
every name a function uses that its cell lacks named, with where the notebook defines it? And does
`nbgrader validate` fail a notebook the grader would fail, pass one whose graded part is complete
with the optional part untouched, and say so?

Submissions are the generated student notebook (nbgrader checksums and all) with the solution
notebook's code pasted into its graded cells, then changed the way students change them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

import graded_cells
import public_tests
import submission_check
from grader.exercises import EXERCISES, SETUP_SOURCE
from grader.extract import extract
from grader.stand_ins import STAND_IN_NAMES

ROOT = Path(__file__).resolve().parent.parent
SUPPORT_FILES = (
    "public_tests.py",
    "public_tests_data.npz",
    "graded_cells.py",
    "submission_check.py",
)
FORWARD = [exercise.name for exercise in EXERCISES if exercise.part == "forward"]


# --- submissions ------------------------------------------------------------------------------


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(notebook, grade_id: str):
    return next(cell for cell in notebook.cells if _grade_id(cell) == grade_id)


def submission(done=tuple(exercise.name for exercise in EXERCISES)):
    """The student notebook with the solution's code in the graded cells of ``done``."""
    notebook = nbformat.read(ROOT / "assignment.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / "assignment.ipynb", as_version=4)
    for name in done:
        _cell(notebook, name).source = _cell(solution, name).source
    return notebook


def scratch_before(notebook, grade_id: str, source: str) -> int:
    """Insert a cell of the student's own before the cell ``grade_id``; its index."""
    index = notebook.cells.index(_cell(notebook, grade_id))
    notebook.cells.insert(index, new_code_cell(source))
    return index


def helper_outside():
    """Acceptance: conv_forward calls a helper defined in a cell the grader does not run."""
    notebook = submission()
    cell = _cell(notebook, "conv_forward")
    assert "conv_single_step(" in cell.source
    cell.source = cell.source.replace("conv_single_step(", "my_helper(")
    scratch_before(
        notebook,
        "conv_forward",
        "def my_helper(a_slice_prev, W, b):\n    return conv_single_step(a_slice_prev, W, b)",
    )
    return notebook


def write(notebook, folder: Path) -> Path:
    """The notebook as assignment.ipynb in ``folder``, beside the files students get."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SUPPORT_FILES:
        shutil.copyfile(ROOT / name, folder / name)
    path = folder / "assignment.ipynb"
    nbformat.write(notebook, str(path))
    return path


def findings(notebook, tmp_path) -> dict[str, submission_check.Finding]:
    found, _ = submission_check.check_notebook(write(notebook, tmp_path))
    return {finding.name: finding for finding in found}


def problems(notebook, tmp_path) -> list[str]:
    return [
        problem for finding in findings(notebook, tmp_path).values() for problem in finding.problems
    ]


# --- the check --------------------------------------------------------------------------------


def test_the_solution_is_ready(tmp_path, capsys):
    """Does the complete solution pass the check, saying it is ready?"""
    submission_check.check_submission(write(submission(), tmp_path))
    assert submission_check.READY in capsys.readouterr().out


def test_a_graded_part_only_notebook_is_ready_and_its_optional_part_not_done(tmp_path, capsys):
    """Acceptance: the forward part complete, the backward part untouched: ready, and the
    optional part reported as not done yet?"""
    submission_check.check_submission(write(submission(FORWARD), tmp_path))
    out = " ".join(capsys.readouterr().out.split())
    assert submission_check.READY in out
    assert f"{public_tests.NOT_DONE_YET}: conv_backward, create_mask_from_window" in out


def test_the_untouched_student_notebook_is_not_ready(tmp_path):
    """Does the released notebook fail the check, its graded part not done yet?"""
    with pytest.raises(AssertionError) as failure:
        submission_check.check_submission(write(submission(()), tmp_path))
    message = " ".join(str(failure.value).split())
    assert "not done yet (raises NotImplementedError): zero_pad, conv_single_step" in message


def test_a_helper_outside_the_graded_cells_is_named(tmp_path):
    """Acceptance: does conv_forward calling a helper of a scratch cell fail the check, naming the
    helper, its cell and the fix?"""
    with pytest.raises(AssertionError) as failure:
        submission_check.check_submission(write(helper_outside(), tmp_path))
    message = " ".join(str(failure.value).split())
    assert "conv_forward calls `my_helper`, defined in cell" in message
    assert "a cell the grader does not run: move it into the conv_forward cell" in message
    assert "Not ready" in message


def test_a_renamed_function_is_not_found(tmp_path):
    """Does a renamed conv_forward give the grader's "not found" with the new name?"""
    notebook = submission()
    cell = _cell(notebook, "conv_forward")
    cell.source = cell.source.replace("def conv_forward(", "def my_conv_forward(")
    found = findings(notebook, tmp_path)["conv_forward"]
    assert len(found.problems) == 1
    assert found.problems[0].startswith("conv_forward not found")
    assert "it defines my_conv_forward: was the function renamed?" in found.problems[0]


def test_a_graded_cell_that_raises_when_run_alone(tmp_path):
    """Does a graded cell that fails at import when run alone (it draws with plt, imported by
    the plotting cell) fail the check, with the error and where plt comes from?"""
    notebook = submission()
    cell = _cell(notebook, "pool_forward")
    cell.source += '\n\nplt.title("pooling")\n'
    (problem,) = findings(notebook, tmp_path)["pool_forward"].problems
    assert "the pool_forward cell fails when run alone" in problem
    assert "NameError: name 'plt' is not defined" in problem
    assert "uses the module `plt`, imported in cell" in problem
    assert "import it in the pool_forward cell" in problem


def test_a_helper_defined_in_another_graded_cell(tmp_path):
    """Is a helper of the zero_pad cell, used by pool_forward, named with the cell that has it?"""
    notebook = submission()
    _cell(notebook, "zero_pad").source += "\n\ndef window_max(window):\n    return np.max(window)\n"
    pool = _cell(notebook, "pool_forward")
    assert "np.max(" in pool.source
    pool.source = pool.source.replace("np.max(", "window_max(", 1)
    (problem,) = findings(notebook, tmp_path)["pool_forward"].problems
    assert problem == (
        "pool_forward calls `window_max`, defined in the zero_pad cell: the grader runs each "
        "graded cell alone, so define `window_max` in the pool_forward cell too"
    )


def test_a_global_variable_of_a_scratch_cell(tmp_path):
    """Is a module-level value set in a scratch cell and read by a graded function named?"""
    notebook = submission()
    index = scratch_before(notebook, "zero_pad", "PAD_VALUE = 0")
    cell = _cell(notebook, "zero_pad")
    assert "constant_values=0)" in cell.source
    cell.source = cell.source.replace("constant_values=0)", "constant_values=PAD_VALUE)")
    (problem,) = findings(notebook, tmp_path)["zero_pad"].problems
    assert problem == (
        f"zero_pad uses `PAD_VALUE`, set in cell {index + 1}, a cell the grader does not run: set "
        "it in the zero_pad cell, or pass it as an argument"
    )


def test_a_helper_of_the_same_cell_is_checked_too(tmp_path):
    """Is a name used only by a helper that the function calls, in its own cell, found?"""
    source = (
        "def zero_pad(X, pad):\n    return _pad(X, pad)\n\n\n"
        "def _pad(X, pad):\n    return np.pad(X, WIDTHS)\n"
    )
    finding = submission_check.check_cell("zero_pad", source, {})
    assert finding.problems == (
        "zero_pad uses `WIDTHS`, which no cell of the notebook defines (a typo?): the grader would "
        "stop with a NameError",
    )


def test_names_the_grader_provides_are_not_problems():
    """Are numpy, the public tests' names, builtins and the other exercises' stand-ins accepted,
    and a function's own exercise name not (the grader gives no stand-in of it)?"""
    source = (
        "def conv_backward(dZ, cache):\n"
        "    relative_error(dZ, dZ)\n"
        "    return zero_pad(np.asarray(dZ), 1), len(cache), conv_backward_helper\n"
    )
    (problem,) = submission_check.check_cell("conv_backward", source, {}).problems
    assert "`conv_backward_helper`" in problem
    own = "def zero_pad(X, pad):\n    return zero_pad(X, pad - 1) if pad else X\n"
    assert submission_check.check_cell("zero_pad", own, {}).problems == ()


def test_a_syntax_error_is_reported_with_its_line():
    """Does a graded cell that does not parse fail with its syntax error and line?"""
    finding = submission_check.check_cell("zero_pad", "def zero_pad(X, pad):\n    return X +\n")
    (problem,) = finding.problems
    assert "fails when run alone" in problem and "SyntaxError" in problem and "line 2" in problem


def test_the_check_picks_the_cells_the_grader_picks(tmp_path):
    """Do graded_cells (what students run) and grader.extract choose the same cell for every
    exercise, on notebooks where the choice is not obvious?"""
    duplicated = submission()
    copy = nbformat.from_dict(_cell(duplicated, "zero_pad"))
    copy.id = "zero-pad-copy"
    duplicated.cells.insert(duplicated.cells.index(_cell(duplicated, "pool_forward")), copy)
    stripped = submission()
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    for index, notebook in enumerate((helper_outside(), duplicated, stripped)):
        path = write(notebook, tmp_path / str(index))
        grader = extract(path)
        cells = nbformat.read(str(path), as_version=4)["cells"]
        shared = graded_cells.find_graded_cells(cells, public_tests.EXERCISE_PARAMETERS)
        assert {n: c.cell_index for n, c in shared.found.items()} == {
            n: c.cell_index for n, c in grader.found.items()
        }
        assert shared.notes == grader.notes


def test_the_check_states_the_grader_contract_the_grader_uses():
    """Do the check's setup, stand-in names, exercises and optional part equal the grader's?"""
    assert submission_check.SETUP == SETUP_SOURCE
    assert graded_cells.STAND_IN_NAMES == STAND_IN_NAMES
    assert {e.name: e.parameters for e in EXERCISES} == public_tests.EXERCISE_PARAMETERS
    assert {e.name for e in EXERCISES if e.part == "backward"} == public_tests.OPTIONAL_EXERCISES


def test_the_command_line_exits_1_on_a_problem(tmp_path):
    """Does `python submission_check.py NOTEBOOK` exit 0 when ready and 1 with the report?"""
    good = write(submission(), tmp_path / "good")
    bad = write(helper_outside(), tmp_path / "bad")
    for path, code in ((good, 0), (bad, 1)):
        done = subprocess.run(
            [sys.executable, "submission_check.py", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stdout + done.stderr
    assert "my_helper" in done.stderr


# --- the public tests in a notebook ---------------------------------------------------------


def test_an_optional_stub_prints_not_done_and_a_wrong_one_still_fails(capsys):
    """Does a backward test print "not done yet" for a stub raising NotImplementedError, and fail
    for any other error, or a NotImplementedError on some cases only?"""

    def stub(x):
        raise NotImplementedError()

    public_tests.create_mask_from_window_test(stub)
    assert public_tests.NOT_DONE_YET in capsys.readouterr().out

    def partly(dz, shape):
        if shape[0] > 1:
            raise NotImplementedError("only 1 x n for now")
        return np.full(shape, dz / (shape[0] * shape[1]))

    with pytest.raises(AssertionError, match="distribute_value failed"):
        public_tests.distribute_value_test(partly)
    with pytest.raises(AssertionError, match="not implemented yet"):
        public_tests.zero_pad_test(lambda X, pad: (_ for _ in ()).throw(NotImplementedError()))


# --- nbgrader validate, for real ---------------------------------------------------------------


def validate(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    # ipykernel leaves the kernel's output to pytest's capture when it sees this variable, and
    # the check's report for validate's terminal goes through that output.
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "validate", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.slow
def test_nbgrader_validate_on_the_three_acceptance_notebooks(tmp_path):
    """Acceptance: does `nbgrader validate` fail the helper-outside notebook naming the helper,
    pass the graded-part-only notebook saying its optional part is not done, and pass the
    solution?"""
    helper = validate(write(helper_outside(), tmp_path / "helper"))
    assert "VALIDATION FAILED ON 1 CELL(S)!" in helper.stdout, helper.stdout + helper.stderr
    assert "conv_forward works here but not in the grader" in helper.stdout
    assert "conv_forward uses `my_helper`, which its cell does not define" in helper.stdout
    assert "conv_forward calls `my_helper`, defined in cell" in helper.stdout
    assert "Not ready" in helper.stdout

    forward = validate(write(submission(FORWARD), tmp_path / "forward"))
    assert "Success! Your notebook passes all the tests." in forward.stdout, forward.stdout
    assert submission_check.READY in forward.stdout
    assert f"- {public_tests.NOT_DONE_YET}: conv_backward" in forward.stdout

    solution = validate(write(submission(), tmp_path / "solution"))
    assert "Success! Your notebook passes all the tests." in solution.stdout, solution.stdout
    assert submission_check.READY in solution.stdout
    assert public_tests.NOT_DONE_YET not in solution.stdout


def test_the_course_and_the_solutions_folder_hold_the_check():
    """Do the master source's folder (what `nbgrader generate_assignment` releases) and
    solutions/ hold the check modules, identical to the repository's?"""
    for folder in (ROOT / "course" / "source" / "cnn_step_by_step", ROOT / "solutions"):
        for name in ("graded_cells.py", "submission_check.py"):
            assert (folder / name).read_bytes() == (ROOT / name).read_bytes(), folder / name
