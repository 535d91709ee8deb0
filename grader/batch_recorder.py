"""The process on a Dask worker that autogrades batches of students with nbgrader and records
them into the course's PostgreSQL gradebook, kept between tasks (``grader.cluster_autograde``).

Starting nbgrader costs more than grading a submission: importing nbgrader, nbconvert,
SQLAlchemy, psycopg2 and the grader is about 1.7 s of CPU. A worker thread therefore keeps one
child process (``python -m grader.batch_recorder``, in the course folder) and sends it one batch
after another; the child pays the imports once. Per batch, on its stdin, one JSON line::

    {"assignment": "cnn_step_by_step", "log_level": "WARN", "students": ["s1", "s2", ...],
     "nonce": "<32 random hex digits>"}

and for each student it runs nbgrader's own ``autograde ASSIGNMENT --student S --force`` (a
fresh ``AutogradeApp``, so the course's configuration is read afresh, as separate runs read it),
printing one line ``NONCE result {...}`` per student, then ``NONCE done`` once the batch is over.
Anything else it prints is nbgrader's log, which can hold text from a submission (a cell's
name, say): the nonce, drawn afresh for each batch and never in a submission's reach, is what
tells a result from a log line that imitates one, and the log lines kept for an error message
lose their control characters (they end up on the instructor's terminal).

What a long-lived child must not change:

- Its grader is the worker's: a recorder is kept for one (course folder, grader version); a
  task whose grader version differs (the code was updated on the worker) stops it and starts
  another. The child checks its own version against the task's before grading anything.
- It dies with its worker thread (``PR_SET_PDEATHSIG``): a killed worker leaves no nbgrader run
  writing beside the task's retry, and PostgreSQL rolls back its open transaction.
- It cannot hold its worker thread forever: a batch has ``SECONDS_PER_STUDENT`` for each of
  its students (``grader.cluster_autograde`` gives the sandbox's ``submission_seconds`` plus
  ``NBGRADER_SECONDS``); a child with no answer by then (stuck on a lock, a filesystem, a
  stopped process) is killed, its unanswered students are errors, and the next batch starts
  another.
- It holds no gradebook connection between batches (each batch's connections are closed at its
  end), exits after ``IDLE_SECONDS`` without work, and is replaced after
  ``STUDENTS_PER_RECORDER`` students, so that nothing nbgrader keeps per run grows without bound.

Within a batch, nbgrader opens its ``Gradebook`` about ten times per student, each open creating
an SQLAlchemy engine, a new database connection (on PostgreSQL a new server process) and
checking every table exists: on PostgreSQL that was about 17 statements per open, 90% of all the
statements of a run, and most of the database server's CPU. ``reuse_gradebook_connections``
makes every ``Gradebook`` of the batch share one engine (its connection pool) and checks the
tables on the first open only; every query, write and commit is nbgrader's own.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import queue
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grader.report import printable

LOG_LINES_KEPT = 12
IDLE_SECONDS = 600  # the child exits after this long without a batch
STUDENTS_PER_RECORDER = 400  # then the worker starts a fresh child
# A student's bound: the sandbox's submission_seconds bounds the submission's code; nbgrader's
# own work on it (reading, writing the autograded notebook, the gradebook) takes about 0.5 s.
NBGRADER_SECONDS = 60.0
SECONDS_PER_STUDENT = 120.0 + NBGRADER_SECONDS  # with the default submission_seconds

# --- on the worker, in its own process -------------------------------------------------------


class Recorder:
    """One child process autograding batches of students in ``course`` (a worker thread's)."""

    def __init__(self, course: str, version: str, idle_seconds: float = IDLE_SECONDS):
        from grader.demo import nbgrader_environment

        self.course, self.version, self.students = course, version, 0
        self.listen(
            subprocess.Popen(
                [sys.executable, "-m", "grader.batch_recorder", version, str(idle_seconds)],
                cwd=course,
                env=nbgrader_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                preexec_fn=_die_with_parent,
            )
        )

    def listen(self, process: subprocess.Popen) -> None:
        """Take ``process`` as the child, its lines read by a thread so that waiting for them
        can end (``None`` in ``lines``: its output ended)."""
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_lines, daemon=True).start()

    def _read_lines(self) -> None:
        try:
            with self.process.stdout:
                for line in self.process.stdout:
                    self.lines.put(line)
        except ValueError:  # not text: treated as a child that is gone (it is killed)
            pass
        self.lines.put(None)

    def alive(self) -> bool:
        return self.process.poll() is None

    def autograde(
        self,
        assignment: str,
        log_level: str,
        students: list[str],
        seconds_per_student: float | None = None,
    ) -> dict[str, dict]:
        """{student: {"status": nbgrader's exit status, "reasons": [...]} or {"error": why}} for
        each of ``students``; the child's log tail is the error of a student it did not reach.
        The batch has ``seconds_per_student`` (``SECONDS_PER_STUDENT``) for each student; then
        the child is killed."""
        allowed = len(students) * (seconds_per_student or SECONDS_PER_STUDENT)
        deadline = time.monotonic() + allowed
        nonce = secrets.token_hex(16)
        result, done_line = f"{nonce} result ", f"{nonce} done"
        request = {
            "assignment": assignment,
            "log_level": log_level,
            "students": students,
            "nonce": nonce,
        }
        answers, lines, done, late = {}, [], False, False
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            while True:
                try:
                    line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    late = True
                    self.process.kill()
                    break
                if line is None:
                    break
                line = line.rstrip("\n")
                if line == done_line:
                    done = True
                    break
                if line.startswith(result):
                    answer = json.loads(line[len(result) :])
                    answers[answer.pop("student")] = answer
                else:
                    lines = (lines + [printable(line)])[-LOG_LINES_KEPT:]
        except (BrokenPipeError, ValueError):  # the child is gone
            pass
        self.students += len(students)
        status = None if done else self.ended()
        tail = "\n".join(lines)
        for student in students:
            answer = answers.get(student)
            if answer is None and late:  # killed before this student's result: not recorded
                answer = {"error": f"no answer within {allowed:g} s (killed): {tail}"}
            elif answer is None:  # the child died before this student's result: not recorded
                answer = {"error": f"the recording process ended (status {status}): {tail}"}
            elif (
                answer["status"] != 0
                and not (Path(self.course) / "autograded" / student / assignment).is_dir()
            ):
                # nbgrader exits 1 for a submission it graded and flagged (an empty notebook,
                # say): that one has its autograded folder for this assignment (--force removed
                # any older one first); without one nothing was recorded.
                answer = {"error": f"nbgrader autograde exited {answer['status']}: {tail}"}
            answers[student] = answer
        return {student: answers[student] for student in students}

    def ended(self, seconds: float = 30) -> int:
        """The exit status of a child that closed its output or its input, reaped within
        ``seconds`` (killed if it does not exit by then)."""
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stop(self) -> None:
        """Close its stdin (it exits when idle) and reap it; kill it if it does not go."""
        with contextlib.suppress(OSError):  # a dead child's pipe
            self.process.stdin.close()
        self.ended(seconds=10)


