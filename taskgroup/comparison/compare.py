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

import itertools
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..affinity.analyze import data_record
from ..config import Config, ModelConfig, TrainConfig
from ..grouping.graph import canonical
from ..runtime.documents import (AffinityDoc, AlternativeResult, BudgetPoint, ComparisonDoc, DataInfo, GroupingsDoc,
                                  HalvingRecord, ModelsRef, SavedNetworkRef, TaskResult)
from ..delta import Reference, compared_value, delta_m, references, relative_change
from ..runtime.execution import INLINE, Execution
from ..runtime.hashing import content_hash
from ..runtime.progress import ProgressFn
from ..runtime.store import RunStore
from ..tasks import TaskSet
from .final import choose_final, proposers
from .reproduce import final_stability
from .stacked import train_networks
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
    from ..runtime.device import resolve_device
    from .stacked import network_payload
    from ..training.trainer import train_network

    spec = args["spec"]
    result, state = train_network(args["taskset"], list(spec["tasks"]), TrainConfig(**args["train"]),
                                  ModelConfig(**args["model"]), seed=spec["seed"], width=spec["width"],
                                  sharing=spec["sharing"], weighting=spec["weighting"],
                                  device=resolve_device(args["train"].get("device", "cpu")))
    out, blob = network_payload(result, state, spec)
    return {**out, "blob": blob}


def network_key(taskset_fp: str, spec: NetworkSpec, cfg: Config) -> str:
    return content_hash({"kind": "network", "records": 2, "v": "valparts-1", "data": taskset_fp, "spec": asdict(spec),
                         "train": train_identity(cfg.train), "model": asdict(cfg.model)})


def train_identity(train: TrainConfig) -> dict[str, Any]:
    """The training settings a network's result depends on (not the device it ran on)."""
    out = asdict(train)
    out.pop("device", None)
    return out


def _canon(groups: Groups | tuple[tuple[str, ...], ...], order: list[str]) -> Groups:
    """:func:`~taskgroup.grouping.graph.canonical` groups as lists (the form the documents hold)."""
    return [list(g) for g in canonical([list(g) for g in groups], order)]


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


@dataclass(frozen=True)
class Alternative:
    """One alternative to train: its name, groups, and how its networks are trained."""

    name: str
    groups: tuple[tuple[str, ...], ...]
    method: str | None = None
    family: str | None = None
    sharing: str = "hard"
    weighting: str = "equal"
    width: float = 1.0
    oracle: bool = False
    candidate: bool = False        # a candidate from groupings.json: successive halving may drop it

    @property
    def plain(self) -> bool:
        """Hard sharing, equal weighting, full width: only the groups tell it apart."""
        return self.sharing == "hard" and self.weighting == "equal" and self.width == 1.0

    def specs(self, seeds: list[int]) -> list[NetworkSpec]:
        """The networks this alternative trains for ``seeds``."""
        return [NetworkSpec(tuple(g), s, self.sharing, self.weighting, self.width) for s in seeds for g in self.groups]


@dataclass(frozen=True)
class Trained:
    """What compare uses of one trained network: per-task metrics by split and validation part (and
    RMSE), per-row scores on the validation parts, size, cost, time, store key."""

    key: str
    val: dict[str, float]
    test: dict[str, float]
    rmse: dict[str, dict[str, float]]              # split or part -> task -> RMSE (regression tasks)
    parts: dict[str, dict[str, float]]             # select | estimate -> task -> metric
    scores: dict[str, dict[str, Any]]              # select | estimate -> task -> per-row scores
    params: int
    macs: int
    seconds: float

    @classmethod
    def of(cls, key: str, p: dict[str, Any]) -> Trained:
        rmse = {"val": p.get("val_rmse") or {}, "test": p.get("test_rmse") or {}, **(p.get("parts_rmse") or {})}
        return cls(key, p["val"], p["test"], rmse, p.get("parts") or {}, p.get("scores") or {},
                   int(p["params"]), int(p["macs"]), float(p["seconds"]))


def _alt(name: str, groups: Groups, **how: Any) -> Alternative:
    return Alternative(name, tuple(tuple(g) for g in groups), **how)


