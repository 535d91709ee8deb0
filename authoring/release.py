"""Build the student bundle from an allow-list, and prove it holds nothing else.

    python -m authoring.release               # (make release) build build/student/ and
                                              # build/student.zip, then check both
    python -m authoring.release --check PATH  # check a bundle folder or zip; exit 1 on a problem

The bundle is exactly: assignment.ipynb (the generated student notebook), public_tests.py,
public_tests_data.npz, the images the notebook references, requirements.txt (the lines of the
repository's requirements.txt marked "# student") and README.md (authoring/student_README.md,
without its points markers).
In the zip they sit under one folder, cnn_step_by_step/. Beside them, the pre-submission check:
submission_check.py and graded_cells.py (the extraction rules it shares with grader/extract.py).

The check trusts nothing in the bundle: only allow-listed files; the notebook keeps the cell
contract of a student notebook (stubs, no outputs, no execution counts); no text file carries an
nbgrader solution, hidden-test or mark-scheme region, a line of the master source's solutions or
a line of the grader's code (grader/*.py: the check modules may share none, the public tests
none with the reference); the test data loads without pickle.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import io
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from authoring.notebooks import (
    MASTER_SOURCE,
    REPO_ROOT,
    SOLUTION_MARKERS,
    STUDENT_NOTEBOOK,
    contract_problems,
)
from authoring.points import without_markers
from grader.exercises import ASSIGNMENT_ID

BUILD_DIR = REPO_ROOT / "build"
BUNDLE_DIR = BUILD_DIR / "student"
BUNDLE_ZIP = BUILD_DIR / "student.zip"
ZIP_FOLDER = ASSIGNMENT_ID  # every zip entry lives under cnn_step_by_step/

PUBLIC_TESTS = REPO_ROOT / "public_tests.py"
# The student's Python modules besides the public tests: the pre-submission check and the
# extraction rules it shares with grader/extract.py.
CHECK_MODULES = ("submission_check.py", "graded_cells.py")
PUBLIC_TESTS_DATA = REPO_ROOT / "public_tests_data.npz"
REQUIREMENTS = REPO_ROOT / "requirements.txt"
STUDENT_README = REPO_ROOT / "authoring" / "student_README.md"
GRADER_DIR = REPO_ROOT / "grader"

NOTEBOOK = "assignment.ipynb"
REQUIRED_FILES = (
    NOTEBOOK,
    "public_tests.py",
    "public_tests_data.npz",
    *CHECK_MODULES,
    "requirements.txt",
    "README.md",
)
IMAGE_SUFFIXES = (".png", ".gif")
STUDENT_MARK = "# student"
# A package only an optional section needs: students get its pin commented out, with the note.
STUDENT_OPTIONAL_MARK = "# student, optional:"
TEXT_SUFFIXES = (".ipynb", ".py", ".md", ".txt")

# nbgrader's region markers (solutions, hidden tests, mark schemes): none may reach students.
FORBIDDEN_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "END MARK SCHEME",
)
# Fingerprints shorter than this are too generic to mean anything ("return Z, cache").
MIN_SOLUTION_LINE = 16
MIN_GRADER_LINE = 30

# ![alt](target) with at most one level of [] inside the alt text, or <img src="target">.
IMAGE_REFERENCE = re.compile(
    r"""!\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)|<img\s[^>]*src=["']([^"']+)["']"""
)


# --- what goes in ------------------------------------------------------------------------------


def referenced_images(notebook: dict) -> list[str]:
    """Relative paths of the images the notebook's markdown shows, in order, without repeats."""
    found: list[str] = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for match in IMAGE_REFERENCE.finditer(_text(cell["source"])):
            target = match.group(1) or match.group(2)
            if target not in found:
                found.append(target)
    return found


def student_requirements(requirements: str) -> str:
    """The lines of a requirements file marked ``# student``, pins kept, comments dropped; then
    each commented pin marked ``# student, optional: <why>``, still commented, with its why."""
    pins, optional = [], []
    for line in requirements.splitlines():
        if line.rstrip().endswith(STUDENT_MARK):
            pins.append(line.split("#", 1)[0].strip() + "\n")
        elif STUDENT_OPTIONAL_MARK in line and line.startswith("#"):
            pin, why = line[1:].split(STUDENT_OPTIONAL_MARK, 1)
            optional.append(f"# Optional, {why.strip()}\n# {pin.strip()}\n")
    header = "# What assignment.ipynb needs: pip install -r requirements.txt\n"
    return header + "".join(pins) + "".join(optional)


