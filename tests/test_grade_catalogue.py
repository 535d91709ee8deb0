"""The whole grader against the catalogues: every correct variant earns full marks on its exercise,
every realistic mistake loses points on its own exercise and nowhere else.

One notebook per entry would cost one sandbox run each (~0.5 s, 130+ entries), so entries are
packed into shared notebooks and graded two at a time with ``grade_many``. Packing rules:

- at most one entry per exercise in a notebook (each exercise has one solution cell);
- for mistakes, never a mistake in an exercise together with a mistake in an exercise that calls
  it (conv_forward calls zero_pad and conv_single_step, conv_backward calls zero_pad,
  pool_backward calls create_mask_from_window and distribute_value; read from the canonical
  sources). So every exercise that could inherit a mistake (its callers) is canonical in that
  mistake's notebook, and "nowhere else" is checked on every exercise without a mistake of its
  own in that notebook. (Two mistakes of unrelated exercises sharing a notebook cannot be told
  apart by score; the harness runs each exercise with stand-ins for the others, which is what
  makes that packing sound.)

Every other exercise of a notebook holds the canonical solution.
"""

from __future__ import annotations

import pytest

from grader.exercises import EXERCISE_NAMES, EXERCISES
from grader.grade import grade_many
from tests.catalogue import Variant
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.correct import CORRECT
from tests.catalogue.mistakes import MISTAKES
from tests.factories import submission, write

POINTS = {exercise.name: float(exercise.points) for exercise in EXERCISES}
CALLS = {
    name: {other for other in EXERCISE_NAMES if other != name and f"{other}(" in variant.source}
    for name, variant in CANONICAL.items()
}  # {exercise: the exercises it calls}


def _related(first: str, second: str) -> bool:
    return first in CALLS[second] or second in CALLS[first]


def pack(variants: tuple[Variant, ...], *, separate_callers: bool) -> list[list[Variant]]:
    """Greedy first-fit packing of variants into notebooks (see the module docstring)."""
    groups: list[list[Variant]] = []
    for variant in variants:
        for group in groups:
            if any(member.exercise == variant.exercise for member in group):
                continue
            if separate_callers and any(
                _related(member.exercise, variant.exercise) for member in group
            ):
                continue
            group.append(variant)
            break
        else:
            groups.append([variant])
    return groups


CORRECT_GROUPS = pack(CORRECT, separate_callers=False)
MISTAKE_GROUPS = pack(MISTAKES, separate_callers=True)


def _entry_id(variant: Variant) -> str:
    return f"{variant.exercise}/{variant.label}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, tuple[list[Variant], dict]]:
    """{entry id: (the entries of its notebook, {exercise: ExerciseVerdict})}, graded once."""
    folder = tmp_path_factory.mktemp("catalogue")
    groups = [("correct", group) for group in CORRECT_GROUPS]
    groups += [("mistakes", group) for group in MISTAKE_GROUPS]
    paths = []
    for index, (kind, group) in enumerate(groups):
        sources = {name: variant.source for name, variant in CANONICAL.items()}
        sources.update({variant.exercise: variant.source for variant in group})
        path = folder / f"{kind}_{index:03d}.ipynb"
        write(submission(sources), path)
        paths.append(path)
    grades = grade_many(paths, jobs=2, progress=False)
    results = {}
    for (_, group), grade in zip(groups, grades, strict=True):
        assert grade.error is None, grade.error
        verdicts = {verdict.name: verdict for verdict in grade.exercises}
        for variant in group:
            results[_entry_id(variant)] = (group, verdicts)
    return results


def test_catalogues_are_big_enough():
    """Are there enough entries for the claims below to mean something (>= 15 and >= 60)?"""
    assert len(CORRECT) >= 15
    assert len(MISTAKES) >= 60
    assert len({_entry_id(variant) for variant in CORRECT + MISTAKES}) == len(CORRECT + MISTAKES)


def test_packing_keeps_callers_apart():
    """Does every mistake notebook leave each mistake's callers and callees canonical?"""
    for group in MISTAKE_GROUPS:
        exercises = [variant.exercise for variant in group]
        assert len(set(exercises)) == len(exercises)
        for first in exercises:
            for second in exercises:
                assert first == second or not _related(first, second), group
    assert CALLS["conv_forward"] == {"zero_pad", "conv_single_step"}
    assert CALLS["pool_backward"] == {"create_mask_from_window", "distribute_value"}


@pytest.mark.parametrize("variant", CORRECT, ids=_entry_id)
def test_correct_variant_gets_full_marks(graded, variant):
    """Does this correct-but-different implementation earn full marks on its exercise?"""
    _, verdicts = graded[_entry_id(variant)]
    verdict = verdicts[variant.exercise]
    failed = [(check.name, check.hint) for check in verdict.checks if not check.passed]
    assert verdict.score == POINTS[variant.exercise], (verdict.status, verdict.message, failed)


@pytest.mark.parametrize("variant", MISTAKES, ids=_entry_id)
def test_mistake_loses_points_only_on_its_exercise(graded, variant):
    """Does this mistake lose points on its own exercise, and every exercise without a mistake
    in the same notebook keep full marks?"""
    group, verdicts = graded[_entry_id(variant)]
    own = verdicts[variant.exercise]
    assert own.score < POINTS[variant.exercise], f"{_entry_id(variant)} passed every check"
    mistaken = {member.exercise for member in group}
    for name in set(EXERCISE_NAMES) - mistaken:
        verdict = verdicts[name]
        assert verdict.score == POINTS[name], (
            f"{_entry_id(variant)} cost points on {name}: {verdict.status} {verdict.message} "
            f"{[(check.name, check.hint) for check in verdict.checks if not check.passed]}"
        )


def test_every_entry_was_graded(graded):
    """Was every catalogue entry placed in exactly one graded notebook?"""
    assert set(graded) == {_entry_id(variant) for variant in CORRECT + MISTAKES}
