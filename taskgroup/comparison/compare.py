"""The compare step: train the proposed groupings and the alternatives, measure them, give a verdict.

Every network (task subset, sharing, weighting, width, seed) is one resumable unit; a network used
by several groupings is trained once. Per task, a grouping is judged by the network that serves the
task. Validation rows are cut into three parts (:mod:`..training.valparts`): checkpoints are chosen
on one, groupings on another (``delta_m_select``), and the decision's effect is estimated on the
third (``delta_m_estimate``, :mod:`.statistics`); test metrics are only reported.

Delta_m (Maninis et al., CVPR 2019) of an alternative against the single-task networks is the mean
over tasks of each task's relative change (:mod:`taskgroup.delta`: RMSE for regression, distance
from chance for bounded metrics, degenerate baselines left out and named), computed per seed
against the single-task networks of the same seed.
"""

from __future__ import annotations

import io
import itertools
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..affinity.analyze import data_record
from ..config import Config, ModelConfig, TrainConfig
from ..grouping.graph import canonical
from ..delta import Reference, compared_value, delta_m, references, relative_change
from ..runtime.execution import INLINE, Execution
from ..runtime.executors import Unit, run_units
from ..runtime.hashing import content_hash
from ..runtime.progress import ProgressFn
from ..runtime.store import RunStore
from ..tasks import TaskSet
from .statistics import PartRows, RowEvidence
from .verdict import verdict

Groups = list[list[str]]


@dataclass(frozen=True)
class NetworkSpec:
    """One network to train: its tasks and how."""

    tasks: tuple[str, ...]
    seed: int
    sharing: str = "hard"          # hard | soft
    weighting: str = "equal"
    width: float = 1.0


def network_unit(args: dict[str, Any]) -> dict[str, Any]:
    """Unit function: train one network, return its record and its state dict as a blob."""
    import torch

    from ..training.trainer import train_network

    spec = args["spec"]
    result, state = train_network(args["taskset"], list(spec["tasks"]), TrainConfig(**args["train"]),
                                  ModelConfig(**args["model"]), seed=spec["seed"], width=spec["width"],
                                  sharing=spec["sharing"], weighting=spec["weighting"])
    buf = io.BytesIO()
    torch.save(state, buf)
    out = result.to_dict()
    out.pop("history", None)
    out["history"] = result.history[-1:] if result.history else []
    out["spec"] = spec
    out["blob"] = buf.getvalue()
    return out


def network_key(taskset_fp: str, spec: NetworkSpec, cfg: Config) -> str:
    return content_hash({"kind": "network", "records": 2, "v": "valparts-1", "data": taskset_fp, "spec": asdict(spec),
                         "train": asdict(cfg.train), "model": asdict(cfg.model)})


def _canon(groups: Groups, order: list[str]) -> Groups:
    """:func:`~taskgroup.grouping.graph.canonical` groups as lists (the form the documents hold)."""
    return [list(g) for g in canonical(groups, order)]


def random_groupings(names: list[str], k: int, draws: int, seed: int) -> list[Groups]:
    """``draws`` distinct random partitions of ``names`` into ``k`` non-empty groups (seeded)."""
    rng = random.Random(seed)
    out: list[Groups] = []
    k = max(1, min(k, len(names)))
    for _ in range(draws * 20):
        if len(out) == draws:
            break
        shuffled = names[:]
        rng.shuffle(shuffled)
        labels = list(range(k)) + [rng.randrange(k) for _ in range(len(names) - k)]
        rng.shuffle(labels)
        groups = _canon([[n for n, lab in zip(shuffled, labels) if lab == g] for g in range(k)], names)
        if groups not in out:
            out.append(groups)
    return out


