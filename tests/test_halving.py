"""Successive halving over candidate groupings in compare."""

from __future__ import annotations

import pytest

from taskgroup.comparison import halving as halving_module
from taskgroup.comparison.compare import Alternative, NetworkSpec, Trained, compare, select_score
from taskgroup.comparison.halving import budgets, halve
from taskgroup.config import CompareConfig, Config, DataConfig, ModelConfig, TrainConfig, config_from_dict
from taskgroup.data import load_taskset
from taskgroup.delta import Reference
from taskgroup.errors import ConfigError
from taskgroup.runtime.documents import GroupingsDoc
from taskgroup.runtime.store import RunStore


def test_budgets_halve_down_to_the_minimum_on_the_evaluation_grid():
    assert budgets(1500, 250, 50) == [350, 750, 1500]
    assert budgets(160, 40, 20) == [40, 80, 160]
    assert budgets(400, 400, 50) == [400]
    assert budgets(100, 1000, 10) == [100]
    assert all(b % 50 == 0 for b in budgets(1500, 1, 50)[:-1])


def test_halving_keeps_the_better_half_each_round():
    seen = []

    def score_at(alive, steps):
        seen.append((steps, list(alive)))
        return {n: float(n[1:]) for n in alive}   # c4 best

    alive, rounds = halve([f"c{i}" for i in range(5)], [10, 20, 40], score_at)
    assert alive == ["c3", "c4"]
    assert seen == [(10, ["c0", "c1", "c2", "c3", "c4"]), (20, ["c2", "c3", "c4"])]
    assert [r.kept for r in rounds] == [["c2", "c3", "c4"], ["c3", "c4"]]
    assert halve(["a", "b"], [10, 20, 40], lambda alive, s: {"a": 1.0, "b": 1.0})[0] == ["a"]   # ties: the earlier


def _trained(select: float, test: float) -> Trained:
    """A record of a one-task network (accuracy) with the given select-part and test metrics."""
    return Trained("k", {"t": select}, {"t": test}, {}, {"select": {"t": select}, "estimate": {"t": select}},
                   {}, 1, 1, 0.0)


def test_a_round_ranks_on_the_select_part_of_validation_not_on_test():
    ref = {"t": Reference("accuracy", False, "bounded", chance=0.5, best=1.0)}
    alts = [Alternative(n, (("t",),), candidate=True) for n in ("val_best", "test_best")]
    # the networks differ by seed: val_best's seed-1 network is better on validation, worse on test
    results = {NetworkSpec(("t",), 0): _trained(0.9, 0.6), NetworkSpec(("t",), 1): _trained(0.7, 0.95)}
    single = {0: {"t": 0.8}, 1: {"t": 0.8}}
    by_seed = {"val_best": 0, "test_best": 1}
    scores = {a.name: select_score(a, {NetworkSpec(("t",), 1): results[NetworkSpec(("t",), by_seed[a.name])]}, [1],
                                   single, ref, {"t": False}) for a in alts}
    assert scores["val_best"] > 0 > scores["test_best"]
    assert halve([a.name for a in alts], [10, 20], lambda alive, s: scores)[0] == ["val_best"]


def _cfg(halving: bool = True, **compare) -> Config:
    return Config(data=DataConfig(builtin="synthetic", options={"n_clusters": 2, "tasks_per_cluster": 3,
                                                               "rows_per_task": 80}),
                  model=ModelConfig(hidden=[16, 16]), train=TrainConfig(steps=160, eval_every=20, patience=3,
                                                                         batch_size=32),
                  compare=CompareConfig(seeds=2, random_groupings=1, halving=halving, min_steps=40,
                                        alternatives=["recommended", "candidates", "single_task", "all_in_one",
                                                      "random"], **compare), seed=0)


def _groupings(names: list[str]) -> GroupingsDoc:
    n = names
    cands = [{"groups": g, "method": m} for m, g in [
        ("a", [n[:3], n[3:]]), ("b", [n[:2], n[2:]]), ("c", [[n[0]], [n[1]], n[2:]]), ("d", [n[0::2], n[1::2]]),
        ("e", [n[:1], n[1:]])]]
    return GroupingsDoc.from_json({"tasks": n, "recommended": {"groups": [n[:3], n[3:]], "method": "a"},
                                   "candidates": cands}, "<test>")


