"""The report: its content, escaping, self-containment, missing steps, determinism and scaling.

Runs are the hand-written 4-task fixture (tests/fixtures/run_small, one task named
``<script>alert(1)</script>``) and generated runs of 2 and 40 tasks.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from taskgroup.errors import RunDirError
from taskgroup.reporting import render_report
from taskgroup.reporting.figures import Point, mpl_text, pareto_front
from taskgroup.reporting.html import png_size
from taskgroup.reporting.markdown import md_escape

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
HOSTILE = "<script>alert(1)</script>"
ALL_FIGURES = {"heatmap_gradient_cosine.png", "heatmap_lookahead.png", "heatmap_transfer.png", "dendrogram.png",
               "graph.png", "delta_m.png", "cost.png"}


def copy_run(dest: Path, only: tuple[str, ...] | None = None) -> Path:
    """The fixture run copied to ``dest`` (only the named files, when given)."""
    dest.mkdir(parents=True)
    copied = []
    for f in FIXTURE.iterdir():
        if only is None or f.name in only:
            shutil.copy(f, dest / f.name)
            copied.append(f.name)
    # a run directory: taskgroup's manifest lists what it wrote there
    (dest / "manifest.json").write_text(json.dumps({"schema": 1, "tool": "taskgroup", "owned": copied}))
    return dest


def generated_run(dest: Path, n: int, seed: int = 0) -> Path:
    """A consistent run of ``n`` tasks in planted clusters, every step file present."""
    from scipy.cluster.hierarchy import linkage

    rng = np.random.default_rng(seed)
    tasks = [f"task_{i:02d}" + ("_with_a_rather_long_name" if i % 7 == 3 else "") for i in range(n)]
    tasks[min(1, n - 1)] = HOSTILE
    cluster = np.arange(n) % (n // 3 + 1)
    base = 0.5 * (cluster[:, None] == cluster[None, :]) - 0.15 + 0.1 * rng.normal(size=(n, n))
    cos = (base + base.T) / 2
    np.fill_diagonal(cos, 1.0)
    groups = [g for g in ([tasks[i] for i in range(n) if cluster[i] == c] for c in range(cluster.max() + 1)) if g]
    dist = 1 - cos[np.triu_indices(n, 1)]
    z = linkage(dist - dist.min(), method="average")
    dest.mkdir(parents=True)

    def write(name: str, doc: dict) -> None:
        (dest / name).write_text(json.dumps({"schema": 1, "tasks": tasks, **doc}))

    write("affinity.json", {
        "task_info": [{"name": t, "kind": "regression", "metric": "rmse", "lower_is_better": True,
                       "rows": {"train": 300, "val": 100, "test": 100}} for t in tasks],
        "measures": {"gradient_cosine": {"matrix": cos.tolist(), "stderr": np.full((n, n), 0.05).tolist(),
                                         "snr": 5.0, "informative": True},
                     "lookahead": {"matrix": (0.03 * base).tolist(), "snr": 0.7, "informative": False}},
        "agreement": {"gradient_cosine~lookahead": 0.61}, "versions": {"taskgroup": "0.1.0"}})
    write("groupings.json", {
        "recommended": {"groups": groups, "method": "exact", "measure": "gradient_cosine", "predicted": 0.2},
        "candidates": [{"groups": groups, "method": "exact", "k": len(groups), "predicted": 0.2}],
        "linkage": {"matrix": z.tolist(), "labels": tasks}})

    def alt(name: str, grouping: list[list[str]], dm: float, cost: float) -> dict:
        per = {t: {"metric": "rmse", "mean": 1.0 - dm / 100 + 0.01 * rng.normal(), "std": 0.02,
                   "lower_is_better": True} for t in tasks}
        return {"name": name, "groups": grouping, "per_task": per, "delta_m": dm, "delta_m_std": 0.5,
                "params": 1000 * len(grouping), "inference_cost": cost, "train_seconds": 3.0 * len(grouping)}

    write("comparison.json", {
        "alternatives": [alt("recommended", groups, 2.5, 100.0 * len(groups)),
                         alt("single_task", [[t] for t in tasks], 0.0, 100.0 * n),
                         alt("all_in_one", [tasks], -1.0, 100.0)],
        "verdict": {"use_mtl": True, "summary": "Share within the planted clusters."}})
    (dest / "config.toml").write_text('seed = 0\n[data]\nbuiltin = "synthetic"\n')
    return dest


class _Page(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], str]:
    """The fixture run, rendered once for every test that only reads the result."""
    run = copy_run(tmp_path_factory.mktemp("small") / "run")
    paths = render_report(run)
    return run, paths, paths["html"].read_text(encoding="utf-8")


# -- the complete report ----------------------------------------------------------------------------

def test_writes_html_markdown_and_figures(small) -> None:
    run, paths, _ = small
    assert paths == {"html": run / "report.html", "markdown": run / "report.md", "figures": run / "figures"}
    assert {p.name for p in paths["figures"].iterdir()} == ALL_FIGURES
    assert not [p for p in run.rglob(".*")], "a temporary file was left behind"


def test_first_screen_says_verdict_groups_and_gains(small) -> None:
    _, _, html = small
    lead = html[html.index('id="summary"'):html.index('<nav class="toc"')]
    assert "Verdict: share networks for accuracy" in lead
    assert "train 2 networks" in lead and "Network 1" in lead and "Network 2" in lead
    assert "heart_disease" in lead and "age_years" in lead
    assert "+3.12% ± 0.58" in lead          # measured Delta_m with its spread
    assert "+0.021" in lead                 # predicted score
    assert "-0.05% ± 0.71" in lead          # all-in-one for reference


def test_every_section_is_present_with_its_content(small) -> None:
    _, _, html = small
    for anchor in ("summary", "tasks", "affinity", "groupings", "comparison", "methods", "reproducibility"):
        assert f'id="{anchor}"' in html
    assert "1,187" in html and "0.751 ± 0.012" in html and "rmse ↓" in html           # task table
    assert "Signal-to-noise ratio 4.80" in html and "Not informative" in html         # measure quality
    assert "strong agreement" in html                                                   # agreement table
    assert "Candidate groupings" in html and "louvain" in html
    assert "Per-task test metric of every alternative" in html and "+20.3% ▲" in html
    assert "Maninis" in html and "Fifty" in html and "Standley" in html and "HOA" in html
    assert "seeds = 3" in html and "2.3.1" in html                                     # config and versions
    assert "Best Δm" in html                                                            # verdict evidence


def test_images_are_inlined_pngs_identical_to_the_figure_files(small) -> None:
    run, _, html = small
    srcs = [a["src"] for tag, a in parse(html).tags if tag == "img"]
    assert len(srcs) == len(ALL_FIGURES)
    files = {(run / "figures" / n).read_bytes() for n in ALL_FIGURES}
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png in files
        w, h = png_size(png)
        assert 200 < w < 2000 and 100 < h < 2000


def test_no_script_and_no_external_resource(small) -> None:
    _, _, html = small
    assert "<script" not in html.lower()
    page = parse(html)
    assert "script" not in {tag for tag, _ in page.tags}
    for tag, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on")], f"event handler on <{tag}>"
        for key in ("src", "href", "action", "srcset"):
            value = attrs.get(key) or ""
            assert "://" not in value and not value.startswith("//"), f"<{tag} {key}={value[:40]}>"
    assert "url(" not in html and "@import" not in html
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html  # the page forbids scripts even if something slipped through


def test_hostile_task_name_is_text(small) -> None:
    _, _, html = small
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in "".join(parse(html).text)
    assert 'insurance &amp; &lt;patients&gt;.csv' in html  # config text escaped too


def test_markdown_links_figures_and_keeps_tables_intact(small) -> None:
    run, paths, _ = small
    md = paths["markdown"].read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", md)
    assert {Path(p).name for p in linked} == ALL_FIGURES
    assert all((run / p).is_file() for p in linked)
    prose = re.sub(r"^(`{3,})\n.*?^\1$", "", md, flags=re.M | re.S)  # fenced code shows text verbatim
    assert "seeds = 3" not in prose and "<script" not in prose
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prose
    for table in re.findall(r"(?:^\|.*\|$\n?)+", md, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table.strip().splitlines()}
        assert len(widths) == 1, f"a cell broke its table:\n{table}"
    assert "charges ($\\|log)" in md


# -- partial runs and bad input -----------------------------------------------------------------------

@pytest.mark.parametrize("files, figures, says", [
    (("config.toml",), set(), ["Not run yet", "No verdict yet", "Not measured yet", "Not proposed yet"]),
    (("affinity.json",), {"heatmap_gradient_cosine.png", "heatmap_lookahead.png", "heatmap_transfer.png",
                          "graph.png"}, ["No verdict yet", "config.toml is missing", "No grouping proposed yet"]),
    (("groupings.json", "comparison.json"), {"dendrogram.png", "delta_m.png", "cost.png"},
     ["Not measured yet: run", "Verdict: share networks for accuracy"]),
])
def test_missing_steps_are_named_and_the_rest_renders(tmp_path: Path, files, figures, says) -> None:
    run = copy_run(tmp_path / "run", only=files)
    paths = render_report(run)
    html = paths["html"].read_text(encoding="utf-8")
    assert {p.name for p in paths["figures"].iterdir()} == figures
    for text in says:
        assert text in html
    assert html.count("<img ") == len(figures)
    assert paths["markdown"].is_file()


def test_a_folder_holding_only_a_config_is_not_written_into(tmp_path: Path) -> None:
    shutil.copy(FIXTURE / "config.toml", tmp_path / "config.toml")
    before = (tmp_path / "config.toml").read_bytes()
    with pytest.raises(RunDirError, match="not a taskgroup run directory"):
        render_report(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    assert (tmp_path / "config.toml").read_bytes() == before


def test_a_directory_without_run_files_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError) as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value) and "taskgroup run" in str(err.value)
    with pytest.raises(RunDirError, match="does not exist"):
        render_report(tmp_path / "nowhere")
    assert not list(tmp_path.iterdir()), "nothing is written when there is nothing to report"


@pytest.mark.parametrize("content, message", [
    ("{not json", "affinity.json: not valid JSON"),
    ('{"schema": 2, "tasks": []}', "schema 2"),
    ('{"schema": 1, "tasks": ["a", "b"], "measures": {"lookahead": {"matrix": [[0, 1]]}}}', "must be 2 x 2"),
    ('{"schema": 1, "tasks": "a"}', "tasks: expected a list"),
])
def test_broken_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "affinity.json").write_text(content)
    with pytest.raises(RunDirError, match=re.escape(message)) as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)


def test_verdict_against_sharing_and_uncovered_tasks(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run", only=("comparison.json", "groupings.json"))
    comparison = json.loads((run / "comparison.json").read_text())
    comparison["verdict"] = {"use_mtl": False, "summary": "Differences are within seed noise."}
    comparison.pop("budget_curve")
    (run / "comparison.json").write_text(json.dumps(comparison))
    html = render_report(run)["html"].read_text(encoding="utf-8")
    assert "Verdict: train each task separately" in html and "within seed noise" in html
    assert "Train 4 networks" in html and "charges ($|log)" in html
    assert 'class="callout bad"' in html
    # a hand-edited grouping that leaves a task out is refused, naming the file, the field and the task
    groupings = json.loads((run / "groupings.json").read_text())
    groupings["recommended"]["groups"] = [["heart_disease", "age_years"], ["age_years", HOSTILE]]
    (run / "groupings.json").write_text(json.dumps(groupings))
    with pytest.raises(RunDirError, match=r"groupings\.json: recommended\.groups: task .* is in no group"):
        render_report(run)


def test_rerender_is_deterministic_and_drops_stale_figures(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run", only=("groupings.json", "comparison.json"))
    assert (run / "figures" / "delta_m.png").exists() is False
    render_report(run)
    assert (run / "figures" / "delta_m.png").is_file()
    (run / "comparison.json").unlink()
    first = render_report(run)
    assert {p.name for p in (run / "figures").iterdir()} == {"dendrogram.png"}
    html, png = first["html"].read_bytes(), (run / "figures" / "dendrogram.png").read_bytes()
    render_report(run)
    assert first["html"].read_bytes() == html and (run / "figures" / "dendrogram.png").read_bytes() == png


def test_two_tasks_render_silently_without_pyplot(tmp_path: Path) -> None:
    """No output, no warning (even with all merges at distance 0) and pyplot never imported."""
    run = generated_run(tmp_path / "run", 2)
    code = ("import sys, warnings; warnings.simplefilter('error'); from taskgroup.reporting import render_report; "
            "render_report(sys.argv[1]); assert 'matplotlib.pyplot' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert (run / "report.html").is_file()


def test_forty_tasks_stay_readable(tmp_path: Path) -> None:
    run = generated_run(tmp_path / "run", 40)
    paths = render_report(run)
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count('<span class="task">task_') >= 39 * 2     # task table and per-task table
    assert 'class="columns"' not in html                         # heatmaps full width, not side by side
    assert 'class="wide"' in html                                # large heatmaps may use the whole window
    assert "Only the 40 strongest positive" in html
    for png in paths["figures"].iterdir():
        w, h = png_size(png.read_bytes())
        assert w <= 2000 and h <= 2000, png.name


# -- helpers ---------------------------------------------------------------------------------------

def test_markdown_escape_neutralises_syntax_and_html() -> None:
    assert md_escape("a|b*c_d [x](y) <b>&\nnext") == "a\\|b\\*c\\_d \\[x\\](y) &lt;b&gt;&amp; next"


def test_matplotlib_labels_never_become_math() -> None:
    assert mpl_text("cost ($) and $x$") == r"cost (\$) and \$x\$"
    assert len(mpl_text("x" * 100)) == 22 and mpl_text("x" * 100).endswith("…")


def test_pareto_front_is_the_set_of_undominated_points() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        points = [Point(str(i), float(c), float(d)) for i, (c, d) in enumerate(rng.integers(0, 6, size=(8, 2)))]
        front = pareto_front(points)
        assert [p.cost for p in front] == sorted(p.cost for p in front)
        assert all(a.delta_m < b.delta_m for a, b in zip(front, front[1:]))
        for p in points:
            beaten = any(q.cost <= p.cost and q.delta_m >= p.delta_m and (q.cost, q.delta_m) != (p.cost, p.delta_m)
                         for q in points)
            on_front = any((q.cost, q.delta_m) == (p.cost, p.delta_m) for q in front)
            assert on_front != beaten


def test_a_task_left_out_of_delta_m_is_named(tmp_path) -> None:
    run = copy_run(tmp_path / "run")
    doc = json.loads((run / "comparison.json").read_text(encoding="utf-8"))
    doc["delta_m_basis"] = {"excluded": {"heart_disease": "baseline auc 0 is below chance (0.5) (val split, seed 0)"}}
    (run / "comparison.json").write_text(json.dumps(doc), encoding="utf-8")
    paths = render_report(run)
    html, md = paths["html"].read_text(encoding="utf-8"), paths["markdown"].read_text(encoding="utf-8")
    assert "Left out of Δm" in html and "heart_disease: baseline auc 0 is below chance" in html
    assert "Left out of Δm" in md and "heart\\_disease: baseline auc 0 is below chance" in md
