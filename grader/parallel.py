"""Autograde a whole class on one machine in parallel, with nbgrader as the only gradebook writer.

    python -m grader.parallel [COURSE_DIR] [--jobs N] [--force] [--student GLOB]
    python -m grader.parallel [COURSE_DIR] --scheduler tcp://HOST:PORT [--batch N] [--force]
        [--student GLOB]

With ``--scheduler`` (or ``c.TrustedGrader.scheduler``), the workers of a Dask cluster autograde
and record into a PostgreSQL gradebook themselves: see ``grader.cluster_autograde``. Otherwise:

nbgrader's autograde handles one submission after another (nbgrader issue #174), and two
``nbgrader autograde`` processes on one SQLite gradebook fail on its lock. The expensive part here
is running student code in the sandbox, so that part runs in ``--jobs`` worker processes while
nbgrader records, in this process:

1. every submission's graded code is extracted (``grader.extract``) and its verdict announced in
   a private temporary folder under its key (``grader.precomputed``: the graded code, the
   secret, the sandbox flag, the limits), then graded by a pool of workers, in nbgrader's order,
   with the course's settings (``c.TrustedGrader`` of its nbgrader_config.py, see
   ``grader.settings``: the same secret and limits nbgrader's TrustedGrade reads below);
2. meanwhile nbgrader's own autograde runs here with ``TrustedGrade.verdict_cache`` set to that
   folder: for each submission, nbgrader sanitizes it as usual, TrustedGrade extracts the graded
   code of the sanitized copy, and takes (waiting if need be) the verdict stored under its key
   instead of grading again; nbgrader writes the gradebook, the autograded notebooks and its log
   exactly as in a sequential run.

The result equals ``nbgrader autograde`` run alone (tests/test_parallel.py checks it): a verdict
is only used for the very code it was computed from, and a submission without one (its
sanitized code differs from the raw file's, or its worker failed) is graded, or fails, during
recording exactly as it would sequentially. Submissions are found in nbgrader's default layout
(``<submitted_directory>/<student>/<assignment>/*.ipynb``); with another layout nothing is
precomputed and the run is simply sequential.
Exit status: nbgrader's (0, or 1 when a submission failed); 2 when the course secret cannot be
read; 3 when the sandbox is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from grader import intake, precomputed
from grader.exercises import ASSIGNMENT_ID
from grader.extract import extract

EXIT_USAGE = 2
EXIT_NO_SANDBOX = 3


@contextlib.contextmanager
def working_directory(path: Path):
    """nbgrader reads nbgrader_config.py from the current directory."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def course_config(course: Path):
    """The course's nbgrader_config.py, read as a traitlets Config (executing it imports
    nbgrader: it installs the grader's intake)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def submissions_to_grade(
    course: Path, config, *, assignment: str, student: str, force: bool
) -> list[Path]:
    """The submitted notebooks nbgrader's autograde will process, in its order (by student).

    student -- nbgrader's ``--student`` glob ("" for everyone); without ``force``, submissions
               already autograded are left out, as nbgrader skips them
    """
    directories = config.CourseDirectory
    root = Path(directories.get("root", course))
    submitted = root / directories.get("submitted_directory", "submitted")
    autograded = root / directories.get("autograded_directory", "autograded")
    found = []
    for folder in sorted(submitted.glob(f"*/{assignment}")):
        name = folder.parent.name
        if student and not fnmatch.fnmatch(name, student):
            continue
        for notebook in sorted(folder.glob("*.ipynb")):
            if force or not (autograded / name / assignment / notebook.name).exists():
                found.append(notebook)
    return found


def _compute_verdict(
    path: str, folder: str, key: str, sandbox: bool, limits=None, secret: bytes | None = None
) -> None:
    """Worker: grade one submission and store its verdict (withdraw the announcement if not)."""
    from grader.grade import grade_notebook

    try:
        grade = grade_notebook(path, sandbox=sandbox, limits=limits, secret=secret)
    except BaseException:
        precomputed.withdraw(Path(folder), key)
        raise
    precomputed.store(Path(folder), key, grade)


def start_grading(
    paths: list[Path],
    folder: Path,
    *,
    jobs: int,
    sandbox: bool,
    on_done,
    limits=None,
    secret: bytes | None = None,
):
    """Announce and start grading ``paths`` in ``jobs`` worker processes, with ``limits`` and
    ``secret`` (None: the defaults of ``grader.grade.grade_notebook``).

    Returns (the executor, how many distinct notebooks it grades).
    Identical graded code is graded once. Unreadable files are left to nbgrader (it reads them
    as 0-graded stubs), and so are submissions the intake refuses, which are never opened here
    (``intake.check_submission_folder``: a link, a FIFO, a device... in the folder; nbgrader's
    IntakeAutograde records them as refused). ``on_done()`` is called as each verdict is stored
    or withdrawn.
    """
    # fork: the workers start at once with the grader already imported, and this process has
    # no threads yet (nbgrader runs here only after this returns).
    executor = ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("fork"))
    announced = set()
    for path in paths:
        if intake.check_submission_folder(path.parent):
            continue
        extraction = extract(path)
        if extraction.error is not None:
            continue
        key = precomputed.verdict_key(extraction, sandbox=sandbox, secret=secret, limits=limits)
        if key in announced:
            continue
        announced.add(key)
        precomputed.announce(folder, key)
        future = executor.submit(
            _compute_verdict, str(path), str(folder), key, sandbox, limits, secret
        )
        future.add_done_callback(_after(folder, key, on_done))
    return executor, len(announced)


def _after(folder: Path, key: str, on_done):
    def callback(future: Future) -> None:
        if future.exception() is not None:  # e.g. a worker killed: nbgrader grades it itself
            precomputed.withdraw(folder, key)
        on_done()

    return callback


def autograde_parallel(
    course: Path,
    *,
    assignment: str = ASSIGNMENT_ID,
    jobs: int,
    force: bool = False,
    student: str = "",
    progress: bool = True,
    log_level: str = "WARN",
) -> int:
    """Autograde ``assignment`` of the nbgrader course at ``course``; return the exit status.

    student -- nbgrader's ``--student`` (a glob of student ids); empty: every student
    """
    from tqdm import tqdm

    from grader.grade import GraderConfigError
    from grader.sandbox import SandboxUnavailable, require_sandbox
    from grader.settings import settings_from

    started = time.perf_counter()
    config = course_config(course)
    # The settings nbgrader's TrustedGrade reads from the same configuration while recording.
    settings = settings_from(config)
    sandbox = bool(config.TrustedGrade.get("sandbox", True)) and settings.sandbox
    limits = settings.limits()
    try:
        with working_directory(course):  # a relative secret_file is read as nbgrader reads it
            secret, _ = settings.secret()
    except GraderConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if sandbox:
        try:
            require_sandbox()
        except SandboxUnavailable as error:
            print(f"error: the grading sandbox is not available: {error}", file=sys.stderr)
            return EXIT_NO_SANDBOX
    paths = submissions_to_grade(
        course, config, assignment=assignment, student=student, force=force
    )
    graded = [0]

    def verdict_done() -> None:  # in the executor's thread
        graded[0] += 1

    # nbgrader's import takes seconds of one core: done before the workers take both.
    import nbgrader.apps.autogradeapp  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="precomputed-verdicts-") as folder:
        executor, distinct = start_grading(
            paths,
            Path(folder),
            jobs=jobs,
            sandbox=sandbox,
            on_done=verdict_done,
            limits=limits,
            secret=secret,
        )
        # Created after the workers are forked: tqdm starts a monitor thread.
        bar = tqdm(total=len(paths), unit="nb", file=sys.stderr, disable=not progress)
        bar.set_description(f"grading {distinct} in {jobs} workers, recording")

        def recorded() -> None:
            bar.set_postfix_str(f"graded {graded[0]}", refresh=False)
            bar.update(1)

        try:
            status = record(
                course,
                [
                    f"--assignment={assignment}",
                    f"--TrustedGrade.verdict_cache={folder}",
                    "--IntakeAutograde.list_manual_grading=False",  # printed below, last
                    f"--log-level={log_level}",
                    *(["--force"] if force else []),
                    *([f"--student={student}"] if student else []),
                ],
                tick=recorded,
            )
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            bar.close()
    if progress:
        print(
            f"autograded {len(paths)} submissions in {time.perf_counter() - started:.1f} s "
            f"({jobs} grading workers); nbgrader exit status {status}",
            file=sys.stderr,
        )
    _print_manual_grading()
    return status


def _print_manual_grading() -> None:
    """The run's last lines: the submissions nbgrader's run flagged for manual grading, and why
    (also printed with --quiet: it is the run's result, not its progress)."""
    from grader import nbgrader_plugin
    from grader.report import manual_grading_lines

    for line in manual_grading_lines(nbgrader_plugin.LAST_RUN_NEEDS_MANUAL_GRADING):
        print(line, file=sys.stderr)


def record(course: Path, argv: list[str], *, tick) -> int:
    """Run nbgrader's autograde in this process; ``tick()`` after each recorded submission."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from traitlets.config import Config

    with working_directory(course):
        app = AutogradeApp()
        app.initialize(argv)
        hooks = Config()
        hooks.Autograde.post_convert_hook = lambda **_: tick()
        app.update_config(hooks)
        try:
            app.start()
        except SystemExit as exit_:  # nbgrader exits 1 after the others when a submission failed
            return int(exit_.code or 0)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader.parallel",
        description="Autograde every submission of an nbgrader course, sandboxes in parallel, "
        "nbgrader recording the grades (the same gradebook as `nbgrader autograde`).",
    )
    parser.add_argument(
        "course", nargs="?", type=Path, default=Path("."), help="course folder (default: .)"
    )
    parser.add_argument("--assignment", default=ASSIGNMENT_ID, help="assignment id")
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="submissions graded at the same time (default: the number of CPUs)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regrade submissions already autograded"
    )
    parser.add_argument(
        "--student", default="", help="only these students (nbgrader's glob, e.g. 'a*')"
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="autograde on the workers of this Dask scheduler, each recording into the course's "
        "PostgreSQL gradebook (grader.cluster_autograde; default: c.TrustedGrader.scheduler, "
        "else --jobs processes here)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="with --scheduler: students autograded by one nbgrader process on a worker "
        "(default: a few batches per worker)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.add_argument("--verbose", "-v", action="store_true", help="nbgrader's INFO log")
    return parser


def _configured_scheduler(course: Path) -> str:
    """c.TrustedGrader.scheduler of the course's nbgrader_config.py ("" if none)."""
    if not (course / "nbgrader_config.py").is_file():
        return ""
    return str(course_config(course).TrustedGrader.get("scheduler", ""))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.batch < 0:
        parser.error("--batch must be at least 1")
    course = args.course.resolve()
    scheduler = args.scheduler or _configured_scheduler(course)
    if scheduler:
        from grader.cluster_autograde import autograde_on_cluster

        return autograde_on_cluster(
            course,
            scheduler=scheduler,
            assignment=args.assignment,
            force=args.force,
            student=args.student,
            progress=not args.quiet,
            log_level="INFO" if args.verbose else "WARN",
            batch=args.batch,
        )
    return autograde_parallel(
        course,
        assignment=args.assignment,
        jobs=args.jobs,
        force=args.force,
        student=args.student,
        progress=not args.quiet,
        log_level="INFO" if args.verbose else "WARN",
    )


if __name__ == "__main__":
    raise SystemExit(main())
