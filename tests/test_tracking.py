"""MLflow tracking: a finished run logged to a local file store and read back with MLflow's client."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from taskgroup.cli import main
from taskgroup.tracking.mlflow_log import flat_params, run_metrics, tracking_uri

CONFIG = """
seed = 0
[data]
builtin = "synthetic-small"
[model]
hidden = [16]
[train]
steps = 60
eval_every = 20
[analyze]
steps = 40
probe_steps = 40
probe_eval_every = 20
measures = ["gradient_cosine"]
[compare]
seeds = 2
random_groupings = 0
alternatives = ["recommended", "single_task", "all_in_one"]
"""


def test_parameters_and_metrics_are_flat_and_named():
    assert flat_params({"train": {"steps": 60, "lr": 0.003}, "model": {"hidden": [16, 8]}, "x": None}) == \
        {"train.steps": "60", "train.lr": "0.003", "model.hidden": "[16, 8]"}
    doc = {"alternatives": [{"name": "recommended", "delta_m": 2.5, "delta_m_std": 0.5},
                            {"name": "random-1", "delta_m": float("nan")}],
           "verdict": {"use_mtl": True, "decision": "share_for_cost"}}
    assert run_metrics(doc) == {"delta_m.recommended": 2.5, "delta_m_std.recommended": 0.5, "use_mtl": 1.0,
                                "decision_code": 2.0}
    assert tracking_uri("mlruns").startswith("file:///") and tracking_uri("http://host:5000") == "http://host:5000"


def test_run_logs_to_a_local_store_and_reads_back(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'taskgroup-mtl[mlflow]')")
    from mlflow.tracking import MlflowClient

    (tmp_path / "c.toml").write_text(CONFIG + f'[track]\nmlflow = "{tmp_path / "store"}"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "c.toml", "--out", "run", "--quiet", "--track", "mlflow"])
    assert result.exit_code == 0, result.output
    run_id = result.output.strip().splitlines()[-1].split()[-1]
    client = MlflowClient(tracking_uri=tracking_uri(str(tmp_path / "store")))
    run = client.get_run(run_id)
    assert run.data.params["train.steps"] == "60" and run.data.params["data.builtin"] == "synthetic-small"
    comparison = json.loads((tmp_path / "run" / "comparison.json").read_text())
    for alt in comparison["alternatives"]:
        assert run.data.metrics[f"delta_m.{alt['name']}"] == pytest.approx(alt["delta_m"])
    assert run.data.metrics["use_mtl"] == float(comparison["verdict"]["use_mtl"])
    assert run.data.tags["taskgroup.summary"] == comparison["verdict"]["summary"]
    files = {f.path for top in ("documents", "report") for f in client.list_artifacts(run_id, top)}
    assert {"documents/affinity.json", "documents/groupings.json", "documents/comparison.json",
            "report/report.html"} <= files
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert model.metadata.signature is not None
    x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    out = model.predict(x)
    import taskgroup
    expected = taskgroup.load(tmp_path / "run").predict(x)
    assert set(out) == set(expected) and all(np.allclose(out[t], expected[t]) for t in expected)


def test_tracking_without_mlflow_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("no mlflow")
        return real(name, *args, **kwargs)

    from taskgroup.tracking import log_run
    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    from taskgroup.errors import ConfigError
    with pytest.raises(ConfigError, match=r"pip install 'taskgroup-mtl\[mlflow\]'"):
        log_run(tmp_path)
