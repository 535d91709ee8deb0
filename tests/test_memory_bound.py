"""Tests of grader/memory_bound.py: is a sandbox's memory bounded as a whole where the machine
has a memory cgroup (processes that each stay under RLIMIT_AS, together over the bound), and is
the cgroup gone afterwards?"""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader import memory_bound
from grader.calls import Call
from grader.sandbox import Limits, run_submission
from tests.catalogue.canonical import CANONICAL
from tests.factories import SETUP_SOURCE

# Three processes of 300 MiB each: every one under the 1 GiB address-space limit, together over
# a 512 MiB sandbox.
HOARDER = """
import os, time

def zero_pad(X, pad):
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            block = bytearray(300 << 20)
            for index in range(0, len(block), 4096):
                block[index] = 1
            time.sleep(3)
            os._exit(0)
        children.append(pid)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
"""


def _cgroup_available() -> bool:
    memory_bound._parent.cache_clear()
    return memory_bound._parent() is not None


@pytest.mark.skipif(not _cgroup_available(), reason="no memory cgroup on this machine")
def test_processes_under_their_own_limits_are_stopped_together_by_the_sandbox_bound(caplog):
    """Are processes that hold 900 MiB together (300 MiB each) stopped by a 512 MiB
    sandbox bound, while the next exercise is graded normally, and is the cgroup removed?"""
    parent = memory_bound._parent()[1]
    before = {path.name for path in parent.iterdir() if path.name.startswith("cnn-grader-")}
    calls = {
        "zero_pad": [Call((np.ones((1, 2, 2, 1)), 1))],
        "conv_single_step": [Call((np.ones((2, 2, 1)), np.ones((2, 2, 1)), np.ones((1, 1, 1))))],
    }
    cells = {"zero_pad": HOARDER, "conv_single_step": CANONICAL["conv_single_step"].source}
    limits = Limits(sandbox_memory_bytes=512 << 20, exercise_seconds=20)
    result = run_submission(SETUP_SOURCE, cells, calls, limits=limits)
    assert "no memory cgroup" not in caplog.text, caplog.text  # the bound was really there
    (hoarded,) = result.outcomes["zero_pad"]
    # Stopped: the kernel killed one of its processes (a child, or the exercise itself).
    assert hoarded.error is not None or -9 in hoarded.returned, hoarded
    (computed,) = result.outcomes["conv_single_step"]
    assert computed.error is None and computed.returned == 5.0
    after = {path.name for path in parent.iterdir() if path.name.startswith("cnn-grader-")}
    assert after == before


def test_without_a_cgroup_the_command_is_unchanged(monkeypatch):
    """Where no cgroup can be had, does the sandbox start exactly as before?"""
    monkeypatch.setattr(memory_bound, "_parent", lambda: None)
    with memory_bound.MemoryBound(1 << 30, 8) as bound:
        assert not bound.active
        assert bound.wrap(["bwrap", "--x"]) == ["bwrap", "--x"]


@pytest.mark.skipif(memory_bound._parent() is None, reason="needs a memory cgroup (root, v1)")
def test_a_dead_graders_cgroup_is_removed_by_the_next_sandbox():
    """Is the cgroup a killed grader left behind (its process gone) removed when the next
    sandbox is made beside it, while a live grader's and an old-style name are left alone?"""
    import subprocess

    _, root = memory_bound._parent()
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    left = {
        "dead": root / f"cnn-grader-{dead.pid}-0123456789ab",
        "alive": root / f"cnn-grader-{alive.pid}-0123456789ab",
        "old": root / "cnn-grader-0123456789ab",
        "odd": root / "cnn-grader-\u00b2-0123456789ab",  # '²'.isdigit(), but no pid
    }
    try:
        for directory in left.values():
            directory.mkdir()
        with memory_bound.MemoryBound(64 << 20, 8) as bound:
            assert bound.active and bound.directory.name.startswith(f"cnn-grader-{os.getpid()}-")
        assert not left["dead"].exists()
        assert left["alive"].exists() and left["old"].exists() and left["odd"].exists()
    finally:
        alive.kill()
        alive.wait()
        for directory in left.values():
            if directory.exists():
                directory.rmdir()
