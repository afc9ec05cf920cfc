"""Find submissions, unpack zips safely, and locate the module that defines the dropout functions.

Nothing here imports or parses student code: files are only listed and read as bytes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.inert import IN_NAME, visible

SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "datasets"}
MAX_ZIP_ENTRIES = 2000
MAX_ZIP_BYTES = 64 << 20
MAX_SEARCH_FILES = 5000
MAX_DEPTH = 32  # folders below a submission's top; no real assignment nests a tenth of it
MAX_ENTRIES = 100_000  # files and folders looked at in one submission (skipped folders unread)
MAX_PY_BYTES = 8 << 20  # a .py file larger than this is neither searched nor copied
MAX_HASHED_BYTES = 256 << 20  # past this, a file counts in the hash by its size and mtime
MAX_ID_BYTES = 200  # an id is a folder name (255 bytes at most), with room for ~kind~n
# The files the grader writes beside the results folders: an id must never name one.
OUTPUT_SUFFIXES = (".csv", ".html", ".json", ".xml")
REVIEWS_FOLDER = "reviews"  # in the output folder: the staff's grades (grader.review)
RESERVED_IDS = (REVIEWS_FOLDER,)
DEFINES = b"def dropout_forward"
FC_NET_FILE = "cs231n/classifiers/fc_net.py"  # the notebook's second half


class DiscoveryError(Exception):
    """A usage problem with the path given to the grader (exit status 2)."""


class SubmissionError(Exception):
    """A problem with one submission (a bad zip): it costs that submission its grade only."""


UNREADABLE = "unreadable"  # the content hash of a submission whose files could not be read


@dataclass(frozen=True)
class Submission:
    """One student's work: a directory, a single ``.py`` file or a ``.zip`` of a directory."""

    id: str
    path: Path
    note: str = ""  # why the id is not the entry's name, for the course staff

    @functools.cached_property
    def content_hash(self) -> str:
        """SHA-256 of the submission's files: a regrade is needed only when it changes. A
        submission that cannot be hashed (too deep, too many entries) is hashed by the reason,
        so that it is not regraded until it changes; one that could not be read at all
        (UNREADABLE) is regraded every time."""
        try:
            return hash_files(self.path)
        except SubmissionError as err:
            return hashlib.sha256(f"refused: {err}".encode()).hexdigest()
        except OSError:
            return UNREADABLE

    @property
    def kind(self) -> str:
        """"dir", "zip" or "file"; "link" for an entry that is a symbolic link (never read)."""
        if self.path.is_symlink():
            return "link"
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
    """True if PATH is itself one submission rather than a folder of them: a .py or .zip, a
    folder holding ``cs231n/layers.py`` or ``layers.py``, or a student's repository of the
    whole course (see :func:`lone_definer`)."""
    if path.is_file():
        return path.suffix in (".py", ".zip")
    return _by_layout(path) or lone_definer(path) is not None


def _by_layout(folder: Path) -> bool:
    return (folder / "cs231n" / "layers.py").is_file() or (folder / "layers.py").is_file()


def lone_definer(path: Path) -> Path | None:
    """The one ``.py`` file that defines ``dropout_forward`` under the folder PATH, when PATH
    reads as one student's repository of the whole course: several entries (``assignment1/``,
    ``assignment2/``, ...), no ``.zip``, and that file alone, inside one of the folders, at
    any depth. A folder of students' submissions has such a file in every student's folder
    (the starter defines the function, if only as a stub): None; None too for a folder that
    is a submission by its layout."""
    try:
        if not path.is_dir() or _by_layout(path):
            return None
        entries = [e for e in path.iterdir()
                   if not e.name.startswith(".") and e.name not in SKIP_DIRS]
        if len(entries) < 2 or any(e.suffix == ".zip" for e in entries):
            return None
        found = list(_definers(path))
    except (OSError, SubmissionError):
        return None
    if len(found) != 1 or found[0].parent == path:
        return None
    return found[0]


def _definers(path: Path) -> Iterator[Path]:
    """The .py files under PATH that define dropout_forward, stopping at the second. Every
    file is looked at (no silent cap: past the walk's bounds, a SubmissionError)."""
    count = 0
    for file in walk(path):
        if file.suffix == ".py" and _defines(file):
            yield file
            count += 1
            if count > 1:
                return


