"""One exercise's process seen from the grader: what it must send, in which order, what is kept.

Owns: the per-exercise protocol of ``grader.sandbox`` (the exercise's own three pipes; the "run"
command to the zygote; its job, then its public calls, then its hidden calls, each batch only
once the one before has answered; the exact sequence of reports expected back) and who is
charged when it fails. It guarantees:

- every report is checked against the one expected next, well typed and size-capped, and is
  decoded strictly (``grader.wire``); the first one out of place taints the stream;
- hidden calls are sent only after every public call has answered, and what comes back for
  them keeps only the grader's words (``hidden_safe``);
- a failure (timeout, crash, flood, violation) is charged to this exercise alone, and the
  exercise is over only once the zygote has killed and reaped everything it started;
- a process that fails before its "ready" (it could not take its own uid, say) is charged to
  no one: no student code ran in it, so the sandbox is at fault (``NotIsolatedError``).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import selectors
import signal
import time

from grader import wire
from grader.calls import Outcome, Unsupported
from grader.stand_ins import stand_ins_for

REAP_SECONDS = 2.0  # after an exercise ends or is killed: the zygote must have cleaned up by then
ERROR_CHARS = 2000
SANDBOX_UID_BASE = 1_500_000_000  # fresh uids for exercises started by root, far from real users
JOB_NONCE = bytes(16)  # frames to the sandbox go on private pipes

# What a hidden call's error may say: exception types anyone can name, never the student's own.
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


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


class ExerciseFailedError(Exception):
    """Exercise X must stop: ``short`` goes into its Outcomes, ``why`` into exercise_errors.

    taints -- the stream can no longer be trusted: outcomes received so far are dropped too
    """

    def __init__(self, short: str, why: str, *, taints: bool = False):
        super().__init__(why)
        self.short, self.why, self.taints = short, why, taints


class ZygoteLostError(Exception):
    """The sandbox's zygote is gone or misbehaves: kill the sandbox, start a fresh one."""


class NotIsolatedError(Exception):
    """The exercise's process failed before its "ready", so before any student code ran in it:
    the sandbox's fault, never the student's.

    refused -- the harness reported that the kernel refused its set-up (its own uid, for want of
               CAP_SETUID, say): a fault of this machine that every exercise would meet, and that
               no submission can cause; False: it failed otherwise, or died without saying why
    """

    def __init__(self, why: str, *, refused: bool):
        super().__init__(why)
        self.why, self.refused = why, refused


def sandbox_uid() -> int:
    """A fresh uid for an exercise's process in a sandbox started by root."""
    return SANDBOX_UID_BASE + secrets.randbelow(1 << 24)


_VIOLATION = "crashed: protocol violation (the process sent something the grader did not expect)"


class Pipe:
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


class Slot:
    """The three pipes of one exercise: its job and calls in, its reports out, its output out."""

    def __init__(self):
        self.input, self.reports, self.output = Pipe(True), Pipe(False), Pipe(False)

    @property
    def pipes(self) -> tuple[Pipe, Pipe, Pipe]:
        return self.input, self.reports, self.output


