"""The hidden checks of each exercise (which calls to make) and their judging against the reference.

Scoring rule. Each exercise has a few named checks ("output shape", "pad = 0", "cache", ...);
a check passes only if, on every one of its cases, the returned values match the reference's,
and the exercise scores ``points x (checks passed / checks)`` (``grader.verdict.exercise_score``).
So one mistake costs the checks it breaks, not the whole exercise, and credit comes only from
right values: structure (None, type, tuple length, shape, scalar-ness, dtype), the cache and
inputs left unchanged gate a case but earn nothing alone. A function that ignores its inputs
(zeros of the right shape, an input passed back, a constant, random values) scores 0: every
check has a case on which such a stub differs from the reference (see the anchor comments).

Cases. A check holds the public cases that fit it (``hidden=False``, the very inputs students
see in ``public_tests_data.npz``) and fresh cases drawn from ``np.random.default_rng`` seeded
by ``(seed, exercise index)``: random sizes within each check's constraints plus the edge cases
(pad = 0, uneven strides, stride > f, f = 1, f equal to the input size, m = 1, n_C = 1,
non-square). Every check has at least one hidden case, so passing cannot come from memorising
public outputs. Pooling and mask inputs hold distinct values (no ties for the maximum). Sizes
stay small: a loop implementation runs a whole exercise well under a second. The structural
checks use the exercise's simplest cases (see ``_single_window_pool``), so that a mistake of one
property costs that property's checks and not these.

What a case compares depends on its check's name (``ASPECTS``), always structure first and
values last: "cache" also compares the cache (between the two); "inputs unchanged" also compares
the arguments after the call with those before it; "dA_prev" / "dW" / "db" compare the tuple and
that one output of conv_backward; every other check ("output shape" included) compares the main
output(s), with ``public_tests``' tolerances (rtol=1e-7, atol=1e-9). Comparisons never trust the
returned objects: only exact ``np.ndarray``, tuple/list, dict and builtin number types are
accepted, and NaN equals nothing.

Hints. A failing check names its first structural problem (else its first failure), then adds
an input changed in place, if any case changed one, else the diagnosis of
``public_tests.diagnose`` (the same the public tests print), given only when some case returned
a wrong value; a case that raised counts there as failing, its message unread. When every
failing case raised, the hint says so and names the exception type: a hidden case's error is
reduced to its first word (the type), never the student's message; only a public case's message
may feed a diagnosis. Hints never quote hidden inputs, expected values or code.
"""

from __future__ import annotations

import builtins
import copy
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader import reference
from grader.calls import Call, Outcome
from grader.course import public_tests_module
from grader.exercises import EXERCISE_NAMES
from grader.verdict import CheckVerdict

# The students' public tests, the same file the sandbox stages (an installed grader has no
# ``public_tests`` on sys.path: see grader.course).
public_tests = public_tests_module()

ASPECTS = {
    "cache": "cache",
    "inputs unchanged": "unchanged",
    "dA_prev": "dA_prev",
    "dW": "dW",
    "db": "db",
}  # every other check name ("output shape", "returns a scalar", ...): "values"


@dataclass(frozen=True)
class Case:
    """One call of the student's function, with the tags of ``public_tests`` and whether the
    student has seen it (public) or not (fresh seeded and edge cases)."""

    call: Call
    tags: frozenset[str]
    hidden: bool


@dataclass(frozen=True)
class Check:
    """A named, student-facing check; it passes only if all its cases pass."""

    name: str
    cases: tuple[Case, ...]


def describe_rule() -> str:
    """The scoring rule, in one sentence for reports and the README."""
    return (
        "Each exercise scores points x (checks passed / checks); a check passes only if the"
        " returned values match the reference on all of its cases (public cases and fresh"
        " hidden ones): a right shape, cache or untouched input earns nothing alone."
    )


# ---------------------------------------------------------------------------------------------
# Tags (vocabulary documented in public_tests).


def _window_tags(n_H: int, n_W: int, f: int, pad: int, stride: int) -> set[str]:
    tags = {"stride=1" if stride == 1 else "stride>1"}
    if (n_H - f + 2 * pad) % stride or (n_W - f + 2 * pad) % stride:
        tags.add("uneven")
    if stride > f:
        tags.add("stride>f")
    elif stride < f:
        tags.add("overlap")
    if f == 1:
        tags.add("f=1")
    if f == n_H + 2 * pad or f == n_W + 2 * pad:
        tags.add("f=n")
    if n_H != n_W:
        tags.add("non-square")
    return tags