def _defines(file: Path) -> bool | None:
    """Whether FILE defines dropout_forward; None if it cannot be read."""
    try:
        return DEFINES in read_regular(file, MAX_PY_BYTES)
    except (OSError, SubmissionError):
        return None


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
        return [_submission(id_, path) for id_, path in assign_ids([path]).items()], []
    if not path.is_dir():
        raise DiscoveryError(f"{path} is a file; to grade it alone it must be a .py or .zip")
    entries, skipped = [], []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_dir() or entry.suffix in (".py", ".zip"):
            entries.append(entry)
        else:
            skipped.append(printable(entry.name))
    if not entries:
        raise DiscoveryError(f"nothing to grade in {path}: no directory, .py or .zip inside")
    submissions = [_submission(id_, entry) for id_, entry in assign_ids(entries).items()]
    return sorted(submissions, key=lambda s: s.id), skipped


def _submission(id_: str, entry: Path) -> Submission:
    """A Submission, with a note for the staff where its id is not simply its name."""
    shown = printable(entry.name)
    if id_ != _natural_id(entry):
        note = (f"{shown} is graded as {id_}: its name is another entry's, or one of the "
                "grader's own files")
    elif shown != entry.name:
        note = f"{shown} is graded as {id_}: its name is not UTF-8 text"
    else:
        note = ""
    return Submission(id_, entry, note)


def _natural_id(entry: Path) -> str:
    return _short(printable(entry.name if entry.is_dir() else entry.stem))


def printable(name: str) -> str:
    """A file name as one line of inert text: bytes that are not UTF-8 (kept by Python as
    surrogates) and control characters shown as escapes (``\\xff``, ``\\x1b``, ``\\n``),
    so that it can be written to any file or terminal."""
    return visible(os.fsencode(name).decode("utf-8", "backslashreplace"), IN_NAME)


def assign_ids(entries: list[Path]) -> dict[str, Path]:
    """Each entry's id: its name without ``.py`` or ``.zip``, as printable text of at most
    MAX_ID_BYTES (a longer one is cut and marked with a digest of the whole name). An id that
    would name one of the grader's own files in the output folder (``grades.csv.py``), and
    ids that several entries would share (``alice/`` and ``alice.py``), become the id with
    ``~`` and the entry's kind instead (``grades.csv~py``, ``alice~dir``), and, should that
    still be taken, a number (``alice~dir~2``), so that no entry can take another's results
    folder or the gradebook's place."""
    natural = {entry: _natural_id(entry) for entry in entries}
    count: dict[str, int] = {}
    for id_ in natural.values():
        count[id_] = count.get(id_, 0) + 1
    ids, taken = {}, set()
    for entry in sorted(entries, key=lambda e: os.fsencode(e.name)):
        id_ = natural[entry]
        if count[id_] > 1 or id_.lower().endswith(OUTPUT_SUFFIXES) or \
                id_.lower() in RESERVED_IDS:
            id_ = f"{id_}~{'dir' if entry.is_dir() else entry.suffix.lstrip('.')}"
        candidate, n = id_, 1
        while candidate in taken or (candidate != natural[entry] and candidate in count):
            n += 1
            candidate = f"{id_}~{n}"
        taken.add(candidate)
        ids[candidate] = entry
    return ids


def _short(id_: str) -> str:
    """ID cut to MAX_ID_BYTES of UTF-8 (a folder name holds at most 255 bytes), marked with a
    digest of the whole."""
    if len(id_.encode()) <= MAX_ID_BYTES:
        return id_
    mark = "~" + hashlib.sha256(id_.encode()).hexdigest()[:12]
    cut = id_.encode()[: MAX_ID_BYTES - len(mark)].decode("utf-8", "ignore")
    return cut + mark


