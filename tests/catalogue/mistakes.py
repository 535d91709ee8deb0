"""Realistic wrong implementations of the eight exercises, the way students get them wrong.

Most entries are the canonical loop solution with one edit (``_edit``), because that is how
mistakes look in real submissions: one wrong index, one missing ``+=``, one hint followed too
literally. ``hint`` is a substring of the message the public test must show (None: any
AssertionError will do).
"""

from __future__ import annotations

from tests.catalogue import Variant
from tests.catalogue.canonical import CANONICAL


def _edit(exercise: str, *replacements: tuple[str, str]) -> str:
    """The canonical source of ``exercise`` with each (old, new) replaced exactly once."""
    source = CANONICAL[exercise].source
    for old, new in replacements:
        if source.count(old) != 1:
            raise ValueError(f"{exercise}: {old!r} occurs {source.count(old)} times")
        source = source.replace(old, new)
    return source


def _mistake(exercise, label, hint, *replacements):
    return Variant(exercise, label, _edit(exercise, *replacements), hint)


# --- zero_pad --------------------------------------------------------------------------------

ZERO_PAD_PAD = '((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0'

ZERO_PAD = (
    _mistake("zero_pad", "pads-every-axis", "padded every axis", (ZERO_PAD_PAD, "pad")),
    _mistake(
        "zero_pad",
        "pads-one-side",
        "one side only",
        (ZERO_PAD_PAD, '((0, 0), (0, pad), (0, pad), (0, 0)), mode="constant"'),
    ),
    _mistake(
        "zero_pad",
        "pads-height-only",
        "only the height",
        (ZERO_PAD_PAD, '((0, 0), (pad, pad), (0, 0), (0, 0)), mode="constant"'),
    ),
    _mistake(
        "zero_pad",
        "channels-first-axes",
        "wrong axes",
        (ZERO_PAD_PAD, '((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant"'),
    ),
    _mistake(
        "zero_pad",
        "edge-mode",
        "border is not zero",
        (ZERO_PAD_PAD, '((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge"'),
    ),
    _mistake(
        "zero_pad",
        "pads-with-ones",
        "border is not zero",
        ("constant_values=0", "constant_values=1"),
    ),
    _mistake(
        "zero_pad",
        "twice-the-padding",
        "2 * pad on each side",
        (ZERO_PAD_PAD, "((0, 0), (2 * pad, 2 * pad), (2 * pad, 2 * pad), (0, 0))"),
    ),
    Variant(
        "zero_pad",
        "manual-copy-minus-pad",
        """
def zero_pad(X, pad):
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    X_pad[:, pad:-pad, pad:-pad, :] = X
    return X_pad
""",
        "fails only when pad = 0",
    ),
    Variant(
        "zero_pad",
        "integer-canvas",
        """
def zero_pad(X, pad):
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=int)
    X_pad[:, pad:pad + n_H, pad:pad + n_W, :] = X
    return X_pad
""",
        "expected float64",
    ),
    _mistake("zero_pad", "forgot-return", "forget to return", ("    return X_pad\n", "")),
)

# --- conv_single_step ------------------------------------------------------------------------

CONV_SINGLE_STEP = (
    _mistake("conv_single_step", "np-float64-of-b", "b.item()", ("b.item()", "np.float64(b)")),
    _mistake("conv_single_step", "float-of-b", "b.item()", ("b.item()", "float(b)")),
    _mistake("conv_single_step", "adds-array-b", "b.item()", ("b.item()", "b")),
    _mistake("conv_single_step", "no-bias", "did you add b?", ("Z = Z + b.item()", "Z = Z")),
    _mistake(
        "conv_single_step",
        "bias-inside-sum",
        "add it once",
        ("s = a_slice_prev * W", "s = a_slice_prev * W + b"),
        ("Z = Z + b.item()", "Z = Z"),
    ),
    _mistake("conv_single_step", "mean-not-sum", "averaged", ("np.sum(s)", "np.mean(s)")),
    _mistake(
        "conv_single_step",
        "returns-product",
        "element-wise product",
        ("Z = np.sum(s)\n    Z = Z + b.item()", "Z = s"),
    ),
    _mistake(
        "conv_single_step", "subtracts-bias", "subtracted b", ("Z + b.item()", "Z - b.item()")
    ),
    Variant(
        "conv_single_step",
        "multiplies-in-place",
        """
def conv_single_step(a_slice_prev, W, b):
    a_slice_prev *= W
    Z = np.sum(a_slice_prev) + b.item()
    return Z
""",
        "modified its input in place (a_slice_prev changed)",
    ),
    _mistake(
        "conv_single_step",
        "float32-result",
        "expected float64",
        ("return Z", "return np.float32(Z)"),
    ),
    _mistake("conv_single_step", "forgot-return", "forget to return", ("    return Z\n", "")),
)

