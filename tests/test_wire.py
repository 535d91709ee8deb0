"""Tests of grader/wire.py: plain data round-trips with its exact types, anything else becomes
Unsupported, and decoding rejects every malformed or oversized message with WireError."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import public_tests
from grader import wire
from grader.calls import Unsupported
from grader.exercises import EXERCISES
from grader.grade import grade_notebook
from tests.factories import submission, write

ALLOWED_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
ALLOWED_DTYPES += ["float16", "float32", "float64", "complex64", "complex128"]


def assert_identical(got, expected) -> None:
    """Same type at every level, same bits for floats, same dtype/shape/values for arrays."""
    assert type(got) is type(expected), (type(got), type(expected))
    if isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert got.tobytes() == np.ascontiguousarray(expected).tobytes()
    elif isinstance(expected, float | np.floating | np.complexfloating):
        assert np.asarray(got).tobytes() == np.asarray(expected).tobytes() or (
            np.isnan(got) and np.isnan(expected)
        )
    elif isinstance(expected, tuple | list):
        assert len(got) == len(expected)
        for got_item, expected_item in zip(got, expected, strict=True):
            assert_identical(got_item, expected_item)
    elif isinstance(expected, dict):
        assert list(got) == list(expected)
        for key in expected:
            assert_identical(got[key], expected[key])
    else:
        assert got == expected


def round_trip(value):
    return wire.loads(wire.dumps(value))


def header_of(message: bytes):
    (length,) = struct.unpack_from("<I", message)
    return json.loads(message[4 : 4 + length])


def message_of(header, *blobs: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<I", len(text)) + text + b"".join(blobs)


# ---------------------------------------------------------------------------- plain data


def test_python_float_numpy_scalar_and_0d_array_stay_distinct():
    """Does the wire keep float, np.float64 and a 0-d array apart (conv_single_step's contract)?"""
    got = round_trip((2.5, np.float64(2.5), np.array(2.5)))
    assert type(got[0]) is float
    assert type(got[1]) is np.float64
    assert type(got[2]) is np.ndarray and got[2].shape == ()


@pytest.mark.parametrize("value", [0.0, -0.0, 1e-310, 5e-324, 1.7976931348623157e308, 0.1])
def test_python_floats_round_trip_bit_for_bit(value):
    """Is every Python float (zero signs, subnormals, extremes) decoded to the same bits?"""
    assert struct.pack("<d", round_trip(value)) == struct.pack("<d", value)


def test_nan_and_infinities_round_trip():
    """Do NaN and the infinities survive, as Python floats and as NumPy scalars?"""
    got = round_trip([float("nan"), float("inf"), -float("inf"), np.float64("nan")])
    assert np.isnan(got[0]) and got[1] == float("inf") and got[2] == -float("inf")
    assert type(got[3]) is np.float64 and np.isnan(got[3])


@pytest.mark.parametrize("dtype", ALLOWED_DTYPES)
def test_arrays_of_every_allowed_dtype_round_trip(dtype):
    """Does an array of each numeric/bool dtype come back with its dtype, shape and values?"""
    array = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    assert_identical(round_trip(array), array)


@pytest.mark.parametrize("dtype", ALLOWED_DTYPES)
def test_numpy_scalars_of_every_allowed_dtype_round_trip(dtype):
    """Does each NumPy scalar type come back as the same NumPy scalar type and value?"""
    scalar = np.array([1], dtype=dtype)[0]
    assert_identical(round_trip(scalar), scalar)


def test_arrays_in_any_layout_come_back_c_contiguous_writable_and_owning():
    """Do Fortran-ordered, strided, big-endian and empty arrays round-trip as plain arrays the
    grader may modify, in the byte order they were sent?"""
    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    for array in (
        np.asfortranarray(base),
        base[:, ::2, 1:],
        base.astype(">f8"),
        np.zeros((0, 3, 3, 2)),
    ):
        got = round_trip(array)
        np.testing.assert_array_equal(got, array)
        assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata
        assert got.dtype == array.dtype


def test_containers_and_scalars_round_trip_with_their_types():
    """Do tuples, lists, dicts (str keys, in order), ints, bools, str and None keep their types
    (a conv_forward cache is plain data)?"""
    cache = (np.ones((1, 3, 3, 2)), np.zeros((2, 2, 2, 4)), np.ones((1, 1, 1, 4)))
    value = {"Z": [cache, {"stride": 2, "pad": 0}], "m": True, "n": None, "big": -(10**30)}
    value["bools"] = (np.True_, False, np.bool_(False))
    assert_identical(round_trip(value), value)


def test_arrays_travel_as_raw_bytes_not_json():
    """Is a large array's message its raw bytes plus a small header (not a JSON list)?"""
    array = np.random.default_rng(0).standard_normal((100, 100, 10))
    message = wire.dumps(array)
    assert len(message) < array.nbytes + 200


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.lists(children, max_size=4).map(tuple)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_random_plain_values_round_trip(value):
    """Does any nesting of plain Python values come back identical?"""
    assert_identical(round_trip(value), value)


# ---------------------------------------------------------------------- non-plain data


class LyingArray(np.ndarray):
    """An ndarray subclass that claims to equal anything."""

    def __eq__(self, other):
        return True

    def __array_finalize__(self, obj):
        pass


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_ndarray_subclasses_arrive_as_plain_ndarrays():
    """Does an ndarray subclass (np.matrix, one that lies about equality) arrive as a base
    ndarray holding its data, so none of its methods can run in the grader?"""
    liar = np.arange(6.0).reshape(2, 3).view(LyingArray)
    got = round_trip([liar, np.matrix([[1.0, 2.0]])])
    assert type(got[0]) is np.ndarray and type(got[1]) is np.ndarray
    np.testing.assert_array_equal(got[0], np.arange(6.0).reshape(2, 3))
    assert (got[0] == np.zeros((2, 3))).sum() == 1


def test_container_subclasses_arrive_as_base_containers():
    """Do namedtuple/OrderedDict-like subclasses arrive as tuple/dict, ignoring their
    overridden methods?"""

    class Pair(tuple):
        def __iter__(self):
            raise RuntimeError("never called")

    class Table(dict):
        def items(self):
            raise RuntimeError("never called")

    got = round_trip((Pair((1, 2)), Table(a=1)))
    assert_identical(got, ((1, 2), {"a": 1}))


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (lambda: 1, "function"),
        ({1, 2}, "set"),
        ((x for x in ()), "generator"),
        ({1: "int key"}, "dict with keys that are not str"),
        (np.array([None]), "ndarray of dtype object"),
        (np.array(["a"]), "ndarray of dtype <U1"),
        (np.zeros(2, dtype=[("x", "f8")]), "ndarray of dtype"),
        (np.clongdouble(1), "numpy.clongdouble"),
        (np.str_("a"), "numpy.str_"),
        (10**5000, "int (too large)"),
        (object(), "object"),
        (LyingArray, "type"),
    ],
    ids=lambda parameter: parameter if isinstance(parameter, str) else "",
)
def test_anything_else_becomes_unsupported(value, name):
    """Is each non-plain value replaced by Unsupported naming its type (never pickled)?"""
    got = round_trip([value])[0]
    assert type(got) is Unsupported and got.type_name.startswith(name), got