def regular(path: Path) -> bool:
    """A regular file itself: not a symbolic link (which may point anywhere on the machine,
    /etc/shadow or the reference solution), not a FIFO (which would block its reader) nor a
    device (/dev/zero never ends)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path) -> int:
    """A read-only descriptor of PATH, which must be a regular file itself: the open follows no
    link and does not block on a FIFO, and what was opened is checked, not what was looked at
    before. Raises OSError (a SubmissionError for what is not a regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SubmissionError(f"{printable(path.name)} is not a regular file: it is not read")
    return fd


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of PATH, a regular file (see :func:`open_regular`) of at most LIMIT bytes
    (SubmissionError if it is larger)."""
    fd = open_regular(path)
    with open(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SubmissionError(f"{printable(path.name)} is larger than {limit >> 20} MB: "
                              "it is not read")
    return data


def walk(root: Path) -> Iterator[Path]:
    """The regular files under ROOT, folder by folder, in name order; hidden and skipped
    folders (:data:`SKIP_DIRS`) are not entered, links are neither followed nor listed.
    Iterative and bounded: a SubmissionError for folders nested deeper than MAX_DEPTH or more
    than MAX_ENTRIES entries."""
    stack, seen = [(root, 0)], 0
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = []
                for entry in listing:
                    seen += 1
                    if seen > MAX_ENTRIES:
                        raise SubmissionError(f"the submission holds more than {MAX_ENTRIES:,} "
                                              "files and folders: it is not read")
                    entries.append(entry)
        except OSError:
            continue
        entries.sort(key=lambda e: e.name)
        folders = []
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                yield Path(entry.path)
            elif (entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
                    and entry.name not in SKIP_DIRS):
                folders.append(Path(entry.path))
        if folders and depth == MAX_DEPTH:
            raise SubmissionError(f"the submission's folders nest more than {MAX_DEPTH} deep "
                                  f"(under {printable(str(folder.relative_to(root)))[:200]}): "
                                  "it is not read")
        stack += [(f, depth + 1) for f in reversed(folders)]


def hash_files(path: Path) -> str:
    """SHA-256 over a submission's files (relative names as bytes, and contents), in a stable
    order; past MAX_HASHED_BYTES in all, a file counts by its size and modification time."""
    digest, budget = hashlib.sha256(), MAX_HASHED_BYTES
    if path.is_symlink() or not (regular(path) or path.is_dir()):
        raise SubmissionError(f"{printable(path.name)} is a symbolic link or not a regular "
                              "file: it is not read")
    files = [path] if regular(path) else sorted(walk(path), key=_name_order)
    for file in files:
        digest.update(os.fsencode(file.relative_to(path) if file != path else file.name))
        digest.update(b"\0")
        try:
            fd = open_regular(file)
        except (OSError, SubmissionError):
            digest.update(b"\0unreadable\0")
            continue
        with open(fd, "rb") as f:
            info = os.fstat(fd)
            if info.st_size > budget:
                digest.update(f"\0{info.st_size}:{info.st_mtime_ns}\0".encode())
                continue
            while chunk := f.read(1 << 20):
                budget -= len(chunk)
                digest.update(chunk)
    return digest.hexdigest()


def remove_tree(folder: str | Path) -> None:
    """Remove FOLDER and everything in it, as far as it can; never raises. Iterative:
    shutil.rmtree recurses (Python 3.11), and a tree a submission unpacked may be deep."""
    stack, folders = [Path(folder)], []
    while stack:
        current = stack.pop()
        folders.append(current)
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    for current in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(current)


def _name_order(path: Path) -> list[bytes]:
    return [os.fsencode(part) for part in path.parts]


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unpack ARCHIVE into DEST, refusing anything that could escape it or exhaust the disk.
    Whatever goes wrong while it is read (a bad CRC, an encrypted entry, an unknown
    compression, an entry that is both a file and a folder) is a SubmissionError."""
    try:
        zf = zipfile.ZipFile(archive)
    except Exception as exc:  # anything a crafted zip makes the reader raise
        raise SubmissionError(f"{printable(archive.name)} is not a readable zip file "
                              f"({short_error(exc)})") from exc
    with zf:
        try:
            _unpack(zf, printable(archive.name), dest)
        except SubmissionError:
            raise
        except Exception as exc:
            raise SubmissionError(f"{printable(archive.name)} could not be unpacked "
                                  f"({short_error(exc)})") from exc
    return dest


def short_error(exc: BaseException) -> str:
    """An exception as one short line: its type and the start of its message."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unpack(zf: zipfile.ZipFile, name: str, dest: Path) -> None:
    entries = zf.infolist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise SubmissionError(f"{name} holds {len(entries)} entries; "
                              f"at most {MAX_ZIP_ENTRIES} are unpacked")
    budget = MAX_ZIP_BYTES
    for info in entries:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        drive = path.parts[:1] and ":" in path.parts[0]
        if path.is_absolute() or ".." in path.parts or drive:
            raise SubmissionError(f"{name} has an unsafe path: {info.filename!r}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SubmissionError(f"{name} holds a symbolic link: {info.filename!r}")
        if info.flag_bits & 0x1:
            raise SubmissionError(f"{name} holds an encrypted entry ({info.filename!r}): "
                                  "zip it again without a password")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                      zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            raise SubmissionError(f"{name} uses a compression method the grader cannot read "
                                  f"({info.filename!r}): zip it again with the usual one")
        target = dest.joinpath(*path.parts)
        try:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "wb")  # an entry given twice: the last one wins
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise SubmissionError(f"{name} holds {info.filename!r} both as a file and as a "
                                  "folder") from exc
        with zf.open(info) as src, out:
            while chunk := src.read(1 << 16):
                budget -= len(chunk)
                if budget < 0:
                    raise SubmissionError(f"{name} unpacks to more than "
                                          f"{MAX_ZIP_BYTES >> 20} MB")
                out.write(chunk)


def prepare(sub: Submission, scratch: Path | None) -> Path:
    """The directory or file to search: the submission itself, or its zip unpacked in SCRATCH
    (which only a zip needs)."""
    if sub.kind == "link" or (sub.kind != "dir" and not regular(sub.path)):
        raise SubmissionError(f"{printable(sub.path.name)} is a symbolic link or not a regular "
                              "file: it is not read")
    if sub.kind != "zip":
        return sub.path
    dest = scratch / "unzipped"
    if dest.exists():
        remove_tree(dest)
    dest.mkdir(parents=True)
    return extract_zip(sub.path, dest)


def locate(path: Path) -> Target | None:
    """The module holding ``dropout_forward``: ``cs231n/layers.py``, then ``layers.py``, then any
    ``.py`` defining it, nearest the root first. A file defining it beats one that does not.
    None when there is no candidate at all."""
    if path.is_file():
        return Target(root=path.parent, file=path, module=None, display=printable(path.name))
    candidates = []
    for file in python_files(path):
        rel = file.relative_to(path)
        rank = (0 if rel.parts[-2:] == ("cs231n", "layers.py")
                else 1 if rel.name == "layers.py" else 2)
        defines = _defines(file)
        if defines is None:
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
    file = fc_net_file(target)
    if not regular(file):
        return None
    package = target.module.rsplit(".", 1)[0]
    display = PurePosixPath(target.display).parent / "classifiers" / "fc_net.py"
    return f"{package}.classifiers.fc_net", str(display)


def fc_net_file(target: Target) -> Path:
    """Where TARGET's FullyConnectedNet would be: ``classifiers/fc_net.py`` beside its layers."""
    return target.file.parent / "classifiers" / "fc_net.py"


def holds_fc_net(submission: Submission) -> bool:
    """Whether SUBMISSION holds a FullyConnectedNet beside its layers (a zip is not unpacked
    to tell: False)."""
    if submission.kind != "dir":
        return False
    try:
        target = locate(submission.path)
    except SubmissionError:
        return False
    return target is not None and fc_net(target) is not None


def python_files(root: Path) -> Iterator[Path]:
    """The ``.py`` files under ROOT (see :func:`walk`), at most MAX_SEARCH_FILES of them, each
    at most MAX_PY_BYTES."""
    count = 0
    for file in walk(root):
        if file.suffix == ".py" and _small(file):
            count += 1
            if count > MAX_SEARCH_FILES:
                return
            yield file


def _small(file: Path) -> bool:
    try:
        return os.lstat(file).st_size <= MAX_PY_BYTES
    except OSError:
        return False


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
                  display=printable(str(file.relative_to(base))))


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
    the search limits, MAX_ZIP_BYTES in all) into DEST, and return the same target rooted
    there. The copy is readable by all, whatever the umask: as root, the child reads it as a
    uid of its own."""
    files = [target.file] if target.module is None else python_files(target.root)
    root = target.file.parent if target.module is None else target.root
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    budget = MAX_ZIP_BYTES
    for file in files:
        budget -= os.lstat(file).st_size
        if budget < 0:
            raise SubmissionError(f"the submission's Python files hold more than "
                                  f"{MAX_ZIP_BYTES >> 20} MB: they are not copied")
        place(file, dest, file.relative_to(root))
    return Target(dest, dest / target.file.relative_to(root),
                  target.module, target.display)
