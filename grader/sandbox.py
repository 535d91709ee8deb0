"""Running a submission's code in the sandbox, one process per exercise, as plain-data outcomes.

Owns: the protocol between the trusted grader and the harness (``grader/harness.py``) inside one
bubblewrap sandbox (``grader.bubblewrap``, ``grader.seccomp``), the per-exercise limits, and who
is charged when something fails. It guarantees:

- Each exercise is graded in a process of its own, forked by the sandbox's zygote (NumPy is
  imported once per sandbox), that runs the trusted setup and that exercise's cell only, holds
  the stand-ins of the other exercises only (``grader.stand_ins``) and is killed, with every
  process it started, before the next exercise's process exists (the harness's docstring gives
  the whole security argument). So no cell can change another exercise's verdict.
- Each exercise has its own three pipes (its job and calls in, its reports out, its printed
  output out), made here before the sandbox starts: nothing one exercise writes can be read as
  another's, and an exercise's output and reports end exactly when its processes are gone.
- Public calls first, hidden calls only after every public outcome has arrived; what comes back
  for a hidden call keeps only the grader's words (``hidden_safe``): the built-in exception type
  or "an exception", never a message or a class name the student's code produced.
- The child's reports are checked against the exact sequence expected, decoded strictly
  (``grader.wire``: no pickle, no eval) and size-capped; nothing in them is trusted.
- A hang, crash, flood of output or protocol violation in exercise X is charged to X alone
  ("timeout after 10 s", "crashed: ..."); outcomes received before it are kept (except after a
  protocol violation, which taints the stream). If the zygote itself is lost (it can be killed
  by the exercise when there is no root to give each exercise its own uid), the sandbox is
  killed whole and a fresh one grades the exercises left.
"""

from __future__ import annotations

import builtins
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
    require_sandbox,
    runs_as_root,
    sandboxed_python_command,
    site_directories,
)
from grader.calls import Call, Outcome, Unsupported
from grader.memory_bound import MemoryBound
from grader.seccomp import SeccompFile, seccomp_program  # noqa: F401  (re-exported)
from grader.stand_ins import stand_ins_for

log = logging.getLogger(__name__)

STARTUP_SECONDS = 30.0  # Python + NumPy import, before any student code: an infrastructure limit
REAP_SECONDS = 2.0  # after an exercise ends or is killed: the zygote must have cleaned up by then
OUTPUT_TAIL_BYTES = 64 << 10
ERROR_CHARS = 2000
SANDBOX_UID_BASE = 1_500_000_000  # fresh uids for exercises started by root, far from real users
JOB_NONCE = bytes(16)  # frames to the sandbox go on private pipes

