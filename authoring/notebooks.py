"""Generate the student and solution notebooks from the master source with nbgrader; check them.

    python -m authoring.notebooks           # (make notebooks) write assignment.ipynb and
                                            # solutions/assignment.ipynb from the master source
    python -m authoring.notebooks --check   # regenerate into a temporary folder; exit 1 with a
                                            # diff summary when a committed notebook differs

The master source is course/source/cnn_step_by_step/assignment.ipynb, the one notebook authors
edit. Generation runs nbgrader's own converters (the code behind `nbgrader generate_assignment`
and `nbgrader generate_solution`) on a private copy of it, in a throwaway course folder and
without a gradebook, so it never touches course/ and gives the same bytes on every machine.
Both generated notebooks are committed without outputs: students and instructors get them from
the repository, and `--check` (run by the tests) proves they are what the generator produces.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from authoring import points
from grader.exercises import ASSIGNMENT_ID, EXERCISES, NOTEBOOK_NAME, SETUP_CELL_ID, SETUP_SOURCE

REPO_ROOT = Path(__file__).resolve().parent.parent
MASTER_SOURCE = REPO_ROOT / "course" / "source" / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.ipynb"
STUDENT_NOTEBOOK = REPO_ROOT / f"{NOTEBOOK_NAME}.ipynb"
SOLUTION_NOTEBOOK = REPO_ROOT / "solutions" / f"{NOTEBOOK_NAME}.ipynb"

# The committed notebooks, by their path relative to the repository root.
GENERATED = {
    f"{NOTEBOOK_NAME}.ipynb": STUDENT_NOTEBOOK,
    f"solutions/{NOTEBOOK_NAME}.ipynb": SOLUTION_NOTEBOOK,
}

GRADED_HEADER = "# GRADED FUNCTION: {name}"
STUB = "raise NotImplementedError()"  # nbgrader's ClearSolutions code stub for Python
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# What Jupyter rewrites on a plain open-and-save, which says nothing about content: the kernel's
# version string and widget state of the notebook, and execution timings of a cell.
VOLATILE_NOTEBOOK_METADATA = ("language_info", "widgets")
VOLATILE_CELL_METADATA = ("execution",)


def _nbgrader_config(course_root: Path):
    """The traitlets Config of a throwaway nbgrader course rooted at ``course_root``."""
    from nbgrader.preprocessors import ClearMarkScheme, ClearOutput, IncludeHeaderFooter, LockCells
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.course_id = ASSIGNMENT_ID
    config.CourseDirectory.assignment_id = ASSIGNMENT_ID
    config.BaseConverter.force = True
    # `nbgrader generate_assignment --no-db`: the gradebook only matters to a running course
    # (course/gradebook.db); creating one here would cost seconds and change nothing in the output.
    config.GenerateAssignment.no_database = True
    config.SaveCells.enabled = False
    # nbgrader's generate_solution pipeline minus its final Execute: the committed solution has
    # no outputs (byte-for-byte reproducible, no plots in diffs); the tests execute it instead.
    config.GenerateSolution.preprocessors = [
        IncludeHeaderFooter,
        LockCells,
        ClearOutput,
        ClearMarkScheme,
    ]
    return config


def _solution_converter():
    """nbgrader's GenerateSolution, minus its check that the assignment is in the gradebook.

    Generation runs without a gradebook (see _nbgrader_config); the converter's pipeline, its
    reading and its writing are nbgrader's own.
    """
    from nbgrader.converters import BaseConverter, GenerateSolution

    class GenerateSolutionWithoutGradebook(GenerateSolution):
        def init_assignment(self, assignment_id: str, student_id: str) -> None:
            BaseConverter.init_assignment(self, assignment_id, student_id)

    return GenerateSolutionWithoutGradebook


def generate(master_source: Path, out_dir: Path) -> dict[str, Path]:
    """Run nbgrader's GenerateAssignment and GenerateSolution on a copy of ``master_source``.

    master_source -- the authored notebook; its cell contract is checked first
    out_dir       -- folder that receives ``assignment.ipynb`` and ``solutions/assignment.ipynb``
    Returns {path relative to out_dir: written path}, the same keys as GENERATED.
    Raises ValueError listing every contract problem of the master source.
    """
    problems = contract_problems(nbformat.read(str(master_source), as_version=4), role="source")
    if problems:
        raise ValueError("the master source breaks the cell contract:\n  " + "\n  ".join(problems))

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    written = {}
    with tempfile.TemporaryDirectory(prefix="nbgrader-course-") as tmp:
        course_root = Path(tmp)
        source_dir = course_root / "source" / ASSIGNMENT_ID
        source_dir.mkdir(parents=True)
        # Only the notebook: nbgrader copies every file of the source folder into its output.
        shutil.copyfile(master_source, source_dir / f"{NOTEBOOK_NAME}.ipynb")
        config = _nbgrader_config(course_root)
        coursedir = CourseDirectory(config=config)
        GenerateAssignment(coursedir=coursedir, config=config).start()
        _solution_converter()(coursedir=coursedir, config=config).start()
        produced = {
            f"{NOTEBOOK_NAME}.ipynb": course_root / "release" / ASSIGNMENT_ID,
            f"solutions/{NOTEBOOK_NAME}.ipynb": course_root / "solution" / ASSIGNMENT_ID,
        }
        for relative, folder in produced.items():
            target = out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / f"{NOTEBOOK_NAME}.ipynb", target)
            written[relative] = target
    return written


def this_python_kernel():
    """A Jupyter KernelManager for ipykernel running on this very Python (sys.executable).

    It ignores every registered kernelspec, so a ``python3`` kernel the user registered for
    another Python can never run the notebooks in the tests or the benchmark.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # No kernel directories: jupyter_client falls back to ipykernel's own spec for "python3",
    # whose command line is sys.executable -m ipykernel_launcher.
    return KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])
    )


