"""Tests of grader.extract: which code gets graded, from well-formed and damaged notebooks."""

from __future__ import annotations

import ast
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import grader.extract
from grader.exercises import EXERCISE_NAMES, EXERCISES
from grader.extract import (
    MAX_CELL_CHARS,
    MAX_CELLS,
    MAX_PARSED_CHARS,
    NOTE_BY_NAME,
    NOTE_OLDER_EDITION,
    TRUSTED_SETUP,
    Extraction,
    FoundCode,
    defined_functions,
    extract,
    neutralise_magics,
)
from tests import factories
from tests.catalogue.canonical import CANONICAL
from tests.factories import submission, write

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CANONICAL_SOURCES = {name: variant.source for name, variant in CANONICAL.items()}


def _write(tmp_path, notebook, name="submission.ipynb") -> Path:
    path = tmp_path / name
    write(notebook, path)
    return path


def _solution_cell_index(notebook, name: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == name:
            return index
    raise AssertionError(f"no cell {name}")


def test_solution_notebook_finds_every_exercise_by_metadata(tmp_path):
    """Does a well-formed submission give each exercise its own solution cell, and no note?"""
    extraction = extract(_write(tmp_path, submission(CANONICAL_SOURCES)))
    assert extraction.error is None
    assert list(extraction.cells) == list(EXERCISE_NAMES)
    assert extraction.missing == {}
    assert extraction.notes == ()
    for name, found in extraction.found.items():
        assert found.by == "metadata"
        assert f"def {name}(" in found.source
        assert "_test(" not in found.source  # test cells are never graded code


def test_setup_is_the_trusted_one_whatever_the_student_wrote(tmp_path):
    """Is an edited setup cell ignored in favour of the release's setup?"""
    hostile_setup = "import numpy as np\nnp.allclose = lambda *a, **k: True"
    notebook = submission(CANONICAL_SOURCES, setup=hostile_setup)
    extraction = extract(_write(tmp_path, notebook))
    assert extraction.setup == TRUSTED_SETUP
    assert "allclose" not in extraction.digest()
    assert all("allclose" not in source for source in extraction.cells.values())


def test_stripped_metadata_falls_back_to_function_names(tmp_path):
    """Without nbgrader metadata, is every exercise still found by its def, with a note?"""
    extraction = extract(_write(tmp_path, submission(CANONICAL_SOURCES, metadata=False)))
    assert extraction.error is None
    assert list(extraction.cells) == list(EXERCISE_NAMES)
    assert all(found.by == "name" for found in extraction.found.values())
    assert extraction.notes == (NOTE_BY_NAME,)


def test_damaged_metadata_of_one_cell_is_named_in_the_note(tmp_path):
    """Is only the exercise whose metadata is damaged found by name, and named in the note?"""
    notebook = submission(CANONICAL_SOURCES)
    notebook.cells[_solution_cell_index(notebook, "conv_forward")].metadata["nbgrader"] = "junk"
    extraction = extract(_write(tmp_path, notebook))
    assert extraction.found["conv_forward"].by == "name"
    assert extraction.found["zero_pad"].by == "metadata"
    assert extraction.notes == (f"{NOTE_BY_NAME} (conv_forward)",)


def test_non_dict_metadata_does_not_crash(tmp_path):
    """Does metadata of the wrong type (a list, a number) just mean "no metadata"?"""
    notebook = submission(CANONICAL_SOURCES)
    raw = json.loads(nbformat.writes(notebook))
    for cell in raw["cells"]:
        cell["metadata"] = [] if cell["cell_type"] == "code" else 3
    path = tmp_path / "damaged.ipynb"
    path.write_text(json.dumps(raw))
    extraction = extract(path)
    assert extraction.error is None
    assert list(extraction.cells) == list(EXERCISE_NAMES)


def test_deleted_solution_cell_is_not_found_with_the_expected_signature(tmp_path):
    """Is a deleted exercise "not found", with a message naming the function expected?"""
    notebook = submission(CANONICAL_SOURCES)
    del notebook.cells[_solution_cell_index(notebook, "pool_forward")]
    extraction = extract(_write(tmp_path, notebook))
    assert "pool_forward" not in extraction.found
    assert "def pool_forward(A_prev, hparameters, mode):" in extraction.missing["pool_forward"]
    assert set(extraction.found) == set(EXERCISE_NAMES) - {"pool_forward"}


def test_renamed_function_is_not_found_and_the_message_names_both(tmp_path):
    """Is a renamed function "not found", with a message naming the expected and found names?"""
    renamed = CANONICAL_SOURCES["zero_pad"].replace("def zero_pad(", "def zero_padding(")
    extraction = extract(_write(tmp_path, submission({**CANONICAL_SOURCES, "zero_pad": renamed})))
    message = extraction.missing["zero_pad"]
    assert "def zero_pad(X, pad):" in message
    assert "zero_padding" in message


def test_function_moved_to_another_cell_is_found_by_name(tmp_path):
    """Is a function written in a new cell (its solution cell emptied) graded from there?"""
    notebook = submission(CANONICAL_SOURCES)
    index = _solution_cell_index(notebook, "zero_pad")
    notebook.cells[index].source = "# moved below"
    notebook.cells.append(new_code_cell(CANONICAL_SOURCES["zero_pad"]))
    extraction = extract(_write(tmp_path, notebook))
    assert extraction.found["zero_pad"].by == "name"
    assert extraction.found["zero_pad"].cell_index == len(notebook.cells) - 1


def test_duplicated_solution_cell_last_copy_wins(tmp_path):
    """With the same grade_id twice, is the later copy graded (as a top-to-bottom run would)?"""
    notebook = submission(CANONICAL_SOURCES)
    index = _solution_cell_index(notebook, "distribute_value")
    later = nbformat.from_dict(json.loads(json.dumps(notebook.cells[index])))
    later.source = later.source.replace("average = dz", "average = 2 * dz")
    later.id = "a-later-copy"
    notebook.cells.insert(index + 2, later)
    extraction = extract(_write(tmp_path, notebook))
    found = extraction.found["distribute_value"]
    assert "2 * dz" in found.source
    assert found.by == "name"
    assert "distribute_value" in extraction.notes[0]


def test_last_definition_wins_without_metadata(tmp_path):
    """Without metadata, is the last of several definitions graded?"""
    first = "def zero_pad(X, pad):\n    return X\n"
    last = "def zero_pad(X, pad):\n    return 'last'\n"
    notebook = new_notebook(cells=[new_code_cell(first), new_code_cell(last)])
    extraction = extract(_write(tmp_path, notebook))
    assert extraction.found["zero_pad"].source == last


def test_tagged_cells_and_test_cells_are_irrelevant(tmp_path):
    """Are skip-execution / raises-exception tags ignored, and test cells never extracted?"""
    notebook = submission(CANONICAL_SOURCES)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    extraction = extract(_write(tmp_path, notebook))
    assert list(extraction.cells) == list(EXERCISE_NAMES)
    assert all("_test(" not in source for source in extraction.cells.values())


def test_syntax_error_cell_is_still_found(tmp_path):
    """Is a solution with a syntax error extracted, so grading can report the syntax error?"""
    broken = "def zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (pad, pad)\n"
    extraction = extract(_write(tmp_path, submission({"zero_pad": broken}, metadata=False)))
    assert "zero_pad" in extraction.found


def test_magics_in_solution_cell_are_neutralised(tmp_path):
    """Do magics and shell lines in a solution cell come out commented, the cell valid Python?"""
    source = (
        "%load_ext autoreload\n!pip install numpy\nnp.pad?\n"
        + CANONICAL_SOURCES["zero_pad"]
        + "files = !ls\n"
    )
    extraction = extract(_write(tmp_path, submission({"zero_pad": source})))
    extracted = extraction.found["zero_pad"].source
    ast.parse(extracted)
    assert "# %load_ext autoreload" in extracted
    assert "# !pip install numpy" in extracted
    assert "# files = !ls" in extracted


def test_older_edition_example_is_graded_by_name(tmp_path):
    """Is the older edition's notebook read by function name, conv_single_step not found and
    the message explaining that convolve_window has a different contract?"""
    extraction = extract(EXAMPLES / "other_edition.ipynb")
    assert extraction.error is None
    assert set(extraction.found) == set(EXERCISE_NAMES) - {"conv_single_step"}
    assert all(found.by == "name" for found in extraction.found.values())
    assert NOTE_BY_NAME in extraction.notes
    assert NOTE_OLDER_EDITION in extraction.notes
    message = extraction.missing["conv_single_step"]
    assert "convolve_window" in message
    assert "different" in message
    assert all("%matplotlib" not in source for source in extraction.cells.values())


def test_older_edition_is_recognised_after_nbgrader_adds_its_test_cells(tmp_path):
    """Once nbgrader autograde has put the setup and test cells (with metadata) into the older
    edition's notebook, is it still recognised as such, with the convolve_window message?"""
    notebook = nbformat.read(EXAMPLES / "other_edition.ipynb", as_version=4)
    notebook.cells.insert(0, factories.setup_cell())
    notebook.cells += [factories.test_cell(each.name, each.points) for each in EXERCISES]
    extraction = extract(_write(tmp_path, notebook))
    assert NOTE_OLDER_EDITION in extraction.notes
    assert "convolve_window" in extraction.missing["conv_single_step"]


def test_older_edition_markers_in_a_current_solution_cell_are_not_the_older_edition(tmp_path):
    """Does a current notebook whose solution cell holds the older edition's markers (pasted
    from the web) get graded without the older-edition note?"""
    sources = dict(CANONICAL_SOURCES)
    sources["zero_pad"] = "### START CODE HERE ###\n" + sources["zero_pad"]
    extraction = extract(_write(tmp_path, submission(sources)))
    assert NOTE_OLDER_EDITION not in extraction.notes
    assert extraction.notes == ()


def test_nbformat_v3_notebook_is_read(tmp_path):
    """Is a notebook in the old nbformat 3 (worksheets) converted and read?"""
    from nbformat import v3

    cell = v3.new_code_cell(input=CANONICAL_SOURCES["zero_pad"])
    notebook = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[cell])])
    path = tmp_path / "v3.ipynb"
    path.write_text(v3.writes_json(notebook))
    extraction = extract(path)
    assert extraction.error is None
    assert "zero_pad" in extraction.found


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"this is not json {", "not valid JSON"),
        (bytes(range(256)) * 8, "not UTF-8"),
        (b"[1, 2, 3]", "JSON is a list"),
        (b'{"cells": []}', "no 'nbformat'"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', "no cells"),
        (b'{"nbformat": 99, "cells": [1]}', "could not be read"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (b'{"nbformat": 4, "cells": {"a": 1}}', "no cells"),
    ],
    ids=[
        "empty",
        "whitespace",
        "not-json",
        "binary",
        "json-list",
        "no-version",
        "no-cells",
        "v99",
        "deep-json",
        "cells-not-a-list",
    ],
)
def test_unreadable_files_give_an_error_not_an_exception(tmp_path, content, expected):
    """Does every kind of broken file give an Extraction with a clear error and nothing found?"""
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    extraction = extract(path)
    assert extraction.error is not None
    assert expected in extraction.error
    assert extraction.found == {}


