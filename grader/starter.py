"""Grading over the course's starter code (``grade --starter DIR``): a submission is graded as
if copied over the instructor's copy of the assignment, so that a ``layers.py`` importing
``cs231n.im2col`` or ``.layer_utils`` imports. The student's own files always win; the files
taken from the starter are recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader.discover import Target, locate, place, python_files, regular

SHOWN = 5  # starter files named in the feedback's one line


def overlay(target: Target, dest: Path, starter: Path) -> tuple[Target, list[str]]:
    """TARGET, already copied into DEST, with the starter's Python files it lacks added
    around it; and the names of those files. Files outside any package (a lone ``.py``, or
    ``layers.py`` at the top of a folder, with the files beside it) move into the package of
    the starter's file that defines the layer (``cs231n/layers.py``, imported as
    ``cs231n.layers``), so that their relative imports work."""
    home = locate(starter)
    base = home.root if home is not None else starter  # where the starter's package lies
    if home is not None and "." in (home.module or "") and "." not in (target.module or ""):
        package = home.file.parent.relative_to(base)
        if not (dest / package / home.file.name).exists():
            flat = [p for p in dest.iterdir() if p.suffix == ".py" and regular(p)]
            for file in flat:  # the student's layer file takes the name of the starter's
                name = home.file.name if file == target.file else file.name
                moved = place(file, dest, package / name, move=True)
                if file == target.file:
                    target = Target(dest, moved, home.module, target.display)
    taken = []
    for file in python_files(base):
        name = file.relative_to(base)
        if not (dest / name).exists():  # the student's own wins
            place(file, dest, name)
            taken.append(str(name))
    return target, taken


def digest(starter: Path | None) -> str:
    """What changes whenever grading over STARTER could change."""
    if starter is None:
        return ""
    sha = hashlib.sha256()
    for file in python_files(starter):
        sha.update(str(file.relative_to(starter)).encode())
        sha.update(file.read_bytes())
    return sha.hexdigest()[:16]


def said(taken: list[str]) -> str:
    """The one line of feedback that says what came from the starter."""
    names = ", ".join(taken[:SHOWN]) + (f" and {len(taken) - SHOWN} more"
                                         if len(taken) > SHOWN else "")
    return (f"Graded over the course's starter code: {len(taken)} file(s) your submission "
            f"lacks came from it ({names}).")
