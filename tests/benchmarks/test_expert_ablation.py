"""The ablation's records: a recorded run is never trained again, and each seed's step 1
is kept in the repository, so a machine without the runs starts every variant from it."""

import argparse
import shutil

import numpy as np
import pytest

from benchmarks import expert_ablation
from benchmarks.records import RunRecord
from ebn_tf.training import RunSummary, StageResult
from ebn_tf.training.run_dir import FinalResult


@pytest.fixture
def fake_training(tmp_path, monkeypatch):
    """Training that writes only step 1's files, and records what it was asked."""
    calls = []

    def write_step1(run):
        run = expert_ablation.RunDir(run)
        run.weights("step1").parent.mkdir(parents=True, exist_ok=True)
        # Every training of a step 1 gives other weights.
        run.weights("step1").write_bytes(f"step 1 number {len(calls)}".encode())
        run.result_file("step1").write_text("{}")
        run.recipe_file.write_text("{}")

    def train_until(recipe, run, last_stage, **_):
        calls.append(("train_until", run.name, last_stage))
        write_step1(run)

    def train(recipe, run, **_):
        calls.append(("train", run.name, recipe.step1_run))
        if recipe.step1_run is None and not expert_ablation.has_step1(run):
            write_step1(run)  # a finished step 1 is not trained again
        run.mkdir(parents=True, exist_ok=True)
        run.joinpath("recipe.json").write_text(f'{{"seed": {recipe.seed}}}')
        stages = (StageResult("step3", 1, 0.9, 1.0, None), StageResult("step4", 1, 0.9, 59.0, None))
        return RunSummary(recipe.name, stages, FinalResult(0.75, 0, 0, ""))

    monkeypatch.setattr(expert_ablation, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(expert_ablation, "train", train)
    monkeypatch.setattr(expert_ablation, "train_until", train_until)
    monkeypatch.setattr(expert_ablation, "rescored_correct", lambda run: np.arange(4) > 0)
    monkeypatch.setattr(expert_ablation, "most_collapsed", lambda run: None)
    monkeypatch.setattr(expert_ablation, "gate_behaviour", lambda run: None)
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


def test_a_machine_without_the_runs_starts_every_variant_from_the_kept_step1(fake_training):
    args, calls = fake_training
    e1 = expert_ablation.finished_record(args, 0, "e1")
    kept = expert_ablation.step1_record(args, 0)
    assert sorted(str(f.relative_to(kept)) for f in kept.rglob("*") if f.is_file()) == [
        "recipe.json",
        "step1/final.weights.h5",
        "step1/result.json",
    ]
    shutil.rmtree(args.root)  # another machine: the records are kept, the runs are not
    calls.clear()
    held = expert_ablation.finished_record(args, 0, "e1_stem_held")
    assert calls == [("train", "e1_stem_held", str(kept))]
    assert held.step1 == e1.step1  # the pair shares its step 1: no step 1 trained again
    expert_ablation.record_path(args, 0, "e1").unlink()  # e1 trained again starts there too
    calls.clear()
    assert expert_ablation.finished_record(args, 0, "e1").step1 == e1.step1
    assert calls == [("train", "e1", str(kept))]


def test_a_seed_without_any_step1_trains_it_alone_first(fake_training):
    args, calls = fake_training
    expert_ablation.finished_record(args, 1, "e4_kernel_mix_clusters_stem_routed")
    e1_run = str(expert_ablation.run_path(args, 1, "e1"))
    assert calls == [
        ("train_until", "e1", "step1"),
        ("train", "e4_kernel_mix_clusters_stem_routed", e1_run),
    ]
    assert (expert_ablation.step1_record(args, 1) / "step1" / "final.weights.h5").exists()


def test_gate_behaviour_reads_each_layers_usage_from_the_stages_metrics(tmp_path):
    run = expert_ablation.RunDir(tmp_path)
    for stage, rows in {
        "step3": ["0.9,1.2,0.5,2.0,0.3", "0.95,1.6,0.1,1.9,0.2"],
        "step4": ["0.96,1.5,0.0,1.8,0.1", "0.97,1.4,0.0,1.7,0.0"],
    }.items():
        run.stage_dir(stage).mkdir(parents=True)
        header = "val_accuracy,usage_entropy/a,route_changes/a,usage_entropy/b,route_changes/b"
        run.metrics_file(stage).write_text("\n".join([header, *rows]) + "\n")
    behaviour = expert_ablation.gate_behaviour(tmp_path)
    assert behaviour["step3"]["entropy"] == {"a": 1.6, "b": 1.9}  # at the stage's end
    assert behaviour["step3"]["route_changes"] == pytest.approx({"a": 30.0, "b": 25.0})
    assert behaviour["step4"]["entropy"] == {"a": 1.4, "b": 1.7}
    assert behaviour["step4"]["route_changes"] == pytest.approx({"a": 0.0, "b": 5.0})
    for stage in ("step3", "step4"):  # a run without gates logs no usage
        run.metrics_file(stage).write_text("val_accuracy\n0.9\n")
    assert expert_ablation.gate_behaviour(tmp_path) is None


def test_recorded_tables_what_the_records_hold_and_trains_nothing(tmp_path, monkeypatch):
    """Seed 0 has both runs, seed 1 only e1: the table pairs seed 0 alone and shows a dash
    for seed 1's missing run, and no run is trained."""
    monkeypatch.setattr(expert_ablation, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(expert_ablation, "finished_record", pytest.fail)
    sections = []
    monkeypatch.setattr(expert_ablation, "write_section", lambda *s: sections.append(s))
    args = argparse.Namespace(
        recipe="fmnist_proxy", override=[], model_override=[], step1_root=None
    )

    def record(seed, variant, correct, gates=None):
        correct = np.array(correct, bool)
        RunRecord(100 * correct.mean(), 90.0, 50.0, None, correct, {}, "digest", gates=gates).save(
            expert_ablation.record_path(args, seed, variant)
        )

    def stage(entropies, changes):
        layers = ["conv1", "conv2"]
        return {
            "entropy": dict(zip(layers, entropies)),
            "route_changes": dict(zip(layers, changes)),
        }

    gates = {"step3": stage([2.0, 1.0], [30.0, 10.0]), "step4": stage([1.5, 0.5], [5.0, 1.0])}
    record(0, "e1", [1, 1, 0, 0])
    record(0, "e4_kernel_mix_clusters", [1, 1, 1, 0], gates)
    record(1, "e1", [1, 0, 0, 0])
    flags = "--seeds 0,1 --recorded --variants e1,e4_kernel_mix_clusters,e1_stem_held"
    monkeypatch.setattr("sys.argv", ["expert_ablation", *flags.split()])
    expert_ablation.main()
    ((_, _, text, command),) = sections
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()}
    assert "e1_stem_held" not in rows  # no seed recorded: left out
    e4 = rows["e4_kernel_mix_clusters"]
    assert e4[2] == "75.00" and e4[4] == "75.00 / -"  # the mean of the seeds recorded
    assert e4[8:10] == ["1.50 → 1.00 / -", "20.0 / -"]  # layers' means; no run on seed 1
    assert e4[10] == "+25.00 [1 seed: none]" and e4[12].startswith("1:0 / -")
    assert rows["e1"][4] == "50.00 / 25.00" and rows["e1"][8:10] == ["- / -", "- / -"]
    assert command.endswith("--recorded")
