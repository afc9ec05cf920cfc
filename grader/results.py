"""From a submission's pytest-json-report to scores: ``results.json`` (Gradescope's format)
and the gradebook ``grades.csv``, always rebuilt from the results files on disk."""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader import __version__, starter
from grader.discover import UNREADABLE, Submission
from grader.inert import cell, inert_tree, uncell
from grader.rubric import Check, Rubric

RESULTS = "results.json"
RAW_REPORT = "pytest-report.json"
STAFF = "staff.json"  # what only the course staff are told (never in results.json)
ID_AT = {RESULTS: ("extra_data", "id"), RAW_REPORT: ("grader", "id"), STAFF: ("id",)}
GRADEBOOK = "grades.csv"
MAX_RESULTS_BYTES = 64 << 20  # far more than any results.json the grader writes
# A check's or submission's problem statuses, the first present winning; none of them is "ok".
STATUS_ORDER = ("timeout", "memory", "crash", "error", "missing")
GRADER_FAILED = ("The grader itself failed on this check: this is not your fault. "
                 "Please tell the course staff.")


@dataclass
class CheckResult:
    id: str
    title: str
    score: float
    max_score: float
    feedback: str
    visibility: str = "visible"
    misconceptions: list[str] = field(default_factory=list)
    grader_error: str | None = None
    staff_feedback: str | None = None  # a hidden check's full feedback
    staff: dict | None = None  # a written answer's grade: {"graded": bool, "changed": bool}

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


@dataclass
class SubmissionResult:
    id: str
    status: str
    checks: list[CheckResult]
    file: str | None = None
    problem: str | None = None
    output: str = ""
    content_hash: str = ""
    execution_time: float = 0.0
    settings: str = ""
    path: str = ""  # where the submission was graded from
    sandbox: str = ""  # the containment it was graded in: "sandbox: ..."
    from_starter: list[str] = field(default_factory=list)  # files the starter code gave it
    staff_output: str = ""  # what the code printed once hidden checks ran: the staff's only
    p: dict = field(default_factory=dict)  # the meaning of p it was graded with (Convention.facts)
    notebook: str | None = None  # why its notebook's written answers could not be read
    adjustments: list[dict] = field(default_factory=list)  # the staff's (grader.adjust)
    staff_hint: str | None = None  # what the course staff can do about it (never the student)
    answers: dict = field(default_factory=dict)  # question id -> its answer's digest

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    @property
    def scope(self) -> str:
        """'public checks' when no hidden check ran: never a claim about checks not run."""
        hidden = any(c.visibility != "visible" for c in self.checks)
        return "checks" if hidden else "public checks"


def from_report(report: dict, rubric: Rubric) -> SubmissionResult:
    """Score one submission's pytest-json-report against the checks it was graded with (the
    rubric plus any extra checks, as the report records them; RUBRIC if it does not)."""
    facts = report["grader"]
    if facts.get("checks"):
        rubric = Rubric(tuple(Check(**c) for c in facts["checks"]), rubric.convention)
    if facts.get("failed"):  # outside any check: no check's result can be trusted
        failure = grader_failure(facts["id"], rubric, facts["failed"])
        failure.path = facts.get("path", "")  # its written answers are still there to read
        return failure
    by_check = {t.get("metadata", {}).get("check"): t for t in report.get("tests", [])}
    checks, statuses = [], set()
    for check in rubric.checks:
        test = by_check.get(check.id)
        meta = (test or {}).get("metadata", {})
        if test is not None and meta.get("judged") and test["outcome"] in ("passed", "failed"):
            fraction = 1.0 if test["outcome"] == "passed" else float(meta["fraction"])
            result = CheckResult(check.id, check.title, round(check.points * fraction, 4),
                                 check.points, meta.get("feedback", ""), check.visibility,
                                 list(meta.get("misconceptions", [])),
                                 staff_feedback=meta.get("staff_feedback"))
            statuses.add(meta.get("status"))
        else:
            trace = "\n".join(str(stage.get("longrepr", "")) for stage in
                              (test or {}).values() if isinstance(stage, dict))
            result = CheckResult(check.id, check.title, 0.0, check.points, GRADER_FAILED,
                                 check.visibility, grader_error=trace or "the check did not run")
            statuses.add("error")
        checks.append(result)
    status = next((s for s in STATUS_ORDER if s in statuses), "ok")
    return SubmissionResult(facts["id"], status, checks, facts.get("file"), facts.get("problem"),
                            facts.get("output", ""), facts.get("content_hash", ""),
                            round(float(report.get("duration", 0.0)), 3),
                            facts.get("settings", ""), facts.get("path", ""),
                            facts.get("sandbox", ""), list(facts.get("from_starter", [])),
                            facts.get("staff_output", ""), dict(facts.get("p") or {}),
                            notebook=facts.get("notebook"), staff_hint=facts.get("staff_hint"),
                            answers=dict(facts.get("answers") or {}))


