"""Fixtures shared by the checks, the built-in ones and an instructor's (--extra-checks): a
plugin loaded into every grading session (``student``, ``verdict``, ``rng`` and ``convention``
come from the grading plugin). Session scope means one submission: the grading run loop tears
every fixture down between submissions."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from grader.convention import NOTEBOOK_KEEPS, Convention
from grader.student import Attempt, StudentError

# The notebook draws randn(500, 500) + 10. A sixth of its units keeps every 8-sigma band far
# from every mistake (the bands widen by sqrt(6.25) = 2.5; tests/test_units.py shows the
# margins) and makes the three runs, the dearest part of grading, six times cheaper.
NOTEBOOK_SHAPE = (200, 200)


@pytest.fixture(scope="session")
def notebook_x() -> np.ndarray:
    """The notebook's forward-pass input, smaller: RandomState(231).randn(200, 200) + 10."""
    return notebook_input()


@functools.cache
def notebook_input() -> np.ndarray:
    x = np.random.RandomState(231).randn(*NOTEBOOK_SHAPE) + 10
    x.flags.writeable = False  # made once per worker, shared by every submission
    return x


@pytest.fixture(scope="session")
def notebook_runs(student, notebook_x, convention) -> dict[float, Attempt]:
    """Train-mode forward passes on the notebook's input, by keep probability (0.25, 0.4, 0.7;
    no seed, as in the notebook); shared by keep_probability and mean_preserved."""
    return student.forward_all({keep: (notebook_x, {"mode": "train", "p": convention.p(keep)})
                                for keep in NOTEBOOK_KEEPS})


@pytest.fixture(scope="session")
def no_dropout(notebook_runs, notebook_x, convention) -> str | None:
    """Why a check whose property shows only when units are dropped at random (the mean kept
    by scaling, the seed reproducing a mask, the gradient through a mask) has nothing to
    judge: the train-mode forward pass kept every unit, or none, at every p of the notebook's
    runs. None when it was seen dropping some units and keeping others (or a run failed: the
    checks judge that themselves)."""
    return unexercised(notebook_runs, notebook_x, convention)


def unexercised(runs: dict[float, Attempt], x: np.ndarray, convention: Convention) -> str | None:
    kept = set()
    for run in runs.values():
        try:
            out = run.get().array(0, "out")
        except StudentError:
            return None
        if out.shape != x.shape:
            return None
        kept.add(np.count_nonzero(out) / out.size)
    if not kept <= {0.0, 1.0}:
        return None
    what = {frozenset({1.0}): "kept every unit", frozenset({0.0}): "dropped every unit"}.get(
        frozenset(kept), "kept every unit or none")
    ps = ", ".join(f"{convention.p(keep):g}" for keep in runs)
    return (f"not judged: in train mode your forward pass {what} at p = {ps} (see "
            "keep_probability), so nothing was dropped at random for this check to see")
