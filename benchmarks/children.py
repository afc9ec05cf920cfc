"""What a confined child costs against a plain one, measured in one run.

    python benchmarks/children.py [--n 200] [--rounds 3]

Starts one fork server per level (plain processes, and the strongest containment this user
gets) and, through it, N children one after the other, each importing the reference solution
and closed at once: what every submission pays for its sandbox before any check. The levels
alternate for a few rounds on one core; prints the median milliseconds per child of each and
their ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from statistics import median

from grader.discover import Target
from grader.sandbox import containment
from grader.sandbox.box import Sandbox
from grader.sandbox.server import ForkServer
from grader.settings import Limits

ROOT = Path(__file__).resolve().parent.parent


def per_child(server: ForkServer, target: Target, n: int) -> float:
    """Milliseconds per child: started, its import waited for, closed."""
    start = time.perf_counter()
    for _ in range(n):
        with Sandbox(target, Limits(), server) as box:
            box.wait_loaded()
            assert box.functions.get("dropout_forward"), box.dead or box.load_failure
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # worker, server and child on one core, as in a batch
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    found = containment.choose()
    with tempfile.TemporaryDirectory(prefix="dropout-children-") as tmp:
        file = Path(tmp) / "layers.py"
        file.write_text((ROOT / "reference" / "layers.py").read_text())
        target = Target(Path(tmp), file, None, "layers.py")
        levels = ["none"] + ([found.level] if found.level != "none" else [])
        times: dict[str, list[float]] = {level: [] for level in levels}
        servers = {level: ForkServer(level) for level in levels}
        try:
            for server in servers.values():
                per_child(server, target, 5)  # started, warm
            for _ in range(args.rounds):
                for level, server in servers.items():
                    times[level].append(per_child(server, target, args.n))
        finally:
            for server in servers.values():
                server.close()
    print(f"{args.n} children per level, {args.rounds} rounds, one core (medians; every round "
          "in brackets)")
    plain = median(times["none"])
    for level, rounds in times.items():
        line = containment.Containment(level, found.nproc).describe() if level != "none" \
            else "plain processes"
        print(f"{level:>5}: {median(rounds):.2f} ms per child  "
              f"[{', '.join(f'{t:.2f}' for t in rounds)}]  ({line})")
    if len(times) > 1:
        confined = median(times[found.level])
        print(f"ratio: {confined / plain:.2f} x a plain child ({confined - plain:+.2f} ms)")


if __name__ == "__main__":
    main()
