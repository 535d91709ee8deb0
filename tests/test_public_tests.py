"""Tests of public_tests.py: every catalogued mistake is caught with its hint, every correct
implementation passes, the module ships nothing instructor-only, and the gradient checks work."""

from __future__ import annotations

import ast
import copy
import re
import subprocess
import sys
import traceback
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import public_tests
from authoring.notebooks import this_python_kernel
from tests.catalogue import Variant, load
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.correct import CORRECT
from tests.catalogue.mistakes import MISTAKES

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = tuple(CANONICAL)


def namespace_for(variant: Variant) -> dict:
    """A notebook-like namespace: canonical solutions of the other exercises, then the variant."""
    namespace = {"np": np}
    for name, canonical in CANONICAL.items():
        if name != variant.exercise:
            load(canonical, namespace)
    load(variant, namespace)
    return namespace


def public_test(exercise: str):
    return getattr(public_tests, f"{exercise}_test")


def run_public_test(variant: Variant):
    """Run the public test of the variant's exercise on it; return (result, printed text)."""
    namespace = namespace_for(variant)
    return public_test(variant.exercise)(namespace[variant.exercise])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # wrong code averages empty slices
@pytest.mark.parametrize("variant", MISTAKES, ids=lambda v: f"{v.exercise}:{v.label}")
def test_public_test_catches_mistake(variant: Variant, capsys):
    """Does the public test reject this realistic mistake, with its targeted hint?"""
    with pytest.raises(AssertionError) as caught:
        run_public_test(variant)
    message = str(caught.value)
    assert message.startswith(f"{variant.exercise} failed")
    if variant.hint is not None:
        assert variant.hint in message, message
    assert "passed" not in capsys.readouterr().out


CORRECT_AND_CANONICAL = CORRECT + tuple(CANONICAL.values())


@pytest.mark.parametrize("variant", CORRECT_AND_CANONICAL, ids=lambda v: f"{v.exercise}:{v.label}")
def test_public_test_accepts_correct_implementation(variant: Variant, capsys):
    """Does every correct implementation pass, printing one success line and returning None?"""
    assert run_public_test(variant) is None
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert printed[0].startswith(f"{variant.exercise}: all ") and "checks passed" in printed[0]


def test_catalogues_cover_every_exercise():
    """Do the catalogues hold at least 60 mistakes (4+ per exercise) and 15 correct variants,
    with unique labels and mostly targeted hints?"""
    assert len(MISTAKES) >= 60 and len(CORRECT) >= 15
    for exercise in EXERCISES:
        assert sum(v.exercise == exercise for v in MISTAKES) >= 4, exercise
    labels = [(v.exercise, v.label) for v in MISTAKES + CORRECT]
    assert len(labels) == len(set(labels))
    assert sum(v.hint is not None for v in MISTAKES) >= 0.9 * len(MISTAKES)


@pytest.mark.parametrize("variant", MISTAKES + CORRECT, ids=lambda v: f"{v.exercise}:{v.label}")
def test_variant_defines_exactly_its_function(variant: Variant):
    """Is each variant one cell with exactly one top-level def of its exercise?"""
    tree = ast.parse(variant.source)
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert names.count(variant.exercise) == 1


# The student's modules: the public tests and the pre-submission check, which one of them imports
# (graded_cells, the extraction rules, must also import in the grader's extraction child, which
# has the standard library only).
STUDENT_MODULE_IMPORTS = {
    "public_tests.py": {"numpy", "submission_check"},
    "submission_check.py": {"numpy", "public_tests", "graded_cells"},
    "graded_cells.py": set(),
}
# Imported inside a function only, where that function is called in a notebook alone: the
# figure of a wrong answer (IPython and matplotlib are there; test_outside_a_notebook_...).
NOTEBOOK_ONLY_IMPORTS = {"public_tests.py": {"IPython", "matplotlib"}}


