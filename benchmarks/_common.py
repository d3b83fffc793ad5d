"""Shared helpers of the benchmarks: threads and machine facts, data, timing, memory, statistics."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from taskgroup.affinity.matrix import spearman_offdiag  # noqa: F401 - re-used by the benchmarks

ROOT = Path(__file__).resolve().parent


DEFAULT_THREADS = 1
"""Torch threads per benchmark process unless ``--threads`` says otherwise. One, as ``taskgroup``'s own
units run: on a 2-core machine shared with other work, two threads made the 10-task joint run 18x
slower (1.7 s vs 30 s, measured back to back), so two-thread timings there measure the scheduler."""


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads explicitly (default :data:`DEFAULT_THREADS`); return the count."""
    import torch

    n = threads or DEFAULT_THREADS
    torch.set_num_threads(n)
    return torch.get_num_threads()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Cores, threads, versions and the load at the time of the call (the machine may be shared)."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cores": usable_cores(), "cpu": cpu_model(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_1m": round(load[0], 2)}


def emit(record: dict[str, Any]) -> None:
    """One JSON object on one line of stdout (NaN and infinities written as null)."""
    print(json.dumps(_clean(record), sort_keys=False), flush=True)


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="a seconds-long version with tiny sizes")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default: {DEFAULT_THREADS})")
    return p


def load(builtin: str, options: dict[str, Any] | None = None, seed: int = 0,
         tasks: Sequence[str] | None = None):
    """A task set exactly as ``taskgroup`` builds it from a configuration (splits, standardisation)."""
    from taskgroup.config import Config, DataConfig, TaskConfig
    from taskgroup.data import load_taskset

    cfg = Config(data=DataConfig(builtin=builtin, options=dict(options or {})),
                 tasks=[TaskConfig(name=t) for t in tasks or []], seed=seed)
    return load_taskset(cfg)


def run_config(builtin: str, options: dict[str, Any] | None = None, seed: int = 0,
               tasks: Sequence[str] | None = None, **sections: dict[str, Any]):
    """A validated :class:`Config` for a built-in data set; ``sections`` override ``[analyze]`` etc."""
    from taskgroup.config import config_from_dict

    raw: dict[str, Any] = {"data": {"builtin": builtin, "options": dict(options or {})}, "seed": seed}
    if tasks:
        raw["tasks"] = [{"name": t} for t in tasks]
    raw.update({k: v for k, v in sections.items() if v})
    return config_from_dict(raw, source="<benchmark>")


def shared_missing(*relative: str) -> str | None:
    """Why a row that needs ``../shared/data`` cannot run here, or None when its files are present."""
    from taskgroup.data import shared_root

    root = shared_root() / "data"
    for rel in relative:
        if not (root / rel).exists():
            return f"{root / rel} not found (set TASKGROUP_SHARED to the folder that holds data/)"
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``resource.getrusage``)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2 ** 20


def rss_mb() -> float:
    """Current resident memory in MiB (Linux; falls back to the peak elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


class Timer:
    """``with Timer() as t: ...``; then ``t.seconds``."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def growth_exponent(ns: Sequence[float], seconds: Sequence[float]) -> float:
    """Slope b of log(seconds) = a + b log(N), least squares (the empirical growth rate)."""
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(seconds, float))
    if len(x) < 2 or not np.all(np.isfinite(y)):
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def within_minus_across(matrix: Any, names: Sequence[str], labels: dict[str, str]) -> float:
    """Mean within-cluster off-diagonal affinity minus mean across-cluster affinity."""
    m = np.asarray(matrix, float)
    within, across = [], []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                (within if labels[a] == labels[b] else across).append(m[i, j])
    if not within or not across:
        return float("nan")
    return float(np.mean(within) - np.mean(across))


def grouping_api() -> tuple[Any, str | None]:
    """``taskgroup.grouping.group`` if the grouping step is importable, else (None, why not)."""
    try:
        from taskgroup.grouping import group
    except ImportError as exc:
        return None, f"taskgroup.grouping.group is not available ({exc})"
    return group, None


def recommend(affinity: dict[str, Any], measure: str, max_groups: int | None,
              partition: bool = True) -> list[list[str]]:
    """The grouping ``taskgroup group`` recommends from one measure of an affinity document."""
    group, why = grouping_api()
    if group is None:
        raise RuntimeError(why)
    doc = group(affinity, max_groups=max_groups, budget=None, partition=partition, measure=measure)
    return [list(g) for g in doc["recommended"]["groups"]]


def adjusted_rand(groups: Iterable[Iterable[str]], labels: dict[str, str]) -> float:
    """Adjusted Rand index of a grouping against true cluster labels (tasks in neither are ignored)."""
    from sklearn.metrics import adjusted_rand_score

    found = {t: k for k, g in enumerate(groups) for t in g}
    names = [t for t in labels if t in found]
    return float(adjusted_rand_score([labels[t] for t in names], [found[t] for t in names]))


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that parses as a JSON object."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def run_module(module: str, args: Sequence[str] = (), timeout: float | None = None,
               log: Path | None = None) -> tuple[int, list[dict[str, Any]], float]:
    """Run ``python -m MODULE ARGS`` from the repository root; return (exit code, JSON lines, seconds).

    Each benchmark runs in its own process so that its peak memory is its own and a failure in one
    does not stop the suite. stderr goes to ``log`` when given.
    """
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT.parent, capture_output=True,
                              text=True, timeout=timeout, env=env)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = 124
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")) + \
            f"\ntimed out after {timeout} s"
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ python -m {module} {' '.join(args)}\n--- stdout\n{out}\n--- stderr\n{err}\n")
    return code, json_lines(out), time.perf_counter() - start


def warm_up(taskset: Any) -> None:
    """Run every code path once on a few steps, untimed, so that no timing pays first-call costs
    (lazy initialisation, allocator growth, vmap set-up)."""
    import itertools
    from dataclasses import replace

    from taskgroup.affinity.joint import joint_run
    from taskgroup.affinity.probes import ProbeSpec, train_probes
    from taskgroup.config import AnalyzeConfig, ModelConfig

    names = taskset.task_names
    cfg = replace(AnalyzeConfig(), steps=12, every=3, window=2, probe_steps=6, probe_eval_every=3)
    model = ModelConfig()
    for measures in ((), ("gradient_cosine", "lookahead")):
        joint_run(taskset, names, cfg, model, measures=measures, keep_records=False)
    specs = [ProbeSpec((names[0],), 0)] + [ProbeSpec(p, 0) for p in itertools.islice(itertools.combinations(names, 2), 3)]
    train_probes(taskset, specs, cfg, model, batched=True)
    train_probes(taskset, specs[:2], cfg, model, batched=False)
