"""Fair to real code: a correct solution earns full marks whatever its style, and code the
course handed out earns nothing by itself."""

from __future__ import annotations

import textwrap

import pytest
from conftest import REFERENCE, SUBMISSIONS, grade_folder, write_submission

# The reference solution with its cache built by PACK (from dropout_param and mask) and read
# back by UNPACK (into dropout_param, mask), HELPERS defined before it.
LAYOUTS = {
    "tuple": ("", "(dropout_param, mask)", "cache"),
    "dict": ("", '{"param": dropout_param, "mask": mask}', 'cache["param"], cache["mask"]'),
    "list": ("", "[mask, dropout_param]", "cache[1], cache[0]"),
    "object": ("class Cache:\n    def __init__(self, param, mask):\n"
               "        self.param, self.mask = param, mask\n",
               "Cache(dropout_param, mask)", "cache.param, cache.mask"),
}


def _with_cache(helpers: str, pack: str, unpack: str) -> str:
    source = REFERENCE.replace("    cache = (dropout_param, mask)\n", f"    cache = {pack}\n")
    source = source.replace("    dropout_param, mask = cache\n",
                            f"    dropout_param, mask = {unpack}\n")
    assert source.count(pack) == 1 and source.count(unpack) >= 1
    return helpers + source


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layouts")
    for name, (helpers, pack, unpack) in LAYOUTS.items():
        write_submission(folder, name, _with_cache(helpers, pack, unpack))
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


# The dropout layer as the starter hands it out, TODOs untouched: with the line that keeps the
# dtype (out = out.astype(...): the forward then fails on None), and without it, as some
# years' starters are (the forward then returns None).
STARTER = (SUBMISSIONS / "starter_todo" / "cs231n" / "layers.py").read_text()
STARTERS = {"with the dtype line": STARTER,
            "without it": STARTER.replace("    out = out.astype(x.dtype, copy=False)\n", "")}
assert STARTERS["without it"] != STARTER


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
