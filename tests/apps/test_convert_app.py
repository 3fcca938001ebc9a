"""The convert app on a finished training run."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def convert(*args):
    return subprocess.run(
        [sys.executable, "-m", "convert", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_convert_a_run(fmnist_data_dir, tmp_path, policy_run):
    # A finished run of every stage of tiny (conftest.py), trained once per session; the
    # app only reads it.
    run_dir = policy_run[0]
    output = tmp_path / "model.tflite"
    result = convert(f"--model={run_dir}", f"--output={output}", f"--data_dir={fmnist_data_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "audit: ok" in result.stdout and "28 LceBconv2d (expected 28)" in result.stdout
    assert "parity on" in result.stdout and "top-1 agreement 100.00%" in result.stdout
    assert output.stat().st_size > 0


def test_missing_run_is_a_clear_error(tmp_path):
    (tmp_path / "run").mkdir()
    result = convert(f"--model={tmp_path / 'run'}", f"--output={tmp_path / 'x.tflite'}")
    assert result.returncode != 0
    assert "holds no finished run" in result.stderr
    assert not (tmp_path / "x.tflite").exists()


def test_output_onto_a_model_file_is_refused_before_the_work(tmp_path):
    # The empty model file would fail to load: the output is checked before anything else.
    # A run's weights are .h5 files inside --model, so a .tflite name cannot replace them.
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    result = convert(f"--model={model}", f"--output={model}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: Cannot write {model}: the file name must end in .tflite." in result.stderr
    assert model.read_bytes() == b""


def test_output_inside_the_model_directory_is_refused_before_the_work(tmp_path):
    # The directory holds no run: the output is checked before the model is loaded.
    run = tmp_path / "run"
    (run / "step4").mkdir(parents=True)
    result = convert(f"--model={run}", f"--output={run / 'step4' / 'model.tflite'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"error: Cannot write {run}/step4/model.tflite: it lies inside the input directory "
        f"{run}, which is only read. Fix: write it outside, e.g. {tmp_path}/model.tflite."
    ) in result.stderr
    assert list(run.rglob("*")) == [run / "step4"]