def alternatives_for(groupings: dict[str, Any], names: list[str], cfg: Config) -> list[dict[str, Any]]:
    """Every alternative to train: name, groups, and how its networks are trained."""
    alts: list[dict[str, Any]] = []
    wanted = set(cfg.compare.alternatives)
    rec = _canon(groupings["recommended"]["groups"], names)
    alts.append({"name": "recommended", "groups": rec, "method": groupings["recommended"].get("method", "")})
    # single-task networks are the baseline of every Delta_m and of the decision: always trained
    alts.append({"name": "single_task", "groups": [[n] for n in names]})
    if "single_task" in wanted:
        if cfg.group.budget is not None:
            alts.append({"name": "single_task_half", "groups": [[n] for n in names], "width": 0.5})
    if "all_in_one" in wanted:
        alts.append({"name": "all_in_one", "groups": [list(names)]})
        alts.append({"name": "all_in_one_uncertainty", "groups": [list(names)], "weighting": "uncertainty"})
        alts.append({"name": "all_in_one_gradnorm", "groups": [list(names)], "weighting": "gradnorm"})
    if "soft_sharing" in wanted:
        alts.append({"name": "soft_sharing", "groups": [list(names)], "sharing": "soft"})
    if "candidates" in wanted:
        # a candidate equal to an alternative already listed (plain hard sharing) is not listed twice
        seen = {content_hash(a["groups"]) for a in alts if not ({"sharing", "weighting", "width"} & set(a))}
        for c in groupings.get("candidates", []):
            g = _canon(c["groups"], names)
            h = content_hash(g)
            if h in seen:
                continue
            seen.add(h)
            label = c.get("name") or f"{c.get('method', 'candidate')}-k{len(g)}"
            alts.append({"name": label, "groups": g, "method": c.get("method", "")})
    if "random" in wanted and cfg.compare.random_groupings > 0:
        for i, g in enumerate(random_groupings(names, len(rec), cfg.compare.random_groupings, cfg.seed + 101)):
            alts.append({"name": f"random-{i + 1}", "groups": g, "family": "random"})
    return alts


def _specs(alt: dict[str, Any], seeds: list[int]) -> list[NetworkSpec]:
    return [NetworkSpec(tuple(g), s, alt.get("sharing", "hard"), alt.get("weighting", "equal"), alt.get("width", 1.0))
            for s in seeds for g in alt["groups"]]


def _network_lookup(results: dict[NetworkSpec, dict[str, Any]], alt: dict[str, Any], seed: int,
                    names: list[str]) -> dict[str, dict[str, Any]]:
    """For each task, the record of the network that serves it (best on the select part if several)."""
    serving: dict[str, dict[str, Any]] = {}
    for spec in _specs(alt, [seed]):
        rec = results[spec]
        for t in spec.tasks:
            cur = serving.get(t)
            if cur is None or _better(rec["parts"]["select"][t], cur["parts"]["select"][t], rec["_lower"][t]):
                serving[t] = rec
    return serving


def _better(a: float, b: float, lower: bool) -> bool:
    return a < b if lower else a > b


def _value(rec: dict[str, Any], split: str, task: str, refs: dict[str, Reference]) -> float:
    """The value ``task`` is compared on in a network record: RMSE for regression, else its metric."""
    return compared_value(refs[task], task, rec[split], rec.get(f"{split}_rmse", {}))


def _part_value(rec: dict[str, Any], part: str, task: str, refs: dict[str, Reference]) -> float:
    """:func:`_value` on one part of the validation rows (``select`` or ``estimate``)."""
    return compared_value(refs[task], task, rec["parts"][part], rec.get("parts_rmse", {}).get(part, {}))


def plan(cfg: Config, taskset: TaskSet, groupings: dict[str, Any], affinity: dict[str, Any] | None,
         seeds: int | None = None) -> tuple[list[dict[str, Any]], list[NetworkSpec], list[int]]:
    names = taskset.task_names
    seed_list = [cfg.seed + k for k in range(seeds or cfg.compare.seeds)]
    alts = alternatives_for(groupings, names, cfg)
    if affinity and affinity.get("subsets") and len(names) <= 6:
        alts.append({"name": "oracle", "groups": [], "oracle": True})
    specs: list[NetworkSpec] = []
    for alt in alts:
        if alt.get("oracle"):
            subsets = [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]
            specs += [NetworkSpec(tuple(c), s) for s in seed_list for c in subsets]
        else:
            specs += _specs(alt, seed_list)
    unique = list(dict.fromkeys(specs))
    return alts, unique, seed_list


def _oracle_groups(results: dict[NetworkSpec, dict[str, Any]], names: list[str], seeds: list[int],
                   refs: dict[str, Reference]) -> Groups:
    """The partition with the best mean gain over single-task on the select part, over all trained subsets."""
    from ..grouping.selection import Network, select

    nets = []
    subsets = [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]
    for c in subsets:
        scores = {}
        for t in c:
            gains = []
            for s in seeds:
                m = _part_value(results[NetworkSpec(tuple(c), s)], "select", t, refs)
                base = _part_value(results[NetworkSpec((t,), s)], "select", t, refs)
                gains.append(relative_change(m, base, refs[t]) or 0.0)
            scores[t] = float(np.mean(gains))
        nets.append(Network(tuple(c), 1.0, scores))
    sel = select(nets, tasks=names, partition=True, maximize=True)
    return _canon([list(nets[i].tasks) for i in sel.chosen], names)


