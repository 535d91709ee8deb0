"""An isolated Jupyter server with nbgrader's formgrader, serving one course: temporary HOME and
Jupyter dirs, a token, clean shutdown (the same isolation as tests/browser/jupyterlab.py).

The server runs in the course folder, so formgrader reads the course's nbgrader_config.py, as an
instructor's server does; only the formgrader extension is on (no exchange is needed).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.browser.jupyterlab import (
    NBGRADER_SERVER_EXTENSIONS,
    LabServer,
    free_port,
    isolated_environment,
    running,
)

FORMGRADER = "nbgrader.server_extensions.formgrader"


@contextmanager
def formgrader_server(
    course: Path, base: Path, pythonpath: str, startup_timeout: float = 45.0
) -> Iterator[LabServer]:
    """Run ``jupyter server`` with formgrader on a free port with a token, serving ``course``.

    ``base`` receives HOME, the Jupyter dirs and the server log; ``pythonpath`` is what the
    course's configuration needs to import the grader. On exit the server is stopped; a process
    left behind fails loudly after being killed.
    """
    environment = isolated_environment(base)
    environment["PYTHONPATH"] = pythonpath
    extensions = {name: name == FORMGRADER for name in NBGRADER_SERVER_EXTENSIONS}
    config = {"ServerApp": {"jpserver_extensions": extensions}}
    config_dir = Path(environment["JUPYTER_CONFIG_DIR"])
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    port, token = free_port(), secrets.token_hex(16)
    server = LabServer(f"http://127.0.0.1:{port}", token, course, base / "formgrader.log")
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={course}",
    ]
    with running(server, command, environment, base, "formgrader", startup_timeout):
        yield server
