"""The Dropout notebook's second half, run on the submission's own ``FullyConnectedNet``: which
dropout keyword its constructor takes (and so which years' notebook it follows), the plan the
child runs, and what came back, checked for shape and kind. Judging is the checks' own
(``grader/checks/check_fc_net.py``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from grader.student import Foreign, Student, StudentError

N, D, H1, H2, C = 2, 15, 20, 30, 10  # the notebook's net
WEIGHT_SCALE = 5e-2
SEED = 123  # the notebook's FullyConnectedNet(..., seed=123)
BUILD_SEED = 231  # the global seed before each constructor: every net gets the same weights
RESEED = 0  # the global seed before each loss of the gradient check
# the global seeds before the seed check's two losses: different, so that any mask the seed
# does not fix (a layer it never reaches) differs between them
SEED_CHECK = (1, 2)
H = 1e-5  # the notebook's step for the numeric gradient
SAMPLED = 10  # coordinates per parameter in the numeric gradient (as grad_check_sparse)
PROBE_WIDTH = 500  # hidden units per layer of the net whose dropped units are counted
PROBE_KEEP = 0.75
KEEPS = (1.0, 0.75, 0.5)  # the notebook's settings as keep ratios; 1 is no dropout
SHAPES = {"W1": (D, H1), "b1": (H1,), "W2": (H1, H2), "b2": (H2,), "W3": (H2, C), "b3": (C,)}
PROBE_PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")
NOTEBOOK = "the Dropout notebook's net: FullyConnectedNet([20, 30], input_dim=15, num_classes=10)"


@dataclass(frozen=True)
class Era:
    """The dropout keyword of the student's constructor, and what it means: the submission's
    one meaning of p (``dropout_keep_ratio`` says keep by its name)."""

    keyword: str
    meaning: str  # "keep" or "drop"
    years: str
    guessed: bool = False  # the constructor's own default does not show this meaning

    def setting(self, keep: float) -> float:
        """The keyword's value that keeps units with probability KEEP."""
        return keep if self.meaning == "keep" else round(1 - keep, 10)

    def call(self, keep: float) -> str:
        return f"{self.keyword}={self.setting(keep):g}"

    def describe(self) -> str:
        how = ("the keep probability" if self.meaning == "keep"
               else "the probability of dropping a unit")
        if not self.guessed:
            return f"{self.keyword}= is {how} ({self.years})"
        return (f"{self.keyword}= was read as {how}, the meaning of p this submission is "
                f"graded with, which the constructor's default does not show ({self.years})")


def era(signature: dict, convention: str) -> Era | None:
    """The era of a constructor SIGNATURE (``fcnet.signature``'s dict): 2020 onwards takes
    ``dropout_keep_ratio=1``, 2018-2019 ``dropout=1`` (keep), 2016-2017 ``dropout=0`` (drop).
    ``dropout=`` means what p means in this submission (CONVENTION), whatever its default: one
    meaning of p for the layer and the net. A constructor that takes any keyword (``**kwargs``,
    or a decorator's wrapper) is given the CONVENTION's keyword; None when it takes no dropout
    keyword."""
    parameters = _parameters(signature)
    defaults = {name: default for name, _, default in parameters}
    if "dropout_keep_ratio" in defaults:
        return Era("dropout_keep_ratio", "keep", "2020 onwards")
    if "dropout" in defaults:
        default = defaults["dropout"]
        says = ({0: "drop", 1: "keep"}.get(default) if type(default) in (int, float)
                else None)
        if says == convention:
            return Era("dropout", convention, "2016-2017" if says == "drop" else "2018-2019")
        shown = ("its default tells neither" if says is None else
                 f"its default {default:g} is the {'2016-2017' if says == 'drop' else '2018-2019'}"
                 " starter's")
        return Era("dropout", convention, shown, guessed=True)
    if any(kind == "VAR_KEYWORD" for _, kind, _ in parameters):
        if convention == "keep":
            return Era("dropout_keep_ratio", "keep", "it takes any keyword", guessed=True)
        return Era("dropout", "drop", "it takes any keyword", guessed=True)
    return None