# What a hidden call's error may say: exception types anyone can name, never the student's own.
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


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
    Raises SandboxUnavailable (sandbox=True and bubblewrap cannot run) and SandboxError (the
    harness could not start: never the student's fault).
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


def hidden_safe(outcome: Outcome) -> Outcome:
    """The outcome of a hidden call in the grader's words only: an error becomes the built-in
    exception type, "an exception" or the grader's own failure, a returned object that is not
    plain data loses its type name. Returned plain data is kept: it is judged, never quoted."""
    error, returned = outcome.error, outcome.returned
    if error is not None:
        error = _grader_words(error)
    if isinstance(returned, Unsupported):
        returned = Unsupported("object")
    return Outcome(returned=returned, error=error, args_after=outcome.args_after)


def _grader_words(error: str) -> str:
    if error.startswith("NotImplementedError"):
        return "NotImplementedError"
    for own in ("not found", "output too large", "timeout"):
        if error == own:
            return own
    if error.startswith("crashed: the returned value could not be encoded"):
        return "crashed: the returned value could not be encoded"
    kind = error.split(":", 1)[0].strip()
    return kind if kind in BUILTIN_EXCEPTIONS else "an exception"


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


class _ExerciseFailedError(Exception):
    """Exercise X must stop: ``short`` goes into its Outcomes, ``why`` into exercise_errors.

    taints -- the stream can no longer be trusted: outcomes received so far are dropped too
    """

    def __init__(self, short: str, why: str, *, taints: bool = False):
        super().__init__(why)
        self.short, self.why, self.taints = short, why, taints


class _ZygoteLostError(Exception):
    """The sandbox's zygote is gone or misbehaves: kill the sandbox, start a fresh one."""


_VIOLATION = "crashed: protocol violation (the process sent something the grader did not expect)"


class _Pipe:
    """One pipe between the grader and the sandbox: the end kept here, the end passed inside."""

    def __init__(self, inward: bool):
        read, write = os.pipe()
        self.here, self.inside = (write, read) if inward else (read, write)
        os.set_blocking(self.here, False)

    def close_inside(self) -> None:
        if self.inside is not None:
            os.close(self.inside)
            self.inside = None

    def close(self) -> None:
        self.close_inside()
        if self.here is not None:
            os.close(self.here)
            self.here = None


class _Slot:
    """The three pipes of one exercise: its job and calls in, its reports out, its output out."""

    def __init__(self):
        self.input, self.reports, self.output = _Pipe(True), _Pipe(False), _Pipe(False)

    @property
    def pipes(self) -> tuple[_Pipe, _Pipe, _Pipe]:
        return self.input, self.reports, self.output


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
        self.slots = {name: _Slot() for name in names}
        self.control, self.status_pipe, self.log_pipe = _Pipe(True), _Pipe(False), _Pipe(False)
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
        except _ZygoteLostError as lost:
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
            raise _ZygoteLostError("its control channel is closed") from None

    # -- status channel and the sandbox's own log ----------------------------------------------

    def next_status(self, deadline: float) -> dict:
        """The zygote's next status message, waiting (and reading everything else) until then."""
        while not self.status_messages:
            if self.status_closed:
                raise _ZygoteLostError("the harness exited")
            if time.monotonic() >= deadline:
                raise _ZygoteLostError("it did not answer in time")
            self.poll(deadline)
        return self.status_messages.pop(0)

    def poll(self, deadline: float, exercise: _Exercise | None = None) -> None:
        wait = max(0.0, min(deadline - time.monotonic(), 0.25))
        for key, _ in self.selector.select(wait):
            role = key.data
            if role == "input":
                exercise.write_input()
                continue
            data = _read(key.fd)
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
            raise _ZygoteLostError("its status channel is corrupt") from None

    # -- one exercise ----------------------------------------------------------------------------

    def exercise(self, name: str) -> bool:
        """Grade exercise ``name`` in a process of its own; False if the sandbox must go."""
        exercise = _Exercise(self, name, self.slots[name])
        try:
            exercise.start()
            exercise.follow()
        except _ExerciseFailedError as failure:
            exercise.charge(failure)
            return exercise.reap(killed=True)
        except _ZygoteLostError as lost:
            exercise.charge(
                _ExerciseFailedError("crashed", f"crashed: the sandbox was lost ({lost})")
            )
            return False
        return exercise.reap(killed=False)


class _Exercise:
    """One exercise's process, seen from the grader: what it must send, in which order."""

    def __init__(self, sandbox: _Sandbox, name: str, slot: _Slot):
        self.sandbox, self.state, self.name, self.slot = sandbox, sandbox.state, name, slot
        self.limits = sandbox.limits
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.uid = SANDBOX_UID_BASE + secrets.randbelow(1 << 24) if sandbox.privileged else None
        self.reader = wire.FrameReader(self.nonce)
        self.calls = self.state.calls[name]
        public = [index for index, call in enumerate(self.calls) if not call.hidden]
        hidden = [index for index, call in enumerate(self.calls) if call.hidden]
        self.batches = [batch for batch in (public, hidden) if batch]
        self.expected: list[tuple] = [("ready",), ("loaded",)]
        self.position = 0
        self.received = 0  # outcomes of the batches sent so far
        self.sent_batches = 0
        self.pending_input = bytearray()
        self.phase, self.phase_started = "cell", time.monotonic()
        self.output_bytes = self.result_bytes = 0
        self.ended = self.reports_closed = False
        self.charged = False

    @property
    def settled(self) -> bool:
        """Ended or charged: nothing that arrives now can change its outcomes."""
        return self.ended or self.charged

    # -- driving ---------------------------------------------------------------------------------

    def start(self) -> None:
        state = self.state
        drop_to = None if self.uid is None else [self.uid, self.uid]
        self.sandbox.send_control(
            {"kind": "run", "exercise": self.name, "nonce": self.nonce.hex(), "drop_to": drop_to}
        )
        selector = self.sandbox.selector
        selector.register(self.slot.reports.here, selectors.EVENT_READ, "reports")
        selector.register(self.slot.output.here, selectors.EVENT_READ, "output")
        work = {
            "kind": "work",
            "setup": state.setup,
            "cell": state.cells.get(self.name, ""),
            "stand_ins": [list(item) for item in stand_ins_for(self.name).items()],
        }
        try:
            self.queue(work)
        except wire.TooLargeError:
            state.cell_too_large(self.name)
            why = state.exercise_errors[self.name]
            raise _ExerciseFailedError("crashed: the cell is too large", why) from None

    def queue(self, message: dict) -> None:
        self.pending_input += wire.frame(JOB_NONCE, wire.dumps(message, strict=True))
        self.write_input()

    def write_input(self) -> None:
        fd = self.slot.input.here
        while self.pending_input:
            try:
                written = os.write(fd, self.pending_input)
            except BlockingIOError:
                break
            except OSError:  # the process closed its input: it will fail to get its calls
                self.pending_input.clear()
                break
            del self.pending_input[:written]
        selector = self.sandbox.selector
        registered = fd in selector.get_map()
        if self.pending_input and not registered:
            selector.register(fd, selectors.EVENT_WRITE, "input")
        elif not self.pending_input and registered:
            selector.unregister(fd)

    def follow(self) -> None:
        """Read reports and output until the exercise's "end" (or a failure)."""
        while not self.ended:
            now = time.monotonic()
            deadline, why = self.deadline()
            if now >= deadline:
                raise _ExerciseFailedError("timeout", why)
            if self.reports_closed or self.sandbox.status_closed or self.sandbox.status_messages:
                # Its reports ended, or the zygote reaped it, before its "end": it died. Its
                # last reports may still be in the pipe (written before it exited).
                while not self.ended and not self.reports_closed:
                    data = _read(self.slot.reports.here)
                    if data is None:
                        break
                    self.on_reports(data)
                if not self.ended:
                    raise _ExerciseFailedError(*self.crash_reason())
                return
            self.sandbox.poll(deadline, self)

    def deadline(self) -> tuple[float, str]:
        limit = self.limits.exercise_seconds
        own = self.phase_started + limit
        if own <= self.state.deadline:
            return own, f"timeout after {limit:g} s"
        budget = self.limits.submission_seconds
        return self.state.deadline, f"timeout: the submission's {budget:g} s ran out"

    def crash_reason(self) -> tuple[str, str]:
        """Why the process stopped before its end: from its exit status, which the zygote
        reports once it has reaped it."""
        try:
            status = self.peek_reaped(time.monotonic() + REAP_SECONDS)
        except _ZygoteLostError:
            why = "crashed: the process stopped before finishing"
            return why, why
        return _crash(status["status"], self.sandbox.sandbox)

    def peek_reaped(self, deadline: float) -> dict:
        sandbox = self.sandbox
        while not sandbox.status_messages:
            if sandbox.status_closed:
                raise _ZygoteLostError("the harness exited")
            if time.monotonic() >= deadline:
                raise _ZygoteLostError("it did not reap the exercise in time")
            sandbox.poll(deadline, self)
        status = sandbox.status_messages[0]
        if status.get("kind") != "reaped" or status.get("exercise") != self.name:
            raise _ZygoteLostError("unexpected status")
        if type(status.get("status")) is not int:
            raise _ZygoteLostError("unexpected status")
        return status

    def reap(self, *, killed: bool) -> bool:
        """Wait until the zygote has killed and reaped everything of this exercise, then read
        what is left of its output; False if the sandbox must go."""
        sandbox = self.sandbox
        if killed and not (sandbox.status_messages or sandbox.status_closed):
            with contextlib.suppress(_ZygoteLostError):
                sandbox.send_control({"kind": "kill"})
        try:
            status = self.peek_reaped(time.monotonic() + REAP_SECONDS)
        except _ZygoteLostError as lost:
            self.state.note(f"{self.name}: the sandbox was lost while cleaning up ({lost})")
            if self.name in self.state.pending:
                self.charge(
                    _ExerciseFailedError("crashed", "crashed: the process could not be stopped")
                )
            return False
        sandbox.status_messages.pop(0)
        if status.get("leftovers"):
            self.state.note(f"{self.name} left processes behind; they were killed")
        self.drain()
        return True

    def drain(self) -> None:
        """Everything of this exercise is dead: what is still in its pipes is its last word."""
        selector = self.sandbox.selector
        for pipe, handle in ((self.slot.output, self.on_output_tail), (self.slot.reports, None)):
            fd = pipe.here
            if fd in selector.get_map():
                selector.unregister(fd)
            while handle is not None and (data := _read(fd)):
                handle(data)
        if self.slot.input.here in selector.get_map():
            selector.unregister(self.slot.input.here)
        for pipe in self.slot.pipes:
            pipe.close()

    def on_output_tail(self, data: bytes) -> None:
        self.state.add_output(data)

    # -- what arrives ----------------------------------------------------------------------------

    def on_output(self, data: bytes) -> None:
        if not data:
            self.sandbox.selector.unregister(self.slot.output.here)
            return
        self.state.add_output(data)
        self.output_bytes += len(data)
        if self.output_bytes > self.limits.output_bytes and not self.settled:
            raise _ExerciseFailedError(
                "output too large",
                f"output too large: printed more than {self.limits.output_bytes} bytes",
            )

    def on_reports(self, data: bytes) -> None:
        if not data:
            self.sandbox.selector.unregister(self.slot.reports.here)
            self.reports_closed = True
            return
        if self.settled:
            return  # after its end or its failure, whatever a leftover process writes is ignored
        try:
            messages = self.reader.feed(data)
        except wire.WireError:
            raise _ExerciseFailedError(
                "crashed: protocol violation", _VIOLATION, taints=True
            ) from None
        for message in messages:
            self.handle(message)
            if self.ended:
                return
        if self.reader.error is not None:
            raise _ExerciseFailedError("crashed: protocol violation", _VIOLATION, taints=True)

    def handle(self, message: bytes) -> None:
        try:
            report = wire.loads(message)
            kind = self.expected[self.position][0] if self.position < len(self.expected) else None
            _check_report(report, kind, self)
        except wire.WireError:
            raise _ExerciseFailedError(
                "crashed: protocol violation", _VIOLATION, taints=True
            ) from None
        self.position += 1
        if kind == "loaded":
            self.loaded(report)
        elif kind == "outcome":
            self.outcome(report, message)
        elif kind == "end":
            self.ended = True
            self.state.pending.remove(self.name)

    def loaded(self, report: dict) -> None:
        state = self.state
        if report["setup_error"] is not None:
            state.setup_error = report["setup_error"]
        if report["error"] is not None:
            state.cell_errors[self.name] = report["error"]
        if report["function"] != "ok":
            if report["function"] == "missing":
                why = report["error"] or f"not found: the cell does not define {self.name}()"
            else:
                why = f"not found: {self.name} is {report['function']}"
            state.exercise_errors[self.name] = why[:ERROR_CHARS]
            state.outcomes[self.name] = [Outcome(error="not found") for _ in self.calls]
            self.batches = []
        self.phase, self.phase_started = "calls", time.monotonic()
        self.send_next_batch()

    def send_next_batch(self) -> None:
        if self.sent_batches == len(self.batches):
            self.expected.append(("end",))
            self.queue({"kind": "end"})
            return
        batch = self.batches[self.sent_batches]
        self.sent_batches += 1
        for index in batch:
            self.expected.append(("outcome", index))
            self.queue({"kind": "call", "index": index, "args": list(self.calls[index].args)})

    def outcome(self, report: dict, message: bytes) -> None:
        index = report["index"]
        self.result_bytes += len(message)
        if self.result_bytes > self.limits.result_bytes:
            raise _ExerciseFailedError(
                "output too large",
                f"output too large: its calls returned more than {self.limits.result_bytes} bytes",
                taints=True,
            )
        outcome = Outcome(
            returned=report["returned"], error=report["error"], args_after=report["args_after"]
        )
        if self.calls[index].hidden:
            outcome = hidden_safe(outcome)
        self.state.outcomes[self.name][index] = outcome
        self.received += 1
        if self.received == sum(len(batch) for batch in self.batches[: self.sent_batches]):
            self.send_next_batch()

    # -- failures --------------------------------------------------------------------------------

    def charge(self, failure: _ExerciseFailedError) -> None:
        """Charge a failure to this exercise, and say so in the output tail."""
        state = self.state
        self.charged = True
        state.note(f"{self.name} ({self.phase}): {failure.why}; process stopped")
        if self.name not in state.pending:
            return
        if self.phase == "cell":
            why = f"{failure.why} (while running the cell)"
            state.cell_errors.setdefault(self.name, why)
            state.blame(self.name, _short(failure.why), why)
        else:
            state.blame(self.name, failure.short, failure.why, keep=not failure.taints)


def _short(why: str) -> str:
    """The Outcome.error form of an exercise error: "timeout", "crashed: ...", ..."""
    for short in ("timeout", "output too large", "not found"):
        if why.startswith(short):
            return short
    return why if why.startswith("crashed") else f"crashed: {why}"


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _crash(returncode: int, sandboxed: bool) -> tuple[str, str]:
    if returncode < 0:
        why = f"crashed: killed by signal {-returncode} ({_signal_hint(-returncode)})"
    else:
        why = f"crashed: the process exited (status {returncode}) before finishing"
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


# ------------------------------------------------------------------------ report validation


_REPORT_FIELDS = {
    "ready": {"kind", "uid"},
    "loaded": {"kind", "exercise", "setup_error", "error", "function"},
    "outcome": {"kind", "exercise", "index", "returned", "error", "args_after"},
    "end": {"kind", "exercise"},
}


def _short_text(value) -> bool:
    return value is None or (type(value) is str and len(value) <= ERROR_CHARS)


def _check_report(report, kind: str | None, exercise: _Exercise) -> None:
    """Raise WireError unless ``report`` is exactly the report expected next, well typed."""
    if kind is None:
        raise wire.WireError("a report after the last one expected")
    if type(report) is not dict or report.get("kind") != kind:
        raise wire.WireError(f"expected a {kind!r} report")
    if set(report) != _REPORT_FIELDS[kind]:
        raise wire.WireError(f"{kind!r} report with other fields")
    if kind != "ready" and report["exercise"] != exercise.name:
        raise wire.WireError(f"{kind!r} report for another exercise")
    if kind == "ready" and exercise.uid is not None and report["uid"] != exercise.uid:
        raise wire.WireError("the exercise's process did not drop its privileges")
    if kind == "loaded":
        if not (_short_text(report["setup_error"]) and _short_text(report["error"])):
            raise wire.WireError("errors must be None or short str")
        if type(report["function"]) is not str or len(report["function"]) > 200:
            raise wire.WireError("'function' must be a short str")
    if kind == "outcome":
        index = exercise.expected[exercise.position][1]
        if type(report["index"]) is not int or report["index"] != index:
            raise wire.WireError("outcome out of order")
        if not _short_text(report["error"]):
            raise wire.WireError("'error' must be None or a short str")
        args_after = report["args_after"]
        arguments = exercise.calls[index].args
        if args_after is not None and (
            type(args_after) is not tuple or len(args_after) != len(arguments)
        ):
            raise wire.WireError("'args_after' must be None or a tuple as long as the arguments")
