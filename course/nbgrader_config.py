"""nbgrader configuration of the course: run nbgrader commands from this folder (course/)."""

# ruff: noqa: F821  (nbgrader execs this file with `c`, the traitlets Config, already defined)

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent

# The course, its gradebook (course/gradebook.db, not committed) and its one assignment, whose
# master source is source/cnn_step_by_step/assignment.ipynb. The assignment id must equal
# grader.exercises.ASSIGNMENT_ID. `nbgrader generate_assignment` adds the assignment to the
# gradebook (nbgrader 0.9.6 has no option to list it here).
c.CourseDirectory.course_id = "cnn_step_by_step"
c.CourseDirectory.root = str(COURSE_ROOT)  # absolute: the paths don't depend on the cwd
c.CourseDirectory.db_url = f"sqlite:///{COURSE_ROOT / 'gradebook.db'}"

# The repository's generator (`make notebooks` = python -m authoring.notebooks) runs the same
# nbgrader converters with the same settings on a private copy of the master source, and writes
# the student notebook to ../assignment.ipynb and the solution to ../solutions/assignment.ipynb.
# `nbgrader generate_assignment cnn_step_by_step --force` run here gives the same student notebook
# in release/cnn_step_by_step/ (tests/test_notebooks.py checks that).

# `nbgrader zip_collect cnn_step_by_step`: the zip of submissions downloaded from the LMS, put in
# downloaded/cnn_step_by_step/archive/, is extracted and each notebook collected as
# submitted/<student>/cnn_step_by_step/assignment.ipynb. The expected file names are Canvas's
# ("Download Submissions"): <student>_[LATE_]<user id>_<submission id>_assignment[-<n>].ipynb,
# e.g. doejane_12345_6789012_assignment.ipynb, doejane_LATE_12345_6789012_assignment-1.ipynb
# (-1: Canvas renames a resubmitted file); the student id is Canvas's name part (doejane).
# A file named otherwise is skipped, with a warning naming it: rename it, or adapt this
# expression (nbgrader matches it against the file's whole path; it must give student_id and a
# file_id of "assignment").
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[^/_]+)_(?:LATE_|late_)?\d+_\d+_(?P<file_id>assignment)(?:-\d+)?\.ipynb$"
)

# Autograding settings are added below this line.

# --- Autograding through the trusted grader (owner: grader/nbgrader_plugin.py) -----------------
# nbgrader's default autograde starts a Jupyter kernel and runs the submission in it, then trusts
# the test cells' outputs; code in that kernel can forge them. Here no kernel is started: the
# trusted grader runs the solution code in a bubblewrap sandbox and computes each verdict in
# nbgrader's own process, and nbgrader records the verdicts as usual.
#
# Every class below is named by its import path, so this file imports nothing that can fail:
# nbgrader ignores a config file that raises, and would then autograde with its kernel.

import sys  # noqa: E402

# nbgrader imports the grader by name: put the repository that holds grader/ on the path when
# nbgrader runs from course/ or from a copy of it inside the repository (demo/course). A course
# elsewhere (`cnn-grader init-course DIR`) imports the grader installed with nbgrader
# (`pip install <repository>`), with nothing on PYTHONPATH.
for _folder in COURSE_ROOT.parents:
    if (_folder / "grader" / "__init__.py").is_file():
        sys.path.insert(0, str(_folder))
        break

# What nbgrader takes from a submission folder. nbgrader 0.9.6 copies every file of it into
# autograded/ (hence feedback/, served by formgrader) and opens the notebook with a plain open:
# it follows links (to the gradebook, to another student's notebook), blocks the whole run on a
# FIFO and reads /dev/zero without end. IntakeAutograde checks each folder first
# (grader.intake.check_submission_folder): a folder holding anything but regular files is refused
# (graded 0 with the reason, flagged for manual grading, never read), and of the others only the
# notebook and the timestamp are taken. nbgrader builds its converter by name, with no option to
# choose the class, hence this call. This file must not raise, or nbgrader would ignore all of it
# and autograde with its kernel; if the call fails, the run fails instead (the exporter below
# refuses to read submissions for any converter but IntakeAutograde).
try:
    from grader.nbgrader_plugin import install_intake

    install_intake()
except Exception:
    pass

# What formgrader shows of students. Names (the roster's) and ids (the folder names under
# submitted/) are the student's text, and nbgrader 0.9.6's formgrader writes them into its pages
# unescaped, in the instructor's Jupyter server. That server runs this file (formgrader loads it)
# before it serves a page; this call makes every page escape them (grader/formgrader.py).
try:
    from grader.formgrader import install_formgrader_escaping

    install_formgrader_escaping()
except Exception:
    pass

