"""Running a submission's code in a bubblewrap sandbox and bringing back plain-data outcomes.

One sandboxed child per submission in the normal case. It runs ``grader/harness.py`` (copied, with
``wire.py`` and ``calls.py``, into a private staging directory together with the student-facing
``public_tests.py`` and ``public_tests_data.npz``; nothing else of the repository, the course
directory, the gradebook or other submissions is visible). The child streams one report per
event; this module checks each against the exact sequence it expects, decodes it strictly
(``grader.wire``: no pickle, no eval) and never trusts its structure.

What the sandbox is (``bwrap``):
  - namespaces: pid, net (no network, not even the host's loopback), ipc, uts, cgroup, mount;
    ``--new-session`` (no TIOCSTI into the grader's terminal), ``--die-with-parent``;
  - filesystem: read-only /usr, the Python prefix (``sys.base_prefix``) and the site-packages of
    the running interpreter, the staged files at /sandbox; a private /tmp (tmpfs of
    ``Limits.tmp_bytes``), fresh /proc and /dev; no /etc, /home, /root, /work, nothing writable
    on the host;
  - identity: started by root, the harness drops to a fresh random uid before any student code,
    so RLIMIT_NPROC counts this sandbox alone and no file of the host is writable; started by
    another user, bubblewrap's user namespace does the same job;
  - system calls: a seccomp filter (x86_64) refuses new namespaces, mounts, ptrace, keyrings,
    BPF, io_uring, perf events, kernel modules, clock and swap changes, TIOCSTI;
  - limits (``Limits``): rlimits on CPU, address space, processes/threads, file size, open files,
    no core dumps; wall-clock limits per exercise and per submission; a cap on printed output;
  - environment: cleared, then PATH, HOME=/tmp, LANG, single-threaded BLAS/OpenMP, fixed
    PYTHONHASHSEED.

When the child hangs, crashes, prints too much, breaks the protocol or leaves threads running
in exercise X, X alone is charged ("timeout after 10 s", "crashed: ..."), the whole process tree
is killed (bwrap's pid namespace dies with it) and a fresh child runs the exercises left. Outcomes
received before a failure are kept (except after a protocol violation, which taints the stream).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import select
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader import wire
from grader.calls import Call, Outcome

log = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parent
REPOSITORY = GRADER_DIR.parent
HARNESS_FILES = ("harness.py", "wire.py", "calls.py")
SUPPORT_FILES = ("public_tests.py", "public_tests_data.npz")  # student-facing, harmless

SANDBOX_ROOT = "/sandbox"
SANDBOX_HARNESS = f"{SANDBOX_ROOT}/harness"
SANDBOX_WORK = f"{SANDBOX_ROOT}/work"
SANDBOX_SITE = f"{SANDBOX_ROOT}/site-packages"
STARTUP_SECONDS = 30.0  # Python + NumPy import, before any student code: an infrastructure limit
KILL_GRACE_SECONDS = 2.0  # after the harness exits or is killed: drain the pipes this long at most
OUTPUT_TAIL_BYTES = 64 << 10
ERROR_CHARS = 2000
SANDBOX_UID_BASE = 1_500_000_000  # fresh uids for sandboxes started by root, far from real users

CHILD_ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "MPLBACKEND": "Agg",
    # NumPy's BLAS and OpenMP: one thread (fair timing, and threads count against RLIMIT_NPROC).
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


class SandboxUnavailable(RuntimeError):  # noqa: N818  (the name is the contract)
    """bubblewrap is missing or cannot create namespaces here; the message says how to fix it."""


class SandboxError(RuntimeError):
    """The sandbox failed before any student code ran (an infrastructure fault, never a grade)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's run (all of them apply with or without bubblewrap,
    except that ``processes`` and ``tmp_bytes`` need the sandbox).

    cpu_seconds        -- RLIMIT_CPU of each child: CPU time over all its exercises (60)
    memory_bytes       -- RLIMIT_AS of each process: address space, NumPy included (1 GiB)
    processes          -- RLIMIT_NPROC: processes + threads of the sandbox, harness included (8;
                          with memory_bytes, it bounds the sandbox's memory: 8 GiB at worst)
    file_size_bytes    -- RLIMIT_FSIZE: largest file the code may write (16 MiB)
    open_files         -- RLIMIT_NOFILE (64)
    tmp_bytes          -- size of the sandbox's private /tmp (64 MiB)
    output_bytes       -- printed output (stdout + stderr) allowed per exercise; more is a failure
                          of that exercise, "output too large" (16 MiB)
    result_bytes       -- what one exercise's calls may send back in all (returned values and
                          arguments after, as encoded); more is "output too large" (64 MiB), so
                          the grader never holds more than this per exercise
    exercise_seconds   -- wall clock for one exercise's calls, and separately for running its
                          cell (10 s)
    submission_seconds -- wall clock for the whole submission, restarts included (120 s)
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    processes: int = 8
    file_size_bytes: int = 16 << 20
    open_files: int = 64
    tmp_bytes: int = 64 << 20
    output_bytes: int = 16 << 20
    result_bytes: int = 64 << 20
    exercise_seconds: float = 10.0
    submission_seconds: float = 120.0


