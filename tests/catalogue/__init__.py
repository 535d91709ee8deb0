"""Catalogues of student code: realistic wrong implementations and correct-but-different ones.

Each entry is source code (a string holding one top-level ``def <exercise>(``), so the same entry
can be exec'd for the public tests and planted in a notebook for the sandboxed grader.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One implementation of one exercise.

    exercise -- the function it defines, e.g. "conv_forward"
    label    -- short unique name, e.g. "crop-with-pad-minus-pad"
    source   -- Python source of the cell: imports allowed, exactly one top-level def <exercise>
    hint     -- for a mistake: a substring the public test's message must contain (None: no
                targeted hint, any AssertionError will do)
    """

    exercise: str
    label: str
    source: str
    hint: str | None = None


def load(variant: Variant, namespace: dict | None = None):
    """Exec a variant's source (numpy as np pre-imported); return the function it defines."""
    import numpy as np

    scope = {"np": np} if namespace is None else namespace
    exec(compile(variant.source, f"<{variant.exercise}:{variant.label}>", "exec"), scope)
    return scope[variant.exercise]
