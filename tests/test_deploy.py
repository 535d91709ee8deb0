"""Do the deployment examples of deploy/ hold together? The SLURM job script starts the workers the
grader expects (in the course folder, with its secret, one thread each); the Kubernetes manifests
reference only what they define and put the course at one path everywhere; the worker pod gets
exactly the capabilities the grader's root sandbox takes, and they are enough to grade; the image
installs extras that exist, from files enough to build the grader.

Nothing here runs SLURM or Kubernetes: the job script is run by bash on this machine against its
SLURMCluster's scheduler, and the pod's capabilities are tried on this machine with setpriv.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from deploy.slurm import slurm_cluster
from grader.bubblewrap import _bwrap_base
from grader.executor import probe_worker, secret_fingerprint
from tests.test_install import source_copy

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
DOCKERFILE = KUBERNETES / "Dockerfile"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
README_START = "**On SLURM and Kubernetes.**"
README_END = "What a class costs on a cluster, and when a cluster pays off"
# Beyond the sandbox's own (grader/bubblewrap.py's --cap-add), what root needs to build it.
NAMESPACE_CAPABILITIES = {"SYS_ADMIN", "NET_ADMIN"}


# --- SLURM -------------------------------------------------------------------------------------


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course folder whose path needs quoting in a shell script."""
    folder = tmp_path / "course of 2026"
    folder.mkdir()
    return folder


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret file"
    path.write_bytes(os.urandom(32).hex().encode())
    path.chmod(0o600)
    return path


def test_slurm_job_script_runs_single_threaded_workers_in_the_course(course, secret_file):
    """Does the batch script ask SLURM for the cores and memory, and start one single-threaded
    worker process per core in the course folder with GRADER_SECRET_FILE, in that order?"""
    with slurm_cluster(
        course,
        cores=4,
        memory="16GB",
        walltime="01:30:00",
        queue="short",
        account="teaching",
        secret_file=secret_file,
        interface="lo",
        dashboard_address=":0",
    ) as cluster:
        script = cluster.job_script()
        address = cluster.scheduler_address
    lines = script.splitlines()
    for directive in ("-p short", "-A teaching", "--cpus-per-task=4", "--mem=15G", "-t 01:30:00"):
        assert f"#SBATCH {directive}" in lines, (directive, script)
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    argv = shlex.split(worker)
    assert argv[:4] == [sys.executable, "-m", "distributed.cli.dask_worker", address]
    assert argv[argv.index("--nthreads") + 1] == "1"
    assert argv[argv.index("--nworkers") + 1] == "4"
    assert argv.count("--nthreads") == 1
    prologue = lines[: lines.index(worker)]
    assert f"cd {shlex.quote(str(course))}" in prologue
    assert f"export GRADER_SECRET_FILE={shlex.quote(str(secret_file))}" in prologue


