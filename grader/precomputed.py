"""Precomputed verdicts: a folder of Grades keyed by the graded code, written by grader.parallel
while nbgrader's autograde runs, read by grader.nbgrader_plugin.TrustedGrade.

    <key>.pending   a verdict for this key is being computed: wait for it
    <key>.json      the Grade (``Grade.to_json``), written atomically

The key (``verdict_key``) names exactly what determines a Grade: the code the grader extracts
(``Extraction.digest`` plus what was missing and the notes), the grading secret (it draws the
hidden inputs), the sandbox flag and the sandbox's limits (a time or memory bound can turn a
verdict into a timeout). Everything else in a notebook (test cells, outputs, cell
ids, markdown) leaves the key unchanged, so the raw submission and nbgrader's sanitized copy of it
share their key; any difference in graded code gives another key, and a verdict is never reused
for code it was not computed from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

from grader.extract import Extraction
from grader.verdict import CheckVerdict, ExerciseVerdict, Grade

POLL_SECONDS = 0.01


def verdict_key(
    extraction: Extraction, *, sandbox: bool, secret: bytes | None = None, limits=None
) -> str:
    """The name of the verdict of ``extraction`` graded with or without the sandbox, under
    ``secret`` (None: ``grading_secret()``) and ``limits`` (None: ``Limits()``)."""
    from grader.grade import grading_secret
    from grader.sandbox import Limits

    if secret is None:
        secret, _ = grading_secret()
    limits = Limits() if limits is None else limits
    graded = {
        "code": extraction.digest(),
        "missing": extraction.missing,
        "notes": list(extraction.notes),
        "error": extraction.error,
        "sandbox": sandbox,
        "limits": dataclasses.asdict(limits),
    }
    digest = hashlib.sha256(hashlib.sha256(secret).digest())
    digest.update(json.dumps(graded, sort_keys=True).encode())
    return digest.hexdigest()


def grade_from_json_dict(data: dict) -> Grade:
    """Inverse of ``Grade.to_json_dict`` (tuples restored, extra keys ignored)."""
    exercises = tuple(
        ExerciseVerdict(
            name=exercise["name"],
            score=float(exercise["score"]),
            max=float(exercise["max"]),
            checks=tuple(
                CheckVerdict(check["name"], bool(check["passed"]), check.get("hint"))
                for check in exercise["checks"]
            ),
            status=exercise.get("status", "graded"),
            message=exercise.get("message"),
        )
        for exercise in data["exercises"]
    )
    return Grade(
        total=float(data["total"]),
        max=float(data["max"]),
        exercises=exercises,
        error=data.get("error"),
        notes=tuple(data.get("notes", ())),
    )


def announce(folder: Path, key: str) -> None:
    """Say that the verdict of ``key`` is being computed (readers will wait for it)."""
    (folder / f"{key}.pending").touch()


def withdraw(folder: Path, key: str) -> None:
    """Say that no verdict of ``key`` is coming after all (readers grade it themselves)."""
    (folder / f"{key}.pending").unlink(missing_ok=True)


def store(folder: Path, key: str, grade: Grade) -> None:
    """Store ``grade`` under ``key`` atomically, then clear its announcement."""
    partial = folder / f"{key}.partial"
    partial.write_text(grade.to_json())
    os.replace(partial, folder / f"{key}.json")
    withdraw(folder, key)


def fetch(folder: Path, key: str, *, wait_seconds: float) -> Grade | None:
    """The Grade stored under ``key``; while it is announced, wait for it up to ``wait_seconds``.
    None when there is none (never announced, withdrawn, or not in time)."""
    stored, pending = folder / f"{key}.json", folder / f"{key}.pending"
    deadline = time.monotonic() + wait_seconds
    while True:
        # Announcement first: ``store`` writes the verdict before it withdraws the announcement,
        # so a verdict stored in between is seen below.
        announced = pending.exists()
        if stored.is_file():
            return grade_from_json_dict(json.loads(stored.read_text()))
        if not announced or time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)
