"""The growth search space: depth, width expansion with G = a^2 groups, aggregation, experts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ebn_tf import cost, models
from ebn_tf.models import EBNetConfig


@dataclass(frozen=True)
class Candidate:
    """A topology grown from a base config.

    Args:
        blocks: blocks per stage.
        expansion: width multiplier ``a`` of every stage; its convs get ``a^2`` groups, which
            keeps their BOPs (docs/design/method.md sections 1 and 8).
        aggregation: the 1x1 aggregation conv after the grouped convs of a block (only
            meaningful with ``expansion > 1``).
        num_experts: experts per binary conv.
    """

    blocks: tuple[int, ...]
    expansion: int
    aggregation: bool
    num_experts: int

    @property
    def groups(self) -> int:
        return self.expansion**2

    @property
    def id(self) -> str:
        blocks = "-".join(map(str, self.blocks))
        aggregation = "_agg" if self.aggregation else ""
        return f"b{blocks}_a{self.expansion}_g{self.groups}{aggregation}_e{self.num_experts}"

    def overrides(self, base: EBNetConfig) -> dict:
        """Config fields that turn ``base`` (groups 1) into this candidate."""
        return {
            "blocks": self.blocks,
            "widths": tuple(w * self.expansion for w in base.widths),
            "groups": (self.groups,) * len(base.widths),
            "aggregation": self.aggregation,
            "num_experts": self.num_experts,
            # The export runs grouped convs one binary conv per group: any split converts.
            "lce": False,
        }

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "blocks": list(self.blocks),
            "expansion": self.expansion,
            "groups": self.groups,
            "aggregation": self.aggregation,
            "num_experts": self.num_experts,
        }


def candidates(
    blocks: list[tuple[int, ...]], expansions: list[int], experts: list[int]
) -> list[Candidate]:
    """Every combination, once; the aggregation conv is tried on and off where there are
    groups."""
    found = []
    for depth, a, n in itertools.product(blocks, expansions, experts):
        for aggregation in (False, True) if a > 1 else (False,):
            found.append(Candidate(tuple(depth), a, aggregation, n))
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Costed:
    """A candidate with its cost, or why it was dropped."""

    candidate: Candidate
    bops: int | None
    ops: float | None
    dropped: str | None = None

    @property
    def id(self) -> str:
        return self.candidate.id


def within_budget(
    base: EBNetConfig,
    found: list[Candidate],
    max_bops: float | None = None,
    max_ops: float | None = None,
) -> tuple[list[Costed], list[Costed]]:
    """``(kept, dropped)``: candidates within the BOPs and OPs budgets (``cost.profile``);
    a candidate the base cannot grow into (groups not dividing channels) is dropped too."""
    kept, dropped = [], []
    for candidate in found:
        try:
            report = cost.profile(models.build(base, **candidate.overrides(base)))
        except ValueError as error:
            dropped.append(Costed(candidate, None, None, f"invalid: {error}"))
            continue
        over = []
        if max_bops is not None and report.bops > max_bops:
            over.append(f"BOPs {report.bops / 1e6:.1f} M > {max_bops / 1e6:.1f} M")
        if max_ops is not None and report.ops > max_ops:
            over.append(f"OPs {report.ops / 1e6:.2f} M > {max_ops / 1e6:.2f} M")
        costed = Costed(candidate, report.bops, report.ops, "; ".join(over) or None)
        (dropped if over else kept).append(costed)
    return kept, dropped