# --- conv_forward ----------------------------------------------------------------------------

CONV_CALL = "Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])"

CONV_FORWARD = (
    _mistake(
        "conv_forward",
        "no-bias",
        "did you add b?",
        (CONV_CALL, "Z[i, h, w, c] = np.sum(a_slice_prev * W[:, :, :, c])"),
    ),
    _mistake(
        "conv_forward",
        "bias-of-channel-0",
        "own bias",
        (CONV_CALL, "Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, 0])"),
    ),
    _mistake(
        "conv_forward",
        "float-of-bias-slice",
        "b.item()",
        (CONV_CALL, "Z[i, h, w, c] = np.sum(a_slice_prev * W[:, :, :, c]) + float(b[:, :, :, c])"),
    ),
    _mistake(
        "conv_forward",
        "np-float64-of-bias-slice",
        "one number belongs",
        (
            CONV_CALL,
            "Z[i, h, w, c] = np.sum(a_slice_prev * W[:, :, :, c]) + np.float64(b[:, :, :, c])",
        ),
    ),
    _mistake(
        "conv_forward",
        "kernel-flipped",
        "your kernel is flipped (that is true convolution; the layer computes cross-correlation",
        (
            CONV_CALL,
            "Z[i, h, w, c] = conv_single_step(a_slice_prev, W[::-1, ::-1, :, c], b[:, :, :, c])",
        ),
    ),
    _mistake(
        "conv_forward",
        "forgot-stride",
        "where do your windows start?",
        ("vert_start = h * stride", "vert_start = h"),
        ("horiz_start = w * stride", "horiz_start = w"),
    ),
    _mistake(
        "conv_forward",
        "stride-on-end-only",
        "where do your windows start?",
        ("vert_start = h * stride\n", "vert_start = h\n"),
        ("vert_end = vert_start + f", "vert_end = h * stride + f"),
        ("horiz_start = w * stride\n", "horiz_start = w\n"),
        ("horiz_end = horiz_start + f", "horiz_end = w * stride + f"),
    ),
    _mistake(
        "conv_forward",
        "window-spans-stride",
        "right only when stride = f",
        ("vert_end = vert_start + f", "vert_end = vert_start + stride"),
        ("horiz_end = horiz_start + f", "horiz_end = horiz_start + stride"),
    ),
    _mistake(
        "conv_forward",
        "size-rounded-up",
        "rounded up instead of down",
        (
            "n_H = (n_H_prev - f + 2 * pad) // stride + 1",
            "n_H = -(-(n_H_prev - f + 2 * pad) // stride) + 1",
        ),
        (
            "n_W = (n_W_prev - f + 2 * pad) // stride + 1",
            "n_W = -(-(n_W_prev - f + 2 * pad) // stride) + 1",
        ),
    ),
    _mistake(
        "conv_forward",
        "size-true-division",
        "floor division",
        (
            "n_H = (n_H_prev - f + 2 * pad) // stride + 1",
            "n_H = (n_H_prev - f + 2 * pad) / stride + 1",
        ),
        (
            "n_W = (n_W_prev - f + 2 * pad) // stride + 1",
            "n_W = (n_W_prev - f + 2 * pad) / stride + 1",
        ),
    ),
    _mistake(
        "conv_forward",
        "slices-unpadded-input",
        "right when pad = 0",
        ("a_prev_pad = A_prev_pad[i]", "a_prev_pad = A_prev[i]"),
    ),
    _mistake(
        "conv_forward",
        "size-ignores-padding",
        "ignores the padding",
        ("n_H = (n_H_prev - f + 2 * pad) // stride + 1", "n_H = (n_H_prev - f) // stride + 1"),
        ("n_W = (n_W_prev - f + 2 * pad) // stride + 1", "n_W = (n_W_prev - f) // stride + 1"),
    ),
    _mistake(
        "conv_forward",
        "size-pads-once",
        "2 * pad",
        (
            "n_H = (n_H_prev - f + 2 * pad) // stride + 1",
            "n_H = (n_H_prev - f + pad) // stride + 1",
        ),
        (
            "n_W = (n_W_prev - f + 2 * pad) // stride + 1",
            "n_W = (n_W_prev - f + pad) // stride + 1",
        ),
    ),
    _mistake(
        "conv_forward",
        "height-width-swapped",
        "height and width",
        (
            "a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]",
            "a_prev_pad[horiz_start:horiz_end, vert_start:vert_end, :]",
        ),
    ),
    _mistake(
        "conv_forward",
        "input-channels-as-output",
        "number of filters",
        ("Z = np.zeros((m, n_H, n_W, n_C))", "Z = np.zeros((m, n_H, n_W, n_C_prev))"),
        ("for c in range(n_C):", "for c in range(min(n_C, n_C_prev)):"),
    ),
    _mistake(
        "conv_forward",
        "first-example-only",
        "only the first example",
        ("a_prev_pad = A_prev_pad[i]", "a_prev_pad = A_prev_pad[0]"),
    ),
    _mistake(
        "conv_forward",
        "caches-padded-input",
        "padded input",
        ("cache = (A_prev, W, b, hparameters)", "cache = (A_prev_pad, W, b, hparameters)"),
    ),
    _mistake(
        "conv_forward",
        "cache-order",
        "wrong order",
        ("cache = (A_prev, W, b, hparameters)", "cache = (W, b, A_prev, hparameters)"),
    ),
    _mistake(
        "conv_forward",
        "cache-without-hparameters",
        "cache has 3 items",
        ("cache = (A_prev, W, b, hparameters)", "cache = (A_prev, W, b)"),
    ),
    _mistake("conv_forward", "returns-only-Z", "return a tuple", ("return Z, cache", "return Z")),
    _mistake(
        "conv_forward",
        "integer-output",
        "expected float64",
        ("Z = np.zeros((m, n_H, n_W, n_C))", "Z = np.zeros((m, n_H, n_W, n_C), dtype=int)"),
    ),
    _mistake(
        "conv_forward",
        "pads-every-axis",
        "right when pad = 0",
        ("A_prev_pad = zero_pad(A_prev, pad)", "A_prev_pad = np.pad(A_prev, pad)"),
    ),
    _mistake(
        "conv_forward",
        "stores-f-in-hparameters",
        "modified its input in place (hparameters changed)",
        ('pad = hparameters["pad"]', 'pad = hparameters["pad"]\n    hparameters["f"] = f'),
    ),
    _mistake(
        "conv_forward",
        "reads-f-from-hparameters",
        "comes from W.shape",
        (
            "(f, f, n_C_prev, n_C) = W.shape",
            '(_, _, n_C_prev, n_C) = W.shape\n    f = hparameters["f"]',
        ),
    ),
    _mistake(
        "conv_forward",
        "weights-wrong-axis",
        None,
        ("W[:, :, :, c]", "W[:, :, c]"),
    ),
    # Issue 10: every filter at once (a broadcasting error), or every bias (b.item() fails).
    _mistake(
        "conv_forward",
        "passes-whole-W-and-b",
        "conv_single_step got the whole W (every filter): pass one filter and its bias",
        (CONV_CALL, "Z[i, h, w, c] = conv_single_step(a_slice_prev, W, b)"),
    ),
    _mistake(
        "conv_forward",
        "passes-whole-b",
        "did you pass the whole b to conv_single_step?",
        (CONV_CALL, "Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b)"),
    ),
)

