import numpy as np
import pytest

from ebn_tf._keras import tf
from ebn_tf.training import (
    Recipe,
    WarmupStepDecay,
    attention_transfer,
    get_recipe,
    logit_kl,
    make_strategy,
    recipe_names,
)
from ebn_tf.training.distribute import check_batch
from tests.harness import two_cpu_strategy


def test_registered_recipes():
    assert {"imagenet_ebnet", "cifar100_ebnet", "fmnist_ebnet", "fmnist_quick"} <= set(
        recipe_names()
    )
    paper = get_recipe("imagenet_ebnet")
    assert (paper.learning_rate, paper.step1_epochs, paper.weight_decay_real) == (1e-3, 75, 1e-2)


def test_stage_list_follows_the_four_step_policy():
    stages = get_recipe("fmnist_quick").stages()
    assert [s.name for s in stages] == ["teacher", "step1", "step3", "step4"]
    teacher, step1, step3, step4 = stages
    assert teacher.model == "teacher" and step1.model == "student"
    assert step1.force_expert == 0 and not step1.binary_weights and step1.init_from is None
    assert step3.init_from == "step1" and step3.replicate_experts and step3.force_expert is None
    assert step4.init_from == "step3" and step4.binary_weights and step4.weight_decay == 0.0
    assert step4.absorb_magnitude and not any(s.absorb_magnitude for s in (teacher, step1, step3))
    assert step1.weight_decay == step3.weight_decay == 1e-2
    assert not teacher.binary_weights
    no_teacher = get_recipe("fmnist_quick", ["teacher_weights=t.h5"]).stages()
    assert [s.name for s in no_teacher] == ["step1", "step3", "step4"]


def test_overrides_of_known_keys_only():
    recipe = get_recipe(
        "fmnist_quick", ["step4_epochs=3", "model=tiny", 'model_overrides={"num_experts": 2}']
    )
    assert recipe.step4_epochs == 3 and recipe.model == "tiny"
    assert dict(recipe.model_overrides) == {"num_experts": 2}
    with pytest.raises(
        ValueError, match=r"Unknown recipe key\(s\) \['epochs'\]; known recipe keys"
    ):
        get_recipe("fmnist_quick", ["epochs=3"])
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        get_recipe("fmnist_quick", ["epochs"])
    with pytest.raises(ValueError, match="known recipes: .*fmnist_quick"):
        get_recipe("mnist_fast")
    with pytest.raises(ValueError, match="batch_size=0 must be a positive int"):
        get_recipe("fmnist_quick", ["batch_size=0"])
    with pytest.raises(ValueError, match="train_limit=100 must be None or at least batch_size"):
        get_recipe("fmnist_quick", ["train_limit=100"])
    with pytest.raises(ValueError, match="temperature=0 must be a positive number"):
        Recipe(name="r", model="tiny", dataset="fashion_mnist", temperature=0)


def test_schedule_warms_up_then_decays_tenfold_at_each_boundary():
    schedule = WarmupStepDecay(1e-3, 750, warmup=10 / 75, decays=(40 / 75, 55 / 75, 65 / 75))
    rates = np.array([float(schedule(step)) for step in range(750)])
    assert rates[0] < rates[50] < rates[99] == pytest.approx(1e-3)
    assert rates[100:400] == pytest.approx(1e-3)
    assert rates[400:550] == pytest.approx(1e-4)
    assert rates[550:650] == pytest.approx(1e-5)
    assert rates[650:] == pytest.approx(1e-6)
    assert WarmupStepDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_distillation_terms():
    rng = np.random.default_rng(0)
    features = [tf.constant(rng.normal(size=(4, 7, 7, 8)), tf.float32)]
    other = [tf.constant(rng.normal(size=(4, 7, 7, 8)), tf.float32)]
    assert float(attention_transfer(features, features)) == 0.0
    assert float(attention_transfer(features, other)) > 0.0
    # Scaling features does not change normalised attention maps.
    assert float(attention_transfer(features, [3.0 * features[0]])) == pytest.approx(0, abs=1e-9)
    logits = tf.constant(rng.normal(size=(4, 10)), tf.float32)
    assert float(logit_kl(logits, logits)) == pytest.approx(0.0, abs=1e-6)
    teacher = tf.constant(rng.normal(size=(4, 10)), tf.float32)
    p = tf.nn.softmax(teacher).numpy()
    q = tf.nn.softmax(logits).numpy()
    expected = np.mean(np.sum(p * np.log(p / q), axis=-1))
    assert float(logit_kl(logits, teacher)) == pytest.approx(expected, rel=1e-4)


def test_strategies_and_batch_split():
    assert make_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        make_strategy("tpu")
    with pytest.raises(ValueError, match="batch_size=7 does not split across 2 replicas"):
        check_batch(two_cpu_strategy(), 7)
