"""The command line: ``python -m grader grade NOTEBOOK...`` grades notebooks without a gradebook.

Installed (``pip install``), the same command is ``cnn-grader``, from any folder. Its other
commands set a course up: ``cnn-grader init-course DIR`` (a standalone nbgrader course,
``grader.course``) and ``cnn-grader secret PATH`` (a new course secret, mode 0600).

Settings: ``grade`` reads the ``c.TrustedGrader`` settings (secret file, limits, sandbox switch;
``grader.settings``) of ``--config FILE``, or of ./nbgrader_config.py when there is one.

One notebook: a readable report, or with ``--json`` exactly one JSON object on stdout
(``Grade.to_json``). Several notebooks (or ``--csv``): graded ``--jobs`` at a time with a progress
bar on stderr, a summary table on stdout, and optionally one CSV row per notebook. With
``--json`` and several notebooks, stdout holds one JSON object per line (JSON Lines), each with
``student`` and ``file`` added. With ``--scheduler tcp://HOST:PORT`` (or
``c.TrustedGrader.scheduler``), they are graded on the checked workers of a Dask cluster instead
(``grader.executor``), with the same output (one notebook too gets the summary).
Logs and warnings always go to stderr, so stdout stays machine-readable.

Exit status: 0 whenever grades were produced (an unreadable notebook gets total 0 and an
``error``: that is a grade, not a failure); 2 for misuse (bad arguments, bad configuration);
3 when the sandbox (bubblewrap) is missing; 1 when the sandbox failed before any student code
ran (one line on stderr says why: an infrastructure fault, not a grade), when a submission could
not be graded on the Dask cluster (its task failed there: its error grade is still written and
listed, the others' grades too), or for an internal error of the grader itself (with its
traceback; or, in a batch, on some notebooks only: each gets an "internal grader error" grade,
written and listed, and the run still exits 1).

Each path is checked by ``grader.intake`` before anything opens it: a notebook that is a link,
a FIFO, a device, a hard link or larger than ``intake.MAX_NOTEBOOK_BYTES`` gets an error grade
(0) with the reason instead of being read, and so does one in an nbgrader submission folder
(``submitted/<student>/<assignment>/``) that the intake refuses, as ``nbgrader autograde`` would.

The student id of a path is the student folder when the path is laid out the nbgrader way
(``.../submitted/<student>/<assignment>/<notebook>.ipynb``, or ``autograded/``), else the file's
stem (``alice.ipynb`` -> ``alice``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

from grader import intake, settings
from grader.executor import ClusterError, internal_error, lost_on_cluster
from grader.exercises import EXERCISES, part_points
from grader.grade import (
    GraderConfigError,
    grade_many,
    grade_notebook,
    unreadable_grade,
)
from grader.sandbox import SandboxError, SandboxUnavailable
from grader.verdict import Grade

EXIT_OK = 0  # an uncaught exception (a grader bug) exits 1 with its traceback
EXIT_SANDBOX_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_SANDBOX = 3

NBGRADER_FOLDERS = ("submitted", "autograded")
REPORT_WIDTH = 100

CSV_COLUMNS = (
    "student",
    "file",
    *(exercise.name for exercise in EXERCISES),
    "forward",
    "backward",
    "total",
    "max",
    "error",
)

log = logging.getLogger("grader")

GRADE_EPILOG = """\
course secret:
  Hidden inputs are drawn from HMAC(secret, graded code): the same code always gets the same
  grade, but students cannot predict or memorise the inputs. For a real course, set
  c.TrustedGrader.secret_file in the configuration (create the file with `secret PATH`), or
  GRADER_SECRET (or GRADER_SECRET_FILE=path), which override it. Without any, a PUBLIC
  development secret is used (a warning says so): fine for development, not for grading.

settings:
  --config FILE, else ./nbgrader_config.py when present: c.TrustedGrader.secret_file,
  exercise_seconds, submission_seconds, cpu_seconds, memory_bytes, processes,
  sandbox_memory_bytes, sandbox and scheduler (see the README).

