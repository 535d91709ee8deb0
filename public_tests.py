"""Public tests of the eight exercises and the feedback students see (numpy and stdlib only).

Each ``<exercise>_test(target)`` calls the student's function on the public cases stored in
``public_tests_data.npz`` (next to this file; inputs drawn once from ``np.random.default_rng(seed)``
and expected outputs computed once by the instructors' reference, see ``authoring/public_data.py``).
It raises ``AssertionError`` naming the first failing case, what was wrong (got vs expected)
and, when it recognises a known mistake, a targeted hint (wrong values that match none say so);
otherwise it prints one success line and returns None. Backward tests use stored caches, never
the student's forward functions. In a notebook, a test first runs the cell that defined the
function alone, as the grader does (``submission_check.check_cell``), and fails naming any
helper, import or variable the function uses that its cell does not define. The backward part is
optional: while a backward function raises NotImplementedError on every case (its stub), its
test and gradient check print "optional part not done yet" instead of failing, so that a
notebook whose graded part is complete passes `nbgrader validate`; any other failure still
raises.

What is checked, in this order, for every case:
  1. the call returned (an exception counts as a failure; the student's exception is chained),
  2. None -> type -> tuple length -> shape -> scalar-ness -> dtype -> NaN/infinity -> values,
  3. the cache, for conv_forward ``(A_prev, W, b, hparameters)`` and pool_forward
     ``(A_prev, hparameters)``: the very inputs, in that order, unpadded,
  4. the inputs are unchanged after the call (compared with a copy taken before it).
An input changed in place is reported first, whatever the values: it may be why they are wrong.

What a failure shows: the message (the case, got vs expected, a hint) and, when the student's
code raised, where it raised in that very case, as the student's own frames: in IPython (a
notebook) the AssertionError renders itself that way (``_render_traceback_``), with no line of
this file. When the values are wrong but the structure is right, a notebook also shows a figure
of the failing case (expected, got, where they differ; ``show=False`` turns it off); outside a
Jupyter kernel it is drawn only where pyplot is already in use with an interactive backend, so
scripts, test runs and the grader's sandbox neither draw nor import matplotlib.

Tolerances: floating-point values must satisfy ``np.isclose(got, expected, rtol=1e-7,
atol=1e-9)`` (float64 arithmetic in any summation order is far inside that); cached inputs,
integer outputs and masks must be exactly equal.

Accepted types (every correct implementation passes):
  - arrays must be plain ``np.ndarray`` (subclasses such as np.matrix are rejected);
  - float outputs must have dtype float64 or a wider float (np.longdouble), in either byte order
    (a big-endian ``>f8`` array holds the same values); float32 and float16 lose the precision
    the tolerances assume, and an integer array would truncate every value written into it;
  - zero_pad keeps integer inputs integer (an integer or a float64 result of equal values is
    accepted for integer inputs; float64 is required for float64 inputs);
  - conv_single_step must return one real number: a Python float, np.float64, np.longdouble or
    a 0-d array of such a dtype; np.float32, np.float16 and NumPy integer, boolean or complex
    scalars are rejected, and so is an array of shape (1, 1, 1) (use ``b.item()``);
  - masks may be boolean or hold 0/1 in an integer or float dtype;
  - tuples may be tuples or lists of the right length.

Tags: each case carries tags that describe what makes it special; ``diagnose`` uses them to say
"fails only when ...". Vocabulary:
  "pad=0", "pad>0"          padding of conv_forward / conv_backward / zero_pad
  "stride=1", "stride>1"    step between windows
  "uneven"                  the stride does not divide (n_prev - f + 2 * pad) evenly
  "stride>f", "overlap"     windows leave gaps (stride > f) or overlap (stride < f)
  "f=1", "f=n"              1 x 1 windows; a window as large as the (padded) input
  "non-square"              height != width (of the input, the window, or the shape argument)
  "m=1", "m>1"              one example or several
  "n_C=1"                   a single channel (input channels and filters)
  "mode=max", "mode=average"  pooling mode (a call without mode is "mode=max")

The diagnosis is pure: ``diagnose(exercise, results)`` looks only at CaseResult data, so the
trusted grader calls the same function on its hidden cases. Its hints never quote numbers from
the data (hidden inputs and expected values stay hidden).
"""

from __future__ import annotations

import copy
import functools
import io
import json
import linecache
import math
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "zero_pad_test",
    "conv_single_step_test",
    "conv_forward_test",
    "pool_forward_test",
    "conv_backward_test",
    "create_mask_from_window_test",
    "distribute_value_test",
    "pool_backward_test",
    "numerical_gradient",
    "relative_error",
    "check_conv_gradients",
    "check_pool_gradients",
]

RTOL = 1e-7
ATOL = 1e-9
GRADIENT_EPS = 1e-6  # centred-difference step
GRADIENT_TOLERANCE = 1e-6  # largest relative error accepted between analytic and numerical
DATA_PATH = Path(__file__).with_name("public_tests_data.npz")
DATA_FORMAT = 1

EXERCISE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "zero_pad": ("X", "pad"),
    "conv_single_step": ("a_slice_prev", "W", "b"),
    "conv_forward": ("A_prev", "W", "b", "hparameters"),
    "pool_forward": ("A_prev", "hparameters", "mode"),
    "conv_backward": ("dZ", "cache"),
    "create_mask_from_window": ("x",),
    "distribute_value": ("dz", "shape"),
    "pool_backward": ("dA", "cache", "mode"),
}
# The optional part (scored separately): its tests print that it is not done instead of failing
# while the function still raises NotImplementedError, so that `nbgrader validate` passes a
# notebook whose graded part is complete. A wrong implementation still fails.
OPTIONAL_EXERCISES = frozenset(
    {"conv_backward", "create_mask_from_window", "distribute_value", "pool_backward"}
)
NOT_DONE_YET = "optional part not done yet"


# ---------------------------------------------------------------------------------------------
# Public cases: data stored next to this module.


@dataclass(frozen=True)
class PublicCase:
    """One stored case: the positional arguments of a call and the expected return value."""

    exercise: str
    label: str
    tags: frozenset[str]
    args: tuple
    expected: object


