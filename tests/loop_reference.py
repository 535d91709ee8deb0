"""A plain-loop implementation of the eight exercises, written from the definitions for the tests.

It shares no code with ``grader/reference.py`` (no ``np.pad``, no window views, no einsum) so the
two can check each other: every output element is computed by its own explicit loop, exactly as
the definitions read. Slow; meant for small inputs only. Layout is channels-last
``(m, n_H, n_W, n_C)`` throughout.
"""

from __future__ import annotations

import numpy as np


def zero_pad(X, pad):
    """Pad height and width of every image with ``pad`` zeros on each side.

    X   -- array of shape (m, n_H, n_W, n_C)
    pad -- non-negative int
    Returns an array of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C), same dtype as X.
    """
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    X_pad[i, h + pad, w + pad, c] = X[i, h, w, c]
    return X_pad


def conv_single_step(a_slice_prev, W, b):
    """``sum(a_slice_prev * W) + b`` as a Python-level sum over every element.

    a_slice_prev -- array of shape (f, f, n_C_prev)
    W            -- array of shape (f, f, n_C_prev)
    b            -- array of shape (1, 1, 1)
    Returns a NumPy float64 scalar.
    """
    f_H, f_W, n_C_prev = W.shape
    total = 0.0
    for i in range(f_H):
        for j in range(f_W):
            for c in range(n_C_prev):
                total += float(a_slice_prev[i, j, c]) * float(W[i, j, c])
    return np.float64(total + float(b[0, 0, 0]))


def _output_size(n_prev, f, pad, stride):
    """floor((n_prev - f + 2 * pad) / stride) + 1, with the floor written out."""
    return int(np.floor((n_prev - f + 2 * pad) / stride)) + 1


def conv_forward(A_prev, W, b, hparameters):
    """Cross-correlate every padded image with every filter, one output element at a time.

    A_prev -- (m, n_H_prev, n_W_prev, n_C_prev); W -- (f, f, n_C_prev, n_C); b -- (1, 1, 1, n_C)
    hparameters -- {"stride": int, "pad": int}
    Returns (Z, cache): Z of shape (m, n_H, n_W, n_C), cache = (A_prev, W, b, hparameters).
    """
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H = _output_size(n_H_prev, f, pad, stride)
    n_W = _output_size(n_W_prev, f, pad, stride)
    A_prev_pad = zero_pad(A_prev.astype(np.float64), pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                top, left = h * stride, w * stride
                window = A_prev_pad[i, top : top + f, left : left + f, :]
                for c in range(n_C):
                    Z[i, h, w, c] = conv_single_step(window, W[:, :, :, c], b[:, :, :, c])
    return Z, (A_prev, W, b, hparameters)


def pool_forward(A_prev, hparameters, mode="max"):
    """Max or average of every f x f window, channel by channel, no padding.

    A_prev -- (m, n_H_prev, n_W_prev, n_C); hparameters -- {"f": int, "stride": int}
    Returns (A, cache): A of shape (m, n_H, n_W, n_C), cache = (A_prev, hparameters).
    """
    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}")
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = _output_size(n_H_prev, f, 0, stride)
    n_W = _output_size(n_W_prev, f, 0, stride)
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    values = [
                        float(A_prev[i, h * stride + di, w * stride + dj, c])
                        for di in range(f)
                        for dj in range(f)
                    ]
                    A[i, h, w, c] = max(values) if mode == "max" else sum(values) / len(values)
    return A, (A_prev, hparameters)


def conv_backward(dZ, cache):
    """Gradients of a convolution layer from the chain rule, one contribution at a time.

    Z[i, h, w, c] = b[c] + sum_{di, dj, k} A_pad[i, h*s + di, w*s + dj, k] * W[di, dj, k, c], so
    each (i, h, w, c, di, dj, k) term adds dZ * W to dA_pad and dZ * A_pad to dW.
    dZ -- (m, n_H, n_W, n_C); cache -- cache as returned by conv_forward
    Returns (dA_prev, dW, db) shaped like A_prev, W and b.
    """
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f = W.shape[0]
    _, n_H, n_W, n_C = dZ.shape
    A_prev_pad = zero_pad(A_prev.astype(np.float64), pad)
    dA_prev_pad = np.zeros(A_prev_pad.shape)
    dW = np.zeros(W.shape)
    db = np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    grad = float(dZ[i, h, w, c])
                    db[0, 0, 0, c] += grad
                    for di in range(f):
                        for dj in range(f):
                            row, col = h * stride + di, w * stride + dj
                            for k in range(n_C_prev):
                                dA_prev_pad[i, row, col, k] += grad * W[di, dj, k, c]
                                dW[di, dj, k, c] += grad * A_prev_pad[i, row, col, k]
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H_prev):
            for w in range(n_W_prev):
                for k in range(n_C_prev):
                    dA_prev[i, h, w, k] = dA_prev_pad[i, h + pad, w + pad, k]
    return dA_prev, dW, db


def create_mask_from_window(x):
    """True at every position equal to the window's largest value (all of them on ties).

    x -- (f, f) array. Returns a bool array of shape (f, f).
    """
    largest = max(float(value) for value in x.ravel())
    mask = np.zeros(x.shape, dtype=bool)
    for position in np.ndindex(x.shape):
        mask[position] = float(x[position]) == largest
    return mask


def distribute_value(dz, shape):
    """An (n_H, n_W) float64 array holding dz / (n_H * n_W) in every cell."""
    n_H, n_W = shape
    share = float(dz) / (n_H * n_W)
    a = np.zeros((n_H, n_W))
    for h in range(n_H):
        for w in range(n_W):
            a[h, w] = share
    return a


def pool_backward(dA, cache, mode="max"):
    """Route each output gradient back into its window: to the maxima ("max") or evenly
    ("average"); overlapping windows add up.

    dA -- (m, n_H, n_W, n_C); cache -- cache as returned by pool_forward
    Returns dA_prev shaped like A_prev.
    """
    if mode not in ("max", "average"):
        raise ValueError(f"unknown mode {mode!r}")
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, _, _, n_C = A_prev.shape
    _, n_H, n_W, _ = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    window = A_prev[i, top : top + f, left : left + f, c]
                    if mode == "max":
                        share = create_mask_from_window(window) * float(dA[i, h, w, c])
                    else:
                        share = distribute_value(dA[i, h, w, c], (f, f))
                    for di in range(f):
                        for dj in range(f):
                            dA_prev[i, top + di, left + dj, c] += share[di, dj]
    return dA_prev
