"""Throughput of the grader against a per-submission pytest baseline, measured in one run.

    python benchmarks/throughput.py [--n 400] [--packages 100] [--jobs 2] [--sample 40]
                                    [--rounds 3] [--memory-factor 10] [--against PYTHON]

Generates N one-file submissions from the bundled examples (a mix of correct and buggy ones,
each made distinct), grades them with `grade` (every submission still in its own sandboxed
child) as this user and, when this user is root, also as an ordinary one (the account the
tests use, tests/as_user.py), then runs the baseline on a sample: a fresh `python -m pytest`
process per submission importing the student's file and running equivalent checks
(benchmarks/baseline_checks.py), with the same parallelism. Grader and baseline runs
alternate for a few rounds, so that a slow spell of a shared machine falls on all of them;
prints the median submissions per second of each, their ratios, and the grader's peak
resident memory (main process and workers, sandboxes excluded) for N and for
memory-factor × N submissions. With --against, the same graders run alternately with another
Python that has another version of the grader installed (an earlier commit, say), and the
ratio of this one's throughput to that one's is printed too.

Whole packages cost more than one-file submissions: they hold the notebook's second half
(cs231n/classifiers/fc_net.py), whose FullyConnectedNet is driven too. Their throughput is
measured apart, in the same rounds, on PACKAGES copies of the bundled packages, by the graders
that run as this user; the report gives their rate and what one costs against a one-file
submission.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).with_name("baseline_checks.py")
sys.path.insert(0, str(ROOT / "tests"))
import as_user  # noqa: E402  (the tests' way to run the grader as an ordinary user)


def make_submissions(folder: Path, n: int) -> list[Path]:
    """N distinct one-file submissions cycling through the bundled one-file examples."""
    examples = sorted((ROOT / "submissions").glob("*.py"))
    folder.mkdir(parents=True)
    made = []
    for i in range(n):
        source = examples[i % len(examples)]
        path = folder / f"s{i:05d}_{source.stem}.py"
        path.write_text(f"# submission {i}\n" + source.read_text())
        made.append(path)
    return made


def make_packages(folder: Path, n: int) -> list[Path]:
    """N distinct whole cs231n/ packages cycling through the bundled ones that hold a
    FullyConnectedNet (cs231n/classifiers/fc_net.py)."""
    examples = sorted(p.parents[2] for p in
                      (ROOT / "submissions").glob("*/cs231n/classifiers/fc_net.py"))
    folder.mkdir(parents=True)
    made = []
    for i in range(n):
        source = examples[i % len(examples)]
        path = folder / f"p{i:05d}_{source.name}"
        shutil.copytree(source, path)
        net = path / "cs231n" / "classifiers" / "fc_net.py"
        net.write_text(f"# submission {i}\n" + net.read_text())
        made.append(path)
    return made


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def grade(folder: Path, out: Path, jobs: int, user: bool = False,
          python: str = sys.executable) -> tuple[float, int, str]:
    """Wall seconds of `grade FOLDER` (as the ordinary user with USER; with the grader that
    PYTHON has), the peak RSS (kB) of the grader's main process plus its worker processes,
    and the containment it reported."""
    command = [python, "-c", "from grader.cli import main; main()",
               str(folder), "--out", str(out), "--jobs", str(jobs), "--force"]
    env = None
    staging = as_user.shared_folder()
    if user:
        out.mkdir(exist_ok=True)
        as_user.give(out)
        as_user.give(staging)
        command, env = as_user.wrap(command, staging, staging)
    said = staging / "stderr.txt"
    start = time.perf_counter()
    with open(said, "w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                                cwd=staging)  # not the repository: its grader is this one
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _rss_kb(proc.pid) + sum(_rss_kb(c) for c in _children(proc.pid)))
            time.sleep(0.05)
    seconds = time.perf_counter() - start
    text = said.read_text()
    shutil.rmtree(staging, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"grade failed with exit status {proc.returncode}:\n{text[-2000:]}")
    lines = [line for line in text.splitlines() if line.startswith("sandbox: ")]
    sandbox = lines[0] if lines else "no sandbox line"
    return seconds, peak, sandbox


def baseline(submissions: list[Path], jobs: int) -> float:
    """Wall seconds of one fresh pytest process per submission, JOBS at a time."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def run(path: Path) -> None:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(BASELINE), "--rootdir", str(BASELINE.parent)],
                       env=dict(env, SUBMISSION=str(path)), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, cwd=BASELINE.parent)

    start = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(run, submissions))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=40, help="baseline submissions")
    parser.add_argument("--rounds", type=int, default=3,
                        help="grader and baseline runs, alternated; medians are reported")
    parser.add_argument("--packages", type=int, default=100,
                        help="whole packages (with a FullyConnectedNet) graded apart; 0: none")
    parser.add_argument("--memory-factor", type=int, default=10)
    parser.add_argument("--against", metavar="PYTHON",
                        help="another interpreter whose installed grader to compare with")
    args = parser.parse_args()
    # who grades: this user, and an ordinary one too when this is root
    who = {"as root" if os.geteuid() == 0 else "as this user": False}
    if os.geteuid() == 0 and as_user.available() is None:
        who["as a user"] = True
    graders = {name: (user, sys.executable) for name, user in who.items()}
    if args.against:
        graders.update({f"{name} (--against)": (user, args.against)
                        for name, user in who.items()})
    tmp = as_user.shared_folder()
    try:
        subs = make_submissions(tmp / "subs", args.n)
        if args.packages:
            make_packages(tmp / "packages", args.packages)
        rates = {name: [] for name in graders}
        package_rates = {name: [] for name, (user, _) in graders.items()
                         if args.packages and not user}
        base, peaks, sandboxes = [], [], {}
        for _ in range(args.rounds):  # alternated, so that a slow spell of the machine hits all
            for name, (user, python) in graders.items():
                shutil.rmtree(tmp / "out", ignore_errors=True)
                seconds, peak, sandboxes[name] = grade(tmp / "subs", tmp / "out", args.jobs, user,
                                                       python)
                rates[name].append(args.n / seconds)
                peaks.append(peak)
            for name in package_rates:
                shutil.rmtree(tmp / "out", ignore_errors=True)
                seconds, _, _ = grade(tmp / "packages", tmp / "out", args.jobs,
                                      python=graders[name][1])
                package_rates[name].append(args.packages / seconds)
            base.append(args.sample / baseline(subs[: args.sample], args.jobs))
        base_rate, peak = median(base), max(peaks)
        print(f"machine: {os.cpu_count()} cores, --jobs {args.jobs}, {args.rounds} rounds "
              "(medians; every round in brackets)")
        for name, ours in rates.items():
            print(f"grader {name}: {args.n} submissions: {median(ours):.1f} per second  "
                  f"[{', '.join(f'{r:.1f}' for r in ours)}]  ({sandboxes[name]})")
        print(f"baseline: {args.sample} submissions: {base_rate:.1f} per second  "
              f"[{', '.join(f'{r:.1f}' for r in base)}]  (a fresh python -m pytest each)")
        for name, ours in rates.items():
            print(f"ratio {name}: {median(ours) / base_rate:.1f}x the baseline  "
                  f"[{', '.join(f'{o / b:.1f}' for o, b in zip(ours, base, strict=True))}]")
        for name in who if args.against else ():
            ours, theirs = rates[name], rates[f"{name} (--against)"]
            print(f"this grader {name} against the other: {median(ours) / median(theirs):.2f}  "
                  f"[{', '.join(f'{o / t:.2f}' for o, t in zip(ours, theirs, strict=True))}]")
        for name, packages in package_rates.items():
            rate, files = median(packages), median(rates[name])
            print(f"whole packages {name}: {args.packages} with a FullyConnectedNet: "
                  f"{rate:.1f} per second  [{', '.join(f'{r:.1f}' for r in packages)}]; one "
                  f"costs {files / rate:.1f}x a one-file submission "
                  f"({1000 * args.jobs / rate:.0f} ms against {1000 * args.jobs / files:.0f} ms "
                  "of a worker)")
        print(f"peak RSS of the grader (main + workers): {peak / 1024:.0f} MB for {args.n}")
        if args.memory_factor > 1:
            big = args.n * args.memory_factor
            make_submissions(tmp / "big", big)
            big_seconds, big_peak, _ = grade(tmp / "big", tmp / "big-out", args.jobs)
            print(f"peak RSS of the grader (main + workers): {big_peak / 1024:.0f} MB for {big} "
                  f"({big / big_seconds:.1f} per second); ratio {big_peak / peak:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
