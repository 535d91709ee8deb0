"""The bubblewrap command: which namespaces, which read-only view of the host, which environment.

Owns: the bwrap argument list (``bwrap_arguments``, ``sandboxed_python_command``), the probe that
says whether the sandbox can be built and used here (``require_sandbox``: bubblewrap builds it and
the harness's own set-up of an exercise's process succeeds in it), the interpreter paths the
sandbox binds, and the private staging directory of the harness (``Stage``). It guarantees:

- namespaces: pid, net (no network, not even the host's loopback), ipc, uts, cgroup, mount;
  ``--new-session`` (no TIOCSTI into the grader's terminal), ``--die-with-parent``;
- filesystem: read-only /usr, the Python prefix (``sys.base_prefix``) and the site-packages of
  the running interpreter, the staged harness and the student-facing public tests at /sandbox;
  fresh /proc, a read-only /dev, an empty read-only /tmp; the root itself is remounted
  read-only, so NOTHING is writable: no file, no inode, no directory can be made (the memory
  bound of item "memory" without a cgroup, and no file one exercise could leave for another);
  no /etc, /home, /root, /work, nothing of the grader, the course or other submissions;
- identity: started by root, the sandbox keeps only CAP_SETUID, CAP_SETGID and CAP_KILL (inside
  its own pid namespace) for the zygote, and every exercise process drops to a fresh uid of its
  own; started by another user, a user namespace with no capabilities. Root without one of these
  (a container given fewer) is refused by ``require_sandbox``, naming it, before any grading;
- environment: cleared, then PATH, HOME=/tmp, LANG, single-threaded BLAS/OpenMP, fixed
  PYTHONHASHSEED.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

from grader import course
from grader.seccomp import SeccompFile

log = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parent
HARNESS_FILES = ("harness.py", "wire.py", "calls.py")

SANDBOX_ROOT = "/sandbox"
SANDBOX_HARNESS = f"{SANDBOX_ROOT}/harness"
SANDBOX_WORK = f"{SANDBOX_ROOT}/work"
SANDBOX_SITE = f"{SANDBOX_ROOT}/site-packages"

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


# Root builds the sandbox with the first two (its namespaces and mounts; the loopback of its
# network namespace) and keeps the last three in it (see _bwrap_base).
BUILD_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_NET_ADMIN")
SANDBOX_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL")
_CAPABILITY_BITS = {
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_NET_ADMIN": 12,
    "CAP_SYS_ADMIN": 21,
}


class SandboxUnavailable(RuntimeError):  # noqa: N818  (the name is the contract)
    """The sandbox cannot be built or used here (bubblewrap missing, no namespaces, or, as root,
    a capability its exercises need); the message says how to fix it."""


_probe_lock = threading.Lock()
_probe_result: dict[bool, str | None] = {}


def runs_as_root() -> bool:
    """Root sets the sandbox up without a user namespace and drops to a fresh uid inside."""
    return os.geteuid() == 0


def require_sandbox() -> None:
    """Raise SandboxUnavailable unless the sandbox can be built and used here (probed once per
    process: bubblewrap builds the sandbox the harness runs in, and there the harness does what
    the zygote and an exercise's process do before any student code: ``harness.probe``)."""
    privileged = runs_as_root()
    with _probe_lock:
        if privileged not in _probe_result:
            _probe_result[privileged] = _probe()
    problem = _probe_result[privileged]
    if problem is not None:
        raise SandboxUnavailable(problem)


def refuse_sandbox(problem: str) -> SandboxUnavailable:
    """The error to raise when a sandbox that passed the probe turned out unusable (an exercise's
    process could not be set up): ``require_sandbox`` refuses from now on, in this process."""
    with _probe_lock:
        _probe_result[runs_as_root()] = problem
    return SandboxUnavailable(problem)


def _probe() -> str | None:
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap (bwrap) is not installed: install it with `apt-get install bubblewrap` "
            "(Debian/Ubuntu; `dnf install bubblewrap` on Fedora), or run with --no-sandbox for "
            "development only"
        )
    from grader.exercise_run import sandbox_uid
    from grader.harness import EXIT_NOT_ISOLATED

    probe = [interpreter(), "-S", "-B", f"{SANDBOX_HARNESS}/harness.py", "--probe"]
    if runs_as_root():
        probe += ["--drop-to", str(sandbox_uid())]
    try:
        with Stage([]) as stage, SeccompFile() as seccomp:
            completed = subprocess.run(
                [*bwrap_arguments(stage.harness, stage.work, seccomp.fd), "--", *probe],
                capture_output=True,
                timeout=30,
                env={"PATH": CHILD_ENVIRONMENT["PATH"]},
                pass_fds=seccomp.pass_fds,
            )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap could not be started: {error}"
    message = completed.stderr.decode(errors="replace").strip()[-500:]
    if completed.returncode == EXIT_NOT_ISOLATED:
        return not_isolated_problem(message.removeprefix("not isolated: "))
    if completed.returncode != 0:
        return (
            f"bubblewrap cannot create the sandbox here ({message or completed.returncode}). "
            + _how_to_allow_the_sandbox()
        )
    return None


