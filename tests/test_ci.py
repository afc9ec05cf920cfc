"""Students' CI: `grade .` in a student repository, as GitHub Actions runs it."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SUBMISSIONS

from grader.cli import main


def _repo(tmp_path: Path, source: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "cs231n").mkdir(parents=True)
    (repo / "cs231n" / "__init__.py").write_text("")
    shutil.copy(source, repo / "cs231n" / "layers.py")
    return repo


def _grade_on_github(repo: Path, summary: Path, monkeypatch, *args: str):
    monkeypatch.chdir(repo)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    return CliRunner().invoke(main, [".", *args], env=env, catch_exceptions=False)


def test_a_correct_repo_passes_with_a_summary_and_no_annotation(tmp_path, monkeypatch):
    repo, summary = _repo(tmp_path, SUBMISSIONS / "starter_style.py"), tmp_path / "summary.md"
    result = _grade_on_github(repo, summary, monkeypatch, "--fail-under", "100")
    assert result.exit_code == 0
    assert "::error" not in result.output
    text = summary.read_text()
    assert text.startswith("## Dropout: 100 / 100")
    assert text.count("✅") == 9 and "❌" not in text


def test_a_buggy_repo_gets_annotations_at_the_function(tmp_path, monkeypatch):
    repo, summary = _repo(tmp_path, SUBMISSIONS / "backward_no_scale.py"), tmp_path / "summary.md"
    result = _grade_on_github(repo, summary, monkeypatch, "--fail-under", "90",
                              "--junit-xml", str(tmp_path / "junit.xml"))
    assert result.exit_code == 1  # 85 < 90
    lines = (repo / "cs231n" / "layers.py").read_text().splitlines()
    backward_line = next(i for i, line in enumerate(lines, 1)
                         if line.startswith("def dropout_backward"))
    errors = [line for line in result.output.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith(f"::error file=cs231n/layers.py,line={backward_line},title=dx "
                                "matches the numeric gradient of the forward pass (0/15)::")
    assert "%0A" in errors[0] and "\n" not in errors[0]  # one line, newlines escaped
    text = summary.read_text()
    assert "| dx matches the numeric gradient of the forward pass | 0 / 15 | ❌ |" in text
    assert "Likely cause: backward forgets the 1/p" in text
    assert _grade_on_github(repo, summary, monkeypatch, "--fail-under", "85").exit_code == 0

    suites = ET.parse(tmp_path / "junit.xml").getroot()
    suite = suites.find("testsuite")
    assert suite.get("tests") == "9" and suite.get("failures") == "1"
    failed = [case.get("name") for case in suite.iter("testcase")
              if case.find("failure") is not None]
    assert failed == ["backward_gradient"]


@pytest.mark.parametrize("key", ["actions/checkout", "grade . --fail-under",
                                 "pip install \"git+https://"])
def test_the_workflow_template_installs_and_grades(key):
    template = (ROOT / "templates" / "github-actions" / "grade.yml").read_text()
    assert key in template


def test_the_package_installs_from_a_git_url_with_its_data(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(tmp_path / "site"), f"git+file://{ROOT}"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    package = tmp_path / "site" / "grader"
    assert (package / "rubric.toml").is_file()
    assert (package / "checks" / "pytest.ini").is_file()
    assert (package / "checks" / "check_forward.py").is_file()
    assert not (tmp_path / "site" / "reference").exists()
