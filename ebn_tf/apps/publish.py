"""Publishing a finished run to the zoo: files, registry entry and model card, all measured.

Release tooling of ``ebn-zoo publish``, not library API: it writes the zoo folder and the
registry file it is given (in a checkout, ``zoo/`` and ``ebn_tf/zoo/registry.json``, which
``ebn_tf.zoo`` reads). Every figure of an entry and its card comes from running the model
here: top-1 from ``evaluate``'s code path on the whole test split, the TFLite size, audit,
parity, the check on LCE's ARM kernels (when a runner is available, see
``ebn_tf.export.arm``) and latency from ``ebn_tf.export``, the costs from ``cost.profile``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from ebn_tf import cost, data, export, models, training
from ebn_tf.apps.sources import parity_pool
from ebn_tf.outputs import check_output_dir
from ebn_tf.training import get_recipe
from ebn_tf.zoo import official
from ebn_tf.zoo.files import sha256
from ebn_tf.zoo.loading import top1
from ebn_tf.zoo.registry import ZooFile, ZooModel, entries

# The zoo files' release on the project's host; EBN_ZOO_MIRROR replaces it.
DEFAULT_HOST = "https://github.com/ebn-tf/ebn_tf/releases/download/zoo"


def _recipe_overrides(recipe) -> list[str]:
    """``KEY=VALUE`` overrides that turn the registered recipe into ``recipe``."""
    base = json.loads(json.dumps(get_recipe(recipe.name).to_json()))
    resolved = json.loads(json.dumps(recipe.to_json()))
    changed = {k: v for k, v in resolved.items() if base[k] != v}
    if "model_overrides" in changed:
        changed["model_overrides"] = dict(changed["model_overrides"])
    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in changed.items()]


def _command(recipe_name: str, model_dir: str, overrides: list[str]) -> str:
    words = ["ebn-train", "--recipe", recipe_name, "--model_dir", model_dir]
    for override in overrides:
        words += ["--override", override]
    return shlex.join(words)


def _cost_metrics(model) -> dict:
    report = cost.profile(model)
    return {
        "bops": report.bops,
        "ops": report.ops,
        "binary_params": report.binary_params,
        "real_params": report.real_params,
        "packed_bytes": report.packed_bytes,
    }


def _files(zoo_dir: Path, name: str, version: int) -> dict[str, Path]:
    return {
        "keras": zoo_dir / f"{name}-v{version}.weights.h5",
        "tflite": zoo_dir / f"{name}-v{version}.tflite",
    }


def _check_unpublished(
    name: str, version: int, zoo_dir: str | Path, registry: Path, overwrite: bool
) -> Path:
    """``zoo_dir`` as a ``Path``; raises unless publishing ``name`` v``version`` there
    replaces no entry or file of the zoo, or ``overwrite`` allows it."""
    if "@" in name:
        raise ValueError(
            f"Zoo name {name!r} holds '@', which marks a version (NAME@K). Fix: publish "
            f"{name.partition('@')[0]!r} with version=K (--version K)."
        )
    zoo_dir = check_output_dir(zoo_dir)
    published = entries(registry).get(name)
    if published is not None and version < published.version:
        raise ValueError(
            f"Zoo model {name!r} is published as v{published.version} in {registry}; v{version} "
            f"is older. Fix: publish v{published.version + 1}, or v{published.version} with "
            "overwrite=True (--overwrite)."
        )
    if overwrite:
        return zoo_dir
    fix = (
        "Fix: publish a new version (version=N / --version N), or pass overwrite=True "
        "(--overwrite) to replace it."
    )
    if published is not None and version <= published.version:
        raise ValueError(
            f"Zoo model {name!r} is published as v{published.version} in {registry}; "
            f"publishing v{version} would replace it. {fix}"
        )
    at_risk = list(_files(zoo_dir, name, version).values())
    if published is None:
        at_risk.append(zoo_dir / f"{name}.md")  # a card that no entry of the registry lists
    existing = [str(path) for path in at_risk if path.exists()]
    if existing:
        raise ValueError(
            f"Publishing {name!r} v{version} would overwrite {existing}, which the registry "
            f"{registry} does not list for it. {fix}"
        )
    return zoo_dir


def publish_run(
    name: str,
    run_dir: str | Path,
    description: str,
    *,
    zoo_dir: str | Path,
    registry: Path,
    version: int = 1,
    data_dir: str | None = None,
    overwrite: bool = False,
) -> ZooModel:
    """Evaluate, convert and publish the finished run in ``run_dir`` as zoo model ``name``.

    Writes ``ZOO_DIR/NAME-vVERSION.weights.h5``, ``.tflite`` and ``NAME.md`` and the
    registry entry. Conversion must pass its audit. A name already published is refused
    (before any work) unless ``version`` is newer than its entry's or ``overwrite``.
    """
    zoo_dir = _check_unpublished(name, version, zoo_dir, registry, overwrite)
    run = training.RunDir(run_dir)
    model, recipe = run.model(), run.recipe()
    config = run.model_config(recipe.stages()[-1].model)
    built_from = _preset(recipe, config)
    summary = run.summary()
    test = data.load(recipe.dataset, "test", 500, data_dir=data_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    paths = _files(zoo_dir, name, version)
    metrics = {
        "test_top1": top1(model, test),
        "test_images": sum(int(labels.shape[0]) for _, labels in test),
        **_cost_metrics(model),
    }
    if recipe.train_student:
        metrics.update(_tflite_metrics(model, recipe, data_dir, paths["tflite"]))
    else:
        # A real-valued teacher, published for distillation: no binary network to export.
        del paths["tflite"]
    model.save_weights(paths["keras"])
    metrics["stages"] = [stage.to_json() for stage in summary.stages]
    overrides = _recipe_overrides(recipe)
    entry = _entry(
        name,
        version,
        description,
        recipe,
        model,
        config,
        built_from=built_from,
        command=_command(recipe.name, str(run_dir), overrides),
        trained_here=True,
        metrics=metrics,
        recipe_overrides=tuple(overrides),
        files={
            kind: ZooFile(f"{DEFAULT_HOST}/{path.name}", sha256(path), path.stat().st_size)
            for kind, path in paths.items()
        },
    )
    return _write(entry, zoo_dir, registry)


def publish_untrained(
    name: str,
    recipe_name: str,
    description: str,
    *,
    zoo_dir: str | Path,
    registry: Path,
    paper_top1: float | None = None,
    version: int = 1,
    overwrite: bool = False,
) -> ZooModel:
    """A card without weights for ``recipe_name``'s model: its costs and the command that
    would train it, marked as not trained here. A name already published is refused
    unless ``version`` is newer than its entry's or ``overwrite``."""
    zoo_dir = _check_unpublished(name, version, zoo_dir, registry, overwrite)
    recipe = get_recipe(recipe_name)
    config = models.get_config(recipe.model, **dict(recipe.model_overrides))
    model = models.build(config)
    metrics = _cost_metrics(model)
    if paper_top1 is not None:
        metrics["paper_top1"] = paper_top1
    entry = _entry(
        name,
        version,
        description,
        recipe,
        model,
        config,
        command=_command(recipe.name, f"runs/{name}", []),
        trained_here=False,
        metrics=metrics,
    )
    return _write(entry, zoo_dir, registry)