def alternatives_for(groupings: GroupingsDoc, names: list[str], cfg: Config) -> list[Alternative]:
    """Every alternative to train, the recommended grouping first (bounded above
    :data:`~taskgroup.scaling.LARGE_N` tasks unless ``compare.scope = "full"``)."""
    from ..scaling import MAX_CANDIDATES, MAX_RANDOM, scaled

    bounded = scaled(cfg, len(names)).bounded_compare
    wanted = set(cfg.compare.alternatives) - ({"soft_sharing"} if bounded else set())
    rec = _canon(groupings.recommended.groups, names)
    alts = [_alt("recommended", rec, method=groupings.recommended.method)]
    # single-task networks are the baseline of every Delta_m and of the decision: always trained
    alts.append(_alt("single_task", [[n] for n in names]))
    if "single_task" in wanted:
        if cfg.group.budget is not None:
            alts.append(_alt("single_task_half", [[n] for n in names], width=0.5))
    if "all_in_one" in wanted:
        alts.append(_alt("all_in_one", [list(names)]))
        if not bounded:
            alts.append(_alt("all_in_one_uncertainty", [list(names)], weighting="uncertainty"))
            alts.append(_alt("all_in_one_gradnorm", [list(names)], weighting="gradnorm"))
    if "soft_sharing" in wanted:
        alts.append(_alt("soft_sharing", [list(names)], sharing="soft"))
    if "candidates" in wanted:
        # a candidate equal to an alternative already listed (plain hard sharing) is not listed twice
        seen = {a.groups for a in alts if a.plain}
        taken = {a.name for a in alts}
        for c in groupings.candidates[:MAX_CANDIDATES] if bounded else groupings.candidates:
            g = _alt("", _canon(c.groups, names))
            if g.groups in seen:
                continue
            seen.add(g.groups)
            label = c.name or f"{c.method or 'candidate'}-k{len(g.groups)}"
            while label in taken:
                label += "'"
            taken.add(label)
            alts.append(Alternative(label, g.groups, method=c.method, candidate=True))
    draws = min(cfg.compare.random_groupings, MAX_RANDOM) if bounded else cfg.compare.random_groupings
    if "random" in wanted and draws > 0:
        for i, g in enumerate(random_groupings(names, len(rec), draws, cfg.seed + 101)):
            alts.append(_alt(f"random-{i + 1}", g, family="random"))
    return alts


def _network_lookup(results: dict[NetworkSpec, Trained], alt: Alternative, seed: int,
                    lower: dict[str, bool]) -> dict[str, Trained]:
    """For each task, the record of the network that serves it (best on the select part if several)."""
    serving: dict[str, Trained] = {}
    for spec in alt.specs([seed]):
        rec = results[spec]
        for t in spec.tasks:
            cur = serving.get(t)
            if cur is None or _better(rec.parts["select"][t], cur.parts["select"][t], lower[t]):
                serving[t] = rec
    return serving


def _better(a: float, b: float, lower: bool) -> bool:
    return a < b if lower else a > b


def _value(rec: Trained, split: str, task: str, refs: dict[str, Reference]) -> float:
    """The value ``task`` is compared on in a network record: RMSE for regression, else its metric;
    ``split`` is ``val``, ``test``, or a part of the validation rows (``select``, ``estimate``)."""
    metrics = rec.val if split == "val" else rec.test if split == "test" else rec.parts[split]
    return compared_value(refs[task], task, metrics, rec.rmse.get(split, {}))


def plan(cfg: Config, taskset: TaskSet, groupings: GroupingsDoc, affinity: AffinityDoc | None,
         seeds: int | None = None) -> tuple[list[Alternative], list[NetworkSpec], list[int]]:
    names = taskset.task_names
    seed_list = [cfg.seed + k for k in range(seeds or cfg.compare.seeds)]
    alts = alternatives_for(groupings, names, cfg)
    if affinity is not None and affinity.subsets and len(names) <= 6:
        alts.append(Alternative("oracle", (), oracle=True))
    return alts, networks_of(alts, names, seed_list), seed_list