@functools.cache
def _stored_data() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(DATA_PATH, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    manifest = json.loads(arrays.pop("manifest").item())
    if manifest.get("format") != DATA_FORMAT:
        raise RuntimeError(f"{DATA_PATH.name} has format {manifest.get('format')}, need 1")
    return manifest, arrays


def decode(spec, arrays: dict[str, np.ndarray]):
    """Rebuild a value from its JSON spec; arrays are fresh copies (callers may modify them)."""
    if "array" in spec:
        return arrays[spec["array"]].copy()
    if "int" in spec:
        return int(spec["int"])
    if "float" in spec:
        return float(spec["float"])
    if "float64" in spec:
        return np.float64(spec["float64"])
    if "str" in spec:
        return str(spec["str"])
    if "dict" in spec:
        return {key: decode(value, arrays) for key, value in spec["dict"].items()}
    if "tuple" in spec:
        return tuple(decode(item, arrays) for item in spec["tuple"])
    raise ValueError(f"unknown value spec {spec!r}")


def public_cases(exercise: str) -> tuple[PublicCase, ...]:
    """The public cases of one exercise, freshly decoded (safe to pass to untrusted code)."""
    manifest, arrays = _stored_data()
    return tuple(
        PublicCase(
            exercise=exercise,
            label=case["label"],
            tags=frozenset(case["tags"]),
            args=decode(case["args"], arrays),
            expected=decode(case["expected"], arrays),
        )
        for case in manifest["cases"][exercise]
    )


# ---------------------------------------------------------------------------------------------
# Structure-then-values comparison, shared with the trusted grader.


@dataclass(frozen=True)
class Raised:
    """Stands for a call that raised instead of returning: ``"<ExceptionType>: <message>"``
    (the grader also uses "timeout", "crashed: ...", "not found", "output too large")."""

    error: str


# Mismatches whose own sentence says everything: no diagnosis is added to them.
QUIET_KINDS = frozenset({"none", "dtype", "cache", "modified"})


@dataclass(frozen=True)
class Mismatch:
    """Why a returned value is not accepted.

    what    -- the thing, e.g. "Z", "cache", "dW"
    kind    -- "raised", "none", "type", "length", "shape", "scalar", "dtype", "nan", "values",
               "cache" or "modified"
    summary -- one sentence without any number taken from the data (safe for hidden cases)
    detail  -- the same with got vs expected (for public cases)
    """

    what: str
    kind: str
    summary: str
    detail: str


_SHAPE_RULES = {
    "zero_pad": " = (m, n_H + 2 * pad, n_W + 2 * pad, n_C)",
    "conv_forward": (
        " = (m, n_H, n_W, n_C) with n_H = floor((n_H_prev - f + 2 * pad) / stride) + 1,"
        " n_W likewise and n_C = number of filters"
    ),
    "pool_forward": (
        " = (m, n_H, n_W, n_C) with n_H = floor((n_H_prev - f) / stride) + 1, n_W likewise"
    ),
    "create_mask_from_window": ", the shape of x",
    "distribute_value": ", the shape argument (n_H, n_W)",
    "pool_backward": ", the shape of A_prev",
}
_BACKWARD_SHAPES = {"dA_prev": "A_prev", "dW": "W", "db": "b"}
_CACHE_NAMES = {
    "conv_forward": ("A_prev", "W", "b", "hparameters"),
    "pool_forward": ("A_prev", "hparameters"),
}


def _type_name(value) -> str:
    # The grader decodes objects that are not plain data into ``Unsupported(type_name)``.
    if type(value).__name__ == "Unsupported" and isinstance(getattr(value, "type_name", 0), str):
        return value.type_name
    return type(value).__name__


def _raised_mismatch(what: str, raised: Raised) -> Mismatch:
    error = raised.error
    if error.startswith("NotImplementedError"):
        text = "is not implemented yet (it raises NotImplementedError)"
        return Mismatch(what, "raised", f"{what} {text}", f"{what} {text}")
    if error == "timeout":
        text = "took too long and was stopped (an endless loop, or far too much work?)"
        return Mismatch(what, "raised", f"{what} {text}", f"{what} {text}")
    exception_type = error.split(":", 1)[0].strip() or "an error"
    return Mismatch(what, "raised", f"{what} raised {exception_type}", f"{what} raised {error}")


def _dtype_message(what: str, dtype) -> tuple[str, str]:
    summary = f"{what} has the wrong dtype (expected float64)"
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        why = (
            "an integer or boolean array truncates every value you store in it; np.zeros(shape)"
            " gives float64 (np.zeros_like(x) copies the dtype of x)"
        )
    else:
        why = "keep the full precision of the float64 inputs"
    return summary, f"{what} has dtype {dtype}; expected float64: {why}"


def _full_precision(dtype: np.dtype) -> bool:
    """float64 or a wider float (np.longdouble), in either byte order: byte order is storage,
    not value (the grader's wire carries it as it is)."""
    return dtype.kind == "f" and dtype.itemsize >= 8


def compare_array(
    what: str, got, expected: np.ndarray, dtype_rule: str, shape_rule: str = "", values=True
) -> Mismatch | None:
    """Structure, then (if ``values``) values of one array output.

    dtype_rule -- "float": float64 (or wider) required; "numeric": the same for float inputs,
                  integer or float64 (or wider) for integer inputs; "mask": bool or 0/1 in an
                  integer or float dtype; byte order never matters
    """
    if isinstance(got, Raised):
        return _raised_mismatch(what, got)
    if got is None:
        text = f"{what} is None: did you forget to return it?"
        return Mismatch(what, "none", text, text)
    if type(got) is not np.ndarray:
        if isinstance(got, np.ndarray):
            text = (
                f"{what} is a {_type_name(got)} (an np.ndarray subclass); return a plain np.ndarray"
            )
            return Mismatch(what, "type", text, text)
        summary = f"{what} is a {_type_name(got)}; expected a NumPy array"
        return Mismatch(what, "type", summary, f"{summary} of shape {expected.shape}")
    if got.shape != expected.shape:
        return Mismatch(
            what,
            "shape",
            f"{what} has the wrong shape",
            f"{what} has shape {got.shape}; expected {expected.shape}{shape_rule}",
        )
    kind = got.dtype.kind
    if dtype_rule == "mask":
        if kind not in "biuf":
            summary = f"{what} has the wrong dtype; expected a boolean mask (or 0/1 numbers)"
            detail = f"{what} has dtype {got.dtype}; expected a boolean mask (or 0/1 numbers)"
            return Mismatch(what, "dtype", summary, detail)
    elif dtype_rule == "numeric" and expected.dtype.kind in "iu":
        if kind not in "iu" and not _full_precision(got.dtype):
            summary = f"{what} has the wrong dtype; expected the integer dtype of X"
            detail = (
                f"{what} has dtype {got.dtype}; expected the integer dtype of X ({expected.dtype})"
            )
            return Mismatch(what, "dtype", summary, detail)
    elif not _full_precision(got.dtype):
        summary, detail = _dtype_message(what, got.dtype)
        return Mismatch(what, "dtype", summary, detail)
    if not values:
        return None
    if kind == "f" and not np.all(np.isfinite(got)):
        text = f"{what} contains NaN or infinity"
        return Mismatch(what, "nan", text, text)
    if dtype_rule == "mask":
        as_numbers = got.astype(np.float64)
        if not np.all((as_numbers == 0) | (as_numbers == 1)):
            text = f"{what} holds values other than True/False (1/0); a mask marks positions"
            return Mismatch(what, "values", text, text)
        got, expected = as_numbers, expected.astype(np.float64)
        close = got == expected
    elif kind in "iu" and expected.dtype.kind in "iu":
        close = got == expected
    else:
        close = np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    if np.all(close):
        return None
    wrong = int(np.size(close) - np.count_nonzero(close))
    difference = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    worst = np.unravel_index(int(np.argmax(np.where(close, -1.0, difference))), got.shape)
    worst_index = tuple(int(i) for i in worst)
    return Mismatch(
        what,
        "values",
        f"{what} has the right shape but wrong values",
        f"{what} has the right shape but wrong values: {wrong} of {got.size} entries differ; at"
        f" index {worst_index} got {got[worst].item()!r}, expected {expected[worst].item()!r}"
        f" (tolerance rtol={RTOL:g}, atol={ATOL:g})",
    )


_SCALAR_TYPES = (float, int, np.float64, np.longdouble)


def compare_scalar(what: str, got, expected, values=True) -> Mismatch | None:
    """One real number: Python float, np.float64, np.longdouble or a 0-d array of float64 (or
    wider, either byte order)."""
    if isinstance(got, Raised):
        return _raised_mismatch(what, got)
    if got is None:
        text = f"{what} is None: did you forget to return it?"
        return Mismatch(what, "none", text, text)
    if type(got) is np.ndarray:
        if got.shape != () and got.size == 1:
            summary = f"{what} is an array, not a scalar: use b.item() to add the bias as a number"
            detail = (
                f"{what} is an array of shape {got.shape}; expected a scalar. b has shape"
                " (1, 1, 1), so adding b (or np.float64(b)) gives an array: add b.item(),"
                " a Python float (float(b) fails on NumPy 2)"
            )
            return Mismatch(what, "scalar", summary, detail)
        if got.shape != ():
            summary = f"{what} is an array, not a scalar: sum the element-wise product"
            return Mismatch(
                what,
                "scalar",
                summary,
                f"{what} is an array of shape {got.shape}; "
                "expected a single number: sum the element-wise product with np.sum",
            )
        if not _full_precision(got.dtype):
            summary, detail = _dtype_message(what, got.dtype)
            return Mismatch(what, "dtype", summary, detail)
        value = float(got)
    elif type(got) in (np.float32, np.float16):
        summary, detail = _dtype_message(what, np.dtype(type(got)))
        return Mismatch(what, "dtype", summary, detail)
    elif type(got) in _SCALAR_TYPES:
        try:
            value = float(got)
        except OverflowError:  # an int too large for a float
            value = math.inf
    else:
        summary = f"{what} is a {_type_name(got)}; expected a real number (a float)"
        return Mismatch(what, "type", summary, summary)
    if not values:
        return None
    if not math.isfinite(value):
        text = f"{what} is NaN or infinite"
        return Mismatch(what, "nan", text, text)
    if math.isclose(value, float(expected), rel_tol=RTOL, abs_tol=ATOL):
        return None
    return Mismatch(
        what,
        "values",
        f"{what} has the wrong value",
        f"{what} is {value!r}; expected {float(expected)!r} (tolerance rtol={RTOL:g},"
        f" atol={ATOL:g})",
    )


def _plain_equal(got, expected) -> bool:
    """Exact equality of plain data, without trusting any method of ``got``."""
    if type(expected) is np.ndarray:
        return (
            type(got) is np.ndarray
            and got.shape == expected.shape
            and got.dtype.kind in "biuf"
            and bool(np.array_equal(got, expected))
        )
    if type(expected) is dict:
        return (
            type(got) is dict
            and set(got) == set(expected)
            and all(_plain_equal(got[key], expected[key]) for key in expected)
        )
    if type(expected) in (tuple, list):
        return (
            type(got) in (tuple, list)
            and len(got) == len(expected)
            and all(_plain_equal(g, e) for g, e in zip(got, expected, strict=True))
        )
    if type(expected) in (int, float, np.float64):
        return type(got) in (int, float, np.float64, np.int64) and got == expected
    if type(expected) is str:
        return type(got) is str and got == expected
    return False


def _unwrap_tuple(exercise: str, got, length: int, names: str) -> Mismatch | None:
    if isinstance(got, Raised):
        return _raised_mismatch(exercise, got)
    if got is None:
        text = f"{exercise} returned None; expected a tuple {names}: did you forget to return?"
        return Mismatch(exercise, "none", text, text)
    if type(got) not in (tuple, list):
        text = f"{exercise} returned a {_type_name(got)}; expected a tuple {names}"
        if type(got) is np.ndarray:
            text += f": return {names[1:-1]}"
        return Mismatch(exercise, "type", text, text)
    if len(got) != length:
        summary = f"{exercise} returned the wrong number of items; expected {length}: {names}"
        detail = f"{exercise} returned {len(got)} items; expected {length}: {names}"
        return Mismatch(exercise, "length", summary, detail)
    return None


def _compare_cache(exercise: str, cache, expected_cache: tuple, output=None) -> Mismatch | None:
    names = _CACHE_NAMES[exercise]
    shown = f"({', '.join(names)})"
    if type(cache) not in (tuple, list):
        text = f"cache is a {_type_name(cache)}; expected a tuple {shown}"
        return Mismatch("cache", "cache", text, text)
    if len(cache) != len(names):
        summary = f"cache has the wrong number of items; expected {len(names)}: {shown}"
        detail = f"cache has {len(cache)} items; expected {len(names)}: {shown}"
        return Mismatch("cache", "cache", summary, detail)
    for index, (item, wanted, name) in enumerate(zip(cache, expected_cache, names, strict=True)):
        if _plain_equal(item, wanted):
            continue
        if any(_plain_equal(item, other) for other in expected_cache if other is not wanted):
            text = f"cache items are in the wrong order; expected {shown}"
        elif output is not None and _plain_equal(item, output):
            text = f"cache[{index}] is the layer's output; the backward pass needs the input"
            text += f" {name}: cache = {shown}"
        elif name == "A_prev" and type(item) is np.ndarray and item.shape != wanted.shape:
            text = (
                f"cache[0] has a different shape from A_prev (the padded input?); store A_prev"
                f" exactly as it was passed in: cache = {shown}"
            )
        else:
            text = f"cache[{index}] is not {name} as it was passed in; expected cache = {shown}"
        return Mismatch("cache", "cache", text, text)
    return None


def compare_output(exercise: str, args: tuple, got, expected, aspect: str = "values"):
    """Compare what a call returned with what it should return; None when acceptable.

    args   -- the positional arguments of the call (as they were before it)
    aspect -- "structure": None/type/length/shape/dtype of the main output(s) only;
              "values": structure and values of the main output(s) (not the cache);
              "cache": the cache of conv_forward / pool_forward (None for other exercises);
              "dA_prev", "dW", "db": one output of conv_backward, structure and values
    """
    if isinstance(got, Raised):
        return _raised_mismatch(exercise, got)
    values = aspect != "structure"
    if exercise == "conv_single_step":
        return None if aspect == "cache" else compare_scalar("Z", got, expected, values)
    if exercise in ("conv_forward", "pool_forward"):
        names = "(Z, cache)" if exercise == "conv_forward" else "(A, cache)"
        mismatch = _unwrap_tuple(exercise, got, 2, names)
        if mismatch is not None:
            return mismatch
        if aspect == "cache":
            return _compare_cache(exercise, got[1], expected[1], output=got[0])
        what = "Z" if exercise == "conv_forward" else "A"
        return compare_array(
            f"{exercise}(...)[0] ({what})", got[0], expected[0], "float",
            _SHAPE_RULES[exercise], values,
        )  # fmt: skip
    if aspect == "cache":
        return None
    if exercise == "conv_backward":
        mismatch = _unwrap_tuple(exercise, got, 3, "(dA_prev, dW, db)")
        if mismatch is not None:
            return mismatch
        for index, name in enumerate(("dA_prev", "dW", "db")):
            if aspect not in ("structure", "values", name):
                continue
            rule = f", the shape of {_BACKWARD_SHAPES[name]}"
            mismatch = compare_array(name, got[index], expected[index], "float", rule, values)
            if mismatch is not None:
                return mismatch
        return None
    rule = {"zero_pad": "numeric", "create_mask_from_window": "mask"}.get(exercise, "float")
    what = {
        "zero_pad": "X_pad",
        "create_mask_from_window": "the mask",
        "distribute_value": "the distributed array",
        "pool_backward": "dA_prev",
    }[exercise]
    return compare_array(what, got, expected, rule, _SHAPE_RULES.get(exercise, ""), values)


def modified_inputs(exercise: str, before: tuple, after: tuple) -> Mismatch | None:
    """The first argument that a call changed in place (``after`` vs the copy ``before``)."""
    names = EXERCISE_PARAMETERS[exercise]
    if type(after) is not tuple or len(after) != len(before):
        text = "the inputs could not be compared after the call"
        return Mismatch("inputs", "modified", text, text)
    for name, old, new in zip(names, before, after, strict=False):
        if not _plain_equal(new, old):
            text = (
                f"your function modified its input in place ({name} changed); work on a copy or"
                " a new array (np.zeros(...), x.copy()) and leave the inputs as they were"
            )
            return Mismatch(name, "modified", text, text)
    return None


# ---------------------------------------------------------------------------------------------
# Diagnosis: recognise known mistakes from data alone.


@dataclass(eq=False)  # compared by identity: fields hold arrays
class CaseResult:
    """One call, judged: its tags, the arguments (as before the call), what it returned (a
    ``Raised`` when it raised), the expected return value, and whether the main output passed."""

    tags: frozenset[str]
    args: tuple
    got: object
    expected: object
    passed: bool


def _array(value) -> np.ndarray | None:
    """``value`` if it is a plain finite numeric ndarray, else None (never trust other types)."""
    if type(value) is np.ndarray and value.dtype.kind in "biuf":
        as_float = value.astype(np.float64)
        return as_float if np.all(np.isfinite(as_float)) else None
    return None


def _scalar(value) -> float | None:
    if type(value) in _SCALAR_TYPES or type(value) in (np.float32, np.float16):
        return float(value)
    if type(value) is np.ndarray and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.reshape(-1)[0])
    return None


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-8))