# --- pool_forward ----------------------------------------------------------------------------

POOL_FORWARD = (
    _mistake(
        "pool_forward",
        "modes-swapped",
        "swapped",
        ('if mode == "max":', 'if mode == "average":'),
        ('elif mode == "average":', 'elif mode == "max":'),
    ),
    _mistake(
        "pool_forward",
        "mode-ignored",
        "average mode returns the max",
        ('elif mode == "average":\n', 'elif mode == "average":\n                        pass\n'),
        ("A[i, h, w, c] = np.mean(a_prev_slice)", "A[i, h, w, c] = np.max(a_prev_slice)"),
    ),
    _mistake(
        "pool_forward",
        "mode-string-avg",
        "average mode returned zeros",
        ('elif mode == "average":', 'elif mode == "avg":'),
    ),
    _mistake(
        "pool_forward",
        "forgot-stride",
        "where do your windows start?",
        ("vert_start = h * stride", "vert_start = h"),
        ("horiz_start = w * stride", "horiz_start = w"),
    ),
    _mistake(
        "pool_forward",
        "steps-by-f",
        "right only when stride = f",
        ("vert_start = h * stride", "vert_start = h * f"),
        ("horiz_start = w * stride", "horiz_start = w * f"),
    ),
    _mistake(
        "pool_forward",
        "size-rounded-up",
        "rounded up instead of down",
        ("n_H = (n_H_prev - f) // stride + 1", "n_H = int(np.ceil((n_H_prev - f) / stride)) + 1"),
        ("n_W = (n_W_prev - f) // stride + 1", "n_W = int(np.ceil((n_W_prev - f) / stride)) + 1"),
    ),
    _mistake(
        "pool_forward",
        "size-true-division",
        "floor division",
        ("n_H = (n_H_prev - f) // stride + 1", "n_H = 1 + (n_H_prev - f) / stride"),
        ("n_W = (n_W_prev - f) // stride + 1", "n_W = 1 + (n_W_prev - f) / stride"),
    ),
    _mistake(
        "pool_forward",
        "reads-pad",
        "pooling has no padding",
        (
            'stride = hparameters["stride"]',
            'stride = hparameters["stride"]\n    pad = hparameters["pad"]',
        ),
    ),
    _mistake(
        "pool_forward",
        "pools-all-channels",
        "every channel holds the same value",
        (
            "a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]",
            "a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, :]",
        ),
    ),
    _mistake(
        "pool_forward",
        "height-width-swapped",
        "height and width",
        (
            "A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]",
            "A_prev[i, horiz_start:horiz_end, vert_start:vert_end, c]",
        ),
    ),
    _mistake(
        "pool_forward",
        "caches-output",
        "the layer's output",
        ("cache = (A_prev, hparameters)", "cache = (A, hparameters)"),
    ),
    _mistake("pool_forward", "returns-only-A", "return a tuple", ("return A, cache", "return A")),
    _mistake(
        "pool_forward",
        "mode-without-default",
        "mode needs its default",
        (
            'def pool_forward(A_prev, hparameters, mode="max"):',
            "def pool_forward(A_prev, hparameters, mode):",
        ),
    ),
    _mistake(
        "pool_forward",
        "first-example-only",
        "only the first example",
        ("a_prev_slice = A_prev[i, ", "a_prev_slice = A_prev[0, "),
    ),
    _mistake(
        "pool_forward",
        "size-ignores-stride",
        "right when stride = 1",
        ("n_H = (n_H_prev - f) // stride + 1", "n_H = n_H_prev - f + 1"),
        ("n_W = (n_W_prev - f) // stride + 1", "n_W = n_W_prev - f + 1"),
    ),
    _mistake(
        "pool_forward",
        "average-divides-by-f",
        "average mode is off by a constant factor: the mean divides the window's sum by its"
        " number of entries, f * f",
        ("A[i, h, w, c] = np.mean(a_prev_slice)", "A[i, h, w, c] = np.sum(a_prev_slice) / f"),
    ),
    _mistake(
        "pool_forward",
        "max-as-argmax",
        "fails only in max mode",
        ("A[i, h, w, c] = np.max(a_prev_slice)", "A[i, h, w, c] = np.argmax(a_prev_slice)"),
    ),
    _mistake(
        "pool_forward",
        "window-spans-stride",
        "right only when stride = f",
        ("vert_end = vert_start + f", "vert_end = vert_start + stride"),
        ("horiz_end = horiz_start + f", "horiz_end = horiz_start + stride"),
    ),
)

