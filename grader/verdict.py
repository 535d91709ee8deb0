"""The result of grading: check verdicts, exercise scores and the JSON contract of the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckVerdict:
    """One named check of one exercise: passed or not, with the hint shown to the student."""

    name: str
    passed: bool
    hint: str | None = None


@dataclass(frozen=True)
class ExerciseVerdict:
    """One exercise: its score is ``max * passed_checks / all_checks`` (0 when it did not run).

    status -- "graded", "not implemented" (raised NotImplementedError), "not found" (no def),
              "error" (crashed, timed out, or failed to define); explained in ``message``
    """

    name: str
    score: float
    max: float
    checks: tuple[CheckVerdict, ...]
    status: str = "graded"
    message: str | None = None


@dataclass(frozen=True)
class Grade:
    """A whole submission. ``error`` is set when the notebook could not be graded at all."""

    total: float
    max: float
    exercises: tuple[ExerciseVerdict, ...]
    error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "graded by function name"

    def to_json_dict(self) -> dict:
        """The CLI's JSON contract: total, max, exercises[name, score, max, checks], error.

        Extra keys (status, message, notes) are additive; consumers may ignore them.
        """
        data = asdict(self)
        for exercise in data["exercises"]:
            exercise["checks"] = list(exercise["checks"])
        data["exercises"] = list(data["exercises"])
        data["notes"] = list(data["notes"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())


def exercise_score(points: float, checks: tuple[CheckVerdict, ...]) -> float:
    """Points times the fraction of checks passed, rounded to 2 decimals (0 when no checks)."""
    if not checks:
        return 0.0
    return round(points * sum(check.passed for check in checks) / len(checks), 2)
