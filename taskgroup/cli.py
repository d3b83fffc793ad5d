"""The ``taskgroup`` command line: a thin click layer over :mod:`taskgroup.pipeline`.

Bad input prints one line (``Error: ...``) and exits with status 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .affinity.measures import MEASURES, REQUESTABLE
from .errors import TaskgroupError
from .runtime.execution import EXECUTORS, Execution
from .runtime.faults import describe_os_error
from .runtime.progress import ProgressBar


class _Group(click.Group):
    """Turns the tool's own errors into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaskgroupError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # bad arguments: one line too, not click's usage block
            _usage_error(exc, ctx.command_path)
        except BrokenPipeError:  # `taskgroup status DIR | head`: the reader has gone, say nothing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except OSError as exc:  # read-only folder, full disk, no permission: the path and the cause
            click.echo(f"Error: {describe_os_error(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            again = " ".join(shlex.quote(a) for a in ["taskgroup", *ctx.meta.get("taskgroup.argv", [])])
            click.echo(f"\nInterrupted. Every unit of work that finished is kept in the run directory's store; "
                       f"run the same command again to resume: {again}", err=True)
            ctx.exit(130)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        argv = list(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
            ctx.meta["taskgroup.argv"] = argv
            return ctx
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `taskgroup`: click shows the help
                raise
            _usage_error(exc, info_name or "taskgroup")


def _usage_error(exc: click.UsageError, command_path: str) -> None:
    where = exc.ctx.command_path if exc.ctx is not None else command_path
    message = " ".join(exc.format_message().split())
    click.echo(f"Error: {message} (see '{where} --help')", err=True)
    raise click.exceptions.Exit(2)


def _execution(executor: str = "inline", workers: int = 1, address: str | None = None,
               quiet: bool = False, device: str | None = None) -> Execution:
    """The one :class:`Execution` a command passes down, built from its options (``--device``
    unset leaves the choice to ``train.device`` in the configuration)."""
    from .runtime.device import check_device_name

    return Execution(executor=executor, workers=workers, address=address,
                     device="auto" if device is None else check_device_name(device, "--device"),
                     progress=lambda label: ProgressBar(label, quiet=quiet))


def _measures(value: str | None) -> list[str] | None:
    if not value:
        return None
    out = [m.strip() for m in value.split(",") if m.strip()]
    for m in out:
        if m not in REQUESTABLE:
            raise click.BadParameter(f"unknown measure {m!r}; choose from {', '.join(REQUESTABLE)}")
    return out


def _apply_seed(cfg, seed: int | None):
    if seed is not None:
        cfg.seed = seed
    return cfg


executor_option = click.option("--executor", type=click.Choice(EXECUTORS.names), default="inline",
                               show_default=True, help="Where units of work run.")
workers_option = click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
                              help="Units run at once (process and ray executors).")
address_option = click.option("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray).")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


device_option = click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N|mps",
                             help="Where torch computes (default: train.device in the config, itself auto: "
                                  "CUDA if available, else CPU).")


def execution_options(command):
    """The options an :class:`Execution` is built from (``_execution``), on one command."""
    for option in (quiet_option, device_option, address_option, workers_option, executor_option):
        command = option(command)
    return command
seed_option = click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
                           help="Override the config's seed.")
force_option = click.option("--force", is_flag=True, help="Reuse DIR even if it belongs to another configuration (its old results are dropped).")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="taskgroup")
def main() -> None:
    """Should these tasks share a network, and which ones?

    taskgroup measures how tasks help or hurt each other, proposes which tasks should share a
    network, trains the proposals next to the alternatives and reports whether multi-task learning
    pays off. Start with `taskgroup demo`, or `taskgroup init` to write a config for your data.
    """


@main.command()
def datasets() -> None:
    """List the built-in datasets."""
    from .data import list_builtins

    rows = list_builtins()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        click.echo(f"{name.ljust(width)}  {description}")


#: every registry of interchangeable methods, for ``taskgroup methods``
REGISTRIES = ("taskgroup.training.weighting:WEIGHTINGS", "taskgroup.training.sampling:SAMPLINGS",
              "taskgroup.training.sampling:SCHEDULES", "taskgroup.training.encoders:ENCODERS",
              "taskgroup.affinity.measures:MEASURES", "taskgroup.grouping.graph:CLUSTERINGS",
              "taskgroup.runtime.execution:EXECUTORS")


