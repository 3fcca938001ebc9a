"""The ablation's records: a recorded run is never trained again, and a seed whose e1
run directory is gone trains e1's step 1 again, alone, for the variants that start from it."""

import argparse

import numpy as np
import pytest

from benchmarks import expert_ablation
from benchmarks.records import RunRecord
from ebn_tf.training import RunSummary, StageResult
from ebn_tf.training.run_dir import FinalResult


@pytest.fixture
def fake_training(tmp_path, monkeypatch):
    """Training that writes only a step 1 weights file, and records what it was asked."""
    calls = []

    def write_step1(run):
        weights = expert_ablation.RunDir(run).weights("step1")
        weights.parent.mkdir(parents=True, exist_ok=True)
        # Every training of a step 1 gives other weights.
        weights.write_bytes(f"step 1 number {len(calls)}".encode())

    def train_until(recipe, run, last_stage, **_):
        calls.append(("train_until", run.name, last_stage))
        write_step1(run)

    def train(recipe, run, **_):
        calls.append(("train", run.name, recipe.step1_run))
        if recipe.step1_run is None:
            write_step1(run)
        run.mkdir(parents=True, exist_ok=True)
        run.joinpath("recipe.json").write_text(f'{{"seed": {recipe.seed}}}')
        stages = (StageResult("step3", 1, 0.9, 1.0, None), StageResult("step4", 1, 0.9, 59.0, None))
        return RunSummary(recipe.name, stages, FinalResult(0.75, 0, 0, ""))

    monkeypatch.setattr(expert_ablation, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(expert_ablation, "train", train)
    monkeypatch.setattr(expert_ablation, "train_until", train_until)
    monkeypatch.setattr(expert_ablation, "rescored_correct", lambda run: np.arange(4) > 0)
    monkeypatch.setattr(expert_ablation, "most_collapsed", lambda run: None)
    args = argparse.Namespace(
        recipe="fmnist_proxy",
        override=[],
        model_override=[],
        root=str(tmp_path / "runs"),
        step1_root=None,
    )
    return args, calls


def test_a_recorded_run_is_not_trained_again(fake_training):
    args, calls = fake_training
    first = expert_ablation.finished_record(args, 0, "e1")
    assert calls == [("train_until", "e1", "step1"), ("train", "e1", None)]
    assert first.test == 75.0 and first.step3 == 90.0 and first.minutes == 1.0
    assert RunRecord.load(expert_ablation.record_path(args, 0, "e1")).correct.tolist() == [
        False,
        True,
        True,
        True,
    ]
    calls.clear()
    assert expert_ablation.finished_record(args, 0, "e1").step1 == first.step1
    assert calls == []


def test_variants_of_a_machine_whose_e1_run_is_gone_share_a_new_step1(fake_training):
    args, calls = fake_training
    e1 = expert_ablation.finished_record(args, 0, "e1")
    for run in expert_ablation.run_path(args, 0, "e1").rglob("*"):
        if run.is_file():
            run.unlink()  # another machine: the record is kept, the run directory is not
    calls.clear()
    held = expert_ablation.finished_record(args, 0, "e1_stem_held")
    routed = expert_ablation.finished_record(args, 0, "e4_kernel_mix_clusters_stem_routed")
    e1_run = str(expert_ablation.run_path(args, 0, "e1"))
    assert calls == [
        ("train_until", "e1", "step1"),
        ("train", "e1_stem_held", e1_run),
        ("train", "e4_kernel_mix_clusters_stem_routed", e1_run),
    ]
    assert held.step1 == routed.step1  # trained on this machine: the pair shares it
    assert held.step1 != e1.step1  # e1 paired with either is marked in the table
