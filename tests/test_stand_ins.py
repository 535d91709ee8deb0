"""Tests of grader/stand_ins.py: are the stand-ins the exercises other exercises call, do they
compute what the reference computes, and does no process get the stand-in of its own exercise?"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from grader import reference, stand_ins
from grader.exercises import EXERCISE_NAMES
from tests.catalogue.canonical import CANONICAL


def test_stand_in_names_are_exactly_the_exercises_other_solutions_call():
    """Are the stand-ins the four exercises that other canonical solutions call by name?"""
    called = set()
    for name, variant in CANONICAL.items():
        for node in ast.walk(ast.parse(variant.source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in EXERCISE_NAMES
                and node.func.id != name
            ):
                called.add(node.func.id)
    assert set(stand_ins.STAND_IN_NAMES) == called


@pytest.mark.parametrize("name", stand_ins.STAND_IN_NAMES)
def test_stand_ins_agree_with_the_reference(name):
    """Does each stand-in compute what the trusted reference computes?"""
    rng = np.random.default_rng(5)
    args = {
        "zero_pad": (rng.standard_normal((2, 3, 4, 2)), 2),
        "conv_single_step": (rng.standard_normal((3, 3, 2)),) * 2
        + (rng.standard_normal((1, 1, 1)),),
        "create_mask_from_window": (rng.standard_normal((3, 2)),),
        "distribute_value": (2.5, (2, 3)),
    }[name]
    got, expected = stand_ins.stand_in(name)(*args), getattr(reference, name)(*args)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.asarray(got).dtype == np.asarray(expected).dtype


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_no_exercise_receives_its_own_stand_in(name):
    """Does the job of the process grading ``name`` hold every stand-in but its own?"""
    given = stand_ins.stand_ins_for(name)
    assert name not in given
    assert set(given) == set(stand_ins.STAND_IN_NAMES) - {name}
    assert all(f"def {name}(" not in source for source in given.values())


def test_the_stand_ins_are_not_staged_into_the_sandbox():
    """Is grader/stand_ins.py (or any stand-in source) absent from the files the sandbox sees?"""
    from grader.bubblewrap import GRADER_DIR, HARNESS_FILES

    for file in HARNESS_FILES:
        text = (GRADER_DIR / file).read_text()
        for name, source in stand_ins.STAND_IN_SOURCES.items():
            assert source.strip().splitlines()[-1].strip() not in text, (file, name)
