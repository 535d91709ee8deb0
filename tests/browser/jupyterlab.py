"""An isolated JupyterLab server for tests: temp HOME and Jupyter dirs, token, clean shutdown.

Nothing of the user's configuration leaks in (every Jupyter, IPython and matplotlib directory
points into the temporary tree) and nothing outlives the context: the server is asked to shut
down (which stops its kernels), and any process still naming the temporary tree is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# User settings (JUPYTERLAB_SETTINGS_DIR): render every cell (no windowing) so all outputs are
# in the DOM; start the notebook's kernel without asking (a fresh profile may otherwise open a
# "Select Kernel" dialog, depending on how fast the kernel specs load); never reach for the
# network (news, update checks).
LAB_SETTINGS: Mapping[str, Mapping[str, object]] = {
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


@dataclass(frozen=True)
class LabServer:
    """A running server: its base URL, token, notebook directory and log file."""

    url: str
    token: str
    root: Path
    log: Path

    def lab_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` (relative to root) in JupyterLab."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def log_tail(self, characters: int = 4000) -> str:
        """The end of the server log, for failure messages."""
        return self.log.read_text(errors="replace")[-characters:]


def free_port() -> int:
    """A localhost TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_environment(base: Path) -> dict[str, str]:
    """Environment variables sending every per-user directory into ``base``."""
    directories = {
        "HOME": "home",
        "JUPYTER_CONFIG_DIR": "jupyter/config",
        "JUPYTER_DATA_DIR": "jupyter/data",
        "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
        "JUPYTERLAB_SETTINGS_DIR": "jupyter/lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "jupyter/lab-workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
        "XDG_CACHE_HOME": "cache",
        "XDG_CONFIG_HOME": "config",
    }
    environment = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for variable, relative in directories.items():
        path = base / relative
        path.mkdir(parents=True, exist_ok=True)
        environment[variable] = str(path)
    return environment


# Students install the "student" requirements, which have no nbgrader: switch off its server and
# lab extensions (installed in this venv for the instructors) so the test sees what they see.
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
)
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


def write_configuration(environment: Mapping[str, str]) -> None:
    """Write LAB_SETTINGS as user settings and switch nbgrader off, in the temporary dirs."""
    settings_dir = Path(environment["JUPYTERLAB_SETTINGS_DIR"])
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    config_dir = Path(environment["JUPYTER_CONFIG_DIR"])
    server_config = {
        "ServerApp": {"jpserver_extensions": dict.fromkeys(NBGRADER_SERVER_EXTENSIONS, False)}
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config))
    (config_dir / "labconfig").mkdir(exist_ok=True)
    page_config = {"disabledExtensions": {NBGRADER_LAB_EXTENSION: True}}
    (config_dir / "labconfig" / "page_config.json").write_text(json.dumps(page_config))


def _kill_processes_mentioning(*texts: str) -> list[str]:
    """Kill the processes whose command line names one of ``texts`` (our server's root, our
    kernels' connection files); return their command lines. None should be left."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(text in command for text in texts):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(command.strip())
    return killed


def _wait_until_ready(server: LabServer, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status_url = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{server.log_tail()}")


def _shutdown(server: LabServer, process: subprocess.Popen) -> None:
    """Ask the server to stop (it stops its kernels), then make sure of it."""
    request = urllib.request.Request(
        f"{server.url}/api/shutdown",
        method="POST",
        headers={"Authorization": f"token {server.token}"},
    )
    # The server may already be gone; the wait below is what matters.
    with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
        urllib.request.urlopen(request, timeout=5).close()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def jupyterlab(root: Path, base: Path, startup_timeout: float = 45.0) -> Iterator[LabServer]:
    """Run JupyterLab from this venv on a free port with a token, serving ``root``.

    ``base`` receives HOME, the Jupyter/IPython/matplotlib dirs and the server log. On exit the
    server and its kernels are stopped; a process left behind fails loudly after being killed.
    """
    environment = isolated_environment(base)
    write_configuration(environment)
    port, token = free_port(), secrets.token_hex(16)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, base / "jupyterlab.log")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with running(server, command, environment, base, "JupyterLab", startup_timeout):
        yield server


@contextmanager
def running(
    server: LabServer,
    command: list[str],
    environment: Mapping[str, str],
    base: Path,
    what: str,
    startup_timeout: float,
) -> Iterator[None]:
    """Run a Jupyter server ``command`` in ``server.root``, its output in ``server.log``, until
    it answers; on exit stop it and kill whatever mentions ``base`` or the root, failing loudly
    (after the body, never hiding its own failure) when a process outlived the server."""
    if os.geteuid() == 0:  # CI and containers run as root; Jupyter refuses without this flag
        command = [*command, "--allow-root"]
    with server.log.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=server.root,
            env=dict(environment),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(server, process, startup_timeout)
        yield
    finally:
        _shutdown(server, process)
        leftovers = _kill_processes_mentioning(str(base), str(server.root))
    # Reached only when the body succeeded: never hide the body's own failure behind this one.
    if leftovers:
        raise RuntimeError(f"processes outlived the {what} server (killed): {leftovers}")
