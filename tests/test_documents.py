"""Typed run documents: lossless round trips, and one-line errors naming the file and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from taskgroup.errors import RunDirError
from taskgroup.runtime.documents import AffinityDoc, ComparisonDoc, Document, GroupingsDoc, ModelsIndex, NetworkMeta

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
DOCS: list[type[Document]] = [AffinityDoc, GroupingsDoc, ComparisonDoc]


def _lost(raw: Any, back: Any, path: str = "") -> list[str]:
    """Keys of ``raw`` missing or changed in ``back`` (a document must not drop what a writer put)."""
    if isinstance(raw, dict):
        out = []
        for k, v in raw.items():
            if not isinstance(back, dict) or k not in back:
                out.append(f"{path}.{k}")
            else:
                out += _lost(v, back[k], f"{path}.{k}")
        return out
    if isinstance(raw, list) and isinstance(back, list) and len(raw) == len(back):
        return [x for a, b in zip(raw, back) for x in _lost(a, b, path + "[]")]
    return [] if raw == back else [path]


@pytest.mark.parametrize("cls", DOCS, ids=lambda c: c.FILE)
def test_round_trip_keeps_every_field_of_a_real_run(cls: type[Document]) -> None:
    raw = json.loads((FIXTURE / cls.FILE).read_text())
    doc = cls.load(FIXTURE / cls.FILE)
    assert _lost(raw, doc.to_json()) == []
    assert cls.from_json(doc.to_json()) == doc


def _groupings() -> dict[str, Any]:
    return json.loads((FIXTURE / "groupings.json").read_text())


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["recommended"]["groups"][0].append("ghost"), "recommended.groups[0]: task 'ghost' does not exist"),
    (lambda d: d["recommended"]["groups"].append([]), "is an empty group"),
    (lambda d: d["recommended"]["groups"].pop(), "is in no group"),
    (lambda d: d.pop("recommended"), ""),
    (lambda d: d["recommended"].pop("groups"), "recommended.groups: missing key"),
    (lambda d: d["recommended"].update(groups="a,b"), "recommended.groups: expected a list"),
    (lambda d: d["recommended"].update(predicted="high"), "recommended.predicted: expected a number"),
    (lambda d: d.update(tasks=[]), "tasks: lists no task"),
    (lambda d: d.update(schema=99), "schema 99"),
])
def test_bad_groupings_are_one_line_errors(tmp_path: Path, edit, message: str) -> None:
    doc = _groupings()
    edit(doc)
    path = tmp_path / "groupings.json"
    path.write_text(json.dumps(doc))
    if not message:  # a missing optional section falls back to its default, which is then invalid
        message = "recommended.groups: has no group"
    with pytest.raises(RunDirError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        GroupingsDoc.load(path)
    assert "\n" not in str(err.value) and "groupings.json" in str(err.value)


def test_comparison_needs_a_recommended_alternative_and_every_task() -> None:
    raw = json.loads((FIXTURE / "comparison.json").read_text())
    no_rec = {**raw, "alternatives": [a for a in raw["alternatives"] if a["name"] != "recommended"]}
    with pytest.raises(RunDirError, match="no alternative named 'recommended'"):
        ComparisonDoc.from_json(no_rec)
    first = dict(raw["alternatives"][0])
    first["per_task"] = dict(list(first["per_task"].items())[1:])
    with pytest.raises(RunDirError, match=r"alternatives\[0\]\.per_task: task .* is missing"):
        ComparisonDoc.from_json({**raw, "alternatives": [first, *raw["alternatives"][1:]]})
    assert ComparisonDoc.from_json(raw).recommended.name == "recommended"


def test_non_finite_numbers_are_refused() -> None:
    raw = json.loads((FIXTURE / "affinity.json").read_text())
    text = json.dumps(raw).replace('"snr": ', '"snr": NaN, "x": ', 1)
    with pytest.raises(RunDirError, match=r"snr: expected a finite number"):
        AffinityDoc.from_json(json.loads(text))


def test_models_index_routes_must_exist(tmp_path: Path) -> None:
    index = {"schema": 1, "tasks": ["a", "b"], "routes": {"a": 0, "b": 3}, "networks": 2, "feature_names": ["x"]}
    with pytest.raises(RunDirError, match=r"routes\.b: network 3 does not exist"):
        ModelsIndex.from_json(index)
    with pytest.raises(RunDirError, match=r"input_shape"):
        NetworkMeta.from_json({"tasks": [{"name": "a", "kind": "binary"}], "input_shape": [0]})


def test_a_file_that_is_a_folder_or_missing_names_the_step(tmp_path: Path) -> None:
    (tmp_path / "comparison.json").mkdir()
    with pytest.raises(RunDirError, match="is a folder"):
        ComparisonDoc.load(tmp_path / "comparison.json")
    with pytest.raises(RunDirError, match="run 'taskgroup group' before 'compare'"):
        GroupingsDoc.load(tmp_path / "groupings.json", needed_by="compare")


def test_previous_version_run_directory_still_reports(tmp_path: Path) -> None:
    """The committed fixture was written by the previous version (no manifest): it still renders."""
    from taskgroup.reporting import render_report

    run = tmp_path / "old"
    shutil.copytree(FIXTURE, run)
    assert render_report(run)["html"].is_file()