def _main_output(exercise: str, value):
    """The main output (Z, A, the whole result) as a float array, or None (also when a
    forward function returned a bare array instead of the tuple (output, cache))."""
    if exercise in ("conv_forward", "pool_forward"):
        if type(value) in (tuple, list) and len(value) == 2:
            return _array(value[0])
        return None
    return _array(value)


def _mode(args: tuple) -> str:
    return args[2] if len(args) > 2 else "max"


def _shape_after(n: int, f: int, pad: int, stride: int, rounding=math.floor) -> int:
    return int(rounding((n - f + 2 * pad) / stride)) + 1


def _shape_hints(exercise: str, args: tuple, got_shape: tuple) -> list[str]:
    """Explanations of a wrong output shape of conv_forward / pool_forward, given its inputs."""
    if exercise == "conv_forward":
        A_prev, W, _, hparameters = args
        f, n_C = W.shape[0], W.shape[3]
        pad, stride = hparameters["pad"], hparameters["stride"]
    else:
        A_prev, hparameters = args[0], args[1]
        f, n_C, pad, stride = hparameters["f"], A_prev.shape[3], 0, hparameters["stride"]
    m, n_H_prev, n_W_prev, _ = A_prev.shape

    def shape(pad_used=pad, stride_used=stride, rounding=math.floor):
        return (
            m,
            _shape_after(n_H_prev, f, pad_used, stride_used, rounding),
            _shape_after(n_W_prev, f, pad_used, stride_used, rounding),
            n_C,
        )

    right = shape()
    numerator = "(n_prev - f + 2 * pad)" if exercise == "conv_forward" else "(n_prev - f)"
    candidates = [
        (shape(rounding=math.ceil), "the output size is rounded up instead of down: use floor,"
         f" {numerator} // stride + 1 (int() also rounds down here)"),
        ((m, right[2], right[1], n_C), "height and width are swapped in the output shape"),
        ((m, n_H_prev, n_W_prev, n_C), "the output has the input's height and width: compute"
         " n_H and n_W with the output-size formula"),
    ]  # fmt: skip
    if exercise == "conv_forward":
        candidates += [
            (shape(pad_used=0), "the output size ignores the padding: n_H = floor((n_H_prev -"
             " f + 2 * pad) / stride) + 1"),
            (shape(pad_used=pad / 2), "the output size adds pad once: padding is on both sides,"
             " so it is 2 * pad"),
            (shape(stride_used=1), "the output size ignores the stride: divide by stride"),
            ((m, right[1], right[2], A_prev.shape[3]), "the number of output channels is the"
             " number of filters, W.shape[3], not the input's channels"),
        ]  # fmt: skip
    else:
        candidates += [
            (shape(stride_used=1), "the output size ignores the stride: divide by stride"),
            (shape(stride_used=f), "the output size divides by f: divide by stride"),
        ]
    return [
        hint
        for candidate, hint in candidates
        if tuple(got_shape) == tuple(candidate) and tuple(candidate) != tuple(right)
    ]


def _consistent_shape_hint(exercise: str, results: Sequence[CaseResult]) -> str | None:
    """The first shape explanation that fits every failing case whose output shape is wrong."""
    common = None
    for result in results:
        got = _main_output(exercise, result.got)
        if result.passed or got is None or got.shape == result.expected[0].shape:
            continue
        hints = _shape_hints(exercise, result.args, got.shape)
        common = hints if common is None else [hint for hint in common if hint in hints]
    return common[0] if common else None


_RAISED_HINTS = (
    ("cannot be interpreted as an integer", "an output size is a float: compute it with floor"
     " division // (or int(...)) so that np.zeros gets integers"),
    ("only 0-dimensional arrays can be converted", "float(b) fails on NumPy 2 when b has shape"
     " (1, 1, 1): use b.item() to get the bias as a Python float"),
    ("only length-1 arrays can be converted", "float(...) needs a single number: use b.item()"),
    ("setting an array element with a sequence", "you stored an array where one number belongs"
     " (Z[i, h, w, c] = ...): conv_single_step must return a scalar; add the bias with b.item()"),
    ("missing 1 required positional argument: 'mode'", 'mode needs its default value:'
     ' def ...(..., mode="max")'),
)  # fmt: skip


def _broadcast_shapes(error: str) -> list[tuple[int, ...]]:
    """The shapes of numpy's "operands could not be broadcast together with shapes ..."."""
    if "could not be broadcast together" not in error:
        return []
    shapes = []
    for inside in re.findall(r"\(([0-9, ]*)\)", error.split("shapes", 1)[-1]):
        try:
            shapes.append(tuple(int(n) for n in inside.replace(" ", "").split(",") if n))
        except ValueError:
            return []
    return shapes


def _whole_filters_hint(result: CaseResult) -> str | None:
    """conv_forward raised because conv_single_step got all the filters (W) or all the biases."""
    error, args = result.got.error, result.args
    W, b = (args[1], args[2]) if len(args) == 4 else (None, None)
    if type(W) is np.ndarray and W.ndim == 4 and W.shape in _broadcast_shapes(error):
        return (
            "conv_single_step got the whole W (every filter): pass one filter and its bias,"
            " W[:, :, :, c] and b[:, :, :, c]"
        )
    if type(b) is np.ndarray and b.size > 1 and "can only convert an array of size 1" in error:
        return (
            "did you pass the whole b to conv_single_step? It takes the bias of filter c alone,"
            " b[:, :, :, c]"
        )
    return None


