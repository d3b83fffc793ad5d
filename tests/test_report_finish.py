"""The report's finish: labels, agreement only between informative measures, intervals that show, markdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from taskgroup.reporting import fmt, render_report
from taskgroup.reporting.document import Span
from taskgroup.reporting.figures import _fmt_err
from taskgroup.reporting.markdown import _inline

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"


def test_one_human_label_per_alternative():
    assert fmt.alternative_name("all_in_one") == "all tasks in one network"
    assert fmt.alternative_name("all_in_one_gradnorm") == "all tasks in one network (GradNorm weighting)"
    assert fmt.alternative_name("all_in_one_uncertainty") == "all tasks in one network (uncertainty weighting)"
    assert fmt.alternative_name("random-2") == "random grouping 2"
    assert fmt.alternative_name("greedy_modularity_k3") == "greedy modularity k3"
    assert fmt.evidence_label("vs_all_in_one_test") == "Δm gain over all tasks in one network, test (points)"
    assert "_" not in fmt.evidence_label("vs_random_mean_val")


def test_bold_markdown_keeps_spaces_outside_the_markers():
    assert _inline([Span("Not informative: ", "b"), "rest"]) == "**Not informative:** rest"
    assert _inline([Span("a", "b")]) == "**a**"


def test_heatmap_intervals_never_read_zero():
    assert _fmt_err(0.004, 1.0) == "0.004"
    assert _fmt_err(0.00004, 1.0) == "4e-05"
    assert _fmt_err(0.12, 1.0) == "0.1"      # the value's own decimals when they show it


def test_rendered_report_labels_agreement_and_evidence(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    affinity = json.loads((run / "affinity.json").read_text())
    names = list(affinity["measures"])
    affinity["measures"][names[0]]["informative"] = False
    affinity["agreement"] = {f"{names[0]}~{names[1]}": 0.95}
    (run / "affinity.json").write_text(json.dumps(affinity))
    comparison = json.loads((run / "comparison.json").read_text())
    comparison["verdict"]["evidence"] = {"recommended_groups": [["heart_disease", "age_years"], ["charges ($|log)"]],
                                         "vs_all_in_one_test": 1.5, "negative_transfer_share": 0.25}
    (run / "comparison.json").write_text(json.dumps(comparison))
    paths = render_report(run)
    html = paths["html"].read_text()
    assert "strong agreement" not in html and "is not informative" in html
    body = html.split('id="reproducibility"')[0]
    assert "Vs all in one test" not in body and '[["' not in body
    assert '<span class="chip">heart_disease, age_years</span>' in html and "25%" in html
    assert "all_in_one" not in body
    assert "**Not informative:** " in paths["markdown"].read_text()