# --- conv_backward ---------------------------------------------------------------------------

CONV_CROP = "dA_prev[i, :, :, :] = da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]"
DA_UPDATE = (
    "da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += (\n"
    "                        W[:, :, :, c] * dZ[i, h, w, c]\n"
    "                    )"
)

CONV_BACKWARD = (
    _mistake(
        "conv_backward",
        "crop-pad-minus-pad",
        "X[pad:-pad] is empty when pad = 0",
        (CONV_CROP, "dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]"),
    ),
    Variant(
        "conv_backward",
        "db-without-keepdims",
        _edit(
            "conv_backward",
            ("db[:, :, :, c] += dZ[i, h, w, c]", "pass"),
            (
                "    return dA_prev, dW, db",
                "    db = np.sum(dZ, axis=(0, 1, 2))\n    return dA_prev, dW, db",
            ),
        ),
        "keep b's shape",
    ),
    Variant(
        "conv_backward",
        "db-first-example-only",
        _edit(
            "conv_backward",
            ("db[:, :, :, c] += dZ[i, h, w, c]", "pass"),
            (
                "    return dA_prev, dW, db",
                "    db = np.sum(dZ[0], axis=(0, 1), keepdims=True)[np.newaxis]\n"
                "    return dA_prev, dW, db",
            ),
        ),
        "db summed over the wrong axes?",
    ),
    Variant(
        "conv_backward",
        "dW-not-summed-over-examples",
        _edit(
            "conv_backward",
            (
                "        da_prev_pad = dA_prev_pad[i]\n",
                "        da_prev_pad = dA_prev_pad[i]\n        dW = np.zeros(W.shape)\n",
            ),
        ),
        "right for one example, wrong for several",
    ),
    Variant(
        "conv_backward",
        "assigns-overlapping-windows",
        _edit(
            "conv_backward",
            (DA_UPDATE, "pass"),
            (
                "                for c in range(n_C):\n",
                "                window = np.sum(W * dZ[i, h, w, :], axis=-1)\n"
                "                rows = slice(vert_start, vert_end)\n"
                "                da_prev_pad[rows, horiz_start:horiz_end, :] = window\n"
                "                for c in range(n_C):\n",
            ),
            ("                    vert_start = h * stride\n", ""),
            ("                    vert_end = vert_start + f\n", ""),
            ("                    horiz_start = w * stride\n", ""),
            ("                    horiz_end = horiz_start + f\n", ""),
            (
                "            for w in range(n_W):\n",
                "            for w in range(n_W):\n"
                "                vert_start = h * stride\n"
                "                vert_end = vert_start + f\n"
                "                horiz_start = w * stride\n"
                "                horiz_end = horiz_start + f\n",
            ),
        ),
        "overwrote instead of accumulating (+=) for overlapping windows",
    ),
    _mistake(
        "conv_backward",
        "assigns-dA-per-filter",
        "accumulate",
        (
            DA_UPDATE,
            "da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] = (\n"
            "                        W[:, :, :, c] * dZ[i, h, w, c]\n"
            "                    )",
        ),
    ),  # fmt: skip
    _mistake(
        "conv_backward",
        "dW-from-unpadded-input",
        "right when pad = 0",
        ("a_prev_pad = A_prev_pad[i]", "a_prev_pad = A_prev[i]"),
    ),
    _mistake(
        "conv_backward",
        "forgot-stride",
        "where do your windows start?",
        ("vert_start = h * stride", "vert_start = h"),
        ("horiz_start = w * stride", "horiz_start = w"),
    ),
    _mistake(
        "conv_backward",
        "dW-averaged-over-examples",
        "off by a constant factor",
        ("    return dA_prev, dW, db", "    dW = dW / m\n    return dA_prev, dW, db"),
    ),
    _mistake(
        "conv_backward",
        "kernel-flipped-in-dA",
        "dA_prev is wrong while dW and db are right",
        ("W[:, :, :, c] * dZ[i, h, w, c]\n", "W[::-1, ::-1, :, c] * dZ[i, h, w, c]\n"),
    ),
    _mistake(
        "conv_backward",
        "returns-two-gradients",
        "returned 2 items",
        ("return dA_prev, dW, db", "return dA_prev, dW"),
    ),
    _mistake(
        "conv_backward",
        "gradient-written-into-A_prev",
        "modified its input in place (cache changed)",
        ("dA_prev = np.zeros(A_prev.shape)", "dA_prev = A_prev"),
        (
            "dA_prev_pad = zero_pad(dA_prev, pad)",
            "dA_prev_pad = zero_pad(np.zeros(A_prev.shape), pad)",
        ),
    ),
    _mistake(
        "conv_backward",
        "db-averaged",
        "off by a constant factor",
        ("db[:, :, :, c] += dZ[i, h, w, c]", "db[:, :, :, c] += dZ[i, h, w, c] / (n_H * n_W)"),
    ),
    _mistake(
        "conv_backward",
        "reads-f-from-hparameters",
        "comes from W.shape",
        (
            'stride = hparameters["stride"]',
            'stride = hparameters["stride"]\n    f = hparameters["f"]',
        ),
    ),
    _mistake(
        "conv_backward",
        "returns-padded-gradient",
        "still has the padding",
        ("    return dA_prev, dW, db", "    return dA_prev_pad, dW, db"),
    ),
    _mistake(
        "conv_backward",
        "one-padded-gradient-for-all-examples",
        "right for one example, wrong for several",
        ("da_prev_pad = dA_prev_pad[i]", "da_prev_pad = dA_prev_pad[0]"),
    ),
    # Issue 10: = for +=. The first public case's last window lies in the padding, so dW is all
    # zeros there: a factor of 0, never "off by a constant factor".
    _mistake(
        "conv_backward",
        "assigns-dW",
        "dW is all zeros: did you overwrite (=) instead of accumulating (+=)?",
        ("dW[:, :, :, c] += a_slice", "dW[:, :, :, c] = a_slice"),
    ),
    _mistake(
        "conv_backward",
        "assigns-every-gradient",
        "dA_prev, dW and db are wrong (dW is all zeros; db holds only the last window's"
        " contribution): did you overwrite (=) instead of accumulating (+=)?",
        (DA_UPDATE, DA_UPDATE.replace("+=", "=")),
        ("dW[:, :, :, c] += a_slice", "dW[:, :, :, c] = a_slice"),
        ("db[:, :, :, c] += dZ", "db[:, :, :, c] = dZ"),
    ),
)

