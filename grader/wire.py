"""The plain-data wire between the grader and the sandbox: value encoding and nonce-tagged frames.

This module is copied into the sandbox next to the harness and imported there as ``wire``, so it
depends on the standard library and NumPy only (``Unsupported`` comes from ``grader.calls`` in the
grader and from a ``calls.py`` copied beside it in the sandbox).

A message is one value: ``dumps(value) -> bytes`` and ``loads(bytes) -> value``. Its layout is

    u32 header length | header: UTF-8 JSON, one tagged node per value | array bytes, in order

and every node of the header is a JSON array whose first item is a tag:

    ["none"]  ["bool", true]  ["int", "-12"]  ["float", "0x1.8p+1"]  ["str", "text"]
    ["scalar", "<f8", "<hex of the item's bytes>"]     a NumPy scalar such as np.float64
    ["array", ">f8", [2, 3]]                           an ndarray; its bytes follow the header
    ["tuple", [...]]  ["list", [...]]  ["dict", [["key", node], ...]]
    ["unsupported", "TypeName"]                        anything that is not plain data

so a Python float, an np.float64 and a 0-d array stay distinct, floats round-trip exactly
(``float.hex``, NaN and infinities included) and arrays travel as raw bytes, never as JSON lists.
A dtype travels as its ``dtype.str``, byte order included, so the grader judges exactly the dtype
the student returned (a big-endian ``>f8`` array stays ``>f8``; NumPy scalars are always native).
``np.longdouble`` travels as its raw bytes when it is x87 extended precision (x86, x86_64: the
grader and the sandbox run the same interpreter on the same machine), with its padding bytes
zeroed and only canonical encodings allowed; elsewhere a longdouble wider than float64 is
Unsupported.

Decoding trusts nothing: every size is capped (``Caps``), every node is validated (tag, arity,
types, dtype allow-list, shape against byte count, bool bytes in {0, 1}, canonical longdouble
bytes with zero padding, native scalars, no duplicate dict keys),
the array bytes must be consumed exactly, and nothing is ever evaluated or unpickled. Anything
malformed raises ``WireError`` with a message saying what was wrong.

A frame carries one message on a byte stream: ``MAGIC | nonce (16 bytes) | u64 length | message``.
The nonce is chosen by the grader for each sandbox run; ``FrameReader`` rejects a frame with any
other magic, nonce or an oversized length.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import sys
from dataclasses import dataclass

import numpy as np

try:  # in the grader
    from grader.calls import Unsupported
except ImportError:  # in the sandbox, where calls.py is copied next to this file
    from calls import Unsupported  # type: ignore[no-redef]

MAGIC = b"CNNw"
NONCE_BYTES = 16
_FRAME_HEAD = struct.Struct("<4s16sQ")
_MESSAGE_HEAD = struct.Struct("<I")

_LONGDOUBLE = np.dtype(np.longdouble)
# x87 extended precision: a 64-bit significand with an explicit integer bit, then the sign and a
# 15-bit exponent, little-endian in the first 10 bytes of an item; the rest is padding that
# NumPy leaves uninitialised (np.empty), so it is zeroed on the way out.
_X87 = (
    sys.byteorder == "little"
    and _LONGDOUBLE.itemsize in (12, 16)
    and np.finfo(_LONGDOUBLE).nmant == 63
)
_X87_VALUE_BYTES = 10


def _both_byte_orders(kinds) -> frozenset[str]:
    return frozenset(np.dtype(kind).newbyteorder(order).str for kind in kinds for order in "<>")


# Dtypes that may cross the wire, as ``dtype.str`` in either byte order: bool, integers, floats
# (np.longdouble when it is x87 extended precision), complex. Never object, str or structured.
ALLOWED_DTYPES = _both_byte_orders(
    [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
    + [np.float16, np.float32, np.float64, np.complex64, np.complex128]
    + ([np.longdouble] if _X87 else [])
)
_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT_TEXT = re.compile(r"-?(0x[01]\.[0-9a-f]{1,13}p[+-][0-9]{1,4}|inf)|-?nan")
_HEX_TEXT = re.compile(r"(?:[0-9a-f]{2})+")


class WireError(ValueError):
    """A message or frame is malformed or breaks a cap."""


class TooLargeError(WireError):
    """A value is too large for one message (raised when encoding)."""


@dataclass(frozen=True)
class Caps:
    """Hard limits on one message; decoding rejects, encoding raises TooLargeError, beyond them.

    message_bytes -- whole message (header + array bytes)
    header_bytes  -- the JSON header
    arrays        -- ndarrays in one message
    nodes         -- values in one message (every scalar, container and array counts one)
    depth         -- nesting of containers (the top level is depth 0)
    string_chars  -- one str
    int_digits    -- decimal digits of one Python int
    ndim          -- dimensions of one ndarray
    """

    message_bytes: int = 64 << 20
    header_bytes: int = 8 << 20
    arrays: int = 4096
    nodes: int = 200_000
    depth: int = 32
    string_chars: int = 1 << 20
    int_digits: int = 1000
    ndim: int = 32


DEFAULT_CAPS = Caps()


def type_name(value) -> str:
    """The name an Unsupported value carries: the type's qualified name, capped."""
    kind = type(value)
    module = getattr(kind, "__module__", "") or ""
    qualname = getattr(kind, "__qualname__", None) or getattr(kind, "__name__", "?")
    name = qualname if module in ("builtins", "") else f"{module}.{qualname}"
    return str(name)[:200]


