"""Does a Dask cluster deployed as README.md's "Grading on a Dask cluster" tells an instructor,
here on one machine, grade as without one? A ``dask scheduler`` and two ``dask worker``
processes of the real command line, speaking TLS with certificates of a throwaway CA; the
workers started in the course folder (whence their course secret); the grading client's
certificate named in Dask's configuration, with ``distributed.comm.require-encryption``; and
nbgrader's path recording into a PostgreSQL gradebook reached over TCP with a password. Is a
client without a certificate, or naming a plain tcp:// address, refused with a message rather
than a traceback?

Missing tools (openssl, PostgreSQL) fail the test with the way to install them: no silent skip.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.exercises import ASSIGNMENT_ID
from tests.course_fixture import nbgrader
from tests.postgres_server import (
    PostgresMissingError,
    another_database,
    free_port,
    postgres_bin,
    throwaway_postgres,
)
from tests.test_cluster_autograde import course_on, gradebook
from tests.test_parallel import STUDENTS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))
DASK = Path(sys.executable).parent / "dask"  # the command line the README tells to run
OPENSSL_HINT = "openssl not found: install it (Debian/Ubuntu: apt-get install openssl)"
STARTUP_SECONDS = 60  # for the scheduler to see both workers
RUN_SECONDS = 180  # for one grading command


# --- a throwaway certificate authority ---------------------------------------------------------


def openssl(command: str, *, cwd: Path) -> None:
    """``openssl COMMAND`` (split on spaces) in ``cwd``; CalledProcessError if it fails."""
    subprocess.run(["openssl", *command.split()], cwd=cwd, check=True, capture_output=True)


def issue_certificates(folder: Path, names: list[str]) -> dict[str, tuple[Path, Path]]:
    """A CA (``ca.pem``) and, signed by it, a certificate and key for each of ``names``:
    {name: (cert, key)}, with "ca" the CA's. EC P-256 keys, valid one day, for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.fail(OPENSSL_HINT)
    folder.mkdir(parents=True, exist_ok=True)
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    openssl(
        f"req -x509 -new {key} -keyout ca.key -out ca.pem -subj /CN=throwaway-grading-CA"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    (folder / "leaf.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    issued = {"ca": (folder / "ca.pem", folder / "ca.key")}
    for name in names:
        openssl(f"req -new {key} -keyout {name}.key -out {name}.csr -subj /CN={name}", cwd=folder)
        openssl(
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1"
            f" -out {name}.pem -extfile leaf.ext",
            cwd=folder,
        )
        issued[name] = (folder / f"{name}.pem", folder / f"{name}.key")
    return issued


def tls_flags(certificates: dict, name: str) -> list[str]:
    """``dask scheduler``'s and ``dask worker``'s TLS options for the certificate ``name``."""
    ca, (cert, key) = certificates["ca"][0], certificates[name]
    return ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]


def client_dask_config(folder: Path, certificates: dict) -> Path:
    """A Dask configuration folder (for DASK_CONFIG) naming the grading client's certificate
    and refusing plain TCP, as the README's yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = certificates["client"]
    (folder / "grading.yaml").write_text(
        "distributed:\n"
        "  comm:\n"
        "    require-encryption: true\n"
        "    tls:\n"
        f"      ca-file: {certificates['ca'][0]}\n"
        "      client:\n"
        f"        cert: {cert}\n"
        f"        key: {key}\n"
    )
    return folder


def environment(**dask: str) -> dict[str, str]:
    """This environment without any DASK_* variable (none leaks in from the caller), plus
    ``dask``."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("DASK_")}
    return {**kept, **dask}


# --- the cluster, as separate processes --------------------------------------------------------


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each process's own group (a nanny and its worker process, nbgrader's child...),
    a few seconds' grace for all together, then SIGKILL to whatever of the groups is left."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def die_with_this_process() -> None:  # pragma: no cover - runs between fork and exec
    """The child gets SIGKILL if this test process dies without stopping it (killed, or ended by
    a timeout that skips ``finally``); a nanny's worker process exits with its nanny."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def tls_cluster(course: Path, certificates: dict, logs: Path, empty_config: Path):
    """``dask scheduler`` and two single-threaded ``dask worker`` processes started in
    ``course``, each in its own process group, all on 127.0.0.1 with TLS, their output in
    ``logs``; yields the scheduler's tls:// address as soon as they are started (``ready``
    waits for them). The workers are stopped before the scheduler (a worker whose scheduler is
    gone can take long to close)."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    listen = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    scheduler = [str(DASK), "scheduler", "--port", str(port), *listen]
    worker = [str(DASK), "worker", address, "--nthreads", "1", *listen]
    commands = {
        "scheduler": scheduler + tls_flags(certificates, "scheduler"),
        "worker1": worker + tls_flags(certificates, "worker"),
        "worker2": worker + tls_flags(certificates, "worker"),
    }
    env = environment(DASK_CONFIG=str(empty_config))  # their TLS comes from the flags alone
    processes = []
    try:
        for name, argv in commands.items():
            with open(logs / f"{name}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        argv,
                        cwd=course,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=die_with_this_process,
                    )
                )
        yield address
    finally:
        stop(processes[1:])
        stop(processes[:1])


