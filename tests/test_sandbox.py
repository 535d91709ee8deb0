"""Tests of grader/sandbox.py: hostile student code, in bubblewrap, costs only its own exercise.

Every attack sits in one exercise of a submission whose seven other exercises are the canonical
solutions; each test asserts the honest outcome of the attack, that the seven others are intact
(equal to the reference), that the run ended in bounded time and that no process of it survives
(the attack names its processes with a marker, and /proc is searched for it afterwards).
These tests need bubblewrap (`make system-deps`); without it they fail, they are not skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grader import bubblewrap, reference, sandbox
from grader.calls import Call, Unsupported
from grader.exercises import EXERCISE_NAMES
from grader.sandbox import Limits, SandboxUnavailable, run_submission
from tests.catalogue.canonical import CANONICAL
from tests.factories import SETUP_SOURCE

LIMITS = Limits(exercise_seconds=2, submission_seconds=60, memory_bytes=512 << 20, processes=8)
WALL_SECONDS = 15  # generous: a hang costs exercise_seconds, a restart a fraction of a second


def _calls() -> dict[str, list[Call]]:
    rng = np.random.default_rng(2024)
    normal = rng.standard_normal
    A_prev = normal((2, 5, 4, 3))
    W, b = normal((3, 3, 3, 2)), normal((1, 1, 1, 2))
    conv = {"stride": 2, "pad": 1}
    pool = {"stride": 1, "f": 2}
    Z, conv_cache = reference.conv_forward(A_prev, W, b, conv)
    A, pool_cache = reference.pool_forward(A_prev, pool)
    return {
        "zero_pad": [Call((normal((2, 3, 3, 2)), 2))],
        "conv_single_step": [Call((normal((3, 3, 2)), normal((3, 3, 2)), normal((1, 1, 1))))],
        "conv_forward": [Call((A_prev, W, b, conv))],
        "pool_forward": [Call((A_prev, pool, "max")), Call((A_prev, pool, "average"))],
        "conv_backward": [Call((normal(Z.shape), conv_cache))],
        "create_mask_from_window": [Call((normal((2, 3)),))],
        "distribute_value": [Call((1.5, (2, 2)))],
        "pool_backward": [Call((normal(A.shape), pool_cache, "max"))],
    }


CALLS = _calls()

# Prepended to every attack: name this process (and all it forks) after the test's marker.
MARK = """
import ctypes as _ctypes
_ctypes.CDLL(None).prctl(15, b"MARKER", 0, 0, 0)  # PR_SET_NAME
"""


def processes_named(marker: str) -> list[int]:
    """Pids on this machine whose name (comm) is ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == marker:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def attack(exercise: str, source: str, *, limits: Limits = LIMITS, mark: bool = True, **values):
    """Run a submission with ``source`` as ``exercise``'s cell and the canonical solutions
    elsewhere; check the other exercises, the wall time and that nothing survives; return the
    SubmissionRun for the attack's own assertions. ``values`` replace words in the source."""
    marker = "hx" + secrets.token_hex(6)
    source = (MARK + source if mark else source).replace("MARKER", marker)
    for word, value in values.items():
        source = source.replace(word, str(value))
    cells = {name: variant.source for name, variant in CANONICAL.items()}
    cells[exercise] = source
    started = time.monotonic()
    result = run_submission(SETUP_SOURCE, cells, CALLS, limits=limits, sandbox=True)
    assert time.monotonic() - started < WALL_SECONDS
    for name in EXERCISE_NAMES:
        if name != exercise:
            assert_correct(result, name)
    deadline = time.monotonic() + 2
    while processes_named(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_named(marker) == [], "a process of the submission survived"
    return result


def assert_correct(result, name: str) -> None:
    """Every call of ``name`` returned what the reference returns (first item of tuples)."""
    assert name not in result.exercise_errors, (name, result.exercise_errors)
    for outcome, call in zip(result.outcomes[name], CALLS[name], strict=True):
        assert outcome.error is None, (name, outcome.error)
        expected = getattr(reference, name)(*call.args)
        got = outcome.returned
        if isinstance(expected, tuple):
            got, expected = got[0], expected[0]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def only_outcome(result, name: str):
    (outcome,) = result.outcomes[name][:1]
    return outcome


# -------------------------------------------------------------------- the baseline


def test_the_canonical_solution_is_graded_intact_in_one_sandbox():
    """Does the canonical solution come back intact from a single sandbox start?"""
    result = attack("zero_pad", CANONICAL["zero_pad"].source)
    assert_correct(result, "zero_pad")
    assert result.children == 1 and result.exercise_errors == {} and result.setup_error is None


def test_the_sandbox_is_unprivileged_single_threaded_and_isolated(monkeypatch):
    """Does student code run as a non-root uid without capabilities, with single-threaded
    NumPy, a minimal environment (no grader secret) and a hostname of its own?"""
    source = """
import os, socket
def zero_pad(X, pad):
    np.dot(np.ones((500, 500)), np.ones((500, 500)))
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status").read().splitlines()
    )
    return {
        "uid": os.getuid(),
        "capabilities": status["CapEff"].strip(),
        "threads": len(os.listdir("/proc/self/task")),
        "environment": sorted(os.environ),
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
    }
"""
    monkeypatch.setenv("GRADER_SECRET", "course-secret")
    result = attack("zero_pad", source)
    seen = only_outcome(result, "zero_pad").returned
    assert seen["uid"] != 0 and seen["capabilities"] == "0000000000000000"
    assert seen["threads"] == 1
    assert set(seen["environment"]) - {"PWD"} == set(sandbox.CHILD_ENVIRONMENT)
    assert seen["hostname"] == "sandbox" and seen["cwd"] == sandbox.SANDBOX_WORK


def test_submissions_never_see_each_other():
    """Can a submission leave a file in /tmp for the next one? (Nothing is writable.)"""
    source = """
import os
def zero_pad(X, pad):
    seen = os.listdir("/tmp")
    try:
        open("/tmp/left-behind", "w").write("x")
    except OSError as error:
        return seen, error.strerror
    return seen, "written"
"""
    for _ in range(2):
        returned = only_outcome(attack("zero_pad", source), "zero_pad").returned
        assert returned == ([], "Read-only file system")


def test_kernel_interfaces_beyond_plain_computing_are_refused():
    """Are nested namespaces, mounts, ptrace, keyrings and BPF refused (seccomp), while fork
    and threads still work?"""
    source = """
import ctypes, os, threading
def zero_pad(X, pad):
    libc = ctypes.CDLL(None, use_errno=True)
    def errno_of(number, *args):
        return "allowed" if libc.syscall(number, *args) == 0 else os.strerror(ctypes.get_errno())
    seen = {
        "unshare(user)": errno_of(272, 0x10000000),
        "unshare(net)": errno_of(272, 0x40000000),
        "mount": errno_of(165, b"none", b"/tmp", b"tmpfs", 0, 0),
        "ptrace(attach 1)": errno_of(101, 16, 1, 0, 0),
        "keyctl": errno_of(250, 0, 0, 0, 0),
        "bpf": errno_of(321, 0, 0, 0),
        "io_uring_setup": errno_of(425, 1, 0),
    }
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    seen["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    seen["thread"] = "ran"
    return seen
"""
    seen = only_outcome(attack("zero_pad", source), "zero_pad").returned
    assert seen.pop("fork") == 7 and seen.pop("thread") == "ran"
    assert set(seen.values()) == {"Operation not permitted"}, seen


def test_the_user_namespace_sandbox_used_by_non_root_graders_works(monkeypatch):
    """Does the sandbox built for a grader that is not root (bubblewrap's user namespace
    instead of a dropped uid) grade the canonical solution too?"""
    monkeypatch.setattr(bubblewrap, "runs_as_root", lambda: False)
    monkeypatch.setattr(sandbox, "runs_as_root", lambda: False)
    monkeypatch.setattr(bubblewrap, "_probe_result", {})
    result = attack("zero_pad", CANONICAL["zero_pad"].source)
    assert_correct(result, "zero_pad")
    assert result.children == 1


@pytest.mark.parametrize(
    ("setup", "cells", "calls"),
    [
        (None, {}, {}),
        (SETUP_SOURCE, {"zero_pad": b"def zero_pad(X, pad): pass"}, {}),
        (SETUP_SOURCE, {}, {"zero_pad": [(np.ones(2), 1)]}),
    ],
    ids=["setup-not-str", "cell-not-str", "call-not-Call"],
)
def test_malformed_arguments_are_a_grader_error_not_a_student_failure(setup, cells, calls):
    """Is a source that is not str, or a call that is not a Call, refused with TypeError?"""
    with pytest.raises(TypeError):
        run_submission(setup, cells, calls)


def test_without_bubblewrap_the_sandbox_refuses_and_says_how_to_install_it(monkeypatch):
    """Without bwrap on PATH, does run_submission raise SandboxUnavailable naming the fix?"""
    monkeypatch.setattr(bubblewrap, "_probe_result", {})
    monkeypatch.setattr(bubblewrap.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_submission(SETUP_SOURCE, {}, {"zero_pad": CALLS["zero_pad"]})


# -------------------------------------------------------- cheating the verdict in-process


def test_patching_numpy_builtins_and_hooks_cannot_change_a_verdict():
    """Do patched np.allclose/np.testing/builtins and custom sys hooks leave a wrong answer
    wrong (verdicts are computed outside) and every other exercise intact?"""
    source = """
import builtins, sys
import numpy
numpy.allclose = lambda *args, **kwargs: True
numpy.array_equal = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
builtins.isinstance = lambda *args: True
builtins.AssertionError = KeyboardInterrupt
sys.displayhook = lambda value: None
sys.excepthook = lambda *args: None

def conv_forward(A_prev, W, b, hparameters):
    return "wrong", None
"""
    result = attack("conv_forward", source)
    assert only_outcome(result, "conv_forward").returned == ("wrong", None)


# ---------------------------------------------------------------- the file system


def test_student_code_reads_nothing_of_the_grader_course_gradebook_or_other_submissions(
    tmp_path,
):
    """Are the reference, the instructors' course directory, a gradebook, other submissions
    and the host's secrets all invisible?"""
    course = tmp_path / "course"
    (course / "submitted" / "bob").mkdir(parents=True)
    (course / "gradebook.db").write_text("grades")
    (course / "submitted" / "bob" / "assignment.ipynb").write_text("bob's answers")
    source = """
import os
def zero_pad(X, pad):
    paths = [
        "/work/main/grader/reference.py", "/work/main/course/nbgrader_config.py",
        "COURSE/gradebook.db", "COURSE/submitted/bob/assignment.ipynb",
        "/etc/shadow", "/etc/passwd", "/root/.bash_history", "/proc/1/environ",
        "/proc/1/root/etc/hostname",
    ]
    seen = {}
    for path in paths:
        try:
            with open(path, "rb") as file:
                seen[path] = "read %d bytes" % len(file.read())
        except OSError as error:
            seen[path] = type(error).__name__
    return seen, sorted(os.listdir("/")), sorted(os.listdir("/sandbox/work"))
"""
    result = attack("zero_pad", source, COURSE=course)
    seen, root, work = only_outcome(result, "zero_pad").returned
    assert not [path for path, what in seen.items() if what.startswith("read")], seen
    assert set(root) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc"} | {
        "dev",
        "tmp",
        "sandbox",
        "root",  # only the Python prefix under it (pyenv), mounted read-only
    }
    assert set(work) <= {"public_tests.py", "public_tests_data.npz"}


def test_the_sandboxed_python_command_imports_numpy_and_sees_nothing_of_the_host():
    """Does ``sandboxed_python_command`` (the benchmark's floor) run in the harness's sandbox:
    NumPy importable from the same site-packages, the repository, /etc and /root's files
    invisible, the seccomp filter applied?"""
    code = """
import ctypes, os, numpy
print(numpy.__version__)
print(sorted(os.path.exists(p) for p in ("/work/main", "/work", "/etc/passwd", "/root/.bashrc")))
print(os.getcwd(), os.listdir("."))
libc = ctypes.CDLL(None, use_errno=True)
refused = libc.unshare(0x10000000) != 0  # CLONE_NEWUSER
print("unshare refused" if refused else "unshare allowed", ctypes.get_errno())
"""
    with sandbox.SeccompFile() as seccomp:
        completed = subprocess.run(
            sandbox.sandboxed_python_command(code, seccomp_fd=seccomp.fd),
            capture_output=True,
            text=True,
            timeout=WALL_SECONDS,
            pass_fds=seccomp.pass_fds,
        )
    assert completed.returncode == 0, completed.stderr
    version, exists, cwd, unshare = completed.stdout.splitlines()
    assert version == np.__version__
    assert exists == str([False] * 4)
    assert cwd == "/sandbox/work []"
    assert unshare.startswith("unshare refused") or seccomp.fd is None, unshare


def test_student_code_can_write_nothing_anywhere(tmp_path):
    """Can student code write to /work, /root, /tmp, /dev, /dev/shm, the root, the staged files
    or the Python installation? (The sandbox has no writable filesystem at all.)"""
    name = "written-" + secrets.token_hex(6)
    host_paths = [Path("/work/main") / name, Path("/root") / name, Path("/tmp") / name]
    host_paths.append(tmp_path / name)
    targets = [str(path) for path in host_paths]
    targets += [f"/dev/shm/{name}", f"/dev/{name}", f"/{name}", f"/sandbox/{name}"]
    targets += ["/sandbox/work/public_tests.py", np.__file__]
    source = """
def zero_pad(X, pad):
    seen = {}
    for path in TARGETS:
        try:
            with open(path, "a") as file:
                file.write("owned")
            seen[path] = "written"
        except OSError as error:
            seen[path] = type(error).__name__
    return seen
"""
    result = attack("zero_pad", source, TARGETS=targets)
    seen = only_outcome(result, "zero_pad").returned
    assert [path for path, what in seen.items() if what == "written"] == []
    assert not [path for path in host_paths if path.exists()]
    assert not Path(np.__file__).read_text().endswith("owned")


# --------------------------------------------------------------------------- network


def test_there_is_no_network_not_even_the_hosts_loopback():
    """Can student code reach a server listening on the host's 127.0.0.1, or route anywhere?
    (Only loopback and a UDP connect, which sends nothing, are tried: no traffic can leave.)"""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    source = """
import socket
def zero_pad(X, pad):
    seen = {"interfaces": [name for _, name in socket.if_nameindex()]}
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
        seen["loopback"] = "connected"
    except OSError as error:
        seen["loopback"] = type(error).__name__
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1; a UDP connect sends no packet
        seen["route"] = "routable"
    except OSError as error:
        seen["route"] = type(error).__name__
    return seen
"""
    try:
        result = attack("zero_pad", source, PORT=server.getsockname()[1])
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
    seen = only_outcome(result, "zero_pad").returned
    assert seen["interfaces"] == ["lo"]
    assert seen["loopback"] == "ConnectionRefusedError" and seen["route"] == "OSError"


# ------------------------------------------------------------------------------ time


@pytest.mark.parametrize(
    "body",
    [
        "while True:\n        pass",
        "import time\n    time.sleep(10**6)",
        # swallows KeyboardInterrupt and ignores SIGTERM: only SIGKILL ends it
        "import signal\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n"
        "        try:\n            while True:\n                pass\n"
        "        except BaseException:\n            pass",
    ],
    ids=["infinite-loop", "sleep-forever", "unkillable-loop"],
)
def test_a_hang_costs_its_exercise_a_timeout(body):
    """Does a hanging exercise get "timeout after 2 s" while the rest are graded?"""
    result = attack("conv_forward", f"def conv_forward(*args):\n    {body}\n")
    assert result.exercise_errors["conv_forward"] == "timeout after 2 s"
    assert only_outcome(result, "conv_forward").error == "timeout"
    assert result.children == 1  # the zygote killed it: no fresh sandbox needed


def test_a_hang_while_running_the_cell_costs_only_that_exercise():
    """Does an endless loop at the top level of one cell fail that exercise only?"""
    result = attack("pool_forward", "while True:\n    pass\n")
    assert result.exercise_errors["pool_forward"].startswith("timeout after 2 s")
    assert "while running the cell" in result.exercise_errors["pool_forward"]
    assert {outcome.error for outcome in result.outcomes["pool_forward"]} == {"timeout"}


def test_the_submission_time_limit_stops_everything_left():
    """When the submission's wall clock runs out, are the exercises left marked as timed out
    rather than run?"""
    limits = Limits(exercise_seconds=2, submission_seconds=1.5)
    cells = {name: variant.source for name, variant in CANONICAL.items()}
    cells["zero_pad"] = "def zero_pad(X, pad):\n    while True:\n        pass\n"
    started = time.monotonic()
    result = run_submission(SETUP_SOURCE, cells, CALLS, limits=limits)
    assert time.monotonic() - started < 5
    assert result.exercise_errors["zero_pad"].startswith("timeout: the submission's 1.5 s")
    assert all(error.startswith("timeout") for error in result.exercise_errors.values())
    assert set(result.exercise_errors) == set(EXERCISE_NAMES)


# ---------------------------------------------------------------------- processes


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("import os\n    os._exit(0)", "crashed: the process exited (status 0) before finishing"),
        ("import os\n    os.kill(os.getpid(), 9)", "crashed: killed by signal 9 (SIGKILL"),
        ("import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)", "crashed: killed by "),
        ("import os\n    os.closerange(0, 1024)\n    return 1", "crashed: the process exited"),
    ],
    ids=["os._exit(0)", "kill-itself", "segfault", "close-every-fd"],
)
def test_a_process_that_dies_costs_its_exercise_a_crash(body, why):
    """Does a child that exits or is killed mid-exercise fail only that exercise?"""
    result = attack("conv_backward", f"def conv_backward(*args):\n    {body}\n")
    assert result.exercise_errors["conv_backward"].startswith(why)
    assert only_outcome(result, "conv_backward").error.startswith("crashed")


