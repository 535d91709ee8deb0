"""Tests of grader/hidden_checks.py: deterministic seeded cases, and verdicts that fail every
catalogued mistake, pass every correct implementation and never trust what comes back."""

from __future__ import annotations

import copy
import functools
import re
import warnings

import numpy as np
import pytest

import public_tests
from grader import hidden_checks as hc
from grader.calls import Call, Outcome, Unsupported
from grader.exercises import EXERCISE_NAMES
from grader.verdict import CheckVerdict, exercise_score
from tests.catalogue import Variant, load
from tests.catalogue.canonical import CANONICAL
from tests.catalogue.correct import CORRECT
from tests.catalogue.mistakes import MISTAKES
from tests.test_public_tests import GRADIENTS, contradictions

SEED = 20241121


def run_in_process(function, checks) -> list[list[Outcome]]:
    """What the sandbox would report, computed here: fine for our own catalogue code only."""
    outcomes = []
    for check in checks:
        row = []
        for case in check.cases:
            args = copy.deepcopy(case.call.args)
            try:
                returned = function(*args)
            except Exception as error:
                row.append(Outcome(error=f"{type(error).__name__}: {error}", args_after=args))
            else:
                row.append(Outcome(returned=returned, args_after=args))
        outcomes.append(row)
    return outcomes


def reference_outcomes(exercise, checks) -> list[list[Outcome]]:
    return [
        [
            Outcome(
                returned=hc.expected_output(exercise, case.call.args), args_after=case.call.args
            )
            for case in check.cases
        ]
        for check in checks
    ]


def same_outcome(exercise, checks, outcome: Outcome) -> list[list[Outcome]]:
    return [[outcome for _ in check.cases] for check in checks]


def function_of(variant: Variant):
    namespace = {"np": np}
    for name, canonical in CANONICAL.items():
        if name != variant.exercise:
            load(canonical, namespace)
    return load(variant, namespace)


def plain(value) -> bool:
    """Is ``value`` plain data as grader.calls.Call allows?"""
    if type(value) is np.ndarray:
        return value.dtype in (np.float64, np.int64, np.bool_)
    if type(value) in (int, float, bool, str) or value is None:
        return True
    if type(value) in (tuple, list):
        return all(plain(item) for item in value)
    if type(value) is dict:
        return all(type(key) is str and plain(item) for key, item in value.items())
    return False


# --- cases -----------------------------------------------------------------------------------


def fingerprint(checks) -> list:
    return [
        (
            check.name,
            [(case.hidden, sorted(case.tags), repr(case.call.args)) for case in check.cases],
        )
        for check in checks
    ]


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_checks_are_deterministic_per_seed_and_differ_across_seeds(exercise):
    """Does one seed always give the same cases, and another seed other hidden inputs?"""
    first = fingerprint(hc.hidden_checks(exercise, SEED))
    assert first == fingerprint(hc.hidden_checks(exercise, SEED))
    assert first != fingerprint(hc.hidden_checks(exercise, SEED + 1))


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
@pytest.mark.parametrize("seed", [0, SEED, 2**63 - 1])
def test_every_check_has_hidden_cases_and_plain_data(exercise, seed):
    """Has every check a hidden case, a unique name, true tags and plain-data arguments?"""
    checks = hc.hidden_checks(exercise, seed)
    names = [check.name for check in checks]
    assert len(names) == len(set(names))
    assert any(not case.hidden for check in checks for case in check.cases)
    for check in checks:
        assert any(case.hidden for case in check.cases), check.name
        for case in check.cases:
            assert isinstance(case.call, Call) and plain(case.call.args)
            assert case.tags == hc.case_tags(exercise, case.call.args)


@pytest.mark.parametrize("exercise", ["pool_forward", "pool_backward", "create_mask_from_window"])
@pytest.mark.parametrize("seed", [0, 1, 2, SEED])
def test_no_ties_in_pooling_and_mask_inputs(exercise, seed):
    """Are the inputs whose maximum matters free of ties?"""
    for check in hc.hidden_checks(exercise, seed):
        for case in check.cases:
            args = case.call.args
            values = args[1][0] if exercise == "pool_backward" else args[0]
            assert np.unique(values).size == values.size


