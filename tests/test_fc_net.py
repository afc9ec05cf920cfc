"""The notebook's second half: dropout inside the student's FullyConnectedNet. The bundled
packages (tests/test_bundled.py) hold one correct net per era and one per mistake; here, the
pieces (era, kinks, the rubric's switch), fairness to other styles, the rule that a mistake
is named only when it explains the evidence, and nets that misbehave."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REFERENCE, SUBMISSIONS, grade_folder, write_submission

from grader import rubric
from grader.checks.check_fc_net import _gradient_problems, _unrepeatable
from grader.cli import main
from grader.fc_net import Era, H, Observations, era
from grader.rubric import RubricError

NET = "cs231n/classifiers/fc_net.py"
LAYERS = "cs231n/layers.py"
UTILS = "cs231n/layer_utils.py"
NET_CHECKS = [c.id for c in rubric.load().checks if c.part == "fc_net"]


def _signature(*parameters: tuple) -> dict:
    """fcnet.signature's answer for a constructor taking PARAMETERS (name, default)."""
    described = [["hidden_dims", "POSITIONAL_OR_KEYWORD", False, None]]
    described += [[name, "POSITIONAL_OR_KEYWORD", True, default] for name, default in parameters]
    return {"class": "FullyConnectedNet", "parameters": described}


@pytest.mark.parametrize(("parameters", "convention", "expected"), [
    ((("dropout_keep_ratio", 1), ("seed", None)), "keep",
     Era("dropout_keep_ratio", "keep", "2020 onwards")),
    ((("dropout", 1), ("normalization", None)), "keep", Era("dropout", "keep", "2018-2019")),
    ((("dropout", 0), ("use_batchnorm", False)), "drop", Era("dropout", "drop", "2016-2017")),
    ((("dropout", 0.0),), "drop", Era("dropout", "drop", "2016-2017")),
    # one meaning of p: dropout= means what the submission's p means, whatever its default,
    # and a default that shows the other meaning, or neither, is said
    ((("dropout", 0),), "keep",
     Era("dropout", "keep", "its default 0 is the 2016-2017 starter's", guessed=True)),
    ((("dropout", 1),), "drop",
     Era("dropout", "drop", "its default 1 is the 2018-2019 starter's", guessed=True)),
    ((("dropout", None),), "keep",
     Era("dropout", "keep", "its default tells neither", guessed=True)),
])
def test_the_dropout_keyword_means_what_p_means_in_the_submission(parameters, convention,
                                                                  expected):
    assert era(_signature(*parameters), convention) == expected


def test_a_constructor_without_a_dropout_keyword_has_no_era():
    assert era(_signature(("reg", 0.0), ("seed", None)), "keep") is None


def test_settings_are_the_notebooks_for_each_era():
    drop, keep = Era("dropout", "drop", "2016-2017"), Era("dropout_keep_ratio", "keep", "2020")
    assert [drop.call(k) for k in (1.0, 0.75, 0.5)] == ["dropout=0", "dropout=0.25",
                                                        "dropout=0.5"]
    assert [keep.call(k) for k in (1.0, 0.75, 0.5)] == ["dropout_keep_ratio=1",
                                                        "dropout_keep_ratio=0.75",
                                                        "dropout_keep_ratio=0.5"]


def _observed(analytic: float, plus: float, minus: float, base: float = 2.0) -> Observations:
    """One sampled coordinate (W1[0]) whose loss is BASE, PLUS at +h and MINUS at -h, and
    whose analytic gradient is ANALYTIC; every other gradient is zero."""
    grads = {name: np.zeros(shape) for name, shape in
             {"W1": (15, 20), "b1": (20,), "W2": (20, 30), "b2": (30,), "W3": (30, 10),
              "b3": (10,)}.items()}
    grads["W1"].flat[0] = analytic
    train = {"loss": np.array(base), "grads": grads}
    return Observations(era=Era("dropout_keep_ratio", "keep", "2020"), coords=[("W1", 0)],
                        answers={"train 1.0": train, "again 1.0": train,
                                 "shifted 1.0": {"losses": np.array([[plus, minus]])}})