def _batch_tags(shape: tuple[int, ...]) -> set[str]:
    return {"m=1" if shape[0] == 1 else "m>1"}


def case_tags(exercise: str, args: tuple) -> frozenset[str]:
    """The tags of one call of ``exercise`` with positional ``args``."""
    tags: set[str] = set()
    if exercise == "zero_pad":
        X, pad = args
        tags |= {"pad=0" if pad == 0 else "pad>0"} | _batch_tags(X.shape)
        tags |= {"non-square"} if X.shape[1] != X.shape[2] else set()
        tags |= {"n_C=1"} if X.shape[3] == 1 else set()
    elif exercise == "conv_single_step":
        a_slice_prev = args[0]
        tags |= {"f=1"} if a_slice_prev.shape[0] == 1 else set()
        tags |= {"n_C=1"} if a_slice_prev.shape[2] == 1 else set()
        tags |= {"non-square"} if a_slice_prev.shape[0] != a_slice_prev.shape[1] else set()
    elif exercise in ("conv_forward", "conv_backward"):
        A_prev, W, _, hparameters = args if exercise == "conv_forward" else args[1]
        pad, stride = hparameters["pad"], hparameters["stride"]
        tags |= {"pad=0" if pad == 0 else "pad>0"} | _batch_tags(A_prev.shape)
        tags |= _window_tags(A_prev.shape[1], A_prev.shape[2], W.shape[0], pad, stride)
        tags |= {"n_C=1"} if A_prev.shape[3] == 1 and W.shape[3] == 1 else set()
    elif exercise in ("pool_forward", "pool_backward"):
        A_prev, hparameters = args[:2] if exercise == "pool_forward" else args[1]
        mode = args[2] if len(args) > 2 else "max"
        tags |= {f"mode={mode}"} | _batch_tags(A_prev.shape)
        tags |= _window_tags(
            A_prev.shape[1], A_prev.shape[2], hparameters["f"], 0, hparameters["stride"]
        )
        tags |= {"n_C=1"} if A_prev.shape[3] == 1 else set()
    elif exercise == "create_mask_from_window":
        (x,) = args
        tags |= {"non-square"} if x.shape[0] != x.shape[1] else set()
        tags |= {"f=1"} if x.size == 1 else set()
    elif exercise == "distribute_value":
        n_H, n_W = args[1]
        tags |= {"non-square"} if n_H != n_W else set()
        tags |= {"f=1"} if n_H == n_W == 1 else set()
    else:
        raise KeyError(f"unknown exercise {exercise!r}")
    return frozenset(tags)


# ---------------------------------------------------------------------------------------------
# Inputs.