def not_isolated_problem(why: str) -> str:
    """Why the sandbox is unusable when the harness could not set an exercise's process up
    (``why``: its words, naming the refused call and the capability), with the fix."""
    return (
        "the sandbox cannot run exercises here: the harness could not set an exercise's "
        f"process up before running any student code ({why}). " + _how_to_allow_the_sandbox()
    )


def _missing_capabilities() -> list[str]:
    """Which of the capabilities root needs for the sandbox (BUILD_CAPABILITIES and
    SANDBOX_CAPABILITIES) this process lacks in its effective set."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return []
    effective = int(line.split()[1], 16)
    return [
        name
        for name in (*BUILD_CAPABILITIES, *SANDBOX_CAPABILITIES)
        if not effective >> _CAPABILITY_BITS[name] & 1
    ]


def _how_to_allow_the_sandbox() -> str:
    """What this machine or container must give the grader, for the way it runs (root or not)."""
    if runs_as_root():
        missing = _missing_capabilities()
        lacking = f"; this process lacks {', '.join(missing)}" if missing else ""
        names = [name.removeprefix("CAP_") for name in (*BUILD_CAPABILITIES, *SANDBOX_CAPABILITIES)]
        return (
            "Run as root, the grader needs CAP_SYS_ADMIN and CAP_NET_ADMIN to build the sandbox "
            "(its mounts, its loopback) and CAP_SETUID, CAP_SETGID and CAP_KILL, which the "
            "sandbox keeps to run each exercise under a uid of its own and kill what it leaves"
            f"{lacking}. In a container, give it these, with seccomp and AppArmor allowing "
            "mounts: docker run --cap-drop ALL "
            + " ".join(f"--cap-add {name}" for name in names)
            + " --security-opt seccomp=unconfined --security-opt apparmor=unconfined; "
            "Kubernetes: securityContext capabilities: {drop: [ALL], add: ["
            + ", ".join(names)
            + "]}, seccompProfile and appArmorProfile {type: Unconfined} "
            "(deploy/kubernetes/workers.yaml). Or run the grader as another user, in a user "
            'namespace (README: "bubblewrap without root").'
        )
    return (
        "Run by a user other than root, it needs unprivileged user namespaces "
        "(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1 where it "
        "exists; Ubuntu: kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile "
        "for bwrap); in a container also a seccomp profile and AppArmor that allow namespaces "
        "and mounts (docker --security-opt seccomp=unconfined --security-opt apparmor=unconfined) "
        'and an unmasked /proc, or bubblewrap fails with "Can\'t mount proc on /newroot/proc" '
        "(docker --security-opt systempaths=unconfined; Kubernetes: procMount: Unmasked, with "
        'hostUsers: false); README: "bubblewrap without root". '
        "Install: `apt-get install bubblewrap`."
    )


def _bwrap_base(privileged: bool) -> list[str]:
    """Namespaces and the minimal root filesystem (no Python yet)."""
    if privileged:
        # No user namespace: root sets up the mounts and keeps only what the zygote needs:
        # CAP_SETUID/CAP_SETGID to start each exercise under a fresh uid (which loses every
        # capability), CAP_KILL to kill that uid's processes (inside this pid namespace only).
        namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        namespaces += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        for capability in SANDBOX_CAPABILITIES:
            namespaces += ["--cap-add", capability]
    else:
        # A user namespace: the caller's uid, and no capability even inside it (bwrap gives a
        # root caller's namespace all of them otherwise): without CAP_SYS_PTRACE, the zygote's
        # being non-dumpable keeps its memory and descriptors out of an exercise's reach.
        namespaces = ["--unshare-all", "--cap-drop", "ALL"]
    # --as-pid-1: no bubblewrap process inside the sandbox (it would be a process an exercise
    # could reach through /proc in a user namespace); the harness's zygote is the pid
    # namespace's init, which no process inside can signal and whose end kills all of them.
    args = ["bwrap", *namespaces, "--as-pid-1", "--die-with-parent", "--new-session"]
    args += ["--hostname", "sandbox"]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args + ["--proc", "/proc", "--dev", "/dev"]


def bwrap_arguments(harness_dir, work_dir, seccomp_fd: int | None) -> list[str]:
    """The bwrap command up to (not including) ``--`` and the program: namespaces, the read-only
    root, the environment, the Python prefix, its site-packages (at /sandbox/site-packages/<i>,
    in the order of ``site_directories()``), ``harness_dir`` at /sandbox/harness, ``work_dir`` at
    /sandbox/work (the working directory) and the seccomp filter read from ``seccomp_fd`` (see
    ``grader.seccomp``; None: no filter). Nothing in it is writable."""
    args = _bwrap_root(seccomp_fd)
    args += ["--ro-bind", str(harness_dir), SANDBOX_HARNESS]
    args += ["--ro-bind", str(work_dir), SANDBOX_WORK, "--chdir", SANDBOX_WORK]
    return args + _READ_ONLY


def sandboxed_python_command(code: str, *, seccomp_fd: int | None = None) -> list[str]:
    """argv of ``python -S -B -c <code>`` in the sandbox the harness runs in: same namespaces,
    mounts, environment, interpreter and site-packages on ``sys.path``, with an empty
    /sandbox/work as the working directory and no harness (nothing of the host is bound beyond
    what every sandbox sees). Rlimits and the uid drop are the harness's own work, so they do
    not apply. ``seccomp_fd``: an fd holding ``seccomp_program()``, at offset 0, passed to the
    child (``SeccompFile``); None: no filter. Used for the cost floor of sandboxed grading
    (``bench/``) and to test the sandbox's view from outside the harness."""
    sites = [f"{SANDBOX_SITE}/{index}" for index in range(len(site_directories()))]
    prelude = f"import sys; sys.path.extend({sites!r})\n"
    args = _bwrap_root(seccomp_fd)
    args += ["--perms", "0755", "--dir", SANDBOX_WORK, "--chdir", SANDBOX_WORK, *_READ_ONLY]
    return [*args, "--", interpreter(), "-S", "-B", "-c", prelude + code]