def ready(address: str, certificates: dict, logs: Path) -> None:
    """Return once the scheduler at ``address`` has both workers, each at a tls:// address (a
    client of the test's own, with the client certificate, asks it), so that every run below
    sees them all; fail with the end of every log if they do not come."""
    from distributed import Client, Security

    security = Security(
        tls_ca_file=str(certificates["ca"][0]),
        tls_client_cert=str(certificates["client"][0]),
        tls_client_key=str(certificates["client"][1]),
        require_encryption=True,
    )
    try:
        with Client(
            address, security=security, timeout=STARTUP_SECONDS, set_as_default=False
        ) as client:
            client.wait_for_workers(2, timeout=STARTUP_SECONDS)
            workers = sorted(client.scheduler_info()["workers"])
    except Exception as error:
        logged = "\n".join(f"--- {log.name}\n{tail(log)}" for log in sorted(logs.iterdir()))
        pytest.fail(f"the TLS cluster did not start ({error}):\n{logged}")
    assert all(worker.startswith("tls://127.0.0.1:") for worker in workers), workers


# --- the deployment ----------------------------------------------------------------------------


def launch(*args: str, cwd: Path, env: dict) -> subprocess.Popen:
    """``python ARGS`` started in ``cwd`` with ``env``, its output captured."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finished(process: subprocess.Popen) -> tuple[int, str]:
    """The exit status and stderr of a ``launch``ed process, once it ends (killed if it runs
    longer than RUN_SECONDS)."""
    try:
        _, err = process.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"{process.args} ran more than {RUN_SECONDS} s:\n{err}")
    return process.returncode, err


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Certificates, a PostgreSQL server reached over TCP by the role ``grader`` with a
    password, a course recording into it (the eight submissions of tests/test_parallel.py handed
    in, its secret file named in its nbgrader_config.py) and the TLS cluster, its workers started
    in that course's folder; and the same course recording into another database, autograded by
    a sequential ``nbgrader autograde`` while the cluster starts."""
    root = tmp_path_factory.mktemp("deployment")
    certificates = issue_certificates(root / "tls", ["scheduler", "worker", "client"])
    empty_config = root / "no-dask-config"
    empty_config.mkdir()
    secret = root / "secret"
    status, err = finished(
        launch("-m", "grader", "secret", str(secret), cwd=root, env=environment())
    )
    assert status == 0, err
    try:
        binaries = postgres_bin()
    except PostgresMissingError as missing:
        pytest.fail(str(missing))

    def course_with_secret(name: str, url: str) -> Path:
        course = course_on(root / name, url)
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.TrustedGrader.secret_file = {str(secret)!r}\n")
        return course

    with throwaway_postgres(binaries, tcp_role="grader") as url:
        assert url.startswith("postgresql+psycopg2://grader:") and "@127.0.0.1:" in url
        sequential_url = another_database(url, "sequential")
        course = course_with_secret("cluster", url)
        logs = root / "logs"
        with tls_cluster(course, certificates, logs, empty_config) as address:
            nbgrader(course_with_secret("sequential", sequential_url), "autograde", ASSIGNMENT_ID)
            ready(address, certificates, logs)
            yield {
                "address": address,
                "url": url,
                "sequential_url": sequential_url,
                "course": course,
                "certificates": certificates,
                "client_config": client_dask_config(root / "dask-config", certificates),
                "empty_config": empty_config,
                "root": root,
            }


def test_grade_over_tls_gives_the_csv_of_grading_without_a_scheduler(deployment):
    """Does ``python -m grader grade --scheduler tls://...``, the client's certificate named in
    a Dask configuration file (DASK_CONFIG), give exactly the CSV of the same command without a
    scheduler (both run at once), on both workers, with the course's own secret?"""
    course, root = deployment["course"], deployment["root"]
    empty = root / "empty.ipynb"
    empty.write_bytes(b"")
    paths = [str(path) for path in EXAMPLES] + [str(empty)]
    local, cluster = root / "local.csv", root / "cluster.csv"
    grade = ["-m", "grader", "grade", *paths]
    plain = launch(*grade, "--jobs", "2", "--csv", str(local), "-q", cwd=course, env=environment())
    tls = launch(
        *grade,
        "--scheduler",
        deployment["address"],
        "--csv",
        str(cluster),
        cwd=course,
        env=environment(DASK_CONFIG=str(deployment["client_config"])),
    )
    status, err = finished(plain)
    assert status == 0, err
    status, err = finished(tls)
    assert status == 0, err
    assert "grading on 2 Dask worker(s); dashboard: http://127.0.0.1:" in err
    assert cluster.read_text() == local.read_text()
    with open(cluster, newline="") as stream:
        assert len(list(csv.DictReader(stream))) == len(paths)