def bundle_contents() -> dict[str, bytes]:
    """{path inside the bundle: bytes}: the allow-listed files, read from the repository."""
    notebook = json.loads(STUDENT_NOTEBOOK.read_text(encoding="utf-8"))
    contents = {
        NOTEBOOK: STUDENT_NOTEBOOK.read_bytes(),
        "public_tests.py": PUBLIC_TESTS.read_bytes(),
        "public_tests_data.npz": PUBLIC_TESTS_DATA.read_bytes(),
        **{name: (REPO_ROOT / name).read_bytes() for name in CHECK_MODULES},
        "requirements.txt": student_requirements(REQUIREMENTS.read_text()).encode(),
        # The template's points markers say where authoring.points writes; students need not.
        "README.md": without_markers(STUDENT_README.read_text(encoding="utf-8")).encode(),
    }
    for image in referenced_images(notebook):
        contents[image] = (REPO_ROOT / image).read_bytes()
    return contents


def build(out_dir: Path | None = None, zip_path: Path | None = None) -> tuple[Path, Path]:
    """Write the bundle as a folder (replaced if present) and as a zip; return both paths.

    out_dir, zip_path -- default BUNDLE_DIR (build/student/) and BUNDLE_ZIP (build/student.zip)
    The zip is byte-for-byte reproducible: sorted entries, fixed timestamps and permissions.
    """
    out_dir = BUNDLE_DIR if out_dir is None else out_dir
    zip_path = BUNDLE_ZIP if zip_path is None else zip_path
    contents = bundle_contents()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for relative, data in contents.items():
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in sorted(contents):
            entry = zipfile.ZipInfo(f"{ZIP_FOLDER}/{relative}", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix, so the permissions below mean the same everywhere
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, contents[relative])
    return out_dir, zip_path


