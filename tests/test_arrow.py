"""The pyarrow fast path for tables (extra ``taskgroup-mtl[arrow]``): the plain reader's results and messages,
Parquet, and the plain reader wherever pyarrow is absent."""

from __future__ import annotations

import numpy as np
import pytest

from taskgroup.data import arrow, table
from taskgroup.data.table import load_table, read_features
from taskgroup.errors import DataError

HAS_ARROW = arrow.available()
needs_arrow = pytest.mark.skipif(not HAS_ARROW, reason="pyarrow is not installed (pip install 'taskgroup-mtl[arrow]')")

CSV = ("subject,x1,x2,y,label,part,note\n" + "".join(
    f"s{i % 12},{0.5 * i - 3:g},{(i * 7) % 11 / 4:g},{'' if i % 9 == 0 else ('NA' if i % 13 == 0 else f'{i * 0.37:.3f}')},"
    f"{'?' if i % 10 == 0 else 'ab'[i % 2]},{['train', 'val', 'test', 'validation'][i % 4]},"
    f"\"a, {i}\"\n" for i in range(1, 121)))


def _same(a, b) -> None:
    assert a.task_names == b.task_names and a.feature_names == b.feature_names
    assert a.inputs.dtype == b.inputs.dtype and np.array_equal(a.inputs, b.inputs)
    for t in a.task_names:
        assert a.task(t) == b.task(t)
        assert np.array_equal(a.masks[t], b.masks[t])
        ya, yb = np.asarray(a.targets[t]), np.asarray(b.targets[t])
        assert ya.dtype == yb.dtype
        assert np.array_equal(ya[a.masks[t]], yb[b.masks[t]])
    assert sorted(a.splits) == sorted(b.splits) and all(np.array_equal(a.splits[t], b.splits[t]) for t in a.splits)
    for attr in ("groups", "given_split"):
        ga, gb = getattr(a, attr), getattr(b, attr)
        assert (ga is None and gb is None) or np.array_equal(ga, gb)
    assert a.meta == b.meta


TABLES = {
    "comma, header, groups, split column, missing labels, quoted cells": (CSV, "t.csv", dict(
        tasks=["y", "label", {"name": "twice", "expression": "x2 * 2"}], groups="subject", split_column="part",
        features=["x1"])),
    "semicolon, CRLF, byte-order mark": ("\ufeff" + CSV.replace(",", ";").replace("\n", "\r\n").replace('"a; ', '"a, '),
                                          "t.txt", dict(tasks=["y", "label"], features=["x1", "x2"])),
    "tab, no header": ("".join(f"{i * 0.1:g}\t{i % 5}\t{i * i % 7}\n" for i in range(60)), "t.tsv",
                       dict(tasks=[{"name": "c3", "column": "column3"}])),
    "every other column a feature; an id column repeated": (
        "subject_id,a,b,y\n" + "".join(f"{i % 11},{i},{i * 0.5:g},{i % 3}\n" for i in range(80)), "t.csv",
        dict(tasks=["y"])),
}


@needs_arrow
@pytest.mark.parametrize("case", sorted(TABLES))
def test_arrow_and_plain_readers_build_the_same_task_set(tmp_path, case, monkeypatch):
    text, name, kwargs = TABLES[case]
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    kwargs = dict(kwargs)
    tasks = kwargs.pop("tasks")
    plain_reads = []

    class Counted(table.TextColumns):
        def __init__(self, *a) -> None:
            plain_reads.append(a)
            super().__init__(*a)

    monkeypatch.setattr(table, "TextColumns", Counted)
    fast = load_table(path, tasks, reader="arrow", **kwargs)
    assert not plain_reads                                   # the fast path read it, no fallback
    plain = load_table(path, tasks, reader="plain", **kwargs)
    assert len(plain_reads) == 1
    _same(fast, plain)


@needs_arrow
@pytest.mark.parametrize("text", [
    "x1,y\n1,2\n\n,3\n",                       # an empty feature cell after a blank line
    "x1,y\n1,2\nabc,3\n",
    "x1,y\n1,2\ninf,3\n",
    "x1,y\n1,2\n1e39,3\n",
    "x1,y\n1,2\n3,4,5\n",
    "x1,y\n",
    "x1,x1,y\n1,2,3\n",
    "x1,y\n1_0,2\n2,3\n4,x\n5,6\n",              # Python reads 1_0; pyarrow does not
])
def test_the_fast_path_gives_the_plain_readers_result_or_message(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    outcomes = []
    for reader in ("arrow", "plain"):
        try:
            ts = load_table(path, ["y"], reader=reader)
            outcomes.append(("ok", ts.inputs.tolist(), [str(v) for v in ts.targets["y"]]))
        except DataError as exc:
            assert "\n" not in str(exc)
            outcomes.append(("error", str(exc)))
    assert outcomes[0] == outcomes[1]
    assert read_features(path, ["x1"], reader="arrow").tolist() == read_features(path, ["x1"], reader="plain").tolist() \
        if outcomes[1][0] == "ok" else True


@needs_arrow
def test_parquet_reads_like_the_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    y = np.where(np.arange(50) % 7 == 0, np.nan, rng.normal(size=50))
    label = [None if i % 5 == 0 else "ab"[i % 2] for i in range(50)]
    pq.write_table(pa.table({"x1": x[:, 0], "x2": x[:, 1], "y": y, "label": label}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("x1,x2,y,label\n" + "".join(
        f"{a!r},{b!r},{'' if np.isnan(c) else repr(c)},{d or ''}\n"
        for a, b, c, d in zip(x[:, 0].tolist(), x[:, 1].tolist(), y.tolist(), label)))
    pq_ts = load_table(tmp_path / "t.parquet", ["y", "label"])
    csv_ts = load_table(tmp_path / "t.csv", ["y", "label"], reader="plain")
    assert np.array_equal(pq_ts.inputs, csv_ts.inputs)
    for t in ("y", "label"):
        assert np.array_equal(pq_ts.masks[t], csv_ts.masks[t]) and pq_ts.task(t) == csv_ts.task(t)
    assert pq_ts.meta["table_format"]["described"] == "Parquet"
    pq.write_table(pa.table({"x1": [1.0, None], "y": [1.0, 2.0]}), tmp_path / "holes.parquet")
    with pytest.raises(DataError, match="feature column 'x1', row 2: empty cell"):
        load_table(tmp_path / "holes.parquet", ["y"])


def test_without_pyarrow_the_plain_reader_is_used_and_parquet_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(arrow, "available", lambda: False)
    path = tmp_path / "t.csv"
    path.write_text(CSV)
    assert isinstance(table.open_columns(path), table.TextColumns)
    assert isinstance(table.open_columns(path, "auto"), table.TextColumns)
    ts = load_table(path, ["y"], features=["x1", "x2"])
    assert ts.meta["table_format"]["delimiter"] == ","
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"reading Parquet needs pyarrow: pip install 'taskgroup-mtl\[arrow\]'") as info:
        load_table(tmp_path / "t.parquet", ["y"])
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="the arrow reader needs pyarrow"):
        load_table(path, ["y"], reader="arrow")