@pytest.fixture(scope="module")
def refusals(deployment):
    """{case: (exit status, stderr)} of clients the cluster must not serve, all run at once:
    ``grade`` and ``grader.parallel`` with no certificate in their Dask configuration; ``grade``
    naming the TLS scheduler tcp:// with the certificate and require-encryption; ``grade``
    naming it tcp:// with no TLS configuration at all."""
    course, address = deployment["course"], deployment["address"]
    plain = address.replace("tls://", "tcp://")
    grade = ["-m", "grader", "grade", str(EXAMPLES[0]), "-q", "--scheduler"]
    parallel = ["-m", "grader.parallel", str(course), "-q", "--scheduler"]
    cases = {
        "grade, no certificate": ([*grade, address], deployment["empty_config"]),
        "grader.parallel, no certificate": ([*parallel, address], deployment["empty_config"]),
        "grade, tcp:// with encryption required": ([*grade, plain], deployment["client_config"]),
        "grade, tcp:// without TLS": ([*grade, plain], deployment["empty_config"]),
    }
    running = {
        case: launch(*args, cwd=course, env=environment(DASK_CONFIG=str(config)))
        for case, (args, config) in cases.items()
    }
    return {case: finished(process) for case, process in running.items()}


@pytest.mark.parametrize("case", ["grade, no certificate", "grader.parallel, no certificate"])
def test_a_client_without_a_certificate_is_refused_with_a_message(refusals, case):
    """Does ``grade`` or ``grader.parallel`` with no certificate in its Dask configuration stop
    at once (exit 1) saying which configuration keys to set, with no traceback?"""
    status, err = refusals[case]
    assert status == 1, err
    assert "uses TLS and this client has no certificate" in err, err
    assert "distributed.comm.tls.client.cert" in err, err
    assert "DASK_DISTRIBUTED__COMM__TLS__CA_FILE" in err, err
    assert "Traceback" not in err, err


def test_a_plain_tcp_address_is_refused_when_encryption_is_required(refusals):
    """With the client's certificate and ``require-encryption: true``, is a tcp:// address for
    the TLS scheduler refused before connecting (exit 1), saying to name it tls://?"""
    status, err = refusals["grade, tcp:// with encryption required"]
    assert status == 1, err
    assert "is not a tls:// address" in err and "distributed.comm.require-encryption" in err, err
    assert "Traceback" not in err, err


def test_a_plain_tcp_client_is_refused_by_the_tls_scheduler(refusals, deployment):
    """Does a client without any TLS configuration, naming the scheduler tcp://, get refused
    (exit 1) with a message, no traceback and nothing graded?"""
    status, err = refusals["grade, tcp:// without TLS"]
    plain = deployment["address"].replace("tls://", "tcp://")
    assert status == 1, err
    assert f"cannot reach the Dask scheduler {plain}" in err and "nothing was graded" in err, err
    assert "Traceback" not in err, err


def test_a_password_is_needed_to_reach_the_gradebook(deployment):
    """Does the PostgreSQL server refuse the role without its password over TCP (so the runs
    below did authenticate with it)?"""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    wrong = make_url(deployment["url"]).set(password="not-the-password")
    engine = create_engine(wrong)
    with pytest.raises(OperationalError, match="password authentication failed"):
        engine.connect()
    engine.dispose()


def test_nbgraders_path_over_tls_records_what_a_sequential_autograde_records(deployment):
    """Does ``python -m grader.parallel COURSE --scheduler tls://...``, the client's certificate
    named by DASK_DISTRIBUTED__COMM__TLS__* variables, with the workers recording into the
    gradebook over TCP with the role's password, give one submission per student and every
    cell's score and flag of a sequential ``nbgrader autograde``?"""
    ca = deployment["certificates"]["ca"][0]
    cert, key = deployment["certificates"]["client"]
    env = environment(
        DASK_CONFIG=str(deployment["empty_config"]),
        DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION="True",
        DASK_DISTRIBUTED__COMM__TLS__CA_FILE=str(ca),
        DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=str(cert),
        DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=str(key),
    )
    course = deployment["course"]
    parallel = ["-m", "grader.parallel", str(course), "--scheduler", deployment["address"]]
    status, err = finished(launch(*parallel, "--batch", "4", cwd=course, env=env))
    assert status == 0, err
    assert f"autograded {len(STUDENTS)} students" in err and "on 2 Dask worker(s)" in err, err
    cluster, sequential = gradebook(deployment["url"]), gradebook(deployment["sequential_url"])
    assert cluster["submissions"] == len(STUDENTS)
    assert sorted(cluster["grades"]) == sorted(STUDENTS)
    assert cluster == sequential