# Last: the root (bwrap's own tmpfs, which holds the mount points and /tmp) and /dev become
# read-only, so no process of the sandbox can create a file, a directory or an inode anywhere.
_READ_ONLY = ["--remount-ro", "/dev", "--remount-ro", "/"]


def _bwrap_root(seccomp_fd: int | None) -> list[str]:
    """``bwrap_arguments`` without the harness and work directories."""
    args = _bwrap_base(runs_as_root()) + ["--clearenv"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    for key, value in CHILD_ENVIRONMENT.items():
        args += ["--setenv", key, value]
    args += ["--perms", "0755", "--dir", "/tmp"]
    for prefix in _python_prefixes():
        for ancestor in _ancestors(prefix):
            args += ["--perms", "0755", "--dir", ancestor]
        args += ["--ro-bind", prefix, prefix]
    for ancestor in (SANDBOX_ROOT, SANDBOX_SITE):
        args += ["--perms", "0755", "--dir", ancestor]
    for index, directory in enumerate(site_directories()):
        args += ["--ro-bind", directory, f"{SANDBOX_SITE}/{index}"]
        # An installed grader (pip install) lives in these site-packages: the sandbox must see
        # nothing of it (the reference, the hidden checks), so an empty read-only folder covers it.
        grader = os.path.realpath(GRADER_DIR)
        if _inside(grader, directory):
            hidden = f"{SANDBOX_SITE}/{index}/{os.path.relpath(grader, directory)}"
            args += ["--perms", "0555", "--tmpfs", hidden, "--remount-ro", hidden]
    return args


@functools.cache
def interpreter() -> str:
    return os.path.realpath(sys.executable)


@functools.cache
def _python_prefixes() -> tuple[str, ...]:
    """Directories outside /usr that the interpreter needs: its prefix (stdlib, libpython)."""
    prefixes: list[str] = []
    for path in (os.path.realpath(sys.base_prefix), os.path.dirname(interpreter())):
        if any(_inside(path, other) for other in ["/usr", *prefixes]):
            continue
        prefixes.append(path)
    return tuple(prefixes)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


@functools.cache
def site_directories() -> tuple[str, ...]:
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


class Stage:
    """A private temporary directory holding exactly what the sandbox may see of the project:

    harness/  harness.py, wire.py, calls.py          (bound at /sandbox/harness)
    work/     public_tests.py, public_tests_data.npz (bound at /sandbox/work, the working dir)
    """

    def __init__(self, support_files):
        if support_files is None:
            # public_tests.py and its data (student-facing, harmless), from the course template:
            # the repository's course/ or the installed package's copy.
            support_files = course.support_files()
            missing = [str(path) for path in support_files if not path.exists()]
            if missing:
                log.warning("support files missing (setup may fail): %s", ", ".join(missing))
            support_files = [path for path in support_files if path.exists()]
        self.support_files = [Path(path) for path in support_files]

    def __enter__(self) -> Stage:
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
