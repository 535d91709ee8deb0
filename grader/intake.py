"""What a submission is allowed to be before anything opens, reads or copies it: regular files only.

Everything in a submission is hostile, its files included: a name in a submission folder can be a
symbolic link (to the gradebook, to another student's notebook, to ``/dev/zero``), a FIFO (which
blocks whoever opens it), a device, a socket, or a hard link to a file outside the folder; the
folder itself can be a link to another student's. nbgrader 0.9.6 follows all of them: it copies
every file of the folder into ``autograded/`` (whence ``feedback/``), reads the notebook with a
plain ``open`` and blocks on a FIFO for good. This module is the one place that decides what may be
taken from a submission, and how; the nbgrader glue (``grader.nbgrader_plugin.IntakeAutograde``),
``grader.parallel`` and the command line (``grader.cli``) all ask it first:

- ``check_submission_folder`` looks at a folder ``submitted/<student>/<assignment>/`` without
  opening or following anything (``lstat`` only): it lists the problems that make nbgrader refuse
  the submission as a whole (a link, a FIFO, a device, a socket, a hard link, the folder itself a
  link, an oversized notebook, too many entries). A refused submission is not read at all: it is
  graded 0 with the reason on its feedback page and flagged for manual grading, and the run goes
  on for everyone else. Subfolders (``.ipynb_checkpoints/``) are allowed and checked the same way.
- Of an accepted folder only the notebook (``NOTEBOOK_FILE``) and nbgrader's ``timestamp.txt``
  are taken; every other file is left where it is (``ignored_files`` names them for the log).
- ``check_notebook_file`` is the same check for one notebook path (the command line's).
- ``read_regular_file`` opens a file without following a final symbolic link and without blocking
  (``O_NOFOLLOW | O_NONBLOCK``), checks on the open descriptor (``fstat``, so nothing can be
  swapped in between) that it is a regular file with one name of at most ``max_bytes``, and reads
  at most that many bytes. Anything else raises ``IntakeError`` with a reason meant for the
  student.

Bounds: a notebook of at most ``MAX_NOTEBOOK_BYTES`` (16 MiB: a submission is a few hundred kB,
plots make it a few MB), a timestamp of at most ``MAX_TIMESTAMP_BYTES``, at most
``MAX_FOLDER_ENTRIES`` entries in a submission folder, subfolders included, ``MAX_FOLDER_DEPTH``
deep. The checks look at names, never at contents, so they cost a few ``lstat`` calls.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from pathlib import Path

from grader.exercises import NOTEBOOK_NAME

# The one file of a submission that is graded, and the one nbgrader's exchange writes beside it.
NOTEBOOK_FILE = f"{NOTEBOOK_NAME}.ipynb"
TIMESTAMP_FILE = "timestamp.txt"

MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
MAX_TIMESTAMP_BYTES = 1024
MAX_FOLDER_ENTRIES = 1000
MAX_FOLDER_DEPTH = 8

ADVICE = "submit the saved notebook itself (no links, pipes or devices)"


class IntakeError(Exception):
    """A submission's file cannot be taken: ``reason`` says why, in words for the student."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _file_problem(name: str, status: os.stat_result, max_bytes: int | None) -> str | None:
    """Why the file ``name`` (its lstat ``status``) cannot be taken, or None."""
    if not stat.S_ISREG(status.st_mode):
        return f"{name} is {_kind(status.st_mode)}, not a regular file"
    if status.st_nlink > 1:  # another name elsewhere: possibly another student's file
        return f"{name} is a hard link (the file has {status.st_nlink} names), not its own file"
    if max_bytes is not None and status.st_size > max_bytes:
        return (
            f"{name} is too large to be a submission "
            f"({status.st_size / 2**20:.1f} MiB > {max_bytes / 2**20:.0f} MiB)"
        )
    return None


def _entry_limit(name: str) -> int | None:
    """The size cap of a file of the folder that is taken (None: not taken, not read)."""
    return {NOTEBOOK_FILE: MAX_NOTEBOOK_BYTES, TIMESTAMP_FILE: MAX_TIMESTAMP_BYTES}.get(name)