# --- create_mask_from_window -----------------------------------------------------------------

MASK = (
    _mistake(
        "create_mask_from_window", "marks-minimum", "marks the minimum", ("np.max(x)", "np.min(x)")
    ),
    _mistake(
        "create_mask_from_window", "inverted", "inverted", ("x == np.max(x)", "x != np.max(x)")
    ),
    _mistake(
        "create_mask_from_window",
        "strictly-greater",
        "all False",
        ("x == np.max(x)", "x > np.max(x)"),
    ),
    _mistake(
        "create_mask_from_window",
        "values-not-mask",
        "not a mask",
        ("mask = x == np.max(x)", "mask = x * (x == np.max(x))"),
    ),
    _mistake(
        "create_mask_from_window",
        "argmax",
        "np.argmax gives a position",
        ("mask = x == np.max(x)", "mask = np.argmax(x)"),
    ),
    _mistake(
        "create_mask_from_window",
        "column-maximum",
        "each row or column",
        ("x == np.max(x)", "x == np.max(x, axis=0)"),
    ),
    Variant(
        "create_mask_from_window",
        "overwrites-window",
        """
def create_mask_from_window(x):
    biggest = np.max(x)
    x[x != biggest] = 0
    x[x == biggest] = 1
    return x
""",
        "modified its input in place (x changed)",
    ),
    _mistake(
        "create_mask_from_window",
        "returns-maximum",
        "you returned a number",
        ("mask = x == np.max(x)", "mask = np.max(x)"),
    ),
)

