"""The staged policy end to end on a slice of Fashion-MNIST with the tiny preset."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import ebn_tf.data
from ebn_tf import cost, layers, models
from ebn_tf.layers import expert_layers, start_gates_on_clusters
from ebn_tf.training import RunDir, train, trainer
from ebn_tf.training.trainer import FINAL_WEIGHTS
from tests.harness import SMALL, TWO_STEPS, small_recipe, two_cpu_strategy

ROOT = Path(__file__).resolve().parents[2]


def epochs_logged(stage_dir: Path) -> list[int]:
    with open(stage_dir / "metrics.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_whole_policy_with_distillation(fmnist_data_dir, policy_run):
    # The run is trained by the session fixture (conftest.py), which the convert app's
    # test converts too: small_recipe("teacher_epochs=3"), one device, into its own dir.
    tmp_path, recipe, summary = policy_run
    assert [s.name for s in summary.stages] == ["teacher", "step1", "step3", "step4"]
    assert RunDir(tmp_path).summary() == summary
    teacher = summary.stage("teacher")
    # The real teacher learns (chance is 0.1). Validation lags after 24 steps, as the
    # BatchNorm moving statistics have barely moved from their initial values.
    with open(tmp_path / "teacher" / "metrics.csv") as f:
        assert float(list(csv.DictReader(f))[-1]["accuracy"]) > 0.3
    for stage in summary.stages:
        stage_dir = tmp_path / stage.name
        assert (stage_dir / FINAL_WEIGHTS).exists() and (stage_dir / "logs").is_dir()
        assert epochs_logged(stage_dir) == list(range(stage.epochs))
        assert not (stage_dir / "backup").exists(), "a finished stage drops its backup"
    # The teacher that distillation reloads is the network the teacher stage trained.
    teacher_model = models.build("tiny_teacher")
    teacher_model.load_weights(tmp_path / "teacher" / FINAL_WEIGHTS)
    teacher_model.compile(metrics=["sparse_categorical_accuracy"])
    validation = ebn_tf.data.load(
        "fashion_mnist", "validation", 64, take=256, data_dir=fmnist_data_dir
    )
    reloaded = teacher_model.evaluate(validation, verbose=0, return_dict=True)
    assert reloaded["sparse_categorical_accuracy"] == pytest.approx(teacher.val_accuracy)
    with open(tmp_path / "step3" / "metrics.csv") as f:
        row = next(csv.DictReader(f))
        assert {"attention", "kl", "cross_entropy"} <= set(row)
    # Every gate's usage in each epoch of steps 3 and 4; step 1 forces expert 0.
    gated = [layer.name for layer in ebn_tf.layers.expert_layers(models.build("tiny"))]
    for stage, logged in (("step1", False), ("step3", True), ("step4", True)):
        with open(tmp_path / stage / "metrics.csv") as f:
            row = next(csv.DictReader(f))
        for name in gated:
            assert (f"usage_entropy/{name}" in row) == logged, (stage, name)
            if logged:
                assert 0 <= float(row[f"usage_entropy/{name}"]) <= 2
                assert 0.25 <= float(row[f"usage_top_share/{name}"]) <= 1
    final = summary.final
    assert 0.0 <= final.test_accuracy <= 1.0
    tiny = models.build("tiny")
    tiny.load_weights(final.weights)
    # A stage's validation top-1 is the one fit logged after its last epoch: that of its
    # final weights.
    tiny.compile(metrics=["sparse_categorical_accuracy"])
    reloaded = tiny.evaluate(validation, verbose=0, return_dict=True)
    assert reloaded["sparse_categorical_accuracy"] == pytest.approx(
        summary.stage("step4").val_accuracy
    )
    report = cost.profile(tiny)
    assert (final.bops, final.ops) == (report.bops, report.ops)
    # Rerunning a finished run trains nothing and returns the same summary.
    assert train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0) == summary
    with pytest.raises(ValueError, match=r"another recipe \(differs in \['teacher_epochs'\]\)"):
        train(small_recipe("teacher_epochs=4"), tmp_path, "one_device", fmnist_data_dir)


def test_the_recipes_mixup_and_seed_reach_the_distillers_and_the_clusters_start(
    fmnist_data_dir, tmp_path, monkeypatch, teacher_run
):
    made, calls = [], []

    class Recording(trainer.Distiller):
        def __init__(self, *args, **kwargs):
            made.append(kwargs)
            super().__init__(*args, **kwargs)

    def recording(model, images, seed):
        calls.append((images, seed, [layer.force_expert for layer in expert_layers(model)]))
        start_gates_on_clusters(model, images, seed)

    monkeypatch.setattr(trainer, "Distiller", Recording)
    monkeypatch.setattr(trainer.layers, "start_gates_on_clusters", recording)
    assert ebn_tf.models.get_config("tiny").gate_initializer == "clusters"  # the presets'
    # The session's teacher (conftest.py): only the student stages train here.
    teacher = f"teacher_weights={teacher_run[0] / 'teacher' / FINAL_WEIGHTS}"
    recipe = small_recipe("mixup=0.3", "seed=7", teacher, *TWO_STEPS)
    summary = train(recipe, tmp_path / "clusters", "one_device", fmnist_data_dir, verbose=0)
    assert [s.name for s in summary.stages] == ["step1", "step3", "step4"]
    # Steps 1, 3 and 4 distil, each with the recipe's mixup and seed.
    assert made == [{"mixup": 0.3, "seed": 7}] * 3
    # The gates start on clusters once, when step 3 replicates the experts and the gates
    # decide (not forced), on the first training images unshuffled and unaugmented (the
    # same on every worker), with the recipe's seed.
    assert len(calls) == 1
    images, seed, forced = calls[0]
    first = ebn_tf.data.load(
        "fashion_mnist",
        "train",
        128,
        shuffle=False,
        augment=False,
        take=128,
        data_dir=fmnist_data_dir,
    )
    np.testing.assert_array_equal(images, next(iter(first))[0].numpy())
    assert seed == 7 and set(forced) == {None}
    # Another named start is left as built (steps 3 and 4 from the same step 1).
    glorot = 'model_overrides={"gate_initializer": "glorot_uniform"}'
    step1 = f"step1_run={tmp_path / 'clusters'}"
    train(
        small_recipe(glorot, step1, "distill=false", *TWO_STEPS),
        tmp_path / "glorot",
        "one_device",
        fmnist_data_dir,
    )
    assert len(calls) == 1


def test_mirrored_strategy_on_two_cpus(fmnist_data_dir, tmp_path, policy_run):
    # Only the stages' completion is checked: the gated ones, from the session's step 1.
    recipe = small_recipe("distill=false", f"step1_run={policy_run[0]}", *TWO_STEPS)
    summary = train(recipe, tmp_path, two_cpu_strategy(), fmnist_data_dir, verbose=0)
    assert [s.name for s in summary.stages] == ["step3", "step4"]


def test_bad_input_fails_before_training(fmnist_data_dir, tmp_path):
    with pytest.raises(ValueError, match="does not split across 2 replicas"):
        train(small_recipe("batch_size=63"), tmp_path, two_cpu_strategy(), fmnist_data_dir)
    with pytest.raises(ValueError, match="takes .* images into 100 classes"):
        train(
            small_recipe('model_overrides={"num_classes": 100}'),
            tmp_path,
            "one_device",
            fmnist_data_dir,
        )
    wrong = tmp_path / "wrong.weights.h5"
    models.build("ebnet_fmnist_teacher").save_weights(wrong)
    with pytest.raises(ValueError, match="do not fit the teacher model 'tiny_teacher'"):
        train(small_recipe(f"teacher_weights={wrong}"), tmp_path, "one_device", fmnist_data_dir)
    assert not (tmp_path / "step1").exists()


class Killed(BaseException):
    """Stands in for SIGKILL: nothing of the trainer catches it or runs after it."""


def test_kill_between_fit_and_the_final_writes_keeps_the_stage(
    fmnist_data_dir, tmp_path, monkeypatch
):
    recipe = small_recipe("distill=false", "step1_epochs=2", *TWO_STEPS)
    step1 = recipe.stages()[0]
    run = trainer._Run(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    stage_dir, backup = tmp_path / "step1", tmp_path / "step1" / "backup"
    # What an attempt killed in its first epoch leaves: its TensorBoard file and a row
    # logged just before the kill, but no backup to resume from.
    (stage_dir / "logs" / "train").mkdir(parents=True)
    (stage_dir / "logs" / "train" / "events.out.tfevents.killed").write_bytes(b"")
    (stage_dir / "metrics.csv").write_text("epoch,accuracy\n0,0.5\n")
    trained = {}

    def killed(run_dir, model, result, backup):
        trained["weights"] = model.get_weights()
        raise Killed

    monkeypatch.setattr(RunDir, "commit_stage", killed)
    with pytest.raises(Killed):
        run.stage(step1)
    assert epochs_logged(stage_dir) == [0, 1] and backup.exists()
    events = list((stage_dir / "logs" / "train").iterdir())
    assert len(events) == 1 and not events[0].name.endswith("killed")
    assert not (stage_dir / FINAL_WEIGHTS).exists()

    monkeypatch.undo()
    result = run.stage(step1)
    # The rerun completes the stage from its backup without training or logging again.
    assert epochs_logged(stage_dir) == [0, 1]
    assert list((stage_dir / "logs" / "train").iterdir()) == events
    assert not backup.exists()
    assert json.loads((stage_dir / "result.json").read_text()) == result.to_json()
    assert result.seconds > 0 and result.train_images_per_second > 0
    final = models.build("tiny", num_experts=1)  # step 1 is built with one expert
    final.load_weights(stage_dir / FINAL_WEIGHTS)
    for a, b in zip(final.get_weights(), trained["weights"]):
        np.testing.assert_array_equal(a, b)
    # Killed after the result file, before the backup was dropped: the rerun drops it.
    (backup / "chief").mkdir(parents=True)
    assert run.stage(step1) == result and not backup.exists()


def app_command(model_dir, data_dir, *overrides, strategy="one_device"):
    args = [
        sys.executable,
        "-m",
        "train",
        "--recipe",
        "fmnist_quick",
        f"--model_dir={model_dir}",
        f"--data_dir={data_dir}",
        f"--strategy={strategy}",
    ]
    return args + [f"--override={o}" for o in [*SMALL, *overrides]]


def test_app_names_a_run_directory_under_a_file(fmnist_data_dir, tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    result = subprocess.run(
        app_command(file / "run", fmnist_data_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: Cannot make the directory {file}/run: {file} is a file." in result.stderr


@pytest.mark.slow
def test_sigkill_mid_stage_resumes_from_last_checkpoint(fmnist_data_dir, tmp_path, policy_run):
    step1 = f"step1_run={policy_run[0]}"  # the session's
    command = app_command(tmp_path, fmnist_data_dir, "distill=false", "step3_epochs=4", step1)
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    backup = tmp_path / "step3" / "backup"
    deadline = time.time() + 600
    while not any(backup.rglob("checkpoint")) and time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "step3" / FINAL_WEIGHTS).exists()
    done_before = epochs_logged(tmp_path / "step3")
    assert 1 <= len(done_before) < 4
    rerun = subprocess.run(
        command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900
    )
    assert epochs_logged(tmp_path / "step3") == [0, 1, 2, 3]
    # The app says which grouped-conv path it trains with (the same as this process's).
    native = ebn_tf.layers.grouped_conv.native_grouped_gradients()
    path = "TensorFlow's oneDNN kernels" if native else "one conv per group"
    assert f"grouped convolutions: {path}" in rerun.stdout
    assert [s.epochs for s in RunDir(tmp_path).summary().stages] == [4, 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_strategy_two_processes(fmnist_data_dir, tmp_path, policy_run):
    # The gated stages, from the session's step 1.
    step1 = f"step1_run={policy_run[0]}"
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        command = app_command(
            tmp_path, fmnist_data_dir, "distill=false", step1, *TWO_STEPS, strategy="multi_worker"
        )
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
    chief, other = models.build("tiny"), models.build("tiny")
    chief.load_weights(tmp_path / "step4" / FINAL_WEIGHTS)
    other.load_weights(tmp_path / "worker1" / "step4" / FINAL_WEIGHTS)
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_step3_starts_with_step1s_expert_everywhere_and_step4_from_all_of_step3(
    fmnist_data_dir, policy_run
):
    path, recipe, _ = policy_run
    run = trainer._Run(recipe, path, "one_device", fmnist_data_dir, 0)
    stages = {stage.name: stage for stage in recipe.stages()}
    finished = RunDir(path)
    step1 = finished.model("step1")  # built with one expert
    assert {layer.num_experts for layer in expert_layers(step1)} == {1}
    step3 = run.build_stage_model(stages["step3"])
    for layer in expert_layers(step3):
        kernels = layer.kernel.numpy()
        assert kernels.shape[0] == 4
        for expert in kernels:
            np.testing.assert_array_equal(expert, step1.get_layer(layer.name).kernel.numpy()[0])
    step4 = run.build_stage_model(stages["step4"])
    for a, b in zip(step4.get_weights(), finished.model("step3").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_step1_written_with_every_expert_still_starts_step3(
    fmnist_data_dir, policy_run, tmp_path
):
    # Older versions built step 1 with all N experts (expert 0 forced): such a run still
    # reads back and still starts step 3, from its expert 0.
    path, recipe, _ = policy_run
    old = tmp_path / "old"
    shutil.copytree(path, old, ignore=shutil.ignore_patterns("step3", "step4", "summary.json"))
    finished = RunDir(path)
    step1 = finished.model("step1")
    written = models.build(finished.model_config("student"))
    layers.load_first_expert(written, step1)
    for layer in expert_layers(written):  # experts 1..N differ: only expert 0 may be read
        kernel = layer.kernel.numpy()
        layer.kernel.assign(np.concatenate([kernel[:1], -kernel[1:]]))
    written.save_weights(RunDir(old).weights("step1"))
    assert {layer.num_experts for layer in expert_layers(RunDir(old).model("step1"))} == {4}
    run = trainer._Run(recipe, old, "one_device", fmnist_data_dir, 0)
    step3 = run.build_stage_model(recipe.stage("step3"))
    for layer in expert_layers(step3):
        for expert in layer.kernel.numpy():
            np.testing.assert_array_equal(expert, step1.get_layer(layer.name).kernel.numpy()[0])
    with pytest.raises(ValueError, match="no stage 'step2'"):
        RunDir(old).model("step2")


def test_a_run_resumed_by_newer_code_keeps_its_recipe_file(fmnist_data_dir, policy_run, tmp_path):
    # A run written before a recipe field existed (mixup) resumes, and its recipe.json stays
    # readable by the version that wrote it.
    path, recipe, summary = policy_run
    old = tmp_path / "old"
    shutil.copytree(path, old)
    written = json.loads(RunDir(old).recipe_file.read_text())
    del written["mixup"]
    RunDir(old).recipe_file.write_text(json.dumps(written))
    before = RunDir(old).recipe_file.read_bytes()
    assert train(recipe, old, "one_device", fmnist_data_dir, 0).stages == summary.stages
    assert RunDir(old).recipe_file.read_bytes() == before
