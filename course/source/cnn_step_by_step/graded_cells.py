"""Which cell holds each graded function: the extraction rules, shared by the grader and students.

The trusted grader (``grader/extract.py``) and the students' pre-submission check
(``submission_check.py``) both call ``find_graded_cells``, so a student sees exactly the cells the
grader will run. This module holds only rules (the standard library, no solution, no grader
secret): it ships in the student bundle. Reading the file, its size limits and the process that
parses a hostile notebook belong to the grader.

How a solution cell is found, per exercise:

1. nbgrader metadata: the one code cell whose ``metadata.nbgrader.grade_id`` is the exercise name
   and which defines ``def <exercise>(`` (a redefinition in a later scratch cell is ignored).
2. Otherwise (cell deleted, duplicated, metadata stripped or damaged, the function moved to
   another cell, or a notebook of the older edition that has no nbgrader metadata at all): by
   function name. The code cells are parsed with ``ast`` and the LAST top-level
   ``def <exercise>(`` wins, as it would in a notebook run from top to bottom; the whole cell that
   defines it is graded (so helpers written beside it come along). A note says so in the feedback.
   A duplicated cell (the same grade_id twice) is resolved the same way: the later copy wins.
3. Otherwise the solution cell itself, when there is exactly one and its code uses the name (it
   may define the function without a top-level ``def``; running it tells).
4. Otherwise the exercise is "not found", with a message naming the function that was expected
   (and the similarly named functions the notebook does define, for a renamed function).

Only the cells these rules can pick are parsed: a solution cell (its grade_id is an exercise's) or
a cell whose text names a graded function in a ``def``. Every other cell is never parsed; only its
``def name(`` lines at the start of a line are listed, to suggest a renamed function.

Each graded cell runs ALONE, after the setup cell (``import numpy as np``, ``from public_tests
import *``): a helper or a variable that a solution uses must be defined in the same cell, or the
call fails with a NameError. While one exercise runs, the other exercises it may call
(``STAND_IN_NAMES``) are the grader's own correct versions.

IPython magics (``%matplotlib``, ``%%time``), shell lines (``!pip install``) and help lines
(``np.pad?``) are not Python: they are neutralised (commented out) in the graded code.

Bounds: a cell the rules could pick holds at most ``MAX_CELL_CHARS`` characters (a larger one
fails its exercise only), and the parsed cells at most ``MAX_PARSED_CHARS`` in all (more raises
``NotebookTooLargeError``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_CELL_CHARS = 1024 * 1024
MAX_PARSED_CHARS = 2 * 1024 * 1024

# The exercises another exercise calls (conv_forward: zero_pad, conv_single_step; conv_backward:
# zero_pad; pool_backward: create_mask_from_window, distribute_value). While an exercise is
# graded, these names hold correct versions (grader/stand_ins.py, never shipped), except its own.
STAND_IN_NAMES = ("zero_pad", "conv_single_step", "create_mask_from_window", "distribute_value")

NOTE_BY_NAME = "graded by function name: the nbgrader cell metadata was missing or damaged"
NOTE_OLDER_EDITION = (
    "this notebook looks like the older edition of the assignment (it defines convolve_window, "
    "or has its '### START CODE HERE ###' markers); its functions were graded by name against "
    "the current contracts"
)
OLDER_EDITION_CONV_SINGLE_STEP = (
    "conv_single_step not found: this notebook defines convolve_window, from the older edition "
    "of the assignment, whose contract is different (its bias of shape (1, 1, n_C) is added to "
    "every element before the sum), so it cannot be graded as "
    "conv_single_step(a_slice_prev, W, b) = sum(a_slice_prev * W) + b"
)
OLDER_EDITION_MARKER = "### START CODE HERE ###"
OLDER_EDITION_NAME = "convolve_window"

# Cell magics whose body is still Python: only their first line is neutralised. Any other cell
# magic (%%bash, %%writefile, %%html...) makes the whole cell something other than Python.
PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})

_DEF_LINE = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", flags=re.MULTILINE)


@dataclass(frozen=True)
class GradedCell:
    """The code cell graded for one exercise.

    source     -- the whole cell, magics and shell lines neutralised
    cell_index -- position of the cell in the notebook (0-based, all cell types counted)
    by         -- "metadata" (nbgrader grade_id) or "name" (found by ``def <exercise>(``)
    """

    source: str
    cell_index: int
    by: str


@dataclass(frozen=True)
class GradedCells:
    """What ``find_graded_cells`` found.

    found   -- {exercise name: GradedCell}, in the order of the exercises given
    missing -- {exercise name: message} for the others ("not found: ...", or a cell too large)
    notes   -- remarks for the student (e.g. ``NOTE_BY_NAME``)
    """

    found: dict[str, GradedCell]
    missing: dict[str, str]
    notes: tuple[str, ...]


class NotebookTooLargeError(Exception):
    """The cells to parse hold more than ``MAX_PARSED_CHARS``: ``str(error)`` says so."""


@dataclass(frozen=True)
class _CodeCell:
    index: int
    source: str  # neutralised; "" for a cell that is never graded or too large to be
    grade_id: str | None
    defines: frozenset[str]  # top-level function names (best effort when the cell does not parse)
    has_markers: bool  # the older edition's "### START CODE HERE ###"
    too_large: int = 0  # the characters of a cell the rules could pick, when over MAX_CELL_CHARS


def find_graded_cells(cells: list, exercises: Mapping[str, Sequence[str]]) -> GradedCells:
    """The graded cell of each exercise among ``cells`` (an nbformat 4 notebook's cell list, as
    plain dicts), by the rules of the module docstring.

    exercises -- {function name: its parameter names}, in the notebook's order; each solution
                 cell's nbgrader grade_id is its function's name
    Raises NotebookTooLargeError when the cells to parse break ``MAX_PARSED_CHARS``.
    """
    return _find_exercises(_code_cells(cells, exercises), exercises)


def cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _def_patterns(names) -> dict[str, re.Pattern]:
    # No leading \b: the literal "def" lets the regex engine skip ahead at C speed (a \b first
    # makes it 40 times slower on a 57 MiB cell); a false match ("undef zero_pad") only gets a
    # cell parsed, and parsing decides.
    return {name: re.compile(rf"def[\s\\]+{name}\b") for name in names}


def _code_cells(cells: list, exercises: Mapping[str, Sequence[str]]) -> list[_CodeCell]:
    """Every code cell, parsed only if the rules of the module docstring could pick it."""
    # The functions whose `def` makes a cell worth parsing: the exercises, and the older
    # edition's convolve_window (it decides the older-edition note).
    def_of = _def_patterns((*exercises, OLDER_EDITION_NAME))
    solution_cell_ids = frozenset(exercises)
    code_cells = []
    parsed_chars = 0
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = cell_text(cell)
        grade_id = grade_id_of(cell)
        named = frozenset(name for name, pattern in def_of.items() if pattern.search(text))
        has_markers = OLDER_EDITION_MARKER in text
        if grade_id not in solution_cell_ids and not named:  # no rule can pick it
            small = len(text) <= MAX_CELL_CHARS
            defines = frozenset(_DEF_LINE.findall(text)) if small else frozenset()
            code_cells.append(_CodeCell(index, "", grade_id, defines, has_markers))
        elif len(text) > MAX_CELL_CHARS:  # it "defines" what its text names
            code_cells.append(_CodeCell(index, "", grade_id, named, has_markers, len(text)))
        else:
            parsed_chars += len(text)
            if parsed_chars > MAX_PARSED_CHARS:
                raise NotebookTooLargeError(
                    "the notebook holds too much code to read: its solution cells and the cells "
                    f"defining graded functions hold more than {MAX_PARSED_CHARS:,} characters "
                    "in all (a solution is a few thousand)"
                )
            # JSON can hold lone surrogates ("\ud800"), which no hash, pipe or file can encode.
            source = neutralise_magics(text.encode("utf-8", "replace").decode("utf-8"))
            defines = frozenset(defined_functions(source))
            code_cells.append(_CodeCell(index, source, grade_id, defines, has_markers))
    return code_cells


def grade_id_of(cell: dict) -> str | None:
    metadata = cell.get("metadata")
    nbgrader_meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader_meta.get("grade_id") if isinstance(nbgrader_meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _too_large_message(name: str, cell: _CodeCell) -> str:
    return (
        f"{name} not graded: its cell (cell {cell.index + 1}) holds {cell.too_large:,} "
        f"characters, more than the {MAX_CELL_CHARS:,} a graded cell may hold; keep only the "
        "function and its helpers there"
    )


def _find_exercises(
    code_cells: list[_CodeCell], exercises: Mapping[str, Sequence[str]]
) -> GradedCells:
    found: dict[str, GradedCell] = {}
    missing: dict[str, str] = {}
    by_name: list[str] = []
    for name in exercises:
        tagged = [cell for cell in code_cells if cell.grade_id == name]
        defining = [cell for cell in code_cells if name in cell.defines]
        if len(tagged) == 1 and name in tagged[0].defines:
            chosen, by = tagged[0], "metadata"
        elif defining:
            chosen, by = defining[-1], "name"  # a notebook run top to bottom keeps the last def
        elif len(tagged) == 1 and (tagged[0].too_large or _uses_name(tagged[0].source, name)):
            # No `def` anywhere, but the solution cell names the function: it may define it in
            # another way (an assignment, a def inside an if); running it will tell.
            chosen, by = tagged[0], "metadata"
        else:
            missing[name] = _not_found_message(name, exercises, code_cells)
            continue
        if chosen.too_large:
            missing[name] = _too_large_message(name, chosen)
            continue
        found[name] = GradedCell(chosen.source, chosen.index, by)
        if by == "name":
            by_name.append(name)

    notes = []
    if by_name:
        # Name the exercises only when some were found by metadata: a list of all is noise.
        every = len(by_name) == len(found)
        notes.append(NOTE_BY_NAME if every else f"{NOTE_BY_NAME} ({', '.join(by_name)})")
    if _looks_like_older_edition(code_cells, exercises):
        notes.append(NOTE_OLDER_EDITION)
    return GradedCells(found=found, missing=missing, notes=tuple(notes))


def _not_found_message(
    name: str, exercises: Mapping[str, Sequence[str]], code_cells: list[_CodeCell]
) -> str:
    import difflib  # here, not at the top: most notebooks never need it

    defined = sorted(set().union(*(cell.defines for cell in code_cells)))
    if name == "conv_single_step" and OLDER_EDITION_NAME in defined:
        return OLDER_EDITION_CONV_SINGLE_STEP
    expected = f"def {name}({', '.join(exercises[name])}):"
    message = f"{name} not found: the notebook defines no function `{expected}`"
    others = [
        other
        for other in difflib.get_close_matches(name, defined, n=3, cutoff=0.6)
        if other not in exercises
    ]
    if others:
        message += f" (it defines {', '.join(others)}: was the function renamed?)"
    return message


def _looks_like_older_edition(
    code_cells: list[_CodeCell], exercises: Mapping[str, Sequence[str]]
) -> bool:
    # convolve_window exists only in the older edition, so it decides alone, whatever the
    # metadata: nbgrader autograde adds the setup and test cells, with metadata, to such a
    # notebook before grading it. The older edition's markers count only without any solution
    # cell of this edition (a student may paste them into one).
    if any(OLDER_EDITION_NAME in cell.defines for cell in code_cells):
        return True
    has_solution_cells = any(cell.grade_id in exercises for cell in code_cells)
    has_markers = any(cell.has_markers for cell in code_cells)
    return has_markers and not has_solution_cells


# --- IPython syntax ------------------------------------------------------------------------

_MAGIC_LINE = re.compile(
    r"""^\s*(?:
        [%!]                              # %magic, %%cell_magic, !shell
      | [\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[%!](?!=)   # x = %time f(), files = !ls
      | \?{1,2}[\w.]                      # ?np.pad, ??np.pad
      | [\w.]+\?{1,2}\s*$                 # np.pad?, np.pad??
    )""",
    re.VERBOSE,
)


def neutralise_magics(source: str) -> str:
    """``source`` with IPython-only lines commented out, so that it parses as Python.

    A line inside a multi-line string is left alone. An indented magic becomes ``pass  # ...``
    so that the block around it stays valid. A cell magic whose body is not Python (``%%bash``,
    ``%%writefile``...) comments out the whole cell.
    """
    lines = source.splitlines(keepends=True)
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        magic = first.lstrip()[2:].split(maxsplit=1)[0] if first.strip() != "%%" else ""
        if magic not in PYTHON_BODY_CELL_MAGICS:
            return "".join(_comment_out(line) if line.strip() else line for line in lines)
    inside_strings = None  # tokenizing is the slow part: only done when a line looks like a magic
    neutralised = []
    for number, line in enumerate(lines, start=1):
        if _MAGIC_LINE.match(line):
            if inside_strings is None:
                inside_strings = _lines_inside_strings(source)
            if number not in inside_strings:
                line = _comment_out(line)
        neutralised.append(line)
    return "".join(neutralised)


def _comment_out(line: str) -> str:
    body = line.rstrip("\r\n")
    ending = line[len(body) :]
    stripped = body.lstrip()
    indent = body[: len(body) - len(stripped)]
    return f"{indent}{'pass  ' if indent else ''}# {stripped}{ending}"


def _lines_inside_strings(source: str) -> set[int]:
    """Line numbers (1-based) that continue a multi-line string token (not its first line)."""
    import io
    import tokenize

    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # unterminated string or bracket: the cell will not parse anyway
    return inside


def _uses_name(source: str, name: str) -> bool:
    """Whether ``name`` appears in the code of ``source`` (comments and strings do not count)."""
    if name not in source:  # the common case, without tokenizing
        return False
    import io
    import tokenize

    try:
        return any(
            token.type == tokenize.NAME and token.string == name
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
        )
    except (tokenize.TokenError, SyntaxError, IndentationError):
        code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
        return re.search(rf"\b{re.escape(name)}\b", code) is not None


def defined_functions(source: str) -> list[str]:
    """Names of the top-level ``def``s of a cell, in order.

    A cell that does not parse (a syntax error) still counts as defining the functions its
    ``def`` lines name: grading it then reports the syntax error, which says far more to the
    student than "not found".
    """
    try:
        tree = ast.parse(source)
    # ValueError: null bytes; RecursionError / MemoryError: absurdly nested code, which a
    # hostile notebook can use to crash a parser (it must only cost that cell's exercise).
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, flags=re.MULTILINE)
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
