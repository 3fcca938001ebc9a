"""Writes one benchmark's section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import platform
import re
from datetime import date
from pathlib import Path

from ebn_tf._keras import tf
from ebn_tf.analysis.paired import mean_interval

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def margin_cell(margins: list[float]) -> str:
    """The mean of per-seed margins with its Student-t 95% interval over the seeds."""
    mean, low, high = mean_interval(margins)
    interval = f"[{low:+.2f}, {high:+.2f}]" if len(margins) > 1 else "[1 seed: none]"
    return f"{mean:+.2f} {interval}"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, title: str, body: str, command: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = (
        f"{start}\n## {title}\n\nMeasured {date.today().isoformat()} on {platform.machine()}, "
        f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'} inter-op "
        f"threads, TensorFlow {tf.__version__}. Reproduce: `{command}`\n\n{body}\n{end}"
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS_MD.write_text(text)
