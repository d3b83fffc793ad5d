"""Log a run directory to MLflow: parameters, decision and Delta_m metrics, documents, report, model."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: where runs go when no tracking URI is given: MLflow's local file store in the current folder
DEFAULT_URI = "./mlruns"
DECISIONS = ("train_separately", "inconclusive", "share_for_cost", "share_for_accuracy")


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError("tracking with MLflow needs the mlflow package: pip install 'taskgroup-mtl[mlflow]'") from None
    return mlflow


def tracking_uri(uri: str | None) -> str:
    """A local path (default ``./mlruns``) as a ``file:`` URI; other URIs (http, databricks...) as given."""
    uri = uri or DEFAULT_URI
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri) or uri.startswith("file:"):
        return uri
    return Path(uri).resolve().as_uri()


def flat_params(d: Any, prefix: str = "") -> dict[str, str]:
    """A nested configuration as ``section.key -> text`` parameters (lists as JSON)."""
    if isinstance(d, dict):
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(flat_params(v, f"{prefix}{k}."))
        return out
    if d is None:
        return {}
    text = json.dumps(d) if isinstance(d, (list, tuple)) else str(d)
    return {prefix.rstrip("."): text[:6000]}


def _metric_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)[:250]


def _read(directory: Path, name: str) -> dict[str, Any] | None:
    p = directory / name
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def run_metrics(comparison: dict[str, Any]) -> dict[str, float]:
    """Metrics of a comparison: Delta_m (test, validation, spread) of every alternative, and the decision."""
    out: dict[str, float] = {}
    for alt in comparison.get("alternatives") or []:
        name = _metric_name(str(alt.get("name")))
        for key, label in (("delta_m", "delta_m"), ("delta_m_std", "delta_m_std"), ("delta_m_val", "delta_m_val")):
            v = alt.get(key)
            if isinstance(v, (int, float)) and v == v:
                out[f"{label}.{name}"] = float(v)
    verdict = comparison.get("verdict") or {}
    if isinstance(verdict.get("use_mtl"), bool):
        out["use_mtl"] = float(verdict["use_mtl"])
    if verdict.get("decision") in DECISIONS:
        out["decision_code"] = float(DECISIONS.index(verdict["decision"]))
    final = comparison.get("final") or {}
    for key in ("delta_m_val", "delta_m_test"):
        if isinstance(final.get(key), (int, float)):
            out[f"final.{key}"] = float(final[key])
    return out


def log_run(directory: str | Path, uri: str | None = None, experiment: str = "taskgroup",
            run_name: str | None = None) -> str:
    """Log the run directory ``directory`` to MLflow at ``uri`` (default ``./mlruns``); return the run id."""
    import tomllib

    mlflow = _mlflow()
    d = Path(directory)
    target = tracking_uri(uri)
    if target.startswith("file:"):
        # MLflow 3 keeps the file store in maintenance mode and refuses it unless asked; a local folder
        # is what was asked for here (give sqlite:///mlflow.db or a server URI for a database backend)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(target)
    mlflow.set_experiment(experiment)
    config = tomllib.loads((d / "config.toml").read_text(encoding="utf-8")) if (d / "config.toml").is_file() else {}
    comparison = _read(d, "comparison.json") or {}
    verdict = comparison.get("verdict") or {}
    with mlflow.start_run(run_name=run_name or d.resolve().name) as active:
        params = flat_params({k: v for k, v in config.items() if k != "tasks"})
        params["tasks"] = json.dumps([t.get("name") for t in config.get("tasks") or []]
                                     or (comparison.get("tasks") or []))[:6000]
        mlflow.log_params(params)
        tags = {"taskgroup.run_directory": str(d.resolve())}
        for key in ("decision", "summary"):
            if verdict.get(key) is not None:
                tags[f"taskgroup.{key}"] = str(verdict[key])[:5000]
        affinity = _read(d, "affinity.json") or {}
        source = (affinity.get("data") or {})
        for key in ("source", "fingerprint"):
            if source.get(key):
                tags[f"taskgroup.data_{key}"] = str(source[key])
        mlflow.set_tags(tags)
        mlflow.log_metrics(run_metrics(comparison))
        for name in ("affinity.json", "groupings.json", "comparison.json", "config.toml"):
            if (d / name).is_file():
                mlflow.log_artifact(str(d / name), artifact_path="documents")
        for name in ("report.html", "report.md"):
            if (d / name).is_file():
                mlflow.log_artifact(str(d / name), artifact_path="report")
        if (d / "figures").is_dir():
            mlflow.log_artifacts(str(d / "figures"), artifact_path="report/figures")
        if (d / "models" / "index.json").is_file():
            _log_model(mlflow, d)
        return str(active.info.run_id)


def _log_model(mlflow: Any, d: Path) -> None:
    """The saved networks as one MLflow pyfunc model (raw features in, every task out) with its signature."""
    import numpy as np

    from ..comparison.deliver import load
    from .pyfunc import TaskgroupModel

    predictor = load(d)
    example = np.zeros((2, *predictor.input_shape), dtype=np.float32)
    outputs = predictor.predict(example)
    signature = mlflow.models.infer_signature(example, {t: np.asarray(v) for t, v in outputs.items()})
    mlflow.pyfunc.log_model(name="model", python_model=TaskgroupModel(),
                            artifacts={"models": str(d / "models")}, signature=signature,
                            input_example=example)
