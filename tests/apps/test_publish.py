"""Publishing never replaces a published name's entry or files unless asked to, and writes
only where it is told."""

import subprocess
import sys
from pathlib import Path

import pytest

from ebn_tf import models
from ebn_tf.apps import publish
from ebn_tf.zoo import registry


def test_a_published_name_is_replaced_only_by_a_new_version_or_when_asked(tmp_path):
    index = tmp_path / "registry.json"

    def card(description, **options):
        publish.publish_untrained(
            "card", "fmnist_proxy", description, zoo_dir=tmp_path, registry=index, **options
        )
        return registry.entries(index)["card"]

    assert card("first").version == 1
    with pytest.raises(
        ValueError,
        match=r"^Zoo model 'card' is published as v1 in .*registry.json; publishing v1 would "
        r"replace it\. Fix: publish a new version \(version=N / --version N\), or pass "
        r"overwrite=True \(--overwrite\)",
    ):
        card("second")
    assert registry.entries(index)["card"].description == "first"
    assert (
        card("second", version=2).version,
        card("third", version=2, overwrite=True).description,
    ) == (2, "third")
    # A new version keeps the one it replaced; an overwritten version is gone.
    assert [(m.version, m.description) for m in card("fourth", version=3).older_versions] == [
        (1, "first"),
        (2, "third"),
    ]
    assert "`card@2` | - | third |" in (tmp_path / "card.md").read_text()
    with pytest.raises(ValueError, match=r"published as v3 .*; v2 is older\. Fix: publish v4"):
        card("fifth", version=2, overwrite=True)
    with pytest.raises(ValueError, match=r"'@', which marks a version .* Fix: publish 'card'"):
        publish.publish_untrained("card@4", "fmnist_proxy", "", zoo_dir=tmp_path, registry=index)


def test_publishing_a_run_is_refused_before_any_work(tmp_path):
    index, no_run = tmp_path / "registry.json", tmp_path / "no_run"
    publish.publish_untrained("card", "fmnist_proxy", "", zoo_dir=tmp_path, registry=index)
    # The run is missing: the refusals come before it is read, evaluated or converted.
    with pytest.raises(ValueError, match="'card' is published as v1"):
        publish.publish_run("card", no_run, "", zoo_dir=tmp_path, registry=index)
    left = tmp_path / "other-v1.tflite"
    left.write_bytes(b"")
    with pytest.raises(ValueError, match=f"would overwrite \\['{left}'\\], which the registry"):
        publish.publish_run("other", no_run, "", zoo_dir=tmp_path, registry=index)
    with pytest.raises(NotADirectoryError, match=f"^{index} is a file"):
        publish.publish_run("other", no_run, "", zoo_dir=index, registry=index)
    with pytest.raises(FileNotFoundError, match="holds no finished run"):
        publish.publish_run("other", no_run, "", zoo_dir=tmp_path, registry=index, overwrite=True)


def test_a_teacher_run_is_published_as_its_preset_without_tflite(
    fmnist_data_dir, tmp_path, teacher_run
):
    # teacher_run (conftest.py): small_recipe("train_student=false",
    # "teacher_model=tiny_teacher", "teacher_epochs=1"), trained once; publishing only reads it.
    run_dir, _ = teacher_run
    index = tmp_path / "registry.json"
    entry = publish.publish_run(
        "teacher",
        run_dir,
        "",
        zoo_dir=tmp_path / "zoo",
        data_dir=fmnist_data_dir,
        registry=index,
    )
    assert (entry.preset, entry.overrides, list(entry.files)) == ("tiny_teacher", {}, ["keras"])
    assert registry.entries(index)["teacher"].model_config() == models.get_config("tiny_teacher")
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == [
        "teacher-v1.weights.h5",
        "teacher.md",
    ]
    assert 0 < entry.metrics["test_top1"] <= 1 and entry.metrics["bops"] == 0


def test_the_zoo_app_publishes_into_the_folder_and_registry_it_is_given(tmp_path):
    packaged = registry.REGISTRY_FILE.read_bytes()
    index = tmp_path / "registry.json"
    command = [sys.executable, "-m", "zoo", "publish", "card", "--untrained_recipe=fmnist_proxy"]
    result = subprocess.run(
        [*command, f"--zoo_dir={tmp_path}", f"--registry={index}"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"published card v1: {tmp_path / 'card'}.md" in result.stdout
    assert list(registry.entries(index)) == ["card"] and (tmp_path / "card.md").exists()
    assert registry.REGISTRY_FILE.read_bytes() == packaged
