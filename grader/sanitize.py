"""What of a submission may reach a browser: the allow-list HTML sanitiser and its nbgrader step.

Guarantees, for a notebook that went through ``SanitizeStudentContent`` (run by ``nbgrader
autograde`` before the autograded notebook is saved, and again by ``nbgrader generate_feedback``):

- every markdown cell's source is one block of HTML that nbconvert's ``markdown2html`` (what
  nbgrader's formgrade and feedback templates apply) renders verbatim, and that is a fixed point
  of the allow-list cleaner below: no script, event handler, ``javascript:``/``data:`` link,
  iframe, form, object/embed, SVG/MathML, ``<style>``, style attribute (except table
  ``text-align``), ``<base>``, ``<meta>``, class outside a short list, unprefixed id, or relative
  link that could open a file beside the notebook; maths is kept as text for MathJax (escaped
  at most once, only where the HTML parser needs it), its ``\\href``, ``\\url``, ``\\style``,
  ``\\class``, ``\\cssId`` and ``\\require`` commands disarmed; images are relative paths to
  image files (``images/x.png``) or the cell's own PNG/JPEG/GIF attachments inlined as
  ``data:image/...;base64``;
- raw cells hold sanitised HTML; cell attachments are gone (inlined above);
- outputs are stream, error, or results/displays of ``text/plain``, ``image/png`` and
  ``image/jpeg`` only (valid base64, numeric width/height): never HTML, SVG, JavaScript,
  Markdown, LaTeX or widgets. The trusted verdicts (stream + text/plain) pass unchanged;
- cell metadata keeps ``nbgrader`` (with a plain grade_id), ``editable``, ``deletable`` and tags
  that are plain names, nothing else (no ``jupyter``/``transient`` flags that hide a cell, no
  tags that smuggle CSS classes); cell ids are plain; the notebook's metadata keeps only
  ``kernelspec``, ``language_info`` (plain strings) and the trusted grader's summary.

Why nh3: it is ammonia (Rust) behind a small API, an allow-list sanitiser that parses with
html5ever, the HTML5 parser of a browser engine, so what it keeps is what a browser would build;
it is maintained, fast, and has per-tag attribute filters and class lists. bleach, the other
candidate (already installed by nbconvert), has been deprecated by its maintainers since 2023.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping

import nh3
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode, from_dict
from pygments.token import STANDARD_TYPES
from traitlets import Bool

# Tags a markdown cell may produce (nbconvert's renderer: headings, lists, tables, code,
# definition lists, strikethrough) plus harmless inline formatting. No form, input, iframe,
# object, embed, svg, math, style, base, meta, link, area/map, audio/video.
ALLOWED_TAGS = frozenset(
    {
        *("a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd"),
        *("del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3"),
        *("h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre"),
        *("q", "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup"),
        *("table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr"),
    }
)
# Tags removed with everything inside them (the rest lose the tag and keep their text).
REMOVED_WITH_CONTENT = frozenset(
    {
        *("script", "style", "template", "textarea", "title", "noscript", "noembed"),
        *("noframes", "iframe", "object", "embed", "applet", "svg", "math", "select"),
        *("option", "xmp"),
    }
)
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align", "style"},
    "th": {"colspan", "rowspan", "align", "style"},
}
# Classes nbconvert's renderer writes; nothing that could pull in a page's CSS (Bootstrap's
# navbar-fixed-top, hidden, modal...), so no student element can cover or hide the page.
PYGMENTS_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
ALLOWED_CLASSES = {
    "span": set(PYGMENTS_CLASSES),
    "div": {"highlight"},
    "a": {"anchor-link"},
    "li": {"task-list-item"},
}
# Student ids are prefixed, so they cannot clobber the page's globals or ids (DOM clobbering).
ID_PREFIX = "student-"
IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/gif")
OUTPUT_MIME_TYPES = ("text/plain", "image/png", "image/jpeg")
# A relative path to an image beside the notebook: no scheme, no "/", no "..", no query.
RELATIVE_IMAGE = re.compile(r"(?!.*(?:^|/)\.\.(?:/|$))[\w][\w.\-/]*\.(?:png|jpe?g|gif|svg|webp)")
DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif);base64,[A-Za-z0-9+/]+={0,2}")
LINK_SCHEMES = ("http", "https", "mailto")
# What browsers drop from a URL before reading its scheme (tab, newline, controls, spaces).
URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
PLAIN_TEXT = re.compile(r"[\w .+\-/()]{0,80}")
NUMBER = re.compile(r"\d{1,4}")
# MathJax commands that make links, styles, classes, ids or load code. MathJax's Safe extension
# (in nbconvert's default MathJax URL) already filters them; this is the second line.
TEX_COMMANDS = re.compile(r"\\(href|url|style|class|cssId|require)(?![A-Za-z])")
CELL_METADATA_KEYS = ("nbgrader", "editable", "deletable", "tags")
NOTEBOOK_METADATA_KEYS = ("kernelspec", "language_info", "trusted_grader")
REQUIRED_FIELDS = {"kernelspec": ("name", "display_name"), "language_info": ("name",)}
UNREADABLE_MARKDOWN = "<p>(this cell could not be shown safely and was removed)</p>"


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def _url_without_ignored(value: str) -> str:
    return URL_IGNORED.sub("", value)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: keep ``value``, rewrite it, or drop the attribute (None)."""
    if attribute == "id":
        return value if value.startswith(ID_PREFIX) else ID_PREFIX + value
    if tag == "a" and attribute == "href":
        url = _url_without_ignored(value)
        if url.startswith("#"):  # a link inside the page, to a prefixed id
            return url if url.startswith("#" + ID_PREFIX) else "#" + ID_PREFIX + url[1:]
        scheme = SCHEME.match(url)
        # No relative links: formgrader serves the submission's own files, next to the page.
        return url if scheme and scheme.group(1).lower() in LINK_SCHEMES else None
    if tag == "img" and attribute == "src":
        url = _url_without_ignored(value)
        if RELATIVE_IMAGE.fullmatch(url) or DATA_IMAGE.fullmatch(url):
            return url
        return None
    if attribute in ("width", "height", "start", "colspan", "rowspan"):
        return value if NUMBER.fullmatch(value.strip()) else None
    if attribute == "align":
        return value if value.lower() in ("left", "right", "center") else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(REMOVED_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    url_schemes={*LINK_SCHEMES, "data"},  # data: only survives as an image (_filter_attribute)
    allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
    filter_style_properties={"text-align"},
)


