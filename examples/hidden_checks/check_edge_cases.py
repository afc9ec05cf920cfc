"""Hidden edge cases: an example of an instructor's own checks, off by default.

    grade submissions/ --extra-checks examples/hidden_checks

Each is a plain pytest function `check_<id>` using the grader's fixtures (student, verdict,
rng, convention); its points, visibility and title come from markers and its docstring. With
a visibility other than "visible", students see only the case names, never the inputs or the
expected values.
"""

import numpy as np
import pytest

from grader.checks.stats import close, differ
from grader.student import Transposed


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def check_keep_all_is_identity(student, verdict, rng, convention):
    """Keeping every unit changes nothing"""
    x = rng.standard_normal((30, 40)) + 10
    with verdict.case("keeping every unit") as case:
        param = {"mode": "train", "p": convention.p(1.0), "seed": 3}
        out = student.forward(x, param).array(0, "out")
        if not close(out, x):
            case.fail(f"train mode with p = {param['p']} changed x: {differ(out, x)}",
                      "x unchanged")


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def check_seed_zero_is_honoured(student, verdict, rng, convention):
    """A seed of 0 is a seed"""
    x = rng.standard_normal((50, 60)) + 10
    with verdict.case("a seed that is falsy") as case:
        param = {"mode": "train", "p": convention.p(0.5), "seed": 0}
        first = student.forward(x, param).array(0, "out")
        again = student.forward(x, param).array(0, "out")
        if not np.array_equal(first, again, equal_nan=True):
            case.fail(f"two calls with seed 0 disagree: {differ(again, first)}",
                      "identical outputs", "falsy_seed")


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def check_non_contiguous_input(student, verdict, rng, convention):
    """A transposed (non-contiguous) input works"""
    x = rng.standard_normal((30, 40)) + 10
    with verdict.case("a transposed input") as case:
        for mode in ("train", "test"):
            out = student.forward(Transposed(x), {"mode": mode, "p": convention.p(0.5),
                                                  "seed": 5}).array(0, "out")
            if out.shape != x.T.shape:
                case.fail(f"{mode} mode returned shape {out.shape}", f"{x.T.shape}")
            elif mode == "test" and not close(out, x.T):
                case.fail(f"test mode changed x.T: {differ(out, x.T)}", "x.T unchanged")


@pytest.mark.points(5)
@pytest.mark.visibility("hidden")
def check_3d_input(student, verdict, rng, convention):
    """3-D input works"""
    x = rng.standard_normal((6, 7, 8)) + 10
    with verdict.case("a 3-D input") as case:
        for mode in ("train", "test"):
            out = student.forward(x, {"mode": mode, "p": convention.p(0.5),
                                      "seed": 7}).array(0, "out")
            if out.shape != x.shape:
                case.fail(f"{mode} mode returned shape {out.shape}", f"{x.shape}", "only_2d")
