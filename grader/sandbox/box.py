"""One submission's child process, seen from the grader: start it with limits, talk to it,
judge nothing, kill it.

The child is cloned by the worker's :class:`~grader.sandbox.server.ForkServer` into the
containment of its level (:mod:`grader.sandbox.jail`): where namespaces can be had, its own
minimal root, where its copy of the submission is ``/submission`` and its working directory
a small ``/tmp`` of its own. Its ``sys.path`` holds only the standard library, numpy and that
copy: it can reach neither ``grader`` nor ``reference``. What it sends back is validated here
before anything is built from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import select
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.discover import Target, copy_target, remove_tree
from grader.sandbox import wire
from grader.sandbox.jail import SUBMISSION, WORKDIR
from grader.sandbox.server import ForkServer, ServerGone
from grader.settings import Limits
from grader.starter import overlay

# Array dtypes accepted from the child; anything else arrives as a description.
DTYPES = tuple(np.dtype(t).str for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128"))
MAX_HEADER = 1 << 20
F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20
FUNCTIONS = ("dropout_forward", "dropout_backward")
OUTPUT_READ = 1 << 16
OUTPUT_DRAINS = 16  # reads of OUTPUT_READ when a child closes: more than a pipe holds


class Died(Exception):
    """The child process is gone, or was stopped; every later call fails with this cause."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.message = message
        self.status = status  # one of grades.csv's statuses: timeout, crash, memory, error


@dataclass
class CapturedOutput:
    """What the student's code printed (stdout and stderr together), capped."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0
    hidden: CapturedOutput | None = None  # what came once hidden checks ran (see hide)

    def feed(self, chunk: bytes) -> None:
        if self.hidden is not None:
            self.hidden.feed(chunk)
            return
        room = self.limit - len(self.data)
        self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def hide(self) -> None:
        """From now on, what the code prints is kept apart, for the course staff only: a
        hidden check's inputs may be printed during it or remembered and printed later."""
        if self.hidden is None:
            self.hidden = CapturedOutput(self.limit)

    def text(self) -> str:
        """What students may see: what was printed before any hidden check ran."""
        text = self.data.decode("utf-8", "replace")
        if self.dropped:
            total = len(self.data) + self.dropped
            text += (f"\n[... the code printed {size(total)}; the first {size(self.limit)} "
                     "are shown]")
        if self.hidden is not None and (self.hidden.data or self.hidden.dropped):
            text += "\n[what the code printed once hidden checks ran is shown to the staff only]"
        return text

    def hidden_text(self) -> str:
        """What was printed once hidden checks ran ("" if none ran)."""
        return "" if self.hidden is None else self.hidden.text()


def size(n: float) -> str:
    """A byte count for people: '1 GiB', '200 MB', '8 kB'."""
    if n >= 1 << 30 and n % (1 << 30) == 0:
        return f"{n // (1 << 30):g} GiB"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g} bytes"