def disarm_tex(text: str) -> str:
    """``\\href{...}`` -> ``\\text{href}{...}`` (and \\url, \\style, \\class, \\cssId, \\require):
    MathJax shows the word instead of making a link, a style, a class, an id or loading code."""
    return TEX_COMMANDS.sub(r"\\text{\1}", text)


# Characters the HTML parser reads as text even unescaped (the HTML5 tokenizer): "&" not followed
# by a letter, digit or "#"; "<" not followed by a letter, "!", "/" or "?"; ">" outside a tag.
# Left unescaped, maths such as "a & b" reaches JupyterLab's view of the autograded notebook as
# written (it escapes & < > in maths itself, so an "&amp;" there would show).
LITERAL_AMPERSAND = re.compile(r"&amp;(?![A-Za-z0-9#])")
LITERAL_LESS_THAN = re.compile(r"&lt;(?![A-Za-z!/?])")
# A newline that starts a blank line (which would end a markdown HTML block).
BLANK_LINE = re.compile(r"\n(?=[ \t]*(?:\n|$))")


def sanitize_html(html: str) -> str:
    """``html`` with everything outside the allow-list removed (see the module docstring)."""
    cleaned = disarm_tex(_CLEANER.clean(html))
    cleaned = LITERAL_LESS_THAN.sub("<", LITERAL_AMPERSAND.sub("&", cleaned))
    return cleaned.replace("&gt;", ">")


