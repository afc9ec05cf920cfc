"""Grading as an ordinary user, from tests that may run as root (CI does).

As root, ``grade`` runs as the unprivileged account ``USER`` (made with ``useradd`` if it is
missing). Its Python may live under a folder that account cannot enter (pyenv under a
``/root`` of mode 700, here); the run then gets a private mount namespace where that folder
is an empty tmpfs holding only what it needs, so that nothing on the machine changes. Run as
an ordinary user, the tests grade as themselves.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

USER = "dropout-grader-test"
GRADE = Path(sys.executable).parent / "grade"


def available() -> str | None:
    """None if grading as an ordinary user can be done here, else why not."""
    if os.geteuid() != 0:
        return None
    missing = [tool for tool in ("useradd", "unshare", "setpriv", "mount")
               if shutil.which(tool) is None]
    return f"missing {', '.join(missing)}" if missing else None


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", USER], check=True, capture_output=True)
        return pwd.getpwnam(USER)


def shared_folder() -> Path:
    """A new folder both root and USER can read (the tests' own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="dropout-grader-usertest-"))
    folder.chmod(0o755)
    return folder


def give(path: Path) -> None:
    """Make PATH (a file or folder tree) USER's."""
    account = ensure_user()
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chown(item, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _closed_ancestors() -> dict[str, set[str]]:
    """Folders on the way to the interpreter and the project that others may not enter,
    with the entries under them that must stay reachable."""
    closed: dict[str, set[str]] = {}
    for path in {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
                 str(Path(__file__).resolve().parent.parent)}:
        parts = Path(path).parts
        for i in range(1, len(parts) - 1):
            folder = Path(*parts[: i + 1])
            if not os.stat(folder).st_mode & 0o001:
                closed.setdefault(str(folder), set()).add(parts[i + 1])
                break
    return closed


def run(args: list[str], home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``grade ARGS`` as USER (as this user when it is not root)."""
    staging = shared_folder()
    try:
        command, env = wrap([str(GRADE), *args], home, staging)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def wrap(command: list[str], home: Path, staging: Path) -> tuple[list[str], dict | None]:
    """COMMAND and its environment, to run as USER with HOME (unchanged when this user is not
    root); STAGING is an empty shared folder the wrapper may use while it starts."""
    if os.geteuid() != 0:
        return command, None
    account = ensure_user()
    script = []
    for number, (folder, entries) in enumerate(sorted(_closed_ancestors().items())):
        for entry in sorted(entries):
            keep = staging / f"{number}-{entry}"
            keep.mkdir()
            script.append(f"mount --bind {shlex.quote(f'{folder}/{entry}')} {keep}")
        script.append(f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(folder)}")
        for entry in sorted(entries):
            target = shlex.quote(f"{folder}/{entry}")
            script += [f"mkdir {target}", f"mount --move {staging}/{number}-{entry} {target}"]
    script.append(f'exec setpriv --reuid={account.pw_uid} --regid={account.pw_gid} '
                  '--clear-groups -- "$@"')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "MPLCONFIGDIR": str(home / ".matplotlib")}
    return (["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(script),
             "sh", *command], env)