# --- the files next to the master source --------------------------------------------------------

# What the master source's folder holds besides the notebook, copied from the repository: what
# `nbgrader generate_assignment` releases with the notebook, and what makes course/ (or a copy of
# it anywhere, or the installed package's template: grader/course.py) a course that stands alone.
# The students' modules of the bundle (authoring.release: the public tests, their data, the
# pre-submission check and the extraction rules it shares with grader/extract.py).
COURSE_SOURCE_COPIES = (
    "public_tests.py",
    "public_tests_data.npz",
    "submission_check.py",
    "graded_cells.py",
)


def course_source_copies(images_dir: Path = REPO_ROOT / "images") -> dict[Path, Path]:
    """{file next to the master source: the repository file it is a copy of}: the students'
    modules (COURSE_SOURCE_COPIES) and every figure (images/<name>)."""
    folder = MASTER_SOURCE.parent
    copies = {folder / name: REPO_ROOT / name for name in COURSE_SOURCE_COPIES}
    for image in sorted(images_dir.iterdir()):
        if image.is_file():
            copies[folder / "images" / image.name] = image
    return copies


def course_source_problems() -> list[str]:
    """How the files next to the master source differ from the copies they should be: a link
    (course/ must stand alone), a missing or different file, a stray file in images/."""
    expected = course_source_copies()
    problems = []
    for copy, original in expected.items():
        name = copy.relative_to(REPO_ROOT)
        if copy.is_symlink() or not copy.is_file():
            problems.append(f"{name} must be a copy of {original.relative_to(REPO_ROOT)}")
        elif copy.read_bytes() != original.read_bytes():
            problems.append(f"{name} differs from {original.relative_to(REPO_ROOT)}")
    images = MASTER_SOURCE.parent / "images"
    if images.is_dir() and not images.is_symlink():
        for item in images.iterdir():
            if item not in expected:
                problems.append(f"{item.relative_to(REPO_ROOT)} is not a figure of images/")
    return problems


def copy_course_sources() -> None:
    """Make the files next to the master source exactly the copies of course_source_copies()."""
    expected = course_source_copies()
    images = MASTER_SOURCE.parent / "images"
    if images.is_symlink() or images.is_file():
        images.unlink()
    images.mkdir(exist_ok=True)
    for item in images.iterdir():
        if item not in expected:
            item.unlink()
    for copy, original in expected.items():
        if copy.is_symlink():
            copy.unlink()
        if not copy.is_file() or copy.read_bytes() != original.read_bytes():
            shutil.copyfile(original, copy)


# --- the cell contract ------------------------------------------------------------------------


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def code_cells(notebook) -> list:
    """The code cells of a notebook, in order."""
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def cell_with_grade_id(notebook, grade_id: str):
    """The cell whose nbgrader grade_id is ``grade_id``: KeyError if none, ValueError if several."""
    found = [cell for cell in notebook["cells"] if _nbgrader(cell).get("grade_id") == grade_id]
    if not found:
        raise KeyError(f"no cell has grade_id {grade_id!r}")
    if len(found) > 1:
        raise ValueError(f"{len(found)} cells have grade_id {grade_id!r}")
    return found[0]


def top_level_defs(source: str) -> list[str]:
    """Names of the functions a cell defines at top level (its lines starting ``def``)."""
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]


