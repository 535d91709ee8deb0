"""What runs inside the sandbox: run the student's cells, call each exercise, stream outcomes.

Started by ``grader.sandbox`` as a standalone script (it imports only the standard library, NumPy
and ``wire``/``calls``, copied beside it; nothing else of the grader exists in the sandbox):

    python -S -B harness.py --channel-fd N --work-dir DIR [--site-dir DIR ...]   < job

The job (frames with an all-zero nonce on stdin, written by the trusted grader) holds the run's
nonce, the uid to drop to, the resource limits, the setup source, one source per cell and, per
exercise, the argument tuples of its calls. The harness then, in this order:

1. drops root (when asked), detaches stdin, sets the rlimits, reports "ready";
2. runs the setup, then each cell, in one namespace, each in its own try (magics and shell lines
   neutralised first), so a SyntaxError or exception in one cell only breaks that exercise;
3. per exercise, in the given order: calls the function on a deep copy of each call's arguments
   and reports what it returned or raised and the arguments as they were afterwards.

Every report is a wire frame on the channel fd, sent as soon as it is known, so a later crash
keeps earlier results. Student output goes to fds 1/2, which the grader captures separately.
Nothing here is trusted by the grader: it validates every frame against the exact sequence it
expects and computes all verdicts itself. The student's code runs in this very process, so it
could forge frames; it can only forge what its own functions could have returned.

Fairness: a mistake loses points on its exercise and only there.
- While exercise X is called, the names of the other exercises X may call are bound to the
  minimal stand-ins below, so a broken zero_pad never costs points on conv_forward. A stand-in is
  only created once its own exercise has been called (or is not being graded), so no exercise can
  be graded while a trusted version of it exists in the process.
- X is called in the world its own cell left (see ``_Run``): what other cells patched (builtins,
  NumPy, sys hooks, np.seterr, warnings filters, recursion limit, signals, cwd) is not there.
"""

from __future__ import annotations

import argparse
import builtins
import contextvars
import copy
import io
import os
import re
import sys
import tokenize

EXIT_HARNESS_FAILURE = 70
ERROR_CHARS = 500  # an exception message is cut to this many characters
JOB_NONCE = bytes(16)  # the job comes from the trusted grader on a private channel (stdin)

# The exercises other exercises call; see _stand_in. (Mirrors grader.exercises; this file cannot
# import it, a test checks the names.)
STAND_IN_NAMES = ("zero_pad", "conv_single_step", "create_mask_from_window", "distribute_value")

# Cell magics whose body IPython runs as Python (timing/capturing it); any other cell magic
# (%%bash, %%writefile, %%html, ...) means the cell is not Python and is skipped.
_BODY_RUNNING_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_ASSIGNED_ESCAPE = re.compile(r"^(\s*)([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[!%]")
_HELP_LINE = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="grading harness (runs inside the sandbox)")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--site-dir", action="append", default=[])
    options = parser.parse_args(argv)
    # Like Jupyter: the working directory (public_tests.py) first, installed packages last.
    sys.path.insert(0, options.work_dir)
    sys.path.extend(options.site_dir)
    os.set_inheritable(options.channel_fd, False)

    import numpy as np  # noqa: F401  (before any student code: the harness's own copy)
    import wire

    messages = [wire.loads(message) for message in wire.read_frames(_read_all(0), JOB_NONCE)]
    job, calls_messages = messages[0], messages[1:]
    _drop_privileges(job["drop_to"])
    _detach_stdin()
    _set_limits(job["rlimits"])
    channel = _Channel(options.channel_fd, bytes.fromhex(job["nonce"]), wire)
    calls = {message["exercise"]: message["calls"] for message in calls_messages}
    _Run(job, calls, channel, wire).run()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _drop_privileges(drop_to) -> None:
    """Become an unprivileged uid of our own (sandboxes started by root): RLIMIT_NPROC is then
    enforced, and counted for this sandbox alone."""
    if drop_to is None:
        return
    uid, gid = drop_to
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise RuntimeError("could not drop privileges")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise RuntimeError("root could be regained after dropping privileges")


def _detach_stdin() -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


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
# the harness never sees those patches and each exercise sees only its own cell's.
_SHARED_MODULES = ("builtins", "sys", "os", "io", "math", "copy", "struct", "json", "json.encoder")
_SHARED_MODULES += ("warnings", "signal", "numpy", "numpy.linalg", "numpy.random")
_SHARED_MODULES += ("wire", "calls", __name__)


