"""The rubric: check id -> points, title, visibility. The default ships as ``rubric.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.convention import NAMES

DEFAULT_PATH = Path(__file__).with_name("rubric.toml")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(Exception):
    """The rubric file is unreadable or names something the grader does not know."""


@dataclass(frozen=True)
class Check:
    id: str
    points: float
    title: str
    visibility: str = "visible"


@dataclass(frozen=True)
class Rubric:
    checks: tuple[Check, ...]
    convention: str = "keep"  # what p means: keep (2018 onwards) or drop (2016-2017)

    def __getitem__(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.checks]

    def with_checks(self, extra: list[Check]) -> Rubric:
        return Rubric((*self.checks, *extra), self.convention)

    @property
    def total(self) -> float:
        return sum(c.points for c in self.checks)


def load(path: Path | None = None) -> Rubric:
    """The default rubric, with the checks that PATH names overridden by PATH's values."""
    default = _parse(DEFAULT_PATH, known=None)
    if path is None:
        return default
    custom = _parse(path, known={c.id: c for c in default.checks})
    overrides = {c.id: c for c in custom.checks}
    return Rubric(tuple(overrides.get(c.id, c) for c in default.checks), custom.convention)


def _parse(path: Path, known: dict[str, Check] | None) -> Rubric:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"cannot read the rubric {path}: {exc}") from exc
    convention = data.get("convention", "keep")
    if convention not in NAMES:
        raise RubricError(f"{path}: convention must be one of {', '.join(NAMES)}, "
                          f"not {convention!r}")
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
        checks.append(Check(check_id, float(points), title, visibility))
    return Rubric(tuple(checks), convention)


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
