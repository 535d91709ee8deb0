"""What runs inside the sandbox: a zygote that forks one process per exercise, and that process.

Started by ``grader.sandbox`` as a standalone script (it imports only the standard library, NumPy,
the student-facing ``public_tests`` and ``wire``/``calls``, copied beside it; nothing else of the
grader exists in the sandbox, no stand-in and no reference):

    python -S -B harness.py --control-fd N --status-fd N --work-dir DIR [--sandboxed] [--site-dir D]
    python -S -B harness.py --probe [--drop-to UID]

The second form is ``grader.bubblewrap.require_sandbox``'s probe: the zygote's and an exercise
process's own set-up (``probe``), with no job, no NumPy and no student code; it exits 0, or
EXIT_NOT_ISOLATED with the reason on stderr.

The zygote (the process bubblewrap starts, the init of the sandbox's pid namespace) imports
NumPy and ``public_tests`` once, reads a job on its control channel (a descriptor of its own,
written by the trusted grader) and reports "ready" on the status channel. Then, for each "run"
command, it forks the process that grades ONE exercise, waits for it (or kills it when the
grader says so), kills every process that is left (the exercise's descendants, however
detached) and reaps them, and reports "reaped". It never runs student code and never reads what
the grader sends to an exercise.

The exercise process (the fork) gets its own three pipes from the grader, chosen per exercise
when the sandbox started: input (fd 3), reports (fd 4) and output (fds 1 and 2); stdin is
/dev/null and every other descriptor is closed, the zygote's control and status channels
included. Started by root, it switches to a fresh uid of its own; either way it makes itself
non-dumpable and sets its rlimits, then reports "ready" (should any of that fail, it reports
"unisolated" with the reason instead, and exits: no student code has run, so the sandbox is at
fault, a container without CAP_SETUID say, and the grader refuses to grade rather than charge the
exercise). Only then does it read its job from the grader: the trusted setup, its own cell and
the stand-ins of the OTHER exercises it may call (``grader.stand_ins``). It runs the setup and
the cell in a fresh ``__main__`` namespace (as Jupyter does), reports "loaded", binds the
stand-ins, then reads calls one by one, calls the function and reports each outcome (what it
returned or raised, and the arguments afterwards).

Why a cell can only change its own exercise's verdict (the security argument):

1. No trusted implementation of X where X is graded. The process grading X holds the stand-ins of
   the other exercises only; the zygote and this file hold none; ``grader/`` is not in the
   sandbox. So ``import __main__``, ``gc``, frames or ``sys.modules`` find nothing that computes X.
2. One process per exercise, one at a time. A cell of X runs only in X's process, never in
   another exercise's. Before the next exercise's process is forked, the zygote has killed X's
   process and everything it started (``kill(-1)`` inside the sandbox's own pid namespace, the
   zygote being its init, which inherits every orphan) and reaped them all.
3. Nothing shared survives between them. The sandbox has no writable filesystem (read-only
   binds, ``/dev`` read-only, no ``/tmp``), SysV IPC and POSIX message queues are refused by the
   seccomp filter, and each exercise's pipes are its own: what X writes after its end reaches
   no other exercise's stream, and X never holds another exercise's pipes.
4. No reach into a sibling or the zygote. Processes are non-dumpable and hold no capability
   (no ``/proc/PID/mem``, ``/proc/PID/fd``, ``ptrace`` — which seccomp refuses anyway), there is
   no bubblewrap process inside (``--as-pid-1``), and when root starts the sandbox every
   exercise runs under its own uid. The zygote is the pid namespace's init, which no process
   inside can kill; should it be lost anyway, that fails only the exercise running (the grader
   charges it and restarts a fresh sandbox for the rest).
5. Hidden inputs appear only after the public ones are answered. The grader sends a call only
   when the previous outcome arrived, public calls first; so text a function produces on a
   public call (which the feedback may quote) was made before any hidden input existed in the
   process, and the grader keeps nothing but its own words for hidden calls.

Nothing here is trusted by the grader: it validates every frame against the exact sequence it
expects and computes all verdicts itself. Student code in the exercise process can forge that
process's reports, which is no more than what its own function could have returned.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import contextvars
import ctypes
import io
import os
import re
import select
import signal
import sys
import tokenize
import types

EXIT_HARNESS_FAILURE = 70
EXIT_NOT_ISOLATED = 71  # a process could not be set up as an exercise's (its uid, say)
ERROR_CHARS = 500  # an exception message is cut to this many characters
JOB_NONCE = bytes(16)  # frames from the trusted grader come on private channels

# The exercise process's descriptors.
INPUT_FD, REPORT_FD = 3, 4

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

# Cell magics whose body IPython runs as Python (timing/capturing it); any other cell magic
# (%%bash, %%writefile, %%html, ...) means the cell is not Python and is skipped.
_BODY_RUNNING_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_ASSIGNED_ESCAPE = re.compile(r"^(\s*)([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[!%]")
_HELP_LINE = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")


class IsolationError(RuntimeError):
    """The kernel refused what makes a process an exercise's (its own uid, say), before any student
    code ran: the sandbox lacks a capability, which no submission can take away from it. The
    message names the refused call and the capability."""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="grading harness (runs inside the sandbox)")
    parser.add_argument("--probe", action="store_true", help="only check the set-up, then exit")
    parser.add_argument("--drop-to", type=int, default=None, help="with --probe: the uid to take")
    parser.add_argument("--control-fd", type=int)
    parser.add_argument("--status-fd", type=int)
    parser.add_argument("--work-dir")
    parser.add_argument("--site-dir", action="append", default=[])
    parser.add_argument("--sandboxed", action="store_true")
    options = parser.parse_args(argv)
    if options.probe:
        try:
            probe(options.drop_to)
        except IsolationError as error:
            print(f"not isolated: {error}", file=sys.stderr, flush=True)
            os._exit(EXIT_NOT_ISOLATED)
        return
    if None in (options.control_fd, options.status_fd, options.work_dir):
        parser.error("--control-fd, --status-fd and --work-dir are required")
    # Like Jupyter: the working directory (public_tests.py) first, installed packages last.
    sys.path.insert(0, options.work_dir)
    sys.path.extend(options.site_dir)

    import numpy  # noqa: F401  (imported once here: every exercise process inherits it)
    import wire

    # What the setup cell imports; a failure here is reported by the setup, in each exercise.
    with contextlib.suppress(Exception):
        import public_tests  # noqa: F401
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    control = _Frames(options.control_fd, JOB_NONCE, wire)
    job = control.next()
    status = _Channel(options.status_fd, bytes.fromhex(job["nonce"]), wire)
    status.send({"kind": "ready", "uid": os.getuid()})
    _Zygote(job, control, status, options.sandboxed, wire).serve()


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def probe(drop_to: int | None) -> None:
    """Do here what the zygote and an exercise's process do to each other, with no student code:
    the zygote's prctls, a fork that becomes an exercise's process (``_become_exercise``: its own
    uid ``drop_to`` when started by root, non-dumpable) and is then killed by its parent as the
    zygote kills a hanging exercise. Raises IsolationError naming what the sandbox lacks. (Run
    once per grader process, in a sandbox of its own, by ``grader.bubblewrap.require_sandbox``.)"""
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    read, write = os.pipe()  # what the child says
    hold, release = os.pipe()  # the child waits on it: until killed, or until we exit
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.close(release)
            _become_exercise(None if drop_to is None else [drop_to, drop_to], [])
            os.write(write, b"ready")
        except BaseException as error:  # noqa: BLE001  (whatever it is, the parent says it)
            os.write(write, _isolation_failure(error).encode()[:4000])
            os._exit(EXIT_NOT_ISOLATED)
        os.read(hold, 1)
        os._exit(0)
    os.close(write)
    os.close(hold)
    said = os.read(read, 4096).decode(errors="replace")
    os.close(read)
    if said != "ready":
        os.waitpid(pid, 0)  # it exits by itself
        raise IsolationError(said or "the exercise's process died while being set up")
    try:
        # By pid, not kill(-1) as the zygote does: kill(-1) reports no EPERM.
        os.kill(pid, signal.SIGKILL)
    except PermissionError:
        # Not waited for: it exits when we do (its read of ``hold`` ends).
        raise IsolationError(
            "kill() of an exercise's process was refused, so what an exercise leaves running "
            "could not be stopped: the sandbox holds no CAP_KILL"
        ) from None
    os.waitpid(pid, 0)
    os.close(release)


class _Frames:
    """The messages of one private channel from the grader, read as they come (blocking)."""

    def __init__(self, fd: int, nonce: bytes, wire):
        self.fd, self.wire = fd, wire
        self.reader = wire.FrameReader(nonce)
        self.messages: list = []

    def next(self):
        while not self.messages:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                raise EOFError("the grader closed the channel")
            self.messages += [self.wire.loads(m) for m in self.reader.feed(chunk)]
        return self.messages.pop(0)

    def ready(self) -> bool:
        return bool(self.messages)


class _Channel:
    """The frames back to the grader. A failed write means the grader is gone: exit at once."""

    def __init__(self, fd: int, nonce: bytes, wire):
        self.fd, self.nonce, self.wire = fd, nonce, wire

    def send(self, message: dict) -> None:
        try:
            data = self.wire.dumps(message)
        except self.wire.TooLargeError:
            data = self.wire.dumps(_unsendable(message, "output too large"))
        except Exception as error:  # noqa: BLE001  (a returned object's own code raised)
            why = f"crashed: the returned value could not be encoded ({type(error).__name__})"
            data = self.wire.dumps(_unsendable(message, why))
        try:
            self.wire.write_frame(self.fd, self.nonce, data)
        except OSError:
            os._exit(EXIT_HARNESS_FAILURE)


def _unsendable(message: dict, error: str) -> dict:
    """The outcome report with ``error`` instead of a value that cannot be sent."""
    if message.get("kind") != "outcome":
        raise RuntimeError(f"{message.get('kind')!r} report cannot be sent: {error}")
    return {**message, "returned": None, "error": error, "args_after": None}


# ------------------------------------------------------------------------------------ the zygote


class _Zygote:
    """Forks, watches and cleans up after one exercise process at a time; runs no student code."""

    def __init__(self, job: dict, control: _Frames, status: _Channel, sandboxed: bool, wire):
        self.job, self.control, self.status, self.wire = job, control, status, wire
        self.sandboxed = sandboxed
        self.slots = {name: tuple(fds) for name, fds in job["slots"]}

    def serve(self) -> None:
        while True:
            command = self.control.next()
            if command["kind"] == "kill":
                continue  # sent as the exercise ended by itself: nothing left to kill
            if command["kind"] != "run":
                os._exit(0)  # "exit", or anything unexpected: the grader is done with us
            name = command["exercise"]
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    _Exercise(self.job, command, self.slots[name], self.wire).run()
                finally:
                    os._exit(EXIT_HARNESS_FAILURE)
            for fd in self.slots.pop(name):
                os.close(fd)
            code = self.watch(pid)
            leftovers = self.kill_the_rest(pid)
            self.status.send(
                {"kind": "reaped", "exercise": name, "status": code, "leftovers": leftovers}
            )

    def watch(self, pid: int) -> int:
        """Wait for the exercise process to end, or kill it when the grader says so; its exit
        status as a return code (negative: killed by that signal)."""
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                waiting = [pidfd] + ([] if self.control.ready() else [self.control.fd])
                readable, _, _ = select.select(waiting, [], [])
                if pidfd in readable:
                    break
                command = self.control.next()
                if command["kind"] == "kill":
                    self.kill(pid)
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def kill(self, pid: int) -> None:
        try:
            if self.sandboxed:
                os.kill(-1, signal.SIGKILL)  # everything in the sandbox but bwrap and us
            else:
                os.killpg(pid, signal.SIGKILL)  # development only: its process group
        except (ProcessLookupError, PermissionError):
            pass

    def kill_the_rest(self, pid: int) -> bool:
        """Kill and reap every process the exercise left behind; whether there were any."""
        left = False
        for _ in range(10_000):
            self.kill(pid)
            try:
                reaped, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return left
            if reaped:
                left = True
            else:
                select.select([], [], [], 0.001)
        return left


# ------------------------------------------------------------------------ the exercise process


class _Exercise:
    """The process that grades one exercise (see the module docstring)."""

    def __init__(self, job: dict, command: dict, slot: tuple, wire):
        self.job, self.command, self.slot, self.wire = job, command, slot, wire
        self.name = command["exercise"]

    def run(self) -> None:
        self.own_descriptors()
        channel = _Channel(REPORT_FD, bytes.fromhex(self.command["nonce"]), self.wire)
        try:
            _become_exercise(self.command["drop_to"], self.job["rlimits"])
        except BaseException as error:  # noqa: BLE001  (no student code has run: not its fault)
            # "refused": the kernel said no to what the sandbox's capabilities should allow, a
            # fault of this machine that every exercise would meet (see IsolationError).
            refused = isinstance(error, IsolationError)
            channel.send(
                {"kind": "unisolated", "why": _isolation_failure(error), "refused": refused}
            )
            os._exit(EXIT_NOT_ISOLATED)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        channel.send({"kind": "ready", "uid": os.getuid()})
        inputs = _Frames(INPUT_FD, JOB_NONCE, self.wire)
        work = inputs.next()
        # The harness works in the pristine world; the student's code in its own (what its cell
        # patched: builtins, NumPy, sys hooks, warnings, signals, np.seterr...), swapped in for
        # the cell and for each call, so a patch can break the student's function but never the
        # harness's reading of calls and writing of reports. (Captured while ``__main__`` is
        # still this harness: the student's namespace is not one of the swapped modules.)
        modules = _Modules([sys.modules[name] for name in _SHARED_MODULES if name in sys.modules])
        module = types.ModuleType("__main__")  # the student's namespace, as in Jupyter
        namespace = module.__dict__
        namespace["__builtins__"] = builtins
        sys.modules["__main__"] = module
        context = contextvars.copy_context()
        setup_error = self.execute(work["setup"], "<setup>", namespace, modules, context)
        error = self.execute(work["cell"], f"<cell {self.name}>", namespace, modules, context)
        function = namespace.get(self.name)
        channel.send(
            {
                "kind": "loaded",
                "exercise": self.name,
                "setup_error": setup_error,
                "error": error,
                "function": _function_state(function),
            }
        )
        import numpy

        for other, source in work["stand_ins"]:
            helpers = {"np": numpy, "__builtins__": builtins}
            exec(compile(source, f"<stand-in {other}>", "exec"), helpers)  # noqa: S102
            namespace[other] = helpers[other]
        catch_all = BaseException  # looked up now: the student's builtins may lack it later
        while True:
            message = inputs.next()
            if message["kind"] != "call":
                break
            arguments, returned, raised = list(message["args"]), None, None
            if callable(function):
                modules.apply(self.world)
                try:
                    returned = context.run(function, *arguments)
                except catch_all as caught:  # SystemExit and KeyboardInterrupt too
                    raised = caught
                self.world = modules.capture()  # later calls keep the patches of this one
                modules.apply(modules.pristine)
                error = None if raised is None else _describe(raised, None)
            else:
                error = "not found"
            channel.send(
                {
                    "kind": "outcome",
                    "exercise": self.name,
                    "index": message["index"],
                    "returned": returned,
                    "error": error,
                    "args_after": tuple(arguments) if callable(function) else None,
                }
            )
            _flush_student_output()
        channel.send({"kind": "end", "exercise": self.name})
        os._exit(0)  # not sys.exit: a student's non-daemon thread must not keep us alive

    def execute(self, source: str, filename: str, namespace, modules, context) -> str | None:
        """Run one cell in ``namespace``, in the student's world (``self.world``, captured again
        after it): None, or the error it raised (or its syntax error) as text."""
        try:
            code = _compiled(source, filename)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
            # MemoryError, RecursionError: the parser or compiler gave up (absurd nesting); this
            # cell's fault, so its exercise's error, not a crash of the harness.
            return _describe_syntax_error(error)
        catch_all = BaseException  # looked up now: the student's builtins may lack it later
        if not hasattr(self, "world"):
            self.world = modules.pristine
        modules.apply(self.world)
        raised = None
        try:
            context.run(exec, code, namespace)
        except catch_all as error:  # SystemExit and KeyboardInterrupt too
            raised = error
        self.world = modules.capture()
        modules.apply(modules.pristine)
        _flush_student_output()
        return None if raised is None else _describe(raised, filename)

    def own_descriptors(self) -> None:
        """Its own three pipes at fixed numbers, /dev/null as stdin, every other descriptor
        closed (the zygote's channels included): before anything else."""
        input_fd, report_fd, output_fd = self.slot
        moved = [os.dup(fd) for fd in (input_fd, report_fd, output_fd)]
        for target, fd in zip((INPUT_FD, REPORT_FD, 1), moved, strict=True):
            os.dup2(fd, target)
        os.dup2(1, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.closerange(REPORT_FD + 1, os.sysconf("SC_OPEN_MAX"))
        for fd in (INPUT_FD, REPORT_FD):
            os.set_inheritable(fd, False)
        if not self.job["sandboxed"]:
            os.setpgid(0, 0)  # development only: the zygote kills this process group


class _Modules:
    """What the harness and the student share in one interpreter, as swappable states.

    A state holds a copy of each shared module's attribute dict plus the interpreter-wide
    settings a cell may change: warnings filters, recursion limit, signal handlers, working
    directory. The harness runs in the pristine state; a student's code runs in its own
    (``apply``), and what it changed is captured afterwards (``capture``) to be replayed for
    that exercise only. Pending alarms and interval timers are cancelled, not replayed. Only
    functions captured here and locals are used: builtins may be the student's, or half-swapped.
    """

    def __init__(self, modules):
        import _signal
        import warnings

        self._dicts = tuple(vars(module) for module in modules)
        self._warnings = vars(warnings)
        self._copy, self._clear, self._update = dict.copy, dict.clear, dict.update
        self._list, self._type = list, type
        self._recursion = (sys.getrecursionlimit, sys.setrecursionlimit)
        self._directory = (os.getcwd, os.chdir)
        self._signal = _signal
        self._signals = tuple(
            number
            for number in _signal.valid_signals()
            if number not in (_signal.SIGKILL, _signal.SIGSTOP)
        )
        self._timers = (_signal.ITIMER_REAL, _signal.ITIMER_VIRTUAL, _signal.ITIMER_PROF)
        self.pristine = self.capture()

    def capture(self) -> tuple:
        copy_, list_ = self._copy, self._list
        filters = self._warnings.get("filters")
        filters = list_(filters) if self._type(filters) is list_ else []
        getsignal = self._signal.getsignal
        handlers = [(number, getsignal(number)) for number in self._signals]
        return (
            [copy_(namespace) for namespace in self._dicts],
            filters,
            self._recursion[0](),
            handlers,
            self._directory[0](),
        )

    def apply(self, state: tuple) -> None:
        dicts, filters, recursion_limit, handlers, directory = state
        clear, update = self._clear, self._update
        index = 0
        for namespace in self._dicts:
            clear(namespace)
            update(namespace, dicts[index])
            index += 1  # noqa: SIM113  (enumerate is a builtin: maybe the student's)
        target = self._warnings.get("filters")
        if self._type(target) is self._list:
            target[:] = filters
            invalidate = self._warnings.get("_filters_mutated")
            if invalidate is not None:
                invalidate()
        self._recursion[1](recursion_limit)
        signal_ = self._signal
        for timer in self._timers:
            signal_.setitimer(timer, 0)
        for number, handler in handlers:
            if handler is not None and signal_.getsignal(number) is not handler:
                signal_.signal(number, handler)
        self._directory[1](directory)


# Modules whose attributes a student may patch (np.allclose, builtins.len, sys.displayhook, ...):
# the harness's own work (decoding calls, encoding reports) never sees those patches.
_SHARED_MODULES = ("builtins", "sys", "os", "io", "math", "copy", "struct", "json", "json.encoder")
_SHARED_MODULES += ("warnings", "signal", "numpy", "numpy.linalg", "numpy.random")
_SHARED_MODULES += ("wire", "calls", "public_tests", __name__)


def _become_exercise(drop_to, rlimits) -> None:
    """What makes a process an exercise's, before any student code: its own uid ``drop_to``
    ([uid, gid], or None in a user namespace), non-dumpable, ``rlimits``. (``probe`` runs this
    very function, so the grader's up-front check cannot pass where an exercise would fail.)"""
    if drop_to is not None:
        _drop_privileges(drop_to)
    _prctl(_PR_SET_DUMPABLE, 0)
    _set_limits(rlimits)


def _isolation_failure(error: BaseException) -> str:
    """Why a process could not become an exercise's, in one line for the grader."""
    if isinstance(error, IsolationError):
        return str(error)[:ERROR_CHARS]
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]


def _drop_privileges(drop_to) -> None:
    """Become an unprivileged uid of our own (sandboxes started by root): RLIMIT_NPROC is then
    enforced for this exercise alone, and no other process of the sandbox can be signalled.
    Raises IsolationError naming the call refused and the capability it needs."""
    uid, gid = drop_to
    steps = (
        ("setgroups([])", "CAP_SETGID", lambda: os.setgroups([])),
        (f"setresgid({gid})", "CAP_SETGID", lambda: os.setresgid(gid, gid, gid)),
        (f"setresuid({uid})", "CAP_SETUID", lambda: os.setresuid(uid, uid, uid)),
    )
    for call, capability, step in steps:
        try:
            step()
        except PermissionError:
            raise IsolationError(
                f"{call} was refused, so no exercise can run under a uid of its own: "
                f"the sandbox holds no {capability}"
            ) from None
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise IsolationError("could not drop privileges")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise IsolationError("root could be regained after dropping privileges")


def _set_limits(rlimits) -> None:
    import resource

    for name, soft, hard in rlimits:
        if not name.startswith("RLIMIT_"):
            raise ValueError(f"not a resource limit: {name}")
        limit = getattr(resource, name)
        _, current_hard = resource.getrlimit(limit)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(limit, (soft, hard))


def _function_state(value) -> str:
    if value is None:
        return "missing"
    return "ok" if callable(value) else f"not a function but {type(value).__name__}"


def _flush_student_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:  # noqa: SIM105  (a closed or replaced stream: nothing to flush)
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def _describe(raised: BaseException, filename: str | None) -> str:
    """Text: "NotImplementedError" or "<Type>: <message>" (capped), plus the cell line if known."""
    if isinstance(raised, NotImplementedError):
        return "NotImplementedError"
    kind = type(raised).__name__
    try:
        message = str(raised)
    except BaseException:  # noqa: BLE001
        message = "<the message could not be printed>"
    text = f"{kind}: {message}" if message else kind
    text = text[:ERROR_CHARS]
    if filename is not None:
        line = _line_in(raised, filename)
        if line is not None:
            text += f" (line {line})"
    return text


def _line_in(raised: BaseException, filename: str) -> int | None:
    line = None
    traceback = raised.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _describe_syntax_error(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        where = f" (line {error.lineno})" if error.lineno else ""
        return f"{type(error).__name__}: {error.msg}"[:ERROR_CHARS] + where
    if isinstance(error, (MemoryError, RecursionError)):
        return (
            f"the cell could not be compiled: {type(error).__name__} (Python's parser gave up: "
            "the code is nested too deeply or is too large)"
        )
    return f"{type(error).__name__}: {error}"[:ERROR_CHARS]  # e.g. a null byte in the source


def _compiled(source: str, filename: str):
    """The cell's code object. Valid Python is compiled once (``python_source`` would compile it
    only to return it unchanged: a second compile per cell per submission); anything else is
    neutralised first."""
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return compile(python_source(source), filename, "exec", dont_inherit=True)


def python_source(source: str) -> str:
    """The cell as plain Python: IPython magics, shell escapes and help lines neutralised.

    Line numbers are kept. Valid Python is returned unchanged. ``%%time``-like cell magics keep
    their body (IPython runs it); other cell magics make the whole cell inert. ``%time stmt``
    keeps ``stmt``; ``x = !cmd`` and ``x = %magic`` become ``x = None``; any other line starting
    with ``%``, ``!`` or ``?`` (outside a string) becomes ``pass``.
    """
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
        return source
    except (SyntaxError, ValueError):
        pass
    lines = source.split("\n")
    first = lines[0].lstrip()
    if first.startswith("%%"):
        magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if magic not in _BODY_RUNNING_CELL_MAGICS:
            return "\n".join("" for _ in lines)
        lines[0] = ""
    inside_strings = _lines_inside_strings("\n".join(lines))
    for number, line in enumerate(lines):
        if number in inside_strings:
            continue
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("%time ") and not stripped.startswith("%timeit"):
            lines[number] = indent + stripped[len("%time ") :]
        elif stripped.startswith(("%", "!")):
            lines[number] = indent + "pass"
        elif match := _ASSIGNED_ESCAPE.match(line):
            lines[number] = f"{match.group(1)}{match.group(2)} = None"
        elif _HELP_LINE.match(line):
            lines[number] = indent + "pass"
    return "\n".join(lines)


def _lines_inside_strings(source: str) -> set[int]:
    """0-based numbers of the lines that continue a multi-line string (never rewritten)."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0], token.end[0]))  # rows after the first
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BaseException:  # noqa: BLE001  (any failure before or outside student code)
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(EXIT_HARNESS_FAILURE)
