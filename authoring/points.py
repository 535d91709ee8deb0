"""Points: set once in grader/exercises.py, written into every place that states them, checked.

    python -m authoring.points           # write the points of grader/exercises.py into each place
                                         # (make notebooks runs this before generating)
    python -m authoring.points --check   # exit 1 naming every place that disagrees

A place that states points in markdown is the number followed by a marker naming what it counts:
``10<!--points:zero_pad-->`` (an exercise), ``100<!--points:forward-->`` or
``40<!--points:backward-->`` (a part), ``140<!--points:total-->`` (both parts). The marker is an
HTML comment: Jupyter, GitHub and nbgrader's pages show only the number. The places are the
markdown cells of the master source, README.md and authoring/student_README.md (the student
bundle's README, whose markers authoring.release removes); the master source's test cells carry
their exercise's points as nbgrader metadata. Everything else follows by generation: the student
and solution notebooks and the examples from the master source, nbgrader's gradebook from the
test cells' metadata, the grader's reports from grader/exercises.py itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

from grader.exercises import EXERCISES, PARTS, part_points

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
STUDENT_README_TEMPLATE = REPO_ROOT / "authoring" / "student_README.md"

# A stated value and its marker; MARKER alone also finds a marker with no number before it.
PLACE = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<marker><!--points:(?P<key>[A-Za-z_]+)-->)")
MARKER = re.compile(r"<!--points:(?P<key>[A-Za-z_]+)-->")


def expected_points() -> dict[str, float]:
    """{marker key: points}: every exercise by name, each part, and "total", from the one source."""
    points = {exercise.name: exercise.points for exercise in EXERCISES}
    points |= {part: part_points(part) for part in PARTS}
    points["total"] = sum(part_points(part) for part in PARTS)
    return points


def format_points(points: float) -> str:
    """``10`` or ``10.0`` -> ``"10"``, ``7.5`` -> ``"7.5"``."""
    return f"{round(points, 2):g}"


def text_problems(text: str, where: str) -> list[str]:
    """Every marker of ``text`` that disagrees with grader/exercises.py, unknown or bare."""
    expected = expected_points()
    problems = []
    for match in PLACE.finditer(text):
        key, stated = match["key"], match["value"]
        if key not in expected:
            problems.append(f"{where}: unknown points marker {match['marker']!r}")
        elif float(stated) != expected[key]:
            problems.append(
                f"{where}: {key} is worth {stated} points, "
                f"grader/exercises.py says {format_points(expected[key])}"
            )
    if len(MARKER.findall(text)) != len(PLACE.findall(text)):
        problems.append(f"{where}: a points marker without a number right before it")
    return problems


def filled(text: str, where: str) -> str:
    """``text`` with every marked number set from grader/exercises.py.

    Raises ValueError for an unknown marker or a marker without a number (a typo to fix by hand).
    """
    broken = [
        problem for problem in text_problems(text, where) if "grader/exercises.py" not in problem
    ]
    if broken:
        raise ValueError("\n".join(broken))
    expected = expected_points()
    return PLACE.sub(lambda match: format_points(expected[match["key"]]) + match["marker"], text)


def without_markers(text: str) -> str:
    """``text`` as a reader of the raw file should see it: the numbers without their markers."""
    return MARKER.sub("", text)


# --- the master source -------------------------------------------------------------------------


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _cell_label(index: int, cell) -> str:
    return f"cell {index} (id {cell.get('id')!r})"


def notebook_problems(notebook: dict, where: str) -> list[str]:
    """Every place of a notebook's JSON that disagrees: marked markdown and test-cell metadata."""
    problems = []
    test_cells = {exercise.test_cell_id: exercise for exercise in EXERCISES}
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            problems += text_problems(_source(cell), f"{where} {_cell_label(index, cell)}")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        exercise = test_cells.get(meta.get("grade_id"))
        if exercise is not None and meta.get("points") != exercise.points:
            problems.append(
                f"{where} {_cell_label(index, cell)}: test cell {exercise.test_cell_id!r} is worth "
                f"{meta.get('points')} points (nbgrader metadata), "
                f"grader/exercises.py says {format_points(exercise.points)}"
            )
    return problems


def filled_notebook(notebook: dict, where: str) -> dict:
    """A copy of a notebook's JSON with its marked markdown and test-cell points set."""
    notebook = json.loads(json.dumps(notebook))
    test_cells = {exercise.test_cell_id: exercise for exercise in EXERCISES}
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            text = _source(cell)
            new = filled(text, f"{where} {_cell_label(index, cell)}")
            if new != text:
                cell["source"] = new
        meta = cell.get("metadata", {}).get("nbgrader", {})
        exercise = test_cells.get(meta.get("grade_id"))
        if exercise is not None:
            meta["points"] = exercise.points
    return notebook


def _dump_notebook(notebook: dict) -> str:
    # nbformat's own layout, as Jupyter saves it: an unchanged notebook keeps its bytes.
    return nbformat.writes(nbformat.from_dict(notebook)) + "\n"


# --- every place ---------------------------------------------------------------------------------


def places() -> list[Path]:
    """The files that state points: the master source, README.md, the student README template."""
    from authoring.notebooks import MASTER_SOURCE  # not at import: authoring.notebooks imports us

    return [MASTER_SOURCE, README, STUDENT_README_TEMPLATE]


def _name(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def problems() -> list[str]:
    """Every place that disagrees with grader/exercises.py ([] when all agree)."""
    found = []
    for path in places():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            found += notebook_problems(json.loads(text), _name(path))
        else:
            found += text_problems(text, _name(path))
    return found


def write() -> list[Path]:
    """Set every place from grader/exercises.py; return the files that changed."""
    changed = []
    for path in places():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            new = _dump_notebook(filled_notebook(json.loads(text), _name(path)))
        else:
            new = filled(text, _name(path))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.points", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail naming every place that disagrees"
    )
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        if found:
            print("\n".join(found), file=sys.stderr)
            print(
                "\nPoints are set in grader/exercises.py only: run `make notebooks`.",
                file=sys.stderr,
            )
            return 1
        print("every place states the points of grader/exercises.py")
        return 0
    for path in write():
        print(f"wrote points into {_name(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
