"""The graded code of a submission notebook: which cell holds each exercise, read defensively.

Only the solution cells are graded, never the rest of the notebook: the grader does not run the
student's test cells, scratch cells or plots, and it replaces the setup cell by the release's own
(``TRUSTED_SETUP``), so nothing a student edits outside the solution cells reaches the grader.

Which cell is graded for each exercise is decided by the rules of ``graded_cells`` (the module
beside ``public_tests.py``, shipped to students so that their pre-submission check,
``submission_check.py``, applies the very same rules): the cell tagged with the exercise's
nbgrader grade_id, else the last cell defining ``def <exercise>(``, else "not found" with the
renamed functions it may be. Code outside the graded cells is never run: a helper that a solution
calls must be defined in the same cell (nbgrader's usual rule: no extra cells), or the call fails
with a NameError.

Notebooks in nbformat 4 are read as plain JSON; older formats (3, 2...) are converted by
nbformat. IPython magics (``%matplotlib``, ``%%time``), shell lines (``!pip install``) and help
lines (``np.pad?``) are not Python: they are neutralised (commented out) in the extracted code.

Bounds. A submission file is hostile input to the trusted grader, so reading it has fixed caps,
each far above a real submission (a few hundred kB, about 60 cells, solution cells of a few
thousand characters) and each checked before the work it bounds. A breach is a clear message
within seconds, for the whole submission or for one exercise:

- file: at most ``MAX_NOTEBOOK_BYTES`` (64 MiB), a regular file read only through
  ``grader.intake.read_regular_file`` (no link followed, no FIFO or device opened); otherwise the
  submission's ``Extraction.error``.
- cells: at most ``MAX_CELLS`` (10,000) of any type; more is the submission's error.
- one cell: a cell the rules above could pick holds at most ``MAX_CELL_CHARS`` (1 Mi = 1,048,576)
  characters. A larger one is never parsed and fails only the exercise it would be graded for
  ("<exercise> not graded: its cell ... holds N characters"); the others are graded as usual.
  A larger cell that no rule picks is only searched for a ``def`` of a graded function.
- parse time: the cells parsed (tokenized for magics, ``ast.parse``) hold at most
  ``MAX_PARSED_CHARS`` (2 Mi) characters in all; more is the submission's error. This bounds the
  parsing to about 3 s of CPU at worst (measured: two cells of 1 Mi single-character tokens with a
  magic line each), against about 5 ms for a real notebook; the CPU limit below is the backstop.
- memory and time: reading, JSON parsing and extraction run in a short-lived child process,
  forked for each notebook by a single-threaded extraction server (``python -I -S``, an empty
  environment, started once per grader process; the grader's own process, whose callers run
  threads, never forks) and limited to ``CHILD_MEMORY_BYTES`` (1 GiB) of address space,
  ``CHILD_CPU_SECONDS`` (5 s) of CPU and ``CHILD_WALL_SECONDS`` (10 s) of wall clock. A breach
  kills the child and is the submission's error ("... within the grader's memory limit", "...
  time limit"). The grader's own process only waits for the child's answer, an Extraction as
  JSON (``Extraction.to_json`` / ``Extraction.from_json``, strictly validated), so no notebook
  can stall it or grow its memory. The child costs a fork (no interpreter start-up, no imports)
  on top of the 3-5 ms of the extraction itself.
"""

from __future__ import annotations

# The extraction child imports this module: every import here is paid once per notebook, so what
# only the parent needs (subprocess, signal, logging) or only some notebooks need (nbformat,
# hashlib) is imported where it is used.
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from graded_cells import (
    MAX_CELL_CHARS,
    MAX_PARSED_CHARS,
    NOTE_BY_NAME,
    NOTE_OLDER_EDITION,
    OLDER_EDITION_CONV_SINGLE_STEP,
    GradedCell,
    NotebookTooLargeError,
    defined_functions,
    find_graded_cells,
    neutralise_magics,
)
from grader.exercises import EXERCISE_NAMES, EXERCISES, SETUP_SOURCE
from grader.intake import IntakeError, read_regular_file

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_CELLS",
    "MAX_PARSED_CHARS",
    "NOTE_BY_NAME",
    "NOTE_OLDER_EDITION",
    "OLDER_EDITION_CONV_SINGLE_STEP",
    "TRUSTED_SETUP",
    "Extraction",
    "FoundCode",
    "defined_functions",
    "extract",
    "neutralise_magics",
]