_RECORDERS: dict[int, Recorder] = {}  # worker thread id -> its recorder


def recorder_for(course: str, version: str) -> Recorder:
    """This thread's recorder for ``course`` and grader ``version``, started if there is none
    alive for them, or it has recorded ``STUDENTS_PER_RECORDER`` students."""
    thread = threading.get_ident()
    recorder = _RECORDERS.get(thread)
    if recorder is not None and not (
        recorder.alive()
        and (recorder.course, recorder.version) == (course, version)
        and recorder.students < STUDENTS_PER_RECORDER
    ):
        recorder.stop()
        recorder = None
    if recorder is None:
        recorder = _RECORDERS[thread] = Recorder(course, version)
    return recorder


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The child gets SIGKILL when the worker thread that started it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- in the child --------------------------------------------------------------------------------

_ENGINES: dict = {}  # db_url -> the SQLAlchemy engine every Gradebook of this batch shares


def reuse_gradebook_connections() -> None:
    """Make nbgrader's ``Gradebook`` (in this process only) share one engine per database URL:
    the first open is nbgrader's own (it creates any missing table); later ones bind a new
    session to that engine and check the course, as nbgrader's ``__init__`` ends; ``close``
    ends the session and returns its connection to the pool. ``close_gradebook_connections``
    closes them."""
    from nbgrader import api
    from sqlalchemy.orm import scoped_session, sessionmaker

    nbgrader_init = api.Gradebook.__init__

    def open_sharing_an_engine(self, db_url, course_id="default_course", authenticator=None):
        engine = _ENGINES.get(db_url)
        if engine is None:
            nbgrader_init(self, db_url, course_id, authenticator)
            _ENGINES[db_url] = self.engine
            return
        self.engine = engine
        self.db = scoped_session(sessionmaker(autoflush=True, bind=engine, future=True))
        self.check_course(course_id=course_id)
        self.course_id = course_id
        self.authenticator = authenticator

    def close_session_only(self):
        self.db.remove()

    api.Gradebook.__init__ = open_sharing_an_engine
    api.Gradebook.close = close_session_only


def close_gradebook_connections() -> None:
    while _ENGINES:
        _, engine = _ENGINES.popitem()
        engine.dispose()


def autograde_batch_here(
    assignment: str, log_level: str, students: list[str], nonce: str = ""
) -> None:
    """nbgrader's ``autograde ASSIGNMENT --student S --force`` for each student, one
    ``AutogradeApp`` each, printing one result line per student (``NONCE result {...}``)."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    from grader import nbgrader_plugin
    from grader.intake import exact_student_glob

    for student in students:
        app = AutogradeApp()
        app.initialize(
            [
                assignment,
                f"--student={exact_student_glob(student)}",
                "--force",
                "--Autograde.create_student=False",  # the client created every student
                "--IntakeAutograde.list_manual_grading=False",  # the reasons go back as data
                f"--log-level={log_level}",
            ]
        )
        nbgrader_plugin.LAST_RUN_NEEDS_MANUAL_GRADING = []
        try:
            app.start()
            status = 0
        except SystemExit as exit_:  # nbgrader exits 1 when the submission failed
            status = int(exit_.code or 0)
        reasons = [
            reason
            for name, found in nbgrader_plugin.LAST_RUN_NEEDS_MANUAL_GRADING
            if name == student
            for reason in found
        ]
        answer = {"student": student, "status": status, "reasons": reasons}
        print(f"{nonce} result {json.dumps(answer)}", flush=True)


def serve(version: str, idle_seconds: float) -> int:
    """The child's loop: one batch per line of stdin until EOF or ``idle_seconds`` without one.
    Exits 1 at once if this grader's version is not ``version``."""
    from grader.executor import grader_version

    if grader_version() != version:  # the code changed between the task's check and now
        print(f"grader version {grader_version()} is not the task's {version}", flush=True)
        return 1
    reuse_gradebook_connections()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], idle_seconds)
        line = sys.stdin.readline() if ready else ""
        if not line:
            return 0
        request = json.loads(line)
        try:
            autograde_batch_here(
                request["assignment"], request["log_level"], request["students"], request["nonce"]
            )
        finally:
            close_gradebook_connections()
        print(f"{request['nonce']} done", flush=True)


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1], float(sys.argv[2])))