a Dask cluster (--scheduler tcp://HOST:PORT):
  each submission is graded on a worker of the cluster, in its sandbox; every worker is checked
  first (bubblewrap, the same grader version, the same course secret, by fingerprint) and any
  mismatch stops the run, nothing graded (exit 1). Needs pip install 'cnn-step-by-step[dask]'.

student ids (summary, CSV):
  submitted/<student>/<assignment>/x.ipynb (nbgrader layout) -> <student>; otherwise the file
  name without .ipynb.

exit status:
  0  grades produced (an unreadable notebook is graded 0 with an "error": still exit 0)
  2  misuse: bad arguments or configuration
  3  the sandbox cannot run here: bubblewrap missing or not allowed (the message says what
     to install or grant), or --no-sandbox for development only
  1  the sandbox failed before running any student code (one line says why), a Dask worker
     was refused or the scheduler cannot be reached, a submission could not be graded on the
     Dask cluster (its workers died: the others are graded and written), or the grader
     itself failed, on the whole run (a bug: the traceback says where) or on some submissions
     (each graded 0 with an "internal grader error", written and listed: grade them again)
"""


def student_id(path: Path) -> str:
    """The student folder of an nbgrader layout (submitted/<student>/<assignment>/x.ipynb),
    else the file's stem."""
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-4] in NBGRADER_FOLDERS:
        return parts[-3]
    return Path(path).stem


def refusal(path: Path) -> str | None:
    """Why ``path`` must not be read (``grader.intake``), or None. In an nbgrader submission
    folder, the folder's check applies too, so the grade is the one nbgrader's autograde gives."""
    problems = intake.check_notebook_file(path)
    parts = Path(path).parts
    if not problems and len(parts) >= 4 and parts[-4] == "submitted":
        problems = intake.check_submission_folder(Path(path).parent)
    return intake.refusal_reason(problems) if problems else None


