"""The fork server of one grading worker: a small process that has imported numpy and nothing
of the grader's, and forks a fresh child for each submission, so that no submission pays for
starting Python and importing numpy (see :func:`grader.sandbox_child.serve`)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from grader import sandbox_child

CHILD_SOURCE = Path(sandbox_child.__file__).read_text()
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def numpy_path() -> str:
    """A folder holding numpy alone (symlinks), so the child can import numpy and nothing else
    that is installed beside it (the grader, pytest, the reference)."""
    site = Path(np.__file__).resolve().parent.parent
    tag = hashlib.sha256(str(site).encode()).hexdigest()[:12]
    shim = Path(tempfile.gettempdir()) / f"dropout-grader-numpy-{os.getuid()}-{tag}"
    if not (shim / "numpy").exists():
        staging = Path(tempfile.mkdtemp(prefix="numpy-shim-"))
        for name in ("numpy", "numpy.libs"):
            if (site / name).exists():
                (staging / name).symlink_to(site / name)
        try:
            staging.rename(shim)
        except OSError:  # another worker made it first
            shutil.rmtree(staging, ignore_errors=True)
    return str(shim)


class ServerGone(Exception):
    """The fork server is not answering."""


@functools.cache
def namespaces_available() -> bool:
    """True where a child can get its own PID and mount namespaces (root, in practice)."""
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(["unshare", "--pid", "--fork", "--mount", "true"],
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class ForkServer:
    """Start children for submissions; learn how each one ended."""

    def __init__(self) -> None:
        self.namespaces = namespaces_available()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._ended: dict[int, int] = {}
        self._forgotten: set[int] = set()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def spawn(self, workdir: str, fds: list[int], env: dict[str, str]) -> int:
        """Fork a child that runs in WORKDIR with the pipes FDS (request, response, output);
        return the pid of its process group."""
        self.start()
        request = {"workdir": workdir, "env": {**CHILD_ENV, **env},
                   "namespaces": self.namespaces}
        try:
            socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
            while True:
                message = self._next(timeout=30)
                if "started" in message:
                    return int(message["started"])
        except (OSError, ValueError) as err:
            self.close()
            raise ServerGone(str(err)) from err

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
        """PID's end will not be asked for: do not keep it."""
        if self._ended.pop(pid, None) is None:
            self._forgotten.add(pid)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def start(self) -> None:
        """Start the server process unless it is running (it imports numpy meanwhile)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def _start(self) -> None:
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-u", "-c", CHILD_SOURCE, str(theirs.fileno()),
             numpy_path()],
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
        if "exited" in message:
            pid = int(message["exited"])
            if pid in self._forgotten:
                self._forgotten.discard(pid)
            else:
                self._ended[pid] = int(message["code"])
        return message
