"""The pytest plugin that grades: one pytest session runs the checks once per submission.

The run loop takes submissions one at a time, starts each one's sandbox, runs every check
item against it, and hands the submission's own pytest-json-report (plus what the sandbox
saw) to a callback before the next one starts. Between submissions every fixture is torn
down, so a session-scoped fixture lives exactly as long as one submission.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
from pytest_jsonreport.plugin import JSONReport
from pytest_jsonreport.serialize import make_report, make_summary

from grader import discover, notebooks, questions, rubric
from grader.convention import Convention, Starter, read_starter
from grader.discover import FC_NET_FILE
from grader.fc_net import Observations, observe
from grader.sandbox.box import Sandbox
from grader.sandbox.server import ForkServer
from grader.settings import Settings
from grader.student import Student, StudentError
from grader.verdict import Verdict

CHECKS_DIR = Path(__file__).with_name("checks")
VERDICT = pytest.StashKey[Verdict]()
JUDGED = pytest.StashKey[bool]()
CHECK_PREFIX = "check_"


class StreamingReport(JSONReport):
    """pytest-json-report, handing out each submission's test entries as soon as they are done
    (and forgetting them, so a long batch holds only one submission's entries)."""

    def take(self) -> dict:
        tests, self._json_tests = self._json_tests, type(self._json_tests)()
        return tests


def check_id(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name).removeprefix(CHECK_PREFIX)


class GradingPlugin:
    """Fixtures ``student``, ``convention``, ``fc_net``, ``verdict`` and ``rng``, and the
    per-submission run loop."""

    def __init__(self, submissions: Iterable[discover.Submission], settings: Settings,
                 on_done: Callable[[discover.Submission, dict], None], server: ForkServer):
        self.submissions = submissions
        self.server = server
        self.settings = settings
        self.rubric = settings.rubric()
        self.fingerprint = settings.fingerprint()
        self.on_done = on_done
        self.report = StreamingReport()
        self.removals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="remove")
        self.current: Student | None = None
        self.p = Convention("keep")  # what p means in the submission being graded
        self.told: dict[str, str] = {}  # what its checks' feedback said in full, and where
        self.item: pytest.Item | None = None  # the check being run

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture(scope="session")
    def student(self) -> Student:
        """The submission being graded, called through its sandbox."""
        return self.current

    @pytest.fixture(scope="session")
    def convention(self) -> Convention:
        """What p means in this submission: the course's, or with ``auto`` its starter's."""
        return self.p

    @pytest.fixture(scope="session")
    def fc_net(self, student, convention, dropout_layer) -> Observations:
        """The Dropout notebook's FullyConnectedNet cell, run on the submission's own net:
        with the student's dropout layer where it does all the net needs of it, else with the
        course's in its place, so that a mistake of the layer costs the layer checks alone."""
        if student.fc_net is None:
            return Observations(failure=StudentError(
                f"the submission holds no {FC_NET_FILE} beside its layers: the notebook's "
                "second half (dropout inside FullyConnectedNet) is part of this assignment"))
        layer_right = all(found is True for found in dropout_layer.values())
        return observe(student, *student.fc_net, convention.name, not layer_right)

    # The two per-check fixtures take the check from the run loop, not from pytest's
    # `request`: pytest builds a fixture definition anew each time `request` is asked for.

    @pytest.fixture
    def verdict(self) -> Verdict:
        """The check's verdict: record sub-cases on it; the plugin turns it into the outcome."""
        verdict = self.item.stash[VERDICT] = Verdict()
        return verdict

    @pytest.fixture
    def rng(self) -> np.random.Generator:
        """A generator seeded by the check's name: the same inputs on every run and machine."""
        return np.random.default_rng(zlib.crc32(self.item.name.encode()))

    # -- hooks ------------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        """Built-in checks follow the rubric (those of a part turned off are deselected); an
        instructor's extra checks come after them, with points, title and visibility from
        their markers."""
        off = [i for i in items if check_id(i) in self.rubric.turned_off]
        if off:
            items[:] = [i for i in items if i not in off]
            config.hook.pytest_deselected(items=off)
        builtin = [i for i in items if Path(i.path).parent == CHECKS_DIR]
        found = {check_id(item) for item in builtin}
        missing = [cid for cid in self.rubric.ids if cid not in found]
        unknown = sorted(found - set(self.rubric.ids))
        if unknown or missing:
            raise pytest.UsageError(f"checks and rubric disagree: no rubric entry for {unknown}, "
                                    f"no check for {missing}")
        try:
            extras = [rubric.extra_check(item.function, check_id(item))
                      for item in items if item not in builtin]
        except rubric.RubricError as err:
            raise pytest.UsageError(str(err)) from err
        ids = [*self.rubric.ids, *(c.id for c in extras)]
        if len(set(ids)) != len(ids):
            raise pytest.UsageError(f"two checks share an id: {sorted(ids)}")
        self.rubric = self.rubric.with_checks(extras)
        # in every report: the checks it was graded on (by whether it holds an fc_net.py)
        self.check_facts = {has: [asdict(c) for c in self.rubric.graded(has)]
                            for has in (False, True)}
        order = {cid: i for i, cid in enumerate(ids)}
        # hidden checks last: from the first one on, what the code prints is the staff's only
        items.sort(key=lambda item: (self._hidden(item), order[check_id(item)]))

    def _hidden(self, item: pytest.Item) -> bool:
        """Whether ITEM's check is hidden from students (any visibility but "visible")."""
        return self.rubric[check_id(item)].visibility != "visible"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        result = yield  # an exception here is the check's own: the grader failed
        if item.stash.get(VERDICT, None) is not None:
            item.stash[JUDGED] = True
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """A judged check whose verdict failed is a failed test whose report is the feedback
        (pytest.fail would have pytest format a traceback nobody reads, per lost point)."""
        report = yield
        verdict = item.stash.get(VERDICT, None)
        if (call.when == "call" and report.passed and item.stash.get(JUDGED, False)
                and verdict.failed):
            report.outcome, report.longrepr = "failed", verdict.feedback()
        return report

    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo) -> dict:
        meta = {"check": check_id(item)}
        verdict = item.stash.get(VERDICT, None)
        if call.when == "call" and verdict is not None and item.stash.get(JUDGED, False):
            hidden = self._hidden(item)
            said = verdict.feedback(hidden=hidden, told=self.told,
                                    here=self.rubric[check_id(item)].title)
            meta.update(fraction=verdict.fraction, feedback=said,
                        judged=True, misconceptions=verdict.misconceptions,
                        status=verdict.status)
            if hidden:  # the whole story, for the course staff only
                meta["staff_feedback"] = verdict.feedback()
        return meta

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if session.testsfailed:
            raise session.Interrupted("the checks could not be collected")
        # Nobody reads the terminal here; its reporter would cost time on every item and
        # keep every report of a batch of thousands.
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            session.config.pluginmanager.unregister(reporter)
        # One submission ahead: the next child starts (fork, import) while this one is judged.
        staged = None
        try:
            for submission in self.submissions:
                upcoming = self._stage(submission)
                if staged is not None:
                    self._grade(session, staged)
                staged = upcoming
            if staged is not None:
                self._grade(session, staged)
        finally:
            self.removals.shutdown()
        return True

    def _remove_later(self, folder: str | Path) -> None:
        """Remove a used folder in the background: where every delete waits for the disk
        (ext4 mounted with `discard`, for one), the worker judges meanwhile."""
        self.removals.submit(discover.remove_tree, folder)

    # -- one submission ---------------------------------------------------------------------

    def _stage(self, submission: discover.Submission) -> _Staged:
        """Unpack and locate SUBMISSION and launch its child. Never raises: whatever fails
        while the grader handles the submission's files is that submission's problem."""
        staged = _Staged(submission, time.monotonic(), contextlib.ExitStack())
        try:
            scratch = None
            if submission.kind == "zip":
                scratch = Path(tempfile.mkdtemp(prefix="dropout-grader-"))
                staged.resources.callback(self._remove_later, scratch)
            staged.target = discover.locate(discover.prepare(submission, scratch))
            if staged.target is not None:
                staged.fc_net = discover.fc_net(staged.target)  # its own, not the starter's
                staged.box = staged.resources.enter_context(Sandbox(
                    staged.target, self.settings.limits, self.server, self.settings.rng_seed,
                    remove=self._remove_later, starter=self.settings.starter))
        except Exception as err:
            staged.target, staged.fc_net, staged.box = None, None, None
            staged.problem = (
                str(err) if isinstance(err, discover.SubmissionError) else
                f"the grader could not read the submission's files ({discover.short_error(err)})")
        except BaseException:
            staged.resources.close()
            raise
        return staged

    def _grade(self, session: pytest.Session, staged: _Staged) -> None:
        """Run the checks on STAGED and hand its report on. Whatever escapes the checks (none
        should) costs this submission alone: it is recorded as the grader's failure on it."""
        try:
            self._run_checks(session, staged)
        except Exception as err:
            self.current = None
            self.report.take()  # the entries of its checks that did run
            staged.resources.close()
            facts = {"id": staged.submission.id, "path": str(staged.submission.path),
                     "failed": discover.short_error(err),  # no content hash: retried next run
                     "checks": self.check_facts[staged.fc_net is not None]}
            self.on_done(staged.submission, {"grader": facts})

    def _run_checks(self, session: pytest.Session, staged: _Staged) -> None:
        submission, target, box = staged.submission, staged.target, staged.box
        graded = {c["id"] for c in self.check_facts[staged.fc_net is not None]}
        items = [item for item in session.items if check_id(item) in graded]
        facts = {"id": submission.id, "path": str(submission.path),
                 "content_hash": submission.content_hash, "settings": self.fingerprint,
                 "checks": self.check_facts[staged.fc_net is not None]}
        self.p = Convention.choose(
            self.settings.convention or self.rubric.convention,
            Starter() if target is None else read_starter(
                target.file, discover.fc_net_file(target) if staged.fc_net else None))
        facts["p"] = self.p.facts()
        self.told = {}
        if submission.kind in ("dir", "zip"):  # a notebook past the bounds is told, free
            reading = notebooks.of_submission(submission.path)
            facts["notebook"] = reading.problem
            # which answer each question had: a staff grade of another is flagged
            found = questions.assign(reading.answers, self.rubric.questions)
            facts["answers"] = {q.id: questions.digest(found.get(q.id))
                                for q in self.rubric.questions}
        with staged.resources:
            if box is not None:
                box.wait_loaded()
            student = self.current = Student(box, target, staged.problem, staged.fc_net)
            hidden_began, told_before = False, None  # what was told before hidden checks
            for i, item in enumerate(items):
                next_item = items[i + 1] if i + 1 < len(items) else None
                # an item runs once per submission: nothing of the last run may count for this
                item.stash[JUDGED] = False
                if VERDICT in item.stash:
                    del item.stash[VERDICT]
                self.item = item
                if self._hidden(item) and not hidden_began:
                    hidden_began, told_before = True, student.told
                    if box is not None:  # the code may print a hidden check's inputs, now or later
                        box.output.hide()
                item.ihook.pytest_runtest_protocol(item=item, nextitem=next_item)
            self.current = None
        # a failure of the whole submission is told in the summary and the first check only;
        # one met in a hidden check may carry its inputs (an exit code, a size): the staff's
        problem, staff_output = student.told, box.output.hidden_text() if box else ""
        if hidden_began and problem != told_before:
            staff_output = f"[the submission failed in a hidden check] {problem}\n{staff_output}"
            problem = ("The submission's process failed during a hidden check; what happened is "
                       "told to the course staff only.")
        facts.update(file=target.display if target else None, staff_hint=student.staff_hint,
                     output=box.output.text() if box else "",
                     staff_output=staff_output, problem=problem,
                     from_starter=box.from_starter if box else [],
                     sandbox=self.settings.containment.describe())
        tests = self.report.take()
        report = make_report(created=time.time(), duration=time.monotonic() - staged.started,
                             exitcode=0, root=str(CHECKS_DIR), environment={},
                             summary=make_summary(tests, collected=len(items)),
                             tests=list(tests.values()), grader=facts)
        self.on_done(submission, report)


