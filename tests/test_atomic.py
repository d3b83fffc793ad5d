"""Atomic writes and content hashes: what a run directory's files and the store's keys rely on."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskgroup.runtime import atomic
from taskgroup.runtime.hashing import canonical_json, content_hash, file_hash


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- atomic writes -------------------------------------------------------------------------------

def test_write_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    atomic.write_text(target, "first\n")
    atomic.write_text(target, "second\n")
    assert target.read_text() == "second\n"
    atomic.write_bytes(tmp_path / "blob.bin", b"\x00\x01\x02")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01\x02"
    assert _temps(tmp_path) == []


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    path = atomic.write_text(tmp_path / "models" / "group-0.json", "{}")
    assert path.read_text() == "{}"


def test_write_json_keeps_key_order_indents_and_turns_non_finite_floats_into_null(
        tmp_path: Path) -> None:
    target = tmp_path / "affinity.json"
    atomic.write_json(target, {"schema": 1, "tasks": ("b", "a"),
                               "matrix": np.array([[1.0, np.nan], [np.inf, 0.25]]),
                               "agreement": np.float32(0.5), "n": np.int64(3)})
    text = target.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "schema": 1,')
    assert list(json.loads(text)) == ["schema", "tasks", "matrix", "agreement", "n"]
    assert json.loads(text) == {"schema": 1, "tasks": ["b", "a"],
                                "matrix": [[1.0, None], [None, 0.25]], "agreement": 0.5, "n": 3}


def test_a_value_json_cannot_encode_raises_before_the_old_file_is_touched(tmp_path: Path) -> None:
    target = tmp_path / "groupings.json"
    atomic.write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        atomic.write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": True}
    assert _temps(tmp_path) == []


def test_a_failure_before_the_rename_keeps_the_old_file_and_removes_the_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "comparison.json"
    atomic.write_text(target, "old")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(target, "new")
    assert target.read_text() == "old"
    assert _temps(tmp_path) == []


def test_a_writer_killed_before_the_rename_leaves_the_old_file_and_a_removable_temporary(
        tmp_path: Path) -> None:
    target = tmp_path / "affinity.json"
    atomic.write_text(target, "old")
    script = ("import os, sys\n"
              "from taskgroup.runtime import atomic\n"
              "atomic.os.replace = lambda *a: os._exit(9)  # die between fsync and rename\n"
              "atomic.write_text(sys.argv[1], 'new')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script, str(target)], env=env, timeout=60)
    assert result.returncode == 9
    assert target.read_text() == "old"
    left = _temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".affinity.json.")
    removed = atomic.remove_stale_temps(tmp_path)
    assert [p.name for p in removed] == left
    assert _temps(tmp_path) == []
    assert target.read_text() == "old"


def test_remove_stale_temps_spares_live_writers_and_other_files(tmp_path: Path) -> None:
    live = tmp_path / f".a.json.{os.getpid()}.0123abcd.tmp"
    other = tmp_path / ".hidden.tmp"
    live.write_text("x")
    other.write_text("x")
    assert atomic.remove_stale_temps(tmp_path) == []
    assert live.exists() and other.exists()


def test_files_get_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = atomic.write_text(tmp_path / "config.toml", "x = 1\n")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_torch_round_trips_a_state_dict_loadable_with_weights_only(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.zeros(2)}
    path = atomic.save_torch(tmp_path / "net.pt", state)
    loaded = torch.load(path, weights_only=True)
    assert set(loaded) == {"weight", "bias"}
    assert torch.equal(loaded["weight"], state["weight"])
    assert _temps(tmp_path) == []


# -- content hashes ------------------------------------------------------------------------------

def test_content_hash_ignores_dict_order_and_is_20_hex_characters() -> None:
    a = content_hash({"tasks": ["a", "b"], "seed": 0, "config": {"lr": 0.01, "epochs": 3}})
    b = content_hash({"config": {"epochs": 3, "lr": 0.01}, "seed": 0, "tasks": ["a", "b"]})
    assert a == b
    assert len(a) == 20 and int(a, 16) >= 0


def test_content_hash_is_the_same_in_another_process() -> None:
    obj = {"x": [1, 2.5, None, True], "y": (0.1, "é"), "z": np.arange(4, dtype=np.float32)}
    script = ("import numpy as np\nfrom taskgroup.runtime.hashing import content_hash\n"
              "print(content_hash({'z': np.arange(4, dtype=np.float32), 'y': (0.1, 'é'), "
              "'x': [1, 2.5, None, True]}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == content_hash(obj)


def test_content_hash_separates_values_that_only_look_alike() -> None:
    distinct = [1, 1.0, True, "1", [1], 0.1 + 0.2, 0.3, -0.0, 0.0, math.nan, math.inf, None,
                np.arange(3), np.arange(3, dtype=np.float64), np.arange(3).reshape(3, 1)]
    hashes = [content_hash(value) for value in distinct]
    assert len(set(hashes)) == len(hashes)


def test_content_hash_treats_tuples_as_lists_and_numpy_scalars_as_numbers() -> None:
    assert content_hash((1, 2)) == content_hash([1, 2])
    assert content_hash(np.float64(0.1)) == content_hash(0.1)
    assert content_hash(np.int32(7)) == content_hash(7)
    assert content_hash(np.bool_(True)) == content_hash(True)
    assert content_hash({"s": {3, 1, 2}}) == content_hash({"s": {2, 3, 1}})


def test_content_hash_of_an_array_depends_on_values_dtype_shape_not_byte_order() -> None:
    x = np.linspace(0, 1, 7)
    assert content_hash(x) == content_hash(x.copy())
    assert content_hash(x) == content_hash(x.astype(">f8"))
    assert content_hash(x[::2]) == content_hash(np.ascontiguousarray(x[::2]))
    y = x.copy()
    y[3] += 1e-12
    assert content_hash(x) != content_hash(y)
    assert content_hash(x) != content_hash(x.astype(np.float32))


def test_content_hash_of_a_tensor_matches_its_array_and_handles_bfloat16() -> None:
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert content_hash(t) == content_hash(t.numpy())
    half = t.to(torch.bfloat16)
    assert content_hash(half) == content_hash(half.clone()) != content_hash(t)


def test_content_hash_rejects_what_it_cannot_hash_stably() -> None:
    with pytest.raises(TypeError, match="object"):
        content_hash({"f": object()})
    with pytest.raises(TypeError, match="string dict keys"):
        content_hash({1: "a"})


def test_canonical_json_is_the_hashed_text() -> None:
    assert canonical_json({"b": 0.1, "a": (1, None)}) == '{"a":[1,null],"b":0.1}'


def test_file_hash_reads_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert file_hash(path) == file_hash(path) and len(file_hash(path)) == 20
    path.write_bytes(b"a,b\n1,3\n")
    assert file_hash(path) != content_hash("a,b\n1,2\n")