def grader_failure(sub_id: str, rubric: Rubric, why: str,
                   has_fc_net: bool = True) -> SubmissionResult:
    """A valid result for a submission the grader could not grade: 0 points on the checks it
    would have been graded on (HAS_FC_NET: whether it holds the FullyConnectedNet), says why."""
    checks = [CheckResult(c.id, c.title, 0.0, c.points, GRADER_FAILED, c.visibility,
                          grader_error=why) for c in rubric.graded(has_fc_net)]
    return SubmissionResult(sub_id, "error", checks,
                            problem=f"The grader failed on this submission ({why}).")


def summary(result: SubmissionResult) -> str:
    """The top-level text of results.json: score, what went wrong, what the code printed."""
    lines = [f"Score: {result.score:g} / {result.max_score:g} "
             f"({len(result.checks) - len(result.failed)} of {len(result.checks)} "
             f"{result.scope} passed)."]
    if result.file:
        lines.append(f"Graded file: {result.file}")
    if result.from_starter:
        lines.append(starter.said(result.from_starter))
    lines += notices(result)
    if result.status != "ok":
        lines.append(f"Status: {result.status}. See the checks below for the details.")
    course, own = printed(result)
    if course:
        lines.append(course)
    if own:
        lines += ["", "Your code printed:", *own]
    return "\n".join(lines)


def notices(result: SubmissionResult) -> list[str]:
    """What the student is told of the submission beside its checks: the failure of the whole
    of it, the meaning of p it was graded with, a notebook that could not be read."""
    said = [result.problem, result.p.get("said")]
    if result.notebook:
        said.append(f"Your notebook: {result.notebook}: its written answers were not read "
                    "(this costs no points here).")
    return [line for line in said if line]


def printed(result: SubmissionResult) -> tuple[str | None, list[str]]:
    """What the code printed: the line saying the course's starter files printed their usual
    note (None if they did not), and the lines the student's own code printed."""
    own, course = starter.own_prints(result.output)
    return starter.COURSE_PRINTED if course else None, own.rstrip().splitlines()


def to_gradescope(result: SubmissionResult) -> dict:
    """The submission in Gradescope's results.json format, every string in it inert (no
    control character of the student's reaches a terminal, a CI log or a JUnit file)."""
    tests = []
    for check in result.checks:
        test = {"name": check.title, "score": check.score, "max_score": check.max_score,
                "status": "passed" if check.passed else "failed", "output": check.feedback,
                "visibility": check.visibility,
                "extra_data": {"check": check.id, "misconceptions": check.misconceptions}}
        if check.grader_error:
            test["extra_data"]["grader_error"] = check.grader_error
        if check.staff_feedback:
            test["extra_data"]["staff_feedback"] = check.staff_feedback
        if check.staff is not None:
            test["extra_data"]["staff"] = check.staff
        tests.append(test)
    return _inert({"score": result.score, "execution_time": result.execution_time,
                   "output": summary(result), "tests": tests,
                   "extra_data": {"id": result.id, "status": result.status, "file": result.file,
                                  "content_hash": result.content_hash, "grader": __version__,
                                  "settings": result.settings, "path": result.path,
                                  "sandbox": result.sandbox, "from_starter": result.from_starter,
                                  "captured_output": result.output,
                                  "staff_output": result.staff_output, "p": result.p,
                                  "notebook": result.notebook,
                                  "adjustments": result.adjustments,
                                  "answers": result.answers}})


def _inert(data: dict) -> dict:
    """DATA (a results.json) with every string in it inert, but the path the submission was
    graded from: the grader opens it again (its notebook, its graded file), and shows it
    nowhere."""
    extra = data.get("extra_data")
    path = extra.get("path") if isinstance(extra, dict) else None
    data = inert_tree(data)
    if isinstance(data.get("extra_data"), dict) and "path" in data["extra_data"]:
        data["extra_data"]["path"] = path
    return data