# The setup cell of the released notebook (grade_id "setup"): the graded code runs after it. It is
# the release's, not the student's copy, so an edited setup cell can neither break nor help grading.
TRUSTED_SETUP = SETUP_SOURCE

# The caps of the module docstring ("Bounds"), each far above any real submission: a notebook is a
# few hundred kB (plots can make it a few MB), about 60 cells; a solution cell a few thousand
# characters (MAX_CELL_CHARS and MAX_PARSED_CHARS are rules of graded_cells).
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_CELLS = 10_000
CHILD_MEMORY_BYTES = 1024 * 1024 * 1024
CHILD_CPU_SECONDS = 5
CHILD_WALL_SECONDS = 10

# {function name: parameter names} of the exercises, the form graded_cells takes them in.
_EXERCISE_PARAMETERS = {exercise.name: exercise.parameters for exercise in EXERCISES}

# The graded cell of one exercise: the shared rules' record, under the grader's older name.
FoundCode = GradedCell


@dataclass(frozen=True)
class Extraction:
    """What ``extract`` found in one notebook.

    setup   -- the trusted setup source (``TRUSTED_SETUP``), run before every graded cell
    found   -- {exercise name: FoundCode} for the exercises whose code was found
    missing -- {exercise name: message} for the others ("not found: ...", or a cell too large)
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
        import hashlib  # here, not at the top: the extraction child never needs it

        hasher = hashlib.sha256()
        for part in (self.setup, *(f"{name}\0{src}" for name, src in self.cells.items())):
            hasher.update(part.encode("utf-8"))
            hasher.update(b"\0\0")
        return hasher.hexdigest()

    def to_json(self) -> str:
        """This extraction as one JSON object, the inverse of ``from_json``."""
        return json.dumps(
            {
                "setup": self.setup,
                "found": {
                    name: {"source": code.source, "cell_index": code.cell_index, "by": code.by}
                    for name, code in self.found.items()
                },
                "missing": dict(self.missing),
                "notes": list(self.notes),
                "error": self.error,
            },
            ensure_ascii=False,  # a solution in Chinese stays 3 bytes a character, not 6
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Extraction:
        """The Extraction that ``to_json`` wrote. Raises ValueError on anything else: unknown or
        missing keys, wrong types, an exercise that does not exist or is both found and missing."""
        data = json.loads(text)
        _expect(isinstance(data, dict), "not an object")
        _expect(set(data) == {"setup", "found", "missing", "notes", "error"}, "wrong keys")
        setup, found, missing, notes, error = (
            data[key] for key in ("setup", "found", "missing", "notes", "error")
        )
        _expect(isinstance(setup, str), "setup is not a string")
        _expect(isinstance(found, dict) and isinstance(missing, dict), "found/missing not objects")
        _expect(set(found) <= set(EXERCISE_NAMES), "found: unknown exercise")
        _expect(set(missing) <= set(EXERCISE_NAMES), "missing: unknown exercise")
        _expect(not set(found) & set(missing), "an exercise both found and missing")
        for code in found.values():
            _expect(
                isinstance(code, dict) and set(code) == {"source", "cell_index", "by"},
                "found: not a cell",
            )
            index = code["cell_index"]
            _expect(isinstance(code["source"], str), "found: source is not a string")
            _expect(type(index) is int and index >= 0, "found: bad cell_index")
            _expect(code["by"] in ("metadata", "name"), "found: bad 'by'")
        _expect(all(isinstance(message, str) for message in missing.values()), "missing: message")
        _expect(isinstance(notes, list) and all(isinstance(n, str) for n in notes), "notes")
        _expect(error is None or (isinstance(error, str) and not found), "error")
        return cls(
            setup=setup,
            found={name: FoundCode(**code) for name, code in found.items()},
            missing=dict(missing),
            notes=tuple(notes),
            error=error,
        )


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"not an Extraction: {what}")


# --- the extraction child -----------------------------------------------------------------------

# The extraction server: ``python -I -S`` (-I: no PYTHON* variables, no user site, no current
# folder on sys.path; -S: no site-packages, the server imports the standard library and grader's
# own modules only; -W ignore: ast.parse gives a SyntaxWarning per line of student code like "\d",
# noise in the log). The folder holding the grader package goes LAST on sys.path, so it can shadow
# no standard module. It imports this module once and, single-threaded, forks one child per
# notebook: the child pays no interpreter start-up or imports (about 30 ms of CPU a notebook when
# each one had a fresh interpreter), and the grader's own process, which runs threads, never forks.
_SERVER_CODE = (
    "import sys; sys.path.append(sys.argv[1]); from grader.extract import _serve; _serve()"
)
_GRADER_ROOT = str(Path(__file__).resolve().parent.parent)


def extract(path) -> Extraction:
    """Read the notebook at ``path`` and find the graded code of all eight exercises.

    Never raises for a bad submission: an unreadable, empty, binary, oversized or non-notebook
    file, a notebook without cells, or one that breaks a cap of the module docstring ("Bounds")
    gives an Extraction whose ``error`` says what is wrong. The work runs in a child process with
    memory, CPU and wall-clock limits; this process only waits for its answer.
    Raises OSError only when no child process can be started at all (the machine, not the file).
    """
    name = Path(os.fsdecode(path)).name
    limits = {
        "memory": CHILD_MEMORY_BYTES,
        "cpu": CHILD_CPU_SECONDS,
        "max_bytes": MAX_NOTEBOOK_BYTES,
        "wall": CHILD_WALL_SECONDS,
    }
    status, output, errors = _SERVER.ask(os.fsencode(path), limits)
    if status is None:
        return Extraction(
            error=f"{name} could not be read within the grader's time limit "
            f"({CHILD_WALL_SECONDS} s): it is not an ordinary notebook"
        )
    if status == 0:
        try:
            return Extraction.from_json(output)
        except ValueError as error:  # a grader bug, never the student's doing
            _log_error("the extraction child of %s answered nonsense: %s", name, error)
            return Extraction(error=f"{name} could not be read: internal grader error")
    return Extraction(error=_child_failure(name, status, errors))


class _Server:
    """The grader's side of the extraction server: started on first use, one request at a time
    (a lock: each takes milliseconds), restarted if it dies; a forked grader process starts its
    own. ``ask`` returns (the child's exit status, or None when it ran out of wall clock; its
    stdout; the tail of its stderr)."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.process = None
        self.owner = None

    def ask(self, path: bytes, limits: dict) -> tuple[int | None, bytes, bytes]:
        request = json.dumps({"path": path.hex(), "limits": limits}).encode() + b"\n"
        with self.lock:
            for attempt in range(2):
                process = self.started()
                try:
                    os.write(process.stdin.fileno(), request)
                    return self.answer(process)
                except (OSError, ValueError, TimeoutError) as error:
                    self.stop()
                    if attempt:
                        raise OSError(f"the extraction server failed: {error}") from None
        raise AssertionError("unreachable")

    def started(self):
        import atexit
        import subprocess

        if self.process is not None and self.owner == os.getpid() and self.process.poll() is None:
            return self.process
        if self.owner != os.getpid():
            self.process = None  # a forked copy of the grader: the parent's server is not ours
        # -I ignores PYTHONDONTWRITEBYTECODE: -B passes it on.
        flags = ["-I", "-S", "-W", "ignore", "-X", "utf8"]
        flags += ["-B"] if sys.dont_write_bytecode else []
        self.process = subprocess.Popen(
            [sys.executable, *flags, "-c", _SERVER_CODE, _GRADER_ROOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            bufsize=0,
        )
        if self.owner is None:
            atexit.register(self.stop)
        self.owner = os.getpid()
        return self.process

    def answer(self, process) -> tuple[int | None, bytes, bytes]:
        import select
        import time

        fd = process.stdout.fileno()
        deadline = time.monotonic() + CHILD_WALL_SECONDS + 10  # the server keeps the wall clock
        data = bytearray()
        while True:
            head, _, rest = bytes(data).partition(b"\n")
            if _:
                header = json.loads(head)
                size = header["out"] + header["err"]
                if len(rest) >= size:
                    output, errors = rest[: header["out"]], rest[header["out"] : size]
                    return header["status"], output, errors
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer")
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise OSError("the server exited")
            data += chunk

    def stop(self) -> None:
        if self.process is not None and self.owner == os.getpid():
            self.process.kill()
            self.process.wait()
        self.process = None


_SERVER = _Server()


def _serve() -> None:
    """The extraction server's loop (see ``_SERVER_CODE``): one request per line on stdin, one
    forked child per request, its answer on stdout. Ends when the grader closes stdin."""
    import select
    import signal
    import time

    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while line := requests.readline():
        request = json.loads(line)
        output_read, output_write = os.pipe()
        errors_read, errors_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: nothing of the server's channels, its own limits
            os.dup2(output_write, 1)
            os.dup2(errors_write, 2)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.closerange(3, 256)
            status = 0
            try:
                _child_main(os.fsdecode(bytes.fromhex(request["path"])), request["limits"])
            except SystemExit as exit:
                os.write(2, str(exit.code).encode())
                status = 1
            except BaseException:  # noqa: BLE001
                import traceback

                os.write(2, traceback.format_exc().encode()[-2000:])
                status = 1
            os._exit(status)
        os.close(output_write)
        os.close(errors_write)
        streams = {output_read: bytearray(), errors_read: bytearray()}
        deadline = time.monotonic() + request["limits"]["wall"]
        timed_out = False
        while streams.keys() - _closed(streams):
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                timed_out = True
                break
            for fd in select.select(list(streams.keys() - _closed(streams)), [], [], left)[0]:
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    streams[fd] += chunk
                else:
                    streams[fd].append(0)  # marks end of file (see _closed)
                    streams[fd] = _Ended(streams[fd][:-1])
        _, wait_status = os.waitpid(pid, 0)
        for fd in streams:
            os.close(fd)
        output, errors = bytes(streams[output_read]), bytes(streams[errors_read])[-2000:]
        status = None if timed_out else os.waitstatus_to_exitcode(wait_status)
        header = {"status": status, "out": len(output), "err": len(errors)}
        answers.write(json.dumps(header).encode() + b"\n" + output + errors)
        answers.flush()


class _Ended(bytearray):
    """A stream's bytes once its end of file was read."""


def _closed(streams: dict) -> set:
    return {fd for fd, data in streams.items() if isinstance(data, _Ended)}


def _child_failure(name: str, status: int, stderr: bytes) -> str:
    """The student's message for a child that died instead of answering."""
    import signal

    tail = stderr[-2000:].decode("utf-8", "replace")
    if status in (-signal.SIGXCPU, -signal.SIGKILL) and "MemoryError" not in tail:
        # SIGXCPU at the soft CPU limit, SIGKILL at the hard one.
        return (
            f"{name} could not be read within the grader's time limit ({CHILD_CPU_SECONDS} s "
            "of CPU): it is not an ordinary notebook"
        )
    if "MemoryError" in tail or status == -signal.SIGABRT:  # Python aborts on a failed malloc
        return (
            f"{name} could not be read within the grader's memory limit "
            f"({CHILD_MEMORY_BYTES / 2**30:g} GiB): it is not an ordinary notebook"
        )
    _log_error("the extraction child of %s failed with status %s: %s", name, status, tail)
    return f"{name} could not be read: internal grader error (status {status})"


def _log_error(message: str, *args) -> None:
    import logging

    logging.getLogger(__name__).error(message, *args)


def _child_main(path: str, limits_json: str) -> None:
    """The extraction child: limits first, then read, parse and extract, and answer in JSON on
    stdout. Started by ``extract`` only; ``path`` as the parent gave it."""
    import resource

    def lower(kind: int, soft: int, hard: int) -> None:
        current = resource.getrlimit(kind)[1]
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(kind, (soft, hard))

    limits = json.loads(limits_json) if isinstance(limits_json, str) else limits_json
    lower(resource.RLIMIT_AS, limits["memory"], limits["memory"])
    # CPU: SIGXCPU at the soft limit, SIGKILL a second later should anything survive it.
    lower(resource.RLIMIT_CPU, limits["cpu"], limits["cpu"] + 1)
    lower(resource.RLIMIT_CORE, 0, 0)
    try:
        extraction = _extract_here(path, limits["max_bytes"])
    except MemoryError:
        sys.exit("MemoryError")  # the parent names the memory limit
    # surrogatepass: a file name that is not UTF-8 comes with lone surrogates (surrogateescape);
    # json.loads(bytes) reads them back.
    sys.stdout.buffer.write(extraction.to_json().encode("utf-8", "surrogatepass"))
    sys.stdout.flush()


# --- extraction proper (in the child) ------------------------------------------------------------


def _extract_here(path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> Extraction:
    """``extract`` in this process, without its process limits: the child's work."""
    try:
        raw = read_regular_file(path, max_bytes)
    except IntakeError as error:
        return Extraction(error=error.reason)
    notebook, error = _parse_notebook(raw, Path(path).name)
    del raw
    if error is not None:
        return Extraction(error=error)
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not cells:
        return Extraction(error="the notebook has no cells: nothing to grade")
    too_many = _too_many_cells(len(cells))
    if too_many is not None:
        return Extraction(error=too_many)
    try:
        graded = find_graded_cells(cells, _EXERCISE_PARAMETERS)
    except NotebookTooLargeError as refusal:
        return Extraction(error=str(refusal))
    return Extraction(found=graded.found, missing=graded.missing, notes=graded.notes)


def _too_many_cells(count: int) -> str | None:
    """The submission's error when it has more than ``MAX_CELLS`` cells."""
    if count <= MAX_CELLS:
        return None
    return (
        f"the notebook has {count:,} cells, more than the {MAX_CELLS:,} the grader reads "
        "(the assignment has about 60): submit the assignment's notebook"
    )


def _parse_notebook(raw: bytes, name: str):
    """(notebook as nbformat v4, None), or (None, message) when ``raw`` is not one."""
    if not raw:
        return None, f"{name} is empty (0 bytes): not a notebook"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, f"{name} is not a notebook: it is not UTF-8 text (a binary file?)"
    if not text.strip():
        return None, f"{name} is empty (only whitespace): not a notebook"
    try:
        data = json.loads(text)
    except ValueError as error:
        return None, f"{name} is not a notebook: not valid JSON ({str(error)[:200]})"
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack
        return None, f"{name} is not a notebook: its JSON is nested absurdly deep"
    if not isinstance(data, dict):
        return None, f"{name} is not a notebook: its JSON is a {type(data).__name__}"
    if "nbformat" not in data:
        return None, f"{name} is not a notebook: it has no 'nbformat' version"
    if data["nbformat"] == 4:
        # The current format: its cells are plain dicts (source: str or list of str), read as
        # they are, without nbformat's validation, so that one damaged cell or metadata block
        # does not hide the student's code in the others.
        return data, None
    # Count the cells (nbformat 3 keeps them in worksheets) before nbformat validates and
    # converts them: that is slow on a huge notebook.
    sheets = data.get("worksheets")
    count = sum(
        len(sheet["cells"])
        for sheet in (sheets if isinstance(sheets, list) else ())
        if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
    )
    if _too_many_cells(count) is not None:
        return None, _too_many_cells(count)
    del data
    try:
        nbformat = _import_nbformat()
        notebook = nbformat.convert(nbformat.reader.reads(text), 4)
    except MemoryError:  # the child's memory limit, not a damaged file
        raise
    except Exception as error:  # nbformat raises many types for damaged files
        return None, f"{name} could not be read as a Jupyter notebook: {str(error)[:300]}"
    return notebook, None


def _import_nbformat():
    """nbformat, which only old formats need (it is slow to import). The child runs without
    site-packages (``-S``): they are added, from this Python's own installation, when needed."""
    try:
        import nbformat
    except ImportError:
        import site

        site.main()
        import nbformat
    return nbformat
