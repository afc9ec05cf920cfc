"""The frame format between the grader and a child, the same code on both sides (standard
library only: the fork server imports this file as a top-level module).

A frame is ``HEADER`` (JSON length, total blob length), the JSON header, then the blobs back
to back. Arrays travel as ``{"kind": "array", "dtype": "<f8", "shape": [..], "blob": i}``; any
other value as ``{"kind": "object", "type": "<type name>"}`` (plus ``"handle"`` when the child
keeps it).
"""

import json
import os
import struct

HEADER = struct.Struct(">II")
COALESCE = 1 << 18


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