def distinct_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal values, all distinct (so no window has two maxima)."""
    while True:
        values = rng.standard_normal(shape)
        if np.unique(values).size == values.size:
            return values


def conv_args(rng, m, n_H, n_W, n_C_prev, f, n_C, pad, stride) -> tuple:
    """(A_prev, W, b, hparameters) for conv_forward."""
    A_prev = rng.standard_normal((m, n_H, n_W, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    return A_prev, W, b, {"stride": stride, "pad": pad}


def conv_backward_args(rng, m, n_H, n_W, n_C_prev, f, n_C, pad, stride) -> tuple:
    """(dZ, cache) for conv_backward with a random upstream gradient of the right shape."""
    cache = conv_args(rng, m, n_H, n_W, n_C_prev, f, n_C, pad, stride)
    n_H_out = reference.output_size(n_H, f, pad, stride)
    n_W_out = reference.output_size(n_W, f, pad, stride)
    return rng.standard_normal((m, n_H_out, n_W_out, n_C)), cache


def pool_args(rng, m, n_H, n_W, n_C, f, stride) -> tuple:
    """(A_prev, hparameters) for pool_forward, without ties."""
    return distinct_normal(rng, (m, n_H, n_W, n_C)), {"stride": stride, "f": f}


def pool_backward_args(rng, m, n_H, n_W, n_C, f, stride) -> tuple:
    """(dA, cache) for pool_backward, without ties in A_prev."""
    cache = pool_args(rng, m, n_H, n_W, n_C, f, stride)
    n_out = (reference.output_size(n_H, f, 0, stride), reference.output_size(n_W, f, 0, stride))
    return rng.standard_normal((m, *n_out, n_C)), cache


def _pick(rng, low: int, high: int) -> int:
    """A random int in [low, high]."""
    return int(rng.integers(low, high + 1))


def _random_conv(rng, **fixed) -> dict:
    """Sizes of a small convolution, any of them overridden by ``fixed``: random everything."""
    sizes = {
        "m": _pick(rng, 2, 3),
        "n_H": _pick(rng, 4, 7),
        "n_W": _pick(rng, 4, 8),
        "n_C_prev": _pick(rng, 2, 3),
        "f": _pick(rng, 2, 3),
        "n_C": _pick(rng, 2, 4),
        "pad": _pick(rng, 1, 2),
        "stride": _pick(rng, 1, 2),
    }
    sizes.update(fixed)
    return sizes


def _plain_conv(rng, f=3, stride=1, **fixed) -> dict:
    """A convolution without edge properties: m = 2, square, pad 1, several channels, the given
    f and stride; a property check changes one thing, so one mistake costs few checks."""
    n = _pick(rng, 4, 6)
    sizes = {"m": 2, "n_H": n, "n_W": n, "n_C_prev": _pick(rng, 2, 3), "f": f,
             "n_C": _pick(rng, 2, 3), "pad": 1, "stride": stride}  # fmt: skip
    sizes.update(fixed)
    return sizes


def _random_pool(rng, **fixed) -> dict:
    sizes = {
        "m": _pick(rng, 2, 3),
        "n_H": _pick(rng, 4, 7),
        "n_W": _pick(rng, 4, 8),
        "n_C": _pick(rng, 2, 3),
        "f": _pick(rng, 2, 3),
        "stride": _pick(rng, 1, 2),
    }
    sizes.update(fixed)
    return sizes


def _plain_pool(rng, **fixed) -> dict:
    """Pooling without edge properties: m = 2, square, even size, f = stride = 2."""
    n = int(rng.choice([4, 6]))
    sizes = {"m": 2, "n_H": n, "n_W": n, "n_C": _pick(rng, 2, 3), "f": 2, "stride": 2}
    sizes.update(fixed)
    return sizes


def _uneven(rng, f: int, pad: int, stride: int, low=4, high=9) -> int:
    """A size n in [low, high] with (n - f + 2 * pad) not a multiple of stride."""
    choices = [n for n in range(low, high + 1) if (n - f + 2 * pad) % stride and n + 2 * pad >= f]
    return int(rng.choice(choices))


# Structural checks ("output shape", "cache", "inputs unchanged") compare values too, so their
# cases are the simplest of the exercise: one example, stride 1 or a single window, and for
# pooling max mode (plus one average case where either branch could modify an input). There a
# mistake of one property (the stride, overlapping windows, average mode, several examples)
# gives the right values, and costs its own checks, not these. A single window still
# tells the output-size formula apart (an uneven size rounded up gives two windows) and still
# tells a stub from the reference: the maximum of a window lies at one given position with
# probability 1 / f^2 per channel, so with four channels and two windows a stub that returns an
# input element is right on both with probability below 1e-6.


def _single_window_pool(rng, n: int, f: int, **fixed) -> tuple:
    """(A_prev, hparameters) of one example, four channels, n x n, one window per axis (stride
    f, so n - f < f): uneven unless f = n."""
    return pool_args(rng, **{"m": 1, "n_H": n, "n_W": n, "n_C": 4, "f": f, "stride": f, **fixed})


def _single_window_pool_backward(rng, n: int, f: int) -> tuple:
    """(dA, cache) for pool_backward on ``_single_window_pool`` inputs."""
    return pool_backward_args(rng, m=1, n_H=n, n_W=n, n_C=4, f=f, stride=f)


# ---------------------------------------------------------------------------------------------
# The checks of each exercise: (check name, hidden args, public selectors). A public case joins
# a check when it matches a selector: "all", "label:<words in its label>", or tags joined by
# " & " ("!tag" excludes). Property checks take only public cases that isolate the property.


def _zero_pad_plan(rng) -> list[tuple[str, list[tuple], list[str]]]:
    def X(m, n_H, n_W, n_C):
        return rng.standard_normal((m, n_H, n_W, n_C))

    return [
        ("output shape", [(X(2, 3, 5, 2), 2), (X(1, 4, 4, 3), 0)], ["all"]),
        ("values", [(X(3, 4, 4, 2), _pick(rng, 1, 3)), (X(2, 2, 2, 3), 1)],
         ["label:several examples"]),
        # The anchor (pad 1): with pad = 0 the right answer is X itself, so `return X` would pass
        ("pad = 0", [(X(2, 3, 3, 2), 0), (X(1, 2, 2, 1), 1)], ["pad=0"]),
        ("non-square input", [(X(2, _pick(rng, 2, 3), _pick(rng, 4, 6), 3), 2)],
         ["non-square & pad>0"]),
        ("integer input", [(rng.integers(-9, 10, size=(2, 3, 3, 2)), 2)], ["label:integer"]),
        ("inputs unchanged", [(X(2, 3, 3, 2), 1)], []),
    ]  # fmt: skip


def _conv_single_step_plan(rng):
    def window(f, n_C):
        return (
            rng.standard_normal((f, f, n_C)),
            rng.standard_normal((f, f, n_C)),
            rng.standard_normal((1, 1, 1)),
        )

    return [
        ("returns a scalar", [window(3, 2)], ["all"]),
        ("values", [window(_pick(rng, 2, 5), _pick(rng, 2, 4)) for _ in range(3)],
         ["label:4 x 4", "label:large bias"]),
        ("one channel", [window(3, 1)], ["n_C=1 & !f=1"]),
        ("1 x 1 window", [window(1, 3)], ["f=1"]),
        ("inputs unchanged", [window(2, 3)], []),
    ]  # fmt: skip


def _conv_forward_plan(rng):
    def conv(**fixed):
        return conv_args(rng, **_random_conv(rng, **fixed))

    def plain(**fixed):
        return conv_args(rng, **_plain_conv(rng, **fixed))

    def simple(**fixed):  # one example, stride 1: see _single_window_pool
        return plain(m=1, **fixed)

    general = conv()
    A_prev, W, b, hparameters = general
    flipped = (A_prev, W[::-1, ::-1].copy(), b, dict(hparameters))  # shows a flipped kernel
    n = _pick(rng, 2, 3)
    return [
        # 2 input channels, 3 filters, pad 2; then one window per axis on an uneven size
        # (rounded up, it gives two), so that a wrong stride is not also a wrong shape here
        ("output shape", [simple(n_C_prev=2, n_C=3, pad=2),
                          simple(n_H=2, n_W=3, f=3, stride=3, pad=1)], []),
        ("values", [general, flipped, conv()], ["label:seed-like", "label:flipped kernel"]),
        ("padding", [plain(pad=2), plain(pad=3, f=2)], ["label:stride 1, pad 3"]),
        ("pad = 0", [plain(pad=0), plain(pad=0, f=2)], ["pad=0 & stride=1 & !f=1 & !f=n"]),
        ("stride", [plain(stride=2, n_H=(n_2 := _uneven(rng, 3, 1, 2)), n_W=n_2),
                    plain(stride=3, f=2, n_H=(n_3 := _pick(rng, 5, 8)), n_W=n_3)],
         ["label:uneven stride"]),
        ("non-square input", [plain(n_H=_pick(rng, 3, 4), n_W=_pick(rng, 6, 8))], []),
        ("several examples", [plain(m=_pick(rng, 3, 4))], []),
        ("edge cases", [plain(f=1), plain(m=1, n_C_prev=1, n_C=1),
                        plain(n_H=n, n_W=n, f=n + 2)], ["label:f = 1", "label:as large"]),
        ("cache", [simple()], []),
        ("inputs unchanged", [simple()], []),
    ]  # fmt: skip


def _both_modes(args_list: list[tuple]) -> list[tuple]:
    return [(*args, mode) for args in args_list for mode in ("max", "average")]


def _pool_forward_plan(rng):
    def pool(**fixed):
        return pool_args(rng, **_random_pool(rng, **fixed))

    def plain(**fixed):
        return pool_args(rng, **_plain_pool(rng, **fixed))

    def single(n, f, mode="max"):
        return (*_single_window_pool(rng, n, f), mode)

    shared = [plain(), pool()]
    return [
        ("output shape", [single(3, 2), single(5, 3)], []),
        ("max pooling", [(*args, "max") for args in shared],
         ["label:f = stride = 2, one example, max"]),
        ("average pooling", [(*args, "average") for args in shared],
         ["label:f = stride = 2, one example, average"]),
        ("stride", _both_modes([plain(stride=3, n_H=(n := _pick(rng, 5, 8)), n_W=n),
                                plain(f=3, stride=2, n_H=5, n_W=5)]), ["label:stride > f"]),
        ("overlapping windows", _both_modes([plain(f=3, stride=1), plain(f=2, stride=1)]),
         ["label:overlapping windows"]),
        ("non-square input", _both_modes([plain(n_H=4, n_W=_pick(rng, 6, 8))]),
         ["label:non-square"]),
        ("several examples", _both_modes([plain(m=_pick(rng, 3, 4))]), []),
        ("edge cases", _both_modes([plain(f=1, stride=1), plain(n_H=3, n_W=3, f=3, stride=1),
                                    plain(m=1, n_C=1)]), ["f=1", "f=n"]),
        ("default mode is max", [plain()], ["label:default mode"]),
        ("cache", [single(3, 3), single(4, 4)], []),
        ("inputs unchanged", [single(3, 3), single(4, 4, "average")], []),  # either branch
    ]  # fmt: skip


def _conv_backward_plan(rng):
    def grad(**fixed):
        return conv_backward_args(rng, **_random_conv(rng, **fixed))

    def plain(**fixed):
        return conv_backward_args(rng, **_plain_conv(rng, **{"f": 2, "stride": 2, **fixed}))

    def single(n, pad=1):  # one example, one window (f = n + 2 * pad): see _single_window_pool
        sizes = _plain_conv(rng, m=1, n_H=n, n_W=n, f=n + 2 * pad, pad=pad, stride=1)
        return conv_backward_args(rng, **sizes)

    shared = [grad(), plain()]
    return [
        ("output shapes", [single(2), single(3, pad=0)], []),  # pad = 0: the crop
        ("dA_prev", shared, ["label:seed-like"]),
        ("dW", shared, ["label:seed-like"]),
        ("db", shared, ["label:seed-like"]),
        ("pad = 0", [plain(pad=0), plain(pad=0, f=3, stride=1)], ["label:pad = 0"]),
        ("stride", [plain(stride=3, n_H=(n := _pick(rng, 5, 7)), n_W=n),
                    plain(f=3, stride=2, n_H=(n_2 := _uneven(rng, 3, 1, 2)), n_W=n_2)],
         ["label:stride > f"]),
        ("overlapping windows", [plain(f=3, stride=1), plain(f=3, stride=2, n_H=5, n_W=5)],
         ["label:one example, overlapping"]),
        ("non-square input", [plain(n_H=4, n_W=_pick(rng, 6, 8))], []),
        ("several examples", [plain(m=_pick(rng, 3, 4))], []),
        ("edge cases", [plain(f=1, stride=1), plain(m=1, n_C_prev=1, n_C=1),
                        plain(n_H=3, n_W=3, f=5, stride=1)], ["label:one channel"]),
        ("inputs unchanged", [single(3)], []),
    ]  # fmt: skip


def _mask_plan(rng):
    def window(n_H, n_W, shift=0.0):
        return (distinct_normal(rng, (n_H, n_W)) + shift,)

    side = _pick(rng, 2, 4)
    return [
        ("output shape", [window(3, 3), window(2, 4)], ["all"]),
        ("values", [window(side, side) for _ in range(3)], ["label:3 x 3"]),
        ("non-square window", [window(2, 3), window(4, 2)], ["non-square"]),
        ("negative values", [window(3, 3, shift=-10.0)], ["label:negative"]),
        ("inputs unchanged", [window(3, 3)], []),
    ]


def _distribute_plan(rng):
    def value():
        return float(np.round(rng.standard_normal() * 4, 6))

    side = _pick(rng, 2, 4)
    return [
        ("output shape", [(value(), (3, 3)), (value(), (2, 5))], ["all"]),
        ("values", [(value(), (side, side)) for _ in range(3)], ["label:2 x 2", "label:3 x 3"]),
        ("non-square shape", [(value(), (_pick(rng, 1, 2), _pick(rng, 3, 5)))], ["non-square"]),
        ("integer dz", [(_pick(rng, 1, 9), (2, 2)), (_pick(rng, 2, 9), (3, 3))],
         ["label:integer"]),
    ]  # fmt: skip


def _pool_backward_plan(rng):
    def grad(**fixed):
        return pool_backward_args(rng, **_random_pool(rng, **fixed))

    def plain(**fixed):
        return pool_backward_args(rng, **_plain_pool(rng, **fixed))

    def single(n, mode="max"):  # see _single_window_pool
        return (*_single_window_pool_backward(rng, n, n), mode)

    shared = [plain(), grad()]
    return [
        ("output shape", [single(3), single(4)], []),
        ("max mode", [(*args, "max") for args in shared], ["label:f = stride = 2, max"]),
        ("average mode", [(*args, "average") for args in shared],
         ["label:f = stride = 2, average"]),
        ("overlapping windows",
         _both_modes([plain(f=3, stride=1), plain(f=3, stride=2, n_H=5, n_W=5)]),
         ["label:overlapping"]),
        ("stride", _both_modes([plain(stride=3, n_H=(n := _pick(rng, 5, 8)), n_W=n)]),
         ["label:stride > f"]),
        ("non-square input", _both_modes([plain(n_H=4, n_W=_pick(rng, 6, 8))]), []),
        ("several examples", _both_modes([plain(m=_pick(rng, 3, 4))]), []),
        ("edge cases", _both_modes([plain(f=1, stride=1), plain(n_H=3, n_W=3, f=3, stride=1),
                                    plain(m=1, n_C=1)]), ["label:as large"]),
        ("default mode is max", [plain()], ["label:default mode"]),
        ("inputs unchanged", [single(3), single(4, "average")], []),  # either branch could
    ]  # fmt: skip


_PLANS = {
    "zero_pad": _zero_pad_plan,
    "conv_single_step": _conv_single_step_plan,
    "conv_forward": _conv_forward_plan,
    "pool_forward": _pool_forward_plan,
    "conv_backward": _conv_backward_plan,
    "create_mask_from_window": _mask_plan,
    "distribute_value": _distribute_plan,
    "pool_backward": _pool_backward_plan,
}


def _matches(case: public_tests.PublicCase, selector: str) -> bool:
    if selector == "all":
        return True
    if selector.startswith("label:"):
        return selector[len("label:") :] in case.label
    conditions = [condition.strip() for condition in selector.split("&")]
    return all(
        (condition[1:] not in case.tags) if condition.startswith("!") else (condition in case.tags)
        for condition in conditions
    )


def _public_selection(cases: Sequence[public_tests.PublicCase], selectors: list[str]):
    """The public cases matching any of the selectors, in their stored order."""
    return [case for case in cases if any(_matches(case, selector) for selector in selectors)]


def hidden_checks(exercise: str, seed: int) -> tuple[Check, ...]:
    """The checks of ``exercise`` for this seed (deterministic in (exercise, seed))."""
    if exercise not in _PLANS:
        raise KeyError(f"unknown exercise {exercise!r}")
    rng = np.random.default_rng([int(seed), EXERCISE_NAMES.index(exercise)])
    public = _public_cases(exercise)
    checks = []
    for name, hidden_args, selectors in _PLANS[exercise](rng):
        cases = [_public_case(exercise, case) for case in _public_selection(public, selectors)]
        cases += [
            Case(Call(tuple(args)), case_tags(exercise, tuple(args)), hidden=True)
            for args in hidden_args
        ]
        checks.append(Check(name, tuple(cases)))
    return tuple(checks)


# The public cases are the same for every submission: decoded once per process, each made into
# one Case, with its reference output computed once (``_expected``). Their arrays are made
# read-only, since every submission's checks share them (the sandbox gets encoded copies, the
# reference deep copies, the comparisons only read).
_public_case_objects: dict[tuple[str, int], Case] = {}
_public_ids: set[int] = set()
_public_expected: dict[int, object] = {}
_public_lock = threading.Lock()
_MISSING = object()


@functools.cache
def _public_cases(exercise: str) -> tuple[public_tests.PublicCase, ...]:
    cases = public_tests.public_cases(exercise)
    for case in cases:
        _read_only(case.args)
    return cases


def _public_case(exercise: str, case: public_tests.PublicCase) -> Case:
    key = (exercise, id(case))  # the PublicCase objects live as long as _public_cases' cache
    with _public_lock:
        if key not in _public_case_objects:
            shared = Case(Call(tuple(case.args)), case.tags, hidden=False)
            _public_case_objects[key] = shared
            _public_ids.add(id(shared))
        return _public_case_objects[key]


def _read_only(value) -> None:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for item in value:
            _read_only(item)
    elif isinstance(value, dict):
        for item in value.values():
            _read_only(item)


# ---------------------------------------------------------------------------------------------
# Judging.

_REFERENCE = {name: getattr(reference, name) for name in EXERCISE_NAMES}


def expected_output(exercise: str, args: tuple):
    """What the reference returns for ``args`` (called on a copy; the cache holds ``args``)."""
    result = _REFERENCE[exercise](*copy.deepcopy(args))
    if exercise in ("conv_forward", "pool_forward"):
        return result[0], tuple(args[:4] if exercise == "conv_forward" else args[:2])
    return result


def _expected(exercise: str, case: Case):
    """``expected_output`` of the case's arguments, computed once for a shared public case.
    (Shared cases are never freed, so no other live object can have the id of one.)"""
    if id(case) not in _public_ids:
        return expected_output(exercise, case.call.args)
    with _public_lock:
        expected = _public_expected.get(id(case), _MISSING)
    if expected is _MISSING:
        expected = expected_output(exercise, case.call.args)
        _read_only(expected)
        with _public_lock:
            _public_expected[id(case)] = expected
    return expected


def _returned(outcome: Outcome, hidden: bool):
    """What the call gave, as ``public_tests.compare_output`` takes it: a Raised when it raised.
    A hidden case's error is kept to its first word (the exception type, "timeout"...), so that
    no hint can quote or react to the student's own message on inputs the student has not seen."""
    if type(outcome) is not Outcome:
        return public_tests.Raised("crashed: no outcome")
    if outcome.error is not None:
        return public_tests.Raised(_first_word(outcome.error) if hidden else str(outcome.error))
    return outcome.returned


