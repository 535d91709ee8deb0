"""Tests of authoring/release.py: the student bundle holds the allow-list and nothing else."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from authoring import release
from authoring.notebooks import REPO_ROOT, STUDENT_NOTEBOOK
from authoring.release import (
    REQUIRED_FILES,
    ZIP_FOLDER,
    build,
    check,
    fingerprints,
    referenced_images,
    student_requirements,
)
from tests.catalogue.canonical import CANONICAL


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A freshly built bundle: (folder, zip) in a temporary folder."""
    root = tmp_path_factory.mktemp("release")
    return build(root / "student", root / "student.zip")


@pytest.fixture
def bundle_copy(bundle, tmp_path):
    """A private copy of the bundle folder, free to tamper with."""
    copy = tmp_path / "student"
    shutil.copytree(bundle[0], copy)
    return copy


def rezip(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for item in sorted(folder.rglob("*")):
            if item.is_file():
                archive.write(item, f"{ZIP_FOLDER}/{item.relative_to(folder).as_posix()}")
    return zip_path


def plant(folder: Path, line: str) -> None:
    """Add ``line`` to the markdown of the bundle's notebook, as a leak would."""
    path = folder / "assignment.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"][0]["source"].append("\n" + line)
    path.write_text(json.dumps(notebook, indent=1))


def test_fresh_bundle_passes_the_check(bundle):
    """Does a freshly built bundle pass the check, both as a folder and as a zip?"""
    folder, zip_path = bundle
    assert check(folder) == []
    assert check(zip_path) == []


def test_bundle_holds_exactly_the_allow_list(bundle):
    """Does the bundle hold exactly the required files and the images the notebook shows?"""
    folder, zip_path = bundle
    images = referenced_images(json.loads(STUDENT_NOTEBOOK.read_text()))
    expected = set(REQUIRED_FILES) | set(images)
    in_folder = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert in_folder == expected
    with zipfile.ZipFile(zip_path) as archive:
        assert {name.removeprefix(f"{ZIP_FOLDER}/") for name in archive.namelist()} == expected
    assert (folder / "assignment.ipynb").read_bytes() == STUDENT_NOTEBOOK.read_bytes()


def test_zip_is_reproducible(bundle, tmp_path):
    """Does building twice give the same zip, byte for byte?"""
    _, again = build(tmp_path / "student", tmp_path / "student.zip")
    assert again.read_bytes() == bundle[1].read_bytes()


def test_student_requirements_keep_only_marked_lines():
    """Are only the pins marked '# student' kept, without their comments?"""
    text = "numpy==2.4.6  # student\nnbgrader==0.9.6\n# student notes\nh5py==3.16.0 # student\n"
    assert student_requirements(text).splitlines()[1:] == ["numpy==2.4.6", "h5py==3.16.0"]


def test_optional_student_requirements_stay_commented_with_their_reason():
    """Does a commented pin marked '# student, optional: why' reach students still commented,
    after the required pins, with its reason, so `pip install -r` skips it?"""
    text = "# torch==2.13.0  # student, optional: for one section\nnumpy==2.4.6  # student\n"
    lines = student_requirements(text).splitlines()[1:]
    assert lines == ["numpy==2.4.6", "# Optional, for one section", "# torch==2.13.0"]


def test_bundle_requirements_leave_torch_optional():
    """Do the repository's student requirements leave torch commented (the PyTorch section is
    optional) and no longer list h5py, which nothing imports?"""
    lines = student_requirements((REPO_ROOT / "requirements.txt").read_text()).splitlines()
    assert "# torch==2.13.0" in lines
    assert not any(line.startswith(("torch", "h5py")) for line in lines)


@pytest.mark.parametrize(
    "line",
    [
        CANONICAL["conv_forward"]
        .source.strip()
        .splitlines()[5]
        .strip(),  # n_H = (...) // stride + 1
        "a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]",
        "dA_prev[i, :, :, :] = da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]",
    ],
)
def test_check_fails_when_a_solution_line_is_planted(bundle_copy, tmp_path, line):
    """Does a canonical solution line planted in the notebook fail the check, folder and zip?"""
    assert line in fingerprints(), f"{line!r} should be a fingerprint"
    plant(bundle_copy, line)
    for target in (bundle_copy, rezip(bundle_copy, tmp_path / "planted.zip")):
        problems = check(target)
        assert any("solution line" in p and line in p for p in problems), problems