class ExerciseRun:
    """One exercise's process, seen from the grader: what it must send, in which order."""

    def __init__(self, sandbox, name: str, slot: Slot):
        """``sandbox``: the grader.sandbox._Sandbox this exercise runs in (its state, limits,
        selector, zygote channels)."""
        self.sandbox, self.state, self.name, self.slot = sandbox, sandbox.state, name, slot
        self.limits = sandbox.limits
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.uid = sandbox_uid() if sandbox.privileged else None
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
            raise ExerciseFailedError("crashed: the cell is too large", why) from None

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
                raise ExerciseFailedError("timeout", why)
            if self.reports_closed or self.sandbox.status_closed or self.sandbox.status_messages:
                # Its reports ended, or the zygote reaped it, before its "end": it died. Its
                # last reports may still be in the pipe (written before it exited).
                while not self.ended and not self.reports_closed:
                    data = read_available(self.slot.reports.here)
                    if data is None:
                        break
                    self.on_reports(data)
                if not self.ended and self.position == 0:  # before "ready": no student code ran
                    raise NotIsolatedError(self.crash_reason()[1], refused=False)
                if not self.ended:
                    raise ExerciseFailedError(*self.crash_reason())
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
        except ZygoteLostError:
            why = "crashed: the process stopped before finishing"
            return why, why
        return _crash(status["status"], self.sandbox.sandbox)

    def peek_reaped(self, deadline: float) -> dict:
        sandbox = self.sandbox
        while not sandbox.status_messages:
            if sandbox.status_closed:
                raise ZygoteLostError("the harness exited")
            if time.monotonic() >= deadline:
                raise ZygoteLostError("it did not reap the exercise in time")
            sandbox.poll(deadline, self)
        status = sandbox.status_messages[0]
        if status.get("kind") != "reaped" or status.get("exercise") != self.name:
            raise ZygoteLostError("unexpected status")
        if type(status.get("status")) is not int:
            raise ZygoteLostError("unexpected status")
        return status

    def reap(self, *, killed: bool) -> bool:
        """Wait until the zygote has killed and reaped everything of this exercise, then read
        what is left of its output; False if the sandbox must go."""
        sandbox = self.sandbox
        if killed and not (sandbox.status_messages or sandbox.status_closed):
            with contextlib.suppress(ZygoteLostError):
                sandbox.send_control({"kind": "kill"})
        try:
            status = self.peek_reaped(time.monotonic() + REAP_SECONDS)
        except ZygoteLostError as lost:
            self.state.note(f"{self.name}: the sandbox was lost while cleaning up ({lost})")
            if self.name in self.state.pending:
                self.charge(
                    ExerciseFailedError("crashed", "crashed: the process could not be stopped")
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
            while handle is not None and (data := read_available(fd)):
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
            raise ExerciseFailedError(
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
            raise ExerciseFailedError(
                "crashed: protocol violation", _VIOLATION, taints=True
            ) from None
        for message in messages:
            self.handle(message)
            if self.ended:
                return
        if self.reader.error is not None:
            raise ExerciseFailedError("crashed: protocol violation", _VIOLATION, taints=True)

    def handle(self, message: bytes) -> None:
        try:
            report = wire.loads(message)
            kind = self.expected[self.position][0] if self.position < len(self.expected) else None
            if kind == "ready" and type(report) is dict and report.get("kind") == "unisolated":
                kind = "unisolated"  # instead of "ready": before any student code ran
            _check_report(report, kind, self)
        except wire.WireError:
            raise ExerciseFailedError(
                "crashed: protocol violation", _VIOLATION, taints=True
            ) from None
        if kind == "unisolated":
            raise NotIsolatedError(report["why"], refused=report["refused"])
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
            raise ExerciseFailedError(
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

    def charge(self, failure: ExerciseFailedError) -> None:
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


def read_available(fd: int) -> bytes | None:
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
    "unisolated": {"kind", "why", "refused"},
    "loaded": {"kind", "exercise", "setup_error", "error", "function"},
    "outcome": {"kind", "exercise", "index", "returned", "error", "args_after"},
    "end": {"kind", "exercise"},
}


def _short_text(value) -> bool:
    return value is None or (type(value) is str and len(value) <= ERROR_CHARS)


def _check_report(report, kind: str | None, exercise: ExerciseRun) -> None:
    """Raise WireError unless ``report`` is exactly the report expected next, well typed."""
    if kind is None:
        raise wire.WireError("a report after the last one expected")
    if type(report) is not dict or report.get("kind") != kind:
        raise wire.WireError(f"expected a {kind!r} report")
    if set(report) != _REPORT_FIELDS[kind]:
        raise wire.WireError(f"{kind!r} report with other fields")
    if kind == "unisolated":
        if type(report["why"]) is not str or not _short_text(report["why"]):
            raise wire.WireError("'why' must be a short str")
        if type(report["refused"]) is not bool:
            raise wire.WireError("'refused' must be a bool")
    if kind not in ("ready", "unisolated") and report["exercise"] != exercise.name:
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
