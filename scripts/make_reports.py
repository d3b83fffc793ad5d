"""Regenerate the example reports in reports/ (``make reports``).

Runs the whole pipeline on the built-in synthetic and digits sets and, when the shared data folder is
present, on Landmine and SARCOS; copies each run's report, figures and JSON files into
``reports/<name>/``. Usage: ``python scripts/make_reports.py [NAME ...] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from taskgroup.config import AnalyzeConfig, CompareConfig, Config, DataConfig, ModelConfig, TrainConfig
from taskgroup.data import shared_root
from taskgroup.demo import demo_config
from taskgroup.pipeline import run
from taskgroup.runtime.execution import Execution
from taskgroup.runtime.progress import ProgressBar

ROOT = Path(__file__).resolve().parents[1]
KEEP = ("report.html", "report.md", "affinity.json", "groupings.json", "comparison.json", "config.toml")


def _real(builtin: str, seeds: int = 2) -> Config:
    return Config(data=DataConfig(builtin=builtin), model=ModelConfig(hidden=[64, 64]),
                  train=TrainConfig(steps=1000, eval_every=50, patience=6), analyze=AnalyzeConfig(),
                  compare=CompareConfig(seeds=seeds, random_groupings=2,
                                        alternatives=["recommended", "single_task", "all_in_one", "soft_sharing",
                                                      "random"]),
                  source=f"<example {builtin}>")


def configs() -> dict[str, Config]:
    out = {"synthetic": demo_config("synthetic"), "digits": demo_config("digits")}
    if (shared_root() / "data").is_dir():
        out["landmine"] = _real("landmine")
        out["sarcos"] = _real("sarcos")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="which reports (default: all available)")
    parser.add_argument("--work", default=None, help="run directories go here (default: a temporary folder)")
    args = parser.parse_args(argv)
    available = configs()
    names = args.names or list(available)
    work = Path(args.work or tempfile.mkdtemp(prefix="taskgroup-reports-"))
    for name in names:
        if name not in available:
            print(f"skipping {name}: not available here", file=sys.stderr)
            continue
        run_dir = work / name
        run(available[name], run_dir,
            execution=Execution(progress=lambda label, n=name: ProgressBar(f"{n} {label}")))
        dest = ROOT / "reports" / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in KEEP:
            shutil.copy2(run_dir / f, dest / f)
        shutil.copytree(run_dir / "figures", dest / "figures")
        print(f"{name}: {dest / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
