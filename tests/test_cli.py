"""Tests of grader.cli: `python -m grader grade`, its JSON contract, exit codes and batch mode."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader.exercises import EXERCISE_NAMES, exercise_named, part_points, total_points
from grader.grade import unreadable_grade
from grader.sandbox import SandboxError
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.mistakes import MISTAKES
from tests.factories import submission, write

ROOT = Path(__file__).resolve().parent.parent
CANONICAL_SOURCES = {name: variant.source for name, variant in CANONICAL.items()}


def run_cli(*args: str, path_env: str | None = None) -> subprocess.CompletedProcess:
    """``python -m grader ARGS`` in a fresh process, from the repository root."""
    environment = dict(os.environ)
    environment.pop("GRADER_SECRET", None)  # the development secret, and its warning
    environment.pop("GRADER_SECRET_FILE", None)
    if path_env is not None:
        environment["PATH"] = path_env
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def canonical_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "canonical.ipynb"
    write(submission(CANONICAL_SOURCES), path)
    return path


def assert_json_contract(data: dict) -> None:
    """The CLI's documented JSON shape (extra keys allowed)."""
    assert isinstance(data["total"], float)
    assert isinstance(data["max"], float)
    assert data["error"] is None or isinstance(data["error"], str)
    assert [exercise["name"] for exercise in data["exercises"]] == list(EXERCISE_NAMES)
    for exercise in data["exercises"]:
        assert isinstance(exercise["score"], float)
        assert isinstance(exercise["max"], float)
        for check in exercise["checks"]:
            assert isinstance(check["name"], str)
            assert isinstance(check["passed"], bool)
            assert check["hint"] is None or isinstance(check["hint"], str)


def test_json_of_the_canonical_solution(canonical_path):
    """Does --json print exactly one JSON object on stdout, full marks, logs only on stderr?"""
    completed = run_cli("grade", str(canonical_path), "--json")
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)  # exactly one JSON document, nothing else
    assert_json_contract(data)
    assert data["total"] == data["max"] == total_points()
    assert data["error"] is None
    assert "Traceback" not in completed.stderr
    assert "GRADER_SECRET" in completed.stderr  # the development-secret warning, on stderr


@pytest.mark.parametrize(
    "content",
    [b"", b"{ not json", bytes(range(256)) * 4, b'{"nbformat": 4, "nbformat_minor": 5, '
     b'"metadata": {}, "cells": []}'],
    ids=["empty", "not-json", "binary", "zero-cells"],
)  # fmt: skip
def test_unreadable_notebooks_exit_0_with_an_error(tmp_path, content):
    """Does a file that is no notebook give exit 0, total 0, `error` set and no traceback?"""
    path = tmp_path / "submission.ipynb"
    path.write_bytes(content)
    completed = run_cli("grade", str(path), "--json")
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert_json_contract(data)
    assert data["total"] == 0.0
    assert data["error"]
    assert "Traceback" not in completed.stderr


def test_missing_sandbox_exits_3_with_the_install_message(canonical_path, tmp_path):
    """Without bwrap on PATH, does grading exit 3 telling how to install it or use
    --no-sandbox, and does --no-sandbox then grade (with a warning)?"""
    completed = run_cli("grade", str(canonical_path), "--json", path_env=str(tmp_path))
    assert completed.returncode == 3
    assert "apt-get install bubblewrap" in completed.stderr
    assert "--no-sandbox" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""

    batch = run_cli("grade", str(canonical_path), str(canonical_path), path_env=str(tmp_path))
    assert batch.returncode == 3
    assert "apt-get install bubblewrap" in batch.stderr
    assert "Traceback" not in batch.stderr

    unsandboxed = run_cli(
        "grade", str(canonical_path), "--json", "--no-sandbox", path_env=str(tmp_path)
    )
    assert unsandboxed.returncode == 0, unsandboxed.stderr
    assert json.loads(unsandboxed.stdout)["total"] == total_points()
    assert unsandboxed.stderr.count("WITHOUT") == 1, unsandboxed.stderr  # one warning, not two


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["grade"],
        ["regrade", "x.ipynb"],
        ["grade", "x.ipynb", "--jobs", "0"],
        ["grade", "x.ipynb", "--seed", "-1"],
        ["grade", "x.ipynb", "--seed", "abc"],
        ["grade", "a.ipynb", "b.ipynb", "--seed", "3"],
        ["grade", "x.ipynb", "--frobnicate"],
    ],
)
def test_misuse_exits_2(argv, capsys):
    """Do bad arguments exit 2 with a usage message?"""
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_unreadable_secret_file_exits_2(monkeypatch, tmp_path, capsys):
    """Is a GRADER_SECRET_FILE that cannot be read a configuration error (exit 2)?"""
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    monkeypatch.setenv("GRADER_SECRET_FILE", str(tmp_path / "missing"))
    assert cli.main(["grade", str(tmp_path / "x.ipynb")]) == 2
    assert "GRADER_SECRET_FILE" in capsys.readouterr().err