def test_killing_the_parent_and_every_visible_process_harms_nothing():
    """Can os.kill(os.getppid(), 9), kill(-1, 9) or killing every pid in /proc reach the
    grader? (It sees only its own pid namespace.)"""
    source = """
import os
def zero_pad(X, pad):
    seen = {}
    for target in [os.getppid(), -1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        if target == os.getpid():
            continue
        try:
            os.kill(target, 9)
            seen[str(target)] = "sent"
        except OSError as error:
            seen[str(target)] = type(error).__name__
    return seen
"""
    result = attack("zero_pad", source)
    seen = only_outcome(result, "zero_pad").returned
    assert seen["1"] == "PermissionError"  # the sandbox's init, its parent
    assert os.getppid() > 1  # this test process is alive and still has its parent


def test_a_fork_bomb_is_bounded_by_the_process_limit():
    """Is a fork bomb stopped by RLIMIT_NPROC (not the machine's), and killed afterwards?"""
    source = """
import os, time
def distribute_value(dz, shape):
    children = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
    except OSError as error:
        return children, type(error).__name__
"""
    result = attack("distribute_value", source)
    children, error = only_outcome(result, "distribute_value").returned
    assert error == "BlockingIOError" and children < LIMITS.processes


def test_a_detached_daemon_does_not_survive_the_run():
    """Does a double-forked, setsid'd background process die with the sandbox?"""
    source = """
import os, time
def create_mask_from_window(x):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for fd in range(3):
                os.close(fd)
            time.sleep(600)
        os._exit(0)
    os.wait()
    return x == np.max(x)
"""
    result = attack("create_mask_from_window", source)
    assert_correct(result, "create_mask_from_window")
    assert result.children == 1  # killed by the zygote before the next exercise started


