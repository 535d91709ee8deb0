"""Browser test: nothing a student wrote runs in formgrader's or the feedback page, and a correct
submission's maths and figures still render on both.

One throwaway course (course/ copied, the assignment released): alice hands in the correct
example submission, mallory the same code plus every payload of tests/catalogue/xss_payloads.py
(markdown, raw and attachment cells, outputs, cell and notebook metadata) and evil files beside
it. ``nbgrader autograde`` and ``nbgrader generate_feedback`` run with the course's
configuration. Then one Jupyter server with nbgrader's formgrader (token, isolated HOME and
Jupyter dirs) and one headless Chromium open, for each student, (a) formgrader's manual-grading
page and (b) the feedback page (served from a stand-in origin, http://feedback.test/), click
every link and button the student's content holds, and record what happened. Payloads that ran
would have set ``window.__pwned``, retitled the page, asked for ``/api/contents/PWNED-<n>``,
opened evil.html, or hidden or covered the graded code.

MathJax: both pages load MathJax 2.7 from a CDN, unreachable here; the test serves those URLs
from the jupyter_server_mathjax package (the same MathJax 2.7 with its HTML-CSS output, since
the package has no CommonHTML), keeping the pages' own configuration and its Safe extension.
Screenshots of alice's pages: build/browser/formgrader.png and build/browser/feedback.png.
"""

from __future__ import annotations

import json
import mimetypes
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from grader.demo import feedback_path, nbgrader_environment
from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME
from tests.browser.formgrader import formgrader_server
from tests.browser.jupyterlab import CHROMIUM, CHROMIUM_ARGS
from tests.catalogue.xss_payloads import EVIL_FILES, PAYLOADS, payload_notebook
from tests.course_fixture import hand_in, nbgrader, released_course

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "alice.ipynb"
SCREENSHOTS = REPO_ROOT / "build" / "browser"
VIEWPORT = {"width": 1200, "height": 900}
FEEDBACK_ORIGIN = "http://feedback.test"
MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"
LOAD_TIMEOUT_MS = 60_000
STUDENTS = ("alice", "mallory")

# Wait for MathJax (if it loaded) to finish typesetting; true when it did.
MATHJAX_DONE = """() => new Promise(resolve => {
  if (!window.MathJax || !MathJax.Hub) { resolve(false); return; }
  MathJax.Hub.Queue(() => resolve(true));
})"""
# Elements the student's content put on the page that a grader can activate.
CLICKABLE = """() => [...document.querySelectorAll(
    '#notebook-container a, #notebook-container button, #notebook-container input,'
    + ' #notebook-container summary, #notebook-container area')]
  .filter(element => !element.closest('.panel-heading, .panel-footer, .btn-group'))
  .filter(element => !element.matches('.score, .extra-credit, .comment, .btn'))
  .map((element, index) => { element.dataset.xssClick = index; return index; })"""
# Is each code input area (the graded code) displayed, and is its centre not covered?
CODE_VISIBLE = """() => [...document.querySelectorAll('.input_area')].map(area => {
  area.scrollIntoView({block: 'center'});
  const box = area.getBoundingClientRect();
  const style = getComputedStyle(area);
  const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return box.height > 0 && style.display !== 'none' && style.visibility === 'visible'
    && top !== null && area.contains(top);
})"""
PSEUDO_CONTENT = """() => [document.documentElement, document.body].flatMap(element =>
  ['::before', '::after'].map(pseudo => getComputedStyle(element, pseudo).content)).join(' ')"""


@dataclass
class Visit:
    """What a page did while it was open and every student link was clicked."""

    url: str = ""
    title_before: str = ""
    title_after: str = ""
    pwned: list = field(default_factory=list)  # window.__pwned of every frame
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    navigations: list[str] = field(default_factory=list)  # main-frame navigations (blocked)
    clicked: int = 0
    code_visible: list[bool] = field(default_factory=list)
    text: str = ""
    pseudo_content: str = ""
    mathjax: bool = False
    math_elements: int = 0
    tex_sources: list[str] = field(default_factory=list)
    images: list[tuple[str, int]] = field(default_factory=list)  # (src, naturalWidth)

    def payload_effects(self) -> list[str]:
        """Every sign that a payload ran or took effect (empty: none did)."""
        effects = []
        if self.pwned:
            effects.append(f"window.__pwned = {self.pwned}")
        if self.dialogs:
            effects.append(f"dialogs: {self.dialogs}")
        if self.title_after != self.title_before or "PWNED" in self.title_after:
            effects.append(f"title changed: {self.title_before!r} -> {self.title_after!r}")
        marked = [url for url in self.requests if _marked(url)]
        if marked:
            effects.append(f"requests: {sorted(set(marked))}")
        # Links to other sites are allowed (the notebook links numpy's documentation); a link
        # into the page's own server (evil.html beside the notebook, the API) is not.
        local = [url for url in self.navigations if _same_origin(url, self.url) or _marked(url)]
        if local:
            effects.append(f"navigations to the page's own server: {local}")
        if not all(self.code_visible):
            effects.append(f"graded code hidden or covered: {self.code_visible}")
        if "PWNED-23000" in self.text:
            effects.append("a template evaluated the student's {{ ... }}")
        if "PWNED" in self.pseudo_content:
            effects.append(f"the student's CSS wrote on the page: {self.pseudo_content}")
        return effects


