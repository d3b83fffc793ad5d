"""Devices: name resolution (with CUDA availability faked), validation, and the plumbing that carries
the chosen device into every unit of work, so that a CUDA machine runs the paths tested here on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from taskgroup.cli import main
from taskgroup.config import config_from_dict
from taskgroup.errors import ConfigError
from taskgroup.runtime import device as device_module
from taskgroup.runtime.device import resolve_device, set_worker_slot


def _fake_gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_is_cuda_when_present_else_cpu(monkeypatch):
    monkeypatch.delenv(device_module.SLOT_ENV, raising=False)
    _fake_gpus(monkeypatch, 0)
    assert resolve_device("auto") == torch.device("cpu")
    _fake_gpus(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device(" CUDA:1 ") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")


def test_workers_spread_over_the_gpus(monkeypatch):
    _fake_gpus(monkeypatch, 2)
    seen = []
    for slot in range(4):
        set_worker_slot(slot)
        seen.append(resolve_device("cuda"))
    monkeypatch.delenv(device_module.SLOT_ENV)
    assert seen == [torch.device("cuda", i) for i in (0, 1, 0, 1)]


@pytest.mark.parametrize("name, gpus, message", [
    ("gpu", 0, "is not a device"), ("cuda:", 0, "is not a device"), ("cuda", 0, "no CUDA GPU"),
    ("cuda:2", 2, "cuda:0 to cuda:1"), (3, 0, "is not a device"),
])
def test_unusable_devices_are_one_line_errors(monkeypatch, name, gpus, message):
    _fake_gpus(monkeypatch, gpus)
    with pytest.raises(ConfigError, match=message) as info:
        resolve_device(name)
    assert "\n" not in str(info.value)


def test_mps_absent_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="'mps' is not available"):
        resolve_device("mps")


def test_config_checks_train_device():
    cfg = config_from_dict({"data": {"builtin": "synthetic"}, "train": {"device": "CPU"}})
    assert cfg.train.device == "cpu"
    assert config_from_dict({"data": {"builtin": "synthetic"}}).train.device == "auto"
    with pytest.raises(ConfigError, match="train.device = 'tpu' is not a device"):
        config_from_dict({"data": {"builtin": "synthetic"}, "train": {"device": "tpu"}})


CONFIG = """seed = 0
[data]
builtin = "synthetic-small"
[model]
hidden = [8]
[train]
steps = 20
eval_every = 10
device = "{device}"
[analyze]
steps = 10
every = 5
window = 2
probe_steps = 10
probe_eval_every = 5
probe_seeds = 1
[compare]
seeds = 1
random_groupings = 0
alternatives = ["recommended", "single_task"]
"""


def test_every_unit_trains_on_the_chosen_device(tmp_path, monkeypatch):
    """A config asking for CUDA sends that name into the joint run, the probes and every compare
    network; here the resolution is intercepted (no GPU) and answered with the CPU."""
    asked: list[str] = []

    def fake(name="auto"):
        asked.append(str(name))
        return torch.device("cpu")

    _fake_gpus(monkeypatch, 2)  # the check before any work sees two GPUs; the units are answered by fake
    monkeypatch.setattr(device_module, "resolve_device", fake)
    cfg_path = tmp_path / "exp.toml"
    cfg_path.write_text(CONFIG.format(device="cuda:1"))
    result = CliRunner().invoke(main, ["run", str(cfg_path), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert asked and set(asked) == {"cuda:1"}
    assert len(asked) >= 3  # joint run, probe chunks, networks


def test_device_cpu_end_to_end_and_same_results_as_the_config_default(tmp_path):
    cfg_path = tmp_path / "exp.toml"
    cfg_path.write_text(CONFIG.format(device="auto"))
    runner = CliRunner()
    a = runner.invoke(main, ["run", str(cfg_path), "--out", str(tmp_path / "a"), "--quiet", "--device", "cpu"])
    assert a.exit_code == 0, a.output
    cfg_path.write_text(CONFIG.format(device="cpu"))
    b = runner.invoke(main, ["run", str(cfg_path), "--out", str(tmp_path / "b"), "--quiet"])
    assert b.exit_code == 0, b.output
    da = json.loads((tmp_path / "a" / "comparison.json").read_text())
    db = json.loads((tmp_path / "b" / "comparison.json").read_text())
    assert [x["delta_m"] for x in da["alternatives"]] == [x["delta_m"] for x in db["alternatives"]]
    from taskgroup.comparison.deliver import load

    pred = load(tmp_path / "a")
    X = np.zeros((3, len(pred.feature_names) or 8), dtype=np.float32)
    assert all(len(v) == 3 for v in pred.predict(X).values())


def test_load_takes_a_device_resolved_by_the_device_module(tmp_path, monkeypatch):
    import taskgroup

    cfg_path = tmp_path / "exp.toml"
    cfg_path.write_text(CONFIG.format(device="cpu"))
    assert CliRunner().invoke(main, ["run", str(cfg_path), "--out", str(tmp_path / "a"), "--quiet"]).exit_code == 0
    X = np.random.default_rng(0).normal(size=(4, len(taskgroup.load(tmp_path / "a").feature_names))).astype(np.float32)
    plain = taskgroup.load(tmp_path / "a").predict(X)
    asked: list[str] = []

    def fake(name="auto"):
        asked.append(str(name))
        return torch.device("cpu")

    monkeypatch.setattr(device_module, "resolve_device", fake)
    model = taskgroup.load(tmp_path / "a", device="cuda:1")
    assert asked == ["cuda:1"] and model.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for net, _ in model.networks for p in net.parameters())
    got = model.predict(X)
    assert all(np.array_equal(np.asarray(got[t]), np.asarray(plain[t])) for t in plain)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="'gpu0' is not a device"):
        taskgroup.load(tmp_path / "a", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            taskgroup.load(tmp_path / "a", device="cuda")


def test_a_missing_gpu_stops_the_cli_with_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg_path = tmp_path / "exp.toml"
    cfg_path.write_text(CONFIG.format(device="auto"))
    result = CliRunner().invoke(main, ["analyze", str(cfg_path), "--out", str(tmp_path / "r"), "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA GPU" in result.output and "Traceback" not in result.output
    bad = CliRunner().invoke(main, ["analyze", str(cfg_path), "--out", str(tmp_path / "r"), "--device", "gpu0"])
    assert bad.exit_code == 2 and "--device = 'gpu0' is not a device" in bad.output
