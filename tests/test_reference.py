"""Is grader/reference.py right? Every hidden check trusts it, so it is checked from four sides.

1. Against ``tests/loop_reference.py``, a plain-loop implementation written from the definitions
   that shares no code with the reference (all eight functions).
2. Against independent oracles: ``scipy.signal.correlate`` for conv_forward, hand-built
   ``as_strided`` windows and a reshape for pool_forward, and the adjoint identities
   ``<forward(x), dy> == <x, backward(dy)>`` for both backward passes.
3. Against centred-difference numerical gradients (``tests/gradients.py``).
4. Against the contracts the notebook states (shapes, dtypes, untouched inputs, caches, modes,
   ties) and the values the seed notebook prints.

Property tests draw small shapes and hyperparameters with hypothesis, derandomized and without
an example database so that every run (and CI) tries the same inputs; the named edge cases
(pad 0, f 1, f equal to the padded input, stride > f, strides that do not divide, m = 1,
n_C = 1, n_C_prev = 1, non-square inputs) always run first as explicit examples.
"""

# The case dataclasses use the course's math names (n_H_prev, n_C) as field names.
# ruff: noqa: N815

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import as_strided
from scipy import signal

from grader import reference
from tests import loop_reference
from tests.gradients import numerical_gradient, rel_error

# Reference and loop are both float64 and differ only in summation order.
CLOSE = {"rtol": 1e-10, "atol": 1e-12}
# Centred-difference step. conv and average pooling are linear, so any step is exact up to
# rounding and a larger step means less rounding; max-pool inputs keep their values at least
# VALUE_GAP apart, so no kink lies within one step.
STEP = 1e-4
VALUE_GAP = 0.4
# Largest rel_error accepted between analytic and numerical gradients. Measured worst case over
# 300 random conv cases at this step: 7e-9.
GRADIENT_TOLERANCE = 1e-6
# The seed notebook prints arrays to 8 decimals.
PRINTED = {"rtol": 0, "atol": 1e-8}

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROPERTY_FEW = settings(PROPERTY, max_examples=40)


def frozen(array: np.ndarray) -> np.ndarray:
    """Mark an input read-only, so that any in-place write by the code under test raises."""
    array.setflags(write=False)
    return array


def floor_size(n_prev: int, f: int, pad: int, stride: int) -> int:
    """The output-size formula as the notebook writes it, with an explicit floor."""
    return math.floor((n_prev - f + 2 * pad) / stride) + 1


def assert_matches(got, expected, what: str) -> None:
    """Structure before values: ndarray, then shape, then dtype, then values (CLOSE)."""
    assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}, expected ndarray"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, expected {expected.dtype}"
    np.testing.assert_allclose(got, expected, err_msg=what, **CLOSE)


def inner(x, y) -> float:
    """Frobenius inner product <x, y>."""
    return float(np.sum(np.asarray(x) * np.asarray(y)))


# --- cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvCase:
    """Shapes and hyperparameters of one convolution layer, plus the seed of its arrays."""

    m: int
    n_H_prev: int
    n_W_prev: int
    n_C_prev: int
    n_C: int
    f: int
    pad: int
    stride: int
    seed: int = 0

    @property
    def hparameters(self) -> dict:
        return {"stride": self.stride, "pad": self.pad}

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n_H = floor_size(self.n_H_prev, self.f, self.pad, self.stride)
        n_W = floor_size(self.n_W_prev, self.f, self.pad, self.stride)
        return (self.m, n_H, n_W, self.n_C)

    def arrays(self):
        """(A_prev, W, b, dZ): read-only standard-normal arrays of the layer's shapes."""
        rng = np.random.default_rng(self.seed)
        A_prev = rng.standard_normal((self.m, self.n_H_prev, self.n_W_prev, self.n_C_prev))
        W = rng.standard_normal((self.f, self.f, self.n_C_prev, self.n_C))
        b = rng.standard_normal((1, 1, 1, self.n_C))
        dZ = rng.standard_normal(self.output_shape)
        return frozen(A_prev), frozen(W), frozen(b), frozen(dZ)


@dataclass(frozen=True)
class PoolCase:
    """Shapes and hyperparameters of one pooling layer, the seed of its arrays, and whether
    its input has ties (values from a few integers) or distinct values at least VALUE_GAP
    apart (so max pooling is differentiable there, with a margin)."""

    m: int
    n_H_prev: int
    n_W_prev: int
    n_C: int
    f: int
    stride: int
    seed: int = 0
    ties: bool = False

    @property
    def hparameters(self) -> dict:
        return {"f": self.f, "stride": self.stride}

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        n_H = floor_size(self.n_H_prev, self.f, 0, self.stride)
        n_W = floor_size(self.n_W_prev, self.f, 0, self.stride)
        return (self.m, n_H, n_W, self.n_C)

    def arrays(self):
        """(A_prev, dA): read-only arrays of the layer's input and output shapes."""
        rng = np.random.default_rng(self.seed)
        shape = (self.m, self.n_H_prev, self.n_W_prev, self.n_C)
        size = math.prod(shape)
        if self.ties:
            A_prev = rng.integers(-2, 3, size).astype(np.float64)
        else:
            spread = (rng.permutation(size) - size / 2) * (VALUE_GAP + 0.1)
            A_prev = spread + rng.uniform(0, 0.1, size)
        dA = rng.standard_normal(self.output_shape)
        return frozen(A_prev.reshape(shape)), frozen(dA)


seeds = st.integers(min_value=0, max_value=2**32 - 1)
with_or_without_ties = st.booleans()


