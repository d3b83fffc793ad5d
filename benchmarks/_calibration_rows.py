"""RESULTS.md rows of the calibration benchmark (issue 14 item 3), built with the suite's own helpers."""

from __future__ import annotations

from typing import Any, Callable

Lines = list[dict[str, Any]]
LABELS = {"hoa": "HOA from pairwise transfer gains", "tag": "TAG's group score (lookahead)",
          "gradient_cosine": "gradient cosine group score", "calibrated_5": "calibrated predictor, 5 training groups",
          "calibrated_10": "calibrated predictor, 10 training groups",
          "auto_5": "what group.measure = auto uses after calibrating on 5 groups",
          "auto_10": "what group.measure = auto uses after calibrating on 10 groups"}


def calibration_row_builders(row: Callable[..., dict[str, Any]], f: Callable[..., str],
                             one: Callable[..., dict[str, Any] | None]) -> dict[str, Callable[[Lines], list[dict[str, Any]]]]:
    """Row builders keyed by benchmark name; ``row``, ``f`` and ``one`` are the suite's ``_row``, ``_f``, ``_one``."""

    def calibration(lines: Lines) -> list[dict[str, Any]]:
        r = one(lines, "calibration")
        if not r:
            return []
        s = r["summary"]
        fixed = [m for m in ("hoa", "tag", "gradient_cosine") if m in s]
        best = max(fixed, key=lambda m: s[m]["spearman_mean"]) if fixed else None
        per_set = {x["set"]: x for x in lines if x.get("benchmark") == "calibration_set" and "methods" in x}
        out = []
        for m, label in LABELS.items():
            if m not in s:
                continue
            spread = ", ".join(f"{name} {f(x['methods'][m]['spearman'])}" for name, x in per_set.items()
                               if m in x["methods"])
            calibrated = m.startswith("calibrated_")
            out.append(row("quality", f"Held-out Spearman of predicted vs measured group gains, {label}; mean over "
                           f"{s[m]['sets']} exhaustive sets ({r['draws']} draws of training groups each)",
                           f(s[m]["spearman_mean"]),
                           f(s[best]["spearman_mean"]) + f" ({best}, best fixed score)" if calibrated and best else "",
                           "", f">= {r['target_spearman']:g} and above every fixed score" if calibrated else "",
                           s[m].get("pass") if calibrated else None,
                           f"R^2 {f(s[m]['r2_mean'])}; per set: {spread}"))
        for name, why in r.get("skipped", {}).items():
            out.append(row("quality", f"Calibration on {name}", "skipped", note=why))
        return out

    return {"calibration": calibration}