def test_a_thread_left_spinning_does_not_slow_the_other_exercises():
    """Does a busy thread left behind by an exercise die with its process?"""
    source = """
import threading
def busy():
    while True:
        pass
def zero_pad(X, pad):
    threading.Thread(target=busy).start()
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
"""
    result = attack("zero_pad", source)
    assert_correct(result, "zero_pad")
    assert result.children == 1


def test_a_cell_that_starts_a_thread_or_process_changes_nothing_else():
    """Does a thread or process started by a cell stay in its own exercise (graded as usual)
    and die with it?"""
    source = (
        "import os, threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
    )
    source += "if os.fork() == 0:\n    time.sleep(600)\n"
    source += CANONICAL["pool_backward"].source
    result = attack("pool_backward", source)
    assert_correct(result, "pool_backward")


# ------------------------------------------------------------------------- resources


def test_a_memory_bomb_fails_its_own_exercise():
    """Does allocating without end end in MemoryError (RLIMIT_AS) for that exercise only?"""
    source = """
def conv_single_step(a_slice_prev, W, b):
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))
"""
    result = attack("conv_single_step", source)
    error = only_outcome(result, "conv_single_step").error
    assert error == "MemoryError" or error.startswith("crashed")


def test_gigabytes_of_output_cost_only_their_exercise():
    """Is printing without end cut at the output cap, charged as "output too large"?"""
    source = """
import os, sys
def pool_forward(*args):
    line = b"spam " * 200_000
    while True:
        os.write(1, line)
        sys.stderr.write("eggs\\n")
"""
    result = attack("pool_forward", source)
    assert result.exercise_errors["pool_forward"].startswith("output too large")
    assert {outcome.error for outcome in result.outcomes["pool_forward"]} == {"output too large"}
    assert LIMITS.output_bytes < result.output_bytes < LIMITS.output_bytes + (8 << 20)
    assert len(result.output_tail) <= sandbox.OUTPUT_TAIL_BYTES + 1000


