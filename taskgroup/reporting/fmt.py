"""Formatting helpers shared by the report sections: numbers, names and groups in plain words."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Sequence

from .document import Inline, Span
from .load import finite

DASH = "—"

MEASURE_NAMES = {
    "gradient_cosine": "Gradient cosine",
    "lookahead": "Lookahead transfer (TAG)",
    "transfer": "Pairwise transfer gain",
    "probe_cosine": "Probe gradient cosine",
}
MEASURE_UNITS = {
    "gradient_cosine": "cosine of the two tasks' gradients",
    "lookahead": "relative loss decrease of the target",
    "transfer": "relative metric gain of the target",
    "probe_cosine": "cosine of the pair probe's gradients",
}
ALTERNATIVE_NAMES = {
    "recommended": "recommended grouping",
    "single_task": "single-task (one network per task)",
    "all_in_one": "all tasks in one network",
    "soft_sharing": "soft parameter sharing",
    "random": "random grouping (same number of networks)",
    "oracle": "oracle (best grouping in hindsight)",
}


def measure_name(name: str) -> str:
    """A measure's human name (unknown measures keep their own name, underscores spaced)."""
    return MEASURE_NAMES.get(name, name.replace("_", " "))


WEIGHTING_NAMES = {"equal": "equal weights", "uncertainty": "uncertainty weighting", "dwa": "DWA weighting",
                   "gradnorm": "GradNorm weighting"}


def alternative_name(name: str) -> str:
    """An alternative's one human-readable label, used everywhere in the report.

    ``all_in_one_gradnorm`` -> ``all tasks in one network (GradNorm weighting)``; ``random-2`` ->
    ``random grouping 2``; other identifiers get their underscores spaced.
    """
    if name in ALTERNATIVE_NAMES:
        return ALTERNATIVE_NAMES[name]
    for base in ("all_in_one", "soft_sharing"):
        if name.startswith(base + "_") and name[len(base) + 1:] in WEIGHTING_NAMES:
            return f"{ALTERNATIVE_NAMES[base]} ({WEIGHTING_NAMES[name[len(base) + 1:]]})"
    found = re.fullmatch(r"random-(\d+)", name)
    if found:
        return f"random grouping {found.group(1)}"
    return name.replace("_", " ")


#: labels of the verdict's evidence (keys of comparison.json's verdict.evidence)
EVIDENCE_LABELS = {
    "recommended_groups": "Recommended groups",
    "delta_m_test": "Δm on test (%)",
    "delta_m_test_std": "Δm on test: standard deviation over seeds",
    "delta_m_test_se": "Δm on test: standard error",
    "delta_m_val": "Δm on validation (%)",
    "delta_m_val_se": "Δm on validation: standard error",
    "seeds": "Seeds",
    "vs_all_in_one_test": "Δm gain over all tasks in one network, test (points)",
    "vs_all_in_one_val": "Δm gain over all tasks in one network, validation (points)",
    "inference_cost_ratio_vs_all_in_one": "Inference cost relative to all tasks in one network",
    "vs_random_mean_test": "Δm gain over the random groupings' mean, test (points)",
    "negative_transfer_share": "Share of task pairs with negative transfer",
    "negative_transfer_measure": "Measure behind the negative-transfer share",
    "best_on_validation": "Best alternative on validation",
}


def evidence_label(key: str) -> str:
    """A readable label for an evidence key (known keys by name, others spelled out)."""
    if key in EVIDENCE_LABELS:
        return EVIDENCE_LABELS[key]
    words = key.replace("all_in_one", "all tasks in one network").replace("_val", " validation")
    words = re.sub(r"_se\b", " standard error", words.replace("_std", " standard deviation"))
    return humanize(words.replace(" vs ", " against ").replace("vs_", "against_"))


def slug(text: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem built from ``text`` (added to ``taken``)."""
    base = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "figure"
    stem, i = base, 2
    while stem in taken:
        stem, i = f"{base}_{i}", i + 1
    taken.add(stem)
    return stem


def num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, or a dash when missing."""
    v = finite(x)
    return DASH if v is None else f"{v:.{digits}g}"


def quantity(x: Any) -> str:
    """A non-negative amount (cost, size): thousands separated from 1,000 up, else 3 significant digits."""
    v = finite(x)
    if v is None:
        return DASH
    if abs(v) >= 1e9:
        return f"{v:.3g}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def signed(x: Any, digits: int = 2, unit: str = "") -> str:
    """A signed number with fixed decimals (for gains), or a dash."""
    v = finite(x)
    return DASH if v is None else f"{v:+.{digits}f}{unit}"


def mean_std(mean: Any, std: Any) -> str:
    """``mean ± std``, both rounded to the std's precision: one significant digit of the std, two when
    it starts with 1 or 2 (so 0.005 and 0.012); 4 significant digits when there is no std."""
    m, s = finite(mean), finite(std)
    if m is None:
        return DASH
    if s is None:
        return f"{m:.4g}"
    if s <= 0:
        return f"{m:.4g} ± 0"
    exponent = math.floor(math.log10(s))
    decimals = min(6, max(0, -exponent + (1 if s / 10.0**exponent < 3 else 0)))
    return f"{m:.{decimals}f} ± {s:.{decimals}f}"


def delta(mean: Any, std: Any) -> str:
    """A Delta_m in percent with its spread: ``+3.21% ± 0.60``."""
    m, s = finite(mean), finite(std)
    if m is None:
        return DASH
    return f"{m:+.2f}%" + (f" ± {s:.2f}" if s is not None else "")


def count(x: Any) -> str:
    """An integer with thousands separators, or a dash."""
    v = finite(x)
    return DASH if v is None else f"{int(round(v)):,}"


def seconds(x: Any) -> str:
    """A duration in s, min or h."""
    v = finite(x)
    if v is None:
        return DASH
    if v < 60:
        return f"{v:.1f} s"
    if v < 3600:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def value(x: Any) -> str:
    """Any JSON value as short text: numbers rounded, booleans as yes/no, containers as compact JSON."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        return num(x, 4) if isinstance(x, float) else str(x)
    if x is None:
        return DASH
    if isinstance(x, str):
        return x
    text = json.dumps(x, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= 160 else text[:159] + "…"


def humanize(key: str) -> str:
    """``delta_m_std`` -> ``Delta m std``; keys are data, so this is cosmetic only."""
    text = re.sub(r"\bdelta m\b", "Δm", key.replace("_", " ").strip())
    return text[:1].upper() + text[1:]


def task_list(names: Sequence[str]) -> Inline:
    """Task names as inline spans separated by commas and a final 'and'."""
    out: Inline = []
    for i, name in enumerate(names):
        if i:
            out.append(" and " if i == len(names) - 1 else ", ")
        out.append(Span(name, "task"))
    return out


def groups_text(groups: Sequence[Sequence[str]]) -> str:
    """A grouping as compact plain text: ``{a, b} {c}``."""
    return " ".join("{" + ", ".join(g) + "}" for g in groups)
