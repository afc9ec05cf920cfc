"""Checks of dropout_backward."""

from __future__ import annotations

import numpy as np

from grader.checks.stats import close, rel_error, scaling
from grader.convention import GRADIENT_KEEP

H = 1e-5
MAX_REL_ERROR = 1e-8


def _numeric_gradient(student, x: np.ndarray, dout: np.ndarray, param: dict):
    """The notebook's eval_numerical_gradient_array, with every forward call in one round
    trip: grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2h). Also returns f(x) from
    the same batch, to tell whether the forward pass honours the seed."""
    shifts = [(0, 0.0)] + [(i, sign * H) for i in range(x.size) for sign in (1, -1)]
    outs = student.forward_shifted(x, param, shifts)
    shifted = outs[1:].reshape(x.size, 2, x.size)  # [element, +h / -h, output]
    grad = np.sum((shifted[:, 0] - shifted[:, 1]) * dout.ravel(), axis=1) / (2 * H)
    return grad.reshape(x.shape), outs[0]


def check_backward_gradient(student, verdict, rng, convention, no_dropout):
    if no_dropout:  # no mask to pass the gradient through: dx = dout would be trivially right
        return verdict.not_exercised(no_dropout)
    notebook = np.random.RandomState(231)
    nb_x = notebook.randn(10, 10) + 10
    nb_p, p = convention.p(GRADIENT_KEEP), convention.p(0.6)
    cases = [
        (f"the notebook's case: randn(10, 10) + 10, p = {nb_p}, seed 123",
         nb_x, notebook.randn(*nb_x.shape), {"mode": "train", "p": nb_p, "seed": 123},
         GRADIENT_KEEP),
        (f"randn(3, 5) + 10, p = {p}, seed 42", rng.standard_normal((3, 5)) + 10,
         rng.standard_normal((3, 5)), {"mode": "train", "p": p, "seed": 42}, 0.6),
    ]
    forwards = student.forward_all({name: (x, param) for name, x, _, param, _ in cases})
    handles = {name: run.call.handle for name, run in forwards.items() if run.call is not None}
    backwards = student.backward_all({name: (dout, handles.get(name))
                                      for name, _, dout, _, _ in cases})
    for name, x, dout, param, keep in cases:
        with verdict.case(name) as case:
            out = forwards[name].get().array(0, "out")
            dx = backwards[name].get().array(None, "dx")
            if dx.shape != x.shape or out.shape != x.shape:
                case.fail(f"dx has shape {dx.shape}", f"{x.shape}, the shape of x")
                continue
            numeric, repeat = _numeric_gradient(student, x, dout, param)
            if np.array_equal(repeat, out):
                expected, against = numeric, "the numeric gradient"
            else:
                # The forward pass ignores the seed, so the numeric gradient is noise; judge dx
                # against the mask this very forward call used instead.
                expected, against = dout * out / x, "dout × (the mask your forward call used)"
            error = rel_error(dx, expected)
            if not error < MAX_REL_ERROR:
                cause = "backward_no_scale" if close(dx, expected * keep) else None
                case.fail(f"relative error {error:.1e} against {against}",
                          f"below {MAX_REL_ERROR:.0e}", cause)


def check_backward_test_mode(student, verdict, rng):
    x, dout = rng.standard_normal((30, 40)) + 10, rng.standard_normal((30, 40))
    # Judged on the cache the student's own test-mode forward returned, whatever its layout
    # (the starter's (dropout_param, None), a dict, the mask alone...); a forward that gives
    # none leaves nothing to judge, so the starter's ready-made `dx = dout` earns nothing.
    forwards = student.forward_all({p: (x, {"mode": "test", "p": p}) for p in (0.25, 0.7)})
    handles = {p: run.call.handle for p, run in forwards.items() if run.call is not None}
    runs = student.backward_all({p: (dout, handles.get(p)) for p in forwards})
    for p, run in runs.items():
        with verdict.case(f"test mode, p = {p}") as case:
            forwards[p].get().array(0, "out")  # no output: the forward's failure is the cause
            dx = run.get().array(None, "dx")
            if close(dx, dout):
                continue
            if factor := scaling(dx, dout, p):
                case.fail(f"dx was dout × {factor}", "dx = dout", "backward_scales_in_test")
            else:
                case.fail("dx was not dout", "dx = dout")
