"""Where batch grading runs: a local pool of threads (the default) or a Dask cluster.

``grade_many`` hands every submission to one executor and gets its grade back, whatever runs it:

- ``LocalPool`` (the default, no service to start): ``jobs`` threads in this process, each
  calling ``grade_notebook`` on the file, whose student code runs in its own sandbox process.
- ``DaskCluster`` (``--scheduler tcp://HOST:PORT``, or ``c.TrustedGrader.scheduler``): the
  workers of a running Dask distributed scheduler. ``dask`` is imported only here and only then.

What crosses the network to a Dask worker is plain data only (Dask pickles a task's arguments):
the notebook's bytes (read here, through ``intake.read_regular_file``, never by the worker from a
path), its file name (a ``str``) and a ``dict`` of settings (the sandbox's limits, the grader's
version, the fingerprint of the course secret). What comes back is the grade as the JSON text of
``Grade.to_json``, decoded here by ``precomputed.grade_from_json_dict``: never a student-controlled
object. The worker writes the bytes to a private temporary folder under the same file name and
grades it with ``grade_notebook``, in its bubblewrap sandbox, exactly as the local pool would.

The course secret never travels: each worker reads its own (``GRADER_SECRET``,
``GRADER_SECRET_FILE``, or ``c.TrustedGrader.secret_file`` of the ``nbgrader_config.py`` in the
folder it was started in). Before any work is sent, every worker is probed (``client.run``):
bubblewrap must build a sandbox there, its grader must be this one (``grader_version``: a hash of
the grader's code) and its secret must have this secret's fingerprint (``secret_fingerprint``:
an HMAC of a fixed text under it, which does not reveal it). If any worker fails, nothing is
graded: the run stops with a message naming each worker and what differs (a worker silently
left out would be easy to miss, and one that grades with another secret or code gives other
grades). Each task checks the version and fingerprint again, for a worker that joins later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import graded_cells
from grader import grade as grade_module
from grader import intake
from grader.grade import unreadable_grade
from grader.precomputed import grade_from_json_dict
from grader.sandbox import Limits, SandboxUnavailable, require_sandbox
from grader.verdict import Grade

log = logging.getLogger(__name__)

FINGERPRINT_TEXT = b"cnn-grader: course secret fingerprint"
CONNECT_SECONDS = 30  # to reach the scheduler, then again for its first worker
FALLBACK_NAME = "submission.ipynb"
INTERNAL_ERROR = "internal grader error"
LOST_ON_CLUSTER = "could not be graded on the Dask cluster"  # the error grade's first words


class ClusterError(Exception):
    """The Dask cluster cannot grade: unreachable, no workers, or a worker refused (why)."""


def grader_version() -> str:
    """SHA-256 (16 hex digits) of the grader's code: grader/*.py and graded_cells.py, by name."""
    digest = hashlib.sha256()
    files = sorted(Path(__file__).parent.glob("*.py")) + [Path(graded_cells.__file__)]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def secret_fingerprint(secret: bytes) -> str:
    """HMAC-SHA256 of a fixed text under the course secret (16 hex digits): equal fingerprints
    mean equal secrets, and the fingerprint does not give the secret away."""
    return hmac.new(secret, FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:16]


class LocalPool:
    """``jobs`` threads here, each grading a file by its path (what ``grade_many`` always did)."""

    dashboard = None

    def __init__(self, *, jobs: int, sandbox: bool, limits: Limits | None, secret: bytes | None):
        if sandbox:
            require_sandbox()  # fail before grading anything, not halfway through a class
        self.sandbox, self.limits, self.secret = sandbox, limits, secret
        self.pool = ThreadPoolExecutor(max_workers=max(1, jobs))

    def grades(self, paths: Sequence[Path]) -> Iterator[tuple[int, Grade]]:
        """(index in ``paths``, grade) of every path, as each is done."""
        futures = {
            self.pool.submit(grade_file, path, self.sandbox, self.limits, self.secret): index
            for index, path in enumerate(paths)
        }
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def grade_file(path: Path, sandbox: bool, limits: Limits | None, secret: bytes | None) -> Grade:
    """``grade_notebook``, with a grader bug on one notebook turned into that notebook's error."""
    try:
        # Through the module: tests stand in for grade_notebook there.
        return grade_module.grade_notebook(path, sandbox=sandbox, limits=limits, secret=secret)
    except SandboxUnavailable:
        raise
    except Exception as error:  # a grader bug on one notebook must not stop the batch
        log.exception("grading %s failed", path)
        return unreadable_grade(f"{INTERNAL_ERROR}: {type(error).__name__}: {error}")