def test_missing_file_and_directory_give_an_error(tmp_path):
    """Are a missing path and a directory reported, not raised?"""
    assert "cannot read" in extract(tmp_path / "nope.ipynb").error
    assert "directory" in extract(tmp_path).error


def test_digest_depends_only_on_the_graded_code(tmp_path):
    """Is the digest unchanged by markdown edits and test-cell outputs, changed by graded code?"""
    notebook = submission(CANONICAL_SOURCES)
    base = extract(_write(tmp_path, notebook, "a.ipynb")).digest()
    notebook.cells.insert(0, new_markdown_cell("my notes"))
    notebook.cells[-1].outputs = [nbformat.v4.new_output("stream", text="All tests passed")]
    assert extract(_write(tmp_path, notebook, "b.ipynb")).digest() == base
    index = _solution_cell_index(notebook, "zero_pad")
    notebook.cells[index].source += "\n# changed"
    assert extract(_write(tmp_path, notebook, "c.ipynb")).digest() != base


def test_neutralise_leaves_strings_and_python_alone():
    """Are lines inside multi-line strings and ordinary Python (`a != b`) left untouched?"""
    source = 'def f(a):\n    """\n    % of it\n    !bang\n    """\n    return a != 2\n'
    assert neutralise_magics(source) == source