@main.command()
def methods() -> None:
    """List the interchangeable methods by kind (loss weightings, measures, executors...)."""
    from .registry import import_object

    rows = [(import_object(path).kind, name, summary) for path in REGISTRIES
            for name, summary in import_object(path).table()]
    width = max(len(f"{kind}: {name}") for kind, name, _ in rows)
    for kind, name, summary in rows:
        click.echo(f"{(kind + ': ' + name).ljust(width)}  {summary}")


STARTER = '''# taskgroup experiment file. Every key is optional unless marked required.
seed = 0

[data]
# required: either a table of your own ...
# path = "table.csv"              # CSV: feature columns and one column per task; empty cell = unlabelled
# features = ["x0", "x1"]         # default: every column that is not a task target
# ... or a built-in dataset (see `taskgroup datasets`)
builtin = "synthetic"
options = { n_clusters = 2, tasks_per_cluster = 3 }
split = [0.6, 0.2, 0.2]           # train / validation / test fractions of each task's rows

# One [[tasks]] table per task. With a built-in dataset and no [[tasks]], every task is used.
# [[tasks]]
# name = "income"
# column = "income"               # default: the name
# kind = "binary"                 # binary | multiclass | regression; default: inferred
# metric = "auc"                  # auc | accuracy | f1 | rmse | r2; default by kind

[model]
encoder = "auto"                  # mlp | cnn | auto | "package.module:factory"
hidden = [64, 64]

[analyze]
measures = ["gradient_cosine", "lookahead", "transfer"]

[group]
# max_groups = 3                  # at most this many networks
# budget = 3.0                    # or: a total cost (a network costs 1)

[compare]
seeds = 3
'''


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), default="taskgroup.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented starter config to PATH (default: taskgroup.toml)."""
    from .runtime.atomic import write_text

    p = Path(path)
    if p.exists() and not force:
        raise TaskgroupError(f"{p}: already exists; use --force to overwrite")
    write_text(p, STARTER)
    click.echo(f"wrote {p}; edit it, then run: taskgroup check {p}")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@seed_option
@click.option("--splits", type=click.Path(dir_okay=False), default=None,
              help="Write the split of every input row to this CSV file (columns row, split).")
def check(config: str, seed: int | None, splits: str | None) -> None:
    """Validate CONFIG and its data without training; print the task table and the split."""
    from .data.audit import audit
    from .data.splits import write_csv
    from .pipeline import load_data, resolve_config

    from .preflight import single_task

    cfg = _apply_seed(resolve_config(config), seed)
    ts = load_data(cfg, step=False)
    report = audit(ts)
    widths = [max(len(r[i]) for r in report.rows) for i in range(len(report.rows[0]))]
    for r in report.rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    fmt = ts.meta.get("table_format")
    if fmt:
        click.echo(f"read {ts.meta.get('source')} as {fmt['described']}")
    for t in cfg.tasks:
        if getattr(t, "expression", None):
            click.echo(f"derived target {t.name} = {t.expression}")
    for line in report.notes:
        click.echo(line)
    for line in report.warnings:
        click.echo(line, err=True)
    problem = single_task(cfg, ts)
    if problem:
        click.echo(f"note: {problem}; analyze and run will refuse it", err=True)
    if splits:
        if ts.meta.get("source") and Path(splits).resolve() == Path(ts.meta["source"]).resolve():
            raise TaskgroupError(f"--splits {splits} is the data file itself; choose another file")
        click.echo(f"wrote {write_csv(splits, ts.row_split)} (row, split)")
    click.echo(f"{len(ts.tasks)} tasks, {ts.n_rows} rows, input shape {ts.input_shape}: OK")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--measures", default=None, help=f"Comma-separated: {','.join(REQUESTABLE)} (default: config).")
@click.option("--exhaustive", is_flag=True, default=None, help="Train every subset (at most 10 tasks).")
@seed_option
@force_option
@execution_options
def analyze(config: str, out: str, measures: str | None, exhaustive: bool | None, executor: str, workers: int,
            address: str | None, seed: int | None, force: bool, quiet: bool, device: str | None) -> None:
    """Measure task affinities; writes OUT/affinity.json."""
    from .pipeline import analyze as run_analyze, resolve_config

    cfg = _apply_seed(resolve_config(config), seed)
    doc = run_analyze(cfg, out, measures=_measures(measures), exhaustive=exhaustive or None, force=force,
                      execution=_execution(executor, workers, address, quiet, device))
    click.echo(f"wrote {Path(out) / 'affinity.json'} ({', '.join(doc.measures)})")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--max-groups", type=click.IntRange(1), default=None, help="At most this many networks.")