def compare(cfg: Config, taskset: TaskSet, groupings: dict[str, Any], store: RunStore | None, *,
            affinity: dict[str, Any] | None = None, seeds: int | None = None, execution: Execution = INLINE,
            progress: ProgressFn | None = None) -> dict[str, Any]:
    """Train every alternative over the seeds and return the content of ``comparison.json``.

    ``progress`` defaults to ``execution``'s callback for the step ``"compare"``.
    """
    names = taskset.task_names
    lower = {t.name: bool(t.lower_is_better) for t in taskset.tasks}
    metric = {t.name: t.metric for t in taskset.tasks}
    alts, specs, seed_list = plan(cfg, taskset, groupings, affinity, seeds)
    fp = taskset.fingerprint()
    train = asdict(cfg.train)
    model = asdict(cfg.model)
    units = [Unit(network_key(fp, sp, cfg), "network", "taskgroup.comparison.compare:network_unit",
                  {"taskset": taskset, "spec": asdict(sp), "train": train, "model": model}) for sp in specs]
    payloads = run_units(units, store, execution, progress or execution.progress_for("compare"))
    results: dict[NetworkSpec, dict[str, Any]] = {}
    for sp, unit, p in zip(specs, units, payloads):
        results[sp] = {**p, "_lower": lower, "_key": unit.key}
    refs = references(taskset)
    single = {s: {t: _value(results[NetworkSpec((t,), s)], "test", t, refs) for t in names} for s in seed_list}
    single_val = {s: {t: _value(results[NetworkSpec((t,), s)], "val", t, refs) for t in names} for s in seed_list}
    single_parts = {p: {s: {t: _part_value(results[NetworkSpec((t,), s)], p, t, refs) for t in names}
                        for s in seed_list} for p in ("select", "estimate")}
    evidence = row_evidence(taskset, refs)
    out_alts = []
    for alt in alts:
        if alt.get("oracle"):
            alt = {**alt, "groups": _oracle_groups(results, names, seed_list, refs)}
        out_alts.append(_summarise(alt, results, names, seed_list, single, single_val, refs, metric, lower,
                                   single_parts, evidence))
    doc: dict[str, Any] = {"schema": 1, "tasks": names, "seeds": seed_list, "data": data_record(taskset),
                           "alternatives": out_alts}
    doc["delta_m_basis"] = _basis(refs, single, single_val)
    doc["budget_curve"] = [{"name": a["name"], "inference_cost": a["inference_cost"], "delta_m": a["delta_m"],
                            "delta_m_std": a["delta_m_std"], "networks": len(a["groups"])} for a in out_alts]
    doc["verdict"] = verdict(doc, affinity, evidence, cfg.compare.equivalence_margin,
                             chosen_on_validation=_chosen_on_validation(groupings))
    doc["models"] = {"alternative": doc["verdict"]["alternative"] if doc["verdict"]["use_mtl"] else "single_task",
                     "decision": doc["verdict"]["decision"], "seed": seed_list[0],
                     "networks": [{"tasks": list(g), "key": network_key(fp, NetworkSpec(tuple(g), seed_list[0]), cfg)}
                                  for g in doc["verdict"]["train"]]}
    return doc


def _chosen_on_validation(groupings: dict[str, Any]) -> bool:
    """Whether the recommended grouping may have been chosen on validation rows.

    Only the joint run's measures (gradient cosine, lookahead: training batches) leave the validation
    rows untouched; probe gains and subset scores read validation metrics. A grouping given from
    outside says so with ``"chosen_on_validation": false``.
    """
    rec = groupings.get("recommended") or {}
    if isinstance(rec.get("chosen_on_validation"), bool):
        return rec["chosen_on_validation"]
    return str(rec.get("measure") or "") not in ("gradient_cosine", "lookahead")


def row_evidence(taskset: TaskSet, refs: dict[str, Reference]) -> RowEvidence:
    """An empty :class:`RowEvidence` over the select and estimate parts of ``taskset``'s validation rows."""
    from ..training.batching import TaskData
    from ..training.valparts import PARTS

    data = TaskData(taskset)
    parts = {}
    for p in ("select", "estimate"):
        rows = {t: data.rows[PARTS[p]][i].numpy() for i, t in enumerate(data.names)}
        parts[p] = PartRows(p, rows, {t: data.raw_targets[i][rows[t]] for i, t in enumerate(data.names)})
    return RowEvidence(data.tasks, parts, len(data.X), refs)


