"""Train the search's candidates with a short proxy recipe, resumably, and rank them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from absl import logging

from ebn_tf import models
from ebn_tf.outputs import check_output_dir
from ebn_tf.search.plot import pareto_front, pareto_plot
from ebn_tf.search.space import Candidate, Costed, within_budget
from ebn_tf.training import Recipe, RunDir, RunSummary, train

COLUMNS = (
    "rank",
    "id",
    "blocks",
    "expansion",
    "groups",
    "aggregation",
    "num_experts",
    "bops",
    "ops",
    "val_top1",
    "pareto",
    "minutes",
)


def search(
    base: str,
    found: list[Candidate],
    proxy: Recipe,
    output_dir: str | Path,
    max_bops: float | None = None,
    max_ops: float | None = None,
    data_dir: str | None = None,
    mirror: str | os.PathLike | None = None,
) -> list[dict]:
    """Grow ``base`` into each candidate within budget, train it with ``proxy`` and rank.

    Each candidate trains into ``OUTPUT_DIR/candidates/ID`` with the train app's trainer,
    so an interrupted search resumes mid-candidate and a finished candidate (its
    ``summary.json``) is read back, not trained again; a candidate directory holding a run
    of another proxy recipe is an error. Ranked by validation top-1 (the test
    split is never used to choose). Writes ``results.csv``, ``results.md`` and
    ``pareto.png`` (validation top-1 against OPs). ``mirror``: where a zoo teacher of the
    proxy recipe is downloaded from (see ``ebn_tf.training.train``).
    """
    output_dir = check_output_dir(output_dir)
    config = models.get_config(base)
    if not found:
        raise ValueError(
            "No candidate to search: give at least one depth, expansion and expert count."
        )
    kept, dropped = within_budget(config, found, max_bops, max_ops)
    if not kept:
        reasons = "; ".join(f"{c.id}: {c.dropped}" for c in dropped[:4])
        raise ValueError(
            f"Every candidate was dropped ({reasons}; ...). Fix: raise the budget "
            "or choose expansions whose a^2 groups divide the base's channels."
        )
    rows = []
    for index, costed in enumerate(kept, start=1):
        run = RunDir(output_dir / "candidates" / costed.id)
        recipe = proxy.replace(model=base, model_overrides=costed.candidate.overrides(config))
        # A finished candidate is kept only if it was trained with this very recipe.
        run.check_recipe(recipe)
        logging.info(
            "candidate %d/%d %s%s",
            index,
            len(kept),
            costed.id,
            " (finished: kept)" if run.finished else "",
        )
        summary = (
            run.summary()
            if run.finished
            else train(recipe, run.path, data_dir=data_dir, verbose=0, mirror=mirror)
        )
        rows.append(_row(costed, summary))
    return _write(rows, dropped, output_dir)


def _row(costed: Costed, summary: RunSummary) -> dict:
    return {
        **costed.candidate.to_json(),
        "bops": costed.bops,
        "ops": costed.ops,
        "val_top1": summary.stages[-1].val_accuracy,
        "minutes": summary.seconds / 60,
    }


def _write(rows: list[dict], dropped: list[Costed], output_dir: Path) -> list[dict]:
    rows = sorted(rows, key=lambda r: -r["val_top1"])
    front = pareto_front(rows)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        row["pareto"] = row["id"] in front
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in COLUMNS} for row in rows)
    lines = [
        "| rank | candidate | blocks | a | G | 1x1 agg | experts | BOPs (M) | OPs (M) "
        "| val top-1 % | Pareto | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rank']} | {r['id']} | {'-'.join(map(str, r['blocks']))} | {r['expansion']} "
        f"| {r['groups']} | {'yes' if r['aggregation'] else 'no'} | {r['num_experts']} "
        f"| {r['bops'] / 1e6:.2f} | {r['ops'] / 1e6:.3f} | {100 * r['val_top1']:.2f} "
        f"| {'*' if r['pareto'] else ''} | {r['minutes']:.1f} |"
        for r in rows
    ]
    if dropped:
        lines += ["", "Dropped before training:", ""]
        lines += [f"- {c.id}: {c.dropped}" for c in dropped]
    (output_dir / "results.md").write_text("\n".join(lines) + "\n")
    pareto_plot(rows, output_dir / "pareto.png")
    return rows
