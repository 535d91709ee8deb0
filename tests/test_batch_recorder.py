"""Tests of grader/batch_recorder.py: does a worker thread's long-lived nbgrader process record
batch after batch as separate runs would, get replaced when it dies, is old, or belongs to other
code, and do the gradebooks of a batch share one database connection?"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from grader import batch_recorder
from grader.batch_recorder import Recorder, recorder_for
from grader.demo import EXAMPLES
from grader.executor import grader_version
from grader.exercises import ASSIGNMENT_ID
from tests.course_fixture import hand_in, released_course
from tests.test_postgres import postgres_url  # noqa: F401 - the module's throwaway server


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A released course (SQLite gradebook) with alice's correct and dave's empty submission, and
    bob's as "x*" and "xy"."""
    course = released_course(tmp_path_factory.mktemp("recorder"))
    hand_in(course, "alice", nbformat.read(EXAMPLES / "alice.ipynb", as_version=4))
    hand_in(course, "dave", b"")
    for student in ("x*", "xy"):
        hand_in(course, student, nbformat.read(EXAMPLES / "bob.ipynb", as_version=4))
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in ("alice", "dave", "x*", "xy"):
            gradebook.update_or_create_student(student)
    return course


def score(course, student: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission(ASSIGNMENT_ID, student).score


def test_one_process_records_batch_after_batch(course):
    """Does one child grade and record two batches in turn, as separate nbgrader runs would
    (alice 140; dave's empty notebook flagged, not an error), without being restarted?"""
    recorder = Recorder(str(course), grader_version())
    try:
        first = recorder.autograde(ASSIGNMENT_ID, "WARN", ["alice"])
        pid = recorder.process.pid
        second = recorder.autograde(ASSIGNMENT_ID, "WARN", ["dave", "alice"])
        assert recorder.alive() and recorder.process.pid == pid
    finally:
        recorder.stop()
    assert first == {"alice": {"status": 0, "reasons": []}}
    assert second["alice"] == {"status": 0, "reasons": []}
    assert "error" not in second["dave"] and second["dave"]["reasons"]
    assert score(course, "alice") == 140 and score(course, "dave") == 0


def test_a_child_killed_mid_batch_is_an_error_and_is_replaced(course):
    """Is a student whose recording process was killed mid-batch an error (even with an
    autograded folder from before), and does the thread's next batch get a new process?"""
    recorder = recorder_for(str(course), grader_version())
    pid = recorder.process.pid
    threading.Timer(2.0, os.kill, (pid, signal.SIGKILL)).start()
    answers = recorder.autograde(ASSIGNMENT_ID, "WARN", ["alice"])
    assert set(answers["alice"]) == {"error"}
    assert "recording process ended (status -9)" in answers["alice"]["error"]
    fresh = recorder_for(str(course), grader_version())
    try:
        assert fresh.process.pid != pid
        assert fresh.autograde(ASSIGNMENT_ID, "WARN", ["alice"])["alice"]["status"] == 0
    finally:
        fresh.stop()


def test_a_recorder_is_replaced_for_other_code_another_course_or_old_age(course, monkeypatch):
    """Does a thread get a new process when the grader version or the course differs, or after
    STUDENTS_PER_RECORDER students, and keep its process otherwise?"""
    monkeypatch.setattr(batch_recorder, "STUDENTS_PER_RECORDER", 2)
    version = grader_version()
    first = recorder_for(str(course), version)
    try:
        assert recorder_for(str(course), version) is first
        first.students = 2
        aged = recorder_for(str(course), version)
        assert aged is not first and not first.alive()
        other = recorder_for(str(course), "0" * 16)
        assert other is not aged and not aged.alive()
        elsewhere = recorder_for(str(course.parent), version)
        assert elsewhere is not other and not other.alive()
    finally:
        recorder_for(str(course), version).stop()


def test_a_child_of_other_code_refuses_to_grade(course):
    """Does a child whose grader is not the task's version exit at once, the batch an error that
    says so, nothing recorded?"""
    recorder = Recorder(str(course), "0" * 16)
    answers = recorder.autograde(ASSIGNMENT_ID, "WARN", ["alice"])
    recorder.stop()
    assert "is not the task's 0000000000000000" in answers["alice"]["error"]
    assert recorder.process.returncode == 1


def test_an_idle_child_exits_by_itself(course):
    """Does a child left without work exit after its idle time (no process lingers on a worker
    between runs)?"""
    recorder = Recorder(str(course), grader_version(), idle_seconds=0.5)
    try:
        recorder.process.wait(timeout=60)
    finally:
        recorder.stop()
    assert recorder.process.returncode == 0


@pytest.fixture
def nbgrader_gradebook(postgres_url, monkeypatch):  # noqa: F811
    """The gradebook's tables created in ``postgres_url`` (nbgrader runs the ``alembic`` found on
    PATH); nbgrader's own Gradebook methods back after the test."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    Gradebook(postgres_url).close()
    methods = Gradebook.__init__, Gradebook.close
    yield Gradebook
    Gradebook.__init__, Gradebook.close = methods
    batch_recorder.close_gradebook_connections()


def connections_opened(url: str, opens: int) -> int:
    """How many database connections ``opens`` Gradebooks opened (one kept open while the others
    come and go, as nbgrader nests them), each writing and reading a student."""
    from nbgrader.api import Gradebook
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    opened = []

    def count(*_):
        opened.append(1)

    event.listen(Pool, "connect", count)
    try:
        with Gradebook(url) as outer:
            for index in range(opens):
                with Gradebook(url) as inner:
                    inner.update_or_create_student(f"s{index}", first_name="x")
                    assert outer.find_student(f"s{index}").first_name == "x"
    finally:
        event.remove(Pool, "connect", count)
    return len(opened)


@pytest.mark.postgres
def test_the_gradebooks_of_a_batch_share_one_connection(postgres_url, nbgrader_gradebook):  # noqa: F811
    """Do ten nbgrader Gradebooks opened in a batch use two connections (the outer one and a
    reused inner one) where nbgrader alone opens eleven, see each other's commits, and leave no
    connection open once the batch is over?"""
    from sqlalchemy import create_engine, text

    assert connections_opened(postgres_url, 10) == 11  # nbgrader's own: one per Gradebook
    batch_recorder.reuse_gradebook_connections()
    assert connections_opened(postgres_url, 10) == 2
    batch_recorder.close_gradebook_connections()
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        others = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    engine.dispose()
    assert others == 0


FORGING_CHILD = r"""
import json, sys
request = json.loads(sys.stdin.readline())
nonce = request["nonce"]
forged = json.dumps({"student": "alice", "status": 0, "reasons": []})
print("cluster-autograde-done")  # the markers of old, and a result under another nonce
print("0" * 32 + " result " + forged)
print("\x1b]0;pwned\x07\x1b[2J a log line from a submission")
print(nonce + " result " + json.dumps({"student": "alice", "status": 1, "reasons": []}))
print(nonce + " result " + json.dumps({"student": "bob", "status": 0, "reasons": ["why"]}))
print(nonce + " done", flush=True)
sys.stdin.readline()
"""


def test_log_lines_cannot_pass_for_results_or_reach_the_terminal_raw(tmp_path):
    """Do lines a submission could get into nbgrader's log (a result under a guessed nonce, the
    end of a batch) count for nothing, and do the log lines kept for an error lose their
    terminal escape sequences?"""
    import subprocess

    (tmp_path / "autograded" / "alice" / "another_assignment").mkdir(parents=True)
    recorder = Recorder.__new__(Recorder)
    recorder.course, recorder.version, recorder.students = str(tmp_path), "v", 0
    recorder.listen(
        subprocess.Popen(
            [sys.executable, "-c", FORGING_CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
    )
    try:
        answers = recorder.autograde(ASSIGNMENT_ID, "WARN", ["alice", "bob"])
    finally:
        recorder.stop()
    assert answers["bob"] == {"status": 0, "reasons": ["why"]}
    # its real result: exited 1, nothing autograded for this assignment (another's is no proof)
    error = answers["alice"]["error"]
    assert error.startswith("nbgrader autograde exited 1: ")
    assert "a log line from a submission" in error and "cluster-autograde-done" in error
    assert "\x1b" not in error and "\x07" not in error


def test_a_student_id_that_looks_like_a_glob_names_that_student_only(course):
    """nbgrader's --student is a glob: does grading the student "x*" leave "xy" alone (no
    second student graded, or two workers writing one student's rows at once)?"""
    recorder = Recorder(str(course), grader_version())
    try:
        answers = recorder.autograde(ASSIGNMENT_ID, "WARN", ["x*"])
    finally:
        recorder.stop()
    assert answers == {"x*": {"status": 0, "reasons": []}}
    assert (course / "autograded" / "x*").is_dir()
    assert not (course / "autograded" / "xy").exists()


