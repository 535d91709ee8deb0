"""Tests of grader/harness.py: what a student's cells and functions see and what comes back.

The harness is exercised through ``run_submission(..., sandbox=False)`` (same harness, no
bubblewrap, so these tests also run where bwrap is missing); containment is tests/test_sandbox.py.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import harness, reference, sandbox
from grader.calls import Call
from grader.exercises import EXERCISE_NAMES
from grader.sandbox import Limits, SandboxError, run_submission
from tests.catalogue.canonical import CANONICAL
from tests.factories import SETUP_SOURCE

LIMITS = Limits(exercise_seconds=5, submission_seconds=30)
RNG = np.random.default_rng(1234)


def canonical(*names: str) -> dict[str, str]:
    return {name: CANONICAL[name].source for name in names}


def zero_pad_calls() -> list[Call]:
    return [Call((RNG.standard_normal((2, 3, 3, 2)), pad)) for pad in (0, 2)]


def conv_forward_calls() -> list[Call]:
    A_prev = RNG.standard_normal((2, 5, 4, 3))
    W, b = RNG.standard_normal((3, 3, 3, 2)), RNG.standard_normal((1, 1, 1, 2))
    return [
        Call((A_prev, W, b, {"stride": 2, "pad": 1})),
        Call((A_prev, W, b, {"stride": 1, "pad": 0})),
    ]


def pool_backward_calls() -> list[Call]:
    A_prev = RNG.standard_normal((2, 4, 4, 3))
    hparameters = {"stride": 1, "f": 2}
    dA = RNG.standard_normal((2, 3, 3, 3))
    return [Call((dA, (A_prev, hparameters), mode)) for mode in ("max", "average")]


def run(cells, calls, setup=SETUP_SOURCE, limits=LIMITS):
    return run_submission(setup, cells, calls, limits=limits, sandbox=False)


def assert_correct(result, name: str, calls: list[Call]) -> None:
    """Every call of ``name`` returned what the reference returns."""
    assert name not in result.exercise_errors, result.exercise_errors
    outcomes = result.outcomes[name]
    assert len(outcomes) == len(calls)
    for outcome, call in zip(outcomes, calls, strict=True):
        assert outcome.error is None, outcome.error
        expected = getattr(reference, name)(*call.args)
        got = outcome.returned
        if isinstance(expected, tuple):
            got, expected = got[0], expected[0]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- the program itself


def test_harness_and_wire_import_only_the_standard_library_numpy_and_each_other():
    """Can the harness run in a sandbox holding nothing of the grader but its three files?"""
    allowed = set(sys.stdlib_module_names) | {"numpy", "wire", "calls", "__future__"}
    for module in ("harness.py", "wire.py"):
        tree = ast.parse((Path(harness.__file__).parent / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                # wire.py's `from grader.calls import Unsupported` has a sandbox fallback;
                # public_tests is the student-facing module the setup cell imports anyway.
                assert top in allowed or name in ("grader.calls", "public_tests"), (
                    f"{module} imports {name}"
                )


@pytest.mark.parametrize(
    ("capability", "refused"), [("SETUID", "setresuid("), ("SETGID", "setgroups([])")]
)
def test_a_uid_root_cannot_take_is_an_isolation_error_naming_the_capability(capability, refused):
    """As root without CAP_SETUID (or CAP_SETGID), does the switch to an exercise's own uid raise
    IsolationError naming the refused call and the missing capability (the words the grader
    shows when it refuses to grade), not a bare PermissionError?"""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux)")
    code = "from grader.harness import _drop_privileges\n_drop_privileges([1500000001, 1500000001])"
    completed = subprocess.run(
        ["setpriv", "--inh-caps=-all", f"--bounding-set=-{capability.lower()}", "--"]
        + [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("grader.harness.IsolationError: " + refused), last
    assert last.endswith(f"the sandbox holds no CAP_{capability}"), last


def test_a_process_that_cannot_be_set_up_is_the_sandboxs_failure_not_the_exercises(monkeypatch):
    """When an exercise's process fails to set itself up, before any student code ran (here: an
    rlimit it cannot set), is that a SandboxError saying why, not a crash charged to the
    exercise and graded 0?"""
    rlimits = sandbox._Sandbox.rlimits
    bogus = [("NOT_A_LIMIT", 1, 1)]
    monkeypatch.setattr(sandbox._Sandbox, "rlimits", lambda self: rlimits(self) + bogus)
    with pytest.raises(SandboxError, match=r"process could not be set up \(ValueError: not a"):
        run(canonical("zero_pad"), {"zero_pad": zero_pad_calls()})


# --------------------------------------------------------------- magics and shell lines


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%timeit f(x)\ny = 1", "pass\ny = 1"),
        ("!ls -la\ny = 1", "pass\ny = 1"),
        ("files = !ls\n", "files = None\n"),
        ("out = %env\n", "out = None\n"),
        ("%time y = f(1)", "y = f(1)"),
        ("def f():\n    %matplotlib inline\n    return 1", "def f():\n    pass\n    return 1"),
        ("np.pad?\ny = 1", "pass\ny = 1"),
        ("%%time\ny = 1\nz = 2", "\ny = 1\nz = 2"),
        ("%%bash\nrm -rf /\necho hi", "\n\n"),
        ("%%writefile x.py\nimport os", "\n"),
    ],
)
def test_magics_and_shell_lines_are_neutralised_keeping_line_numbers(source, expected):
    """Is each IPython construct turned into plain Python with the same number of lines?"""
    assert harness.python_source(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "x = (1\n     % 2)\n",
        'def f():\n    """Notes:\n!important\n%percent\n"""\n    return 1\n',
        "y = 'a' if True else '!b'\n",
    ],
)
def test_valid_python_is_never_rewritten(source):
    """Is valid Python (a % continuation line, a docstring line starting with !) untouched?"""
    assert harness.python_source(source) == source


def test_lines_inside_a_string_are_not_rewritten_when_a_magic_is_elsewhere():
    """Does a magic elsewhere in the cell leave a multi-line string's lines alone?"""
    source = '%timeit 1\ntext = """\n!keep\n%keep\n"""'
    assert harness.python_source(source) == 'pass\ntext = """\n!keep\n%keep\n"""'


