"""What a submission is allowed to be before anything opens, reads or copies it: regular files only.

Everything in a submission is hostile, its files included: a name in a submission folder can be a
symbolic link (to the gradebook, to another student's notebook, to ``/dev/zero``), a FIFO (which
blocks whoever opens it), a device, a socket, or a hard link to a file outside the folder. This
module is the one place that decides what may be read, and how:

- ``read_regular_file`` opens a file without following a final symbolic link and without blocking
  (``O_NOFOLLOW | O_NONBLOCK``), checks on the open descriptor (``fstat``, so nothing can be
  swapped in between) that it is a regular file of at most ``max_bytes``, and reads at most that
  many bytes. Anything else raises ``IntakeError`` with a reason meant for the student.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


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


def read_regular_file(path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``max_bytes``).

    Raises IntakeError when ``path`` is missing, a symbolic link, a FIFO, a device, a socket, a
    directory, larger than ``max_bytes``, or unreadable. Never blocks and never follows a link in
    the last component (the caller names the folder it trusts)."""
    name = Path(path).name
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IntakeError(f"{name} is a symbolic link, not a file: submit the notebook itself")
        if error.errno == errno.ENXIO:  # a FIFO or socket without a writer/listener
            raise IntakeError(f"{name} is not a regular file: submit the notebook itself")
        raise IntakeError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise IntakeError(
                f"{name} is {_kind(status.st_mode)}, not a regular file: submit the notebook itself"
            )
        if status.st_size > max_bytes:
            raise IntakeError(
                f"{name} is too large to be a submission "
                f"({status.st_size / 2**20:.1f} MiB > {max_bytes / 2**20:.0f} MiB)"
            )
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
