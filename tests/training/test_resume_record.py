"""Where a stage resumes comes from our own record of its backup, exact across kills."""

import json
import re
import shutil

import pytest

from ebn_tf.training import RunDir, train, trainer
from ebn_tf.training.recipe import StageConfig
from tests.harness import TWO_STEPS, small_recipe
from tests.training.test_trainer import Killed, epochs_logged


def kill_after_backup(monkeypatch, stage: str, epoch: int) -> None:
    """Kill the run at the end of ``stage``'s ``epoch``: after BackupAndRestore saved it,
    before EpochRecord records it (the gap between the two writes)."""
    record = trainer.EpochRecord.on_epoch_end

    def on_epoch_end(self, index, logs=None):
        if (self.backup.parent.name, index) == (stage, epoch):
            raise Killed
        record(self, index, logs)

    monkeypatch.setattr(trainer.EpochRecord, "on_epoch_end", on_epoch_end)


def test_kills_between_the_backup_and_its_record_resume_at_the_backed_up_epoch(
    fmnist_data_dir, tmp_path, monkeypatch
):
    # Epoch counts matter here, not the images: two steps an epoch.
    recipe = small_recipe("distill=false", "step1_epochs=3", *TWO_STEPS)
    stage_dir = tmp_path / "step1"
    backup, metrics = stage_dir / "backup", stage_dir / "metrics.csv"
    kill_after_backup(monkeypatch, "step1", 0)
    with pytest.raises(Killed):
        train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    # The record still counts 0 epochs, but the backup holds 1.
    assert json.loads((backup / trainer.EPOCH_RECORD).read_text())["epochs"] == 0
    assert trainer._backed_up_epochs(backup, metrics) == 1

    # Resumed at epoch 1 and killed in the same gap again.
    kill_after_backup(monkeypatch, "step1", 1)
    with pytest.raises(Killed):
        train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    assert trainer._backed_up_epochs(backup, metrics) == 2
    assert epochs_logged(stage_dir) == [0, 1]

    # A backup written before records were kept: the rows of metrics.csv count its epochs.
    record = (backup / trainer.EPOCH_RECORD).read_text()
    (backup / trainer.EPOCH_RECORD).unlink()
    assert trainer._backed_up_epochs(backup, metrics) == 2
    (backup / trainer.EPOCH_RECORD).write_text(record)

    # Step 1 finishes; the run is stopped in step 3, which this test does not need.
    kill_after_backup(monkeypatch, "step3", 0)
    with pytest.raises(Killed):
        train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    # Each epoch trained and logged once: had the count differed from the epoch fit
    # resumed at, a row would be missing or repeated.
    assert epochs_logged(stage_dir) == [0, 1, 2]
    assert RunDir(tmp_path).stage_result("step1").epochs == 3
    assert not backup.exists()


def test_a_backup_of_another_model_names_the_fix_and_the_stage_restarts_once_it_is_gone(
    fmnist_data_dir, tmp_path, monkeypatch
):
    recipe = small_recipe("distill=false", "step1_epochs=2", *TWO_STEPS)
    backup = tmp_path / "step1" / "backup"
    # An older ebn_tf built step 1 with every expert; killed after its first epoch.
    with monkeypatch.context() as older:
        older.setattr(StageConfig, "built_config", lambda self, config: config)
        kill_after_backup(older, "step1", 0)
        with pytest.raises(Killed):
            train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    assert trainer._backed_up_epochs(backup, tmp_path / "step1" / "metrics.csv") == 1

    with pytest.raises(ValueError, match=re.escape(f"Fix: delete {backup}; the same command")):
        train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)

    shutil.rmtree(backup)
    kill_after_backup(monkeypatch, "step3", 0)
    with pytest.raises(Killed):
        train(recipe, tmp_path, "one_device", fmnist_data_dir, verbose=0)
    # Step 1 trained again from its start, with one expert, its epochs logged once.
    assert RunDir(tmp_path).stage_result("step1").epochs == 2
    assert epochs_logged(tmp_path / "step1") == [0, 1]
    assert RunDir(tmp_path).model("step1").get_layer("stage1_block1_conv1").num_experts == 1