def _marked(url: str) -> bool:
    """Does ``url`` carry a payload's mark, name an evil file or reach the Jupyter API?"""
    path = urlparse(url).path
    return "PWNED" in url or "/evil." in path or path.startswith("/api/")


def _same_origin(url: str, page: str) -> bool:
    return urlparse(url).netloc == urlparse(page).netloc


def chromium_or_fail() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make setup)")
    return CHROMIUM


def mathjax_static() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


def serve_mathjax(route) -> None:
    """The CDN's MathJax 2.7 from jupyter_server_mathjax; latest.js loads its MathJax.js with
    the page's configuration (Safe kept), HTML-CSS instead of CommonHTML."""
    url = urlparse(route.request.url)
    path = unquote(url.path)[len(urlparse(MATHJAX_CDN).path) :]
    if path == "latest.js":
        config = url.query.replace("config=", "").replace(
            "TeX-AMS_CHTML-full", "TeX-AMS-MML_HTMLorMML-full"
        )
        loader = f"{MATHJAX_CDN}MathJax.js?config={config}"
        body = f"document.write('<script src=\"{loader}\"></' + 'script>');"
        route.fulfill(status=200, content_type="application/javascript", body=body)
        return
    file = (mathjax_static() / path).resolve()
    if not file.is_file() or mathjax_static() not in file.parents:
        route.fulfill(status=404, body="")
        return
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    route.fulfill(status=200, content_type=kind, body=file.read_bytes())


def serve_feedback(course: Path):
    """A route handler: FEEDBACK_ORIGIN/<student>/ is course/feedback/<student>/<assignment>/."""

    def handle(route) -> None:
        parts = unquote(urlparse(route.request.url).path).strip("/").split("/", 1)
        if len(parts) == 2 and parts[0] in STUDENTS:
            folder = course / "feedback" / parts[0] / ASSIGNMENT_ID
            file = (folder / parts[1]).resolve()
            if file.is_file() and folder.resolve() in file.parents:
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                route.fulfill(status=200, content_type=kind, body=file.read_bytes())
                return
        route.fulfill(status=404, body="")

    return handle


def open_recorded(context, url: str, seen: Visit):
    """A new page of ``context`` recording into ``seen`` its dialogs, requests and main-frame
    navigations (blocked: the page stays put), opened at ``url`` and loaded."""
    page = context.new_page()
    page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: seen.requests.append(request.url))

    def guard_navigation(route) -> None:
        request = route.request
        main = request.is_navigation_request() and request.frame == page.main_frame
        if main and request.url.split("#")[0] != url.split("#")[0]:
            seen.navigations.append(request.url)
            route.fulfill(status=204, body="")  # "No Content": the browser stays put
            return
        route.fallback()

    page.route("**/*", guard_navigation)
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    return page


def finish_recording(page, seen: Visit) -> Visit:
    """Record into ``seen`` what the page shows and ran (see Visit), then close it."""
    page.wait_for_timeout(500)
    seen.code_visible = page.evaluate(CODE_VISIBLE)
    seen.title_after = page.title()
    for frame in page.frames:
        try:
            seen.pwned += frame.evaluate("window.__pwned || []")
        except Exception:  # noqa: BLE001 - a frame that went away ran nothing more
            continue
    seen.text = page.evaluate("document.body.innerText")
    seen.pseudo_content = page.evaluate(PSEUDO_CONTENT)
    seen.math_elements = page.evaluate(
        "document.querySelectorAll('.MathJax, .MathJax_Display, mjx-container').length"
    )
    seen.tex_sources = page.evaluate(
        "[...document.querySelectorAll('script[type^=\"math/tex\"]')].map(s => s.textContent)"
    )
    seen.images = [
        tuple(pair)
        for pair in page.eval_on_selector_all(
            "#notebook-container img",
            "images => images.map(image => [image.getAttribute('src') || '', image.naturalWidth])",
        )
    ]
    page.close()
    return seen


def visit(context, url: str, screenshot: Path | None = None) -> Visit:
    """Open ``url`` in a new page, let it settle, click every student link, record (see Visit)."""
    seen = Visit(url=url)
    page = open_recorded(context, url, seen)
    seen.mathjax = bool(page.evaluate(MATHJAX_DONE))
    page.wait_for_timeout(500)  # timers, meta refresh, late handlers
    seen.title_before = page.title()
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    for index in page.evaluate(CLICKABLE):
        seen.clicked += 1
        element = page.query_selector(f"[data-xss-click='{index}']")
        if element is None:
            continue
        # A real click (mouse events, at the element's place on the page), then the DOM's click
        # on the element itself, which follows a link even if something covers it.
        for method, arguments in (
            ("click", {"force": True, "no_wait_after": True, "timeout": 2_000}),
            ("dispatch_event", {"type": "click"}),
        ):
            try:
                getattr(element, method)(**arguments)
            except Exception:  # noqa: BLE001 - detached or not clickable: nothing ran from it
                continue
    return finish_recording(page, seen)


