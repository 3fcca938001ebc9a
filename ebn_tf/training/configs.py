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