def test_a_gradient_that_matches_the_numeric_one_has_no_problem():
    slope = 0.3
    assert _gradient_problems(_observed(slope, 2 + slope * H, 2 - slope * H), 1.0) == {}


def test_a_wrong_gradient_on_smooth_ground_is_a_problem():
    slope = 0.3
    problems = _gradient_problems(_observed(0.2, 2 + slope * H, 2 - slope * H), 1.0)
    assert list(problems) == ["W1"]
    assert problems["W1"].startswith("W1: 1 of 1 sampled entries differ")


@pytest.mark.parametrize("analytic", [0.0, 0.4])
def test_on_a_relus_kink_either_slope_is_right(analytic):
    # the loss's slope is 0 on the left and 0.4 on the right (a ReLU at exactly 0): the
    # central difference says 0.2, but 0 and 0.4 are both honest analytic gradients
    assert _gradient_problems(_observed(analytic, 2 + 0.4 * H, 2.0), 1.0) == {}


@pytest.mark.parametrize("analytic", [0.9, np.nan, np.inf])
def test_on_a_kink_a_value_neither_slope_gives_is_still_a_problem(analytic):
    assert list(_gradient_problems(_observed(analytic, 2 + 0.4 * H, 2.0), 1.0)) == ["W1"]


def test_a_loss_that_changes_between_calls_cannot_be_checked():
    found = _observed(0.3, 2 + 0.3 * H, 2 - 0.3 * H)
    assert _unrepeatable(found, 1.0) is None
    found.answers["again 1.0"] = {**found.answers["train 1.0"], "loss": np.array(2.1)}
    assert "no numeric gradient can be taken" in _unrepeatable(found, 1.0)


def test_the_rubric_switch_turns_the_part_off_or_requires_it(tmp_path):
    default = rubric.load()
    assert default.fc_net == "auto"
    assert [c.id for c in default.graded(False)] == [c.id for c in default.checks
                                                     if c.part == "layers"]
    assert [c.id for c in default.graded(True)] == default.ids
    off = rubric.load(fc_net="off")
    assert not any(c.part == "fc_net" for c in off.checks) and off.total == 100
    assert set(off.turned_off) == set(NET_CHECKS)
    assert rubric.load(fc_net="required").graded(False) == default.checks
    custom = tmp_path / "rubric.toml"
    custom.write_text('fc_net = "required"\n[checks.net_seed]\npoints = 10\n')
    loaded = rubric.load(custom)
    assert loaded.fc_net == "required" and loaded["net_seed"].points == 10
    assert loaded["net_seed"].part == "fc_net"  # a check's part is the grader's, not the file's
    custom.write_text('fc_net = "sometimes"\n[checks.net_seed]\npoints = 10\n')
    with pytest.raises(RubricError, match="fc_net must be one of auto, required, off"):
        rubric.load(custom)


def _package(folder, name: str, net: dict[str, str] | None = None,
             layers: dict[str, str] | None = None, base: str = "fcnet_2020",
             utils: dict[str, str] | None = None):
    """A copy of the bundled package BASE as FOLDER/NAME, with the replacements NET, LAYERS
    and UTILS (old: new, each present exactly once) made in its fc_net.py, layers.py and
    layer_utils.py."""
    shutil.copytree(SUBMISSIONS / base, folder / name)
    for relative, replacements in ((NET, net or {}), (LAYERS, layers or {}),
                                   (UTILS, utils or {})):
        path = folder / name / relative
        source = path.read_text()
        for old, new in replacements.items():
            assert source.count(old) == 1, old
            source = source.replace(old, new)
        path.write_text(source)