def test_readable_report_names_failed_checks_and_hints(tmp_path, capsys):
    """Does the text report show each exercise's score, the failed checks with their hints?"""
    mistake = next(variant for variant in MISTAKES if variant.exercise == "pool_forward")
    path = tmp_path / "student.ipynb"
    write(submission({**CANONICAL_SOURCES, "pool_forward": mistake.source}), path)
    assert cli.main(["grade", str(path)]) == 0
    report = capsys.readouterr().out
    assert f"/ {total_points():g}" in report
    for name in EXERCISE_NAMES:
        assert name in report
    zero_pad = f"{exercise_named('zero_pad').points:g}"
    assert re.search(rf"zero_pad +{zero_pad} / {zero_pad}(?![0-9])", report), report
    assert "failed check '" in report


def test_report_of_an_older_edition_lists_the_notes(capsys):
    """Does the report say why conv_single_step is not found and that names were used?"""
    assert cli.main(["grade", str(ROOT / "examples" / "other_edition.ipynb")]) == 0
    report = capsys.readouterr().out
    assert "[not found]" in report
    assert "convolve_window" in report
    assert "notes:" in report
    assert "graded by function name" in report


def test_seed_is_passed_through(monkeypatch, capsys, tmp_path):
    """Does --seed N reach grade_notebook unchanged (and sandbox=True by default)?"""
    seen = {}

    def fake_grade_notebook(path, *, sandbox, seed, **_):
        seen.update(path=path, sandbox=sandbox, seed=seed)
        return unreadable_grade("fake")

    monkeypatch.setattr(cli, "grade_notebook", fake_grade_notebook)
    assert cli.main(["grade", str(tmp_path / "a.ipynb"), "--seed", "12345", "--json"]) == 0
    assert seen == {"path": tmp_path / "a.ipynb", "sandbox": True, "seed": 12345}
    assert json.loads(capsys.readouterr().out)["error"] == "fake"


