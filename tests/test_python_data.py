"""Task sets from Python: arrays and tensors, a data frame (duck-typed), a streamed torch Dataset; data=."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import taskgroup
from taskgroup import TaskSet
from taskgroup.config import AnalyzeConfig, CompareConfig, Config, ModelConfig, TrainConfig
from taskgroup.errors import ConfigError, DataError
from taskgroup.tasks import TRAIN


def _arrays(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = 50 + 5 * rng.normal(size=(n, 6))
    z = (X[:, 0] - 50) / 5
    y_reg = 3 * z + 0.1 * rng.normal(size=n)
    y_bin = (z + 0.3 * rng.normal(size=n) > 0).astype(float)
    y_bin[::5] = np.nan                       # unlabelled rows
    return X, {"value": y_reg, "sign": y_bin}


def _tiny() -> Config:
    return Config(model=ModelConfig(hidden=[16]), train=TrainConfig(steps=60, eval_every=20),
                  analyze=AnalyzeConfig(steps=40, probe_steps=40, probe_eval_every=20, measures=["gradient_cosine"]),
                  compare=CompareConfig(seeds=1, random_groupings=0, alternatives=["recommended", "single_task"]))


def test_from_arrays_takes_numpy_or_torch_with_nan_or_a_mask_for_missing():
    X, targets = _arrays()
    a = TaskSet.from_arrays(X, targets)
    assert [t.kind for t in a.tasks] == ["regression", "binary"]
    assert a.masks["sign"].sum() == len(X) - len(X) // 5
    masked = {"value": targets["value"], "sign": np.nan_to_num(targets["sign"])}
    b = TaskSet.from_arrays(torch.tensor(X), {k: torch.tensor(v) for k, v in masked.items()},
                            masks={"sign": ~np.isnan(targets["sign"])}, kinds={"sign": "binary"})
    assert b.fingerprint() == a.fingerprint()
    with pytest.raises(DataError, match="target 'value' has 3 rows but X has 160"):
        TaskSet.from_arrays(X, {"value": [1.0, 2.0, 3.0]})


class Frame:
    """A minimal stand-in for a pandas DataFrame: columns and frame[column].to_numpy()."""

    class Column:
        def __init__(self, values):
            self.values = values

        def to_numpy(self):
            return np.asarray(self.values, dtype=object if any(isinstance(v, str) or v is None for v in self.values) else None)

    def __init__(self, data: dict):
        self.data = data
        self.columns = list(data)

    def __getitem__(self, key):
        return Frame.Column(self.data[key])


def test_from_frame_reads_columns_duck_typed_and_missing_cells():
    X, targets = _arrays()
    colour = ["red" if v > 0 else ("blue" if v < -1 else None) for v in targets["value"]]
    frame = Frame({**{f"f{j}": X[:, j].tolist() for j in range(6)}, "value": targets["value"].tolist(),
                   "colour": colour, "id": list(range(len(X)))})
    ts = TaskSet.from_frame(frame, tasks=["value", {"name": "colour", "kind": "binary"}],
                            features=[f"f{j}" for j in range(6)])
    assert ts.feature_names == [f"f{j}" for j in range(6)]
    assert ts.task("colour").classes == ("blue", "red")
    assert ts.masks["colour"].sum() == sum(c is not None for c in colour)
    with pytest.raises(DataError, match="no column 'colr' for task 'colr'"):
        TaskSet.from_frame(frame, tasks=["colr"])


def test_from_frame_with_pandas_when_installed():
    pd = pytest.importorskip("pandas", reason="pandas is optional; the duck-typed path is tested above")
    X, targets = _arrays()
    df = pd.DataFrame({f"f{j}": X[:, j] for j in range(6)})
    df["value"] = targets["value"]
    df["sign"] = pd.array([None if np.isnan(v) else int(v) for v in targets["sign"]], dtype="Int64")
    ts = TaskSet.from_frame(df, tasks=["value", "sign"])
    assert ts.task("sign").kind == "binary" and ts.masks["sign"].sum() == len(X) - len(X) // 5


class Images(torch.utils.data.Dataset):
    """8x8 images with two labels; refuses any request for more than ``limit`` items at once."""

    def __init__(self, n=200, limit=64, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, 8, 8, generator=g) * 255
        self.limit = limit
        self.largest = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        bright = float(x.mean() > 127.5)
        labels = {"bright": bright, "top": float(x[0, :4].mean() - x[0, 4:].mean())}
        if i % 7 == 0:
            del labels["bright"]                # unlabelled for this task
        return x, labels

    def __getitems__(self, indices):
        if len(indices) > self.limit or len(indices) >= len(self):
            raise RuntimeError(f"asked for {len(indices)} items at once")
        self.largest = max(self.largest, len(indices))
        return [self[i] for i in indices]

    def __iter__(self):
        raise RuntimeError("asked for all items at once")


def test_from_dataset_streams_and_never_holds_all_inputs(tmp_path):
    ds = Images()
    ts = TaskSet.from_dataset(ds, tasks=["bright", "top"], batch_size=32)
    assert ts.streamed and not isinstance(ts.inputs, np.ndarray)
    assert ts.input_shape == (1, 8, 8) and ts.masks["bright"].sum() == 200 - len(range(0, 200, 7))
    paths = taskgroup.run(_tiny(), tmp_path / "run", data=ts)
    assert paths["html"].is_file() and 0 < ds.largest <= 64
    doc = json.loads((tmp_path / "run" / "affinity.json").read_text())
    assert doc["data"]["source"] == "torch Dataset Images"
    pred = taskgroup.load(tmp_path / "run").predict(ds.x[:5])
    assert set(pred) == {"bright", "top"} and pred["top"].shape == (5,)


def test_streamed_standardisation_matches_the_in_memory_one():
    from taskgroup.data.load import standardize_features

    ds = Images(n=120, limit=200)
    streamed = TaskSet.from_dataset(ds, tasks=["top"], batch_size=50)
    memory = TaskSet.from_arrays(ds.x.numpy(), {"top": np.array([ds[i][1]["top"] for i in range(120)])})
    a, b = standardize_features(streamed), standardize_features(memory)
    assert np.allclose(a.meta["feature_scaling"]["mean"], b.meta["feature_scaling"]["mean"], rtol=1e-6)
    assert np.allclose(a.meta["feature_scaling"]["std"], b.meta["feature_scaling"]["std"], rtol=1e-5)
    rows = np.flatnonzero(a.splits["top"] == TRAIN)[:10]
    assert torch.allclose(a.inputs[torch.tensor(rows)], torch.from_numpy(b.inputs[rows]), atol=1e-4)


def test_every_step_takes_data_and_checks_it_is_the_same(tmp_path):
    X, targets = _arrays()
    ts = TaskSet.from_arrays(X, targets)
    out = tmp_path / "run"
    taskgroup.analyze(_tiny(), out, data=ts)
    saved = (out / "config.toml").read_text()
    assert 'origin = "TaskSet.from_arrays"' in saved
    taskgroup.group(out)
    with pytest.raises(ConfigError, match=r"came from Python \(TaskSet.from_arrays\); pass the task set as data="):
        taskgroup.compare(out)
    other = TaskSet.from_arrays(X + 1, targets)
    with pytest.raises(DataError, match="differ from those analyze measured"):
        taskgroup.compare(out, data=other)
    assert taskgroup.status(out)["left"] == {}            # the plan needs the data
    assert taskgroup.status(out, data=ts)["left"]["analyze"]["done"] == taskgroup.status(out, data=ts)["left"]["analyze"]["total"]
    taskgroup.compare(out, data=ts)
    taskgroup.report(out)
    assert (out / "report.html").is_file()


def test_worker_processes_read_the_same_data():
    ds = Images(n=90, limit=90)
    one = TaskSet.from_dataset(ds, tasks=["top"], batch_size=30)
    two = TaskSet.from_dataset(ds, tasks=["top"], batch_size=30, workers=2)
    assert one.fingerprint() == two.fingerprint()
    rows = torch.arange(0, 90, 3)
    assert torch.equal(two.inputs.read(rows.tolist()), ds.x[rows])


def test_groups_keep_each_subject_in_one_split():
    rng = np.random.default_rng(1)
    subject = np.repeat(np.arange(40), 10)
    X = rng.normal(size=(400, 3)) + subject[:, None] * 0.1
    y = {"score": X[:, 0] + rng.normal(size=400), "flag": (X[:, 1] > 0).astype(float)}
    ts = TaskSet.from_arrays(X, y, groups=subject)
    row = ts.row_split
    for s in range(40):
        assert len(set(row[subject == s].tolist())) == 1
    assert len(set(row.tolist())) == 3
    frame = Frame({"a": X[:, 0].tolist(), "b": X[:, 1].tolist(), "who": [f"p{s}" for s in subject],
                   "score": y["score"].tolist()})
    from_frame = TaskSet.from_frame(frame, tasks=["score"], groups="who")
    assert from_frame.feature_names == ["a", "b"]
    fr = from_frame.row_split
    assert all(len(set(fr[subject == s].tolist())) == 1 for s in range(40))
    with pytest.raises(DataError, match="groups has 3 values for 400 rows"):
        TaskSet.from_arrays(X, y, groups=[1, 2, 3])
    with pytest.raises(DataError, match="no column 'whom' for groups"):
        TaskSet.from_frame(frame, tasks=["score"], groups="whom")
