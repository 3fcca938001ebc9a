"""matplotlib figures of the expert analysis (PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ebn_tf.analysis.usage import LayerUsage  # noqa: E402


def usage_plot(layers: list[LayerUsage], path: Path) -> None:
    """Share of samples per expert, one group of bars per layer; collapsed layers marked."""
    experts = max(len(layer.counts) for layer in layers)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(layers) + 2), 4))
    width = 0.8 / experts
    x = np.arange(len(layers))
    for e in range(experts):
        shares = [layer.shares[e] if e < len(layer.counts) else 0 for layer in layers]
        ax.bar(x + (e - (experts - 1) / 2) * width, shares, width, label=f"expert {e}")
    labels = [
        f"{layer.name}\nH={layer.entropy_bits:.2f} bit"
        + (" (collapsed)" if layer.collapsed else "")
        for layer in layers
    ]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title("Expert usage per layer")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def expert_class_plot(matrix: np.ndarray, class_names: list[str], layer: str, path: Path) -> None:
    """Heat map: for each class (column), the share of its samples each expert receives."""
    shares = matrix / np.maximum(matrix.sum(axis=0, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(class_names), 1.5 + 0.5 * len(matrix)))
    image = ax.imshow(shares, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(matrix)), [f"expert {e}" for e in range(len(matrix))])
    for (e, c), value in np.ndenumerate(shares):
        ax.text(c, e, f"{value:.2f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(image, label="share of the class")
    ax.set_title(f"{layer}: expert by class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tsne_plot(
    embedding: np.ndarray,
    experts: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    layer: str,
    path: Path,
) -> None:
    """The paper's Fig. 1b: the same t-SNE coloured by selected expert and by class."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, values, names, title in (
        (
            axes[0],
            experts,
            [f"expert {e}" for e in range(int(experts.max()) + 1)],
            f"coloured by the expert chosen at {layer}",
        ),
        (axes[1], labels, class_names, "coloured by class"),
    ):
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        for index, name in enumerate(names):
            mask = values == index
            if mask.any():
                ax.scatter(*embedding[mask].T, s=4, color=cmap(index % cmap.N), label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=3, fontsize=7, loc="best")
    fig.suptitle("t-SNE of the features before the classifier")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
