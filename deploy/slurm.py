"""Dask workers for the grader as SLURM jobs (dask-jobqueue), from a cluster's login node.

    python -m deploy.slurm COURSE --jobs N --cores C --memory 16GB [--walltime 02:00:00]
        [--queue P] [--account A] [--interface ib0] [--secret-file F] [--python PY]
        [--print-job-script] [-- COMMAND ...]

Owns: the ``SLURMCluster`` (``slurm_cluster``) whose jobs start the workers the grader expects
(README, "Grading on a Dask cluster"): each job is ``C`` single-threaded worker processes (one
notebook graded at a time per core, each in its own sandbox), started in the course folder (its
``nbgrader_config.py`` names the secret, and nbgrader's runs read it) with ``GRADER_SECRET_FILE``
exported when ``--secret-file`` is given, ``--memory`` for the whole job (SLURM's ``--mem``, which
counts the sandboxes too, split evenly among the worker processes as Dask's memory limit).

The scheduler runs in this process, on the login node, where the grading command runs too: it
must be reachable from the compute nodes (``--interface``). After ``--jobs`` jobs are submitted
and all their workers have joined, this either runs COMMAND with ``--scheduler ADDRESS`` appended
(``python -m grader.parallel COURSE`` or ``python -m grader grade ...``) and exits with its status,
or, without COMMAND, prints the address and waits until Ctrl-C. Either way the jobs are cancelled
when it ends. ``--print-job-script`` prints the batch script and submits nothing.

The compute nodes need what every worker needs: bubblewrap usable by the job's user (user
namespaces: README, "bubblewrap without root"), the same grader installed (``--python``, default
this interpreter, at the same path on every node), and the course folder at the same path. The
grader checks each worker before sending work and refuses a cluster with one that differs.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

WORKER_WAIT_SECONDS = 24 * 3600  # jobs can wait in the queue for long; Ctrl-C stops waiting


def slurm_cluster(
    course: Path,
    *,
    cores: int,
    memory: str,
    walltime: str = "02:00:00",
    queue: str | None = None,
    account: str | None = None,
    interface: str | None = None,
    secret_file: Path | None = None,
    python: str | None = None,
    dashboard_address: str = ":8787",
):
    """A ``dask_jobqueue.SLURMCluster`` (its scheduler started here, no job submitted yet) whose
    every job runs ``cores`` worker processes of one thread each, in ``course``, with
    ``GRADER_SECRET_FILE=secret_file`` when given. ``memory``: the job's memory ("16GB").
    ``dashboard_address``: the scheduler's dashboard (":0": any free port)."""
    from dask_jobqueue import SLURMCluster  # the [slurm] extra: only this script needs it

    prologue = [f"cd {shlex.quote(str(course.absolute()))}"]
    if secret_file is not None:
        prologue.append(f"export GRADER_SECRET_FILE={shlex.quote(str(secret_file.absolute()))}")
    return SLURMCluster(
        cores=cores,
        processes=cores,  # cores / processes = one thread per worker process
        memory=memory,
        walltime=walltime,
        queue=queue,
        account=account,
        interface=interface,
        job_name="cnn-grader-worker",
        job_script_prologue=prologue,
        # dask-jobqueue writes the interpreter into the script unquoted.
        python=shlex.quote(python or sys.executable),
        scheduler_options={"dashboard_address": dashboard_address},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.slurm",
        description="Start Dask workers for the grader as SLURM jobs and grade through them.",
    )
    parser.add_argument("course", type=Path, help="the course folder, the same path on every node")
    parser.add_argument("--jobs", type=int, default=1, help="SLURM jobs to submit (default: 1)")
    parser.add_argument(
        "--cores", type=int, required=True, help="cores per job: one worker process each"
    )
    parser.add_argument(
        "--memory",
        required=True,
        help="memory per job, e.g. 16GB (SLURM's --mem: the workers and their sandboxes)",
    )
    parser.add_argument("--walltime", default="02:00:00", help="per job (default: 02:00:00)")
    parser.add_argument("--queue", default=None, help="SLURM partition (-p)")
    parser.add_argument("--account", default=None, help="SLURM account (-A)")
    parser.add_argument(
        "--interface",
        default=None,
        help="network interface of the scheduler and workers, e.g. ib0 (default: Dask's choice)",
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="exported to the workers as GRADER_SECRET_FILE (default: the course's configuration)",
    )
    parser.add_argument(
        "--python", default=None, help="the workers' interpreter (default: this one)"
    )
    parser.add_argument(
        "--print-job-script", action="store_true", help="print the batch script, submit nothing"
    )
    parser.epilog = "after --: a command run with --scheduler ADDRESS appended, then the jobs stop"
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, command = build_parser().parse_args(argv[:split]), argv[split + 1 :]
    if not args.course.is_dir():
        print(f"error: no course folder {args.course}", file=sys.stderr)
        return 2
    if args.jobs < 1 or args.cores < 1:
        print("error: --jobs and --cores must be at least 1", file=sys.stderr)
        return 2
    cluster = slurm_cluster(
        args.course,
        cores=args.cores,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        secret_file=args.secret_file,
        python=args.python,
    )
    with cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        from distributed import Client

        workers = args.jobs * args.cores
        cluster.scale(jobs=args.jobs)
        print(f"scheduler {cluster.scheduler_address}, dashboard {cluster.dashboard_link}")
        print(f"waiting for {workers} workers ({args.jobs} jobs x {args.cores}) ...", flush=True)
        with Client(cluster) as client:
            client.wait_for_workers(workers, timeout=WORKER_WAIT_SECONDS)
        if command:
            full = [*command, "--scheduler", cluster.scheduler_address]
            print("running", shlex.join(full), flush=True)
            return subprocess.run(full, check=False).returncode
        print(f"grade with --scheduler {cluster.scheduler_address}; Ctrl-C stops the workers")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
