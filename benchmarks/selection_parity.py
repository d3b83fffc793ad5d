"""Selection parity with Standley et al. (ICML 2020): reproduce the published network-selection
curves (optimal, HOA, ESA; settings 1 and 2) from the tables in ../shared/data/standley2020.

Prints one JSON line per setting and method (max abs error against the published totals, the
solver's seconds) and writes them all to ``benchmarks/out/selection_parity.json``. Prints one
``"skipped"`` line when the tables are absent. Run: ``python benchmarks/selection_parity.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from taskgroup.runtime.atomic import write_json

NAME = "selection_parity"
TOLERANCE = 1e-4
OUT = Path(__file__).resolve().parent / "out" / f"{NAME}.json"


def tables_folder() -> Path:
    """``$TASKGROUP_SHARED/data/standley2020``, else ``../shared/data/standley2020`` beside the repo."""
    shared = os.environ.get("TASKGROUP_SHARED")
    root = Path(shared) if shared else Path(__file__).resolve().parents[1].parent / "shared"
    return root / "data" / "standley2020"


def run(smoke: bool = False) -> list[dict]:
    """One record per setting and method (``smoke``: setting 1 only)."""
    folder = tables_folder()
    if not (folder / "results.txt").is_file():
        return [{"benchmark": NAME, "skipped": True, "reason": f"Standley et al. tables absent at {folder}"}]
    import scipy

    from taskgroup.grouping.standley import BUDGETS, METHOD_TABLE, PUBLISHED, load_setting, selection_curve

    records = []
    for setting in (1,) if smoke else (1, 2):
        tables = load_setting(folder, setting)
        for method, table in METHOD_TABLE.items():
            start = time.perf_counter()
            curve = selection_curve(tables[table], tables["test"])
            seconds = time.perf_counter() - start
            totals = [round(total, 6) for _, total in curve]
            errors = [abs(a - b) for a, b in zip(totals, PUBLISHED[setting][method])]
            records.append({
                "benchmark": NAME,
                "setting": setting,
                "method": method,
                "budgets": list(BUDGETS),
                "measured": totals,
                "published": list(PUBLISHED[setting][method]),
                "max_abs_error": round(max(errors), 8),
                "within_tolerance": max(errors) <= TOLERANCE,
                "tolerance": TOLERANCE,
                "solver_seconds": round(seconds, 4),
                "solver_seconds_per_budget": round(seconds / len(BUDGETS), 4),
                "statuses": sorted({sel.status for sel, _ in curve}),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "scipy": scipy.__version__,
            })
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="setting 1 only")
    args = parser.parse_args(argv)
    records = run(smoke=args.smoke)
    for record in records:
        print(json.dumps(record), flush=True)
    write_json(OUT, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