def takes(signature: dict, name: str) -> bool:
    """Whether the constructor takes a keyword NAME: a parameter of that name, or any keyword
    (``**kwargs``)."""
    return any(found == name or kind == "VAR_KEYWORD"
               for found, kind, _ in _parameters(signature))


def _parameters(signature: dict) -> list[tuple[str, str, object]]:
    """(name, kind, default or None) of each well-formed parameter the child described."""
    parameters = signature.get("parameters")
    return [(p[0], str(p[1]), p[3] if p[2] else None)
            for p in (parameters if isinstance(parameters, list) else [])
            if isinstance(p, list) and len(p) == 4 and isinstance(p[0], str)]


@dataclass(frozen=True)
class Trained:
    """``loss(X, y)`` of a net that runs: the loss, and a gradient for every parameter."""

    loss: float
    grads: dict[str, np.ndarray]
    coarse: str | None = None  # the gradients' dtype when it is not float64, as asked


def _constructor(era: Era, keep: float, hidden: int | None = None) -> str:
    """The constructor call, as feedback shows it."""
    dims = f"[{hidden}, {hidden}]" if hidden else f"[{H1}, {H2}]"
    return (f"FullyConnectedNet({dims}, input_dim={D}, num_classes={C}, "
            f"weight_scale={WEIGHT_SCALE:g}, dtype=np.float64, {era.call(keep)}, seed={SEED})")


