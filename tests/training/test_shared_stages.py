"""A teacher trained alone and reused, and one step 1 shared by runs of any expert count."""

from ebn_tf.training import load_run, train
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
    one = run("one_expert", teacher, 'model_overrides={"num_experts": 1}')
    assert [s.name for s in one.stages] == ["step1", "step3", "step4"]
    four = run("four_experts", teacher, f"step1_run={tmp_path / 'one_expert'}")
    assert [s.name for s in four.stages] == ["step3", "step4"]
    assert not (tmp_path / "four_experts" / "step1").exists()
    assert load_run(tmp_path / "four_experts")[0].get_layer("stage1_block1_conv1").num_experts == 4
