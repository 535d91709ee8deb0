"""Tests of authoring/notebooks.py and of the notebooks it generates (real kernel, real nbgrader).

The solution and student notebooks are each executed once for this module (module fixtures) in
an ipykernel running on this very Python, from the folder they live in, as a student or an
instructor would open them.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from authoring import notebooks
from authoring.notebooks import (
    MASTER_SOURCE,
    REPO_ROOT,
    SETUP_SOURCE,
    SOLUTION_NOTEBOOK,
    STUDENT_NOTEBOOK,
    cell_with_grade_id,
    code_cells,
    contract_problems,
    differences,
    this_python_kernel,
    top_level_defs,
)
from authoring.release import referenced_images
from grader.exercises import ASSIGNMENT_ID, EXERCISES, exercise_named
from tests.catalogue.canonical import CANONICAL

NOTEBOOKS = {"source": MASTER_SOURCE, "student": STUDENT_NOTEBOOK, "solution": SOLUTION_NOTEBOOK}
KERNEL_PROBE = "import sys\nprint(sys.prefix)"
GRADIENT_CHECK_CELLS = ("gradient-check-conv", "gradient-check-pool")


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def execute(path: Path, *, allow_errors: bool):
    """Run a notebook top to bottom in a python3 kernel of this Python, from its own folder.

    A last cell printing the kernel's sys.prefix is appended (in memory only) so the tests can
    check which Python ran the notebook.
    """
    notebook = read(path)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE, id="kernel-probe"))
    client = NotebookClient(
        notebook,
        km=this_python_kernel(),
        timeout=120,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def stream_text(cell) -> str:
    return "".join(
        output.get("text", "") for output in cell.outputs if output.output_type == "stream"
    )


def errors(cell) -> list:
    return [output for output in cell.outputs if output.output_type == "error"]


@pytest.fixture(scope="module")
def solution_run():
    return execute(SOLUTION_NOTEBOOK, allow_errors=False)


@pytest.fixture(scope="module")
def student_run():
    return execute(STUDENT_NOTEBOOK, allow_errors=True)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The generator's output for the committed master source, in a temporary folder."""
    return notebooks.generate(MASTER_SOURCE, tmp_path_factory.mktemp("generated"))


# --- generation ---------------------------------------------------------------------------------


def test_committed_notebooks_are_what_the_generator_produces(fresh):
    """Are assignment.ipynb and solutions/assignment.ipynb byte-for-byte the generator's output?"""
    for relative, committed in notebooks.GENERATED.items():
        assert committed.read_bytes() == fresh[relative].read_bytes(), (
            f"{relative} is stale or was edited by hand: run `make notebooks`\n"
            + "\n".join(differences(committed, fresh[relative]))
        )


def test_differences_name_a_hand_edited_cell(fresh, tmp_path):
    """Does the comparison report a hand edit of a generated notebook, naming the cell?"""
    edited = read(STUDENT_NOTEBOOK)
    cell = cell_with_grade_id(edited, "conv_forward")
    cell.source = cell.source.replace("raise NotImplementedError()", "return None, None")
    path = tmp_path / "assignment.ipynb"
    nbformat.write(edited, str(path))
    found = differences(path, fresh["assignment.ipynb"])
    assert found, "a hand-edited stub went unnoticed"
    assert any("'conv_forward'" in line and "source" in line for line in found), found
    assert any("return None, None" in line for line in found), found


def test_differences_ignore_only_volatile_metadata(fresh, tmp_path):
    """Does re-saving in Jupyter (kernel version, cell timings) pass, and a metadata edit fail?"""
    saved = json.loads(SOLUTION_NOTEBOOK.read_text())
    saved["metadata"]["language_info"]["version"] = "3.11.99"
    saved["cells"][0]["metadata"]["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00"}
    path = tmp_path / "resaved.ipynb"
    path.write_text(json.dumps(saved))
    assert differences(path, fresh["solutions/assignment.ipynb"]) == []

    saved["cells"][0]["metadata"]["tags"] = ["hand-made"]
    path.write_text(json.dumps(saved))
    assert differences(path, fresh["solutions/assignment.ipynb"]) != []


