"""Does batch grading give the same grades on a Dask cluster as in the local pool (even when a
worker dies mid-run), refuse a worker that is not this grader, and leave Dask alone when no
scheduler is named?"""

import csv
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import cli, executor
from grader.grade import grade_notebook
from grader.sandbox import Limits
from tests.local_cluster import local_cluster

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))


@pytest.fixture(scope="module")
def scheduler():
    """The address of a local cluster of two single-threaded worker processes (one per module:
    starting one takes seconds)."""
    with local_cluster(workers=2) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def submissions(tmp_path):
    """The example notebooks (alice, bob, eve, other_edition) and an empty file."""
    empty = tmp_path / "empty.ipynb"
    empty.write_bytes(b"")
    assert {path.stem for path in EXAMPLES} == {"alice", "bob", "eve", "other_edition"}
    return [*EXAMPLES, empty]


def test_the_cluster_gives_the_csv_of_the_local_pool(scheduler, submissions, tmp_path, capsys):
    """Do the five submissions graded on the cluster give exactly the CSV (same grades, same
    order) of the local pool, and does the run say where it graded?"""
    paths = [str(path) for path in submissions]
    local, cluster = tmp_path / "local.csv", tmp_path / "cluster.csv"
    assert cli.main(["grade", *paths, "--jobs", "2", "--csv", str(local), "-q"]) == 0
    capsys.readouterr()
    assert cli.main(["grade", *paths, "--scheduler", scheduler, "--csv", str(cluster)]) == 0
    stderr = capsys.readouterr().err
    assert "grading on 2 Dask worker(s)" in stderr
    assert cluster.read_text() == local.read_text()
    assert "empty: not graded:" in stderr  # the run's summary of what could not be graded


@pytest.fixture(scope="module")
def nine_submissions(tmp_path_factory):
    """The four examples twice each (alice.ipynb, alice_2.ipynb, ...) and an empty file, and the
    local pool's CSV of them: enough work that a worker killed at its first submission leaves
    tasks to run again."""
    folder = tmp_path_factory.mktemp("nine")
    paths = []
    for example in EXAMPLES:
        for name in (example.name, f"{example.stem}_2.ipynb"):
            shutil.copyfile(example, folder / name)
            paths.append(str(folder / name))
    (folder / "empty.ipynb").write_bytes(b"")
    paths.append(str(folder / "empty.ipynb"))
    local = folder / "local.csv"
    assert cli.main(["grade", *paths, "--jobs", "2", "--csv", str(local), "-q"]) == 0
    return paths, local.read_text()


def kill_a_worker_in_its_sandbox(address: str, killed: dict, done: threading.Event) -> None:
    """Once a worker of the scheduler at ``address`` grades a submission (it has a task and a
    child process of it runs bubblewrap: not the check before grading, whose bubblewrap runs
    before any task exists), SIGKILL that worker's process; ``killed`` gets the worker and the
    tasks the scheduler had on it then. Gives up once ``done`` is set (the run ended)."""
    import psutil
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        pids = client.run(os.getpid)
        while not done.is_set() and not killed:
            processing = client.processing()
            for worker, pid in pids.items():
                if not processing.get(worker):
                    continue
                try:
                    children = psutil.Process(pid).children(recursive=True)
                    in_sandbox = any("bwrap" in " ".join(child.cmdline()) for child in children)
                except psutil.Error:  # a child ended while being looked at
                    continue
                if in_sandbox:
                    os.kill(pid, signal.SIGKILL)
                    killed.update(worker=worker, processing=processing[worker])
                    break
            time.sleep(0.02)


def rows_by_student(csv_text: str) -> dict[str, dict]:
    """{student: CSV row} of a CSV written by ``grade --csv``."""
    return {row["student"]: row for row in csv.DictReader(io.StringIO(csv_text))}


