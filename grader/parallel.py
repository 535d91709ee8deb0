"""Autograde a whole class on one machine in parallel, with nbgrader as the only gradebook writer.

    python -m grader.parallel [COURSE_DIR] [--jobs N] [--force] [--student ID ...]

nbgrader's autograde handles one submission after another (nbgrader issue #174), and two
``nbgrader autograde`` processes on one SQLite gradebook fail on its lock. The expensive part here
is running student code in the sandbox, so that part runs first, ``--jobs`` submissions at a time:

1. sanitize: every submission goes through nbgrader's own sanitize pass (the configured
   ``Autograde.sanitize_preprocessors``: outputs cleared, locked cells restored from the gradebook,
   which is only read), giving exactly the notebook nbgrader's autograde pass will see;
2. grade: ``grader.grade.grade_many`` grades those notebooks in parallel sandboxes; each Grade is
   stored in a private temporary folder under the notebook's content hash
   (``grader.nbgrader_plugin.notebook_key``);
3. record: nbgrader's autograde runs in this process with ``TrustedGrade.verdict_cache`` pointing
   at that folder; TrustedGrade finds each verdict by content instead of grading again, and
   nbgrader writes the gradebook, the autograded notebooks and its logs as in a sequential run.

A verdict is used only for a byte-identical notebook, so the result equals ``nbgrader autograde``
run alone (tests/test_parallel.py checks it); a notebook without a precomputed verdict (e.g. one
nbgrader cannot sanitize) is graded, or fails, in step 3 exactly as it would sequentially.
Exit status: nbgrader's (0, or 1 when a submission failed); 3 when the sandbox is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.exercises import ASSIGNMENT_ID
from grader.nbgrader_plugin import UNREADABLE_KEY, TrustedGrade, notebook_key, write_cached_grade

log = logging.getLogger("grader.parallel")

EXIT_NO_SANDBOX = 3

# grade_many's verdict for a notebook on which the grader itself crashed: not cached, so the
# record step regrades it and nbgrader reports the failure as it would in a sequential run.
INTERNAL_ERROR_PREFIX = "internal grader error"


@dataclass(frozen=True)
class Sanitized:
    """One submission after nbgrader's sanitize pass.

    student -- the student id (folder name under submitted/)
    key     -- ``notebook_key`` of the sanitized notebook
    text    -- the sanitized notebook, serialised
    """

    student: str
    key: str
    text: str


@contextlib.contextmanager
def working_directory(path: Path):
    """nbgrader finds nbgrader_config.py in the current directory."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def autograde_app(argv: list[str]):
    """nbgrader's AutogradeApp, configured from the current directory's nbgrader_config.py."""
    from nbgrader.apps.autogradeapp import AutogradeApp

    app = AutogradeApp()
    app.initialize(argv)
    return app


def sanitize_all(app, *, force: bool) -> tuple[list[Sanitized], bool]:
    """Run nbgrader's sanitize pass on every submission the autograde run will process.

    app -- an initialized AutogradeApp (its coursedir names the assignment and the students)
    Submissions already autograded are skipped unless ``force`` (nbgrader skips them too);
    unreadable ones and ones nbgrader cannot sanitize are left to the record step.
    Returns (the sanitized submissions, whether TrustedGrade is configured to use the sandbox).
    """
    from nbgrader.converters import Autograde

    converter = Autograde(coursedir=app.coursedir, parent=app)
    converter.init_notebooks()
    converter.exporter = converter.exporter_class(parent=converter, config=converter.config)
    converter._init_preprocessors()  # the sanitize list: the converter starts in that mode
    sandbox = TrustedGrade(parent=converter).sandbox
    sanitized = []
    for folder in sorted(converter.assignments):
        for path in sorted(converter.assignments[folder]):
            resources = converter.init_single_notebook_resources(path)
            student = resources["nbgrader"]["student"]
            destination = Path(converter._format_dest(app.coursedir.assignment_id, student))
            if not force and (destination / Path(path).name).exists():
                continue
            try:
                text, _ = converter.exporter.from_filename(path, resources=resources)
            except Exception as error:  # nbgrader reports it again, in its own words, in step 3
                log.warning("%s: not sanitized (%s); left to nbgrader", student, error)
                continue
            nb = nbformat.reads(text, as_version=4)
            if nb.metadata.get(UNREADABLE_KEY):
                continue
            sanitized.append(Sanitized(student, notebook_key(nb, sandbox=sandbox), text))
    return sanitized, sandbox


def precompute_verdicts(
    sanitized: list[Sanitized], cache: Path, *, jobs: int, sandbox: bool, progress: bool
) -> int:
    """Grade the sanitized notebooks ``jobs`` at a time; store each Grade in ``cache`` under its
    key. Returns how many verdicts were stored. Raises SandboxUnavailable."""
    from grader.grade import grade_many

    unique = {item.key: item for item in sanitized}  # identical notebooks are graded once
    paths = []
    for key, item in unique.items():
        path = cache / f"{key}.ipynb"
        path.write_text(item.text)
        paths.append(path)
    grades = grade_many(paths, jobs=jobs, sandbox=sandbox, progress=progress)
    stored = 0
    for key, grade in zip(unique, grades, strict=True):
        if grade.error and grade.error.startswith(INTERNAL_ERROR_PREFIX):
            continue
        write_cached_grade(cache, key, grade)
        stored += 1
    return stored


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
    from grader.sandbox import SandboxUnavailable

    with (
        tempfile.TemporaryDirectory(prefix="precomputed-verdicts-") as cache,
        working_directory(course),
    ):
        argv = [
            f"--assignment={assignment}",
            f"--TrustedGrade.verdict_cache={cache}",
            f"--log-level={log_level}",
        ]
        if force:
            argv.append("--force")
        if student:
            argv.append(f"--student={student}")
        app = autograde_app(argv)
        started = time.perf_counter()
        sanitized, sandbox = sanitize_all(app, force=force)
        _say(progress, f"sanitized {len(sanitized)} submissions ({_since(started)})")
        try:
            stored = precompute_verdicts(
                sanitized, Path(cache), jobs=jobs, sandbox=sandbox, progress=progress
            )
        except SandboxUnavailable as error:
            print(f"error: the grading sandbox is not available: {error}", file=sys.stderr)
            return EXIT_NO_SANDBOX
        _say(progress, f"graded {stored} distinct notebooks, {jobs} at a time ({_since(started)})")
        status = record(app, total=len(sanitized), progress=progress)
        _say(progress, f"recorded in the gradebook ({_since(started)})")
        return status


def record(app, *, total: int, progress: bool) -> int:
    """Run nbgrader's autograde (step 3), ticking a progress bar per submission."""
    from tqdm import tqdm
    from traitlets.config import Config

    bar = tqdm(total=total, desc="recording", unit="nb", file=sys.stderr, disable=not progress)
    hooks = Config()
    hooks.Autograde.pre_convert_hook = lambda **_: bar.update(1)
    app.update_config(hooks)
    try:
        app.start()
    except SystemExit as exit_:  # nbgrader exits 1 after the others when a submission failed
        return int(exit_.code or 0)
    finally:
        bar.close()
    return 0


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)


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
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    parser.add_argument("--verbose", "-v", action="store_true", help="nbgrader's INFO log")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        build_parser().error("--jobs must be at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    return autograde_parallel(
        args.course.resolve(),
        assignment=args.assignment,
        jobs=args.jobs,
        force=args.force,
        student=args.student,
        progress=not args.quiet,
        log_level="INFO" if args.verbose else "WARN",
    )


if __name__ == "__main__":
    raise SystemExit(main())
