"""Tests of grader/settings.py: the ``c.TrustedGrader`` settings of nbgrader_config.py reach the
grader by every path (the command line, nbgrader's TrustedGrade, grader.parallel's workers), the
environment still overrides the secret, and ``cnn-grader secret`` writes a private new file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from traitlets.config import Config

import grader.nbgrader_plugin as plugin
from grader import cli, precomputed
from grader.extract import extract
from grader.grade import DEVELOPMENT_SECRET, GraderConfigError, unreadable_grade
from grader.parallel import start_grading
from grader.sandbox import Limits
from grader.settings import (
    LIMIT_TRAITS,
    TrustedGrader,
    load_config,
    settings_from,
    write_secret_file,
)
from tests.factories import submission, write

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_secret_in_the_environment(monkeypatch):
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    monkeypatch.delenv("GRADER_SECRET_FILE", raising=False)


def course_config(folder: Path, secret_file: Path | None = None, **limits) -> Path:
    """An nbgrader_config.py in ``folder`` setting ``c.TrustedGrader`` (and nothing else)."""
    lines = [f"c.TrustedGrader.{name} = {value!r}" for name, value in limits.items()]
    if secret_file is not None:
        lines.append(f"c.TrustedGrader.secret_file = {str(secret_file)!r}")
    path = folder / "nbgrader_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_defaults_are_the_sandbox_limits_and_the_development_secret():
    """Without a configuration, are the limits ``Limits()`` and the secret the public one?"""
    settings = settings_from(None)
    assert settings.limits() == Limits()
    assert settings.sandbox is True
    assert settings.secret() == (DEVELOPMENT_SECRET, "development default")


def test_every_limit_and_the_secret_file_are_read_from_nbgrader_config(tmp_path):
    """Does each c.TrustedGrader setting of an nbgrader_config.py reach Limits and the secret?"""
    secret = tmp_path / "secret"
    secret.write_text("course secret\n")
    values = {"exercise_seconds": 3.5, "submission_seconds": 50.0, "cpu_seconds": 7}
    values |= {"memory_bytes": 1 << 29, "processes": 5, "sandbox_memory_bytes": 1 << 30}
    assert set(values) == set(LIMIT_TRAITS)
    settings = settings_from(load_config(course_config(tmp_path, secret, **values)))
    assert settings.limits() == Limits(**values)
    assert settings.secret() == (b"course secret", "TrustedGrader.secret_file")


def test_the_environment_overrides_the_configured_secret(tmp_path, monkeypatch):
    """Do GRADER_SECRET, then GRADER_SECRET_FILE, win over c.TrustedGrader.secret_file, and is
    a configured file that cannot be read an error, not the development secret?"""
    configured = tmp_path / "configured"
    configured.write_text("from the configuration")
    settings = TrustedGrader(secret_file=str(configured))
    from_environment = tmp_path / "environment"
    from_environment.write_text("from GRADER_SECRET_FILE")
    monkeypatch.setenv("GRADER_SECRET_FILE", str(from_environment))
    assert settings.secret() == (b"from GRADER_SECRET_FILE", "GRADER_SECRET_FILE")
    monkeypatch.setenv("GRADER_SECRET", "from GRADER_SECRET")
    assert settings.secret() == (b"from GRADER_SECRET", "GRADER_SECRET")
    monkeypatch.delenv("GRADER_SECRET")
    monkeypatch.delenv("GRADER_SECRET_FILE")
    with pytest.raises(GraderConfigError, match="TrustedGrader.secret_file"):
        TrustedGrader(secret_file=str(tmp_path / "missing")).secret()


def test_secret_file_is_new_private_and_never_overwritten(tmp_path, capsys):
    """Does ``cnn-grader secret`` write 64 hex digits, mode 0600 whatever the umask, in a new
    private folder, and refuse (exit 2) to overwrite an existing secret?"""
    path = tmp_path / "new" / "grader_secret"
    previous = os.umask(0)
    try:
        assert cli.main(["secret", str(path)]) == 0
    finally:
        os.umask(previous)
    text = path.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cli.main(["secret", str(path)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert path.read_text() == text
    with pytest.raises(FileExistsError):
        write_secret_file(path)
    assert write_secret_file(tmp_path / "other").read_text() != text  # a fresh one each time


def captured_grading(monkeypatch) -> list[dict]:
    """Replace the CLI's grader by one that records how it was called."""
    calls = []

    def fake_grade_notebook(path, **kwargs):
        calls.append(kwargs)
        return unreadable_grade("fake")

    monkeypatch.setattr(cli, "grade_notebook", fake_grade_notebook)
    return calls


def test_the_command_line_reads_config_or_the_current_folders(tmp_path, monkeypatch, caplog):
    """Does ``grade`` use the settings of --config, else of ./nbgrader_config.py, else none?"""
    notebook = tmp_path / "a.ipynb"
    write(submission({}), notebook)
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    course = tmp_path / "course"
    course.mkdir()
    config = course_config(course, secret, exercise_seconds=2.0)
    calls = captured_grading(monkeypatch)

    assert cli.main(["grade", str(notebook), "--json", "--config", str(config)]) == 0
    monkeypatch.chdir(course)
    assert cli.main(["grade", str(notebook), "--json"]) == 0
    for call in calls:
        assert call["secret"] == b"s3cret" and call["limits"].exercise_seconds == 2.0
    monkeypatch.chdir(tmp_path)
    assert cli.main(["grade", str(notebook), "--json"]) == 0
    assert calls[-1]["secret"] == DEVELOPMENT_SECRET and calls[-1]["limits"] == Limits()
    assert "public development secret" in caplog.text


