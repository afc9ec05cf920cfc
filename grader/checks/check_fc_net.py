"""Checks of the Dropout notebook's second half: dropout inside the student's FullyConnectedNet
(``cs231n/classifiers/fc_net.py``), run as the notebook runs it (``grader.fc_net``). Each
judges one property. The properties of dropout are judged only where the net applies dropout
in training at all: a net without it has none of them to show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from grader.checks.stats import close, differ, kept_tolerance
from grader.fc_net import KEEPS, PROBE_KEEP, PROBE_WIDTH, SHAPES, H, Observations
from grader.misconceptions import Prediction, explain
from grader.student import StudentError
from grader.verdict import Case, Verdict

DROPOUT_KEEPS = KEEPS[1:]
APPLIED = "\"Dropout is applied in training\""


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * (abs(a) + abs(b))


def _settings(fc_net: Observations) -> list[tuple[float, str]]:
    """A check's cases: (keep, name) per dropout setting. A net that could not be run at all
    gives one case, which says so as soon as it asks for anything."""
    if fc_net.failure is not None:
        return [(DROPOUT_KEEPS[0], "FullyConnectedNet")]
    return [(keep, fc_net.label(keep)) for keep in DROPOUT_KEEPS]


def _applied(fc_net: Observations, keep: float) -> None:
    """Raise, in short, unless the net's training loss at KEEP differs from the loss without
    dropout (the same weights, the same global generator)."""
    with_dropout = fc_net.trained(keep, full=False)
    if _same(with_dropout.loss, fc_net.trained(KEEPS[0], full=False).loss):
        raise StudentError(f"not judged: the net applies no dropout in training with "
                           f"{fc_net.label(keep)} (see {APPLIED})")


COURSE_LAYER = dict.fromkeys(("drops", "keeps", "seeded", "test_identity", "backward",
                               "scales"), True)


@pytest.fixture(scope="session")
def net_layer(fc_net: Observations, dropout_layer: dict[str, bool | None]
              ) -> dict[str, bool | None]:
    """What the dropout layer the net ran with does (as the ``dropout_layer`` fixture tells
    it): the student's where the net ran with it, by choice or through a name the grader
    could not replace; else none of the student's (the course's, or the net's own lines),
    so that a fault the net shows is the net's."""
    if fc_net.course_layer and not fc_net.calls_own_layer():
        return COURSE_LAYER
    return dropout_layer


def _inline(fc_net: Observations) -> bool:
    """Whether, with the course's layer in place, the net applies dropout calling neither it
    nor the student's layer: in its own lines."""
    if (not fc_net.course_layer or fc_net.calls_course_layer()
            or fc_net.calls_own_layer()):
        return False
    for keep in DROPOUT_KEEPS:
        try:
            _applied(fc_net, keep)
            return True
        except StudentError:
            continue
    return False


def _blame(case: Case, observed: str, expected: str, layer: bool | None, layer_does: str,
           misconception: str | None) -> None:
    """Fail CASE. LAYER says whether the student's own dropout layer is right in the respect
    that matters here (None: it gave nothing to tell). The net's MISCONCEPTION is named only
    where the layer is known right; where the layer alone shows the fault (LAYER_DOES:
    "dropout_forward ignores its seed"), the feedback points at the layer checks, which name
    the cause; where nothing is known, no cause is named."""
    if layer is False:
        case.fail(f"{observed}, and {layer_does} by itself (see the layer checks)", expected)
    else:
        case.fail(observed, expected, misconception if layer else None)


def _both(*answers: bool | None) -> bool | None:
    """False if any answer is False, True if all are True, None otherwise."""
    if False in answers:
        return False
    return True if all(answers) else None


