"""The batch: its event loop listens to the workers exactly as long as it has to, and the
workers of a batch that fills the machine keep to a core each."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time

from conftest import REFERENCE, SUBMISSIONS, grade_folder, write_submission

from grader import batch, discover, results
from grader.sandbox import containment
from grader.sandbox.containment import Containment
from grader.settings import Limits, Settings


class _Events:
    """A worker's events, then a failure if anyone waits for more."""

    def __init__(self, events: list[tuple[str, str, int]]):
        self.events = list(events)

    def get(self, timeout: float) -> tuple[str, str, int]:
        assert self.events, "the batch waited for an event after every result was in"
        return self.events.pop(0)


def test_the_batch_returns_as_soon_as_every_submission_is_accounted_for(tmp_path, monkeypatch):
    submissions = discover.find_submissions(SUBMISSIONS)[0][:3]
    done = []
    pool = batch._Pool(submissions, tmp_path, Settings(), done.append)
    monkeypatch.setattr(pool, "_start_worker", lambda slot: None)
    pool.events = _Events([(kind, s.id, 7) for s in submissions for kind in ("start", "done")])
    pool.start(jobs=2)
    pool.run(Containment("none"))
    pool.stop()
    assert done == [s.id for s in submissions]
    assert pool.grading == {7: {}}
    assert not pool.scratch.exists()  # the workers' temporary folders went with the batch


def _affinities(tmp_path, jobs: int) -> list[set[int]]:
    """The cores each child of a batch of four could run on (each prints its own)."""
    folder = tmp_path / f"subs{jobs}"
    folder.mkdir()
    for i in range(4):
        write_submission(folder, f"s{i}", "import os\nprint(sorted(os.sched_getaffinity(0)))\n"
                         + textwrap.dedent(REFERENCE))
    graded = grade_folder(folder, tmp_path / f"out{jobs}", jobs=jobs)
    return [set(json.loads(r.output.splitlines()[0])) for r in graded.values()]


def test_a_batch_that_fills_the_machine_gives_each_worker_one_core(tmp_path):
    cores = os.sched_getaffinity(0)
    pinned = _affinities(tmp_path, jobs=len(cores))
    assert all(len(cpus) == 1 and cpus <= cores for cpus in pinned) or len(cores) == 1
    # fewer workers than cores: their children may run anywhere
    if len(cores) > 1:
        assert _affinities(tmp_path, jobs=len(cores) - 1) == [cores] * 4


def test_a_dead_workers_temporary_folders_go_with_it(tmp_path):
    # its children's copies of students' code are not left behind in /tmp
    folder = tmp_path / "subs"
    folder.mkdir()
    write_submission(folder, "a_hangs", "import time\ntime.sleep(60)\n")
    write_submission(folder, "b_good", REFERENCE)
    submissions, _ = discover.find_submissions(folder)
    pool = batch._Pool(submissions, tmp_path / "out",
                       Settings(limits=Limits(timeout=30)), None)
    try:
        pool.start(jobs=1)
        [pid] = pool.workers
        grading = threading.Thread(target=pool.run, args=(containment.choose(),))
        grading.start()
        mine = pool.scratch / str(pid)
        deadline = time.monotonic() + 60
        copy = "dropout-grader-run-*/submission/a_hangs.py"  # the run's folder comes first
        while not list(mine.glob(copy)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(mine.glob(copy))
        os.kill(pid, signal.SIGKILL)
        grading.join(timeout=60)
        assert not mine.exists()  # removed as soon as the worker was found dead
    finally:
        pool.stop()
    assert not pool.scratch.exists()
    lost = results.read(tmp_path / "out", "a_hangs")
    assert "the grading worker died" in lost.checks[0].grader_error
