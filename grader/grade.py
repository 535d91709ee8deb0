"""Grading a submission notebook end to end: extract, hidden checks, sandboxed run, verdicts.

The pipeline, in order (each step needs the one before it):

1. ``extract``: the graded code of each exercise (a missing exercise is "not found").
2. ``grading_seed``: the seed of the hidden inputs, from the course secret and that code.
3. ``hidden_checks``: the checks of each found exercise, hence the calls to make.
4. ``run_submission``: every call, in the sandbox; only plain data comes back.
5. ``judge``: the verdicts, computed here, in the trusted process, against the reference.

The seed. Hidden inputs are drawn from a seed that is an HMAC of the graded code under a course
secret: re-grading the same code (a re-run, a regrade, a parallel run) draws the same inputs and
gives the same grade, but a student cannot predict the inputs (the secret is not theirs), and any
change to the code draws new ones, so outputs seen in one round of feedback cannot be memorised
and hard-coded into the next submission. Set the secret in a file named by the course's
``c.TrustedGrader.secret_file`` (``grader.settings``; ``cnn-grader secret PATH`` creates one),
or in the environment: ``GRADER_SECRET`` (the secret) or ``GRADER_SECRET_FILE`` (a file), which
override the configuration. Without any, a fixed development secret is used, which is public
(it is in this file): fine for development and CI, never for a real course.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from grader.calls import Call
from grader.exercises import EXERCISES
from grader.extract import Extraction, extract
from grader.hidden_checks import hidden_checks, judge
from grader.sandbox import (
    Limits,
    SubmissionRun,
    run_submission,
)
from grader.verdict import ExerciseVerdict, Grade, exercise_score

log = logging.getLogger(__name__)

DEVELOPMENT_SECRET = b"cnn-step-by-step: development grading secret, public, not for a course"
SECRET_ENV = "GRADER_SECRET"
SECRET_FILE_ENV = "GRADER_SECRET_FILE"

STATUS_GRADED = "graded"
STATUS_NOT_IMPLEMENTED = "not implemented"
STATUS_NOT_FOUND = "not found"
STATUS_ERROR = "error"

MAX_POINTS = float(sum(exercise.points for exercise in EXERCISES))


class GraderConfigError(Exception):
    """The grader is misconfigured (e.g. GRADER_SECRET_FILE cannot be read)."""


def grading_secret(configured_file: str | None = None) -> tuple[bytes, str]:
    """(secret, where it came from): ``GRADER_SECRET``, ``GRADER_SECRET_FILE``, then
    ``configured_file`` (``c.TrustedGrader.secret_file``), else the development default."""
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret.encode("utf-8"), SECRET_ENV
    for name, secret_file in (
        (SECRET_FILE_ENV, os.environ.get(SECRET_FILE_ENV)),
        ("TrustedGrader.secret_file", configured_file),
    ):
        if not secret_file:
            continue
        try:
            secret_bytes = Path(secret_file).read_bytes().strip()
        except OSError as error:
            raise GraderConfigError(
                f"{name}={secret_file} cannot be read: {error.strerror or error}"
            ) from None
        if not secret_bytes:
            raise GraderConfigError(f"{name}={secret_file} is empty")
        return secret_bytes, name
    return DEVELOPMENT_SECRET, "development default"


def grading_seed(extraction: Extraction, secret: bytes | None = None) -> int:
    """A 63-bit seed: HMAC-SHA256 of the graded code (``extraction.digest()``) under the secret."""
    if secret is None:
        secret, _ = grading_secret()
    mac = hmac.new(secret, extraction.digest().encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") >> 1


def grade_notebook(
    path,
    *,
    sandbox: bool = True,
    seed: int | None = None,
    limits=None,
    secret: bytes | None = None,
) -> Grade:
    """Grade the submission notebook at ``path`` on all eight exercises, in ``EXERCISES`` order.

    sandbox -- False runs the student's code without bubblewrap (development only)
    seed    -- the hidden inputs' seed; None derives it from the code (see the module docstring)
    limits  -- the sandbox's resource limits; None: ``Limits()``
    secret  -- the course secret (``grading_seed``); None: ``grading_secret()``
    Returns a Grade; a file that is not a readable notebook gives total 0 and ``error`` set.
    Raises SandboxUnavailable when ``sandbox`` is True and bubblewrap cannot run.
    """
    extraction = extract(path)
    if extraction.error is not None:
        return unreadable_grade(extraction.error)
    limits = Limits() if limits is None else limits
    if seed is None:
        seed = grading_seed(extraction, secret)

    checks = {name: tuple(hidden_checks(name, seed)) for name in extraction.cells}
    # Hidden cases are sent only after the public ones have answered, and come back in the
    # grader's words only (grader.exercise_run.hidden_safe).
    calls = {
        name: [
            Call(case.call.args, hidden=case.hidden)
            for check in exercise_checks
            for case in check.cases
        ]
        for name, exercise_checks in checks.items()
    }
    if calls:
        run = run_submission(
            extraction.setup, extraction.cells, calls, limits=limits, sandbox=sandbox
        )
    else:  # nothing of the assignment in this notebook: no student code to run
        run = SubmissionRun(outcomes={}, exercise_errors={})

    if run.setup_error is not None:  # the trusted setup: never the student's fault
        raise RuntimeError(f"the trusted setup cell failed in the sandbox: {run.setup_error}")

    verdicts = []
    for exercise in EXERCISES:
        name = exercise.name
        if name in extraction.missing:
            verdicts.append(_verdict(exercise, (), STATUS_NOT_FOUND, extraction.missing[name]))
        else:
            outcomes = _split(run.outcomes.get(name, []), checks[name])
            failure = run.exercise_errors.get(name)
            verdicts.append(_judged(exercise, checks[name], outcomes, failure))
    total = round(sum(verdict.score for verdict in verdicts), 2)
    return Grade(total, MAX_POINTS, tuple(verdicts), None, extraction.notes)


def unreadable_grade(error: str) -> Grade:
    """The grade of a file that could not be read as a notebook: 0 everywhere, ``error`` set."""
    verdicts = tuple(
        _verdict(exercise, (), STATUS_NOT_FOUND, "the notebook could not be read")
        for exercise in EXERCISES
    )
    return Grade(0.0, MAX_POINTS, verdicts, error)


def _verdict(exercise, checks, status, message) -> ExerciseVerdict:
    score = exercise_score(exercise.points, checks)
    return ExerciseVerdict(exercise.name, score, float(exercise.points), checks, status, message)


def _split(flat_outcomes: Sequence, exercise_checks) -> list[list]:
    """outcomes[k][j] for checks[k].cases[j], from the flat list run in the order of the calls."""
    outcomes, start = [], 0
    for check in exercise_checks:
        outcomes.append(list(flat_outcomes[start : start + len(check.cases)]))
        start += len(check.cases)
    if start != len(flat_outcomes):
        raise RuntimeError(f"{len(flat_outcomes)} outcomes for {start} calls")
    return outcomes


def _judged(exercise, exercise_checks, outcomes, failure: str | None) -> ExerciseVerdict:
    """The verdict of an exercise whose code was sent to the sandbox.

    failure -- the sandbox's reason when the exercise failed as a whole (timeout, crash, syntax
               error, function not defined); the calls that returned before it still count.
    """
    flat = [outcome for check_outcomes in outcomes for outcome in check_outcomes]
    if failure is not None and failure.startswith("not found"):
        return _verdict(exercise, (), STATUS_NOT_FOUND, failure)
    if flat and all(_is_not_implemented(outcome.error) for outcome in flat):
        return _verdict(
            exercise,
            (),
            STATUS_NOT_IMPLEMENTED,
            f"{exercise.name} raises NotImplementedError: replace the placeholder with your code",
        )
    if failure is not None and all(outcome.error is not None for outcome in flat):
        return _verdict(exercise, (), STATUS_ERROR, failure)  # nothing returned: nothing to judge
    verdicts = tuple(judge(exercise.name, exercise_checks, outcomes))
    if failure is not None:
        return _verdict(exercise, verdicts, STATUS_ERROR, failure)
    return _verdict(exercise, verdicts, STATUS_GRADED, None)


def _is_not_implemented(error: str | None) -> bool:
    return error is not None and (
        error == "NotImplementedError" or error.startswith("NotImplementedError:")
    )


# --- many submissions ------------------------------------------------------------------------


def grade_many(
    paths: Iterable,
    *,
    jobs: int = 1,
    sandbox: bool = True,
    progress: bool = True,
    limits: Limits | None = None,
    secret: bytes | None = None,
    scheduler: str | None = None,
) -> list[Grade]:
    """Grade many notebooks, ``jobs`` sandboxes at a time; results in the order of ``paths``.

    Each grade is exactly what ``grade_notebook`` gives alone (the seed depends only on the
    secret and the code, never on the order or the worker). One submission's failure never
    touches another's: an unexpected error becomes that notebook's ``error``. The work goes to
    an executor (``grader.executor``): threads here that wait on each sandbox process, or, with
    ``scheduler`` (``tcp://HOST:PORT``), the checked workers of a Dask cluster (``jobs`` unused).
    Raises SandboxUnavailable (before grading anything else) when bubblewrap cannot run, and
    grader.executor.ClusterError when the cluster cannot grade.
    """
    from grader.executor import DaskCluster, LocalPool, print_description

    paths = [Path(path) for path in paths]
    if scheduler:
        if not sandbox:
            raise GraderConfigError("a Dask cluster grades in the sandbox only")
        if secret is None:
            secret, _ = grading_secret()
        executor = DaskCluster(scheduler, limits=limits, secret=secret)
    else:
        executor = LocalPool(jobs=jobs, sandbox=sandbox, limits=limits, secret=secret)
    grades: list[Grade | None] = [None] * len(paths)
    try:
        if progress:
            print_description(executor)
        bar = _progress_bar(len(paths), enabled=progress)
        try:
            for index, grade in executor.grades(paths):
                grades[index] = grade
                bar.update(1)
        finally:
            bar.close()
    finally:
        executor.close()
    return grades  # type: ignore[return-value]


def _progress_bar(total: int, *, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="nb", file=sys.stderr, disable=not enabled)