def test_check_fails_when_a_solution_line_hides_in_a_comment(bundle_copy):
    """Is a solution line caught even when commented out inside a code cell?"""
    path = bundle_copy / "assignment.ipynb"
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    cell["source"].append("\n# A_prev_pad = zero_pad(A_prev, pad)  # kept from my friend's copy")
    path.write_text(json.dumps(notebook))
    assert any("A_prev_pad = zero_pad(A_prev, pad)" in p for p in check(bundle_copy))


def test_check_fails_on_grader_code(bundle_copy):
    """Does a line of the hidden reference (grader/reference.py) in public_tests.py fail?"""
    from_reference = [line for line, origin in fingerprints().items() if "reference.py" in origin]
    assert len(from_reference) >= 10, "grader/reference.py should give many fingerprints"
    line = max(from_reference, key=len)
    with (bundle_copy / "public_tests.py").open("a") as handle:
        handle.write(f"\n\ndef _fast(windows, W):\n    {line}\n")
    assert any("grader/reference.py" in p for p in check(bundle_copy))


@pytest.mark.parametrize("marker", ["### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"])
def test_check_fails_on_nbgrader_regions(bundle_copy, marker):
    """Does an nbgrader solution or hidden-test marker anywhere in the bundle fail the check?"""
    with (bundle_copy / "README.md").open("a") as handle:
        handle.write(f"\n{marker}\n")
    assert any(marker.removeprefix("### ") in p for p in check(bundle_copy))


def test_check_fails_on_outputs_and_execution_counts(bundle_copy):
    """Does a notebook with an output and an execution count fail the check?"""
    path = bundle_copy / "assignment.ipynb"
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    cell["execution_count"] = 1
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hello\n"]}]
    path.write_text(json.dumps(notebook))
    assert any("outputs or an execution count" in p for p in check(bundle_copy))


def test_check_fails_on_a_solution_notebook(bundle_copy):
    """Does shipping the solution notebook as assignment.ipynb fail the check?"""
    shutil.copyfile(
        release.REPO_ROOT / "solutions" / "assignment.ipynb", bundle_copy / "assignment.ipynb"
    )
    problems = check(bundle_copy)
    assert any("not a stub raising NotImplementedError" in p for p in problems), problems
    assert any("solution line" in p for p in problems), problems


@pytest.mark.parametrize(
    "extra",
    [
        "solutions/assignment.ipynb",
        "grader/reference.py",
        ".ipynb_checkpoints/a.ipynb",
        "images/unused.png",
    ],
)
def test_check_fails_on_files_off_the_allow_list(bundle_copy, extra):
    """Does any file not on the allow-list fail the check, even an unreferenced image?"""
    target = bundle_copy / extra
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\x89PNG" if extra.endswith(".png") else b"x = 1\n")
    assert any(extra in p and "allow-list" in p for p in check(bundle_copy))


def test_check_fails_on_a_missing_image_or_file(bundle_copy):
    """Does a bundle lacking a referenced image or a required file fail the check?"""
    (bundle_copy / "images" / "pooling.png").unlink()
    (bundle_copy / "public_tests_data.npz").unlink()
    problems = check(bundle_copy)
    assert any("images/pooling.png" in p for p in problems), problems
    assert any("public_tests_data.npz is missing" in p for p in problems), problems


def test_check_fails_on_zip_entries_outside_the_folder(bundle, tmp_path):
    """Does a zip entry outside cnn_step_by_step/ (or escaping with ..) fail the check?"""
    zip_path = tmp_path / "escape.zip"
    shutil.copyfile(bundle[1], zip_path)
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr("../evil.py", "x = 1\n")
    assert any("not inside" in p for p in check(zip_path))


def test_check_fails_on_pickled_test_data(bundle_copy):
    """Does test data that needs pickle to load (arbitrary code) fail the check?"""
    import numpy as np

    np.savez(bundle_copy / "public_tests_data.npz", cases=np.array([{"a": 1}], dtype=object))
    assert any("without pickle" in p for p in check(bundle_copy))


def test_release_command_builds_and_checks(monkeypatch, tmp_path, capsys):
    """Does `python -m authoring.release` build both outputs and exit 0, and `--check` exit 1
    on a tampered bundle?"""
    monkeypatch.setattr(release, "BUNDLE_DIR", tmp_path / "student")
    monkeypatch.setattr(release, "BUNDLE_ZIP", tmp_path / "student.zip")
    assert release.main([]) == 0
    assert (tmp_path / "student.zip").is_file()
    plant(tmp_path / "student", "A_prev_pad = zero_pad(A_prev, pad)")
    assert release.main(["--check", str(tmp_path / "student")]) == 1
    assert "solution line" in capsys.readouterr().err