@pytest.mark.parametrize("module", sorted(STUDENT_MODULE_IMPORTS))
def test_public_tests_imports_only_numpy_and_stdlib(module):
    """Does each student-facing module import nothing but the standard library, numpy and the
    other student modules it needs (never the grader, the authoring tools or the tests)?"""
    tree = ast.parse((ROOT / module).read_text())
    imported, top_level = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            names = {node.module.split(".")[0]}
        else:
            continue
        imported |= names
        if node in tree.body:
            top_level |= names
    allowed = set(sys.stdlib_module_names) | {"__future__"} | STUDENT_MODULE_IMPORTS[module]
    notebook_only = NOTEBOOK_ONLY_IMPORTS.get(module, set())
    assert imported <= allowed | notebook_only, imported - allowed - notebook_only
    assert not top_level & notebook_only
    assert not imported & {"grader", "authoring", "tests"}


def test_star_import_exports_tests_and_gradient_checks():
    """Does ``from public_tests import *`` give the eight tests and the gradient helpers only?"""
    assert set(public_tests.__all__) == {f"{name}_test" for name in EXERCISES} | {
        "numerical_gradient",
        "relative_error",
        "check_conv_gradients",
        "check_pool_gradients",
        "check_parameter_count",
    }
    for name in public_tests.__all__:
        assert callable(getattr(public_tests, name))


def test_public_tests_work_from_another_directory(tmp_path):
    """Is the data found next to the module, whatever the working directory?"""
    script = "import public_tests\nprint(len(public_tests.public_cases('conv_forward')))\n"
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(completed.stdout) > 0


def test_error_in_student_code_is_chained():
    """Is a crash reported as an AssertionError whose cause is the student's exception?"""

    def crashing(X, pad):
        raise ZeroDivisionError("boom")

    with pytest.raises(AssertionError) as caught:
        public_tests.zero_pad_test(crashing)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert "raised ZeroDivisionError: boom" in str(caught.value)
    frames = traceback.extract_tb(caught.value.__cause__.__traceback__)
    assert [frame.name for frame in frames] == ["crashing"]  # no frame of public_tests.py


def test_failure_renders_short_in_ipython():
    """Does the AssertionError carry what IPython prints instead of its traceback: the message,
    then where the student's code raised, in the case the message names?"""

    def crashing(X, pad):
        raise ZeroDivisionError("boom")

    with pytest.raises(AssertionError) as caught:
        public_tests.zero_pad_test(crashing)
    report = caught.value._render_traceback_()
    label = public_tests.public_cases("zero_pad")[0].label
    assert report[0].startswith("AssertionError: zero_pad failed ")
    assert report[1].startswith(f'First failure, case "{label}"')
    assert f'Where your code raised ZeroDivisionError, in case "{label}":' in report
    assert report[-2:] == [
        f'  File "{__file__}", line {crashing.__code__.co_firstlineno + 1}, in crashing',
        '    raise ZeroDivisionError("boom")',
    ]


# --- what a failure shows in a notebook: a real kernel (nbclient) ------------------------------

MAX_ERROR_LINES = 15
RAISES_WHEN_PAD_IS_0 = Variant(
    "zero_pad",
    "raises-when-pad-is-0",
    """
def zero_pad(X, pad):
    if pad == 0:
        raise ValueError("pad must be positive")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
""",
)
DW_AVERAGED = next(v for v in MISTAKES if v.label == "dW-averaged-over-examples")
FORGOT_STRIDE = next(v for v in MISTAKES if v.label == "forgot-stride")
# (name, cells): scenarios other than one catalogued mistake; the last-but-one cell runs a test.
SCENARIOS = {
    # conv_backward right, the student's zero_pad wrong only for pad = 0 (issue 10: the traceback
    # shown came from another case than the one the message named)
    "zero_pad raising at pad = 0": [
        RAISES_WHEN_PAD_IS_0.source,
        CANONICAL["conv_backward"].source,
        "conv_backward_test(conv_backward)",
        CANONICAL["zero_pad"].source,
    ],
    # ... and conv_backward also wrong on values, in an earlier case than the error
    "zero_pad raising at pad = 0, dW wrong": [
        RAISES_WHEN_PAD_IS_0.source,
        DW_AVERAGED.source,
        "conv_backward_test(conv_backward)",
        CANONICAL["zero_pad"].source + CANONICAL["conv_backward"].source,
    ],
    "forgot-stride, show=False": [
        FORGOT_STRIDE.source,
        "conv_forward_test(conv_forward, show=False)",
        CANONICAL["conv_forward"].source,
    ],
    "canonical conv_forward": ["conv_forward_test(conv_forward)"],
}