@pytest.mark.slow
def test_a_survivor_at_the_full_budget_equals_its_networks_trained_in_one_go(tmp_path):
    ts = load_taskset(_cfg())
    g = _groupings(ts.task_names)
    with RunStore(tmp_path / "h.sqlite") as sh, RunStore(tmp_path / "f.sqlite") as sf:
        halved = compare(_cfg(True), ts, g, sh)
        full = compare(_cfg(False), ts, g, sf)
    h = halved.halving
    assert h is not None and h.budgets == [40, 80, 160] and h.longer_budget == "continue"
    assert h.candidates == ["b-k2", "c-k3", "d-k2", "e-k2"]        # the recommendation is not a contestant
    assert len(h.full_budget) == 1 and [len(r.kept) for r in h.rounds] == [2, 1]
    names = {a.name for a in halved.alternatives}
    assert set(h.full_budget) <= names and not (set(h.candidates) - set(h.full_budget)) & names
    assert {"recommended", "single_task", "all_in_one", "random-1"} <= names       # controls at the full budget
    by_name = {a.name: a for a in full.alternatives}
    for a in halved.alternatives:
        b = by_name[a.name]
        assert a.delta_m_select == pytest.approx(b.delta_m_select, abs=1e-4), a.name
        for t in ts.task_names:
            assert a.per_task[t].mean == pytest.approx(b.per_task[t].mean, rel=1e-5, abs=1e-6), (a.name, t)
    assert full.halving is None
    assert halved.final is not None and halved.final.name in names
    from taskgroup.reporting.comparison import _halving_blocks

    text = str(_halving_blocks(halved.to_json()["halving"])[0])
    assert "4 candidate groupings" in text and "40, 80, 160" in text
    assert _halving_blocks(full.to_json().get("halving") or {}) == []


@pytest.mark.slow
def test_halving_resumes_at_round_granularity(tmp_path, monkeypatch):
    ts = load_taskset(_cfg())
    g = _groupings(ts.task_names)
    calls: list[int] = []
    real = halving_module.train_networks

    def counting(specs, keys, cfg, *args, **kwargs):
        calls.append(cfg.train.steps)
        if cfg.train.steps == 80 and fail:
            raise KeyboardInterrupt  # killed at the start of the second round
        return real(specs, keys, cfg, *args, **kwargs)

    monkeypatch.setattr(halving_module, "train_networks", counting)
    import taskgroup.training.stacked as stacked_module

    trained: list[int] = []
    real_stacked = stacked_module.train_stacked

    def counting_stacks(taskset, members, train_cfg, *args, **kwargs):
        trained.append(train_cfg.steps)
        return real_stacked(taskset, members, train_cfg, *args, **kwargs)

    monkeypatch.setattr(stacked_module, "train_stacked", counting_stacks)
    with RunStore(tmp_path / "s.sqlite") as store:
        fail = True
        with pytest.raises(KeyboardInterrupt):
            compare(_cfg(), ts, g, store)
        assert 40 in trained
        trained.clear()
        fail = False
        resumed = compare(_cfg(), ts, g, store)
    assert 40 not in trained and 80 in trained       # the first round is reused, the second trained
    with RunStore(tmp_path / "t.sqlite") as other:
        straight = compare(_cfg(), ts, g, other)
    def rounds(doc):
        return [(r.steps, r.scores, r.kept) for r in doc.halving.rounds]

    assert rounds(resumed) == rounds(straight) and resumed.halving.full_budget == straight.halving.full_budget
    assert resumed.halving.rounds[0].networks_trained == 0 < straight.halving.rounds[0].networks_trained
    assert [a.name for a in resumed.alternatives] == [a.name for a in straight.alternatives]
    assert resumed.final == straight.final


@pytest.mark.parametrize("compare, message", [
    ({"min_steps": 0}, "compare.min_steps must be above 0, not 0"),
    ({"halving": "yes"}, "compare.halving must be of type bool"),
    ({"min_step": 10}, "min_step"),
])
def test_halving_keys_are_validated_in_one_line(compare, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"builtin": "synthetic"}, "compare": compare})
    assert message in str(err.value) and "\n" not in str(err.value)
    from click.testing import CliRunner

    from taskgroup.cli import main

    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in compare.items())
    (tmp_path / "c.toml").write_text(f'[data]\nbuiltin = "synthetic"\n[compare]\n{body}\n')
    result = CliRunner().invoke(main, ["check", str(tmp_path / "c.toml")])
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
