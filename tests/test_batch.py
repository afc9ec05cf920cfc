"""The batch: its event loop listens to the workers exactly as long as it has to, and the
workers of a batch that fills the machine keep to a core each."""

from __future__ import annotations

import json
import os
import textwrap

from conftest import REFERENCE, SUBMISSIONS, grade_folder, write_submission

from grader import batch, discover
from grader.sandbox.containment import Containment
from grader.settings import Settings


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
    assert done == [s.id for s in submissions]
    assert pool.grading == {7: {}}


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