def test_neutralise_indented_magic_keeps_the_block_valid():
    """Does an indented magic become `pass  # ...`, so its block still parses?"""
    source = "for i in range(3):\n    %time i\n"
    ast.parse(neutralise_magics(source))


def test_neutralise_non_python_cell_magic_comments_the_whole_cell():
    """Is a %%bash cell commented out entirely, and a %%time cell only on its first line?"""
    assert neutralise_magics("%%bash\necho hi\n") == "# %%bash\n# echo hi\n"
    assert neutralise_magics("%%time\nx = 1\n") == "# %%time\nx = 1\n"


def test_defined_functions_lists_top_level_defs_only():
    """Are only top-level defs listed (not nested ones), and syntax errors tolerated?"""
    assert defined_functions("def a():\n    def b():\n        pass\nasync def c(): pass") == [
        "a",
        "c",
    ]
    assert defined_functions("def a(:\n") == ["a"]


def test_trusted_setup_is_the_released_setup_cell():
    """Is TRUSTED_SETUP exactly the setup cell (grade_id "setup") of the released notebook?"""
    released = json.loads((EXAMPLES.parent / "assignment.ipynb").read_text())
    setup_cells = [
        cell
        for cell in released["cells"]
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"
    ]
    assert len(setup_cells) == 1
    source = setup_cells[0]["source"]
    assert ("".join(source) if isinstance(source, list) else source) == TRUSTED_SETUP


