"""Experiment configuration: a TOML file validated into dataclasses, with one-line errors.

Unknown keys are refused with the closest known key suggested; wrong types and impossible values
name the section and key. Paths in the file are relative to the file.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass
class DataConfig:
    """``[data]``: where the rows come from.

    Exactly one of ``path`` (CSV, ``.npz``) or ``builtin`` (``synthetic``, ``digits``, or a name from
    ``taskgroup datasets``). ``options`` are passed to a built-in generator. ``split`` gives the
    train/validation/test fractions.
    """

    path: str | None = None
    builtin: str | None = None
    features: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    standardize: bool = True
    origin: str | None = None
    """Set by taskgroup when the task set was given from Python (``data=``), e.g. ``TaskSet.from_arrays``."""


@dataclass
class TaskConfig:
    """One ``[[tasks]]`` entry. ``column`` defaults to the name, ``kind`` is inferred when absent."""

    name: str
    column: str | None = None
    kind: str | None = None
    metric: str | None = None
    head: str | None = None
    loss: str | None = None
    lower_is_better: bool | None = None


@dataclass
class ModelConfig:
    """``[model]``: the shared encoder and its size."""

    encoder: str = "auto"          # "mlp", "cnn", "auto", or "package.module:factory"
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    width: float = 1.0
    dropout: float = 0.0


@dataclass
class TrainConfig:
    """``[train]``: the full training of a network (compare step)."""

    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    weighting: str = "equal"           # equal | uncertainty | dwa | gradnorm
    sampling: str = "proportional"     # proportional | uniform | temperature
    temperature: float = 2.0
    schedule: str = "all"              # all | round_robin
    eval_every: int = 50
    patience: int = 8
    soft_sharing_penalty: float = 1e-2


@dataclass
class AnalyzeConfig:
    """``[analyze]``: the one-run measures and the pairwise probes."""

    measures: list[str] = field(default_factory=lambda: ["gradient_cosine", "lookahead", "transfer"])
    steps: int = 200
    batch_size: int = 64
    rows_per_task: int = 32
    lr: float = 3e-3
    every: int = 10
    window: int = 5
    phase: float = 0.5
    lookahead_lr: float = 1e-3
    chunk_size: int = 0
    probe_steps: int = 300
    probe_width: float = 0.5
    probe_seeds: int = 2
    probe_eval_every: int = 25
    probe_patience: int = 6
    exhaustive: bool = False


@dataclass
class GroupConfig:
    """``[group]``: how groupings are proposed and selected."""

    max_groups: int | None = None
    budget: float | None = None
    partition: bool = True
    measure: str = "auto"


@dataclass
class CompareConfig:
    """``[compare]``: which alternatives are trained, and over how many seeds."""

    seeds: int = 3
    random_groupings: int = 3
    alternatives: list[str] = field(default_factory=lambda: [
        "recommended", "candidates", "single_task", "all_in_one", "soft_sharing", "random"])


@dataclass
class Config:
    """A whole experiment; ``base_dir`` anchors relative paths."""

    data: DataConfig = field(default_factory=DataConfig)
    tasks: list[TaskConfig] = field(default_factory=list)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    group: GroupConfig = field(default_factory=GroupConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    seed: int = 0
    base_dir: str = "."
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("base_dir")
        d.pop("source")
        return d


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "train": TrainConfig,
    "analyze": AnalyzeConfig, "group": GroupConfig, "compare": CompareConfig,
}
TOP_LEVEL = ("seed", "tasks", *SECTIONS)
MAX_SEED = 2**32 - 1


def _shown(key: str) -> str:
    """A key as written, or its repr when it holds characters that would break a one-line message."""
    return key if key.isprintable() else repr(key)


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(options))}"


def _type_ok(value: Any, annotation: str) -> bool:
    ann = annotation.replace(" ", "")
    if value is None:
        return "None" in ann
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "list[int]": lambda v: isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v),
        "list[float]": lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v),
        "dict[str,Any]": lambda v: isinstance(v, dict),
    }
    return any(checks[a](value) for a in ann.split("|") if a in checks)


def _build(cls: type, raw: Any, where: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {where}.{_shown(key)}{_suggest(key, list(known))}")
        if not _type_ok(value, str(known[key].type)):
            raise ConfigError(f"{source}: {where}.{key} must be of type {known[key].type}, not {type(value).__name__} ({value!r})")
        if isinstance(value, int) and not isinstance(value, bool) and "float" in str(known[key].type) and "int" not in str(known[key].type):
            try:
                value = float(value)
            except OverflowError:
                raise ConfigError(f"{source}: {where}.{key} = {value} is too large") from None
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise ConfigError(f"{source}: {where}.{key} must be a finite number, not {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        missing = [f.name for f in fields(cls) if f.name not in kwargs]
        raise ConfigError(f"{source}: [{where}] is missing required key(s) {', '.join(missing)}") from exc


def _check_values(cfg: Config) -> None:
    src = cfg.source
    d = cfg.data
    if d.origin is None and (d.path is None) == (d.builtin is None):
        raise ConfigError(f"{src}: [data] needs exactly one of 'path' or 'builtin'")
    if d.origin is not None and (d.path is not None or d.builtin is not None):
        raise ConfigError(f"{src}: data.origin (a task set given from Python) excludes data.path and data.builtin")
    if len(d.split) != 3 or any(x < 0 for x in d.split) or abs(sum(d.split) - 1) > 1e-6 or d.split[1] <= 0 or d.split[2] <= 0:
        raise ConfigError(f"{src}: data.split must be three fractions (train, validation, test) above 0 that add up to 1")
    positive = {
        "train.steps": cfg.train.steps, "train.batch_size": cfg.train.batch_size, "train.lr": cfg.train.lr,
        "train.eval_every": cfg.train.eval_every, "train.patience": cfg.train.patience,
        "analyze.steps": cfg.analyze.steps, "analyze.rows_per_task": cfg.analyze.rows_per_task, "analyze.batch_size": cfg.analyze.batch_size, "analyze.lr": cfg.analyze.lr,
        "analyze.every": cfg.analyze.every, "analyze.phase": cfg.analyze.phase, "analyze.window": cfg.analyze.window, "analyze.probe_steps": cfg.analyze.probe_steps,
        "analyze.probe_width": cfg.analyze.probe_width, "analyze.probe_seeds": cfg.analyze.probe_seeds,
        "analyze.probe_eval_every": cfg.analyze.probe_eval_every, "analyze.probe_patience": cfg.analyze.probe_patience, "model.width": cfg.model.width,
        "compare.seeds": cfg.compare.seeds, "train.temperature": cfg.train.temperature,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{src}: {key} must be above 0, not {value}")
    choices = {
        "train.weighting": (cfg.train.weighting, ("equal", "uncertainty", "dwa", "gradnorm")),
        "train.sampling": (cfg.train.sampling, ("proportional", "uniform", "temperature")),
        "train.schedule": (cfg.train.schedule, ("all", "round_robin")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"{src}: {key} = {value!r} is not one of {', '.join(allowed)}{_suggest(value, list(allowed))}")
    known_measures = ("gradient_cosine", "lookahead", "transfer")
    for m in cfg.analyze.measures:
        if m not in known_measures:
            raise ConfigError(f"{src}: analyze.measures: unknown measure {m!r}{_suggest(m, list(known_measures))}")
    encoders = ("mlp", "cnn", "auto")
    if cfg.model.encoder not in encoders and ":" not in cfg.model.encoder:
        raise ConfigError(f"{src}: model.encoder = {cfg.model.encoder!r} is not one of {', '.join(encoders)} "
                          f"nor an import path 'package.module:factory'{_suggest(cfg.model.encoder, list(encoders))}")
    if any(h <= 0 for h in cfg.model.hidden) or not cfg.model.hidden:
        raise ConfigError(f"{src}: model.hidden must be a non-empty list of positive layer widths")
    if cfg.analyze.phase > 1:
        raise ConfigError(f"{src}: analyze.phase is a fraction of training and must be at most 1, not {cfg.analyze.phase}")
    if not 0 <= cfg.model.dropout < 1:
        raise ConfigError(f"{src}: model.dropout must be in [0, 1)")
    if cfg.group.max_groups is not None and cfg.group.max_groups < 1:
        raise ConfigError(f"{src}: group.max_groups must be at least 1")
    if cfg.group.budget is not None and cfg.group.budget <= 0:
        raise ConfigError(f"{src}: group.budget must be above 0")
    if cfg.compare.random_groupings < 0:
        raise ConfigError(f"{src}: compare.random_groupings must be 0 or more")
    names: set[str] = set()
    for t in cfg.tasks:
        if t.name in names:
            raise ConfigError(f"{src}: duplicate task name {t.name!r}")
        names.add(t.name)


def config_from_dict(raw: dict[str, Any], base_dir: str | Path = ".", source: str = "<config>") -> Config:
    """Validate a parsed TOML document into a :class:`Config`."""
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{source}: unknown key {key!r}{_suggest(key, list(TOP_LEVEL))}")
    if "data" not in raw:
        raise ConfigError(f"{source}: missing [data] section (give data.path or data.builtin)")
    sections = {name: _build(cls, raw.get(name, {}), name, source) for name, cls in SECTIONS.items()}
    tasks_raw = raw.get("tasks", [])
    if not isinstance(tasks_raw, list):
        raise ConfigError(f"{source}: 'tasks' must be an array of tables ([[tasks]])")
    tasks = [_build(TaskConfig, t, f"tasks[{i}]", source) for i, t in enumerate(tasks_raw)]
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{source}: seed must be an integer from 0 to {MAX_SEED}, not {seed!r}")
    cfg = Config(tasks=tasks, seed=seed, base_dir=str(base_dir), source=source, **sections)
    _check_values(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML experiment file; paths inside it are relative to its folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    except RecursionError:
        raise ConfigError(f"{p}: not valid TOML (arrays or tables nested too deeply)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    return config_from_dict(raw, base_dir=p.resolve().parent, source=str(p))