def test_nesting_beyond_the_cap_and_cycles_become_unsupported():
    """Do over-deep nesting and a list containing itself become Unsupported, not a crash?"""
    cyclic: list = []
    cyclic.append(cyclic)
    deep: list = []
    for _ in range(wire.DEFAULT_CAPS.depth + 5):
        deep = [deep]
    for value in (cyclic, deep):
        got = round_trip(value)
        while isinstance(got, list):
            got = got[0]
        assert type(got) is Unsupported and "nested deeper" in got.type_name


def test_strict_encoding_refuses_non_plain_data():
    """Does strict mode (the grader's own calls) raise instead of sending Unsupported?"""
    with pytest.raises(wire.WireError, match="not plain data"):
        wire.dumps((np.ones(2), {1, 2}), strict=True)


def test_a_huge_container_is_refused_before_being_walked():
    """Is a list or dict of millions of items refused at once rather than walked?"""
    for value in ([0] * 3_000_000, dict.fromkeys(map(str, range(300_000)))):
        with pytest.raises(wire.TooLargeError, match="items"):
            wire.dumps(value)


@pytest.mark.parametrize(
    "caps",
    [
        wire.Caps(message_bytes=1000),
        wire.Caps(arrays=3),
        wire.Caps(nodes=4),
    ],
)
def test_encoding_over_a_cap_raises_too_large(caps):
    """Is an outcome over the size, array-count or node caps refused with TooLargeError?"""
    with pytest.raises(wire.TooLargeError):
        wire.dumps([np.zeros(200)] * 4, caps=caps)