@dataclass(frozen=True)
class SubmissionRun:
    """What running one submission gave, as plain data decoded in the trusted process.

    outcomes        -- {exercise: one Outcome per Call, in order}, for every exercise requested
    exercise_errors -- {exercise: why it failed as a whole}: "timeout after 10 s", "crashed: ...",
                       "output too large: ...", "SyntaxError: ... (line 3)", "not found: ...";
                       absent for exercises whose calls all ran (each Outcome says how)
    output_bytes    -- bytes the student's code printed (stdout + stderr, every child)
    output_tail     -- the last 64 KiB of that output, with the grader's notes of restarts
                       (for instructors only: never show it to students)
    setup_error     -- the setup cell's exception, or None
    cell_errors     -- {exercise: exception raised while running its cell}, even when the
                       function was defined before it (informational)
    children        -- sandboxes started (1 normally; one more after each failure)
    seconds         -- wall-clock time of the whole run
    """

    outcomes: dict[str, list[Outcome]]
    exercise_errors: dict[str, str]
    output_bytes: int = 0
    output_tail: str = ""
    setup_error: str | None = None
    cell_errors: dict[str, str] = field(default_factory=dict)
    children: int = 0
    seconds: float = 0.0


def run_submission(
    setup: str,
    cells: Mapping[str, str],
    calls: Mapping[str, Sequence[Call]],
    *,
    limits: Limits = Limits(),  # noqa: B008  (frozen, hence a safe default)
    sandbox: bool = True,
    support_files: Iterable[str | os.PathLike] | None = None,
) -> SubmissionRun:
    """Run ``setup`` then every cell in one namespace, then every call, in a sandboxed child.

    setup         -- source of the setup cell (``import numpy as np`` ...), run first
    cells         -- {exercise name: source of its graded cell}; run in the notebook's order
    calls         -- {exercise name: the Calls to make}; an exercise without a cell, or whose
                     cell does not define it, gets Outcome(error="not found") for each call
    limits        -- resource limits (see Limits)
    sandbox       -- False: no bubblewrap, only rlimits and timeouts (development only; logs a
                     warning): the code can read and write anything you can, signal your
                     processes, and a detached process of it survives the run
    support_files -- files put read-only in the working directory; None: the repository's
                     public_tests.py and public_tests_data.npz
    Raises SandboxUnavailable (sandbox=True and bubblewrap cannot run) and SandboxError (the
    harness could not start: never the student's fault).
    """
    started = time.monotonic()
    _check_arguments(setup, cells, calls)
    if sandbox:
        require_sandbox()
    else:
        log.warning("running student code WITHOUT the sandbox (development only)")
    order = _notebook_order([*cells, *calls])
    state = _State(
        setup=setup,
        cells=[(name, cells[name]) for name in order if name in cells],
        pending=[name for name in order if name in calls],
        calls={name: list(calls[name]) for name in calls},
        deadline=started + limits.submission_seconds,
    )
    state.reject_oversized_cells()
    with _Stage(support_files) as stage:
        while state.pending:
            if time.monotonic() >= state.deadline:
                state.fail_all(
                    "timeout", f"timeout: the submission's {limits.submission_seconds:g} s ran out"
                )
                break
            before = state.progress()
            _Child(state, stage, limits, sandbox).run()
            if state.progress() == before and state.pending:  # cannot happen; never loop forever
                state.blame_exercise(state.pending[0], "crashed", "crashed: no progress")
    return state.result(time.monotonic() - started)


def _check_arguments(setup, cells, calls) -> None:
    """A TypeError for what can only be a grader bug (the student's code is always a str)."""
    if type(setup) is not str or not all(type(source) is str for source in cells.values()):
        raise TypeError("setup and every cell source must be str")
    for name, exercise_calls in calls.items():
        if not all(type(call) is Call for call in exercise_calls):
            raise TypeError(f"calls[{name!r}] must hold grader.calls.Call objects only")


# ------------------------------------------------------------------------ sandbox availability

_probe_lock = threading.Lock()
_probe_result: dict[bool, str | None] = {}


def _runs_as_root() -> bool:
    """Root sets the sandbox up without a user namespace and drops to a fresh uid inside."""
    return os.geteuid() == 0


def require_sandbox() -> None:
    """Raise SandboxUnavailable unless bubblewrap can build the sandbox here (probed once)."""
    privileged = _runs_as_root()
    with _probe_lock:
        if privileged not in _probe_result:
            _probe_result[privileged] = _probe()
    problem = _probe_result[privileged]
    if problem is not None:
        raise SandboxUnavailable(problem)