def check_net_builds(fc_net, verdict):
    if fc_net.stand_ins:
        verdict.note("imported with stand-ins for modules the grader cannot import (a net "
                     "that used one would fail there, naming it): "
                     + "; ".join(f"{name} ({why})" for name, why in fc_net.stand_ins))
    if fc_net.failure is not None:
        with verdict.case("FullyConnectedNet"):
            fc_net.whole(full=True)
        return
    verdict.note(f"dropout keyword: {fc_net.era.describe()}")
    if fc_net.calls_own_layer():
        verdict.note("your net calls your dropout layer through a name the grader could not "
                     "replace (a dict, a default argument, a closure?), so the course's layer "
                     "could not be put in place of yours, which fails the layer checks: where "
                     "the net shows the layer's fault, the feedback points at the layer checks")
    elif _inline(fc_net):
        verdict.note("your net does its dropout in its own lines, without calling "
                     "dropout_forward: its dropout was judged as it is written")
    elif fc_net.calls_course_layer():
        verdict.note("your net was checked with the course's dropout layer in place of "
                     "yours, since yours fails the layer checks: the layer's mistakes cost "
                     "the layer checks alone")
    for keep in KEEPS:
        with verdict.case(fc_net.label(keep)):
            fc_net.trained(keep)
            fc_net.scores(keep)


def _unrepeatable(fc_net: Observations, keep: float) -> str | None:
    """Why no numeric gradient can be taken at KEEP: the loss changed between two calls with
    the same weights and the global generator reseeded; None when it did not."""
    run = fc_net.trained(keep, full=False)
    again = fc_net.trained(keep, "again", full=False)
    if _same(run.loss, again.loss):
        return None
    return (f"loss(X, y) gave {run.loss:.10g} and then {again.loss:.10g} with the same "
            "weights, so no numeric gradient can be taken; the masks must come from the seed")


def _gradient_problems(fc_net: Observations, keep: float) -> list[str]:
    """What disagrees between the analytic gradient at KEEP and the numeric one on the sampled
    coordinates, per parameter (see _unrepeatable first). A disagreement on a ReLU's kink (the
    loss's slopes on the two sides differ, and the analytic value is one of them) is the
    numeric side's, not counted."""
    run = fc_net.trained(keep, full=False)
    losses = fc_net.numeric(keep)
    numeric = (losses[:, 0] - losses[:, 1]) / (2 * H)
    analytic = np.array([run.grads[name].flat[i] for name, i in fc_net.coords])
    scale = np.abs(analytic) + np.abs(numeric)
    tolerance = np.maximum(1e-8, 1e-5 * scale)
    right, left = (losses[:, 0] - run.loss) / H, (run.loss - losses[:, 1]) / H
    one_sided = np.maximum(1e-7, 1e-4 * scale)
    kink = ((np.abs(right - left) > 10 * one_sided)
            & (np.minimum(np.abs(analytic - right), np.abs(analytic - left)) <= one_sided))
    wrong = (~(np.abs(analytic - numeric) <= tolerance) & ~kink) | ~np.isfinite(analytic)
    problems = {}
    names = np.array([name for name, _ in fc_net.coords])
    for name in dict.fromkeys(names):
        mine = names == name
        if not np.any(wrong & mine):
            continue
        worst = int(np.argmax(np.where(wrong & mine, np.abs(analytic - numeric), -1)))
        problems[str(name)] = (
            f"{name}: {int(np.sum(wrong & mine))} of {int(np.sum(mine))} sampled entries "
            f"differ (largest: analytic {analytic[worst]:.3e}, numeric {numeric[worst]:.3e})")
    return problems


def _outside(fc_net: Observations) -> tuple[dict[str, str], bool]:
    """What fails without dropout, by parameter: it lies outside dropout (the
    FullyConnectedNets notebook's layers, or the net's precision), and no dropout check holds
    it against the student; and whether the net has no backward pass at all (every gradient
    zero or not finite), which is not excused. Empty when the net does not run."""
    try:
        plain = fc_net.trained(KEEPS[0], full=False)
        why = _unrepeatable(fc_net, KEEPS[0])
        outside = dict.fromkeys(SHAPES, why) if why else _gradient_problems(fc_net, KEEPS[0])
    except StudentError:
        return {}, False
    absent = bool(outside) and not any(np.any(np.isfinite(g) & (g != 0))
                                       for g in plain.grads.values())
    return outside, absent


