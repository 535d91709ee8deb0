"""What crosses the sandbox boundary: one call of a student's function and what came of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """One call of a student's function with positional arguments made of plain data only:
    float64/int/bool ndarrays, int, float, bool, str, None, tuples/lists and dicts with str keys
    of those (a cache such as ``(A_prev, W, b, {"stride": 2, "pad": 1})`` is plain data).

    hidden -- the student has not seen these inputs: the call is made only after every public
              call of its exercise has answered, and what comes back keeps only the grader's
              words (``grader.exercise_run.hidden_safe``)"""

    args: tuple
    hidden: bool = False


@dataclass(frozen=True)
class Unsupported:
    """Stands for a returned object that is not plain data (the wire never unpickles anything)."""

    type_name: str


@dataclass(frozen=True)
class Outcome:
    """What one Call gave, decoded in the trusted process.

    returned   -- the return value as plain data (ndarray, NumPy scalar, Python scalar, tuple,
                  list, dict, None, or Unsupported); None when ``error`` is set
    error      -- None, or what went wrong: "NotImplementedError", "<ExceptionType>: <message>"
                  (capped), "timeout", "crashed: <why>", "not found", "output too large"
    args_after -- the positional arguments as they were after the call (to detect inputs modified
                  in place); None when unknown
    """

    returned: object = None
    error: str | None = None
    args_after: tuple | None = None