def test_the_command_line_refuses_a_bad_configuration(tmp_path, capsys):
    """Is a missing, broken or unreadable-secret configuration a usage error (exit 2)?"""
    notebook = tmp_path / "a.ipynb"
    write(submission({}), notebook)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no')\n")
    missing_secret = course_config(tmp_path, tmp_path / "missing")
    for config in (tmp_path / "absent.py", broken, missing_secret):
        assert cli.main(["grade", str(notebook), "--config", str(config)]) == 2
        assert "error:" in capsys.readouterr().err


def test_trusted_grade_grades_with_the_course_settings(tmp_path, monkeypatch):
    """Does nbgrader's TrustedGrade grade with c.TrustedGrader's secret, limits and sandbox?"""
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    config = Config()
    config.TrustedGrader.secret_file = str(secret)
    config.TrustedGrader.submission_seconds = 30.0
    config.TrustedGrader.sandbox = False
    calls = []

    def fake_grade_submission(path, **kwargs):
        calls.append(kwargs)
        return unreadable_grade("fake")

    monkeypatch.setattr(plugin, "grade_submission", fake_grade_submission)
    plugin.TrustedGrade(config=config).preprocess(submission({}), {})
    assert calls == [
        {"sandbox": False, "limits": Limits(submission_seconds=30.0), "secret": b"s3cret"}
    ]


def test_the_verdict_key_holds_everything_that_changes_a_verdict(tmp_path):
    """Does a precomputed verdict's key change with the secret and with every limit?"""
    path = tmp_path / "a.ipynb"
    write(submission({"zero_pad": "def zero_pad(X, pad):\n    return X"}), path)
    extraction = extract(path)

    def key(**changes):
        return precomputed.verdict_key(extraction, sandbox=True, **changes)

    keys = {key(), key(secret=b"another"), key(limits=Limits(exercise_seconds=1.0))}
    keys |= {key(limits=Limits(memory_bytes=1 << 28)), key(limits=Limits(processes=2))}
    assert len(keys) == 5
    assert key() == key(secret=DEVELOPMENT_SECRET, limits=Limits())


def test_parallel_workers_grade_with_the_course_settings(tmp_path, monkeypatch):
    """Do grader.parallel's worker processes grade with the secret and limits they are given,
    stored under the key those settings give (the one TrustedGrade looks up)?"""
    path = tmp_path / "submitted" / "s" / "cnn_step_by_step" / "assignment.ipynb"
    path.parent.mkdir(parents=True)
    write(submission({}), path)
    limits = Limits(exercise_seconds=4.0)

    def fake_grade_notebook(path, **kwargs):  # the workers are forked: they see this patch
        graded_with = [kwargs["limits"].exercise_seconds, kwargs["secret"].decode()]
        return unreadable_grade(json.dumps(graded_with))

    monkeypatch.setattr("grader.grade.grade_notebook", fake_grade_notebook)
    folder = tmp_path / "verdicts"
    folder.mkdir()
    secret = b"s3cret"
    executor, count = start_grading(
        [path],
        folder,
        jobs=1,
        sandbox=True,
        on_done=lambda: None,
        limits=limits,
        secret=secret,
    )
    executor.shutdown(wait=True)
    assert count == 1
    key = precomputed.verdict_key(extract(path), sandbox=True, secret=secret, limits=limits)
    stored = precomputed.fetch(folder, key, wait_seconds=0)
    assert stored is not None and json.loads(stored.error) == [4.0, "s3cret"]


def test_the_course_configuration_documents_every_setting_with_its_default():
    """Does course/nbgrader_config.py name every TrustedGrader setting, commented out with its
    real default (so what it says is what applies)?"""
    lines = (REPO_ROOT / "course" / "nbgrader_config.py").read_text().splitlines()
    documented = {}
    for line in lines:
        if line.startswith("# c.TrustedGrader."):
            name, value = line.removeprefix("# c.TrustedGrader.").split("#")[0].split("=")
            documented[name.strip()] = eval(value)  # noqa: S307  (our own file)
    defaults = TrustedGrader()
    assert set(documented) == set(defaults.trait_names(config=True))
    for name, value in documented.items():
        if name != "secret_file":
            assert value == getattr(defaults, name), name


def test_a_secret_file_others_can_read_is_used_with_a_warning(tmp_path, caplog):
    """Is a secret file readable by group or others still used, but with a warning to chmod it
    (a file made by `cnn-grader secret` gets none)?"""
    loose = tmp_path / "loose"
    loose.write_text("s3cret")
    loose.chmod(0o644)
    secret, _ = TrustedGrader(secret_file=str(loose)).secret()
    assert secret == b"s3cret"
    assert "chmod 600" in caplog.text
    caplog.clear()
    private = write_secret_file(tmp_path / "private")
    TrustedGrader(secret_file=str(private)).secret()
    assert "chmod" not in caplog.text
