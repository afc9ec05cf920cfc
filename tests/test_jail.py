"""The containment's own pieces (grader/sandbox/jail.py): what the minimal root holds, the
plain level without a C library (no prctl), the kernel rule behind the process cap, and the
fallback when the trial of a level fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy
import pytest

from grader.sandbox import jail

SITE = str(Path(numpy.__file__).resolve().parent.parent)
HERE = str(Path(jail.__file__).parent)


def _plan() -> dict[str, str]:
    """The plan as the fork server makes it: python -I -S, numpy imported from SITE."""
    code = (f"import json, sys\nsys.path.insert(0, {HERE!r})\nimport jail\ndel sys.path[0]\n"
            f"sys.path.insert(0, {SITE!r})\nimport numpy\nprint(json.dumps(jail.plan({SITE!r})))")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def test_the_minimal_root_holds_the_standard_library_and_numpy_and_hides_the_rest():
    plan = _plan()
    stdlib = os.path.realpath(sysconfig.get_path("stdlib"))
    assert plan.get(stdlib) == "bind" or jail._nearest(stdlib, plan) == "bind"
    assert plan[os.path.join(SITE, "numpy")] == "bind"
    if Path(stdlib, "site-packages").is_dir():  # what pip installed there stays out of view
        assert plan[os.path.join(stdlib, "site-packages")] == "hide"
    assert {"/dev/null", "/dev/urandom"} <= {p for p, kind in plan.items() if kind == "device"}
    # nothing of the project, and never the site-packages folder itself (grader, pytest)
    root = str(Path(__file__).resolve().parent.parent)
    assert not any(p.startswith(root + "/") and "/numpy" not in p for p in plan)
    assert SITE not in plan
    # a path comes after its parents, so that each is mounted onto what is already there
    paths = list(plan)
    for i, path in enumerate(paths):
        assert not any(path.startswith(p + "/") for p in paths[i + 1:]), path


def test_no_bind_is_listed_twice_under_another():
    plan = _plan()
    for path, kind in plan.items():
        if kind == "bind":
            assert jail._nearest(path, plan) != "bind", path


def test_without_a_c_library_the_plain_level_still_works(monkeypatch):
    # macOS has no prctl; a system without ctypes' C library has none of it
    monkeypatch.setattr(jail, "LIBC", None)
    assert jail.prctl(jail.PR_SET_CHILD_SUBREAPER, 1) is False
    jail.enter_server("none")  # no subreaper: no crash
    assert jail.confine("none", "/nonexistent", "/nonexistent") is None


def test_children_of_a_process_that_does_not_exist_are_none():
    assert jail._children(2 ** 22 + 1) == []


def test_the_process_cap_counts_per_namespace_from_linux_5_14(monkeypatch):
    for release, per_namespace in [("5.13.0", False), ("5.14.0-1", True), ("6.18.44-fc", True),
                                   ("4.19.0", False), ("weird", False)]:
        monkeypatch.setattr(os, "uname", lambda release=release: os.uname_result(
            ("Linux", "host", release, "", "x86_64")))
        assert jail.nproc_per_namespace() is per_namespace, release


def test_where_the_trial_fails_auto_falls_back_to_plain_processes_and_says_why(monkeypatch):
    from grader.sandbox import containment
    from grader.sandbox.server import ServerGone

    def refused(level):
        raise ServerGone("user containment is not available here (unshare: EPERM)")

    monkeypatch.setattr(containment, "trial", refused)
    found = containment.choose("auto")
    assert found.level == "none" and not found.full
    assert found.describe() == ("sandbox: NONE (plain processes): only grade trusted code here "
                                "[user containment is not available here (unshare: EPERM)]")
    with pytest.raises(containment.ContainmentError, match="missing: namespaces"):
        containment.choose("strict")