def test_solution_cell_without_a_def_is_still_sent(tmp_path):
    """Is a solution cell that defines the function without a top-level def (an assignment)
    graded from its cell, not declared "not found" by extraction?"""
    source = "zero_pad = lambda X, pad: np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))"
    extraction = extract(_write(tmp_path, submission({**CANONICAL_SOURCES, "zero_pad": source})))
    assert extraction.found["zero_pad"].by == "metadata"
    assert "lambda" in extraction.found["zero_pad"].source


@pytest.mark.parametrize(
    "hostile", ["x = " + "-" * 1_000_000 + "1", "x = a" + ".b" * 200_000, "x = '\0'\0"]
)
def test_code_that_crashes_the_parser_does_not_crash_extraction(tmp_path, hostile):
    """Does code that makes ast.parse raise MemoryError / RecursionError / ValueError still give
    an extraction (the cell found by its def), never an exception?"""
    source = CANONICAL_SOURCES["zero_pad"] + "\n" + hostile + "\n"
    extraction = extract(_write(tmp_path, submission({**CANONICAL_SOURCES, "zero_pad": source})))
    assert extraction.error is None
    assert "zero_pad" in extraction.found


# --- hostile notebooks: bounded work in the grader's process -------------------------------------

# A hostile notebook must cost the grader seconds, never minutes, and nothing of its own memory.
SECONDS = 10
GROWTH_MIB = 64
MIB = 2**20


