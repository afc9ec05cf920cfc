"""The rubric: check id -> points, title, visibility. The default ships as ``rubric.toml``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from grader.convention import SETTINGS

DEFAULT_PATH = Path(__file__).with_name("rubric.toml")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
SCORING = ("positive", "negative")  # Gradescope's: a question's items add to 0, or take from max
PARTS = ("layers", "fc_net")  # the notebook's two halves of code
FC_NET_MODES = ("auto", "required", "off")  # when the fc_net part is graded


class RubricError(Exception):
    """The rubric file is unreadable or names something the grader does not know."""


@dataclass(frozen=True)
class Check:
    id: str
    points: float
    title: str
    visibility: str = "visible"
    part: str = "layers"  # "fc_net": the checks of the student's FullyConnectedNet


@dataclass(frozen=True)
class Question:
    """An Inline Question of the notebook, graded by the course staff (``grade review``)."""

    id: str
    points: float
    title: str
    number: int  # the notebook's "Inline Question N"; an unnumbered question counts by position
    visibility: str = "visible"
    key_points: tuple[str, ...] = ()  # hints shown beside each answer; they never score
    match: tuple[str, ...] = ()  # phrases of the question's text that name it whatever its number
    scoring: str = "positive"  # rubric items add to 0 (positive) or take from the points


@dataclass(frozen=True)
class Rubric:
    checks: tuple[Check, ...]
    convention: str = "keep"  # what p means: keep (2018 onwards), drop (2016-2017) or auto
    fc_net: str = "auto"  # when the fc_net part is graded (FC_NET_MODES)
    turned_off: tuple[str, ...] = ()  # the ids of the checks of a part that is off
    questions: tuple[Question, ...] = ()

    def __getitem__(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.checks]

    def with_checks(self, extra: list[Check]) -> Rubric:
        return replace(self, checks=(*self.checks, *extra))

    def graded(self, has_fc_net: bool) -> tuple[Check, ...]:
        """The checks a submission is graded on: the fc_net part only where the submission
        holds cs231n/classifiers/fc_net.py, unless the rubric requires it."""
        if has_fc_net or self.fc_net == "required":
            return self.checks
        return tuple(c for c in self.checks if c.part != "fc_net")

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)


def load(path: Path | None = None, fc_net: str | None = None) -> Rubric:
    """The default rubric, with the checks that PATH names overridden by PATH's values; FC_NET
    (one of FC_NET_MODES) overrides when the fc_net part is graded. With it off, its checks
    are left out."""
    rubric = _parse(DEFAULT_PATH, known=None)
    if path is not None:
        custom = _parse(path, known={c.id: c for c in rubric.checks})
        overrides = {c.id: c for c in custom.checks}
        rubric = Rubric(tuple(overrides.get(c.id, c) for c in rubric.checks),
                        custom.convention, custom.fc_net,
                        questions=custom.questions or rubric.questions)
    mode = fc_net or rubric.fc_net
    if mode not in FC_NET_MODES:
        raise RubricError(f"fc_net must be one of {', '.join(FC_NET_MODES)}, not {mode!r}")
    off = tuple(c.id for c in rubric.checks if c.part == "fc_net") if mode == "off" else ()
    return Rubric(tuple(c for c in rubric.checks if c.id not in off), rubric.convention, mode,
                  off, rubric.questions)


def _parse(path: Path, known: dict[str, Check] | None) -> Rubric:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"cannot read the rubric {path}: {exc}") from exc
    convention = data.get("convention", "keep")
    if convention not in SETTINGS:
        raise RubricError(f"{path}: convention must be one of {', '.join(SETTINGS)}, "
                          f"not {convention!r}")
    fc_net = data.get("fc_net", "auto")
    if fc_net not in FC_NET_MODES:
        raise RubricError(f"{path}: fc_net must be one of {', '.join(FC_NET_MODES)}, "
                          f"not {fc_net!r}")
    table = data.get("checks", {})
    if not isinstance(table, dict) or (known is None and not table):
        raise RubricError(f"{path}: no [checks.<id>] tables")
    checks = []
    for check_id, spec in table.items():
        base = (known or {}).get(check_id)
        if known is not None and base is None:
            raise RubricError(f"{path}: unknown check id {check_id!r} "
                              f"(known: {', '.join(known)})")
        points = spec.get("points", base.points if base else None)
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise RubricError(f"{path}: check {check_id!r} needs points >= 0, got {points!r}")
        visibility = spec.get("visibility", base.visibility if base else "visible")
        if visibility not in VISIBILITIES:
            raise RubricError(f"{path}: check {check_id!r} has visibility {visibility!r}; "
                              f"use one of {', '.join(VISIBILITIES)}")
        title = str(spec.get("title", base.title if base else check_id.replace("_", " ")))
        part = base.part if base else spec.get("part", "layers")
        if part not in PARTS:
            raise RubricError(f"{path}: check {check_id!r} has part {part!r}; "
                              f"use one of {', '.join(PARTS)}")
        checks.append(Check(check_id, float(points), title, visibility, part))
    asked = _questions(path, data.get("questions", {}))
    if clash := {q.id for q in asked} & {c.id for c in (*checks, *(known or {}).values())}:
        raise RubricError(f"{path}: a question may not share a check's id: {sorted(clash)}")
    return Rubric(tuple(checks), convention, fc_net, questions=asked)


def _questions(path: Path, table: object) -> tuple[Question, ...]:
    """The [questions.<id>] tables: each needs points; its number defaults to its position."""
    if not isinstance(table, dict):
        raise RubricError(f"{path}: questions must be [questions.<id>] tables")
    questions = []
    for position, (question_id, spec) in enumerate(table.items(), 1):
        where = f"{path}: question {question_id!r}"
        if not re.fullmatch(r"[A-Za-z0-9][\w-]{0,63}", question_id, re.ASCII):
            raise RubricError(f"{where}: an id is letters, digits, _ and - (it names a file)")
        points = spec.get("points") if isinstance(spec, dict) else None
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise RubricError(f"{where} needs points >= 0, got {points!r}")
        number = spec.get("number", position)
        visibility = spec.get("visibility", "visible")
        scoring = spec.get("scoring", "positive")
        phrases = {key: spec.get(key, []) for key in ("key_points", "match")}
        if isinstance(number, bool) or not isinstance(number, int):
            raise RubricError(f"{where}: number must be a whole number, not {number!r}")
        if visibility not in VISIBILITIES:
            raise RubricError(f"{where} has visibility {visibility!r}; use one of "
                              f"{', '.join(VISIBILITIES)}")
        if scoring not in SCORING:
            raise RubricError(f"{where}: scoring must be one of {', '.join(SCORING)}")
        for key, value in phrases.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise RubricError(f"{where}: {key} must be a list of phrases")
        questions.append(Question(
            question_id, float(points), str(spec.get("title", f"Inline Question {number}")),
            number, visibility, tuple(phrases["key_points"]), tuple(phrases["match"]), scoring))
    return tuple(questions)


def extra_check(function, check_id: str) -> Check:
    """An instructor's check function described by its pytest markers: points (required),
    title (default: the docstring's first line), visibility (default: visible)."""
    marks = {m.name: m.args for m in getattr(function, "pytestmark", [])}
    where = f"extra check {function.__module__}.{function.__name__}"
    points = (marks.get("points") or (None,))[0]
    if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
        raise RubricError(f"{where} needs @pytest.mark.points(N) with N >= 0")
    doc = (function.__doc__ or "").strip().splitlines()
    title = (marks.get("title") or (doc[0] if doc else check_id.replace("_", " "),))[0]
    visibility = (marks.get("visibility") or ("visible",))[0]
    if visibility not in VISIBILITIES:
        raise RubricError(f"{where}: visibility {visibility!r} is not one of "
                          f"{', '.join(VISIBILITIES)}")
    return Check(check_id, float(points), str(title), visibility)


def load_extra_checks(paths: list[Path], known: list[str]) -> list[Check]:
    """The checks in an instructor's files (check_*.py, or folders of them), validated; their
    ids must not repeat each other or KNOWN. The files are the instructor's: importing them is
    safe, and done here only to describe them."""
    import importlib.util

    checks: list[Check] = []
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("check_*.py")))]
    for number, file in enumerate(files):
        spec = importlib.util.spec_from_file_location(f"_extra_checks_{number}", file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise RubricError(f"cannot load the extra checks in {file}: {exc!r}") from exc
        for name, function in sorted(vars(module).items()):
            if name.startswith("check_") and callable(function):
                checks.append(extra_check(function, name.removeprefix("check_")))
    ids = [*known, *(c.id for c in checks)]
    if len(set(ids)) != len(ids):
        raise RubricError(f"extra checks repeat a check id: {sorted(ids)}")
    return checks