def _raised_hint(exercise: str, raised: Raised) -> str | None:
    error = raised.error
    for fragment, hint in _RAISED_HINTS:
        if fragment in error:
            return hint
    if error.startswith("KeyError") and "'f'" in error and exercise.startswith("conv"):
        return (
            "hparameters of a convolution holds only 'stride' and 'pad': the window size f comes"
            " from W.shape"
        )
    if error.startswith("KeyError") and "'pad'" in error and exercise.startswith("pool"):
        return "pooling has no padding: its hparameters holds only 'f' and 'stride'"
    return None


def _zero_pad_hint(result: CaseResult) -> str | None:
    X, pad = result.args
    got = _array(result.got)
    if got is None or pad == 0:
        return None
    m, n_H, n_W, n_C = X.shape
    p2 = 2 * pad
    shapes = {
        (m + p2, n_H + p2, n_W + p2, n_C + p2): "you padded every axis, including the examples"
        " and the channels: pad only height and width, ((0, 0), (pad, pad), (pad, pad), (0, 0))",
        (m, n_H + pad, n_W + pad, n_C): "you padded one side only: each axis takes a pair"
        " (before, after), here (pad, pad)",
        (m, n_H + p2, n_W, n_C): "you padded only the height: pad height and width",
        (m, n_H, n_W + p2, n_C): "you padded only the width: pad height and width",
        (m, n_H + 4 * pad, n_W + 4 * pad, n_C): "you padded by 2 * pad on each side: pad is"
        " the amount on each side",
    }
    if got.shape in shapes and got.shape != result.expected.shape:
        return shapes[got.shape]
    grown = [new - old for new, old in zip(got.shape, X.shape, strict=False)]
    if len(grown) == 4 and sorted(grown) == [0, 0, p2, p2] and got.shape != result.expected.shape:
        return "you padded the wrong axes: the layout is (m, n_H, n_W, n_C), pad axes 1 and 2"
    if got.shape == result.expected.shape:
        inside = got[:, pad : pad + n_H, pad : pad + n_W, :]
        border = got.copy()
        border[:, pad : pad + n_H, pad : pad + n_W, :] = 0
        if _close(inside, X) and np.any(border != 0):
            return 'the border is not zero: use mode="constant" with constant_values=0'
    return None


def _conv_single_step_hint(result: CaseResult) -> str | None:
    a_slice_prev, W, b = result.args
    expected, bias = float(result.expected), float(np.asarray(b).reshape(-1)[0])
    if type(result.got) is np.ndarray and result.got.shape == a_slice_prev.shape:
        return "you returned the element-wise product: sum it with np.sum, then add b"
    if type(result.got) is np.ndarray and result.got.size == 1 and result.got.ndim > 0:
        return "Z must be a scalar: add b.item() (a Python float), not b or np.float64(b)"
    got = _scalar(result.got)
    if got is None:
        return None
    products = expected - bias
    candidates = (
        (products, "matches the expected value without the bias: did you add b?"),
        (products - bias, "you subtracted b: add it"),
        (products + a_slice_prev.size * bias, "you added b to every element before summing:"
         " add it once, after np.sum"),
        (products / a_slice_prev.size + bias, "you averaged (np.mean) instead of summing (np.sum)"),
    )  # fmt: skip
    for value, hint in candidates:
        if math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-8):
            continue  # this case cannot tell the mistake apart from the right answer
        if math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-8):
            return hint
    return None


def _only_first_example(got: np.ndarray, expected: np.ndarray) -> bool:
    return (
        got.shape == expected.shape
        and got.shape[0] > 1
        and _close(got[0], expected[0])
        and not _close(got[1:], expected[1:])
    )


_FIRST_EXAMPLE_HINT = (
    "only the first example is right: loop over all m examples and use example i everywhere"
)


def _only_first_example_everywhere(results: Sequence[CaseResult]) -> bool:
    """Every failing case has several examples and only its first one right (one case alone
    can show that by chance)."""
    failing = [result for result in results if not result.passed]
    return bool(failing) and all(
        (got := _array(result.got)) is not None
        and type(result.expected) is np.ndarray
        and _only_first_example(got, result.expected)
        for result in failing
    )


def _forward_hint(exercise: str, result: CaseResult) -> str | None:
    got = _main_output(exercise, result.got)
    if type(result.got) is np.ndarray:
        return "return a tuple (output, cache): the backward pass needs the cache"
    if got is None:
        return None
    expected = result.expected[0]
    if got.shape != expected.shape:
        return None  # see _consistent_shape_hint
    if _only_first_example(got, expected):
        return _FIRST_EXAMPLE_HINT
    if got.shape[1] == got.shape[2] and _close(got, expected.transpose(0, 2, 1, 3)):
        return "height and width are swapped: h moves down the rows (vert_start), w across"
    if exercise == "conv_forward":
        bias = np.asarray(result.args[2], dtype=np.float64).reshape(1, 1, 1, -1)
        if _close(got + bias, expected):
            return "matches the expected output without the bias: did you add b?"
        offset = got - expected
        per_channel = offset.reshape(-1, offset.shape[-1])
        if (
            per_channel.shape[0] > 1
            and offset.shape[-1] > 1
            and not _close(offset, 0 * offset)
            and _close(per_channel, per_channel[:1].repeat(len(per_channel), 0))
        ):
            return "each channel is off by a constant: filter c takes its own bias b[:, :, :, c]"
    else:
        if _mode(result.args) == "average" and not np.any(got):
            return (
                "average mode returned zeros: is your average branch reached? the mode is the"
                ' string "average"'
            )
        if _mode(result.args) == "average" and _scaled(got, expected):
            return (
                "average mode is off by a constant factor: the mean divides the window's sum by"
                " its number of entries, f * f (np.mean does it)"
            )
        varies = np.any(got != got.reshape(-1)[0])  # a constant output says nothing of channels
        if got.shape[-1] > 1 and varies and _close(got, got[..., :1].repeat(got.shape[-1], -1)):
            return (
                "every channel holds the same value: pool each channel c on its own"
                " (slice A_prev[i, rows, columns, c])"
            )
    return None


def _split_backward(value) -> tuple | None:
    if type(value) in (tuple, list) and len(value) == 3:
        return tuple(_array(part) for part in value)
    return None


def _component_status(result: CaseResult) -> dict[str, bool]:
    """For conv_backward: which of dA_prev, dW, db are right in one result."""
    parts = _split_backward(result.got)
    status = {}
    for index, name in enumerate(("dA_prev", "dW", "db")):
        got = None if parts is None else parts[index]
        status[name] = got is not None and _close(got, result.expected[index])
    return status


def _scaled(got: np.ndarray, expected: np.ndarray) -> bool:
    """True when got = k * expected for a constant k other than 1 and 0 (an all-zero output has
    hints of its own: a branch never reached, a gradient overwritten)."""
    if got.shape != expected.shape or not np.any(expected) or not np.any(got):
        return False
    k = float(np.sum(got * expected) / np.sum(expected * expected))
    if math.isclose(k, 1.0, rel_tol=1e-6) or math.isclose(k, 0.0, abs_tol=1e-6):
        return False
    return _close(got, k * expected)


def _zeros_instead(got, expected) -> bool:
    """``got`` is all zeros where ``expected`` is not."""
    return (
        got is not None
        and got.shape == np.shape(expected)
        and not np.any(got)
        and bool(np.any(expected))
    )


def _overwrite_evidence(result: CaseResult) -> list[str]:
    """conv_backward: what shows that a gradient was assigned (=) instead of accumulated (+=):
    a gradient of zeros (the last window alone may lie in the padding), or one holding only the
    contribution of the last window of the last example."""
    parts = _split_backward(result.got)
    if parts is None:
        return []
    dZ, (A_prev, W, b, hparameters) = result.args
    dZ, A_prev = _array(dZ), _array(A_prev)
    if dZ is None or A_prev is None or dZ.ndim != 4 or A_prev.ndim != 4:
        return []
    pad, stride, f = hparameters["pad"], hparameters["stride"], np.shape(W)[0]
    last = dZ[-1, -1, -1, :]  # dZ at the last position of the last example, one per filter
    top, left = (dZ.shape[1] - 1) * stride, (dZ.shape[2] - 1) * stride
    last_padded = np.pad(A_prev[-1], ((pad, pad), (pad, pad), (0, 0)))
    last_window = last_padded[top : top + f, left : left + f, :, np.newaxis] * last
    one_window = dZ.shape[1] * dZ.shape[2] == 1  # then the last window is the last example
    found = []
    for name, got, expected, only_last in (
        ("dW", parts[1], result.expected[1], last_window),
        ("db", parts[2], result.expected[2], last.reshape(1, 1, 1, -1)),
    ):
        if _zeros_instead(got, expected):
            found.append(f"{name} is all zeros")
        elif (
            not one_window
            and got is not None
            and np.any(got)
            and _close(got, only_last)
            and not _close(expected, only_last)
        ):
            found.append(f"{name} holds only the last window's contribution")
    return found