def grade_killing_a_worker(paths: list[str], output: Path, capsys) -> tuple[int, str]:
    """``grade PATHS --scheduler ... --csv OUTPUT`` on a fresh cluster of two workers, one
    SIGKILLed while it grades: (exit status, stderr)."""
    with local_cluster(workers=2) as cluster:
        address, killed, done = cluster.scheduler_address, {}, threading.Event()
        killer = threading.Thread(target=kill_a_worker_in_its_sandbox, args=(address, killed, done))
        killer.start()
        try:
            status = cli.main(["grade", *paths, "--scheduler", address, "--csv", str(output)])
        finally:
            done.set()
            killer.join()
    err = capsys.readouterr().err
    assert killed.get("processing"), f"no worker was killed mid-task (exit {status}): {err}"
    # A run that stopped (a refused worker, say: grader code edited meanwhile) writes no CSV.
    assert output.exists(), f"the run exited {status} without a CSV: {err}"
    return status, err


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(nine_submissions, tmp_path, capsys):
    """With one worker SIGKILLed while it grades a submission, does Dask run its tasks again so
    that the run exits 0 with exactly the local pool's CSV (every submission once, same scores)?"""
    paths, local_csv = nine_submissions
    cluster_csv = tmp_path / "cluster.csv"
    status, err = grade_killing_a_worker(paths, cluster_csv, capsys)
    assert "could not be graded on the Dask cluster" not in err
    assert status == 0
    assert cluster_csv.read_text() == local_csv


def test_a_task_that_keeps_failing_gets_an_error_grade_and_exit_1(
    nine_submissions, tmp_path, capsys
):
    """When Dask gives up on a task (allowed-failures 0: one killed worker is enough), does its
    submission get an error grade saying it could not be graded on the cluster, listed at the
    end with what needs manual grading, the others their local grades, and the run exit 1?"""
    import dask

    paths, local_csv = nine_submissions
    cluster_csv = tmp_path / "cluster.csv"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        status, err = grade_killing_a_worker(paths, cluster_csv, capsys)
    local, graded = rows_by_student(local_csv), rows_by_student(cluster_csv.read_text())
    lost = {
        student
        for student, row in graded.items()
        if row["error"].startswith("could not be graded on the Dask cluster: KilledWorker")
    }
    assert lost, "no submission was lost: the worker died between tasks?"
    assert sorted(graded) == sorted(local)
    for student in lost:
        assert float(graded[student]["total"]) == 0.0
        assert "its worker died at each of 1 attempt(s)" in graded[student]["error"]
        assert f"  {student}: not graded: could not be graded on the Dask cluster" in err
    assert {s: row for s, row in graded.items() if s not in lost} == {
        s: row for s, row in local.items() if s not in lost
    }
    assert status == cli.EXIT_SANDBOX_FAILED
    assert err.rstrip().endswith(
        f"error: {len(lost)} submission(s) could not be graded on the Dask cluster (their "
        "workers died; listed above): grade them again"
    )


def test_a_worker_that_dies_while_being_checked_refuses_the_run(submissions, monkeypatch, capsys):
    """Does a worker whose process dies during the check before grading stop the run with a
    message naming it (exit 1, nothing graded) rather than a CommClosedError traceback?"""
    checked = executor.probe_worker

    def probe_that_kills_worker_0(dask_worker):  # pickled by value: runs on each worker
        if dask_worker.name == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return checked()

    monkeypatch.setattr(executor, "probe_worker", probe_that_kills_worker_0)
    with local_cluster(workers=2) as cluster:
        paths = [str(path) for path in submissions[:1]]
        status = cli.main(["grade", *paths, "--scheduler", cluster.scheduler_address, "-q"])
    captured = capsys.readouterr()
    assert status == cli.EXIT_SANDBOX_FAILED
    assert captured.out == ""
    assert "refusing to grade on the Dask cluster: worker tcp://127.0.0.1:" in captured.err
    assert captured.err.count("could not be checked") == 1


