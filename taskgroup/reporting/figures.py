"""The report's figures, drawn with matplotlib's object API and returned as PNG bytes.

No pyplot: each figure is a :class:`matplotlib.figure.Figure` on its own Agg canvas, so rendering a
report never touches global plotting state (open figures, the current axes, the backend) of the
program that calls it. Sizes, fonts and annotations adapt to the number of tasks (2 to 40).
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize, TwoSlopeNorm, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

DPI = 110
PAD = 0.12  # inches of white around the cropped figure
INK, MUTED, GRID = "#222222", "#666666", "#d9d9d9"
POSITIVE, NEGATIVE = "#2166ac", "#b2182b"  # the two ends of RdBu: blue helps, red hurts
BETTER, WORSE, NEUTRAL = "#3a8f5c", "#c0504d", "#9e9e9e"
UNGROUPED = "#bdbdbd"
ANNOTATE_MAX_N = 12


@dataclass(frozen=True)
class Point:
    """One alternative on the cost plot: its name, inference cost and Delta_m (with spread)."""

    name: str
    cost: float
    delta_m: float
    std: float = 0.0
    highlight: bool = False


def group_colors(n: int) -> list[str]:
    """``n`` distinct colours for groups, the same in every figure and in the HTML swatches."""
    if n <= 10:
        base = matplotlib.colormaps["tab10"].colors
    elif n <= 20:
        base = matplotlib.colormaps["tab20"].colors
    else:
        base = [matplotlib.colormaps["hsv"](i / n) for i in range(n)]
    return [to_hex(base[i % len(base)]) for i in range(n)]


def mpl_text(text: str, limit: int = 22) -> str:
    """A label safe for matplotlib: shortened, and with ``$`` escaped so it is never parsed as math."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("$", r"\$")


def _font_size(n: int) -> float:
    return 10.0 if n <= 12 else 8.5 if n <= 24 else 7.5


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def _text_width(chars: int, fontsize: float) -> float:
    """A generous estimate, in inches, of the width of ``chars`` characters of sans-serif text."""
    return chars * fontsize * 0.7 / 72.0


def _frame(width: float, height: float, left: float, right: float, bottom: float,
           top: float) -> tuple[Figure, "matplotlib.axes.Axes"]:
    """A figure holding one axes of ``width`` x ``height`` inches with margins (inches) for its labels.

    Laying figures out explicitly lets :func:`_png` draw each figure once and crop it, instead of the
    two full draws that ``bbox_inches="tight"`` costs.
    """
    w, h = left + width + right, bottom + height + top
    fig = Figure(figsize=(w, h), dpi=DPI, facecolor="white")
    ax = fig.add_axes((left / w, bottom / h, width / w, height / h))
    return fig, ax


def _png(fig: Figure) -> bytes:
    """Draw once, crop to the drawn content plus a margin, encode as PNG (no metadata, deterministic).

    Falls back to matplotlib's tight bounding box (a second draw) when content spills past the
    canvas, so that a label longer than the layout expected is never cut off.
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())
    w, h = fig.get_size_inches()
    if box.x0 < 0 or box.y0 < 0 or box.x1 > w or box.y1 > h:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=PAD, facecolor="white",
                    metadata={"Software": None})
        return buf.getvalue()
    rgba = np.asarray(canvas.buffer_rgba())
    rows, cols = rgba.shape[:2]
    d = fig.dpi
    x0, x1 = max(0, math.floor((box.x0 - PAD) * d)), min(cols, math.ceil((box.x1 + PAD) * d))
    y0, y1 = max(0, rows - math.ceil((box.y1 + PAD) * d)), min(rows, rows - math.floor((box.y0 - PAD) * d))
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[y0:y1, x0:x1, :3])).save(buf, format="png")
    return buf.getvalue()


def _decimals(scale: float) -> int:
    """Decimals that give the largest value of a matrix two significant digits (0.031, 0.42, 2.8, 28)."""
    return max(0, 1 - int(np.floor(np.log10(scale)))) if scale > 0 else 2


def _fmt_cell(v: float, scale: float) -> str:
    return f"{v:.{_decimals(scale)}f}"


def _fmt_err(e: float, scale: float) -> str:
    """A standard error with the value's decimals, or one significant digit when those would show 0."""
    text = _fmt_cell(e, scale)
    return text if float(text) > 0 else f"{e:.1g}"


