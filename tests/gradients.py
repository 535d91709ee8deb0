"""Numerical gradient checking for the tests: one centred-difference gradient and ``rel_error``.

Defined once here (after CS231n's ``eval_numerical_gradient_array`` and ``rel_error``) and
imported wherever a backward pass is checked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Centred-difference estimate of d(sum(f(x) * df)) / dx.

    f   -- function of one array argument returning an array shaped like df
    x   -- the point, any shape; it is not modified (f sees a float64 copy nudged one element
           at a time)
    df  -- upstream gradient, shaped like f(x)
    eps -- step; the estimate for element k is
           sum((f(x + eps e_k) - f(x - eps e_k)) * df) / (2 * eps)
    Returns a float64 array shaped like x. Exact up to rounding for functions linear in x; for
    piecewise-linear ones (max pooling) only when no kink lies within eps of x.
    """
    point = np.array(x, dtype=np.float64, copy=True)
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + eps
        plus = np.asarray(f(point), dtype=np.float64)
        point[index] = original - eps
        minus = np.asarray(f(point), dtype=np.float64)
        point[index] = original
        grad[index] = np.sum((plus - minus) * df) / (2 * eps)
    return grad


def rel_error(x, y) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)`` (0.0 when both are
    empty); the denominator never drops below 1e-8."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 and y.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))
