"""The project's hostile set (tests/hostile/, plus cases built here) graded in one batch beside
correct submissions: each hostile one loses what it should, with a message naming the cause;
the correct ones keep full marks; nothing is left running; no forged file counts."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import REFERENCE, SUBMISSIONS, grade_folder, processes, validate

from grader.forkserver import namespaces_available

HOSTILE = Path(__file__).parent / "hostile"
MARKER = Path("/tmp/dropout-grader-hostile-marker")
TIMEOUT = 4.0  # wide enough for a 200 MB print flood on a loaded machine


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)


def _symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("cs231n/layers.py")
    info.external_attr = 0o120777 << 16
    return info


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    folder, out = root / "submissions", root / "grading"
    shutil.copytree(HOSTILE, folder)
    shutil.copytree(SUBMISSIONS / "full_layers", folder / "good_package")
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
    _zip(folder / "zip_slip.zip", [("../../escaped.py", b"x = 1")])
    _zip(folder / "zip_absolute.zip", [("/tmp/dropout-grader-absolute.py", b"x = 1")])
    _zip(folder / "zip_symlink.zip", [(_symlink_entry(), b"/etc/passwd")])
    _zip(folder / "zip_bomb.zip", [("cs231n/layers.py", b"#" * (80 << 20))])
    MARKER.unlink(missing_ok=True)
    graded = grade_folder(folder, out, jobs=2, timeout=TIMEOUT)
    return root, out, graded, guesses


def _text(result) -> str:
    return "\n".join([result.problem or "", result.output,
                      *(c.feedback for c in result.checks)])


# id -> (status, words the feedback must hold, most points it may keep)
EXPECTED = {
    "hang_call": ("timeout", "dropout_forward did not return within 4 s", 0),
    "hang_import": ("timeout", "the import of hang_import.py did not return within 4 s", 0),
    "exit_import": ("error", "exit_import.py exited during import (SystemExit 0)", 0),
    "os_exit_call": ("crash", "the process exited (exit code 0) during dropout_forward", 0),
    "segfault": ("crash", "the process was killed by SIGSEGV during dropout_forward", 0),
    "big_alloc": ("memory", "dropout_forward exceeded the 1 GiB memory limit (MemoryError", 0),
    "empty": ("ok", "dropout_forward is not defined in empty.py", 0),
    "empty_folder": ("missing", "no cs231n/layers.py, layers.py or other .py file", 0),
    "non_utf8": ("error", "SyntaxError in non_utf8.py", 0),
    "python2": ("error", "SyntaxError in python2.py, line 4", 0),
    "fake_stdout": ("ok", "dropout_forward returned None instead of out", 15),
    # zeros of the right shape and dtype, the same every call: shape, dtype, x untouched and
    # determinism hold (35 points), and dx = 0 is the true gradient of a constant forward (15);
    # every value-based check is judged on the bytes, whatever numpy says in the child
    "monkeypatch_numpy": ("ok", "kept 0.0% of the units", 50),
    "monkeypatch_builtins": ("crash", "during the import of monkeypatch_builtins.py", 0),
    "lies": ("ok", "dropout_backward returned a NotAnArray instead of dx", 35),
    "borrows_reference": ("error", "No module named 'reference'", 0),
    "borrows_grader": ("error", "No module named 'grader'", 0),
    "sneaky": ("ok", "dropout_forward returned None instead of out", 15),
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
}


@pytest.mark.parametrize("sub_id", sorted(EXPECTED))
def test_each_hostile_submission_costs_only_itself(batch, sub_id):
    _, out, graded, _ = batch
    status, words, most = EXPECTED[sub_id]
    result = graded[sub_id]
    assert result.status == status
    assert words in _text(result)
    assert result.score <= most
    validate(out / sub_id / "results.json")


def test_the_correct_ones_keep_full_marks(batch):
    _, _, graded, _ = batch
    for sub_id in ("good_file", "good_package", "spawns", "writes_results"):
        assert graded[sub_id].score == 100, sub_id


def test_every_submission_got_a_result(batch):
    _, _, graded, _ = batch
    expected = {p.stem for p in HOSTILE.iterdir() if not p.name.startswith(".")}
    assert expected <= set(graded)


def test_nothing_of_the_batch_is_left_running(batch):
    left = [pid for pid, cmdline, _, _ in processes()
            if b"271.828" in cmdline or b"dropout-grader-run-" in cmdline]
    assert left == []


def test_no_student_file_ran_in_the_grader(batch):
    # sitecustomize.py, *.pth and conftest.py of `sneaky` would have written the marker
    assert not MARKER.exists()


def test_running_as_root_the_children_get_namespaces():
    if os.geteuid() == 0:  # CI and these machines: the sealed sandbox must be in force
        assert namespaces_available()


@pytest.mark.skipif(not namespaces_available(),
                    reason="needs unshare (root or user namespaces)")
def test_forged_files_are_refused_where_the_filesystem_is_sealed(batch):
    root, _, graded, guesses = batch
    for guess in guesses:
        path = Path(guess)
        if path.is_absolute() and path.exists():
            assert "'score': 100, 'tests': []" not in path.read_text(), path
    assert graded["good_file"].score == 100  # its results.json is the grader's
    assert not (root / "escaped.py").exists()
    assert not Path("/tmp/dropout-grader-absolute.py").exists()