def submission_ids(course: Path) -> dict[str, str]:
    """{student: id of their submitted notebook} (formgrader's URL for it)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            student: gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student).id
            for student in STUDENTS
        }


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> tuple[Path, dict[str, nbformat.NotebookNode]]:
    """The course with both submissions autograded and their feedback generated."""
    course = released_course(tmp_path_factory.mktemp("pages"))
    alice = nbformat.read(str(EXAMPLE), as_version=4)
    notebooks = {"alice": alice, "mallory": payload_notebook(alice)}
    for student, notebook in notebooks.items():
        hand_in(course, student, notebook)
    folder = course / "submitted" / "mallory" / ASSIGNMENT_ID
    for name, text in EVIL_FILES.items():
        (folder / name).write_text(text)
    shutil.copytree(REPO_ROOT / "images", folder / "images")
    nbgrader(course, "autograde", ASSIGNMENT_ID)
    nbgrader(course, "generate_feedback", ASSIGNMENT_ID)
    return course, notebooks


@pytest.fixture(scope="module")
def visits(submitted, tmp_path_factory) -> dict[tuple[str, str], Visit]:
    """{(page, student): Visit} for page in ("formgrader", "feedback")."""
    from playwright.sync_api import sync_playwright

    course, _ = submitted
    chromium = chromium_or_fail()
    base = tmp_path_factory.mktemp("formgrader-server")
    pythonpath = nbgrader_environment()["PYTHONPATH"]
    ids = submission_ids(course)
    results = {}
    with formgrader_server(course, base, pythonpath) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.route(f"{MATHJAX_CDN}**", serve_mathjax)
            context.route(f"{FEEDBACK_ORIGIN}/**", serve_feedback(course))
            # Log in once (the token sets formgrader's cookie), as an instructor would.
            login = context.new_page()
            login.goto(f"{server.url}/formgrader?token={server.token}", timeout=LOAD_TIMEOUT_MS)
            login.close()
            for student in STUDENTS:
                shot = SCREENSHOTS / "formgrader.png" if student == "alice" else None
                url = f"{server.url}/formgrader/submissions/{ids[student]}/"
                results["formgrader", student] = visit(context, url, shot)
                shot = SCREENSHOTS / "feedback.png" if student == "alice" else None
                url = f"{FEEDBACK_ORIGIN}/{student}/{NOTEBOOK_NAME}.html"
                assert feedback_path(course, student).is_file()
                results["feedback", student] = visit(context, url, shot)
        finally:
            browser.close()
    return results


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_no_payload_had_any_effect(visits, page):
    """Did none of the payloads run, make a request, open a page, or hide or cover the graded
    code, on the page, after every student link and button was clicked?"""
    seen = visits[page, "mallory"]
    assert seen.clicked > 0, "no student link was found to click"
    assert seen.payload_effects() == [], "\n".join(seen.payload_effects())


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_the_payload_cells_are_still_shown(visits, page):
    """Does the grader still see that mallory wrote something, as text (every payload's heading)?"""
    text = visits[page, "mallory"].text
    missing = [p.number for p in PAYLOADS if f"Payload {p.number}:" not in text]
    assert missing == [], f"payload headings not shown: {missing}"


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_maths_render_without_double_escaping(visits, page):
    """Did MathJax typeset the notebook's maths (with its &, < and >) from the TeX as written?"""
    seen = visits[page, "alice"]
    assert seen.mathjax, "MathJax did not load or did not finish"
    assert seen.math_elements >= 20, f"only {seen.math_elements} typeset expressions"
    assert any("&" in tex and "\\begin" in tex for tex in seen.tex_sources), (
        "no matrix with & among the typeset TeX"
    )
    escaped = [tex for tex in seen.tex_sources if "&amp;" in tex or "&lt;" in tex]
    assert escaped == [], f"TeX reached MathJax escaped: {escaped[:3]}"
    assert "$" not in seen.text.replace("$$", ""), "some $...$ maths was left untypeset"


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_figures_render(visits, page):
    """Does every <img> of the correct submission's page load, the notebook's figures included?"""
    seen = visits[page, "alice"]
    figures = {Path(src).name for src, _ in seen.images if src.startswith("images/")}
    referenced = set()
    for cell in json.loads(EXAMPLE.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            referenced |= {
                Path(word.split(")")[0]).name
                for word in "".join(cell["source"]).split("(images/")[1:]
            }
    assert referenced and referenced <= figures, f"figures not shown: {referenced - figures}"
    broken = [src[:80] for src, width in seen.images if width <= 0]
    assert broken == [], f"images that did not render: {broken}"


@pytest.mark.parametrize("page", ["formgrader", "feedback"])
def test_the_correct_submission_is_unharmed(visits, page):
    """Is alice's page free of effects too, with her graded code visible, and a screenshot saved?"""
    seen = visits[page, "alice"]
    assert seen.payload_effects() == []
    assert seen.code_visible and all(seen.code_visible)
    assert (SCREENSHOTS / f"{page}.png").stat().st_size > 10_000