@pytest.mark.parametrize("dtype", ALLOWED_DTYPES)
def test_big_endian_arrays_keep_their_byte_order(dtype):
    """Does an array in non-native byte order come back in that byte order, with its values
    (the grader must judge the dtype the student returned)?"""
    array = (np.arange(6) % 7).astype(np.dtype(dtype).newbyteorder(">")).reshape(2, 3)
    got = round_trip(array)
    assert got.dtype == array.dtype and got.dtype.str == array.dtype.str
    np.testing.assert_array_equal(got, array)


# np.longdouble is x87 extended precision here: 10 bytes of value, then padding.
LONGDOUBLE = np.dtype(np.longdouble)
x87 = pytest.mark.skipif(
    sys.byteorder != "little" or np.finfo(LONGDOUBLE).nmant != 63,
    reason="np.longdouble is not x87 extended precision",
)


def x87_bytes(significand: int, sign_exponent: int, padding: int = 0) -> bytes:
    return struct.pack("<QH", significand, sign_exponent) + bytes([padding]) * (
        LONGDOUBLE.itemsize - 10
    )


def value_bytes(array) -> list[bytes]:
    """Each item's 10 value bytes, least significant first, whatever the byte order."""
    native = np.asarray(array).astype(LONGDOUBLE).reshape(-1)
    return [item.tobytes()[:10] for item in native]


@x87
def test_longdouble_scalars_and_arrays_round_trip_exactly_with_zero_padding():
    """Do np.longdouble scalars and arrays (both byte orders, values float64 cannot hold,
    padding left uninitialised by np.empty) come back with every value bit, their type and dtype,
    and padding bytes zeroed?"""
    third = np.longdouble(1) / np.longdouble(3)
    assert float(third) != third  # more precision than float64
    scalar = round_trip(third)
    assert type(scalar) is np.longdouble and scalar == third
    uninitialised = np.empty(5, dtype=LONGDOUBLE)
    uninitialised[...] = [third, -0.0, np.inf, np.nan, 5e-4950]
    for array in (uninitialised, uninitialised.astype(LONGDOUBLE.newbyteorder(">"))):
        got = round_trip(array)
        assert got.dtype.str == array.dtype.str
        assert value_bytes(got) == value_bytes(array)
        items = got.reshape(-1).view(np.uint8).reshape(5, -1)
        if array.dtype.byteorder == ">":
            assert not items[:, :-10].any()
        else:
            assert not items[:, 10:].any()


@x87
def test_non_canonical_longdouble_is_sent_as_arithmetic_sees_it():
    """Is a crafted x87 encoding that is not canonical sent as what arithmetic makes of it (a
    pseudo-denormal as the normal of equal value, an unnormal or pseudo-NaN as NaN), so the grader
    judges what the public test would, and decoding never sees a non-canonical item?"""
    raw = b"".join(
        [
            x87_bytes(1 << 63, 0, padding=0xAB),  # pseudo-denormal
            x87_bytes(1 << 62, 0x3FFF),  # unnormal
            x87_bytes(1 << 62, 0x7FFF),  # pseudo-NaN
            x87_bytes(3 << 62, 0x3FFF, padding=0xCD),  # 1.5, canonical
        ]
    )
    crafted = np.frombuffer(raw, dtype=LONGDOUBLE)
    got = round_trip(crafted)
    assert got[0] == crafted[0] and value_bytes(got[0]) == [x87_bytes(1 << 63, 1)[:10]]
    assert np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 1.5
    assert round_trip(crafted[1]).dtype == LONGDOUBLE and np.isnan(round_trip(crafted[1]))


