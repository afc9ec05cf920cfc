"""The bundled submissions double as fixtures: each gets exactly its written-down verdict."""

from __future__ import annotations

import csv
import json
import tomllib

import pytest
from conftest import SUBMISSIONS, validate

from grader import rubric
from grader.results import write_gradebook

EXPECTED = tomllib.loads((SUBMISSIONS / "EXPECTED.toml").read_text())
RUBRIC = rubric.load()


def graded_checks(sub_id: str) -> list[str]:
    """The checks a bundled submission is graded on: the FullyConnectedNet's only where it
    holds the notebook's fc_net.py."""
    has_net = (SUBMISSIONS / sub_id / "cs231n" / "classifiers" / "fc_net.py").is_file()
    return [c.id for c in RUBRIC.checks if has_net or c.part != "fc_net"]


def test_every_bundled_submission_has_an_expected_verdict(bundled):
    _, graded = bundled
    assert sorted(graded) == sorted(EXPECTED)


@pytest.mark.parametrize("sub_id", sorted(EXPECTED))
def test_verdict_per_check(bundled, sub_id):
    _, graded = bundled
    result, expected = graded[sub_id], EXPECTED[sub_id]
    assert result.status == expected["status"]
    points = {c.id: c.score for c in result.checks}
    want = {cid: expected.get("points", {}).get(cid, RUBRIC[cid].points)
            for cid in graded_checks(sub_id)}
    assert points == pytest.approx(want, abs=1e-4)
    named = {m for c in result.checks for m in c.misconceptions}
    assert set(expected.get("misconceptions", [])) <= named
    for check in result.checks:
        if not check.passed:  # every lost point says what was observed
            assert "✗" in check.feedback


@pytest.mark.parametrize("sub_id", sorted(EXPECTED))
def test_results_json_follows_the_gradescope_schema(bundled, sub_id):
    out, _ = bundled
    data = validate(out / sub_id / "results.json")
    assert [t["extra_data"]["check"] for t in data["tests"]] == graded_checks(sub_id)
    for test in data["tests"]:
        assert test["status"] == ("passed" if test["score"] >= test["max_score"] else "failed")
        assert test["visibility"] == "visible"
    assert (out / sub_id / "pytest-report.json").is_file()


def test_feedback_names_the_keep_probability_mistake(bundled):
    _, graded = bundled
    check = next(c for c in graded["p_as_drop"].checks if c.id == "keep_probability")
    assert "kept 75" in check.feedback and "expected 25%" in check.feedback
    assert "p is the probability of KEEPING a unit" in check.feedback


def test_gradebook_has_a_row_per_submission_and_a_column_per_check(bundled):
    out, graded = bundled
    write_gradebook(out, RUBRIC)
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [r["id"] for r in rows] == sorted(graded)
    assert list(rows[0]) == ["id", "score", "max_score", "status", *RUBRIC.ids, "adjustments",
                             "flags"]
    syntax = next(r for r in rows if r["id"] == "syntax_error")
    assert syntax["status"] == "error" and float(syntax["score"]) == 0
    only_2d = next(r for r in rows if r["id"] == "only_2d")
    assert float(only_2d["forward_shape"]) == pytest.approx(10 / 3, abs=0.01)
    assert float(only_2d["score"]) == pytest.approx(90 + 10 / 3, abs=0.01)


@pytest.mark.parametrize("sub_id", ["identity", "no_drop"])
def test_what_dropping_nothing_never_showed_earns_nothing_and_says_why(bundled, sub_id):
    _, graded = bundled
    checks = {c.id: c for c in graded[sub_id].checks}
    assert graded[sub_id].score == 45
    for cid in ("mean_preserved", "seeded_determinism", "backward_gradient"):
        assert checks[cid].score == 0
        assert checks[cid].feedback == (
            "✗ dropout in train mode: not judged: in train mode your forward pass kept every "
            "unit at p = 0.25, 0.4, 0.7 (see keep_probability), so nothing was dropped at "
            "random for this check to see")
    assert "drops no unit at all" in checks["keep_probability"].feedback  # named where made


def test_a_correct_solution_of_any_style_is_judged_on_every_property(bundled):
    # the rule takes nothing from code that drops: every correct bundled layer keeps its 100
    _, graded = bundled
    for sub_id in ("starter_style", "binomial", "boolean_mask", "full_layers", "zipped"):
        assert graded[sub_id].score == 100
        assert "not judged" not in "".join(c.feedback for c in graded[sub_id].checks)


def _shown(out, sub_id: str) -> tuple[dict, str]:
    """A bundled submission's results.json, and all a student is shown of it."""
    data = json.loads((out / sub_id / "results.json").read_text())
    return data, data["output"] + "\n".join(t["output"] for t in data["tests"])


def test_an_error_met_by_every_check_is_told_once_with_its_cause(bundled):
    out, _ = bundled
    data, shown = _shown(out, "unfinished_train")
    assert shown.count('File "unfinished_train.py", line') == 1  # the traceback, once
    assert shown.count("Likely cause: leaves out as None. A branch") == 1  # advice once
    assert ("dropout_forward raised AttributeError: 'NoneType' object has no attribute "
            "'astype': its train branch leaves out as None, so `out.astype` fails on line 18"
            ) in shown
    assert "returns None" not in shown  # it raises: no cause that contradicts the error
    later = [t["output"] for t in data["tests"][1:] if t["status"] == "failed"]
    assert all("(as in \"Output shape equals the input's" in text for text in later)


@pytest.mark.parametrize("sub_id", ["only_2d", "only_2d_index", "only_2d_rand",
                                    "batch_shared_mask"])
def test_2d_only_code_is_named_whatever_its_spelling(bundled, sub_id):
    _, graded = bundled
    shape = next(c for c in graded[sub_id].checks if c.id == "forward_shape")
    assert shape.misconceptions == ["only_2d"] and "✓ 2-D input" in shape.feedback


def test_the_starters_prints_are_not_the_students(bundled):
    out, _ = bundled
    data, _ = _shown(out, "fcnet_starter_prints")
    assert "Your code printed" not in data["output"]
    assert "The course's fast_layers.py printed its usual note" in data["output"]
    assert "Cython" in data["extra_data"]["captured_output"]  # kept whole for the staff


def test_a_missing_starter_module_gets_advice_for_the_student_and_a_hint_for_the_staff(
        bundled):
    out, graded = bundled
    _, shown = _shown(out, "missing_starter_module")
    assert ("Your repository lacks cs231n/im2col.py, which your layers.py imports: add it "
            "from the course's starter code.") in shown
    assert "--starter" not in (out / "missing_starter_module" / "results.json").read_text()
    assert "grade --starter DIR" in graded["missing_starter_module"].staff_hint  # staff.json


def test_python_2_is_named_once(bundled):
    out, _ = bundled
    _, shown = _shown(out, "fcnet_python2_net")
    assert shown.count("Likely cause: Python 2 code. This grader") == 1
    assert "name 'xrange' is not defined" in shown