def test_check_command_fails_on_a_hand_edit(tmp_path, monkeypatch, capsys):
    """Does `python -m authoring.notebooks --check` exit non-zero, with a summary, after a hand
    edit of a committed notebook, and zero on the untouched ones?"""
    copies = {}
    for relative, committed in notebooks.GENERATED.items():
        copies[relative] = tmp_path / relative
        copies[relative].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(committed, copies[relative])
    monkeypatch.setattr(notebooks, "GENERATED", copies)
    assert notebooks.main(["--check"]) == 0

    student = json.loads(copies["assignment.ipynb"].read_text())
    student["cells"][0]["source"] = ["# Convolutional Neural Networks, edited by hand\n"]
    copies["assignment.ipynb"].write_text(json.dumps(student, indent=1))
    assert notebooks.main(["--check"]) == 1
    report = capsys.readouterr().err
    assert "assignment.ipynb differs" in report and "cell 0" in report, report


def test_nbgrader_command_line_releases_the_committed_student_notebook(tmp_path):
    """Does the real `nbgrader generate_assignment`, run in (a copy of) course/ with its
    nbgrader_config.py, release exactly the committed student notebook, with the public tests
    and every figure next to it?"""
    for name in ("public_tests.py", "public_tests_data.npz"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "images", tmp_path / "images")
    course = tmp_path / "course"
    course.mkdir()
    shutil.copyfile(REPO_ROOT / "course" / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(REPO_ROOT / "course" / "source", course / "source", symlinks=True)
    # --no-db: the gradebook changes nothing in the released notebook, and creating one costs
    # seconds (nbgrader shells out to alembic).
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "generate_assignment",
            ASSIGNMENT_ID,
            "--force",
            "--no-db",
        ],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    released = course / "release" / ASSIGNMENT_ID
    assert differences(STUDENT_NOTEBOOK, released / STUDENT_NOTEBOOK.name) == []
    shipped = {p.relative_to(released).as_posix() for p in released.rglob("*") if p.is_file()}
    figures = {f"images/{p.name}" for p in (REPO_ROOT / "images").iterdir()}
    support = {"public_tests.py", "public_tests_data.npz", "graded_cells.py", "submission_check.py"}
    assert shipped == {"assignment.ipynb"} | support | figures


def test_master_source_folder_holds_copies_of_the_public_tests_and_every_figure(monkeypatch):
    """Are the public tests, their data and every figure next to the master source real copies
    (no link: course/ stands alone) equal to the repository's, and is a missing, stale or linked
    copy reported?"""
    assert notebooks.course_source_problems() == []
    copies = notebooks.course_source_copies()
    assert {copy.relative_to(MASTER_SOURCE.parent).as_posix() for copy in copies} >= {
        "public_tests.py",
        "public_tests_data.npz",
        "images/pooling.png",
    }
    assert not any(path.is_symlink() for path in MASTER_SOURCE.parent.rglob("*"))
    first = next(iter(copies))
    changed = {
        **copies,
        first.with_name("new_figure.png"): copies[first],  # missing
        first: MASTER_SOURCE,  # stale
    }
    monkeypatch.setattr(notebooks, "course_source_copies", lambda: changed)
    report = "\n".join(notebooks.course_source_problems())
    assert "new_figure.png must be a copy" in report and f"{first.name} differs" in report


def test_generate_refuses_a_master_source_that_breaks_the_contract(tmp_path):
    """Does generation stop, naming the problem, when the master source loses a test cell?"""
    broken = read(MASTER_SOURCE)
    broken.cells = [cell for cell in broken.cells if cell.get("id") != "pool_forward_test"]
    path = tmp_path / "assignment.ipynb"
    nbformat.write(broken, str(path))
    with pytest.raises(ValueError, match="pool_forward"):
        notebooks.generate(path, tmp_path / "out")


# --- the cell contract --------------------------------------------------------------------------


@pytest.mark.parametrize("role", NOTEBOOKS)
def test_notebooks_keep_the_cell_contract(role):
    """Do the master source and both generated notebooks keep the cell contract of the grader?"""
    assert contract_problems(read(NOTEBOOKS[role]), role=role) == []


