"""Correct implementations that differ from the canonical loops: every one must pass every check.

They cover what real, right submissions look like: vectorised (einsum, tensordot,
sliding_window_view, as_strided), other loop orders, other scalar types, 0/1 masks, argmax
routing (inputs have no ties), a guarded ``[pad:-pad]`` crop, helpers defined in the same cell.
Decisions they pin down: conv_single_step may return a Python float, np.float64 or a 0-d float64
array; masks may be boolean or 0/1 integers; float outputs are float64.
"""

from __future__ import annotations

from tests.catalogue import Variant

CORRECT: tuple[Variant, ...] = (
    Variant(
        "zero_pad",
        "manual-canvas",
        """
def zero_pad(X, pad):
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    X_pad[:, pad:pad + n_H, pad:pad + n_W, :] = X
    return X_pad
""",
    ),
    Variant(
        "zero_pad",
        "pad-width-list-default-mode",
        """
def zero_pad(X, pad):
    widths = [(0, 0), (pad, pad), (pad, pad), (0, 0)]
    return np.pad(X, widths)
""",
    ),
    Variant(
        "conv_single_step",
        "python-float",
        """
def conv_single_step(a_slice_prev, W, b):
    return float(np.sum(a_slice_prev * W)) + b.item()
""",
    ),
    Variant(
        "conv_single_step",
        "einsum-and-index",
        """
def conv_single_step(a_slice_prev, W, b):
    return np.einsum("ijk,ijk->", a_slice_prev, W) + b[0, 0, 0]
""",
    ),
    Variant(
        "conv_single_step",
        "squeezed-0d-array",
        """
def conv_single_step(a_slice_prev, W, b):
    Z = np.squeeze(np.sum(a_slice_prev * W) + b)
    return Z
""",
    ),
    Variant(
        "conv_forward",
        "sliding-window-einsum",
        """
from numpy.lib.stride_tricks import sliding_window_view


def conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    A_prev_pad = zero_pad(A_prev, pad)
    windows = sliding_window_view(A_prev_pad, (f, f), axis=(1, 2))[:, ::stride, ::stride]
    Z = np.einsum("mhwcij,ijcn->mhwn", windows, W) + b.reshape(1, 1, 1, -1)
    return Z, (A_prev, W, b, hparameters)
""",
    ),
    Variant(
        "conv_forward",
        "tensordot-per-position",
        """
def conv_forward(A_prev, W, b, hparameters):
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    A_prev_pad = zero_pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev_pad[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            Z[:, h, w, :] = np.tensordot(window, W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0, :]
    return Z, (A_prev, W, b, hparameters)
""",
    ),
    Variant(
        "conv_forward",
        "as-strided-im2col",
        """
from numpy.lib.stride_tricks import as_strided


def conv_forward(A_prev, W, b, hparameters):
    stride, pad = hparameters["stride"], hparameters["pad"]
    f, _, n_C_prev, n_C = W.shape
    A = np.ascontiguousarray(np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0))))
    m, H, W_size, C = A.shape
    n_H = (H - f) // stride + 1
    n_W = (W_size - f) // stride + 1
    s0, s1, s2, s3 = A.strides
    columns = as_strided(
        A,
        shape=(m, n_H, n_W, f, f, C),
        strides=(s0, s1 * stride, s2 * stride, s1, s2, s3),
        writeable=False,
    ).reshape(m * n_H * n_W, f * f * C)
    Z = columns @ W.reshape(f * f * n_C_prev, n_C) + b.reshape(1, n_C)
    return Z.reshape(m, n_H, n_W, n_C), (A_prev, W, b, hparameters)
""",
    ),
    Variant(
        "conv_forward",
        "channels-outermost-with-helper",
        """
def output_length(n_prev, f, pad, stride):
    return int((n_prev - f + 2 * pad) / stride) + 1


def conv_forward(A_prev, W, b, hparameters):
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride = hparameters["stride"]
    pad = hparameters["pad"]
    n_H = output_length(n_H_prev, f, pad, stride)
    n_W = output_length(n_W_prev, f, pad, stride)
    Z = np.zeros((m, n_H, n_W, n_C))
    A_prev_pad = zero_pad(A_prev, pad)
    for c in range(n_C):
        for i in range(m):
            for w in range(n_W):
                for h in range(n_H):
                    top, left = h * stride, w * stride
                    a_slice = A_prev_pad[i, top:top + f, left:left + f, :]
                    Z[i, h, w, c] = conv_single_step(a_slice, W[..., c], b[..., c])
    return Z, (A_prev, W, b, hparameters)
""",
    ),
    Variant(
        "pool_forward",
        "sliding-window-reduce",
        """
from numpy.lib.stride_tricks import sliding_window_view


def pool_forward(A_prev, hparameters, mode="max"):
    f, stride = hparameters["f"], hparameters["stride"]
    windows = sliding_window_view(A_prev, (f, f), axis=(1, 2))[:, ::stride, ::stride]
    reduce = np.max if mode == "max" else np.mean
    A = reduce(windows, axis=(-2, -1))
    return A, (A_prev, hparameters)
""",
    ),
    Variant(
        "pool_forward",
        "loops-over-positions-all-channels",
        """
def pool_forward(A_prev, hparameters, mode="max"):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f = hparameters["f"]
    stride = hparameters["stride"]
    n_H = 1 + (n_H_prev - f) // stride
    n_W = 1 + (n_W_prev - f) // stride
    A = np.zeros((m, n_H, n_W, n_C))
    reducers = {"max": np.amax, "average": np.average}
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            A[:, h, w, :] = reducers[mode](window.reshape(m, f * f, n_C), axis=1)
    return A, (A_prev, hparameters)
""",
    ),
    Variant(
        "conv_backward",
        "guarded-minus-pad-crop",
        """
def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    m, n_H, n_W, n_C = dZ.shape
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros(A_prev_pad.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(b.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                rows = slice(h * stride, h * stride + f)
                columns = slice(w * stride, w * stride + f)
                for c in range(n_C):
                    dA_prev_pad[i, rows, columns, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += A_prev_pad[i, rows, columns, :] * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]
    if pad > 0:
        dA_prev = dA_prev_pad[:, pad:-pad, pad:-pad, :]
    else:
        dA_prev = dA_prev_pad
    return dA_prev, dW, db
""",
    ),
    Variant(
        "conv_backward",
        "vectorised-offsets",
        """
def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    _, n_H_prev, n_W_prev, _ = A_prev.shape
    f = W.shape[0]
    _, n_H, n_W, _ = dZ.shape
    A_prev_pad = np.pad(A_prev, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW = np.zeros_like(W)
    for di in range(f):
        rows = slice(di, di + stride * (n_H - 1) + 1, stride)
        for dj in range(f):
            columns = slice(dj, dj + stride * (n_W - 1) + 1, stride)
            dA_prev_pad[:, rows, columns, :] += np.einsum("mhwn,cn->mhwc", dZ, W[di, dj])
            dW[di, dj] = np.einsum("mhwc,mhwn->cn", A_prev_pad[:, rows, columns, :], dZ)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    dA_prev = dA_prev_pad[:, pad:pad + n_H_prev, pad:pad + n_W_prev, :]
    return dA_prev, dW, db
""",
    ),
    Variant(
        "create_mask_from_window",
        "zero-one-integers",
        """
def create_mask_from_window(x):
    return (x == x.max()).astype(int)
""",
    ),
    Variant(
        "create_mask_from_window",
        "argmax-position",
        """
def create_mask_from_window(x):
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask
""",
    ),
    Variant(
        "distribute_value",
        "full-over-size",
        """
def distribute_value(dz, shape):
    return np.full(shape, dz / np.prod(shape))
""",
    ),
    Variant(
        "distribute_value",
        "zeros-plus-average",
        """
def distribute_value(dz, shape):
    n_H, n_W = shape
    return np.zeros((n_H, n_W)) + dz / (n_H * n_W)
""",
    ),
    Variant(
        "pool_backward",
        "argmax-routing",
        """
def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for c in range(n_C):
            for h in range(n_H):
                for w in range(n_W):
                    top, left = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, top:top + f, left:left + f, c]
                        r, s = np.unravel_index(np.argmax(window), window.shape)
                        dA_prev[i, top + r, left + s, c] += dA[i, h, w, c]
                    else:
                        dA_prev[i, top:top + f, left:left + f, c] += dA[i, h, w, c] / (f * f)
    return dA_prev
""",
    ),
    Variant(
        "pool_backward",
        "vectorised-offsets",
        """
from numpy.lib.stride_tricks import sliding_window_view


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    _, n_H, n_W, _ = dA.shape
    windows = sliding_window_view(A_prev, (f, f), axis=(1, 2))[:, ::stride, ::stride]
    is_max = windows == windows.max(axis=(-2, -1), keepdims=True)
    dA_prev = np.zeros(A_prev.shape)
    for di in range(f):
        rows = slice(di, di + stride * (n_H - 1) + 1, stride)
        for dj in range(f):
            columns = slice(dj, dj + stride * (n_W - 1) + 1, stride)
            if mode == "max":
                dA_prev[:, rows, columns, :] += is_max[..., di, dj] * dA
            else:
                dA_prev[:, rows, columns, :] += dA / (f * f)
    return dA_prev
""",
    ),
    Variant(
        "pool_backward",
        "helpers-in-same-cell",
        """
def window_of(A, i, h, w, c, f, stride):
    return A[i, h * stride:h * stride + f, w * stride:w * stride + f, c]


def pool_backward(dA, cache, mode="max"):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros_like(A_prev, dtype=float)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    target = window_of(dA_prev, i, h, w, c, f, stride)
                    if mode == "average":
                        target += np.ones((f, f)) * dA[i, h, w, c] / (f * f)
                    else:
                        source = window_of(A_prev, i, h, w, c, f, stride)
                        target += create_mask_from_window(source) * dA[i, h, w, c]
    return dA_prev
""",
    ),
)
