"""An instructor's own checks (--extra-checks), hidden checks, and what summaries claim."""

from __future__ import annotations

import csv
import json
import textwrap

import pytest
from conftest import REFERENCE, ROOT, SUBMISSIONS, grade_folder, write_submission

from grader import batch, discover, results, rubric
from grader.settings import Settings

HIDDEN = ROOT / "examples" / "hidden_checks"
FALSY_SEED = REFERENCE.replace('if "seed" in dropout_param:', 'if dropout_param.get("seed"):')


def _grade(folder, out, extra):
    submissions, _ = discover.find_submissions(folder)
    batch.grade(submissions, out, Settings(extra_checks=tuple(extra)), jobs=2)
    return {r.id: r for r in results.iter_results(out)}


@pytest.fixture(scope="module")
def hidden_batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subs")
    write_submission(folder, "good", REFERENCE)
    assert FALSY_SEED != REFERENCE
    write_submission(folder, "falsy_seed", FALSY_SEED)
    (folder / "only_2d.py").write_text((SUBMISSIONS / "only_2d.py").read_text())
    out = tmp_path_factory.mktemp("out")
    return out, _grade(folder, out, [HIDDEN])


def test_an_extra_check_counts_with_its_points(tmp_path):
    extra = tmp_path / "check_mine.py"
    extra.write_text(textwrap.dedent('''
        import numpy as np
        import pytest

        @pytest.mark.points(7)
        def check_returns_a_cache(student, verdict):
            """The cache holds the mask"""
            with verdict.case("train mode") as case:
                call = student.forward(np.ones((4, 5)), {"mode": "train", "p": 0.5})
                if call.handle is None:
                    case.fail("no cache came back")
    '''))
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "good", REFERENCE)
    graded = _grade(folder, tmp_path / "out", [extra])
    good = graded["good"]
    mine = next(c for c in good.checks if c.id == "returns_a_cache")
    assert (mine.title, mine.score, mine.max_score) == ("The cache holds the mask", 7, 7)
    assert good.score == good.max_score == 107
    results.write_gradebook(tmp_path / "out", rubric.load())
    row = next(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert row["returns_a_cache"] == "7" and row["score"] == "107"


def test_hidden_checks_grade_the_edge_cases(hidden_batch):
    _, graded = hidden_batch
    assert graded["good"].score == 120
    by_id = {c.id: c for c in graded["falsy_seed"].checks}
    assert not by_id["seed_zero_is_honoured"].passed
    assert graded["falsy_seed"].score == 115
    only_2d = {c.id: c for c in graded["only_2d"].checks}
    assert not only_2d["3d_input"].passed and only_2d["non_contiguous_input"].passed


def test_hidden_feedback_holds_none_of_the_inputs(hidden_batch):
    out, graded = hidden_batch
    hidden = [c for r in graded.values() for c in r.checks if c.visibility == "hidden"]
    failed = [c for c in hidden if not c.passed]
    assert failed
    for check in failed:
        assert check.feedback.startswith("✗ ") and "\n" not in check.feedback
        for leak in ("seed 0", "p = 1", "(6, 7, 8)", "(40, 30)", "expected", "shape",
                     "Likely cause"):
            assert leak not in check.feedback, (check.id, leak)
        assert check.staff_feedback and "expected" in check.staff_feedback  # for the staff
    data = json.loads((out / "falsy_seed" / "results.json").read_text())
    test = next(t for t in data["tests"] if t["extra_data"]["check"] == "seed_zero_is_honoured")
    assert test["visibility"] == "hidden" and test["output"] == "✗ a seed that is falsy"


def test_summaries_never_claim_checks_that_did_not_run(tmp_path, hidden_batch):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "good", REFERENCE)
    public = grade_folder(folder, tmp_path / "out")["good"]
    assert "(9 of 9 public checks passed)" in results.summary(public)
    _, graded = hidden_batch
    assert "(13 of 13 checks passed)" in results.summary(graded["good"])
    for result in (public, *graded.values()):
        assert "all checks" not in results.summary(result)


@pytest.mark.parametrize("source, message", [
    ("import pytest\ndef check_x(student, verdict):\n    pass\n",
     "needs @pytest.mark.points(N)"),
    ("import pytest\n@pytest.mark.points(1)\n@pytest.mark.visibility('secret')\n"
     "def check_x(student, verdict):\n    pass\n", "visibility 'secret' is not one of"),
    ("import pytest\n@pytest.mark.points(1)\ndef check_forward_shape(student, verdict):\n"
     "    pass\n", "repeat a check id"),
    ("raise ImportError('nope')\n", "cannot load the extra checks"),
])
def test_bad_extra_checks_are_usage_errors(tmp_path, source, message):
    from click.testing import CliRunner

    from grader.cli import main

    extra = tmp_path / "check_bad.py"
    extra.write_text(source)
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "no_drop.py"), "--out",
                                       str(tmp_path / "out"), "--extra-checks", str(extra)])
    assert result.exit_code == 2
    assert message in result.output


def test_a_check_that_fails_itself_never_keeps_an_earlier_verdict(tmp_path):
    # One worker grades a, then b: the check judges a, and raises on b after recording a
    # passing case. b's result must be the grader's failure, not a's verdict nor a pass.
    extra = tmp_path / "check_flaky.py"
    extra.write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.points(5)
        def check_flaky(student, verdict):
            """Breaks on b"""
            with verdict.case("recorded first"):
                pass
            if student.target.display == "b.py":
                raise RuntimeError("the check itself broke")
    '''))
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("a", "b"):
        write_submission(folder, name, REFERENCE)
    submissions, _ = discover.find_submissions(folder)
    batch.grade(submissions, tmp_path / "out", Settings(extra_checks=(extra,)), jobs=1)
    graded = {r.id: r for r in results.iter_results(tmp_path / "out")}
    flaky = {sid: next(c for c in r.checks if c.id == "flaky") for sid, r in graded.items()}
    assert flaky["a"].score == 5 and flaky["a"].grader_error is None
    assert flaky["b"].score == 0 and "the check itself broke" in flaky["b"].grader_error
    assert graded["b"].status == "error"
