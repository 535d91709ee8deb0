"""Tests of grader.extract: which code gets graded, from well-formed and damaged notebooks."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.exercises import EXERCISE_NAMES, EXERCISES
from grader.extract import (
    NOTE_BY_NAME,
    NOTE_OLDER_EDITION,
    TRUSTED_SETUP,
    defined_functions,
    extract,
    neutralise_magics,
)
from tests import factories
from tests.catalogue.canonical import CANONICAL
from tests.factories import submission, write

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
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
