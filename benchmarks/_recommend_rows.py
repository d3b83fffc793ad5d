"""RESULTS.md rows of the recommendation-quality benchmarks on task sets too large for an oracle
(issue 14, item 7), built with the suite's own helpers."""

from __future__ import annotations

from typing import Any, Callable

Lines = list[dict[str, Any]]
SHOWN = ("final", "all_in_one", "tag_lookahead", "cs_gradient_cosine", "standley_hoa")


def recommend_row_builders(row: Callable[..., dict[str, Any]], f: Callable[..., str],
                           one: Callable[..., dict[str, Any] | None]) -> dict[str, Callable[[Lines], list[dict[str, Any]]]]:
    """Row builders keyed by benchmark name; ``row``, ``f`` and ``one`` are the suite's ``_row``, ``_f``, ``_one``."""

    def large_sets(lines: Lines) -> list[dict[str, Any]]:
        out = []
        for r in lines:
            if r.get("benchmark") != "large_set":
                continue
            if r.get("skipped"):
                out.append(row("quality", f"Large task set {r['set']}", "skipped", note=r["skipped"]))
                continue
            what = (f"{r['set']} ({r['tasks']} tasks, {r['clusters']} planted clusters, default settings, "
                    f"{len(r['seeds'])} seeds): test Delta_m over single-task networks")
            rnd = r["random"]
            others = "; ".join(f"{m} {f(r[m]['delta_m_test'], ' %')} ({r[m]['k']} groups, ARI {f(r[m]['ari'])})"
                               for m in SHOWN[1:] if r.get(m))
            final = r["final"]
            out.append(row("quality", what + " of the final recommendation vs the alternatives",
                           f(final["delta_m_test"], " %"), f(rnd["delta_m_test_mean"], " %") +
                           f" (random, {rnd['k']} groups, mean of {rnd['draws']})", "", "", None,
                           f"final: {final['k']} groups, ARI {f(final['ari'])}, chosen as {final['name']}, decision "
                           f"{final['decision']}; {others}; random range {f(rnd['delta_m_test_min'], ' %')} to "
                           f"{f(rnd['delta_m_test_max'], ' %')}, ARI {f(rnd['ari_mean'])}; run {f(r['seconds'], ' s')}"))
        return out

    return {"large_sets": large_sets}