def _conv_backward_hint(result: CaseResult) -> str | None:
    """Mistakes one conv_backward result shows clearly (checked before patterns over cases)."""
    parts = _split_backward(result.got)
    if parts is None:
        return None
    dZ, (A_prev, W, b, hparameters) = result.args
    dA_prev, dW, db = parts
    expected_dA, expected_dW, expected_db = result.expected
    if dA_prev is not None and dA_prev.shape != expected_dA.shape:
        if hparameters["pad"] == 0 and 0 in dA_prev.shape:
            return (
                "dA_prev is empty when pad = 0: X[pad:-pad] is empty when pad = 0; crop with"
                " X[pad:pad + n_H_prev, pad:pad + n_W_prev, :]"
            )
        if dA_prev.shape[1:3] == tuple(s + 2 * hparameters["pad"] for s in A_prev.shape[1:3]):
            return "dA_prev still has the padding: crop the padded gradient to A_prev's shape"
    if db is not None and db.shape != expected_db.shape and db.size == expected_db.size:
        return "db must keep b's shape (1, 1, 1, n_C): reshape it or sum with keepdims=True"
    evidence = _overwrite_evidence(result)
    if evidence:
        # Name every wrong gradient, so that the hint covers the one the failure shows first.
        wrong = [name for name, right in _component_status(result).items() if not right]
        if len(wrong) > 1:
            named = ", ".join(wrong[:-1]) + f" and {wrong[-1]} are wrong ({'; '.join(evidence)})"
        else:
            named = "; ".join(evidence)
        return (
            f"{named}: did you overwrite (=) instead of accumulating (+=)? Every window of every"
            " example adds its contribution to each gradient"
        )
    for name, got, expected in (("dW", dW, expected_dW), ("db", db, expected_db),
                                ("dA_prev", dA_prev, expected_dA)):  # fmt: skip
        if got is not None and _scaled(got, expected):
            return (
                f"{name} is off by a constant factor: gradients are sums over all examples and"
                " positions (no averaging, no extra factor)"
            )
    status = _component_status(result)
    if status["dA_prev"] and status["dW"] and not status["db"]:
        return (
            "db is wrong while dA_prev and dW are right: db summed over the wrong axes? It sums"
            " dZ over examples, height and width, one value per filter"
        )
    return None


def _conv_backward_generic_hint(result: CaseResult) -> str | None:
    """Which output is wrong, when no pattern over cases explains it."""
    parts = _split_backward(result.got)
    if parts is None:
        return None
    if parts[0] is not None and _only_first_example(parts[0], result.expected[0]):
        return _FIRST_EXAMPLE_HINT
    status = _component_status(result)
    if status["dA_prev"] and status["db"] and not status["dW"]:
        return (
            "dW is wrong while dA_prev and db are right: dW[:, :, :, c] accumulates"
            " a_slice * dZ[i, h, w, c], where a_slice comes from the padded input"
        )
    if status["dW"] and status["db"] and not status["dA_prev"]:
        return (
            "dA_prev is wrong while dW and db are right: accumulate W[:, :, :, c] *"
            " dZ[i, h, w, c] into the padded gradient window, then crop it"
        )
    return None


def _mask_hint(result: CaseResult) -> str | None:
    (x,) = result.args
    if type(result.got) is not np.ndarray:
        if type(result.got) in (int, np.int64, np.intp):
            return "np.argmax gives a position; the mask is an array shaped like x (x == np.max(x))"
        if _scalar(result.got) is not None:
            return "you returned a number; the mask is an array shaped like x (x == np.max(x))"
        return None
    got = _array(result.got)
    if got is None or got.shape != x.shape:
        return None
    expected = result.expected.astype(np.float64)
    if _close(got, x * expected) and not _close(got, expected):
        return "you returned the values at the maximum, not a mask: x == np.max(x)"
    if _close(got, (x == np.min(x)).astype(np.float64)):
        return "the mask marks the minimum: compare x with np.max(x)"
    if _close(got, 1.0 - expected):
        return "the mask is inverted: True (1) at the maximum, False (0) elsewhere"
    if not np.any(got):
        return "the mask is all False: mark where x equals its maximum (==, not >)"
    for axis in (0, 1):
        if _close(got, (x == np.max(x, axis=axis, keepdims=True)).astype(np.float64)):
            return "you marked the maximum of each row or column: use np.max(x) with no axis"
    return None


def _distribute_hint(result: CaseResult) -> str | None:
    dz, shape = result.args
    n_H, n_W = shape
    if type(result.got) is not np.ndarray:
        if _scalar(result.got) is not None:
            return "you returned one number; build an array of shape (n_H, n_W) filled with it"
        return None
    got = _array(result.got)
    if got is None:
        return None
    if got.shape == (n_W, n_H) and n_H != n_W:
        return "height and width are swapped: the array has shape (n_H, n_W) = shape"
    if got.shape != (n_H, n_W):
        return None
    average = dz / (n_H * n_W)
    candidates = (
        (dz * n_H * n_W, "you multiplied dz by the number of entries: divide, dz / (n_H * n_W)"),
        (dz, "every entry is dz: divide it by the number of entries, dz / (n_H * n_W)"),
        (dz / n_H, "you divided by n_H only: divide by n_H * n_W"),
        (dz / n_W, "you divided by n_W only: divide by n_H * n_W"),
        (dz / (n_H + n_W), "you divided by n_H + n_W: divide by n_H * n_W"),
        (dz // (n_H * n_W), "floor division // drops the fraction: use /"),
    )
    for value, hint in candidates:
        if not math.isclose(value, average, rel_tol=1e-6) and _close(got, np.full(shape, value)):
            return hint
    return None


def _pool_backward_hint(result: CaseResult) -> str | None:
    got = _array(result.got)
    if got is None or got.shape != result.expected.shape:
        return None
    mode = _mode(result.args)
    if mode in ("max", "average") and _zeros_instead(got, result.expected):
        return (
            f"{mode} mode returned zeros: is your {mode} branch reached? the mode is the string"
            f' "{mode}"'
        )
    dA = _array(result.args[0])
    if mode == "max" and dA is not None and dA.ndim == 4 and got.ndim == 4:
        windows = dA.shape[1] * dA.shape[2]  # each window routes its gradient to one entry
        if np.max(np.count_nonzero(got, axis=(1, 2))) > windows:
            return (
                "max mode sends a window's gradient to more than one entry: the mask marks only"
                " the maximum of the window of the input A_prev (example i, channel c)"
            )
    if mode == "average" and _scaled(got, result.expected):
        return (
            "average mode is off by a constant factor: each entry of an f x f window gets"
            " dA[i, h, w, c] / (f * f) (distribute_value(da, (f, f)))"
        )
    return None


def _pool_backward_generic_hint(result: CaseResult) -> str | None:
    got = _array(result.got)
    if got is not None and _only_first_example(got, result.expected):
        return _FIRST_EXAMPLE_HINT
    return None


def _same_inputs(a: tuple, b: tuple, skip: int) -> bool:
    """Arguments equal except position ``skip`` (and a trailing mode)."""
    return all(
        _plain_equal(x, y) for index, (x, y) in enumerate(zip(a, b, strict=False)) if index != skip
    )


def _mode_swap_hint(exercise: str, results: Sequence[CaseResult]) -> str | None:
    """Pooling: a failing result equals the expected output of the other mode on same inputs."""
    wrong = {"max": False, "average": False}
    for result in results:
        if result.passed:
            continue
        got = _main_output(exercise, result.got)
        if got is None:
            continue
        for other in results:
            if _mode(other.args) == _mode(result.args) or not _same_inputs(
                result.args[:2], other.args[:2], skip=-1
            ):
                continue
            expected = other.expected[0] if exercise == "pool_forward" else other.expected
            own = result.expected[0] if exercise == "pool_forward" else result.expected
            if _close(got, expected) and not _close(own, expected):
                wrong[_mode(result.args)] = True
    if wrong["max"] and wrong["average"]:
        return "max and average swapped: max mode takes the maximum, average mode the mean"
    if wrong["average"]:
        return 'average mode returns the max result: check the mode string ("average")'
    if wrong["max"]:
        return 'max mode returns the average result: check the mode string ("max")'
    return None


def _flipped_kernel_hint(results: Sequence[CaseResult]) -> str | None:
    """conv_forward: a failing result equals the expected output for W flipped in space."""
    for result in results:
        got = _main_output("conv_forward", result.got)
        if result.passed or got is None:
            continue
        A_prev, W, b, hparameters = result.args
        for other in results:
            if not _same_inputs(result.args, other.args, skip=1):
                continue
            if not _plain_equal(other.args[1], W[::-1, ::-1].copy()) or _plain_equal(
                other.args[1], W
            ):
                continue
            if _close(got, other.expected[0]):
                return (
                    "your kernel is flipped (that is true convolution; the layer computes"
                    " cross-correlation: W[0, 0] multiplies the window's top-left), so use"
                    " sum(a_slice_prev * W[:, :, :, c]) with W as given"
                )
    return None


# (tag, hint) in priority order; "fails only when <tag>" means every failing case has the tag
# and some case without it passes. Pseudo-tags "n_C>1" and "stride!=f" are derived below.
_TAG_HINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "default": (
        (
            "pad=0",
            "fails only when pad = 0: look at how you slice with pad (X[pad:-pad] is"
            " empty when pad = 0; write X[pad:pad + n] or guard with if pad > 0)",
        ),
        (
            "pad>0",
            "right when pad = 0, wrong otherwise: pad the input and slice the padded"
            " array (A_prev_pad), and count 2 * pad in the output size",
        ),
        (
            "overlap",
            "fails only when windows overlap (stride < f): the window spans f"
            " positions and the step between windows is stride",
        ),
        (
            "stride!=f",
            "right only when stride = f: the window spans f positions (vert_end ="
            " vert_start + f) and the step between windows is stride (vert_start = h * stride)",
        ),
        (
            "stride>1",
            "right when stride = 1, wrong otherwise: where do your windows start?"
            " vert_start = h * stride, horiz_start = w * stride",
        ),
        (
            "uneven",
            "fails only when the stride does not divide evenly: is the output size rounded up"
            " instead of down? n_H = floor((n_prev - f + 2 * pad) / stride) + 1",
        ),
        (
            "stride>f",
            "fails only when stride > f: the window spans f positions, the step"
            " between windows is stride",
        ),
        (
            "non-square",
            "right for square inputs, wrong otherwise: did you mix up height and"
            " width (n_H and n_W, h and w, vertical and horizontal)?",
        ),
        (
            "m>1",
            "right for one example, wrong for several: loop over all m examples and use"
            " example i everywhere",
        ),
        (
            "n_C>1",
            "right with one channel, wrong with several: check how you index channels"
            " (c) and filters",
        ),
        (
            "f=n",
            "fails only when the window is as large as the input: check your loop ranges"
            " (n_H = 1 there)",
        ),
        ("f=1", "fails only for 1 x 1 windows (f = 1): check your slice ends"),
        ("mode=average", 'fails only in average mode: mode == "average" must use the mean'),
        ("mode=max", 'fails only in max mode: mode == "max" must use the maximum'),
    ),  # fmt: skip
}
_TAG_HINTS["conv_backward"] = (
    ("pad=0", "fails only when pad = 0: look at how you crop the padded gradient (X[pad:-pad] is"
     " empty when pad = 0; crop with X[pad:pad + n_H_prev, pad:pad + n_W_prev, :])"),
    ("overlap", "overwrote instead of accumulating (+=) for overlapping windows (stride < f):"
     " every window adds its contribution"),
    ("m>1", "right for one example, wrong for several: dW and db accumulate (+=) over all m"
     " examples, and dA_prev[i] takes example i's padded gradient"),
) + _TAG_HINTS["default"]  # fmt: skip
_TAG_HINTS["zero_pad"] = (
    (
        "pad=0",
        "fails only when pad = 0: look at how you slice with pad (X[pad:-pad] is empty when"
        " pad = 0; write X[:, pad:pad + n_H, pad:pad + n_W, :])",
    ),
    ("pad>0", "right when pad = 0, wrong otherwise: check which axes you pad, and by how much"),
) + _TAG_HINTS["default"]
_TAG_HINTS["pool_backward"] = (
    (
        "overlap",
        "overwrote instead of accumulating (+=) for overlapping windows (stride < f):"
        " every window adds its contribution",
    ),
) + _TAG_HINTS["default"]