def _mistake_cells(variant: Variant) -> list[str]:
    return [
        variant.source,
        f"{variant.exercise}_test({variant.exercise})",
        CANONICAL[variant.exercise].source,  # the next cells test against the right one
    ]


@pytest.fixture(scope="module")
def in_a_kernel() -> dict[str, list]:
    """Every catalogued mistake and every scenario run in one ipykernel of this Python, from the
    repository's root (public_tests.py beside): the outputs of each test cell, by variant label
    ("exercise:label") or scenario name."""
    runs = {f"{v.exercise}:{v.label}": _mistake_cells(v) for v in MISTAKES} | SCENARIOS
    cells = ["import numpy as np\nfrom public_tests import *"]
    cells += [canonical.source for canonical in CANONICAL.values()]
    test_cell = {}
    for name, run in runs.items():
        test_cell[name] = len(cells) + (len(run) - 2 if len(run) > 1 else 0)
        cells += run
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = NotebookClient(
        notebook,
        km=this_python_kernel(),
        timeout=120,
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()
    return {name: notebook.cells[index].outputs for name, index in test_cell.items()}


def _error_text(outputs) -> str:
    errors = [output for output in outputs if output.output_type == "error"]
    assert len(errors) == 1, outputs
    assert errors[0].ename == "AssertionError"  # nbgrader validate and pytest rely on it
    return "\n".join(errors[0].traceback)


def _figures(outputs) -> int:
    return sum("image/png" in output.get("data", {}) for output in outputs)


def test_a_failure_in_a_notebook_is_short_and_shows_no_internals(in_a_kernel):
    """Acceptance (issue 10, item 2): is every catalogued mistake's error output in a notebook
    at most 15 lines, the message first, with no line of public_tests.py and no chain?"""
    for variant in MISTAKES:
        text = _error_text(in_a_kernel[f"{variant.exercise}:{variant.label}"])
        lines = text.splitlines()
        assert len(lines) <= MAX_ERROR_LINES, text
        assert lines[0].startswith(f"AssertionError: {variant.exercise} failed"), text
        assert "public_tests" not in text and "Traceback" not in text, text
        assert "direct cause" not in text and "\x1b[" not in text, text


def test_the_traceback_shown_is_the_named_cases(in_a_kernel):
    """Does the traceback, when the student's code raised, come from the very case the message
    names, with the student's frames only (their zero_pad raising at pad = 0, under the pad = 0
    case), and is none shown when the case named did not raise, even if another case did (issue
    10: a traceback of the pad = 0 case under the heading of another)?"""
    label = "pad = 0, overlapping windows"
    lines = _error_text(in_a_kernel["zero_pad raising at pad = 0"]).splitlines()
    assert lines[1].startswith(f'First failure, case "{label}": conv_backward('), lines
    where = lines.index(f'Where your code raised ValueError, in case "{label}":')
    assert re.fullmatch(r"  Cell In\[\d+\], line \d+, in conv_backward", lines[where + 1])
    assert lines[where + 2] == "    A_prev_pad = zero_pad(A_prev, pad)"
    assert re.fullmatch(r"  Cell In\[\d+\], line \d+, in zero_pad", lines[where + 3])
    assert lines[where + 4 :] == ['    raise ValueError("pad must be positive")']

    lines = _error_text(in_a_kernel["zero_pad raising at pad = 0, dW wrong"]).splitlines()
    first = public_tests.public_cases("conv_backward")[0].label
    assert first != label and lines[1].startswith(f'First failure, case "{first}"'), lines
    assert "dW has the right shape but wrong values" in lines[2], lines
    assert not any("raise" in line for line in lines[3:]), lines

    raised = 0
    for variant in MISTAKES:
        lines = _error_text(in_a_kernel[f"{variant.exercise}:{variant.label}"]).splitlines()
        named = re.match(r'First failure, case "(.*?)": ', lines[1]).group(1)
        for line in lines:
            if line.startswith("Where your code raised"):
                raised += 1
                assert line.endswith(f'in case "{named}":'), lines
    assert raised >= 10


def test_a_wrong_answer_shows_its_difference_figure(in_a_kernel):
    """Acceptance (issue 10, item 6): does a failure on values (structure right) show one
    figure, before the message, any other failure none, a passing test none, and show=False
    none?"""
    drawn = 0
    for variant in MISTAKES:
        outputs = in_a_kernel[f"{variant.exercise}:{variant.label}"]
        message = _error_text(outputs)
        on_values = "right shape but wrong values" in message or "values other than" in message
        assert _figures(outputs) == on_values, (variant.label, message)
        if on_values:
            assert outputs[0].output_type == "display_data" and outputs[-1].output_type == "error"
            assert outputs[0].data["text/plain"].startswith("<figure: expected, got and got -")
            drawn += 1
    assert drawn >= 30
    assert _figures(in_a_kernel["forgot-stride, show=False"]) == 0
    _error_text(in_a_kernel["forgot-stride, show=False"])
    passing = in_a_kernel["canonical conv_forward"]
    assert [output.output_type for output in passing] == ["stream"]


@pytest.mark.parametrize(
    ("backend", "display", "place"),
    [("TkAgg", ":0", "window"), ("agg", ":0", None), ("TkAgg", None, None)],
)
def test_outside_a_kernel_a_figure_needs_pyplot_an_interactive_backend_and_a_display(
    backend, display, place, monkeypatch
):
    """Is the figure drawn outside a Jupyter kernel only in a window of a program already using
    pyplot with an interactive backend, on a display (never in a script or the sandbox)?"""
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    assert public_tests._drawing_place() is None  # pyplot not in use
    pyplot = types.SimpleNamespace(get_backend=lambda: backend)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    assert public_tests._drawing_place() == place


def test_outside_a_notebook_nothing_is_drawn_or_imported():
    """Does a failing test outside IPython (a script, the grader's sandbox) draw nothing and
    import neither matplotlib nor IPython?"""
    script = (
        "import sys, numpy as np, public_tests\n"
        "def zero_pad(X, pad):\n"
        "    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))) + 1.0\n"
        "try:\n"
        "    public_tests.zero_pad_test(zero_pad)\n"
        "except AssertionError as failure:\n"
        "    assert 'wrong values' in str(failure)\n"
        "print(sorted(m for m in ('matplotlib', 'IPython') if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "DISPLAY": ":0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "[]", completed.stdout + completed.stderr


def test_not_a_function_is_rejected():
    """Does passing something that is not callable fail clearly?"""
    with pytest.raises(AssertionError, match="expects your function zero_pad"):
        public_tests.zero_pad_test(None)


def test_shape_message_gives_got_expected_and_formula():
    """Does a wrong shape name the thing, give got vs expected and the output-size formula?"""
    bad = Variant(
        "conv_forward",
        "zeros-of-input-shape",
        """
def conv_forward(A_prev, W, b, hparameters):
    return np.zeros(A_prev.shape[:3] + (W.shape[3],)), (A_prev, W, b, hparameters)
""",
    )
    with pytest.raises(AssertionError) as caught:
        run_public_test(bad)
    message = str(caught.value)
    assert "conv_forward(...)[0] (Z) has shape (2, 5, 7, 8); expected (2, 3, 4, 8)" in message
    assert "floor((n_H_prev - f + 2 * pad) / stride) + 1" in message


def test_array_subclass_is_rejected():
    """Is an np.ndarray subclass (whose comparisons could lie) refused?"""

    class Agreeable(np.ndarray):
        def __eq__(self, other):
            return True

    def sneaky(X, pad):
        return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0))).view(Agreeable)

    with pytest.raises(AssertionError, match="np.ndarray subclass"):
        public_tests.zero_pad_test(sneaky)