def contract_problems(notebook, *, role: str) -> list[str]:
    """Every way ``notebook`` breaks the cell contract the grader relies on ([] when it holds).

    role -- "source" (the master source: solutions between BEGIN/END SOLUTION markers),
            "student" (stubs raising NotImplementedError; no outputs or execution counts) or
            "solution" (the generated solution notebook)
    The contract: the first code cell is the locked setup cell (grade_id "setup", source exactly
    SETUP_SOURCE); then, in the order of grader.exercises.EXERCISES, each exercise has one
    solution cell (grade_id = name) that starts with "# GRADED FUNCTION: <name>" and whose top
    level is exactly one ``def <name>(`` with a docstring, and the next code cell is its locked
    test cell (grade_id "<name>_test", the exercise's points, source "<name>_test(<name>)").
    No other cell is graded or holds a solution.
    """
    if role not in ("source", "student", "solution"):
        raise ValueError(f"role must be source, student or solution, got {role!r}")
    problems: list[str] = []
    cells = code_cells(notebook)
    if not cells:
        return ["the notebook has no code cell"]

    setup = cells[0]
    meta = _nbgrader(setup)
    if meta.get("grade_id") != SETUP_CELL_ID or not meta.get("locked") or meta.get("solution"):
        problems.append(f"the first code cell is not the locked {SETUP_CELL_ID!r} cell: {meta}")
    if _source(setup) != SETUP_SOURCE:
        problems.append(f"the setup cell's source is {_source(setup)!r}, not {SETUP_SOURCE!r}")

    expected_ids = {SETUP_CELL_ID}
    positions = []
    for exercise in EXERCISES:
        expected_ids |= {exercise.solution_cell_id, exercise.test_cell_id}
        try:
            solution = cell_with_grade_id(notebook, exercise.solution_cell_id)
        except (KeyError, ValueError) as error:
            problems.append(str(error))
            continue
        positions.append(next(i for i, cell in enumerate(cells) if cell is solution))
        problems += _solution_cell_problems(solution, exercise.name, role)
        index = positions[-1]
        test = cells[index + 1] if index + 1 < len(cells) else None
        problems += _test_cell_problems(test, exercise)
    if positions != sorted(positions):
        problems.append("the exercises are not in the order of grader.exercises.EXERCISES")

    for cell in notebook["cells"]:
        meta = _nbgrader(cell)
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if grade_id not in expected_ids and (meta.get("grade") or meta.get("solution")):
            problems.append(f"unexpected graded or solution cell {grade_id!r}")
    if role == "student":
        for index, cell in enumerate(cells):
            if cell.get("outputs") or cell.get("execution_count") is not None:
                problems.append(f"code cell {index} has outputs or an execution count")
    return problems


def _solution_cell_problems(cell, name: str, role: str) -> list[str]:
    meta = _nbgrader(cell)
    problems = []
    if cell["cell_type"] != "code" or not meta.get("solution") or meta.get("grade"):
        problems.append(f"cell {name!r} is not an ungraded code solution cell: {meta}")
        return problems
    source = _source(cell)
    header = GRADED_HEADER.format(name=name)
    if source.split("\n", 1)[0] != header:
        problems.append(f"cell {name!r} does not start with {header!r}")
    try:
        module = ast.parse(source)
    except SyntaxError as error:
        return problems + [f"cell {name!r} is not valid Python: {error}"]
    shape = [type(node).__name__ + ":" + getattr(node, "name", "") for node in module.body]
    if shape != [f"FunctionDef:{name}"]:
        problems.append(f"cell {name!r} must hold exactly one top-level def {name}(, has {shape}")
    elif ast.get_docstring(module.body[0]) is None:
        problems.append(f"def {name}( has no docstring")
    has_markers = all(marker in source for marker in SOLUTION_MARKERS)
    if role == "source" and not has_markers:
        problems.append(f"cell {name!r} has no ### BEGIN SOLUTION / ### END SOLUTION region")
    if role == "student" and (has_markers or STUB not in source):
        problems.append(f"cell {name!r} is not a stub raising NotImplementedError")
    return problems


def _test_cell_problems(cell, exercise) -> list[str]:
    if cell is None:
        return [f"no code cell follows the solution cell {exercise.name!r}"]
    meta = _nbgrader(cell)
    expected = {"grade": True, "solution": False, "locked": True, "grade_id": exercise.test_cell_id}
    problems = []
    if any(meta.get(key) != value for key, value in expected.items()):
        problems.append(
            f"the code cell after {exercise.name!r} is not its locked test cell "
            f"{exercise.test_cell_id!r}: {meta}"
        )
    elif float(meta.get("points", -1)) != float(exercise.points):
        problems.append(
            f"{exercise.test_cell_id!r} is worth {meta.get('points')} points, "
            f"grader.exercises says {exercise.points}"
        )
    call = f"{exercise.name}_test({exercise.name})"
    if _source(cell) != call:
        problems.append(f"{exercise.test_cell_id!r} source is {_source(cell)!r}, not {call!r}")
    return problems


