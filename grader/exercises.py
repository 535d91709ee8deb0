"""The eight exercises: names, order, part, points and signatures, listed once for every tool."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One graded function of the assignment.

    name       -- the function the student defines (``def <name>(``)
    part       -- "forward" (graded) or "backward" (optional, scored separately)
    points     -- points the exercise is worth inside its part: set here and nowhere else
    parameters -- the parameter names of the student contract, in order
    """

    name: str
    part: str
    points: float
    parameters: tuple[str, ...]

    @property
    def solution_cell_id(self) -> str:
        """nbgrader grade_id of the cell where the student writes this function."""
        return self.name

    @property
    def test_cell_id(self) -> str:
        """nbgrader grade_id of the autograder test cell that carries this exercise's points."""
        return f"{self.name}_test"


# Order is the notebook's order. The points are set here only: `make notebooks` writes them into
# the master source, README.md and the student README (authoring/points.py), and every tool and
# test reads them from here (see README, "Points").
EXERCISES: tuple[Exercise, ...] = (
    Exercise("zero_pad", "forward", 10, ("X", "pad")),
    Exercise("conv_single_step", "forward", 20, ("a_slice_prev", "W", "b")),
    Exercise("conv_forward", "forward", 40, ("A_prev", "W", "b", "hparameters")),
    Exercise("pool_forward", "forward", 30, ("A_prev", "hparameters", "mode")),
    Exercise("conv_backward", "backward", 15, ("dZ", "cache")),
    Exercise("create_mask_from_window", "backward", 5, ("x",)),
    Exercise("distribute_value", "backward", 5, ("dz", "shape")),
    Exercise("pool_backward", "backward", 15, ("dA", "cache", "mode")),
)

EXERCISE_NAMES: tuple[str, ...] = tuple(exercise.name for exercise in EXERCISES)
PARTS: tuple[str, ...] = ("forward", "backward")
SETUP_CELL_ID = (
    "setup"  # the locked first code cell (imports numpy as np); graded code runs after it
)
# The setup cell's source, defined once: the notebook generator writes it, the grader runs it
# (grader.extract.TRUSTED_SETUP) instead of the student's copy, and the test factories use it.
SETUP_SOURCE = "import numpy as np\nfrom public_tests import *"
ASSIGNMENT_ID = "cnn_step_by_step"  # nbgrader's name for the assignment
NOTEBOOK_NAME = "assignment"  # assignment.ipynb


def exercise_named(name: str) -> Exercise:
    """Return the exercise called ``name``; raise KeyError naming the known ones otherwise."""
    for exercise in EXERCISES:
        if exercise.name == name:
            return exercise
    raise KeyError(f"unknown exercise {name!r}; known: {', '.join(EXERCISE_NAMES)}")


def part_points(part: str) -> float:
    """Total points of one part ("forward" or "backward")."""
    return sum(exercise.points for exercise in EXERCISES if exercise.part == part)


def total_points() -> float:
    """Points of both parts together (nbgrader's max_score, the grader's max)."""
    return sum(exercise.points for exercise in EXERCISES)