def _sum_of_ones(chars: int) -> str:
    """``x = 1+1+...+1`` of about ``chars`` characters: single-character tokens, the code that costs
    Python's parser and tokenizer the most per byte."""
    return "x = " + "+".join(["1"] * (chars // 2))


def _notebook_json(notebook) -> dict:
    return json.loads(nbformat.writes(notebook))


def _code_cell_json(source, grade_id: str | None = None) -> dict:
    metadata = {"nbgrader": {"grade_id": grade_id, "solution": True}} if grade_id else {}
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": []}


def _with_solution(name: str, source) -> dict:
    """The canonical submission as JSON, the solution cell of ``name`` holding ``source``."""
    data = _notebook_json(submission(CANONICAL_SOURCES))
    cell = next(
        cell
        for cell in data["cells"]
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == name
    )
    cell["source"] = source
    return data


def _write_json(tmp_path, data: dict) -> Path:
    path = tmp_path / "hostile.ipynb"
    path.write_text(json.dumps(data, separators=(",", ":")))
    return path


_FRESH_GRADER = """
import json, resource, sys, time
from grader.extract import extract
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
extraction = extract(sys.argv[1])
seconds = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "error": extraction.error, "found": sorted(extraction.found), "missing": extraction.missing,
    "seconds": seconds, "growth_mib": (after - before) / 1024,
}))
"""


def _limit_memory() -> None:  # a runaway extraction must not take the test machine down with it
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


def _extract_in_a_fresh_grader(path: Path) -> dict:
    """extract(path) in a new Python process standing for the grader: what it found, how many
    seconds extract() took, and by how much (MiB) the peak RSS of that process grew meanwhile."""
    try:
        run = subprocess.run(
            [sys.executable, "-c", _FRESH_GRADER, str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=3 * SECONDS,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"extract() took more than {3 * SECONDS} s")
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["seconds"] < SECONDS
    assert result["growth_mib"] < GROWTH_MIB
    return result


def test_a_57_mib_sum_in_an_ungraded_cell_is_never_parsed(tmp_path):
    """Does a 57 MiB ``x = 1+1+...+1`` in a scratch cell (which cost the old in-process extract
    3 minutes and 12.8 GB) leave every exercise found, within seconds, the grader not growing?"""
    data = _notebook_json(submission(CANONICAL_SOURCES))
    data["cells"].append(_code_cell_json(_sum_of_ones(57 * MIB)))
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, data))
    assert result["error"] is None
    assert result["found"] == sorted(EXERCISE_NAMES)


def test_the_same_sum_in_a_graded_cell_fails_only_that_exercise(tmp_path):
    """Is a 57 MiB solution cell that exercise's "too large" (never parsed), the other seven
    found, within seconds?"""
    source = CANONICAL_SOURCES["zero_pad"] + "\n" + _sum_of_ones(57 * MIB)
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, _with_solution("zero_pad", source)))
    assert result["error"] is None
    assert result["found"] == sorted(set(EXERCISE_NAMES) - {"zero_pad"})
    assert list(result["missing"]) == ["zero_pad"]
    message = result["missing"]["zero_pad"]
    assert "zero_pad not graded" in message
    assert f"more than the {MAX_CELL_CHARS:,}" in message


def test_a_million_cells_is_the_submissions_error(tmp_path):
    """Is a notebook of a million (empty) code cells refused as a whole, within seconds?"""
    cell = {"cell_type": "code", "source": ""}
    data = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell] * 1_000_000}
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, data))
    assert "1,000,000 cells" in result["error"]
    assert f"{MAX_CELLS:,}" in result["error"]


