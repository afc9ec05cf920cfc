"""Grading over the course's starter code (--starter DIR): a submission that relies on a module
of the assignment's package it does not hold imports over the starter, the student's own
files win, and what came from the starter is said; without it, one clear error."""

from __future__ import annotations

import json
import textwrap
import zipfile

import pytest
from conftest import REFERENCE, SUBMISSIONS, grade_folder
from test_cli import grade

from grader import gradescope

STARTER_LAYERS = (SUBMISSIONS / "starter_todo" / "cs231n" / "layers.py").read_text()


@pytest.fixture()
def starter(tmp_path):
    """A starter package: layers.py with its TODOs, and modules a layers.py may import."""
    root = tmp_path / "starter"
    (root / "cs231n").mkdir(parents=True)
    (root / "cs231n" / "__init__.py").write_text("")
    (root / "cs231n" / "layers.py").write_text(STARTER_LAYERS)
    (root / "cs231n" / "im2col.py").write_text("def helper():\n    return 1\n")
    (root / "cs231n" / "layer_utils.py").write_text("def affine_relu_forward():\n    return 1\n")
    return root


def _submissions(folder):
    """A layers.py alone using a relative and an absolute import of starter modules; a lone
    file using an absolute one; a package holding its own im2col.py, which must win."""
    (folder / "relative").mkdir(parents=True)
    (folder / "relative" / "layers.py").write_text(
        "from .layer_utils import affine_relu_forward\nfrom cs231n.im2col import helper\n"
        + REFERENCE)
    (folder / "lone.py").write_text("from cs231n.im2col import helper\n" + REFERENCE)
    (folder / "own" / "cs231n").mkdir(parents=True)
    (folder / "own" / "cs231n" / "im2col.py").write_text("def helper():\n    return 2\n")
    (folder / "own" / "cs231n" / "layers.py").write_text(textwrap.dedent("""
        from .im2col import helper
        if helper() != 2:
            raise ImportError("the starter's im2col.py replaced the student's own")
    """) + REFERENCE)


def test_a_layers_file_importing_starter_modules_earns_full_marks_over_the_starter(
        tmp_path, starter):
    _submissions(tmp_path / "subs")
    graded = grade_folder(tmp_path / "subs", tmp_path / "out", starter=starter)
    assert {i: r.score for i, r in graded.items()} == {"lone": 100, "own": 100, "relative": 100}
    assert graded["relative"].from_starter == ["cs231n/__init__.py", "cs231n/im2col.py",
                                               "cs231n/layer_utils.py"]
    assert graded["own"].from_starter == ["cs231n/__init__.py", "cs231n/layer_utils.py"]
    saved = json.loads((tmp_path / "out" / "relative" / "results.json").read_text())
    assert saved["extra_data"]["from_starter"] == graded["relative"].from_starter
    assert ("Graded over the course's starter code: 3 file(s) your submission lacks came "
            "from it (cs231n/__init__.py, cs231n/im2col.py, cs231n/layer_utils.py).") in \
        saved["output"]


def test_without_the_starter_a_missing_module_is_one_clear_error(tmp_path):
    _submissions(tmp_path / "subs")
    graded = grade_folder(tmp_path / "subs", tmp_path / "out")
    for sub_id in ("lone", "relative"):
        result = graded[sub_id]
        assert result.status == "error" and result.score == 0
        text = "\n".join(c.feedback for c in result.checks)
        # the student is told what they can do, once, in the first check; the staff's way
        # (--starter) is the staff's only: never in the student's results.json
        assert text.count("from the course's starter code") == 1
        assert "from the course's starter code" in result.checks[0].feedback
        assert "--starter" not in (tmp_path / "out" / sub_id / "results.json").read_text()
        assert "grade --starter DIR" in result.staff_hint  # the staff's file beside it
    assert "No module named 'cs231n'" in graded["lone"].checks[0].feedback
    # the module the import line names, or (a relative import) the package's modules
    assert "Your repository lacks cs231n/" in graded["lone"].checks[0].feedback
    assert "hand in the whole cs231n folder" in graded["relative"].checks[0].feedback
    assert "relative import" in graded["relative"].checks[0].feedback


def test_the_gradescope_bundle_carries_the_starter(tmp_path, starter):
    names = gradescope.build_bundle(tmp_path / "autograder.zip", starter=starter)
    assert {"starter/cs231n/im2col.py", "starter/cs231n/layers.py"} <= set(names)
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        assert '--starter "$SOURCE/starter"' in zf.read("run_autograder").decode()


def test_grade_takes_the_starter(tmp_path, starter):
    _submissions(tmp_path / "subs")
    result = grade(tmp_path / "subs" / "lone.py", "--out", tmp_path / "out", "--starter", starter)
    assert result.exit_code == 0
    assert "lone: 100 / 100" in result.output


def test_a_starter_one_folder_up_and_a_flat_submission_with_its_own_helpers(tmp_path, starter):
    # the instructor points at the folder above the assignment's; the student's flat folder
    # holds layers.py and its own layer_utils.py, which must win over the starter's
    nested = tmp_path / "course"
    nested.mkdir()
    starter.rename(nested / "assignment2")
    folder = tmp_path / "subs" / "flat"
    folder.mkdir(parents=True)
    (folder / "layer_utils.py").write_text("def affine_relu_forward():\n    return 2\n")
    (folder / "layers.py").write_text(textwrap.dedent("""
        from .layer_utils import affine_relu_forward
        if affine_relu_forward() != 2:
            raise ImportError("the starter's layer_utils.py replaced the student's own")
    """) + REFERENCE)
    graded = grade_folder(tmp_path / "subs", tmp_path / "out", starter=nested)
    assert graded["flat"].score == 100, graded["flat"].checks[0].feedback
    assert graded["flat"].from_starter == ["cs231n/__init__.py", "cs231n/im2col.py"]
