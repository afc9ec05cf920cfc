"""Student code runs in a child process of its own; whatever it does costs only itself."""

from __future__ import annotations

import json
import os
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from conftest import REFERENCE, grade_folder, in_child_tmp, validate, write_submission

from grader.discover import Target
from grader.sandbox import box, containment
from grader.sandbox.box import Sandbox
from grader.sandbox.server import ForkServer
from grader.settings import Limits

# A correct forward pass, and a backward pass, to build variants around.
BACKWARD = '''
def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
'''


def _with_forward(body: str, preamble: str = "") -> str:
    """A submission whose dropout_forward runs BODY first, then behaves correctly."""
    body = "\n".join("    " + line for line in body.strip().splitlines())
    return f'''import numpy as np
{preamble}

def dropout_forward(x, dropout_param):
{body}
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] == "test":
        return x, (dropout_param, None)
    mask = (np.random.rand(*x.shape) < p) / p
    return (x * mask).astype(x.dtype, copy=False), (dropout_param, mask)
{BACKWARD}'''


@pytest.fixture(scope="module")
def broken_batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken")
    write_submission(folder, "good", REFERENCE)
    write_submission(folder, "hangs", _with_forward("while True:\n    pass"))
    write_submission(folder, "segfaults", _with_forward("import ctypes\nctypes.string_at(0)"))
    write_submission(folder, "bad_syntax", "def dropout_forward(x, dropout_param)\n    return x\n")
    write_submission(folder, "exits", _with_forward("import sys\nsys.exit(3)"))
    write_submission(folder, "hard_exit", _with_forward("import os\nos._exit(0)"))
    write_submission(folder, "raises", _with_forward("return helper(x)"))
    out = tmp_path_factory.mktemp("broken-out")
    return out, grade_folder(folder, out, timeout=1.0)


def _feedback(result) -> str:
    return "\n".join(c.feedback for c in result.checks)


def test_a_crash_a_hang_and_a_syntax_error_leave_the_others_intact(broken_batch):
    out, graded = broken_batch
    assert graded["good"].score == 100 and graded["good"].status == "ok"
    for sub_id in graded:
        validate(out / sub_id / "results.json")


def test_a_hang_is_reported_as_a_timeout(broken_batch):
    out, graded = broken_batch
    result = graded["hangs"]
    assert result.status == "timeout"
    # told once, in the summary and the check it happened in; the later checks did not run
    assert _feedback(result).count("dropout_forward did not return within 1 s") == 1
    summary = json.loads((out / "hangs" / "results.json").read_text())["output"]
    assert "\ndropout_forward did not return within 1 s\n" in summary
    assert "not run: the submission's process had ended (timeout) (see above)" in \
        _feedback(result)
    # the timeout is paid once: backward_test_mode never needed forward, and still ran
    assert next(c for c in result.checks if c.id == "backward_test_mode").passed is False


def test_a_segfault_is_named(broken_batch):
    _, graded = broken_batch
    assert graded["segfaults"].status == "crash"
    assert "the process was killed by SIGSEGV during dropout_forward" in _feedback(
        graded["segfaults"])


def test_a_syntax_error_names_file_and_line(broken_batch):
    _, graded = broken_batch
    result = graded["bad_syntax"]
    assert result.status == "error" and result.score == 0
    assert "SyntaxError in bad_syntax.py, line 1" in _feedback(result)


def test_an_import_failure_is_told_once_per_result(broken_batch):
    # in the summary and in the first check, with its advice; every other check says only
    # that it did not run, and why
    out, graded = broken_batch
    result = graded["bad_syntax"]
    saved = json.loads((out / "bad_syntax" / "results.json").read_text())
    texts = [saved["output"], *(t["output"] for t in saved["tests"])]
    assert [text.count("SyntaxError in bad_syntax.py, line 1") for text in texts] == \
        [1, 1] + [0] * (len(texts) - 2)
    assert [c.misconceptions for c in result.checks] == \
        [["does_not_import"]] + [[]] * (len(result.checks) - 1)
    for check in result.checks[1:]:
        assert "not run: bad_syntax.py could not be imported (see above)" in check.feedback


