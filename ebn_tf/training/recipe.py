"""Training recipes as data: flat, overridable fields and the ordered stage list they imply."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ebn_tf import data, layers, models
from ebn_tf._fields import Rule, check_fields, replace_known

# The paper's schedule (docs/design/method.md section 5): 75 epochs, warm-up 10, lr /10
# at 40, 55, 65.
PAPER_EPOCHS = 75
PAPER_WARMUP = 10 / PAPER_EPOCHS
PAPER_DECAYS = (40 / PAPER_EPOCHS, 55 / PAPER_EPOCHS, 65 / PAPER_EPOCHS)


@dataclass(frozen=True)
class StageConfig:
    """One stage of the policy: what to train, from which checkpoint, with which switches.

    Args:
        name: stage name; its checkpoint is ``MODEL_DIR/NAME``.
        model: ``"teacher"`` (the real-valued twin) or ``"student"`` (the EBNet).
        epochs: epochs of this stage.
        init_from: name of the stage whose final weights this stage starts from, or None.
        init_run: the run directory holding ``init_from`` when it is another run's (its
            expert 0 is loaded into every expert, see ``layers.load_first_expert``); None:
            this run.
        replicate_experts: copy expert 0 into the other experts first (step 2).
        force_expert: every sample goes to this expert (step 1), or None (the gates choose).
        one_expert: the student is built with one expert whatever its N (step 1, which
            trains expert 0 alone: N experts would only carry gates and a router left
            without gradient); the stage after it loads that expert into every expert.
        binary_weights: binarised kernels (step 4) or real-valued latent kernels.
        absorb_magnitude: first fold each expert layer's mean ``|W|`` into its scale, so
            that binarising real-trained kernels keeps the layer's output magnitude (step 4).
        weight_decay: decoupled weight decay of Adam in this stage.
        distill: add attention transfer and logit KL from the teacher.
    """

    name: str
    model: str
    epochs: int
    init_from: str | None = None
    init_run: str | None = None
    replicate_experts: bool = False
    force_expert: int | None = None
    one_expert: bool = False
    binary_weights: bool = True
    absorb_magnitude: bool = False
    weight_decay: float = 0.0
    distill: bool = False

    def built_config(self, config: models.EBNetConfig) -> models.EBNetConfig:
        """The config this stage builds its model with, from the run's ``config`` of it."""
        return config.replace(num_experts=1) if self.one_expert else config

    def switch(self, model) -> None:
        """Set a student's forced expert and kernel binarisation as this stage trains it;
        hold a router's routes (and the stem it reads) while the experts are not forced."""
        layers.set_forced_expert(model, self.force_expert)
        layers.set_binary_weights(model, self.binary_weights)
        layers.hold_stem(model, self.force_expert is None)