# --- distribute_value ------------------------------------------------------------------------

DISTRIBUTE = (
    _mistake(
        "distribute_value",
        "multiplies",
        "you multiplied dz",
        ("dz / (n_H * n_W)", "dz * (n_H * n_W)"),
    ),
    _mistake("distribute_value", "no-division", "every entry is dz", ("dz / (n_H * n_W)", "dz")),
    _mistake(
        "distribute_value",
        "divides-by-height",
        "divided by n_H only",
        ("dz / (n_H * n_W)", "dz / n_H"),
    ),
    _mistake(
        "distribute_value",
        "floor-division",
        "floor division",
        ("dz / (n_H * n_W)", "dz // (n_H * n_W)"),
    ),
    _mistake(
        "distribute_value",
        "returns-average",
        "you returned one number",
        ("a = np.ones(shape) * average", "a = average"),
    ),
    _mistake(
        "distribute_value", "shape-swapped", "swapped", ("np.ones(shape)", "np.ones((n_W, n_H))")
    ),
    _mistake(
        "distribute_value", "divides-by-sum", "n_H + n_W", ("dz / (n_H * n_W)", "dz / (n_H + n_W)")
    ),
    _mistake(
        "distribute_value",
        "integer-array",
        "expected float64",
        ("a = np.ones(shape) * average", "a = np.full(shape, average, dtype=int)"),
    ),
)