def test_a_sandbox_failure_exits_1_with_one_line_and_no_traceback(monkeypatch, capsys, tmp_path):
    """When the sandbox fails before any student code ran (SandboxError), does the CLI say so in
    one line on stderr, without a traceback or a grade, and exit 1?"""

    def failing_grade_notebook(path, *, sandbox, seed, **_):
        raise SandboxError(
            "the sandbox failed before running any student code: the harness exited (status 1)\n"
            "Traceback (most recent call last):\n  ...harness output tail..."
        )

    monkeypatch.setattr(cli, "grade_notebook", failing_grade_notebook)
    assert cli.main(["grade", str(tmp_path / "a.ipynb"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert [line for line in captured.err.splitlines() if "sandbox" in line] == [
        "error: the sandbox failed before running any student code: the harness exited "
        "(status 1) (an infrastructure fault, not the submission's: nothing was graded)"
    ]


def test_batch_with_csv_summary_and_progress(tmp_path, canonical_path):
    """Do several notebooks (--jobs 2 --csv) give one CSV row each with per-exercise and part
    scores, a summary table on stdout, a progress bar on stderr and exit 0 despite a broken one?"""
    nbgrader_layout = tmp_path / "submitted" / "alice" / "cnn_step_by_step" / "assignment.ipynb"
    nbgrader_layout.parent.mkdir(parents=True)
    nbgrader_layout.write_bytes(canonical_path.read_bytes())
    stubs = tmp_path / "bob.ipynb"
    write(submission({}), stubs)
    broken = tmp_path / "carol.ipynb"
    broken.write_text("not a notebook")
    table = tmp_path / "grades.csv"

    completed = run_cli(
        "grade", str(nbgrader_layout), str(stubs), str(broken), "--jobs", "2", "--csv", str(table)
    )
    assert completed.returncode == 0, completed.stderr
    assert "grading" in completed.stderr  # tqdm's bar
    assert "Traceback" not in completed.stderr
    with open(table, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == cli.CSV_COLUMNS
        rows = {row["student"]: row for row in reader}
    assert set(rows) == {"alice", "bob", "carol"}
    forward, backward, total = part_points("forward"), part_points("backward"), total_points()
    assert float(rows["alice"]["total"]) == total
    assert float(rows["alice"]["forward"]) == forward
    assert float(rows["alice"]["backward"]) == backward
    assert float(rows["alice"]["conv_forward"]) == exercise_named("conv_forward").points
    assert float(rows["alice"]["max"]) == total
    assert rows["alice"]["error"] == ""
    assert float(rows["bob"]["total"]) == 0 and rows["bob"]["error"] == ""
    assert float(rows["carol"]["total"]) == 0 and "not valid JSON" in rows["carol"]["error"]
    summary = completed.stdout.splitlines()
    header = ["student", f"forward/{forward:g}", f"backward/{backward:g}", "total"]
    assert summary[0].split()[:4] == header
    assert summary[1].split() == ["alice", f"{forward:g}", f"{backward:g}", f"{total:g}"]
    assert summary[2].split() == ["bob", "0", "0", "0"]
    assert summary[3].startswith("carol")
    assert "not a notebook" in summary[3] or "JSON" in summary[3]


def test_batch_json_lines(monkeypatch, capsys, tmp_path):
    """With --json and several notebooks, is stdout one JSON object per line with the student?"""

    def fake_grade_many(paths, *, jobs, sandbox, progress, **_):
        return [unreadable_grade(f"fake {Path(path).name}") for path in paths]

    monkeypatch.setattr(cli, "grade_many", fake_grade_many)
    assert cli.main(["grade", "a.ipynb", "b.ipynb", "--json", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["student"] for line in lines] == ["a", "b"]
    for line in lines:
        assert_json_contract(json.loads(line))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("course/submitted/alice/cnn_step_by_step/assignment.ipynb", "alice"),
        ("autograded/bob/cnn_step_by_step/assignment.ipynb", "bob"),
        ("downloads/carol.ipynb", "carol"),
        ("assignment.ipynb", "assignment"),
        ("submitted/dave.ipynb", "dave"),
    ],
)
def test_student_id(path, expected):
    """Is the student id the nbgrader student folder, else the file stem?"""
    assert cli.student_id(Path(path)) == expected


def test_a_batch_with_an_internal_grader_error_exits_1(
    canonical_path, tmp_path, monkeypatch, capsys
):
    """Does a batch in which the grader itself failed on one notebook (a fault of the grader or
    its sandbox: its 0 is no grade) still write every row, but exit 1 saying so, instead of 0?"""
    from grader import cli
    from grader import grade as grade_module

    def failing_on_bad(path, **kwargs):
        if Path(path).name == "bad.ipynb":
            raise RuntimeError("the sandbox broke")
        return grade_module.unreadable_grade("fine")

    monkeypatch.setattr(grade_module, "grade_notebook", failing_on_bad)
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    good.write_text("{}")
    bad.write_text("{}")
    csv_path = tmp_path / "grades.csv"
    status = cli.main(["grade", str(good), str(bad), "--csv", str(csv_path), "--no-sandbox", "-q"])
    err = capsys.readouterr().err
    assert status == 1
    assert "the grader itself failed on 1 submission(s)" in err
    rows = csv_path.read_text()
    assert "good" in rows and "bad" in rows
