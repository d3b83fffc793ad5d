"""The networks the decision says to train, saved under ``DIR/models/`` and loaded for prediction.

For ``share_for_accuracy`` and ``share_for_cost`` they are the grouping's networks; for
``train_separately`` and ``inconclusive`` one single-task network per task.

Each network is a state dict (``net-K.pt``, loaded with ``weights_only=True``) plus JSON metadata
(``net-K.json``: its tasks, architecture, target scaling). ``models/index.json`` routes every task
to the network that serves it, and records the feature scaling the data loader applied.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runtime.atomic import write_bytes, write_json
from ..training.batching import TaskData
from ..config import ModelConfig
from ..errors import DataError, RunDirError, TaskgroupError
from ..runtime.documents import ComparisonDoc, ModelsIndex, NetworkMeta, TaskInfo
from ..training.models import HardSharedMTL, make_encoder
from ..runtime.store import RunStore
from ..tasks import Task, TaskSet

MODELS = "models"


def save_models(directory: str | Path, comparison: ComparisonDoc, store: RunStore, taskset: TaskSet,
                model_cfg: ModelConfig) -> list[Path]:
    """Write the recommended grouping's networks (first seed) from the store into ``DIR/models``."""
    d = Path(directory) / MODELS
    d.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    routes: dict[str, int] = {}
    networks = comparison.models.networks if comparison.models else []
    for k, net in enumerate(networks):
        blob = store.get_blob(net.key)
        if blob is None:
            raise RunDirError(f"{directory}: the network for {net.tasks} is missing from the store; rerun compare")
        data = TaskData(taskset, net.tasks)
        meta = NetworkMeta.from_json({
            "tasks": [taskset.task(t).to_dict() for t in net.tasks],
            "model": asdict(model_cfg), "input_shape": list(taskset.input_shape),
            "target_mean": dict(zip(net.tasks, map(float, data.mean))),
            "target_std": dict(zip(net.tasks, map(float, data.std))),
            "classes": {t: [_plain(c) for c in taskset.task(t).classes] for t in net.tasks},
        }, f"net-{k}.json")
        written.append(write_bytes(d / f"net-{k}.pt", blob))
        written.append(write_json(d / f"net-{k}.json", meta.to_json()))
        for t in net.tasks:
            routes.setdefault(t, k)
    index = ModelsIndex.from_json({"tasks": list(routes), "routes": routes, "networks": len(networks),
                                   "feature_names": list(taskset.feature_names),
                                   "feature_scaling": taskset.meta.get("feature_scaling")}, "models/index.json")
    written.append(write_json(d / "index.json", index.to_json()))
    return written


