"""Autograde an nbgrader course on a Dask cluster, each worker recording its own students into
the course's PostgreSQL gradebook.

    python -m grader.parallel COURSE --scheduler tcp://HOST:PORT [--batch N] [--force]
        [--student GLOB]

There is no single writer: on a worker, each task autogrades a batch of students in one child
process (``python -m grader.cluster_autograde``) that runs nbgrader's own ``autograde ASSIGNMENT
--student S --force`` (its ``AutogradeApp``) once per student of the batch, in the course folder,
which every worker sees at the same path (a shared filesystem, as JupyterHub deployments share
their exchange). Each run reads the course's ``nbgrader_config.py``, so the intake and
TrustedGrade grade the submission in the worker's sandbox, and nbgrader writes the student's
rows into the gradebook and the student's autograded notebook itself. Batches exist because
starting nbgrader (importing it, nbconvert, SQLAlchemy, the grader) costs about 3 s, more than
grading a submission: a batch pays it once. nbgrader's ``--student`` is one glob, which cannot
name an arbitrary list of ids exactly, hence one ``AutogradeApp`` per student in one process.
Only plain data crosses the network: the course folder's path, the assignment, the batch's
student ids and the client's settings out (the same as ``grader.executor``: limits, grader
version, secret fingerprint); each student's exit status and flagged reasons back.

Why it is safe with several writers:

- SQLite is refused (``--scheduler`` needs a ``postgresql://`` db_url): several processes
  writing one SQLite file over a network filesystem fail on its lock, or worse.
- The client checks once that the assignment is in the gradebook (``generate_assignment``
  created it with its notebooks and cells) and creates every student before any task starts, so
  tasks that start together never race to create the same row: each only writes its own
  student's submission, whose (assignment, student) is unique in nbgrader's schema.
- A task is idempotent: it always runs with ``--force`` (the client has already decided, like
  nbgrader without ``--force``, which students still need grading), so a task run again after
  its worker died replaces whatever the dead run left half done (the whole batch is graded
  again, the students it had finished included, each replaced). nbgrader's process dies with
  its worker (``PR_SET_PDEATHSIG``): a killed worker leaves no orphan writing beside the retry,
  and its open transaction is rolled back by PostgreSQL when its connection drops.
- Dask runs the task of a dead worker again elsewhere (up to its ``allowed-failures``); a task
  that still fails is listed at the end with its reason, and the exit status is 1.

Resumption: a run started again without ``--force`` grades only the students without an
autograded notebook (``grader.parallel.submissions_to_grade``), as nbgrader does.
"""

from __future__ import annotations

import ctypes
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader.exercises import ASSIGNMENT_ID

EXIT_USAGE = 2
EXIT_CLUSTER = 1
SQLITE_REFUSED = (
    "--scheduler records into the gradebook from every worker, which needs a PostgreSQL gradebook "
    "(c.CourseDirectory.db_url = 'postgresql+psycopg2://...' in nbgrader_config.py); this course's "
    "is {url!r}: grade without --scheduler (one process records), or move the gradebook"
)
LOG_LINES_KEPT = 12
# Batches per worker by default: a few each, so that a slow batch or a lost worker leaves the
# others something to take, while each batch still pays nbgrader's start-up once for several.
BATCHES_PER_WORKER = 4
# The child's line announcing one student's result (anything else it prints is nbgrader's log).
RESULT_MARKER = "cluster-autograde-result "


def database_url(config, course: Path) -> str:
    """The course's nbgrader db_url (nbgrader's default: gradebook.db in the course root)."""
    directories = config.CourseDirectory
    return directories.get("db_url", "") or (
        f"sqlite:///{Path(directories.get('root', course)) / 'gradebook.db'}"
    )


