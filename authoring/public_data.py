"""Computes public_tests_data.npz: the public cases' seeded inputs and the reference's outputs.

    python -m authoring.public_data          # regenerate (byte-for-byte deterministic)
    python -m authoring.public_data --check  # exit 1 if the committed file differs

The file is a zip of ``.npy`` arrays (read with ``allow_pickle=False``) plus ``manifest``, a JSON
string listing every case: label, tags, and its arguments and expected value as specs that
point at the arrays (see ``public_tests.decode``). Inputs come from ``np.random.default_rng``
with one fixed seed per exercise; expected values come from ``grader.reference``. Zip entries
carry a fixed timestamp so that regenerating gives identical bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

import public_tests
from grader.exercises import EXERCISE_NAMES
from grader.hidden_checks import (
    case_tags,
    conv_args,
    conv_backward_args,
    distinct_normal,
    expected_output,
    pool_args,
    pool_backward_args,
)

DATA_PATH = public_tests.DATA_PATH
SEEDS = {name: 2024 + index for index, name in enumerate(EXERCISE_NAMES)}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
EXPECTED_RTOL = 1e-12  # --check tolerance on expected values (BLAS order may differ by machine)


def _zero_pad_cases(rng):
    normal = rng.standard_normal
    return [
        ("several examples, pad 2", (normal((3, 4, 4, 2)), 2)),
        ("pad = 0", (normal((2, 3, 3, 2)), 0)),
        ("non-square, pad 1", (normal((2, 3, 5, 3)), 1)),
        ("one example, one channel, pad 3", (normal((1, 4, 2, 1)), 3)),
        ("integer input", (rng.integers(-9, 10, size=(2, 3, 3, 1)), 1)),
        ("1 x 1 image", (normal((1, 1, 1, 2)), 1)),
    ]


def _conv_single_step_cases(rng):
    def window(f, n_C, bias_scale=1.0):
        return (
            rng.standard_normal((f, f, n_C)),
            rng.standard_normal((f, f, n_C)),
            rng.standard_normal((1, 1, 1)) * bias_scale,
        )

    return [
        ("4 x 4 window, 3 channels", window(4, 3)),
        ("1 x 1 window, one channel", window(1, 1)),
        ("3 x 3 window, one channel", window(3, 1)),
        ("2 x 2 window, 5 channels", window(2, 5)),
        ("5 x 5 window, large bias", window(5, 2, bias_scale=10.0)),
    ]


def _conv_forward_cases(rng):
    seed_like = conv_args(rng, 2, 5, 7, 4, 3, 8, 1, 2)
    A_prev, W, b, hparameters = seed_like
    flipped = (A_prev, W[::-1, ::-1].copy(), b, dict(hparameters))
    return [
        ("seed-like: pad 1, stride 2", seed_like),
        ("flipped kernel of the seed-like case", flipped),
        ("pad = 0, stride 2", conv_args(rng, 2, 5, 7, 4, 3, 8, 0, 2)),
        ("stride 1, pad 3", conv_args(rng, 2, 5, 7, 4, 3, 8, 3, 1)),
        ("uneven stride", conv_args(rng, 2, 6, 7, 3, 3, 2, 1, 2)),
        ("stride > f", conv_args(rng, 1, 7, 8, 2, 2, 3, 0, 3)),
        ("f = 1", conv_args(rng, 2, 3, 4, 3, 1, 2, 0, 1)),
        ("window as large as the input", conv_args(rng, 1, 4, 4, 2, 4, 3, 0, 1)),
        ("one channel", conv_args(rng, 2, 4, 5, 1, 3, 1, 1, 1)),
        ("square input, stride 1", conv_args(rng, 2, 4, 4, 3, 2, 2, 1, 1)),
    ]


def _pool_inputs(rng):
    return [
        ("overlapping windows, f 3, stride 1", pool_args(rng, 2, 5, 5, 3, 3, 1)),
        ("non-square, f 3, stride 2", pool_args(rng, 2, 5, 7, 3, 3, 2)),
        ("stride > f, uneven", pool_args(rng, 2, 7, 8, 2, 2, 3)),
        ("f = stride = 2, one example", pool_args(rng, 1, 4, 6, 3, 2, 2)),
        ("window as large as the input", pool_args(rng, 2, 3, 3, 2, 3, 1)),
        ("f = 1, one channel", pool_args(rng, 1, 3, 2, 1, 1, 1)),
    ]


def _pool_forward_cases(rng):
    cases = [
        (f"{label}, {mode}", (*args, mode))
        for label, args in _pool_inputs(rng)
        for mode in ("max", "average")
    ]
    cases.append(("default mode (no mode argument)", pool_args(rng, 2, 4, 4, 2, 2, 2)))
    return cases


def _conv_backward_cases(rng):
    return [
        ("seed-like: pad 2, stride 2", conv_backward_args(rng, 3, 4, 4, 3, 2, 4, 2, 2)),
        ("pad = 0, overlapping windows", conv_backward_args(rng, 2, 5, 5, 2, 3, 3, 0, 1)),
        ("non-square, uneven stride", conv_backward_args(rng, 2, 6, 7, 2, 3, 2, 1, 2)),
        ("one example, overlapping", conv_backward_args(rng, 1, 4, 5, 3, 3, 2, 1, 1)),
        ("stride > f", conv_backward_args(rng, 2, 7, 7, 2, 2, 2, 1, 3)),
        ("f = 1, pad = 0", conv_backward_args(rng, 2, 3, 4, 2, 1, 3, 0, 1)),
        ("one channel", conv_backward_args(rng, 2, 4, 4, 1, 2, 1, 1, 1)),
    ]


def _mask_cases(rng):
    return [
        ("2 x 3 window", (distinct_normal(rng, (2, 3)),)),
        ("3 x 3 window", (distinct_normal(rng, (3, 3)),)),
        ("negative values", (distinct_normal(rng, (4, 4)) - 10.0,)),
        ("3 x 2 window", (distinct_normal(rng, (3, 2)),)),
        ("1 x 1 window", (distinct_normal(rng, (1, 1)),)),
    ]


def _distribute_cases(rng):
    return [
        ("2 x 2", (2.0, (2, 2))),
        ("negative dz, 2 x 3", (-1.5, (2, 3))),
        ("3 x 3", (float(np.round(rng.standard_normal() * 3, 6)), (3, 3))),
        ("integer dz, 4 x 1", (3, (4, 1))),
        ("1 x 1", (0.7, (1, 1))),
    ]


def _pool_backward_cases(rng):
    inputs = [
        ("overlapping, non-square, f 2, stride 1", pool_backward_args(rng, 2, 5, 3, 2, 2, 1)),
        ("f = stride = 2", pool_backward_args(rng, 2, 4, 6, 3, 2, 2)),
        ("stride > f, uneven", pool_backward_args(rng, 1, 7, 7, 2, 2, 3)),
        ("overlapping, one channel, f 3, stride 2", pool_backward_args(rng, 2, 5, 5, 1, 3, 2)),
        ("window as large as the input", pool_backward_args(rng, 1, 3, 3, 2, 3, 1)),
    ]
    cases = [
        (f"{label}, {mode}", (*args, mode)) for label, args in inputs for mode in ("max", "average")
    ]
    cases.append(("default mode (no mode argument)", pool_backward_args(rng, 2, 4, 4, 2, 2, 2)))
    return cases


CASE_BUILDERS = {
    "zero_pad": _zero_pad_cases,
    "conv_single_step": _conv_single_step_cases,
    "conv_forward": _conv_forward_cases,
    "pool_forward": _pool_forward_cases,
    "conv_backward": _conv_backward_cases,
    "create_mask_from_window": _mask_cases,
    "distribute_value": _distribute_cases,
    "pool_backward": _pool_backward_cases,
}


class _Encoder:
    """Turns values into JSON specs, storing each distinct array once."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self._keys: dict[int, str] = {}

    def encode(self, value):
        if type(value) is np.ndarray:
            key = self._keys.get(id(value))
            if key is None:
                key = self._keys[id(value)] = f"a{len(self.arrays)}"
                self.arrays[key] = value
            return {"array": key}
        if type(value) is bool:
            raise TypeError("booleans are not used as arguments")
        if type(value) is int:
            return {"int": value}
        if type(value) is float:
            return {"float": value}
        if type(value) is np.float64:
            return {"float64": float(value)}
        if type(value) is str:
            return {"str": value}
        if type(value) is dict:
            return {"dict": {key: self.encode(item) for key, item in value.items()}}
        if type(value) is tuple:
            return {"tuple": [self.encode(item) for item in value]}
        raise TypeError(f"cannot store a {type(value).__name__}")