def test_cells_with_magics_run_and_their_functions_are_graded():
    """Is a cell with %timeit and !ls lines (and a %%time cell) graded like plain Python?"""
    zero_pad = "%matplotlib inline\n!pip install numpy\n" + CANONICAL["zero_pad"].source
    zero_pad += "\n%timeit zero_pad(np.ones((1, 2, 2, 1)), 1)\n"
    conv = "%%time\n" + CANONICAL["conv_forward"].source
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    result = run({"zero_pad": zero_pad, "conv_forward": conv}, calls)
    assert result.cell_errors == {}
    assert_correct(result, "zero_pad", calls["zero_pad"])
    assert_correct(result, "conv_forward", calls["conv_forward"])


# ---------------------------------------------------------- each failure stays in its cell


def test_a_syntax_error_breaks_only_its_exercise_and_says_where():
    """Does a SyntaxError in one cell fail that exercise (with its line) and nothing else?"""
    broken = "def zero_pad(X, pad):\n    y = 1\n    return X[pad:-pad,\n"
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    result = run({"zero_pad": broken, **canonical("conv_forward")}, calls)
    assert result.exercise_errors["zero_pad"].startswith("SyntaxError")
    assert "(line 3)" in result.exercise_errors["zero_pad"]
    assert all(outcome.error == "not found" for outcome in result.outcomes["zero_pad"])
    assert_correct(result, "conv_forward", calls["conv_forward"])


@pytest.mark.parametrize(
    ("hostile_line", "error"),
    [
        ("x = " + "-" * 1_000_000 + "1", "MemoryError"),
        ("x = " + "1+" * 200_000 + "1", "RecursionError"),
    ],
    ids=["parser-out-of-memory", "compiler-recursion"],
)
def test_a_cell_python_cannot_compile_breaks_only_its_exercise(hostile_line, error):
    """Does a cell that makes Python's parser run out of memory, or its compiler recurse too
    deep, fail that exercise as "could not be compiled" (not as a crash of the harness) and
    leave the next exercise graded?"""
    cells = {"zero_pad": CANONICAL["zero_pad"].source + "\n" + hostile_line + "\n"}
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    result = run({**cells, **canonical("conv_forward")}, calls)
    assert result.exercise_errors["zero_pad"].startswith(
        f"the cell could not be compiled: {error}"
    ), result.exercise_errors
    assert all(outcome.error == "not found" for outcome in result.outcomes["zero_pad"])
    assert_correct(result, "conv_forward", calls["conv_forward"])