# --- comparing committed notebooks with fresh ones ---------------------------------------------


def normalised(notebook: dict) -> dict:
    """A copy of a notebook's JSON without the volatile metadata the comparison ignores."""
    notebook = json.loads(json.dumps(notebook))
    for key in VOLATILE_NOTEBOOK_METADATA:
        notebook.get("metadata", {}).pop(key, None)
    for cell in notebook.get("cells", []):
        for key in VOLATILE_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
    return notebook


def differences(committed: Path, fresh: Path, *, max_lines: int = 12) -> list[str]:
    """Human-readable summary of how ``committed`` differs from ``fresh`` ([] when equal).

    Both are notebook files; volatile metadata is ignored. Each item names a cell (index, id and
    first line) and what differs: source (with a short unified diff), metadata, outputs.
    """
    if not committed.exists():
        return [f"{committed} is missing"]
    try:
        old = normalised(json.loads(committed.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        return [f"{committed} is not valid JSON: {error}"]
    new = normalised(json.loads(fresh.read_text(encoding="utf-8")))
    if old == new:
        return []
    found = []
    for key in sorted((set(old) | set(new)) - {"cells"}):
        if old.get(key) != new.get(key):
            found.append(f"notebook field {key!r} differs")
    old_cells, new_cells = old.get("cells", []), new.get("cells", [])
    if len(old_cells) != len(new_cells):
        found.append(f"{len(old_cells)} cells, the generator gives {len(new_cells)}")
    for index, (before, after) in enumerate(zip(old_cells, new_cells, strict=False)):
        if before == after:
            continue
        label = f"cell {index} (id {after.get('id')!r}, {_source(after).split(chr(10))[0]!r})"
        fields = sorted(
            key for key in set(before) | set(after) if before.get(key) != after.get(key)
        )
        found.append(f"{label}: {', '.join(fields)} differ")
        if "source" in fields:
            diff = list(
                difflib.unified_diff(
                    _source(after).splitlines(),
                    _source(before).splitlines(),
                    "generated",
                    "committed",
                    lineterm="",
                    n=1,
                )
            )
            found += ["    " + line for line in diff[:max_lines]]
            if len(diff) > max_lines:
                found.append(f"    ... {len(diff) - max_lines} more diff lines")
    return found


def check(
    committed: dict[str, Path] | None = None, master_source: Path = MASTER_SOURCE
) -> list[str]:
    """Regenerate into a temporary folder; return every difference from the committed notebooks.

    committed -- {path relative to the output folder: committed file}; default GENERATED
    Returns [] when every committed notebook equals the freshly generated one.
    """
    committed = GENERATED if committed is None else committed
    with tempfile.TemporaryDirectory(prefix="notebooks-check-") as tmp:
        fresh = generate(master_source, Path(tmp))
        report = []
        for relative, path in committed.items():
            found = differences(path, fresh[relative])
            if found:
                report.append(f"{relative} differs from what the generator produces:")
                report += ["  " + line for line in found]
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.notebooks", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary folder and fail when a committed notebook differs",
    )
    args = parser.parse_args(argv)
    # nbgrader's converters log every step at INFO; keep the output to what needs attention.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.check:
        # Every place that states points, against grader/exercises.py (see authoring.points).
        report = points.problems()
        try:
            report += check()
        except ValueError as error:  # the master source breaks the cell contract
            report.append(str(error))
        report += course_source_problems()
        if report:
            print("\n".join(report), file=sys.stderr)
            print(
                "\nThe generated notebooks are out of date or were edited by hand. Edit the master "
                f"source {MASTER_SOURCE.relative_to(REPO_ROOT)} (points: grader/exercises.py) "
                "and run `make notebooks`.",
                file=sys.stderr,
            )
            return 1
        print("generated notebooks are up to date: " + ", ".join(GENERATED))
        return 0
    # NB: before generating: the master source's points come from grader/exercises.py.
    for path in points.write():
        print(f"wrote points into {path.relative_to(REPO_ROOT)}")
    copy_course_sources()
    written = generate(MASTER_SOURCE, REPO_ROOT)
    for relative in written:
        print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