def autograde_on_cluster(
    course: Path,
    *,
    scheduler: str,
    assignment: str = ASSIGNMENT_ID,
    force: bool = False,
    student: str = "",
    progress: bool = True,
    log_level: str = "WARN",
    batch: int = 0,
) -> int:
    """Autograde ``assignment`` of the course at ``course`` on the workers of ``scheduler``, each
    recording its students into the PostgreSQL gradebook, ``batch`` students per task (0: a few
    batches per worker, ``default_batch``); return the exit status (0; 1 when a submission
    could not be graded or the cluster refused; 2 for a configuration error)."""
    from tqdm import tqdm

    from grader.executor import ClusterError, DaskCluster, describe
    from grader.grade import GraderConfigError
    from grader.parallel import course_config, submissions_to_grade, working_directory
    from grader.settings import settings_from

    started = time.perf_counter()
    config = course_config(course)
    url = database_url(config, course)
    if not url.startswith("postgresql"):
        print(f"error: {SQLITE_REFUSED.format(url=url)}", file=sys.stderr)
        return EXIT_USAGE
    settings = settings_from(config)
    try:
        with working_directory(course):  # a relative secret_file is read as nbgrader reads it
            secret, _ = settings.secret()
    except GraderConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    paths = submissions_to_grade(
        course, config, assignment=assignment, student=student, force=force
    )
    students = sorted({path.parent.parent.name for path in paths})
    try:
        prepare_gradebook(url, config.CourseDirectory.get("course_id", ""), assignment, students)
    except LookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        cluster = DaskCluster(scheduler, limits=settings.limits(), secret=secret)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CLUSTER
    failed: dict[str, str] = {}
    flagged: list[tuple[str, list[str]]] = []
    try:
        if progress:
            print(describe(cluster), file=sys.stderr)
        bar = tqdm(total=len(students), unit="student", file=sys.stderr, disable=not progress)
        bar.set_description("autograded and recorded by the workers")
        size = batch or default_batch(len(students), len(cluster.workers))
        batches = [students[start : start + size] for start in range(0, len(students), size)]
        for name, answer in run_tasks(cluster, course, assignment, batches, log_level):
            if "error" in answer:
                failed[name] = answer["error"]
            elif answer.get("reasons"):
                flagged.append((name, answer["reasons"]))
            bar.set_postfix_str(f"failed {len(failed)}", refresh=False)
            bar.update(1)
        bar.close()
    finally:
        cluster.close()
    if progress:
        print(
            f"autograded {len(students)} students in {time.perf_counter() - started:.1f} s on "
            f"{len(cluster.workers)} Dask worker(s), each recording into the gradebook",
            file=sys.stderr,
        )
    from grader.report import manual_grading_lines

    for line in manual_grading_lines(sorted(flagged)):
        print(line, file=sys.stderr)
    if failed:
        print(f"{len(failed)} submissions could not be graded:", file=sys.stderr)
        for name, reason in sorted(failed.items()):
            print(f"  {name}: {reason}", file=sys.stderr)
    return EXIT_CLUSTER if failed else 0


def default_batch(students: int, workers: int) -> int:
    """Students per task: ceil(students / (BATCHES_PER_WORKER x workers)), at least 1."""
    return max(1, math.ceil(students / (BATCHES_PER_WORKER * max(1, workers))))