def networks_of(alts: list[Alternative], names: list[str], seed_list: list[int]) -> list[NetworkSpec]:
    """Every network ``alts`` train over ``seed_list`` (the oracle: every subset), each once."""
    specs: list[NetworkSpec] = []
    for alt in alts:
        if alt.oracle:
            subsets = [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]
            specs += [NetworkSpec(tuple(c), s) for s in seed_list for c in subsets]
        else:
            specs += alt.specs(seed_list)
    return list(dict.fromkeys(specs))


def _oracle_groups(results: dict[NetworkSpec, Trained], names: list[str], seeds: list[int],
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
                m = _value(results[NetworkSpec(tuple(c), s)], "select", t, refs)
                base = _value(results[NetworkSpec((t,), s)], "select", t, refs)
                gains.append(relative_change(m, base, refs[t]) or 0.0)
            scores[t] = float(np.mean(gains))
        nets.append(Network(tuple(c), 1.0, scores))
    sel = select(nets, tasks=names, partition=True, maximize=True)
    return _canon([list(nets[i].tasks) for i in sel.chosen], names)


def compare(cfg: Config, taskset: TaskSet, groupings: GroupingsDoc, store: RunStore | None, *,
            affinity: AffinityDoc | None = None, seeds: int | None = None, execution: Execution = INLINE,
            progress: ProgressFn | None = None, stacked: bool = True) -> ComparisonDoc:
    """Train every alternative over the seeds and return the ``comparison.json`` document.

    ``progress`` defaults to ``execution``'s callback for the step ``"compare"``. Networks that
    share an architecture and a budget train stacked (:mod:`.stacked`); ``stacked=False`` trains
    each alone (the same results up to floating-point rounding). With ``compare.halving``, the
    candidates go through successive halving first (:mod:`.halving`).
    """
    if store is None and cfg.compare.halving:  # halving keeps checkpoints in a store: a scratch one
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="taskgroup-compare-") as tmp, \
                RunStore(Path(tmp) / "store.sqlite") as scratch:
            return compare(cfg, taskset, groupings, scratch, affinity=affinity, seeds=seeds, execution=execution,
                           progress=progress, stacked=stacked)
    names = taskset.task_names
    lower = {t.name: bool(t.lower_is_better) for t in taskset.tasks}
    metric = {t.name: t.metric for t in taskset.tasks}
    alts, specs, seed_list = plan(cfg, taskset, groupings, affinity, seeds)
    fp = taskset.fingerprint()
    progress = progress or execution.progress_for("compare")
    refs = references(taskset)
    halving = None
    if store is not None:
        alts, halving = successive_halving(cfg, taskset, alts, seed_list, store, execution, progress, stacked, refs,
                                           lower)
        specs = networks_of(alts, names, seed_list)
    keys = [network_key(fp, sp, cfg) for sp in specs]
    payloads = train_networks(specs, keys, cfg, taskset, store, execution, progress, stacked)
    results = {sp: Trained.of(key, p) for sp, key, p in zip(specs, keys, payloads)}
    single = {s: {t: _value(results[NetworkSpec((t,), s)], "test", t, refs) for t in names} for s in seed_list}
    single_val = {s: {t: _value(results[NetworkSpec((t,), s)], "val", t, refs) for t in names} for s in seed_list}
    single_parts = {p: {s: {t: _value(results[NetworkSpec((t,), s)], p, t, refs) for t in names}
                        for s in seed_list} for p in ("select", "estimate")}
    evidence = row_evidence(taskset, refs)
    out_alts = []
    for alt in alts:
        if alt.oracle:
            alt = _alt("oracle", _oracle_groups(results, names, seed_list, refs))
        out_alts.append(_summarise(alt, results, names, seed_list, single, single_val, refs, metric, lower,
                                   single_parts, evidence))
    curve = [BudgetPoint(a.name, a.inference_cost, a.delta_m, a.delta_m_std, len(a.groups)) for a in out_alts]
    doc = ComparisonDoc(tasks=list(names), seeds=seed_list, data=DataInfo(**data_record(taskset)),
                        alternatives=out_alts, budget_curve=curve,
                        delta_m_basis=_basis(refs, single, single_val), halving=halving)
    final = doc.final = choose_final(out_alts, proposers(groupings, out_alts))
    final.stability = final_stability(groupings.stability, out_alts, final.groups, list(names))
    v = doc.verdict = verdict(doc, affinity, evidence, cfg.compare.equivalence_margin,
                              chosen_on_validation=_chosen_on_validation(groupings))
    final.decision = v.decision
    iv = v.interval or {}
    if v.alternative == final.name and iv.get("low") is not None:
        final.interval = [iv["low"], iv["high"]]   # the estimate part's 95 % interval
        final.delta_m_estimate = iv.get("mean")
    doc.models = ModelsRef(v.alternative if v.use_mtl else "single_task", seed_list[0],
                           [SavedNetworkRef(list(g), network_key(fp, NetworkSpec(tuple(g), seed_list[0]), cfg))
                            for g in v.train], decision=v.decision)
    return doc


