"""The affinity graph and clustering proposals for every number of groups k = 1..K.

The graph has one node per task and one edge per pair, weighted by the symmetrised signed affinity
S = (M + M^T) / 2. Three families of proposals, each deterministic for a given input:

- ``greedy_modularity`` (Clauset-Newman-Moore, networkx) stopped at exactly k communities, and
  ``louvain`` (networkx, seeded) at its natural resolution; both on the positive part of S (the
  modularity null model already rewards keeping weakly related tasks apart);
- ``spectral`` clustering (normalised affinity eigenvectors + seeded k-means, numpy/scipy) on S
  shifted to be non-negative;
- ``hierarchical``: average linkage (scipy) over the distance max(S) - S, cut into k clusters; its
  linkage matrix is the report's dendrogram.

Groups are lists of task names in task order; a grouping lists its groups by their first task.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import networkx as nx
import numpy as np
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.cluster.vq import kmeans2
from scipy.spatial.distance import squareform

from ..registry import Entry, Registry

Groups = tuple[tuple[str, ...], ...]
Matrix = Sequence[Sequence[float]] | np.ndarray


@dataclass(frozen=True)
class Proposal:
    """A grouping proposed by a clustering method: disjoint groups covering every task."""

    groups: Groups
    method: str
    k: int


def symmetrise(M: Matrix) -> np.ndarray:
    """S = (M + M^T) / 2 with missing (NaN) entries read as 0 and a zero diagonal."""
    matrix = np.nan_to_num(np.asarray(M, dtype=float), nan=0.0)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {matrix.shape}")
    sym = (matrix + matrix.T) / 2.0
    np.fill_diagonal(sym, 0.0)
    return sym


def affinity_graph(M: Matrix, names: Sequence[str]) -> nx.Graph:
    """Tasks as nodes, every pair as an edge with ``weight`` = symmetrised signed affinity."""
    sym = symmetrise(M)
    if len(names) != sym.shape[0]:
        raise ValueError(f"{len(names)} names for a {sym.shape[0]} x {sym.shape[0]} matrix")
    graph = nx.Graph()
    graph.add_nodes_from(names)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            graph.add_edge(names[i], names[j], weight=float(sym[i, j]))
    return graph


def canonical(groups: Iterable[Iterable[str | int]], names: Sequence[str]) -> Groups:
    """Groups (of task names or indices) as names in task order, listed by their first task."""
    order = {t: i for i, t in enumerate(names)}
    named = [[names[i] if isinstance(i, (int, np.integer)) else i for i in g] for g in groups]
    ordered = [tuple(sorted(g, key=order.__getitem__)) for g in named if g]
    return tuple(sorted(ordered, key=lambda g: order[g[0]]))


def from_labels(labels: Sequence, names: Sequence[str]) -> Groups:
    """Canonical groups from one cluster label per task."""
    buckets: dict = {}
    for i, label in enumerate(labels):
        buckets.setdefault(label, []).append(i)
    return canonical(buckets.values(), names)


def _positive_graph(sym: np.ndarray, names: Sequence[str]) -> nx.Graph:
    scale = float(np.max(np.abs(sym))) if sym.size else 0.0
    floor = 1e-6 * scale if scale > 0 else 1e-6  # keeps the graph connected for exact-k merging
    graph = nx.Graph()
    graph.add_nodes_from(range(len(names)))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            graph.add_edge(i, j, weight=max(float(sym[i, j]), 0.0) + floor)
    return graph


def greedy_modularity_proposals(M: Matrix, names: Sequence[str], max_k: int, seed: int = 0) -> list[Proposal]:
    """Greedy modularity (Clauset-Newman-Moore) stopped at exactly k = 2..max_k communities."""
    graph = _positive_graph(symmetrise(M), names)
    out = []
    for k in range(2, min(max_k, len(names)) + 1):
        parts = nx.community.greedy_modularity_communities(graph, weight="weight", cutoff=k, best_n=k)
        if len(parts) == k:
            out.append(Proposal(canonical([sorted(p) for p in parts], names), "greedy_modularity", k))
    return out


def louvain_proposals(M: Matrix, names: Sequence[str], max_k: int, seed: int = 0) -> list[Proposal]:
    """Louvain's own partition (seeded), when it has at most max_k communities."""
    parts = nx.community.louvain_communities(_positive_graph(symmetrise(M), names), weight="weight", seed=seed)
    if len(parts) <= max_k:
        return [Proposal(canonical([sorted(p) for p in parts], names), "louvain", len(parts))]
    return []