def _check_no_ties(exercise: str, args: tuple) -> None:
    """Pooling and mask inputs must have a unique maximum in every window (here: all distinct)."""
    if exercise in ("create_mask_from_window", "pool_forward"):
        inputs = args[0]
    elif exercise == "pool_backward":
        inputs = args[1][0]
    else:
        return
    if np.unique(inputs).size != inputs.size:
        raise AssertionError(f"{exercise}: public input with ties")


def build() -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest and the arrays of every public case, deterministically."""
    encoder = _Encoder()
    manifest = {"format": public_tests.DATA_FORMAT, "cases": {}}
    for exercise in EXERCISE_NAMES:
        rng = np.random.default_rng(SEEDS[exercise])
        entries = []
        for label, args in CASE_BUILDERS[exercise](rng):
            _check_no_ties(exercise, args)
            expected = expected_output(exercise, args)
            if exercise == "conv_single_step":
                expected = np.float64(expected)
            entries.append(
                {
                    "label": label,
                    "tags": sorted(case_tags(exercise, args)),
                    "args": encoder.encode(tuple(args)),
                    "expected": encoder.encode(expected),
                }
            )
        manifest["cases"][exercise] = entries
    return manifest, encoder.arrays


def to_bytes(manifest: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The .npz file's bytes: deflated entries with a fixed timestamp."""
    entries = {"manifest": np.array(json.dumps(manifest, sort_keys=True, separators=(",", ":")))}
    entries.update(arrays)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in entries.items():
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, array_bytes.getvalue())
    return buffer.getvalue()


