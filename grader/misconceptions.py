"""The mistakes students really make, each with words that teach, and the matching of
observations against them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Misconception:
    key: str
    title: str
    advice: str


CATALOGUE = {m.key: m for m in [
    Misconception("p_as_drop", "treats p as the drop probability",
                  "p is the probability of KEEPING a unit: keep a unit when "
                  "np.random.rand(*x.shape) < p. (Reading p as the drop probability is the "
                  "2016-2017 notebooks' convention, not this course's.)"),
    Misconception("p_as_keep", "treats p as the keep probability",
                  "In this course (the 2016-2017 convention) p is the probability of DROPPING "
                  "a unit: keep a unit when np.random.rand(*x.shape) >= p and divide the kept "
                  "units by 1 - p."),
    Misconception("wrong_comparison", "compares the wrong way round",
                  "The mask keeps about 1 - p of the units (`rand > p`, "
                  "`binomial(1, 1 - p, ...)`: a unit dropped with probability p), yet the kept "
                  "ones are divided by p. p is the probability of KEEPING a unit: keep it when "
                  "rand < p, then divide by p."),
    Misconception("vanilla_p_as_drop",
                  "keeps 1 - p of the units (p read as the drop probability) and does not "
                  "divide them: vanilla dropout",
                  "Two things to fix. The mask keeps about 1 - p of the units (`rand > p`, "
                  "`binomial(1, 1 - p, ...)`, `choice(2, p=[p, 1 - p])`): p is the probability "
                  "of KEEPING a unit, so keep it when rand < p. And the kept units are not "
                  "divided: inverted dropout divides them by p in training, so that the "
                  "expected output equals the input and nothing is scaled at test time."),
    Misconception("vanilla_p_as_keep",
                  "keeps p of the units (p read as the keep probability) and does not divide "
                  "them: vanilla dropout",
                  "Two things to fix. In this course (the 2016-2017 convention) p is the "
                  "probability of DROPPING a unit: keep it when rand >= p. And the kept units "
                  "are not divided: inverted dropout divides them by 1 - p in training."),
    Misconception("divides_by_drop", "keeps p of the units but divides them by 1 - p",
                  "The mask keeps the right units (rand < p), but inverted dropout divides the "
                  "kept ones by the keep probability p, not by 1 - p."),
    Misconception("divides_by_keep", "keeps 1 - p of the units but divides them by p",
                  "The mask keeps the right units (rand >= p), but with p the probability of "
                  "dropping a unit, inverted dropout divides the kept ones by 1 - p, not by p."),
    Misconception("normal_no_rescale",
                  "draws the mask from a normal distribution and does not divide",
                  "Two things to fix. np.random.randn draws from a normal distribution, so "
                  "`randn(*x.shape) < p` keeps Φ(p) of the units, not p: draw uniform numbers "
                  "(np.random.rand). And divide the kept units by the keep probability, so that "
                  "the expected output equals the input."),
    Misconception("batch_shared_mask", "shares one mask across the batch",
                  "The mask has one row (`rand(1, D)`, `ones((1, D))`) and broadcasting gives "
                  "every example the same units to drop. Each unit of each example is kept on "
                  "its own draw: np.random.rand(*x.shape) < p."),
    Misconception("no_rescale", "forgets to divide by the keep probability",
                  "This is vanilla dropout: the expected output shrinks to the keep probability "
                  "times the input. Inverted dropout divides the kept units by the keep "
                  "probability (p; 1 - p where p is the drop probability) during training so "
                  "that nothing needs scaling at test time (Inline Question 1 asks why)."),
    Misconception("normal_draw", "draws the mask from a normal distribution",
                  "np.random.randn draws from a normal distribution, so `randn(*x.shape) < p` "
                  "keeps Φ(p) of the units (60 % at p = 0.25, 76 % at p = 0.7), not p. Draw "
                  "uniform numbers: np.random.rand(*x.shape) < p."),
    Misconception("drops_nothing", "drops no unit at all",
                  "The mask keeps every unit. Check the comparison that builds it: "
                  "np.random.rand(*x.shape) < p."),
    Misconception("drops_everything", "drops every unit",
                  "The mask keeps nothing. Check the comparison that builds it: "
                  "np.random.rand(*x.shape) < p."),
    Misconception("scales_at_test", "scales the output at test time",
                  "With inverted dropout the scaling happens during training only; in test "
                  "mode return x unchanged."),
    Misconception("mask_at_test", "applies a random mask at test time",
                  "Dropout is switched off at test time: in test mode return x unchanged."),
    Misconception("loses_dtype", "loses the input's dtype",
                  "np.random.rand returns float64, so float32 activations come back float64. "
                  "Keep the starter's line `out = out.astype(x.dtype, copy=False)`."),
    Misconception("modifies_input", "modifies x in place",
                  "An in-place operation such as `x *= mask` changes the caller's array. "
                  "Build a new array: `out = x * mask`."),
    Misconception("ignores_seed", "ignores the seed",
                  "When dropout_param has a 'seed', call np.random.seed(dropout_param['seed']) "
                  "before drawing the mask; the gradient check depends on it."),
    Misconception("falsy_seed", "skips a seed of 0",
                  "`if dropout_param.get('seed'):` is false for seed 0. Test for the key: "
                  "`if 'seed' in dropout_param:`."),
    Misconception("constant_seed", "seeds with a constant",
                  "Different seeds must give different masks: seed with dropout_param['seed'], "
                  "not a fixed number."),
    Misconception("backward_no_scale", "backward forgets the 1/p",
                  "The forward pass divides the kept units by p, so the gradient must too: "
                  "dx = dout * mask / p when the mask holds booleans (or dout * mask when the "
                  "stored mask already holds 1/p)."),
    Misconception("backward_mask_in_test", "uses the mask in test mode",
                  "In test mode the mask is None and the layer is the identity: dx = dout."),
    Misconception("backward_scales_in_test", "scales the gradient in test mode",
                  "In test mode the layer is the identity, so dx = dout."),
    Misconception("only_2d", "works only for 2-D input",
                  "The code reads x's shape as (N, D) (`N, D = x.shape`, `x.shape[1]`, "
                  "`rand(x.shape[0], x.shape[1])`, a (1, D) mask): 2-D input works, 1-D and "
                  "4-D (what conv layers give) do not. Use np.random.rand(*x.shape) so any "
                  "shape works."),
    Misconception("net_dropout_unused", "the net never applies dropout in training",
                  "With y given, FullyConnectedNet.loss is training: it must call "
                  "dropout_forward(out, self.dropout_param), with self.dropout_param['mode'] "
                  "= 'train', after the ReLU of every hidden layer when self.use_dropout, and "
                  "dropout_backward with that layer's cache in the backward pass."),
    Misconception("net_dropout_at_test", "the net changes its activations at test time",
                  "loss(X) without y is test time, and dropout must then leave the "
                  "activations alone: set self.dropout_param['mode'] = 'test' (the starter's "
                  "`mode = 'test' if y is None else 'train'`) and pass that dict to every "
                  "dropout layer, and scale nothing in the net at test time (inverted dropout "
                  "scales during training only)."),
    Misconception("net_seed_not_passed", "the net does not pass the seed to its dropout layers",
                  "FullyConnectedNet(..., seed=123) must reach every dropout layer: store "
                  "self.dropout_param['seed'] = seed and pass self.dropout_param to each "
                  "dropout_forward call. Without it the masks, and so the loss, change from "
                  "call to call, and the notebook's gradient check cannot work."),
    Misconception("net_backward_dropout", "the net's backward pass mishandles dropout",
                  "The gradient checks without dropout but not with it. In the backward pass, "
                  "call dropout_backward with each dropout layer's own cache just before that "
                  "layer's ReLU backward, in the reverse order of the forward pass: skipping it "
                  "lets gradient flow through units the forward pass dropped."),
    Misconception("net_rescale", "the net scales the kept units wrongly",
                  "Inverted dropout divides each kept unit by the keep probability once, in "
                  "dropout_forward: the net itself must neither divide again nor multiply by "
                  "it, so that nothing needs scaling at test time."),
    Misconception("net_drop_as_keep", "reads the drop probability dropout= as a keep ratio",
                  "In the 2016-2017 notebooks FullyConnectedNet(dropout=0.25) drops a quarter "
                  "of the units: dropout is the probability of DROPPING one, as the layer's p "
                  "is, and 0 means no dropout: pass it to the dropout layers as p unchanged."),
    Misconception("net_keep_as_drop", "treats the net's keep ratio as a drop probability",
                  "dropout_keep_ratio (dropout in 2018-2019) is the probability of KEEPING a "
                  "unit, as the layer's p is, and 1 means no dropout: pass it to the dropout "
                  "layers as p unchanged."),
    Misconception("out_left_none", "leaves out as None",
                  "A branch of dropout_forward never assigns out (its TODO block is empty, or "
                  "it assigns another name), so the starter's line "
                  "`out = out.astype(x.dtype, copy=False)` fails on the starter's `out = None`. "
                  "Assign out in the train branch and in the test branch."),
    Misconception("python2", "Python 2 code",
                  "This grader, like the course since 2018, runs Python 3: xrange is range, "
                  "d.iteritems() is d.items(), unicode is str, print is a function "
                  "(print(x)), and / between integers gives a float (// does not)."),
    Misconception("not_implemented", "not implemented yet",
                  "The starter's TODO blocks are still empty (the function returns None)."),
    Misconception("does_not_import", "the file does not import",
                  "Fix the error above so the module can be imported; nothing could be checked."),
]}


def advice(key: str | None) -> str:
    """'Likely cause: ...' for a misconception key, or '' for None."""
    if key is None:
        return ""
    m = CATALOGUE[key]
    return f"Likely cause: {m.title}. {m.advice}"


@dataclass(frozen=True)
class Prediction:
    """What a mistake makes of the notebook's runs, by keep probability: the fraction of units
    kept, and the train-mode mean over the input's (None: no particular one)."""

    kept: Callable[[float], float]
    ratio: Callable[[float], float] | None


