"""The grader's settings as an nbgrader user sets them: the ``TrustedGrader`` traitlets class.

In the course's ``nbgrader_config.py`` (read by ``nbgrader autograde``, formgrader,
``grader.parallel`` and ``cnn-grader grade``)::

    c.TrustedGrader.secret_file = "/home/grader-cnn/.config/cnn-grader/secret"
    c.TrustedGrader.exercise_seconds = 10.0

Every limit maps to a field of ``grader.sandbox.Limits`` and defaults to it. The environment
overrides the secret, as before: ``GRADER_SECRET`` (the secret itself), then
``GRADER_SECRET_FILE`` (a file holding it), then ``secret_file``; without any, the public
development secret of ``grader.grade`` is used (and a warning says so).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import fields
from pathlib import Path

from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import Config, Configurable

from grader.sandbox import Limits

log = logging.getLogger(__name__)
_warned_loose: set[str] = set()  # TrustedGrade reads the secret once per notebook: warn once

CONFIG_NAME = "nbgrader_config.py"
SECRET_BYTES = 32  # 256 bits, as hex: the HMAC key of the hidden inputs' seeds

_DEFAULTS = Limits()
# TrustedGrader trait -> Limits field; every other Limits field keeps its default.
LIMIT_TRAITS = (
    "cpu_seconds",
    "memory_bytes",
    "processes",
    "exercise_seconds",
    "submission_seconds",
    "sandbox_memory_bytes",
)


class TrustedGrader(Configurable):
    """The trusted grader's course settings: the secret, the sandbox and its limits."""

    secret_file = Unicode(
        "",
        help="File holding the course secret that draws the hidden inputs (create it with "
        "`cnn-grader secret PATH`). GRADER_SECRET and GRADER_SECRET_FILE override it.",
    ).tag(config=True)
    sandbox = Bool(
        True, help="Run student code in the bubblewrap sandbox (False: grader development only)."
    ).tag(config=True)
    exercise_seconds = Float(
        _DEFAULTS.exercise_seconds,
        help="Wall clock for one exercise: its cell, then separately its calls.",
    ).tag(config=True)
    submission_seconds = Float(
        _DEFAULTS.submission_seconds, help="Wall clock for a whole submission."
    ).tag(config=True)
    cpu_seconds = Integer(
        _DEFAULTS.cpu_seconds, help="CPU time of one exercise's process (RLIMIT_CPU)."
    ).tag(config=True)
    memory_bytes = Integer(
        _DEFAULTS.memory_bytes, help="Address space of each process in the sandbox (RLIMIT_AS)."
    ).tag(config=True)
    processes = Integer(
        _DEFAULTS.processes, help="Processes and threads of one exercise (RLIMIT_NPROC)."
    ).tag(config=True)
    sandbox_memory_bytes = Integer(
        _DEFAULTS.sandbox_memory_bytes,
        help="Memory of the whole sandbox where a memory cgroup can be had (grader.memory_bound).",
    ).tag(config=True)

    scheduler = Unicode(
        "",
        help="Address of a Dask scheduler (tcp://HOST:PORT) whose workers `cnn-grader grade` "
        "grades on (grader.executor); empty: a local pool. --scheduler overrides it.",
    ).tag(config=True)

    def limits(self) -> Limits:
        """The sandbox's ``Limits`` with these settings."""
        assert set(LIMIT_TRAITS) <= {field.name for field in fields(Limits)}
        return Limits(**{name: getattr(self, name) for name in LIMIT_TRAITS})

    def secret(self) -> tuple[bytes, str]:
        """(secret, where it came from): the environment first, then ``secret_file``; a warning
        when the file it came from can be read by others than its owner.
        Raises grader.grade.GraderConfigError when a named secret file cannot be used."""
        from grader.grade import SECRET_FILE_ENV, grading_secret

        secret, source = grading_secret(self.secret_file or None)
        path = os.environ.get(SECRET_FILE_ENV) if source == SECRET_FILE_ENV else self.secret_file
        loose = source != "development default" and path and loose_permissions(Path(path))
        if loose and path not in _warned_loose:
            _warned_loose.add(path)
            log.warning(
                "the course secret %s can be read by others than its owner: chmod 600 it "
                "(anyone who reads it can compute the hidden inputs)",
                path,
            )
        return secret, source


def find_config(path: Path | None = None) -> Path | None:
    """The configuration to read: ``path`` if given, else ./nbgrader_config.py if present."""
    if path is not None:
        return Path(path)
    default = Path.cwd() / CONFIG_NAME
    return default if default.is_file() else None


def load_config(path: Path) -> Config:
    """An nbgrader configuration file read as traitlets does (it is executed; the course's
    imports the grader's nbgrader glue). Raises OSError when it cannot be read, and whatever the
    file raises."""
    from traitlets.config.loader import PyFileConfigLoader

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such configuration file")
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def settings_from(config: Config | None) -> TrustedGrader:
    """The ``TrustedGrader`` settings of ``config`` (None: every default)."""
    return TrustedGrader(config=config if config is not None else Config())


def write_secret_file(path: Path) -> Path:
    """A new secret (SECRET_BYTES random bytes, as hex) in a new file ``path``, mode 0600.

    Missing parent folders are created with mode 0700. Raises FileExistsError rather than
    overwrite a secret: grades drawn with it could no longer be reproduced.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return path


def loose_permissions(path: Path) -> bool:
    """True when others than the owner may read or write the file at ``path``."""
    return bool(os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO))
