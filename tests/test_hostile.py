"""The project's hostile set (tests/hostile/, plus cases built here) graded in one batch beside
correct submissions, twice: by the grader running as root, and by the grader running as an
ordinary user (``tests/as_user.py``). In both, each hostile submission loses what it should,
with a message naming the cause; its attack fails; the correct ones keep full marks; nothing
is left running; no forged file counts. A third batch forces plain processes (the fallback of
machines without namespaces) and checks what it still promises."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import as_user
import numpy
import pytest
from conftest import (
    REFERENCE,
    ROOT,
    SUBMISSIONS,
    grade_folder,
    in_child_tmp,
    processes,
    validate,
)
from hostile_sources import sources

from grader import results
from grader.sandbox import containment, jail
from grader.sandbox.jail import NPROC, TMP_SIZE, UID_BASE

HOSTILE = Path(__file__).parent / "hostile"
MARKER = Path("/tmp/dropout-grader-hostile-marker")
TIMEOUT = 4.0  # wide enough for a 200 MB print flood on a loaded machine
DAEMON_SECONDS = 6.0
FORGED = '"score": 100, "tests": []'
SANDBOX = {"root": "sandbox: namespaces as root, a uid of its own, minimal root, no network, ",
           "user": "sandbox: user namespaces, minimal root, no network, "}
def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("cs231n/layers.py")
    info.external_attr = 0o120777 << 16
    return info


@dataclass
class Batch:
    mode: str
    root: Path
    out: Path
    graded: dict[str, results.SubmissionResult]
    guesses: list
    connections: int  # what reached the test's listener on 127.0.0.1
    finished: float


def _write_attacks(folder: Path, out: Path, port: int = 0, secret: Path = Path("/"),
                   names: tuple[str, ...] | None = None) -> None:
    """The correct solutions with an attack (tests/hostile_sources.py) into FOLDER."""
    targets = [str(out / "good_file" / "results.json"), str(out / "grades.csv")]
    built = sources(REFERENCE, port, str(secret), str(ROOT / "reference" / "layers.py"),
                    targets, DAEMON_SECONDS)
    for name, source in built.items():
        if names is None or name in names:
            (folder / f"{name}.py").write_text(source)


def _write_links(folder: Path, secret: Path) -> None:
    """Submissions as an unpacked upload may hold them (unzip and tar keep links): a folder
    whose .py files are a link to a file outside, a FIFO and a link to /dev/zero, beside its
    layers.py that looks for them; and a top-level .py that is a link to a file outside."""
    links = folder / "links" / "cs231n"
    links.mkdir(parents=True)
    (links / "stolen.py").symlink_to(secret)
    (links / "zero.py").symlink_to("/dev/zero")
    os.mkfifo(links / "fifo.py")
    (links / "layers.py").write_text(
        "import os\nhere = os.path.dirname(__file__)\n"
        "print('beside me:', sorted(os.listdir(here)))\n" + REFERENCE)
    (folder / "linked.py").symlink_to(secret)


def _cap_holds(mode: str) -> bool:
    """Whether the process cap holds for the children of a grader running in MODE."""
    return mode == "root" or jail.NPROC_PER_NAMESPACE


def _grade(mode: str, folder: Path, out: Path, home: Path) -> None:
    if mode == "root":
        grade_folder(folder, out, jobs=2, timeout=TIMEOUT)
        return
    out.mkdir()
    as_user.give(out)
    as_user.give(home)
    done = as_user.run([str(folder), "--out", str(out), "--jobs", "2", "--timeout",
                        str(TIMEOUT), "--sandbox", "strict"], home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert SANDBOX["user"] in done.stderr  # the run says which containment it had


@pytest.fixture(scope="module", params=["root", "user"])
def batch(request):
    mode = request.param
    if mode == "root" and os.geteuid() != 0:
        pytest.skip("the grader does not run as root here")
    if mode == "user" and (why := as_user.available()):
        pytest.skip(f"cannot grade as an ordinary user here: {why}")
    if mode == "user" and os.geteuid() != 0 and not containment.choose().full:
        pytest.skip("this machine gives an ordinary user no full sandbox (as root, CI must)")
    root = as_user.shared_folder()
    folder, out, home = root / "submissions", root / "grading", root / "home"
    home.mkdir()
    shutil.copytree(HOSTILE, folder)
    if not _cap_holds(mode):  # an unbounded fork bomb is run only where the cap holds
        (folder / "fork_bomb.py").unlink()
    shutil.copytree(SUBMISSIONS / "full_layers", folder / "good_package")
    shutil.copytree(SUBMISSIONS / "fcnet_2018", folder / "good_net")  # and its torch stand-in
    (folder / "good_file.py").write_text(REFERENCE)
    (folder / "empty_folder").mkdir()
    (folder / "non_utf8.py").write_bytes(b'NAME = "caf\xe9"\ndef dropout_forward(x, p):\n'
                                         b"  return x\n")
    guesses = [out / "writes_results" / "results.json", out / "grades.csv",
               out / "good_file" / "results.json", root / "results.json", "results.json",
               "../results.json", "/tmp/results.json"]
    (folder / "writes_results.py").write_text(
        f"import json\nFORGED = json.dumps({{'score': 100, 'tests': []}})\n"
        f"for path in {[str(g) for g in guesses]!r}:\n"
        "    try:\n        open(path, 'w').write(FORGED)\n    except OSError:\n        pass\n"
        + REFERENCE)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    secret = root / "secret.txt"
    secret.write_text("the answer key")
    secret.chmod(0o644)  # readable by the grading user: only the sandbox stands in the way
    _write_attacks(folder, out, listener.getsockname()[1], secret)
    _zip(folder / "zip_slip.zip", [("../../escaped.py", b"x = 1")])
    _zip(folder / "zip_absolute.zip", [("/tmp/dropout-grader-absolute.py", b"x = 1")])
    _zip(folder / "zip_symlink.zip", [(_symlink_entry(), b"/etc/passwd")])
    _zip(folder / "zip_bomb.zip", [("cs231n/layers.py", b"#" * (80 << 20))])
    _write_links(folder, secret)
    for item in [folder, *folder.rglob("*")]:
        if not item.is_symlink():
            item.chmod(0o755 if item.is_dir() else 0o644)
    MARKER.unlink(missing_ok=True)
    _grade(mode, folder, out, home)
    connections = 0
    while True:
        try:
            listener.accept()[0].close()
            connections += 1
        except BlockingIOError:
            break
    listener.close()
    graded = {r.id: r for r in results.iter_results(out)}
    yield Batch(mode, root, out, graded, guesses, connections, time.monotonic())
    shutil.rmtree(root, ignore_errors=True)


def _text(result) -> str:
    return "\n".join([result.problem or "", result.output,
                      *(c.feedback for c in result.checks)])


# id -> (status, words the feedback must hold, most points it may keep)
EXPECTED = {
    "hang_call": ("timeout", "dropout_forward did not return within 4 s", 0),
    "hang_import": ("timeout", "the import of hang_import.py did not return within 4 s", 0),
    "fork_bomb": ("timeout", "the import of fork_bomb.py did not return within 4 s", 0),
    "exit_import": ("error", "exit_import.py exited during import (SystemExit 0)", 0),
    "os_exit_call": ("crash", "the process exited (exit code 0) during dropout_forward", 0),
    "segfault": ("crash", "the process was killed by SIGSEGV during dropout_forward", 0),
    "big_alloc": ("memory", "dropout_forward exceeded the 1 GiB memory limit (MemoryError", 0),
    "empty": ("ok", "dropout_forward is not defined in empty.py", 0),
    "empty_folder": ("missing", "no cs231n/layers.py, layers.py or other .py file", 0),
    "non_utf8": ("error", "SyntaxError in non_utf8.py", 0),
    "python2": ("error", "SyntaxError in python2.py, line 4", 0),
    # a forward that gives no output earns nothing: not even "x untouched"
    "fake_stdout": ("ok", "dropout_forward returned None instead of out", 0),
    # zeros of the right shape and dtype, the same every call: shape, dtype and x untouched
    # hold (25 points); with every unit dropped, the seed and the gradient have no mask to
    # show and are not judged; every value-based check is judged on the bytes, whatever numpy
    # says in the child
    "monkeypatch_numpy": ("ok", "kept 0.0% of the units", 25),
    "monkeypatch_builtins": ("crash", "during the import of monkeypatch_builtins.py", 0),
    "lies": ("ok", "dropout_backward returned a NotAnArray instead of dx", 25),
    "borrows_reference": ("error", "No module named 'reference'", 0),
    "borrows_grader": ("error", "No module named 'grader'", 0),
    "sneaky": ("ok", "dropout_forward returned None instead of out", 0),
    # PID 1 of a namespace of its own: its parent is outside (getppid() is 0, so the first
    # kill is one to its own group) and init takes no signal it does not handle from inside
    # its namespace: both kills find nobody to kill
    "kills_its_parent": ("ok", "dropout_forward raised ProcessLookupError", 0),
    "floods": ("ok", "the code printed 210 MB; the first 8 kB are shown", 0),
    "huge_output": ("ok", "far larger than its input; it was refused", 5),
    "zip_slip": ("error", "zip_slip.zip has an unsafe path", 0),
    "zip_absolute": ("error", "zip_absolute.zip has an unsafe path", 0),
    "zip_symlink": ("error", "zip_symlink.zip holds a symbolic link", 0),
    "zip_bomb": ("error", "zip_bomb.zip unpacks to more than 64 MB", 0),
    "linked": ("error", "linked.py is a symbolic link or not a regular file: it is not read", 0),
}
# Correct solutions whose attack must fail without costing them a point.
CORRECT = ("good_file", "good_package", "spawns", "writes_results", "forks_at_import",
           "fills_disk", "probe", "daemon", "links")


@pytest.mark.parametrize("sub_id", sorted(EXPECTED))
def test_each_hostile_submission_costs_only_itself(batch, sub_id):
    status, words, most = EXPECTED[sub_id]
    if sub_id == "fork_bomb" and not _cap_holds(batch.mode):
        pytest.skip("no process cap for an ordinary user before Linux 5.14")
    result = batch.graded[sub_id]
    assert result.status == status
    assert words in _text(result)
    assert result.score <= most
    validate(batch.out / sub_id / "results.json")


def test_the_correct_ones_keep_full_marks(batch):
    # the fork bomb and the disk filler were graded in the same batch, on the same workers
    for sub_id in CORRECT:
        assert batch.graded[sub_id].score == 100, (sub_id, _text(batch.graded[sub_id]))
    # a whole package, its FullyConnectedNet driven in the same confined child
    good_net = batch.graded["good_net"]
    assert good_net.score == good_net.max_score == 130, _text(good_net)


def test_every_submission_got_a_result(batch):
    expected = {p.stem for p in HOSTILE.iterdir() if not p.name.startswith(".")}
    if not _cap_holds(batch.mode):
        expected.discard("fork_bomb")
    assert expected | set(CORRECT) <= set(batch.graded)


def test_every_result_names_the_containment_it_had(batch):
    for result in batch.graded.values():
        assert result.sandbox == SANDBOX[batch.mode] + f"{NPROC} processes, 64 MiB /tmp"


def _leftovers() -> list[tuple[int, bytes]]:
    """Fork servers and their children (their command line names child.serve), and processes
    of the uids children get as root, or of the ordinary user the tests grade as."""
    try:
        user_uid = as_user.ensure_user().pw_uid if os.geteuid() == 0 else None
    except (OSError, KeyError):
        user_uid = None
    found = []
    for pid, cmdline, _, state in processes():
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if state != "Z" and (b"child.serve" in cmdline or uid >= UID_BASE or uid == user_uid):
            found.append((pid, cmdline[:100]))
    return found


def _settle(check, seconds: float = 5.0):
    """CHECK() once it is falsy, or its last value after SECONDS (processes take a moment to
    be reaped after a kill)."""
    deadline = time.monotonic() + seconds
    while (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def test_nothing_of_the_batch_is_left_running(batch):
    # 20 processes forked in a call and up to 200 at import (half in sessions of their own),
    # a fork bomb and a double-forked daemon: all gone with their submissions
    assert "processes at import" in batch.graded["forks_at_import"].output
    assert _settle(_leftovers) == []


def test_a_daemon_cannot_forge_results_after_the_grader_exits(batch):
    time.sleep(max(0.0, batch.finished + 1.5 - time.monotonic()))  # it writes every 0.2 s
    for path in batch.out.glob("**/*.*"):  # results, gradebook, report
        assert FORGED not in path.read_text(), path
    assert batch.graded["good_file"].score == 100


def test_the_disk_a_submission_can_fill_is_its_own_small_tmp(batch):
    output = batch.graded["fills_disk"].output
    written = int(re.search(r"wrote (\d+) MiB", output).group(1))
    assert "the disk refused: OSError" in output
    assert written <= TMP_SIZE >> 20


def _probe(batch) -> dict:
    line = next(line for line in batch.graded["probe"].output.splitlines()
                if line.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE "))


def test_the_network_is_out_of_reach(batch):
    found = _probe(batch)
    assert found["network"] == "PermissionError" and batch.connections == 0  # no socket at all
    assert found["socketpair"] == "PermissionError"  # not even a pair of Unix sockets
    assert found["interfaces"] in (["lo"], "PermissionError")


def test_a_child_sees_no_other_process(batch):
    assert _probe(batch)["processes"] == []  # not the grader, not the other children


def test_a_child_sees_only_its_minimal_root(batch):
    found = _probe(batch)
    assert found["tmp"] == in_child_tmp()
    assert found["secret"] == "FileNotFoundError"
    assert found["reference"] == "FileNotFoundError"
    # the standard library, numpy and the shared libraries, at their usual paths
    usual = {"dev", "etc", "lib", "lib32", "lib64", "proc", "submission", "tmp", "usr",
             Path(sys.base_prefix).parts[1], Path(numpy.__file__).resolve().parts[1]}
    assert set(found["root"]) <= usual


def test_a_child_has_no_way_to_more_privileges(batch):
    found = _probe(batch)
    # refused by the seccomp filter: the keyrings, memory outside the limits, other cores
    assert found["keyring"] is found["memfd"] is found["affinity"] is False
    assert found["new user namespace"] is False  # refused in a changed root
    assert found["mount"] is False
    assert found["chroot"] == "PermissionError"


def test_links_fifos_and_devices_in_a_submission_are_not_read(batch):
    # the batch finished (a FIFO read would have blocked it, /dev/zero never ends), the child
    # got its own regular files only, and the file outside shows nowhere
    assert "beside me: ['layers.py']" in batch.graded["links"].output
    for path in batch.out.glob("**/*.*"):
        assert "the answer key" not in path.read_text(), path


def test_no_student_file_ran_in_the_grader(batch):
    # sitecustomize.py, *.pth and conftest.py of `sneaky` would have written the marker
    assert not MARKER.exists()


def test_forged_files_are_refused(batch):
    for guess in batch.guesses:
        path = Path(guess)
        if path.is_absolute() and path.exists():
            assert FORGED not in path.read_text().replace("'", '"'), path
    assert batch.graded["good_file"].score == 100  # its results.json is the grader's
    assert not (batch.root / "escaped.py").exists()
    assert not Path("/tmp/dropout-grader-absolute.py").exists()


def test_where_the_tests_run_as_root_containment_is_full():
    # CI and these machines run the tests as root: a batch there that silently fell back to
    # plain processes would pass the tests above only by luck (the batch as an ordinary user
    # asks for --sandbox strict for the same reason)
    if os.geteuid() != 0:
        pytest.skip("the tests do not run as root here")
    assert containment.choose("strict").full


# -- the fallback: plain processes ----------------------------------------------------------

@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    root = tmp_path_factory.mktemp("fallback")
    folder, out = root / "submissions", root / "grading"
    folder.mkdir()
    (folder / "good_file.py").write_text(REFERENCE)
    _write_attacks(folder, out, names=("spawns", "forks_at_import", "daemon"))
    graded = grade_folder(folder, out, jobs=2, timeout=TIMEOUT, sandbox="none")
    return out, graded, time.monotonic()


def test_the_fallback_says_it_contains_nothing_and_still_grades(fallback):
    _, graded, _ = fallback
    for result in graded.values():
        assert result.sandbox.startswith("sandbox: NONE (plain processes)")
        assert result.score == 100, result.id


def test_the_fallback_kills_every_descendant_daemons_included(fallback):
    out, _, finished = fallback
    assert _settle(_leftovers) == []
    time.sleep(max(0.0, finished + 1.5 - time.monotonic()))
    for path in out.glob("**/*.*"):
        assert FORGED not in path.read_text(), path


ORPHAN = """
import os, signal, sys, time
from grader.batch import orphans_swept