@dataclass(frozen=True)
class Recipe:
    """Everything a training run needs; ``stages()`` derives the ordered stage list.

    Steps (docs/design/method.md section 5): ``teacher`` (unless ``teacher_weights`` is given or
    ``teacher_epochs`` is 0; the preset ``teacher_model``, or else the student's real
    twin; ``train_student=False`` trains it alone, to publish and reuse; ``teacher_weights``
    is a weights file or a zoo model name, whose preset is then the teacher), ``step1`` (one
    expert, real weights, binary activations), ``step3`` (replicate expert 0, all experts
    and gates; from ``step1_run``'s step 1 if given, since step 1 is one expert whatever
    N is), ``step4`` (binary weights, from step 3). Each stage uses Adam with
    ``learning_rate``, linear warm-up over ``warmup`` of its epochs and /10 decays at the
    ``decays`` fractions of its epochs; ``mixup`` > 0 mixes up the batches of the distilled
    student stages with that Beta parameter (the release's option, 0.2). Every field is
    checked when a recipe is made (type from its annotation, range from ``_rules``).
    """

    name: str
    model: str
    dataset: str
    model_overrides: tuple[tuple[str, object], ...] = ()
    batch_size: int = 256
    learning_rate: float = 1e-3
    warmup: float = PAPER_WARMUP
    decays: tuple[float, ...] = PAPER_DECAYS
    # Decoupled (AdamW) decay, as the released code: 1e-2 while weights are real. The
    # paper's 1e-5 is a coupled L2 term; decoupled, it would shrink weights by 1e-8 a step.
    weight_decay_real: float = 1e-2
    teacher_epochs: int = 75
    step1_epochs: int = 75
    step3_epochs: int = 75
    step4_epochs: int = 75
    teacher_model: str | None = None
    teacher_weights: str | None = None
    train_student: bool = True
    step1_run: str | None = None
    distill: bool = True
    attention_weight: float = 1e3
    kl_weight: float = 1.0
    temperature: float = 1.0
    mixup: float = 0.0
    validation_fraction: float = 0.1
    train_limit: int | None = None
    eval_limit: int | None = None
    seed: int = 0

    def __post_init__(self):
        what = f"Recipe {self.name!r}"
        check_fields(self, what, self._rules())
        if self.trains_teacher and self.teacher_epochs < 1:
            raise ValueError(
                f"{what}: teacher_epochs={self.teacher_epochs} must be >= 1 when the recipe "
                "trains its teacher (distill without teacher_weights)."
            )
        if self.mixup and not (self.distill and self.train_student):
            raise ValueError(
                f"{what}: mixup={self.mixup} mixes the batches of the distilled student "
                "stages, so it needs distill=true and train_student=true; set mixup=0 to "
                "train without it."
            )
        if not self.train_student and self.teacher_weights is not None:
            raise ValueError(
                f"{what}: train_student=False trains the teacher alone, so teacher_weights "
                f"must be None (null), got {self.teacher_weights!r}."
            )
        try:
            models.get_config(self.model, **dict(self.model_overrides))
            if self.teacher_model is not None:
                models.get_config(self.teacher_model)
            data.get_spec(self.dataset)
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from error

    def _rules(self) -> dict[str, Rule]:
        """What each field allows beyond its annotated type (see ``check_fields``)."""
        positive, non_negative = (lambda v: v > 0, "> 0"), (lambda v: v >= 0, ">= 0")
        at_least_one = (lambda v: v >= 1, ">= 1")
        return {
            "batch_size": at_least_one,
            "learning_rate": positive,
            "warmup": (lambda v: 0 <= v < 1, "in [0, 1) (a fraction of a stage's epochs)"),
            "decays": (
                lambda v: all(0 < d < 1 for d in v),
                "in (0, 1) (fractions of a stage's epochs)",
            ),
            "weight_decay_real": non_negative,
            "teacher_epochs": non_negative,
            "step1_epochs": at_least_one,
            "step3_epochs": at_least_one,
            "step4_epochs": at_least_one,
            "attention_weight": non_negative,
            "kl_weight": non_negative,
            "temperature": positive,
            "mixup": non_negative,
            "validation_fraction": (lambda v: 0 < v < 1, "in (0, 1)"),
            # Fields are checked in order: batch_size is already checked here.
            "train_limit": (
                lambda v: v >= self.batch_size,
                f">= batch_size ({self.batch_size})",
            ),
            "eval_limit": at_least_one,
            "seed": non_negative,
        }

    @property
    def trains_teacher(self) -> bool:
        return (self.distill and self.teacher_weights is None) or not self.train_student

    def stages(self) -> list[StageConfig]:
        stages = []
        if self.trains_teacher:
            stages.append(
                StageConfig(
                    "teacher",
                    "teacher",
                    self.teacher_epochs,
                    binary_weights=False,
                    weight_decay=self.weight_decay_real,
                )
            )
        if not self.train_student:
            return stages
        real = dict(
            model="student",
            binary_weights=False,
            weight_decay=self.weight_decay_real,
            distill=self.distill,
        )
        if self.step1_run is None:
            stages.append(
                StageConfig(
                    "step1", epochs=self.step1_epochs, force_expert=0, one_expert=True, **real
                )
            )
        stages += [
            StageConfig(
                "step3",
                epochs=self.step3_epochs,
                init_from="step1",
                init_run=self.step1_run,
                replicate_experts=True,
                **real,
            ),
            StageConfig(
                "step4",
                "student",
                self.step4_epochs,
                init_from="step3",
                binary_weights=True,
                absorb_magnitude=True,
                weight_decay=0.0,
                distill=self.distill,
            ),
        ]
        return stages

    def stage(self, name: str) -> StageConfig:
        """The stage ``name`` of ``stages()``."""
        found = {stage.name: stage for stage in self.stages()}
        if name not in found:
            raise ValueError(f"The recipe {self.name!r} has no stage {name!r}: {list(found)}.")
        return found[name]

    def replace(self, **overrides) -> Recipe:
        """A copy with ``overrides`` of known fields; an unknown field is an error."""
        return replace_known(self, overrides, "recipe key")

    def override_strings(self, assignments: list[str]) -> Recipe:
        """Apply ``KEY=VALUE`` overrides; VALUE is JSON (``3``, ``0.1``, ``null``, ``[1,2]``)
        or else a plain string."""
        overrides = {}
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            if not sep:
                raise ValueError(f"Override {assignment!r} is not KEY=VALUE.")
            try:
                overrides[key.strip()] = json.loads(text)
            except json.JSONDecodeError:
                overrides[key.strip()] = text
        return self.replace(**overrides)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
