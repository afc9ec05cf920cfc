"""A misconception is named only when it explains all the evidence: every notebook run's kept
fraction and mean. A submission that looks like a mistake at one p only gets what was
observed and no advice; the normal-draw mistake is known."""

from __future__ import annotations

import math
import re

import pytest
from conftest import grade_folder, write_submission

# A forward pass that keeps KEEP(p) of the units and multiplies the kept ones by SCALE(p);
# its backward agrees with it.
TEMPLATE = '''
import numpy as np

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "test":
        return x, (dropout_param, None)
    {body}
    mask = (np.random.rand(*x.shape) < keep) * scale
    return (x * mask).astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
'''

PHI = "0.5 * (1 + __import__('math').erf(p / 2 ** 0.5))"
# Each mistake as (kept fraction, scale of the kept units), both of p.
MISTAKES = {
    "p_as_drop": ("1 - p", "1 / (1 - p)"),
    "wrong_comparison": ("1 - p", "1 / p"),
    "no_rescale": ("p", "1"),
    "normal_draw": (PHI, "1 / p"),
    # compound: both halves wrong, or the scale of the other reading
    "vanilla_p_as_drop": ("1 - p", "1"),
    "divides_by_drop": ("p", "1 / (1 - p)"),
    "normal_no_rescale": (PHI, "1"),
    "drops_nothing": ("1", "1"),
    "drops_everything": ("0", "1"),
}
NOTEBOOK_CHECKS = ("keep_probability", "mean_preserved")


def _body(keep: str, scale: str) -> str:
    return f"keep, scale = {keep}, {scale}"


def _at_one_p(keep: str, scale: str) -> str:
    """The mistake at p = 0.4 only; elsewhere half the units kept, doubled (mean right)."""
    return f"keep, scale = ({keep}, {scale}) if p == 0.4 else (0.5, 2)"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mistakes")
    for name, (keep, scale) in MISTAKES.items():
        write_submission(folder, f"everywhere_{name}",
                         TEMPLATE.replace("{body}", _body(keep, scale)))
        write_submission(folder, f"at_one_p_{name}",
                         TEMPLATE.replace("{body}", _at_one_p(keep, scale)))
    return grade_folder(folder, tmp_path_factory.mktemp("mistakes-out"))


def _named(result) -> dict[str, list[str]]:
    return {c.id: c.misconceptions for c in result.checks if c.id in NOTEBOOK_CHECKS}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_made_at_every_p_is_named(graded, mistake):
    named = _named(graded[f"everywhere_{mistake}"])
    checks = {c.id: c for c in graded[f"everywhere_{mistake}"].checks}
    failed = [cid for cid in NOTEBOOK_CHECKS if not checks[cid].passed]
    assert failed  # every one of these mistakes fails at least one of the two checks
    for cid in failed:
        if "not judged" in checks[cid].feedback:  # nothing dropped at random: no mean to keep
            assert mistake in ("drops_nothing", "drops_everything") and named[cid] == []
        else:
            assert named[cid] == [mistake], (cid, named)
    assert any(named[cid] == [mistake] for cid in failed)  # named where it was made


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_made_at_one_p_only_is_not_named(graded, mistake):
    result = graded[f"at_one_p_{mistake}"]
    assert not next(c for c in result.checks if c.id == "keep_probability").passed
    assert _named(result) == {cid: [] for cid in NOTEBOOK_CHECKS}
    for check in result.checks:
        if check.id in NOTEBOOK_CHECKS:  # what was observed and what was expected, no advice
            assert "Likely cause" not in check.feedback
            assert check.passed or "; expected " in check.feedback


def test_the_normal_draw_is_explained_with_the_numbers_it_gives(graded):
    check = next(c for c in graded["everywhere_normal_draw"].checks
                 if c.id == "keep_probability")
    phi = 0.5 * (1 + math.erf(0.25 / math.sqrt(2)))  # 59.9 % kept at p = 0.25
    kept = float(re.search(r"p = 0.25: kept ([0-9.]+)%", check.feedback).group(1)) / 100
    assert abs(kept - phi) < 0.02
    assert "draws the mask from a normal distribution" in check.feedback
    assert "np.random.rand(*x.shape) < p" in check.feedback
