"""Fixtures shared by the checks, the built-in ones and an instructor's (--extra-checks): a
plugin loaded into every grading session (``student``, ``verdict``, ``rng`` and ``convention``
come from the grading plugin). Session scope means one submission: the grading run loop tears
every fixture down between submissions."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from grader.checks.stats import close, kept_tolerance
from grader.convention import NOTEBOOK_KEEPS, Convention
from grader.fc_net import PROBE_KEEP
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


@pytest.fixture(scope="session")
def shared_mask(notebook_runs, notebook_x) -> bool:
    """Whether every notebook run that dropped some units and kept others dropped the same
    units in every row: one mask (a row of shape (1, D)) broadcast over the batch."""
    shared = []
    for run in notebook_runs.values():
        try:
            out = run.get().array(0, "out")
        except StudentError:
            continue
        if out.shape != notebook_x.shape:
            continue
        dropped = out == 0
        if dropped.any() and not dropped.all():
            shared.append(bool(np.all(dropped == dropped[0])))
    return bool(shared) and all(shared)


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


@pytest.fixture(scope="session")
def dropout_layer(student, convention) -> dict[str, bool | None]:
    """What the student's own dropout layer does, to tell whether the net is run with it or
    with the course's layer in its place (see the ``fc_net`` fixture): whether dropout_forward
    drops units in training, keeps PROBE_KEEP of them (as the course's p means) and divides
    them by PROBE_KEEP, gives the same mask for the same seed and returns x unchanged in test
    mode, and whether dropout_backward gives dout through that mask (None: no output to
    tell)."""
    x = np.random.default_rng(7).standard_normal((50, 40)) + 10  # no zeros: 0 means dropped
    dout = np.random.default_rng(8).standard_normal(x.shape)
    p = convention.p(PROBE_KEEP)
    runs = student.forward_all({
        "train": (x, {"mode": "train", "p": p, "seed": 123}),
        "again": (x, {"mode": "train", "p": p, "seed": 123}),
        "test": (x, {"mode": "test", "p": p})})
    outs = {}
    for key, run in runs.items():
        try:
            outs[key] = run.get().array(0, "out")
        except StudentError:
            outs[key] = None
    train, again, test = outs["train"], outs["again"], outs["test"]
    dx = None
    if train is not None and train.shape == x.shape and runs["train"].call.handle is not None:
        try:
            dx = student.backward(dout, runs["train"].call.handle).array(None, "dx")
        except StudentError:
            pass
    kept = None if train is None or train.shape != x.shape else float(np.mean(train != 0))
    return {"drops": None if train is None else bool(np.any(train == 0)),
            "keeps": None if kept is None else bool(
                abs(kept - PROBE_KEEP) <= kept_tolerance(PROBE_KEEP, x.size)),
            "seeded": None if train is None or again is None else close(train, again),
            "test_identity": None if test is None else close(test, x),
            "backward": None if dx is None else close(dx, dout * train / x),
            "scales": None if kept is None or not kept else close(
                train[train != 0] / x[train != 0], np.full(int(np.sum(train != 0)),
                                                            1 / PROBE_KEEP))}
