"""Tests of grader/cluster_autograde.py: does a Dask cluster whose workers each record their
students into a PostgreSQL gradebook give what one sequential ``nbgrader autograde`` gives, even
when a worker is killed mid-run, and does a second run grade only what is missing?"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from distributed import Client

from grader.cluster_autograde import autograde_on_cluster
from grader.demo import create_course
from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME
from grader.parallel import main
from tests.course_fixture import hand_in, nbgrader
from tests.local_cluster import local_cluster
from tests.postgres_server import another_database
from tests.test_parallel import STUDENTS, submissions, test_outputs
from tests.test_postgres import postgres_url  # noqa: F401 - the module's throwaway server

pytestmark = pytest.mark.postgres


def course_on(root: Path, url: str) -> Path:
    """A released course whose gradebook is the database at ``url``, with the eight
    submissions of tests/test_parallel.py handed in."""
    course = create_course(root / "course")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    nbgrader(course, "generate_assignment", ASSIGNMENT_ID)
    for student, notebook in submissions().items():
        hand_in(course, student, notebook)
    return course


def gradebook(url: str) -> dict[str, dict]:
    """{student: {grade cell: (auto score, needs manual grade)}} and the number of submissions."""
    from nbgrader.api import Gradebook

    with Gradebook(url) as book:
        submitted = book.assignment_submissions(ASSIGNMENT_ID)
        grades = {}
        for submission in submitted:
            notebook = book.find_submission_notebook(
                NOTEBOOK_NAME, ASSIGNMENT_ID, submission.student.id
            )
            grades[submission.student.id] = {
                grade.name: (grade.auto_score, grade.needs_manual_grade, grade.max_score)
                for grade in notebook.grades
            }
        return {"submissions": len(submitted), "grades": grades}


def kill_a_worker_mid_task(address: str, killed: list) -> None:
    """Once both workers run a task, SIGKILL one worker's process (nbgrader is starting there)."""
    with Client(address, set_as_default=False) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [worker for worker, keys in client.processing().items() if keys]
            if len(busy) == 2:
                break
            time.sleep(0.1)
        time.sleep(1.5)
        pids = client.run(os.getpid, workers=[busy[0]])
        os.kill(pids[busy[0]], signal.SIGKILL)
        killed.append(busy[0])


@pytest.fixture(scope="module")
def two_gradebooks(postgres_url, tmp_path_factory):  # noqa: F811
    """The same course and submissions twice, each with its own PostgreSQL database: one
    autograded by ``nbgrader autograde``, the other on a LocalCluster of two worker processes in
    batches of three students (one nbgrader process each), one worker killed mid-run."""
    root = tmp_path_factory.mktemp("cluster")
    sequential_url = another_database(postgres_url, "sequential")
    sequential = course_on(root / "sequential", sequential_url)
    cluster_course = course_on(root / "cluster", postgres_url)
    nbgrader(sequential, "autograde", ASSIGNMENT_ID)
    with local_cluster(workers=2) as cluster:
        killed: list = []
        killer = threading.Thread(
            target=kill_a_worker_mid_task, args=(cluster.scheduler_address, killed)
        )
        killer.start()
        started = time.perf_counter()
        status = autograde_on_cluster(
            cluster_course, scheduler=cluster.scheduler_address, progress=False, batch=3
        )
        seconds = time.perf_counter() - started
        killer.join()
        yield {
            "sequential": (sequential, sequential_url),
            "cluster": (cluster_course, postgres_url),
            "status": status,
            "killed": killed,
            "seconds": seconds,
            "scheduler": cluster.scheduler_address,
        }