def _at_loss_start(*lines: str) -> dict[str, str]:
    """A replacement for _package's NET that runs LINES first thing in loss()."""
    start = "        X = X.astype(self.dtype)\n"
    return {start: start + "".join(f"        {line}\n" for line in lines)}


def _points(result) -> dict[str, float]:
    return {c.id: c.score for c in result.checks}


def _check(result, check_id: str):
    return next(c for c in result.checks if c.id == check_id)


P_AS_DROP = {"mask = (np.random.rand(*x.shape) < p) / p":
             "mask = (np.random.rand(*x.shape) >= p) / (1 - p)"}


@pytest.fixture(scope="module")
def styles(tmp_path_factory):
    """Correct nets in other styles, and mistakes whose cause lies in the layer."""
    folder = tmp_path_factory.mktemp("styles")
    # weights from an unseeded generator: every net the grader builds gets other weights
    _package(folder, "unseeded_weights", net={
        "weight_scale * np.random.randn(dims[i], dims[i + 1])":
            "np.random.default_rng().normal(0, weight_scale, (dims[i], dims[i + 1]))"})
    # a dropout_param of its own for every layer, and masks from default_rng(seed)
    _package(folder, "own_params_default_rng", net={
        "                out, drop_cache = dropout_forward(out, self.dropout_param)":
            "                out, drop_cache = dropout_forward(out, dict(self.dropout_param))"},
        layers={
        '''    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
''': "    rng = np.random.default_rng(dropout_param.get(\"seed\"))\n",
        "mask = (np.random.rand(*x.shape) < p) / p": "mask = (rng.random(x.shape) < p) / p"})
    # the net is right, its layer is not: the layer ignores the seed, or scales at test time
    _package(folder, "layer_ignores_seed", layers={
        '''    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
''': ""})
    _package(folder, "layer_scales_at_test", layers={"        out = x\n": "        out = x * p\n"})
    # the weights also held outside params (the net reads its own list; the grader's copies
    # of the weights and its numeric steps must reach the arrays the net reads)
    _package(folder, "weights_held_elsewhere", net={
        "        self.dropout_param = {}\n":
            "        self.layers = [(self.params[f'W{i}'], self.params[f'b{i}'])\n"
            "                       for i in range(1, self.num_layers + 1)]\n"
            "        self.dropout_param = {}\n",
        "        for k, v in self.params.items():\n            self.params[k] = v.astype(dtype)\n":
            "",
        'affine_relu_forward(out, self.params[f"W{i}"], self.params[f"b{i}"])':
            "affine_relu_forward(out, *self.layers[i - 1])"})
    # a penalty by default, biases of shape (1, H), any keyword taken through **kwargs
    _package(folder, "reg_by_default", net={"normalization=None, reg=0.0,":
                                            "normalization=None, reg=1e-3,"})
    _package(folder, "row_biases", net={"np.zeros(dims[i + 1])": "np.zeros((1, dims[i + 1]))"},
             layers={"db = dout.sum(axis=0)": "db = dout.sum(axis=0, keepdims=True)"})
    _package(folder, "kwargs_only", net={
        "    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,\n"
        "                 dropout_keep_ratio=1, normalization=None, reg=0.0,\n"
        "                 weight_scale=1e-2, dtype=np.float32, seed=None):\n":
        "    def __init__(self, hidden_dims, **options):\n"
        "        input_dim, num_classes = options['input_dim'], options['num_classes']\n"
        "        dropout_keep_ratio = options.get('dropout_keep_ratio', 1)\n"
        "        reg, seed = options.get('reg', 0.0), options.get('seed')\n"
        "        weight_scale, dtype = options['weight_scale'], options['dtype']\n"})
    # slow but correct: 15 ms a loss, 5.7 s for the whole notebook (each round trip has 5 s)
    _package(folder, "slow", net=_at_loss_start("__import__('time').sleep(0.015)"))
    # float32 parameters despite dtype=np.float64: the gradient fails without dropout too
    _package(folder, "float32_params", net={"self.params[k] = v.astype(dtype)":
                                            "self.params[k] = v.astype(np.float32)"})
    # wrong nets: infinite gradients with dropout, no backward at all, and the layer's own
    # mistakes (backward without the 1/p, p read as the drop probability) under a right net
    _package(folder, "infinite_gradient", net={"        return loss, grads\n":
                                               "        if self.use_dropout:\n"
                                               "            grads['W1'] = grads['W1'] * np.inf\n"
                                               "        return loss, grads\n"})
    _package(folder, "no_backward", net={"        return loss, grads\n":
                                         "        grads = {k: np.zeros_like(v) for k, v in "
                                         "self.params.items()}\n        return loss, grads\n"})
    _package(folder, "layer_backward_no_scale", layers={
        "        return dout * mask\n": "        return dout * (mask != 0)\n"})
    _package(folder, "layer_p_as_drop", layers=P_AS_DROP)
    # a right net over a wrong layer, bound in each way a package binds it: under another
    # name, as an attribute of the layers module, inside a helper of layer_utils.py
    _package(folder, "alias_over_wrong_layer", layers=P_AS_DROP, net={
        "from ..layers import affine_backward, affine_forward, dropout_backward, "
        "dropout_forward\n":
            "from ..layers import affine_backward, affine_forward\n"
            "from ..layers import dropout_backward as drop_back, dropout_forward as drop\n",
        "dropout_forward(out, self.dropout_param)": "drop(out, self.dropout_param)",
        "dropout_backward(dout, drop_cache)": "drop_back(dout, drop_cache)"})
    _package(folder, "module_attribute_over_wrong_layer", layers=P_AS_DROP, net={
        "import numpy as np\n": "import numpy as np\n\nfrom .. import layers\n",
        "dropout_forward(out, self.dropout_param)": "layers.dropout_forward(out, "
                                                    "self.dropout_param)",
        "dropout_backward(dout, drop_cache)": "layers.dropout_backward(dout, drop_cache)"})
    _package(folder, "helper_over_wrong_layer", layers=P_AS_DROP, utils={
        "from .layers import affine_backward, affine_forward, relu_backward, relu_forward\n":
            "from .layers import *  # noqa\n\n\n"
            "def relu_dropout_forward(x, param):\n"
            "    return dropout_forward(relu_forward(x)[0], param)\n"}, net={
        "from ..layer_utils import affine_relu_backward, affine_relu_forward\n":
            "from ..layer_utils import affine_relu_backward, affine_relu_forward\n"
            "from ..layer_utils import relu_dropout_forward\n",
        "out, drop_cache = dropout_forward(out, self.dropout_param)":
            "out, drop_cache = relu_dropout_forward(out, self.dropout_param)"})
    # the student's layer held in a dict that layers.py builds (imported before the grader
    # can put its layer in), which the grader cannot rebind
    _package(folder, "dict_over_wrong_layer", layers={
        **P_AS_DROP, "        return dout * mask\n    return dout\n":
            "        return dout * mask\n    return dout\n\n\n"
            "LAYERS = {'forward': dropout_forward, 'backward': dropout_backward}\n"}, net={
        "import numpy as np\n": "import numpy as np\n\nfrom ..layers import LAYERS\n",
        "dropout_forward(out, self.dropout_param)": "LAYERS['forward'](out, self.dropout_param)",
        "dropout_backward(dout, drop_cache)": "LAYERS['backward'](dout, drop_cache)"})
    # dropout in the net's own lines over a wrong layer: right, and wrong as the layer is
    for name, keeps in (("inline_over_wrong_layer", "< p) / p"),
                        ("inline_wrong_as_the_layer", ">= p) / (1 - p)")):
        _package(folder, name, layers=P_AS_DROP, net={
            "                out, drop_cache = dropout_forward(out, self.dropout_param)\n":
                "                p = self.dropout_param['p']\n"
                "                if 'seed' in self.dropout_param:\n"
                "                    np.random.seed(self.dropout_param['seed'])\n"
                "                if mode == 'train':\n"
                f"                    drop_cache = (np.random.rand(*out.shape) {keeps}\n"
                "                    out = out * drop_cache\n",
            "                dout = dropout_backward(dout, drop_cache)\n":
                "                dout = dout * drop_cache\n"})
    # scaling mistakes of the net with a right layer, each with a consistent backward:
    # vanilla dropout (the net multiplies the layer's output by p again in training), and
    # dropout applied to the scores too
    _package(folder, "vanilla_in_net", net={
        "                out, drop_cache = dropout_forward(out, self.dropout_param)\n":
            "                out, drop_cache = dropout_forward(out, self.dropout_param)\n"
            "                if mode == 'train':\n"
            "                    out = out * self.dropout_param['p']\n",
        "                dout = dropout_backward(dout, drop_cache)\n":
            "                dout = dropout_backward(dout * self.dropout_param['p'], "
            "drop_cache)\n"})
    _package(folder, "dropout_on_scores", net={
        "        loss, dscores = softmax_loss(scores, y)\n":
            "        if self.use_dropout:\n"
            "            scores, score_cache = dropout_forward(scores, self.dropout_param)\n"
            "        loss, dscores = softmax_loss(scores, y)\n"
            "        if self.use_dropout:\n"
            "            dscores = dropout_backward(dscores, score_cache)\n"})
    # correct: a default no JSON can carry, and the penalty taken through **kwargs
    _package(folder, "inf_default", net={
        "                 weight_scale=1e-2, dtype=np.float32, seed=None):\n":
            "                 weight_scale=1e-2, dtype=np.float32, seed=None,\n"
            "                 max_norm=float('inf')):\n"})
    _package(folder, "reg_in_kwargs", net={
        "                 dropout_keep_ratio=1, normalization=None, reg=0.0,\n":
            "                 dropout_keep_ratio=1, normalization=None,\n",
        "                 weight_scale=1e-2, dtype=np.float32, seed=None):\n":
            "                 weight_scale=1e-2, dtype=np.float32, seed=None, **kwargs):\n"
            "        reg = kwargs.get('reg', 1e-2)\n"})
    # wrong: the seed reaches the second dropout layer only (the first layer's mask then
    # follows the global generator); a loss that is an integer
    _package(folder, "seed_second_layer_only", net={
        "                out, drop_cache = dropout_forward(out, self.dropout_param)\n":
            "                param = dict(self.dropout_param)\n"
            "                if i == 1:\n"
            "                    param.pop('seed', None)\n"
            "                out, drop_cache = dropout_forward(out, param)\n"})
    _package(folder, "integer_loss", net={"        return loss, grads\n":
                                          "        return np.int64(loss), grads\n"})
    # outside dropout: the softmax gradient doubled fails every gradient without dropout, and
    # what the wide net's gradients show (kept units, scaling) is not held against dropout
    _package(folder, "softmax_doubled", net={
        "        loss, dscores = softmax_loss(scores, y)\n":
            "        loss, dscores = softmax_loss(scores, y)\n        dscores = dscores * 2\n"})
    # a constructor that fails with dropout only: its error and line are shown
    _package(folder, "constructor_raises", net={'{"mode": "train", "p": dropout_keep_ratio}':
                                                '{"mode": "train", "p": dropout}'})
    return grade_folder(folder, tmp_path_factory.mktemp("styles-out"))