def prepare_gradebook(url: str, course_id: str, assignment: str, students: list[str]) -> None:
    """Check the assignment is in the gradebook and create every student, once, here: the
    workers' runs then never race to create the same row. LookupError if the assignment is
    missing."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(url, course_id) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise LookupError(
                f"no assignment {assignment!r} in the gradebook: run "
                f"`nbgrader generate_assignment {assignment}` first"
            ) from None
        for name in students:
            gradebook.update_or_create_student(name)


def run_tasks(cluster, course: Path, assignment: str, batches: list[list[str]], log_level: str):
    """Yield (student, answer) for each student of each batch as its task ends; every student of
    a task that failed on the cluster (its workers kept dying, say) answers {"error": why}."""
    from distributed import as_completed

    client = cluster.client
    futures = {
        client.submit(
            autograde_batch,
            str(course),
            assignment,
            names,
            cluster.settings,
            log_level,
            key=f"autograde-{assignment}-{names[0]}-{len(names)}-{time.time_ns()}",
            pure=False,
        ): names
        for names in batches
    }
    try:
        for future in as_completed(list(futures), loop=client.loop):
            names = futures[future]
            try:
                answers = future.result()
            except Exception as error:  # KilledWorker, a lost scheduler...
                answers = {name: {"error": f"{type(error).__name__}: {error}"} for name in names}
            for name in names:
                yield name, answers[name]
    finally:
        client.cancel(list(futures))


# --- on the worker -----------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The child gets SIGKILL when the worker's thread that started it dies (a killed worker
    leaves no nbgrader run writing beside the retry)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def autograde_batch(
    course: str, assignment: str, students: list[str], settings: dict, log_level: str = "WARN"
) -> dict[str, dict]:
    """On a worker: nbgrader's autograde of each of ``students`` in the shared course folder,
    recording into its gradebook, in one child process (one nbgrader start-up for the batch).
    Returns {student: {"status": nbgrader's exit status, "reasons": [why it needs manual
    grading...]} or {"error": why}}."""
    from grader.demo import nbgrader_environment
    from grader.executor import probe_worker, worker_problems

    problems = worker_problems(probe_worker(), settings)  # a worker that joined after the check
    if problems:
        error = {"error": "refused by its worker: " + "; ".join(problems)}
        return {student: dict(error) for student in students}
    result = subprocess.run(
        [sys.executable, "-m", "grader.cluster_autograde", assignment, log_level, *students],
        cwd=course,
        env=nbgrader_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_die_with_parent,
    )
    lines = result.stdout.splitlines()
    answers = {}
    for line in lines:
        if line.startswith(RESULT_MARKER):
            answer = json.loads(line[len(RESULT_MARKER) :])
            answers[answer.pop("student")] = answer
    tail = "\n".join(line for line in lines[-LOG_LINES_KEPT:])
    for student in students:
        answer = answers.get(student)
        if answer is None:  # the child died before this student's result
            answer = {"status": result.returncode or 1, "reasons": []}
        if answer["status"] != 0 and not (Path(course) / "autograded" / student).exists():
            answer = {"error": f"nbgrader autograde exited {answer['status']}: {tail}"}
        answers[student] = answer
    return {student: answers[student] for student in students}


def autograde_student(
    course: str, assignment: str, student: str, settings: dict, log_level: str = "WARN"
) -> dict:
    """On a worker: ``autograde_batch`` of one student; that student's answer."""
    return autograde_batch(course, assignment, [student], settings, log_level)[student]


def autograde_in_this_process(assignment: str, log_level: str, students: list[str]) -> None:
    """In the batch's child process, in the course folder: nbgrader's ``autograde ASSIGNMENT
    --student S --force`` for each student, one ``AutogradeApp`` each (the course's
    configuration read afresh each time, as separate runs would), printing one result line per
    student."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    for student in students:
        app = AutogradeApp()
        app.initialize(
            [
                assignment,
                f"--student={student}",
                "--force",
                "--Autograde.create_student=False",  # the client created every student
                "--IntakeAutograde.list_manual_grading=False",  # the reasons go back as data
                f"--log-level={log_level}",
            ]
        )
        try:
            app.start()
            status = 0
        except SystemExit as exit_:  # nbgrader exits 1 when the submission failed
            status = int(exit_.code or 0)
        from grader import nbgrader_plugin

        reasons = [
            reason
            for name, found in nbgrader_plugin.LAST_RUN_NEEDS_MANUAL_GRADING
            if name == student
            for reason in found
        ]
        answer = {"student": student, "status": status, "reasons": reasons}
        print(RESULT_MARKER + json.dumps(answer), flush=True)


if __name__ == "__main__":
    autograde_in_this_process(sys.argv[1], sys.argv[2], sys.argv[3:])