def _first_word(error) -> str:
    """The part of a hidden case's error that a hint may show: a built-in exception's name,
    the grader's own words ("timeout", "crashed"...), or "an exception" (a class of the
    student's own could carry any name)."""
    head = str(error).split(":", 1)[0].strip()
    builtin = getattr(builtins, head, None)
    is_builtin_exception = isinstance(builtin, type) and issubclass(builtin, BaseException)
    return head if is_builtin_exception or head in _NOT_EXCEPTIONS else "an exception"


def _case_mismatch(exercise, aspect, args, got, expected, outcome):
    """Why one case fails its check (None: it passes): structure, then the check's own aspect
    (the cache, the inputs after the call), then the values. Structure alone never passes."""
    if aspect in ("dA_prev", "dW", "db"):  # the tuple, then that gradient's structure and values
        return public_tests.compare_output(exercise, args, got, expected, aspect)
    mismatch = public_tests.compare_output(exercise, args, got, expected, "structure")
    if mismatch is None and aspect == "cache":
        mismatch = public_tests.compare_output(exercise, args, got, expected, "cache")
    if mismatch is None and aspect == "unchanged":
        if outcome.args_after is None:
            text = "the inputs could not be checked after the call (a grader problem)"
            mismatch = public_tests.Mismatch("inputs", "modified", text, text)
        else:
            mismatch = public_tests.modified_inputs(exercise, args, tuple(outcome.args_after))
    if mismatch is None:
        mismatch = public_tests.compare_output(exercise, args, got, expected, "values")
    return mismatch