def test_a_killed_worker_loses_and_duplicates_nothing(two_gradebooks):
    """With one worker killed mid-task, does the run finish (exit 0) with exactly one submission
    per student and the scores and flags of the sequential run, cell by cell?"""
    assert two_gradebooks["killed"], "no worker was killed: the test proves nothing"
    assert two_gradebooks["status"] == 0
    _, sequential_url = two_gradebooks["sequential"]
    _, cluster_url = two_gradebooks["cluster"]
    cluster, sequential = gradebook(cluster_url), gradebook(sequential_url)
    assert cluster["submissions"] == len(STUDENTS)
    assert sorted(cluster["grades"]) == sorted(STUDENTS)
    assert cluster == sequential


def test_autograded_notebooks_feedback_and_export_equal_the_sequential_runs(two_gradebooks):
    """Does every test cell carry the same report, and are the feedback scores and nbgrader's
    export from the cluster's gradebook those of the sequential run?"""
    sequential, _ = two_gradebooks["sequential"]
    cluster, _ = two_gradebooks["cluster"]
    exports = []
    for course in (sequential, cluster):
        nbgrader(course, "generate_feedback", ASSIGNMENT_ID)
        nbgrader(course, "export", "--to=grades.csv")
        with open(course / "grades.csv", newline="") as stream:
            exports.append(sorted(csv.DictReader(stream), key=lambda row: row["student_id"]))
    assert exports[0] == exports[1]
    for student in STUDENTS:
        assert test_outputs(cluster, student) == test_outputs(sequential, student), student
        page = Path("feedback") / student / ASSIGNMENT_ID / f"{NOTEBOOK_NAME}.html"
        scores = [
            [line for line in (course / page).read_text().splitlines() if "Score:" in line]
            for course in (sequential, cluster)
        ]
        assert scores[0] == scores[1], student


def test_the_default_batch_gives_every_worker_thread_a_few_small_ones():
    """Are the students split into about four batches per worker thread, of at most
    BATCH_MOST students, never empty ones?"""
    from grader.cluster_autograde import BATCH_MOST, default_batch

    assert BATCH_MOST == 5
    assert default_batch(200, 2) == 5
    assert default_batch(32, 2) == 4
    assert default_batch(8, 2) == 1
    assert default_batch(9, 2) == 2
    assert default_batch(1, 8) == 1
    assert default_batch(0, 0) == 1


def test_a_second_run_grades_only_what_is_missing(two_gradebooks, capsys):
    """Without --force, does a run started again after one student's autograded folder was lost
    (an interrupted run) grade that student only, recording the same grades?"""
    import shutil

    cluster, url = two_gradebooks["cluster"]
    scheduler = two_gradebooks["scheduler"]
    before = gradebook(url)
    shutil.rmtree(cluster / "autograded" / "bob")
    assert main([str(cluster), "--scheduler", scheduler]) == 0
    err = capsys.readouterr().err
    assert "autograded 1 students" in err and "on 2 Dask worker(s)" in err
    assert gradebook(url) == before


def test_an_sqlite_gradebook_is_refused_with_scheduler(tmp_path, capsys):
    """Does --scheduler with the course's SQLite gradebook stop at once, saying why (exit 2),
    without reaching any scheduler?"""
    course = create_course(tmp_path / "course")
    assert main([str(course), "--scheduler", "tcp://127.0.0.1:9", "-q"]) == 2
    err = capsys.readouterr().err
    assert "needs a PostgreSQL gradebook" in err and "sqlite:///" in err


def test_a_task_on_a_worker_with_another_secret_records_nothing(tmp_path):
    """Does a task on a worker that joined after the check, with another course secret, answer
    an error without running nbgrader (nothing autograded, nothing recorded)?"""
    from grader.cluster_autograde import autograde_batch
    from grader.executor import grader_version, secret_fingerprint

    settings = {
        "grader_version": grader_version(),
        "secret_fingerprint": secret_fingerprint(b"the client's other secret"),
    }
    answer = autograde_batch(str(tmp_path), ASSIGNMENT_ID, ["alice"], settings)["alice"]
    assert set(answer) == {"error"} and "another course secret" in answer["error"]
    assert not (tmp_path / "autograded").exists()
