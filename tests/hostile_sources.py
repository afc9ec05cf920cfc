"""Hostile submissions that are correct solutions once their attack is over: an attack, then
the solution (the reference, given by the tests). Some need to know where the test put things
(a listener's port, a secret file, the output folder)."""

from __future__ import annotations

import os

from grader.sandbox.jail import REFUSED

PROBE = '''
import ctypes
import json
import os
import socket

found = {{}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    found["network"] = "connected"
except OSError as err:
    found["network"] = type(err).__name__
try:  # a pair of Unix sockets, then one bound to an abstract address
    pair = socket.socketpair()
    pair[0].bind(b"\\0dropout-grader-probe")
    found["socketpair"] = "made"
except OSError as err:
    found["socketpair"] = type(err).__name__
try:
    found["interfaces"] = [name for _, name in socket.if_nameindex()]
except OSError as err:
    found["interfaces"] = type(err).__name__
others = []
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != os.getpid():
        try:
            with open(f"/proc/{{entry}}/cmdline", "rb") as f:
                others.append(f.read().replace(b"\\0", b" ").decode(errors="replace")[:80])
        except OSError:
            pass
found["processes"] = others[:10]
found["root"] = sorted(os.listdir("/"))
found["tmp"] = sorted(os.listdir("/tmp"))
libc = ctypes.CDLL(None, use_errno=True)  # ways out of a changed root, or to more privileges
found["keyring"] = libc.syscall({keyctl}, 0, -3, 0) >= 0  # the session keyring's id
found["memfd"] = libc.memfd_create(b"x", 0) >= 0
found["affinity"] = libc.sched_setaffinity(0, 128, (ctypes.c_ubyte * 128)(*[255] * 128)) == 0
found["new user namespace"] = libc.unshare(0x10000000) == 0
found["mount"] = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0
try:
    os.mkdir("/tmp/inner")
    os.chroot("/tmp/inner")
    found["chroot"] = "allowed"
except OSError as err:
    found["chroot"] = type(err).__name__
for name, path in (("secret", {secret!r}), ("reference", {reference!r})):
    try:
        with open(path) as f:
            found[name] = f.read()[:40]
    except OSError as err:
        found[name] = type(err).__name__
print("PROBE " + json.dumps(found))
'''

DAEMON = '''
import os
import time

FORGED = '{{"score": 100, "tests": []}}'
TARGETS = {targets!r}

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # a daemon: double-forked, in a session of its own
        deadline = time.time() + {seconds}
        while time.time() < deadline:
            time.sleep(0.2)
            for path in TARGETS:
                try:
                    with open(path, "a") as f:
                        f.write(FORGED)
                except OSError:
                    pass
        os._exit(0)
    os._exit(0)
'''


# Processes that sleep for ever, every other one in a session of its own.
SLEEPERS = '''
import os
import time


def _sleepers(n):
    started = 0
    for i in range(n):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            if i % 2:
                os.setsid()
            try:
                while True:
                    time.sleep(100)
            finally:
                os._exit(0)
        started += 1
    return started
'''

# 200 processes forked at import (as many as the cap allows). None may outlive the submission.
FORKS_AT_IMPORT = SLEEPERS + 'print(f"forked {_sleepers(200)} processes at import")\n'

# Writes up to 800 MiB into its working folder (files of 8 MiB, under the per-file limit) and
# says how much it managed.
FILLS_DISK = '''
import os

chunk = b"\\0" * (1 << 20)
written = 0
try:
    for i in range(100):
        with open(f"fill-{i}.bin", "wb") as f:
            for _ in range(8):
                f.write(chunk)
                f.flush()
                written += 1
except OSError as err:
    print(f"the disk refused: {type(err).__name__}")
print(f"wrote {written} MiB")
for name in os.listdir("."):
    if name.startswith("fill-"):
        os.remove(name)
'''

# The solution's forward, wrapped: its first call forks 20 processes.
SPAWNS = SLEEPERS + '''
_forward = dropout_forward
_spawned = []


def dropout_forward(x, dropout_param):
    if not _spawned:
        _spawned.append(_sleepers(20))
    return _forward(x, dropout_param)
'''


def sources(solution: str, port: int, secret: str, reference: str, targets: list[str],
            seconds: float) -> dict[str, str]:
    """Submission name: source, for each attack around SOLUTION."""
    return {"probe": PROBE.format(port=port, secret=secret, reference=reference,
                                  keyctl=REFUSED[os.uname().machine]["keyctl"]) + solution,
            "daemon": DAEMON.format(targets=targets, seconds=seconds) + solution,
            "forks_at_import": FORKS_AT_IMPORT + solution,
            "fills_disk": FILLS_DISK + solution,
            "spawns": solution + SPAWNS}
