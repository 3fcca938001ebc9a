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
    with pytest.raises(ValueError, match=r"Recipe 'r': temperature=0 must be a number > 0\."):
        Recipe(name="r", model="tiny", dataset="fashion_mnist", temperature=0)


@pytest.mark.parametrize(
    "override,message",
    [
        ("validation_fraction=abc", "validation_fraction='abc' must be a number in (0, 1)."),
        ("train_limit=abc", "train_limit='abc' must be None (null) or an int >= batch_size (256)."),
        ("train_limit=100", "train_limit=100 must be None (null) or an int >= batch_size (256)."),
        ("decays=abc", "decays='abc' must be a list of numbers in (0, 1) (fractions of a"),
        ("decays=[0.5, 1]", "decays=[0.5, 1] must be a list of numbers in (0, 1)"),
        ("eval_limit=abc", "eval_limit='abc' must be None (null) or an int >= 1."),
        ("eval_limit=0", "eval_limit=0 must be None (null) or an int >= 1."),
        ("batch_size=true", "batch_size=True must be an int >= 1."),
        ("batch_size=0", "batch_size=0 must be an int >= 1."),
        ("step1_epochs=1.5", "step1_epochs=1.5 must be an int >= 1."),
        ("learning_rate=NaN", "learning_rate=nan must be a number > 0."),
        ("distill=yes", "distill='yes' must be a bool (true or false)."),
        ("teacher_weights=3", "teacher_weights=3 must be None (null) or a string."),
        ("model_overrides=abc", "model_overrides='abc' must be a dict whose keys are strings."),
        ("model_overrides=[1]", "model_overrides=[1] must be a dict whose keys are strings."),
        (
            'model_overrides={"num_experts": true}',
            "EBNetConfig 'ebnet_fmnist': num_experts=True must be an int >= 1.",
        ),
        ('model_overrides={"depth": 3}', "Unknown EBNetConfig field(s) ['depth']"),
        ("model=ebnet_huge", "Unknown model preset 'ebnet_huge'; known presets:"),
        ("dataset=mnist", "Unknown dataset 'mnist'; known datasets:"),
        ("teacher_epochs=0", "teacher_epochs=0 must be >= 1 when the recipe trains its teacher"),
    ],
)
def test_every_recipe_value_is_checked_when_read(override, message):
    with pytest.raises(ValueError) as raised:
        get_recipe("fmnist_quick", [override])
    assert str(raised.value).startswith("Recipe 'fmnist_quick': ")
    assert message in str(raised.value)


def test_recipe_values_are_normalised():
    recipe = get_recipe(
        "fmnist_quick",
        ["decays=[0.5]", "warmup=0", 'model_overrides={"num_experts": 1, "blocks": [1, 2, 1]}'],
    )
    assert (recipe.decays, recipe.warmup) == ((0.5,), 0.0) and isinstance(recipe.warmup, float)
    assert recipe.model_overrides == (("blocks", [1, 2, 1]), ("num_experts", 1))
    assert get_recipe("fmnist_quick", ["teacher_epochs=0", "distill=false"]).teacher_epochs == 0


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