def _preset(recipe, config) -> tuple[str, dict]:
    """The preset and overrides of a run's final model of ``config``: the student, or the
    teacher of a teacher-only run (which must be a registered preset as it is)."""
    if recipe.train_student:
        return recipe.model, dict(recipe.model_overrides)
    if config.name not in models.names() or models.get_config(config.name) != config:
        raise ValueError(
            f"The teacher of recipe {recipe.name!r} is not a registered preset as it is; "
            "publish teachers trained with teacher_model=PRESET."
        )
    return config.name, {}


def _tflite_metrics(model, recipe, data_dir, path: Path) -> dict:
    """Convert ``model`` (the audit must pass), write it to ``path``, and measure it."""
    images = export.parity_images(model, parity_pool(recipe.dataset, data_dir))
    exported = export.export_report(model, images)
    path.write_bytes(exported.flatbuffer)
    report = exported.parity
    return {
        "tflite_bytes": len(exported.flatbuffer),
        "lce_bconv2d": exported.audit.binary_convs,
        "if_ops": exported.audit.if_ops,
        "latency_ms": exported.latency_ms,
        "parity_max_relative_error": report.max_relative_error,
        "parity_max_relative_error_clear": report.max_relative_error_clear,
        "parity_near_zero_images": report.near_zero_images,
        "parity_top1_agreement": report.top1_agreement,
        "parity_images": report.images,
        "parity_uncovered": [list(pair) for pair in report.uncovered],
        **_arm_metrics(exported),
    }


