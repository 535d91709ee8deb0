"""Can a hostile submission earn points it did not compute, read hidden inputs, or outgrow its
limits? Each attack runs through ``grade_notebook`` in the real sandbox, as a student's notebook.

- Free marks from the grader's own objects: a function that looks for a trusted version of
  itself (``import __main__``, ``gc``, frames, ``sys.modules``, the files of the sandbox) finds
  nothing, so it scores what its own code computes.
- One cell changing another exercise's grade: a cell that rewrites the harness, the wire or
  NumPy reaches no other exercise's process.
- Hidden inputs in the feedback: markers planted in every hidden input appear in no output
  channel (the report, the JSON, the CSV row, the test-cell text nbgrader shows), whatever the
  student's code does with them (exception messages, exception class names, returned objects'
  type names, lengths, shapes, printed output).
- Memory outside the limits: creating files, directories, SysV segments or anonymous files
  fails at once, so a flood leaves the host's memory as it was.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from grader import cli, nbgrader_plugin
from grader import grade as grade_module
from grader.exercises import exercise_named
from grader.grade import grade_notebook
from grader.hidden_checks import Case, Check, hidden_checks
from grader.sandbox import Limits
from tests.catalogue.canonical import CANONICAL
from tests.factories import submission, write

pytestmark = pytest.mark.slow

STUB_EXERCISES = ("zero_pad", "conv_single_step", "create_mask_from_window", "distribute_value")

# Every way a function might find a trusted version of itself in its process or its sandbox.
FIND_TRUSTED = """
import gc, os, sys

def _trusted(name, me):
    import __main__
    candidates = [getattr(__main__, name, None)]
    for module in list(sys.modules.values()):
        candidates.append(getattr(module, name, None))
        for helper in ("_stand_in", "stand_in"):
            make = getattr(module, helper, None)
            if callable(make):
                try:
                    candidates.append(make(name))
                except Exception:
                    pass
    for value in gc.get_objects():
        if type(value).__name__ == "function" and getattr(value, "__name__", "") == name:
            candidates.append(value)
        if isinstance(value, dict) and callable(value.get(name)):
            candidates.append(value[name])
        if isinstance(value, str) and f"def {name}(" in value and len(value) < 10000:
            namespace = {"np": __import__("numpy")}
            try:
                exec(value, namespace)
                candidates.append(namespace.get(name))
            except Exception:
                pass
    frame = sys._getframe()
    while frame is not None:
        candidates.append(frame.f_globals.get(name))
        candidates.append(frame.f_locals.get(name))
        frame = frame.f_back
    for root, _, files in [*os.walk("/sandbox/harness"), *os.walk("/sandbox/work")]:
        for file in files:
            try:
                text = open(os.path.join(root, file), errors="replace").read()
            except OSError:
                continue
            if f"def {name}(" in text:
                namespace = {"np": __import__("numpy")}
                try:
                    exec(text, namespace)
                    candidates.append(namespace.get(name))
                except BaseException:
                    pass
    return [c for c in candidates if callable(c) and c is not me]