@pytest.mark.parametrize("name", ["unseeded_weights", "own_params_default_rng",
                                  "weights_held_elsewhere", "reg_by_default", "row_biases",
                                  "kwargs_only", "slow", "inf_default", "reg_in_kwargs"])
def test_a_correct_net_earns_full_marks_whatever_its_style(styles, name):
    result = styles[name]
    assert result.score == result.max_score == 130, [c.feedback for c in result.failed]


def test_a_net_that_ignores_dtype_is_told_so_and_its_dropout_not_judged(styles):
    gradient = _check(styles["float32_params"], "net_gradient")
    assert gradient.passed  # outside dropout: not counted against the dropout checks
    assert "its parameters or gradients come back as float32, though the net was built " \
           "with dtype=np.float64" in gradient.feedback


@pytest.mark.parametrize("name", ["infinite_gradient", "no_backward"])
def test_a_gradient_that_is_not_there_or_not_finite_fails(styles, name):
    result = styles[name]
    assert _check(result, "net_gradient").score == 0
    assert not any(c.grader_error for c in result.checks)


COURSE_LAYER_NOTE = ("Note: your net was checked with the course's dropout layer in place of "
                     "yours, since yours fails the layer checks: the layer's mistakes cost the "
                     "layer checks alone")


@pytest.mark.parametrize(("name", "layer_check"), [
    ("layer_backward_no_scale", "backward_gradient"), ("layer_p_as_drop", "keep_probability"),
    ("layer_ignores_seed", "seeded_determinism"), ("layer_scales_at_test", "test_mode_identity"),
    ("alias_over_wrong_layer", "keep_probability"),
    ("module_attribute_over_wrong_layer", "keep_probability"),
    ("helper_over_wrong_layer", "keep_probability")])