def _derived_tags(tags: frozenset[str]) -> frozenset[str]:
    extra = set()
    if "n_C=1" not in tags:
        extra.add("n_C>1")
    if "overlap" in tags or "stride>f" in tags:
        extra.add("stride!=f")
    return tags | extra


def _tag_hint(exercise: str, results: Sequence[CaseResult]) -> str | None:
    failing = [_derived_tags(r.tags) for r in results if not r.passed]
    passing = [_derived_tags(r.tags) for r in results if r.passed]
    if not failing or not passing:
        return None
    best = None
    for priority, (tag, hint) in enumerate(_TAG_HINTS.get(exercise, _TAG_HINTS["default"])):
        if not all(tag in tags for tags in failing):
            continue
        if not any(tag not in tags for tags in passing):
            continue
        passing_with_tag = sum(tag in tags for tags in passing)
        if best is None or (passing_with_tag, priority) < best[0]:
            best = ((passing_with_tag, priority), hint)
    return None if best is None else best[1]


_CASE_HINTS: dict[str, Callable[[CaseResult], str | None]] = {
    "zero_pad": _zero_pad_hint,
    "conv_single_step": _conv_single_step_hint,
    "conv_forward": lambda result: _forward_hint("conv_forward", result),
    "pool_forward": lambda result: _forward_hint("pool_forward", result),
    "conv_backward": _conv_backward_hint,
    "create_mask_from_window": _mask_hint,
    "distribute_value": _distribute_hint,
    "pool_backward": _pool_backward_hint,
}


_GENERIC_HINTS: dict[str, Callable[[CaseResult], str | None]] = {
    "conv_backward": _conv_backward_generic_hint,
    "pool_backward": _pool_backward_generic_hint,
}


def _first_hint(recognise, results: Sequence[CaseResult]) -> str | None:
    for result in results:
        if not result.passed and not isinstance(result.got, Raised):
            hint = recognise(result)
            if hint:
                return hint
    return None


def _diagnose(exercise: str, results: Sequence[CaseResult]) -> str | None:
    # Order: what an error message says; a mistake one case shows clearly; a mistake that only
    # the comparison of cases shows (swapped modes, flipped kernel, "fails only when ...");
    # finally, which output is wrong.
    for result in results:
        if not result.passed and isinstance(result.got, Raised):
            hint = _raised_hint(exercise, result.got)
            if exercise == "conv_forward" and not hint:
                hint = _whole_filters_hint(result)
            if hint:
                return hint
    if exercise in ("pool_forward", "pool_backward"):
        hint = _mode_swap_hint(exercise, results)
        if hint:
            return hint
    if exercise == "conv_forward":
        hint = _flipped_kernel_hint(results)
        if hint:
            return hint
    if exercise == "pool_backward" and _only_first_example_everywhere(results):
        return _FIRST_EXAMPLE_HINT
    if exercise in ("conv_forward", "pool_forward"):
        hint = _consistent_shape_hint(exercise, results)
        if hint:
            return hint
    hint = _first_hint(_CASE_HINTS[exercise], results) or _tag_hint(exercise, results)
    if hint or exercise not in _GENERIC_HINTS:
        return hint
    return _first_hint(_GENERIC_HINTS[exercise], results)


# What the public test says when wrong values match no known mistake.
NO_DIAGNOSIS = (
    "none of the known mistakes matches these failures: compare got with expected above, and"
    " each step of your code with the notebook's description"
)


def diagnose(exercise: str, results: Sequence[CaseResult]) -> str | None:
    """A targeted hint for a known mistake shown by ``results``, or None when none is recognised.

    Pure and total: looks only at the data, never raises, never quotes numbers from the data.
    ``results`` should hold every judged case of the exercise (the passing ones make patterns
    such as "fails only when pad = 0" visible).
    """
    try:
        return _diagnose(exercise, list(results))
    except Exception:  # the data came from untrusted code: a diagnosis must never crash grading
        return None


# ---------------------------------------------------------------------------------------------
# The public tests.


def describe_call(exercise: str, args: tuple) -> str:
    """``name(A_prev of shape (2, 5, 7, 4), hparameters={'pad': 1, 'stride': 2})``."""
    parts = []
    for name, value in zip(EXERCISE_PARAMETERS[exercise], args, strict=False):
        parts.append(f"{name}={_describe_value(value)}")
    return f"{exercise}({', '.join(parts)})"


def _describe_value(value) -> str:
    if type(value) is np.ndarray:
        if value.size <= 6:
            return np.array2string(value, separator=", ").replace("\n", "")
        return f"<{value.dtype} array of shape {value.shape}>"
    if type(value) is tuple:
        return "(" + ", ".join(_describe_value(item) for item in value) + ")"
    return repr(value)


def _call(target: Callable, args: tuple) -> tuple[object, BaseException | None]:
    try:
        return target(*args), None
    except Exception as exc:  # every error of the student's code is a failed check
        # Its traceback starts in this frame: keep only the frames of the student's call.
        exc.__traceback__ = _beyond_this_file(exc.__traceback__)
        return Raised(f"{type(exc).__name__}: {exc}"), exc


def _cell_source(target) -> str | None:
    """The source of the notebook cell that defined ``target``, or None when it comes from a
    file. IPython keeps each cell's code in linecache under a name of its own, with no
    modification time (a file's entry has one)."""
    code = getattr(target, "__code__", None)
    entry = linecache.cache.get(code.co_filename) if code is not None else None
    if entry is None or entry[1] is not None:
        return None
    return "".join(entry[2])


def _alone_problems(exercise: str, target) -> list[str]:
    """What the grader, which runs the cell defining ``exercise`` alone after the setup cell,
    would meet in the cell that defined ``target`` (submission_check.check_cell), as bullets;
    [] outside a notebook, and for a cell IPython rewrote (magics: the check of the saved
    notebook sees them)."""
    source = _cell_source(target)
    if source is None or getattr(target, "__name__", None) != exercise:
        return []
    if "get_ipython()" in source:
        return []
    try:
        import submission_check
    except ImportError:  # public_tests.py copied alone somewhere
        return []
    return [
        submission_check.bullet(p) for p in submission_check.check_cell(exercise, source).problems
    ]


def _run_public_test(exercise: str, target, show: bool) -> None:
    if not callable(target):
        raise _failure(
            f"{exercise}_test expects your function {exercise}; got a {type(target).__name__}"
        )
    alone = _alone_problems(exercise, target)
    if alone:
        raise _failure(
            f"{exercise} works here but not in the grader, which runs its\n"
            "cell alone after the setup cell:\n" + "\n".join(alone)
        )
    results, failures = [], []
    cases = public_cases(exercise)
    for case in cases:
        before = copy.deepcopy(case.args)
        got, error = _call(target, case.args)
        mismatch = compare_output(exercise, before, got, case.expected, "values")
        results.append(CaseResult(case.tags, before, got, case.expected, mismatch is None))
        # A changed input is said first, whatever the values: it may be why they are wrong
        # (a cache overwritten, then read), and no diagnosis of the values should hide it.
        modified = None if isinstance(got, Raised) else modified_inputs(exercise, before, case.args)
        mismatch = modified or mismatch
        if mismatch is None:
            mismatch = compare_output(exercise, before, got, case.expected, "cache")
        if mismatch is not None:
            failures.append((case, before, mismatch, got, error))
    if not failures:
        print(f"{exercise}: all {len(cases)} checks passed.")
        return None
    if exercise in OPTIONAL_EXERCISES and all(
        isinstance(result.got, Raised) and result.got.error.startswith("NotImplementedError")
        for result in results
    ):
        print(f"{exercise}: {NOT_DONE_YET} (it raises NotImplementedError).")
        return None
    # The traceback shown, if any, is the named case's own (never another case's).
    case, before, mismatch, got, error = next(
        (failure for failure in failures if failure[2].kind == "modified"), failures[0]
    )
    lines = [
        f"{exercise} failed {len(failures)} of {len(cases)} checks.",
        f'First failure, case "{case.label}": {describe_call(exercise, before)}',
        f"  {mismatch.detail}",
    ]
    if len(failures) > 1:
        lines.append("Failing cases: " + "; ".join(f'"{f[0].label}"' for f in failures))
    hint = None if mismatch.kind in QUIET_KINDS else diagnose(exercise, results)
    if hint:
        lines.append(f"Hint: {hint}")
    elif mismatch.kind == "values":  # say so rather than guess
        lines.append(f"Hint: {NO_DIAGNOSIS}")
    if show and mismatch.kind == "values":
        _show_difference(exercise, case.label, mismatch.what, got, case.expected)
    raise _failure("\n".join(lines), error, case.label) from error