def test_an_exception_while_running_a_cell_only_matters_if_the_function_is_missing():
    """Is a function defined before its cell raised still graded, and one never defined
    reported with the exception?"""
    after_def = CANONICAL["zero_pad"].source + "\nzero_pad_test(zero_pad)\nraise ValueError('oops')"
    before_def = "import not_a_module\n" + CANONICAL["conv_forward"].source
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    result = run({"zero_pad": after_def, "conv_forward": before_def}, calls)
    assert_correct(result, "zero_pad", calls["zero_pad"])
    assert result.cell_errors["zero_pad"].startswith("ValueError: oops")
    assert result.exercise_errors["conv_forward"].startswith("ModuleNotFoundError")
    assert "(line 1)" in result.exercise_errors["conv_forward"]


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        ({}, "not found: no cell defines zero_pad()"),
        ({"zero_pad": "def zeropad(X, pad):\n    return X"}, "not found: the cell does not define"),
        ({"zero_pad": "zero_pad = 3"}, "not found: zero_pad is not a function but int"),
    ],
)
def test_a_missing_function_is_not_found(cells, why):
    """Is an exercise without a function reported "not found", with why, call by call?"""
    result = run(cells, {"zero_pad": zero_pad_calls()})
    assert result.exercise_errors["zero_pad"].startswith(why)
    assert [outcome.error for outcome in result.outcomes["zero_pad"]] == ["not found"] * 2


def test_exceptions_in_calls_are_reported_per_call_and_capped():
    """Is NotImplementedError reported as such, other exceptions as "Type: message" (capped),
    and do KeyboardInterrupt and SystemExit count as failed calls, not crashes?"""
    source = """
def zero_pad(X, pad):
    if pad == 0:
        raise NotImplementedError("write me")
    raise KeyError("k" * 5000)

def conv_single_step(a, W, b):
    raise KeyboardInterrupt

def create_mask_from_window(x):
    import sys
    sys.exit(3)
"""
    calls = {
        "zero_pad": zero_pad_calls(),
        "conv_single_step": [Call((np.ones((2, 2, 1)), np.ones((2, 2, 1)), np.ones((1, 1, 1))))],
        "create_mask_from_window": [Call((np.ones((2, 2)),))],
    }
    cells = {name: source for name in calls}
    result = run(cells, calls)
    first, second = result.outcomes["zero_pad"]
    assert first.error == "NotImplementedError"
    assert second.error.startswith("KeyError: 'kkk") and len(second.error) <= 500
    assert result.outcomes["conv_single_step"][0].error == "KeyboardInterrupt"
    assert result.outcomes["create_mask_from_window"][0].error == "SystemExit: 3"
    assert result.exercise_errors == {} and result.children == 1


def test_setup_errors_are_reported_and_cells_still_run():
    """Does a failing setup line get reported while the cells still run?"""
    calls = {"zero_pad": zero_pad_calls()}
    result = run(canonical("zero_pad"), calls, setup="import numpy as np\nimport not_there")
    assert result.setup_error.startswith("ModuleNotFoundError")
    assert_correct(result, "zero_pad", calls["zero_pad"])


# ------------------------------------------------------------------------------ fairness


def test_a_broken_zero_pad_never_costs_points_on_conv_forward_or_pool_backward():
    """Do conv_forward and pool_backward use trusted stand-ins for the exercises they call?"""
    broken = {
        "zero_pad": "def zero_pad(X, pad):\n    return None",
        "conv_single_step": "def conv_single_step(a, W, b):\n    raise NotImplementedError",
        "create_mask_from_window": "def create_mask_from_window(x):\n    return 1 / 0",
        "distribute_value": "def distribute_value(dz, shape):\n    return 'no'",
    }
    cells = {**broken, **canonical("conv_forward", "pool_backward")}
    calls = {"conv_forward": conv_forward_calls(), "pool_backward": pool_backward_calls()}
    calls["zero_pad"] = zero_pad_calls()
    result = run(cells, calls)
    assert_correct(result, "conv_forward", calls["conv_forward"])
    assert_correct(result, "pool_backward", calls["pool_backward"])
    assert all(outcome.returned is None for outcome in result.outcomes["zero_pad"])


