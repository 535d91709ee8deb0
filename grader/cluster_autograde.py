"""Autograde an nbgrader course on a Dask cluster, each worker recording its own students into
the course's PostgreSQL gradebook.

    python -m grader.parallel COURSE --scheduler tcp://HOST:PORT [--batch N] [--force]
        [--student GLOB]

There is no single writer: on a worker, each task autogrades a batch of students (a few, see
``default_batch``) in that worker thread's long-lived child process (``grader.batch_recorder``),
which runs nbgrader's own ``autograde ASSIGNMENT --student S --force`` (its ``AutogradeApp``) once
per student, in the course folder, which every worker sees at the same path (a shared
filesystem, as JupyterHub deployments share their exchange). Each run reads the course's
``nbgrader_config.py``, so the intake and TrustedGrade grade the submission in the worker's
sandbox, and nbgrader writes the student's rows into the gradebook and the student's autograded
notebook itself. The child is kept between tasks because starting nbgrader (importing it,
nbconvert, SQLAlchemy, the grader) costs more than grading a submission; within a batch every
nbgrader ``Gradebook`` shares one database connection. nbgrader's ``--student`` is one glob,
which cannot name an arbitrary list of ids exactly, hence one ``AutogradeApp`` per student.
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
  again, the students it had finished included, each replaced). The child dies with its
  worker (``PR_SET_PDEATHSIG``): a killed worker leaves no orphan writing beside the retry,
  and its open transaction is rolled back by PostgreSQL when its connection drops.
- Dask runs the task of a dead worker again elsewhere (up to its ``allowed-failures``); a task
  that still fails is listed at the end with its reason, and the exit status is 1.

Resumption: a run started again without ``--force`` grades only the students without an
autograded notebook (``grader.parallel.submissions_to_grade``), as nbgrader does.
"""

from __future__ import annotations

import math
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
# The default batch: about BATCHES_PER_THREAD batches for each worker thread, and at most
# BATCH_MOST students. Small batches balance the work: at the end of a run a thread waits at
# most for another's last batch (about 0.5 s a student), and a lost worker's rerun is at most one
# batch per thread. A batch costs little on its own (nbgrader is started once per worker thread,
# ``grader.batch_recorder``): a Dask task, one gradebook connection, about 20 ms.
BATCHES_PER_THREAD = 4
BATCH_MOST = 5


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
    batches per worker thread, ``default_batch``); return the exit status (0; 1 when a submission
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
        threads = sum(cluster.client.nthreads().values())
        size = batch or default_batch(len(students), threads)
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
    from grader.report import manual_grading_lines, printable

    for line in manual_grading_lines(sorted(flagged)):
        print(line, file=sys.stderr)
    if failed:
        print(f"{len(failed)} submissions could not be graded:", file=sys.stderr)
        for name, reason in sorted(failed.items()):  # the id is a folder name: the student's
            print(f"  {printable(name)}: {reason}", file=sys.stderr)
    return EXIT_CLUSTER if failed else 0


def default_batch(students: int, threads: int) -> int:
    """Students per task: ceil(students / (BATCHES_PER_THREAD x threads)), from 1 to
    BATCH_MOST (``threads``: of all the workers, each grading one batch at a time)."""
    return max(1, min(BATCH_MOST, math.ceil(students / (BATCHES_PER_THREAD * max(1, threads)))))


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


def autograde_batch(
    course: str, assignment: str, students: list[str], settings: dict, log_level: str = "WARN"
) -> dict[str, dict]:
    """On a worker: nbgrader's autograde of each of ``students`` in the shared course folder,
    recording into its gradebook, by this worker thread's long-lived child process
    (``grader.batch_recorder``: nbgrader's start-up paid once per worker, not per batch).
    Returns {student: {"status": nbgrader's exit status, "reasons": [why it needs manual
    grading...]} or {"error": why}}."""
    from grader.batch_recorder import NBGRADER_SECONDS, recorder_for
    from grader.executor import probe_worker, worker_problems

    problems = worker_problems(probe_worker(), settings)  # a worker that joined after the check
    if problems:
        error = {"error": "refused by its worker: " + "; ".join(problems)}
        return {student: dict(error) for student in students}
    recorder = recorder_for(course, settings["grader_version"])
    # the sandbox bounds a submission's code by submission_seconds; nbgrader's part, the rest
    seconds_per_student = settings["limits"]["submission_seconds"] + NBGRADER_SECONDS
    return recorder.autograde(assignment, log_level, students, seconds_per_student)