class Sandbox:
    """The child process of one submission. Use as a context manager; :meth:`close` kills
    its whole process group."""

    def __init__(self, target: Target, limits: Limits, server: ForkServer,
                 rng_seed: int = 231, remove: Callable[[str], object] | None = None,
                 starter: Path | None = None):
        self.target = target
        self.child_root = str(target.root)  # the submission's folder as the child sees it
        self.starter = starter  # the course's starter code, graded over
        self.from_starter: list[str] = []  # the files the submission lacked, taken from it
        self.remove = remove or _remove_now  # how its working directory goes when it closes
        self.limits = limits
        self.server = server
        self.rng_seed = rng_seed
        self.output = CapturedOutput(limits.output)
        self.dead: Died | None = None
        self.functions: dict[str, bool] = {}
        self.load_failure: dict | None = None
        self._pid: int | None = None
        self._killed = False
        self._loaded = False

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start the child: cloned and confined, it waits for :meth:`wait_loaded` to have it
        import the submission. A child started ahead of its turn runs none of the student's
        code meanwhile (which could take the core from the one being judged). Failures are
        kept in ``dead``, never raised."""
        self._workdir = tempfile.mkdtemp(prefix="dropout-grader-run-")
        try:
            self.target = copy_target(self.target, Path(self._workdir) / "submission")
            if self.starter is not None:
                self.target, self.from_starter = overlay(self.target,
                                                         Path(self._workdir) / "submission",
                                                         self.starter)
        except BaseException:  # a copy refused (too large, say) leaves nothing behind
            self.remove(self._workdir)
            raise
        inside = self.target  # the same target, as the child sees it
        if self.server.level != "none":
            root = Path(SUBMISSION)
            inside = Target(root, root / self.target.file.relative_to(self.target.root),
                            self.target.module, self.target.display)
        self.child_root = str(inside.root)
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        self._out_r, out_w = os.pipe()
        for fd in (self._req_w, self._resp_r):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        try:
            home = self._workdir if self.server.level == "none" else WORKDIR
            self._pid = self.server.spawn(self._workdir, [req_r, resp_w, out_w],
                                          {"HOME": home})
        except ServerGone as err:
            self.dead = Died(f"the sandbox could not be started ({err})", "error")
            return
        finally:
            for fd in (req_r, resp_w, out_w):
                os.close(fd)
        self._setup = {
            "rlimits": {"RLIMIT_AS": self.limits.memory, "RLIMIT_FSIZE": self.limits.file_size,
                        "RLIMIT_CPU": self.limits.cpu_seconds, "RLIMIT_CORE": 0,
                        "RLIMIT_NOFILE": self.limits.open_files},
            "rng_seed": self.rng_seed, "dtypes": list(DTYPES),
            "root": str(inside.root), "package": inside.module is not None,
            "module": inside.module, "file": str(inside.file), "functions": list(FUNCTIONS)}

    @property
    def _import(self) -> str:
        """The import, as failure messages name it."""
        return "the import of " + self.target.display

    def wait_loaded(self) -> None:
        """Have the child import the submission, and wait for it. Import failures are kept in
        ``load_failure`` (a "raised" description) or ``dead``, never raised."""
        if self.dead or self._loaded:
            return
        self._loaded = True
        try:
            self._send(self._setup, [], self._import)
            reply, _ = self._receive(self._import, 0)
            if reply.get("kind") == "loaded" and not isinstance(reply.get("functions"), dict):
                self._malformed(self._import)
        except Died as died:
            self.dead = died
            return
        if reply.get("kind") == "unconfined":
            self.dead = Died(f"the sandbox could not be set up ({str(reply.get('message'))[:500]})"
                             "; the submission was not run", "error")
            self._kill()
        elif reply.get("kind") == "loaded":
            self.functions = {str(k): v is True for k, v in reply["functions"].items()}
        else:
            self.load_failure = reply
            self._kill()

    def call(self, calls: list[dict], arrays: list[np.ndarray], what: str, max_bytes: int,
             stack: bool = False) -> tuple[list[dict] | dict, list[memoryview]]:
        """Send one batch of calls; return the child's results and the arrays they refer to.
        A call with "shifts" (a list of [flat index, delta]) is one call per shift, its first
        argument moved there. With STACK, a batch whose calls all returned alike arrays first
        comes back as one array: the description of the stacked outputs (a dict) replaces
        the list of results. Raises :class:`Died` when the child is (or goes) away."""
        reply, out_blobs = self._ask({"calls": calls, "stack": stack}, arrays, what, max_bytes)
        if stack and reply.get("kind") == "stacked" and isinstance(reply.get("value"), dict):
            return reply["value"], out_blobs
        answers = reply.get("results")
        expected = sum(len(call["shifts"]) if "shifts" in call else 1 for call in calls)
        if (reply.get("kind") != "results" or not isinstance(answers, list)
                or len(answers) != expected or not all(isinstance(a, dict) for a in answers)):
            self._malformed(what)
        return answers, out_blobs

    def net(self, plan: dict, arrays: list[np.ndarray], what: str,
            max_bytes: int) -> tuple[dict, list[memoryview]]:
        """Have the child run PLAN on the student's FullyConnectedNet (see ``fcnet.run``; the
        plan's "arrays" describe ARRAYS); return its answer and the arrays it refers to.
        Raises :class:`Died` when the child is (or goes) away."""
        reply, out_blobs = self._ask({"net": plan}, arrays, what, max_bytes)
        if reply.get("kind") != "net":
            self._malformed(what)
        return reply, out_blobs

    def close(self) -> None:
        """Kill the child's whole process group and remove its working directory."""
        self._kill()
        if getattr(self, "_out_r", None) is not None:
            # What it printed before its last answer is in the pipe: take that, without waiting
            # (and without following a process that escaped the kill and keeps printing).
            os.set_blocking(self._out_r, False)
            with contextlib.suppress(BlockingIOError):
                for _ in range(OUTPUT_DRAINS):
                    if self._out_r is None:
                        break
                    self._read_output()
        for name in ("_req_w", "_resp_r", "_out_r"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)
        if getattr(self, "_workdir", None):
            self.remove(self._workdir)

    # -- plumbing ---------------------------------------------------------------------------

    def _ask(self, request: dict, arrays: list[np.ndarray], what: str,
             max_bytes: int) -> tuple[dict, list[memoryview]]:
        """One round trip: REQUEST with ARRAYS out, the reply (at most MAX_BYTES of arrays)
        back."""
        self.wait_loaded()
        if self.dead:
            raise self.dead
        blobs = [np.ascontiguousarray(a) for a in arrays]
        self._send({**request, "max_bytes": max_bytes}, blobs, what)
        return self._receive(what, max_bytes)

    def _read_output(self) -> None:
        """Take what the child printed (one read); at its end, stop listening."""
        chunk = os.read(self._out_r, OUTPUT_READ)
        if chunk:
            self.output.feed(chunk)
        else:
            os.close(self._out_r)
            self._out_r = None

    def _kill(self) -> None:
        """Kill the process group; in its PID namespace everything the child started goes
        with it. How it ended is not waited for."""
        if self._pid is None or self._killed:
            return
        self._signal_group()
        self._killed = True
        self.server.forget(self._pid)

    def _signal_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signal.SIGKILL)

    def _how_it_ended(self, grace: float) -> int | None:
        """The child's exit code (minus a signal number), giving a child that is already dying
        GRACE seconds to end by itself so that its own cause of death is the one seen."""
        if self._pid is None or self._killed:
            return None
        code = self.server.exit_code(self._pid, timeout=grace)
        if code is None:
            self._signal_group()
            code = self.server.exit_code(self._pid)
        self._killed = True
        self.server.sweep(self._pid)
        return code

    def _fail(self, message: str, status: str) -> None:
        self.dead = Died(message, status)
        self._kill()
        raise self.dead

    def _malformed(self, what: str) -> None:
        self._fail(f"{what}: the process sent a malformed answer", "error")

    def _deadline_wait(self, fd: int, deadline: float, write: bool) -> bool:
        """Wait until FD is ready (True) or DEADLINE passes (False); what the child prints
        meanwhile is read, so that a full output pipe never stops it."""
        while (remaining := deadline - time.monotonic()) > 0:
            output = [] if self._out_r is None else [self._out_r]
            readable, writable, _ = select.select(output + ([] if write else [fd]),
                                                  [fd] if write else [], [], remaining)
            if output and output[0] in readable:
                self._read_output()
            if writable or fd in readable:
                return True
        return False

    def _send(self, header: dict, blobs: list, what: str) -> None:
        deadline = time.monotonic() + self.limits.timeout

        def wait() -> None:
            if not self._deadline_wait(self._req_w, deadline, write=True):
                self._timed_out(what)

        try:
            wire.write_all(self._req_w, wire.pack(header, blobs), wait)
        except BrokenPipeError:
            self._gone(what)

    def _read_exact(self, n: int, deadline: float, what: str) -> bytearray:
        data, done = bytearray(n), 0
        while done < n:
            if not self._deadline_wait(self._resp_r, deadline, write=False):
                self._timed_out(what)
            got = os.readv(self._resp_r, [memoryview(data)[done:]])
            if not got:
                self._gone(what)
            done += got
        return data

    def _receive(self, what: str, max_bytes: int) -> tuple[dict, list[memoryview]]:
        deadline = time.monotonic() + self.limits.timeout
        text_len, blob_len = wire.HEADER.unpack(
            self._read_exact(wire.HEADER.size, deadline, what))
        if text_len > MAX_HEADER or blob_len > max_bytes:
            self._fail(f"{what}: the process tried to send {blob_len:,} bytes, "
                       f"more than the {max_bytes:,} allowed", "error")
        text = self._read_exact(text_len, deadline, what)
        try:
            header, sizes = wire.decode_header(text, blob_len)
        except wire.Malformed:
            self._malformed(what)
        return header, wire.split(self._read_exact(blob_len, deadline, what), sizes)

    def _timed_out(self, what: str) -> None:
        self._fail(f"{what} did not return within {self.limits.timeout:g} s", "timeout")

    def _gone(self, what: str) -> None:
        code = self._how_it_ended(grace=2.0)
        if code is not None and code < 0:
            self._fail(f"the process was killed by {signal.Signals(-code).name} during {what}",
                       "crash")
        self._fail(f"the process exited (exit code {code}) during {what}: "
                   "os._exit() or a crash of the interpreter", "crash")


def _remove_now(folder: str) -> None:
    remove_tree(folder)


def decode_array(spec: dict, blobs: list[bytes]) -> np.ndarray | None:
    """Build an ndarray from the child's description, or None if the description is invalid."""
    try:
        dtype, shape, blob = spec["dtype"], spec["shape"], spec["blob"]
        if type(blob) is not int or not all(type(n) is int for n in shape):
            return None
        shape, blob = tuple(shape), blobs[blob]
    except (KeyError, TypeError, IndexError):
        return None
    if dtype not in DTYPES or any(n < 0 for n in shape) or len(shape) > 32:
        return None
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize != blob.nbytes:  # Python integers: no overflow
        return None
    try:
        return np.frombuffer(blob, dtype=dtype).reshape(shape)  # a view of bytes read for it
    except ValueError:
        return None