# --- what must not get out ---------------------------------------------------------------------


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _strings(value) -> list[str]:
    """Every string inside a JSON value (sources, outputs, metadata, attachments)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _split_master_source(master: dict) -> tuple[list[str], str]:
    """(stripped lines inside the solution regions, all the master source's other text)."""
    solution_lines, other = [], []
    begin, end = SOLUTION_MARKERS
    for cell in master["cells"]:
        inside = False
        for line in _text(cell["source"]).split("\n"):
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                solution_lines.append(line.strip())
            else:
                other.append(line)
    return solution_lines, "\n".join(other)


def _code_lines(path: Path) -> list[str]:
    """Stripped lines of a Python file that are code: no blank, comment, docstring or import."""
    source = path.read_text(encoding="utf-8")
    skipped: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            skipped |= set(range(body[0].lineno, body[0].end_lineno + 1))
        if isinstance(node, ast.Import | ast.ImportFrom):
            skipped |= set(range(node.lineno, node.end_lineno + 1))
    return [
        line.strip()
        for number, line in enumerate(source.split("\n"), start=1)
        if number not in skipped and line.strip() and not line.strip().startswith("#")
    ]


@functools.cache  # reads only the repository, which doesn't change while a check runs
def fingerprints() -> dict[str, str]:
    """{line: where it comes from}: lines that must never appear in the student bundle.

    Solution lines of the master source and code lines of grader/*.py, minus the generic ones:
    too short, or also present in what students legitimately get from the repository (the
    master source outside its solution regions, public_tests.py; for grader lines, also the
    check modules, which share generic lines such as the tokenizing of magics with the harness).
    """
    master = json.loads(MASTER_SOURCE.read_text(encoding="utf-8"))
    solution_lines, public_text = _split_master_source(master)
    public_text += "\n" + PUBLIC_TESTS.read_text(encoding="utf-8")
    check_text = "\n".join(_student_module_text(name) for name in CHECK_MODULES)
    found = {}
    for line in solution_lines:
        if len(line) >= MIN_SOLUTION_LINE and line not in public_text:
            found[line] = "a solution line of the master source"
    for path in sorted(GRADER_DIR.glob("*.py")):
        for line in _code_lines(path):
            if len(line) >= MIN_GRADER_LINE and line not in public_text and line not in check_text:
                found.setdefault(line, f"a line of grader/{path.name}")
    return found


def _student_module_text(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


def public_tests_reference_overlap() -> list[str]:
    """Code lines of grader/reference.py that public_tests.py (in the repository) contains, and
    of grader/reference.py or grader/stand_ins.py that a check module contains.

    fingerprints() has to accept what these student modules share with the grader, so this is
    the guard for what must share nothing: the hidden reference implementation and the correct
    stand-ins of the exercises.
    """
    overlap = []
    sources = {"public_tests.py": ("reference.py",)}
    sources.update({name: ("reference.py", "stand_ins.py") for name in CHECK_MODULES})
    for name, secret_modules in sources.items():
        public = {line.strip() for line in _student_module_text(name).split("\n")}
        overlap += [
            line
            for secret in secret_modules
            for line in _code_lines(GRADER_DIR / secret)
            if len(line) >= MIN_GRADER_LINE and line in public
        ]
    return overlap


def read_bundle(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """({path inside the bundle: bytes}, problems) of a bundle folder or zip."""
    files: dict[str, bytes] = {}
    problems: list[str] = []
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            relative = item.relative_to(path).as_posix()
            if item.is_symlink():
                problems.append(f"{relative} is a symlink")
            elif item.is_file():
                files[relative] = item.read_bytes()
        return files, problems
    if not zipfile.is_zipfile(path):
        return {}, [f"{path} is neither a folder nor a zip file"]
    with zipfile.ZipFile(path) as archive:
        for entry in archive.infolist():
            name = PurePosixPath(entry.filename)
            if name.is_absolute() or ".." in name.parts or name.parts[:1] != (ZIP_FOLDER,):
                problems.append(f"zip entry {entry.filename} is not inside {ZIP_FOLDER}/")
            elif not entry.is_dir():
                files[PurePosixPath(*name.parts[1:]).as_posix()] = archive.read(entry)
    return files, problems


def check(path: Path) -> list[str]:
    """Every problem of the bundle at ``path`` (a folder or a zip); [] when it is clean."""
    files, problems = read_bundle(Path(path))
    if not files:
        return problems + [f"{path} holds no file"]

    for name in REQUIRED_FILES:
        if name not in files:
            problems.append(f"{name} is missing")
    notebook = None
    if NOTEBOOK in files:
        try:
            notebook = json.loads(files[NOTEBOOK].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append(f"{NOTEBOOK} is not a notebook: {error}")
    images = referenced_images(notebook) if notebook else []
    allowed = set(REQUIRED_FILES) | set(images)
    for name in files:
        if name not in allowed:
            problems.append(f"{name} is not on the allow-list")
    for image in images:
        if not image.startswith("images/") or not image.endswith(IMAGE_SUFFIXES):
            problems.append(f"the notebook shows {image}, which is not a png/gif under images/")
        elif image not in files:
            problems.append(f"the notebook shows {image}, which the bundle lacks")

    if notebook:
        problems += [f"{NOTEBOOK}: {p}" for p in contract_problems(notebook, role="student")]

    scanned = {}
    for name, data in files.items():
        if not name.endswith(TEXT_SUFFIXES):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{name} is not UTF-8 text")
            continue
        if name.endswith(".ipynb"):
            # Unparseable JSON is scanned raw; the notebook problem is reported above.
            with contextlib.suppress(json.JSONDecodeError):
                text = "\n".join(_strings(json.loads(text)))
        scanned[name] = text
    for name, text in scanned.items():
        for marker in FORBIDDEN_MARKERS:
            if marker in text:
                problems.append(f"{name} contains the nbgrader marker {marker!r}")
    for line, origin in fingerprints().items():
        for name, text in scanned.items():
            if line in text:
                problems.append(f"{name} contains {origin}: {line!r}")
    for line in public_tests_reference_overlap():
        problems.append(
            f"a student module (repository) holds a line of the reference or a stand-in: {line!r}"
        )

    if "public_tests_data.npz" in files:
        try:
            with np.load(io.BytesIO(files["public_tests_data.npz"]), allow_pickle=False) as data:
                for key in data.files:
                    data[key]  # reading each array is what fails on pickled objects
        except Exception as error:  # any failure to load without pickle is a finding
            problems.append(f"public_tests_data.npz does not load without pickle: {error}")

    if "requirements.txt" in files:
        allowed_pins = set(student_requirements(REQUIREMENTS.read_text()).splitlines())
        for line in files["requirements.txt"].decode("utf-8", "replace").splitlines():
            if line.strip() and not line.startswith("#") and line not in allowed_pins:
                problems.append(f"requirements.txt: {line!r} is not a student requirement")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.release", description=__doc__)
    parser.add_argument("--check", metavar="PATH", type=Path, help="check a bundle folder or zip")
    args = parser.parse_args(argv)
    targets = [args.check] if args.check else list(build())
    if not args.check:
        print(f"built {targets[0]}/ and {targets[1]}")
    failed = False
    for target in targets:
        problems = check(target)
        if problems:
            failed = True
            print(f"{target}: {len(problems)} problem(s)", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"{target}: only allow-listed files, no solution or grader code, no outputs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