def test_a_worker_with_another_secret_is_refused(scheduler, submissions, monkeypatch, capsys):
    """Does a client whose course secret differs from the workers' refuse to grade, naming each
    worker and the difference, without grading anything (exit 1)?"""
    monkeypatch.setenv("GRADER_SECRET", "not the workers' secret")
    paths = [str(path) for path in submissions[:2]]
    assert cli.main(["grade", *paths, "--scheduler", scheduler, "-q"]) == cli.EXIT_SANDBOX_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "refusing to grade on the Dask cluster" in captured.err
    assert captured.err.count("another course secret") == 2
    assert "worker tcp://127.0.0.1:" in captured.err


def test_a_worker_with_another_grader_version_is_refused(
    scheduler, submissions, monkeypatch, capsys
):
    """Does a worker running other grader code than the client's get refused, by name?"""
    monkeypatch.setattr(executor, "grader_version", lambda: "0123456789abcdef")
    paths = [str(path) for path in submissions[:1]]
    assert cli.main(["grade", *paths, "--scheduler", scheduler, "-q"]) == cli.EXIT_SANDBOX_FAILED
    err = capsys.readouterr().err
    assert "another grader version" in err and "here 0123456789abcdef" in err
    assert "worker tcp://127.0.0.1:" in err


def test_an_unreachable_scheduler_is_an_error_not_a_grade(submissions, monkeypatch, capsys):
    """Does a scheduler nobody listens at stop the run with a message (exit 1)?"""
    monkeypatch.setattr(executor, "CONNECT_SECONDS", 2)
    paths = [str(path) for path in submissions[:1]]
    status = cli.main(["grade", *paths, "--scheduler", "tcp://127.0.0.1:9", "-q"])
    assert status == cli.EXIT_SANDBOX_FAILED
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in capsys.readouterr().err


def test_worker_problems_name_every_difference():
    """Does the check of a worker's report name a missing sandbox, another version and another
    secret, a worker that died while being checked, and nothing for a matching worker?"""
    settings = {"grader_version": "v", "secret_fingerprint": executor.secret_fingerprint(b"s")}
    good = {
        "sandbox": None,
        "grader_version": "v",
        "secret_fingerprint": settings["secret_fingerprint"],
    }
    assert executor.worker_problems(good, settings) == []
    bad = {"sandbox": "bwrap missing", "grader_version": "w", "secret_fingerprint": "x"}
    problems = executor.worker_problems(bad, settings)
    assert [problem.split(" ")[0] for problem in problems] == ["no", "another", "another"]
    assert executor.secret_fingerprint(b"s") != executor.secret_fingerprint(b"t")
    died = OSError("Stream is closed")  # what client.run returns for a worker killed meanwhile
    assert executor.worker_problems(died, settings) == [
        "could not be checked (OSError: Stream is closed)"
    ]


def test_grading_without_a_scheduler_imports_no_dask(submissions, tmp_path):
    """Does `python -m grader grade` without --scheduler leave dask and distributed unimported?"""
    script = (
        "import sys\n"
        "from grader import cli\n"
        f"status = cli.main(['grade', {str(submissions[-1])!r}, {str(submissions[-2])!r},"
        f" '--csv', {str(tmp_path / 'out.csv')!r}, '-q'])\n"
        "assert status == 0, status\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in "
        "('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_a_task_grades_the_bytes_as_the_file_and_checks_its_worker_again():
    """Does the worker's task, given a notebook's bytes, return the JSON of exactly the grade of
    the file, and refuse (without grading) when the client's fingerprint is another's (a worker
    that joined after the check)?"""
    path = ROOT / "examples" / "bob.ipynb"
    settings = {
        "limits": dataclasses.asdict(Limits()),
        "grader_version": executor.grader_version(),
        "secret_fingerprint": executor.secret_fingerprint(executor.worker_secret()),
    }
    answer = json.loads(executor.grade_on_worker(path.read_bytes(), "../bob.ipynb", settings))
    assert answer == {"grade": grade_notebook(path).to_json_dict()}
    settings["secret_fingerprint"] = executor.secret_fingerprint(b"another")
    answer = json.loads(executor.grade_on_worker(path.read_bytes(), "bob.ipynb", settings))
    assert set(answer) == {"refused"} and "another course secret" in answer["refused"]
