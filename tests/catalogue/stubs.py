"""Stubs: code that computes nothing from its inputs and must score 0 on its exercise.

Each returns something well-formed (the right shape, a scalar, a mask, the cache passed back)
without doing the exercise's work: zeros, ones, constants, one of its inputs, random values,
``np.empty``, the right shape from the hyperparameters, the input sliced to the output shape.
When structure alone earned credit, such code scored points for nothing (issue 8: zeros with
the cache passed back, ``return 0.0`` and ``return X`` scored 40.49 of 140). ``hint`` is None:
a stub fails every check.
"""

from __future__ import annotations

import textwrap

from tests.catalogue import Variant

SIGNATURES = {
    "zero_pad": "zero_pad(X, pad)",
    "conv_single_step": "conv_single_step(a_slice_prev, W, b)",
    "conv_forward": "conv_forward(A_prev, W, b, hparameters)",
    "pool_forward": 'pool_forward(A_prev, hparameters, mode="max")',
    "conv_backward": "conv_backward(dZ, cache)",
    "create_mask_from_window": "create_mask_from_window(x)",
    "distribute_value": "distribute_value(dz, shape)",
    "pool_backward": 'pool_backward(dA, cache, mode="max")',
}


def _stub(exercise: str, label: str, body: str) -> Variant:
    """The exercise's def with ``body`` (dedented) as its body."""
    indented = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    return Variant(exercise, label, f"\ndef {SIGNATURES[exercise]}:\n{indented}\n")


# The output shape from the hyperparameters, without looking at a single value.
CONV_SHAPE = """
m, n_H_prev, n_W_prev, _ = A_prev.shape
f, _, _, n_C = W.shape
stride, pad = hparameters["stride"], hparameters["pad"]
n_H = (n_H_prev - f + 2 * pad) // stride + 1
n_W = (n_W_prev - f + 2 * pad) // stride + 1
shape = (m, n_H, n_W, n_C)
"""
POOL_SHAPE = """
m, n_H_prev, n_W_prev, n_C = A_prev.shape
f, stride = hparameters["f"], hparameters["stride"]
shape = (m, (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1, n_C)
"""

ZERO_PAD = (
    _stub("zero_pad", "returns-X", "return X"),
    _stub(
        "zero_pad",
        "zeros-of-the-padded-shape",
        """
        m, n_H, n_W, n_C = X.shape
        return np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
        """,
    ),
    _stub(
        "zero_pad",
        "empty-of-the-padded-shape",
        """
        m, n_H, n_W, n_C = X.shape
        return np.empty((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
        """,
    ),
)

CONV_SINGLE_STEP = (
    _stub("conv_single_step", "returns-zero", "return 0.0"),
    _stub("conv_single_step", "returns-one", "return 1.0"),
    _stub("conv_single_step", "returns-the-bias", "return b.item()"),
    _stub("conv_single_step", "returns-sum-of-W", "return np.sum(W)"),
    _stub("conv_single_step", "unseeded-random", "return float(np.random.standard_normal())"),
)

CONV_FORWARD = (
    _stub(
        "conv_forward",
        "zeros-with-the-cache",
        CONV_SHAPE + "return np.zeros(shape), (A_prev, W, b, hparameters)",
    ),
    _stub(
        "conv_forward",
        "ones-with-the-cache",
        CONV_SHAPE + "return np.ones(shape), (A_prev, W, b, hparameters)",
    ),
    _stub(
        "conv_forward",
        "the-bias-everywhere",
        CONV_SHAPE + "return np.zeros(shape) + b, (A_prev, W, b, hparameters)",
    ),
    _stub(
        "conv_forward",
        "seeded-random",
        CONV_SHAPE
        + "Z = np.random.default_rng(0).standard_normal(shape)\n"
        + "return Z, (A_prev, W, b, hparameters)",
    ),
    _stub("conv_forward", "returns-A_prev", "return A_prev, (A_prev, W, b, hparameters)"),
)

POOL_FORWARD = (
    _stub(
        "pool_forward",
        "zeros-with-the-cache",
        POOL_SHAPE + "return np.zeros(shape), (A_prev, hparameters)",
    ),
    _stub(
        "pool_forward",
        "input-sliced-to-the-output-shape",
        POOL_SHAPE + "return A_prev[:, : shape[1], : shape[2], :].copy(), (A_prev, hparameters)",
    ),
    _stub(
        "pool_forward",
        "empty-with-the-cache",
        POOL_SHAPE + "return np.empty(shape), (A_prev, hparameters)",
    ),
    _stub(
        "pool_forward",
        "unseeded-random",
        POOL_SHAPE + "return np.random.random_sample(shape), (A_prev, hparameters)",
    ),
)

CONV_BACKWARD = (
    _stub(
        "conv_backward",
        "zeros-like-the-cache",
        """
        A_prev, W, b, hparameters = cache
        return np.zeros_like(A_prev), np.zeros_like(W), np.zeros_like(b)
        """,
    ),
    _stub(
        "conv_backward",
        "returns-the-cache",
        """
        A_prev, W, b, hparameters = cache
        return A_prev, W, b
        """,
    ),
    _stub(
        "conv_backward",
        "returns-dZ",
        """
        A_prev, W, b, hparameters = cache
        return dZ, np.ones_like(W), np.ones_like(b)
        """,
    ),
)

MASK = (
    _stub("create_mask_from_window", "all-true", "return np.ones(x.shape, dtype=bool)"),
    _stub("create_mask_from_window", "all-false", "return np.zeros(x.shape, dtype=bool)"),
    _stub("create_mask_from_window", "returns-x", "return x"),
    _stub(
        "create_mask_from_window",
        "seeded-random-mask",
        "return np.random.default_rng(1).random(x.shape) > 0.5",
    ),
)

DISTRIBUTE = (
    _stub("distribute_value", "full-of-dz", "return np.full(shape, dz)"),
    _stub("distribute_value", "zeros", "return np.zeros(shape)"),
    _stub("distribute_value", "ones", "return np.ones(shape)"),
    _stub("distribute_value", "returns-dz", "return dz"),
)

POOL_BACKWARD = (
    _stub("pool_backward", "zeros-like-A_prev", "return np.zeros(cache[0].shape)"),
    _stub("pool_backward", "returns-dA", "return dA"),
    _stub("pool_backward", "returns-A_prev", "return cache[0]"),
    _stub(
        "pool_backward",
        "seeded-random",
        "return np.random.default_rng(2).standard_normal(cache[0].shape)",
    ),
    _stub(
        "pool_backward",
        "dA-in-the-corner",
        """
        A_prev, hparameters = cache
        dA_prev = np.zeros(A_prev.shape)
        dA_prev[:, : dA.shape[1], : dA.shape[2], :] = dA
        return dA_prev
        """,
    ),
)

STUBS: tuple[Variant, ...] = (
    ZERO_PAD + CONV_SINGLE_STEP + CONV_FORWARD + POOL_FORWARD + CONV_BACKWARD + MASK + DISTRIBUTE
    + POOL_BACKWARD
)  # fmt: skip
