"""The whole expert analysis of a model on a set of labelled images: JSON and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.analysis import plots
from ebn_tf.analysis.features import features, tsne
from ebn_tf.analysis.kernels import sign_disagreement
from ebn_tf.analysis.usage import expert_by_class, usage_counts, usage_report
from ebn_tf.layers import expert_layers, selected_experts
from ebn_tf.outputs import check_output_dir


def class_information(matrix: np.ndarray) -> float:
    """Share of the expert choice explained by the class: ``I(expert; class) / H(expert)``
    (0: the choice ignores the class; 1: the class decides the expert)."""
    joint = matrix / matrix.sum()
    p_expert, p_class = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nonzero = joint > 0
    mutual = float((joint[nonzero] * np.log2(joint[nonzero] / (p_expert @ p_class)[nonzero])).sum())
    p = p_expert[p_expert > 0]
    entropy = float(-(p * np.log2(p)).sum())
    return mutual / entropy if entropy > 0 else 0.0


def analyze(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    output_dir: str | Path,
    class_names: list[str] | None = None,
    layer: str | None = None,
    tsne_points: int = 2000,
    seed: int = 0,
) -> dict:
    """Expert usage (counts, entropy, collapse), expert-by-class matrix and how far apart
    the experts' binary weights are (``kernels.sign_disagreement``) of every expert layer,
    and the t-SNE of the features before the classifier coloured by the expert chosen at
    ``layer`` (default: the last expert layer) and by class.

    Writes ``analysis.json``, ``usage.png``, ``expert_by_class.png`` and ``tsne.png`` to
    ``output_dir`` and returns the JSON data.
    """
    output_dir = check_output_dir(output_dir)
    gated = {
        x.name: x for x in expert_layers(model) if x.num_experts > 1 and x.force_expert is None
    }
    if not gated:
        raise ValueError(f"Model {model.name!r} has no gated expert layer (num_experts > 1).")
    names = list(gated)
    layer = layer or names[-1]
    if layer not in names:
        raise ValueError(f"Unknown expert layer {layer!r}; the model's gated layers: {names}.")
    labels = np.asarray(labels).astype(int)
    num_classes = int(model.output_shape[-1])
    class_names = list(class_names or [str(c) for c in range(num_classes)])
    chosen = {name: v for name, v in selected_experts(model, images).items() if name in names}
    usage = usage_report(usage_counts(model, chosen))
    matrices = {
        n: expert_by_class(chosen[n], labels, gated[n].num_experts, num_classes) for n in names
    }
    logits = model.predict(images, verbose=0)
    result = {
        "model": model.name,
        "images": len(images),
        "top1": float(np.mean(logits.argmax(1) == labels)),
        "class_names": class_names,
        "selected_layer": layer,
        "layers": {
            u.name: {
                **u.to_json(),
                "class_information": class_information(matrices[u.name]),
                "sign_disagreement": sign_disagreement(gated[u.name]),
                "expert_by_class": matrices[u.name].tolist(),
            }
            for u in usage
        },
        "collapsed_layers": [u.name for u in usage if u.collapsed],
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    plots.usage_plot(usage, output_dir / "usage.png")
    plots.expert_class_plot(matrices[layer], class_names, layer, output_dir / "expert_by_class.png")
    subset = np.random.default_rng(seed).permutation(len(images))[:tsne_points]
    embedding = tsne(features(model, images[subset]), seed)
    plots.tsne_plot(
        embedding,
        chosen[layer][subset],
        labels[subset],
        class_names,
        layer,
        output_dir / "tsne.png",
    )
    (output_dir / "analysis.json").write_text(json.dumps(result, indent=2))
    return result
