"""The Dask cluster the tests and the benchmarks grade on: ``workers`` single-threaded worker
processes on 127.0.0.1 (one grading at a time per process, as a real worker runs it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def local_cluster(workers: int = 2) -> Iterator:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded processes; stopped on exit."""
    from distributed import LocalCluster  # imported here: only these tests and benches need it

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # A free port: with None the scheduler still serves HTTP on 8787, and a second cluster
        # on the machine (another test, a benchmark) warned "Port 8787 is already in use".
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster
