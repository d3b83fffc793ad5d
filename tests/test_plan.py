"""``taskgroup plan`` and the defaults that switch with the number of tasks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from taskgroup.cli import main
from taskgroup.comparison.compare import alternatives_for
from taskgroup.config import config_from_dict
from taskgroup.errors import ConfigError
from taskgroup.planning import assumed_groupings
from taskgroup.scaling import LARGE_N, MAX_CANDIDATES, analyze_measures, scaled


def _cfg(**sections):
    return config_from_dict({"data": {"builtin": "synthetic"}, **sections})


@pytest.mark.parametrize("n, sections, pairs, bounded", [
    (LARGE_N, {}, True, False),
    (LARGE_N + 1, {}, False, True),
    (100, {"analyze": {"pairs": "all"}, "compare": {"scope": "full"}}, True, False),
    (4, {"analyze": {"pairs": "none"}, "compare": {"scope": "bounded"}}, False, True),
])
def test_defaults_switch_above_the_threshold_unless_asked(n, sections, pairs, bounded):
    s = scaled(_cfg(**sections), n)
    assert (s.all_pairs, s.bounded_compare) == (pairs, bounded)
    measures = analyze_measures(_cfg(**sections), n, ["gradient_cosine", "lookahead", "transfer"])
    assert ("transfer" in measures) == pairs


def test_bounded_compare_trains_fewer_alternatives():
    from taskgroup.runtime.documents import GroupingsDoc

    names = [f"t{i}" for i in range(40)]
    raw = assumed_groupings(names, 5).to_json()
    raw["candidates"] += [{"groups": [names[:20], names[20:]], "method": "x"}]
    groupings = GroupingsDoc.from_json(raw, "<test>")
    bounded = alternatives_for(groupings, names, _cfg())
    full = alternatives_for(groupings, names, _cfg(compare={"scope": "full"}))
    kinds = {a.name for a in bounded}
    assert "soft_sharing" not in kinds and "all_in_one_gradnorm" not in kinds and "all_in_one" in kinds
    assert sum(a.family == "random" for a in bounded) == 1

    def candidates(alts):
        return sum(a.method in ("assumed", "x") and a.name != "recommended" for a in alts)

    assert candidates(bounded) <= min(MAX_CANDIDATES, candidates(full))
    assert {"soft_sharing", "all_in_one_gradnorm", "random-3"} <= {a.name for a in full}


def test_unknown_pairs_or_scope_is_refused():
    with pytest.raises(ConfigError, match="analyze.pairs = 'some' is not one of auto, all, none"):
        _cfg(analyze={"pairs": "some"})
    with pytest.raises(ConfigError, match="compare.scope"):
        _cfg(compare={"scope": "everything"})


TINY = """seed = 0
[data]
builtin = "synthetic"
options = {{ n_clusters = {clusters}, tasks_per_cluster = {per}, rows_per_task = 40 }}
[model]
hidden = [8]
[train]
steps = 40
[analyze]
steps = 20
probe_steps = 20
probe_seeds = 1
[compare]
seeds = 1
"""


@pytest.mark.parametrize("clusters, per, probes, bounded", [(2, 2, "15 probes", False), (4, 8, None, True)])
def test_plan_prints_units_time_and_defaults_for_each_size_class(tmp_path, clusters, per, probes, bounded):
    # 4 tasks: 4 singles + 6 pairs + 5 calibration groups (every group of 3 or 4 tasks), one probe seed
    path = tmp_path / "exp.toml"
    path.write_text(TINY.format(clusters=clusters, per=per))
    result = CliRunner().invoke(main, ["plan", str(path), "--max-groups", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{clusters * per} tasks on cpu; estimated ")
    analyze_line = next(line for line in lines if line.strip().startswith("analyze"))
    assert "3 joint runs" in analyze_line  # the main run and analyze.stability_runs = 2 at other seeds
    assert "2 extra joint runs for stability" in result.output
    assert (probes in analyze_line) if probes else ("probes" not in analyze_line.split(":")[0])
    assert any(line.strip().startswith("compare") and "networks" in line for line in lines)
    assert ("compare bounded" in result.output) == bounded
    assert not (tmp_path / "run").exists()
    both = CliRunner().invoke(main, ["plan", str(path), "--max-groups", "2", "--budget", "2"])
    assert both.exit_code == 2
