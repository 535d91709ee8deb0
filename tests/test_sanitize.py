"""grader.sanitize: does nothing a student wrote reach a page as active content, while the
assignment's text, maths, figures and the trusted verdicts come through unchanged?

The HTML checked is what nbgrader's templates render: nbconvert's markdown2html of the sanitised
source. tests/test_browser_pages.py checks the same in Chromium, on formgrader and feedback.
"""

from __future__ import annotations

import copy
import html as html_module
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell
from traitlets.config.loader import PyFileConfigLoader

from grader import sanitize
from grader.nbgrader_plugin import SUMMARY_KEY, verdict_outputs
from grader.sanitize import (
    SanitizeStudentContent,
    markdown_to_html,
    sanitize_html,
    sanitize_markdown,
    sanitize_notebook,
)
from tests.catalogue.xss_payloads import PAYLOADS, payload_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTION = REPO_ROOT / "solutions" / "assignment.ipynb"
PREPROCESSOR = "grader.sanitize.SanitizeStudentContent"
SAFE_SCHEMES = ("http:", "https:", "mailto:", "#")


class Elements(HTMLParser):
    """Every (tag, {attribute: value}) of a piece of HTML, values decoded as a browser does."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {name: value or "" for name, value in attrs}))


def problems(html: str) -> list[str]:
    """What in ``html`` could run, load, open, hide or cover anything (empty: nothing)."""
    found = []
    for tag, attributes in Elements(html).found:
        if tag not in sanitize.ALLOWED_TAGS:
            found.append(f"<{tag}>")
        for name, value in attributes.items():
            compact = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on") or name in ("srcdoc", "action", "formaction", "name"):
                found.append(f"<{tag} {name}>")
            elif name == "href" and not compact.startswith(SAFE_SCHEMES):
                found.append(f"<{tag} href={value!r}>")
            elif name == "src" and (":" in compact and not compact.startswith("data:image/")):
                found.append(f"<{tag} src={value[:40]!r}>")
            elif name == "src" and (compact.startswith(("/", "\\")) or ".." in compact):
                found.append(f"<{tag} src={value!r}>")
            elif name == "style" and not re.fullmatch(r"text-align:\s*\w+;?", value.strip()):
                found.append(f"<{tag} style={value!r}>")
            elif name == "class" and not set(value.split()) <= sanitize.ALLOWED_CLASSES.get(
                tag, set()
            ):
                found.append(f"<{tag} class={value!r}>")
            elif name == "id" and not value.startswith(sanitize.ID_PREFIX):
                found.append(f"<{tag} id={value!r}>")
    if re.search(r"\\(href|url|style|class|cssId|require)(?![A-Za-z])", html):
        found.append("a MathJax command that links, styles or loads")
    return found


def rendered(source: str) -> str:
    """What the templates render from a markdown cell whose source is ``source``."""
    return markdown_to_html(source)


@pytest.fixture(scope="module")
def hostile() -> nbformat.NotebookNode:
    """The browser test's payload notebook, sanitised (with its unsanitised original)."""
    original = payload_notebook(nbformat.read(str(REPO_ROOT / "examples" / "alice.ipynb"), 4))
    return original, sanitize_notebook(copy.deepcopy(original))


def test_the_catalogue_is_large_and_numbered_once():
    """Are there at least 20 payloads, each with its own number and effect?"""
    numbers = [payload.number for payload in PAYLOADS]
    assert len(PAYLOADS) >= 20 and len(set(numbers)) == len(numbers)


@pytest.mark.parametrize(
    "payload", [p for p in PAYLOADS if p.where in ("markdown", "raw")], ids=lambda p: p.name
)
def test_payload_renders_inert(payload):
    """Does each markdown or raw payload render as HTML with nothing active left in it?"""
    if payload.where == "markdown":
        html = rendered(sanitize_markdown(payload.content))
    else:
        html = sanitize_html(payload.content)
    assert problems(html) == [], html