def zero_pad_test(target, show=True) -> None:
    """Check zero_pad(X, pad) on the public cases; raise AssertionError with a hint if wrong.

    Every test: ``show=False`` draws no figure of a wrong answer in a notebook."""
    return _run_public_test("zero_pad", target, show)


def conv_single_step_test(target, show=True) -> None:
    """Check conv_single_step(a_slice_prev, W, b) on the public cases."""
    return _run_public_test("conv_single_step", target, show)


def conv_forward_test(target, show=True) -> None:
    """Check conv_forward(A_prev, W, b, hparameters): Z, the cache and untouched inputs."""
    return _run_public_test("conv_forward", target, show)


def pool_forward_test(target, show=True) -> None:
    """Check pool_forward(A_prev, hparameters, mode) in both modes, and mode's default."""
    return _run_public_test("pool_forward", target, show)


def conv_backward_test(target, show=True) -> None:
    """Check conv_backward(dZ, cache) on stored caches (your conv_forward is not used)."""
    return _run_public_test("conv_backward", target, show)


def create_mask_from_window_test(target, show=True) -> None:
    """Check create_mask_from_window(x) on windows without ties."""
    return _run_public_test("create_mask_from_window", target, show)


def distribute_value_test(target, show=True) -> None:
    """Check distribute_value(dz, shape)."""
    return _run_public_test("distribute_value", target, show)


def pool_backward_test(target, show=True) -> None:
    """Check pool_backward(dA, cache, mode) on stored caches (your pool_forward is not used)."""
    return _run_public_test("pool_backward", target, show)


# ---------------------------------------------------------------------------------------------
# How a failure reads: the message, and the student's own frames when their code raised.

MAX_FRAMES_SHOWN = 6  # of the student's code, the innermost ones (a deep recursion stays short)
_THIS_FILE = os.path.normcase(os.path.abspath(__file__))


def _beyond_this_file(tb):
    """The traceback ``tb`` without its leading frames in this file."""
    while tb is not None and _library_of(tb.tb_frame.f_code.co_filename) == "public_tests":
        tb = tb.tb_next
    return tb


def _library_of(filename: str) -> str | None:
    """Whose code ``filename`` holds: "public_tests", an installed package (e.g. "numpy") or
    "the standard library"; None for the student's code (a notebook cell, their own file)."""
    path = os.path.normcase(os.path.abspath(filename))
    if path == _THIS_FILE:
        return "public_tests"
    parts = path.split(os.sep)
    for index, part in enumerate(parts[:-1]):
        if part in ("site-packages", "dist-packages"):
            return parts[index + 1].removesuffix(".py")
    if filename.startswith("<frozen "):
        return "the standard library"
    stdlib = os.path.normcase(sysconfig.get_paths()["stdlib"]) + os.sep
    return "the standard library" if path.startswith(stdlib) else None