def test_exits_are_explained(broken_batch):
    _, graded = broken_batch
    assert "dropout_forward called sys.exit(3)" in _feedback(graded["exits"])
    assert graded["hard_exit"].status == "crash"
    assert "exited (exit code 0) during dropout_forward" in _feedback(graded["hard_exit"])


def test_an_exception_shows_the_students_frames_only(broken_batch):
    _, graded = broken_batch
    text = _feedback(graded["raises"])
    assert "dropout_forward raised NameError: name 'helper' is not defined" in text
    assert 'File "raises.py", line 5, in dropout_forward' in text
    assert "sandbox_child" not in text and "importlib" not in text


def test_student_conftest_and_test_files_have_no_effect(tmp_path):
    sub = tmp_path / "subs" / "sneaky"
    (sub / "cs231n").mkdir(parents=True)
    (sub / "cs231n" / "layers.py").write_text(_with_forward("return None"))
    forge = "import pytest\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n" \
            "    raise SystemExit('forged')\n"
    (sub / "conftest.py").write_text(forge)
    (sub / "cs231n" / "conftest.py").write_text(forge)
    (sub / "test_layers.py").write_text("def test_ok():\n    assert True\n")
    (sub / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    graded = grade_folder(tmp_path / "subs", tmp_path / "out")
    result = graded["sneaky"]
    assert "dropout_forward returned None; it should return the pair" in _feedback(result)
    # a forward that returns no output earns nothing (and its conftest.py forged nothing)
    assert result.score == 0
    assert not list(sub.rglob("__pycache__"))  # nothing written into the submission


def test_neither_grader_nor_reference_is_importable(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "borrows_reference", "from reference.layers import *\n")
    write_submission(folder, "borrows_grader", "import grader\n" + REFERENCE)
    write_submission(folder, "imports_pytest", "import pytest\n" + REFERENCE)
    graded = grade_folder(folder, tmp_path / "out")
    assert "No module named 'reference'" in _feedback(graded["borrows_reference"])
    assert "No module named 'grader'" in _feedback(graded["borrows_grader"])
    assert "No module named 'pytest'" in _feedback(graded["imports_pytest"])
    assert all(r.score == 0 and r.status == "error" for r in graded.values())


def test_prints_are_captured_and_capped(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "chatty", _with_forward("", "print('hello')\nprint('x' * 100_000)"))
    result = grade_folder(folder, tmp_path / "out")["chatty"]
    assert result.score == 100
    assert result.output.startswith("hello\nxxx")
    assert "[... the code printed 100 kB; the first 8 kB are shown]" in result.output
    assert len(result.output) < 10_000


@pytest.mark.parametrize("sandbox", ["auto", "none"])
def test_the_childs_working_directory_is_a_fresh_temporary_folder(tmp_path, sandbox):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "where", _with_forward("", "import os\nprint(os.getcwd(), "
                                                        "os.listdir('.'), os.environ['HOME'])"))
    result = grade_folder(folder, tmp_path / "out", sandbox=sandbox)["where"]
    cwd, listed, home = result.output.split()
    assert home == cwd
    if result.sandbox.startswith("sandbox: NONE"):  # a folder made for it, removed after
        assert "dropout-grader-run-" in cwd and not Path(cwd).exists()
        assert listed == "['submission']"  # the copy it imports
    else:  # its own empty tmpfs, in its minimal root (the copy is /submission)
        assert sandbox == "auto" and cwd == "/tmp" and listed == str(in_child_tmp())


