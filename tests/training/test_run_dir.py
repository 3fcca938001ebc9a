"""A run directory keeps the model configs it was built from: editing a preset leaves it."""

import json

import numpy as np
import pytest

from ebn_tf import layers, models
from ebn_tf.models import presets
from ebn_tf.training import FinalResult, RunDir, RunSummary, StageResult, load_run
from ebn_tf.training.configs import pin_zoo_teacher
from tests.harness import small_recipe


@pytest.fixture
def run(tmp_path):
    """A finished run of ``tiny`` as the trainer lays it out, without training."""
    recipe = small_recipe("distill=false")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_recipe(recipe)
    model = models.build("tiny")
    # Step 1 is built with one expert: model's expert 0.
    one_expert = models.build("tiny", num_experts=1)
    layers.load_first_expert(one_expert, model)
    for stage in recipe.stages():
        run.stage_dir(stage.name).mkdir()
        (one_expert if stage.one_expert else model).save_weights(run.weights(stage.name))
    return run, recipe, model


def test_a_stage_model_computes_as_its_stage_trained(run):
    run, recipe, model = run
    images = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    layers.set_binary_weights(model, False)
    layers.set_forced_expert(model, 0)
    np.testing.assert_allclose(run.model("step1")(images), model(images), atol=1e-5)
    layers.set_forced_expert(model, None)
    np.testing.assert_allclose(run.model("step3")(images), model(images), atol=1e-5)
    layers.set_binary_weights(model, True)
    np.testing.assert_allclose(run.model("step4")(images), model(images), atol=1e-5)
    # Real and binary kernels give different outputs, so the switch is what is checked.
    assert not np.allclose(run.model("step3")(images), model(images), atol=1e-3)


def widen_tiny(monkeypatch):
    wider = models.get_config("tiny").replace(widths=(64, 128))
    monkeypatch.setitem(presets._PRESETS, "tiny", wider)
    return wider


def test_a_run_is_rebuilt_from_its_stored_config_after_a_preset_changes(run, monkeypatch):
    run, recipe, model = run
    stored = json.loads(run.recipe_file.read_text())["model_config"]
    assert list(stored) == ["student"] and stored["student"]["widths"] == [64, 64]
    widen_tiny(monkeypatch)
    loaded, loaded_recipe = load_run(run.path)
    assert loaded_recipe == recipe
    assert run.model_config("student") == models.EBNetConfig(**stored["student"])
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Resuming would train the edited preset's network into the old run's stages.
    with pytest.raises(ValueError, match=r"whose \['student'\] model was built from another"):
        run.check_recipe(recipe)
    # Overrides that restore the stored config resume it: the models are what counts.
    restored = recipe.override_strings(['model_overrides={"widths": [64, 64]}'])
    assert restored.model_overrides != recipe.model_overrides
    run.check_recipe(restored)
    with pytest.raises(ValueError, match=r"whose \['student'\] model was built from another"):
        run.check_recipe(
            recipe.override_strings(
                ['model_overrides={"widths": [64, 64], "gate_activation": "sigmoid"}']
            )
        )


def test_a_run_without_stored_configs_is_rebuilt_from_todays_presets(run, monkeypatch):
    run, recipe, _ = run
    old = json.loads(run.recipe_file.read_text())
    del old["model_config"]
    run.recipe_file.write_text(json.dumps(old))
    wider = widen_tiny(monkeypatch)
    run.check_recipe(recipe)  # nothing stored to compare with
    assert run.recipe() == recipe and run.model_config("student") == wider


def test_a_run_from_before_a_recipe_field_existed_resumes_with_its_default(run):
    run, recipe, _ = run
    old = json.loads(run.recipe_file.read_text())
    del old["mixup"]  # added to Recipe after runs were written
    run.recipe_file.write_text(json.dumps(old))
    run.check_recipe(recipe)
    assert run.recipe() == recipe
    with pytest.raises(ValueError, match=r"another recipe \(differs in \['distill', 'mixup'\]\)"):
        run.check_recipe(recipe.replace(distill=True, mixup=0.2))


def test_a_config_from_before_a_model_field_existed_resumes_with_its_default(run):
    run, recipe, _ = run
    old = json.loads(run.recipe_file.read_text())
    del old["model_config"]["student"]["usage_balance"]  # added to EBNetConfig later
    run.recipe_file.write_text(json.dumps(old))
    run.check_recipe(recipe)
    with pytest.raises(ValueError, match=r"whose \['student'\] model was built from another"):
        run.check_recipe(recipe.override_strings(['model_overrides={"usage_balance": 0.01}']))


