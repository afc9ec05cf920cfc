"""Student text made inert for the places it reaches the staff: terminals and CI logs (no
control sequence: every control character shown as an escape) and spreadsheets (no formula:
a cell that would start one is quoted)."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, and the characters that reorder or break lines on a screen
# (bidirectional marks, overrides and isolates; the Unicode line and paragraph separators)
_OTHERS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
IN_TEXT = re.compile(f"[{_OTHERS}]")  # lines and tabs kept: printed output, feedback
IN_NAME = re.compile(f"[\t\n{_OTHERS}]")  # a name is one line
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list for CSV injection


def visible(text: str, pattern: re.Pattern[str] = IN_TEXT) -> str:
    """TEXT with every control character PATTERN finds shown as its escape, as ``repr``
    shows it (``\\x1b``, ``\\r``, ``\\u202e``): printed to a terminal it moves no cursor,
    sets no title and rings no bell. Newlines and tabs stay, unless PATTERN is IN_NAME."""
    return pattern.sub(lambda found: repr(found.group())[1:-1], text)


def cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @, a tab or
    a carriage return gets a leading single quote (OWASP's rule); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def inert_tree(value: object) -> object:
    """VALUE (JSON data) with every string in it made :func:`visible`."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(str(k)): inert_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [inert_tree(v) for v in value]
    return value


def uncell(value: str) -> str:
    """A CSV cell as :func:`cell` wrote it, read back: the quote it added taken away."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value