"""


def _thief(name: str, parameters: str) -> str:
    return (
        FIND_TRUSTED
        + f'''
_FOUND = []

def {name}({parameters}):
    if not _FOUND:  # searched once: the search is slow, the calls are many
        _FOUND.append(_trusted("{name}", {name}))
    for candidate in _FOUND[0]:
        try:
            return candidate({parameters})
        except Exception:
            continue
    raise RuntimeError("nothing trusted to call")
'''
    )


def _grade(tmp_path, sources, **kwargs):
    path = tmp_path / "attack.ipynb"
    write(submission(sources), path)
    return grade_notebook(path, **kwargs)


def _scores(grade) -> dict[str, float]:
    return {verdict.name: verdict.score for verdict in grade.exercises}


def test_a_function_finds_no_trusted_version_of_itself_anywhere(tmp_path):
    """Does a function that calls whatever trusted version of itself it can find (``__main__``,
    gc, frames, sys.modules, the sandbox's files) score 0, while the canonical solutions of the
    exercises that call it keep full marks?"""
    parameters = {
        "zero_pad": "X, pad",
        "conv_single_step": "a_slice_prev, W, b",
        "create_mask_from_window": "x",
        "distribute_value": "dz, shape",
    }
    sources = {name: _thief(name, parameters[name]) for name in STUB_EXERCISES}
    sources.update({name: CANONICAL[name].source for name in ("conv_forward", "pool_backward")})
    scores = _scores(_grade(tmp_path, sources))
    assert {name: scores[name] for name in STUB_EXERCISES} == dict.fromkeys(STUB_EXERCISES, 0.0)
    for name in ("conv_forward", "pool_backward"):
        assert scores[name] == exercise_named(name).points, name


HARNESS_REWRITE = """
import gc, sys

def _answer_with_stand_ins():
    # Rewrite whatever harness class calls exercises so that zero_pad and conv_single_step
    # are answered by a trusted stand-in (the attack that gave 140/140 with one process).
    for value in gc.get_objects():
        if not isinstance(value, type):
            continue
        module = sys.modules.get(value.__module__)
        make = getattr(module, "_stand_in", None) or getattr(module, "stand_in", None)
        if value.__name__ == "_Run" and make is not None:
            original = value.call_exercise

            def call_exercise(self, name, pending, _original=original, _make=make):
                if name in ("zero_pad", "conv_single_step"):
                    namespace = dict(self.cell_namespace.get(name) or {})
                    namespace[name] = _make(name)
                    self.cell_namespace[name] = namespace
                return _original(self, name, pending)

            value.call_exercise = call_exercise
        if value.__name__ in ("_Exercise", "_Zygote"):
            for attribute in ("serve", "watch"):
                if hasattr(value, attribute):
                    setattr(value, attribute, lambda *args, **kwargs: None)
    import numpy
    numpy.allclose = lambda *args, **kwargs: True
    numpy.array_equal = lambda *args, **kwargs: True

_answer_with_stand_ins()
"""


def test_a_cell_rewriting_the_harness_changes_no_other_exercise(tmp_path):
    """With ``return X`` and ``return 0.0`` in their own cells, do zero_pad and
    conv_single_step score what those stubs score alone, when pool_backward's cell rewrites the
    harness, the wire, NumPy and every module it can reach?"""
    stubs = {
        "zero_pad": "def zero_pad(X, pad):\n    return X",
        "conv_single_step": "def conv_single_step(a_slice_prev, W, b):\n    return 0.0",
    }
    alone = _scores(_grade(tmp_path, stubs))
    attacked = {**stubs, "pool_backward": HARNESS_REWRITE + CANONICAL["pool_backward"].source}
    scores = _scores(_grade(tmp_path, attacked))
    assert scores["zero_pad"] == alone["zero_pad"] == 0.0
    assert scores["conv_single_step"] == alone["conv_single_step"] == 0.0


# ------------------------------------------------------------------------ hidden inputs

MARKER_DIGITS = "7123456789"
MARKER = float("7." + MARKER_DIGITS)

LEAKER = """
import gc, sys

def _leak(*args):
    import numpy
    values = []
    for arg in args:
        if isinstance(arg, numpy.ndarray) and arg.size:
            values.append(float(arg.flat[0]))
        elif isinstance(arg, (int, float)):
            values.append(float(arg))
        elif isinstance(arg, tuple) and arg and isinstance(arg[0], numpy.ndarray):
            values.append(float(arg[0].flat[0]))
    first = values[0] if values else 0.0
    text = repr(values) + " " + "%.10f" % first
    print("LEAK", text)
    mode = int(abs(first) * 1000) % 5
    if mode == 0:
        raise ValueError(text)
    if mode == 1:
        raise type("Leak_" + "%.10f" % first, (Exception,), {})(text)
    if mode == 2:
        return type("Leak_" + "%.10f" % first, (), {})()
    if mode == 3:
        return tuple(range(int(abs(first) * 10**9) % 1000 + 3))
    return numpy.zeros((int(abs(first) * 10**9) % 1000 + 1, 7))
"""


def _leaker(name: str) -> str:
    return LEAKER + f"\ndef {name}(*args):\n    return _leak(*args)\n"


def _with_markers(exercise: str, seed: int):
    """The exercise's checks with MARKER written into the first entry of every hidden array."""
    checks = []
    for check in hidden_checks(exercise, seed):
        cases = []
        for case in check.cases:
            if case.hidden:
                case = Case(case.call.__class__(_mark(case.call.args)), case.tags, hidden=True)
            cases.append(case)
        checks.append(Check(check.name, tuple(cases)))
    return tuple(checks)


def _mark(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
        value = value.copy()
        value.flat[0] = MARKER
        return value
    if isinstance(value, tuple):
        return tuple(_mark(item) for item in value)
    if isinstance(value, list):
        return [_mark(item) for item in value]
    return value


def test_planted_markers_in_hidden_inputs_reach_no_output(tmp_path, monkeypatch):
    """Whatever a function does with its hidden inputs (messages, class names, returned types,
    lengths, shapes, prints), does any output channel show a marker planted in them?"""
    monkeypatch.setattr(grade_module, "hidden_checks", _with_markers)
    names = [verdict.name for verdict in _grade(tmp_path, {}).exercises]
    path = tmp_path / "leak.ipynb"
    write(submission({name: _leaker(name) for name in names}), path)
    grade = grade_notebook(path)
    channels = {
        "json": json.dumps(grade.to_json_dict()),
        "report": cli.format_report(path, grade),
        "summary": cli.format_summary([path], [grade]),
    }
    rows = io.StringIO()
    writer = csv.DictWriter(rows, fieldnames=list(cli.csv_row(path, grade)))
    writer.writeheader()
    writer.writerow(cli.csv_row(path, grade))
    channels["csv"] = rows.getvalue()
    verdicts = nbgrader_plugin.cell_verdicts(grade)
    channels["feedback"] = "".join(
        nbgrader_plugin.verdict_report(verdict, verdict.max, verdict.score)
        for verdict, _ in verdicts.values()
    )
    for channel, text in channels.items():
        for needle in (MARKER_DIGITS, MARKER_DIGITS[:6]):
            assert needle not in text, f"{needle!r} reached the {channel}"
    assert grade.total == 0


def test_a_public_case_message_is_quoted_but_hidden_ones_are_not(tmp_path):
    """The student's own message on a public case may be shown (it is theirs and the input is
    public); on hidden cases only the exception type is."""
    source = "def zero_pad(X, pad):\n    raise ValueError('my own words %d' % X.size)\n"
    grade = _grade(tmp_path, {"zero_pad": source})
    text = json.dumps(grade.to_json_dict())
    assert "raised ValueError" in text


# ------------------------------------------------------------------------ memory

FLOOD = """
import ctypes, os

def zero_pad(X, pad):
    made = {"files": 0, "dirs": 0, "shm": 0, "memfd": 0}
    errors = set()
    for place in ("/tmp", "/dev/shm", "/dev", "/", "/sandbox", "/sandbox/work", "/proc/self"):
        for index in range(2000):
            try:
                open(f"{place}/f{index}", "w").close()
                made["files"] += 1
            except OSError as error:
                errors.add(error.strerror)
                break
        try:
            os.mkdir(f"{place}/d")
            made["dirs"] += 1
        except OSError as error:
            errors.add(error.strerror)
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(100):
        if libc.shmget(0, 1 << 20, 0o1000 | 0o600) >= 0:
            made["shm"] += 1
    for _ in range(100):
        try:
            os.memfd_create("x")
            made["memfd"] += 1
        except OSError as error:
            errors.add(error.strerror)
    return made, sorted(errors)
"""


def _host_memory_used() -> int:
    """Bytes of the host's memory in use (MemTotal - MemAvailable), from /proc/meminfo."""
    fields = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, value = line.split(":")
            fields[name] = int(value.split()[0]) * 1024
    return fields["MemTotal"] - fields["MemAvailable"]


def test_an_inode_and_ipc_flood_creates_nothing_and_costs_the_host_nothing(tmp_path):
    """Can a submission create files, directories, SysV segments or anonymous files anywhere
    (memory no rlimit counts), and does such a flood raise the host's memory by 256 MiB?"""
    before = _host_memory_used()
    source = FLOOD.replace("range(2000)", "range(3_000_000)")
    path = tmp_path / "flood.ipynb"
    write(submission({"zero_pad": source}), path)
    from grader.extract import extract
    from grader.sandbox import run_submission

    extraction = extract(path)
    from grader.calls import Call

    run = run_submission(
        extraction.setup,
        extraction.cells,
        {"zero_pad": [Call((np.ones((1, 2, 2, 1)), 1))]},
        limits=Limits(exercise_seconds=30),
    )
    (outcome,) = run.outcomes["zero_pad"]
    made, errors = outcome.returned
    assert made == {"files": 0, "dirs": 0, "shm": 0, "memfd": 0}, made
    assert "Read-only file system" in errors
    assert _host_memory_used() - before < 256 << 20