def test_stand_ins_reach_helpers_closures_and_decorated_functions_of_the_cell():
    """Does a helper, a closure or a decorated function in conv_forward's cell that calls
    zero_pad also get the stand-in?"""
    source = """
import functools

def _pad_all(A, pad):
    return zero_pad(A, pad)

def _make():
    def inner(A_prev, W, b, hparameters):
        padded = _pad_all(A_prev, hparameters["pad"])
        f, stride = W.shape[0], hparameters["stride"]
        m, n_H_prev, n_W_prev, _ = A_prev.shape
        n_H = (n_H_prev - f + 2 * hparameters["pad"]) // stride + 1
        n_W = (n_W_prev - f + 2 * hparameters["pad"]) // stride + 1
        Z = np.zeros((m, n_H, n_W, W.shape[3]))
        for i in range(m):
            for h in range(n_H):
                for w in range(n_W):
                    for c in range(W.shape[3]):
                        window = padded[i, h * stride:h * stride + f, w * stride:w * stride + f]
                        Z[i, h, w, c] = conv_single_step(window, W[..., c], b[..., c])
        return Z, (A_prev, W, b, hparameters)
    return inner

def logged(function):
    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)
    return wrapper

conv_forward = logged(_make())
"""
    cells = {"zero_pad": "def zero_pad(X, pad):\n    return X", "conv_forward": source}
    calls = {"conv_forward": conv_forward_calls()}
    assert_correct(run(cells, calls), "conv_forward", calls["conv_forward"])


def test_no_trusted_stand_in_exists_while_its_own_exercise_is_graded():
    """Can zero_pad find a trusted zero_pad anywhere in the process while it is graded?"""
    source = """
import gc
def zero_pad(X, pad):
    found = [
        f for f in gc.get_objects()
        if type(f).__name__ == "function" and f.__name__ == "zero_pad" and f is not zero_pad
    ]
    return len(found)
"""
    result = run({"zero_pad": source, **canonical("conv_forward")}, {"zero_pad": zero_pad_calls()})
    assert [outcome.returned for outcome in result.outcomes["zero_pad"]] == [0, 0]


def test_patches_and_rebound_names_reach_only_their_own_exercise():
    """Do builtins/NumPy patches and a rebound ``np`` in one cell leave other exercises intact,
    while the patching exercise itself sees its patches?"""
    attack = """
import builtins, sys
import numpy
numpy.sum = lambda *args, **kwargs: 42.0
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
builtins.isinstance = lambda *args: True
builtins.len = lambda obj: 0
builtins.range = None
sys.displayhook = lambda value: None
sys.excepthook = lambda *args: None
np = None

def zero_pad(X, pad):
    return numpy.sum(X)
"""
    cells = {"zero_pad": attack, **canonical("conv_forward", "pool_backward")}
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    calls["pool_backward"] = pool_backward_calls()
    result = run(cells, calls)
    assert [outcome.returned for outcome in result.outcomes["zero_pad"]] == [42.0, 42.0]
    assert_correct(result, "conv_forward", calls["conv_forward"])
    assert_correct(result, "pool_backward", calls["pool_backward"])


def test_interpreter_wide_settings_of_a_cell_reach_only_its_exercise():
    """Do np.seterr, warnings filters, the recursion limit, an alarm and a chdir set in one cell
    stay out of another exercise's calls (and stay in force for the cell's own exercise)?"""
    settings = """
import os, signal, sys, warnings
np.seterr(all="raise")
warnings.simplefilter("error")
sys.setrecursionlimit(60)

def _ring(*args):
    raise RuntimeError("the alarm set by zero_pad's cell")

signal.signal(signal.SIGALRM, _ring)
signal.setitimer(signal.ITIMER_REAL, 0.3)
os.chdir("/")

def zero_pad(X, pad):
    try:
        np.ones(1) / 0
    except FloatingPointError:
        return "raised"
    return "did not raise"
"""
    observer = """
import os, time

def depth(n):
    return 0 if n == 0 else depth(n - 1) + 1

def conv_single_step(a_slice_prev, W, b):
    time.sleep(0.6)
    return float((np.ones(1) / 0)[0]), depth(200), os.getcwd() != "/"
"""
    calls = {
        "zero_pad": zero_pad_calls()[:1],
        "conv_single_step": [Call((np.ones((2, 2, 1)), np.ones((2, 2, 1)), np.ones((1, 1, 1))))],
    }
    result = run({"zero_pad": settings, "conv_single_step": observer}, calls)
    assert result.outcomes["zero_pad"][0].returned == "raised"
    observed = result.outcomes["conv_single_step"][0]
    assert observed.error is None and observed.returned == (float("inf"), 200, True)


