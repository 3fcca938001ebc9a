"""Where the demo's time goes with oneDNN on and off, and whether turning it on pays on a
CPU without AVX-512.

TensorFlow turns oneDNN on by default only on some x86 CPUs (those with AVX-512 VNNI and
the like); elsewhere (an AMD EPYC without AVX-512, say) it runs its Eigen kernels and
EBConv2D's grouped convs train one conv per group. This runs the demo's training app
(``ebn-train --recipe fmnist_quick``, on ``--images`` training images) once per setting,
in turns, each in its own process (TensorFlow reads the settings when it loads):

- oneDNN on: the default on this CPU if it has AVX-512;
- oneDNN off: ``TF_ENABLE_ONEDNN_OPTS=0``, what TensorFlow does on CPUs without them;
- oneDNN on, AVX2 only: ``TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2``, oneDNN as it
  runs on a CPU without AVX-512 (Eigen is compiled for AVX, so the off row already is).

Per setting: each stage's seconds (its epochs, first-step tracing included) and the app's
wall time (start-up, data, the final test pass).

    python -m benchmarks.cpu_paths [--images 5120] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf.training import RunDir

SETTINGS = {
    "oneDNN on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "oneDNN off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "oneDNN on, AVX2 only": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
STAGES = ("teacher", "step1", "step3", "step4")


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (Linux), else the platform's."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line)
    return f"{name}, {'with' if 'avx512f' in text else 'without'} AVX-512"


def run_demo(setting: str, images: int, directory: Path) -> dict[str, float]:
    """One run of the demo's training app under ``setting``: seconds per stage and wall."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **SETTINGS[setting]}
    command = [
        *(sys.executable, "-m", "ebn_tf.apps.train", "--recipe", "fmnist_quick"),
        *(f"--model_dir={directory}", f"--override=train_limit={images}"),
    ]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    summary = RunDir(directory).summary()
    return {**{s.name: s.seconds for s in summary.stages}, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5120, help="training images a stage")
    parser.add_argument("--rounds", type=int, default=1, help="runs per setting, in turns")
    args = parser.parse_args()
    times = {setting: [] for setting in SETTINGS}
    with tempfile.TemporaryDirectory() as root:
        for round_ in range(args.rounds):
            for index, setting in enumerate(SETTINGS):
                times[setting].append(
                    run_demo(setting, args.images, Path(root) / f"{round_}_{index}")
                )
                print(setting, json.dumps(times[setting][-1]), flush=True)
    columns = [*STAGES, "wall"]
    median = {s: {c: np.median([t[c] for t in runs]) for c in columns} for s, runs in times.items()}
    reference = median["oneDNN off"]
    rows = [
        [
            setting,
            *(f"{median[setting][c]:.0f}" for c in columns),
            f"{reference['wall'] / median[setting]['wall']:.2f}x",
        ]
        for setting in SETTINGS
    ]
    header = ["setting", *(f"{c} s" for c in STAGES), "app wall s", "speed vs off"]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        "cpu_paths",
        "The demo with oneDNN on and off",
        f"CPU: {cpu_name()}, {os.cpu_count()} cores. `ebn-train --recipe fmnist_quick` on "
        f"{args.images} training images a stage (one epoch each), median of {args.rounds} "
        "run(s) per setting, the settings in turns. Stage seconds: its epoch, first-step "
        "tracing and validation included; app wall: the whole command (start-up, data, "
        "models, the final test pass). The AVX2-only row is oneDNN as it runs on a CPU "
        "without AVX-512; the off row is what TensorFlow does there by default.\n\n" + table,
        f"python -m benchmarks.cpu_paths --images {args.images} --rounds {args.rounds}",
    )


if __name__ == "__main__":
    main()