def test_nan_fails_values():
    """Does NaN in an output fail, even where everything else is right?"""

    def with_nan(dz, shape):
        a = np.full(shape, dz / (shape[0] * shape[1]))
        a[0, 0] = np.nan
        return a

    with pytest.raises(AssertionError, match="NaN"):
        public_tests.distribute_value_test(with_nan)


def test_diagnose_is_total_on_garbage():
    """Does diagnose return None or a hint, never raise, whatever the results hold?"""
    junk = [object(), None, "text", np.array(["a"]), (1, 2), np.full((2, 2), np.nan)]
    for exercise in EXERCISES:
        case = public_tests.public_cases(exercise)[0]
        results = [
            public_tests.CaseResult(case.tags, case.args, got, case.expected, False) for got in junk
        ]
        results.append(public_tests.CaseResult(case.tags, case.args, 1, None, False))
        hint = public_tests.diagnose(exercise, results)
        assert hint is None or isinstance(hint, str)
        assert public_tests.diagnose(exercise, []) is None


def test_diagnose_pattern_needs_a_passing_contrast():
    """Is "fails only when pad = 0" said only when a case without pad = 0 passes?"""
    case = public_tests.public_cases("zero_pad")[0]
    failing = public_tests.CaseResult(
        frozenset({"pad=0"}), case.args, public_tests.Raised("ValueError: x"), case.expected, False
    )
    passing = public_tests.CaseResult(frozenset({"pad>0"}), case.args, None, case.expected, True)
    assert "pad = 0" in public_tests.diagnose("zero_pad", [failing, passing])
    assert public_tests.diagnose("zero_pad", [failing]) is None