def test_every_cell_of_the_hostile_notebook_renders_inert(hostile):
    """Whole notebook: markdown and raw cells inert, attachments gone, outputs plain."""
    _, clean = hostile
    for cell in clean.cells:
        assert "attachments" not in cell
        if cell.cell_type == "markdown":
            assert problems(rendered(cell.source)) == [], cell.source
        elif cell.cell_type == "raw":
            assert problems(cell.source) == [], cell.source
        else:
            for output in cell.outputs:
                mimes = set(output.get("data", {}))
                assert mimes <= {"text/plain", "image/png", "image/jpeg"}, mimes


def test_metadata_keeps_only_plain_values(hostile):
    """Tags that would become CSS classes, flags that hide the code, widget state, a title,
    HTML in the kernel or language name: all gone; nbgrader's metadata kept."""
    original, clean = hostile
    assert set(clean.metadata) <= {"kernelspec", "language_info", SUMMARY_KEY}
    for key in ("kernelspec", "language_info"):
        for value in clean.metadata.get(key, {}).values():
            assert "<" not in str(value)
    for before, after in zip(original.cells, clean.cells, strict=True):
        assert set(after.metadata) <= {"nbgrader", "editable", "deletable", "tags"}
        assert all(re.fullmatch(r"[\w-]+", tag) for tag in after.metadata.get("tags", []))
        assert after.metadata.get("nbgrader") == before.metadata.get("nbgrader")
        if before.cell_type == "code":
            assert after.source == before.source  # shown highlighted, i.e. escaped


def test_trusted_verdict_outputs_pass_unchanged():
    """Do TrustedGrade's outputs (report on stdout, points as text/plain) survive as they are?"""
    cell = new_code_cell("zero_pad_test(zero_pad)")
    cell.outputs = verdict_outputs("zero_pad: 7.5 / 10 points <b>&</b>\n", 7.5)
    expected = copy.deepcopy(cell.outputs)
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert sanitize_notebook(notebook).cells[0].outputs == expected


def test_outputs_keep_only_plain_text_and_valid_images():
    """HTML, SVG, JavaScript, LaTeX, Markdown and widgets go; a PNG with bad base64 or a width
    that is not a number loses it; a real PNG stays with its numeric width."""
    cell = new_code_cell("x")
    png = "iVBORw0KGgo="
    cell.outputs = [
        new_output("display_data", data={"text/html": "<b>x</b>", "text/plain": "x"}),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
        new_output("display_data", data={"image/png": 'x" onerror="alert(1)'}),
        new_output(
            "display_data",
            data={"image/png": png},
            metadata={"image/png": {"width": 40, "height": '1" onerror="x'}},
        ),
    ]
    outputs = sanitize_notebook(nbformat.v4.new_notebook(cells=[cell])).cells[0].outputs
    assert [dict(output.data) for output in outputs] == [{"text/plain": "x"}, {"image/png": png}]
    assert dict(outputs[1].metadata) == {"image/png": {"width": 40}}


def test_sanitising_twice_changes_nothing(hostile):
    """Is the sanitiser idempotent (generate_feedback runs it again on autograded notebooks)?"""
    _, clean = hostile
    assert sanitize_notebook(copy.deepcopy(clean)) == clean


@pytest.mark.parametrize(
    "tex",
    [
        "$a & b < c > d$",
        "$a<b$",
        "$x &lt; y$",
        "$$\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}$$",
        "$$\\begin{aligned}\n a &= b \\\\\n c &= d\n\\end{aligned}$$",
    ],
)
def test_maths_reaches_mathjax_as_written(tex):
    """Does the browser read back exactly the TeX the student wrote (&, <, >, an entity, new
    lines), so MathJax gets it unescaped? nbconvert's SanitizeHTML escaped & twice."""
    html = rendered(sanitize_markdown(f"Some maths: {tex} here"))
    assert tex in text_of_raw(html)


def text_of_raw(html: str) -> str:
    """The text a browser reads from ``html`` (character references decoded, tags dropped)."""
    parts = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append
    parser.feed(html)
    parser.close()
    return "".join(parts)


