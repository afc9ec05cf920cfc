"""One meaning of p per submission: the course's, or with --convention auto what the
submission's own starter text says; the other era named once, and the flag for the staff."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import SUBMISSIONS

from grader.cli import main
from grader.convention import Convention, Starter, read_starter, staff_hint

LAYER_2016 = '''def dropout_forward(x, dropout_param):
  """
  - p: Dropout parameter. We drop each neuron output with probability p.
  """
'''
LAYER_2018 = '''def dropout_forward(x, dropout_param):
    """
    - p: Dropout parameter. We keep each neuron output with probability p.
    """
'''
NET = '''class TwoLayerNet(object):
  def __init__(self, input_dim=3*32*32, hidden_dim=100, dropout=1):
    pass


class FullyConnectedNet(object):
  def __init__(self, hidden_dims, input_dim=3*32*32, num_classes=10,
               {keyword}, use_batchnorm=False, reg=0.0):
    self.use_dropout = dropout > 0
'''


def _starter(tmp_path, layer: str, keyword: str | None) -> Starter:
    (tmp_path / "layers.py").write_text(layer)
    net = None
    if keyword is not None:
        net = tmp_path / "fc_net.py"
        net.write_text(NET.replace("{keyword}", keyword))
    return read_starter(tmp_path / "layers.py", net)


@pytest.mark.parametrize(("layer", "keyword", "meaning"), [
    (LAYER_2016, "dropout=0", "drop"),
    (LAYER_2016, None, "drop"),
    (LAYER_2018, "dropout=1", "keep"),
    (LAYER_2018, "dropout_keep_ratio=1", "keep"),
    ("def dropout_forward(x, dropout_param):\n    pass\n", "dropout=0.0", "drop"),
    # the two files disagree (a student who implemented keep over a 2016 net), or say nothing
    (LAYER_2018, "dropout=0", None),
    ("def dropout_forward(x, dropout_param):\n    pass\n", "dropout=0.5", None),
    ("def dropout_forward(x, dropout_param):\n    pass\n", None, None),
])
def test_the_starter_text_says_what_p_means(tmp_path, layer, keyword, meaning):
    # read from FullyConnectedNet's constructor (not TwoLayerNet's) and the layer's docstring
    assert _starter(tmp_path, layer, keyword).meaning == meaning


def test_unreadable_starter_text_says_nothing(tmp_path):
    (tmp_path / "layers.py").mkdir()
    (tmp_path / "fc_net.py").symlink_to("/etc/passwd")
    assert read_starter(tmp_path / "layers.py", tmp_path / "fc_net.py") == Starter()


def test_auto_takes_the_starters_meaning_and_a_fixed_convention_ignores_it():
    drop = Starter("drop", ('layers.py: "We drop each neuron output with probability p"',))
    assert Convention.choose("auto", drop).name == "drop"
    assert Convention.choose("auto", Starter()).name == "keep"  # nothing said: the default
    fixed = Convention.choose("keep", drop)
    assert fixed.name == "keep" and fixed.other_era
    assert "your layer and your net were both graded with that meaning" in fixed.said()
    # a student cannot choose the meaning by editing a docstring unless the course says auto
    assert Convention.choose("drop", Starter("keep")).name == "drop"


def test_the_staff_are_told_once_for_the_whole_class():
    facts = {"a": Convention.choose("keep", Starter("drop")).facts(),
             "b": Convention.choose("keep", Starter("drop")).facts(),
             "c": Convention.choose("keep", Starter("keep")).facts(),
             "d": Convention.choose("auto", Starter("drop")).facts()}
    hint = staff_hint(facts)
    assert hint.startswith("2 submissions (a, b) follow the 2016-2017 starter")
    assert "--convention drop" in hint and "--convention auto" in hint
    assert staff_hint({"c": facts["c"], "d": facts["d"]}) is None


def _grade(tmp_path, *args: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(SUBMISSIONS / "fcnet_2016"), "--out", str(out),
                                       *args], catch_exceptions=False)
    return result.output, json.loads((out / "fcnet_2016" / "results.json").read_text())


def test_a_2016_package_is_graded_with_the_courses_one_meaning(tmp_path):
    output, data = _grade(tmp_path)
    feedback = data["output"] + "".join(t["output"] for t in data["tests"])
    # told once, to the student, in the summary; nowhere is p (or dropout=) the drop
    # probability in what was judged
    assert data["output"].count("What p means:") == 1
    assert ("your starter code is the 2016-2017 one, where p is the probability of dropping "
            "a unit") in data["output"]
    assert "dropout= is the probability of dropping" not in feedback
    assert "--convention" not in json.dumps(data)  # the flag is the staff's
    assert ("Course staff: 1 submission (fcnet_2016) follows the 2016-2017 starter"
            in output and "grade with --convention drop" in output)
    assert data["score"] == 115  # keep_probability alone: p read as the drop probability
    failed = [t["extra_data"]["check"] for t in data["tests"] if t["status"] == "failed"]
    assert failed == ["keep_probability"]


def test_auto_grades_the_2016_package_as_it_was_written(tmp_path):
    output, data = _grade(tmp_path, "--convention", "auto")
    assert data["score"] == 130
    assert ("What p means: the probability of dropping a unit, as your starter code says "
            "(layers.py: \"We drop each neuron output with probability p\"; fc_net.py: "
            "FullyConnectedNet(dropout=0))") in data["output"]
    assert "Course staff" not in output
    net = next(t for t in data["tests"] if t["extra_data"]["check"] == "net_builds")
    assert "dropout= is the probability of dropping a unit (2016-2017)" in net["output"]


def test_auto_in_a_class_of_several_years(tmp_path):
    # each submission by its own starter: a 2016 package and a 2020 one both earn full marks
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("fcnet_2016", "fcnet_2020"):
        shutil.copytree(SUBMISSIONS / name, folder / name)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(folder), "--out", str(out), "--convention", "auto"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    for name in ("fcnet_2016", "fcnet_2020"):
        data = json.loads((out / name / "results.json").read_text())
        assert data["score"] == 130, name