def differences(path: Path) -> list[str]:
    """How the file at ``path`` differs from what ``build`` computes now (empty: it matches).

    Bytes equal is a match; otherwise the manifest and inputs must match exactly and expected
    values within EXPECTED_RTOL (a BLAS may sum in another order on another machine).
    """
    manifest, arrays = build()
    if not path.exists():
        return [f"{path} does not exist"]
    if path.read_bytes() == to_bytes(manifest, arrays):
        return []
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {key: npz[key] for key in npz.files}
        stored_manifest = json.loads(stored.pop("manifest").item())
    except Exception as error:  # a damaged file is a difference, not a crash
        return [f"{path} cannot be read: {error}"]
    problems = []
    if stored_manifest != json.loads(json.dumps(manifest)):
        problems.append("the manifest (cases, labels, tags or specs) differs")
    if set(stored) != set(arrays):
        problems.append("the set of arrays differs")
    for key in sorted(set(stored) & set(arrays)):
        old, new = stored[key], arrays[key]
        if old.shape != new.shape or old.dtype != new.dtype:
            problems.append(f"{key}: {old.dtype}{old.shape} != {new.dtype}{new.shape}")
        elif not np.allclose(old, new, rtol=EXPECTED_RTOL, atol=0):
            problems.append(f"{key}: values differ")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    parser.add_argument("--path", type=Path, default=DATA_PATH, help="the .npz file")
    options = parser.parse_args(argv)
    if options.check:
        problems = differences(options.path)
        for problem in problems:
            print(f"public data out of date: {problem}", file=sys.stderr)
        if problems:
            print("regenerate with: python -m authoring.public_data", file=sys.stderr)
            return 1
        print(f"{options.path.name} is up to date")
        return 0
    options.path.write_bytes(to_bytes(*build()))
    print(f"wrote {options.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