def _loaded(exercise: str):
    return namespace_for(CANONICAL[exercise])[exercise]


def test_conv_gradient_check_passes_on_canonical_and_fails_on_broken(capsys):
    """Does check_conv_gradients accept a right backward and reject a wrong one?"""
    conv_forward, conv_backward = _loaded("conv_forward"), _loaded("conv_backward")
    public_tests.check_conv_gradients(conv_forward, conv_backward)
    assert "relative errors" in capsys.readouterr().out

    def broken_backward(dZ, cache):
        dA_prev, dW, db = conv_backward(dZ, cache)
        return dA_prev, dW * 1.01, db

    with pytest.raises(AssertionError, match="dW"):
        public_tests.check_conv_gradients(conv_forward, broken_backward)

    def flat_db(dZ, cache):
        dA_prev, dW, db = conv_backward(dZ, cache)
        return dA_prev, dW, db.ravel()

    with pytest.raises(AssertionError, match=r"db is \(2,\); expected an array of shape"):
        public_tests.check_conv_gradients(conv_forward, flat_db)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_pool_gradient_check_passes_on_canonical_and_fails_on_broken(mode, capsys):
    """Does check_pool_gradients accept a right backward and reject a wrong one, in each mode?"""
    pool_forward, pool_backward = _loaded("pool_forward"), _loaded("pool_backward")
    public_tests.check_pool_gradients(pool_forward, pool_backward, mode)
    assert "relative errors" in capsys.readouterr().out
    other = "average" if mode == "max" else "max"

    def swapped_backward(dA, cache, mode="max"):
        return pool_backward(dA, cache, other)

    with pytest.raises(AssertionError, match="differs from the numerical gradient"):
        public_tests.check_pool_gradients(pool_forward, swapped_backward, mode)