# --------------------------------------------------------------------------------------- encode


def dumps(value, *, caps: Caps = DEFAULT_CAPS, strict: bool = False) -> bytes:
    """Encode ``value`` as one message.

    Plain data (see the module docstring) is encoded as such; an ndarray subclass as its base
    ndarray; a subclass of tuple, list or dict as the base container; anything else (objects,
    object/str/structured dtypes, containers nested deeper than ``caps.depth``, non-str dict keys)
    as ``["unsupported", type name]``, or, with ``strict``, raises WireError.
    Raises TooLargeError when the message would break a cap on size or counts.
    """
    encoder = _Encoder(caps, strict)
    header = encoder.node(value, 0)
    text = json.dumps(header, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    header_bytes = text.encode("ascii")
    if len(header_bytes) > caps.header_bytes:
        raise TooLargeError(f"header of {len(header_bytes)} bytes exceeds {caps.header_bytes}")
    total = _MESSAGE_HEAD.size + len(header_bytes) + encoder.blob_bytes
    if total > caps.message_bytes:
        raise TooLargeError(f"message of {total} bytes exceeds {caps.message_bytes}")
    return b"".join([_MESSAGE_HEAD.pack(len(header_bytes)), header_bytes, *encoder.blobs])


class _Encoder:
    def __init__(self, caps: Caps, strict: bool):
        self.caps = caps
        self.strict = strict
        self.blobs: list[bytes] = []
        self.blob_bytes = 0
        self.nodes = 0

    def unsupported(self, name: str) -> list:
        if self.strict:
            raise WireError(f"not plain data: {name}")
        return ["unsupported", name[:200]]

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > self.caps.nodes:
            raise TooLargeError(f"more than {self.caps.nodes} values in one message")

    def node(self, value, depth: int) -> list:
        self.count()
        kind = type(value)
        if value is None:
            return ["none"]
        if kind is bool:
            return ["bool", value]
        if kind is int:
            if value.bit_length() > self.caps.int_digits * 3:  # ~digits * log2(10), conservative
                return self.unsupported("int (too large)")
            text = str(value)
            if len(text.lstrip("-")) > self.caps.int_digits:
                return self.unsupported("int (too large)")
            return ["int", text]
        if kind is float:
            return ["float", float.hex(value)]
        if kind is str:
            if len(value) > self.caps.string_chars:
                return self.unsupported(f"str (longer than {self.caps.string_chars} characters)")
            return ["str", value]
        if issubclass(kind, np.generic):
            # NumPy's own scalar types only (np.longlong is not np.int64: test the dtype).
            dtype = value.dtype if value.dtype.isnative else value.dtype.newbyteorder("=")
            if kind.__module__ != "numpy" or dtype.str not in ALLOWED_DTYPES:
                return self.unsupported(type_name(value))
            data = _item_bytes(np.asarray(value).astype(dtype))
            if data is None:
                return self.unsupported(f"{type_name(value)} (not a canonical number)")
            return ["scalar", dtype.str, data.hex()]
        if issubclass(kind, np.ndarray):
            return self.array(value)
        if depth >= self.caps.depth:
            return self.unsupported(f"{type_name(value)} (nested deeper than {self.caps.depth})")
        for container in (tuple, list, dict):  # the base type's len: overrides play no part
            if issubclass(kind, container) and container.__len__(value) > self.caps.nodes:
                raise TooLargeError(f"a {type_name(value)} of more than {self.caps.nodes} items")
        if issubclass(kind, tuple):
            return ["tuple", [self.node(item, depth + 1) for item in tuple.__iter__(value)]]
        if issubclass(kind, list):
            return ["list", [self.node(item, depth + 1) for item in list.__iter__(value)]]
        if issubclass(kind, dict):
            items = list(dict.items(value))
            if any(type(key) is not str for key, _ in items):
                return self.unsupported(f"{type_name(value)} with keys that are not str")
            return ["dict", [[key, self.node(item, depth + 1)] for key, item in items]]
        return self.unsupported(type_name(value))

    def array(self, value: np.ndarray) -> list:
        # The base class's own view: a subclass's overridden methods and attributes play no part.
        base = np.ndarray.view(value, np.ndarray)
        dtype = base.dtype
        if dtype.str not in ALLOWED_DTYPES:
            return self.unsupported(f"ndarray of dtype {base.dtype}")
        if base.ndim > self.caps.ndim:
            return self.unsupported(f"ndarray with {base.ndim} dimensions")
        if len(self.blobs) >= self.caps.arrays:
            raise TooLargeError(f"more than {self.caps.arrays} arrays in one message")
        nbytes = int(base.size) * dtype.itemsize
        if self.blob_bytes + nbytes > self.caps.message_bytes:
            raise TooLargeError(
                f"arrays of more than {self.caps.message_bytes} bytes in one message"
            )
        data = _item_bytes(base)
        if data is None:
            return self.unsupported(f"ndarray of dtype {base.dtype} (not canonical numbers)")
        self.blobs.append(data)
        self.blob_bytes += len(data)
        return ["array", dtype.str, [int(size) for size in base.shape]]


def _item_bytes(array: np.ndarray) -> bytes | None:
    """The array's items in C order, in its own dtype and byte order; an x87 longdouble's
    padding is zeroed and a non-canonical encoding replaced by what arithmetic makes of it
    (a pseudo-denormal: the normal number of equal value; an unnormal, pseudo-infinity or
    pseudo-NaN: the default NaN), so the bytes pass ``_Decoder``'s checks. None if they cannot.
    """
    if not _is_x87(array.dtype):
        return array.tobytes(order="C")
    data = np.array(array, order="C").reshape(-1).view(np.uint8)  # a copy this may change
    items = _x87_items(data, array.dtype)
    wrong = ~_x87_canonical(items)
    if wrong.any():
        values = np.ascontiguousarray(items[wrong]).view(_LONGDOUBLE)
        with np.errstate(all="ignore"):
            items[wrong] = (values * np.longdouble(1)).view(np.uint8)
    items[:, _X87_VALUE_BYTES:] = 0
    if not _x87_canonical(items).all():
        return None
    return data.tobytes()


def _is_x87(dtype: np.dtype) -> bool:
    return _X87 and dtype.kind == "f" and dtype.itemsize == _LONGDOUBLE.itemsize


def _x87_items(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """One row of uint8 per item of ``data`` (uint8, C order), least significant byte first:
    a view, so writing to it writes to ``data``."""
    items = data.reshape(-1, dtype.itemsize)
    return items[:, ::-1] if dtype.byteorder == ">" else items


def _x87_canonical(items: np.ndarray) -> np.ndarray:
    """Per item: is the explicit integer bit set exactly when the exponent is not zero?"""
    significand = np.ascontiguousarray(items[:, :8]).view("<u8")[:, 0]
    exponent = np.ascontiguousarray(items[:, 8:10]).view("<u2")[:, 0] & 0x7FFF
    return (significand >> np.uint64(63) == 1) == (exponent != 0)


# --------------------------------------------------------------------------------------- decode


def loads(data, *, caps: Caps = DEFAULT_CAPS):
    """Decode one message made by ``dumps``; raise WireError on anything malformed.

    Returns plain data only: None, bool, int, float, str, exact NumPy scalars, base ndarrays
    (in the dtype and byte order sent; writable, C-contiguous, own their memory), tuple, list,
    dict with str keys, Unsupported.
    """
    view = memoryview(data).cast("B")
    if len(view) > caps.message_bytes:
        raise WireError(f"message of {len(view)} bytes exceeds {caps.message_bytes}")
    if len(view) < _MESSAGE_HEAD.size:
        raise WireError("message shorter than its header length field")
    (header_length,) = _MESSAGE_HEAD.unpack_from(view, 0)
    if header_length > caps.header_bytes:
        raise WireError(f"header of {header_length} bytes exceeds {caps.header_bytes}")
    blobs_start = _MESSAGE_HEAD.size + header_length
    if blobs_start > len(view):
        raise WireError("header length runs past the end of the message")
    try:
        text = bytes(view[_MESSAGE_HEAD.size : blobs_start]).decode("ascii")
        header = json.loads(
            text,
            object_pairs_hook=_reject_object,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except WireError:
        raise
    except (ValueError, RecursionError) as error:
        raise WireError(f"header is not valid JSON: {type(error).__name__}: {error}") from None
    decoder = _Decoder(view, blobs_start, caps)
    value = decoder.node(header, 0)
    if decoder.offset != len(view):
        raise WireError(f"{len(view) - decoder.offset} bytes after the last array")
    return value


def _reject_object(pairs):
    raise WireError("JSON objects are not part of the wire format")


def _reject_float(text):
    raise WireError(f"JSON float {text[:20]!r} is not part of the wire format")


def _reject_constant(text):
    raise WireError(f"JSON constant {text!r} is not part of the wire format")


class _Decoder:
    def __init__(self, view: memoryview, offset: int, caps: Caps):
        self.view = view
        self.offset = offset
        self.caps = caps
        self.nodes = 0
        self.arrays = 0

    def node(self, node, depth: int):
        self.nodes += 1
        if self.nodes > self.caps.nodes:
            raise WireError(f"more than {self.caps.nodes} values")
        if type(node) is not list or not node or type(node[0]) is not str:
            raise WireError(
                f"a node must be a non-empty list starting with a tag, got {node!r:.80}"
            )
        tag, fields = node[0], node[1:]
        handler = _NODE_HANDLERS.get(tag)
        if handler is None:
            raise WireError(f"unknown tag {tag!r:.40}")
        arity = handler[0]
        if len(fields) != arity:
            raise WireError(f"{tag!r} takes {arity} fields, got {len(fields)}")
        if tag in ("tuple", "list", "dict") and depth >= self.caps.depth:
            raise WireError(f"containers nested deeper than {self.caps.depth}")
        return handler[1](self, fields, depth)

    def none(self, fields, depth):
        return None

    def boolean(self, fields, depth):
        if type(fields[0]) is not bool:
            raise WireError("'bool' needs true or false")
        return fields[0]

    def integer(self, fields, depth):
        text = fields[0]
        if type(text) is not str or len(text) > self.caps.int_digits + 1:
            raise WireError("'int' needs a decimal string within the digit cap")
        if not _INT_TEXT.fullmatch(text):
            raise WireError(f"'int' text {text!r:.40} is not a plain decimal")
        return int(text)

    def floating(self, fields, depth):
        text = fields[0]
        if type(text) is not str or not _FLOAT_TEXT.fullmatch(text):
            raise WireError(f"'float' text {text!r:.40} is not float.hex output")
        return float.fromhex(text)

    def string(self, fields, depth):
        text = fields[0]
        if type(text) is not str or len(text) > self.caps.string_chars:
            raise WireError("'str' needs a string within the length cap")
        return text

    def scalar(self, fields, depth):
        dtype_text, hex_text = fields
        dtype = self.dtype(dtype_text)
        if not dtype.isnative:
            raise WireError(f"'scalar' of {dtype_text} is not in native byte order")
        if type(hex_text) is not str or len(hex_text) != 2 * dtype.itemsize:
            raise WireError(f"'scalar' of {dtype_text} needs {2 * dtype.itemsize} hex digits")
        if not _HEX_TEXT.fullmatch(hex_text):
            raise WireError("'scalar' bytes are not lowercase hex")
        raw = bytes.fromhex(hex_text)
        if dtype.kind == "b" and raw not in (b"\x00", b"\x01"):
            raise WireError("'scalar' bool byte must be 0 or 1")
        self.check_x87(raw, dtype)
        return np.frombuffer(raw, dtype=dtype)[0]

    def array(self, fields, depth):
        dtype_text, shape = fields
        dtype = self.dtype(dtype_text)
        if type(shape) is not list or len(shape) > self.caps.ndim:
            raise WireError(f"'array' shape must be a list of at most {self.caps.ndim} sizes")
        if any(type(size) is not int or size < 0 for size in shape):
            raise WireError("'array' shape sizes must be non-negative integers")
        self.arrays += 1
        if self.arrays > self.caps.arrays:
            raise WireError(f"more than {self.caps.arrays} arrays")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > len(self.view) - self.offset:
            raise WireError(f"array of {nbytes} bytes runs past the end of the message")
        raw = self.view[self.offset : self.offset + nbytes]
        self.offset += nbytes
        if dtype.kind == "b" and nbytes and np.frombuffer(raw, dtype=np.uint8).max() > 1:
            raise WireError("bool array bytes must be 0 or 1")
        self.check_x87(raw, dtype)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    def sequence(self, fields, depth, kind):
        items = fields[0]
        if type(items) is not list:
            raise WireError(f"'{kind.__name__}' needs a list of nodes")
        return kind(self.node(item, depth + 1) for item in items)

    def mapping(self, fields, depth):
        pairs = fields[0]
        if type(pairs) is not list:
            raise WireError("'dict' needs a list of [key, node] pairs")
        result = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise WireError("'dict' items must be [str key, node]")
            key = pair[0]
            if len(key) > self.caps.string_chars:
                raise WireError("dict key longer than the string cap")
            if key in result:
                raise WireError(f"duplicate dict key {key!r:.40}")
            result[key] = self.node(pair[1], depth + 1)
        return result

    def unsupported(self, fields, depth):
        name = fields[0]
        if type(name) is not str or len(name) > 200:
            raise WireError("'unsupported' needs a type name of at most 200 characters")
        return Unsupported(name)

    def check_x87(self, raw, dtype: np.dtype) -> None:
        if not _is_x87(dtype):
            return
        items = _x87_items(np.frombuffer(raw, dtype=np.uint8), dtype)
        if items[:, _X87_VALUE_BYTES:].any():
            raise WireError(f"{dtype.str} padding bytes must be 0")
        if not _x87_canonical(items).all():
            raise WireError(f"{dtype.str} bytes are not a canonical extended-precision number")

    def dtype(self, text) -> np.dtype:
        if type(text) is not str or text not in ALLOWED_DTYPES:
            raise WireError(f"dtype {text!r:.20} is not allowed")
        return np.dtype(text)


_NODE_HANDLERS = {
    "none": (0, _Decoder.none),
    "bool": (1, _Decoder.boolean),
    "int": (1, _Decoder.integer),
    "float": (1, _Decoder.floating),
    "str": (1, _Decoder.string),
    "scalar": (2, _Decoder.scalar),
    "array": (2, _Decoder.array),
    "tuple": (1, lambda self, fields, depth: self.sequence(fields, depth, tuple)),
    "list": (1, lambda self, fields, depth: self.sequence(fields, depth, list)),
    "dict": (1, _Decoder.mapping),
    "unsupported": (1, _Decoder.unsupported),
}


# --------------------------------------------------------------------------------------- frames


def frame(nonce: bytes, message: bytes) -> bytes:
    """One frame: MAGIC, the run's nonce, the message length (u64) and the message."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    return _FRAME_HEAD.pack(MAGIC, nonce, len(message)) + message


def write_frame(fd: int, nonce: bytes, message: bytes) -> None:
    """Write one whole frame to a file descriptor (looping over partial writes)."""
    data = memoryview(frame(nonce, message))
    while data:
        written = os.write(fd, data)
        data = data[written:]


class FrameReader:
    """Splits a byte stream into messages, rejecting any frame not made for this run.

    feed(chunk) returns the complete messages so far. At the first byte that is not part of a
    well-formed frame carrying ``nonce`` (a forged, corrupted or oversized frame), it still
    returns the messages before it and sets ``error``; later calls raise that WireError.
    """

    def __init__(self, nonce: bytes, *, caps: Caps = DEFAULT_CAPS):
        if len(nonce) != NONCE_BYTES:
            raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
        self.nonce = nonce
        self.caps = caps
        self.buffer = bytearray()
        self.error: WireError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.error is not None:
            raise self.error
        self.buffer += chunk
        messages = []
        try:
            while (message := self._next()) is not None:
                messages.append(message)
        except WireError as error:
            self.error = error
            if not messages:
                raise
        return messages

    def _next(self) -> bytes | None:
        if len(self.buffer) < len(MAGIC):
            if not MAGIC.startswith(bytes(self.buffer)):
                raise WireError("stream does not start with a frame marker")
            return None
        if self.buffer[: len(MAGIC)] != MAGIC:
            raise WireError("stream does not start with a frame marker")
        if len(self.buffer) < _FRAME_HEAD.size:
            return None
        _, nonce, length = _FRAME_HEAD.unpack_from(self.buffer, 0)
        if nonce != self.nonce:
            raise WireError("frame carries another run's nonce")
        if length > self.caps.message_bytes:
            raise WireError(f"frame of {length} bytes exceeds {self.caps.message_bytes}")
        end = _FRAME_HEAD.size + length
        if len(self.buffer) < end:
            return None
        message = bytes(self.buffer[_FRAME_HEAD.size : end])
        del self.buffer[:end]
        return message

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame (non-zero at EOF: a cut frame)."""
        return len(self.buffer)


def read_frames(data: bytes, nonce: bytes, *, caps: Caps = DEFAULT_CAPS) -> list[bytes]:
    """All messages of a complete byte string of frames; WireError if it ends mid-frame."""
    reader = FrameReader(nonce, caps=caps)
    messages = reader.feed(data)
    if reader.error is not None:
        raise reader.error
    if reader.pending:
        raise WireError(f"{reader.pending} bytes of an unfinished frame at the end")
    return messages
