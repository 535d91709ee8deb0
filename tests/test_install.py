"""Tests of the installable grader (pyproject.toml): its dependencies agree with the pinned
requirements, and, in a fresh venv outside the repository, `pip install <repository>` gives a
`cnn-grader` whose course (`cnn-grader init-course`) grades the demo's submissions like `make demo`
with nothing on PYTHONPATH, through nbgrader, the command line and grader.parallel."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from grader.demo import STUDENTS
from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME, total_points
from grader.grade import grade_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
INSTALL_SECONDS = 300  # pip from its cache and the machine's package index


def pinned_versions() -> dict[str, str]:
    """{normalised name: version} of every `name==version` line of requirements*.txt."""
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO_ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line and not line.startswith("-"):
                requirement = Requirement(line)
                pins[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    return pins


def test_dependencies_accept_the_pinned_requirements():
    """Does every runtime dependency (and every extra: postgres, dask) of pyproject.toml accept
    the exact version requirements.txt (requirements-dev.txt) pins, so .venv and an install
    agree?"""
    pins = pinned_versions()
    project = PYPROJECT["project"]
    declared = [Requirement(line) for line in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        declared += [Requirement(line) for line in extra]
    assert {requirement.name.lower() for requirement in declared} >= {
        "numpy",
        "nbgrader",
        "psycopg2-binary",
        "dask",
        "distributed",
    }
    for requirement in declared:
        pinned = pins[requirement.name.lower()]
        assert requirement.specifier.contains(pinned), f"{requirement} refuses {pinned}"


def test_only_the_grader_is_installed_with_its_course_template():
    """Are the packages declared explicitly: grader/ and the course template it ships?"""
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["packages"] == ["grader", "grader.course_template"]
    assert setuptools["py-modules"] == ["graded_cells"]
    assert setuptools["package-dir"] == {"grader.course_template": "course"}
    assert PYPROJECT["project"]["scripts"]["cnn-grader"] == "grader.cli:main"


def source_copy(destination: Path) -> Path:
    """The repository's files as a fresh clone would have them, plus uncommitted work (what git
    tracks or would track), copied to ``destination``: pip builds there, not in the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (os.fsdecode(item) for item in listed)):
        source = REPO_ROOT / name
        if not (source.is_file() or source.is_symlink()):
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def run(command: list, *, cwd: Path, env: dict, timeout: float = 300) -> str:
    completed = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, (
        f"{command} exited {completed.returncode}:\n{completed.stdout[-3000:]}\n"
        f"{completed.stderr[-3000:]}"
    )
    return completed.stdout


def demo_totals(secret: bytes) -> dict[str, float]:
    """What `make demo` gives each student (README, "The demo": alice 140, bob 120, carol 120,
    dave 0, eve 0), graded here by the repository's own grader under ``secret``."""
    totals = {}
    for student, (example, _) in STUDENTS.items():
        if example is None:
            totals[student] = 0.0  # dave's empty file
        else:
            totals[student] = grade_notebook(REPO_ROOT / "examples" / example, secret=secret).total
    full = float(total_points())
    assert totals["alice"] == full and totals["dave"] == totals["eve"] == 0
    assert 0 < totals["bob"] < full and 0 < totals["carol"] < full
    return totals


def exported_totals(course: Path, env: dict) -> dict[str, float]:
    run(["nbgrader", "export", "--to=grades.csv"], cwd=course, env=env)
    with open(course / "grades.csv", newline="") as stream:
        return {row["student_id"]: float(row["raw_score"] or 0) for row in csv.DictReader(stream)}


@pytest.mark.slow
def test_a_fresh_install_grades_the_demo_like_make_demo(tmp_path):
    """In a fresh venv outside the repository, with nothing on PYTHONPATH: does `pip install`
    take under INSTALL_SECONDS, install the repository's public tests, and do nbgrader
    autograde, `cnn-grader grade` and `cnn-grader-parallel` on an `init-course` course (with a
    `cnn-grader secret` named in its configuration) give the demo's scores? Does the sandbox
    see nothing of the installed grader?"""
    venv = tmp_path / "venv"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "GRADER_SECRET", "GRADER_SECRET_FILE", "VIRTUAL_ENV")
    }
    # Only the fresh venv's tools: nbgrader runs the `alembic` found on PATH.
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    started = time.monotonic()
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path, env=env)
    source = source_copy(tmp_path / "source")
    run([venv / "bin" / "pip", "install", "--quiet", source], cwd=tmp_path, env=env)
    install_seconds = time.monotonic() - started
    print(f"fresh venv + pip install: {install_seconds:.0f} s")
    assert install_seconds < INSTALL_SECONDS

    # The installed grader is the repository's, its course template and public tests included.
    installed = Path(
        run(
            [
                venv / "bin" / "python",
                "-c",
                "import grader, os; print(os.path.dirname(grader.__file__))",
            ],
            cwd=tmp_path,
            env=env,
        ).strip()
    )
    assert installed.is_relative_to(venv)
    for module in (REPO_ROOT / "grader").glob("*.py"):
        assert (installed / module.name).read_bytes() == module.read_bytes(), module.name
    template = installed / "course_template" / "source" / ASSIGNMENT_ID
    for name in ("public_tests.py", "public_tests_data.npz", "graded_cells.py"):
        assert (template / name).read_bytes() == (REPO_ROOT / name).read_bytes(), name
    graded_cells = installed.parent / "graded_cells.py"  # imported by grader/extract.py
    assert graded_cells.read_bytes() == (REPO_ROOT / "graded_cells.py").read_bytes()
    for image in (REPO_ROOT / "images").iterdir():
        assert (template / "images" / image.name).read_bytes() == image.read_bytes()

    secret = tmp_path / "private" / "grader_secret"
    run(["cnn-grader", "secret", secret], cwd=tmp_path, env=env)
    run(["cnn-grader", "init-course", "course", "--secret-file", secret], cwd=tmp_path, env=env)
    course = tmp_path / "course"
    assert not any(path.is_symlink() for path in course.rglob("*"))
    expected = demo_totals(secret.read_text().strip().encode())
    run(["nbgrader", "generate_assignment", ASSIGNMENT_ID], cwd=course, env=env)
    notebooks = []
    for student, (example, _) in STUDENTS.items():
        target = course / "submitted" / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(
            b"" if example is None else (REPO_ROOT / "examples" / example).read_bytes()
        )
        notebooks.append(target.relative_to(course))

    log = run(["nbgrader", "autograde", ASSIGNMENT_ID], cwd=course, env=env)
    assert "development secret" not in log
    assert exported_totals(course, env) == expected

    run(["cnn-grader", "grade", *notebooks, "--csv", "cli.csv", "-q"], cwd=course, env=env)
    with open(course / "cli.csv", newline="") as stream:
        cli_totals = {row["student"]: float(row["total"]) for row in csv.DictReader(stream)}
    assert cli_totals == expected

    run(["cnn-grader-parallel", ".", "--jobs", "2", "--force", "-q"], cwd=course, env=env)
    assert exported_totals(course, env) == expected

    # The installed grader lives in the site-packages the sandbox sees: it must be empty there.
    probe = (
        "import subprocess\n"
        "from grader.bubblewrap import sandboxed_python_command\n"
        "code = 'import os, sys; print([os.listdir(p + \"/grader\") for p in sys.path'"
        ' \' if p.startswith("/sandbox/site-packages/") and os.path.isdir(p + "/grader")])\'\n'
        "print(subprocess.run(sandboxed_python_command(code), capture_output=True, text=True,"
        " check=True).stdout)"
    )
    assert run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=env).strip() == "[[]]"
