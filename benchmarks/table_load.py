"""Load time of a large table with and without pyarrow (issue 15, item 9).

Writes a table of ``--rows`` rows (default 1,000,000) and 25 columns (20 features, 5 regression
targets with some empty cells) to a temporary CSV, then loads it with ``taskgroup``'s table reader
twice: the standard-library reader (``reader="plain"``) and the pyarrow fast path
(``reader="arrow"``, skipped with a reason when pyarrow is absent), and also from Parquet.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import base_parser, emit, machine


def _write(path: Path, rows: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 20)).round(5)
    Y = (X[:, :5] * 0.5 + rng.normal(size=(rows, 5)) * 0.1).round(5)
    names = [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(5)]
    with path.open("w") as fh:
        fh.write(",".join(names) + "\n")
        for start in range(0, rows, 100_000):
            block = np.hstack([X[start:start + 100_000], Y[start:start + 100_000]])
            lines = [",".join(f"{v:g}" for v in r) for r in block]
            for i in range(0, len(lines), 97):  # a few unlabelled cells per target
                parts = lines[i].split(",")
                parts[20 + i % 5] = ""
                lines[i] = ",".join(parts)
            fh.write("\n".join(lines) + "\n")
    return [f"y{i}" for i in range(5)]


def main() -> None:
    from taskgroup.data import arrow
    from taskgroup.data.table import load_table

    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args()
    rows = 2_000 if args.smoke else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        tasks = _write(path, rows)
        rec: dict[str, Any] = {"benchmark": "table_load", "rows": rows, "columns": 25,
                               "csv_mib": path.stat().st_size / 2 ** 20}
        start = time.perf_counter()
        plain = load_table(path, tasks, reader="plain")
        rec["plain_s"] = time.perf_counter() - start
        if not arrow.available():
            rec.update({"arrow_skipped": True, "reason": "pyarrow is not installed (pip install 'taskgroup-mtl[arrow]')"})
        else:
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            start = time.perf_counter()
            fast = load_table(path, tasks, reader="arrow")
            rec["arrow_s"] = time.perf_counter() - start
            rec["same_inputs"] = bool(np.array_equal(plain.inputs, fast.inputs))
            rec["same_targets"] = all(np.array_equal(plain.masks[t], fast.masks[t]) and np.array_equal(
                plain.targets[t][plain.masks[t]], fast.targets[t][fast.masks[t]]) for t in tasks)
            pq.write_table(pcsv.read_csv(path), Path(tmp) / "big.parquet")
            start = time.perf_counter()
            from_parquet = load_table(Path(tmp) / "big.parquet", tasks)
            rec["parquet_s"] = time.perf_counter() - start
            rec["parquet_same_inputs"] = bool(np.array_equal(plain.inputs, from_parquet.inputs))
            rec["ratio"] = rec["plain_s"] / rec["arrow_s"]
    emit({**rec, **machine()})


if __name__ == "__main__":
    main()