def test_a_mistake_of_the_layer_costs_the_layer_checks_alone(styles, name, layer_check):
    # the net is run with the course's layer wherever the package bound the student's: each
    # net check holds, and net_builds says why
    result = styles[name]
    assert [c.id for c in result.failed] == [layer_check], [c.feedback for c in result.failed]
    assert COURSE_LAYER_NOTE in _check(result, "net_builds").feedback


def test_a_net_whose_dropout_is_its_own_lines_is_judged_as_written(styles):
    # no call of any dropout_forward: the net's own dropout is judged, and its faults are the
    # net's (the student's layer, wrong too, plays no part in it)
    inline = "your net does its dropout in its own lines"
    right, wrong = styles["inline_over_wrong_layer"], styles["inline_wrong_as_the_layer"]
    assert [c.id for c in right.failed] == ["keep_probability"]
    assert inline in _check(right, "net_builds").feedback
    keep_ratio = _check(wrong, "net_keep_ratio")
    assert keep_ratio.score == 0 and keep_ratio.misconceptions == ["net_keep_as_drop"]
    assert "see the layer checks" not in keep_ratio.feedback
    assert inline in _check(wrong, "net_builds").feedback


def test_a_layer_the_grader_cannot_replace_is_pointed_at(styles):
    # the net calls the student's layer through a dict: the layer's fault shows in the net,
    # which points at the layer checks and names no mistake of the net
    result = styles["dict_over_wrong_layer"]
    keep_ratio = _check(result, "net_keep_ratio")
    assert keep_ratio.score == 0 and keep_ratio.misconceptions == []
    assert ("dropout_forward does not keep 75% of the units at p = 0.75 by itself (see the "
            "layer checks)") in keep_ratio.feedback
    assert "through a name the grader could not replace" in _check(result,
                                                                   "net_builds").feedback


