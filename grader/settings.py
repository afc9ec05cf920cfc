"""What a grading run is told: plain records, importable without pytest or numpy (the main
process reads them; the workers grade with them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import __version__, rubric
from grader.sandbox.containment import Containment
from grader.starter import digest


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Times are seconds, sizes bytes."""

    timeout: float = 5.0
    memory: int = 1 << 30
    file_size: int = 16 << 20
    output: int = 8_000
    cpu_seconds: int = 120
    open_files: int = 64  # also bounds what memory-backed files could hold


@dataclass(frozen=True)
class Settings:
    """What a grading session needs to know; plain data, so it can cross to worker processes."""

    limits: Limits = field(default_factory=Limits)
    rubric_path: Path | None = None
    rng_seed: int = 231
    convention: str | None = None  # None: the rubric's
    extra_checks: tuple[Path, ...] = ()  # an instructor's own check files or folders
    starter: Path | None = None  # --starter: the course's starter code, graded over
    sandbox: str = "auto"  # --sandbox: auto, strict or none
    fc_net: str | None = None  # --fc-net: when the FullyConnectedNet is graded; None: the rubric's
    containment: Containment | None = None  # what the run has; None: found when it starts

    def fingerprint(self) -> str:
        """Changes whenever a result graded under these settings could differ."""
        rubric_text = self.rubric_path.read_text() if self.rubric_path else ""
        extra = [p.read_text() for path in self.extra_checks
                 for p in sorted([path] if path.is_file() else path.rglob("check_*.py"))]
        data = json.dumps([__version__, asdict(self.limits), rubric_text, self.rng_seed,
                           self.convention, extra, digest(self.starter), self.fc_net])
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def rubric(self) -> rubric.Rubric:
        """The rubric these settings grade with."""
        return rubric.load(self.rubric_path, self.fc_net)