def part_score(grade: Grade, part: str) -> float:
    """Points scored in one part ("forward" or "backward")."""
    names = {exercise.name for exercise in EXERCISES if exercise.part == part}
    return round(sum(verdict.score for verdict in grade.exercises if verdict.name in names), 2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-grader" if Path(sys.argv[0]).name == "cnn-grader" else "python -m grader",
        description="Grade 'CNN: Step by Step' submissions in a sandbox, without a gradebook.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    grade = commands.add_parser(
        "grade",
        help="grade one or more submission notebooks",
        description="Grade submission notebooks. One notebook: a report (or --json). "
        "Several: a summary table (and --csv).",
        epilog=GRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument(
        "notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="submission .ipynb file(s)"
    )
    grade.add_argument(
        "--json", action="store_true", help="print the grade as JSON on stdout (one per line)"
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code WITHOUT bubblewrap isolation (development only)",
    )
    grade.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the hidden inputs (default: derived from the course secret and the code)",
    )
    grade.add_argument(
        "--jobs",
        "-j",
        type=_positive_int,
        default=1,
        help="notebooks graded at the same time (default: 1)",
    )
    grade.add_argument(
        "--csv", type=Path, default=None, metavar="FILE", help="write one row per notebook here"
    )
    grade.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    grade.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="grade on the workers of this Dask scheduler (needs the [dask] extra; default: "
        "c.TrustedGrader.scheduler, else a local pool of --jobs)",
    )
    add_report_command(commands)
    grade.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="nbgrader_config.py whose c.TrustedGrader settings apply "
        "(default: ./nbgrader_config.py if present)",
    )
    init_course = commands.add_parser(
        "init-course",
        help="create a standalone nbgrader course of this assignment in a folder",
        description="Create nbgrader_config.py and source/cnn_step_by_step/ (the notebook, the "
        "public tests and their data, the figures, all copies) in FOLDER, ready for "
        "`nbgrader generate_assignment cnn_step_by_step` run there.",
    )
    init_course.add_argument("folder", type=Path, metavar="FOLDER", help="created if missing")
    init_course.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="set c.TrustedGrader.secret_file to this file (see the `secret` command)",
    )
    secret = commands.add_parser(
        "secret",
        help="write a new course secret to a new file (mode 0600)",
        description="Write 32 random bytes (hex) to PATH, readable by you only; never "
        "overwrites a file (grades drawn with an old secret could no longer be reproduced).",
    )
    secret.add_argument("path", type=Path, metavar="PATH", help="the secret file to create")
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "report":
        return _report(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "init-course":
        return _init_course(args)
    if args.command == "secret":
        return _write_secret(args)
    if args.seed is not None and args.seed < 0:
        parser.error("--seed must be a non-negative integer")
    if args.seed is not None and len(args.notebooks) > 1:
        parser.error("--seed applies to one notebook; batches derive each notebook's seed")
    try:
        args.settings = _settings(args.config)
        args.secret, secret_source = args.settings.secret()
    except GraderConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    args.limits = args.settings.limits()
    args.no_sandbox = args.no_sandbox or not args.settings.sandbox
    args.scheduler = args.scheduler or args.settings.scheduler or None
    if args.scheduler and args.no_sandbox:
        print("error: a Dask cluster grades in the sandbox only (no --no-sandbox)", file=sys.stderr)
        return EXIT_USAGE
    if args.scheduler and args.seed is not None:
        print("error: --seed does not apply to a Dask cluster", file=sys.stderr)
        return EXIT_USAGE
    if secret_source == "development default" and args.seed is None:
        log.warning(
            "no course secret (c.TrustedGrader.secret_file, GRADER_SECRET): hidden inputs use "
            "the public development secret (fine for development, not for a course)"
        )
    if args.no_sandbox:
        log.warning(
            "--no-sandbox: student code runs WITHOUT isolation, with your permissions "
            "(development only; never on real submissions)"
        )
        # This warning, once, replaces grader.sandbox's, which it logs on every notebook.
        logging.getLogger("grader.sandbox").addFilter(_without_per_run_no_sandbox_warning)
    try:
        if len(args.notebooks) == 1 and args.csv is None and not args.scheduler:
            return _grade_single(args)
        return _grade_batch(args)
    except BrokenPipeError:  # stdout closed early (`... | head`): not an error of the grader
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except SandboxUnavailable as error:
        # The probe's message says what is missing and how to give it (bubblewrap to install,
        # capabilities, user namespaces): adding "install bubblewrap" to every one misled.
        print(f"error: the grading sandbox is not available: {error}", file=sys.stderr)
        return EXIT_NO_SANDBOX
    except ClusterError as error:
        print(f"error: {error} (nothing was graded)", file=sys.stderr)
        return EXIT_SANDBOX_FAILED
    except SandboxError as error:  # the message's first line says why; the rest is the harness's
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(
            f"error: {reason} (an infrastructure fault, not the submission's: nothing was graded)",
            file=sys.stderr,
        )
        return EXIT_SANDBOX_FAILED


def _settings(config: Path | None) -> settings.TrustedGrader:
    """The ``c.TrustedGrader`` settings of ``config`` (or ./nbgrader_config.py, or defaults).
    Raises GraderConfigError when the configuration cannot be read."""
    path = settings.find_config(config)
    if path is None:
        return settings.settings_from(None)
    try:
        return settings.settings_from(settings.load_config(path))
    except Exception as error:  # whatever the configuration file raises
        raise GraderConfigError(f"cannot read the configuration {path}: {error}") from None


def _init_course(args) -> int:
    from grader.course import init_course

    try:
        folder = init_course(args.folder, secret_file=args.secret_file)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created the nbgrader course {folder}")
    if args.secret_file is not None and not args.secret_file.exists():
        print(f"note: {args.secret_file} does not exist yet: create it with `secret`")
    print(f"next: cd {folder} && nbgrader generate_assignment cnn_step_by_step")
    return EXIT_OK


def _write_secret(args) -> int:
    try:
        path = settings.write_secret_file(args.path)
    except FileExistsError:
        print(
            f"error: {args.path} exists: a secret is never overwritten (see the README on "
            "rotating it)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(f"wrote a new course secret to {path} (mode 0600); keep it, and a backup, private")
    return EXIT_OK


def _without_per_run_no_sandbox_warning(record: logging.LogRecord) -> bool:
    """False for grader.sandbox's "WITHOUT the sandbox" warning (logged on every run)."""
    return "WITHOUT the sandbox" not in record.getMessage()


def _grade_single(args) -> int:
    path = args.notebooks[0]
    reason = refusal(path)
    if reason is not None:
        grade = unreadable_grade(reason)
    else:
        grade = grade_notebook(
            path,
            sandbox=not args.no_sandbox,
            seed=args.seed,
            limits=args.limits,
            secret=args.secret,
        )
    if args.json:
        print(grade.to_json())
    else:
        print(format_report(path, grade))
    _print_manual_grading([path], [grade])
    return EXIT_OK


def _grade_batch(args) -> int:
    paths = list(args.notebooks)
    refusals = [refusal(path) for path in paths]
    accepted = [path for path, reason in zip(paths, refusals, strict=True) if reason is None]
    graded = iter(
        grade_many(
            accepted,
            jobs=args.jobs,
            sandbox=not args.no_sandbox,
            progress=not args.quiet,
            limits=args.limits,
            secret=args.secret,
            scheduler=args.scheduler,
        )
    )
    grades = [next(graded) if reason is None else unreadable_grade(reason) for reason in refusals]
    if args.csv is not None:
        write_csv(args.csv, paths, grades)
    if args.json:
        for path, grade in zip(paths, grades, strict=True):
            data = grade.to_json_dict()
            data.update(student=student_id(path), file=str(path))
            print(json.dumps(data))
    else:
        print(format_summary(paths, grades))
    _print_manual_grading(paths, grades)
    lost = sum(1 for grade in grades if args.scheduler and lost_on_cluster(grade))
    if lost:  # written out and listed, but not graded: an infrastructure fault, like the sandbox's
        print(
            f"error: {lost} submission(s) could not be graded on the Dask cluster (their workers "
            "died; listed above): grade them again",
            file=sys.stderr,
        )
        return EXIT_SANDBOX_FAILED
    failed = sum(1 for grade in grades if internal_error(grade))
    if failed:  # likewise: the grader failed on them, their 0 is no grade
        print(
            f"error: the grader itself failed on {failed} submission(s) (an internal grader "
            "error, listed above, not the submission's fault): grade them again",
            file=sys.stderr,
        )
        return EXIT_SANDBOX_FAILED
    return EXIT_OK


def manual_grading_reasons(grade: Grade) -> list[str]:
    """Why a grade needs an instructor's look (as ``nbgrader autograde`` flags it): the notebook
    could not be graded (unreadable, empty, refused), or its code was found by function name
    because its metadata was damaged. Empty when it was graded normally."""
    reasons = [f"not graded: {grade.error}"] if grade.error else []
    return reasons + list(grade.notes)


def _print_manual_grading(paths: list[Path], grades: list[Grade]) -> None:
    """The run's last lines, on stderr (stdout stays machine-readable): who needs manual grading
    and why."""
    from grader.report import manual_grading_lines

    flagged = [
        (student_id(path), manual_grading_reasons(grade))
        for path, grade in zip(paths, grades, strict=True)
    ]
    for line in manual_grading_lines(flagged):
        print(line, file=sys.stderr)


# --- report --------------------------------------------------------------------------------------


def add_report_command(commands) -> None:
    report = commands.add_parser(
        "report",
        help="class analytics: score distributions, failing checks, frequent mistakes",
        description="Read an nbgrader course's gradebook (and its autograded notebooks, which "
        "hold every check's verdict), or the JSON Lines / CSV output of `grade`, and write "
        "analytics.csv and analytics.html (plots embedded): the score distribution per "
        "exercise, the share of students failing each named check, the most frequent hints.",
    )
    report.add_argument(
        "source",
        type=Path,
        metavar="COURSE_OR_FILE",
        help="an nbgrader course folder, or a file written by `grade --json` or `grade --csv`",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="where to write (default: COURSE/analytics, or analytics/ beside the file)",
    )


def _report(args) -> int:
    from grader.report import manual_grading_lines, report

    if not args.source.exists():
        print(f"error: {args.source} does not exist", file=sys.stderr)
        return EXIT_USAGE
    try:
        analytics, csv_path, html_path = report(args.source, args.out)
    except ImportError as error:  # the plots need matplotlib, which the grader alone does not
        print(f"error: the report's plots need matplotlib ({error})", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError, KeyError) as error:
        print(f"error: cannot read {args.source}: {error!r}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{analytics.students} students; wrote {csv_path} and {html_path}")
    worst = sorted(analytics.checks, key=lambda check: -check.share_failed)[:5]
    if worst and worst[0].failed:
        print("checks failed most:")
        for check in worst:
            if check.failed:
                print(
                    f"  {check.exercise}: {check.check}: {check.failed} of {check.students}"
                    f" ({100 * check.share_failed:.0f}%)"
                )
    flagged = [(student, [reasons]) for student, reasons in analytics.flagged]
    for line in manual_grading_lines(flagged):
        print(line)
    return EXIT_OK


# --- output ------------------------------------------------------------------------------------


def _points(value: float) -> str:
    return f"{value:g}"


def format_report(path: Path, grade: Grade) -> str:
    """The readable report of one notebook: per exercise score/max, failed checks, notes."""
    forward, backward = part_score(grade, "forward"), part_score(grade, "backward")
    lines = [
        f"{path}: {_points(grade.total)} / {_points(grade.max)}"
        f"  (forward {_points(forward)} / {_points(part_points('forward'))},"
        f" backward {_points(backward)} / {_points(part_points('backward'))})"
    ]
    if grade.error:
        lines.append(f"error: {grade.error}")
        return "\n".join(lines)
    width = max(len(exercise.name) for exercise in EXERCISES)
    for verdict in grade.exercises:
        status = "" if verdict.status == "graded" else f"  [{verdict.status}]"
        lines.append(
            f"  {verdict.name:<{width}}  {_points(verdict.score):>5} / {_points(verdict.max):<3}"
            f"{status}".rstrip()
        )
        if verdict.message:
            lines.append(_wrapped(verdict.message, "      "))
        for check in verdict.checks:
            if not check.passed:
                hint = f": {check.hint}" if check.hint else ""
                lines.append(_wrapped(f"failed check '{check.name}'{hint}", "      "))
    if grade.notes:
        lines.append("notes:")
        lines.extend(_wrapped(note, "    ", first="  - ") for note in grade.notes)
    return "\n".join(lines)


def _wrapped(text: str, indent: str, *, first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=REPORT_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def format_summary(paths: list[Path], grades: list[Grade]) -> str:
    """One line per notebook: student, forward /<points>, backward /<points>, total, error."""
    forward, backward = (f"{part}/{_points(part_points(part))}" for part in ("forward", "backward"))
    rows = [("student", forward, backward, "total", "error")]
    for path, grade in zip(paths, grades, strict=True):
        rows.append(
            (
                student_id(path),
                _points(part_score(grade, "forward")),
                _points(part_score(grade, "backward")),
                _points(grade.total),
                grade.error or "",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:4], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells + [row[4]]).rstrip())
    return "\n".join(lines)


def csv_row(path: Path, grade: Grade) -> dict:
    """One CSV row (keys = ``CSV_COLUMNS``) for one graded notebook."""
    row = {"student": student_id(path), "file": str(path)}
    scores = {verdict.name: verdict.score for verdict in grade.exercises}
    for exercise in EXERCISES:
        row[exercise.name] = scores.get(exercise.name, 0.0)
    row.update(
        forward=part_score(grade, "forward"),
        backward=part_score(grade, "backward"),
        total=grade.total,
        max=grade.max,
        error=grade.error or "",
    )
    return row


def write_csv(path: Path, paths: list[Path], grades: list[Grade]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for notebook, grade in zip(paths, grades, strict=True):
            writer.writerow(csv_row(notebook, grade))