def successive_halving(cfg: Config, taskset: TaskSet, alts: list[Alternative], seed_list: list[int],
                       store: RunStore, execution: Execution, progress: ProgressFn | None, stacked: bool,
                       refs: dict[str, Reference], lower: dict[str, bool]) -> tuple[list[Alternative], HalvingRecord | None]:
    """The alternatives left after successive halving over the candidates (:mod:`.halving`), and its
    record; the alternatives unchanged (and None) when halving is off or has nothing to do."""
    from .halving import BudgetedTraining, budgets, halve, record_of

    contestants = {a.name: a for a in alts if a.candidate}
    steps = budgets(cfg.train.steps, cfg.compare.min_steps, cfg.train.eval_every)
    if not cfg.compare.halving or len(contestants) < 2 or len(steps) < 2 or cfg.model.dropout > 0:
        return alts, None  # (dropout: networks train alone, without checkpoints to continue from)
    names, fp = taskset.task_names, taskset.fingerprint()
    fixed = networks_of([a for a in alts if not a.candidate], names, seed_list)
    start = time.perf_counter()
    train_networks(fixed, [network_key(fp, sp, cfg) for sp in fixed], cfg, taskset, store, execution, progress,
                   stacked)
    controls_seconds = time.perf_counter() - start
    single = {s: {t: _value(Trained.of("", store.get(network_key(fp, NetworkSpec((t,), s), cfg)) or {}), "select", t,
                            refs) for t in names} for s in seed_list}
    trainer = BudgetedTraining(cfg, taskset, store, lambda sp, c: network_key(fp, sp, c), execution, progress, stacked)

    def networks(chosen: list[str]) -> list[NetworkSpec]:
        return list(dict.fromkeys(sp for n in chosen for sp in contestants[n].specs(seed_list)))

    def score_at(alive: list[str], budget: int) -> dict[str, float]:
        specs = networks(alive)
        results = {sp: Trained.of("", p) for sp, p in zip(specs, trainer.train(specs, budget))}
        return {n: select_score(contestants[n], results, seed_list, single, refs, lower) for n in alive}

    survivors, rounds = halve(list(contestants), steps, score_at)
    trainer.train(networks(survivors), steps[-1])
    kept = set(survivors)
    return ([a for a in alts if not a.candidate or a.name in kept],
            record_of(steps, cfg.compare.min_steps, list(contestants), survivors, rounds, trainer, controls_seconds))


def select_score(alt: Alternative, results: dict[NetworkSpec, Trained], seeds: list[int],
                 single: dict[int, dict[str, float]], refs: dict[str, Reference], lower: dict[str, bool]) -> float:
    """Mean over ``seeds`` of ``alt``'s Delta_m on the select part of the validation rows against
    ``single`` (per seed, each task's single-task value on that part): a halving round's score."""
    return float(np.mean([delta_m({t: _value(rec, "select", t, refs) for t, rec in
                                   _network_lookup(results, alt, s, lower).items()}, single[s], refs).value
                          for s in seeds]))


