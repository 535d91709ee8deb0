"""Tests of authoring/public_data.py and the committed public_tests_data.npz it produces."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import public_tests
from authoring import public_data
from grader import reference
from grader.exercises import EXERCISE_NAMES

TAGS = {
    "pad=0", "pad>0", "stride=1", "stride>1", "uneven", "stride>f", "overlap", "f=1", "f=n",
    "non-square", "m=1", "m>1", "n_C=1", "mode=max", "mode=average",
}  # fmt: skip


def test_committed_file_is_up_to_date(capsys):
    """Does ``python -m authoring.public_data --check`` pass on the committed file?"""
    assert public_data.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_fails_on_a_changed_file(tmp_path, capsys):
    """Does --check exit non-zero when one expected value in the file is changed?"""
    manifest, arrays = public_data.build()
    key = manifest["cases"]["conv_forward"][0]["expected"]["tuple"][0]["array"]
    arrays = dict(arrays)
    arrays[key] = arrays[key] + 1e-6
    changed = tmp_path / "data.npz"
    changed.write_bytes(public_data.to_bytes(manifest, arrays))
    assert public_data.main(["--check", "--path", str(changed)]) == 1
    assert f"{key}: values differ" in capsys.readouterr().err


def test_check_fails_on_a_missing_or_damaged_file(tmp_path):
    """Does --check exit non-zero, not crash, when the file is absent or not a zip?"""
    assert public_data.main(["--check", "--path", str(tmp_path / "absent.npz")]) == 1
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not a zip")
    assert public_data.main(["--check", "--path", str(damaged)]) == 1


def test_regeneration_is_byte_for_byte_deterministic(tmp_path):
    """Does writing twice give identical bytes (fixed seeds, fixed zip timestamps)?"""
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    assert public_data.main(["--path", str(first)]) == 0
    assert public_data.main(["--path", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_file_holds_only_npy_entries_readable_without_pickle():
    """Is the file a plain zip of .npy arrays that loads with allow_pickle=False?"""
    with zipfile.ZipFile(public_tests.DATA_PATH) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(public_tests.DATA_PATH, allow_pickle=False) as npz:
        manifest = json.loads(npz["manifest"].item())
        assert all(npz[key].dtype != object for key in npz.files)
    assert set(manifest["cases"]) == set(EXERCISE_NAMES)


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_expected_values_are_the_references(exercise):
    """Does every stored expected value equal what the reference computes on the stored inputs?"""
    for case in public_tests.public_cases(exercise):
        result = getattr(reference, exercise)(*case.args)
        main, stored = (
            (result[0], case.expected[0])
            if exercise in ("conv_forward", "pool_forward")
            else (result, case.expected)
        )
        if exercise == "conv_backward":
            for got, want in zip(main, stored, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-12)
        else:
            np.testing.assert_allclose(main, stored, rtol=1e-12)


@pytest.mark.parametrize("exercise", EXERCISE_NAMES)
def test_cases_have_known_tags_and_unique_labels(exercise):
    """Are tags drawn from the documented vocabulary, and labels unique?"""
    cases = public_tests.public_cases(exercise)
    assert len(cases) >= 5
    assert len({case.label for case in cases}) == len(cases)
    for case in cases:
        assert case.tags <= TAGS, case.tags - TAGS


@pytest.mark.parametrize(
    "exercise, needed",
    [
        ("zero_pad", {"pad=0", "pad>0", "non-square", "m=1", "m>1", "n_C=1"}),
        ("conv_single_step", {"f=1", "n_C=1"}),
        ("conv_forward", {"pad=0", "uneven", "stride>f", "overlap", "f=1", "f=n", "non-square",
                          "m=1", "m>1", "n_C=1", "stride=1"}),
        ("pool_forward", {"mode=max", "mode=average", "uneven", "stride>f", "overlap", "f=1",
                          "f=n", "non-square", "m=1", "n_C=1"}),
        ("conv_backward", {"pad=0", "uneven", "stride>f", "overlap", "f=1", "non-square", "m=1",
                           "n_C=1"}),
        ("create_mask_from_window", {"non-square", "f=1"}),
        ("distribute_value", {"non-square", "f=1"}),
        ("pool_backward", {"mode=max", "mode=average", "uneven", "stride>f", "overlap", "f=n",
                           "non-square", "m=1", "n_C=1"}),
    ],
)  # fmt: skip
def test_public_cases_cover_where_mistakes_hide(exercise, needed):
    """Do the public cases include pad = 0, uneven strides, non-square inputs, both modes...?"""
    present = set().union(*(case.tags for case in public_tests.public_cases(exercise)))
    assert needed <= present, needed - present


@pytest.mark.parametrize("exercise", ["create_mask_from_window", "pool_forward", "pool_backward"])
def test_no_ties_for_the_maximum(exercise):
    """Are pooling and mask inputs free of ties, so argmax routing is also right?"""
    for case in public_tests.public_cases(exercise):
        values = case.args[1][0] if exercise == "pool_backward" else case.args[0]
        assert np.unique(values).size == values.size


def test_pool_cases_call_both_modes_and_the_default():
    """Is each pooling input checked in both modes, and is one call made without mode?"""
    for exercise in ("pool_forward", "pool_backward"):
        cases = public_tests.public_cases(exercise)
        assert any(len(case.args) == 2 for case in cases)
        modes = [case.args[2] for case in cases if len(case.args) == 3]
        assert modes.count("max") == modes.count("average") > 0


def test_conv_single_step_expects_a_float64_scalar():
    """Is conv_single_step's stored expected value a NumPy float64 scalar?"""
    for case in public_tests.public_cases("conv_single_step"):
        assert type(case.expected) is np.float64
