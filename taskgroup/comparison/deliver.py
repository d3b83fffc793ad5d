"""Trained models of the recommended grouping: saved under ``DIR/models/``, loaded for prediction.

Each network is a state dict (``net-K.pt``, loaded with ``weights_only=True``) plus JSON metadata
(``net-K.json``: its tasks, architecture, target scaling). ``models/index.json`` routes every task
to the network that serves it, and records the feature scaling the data loader applied.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runtime.atomic import write_bytes, write_json
from ..training.batching import TaskData
from ..config import ModelConfig
from ..errors import DataError, RunDirError
from ..training.models import HardSharedMTL, make_encoder
from ..runtime.store import RunStore
from ..tasks import Task, TaskSet

MODELS = "models"


def save_models(directory: str | Path, comparison: dict[str, Any], store: RunStore, taskset: TaskSet,
                model_cfg: ModelConfig) -> list[Path]:
    """Write the recommended grouping's networks (first seed) from the store into ``DIR/models``."""
    d = Path(directory) / MODELS
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    routes: dict[str, int] = {}
    for k, net in enumerate(comparison["models"]["networks"]):
        blob = store.get_blob(net["key"])
        if blob is None:
            raise RunDirError(f"{directory}: the network for {net['tasks']} is missing from the store; rerun compare")
        data = TaskData(taskset, net["tasks"])
        meta = {
            "tasks": [taskset.task(t).to_dict() for t in net["tasks"]],
            "model": asdict(model_cfg), "input_shape": list(taskset.input_shape),
            "target_mean": dict(zip(net["tasks"], data.mean)), "target_std": dict(zip(net["tasks"], data.std)),
            "classes": {t: [_plain(c) for c in taskset.task(t).classes] for t in net["tasks"]},
        }
        written.append(write_bytes(d / f"net-{k}.pt", blob))
        written.append(write_json(d / f"net-{k}.json", meta))
        for t in net["tasks"]:
            routes.setdefault(t, k)
    index = {"tasks": list(routes), "routes": routes, "networks": len(comparison["models"]["networks"]),
             "feature_names": list(taskset.feature_names),
             "feature_scaling": taskset.meta.get("feature_scaling")}
    written.append(write_json(d / "index.json", index))
    return written


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


class Predictor:
    """Routes every task to the saved network that serves it and returns its predictions."""

    def __init__(self, directory: str | Path) -> None:
        d = Path(directory) / MODELS
        if not (d / "index.json").is_file():
            raise RunDirError(f"{directory}: no saved models (models/index.json); run 'taskgroup compare' first")
        self.index = json.loads((d / "index.json").read_text())
        self.networks: list[tuple[HardSharedMTL, dict[str, Any]]] = []
        for k in range(self.index["networks"]):
            meta = json.loads((d / f"net-{k}.json").read_text())
            tasks = [Task(**{k2: (tuple(v) if k2 == "classes" else v) for k2, v in t.items()}) for t in meta["tasks"]]
            cfg = ModelConfig(**meta["model"])
            enc = make_encoder(cfg.encoder, tuple(meta["input_shape"]), cfg.hidden, cfg.width, cfg.dropout)
            model = HardSharedMTL(enc, tasks)
            state = torch.load(d / f"net-{k}.pt", weights_only=True, map_location="cpu")
            model.load_state_dict(state)
            model.eval()
            self.networks.append((model, meta))

    @property
    def tasks(self) -> list[str]:
        return list(self.index["routes"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.index.get("feature_names") or [])

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Apply the feature scaling the data loader used in training (if any) to raw features."""
        s = self.index.get("feature_scaling")
        if not s:
            return X
        return (X - np.asarray(s["mean"])) / np.asarray(s["std"])

    def predict(self, X: np.ndarray, scaled: bool = True) -> dict[str, np.ndarray]:
        """Every task's prediction for rows ``X``: P(positive) for binary, class index for multiclass,
        values in the target's units for regression. ``scaled=False`` applies the training feature
        scaling first (use it for raw table features)."""
        X = np.asarray(X, dtype=np.float32)
        if not scaled:
            X = self.scale(X).astype(np.float32)
        out: dict[str, np.ndarray] = {}
        with torch.no_grad():
            xt = torch.from_numpy(X)
            for k, (model, meta) in enumerate(self.networks):
                outputs = model(xt)
                for task, o in zip(model.task_names, outputs):
                    if self.index["routes"][task] != k:
                        continue
                    kind = next(t["kind"] for t in meta["tasks"] if t["name"] == task)
                    if kind == "binary":
                        out[task] = torch.sigmoid(o[:, 0]).numpy()
                    elif kind == "multiclass":
                        out[task] = o.argmax(dim=1).numpy()
                    elif kind == "regression":
                        out[task] = o[:, 0].numpy() * meta["target_std"][task] + meta["target_mean"][task]
                    else:
                        out[task] = o.numpy()
        return {t: out[t] for t in self.tasks}


def load(directory: str | Path) -> Predictor:
    """The trained recommended grouping of a run directory, ready to ``predict``."""
    return Predictor(directory)


def predict_table(directory: str | Path, table: str | Path, out: str | Path) -> Path:
    """Predict every task for the rows of a CSV and write them (with a row number) to ``out``."""
    import csv

    from ..runtime.atomic import write_text

    pred = Predictor(directory)
    names = pred.feature_names
    path = Path(table)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file") from None
        rows = list(reader)
    missing = [n for n in names if n not in header]
    if missing:
        raise DataError(f"{path}: missing feature column {missing[0]!r} used in training")
    cols = [header.index(n) for n in names]
    X = np.empty((len(rows), len(cols)), dtype=np.float64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            try:
                X[i, j] = float(r[c])
            except (ValueError, IndexError):
                raise DataError(f"{path}: row {i + 2}, column {names[j]!r}: not a number ({r[c] if c < len(r) else ''!r})") from None
    preds = pred.predict(X, scaled=False)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["row", *preds])
    for i in range(len(rows)):
        w.writerow([i, *(repr(float(preds[t][i])) for t in preds)])
    return write_text(out, buf.getvalue())