@dataclass
class Observations:
    """What the child sent back for one submission's net, step by step (by name); a failure of
    the whole net (no import, no class, no dropout keyword) is ``failure``, told in full by
    the first check and in short by the others."""

    failure: StudentError | None = None
    era: Era | None = None
    stand_ins: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, dict | StudentError] = field(default_factory=dict)
    coords: list[tuple[str, int]] = field(default_factory=list)
    probe_x: np.ndarray | None = None  # the wide net's one example, and its label
    probe_y: np.ndarray | None = None
    course_layer: bool = False  # the course's dropout layer stood in for the student's

    def calls_course_layer(self) -> bool:
        """Whether, with the course's layer in place, the net called it while training with
        dropout (False where it never did: the net does its dropout some other way, inline,
        through a name the grader could not replace, or not at all)."""
        return self._called("layer_calls")

    def calls_own_layer(self) -> bool:
        """Whether, with the course's layer in place, the net still called the student's own
        dropout functions while training with dropout (through a name the grader could not
        replace: a dict, a default argument, a closure)."""
        return self._called("own_calls")

    def _called(self, count: str) -> bool:
        return self.course_layer and any(
            isinstance(answer, dict) and isinstance(answer.get(count), int) and answer[count] > 0
            for step, answer in self.answers.items()
            if step in ("probe train", *(f"train {keep}" for keep in KEEPS[1:])))

    # -- what the checks ask ----------------------------------------------------------------

    def label(self, keep: float) -> str:
        """The setting as the student's constructor takes it ("dropout=0.25")."""
        if self.era is None:  # the net never got that far; the failure says why
            return f"keep ratio {keep:g}"
        return self.era.call(keep) + (" (no dropout)" if keep == 1 else "")

    def whole(self, full: bool) -> None:
        """Raise the failure of the whole net: in full, or in short ("not run")."""
        if self.failure is None:
            return
        if full:
            raise self.failure
        raise StudentError("not run: the FullyConnectedNet could not be run (see \"The net "
                           "builds and runs\" above)", status=self.failure.status)

    def trained(self, keep: float, step: str = "train", full: bool = True) -> Trained:
        """The loss and gradients of ``loss(X, y)`` at KEEP (STEP: which call); raises a
        teaching StudentError (in short unless FULL) when the net did not give them."""
        with self._told(full, f"the net does not build and run with {self.label(keep)}"):
            return self._trained(self._get(f"{step} {keep}"), keep)

    def scores(self, keep: float, step: str = "scores", full: bool = True) -> np.ndarray:
        """The scores ``loss(X)`` gave at KEEP (STEP: which call); a teaching StudentError
        (in short unless FULL) otherwise."""
        with self._told(full, f"loss(X) does not give scores with {self.label(keep)}"):
            scores = self._get(f"{step} {keep}").get("scores")
            if not _real(scores):
                raise StudentError(f"loss(X) (no labels) returned {_shown(scores)} instead "
                                   f"of the scores, an array of shape ({N}, {C})")
            if scores.shape != (N, C) or not np.all(np.isfinite(scores)):
                raise StudentError(f"loss(X) returned scores of shape {scores.shape}"
                                   + ("" if scores.shape != (N, C) else " with NaN or inf")
                                   + f"; expected finite scores of shape ({N}, {C})")
            return scores.astype(np.float64)

    def coarse(self) -> str | None:
        """The dtype the net without dropout keeps its parameters or gradients in, when it is
        not the float64 the notebook asks for; None when all are float64."""
        answer = self.answers.get(f"params {KEEPS[0]}")
        params = _dict(answer.get("params")) if isinstance(answer, dict) else {}
        found = {str(v.dtype) for v in params.values() if _real(v)}
        try:
            found.add(self.trained(KEEPS[0]).coarse or "float64")
        except StudentError:
            pass
        found.discard("float64")
        return min(found) if found else None

    def numeric(self, keep: float) -> tuple[np.ndarray, np.ndarray]:
        """The losses with each sampled coordinate moved by +h and -h: shape (coords, 2)."""
        losses = self._get(f"shifted {keep}").get("losses")
        if not (_real(losses) and losses.shape == (len(self.coords), 2)):
            raise StudentError("the losses with one parameter moved could not be taken")
        return losses.astype(np.float64)

    def probe(self) -> dict[str, np.ndarray]:
        """The wide net at PROBE_KEEP on one example: its parameters and the gradients dW2,
        dW3 of its loss(X, y)."""
        params, grads = (_dict(self._get("probe params").get("params")),
                         _dict(self._get("probe train").get("grads")))
        found = {name: params.get(name) for name in PROBE_PARAMS}
        found.update({"d" + name: grads.get(name) for name in ("W2", "W3")})
        wanted = {"W1": (D, PROBE_WIDTH), "b1": (PROBE_WIDTH,), "W2": (PROBE_WIDTH,) * 2,
                  "b2": (PROBE_WIDTH,), "W3": (PROBE_WIDTH, C), "b3": (C,),
                  "dW2": (PROBE_WIDTH,) * 2, "dW3": (PROBE_WIDTH, C)}
        for name, shape in wanted.items():
            value = found[name]
            if _real(value) and name.startswith("b") and value.size == shape[0]:
                value = found[name] = value.reshape(shape)  # a bias kept as (1, H)
            if not _real(value) or value.shape != shape:
                raise StudentError(f"the net with hidden_dims=[{PROBE_WIDTH}, {PROBE_WIDTH}] "
                                   f"gave {name} as {_shown(value)}; expected shape {shape}")
        return found  # in the dtypes the net gave: their precision bounds any comparison

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _told(self, full: bool, why: str) -> Iterator[None]:
        """The failure of the whole net, then any StudentError inside: in full with FULL (the
        check that judges building and running), else in short, as "not run: WHY"."""
        self.whole(full)
        try:
            yield
        except StudentError as err:
            if full:
                raise
            raise StudentError(f"not run: {why} (see \"The net builds and runs\")",
                               status=err.status) from None

    def _get(self, step: str) -> dict:
        answer = self.answers.get(step, StudentError("not run: the FullyConnectedNet stopped "
                                                     "before this step"))
        if isinstance(answer, StudentError):
            raise answer
        return answer

    def _trained(self, answer: dict, keep: float) -> Trained:
        if "returned" in answer:
            raise StudentError(f"loss(X, y) returned {_shown(answer['returned'])}; it should "
                               "return the pair (loss, grads)",
                               "not_implemented" if _is_none(answer["returned"]) else None)
        loss = answer.get("loss")
        if not (_real(loss) and loss.dtype.kind == "f" and loss.shape == ()
                and np.isfinite(loss)):
            shown = (f"{loss.item()!r} ({loss.dtype})" if isinstance(loss, np.ndarray)
                     and loss.shape == () else _shown(loss))
            raise StudentError(f"loss(X, y) returned {shown} as its loss; expected a "
                               "finite floating-point number")
        grads = answer.get("grads")
        if not isinstance(grads, dict):
            raise StudentError(f"loss(X, y) returned a {answer.get('grads_type')} as its grads;"
                               " expected a dict of gradients by parameter name")
        missing = [name for name in SHAPES if name not in grads]
        problems = [f"grads has no {', '.join(missing)}"] if missing else []
        for name, shape in SHAPES.items():
            grad = grads.get(name)
            if name in grads and not _real(grad):
                problems.append(f"grads[{name!r}] is {_shown(grad)}")
            elif name in grads and grad.size != int(np.prod(shape)):  # (1, H) biases: fine
                problems.append(f"grads[{name!r}] has shape {grad.shape}")
        if problems:
            raise StudentError("loss(X, y): " + "; ".join(problems) + "; expected a gradient "
                               "for each parameter of " + NOTEBOOK + ": "
                               + ", ".join(f"{n} {s}" for n, s in SHAPES.items()),
                               "not_implemented" if not grads else None)
        coarse = sorted({str(grads[k].dtype) for k in SHAPES} - {"float64"})
        return Trained(float(loss), {k: grads[k].astype(np.float64) for k in SHAPES},
                       coarse[0] if coarse else None)