def _arm_metrics(exported: export.ExportReport) -> dict:
    """The ARM check's figures, or why it did not run."""
    arm = exported.arm
    if arm is None:
        return {"arm_not_run": exported.arm_not_run}
    return {
        "arm_top1_agreement": arm.x86.top1_agreement,
        "arm_max_relative_error": arm.x86.max_relative_error,
        "arm_max_relative_error_clear": arm.x86.max_relative_error_clear,
        "arm_keras_top1_agreement": arm.keras.top1_agreement,
        "arm_rerun_maxdiff": arm.rerun_maxdiff,
        "arm_images": arm.images,
    }


def _entry(
    name: str, version: int, description: str, recipe, model, config, built_from=None, **fields
) -> ZooModel:
    """The registry entry of ``model`` of ``config``, built by ``recipe`` from its student
    preset (or from ``built_from``, a ``(preset, overrides)`` pair); ``fields`` give the
    rest."""
    preset, overrides = built_from or (recipe.model, dict(recipe.model_overrides))
    return ZooModel(
        name=name,
        version=version,
        description=description,
        preset=preset,
        overrides=overrides,
        config=config.to_json(),
        dataset=recipe.dataset,
        input_shape=tuple(model.input_shape[1:]),
        recipe=recipe.name,
        **fields,
    )


def _write(entry: ZooModel, zoo_dir: Path, registry: Path) -> ZooModel:
    """Publish ``entry`` as the newest version of its name, the entry it replaces kept as
    an older version (``NAME@K``); returns it with its older versions."""
    published = entries(registry)
    entry = entry.replacing(published.get(entry.name))
    # The card first: the registry entry is what makes the model published.
    zoo_dir.mkdir(parents=True, exist_ok=True)
    (zoo_dir / f"{entry.name}.md").write_text(card(entry))
    data = {name: m.to_json() for name, m in published.items()}
    data[entry.name] = entry.to_json()
    registry.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return entry


def _parity_text(m: dict) -> str:
    clear = m["parity_max_relative_error_clear"]
    uncovered = len(m["parity_uncovered"])
    coverage = (
        "covering every expert"
        if not uncovered
        else f"{uncovered} (layer, expert) pairs not covered"
    )
    return (
        f"max relative error {'n/a' if clear is None else f'{clear:.1e}'} on the "
        f"{m['parity_images'] - m['parity_near_zero_images']} of {m['parity_images']} images "
        f"({coverage}) whose sign inputs keep {export.SIGN_MARGIN:g} x RMS from 0, "
        f"{m['parity_max_relative_error']:.1e} on all; top-1 agreement "
        f"{100 * m['parity_top1_agreement']:.1f}%"
    )


def _arm_text(m: dict) -> str:
    if "arm_not_run" in m:
        return f"not checked when published: {m['arm_not_run']}"
    clear = m["arm_max_relative_error_clear"]
    return (
        f"top-1 agreement with x86 {100 * m['arm_top1_agreement']:.1f}% and with Keras "
        f"{100 * m['arm_keras_top1_agreement']:.1f}% on the {m['arm_images']} parity images, "
        "one interpreter (every IF branch runs again); max relative error vs x86 "
        f"{'n/a' if clear is None else f'{clear:.1e}'} on the sign-clear images, "
        f"{m['arm_max_relative_error']:.1e} on all; image 0 run again: max diff "
        f"{m['arm_rerun_maxdiff']:g}"
    )