@st.composite
def conv_cases(draw) -> ConvCase:
    """Small conv layers: pad 0..3, stride 1..4, f 1..4 (up to the padded input size)."""
    f = draw(st.integers(1, 4))
    pad = draw(st.integers(0, 3))
    smallest = max(1, f - 2 * pad)  # the window must fit in the padded input
    return ConvCase(
        m=draw(st.integers(1, 3)),
        n_H_prev=draw(st.integers(smallest, 6)),
        n_W_prev=draw(st.integers(smallest, 6)),
        n_C_prev=draw(st.integers(1, 3)),
        n_C=draw(st.integers(1, 3)),
        f=f,
        pad=pad,
        stride=draw(st.integers(1, 4)),
        seed=draw(seeds),
    )


@st.composite
def pool_cases(draw, ties=with_or_without_ties) -> PoolCase:
    """Small pooling layers: f 1..4 (up to the input size), stride 1..4."""
    f = draw(st.integers(1, 4))
    return PoolCase(
        m=draw(st.integers(1, 3)),
        n_H_prev=draw(st.integers(f, 7)),
        n_W_prev=draw(st.integers(f, 7)),
        n_C=draw(st.integers(1, 3)),
        f=f,
        stride=draw(st.integers(1, 4)),
        seed=draw(seeds),
        ties=draw(ties),
    )


CONV_EDGE_CASES = (
    ConvCase(1, 5, 5, 1, 1, f=2, pad=0, stride=2),  # floor: 5 -> 2; m = n_C = n_C_prev = 1
    ConvCase(2, 4, 6, 3, 2, f=1, pad=0, stride=1),  # f = 1, non-square
    ConvCase(2, 3, 5, 2, 3, f=3, pad=0, stride=1),  # f equals the input height
    ConvCase(1, 2, 2, 2, 2, f=4, pad=1, stride=1),  # f equals the padded input: 1 x 1 output
    ConvCase(2, 7, 5, 2, 2, f=2, pad=1, stride=3),  # stride > f and does not divide 7 + 2 - 2
    ConvCase(1, 6, 4, 1, 3, f=3, pad=3, stride=4),  # pad 3, stride 4, non-square
    ConvCase(3, 4, 4, 3, 1, f=2, pad=2, stride=2),  # the notebook's backward test layer
)

POOL_EDGE_CASES = (
    PoolCase(1, 5, 5, 1, f=2, stride=2),  # floor: 5 -> 2; m = n_C = 1
    PoolCase(2, 4, 6, 3, f=1, stride=1),  # f = 1, non-square
    PoolCase(2, 3, 5, 2, f=3, stride=2),  # f equals the input height
    PoolCase(1, 4, 4, 2, f=4, stride=1),  # f equals the input: 1 x 1 output
    PoolCase(2, 7, 5, 2, f=2, stride=3),  # stride > f and does not divide
    PoolCase(2, 5, 5, 3, f=3, stride=1),  # overlapping windows
)


def with_examples(*cases):
    """Run each case (one argument, or a tuple of arguments) as an explicit hypothesis example
    before the generated ones."""

    def decorate(test):
        for case in cases:
            test = example(*case)(test) if isinstance(case, tuple) else example(case)(test)
        return test

    return decorate


# --- 1. the reference agrees with the plain loops -------------------------------------------


@PROPERTY
@given(
    X=st.tuples(*[st.integers(1, 3)] * 4),
    pad=st.integers(0, 3),
    integer=st.booleans(),
    seed=seeds,
)
@example(X=(1, 1, 1, 1), pad=0, integer=False, seed=0)
def test_zero_pad_matches_loop(X, pad, integer, seed):
    """Does zero_pad put X in the middle of zeros, keeping X's dtype, for every pad from 0?"""
    rng = np.random.default_rng(seed)
    values = rng.integers(-9, 10, X) if integer else rng.standard_normal(X)
    X = frozen(values)
    assert_matches(reference.zero_pad(X, pad), loop_reference.zero_pad(X, pad), "zero_pad")


@PROPERTY
@given(f=st.integers(1, 4), n_C_prev=st.integers(1, 4), seed=seeds)
def test_conv_single_step_matches_loop(f, n_C_prev, seed):
    """Is conv_single_step sum(a_slice_prev * W) + b for every window and channel count?"""
    rng = np.random.default_rng(seed)
    a_slice_prev = frozen(rng.standard_normal((f, f, n_C_prev)))
    W = frozen(rng.standard_normal((f, f, n_C_prev)))
    b = frozen(rng.standard_normal((1, 1, 1)))
    got = reference.conv_single_step(a_slice_prev, W, b)
    expected = loop_reference.conv_single_step(a_slice_prev, W, b)
    assert type(got) is np.float64, f"got {type(got).__name__}, expected numpy.float64"
    assert np.isclose(got, expected, **CLOSE), f"got {got}, expected {expected}"


@PROPERTY
@given(conv_cases())
@with_examples(*CONV_EDGE_CASES)
def test_conv_forward_matches_loop(case):
    """Does conv_forward give the loop's Z (shape from the floor formula) for every layer?"""
    A_prev, W, b, _ = case.arrays()
    Z, _ = reference.conv_forward(A_prev, W, b, case.hparameters)
    expected, _ = loop_reference.conv_forward(A_prev, W, b, case.hparameters)
    assert expected.shape == case.output_shape, "the loop disagrees with the floor formula"
    assert_matches(Z, expected, f"Z for {case}")


@PROPERTY
@given(conv_cases())
@with_examples(*CONV_EDGE_CASES)
def test_conv_backward_matches_loop(case):
    """Does conv_backward give the loop's dA_prev, dW and db for every layer?"""
    A_prev, W, b, dZ = case.arrays()
    _, cache = reference.conv_forward(A_prev, W, b, case.hparameters)
    got = reference.conv_backward(dZ, cache)
    expected = loop_reference.conv_backward(dZ, cache)
    assert isinstance(got, tuple) and len(got) == 3, f"got {type(got).__name__} {len(got)}"
    for name, got_part, expected_part in zip(("dA_prev", "dW", "db"), got, expected, strict=True):
        assert_matches(got_part, expected_part, f"{name} for {case}")