r, w = os.pipe()
with orphans_swept(sys.argv[1]):
    server = os.fork()  # stands for the fork server, a subreaper of its own at this level
    if server == 0:
        if os.fork() == 0:  # what a submission left: a daemon in a session of its own
            os.setsid()
            null = os.open(os.devnull, os.O_WRONLY)  # leaves the test's pipes alone
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.write(w, str(os.getpid()).encode())
            time.sleep(30)
            os._exit(0)
        time.sleep(30)
        os._exit(0)
    orphan = int(os.read(r, 20))
    os.kill(server, signal.SIGKILL)  # dead before its last sweep
    os.waitpid(server, 0)
print(orphan)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("level", ["none", "root"])
def test_a_worker_sweeps_what_a_dead_fork_server_left(level):
    # At the plain-process level a submission can kill its fork server (the same uid, no PID
    # namespace) before the server sweeps what the submission left; the worker is the
    # subreaper behind it. Elsewhere the PID namespace ends them, and the worker adds nothing.
    done = subprocess.run([sys.executable, "-c", ORPHAN, level], capture_output=True,
                          text=True, timeout=60, check=True, cwd=ROOT)
    orphan = int(done.stdout)
    try:
        if level == "none":
            assert not _settle(lambda: _alive(orphan))
        else:  # the control: the orphan went to init, and nobody swept it
            assert _alive(orphan)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, 9)


def test_strict_refuses_where_full_containment_is_missing(monkeypatch):
    monkeypatch.setattr(containment, "_strongest",
                        lambda mode: containment.Containment("none", why_not="no namespaces"))
    with pytest.raises(containment.ContainmentError, match="missing: namespaces"):
        containment.choose("strict")