def _plain(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


class Predictor:
    """Routes every task to the saved network that serves it and returns its predictions."""

    def __init__(self, directory: str | Path, device: str | Any = "cpu") -> None:
        from ..runtime.device import check_device_name, resolve_device

        self.device = resolve_device(device if isinstance(device, torch.device) else check_device_name(device))
        d = Path(directory) / MODELS
        if not (d / "index.json").is_file():
            raise RunDirError(f"{directory}: no saved models (models/index.json); run 'taskgroup compare' first")
        self.index = ModelsIndex.load(d / "index.json")
        self.networks: list[tuple[HardSharedMTL, NetworkMeta]] = []
        for k in range(self.index.networks):
            meta = NetworkMeta.load(d / f"net-{k}.json")
            self.networks.append((_load_network(d, k, meta, self.device), meta))
        for t, k in self.index.routes.items():
            if t not in self.networks[k][0].task_names:
                raise RunDirError(f"{d / 'index.json'}: routes.{t}: network {k} does not serve task {t!r}")

    @property
    def tasks(self) -> list[str]:
        return list(self.index.routes)

    @property
    def feature_names(self) -> list[str]:
        return list(self.index.feature_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input row the networks were trained on."""
        return tuple(self.networks[0][1].input_shape) if self.networks else ()

    @property
    def classes(self) -> dict[str, list[Any]]:
        """Original class labels of every classification task, in the column order of ``predict_proba``."""
        return {t: list(self._meta(t).classes.get(t) or range(self._task(t).n_classes or 2))
                for t in self.tasks if self._task(t).kind in ("binary", "multiclass")}

    def _meta(self, task: str) -> NetworkMeta:
        return self.networks[self.index.routes[task]][1]

    def _task(self, task: str) -> TaskInfo:
        return next(t for t in self._meta(task).tasks if t.name == task)

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Apply the feature scaling the data loader used in training (if any) to raw features."""
        s = self.index.feature_scaling
        if s is None:
            return X
        return (X - np.asarray(s.mean)) / np.asarray(s.std)

    def rows(self, X: Any, scaled: bool = False) -> np.ndarray:
        """``X`` as a float32 batch of rows: a single row is taken as one row, a wrong width is refused."""
        if hasattr(X, "detach"):
            X = X.detach().cpu().numpy()
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"X must be an array of numbers ({exc})") from None
        shape = self.input_shape
        if arr.shape == shape:
            arr = arr[None]
        if arr.shape[1:] != shape:
            names = f" ({', '.join(self.feature_names[:6])}{', ...' if len(self.feature_names) > 6 else ''})" \
                if self.feature_names else ""
            want = f"rows of {shape[0]} features{names}" if len(shape) == 1 else f"rows of shape {shape}"
            raise DataError(f"X has shape {arr.shape}; the networks were trained on {want}: give an array of "
                            f"shape (n, {', '.join(map(str, shape))}) or one row of shape {shape}")
        _require_finite(arr, self.feature_names, "X: row")
        if not scaled:
            arr = self.scale(arr)
        return arr.astype(np.float32)

    def _outputs(self, X: Any, scaled: bool) -> dict[str, tuple[torch.Tensor, NetworkMeta]]:
        """Raw head output of every task's serving network, with that task's metadata."""
        xt = torch.from_numpy(self.rows(X, scaled)).to(self.device)
        out: dict[str, tuple[torch.Tensor, NetworkMeta]] = {}
        with torch.no_grad():
            for k, (model, meta) in enumerate(self.networks):
                served = [t for t in model.task_names if self.index.routes.get(t) == k]
                if not served:
                    continue
                for task, o in zip(model.task_names, model(xt)):
                    if task in served:
                        out[task] = (o.cpu(), meta)
        return {t: out[t] for t in self.tasks}

    def predict(self, X: Any, scaled: bool = False) -> dict[str, np.ndarray]:
        """Every task's prediction for rows ``X`` of raw features (shape ``(n, *input_shape)``, or one row).

        Classification tasks give their original class labels (``predict_proba`` gives probabilities),
        regression tasks values in the target's units, custom tasks their head's output. The training
        feature scaling is applied first; pass ``scaled=True`` for inputs already scaled that way.
        """
        result: dict[str, np.ndarray] = {}
        for task, (o, meta) in self._outputs(X, scaled).items():
            kind = self._task(task).kind
            if kind in ("binary", "multiclass"):
                codes = (o[:, 0] > 0).long() if kind == "binary" else o.argmax(dim=1)
                result[task] = np.asarray(self.classes[task])[codes.numpy()]
            elif kind == "regression":
                result[task] = o[:, 0].numpy() * meta.target_std[task] + meta.target_mean[task]
            else:
                result[task] = o.numpy()
        return result

    def predict_proba(self, X: Any, scaled: bool = False) -> dict[str, np.ndarray]:
        """Class probabilities ``(n, classes)`` of every classification task, columns in ``classes[task]`` order."""
        result: dict[str, np.ndarray] = {}
        for task, (o, _meta) in self._outputs(X, scaled).items():
            kind = self._task(task).kind
            if kind == "binary":
                p = torch.sigmoid(o[:, 0]).numpy()
                result[task] = np.stack([1 - p, p], axis=1)
            elif kind == "multiclass":
                result[task] = torch.softmax(o, dim=1).numpy()
        return result


def _load_network(d: Path, k: int, meta: NetworkMeta, device: Any = "cpu") -> HardSharedMTL:
    """Network ``k`` of ``models/``, built from its metadata; a damaged file is one line naming it."""
    path = d / f"net-{k}.pt"
    where = d / f"net-{k}.json"
    try:
        tasks = [Task(name=t.name, kind=t.kind, metric=t.metric, n_classes=t.n_classes or 0, head=t.head, loss=t.loss,
                      lower_is_better=t.lower_is_better, classes=tuple(meta.classes.get(t.name, ())))
                 for t in meta.tasks]
        cfg = ModelConfig(**meta.model)
        enc = make_encoder(cfg.encoder, tuple(meta.input_shape), cfg.hidden, cfg.width, cfg.dropout)
        model = HardSharedMTL(enc, tasks)
    except (TaskgroupError, TypeError, ValueError) as exc:
        raise RunDirError(f"{where}: cannot rebuild the network ({_first_line(exc)}); rerun 'taskgroup compare'") from None
    if not path.is_file():
        raise RunDirError(f"{path}: missing; rerun 'taskgroup compare'")
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        model.load_state_dict(state)
        model.to(device)
    except Exception as exc:  # torch raises many kinds for a truncated or foreign file
        raise RunDirError(f"{path}: not a readable model of this network ({_first_line(exc)}); "
                          "rerun 'taskgroup compare'") from None
    model.eval()
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def load(directory: str | Path, device: str | Any = "cpu") -> Predictor:
    """The trained recommended grouping of a run directory, ready to ``predict``.

    ``device``: where the networks run (``cpu``, ``auto``, ``cuda``, ``cuda:N``, ``mps``; resolved by
    :mod:`taskgroup.runtime.device`); models trained on any device load on any other. Predictions
    come back as NumPy arrays whatever the device.
    """
    return Predictor(directory, device)


def predict_table(directory: str | Path, table: str | Path, out: str | Path | None = None,
                  proba: bool = False) -> str | Path:
    """Predict every task for the rows of a CSV table; write CSV to ``out``, or return it when ``out`` is None.

    Columns: ``row``, then one per task (class label, value, or the head's outputs joined by spaces);
    ``proba`` adds one column per class, ``task:label``, holding its probability.
    """
    import csv

    from ..data.table import read_features
    from ..runtime.atomic import write_text

    pred = Predictor(directory)
    X = read_features(table, pred.feature_names)
    preds = pred.predict(X)
    probs = pred.predict_proba(X) if proba else {}
    header = ["row", *(spreadsheet_safe(t) for t in preds)]
    for t, labels in pred.classes.items():
        if t in probs:
            header += [spreadsheet_safe(f"{t}:{c}") for c in labels]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for i in range(len(X)):
        cells: list[str] = [str(i), *(_cell(preds[t][i]) for t in preds)]
        for t in probs:
            cells += [repr(float(v)) for v in probs[t][i]]
        w.writerow(cells)
    if out is None:
        return buf.getvalue()
    return write_text(out, buf.getvalue())


def spreadsheet_safe(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would read it as a formula (OWASP CSV injection:
    a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _require_finite(X: np.ndarray, names: list[str], where: str) -> None:
    """Refuse a NaN or infinite feature, naming its row and column (it would give a NaN prediction)."""
    flat = X.reshape(len(X), -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        column = repr(names[j]) if j < len(names) else str(j)
        raise DataError(f"{where} {i}, column {column}: {float(flat[i, j])!r} is not a finite number; "
                        "fill or drop the row before predicting")


def _cell(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return " ".join(repr(float(v)) for v in value.ravel())
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(_plain(value))
