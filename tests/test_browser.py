"""Browser test: the solution notebook runs in JupyterLab as a student sees it, end to end.

One JupyterLab server (this venv, temporary HOME and Jupyter dirs, a token, nbgrader's
extensions off as in the student install) serves a temporary copy of what the notebook needs;
headless Chromium, driven by Playwright, opens it, runs Run > Run All Cells from the menu and
waits for the kernel to finish. The tests below then read the rendered page. A full-page
screenshot goes to build/browser/solution.png for a human to look at. A second, small notebook
(one right and one wrong implementation) shows the figure of a wrong answer:
build/browser/difference.png.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from authoring.figures import FIGURES
from authoring.release import CHECK_MODULES
from grader import reference
from grader.exercises import EXERCISES
from tests.browser.jupyterlab import CHROMIUM, CHROMIUM_ARGS, jupyterlab
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.mistakes import MISTAKES

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO_ROOT / "solutions" / "assignment.ipynb"
# What the notebook needs next to it, as the student bundle has it (the public tests, their data
# and the pre-submission check's modules: the release's own list).
NEIGHBOURS = ("public_tests.py", "public_tests_data.npz", *CHECK_MODULES)
SCREENSHOT = REPO_ROOT / "build" / "browser" / "solution.png"
VIEWPORT = {"width": 1100, "height": 900}
SCREENSHOT_MAX_HEIGHT = 40_000  # px; far above the notebook's ~20,000, a guard against runaways
OPEN_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 120_000

PANEL = ".jp-NotebookPanel"
INDICATOR = f"{PANEL} .jp-Notebook-ExecutionIndicator"
# The kernel is running something while any prompt shows "*"; Run All is over when the kernel is
# idle, no prompt shows "*" and at least one shows a number (before the run none does; after
# an error the rest stay blank, so a failing notebook ends the wait at once instead of timing out).
RUN_FINISHED = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
    .map(prompt => prompt.textContent);
  const indicator = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  return indicator !== null && indicator.dataset.status === 'idle' && prompts.length > 0
    && !prompts.some(text => text.includes('*')) && prompts.some(text => /[0-9]/.test(text));
}"""
IMAGES_LOADED = """() => [...document.querySelectorAll('.jp-NotebookPanel img')]
  .every(image => image.complete)"""


@dataclass(frozen=True)
class RenderedNotebook:
    """What the browser showed after Run All Cells."""

    prompts: list[str]  # input prompt of every code cell, e.g. "[3]:"
    outputs: list[tuple[str, str]]  # (mime type, text) of every output
    images: list[tuple[str, int]]  # (src, naturalWidth) of every <img> in the notebook panel
    screenshot: Path


def chromium_or_fail() -> Path:
    """The Chromium binary; a clear failure (never a skip) when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser test needs the Debian package "
            "`chromium`. Install it with `make setup` as root (or `apt-get install chromium`); "
            "never `playwright install`, which downloads a browser."
        )
    return CHROMIUM


def referenced_images(notebook: Path) -> list[str]:
    """File names under images/ that the notebook's markdown cells show, in order."""
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            found += re.findall(r"images/([\w.-]+\.(?:png|gif|jpg|svg))", "".join(cell["source"]))
    return found


def expected_success_lines() -> dict[str, str]:
    """What each public test prints when it passes, learnt by running it on the reference
    (so the test follows public_tests.py's wording instead of copying it)."""
    import public_tests

    lines = {}
    for exercise in EXERCISES:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            getattr(public_tests, f"{exercise.name}_test")(getattr(reference, exercise.name))
        lines[exercise.name] = printed.getvalue().strip()
        assert lines[exercise.name], f"{exercise.name}_test printed nothing on the reference"
    return lines


def _staged_copy(directory: Path) -> Path:
    """Copy the notebook and what it needs into ``directory`` (symlinks resolved)."""
    if not NOTEBOOK.is_file():
        pytest.fail(f"{NOTEBOOK} is missing: generate it with `make notebooks`")
    directory.mkdir()
    shutil.copy(NOTEBOOK, directory / NOTEBOOK.name)
    for name in NEIGHBOURS:
        shutil.copy(REPO_ROOT / name, directory / name)
    shutil.copytree(REPO_ROOT / "images", directory / "images")
    return directory