def _replace_source(name: str, old: str, new: str):
    def mutate(notebook):
        cell = cell_with_grade_id(notebook, name)
        assert old in cell.source
        cell.source = cell.source.replace(old, new)

    return mutate


def _set_points(notebook):
    points = exercise_named("conv_forward").points + 1
    cell_with_grade_id(notebook, "conv_forward_test").metadata.nbgrader.points = points


def _swap_exercises(notebook):
    cells = notebook.cells
    first = cells.index(cell_with_grade_id(notebook, "zero_pad"))
    second = cells.index(cell_with_grade_id(notebook, "conv_single_step"))
    cells[first : first + 2], cells[second : second + 2] = (
        cells[second : second + 2],
        cells[first : first + 2],
    )


def _test_cell_moves_away(notebook):
    cells = notebook.cells
    test = cell_with_grade_id(notebook, "zero_pad_test")
    cells.remove(test)
    cells.append(test)


MUTATIONS = {
    "setup cell with another import": (
        _replace_source("setup", "import numpy as np", "import numpy"),
        "setup cell's source",
    ),
    "helper outside the def": (
        _replace_source(
            "pool_backward", "def pool_backward(", "def helper():\n    pass\n\n\ndef pool_backward("
        ),
        "exactly one top-level def pool_backward",
    ),
    "renamed function": (
        _replace_source("distribute_value", "def distribute_value(", "def distribute_values("),
        "exactly one top-level def distribute_value",
    ),
    "no graded header": (
        _replace_source("zero_pad", "# GRADED FUNCTION: zero_pad\n", ""),
        "does not start with '# GRADED FUNCTION: zero_pad'",
    ),
    "points differ from grader.exercises": (
        _set_points,
        f"grader.exercises says {exercise_named('conv_forward').points}",
    ),
    "test cell calls something else": (
        _replace_source("zero_pad_test", "zero_pad_test(zero_pad)", "zero_pad_test(print)"),
        "source is 'zero_pad_test(print)'",
    ),
    "exercises out of order": (_swap_exercises, "not in the order"),
    "test cell not right after its solution": (
        _test_cell_moves_away,
        "is not its locked test cell 'zero_pad_test'",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_contract_problems_catch_a_broken_contract(mutation):
    """Does contract_problems name each way a notebook can break the grader's contract?"""
    mutate, expected = MUTATIONS[mutation]
    notebook = read(MASTER_SOURCE)
    mutate(notebook)
    problems = contract_problems(notebook, role="source")
    assert any(expected in problem for problem in problems), problems


def test_student_stubs_are_caught_when_solutions_leak():
    """Does the student contract reject a notebook whose graded cell still holds the solution?"""
    leaked = read(STUDENT_NOTEBOOK)
    cell_with_grade_id(leaked, "zero_pad").source = cell_with_grade_id(
        read(MASTER_SOURCE), "zero_pad"
    ).source
    problems = contract_problems(leaked, role="student")
    assert any("not a stub" in problem for problem in problems), problems


@pytest.mark.parametrize("role", NOTEBOOKS)
def test_first_code_cell_imports_numpy_as_np(role):
    """Is the first code cell exactly the setup cell that imports numpy as np?"""
    first = code_cells(read(NOTEBOOKS[role]))[0]
    assert first.source == SETUP_SOURCE
    assert "import numpy as np" in first.source.splitlines()


@pytest.mark.parametrize("role", NOTEBOOKS)
def test_each_graded_cell_defines_exactly_its_function(role):
    """Does every graded cell define exactly one top-level def, named after its exercise?"""
    notebook = read(NOTEBOOKS[role])
    for exercise in EXERCISES:
        source = cell_with_grade_id(notebook, exercise.name).source
        assert top_level_defs(source) == [exercise.name]
        assert source.startswith(f"# GRADED FUNCTION: {exercise.name}\n")


def test_each_exercise_has_a_numbered_header_before_its_cell():
    """Is each graded cell introduced by a header "Exercise <k> — `<name>`", in order?"""
    notebook = read(MASTER_SOURCE)
    for number, exercise in enumerate(EXERCISES, start=1):
        header = f"### Exercise {number} — `{exercise.name}`"
        cells = notebook.cells
        solution_index = cells.index(cell_with_grade_id(notebook, exercise.name))
        before = [cell.source for cell in cells[:solution_index] if cell.cell_type == "markdown"]
        assert header in before[-1], f"{header!r} should introduce {exercise.name}"


def _without_docstring(function: ast.FunctionDef) -> str:
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=[*body], type_ignores=[]))


