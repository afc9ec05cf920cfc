"""Find submissions, unpack zips safely, and locate the module that defines the dropout functions.

Nothing here imports or parses student code: files are only listed and read as bytes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "datasets"}
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_BYTES = 64 << 20
MAX_SEARCH_FILES = 5000
DEFINES = b"def dropout_forward"
FC_NET_FILE = "cs231n/classifiers/fc_net.py"  # the notebook's second half


class DiscoveryError(Exception):
    """A usage problem with the path given to the grader (exit status 2)."""


class SubmissionError(Exception):
    """A problem with one submission (a bad zip): it costs that submission its grade only."""


@dataclass(frozen=True)
class Submission:
    """One student's work: a directory, a single ``.py`` file or a ``.zip`` of a directory."""

    id: str
    path: Path

    @functools.cached_property
    def content_hash(self) -> str:
        """SHA-256 of the submission's files: a regrade is needed only when it changes."""
        return hash_files(self.path)

    @property
    def kind(self) -> str:
        if self.path.is_dir():
            return "dir"
        return "zip" if self.path.suffix == ".zip" else "file"


@dataclass(frozen=True)
class Target:
    """Where the child finds the student's functions.

    ``root`` goes on the child's ``sys.path``; ``module`` is the dotted name to import from it,
    or None for a lone file imported by path; ``display`` is the path shown in feedback."""

    root: Path
    file: Path
    module: str | None
    display: str


def is_submission(path: Path) -> bool:
    """True if PATH is itself one submission rather than a folder of them."""
    if path.is_file():
        return path.suffix in (".py", ".zip")
    return (path / "cs231n" / "layers.py").is_file() or (path / "layers.py").is_file()


def find_submissions(path: Path, single: bool | None = None) -> tuple[list[Submission], list[str]]:
    """The submissions at PATH (sorted by id), and the names of entries that are not ones.

    ``single`` forces the reading: True grades PATH alone, False grades each entry of it;
    None decides with :func:`is_submission`."""
    if not path.exists():
        raise DiscoveryError(f"no such file or directory: {path}")
    path = path.resolve()
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise DiscoveryError(f"cannot read {path}: permission denied")
    if single is None:
        single = is_submission(path)
    if single:
        if path.is_file() and path.suffix not in (".py", ".zip"):
            raise DiscoveryError(f"{path} is not a submission (a directory, .py or .zip)")
        return [Submission(_id_of(path), path)], []
    if not path.is_dir():
        raise DiscoveryError(f"{path} is a file; to grade it alone it must be a .py or .zip")
    submissions, skipped = [], []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_dir() or entry.suffix in (".py", ".zip"):
            submissions.append(Submission(_id_of(entry), entry))
        else:
            skipped.append(entry.name)
    seen: dict[str, Path] = {}
    for sub in submissions:
        if sub.id in seen:
            raise DiscoveryError(
                f"two submissions share the id {sub.id!r}: {seen[sub.id].name} and {sub.path.name}")
        seen[sub.id] = sub.path
    if not submissions:
        raise DiscoveryError(f"nothing to grade in {path}: no directory, .py or .zip inside")
    return sorted(submissions, key=lambda s: s.id), skipped


