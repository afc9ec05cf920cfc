"""Checks of dropout_forward. Each judges one property, so one mistake costs one check."""

from __future__ import annotations

import math

import numpy as np

from grader.checks.stats import close, differ, kept_tolerance, mean_ratio_tolerance, scaling
from grader.convention import NOTEBOOK_KEEPS, Convention
from grader.misconceptions import Prediction, explain
from grader.student import Attempt, StudentError


def _input(rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """Activations around 10 (as in the notebook): no zeros, so a zero output means dropped."""
    return (rng.standard_normal(shape) + 10).astype(dtype)


MODES = ("train", "test")


def check_forward_shape(student, verdict, rng):
    inputs = {shape: _input(rng, shape) for shape in ((1000,), (40, 50), (8, 3, 6, 6))}
    runs = student.forward_all({(shape, mode): (x, {"mode": mode, "p": 0.5, "seed": 1})
                                for shape, x in inputs.items() for mode in MODES})
    problems = {shape: _shape_problems(runs, shape, x) for shape, x in inputs.items()}
    # told by what was seen, however the code reads the shape: 2-D works, 1-D and 4-D do not
    only_2d = not problems[40, 50] and all(problems[s] for s in inputs if len(s) != 2)
    for shape, x in inputs.items():
        with verdict.case(f"{len(shape)}-D input of shape {shape}") as case:
            for problem in problems[shape]:
                if isinstance(problem, StudentError):
                    named = problem.misconception if problem.misconception != "only_2d" else None
                    case.fail(problem.message, misconception="only_2d" if only_2d else named)
                    case.status = case.status or problem.status
                else:
                    case.fail(problem, f"{x.shape}", "only_2d" if only_2d else None)


def _shape_problems(runs: dict, shape: tuple[int, ...], x: np.ndarray) -> list:
    """What went wrong with input X in each mode (a StudentError, or the wrong shape it
    returned), each told once."""
    found = []
    for mode in MODES:
        try:
            out = runs[shape, mode].get().array(0, "out")
            problem = None if out.shape == x.shape else f"{mode} mode returned shape {out.shape}"
        except StudentError as err:
            problem = err
        if problem is not None and not any(_same_problem(problem, f) for f in found):
            found.append(problem)
    return found


def _same_problem(a: object, b: object) -> bool:
    return a is b or (isinstance(a, StudentError) and isinstance(b, StudentError)
                      and a.message == b.message)


def check_forward_dtype(student, verdict, rng):
    inputs = {np.dtype(t).name: _input(rng, (60, 70), t) for t in (np.float32, np.float64)}
    runs = student.forward_all({(name, mode): (x, {"mode": mode, "p": 0.5, "seed": 1})
                                for name, x in inputs.items() for mode in MODES})
    for name, x in inputs.items():
        with verdict.case(f"{name} input") as case:
            for mode in MODES:
                out = runs[name, mode].get().array(0, "out")
                if out.dtype != x.dtype:
                    case.fail(f"{mode} mode returned {out.dtype}", name, "loses_dtype")


def check_test_mode_identity(student, verdict, rng):
    x = _input(rng, (80, 90))
    runs = student.forward_all({p: (x, {"mode": "test", "p": p}) for p in (0.25, 0.7)})
    for p, run in runs.items():
        with verdict.case(f"test mode, p = {p}") as case:
            out = run.get().array(0, "out")
            if out.shape != x.shape or close(out, x):
                continue  # a wrong shape is forward_shape's to judge
            dropped = float(np.mean(out == 0))
            if dropped > 0:
                case.fail(f"{dropped:.0%} of the outputs were zero", "x unchanged",
                          "mask_at_test")
            elif factor := scaling(out, x, p):
                case.fail(f"the output was x × {factor}", "x unchanged", "scales_at_test")
            else:
                case.fail(f"the output was not x: {differ(out, x)}", "x unchanged")


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _predictions(convention: Convention) -> dict[str, Prediction]:
    """The mistakes of the notebook's runs, by keep probability q: which fraction is kept
    (q, 1 - q, the normal draw's, all, none) with how the kept units are scaled (1/q,
    1/(1 - q), not at all), each pair that is a mistake by its name."""
    if convention.name == "keep":  # randn(...) < p
        normal = _phi
    else:  # randn(...) >= p, p = 1 - q
        def normal(q: float) -> float:
            return 1 - _phi(1 - q)
    return {
        convention.other_reading: Prediction(lambda q: 1 - q, lambda q: 1.0),
        convention.other_vanilla: Prediction(lambda q: 1 - q, lambda q: 1 - q),
        "wrong_comparison": Prediction(lambda q: 1 - q, lambda q: (1 - q) / q),
        "no_rescale": Prediction(lambda q: q, lambda q: q),
        convention.other_scale: Prediction(lambda q: q, lambda q: q / (1 - q)),
        "normal_draw": Prediction(normal, lambda q: normal(q) / q),
        "normal_no_rescale": Prediction(normal, normal),
        "drops_nothing": Prediction(lambda q: 1.0, None),
        "drops_everything": Prediction(lambda q: 0.0, lambda q: 0.0),
    }


def _cause(runs: dict[float, Attempt], x: np.ndarray, convention: Convention,
           shared: bool = False) -> str | None:
    """The one mistake that explains the kept fraction and the mean of every notebook run,
    or None. With a mask SHARED by the batch, the draws are a row's (x.shape[1] of them),
    and the tolerances widen to match."""
    units = x.shape[1] if shared else x.size
    wider = math.sqrt(x.size / units)
    observed, mean_x = {}, float(np.mean(x))
    for keep, run in runs.items():
        try:
            out = run.get().array(0, "out")
        except StudentError:
            continue
        if out.shape == x.shape:
            observed[keep] = (np.count_nonzero(out) / out.size, float(np.mean(out)) / mean_x)
    return explain(observed, _predictions(convention),
                   lambda kept: max(kept_tolerance(kept, units), 1e-3),
                   lambda keep: max(3 * wider * mean_ratio_tolerance(x, keep), 0.05))


SHARED = "each unit kept on a draw of its own"


def check_keep_probability(student, verdict, notebook_runs, notebook_x, convention,
                           shared_mask):
    cause = _cause(notebook_runs, notebook_x, convention, shared_mask)
    for keep in NOTEBOOK_KEEPS:
        with verdict.case(f"p = {convention.p(keep)}") as case:
            out = notebook_runs[keep].get().array(0, "out")
            if out.shape != notebook_x.shape:
                case.fail(f"returned shape {out.shape} for input of shape {notebook_x.shape}")
                continue
            kept = np.count_nonzero(out) / out.size
            # a mask shared by the batch draws one row: its fraction is judged over a row
            tol = kept_tolerance(keep, out.shape[1] if shared_mask else out.size)
            if abs(kept - keep) > tol:
                case.fail(f"kept {kept:.1%} of the units", f"{keep:.0%} (± {tol:.1%})", cause)
            if shared_mask:  # not units kept on draws of their own, whatever the fraction
                case.fail(f"all {len(out)} rows dropped the same units", SHARED,
                          "batch_shared_mask")


def check_mean_preserved(student, verdict, notebook_runs, notebook_x, convention, no_dropout,
                         shared_mask):
    if no_dropout:  # nothing scaled: a mean kept by changing nothing shows nothing
        return verdict.not_exercised(no_dropout)
    cause = _cause(notebook_runs, notebook_x, convention, shared_mask)
    mean_x = float(np.mean(notebook_x))
    for keep in NOTEBOOK_KEEPS:
        with verdict.case(f"p = {convention.p(keep)}") as case:
            out = notebook_runs[keep].get().array(0, "out")
            if shared_mask:  # one row's draw moves the mean: the scaling keeps it in expectation
                kept = out != 0
                if not close(out[kept], notebook_x[kept] / keep):
                    case.fail("the kept units were not divided by the keep probability "
                              f"({differ(out[kept], notebook_x[kept] / keep)})",
                              f"each kept unit divided by {keep:g}", cause)
                continue
            ratio = float(np.mean(out)) / mean_x
            tol = mean_ratio_tolerance(notebook_x, keep)
            if not abs(ratio - 1) <= tol:  # also catches NaN
                case.fail(f"the train-mode mean was {ratio:.3f} × the input's mean "
                          f"({np.mean(out):.3f} against {mean_x:.3f})",
                          f"1.000 × (± {tol:.3f})", cause)


def check_input_untouched(student, verdict, rng):
    x = _input(rng, (60, 70))
    runs = student.forward_all({mode: (x, {"mode": mode, "p": 0.5, "seed": 1}) for mode in MODES},
                               inputs_after=True)
    for mode, run in runs.items():
        with verdict.case(f"{mode} mode") as case:
            run.get().array(0, "out")  # a call that gives no output did nothing to judge
            after = run.get().args_after[0]
            if not isinstance(after, np.ndarray):
                case.fail(f"x could not be read back after the call: {after}")
            elif not np.array_equal(after, x):
                case.fail(f"x was changed by the call: {differ(after, x)}",
                          "x as it was", "modifies_input")


def check_seeded_determinism(student, verdict, rng, no_dropout):
    if no_dropout:  # no mask at random: nothing for a seed to reproduce
        return verdict.not_exercised(no_dropout)
    x = _input(rng, (100, 100))
    runs = student.forward_all({name: (x, {"mode": "train", "p": 0.5, "seed": seed})
                                for name, seed in (("first", 123), ("again", 123),
                                                   ("other", 231))})
    with verdict.case("the same seed twice gives the same output") as case:
        a, b = runs["first"].get().array(0, "out"), runs["again"].get().array(0, "out")
        if not np.array_equal(a, b, equal_nan=True):
            case.fail(f"two calls with seed 123 disagree: {differ(b, a)}", "identical outputs",
                      "ignores_seed")
    with verdict.case("different seeds give different masks") as case:
        kept_a = runs["first"].get().array(0, "out") != 0
        kept_c = runs["other"].get().array(0, "out") != 0
        if kept_a.all() or not kept_a.any():
            case.skip(f"seed 123 {'kept every unit' if kept_a.all() else 'dropped every unit'}"
                      ", so there is no mask to compare (see keep_probability)")
        elif np.array_equal(kept_a, kept_c):
            case.fail("seeds 123 and 231 gave the same mask", "different masks",
                      "constant_seed")
