"""Each decision renders a first screen whose sentence and cards agree with it.

The verdict is produced by the real :func:`taskgroup.comparison.verdict.verdict` from chosen
intervals (a stand-in for the row evidence), written into the fixture run, and rendered.
"""

from __future__ import annotations

import json
from dataclasses import asdict
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from taskgroup.comparison.statistics import interval
from taskgroup.comparison.verdict import verdict
from taskgroup.reporting import render_report
from taskgroup.runtime.documents import AffinityDoc, ComparisonDoc

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"


class Evidence:
    """Answers every comparison with one fixed interval."""

    def __init__(self, values: list[float], row_sd: float = 0.0) -> None:
        boot = np.random.default_rng(0).normal(0.0, row_sd, 400) if row_sd else np.zeros(400)
        self.iv = interval(values, boot, "estimate")

    def has(self, name: str) -> bool:
        return True

    def compare(self, alternative: str, baseline: str, part: str = "estimate"):
        return self.iv


CASES = {
    "share_for_accuracy": ([3.0, 3.3, 2.8], 0.0),
    "share_for_cost": ([0.1, -0.1, 0.05], 0.0),
    "train_separately": ([-3.0, -3.4, -2.9], 0.0),
    "inconclusive": ([2.0, -1.0, 1.5], 0.0),
    "too_few_seeds": ([5.0, 5.2], 0.0),
}


def _render(tmp_path: Path, values: list[float], row_sd: float) -> tuple[dict, str]:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    comparison = json.loads((run / "comparison.json").read_text())
    affinity = json.loads((run / "affinity.json").read_text())
    typed = verdict(ComparisonDoc.from_json(comparison), AffinityDoc.from_json(affinity), Evidence(values, row_sd),
                    margin=1.0)
    comparison["verdict"] = asdict(typed)
    (run / "comparison.json").write_text(json.dumps(comparison))
    html = render_report(run)["html"].read_text(encoding="utf-8")
    lead = html[html.index('id="summary"'):html.index('<nav class="toc"')]
    return comparison["verdict"], re.sub(r"<[^>]+>", "", lead).replace("&amp;", "&")


def _card(text: str) -> str:
    m = re.search(r"Networks to train\s*(\d+ of \d+)", text)
    assert m, "no 'Networks to train' card"
    return m.group(1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_first_screen_states_the_decision_and_its_cards_agree(tmp_path, case):
    v, text = _render(tmp_path, *CASES[case])
    decision = "inconclusive" if case == "too_few_seeds" else case
    assert v["decision"] == decision
    assert v["use_mtl"] is (decision in ("share_for_accuracy", "share_for_cost"))
    headline = {"share_for_accuracy": "Verdict: share networks for accuracy.",
                "share_for_cost": "Verdict: share networks for cost.",
                "train_separately": "Verdict: train each task separately.",
                "inconclusive": "Verdict: inconclusive."}[decision]
    assert headline in text
    for other in ("share networks for accuracy", "share networks for cost", "train each task separately"):
        if other not in headline.lower():
            assert f"Verdict: {other}" not in text
    iv = v["interval"]
    assert f"{iv['mean']:+.2f}%" in text                       # the interval is in the sentence
    if decision in ("share_for_accuracy", "share_for_cost"):
        assert _card(text) == "2 of 4" and "2 of 4 networks" in text
        assert f"{v['cost_ratio']:.0%} of the single-task inference cost" in text
        assert "train 2 networks" in text
    else:
        assert _card(text) == "4 of 4"
        assert "train 2 networks" not in text and "Train 4 networks" in text
    if case == "too_few_seeds":
        assert "rerun with --seeds 3 or more" in text
    if decision == "inconclusive" and case != "too_few_seeds":
        assert f"about {v['seeds_needed']} seeds" in text
    # the fixture flags pairwise transfer as uninformative: it is never cited, lookahead is
    assert "(transfer, 95% intervals)" not in text
    assert "(lookahead, 95% intervals)" in text


def test_models_follow_the_decision(tmp_path):
    for case, networks in (("share_for_cost", 2), ("train_separately", 4)):
        v, _ = _render(tmp_path / case, *CASES[case])
        assert len(v["train"]) == networks