def _where(fc_net: Observations) -> str:
    """Where a gradient that fails without dropout goes wrong, as far as the grader can tell."""
    coarse = fc_net.coarse()
    if coarse is None:
        return "in the affine, ReLU or softmax layers (the FullyConnectedNets notebook)"
    return (f"in its precision: its parameters or gradients come back as {coarse}, though the "
            "net was built with dtype=np.float64 (it must keep and compute them in that "
            "dtype), and no numeric gradient with h = 1e-5 checks in less")


def check_net_gradient(fc_net, net_layer, verdict):
    # what fails without dropout is left out of the dropout settings' judgment
    outside, absent = _outside(fc_net)
    judged = [name for name in SHAPES if name not in outside]
    if outside and not absent:
        then = (f"with dropout only {', '.join(judged)} were judged" if judged else
                "the dropout settings were not judged and cost nothing here")
        verdict.note(f"without dropout ({fc_net.label(KEEPS[0])}) the gradient already fails: "
                     + "; ".join(dict.fromkeys(outside.values()))
                     + f". The problem lies outside dropout, {_where(fc_net)}, so {then}.")
    expected = "equal within max(1e-8, 1e-5 (|analytic| + |numeric|)) per entry"
    for keep, name in _settings(fc_net):
        with verdict.case(name) as case:
            _applied(fc_net, keep)
            if absent:
                case.fail("loss(X, y) returns no gradient but zeros (or NaN) for every "
                          "parameter: there is no backward pass to check",
                          "the gradients of the loss")
            elif not judged:
                case.skip("every parameter's gradient already fails without dropout (see the "
                          "note below)")
            elif why := _unrepeatable(fc_net, keep):
                case.fail(why, "the same loss: then the numeric gradient can be taken")
            elif problems := [problem for param, problem in
                              _gradient_problems(fc_net, keep).items() if param in judged]:
                # "right without dropout, wrong with it" only where it was all right without
                _blame(case, "analytic and numeric gradients differ: " + "; ".join(problems),
                       expected, net_layer["backward"],
                       "dropout_backward gives a wrong dx",
                       None if outside else "net_backward_dropout")


def _outside_reading(fc_net: Observations, case: Case, verdict: Verdict, needs: tuple[str, ...],
                     what: str) -> bool:
    """Whether a reading of WHAT that failed is explained by the gradients it reads (NEEDS)
    already failing without dropout: then CASE is not judged, and the feedback says so."""
    outside, absent = _outside(fc_net)
    failing = [name for name in needs if name in outside]
    if not failing or absent:
        return False
    case.skip(f"the gradient of {', '.join(failing)} already fails without dropout (see the "
              "note below)")
    verdict.note(f"{what} is read from the gradients of {', '.join(needs)}, and without "
                 f"dropout the gradient of {', '.join(failing)} already fails: the problem lies "
                 f"outside dropout, {_where(fc_net)}, so it was not judged and costs nothing "
                 "here")
    return True


def check_net_train_dropout(fc_net, net_layer, verdict):
    for keep, name in _settings(fc_net):
        with verdict.case(name) as case:
            run = fc_net.trained(keep, full=False)
            plain = fc_net.trained(KEEPS[0], full=False)
            if not _same(run.loss, plain.loss):
                continue
            _blame(case, f"loss(X, y) was {run.loss:.10g}, as without dropout",
                   "a different loss: dropout zeroes units in training",
                   net_layer["drops"],
                   "dropout_forward drops no unit in training", "net_dropout_unused")


@dataclass(frozen=True)
class _Reading:
    """What the wide net's gradients show on its one example: its parameters and gradients,
    which units of each hidden layer were kept (a kept unit's row of the next layer's weight
    gradient is not zero: dW2 = dropout(relu(x W1 + b1))^T dout2), and per layer the fraction
    of its active units (ReLU on) that were kept, and how many were active."""

    found: dict[str, np.ndarray]
    rows: tuple[np.ndarray, np.ndarray]
    kept: dict[str, tuple[float, int]]

    @property
    def fraction(self) -> tuple[float, int]:
        """The kept fraction over both layers, and the active units counted."""
        total = sum(n for _, n in self.kept.values())
        return sum(f * n for f, n in self.kept.values()) / total, total