def one_block(html: str) -> str:
    """``html`` without blank lines, so that markdown sees one HTML block (a blank line would end
    it): a newline that starts one becomes a character reference, which the HTML parser reads as
    the same newline."""
    return BLANK_LINE.sub("&#10;", html.replace("\r", "&#13;"))


# ---------------------------------------------------------------------------------------------
# Markdown cells
# ---------------------------------------------------------------------------------------------


class _ImageAttachments(dict):
    """A cell's raster attachments as nbconvert's renderer reads them; any other name is an
    empty PNG, which the cleaner drops (nbconvert raises on a missing one: the page fails)."""

    def __contains__(self, name) -> bool:
        return True

    def __missing__(self, name) -> dict[str, str]:
        return {"image/png": ""}


def markdown_to_html(source: str, attachments: Mapping | None = None) -> str:
    """What nbgrader's templates render from a markdown cell (nbconvert's ``markdown2html`` with
    HTMLExporter's defaults: anchor links, no embedded images)."""
    renderer = IPythonRenderer(escape=False, attachments=_ImageAttachments(attachments or {}))
    return MarkdownWithMath(renderer=renderer).render(source)


def image_attachments(attachments: Mapping | None) -> dict[str, dict[str, str]]:
    """The raster images among a cell's attachments (valid base64 only), one bundle each."""
    kept = {}
    for name, bundle in (attachments or {}).items():
        if not isinstance(name, str) or not isinstance(bundle, Mapping):
            continue
        for mime in IMAGE_MIME_TYPES:
            data = bundle.get(mime)
            if isinstance(data, str) and is_base64(data):
                kept[name] = {mime: "".join(data.split())}
                break
    return kept


def is_base64(data: str) -> bool:
    """Is ``data`` standard base64 (whitespace ignored)?"""
    compact = "".join(data.split())
    if not compact or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
        return False
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def renders_verbatim(source: str) -> bool:
    """Does ``markdown2html`` render ``source`` unchanged, and is it a fixed point of the
    sanitiser? Only then may it be a markdown cell's source."""
    try:
        rendered = markdown_to_html(source)
    except Exception:  # noqa: BLE001 - any failure means "not safe to use"
        return False
    return rendered.rstrip("\n") == source and one_block(sanitize_html(source)) == source


def sanitize_markdown(source: str, attachments: Mapping | None = None) -> str:
    """A markdown cell's new source: its rendering, sanitised, as one HTML block that nbconvert's
    markdown renderer passes through unchanged (see renders_verbatim).

    A cell the renderer fails on is shown as plain text.
    """
    try:
        html = markdown_to_html(source, image_attachments(attachments))
    except Exception:  # noqa: BLE001 - a student can make the renderer raise; show the text
        html = f"<pre>{_escape_text(source)}</pre>"
    cleaned = one_block(sanitize_html(html).strip())
    for candidate in (cleaned, f"<div>{cleaned}</div>"):
        if renders_verbatim(candidate):
            return candidate
    plain = one_block(sanitize_html(f"<div><pre>{_escape_text(source)}</pre></div>"))
    return plain if renders_verbatim(plain) else UNREADABLE_MARKDOWN


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# Outputs and metadata
# ---------------------------------------------------------------------------------------------


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return value if isinstance(value, str) else str(value)


def sanitize_output(output: Mapping) -> dict | None:
    """The output if its kind and mime types are allowed, reduced to plain fields; else None."""
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name")
        return (
            {"output_type": "stream", "name": name, "text": _text(output.get("text", ""))}
            if (name in ("stdout", "stderr"))
            else None
        )
    if kind == "error":
        return {
            "output_type": "error",
            "ename": _text(output.get("ename", "")),
            "evalue": _text(output.get("evalue", "")),
            "traceback": [_text(line) for line in output.get("traceback", [])],
        }
    if kind not in ("execute_result", "display_data"):
        return None
    data, metadata = {}, {}
    for mime, value in (output.get("data") or {}).items():
        if mime not in OUTPUT_MIME_TYPES:
            continue
        text = _text(value)
        if mime != "text/plain":
            if not is_base64(text):
                continue
            text = "".join(text.split())
            size = (output.get("metadata") or {}).get(mime) or {}
            sizes = {key: size[key] for key in ("width", "height") if _is_size(size.get(key))}
            if sizes:
                metadata[mime] = sizes
        data[mime] = text
    if not data:
        return None
    result = {"output_type": kind, "data": data, "metadata": metadata}
    if kind == "execute_result":
        count = output.get("execution_count")
        result["execution_count"] = count if isinstance(count, int) else None
    return result