def heatmap(matrix: np.ndarray, labels: Sequence[str], title: str, value_label: str,
            stderr: np.ndarray | None = None, share: bool = False) -> bytes:
    """Source tasks as rows, target tasks as columns, a diverging map centred at 0.

    The diagonal (a task's effect on itself) is greyed out and left out of the colour scale, since
    it is uninformative and would otherwise wash out the pairs that matter. ``share``: the entries
    are shares from 0 to 1 of a symmetric relation (a sequential map on that fixed range, axes "task").
    """
    n = len(labels)
    m = np.array(matrix, dtype=float)
    np.fill_diagonal(m, np.nan)
    finite = np.abs(m[np.isfinite(m)])
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    fs = _font_size(n)
    names = [mpl_text(t) for t in labels]
    label_w = _text_width(max(map(len, names)), fs) + 0.12
    steep = n > 24
    side = _clamp(0.36 * n + 1.2, 2.6, 11.5)
    fig, ax = _frame(side, side, left=label_w + 0.4, right=1.55,
                     bottom=label_w * (1.0 if steep else 0.75) + 0.5, top=0.45)
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad=GRID)
    norm: Normalize = TwoSlopeNorm(0.0, -vmax, vmax)
    if share:
        cmap, norm, vmax = matplotlib.colormaps["Blues"].with_extremes(bad=GRID), Normalize(0.0, 1.0), 1.0
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, norm=norm, aspect="equal", interpolation="nearest")
    ax.set_xticks(range(n), names, rotation=90 if steep else 45, ha="right", rotation_mode="anchor", fontsize=fs)
    ax.set_yticks(range(n), names, fontsize=fs)
    ax.tick_params(length=2, pad=2)
    ax.set_xlabel("task" if share else "target task (the one affected)", color=MUTED, fontsize=fs)
    ax.set_ylabel("task" if share else "source task (the one trained on)", color=MUTED, fontsize=fs)
    ax.set_title(mpl_text(title, 60), fontsize=fs + 2, color=INK, loc="left")
    grid = np.arange(-0.5, n, 1.0)
    lw = 1.0 if n <= 24 else 0.4
    ax.vlines(grid, -0.5, n - 0.5, colors="white", linewidths=lw)
    ax.hlines(grid, -0.5, n - 0.5, colors="white", linewidths=lw)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if n <= ANNOTATE_MAX_N:
        _annotate(ax, m, stderr, vmax, fs)
    w, h = fig.get_size_inches()
    pos = ax.get_position()
    cax = fig.add_axes((pos.x1 + 0.12 / w, pos.y0, 0.16 / w, pos.height))
    bar = fig.colorbar(im, cax=cax)
    bar.set_label(value_label, fontsize=max(fs - 1, 7.5))
    bar.ax.tick_params(labelsize=max(fs - 1, 7.5))
    return _png(fig)


def _annotate(ax, m: np.ndarray, stderr: np.ndarray | None, vmax: float, fs: float) -> None:
    n = m.shape[0]
    with_err = stderr is not None and n <= 8
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            v = m[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=fs - 1, color=MUTED)
                continue
            text = _fmt_cell(v, vmax)
            if with_err and np.isfinite(stderr[i, j]) and stderr[i, j] > 0:
                text += f"\n±{_fmt_err(stderr[i, j], vmax)}"
            color = "white" if abs(v) / vmax > 0.6 else INK
            ax.text(j, i, text, ha="center", va="center", fontsize=fs - (1 if with_err else 0),
                    color=color, linespacing=1.1)


def _group_legend(colors: Sequence[str], group_names: Sequence[str]) -> list[Patch]:
    return [Patch(facecolor=c, edgecolor="none", label=mpl_text(g, 40)) for c, g in zip(colors, group_names)]