def judge(
    exercise: str, checks: tuple[Check, ...], outcomes: Sequence[Sequence[Outcome]]
) -> tuple[CheckVerdict, ...]:
    """One CheckVerdict per check; ``outcomes[k][j]`` is what ``checks[k].cases[j]`` gave."""
    if len(outcomes) != len(checks) or any(
        len(check_outcomes) != len(check.cases)
        for check, check_outcomes in zip(checks, outcomes, strict=True)
    ):
        raise ValueError("outcomes must match checks case by case")
    judged = []  # per check: [(CaseResult, Mismatch | None, hidden)]
    for check, check_outcomes in zip(checks, outcomes, strict=True):
        aspect = ASPECTS.get(check.name, "values")
        rows = []
        for case, outcome in zip(check.cases, check_outcomes, strict=True):
            args = case.call.args
            expected = _expected(exercise, case)
            got = _returned(outcome, case.hidden)
            try:
                values = public_tests.compare_output(exercise, args, got, expected, "values")
                mismatch = _case_mismatch(exercise, aspect, args, got, expected, outcome)
            except Exception:  # untrusted data that defeats the comparison fails the case
                text = "the returned value could not be checked"
                values = mismatch = public_tests.Mismatch("output", "type", text, text)
            result = public_tests.CaseResult(case.tags, args, got, expected, values is None)
            rows.append((result, mismatch, case.hidden))
        judged.append((check, rows))

    verdicts = []
    for check, rows in judged:
        failed = [row for row in rows if row[1] is not None]
        if not failed:
            verdicts.append(CheckVerdict(check.name, True, None))
        else:
            verdicts.append(CheckVerdict(check.name, False, _hint(exercise, rows, judged)))
    return tuple(verdicts)


