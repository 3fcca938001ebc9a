"""The search's Pareto plot: validation top-1 against OPs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def pareto_front(rows: list[dict]) -> set[str]:
    """Ids of the candidates no other candidate beats on both OPs (lower) and top-1."""
    return {
        r["id"]
        for r in rows
        if not any(
            o["ops"] <= r["ops"]
            and o["val_top1"] >= r["val_top1"]
            and o is not r
            and (o["ops"] < r["ops"] or o["val_top1"] > r["val_top1"])
            for o in rows
        )
    }


def pareto_plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for experts, marker in ((1, "o"), (None, "^")):
        chosen = [r for r in rows if (r["num_experts"] == 1) == (experts == 1)]
        if chosen:
            ax.scatter(
                [r["ops"] / 1e6 for r in chosen],
                [100 * r["val_top1"] for r in chosen],
                marker=marker,
                label="1 expert" if experts == 1 else "experts > 1",
            )
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["ops"])
    ax.plot(
        [r["ops"] / 1e6 for r in front],
        [100 * r["val_top1"] for r in front],
        "k--",
        lw=1,
        label="Pareto front",
    )
    for r in rows:
        ax.annotate(
            r["id"],
            (r["ops"] / 1e6, 100 * r["val_top1"]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("OPs (M) = BOPs/64 + FLOPs")
    ax.set_ylabel("validation top-1 % (proxy training)")
    ax.set_title("Growth search")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
