"""Running a submission's code in the sandbox, one process per exercise, as plain-data outcomes.

Owns: one submission's run: the bubblewrap sandbox and its zygote (``grader/harness.py``, with
``grader.bubblewrap``, ``grader.seccomp``, ``grader.memory_bound``), the order of the exercises,
the per-exercise limits, and the state every exercise's outcome is gathered in; each exercise's
own protocol is ``grader.exercise_run``. It guarantees:

- Each exercise is graded in a process of its own, forked by the sandbox's zygote (NumPy is
  imported once per sandbox), that runs the trusted setup and that exercise's cell only, holds
  the stand-ins of the other exercises only (``grader.stand_ins``) and is killed, with every
  process it started, before the next exercise's process exists (the harness's docstring gives
  the whole security argument). So no cell can change another exercise's verdict.
- Each exercise has its own three pipes (its job and calls in, its reports out, its printed
  output out), made here before the sandbox starts: nothing one exercise writes can be read as
  another's, and an exercise's output and reports end exactly when its processes are gone.
- Public calls first, hidden calls only after every public outcome has arrived; what comes back
  for a hidden call keeps only the grader's words (``grader.exercise_run.hidden_safe``).
- A hang, crash, flood of output or protocol violation in exercise X is charged to X alone
  ("timeout after 10 s", "crashed: ..."); outcomes received before it are kept (except after a
  protocol violation, which taints the stream). Should the zygote itself be lost, the sandbox is
  killed whole and a fresh one grades the exercises left.
- A failure before any student code ran is never charged to an exercise: an exercise's process
  whose set-up the kernel refused (its own uid: a container without CAP_SETUID, say) raises
  SandboxUnavailable, as ``require_sandbox`` would have (it probes the same set-up), and one
  that failed otherwise before reporting "ready" raises SandboxError. Nothing is graded then:
  a zero for every exercise would look like a grade.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import selectors
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from grader import wire
from grader.bubblewrap import (  # noqa: F401  (re-exported: the sandbox's public interface)
    CHILD_ENVIRONMENT,
    SANDBOX_HARNESS,
    SANDBOX_SITE,
    SANDBOX_WORK,
    SandboxUnavailable,
    Stage,
    bwrap_arguments,
    interpreter,
    not_isolated_problem,
    refuse_sandbox,
    require_sandbox,
    runs_as_root,
    sandboxed_python_command,
    site_directories,
)
from grader.calls import Call, Outcome
from grader.exercise_run import (
    ERROR_CHARS,
    JOB_NONCE,
    ExerciseFailedError,
    ExerciseRun,
    NotIsolatedError,
    Pipe,
    Slot,
    ZygoteLostError,
    read_available,
)
from grader.memory_bound import MemoryBound
from grader.seccomp import SeccompFile, seccomp_program  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

STARTUP_SECONDS = 30.0  # Python + NumPy import, before any student code: an infrastructure limit
OUTPUT_TAIL_BYTES = 64 << 10


class SandboxError(RuntimeError):
    """The sandbox failed before any student code ran (an infrastructure fault, never a grade)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's run (all of them apply with or without bubblewrap,
    except ``processes``, which needs the sandbox's own uids).

    cpu_seconds        -- RLIMIT_CPU of each exercise's process (60)
    memory_bytes       -- RLIMIT_AS of each process: address space, NumPy included (1 GiB)
    processes          -- RLIMIT_NPROC: processes + threads of one exercise (8; with
                          memory_bytes and no writable filesystem, it bounds what one exercise
                          can hold: 8 GiB at worst, and only while it runs)
    file_size_bytes    -- RLIMIT_FSIZE (16 MiB; nothing is writable anyway)
    open_files         -- RLIMIT_NOFILE (64)
    output_bytes       -- printed output (stdout + stderr) allowed per exercise; more is a failure
                          of that exercise, "output too large" (16 MiB)
    result_bytes       -- what one exercise's calls may send back in all (returned values and
                          arguments after, as encoded); more is "output too large" (64 MiB), so
                          the grader never holds more than this per exercise
    exercise_seconds   -- wall clock for running one exercise's cell, and separately for its
                          calls (10 s)
    submission_seconds -- wall clock for the whole submission, restarts included (120 s)
    sandbox_memory_bytes -- memory of the whole sandbox, kernel memory included, where a memory
                          cgroup can be had (``grader.memory_bound``; 2 GiB)
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    processes: int = 8
    file_size_bytes: int = 16 << 20
    open_files: int = 64
    output_bytes: int = 16 << 20
    result_bytes: int = 64 << 20
    exercise_seconds: float = 10.0
    submission_seconds: float = 120.0
    sandbox_memory_bytes: int = 2 << 30


