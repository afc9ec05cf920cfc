"""The batch's event loop: it listens to the workers exactly as long as it has to."""

from __future__ import annotations

from conftest import SUBMISSIONS

from grader import batch, discover
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
    monkeypatch.setattr(pool, "_start_worker", lambda: None)
    pool.events = _Events([(kind, s.id, 7) for s in submissions for kind in ("start", "done")])
    pool.run(jobs=2)
    assert done == [s.id for s in submissions]
    assert pool.grading == {7: {}}
