"""A class of notebooks written for the review page's tests: several course years' layouts,
English and Korean, identical and near-identical answers, unanswered ones, and a hostile
one. Each student's layer is the reference solution (their code scores 100), so every point
a test sees move is the staff's."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REFERENCE

IQ1 = ("What happens if we do not divide the values being passed through inverse dropout by "
       "p in the dropout layer? Why does that happen?")
IQ2 = ("Compare the validation and training accuracies with and without dropout -- what do "
       "your results suggest about dropout as a regularizer?")
IQ3 = ("Suppose we are training a deep fully-connected network for image classification, "
       "with dropout after hidden layers. How should we modify p if we decide to decrease "
       "the size of the hidden layers?")
RIGHT = ("Without the division the expected value of each output is p times smaller at train "
         "time than at test time, so the test-time activations have a different scale.")
# the same words, other case, spacing and punctuation: one group with RIGHT
RIGHT_AGAIN = ("without the division, the expected value of each output is p times smaller "
               "at train time than at test time so the test-time activations have a "
               "different scale")
# a few words changed: near-identical to RIGHT, a group of its own beside it
RIGHT_NEAR = ("Without the division the expected value of every output is p times smaller at "
              "training time than at test time, so the test-time activations have a "
              "different scale.")
WRONG = "We multiply by p to correct the mean of the outputs."  # the seed blog post's answer
KOREAN = "나누지 않으면 학습 때 출력의 기댓값이 p배로 작아져서 테스트 때와 스케일이 달라진다."
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)> =1+1'
REGULARIZER = ("With dropout the training accuracy is lower but the validation accuracy is "
               "about the same or higher: the gap shrinks, so dropout regularizes.")
SHRINK = "Increase p, keeping more units, since smaller layers have less capacity."


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell |= {"outputs": [], "execution_count": None}
    return cell


def notebook_2019(answers: list[str]) -> list[dict]:
    """2018-2021: "Inline Question N:" cells, each answered in the next cell's "Answer:"."""
    cells = [_cell("code", "from cs231n.layers import *")]
    for number, (question, answer) in enumerate(zip((IQ1, IQ2, IQ3), answers, strict=False), 1):
        cells += [_cell("markdown", f"## Inline Question {number}:\n{question}"),
                  _cell("markdown", f"## Answer:\n{answer}")]
    return cells


def notebook_2022(answers: list[str]) -> list[dict]:
    """2022 onwards: question and "$\\color{blue}{\\textit Your Answer:}$" in one cell."""
    return [_cell("markdown", f"## Inline Question {number}:\n{question}\n\n"
                              f"$\\color{{blue}}{{\\textit Your Answer:}}$ {answer}")
            for number, (question, answer) in enumerate(zip((IQ1, IQ2), answers,
                                                           strict=False), 1)]


def notebook_2016(answers: list[str]) -> list[dict]:
    """2016: one "# Question" (the experiment: the later Inline Question 2) and "# Answer"."""
    return [_cell("markdown", "# Question\nExplain what you see in this experiment. What does "
                              "it suggest about dropout?"),
            _cell("markdown", f"# Answer\n{answers[0]}")]


# student id -> (layout, answers in the notebook's order)
CLASS = {
    "ada": (notebook_2019, [RIGHT, REGULARIZER, SHRINK]),
    "ben": (notebook_2019, [RIGHT_AGAIN, REGULARIZER, SHRINK]),
    "chen": (notebook_2022, [RIGHT, REGULARIZER]),
    "dana": (notebook_2019, [RIGHT_NEAR, "[FILL THIS IN]", SHRINK]),
    "eli": (notebook_2019, [WRONG, REGULARIZER, ""]),
    "fay": (notebook_2022, [WRONG, "It overfits less."]),
    "gus": (notebook_2019, [KOREAN, REGULARIZER, SHRINK]),
    "hana": (notebook_2019, [KOREAN, "드롭아웃은 과적합을 줄인다.", SHRINK]),
    "ivan": (notebook_2019, [HOSTILE, REGULARIZER, SHRINK]),
    "jo": (notebook_2016, [REGULARIZER]),
    "kim": (notebook_2019, ["", "", ""]),
}


def write_student(folder: Path, sid: str, layout=None, answers=None) -> Path:
    """SID's submission under FOLDER: the reference layer and its notebook."""
    layout, answers = (layout, answers) if layout else CLASS[sid]
    home = folder / sid
    (home / "cs231n").mkdir(parents=True, exist_ok=True)
    (home / "cs231n" / "layers.py").write_text(REFERENCE)
    (home / "Dropout.ipynb").write_text(json.dumps(
        {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": layout(answers)}))
    return home


def write_class(folder: Path) -> Path:
    for sid in CLASS:
        write_student(folder, sid)
    return folder