def _real(value: object) -> bool:
    """An array of real numbers (what a loss, a gradient or scores must be)."""
    return isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _is_none(value: object) -> bool:
    return isinstance(value, Foreign) and value.type == "NoneType"


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return str(value)


def _data() -> tuple[np.ndarray, np.ndarray]:
    """The notebook's X and y: np.random.seed(231); X = randn(N, D); y = randint(C, size=N)."""
    notebook = np.random.RandomState(231)
    X = notebook.randn(N, D)
    return X, notebook.randint(C, size=(N,))


def _sample() -> list[tuple[str, int]]:
    """The coordinates whose numeric gradient is taken: SAMPLED per parameter, the same for
    every submission and run."""
    rng = np.random.default_rng(zlib.crc32(b"fc_net gradient"))
    return [(name, int(i)) for name, shape in SHAPES.items()
            for i in sorted(rng.choice(int(np.prod(shape)), min(SAMPLED, int(np.prod(shape))),
                                       replace=False))]


def observe(student: Student, module: str, display: str, convention: str,
            course_layer: bool = False) -> Observations:
    """Run the notebook's cell on the submission's net, never raising (a failure is kept in
    the Observations): one round trip for the signature, then one per setting and one for
    the wide net, each within the time limit of a round trip. With COURSE_LAYER, the course's
    dropout layer (p meaning what CONVENTION says) stands in for the student's."""
    found = Observations(course_layer=course_layer)
    try:
        reply = student.net(module, display, [], [], f"the import of {display}",
                            convention if course_layer else None)
        if isinstance(reply.signature, StudentError):
            raise reply.signature
        if not reply.signature.get("class"):
            raise StudentError(f"{display} defines no class FullyConnectedNet",
                               "not_implemented")
        found.era = era(reply.signature, convention)
        if found.era is None:
            raise StudentError("FullyConnectedNet's constructor takes no dropout keyword "
                               "(dropout_keep_ratio since 2020, dropout before)")
        found.coords = _sample()
        probe = np.random.default_rng(zlib.crc32(b"fc_net probe"))
        found.probe_x, found.probe_y = probe.standard_normal((1, D)), probe.integers(C, size=1)
        arrays = [*_data(), found.probe_x, found.probe_y]
        for what, steps in plan(found, takes(reply.signature, "reg")):
            calls = sum(2 * len(s["coords"]) if s["op"] == "shifted"
                        else s["op"] in ("train", "scores") for s in steps)
            reply = student.net(module, display, steps, arrays,
                                f"{what} ({calls} calls of its loss)")
            found.stand_ins = reply.stand_ins
            found.answers.update(zip((step["name"] for step in steps), reply.answers,
                                     strict=True))
    except StudentError as err:
        found.failure = err
    return found