def _read(fc_net: Observations) -> _Reading:
    found = fc_net.probe()
    relu1 = np.maximum(fc_net.probe_x @ found["W1"] + found["b1"], 0)[0]
    rows1 = np.any(found["dW2"] != 0, axis=1)
    pre2 = (relu1 * rows1 / PROBE_KEEP) @ found["W2"] + found["b2"]
    margin = 1e-9 * ((relu1 / PROBE_KEEP) @ np.abs(found["W2"]) + np.abs(found["b2"]))
    rows2 = np.any(found["dW3"] != 0, axis=1)
    kept = {}
    for layer, (active, inactive, rows) in {
            "hidden layer 1": (relu1 > 0, relu1 <= 0, rows1),
            "hidden layer 2": (pre2 > margin, pre2 < -margin, rows2)}.items():
        if np.any(rows & inactive) or not np.any(active):
            raise StudentError(f"{layer}: which units dropout kept cannot be read. With "
                               "affine - ReLU - dropout layers and reg=0, the next layer's "
                               "weight gradient has a non-zero row exactly for each unit that "
                               "is active and kept; this net's does not")
        kept[layer] = (float(np.mean(rows[active])), int(np.sum(active)))
    return _Reading(found, (rows1, rows2), kept)


def _read_unless_outside(fc_net: Observations, case: Case, verdict: Verdict) -> _Reading | None:
    """The wide net's reading; None (CASE not judged, and said) when it cannot be read because
    the gradients it reads already fail without dropout; a StudentError otherwise."""
    try:
        return _read(fc_net)
    except StudentError:
        if _outside_reading(fc_net, case, verdict, ("W2", "W3"), "which units were kept"):
            return None
        raise


def _dW3(reading: _Reading, x: np.ndarray, y: int, scale: float) -> np.ndarray:
    """dW3 of the wide net's loss on its one example, were each hidden layer affine - ReLU -
    dropout (the units kept as observed, multiplied by SCALE; a layer that kept every unit
    has no dropout to scale, which net_keep_ratio judges) and the scores affine."""
    found, (rows1, rows2) = reading.found, reading.rows
    scale1, scale2 = (1.0 if fraction == 1 else scale for fraction, _ in reading.kept.values())
    hidden1 = np.maximum(x @ found["W1"] + found["b1"], 0)[0] * rows1 * scale1
    hidden2 = np.maximum(hidden1 @ found["W2"] + found["b2"], 0) * rows2 * scale2
    scores = hidden2 @ found["W3"] + found["b3"]
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    probs[y] -= 1
    return np.outer(hidden2, probs)


def check_net_keep_ratio(fc_net, net_layer, convention, verdict):
    with verdict.case(_wide(fc_net)) as case:
        _applied(fc_net, PROBE_KEEP)
        if (reading := _read_unless_outside(fc_net, case, verdict)) is None:
            return
        merged, total = reading.fraction
        other = "net_drop_as_keep" if fc_net.era.meaning == "drop" else "net_keep_as_drop"
        cause = None if fc_net.era.guessed else explain(  # a guessed reading names nothing
            {PROBE_KEEP: (merged, None)}, {other: Prediction(lambda q: 1 - q, None)},
            lambda q: kept_tolerance(q, total), lambda q: 0.0)
        wrong = [f"{layer} kept {fraction:.0%} of its {n} active units"
                 for layer, (fraction, n) in reading.kept.items()
                 if abs(fraction - PROBE_KEEP) > kept_tolerance(PROBE_KEEP, n)]
        if wrong:
            layer_keeps = _both(net_layer["keeps"], net_layer["drops"])
            _blame(case, "; ".join(wrong), f"about {PROBE_KEEP:.0%} in each: "
                   f"{fc_net.era.describe()}", layer_keeps,
                   f"dropout_forward does not keep {PROBE_KEEP:.0%} of the units at "
                   f"p = {convention.p(PROBE_KEEP):g}", cause)