@pytest.mark.slow
def test_slurm_job_script_starts_workers_the_grader_accepts(course, secret_file):
    """Run as bash runs it on a compute node (here, without SLURM), does the job script start
    workers that join the scheduler, one thread each, in the course folder, where bubblewrap
    builds a sandbox and the course secret has the course's fingerprint?"""
    from distributed import Client

    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_SECRET")}
    with slurm_cluster(
        course,
        cores=2,
        memory="4GB",
        secret_file=secret_file,
        interface="lo",
        dashboard_address=":0",
    ) as cluster:
        job = subprocess.Popen(
            ["bash", "-c", cluster.job_script()],
            cwd="/",
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            with Client(cluster) as client:
                client.wait_for_workers(2, timeout=120)
                threads = [info["nthreads"] for info in client.scheduler_info()["workers"].values()]
                folders = set(client.run(os.getcwd).values())
                reports = list(client.run(probe_worker).values())
        finally:
            os.killpg(job.pid, signal.SIGTERM)
            job.wait(timeout=60)
    assert threads == [1, 1]
    assert folders == {str(course)}
    expected = secret_fingerprint(secret_file.read_bytes().strip())
    for report in reports:
        assert report["sandbox"] is None, report
        assert report["secret_fingerprint"] == expected, report


# --- Kubernetes --------------------------------------------------------------------------------


def manifests() -> dict[tuple[str, str], dict]:
    """{(kind, name): object} of every YAML document under deploy/kubernetes/."""
    objects = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in objects, f"{key} defined twice"
            objects[key] = document
    return objects


def pod_spec(objects, kind: str, name: str) -> dict:
    return objects[(kind, name)]["spec"]["template"]["spec"]


def the_container(spec: dict) -> dict:
    (container,) = spec["containers"]
    return container


def test_manifests_define_what_they_reference():
    """Does every PersistentVolumeClaim, Secret (and key), volume and Service address a pod names
    exist in the manifests, and does the Service select the scheduler's pods and ports?"""
    objects = manifests()
    assert {kind for kind, _ in objects} == {
        "Deployment",
        "Service",
        "Job",
        "PersistentVolumeClaim",
        "Secret",
    }
    service = objects[("Service", "dask-scheduler")]
    scheduler = objects[("Deployment", "dask-scheduler")]["spec"]["template"]
    labels = scheduler["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {port["name"] for port in the_container(scheduler["spec"])["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names
    service_ports = {port["port"] for port in service["spec"]["ports"]}
    images = set()
    for kind, name in objects:
        if kind not in ("Deployment", "Job"):
            continue
        spec = pod_spec(objects, kind, name)
        container = the_container(spec)
        images.add(container["image"])
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, (name, mount)
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in objects, (name, claim)
            if "secret" in volume:
                secret = objects[("Secret", volume["secret"]["secretName"])]
                for item in volume["secret"]["items"]:
                    assert item["key"] in secret["stringData"], (name, item)
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                secret = objects[("Secret", reference["name"])]
                assert reference["key"] in secret["stringData"], (name, variable)
        for argument in container["command"]:
            if argument.startswith("tcp://"):
                host, port = argument.removeprefix("tcp://").split(":")
                assert host == service["metadata"]["name"] and int(port) in service_ports
    assert len(images) == 1, "the scheduler, workers and grading Job must run one image"


def test_workers_and_the_grading_job_see_the_course_at_one_path_with_its_secret():
    """Do the workers and the grading Job mount the one ReadWriteMany course volume at the same
    path, start in it, read GRADER_SECRET_FILE where the Secret is mounted, and grade it, the
    workers with one thread each?"""
    objects = manifests()
    claim = objects[("PersistentVolumeClaim", "cnn-grader-course")]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    paths = set()
    for kind, name in (("Deployment", "dask-worker"), ("Job", "cnn-grader-autograde")):
        spec = pod_spec(objects, kind, name)
        container = the_container(spec)
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
        (course_volume,) = [v for v in volumes if "persistentVolumeClaim" in volumes[v]]
        assert volumes[course_volume]["persistentVolumeClaim"]["claimName"] == "cnn-grader-course"
        paths.add(mounts[course_volume])
        assert container["workingDir"] == mounts[course_volume]
        (secret_volume,) = [v for v in volumes if "secret" in volumes[v]]
        (item,) = volumes[secret_volume]["secret"]["items"]
        environment = {variable["name"]: variable for variable in container["env"]}
        assert environment["GRADER_SECRET_FILE"]["value"] == (
            f"{mounts[secret_volume]}/{item['path']}"
        )
        assert "CNN_GRADER_DB_URL" in environment
    assert len(paths) == 1
    command = the_container(pod_spec(objects, "Job", "cnn-grader-autograde"))["command"]
    assert command[:3] == ["python", "-m", "grader.parallel"] and command[3] in paths
    worker = the_container(pod_spec(objects, "Deployment", "dask-worker"))["command"]
    assert worker[:2] == ["dask", "worker"]
    assert worker[worker.index("--nthreads") + 1] == "1"


def sandbox_capabilities() -> set[str]:
    """The capabilities grader/bubblewrap.py keeps in a sandbox started by root."""
    arguments = _bwrap_base(privileged=True)
    return {
        arguments[index + 1].removeprefix("CAP_")
        for index, argument in enumerate(arguments)
        if argument == "--cap-add"
    }


def readme_capabilities() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(README_START) : text.index(README_END)]
    match = re.search(r"add: \[([A-Z_, ]+)\]", section)
    assert match, "the README's SLURM and Kubernetes paragraph names no capabilities"
    return {name.strip() for name in match.group(1).split(",")}


def test_worker_pod_has_exactly_the_capabilities_the_root_sandbox_takes():
    """Does the worker run as root with every capability dropped but those that build the sandbox
    (namespaces and mounts, the loopback) and those grader/bubblewrap.py keeps in it, unconfined
    by seccomp and AppArmor, as the README says?"""
    container = the_container(pod_spec(manifests(), "Deployment", "dask-worker"))
    context = container["securityContext"]
    expected = NAMESPACE_CAPABILITIES | sandbox_capabilities()
    assert sandbox_capabilities() == {"SETUID", "SETGID", "KILL"}
    assert context["capabilities"]["drop"] == ["ALL"]
    assert set(context["capabilities"]["add"]) == expected
    assert len(context["capabilities"]["add"]) == len(expected)
    assert context["runAsUser"] == 0
    assert context["seccompProfile"] == {"type": "Unconfined"}
    assert context["appArmorProfile"] == {"type": "Unconfined"}
    assert readme_capabilities() == expected


def grade_with_capabilities(capabilities: set[str] | None, tmp_path: Path):
    """`python -m grader grade examples/bob.ipynb --csv` as root holding only ``capabilities``
    (None: all of root's): (exit status, the CSV's lines)."""
    csv_path = tmp_path / "grades.csv"
    csv_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "grader", "grade", str(REPO_ROOT / "examples" / "bob.ipynb")]
    command += ["--csv", str(csv_path)]
    if capabilities is not None:
        allowed = ",".join(["-all", *(f"+{name.lower()}" for name in sorted(capabilities))])
        command = ["setpriv", "--inh-caps=-all", f"--bounding-set={allowed}", "--", *command]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_SECRET")}
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300
    )
    lines = csv_path.read_text().splitlines() if csv_path.exists() else []
    return result.returncode, lines


