"""The Gradescope autograder bundle: a zip with ``setup.sh``, ``run_autograder``, the grader as
a wheel, and the rubric. Never the reference solution."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import tempfile
import zipfile
from pathlib import Path

from grader.discover import python_files

PACKAGE = Path(__file__).resolve().parent  # grader/, in a clone or where pip installed it
DISTRIBUTION = "dropout-grader"
WHEEL = b"Wheel-Version: 1.0\nGenerator: dropout-grader\nRoot-Is-Purelib: true\nTag: py3-none-any\n"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (from /autograder/source).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "$0")" && pwd)"
find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}
PYTHON="$(find_python || true)"
if [ -z "$PYTHON" ]; then  # Gradescope's Ubuntu images: install a recent enough Python
  apt-get update -qq && apt-get install -y -qq python3.11 python3.11-venv >/dev/null
  PYTHON="$(command -v python3.11)"
fi
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet "$SOURCE"/wheels/*.whl
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission, write
# /autograder/results/results.json. A results file is written whatever happens.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
OUT="$(mktemp -d)"
mkdir -p "$ROOT/results"
EXTRA=()
if [ -d "$SOURCE/extra_checks" ]; then EXTRA=(--extra-checks "$SOURCE/extra_checks"); fi
if [ -d "$SOURCE/starter" ]; then EXTRA+=(--starter "$SOURCE/starter"); fi
"$ROOT/venv/bin/grade" "$ROOT/submission" --single --out "$OUT" \
  --rubric "$SOURCE/rubric.toml" --jobs 1 "${EXTRA[@]}" || true
RESULT="$(ls "$OUT"/*/results.json 2>/dev/null | head -n 1)"
if [ -n "$RESULT" ]; then
  cp "$RESULT" "$ROOT/results/results.json"
else
  cat > "$ROOT/results/results.json" <<'JSON'
{"score": 0, "tests": [],
 "output": "The grader failed on this submission: not your fault. Tell the course staff."}
JSON
fi
"""


class BundleError(Exception):
    """The bundle cannot be built here."""


def build_bundle(dest: Path, rubric: Path | None = None,
                 extra_checks: list[Path] | None = None,
                 starter: Path | None = None) -> list[str]:
    """Write the autograder zip to DEST; return the names it holds. STARTER, the course's
    starter code, goes in too (its Python files), to grade each submission over."""
    rubric_text = (rubric or PACKAGE / "rubric.toml").read_text()
    with tempfile.TemporaryDirectory(prefix="dropout-bundle-") as tmp:
        wheels = Path(tmp) / "wheels"
        build_wheel(wheels)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16
                zf.writestr(info, text)
            zf.writestr("rubric.toml", rubric_text)
            for check in extra_checks or []:
                zf.write(check, f"extra_checks/{check.name}")
            for file in python_files(starter) if starter else []:
                zf.write(file, f"starter/{file.relative_to(starter)}")
            for wheel in sorted(wheels.glob("*.whl")):
                zf.write(wheel, f"wheels/{wheel.name}")
            return zf.namelist()


def build_wheel(folder: Path) -> Path:
    """The grader as a wheel in FOLDER, made from the installed package itself: the same
    whether it was installed from a clone, a git URL or a wheel (no build tools needed)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as err:
        raise BundleError(f"the grader is not installed ({DISTRIBUTION}): pip install it") \
            from err
    info = f"dropout_grader-{dist.version}.dist-info"
    files = {f"grader/{path.relative_to(PACKAGE)}": path.read_bytes()
             for path in sorted(PACKAGE.rglob("*"))
             if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    # a wheel's or pip's METADATA; an egg-info's PKG-INFO (a clone's editable install) is the
    # same format
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not metadata:
        raise BundleError(f"the grader's installed metadata ({DISTRIBUTION}) cannot be read")
    files[f"{info}/METADATA"] = metadata.encode()
    if entry_points := dist.read_text("entry_points.txt"):
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    files[f"{info}/WHEEL"] = WHEEL
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dropout_grader-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
