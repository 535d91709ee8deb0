"""What one sandboxed submission costs, against its floor: starting Python and importing NumPy.

python -m bench.sandbox_floor [--repeat N]

Prints the median wall time of
  (a) plain ``python -c "import numpy"``,
  (b) the same inside the grader's bubblewrap sandbox (same mounts, environment, flags),
  (c) ``run_submission`` of the canonical solution, two calls per exercise, without the sandbox,
  (d) the same in the sandbox,
  (e) the canonical solution on the full hidden checks (every call grading makes), sandboxed,
and the ratios (b)/(a) (the price of bubblewrap) and (d)/(b) (the harness over the floor).
Not part of the tests: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import time

import numpy as np

from grader import reference, sandbox
from grader.calls import Call
from grader.exercises import EXERCISE_NAMES
from grader.hidden_checks import hidden_checks
from grader.sandbox import run_submission
from tests.catalogue.canonical import CANONICAL
from tests.factories import SETUP_SOURCE


def median_seconds(action, repeat: int) -> float:
    action()  # warm the page cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def few_calls() -> dict[str, list[Call]]:
    """Two small calls per exercise."""
    rng = np.random.default_rng(0)
    normal = rng.standard_normal
    A_prev, W, b = normal((2, 5, 5, 3)), normal((3, 3, 3, 4)), normal((1, 1, 1, 4))
    conv, pool = {"stride": 2, "pad": 1}, {"stride": 1, "f": 2}
    Z, conv_cache = reference.conv_forward(A_prev, W, b, conv)
    A, pool_cache = reference.pool_forward(A_prev, pool)
    return {
        "zero_pad": [Call((normal((2, 3, 3, 2)), pad)) for pad in (0, 2)],
        "conv_single_step": [Call((normal((3, 3, 3)), normal((3, 3, 3)), normal((1, 1, 1))))] * 2,
        "conv_forward": [Call((A_prev, W, b, conv)), Call((A_prev, W, b, {"stride": 1, "pad": 0}))],
        "pool_forward": [Call((A_prev, pool, mode)) for mode in ("max", "average")],
        "conv_backward": [Call((normal(Z.shape), conv_cache))] * 2,
        "create_mask_from_window": [Call((normal((2, 3)),))] * 2,
        "distribute_value": [Call((2.0, (2, 2))), Call((1.5, (3, 2)))],
        "pool_backward": [Call((normal(A.shape), pool_cache, mode)) for mode in ("max", "average")],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_floor", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measure (7)")
    repeat = parser.parse_args(argv).repeat
    logging.getLogger("grader.sandbox").setLevel(logging.ERROR)  # (c)'s no-sandbox warning

    sandbox.require_sandbox()
    cells = {name: variant.source for name, variant in CANONICAL.items()}
    calls = few_calls()
    hidden = {
        name: [case.call for check in hidden_checks(name, 7) for case in check.cases]
        for name in EXERCISE_NAMES
    }
    plain = [sys.executable, "-c", "import numpy"]
    with sandbox.SeccompFile() as seccomp:
        boxed = sandbox.sandboxed_python_command("import numpy", seccomp_fd=seccomp.fd)

        def sandboxed_import():
            seccomp.rewind()  # bwrap reads the filter from where the fd is
            subprocess.run(boxed, check=True, pass_fds=seccomp.pass_fds)

        measures = {
            "a": median_seconds(lambda: subprocess.run(plain, check=True), repeat),
            "b": median_seconds(sandboxed_import, repeat),
        }
    for key, arguments, is_sandboxed in (
        ("c", calls, False),
        ("d", calls, True),
        ("e", hidden, True),
    ):

        def grade(arguments=arguments, is_sandboxed=is_sandboxed):
            result = run_submission(SETUP_SOURCE, cells, arguments, sandbox=is_sandboxed)
            assert not result.exercise_errors and result.children == 1, result.exercise_errors

        measures[key] = median_seconds(grade, repeat)

    hidden_count = sum(len(value) for value in hidden.values())
    labels = {
        "a": 'plain python -c "import numpy"',
        "b": 'sandboxed python -c "import numpy"',
        "c": "run_submission, 16 calls, no sandbox",
        "d": "run_submission, 16 calls, sandboxed",
        "e": f"run_submission, {hidden_count} hidden-check calls, sandboxed",
    }
    print(f"median of {repeat} runs")
    for key, label in labels.items():
        print(f"  ({key}) {label:<48} {measures[key] * 1000:8.1f} ms")
    print(f"  bubblewrap's price      (b)/(a) = {measures['b'] / measures['a']:.2f}")
    print(f"  harness over the floor  (d)/(b) = {measures['d'] / measures['b']:.2f}")
    print(f"  sandbox's price per run (d)/(c) = {measures['d'] / measures['c']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