def test_the_assignment_renders_the_same(tmp_path):
    """Does every markdown cell of the assignment keep its text, maths, figures and links?"""
    notebook = nbformat.read(str(SOLUTION), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        before, after = rendered(cell.source), rendered(sanitize_markdown(cell.source))
        assert text_of(after) == text_of(before)
        assert sources(after) == sources(before)
        assert maths(after) == maths(before)
        assert problems(after) == []


def text_of(html: str) -> str:
    parts = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append
    parser.feed(html)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def maths(html: str) -> list[str]:
    return re.findall(r"\$[^$]+\$", html_module.unescape(html))


def sources(html: str) -> list[str]:
    return [attrs.get("src") for tag, attrs in Elements(html).found if tag == "img"]


@pytest.mark.parametrize(
    ("markdown", "kept", "gone"),
    [
        ("[docs](https://numpy.org/)", 'href="https://numpy.org/"', None),
        ("[top](#Top)", 'href="#student-Top"', None),
        ("[notes](evil.html)", ">notes</a>", "evil.html"),
        ("[api](/api/contents)", ">api</a>", "/api/"),
        ('<a href="jav&#x09;ascript:alert(1)">x</a>', ">x</a>", "script:"),
        ('<a href="&#1;javascript:alert(1)">x</a>', ">x</a>", "script:"),
        ("![fig](images/pooling.png)", 'src="images/pooling.png"', None),
        ("![fig](../../gradebook.db)", "<img", "gradebook"),
        ("![fig](/api/contents/x.png)", "<img", "/api/"),
        ("![fig](https://tracker.invalid/p.png)", "<img", "tracker"),
        ("$\\href{javascript:alert(1)}{x}$", "\\text{href}{javascript:alert(1)}", "\\href"),
        ("{{ 7*7 }}", "{{ 7*7 }}", "49"),
    ],
)
def test_links_images_and_tex(markdown, kept, gone):
    """Links: other sites and the page's own anchors only; images: files beside the notebook;
    MathJax link commands disarmed; template syntax stays text."""
    html = rendered(sanitize_markdown(markdown))
    assert kept in html
    if gone is not None:
        assert gone not in html


def test_attachments_are_inlined_when_raster_and_dropped_otherwise():
    """A PNG attachment becomes a data:image/png <img>; an SVG one (which could hold a script)
    and a reference to a missing attachment (which made nbconvert raise, and the page fail)
    leave no image and no error."""
    png = "iVBORw0KGgo="
    attachments = {"a.png": {"image/png": png}, "b.svg": {"image/svg+xml": "PHN2Zz4="}}
    html = rendered(sanitize_markdown("![a](attachment:a.png)", attachments))
    assert f'src="data:image/png;base64,{png}"' in html
    svg = rendered(sanitize_markdown("![b](attachment:b.svg) **words**", attachments))
    assert "<strong>words</strong>" in svg and "src=" not in svg
    missing = rendered(sanitize_markdown("![c](attachment:c.png) **words**", attachments))
    assert "<strong>words</strong>" in missing and "src=" not in missing


def test_the_course_runs_it_in_autograde_and_feedback():
    """Is the sanitiser in nbgrader's autograde pipeline after every step that writes into the
    notebook (before only CheckCellMetadata, which validates) and in generate_feedback's?"""
    config = PyFileConfigLoader("nbgrader_config.py", str(REPO_ROOT / "course")).load_config()
    steps = list(config.Autograde.autograde_preprocessors)
    assert steps[-2:] == [PREPROCESSOR, "nbgrader.preprocessors.CheckCellMetadata"]
    assert steps.index(PREPROCESSOR) > steps.index("nbgrader.preprocessors.SaveAutoGrades")
    feedback = list(config.GenerateFeedback.preprocessors)
    assert feedback.index(PREPROCESSOR) > feedback.index("nbgrader.preprocessors.GetGrades")


def test_the_summary_key_is_the_trusted_graders():
    """Is the notebook metadata key kept for the grader's summary the one TrustedGrade writes?"""
    assert SUMMARY_KEY in sanitize.NOTEBOOK_METADATA_KEYS


def test_the_preprocessor_is_enabled_by_default():
    cell = new_markdown_cell("<script>x</script>ok")
    notebook = nbformat.v4.new_notebook(cells=[cell, new_raw_cell("<b onclick=x>b</b>")])
    clean, _ = SanitizeStudentContent().preprocess(notebook, {})
    assert "script" not in clean.cells[0].source and "onclick" not in clean.cells[1].source
