"""Grade a list of submissions with N worker processes, each running one pytest session.

Workers take submissions from a shared queue one at a time (each holds at most two: the one
it grades and the next, whose child is starting), so a slow submission holds one worker while
the rest of the batch keeps flowing. Each worker writes a submission's results
as soon as it is done; a worker that dies costs only the submission it was grading.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from grader import discover, results, review
from grader.discover import Submission
from grader.sandbox import containment, jail
from grader.sandbox.containment import Containment
from grader.settings import Settings

POLL_SECONDS = 0.5
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _worker(tasks, events, levels, settings: Settings, out: str, cpu: int | None,
            scratch: str) -> None:
    """A worker process: one pytest session over the submissions it takes from TASKS, on CPU
    alone (with its fork server and children) if given, with the containment it takes from
    LEVELS (found by the grader meanwhile; None: there is nothing to grade). Its temporary
    folders (unpacked zips, children's copies) are made in SCRATCH/<its pid>, which the
    grader removes if it dies."""
    from grader.plugin import run_session  # pytest and numpy load in the workers only

    _die_with_parent()
    tempfile.tempdir = _scratch_of(Path(scratch), os.getpid())
    os.mkdir(tempfile.tempdir, 0o755)
    if (found := levels.get()) is None:
        os._exit(0)
    settings = replace(settings, containment=found)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    rubric = settings.rubric()

    def take():
        while (submission := tasks.get()) is not None:
            events.put(("start", submission.id, os.getpid()))
            yield submission

    def done(submission: Submission, report: dict) -> None:
        # the staff's grades and adjustments, read as each result is written: a regrade
        # keeps them
        try:
            result = review.finish(Path(out), report, rubric)
        except review.ReviewError:  # the run stops on it once graded: the grades are kept
            result = results.from_report(report, rubric)
        results.save(Path(out), report, result)
        events.put(("done", submission.id, os.getpid()))

    with orphans_swept(found.level):
        run_session(take(), settings, done)
    events.close()
    events.join_thread()  # every event is on its way to the grader
    os._exit(0)  # nothing is left to do: skip unloading pytest and numpy


def _scratch_of(scratch: Path, pid: int) -> str:
    return str(scratch / str(pid))


@contextlib.contextmanager
def orphans_swept(level: str) -> Iterator[None]:
    """At the plain-process level, the fork server is the subreaper that sweeps what its
    children leave; when it dies before its last sweep (a submission can kill it: same uid,
    no PID namespace), its descendants come back to this process instead of init, and are
    swept when the block ends. This process must have no other children to keep."""
    if level != "none":
        yield
        return
    jail.prctl(jail.PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        jail.sweep(set())


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the grader that started it dies (even by SIGKILL)."""
    if not jail.prctl(jail.PR_SET_PDEATHSIG, signal.SIGKILL):
        return
    if os.getppid() == 1:  # the grader was already gone
        os._exit(1)


def grade(submissions: list[Submission], out: Path, settings: Settings, jobs: int = 1,
          on_result: Callable[[str], None] | None = None,
          on_containment: Callable[[Containment], None] | None = None) -> Containment:
    """Grade SUBMISSIONS into OUT/<id>/results.json; call ON_RESULT(id) as each one finishes.
    Without ``settings.containment``, the strongest that ``settings.sandbox`` allows is found
    while the workers start (``containment.ContainmentError`` for ``strict`` without full
    containment: nothing is graded); ON_CONTAINMENT is told it before any grading."""
    out.mkdir(parents=True, exist_ok=True)
    for name in BLAS_THREADS:  # for the workers: parallelism belongs to --jobs
        os.environ.setdefault(name, "1")
    pool = _Pool(submissions, out, settings, on_result)
    try:
        pool.start(max(1, min(jobs, len(submissions))))
        found = settings.containment or containment.choose(settings.sandbox)
        if on_containment is not None:
            on_containment(found)
        pool.run(found)
    finally:
        pool.stop()
    return found


class _Pool:
    """The worker processes of one batch, and which submission each is grading."""

    def __init__(self, submissions: list[Submission], out: Path, settings: Settings,
                 on_result: Callable[[str], None] | None):
        self.context = multiprocessing.get_context("spawn")
        # the workers' temporary folders, traversable by all like /tmp (a child running as a
        # uid of its own reads its copy there)
        self.scratch = Path(tempfile.mkdtemp(prefix="dropout-grader-batch-"))
        self.scratch.chmod(0o755)
        self.tasks, self.events = self.context.Queue(), self.context.Queue()
        self.levels = self.context.Queue()  # one containment for each worker that starts
        self.containment: Containment | None = None
        self.out, self.settings, self.on_result = out, settings, on_result
        self.by_id = {s.id: s for s in submissions}
        self.remaining = set(self.by_id)
        self.workers: dict[int, multiprocessing.Process] = {}
        self.slots: dict[int, int] = {}  # worker pid: its number, which picks its core
        self.cpus: list[int] = []
        # what each worker holds: the submission it grades and the one it has staged next
        self.grading: dict[int, dict[str, Submission]] = {}
        for submission in submissions:
            self.tasks.put(submission)

    def start(self, jobs: int) -> None:
        """Start JOBS workers; they wait for the containment (see :meth:`run`)."""
        # A batch that fills the machine gives each worker a core of its own (shared, when
        # there are more workers than cores) for it, its fork server and its children: they
        # hand the work back and forth, and on one core every hand-over is a warm cache and
        # an immediate wake-up. On 2 cores this cut the idle time of a 400-submission batch
        # by two thirds and its wall time by a sixth (benchmarks/throughput.py).
        usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.cpus = usable if jobs >= len(usable) > 1 else []
        for slot in range(jobs):
            self._start_worker(slot)

    def run(self, found: Containment) -> None:
        """Let the workers grade with the containment FOUND, until every result is in."""
        self.containment = found
        for _ in self.workers:
            self.levels.put(found)
        while self.remaining:
            if not self._handle_events(POLL_SECONDS):
                self._check_workers()

    def _handle_events(self, timeout: float) -> int:
        """Handle the events that arrive within TIMEOUT of each other, until every submission
        is accounted for; return how many."""
        handled = 0
        while self.remaining:
            try:
                kind, sub_id, pid = self.events.get(timeout=timeout)
            except queue.Empty:
                return handled
            handled += 1
            if kind == "start":
                self.grading.setdefault(pid, {})[sub_id] = self.by_id[sub_id]
            else:
                self.grading.get(pid, {}).pop(sub_id, None)
                self._finished(sub_id)
        return handled

    def stop(self) -> None:
        if self.containment is None:  # never told what to grade with: nothing to grade
            for _ in self.workers:
                self.levels.put(None)
        for process in self.workers.values():
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        discover.remove_tree(self.scratch)

    def _start_worker(self, slot: int) -> None:
        cpu = self.cpus[slot % len(self.cpus)] if self.cpus else None
        process = self.context.Process(
            target=_worker, args=(self.tasks, self.events, self.levels, self.settings,
                                  str(self.out), cpu, str(self.scratch)), daemon=True)
        process.start()
        self.workers[process.pid] = process
        self.slots[process.pid] = slot
        self.tasks.put(None)  # this worker's stop sign, queued behind the submissions
        if self.containment is not None:  # a worker that takes a dead one's place
            self.levels.put(self.containment)

    def _finished(self, sub_id: str) -> None:
        self.remaining.discard(sub_id)
        if self.on_result:
            self.on_result(sub_id)

    def _check_workers(self) -> None:
        """A worker that died takes only its own submission with it; another takes its place.
        When no worker is left, whatever is still unaccounted for is recorded as lost."""
        dead = [pid for pid, p in self.workers.items() if not p.is_alive() and p.exitcode != 0]
        idle = not any(p.is_alive() for p in self.workers.values())
        if not dead and not idle:
            return
        self._handle_events(POLL_SECONDS)  # what a worker said before it went comes first
        for pid in dead:
            process, slot = self.workers.pop(pid), self.slots.pop(pid)
            discover.remove_tree(_scratch_of(self.scratch, pid))
            for lost in self.grading.pop(pid, {}).values():
                self._lose(lost, f"the grading worker died (exit code {process.exitcode})")
            if self.remaining:
                self._start_worker(slot)
        if self.remaining and not any(p.is_alive() for p in self.workers.values()):
            for sub_id in sorted(self.remaining):
                self._lose(self.by_id[sub_id], "no grading worker was left to grade it")

    def _lose(self, submission: Submission, why: str) -> None:
        try:
            results.save(self.out, {"grader": {"id": submission.id, "lost": why}},
                         results.grader_failure(submission.id, self.settings.rubric(), why,
                                                discover.holds_fc_net(submission)))
        except OSError:  # its result cannot be written: it is missing, the run goes on
            pass
        self._finished(submission.id)