def check_net_inverted(fc_net, net_layer, verdict):
    with verdict.case(_wide(fc_net)) as case:
        _applied(fc_net, PROBE_KEEP)
        if (reading := _read_unless_outside(fc_net, case, verdict)) is None:
            return
        # judged at the rate the units were kept (which net_keep_ratio judges): 0.75, or 0.25
        # where the keyword was read the other way round
        merged, _ = reading.fraction
        keep = min((PROBE_KEEP, 1 - PROBE_KEEP), key=lambda q: abs(merged - q))
        observed, x, y = reading.found["dW3"], fc_net.probe_x, int(fc_net.probe_y[0])
        # as close as the net's own precision allows (a net that ignores dtype=np.float64)
        precision = 100 * max(np.finfo(np.result_type(v.dtype, np.float16)).eps
                              for v in reading.found.values())
        tolerance = max(1e-6, precision)

        def fits(scale: float) -> bool:
            return bool(np.allclose(_dW3(reading, x, y, scale), observed, rtol=tolerance,
                                    atol=tolerance * np.max(np.abs(observed))))

        if fits(1 / keep) or _outside_reading(fc_net, case, verdict, ("W3", "b3"),
                                              "how the kept units are scaled"):
            return
        scaled = next((how for how, scale in (("multiplied by nothing", 1.0),
                                              (f"divided by {keep:g} twice", keep ** -2))
                       if fits(scale)), None)
        _blame(case, f"dW3 is that of kept units {scaled}" if scaled else
               "dW3 is not that of such a net: something else happens between the last "
               "dropout and the scores (dropout or ReLU on the scores?), or the kept units "
               "are scaled otherwise",
               f"the gradient of hidden layers affine - ReLU - dropout whose kept units are "
               f"divided by {keep:g}, and affine scores",
               _both(net_layer["keeps"], net_layer["scales"]),
               "dropout_forward does not divide the units it keeps by the rate it keeps them "
               "at", "net_rescale" if scaled else None)


def _wide(fc_net: Observations) -> str:
    """The name of the case on the wide net."""
    if fc_net.era is None:
        return "FullyConnectedNet"
    return f"hidden_dims=[{PROBE_WIDTH}, {PROBE_WIDTH}], {fc_net.era.call(PROBE_KEEP)}"


def check_net_seed(fc_net, net_layer, verdict):
    for keep, name in _settings(fc_net):
        with verdict.case(name) as case:
            _applied(fc_net, keep)
            first = fc_net.trained(keep, "seeded", full=False)
            second = fc_net.trained(keep, "seeded again", full=False)
            if _same(first.loss, second.loss):
                continue
            observed = f"two calls of loss(X, y) gave {first.loss:.10g} and {second.loss:.10g}"
            expected = "the same loss: seed=123 fixes every dropout mask"
            _blame(case, observed, expected, net_layer["seeded"],
                   "dropout_forward ignores its seed", "net_seed_not_passed")


def check_net_test_time(fc_net, net_layer, verdict):
    for keep, name in _settings(fc_net):
        with verdict.case(name) as case:
            _applied(fc_net, keep)
            scores = fc_net.scores(keep, full=False)
            plain = fc_net.scores(KEEPS[0], full=False)
            again = fc_net.scores(keep, "scores again", full=False)
            if not close(scores, plain):
                observed = (f"loss(X) gave scores unlike the net's without dropout "
                            f"({differ(scores, plain)})")
                expected = "the same scores: no dropout at test time"
                _blame(case, observed, expected, net_layer["test_identity"],
                       "dropout_forward changes x in test mode", "net_dropout_at_test")
            elif not close(scores, again):
                case.fail(f"two calls of loss(X) gave different scores "
                          f"({differ(again, scores)})", "the same scores every time",
                          "net_dropout_at_test")
