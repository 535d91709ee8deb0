"""Check before you submit: will the grader find each graded function, and can its cell run alone?

    check_submission()                          # the last cell of assignment.ipynb
    python submission_check.py assignment.ipynb  # the same from a terminal; exit 1 on a problem

The grader does not run your notebook from top to bottom. For each exercise it takes one cell,
found by the rules of ``graded_cells`` (the very module the grader uses), and runs it ALONE after
the setup cell (``import numpy as np``, ``from public_tests import *``), in a fresh namespace;
while it runs, the other exercises it may call (``zero_pad``, ``conv_single_step``,
``create_mask_from_window``, ``distribute_value``) are correct versions. So a helper, an import or
a variable that your function uses must be in the same cell as the function. This check does the
same on the notebook as last saved, without the grader's hidden tests (your public tests judge the
values): it runs each graded cell alone in a fresh namespace, looks at every global name the
function (and the helpers of its cell it calls) uses, and names what the grader would not have,
and where the notebook defines it.

The graded part must be complete; the optional part (the backward functions) may be left
untouched (it is then "not done yet"), but a backward function you wrote must run alone too.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dis
import io
import json
import os
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import public_tests
from graded_cells import STAND_IN_NAMES, cell_text, find_graded_cells

# What the grader runs before every graded cell (the notebook's locked setup cell).
SETUP = "import numpy as np\nfrom public_tests import *"
NOTEBOOK = "assignment.ipynb"
WIDTH = 80  # characters a line; nbgrader validate cuts lines of its reports at 87
READY = "Ready to submit: the grader finds every graded function and its cell runs alone."


@dataclass(frozen=True)
class Finding:
    """What the check says about one exercise.

    name     -- the exercise's function
    problems -- sentences naming what the grader would not accept ([] when all is well)
    not_done -- the function still raises NotImplementedError (its stub)
    """

    name: str
    problems: tuple[str, ...] = ()
    not_done: bool = False


# --- running one graded cell alone ------------------------------------------------------------


def run_alone(source: str, filename: str) -> tuple[dict, BaseException | None]:
    """(namespace, the exception the cell raised or None): the setup and ``source`` run in a
    fresh namespace, as the grader runs a graded cell; what they print is not shown."""
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        exec(compile(SETUP, "<setup>", "exec"), namespace)  # noqa: S102
        try:
            exec(compile(source, filename, "exec"), namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001 - every error of the cell is a finding
            return namespace, error
    return namespace, None


def _global_names(code: types.CodeType) -> set[str]:
    """The global names a code object (and every function, lambda or comprehension inside it)
    reads or calls."""
    names = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            names.add(instruction.argval)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


def missing_names(name: str, namespace: dict) -> list[str]:
    """The global names that ``namespace[name]``, or a function of its cell that it calls, uses
    and that neither the cell, the setup, the builtins nor the grader's other exercises define."""
    available = set(namespace) | set(dir(builtins)) | (set(STAND_IN_NAMES) - {name})
    missing: list[str] = []
    seen: set[str] = set()
    pending = [name]
    while pending:
        function = namespace.get(pending.pop())
        if not isinstance(function, types.FunctionType) or function.__globals__ is not namespace:
            continue
        for used in sorted(_global_names(function.__code__)):
            if used not in available and used not in missing:
                missing.append(used)
            elif used not in seen and used in namespace:
                seen.add(used)
                pending.append(used)
    return missing


def still_a_stub(source: str, name: str) -> bool:
    """Whether the cell's ``def <name>(`` raises NotImplementedError in its own body (the stub)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for statement in node.body:
                if isinstance(statement, ast.Raise) and statement.exc is not None:
                    raised = statement.exc
                    raised = raised.func if isinstance(raised, ast.Call) else raised
                    if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                        return True
    return False


def _bindings(source: str) -> dict[str, str]:
    """{name: "def" or "import" or "value"} of what a cell binds at its top level."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound[node.name] = "def"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound[(alias.asname or alias.name).split(".")[0]] = "import"
        else:
            for child in ast.walk(node):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                    bound.setdefault(child.id, "value")
    return bound


