"""A teacher trained alone and reused, and one step 1 shared by runs of any expert count."""

import numpy as np
import pytest

from ebn_tf._keras import keras
from ebn_tf.layers import router_of
from ebn_tf.training import load_run, train, train_until
from ebn_tf.training.run_dir import RunDir
from ebn_tf.training.trainer import FINAL_WEIGHTS
from tests.harness import TWO_STEPS, small_recipe


def test_teacher_alone_then_reused_with_a_shared_step1(fmnist_data_dir, tmp_path, teacher_run):
    def run(name, *overrides):
        # Two steps a stage: only which stages run, and from where, is checked.
        recipe = small_recipe(*overrides, *TWO_STEPS)
        return train(recipe, tmp_path / name, "one_device", fmnist_data_dir, 0)

    # The teacher alone: small_recipe("train_student=false", "teacher_model=tiny_teacher",
    # "teacher_epochs=1"), trained once per session (conftest.py; publishing reads it too).
    teacher_dir, alone = teacher_run
    assert [s.name for s in alone.stages] == ["teacher"]
    assert 0 <= alone.final.test_accuracy <= 1 and alone.final.bops == 0
    assert load_run(teacher_dir)[0].name == "tiny_teacher"

    teacher = f"teacher_weights={teacher_dir / 'teacher' / FINAL_WEIGHTS}"
    one_expert = (teacher, 'model_overrides={"num_experts": 1}')
    # Only the step 1 that the 4-expert run starts from; the 1-expert run goes on later.
    step1 = train_until(
        small_recipe(*one_expert, *TWO_STEPS),
        tmp_path / "one_expert",
        "step1",
        "one_device",
        fmnist_data_dir,
        0,
    )
    assert step1.name == "step1"
    shared = RunDir(tmp_path / "one_expert")
    assert not shared.stage_dir("step3").exists() and not shared.summary_file.exists()
    step1_bytes = shared.weights("step1").read_bytes()
    four = run("four_experts", teacher, f"step1_run={tmp_path / 'one_expert'}")
    assert [s.name for s in four.stages] == ["step3", "step4"]
    assert not (tmp_path / "four_experts" / "step1").exists()
    assert load_run(tmp_path / "four_experts")[0].get_layer("stage1_block1_conv1").num_experts == 4
    one = run("one_expert", *one_expert)
    assert [s.name for s in one.stages] == ["step1", "step3", "step4"]
    assert one.stages[0] == step1 and shared.weights("step1").read_bytes() == step1_bytes


def test_routed_run_holds_the_stem_and_router_from_step3(fmnist_data_dir, tmp_path, teacher_run):
    teacher_dir, _ = teacher_run
    teacher = f"teacher_weights={teacher_dir / 'teacher' / FINAL_WEIGHTS}"
    recipe = small_recipe(teacher, 'model_overrides={"routing": "stem"}', *TWO_STEPS)
    train(recipe, tmp_path, "one_device", fmnist_data_dir, 0)
    run = RunDir(tmp_path)
    step1, step3, step4 = (run.model(stage) for stage in ("step1", "step3", "step4"))
    held = [layer.name for layer in keras.Model(step4.inputs, router_of(step4).output).layers]
    assert {"stem_conv", "stem_conv_bn", "router"} <= set(held)
    # Step 1 is built with one expert: no gates, no router, nothing left without gradient.
    assert router_of(step1) is None and step4.get_layer("router").num_experts == 4
    for name in held:
        # The router starts on clusters at step 3, then holds; the stem holds from step 1.
        if name != "router":
            for a, b in zip(
                step1.get_layer(name).get_weights(), step4.get_layer(name).get_weights()
            ):
                np.testing.assert_array_equal(a, b)
        for a, b in zip(step3.get_layer(name).get_weights(), step4.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_train_until_an_unknown_stage_names_the_recipes_stages(tmp_path):
    with pytest.raises(ValueError, match=r"no stage 'step2': \['teacher', 'step1', 'step3'"):
        train_until(small_recipe(), tmp_path, "step2")
    assert not tmp_path.joinpath("recipe.json").exists()
