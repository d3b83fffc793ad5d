"""Custom tasks end to end: a dense output and a multi-output target on the digits images, with the
user's own encoder, through analyze, group, compare, report and predict (helpers in digit_parts.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import taskgroup
from taskgroup import TaskSet
from taskgroup.config import AnalyzeConfig, CompareConfig, Config, ModelConfig, TrainConfig

import digit_parts


def _custom(name: str, head: str) -> dict:
    return {"name": name, "kind": "custom", "head": f"digit_parts:{head}", "loss": "digit_parts:mse",
            "metric": "digit_parts:rmse", "lower_is_better": True}


@pytest.mark.slow
def test_two_custom_tasks_on_images_run_through_every_step(tmp_path):
    from sklearn.datasets import load_digits

    images = (load_digits().images / 16.0)[:, None][:600]
    targets = digit_parts.targets(images)
    data = TaskSet.from_arrays(images, targets, tasks=[_custom("small", "dense_head"),
                                                       _custom("moments", "moments_head")])
    assert data.targets["small"].shape == (600, 16) and data.targets["moments"].shape == (600, 3)
    cfg = Config(model=ModelConfig(encoder="digit_parts:encoder", hidden=[32]),
                 train=TrainConfig(steps=200, eval_every=50),
                 analyze=AnalyzeConfig(steps=60, probe_steps=60, probe_eval_every=20),
                 compare=CompareConfig(seeds=2, random_groupings=1))
    out = tmp_path / "run"
    affinity = taskgroup.analyze(cfg, out, data=data)
    for m in ("gradient_cosine", "lookahead", "transfer"):
        assert np.all(np.isfinite(np.asarray(affinity.measures[m].matrix, dtype=float)[~np.eye(2, dtype=bool)]))
    groupings = taskgroup.group(out)
    assert sorted(t for g in groupings.recommended.groups for t in g) == ["moments", "small"]
    doc = taskgroup.compare(out, data=data)
    for alt in doc.alternatives:
        assert alt.delta_m is not None and np.isfinite(alt.delta_m)
        assert {t: alt.per_task[t].metric for t in ("small", "moments")} == \
            {"small": "digit_parts:rmse", "moments": "digit_parts:rmse"}
    paths = taskgroup.report(out)
    html = paths["html"].read_text()
    assert "small" in html and "moments" in html and "custom" in html
    model = taskgroup.load(out)
    pred = model.predict(images[-100:])
    assert pred["small"].shape == (100, 16) and pred["moments"].shape == (100, 3)
    truth = {k: v[-100:] for k, v in targets.items()}
    for task in ("small", "moments"):   # the networks learned something: better than the mean image
        baseline = digit_parts.rmse(truth[task], np.broadcast_to(truth[task].mean(axis=0), truth[task].shape))
        assert digit_parts.rmse(truth[task], pred[task]) < 0.8 * baseline
    assert model.predict_proba(images[:3]) == {}
    saved = json.loads((out / "models" / "index.json").read_text())
    assert sorted(saved["routes"]) == ["moments", "small"]
