"""What nbgrader's formgrader shows of students: their names and ids, escaped, in every page.

Student names come from the roster (an LMS export, where students choose them) and student ids
are the folder names under submitted/ (``nbgrader zip_collect`` takes them from the file names of
an LMS download): both are the student's text. nbgrader 0.9.6's formgrader, served by the
instructor's Jupyter server, writes them into its pages unescaped, so a name or id like
``<img src=x onerror=...>`` ran in the instructor's session (tests/test_formgrader.py):

- its page templates (``*.tpl``) are rendered by a Jinja environment without autoescaping: the
  student's page and the student's submission page print the id (taken from the URL, so also a
  crafted link) in HTML and inside ``var student_id = "...";``;
- the manual-grading page (nbconvert's ``formgrade`` template, unescaped like every nbconvert
  template) prints the last and first names, or the id, in its navigation bar, and the path of
  the notebook (which holds the id) in a ``data-link="..."`` attribute;
- its JavaScript dialog ``createModal`` appends a string body as HTML, and the "autograde" and
  "generate feedback" buttons' error dialogs put the student id in that string.

The lists (Manage Students, Manage Submissions, a notebook's submissions) fill their rows with
jQuery's ``.text()`` and were safe. ``install_formgrader_escaping`` fixes the three sinks in the
server's process, where the data of every door meets (a roster import, ``nbgrader db student
add``, formgrader's own student form, a folder under submitted/, a gradebook from before): data
is kept as the student wrote it and escaped for the context it is written into, so a name such as
"O'Brien" or "<3" still reads as written. The course's nbgrader_config.py calls it: formgrader
loads that configuration into the Jupyter server's process before it serves a page.

It also makes the "autograde" and "generate feedback" buttons act on the one student they name:
nbgrader's API passes the id on as its ``--student`` glob (``_name_students_exactly``).
"""

from __future__ import annotations

import re

import markupsafe
from jinja2 import Environment, FileSystemLoader

# `var name = "{{ value }}";` in nbgrader's templates: a value read as a JavaScript string. As
# JSON (Jinja's tojson: < > & ' escaped as \u003c...) it is the same string literal, and can end
# neither the string nor the script. Elsewhere (HTML text and attributes) autoescaping applies.
JAVASCRIPT_STRING = re.compile(r'(\bvar\s+\w+\s*=\s*)"\{\{\s*([\w.]+)\s*\}\}"')
# Every page of base.tpl loads formgrader's utils.js (createModal); the script after it makes a
# string body text, which is what every caller of nbgrader 0.9.6 passes as a string: messages.
UTILS_SCRIPT = '<script src="{{ base_url }}/formgrader/static/js/utils.js"></script>'
MODAL_BODY_AS_TEXT = """
  <script>
  (function () {
    var createModalFromHtml = createModal;
    createModal = function (id, title, body, footer) {
      if (typeof body === "string") body = $("<p/>").text(body);
      return createModalFromHtml(id, title, body, footer);
    };
  })();
  </script>"""
# What SubmissionHandler (the manual-grading page) puts in the formgrade template's resources
# from the student: shown as HTML text (names, id) or in a double-quoted attribute (the path).
STUDENT_RESOURCES = ("student", "first_name", "last_name", "notebook_path")


class FormgraderTemplateError(RuntimeError):
    """nbgrader's templates are not the ones this module was written for: refuse the page."""


class EscapingTemplateLoader(FileSystemLoader):
    """nbgrader's formgrader templates, with each JavaScript string value written as JSON and a
    text-only createModal after utils.js (see the module docstring)."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        source = JAVASCRIPT_STRING.sub(r"\1{{ \2|tojson }}", source)
        if template == "base.tpl":
            if UTILS_SCRIPT not in source:
                raise FormgraderTemplateError(
                    f"{filename} no longer loads utils.js as nbgrader 0.9.6 did: "
                    "grader.formgrader cannot make its dialogs safe"
                )
            source = source.replace(UTILS_SCRIPT, UTILS_SCRIPT + MODAL_BODY_AS_TEXT)
        return source, filename, uptodate


def formgrader_environment(template_path: str) -> Environment:
    """The Jinja environment formgrader's pages are rendered with: autoescaping, and the loader
    above."""
    return Environment(loader=EscapingTemplateLoader([template_path]), autoescape=True)


class EscapedStudentExporter:
    """The formgrade HTMLExporter, given the student's resources HTML-escaped (the nbconvert
    template prints them as they are: escaping them there would double-escape notebook HTML)."""

    def __init__(self, exporter):
        self.exporter = exporter

    def from_filename(self, filename, resources=None, **keywords):
        resources = dict(resources or {})
        for key in STUDENT_RESOURCES:
            if isinstance(resources.get(key), str):
                resources[key] = str(markupsafe.escape(resources[key]))
        return self.exporter.from_filename(filename, resources=resources, **keywords)


def install_formgrader_escaping() -> None:
    """Render every formgrader page of this process with escaped student names and ids.

    Patches nbgrader 0.9.6's formgrader classes (which build their Jinja environment and
    exporter with no option to change either): ``BaseHandler.render`` (every ``*.tpl`` page)
    and the exporter of ``SubmissionHandler`` (the manual-grading page). Idempotent: nbgrader
    reads the course's configuration again on every API request.
    """
    from nbgrader.server_extensions.formgrader import base, handlers

    if getattr(base.BaseHandler.render, "escapes_students", False):
        return
    environment = formgrader_environment(handlers.template_path)

    def render(self, name, **namespace):
        return environment.get_template(name).render(**namespace)

    render.escapes_students = True
    base.BaseHandler.render = render
    handlers.SubmissionHandler.exporter = property(
        lambda self: EscapedStudentExporter(self.settings["nbgrader_exporter"])
    )
    _name_students_exactly()


def _name_students_exactly() -> None:
    """formgrader's "autograde" and "generate feedback" buttons name one student, but nbgrader's
    API hands that id on as the ``--student`` glob: the button of a student "*" autograded every
    student, and of "x*" also "xy". The API is given ``intake.exact_student_glob`` of the id."""
    from nbgrader.apps.api import NbGraderAPI

    from grader.intake import exact_student_glob

    if getattr(NbGraderAPI.autograde, "names_students_exactly", False):
        return
    autograde, generate_feedback = NbGraderAPI.autograde, NbGraderAPI.generate_feedback

    def autograde_one(self, assignment_id, student_id, force=True, create=True):
        return autograde(self, assignment_id, exact_student_glob(student_id), force, create)

    def generate_feedback_for_one(self, assignment_id, student_id=None, force=True):
        if student_id is not None:
            student_id = exact_student_glob(student_id)
        return generate_feedback(self, assignment_id, student_id, force)

    autograde_one.names_students_exactly = True
    NbGraderAPI.autograde = autograde_one
    NbGraderAPI.generate_feedback = generate_feedback_for_one