def _probe() -> str | None:
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap (bwrap) is not installed: install it with `apt-get install bubblewrap` "
            "(Debian/Ubuntu; `dnf install bubblewrap` on Fedora), or run with --no-sandbox for "
            "development only"
        )
    true = shutil.which("true") or "/usr/bin/true"
    try:
        with _Stage([]) as stage, SeccompFile() as seccomp:
            completed = subprocess.run(
                [*bwrap_arguments(stage.harness, stage.work, Limits(), seccomp.fd), "--", true],
                capture_output=True,
                timeout=30,
                env={"PATH": CHILD_ENVIRONMENT["PATH"]},
                pass_fds=seccomp.pass_fds,
            )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not be started: {error}"
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip()[:500]
        return (
            f"bubblewrap cannot create the sandbox here ({message or completed.returncode}). "
            "It needs user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0) or root; in a container, allow namespaces "
            "(e.g. docker --security-opt seccomp=unconfined --cap-add SYS_ADMIN). "
            "Install: `apt-get install bubblewrap`."
        )
    return None


def _bwrap_base(privileged: bool) -> list[str]:
    """Namespaces and the minimal root filesystem (no Python yet)."""
    if privileged:
        # No user namespace: root sets up the mounts, keeps only CAP_SETUID/CAP_SETGID, and the
        # harness gives those up by switching to a fresh uid before any student code runs.
        namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        namespaces += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        namespaces += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        namespaces = ["--unshare-all"]  # a user namespace: the caller's uid, no capabilities
    args = ["bwrap", *namespaces, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args + ["--proc", "/proc", "--dev", "/dev"]


def bwrap_arguments(harness_dir, work_dir, limits: Limits, seccomp_fd: int | None) -> list[str]:
    """The bwrap command up to (not including) ``--`` and the program: namespaces, the read-only
    root, the private /tmp, the environment, the Python prefix, its site-packages (at
    /sandbox/site-packages/<i>, in the order of ``_site_directories()``), ``harness_dir`` at
    /sandbox/harness, ``work_dir`` at /sandbox/work (the working directory) and the seccomp
    filter read from ``seccomp_fd`` (see ``seccomp_program``; None: no filter)."""
    args = _bwrap_root(limits, seccomp_fd)
    args += ["--ro-bind", str(harness_dir), SANDBOX_HARNESS]
    return args + ["--ro-bind", str(work_dir), SANDBOX_WORK, "--chdir", SANDBOX_WORK]


def sandboxed_python_command(
    code: str,
    *,
    limits: Limits = Limits(),  # noqa: B008  (frozen, hence a safe default)
    seccomp_fd: int | None = None,
) -> list[str]:
    """argv of ``python -S -B -c <code>`` in the sandbox the harness runs in: same namespaces,
    mounts, environment, interpreter and site-packages on ``sys.path``, with an empty
    /sandbox/work as the working directory and no harness (nothing of the host is bound beyond
    what every sandbox sees). Rlimits and the uid drop are the harness's own work, so they do
    not apply. ``seccomp_fd``: an fd holding ``seccomp_program()``, at offset 0, passed to the
    child (``SeccompFile``); None: no filter. Used for the cost floor of sandboxed grading
    (``bench/``) and to test the sandbox's view from outside the harness."""
    sites = [f"{SANDBOX_SITE}/{index}" for index in range(len(_site_directories()))]
    prelude = f"import sys; sys.path.extend({sites!r})\n"
    args = _bwrap_root(limits, seccomp_fd)
    args += ["--perms", "0755", "--dir", SANDBOX_WORK, "--chdir", SANDBOX_WORK]
    return [*args, "--", _interpreter(), "-S", "-B", "-c", prelude + code]


def _bwrap_root(limits: Limits, seccomp_fd: int | None) -> list[str]:
    """``bwrap_arguments`` without the harness and work directories."""
    args = _bwrap_base(_runs_as_root()) + ["--clearenv"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    for key, value in CHILD_ENVIRONMENT.items():
        args += ["--setenv", key, value]
    args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for prefix in _python_prefixes():
        for ancestor in _ancestors(prefix):
            args += ["--perms", "0755", "--dir", ancestor]
        args += ["--ro-bind", prefix, prefix]
    for ancestor in (SANDBOX_ROOT, SANDBOX_SITE):
        args += ["--perms", "0755", "--dir", ancestor]
    for index, directory in enumerate(_site_directories()):
        args += ["--ro-bind", directory, f"{SANDBOX_SITE}/{index}"]
    return args


# ------------------------------------------------------------------------------------ seccomp

# Kernel interfaces student code never needs and that widen what a kernel bug could expose
# (the spirit of Docker's default profile): new namespaces (nested user namespaces above all),
# mounts, tracing, keyrings, BPF, io_uring, perf, modules, clocks, swap, reboot. x86_64 numbers.
_DENIED_SYSCALLS_X86_64 = {
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "userfaultfd": 323,
    "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
    "name_to_handle_at": 303, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
    "quotactl": 179, "syslog": 103, "vhangup": 153, "iopl": 172, "ioperm": 173,
    "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305,
    "sethostname": 170, "setdomainname": 171, "lookup_dcookie": 212, "uselib": 134,
}  # fmt: skip
_CLONE, _CLONE3, _IOCTL = 56, 435, 16
_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_TIOCSTI = 0x5412
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000


def seccomp_program() -> bytes | None:
    """The classic-BPF seccomp filter bwrap installs before running the harness, or None on an
    architecture it is not written for. Denied calls fail with EPERM (clone3 with ENOSYS, so
    libc falls back to clone, whose namespace flags are then checked); a foreign syscall ABI
    kills the process."""
    import platform

    if platform.machine() != "x86_64":
        return None
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, _AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (load, 0, 0, 0),  # seccomp_data.nr
        (jge, 0, 1, _X32_SYSCALL_BIT),
        (ret, 0, 0, kill),
    ]
    for number in sorted(_DENIED_SYSCALLS_X86_64.values()):
        program += [(jeq, 0, 1, number), (ret, 0, 0, eperm)]
    program += [(jeq, 0, 1, _CLONE3), (ret, 0, 0, enosys)]
    program += [
        (jeq, 0, 4, _IOCTL),
        (load, 0, 0, 24),  # low half of args[1]: the request
        (jeq, 0, 1, _TIOCSTI),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
        (jeq, 0, 3, _CLONE),
        (load, 0, 0, 16),  # low half of args[0]: the flags
        (jset, 0, 1, _NAMESPACE_FLAGS),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in program)


class SeccompFile:
    """The seccomp program in an anonymous file, for bwrap's --seccomp FD (closed on exit).

    ``fd`` is None when there is no filter for this machine (or ``enabled`` is False); pass
    ``pass_fds`` to the child. bwrap reads the filter from the fd's offset: to start several
    sandboxes from one file, ``rewind()`` before each."""

    def __init__(self, *, enabled: bool = True):
        program = seccomp_program() if enabled else None
        self.fd = None
        if program is not None:
            self.fd = os.memfd_create("grader-seccomp")
            os.write(self.fd, program)
            os.lseek(self.fd, 0, os.SEEK_SET)
        self.pass_fds = () if self.fd is None else (self.fd,)

    def rewind(self) -> None:
        if self.fd is not None:
            os.lseek(self.fd, 0, os.SEEK_SET)

    def __enter__(self) -> SeccompFile:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.fd is not None:
            os.close(self.fd)


# ------------------------------------------------------------------------------ the interpreter


@functools.cache
def _interpreter() -> str:
    return os.path.realpath(sys.executable)


@functools.cache
def _python_prefixes() -> tuple[str, ...]:
    """Directories outside /usr that the interpreter needs: its prefix (stdlib, libpython)."""
    prefixes: list[str] = []
    for path in (os.path.realpath(sys.base_prefix), os.path.dirname(_interpreter())):
        if any(_inside(path, other) for other in ["/usr", *prefixes]):
            continue
        prefixes.append(path)
    return tuple(prefixes)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


@functools.cache
def _site_directories() -> tuple[str, ...]:
    """Where the running interpreter finds its packages (the venv's site-packages, NumPy's)."""
    import numpy

    candidates = [sysconfig.get_paths()[key] for key in ("purelib", "platlib")]
    candidates.append(str(Path(numpy.__file__).resolve().parent.parent))
    directories: list[str] = []
    for candidate in candidates:
        resolved = os.path.realpath(candidate)
        if os.path.isdir(resolved) and resolved not in directories:
            directories.append(resolved)
    return tuple(directories)


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:]
    return ["/" + "/".join(parts[:index]) for index in range(1, len(parts))]