@PROPERTY
@given(pool_cases(), st.sampled_from(["max", "average"]))
@with_examples(*[(case, mode) for case in POOL_EDGE_CASES for mode in ("max", "average")])
def test_pool_forward_matches_loop(case, mode):
    """Does pool_forward give the loop's A in both modes, with and without ties?"""
    A_prev, _ = case.arrays()
    A, _ = reference.pool_forward(A_prev, case.hparameters, mode)
    expected, _ = loop_reference.pool_forward(A_prev, case.hparameters, mode)
    assert expected.shape == case.output_shape, "the loop disagrees with the floor formula"
    assert_matches(A, expected, f"A ({mode}) for {case}")


@PROPERTY
@given(pool_cases(), st.sampled_from(["max", "average"]))
@with_examples(*[(case, mode) for case in POOL_EDGE_CASES for mode in ("max", "average")])
@example(PoolCase(2, 4, 4, 2, f=2, stride=1, ties=True), "max")
def test_pool_backward_matches_loop(case, mode):
    """Does pool_backward give the loop's dA_prev in both modes, ties included?"""
    A_prev, dA = case.arrays()
    _, cache = reference.pool_forward(A_prev, case.hparameters, mode)
    got = reference.pool_backward(dA, cache, mode)
    expected = loop_reference.pool_backward(dA, cache, mode)
    assert_matches(got, expected, f"dA_prev ({mode}) for {case}")


@PROPERTY
@given(f=st.integers(1, 4), ties=st.booleans(), seed=seeds)
@example(f=2, ties=True, seed=0)
def test_create_mask_from_window_matches_loop(f, ties, seed):
    """Does create_mask_from_window mark exactly the positions holding the maximum?"""
    rng = np.random.default_rng(seed)
    x = frozen(rng.integers(-1, 2, (f, f)).astype(float) if ties else rng.standard_normal((f, f)))
    assert_matches(
        reference.create_mask_from_window(x), loop_reference.create_mask_from_window(x), "mask"
    )


@PROPERTY
@given(
    dz=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
)
def test_distribute_value_matches_loop(dz, shape):
    """Does distribute_value fill the shape with dz / (n_H * n_W) for every shape?"""
    assert_matches(
        reference.distribute_value(dz, shape), loop_reference.distribute_value(dz, shape), "a"
    )


# --- 2. independent oracles -------------------------------------------------------------------


def conv_forward_by_scipy(A_prev, W, b, stride, pad):
    """Z from scipy.signal.correlate: 'valid' correlation of each padded image with each filter
    (the channel axis collapses to length 1), then every stride-th position."""
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    n_C = W.shape[3]
    A_pad = np.zeros((m, n_H_prev + 2 * pad, n_W_prev + 2 * pad, n_C_prev))
    A_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :] = A_prev
    per_example = []
    for i in range(m):
        channels = [
            signal.correlate(A_pad[i], W[:, :, :, c], mode="valid", method="direct")[
                ::stride, ::stride, 0
            ]
            + b[0, 0, 0, c]
            for c in range(n_C)
        ]
        per_example.append(np.stack(channels, axis=-1))
    return np.stack(per_example)


@PROPERTY
@given(conv_cases())
@with_examples(*CONV_EDGE_CASES)
def test_conv_forward_matches_scipy_correlate(case):
    """Does conv_forward agree with scipy's cross-correlation, padded and strided?"""
    A_prev, W, b, _ = case.arrays()
    Z, _ = reference.conv_forward(A_prev, W, b, case.hparameters)
    expected = conv_forward_by_scipy(A_prev, W, b, case.stride, case.pad)
    assert expected.shape == case.output_shape, "the oracle disagrees with the floor formula"
    assert_matches(Z, expected, f"Z for {case}")


def pool_windows_by_strides(A_prev, f, stride):
    """Every pooling window as a view of shape (m, n_H, n_W, f, f, n_C), built from byte
    strides by hand: window (h, w) starts stride rows/columns further along per step."""
    A = np.ascontiguousarray(A_prev, dtype=np.float64)
    m, n_H_prev, n_W_prev, n_C = A.shape
    n_H = floor_size(n_H_prev, f, 0, stride)
    n_W = floor_size(n_W_prev, f, 0, stride)
    step_m, step_h, step_w, step_c = A.strides
    return as_strided(
        A,
        shape=(m, n_H, n_W, f, f, n_C),
        strides=(step_m, stride * step_h, stride * step_w, step_h, step_w, step_c),
        writeable=False,
    )


@PROPERTY
@given(pool_cases(), st.sampled_from(["max", "average"]))
@with_examples(*[(case, mode) for case in POOL_EDGE_CASES for mode in ("max", "average")])
def test_pool_forward_matches_strided_windows(case, mode):
    """Does pool_forward agree with max/mean over windows built from raw strides?"""
    A_prev, _ = case.arrays()
    A, _ = reference.pool_forward(A_prev, case.hparameters, mode)
    windows = pool_windows_by_strides(A_prev, case.f, case.stride)
    reduce = np.max if mode == "max" else np.mean
    assert_matches(A, reduce(windows, axis=(3, 4)), f"A ({mode}) for {case}")


