"""Do the README's instructor commands run as written, from the folder they name?

The ```bash blocks of the instructor sections are read out of README.md itself (so the test
follows the README as it changes) and run line by line, as an instructor would type them, in a
temporary copy of the repository's course: ``source .venv/bin/activate`` is this test's PATH,
``cd`` moves the folder the next lines run in, the "# collect:" comment is where the demo's
example submissions are handed in, and every other line must exit 0. Then the gradebook must
hold the demo's scores, and the files the comments promise must exist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.demo import STUDENTS, create_course, submit
from grader.exercises import ASSIGNMENT_ID

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
EXAMPLES = REPO_ROOT / "examples"


def bash_block(heading: str) -> list[str]:
    """The lines of the first ```bash block after the README heading ``heading``."""
    text = README.read_text()
    start = text.index(f"\n{heading}\n")
    match = re.search(r"```bash\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no bash block under {heading!r}"
    return match.group(1).splitlines()


def environment(home: Path) -> dict[str, str]:
    """This venv first on PATH (what ``source .venv/bin/activate`` gives), a private HOME, no
    course secret from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_SECRET")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOME"] = str(home)
    return env


def run_block(lines: list[str], cwd: Path, env: dict, on_comment=lambda comment, cwd: None):
    """Run ``lines`` as typed: returns the folder the block ends in."""
    for line in lines:
        command, _, comment = line.partition("#")
        command = command.strip()
        if not command:
            on_comment(comment.strip(), cwd)
            continue
        if command.startswith("source "):
            assert (REPO_ROOT / command.split()[1]).exists(), command
            continue
        if command.startswith("cd ") and "&&" not in command:
            target = command[3:].strip()
            if target.startswith("~/"):
                cwd = Path(env["HOME"]) / target[2:]
            else:
                cwd = (cwd / target).resolve()
            continue
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (command, result.stdout[-3000:], result.stderr[-3000:])
    return cwd


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """The README's "Autograding with nbgrader" block run in a copy of the repository's course,
    the demo's examples handed in at its "# collect:" line: (the course folder, the env)."""
    root = tmp_path_factory.mktemp("readme")
    create_course(root / "course")
    env = environment(root / "home")
    (root / "home").mkdir()

    def collect(comment: str, cwd: Path) -> None:
        if comment.startswith("collect:"):
            for student, (example, _) in STUDENTS.items():
                submit(cwd, student, None if example is None else EXAMPLES / example)

    course = run_block(bash_block("## Autograding with nbgrader (instructors)"), root, env, collect)
    return course, env


def test_the_autograding_commands_run_as_written_and_grade_the_demo(graded_course):
    """Does every line of the nbgrader block exit 0 from the folder it names, and do the
    gradebook, the feedback pages, the export and the analytics exist as its comments say?"""
    course, _ = graded_course
    assert course.name == "course"
    export = (course / "grades.csv").read_text()
    for student in STUDENTS:
        assert student in export
        feedback = course / "feedback" / student / ASSIGNMENT_ID / "assignment.html"
        assert feedback.is_file(), feedback
    assert (course / "analytics" / "analytics.html").is_file()


def test_grading_without_a_gradebook_runs_as_written(graded_course, tmp_path):
    """Do the "Grading without a gradebook" lines run in the course folder (with a
    submission.ipynb there, as their placeholder says) and write the CSV they name?"""
    course, env = graded_course
    shutil.copyfile(EXAMPLES / "alice.ipynb", course / "submission.ipynb")
    run_block(bash_block("### Grading without a gradebook"), course, env)
    assert "alice" in (course / "grades.csv").read_text()


def test_installing_a_course_anywhere_runs_as_written(tmp_path):
    """Do the "Installing the grader; a course anywhere" lines (a secret, a course made by
    init-course in HOME, generate_assignment there) run with the installed cnn-grader?"""
    home = tmp_path / "home"
    home.mkdir()
    run_block(bash_block("### Installing the grader; a course anywhere"), home, environment(home))
    course = home / "cnn_step_by_step"
    assert (course / "release" / ASSIGNMENT_ID / "assignment.ipynb").is_file()
    secret = home / ".config" / "cnn-grader" / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600


def layout_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Layout: one folder per audience")
    return text[start : text.index("\n## ", start + 3)]


def test_the_layout_names_every_top_level_folder_and_every_grader_module():
    """Does "Layout" have a row for every folder the repository tracks and name every module of
    grader/ (a module added without a word there is a module a newcomer cannot place)?"""
    section = layout_section()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    folders = {path.split("/")[0] for path in tracked if "/" in path} - {".ci"}
    rows = set(re.findall(r"^\| `([\w.-]+)/", section, flags=re.MULTILINE))
    assert folders <= rows, f"folders without a row in Layout: {sorted(folders - rows)}"
    modules = {
        path.name for path in (REPO_ROOT / "grader").glob("*.py") if not path.name.startswith("_")
    }
    named = set(re.findall(r"`(\w+\.py)`", section))
    assert modules <= named, f"grader modules Layout does not name: {sorted(modules - named)}"
