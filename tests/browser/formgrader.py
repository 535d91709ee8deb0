"""An isolated Jupyter server with nbgrader's formgrader, serving one course: temporary HOME and
Jupyter dirs, a token, clean shutdown (the same isolation as tests/browser/jupyterlab.py).

The server runs in the course folder, so formgrader reads the course's nbgrader_config.py, as an
instructor's server does; only the formgrader extension is on (no exchange is needed).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.browser.jupyterlab import (
    NBGRADER_SERVER_EXTENSIONS,
    LabServer,
    _kill_processes_mentioning,
    _shutdown,
    _wait_until_ready,
    free_port,
    isolated_environment,
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
    if os.geteuid() == 0:  # CI and containers run as root; Jupyter refuses without this flag
        command.append("--allow-root")
    with server.log.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=course,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(server, process, startup_timeout)
        yield server
    finally:
        _shutdown(server, process)
        leftovers = _kill_processes_mentioning(str(base), str(course))
    if leftovers:
        raise RuntimeError(f"processes outlived the formgrader server (killed): {leftovers}")