def _summarise(alt: dict[str, Any], results: dict[NetworkSpec, dict[str, Any]], names: list[str], seeds: list[int],
               single: dict[int, dict[str, float]], single_val: dict[int, dict[str, float]],
               refs: dict[str, Reference], metric: dict[str, str], lower: dict[str, bool],
               single_parts: dict[str, dict[int, dict[str, float]]], evidence: RowEvidence) -> dict[str, Any]:
    per_seed_test: list[dict[str, float]] = []
    per_seed_val: list[dict[str, float]] = []
    cmp_test: list[dict[str, float]] = []
    cmp_val: list[dict[str, float]] = []
    cmp_parts: dict[str, list[dict[str, float]]] = {p: [] for p in single_parts}
    row_scores: dict[str, list[dict[str, np.ndarray]]] = {p: [] for p in single_parts}
    params = macs = 0
    seconds = 0.0
    for i, s in enumerate(seeds):
        serving = _network_lookup(results, alt, s, names)
        per_seed_test.append({t: serving[t]["test"][t] for t in names})
        per_seed_val.append({t: serving[t]["val"][t] for t in names})
        cmp_test.append({t: _value(serving[t], "test", t, refs) for t in names})
        cmp_val.append({t: _value(serving[t], "val", t, refs) for t in names})
        for p in single_parts:
            cmp_parts[p].append({t: _part_value(serving[t], p, t, refs) for t in names})
            row_scores[p].append({t: np.asarray(serving[t]["scores"][p][t]) for t in names})
        specs = _specs(alt, [s])
        seconds += sum(results[sp]["seconds"] for sp in specs)
        if i == 0:
            params = sum(results[sp]["params"] for sp in specs)
            macs = sum(results[sp]["macs"] for sp in specs)
    dms = [delta_m(m, single[s], refs) for m, s in zip(cmp_test, seeds)]
    dm = [d.value for d in dms]
    dm_val = [delta_m(m, single_val[s], refs).value for m, s in zip(cmp_val, seeds)]
    for p in single_parts:
        evidence.add(alt["name"], p, row_scores[p])
    per_task = {t: {"metric": metric[t], "lower_is_better": lower[t],
                    "change": _mean_change([d.per_task.get(t) for d in dms]),
                    "mean": _r(np.mean([m[t] for m in per_seed_test])),
                    "std": _r(np.std([m[t] for m in per_seed_test])),
                    "values": [_r(m[t]) for m in per_seed_test],
                    "val_mean": _r(np.mean([m[t] for m in per_seed_val]))} for t in names}
    out = {"name": alt["name"], "groups": alt["groups"], "per_task": per_task,
           "delta_m": _r(np.mean(dm)), "delta_m_std": _r(np.std(dm)), "delta_m_values": [_r(x) for x in dm],
           "delta_m_val": _r(np.mean(dm_val)), "delta_m_val_std": _r(np.std(dm_val)),
           "delta_m_val_values": [_r(x) for x in dm_val],
           **{k: v for p in single_parts for k, v in _part_fields(p, cmp_parts[p], single_parts[p], seeds,
                                                                   refs).items()},
           "params": int(params), "inference_cost": int(macs), "train_seconds": round(seconds / len(seeds), 3)}
    for k in ("method", "family", "sharing", "weighting", "width"):
        if k in alt:
            out[k] = alt[k]
    return out


def _part_fields(part: str, per_seed: list[dict[str, float]], single: dict[int, dict[str, float]], seeds: list[int],
                 refs: dict[str, Reference]) -> dict[str, Any]:
    """``delta_m_<part>`` (mean over seeds) and its per-seed values, on one part of the validation rows."""
    vals = [delta_m(m, single[s], refs).value for m, s in zip(per_seed, seeds)]
    return {f"delta_m_{part}": _r(np.mean(vals)), f"delta_m_{part}_values": [_r(x) for x in vals]}


def _mean_change(changes: list[float | None]) -> float | None:
    """Mean relative change in percent over the seeds where the task had a usable baseline."""
    known = [c for c in changes if c is not None]
    return _r(np.mean(known)) if known else None


def _basis(refs: dict[str, Reference], single: dict[int, dict[str, float]],
           single_val: dict[int, dict[str, float]]) -> dict[str, Any]:
    """How each task enters Delta_m, and the tasks left out because a baseline is degenerate."""
    excluded: dict[str, str] = {}
    for split, base in (("test", single), ("val", single_val)):
        for seed, values in base.items():
            for t, v in values.items():
                why = refs[t].degenerate(v)
                if why is not None and t not in excluded:
                    excluded[t] = f"{why} ({split} split, seed {seed})"
    return {"references": {t: r.to_dict() for t, r in refs.items()}, "excluded": excluded}


def _r(x: float) -> float:
    return float(round(float(x), 8))