# Mismatch kinds that describe the returned structure; a check names them before its own
# aspect (the cache, the inputs) and before values.
_STRUCTURE_KINDS = ("none", "type", "length", "shape", "scalar", "dtype")


def _hint(exercise, rows, judged) -> str:
    """What a failing check tells the student, without quoting hidden data.

    When some failing case returned a value: the sentence of the first structural failure (else
    the first failure), then the diagnosis of ``public_tests.diagnose`` over every case (one that
    raised counts as failing, its message unread: see ``_diagnose``), or, when an input was changed
    in place, that. When every failing case raised: say so, with the exception type (a hidden
    case's error is its first word only).
    """
    failed = [(result, mismatch, hidden) for result, mismatch, hidden in rows if mismatch]
    returned = [row for row in failed if not isinstance(row[0].got, public_tests.Raised)]
    if not returned:
        return _raised_summary(exercise, failed, judged)
    mismatch = next((m for _, m, _ in returned if m.kind in _STRUCTURE_KINDS), returned[0][1])
    summary = mismatch.summary
    raised = [row for row in failed if isinstance(row[0].got, public_tests.Raised)]
    if raised:
        summary += f"; it also raised {_exception_names(raised)} on other cases"
    if mismatch.kind in public_tests.QUIET_KINDS:
        return summary
    # An input changed in place is said first, whatever the values: it may be why they are wrong
    # (a cache overwritten, then read), and a diagnosis of the values would hide it.
    modified = next(
        (m for _, other_rows in judged for _, m, _ in other_rows if m and m.kind == "modified"),
        None,
    )
    if modified is not None:
        return f"{summary}. Hint: {modified.summary}"
    # The whole exercise first: its patterns ("fails only when pad = 0") and pairs (both modes
    # of one input) span checks. Then this check's failures against every passing case.
    every = [result for _, other_rows in judged for result, _, _ in other_rows]
    own = [result for result, _, _ in rows]
    own_ids = {id(result) for result in own}
    others = [r for r in every if r.passed and id(r) not in own_ids]
    diagnosis = _diagnose(exercise, every) or _diagnose(exercise, own + others)
    return f"{summary}. Hint: {diagnosis}" if diagnosis else summary