def _ipython_shell():
    """The running IPython shell, or None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    try:
        return ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython being torn down
        return None


def _frame_location(frame: traceback.FrameSummary) -> str:
    """``Cell In[3], line 11, in conv_backward`` as IPython names a cell, else the file."""
    shell = _ipython_shell()
    try:
        named = shell.compile.format_code_name(frame.filename) if shell is not None else None
    except Exception:  # an IPython without format_code_name
        named = None
    where = f"{named[0]} {named[1]}" if named else f'File "{frame.filename}"'
    return f"{where}, line {frame.lineno}, in {frame.name}"


def _student_frames(error: BaseException) -> list[str]:
    """Where the student's code raised ``error``: two lines per frame of their code (where, the
    line), one per run of library frames, the innermost MAX_FRAMES_SHOWN frames of their code."""
    entries: list[list] = []  # ["code", location, line] or ["library", name, count]
    for frame in traceback.extract_tb(error.__traceback__):
        library = _library_of(frame.filename)
        if library is None:
            entries.append(["code", _frame_location(frame), (frame.line or "").strip()])
        elif entries and entries[-1][:2] == ["library", library]:
            entries[-1][2] += 1
        else:
            entries.append(["library", library, 1])
    code = [index for index, entry in enumerate(entries) if entry[0] == "code"]
    lines = []
    if len(code) > MAX_FRAMES_SHOWN:
        first = code[-MAX_FRAMES_SHOWN]
        lines.append(f"  ... {sum(e[0] == 'code' for e in entries[:first])} outer frames")
        entries = entries[first:]
    for kind, what, detail in entries:
        if kind == "code":
            lines += [f"  {what}", f"    {detail}"] if detail else [f"  {what}"]
        else:
            lines.append(f"  ... {detail} frame{'s' * (detail > 1)} inside {what}")
    return lines


def _failure(
    message: str, cause: BaseException | None = None, label: str | None = None
) -> AssertionError:
    """An AssertionError of ``message`` that IPython shows short: the message, then (when the
    student's code raised ``cause``, in case ``label``) the student's own frames, and no line of
    this file. Elsewhere (pytest, a script) it is an ordinary AssertionError; the caller chains
    ``cause``. The type stays AssertionError: nbgrader validate and pytest rely on it."""
    failure = AssertionError(message)
    report = [f"AssertionError: {message}"]
    frames = [] if cause is None else _student_frames(cause)
    if frames:
        where = f', in case "{label}"' if label else ""
        report += [f"Where your code raised {type(cause).__name__}{where}:", *frames]
    # IPython prints what an exception's _render_traceback_ returns instead of its traceback and
    # chain (ultratb's protocol, used by ipyparallel); an attribute of this instance only.
    failure._render_traceback_ = functools.partial(list, "\n".join(report).splitlines())
    return failure


# ---------------------------------------------------------------------------------------------
# The figure of a wrong answer: expected, got and where they differ, for one example and channel.

# Backends that draw into files or a notebook, never into a window of their own.
_NON_INTERACTIVE_BACKENDS = frozenset({"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"})


def _drawing_place() -> str | None:
    """Where a figure can be shown: "inline" in a Jupyter kernel; "window" in a program already
    using pyplot with an interactive backend, on a display; None elsewhere (a script, a test run,
    the grader's sandbox), which then never imports matplotlib."""
    shell = _ipython_shell()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return "inline"
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return None
    backend = str(pyplot.get_backend()).lower()
    if backend in _NON_INTERACTIVE_BACKENDS or backend.startswith("module://"):
        return None
    return "window"


def _difference_planes(exercise: str, what: str, got, expected):
    """(name of the plane, expected, got, close) as 2-D float arrays: the example and channel
    (for dW the pair of channels; for db every channel) holding the worst entry; None when the
    output is not such an array (a scalar, the wrong structure)."""
    if exercise in ("conv_forward", "pool_forward"):
        name = "Z" if exercise == "conv_forward" else "A"
        got, expected = (got[0] if type(got) in (tuple, list) and got else None), expected[0]
    elif exercise == "conv_backward":
        if what not in ("dA_prev", "dW", "db") or type(got) not in (tuple, list):
            return None
        index = ("dA_prev", "dW", "db").index(what)
        name, got, expected = what, got[index], expected[index]
    else:
        name = {"zero_pad": "X_pad", "distribute_value": "a", "pool_backward": "dA_prev"}.get(
            exercise, what
        )
    if type(got) is not np.ndarray or type(expected) is not np.ndarray:
        return None
    if got.shape != expected.shape or got.ndim not in (2, 4) or got.dtype.kind not in "biuf":
        return None
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return None
    close = np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    worst = np.unravel_index(
        int(np.argmax(np.where(close, -1.0, np.abs(got - expected)))), got.shape
    )
    if got.ndim == 2:
        plane, title = (slice(None), slice(None)), name
    elif name == "dW":
        plane, title = (
            (slice(None), slice(None), worst[2], worst[3]),
            f"dW[:, :, {worst[2]}, {worst[3]}]",
        )
    elif name == "db":
        plane, title = (0, 0), "db[0, 0] (every channel)"
    else:
        plane, title = (
            (worst[0], slice(None), slice(None), worst[3]),
            f"{name}[{worst[0]}, :, :, {worst[3]}]",
        )
    return title, expected[plane], got[plane], close[plane]


def _draw_difference(figure, heading: str, expected, got, close) -> None:
    axes = figure.subplots(1, 3)
    low, high = min(expected.min(), got.min()), max(expected.max(), got.max())
    for ax, values, title in zip(axes[:2], (expected, got), ("expected", "got"), strict=True):
        image = ax.imshow(values, cmap="viridis", vmin=low, vmax=high)
        ax.set_title(title, fontsize=9)
    figure.colorbar(image, ax=list(axes[:2]), shrink=0.8)
    difference = got - expected
    limit = max(float(np.max(np.abs(difference))), ATOL)
    image = axes[2].imshow(difference, cmap="RdBu_r", vmin=-limit, vmax=limit)
    rows, columns = np.nonzero(~close)
    axes[2].scatter(columns, rows, marker="x", s=14, c="black", linewidths=0.8)
    wrong = int(np.count_nonzero(~close))
    axes[2].set_title(f"got - expected (x: {wrong} of {close.size} wrong)", fontsize=9)
    figure.colorbar(image, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.tick_params(labelsize=7)
        for axis, size in ((ax.yaxis, expected.shape[0]), (ax.xaxis, expected.shape[1])):
            if size <= 12:
                axis.set_ticks(range(size))
    figure.suptitle(heading, fontsize=10)


def _show_difference(exercise: str, label: str, what: str, got, expected) -> bool:
    """Show expected, got and got - expected of a failing case's output where a figure can be
    shown (see _drawing_place): inline in a notebook, else in a window. True when shown. Never
    raises: a figure must not hide the failure it illustrates."""
    try:
        place = _drawing_place()
        planes = None if place is None else _difference_planes(exercise, what, got, expected)
        if planes is None:
            return False
        title, expected, got, close = planes
        heading = f'{exercise}, case "{label}": {title}'
        if place == "window":
            import matplotlib.pyplot as pyplot

            figure = pyplot.figure(figsize=(9, 3), layout="constrained")
            _draw_difference(figure, heading, expected, got, close)
            pyplot.show(block=False)
            return True
        from IPython.display import display
        from matplotlib.figure import Figure

        figure = Figure(figsize=(9, 3), dpi=80, layout="constrained")
        _draw_difference(figure, heading, expected, got, close)
        png = io.BytesIO()
        figure.savefig(png, format="png")
        text = f"<figure: expected, got and got - expected of {heading}>"
        display({"image/png": png.getvalue(), "text/plain": text}, raw=True)
        return True
    except Exception:  # matplotlib missing or broken, no display
        return False


# ---------------------------------------------------------------------------------------------
# Gradient checks students can run on their own forward and backward functions.


def relative_error(x, y) -> float:
    """Largest ``|x - y| / max(1e-8, |x| + |y|)`` over all entries (CS231n's rel_error)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(f: Callable, x: np.ndarray, df: np.ndarray, eps=GRADIENT_EPS):
    """Centred-difference gradient of ``sum(f(x) * df)`` with respect to the array ``x``
    (CS231n's eval_numerical_gradient_array).

    f  -- function of x returning an array shaped like df (it may read other arrays too)
    x  -- float64 array of any shape; changed in place during the probes, then restored
    df -- upstream gradient, the shape of f(x)
    Returns an array shaped like x: (L(x + eps) - L(x - eps)) / (2 * eps) per entry, where
    L(x) = sum(f(x) * df). For the piecewise-linear layers here the result is exact up to rounding
    as long as no step of eps changes which entry of a window is its maximum.
    """
    gradient = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        old = x[index]
        x[index] = old + eps
        plus = np.sum(np.asarray(f(x), dtype=np.float64) * df)
        x[index] = old - eps
        minus = np.sum(np.asarray(f(x), dtype=np.float64) * df)
        x[index] = old
        gradient[index] = (plus - minus) / (2 * eps)
    return gradient


def _gradient_array(name: str, value, shape: tuple) -> np.ndarray:
    """The student's gradient as an array of the expected shape, or an AssertionError."""
    if type(value) is not np.ndarray or value.shape != shape:
        got = value.shape if type(value) is np.ndarray else type(value).__name__
        raise _failure(f"{name} is {got}; expected an array of shape {shape}")
    return value


def _report_gradients(name: str, errors: dict[str, float], tolerance: float) -> None:
    shown = ", ".join(f"{key}: {value:.2e}" for key, value in errors.items())
    if all(value <= tolerance for value in errors.values()):
        print(f"{name}: gradients match the numerical ones (relative errors {shown}).")
        return
    bad = ", ".join(key for key, value in errors.items() if not value <= tolerance)
    raise _failure(
        f"{name}: the analytic gradient of {bad} differs from the numerical gradient (relative"
        f" errors {shown}; tolerance {tolerance:g}). Your backward function does not match your"
        " forward function."
    )


def _raised_in_check(name: str, error: Exception) -> AssertionError:
    """The short failure of a gradient check whose call of the student's functions raised:
    the error, and where in the student's code (no frame of this file)."""
    error.__traceback__ = _beyond_this_file(error.__traceback__)
    return _failure(f"{name} gradient check: {type(error).__name__}: {error}", error)


def _not_done(name: str) -> None:
    """A gradient check of a function that still raises NotImplementedError: the optional part
    left untouched, which must not stop a Run All or fail `nbgrader validate`."""
    print(f"{name}: gradient check skipped, {NOT_DONE_YET} (NotImplementedError).")


def _forward_not_done(name: str, forward: str) -> None:
    """A gradient check whose forward function (Part 1, graded) still raises
    NotImplementedError: say so, rather than blame the optional backward function."""
    print(f"{name}: gradient check skipped, {forward} (Part 1) is not done yet.")


def check_conv_gradients(conv_forward, conv_backward, seed=0, tolerance=GRADIENT_TOLERANCE):
    """Compare conv_backward with centred differences of conv_forward on a small random layer.

    Uses A_prev (2, 4, 5, 3), W (3, 3, 3, 2), b (1, 1, 1, 2), pad 1, stride 2 and a random
    upstream gradient dZ; the loss is sum(Z * dZ). Checks your backward against your forward:
    run the public tests as well. Raises AssertionError with the relative errors when one
    exceeds ``tolerance`` (1e-6); prints them otherwise, or that the optional part is not done
    yet when a function raises NotImplementedError. Any other error of your functions fails as
    an AssertionError naming it (chained).
    """
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((2, 4, 5, 3))
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    hparameters = {"pad": 1, "stride": 2}
    try:
        Z, cache = conv_forward(A_prev.copy(), W.copy(), b.copy(), dict(hparameters))
        dZ = rng.standard_normal(np.shape(Z))
    except NotImplementedError:
        return _forward_not_done("conv_backward", "conv_forward")
    except Exception as error:  # the student's code (or what it returned) failed
        raise _raised_in_check("conv_forward", error) from error
    try:
        dA_prev, dW, db = conv_backward(dZ.copy(), cache)
    except NotImplementedError:
        return _not_done("conv_backward")
    except Exception as error:
        raise _raised_in_check("conv_backward", error) from error

    def Z_of(_):
        return conv_forward(A_prev, W, b, dict(hparameters))[0]

    errors = {
        "dA_prev": relative_error(
            _gradient_array("dA_prev", dA_prev, A_prev.shape),
            numerical_gradient(Z_of, A_prev, dZ),
        ),
        "dW": relative_error(_gradient_array("dW", dW, W.shape), numerical_gradient(Z_of, W, dZ)),
        "db": relative_error(_gradient_array("db", db, b.shape), numerical_gradient(Z_of, b, dZ)),
    }
    _report_gradients("conv_backward", errors, tolerance)


def check_pool_gradients(
    pool_forward, pool_backward, mode="max", seed=0, tolerance=GRADIENT_TOLERANCE
):
    """Compare pool_backward with centred differences of pool_forward on a small random input.

    Uses A_prev (2, 5, 6, 2) with f 3, stride 2 (overlapping windows) and distinct values at
    least 0.05 apart, so a step of eps never changes which entry is a window's maximum.
    Raises AssertionError with the relative error when it exceeds ``tolerance``; prints it
    otherwise, or that the optional part is not done yet when a function raises
    NotImplementedError. Any other error of your functions fails as an AssertionError naming it
    (chained).
    """
    rng = np.random.default_rng(seed)
    shape = (2, 5, 6, 2)
    A_prev = (rng.permutation(int(np.prod(shape))) * 0.05 - 1.5).reshape(shape)
    hparameters = {"f": 3, "stride": 2}
    try:
        A, cache = pool_forward(A_prev.copy(), dict(hparameters), mode)
        dA = rng.standard_normal(np.shape(A))
    except NotImplementedError:
        return _forward_not_done(f"pool_backward ({mode})", "pool_forward")
    except Exception as error:  # the student's code (or what it returned) failed
        raise _raised_in_check(f"pool_forward ({mode})", error) from error
    try:
        returned = pool_backward(dA.copy(), cache, mode)
    except NotImplementedError:
        return _not_done(f"pool_backward ({mode})")
    except Exception as error:
        raise _raised_in_check(f"pool_backward ({mode})", error) from error
    dA_prev = _gradient_array("dA_prev", returned, shape)

    def A_of(_):
        return pool_forward(A_prev, dict(hparameters), mode)[0]

    errors = {"dA_prev": relative_error(dA_prev, numerical_gradient(A_of, A_prev, dA))}
    _report_gradients(f"pool_backward ({mode})", errors, tolerance)


# ---------------------------------------------------------------------------------------------
# An ungraded question of the notebook (section 3.5): the parameters of a convolution layer.


def check_parameter_count(answer, f: int, n_C_prev: int, n_C: int) -> None:
    """Check a count of the parameters of a convolution layer with n_C filters of f x f x n_C_prev.

    The count is f * f * n_C_prev * n_C weights plus n_C biases. Prints that the question is not
    answered yet while ``answer`` is None, one success line when it is right; raises
    AssertionError saying what was counted wrong otherwise.
    """
    if answer is None:
        print("parameter count: not answered yet (replace None with your count).")
        return
    weights, biases = f * f * n_C_prev * n_C, n_C
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        raise _failure(f"parameter count: expected a whole number, got {answer!r}")
    if answer == weights + biases:
        print(f"parameter count: right, {weights} weights and {biases} biases.")
        return
    if answer == weights:
        hint = "those are the weights alone: each filter also has a bias"
    elif answer == f * f * n_C_prev + 1:
        hint = "that is one filter: the layer has n_C of them"
    elif answer == f * f * n_C + n_C:
        hint = "each filter spans all n_C_prev input channels"
    else:
        hint = "each filter has f * f * n_C_prev weights and one bias"
    raise _failure(f"parameter count: {answer} is not right: {hint}.")


__all__ += ["check_parameter_count"]
