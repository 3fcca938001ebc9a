"""The fit table pairs each variant as the ablation does: with its own 1-expert twin where
that ran, else with e1."""

import pytest

from benchmarks import expert_fit

ROUTED = "e4_kernel_mix_clusters_stem_routed"
# Train, validation and test top-1 of each run, the same for both stages.
SCORES = {
    "e1": (93.0, 92.0, 92.0),
    "e1_stem_held": (92.5, 91.5, 91.5),
    ROUTED: (93.0, 91.5, 91.75),
    "e4_kernel_mix_clusters": (93.5, 92.0, 92.25),
}


class FinishedRun:
    def __init__(self, path):
        self.name = path.name
        self.finished = path.name != "unfinished"


@pytest.mark.parametrize("with_twin", [True, False])
def test_each_variant_is_compared_with_its_pair(tmp_path, monkeypatch, with_twin):
    for name in [*SCORES, "unfinished"]:
        if with_twin or name != "e1_stem_held":
            (tmp_path / "setting" / "seed0" / name).mkdir(parents=True)
    monkeypatch.setattr(expert_fit, "RunDir", FinishedRun)
    monkeypatch.setattr(
        expert_fit, "scores", lambda run, stage: dict(zip(expert_fit.SPLITS, SCORES[run.name]))
    )
    sections = []
    monkeypatch.setattr(expert_fit, "write_section", lambda *s: sections.append(s))
    monkeypatch.setattr("sys.argv", ["expert_fit", "--setting", "setting", "--root", str(tmp_path)])
    expert_fit.main()
    ((_, _, text, _),) = sections
    rows = [line.strip("| ").split(" | ") for line in text.splitlines() if "| seed0 |" in line]
    routed = {row[1]: row[3:] for row in rows if row[2] == ROUTED}
    assert len(rows) == 2 * (4 if with_twin else 3)  # both stages, finished runs only
    pair, *_, train, validation, test = routed["step4"]
    if with_twin:
        assert (pair, train, validation, test) == ("e1_stem_held", "+0.50", "+0.00", "+0.25")
    else:
        assert (pair, train, validation, test) == ("e1", "+0.00", "-0.50", "-0.25")