def test_large_results_on_every_call_cost_only_their_exercise():
    """Is an exercise whose calls send back more than result_bytes in all stopped and charged
    "output too large" (the grader never holds it), the others intact?"""
    source = """
def pool_forward(A_prev, hparameters, mode="max"):
    return np.zeros(100_000), None
"""
    limits = Limits(exercise_seconds=2, memory_bytes=512 << 20, result_bytes=1 << 20)
    result = attack("pool_forward", source, limits=limits)
    assert result.exercise_errors["pool_forward"].startswith("output too large: its calls")
    assert {outcome.error for outcome in result.outcomes["pool_forward"]} == {"output too large"}


def test_writing_a_huge_file_hits_the_file_size_limit():
    """Does writing a file beyond RLIMIT_FSIZE fail that exercise only?"""
    source = """
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
def zero_pad(X, pad):
    with open("/dev/null", "wb") as sink, open("/tmp/big", "wb") as file:
        while True:
            file.write(b"x" * (1 << 20))
"""
    result = attack("zero_pad", source)
    assert only_outcome(result, "zero_pad").error.startswith("OSError: [Errno 30] Read-only")


@pytest.mark.parametrize("limit", [None, 10**6], ids=["default-limit", "limit-raised"])
def test_deep_recursion_fails_its_exercise_only(limit):
    """Does runaway recursion (even with the recursion limit raised) fail only its exercise?"""
    source = """
import sys
def down(n):
    return down(n + 1) + 1
def zero_pad(X, pad):
    if LIMIT:
        sys.setrecursionlimit(LIMIT)
    return down(0)
"""
    result = attack("zero_pad", source, LIMIT=limit)
    error = only_outcome(result, "zero_pad").error
    if limit is None:
        assert error.startswith("RecursionError: maximum recursion depth exceeded")
    else:
        assert error.startswith(("RecursionError", "MemoryError", "timeout", "crashed"))