@pytest.mark.parametrize("name", [exercise.name for exercise in EXERCISES])
def test_master_solutions_are_the_canonical_solutions(name):
    """Is each solution of the master source the catalogue's canonical code (docstring and
    comments aside), so that the grader's tests and the notebook agree on what is correct?"""
    notebook_def = ast.parse(cell_with_grade_id(read(MASTER_SOURCE), name).source).body[0]
    canonical_def = ast.parse(CANONICAL[name].source).body[0]
    assert ast.dump(notebook_def.args) == ast.dump(canonical_def.args)
    assert _without_docstring(notebook_def) == _without_docstring(canonical_def)


def test_docstrings_document_shapes_formula_and_cache():
    """Does every graded docstring give shapes, and do the forward/backward ones give the
    output-size formula and what the cache holds?"""
    notebook = read(MASTER_SOURCE)
    for exercise in EXERCISES:
        function = ast.parse(cell_with_grade_id(notebook, exercise.name).source).body[0]
        docstring = ast.get_docstring(function)
        for parameter in exercise.parameters:
            assert f"{parameter} --" in docstring, (exercise.name, parameter)
        assert "shape" in docstring
        if exercise.name in ("conv_forward", "pool_forward", "conv_backward", "pool_backward"):
            assert "floor(" in docstring, exercise.name
            assert "cache" in docstring, exercise.name
        if exercise.name in ("conv_backward", "pool_backward"):
            forward = exercise.name.replace("backward", "forward")
            assert f"cache as returned by {forward}" in docstring


@pytest.mark.parametrize("role", ["student", "solution"])
def test_generated_notebooks_have_no_outputs_or_execution_counts(role):
    """Are the committed notebooks free of outputs and execution counts?"""
    for index, cell in enumerate(code_cells(read(NOTEBOOKS[role]))):
        assert cell.outputs == [], f"code cell {index} has outputs"
        assert cell.execution_count is None, f"code cell {index} has an execution count"


def test_master_source_has_no_outputs():
    """Is the master source stored without outputs (clear them before committing an edit)?"""
    for index, cell in enumerate(code_cells(read(MASTER_SOURCE))):
        assert cell.outputs == [] and cell.execution_count is None, f"code cell {index}"


@pytest.mark.parametrize("role", NOTEBOOKS)
def test_every_referenced_image_exists(role):
    """Does every image the markdown shows exist, next to the notebook, with alt text?"""
    path = NOTEBOOKS[role]
    notebook = json.loads(path.read_text())
    images = referenced_images(notebook)
    assert len(images) >= 6
    for image in images:
        assert (path.parent / image).is_file(), f"{image} is missing next to {path}"
    markdown = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    assert "![](" not in markdown, "every figure needs alt text"


def test_figures_show_the_alt_text_of_authoring_figures():
    """Does the master source show every figure of authoring.figures, with its alt text (one
    source of truth for what a screen reader says)?"""
    from authoring.figures import ALT_TEXT

    notebook = read(MASTER_SOURCE)
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for name, alt in ALT_TEXT.items():
        assert f"![{alt}](images/{name})" in markdown, f"images/{name}: update its alt text"