@PROPERTY_FEW
@given(
    m=st.integers(1, 3),
    blocks=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    n_C=st.integers(1, 3),
    f=st.integers(1, 3),
    seed=seeds,
)
def test_pool_forward_matches_reshape_when_windows_tile(m, blocks, n_C, f, seed):
    """When stride == f and f divides the input, is pooling a max/mean over reshaped blocks?"""
    n_H_blocks, n_W_blocks = blocks
    rng = np.random.default_rng(seed)
    A_prev = frozen(rng.standard_normal((m, n_H_blocks * f, n_W_blocks * f, n_C)))
    tiled = A_prev.reshape(m, n_H_blocks, f, n_W_blocks, f, n_C)
    for mode, reduce in (("max", np.max), ("average", np.mean)):
        A, _ = reference.pool_forward(A_prev, {"f": f, "stride": f}, mode)
        assert_matches(A, reduce(tiled, axis=(2, 4)), f"A ({mode})")


@PROPERTY
@given(conv_cases())
@with_examples(*CONV_EDGE_CASES)
def test_conv_backward_is_the_adjoint_of_conv_forward(case):
    """Is conv_backward the transpose of the linear maps A -> Z and W -> Z (bias 0), that is
    <Z, dZ> == <A_prev, dA_prev> == <W, dW>, and is db the sum of dZ over m, n_H, n_W?"""
    A_prev, W, b, dZ = case.arrays()
    Z_without_bias, _ = reference.conv_forward(A_prev, W, np.zeros_like(b), case.hparameters)
    _, cache = reference.conv_forward(A_prev, W, b, case.hparameters)
    dA_prev, dW, db = reference.conv_backward(dZ, cache)
    output_side = inner(Z_without_bias, dZ)
    scale = 1.0 + np.sum(np.abs(Z_without_bias * dZ))
    assert abs(inner(A_prev, dA_prev) - output_side) <= 1e-12 * scale, "<A, dA> != <Z, dZ>"
    assert abs(inner(W, dW) - output_side) <= 1e-12 * scale, "<W, dW> != <Z, dZ>"
    assert_matches(db, dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, -1), "db")


@PROPERTY
@given(pool_cases(ties=st.just(False)), st.sampled_from(["max", "average"]))
@with_examples(*[(case, mode) for case in POOL_EDGE_CASES for mode in ("max", "average")])
def test_pool_backward_is_the_adjoint_of_pool_forward(case, mode):
    """Is <A, dA> == <A_prev, dA_prev>? Average pooling is linear; max pooling without ties is
    linear near A_prev and positively homogeneous, so the same identity holds (Euler)."""
    A_prev, dA = case.arrays()
    A, cache = reference.pool_forward(A_prev, case.hparameters, mode)
    dA_prev = reference.pool_backward(dA, cache, mode)
    output_side = inner(A, dA)
    scale = 1.0 + np.sum(np.abs(A * dA))
    assert abs(inner(A_prev, dA_prev) - output_side) <= 1e-12 * scale, f"{mode}: <A, dA>"


# --- 3. numerical gradients --------------------------------------------------------------------


@PROPERTY_FEW
@given(conv_cases())
@with_examples(*CONV_EDGE_CASES)
def test_conv_backward_matches_numerical_gradients(case):
    """Do dA_prev, dW and db equal centred-difference gradients of sum(Z * dZ)?"""
    A_prev, W, b, dZ = case.arrays()
    hp = case.hparameters
    _, cache = reference.conv_forward(A_prev, W, b, hp)
    dA_prev, dW, db = reference.conv_backward(dZ, cache)
    numerical = {
        "dA_prev": numerical_gradient(
            lambda x: reference.conv_forward(x, W, b, hp)[0], A_prev, dZ, STEP
        ),
        "dW": numerical_gradient(
            lambda x: reference.conv_forward(A_prev, x, b, hp)[0], W, dZ, STEP
        ),
        "db": numerical_gradient(
            lambda x: reference.conv_forward(A_prev, W, x, hp)[0], b, dZ, STEP
        ),
    }
    for name, analytic in (("dA_prev", dA_prev), ("dW", dW), ("db", db)):
        error = rel_error(analytic, numerical[name])
        assert error < GRADIENT_TOLERANCE, f"{name} for {case}: rel_error {error:.2e}"


@PROPERTY_FEW
@given(pool_cases(ties=st.just(False)), st.sampled_from(["max", "average"]))
@with_examples(*[(case, mode) for case in POOL_EDGE_CASES for mode in ("max", "average")])
def test_pool_backward_matches_numerical_gradient(case, mode):
    """Does dA_prev equal the centred-difference gradient of sum(A * dA), in both modes
    (max mode on inputs without ties, every value VALUE_GAP from the next)?"""
    A_prev, dA = case.arrays()
    _, cache = reference.pool_forward(A_prev, case.hparameters, mode)
    analytic = reference.pool_backward(dA, cache, mode)
    numerical = numerical_gradient(
        lambda x: reference.pool_forward(x, case.hparameters, mode)[0], A_prev, dA, STEP
    )
    error = rel_error(analytic, numerical)
    assert error < GRADIENT_TOLERANCE, f"dA_prev ({mode}) for {case}: rel_error {error:.2e}"


def test_gradient_check_catches_a_wrong_gradient():
    """Can the gradient check fail? A dW off by 1% in one element must exceed the tolerance."""
    A_prev, W, b, dZ = CONV_EDGE_CASES[-1].arrays()
    hp = CONV_EDGE_CASES[-1].hparameters
    _, cache = reference.conv_forward(A_prev, W, b, hp)
    _, dW, _ = reference.conv_backward(dZ, cache)
    dW_wrong = dW.copy()
    dW_wrong[0, 0, 0, 0] *= 1.01
    numerical = numerical_gradient(
        lambda x: reference.conv_forward(A_prev, x, b, hp)[0], W, dZ, STEP
    )
    assert rel_error(dW, numerical) < GRADIENT_TOLERANCE
    assert rel_error(dW_wrong, numerical) > GRADIENT_TOLERANCE