# ------------------------------------------------------------------------ the protocol


def test_fake_frames_on_every_inherited_fd_cost_only_their_exercise():
    """Do garbage and forged frames written to every fd (the result channel included) fail
    only the exercise that wrote them?"""
    source = """
import os, struct
def conv_forward(*args):
    fake = b"CNNw" + bytes(16) + struct.pack("<Q", 12) + b"[\\"done\\"]" + b"\\0" * 4
    for fd in range(1024):
        try:
            os.write(fd, fake)
        except OSError:
            pass
    return "forged"
"""
    result = attack("conv_forward", source)
    assert result.exercise_errors["conv_forward"].startswith("crashed: protocol violation")
    assert only_outcome(result, "conv_forward").error == "crashed: protocol violation"


def test_frames_forged_with_the_real_nonce_are_caught_and_discarded():
    """Can code that finds the run's nonce in memory forge a result for a later exercise or
    for its own calls? (The grader expects an exact sequence and discards a tainted stream.)"""
    source = """
import gc, sys
def zero_pad(X, pad):
    wire = sys.modules["wire"]
    for channel in [o for o in gc.get_objects() if type(o).__name__ == "_Channel"]:
        for exercise, index in (("zero_pad", 0), ("pool_forward", 0)):
            report = {"kind": "outcome", "exercise": exercise, "index": index,
                      "returned": "forged", "error": None, "args_after": None}
            try:
                wire.write_frame(channel.fd, channel.nonce, wire.dumps(report))
            except OSError:
                pass  # the zygote's status channel: closed in this process
    return "genuine"
"""
    result = attack("zero_pad", source)
    assert result.exercise_errors["zero_pad"].startswith("crashed: protocol violation")
    assert only_outcome(result, "zero_pad").returned is None  # the forged one was discarded