# ----------------------------------------------------------------------------------- the stage


class _Stage:
    """A private temporary directory holding exactly what the sandbox may see of the project:

    harness/  harness.py, wire.py, calls.py          (bound at /sandbox/harness)
    work/     public_tests.py, public_tests_data.npz (bound at /sandbox/work, the working dir)
    """

    def __init__(self, support_files):
        if support_files is None:
            support_files = [REPOSITORY / name for name in SUPPORT_FILES]
            missing = [str(path) for path in support_files if not path.exists()]
            if missing:
                log.warning("support files missing (setup may fail): %s", ", ".join(missing))
            support_files = [path for path in support_files if path.exists()]
        self.support_files = [Path(path) for path in support_files]

    def __enter__(self) -> _Stage:
        self.root = Path(tempfile.mkdtemp(prefix="cnn-grader-"))
        self.harness = self.root / "harness"
        self.work = self.root / "work"
        for directory, sources in (
            (self.harness, [GRADER_DIR / name for name in HARNESS_FILES]),
            (self.work, self.support_files),
        ):
            directory.mkdir(mode=0o755)
            directory.chmod(0o755)
            for source in sources:
                target = directory / source.name
                shutil.copyfile(source, target)
                target.chmod(0o444)
        return self

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------------------ the run's state