def test_numerical_gradient_leaves_its_point_alone():
    """Does numerical_gradient work on a copy (its x comes back untouched, even read-only)?"""
    x = frozen(np.arange(6.0).reshape(2, 3))
    grad = numerical_gradient(lambda v: v**2, x, np.ones((2, 3)), STEP)
    np.testing.assert_allclose(grad, 2 * np.arange(6.0).reshape(2, 3), rtol=1e-7)
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(2, 3))


# --- 4. contracts ------------------------------------------------------------------------------


def test_output_size_is_floored():
    """Is the output size floored, not rounded (n_H_prev 5, f 2, stride 2 -> 2, not 3)?"""
    assert reference.output_size(5, 2, 0, 2) == 2
    assert reference.output_size(5, 2, 1, 2) == 3
    assert reference.output_size(7, 3, 0, 3) == 2
    A_prev = np.ones((1, 5, 5, 1))
    Z, _ = reference.conv_forward(
        A_prev, np.ones((2, 2, 1, 1)), np.zeros((1, 1, 1, 1)), {"stride": 2, "pad": 0}
    )
    A, _ = reference.pool_forward(A_prev, {"f": 2, "stride": 2})
    assert Z.shape == (1, 2, 2, 1), f"conv_forward: {Z.shape}"
    assert A.shape == (1, 2, 2, 1), f"pool_forward: {A.shape}"


def results_of_every_function(dtype):
    """Each function's array results on inputs of the given dtype (zero_pad excluded: it
    keeps its input's dtype)."""
    A_prev = np.arange(2 * 4 * 5 * 3).reshape(2, 4, 5, 3).astype(dtype)
    W = (np.arange(2 * 2 * 3 * 2).reshape(2, 2, 3, 2) % 5).astype(dtype)
    b = np.arange(2).reshape(1, 1, 1, 2).astype(dtype)
    Z, conv_cache = reference.conv_forward(A_prev, W, b, {"stride": 1, "pad": 1})
    dA_prev, dW, db = reference.conv_backward(Z.astype(dtype), conv_cache)
    results = {"Z": Z, "dA_prev": dA_prev, "dW": dW, "db": db}
    for mode in ("max", "average"):
        A, pool_cache = reference.pool_forward(A_prev, {"f": 2, "stride": 2}, mode)
        results[f"A ({mode})"] = A
        results[f"dA_prev ({mode})"] = reference.pool_backward(A.astype(dtype), pool_cache, mode)
    results["distribute_value"] = reference.distribute_value(dtype(3), (2, 2))
    return results


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_results_are_float64(dtype):
    """Do all array results come back float64 whatever the input dtype, and is conv_single_step
    a float64 scalar?"""
    for name, result in results_of_every_function(dtype).items():
        assert isinstance(result, np.ndarray), f"{name}: {type(result).__name__}"
        assert result.dtype == np.float64, f"{name}: dtype {result.dtype} for {dtype.__name__}"
    one = np.ones((2, 2, 3), dtype=dtype)
    Z = reference.conv_single_step(one, one, np.ones((1, 1, 1), dtype=dtype))
    assert type(Z) is np.float64, f"conv_single_step: {type(Z).__name__}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_zero_pad_keeps_dtype_and_returns_a_new_array(dtype):
    """Does zero_pad keep X's dtype and return a new array even for pad 0?"""
    X = frozen(np.arange(12).reshape(1, 2, 3, 2).astype(dtype))
    for pad in (0, 2):
        X_pad = reference.zero_pad(X, pad)
        assert X_pad.dtype == dtype, f"pad {pad}: {X_pad.dtype}"
        assert not np.shares_memory(X_pad, X), f"pad {pad}: the result is a view of X"
    np.testing.assert_array_equal(reference.zero_pad(X, 0), X)


def calls_of_every_function():
    """name -> (function, positional arguments) for one representative call of each function."""
    rng = np.random.default_rng(7)
    A_prev = rng.standard_normal((2, 5, 4, 3))
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    conv_hp = {"stride": 2, "pad": 1}
    pool_hp = {"f": 2, "stride": 1}
    Z, conv_cache = reference.conv_forward(A_prev.copy(), W.copy(), b.copy(), dict(conv_hp))
    A, pool_cache = reference.pool_forward(A_prev.copy(), dict(pool_hp))
    return {
        "zero_pad": (reference.zero_pad, (A_prev, 2)),
        "conv_single_step": (
            reference.conv_single_step,
            (A_prev[0, :3, :3], W[..., 0], b[0, ..., :1]),
        ),
        "conv_forward": (reference.conv_forward, (A_prev, W, b, conv_hp)),
        "pool_forward (max)": (reference.pool_forward, (A_prev, pool_hp, "max")),
        "pool_forward (average)": (reference.pool_forward, (A_prev, pool_hp, "average")),
        "conv_backward": (reference.conv_backward, (Z, conv_cache)),
        "create_mask_from_window": (reference.create_mask_from_window, (A_prev[0, :2, :2, 0],)),
        "distribute_value": (reference.distribute_value, (np.float64(1.5), (2, 3))),
        "pool_backward (max)": (reference.pool_backward, (A, pool_cache, "max")),
        "pool_backward (average)": (reference.pool_backward, (A, pool_cache, "average")),
    }