@dataclass
class _Staged:
    """A submission made ready to grade: unpacked, located, its child launched."""

    submission: discover.Submission
    started: float
    resources: contextlib.ExitStack  # its scratch folder and sandbox
    target: discover.Target | None = None
    problem: str | None = None
    box: Sandbox | None = None
    fc_net: tuple[str, str] | None = None  # its FullyConnectedNet: module, file


def run_session(submissions: Iterable[discover.Submission], settings: Settings,
                on_done: Callable[[discover.Submission, dict], None]) -> None:
    """Grade SUBMISSIONS in one pytest session in this process, calling ON_DONE for each.

    Only the grader's own checks are collected: the rootdir, ini file and conftest search are
    pinned to them, and no submission path is ever a pytest argument."""
    with ForkServer(settings.containment.level) as server:
        server.start()  # its numpy import overlaps pytest's start-up
        _run(GradingPlugin(submissions, settings, on_done, server))


def _run(plugin: GradingPlugin) -> None:
    args = [str(CHECKS_DIR), *map(str, plugin.settings.extra_checks),
            "-c", str(CHECKS_DIR / "pytest.ini"), "--rootdir", str(CHECKS_DIR),
            "--confcutdir", str(CHECKS_DIR), "-p", "pytest_jsonreport",
            "-p", "grader.checks.fixtures",
            "--assert=plain", "--capture=no", "-qq", "--no-header", "--json-report-file=none",
            "--json-report-omit", "collectors", "keywords", "log", "streams"]
    for unused in ("cacheprovider", "faulthandler", "logging", "warnings", "doctest",
                   "junitxml", "pastebin", "stepwise", "tmpdir", "monkeypatch", "recwarn",
                   "setuponly", "setupplan", "unittest", "threadexception",
                   "unraisableexception", "debugging"):
        args += ["-p", f"no:{unused}"]
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the instructor's plugins stay out
    try:
        with contextlib.redirect_stdout(io.StringIO()) as chatter:
            code = pytest.main(args, plugins=[plugin, plugin.report])
    finally:
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the grading session failed ({code!r}):\n{chatter.getvalue()}")
