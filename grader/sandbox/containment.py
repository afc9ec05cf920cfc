"""Which containment a run has: the strongest this machine gives, found by trying it once
(a fork server and one confined child that imports numpy), and the line every run prints.

``--sandbox auto`` (the default) grades with the strongest containment found and says so;
``strict`` refuses to grade without full containment; ``none`` forces plain processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import wire
from grader.sandbox.jail import NPROC, TMP_SIZE
from grader.sandbox.server import ForkServer, ServerGone

MODES = ("auto", "strict", "none")
TRIAL_SECONDS = 30.0


@dataclass(frozen=True)
class Containment:
    """What the children of a run get. ``level`` is one of :data:`jail.LEVELS`."""

    level: str
    nproc: int | None = None
    why_not: str = ""  # why a stronger level could not be had

    @property
    def full(self) -> bool:
        return self.level != "none" and self.nproc is not None

    def missing(self) -> str:
        """What full containment lacks here, for ``--sandbox strict``."""
        if self.level == "none":
            return f"namespaces ({self.why_not})" if self.why_not else "namespaces"
        return "" if self.nproc else "a cap on processes (Linux before 5.14 counts them per user)"

    def describe(self) -> str:
        """One line: 'sandbox: ...'."""
        if self.level == "none":
            why = f" [{self.why_not}]" if self.why_not else ""
            return f"sandbox: NONE (plain processes): only grade trusted code here{why}"
        who = "namespaces as root, a uid of its own" if self.level == "root" else \
            "user namespaces"
        cap = f"{self.nproc} processes" if self.nproc else "no process cap"
        return (f"sandbox: {who}, minimal root, no network, {cap}, "
                f"{TMP_SIZE >> 20} MiB /tmp")


class ContainmentError(Exception):
    """``--sandbox strict`` where full containment cannot be had."""


def choose(mode: str = "auto") -> Containment:
    """The containment a run with ``--sandbox MODE`` gets on this machine. Raises
    ContainmentError for ``strict`` without full containment."""
    found = _strongest(mode)
    if mode == "strict" and not found.full:
        raise ContainmentError(f"--sandbox strict: this machine cannot give full containment; "
                               f"missing: {found.missing()}")
    return found


def _strongest(mode: str) -> Containment:
    if mode == "none":
        return Containment("none", why_not="--sandbox none")
    if not hasattr(os, "geteuid") or not Path("/proc/self/ns").is_dir():
        return Containment("none", why_not="not Linux")
    level = "root" if os.geteuid() == 0 else "user"
    try:
        return Containment(level, nproc=trial(level))
    except ServerGone as err:
        return Containment("none", why_not=str(err))


def trial(level: str) -> int | None:
    """Start a fork server of LEVEL and one confined child that imports numpy; return the
    child's process cap. Raises ServerGone with the reason when it cannot be done."""
    workdir = tempfile.mkdtemp(prefix="dropout-grader-trial-")
    (Path(workdir) / "submission").mkdir(mode=0o755)
    (Path(workdir) / "submission").chmod(0o755)  # whatever the umask: as root, the child
    (Path(workdir) / "submission" / "trial.py").write_text("")  # reads it as another uid
    (Path(workdir) / "submission" / "trial.py").chmod(0o644)
    pipes = [os.pipe() for _ in range(3)]  # request, response, output
    try:
        with ForkServer(level) as server:
            pid = server.spawn(workdir, [pipes[0][0], pipes[1][1], pipes[2][1]], {})
            for fd in (pipes[0][0], pipes[1][1], pipes[2][1]):
                os.close(fd)
            pipes = [(None, pipes[0][1]), (pipes[1][0], None), (pipes[2][0], None)]
            root = "/submission"
            setup = {"rlimits": {}, "rng_seed": 0, "dtypes": [], "root": root,
                     "package": False, "module": None, "file": f"{root}/trial.py",
                     "functions": []}
            wire.write_all(pipes[0][1], wire.pack(setup, []))
            try:
                reply = _read_frame(pipes[1][0])
            finally:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError) as err:
        raise ServerGone(f"the trial child did not answer ({err})") from err
    finally:
        for pair in pipes:
            for fd in pair:
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    if reply.get("kind") != "loaded":
        raise ServerGone(str(reply.get("message") or reply.get("type") or reply))
    return reply.get("nproc") if reply.get("nproc") == NPROC else None


def _read_frame(fd: int) -> dict:
    """One frame's JSON header from FD (blocking: the trial child is the grader's own)."""
    import select

    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            ready, _, _ = select.select([fd], [], [], TRIAL_SECONDS)
            chunk = os.read(fd, n - len(data)) if ready else b""
            if not chunk:
                raise ValueError("no answer")
            data += chunk
        return data

    text_len, blob_len = wire.HEADER.unpack(read(wire.HEADER.size))
    header = json.loads(read(text_len))
    read(blob_len)
    return header