def freeze_arrays(value):
    """Make every array inside value (tuples, lists, dict values) read-only, in place."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, tuple | list):
        for item in value:
            freeze_arrays(item)
    elif isinstance(value, dict):
        for item in value.values():
            freeze_arrays(item)


def assert_same_value(got, expected, where: str) -> None:
    """Equal contents, recursively: arrays by shape, dtype and elements; others by ==."""
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray), f"{where} is now {type(got).__name__}"
        assert got.dtype == expected.dtype, f"{where}: dtype changed"
        np.testing.assert_array_equal(got, expected, err_msg=f"{where} was modified")
    elif isinstance(expected, tuple | list):
        assert len(got) == len(expected), f"{where}: length changed"
        for index, (got_item, expected_item) in enumerate(zip(got, expected, strict=True)):
            assert_same_value(got_item, expected_item, f"{where}[{index}]")
    else:
        assert got == expected, f"{where} was modified: {got!r} != {expected!r}"


@pytest.mark.parametrize("name", list(calls_of_every_function()))
def test_inputs_are_not_modified(name):
    """Does each function leave its inputs (caches and hyperparameter dicts included) as they
    were, even when they are read-only and so cannot be written in place?"""
    function, args = calls_of_every_function()[name]
    before = copy.deepcopy(args)
    freeze_arrays(args)
    result = function(*args)
    assert_same_value(args, before, f"{name} argument")
    for output in result if isinstance(result, tuple) else (result,):
        if isinstance(output, np.ndarray):
            for index, arg in enumerate(args):
                if isinstance(arg, np.ndarray):
                    assert not np.shares_memory(output, arg), f"{name}: output views arg {index}"


def test_caches_hold_the_very_objects_passed_in():
    """Do the caches hold the caller's own objects (not copies), in the documented order?"""
    A_prev, W, b = np.ones((1, 3, 3, 2)), np.ones((2, 2, 2, 1)), np.zeros((1, 1, 1, 1))
    conv_hp, pool_hp = {"stride": 1, "pad": 0}, {"f": 2, "stride": 1}
    _, conv_cache = reference.conv_forward(A_prev, W, b, conv_hp)
    _, pool_cache = reference.pool_forward(A_prev, pool_hp)
    assert isinstance(conv_cache, tuple) and len(conv_cache) == 4
    for got, passed, name in zip(
        conv_cache, (A_prev, W, b, conv_hp), ["A_prev", "W", "b", "hparameters"], strict=True
    ):
        assert got is passed, f"conv cache: {name} is not the object passed in"
    assert isinstance(pool_cache, tuple) and len(pool_cache) == 2
    assert pool_cache[0] is A_prev and pool_cache[1] is pool_hp, (
        "pool cache: not the objects passed in"
    )


@pytest.mark.parametrize("b_shape", [(1, 1, 1), (1, 1), (1,), ()])
def test_conv_single_step_returns_a_numpy_float64_scalar(b_shape):
    """Is Z exactly a numpy.float64 scalar (not a 0-d or 1-element array) for a (1, 1, 1) b
    on NumPy 2, where float(b) raises and np.float64(b) gives back an array?"""
    a_slice_prev = np.full((2, 2, 3), 0.5)
    W = np.full((2, 2, 3), 2.0)
    Z = reference.conv_single_step(a_slice_prev, W, np.full(b_shape, -1.0))
    assert type(Z) is np.float64, f"got {type(Z).__name__}"
    assert not isinstance(Z, np.ndarray) and np.ndim(Z) == 0
    assert Z == 11.0, f"got {Z}, expected 12 * 0.5 * 2 - 1 = 11"


def test_pool_forward_default_mode_is_max():
    """Is "max" the default mode of pool_forward and pool_backward?"""
    A_prev, dA = PoolCase(2, 4, 4, 2, f=2, stride=2, seed=3).arrays()
    default, cache = reference.pool_forward(A_prev, {"f": 2, "stride": 2})
    maximum, _ = reference.pool_forward(A_prev, {"f": 2, "stride": 2}, "max")
    np.testing.assert_array_equal(default, maximum)
    np.testing.assert_array_equal(
        reference.pool_backward(dA, cache), reference.pool_backward(dA, cache, "max")
    )


@pytest.mark.parametrize("mode", ["min", "avg", "MAX", "mean", ""])
@pytest.mark.parametrize("function", ["pool_forward", "pool_backward"])
def test_unknown_pool_mode_raises_value_error_naming_it(function, mode):
    """Does an unknown mode raise ValueError whose message names the mode it got?"""
    A_prev = np.ones((1, 4, 4, 1))
    hp = {"f": 2, "stride": 2}
    with pytest.raises(ValueError, match=repr(mode)):
        if function == "pool_forward":
            reference.pool_forward(A_prev, hp, mode)
        else:
            reference.pool_backward(np.ones((1, 2, 2, 1)), (A_prev, hp), mode)


def test_create_mask_from_window_marks_every_maximum_on_ties():
    """On ties, are all maxima marked (the documented convention), as a bool array?"""
    x = np.array([[3.0, 1.0, 3.0], [0.0, 3.0, -2.0], [1.0, 2.0, 0.0]])
    mask = reference.create_mask_from_window(x)
    assert mask.dtype == np.bool_, f"dtype {mask.dtype}"
    np.testing.assert_array_equal(mask, [[True, False, True], [False, True, False], [False] * 3])
    np.testing.assert_array_equal(
        reference.create_mask_from_window(np.zeros((2, 2))), np.ones((2, 2), bool)
    )


def test_create_mask_from_window_on_the_notebook_picture():
    """Is [[1, 3], [4, 2]] masked as [[0, 0], [1, 0]] (the notebook's example)?"""
    mask = reference.create_mask_from_window(np.array([[1, 3], [4, 2]]))
    np.testing.assert_array_equal(mask, [[False, False], [True, False]])


@pytest.mark.parametrize(
    ("dz", "shape"),
    [
        (2, (2, 2)),
        (100, (10, 10)),
        (3.0, (2, 3)),
        (-1.5, (1, 1)),
        (0.7, (3, 3)),
        (np.float64(5.0), (4, 1)),
    ],
)
def test_distribute_value_sums_to_dz(dz, shape):
    """Does distribute_value give an even (shape) float64 array whose sum is dz?"""
    a = reference.distribute_value(dz, shape)
    assert isinstance(a, np.ndarray) and a.shape == shape and a.dtype == np.float64
    assert np.isclose(a.sum(), dz, rtol=1e-14, atol=0), f"sum {a.sum()}, expected {dz}"
    assert np.all(a == a.flat[0]), "the value is not spread evenly"