@pytest.mark.parametrize("backward", ["conv_backward", "pool_backward"])
def test_gradient_check_reports_an_error_short(backward):
    """Does an error of the student's functions in a gradient check fail as an AssertionError
    naming it, chained, that IPython shows with the student's frames and none of ours?"""
    forward = _loaded(backward.replace("backward", "forward"))

    def crashing(*args):
        raise ValueError("boom")

    check = getattr(public_tests, f"check_{backward.split('_')[0]}_gradients")
    with pytest.raises(
        AssertionError, match=f"{backward}.* gradient check: ValueError: boom"
    ) as caught:
        check(forward, crashing)
    assert isinstance(caught.value.__cause__, ValueError)
    report = caught.value._render_traceback_()
    assert report[-2:] == [
        f'  File "{__file__}", line {crashing.__code__.co_firstlineno + 1}, in crashing',
        '    raise ValueError("boom")',
    ]
    assert f'"{public_tests.__file__}"' not in "\n".join(report)


@pytest.mark.parametrize("backward", ["conv_backward", "pool_backward"])
def test_a_gradient_check_blames_part_1_when_the_forward_function_is_not_done(backward, capsys):
    """With the forward function (Part 1) still raising NotImplementedError, does the gradient
    check say that Part 1 is not done (not the optional part), and raise nothing?"""

    def not_done(*args):
        raise NotImplementedError

    forward = backward.replace("backward", "forward")
    check = getattr(public_tests, f"check_{backward.split('_')[0]}_gradients")
    check(not_done, not_done)
    out = capsys.readouterr().out
    assert f"{forward} (Part 1) is not done yet" in out and public_tests.NOT_DONE_YET not in out


def test_parameter_count_failure_renders_short():
    """Does a wrong parameter count fail with the message alone in IPython?"""
    with pytest.raises(AssertionError) as caught:
        public_tests.check_parameter_count(1, f=5, n_C_prev=3, n_C=8)
    assert caught.value._render_traceback_() == [f"AssertionError: {caught.value}"]


def test_numerical_gradient_of_a_known_function():
    """Is the centred difference exact (to rounding) on a quadratic?"""
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    df = np.array([[1.0, 2.0], [3.0, 4.0]])
    gradient = public_tests.numerical_gradient(lambda value: value**2, x, df)
    assert public_tests.relative_error(gradient, 2 * x * df) < 1e-8
    assert np.array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored after the probes


def test_parameter_count_check(capsys):
    """Does check_parameter_count wait for None, accept f * f * n_C_prev * n_C + n_C, and reject
    the usual miscounts with a hint that names what was forgotten?"""
    public_tests.check_parameter_count(None, f=5, n_C_prev=3, n_C=8)
    assert "not answered yet" in capsys.readouterr().out
    public_tests.check_parameter_count(608, f=5, n_C_prev=3, n_C=8)
    assert "right, 600 weights and 8 biases" in capsys.readouterr().out
    public_tests.check_parameter_count(np.int64(608), f=5, n_C_prev=3, n_C=8)
    for answer, hint in [
        (600, "each filter also has a bias"),
        (76, "the layer has n_C of them"),
        (208, "all n_C_prev input channels"),
        (607, "n_C_prev weights and one bias"),
        (608.0, "a whole number"),
        (True, "a whole number"),
    ]:
        with pytest.raises(AssertionError, match=hint):
            public_tests.check_parameter_count(answer, f=5, n_C_prev=3, n_C=8)


# ---------------------------------------------------------------------------------------------
# Hints that are never wrong (issue 10): a hint may not claim what the failing cases refute.