def test_grading_leaves_no_folder_behind(tmp_path, monkeypatch):
    # Working folders (and a zip's unpacked copy) are removed in the background while the
    # worker goes on, and all of them are gone when the batch returns.
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the workers' temporary folder
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "plain", REFERENCE)
    with zipfile.ZipFile(folder / "zipped.zip", "w") as zf:
        zf.writestr("layers.py", textwrap.dedent(REFERENCE))
    graded = grade_folder(folder, tmp_path / "out")
    assert graded["plain"].score == graded["zipped"].score == 100
    # the folders minimal roots were mounted on, and the numpy-only import path of children
    # without one, are gone too
    assert list(temp.iterdir()) == []


def test_values_that_are_not_arrays_are_described_not_trusted(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "liar", '''
        import numpy as np

        class Liar(np.ndarray):
            def __eq__(self, other):
                return True
            def mean(self, *a, **k):
                return 10.0

        def dropout_forward(x, dropout_param):
            return np.zeros_like(x).view(Liar), (dropout_param, None)

        def dropout_backward(dout, cache):
            return [1, 2, 3]
    ''')
    result = grade_folder(folder, tmp_path / "out")["liar"]
    by_id = {c.id: c for c in result.checks}
    assert not by_id["test_mode_identity"].passed  # judged on the bytes: zeros
    assert not by_id["mean_preserved"].passed
    assert "returned a list instead of dx" in by_id["backward_test_mode"].feedback


def test_a_numeric_gradient_call_that_fails_is_named(tmp_path):
    # The numeric gradient's 201 forward calls travel in one batch and its outputs return as
    # one array; a call in the middle of it that raises, or returns another shape, is still
    # named. Call 50 falls in that batch: the checks before it make 22 forward calls.
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, misbehave in [("raises", "raise ValueError('tired after 49 calls')"),
                            ("reshapes", "return _forward(x, dropout_param)[0][:1], None")]:
        write_submission(folder, name, REFERENCE + textwrap.dedent(f"""
            _calls = [0]
            _forward = dropout_forward

            def dropout_forward(x, dropout_param):
                _calls[0] += 1
                if _calls[0] == 50:
                    {misbehave}
                return _forward(x, dropout_param)
        """))
    graded = grade_folder(folder, tmp_path / "out")
    for name, said in [("raises", "dropout_forward raised ValueError: tired after 49 calls"),
                       ("reshapes", "dropout_forward returned outputs whose shape is not x's")]:
        gradient = {c.id: c for c in graded[name].checks}["backward_gradient"]
        assert said in gradient.feedback
        assert "the notebook's case" in gradient.feedback
        assert gradient.score == gradient.max_score / 2  # the second case passes
        assert graded[name].score == graded[name].max_score - gradient.max_score / 2


def test_closing_does_not_follow_a_process_that_escaped_the_kill(tmp_path):
    # Without a PID namespace (machines where it cannot be had), a process the student started
    # in a session of its own outlives the kill and may print forever. Closing the sandbox
    # takes what is in the pipe and closes it; the escaped process then writes to a closed
    # pipe and ends.
    pid_file = tmp_path / "escaped.pid"
    escapes = REFERENCE + textwrap.dedent(f"""
        import os
        if os.fork() == 0:
            os.setsid()
            with open({str(pid_file)!r}, "w") as f:
                f.write(str(os.getpid()))
            try:
                while True:
                    os.write(1, b"x" * 65536)
            finally:
                os._exit(0)
        while not os.path.exists({str(pid_file)!r}):
            pass
    """)
    target = Target(root=tmp_path, file=write_submission(tmp_path, "escapes", escapes),
                    module=None, display="escapes.py")
    with ForkServer() as server:
        server.level = "none"
        with Sandbox(target, Limits(), server) as box:
            box.wait_loaded()
            assert box.functions["dropout_forward"]
    stat = Path(f"/proc/{pid_file.read_text()}/stat")

    def running() -> bool:
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running()


def test_a_forged_shape_that_overflows_is_a_malformed_array():
    # 2**32 x 2**32 elements overflow a 64-bit product to 0, the size of an empty blob
    forged = {"dtype": "<f8", "shape": [2**32, 2**32], "blob": 0}
    assert box.decode_array(forged, [memoryview(b"")]) is None
    assert box.decode_array(dict(forged, shape=[2, 0]), [memoryview(b"")]).shape == (2, 0)


