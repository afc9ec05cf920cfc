"""Nothing is lost: a grading run killed half-way resumes without regrading what it finished,
and ends with the gradebook of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SUBMISSIONS, processes

from grader import results

GRADE = [sys.executable, "-c", "from grader.cli import main; main()"]


def _slow_copies(folder: Path) -> list[str]:
    """The bundled one-file submissions, each made to take a while to import."""
    folder.mkdir()
    ids = []
    for path in sorted(SUBMISSIONS.glob("*.py")):
        (folder / path.name).write_text("import time\ntime.sleep(0.4)\n" + path.read_text())
        ids.append(path.stem)
    return ids


def _finished(out: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/results.json")}


def _grading(folder: Path, out: Path, jobs: int, results_first: int) -> subprocess.Popen:
    """`grade FOLDER` running in the background, once RESULTS_FIRST results are written."""
    run = subprocess.Popen([*GRADE, folder, "--out", out, "--jobs", str(jobs)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_finished(out)) < results_first and time.monotonic() < deadline:
        time.sleep(0.05)
    return run


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    ids = _slow_copies(folder)
    run = _grading(folder, out, jobs=1, results_first=4)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = _finished(out)
    assert 4 <= len(before) < len(ids)
    assert not (out / "grades.csv").exists()

    rerun = subprocess.run([*GRADE, folder, "--out", out, "--jobs", "2"],
                           capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(before)} unchanged since the last run" in rerun.stderr
    after = _finished(out)
    assert sorted(after) == sorted(ids)
    assert {k: after[k] for k in before} == before  # finished ones were not regraded

    clean = tmp_path / "clean"
    whole = subprocess.run([*GRADE, folder, "--out", clean], capture_output=True, text=True,
                           timeout=300, check=False)
    assert whole.returncode == 0
    assert (out / "grades.csv").read_bytes() == (clean / "grades.csv").read_bytes()


def test_workers_die_with_a_killed_grader(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "out"
    _slow_copies(folder)
    run = _grading(folder, out, jobs=2, results_first=1)
    workers = [pid for pid, _, parent, _ in processes() if parent == run.pid]
    assert workers
    run.send_signal(signal.SIGKILL)
    run.wait()
    time.sleep(1.0)
    alive = {pid for pid, _, _, state in processes() if state != "Z"}
    assert [pid for pid in workers if pid in alive] == []
    settled = _finished(out)
    time.sleep(1.0)
    assert _finished(out) == settled  # nobody is still writing results


def test_a_dead_worker_costs_only_the_submissions_it_held(tmp_path):
    # A worker holds at most two submissions (the one it grades and the next, whose child is
    # starting); killing it loses those and nothing else, and a new worker takes its place.
    folder, out = tmp_path / "subs", tmp_path / "out"
    ids = _slow_copies(folder)
    run = _grading(folder, out, jobs=2, results_first=2)
    worker = min(pid for pid, cmdline, parent, _ in processes()
                 if parent == run.pid and b"spawn_main" in cmdline)
    subprocess.run(["kill", "-KILL", str(worker)], check=True)
    assert run.wait(timeout=300) == 0
    graded = {r.id: r for r in results.iter_results(out)}
    assert sorted(graded) == sorted(ids)
    said = {i: json.loads((out / i / "results.json").read_text())["output"] for i in graded}
    lost = [i for i, text in said.items() if "the grading worker died" in text]
    assert 1 <= len(lost) <= 2
    assert all(graded[i].score == 0 for i in lost)
    # out of what a one-file submission is graded on: no FullyConnectedNet checks
    assert all(graded[i].max_score == 100 for i in lost)
    clean = tmp_path / "clean"
    subprocess.run([*GRADE, folder, "--out", clean], capture_output=True, timeout=300,
                   check=True)
    uninterrupted = {r.id: r.score for r in results.iter_results(clean)}
    assert {i: r.score for i, r in graded.items() if i not in lost} == {
        i: score for i, score in uninterrupted.items() if i not in lost}