def dendrogram_figure(linkage: np.ndarray, labels: Sequence[str], leaf_colors: Sequence[str],
                      group_colors_: Sequence[str], group_names: Sequence[str]) -> bytes:
    """Hierarchical clustering of the tasks, leaves marked with their recommended group's colour."""
    from scipy.cluster.hierarchy import dendrogram  # lazily: slow to import, needed here only

    n = len(labels)
    fs = _font_size(n)
    names = [mpl_text(t, 30) for t in labels]
    legend_rows = math.ceil(len(group_names) / 5) if group_names else 0
    fig, ax = _frame(5.0, _clamp(0.28 * n + 0.5, 1.1, 12.0), left=0.3,
                     right=_text_width(max(map(len, names)), fs) + 0.35, bottom=0.6,
                     top=0.15 + (0.3 + 0.25 * legend_rows if legend_rows else 0.0))
    with warnings.catch_warnings():  # all merges at distance 0: scipy warns about equal limits
        warnings.simplefilter("ignore", UserWarning)
        tree = dendrogram(linkage, labels=names, orientation="left", ax=ax,
                          link_color_func=lambda _k: "#555555", leaf_font_size=fs)
    top = float(np.max(linkage[:, 2])) if len(linkage) else 0.0
    if top <= 0:
        ax.set_xlim(1.0, 0.0)
    ys = 5 + 10 * np.arange(len(tree["leaves"]))
    ax.scatter(np.zeros(len(ys)), ys, c=[leaf_colors[k] for k in tree["leaves"]], s=60 if n <= 24 else 25,
               marker="s", zorder=3, clip_on=False, edgecolors="white", linewidths=0.5)
    ax.set_xlabel("merge distance (lower = tasks more alike)", color=MUTED, fontsize=fs)
    ax.tick_params(axis="x", labelsize=fs - 1, colors=MUTED)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if group_names:
        ax.legend(handles=_group_legend(group_colors_, group_names), loc="lower left", bbox_to_anchor=(0.0, 1.0),
                  ncol=min(5, len(group_names)), fontsize=max(fs - 1, 7.5), frameon=False,
                  title="leaf colour: recommended network", title_fontsize=max(fs - 1, 7.5), alignment="left")
    return _png(fig)


