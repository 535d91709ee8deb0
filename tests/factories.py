"""Small factories that build submission notebooks for tests, shaped like the real assignment.

The cells carry the same nbgrader metadata as the generated student notebook: a locked setup
cell (grade_id "setup"), one solution cell per exercise (grade_id = exercise name) and one
autograder test cell after it (grade_id = "<exercise>_test", points from grader.exercises).
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.exercises import EXERCISES, SETUP_CELL_ID, SETUP_SOURCE

NOT_IMPLEMENTED = """
def {name}(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError()
"""


def setup_cell(source: str = SETUP_SOURCE):
    return new_code_cell(
        source,
        metadata={
            "nbgrader": {
                "grade": False,
                "solution": False,
                "locked": True,
                "grade_id": SETUP_CELL_ID,
                "schema_version": 3,
            }
        },
    )


def solution_cell(name: str, source: str, *, metadata: bool = True):
    body = f"# GRADED FUNCTION: {name}\n{source.strip()}\n"
    meta = (
        {
            "nbgrader": {
                "grade": False,
                "solution": True,
                "locked": False,
                "grade_id": name,
                "schema_version": 3,
            }
        }
        if metadata
        else {}
    )
    return new_code_cell(body, metadata=meta)


def test_cell(name: str, points: float, *, metadata: bool = True):
    meta = (
        {
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": True,
                "points": points,
                "grade_id": f"{name}_test",
                "schema_version": 3,
            }
        }
        if metadata
        else {}
    )
    return new_code_cell(f"{name}_test({name})", metadata=meta)


def submission(sources: dict[str, str], *, metadata: bool = True, setup: str = SETUP_SOURCE):
    """A notebook with ``sources[name]`` per exercise named; others raise NotImplementedError.

    sources  -- {exercise name: cell source holding its def}
    metadata -- False drops every nbgrader metadata block (a damaged notebook)
    """
    cells = [new_markdown_cell("# Convolutional Neural Networks: Step by Step"), setup_cell(setup)]
    if not metadata:
        cells[1].metadata = {}
    for exercise in EXERCISES:
        source = sources.get(exercise.name, NOT_IMPLEMENTED.format(name=exercise.name))
        cells.append(new_markdown_cell(f"## {exercise.name}"))
        cells.append(solution_cell(exercise.name, source, metadata=metadata))
        cells.append(test_cell(exercise.name, exercise.points, metadata=metadata))
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def write(notebook, path) -> None:
    nbformat.write(notebook, str(path))