def plan(found: Observations, takes_reg: bool) -> list[tuple[str, list[dict]]]:
    """The steps, each named, in round trips (what each one runs, its steps). Per setting:
    build (weights copied from the net without dropout); the loss twice with the global
    generator reseeded (the gradient check's base and its repeat); the losses with each
    sampled coordinate moved; the loss twice after two different global seeds (the seed's
    check); the scores twice; for the net without dropout, its parameters (their dtype).
    Then the wide net on one example, with reg=0 where the constructor takes it (a penalty's
    gradient would hide which units were dropped). The arrays are X, y, the wide net's
    example and its label, by index. The steps marked "count" are those whose calls of the
    student's layer are counted (see the child's ``fcnet.Counter``)."""
    X, y, probe_x, probe_y = range(4)
    era, trips = found.era, []

    def step(name: str, op: str, net: str, what: str, **more) -> dict:
        return {"name": name, "op": op, "net": net, "what": what, **more}

    kwargs = {"input_dim": D, "num_classes": C, "weight_scale": WEIGHT_SCALE,
              "dtype": "float64", "seed": SEED}
    names = list(SHAPES)  # the parameters and gradients asked for
    for keep in KEEPS:
        net, made = f"net {keep}", _constructor(era, keep)
        loss = f"{made}.loss(X, y)"
        trips.append((made, [
            step(f"build {keep}", "build", net, made, seed=BUILD_SEED, args=[[H1, H2]],
                 kwargs={**kwargs, era.keyword: era.setting(keep)},
                 params_from=None if keep == KEEPS[0] else f"net {KEEPS[0]}"),
            step(f"train {keep}", "train", net, loss, X=X, y=y, reseed=RESEED, names=names,
                 count=True),
            step(f"again {keep}", "train", net, loss, X=X, y=y, reseed=RESEED, names=names),
            step(f"shifted {keep}", "shifted", net, loss, X=X, y=y, reseed=RESEED, h=H,
                 coords=[list(c) for c in found.coords]),
            step(f"seeded {keep}", "train", net, loss, X=X, y=y, names=names,
                 reseed=SEED_CHECK[0]),
            step(f"seeded again {keep}", "train", net, loss, X=X, y=y, names=names,
                 reseed=SEED_CHECK[1]),
            step(f"scores {keep}", "scores", net, f"{made}.loss(X)", X=X),
            step(f"scores again {keep}", "scores", net, f"{made}.loss(X)", X=X),
            *([step(f"params {keep}", "params", net, f"{made}.params", names=names)]
              if keep == KEEPS[0] else [])]))
    made = _constructor(era, PROBE_KEEP, PROBE_WIDTH)
    probe_kwargs = {**kwargs, era.keyword: era.setting(PROBE_KEEP)}
    if takes_reg:
        probe_kwargs["reg"] = 0.0
    trips.append((made, [
        step("probe build", "build", "probe", made, seed=BUILD_SEED, args=[[PROBE_WIDTH] * 2],
             kwargs=probe_kwargs),
        step("probe params", "params", "probe", f"{made}.params", names=list(PROBE_PARAMS)),
        step("probe train", "train", "probe", f"{made}.loss(X, y)", X=probe_x, y=probe_y,
             reseed=RESEED, names=names, count=True)]))
    return trips
