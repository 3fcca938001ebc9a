"""The directory of a training run: its layout, and reading it back."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ebn_tf import models, zoo
from ebn_tf._keras import keras
from ebn_tf.outputs import write_atomic
from ebn_tf.training.configs import model_config, run_configs, zoo_model_name, zoo_teacher
from ebn_tf.training.recipe import Recipe

FINAL_WEIGHTS = "final.weights.h5"
STAGE_RESULT = "result.json"
# The key of recipe.json that holds the resolved model configs beside the recipe's fields.
MODEL_CONFIG = "model_config"


def _field_defaults() -> dict:
    return {
        field.name: field.default
        for field in dataclasses.fields(Recipe)
        if field.default is not dataclasses.MISSING
    }


def _as_json(value):
    """``value`` as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(value))


class RunDir:
    """A run directory of ``ebn_tf.training.train``::

        recipe.json           the recipe's fields (a zoo teacher pinned to the version
                              the run began with: NAME@K), and "model_config": the
                              resolved config of the student and of the teacher it
                              trains or uses
        STAGE/                one per stage of ``recipe.stages()``: final.weights.h5 and
                              result.json once finished; metrics.csv, logs/ (TensorBoard)
        summary.json          once the whole run is finished

    Models are rebuilt from the stored configs, so editing a preset leaves finished runs
    as they were; a run written before configs were stored is rebuilt from its recipe.

    Example:
        >>> run = RunDir("runs/fmnist")
        >>> model = run.model()  # the final binary network with its weights
        >>> teacher = run.model("teacher")
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.json"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def weights(self, stage: str) -> Path:
        """The final weights of ``stage`` (they exist once it is finished)."""
        return self.stage_dir(stage) / FINAL_WEIGHTS

    def result_file(self, stage: str) -> Path:
        """The result of ``stage``, written last: it marks the stage finished."""
        return self.stage_dir(stage) / STAGE_RESULT

    def _stored(self) -> dict:
        if not self.recipe_file.exists():
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({self.recipe_file} is missing); run it "
                "with the train app first."
            )
        return json.loads(self.recipe_file.read_text())

    def recipe(self) -> Recipe:
        """The recipe the run was trained with."""
        stored = self._stored()
        stored.pop(MODEL_CONFIG, None)
        return Recipe(**stored)

    def pinned(self, recipe: Recipe) -> Recipe:
        """``recipe`` with its zoo teacher (``teacher_weights`` naming a zoo model without a
        version) pinned as ``NAME@K`` to the version this run began with, else the newest.
        The run stores its recipe pinned, so a newer version published while it is under
        way is never mixed into it."""
        name = zoo_teacher(recipe)
        if name is None or "@" in name:
            return recipe
        began = self._stored().get("teacher_weights") if self.recipe_file.exists() else None
        if began is not None and began.partition("@")[0] == name:
            return recipe.replace(teacher_weights=self._pin(began))
        return recipe.replace(teacher_weights=zoo.get(name).version_spec())

    def _pin(self, name: str) -> str:
        """The pinned form of a stored zoo teacher: itself, or for a run begun before runs
        pinned their teacher, the zoo model's only version (with several, which one the
        run used is unknown)."""
        if "@" in name:
            return name
        newest = zoo.get(name)
        if newest.older_versions:
            raise ValueError(
                f"{self.path} began before runs pinned their zoo teacher, and {name!r} now "
                f"has versions 1 to {newest.version}: which one it distilled from is unknown. "
                f"Fix: in {self.recipe_file}, set teacher_weights to {name}@K, K the version "
                "published when the run began; or use a new --model_dir."
            )
        return newest.version_spec()

    def model_config(self, kind: str) -> models.EBNetConfig:
        """The config of the run's ``"student"`` or ``"teacher"`` as it was resolved when
        the run began (a run written before configs were stored: as its recipe resolves
        today)."""
        stored = self._stored().get(MODEL_CONFIG, {})
        if kind in stored:
            return models.EBNetConfig(**stored[kind])
        return model_config(self.recipe(), kind)

    def check_recipe(self, recipe: Recipe) -> None:
        """Raise if the directory holds a run of another recipe, or of other models than
        ``recipe`` resolves to today (a preset edited since): resuming would mix the two.
        Zoo teachers are compared pinned (``NAME`` is the version the run began with)."""
        if not self.recipe_file.exists():
            return
        before = self._stored()
        stored = before.pop(MODEL_CONFIG, None)
        # A run written before a recipe field existed trained with that field's default.
        before = {**_as_json(_field_defaults()), **before}
        recipe = self.pinned(recipe)
        if zoo_model_name(before.get("teacher_weights")):
            before["teacher_weights"] = self._pin(before["teacher_weights"])
        resolved = _as_json(recipe.to_json())
        if before != resolved:
            changed = sorted(k for k in resolved if before.get(k) != resolved[k])
            raise ValueError(
                f"{self.path} holds a run of another recipe (differs in {changed}); resuming "
                "it would mix the two. Fix: use a new --model_dir, or the run's own recipe "
                "and overrides."
            )
        configs = _as_json({k: c.to_json() for k, c in run_configs(recipe).items()})
        if stored is not None and stored != configs:
            changed = sorted(k for k in {*configs, *stored} if stored.get(k) != configs.get(k))
            raise ValueError(
                f"{self.path} holds a run whose {changed} model was built from another config "
                "than its recipe resolves to now (a preset was edited since); resuming it "
                "would mix the two. Fix: use a new --model_dir."
            )

    def write_recipe(self, recipe: Recipe) -> None:
        """Write ``recipe``, its zoo teacher pinned, and the model configs it resolves to."""
        recipe = self.pinned(recipe)
        configs = {kind: config.to_json() for kind, config in run_configs(recipe).items()}
        write_atomic(
            self.recipe_file, json.dumps({**recipe.to_json(), MODEL_CONFIG: configs}, indent=2)
        )

    @property
    def finished(self) -> bool:
        return self.summary_file.exists()

    def summary(self) -> dict:
        """The summary of the finished run (see ``ebn_tf.training.train``)."""
        if not self.finished:
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({self.summary_file} is missing); run or "
                "resume it with the train app first."
            )
        return json.loads(self.summary_file.read_text())

    def model(self, stage: str | None = None) -> keras.Model:
        """The model of the finished ``stage`` with its final weights, switched as that stage
        trained it (step 1: expert 0 forced; steps 1 and 3: real-valued kernels); by default
        the last stage's (the binary student, or the teacher of a teacher-only run)."""
        stages = {s.name: s for s in self.recipe().stages()}
        if stage is not None and stage not in stages:
            raise ValueError(f"The run in {self.path} has no stage {stage!r}: {list(stages)}.")
        config = stages[stage or list(stages)[-1]]
        weights = self.weights(config.name)
        if not weights.exists():
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({weights} is missing); run or resume it "
                "with the train app first."
            )
        model = models.build(self.model_config(config.model))
        model.load_weights(weights)
        if config.model == "student":
            config.switch(model)
        return model


def load_run(model_dir: str | os.PathLike) -> tuple[keras.Model, Recipe]:
    """The model a finished run ends with (the binary student, or the teacher of a
    teacher-only run), and the run's recipe."""
    run = RunDir(model_dir)
    return run.model(), run.recipe()