def _id_of(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def regular(path: Path) -> bool:
    """A regular file itself: not a symbolic link (which may point anywhere on the machine,
    /etc/shadow or the reference solution), not a FIFO (which would block its reader) nor a
    device (/dev/zero never ends)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def hash_files(path: Path) -> str:
    """SHA-256 over a submission's files (relative names and bytes), in a stable order."""
    digest = hashlib.sha256()
    files = [path] if regular(path) else sorted(
        p for p in path.rglob("*") if regular(p) and "__pycache__" not in p.parts)
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unpack ARCHIVE into DEST, refusing anything that could escape it or exhaust the disk."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip file ({exc})") from exc
    with zf:
        entries = zf.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise SubmissionError(f"{archive.name} holds {len(entries)} entries; "
                                  f"at most {MAX_ZIP_ENTRIES} are unpacked")
        budget = MAX_ZIP_BYTES
        for info in entries:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            drive = name.parts[:1] and ":" in name.parts[0]
            if name.is_absolute() or ".." in name.parts or drive:
                raise SubmissionError(f"{archive.name} has an unsafe path: {info.filename!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise SubmissionError(f"{archive.name} holds a symbolic link: {info.filename!r}")
            target = dest.joinpath(*name.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 16):
                    budget -= len(chunk)
                    if budget < 0:
                        raise SubmissionError(f"{archive.name} unpacks to more than "
                                              f"{MAX_ZIP_BYTES >> 20} MB")
                    out.write(chunk)
    return dest


def prepare(sub: Submission, scratch: Path | None) -> Path:
    """The directory or file to search: the submission itself, or its zip unpacked in SCRATCH
    (which only a zip needs)."""
    if sub.path.is_file() and not regular(sub.path):
        raise SubmissionError(f"{sub.path.name} is a symbolic link or not a regular file: "
                              "it is not read")
    if sub.kind != "zip":
        return sub.path
    dest = scratch / "unzipped"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return extract_zip(sub.path, dest)


def locate(path: Path) -> Target | None:
    """The module holding ``dropout_forward``: ``cs231n/layers.py``, then ``layers.py``, then any
    ``.py`` defining it, nearest the root first. A file defining it beats one that does not.
    None when there is no candidate at all."""
    if path.is_file():
        return Target(root=path.parent, file=path, module=None, display=path.name)
    candidates = []
    for file in python_files(path):
        rel = file.relative_to(path)
        rank = (0 if rel.parts[-2:] == ("cs231n", "layers.py")
                else 1 if rel.name == "layers.py" else 2)
        try:
            defines = DEFINES in file.read_bytes()
        except OSError:
            continue
        if rank < 2 or defines:
            candidates.append((not defines, rank, len(rel.parts), str(rel), file))
    if not candidates:
        return None
    file = min(candidates)[-1]
    return _target(path, file)


def fc_net(target: Target) -> tuple[str, str] | None:
    """The module and file (as feedback shows it) of the FullyConnectedNet beside TARGET's
    layer module: ``classifiers/fc_net.py`` in the same package; None when there is none."""
    if target.module is None or "." not in target.module:
        return None
    file = target.file.parent / "classifiers" / "fc_net.py"
    if not regular(file):
        return None
    package = target.module.rsplit(".", 1)[0]
    display = PurePosixPath(target.display).parent / "classifiers" / "fc_net.py"
    return f"{package}.classifiers.fc_net", str(display)


def holds_fc_net(submission: Submission) -> bool:
    """Whether SUBMISSION holds a FullyConnectedNet beside its layers (a zip is not unpacked
    to tell: False)."""
    if submission.kind != "dir":
        return False
    target = locate(submission.path)
    return target is not None and fc_net(target) is not None


def python_files(root: Path):
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py") and regular(Path(folder) / name):
                count += 1
                if count > MAX_SEARCH_FILES:
                    return
                yield Path(folder) / name


def _target(base: Path, file: Path) -> Target:
    """Import FILE as a module of its package (``cs231n`` counts as one even without an
    ``__init__.py``), so relative imports inside it work."""
    package_dir = file.parent
    parts = [file.stem]
    while package_dir != base and (
            (package_dir / "__init__.py").is_file() or package_dir.name == "cs231n"):
        parts.insert(0, package_dir.name)
        package_dir = package_dir.parent
    return Target(root=package_dir, file=file, module=".".join(parts),
                  display=str(file.relative_to(base)))


def place(source: Path, dest: Path, name: Path, move: bool = False) -> Path:
    """Copy (or move) SOURCE to DEST / NAME, making the folders on the way; all readable by
    all, whatever the umask (as root, the child reads them as a uid of its own)."""
    target = dest / name
    for folder in reversed(name.parents[:-1]):
        if not (dest / folder).is_dir():
            (dest / folder).mkdir()
            (dest / folder).chmod(0o755)
    if move:
        source.rename(target)
    else:
        shutil.copyfile(source, target)
    target.chmod(0o644)
    return target


def copy_target(target: Target, dest: Path) -> Target:
    """Copy the Python files the child may import (the target's root, .py files only, within
    the search limits) into DEST, and return the same target rooted there. The copy is
    readable by all, whatever the umask: as root, the child reads it as a uid of its own."""
    files = [target.file] if target.module is None else python_files(target.root)
    root = target.file.parent if target.module is None else target.root
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    for file in files:
        place(file, dest, file.relative_to(root))
    return Target(dest, dest / target.file.relative_to(root),
                  target.module, target.display)
