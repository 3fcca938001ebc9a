"""The model configs a recipe resolves to: its student, and the teacher it trains or uses."""

from __future__ import annotations

from pathlib import Path

from ebn_tf import models, zoo
from ebn_tf.training.recipe import Recipe

KINDS = ("student", "teacher")


def model_config(recipe: Recipe, kind: str) -> models.EBNetConfig:
    """The config of a recipe's ``"student"`` or ``"teacher"`` (its ``teacher_model``, the
    zoo model its ``teacher_weights`` names, or else the student's real-valued twin), as
    the presets and the zoo registry resolve it today."""
    student = models.get_config(recipe.model, **dict(recipe.model_overrides))
    if kind == "student":
        return student
    if recipe.teacher_model:
        return models.get_config(recipe.teacher_model)
    if name := zoo_teacher(recipe):
        return zoo.get(name).model_config()
    return student.teacher()


def zoo_teacher(recipe: Recipe) -> str | None:
    """The zoo model that ``teacher_weights`` names (``NAME`` or ``NAME@VERSION``), if it
    names one instead of a file."""
    return zoo_model_name(recipe.teacher_weights)


def pin_zoo_teacher(recipe: Recipe, began: str | None = None) -> Recipe:
    """``recipe`` with its zoo teacher (``teacher_weights`` naming a zoo model without a
    version) pinned as ``NAME@K``: to ``began``, the pinned teacher a run began with
    (``RunDir.teacher_began_with``), if it is the same model, else to the newest version.
    A run stores its recipe pinned, so a newer version published while it is under way
    is never mixed into it."""
    name = zoo_teacher(recipe)
    if name is None or "@" in name:
        return recipe
    if began is not None and began.partition("@")[0] == name:
        return recipe.replace(teacher_weights=began)
    return recipe.replace(teacher_weights=zoo.get(name).version_spec())


def pin_stored_teacher(name: str, recipe_file: Path) -> str:
    """The pinned form of zoo teacher ``name`` as a run stored it in ``recipe_file``:
    itself, or for a run begun before runs pinned their teacher, the zoo model's only
    version (with several, which one the run used is unknown)."""
    if "@" in name:
        return name
    newest = zoo.get(name)
    if newest.older_versions:
        raise ValueError(
            f"{recipe_file.parent} began before runs pinned their zoo teacher, and {name!r} "
            f"now has versions 1 to {newest.version}: which one it distilled from is "
            f"unknown. Fix: in {recipe_file}, set teacher_weights to {name}@K, K the version "
            "published when the run began; or use a new --model_dir."
        )
    return newest.version_spec()


def zoo_model_name(name: str | None) -> str | None:
    """``name`` if it names a zoo model (``NAME`` or ``NAME@VERSION``) rather than a file."""
    if not name or Path(name).exists():
        return None
    return name if zoo.registry.is_published(name) else None


def run_configs(recipe: Recipe) -> dict[str, models.EBNetConfig]:
    """The configs a run of ``recipe`` builds, by kind: the student, and the teacher when
    the run trains one or distils from one."""
    uses_teacher = recipe.trains_teacher or recipe.distill
    return {kind: model_config(recipe, kind) for kind in KINDS if kind == "student" or uses_teacher}