@pytest.mark.slow
def test_worker_capabilities_grade_as_root_does_and_namespaces_need_both(tmp_path):
    """Holding only the worker pod's capabilities, does root grade a submission exactly as with
    all of them; and without SYS_ADMIN, or without NET_ADMIN, does bubblewrap fail to build the
    sandbox (exit 3), so neither is padding?"""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux)")
    worker = the_container(pod_spec(manifests(), "Deployment", "dask-worker"))
    pod = set(worker["securityContext"]["capabilities"]["add"])
    status, root_grades = grade_with_capabilities(None, tmp_path)
    assert status == 0 and len(root_grades) == 2
    assert grade_with_capabilities(pod, tmp_path) == (0, root_grades)
    for needed in NAMESPACE_CAPABILITIES:
        assert grade_with_capabilities(pod - {needed}, tmp_path) == (3, []), needed


# --- the image ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_is_debian_with_bubblewrap_and_extras_that_exist():
    """Is the image Debian with bubblewrap from apt, and does it pip install the grader with the
    [dask] and [postgres] extras, which pyproject.toml declares?"""
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("debian:")
    runs = " ".join(arguments for instruction, arguments in instructions if instruction == "RUN")
    assert re.search(r"apt-get install [^&]*\bbubblewrap\b", runs)
    match = re.search(r'pip install [^&]*"/src\[([a-z,]+)\]"', runs)
    assert match, runs
    extras = set(match.group(1).split(","))
    assert extras == {"dask", "postgres"}
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])


def wheel_members(source: Path, destination: Path) -> set[str]:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(destination), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = destination.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if ".dist-info/" not in name}


@pytest.mark.slow
def test_image_copies_what_the_grader_is_built_from(tmp_path):
    """Do the Dockerfile's COPY lines bring everything the package is built from: is the wheel
    built from them the same, file for file, as the one built from the repository's tracked
    files (so the image holds the whole grader and its course template, and nothing of
    course/'s submissions)?"""
    image_source = tmp_path / "image"
    for instruction, arguments in dockerfile_instructions():
        if instruction != "COPY":
            continue
        *sources, target = arguments.split()
        for source in sources:
            destination = image_source / target.removeprefix("/")
            if target.endswith("/") and not source.endswith("/"):
                destination = destination / Path(source).name
            if (REPO_ROOT / source).is_dir():
                shutil.copytree(REPO_ROOT / source, destination, dirs_exist_ok=True)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / source, destination)
    tracked = source_copy(tmp_path / "repository")
    from_image = wheel_members(image_source / "src", tmp_path / "wheel-image")
    from_repository = wheel_members(tracked, tmp_path / "wheel-repository")
    assert "grader/bubblewrap.py" in from_image
    assert "grader/course_template/source/cnn_step_by_step/assignment.ipynb" in from_image
    assert from_image == from_repository