def _where(used: str, name: str, elsewhere: list[tuple[str, int, str]] | None) -> str:
    """The sentence for a name ``name`` uses that its cell lacks. ``elsewhere``: (exercise whose
    graded cell it is or "", cell index, kind) of every other cell binding it; None when the
    notebook's other cells are unknown (the public tests see only the function's own cell)."""
    if elsewhere is None:
        return (
            f"{name} uses `{used}`, which its cell does not define: define it in the {name} "
            "cell (a helper, an import or a variable of another cell is not run by the grader)"
        )
    if not elsewhere:
        return (
            f"{name} uses `{used}`, which no cell of the notebook defines (a typo?): the grader "
            "would stop with a NameError"
        )
    exercise, index, kind = elsewhere[-1]
    verb = {"def": "calls", "import": "uses the module", "value": "uses"}[kind]
    if exercise:
        return (
            f"{name} {verb} `{used}`, defined in the {exercise} cell: the grader runs each graded "
            f"cell alone, so define `{used}` in the {name} cell too"
        )
    if kind == "import":
        return (
            f"{name} {verb} `{used}`, imported in cell {index + 1}, which the grader does not "
            f"run: import it in the {name} cell"
        )
    if kind == "def":
        return (
            f"{name} {verb} `{used}`, defined in cell {index + 1}, a cell the grader does not "
            f"run: move it into the {name} cell"
        )
    return (
        f"{name} {verb} `{used}`, set in cell {index + 1}, a cell the grader does not run: set "
        f"it in the {name} cell, or pass it as an argument"
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    return f"{type(error).__name__}: {error}"


def check_cell(name: str, source: str, elsewhere=None) -> Finding:
    """What the grader would meet running exercise ``name``'s graded cell ``source`` alone.

    elsewhere -- {global name: [(exercise or "", cell index, kind), ...]}: the other cells of the
                 notebook binding each name (to say where a missing name lives); None when
                 they are unknown
    """
    namespace, error = run_alone(source, f"<{name} cell>")
    if error is not None:
        problem = f"the {name} cell fails when run alone, as the grader runs it: {_describe(error)}"
        if isinstance(error, NameError) and elsewhere and error.name in elsewhere:
            problem += f" ({_where(error.name, name, elsewhere[error.name])})"
        return Finding(name, (problem,))
    if not callable(namespace.get(name)):
        return Finding(name, (f"the {name} cell does not define {name} when run alone",))
    if still_a_stub(source, name):
        return Finding(name, not_done=True)
    problems = tuple(
        _where(used, name, None if elsewhere is None else elsewhere.get(used, []))
        for used in missing_names(name, namespace)
    )
    return Finding(name, problems)


# --- the whole notebook -----------------------------------------------------------------------


def notebook_path(notebook=None) -> Path:
    """The notebook to check: ``notebook`` if given; else the one Jupyter says this kernel runs
    (JPY_SESSION_NAME), else assignment.ipynb in the current folder."""
    if notebook is not None:
        return Path(notebook)
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and Path(session).is_file():
        return Path(session)
    return Path(NOTEBOOK)


def check_notebook(path) -> tuple[list[Finding], tuple[str, ...]]:
    """([Finding per exercise, in the notebook's order], notes) for the notebook at ``path``."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = notebook.get("cells", []) if isinstance(notebook, dict) else []
    exercises = public_tests.EXERCISE_PARAMETERS
    graded = find_graded_cells(cells, exercises)
    graded_index = {cell.cell_index: name for name, cell in graded.found.items()}
    bound: dict[str, list[tuple[str, int, str]]] = {}
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            for used, kind in _bindings(cell_text(cell)).items():
                bound.setdefault(used, []).append((graded_index.get(index, ""), index, kind))
    findings = []
    for name in exercises:
        if name in graded.missing:
            findings.append(Finding(name, (graded.missing[name],)))
            continue
        found = graded.found[name]
        others = {
            used: [where for where in places if where[1] != found.cell_index]
            for used, places in bound.items()
        }
        findings.append(check_cell(name, found.source, others))
    return findings, graded.notes


def bullet(text: str) -> str:
    """``text`` as an indented item, wrapped to fit `nbgrader validate`, which cuts longer lines."""
    return textwrap.fill(text, WIDTH, initial_indent="  - ", subsequent_indent="    ")


def report(findings: list[Finding], notes=()) -> tuple[str, bool]:
    """(the text for the student, whether the notebook is ready to submit)."""
    optional = public_tests.OPTIONAL_EXERCISES
    lines, ready = [], True
    for part, title in ((False, "Graded part"), (True, "Optional part (scored separately)")):
        in_part = [finding for finding in findings if (finding.name in optional) == part]
        not_done = [finding.name for finding in in_part if finding.not_done]
        lines.append(f"{title}:")
        for finding in in_part:
            for problem in finding.problems:
                lines.append(bullet(problem))
                ready = False
        if not_done and part:
            lines.append(bullet(f"{public_tests.NOT_DONE_YET}: {', '.join(not_done)}"))
        elif not_done:
            stubs = ", ".join(not_done)
            lines.append(bullet(f"not done yet (raises NotImplementedError): {stubs}"))
            ready = False
        if not any(finding.problems or finding.not_done for finding in in_part):
            lines.append("  every function is found and its cell runs alone")
    lines += [f"Note: {note}" for note in notes]
    lines.append(READY if ready else "Not ready: fix the problems above, save, and run this again.")
    return "\n".join(lines), ready


def check_submission(notebook=None) -> None:
    """Check the saved notebook as the grader will read it; print the report, and raise
    AssertionError with it when something would cost points."""
    path = notebook_path(notebook)
    if not path.is_file():
        raise AssertionError(
            f"{path} not found: save the notebook and pass its file name, "
            'check_submission("my_notebook.ipynb")'
        )
    findings, notes = check_notebook(path)
    text, ready = report(findings, notes)
    _tell_nbgrader_validate(f"Pre-submission check of {path.name}:\n{text}\n")
    text = f"Checked {path.name} as last saved (save it first).\n{text}"
    if not ready:
        # Shown short in a notebook (the report alone, no frame of this file), as the public
        # tests' failures are; an ordinary AssertionError elsewhere.
        raise public_tests._failure(text)
    print(text)


def _tell_nbgrader_validate(text: str) -> None:
    """Also write ``text`` where `nbgrader validate` prints, when it runs this notebook.

    validate shows only the errors of failed test cells, so a passing notebook would not say that
    its optional part is not done. Under validate (NBGRADER_VALIDATING=1), ipykernel's stdout
    gives as fileno() the kernel's original standard output: the terminal validate prints to,
    not the notebook. Elsewhere nothing is written twice.
    """
    if os.environ.get("NBGRADER_VALIDATING") != "1" or sys.stdout is sys.__stdout__:
        return
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), text.encode("utf-8", "replace"))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_submission(argv[0] if argv else None)
    except AssertionError as failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