def test_pool_backward_accumulates_over_overlapping_windows():
    """With stride < f, does a position shared by windows receive the sum of their gradients?"""
    # One row of 4 values, f = 2 along both axes on a 2-row image, stride 1: 3 windows.
    A_prev = np.array([[0.0, 5.0, 1.0, 2.0], [0.5, -1.0, 0.2, 0.1]]).reshape(1, 2, 4, 1)
    dA = np.array([10.0, 20.0, 40.0]).reshape(1, 1, 3, 1)
    hp = {"f": 2, "stride": 1}
    _, cache = reference.pool_forward(A_prev, hp)
    # Maxima: 5 (windows 0 and 1 both), 2 (window 2).
    expected_max = np.array([[0.0, 30.0, 0.0, 40.0], [0.0, 0.0, 0.0, 0.0]]).reshape(1, 2, 4, 1)
    np.testing.assert_allclose(reference.pool_backward(dA, cache, "max"), expected_max)
    # Average: each window spreads dA / 4 over its 4 cells; inner columns get two shares.
    column_share = np.array([10.0, 10.0 + 20.0, 20.0 + 40.0, 40.0]) / 4
    expected_average = np.tile(column_share, (2, 1)).reshape(1, 2, 4, 1)
    np.testing.assert_allclose(reference.pool_backward(dA, cache, "average"), expected_average)


def test_max_pool_backward_routes_to_every_tied_maximum():
    """On ties, does max-pool backward give the full gradient to every tied maximum (the
    convention create_mask_from_window documents), so the gradients sum to k * dA?"""
    A_prev = np.array([[7.0, 7.0], [1.0, 7.0]]).reshape(1, 2, 2, 1)
    hp = {"f": 2, "stride": 2}
    _, cache = reference.pool_forward(A_prev, hp)
    dA_prev = reference.pool_backward(np.full((1, 1, 1, 1), 2.0), cache, "max")
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[2.0, 2.0], [0.0, 2.0]])


def test_conv_forward_is_cross_correlation_not_convolution():
    """Is the kernel applied as is, not flipped? A kernel with a single 1 in its top-left
    corner must copy each window's top-left value (a flipped kernel would copy bottom-right)."""
    A_prev = np.arange(16.0).reshape(1, 4, 4, 1)
    W = np.zeros((2, 2, 1, 1))
    W[0, 0, 0, 0] = 1.0
    Z, _ = reference.conv_forward(A_prev, W, np.zeros((1, 1, 1, 1)), {"stride": 1, "pad": 0})
    np.testing.assert_array_equal(Z[0, :, :, 0], A_prev[0, :3, :3, 0])
    assert not np.array_equal(Z[0, :, :, 0], A_prev[0, 1:, 1:, 0])


def test_conv_backward_with_pad_zero_returns_the_whole_input_gradient():
    """With pad 0 (where the X[pad:-pad] crop gives an empty array), is dA_prev full-size
    and non-zero?"""
    case = ConvCase(2, 4, 4, 3, 2, f=2, pad=0, stride=1, seed=5)
    A_prev, W, b, dZ = case.arrays()
    _, cache = reference.conv_forward(A_prev, W, b, case.hparameters)
    dA_prev, _, _ = reference.conv_backward(dZ, cache)
    assert dA_prev.shape == A_prev.shape, f"{dA_prev.shape} != {A_prev.shape}"
    assert np.all(dA_prev != 0)


# --- 5. the values the seed notebook prints ------------------------------------------------------
# Inputs come from np.random.seed(1) and np.random.randn in the notebook's order. Both the
# reference and the loop implementation must reproduce them.

IMPLEMENTATIONS = pytest.mark.parametrize(
    "implementation", [reference, loop_reference], ids=["reference", "loop_reference"]
)


@IMPLEMENTATIONS
def test_notebook_zero_pad(implementation):
    """Does zero_pad reproduce the notebook's x_pad: shape (4, 9, 9, 2), x copied inside?"""
    np.random.seed(1)
    x = np.random.randn(4, 3, 3, 2)
    x_pad = implementation.zero_pad(x, 3)
    assert x_pad.shape == (4, 9, 9, 2)
    np.testing.assert_allclose(
        x[1, 1],
        [[0.90085595, -0.68372786], [-0.12289023, -0.93576943], [-0.26788808, 0.53035547]],
        **PRINTED,
    )
    np.testing.assert_array_equal(x_pad[1, 1], np.zeros((9, 2)))
    np.testing.assert_array_equal(x_pad[:, 3:6, 3:6, :], x)
    assert np.count_nonzero(x_pad) == np.count_nonzero(x)


@IMPLEMENTATIONS
def test_notebook_conv_single_step(implementation):
    """Does conv_single_step reproduce the notebook's Z = -6.999089450680221?"""
    np.random.seed(1)
    a_slice_prev = np.random.randn(4, 4, 3)
    W = np.random.randn(4, 4, 3)
    b = np.random.randn(1, 1, 1)
    Z = implementation.conv_single_step(a_slice_prev, W, b)
    assert type(Z) is np.float64
    assert np.isclose(Z, -6.999089450680221, rtol=1e-12, atol=0), f"got {Z!r}"