def test_notebooks_pass_ruff():
    """Does the code of the three notebooks pass `ruff check` and `ruff format --check`?"""
    paths = [str(path) for path in NOTEBOOKS.values()]
    ruff = str(Path(sys.executable).parent / "ruff")
    for command in (["check"], ["format", "--check"]):
        completed = subprocess.run(
            [ruff, *command, "--no-cache", *paths],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


# --- running the notebooks ----------------------------------------------------------------------


def test_notebooks_run_in_the_virtualenv_kernel(solution_run):
    """Is the kernel that ran the notebooks this virtualenv's Python?"""
    probe = solution_run.cells[-1]
    assert stream_text(probe).strip() == sys.prefix


def test_solution_notebook_runs_and_passes_every_public_test(solution_run):
    """Does the solution notebook run top to bottom without an error, every public test
    printing its success line and both gradient checks agreeing?"""
    for exercise in EXERCISES:
        text = stream_text(cell_with_grade_id(solution_run, exercise.test_cell_id))
        assert f"{exercise.name}: all " in text and "checks passed." in text, text
    conv = stream_text(next(c for c in solution_run.cells if c.get("id") == "gradient-check-conv"))
    pool = stream_text(next(c for c in solution_run.cells if c.get("id") == "gradient-check-pool"))
    assert "conv_backward: gradients match" in conv
    assert "pool_backward (max): gradients match" in pool
    assert "pool_backward (average): gradients match" in pool
    for cell in code_cells(solution_run):
        assert not errors(cell), (cell.get("id"), errors(cell))
    check = cell_with_grade_id(solution_run, "submission_check")
    assert "Ready to submit" in stream_text(check), stream_text(check)


def test_see_your_layers_shows_the_feature_maps(solution_run):
    """Does the optional photo section draw the photo and the feature maps with working layers?"""
    for cell_id in ("see-photo", "see-feature-maps"):
        cell = next(c for c in solution_run.cells if c.get("id") == cell_id)
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), cell_id


def test_student_notebook_fails_only_where_code_is_missing(student_run):
    """Do the only errors of the untouched student notebook come from the graded part's stubs:
    each forward public test failing because its function is not implemented, and the
    pre-submission check saying so? Does the untouched optional part say "not done yet" in its
    tests and gradient checks (which name Part 1's function, untouched too) instead of failing,
    so that Run All gets to the check?"""
    forward_tests = {e.test_cell_id for e in EXERCISES if e.part == "forward"}
    failing = set()
    for cell in code_cells(student_run):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for error in errors(cell):
            assert error.ename == "AssertionError", (grade_id, error.ename)
            if grade_id in forward_tests:
                assert "not implemented yet" in error.evalue, (grade_id, error.evalue)
            else:
                assert grade_id == "submission_check", (cell.get("id"), error.evalue)
                assert "Not ready" in error.evalue, error.evalue
            failing.add(grade_id)
        if grade_id in {e.test_cell_id for e in EXERCISES} - forward_tests:
            assert "optional part not done yet" in stream_text(cell), grade_id
        if cell.get("id") in GRADIENT_CHECK_CELLS:
            # Part 1 is untouched too: the check names the forward function, not Part 2.
            assert "gradient check skipped" in stream_text(cell)
            assert "(Part 1) is not done yet" in stream_text(cell)
    assert failing == forward_tests | {"submission_check"}


def test_see_your_layers_is_friendly_before_the_exercises_are_done(student_run):
    """Without conv_forward, does the photo section print a short message instead of an error?"""
    cell = next(c for c in student_run.cells if c.get("id") == "see-feature-maps")
    assert not errors(cell)
    assert "conv_forward is not implemented yet" in stream_text(cell)


# --- the optional sections: colours, PyTorch, parameter count (issue 10) --------------------------

FRAMEWORK_CELLS = ("frameworks-forward", "frameworks-backward")
TORCH_SKIPPED = "PyTorch is not installed: the comparison with PyTorch is skipped."
TORCH_COMPARISONS = (
    "conv_forward",
    "pool_forward (max)",
    "pool_forward (average)",
    "conv_backward: dA_prev",
    "conv_backward: dW",
    "conv_backward: db",
    "pool_backward (max)",
    "pool_backward (average)",
)


