"""The small pieces: tolerances, verdicts, the rubric, results files."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from conftest import SCHEMA

from grader import results, rubric
from grader.checks import check_backward, check_fc_net, check_forward
from grader.checks.fixtures import notebook_input
from grader.checks.stats import kept_tolerance, mean_ratio_tolerance, rel_error
from grader.convention import NOTEBOOK_KEEPS
from grader.student import StudentError
from grader.verdict import Verdict


def test_the_rubric_and_the_checks_name_the_same_ids():
    functions = [name.removeprefix("check_")
                 for module in (check_forward, check_backward, check_fc_net)
                 for name, _ in inspect.getmembers(module, inspect.isfunction)
                 if name.startswith("check_")]
    assert sorted(functions) == sorted(rubric.load().ids)
    # the layers are out of 100, as before; the FullyConnectedNet's part adds 30
    parts = {part: sum(c.points for c in rubric.load().checks if c.part == part)
             for part in rubric.PARTS}
    assert parts == {"layers": 100, "fc_net": 30}


def test_tolerances_are_eight_standard_deviations():
    # Binomial: sd of the kept fraction is sqrt(p(1-p)/n); at p = 0.25, n = 250,000 that is
    # sqrt(0.1875) / 500 = 0.000866, and 8 sd = 0.00693.
    assert kept_tolerance(0.25, 250_000) == pytest.approx(0.00693, abs=1e-5)
    # Mean ratio, x ~ 10 + N(0, 1): sum(x^2) ~ 101 n, so sd = sqrt(101 (1-p)/p / n) / 10;
    # at p = 0.25: sqrt(303 / 250,000) / 10 = 0.00348, and 8 sd = 0.0279.
    x = np.random.RandomState(231).randn(500, 500) + 10
    assert mean_ratio_tolerance(x, 0.25) == pytest.approx(0.0279, abs=3e-4)
    assert mean_ratio_tolerance(x, 0.7) == pytest.approx(8 * np.sqrt(101 * 0.3 / 0.7 / 250_000)
                                                         / 10, rel=0.02)


def test_the_mistakes_sit_far_outside_the_tolerances():
    # On the checks' own (smaller than the notebook's) input: 40,000 units.
    x = notebook_input()
    assert x.size == 40_000
    for p in NOTEBOOK_KEEPS:
        kept, ratio = kept_tolerance(p, x.size), mean_ratio_tolerance(x, p)
        # The bands: at most 0.02 of kept fraction and 0.07 of mean ratio (p = 0.25:
        # 8 sqrt(303 / 40,000) / 10 = 0.0696).
        assert kept < 0.02 and ratio < 0.07
        assert abs((1 - p) - p) > 10 * kept  # p as the drop probability: 80 sd away
        assert abs(p - 1) > 10 * ratio  # forgot to divide by p
        # The two mean misconceptions are told apart with 3-band margins around each.
        no_rescale, wrong_comparison = p, (1 - p) / p
        assert abs(no_rescale - 1) > 3 * ratio and abs(wrong_comparison - 1) > 3 * ratio
        assert abs(no_rescale - wrong_comparison) > 2 * max(3 * ratio, 0.05)


def test_rel_error_is_the_notebooks():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.array([0.0]), np.array([0.0])) == 0


def test_a_verdict_gives_partial_credit_and_skips_what_does_not_apply():
    verdict = Verdict()
    with verdict.case("a"):
        pass
    with verdict.case("b") as case:
        case.fail("observed 1", "2", "p_as_drop")
    with verdict.case("c") as case:
        case.skip("nothing to compare")
    with verdict.case("d"):
        raise StudentError("boom", "only_2d", status="crash")
    assert verdict.fraction == pytest.approx(1 / 3)
    assert verdict.misconceptions == ["only_2d", "p_as_drop"]
    assert verdict.status == "crash"
    text = verdict.feedback()
    assert [line[:3] for line in text.splitlines() if not line.startswith(" ")] == \
        ["✓ a", "✗ b", "– c", "✗ d"]
    assert "– c: not judged: nothing to compare" in text  # out of the score, not out of sight
    assert "✗ b: observed 1; expected 2" in text
    assert "Likely cause: treats p as the drop probability" in text


def test_a_check_the_grader_fails_on_scores_zero_and_says_so():
    report = {"grader": {"id": "x"}, "duration": 0.1, "tests": [
        {"nodeid": "check_forward.py::check_forward_shape", "outcome": "error",
         "metadata": {"check": "forward_shape"},
         "setup": {"outcome": "failed", "longrepr": "KeyError: 'boom'"}}]}
    result = results.from_report(report, rubric.load())
    shape = result.checks[0]
    assert shape.score == 0 and shape.feedback == results.GRADER_FAILED
    assert "KeyError" in shape.grader_error
    assert result.status == "error"
    assert all(c.grader_error for c in result.checks)  # the checks that never ran, too


def test_a_grader_failure_is_still_a_valid_results_file(tmp_path):
    import jsonschema

    failure = results.grader_failure("eve", rubric.load(), "the grading worker died")
    results.save(tmp_path, {"grader": {"id": "eve"}}, failure)
    data = json.loads((tmp_path / "eve" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["score"] == 0 and "the grading worker died" in data["output"]
    assert results.from_gradescope(data).status == "error"
    # out of what it would have been graded on: the FullyConnectedNet's checks only if it
    # holds one
    lone = results.grader_failure("eve", rubric.load(), "died", has_fc_net=False)
    assert lone.max_score == 100 and all(c.id in rubric.load().ids for c in lone.checks)
    assert failure.max_score == rubric.load().total


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "results.json"
    results.write_atomic(target, "one")
    results.write_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


@pytest.mark.parametrize("answer", [
    {"kind": "returned", "value": 5, "args_after": 7},
    {"kind": "returned", "value": {"kind": "tuple", "items": "nope"}},
    {"kind": "returned", "value": {"kind": "tuple", "items": [1, {"handle": "3"}]}},
    {"kind": "returned", "value": {"kind": "too_large", "shape": "big", "nbytes": None}},
    {"kind": "returned", "value": {"kind": "array", "dtype": "|O", "shape": [1], "blob": 0}},
])
def test_a_lying_child_gets_descriptions_not_a_grader_crash(answer):
    from grader.student import Foreign, Student, StudentError

    call = Student(None, None)._decode("dropout_forward", answer, [memoryview(b"12345678")])
    assert call.handle is None
    with pytest.raises(StudentError):
        call.array(0, "out")
    assert all(isinstance(v, Foreign) for v in
               (call.returned if isinstance(call.returned, tuple) else (call.returned,)))


def test_a_hidden_check_says_a_case_was_not_judged_but_not_why():
    verdict = Verdict()
    with verdict.case("secret") as case:
        case.skip("the input 0.123 kept every unit")
    assert verdict.feedback(hidden=True) == "– secret: not judged"
    assert "0.123" in verdict.feedback()


def test_an_error_told_before_keeps_the_cause_this_check_names():
    # check A shows a traceback with no cause; check B meets it and names one: B gives the
    # error in one line, pointing at A, and still says the cause
    told: dict[str, str] = {}
    a, b = Verdict(), Verdict()
    with a.case("1-D"):
        raise StudentError("boom\n  File \"x.py\", line 3")
    with b.case("4-D"):
        raise StudentError("boom\n  File \"x.py\", line 3", "only_2d")
    a.feedback(told=told, here="A")
    said = b.feedback(told=told, here="B")
    assert said.splitlines()[0] == '✗ 4-D: boom (as in "A" above)'
    assert "Likely cause: works only for 2-D input" in said


@pytest.mark.parametrize(("type_name", "message", "named"), [
    ("NameError", "name 'xrange' is not defined", True),
    ("AttributeError", "'dict' object has no attribute 'iteritems'", True),
    # Python 3 code for an older numpy, and a name of the student's own: not Python 2
    ("AttributeError", "module 'numpy' has no attribute 'unicode'", False),
    ("NameError", "name 'mask' is not defined", False),
])
def test_python_2_is_named_only_for_its_own_symptoms(type_name, message, named):
    from grader.misconceptions import python2
    assert python2(type_name, message) is named


def test_a_path_round_trips_raw_while_text_is_made_inert(tmp_path):
    # a folder name with a right-to-left mark: shown escaped, opened again as it is
    result = results.SubmissionResult("ali", "ok", [], path=str(tmp_path / "ali\u200f"),
                                      output="\x1b[2Jprinted")
    data = results.to_gradescope(result)
    assert data["extra_data"]["path"].endswith("ali\u200f")
    assert "\\x1b[2J" in data["extra_data"]["captured_output"]
    results.save(tmp_path / "out", {}, result)
    back = results.read(tmp_path / "out", "ali")
    assert back.path.endswith("ali\u200f") and back.output == "\\x1b[2Jprinted"