def test_edge_cases_are_present():
    """Do the hidden cases include pad = 0, uneven strides, stride > f, f = 1, f = n, m = 1,
    n_C = 1 and non-square inputs where they apply?"""
    wanted = {"pad=0", "uneven", "stride>f", "f=1", "f=n", "m=1", "n_C=1", "non-square"}
    for exercise in ("conv_forward", "conv_backward"):
        hidden = set().union(
            *(c.tags for check in hc.hidden_checks(exercise, SEED) for c in check.cases if c.hidden)
        )
        assert wanted <= hidden, (exercise, wanted - hidden)
    for exercise in ("pool_forward", "pool_backward"):
        hidden = set().union(
            *(c.tags for check in hc.hidden_checks(exercise, SEED) for c in check.cases if c.hidden)
        )
        assert wanted - {"pad=0"} <= hidden, (exercise, wanted - hidden)


def test_rule_is_documented():
    """Do the module and describe_rule state the scoring rule, credit for right values only?"""
    assert "checks passed / checks" in hc.describe_rule()
    assert "returned values match the reference" in hc.describe_rule()
    assert "checks passed / checks" in hc.__doc__
    assert "earn nothing alone" in hc.__doc__


@pytest.mark.parametrize("seed", [0, SEED, 2**63 - 1])
def test_pad_0_check_has_an_anchor_that_return_X_fails(seed):
    """Does zero_pad's "pad = 0" check hold a pad > 0 case, where `return X` is wrong (with
    pad = 0 the right answer is X itself)?"""
    (check,) = [c for c in hc.hidden_checks("zero_pad", seed) if c.name == "pad = 0"]
    assert any(case.call.args[1] > 0 for case in check.cases if case.hidden)


# --- judging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_reference_outcomes_pass_every_check(exercise):
    """Does the reference itself pass every check, with no hint?"""
    checks = hc.hidden_checks(exercise, SEED)
    verdicts = hc.judge(exercise, checks, reference_outcomes(exercise, checks))
    assert [v.name for v in verdicts] == [c.name for c in checks]
    assert all(v == CheckVerdict(v.name, True, None) for v in verdicts)