# ------------------------------------------------------------------- what comes back


def test_returned_nan_lying_subclasses_and_unencodable_objects_arrive_as_plain_data():
    """Do NaN, an ndarray subclass that lies about equality, an unpicklable object and an
    over-large array arrive as NaN, a plain ndarray, Unsupported and "output too large"?"""
    source = """
import threading
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def __array_finalize__(self, obj):
        pass
def conv_single_step(a_slice_prev, W, b):
    return float("nan")
def create_mask_from_window(x):
    return (x == np.max(x)).view(Liar)
def distribute_value(dz, shape):
    return threading.Lock(), (i for i in range(3)), lambda: 0
def zero_pad(X, pad):
    return np.zeros(100 << 20, dtype=np.uint8)
"""
    limits = Limits(exercise_seconds=2, memory_bytes=1 << 30)
    cells = {name: variant.source for name, variant in CANONICAL.items()}
    for name in ("conv_single_step", "create_mask_from_window", "distribute_value", "zero_pad"):
        cells[name] = source
    result = run_submission(SETUP_SOURCE, cells, CALLS, limits=limits)
    assert np.isnan(only_outcome(result, "conv_single_step").returned)
    mask = only_outcome(result, "create_mask_from_window").returned
    assert type(mask) is np.ndarray
    expected = reference.create_mask_from_window(*CALLS["create_mask_from_window"][0].args)
    assert (mask == expected).all() and not (mask == ~expected).all()
    assert all(
        type(item) is Unsupported for item in only_outcome(result, "distribute_value").returned
    )
    assert only_outcome(result, "zero_pad").error == "output too large"
    for name in ("conv_forward", "pool_forward", "conv_backward", "pool_backward"):
        assert_correct(result, name)


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        ("def conv_forward(A_prev, W, b, hparameters)\n    return 1\n", "SyntaxError"),
        ("import os\nos.chdir(os.environ['NOPE'])\n", "KeyError: 'NOPE'"),
        ("%timeit 1\n!rm -rf /\n" + CANONICAL["conv_forward"].source, None),
    ],
    ids=["syntax-error", "import-time-exception", "magics-and-shell"],
)
def test_broken_cells_cost_only_their_exercise(cell, error):
    """Does a cell with a SyntaxError or an exception at import time fail only its exercise,
    and one with %timeit/!rm lines run as plain Python (the shell line does nothing)?"""
    result = attack("conv_forward", cell)
    if error is None:
        assert_correct(result, "conv_forward")
    else:
        assert result.exercise_errors["conv_forward"].startswith(error)
        assert only_outcome(result, "conv_forward").error == "not found"


