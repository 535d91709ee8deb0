"""The memory bound of one sandbox as a whole: a memory cgroup around it, where the machine has one.

Owns: finding a memory cgroup the grader may create children in, making one per sandbox with a
limit, and putting the sandbox in it before bubblewrap starts. It guarantees, when a cgroup is
used (``MemoryBound.active``): every process of the sandbox, and the kernel memory charged to
them (page tables, pipes, sockets), counts against ``limit_bytes`` together; going over it makes
the kernel kill a process inside, which the grader reports as that exercise's crash. Where no
cgroup can be had, the bound is the one ``grader.bubblewrap`` and ``grader.seccomp`` give
everywhere: nothing writable, no SysV IPC or memfd, so memory is held only by processes, each
capped by RLIMIT_AS (see README, "Known limits").

Which cgroup:
- ``GRADER_CGROUP=DIR``: a cgroup v2 directory delegated to the grader, whose
  ``cgroup.subtree_control`` enables ``memory`` (e.g. a systemd ``Delegate=yes`` unit, or a
  Kubernetes pod's own cgroup prepared by its entrypoint): each sandbox gets ``DIR/sandbox-*``
  with ``memory.max``, ``memory.swap.max`` = 0 and ``pids.max``.
- otherwise, as root on a cgroup v1 machine (``/sys/fs/cgroup/memory`` writable): a child of the
  grader's own memory cgroup with ``memory.limit_in_bytes``.
- otherwise none, and ``active`` is False.
Each sandbox's cgroup is named ``cnn-grader-<pid of the grader process>-<random>``. A grader
killed while a sandbox ran (a SIGKILLed Dask worker, say) cannot remove its cgroup; the next
sandbox made beside it removes every such cgroup whose grader process is gone (an empty one
only: the kernel refuses to remove a cgroup that still holds a process).
The sandbox joins its cgroup through ``/bin/sh -c 'echo $$ > cgroup.procs; exec bwrap ...'``, so
it is inside before its first instruction (no race, no preexec_fn in a threaded grader).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ENV = "GRADER_CGROUP"
V1_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
JOIN = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
PREFIX = "cnn-grader-"


def remove_orphans(root: Path) -> None:
    """Remove the sandbox cgroups in ``root`` whose grader process no longer exists."""
    try:
        names = [entry.name for entry in os.scandir(root) if entry.name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        owner, _, token = name[len(PREFIX) :].partition("-")
        if not (owner.isascii() and owner.isdigit() and token) or _alive(int(owner)):
            continue  # another grader's (or an older grader's, named without its pid)
        with contextlib.suppress(OSError):  # busy, or removed by another grader meanwhile
            (root / name).rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


@functools.cache
def _parent() -> tuple[str, Path] | None:
    """("v2" | "v1", the directory new sandbox cgroups are made in), or None."""
    delegated = os.environ.get(CGROUP_ENV)
    if delegated:
        directory = Path(delegated)
        try:
            controllers = (directory / "cgroup.subtree_control").read_text().split()
        except OSError as error:
            log.warning("%s=%s cannot be used: %s", CGROUP_ENV, delegated, error)
            return None
        if "memory" not in controllers or not os.access(directory, os.W_OK):
            log.warning("%s=%s does not delegate the memory controller", CGROUP_ENV, delegated)
            return None
        return "v2", directory
    if os.geteuid() != 0 or not (V1_MEMORY_ROOT / "memory.limit_in_bytes").exists():
        return None
    try:
        own = next(
            line.split(":", 2)[2].strip()
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.split(":", 2)[1] == "memory"
        )
    except (OSError, StopIteration, IndexError):
        return None
    directory = V1_MEMORY_ROOT / own.lstrip("/")
    return ("v1", directory) if os.access(directory, os.W_OK) else None


class MemoryBound:
    """One sandbox's memory cgroup (or nothing, where none can be had). Use as a context
    manager; ``wrap(argv)`` is the command that starts ``argv`` inside it."""

    def __init__(self, limit_bytes: int, processes: int):
        self.limit_bytes, self.processes = limit_bytes, processes
        self.directory: Path | None = None

    @property
    def active(self) -> bool:
        return self.directory is not None

    def __enter__(self) -> MemoryBound:
        parent = _parent()
        if parent is None:
            return self
        version, root = parent
        remove_orphans(root)
        directory = root / f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        try:
            directory.mkdir()
            if version == "v2":
                (directory / "memory.max").write_text(str(self.limit_bytes))
                with contextlib.suppress(OSError):
                    (directory / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):
                    (directory / "pids.max").write_text(str(self.processes))
            else:
                (directory / "memory.limit_in_bytes").write_text(str(self.limit_bytes))
        except OSError as error:
            log.warning("no memory cgroup for the sandbox (%s): per-process limits only", error)
            with contextlib.suppress(OSError):
                directory.rmdir()
            return self
        self.directory = directory
        return self

    def wrap(self, argv: list[str]) -> list[str]:
        if self.directory is None:
            return argv
        return ["/bin/sh", "-c", JOIN, str(self.directory), *argv]

    def __exit__(self, *exc_info) -> None:
        """Remove the cgroup once its processes are gone (they die with the sandbox's pid
        namespace, a moment after bubblewrap)."""
        if self.directory is None:
            return
        for _ in range(200):
            try:
                self.directory.rmdir()
                return
            except OSError:
                time.sleep(0.005)
        log.warning("memory cgroup %s still busy; left behind", self.directory)