@x87
@pytest.mark.parametrize(
    ("item", "complaint"),
    [
        (x87_bytes(3 << 62, 0x3FFF, padding=1), "padding"),
        (x87_bytes(1 << 63, 0), "canonical"),
        (x87_bytes(1 << 62, 0x3FFF), "canonical"),
        (x87_bytes(0, 0x7FFF), "canonical"),
    ],
    ids=["padding", "pseudo-denormal", "unnormal", "pseudo-infinity"],
)
def test_non_canonical_longdouble_bytes_are_rejected(item, complaint):
    """Does decoding refuse longdouble items with non-zero padding or a non-canonical encoding,
    as scalars and in arrays of either byte order?"""
    native, swapped = LONGDOUBLE.str, LONGDOUBLE.newbyteorder(">").str
    for message in (
        message_of(["scalar", native, item.hex()]),
        message_of(["array", native, [1]], item),
        message_of(["array", swapped, [1]], item[::-1]),
    ):
        with pytest.raises(wire.WireError, match=complaint):
            wire.loads(message)


# ---------------------------------------------------------------------- strict decoding

VALID = wire.dumps({"a": [np.arange(3.0), 1, "x"]})


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (b"", "shorter"),
        (VALID[:-1], "runs past the end"),
        (VALID + b"\0", "after the last array"),
        (struct.pack("<I", 10**9) + b"[]", "exceeds"),
        (struct.pack("<I", 50) + b"[]", "past the end"),
        (message_of(["none"])[:-1] + b"}", "not valid JSON"),
        (message_of({"tag": "none"}), "JSON objects"),
        (message_of(["float", 1.5]), "JSON float"),
        (message_of(["int", 1e400]), "JSON"),
        (message_of(["pickle", "cos\nsystem"]), "unknown tag"),
        (message_of(["bool", 1]), "true or false"),
        (message_of(["none", 1]), "takes 0 fields"),
        (message_of(["int", "007"]), "plain decimal"),
        (message_of(["int", "1_000"]), "plain decimal"),
        (message_of(["int", " 1"]), "plain decimal"),
        (message_of(["int", "1" * 2000]), "digit cap"),
        (message_of(["float", "1.5"]), "float.hex"),
        (message_of(["float", "nan(123)"]), "float.hex"),
        (message_of(["array", "|O", [1]]), "not allowed"),
        (message_of(["array", "=f8", [1]], b"\0" * 8), "not allowed"),
        (message_of(["array", "<f12", [1]], b"\0" * 12), "not allowed"),
        (message_of(["scalar", ">f8", "00" * 8]), "native byte order"),
        (message_of(["array", "<f8", [2]], b"\0" * 8), "runs past the end"),
        (message_of(["array", "<f8", [-1]]), "non-negative"),
        (message_of(["array", "<f8", [True]]), "non-negative"),
        (message_of(["array", "<f8", [10**30, 10**30]]), "runs past the end"),
        (message_of(["array", "|b1", [2]], b"\x00\x02"), "0 or 1"),
        (message_of(["scalar", "<f8", "zz" * 8]), "hex"),
        (message_of(["scalar", "<f8", "00"]), "hex digits"),
        (message_of(["scalar", "|b1", "02"]), "0 or 1"),
        (message_of(["dict", [["a", ["none"]], ["a", ["none"]]]]), "duplicate"),
        (message_of(["dict", [[1, ["none"]]]]), "str key"),
        (message_of(["tuple", "abc"]), "list of nodes"),
        (message_of(["unsupported", "x" * 300]), "200 characters"),
        (message_of([]), "non-empty list"),
        (message_of(["str", 3]), "'str' needs"),
    ],
    ids=lambda parameter: parameter if isinstance(parameter, str) else "",
)
def test_malformed_messages_are_rejected(message, complaint):
    """Does decoding reject each kind of malformed message with a WireError saying what?"""
    with pytest.raises(wire.WireError, match=complaint):
        wire.loads(message)