@click.option("--budget", type=float, default=None, help="Total cost of the networks (a network costs 1).")
@click.option("--partition/--overlap", default=None, help="Forbid (default) or allow a task in several networks.")
@click.option("--measure", default=None, help=f"Score source: auto, subsets, {', '.join(MEASURES)}.")
def group(directory: str, max_groups: int | None, budget: float | None, partition: bool | None,
          measure: str | None) -> None:
    """Propose task groupings from DIR/affinity.json; writes DIR/groupings.json."""
    from .pipeline import group as run_group

    doc = run_group(directory, max_groups=max_groups, budget=budget, partition=partition, measure=measure)
    rec = doc.recommended
    groups = " | ".join(", ".join(g) for g in rec.groups)
    click.echo(f"recommended ({rec.method}): {groups}")
    click.echo(f"wrote {Path(directory) / 'groupings.json'}")


@main.command()
@click.argument("scores", type=click.Path(dir_okay=False))
@click.option("--budget", type=float, default=None, help="Total cost allowed.")
@click.option("--max-networks", type=click.IntRange(1), default=None, help="At most this many networks.")
@click.option("--predict", type=click.Choice(["hoa"]), default=None,
              help="Replace scores of networks with 3+ tasks by the mean of their pairs' scores.")
@click.option("--maximize", is_flag=True, help="Higher scores are better (overrides lower_is_better).")
@click.option("--partition", is_flag=True, help="No task in two chosen networks.")
def select(scores: str, budget: float | None, max_networks: int | None, predict: str | None, maximize: bool,
           partition: bool) -> None:
    """Choose networks from SCORES.json exactly (integer program); prints JSON."""
    from .grouping.scorefile import load_scores_file, select_from_scores

    doc = load_scores_file(scores)
    if budget is None and max_networks is None:
        raise TaskgroupError("select needs --budget or --max-networks")
    result = select_from_scores(doc, budget=budget, max_networks=max_networks, predict=predict,
                                maximize=True if maximize else None, partition=partition, source=scores)
    click.echo(json.dumps(result, indent=2))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--seeds", type=click.IntRange(1), default=None, help="Seeds per network (default: config).")
@execution_options
def compare(directory: str, seeds: int | None, executor: str, workers: int, address: str | None, quiet: bool,
            device: str | None) -> None:
    """Train the groupings next to the alternatives; writes DIR/comparison.json and DIR/models/."""
    from .pipeline import compare as run_compare

    doc = run_compare(directory, seeds=seeds, execution=_execution(executor, workers, address, quiet, device))
    click.echo(doc.verdict.summary)
    click.echo(f"wrote {Path(directory) / 'comparison.json'} and {Path(directory) / 'models'}")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
def report(directory: str) -> None:
    """Render DIR/report.html and DIR/report.md from the files in DIR (no training)."""
    from .pipeline import report as run_report

    paths = run_report(directory)
    click.echo(f"wrote {paths['html']}")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--max-groups", type=click.IntRange(1), default=None, help="At most this many networks.")
@click.option("--budget", type=float, default=None, help="Total cost of the networks.")
@click.option("--seeds", type=click.IntRange(1), default=None, help="Seeds per network in compare.")
@seed_option
@force_option
@execution_options
@click.option("--track", type=click.Choice(["mlflow"]), default=None,
              help="Log the finished run to MLflow (install taskgroup-mtl[mlflow]); default: [track] of the config.")