def test_a_wiring_mistake_still_fails_with_the_course_layer_in_place(tmp_path):
    # a net that never calls dropout, and one that drops the scores too, over a layer that
    # fails the layer checks: the course's layer stands in and the net's mistake still shows
    folder = tmp_path / "subs"
    folder.mkdir()
    vanilla = (SUBMISSIONS / "fcnet_vanilla_layer" / LAYERS).read_text()
    for base in ("fcnet_ignores_dropout", "fcnet_dropout_on_scores"):
        shutil.copytree(SUBMISSIONS / base, folder / base)
        (folder / base / LAYERS).write_text(vanilla)
    graded = grade_folder(folder, tmp_path / "out")
    layer = {"mean_preserved", "test_mode_identity"}
    unused = graded["fcnet_ignores_dropout"]
    assert {c.id for c in unused.failed} == layer | {
        "net_train_dropout", "net_gradient", "net_keep_ratio", "net_inverted", "net_seed",
        "net_test_time"}
    assert _check(unused, "net_train_dropout").misconceptions == ["net_dropout_unused"]
    scores = graded["fcnet_dropout_on_scores"]
    assert {c.id for c in scores.failed} == layer | {"net_inverted"}
    assert COURSE_LAYER_NOTE in _check(scores, "net_builds").feedback


