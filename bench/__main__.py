"""`make bench` = ``python -m bench``: the benchmarks, printed (not part of `make test`).

python -m bench [--submissions N] [--jobs J]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

from bench.autograde import report, run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--submissions", "-n", type=int, default=40, help="how many (default 40)")
    parser.add_argument(
        "--jobs", "-j", type=int, default=os.cpu_count() or 1, help="parallel jobs of (c), (d)"
    )
    args = parser.parse_args(argv)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"python -m bench, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    machine = platform.processor() or platform.machine()
    cpus = f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))})"
    print(f"machine: {cpus}, {machine}, Python {platform.python_version()}")
    print(f"load average at the start (1, 5, 15 min): {load}")
    runs = run_benchmark(args.submissions, args.jobs)
    print()
    print(report(runs, args.submissions, args.jobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
