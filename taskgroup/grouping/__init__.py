"""Grouping: from task affinities to proposed task groupings.

- ``group``: affinity.json content -> groupings.json content (``recommend``);
- ``select`` / ``select_exhaustive``: exact budgeted network selection (``selection``);
- ``select_from_scores`` / ``load_scores_file``: the ``taskgroup select`` contract (``scorefile``);
- ``hoa_group_scores`` / ``tag_group_scores``: group scores from pairwise matrices (``scores``);
- ``affinity_graph`` / ``propose``: the affinity graph and clustering proposals (``graph``);
- ``candidate_pool``: candidate subsets for large N (``pools``).
"""

from taskgroup.grouping.graph import Proposal, affinity_graph, linkage_dict, propose
from taskgroup.grouping.network import Network, Selection
from taskgroup.grouping.pools import candidate_pool
from taskgroup.grouping.recommend import group
from taskgroup.grouping.scorefile import load_scores_file, parse_networks, select_from_scores
from taskgroup.grouping.scores import hoa_group_scores, predict_hoa_networks, tag_group_scores
from taskgroup.grouping.selection import select, select_exhaustive

__all__ = [
    "Network",
    "Proposal",
    "Selection",
    "affinity_graph",
    "candidate_pool",
    "group",
    "hoa_group_scores",
    "linkage_dict",
    "load_scores_file",
    "parse_networks",
    "predict_hoa_networks",
    "propose",
    "select",
    "select_exhaustive",
    "select_from_scores",
    "tag_group_scores",
]