def test_a_net_the_child_cannot_finish_costs_only_the_net(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    _package(folder, "hangs", net=_at_loss_start("while True:", "    pass"))
    _package(folder, "exits", net=_at_loss_start("import os", "os._exit(3)"))
    _package(folder, "huge", net={"        if mode == \"test\":\n            return scores\n":
                                  "        if mode == \"test\":\n"
                                  "            return np.zeros((4096, 4096))\n"})
    _package(folder, "correct")
    graded = grade_folder(folder, tmp_path / "out", timeout=1.0)
    for name, status in (("hangs", "timeout"), ("exits", "crash")):
        result = graded[name]
        assert result.status == status
        assert result.score == 100  # the layer checks ran first and keep their points
        assert all(_points(result)[c] == 0 for c in NET_CHECKS)
        assert "✗" in _check(result, "net_builds").feedback
    # scores of 128 MiB from loss(X): more than the child may send, refused and said; the
    # training half of the net is still judged
    huge = graded["huge"]
    assert "(4096, 4096) (134,217,728 bytes), far larger than its input; it was refused" in \
        _check(huge, "net_builds").feedback
    assert _points(huge)["net_builds"] == 0 and _points(huge)["net_gradient"] == 8
    assert huge.status == "ok"
    assert graded["correct"].score == 130


def test_the_untouched_starter_net_and_a_missing_net(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "lone", REFERENCE)  # the layers alone: no FullyConnectedNet
    shutil.copytree(SUBMISSIONS / "fcnet_2020", folder / "package")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(folder), "--out", str(out), "--fc-net", "required"])
    assert result.exit_code == 0, result.output
    lone = json.loads((out / "lone" / "results.json").read_text())
    net_tests = [t for t in lone["tests"] if t["extra_data"]["check"] in NET_CHECKS]
    assert [t["extra_data"]["check"] for t in net_tests] == NET_CHECKS
    assert all(t["score"] == 0 for t in net_tests) and lone["score"] == 100
    assert "holds no cs231n/classifiers/fc_net.py" in net_tests[0]["output"]
    assert lone["extra_data"]["status"] == "ok"
    # --fc-net off: the package is graded on its layers alone
    out_off = tmp_path / "off"
    result = CliRunner().invoke(main, [str(folder), "--out", str(out_off), "--fc-net", "off"])
    assert result.exit_code == 0, result.output
    package = json.loads((out_off / "package" / "results.json").read_text())
    assert package["score"] == 100 and len(package["tests"]) == 9
    header = (out_off / "grades.csv").read_text().splitlines()[0]
    assert not any(check in header for check in NET_CHECKS)


def test_the_same_package_gets_the_same_result_twice(tmp_path):
    runs = []
    for n in range(2):
        out = tmp_path / f"out{n}"
        grade_folder(SUBMISSIONS / "fcnet_backward_skips_dropout", out, single=True)
        data = json.loads((out / "fcnet_backward_skips_dropout" / "results.json").read_text())
        runs.append([(t["score"], t["output"]) for t in data["tests"]])
    assert runs[0] == runs[1]