def tls_mismatch(address: str) -> str | None:
    """Why this process's Dask configuration cannot talk to the scheduler at ``address`` (None if
    it can), found before connecting: Dask would raise a TypeError or RuntimeError, then wait
    twice the connect timeout while the half-made client closes."""
    from distributed import Security
    from distributed.comm import parse_address

    security = Security()  # from Dask's configuration: its yaml files and DASK_* variables
    if parse_address(address)[0] == "tls":
        if not (security.tls_ca_file and security.tls_client_cert):
            return (
                f"the Dask scheduler {address} uses TLS and this client has no certificate: name "
                "the cluster's CA and this client's certificate and key in Dask's configuration "
                "(distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and .key, or "
                "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT "
                "and DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY)"
            )
    elif security.require_encryption:
        return (
            f"{address} is not a tls:// address and Dask's configuration requires encryption "
            "(distributed.comm.require-encryption): name the scheduler tls://HOST:PORT"
        )
    return None


class DaskCluster:
    """The workers of the Dask scheduler at ``address``, each checked before any work is sent.
    Raises ClusterError when dask is not installed, this client's TLS configuration does not fit
    the address, the scheduler cannot be reached, it has no worker, or a worker is refused."""

    def __init__(self, address: str, *, limits: Limits | None, secret: bytes):
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError(
                "--scheduler needs Dask: pip install 'cnn-step-by-step[dask]'"
            ) from None
        mismatch = tls_mismatch(address)
        if mismatch:
            raise ClusterError(mismatch)
        try:
            self.client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler {address}: {error}") from None
        self.settings = {
            "limits": asdict(limits if limits is not None else Limits()),
            "grader_version": grader_version(),
            "secret_fingerprint": secret_fingerprint(secret),
        }
        try:
            self.workers = self._checked_workers(address)
        except BaseException:
            self.client.close()
            raise
        self.dashboard = self.client.dashboard_link if self._has_dashboard() else None

    def _has_dashboard(self) -> bool:
        try:
            return "dashboard" in self.client.scheduler_info().get("services", {})
        except Exception:
            return False

    def _checked_workers(self, address: str) -> list[str]:
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler {address} has no worker") from None
        # A worker that dies while being checked is a refused worker, not a traceback.
        reports = self.client.run(probe_worker, on_error="return")
        problems = [
            f"worker {worker}: {problem}"
            for worker, report in sorted(reports.items())
            for problem in worker_problems(report, self.settings)
        ]
        if problems:
            raise ClusterError(
                "refusing to grade on the Dask cluster: " + "; ".join(problems) + " (fix or stop "
                "these workers: every worker needs bubblewrap, this grader and this course secret)"
            )
        return sorted(reports)

    def grades(self, paths: Sequence[Path]) -> Iterator[tuple[int, Grade]]:
        """(index in ``paths``, grade) of every path, as each is done. Dask runs the task of a
        worker that died again on another (up to its ``distributed.scheduler.allowed-failures``,
        3 by default); a submission whose task still failed gets an error grade saying it could
        not be graded on the cluster (``lost_on_cluster``)."""
        from distributed import as_completed as dask_completed

        futures, indices = [], {}
        for index, path in enumerate(paths):
            try:
                notebook = intake.read_regular_file(path, intake.MAX_NOTEBOOK_BYTES)
            except intake.IntakeError as error:
                yield index, unreadable_grade(error.reason)
                continue
            future = self.client.submit(
                grade_on_worker, notebook, Path(path).name, self.settings, pure=False
            )
            futures.append(future)
            indices[future.key] = index
        try:
            for future in dask_completed(futures, loop=self.client.loop):
                index = indices[future.key]
                try:
                    answer = json.loads(future.result())
                except Exception as error:  # the task failed there: its workers died, say
                    yield index, unreadable_grade(f"{LOST_ON_CLUSTER}: {task_failure(error)}")
                    continue
                if "refused" in answer:
                    refused = answer["refused"]
                    raise ClusterError(f"refusing to grade on the Dask cluster: {refused}")
                if "no sandbox" in answer:
                    raise SandboxUnavailable(answer["no sandbox"])
                yield index, grade_from_json_dict(answer["grade"])
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()


