"""The trusted reference implementation of the eight exercises (vectorised, float64).

Layout everywhere is channels-last: a batch of activations has shape ``(m, n_H, n_W, n_C)``.
No function here loops in Python over output positions; ``conv_backward`` and ``pool_backward``
loop only over the ``f * f`` offsets inside a window, which keeps them fast on large hidden cases.
No function modifies its inputs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def output_size(n_prev: int, f: int, pad: int, stride: int) -> int:
    """Output length along one spatial axis: ``floor((n_prev - f + 2 * pad) / stride) + 1``."""
    return (n_prev - f + 2 * pad) // stride + 1


def zero_pad(X, pad):
    """Pad every image of a batch with ``pad`` zeros on each side of height and width.

    X   -- array of shape (m, n_H, n_W, n_C)
    pad -- non-negative int
    Returns X_pad of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C), same dtype as X;
    channels and examples are not padded.
    """
    X = np.asarray(X)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


def conv_single_step(a_slice_prev, W, b):
    """Apply one filter to one window: ``sum(a_slice_prev * W) + b``.

    a_slice_prev -- array of shape (f, f, n_C_prev)
    W            -- array of shape (f, f, n_C_prev)
    b            -- array of shape (1, 1, 1)
    Returns Z, a NumPy float64 scalar (not an array).
    """
    a_slice_prev = np.asarray(a_slice_prev, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    bias = np.asarray(
        b, dtype=np.float64
    ).item()  # .item(): float(b) fails on NumPy 2 for (1, 1, 1)
    return np.float64(np.sum(a_slice_prev * W) + bias)


def _windows(A, f, stride):
    """Every f x f window at the given stride: view of shape (m, n_H, n_W, n_C, f, f)."""
    return sliding_window_view(A, (f, f), axis=(1, 2))[:, ::stride, ::stride]


def conv_forward(A_prev, W, b, hparameters):
    """Forward pass of a convolution layer (cross-correlation: the kernel is not flipped).

    A_prev      -- array of shape (m, n_H_prev, n_W_prev, n_C_prev)
    W           -- array of shape (f, f, n_C_prev, n_C)
    b           -- array of shape (1, 1, 1, n_C)
    hparameters -- dict with int "stride" >= 1 and int "pad" >= 0
    Returns (Z, cache):
      Z     -- float64 array of shape (m, n_H, n_W, n_C) with
               n_H = floor((n_H_prev - f + 2 * pad) / stride) + 1, likewise n_W
      cache -- (A_prev, W, b, hparameters), the very objects passed in, for conv_backward
    """
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_prev_pad = zero_pad(np.asarray(A_prev, dtype=np.float64), pad)
    windows = _windows(A_prev_pad, f, stride)  # (m, n_H, n_W, n_C_prev, f, f)
    Z = np.einsum("mhwcij,ijcn->mhwn", windows, np.asarray(W, dtype=np.float64), optimize=True)
    Z = Z + np.asarray(b, dtype=np.float64).reshape(1, 1, 1, -1)
    return Z, (A_prev, W, b, hparameters)


def pool_forward(A_prev, hparameters, mode="max"):
    """Forward pass of a pooling layer (no padding).

    A_prev      -- array of shape (m, n_H_prev, n_W_prev, n_C)
    hparameters -- dict with int "f" >= 1 and int "stride" >= 1
    mode        -- "max" or "average"
    Returns (A, cache):
      A     -- float64 array of shape (m, n_H, n_W, n_C) with
               n_H = floor((n_H_prev - f) / stride) + 1, likewise n_W
      cache -- (A_prev, hparameters), the very objects passed in, for pool_backward
    """
    f, stride = hparameters["f"], hparameters["stride"]
    windows = _windows(np.asarray(A_prev, dtype=np.float64), f, stride)
    if mode == "max":
        A = windows.max(axis=(-2, -1))
    elif mode == "average":
        A = windows.mean(axis=(-2, -1))
    else:
        raise ValueError(f'mode must be "max" or "average", got {mode!r}')
    return A, (A_prev, hparameters)


def conv_backward(dZ, cache):
    """Backward pass of a convolution layer.

    dZ    -- gradient of the cost with respect to Z, shape (m, n_H, n_W, n_C)
    cache -- cache as returned by conv_forward: (A_prev, W, b, hparameters)
    Returns (dA_prev, dW, db), float64 arrays shaped like A_prev (m, n_H_prev, n_W_prev, n_C_prev),
    W (f, f, n_C_prev, n_C) and b (1, 1, 1, n_C).
    """
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    dZ = np.asarray(dZ, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    A_prev = np.asarray(A_prev, dtype=np.float64)
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f = W.shape[0]
    _, n_H, n_W, n_C = dZ.shape

    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW = np.zeros_like(W)
    # Window (h, w) covers padded rows h*stride + i for i in range(f): loop over the f*f offsets
    # (i, j) and handle every window at once with a strided slice.
    for i in range(f):
        rows = slice(i, i + stride * (n_H - 1) + 1, stride)
        for j in range(f):
            cols = slice(j, j + stride * (n_W - 1) + 1, stride)
            dA_prev_pad[:, rows, cols, :] += np.einsum("mhwn,cn->mhwc", dZ, W[i, j])
            dW[i, j] = np.einsum("mhwc,mhwn->cn", A_prev_pad[:, rows, cols, :], dZ)
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, n_C)
    # Crop with explicit ends: X[pad:-pad] would be empty when pad == 0.
    dA_prev = dA_prev_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    return np.ascontiguousarray(dA_prev), dW, db


def create_mask_from_window(x):
    """Boolean mask of the maximum of a window.

    x -- array of shape (f, f)
    Returns a bool array of shape (f, f), True where x equals its maximum. On ties every
    maximum is marked (the assignment's convention); hidden checks use inputs without ties.
    """
    x = np.asarray(x)
    return x == np.max(x)


def distribute_value(dz, shape):
    """Spread a scalar evenly over a window.

    dz    -- real scalar
    shape -- (n_H, n_W)
    Returns a float64 array of shape (n_H, n_W) holding dz / (n_H * n_W) everywhere.
    """
    n_H, n_W = shape
    return np.full((n_H, n_W), float(dz) / (n_H * n_W), dtype=np.float64)


def pool_backward(dA, cache, mode="max"):
    """Backward pass of a pooling layer.

    dA    -- gradient of the cost with respect to A, shape (m, n_H, n_W, n_C)
    cache -- cache as returned by pool_forward: (A_prev, hparameters)
    mode  -- "max" or "average"
    Returns dA_prev, a float64 array shaped like A_prev (m, n_H_prev, n_W_prev, n_C).
    "max" routes each gradient to every position holding its window's maximum (all of them on
    ties, as create_mask_from_window does); "average" spreads it evenly over the window.
    Overlapping windows (stride < f) accumulate.
    """
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA = np.asarray(dA, dtype=np.float64)
    A_prev = np.asarray(A_prev, dtype=np.float64)
    _, n_H, n_W, _ = dA.shape
    if mode == "max":
        windows = _windows(A_prev, f, stride)  # (m, n_H, n_W, n_C, f, f)
        masks = windows == windows.max(axis=(-2, -1), keepdims=True)
    elif mode == "average":
        masks = None
    else:
        raise ValueError(f'mode must be "max" or "average", got {mode!r}')
    dA_prev = np.zeros_like(A_prev)
    for i in range(f):
        rows = slice(i, i + stride * (n_H - 1) + 1, stride)
        for j in range(f):
            cols = slice(j, j + stride * (n_W - 1) + 1, stride)
            if masks is None:
                dA_prev[:, rows, cols, :] += dA / (f * f)
            else:
                dA_prev[:, rows, cols, :] += masks[..., i, j] * dA
    return dA_prev