def graph_figure(matrix: np.ndarray, labels: Sequence[str], node_colors: Sequence[str],
                 group_colors_: Sequence[str], group_names: Sequence[str], title: str) -> bytes:
    """Tasks as nodes, the symmetrised affinity as edges (blue helps, red hurts; width = strength).

    With more than 12 tasks only the strongest N positive and N/2 negative edges are drawn, to keep
    the picture readable. Negative edges are dashed, so the sign does not rest on colour alone. The
    layout (spring, fixed seed) pulls together tasks with positive affinity only.
    """
    import networkx as nx  # lazily: slow to import, needed here only

    n = len(labels)
    m = np.nan_to_num(np.asarray(matrix, dtype=float), nan=0.0)
    w = (m + m.T) / 2.0
    np.fill_diagonal(w, 0.0)
    pos_pairs = sorted(((w[i, j], i, j) for i in range(n) for j in range(i + 1, n) if w[i, j] > 0), reverse=True)
    neg_pairs = sorted(((-w[i, j], i, j) for i in range(n) for j in range(i + 1, n) if w[i, j] < 0), reverse=True)
    if n > ANNOTATE_MAX_N:
        pos_pairs, neg_pairs = pos_pairs[:n], neg_pairs[: max(3, n // 2)]
    pairs = pos_pairs + neg_pairs
    strongest = max((a for a, _i, _j in pairs), default=1.0)
    pairs = [p for p in pairs if p[0] >= 0.05 * strongest]

    layout_graph = nx.Graph()
    layout_graph.add_nodes_from(range(n))
    layout_graph.add_weighted_edges_from((i, j, w[i, j] / strongest) for _a, i, j in pairs if w[i, j] > 0)
    pos = nx.spring_layout(layout_graph, weight="weight", seed=0, k=1.6 / np.sqrt(max(n, 1)))
    xy = np.array([pos[i] for i in range(n)])

    side = _clamp(4.2 + 0.12 * n, 4.6, 9.0)
    legend_rows = math.ceil((2 + len(group_names)) / 4)
    fig, ax = _frame(side * 1.15, side, left=0.6, right=0.6, bottom=0.2 + 0.25 * legend_rows, top=0.4)
    for sign, color, style, alpha in ((-1, NEGATIVE, (0, (4, 2)), 0.55), (1, POSITIVE, "solid", 0.75)):
        edges = sorted(p for p in pairs if np.sign(w[p[1], p[2]]) == sign)  # strongest drawn last, on top
        if edges:
            ax.add_collection(LineCollection(
                [(xy[i], xy[j]) for _a, i, j in edges], colors=color, linestyles=style, alpha=alpha, zorder=1,
                linewidths=[0.6 + 3.6 * a / strongest for a, _i, _j in edges]))
    fs = _font_size(n)
    size = 700 if n <= 12 else 260 if n <= 24 else 140
    ax.scatter(xy[:, 0], xy[:, 1], s=size, c=list(node_colors), edgecolors="white", linewidths=1.5, zorder=2)
    below = float(np.sqrt(size / np.pi)) + 2.0  # the node's radius in points, plus a gap
    for (x, y), name in zip(xy, labels):
        ax.annotate(mpl_text(name), (x, y), xytext=(0, -below), textcoords="offset points", ha="center", va="top",
                    fontsize=fs, color=INK, zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set_title(mpl_text(title, 70), fontsize=fs + 1, color=INK, loc="left")
    ax.set_axis_off()
    ax.margins(0.14)
    handles: list = [Line2D([], [], color=POSITIVE, lw=3, label="helps (positive)"),
                     Line2D([], [], color=NEGATIVE, lw=2.5, ls=(0, (4, 2)), label="hurts (negative)")]
    handles += _group_legend(group_colors_, group_names)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=min(4, len(handles)),
              fontsize=max(fs - 1, 7.5), frameon=False)
    return _png(fig)


def delta_m_bars(names: Sequence[str], means: Sequence[float], stds: Sequence[float],
                 highlight: str = "recommended", labels: dict[str, str] | None = None) -> bytes:
    """Delta_m of each alternative as horizontal bars with one standard deviation as error bars.

    ``labels`` maps an alternative's name to the label shown (default: the name).
    """
    order = np.argsort(np.asarray(means, dtype=float))
    names = [names[i] for i in order]
    means = np.asarray(means, dtype=float)[order]
    stds = np.nan_to_num(np.asarray(stds, dtype=float)[order])
    k = len(names)
    labels = [mpl_text((labels or {}).get(nm, nm), 44) for nm in names]
    fig, ax = _frame(5.2, _clamp(0.36 * k + 0.3, 1.2, 11.0), left=_text_width(max(map(len, labels)), 9) + 0.2,
                     right=0.2, bottom=0.6, top=0.15)
    colors = [NEUTRAL if nm == "single_task" else BETTER if v > 0 else WORSE if v < 0 else NEUTRAL
              for nm, v in zip(names, means)]
    y = np.arange(k)
    ax.barh(y, means, xerr=stds, color=colors, height=0.62, error_kw={"ecolor": INK, "capsize": 3, "lw": 1},
            edgecolor=[INK if nm == highlight else "none" for nm in names], linewidth=1.6)
    ax.axvline(0, color=INK, lw=1)
    ax.set_yticks(y, labels, fontsize=9)
    for label, nm in zip(ax.get_yticklabels(), names):
        if nm == highlight:
            label.set_fontweight("bold")
    lo = min(0.0, float(np.min(means - stds))) if k else 0.0
    hi = max(0.0, float(np.max(means + stds))) if k else 1.0
    span = (hi - lo) or 1.0
    for yi, v, sd in zip(y, means, stds):
        x = v + sd + 0.02 * span if v >= 0 else v - sd - 0.02 * span
        ax.text(x, yi, f"{v:+.2f} ± {sd:.2f}", va="center", ha="left" if v >= 0 else "right", fontsize=8,
                color=MUTED)
    ax.set_xlim(lo - (0.3 if np.any(means < 0) else 0.04) * span, hi + (0.3 if np.any(means >= 0) else 0.04) * span)
    ax.set_xlabel("Δm, % against single-task networks (higher is better; bars: ±1 std over seeds)",
                  fontsize=9, color=MUTED)
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both cost (lower) and Delta_m (higher), by cost."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.cost, -p.delta_m)):
        if not front or p.delta_m > front[-1].delta_m:
            front.append(p)
    return front


def _coincident(points: Sequence[Point]) -> dict[tuple[float, float], list[str]]:
    """Names of the points at each position, so that identical results share one label."""
    at: dict[tuple[float, float], list[str]] = {}
    for p in sorted(points, key=lambda p: not p.highlight):
        at.setdefault((p.cost, p.delta_m), []).append(p.name)
    return at


def cost_figure(points: Sequence[Point], curve: Sequence[Point] = (), cost_label: str = "inference cost",
                labels: dict[str, str] | None = None) -> bytes:
    """Delta_m against inference cost for every alternative, with the Pareto front as a step line.

    Points are numbered on the plot and named in a list beside it (no labels over each other);
    the best selection at each budget is drawn as a step line, since it changes only at a budget.
    """
    at = _coincident(points)
    entries = [" = ".join((labels or {}).get(nm, nm) for nm in names) for names in at.values()]
    listed = [f"{k + 1}  {mpl_text(e, 46)}" for k, e in enumerate(entries)]
    list_width = _text_width(max((len(t) for t in listed), default=0), 8)
    fig, ax = _frame(5.4, 3.6, left=0.75, right=0.45 + list_width, bottom=0.6, top=0.2)
    total = 0.75 + 5.4 + 0.45 + list_width
    costs = np.array([p.cost for p in points] + [p.cost for p in curve], dtype=float)
    if costs.size and costs.min() > 0 and costs.max() / costs.min() > 20:
        ax.set_xscale("log")
    if curve:
        c = sorted(curve, key=lambda p: p.cost)
        ax.step([p.cost for p in c], [p.delta_m for p in c], where="post", color="#7b3294", lw=1.4,
                label="best selection at each budget", zorder=2)
        ax.errorbar([p.cost for p in c], [p.delta_m for p in c], yerr=[p.std for p in c], color="#7b3294",
                    fmt="D", ms=4, capsize=2, zorder=2)
    front = pareto_front(points)
    if len(front) > 1:
        ax.step([p.cost for p in front], [p.delta_m for p in front], where="post", color=MUTED, ls="--",
                lw=1.2, label="Pareto front (best Δm for its cost)", zorder=1)
    for p in points:
        color = POSITIVE if p.highlight else NEUTRAL if p.name == "single_task" else "#4d4d4d"
        ax.errorbar([p.cost], [p.delta_m], yerr=[p.std], fmt="o" if not p.highlight else "*",
                    ms=7 if not p.highlight else 13, color=color, capsize=3, zorder=3)
    same_cost: dict[float, int] = {}
    for k, ((cost, dm), names) in enumerate(at.items()):
        lead = any(p.highlight for p in points if (p.cost, p.delta_m) == (cost, dm))
        shift = same_cost.get(cost, 0)  # numbers of points at one cost side by side, not over each other
        same_cost[cost] = shift + 1
        ax.annotate(str(k + 1), (cost, dm), textcoords="offset points", xytext=(6 + 9 * shift, 4), fontsize=8,
                    color=INK if lead else MUTED, fontweight="bold" if lead else "normal")
    fig.text((0.75 + 5.4 + 0.35) / total, 0.95, "\n".join(listed), fontsize=8, color=INK, va="top", ha="left",
             linespacing=1.5)
    ax.axhline(0, color=INK, lw=0.8)
    ax.set_xlabel(mpl_text(cost_label, 80) + " (lower is cheaper)", fontsize=9, color=MUTED)
    ax.set_ylabel("Δm, % (higher is better)", fontsize=9, color=MUTED)
    ax.grid(color="#eeeeee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if curve or len(front) > 1:  # beside the plot, under the numbered list
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(1 + 0.3 / 5.4, 0.0),
                  borderaxespad=0.0)
    ax.margins(0.15)
    return _png(fig)
