"""Tests of grader/intake.py and of its use by nbgrader (IntakeAutograde), grader.parallel and the
command line: can a submission folder make the grader read, copy or show anything but that
student's own notebook, stop the run for the others, or lose correct code its points by edited
nbgrader metadata?

Each attack is handed in by a student whose name sorts just before a student with a correct
notebook ("<case>" then "<case>_next"), so that the next submission nbgrader grades is known.
The first half checks the folder check itself (fast); the second half runs the real
``nbgrader autograde`` / ``generate_feedback``, ``python -m grader.parallel`` and
``python -m grader grade`` on throwaway courses (slow).
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import intake
from grader.demo import nbgrader_environment
from grader.exercises import ASSIGNMENT_ID, EXERCISES, NOTEBOOK_NAME
from grader.nbgrader_plugin import SUMMARY_KEY
from grader.parallel import autograde_parallel
from tests.course_fixture import grades_by_cell, hand_in, released_course, submission_path

# nbgrader's autograde runs in this process (grader.parallel): none of its SQLAlchemy warnings
# may come back (install_intake runs add_submission without autoflush, issue 9, item 6).
pytestmark = pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")

REPO_ROOT = Path(__file__).resolve().parent.parent
CORRECT = nbformat.read(REPO_ROOT / "examples" / "alice.ipynb", as_version=4)
FULL_MARKS = float(sum(exercise.points for exercise in EXERCISES))
# Written into the victim's solution: it must never appear in anyone else's files.
VICTIM_MARKER = "victim-only: 7f3c9a"
VICTIM = "zz_victim"
NBGRADER_TIMEOUT = 240  # seconds; a FIFO made nbgrader 0.9.6 wait for ever
TIMESTAMP = "2026-12-01 10:00:00.000000 UTC"
# Spelled out here rather than taken from grader.intake, so that the attacks can be handed in to
# (and shown to defeat) a grader without the intake.
NOTEBOOK_FILE = f"{NOTEBOOK_NAME}.ipynb"
TIMESTAMP_FILE = "timestamp.txt"


def folder_of(tmp_path: Path, student: str = "mallory") -> Path:
    folder = tmp_path / "submitted" / student / ASSIGNMENT_ID
    folder.mkdir(parents=True)
    return folder


def good_notebook(folder: Path) -> Path:
    path = folder / intake.NOTEBOOK_FILE
    nbformat.write(CORRECT, str(path))
    return path


def can_make_devices() -> bool:
    return os.geteuid() == 0


# --- the folder check ----------------------------------------------------------------------------


def test_a_folder_holding_the_notebook_and_its_timestamp_is_accepted(tmp_path):
    """Is an ordinary submission (notebook, timestamp, checkpoints folder) taken?"""
    folder = folder_of(tmp_path)
    good_notebook(folder)
    (folder / intake.TIMESTAMP_FILE).write_text("2026-12-01 10:00:00.000000 UTC")
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "assignment-checkpoint.ipynb").write_text("{}")
    assert intake.check_submission_folder(folder) == []
    assert intake.ignored_files(folder) == [".ipynb_checkpoints/assignment-checkpoint.ipynb"]


def test_extra_regular_files_are_not_refused_but_ignored(tmp_path):
    """Is evil.html beside the notebook listed as not taken, without refusing the notebook?"""
    folder = folder_of(tmp_path)
    good_notebook(folder)
    (folder / "evil.html").write_text("<script>alert(1)</script>")
    assert intake.check_submission_folder(folder) == []
    assert intake.ignored_files(folder) == ["evil.html"]


def _symlink_to_gradebook(folder: Path) -> str:
    (folder / "loot.db").symlink_to("../../../gradebook.db")
    return "loot.db is a symbolic link"


def _symlinked_notebook(folder: Path) -> str:
    (folder / intake.NOTEBOOK_FILE).symlink_to("../../bob/cnn_step_by_step/assignment.ipynb")
    return "assignment.ipynb is a symbolic link"


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / intake.NOTEBOOK_FILE)
    return "assignment.ipynb is a FIFO"


def _hard_link(folder: Path) -> str:
    outside = folder.parent.parent / "outside.db"
    outside.write_bytes(b"SQLite format 3\0")
    os.link(outside, folder / "loot.db")
    return "loot.db is a hard link (the file has 2 names)"


def _socket(folder: Path) -> str:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(folder / "s"))
    return "s is a socket"


def _link_in_subfolder(folder: Path) -> str:
    (folder / "notes").mkdir()
    (folder / "notes" / "zero").symlink_to("/dev/zero")
    return "notes/zero is a symbolic link"


def _oversized_notebook(folder: Path) -> str:
    with open(folder / intake.NOTEBOOK_FILE, "wb") as stream:  # sparse: costs no disk
        stream.truncate(intake.MAX_NOTEBOOK_BYTES + 1)
    return "assignment.ipynb is too large"


def _device(folder: Path) -> str:
    if not can_make_devices():
        pytest.skip("mknod needs root")
    os.mknod(folder / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    return "zero is a device"


def _too_many_files(folder: Path) -> str:
    for index in range(intake.MAX_FOLDER_ENTRIES + 1):
        (folder / f"{index}.txt").touch()
    return f"more than {intake.MAX_FOLDER_ENTRIES} files"


@pytest.mark.parametrize(
    "make",
    [
        _symlink_to_gradebook,
        _symlinked_notebook,
        _fifo,
        _hard_link,
        _socket,
        _link_in_subfolder,
        _oversized_notebook,
        _device,
        _too_many_files,
    ],
)
def test_anything_but_regular_files_of_their_own_refuses_the_folder(tmp_path, make):
    """Is each kind of non-file (and an oversized notebook) a named problem, found by lstat
    alone (a FIFO is not opened: the check returns)?"""
    folder = folder_of(tmp_path)
    if make not in (_symlinked_notebook, _fifo, _oversized_notebook):
        good_notebook(folder)
    expected = make(folder)
    problems = intake.check_submission_folder(folder)
    assert any(expected in problem for problem in problems), problems
    assert expected in intake.refusal_reason(problems)


def test_a_student_folder_that_is_a_link_to_another_is_refused(tmp_path):
    """Is submitted/mallory -> bob (nbgrader would grade bob's work as mallory's) refused?"""
    good_notebook(folder_of(tmp_path, "bob"))
    (tmp_path / "submitted" / "mallory").symlink_to("bob")
    problems = intake.check_submission_folder(tmp_path / "submitted" / "mallory" / ASSIGNMENT_ID)
    assert problems == ["the student folder mallory is a symbolic link, not a folder"]


def test_read_regular_file_refuses_a_hard_link(tmp_path):
    """Does the one reader refuse a file with two names (it may be another student's)?"""
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    with pytest.raises(intake.IntakeError, match="hard link"):
        intake.read_regular_file(tmp_path / "b", 100)


def test_check_notebook_file_refuses_links_fifos_and_devices_but_not_a_missing_path(tmp_path):
    """The command line's check: named problems for non-files, nothing for a missing path (the
    grader says it is missing) or an ordinary notebook."""
    os.mkfifo(tmp_path / "fifo.ipynb")
    (tmp_path / "zero.ipynb").symlink_to("/dev/zero")
    assert "FIFO" in intake.check_notebook_file(tmp_path / "fifo.ipynb")[0]
    assert "symbolic link" in intake.check_notebook_file(tmp_path / "zero.ipynb")[0]
    assert intake.check_notebook_file(tmp_path / "missing.ipynb") == []
    assert intake.check_notebook_file(good_notebook(tmp_path)) == []


# --- the attacks, handed in to a real course -----------------------------------------------------
#
# case -> (what to hand in, words the refusal must contain; None: accepted, graded normally)


def _hand_in_link_to_victim(course: Path, student: str) -> None:
    path = submission_path(course, student)
    path.parent.mkdir(parents=True)
    path.symlink_to(f"../../{VICTIM}/{ASSIGNMENT_ID}/{NOTEBOOK_FILE}")


def _hand_in_links_beside(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    (folder / "loot.db").symlink_to("../../../gradebook.db")
    (folder / "bob.ipynb").symlink_to(f"../../{VICTIM}/{ASSIGNMENT_ID}/{NOTEBOOK_FILE}")


def _hand_in_extra_file(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    (folder / "evil.html").write_text("<script>alert('evil.html')</script>")
    (folder / TIMESTAMP_FILE).write_text(TIMESTAMP)  # as nbgrader's exchange writes it


def _hand_in_fifo(course: Path, student: str) -> None:
    path = submission_path(course, student)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)


def _hand_in_timestamp_fifo(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    os.mkfifo(folder / TIMESTAMP_FILE)


def _hand_in_dev_zero(course: Path, student: str) -> None:
    path = submission_path(course, student)
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")


def _hand_in_dev_zero_beside(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    (folder / "data.bin").symlink_to("/dev/zero")


def _hand_in_hard_link(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    os.link(course / "gradebook.db", folder / "loot.db")


def _hand_in_device(course: Path, student: str) -> None:
    folder = hand_in(course, student, CORRECT).parent
    os.mknod(folder / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))


ATTACKS = {
    "a1_link_to_victim": (_hand_in_link_to_victim, "assignment.ipynb is a symbolic link"),
    "a2_links_beside": (_hand_in_links_beside, "loot.db is a symbolic link"),
    "a3_extra_file": (_hand_in_extra_file, None),
    "a4_dev_zero": (_hand_in_dev_zero, "assignment.ipynb is a symbolic link"),
    "a5_dev_zero_beside": (_hand_in_dev_zero_beside, "data.bin is a symbolic link"),
    "a6_hard_link": (_hand_in_hard_link, "loot.db is a hard link"),
    "a7_device": (_hand_in_device, "zero is a device"),
}
BLOCKING = {
    "b1_fifo": (_hand_in_fifo, "assignment.ipynb is a FIFO"),
    "b2_timestamp_fifo": (_hand_in_timestamp_fifo, "timestamp.txt is a FIFO"),
}


def hand_in_attacks(course: Path, attacks: dict) -> None:
    victim = copy.deepcopy(CORRECT)
    solution = next(c for c in victim.cells if c.metadata.get("nbgrader", {}).get("solution"))
    solution.source = f"# {VICTIM_MARKER}\n{solution.source}"
    hand_in(course, VICTIM, victim)
    for case, (make, _) in attacks.items():
        if make is _hand_in_device and not can_make_devices():
            continue
        make(course, case)
        hand_in(course, f"{case}_next", CORRECT)


def run_nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``course``, killed (with everything it started) after
    NBGRADER_TIMEOUT seconds: a run that hangs fails the test instead of hanging it."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    process = subprocess.Popen(
        command,
        cwd=course,
        env=nbgrader_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=NBGRADER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"nbgrader {' '.join(args)} still running after {NBGRADER_TIMEOUT} s")
    return subprocess.CompletedProcess(command, process.returncode, output)


def autograde_and_feedback(root: Path, attacks: dict) -> tuple[Path, str]:
    course = released_course(root)
    hand_in_attacks(course, attacks)
    log = run_nbgrader(course, "autograde", ASSIGNMENT_ID).stdout
    log += run_nbgrader(course, "generate_feedback", ASSIGNMENT_ID).stdout
    return course, log


@pytest.fixture(scope="module")
def attacked_course(tmp_path_factory):
    """A course whose submissions include every non-blocking attack, autograded by nbgrader."""
    return autograde_and_feedback(tmp_path_factory.mktemp("attacks"), ATTACKS)


@pytest.fixture(scope="module")
def blocked_course(tmp_path_factory):
    """A course with a FIFO for a notebook and one for a timestamp, autograded by nbgrader."""
    return autograde_and_feedback(tmp_path_factory.mktemp("fifo"), BLOCKING)


def total(course: Path, student: str) -> float:
    return sum(grade["auto_score"] or 0.0 for grade in grades_by_cell(course, student).values())


def flagged(course: Path, student: str) -> bool:
    return all(grade["needs_manual_grade"] for grade in grades_by_cell(course, student).values())


def source_files(course: Path) -> set[str]:
    """What nbgrader copies from the course's own source folder (the instructor's files)."""
    source = course / "source" / ASSIGNMENT_ID
    return {
        str(path.relative_to(source))
        for path in source.rglob("*")
        if path.is_file() and path.suffix != ".ipynb"
    }


def assert_nothing_taken_from_outside(course: Path, student: str) -> None:
    """Only the student's own (or stub) notebook, its feedback page, nbgrader's timestamp and
    the course's own source files are in autograded/ and feedback/: no gradebook bytes, nothing
    of the victim's, no file the student added."""
    allowed = source_files(course) | {
        NOTEBOOK_FILE,
        "assignment.html",
        TIMESTAMP_FILE,
    }
    for top in ("autograded", "feedback"):
        folder = course / top / student / ASSIGNMENT_ID
        assert folder.is_dir(), f"{top}/{student} missing"
        for path in folder.rglob("*"):
            assert not path.is_symlink(), path
            if path.is_dir():
                continue
            assert stat.S_ISREG(path.lstat().st_mode), path
            name = str(path.relative_to(folder))
            assert name in allowed, f"{top}/{student}/{name} came from the submission"
            data = path.read_bytes()
            assert not data.startswith(b"SQLite format 3"), f"gradebook bytes in {path}"
            assert VICTIM_MARKER.encode() not in data, f"the victim's code in {path}"
            assert b"evil.html" not in data, f"the extra file's content in {path}"


def refusal_of(course: Path, student: str) -> str:
    """The submission-level error the autograded notebook records (its grader summary)."""
    path = course / "autograded" / student / ASSIGNMENT_ID / NOTEBOOK_FILE
    summary = nbformat.read(str(path), as_version=4).metadata.get(SUMMARY_KEY, {})
    return summary.get("error") or ""


def check_case(course: Path, case: str, expected: str | None) -> None:
    if expected is None:  # accepted: graded as usual, nothing else taken but the timestamp
        assert total(course, case) == FULL_MARKS
        assert not flagged(course, case)
        timestamp = course / "autograded" / case / ASSIGNMENT_ID / TIMESTAMP_FILE
        assert timestamp.read_text().strip() == TIMESTAMP
    else:
        assert total(course, case) == 0.0
        assert flagged(course, case), "a refused submission must be flagged for manual grading"
        assert expected in refusal_of(course, case)
        page = (course / "feedback" / case / ASSIGNMENT_ID / "assignment.html").read_text()
        assert expected in page, "the feedback page must say why"
    assert_nothing_taken_from_outside(course, case)
    next_student = f"{case}_next"
    assert total(course, next_student) == FULL_MARKS, f"{next_student} was not graded normally"
    assert not flagged(course, next_student)
    assert_nothing_taken_from_outside(course, next_student)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_nbgrader_autograde_refuses_the_attack_alone(attacked_course, case):
    """Does ``nbgrader autograde`` with the course's configuration refuse this submission alone
    (0, flagged, the reason on its feedback page), grade the next student normally, and copy
    nothing from outside the submission folder into autograded/ or feedback/?"""
    course, _ = attacked_course
    make, expected = ATTACKS[case]
    if make is _hand_in_device and not can_make_devices():
        pytest.skip("mknod needs root")
    check_case(course, case, expected)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(BLOCKING))
def test_nbgrader_autograde_does_not_wait_on_a_fifo(blocked_course, case):
    """Does a FIFO for a notebook or for its timestamp cost that student alone, instead of
    blocking the run for good (nbgrader 0.9.6 opened it and waited: every later student
    ungraded)?"""
    course, _ = blocked_course
    check_case(course, case, BLOCKING[case][1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_victim_keeps_their_grade_and_the_log_names_ignored_files(attacked_course):
    """Is the student whose notebook was linked to graded as usual, and does nbgrader's log
    say which extra file it left behind and why each refused submission was refused?"""
    course, log = attacked_course
    assert total(course, VICTIM) == FULL_MARKS
    assert "not carried into autograded: evil.html" in log
    refused = [line for line in log.splitlines() if "Refused the submission of a2_links" in line]
    assert len(refused) == 1 and "loot.db is a symbolic link" in refused[0]
    assert "bob.ipynb is a symbolic link" in refused[0]


# --- the same attacks through grader.parallel and the command line -------------------------------


@pytest.fixture(scope="module")
def parallel_course(tmp_path_factory):
    """Every attack, the FIFO included, autograded by ``grader.parallel`` (in this process)."""
    course = released_course(tmp_path_factory.mktemp("parallel"))
    hand_in_attacks(course, {**ATTACKS, **BLOCKING})
    status = autograde_parallel(course, jobs=2, progress=False)
    return course, status


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grader_parallel_refuses_each_attack_alone(parallel_course):
    """Does the parallel batch give the same outcome as nbgrader alone for every attack (its
    pre-grading never opens a refused submission: the FIFO does not block it)?"""
    course, status = parallel_course
    assert status == 0
    assert total(course, VICTIM) == FULL_MARKS
    for case, (make, expected) in {**ATTACKS, **BLOCKING}.items():
        if make is _hand_in_device and not can_make_devices():
            continue
        assert total(course, case) == (FULL_MARKS if expected is None else 0.0), case
        assert flagged(course, case) == (expected is not None), case
        if expected is not None:
            assert expected in refusal_of(course, case), case
        assert total(course, f"{case}_next") == FULL_MARKS, case
        autograded = course / "autograded" / case / ASSIGNMENT_ID
        names = {path.name for path in autograded.iterdir()}
        assert names <= source_files(course) | {
            NOTEBOOK_FILE,
            TIMESTAMP_FILE,
            "images",
        }, case


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_command_line_gives_each_attack_an_error_grade_with_the_reason(tmp_path):
    """Does ``python -m grader grade`` give a linked, FIFO or device notebook (and one in a
    refused submission folder) 0 with the reason instead of reading it, or hanging on it,
    and grade every other notebook as usual?"""
    course = tmp_path / "course"
    course.mkdir()
    (course / "gradebook.db").write_bytes(b"SQLite format 3\0")  # what the links point at
    hand_in_attacks(course, {**ATTACKS, **BLOCKING})
    students = sorted(path.name for path in (course / "submitted").iterdir())
    paths = [str(submission_path(course, student)) for student in students]
    environment = dict(os.environ, GRADER_SECRET="test")
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", *paths, "--json", "--quiet"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=NBGRADER_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    grades = {json.loads(line)["student"]: json.loads(line) for line in result.stdout.splitlines()}
    assert grades[VICTIM]["total"] == FULL_MARKS
    for case, (make, expected) in {**ATTACKS, **BLOCKING}.items():
        if make is _hand_in_device and not can_make_devices():
            continue
        if expected is None:
            assert grades[case]["total"] == FULL_MARKS and grades[case]["error"] is None
        else:
            assert grades[case]["total"] == 0.0, case
            assert expected in grades[case]["error"], case
        assert grades[f"{case}_next"]["total"] == FULL_MARKS, case


# --- edited nbgrader metadata --------------------------------------------------------------------

TEST_CELL = "conv_forward_test"


def _cell(notebook, grade_id: str) -> dict:
    cell = next(
        cell
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    return cell


def _to_markdown(notebook) -> None:
    cell = _cell(notebook, TEST_CELL)
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)


def _edit(cell_id: str, **changes):
    return lambda notebook: _cell(notebook, cell_id).metadata.nbgrader.update(changes)


def _drop_schema(notebook) -> None:
    del _cell(notebook, TEST_CELL).metadata.nbgrader["schema_version"]


def _metadata_not_a_mapping(notebook) -> None:
    _cell(notebook, TEST_CELL).metadata["nbgrader"] = ["grade"]


TAMPERINGS = {
    "m01_solution_true": _edit(TEST_CELL, solution=True),
    "m02_grade_id_list": _edit(TEST_CELL, grade_id=[TEST_CELL]),
    "m03_points_string": _edit(TEST_CELL, points="40"),
    "m04_points_negative": _edit(TEST_CELL, points=-40),
    "m05_grade_yes": _edit(TEST_CELL, grade="yes"),
    "m06_schema_version_missing": _drop_schema,
    "m07_test_cell_markdown": _to_markdown,
    "m08_test_cell_has_solution_id": _edit(TEST_CELL, grade_id="conv_forward"),
    "m09_solution_cell_has_test_id": _edit("conv_forward", grade_id=TEST_CELL),
    "m10_metadata_not_a_mapping": _metadata_not_a_mapping,
    "m11_test_cell_unlocked_task": _edit(TEST_CELL, locked=False, task=True),
    "m12_solution_cell_graded": _edit("conv_forward", grade=True, points=1000),
    "m13_grade_id_number": _edit(TEST_CELL, grade_id=7),
    "m14_schema_version_99": _edit(TEST_CELL, schema_version=99),
}


@pytest.fixture(scope="module")
def tampered_course(tmp_path_factory):
    """Correct code with its nbgrader metadata edited, one edit per student, autograded."""
    course = released_course(tmp_path_factory.mktemp("tampered"))
    for student, edit in TAMPERINGS.items():
        notebook = copy.deepcopy(CORRECT)
        edit(notebook)
        hand_in(course, student, notebook)
    log = run_nbgrader(course, "autograde", ASSIGNMENT_ID).stdout
    return course, log


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("student", sorted(TAMPERINGS))
def test_correct_code_with_edited_metadata_keeps_full_marks(tampered_course, student):
    """Does correct code keep full marks (no failed submission, no silent 0) whatever was
    done to its cells' nbgrader metadata, flagged for manual grading with the repair named in the
    run's closing list (issue 9, item 7: a repaired submission must not pass unseen)?"""
    course, log = tampered_course
    assert total(course, student) == FULL_MARKS
    grades = grades_by_cell(course, student).values()
    assert all(grade["needs_manual_grade"] for grade in grades)
    closing = log[log.index("submissions need manual grading") :]
    assert re.search(rf"\]   {student}: .*(restored|put back|ignored)", closing)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_each_metadata_repair_is_logged(tampered_course):
    """Does nbgrader's log say which cell's metadata was restored or dropped?"""
    _, log = tampered_course
    assert "Cell conv_forward_test: nbgrader metadata edited (solution)" in log
    assert "nbgrader metadata without a grade_id dropped" in log
    assert "There was an error processing" not in log


def test_exact_student_glob_matches_its_own_folder_only_and_survives_nbgraders_strip(tmp_path):
    """Does the --student glob of every id match that id's folder alone, even after nbgrader
    strips the surrounding whitespace off --student ("bob " must not grade "bob")?"""
    import glob

    from grader.intake import exact_student_glob

    names = ["bob", "bob ", " bob", "x*", "xy", "a[1]", "a1", "?", "tab\t"]
    for name in names:
        (tmp_path / name).mkdir()
    for name in names:
        pattern = exact_student_glob(name).strip()  # as nbgrader's student_id validator leaves it
        assert glob.glob(glob.escape(str(tmp_path)) + "/" + pattern) == [str(tmp_path / name)]


def test_exact_student_glob_survives_nbgraders_command_line(tmp_path, monkeypatch):
    """Does the --student glob of every id, read by nbgrader's own command line (traitlets, which
    takes quotes off a value "bob" and expands ~user, then strips whitespace), name that id's
    submission folder alone? A folder '"bob"' graded bob's notebook; '~root' globbed /root."""
    import glob

    from nbgrader.apps.autogradeapp import AutogradeApp

    from grader.intake import exact_student_glob

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    names = ['"bob"', "'bob'", "bob", "~", "~root", "root", ' "bob" ', "'", "home"]
    for name in names:
        (tmp_path / "submitted" / name / "ps1").mkdir(parents=True)
    for name in names:
        app = AutogradeApp()
        app.initialize(
            ["ps1", f"--student={exact_student_glob(name)}", f"--CourseDirectory.root={tmp_path}"]
        )
        pattern = app.coursedir.format_path(
            app.coursedir.submitted_directory, app.coursedir.student_id, "ps1"
        )
        assert glob.glob(pattern) == [str(tmp_path / "submitted" / name / "ps1")], name
