"""``taskgroup plan``: the units each step will run and an estimate of their time, before any training.

The estimate comes from a few timed steps on this machine, on the run's own data, device and
settings: a short joint run with and without measurement, one chunk of probes, and a short
training of each kind of compare network (a stack per stack shape, one network per kind that
trains alone). Per-step times are scaled to the configured step counts; early stopping can only
shorten probes and networks, so those parts are upper bounds. Compare's networks depend on the
grouping that analysis will recommend: the plan assumes ``--max-groups`` groups (else about
sqrt(N)) of equal size and :data:`ASSUMED_CANDIDATES` candidate groupings of the same shape.

Each run also pays fixed costs that no unit shows, and the plan counts them from measurements
in its own process: starting the process and importing (``startup_seconds``: how long the calling
process took to reach the plan, from ``process_age``), reading the data once per step
(:data:`DATA_LOADS` reads of ``load_seconds``), importing the grouping and report modules, and the
plan's own timed steps (``taskgroup run`` makes its plan before starting).
"""

from __future__ import annotations

import importlib
import math
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .config import Config
from .scaling import MAX_CANDIDATES, Scaled, analyze_measures, scaled
from .tasks import TaskSet

ASSUMED_CANDIDATES = MAX_CANDIDATES
#: times ``taskgroup run`` reads the data after its plan: the run itself, analyze, group and compare
DATA_LOADS = 4
#: modules the later steps import (grouping, report) whose import time the plan measures
LATER_MODULES = ("taskgroup.grouping.proposals", "taskgroup.reporting", "taskgroup.comparison.deliver")
#: steps timed per kind of unit
TIMED_STEPS = 20


@dataclass(frozen=True)
class StepPlan:
    """One step's units (count per kind) and their estimated seconds."""

    step: str
    units: dict[str, int]
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """What a run will do for ``tasks`` tasks, step by step, with the defaults this N switches."""

    tasks: int
    scaled: Scaled
    steps: list[StepPlan]
    device: str
    assumptions: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def lines(self) -> list[str]:
        """The plan as ``taskgroup plan`` prints it."""
        out = [f"{self.tasks} tasks on {self.device}; estimated {_duration(self.seconds)} in all"]
        for s in self.steps:
            units = ", ".join(f"{n} {k}" for k, n in s.units.items() if n) or ("outside the units" if s.step == "fixed"
                                                                                else "nothing to train")
            out.append(f"  {s.step:<8} {units}: ~{_duration(s.seconds)}" + (f" ({s.detail})" if s.detail else ""))
        out += ["defaults for this N:"] + [f"  {n}" for n in self.scaled.notes()]
        out += ["assumptions:"] + [f"  {a}" for a in self.assumptions]
        return out

    def one_line(self) -> str:
        """The plan in one line, as ``taskgroup run`` prints it before starting."""
        parts = [f"{s.step} " + "+".join(f"{n} {k}" for k, n in s.units.items() if n) + f" ~{_duration(s.seconds)}"
                 for s in self.steps if any(s.units.values())]
        parts += [f"fixed costs ~{_duration(s.seconds)}" for s in self.steps if s.step == "fixed"]
        return (f"plan: {self.tasks} tasks on {self.device}, ~{_duration(self.seconds)}: " + "; ".join(parts)
                + f" ({'bounded defaults, N > 30' if self.scaled.large else 'full defaults'})")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def assumed_groupings(names: list[str], groups: int) -> Any:
    """A recommended grouping of ``groups`` equal groups, and candidates of the same shape."""
    k = max(1, min(groups, len(names)))
    rec = [names[i::k] for i in range(k)]
    cands = [{"groups": [(names[shift:] + names[:shift])[i::k] for i in range(k)], "method": "assumed"}
             for shift in range(1, ASSUMED_CANDIDATES + 1)]
    from .runtime.documents import GroupingsDoc

    return GroupingsDoc.from_json({"tasks": list(names), "recommended": {"groups": rec, "method": "assumed"},
                                   "candidates": cands}, "<plan>")


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _joint_estimate(cfg: Config, taskset: TaskSet, measures: list[str], device: Any) -> tuple[float, float]:
    """Seconds of one joint run: a measured period and a plain one, timed and scaled to the schedule."""
    from .affinity.joint import joint_run

    names = taskset.task_names
    a = cfg.analyze
    period = max(a.every, 1)
    steps = max(TIMED_STEPS, 2 * period)
    short = replace(a, steps=steps, phase=1.0)
    wanted = tuple(m for m in measures if m in ("gradient_cosine", "lookahead"))
    # a first short run pays the one-time costs (lazy initialisation, first calls) outside the timing
    joint_run(taskset, names, replace(short, steps=period), cfg.model, seed=cfg.seed, measures=wanted,
              keep_records=False, device=device)
    measured = _timed(lambda: joint_run(taskset, names, short, cfg.model, seed=cfg.seed, measures=wanted,
                                        keep_records=False, device=device)) / steps
    plain = _timed(lambda: joint_run(taskset, names, short, cfg.model, seed=cfg.seed, measures=(),
                                     keep_records=False, device=device)) / steps
    total = a.steps * (a.phase * measured + (1 - a.phase) * plain)
    return total, measured / plain