def test_decoding_enforces_depth_nodes_and_array_caps():
    """Are the nesting, node-count and array-count caps enforced when decoding?"""
    deep: list = ["none"]
    for _ in range(40):
        deep = ["list", [deep]]
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.loads(message_of(deep))
    with pytest.raises(wire.WireError, match="more than 10 values"):
        wire.loads(message_of(["list", [["none"]] * 20]), caps=wire.Caps(nodes=10))
    arrays = message_of(["list", [["array", "|u1", [0]]] * 5])
    with pytest.raises(wire.WireError, match="more than 2 arrays"):
        wire.loads(arrays, caps=wire.Caps(arrays=2))
    with pytest.raises(wire.WireError, match="not valid JSON"):
        wire.loads(message_of(None)[:4] + b"[" * 100_000)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_messages_raise_only_wire_errors(data):
    """Does any corruption of a valid message either decode to plain data or raise WireError
    (never another exception, never a hang)?"""
    message = bytearray(wire.dumps({"x": (np.arange(4.0), [1, "ab", None], np.int64(3))}))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(message) - 1))
        message[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(message)))
    try:
        value = wire.loads(bytes(message[:cut]))
    except wire.WireError:
        return
    assert_plain(value)


def assert_plain(value) -> None:
    """Only the types the wire may produce, at every level."""
    if isinstance(value, tuple | list):
        for item in value:
            assert_plain(item)
    elif isinstance(value, dict):
        assert all(type(key) is str for key in value)
        for item in value.values():
            assert_plain(item)
    elif isinstance(value, np.ndarray):
        assert type(value) is np.ndarray and value.dtype.str in wire.ALLOWED_DTYPES
    else:
        assert (
            value is None
            or type(value) in (bool, int, float, str, Unsupported)
            or (
                type(value).__module__ == "numpy"
                and np.asarray(value).dtype.str in wire.ALLOWED_DTYPES
            )
        )


# ------------------------------------------------------------------------------- frames

NONCE = bytes(range(16))


def test_frames_are_split_whatever_the_chunking():
    """Are frames recovered intact when the stream arrives one byte at a time?"""
    messages = [wire.dumps(index) for index in range(3)]
    stream = b"".join(wire.frame(NONCE, message) for message in messages)
    reader = wire.FrameReader(NONCE)
    received = []
    for index in range(len(stream)):
        received += reader.feed(stream[index : index + 1])
    assert received == messages and reader.pending == 0


@pytest.mark.parametrize(
    ("stream", "complaint"),
    [
        (b"junk" + wire.frame(NONCE, b"x"), "frame marker"),
        (b"C" + b"x" * 40, "frame marker"),
        (wire.frame(bytes(16), wire.dumps(1)), "another run's nonce"),
        (wire.MAGIC + NONCE + struct.pack("<Q", 1 << 40), "exceeds"),
    ],
)
def test_foreign_or_forged_frames_are_rejected(stream, complaint):
    """Does the reader reject a stream that does not start with a frame of this run?"""
    with pytest.raises(wire.WireError, match=complaint):
        wire.FrameReader(NONCE).feed(stream)


def test_frames_before_a_bad_one_are_delivered_and_the_error_comes_after():
    """When good frames and a forged one arrive in one chunk, are the good ones returned first
    (so the grader charges the forgery to the right exercise) and the error raised next?"""
    good = [wire.frame(NONCE, wire.dumps(index)) for index in range(2)]
    reader = wire.FrameReader(NONCE)
    assert reader.feed(b"".join(good) + b"forged") == [wire.dumps(0), wire.dumps(1)]
    assert "frame marker" in str(reader.error)
    with pytest.raises(wire.WireError, match="frame marker"):
        reader.feed(b"")


def test_a_cut_frame_is_reported():
    """Does read_frames refuse a stream that ends in the middle of a frame?"""
    stream = wire.frame(NONCE, wire.dumps("abc"))
    assert wire.read_frames(stream, NONCE) == [wire.dumps("abc")]
    with pytest.raises(wire.WireError, match="unfinished frame"):
        wire.read_frames(stream[:-1], NONCE)


# ------------------------------------------------- the grader sees what the student returned

