"""The fork server of one grading worker, seen from the worker: a small process that has
imported numpy and nothing of the grader's, and clones a fresh child for each submission, so
that no submission pays for starting Python and importing numpy (its side is
:func:`child.serve`, in ``child.py`` beside this file)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The fork server loads child.py, jail.py and wire.py as top-level modules, then forgets where
# they came from: its children's sys.path holds no folder of the grader's.
BOOT = ("import sys\nsys.path.insert(0, {here!r})\nimport child\ndel sys.path[0]\n"
        "child.serve(int(sys.argv[1]), *sys.argv[2:])")
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def site_packages() -> str:
    """The folder numpy is installed in (found without importing it)."""
    return str(Path(importlib.util.find_spec("numpy").origin).resolve().parent.parent)


def numpy_path() -> str:
    """A new folder of this user's alone (mkdtemp: mode 700) holding numpy alone (links), so
    that a child without a minimal root of its own imports numpy and nothing else installed
    beside it (the grader, pytest). Never a shared name in the temporary folder: another user
    could make it first and have the grader import their code."""
    site = Path(site_packages())
    shim = Path(tempfile.mkdtemp(prefix="dropout-grader-numpy-"))
    for name in ("numpy", "numpy.libs"):
        if (site / name).exists():
            (shim / name).symlink_to(site / name)
    return str(shim)


class ServerGone(Exception):
    """The fork server is not answering, or could not do what it was asked."""


class ForkServer:
    """Start children for submissions, with the containment LEVEL (see :mod:`jail`); learn
    how each one ended."""

    def __init__(self, level: str = "none") -> None:
        self.level = level
        self._root: str | None = None  # the empty folder its minimal root is mounted on
        self._shim: str | None = None  # without one: the folder numpy is imported from
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._ended: dict[int, int] = {}
        self._forgotten: set[int] = set()
        self._ready = False

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def spawn(self, workdir: str, fds: list[int], env: dict[str, str]) -> int:
        """Fork a child that runs in WORKDIR with the pipes FDS (request, response, output);
        return the pid of its process group."""
        self.start()
        request = {"workdir": workdir, "env": {**CHILD_ENV, **env}}
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
            while True:
                message = self._next(timeout=30)
                if "started" in message:
                    return int(message["started"])
                if "failed" in message:  # its set-up, or this child's clone
                    raise ServerGone(str(message["failed"]))
        except (OSError, ValueError, ServerGone) as err:
            if not self._ready or not isinstance(err, ServerGone):
                self.close()
            raise ServerGone(str(err)) from err

    def sweep(self, pid: int) -> None:
        """PID is done: where no PID namespace ends its processes with it, have the server
        kill whatever it left behind (it is their subreaper)."""
        if self.level == "none" and self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.send(json.dumps({"sweep": pid}).encode())

    def exit_code(self, pid: int, timeout: float = 5.0) -> int | None:
        """How PID ended: its exit code, or minus the signal that killed it; None if unknown."""
        deadline = time.monotonic() + timeout
        while pid not in self._ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._sock is None:
                return None
            try:
                self._next(timeout=remaining)
            except (OSError, ValueError):
                return None
        return self._ended.pop(pid)

    def forget(self, pid: int) -> None:
        """PID is done and its end will not be asked for: do not keep it. Without PID
        namespaces the server sweeps what it left behind and forgets it too: no exit of it
        will come."""
        if self.level == "none":
            self._ended.pop(pid, None)
            self.sweep(pid)
        elif self._ended.pop(pid, None) is None:
            self._forgotten.add(pid)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self.level == "none":  # let it sweep what its children left (it is told by EOF)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=2)
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._root is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._root)  # mounted on in the server's namespace only: empty here
            self._root = None
        if self._shim is not None:
            shutil.rmtree(self._shim, ignore_errors=True)
            self._shim = None

    def start(self) -> None:
        """Start the server process unless it is running (it imports numpy meanwhile)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def _start(self) -> None:
        self.close()
        self._ready = False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        contained = self.level != "none"
        if contained:
            self._root = tempfile.mkdtemp(prefix="dropout-grader-root-")
        else:
            self._shim = numpy_path()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-u", "-c", BOOT.format(here=str(HERE)),
             str(theirs.fileno()), site_packages() if contained else self._shim, self.level,
             self._root or ""],
            pass_fds=(theirs.fileno(),), env=CHILD_ENV, cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self._sock = ours

    def _next(self, timeout: float) -> dict:
        """The server's next message; exits are recorded on the way."""
        self._sock.settimeout(timeout)
        data = self._sock.recv(1 << 16)
        if not data:
            raise OSError("the fork server closed its socket")
        message = json.loads(data)
        self._ready = self._ready or "ready" in message
        if "exited" in message:
            pid = int(message["exited"])
            if pid in self._forgotten:
                self._forgotten.discard(pid)
            else:
                self._ended[pid] = int(message["code"])
        return message