def _run_all_cells(page, kernel_name: str) -> None:
    """Wait for the notebook's kernel, then Run > Run All Cells and wait for the end."""
    page.wait_for_selector(
        f"{PANEL} .jp-Toolbar-kernelName[aria-label='{kernel_name}']", timeout=OPEN_TIMEOUT_MS
    )
    page.wait_for_selector(f"{INDICATOR}[data-status=idle]", timeout=OPEN_TIMEOUT_MS)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS, polling=250)
    page.wait_for_function(IMAGES_LOADED, timeout=OPEN_TIMEOUT_MS, polling=250)


def _full_page_screenshot(page, path: Path) -> None:
    """Grow the viewport to the notebook's height so one screenshot holds every cell."""
    scroller = f"{PANEL} .jp-WindowedPanel-outer"
    height = page.eval_on_selector(scroller, "element => element.scrollHeight")
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": min(height + 150, SCREENSHOT_MAX_HEIGHT)}
    )
    page.eval_on_selector(scroller, "element => { element.scrollTop = 0; }")
    page.wait_for_timeout(300)  # one layout pass after the resize
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> RenderedNotebook:
    """Run the solution notebook once in JupyterLab + Chromium and record the page."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_fail()
    base = tmp_path_factory.mktemp("browser")
    root = _staged_copy(base / "notebook")
    kernel_name = json.loads(NOTEBOOK.read_text())["metadata"]["kernelspec"]["display_name"]
    with jupyterlab(root, base / "environment") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            # /doc/ is JupyterLab's single-document mode: the notebook at full width.
            page.goto(server.lab_url(NOTEBOOK.name).replace("/lab/tree/", "/doc/tree/"))
            _run_all_cells(page, kernel_name)
            notebook = RenderedNotebook(
                prompts=page.eval_on_selector_all(
                    f"{PANEL} .jp-CodeCell .jp-InputPrompt",
                    "prompts => prompts.map(prompt => prompt.textContent.trim())",
                ),
                outputs=[
                    tuple(pair)
                    for pair in page.eval_on_selector_all(
                        f"{PANEL} .jp-OutputArea-output",
                        "outputs => outputs.map(o => [o.dataset.mimeType || '', o.innerText])",
                    )
                ],
                images=[
                    tuple(pair)
                    for pair in page.eval_on_selector_all(
                        f"{PANEL} img", "images => images.map(i => [i.src, i.naturalWidth])"
                    )
                ],
                screenshot=SCREENSHOT,
            )
            _full_page_screenshot(page, SCREENSHOT)
        finally:
            browser.close()
    return notebook


def test_every_code_cell_ran(rendered):
    """Did Run All Cells execute every code cell (each prompt shows an execution count)?"""
    not_run = [
        index for index, prompt in enumerate(rendered.prompts) if not re.search(r"\d", prompt)
    ]
    assert rendered.prompts, "no code cells were found in the notebook panel"
    assert not not_run, f"code cells {not_run} did not run (prompts: {rendered.prompts})"


def test_no_cell_wrote_an_error_or_a_warning(rendered):
    """Did the solution run without a traceback or anything else on stderr?"""
    errors = [text for mime, text in rendered.outputs if mime == "application/vnd.jupyter.stderr"]
    assert not errors, "stderr output:\n" + "\n---\n".join(errors)


def test_every_public_test_printed_its_success_line(rendered):
    """Did each of the eight public tests print the line it prints when every check passes?"""
    printed = "\n".join(text for mime, text in rendered.outputs if "stdout" in mime)
    missing = {name: line for name, line in expected_success_lines().items() if line not in printed}
    assert not missing, f"success lines not shown: {missing}\nprinted:\n{printed}"


def test_every_image_rendered(rendered):
    """Did every <img> in the notebook (figures and plot outputs) load with a real width?"""
    assert rendered.images, "the notebook panel shows no image at all"
    broken = [src[:120] for src, width in rendered.images if width <= 0]
    assert not broken, f"images that did not render: {broken}"


def test_every_figure_is_shown_once_the_notebook_references_it(rendered):
    """Does every figure referenced in the notebook appear as a rendered <img>, and is every
    figure that authoring.figures draws (and images/ ships) referenced?"""
    shown = {
        Path(urlparse(src).path).name
        for src, width in rendered.images
        if width > 0 and urlparse(src).path.startswith("/files/images/")
    }
    referenced = referenced_images(NOTEBOOK)
    assert sorted(set(referenced) - shown) == [], f"referenced but not shown: {referenced}"
    drawn = {figure.filename for figure in FIGURES}
    assert set(referenced) == drawn, (
        f"notebook references {sorted(referenced)}; authoring.figures draws {sorted(drawn)}"
    )


def test_screenshot_was_saved(rendered):
    """Is there a full-page screenshot, taller than one screen, for a human to inspect?"""
    from PIL import Image

    with Image.open(rendered.screenshot) as image:
        width, height = image.size
    assert width == VIEWPORT["width"]
    assert height > 2 * VIEWPORT["height"]


# --- the figure of a wrong answer (issue 10, item 6) ------------------------------------------

DIFFERENCE_NOTEBOOK = "difference.ipynb"
DIFFERENCE_SCREENSHOT = REPO_ROOT / "build" / "browser" / "difference.png"
WRONG_CONV_FORWARD = next(
    v for v in MISTAKES if (v.exercise, v.label) == ("conv_forward", "forgot-stride")
)
CELL_OUTPUTS = """cells => cells.map(cell => ({
  images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(i => i.naturalWidth),
  stdout: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type*="stdout"]')]
    .map(o => o.innerText).join(''),
  errors: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type*="stderr"]')]
    .map(o => o.innerText),
}))"""


def _difference_notebook() -> dict:
    """The setup cell, a right pool_forward and its test, then a conv_forward that forgets the
    stride and its test, last (Run All stops at an error)."""
    solution = json.loads(NOTEBOOK.read_text())
    cells = [
        "import numpy as np\nfrom public_tests import *",
        *(CANONICAL[name].source.strip() for name in ("zero_pad", "conv_single_step")),
        CANONICAL["pool_forward"].source.strip(),
        "pool_forward_test(pool_forward)",
        WRONG_CONV_FORWARD.source.strip(),
        "conv_forward_test(conv_forward)",
    ]
    return {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
             "execution_count": None}
            for source in cells
        ],
        "metadata": solution["metadata"],
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip


@pytest.fixture(scope="module")
def difference_cells(tmp_path_factory) -> list[dict]:
    """Run the small notebook of one right and one wrong implementation in JupyterLab; the
    outputs of each code cell as the page shows them; a screenshot for a human."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_fail()
    base = tmp_path_factory.mktemp("difference")
    root = base / "notebook"
    root.mkdir()
    for name in NEIGHBOURS:
        shutil.copy(REPO_ROOT / name, root / name)
    notebook = _difference_notebook()
    (root / DIFFERENCE_NOTEBOOK).write_text(json.dumps(notebook))
    kernel_name = notebook["metadata"]["kernelspec"]["display_name"]
    with jupyterlab(root, base / "environment") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(server.lab_url(DIFFERENCE_NOTEBOOK).replace("/lab/tree/", "/doc/tree/"))
            _run_all_cells(page, kernel_name)
            cells = page.eval_on_selector_all(f"{PANEL} .jp-CodeCell", CELL_OUTPUTS)
            _full_page_screenshot(page, DIFFERENCE_SCREENSHOT)
        finally:
            browser.close()
    return cells


def test_difference_figure_shows_for_a_failing_test_only(difference_cells):
    """Acceptance (issue 10, item 6): does the failing public test's cell show the figure of
    its wrong answer (a rendered image) above a short message, and the passing one none?"""
    passing, failing = difference_cells[-3], difference_cells[-1]
    assert passing["images"] == [] and passing["errors"] == [], passing
    assert "pool_forward: all " in passing["stdout"]
    assert len(failing["images"]) == 1 and failing["images"][0] > 0, failing
    assert len(failing["errors"]) == 1, failing
    message = failing["errors"][0].strip().splitlines()
    assert message[0].startswith("AssertionError: conv_forward failed"), message
    assert len(message) <= 15 and "public_tests" not in failing["errors"][0], message
    from PIL import Image

    with Image.open(DIFFERENCE_SCREENSHOT) as image:
        assert image.size[0] == VIEWPORT["width"]