# What a correct computation is turned into before it is returned, and whether the rule accepts
# it: a real float of at least float64's precision (float64, np.longdouble), in either byte
# order (storage, not value); Python float and int are numbers too. The public test (in this
# process) and the grader (sandbox, wire, hidden checks) must both follow it: pass <=> full marks.
BIG_LONGDOUBLE = "np.dtype(np.longdouble).newbyteorder('>')"
SCALAR_RETURNS = {
    "python float": ("float(Z)", True),
    "np.float64": ("np.float64(Z)", True),
    "np.longdouble": ("np.longdouble(Z)", True),
    "np.float32": ("np.float32(Z)", False),
    "np.float16": ("np.float16(Z)", False),
    "np.int64": ("np.int64(Z)", False),
    "python int (truncates)": ("int(Z)", False),
    "np.bool_": ("np.bool_(Z)", False),
    "python complex": ("complex(Z)", False),
    "np.complex128": ("np.complex128(Z)", False),
    "float subclass": ("Real(Z)", False),
    "0-d float64": ("np.array(Z)", True),
    "0-d >f8": ("np.array(Z, dtype='>f8')", True),
    "0-d <f4": ("np.array(Z, dtype='<f4')", False),
    "0-d longdouble": ("np.array(Z, dtype=np.longdouble)", True),
    "0-d big-endian longdouble": (f"np.array(Z, dtype={BIG_LONGDOUBLE})", True),
    "0-d complex": ("np.array(Z, dtype=complex)", False),
    "0-d object": ("np.array(Z, dtype=object)", False),
    "shape (1, 1, 1)": ("np.full((1, 1, 1), Z)", False),
}
ARRAY_RETURNS = {
    "as computed": ("X_pad", True),
    ">f8": ("X_pad.astype('>f8')", True),
    "<f4": ("X_pad.astype('<f4')", False),
    "float16": ("X_pad.astype(np.float16)", False),
    "longdouble": ("X_pad.astype(np.longdouble)", True),
    "longdouble, uninitialised padding bytes": ("filled(X_pad, np.longdouble)", True),
    "big-endian longdouble": (f"X_pad.astype({BIG_LONGDOUBLE})", True),
    "input dtype, big-endian": ("X_pad.astype(X.dtype.newbyteorder('>'))", True),
    "complex": ("X_pad.astype(complex)", False),
    "bool": ("X_pad.astype(bool)", False),
    "object": ("X_pad.astype(object)", False),
}
SCALAR_SOURCE = """
class Real(float):
    pass

def conv_single_step(a_slice_prev, W, b):
    Z = np.sum(a_slice_prev * W) + b.item()
    return {expression}
"""
ARRAY_SOURCE = """
def filled(values, dtype):
    out = np.empty(values.shape, dtype=dtype)  # its bytes are whatever was in memory
    out[...] = values
    return out

def zero_pad(X, pad):
    X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")
    return {expression}
"""
RETURNS = [
    ("conv_single_step", SCALAR_SOURCE, label, *case) for label, case in SCALAR_RETURNS.items()
]
RETURNS += [("zero_pad", ARRAY_SOURCE, label, *case) for label, case in ARRAY_RETURNS.items()]


def public_verdict(exercise: str, source: str) -> bool:
    namespace = {"np": np}
    exec(source, namespace)
    try:
        getattr(public_tests, f"{exercise}_test")(namespace[exercise])
    except AssertionError:
        return False
    return True


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize(
    ("exercise", "template", "label", "expression", "accepted"),
    RETURNS,
    ids=[f"{exercise}:{label}" for exercise, _, label, _, _ in RETURNS],
)
def test_public_test_and_grader_agree_on_every_return_type(
    exercise, template, label, expression, accepted, tmp_path, capsys
):
    """Does the sandboxed grader give full marks exactly when the public test passes, whatever
    Python or NumPy scalar, float dtype or byte order a correct computation is returned as (the
    wire must carry exactly what the student returned), and do both follow the rule above?"""
    source = template.format(expression=expression)
    passed = public_verdict(exercise, source)
    capsys.readouterr()
    path = tmp_path / "submission.ipynb"
    write(submission({exercise: source}), path)
    verdict = next(v for v in grade_notebook(path).exercises if v.name == exercise)
    points = next(e.points for e in EXERCISES if e.name == exercise)
    assert verdict.status == "graded", verdict
    failed = [(check.name, check.hint) for check in verdict.checks if not check.passed]
    assert (verdict.score == points) == passed, (passed, verdict.score, failed)
    assert passed == accepted