# ------------------------------------------------------------- one process per exercise

PROBE_OTHERS = """
import os, signal
def zero_pad(X, pad):
    me, seen = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        for what in ("mem", "environ", "fd/0", "maps"):
            try:
                with open(f"/proc/{entry}/{what}", "rb") as file:
                    file.read(1)
                seen[f"{entry}/{what}"] = "read"
            except OSError as error:
                seen[f"{entry}/{what}"] = type(error).__name__
        try:
            os.kill(int(entry), 0)
            seen[f"{entry}/signal"] = "allowed"
        except OSError as error:
            seen[f"{entry}/signal"] = type(error).__name__
    return seen
"""


@pytest.mark.parametrize("root", [True, False], ids=["own-uid", "user-namespace"])
def test_an_exercise_reaches_no_other_process_memory_or_descriptors(root, monkeypatch):
    """From inside an exercise's process, can /proc give the memory, environment, descriptors
    or mappings of the zygote or bubblewrap (its own uid when root; non-dumpable processes in
    a user namespace), and can it signal them when it has its own uid?"""
    if not root:
        monkeypatch.setattr(bubblewrap, "runs_as_root", lambda: False)
        monkeypatch.setattr(sandbox, "runs_as_root", lambda: False)
        monkeypatch.setattr(bubblewrap, "_probe_result", {})
    result = attack("zero_pad", PROBE_OTHERS)
    seen = only_outcome(result, "zero_pad").returned
    assert seen, "no other process is visible: the probe proves nothing"
    assert not [key for key, what in seen.items() if what == "read"], seen
    if root:
        assert not [key for key, what in seen.items() if what == "allowed"], seen