_SETUP, _STARTUP, _DONE = "setup", "startup", "done"


@dataclass
class _State:
    """Everything known so far about one submission's run (shared by its children)."""

    setup: str
    cells: list[tuple[str, str]]
    pending: list[str]
    calls: dict[str, list[Call]]
    deadline: float
    outcomes: dict[str, list[Outcome | None]] = field(default_factory=dict)
    exercise_errors: dict[str, str] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    not_found: dict[str, str] = field(default_factory=dict)  # why a cell defines no function
    setup_error: str | None = None
    output_bytes: int = 0
    output_tail: bytearray = field(default_factory=bytearray)
    children: int = 0

    def __post_init__(self):
        self.outcomes = {name: [None] * len(self.calls[name]) for name in self.pending}

    def progress(self) -> tuple[int, int]:
        return len(self.pending), len(self.cells)

    def reject_oversized_cells(self) -> None:
        limit = wire.DEFAULT_CAPS.string_chars
        for name, source in list(self.cells):
            if len(source) > limit:
                self.drop_cell(name, f"the cell's source is longer than {limit} characters")

    def drop_cell(self, name: str, why: str) -> None:
        """The cell will not be run again; its exercise, if graded, fails with ``why``."""
        self.cells = [(cell, source) for cell, source in self.cells if cell != name]
        self.cell_errors[name] = why
        if name in self.pending:
            self.blame_exercise(name, _short(why), why)

    def blame_exercise(self, name: str, short: str, why: str, *, keep: bool = True) -> None:
        """Exercise ``name`` fails as a whole: calls without an outcome get ``short``."""
        self.exercise_errors[name] = why[:ERROR_CHARS]
        outcomes = self.outcomes[name]
        for index, outcome in enumerate(outcomes):
            if outcome is None or not keep:
                outcomes[index] = Outcome(error=short)
        if name in self.pending:
            self.pending.remove(name)

    def finish(self, name: str) -> None:
        """All calls of ``name`` ran; if none found the function, say why as its error."""
        self.pending.remove(name)
        outcomes = self.outcomes[name]
        if outcomes and all(o is not None and o.error == "not found" for o in outcomes):
            why = self.not_found.get(name, f"not found: no cell defines {name}()")
            self.exercise_errors[name] = why[:ERROR_CHARS]

    def fail_all(self, short: str, why: str) -> None:
        for name in list(self.pending):
            self.blame_exercise(name, short, why)

    def note(self, text: str) -> None:
        self.add_output(f"\n[grader] {text}\n".encode(), count=False)

    def add_output(self, data: bytes, *, count: bool = True) -> None:
        if count:
            self.output_bytes += len(data)
        self.output_tail += data[-OUTPUT_TAIL_BYTES:]
        del self.output_tail[:-OUTPUT_TAIL_BYTES]

    def result(self, seconds: float) -> SubmissionRun:
        outcomes = {
            name: [Outcome(error="crashed: not run") if o is None else o for o in outcomes]
            for name, outcomes in self.outcomes.items()
        }
        return SubmissionRun(
            outcomes=outcomes,
            exercise_errors=dict(self.exercise_errors),
            output_bytes=self.output_bytes,
            output_tail=self.output_tail.decode("utf-8", errors="replace"),
            setup_error=self.setup_error,
            cell_errors=dict(self.cell_errors),
            children=self.children,
            seconds=seconds,
        )


def _short(why: str) -> str:
    """The Outcome.error form of an exercise error: "timeout", "crashed: ...", ..."""
    for short in ("timeout", "output too large", "not found"):
        if why.startswith(short):
            return short
    return why if why.startswith("crashed") else f"crashed: {why}"


def _notebook_order(names: Iterable[str]) -> list[str]:
    from grader.exercises import EXERCISE_NAMES

    unique = list(dict.fromkeys(names))
    known = [name for name in EXERCISE_NAMES if name in unique]
    return known + [name for name in unique if name not in EXERCISE_NAMES]


# ------------------------------------------------------------------------------------ one child


class _ChildError(Exception):
    """The child must be killed: ``short`` goes into Outcomes, ``why`` into exercise_errors."""

    def __init__(self, short: str, why: str, *, taints: bool = False):
        super().__init__(why)
        self.short, self.why, self.taints = short, why, taints


