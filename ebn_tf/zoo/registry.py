"""The published models, described as data in ``registry.json`` (written by the zoo app's
``publish``, ``ebn_tf.apps.publish``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from ebn_tf import models

REGISTRY_FILE = Path(str(resources.files("ebn_tf.zoo").joinpath("registry.json")))
KINDS = ("keras", "tflite")


@dataclass(frozen=True)
class ZooFile:
    """One published file: where the default host serves it, its sha256 and size."""

    url: str
    sha256: str
    bytes: int

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ZooModel:
    """A published model.

    Args:
        name: zoo name.
        version: bumped whenever a file changes (file names carry it).
        description: one line.
        preset: the ``ebn_tf.models`` preset it was built from, with ``overrides``.
        config: the resolved ``EBNetConfig`` of the published network, as a dict: the
            model is rebuilt from it, whatever the preset holds by then (see
            ``model_config``).
        dataset: the ``ebn_tf.data`` dataset it was trained and is evaluated on.
        input_shape: image shape; pixels as the dataset stores them (0-255).
        recipe: the training recipe, with ``recipe_overrides``; ``command`` reproduces it.
        trained_here: False for a card without weights (the command was not run here).
        metrics: measured figures (``test_top1``, ``bops``, ``ops``, ``tflite_bytes``, ...).
        files: ``{"keras": ZooFile, "tflite": ZooFile}``, empty when not trained here.
        older_versions: the entries this one replaced, oldest first; ``get("NAME@K")``
            returns version K (their files keep their versioned names).
    """

    name: str
    version: int
    description: str
    preset: str
    dataset: str
    input_shape: tuple[int, ...]
    recipe: str
    command: str
    trained_here: bool
    metrics: dict
    overrides: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    recipe_overrides: tuple[str, ...] = ()
    files: dict[str, ZooFile] = field(default_factory=dict)
    older_versions: tuple[ZooModel, ...] = ()

    @classmethod
    def from_json(cls, entry: dict) -> ZooModel:
        entry = dict(entry)
        entry["input_shape"] = tuple(entry["input_shape"])
        entry["recipe_overrides"] = tuple(entry.get("recipe_overrides", ()))
        entry["files"] = {kind: ZooFile(**f) for kind, f in entry.get("files", {}).items()}
        entry["older_versions"] = tuple(map(cls.from_json, entry.get("older_versions", ())))
        return cls(**entry)

    def to_json(self) -> dict:
        entry = {k: getattr(self, k) for k in self.__dataclass_fields__}
        entry["input_shape"] = list(self.input_shape)
        entry["recipe_overrides"] = list(self.recipe_overrides)
        entry["files"] = {kind: vars(f) for kind, f in self.files.items()}
        entry["older_versions"] = [older.to_json() for older in self.older_versions]
        if not entry["older_versions"]:
            del entry["older_versions"]
        return entry

    def replacing(self, published: ZooModel | None) -> ZooModel:
        """This entry as the newest version of its name, keeping ``published`` (the
        entry it replaces) and its older versions, except any of this entry's version."""
        if published is None:
            return self
        older = (*published.older_versions, replace(published, older_versions=()))
        kept = sorted((m for m in older if m.version != self.version), key=lambda m: m.version)
        return replace(self, older_versions=tuple(kept))

    def version_spec(self) -> str:
        """``NAME@VERSION``: what ``get`` takes to return this version, after newer ones."""
        return f"{self.name}@{self.version}"

    def model_config(self) -> models.EBNetConfig:
        """The config of the published network: the stored one, or for an entry written
        before configs were stored, its preset with its overrides as they resolve today."""
        if self.config:
            return models.EBNetConfig(**self.config)
        return models.get_config(self.preset, **self.overrides)


def entries(path: Path = REGISTRY_FILE) -> dict[str, ZooModel]:
    """The published models of the registry file ``path``, by name."""
    data = json.loads(path.read_text()) if path.exists() else {}
    return {name: ZooModel.from_json(entry) for name, entry in data.items()}


def names() -> list[str]:
    """Names of the published models."""
    return sorted(entries())


def is_published(name: str) -> bool:
    """Whether ``name`` (``NAME`` or ``NAME@K``) names a published model's name; ``get``
    says whether version K exists."""
    return name.partition("@")[0] in entries()


def split_version(name: str) -> tuple[str, int | None]:
    """``"NAME@K"`` -> ``("NAME", K)``; a plain name -> ``(name, None)`` (the newest)."""
    base, _, version = name.partition("@")
    if not version:
        return name, None
    if not version.isdigit():
        raise ValueError(
            f"Zoo model {name!r}: the version after '@' must be a whole number, e.g. {base}@1."
        )
    return base, int(version)


def get(name: str) -> ZooModel:
    """The registry entry of ``name``, or of an older version with ``NAME@K``; an unknown
    name lists the known ones, an unknown version the published ones."""
    base, version = split_version(name)
    models = entries()
    if base not in models:
        raise ValueError(f"Unknown zoo model {base!r}; known models: {sorted(models)}.")
    newest = models[base]
    versions = {m.version: m for m in (*newest.older_versions, newest)}
    if version is None:
        return newest
    if version not in versions:
        raise ValueError(
            f"Zoo model {base!r} has no version {version}; published: "
            f"{', '.join(f'{base}@{v}' for v in sorted(versions))}."
        )
    return versions[version]
