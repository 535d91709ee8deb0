"""Tests of authoring/points.py: points are set once, in grader/exercises.py, and every place that
states them follows (make notebooks) or fails the golden check, naming the place."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authoring import notebooks, points
from authoring.release import bundle_contents
from grader.exercises import EXERCISE_NAMES, EXERCISES, PARTS, exercise_named, part_points

REPO_ROOT = Path(__file__).resolve().parent.parent
MASTER = notebooks.MASTER_SOURCE.relative_to(REPO_ROOT).as_posix()
COMMENT = re.compile(r"<!--.*?-->")


def marked_keys(text: str) -> list[str]:
    return [match["key"] for match in points.PLACE.finditer(text)]


def test_every_place_agrees_with_grader_exercises():
    """Do the master source (markdown and test-cell metadata), README.md and the student README
    state exactly the points of grader/exercises.py?"""
    assert points.problems() == []


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        (MASTER, {*EXERCISE_NAMES, *PARTS}),
        ("README.md", {*EXERCISE_NAMES, *PARTS, "total"}),
        ("authoring/student_README.md", set(PARTS)),
    ],
)
def test_each_place_marks_what_it_states(path, keys):
    """Does each file mark every value it states (so none can drift unnoticed as a bare number)?"""
    assert set(marked_keys((REPO_ROOT / path).read_text(encoding="utf-8"))) == keys


def test_the_bundle_readme_states_the_part_totals_without_markers():
    """Does the student bundle's README show the part totals of grader/exercises.py, unmarked?"""
    readme = bundle_contents()["README.md"].decode()
    assert "<!--" not in readme
    for part in PARTS:
        assert f"out of {points.format_points(part_points(part))} points." in readme


# --- a hand edit that disagrees ----------------------------------------------------------------


def _bump(text: str, key: str) -> str:
    """``text`` with the first value marked ``key`` one point higher."""
    match = next(match for match in points.PLACE.finditer(text) if match["key"] == key)
    value = points.format_points(float(match["value"]) + 1)
    return text[: match.start()] + value + text[match.start("marker") :]


def _bump_test_cell(text: str, name: str) -> str:
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == f"{name}_test":
            meta["points"] += 1
    return json.dumps(notebook, indent=1)


ZERO_PAD, FORWARD = exercise_named("zero_pad").points, part_points("forward")
BACKWARD = part_points("backward")
HAND_EDITS = {
    "master source text": (
        MASTER,
        lambda text: _bump(text, "zero_pad"),
        rf"{MASTER} cell 0 \(id '[^']+'\): zero_pad is worth {ZERO_PAD + 1:g} points, "
        rf"grader/exercises.py says {ZERO_PAD:g}",
    ),
    "master source test-cell metadata": (
        MASTER,
        lambda text: _bump_test_cell(text, "zero_pad"),
        rf"{MASTER} cell \d+ \(id 'zero_pad_test'\): test cell 'zero_pad_test' is worth "
        rf"{ZERO_PAD + 1:g} points \(nbgrader metadata\), grader/exercises.py says {ZERO_PAD:g}",
    ),
    "README table": (
        "README.md",
        lambda text: _bump(text, "forward"),
        rf"README.md: forward is worth {FORWARD + 1:g} points, "
        rf"grader/exercises.py says {FORWARD:g}",
    ),
    "student README": (
        "authoring/student_README.md",
        lambda text: _bump(text, "backward"),
        rf"authoring/student_README.md: backward is worth {BACKWARD + 1:g} points",
    ),
    "unknown marker": (
        "README.md",
        lambda text: text.replace("<!--points:total-->", "<!--points:totl-->", 1),
        r"README.md: unknown points marker '<!--points:totl-->'",
    ),
    "marker without its number": (
        "README.md",
        lambda text: re.sub(r"\d+(<!--points:total-->)", r"all\1", text, count=1),
        r"README.md: a points marker without a number right before it",
    ),
}