@IMPLEMENTATIONS
def test_notebook_conv_forward(implementation):
    """Does conv_forward reproduce the notebook's Z mean 0.5511276474566768, Z[0, 2, 1] and
    cache_conv[0][1][2][3] for (2, 5, 7, 4) * (3, 3, 4, 8), pad 1, stride 2?"""
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 7, 4)
    W = np.random.randn(3, 3, 4, 8)
    b = np.random.randn(1, 1, 1, 8)
    Z, cache = implementation.conv_forward(A_prev, W, b, {"pad": 1, "stride": 2})
    assert Z.shape == (2, 3, 4, 8)
    assert np.isclose(np.mean(Z), 0.5511276474566768, rtol=1e-12, atol=0), f"mean {np.mean(Z)!r}"
    z_0_2_1 = [
        -2.17796037,
        8.07171329,
        -0.5772704,
        3.36286738,
        4.48113645,
        -2.89198428,
        10.99288867,
        3.03171932,
    ]
    np.testing.assert_allclose(Z[0, 2, 1], z_0_2_1, **PRINTED)
    np.testing.assert_allclose(
        cache[0][1][2][3], [-1.1191154, 1.9560789, -0.3264995, -1.34267579], **PRINTED
    )


@IMPLEMENTATIONS
def test_notebook_pool_forward(implementation):
    """Does pool_forward reproduce the notebook's two cases ((2, 5, 5, 3), f 3, stride 1 and 2)
    in both modes?"""
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 5, 3)
    A_max, _ = implementation.pool_forward(A_prev, {"stride": 1, "f": 3}, mode="max")
    A_average, _ = implementation.pool_forward(A_prev, {"stride": 1, "f": 3}, mode="average")
    assert A_max.shape == A_average.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(
        A_max[1, 1],
        [
            [1.96710175, 0.84616065, 1.27375593],
            [1.96710175, 0.84616065, 1.23616403],
            [1.62765075, 1.12141771, 1.2245077],
        ],
        **PRINTED,
    )
    np.testing.assert_allclose(
        A_average[1, 1],
        [
            [0.44497696, -0.00261695, -0.31040307],
            [0.50811474, -0.23493734, -0.23961183],
            [0.11872677, 0.17255229, -0.22112197],
        ],
        **PRINTED,
    )
    A_max, _ = implementation.pool_forward(A_prev, {"stride": 2, "f": 3}, mode="max")
    A_average, _ = implementation.pool_forward(A_prev, {"stride": 2, "f": 3}, mode="average")
    assert A_max.shape == A_average.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(
        A_max[0],
        [
            [[1.74481176, 0.90159072, 1.65980218], [1.74481176, 1.6924546, 1.65980218]],
            [[1.13162939, 1.51981682, 2.18557541], [1.13162939, 1.6924546, 2.18557541]],
        ],
        **PRINTED,
    )
    np.testing.assert_allclose(
        A_average[1],
        [
            [[-0.17313416, 0.32377198, -0.34317572], [0.02030094, 0.14141479, -0.01231585]],
            [[0.42944926, 0.08446996, -0.27290905], [0.15077452, 0.28911175, 0.00123239]],
        ],
        **PRINTED,
    )


@IMPLEMENTATIONS
def test_notebook_conv_backward(implementation):
    """Does conv_backward reproduce the notebook's means (dA 1.45243777754, dW 1.72699145831,
    db 7.83923256462) for (10, 4, 4, 3) * (2, 2, 3, 8), pad 2, stride 2, dZ = Z?"""
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    Z, cache = implementation.conv_forward(A_prev, W, b, {"pad": 2, "stride": 2})
    dA, dW, db = implementation.conv_backward(Z, cache)
    assert (dA.shape, dW.shape, db.shape) == ((10, 4, 4, 3), (2, 2, 3, 8), (1, 1, 1, 8))
    for name, got, printed in (
        ("dA", dA, 1.4524377775388075),
        ("dW", dW, 1.7269914583139097),
        ("db", db, 7.839232564616838),
    ):
        assert np.isclose(np.mean(got), printed, rtol=1e-12, atol=0), (
            f"{name} mean {np.mean(got)!r}"
        )


@IMPLEMENTATIONS
def test_notebook_create_mask_and_distribute_value(implementation):
    """Do the helpers reproduce the notebook's mask of randn(2, 3) and its
    distribute_value(2, (2, 2))?"""
    np.random.seed(1)
    x = np.random.randn(2, 3)
    mask = implementation.create_mask_from_window(x)
    np.testing.assert_array_equal(mask, [[True, False, False], [False, False, False]])
    np.testing.assert_array_equal(implementation.distribute_value(2, (2, 2)), np.full((2, 2), 0.5))


@IMPLEMENTATIONS
def test_notebook_pool_backward(implementation):
    """Does pool_backward reproduce the notebook's dA_prev[1, 1] in both modes for (5, 5, 3, 2),
    f 2, stride 1, dA = randn(5, 4, 2, 2)?"""
    np.random.seed(1)
    A_prev = np.random.randn(5, 5, 3, 2)
    _, cache = implementation.pool_forward(A_prev, {"stride": 1, "f": 2})
    dA = np.random.randn(5, 4, 2, 2)
    assert np.isclose(np.mean(dA), 0.14571390272918056, rtol=1e-12, atol=0)
    dA_prev_max = implementation.pool_backward(dA, cache, mode="max")
    dA_prev_average = implementation.pool_backward(dA, cache, mode="average")
    assert dA_prev_max.shape == dA_prev_average.shape == (5, 5, 3, 2)
    np.testing.assert_allclose(
        dA_prev_max[1, 1], [[0, 0], [5.05844394, -1.68282702], [0, 0]], **PRINTED
    )
    np.testing.assert_allclose(
        dA_prev_average[1, 1],
        [[0.08485462, 0.2787552], [1.26461098, -0.25749373], [1.17975636, -0.53624893]],
        **PRINTED,
    )