# nbgrader's first pass over a submission ("sanitize"): nbgrader 0.9.6's list, one step fixed.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",  # the student's own outputs count for nothing
    # Every known cell's nbgrader metadata (flags, points, type) as the gradebook recorded it:
    # an edited flag no longer fails the submission. NB: before DeduplicateIds, which crashes on
    # a grade_id that is not a string.
    "grader.nbgrader_plugin.RepairCellMetadata",
    "nbgrader.preprocessors.DeduplicateIds",  # a duplicated cell keeps its grade_id once
    "nbgrader.preprocessors.OverwriteKernelspec",
    # nbgrader's OverwriteCells (NB: must come after DeduplicateIds: it restores each locked
    # cell, i.e. setup and test cells, and its points from the gradebook by grade_id), minus
    # nbgrader 0.9.6's crashes on duplicated, unknown or deleted cells (see its docstring).
    "grader.nbgrader_plugin.RestoreCells",
    "nbgrader.preprocessors.CheckCellMetadata",  # NB: last: validates what the others left
]
# A deleted test cell is put back (with a note saying so), so it is graded like any other:
# its verdict depends only on the solution code. (nbgrader's default leaves it out, and the
# exercise silently scores 0 with "needs manual grade"; so does a notebook without metadata.)
c.RestoreCells.add_missing_cells = True

# The second pass ("autograde"): nbgrader's list with its kernel step, Execute, replaced.
c.Autograde.autograde_preprocessors = [
    # Grades the sanitized notebook in the sandbox; writes each test cell's verdict as its outputs.
    "grader.nbgrader_plugin.TrustedGrade",
    # NB: after TrustedGrade, which needs nothing from them: removes any hidden-test region that
    # OverwriteCells restored into a test cell, before anything is saved or shown.
    "grader.nbgrader_plugin.HideTestCode",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",  # disabled unless configured, as usual
    "nbgrader.preprocessors.LimitOutput",
    # NB: must come after TrustedGrade: it reads the verdict outputs (partial credit = the points
    # in the execute_result) into the gradebook.
    "nbgrader.preprocessors.SaveAutoGrades",
    # NB: after SaveAutoGrades, which clears the flag: a refused submission needs manual grading.
    "grader.nbgrader_plugin.FlagRefused",
    "nbgrader.preprocessors.AssignLatePenalties",  # NB: after SaveAutoGrades: uses its scores
    # Allow-list HTML sanitiser for everything a student wrote (markdown, raw cells, attachments,
    # outputs, cell and notebook metadata): formgrader and the feedback pages render the saved
    # notebook's markdown without any sanitiser. NB: after every step that writes into the
    # notebook, so nothing unsanitised is saved; after SaveAutoGrades, so it cannot change a score
    # (it keeps the verdict outputs as they are anyway).
    "grader.sanitize.SanitizeStudentContent",
    "nbgrader.preprocessors.CheckCellMetadata",  # NB: last: validates what the others left
]
# Run the student's code in bubblewrap. False is for the grader's own development only.
c.TrustedGrade.sandbox = True
# Reads the notebook through grader.intake (no link followed, never blocking, at most 16 MiB);
# an empty, non-notebook or refused file is graded 0 with the reason in its feedback.
c.Autograde.exporter_class = "grader.nbgrader_plugin.SubmissionReader"

# Feedback pages: nbgrader's list, plus the same hidden-test filter for notebooks autograded by an
# older configuration. NB: HideTestCode must come before the HTML is rendered (it is, as a
# preprocessor); GetGrades first, as in nbgrader.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "grader.nbgrader_plugin.HideTestCode",
    # The same sanitiser again, in case the notebook was autograded by an older configuration.
    # NB: after GetGrades (it keeps the nbgrader metadata GetGrades fills in).
    "grader.sanitize.SanitizeStudentContent",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# `nbgrader export`: nbgrader's CSV columns plus forward_score/forward_max (100) and
# backward_score/backward_max (40), so the optional backward part can be counted or not.
c.ExportApp.plugin_class = "grader.nbgrader_plugin.PartsCsvExport"

# --- The trusted grader's settings (owner: grader/settings.py) ---------------------------------
# Read by nbgrader's TrustedGrade, by `python -m grader.parallel` (and its workers) and by
# `cnn-grader grade` run in this folder (or with --config). The course secret draws the hidden
# inputs: create it with `cnn-grader secret PATH` (mode 0600), keep it outside the course folder
# and out of version control, and name it here with an absolute path; GRADER_SECRET or
# GRADER_SECRET_FILE in the environment override it. Without any, the public development secret
# is used (fine for a demo, never for a course). See the README, "The course secret".
# c.TrustedGrader.secret_file = "/home/grader-cnn/.config/cnn-grader/secret"
# Limits of the sandbox (defaults: grader.sandbox.Limits). A verdict depends on them.
# c.TrustedGrader.exercise_seconds = 10.0  # wall clock of one exercise's cell, then its calls
# c.TrustedGrader.submission_seconds = 120.0  # wall clock of a whole submission
# c.TrustedGrader.cpu_seconds = 60  # CPU of one exercise's process
# c.TrustedGrader.memory_bytes = 1 << 30  # address space of each process
# c.TrustedGrader.processes = 8  # processes and threads of one exercise
# c.TrustedGrader.sandbox_memory_bytes = 2 << 30  # the whole sandbox, where a cgroup can be had
# c.TrustedGrader.sandbox = True  # False: no bubblewrap, for the grader's own development only
# c.TrustedGrader.scheduler = ""  # "tcp://HOST:PORT": `cnn-grader grade` on a Dask cluster
