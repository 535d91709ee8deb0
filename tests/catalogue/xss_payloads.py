"""Hostile content a student can put in a notebook, aimed at whoever opens its formgrader or
feedback page: every place a template renders, every trick that got past sanitisers.

Each payload, if it ran, does three observable things (``effect(n)``): it appends its number to
``window.__pwned``, sets ``document.title`` to ``PWNED-<n>`` and requests
``/api/contents/PWNED-<n>`` (the Jupyter API, with the viewer's session). Payloads that do not run
code aim to hide or cover the page (style, classes, metadata flags, unclosed markup), to make the
browser load or open something (evil.html beside the notebook, an API URL), or to get text
evaluated by a template or MathJax; their marks are ``PWNED-<n>`` in a URL or the page's text.

``payload_notebook(notebook)`` adds them all to a (correct) submission; ``EVIL_FILES`` go beside
it. tests/test_sanitize.py checks the sanitiser on each; tests/test_browser_pages.py opens the
pages in Chromium and checks that none of them had any effect.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell


def effect(n: int) -> str:
    """JavaScript with no spaces or double quotes (fits an attribute, a URL, a markdown link)."""
    return (
        f"(window.__pwned=window.__pwned||[]).push({n});"
        f"document.title='PWNED-{n}';fetch('/api/contents/PWNED-{n}')"
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Payload:
    """One attack: where it goes (markdown, raw, attachment, output, cell-metadata,
    notebook-metadata) and what it is."""

    number: int
    name: str
    where: str
    content: str
    # Unsanitised, it swallows what follows (unclosed markup): placed after the others.
    swallows: bool = False


def _markdown(number: int, name: str, content: str, swallows: bool = False) -> Payload:
    return Payload(number, name, "markdown", content, swallows)


E = effect
PAYLOADS: tuple[Payload, ...] = (
    _markdown(1, "script tag", f"Hello <script>{E(1)}</script> world"),
    _markdown(2, "img onerror", f'<img src="nowhere.png" onerror="{E(2)}">'),
    _markdown(3, "svg onload", f'<svg onload="{E(3)}"><circle r="5"/></svg>'),
    _markdown(4, "svg with a script", f"<svg><script>{E(4)}</script></svg>"),
    _markdown(
        5,
        "iframe srcdoc",
        f'<iframe srcdoc="&lt;script&gt;parent.eval(&quot;{E(5)}&quot;)&lt;/script&gt;"></iframe>',
    ),
    _markdown(6, "iframe src=evil.html beside the notebook", '<iframe src="evil.html"></iframe>'),
    _markdown(
        7,
        "object and embed of evil.html",
        '<object data="evil.html"></object><embed src="evil.html">',
    ),
    _markdown(8, "javascript: link", f'<a href="javascript:{E(8)}">a javascript: link</a>'),
    _markdown(
        9,
        "entity-encoded tab in the scheme",
        f'<a href="jav&#x09;ascript:{E(9)}">an entity-encoded link</a>',
    ),
    _markdown(
        10,
        "entity-encoded letters, mixed case, leading space",
        f'<a href=" &#106;aVaScRiPt:{E(10)}">an obfuscated link</a>',
    ),
    _markdown(
        11,
        "data:text/html link",
        f'<a href="data:text/html;base64,{_b64(f"<script>{E(11)}</script>")}">a data link</a>',
    ),
    _markdown(
        12,
        "form posting to the API",
        '<form action="/api/contents/PWNED-12" method="post">'
        '<input name="x" value="1"><button type="submit">Submit</button></form>',
    ),
    _markdown(
        13, "meta refresh", '<meta http-equiv="refresh" content="0;url=/api/contents/PWNED-13">'
    ),
    _markdown(14, "base href", '<base href="/api/contents/PWNED-14/">'),
    _markdown(
        15,
        "style tag hiding the graded code",
        "<style>.input_area, .nbgrader_cell, .code_cell {display: none !important}"
        " body::after {content: 'PWNED-15'}</style>",
    ),
    _markdown(
        16,
        "style attribute: a fixed overlay",
        '<div style="position:fixed;top:0;left:0;width:100%;height:100%;'
        'background:white;z-index:99999">PWNED-16 all correct, full marks</div>',
    ),
    _markdown(
        17,
        "MathML mutation (mglyph/style)",
        f'<math><mtext><table><mglyph><style><img src="x" onerror="{E(17)}">',
        True,
    ),
    _markdown(18, "markdown link to javascript:", f"[a markdown link](javascript:{E(18)})"),
    _markdown(
        19,
        "markdown image: attribute injection",
        f'![alt" onerror="{E(19)}](nowhere.png) ![x](nowhere.png "t\\" onerror=\\"{E(19)}")',
    ),
    _markdown(
        20,
        "markdown autolink and reference link to javascript:",
        f"<javascript:{E(20)}> and [a reference link][r]\n\n[r]: javascript:{E(20)}",
    ),
    _markdown(
        21,
        "MathJax \\href to javascript:",
        f"$\\href{{javascript:{E(21)}}}{{\\text{{a maths link}}}}$",
    ),
    _markdown(
        22,
        "MathJax \\style overlay and \\cssId",
        "$\\style{position:fixed;top:0;left:0;width:100%;height:100%;background:red}"
        "{PWNED22}$ $\\cssId{notebook}{x}$",
    ),
    _markdown(
        23,
        "template injection",
        "{{ 'PWNED-' ~ 23 * 1000 }} {% raw %}x{% endraw %} ${{ 7*7 }}$ #{7*7} <%= 7*7 %>",
    ),
    _markdown(
        24,
        "details ontoggle, input autofocus, body onload",
        f'<details open ontoggle="{E(24)}"><summary>s</summary>d</details>'
        f'<input autofocus onfocus="{E(24)}"><body onload="{E(24)}">',
    ),
    _markdown(
        25,
        "audio/video source onerror",
        f'<video><source src="x" onerror="{E(25)}"></video><audio src="x" onerror="{E(25)}">',
    ),
    _markdown(
        26,
        "relative link to evil.html (formgrader serves files beside the notebook)",
        '<a href="evil.html">my notes</a> and [more notes](evil.html)',
    ),
    _markdown(
        27, "absolute-path link into the API", '<a href="/api/contents/PWNED-27">the API</a>'
    ),
    _markdown(
        28,
        "unclosed comment and textarea swallowing the rest of the page",
        "<!-- the rest of the page is a comment",
        True,
    ),
    _markdown(29, "unclosed textarea", "<textarea>the rest of the page is in here", True),
    _markdown(
        30,
        "Bootstrap classes: hidden, fixed navbar, modal backdrop",
        '<div class="navbar navbar-fixed-top">PWNED-30</div>'
        '<div class="modal-backdrop in"></div><div class="hidden">x</div>',
    ),
    _markdown(
        31,
        "DOM clobbering of formgrader's globals",
        '<a id="base_url" href="https://example.invalid/">x</a>'
        '<img name="submission_id" src="images/padding.png">',
    ),
    _markdown(
        32,
        "link and stylesheet import",
        '<link rel="stylesheet" href="/api/contents/PWNED-32">'
        "<style>@import url('/api/contents/PWNED-32');</style>",
    ),
    Payload(
        33,
        "attachment: HTML in its name, an SVG with a script",
        "attachment",
        "![an SVG attachment with a script](attachment:evil.svg)",
    ),
    Payload(
        34,
        "raw cell, format text/html",
        "raw",
        f'<img src="x" onerror="{E(34)}"><a href="javascript:{E(34)}">raw link</a>'
        '<div class="modal-backdrop in">PWNED-34</div>',
    ),
    Payload(
        35,
        "kernelspec, language_info, title and widget state",
        "notebook-metadata",
        f'<img src="x" onerror="{E(35)}"></title><script>{E(35)}</script>',
    ),
    Payload(
        36,
        "tags and metadata that hide the graded code",
        "cell-metadata",
        'x" onmouseover="' + E(36),
    ),
    Payload(
        37,
        "outputs: text/html, SVG, JavaScript, LaTeX, Markdown, widget, bad base64",
        "output",
        f'<img src="x" onerror="{E(37)}">',
    ),
)

# Files a student puts beside the notebook (the ones payloads 6, 7 and 26 point at).
EVIL_FILES = {
    "evil.html": f"<!doctype html><title>evil</title><script>{E(6)}</script>",
    "evil.svg": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{E(33)}"><script>{E(33)}</script>'
    "</svg>",
}


def _attachment_cell(payload: Payload):
    svg = EVIL_FILES["evil.svg"]
    cell = new_markdown_cell(payload.content)
    cell["attachments"] = {
        'x" onerror="E33.svg': {"image/svg+xml": _b64(svg), "text/html": _b64("<script>")},
        "evil.svg": {"image/svg+xml": _b64(svg)},
    }
    return cell


def _raw_cell(payload: Payload):
    return new_raw_cell(
        payload.content, metadata={"format": "text/html", "raw_mimetype": "text/html"}
    )


def _output_cell(payload: Payload):
    html = payload.content
    cell = new_code_cell("print('an ungraded cell with outputs')")
    cell.outputs = [
        new_output("display_data", data={"text/html": html, "text/plain": "x"}),
        new_output("display_data", data={"image/svg+xml": EVIL_FILES["evil.svg"]}),
        new_output("display_data", data={"application/javascript": E(37)}),
        new_output("display_data", data={"text/latex": f"$\\href{{javascript:{E(37)}}}{{x}}$"}),
        new_output("display_data", data={"text/markdown": html}),
        new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2}
            },
        ),
        new_output(
            "display_data",
            data={"image/png": f'x" onerror="{E(37)}'},
            metadata={"image/png": {"width": f'1 onerror="{E(37)}"'}},
        ),
        new_output("execute_result", data={"text/html": html}, execution_count=1),
    ]
    return cell


def _poison_metadata(notebook, payload: Payload) -> None:
    """Notebook metadata (payload 35) and the metadata of the graded code cells (payload 36)."""
    html = payload.content if payload.where == "notebook-metadata" else ""
    if html:
        notebook.metadata["kernelspec"]["display_name"] = html
        notebook.metadata["language_info"]["name"] = html
        notebook.metadata["language_info"]["pygments_lexer"] = html
        notebook.metadata["title"] = html
        notebook.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {
                "state": {"m": {"model_name": "HTMLModel", "state": {"value": html}}},
                "version_major": 2,
                "version_minor": 0,
            }
        }
        return
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.metadata["tags"] = [payload.content, "x hidden", "x navbar-fixed-top"]
            cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
            cell.metadata["transient"] = {"remove_source": True}
            cell.metadata["alt"] = payload.content


def payload_notebook(notebook):
    """A copy of ``notebook`` carrying every payload: each in its own cell after a heading that
    names it, at the end (metadata payloads where they belong), the ones that swallow the rest of
    an unsanitised page last, so that the others get their chance."""
    notebook = nbformat.from_dict(nbformat.reads(nbformat.writes(notebook), as_version=4))
    for payload in sorted(PAYLOADS, key=lambda payload: payload.swallows):
        title = new_markdown_cell(f"#### Payload {payload.number}: {payload.name}")
        if payload.where == "markdown":
            cells = [title, new_markdown_cell(payload.content)]
        elif payload.where == "attachment":
            cells = [title, _attachment_cell(payload)]
        elif payload.where == "raw":
            cells = [title, _raw_cell(payload)]
        elif payload.where == "output":
            cells = [title, _output_cell(payload)]
        else:
            _poison_metadata(notebook, payload)
            cells = [title]
        notebook.cells.extend(cells)
    return notebook