def from_gradescope(data: dict) -> SubmissionResult:
    """Read back a results.json written by :func:`to_gradescope`."""
    extra = data["extra_data"]
    checks = [CheckResult(t["extra_data"]["check"], t["name"], t["score"], t["max_score"],
                          t.get("output", ""), t.get("visibility", "visible"),
                          t["extra_data"].get("misconceptions", []),
                          t["extra_data"].get("grader_error"),
                          t["extra_data"].get("staff_feedback"),
                          _dict(t["extra_data"].get("staff"))) for t in data["tests"]]
    return SubmissionResult(extra["id"], extra["status"], checks, extra.get("file"), None,
                            extra.get("captured_output", ""), extra.get("content_hash", ""),
                            data.get("execution_time", 0.0), extra.get("settings", ""),
                            extra.get("path", ""), extra.get("sandbox", ""),
                            extra.get("from_starter", []), extra.get("staff_output", ""),
                            extra["p"] if isinstance(extra.get("p"), dict) else {},
                            notebook=_text(extra.get("notebook")),
                            adjustments=[a for a in extra.get("adjustments") or []
                                         if isinstance(a, dict)],
                            answers=_dict(extra.get("answers")) or {})


def write_atomic(path: Path, text: str, folder: int | None = None,
                 durable: bool = False) -> None:
    """Write TEXT to PATH so that readers see the old file or the new one, never a part. With
    FOLDER (a descriptor of PATH's folder), the file is made and renamed there, by name: no
    link on the way is followed. Text UTF-8 cannot encode (a lone surrogate) is escaped.
    DURABLE (the staff's own files, which nothing can compute again): on disk before the
    call returns, a crash or power cut leaving the old file or the new one."""
    if folder is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return write_atomic(path, text, folder, durable)
        finally:
            os.close(folder)
    while True:
        tmp = f".{path.name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644, dir_fd=folder)
            break
        except FileExistsError:
            continue
    try:
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            os.fchmod(fd, 0o644)  # whatever the umask: the course staff read the results
            f.write(text)
            if durable:
                f.flush()
                os.fsync(fd)
        os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        if durable:
            os.fsync(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise


@contextlib.contextmanager
def locked(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file LOCK (made if missing) for the block: the staff's
    files are read, changed and written under it."""
    # read-only is enough to lock; a TA of the staff group may lock what another made
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o664)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _open_folder(out: Path, sub_id: str, make: bool) -> int | None:
    """A descriptor of OUT/<SUB_ID>, reached without following a link. With MAKE, whatever
    else stands there (a link to another student's folder, left by an earlier run or planted
    in a shared output folder; a file) is removed and a real folder made; without, None.
    Raises OSError where the folder cannot be reached."""
    top = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _ in range(3):
            try:
                return os.open(sub_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                               dir_fd=top)
            except FileNotFoundError:
                if not make:
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(sub_id, 0o755, dir_fd=top)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if not make:
                    return None
                os.unlink(sub_id, dir_fd=top)
        raise OSError(f"{out / sub_id} keeps changing under the grader")
    finally:
        os.close(top)


def save(out: Path, report: dict | None, result: SubmissionResult) -> None:
    """Write OUT/<id>/pytest-report.json (unless REPORT is None: it is there already), then
    OUT/<id>/results.json (the file that counts), into a real folder OUT/<id> (see
    :func:`_open_folder`)."""
    out.mkdir(parents=True, exist_ok=True)
    folder = _open_folder(out, result.id, make=True)
    try:
        if report is not None:
            write_atomic(out / result.id / RAW_REPORT,
                         json.dumps(report, default=str, separators=(",", ":")), folder)
        write_atomic(out / result.id / RESULTS, json.dumps(to_gradescope(result), indent=2),
                     folder)
        # what only the course staff are told, beside the file a student may be shown
        write_atomic(out / result.id / STAFF, json.dumps(
            {"id": result.id, "staff_hint": result.staff_hint}), folder)
    finally:
        os.close(folder)


def _read_raw(out: Path, sub_id: str, name: str = RESULTS) -> dict | None:
    """OUT/<SUB_ID>/NAME (results.json, or the staff's file) as JSON, when it is a regular
    file in a real folder (no link followed), of a sane size, and says it is SUB_ID's; else
    None."""
    try:
        folder = _open_folder(out, sub_id, make=False)
    except OSError:
        return None
    if folder is None:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=folder)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = json.loads(f.read(MAX_RESULTS_BYTES + 1)[:MAX_RESULTS_BYTES])
        found = data
        for key in ID_AT[name]:
            found = found[key]
        return data if found == sub_id else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    finally:
        os.close(folder)


def read_report(out: Path, sub_id: str) -> dict | None:
    """SUB_ID's pytest report in OUT (what its result is made from), or None."""
    return _read_raw(out, sub_id, RAW_REPORT)


def read(out: Path, sub_id: str) -> SubmissionResult | None:
    """The result of SUB_ID in OUT, with what the staff's file adds, or None if it is missing
    or unreadable."""
    data = _read_raw(out, sub_id)
    try:  # inert as it is read too: a file written by an earlier version, or planted
        result = None if data is None else from_gradescope(_inert(data))
    except (KeyError, TypeError, ValueError):
        return None
    if result is not None:
        staff = _read_raw(out, sub_id, STAFF) or {}
        result.staff_hint = _text(staff.get("staff_hint"))
    return result


def result_ids(out: Path) -> list[str]:
    """The ids OUT may hold a result of: its folders (not links to one), sorted."""
    try:
        with os.scandir(out) as listing:
            return sorted(e.name for e in listing if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def iter_results(out: Path) -> Iterator[SubmissionResult]:
    """Every readable result under OUT, by id, one at a time: folders that are links, and
    results that name another id, are not read."""
    for sub_id in result_ids(out):
        if (result := read(out, sub_id)) is not None:
            yield result


@dataclass(frozen=True)
class Row:
    """A gradebook line: what the terminal table needs, without the feedback."""

    id: str
    score: float
    max_score: float
    status: str
    failed: tuple[str, ...]
    checks: int
    p: dict = field(default_factory=dict)  # the meaning of p it was graded with
    staff_hint: str | None = None  # what the course staff can do about it
    adjusted: str = ""  # the staff's adjustments, with their reasons
    flags: str = ""  # written answers changed since the staff graded them


def is_current(out: Path, submission: Submission, fingerprint: str) -> bool:
    """True if OUT holds a result for SUBMISSION graded from the same files and settings, on
    which the grader itself failed in no check (that is retried)."""
    data = _read_raw(out, submission.id)
    if data is None or submission.content_hash == UNREADABLE:
        return False
    extra = data["extra_data"]
    tests = data.get("tests")
    failed = any(isinstance(t, dict) and isinstance(t.get("extra_data"), dict)
                 and t["extra_data"].get("grader_error")
                 for t in (tests if isinstance(tests, list) else []))
    return (not failed and extra.get("content_hash") == submission.content_hash
            and extra.get("settings") == fingerprint)


def write_gradebook(out: Path, rubric: Rubric,
                    roster: dict[str, str] | None = None) -> list[Row]:
    """Rebuild OUT/grades.csv from the results files under OUT, reading one at a time;
    return its rows. A check a submission was not graded on (the FullyConnectedNet's, where it
    holds no fc_net.py) is an empty cell. With a ROSTER (id -> name) it has a name column,
    and rostered students without a result are rows with status missing and 0 points; without
    one, the roster the gradebook was last written with is kept (the staff's later commands
    need not be given it again)."""
    roster = roster if roster is not None else kept_roster(out)
    rows, points, columns = [], {}, list(rubric.ids)
    for result in iter_results(out):
        # a written answer not graded yet is an empty cell, not a 0
        points[result.id] = {c.id: c.score for c in result.checks
                             if c.staff is None or c.staff.get("graded")}
        columns += [c.id for c in result.checks if c.id not in columns]  # extra checks
        rows.append(Row(result.id, result.score, result.max_score, result.status,
                        tuple(c.id for c in result.failed), len(result.checks), result.p,
                        result.staff_hint, "; ".join(
                            f"{a.get('check')} {float(a.get('points', 0)):+g}: {a.get('reason')}"
                            for a in result.adjustments),
                        "; ".join(f"{c.id}: answer changed since it was graded"
                                  for c in result.checks if c.staff and c.staff.get("changed"))))
    graded = {row.id for row in rows}
    rows += [Row(sid, 0.0, rubric.total, "missing", tuple(rubric.ids), len(rubric.ids))
             for sid in sorted(set(roster or {}) - graded)]
    rows.sort(key=lambda row: row.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", *(["name"] if roster else []), "score", "max_score", "status",
                     *map(cell, columns), "adjustments", "flags"])
    for row in rows:
        earned = points.get(row.id)  # None: a rostered student without a result
        cells = ([f"{earned[cid]:g}" if cid in earned else "" for cid in columns]
                 if earned is not None else ["0"] * len(columns))
        # text cells inert in a spreadsheet; the numbers stay numbers
        writer.writerow([cell(row.id), *([cell(roster.get(row.id, ""))] if roster else []),
                         f"{row.score:g}", f"{row.max_score:g}", cell(row.status), *cells,
                         cell(row.adjusted), cell(row.flags)])
    write_atomic(out / GRADEBOOK, buffer.getvalue())
    return rows


def kept_roster(out: Path) -> dict[str, str] | None:
    """The roster (id -> name) OUT's gradebook was last written with: its rows with a name,
    and its students missing then; None where it had none (or is unreadable: a spreadsheet
    may have saved it its own way)."""
    try:
        with (out / GRADEBOOK).open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        if not rows or "name" not in rows[0]:
            return None
        return {uncell(r["id"]): uncell(r["name"] or "") for r in rows
                if r["name"] or r.get("status") == "missing"}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError):
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: object) -> dict | None:
    return value if isinstance(value, dict) else None