@pytest.fixture
def place_copies(tmp_path, monkeypatch):
    """Copies of the files that state points, under a temporary repository root that
    authoring.points reads and writes instead of the real one."""
    copies = []
    for path in points.places():
        copy = tmp_path / path.relative_to(REPO_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        copies.append(copy)
    monkeypatch.setattr(points, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(points, "places", lambda: copies)
    return tmp_path


@pytest.mark.parametrize("edit", HAND_EDITS)
def test_a_hand_edit_fails_the_points_check_naming_the_place(edit, place_copies, capsys):
    """Does `python -m authoring.points --check` fail, naming the file, the cell and the value,
    when one place is edited by hand?"""
    relative, mutate, expected = HAND_EDITS[edit]
    path = place_copies / relative
    path.write_text(mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert points.main(["--check"]) == 1
    report = capsys.readouterr().err
    assert re.search(expected, report), report


def test_the_golden_check_of_the_notebooks_includes_the_points(place_copies, capsys):
    """Does `python -m authoring.notebooks --check` (make test) fail on a disagreeing place too?"""
    path = place_copies / "README.md"
    path.write_text(_bump(path.read_text(encoding="utf-8"), "zero_pad"), encoding="utf-8")
    assert notebooks.main(["--check"]) == 1
    assert "README.md: zero_pad is worth" in capsys.readouterr().err


def test_writing_the_points_repairs_every_hand_edit(place_copies):
    """Does `make notebooks` (authoring.points.write) set every edited place back, and leave an
    agreeing file byte for byte as it was?"""
    originals = {path: path.read_bytes() for path in points.places()}
    assert points.write() == []
    for edit in ("master source text", "master source test-cell metadata", "README table"):
        relative, mutate, _ = HAND_EDITS[edit]
        path = place_copies / relative
        path.write_text(mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert points.write() != [] and points.problems() == []
    assert {path: path.read_bytes() for path in points.places()} == originals


# --- changing points in the one source ---------------------------------------------------------

# A temporary copy of the repository: everything but version control, tools, caches and outputs.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".hypothesis",
    ".*_cache",
    "__pycache__",
    "*.egg-info",
    "build",
    "demo",
    "bench",
    "tests",
    "gradebook.db",
    "release",
    "submitted",
    "autograded",
    "feedback",
    "solution",
)


def _run(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _stated(text: str) -> dict[str, set[str]]:
    """{marker key: the values text states for it}."""
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"(\d+(?:\.\d+)?)<!--points:(\w+)-->", text):
        found.setdefault(match[2], set()).add(match[1])
    return found


def _markdown(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _test_cell_points(path: Path) -> dict[str, float]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    metadata = [cell["metadata"].get("nbgrader", {}) for cell in cells]
    return {meta["grade_id"]: meta["points"] for meta in metadata if meta.get("grade") is True}


def test_changing_one_exercise_in_grader_exercises_changes_every_place(tmp_path):
    """In a copy of the repository, zero_pad made worth 2 points more in grader/exercises.py
    only: do `make notebooks` and `make release` succeed, and does every artefact that shows
    points (the master source, the student and solution notebooks and the examples, text and
    test-cell metadata; README.md; the student bundle's README) show the new zero_pad and
    forward values and nowhere the old ones? And does a hand edit back to the old value then
    fail the golden check, naming the place?"""
    root = tmp_path / "repository"
    shutil.copytree(REPO_ROOT, root, symlinks=True, ignore=NOT_COPIED)
    exercises_py = root / "grader" / "exercises.py"
    old_zero_pad = exercise_named("zero_pad").points
    old_forward = part_points("forward")
    new_zero_pad, new_forward = old_zero_pad + 2, old_forward + 2
    old_line = f'Exercise("zero_pad", "forward", {old_zero_pad:g}, '
    assert exercises_py.read_text().count(old_line) == 1
    new_line = old_line.replace(f"{old_zero_pad:g}", f"{new_zero_pad:g}")
    exercises_py.write_text(exercises_py.read_text().replace(old_line, new_line))

    # make notebooks, then make release (its recipe's commands, with this Python).
    for command in (["-m", "authoring.notebooks"], ["-m", "examples.build"]):
        completed = _run(root, *command)
        assert completed.returncode == 0, completed.stdout + completed.stderr
    completed = _run(root, "-m", "authoring.release")
    assert completed.returncode == 0, completed.stdout + completed.stderr

    new = {"zero_pad": {f"{new_zero_pad:g}"}, "forward": {f"{new_forward:g}"}}
    notebooks_shown = [
        "course/source/cnn_step_by_step/assignment.ipynb",
        "assignment.ipynb",
        "solutions/assignment.ipynb",
        "examples/alice.ipynb",
        "examples/bob.ipynb",
        "examples/eve.ipynb",
    ]
    for relative in notebooks_shown:
        path = root / relative
        markdown = _markdown(path)
        stated = _stated(markdown)
        assert {key: stated[key] for key in new} == new, relative
        plain = COMMENT.sub("", markdown)
        assert f"`zero_pad` {new_zero_pad:g}," in plain, relative
        assert f"| {new_zero_pad:g} |" in plain, relative
        assert f"**{new_forward:g} points**" in plain, relative
        assert f"(graded, {new_forward:g} points)" in plain, relative
        assert f"`zero_pad` {old_zero_pad:g}," not in plain, relative
        assert f"{old_forward:g} points" not in plain, relative
        assert _test_cell_points(path)["zero_pad_test"] == new_zero_pad, relative

    readme = (root / "README.md").read_text(encoding="utf-8")
    assert {key: _stated(readme)[key] for key in new} == new
    assert _stated(readme)["total"] == {f"{new_forward + part_points('backward'):g}"}
    assert f"`zero_pad` {old_zero_pad:g}," not in COMMENT.sub("", readme)

    bundle_readme = (root / "build" / "student" / "README.md").read_text(encoding="utf-8")
    assert f"graded out of {new_forward:g} points." in bundle_readme
    assert f"{old_forward:g} points" not in bundle_readme

    completed = _run(root, "-m", "authoring.notebooks", "--check")
    assert completed.returncode == 0, completed.stdout + completed.stderr

    # A hand edit back to the old value, in one place, fails the golden check.
    (root / "README.md").write_text(
        readme.replace(
            f"`zero_pad` {new_zero_pad:g}<!--points:zero_pad-->",
            f"`zero_pad` {old_zero_pad:g}<!--points:zero_pad-->",
        ),
        encoding="utf-8",
    )
    completed = _run(root, "-m", "authoring.notebooks", "--check")
    assert completed.returncode == 1
    assert (
        f"README.md: zero_pad is worth {old_zero_pad:g} points, grader/exercises.py says "
        f"{new_zero_pad:g}" in completed.stderr
    ), completed.stderr


def test_the_points_add_up_as_the_places_say():
    """Do the keys the places use cover every exercise, both parts and the total, and nothing
    else?"""
    assert set(points.expected_points()) == {*EXERCISE_NAMES, *PARTS, "total"}
    assert points.expected_points()["total"] == sum(exercise.points for exercise in EXERCISES)