def test_each_exercise_has_a_fresh_process_and_uid():
    """Are two exercises graded in two processes (distinct pids, and distinct uids when root)?"""
    source = "import os\ndef {name}(*args):\n    return os.getpid(), os.getuid()\n"
    cells = {name: source.format(name=name) for name in ("zero_pad", "conv_single_step")}
    calls = {name: CALLS[name][:1] for name in cells}
    result = run_submission(SETUP_SOURCE, cells, calls, limits=LIMITS)
    first = result.outcomes["zero_pad"][0].returned
    second = result.outcomes["conv_single_step"][0].returned
    assert first[0] != second[0]
    if os.geteuid() == 0:
        assert first[1] != second[1] and 0 not in (first[1], second[1])


@pytest.mark.parametrize("root", [True, False], ids=["own-uid", "user-namespace"])
def test_the_zygote_shrugs_off_an_exercise_signalling_it(root, monkeypatch):
    """Does SIGKILL, SIGSTOP or SIGTERM sent to the sandbox's init (the zygote) by an exercise
    change nothing: no lost sandbox, every other exercise graded in the same one?"""
    if not root:
        monkeypatch.setattr(bubblewrap, "runs_as_root", lambda: False)
        monkeypatch.setattr(sandbox, "runs_as_root", lambda: False)
        monkeypatch.setattr(bubblewrap, "_probe_result", {})
    source = """
import os, signal
def zero_pad(X, pad):
    for number in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(1, number)
        except OSError:
            pass
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
"""
    result = attack("zero_pad", source)
    assert_correct(result, "zero_pad")
    assert result.children == 1


# ------------------------------------------------ root without the capabilities the sandbox keeps

REPO_ROOT = Path(__file__).resolve().parent.parent
# What grading a notebook looks like from the command line when require_sandbox() is skipped:
# the sandbox's own report, not the up-front probe, must then stop the run.
WITHOUT_PROBE = (
    "import sys\n"
    "from grader import bubblewrap, cli\n"
    "bubblewrap._probe_result[True] = None\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


def grade_as_root_without(capability: str, tmp_path: Path, *, probe: bool = True):
    """`python -m grader grade examples/bob.ipynb --csv FILE` as root whose bounding set lacks
    ``capability`` (a container given fewer capabilities): (the completed process, the CSV's
    lines). ``probe=False`` skips require_sandbox()'s probe, as if it had passed."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux)")
    csv_path = tmp_path / "grades.csv"
    grader = ["-m", "grader"] if probe else ["-c", WITHOUT_PROBE]
    command = ["setpriv", "--inh-caps=-all", f"--bounding-set=-{capability.lower()}", "--"]
    command += [sys.executable, *grader, "grade", str(REPO_ROOT / "examples" / "bob.ipynb")]
    command += ["--csv", str(csv_path), "--quiet"]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = csv_path.read_text().splitlines() if csv_path.exists() else []
    return completed, lines


@pytest.mark.parametrize("capability", ["SETUID", "SETGID", "KILL"])
def test_root_without_a_capability_the_sandbox_keeps_refuses_to_grade_and_names_it(
    capability, tmp_path
):
    """As root without CAP_SETUID (or CAP_SETGID), where bubblewrap still builds a sandbox but no
    exercise could take its own uid, does `grade` refuse before grading anything (exit 3), naming
    the missing capability and what to give the container, instead of scoring every exercise 0?
    And without CAP_KILL, which the zygote needs to kill what an exercise leaves running?"""
    completed, lines = grade_as_root_without(capability, tmp_path)
    assert (completed.returncode, lines) == (3, []), (completed.stderr, lines)
    assert f"CAP_{capability}" in completed.stderr
    assert "--cap-add" in completed.stderr and "capabilities" in completed.stderr


@pytest.mark.parametrize("capability", ["SETUID", "SETGID"])
def test_an_exercise_that_cannot_take_its_uid_stops_the_run_instead_of_scoring_zero(
    capability, tmp_path
):
    """Should the probe pass and an exercise's process still fail to take its own uid, does the
    run stop as if the sandbox were missing (exit 3, no grade written, the capability named)
    rather than charge a crash to every exercise and write a 0 that looks like a grade?"""
    completed, lines = grade_as_root_without(capability, tmp_path, probe=False)
    assert (completed.returncode, lines) == (3, []), (completed.stderr, lines)
    assert f"CAP_{capability}" in completed.stderr
    assert "before running any student code" in completed.stderr
