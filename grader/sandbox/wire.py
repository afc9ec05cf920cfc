"""The frame format between the grader and a child, the same code on both sides (standard
library only: the fork server imports this file as a top-level module).

A frame is ``HEADER`` (JSON length, total blob length), the JSON header, then the blobs back
to back. Arrays travel as ``{"kind": "array", "dtype": "<f8", "shape": [..], "blob": i}``; any
other value as ``{"kind": "object", "type": "<type name>"}`` (plus ``"handle"`` when the child
keeps it).
"""

import json
import math
import os
import struct

HEADER = struct.Struct(">II")
COALESCE = 1 << 18
MAX_DEPTH = 32  # nested lists and objects, the header itself included
MAX_NODES = 100_000  # values in a header, containers included
MAX_INT = 1 << 63  # integers lie in [-MAX_INT, MAX_INT)
MAX_DIGITS = 20  # more than any integer in range has, sign included


class Malformed(ValueError):
    """A frame header that breaks the format."""


def pack(header: dict, blobs: list) -> list:
    """One frame, as the buffers to write in order: HEADER and the JSON header (blob sizes
    added under "blobs"), then the blobs themselves, not copied."""
    sizes = [memoryview(b).nbytes for b in blobs]
    text = json.dumps(dict(header, blobs=sizes), separators=(",", ":")).encode()
    head = HEADER.pack(len(text), sum(sizes)) + text
    if sum(sizes) < COALESCE:  # many small blobs: one write beats one per blob
        return [b"".join([head, *blobs])]
    return [head, *blobs]


def split(data: bytearray, sizes: list) -> list:
    """The blobs of a frame, as views into the one buffer they were read into."""
    view, blobs, start = memoryview(data), [], 0
    for size in sizes:
        blobs.append(view[start : start + size])
        start += size
    return blobs


def write_all(fd: int, parts: list, wait=None) -> None:
    """Write every buffer of PARTS to FD; WAIT() is called before each write (it may raise)."""
    for part in parts:
        view = memoryview(part)
        view = view.cast("B") if view.nbytes else b""
        while view:
            if wait is not None:
                wait()
            view = view[os.write(fd, view[: 1 << 20]) :]


def decode_header(text: bytes | bytearray | memoryview, blob_len: int) -> tuple[dict, list[int]]:
    """The JSON header TEXT of a frame whose blobs hold BLOB_LEN bytes, as the header without
    "blobs" and the blob sizes. Raises only :class:`Malformed`, whatever the bytes."""
    try:
        text = str(text, "utf-8")
        header = _DECODER.decode(text)
    except Malformed:
        raise
    except Exception as error:  # RecursionError on deep nesting, MemoryError, ...
        raise Malformed(f"not a JSON header: {type(error).__name__}") from error
    if type(header) is not dict:
        raise Malformed("the header is not an object")
    # Every value starts at a character of its own and every level of nesting at a bracket,
    # and only a \u escape makes a lone surrogate: most headers need no walk.
    if len(text) > MAX_NODES or text.count("[") + text.count("{") > MAX_DEPTH or "\\u" in text:
        _check_tree(header)
    sizes = header.pop("blobs", None)
    if type(sizes) is not list or not all(type(s) is int and s >= 0 for s in sizes):
        raise Malformed('"blobs" is not a list of sizes')
    if sum(sizes) != blob_len:
        raise Malformed(f"the blob sizes add up to {sum(sizes)}, not {blob_len}")
    return header, sizes


def _no_constant(name: str) -> None:
    raise Malformed(f"{name} is not JSON")


def _bounded_int(digits: str) -> int:
    if len(digits) > MAX_DIGITS or not -MAX_INT <= (n := int(digits)) < MAX_INT:
        raise Malformed("an integer out of range")
    return n


def _finite_float(digits: str) -> float:
    if not math.isfinite(x := float(digits)):
        raise Malformed(f"{digits} is not finite")
    return x


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_int=_bounded_int,
                            parse_float=_finite_float)


def _check_tree(top: dict) -> None:
    """Bounds on nesting and size, and strings that are valid Unicode, checked level by level
    without recursion."""
    nodes, depth, level = 1, 1, [top]
    while level:
        if depth > MAX_DEPTH:
            raise Malformed(f"nested deeper than {MAX_DEPTH}")
        below = []
        for item in level:
            if type(item) is dict:
                _check_strings(item)
                children = item.values()
            else:
                children = item
            nodes += len(children)
            if nodes > MAX_NODES:
                raise Malformed(f"more than {MAX_NODES:,} values")
            for child in children:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
                elif kind is str:
                    _check_strings((child,))
        level, depth = below, depth + 1


def _check_strings(strings) -> None:
    for s in strings:
        if not s.isascii():
            try:
                s.encode()
            except UnicodeEncodeError:
                raise Malformed("a string that is not valid Unicode") from None
