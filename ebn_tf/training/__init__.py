"""Staged EBNet training: recipes, distillation, strategies, trainer (the policy and the
distillation are docs/design/method.md sections 5 and 6).

Imports tensorflow-datasets (through ``ebn_tf.data``); ``import ebn_tf`` does not.
"""

from ebn_tf.training.configs import model_config
from ebn_tf.training.distill import Distiller, attention_transfer, logit_kl
from ebn_tf.training.distribute import STRATEGIES, make_strategy
from ebn_tf.training.recipe import Recipe, StageConfig
from ebn_tf.training.recipes import get_recipe, recipe_names, register_recipe
from ebn_tf.training.run_dir import FinalResult, RunDir, RunSummary, StageResult, load_run
from ebn_tf.training.schedule import WarmupStepDecay
from ebn_tf.training.trainer import train, train_until

__all__ = [
    "STRATEGIES",
    "Distiller",
    "FinalResult",
    "Recipe",
    "RunDir",
    "RunSummary",
    "StageConfig",
    "StageResult",
    "WarmupStepDecay",
    "attention_transfer",
    "get_recipe",
    "load_run",
    "logit_kl",
    "make_strategy",
    "model_config",
    "recipe_names",
    "register_recipe",
    "train",
    "train_until",
]
