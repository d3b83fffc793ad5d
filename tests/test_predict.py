"""Predictions on raw features: scaling inside, clear shape errors, original class labels, CSV to stdout."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from click.testing import CliRunner

import taskgroup
from taskgroup.cli import main
from taskgroup.config import AnalyzeConfig, CompareConfig, Config, DataConfig, ModelConfig, TaskConfig, TrainConfig
from taskgroup.errors import DataError

LEVELS = np.array(["low", "mid", "high"])


def _table(path, n=240, seed=0):
    """Raw features far from zero (mean 100, sd 10); a regression target about 24; text classes."""
    rng = np.random.default_rng(seed)
    X = 100 + 10 * rng.normal(size=(n, 4))
    z = (X[:, 0] - 100) / 10 + 0.5 * (X[:, 1] - 100) / 10
    age = 24 + 3 * z + 0.3 * rng.normal(size=n)
    level = LEVELS[np.digitize(z, [-0.6, 0.6])]
    flag = (z > 0).astype(int)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x0", "x1", "x2", "x3", "age", "level", "flag"])
        for row, a, lv, f in zip(X, age, level, flag):
            w.writerow([*(f"{v:.5f}" for v in row), f"{a:.4f}", lv, f])
    return X, age, level, flag


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    X, age, level, flag = _table(d / "people.csv")
    cfg = Config(data=DataConfig(path=str(d / "people.csv")),
                 tasks=[TaskConfig("age"), TaskConfig("level"), TaskConfig("flag")],
                 model=ModelConfig(hidden=[32]), train=TrainConfig(steps=300, eval_every=50),
                 analyze=AnalyzeConfig(steps=40, probe_steps=40, probe_eval_every=20, measures=["gradient_cosine"]),
                 compare=CompareConfig(seeds=1, random_groupings=0, alternatives=["recommended", "single_task"]))
    taskgroup.run(cfg, d / "run")
    return d, X, age, level, flag


def test_raw_features_give_values_in_the_targets_units(trained):
    d, X, age, _level, _flag = trained
    pred = taskgroup.load(d / "run").predict(X)
    # before: raw features fed to a network trained on standardised ones gave -89 to -115 here
    assert abs(np.mean(pred["age"]) - np.mean(age)) < 1.0
    assert np.sqrt(np.mean((pred["age"] - age) ** 2)) < 1.5


def test_classification_predicts_original_labels_and_proba_gives_probabilities(trained):
    d, X, _age, level, flag = trained
    model = taskgroup.load(d / "run")
    pred = model.predict(X)
    assert set(pred["level"]) <= set(LEVELS) and np.mean(pred["level"] == level) > 0.7
    assert set(np.unique(pred["flag"]).tolist()) <= {0, 1}
    proba = model.predict_proba(X)
    assert set(proba) == {"level", "flag"}
    assert proba["level"].shape == (len(X), 3) and np.allclose(proba["level"].sum(axis=1), 1, atol=1e-5)
    assert sorted(model.classes["level"]) == sorted(LEVELS)
    best = np.asarray(model.classes["level"])[proba["level"].argmax(axis=1)]
    assert np.array_equal(best, pred["level"])


def test_one_row_is_accepted_and_a_wrong_width_is_refused(trained):
    d, X, *_ = trained
    model = taskgroup.load(d / "run")
    one = model.predict(X[3])
    assert {t: v.shape for t, v in one.items()} == {"age": (1,), "level": (1,), "flag": (1,)}
    assert one["age"][0] == pytest.approx(model.predict(X[:5])["age"][3], rel=1e-5)
    with pytest.raises(DataError, match=r"shape \(5, 3\).*4 features \(x0, x1, x2, x3\)"):
        model.predict(X[:5, :3])
    with pytest.raises(DataError, match="shape"):
        model.predict(X[0, :2])
    import torch
    assert np.allclose(model.predict(torch.tensor(X[:4]))["age"], model.predict(X[:4])["age"], atol=1e-4)


def test_predict_writes_csv_to_stdout_without_out(trained):
    d, X, age, *_ = trained
    for extra in ([], ["--out", "-"]):
        result = CliRunner().invoke(main, ["predict", str(d / "run"), str(d / "people.csv"), *extra])
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert len(rows) == len(X) and set(rows[0]) == {"row", "age", "level", "flag"}
        assert rows[0]["level"] in LEVELS
        assert abs(float(rows[0]["age"]) - age[0]) < 3
    result = CliRunner().invoke(main, ["predict", str(d / "run"), str(d / "people.csv"), "--proba",
                                       "--out", str(d / "p.csv")])
    assert result.exit_code == 0, result.output
    header = (d / "p.csv").read_text().splitlines()[0].split(",")
    assert {"flag:0", "flag:1", "level:low", "level:mid", "level:high"} <= set(header)
