"""The trusted stand-ins for the exercises other exercises call, as source text for the sandbox.

Fairness: a mistake loses points on its own exercise only. conv_forward calls zero_pad and
conv_single_step, conv_backward calls zero_pad, pool_backward calls create_mask_from_window and
distribute_value; while such an exercise is graded, those names are bound to the minimal versions
below, so a broken zero_pad never costs points on conv_forward.

Integrity: the process that grades exercise X receives the stand-ins of the OTHER exercises only
(``stand_ins_for``), as source text in its own job; this module is never staged into the sandbox,
so no process can import or read a stand-in of its own exercise.
"""

from __future__ import annotations

STAND_IN_SOURCES: dict[str, str] = {
    "zero_pad": (
        "def zero_pad(X, pad):\n"
        '    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")\n'
    ),
    "conv_single_step": (
        "def conv_single_step(a_slice_prev, W, b):\n"
        "    return np.sum(a_slice_prev * W) + np.asarray(b).item()\n"
    ),
    "create_mask_from_window": ("def create_mask_from_window(x):\n    return x == np.max(x)\n"),
    "distribute_value": (
        "def distribute_value(dz, shape):\n"
        "    n_H, n_W = shape\n"
        "    return np.ones(shape) * (dz / (n_H * n_W))\n"
    ),
}

STAND_IN_NAMES: tuple[str, ...] = tuple(STAND_IN_SOURCES)


def stand_ins_for(exercise: str) -> dict[str, str]:
    """{name: source} of the stand-ins the process grading ``exercise`` may hold: every one but
    its own."""
    return {name: source for name, source in STAND_IN_SOURCES.items() if name != exercise}


def stand_in(name: str):
    """A stand-in as a function, built in this (trusted) process: for tests and the reference
    comparison only."""
    import numpy as np

    namespace = {"np": np}
    exec(compile(STAND_IN_SOURCES[name], f"<stand-in {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]