def _probe_estimate(cfg: Config, taskset: TaskSet, n_probes: int, device: Any) -> float:
    from .affinity.probes import ProbeSpec, train_probes

    if n_probes == 0:
        return 0.0
    names = taskset.task_names
    pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))][:64]
    specs = [ProbeSpec(p, cfg.seed) for p in pairs] or [ProbeSpec((names[0],), cfg.seed)]
    short = replace(cfg.analyze, probe_steps=TIMED_STEPS, probe_patience=TIMED_STEPS)
    per_probe_step = _timed(lambda: train_probes(taskset, specs, short, cfg.model, device=device)) / (
        len(specs) * TIMED_STEPS)
    return n_probes * cfg.analyze.probe_steps * per_probe_step


def _compare_estimate(cfg: Config, taskset: TaskSet, groups: int, device: Any) -> tuple[dict[str, int], float]:
    from .comparison.compare import plan as compare_plan
    from .comparison.stacked import plan_stacks
    from .training.stacked import StackMember, train_stacked
    from .training.trainer import train_network

    _alts, specs, _seeds = compare_plan(cfg, taskset, assumed_groupings(taskset.task_names, groups), None)
    stacks = plan_stacks(specs, taskset, cfg)
    short = replace(cfg.train, steps=TIMED_STEPS, eval_every=TIMED_STEPS, patience=TIMED_STEPS)
    seconds, timed = 0.0, {}
    for idx in stacks:
        sp = specs[idx[0]]
        if len(idx) > 1:
            key: tuple = ("stack", len(sp.tasks), sp.width, len(idx))
            if key not in timed:
                members = [StackMember(specs[i].tasks, specs[i].seed, specs[i].width) for i in idx]
                timed[key] = _timed(lambda: train_stacked(taskset, members, short, cfg.model, device=device))
        else:
            key = ("alone", len(sp.tasks), sp.sharing, sp.weighting, sp.width)
            if key not in timed:
                timed[key] = _timed(lambda: train_network(taskset, list(sp.tasks), short, cfg.model, seed=sp.seed,
                                                          width=sp.width, sharing=sp.sharing,
                                                          weighting=sp.weighting, device=device))
        seconds += timed[key] * cfg.train.steps / TIMED_STEPS
    units = {"networks": len(specs), "stacks": sum(1 for g in stacks if len(g) > 1),
             "alone": sum(1 for g in stacks if len(g) == 1)}
    return units, seconds


def process_age() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 where that cannot be read)."""
    import os

    try:
        with open("/proc/self/stat") as fh:
            start_ticks = float(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _import_seconds(modules: tuple[str, ...]) -> float:
    """Seconds to import those of ``modules`` this process has not imported yet."""
    missing = [m for m in modules if m not in sys.modules]
    return _timed(lambda: [importlib.import_module(m) for m in missing]) if missing else 0.0


def make_plan(cfg: Config, taskset: TaskSet, max_groups: int | None = None, budget: float | None = None,
              device: str | None = None, load_seconds: float = 0.0, startup_seconds: float = 0.0) -> Plan:
    """The plan of ``taskgroup run`` for ``cfg`` on ``taskset``: units per step, their time, the defaults.

    ``load_seconds``: one read of the data; ``startup_seconds``: the calling process's start and
    imports (the command line passes both; see the module docstring for the fixed costs).
    """
    from .affinity.analyze import plan_units
    from .runtime.device import choose_device, device_label, resolve_device

    begin = time.perf_counter()

    names = taskset.task_names
    n = len(names)
    dev = resolve_device(choose_device(device or "auto", cfg.train.device))
    sc = scaled(cfg, n)
    measures = analyze_measures(cfg, n, cfg.analyze.measures)
    units = plan_units(cfg, taskset, measures, cfg.analyze.exhaustive)
    joints = sum(1 for u in units if u.kind == "joint")
    stability = cfg.analyze.stability_runs if joints else 0  # plan_units counts them among the joint runs
    probe_units = [u for u in units if u.kind == "probes"]
    n_probes = sum(len(u.args["specs"]) for u in probe_units)
    steps: list[StepPlan] = []
    joint_s, overhead = _joint_estimate(cfg, taskset, measures, dev) if joints else (0.0, 1.0)
    probes_s = _probe_estimate(cfg, taskset, n_probes, dev)
    steps.append(StepPlan("analyze", {"joint runs": joints, "probes": n_probes},
                          joint_s * joints + probes_s,
                          f"joint run ~{_duration(joint_s)}, measuring costs {overhead:.2f}x plain steps"
                          + (f"; probes ~{_duration(probes_s)} (upper bound)" if n_probes else "")))
    groups = max_groups or cfg.group.max_groups or int(round(budget or 0)) or max(2, round(math.sqrt(n)))
    compare_units, compare_s = _compare_estimate(cfg, taskset, groups, dev)
    steps.append(StepPlan("compare", compare_units, compare_s, "upper bound: every network runs all its steps"))
    imports = _import_seconds(LATER_MODULES)
    planning = time.perf_counter() - begin
    fixed = startup_seconds + DATA_LOADS * load_seconds + imports + planning
    steps.append(StepPlan("fixed", {}, fixed, f"start and imports ~{_duration(startup_seconds + imports)}, "
                          f"{DATA_LOADS} data reads ~{_duration(DATA_LOADS * load_seconds)}, "
                          f"the plan's timed steps ~{_duration(planning)}"))
    assumptions = [f"compare: the recommended grouping has {groups} equal groups and {ASSUMED_CANDIDATES} candidate "
                   "groupings of that shape are trained",
                   f"times from {TIMED_STEPS} timed steps per kind of unit, inline, one torch thread"]
    if stability:
        assumptions.append(f"analyze: {stability} extra joint runs for stability (analyze.stability_runs)")
    return Plan(tasks=n, scaled=sc, steps=steps, device=device_label(dev), assumptions=assumptions)
