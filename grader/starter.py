"""Grading over the course's starter code (``grade --starter DIR``): a submission is graded as
if copied over the instructor's copy of the assignment, so that a ``layers.py`` importing
``cs231n.im2col`` or ``.layer_utils`` imports. The student's own files always win; the files
taken from the starter are recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grader.discover import Target, locate, place, python_files, regular

SHOWN = 5  # starter files named in the feedback's one line
# What the course's fast_layers.py prints when imported without its Cython extension built
# (2016 to 2025), line by line: the starter's words, not the student's
KNOWN_PRINTS = frozenset({
    "run the following from the cs231n directory and try again:",
    "python setup.py build_ext --inplace",
    "You may also need to restart your iPython kernel",
    "=========== You can safely ignore the message below if you are NOT working on "
    "ConvolutionalNetworks.ipynb ===========",
    "You will need to compile a Cython extension for a portion of this assignment.",
    "The instructions to do this will be given in a section of the notebook below.",
    "There will be an option for Colab users and another for Jupyter (local) users.",
})
COURSE_PRINTED = ("The course's fast_layers.py printed its usual note about building a Cython "
                  "extension (needed for ConvolutionalNetworks.ipynb only): nothing to do here.")


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


def own_prints(output: str) -> tuple[str, bool]:
    """OUTPUT without the lines the course's starter files are known to print, and whether
    it held any: what the student's code printed is told as theirs, the rest as the
    course's."""
    lines = output.splitlines()
    own = [line for line in lines if line.strip() not in KNOWN_PRINTS]
    return "\n".join(own), len(own) < len(lines)
