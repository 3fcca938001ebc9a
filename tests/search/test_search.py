import csv
import shutil
import subprocess
import sys

import pytest

from ebn_tf import cost, models, search
from ebn_tf.apps.search import counts, depths  # defines the app's absl flags, unparsed
from ebn_tf.search.plot import pareto_front
from ebn_tf.training import get_recipe


def test_expansion_with_squared_groups_keeps_the_binary_convs_bops():
    base = models.get_config("fmnist_search_base")
    narrow, wide = (
        search.Candidate((1, 1, 1), 1, False, 1),
        search.Candidate((1, 1, 1), 2, False, 1),
    )
    assert wide.overrides(base)["widths"] == (64, 128, 256)
    assert wide.overrides(base)["groups"] == (4, 4, 4)
    bops = [cost.profile(models.build(base, **c.overrides(base))).layers for c in (narrow, wide)]
    # The 3x3 convs inside the stages (same input and output width) cost the same.
    inner = [{r.name: r.bops for r in layers if r.name.endswith("block1_conv2")} for layers in bops]
    assert inner[0] == inner[1] and len(inner[0]) == 3 and all(inner[0].values())


def test_enumeration_budget_and_invalid_candidates():
    found = search.candidates([(1, 1, 1), (2, 2, 2)], [1, 2, 3], [1, 4])
    # The aggregation conv is tried on and off only where there are groups.
    assert len(found) == 2 * (1 + 2 + 2) * 2
    base = models.get_config("fmnist_search_base")
    kept, dropped = search.within_budget(base, found, max_bops=32e6)
    assert kept and all(c.bops <= 32e6 for c in kept)
    reasons = {c.id: c.dropped for c in dropped}
    assert "BOPs" in reasons["b2-2-2_a1_g1_e1"]
    # 9 groups do not divide the 32-channel stem.
    assert reasons["b1-1-1_a3_g9_e1"].startswith("invalid")


def test_an_output_dir_under_a_file_is_refused_before_any_candidate(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    found = search.candidates([(1, 1, 1)], [1], [1])
    with pytest.raises(NotADirectoryError, match=f"^Cannot make the directory {file}/out"):
        search.search("fmnist_search_base", found, get_recipe("fmnist_proxy"), file / "out")


def test_the_app_names_a_malformed_list_flag():
    result = subprocess.run(
        [sys.executable, "-m", "ebn_tf.apps.search", "--output_dir=unused", "--blocks=1-x-1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "error: --blocks=1-x-1: '1-x-1' is not 3 whole numbers >= 1 joined by '-' (blocks per "
        "stage of fmnist_search_base). Fix: e.g. --blocks=1-1-1,1-1-2." in result.stderr
    )


@pytest.mark.parametrize("value", ["1-0-1", "1-2", "1-2-1-1", "1--1", "1-2-1,x"])
def test_blocks_need_one_whole_number_per_stage(value):
    bad = value.split(",")[-1]
    with pytest.raises(ValueError, match=f"^--blocks={value}: '{bad}' is not 3 whole numbers"):
        depths(value.split(","), "fmnist_search_base")
    assert depths(["1-2-1", "2-2-2"], "fmnist_search_base") == [(1, 2, 1), (2, 2, 2)]
    assert depths(["1-1"], "tiny") == [(1, 1)]


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_expansions_and_experts_need_whole_numbers(value):
    with pytest.raises(
        ValueError, match=rf"^--experts=1,{value}: '{value}' is not a whole number >= 1\. Fix: "
    ):
        counts("experts", ["1", value])
    assert counts("expansions", ["1", "2"]) == [1, 2]


def test_pareto_front():
    rows = [
        {"id": "a", "ops": 1, "val_top1": 0.80},
        {"id": "b", "ops": 2, "val_top1": 0.85},
        {"id": "c", "ops": 3, "val_top1": 0.84},
        {"id": "d", "ops": 1, "val_top1": 0.79},
    ]
    assert pareto_front(rows) == {"a", "b"}


@pytest.mark.slow
def test_search_end_to_end_and_rerun_skips_finished(tmp_path, fmnist_data_dir):
    found = search.candidates([(1, 1)], [1, 2], [2])
    # Two steps a stage: the search's bookkeeping is checked, not the candidates' quality.
    proxy = get_recipe("fmnist_proxy", ["train_limit=128", "eval_limit=64", "batch_size=64"])
    base = models.get_config("tiny")
    agg = next(c for c in found if c.aggregation)
    budget = cost.profile(models.build(base, **agg.overrides(base))).bops - 1
    rows = search.search("tiny", found, proxy, tmp_path, max_bops=budget, data_dir=fmnist_data_dir)
    assert sorted(r["id"] for r in rows) == ["b1-1_a1_g1_e2", "b1-1_a2_g4_e2"]
    assert [r["rank"] for r in rows] == [1, 2] and rows[0]["val_top1"] >= rows[1]["val_top1"]
    assert {r["id"] for r in rows if r["pareto"]} == pareto_front(rows)
    with open(tmp_path / "results.csv") as f:
        assert [r["id"] for r in csv.DictReader(f)] == [r["id"] for r in rows]
    markdown = (tmp_path / "results.md").read_text()
    assert f"{agg.id}: BOPs" in markdown
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"

    # A rerun keeps the finished candidates and completes only the unfinished one (here
    # its last stage is missing).
    kept = tmp_path / "candidates" / rows[0]["id"] / "summary.json"
    stamp = kept.stat().st_mtime_ns
    removed = tmp_path / "candidates" / rows[1]["id"]
    step3 = (removed / "step3" / "result.json").stat().st_mtime_ns
    shutil.rmtree(removed / "step4")
    (removed / "summary.json").unlink()
    again = search.search("tiny", found, proxy, tmp_path, max_bops=budget, data_dir=fmnist_data_dir)
    assert kept.stat().st_mtime_ns == stamp and (removed / "summary.json").exists()
    assert (removed / "step3" / "result.json").stat().st_mtime_ns == step3
    assert {r["id"]: r["val_top1"] for r in again}[rows[0]["id"]] == rows[0]["val_top1"]

    # Another proxy recipe must not reuse these candidates' results.
    other = proxy.replace(seed=1)
    with pytest.raises(ValueError, match="another recipe"):
        search.search("tiny", found, other, tmp_path, max_bops=budget, data_dir=fmnist_data_dir)
