"""Where a stage resumes comes from our own record of its backup, exact across kills."""

import json

import pytest

from ebn_tf.training import RunDir, train, trainer
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
