"""The graded code of a submission notebook: which cell holds each exercise, read defensively.

Only the solution cells are graded, never the rest of the notebook: the grader does not run the
student's test cells, scratch cells or plots, and it replaces the setup cell by the release's own
(``TRUSTED_SETUP``), so nothing a student edits outside the solution cells reaches the grader.

How a solution cell is found, per exercise (see ``extract``):

1. nbgrader metadata: the one code cell whose ``metadata.nbgrader.grade_id`` is the exercise name
   and which defines ``def <exercise>(`` (a redefinition in a later scratch cell is ignored).
2. Otherwise (cell deleted, duplicated, metadata stripped or damaged, the function moved to
   another cell, or a notebook of the older edition that has no nbgrader metadata at all): by
   function name. The code cells are parsed with ``ast`` and the LAST top-level
   ``def <exercise>(`` wins, as it would in a notebook run from top to bottom; the whole cell that
   defines it is graded (so helpers written beside it come along). A note says so in the feedback.
   A duplicated cell (the same grade_id twice) is resolved the same way: the later copy wins.
3. Otherwise the solution cell itself, when there is exactly one and its code uses the name (it
   may define the function without a top-level ``def``; the sandbox says "not found" if not).
4. Otherwise the exercise is "not found", with a message naming the function that was expected
   (and the similarly named functions the notebook does define, for a renamed function).

Code outside the graded cells is never run: a helper that a solution calls must be defined in the
same cell (nbgrader's usual rule: no extra cells), or the call fails with a NameError.

Notebooks in nbformat 4 are read as plain JSON; older formats (3, 2...) are converted by
nbformat. IPython magics (``%matplotlib``, ``%%time``), shell lines (``!pip install``) and help
lines (``np.pad?``) are not Python: they are neutralised (commented out) in the extracted code.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import EXERCISE_NAMES, EXERCISES, SETUP_SOURCE

# The setup cell of the released notebook (grade_id "setup"): the graded code runs after it. It is
# the release's, not the student's copy, so an edited setup cell can neither break nor help grading.
TRUSTED_SETUP = SETUP_SOURCE

# A submission is a few hundred kB; plots can make it a few MB. Anything far larger is not one,
# and reading it whole would only waste the grader's memory.
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024

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

# Cell magics whose body is still Python: only their first line is neutralised. Any other cell
# magic (%%bash, %%writefile, %%html...) makes the whole cell something other than Python.
PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


@dataclass(frozen=True)
class FoundCode:
    """The code cell graded for one exercise.

    source     -- the whole cell, magics and shell lines neutralised
    cell_index -- position of the cell in the notebook (0-based, all cell types counted)
    by         -- "metadata" (nbgrader grade_id) or "name" (found by ``def <exercise>(``)
    """

    source: str
    cell_index: int
    by: str


@dataclass(frozen=True)
class Extraction:
    """What ``extract`` found in one notebook.

    setup   -- the trusted setup source (``TRUSTED_SETUP``), run before every graded cell
    found   -- {exercise name: FoundCode} for the exercises whose code was found
    missing -- {exercise name: message} for the others ("not found: ...")
    notes   -- remarks for the student's feedback (e.g. ``NOTE_BY_NAME``)
    error   -- set when the file could not be read as a notebook at all (then found is empty)
    """

    setup: str = TRUSTED_SETUP
    found: dict[str, FoundCode] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    error: str | None = None

    @property
    def cells(self) -> dict[str, str]:
        """{exercise name: source} of the found exercises, in ``EXERCISES`` order."""
        return {name: self.found[name].source for name in EXERCISE_NAMES if name in self.found}

    def digest(self) -> str:
        """SHA-256 (hex) of exactly what will be graded: the setup and each exercise's source."""
        hasher = hashlib.sha256()
        for part in (self.setup, *(f"{name}\0{src}" for name, src in self.cells.items())):
            hasher.update(part.encode("utf-8"))
            hasher.update(b"\0\0")
        return hasher.hexdigest()


@dataclass(frozen=True)
class _CodeCell:
    index: int
    source: str  # neutralised
    grade_id: str | None
    defines: frozenset[str]  # top-level function names (best effort when the cell does not parse)


def extract(path) -> Extraction:
    """Read the notebook at ``path`` and find the graded code of all eight exercises.

    Never raises for a bad submission: an unreadable, empty, binary or non-notebook file, or a
    notebook without cells, gives an Extraction whose ``error`` says what is wrong.
    """
    notebook, error = _read_notebook(Path(path))
    if error is not None:
        return Extraction(error=error)
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not cells:
        return Extraction(error="the notebook has no cells: nothing to grade")
    code_cells = _code_cells(cells)
    return _find_exercises(code_cells)


def _read_notebook(path: Path):
    """(notebook as nbformat v4, None), or (None, message) when it cannot be read."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return None, f"cannot read {path.name}: {error.strerror or error}"
    if path.is_dir():
        return None, f"{path.name} is a directory, not a notebook"
    if size == 0:
        return None, f"{path.name} is empty (0 bytes): not a notebook"
    if size > MAX_NOTEBOOK_BYTES:
        return None, (
            f"{path.name} is too large to be a submission "
            f"({size / 2**20:.0f} MiB > {MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB)"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, f"cannot read {path.name}: {error.strerror or error}"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"{path.name} is not a notebook: it is not UTF-8 text (a binary file?)"
    if not text.strip():
        return None, f"{path.name} is empty (only whitespace): not a notebook"
    try:
        data = json.loads(text)
    except ValueError as error:
        return None, f"{path.name} is not a notebook: not valid JSON ({error})"
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack
        return None, f"{path.name} is not a notebook: its JSON is nested absurdly deep"
    if not isinstance(data, dict):
        return None, f"{path.name} is not a notebook: its JSON is a {type(data).__name__}"
    if "nbformat" not in data:
        return None, f"{path.name} is not a notebook: it has no 'nbformat' version"
    if data["nbformat"] == 4:
        # The current format: its cells are plain dicts (source: str or list of str), read as
        # they are, without nbformat's validation, so that one damaged cell or metadata block
        # does not hide the student's code in the others.
        return data, None
    try:
        import nbformat  # imported here: it is slow to import, and only old formats need it

        notebook = nbformat.convert(nbformat.reader.reads(text), 4)
    except Exception as error:  # nbformat raises many types for damaged files
        return None, f"{path.name} could not be read as a Jupyter notebook: {error}"
    return notebook, None


def _code_cells(cells: list) -> list[_CodeCell]:
    code_cells = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        if not isinstance(source, str):
            source = ""
        source = neutralise_magics(source)
        code_cells.append(
            _CodeCell(index, source, _grade_id(cell), frozenset(defined_functions(source)))
        )
    return code_cells


def _grade_id(cell: dict) -> str | None:
    metadata = cell.get("metadata")
    nbgrader_meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader_meta.get("grade_id") if isinstance(nbgrader_meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _find_exercises(code_cells: list[_CodeCell]) -> Extraction:
    found: dict[str, FoundCode] = {}
    missing: dict[str, str] = {}
    by_name: list[str] = []
    for exercise in EXERCISES:
        name = exercise.name
        tagged = [cell for cell in code_cells if cell.grade_id == exercise.solution_cell_id]
        if len(tagged) == 1 and name in tagged[0].defines:
            found[name] = FoundCode(tagged[0].source, tagged[0].index, "metadata")
            continue
        defining = [cell for cell in code_cells if name in cell.defines]
        if defining:
            last = defining[-1]  # a notebook run top to bottom keeps the last definition
            found[name] = FoundCode(last.source, last.index, "name")
            by_name.append(name)
        elif len(tagged) == 1 and _uses_name(tagged[0].source, name):
            # No `def` anywhere, but the solution cell names the function: it may define it in
            # another way (an assignment, a def inside an if); running it will tell.
            found[name] = FoundCode(tagged[0].source, tagged[0].index, "metadata")
        else:
            missing[name] = _not_found_message(exercise, code_cells)

    notes = []
    if by_name:
        # Name the exercises only when some were found by metadata: a list of all is noise.
        every = len(by_name) == len(found)
        notes.append(NOTE_BY_NAME if every else f"{NOTE_BY_NAME} ({', '.join(by_name)})")
    if _looks_like_older_edition(code_cells):
        notes.append(NOTE_OLDER_EDITION)
    return Extraction(found=found, missing=missing, notes=tuple(notes))


def _not_found_message(exercise, code_cells: list[_CodeCell]) -> str:
    name = exercise.name
    defined = sorted(set().union(*(cell.defines for cell in code_cells)))
    if name == "conv_single_step" and "convolve_window" in defined:
        return OLDER_EDITION_CONV_SINGLE_STEP
    expected = f"def {name}({', '.join(exercise.parameters)}):"
    message = f"{name} not found: the notebook defines no function `{expected}`"
    others = [
        other
        for other in difflib.get_close_matches(name, defined, n=3, cutoff=0.6)
        if other not in EXERCISE_NAMES
    ]
    if others:
        message += f" (it defines {', '.join(others)}: was the function renamed?)"
    return message


def _looks_like_older_edition(code_cells: list[_CodeCell]) -> bool:
    # convolve_window exists only in the older edition, so it decides alone, whatever the
    # metadata: nbgrader autograde adds the setup and test cells, with metadata, to such a
    # notebook before grading it. The older edition's markers count only without any solution
    # cell of this edition (a student may paste them into one).
    if any("convolve_window" in cell.defines for cell in code_cells):
        return True
    solution_ids = {exercise.solution_cell_id for exercise in EXERCISES}
    has_solution_cells = any(cell.grade_id in solution_ids for cell in code_cells)
    has_markers = any("### START CODE HERE ###" in cell.source for cell in code_cells)
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
    inside_strings = _lines_inside_strings(source)
    neutralised = []
    for number, line in enumerate(lines, start=1):
        if number not in inside_strings and _MAGIC_LINE.match(line):
            neutralised.append(_comment_out(line))
        else:
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