# (phrase of a hint, tag): the phrase says the failures are limited to cases with the tag.
ONLY_WITH = (
    ("fails only when pad = 0", "pad=0"),
    ("fails only when windows overlap", "overlap"),
    ("for overlapping windows", "overlap"),
    ("right only when stride = f", "stride!=f"),
    ("does not divide evenly", "uneven"),
    ("fails only when stride > f", "stride>f"),
    ("right for square inputs", "non-square"),
    ("as large as the input", "f=n"),
    ("fails only for 1 x 1 windows", "f=1"),
    ("only the first example is right", "m>1"),
)
# (phrase, tag): the phrase says every case with the tag is right.
RIGHT_WITH = (
    ("right when pad = 0", "pad=0"),
    ("right when stride = 1", "stride=1"),
    ("right for one example", "m=1"),
    ("right with one channel", "n_C=1"),
)
GRADIENTS = ("dA_prev", "dW", "db")


def _tags(case) -> frozenset[str]:
    return public_tests._derived_tags(case.tags)


def _outputs(exercise: str, got) -> dict[str, np.ndarray]:
    """The outputs a hint may name ("A", "dW", ...), as plain float arrays."""
    if exercise == "conv_backward" and type(got) in (tuple, list) and len(got) == 3:
        parts = dict(zip(GRADIENTS, got, strict=True))
    else:
        parts = {"output": public_tests._main_output(exercise, got)}
    return {name: value for name, value in parts.items() if type(value) is np.ndarray}


def judged_public_run(variant: Variant):
    """The public test's verdict on each case, as the test itself judges it:
    [(case, output, mismatch or None, right outputs)], and the message it raises."""
    function = namespace_for(variant)[variant.exercise]
    rows = []
    for case in public_tests.public_cases(variant.exercise):
        before = copy.deepcopy(case.args)
        got, _ = public_tests._call(function, case.args)
        mismatch = (
            public_tests.modified_inputs(variant.exercise, before, case.args)
            if not isinstance(got, public_tests.Raised)
            else None
        )
        for aspect in ("values", "cache"):
            mismatch = mismatch or public_tests.compare_output(
                variant.exercise, before, got, case.expected, aspect
            )
        right = set()
        if variant.exercise == "conv_backward":
            right = {
                name
                for name in GRADIENTS
                if public_tests.compare_output(variant.exercise, before, got, case.expected, name)
                is None
            }
        rows.append((case, got, mismatch, right))
    with pytest.raises(AssertionError) as caught:
        public_test(variant.exercise)(function)
    return rows, str(caught.value)


