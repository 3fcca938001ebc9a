"""What a benchmark's table needs of one finished training run, kept in the repository.

Run directories live outside version control and do not outlast a machine, while a
multi-seed table takes longer than one machine's session to train. A run's record keeps
its scores and its per-image test correctness (packed bits, ~1.7 kB), so seeds trained on
different machines still pair image for image, and a finished run is never trained or
rescored again. The record also keeps the run's recipe and the commit that recorded it.

    record = RunRecord.load(path)       # None if that run has no record yet
    RunRecord(...).save(path)
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RECORDS = Path(__file__).resolve().parent / "records"


def current_commit() -> str:
    """The checkout's commit (with ``-dirty`` for uncommitted changes), or ``unknown``."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """One finished run.

    Args:
        test: test top-1 in % as the run reported it.
        step3: step 3's validation top-1 in %.
        minutes: the run's training time.
        collapse: the most collapsed gated layer at step 4's end and its busiest expert's
            share in %, or None for a run without gates.
        correct: per test image (in the split's fixed order), whether the final model is right.
        recipe: the run's recipe as it stored it.
        step1: ``file_digest`` of the step 1 weights it started from (its own for a run
            that trains step 1): two runs with the same one shared their step 1.
        commit: the commit of the checkout that recorded it (a run resumed across
            checkouts was trained partly by others).
        gates: how its gates routed in steps 3 and 4 (``{"step3": ..., "step4": ...}``),
            from the run's ``metrics.csv``: per gated layer, the usage entropy at the
            stage's end in bits (``entropy``) and the share of the validation images that
            changed expert an epoch, in % and averaged over the stage's epochs
            (``route_changes``); None for a run without gates.
    """

    test: float
    step3: float
    minutes: float
    collapse: tuple[str, float] | None
    correct: np.ndarray = field(repr=False)
    recipe: dict = field(repr=False)
    step1: str
    commit: str = field(default_factory=current_commit)
    gates: dict | None = None

    def save(self, path: Path) -> None:
        fields = asdict(self)
        fields["correct"] = {
            "images": int(self.correct.size),
            "packed_bits": base64.b64encode(np.packbits(self.correct.astype(bool))).decode(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(fields, indent=1) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> RunRecord | None:
        if not path.exists():
            return None
        fields = json.loads(path.read_text())
        packed = np.frombuffer(base64.b64decode(fields["correct"]["packed_bits"]), np.uint8)
        fields["correct"] = np.unpackbits(packed)[: fields["correct"]["images"]].astype(bool)
        fields["collapse"] = tuple(fields["collapse"]) if fields["collapse"] else None
        return cls(**fields)