def card(entry: ZooModel) -> str:
    """The model card of ``entry`` (Markdown), generated from its registry data only."""
    m = entry.metrics
    lines = [f"# {entry.name} (v{entry.version})", "", entry.description, ""]
    if not entry.trained_here:
        lines += [
            "**Not trained here: no weights are published.** The figures below are costs "
            "counted by `ebn_tf.cost.profile` on the built model"
            + (f"; the top-1 ({m['paper_top1']}%) is the paper's." if "paper_top1" in m else "."),
            "",
        ]
    rows = [
        ("preset", f"`{entry.preset}` {entry.overrides or ''}".strip()),
        ("dataset", entry.dataset),
    ]
    if "test_top1" in m:
        rows.append(
            ("top-1, test split", f"{100 * m['test_top1']:.2f}% ({m['test_images']:,} images)")
        )
    rows += [
        ("binary operations (BOPs)", f"{m['bops'] / 1e6:,.2f} M"),
        ("OPs (BOPs/64 + FLOPs)", f"{m['ops'] / 1e6:,.3f} M"),
        ("binary weights / real parameters", f"{m['binary_params']:,} / {m['real_params']:,}"),
        ("packed size (1-bit binary, float32 real)", f"{m['packed_bytes'] / 1024:,.0f} KiB"),
    ]
    if "tflite_bytes" in m:
        rows += [
            ("TFLite size", f"{m['tflite_bytes'] / 1024:,.0f} KiB"),
            ("LceBconv2d ops / IF ops", f"{m['lce_bconv2d']} / {m['if_ops']}"),
            ("latency, LCE interpreter, x86, 1 thread, batch 1", f"{m['latency_ms']:.2f} ms"),
            ("TFLite vs Keras logits", _parity_text(m)),
        ]
    if "arm_images" in m or "arm_not_run" in m:
        rows.append(("TFLite on LCE 0.16's ARM64 kernels (qemu) vs x86", _arm_text(m)))
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    if entry.files:
        lines += [
            "## Use",
            "",
            "```python",
            "import ebn_tf.zoo",
            "",
            f'model = ebn_tf.zoo.load("{entry.name}")  # pixels as stored (0-255) -> logits',
            "```",
            "",
            f"`ebn-zoo evaluate {entry.name}` measures the top-1 again"
            + (
                f"; `ebn-zoo download {entry.name} --kind tflite` fetches the TFLite file."
                if "tflite" in entry.files
                else " (a real-valued teacher: no TFLite file is published)."
            ),
            "",
            "| file | bytes | sha256 |",
            "|---|---|---|",
            *(f"| {f.filename} | {f.bytes:,} | `{f.sha256}` |" for f in entry.files.values()),
            "",
        ]
    if entry.preset == official.CARD_PRESET:
        lines += official.card_section()
    lines += ["## Training", "", f"Recipe `{entry.recipe}`:", "", "```", entry.command, "```", ""]
    if "stages" in m:
        lines += ["| stage | epochs | validation top-1 | minutes |", "|---|---|---|---|"]
        lines += [
            f"| {s['name']} | {s['epochs']} | {100 * s['val_accuracy']:.2f}% | "
            f"{s['seconds'] / 60:.1f} |"
            for s in m["stages"]
        ]
        lines.append("")
    if entry.older_versions:
        loadable = [m for m in entry.older_versions if m.files]
        lines += [
            "## Older versions",
            "",
            "Replaced by this one, still published"
            + (
                f': load one with `ebn_tf.zoo.load("{loadable[-1].version_spec()}")`.'
                if loadable
                else "."
            ),
            "",
            "| name | top-1, test split | description |",
            "|---|---|---|",
        ]
        for older in reversed(entry.older_versions):
            top1 = older.metrics.get("test_top1")
            top1 = "-" if top1 is None else f"{100 * top1:.2f}%"
            lines.append(f"| `{older.version_spec()}` | {top1} | {older.description} |")
        lines.append("")
    return "\n".join(lines)