@pytest.mark.parametrize("where", ["solution cell", "scratch cell", "cell found by name"])
def test_a_50_mib_string_cell(tmp_path, where):
    """Is a cell holding a 50 MiB string literal handled within seconds: the exercise it would be
    graded for fails alone ("too large"), and a scratch cell that names no graded function is
    simply never read?"""
    huge = f"s = '{'a' * (50 * MIB)}'\n"
    if where == "solution cell":
        data = _with_solution("conv_forward", CANONICAL_SOURCES["conv_forward"] + "\n" + huge)
    elif where == "scratch cell":
        data = _notebook_json(submission(CANONICAL_SOURCES))
        data["cells"].append(_code_cell_json(huge))
    else:  # metadata stripped: the last `def conv_forward` wins, and it is the huge cell
        data = _notebook_json(submission(CANONICAL_SOURCES, metadata=False))
        data["cells"].append(_code_cell_json(CANONICAL_SOURCES["conv_forward"] + "\n" + huge))
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, data))
    assert result["error"] is None
    if where == "scratch cell":
        assert result["found"] == sorted(EXERCISE_NAMES)
    else:
        assert "conv_forward not graded" in result["missing"]["conv_forward"]
        assert result["found"] == sorted(set(EXERCISE_NAMES) - {"conv_forward"})


def test_deeply_nested_json_is_the_submissions_error(tmp_path):
    """Is JSON nested 20 million deep (40 MB) refused as "nested", within seconds?"""
    path = tmp_path / "deep.ipynb"
    path.write_bytes(
        b'{"nbformat": 4, "metadata": ' + b"[" * 20_000_000 + b"]" * 20_000_000 + b', "cells": []}'
    )
    result = _extract_in_a_fresh_grader(path)
    assert "nested" in result["error"]


def test_a_source_of_millions_of_tiny_strings_fails_only_its_exercise(tmp_path):
    """Is a solution cell whose source is a list of 5 million two-character strings (10 MB of
    code once joined) that exercise's "too large", the others found, within seconds?"""
    source = [CANONICAL_SOURCES["pool_forward"], "\nx = 1"] + ["+1"] * 5_000_000
    result = _extract_in_a_fresh_grader(
        _write_json(tmp_path, _with_solution("pool_forward", source))
    )
    assert result["error"] is None
    assert "pool_forward not graded" in result["missing"]["pool_forward"]
    assert result["found"] == sorted(set(EXERCISE_NAMES) - {"pool_forward"})


def test_a_graded_cell_with_100k_nested_parentheses_is_found_quickly(tmp_path):
    """Is a solution cell with ``def zero_pad`` and 100,000 nested parentheses (which Python's
    parser refuses) still that exercise's cell, within seconds, so that grading reports the
    syntax error?"""
    nested = "x = " + "(" * 100_000 + "1" + ")" * 100_000
    source = "%time\n" + CANONICAL_SOURCES["zero_pad"] + "\n" + nested
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, _with_solution("zero_pad", source)))
    assert result["error"] is None
    assert result["found"] == sorted(EXERCISE_NAMES)


def test_a_notebook_beyond_the_childs_memory_is_the_submissions_error(tmp_path):
    """Is a 57 MiB notebook whose JSON needs more than the child's 1 GiB (20 million empty
    objects in a cell's metadata) the submission's "memory limit" error, within seconds?"""
    data = _notebook_json(submission(CANONICAL_SOURCES))
    data["cells"][-1]["metadata"]["bomb"] = [{}] * 20_000_000
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, data))
    assert "memory limit" in result["error"]
    assert result["found"] == []