def explain(observed: dict[float, tuple[float, float]], predictions: dict[str, Prediction],
            kept_tolerance: Callable[[float], float],
            ratio_tolerance: Callable[[float], float]) -> str | None:
    """The mistake whose predictions hold for every observation (keep probability: (kept,
    mean ratio)), or None when none does or more than one does: a cause is named only when
    it explains all the evidence, since wrong advice is worse than none."""
    def holds(prediction: Prediction) -> bool:
        return all(abs(kept - prediction.kept(q)) <= kept_tolerance(prediction.kept(q))
                   and (prediction.ratio is None
                        or abs(ratio - prediction.ratio(q)) <= ratio_tolerance(q))
                   for q, (kept, ratio) in observed.items())

    found = [key for key, prediction in predictions.items() if observed and holds(prediction)]
    return found[0] if len(found) == 1 else None


def from_exception(function: str, type_name: str, message: str) -> str | None:
    """The misconception an exception from student code most likely shows."""
    if function == "dropout_backward" and type_name == "TypeError" and "NoneType" in message:
        return "backward_mask_in_test"
    if type_name == "AttributeError" and "'NoneType'" in message and "astype" in message:
        return "out_left_none"
    if python2(type_name, message):
        return "python2"
    if type_name == "ValueError" and "unpack" in message and "(expected 2" in message:
        return "only_2d"
    if type_name == "NotImplementedError":
        return "not_implemented"
    return None


PY2_NAMES = ("xrange", "unicode", "basestring", "raw_input", "unichr", "long", "reduce",
             "cmp", "execfile")
PY2_DICT_METHODS = ("iteritems", "itervalues", "iterkeys", "has_key")


def python2(type_name: str, message: str) -> bool:
    """Whether an exception is a symptom of Python 2 code: a builtin name Python 3 no longer
    has (NameError: ``xrange``, ``unicode``), or a dict method it dropped (``iteritems``).
    Not numpy's removed aliases (``np.unicode``): that is Python 3 code for an older numpy."""
    if type_name == "NameError":
        found = re.search(r"name '(\w+)' is not defined", message)
        return found is not None and found.group(1) in PY2_NAMES
    if type_name == "AttributeError":
        found = re.search(r"'dict' object has no attribute '(\w+)'", message)
        return found is not None and found.group(1) in PY2_DICT_METHODS
    return False