def test_later_cells_cannot_redefine_an_earlier_exercise():
    """Is each exercise graded as its own cell left it, like the notebook's test cell right
    after it (a later cell redefining zero_pad changes nothing)?"""
    later = CANONICAL["conv_forward"].source + "\ndef zero_pad(X, pad):\n    return None\n"
    calls = {"zero_pad": zero_pad_calls()}
    result = run({**canonical("zero_pad"), "conv_forward": later}, calls)
    assert_correct(result, "zero_pad", calls["zero_pad"])


# ------------------------------------------------------------------------------ the data


def test_each_call_gets_fresh_arguments_and_reports_them_after():
    """Does each call get its own deep copy, with in-place changes reported in args_after?"""
    source = "def zero_pad(X, pad):\n    X[...] = pad\n    return X.sum()"
    calls = [Call((np.zeros((1, 2, 2, 1)), 3)), Call((np.zeros((1, 2, 2, 1)), 5))]
    result = run({"zero_pad": source}, {"zero_pad": calls})
    first, second = result.outcomes["zero_pad"]
    assert (first.returned, second.returned) == (12.0, 20.0)
    assert (first.args_after[0] == 3).all() and (second.args_after[0] == 5).all()
    assert (calls[0].args[0] == 0).all()


def test_returned_values_keep_their_exact_types():
    """Do float, np.float64, 0-d arrays, NaN and non-plain objects come back as such?"""
    source = """
def zero_pad(X, pad):
    return [1.5, np.float64(1.5), np.array(1.5), float("nan"), lambda: 0, X[0, 0].view(np.matrix)]
"""
    result = run({"zero_pad": source}, {"zero_pad": zero_pad_calls()[:1]})
    returned = result.outcomes["zero_pad"][0].returned
    assert [type(value).__name__ for value in returned] == [
        "float",
        "float64",
        "ndarray",
        "float",
        "Unsupported",
        "ndarray",
    ]
    assert returned[2].shape == () and np.isnan(returned[3])


def test_a_value_whose_own_code_breaks_its_encoding_fails_only_its_call():
    """Is a returned object whose class raises when inspected reported as an error of that
    call, with the next call and the other exercises unaffected?"""
    source = """
class Hostile(type):
    def __getattribute__(cls, name):
        raise RuntimeError("inspect me not")

class Thing(metaclass=Hostile):
    pass

def zero_pad(X, pad):
    if pad == 0:
        return Thing()
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
"""
    calls = {"zero_pad": zero_pad_calls(), "conv_forward": conv_forward_calls()}
    result = run({"zero_pad": source, **canonical("conv_forward")}, calls)
    first, second = result.outcomes["zero_pad"]
    assert first.error == "crashed: the returned value could not be encoded (RuntimeError)"
    assert second.error is None and second.returned.shape == (2, 7, 7, 2)
    assert_correct(result, "conv_forward", calls["conv_forward"])


def test_printed_output_is_captured_apart_from_the_results():
    """Is what the student prints counted and kept for instructors, apart from the results?"""
    source = CANONICAL["zero_pad"].source.replace(
        "    X_pad =", "    print('debugging', pad)\n    X_pad ="
    )
    calls = {"zero_pad": zero_pad_calls()}
    result = run({"zero_pad": source + "\nprint('cell ran')"}, calls)
    assert "cell ran" in result.output_tail and "debugging 2" in result.output_tail
    assert result.output_bytes == len("cell ran\ndebugging 0\ndebugging 2\n")
    assert_correct(result, "zero_pad", calls["zero_pad"])


def test_each_exercise_runs_alone_with_its_own_cell_in_notebook_order():
    """Does each exercise's process run the setup and its own cell only (no other cell's code,
    no state left by another exercise), and are exercises graded in the notebook's order?"""
    setup = SETUP_SOURCE + "\nloaded, called = [], []"
    source = "loaded.append('{name}')\ndef {name}(*args):\n    called.append('{name}')\n"
    source += "    return list(loaded), list(called), __name__"
    names = list(reversed(EXERCISE_NAMES))
    cells = {name: source.format(name=name) for name in names}
    result = run(cells, {name: [Call(())] for name in names}, setup=setup)
    for name in names:
        assert result.outcomes[name][0].returned == ([name], [name], "__main__")
    assert list(result.outcomes) == list(EXERCISE_NAMES)