class _Child:
    """One sandboxed harness process: spawn, follow its reports, charge failures, clean up."""

    def __init__(self, state: _State, stage: _Stage, limits: Limits, sandbox: bool):
        self.state, self.stage, self.limits, self.sandbox = state, stage, limits, sandbox
        self.privileged = _runs_as_root()
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.uid = SANDBOX_UID_BASE + secrets.randbelow(1 << 24)
        self.cells = list(state.cells)
        self.exercises = list(state.pending)
        self.expected = self.expected_reports()
        self.position = 0
        self.phase = None
        self.phase_started = time.monotonic()
        self.phase_output = 0
        self.result_bytes = 0  # of the current exercise's outcome reports

    # -- the exact sequence of reports -------------------------------------------------------

    def expected_reports(self) -> list[tuple]:
        reports = [("ready",), ("setup",)]
        reports += [("loaded", name) for name, _ in self.cells]
        for name in self.exercises:
            reports.append(("begin", name))
            reports += [("outcome", name, index) for index in range(len(self.state.calls[name]))]
            reports.append(("end", name))
        return reports + [("done",)]

    def current_phase(self):
        expected = self.expected[self.position]
        kind = expected[0]
        if kind == "ready":
            return _STARTUP
        if kind == "setup":
            return _SETUP
        if kind == "loaded":
            return ("cell", expected[1])
        if kind == "done":
            return _DONE
        return ("exercise", expected[1])

    def enter_phase(self) -> None:
        phase = self.current_phase()
        if phase != self.phase:
            self.phase, self.phase_started, self.phase_output = phase, time.monotonic(), 0
            self.result_bytes = 0

    def phase_deadline(self) -> tuple[float, str]:
        if self.phase == _STARTUP:
            return self.phase_started + STARTUP_SECONDS, f"no start within {STARTUP_SECONDS:g} s"
        limit = self.limits.exercise_seconds
        own = self.phase_started + limit
        if own <= self.state.deadline:
            return own, f"timeout after {limit:g} s"
        budget = self.limits.submission_seconds
        return self.state.deadline, f"timeout: the submission's {budget:g} s ran out"

    # -- spawning ------------------------------------------------------------------------------

    def job(self) -> bytes:
        rlimits = [
            ("RLIMIT_CPU", self.limits.cpu_seconds, self.limits.cpu_seconds + 1),
            ("RLIMIT_AS", self.limits.memory_bytes, self.limits.memory_bytes),
            ("RLIMIT_FSIZE", self.limits.file_size_bytes, self.limits.file_size_bytes),
            ("RLIMIT_NOFILE", self.limits.open_files, self.limits.open_files),
            ("RLIMIT_CORE", 0, 0),
        ]
        if self.sandbox:  # outside it, the count would be of all the caller's processes
            rlimits.append(("RLIMIT_NPROC", self.limits.processes, self.limits.processes))
        header = {
            "kind": "job",
            "nonce": self.nonce.hex(),
            "drop_to": [self.uid, self.uid] if self.sandbox and self.privileged else None,
            "rlimits": [list(limit) for limit in rlimits],
            "sandboxed": self.sandbox,
            "setup": self.state.setup,
            "cells": [[name, source] for name, source in self.cells],
            "exercises": [[name, len(self.state.calls[name])] for name in self.exercises],
        }
        frames = [wire.frame(bytes(16), wire.dumps(header, strict=True))]
        for name in self.exercises:
            message = {
                "kind": "calls",
                "exercise": name,
                "calls": [tuple(call.args) for call in self.state.calls[name]],
            }
            frames.append(wire.frame(bytes(16), wire.dumps(message, strict=True)))
        return b"".join(frames)

    def command(
        self, channel_fd: int, seccomp_fd: int | None
    ) -> tuple[list[str], dict | None, str | None]:
        """(argv, environment, working directory) of the child."""
        site = _site_directories()
        if not self.sandbox:
            argv = [_interpreter(), "-S", "-B", str(self.stage.harness / "harness.py")]
            argv += ["--channel-fd", str(channel_fd), "--work-dir", str(self.stage.work)]
            for directory in site:
                argv += ["--site-dir", directory]
            return argv, dict(CHILD_ENVIRONMENT), str(self.stage.work)
        args = bwrap_arguments(self.stage.harness, self.stage.work, self.limits, seccomp_fd)
        args += ["--", _interpreter(), "-S", "-B", f"{SANDBOX_HARNESS}/harness.py"]
        args += ["--channel-fd", str(channel_fd), "--work-dir", SANDBOX_WORK]
        for index in range(len(site)):
            args += ["--site-dir", f"{SANDBOX_SITE}/{index}"]
        return args, {"PATH": CHILD_ENVIRONMENT["PATH"]}, None

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        self.state.children += 1
        job = os.memfd_create("grader-job")
        channel_read, channel_write = os.pipe()
        output_read, output_write = os.pipe()
        process = None
        try:
            os.write(job, self.job())
            os.lseek(job, 0, os.SEEK_SET)
            with SeccompFile(enabled=self.sandbox) as seccomp:
                argv, environment, cwd = self.command(channel_write, seccomp.fd)
                process = subprocess.Popen(
                    argv,
                    stdin=job,
                    stdout=output_write,
                    stderr=output_write,
                    pass_fds=(channel_write, *seccomp.pass_fds),
                    env=environment,
                    cwd=cwd,
                    start_new_session=True,
                )
        except BaseException:
            for fd in (job, channel_read, channel_write, output_read, output_write):
                os.close(fd)
            raise
        for fd in (job, channel_write, output_write):
            os.close(fd)
        try:
            self.follow(process, channel_read, output_read)
        finally:
            self.kill(process, channel_read, output_read)

    def follow(self, process, channel_read: int, output_read: int) -> None:
        reader = wire.FrameReader(self.nonce)
        selector = selectors.DefaultSelector()
        for fd in (channel_read, output_read):
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        self.enter_phase()
        exited_at = None
        try:
            while True:
                now = time.monotonic()
                deadline, timeout_why = self.phase_deadline()
                if now >= deadline:
                    raise _ChildError("timeout", timeout_why)
                if exited_at is None and process.poll() is not None:
                    exited_at = now
                if exited_at is not None and (
                    not selector.get_map() or now - exited_at > KILL_GRACE_SECONDS
                ):
                    raise _ChildError(*_crash(process.returncode, self.sandbox))
                wait = min(deadline - now, 0.25)
                for key, _ in selector.select(wait):
                    data = _read(key.fd)
                    if data is None:
                        continue
                    if not data:
                        selector.unregister(key.fd)
                    elif key.fd == output_read:
                        self.output(data)
                    else:
                        for message in self.frames(reader, data):
                            if self.handle(message):
                                return
        except _ChildError as failure:
            self.charge(failure, process)
        finally:
            selector.close()

    def frames(self, reader: wire.FrameReader, data: bytes):
        """The messages in ``data``, in order; a bad frame is reported after those before it."""
        try:
            yield from reader.feed(data)
        except wire.WireError as error:
            raise _ChildError(
                "crashed: protocol violation", _violation(error), taints=True
            ) from None
        if reader.error is not None:
            raise _ChildError(
                "crashed: protocol violation", _violation(reader.error), taints=True
            ) from None

    def output(self, data: bytes) -> None:
        self.state.add_output(data)
        self.phase_output += len(data)
        if self.phase_output > self.limits.output_bytes and self.phase not in (_STARTUP,):
            raise _ChildError(
                "output too large",
                f"output too large: printed more than {self.limits.output_bytes} bytes",
            )

    # -- reports ---------------------------------------------------------------------------------

    def handle(self, message: bytes) -> bool:
        """Check and record one report; True once the run is complete."""
        try:
            report = wire.loads(message)
            expected = self.expected[self.position]
            _check_report(report, expected, self)
        except wire.WireError as error:
            raise _ChildError(
                "crashed: protocol violation", _violation(error), taints=True
            ) from None
        kind = expected[0]
        if kind == "setup":
            self.state.setup_error = report["error"]
        elif kind == "loaded":
            self.loaded(expected[1], report)
        elif kind == "outcome":
            name, index = expected[1], expected[2]
            self.result_bytes += len(message)
            if self.result_bytes > self.limits.result_bytes:
                raise _ChildError(
                    "output too large",
                    f"output too large: its calls returned more than {self.limits.result_bytes}"
                    " bytes",
                    taints=True,
                )
            self.state.outcomes[name][index] = Outcome(
                returned=report["returned"], error=report["error"], args_after=report["args_after"]
            )
        elif kind == "end":
            self.state.finish(expected[1])
            if report["leftovers"] and self.state.pending:
                self.state.note(
                    f"{expected[1]} left {report['leftovers']} threads or processes running; "
                    "restarting the sandbox for the exercises left"
                )
                self.position += 1
                return True
        self.position += 1
        if kind == "done":
            return True
        self.enter_phase()
        return False

    def loaded(self, name: str, report: dict) -> None:
        if report["error"] is not None:
            self.state.cell_errors[name] = report["error"]
        if report["leftovers"]:
            raise _ChildError(
                "crashed: the cell left threads or processes running",
                # No count: how many exist at that instant is timing, and verdicts must repeat.
                "crashed: running the cell left threads or processes behind",
            )
        if report["function"] == "missing":
            why = report["error"] or f"not found: the cell does not define {name}()"
        else:
            why = f"not found: {name} is {report['function']}"
        self.state.not_found[name] = why

    def charge(self, failure: _ChildError, process) -> None:
        """Charge a failure to whatever the child was doing, and say so in the output tail."""
        phase = self.phase
        self.state.note(f"{_phase_name(phase)}: {failure.why}; sandbox stopped")
        if phase == _STARTUP:
            self.kill(process)
            raise SandboxError(
                f"the sandbox failed before running any student code: {failure.why}\n"
                + self.state.output_tail[-4000:].decode("utf-8", errors="replace")
            )
        if phase == _SETUP:
            self.state.setup_error = f"the setup cell failed: {failure.why}"
            self.state.fail_all(failure.short, f"the setup cell failed: {failure.why}")
        elif phase == _DONE:
            return
        elif phase[0] == "cell":
            self.state.drop_cell(phase[1], f"{failure.why} (while running the cell)")
        else:
            self.state.blame_exercise(phase[1], failure.short, failure.why, keep=not failure.taints)

    # -- cleaning up -----------------------------------------------------------------------------

    def kill(self, process, channel_read: int | None = None, output_read: int | None = None):
        """Kill the child's whole tree, then read its pipes until nothing holds them any more
        (keeping what it printed last), and close them.

        bwrap leads its own process group; killing it kills its pid namespace's init
        (--die-with-parent), and with it every process inside, however detached.
        """
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        elif process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # stragglers left in its group
        grace = time.monotonic() + KILL_GRACE_SECONDS
        for fd in (channel_read, output_read):
            if fd is None:
                continue
            while (left := grace - time.monotonic()) > 0:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    # Wake as soon as it is readable (data or end of file), not after a fixed
                    # nap: the pipe closes within a millisecond of the kill, once per submission.
                    select.select([fd], [], [], left)
                    continue
                except OSError:
                    break
                if not data:
                    break
                if fd == output_read:
                    self.state.add_output(data)
            os.close(fd)


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return None