@dataclass(frozen=True)
class SubmissionRun:
    """What running one submission gave, as plain data decoded in the trusted process.

    outcomes        -- {exercise: one Outcome per Call, in order}, for every exercise requested
    exercise_errors -- {exercise: why it failed as a whole}: "timeout after 10 s", "crashed: ...",
                       "output too large: ...", "SyntaxError: ... (line 3)", "not found: ...";
                       absent for exercises whose calls all ran (each Outcome says how)
    output_bytes    -- bytes the student's code printed (stdout + stderr, every process)
    output_tail     -- the last 64 KiB of that output, with the grader's notes (for instructors
                       only: never show it to students)
    setup_error     -- the setup cell's exception, or None
    cell_errors     -- {exercise: exception raised while running its cell}, even when the
                       function was defined before it (informational)
    children        -- sandboxes started (1 normally; one more each time the zygote was lost)
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
    """Grade every exercise of ``calls``: for each, ``setup`` then its own cell, then its calls,
    in a process of its own inside one sandbox.

    setup         -- source of the setup cell (``import numpy as np`` ...), run first
    cells         -- {exercise name: source of its graded cell}; an exercise without a cell, or
                     whose cell does not define it, gets Outcome(error="not found") for each call
    calls         -- {exercise name: the Calls to make}; ``Call.hidden`` ones are sent only
                     after every public call of the exercise has answered
    limits        -- resource limits (see Limits)
    sandbox       -- False: no bubblewrap, only rlimits and timeouts (development only; logs a
                     warning): the code can read and write anything you can, signal your
                     processes, and a detached process of it survives the run
    support_files -- files put read-only in the working directory; None: the repository's
                     public_tests.py and public_tests_data.npz
    Raises SandboxUnavailable (sandbox=True and bubblewrap cannot run, or the kernel refused an
    exercise's process its own uid there: this process then refuses every later run) and
    SandboxError (the harness or an exercise's process failed before running student code:
    never the student's fault).
    """
    started = time.monotonic()
    _check_arguments(setup, cells, calls)
    if sandbox:
        require_sandbox()
    else:
        log.warning("running student code WITHOUT the sandbox (development only)")
    state = _State(
        setup=setup,
        cells=dict(cells),
        pending=_notebook_order(calls),
        calls={name: list(calls[name]) for name in calls},
        deadline=started + limits.submission_seconds,
    )
    state.reject_missing_and_oversized_cells()
    with Stage(support_files) as stage:
        while state.pending:
            if time.monotonic() >= state.deadline:
                state.fail_all(
                    "timeout", f"timeout: the submission's {limits.submission_seconds:g} s ran out"
                )
                break
            before = len(state.pending)
            _Sandbox(state, stage, limits, sandbox).run()
            if len(state.pending) == before:  # cannot happen; never loop forever
                state.blame(state.pending[0], "crashed", "crashed: no progress")
    return state.result(time.monotonic() - started)


def _check_arguments(setup, cells, calls) -> None:
    """A TypeError for what can only be a grader bug (the student's code is always a str)."""
    if type(setup) is not str or not all(type(source) is str for source in cells.values()):
        raise TypeError("setup and every cell source must be str")
    for name, exercise_calls in calls.items():
        if not all(type(call) is Call for call in exercise_calls):
            raise TypeError(f"calls[{name!r}] must hold grader.calls.Call objects only")


# ------------------------------------------------------------------------------ the run's state


@dataclass
class _State:
    """Everything known so far about one submission's run (shared by its sandboxes)."""

    setup: str
    cells: dict[str, str]
    pending: list[str]
    calls: dict[str, list[Call]]
    deadline: float
    outcomes: dict[str, list[Outcome | None]] = field(default_factory=dict)
    exercise_errors: dict[str, str] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    setup_error: str | None = None
    output_bytes: int = 0
    output_tail: bytearray = field(default_factory=bytearray)
    children: int = 0

    def __post_init__(self):
        self.outcomes = {name: [None] * len(self.calls[name]) for name in self.pending}

    def reject_missing_and_oversized_cells(self) -> None:
        """Exercises that need no process: no cell, or a cell too large to send."""
        limit = wire.DEFAULT_CAPS.string_chars
        for name in list(self.pending):
            source = self.cells.get(name)
            if source is None:
                self.exercise_errors[name] = f"not found: no cell defines {name}()"
                self.outcomes[name] = [Outcome(error="not found") for _ in self.calls[name]]
                self.pending.remove(name)
            elif len(source.encode("utf-8", "surrogatepass")) > limit:
                self.cell_too_large(name)

    def cell_too_large(self, name: str) -> None:
        limit = wire.DEFAULT_CAPS.string_chars
        why = f"the cell is too large to be graded (its source is over {limit >> 20} MiB)"
        self.cell_errors[name] = why
        self.blame(name, "crashed: the cell is too large", why)

    def blame(self, name: str, short: str, why: str, *, keep: bool = True) -> None:
        """Exercise ``name`` fails as a whole: calls without an outcome get ``short``."""
        self.exercise_errors[name] = why[:ERROR_CHARS]
        outcomes = self.outcomes[name]
        for index, outcome in enumerate(outcomes):
            if outcome is None or not keep:
                outcomes[index] = Outcome(error=short)
        if name in self.pending:
            self.pending.remove(name)

    def fail_all(self, short: str, why: str) -> None:
        for name in list(self.pending):
            self.blame(name, short, why)

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


def _notebook_order(names: Iterable[str]) -> list[str]:
    from grader.exercises import EXERCISE_NAMES

    unique = list(dict.fromkeys(names))
    known = [name for name in EXERCISE_NAMES if name in unique]
    return known + [name for name in unique if name not in EXERCISE_NAMES]


# ------------------------------------------------------------------------------ one sandbox


class _Sandbox:
    """One bubblewrap sandbox: start the zygote, grade the pending exercises one by one, and
    leave ``state`` saying what happened to each."""

    def __init__(self, state: _State, stage: Stage, limits: Limits, sandbox: bool):
        self.state, self.stage, self.limits, self.sandbox = state, stage, limits, sandbox
        self.privileged = sandbox and runs_as_root()
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.selector = selectors.DefaultSelector()
        self.status = wire.FrameReader(self.nonce)
        self.status_messages: list = []
        self.status_closed = False
        self.process = None
        self.memory = MemoryBound(limits.sandbox_memory_bytes, limits.processes + 8)

    # -- the sandbox as a whole ----------------------------------------------------------------

    def run(self) -> None:
        self.state.children += 1
        names = list(self.state.pending)
        self.slots = {name: Slot() for name in names}
        self.control, self.status_pipe, self.log_pipe = Pipe(True), Pipe(False), Pipe(False)
        try:
            self.start(names)
            for name in names:
                if name not in self.state.pending:
                    continue
                if time.monotonic() >= self.state.deadline:
                    break
                if not self.exercise(name):
                    break
        finally:
            self.stop()

    def start(self, names: list[str]) -> None:
        inside = [pipe.inside for slot in self.slots.values() for pipe in slot.pipes]
        channels = (self.control.inside, self.status_pipe.inside)
        job = {
            "kind": "job",
            "nonce": self.nonce.hex(),
            "sandboxed": self.sandbox,
            "rlimits": [list(limit) for limit in self.rlimits()],
            "slots": [[name, [pipe.inside for pipe in self.slots[name].pipes]] for name in names],
        }
        os.set_blocking(self.control.here, True)
        if self.sandbox:
            self.memory.__enter__()
        with SeccompFile(enabled=self.sandbox) as seccomp:
            argv, environment = self.command(seccomp.fd)
            argv = self.memory.wrap(argv)
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self.log_pipe.inside,
                stderr=self.log_pipe.inside,
                pass_fds=(*inside, *channels, *seccomp.pass_fds),
                env=environment,
                cwd=None if self.sandbox else str(self.stage.work),
                start_new_session=True,
            )
        for slot in self.slots.values():
            for pipe in slot.pipes:
                pipe.close_inside()
        for pipe in (self.control, self.status_pipe, self.log_pipe):
            pipe.close_inside()
        self.send_control(job)
        self.selector.register(self.status_pipe.here, selectors.EVENT_READ, "status")
        self.selector.register(self.log_pipe.here, selectors.EVENT_READ, "log")
        deadline = time.monotonic() + STARTUP_SECONDS
        try:
            ready = self.next_status(deadline)
        except ZygoteLostError as lost:
            raise SandboxError(
                f"the sandbox failed before running any student code: {lost}\n"
                + self.state.output_tail[-4000:].decode("utf-8", errors="replace")
            ) from None
        if ready.get("kind") != "ready":
            raise SandboxError("the sandbox's harness did not start as expected")

    def rlimits(self) -> list[tuple[str, int, int]]:
        limits = self.limits
        rlimits = [
            ("RLIMIT_CPU", limits.cpu_seconds, limits.cpu_seconds + 1),
            ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
            ("RLIMIT_FSIZE", limits.file_size_bytes, limits.file_size_bytes),
            ("RLIMIT_NOFILE", limits.open_files, limits.open_files),
            ("RLIMIT_CORE", 0, 0),
        ]
        if self.sandbox:  # outside it, the count would be of all the caller's processes
            rlimits.append(("RLIMIT_NPROC", limits.processes, limits.processes))
        return rlimits

    def command(self, seccomp_fd: int | None) -> tuple[list[str], dict]:
        """(argv, environment) of the sandbox's zygote."""
        site = site_directories()
        # The zygote's channels are descriptors of its own, not stdin: bubblewrap's init keeps
        # stdin, stdout and stderr open, and must hold nothing an exercise could read.
        status = ["--status-fd", str(self.status_pipe.inside)]
        status += ["--control-fd", str(self.control.inside)]
        if not self.sandbox:
            argv = [interpreter(), "-S", "-B", str(self.stage.harness / "harness.py"), *status]
            argv += ["--work-dir", str(self.stage.work)]
            for directory in site:
                argv += ["--site-dir", directory]
            return argv, dict(CHILD_ENVIRONMENT)
        args = bwrap_arguments(self.stage.harness, self.stage.work, seccomp_fd)
        args += ["--", interpreter(), "-S", "-B", f"{SANDBOX_HARNESS}/harness.py", *status]
        args += ["--work-dir", SANDBOX_WORK, "--sandboxed"]
        for index in range(len(site)):
            args += ["--site-dir", f"{SANDBOX_SITE}/{index}"]
        return args, {"PATH": CHILD_ENVIRONMENT["PATH"]}

    def stop(self) -> None:
        """Kill the whole sandbox (bwrap leads its process group; its pid namespace dies with
        it, however detached a process inside) and close every pipe."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.memory.__exit__(None, None, None)
        self.selector.close()
        for slot in getattr(self, "slots", {}).values():
            for pipe in slot.pipes:
                pipe.close()
        for pipe in (self.control, self.status_pipe, self.log_pipe):
            pipe.close()

    def send_control(self, message: dict) -> None:
        try:
            wire.write_frame(self.control.here, JOB_NONCE, wire.dumps(message, strict=True))
        except OSError:
            raise ZygoteLostError("its control channel is closed") from None

    # -- status channel and the sandbox's own log ----------------------------------------------

    def next_status(self, deadline: float) -> dict:
        """The zygote's next status message, waiting (and reading everything else) until then."""
        while not self.status_messages:
            if self.status_closed:
                raise ZygoteLostError("the harness exited")
            if time.monotonic() >= deadline:
                raise ZygoteLostError("it did not answer in time")
            self.poll(deadline)
        return self.status_messages.pop(0)

    def poll(self, deadline: float, exercise: ExerciseRun | None = None) -> None:
        wait = max(0.0, min(deadline - time.monotonic(), 0.25))
        for key, _ in self.selector.select(wait):
            role = key.data
            if role == "input":
                exercise.write_input()
                continue
            data = read_available(key.fd)
            if data is None:
                continue
            if role == "status":
                self.on_status(key.fd, data)
            elif role == "log":
                if data:
                    self.state.add_output(data, count=False)
                else:
                    self.selector.unregister(key.fd)
            elif role == "reports":
                exercise.on_reports(data)
            elif role == "output":
                exercise.on_output(data)

    def on_status(self, fd: int, data: bytes) -> None:
        if not data:
            self.selector.unregister(fd)
            self.status_closed = True
            return
        try:
            for message in self.status.feed(data):
                report = wire.loads(message)
                if type(report) is not dict:
                    raise wire.WireError("a status must be a dict")
                self.status_messages.append(report)
        except wire.WireError:
            raise ZygoteLostError("its status channel is corrupt") from None

    # -- one exercise ----------------------------------------------------------------------------

    def exercise(self, name: str) -> bool:
        """Grade exercise ``name`` in a process of its own; False if the sandbox must go."""
        exercise = ExerciseRun(self, name, self.slots[name])
        try:
            exercise.start()
            exercise.follow()
        except ExerciseFailedError as failure:
            exercise.charge(failure)
            return exercise.reap(killed=True)
        except ZygoteLostError as lost:
            exercise.charge(
                ExerciseFailedError("crashed", f"crashed: the sandbox was lost ({lost})")
            )
            return False
        except NotIsolatedError as failure:  # before any student code: the sandbox's fault
            if failure.refused:
                raise refuse_sandbox(not_isolated_problem(failure.why)) from None
            raise SandboxError(
                f"the sandbox failed before running any student code: {name}'s process could "
                f"not be set up ({failure.why.removeprefix('crashed: ')})"
            ) from None
        return exercise.reap(killed=False)