def _scan(folder: Path) -> tuple[list[str], list[str]]:
    """(problems, regular files not taken) of a submission folder, by lstat only."""
    problems: list[str] = []
    ignored: list[str] = []
    for path in (folder.parent, folder):  # submitted/<student> and submitted/<student>/<assignment>
        try:
            status = os.lstat(path)
        except OSError as error:
            return [f"the submission folder cannot be read: {error.strerror or error}"], []
        if not stat.S_ISDIR(status.st_mode):
            what = "student folder" if path == folder.parent else "submission folder"
            problems.append(f"the {what} {path.name} is {_kind(status.st_mode)}, not a folder")
    if problems:
        return problems, ignored
    count = 0
    pending = [(folder, "", 0)]
    while pending:
        directory, prefix, depth = pending.pop()
        entries = []
        try:
            with os.scandir(directory) as listing:
                for entry in listing:  # lazily: a folder of a million names stops at the cap
                    count += 1
                    if count > MAX_FOLDER_ENTRIES:
                        too_many = f"the submission holds more than {MAX_FOLDER_ENTRIES} files"
                        return problems + [too_many], []
                    entries.append(entry)
        except OSError as error:
            where = prefix or "the submission folder"
            problems.append(f"{where} cannot be listed: {error.strerror or error}")
            continue
        for entry in sorted(entries, key=lambda entry: entry.name):
            name = prefix + entry.name
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError as error:
                problems.append(f"{name} cannot be examined: {error.strerror or error}")
                continue
            if stat.S_ISDIR(status.st_mode):
                if depth + 1 >= MAX_FOLDER_DEPTH:
                    problems.append(f"{name}/ is nested more than {MAX_FOLDER_DEPTH} folders deep")
                else:
                    pending.append((Path(entry.path), name + "/", depth + 1))
                continue
            taken = depth == 0 and entry.name in (NOTEBOOK_FILE, TIMESTAMP_FILE)
            problem = _file_problem(name, status, _entry_limit(entry.name) if taken else None)
            if problem is not None:
                problems.append(problem)
            elif not taken:
                ignored.append(name)
    return problems, ignored


def check_submission_folder(folder) -> list[str]:
    """Why the submission folder ``folder`` (``submitted/<student>/<assignment>``) must be refused
    as a whole; [] when it may be taken. Nothing is opened or followed.

    Refused: the folder or its student folder being a link (or not a folder); anything in it, at
    any depth, that is a symbolic link, a FIFO, a device, a socket, or a regular file with more
    than one name (a hard link); a notebook larger than ``MAX_NOTEBOOK_BYTES`` or a timestamp
    larger than ``MAX_TIMESTAMP_BYTES``; more than ``MAX_FOLDER_ENTRIES`` entries or subfolders
    nested more than ``MAX_FOLDER_DEPTH`` deep. Each problem names the file, relative to the
    folder, in words for the student.
    """
    return _scan(Path(folder))[0]


def ignored_files(folder) -> list[str]:
    """The regular files of an accepted submission folder that are not taken (relative names):
    everything but the notebook and the timestamp; never copied, read or shown."""
    return _scan(Path(folder))[1]


def check_notebook_file(path) -> list[str]:
    """Why the notebook at ``path`` cannot be taken ([] if it can, or if there is nothing at
    ``path``), by lstat only: not a regular file (a link, a FIFO, a device, a socket, a
    directory), a hard link, or larger than ``MAX_NOTEBOOK_BYTES``."""
    path = Path(path)
    try:
        status = os.lstat(path)
    except OSError:
        return []  # nothing there to refuse: whoever reads it says it is missing
    problem = _file_problem(path.name, status, MAX_NOTEBOOK_BYTES)
    return [] if problem is None else [problem]


def refusal_reason(problems: list[str]) -> str:
    """One sentence for the student (and the gradebook): why their submission was refused."""
    return f"it was not read, because {'; '.join(problems)}: {ADVICE}"


def read_regular_file(path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``max_bytes``).

    Raises IntakeError when ``path`` is missing, a symbolic link, a FIFO, a device, a socket, a
    directory, a hard link (more than one name), larger than ``max_bytes``, or unreadable. Never
    blocks and never follows a link in the last component (the caller names the folder it
    trusts)."""
    name = Path(path).name
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IntakeError(
                f"{name} is a symbolic link, not a file: submit the notebook itself"
            ) from None
        if error.errno == errno.ENXIO:  # a FIFO or socket without a writer/listener
            raise IntakeError(f"{name} is not a regular file: submit the notebook itself") from None
        raise IntakeError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        status = os.fstat(fd)
        problem = _file_problem(name, status, max_bytes)
        if problem is not None:
            raise IntakeError(f"{problem}: submit the notebook itself")
        chunks, left = [], max_bytes + 1  # one byte more: a file that grows is still caught
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise IntakeError(f"cannot read {name}: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise IntakeError(f"{name} is too large to be a submission (it grew while being read)")
    return data


def exact_student_glob(student: str) -> str:
    """nbgrader's ``--student`` glob (``CourseDirectory.student_id``) that names the student id
    ``student`` only: its glob characters escaped ("x*" would also take "xy": student ids are
    folder names, which ``zip_collect`` takes from an LMS download), and whitespace at either
    end, which nbgrader strips from ``student_id``, written as a one-character class
    ("[ ]bob[ ]"). So is a first character that nbgrader's command line (traitlets'
    ``Unicode.from_string``) would rewrite: a quote that ends the id too is taken off ('"bob"'
    graded bob), and ``~`` is expanded ("~root" became "/root", which globbed submitted//root)."""
    escaped = glob.escape(student)
    core = escaped.strip()
    start = escaped.index(core) if core else len(escaped)
    lead, trail = escaped[:start], escaped[start + len(core) :]
    pattern = "".join(f"[{c}]" for c in lead) + core + "".join(f"[{c}]" for c in trail)
    if pattern[:1] in ("~", '"', "'"):
        pattern = f"[{pattern[0]}]{pattern[1:]}"
    return pattern