def test_a_strict_umask_does_not_hide_the_copy_from_the_child(tmp_path):
    # As root, the child reads its copy of the submission as a uid of its own: the copy is
    # made readable whatever the grader's umask.
    folder = tmp_path / "subs"
    (folder / "package" / "cs231n").mkdir(parents=True)
    write_submission(folder, "plain", REFERENCE)
    write_submission(folder / "package" / "cs231n", "layers", REFERENCE)
    old = os.umask(0o077)
    try:
        graded = grade_folder(folder, tmp_path / "out")
        expected = containment.choose().describe()  # not a fallback the umask caused
    finally:
        os.umask(old)
    assert graded["plain"].score == graded["package"].score == 100
    assert graded["plain"].sandbox == expected


def test_a_child_that_cannot_be_confined_does_not_run_the_submission(tmp_path, monkeypatch):
    # Its submission folder is missing, so the child cannot mount it: it must refuse to import
    # the submission rather than run it with less containment than the run announced.
    level = containment.choose().level
    if level == "none":
        pytest.skip("no namespaces here: nothing to confine")
    target = Target(root=tmp_path, file=write_submission(tmp_path, "plain", REFERENCE),
                    module=None, display="plain.py")
    monkeypatch.setattr(box, "copy_target", lambda target, dest: target)  # nothing copied
    with ForkServer(level) as server, Sandbox(target, Limits(), server) as sandbox:
        sandbox.wait_loaded()
        assert sandbox.dead is not None and sandbox.dead.status == "error"
        assert "the sandbox could not be set up" in sandbox.dead.message
        assert "the submission was not run" in sandbox.dead.message


def test_without_a_minimal_root_numpy_comes_from_a_private_folder():
    # A shared, predictable name in the temporary folder could be made first by another
    # user, with a numpy of their own that the grader would then run.
    with ForkServer("none") as first, ForkServer("none") as second:
        first.start()
        second.start()
        shims = [Path(first._shim), Path(second._shim)]
        assert shims[0] != shims[1]
        for shim in shims:
            info = shim.stat()
            assert info.st_uid == os.getuid() and info.st_mode & 0o777 == 0o700
            assert sorted(p.name for p in shim.iterdir()) <= ["numpy", "numpy.libs"]
    assert not any(shim.exists() for shim in shims)


def test_the_next_submission_runs_nothing_while_the_current_one_is_judged(tmp_path):
    # The next child is started while the current submission is judged, but the student's
    # import waits for its turn: 60 busy processes at the next one's import would otherwise
    # take the core from a slow but correct solution and make it time out.
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "a_slow", REFERENCE + textwrap.dedent("""
        _forward = dropout_forward

        def dropout_forward(x, dropout_param):
            sum(range(100_000))  # a few ms of CPU a call, some 250 calls
            return _forward(x, dropout_param)
    """))
    write_submission(folder, "b_hog", """
        import os
        for _ in range(60):
            if os.fork() == 0:
                os.setsid()  # a scheduling group of its own each: the fair share is theirs
                break
        while True:
            pass
    """)
    graded = grade_folder(folder, tmp_path / "out", jobs=1, timeout=3.0)
    assert graded["a_slow"].score == 100, _feedback(graded["a_slow"])
    assert graded["b_hog"].status == "timeout"


def test_without_namespaces_closed_children_are_not_remembered():
    # The fork server sweeps what a closed child left and forgets it; the worker must forget
    # it too, or a later child with a reused pid would have its exit swallowed.
    file = Path(__file__).resolve().parent.parent / "reference" / "layers.py"
    with ForkServer("none") as server:
        for _ in range(5):
            with Sandbox(Target(file.parent, file, None, "layers.py"), Limits(), server) as b:
                b.wait_loaded()
                assert b.functions["dropout_forward"]
        assert server._forgotten == set()