def _diagnose(exercise, results) -> str | None:
    """``public_tests.diagnose`` when some case returned a wrong value. A case that raised still
    counts as failing in patterns over cases (without it, "fails only when windows overlap"
    could be said while a case without overlap raised), but what it raised is not read: its
    message could come from hidden inputs."""
    returned = [r for r in results if not isinstance(r.got, public_tests.Raised)]
    if not any(not r.passed for r in returned):
        return None
    unread = public_tests.Raised("")
    return public_tests.diagnose(
        exercise,
        [
            public_tests.CaseResult(r.tags, r.args, unread, r.expected, False)
            if isinstance(r.got, public_tests.Raised)
            else r
            for r in results
        ],
    )


def _exception_names(rows) -> str:
    """The exception types of failed rows, in order, each once ("ValueError, an exception")."""
    names = []
    for result, _, _ in rows:
        name = _first_word(result.got.error)
        if name not in names:
            names.append(name)
    return ", ".join(names)


# Outcome errors that are not an exception raised by the student's code (grader.calls.Outcome).
_NOT_EXCEPTIONS = frozenset(
    {"NotImplementedError", "timeout", "crashed", "not found", "output too large"}
)


def _raised_summary(exercise, failed, judged) -> str:
    """The hint of a check whose failing cases all raised (or timed out, or crashed)."""
    public = [row for row in failed if not row[2]]
    first = (public or failed)[0]
    summary = first[1].summary  # "<exercise> raised TypeError", "... is not implemented yet"...
    if public:  # the student's own message on a case they have seen may be diagnosed
        hint = public_tests.diagnose(exercise, [result for result, _, _ in public])
        return f"{summary}. Hint: {hint}" if hint else summary
    if _first_word(first[0].got.error) in _NOT_EXCEPTIONS:
        return summary  # its own sentence says what happened
    public_results = [r for _, rows in judged for r, _, hidden in rows if not hidden]
    passes_public = public_results and all(r.passed for r in public_results)
    where = "; it passes the public cases" if passes_public else ""
    return f"{exercise} raised an exception on hidden cases ({_exception_names(failed)}){where}"