# --- pool_backward ---------------------------------------------------------------------------

POOL_MAX_UPDATE = (
    "dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (\n"
    "                            mask * dA[i, h, w, c]\n"
    "                        )"
)
POOL_AVERAGE_UPDATE = (
    "dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (\n"
    "                            distribute_value(da, (f, f))\n"
    "                        )"
)

POOL_BACKWARD = (
    _mistake(
        "pool_backward",
        "modes-swapped",
        "swapped",
        ('if mode == "max":', 'if mode == "average":'),
        ('elif mode == "average":', 'elif mode == "max":'),
    ),
    _mistake(
        "pool_backward",
        "mode-ignored",
        "average mode returns the max",
        ('if mode == "max":', "if True:"),
    ),
    _mistake(
        "pool_backward",
        "assigns-max-gradient",
        "overwrote instead of accumulating (+=)",
        (POOL_MAX_UPDATE, POOL_MAX_UPDATE.replace("+=", "=")),
        (POOL_AVERAGE_UPDATE, POOL_AVERAGE_UPDATE.replace("+=", "=")),
    ),
    _mistake(
        "pool_backward",
        "forgot-stride",
        "where do your windows start?",
        ("vert_start = h * stride", "vert_start = h"),
        ("horiz_start = w * stride", "horiz_start = w"),
    ),
    _mistake(
        "pool_backward",
        "average-not-divided",
        "average mode is off by a constant factor",
        ("distribute_value(da, (f, f))", "np.ones((f, f)) * da"),
    ),
    _mistake(
        "pool_backward",
        "average-divided-by-f",
        "average mode is off by a constant factor",
        ("distribute_value(da, (f, f))", "np.ones((f, f)) * da / f"),
    ),
    _mistake(
        "pool_backward",
        "mask-over-all-channels",
        None,
        (
            "a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]",
            "a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, :]",
        ),
    ),
    _mistake(
        "pool_backward",
        "mode-without-default",
        "mode needs its default",
        ('def pool_backward(dA, cache, mode="max"):', "def pool_backward(dA, cache, mode):"),
    ),
    _mistake(
        "pool_backward",
        "mask-of-minimum",
        "fails only in max mode",
        (
            "mask = create_mask_from_window(a_prev_slice)",
            "mask = a_prev_slice == np.min(a_prev_slice)",
        ),
    ),
    Variant(
        "pool_backward",
        "scales-dA-in-place",
        _edit(
            "pool_backward",
            (
                "    dA_prev = np.zeros(A_prev.shape)\n",
                "    dA_prev = np.zeros(A_prev.shape)\n"
                '    if mode == "average":\n'
                "        dA /= f * f\n",
            ),
            ("distribute_value(da, (f, f))", "np.ones((f, f)) * da"),
        ),
        "modified its input in place (dA changed)",
    ),
    _mistake("pool_backward", "forgot-return", "forget to return", ("    return dA_prev\n", "")),
    _mistake(
        "pool_backward",
        "first-example-mask",
        "only the first example is right: loop over all m examples",
        ("a_prev = A_prev[i]", "a_prev = A_prev[0]"),
    ),
    # Issue 10: a branch never reached returns zeros (not "off by a constant factor"); a
    # gradient written into the cache's A_prev is said first, whatever the values; a mask taken
    # from the gradient being built marks whole windows.
    _mistake(
        "pool_backward",
        "mode-string-avg",
        "average mode returned zeros: is your average branch reached? the mode is the string"
        ' "average"',
        ('elif mode == "average":', 'elif mode == "avg":'),
    ),
    _mistake(
        "pool_backward",
        "gradient-written-into-A_prev",
        "modified its input in place (cache changed)",
        ("dA_prev = np.zeros(A_prev.shape)", "dA_prev = A_prev\n    dA_prev[:] = 0"),
    ),
    _mistake(
        "pool_backward",
        "mask-from-dA_prev",
        "max mode sends a window's gradient to more than one entry: the mask marks only the"
        " maximum of the window of the input A_prev",
        (
            "a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]",
            "a_prev_slice = dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]",
        ),
    ),
)

MISTAKES: tuple[Variant, ...] = (
    ZERO_PAD + CONV_SINGLE_STEP + CONV_FORWARD + POOL_FORWARD + CONV_BACKWARD + MASK + DISTRIBUTE
    + POOL_BACKWARD
)  # fmt: skip