def contradictions(exercise: str, hint: str, rows, headline) -> list[str]:
    """What in ``hint`` the failing cases refute (rules derived from the vocabulary of
    public_tests.diagnose: modes, tags, constant factors, zeros, named outputs)."""
    failing = [(case, got, right) for case, got, mismatch, right in rows if mismatch]
    passing = [case for case, _, mismatch, _ in rows if mismatch is None]
    found = []
    for phrase, tag in ONLY_WITH:
        if phrase in hint and not all(tag in _tags(case) for case, _, _ in failing):
            found.append(f'"{phrase}" but a case without {tag} fails')
    for phrase, tag in RIGHT_WITH:
        if phrase in hint and any(tag in _tags(case) for case, _, _ in failing):
            found.append(f'"{phrase}" but a case with {tag} fails')
        if phrase in hint and not any(tag in _tags(case) for case in passing):
            found.append(f'"{phrase}" but no case with {tag} passes')
    if "right with one channel" in hint and any("n_C=1" not in _tags(c) for c in passing):
        found.append(
            '"right with one channel, wrong with several" but a several-channel case passes'
        )
    modes = [mode for mode in ("max", "average") if f"{mode} mode" in hint]
    if len(modes) == 1 and not all(f"mode={modes[0]}" in case.tags for case, _, _ in failing):
        found.append(f"names {modes[0]} mode only, but a case of the other mode fails")
    named = [name for name in GRADIENTS if re.search(rf"\b{name}\b", hint)]
    for _, got, _ in failing:
        outputs = _outputs(exercise, got)
        for name, value in outputs.items():
            zeros = not np.any(value)
            if "constant factor" in hint and zeros and (name in named or name == "output"):
                found.append(f"constant factor, but {name} is all zeros in a failing case")
    if "returned zeros" in hint or " is all zeros" in hint:
        zero_named = [n for n in named if f"{n} is all zeros" in hint] or ["output"]
        for name in zero_named:
            if not any(
                name in _outputs(exercise, got) and not np.any(_outputs(exercise, got)[name])
                for case, got, _ in failing
            ):
                found.append(f"says {name} is all zeros, but no failing case returns zeros")
    if " is wrong while " in hint:
        right_part = hint.split(" is wrong while ", 1)[1]
        said_right = {name for name in GRADIENTS if name in right_part.split(":")[0]}
        if not all(said_right <= right for _, _, right in failing):
            found.append(f"says {sorted(said_right)} are right, but one is wrong in a failing case")
    shown = headline.what  # the output the failure shown is about
    if exercise == "conv_backward" and shown in GRADIENTS and named and shown not in named:
        found.append(f"the failure shown is about {headline.what}, the hint about {named}")
    return found


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # wrong code averages empty slices
@pytest.mark.parametrize("variant", MISTAKES, ids=lambda v: f"{v.exercise}:{v.label}")
def test_hint_never_contradicts_failing_cases(variant: Variant):
    """Does no catalogued mistake get a hint its own failing cases refute ("only in max mode"
    while an average case fails, "constant factor" for zeros, a hint about dW under a failure of
    dA_prev), and is an input changed in place always the failure shown, with no hint?"""
    rows, message = judged_public_run(variant)
    failures = [mismatch for _, _, mismatch, _ in rows if mismatch]
    modified = [mismatch for mismatch in failures if mismatch.kind == "modified"]
    headline = modified[0] if modified else failures[0]
    assert headline.detail in message, message
    hints = [line[len("Hint: ") :] for line in message.splitlines() if line.startswith("Hint: ")]
    if modified:
        assert not hints, message
    if hints:
        assert contradictions(variant.exercise, hints[0], rows, headline) == [], message


def test_contradiction_rules_catch_the_issue_10_hints():
    """Would the rules above have caught the hints the issue reported (so they test something)?"""
    rows = {}
    for label in ("assigns-dW", "assigns-every-gradient"):
        variant = next(v for v in MISTAKES if v.label == label)
        rows[label] = judged_public_run(variant)[0]
    factor = (
        "dW is off by a constant factor: gradients are sums over all examples and positions"
        " (no averaging, no extra factor)"
    )
    headline = next(m for _, _, m, _ in rows["assigns-dW"] if m)
    assert contradictions("conv_backward", factor, rows["assigns-dW"], headline)
    headline = next(m for _, _, m, _ in rows["assigns-every-gradient"] if m)
    assert any(
        "hint about" in text
        for text in contradictions(
            "conv_backward", factor, rows["assigns-every-gradient"], headline
        )
    )
    avg = next(
        v for v in MISTAKES if v.exercise == "pool_backward" and v.label == "mode-string-avg"
    )
    avg_rows = judged_public_run(avg)[0]
    headline = next(m for _, _, m, _ in avg_rows if m)
    wrong = "average mode is off by a constant factor: each entry of an f x f window gets dA"
    assert contradictions("pool_backward", wrong, avg_rows, headline)
    assert contradictions("pool_backward", "fails only in max mode", avg_rows, headline)


def test_unrecognised_wrong_values_are_said_plainly():
    """Do wrong values that match no known mistake get a plain "none of the known mistakes
    matches" instead of a guess?"""
    distribute_value = _loaded("distribute_value")

    def off_in_one_corner(dz, shape):
        a = distribute_value(dz, shape)
        a[0, 0] += 0.37
        return a

    with pytest.raises(AssertionError) as caught:
        public_tests.distribute_value_test(off_in_one_corner)
    assert str(caught.value).splitlines()[-1] == f"Hint: {public_tests.NO_DIAGNOSIS}"
