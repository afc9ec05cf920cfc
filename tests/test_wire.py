"""The frame header's decoder: whatever a child writes, a header and its sizes or Malformed."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.sandbox import wire
from grader.sandbox.box import Died, Sandbox
from grader.sandbox.wire import MAX_DEPTH, MAX_INT, MAX_NODES, Malformed, decode_header
from grader.settings import Limits

FUZZ = settings(derandomize=True, max_examples=300, deadline=None)


def nested(depth: int) -> bytes:
    """A header DEPTH levels deep, itself included."""
    return b'{"blobs":[],"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def with_value(value: str) -> bytes:
    return b'{"blobs":[],"x":' + value.encode() + b"}"


BAD = {
    "empty": (b"", 0),
    "invalid UTF-8": (b'{"blobs":[],"x":"\xff"}', 0),
    "UTF-16": ('{"blobs":[]}'.encode("utf-16"), 0),
    "invalid JSON": (b'{"blobs":[]', 0),
    "trailing data": (b'{"blobs":[]}{}', 0),
    "NaN": (with_value("NaN"), 0),
    "Infinity": (with_value("Infinity"), 0),
    "-Infinity": (with_value("-Infinity"), 0),
    "1e999": (with_value("1e999"), 0),
    "-1e999": (with_value("-1e999"), 0),
    "1e999 as a size": (b'{"blobs":[1e999]}', 0),
    "too deep": (nested(MAX_DEPTH + 1), 0),
    "100,000 deep": (nested(100_000), 0),
    "100,000 open brackets": (b"[" * 100_000, 0),
    "too many values": (with_value(json.dumps([0] * (MAX_NODES - 2))), 0),
    "int too large": (with_value(str(MAX_INT)), 0),
    "int too small": (with_value(str(-MAX_INT - 1)), 0),
    "100,000 digits": (with_value("9" * 100_000), 0),
    "lone surrogate": (with_value('"\\ud800"'), 0),
    "a list": (b"[]", 0),
    "a string": (b'"blobs"', 0),
    "null": (b"null", 0),
    "no blobs": (b"{}", 0),
    "blobs not a list": (b'{"blobs":3}', 3),
    "blobs an object": (b'{"blobs":{"0":3}}', 3),
    "a bool size": (b'{"blobs":[true]}', 1),
    "a negative size": (b'{"blobs":[-1,2]}', 1),
    "a float size": (b'{"blobs":[1.0]}', 1),
    "a string size": (b'{"blobs":["1"]}', 1),
    "a null size": (b'{"blobs":[null]}', 0),
    "sizes short of blob_len": (b'{"blobs":[1,2]}', 4),
    "sizes beyond blob_len": (b'{"blobs":[1,2]}', 2),
}


@pytest.mark.parametrize(("text", "blob_len"), BAD.values(), ids=BAD.keys())
def test_bad_headers_are_malformed(text: bytes, blob_len: int):
    with pytest.raises(Malformed):
        decode_header(text, blob_len)


GOOD = {
    "as deep as allowed": nested(MAX_DEPTH),
    "as many values as allowed": with_value(json.dumps([0] * (MAX_NODES - 3))),
    "largest int": with_value(str(MAX_INT - 1)),
    "smallest int": with_value(str(-MAX_INT)),
    "escaped non-ASCII": with_value(json.dumps("é\U0001f600")),
    "finite floats": with_value("[1e308,-2.5e-300,0.0]"),
}


@pytest.mark.parametrize("text", GOOD.values(), ids=GOOD.keys())
def test_headers_within_bounds_decode(text: bytes):
    assert decode_header(memoryview(text), 0) == ({"x": json.loads(text)["x"]}, [])


@pytest.mark.parametrize("header", [
    {},
    {"kind": "array", "dtype": "<f8", "shape": [2, 3], "blob": 0, "handle": 7},
    {"results": [{"kind": "object", "type": "NoneType"}, {"ok": True, "x": -1.5, "n": None}]},
])
def test_packed_frames_decode_to_their_header_and_sizes(header: dict):
    blobs = [b"abc", b"", bytearray(b"\x00" * 5)]
    frame = b"".join(wire.pack(header, blobs))
    text_len, blob_len = wire.HEADER.unpack_from(frame)
    text = bytearray(frame[wire.HEADER.size : wire.HEADER.size + text_len])
    assert decode_header(text, blob_len) == (header, [3, 0, 5])


def decodes_or_malformed(text: bytes, blob_len: int) -> None:
    """The fuzz tests' property: a header without "blobs" and sizes adding up to BLOB_LEN, or
    Malformed; any other exception fails the test."""
    try:
        header, sizes = decode_header(text, blob_len)
    except Malformed:
        return
    assert type(header) is dict and "blobs" not in header
    assert all(type(s) is int and s >= 0 for s in sizes) and sum(sizes) == blob_len


def nest(value: object, depth: int) -> object:
    for _ in range(depth):
        value = [value]
    return value


def tree(leaves: st.SearchStrategy) -> st.SearchStrategy:
    """JSON-ish values: LEAVES in lists and objects, a few levels deep."""
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=20)


values = tree(st.none() | st.booleans() | st.floats() | st.text(max_size=6)
              | st.integers(-(2**70), 2**70) | st.sampled_from([MAX_INT - 1, MAX_INT, -MAX_INT]))
finite_values = tree(st.none() | st.booleans() | st.text(max_size=6)
                     | st.floats(allow_nan=False, allow_infinity=False)
                     | st.integers(-MAX_INT, MAX_INT - 1))
sizes = st.lists(st.integers(-2, 2**64), max_size=4) | values
headers = st.builds(lambda h, b: {**h, "blobs": b}, st.dictionaries(
    st.text(max_size=6), values | st.builds(nest, values, st.integers(0, 2 * MAX_DEPTH)),
    max_size=4), sizes)


@st.composite
def json_texts(draw) -> tuple[bytes, int]:
    """JSON of any shape, sometimes cut short or with bytes added, and a blob length that often
    matches its sizes."""
    top = draw(headers | values)
    text = json.dumps(top).encode()
    mangle = draw(st.sampled_from(["whole", "cut", "extended"]))
    if mangle == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif mangle == "extended":
        text += draw(st.binary(min_size=1, max_size=8))
    blobs = top.get("blobs") if isinstance(top, dict) else None
    honest = sum(blobs) if isinstance(blobs, list) and all(type(b) is int for b in blobs) else 0
    return text, draw(st.sampled_from([honest, honest + 1]) | st.integers(0, 2**32 - 1))


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_random_bytes_decode_or_are_malformed(text: bytes, blob_len: int):
    decodes_or_malformed(text, blob_len)


@FUZZ
@given(json_texts())
def test_random_json_decodes_or_is_malformed(frame: tuple[bytes, int]):
    decodes_or_malformed(*frame)


@FUZZ
@given(st.integers(MAX_DEPTH, 100_000),
       st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"":', b"}]")]))
def test_deep_nesting_is_malformed(depth: int, brackets: tuple[bytes, bytes]):
    opening, closing = brackets
    with pytest.raises(Malformed):
        decode_header(b'{"blobs":[],"x":' + opening * depth + b"0" + closing * depth + b"}", 0)


@FUZZ
@given(st.lists(st.binary(max_size=16), max_size=4), st.integers(0, 300),
       st.integers(0, 2**32 - 1))
def test_frames_cut_or_overrun_decode_or_are_malformed(blobs: list[bytes], text_len: int,
                                                      blob_len: int):
    """A packed frame read with other lengths than its HEADER's: the text cut short or running
    into the blobs."""
    frame = b"".join(wire.pack({"kind": "object", "type": "int"}, blobs))
    start = wire.HEADER.size
    decodes_or_malformed(frame[start : start + text_len], blob_len)


@FUZZ
@given(st.dictionaries(st.text(max_size=6), finite_values, max_size=4),
       st.lists(st.binary(max_size=8), max_size=4))
def test_headers_within_bounds_round_trip(header: dict, blobs: list[bytes]):
    header.pop("blobs", None)
    frame = b"".join(wire.pack(header, blobs))
    text = frame[wire.HEADER.size : wire.HEADER.size + wire.HEADER.unpack_from(frame)[0]]
    sizes = [len(b) for b in blobs]
    assert decode_header(text, sum(sizes)) == (header, sizes)


@pytest.mark.parametrize("text", [nested(20_000), b'{"blobs":[1e999]}'], ids=["deep", "1e999"])
def test_receive_turns_a_hostile_header_into_an_error(text: bytes):
    box = Sandbox.__new__(Sandbox)  # no child: _receive reads only the pipe
    box.limits, box.dead, box._pid, box._killed, box._out_r = Limits(), None, None, False, None
    box._resp_r, write_end = os.pipe()
    try:
        os.write(write_end, wire.HEADER.pack(len(text), 0) + text)
        with pytest.raises(Died) as died:
            box._receive("the test's call", 0)
    finally:
        os.close(box._resp_r)
        os.close(write_end)
    assert died.value.status == "error"