def _crash(returncode: int | None, sandboxed: bool) -> tuple[str, str]:
    if returncode is not None and returncode < 0:
        signal_number = -returncode
    elif returncode is not None and sandboxed and returncode > 128:
        signal_number = returncode - 128  # bwrap reports a signal as 128 + its number
    else:
        why = f"crashed: the process exited (status {returncode}) before finishing"
        return why, why
    why = f"crashed: killed by signal {signal_number} ({_signal_hint(signal_number)})"
    return why, why


def _signal_hint(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return "unknown signal"
    hints = {
        "SIGKILL": "memory or CPU limit?",
        "SIGXCPU": "CPU time limit",
        "SIGXFSZ": "file size limit",
        "SIGSEGV": "segmentation fault: recursion too deep?",
        "SIGABRT": "aborted",
    }
    return f"{name}: {hints[name]}" if name in hints else name


def _violation(error: Exception) -> str:
    return f"crashed: protocol violation ({str(error)[:200]})"


def _phase_name(phase) -> str:
    if isinstance(phase, tuple):
        return f"{phase[1]} ({'its cell' if phase[0] == 'cell' else 'its calls'})"
    return str(phase)


# ------------------------------------------------------------------------ report validation


_REPORT_FIELDS = {
    "ready": {"kind", "uid"},
    "setup": {"kind", "error", "leftovers"},
    "loaded": {"kind", "exercise", "error", "function", "leftovers"},
    "begin": {"kind", "exercise"},
    "outcome": {"kind", "exercise", "index", "returned", "error", "args_after"},
    "end": {"kind", "exercise", "leftovers"},
    "done": {"kind"},
}


def _check_report(report, expected: tuple, child: _Child) -> None:
    """Raise WireError unless ``report`` is exactly the report expected next, well typed."""
    if type(report) is not dict:
        raise wire.WireError("a report must be a dict")
    kind = expected[0]
    if report.get("kind") != kind:
        raise wire.WireError(f"expected a {kind!r} report, got {str(report.get('kind'))[:40]!r}")
    if set(report) != _REPORT_FIELDS[kind]:
        raise wire.WireError(f"{kind!r} report with fields {sorted(report)[:10]}")
    if len(expected) > 1 and report["exercise"] != expected[1]:
        raise wire.WireError(f"{kind!r} report for another exercise")
    if kind == "outcome" and (type(report["index"]) is not int or report["index"] != expected[2]):
        raise wire.WireError("outcome out of order")
    if "error" in report and not (
        report["error"] is None
        or (type(report["error"]) is str and len(report["error"]) <= ERROR_CHARS)
    ):
        raise wire.WireError("'error' must be None or a short str")
    if "leftovers" in report and (type(report["leftovers"]) is not int or report["leftovers"] < 0):
        raise wire.WireError("'leftovers' must be a count")
    if kind == "loaded" and (type(report["function"]) is not str or len(report["function"]) > 200):
        raise wire.WireError("'function' must be a short str")
    if kind == "ready" and child.sandbox and child.privileged and report["uid"] != child.uid:
        raise wire.WireError("the harness did not drop its privileges")
    if kind == "outcome":
        args_after = report["args_after"]
        arguments = child.state.calls[expected[1]][expected[2]].args
        if args_after is not None and (
            type(args_after) is not tuple or len(args_after) != len(arguments)
        ):
            raise wire.WireError("'args_after' must be None or a tuple as long as the arguments")