def test_stand_ins_are_named_in_the_feedback(bundled):
    _, graded = bundled
    old = _check(graded["fcnet_2016"], "net_builds").feedback
    assert "stand-ins" in old and "cs231n.fast_layers (SyntaxError, line 5" in old
    assert "torch (not installed in the grader)" in _check(graded["fcnet_2018"],
                                                           "net_builds").feedback
    # graded with the course's meaning of p, which its default does not show
    assert ("dropout= was read as the keep probability, the meaning of p this submission is "
            "graded with, which the constructor's default does not show (its default 0 is the "
            "2016-2017 starter's)") in old


FORGE = '''
import sys

_driver = sys.modules.get("fcnet")  # the child's own driver, in the student's process
_GARBAGE = [{{"kind": "returned", "value": {{"loss": {{"kind": "array", "dtype": "<c16",
            "shape": [], "blob": 0}}, "grads": [1, 2], "params": 7, "scores": "x",
            "losses": {{"kind": "array", "dtype": "<f8", "shape": [99, 2], "blob": 5}}}}}},
            {{"kind": "raised", "type": 3, "frames": 17}}, 17, {{"kind": "skipped"}},
            {{"kind": "returned", "value": {{"scores": {{"kind": "array", "dtype": "<f8",
            "shape": [float("inf")], "blob": float("inf")}}}}}}]
if _driver is not None:
    _driver.run = lambda module, steps, *rest: [_GARBAGE[i % 5] for i in range(len(steps))]
    {signature}
'''


def test_a_net_that_forges_its_answers_costs_only_itself(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, signature in (
            ("forged_answers", "pass"),
            ("forged_signature", "_driver.signature = lambda module: "
                                 "{'class': 1, 'parameters': 7}"),
            ("forged_parameters", "_driver.signature = lambda module: {'class': 'x', "
                                  "'parameters': [[1, 2, 3, 4], 'y', [None] * 4, "
                                  "['dropout', 'K', True, [1]]]}")):
        _package(folder, name, net={"import numpy as np\n":
                                    "import numpy as np\n" + FORGE.format(signature=signature)})
    _package(folder, "correct")
    graded = grade_folder(folder, tmp_path / "out")
    for name in ("forged_answers", "forged_signature", "forged_parameters"):
        result = graded[name]
        assert not any(c.grader_error for c in result.checks), name  # judged, never crashed
        assert result.score == 100 and all(_points(result)[c] == 0 for c in NET_CHECKS), name
    assert graded["correct"].score == 130


def test_a_constructor_that_raises_is_shown_with_its_line(styles):
    builds = _check(styles["constructor_raises"], "net_builds")
    assert builds.score == pytest.approx(1)  # one of three settings: the one without dropout
    assert "NameError: name 'dropout' is not defined" in builds.feedback
    assert 'File "cs231n/classifiers/fc_net.py", line' in builds.feedback


@pytest.mark.parametrize(("name", "misconceptions"), [("vanilla_in_net", ["net_rescale"]),
                                                      ("dropout_on_scores", [])])
def test_a_net_that_scales_or_drops_what_it_should_not_loses_net_inverted(styles, name,
                                                                          misconceptions):
    result = styles[name]
    assert {c.id: c.score for c in result.failed} == {"net_inverted": 0}
    assert _check(result, "net_inverted").misconceptions == misconceptions


def test_a_seed_that_misses_one_dropout_layer_is_caught(styles):
    seed = _check(styles["seed_second_layer_only"], "net_seed")
    assert seed.score == 0 and seed.misconceptions == ["net_seed_not_passed"]


def test_a_loss_that_is_no_float_does_not_run(styles):
    builds = _check(styles["integer_loss"], "net_builds")
    assert builds.score == 0 and "(int64) as its loss" in builds.feedback


def test_what_fails_outside_dropout_costs_no_dropout_check(styles):
    result = styles["softmax_doubled"]
    assert result.score == 130
    for check in ("net_gradient", "net_inverted"):
        assert "lies outside dropout" in _check(result, check).feedback
    # the kept units can still be read: that check is judged, and passes
    assert _check(result, "net_keep_ratio").feedback.startswith("✓")