def test_each_worker_thread_has_its_own_recorder(course):
    """A worker of several threads grades several batches at once: does each thread get its own
    nbgrader process (never two batches on one process's pipe)?"""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(2)

    def recorder_of_this_thread(_):
        barrier.wait()  # both threads alive together: distinct thread ids
        return recorder_for(str(course), grader_version())

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(recorder_of_this_thread, range(2))
    try:
        assert first is not second
        assert first.process.pid != second.process.pid
    finally:
        first.stop()
        second.stop()


def test_a_child_that_stops_answering_frees_its_worker_thread(course, monkeypatch):
    """A batch's child that hangs (stopped here; a stuck database lock or filesystem would do the
    same) must not hold its worker thread forever: is each student of the batch an error once
    the batch's time (SECONDS_PER_STUDENT each) is over, and is the child replaced?"""
    monkeypatch.setattr(batch_recorder, "SECONDS_PER_STUDENT", 2.0, raising=False)
    recorder = Recorder(str(course), grader_version())
    os.kill(recorder.process.pid, signal.SIGSTOP)
    answers = {}
    worker = threading.Thread(
        target=lambda: answers.update(recorder.autograde(ASSIGNMENT_ID, "WARN", ["alice", "x*"])),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=60)
    hung = worker.is_alive()
    if hung:  # the current code: free the thread and the child
        recorder.process.kill()
        worker.join(timeout=60)
    recorder.stop()
    assert not hung, "the worker thread was still waiting for its stopped child after 60 s"
    assert not recorder.alive()
    for student in ("alice", "x*"):
        assert set(answers[student]) == {"error"}
        assert "no answer within 4 s (killed)" in answers[student]["error"]