def _chosen_on_validation(groupings: GroupingsDoc) -> bool:
    """Whether the recommended grouping may have been chosen on validation rows.

    Only the joint run's measures (gradient cosine, lookahead: training batches) leave the validation
    rows untouched; probe gains and subset scores read validation metrics. A grouping given from
    outside says so with ``"chosen_on_validation": false``.
    """
    rec = groupings.recommended
    if rec.chosen_on_validation is not None:
        return rec.chosen_on_validation
    return str(rec.measure or "") not in ("gradient_cosine", "lookahead")


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


def _summarise(alt: Alternative, results: dict[NetworkSpec, Trained], names: list[str], seeds: list[int],
               single: dict[int, dict[str, float]], single_val: dict[int, dict[str, float]],
               refs: dict[str, Reference], metric: dict[str, str], lower: dict[str, bool],
               single_parts: dict[str, dict[int, dict[str, float]]], evidence: RowEvidence) -> AlternativeResult:
    per_seed_test: list[dict[str, float]] = []
    per_seed_val: list[dict[str, float]] = []
    cmp_test: list[dict[str, float]] = []
    cmp_val: list[dict[str, float]] = []
    cmp_parts: dict[str, list[dict[str, float]]] = {p: [] for p in single_parts}
    row_scores: dict[str, list[dict[str, np.ndarray]]] = {p: [] for p in single_parts}
    params = macs = 0
    seconds = 0.0
    for i, s in enumerate(seeds):
        serving = _network_lookup(results, alt, s, lower)
        per_seed_test.append({t: serving[t].test[t] for t in names})
        per_seed_val.append({t: serving[t].val[t] for t in names})
        cmp_test.append({t: _value(serving[t], "test", t, refs) for t in names})
        cmp_val.append({t: _value(serving[t], "val", t, refs) for t in names})
        for p in single_parts:
            cmp_parts[p].append({t: _value(serving[t], p, t, refs) for t in names})
            row_scores[p].append({t: np.asarray(serving[t].scores[p][t]) for t in names})
        specs = alt.specs([s])
        seconds += sum(results[sp].seconds for sp in specs)
        if i == 0:
            params = sum(results[sp].params for sp in specs)
            macs = sum(results[sp].macs for sp in specs)
    dms = [delta_m(m, single[s], refs) for m, s in zip(cmp_test, seeds)]
    dm = [d.value for d in dms]
    dm_val = [delta_m(m, single_val[s], refs).value for m, s in zip(cmp_val, seeds)]
    for p in single_parts:
        evidence.add(alt.name, p, row_scores[p])
    per_task = {t: TaskResult(metric=metric[t], lower_is_better=lower[t],
                              change=_mean_change([d.per_task.get(t) for d in dms]),
                              mean=_r(np.mean([m[t] for m in per_seed_test])),
                              std=_r(np.std([m[t] for m in per_seed_test])),
                              values=[_r(m[t]) for m in per_seed_test],
                              val_mean=_r(np.mean([m[t] for m in per_seed_val]))) for t in names}
    parts = {p: _part_values(cmp_parts[p], single_parts[p], seeds, refs) for p in single_parts}
    return AlternativeResult(
        name=alt.name, groups=[list(g) for g in alt.groups], per_task=per_task,
        delta_m=_r(np.mean(dm)), delta_m_std=_r(np.std(dm)), delta_m_values=[_r(x) for x in dm],
        delta_m_val=_r(np.mean(dm_val)), delta_m_val_std=_r(np.std(dm_val)), delta_m_val_values=[_r(x) for x in dm_val],
        delta_m_select=_r(np.mean(parts["select"])), delta_m_select_values=parts["select"],
        delta_m_estimate=_r(np.mean(parts["estimate"])), delta_m_estimate_values=parts["estimate"],
        params=int(params), inference_cost=int(macs), train_seconds=round(seconds / len(seeds), 3),
        method=alt.method, family=alt.family, sharing=alt.sharing, weighting=alt.weighting, width=alt.width)


def _part_values(per_seed: list[dict[str, float]], single: dict[int, dict[str, float]], seeds: list[int],
                 refs: dict[str, Reference]) -> list[float]:
    """Per-seed Delta_m on one part of the validation rows (``delta_m_<part>_values``)."""
    return [_r(delta_m(m, single[s], refs).value) for m, s in zip(per_seed, seeds)]


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
