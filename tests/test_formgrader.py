"""Browser test of formgrader itself: do student names and ids reach its pages only as text, and
does its "autograde" button grade as ``nbgrader autograde`` does?

Names come from the roster (an LMS export, where students choose them) and ids are the folder
names under submitted/ (``nbgrader zip_collect`` takes them from an LMS download's file names),
so both are the student's text. One throwaway course: alice (correct submission) carries hostile
first and last names and email, and a student whose id is itself a payload hands in a folder that
the intake refuses (it holds a symbolic link); both are autograded by ``nbgrader autograde``.
bob (alice's notebook) and carol (the refused folder's copy) are handed in and left for
formgrader's autograde button. One formgrader server (tests/browser/formgrader.py) and one
headless Chromium then open every formgrader page that lists students or submissions, and the
manual-grading page of both first students, recording as tests/test_browser_pages.py does (a
dialog, a request to the Jupyter API or marked PWNED, a changed title) plus any element that a
payload put on the page.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

from grader.demo import EXAMPLES, nbgrader_environment
from grader.exercises import ASSIGNMENT_ID, NOTEBOOK_NAME
from grader.nbgrader_plugin import SUMMARY_KEY
from tests.browser.formgrader import formgrader_server
from tests.browser.jupyterlab import CHROMIUM_ARGS
from tests.course_fixture import (
    autograded_notebook,
    grades_by_cell,
    hand_in,
    nbgrader,
    released_course,
)
from tests.test_browser_pages import (
    LOAD_TIMEOUT_MS,
    VIEWPORT,
    Visit,
    chromium_or_fail,
    finish_recording,
    open_recorded,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "examples" / "alice.ipynb"

# Each payload calls alert (a dialog) or asks the Jupyter API for a PWNED file, from an HTML text
# context, an attribute ("> closes it) or a JavaScript string (" closes it).
HOSTILE_NAMES = {
    "first-name": "<img src=x onerror=\"fetch('/api/contents/PWNED-first')\">",
    "last-name": "<script>alert('PWNED-last')</script>\"><svg onload=alert('PWNED-last-svg')>",
    "email": "<svg onload=alert('PWNED-email')>",
}
# A folder name holds no "/"; the trailing "#" cuts formgrader's autograde URL short (a 404, so
# its error dialog, which writes the id into the page). Marked XSSID, not PWNED: formgrader puts
# the id in its own URLs, which the request check would take for a payload's.
HOSTILE_ID = (
    "x\";alert('XSSID-js');\"><svg onload=alert('XSSID-svg')>"
    "<img src=x onerror=alert('XSSID-img')>#"
)
CLI_GRADED = ("alice", HOSTILE_ID)
BUTTON_GRADED = {"bob": "alice", "carol": HOSTILE_ID}  # graded by the button: as whom
AUTOGRADE_SECONDS = 120

# Elements a payload put on the page: an event handler or a script carrying a payload's mark
# (escaped text shows the mark, but never in an attribute of its own or after a bare quote).
INJECTED = """() => [...document.querySelectorAll('*')].filter(element =>
    [...element.attributes].some(a => a.name.startsWith('on') && /PWNED|XSSID/.test(a.value))
    || (element.tagName === 'SCRIPT' && /\\('(PWNED|XSSID)/.test(element.textContent)))
  .map(element => element.outerHTML.slice(0, 160))"""


def hand_in_refused(course: Path, student: str, notebook: nbformat.NotebookNode) -> None:
    """alice's notebook beside a symbolic link: the intake refuses the whole folder."""
    target = hand_in(course, student, notebook)
    (target.parent / "notes.txt").symlink_to("/etc/hostname")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = released_course(tmp_path_factory.mktemp("formgrader"))
    alice = nbformat.read(str(EXAMPLE), as_version=4)
    names = [f"--{option}={value}" for option, value in HOSTILE_NAMES.items()]
    nbgrader(course, "db", "student", "add", "alice", *names)
    hand_in(course, "alice", alice)
    hand_in_refused(course, HOSTILE_ID, alice)
    nbgrader(course, "autograde", ASSIGNMENT_ID)
    # Handed in after the command line's run: only formgrader's button grades these two.
    hand_in(course, "bob", alice)
    hand_in_refused(course, "carol", alice)
    return course


def submission_id(course: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student).id


def comments_by_cell(course: Path, student: str) -> dict[str, str | None]:
    """{comment cell name: automatic comment} of one student's submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT_ID, student)
        return {comment.name: comment.auto_comment for comment in notebook.comments}


@pytest.fixture(scope="module")
def browser(course, tmp_path_factory):
    """(server, browser context) of one formgrader session, logged in with the token."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_or_fail()
    base = tmp_path_factory.mktemp("formgrader-pages-server")
    pythonpath = nbgrader_environment()["PYTHONPATH"]
    with formgrader_server(course, base, pythonpath) as server, sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = instance.new_context(viewport=VIEWPORT)
            login = context.new_page()
            login.goto(f"{server.url}/formgrader?token={server.token}", timeout=LOAD_TIMEOUT_MS)
            login.close()
            yield server, context
        finally:
            instance.close()


def student_pages(course: Path, base: str) -> dict[str, str]:
    """{what: URL} of every formgrader page that shows a student's name or id."""
    pages = {
        "Manage Students": "/formgrader/manage_students",
        "Manage Submissions": f"/formgrader/manage_submissions/{ASSIGNMENT_ID}",
        "notebook submissions": f"/formgrader/gradebook/{ASSIGNMENT_ID}/{NOTEBOOK_NAME}",
    }
    for label, student in (("alice", "alice"), ("hostile id", HOSTILE_ID)):
        quoted = quote(student, safe="")
        pages[f"student page of {label}"] = f"/formgrader/manage_students/{quoted}"
        pages[f"student's submission of {label}"] = (
            f"/formgrader/manage_students/{quoted}/{ASSIGNMENT_ID}"
        )
        pages[f"grading page of {label}"] = (
            f"/formgrader/submissions/{submission_id(course, student)}/"
        )
    return {label: base + path for label, path in pages.items()}


def row_of(page, student: str):
    """The Manage Submissions row whose id cell reads ``student``."""
    cell = page.locator("td.student-id", has_text=re.compile(f"^{re.escape(student)}$"))
    return page.locator("tr", has=cell)


def click_autograde(page, student: str) -> str:
    """Click ``student``'s autograde button; wait for formgrader's answer and close it; return
    the id of the dialog formgrader opened (success-modal, error-modal)."""
    row_of(page, student).locator("td.autograde a").click()
    modal = page.wait_for_selector(".modal.in", timeout=AUTOGRADE_SECONDS * 1000)
    kind = modal.get_attribute("id")
    modal.query_selector(".modal-header button.close").click()
    page.wait_for_selector(".modal", state="detached", timeout=10_000)
    return kind


@pytest.fixture(scope="module")
def visits(course, browser) -> dict[str, tuple[Visit, list[str], str]]:
    """{page: (Visit, injected elements, the name in a grading page's navigation bar)} of every
    page of student_pages, and of Manage Submissions after the hostile id's autograde button was
    clicked."""
    server, context = browser
    results = {}
    for label, url in student_pages(course, server.url).items():
        seen = Visit(url=url)
        page = open_recorded(context, url, seen)
        page.wait_for_load_state("networkidle")
        seen.title_before = page.title()
        injected = page.evaluate(INJECTED)
        name = page.evaluate("document.querySelector('a.name-shown')?.textContent.trim() || ''")
        results[label] = (finish_recording(page, seen), injected, name)
    url = f"{server.url}/formgrader/manage_submissions/{ASSIGNMENT_ID}"
    seen = Visit(url=url)
    page = open_recorded(context, url, seen)
    page.wait_for_load_state("networkidle")
    seen.title_before = page.title()
    click_autograde(page, HOSTILE_ID)
    page.wait_for_load_state("networkidle")
    injected = page.evaluate(INJECTED)
    results["autograde of the hostile id"] = (finish_recording(page, seen), injected, "")
    return results


def test_every_page_lists_the_students(visits):
    """Are the students there at all (the pages loaded their lists)?"""
    for label in ("Manage Students", "Manage Submissions"):
        text = visits[label][0].text
        assert "alice" in text and "XSSID" in text, f"{label}: no student listed\n{text}"
    text = visits["notebook submissions"][0].text  # names hidden until asked for
    assert "Submission #2" in text, text


def test_no_name_or_id_runs_on_any_page(visits):
    """Did no student name, email or id run, request anything or put an element on any page
    that lists students or submissions, the manual-grading page and the autograde dialog?"""
    problems = {}
    for label, (seen, injected, _) in visits.items():
        effects = seen.payload_effects() + [f"injected: {element}" for element in injected]
        if effects:
            problems[label] = effects
    assert problems == {}, "\n".join(f"{label}: {effects}" for label, effects in problems.items())


def test_names_and_ids_are_shown_as_text(visits):
    """Does the grader still read the names and the id, as written, and does the hostile id's
    page still run its script (its assignment listed)?"""
    assert visits["grading page of alice"][2] == (
        f"{HOSTILE_NAMES['last-name']}, {HOSTILE_NAMES['first-name']}"
    )
    assert visits["grading page of hostile id"][2] == HOSTILE_ID
    assert HOSTILE_ID in visits["student page of hostile id"][0].text
    # Its assignment is listed (as "no submission": nbgrader builds the API's URL from the id
    # without encoding it, and the id's "#" cuts it short).
    assert re.search(rf"^{ASSIGNMENT_ID}\b", visits["student page of hostile id"][0].text, re.M)
    assert HOSTILE_ID in visits["student's submission of hostile id"][0].text


def test_the_autograde_button_records_what_the_command_line_records(course, browser):
    """Does formgrader's autograde button (through IntakeAutograde, the trusted grader and the
    sanitiser) record the same scores, manual-grading flags and automatic comments as
    ``nbgrader autograde``, for a correct submission and for one the intake refuses?"""
    server, context = browser
    page = context.new_page()
    page.goto(f"{server.url}/formgrader/manage_submissions/{ASSIGNMENT_ID}", timeout=60_000)
    page.wait_for_load_state("networkidle")
    dialogs = {student: click_autograde(page, student) for student in BUTTON_GRADED}
    page.close()
    assert dialogs == dict.fromkeys(BUTTON_GRADED, "success-modal")
    for student, as_whom in BUTTON_GRADED.items():
        assert grades_by_cell(course, student) == grades_by_cell(course, as_whom), student
        assert comments_by_cell(course, student) == comments_by_cell(course, as_whom), student
        summary = autograded_notebook(course, student).metadata[SUMMARY_KEY]
        expected = autograded_notebook(course, as_whom).metadata[SUMMARY_KEY]
        assert summary == expected, student
    assert sum(cell["auto_score"] for cell in grades_by_cell(course, "bob").values()) == 140
    flags = [cell["needs_manual_grade"] for cell in grades_by_cell(course, "carol").values()]
    assert flags and all(flags)


API_AUTOGRADE = """
import sys
from nbgrader.apps import NbGrader
from nbgrader.apps.api import NbGraderAPI

app = NbGrader()
app.load_config_file()  # the course's nbgrader_config.py, as formgrader loads it
api = NbGraderAPI(config=app.config)
result = api.autograde(sys.argv[1], sys.argv[2])
print(result["success"])
"""


def test_the_buttons_act_on_the_student_they_name_only(tmp_path):
    """nbgrader's API hands a button's student id on as the --student glob: does formgrader's
    autograde of the student "x*" (through the course's configuration) leave "xy" alone?"""
    import subprocess
    import sys

    course = released_course(tmp_path)
    bob = nbformat.read(EXAMPLES / "bob.ipynb", as_version=4)
    for student in ("x*", "xy"):
        hand_in(course, student, bob)
    completed = subprocess.run(
        [sys.executable, "-c", API_AUTOGRADE, ASSIGNMENT_ID, "x*"],
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.stdout.strip().endswith("True"), completed.stdout + completed.stderr
    assert (course / "autograded" / "x*").is_dir()
    assert not (course / "autograded" / "xy").exists()
