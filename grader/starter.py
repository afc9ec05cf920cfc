"""Grading over the course's starter code (``grade --starter DIR``): a submission is graded as
if copied over the instructor's copy of the assignment, so that a ``layers.py`` importing
``cs231n.im2col`` or ``.layer_utils`` imports. The student's own files always win; the files
taken from the starter are recorded."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from grader.discover import Target, locate, python_files, regular

SHOWN = 5  # starter files named in the feedback's one line


def overlay(target: Target, dest: Path, starter: Path) -> tuple[Target, list[str]]:
    """TARGET, already copied into DEST, with the starter's Python files it lacks added
    around it; and the names of those files. A file outside any package (a lone ``.py``, or
    ``layers.py`` at the top of a folder) takes the place of the starter's file that defines
    the layer (``cs231n/layers.py``, imported as ``cs231n.layers``), so that its relative
    imports work."""
    home = locate(starter)
    if home is not None and "." in (home.module or "") and "." not in (target.module or ""):
        moved = dest / home.file.relative_to(starter)
        if not moved.exists():
            moved.parent.mkdir(parents=True, exist_ok=True)
            target.file.rename(moved)
            target = Target(dest, moved, home.module, target.display)
    taken = []
    for file in python_files(starter):
        name = file.relative_to(starter)
        copy = dest / name
        if copy.exists():
            continue  # the student's own
        for folder in reversed(copy.relative_to(dest).parents[:-1]):
            if not (dest / folder).is_dir():
                (dest / folder).mkdir()
                (dest / folder).chmod(0o755)
        shutil.copyfile(file, copy)
        copy.chmod(0o644)
        taken.append(str(name))
    return target, taken


def digest(starter: Path | None) -> str:
    """What changes whenever grading over STARTER could change."""
    if starter is None:
        return ""
    sha = hashlib.sha256()
    for file in python_files(starter):
        if regular(file):
            sha.update(str(file.relative_to(starter)).encode())
            sha.update(file.read_bytes())
    return sha.hexdigest()[:16]


def said(taken: list[str]) -> str:
    """The one line of feedback that says what came from the starter."""
    names = ", ".join(taken[:SHOWN]) + (f" and {len(taken) - SHOWN} more"
                                         if len(taken) > SHOWN else "")
    return (f"Graded over the course's starter code: {len(taken)} file(s) your submission "
            f"lacks came from it ({names}).")