@functools.cache
def judged_mistake(variant: Variant):
    """(checks, verdicts) of one catalogued mistake on the hidden checks of SEED."""
    checks = hc.hidden_checks(variant.exercise, SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # wrong code averages empty slices
        outcomes = run_in_process(function_of(variant), checks)
    return checks, hc.judge(variant.exercise, checks, outcomes)


@pytest.mark.parametrize("variant", MISTAKES, ids=lambda v: f"{v.exercise}:{v.label}")
def test_mistake_fails_some_check_with_a_hint(variant: Variant):
    """Does every catalogued mistake lose points, each failed check saying why without numbers?"""
    checks, verdicts = judged_mistake(variant)
    failed = [v for v in verdicts if not v.passed]
    assert failed
    assert exercise_score(10, verdicts) < 10
    hidden_shapes = {
        str(case.call.args[0].shape)
        for check in checks
        for case in check.cases
        if case.hidden and type(case.call.args[0]) is np.ndarray and case.call.args[0].size > 1
    }
    for verdict in failed:
        assert verdict.hint
        assert not re.search(r"\d\.\d", verdict.hint), verdict.hint  # no values quoted
        assert not any(shape in verdict.hint for shape in hidden_shapes), verdict.hint


@pytest.mark.parametrize(
    "variant",
    CORRECT + tuple(CANONICAL.values()),
    ids=lambda v: f"{v.exercise}:{v.label}",
)
def test_correct_implementation_passes_every_check(variant: Variant):
    """Does every correct implementation earn full marks on hidden cases too?"""
    checks = hc.hidden_checks(variant.exercise, SEED)
    verdicts = hc.judge(variant.exercise, checks, run_in_process(function_of(variant), checks))
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


def test_targeted_hints_reach_the_grader():
    """Do most catalogued hints also appear in the hidden-check verdicts? A check whose failing
    cases all raised says that it raised instead of a pattern over values that never came back
    (the public test shows the exception next to its hint), and that counts too."""
    hinted = [variant for variant in MISTAKES if variant.hint]
    reached = 0
    for variant in hinted:
        _, verdicts = judged_mistake(variant)
        failed = [v for v in verdicts if not v.passed]
        reached += any(variant.hint in v.hint for v in failed) or all(
            " raised " in v.hint and "Hint:" not in v.hint for v in failed
        )
    assert reached >= 0.95 * len(hinted), f"{reached} of {len(hinted)}"


@pytest.mark.parametrize(
    "error, words",
    [("NotImplementedError", "not implemented"), ("timeout", "took too long")],
)
def test_error_outcomes_fail_every_check(error, words):
    """Do errors and timeouts fail every check (no "inputs unchanged" credit for a stub)?"""
    checks = hc.hidden_checks("conv_forward", SEED)
    verdicts = hc.judge(
        "conv_forward", checks, same_outcome("conv_forward", checks, Outcome(error=error))
    )
    assert not any(v.passed for v in verdicts)
    assert all(words in v.hint for v in verdicts)


def test_unsupported_return_fails_with_its_type_name():
    """Is a returned object that is not plain data refused, naming its type?"""
    checks = hc.hidden_checks("zero_pad", SEED)
    outcome = Outcome(returned=Unsupported("Tensor"), args_after=())
    verdicts = hc.judge("zero_pad", checks, same_outcome("zero_pad", checks, outcome))
    assert not any(v.passed for v in verdicts)
    assert "Tensor" in verdicts[0].hint


def test_nan_never_equals_anything():
    """Does a NaN anywhere in an output fail the values, even if NaN is expected nowhere?"""
    checks = hc.hidden_checks("pool_backward", SEED)
    outcomes = reference_outcomes("pool_backward", checks)
    for row in outcomes:
        for index, outcome in enumerate(row):
            poisoned = outcome.returned.copy()
            poisoned.flat[0] = np.nan
            row[index] = Outcome(returned=poisoned, args_after=outcome.args_after)
    verdicts = {v.name: v for v in hc.judge("pool_backward", checks, outcomes)}
    assert not verdicts["max mode"].passed and "NaN" in verdicts["max mode"].hint
    assert not verdicts["output shape"].passed  # the right structure earns nothing alone
    assert "NaN" in verdicts["output shape"].hint


def test_wrong_tuple_length_fails():
    """Does conv_backward returning two gradients fail, saying how many items came back?"""
    checks = hc.hidden_checks("conv_backward", SEED)
    outcomes = reference_outcomes("conv_backward", checks)
    outcomes = [
        [Outcome(returned=o.returned[:2], args_after=o.args_after) for o in row] for row in outcomes
    ]
    verdicts = hc.judge("conv_backward", checks, outcomes)
    assert not any(v.passed for v in verdicts)
    assert "returned the wrong number of items; expected 3" in verdicts[0].hint


def test_lying_array_subclass_is_not_trusted():
    """Is an ndarray subclass whose comparisons always say True refused?"""

    class Agreeable(np.ndarray):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

    checks = hc.hidden_checks("zero_pad", SEED)
    outcomes = [
        [
            Outcome(returned=np.zeros((1, 1, 1, 1)).view(Agreeable), args_after=c.call.args)
            for c in check.cases
        ]
        for check in checks
    ]
    verdicts = hc.judge("zero_pad", checks, outcomes)
    assert not any(v.passed for v in verdicts)
    assert "subclass" in verdicts[0].hint


def test_lying_object_is_not_trusted():
    """Is an arbitrary object whose __eq__ always says True refused?"""

    class Liar:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    checks = hc.hidden_checks("conv_single_step", SEED)
    outcome = Outcome(returned=Liar(), args_after=None)
    verdicts = hc.judge(
        "conv_single_step", checks, same_outcome("conv_single_step", checks, outcome)
    )
    assert not any(v.passed for v in verdicts)


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_right_structure_with_wrong_values_fails_every_check(exercise):
    """Do the reference's outputs with every float replaced by zeros (right shapes, the cache
    passed back, the inputs untouched) fail every check, structural ones included?"""
    checks = hc.hidden_checks(exercise, SEED)
    outcomes = [
        [Outcome(returned=zeroed(o.returned), args_after=o.args_after) for o in row]
        for row in reference_outcomes(exercise, checks)
    ]
    verdicts = hc.judge(exercise, checks, outcomes)
    assert not any(v.passed for v in verdicts), [v.name for v in verdicts if v.passed]


def zeroed(value):
    """``value`` with its main output(s) as zeros of the same shape and dtype; a forward
    function's cache is kept as it is."""
    if type(value) is tuple and len(value) == 2 and type(value[1]) is tuple:
        return zeroed(value[0]), value[1]
    if type(value) is tuple:
        return tuple(zeroed(item) for item in value)
    if type(value) is np.ndarray:
        return np.zeros_like(value)
    return 0.0


def outcomes_raising_on_hidden_cases(exercise, checks, error: str) -> list[list[Outcome]]:
    """The reference's outcomes on public cases, ``error`` on every hidden case."""
    return [
        [
            Outcome(error=error, args_after=case.call.args)
            if case.hidden
            else Outcome(returned=hc.expected_output(exercise, case.call.args))
            for case in check.cases
        ]
        for check in checks
    ]


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_raising_only_on_hidden_cases_is_said_plainly(exercise):
    """Is a function that passes the public cases and raises on hidden ones told that it raised
    and of which type, never a pattern over values it did not return, nor its own message?"""
    checks = hc.hidden_checks(exercise, SEED)
    error = "ValueError: operands could not be broadcast together; secret 0.123"
    verdicts = hc.judge(exercise, checks, outcomes_raising_on_hidden_cases(exercise, checks, error))
    for verdict in verdicts:
        assert not verdict.passed
        assert verdict.hint == (
            f"{exercise} raised an exception on hidden cases (ValueError);"
            " it passes the public cases"
        )


def test_hidden_error_names_only_built_in_exceptions():
    """Does a hidden case's error show only a built-in exception's name, never a class name of
    the student's (which could carry hidden data) or the message?"""
    checks = hc.hidden_checks("conv_forward", SEED)
    outcomes = outcomes_raising_on_hidden_cases("conv_forward", checks, "Leak_0_123: secret")
    for verdict in hc.judge("conv_forward", checks, outcomes):
        assert "Leak" not in verdict.hint and "secret" not in verdict.hint
        assert "raised an exception on hidden cases (an exception)" in verdict.hint


def test_public_error_message_may_be_diagnosed():
    """Is a public case's own message still diagnosed (a KeyError on 'f' in conv_forward)?"""
    checks = hc.hidden_checks("conv_forward", SEED)
    outcomes = same_outcome("conv_forward", checks, Outcome(error="KeyError: 'f'"))
    verdicts = {v.name: v for v in hc.judge("conv_forward", checks, outcomes)}
    assert "comes from W.shape" in verdicts["values"].hint  # a check with public cases
    hidden_only = verdicts["inputs unchanged"].hint  # a check of hidden cases only
    assert hidden_only == "conv_forward raised an exception on hidden cases (KeyError)"


def test_some_cases_raise_some_return_wrong_values():
    """When some failing cases raised and others returned wrong values, does the hint describe
    the wrong values, say that it also raised, and diagnose only the values?"""
    checks = hc.hidden_checks("pool_forward", SEED)
    outcomes = reference_outcomes("pool_forward", checks)
    for row, check in zip(outcomes, checks, strict=True):
        for index, case in enumerate(check.cases):
            if case.hidden and case.call.args[0].shape[0] > 1:  # several examples: it raises
                row[index] = Outcome(error="IndexError: index 1", args_after=case.call.args)
            elif len(case.call.args) > 2 and case.call.args[2] == "average":  # max's values
                max_args = (*case.call.args[:2], "max")
                row[index] = Outcome(
                    returned=hc.expected_output("pool_forward", max_args),
                    args_after=case.call.args,
                )
    verdicts = {v.name: v for v in hc.judge("pool_forward", checks, outcomes)}
    hint = verdicts["average pooling"].hint
    assert hint.startswith("pool_forward(...)[0] (A) has the right shape but wrong values")
    assert "it also raised IndexError on other cases" in hint
    assert "average mode returns the max result" in hint
    assert "index 1" not in hint


def test_modified_inputs_fail_only_inputs_unchanged():
    """Does an in-place change of an input cost the "inputs unchanged" check and nothing else?"""
    checks = hc.hidden_checks("create_mask_from_window", SEED)
    outcomes = reference_outcomes("create_mask_from_window", checks)
    outcomes = [
        [Outcome(returned=o.returned, args_after=(o.args_after[0] * 0,)) for o in row]
        for row in outcomes
    ]
    verdicts = {v.name: v for v in hc.judge("create_mask_from_window", checks, outcomes)}
    assert not verdicts["inputs unchanged"].passed
    assert "modified its input in place (x changed)" in verdicts["inputs unchanged"].hint
    assert all(v.passed for name, v in verdicts.items() if name != "inputs unchanged")


def test_unknown_args_after_fails_inputs_unchanged():
    """Is "inputs unchanged" refused when the sandbox could not report the inputs?"""
    checks = hc.hidden_checks("distribute_value", SEED)
    outcomes = [
        [Outcome(returned=o.returned, args_after=None) for o in row]
        for row in reference_outcomes("distribute_value", checks)
    ]
    verdicts = hc.judge("distribute_value", checks, outcomes)
    assert all(v.passed for v in verdicts)  # distribute_value has no "inputs unchanged" check
    checks = hc.hidden_checks("zero_pad", SEED)
    outcomes = [
        [Outcome(returned=o.returned, args_after=None) for o in row]
        for row in reference_outcomes("zero_pad", checks)
    ]
    verdicts = {v.name: v for v in hc.judge("zero_pad", checks, outcomes)}
    assert not verdicts["inputs unchanged"].passed


def test_outcomes_must_match_checks():
    """Is a mismatch between checks and outcomes a loud error, not a silent verdict?"""
    checks = hc.hidden_checks("zero_pad", SEED)
    with pytest.raises(ValueError):
        hc.judge("zero_pad", checks, reference_outcomes("zero_pad", checks)[:-1])


# ---------------------------------------------------------------------------------------------
# Hints that are never wrong (issue 10), on the hidden cases.


def test_modified_input_is_said_before_any_diagnosis_of_values():
    """When an input is changed in place and values are wrong too (pool_backward writing into
    the cache's A_prev, then reading its zeros), does every failed check say so, rather than
    diagnose the values ("fails only in max mode")?"""
    variant = next(
        v
        for v in MISTAKES
        if (v.exercise, v.label) == ("pool_backward", "gradient-written-into-A_prev")
    )
    _, verdicts = judged_mistake(variant)
    failed = [v for v in verdicts if not v.passed]
    assert len(failed) > 1
    for verdict in failed:
        assert "modified its input in place (cache changed)" in verdict.hint, verdict
        assert "max mode" not in verdict.hint


@pytest.mark.parametrize("variant", MISTAKES, ids=lambda v: f"{v.exercise}:{v.label}")
def test_grader_hint_never_contradicts_failing_cases(variant: Variant):
    """Does no failed check's diagnosis claim what the exercise's failing hidden cases refute
    (the rules of tests/test_public_tests.py, ``contradictions``, applied to every case the
    grader judged)?"""
    checks = hc.hidden_checks(variant.exercise, SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # wrong code averages empty slices
        outcomes = run_in_process(function_of(variant), checks)
    verdicts = hc.judge(variant.exercise, checks, outcomes)
    rows = []
    for check, check_outcomes in zip(checks, outcomes, strict=True):
        for case, outcome in zip(check.cases, check_outcomes, strict=True):
            got = hc._returned(outcome, case.hidden)
            expected = hc._expected(variant.exercise, case)
            args = case.call.args

            def compare(aspect, got=got, expected=expected, args=args):
                return public_tests.compare_output(variant.exercise, args, got, expected, aspect)

            right = {name for name in GRADIENTS if compare(name) is None}
            rows.append((case, got, compare("values"), right))
    for verdict in verdicts:
        if verdict.passed or "Hint: " not in verdict.hint:
            continue
        summary, diagnosis = verdict.hint.split(". Hint: ", 1)
        headline = public_tests.Mismatch(summary.split(" ", 1)[0], "values", summary, summary)
        found = contradictions(variant.exercise, diagnosis, rows, headline)
        assert found == [], (verdict.name, verdict.hint)