def test_a_run_resumes_with_its_step1_run_named_another_way(tmp_path, monkeypatch):
    step1 = tmp_path / "experts" / "e1"
    step1.mkdir(parents=True)
    (tmp_path / "other").mkdir()
    recipe = small_recipe("distill=false")
    monkeypatch.chdir(tmp_path)
    relative, absolute = RunDir(tmp_path / "relative"), RunDir(tmp_path / "absolute")
    for run, name in ((relative, "experts/e1"), (absolute, str(step1))):
        run.path.mkdir()
        run.write_recipe(recipe.replace(step1_run=name))
    relative.check_recipe(recipe.replace(step1_run=str(step1)))
    monkeypatch.chdir(tmp_path / "experts")
    absolute.check_recipe(recipe.replace(step1_run="e1"))
    # Another step 1, or a directory that does not exist, is another recipe.
    for step1_run in (str(tmp_path / "other"), "gone"):
        with pytest.raises(ValueError, match=r"another recipe \(differs in \['step1_run'\]\)"):
            absolute.check_recipe(recipe.replace(step1_run=step1_run))


def test_a_run_that_distils_stores_its_teacher_too(tmp_path):
    run = RunDir(tmp_path)
    run.write_recipe(small_recipe())
    assert set(json.loads(run.recipe_file.read_text())["model_config"]) == {"student", "teacher"}
    assert run.model_config("teacher") == models.get_config("tiny_teacher")


def test_a_run_keeps_the_zoo_teacher_version_it_began_with(tmp_path, monkeypatch):
    from dataclasses import replace

    from ebn_tf import zoo
    from ebn_tf.training import get_recipe

    # The registry as it was while only fmnist_teacher v1 was published.
    published = zoo.registry.entries()
    v1 = zoo.get("fmnist_teacher@1")
    monkeypatch.setattr(zoo.registry, "entries", lambda: {**published, "fmnist_teacher": v1})
    recipe = get_recipe("fmnist_experts")  # teacher_weights=fmnist_teacher, unpinned
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.write_recipe(recipe)
    assert run.recipe() == recipe.replace(teacher_weights="fmnist_teacher@1")
    legacy = RunDir(tmp_path / "legacy")  # begun before runs pinned their teacher
    legacy.path.mkdir()
    legacy.recipe_file.write_text(
        run.recipe_file.read_text().replace("fmnist_teacher@1", "fmnist_teacher")
    )
    legacy.check_recipe(recipe)  # one version published: it is the one the run used

    # fmnist_teacher v2 is published (a wider network) while the runs are under way.
    wider = models.get_config("fmnist_teacher").replace(widths=(96, 192, 384))
    v2 = replace(v1, version=2, config=wider.to_json()).replacing(v1)
    monkeypatch.setattr(zoo.registry, "entries", lambda: {**published, "fmnist_teacher": v2})
    assert zoo.get("fmnist_teacher") == v2
    run.check_recipe(recipe)  # the run's teacher is still v1: nothing to mix
    assert pin_zoo_teacher(recipe, run.teacher_began_with()).teacher_weights == "fmnist_teacher@1"
    new = RunDir(tmp_path / "new").teacher_began_with()
    assert new is None and pin_zoo_teacher(recipe, new).teacher_weights == "fmnist_teacher@2"
    with pytest.raises(ValueError, match=r"differs in \['teacher_weights'\]"):
        run.check_recipe(recipe.replace(teacher_weights="fmnist_teacher@2"))
    with pytest.raises(ValueError, match=r"began before runs pinned .* versions 1 to 2.*Fix: in"):
        legacy.check_recipe(recipe)


def test_records_written_before_stages_were_timed_still_load(tmp_path):
    # result.json and summary.json as the first trainer wrote them: no "seconds".
    run = RunDir(tmp_path)
    run.stage_dir("step4").mkdir()
    stage = {"name": "step4", "epochs": 1, "val_accuracy": 0.8, "train_images_per_second": 300.0}
    run.result_file("step4").write_text(json.dumps(stage))
    final = {"test_accuracy": 0.79, "bops": 1, "ops": 2, "weights": "step4/final.weights.h5"}
    run.summary_file.write_text(
        json.dumps({"recipe": "fmnist_quick", "stages": [stage], "final": final})
    )
    assert run.stage_result("step4") == StageResult("step4", 1, 0.8, None, 300.0)
    assert run.stage_result("step1") is None  # not finished
    summary = run.summary()
    assert summary == RunSummary("fmnist_quick", (run.stage_result("step4"),), FinalResult(**final))
    assert summary.stage("step4").val_accuracy == 0.8 and summary.seconds is None
    assert RunSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