def cell_with_id(notebook, cell_id: str):
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def test_feature_map_colours_are_the_ones_the_legend_names():
    """Is a positive response drawn in the colour the legend calls positive? The demo's drawing
    code runs on an image that is bright on the left and dark on the right, whose vertical-edge
    response is positive along the edge; the pixel drawn there is sampled from the canvas."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from grader.reference import conv_forward, pool_forward

    master = read(MASTER_SOURCE)
    legend = cell_with_id(master, "see-questions").source
    words = legend.split("(", 1)[1].split(")", 1)[0]  # "red is positive, blue negative"
    positive_colour = words.split(" is positive")[0].split()[-1]
    assert positive_colour in {"red", "blue"}, words

    image = np.zeros((1, 12, 12, 1))
    image[:, :, :6, :] = 1.0
    namespace = {"np": np, "plt": plt, "photo_batch": image}
    namespace |= {"conv_forward": conv_forward, "pool_forward": pool_forward}
    shown = []
    plt.close("all")
    plt.show = lambda: shown.append(plt.gcf())  # the module is matplotlib's: undone below
    try:
        exec(cell_with_id(master, "see-feature-maps").source, namespace)
    finally:
        del plt.show
    figure = shown[0]
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    response = namespace["feature_maps"][0, :, :, 0]
    row, column = np.unravel_index(np.argmax(response), response.shape)
    assert response[row, column] > 0
    axis = figure.axes[0]
    x, y = axis.transData.transform((column, row))
    red, _, blue, _ = pixels[pixels.shape[0] - int(round(y)), int(round(x))].astype(int)
    drawn = "red" if red > blue + 50 else "blue" if blue > red + 50 else "neither"
    plt.close(figure)
    assert drawn == positive_colour, (words, (red, blue))


def test_create_mask_docstring_allows_the_public_windows():
    """Does create_mask_from_window's docstring accept the shapes of its public windows (2 x 3,
    3 x 2), instead of promising an f x f square?"""
    import public_tests

    shapes = {case.args[0].shape for case in public_tests.public_cases("create_mask_from_window")}
    assert any(h != w for h, w in shapes), shapes
    source = cell_with_grade_id(read(MASTER_SOURCE), "create_mask_from_window").source
    assert "numpy array of shape (f, f)" not in source
    assert "(n_H, n_W)" in source and "the shape of x" in source


def test_framework_section_agrees_with_pytorch(solution_run):
    """With torch installed (requirements-dev.txt pins it: no skip), do the solution's layers
    agree with PyTorch's conv2d, max_pool2d, avg_pool2d and autograd to 1e-6 (the cells raise
    otherwise), every comparison printed?"""
    text = "".join(stream_text(cell_with_id(solution_run, cell)) for cell in FRAMEWORK_CELLS)
    for name in TORCH_COMPARISONS:
        assert f"{name}: agrees with PyTorch" in text, text
    assert "skipped" not in text


def test_framework_section_is_friendly_before_the_exercises_are_done(student_run):
    """In the untouched student notebook, does the PyTorch section say what is not done yet
    instead of failing?"""
    forward, backward = (cell_with_id(student_run, cell) for cell in FRAMEWORK_CELLS)
    assert not errors(forward) and not errors(backward)
    assert "Part 1 is not done yet" in stream_text(forward)
    assert "optional part not done yet" in stream_text(backward)


def test_framework_section_skips_in_one_line_without_torch(tmp_path):
    """With torch hidden (sys.modules["torch"] = None, as when it is not installed), does each
    cell of the PyTorch section print the skip line and nothing else, without an error?"""
    solution = read(SOLUTION_NOTEBOOK)
    cells = [nbformat.v4.new_code_cell('import sys\nsys.modules["torch"] = None')]
    cells += [cell_with_grade_id(solution, "setup")]
    cells += [cell_with_grade_id(solution, exercise.solution_cell_id) for exercise in EXERCISES]
    cells += [cell_with_id(solution, cell) for cell in FRAMEWORK_CELLS]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in cells])
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    path = tmp_path / "no_torch.ipynb"
    shutil.copy(REPO_ROOT / "public_tests.py", tmp_path)
    shutil.copy(REPO_ROOT / "public_tests_data.npz", tmp_path)
    nbformat.write(notebook, str(path))
    ran = execute(path, allow_errors=False)
    for cell_id in FRAMEWORK_CELLS:
        cell = next(c for c in ran.cells if c.source == cell_with_id(solution, cell_id).source)
        assert stream_text(cell) == TORCH_SKIPPED + "\n", stream_text(cell)


def test_parameter_count_cell_waits_for_an_answer(solution_run, student_run):
    """Does the ungraded parameter-count cell print that it is not answered yet (no error) in
    both notebooks, where it still holds None?"""
    for run in (solution_run, student_run):
        cell = cell_with_id(run, "parameter-count-check")
        assert not errors(cell)
        assert "parameter count: not answered yet" in stream_text(cell)
