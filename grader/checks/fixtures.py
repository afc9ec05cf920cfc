"""Fixtures shared by the checks, the built-in ones and an instructor's (--extra-checks): a
plugin loaded into every grading session (``student``, ``verdict``, ``rng`` and ``convention``
come from the grading plugin). Session scope means one submission: the grading run loop tears
every fixture down between submissions."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from grader.convention import NOTEBOOK_KEEPS
from grader.student import Attempt

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