def task_failure(error: Exception) -> str:
    """Why a task failed on the cluster, in one line (Dask's KilledWorker text is a paragraph)."""
    from distributed import KilledWorker

    if isinstance(error, KilledWorker):
        tries = error.allowed_failures + 1
        last = getattr(error.last_worker, "address", error.last_worker)
        return f"KilledWorker: its worker died at each of {tries} attempt(s) (the last: {last})"
    return f"{type(error).__name__}: {error}"


def internal_error(grade: Grade) -> bool:
    """Whether ``grade`` is the error grade of a notebook the grader itself failed on
    (``grade_file``): a fault of the grader or its sandbox, never the submission's score."""
    return (grade.error or "").startswith(INTERNAL_ERROR + ": ")


def lost_on_cluster(grade: Grade) -> bool:
    """Whether ``grade`` is the error grade of a submission whose task failed on the cluster
    (``DaskCluster.grades``): no grade was computed, so the run must not look successful."""
    return (grade.error or "").startswith(LOST_ON_CLUSTER + ": ")


# --- on the worker -----------------------------------------------------------------------------


def worker_secret() -> bytes:
    """This worker's own course secret: the environment, else ./nbgrader_config.py's file."""
    from grader import settings

    path = settings.find_config(None)
    config = settings.load_config(path) if path is not None else None
    secret, _ = settings.settings_from(config).secret()
    return secret


def probe_worker() -> dict:
    """What the client checks of a worker (run there by ``client.run``): plain data only."""
    try:
        require_sandbox()
        sandbox = None
    except SandboxUnavailable as error:
        sandbox = str(error)
    try:
        fingerprint = secret_fingerprint(worker_secret())
    except Exception as error:  # an unreadable secret file or configuration
        fingerprint = f"unreadable ({type(error).__name__}: {error})"
    return {
        "sandbox": sandbox,
        "grader_version": grader_version(),
        "secret_fingerprint": fingerprint,
    }


def worker_problems(report: dict, settings: dict) -> list[str]:
    """What differs between a worker's ``probe_worker`` report and the client's settings; a
    report that is an exception (the worker died or failed while being checked) is a problem."""
    if isinstance(report, BaseException):
        return [f"could not be checked ({type(report).__name__}: {report})"]
    problems = []
    if report.get("sandbox"):
        problems.append(f"no usable sandbox: {report['sandbox']}")
    if report.get("grader_version") != settings["grader_version"]:
        problems.append(
            f"another grader version ({report.get('grader_version')}, "
            f"here {settings['grader_version']}): install the same grader"
        )
    if report.get("secret_fingerprint") != settings["secret_fingerprint"]:
        problems.append(
            f"another course secret (fingerprint {report.get('secret_fingerprint')}, "
            f"here {settings['secret_fingerprint']}): give it the course's secret file"
        )
    return problems


def grade_on_worker(notebook: bytes, name: str, settings: dict) -> str:
    """Grade one submission on a Dask worker: ``notebook`` (its bytes) written under ``name`` to
    a private temporary folder, graded in the sandbox under the client's ``settings`` and this
    worker's own secret. Returns JSON text: {"grade": Grade.to_json_dict()}, or {"refused": why}
    when this worker is not the client's grader, or {"no sandbox": why}."""
    import socket

    report = probe_worker()
    if report["sandbox"]:
        return json.dumps({"no sandbox": report["sandbox"]})
    problems = worker_problems(report, settings)
    if problems:
        return json.dumps({"refused": f"worker {socket.gethostname()}: " + "; ".join(problems)})
    name = Path(name).name
    if not name or name in (".", ".."):
        name = FALLBACK_NAME
    folder = Path(tempfile.mkdtemp(prefix="cnn-grader-"))  # mode 0700
    try:
        path = folder / name
        path.write_bytes(notebook)
        grade = grade_file(path, True, Limits(**settings["limits"]), worker_secret())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return json.dumps({"grade": grade.to_json_dict()})


def describe(executor) -> str | None:
    """One line for stderr about where grading runs (None for the local pool)."""
    if not isinstance(executor, DaskCluster):
        return None
    line = f"grading on {len(executor.workers)} Dask worker(s)"
    if executor.dashboard:
        line += f"; dashboard: {executor.dashboard}"
    return line


def print_description(executor) -> None:
    line = describe(executor)
    if line is not None:
        print(line, file=sys.stderr)
