"""The course staff's adjustments (issue 19, its command-line half): points given or taken on a
check or the total, with a reason the student reads and the gradebook shows, kept through
every regrade."""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor

from click.testing import CliRunner
from conftest import SUBMISSIONS

from grader import adjust
from grader.cli import main


def _run(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _graded(tmp_path):
    out = tmp_path / "out"
    assert _run(SUBMISSIONS / "no_drop.py", "--out", out).exit_code == 0  # 45 / 100
    return out


def _saved(out) -> dict:
    return json.loads((out / "no_drop" / "results.json").read_text())


def test_an_adjustment_reaches_the_feedback_and_the_gradebook_and_survives_a_regrade(tmp_path):
    out = _graded(tmp_path)
    said = _run("adjust", out, "no_drop", "--check", "mean_preserved", "--points", "5",
                "--reason", "the notebook explains the scaling")
    assert said.exit_code == 0 and "no_drop: 50 / 100" in said.output
    assert _run("adjust", out, "no_drop", "--points", "-2", "--reason", "a day late").exit_code == 0
    for _ in range(2):  # as adjusted, then after a regrade that computes every check again
        data = _saved(out)
        assert data["score"] == 48
        mean = next(t for t in data["tests"] if t["extra_data"]["check"] == "mean_preserved")
        assert mean["score"] == 5
        assert "Adjusted by the course staff: +5 (the notebook explains the scaling)" in \
            mean["output"]
        total = next(t for t in data["tests"] if t["extra_data"]["check"] == "adjustment")
        assert total["score"] == -2 and "a day late" in total["output"]
        row = next(csv.DictReader((out / "grades.csv").open()))
        assert row["score"] == "48"
        assert row["adjustments"] == ("mean_preserved +5: the notebook explains the scaling; "
                                      "adjustment -2: a day late")
        assert _run(SUBMISSIONS / "no_drop.py", "--out", out, "--force").exit_code == 0


def test_a_check_stays_within_its_points(tmp_path):
    out = _graded(tmp_path)
    _run("adjust", out, "no_drop", "--check", "keep_probability", "--points", "100",
         "--reason", "generous")
    _run("adjust", out, "no_drop", "--check", "forward_shape", "--points", "-100",
         "--reason", "harsh")
    scores = {t["extra_data"]["check"]: t["score"] for t in _saved(out)["tests"]}
    assert scores["keep_probability"] == 15 and scores["forward_shape"] == 0


def test_staff_adjusting_at_once_lose_nothing(tmp_path):
    out = _graded(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: adjust.add(out, adjust.Adjustment("no_drop", "adjustment", 1,
                                                                  f"reason {i}")), range(40)))
    assert sorted(a.reason for a in adjust.load(out)["no_drop"]) == \
        sorted(f"reason {i}" for i in range(40))


def test_an_unknown_submission_or_check_is_refused(tmp_path):
    out = _graded(tmp_path)
    assert _run("adjust", out, "nobody", "--points", "1", "--reason", "x").exit_code == 2
    refused = _run("adjust", out, "no_drop", "--check", "net_builds", "--points", "1",
                   "--reason", "x")
    assert refused.exit_code == 2 and "was not graded on a check 'net_builds'" in \
        refused.output
    assert not (out / adjust.ADJUSTMENTS).exists()