def _is_size(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10_000


def sanitize_cell_metadata(metadata: Mapping) -> dict:
    """Only the keys nbgrader and the editor need; tags that are plain names."""
    kept = {}
    for key in CELL_METADATA_KEYS:
        if key not in metadata:
            continue
        value = metadata[key]
        if key == "tags":
            tags = [tag for tag in value if isinstance(tag, str) and PLAIN_NAME.fullmatch(tag)]
            if tags:
                kept["tags"] = tags
        elif key == "nbgrader":
            grade_id = value.get("grade_id") if isinstance(value, Mapping) else None
            if isinstance(grade_id, str) and PLAIN_NAME.fullmatch(grade_id):
                kept["nbgrader"] = value
        elif isinstance(value, bool):
            kept[key] = value
    return kept


def _plain_strings(value: Mapping, depth: int = 0) -> dict:
    kept = {}
    for key, item in value.items():
        if not (isinstance(key, str) and PLAIN_NAME.fullmatch(key)):
            continue
        plain_string = isinstance(item, str) and PLAIN_TEXT.fullmatch(item)
        if plain_string or (isinstance(item, int) and not isinstance(item, bool)):
            kept[key] = item
        elif isinstance(item, Mapping) and depth == 0:
            kept[key] = _plain_strings(item, depth + 1)
    return kept


def sanitize_notebook_metadata(metadata: Mapping) -> dict:
    """kernelspec and language_info reduced to plain strings; the grader's summary (trusted:
    TrustedGrade wrote it over anything the student put there); nothing else (widget state,
    title, ...)."""
    kept = {}
    for key in NOTEBOOK_METADATA_KEYS:
        value = metadata.get(key)
        if not isinstance(value, Mapping):
            continue
        value = value if key == "trusted_grader" else _plain_strings(value)
        if all(field in value for field in REQUIRED_FIELDS.get(key, ())):
            kept[key] = value  # else the whole entry goes: nbformat requires these fields
    return kept


# ---------------------------------------------------------------------------------------------
# The nbgrader step
# ---------------------------------------------------------------------------------------------


def sanitize_notebook(nb: NotebookNode) -> NotebookNode:
    """Sanitise every cell and the notebook's metadata in place (see the module docstring);
    code cells keep their source (templates show it highlighted, i.e. escaped)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown":
            cell.source = sanitize_markdown(_text(cell.get("source", "")), cell.get("attachments"))
        elif cell.get("cell_type") == "raw":
            cell.source = one_block(sanitize_html(_text(cell.get("source", ""))))
        elif cell.get("cell_type") == "code":
            outputs = [sanitize_output(output) for output in cell.get("outputs", [])]
            cell.outputs = [from_dict(output) for output in outputs if output is not None]
            if not isinstance(cell.get("execution_count"), int | None):
                cell.execution_count = None
        cell.pop("attachments", None)
        cell.metadata = from_dict(sanitize_cell_metadata(cell.get("metadata") or {}))
        if "id" in cell and not (isinstance(cell.id, str) and PLAIN_NAME.fullmatch(cell.id)):
            cell.id = uuid.uuid4().hex[:8]
    nb.metadata = from_dict(sanitize_notebook_metadata(nb.get("metadata") or {}))
    return nb


class SanitizeStudentContent(Preprocessor):
    """Makes a notebook safe to show in a browser (formgrader, feedback): see the module
    docstring. Idempotent: a sanitised notebook passes through unchanged."""

    enabled = Bool(True, help="Switch off only to show what the pages did without it.").tag(
        config=True
    )

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        return sanitize_notebook(nb), resources
