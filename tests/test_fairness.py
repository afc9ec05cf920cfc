"""Fair to real code: a correct solution earns full marks whatever its style, and code the
course handed out earns nothing by itself."""

from __future__ import annotations

import textwrap

import pytest
from conftest import SUBMISSIONS, grade_folder, write_submission

# A correct solution whose cache is built by PACK(dropout_param, mask) and read back by
# UNPACK(cache) -> (dropout_param, mask).
TEMPLATE = '''
import numpy as np
{helpers}

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    return out.astype(x.dtype, copy=False), {pack}


def dropout_backward(dout, cache):
    dropout_param, mask = {unpack}
    return dout * mask if dropout_param["mode"] == "train" else dout
'''

LAYOUTS = {
    "tuple": ("", "(dropout_param, mask)", "cache"),
    "dict": ("", '{"param": dropout_param, "mask": mask}', 'cache["param"], cache["mask"]'),
    "list": ("", "[mask, dropout_param]", "cache[1], cache[0]"),
    "object": ("class Cache:\n    def __init__(self, param, mask):\n"
               "        self.param, self.mask = param, mask\n",
               "Cache(dropout_param, mask)", "cache.param, cache.mask"),
}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layouts")
    for name, (helpers, pack, unpack) in LAYOUTS.items():
        write_submission(folder, name, TEMPLATE.format(helpers=helpers, pack=pack,
                                                       unpack=unpack))
    return grade_folder(folder, tmp_path_factory.mktemp("layouts-out"))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_correct_solution_earns_full_marks_whatever_its_cache(layouts, layout):
    result = layouts[layout]
    assert result.score == result.max_score, "\n".join(c.feedback for c in result.failed)


def test_test_mode_backward_is_judged_on_the_students_own_cache(layouts):
    # before, it was given the starter's (dropout_param, None) whatever the student's layout
    for result in layouts.values():
        check = next(c for c in result.checks if c.id == "backward_test_mode")
        assert check.passed


# The dropout layer as each era's starter hands it out, TODOs untouched (written for the
# project after the notebooks' shape; the 2019 one is submissions/starter_todo).
STARTER_2017 = '''
import numpy as np

def dropout_forward(x, dropout_param):
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])
    mask = None
    out = None
    if mode == 'train':
        # TODO: Implement the training phase forward pass for inverted dropout.
        pass
    elif mode == 'test':
        # TODO: Implement the test phase forward pass for inverted dropout.
        pass
    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    mode = dropout_param['mode']
    dx = None
    if mode == 'train':
        # TODO: Implement the training phase backward pass for inverted dropout.
        pass
    elif mode == 'test':
        dx = dout
    return dx
'''
STARTER_2024 = STARTER_2017.replace("    out = out.astype(x.dtype, copy=False)\n", "")

STARTERS = {"2017": STARTER_2017,
            "2019": (SUBMISSIONS / "starter_todo" / "cs231n" / "layers.py").read_text(),
            "2024": STARTER_2024}


@pytest.mark.parametrize("era", sorted(STARTERS))
def test_the_untouched_starter_earns_nothing(tmp_path, era):
    # its test-mode backward (dx = dout) comes ready-made, but its forward returns no output
    # (None, or fails on None.astype): there is nothing of the student's to judge
    folder = tmp_path / "subs"
    (folder / "starter").mkdir(parents=True)
    (folder / "starter" / "layers.py").write_text(textwrap.dedent(STARTERS[era]))
    result = grade_folder(folder, tmp_path / "out")["starter"]
    assert result.score == 0, "\n".join(f"{c.id}: {c.score}" for c in result.checks)
    check = next(c for c in result.checks if c.id == "backward_test_mode")
    assert "dropout_forward" in check.feedback
