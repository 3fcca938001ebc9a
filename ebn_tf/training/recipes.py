"""Registered recipes: functions returning a ``Recipe``; names must be unique."""

from __future__ import annotations

from collections.abc import Callable

from ebn_tf.training.recipe import Recipe

_RECIPES: dict[str, Callable[[], Recipe]] = {}


def register_recipe(function: Callable[[], Recipe]) -> Callable[[], Recipe]:
    """Register ``function`` under its name; a duplicate name is an error."""
    name = function.__name__
    if name in _RECIPES:
        raise ValueError(f"Recipe {name!r} is already registered.")
    _RECIPES[name] = function
    return function


def recipe_names() -> list[str]:
    return sorted(_RECIPES)


def get_recipe(name: str, overrides: list[str] | None = None) -> Recipe:
    """The recipe ``name`` with ``KEY=VALUE`` overrides of its known keys."""
    if name not in _RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known recipes: {recipe_names()}.")
    return _RECIPES[name]().override_strings(overrides or [])


@register_recipe
def imagenet_ebnet() -> Recipe:
    """The paper's recipe (docs/design/method.md section 5) for a multi-GPU machine: 75
    epochs a stage."""
    return Recipe(
        name="imagenet_ebnet", model="ebnet_imagenet", dataset="imagenet2012", batch_size=256
    )


@register_recipe
def cifar100_ebnet() -> Recipe:
    """The paper's schedule shortened to 60 epochs a stage, on CIFAR-100."""
    epochs = dict(teacher_epochs=60, step1_epochs=60, step3_epochs=60, step4_epochs=60)
    return Recipe(
        name="cifar100_ebnet", model="ebnet_cifar", dataset="cifar100", batch_size=128, **epochs
    )


@register_recipe
def fmnist_ebnet() -> Recipe:
    """The full staged recipe on the embedded Fashion-MNIST, sized for a 2-core CPU."""
    epochs = dict(teacher_epochs=5, step1_epochs=5, step3_epochs=5, step4_epochs=5)
    return Recipe(
        name="fmnist_ebnet", model="ebnet_fmnist", dataset="fashion_mnist", batch_size=256, **epochs
    )


@register_recipe
def fmnist_teacher() -> Recipe:
    """The strong real-valued teacher of the Fashion-MNIST students, trained alone; recipes
    reuse it through ``teacher_weights`` (the zoo's ``fmnist_teacher``: v1 is this recipe,
    93.72%; v2 adds ``teacher_epochs=40``, 94.17%)."""
    return Recipe(
        name="fmnist_teacher",
        model="ebnet_fmnist",
        dataset="fashion_mnist",
        teacher_model="fmnist_teacher",
        train_student=False,
        teacher_epochs=20,
        batch_size=256,
    )


@register_recipe
def fmnist_experts() -> Recipe:
    """EBNet-4 against 1 expert on Fashion-MNIST: the zoo's strong teacher, 8 epochs a
    step, the released gate gradient (``benchmarks.expert_ablation`` runs both, sharing
    step 1 per seed)."""
    epochs = dict(step1_epochs=8, step3_epochs=8, step4_epochs=8)
    return Recipe(
        name="fmnist_experts",
        model="ebnet_fmnist",
        dataset="fashion_mnist",
        model_overrides={"execution": "kernel_mix"},
        teacher_weights="fmnist_teacher",
        batch_size=256,
        **epochs,
    )


@register_recipe
def fmnist_quick() -> Recipe:
    """The demo: every step of the policy, one epoch each, on a slice of Fashion-MNIST
    (7,680 training images, 2,560 each of validation and test), sized to take about a
    quarter of an hour on a 2-core CPU without AVX-512 (BENCHMARKS.md, cpu_paths)."""
    epochs = dict(teacher_epochs=1, step1_epochs=1, step3_epochs=1, step4_epochs=1)
    return Recipe(
        name="fmnist_quick",
        model="ebnet_fmnist",
        dataset="fashion_mnist",
        batch_size=256,
        train_limit=7680,
        eval_limit=2560,
        warmup=0.0,
        **epochs,
    )


@register_recipe
def fmnist_proxy() -> Recipe:
    """The growth search's short proxy: steps 1, 3 and 4 of one epoch on 25,600 images,
    without a teacher; candidates are ranked by validation top-1."""
    epochs = dict(teacher_epochs=1, step1_epochs=1, step3_epochs=1, step4_epochs=1)
    return Recipe(
        name="fmnist_proxy",
        model="fmnist_search_base",
        dataset="fashion_mnist",
        batch_size=256,
        train_limit=25600,
        distill=False,
        **epochs,
    )
