"""The Gradescope bundle: built, unpacked into a stand-in /autograder, installed by its own
setup.sh into a fresh virtual environment, and run on submissions."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ROOT, SUBMISSIONS, validate

from grader.cli import main


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """An AUTOGRADER_ROOT with the bundle unpacked in source/ and setup.sh run."""
    root = tmp_path_factory.mktemp("autograder")
    bundle = root / "autograder.zip"
    result = CliRunner().invoke(main, ["gradescope-bundle", str(bundle), "--extra-checks",
                                       str(ROOT / "examples/hidden_checks/check_edge_cases.py")])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    _setup(root, env)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    return root, bundle, env


def _setup(root, env) -> None:
    """Run the bundle's setup.sh as Gradescope does when it builds the image."""
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _run(root, env, files: dict[str, str]) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for name, text in files.items():
        (submission / name).write_text(text)
    (root / "results" / "results.json").unlink(missing_ok=True)
    subprocess.run(["bash", str(root / "run_autograder")], env=env, check=False,
                   capture_output=True, timeout=300)
    return validate(root / "results" / "results.json")


def test_the_bundle_holds_no_reference_solution(autograder):
    _, bundle, _ = autograder
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert {"setup.sh", "run_autograder", "rubric.toml",
                "extra_checks/check_edge_cases.py"} <= set(names)
        wheels = [n for n in names if n.endswith(".whl")]
        assert len(wheels) == 1
        inner = zipfile.ZipFile(io.BytesIO(zf.read(wheels[0]))).namelist()
    assert not [n for n in names + inner if "reference" in n.lower()]
    assert "grader/checks/check_forward.py" in inner


def test_run_autograder_writes_valid_results(autograder):
    root, _, env = autograder
    data = _run(root, env, {"layers.py": (SUBMISSIONS / "no_rescale.py").read_text()})
    assert data["score"] == 85 + 20  # the four hidden edge cases pass too
    failed = [t["extra_data"]["check"] for t in data["tests"] if t["status"] == "failed"]
    assert failed == ["mean_preserved"]
    hidden = [t for t in data["tests"] if t["visibility"] == "hidden"]
    assert [t["max_score"] for t in hidden] == [5, 5, 5, 5]


def test_a_broken_submission_still_gets_valid_results(autograder):
    root, _, env = autograder
    data = _run(root, env, {"layers.py": "def dropout_forward(x, p)\n"})
    assert data["score"] == 0
    assert "SyntaxError in layers.py, line 1" in data["tests"][0]["output"]


def test_a_grader_installed_from_a_wheel_builds_a_bundle_that_runs(autograder, tmp_path):
    # The autograder's own virtual environment holds the grader installed from the bundle's
    # wheel: no clone, no pyproject.toml. The bundle it builds installs and grades too.
    first, _, _ = autograder
    installed = first / "venv" / "bin" / "grade"
    root = tmp_path / "autograder"
    root.mkdir()
    built = subprocess.run([str(installed), "gradescope-bundle", str(root / "autograder.zip")],
                           capture_output=True, text=True, cwd=tmp_path, check=False)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(root / "autograder.zip") as zf:
        zf.extractall(root / "source")
        wheels = [n for n in zf.namelist() if n.endswith(".whl")]
        inner = zipfile.ZipFile(io.BytesIO(zf.read(wheels[0]))).namelist()
    assert "grader/sandbox/jail.py" in inner and "grader/rubric.toml" in inner
    assert not [n for n in inner if "__pycache__" in n or "reference" in n.lower()]
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    _setup(root, env)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    data = _run(root, env, {"layers.py": (SUBMISSIONS / "no_rescale.py").read_text()})
    assert data["score"] == 85
    assert data["extra_data"]["sandbox"].startswith("sandbox: ")
