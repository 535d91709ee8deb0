"""Tests of tests/catalogue/stubs.py against the grader: code that computes nothing from its
inputs (zeros of the right shape, an input passed back, a constant, random values) scores 0 on
its exercise, judged exactly as the grader judges, on several seeds and through the sandbox."""

from __future__ import annotations

import warnings

import pytest

from grader import hidden_checks as hc
from grader.exercises import EXERCISE_NAMES, EXERCISES
from grader.grade import grade_notebook
from grader.verdict import exercise_score
from tests.catalogue.stubs import STUBS
from tests.factories import submission, write
from tests.test_hidden_checks import function_of, run_in_process

SEEDS = (7, 20250601, 2**62 + 11)  # none of them used elsewhere: see judged_stubs
POINTS = {exercise.name: float(exercise.points) for exercise in EXERCISES}


def _stub_id(variant) -> str:
    return f"{variant.exercise}/{variant.label}"


@pytest.fixture(scope="module")
def judged_stubs() -> dict:
    """{(stub id, seed): verdicts}. Every stub runs before anything is judged: judging computes
    the reference's outputs and frees them, and a later ``np.empty`` stub could be handed that
    very memory, right values included, which no sandboxed submission could ever see."""
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for variant in STUBS:
            function = function_of(variant)
            for seed in SEEDS:
                checks = hc.hidden_checks(variant.exercise, seed)
                runs[_stub_id(variant), seed] = (variant, checks, run_in_process(function, checks))
    return {
        key: hc.judge(variant.exercise, checks, outcomes)
        for key, (variant, checks, outcomes) in runs.items()
    }


def test_the_catalogue_covers_every_exercise():
    """Are there at least 15 stubs, with unique labels, two or more for every exercise?"""
    assert len(STUBS) >= 15
    assert len({_stub_id(variant) for variant in STUBS}) == len(STUBS)
    for name in EXERCISE_NAMES:
        assert sum(variant.exercise == name for variant in STUBS) >= 2, name


@pytest.mark.parametrize("variant", STUBS, ids=_stub_id)
@pytest.mark.parametrize("seed", SEEDS)
def test_stub_scores_zero(judged_stubs, variant, seed):
    """Does this stub fail every check of its exercise, hence score 0?"""
    verdicts = judged_stubs[_stub_id(variant), seed]
    passed = [verdict.name for verdict in verdicts if verdict.passed]
    assert passed == [], f"{_stub_id(variant)} passed {passed}"
    assert exercise_score(POINTS[variant.exercise], verdicts) == 0


def test_a_notebook_of_stubs_scores_zero_through_the_sandbox(tmp_path):
    """Does a notebook with a stub in every exercise (zeros with the cache passed back,
    `return 0.0`, `return X`, ...: the kind that scored 40.49 of 140 when structure earned
    credit) score 0 in total through the sandboxed grader?"""
    deterministic = ("returns-X", "returns-zero", "zeros-with-the-cache", "zeros-like-the-cache",
                     "all-true", "full-of-dz", "zeros-like-A_prev")  # fmt: skip
    sources = {
        variant.exercise: variant.source for variant in STUBS if variant.label in deterministic
    }
    assert set(sources) == set(EXERCISE_NAMES)
    path = tmp_path / "stubs.ipynb"
    write(submission(sources), path)
    grade = grade_notebook(path)
    assert grade.error is None
    scores = {verdict.name: (verdict.score, verdict.status) for verdict in grade.exercises}
    assert scores == {name: (0.0, "graded") for name in EXERCISE_NAMES}
    assert grade.total == 0