def test_too_much_code_in_the_cells_parsed_is_the_submissions_error(tmp_path):
    """Do cells that name graded functions, each under the one-cell cap but together over
    ``MAX_PARSED_CHARS``, make the submission's error rather than minutes of parsing?"""
    data = _notebook_json(submission(CANONICAL_SOURCES))
    cell = _code_cell_json(
        CANONICAL_SOURCES["zero_pad"] + "\n" + _sum_of_ones(MAX_CELL_CHARS - MIB // 8)
    )
    data["cells"] += [cell] * (MAX_PARSED_CHARS // len(cell["source"]) + 1)
    result = _extract_in_a_fresh_grader(_write_json(tmp_path, data))
    assert "too much code" in result["error"]


def test_the_cpu_limit_stops_a_child_that_works_too_long(tmp_path, monkeypatch):
    """With a 1 s CPU limit, is a notebook that takes a few seconds of CPU to read (two solution
    cells of 1 MiB of single-character tokens, each with a magic line, so tokenized) stopped and
    reported as the submission's time limit?"""
    monkeypatch.setattr(grader.extract, "CHILD_CPU_SECONDS", 1)
    big = "%time\n{}\n" + _sum_of_ones(MAX_CELL_CHARS - 4096)
    data = _with_solution("zero_pad", big.format(CANONICAL_SOURCES["zero_pad"]))
    cell = next(c for c in data["cells"] if "def conv_forward" in "".join(c["source"]))
    cell["source"] = big.format(CANONICAL_SOURCES["conv_forward"])
    extraction = extract(_write_json(tmp_path, data))
    assert "time limit (1 s of CPU)" in extraction.error


def test_the_wall_clock_limit_stops_a_child_that_does_not_answer(tmp_path, monkeypatch):
    """Is a child that has not answered within the wall-clock limit killed, the notebook's error
    saying so?"""
    monkeypatch.setattr(grader.extract, "CHILD_WALL_SECONDS", 0.001)
    extraction = extract(_write(tmp_path, submission(CANONICAL_SOURCES)))
    assert "time limit (0.001 s)" in extraction.error
    assert extraction.found == {}


def test_a_lone_surrogate_in_a_solution_becomes_a_question_mark(tmp_path):
    """Is a lone surrogate (JSON "\\ud800", which UTF-8 cannot encode) graded as "?", so that the
    digest and the sandbox can encode the code?"""
    source = CANONICAL_SOURCES["zero_pad"] + "\nlabel = '\ud800'\n"
    extraction = extract(_write_json(tmp_path, _with_solution("zero_pad", source)))
    assert "label = '?'" in extraction.found["zero_pad"].source
    assert len(extraction.digest()) == 64


def test_links_and_fifos_are_refused_without_blocking(tmp_path):
    """Are a symbolic link (to a real notebook) and a FIFO (which blocks whoever opens it)
    refused through grader.intake, at once?"""
    real = _write(tmp_path, submission(CANONICAL_SOURCES))
    link = tmp_path / "link.ipynb"
    link.symlink_to(real)
    assert "symbolic link" in extract(link).error
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)
    assert "regular file" in extract(fifo).error


def test_extraction_json_round_trip(tmp_path):
    """Does an Extraction survive to_json / from_json unchanged (the child's answer)?"""
    notebook = submission(CANONICAL_SOURCES, metadata=False)
    del notebook.cells[3]
    extraction = extract(_write(tmp_path, notebook))
    assert extraction.found and extraction.missing and extraction.notes
    assert Extraction.from_json(extraction.to_json()) == extraction
    unreadable = Extraction(error="broken.ipynb is not a notebook")
    assert Extraction.from_json(unreadable.to_json()) == unreadable


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.update(extra=1),
        lambda data: data["found"].update(rm_rf={"source": "", "cell_index": 0, "by": "name"}),
        lambda data: data["found"]["zero_pad"].update(cell_index=True),
        lambda data: data["found"]["zero_pad"].update(by="guess"),
        lambda data: data["missing"].update(zero_pad="both"),
        lambda data: data.update(error="found and error"),
        lambda data: data.update(notes="not a list"),
    ],
)
def test_extraction_from_json_is_strict(damage):
    """Is anything but exactly an Extraction's JSON refused with ValueError?"""
    data = json.loads(
        Extraction(found={"zero_pad": FoundCode("def zero_pad(): 0", 2, "metadata")}).to_json()
    )
    damage(data)
    with pytest.raises(ValueError, match="not an Extraction"):
        Extraction.from_json(json.dumps(data))
