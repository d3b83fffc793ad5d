"""Defaults that switch with the number of tasks.

Up to :data:`LARGE_N` tasks a run does everything: pairwise probes for every pair, and compare
trains every alternative. Above it the work that grows fastest is bounded unless asked for:

- ``analyze.pairs = "auto"`` trains no pairwise probes (the one-run measures carry the analysis;
  N(N-1)/2 pairs at 100 tasks are 4,950 probes per seed); ``"all"`` trains them anyway, ``"none"``
  never does.
- ``compare.scope = "auto"`` bounds compare: at most :data:`MAX_CANDIDATES` candidate groupings
  and :data:`MAX_RANDOM` random grouping, all-in-one with equal weights only (uncertainty and
  GradNorm weightings of a 100-task network cost one backward pass per task and step), and no soft
  sharing (one encoder per task); ``"full"`` trains everything the configuration lists.

The grouping step's candidate pool is capped at every N (``grouping.pools.SUBSET_LIMIT``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config

#: above this many tasks the bounded defaults apply
LARGE_N = 30
#: candidate groupings compare trains above LARGE_N (scope auto)
MAX_CANDIDATES = 3
#: random groupings compare trains above LARGE_N (scope auto)
MAX_RANDOM = 1
PAIRS = ("auto", "all", "none")
SCOPES = ("auto", "full", "bounded")


@dataclass(frozen=True)
class Scaled:
    """What the defaults mean for a run of ``tasks`` tasks."""

    tasks: int
    large: bool
    all_pairs: bool          # train pairwise probes (transfer, probe cosine) for every pair
    bounded_compare: bool    # compare trains the bounded set of alternatives

    def notes(self) -> list[str]:
        """One line per default that this N switches, for ``plan`` and the run log."""
        size = f"{self.tasks} tasks {'>' if self.large else '<='} {LARGE_N}"
        pairs = "for every pair" if self.all_pairs else 'off (analyze.pairs = "all" to train them)'
        out = [f"{size}: pairwise probes {pairs}"]
        if self.bounded_compare:
            out.append(f"compare bounded: at most {MAX_CANDIDATES} candidates and {MAX_RANDOM} random grouping, "
                       "all-in-one with equal weights only, no soft sharing (compare.scope = \"full\" for all)")
        else:
            out.append("compare trains every listed alternative")
        return out


def scaled(cfg: Config, tasks: int) -> Scaled:
    """The switched defaults of ``cfg`` for ``tasks`` tasks."""
    large = tasks > LARGE_N
    pairs = cfg.analyze.pairs
    scope = cfg.compare.scope
    return Scaled(tasks=tasks, large=large,
                  all_pairs=pairs == "all" or (pairs == "auto" and not large),
                  bounded_compare=scope == "bounded" or (scope == "auto" and large))


def analyze_measures(cfg: Config, tasks: int, measures: list[str]) -> list[str]:
    """``measures`` without the probe measure when pairwise probes are off for this N."""
    if scaled(cfg, tasks).all_pairs:
        return list(measures)
    return [m for m in measures if m != "transfer"]