def _kmeans(points: np.ndarray, k: int, seed: int, restarts: int = 10) -> list[int]:
    """Best of several seeded k-means++ runs (lowest within-cluster sum of squares)."""
    best, best_cost = None, math.inf
    for r in range(restarts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "one of the clusters is empty": a worse restart
            centres, labels = kmeans2(points, k, minit="++", seed=(seed + r) % 2**32)  # numpy's seed range
        cost = float(((points - centres[labels]) ** 2).sum())
        if len(set(labels.tolist())) == k and cost < best_cost - 1e-12:
            best, best_cost = labels.tolist(), cost
    return best if best is not None else list(range(len(points)))


def spectral_proposals(M: Matrix, names: Sequence[str], max_k: int, seed: int = 0) -> list[Proposal]:
    """Spectral clustering (Ng, Jordan and Weiss) into k = 2..max_k groups.

    The affinity is S shifted and scaled to [0, 1] (plus a tiny floor, so the graph is connected);
    the rows of the top-k eigenvectors of the normalised affinity, scaled to unit length, are
    clustered by seeded k-means.
    """
    sym = symmetrise(M)
    n = len(names)
    if n < 3:
        return []  # nothing to cluster beyond all-in-one and singletons
    off = sym[~np.eye(n, dtype=bool)]
    low, high = float(off.min()), float(off.max())
    span = high - low
    affinity = (sym - low) / span if span > 0 else np.ones_like(sym)
    affinity = affinity + 1e-6
    np.fill_diagonal(affinity, 0.0)
    scale = 1.0 / np.sqrt(affinity.sum(axis=1))
    normalised = affinity * scale[:, None] * scale[None, :]
    _, vectors = np.linalg.eigh(normalised)  # ascending eigenvalues
    out = []
    for k in range(2, min(max_k, n) + 1):
        if k == n:
            labels = list(range(n))
        else:
            top = vectors[:, -k:]
            rows = top / np.maximum(np.linalg.norm(top, axis=1, keepdims=True), 1e-12)
            labels = _kmeans(rows, k, seed)
        groups = from_labels(labels, names)
        if len(groups) == k:
            out.append(Proposal(groups, "spectral", k))
    return out


def average_linkage(M: Matrix) -> np.ndarray:
    """scipy linkage matrix of average-linkage clustering over the distance max(S) - S."""
    sym = symmetrise(M)
    n = sym.shape[0]
    if n < 2:
        return np.zeros((0, 4))
    off = sym[~np.eye(n, dtype=bool)]
    distance = float(off.max()) - sym
    np.fill_diagonal(distance, 0.0)
    return linkage(squareform(np.clip(distance, 0.0, None), checks=False), method="average")


def hierarchical_proposals(M: Matrix, names: Sequence[str], max_k: int, seed: int = 0) -> list[Proposal]:
    """Average-linkage tree cut into exactly k = 2..max_k clusters."""
    n = len(names)
    if n < 2:
        return []
    tree = average_linkage(M)
    out = []
    for k in range(2, min(max_k, n) + 1):
        labels = cut_tree(tree, n_clusters=k).ravel().tolist()
        out.append(Proposal(from_labels(labels, names), "hierarchical", k))
    return out


def linkage_dict(M: Matrix, names: Sequence[str]) -> dict:
    """The dendrogram data for the report: scipy's linkage matrix with its labels and distance."""
    tree = average_linkage(M)
    return {
        "method": "average",
        "distance": "max(S) - S, S = (M + M^T) / 2",
        "labels": list(names),
        "matrix": [[float(v) if not math.isnan(v) else None for v in row] for row in tree.tolist()],
    }


#: clustering methods: ``f(M, names, max_k, seed) -> proposals``; ``exact_k``: one proposal per k
CLUSTERINGS = Registry("clustering method", [
    Entry("greedy_modularity", f"{__name__}:greedy_modularity_proposals",
          "greedy modularity (Clauset-Newman-Moore) at each k", frozenset({"exact_k"})),
    Entry("louvain", f"{__name__}:louvain_proposals", "Louvain communities at their natural resolution (seeded)"),
    Entry("spectral", f"{__name__}:spectral_proposals", "normalised spectral clustering with seeded k-means",
          frozenset({"exact_k"})),
    Entry("hierarchical", f"{__name__}:hierarchical_proposals", "average linkage over max(S) - S, cut at each k",
          frozenset({"exact_k"})),
])


def propose(M: Matrix, names: Sequence[str], max_k: int, seed: int = 0) -> list[Proposal]:
    """Every proposal for k = 1..max_k: all-in-one, then each clustering method's in registry order."""
    names = list(names)
    out = [Proposal(canonical([names], names), "all_in_one", 1)]
    for method in CLUSTERINGS:
        out += CLUSTERINGS.load(method)(M, names, max_k, seed)
    return out
