"""Hostile submissions that need to know where the test put things (a listener's port, a
secret file, the output folder): their sources, built by the tests. Each is a correct
solution once its attack is over, and says what the attack found in one PROBE line."""

from __future__ import annotations

PROBE = '''
import json
import os
import socket

found = {{}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    found["network"] = "connected"
except OSError as err:
    found["network"] = type(err).__name__
found["interfaces"] = [name for _, name in socket.if_nameindex()]
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


def probe(port: int, secret: str, reference: str, solution: str) -> str:
    return PROBE.format(port=port, secret=secret, reference=reference) + solution


def daemon(targets: list[str], seconds: float, solution: str) -> str:
    return DAEMON.format(targets=targets, seconds=seconds) + solution