@click.option("--track-uri", default=None, help="MLflow tracking URI (default: [track] mlflow, else ./mlruns).")
def run(config: str, out: str, max_groups: int | None, budget: float | None, seeds: int | None, executor: str,
        workers: int, address: str | None, seed: int | None, force: bool, quiet: bool, track: str | None,
        track_uri: str | None, device: str | None) -> None:
    """analyze, group, compare and report in one go (resumes where a previous run stopped)."""
    from .pipeline import resolve_config, run as run_all
    from .runtime.ownership import check_out

    cfg = _apply_seed(resolve_config(config), seed)
    if track_uri is not None and track is None:
        raise TaskgroupError("--track-uri needs --track mlflow")
    uri = (track_uri or cfg.track.mlflow or "") if track else None
    check_out(out)  # a refused --out is said before the plan, as the one line of the run
    if not quiet:
        click.echo(_plan(cfg, max_groups, budget, device).one_line(), err=True)
    paths = run_all(cfg, out, force=force, max_groups=max_groups, budget=budget, seeds=seeds, track=uri,
                    execution=_execution(executor, workers, address, quiet, device))
    _print_verdict(out)
    click.echo(f"report: {paths['html']}")
    if "mlflow_run" in paths:
        click.echo(f"logged to MLflow: run {paths['mlflow_run']}")


def _plan(cfg, max_groups: int | None, budget: float | None, device: str | None):
    import time

    from .pipeline import load_data
    from .planning import make_plan, process_age
    from .runtime.device import check_device_name

    started, begin = process_age(), time.perf_counter()
    taskset = load_data(cfg)
    return make_plan(cfg, taskset, max_groups=max_groups, budget=budget,
                     device=None if device is None else check_device_name(device, "--device"),
                     load_seconds=time.perf_counter() - begin, startup_seconds=started)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--max-groups", type=click.IntRange(1), default=None, help="At most this many networks.")
@click.option("--budget", type=float, default=None, help="Total cost of the networks.")
@seed_option
@device_option
def plan(config: str, max_groups: int | None, budget: float | None, seed: int | None, device: str | None) -> None:
    """Print the units each step will run and their estimated time (a few timed steps, no run)."""
    from .pipeline import resolve_config

    if max_groups is not None and budget is not None:
        raise click.UsageError("give --max-groups or --budget, not both")
    for line in _plan(_apply_seed(resolve_config(config), seed), max_groups, budget, device).lines():
        click.echo(line)


def _print_verdict(out: str) -> None:
    from .runtime.documents import ComparisonDoc

    click.echo(ComparisonDoc.load(Path(out) / ComparisonDoc.FILE).verdict.summary)


@main.command()
@click.option("--out", "-o", default="taskgroup-demo", show_default=True, type=click.Path(file_okay=False),
              help="Run directory.")
@click.option("--quick", is_flag=True, help="A smaller run that finishes in a few minutes on 2 cores.")
@click.option("--dataset", type=click.Choice(["synthetic", "digits"]), default="synthetic", show_default=True)
@force_option
@execution_options
def demo(out: str, quick: bool, dataset: str, executor: str, workers: int, address: str | None, force: bool,
         quiet: bool, device: str | None) -> None:
    """Run the whole pipeline on built-in data and print the path of the report."""
    from .demo import demo_config, ignore_in_git
    from .pipeline import run as run_all

    cfg = demo_config(dataset, quick)
    paths = run_all(cfg, out, force=force, execution=_execution(executor, workers, address, quiet, device))
    ignore_in_git(out)
    _print_verdict(out)
    click.echo(f"report: {Path(paths['html']).resolve()}")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--out", "-o", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="CSV of predictions; '-' (the default) writes to standard output.")
@click.option("--proba", is_flag=True, help="Add one probability column per class of each classification task.")
def predict(directory: str, table: str, out: str, proba: bool) -> None:
    """Predict every task for the rows of TABLE (CSV) with the trained recommended grouping."""
    from .comparison.deliver import predict_table

    if out == "-":
        click.echo(predict_table(directory, table, None, proba=proba), nl=False)
        return
    path = predict_table(directory, table, out, proba=proba)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False))
def status(directory: str) -> None:
    """Show what a run directory holds: finished units, time spent, steps done."""
    from .pipeline import status as run_status

    st = run_status(directory)
    for step, done in st["steps"].items():
        stale = st["stale"].get(step)
        click.echo(f"{step:<11} {stale if stale else 'done' if done else 'not yet'}")
    if not st["units"]:
        click.echo("no finished units yet")
    for kind, row in st["units"].items():
        click.echo(f"{kind:<11} {int(row['done'])} units finished, {row['seconds']:.1f} s")
    for step, row in st.get("left", {}).items():
        click.echo(f"{step + ':':<11} {row['done']} of {row['total']} units done, {row['total'] - row['done']} left")
    click.echo(f"time spent  {st.get('seconds', 0.0):.1f} s")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