class _Run:
    """Isolation between exercises: each exercise is called in the state the notebook was in
    right after its own cell ran (namespace, patched modules, interpreter settings and context
    variables: its "world"), as nbgrader's test cell right after it would be, except that

    - what other cells changed is not there (every cell runs from the setup's world),
    - names the setup bound (``np``, the public tests) are the setup's unless this cell rebound
      them, and the other exercises' names are the stand-ins.
    So a cell that rebinds ``np`` or patches ``builtins`` only ever breaks its own exercise.
    Helpers defined by earlier cells stay visible, as in the notebook.
    """

    def __init__(self, job: dict, calls: dict, channel: _Channel, wire):
        self.job, self.calls, self.channel, self.wire = job, calls, channel, wire
        self.sandboxed = job["sandboxed"]
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.modules = _Modules(
            [sys.modules[name] for name in _SHARED_MODULES if name in sys.modules]
        )
        # Each cell's world: module state and context variables (np.seterr, print options).
        self.setup_world = (self.modules.pristine, contextvars.copy_context())
        self.setup_namespace: dict = {}
        self.cell_world: dict[str, tuple] = {}
        self.cell_namespace: dict[str, dict] = {}

    def run(self) -> None:
        self.channel.send({"kind": "ready", "uid": os.getuid()})
        self.setup_world, error = self.execute(self.job["setup"], "<setup>", self.setup_world)
        self.setup_namespace = dict(self.namespace)
        self.channel.send({"kind": "setup", "error": error, "leftovers": _leftovers(self)})
        for name, source in self.job["cells"]:
            before = dict(self.namespace)
            self.cell_world[name], error = self.execute(source, f"<cell {name}>", self.setup_world)
            self.cell_namespace[name] = self.own_namespace(before)
            self.channel.send(
                {
                    "kind": "loaded",
                    "exercise": name,
                    "error": error,
                    "function": _function_state(self.namespace.get(name)),
                    "leftovers": _leftovers(self),
                }
            )
        self.final_namespace = dict(self.namespace)
        pending = [name for name, _ in self.job["exercises"]]
        for name, _ in self.job["exercises"]:
            self.call_exercise(name, pending)
            pending.remove(name)
        self.channel.send({"kind": "done"})
        os._exit(0)  # not sys.exit: a student's non-daemon thread must not keep us alive

    def execute(self, source: str, filename: str, world: tuple) -> tuple[tuple, str | None]:
        """Run one cell in the namespace, starting from ``world`` (module state, context):
        (the world after it, the error it raised as text or None)."""
        state, context = world
        try:
            code = _compiled(source, filename)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
            # MemoryError, RecursionError: the parser or compiler gave up (absurd nesting); this
            # cell's fault, so its exercise's error, not a crash of the harness.
            return world, _describe_syntax_error(error)
        catch_all = BaseException  # looked up now: the student's builtins may lack it later
        modules, context, raised = self.modules, context.copy(), None
        modules.apply(state)
        try:
            context.run(exec, code, self.namespace)
        except catch_all as error:  # SystemExit and KeyboardInterrupt too
            raised = error
        after = modules.capture()
        modules.apply(modules.pristine)
        _flush_student_output()
        return (after, context), None if raised is None else _describe(raised, filename)

    def own_namespace(self, before: dict) -> dict:
        """The namespace after the cell just run, with setup names it did not rebind restored."""
        namespace = dict(self.namespace)
        for key, value in self.setup_namespace.items():
            rebound_here = self.namespace.get(key, _MISSING) is not before.get(key, _MISSING)
            if not rebound_here:
                namespace[key] = value
        return namespace

    def call_exercise(self, name: str, pending: list[str]) -> None:
        self.channel.send({"kind": "begin", "exercise": name})
        namespace = self.cell_namespace.get(name)
        state, context = self.cell_world.get(name, self.setup_world)
        context = context.copy()
        if namespace is None or not callable(namespace.get(name)):
            namespace = self.final_namespace  # defined by another cell: as in "Run All"
        function = namespace.get(name)
        self.namespace.clear()  # the very dict the student's functions hold as their globals
        self.namespace.update(namespace)
        self.bind_stand_ins(name, pending)
        modules = self.modules
        for index, arguments in enumerate(self.calls[name]):
            if not callable(function):
                self.report(name, index, None, "not found", None)
                continue
            arguments = copy.deepcopy(arguments)
            catch_all, returned, raised = BaseException, None, None
            modules.apply(state)
            try:
                returned = context.run(function, *arguments)
            except catch_all as error:
                raised = error
            state = modules.capture()  # later calls of this exercise keep its patches
            modules.apply(modules.pristine)
            error = None if raised is None else _describe(raised, None)
            self.report(name, index, returned, error, arguments)
        _flush_student_output()
        self.channel.send({"kind": "end", "exercise": name, "leftovers": _leftovers(self)})

    def report(self, name, index, returned, error, arguments) -> None:
        self.channel.send(
            {
                "kind": "outcome",
                "exercise": name,
                "index": index,
                "returned": returned,
                "error": error,
                "args_after": None if arguments is None else tuple(arguments),
            }
        )

    def bind_stand_ins(self, name: str, pending: list[str]) -> None:
        """Point the names of the other exercises ``name`` may call at stand-ins."""
        for other in STAND_IN_NAMES:
            if other != name and other not in pending:
                self.namespace[other] = _stand_in(other)


_MISSING = object()


def _stand_in(name: str):
    """A trusted, minimal version of one building block (a fresh function object each time).

    Their source is readable in the sandbox (this file): they are the one-liners the notebook
    itself leads to, so reading them gives away nothing the assignment does not.
    """
    import numpy as np

    if name == "zero_pad":

        def zero_pad(X, pad):
            return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")

        return zero_pad
    if name == "conv_single_step":

        def conv_single_step(a_slice_prev, W, b):
            return np.sum(a_slice_prev * W) + np.asarray(b).item()

        return conv_single_step
    if name == "create_mask_from_window":

        def create_mask_from_window(x):
            return x == np.max(x)

        return create_mask_from_window
    if name == "distribute_value":

        def distribute_value(dz, shape):
            n_H, n_W = shape
            return np.ones(shape) * (dz / (n_H * n_W))

        return distribute_value
    raise KeyError(name)


def _function_state(value) -> str:
    if value is None:
        return "missing"
    return "ok" if callable(value) else f"not a function but {type(value).__name__}"


def _leftovers(run: _Run) -> int:
    """Threads and live processes besides the harness (in the sandbox's own pid namespace every
    other process is the student's; outside it only threads can be counted)."""
    count = len(os.listdir("/proc/self/task")) - 1
    if run.sandboxed:
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me) and _alive(entry):
                count += 1
    return count


def _alive(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


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
