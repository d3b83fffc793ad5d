"""Experiment configuration: dataclasses that validate themselves, and the TOML file that fills them.

Every section checks its values when it is constructed (``__post_init__``), so a :class:`Config`
built in Python is as valid as one read from a file: a wrong type or an impossible value is a
one-line :class:`ConfigError` naming the key. The TOML loader adds what is about the file: unknown
keys refused with the closest known key suggested, the file's name in every message, and paths in
the file taken relative to the file. Method names (weightings, samplings, schedules, measures,
encoders) are read from their registries.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .affinity.measures import JOINT, MEASURES, REQUESTABLE
from .errors import ConfigError
from .registry import suggestion
from .runtime.device import check_device_name
from .training.encoders import check_encoder_spec
from .training.sampling import SAMPLINGS, SCHEDULES
from .training.weighting import WEIGHTINGS


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


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r} is not one of {', '.join(allowed)}{suggestion(value, allowed)}")


def _at_least_zero(key: str, value: int) -> None:
    if value < 0:
        raise ConfigError(f"{key} must be 0 or more, not {value}")


class _Section:
    """A configuration section that checks its own values when constructed.

    ``section`` names it in messages (``train.steps must be above 0, not 0``); every field is checked
    against its annotation and for finite numbers, then :meth:`check` tests the values.
    """

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            key = self._key(f.name)
            if not _type_ok(value, str(f.type)):
                raise ConfigError(f"{key} must be of type {f.type}, not {type(value).__name__} ({value!r})")
            if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
                raise ConfigError(f"{key} must be a finite number, not {value!r}")
        self.check()

    def _key(self, name: str) -> str:
        return f"{self.section}.{name}"

    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if not value > 0:
                raise ConfigError(f"{self._key(name)} must be above 0, not {value}")

    def check(self) -> None:
        """Raise a one-line :class:`ConfigError` naming the field when a value is impossible."""


#: train/validation/test fractions when ``data.split`` is not given
DEFAULT_SPLIT = (0.6, 0.2, 0.2)
#: target cells that mean "no label" (compared case-insensitively, surrounding spaces ignored)
MISSING_LABELS = ("NA", "N/A", "nan", "NaN", "null", "None", "?")


@dataclass
class DataConfig(_Section):
    """``[data]``: where the rows come from.

    One of ``path`` (CSV, ``.npz``) or ``builtin`` (``synthetic``, ``digits``, or a name from
    ``taskgroup datasets``); neither when the task set is given from Python (``data=``). ``options``
    are passed to a built-in generator. ``split`` gives the train/validation/test fractions of the
    rows, or of the groups when ``groups`` names a column whose rows must stay together (subject,
    patient, site); ``split_column`` names a column holding the user's own split (``train``,
    ``val``/``validation``, ``test``) instead. ``missing`` lists the target cells that mean "no
    label" (default :data:`MISSING_LABELS`; case and surrounding spaces ignored).
    """

    section: ClassVar[str] = "data"
    path: str | None = None
    builtin: str | None = None
    features: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    split: list[float] = field(default_factory=lambda: list(DEFAULT_SPLIT))
    standardize: bool = True
    origin: str | None = None
    """Set by taskgroup when the task set was given from Python (``data=``), e.g. ``TaskSet.from_arrays``."""
    groups: str | None = None
    split_column: str | None = None
    missing: list[str] | None = None

    def check(self) -> None:
        if self.path is not None and self.builtin is not None:
            raise ConfigError("[data] needs exactly one of 'path' or 'builtin', not both")
        if self.origin is not None and (self.path is not None or self.builtin is not None):
            raise ConfigError("data.origin (a task set given from Python) excludes data.path and data.builtin")
        sp = self.split
        if len(sp) != 3 or any(x < 0 for x in sp) or abs(sum(sp) - 1) > 1e-6 or sp[1] <= 0 or sp[2] <= 0:
            raise ConfigError("data.split must be three fractions (train, validation, test) above 0 that add up to 1")
        if self.split_column is not None and self.groups is not None:
            raise ConfigError("data.split_column and data.groups cannot both apply: the column gives the split "
                              "itself; keep one")
        if self.split_column is not None and [float(x) for x in sp] != list(DEFAULT_SPLIT):
            raise ConfigError("data.split_column and data.split cannot both apply: the column gives the split "
                              "itself; remove data.split")
        for key in ("groups", "split_column"):
            value = getattr(self, key)
            if value is not None and not value.strip():
                raise ConfigError(f"data.{key} must name a column of the table, not {value!r}")


@dataclass
class TaskConfig(_Section):
    """One ``[[tasks]]`` entry. ``column`` defaults to the name, ``kind`` is inferred when absent."""

    section: ClassVar[str] = "tasks"
    name: str
    column: str | None = None
    kind: str | None = None
    metric: str | None = None
    head: str | None = None
    loss: str | None = None
    lower_is_better: bool | None = None
    expression: str | None = None
    """A derived target computed from the table's columns, e.g. ``"age > 65"`` (see :mod:`taskgroup.data.expression`)."""

    @property
    def source_column(self) -> str:
        """The column (or array) that holds the task's targets."""
        return self.column or self.name

    def _key(self, name: str) -> str:
        return f"task {self.name!r}: {name}" if isinstance(self.name, str) else f"tasks.{name}"


@dataclass
class ModelConfig(_Section):
    """``[model]``: the shared encoder and its size."""

    section: ClassVar[str] = "model"
    encoder: str = "auto"          # a name from ENCODERS, "auto", or "package.module:factory"
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    width: float = 1.0
    dropout: float = 0.0

    def check(self) -> None:
        check_encoder_spec(self.encoder, "model.encoder")
        if not self.hidden or any(h <= 0 for h in self.hidden):
            raise ConfigError("model.hidden must be a non-empty list of positive layer widths")
        self._positive("width")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), not {self.dropout}")


@dataclass
class TrainConfig(_Section):
    """``[train]``: the full training of a network (compare step)."""

    section: ClassVar[str] = "train"
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    weighting: str = "equal"           # a name from WEIGHTINGS
    sampling: str = "uniform"          # a name from SAMPLINGS; uniform: every task batch_size rows per step
    temperature: float = 2.0
    schedule: str = "all"              # a name from SCHEDULES
    eval_every: int = 50
    patience: int = 8
    soft_sharing_penalty: float = 1e-2
    device: str = "auto"               # auto | cpu | cuda | cuda:N | mps (--device overrides)

    def check(self) -> None:
        self._positive("steps", "batch_size", "lr", "eval_every", "patience", "temperature")
        self.device = check_device_name(self.device, "train.device")
        WEIGHTINGS.check(self.weighting, "train.weighting")
        SAMPLINGS.check(self.sampling, "train.sampling")
        SCHEDULES.check(self.schedule, "train.schedule")


@dataclass
class AnalyzeConfig(_Section):
    """``[analyze]``: the one-run measures and the pairwise probes."""

    section: ClassVar[str] = "analyze"
    measures: list[str] = field(default_factory=lambda: ["gradient_cosine", "lookahead", "transfer"])
    steps: int = 200
    batch_size: int = 64
    rows_per_task: int = 32
    lr: float = 1e-3
    every: int = 10
    window: int = 5
    phase: float = 0.5
    chunk_size: int = 0
    probe_steps: int = 300
    probe_width: float = 0.5
    probe_seeds: int = 2
    probe_eval_every: int = 25
    probe_patience: int = 6
    exhaustive: bool = False
    pairs: str = "auto"                # auto | all | none: pairwise probes (auto: all up to 30 tasks, none above)
    calibration_groups: int = 10       # seeded groups of 3+ tasks probed with the pairs (grouping.calibration)

    stability_runs: int = 2            # extra joint runs at other seeds, resampled for stability

    def check(self) -> None:
        _one_of("analyze.pairs", self.pairs, ("auto", "all", "none"))
        _at_least_zero("analyze.stability_runs", self.stability_runs)
        if self.calibration_groups < 0:
            raise ConfigError(f"analyze.calibration_groups must be at least 0, not {self.calibration_groups}")
        self._positive("steps", "rows_per_task", "batch_size", "lr", "every", "phase", "window", "probe_steps",
                       "probe_width", "probe_seeds", "probe_eval_every", "probe_patience")
        for m in self.measures:
            if m not in REQUESTABLE:
                raise ConfigError(f"analyze.measures: unknown measure {m!r}{suggestion(m, REQUESTABLE)}")
        if self.phase > 1:
            raise ConfigError(f"analyze.phase is a fraction of training and must be at most 1, not {self.phase}")
        if any(MEASURES[m].target == JOINT for m in self.measures):
            self.check_windows()

    @property
    def window_steps(self) -> int:
        """Steps in one measurement window of the joint run."""
        return max(1, min(self.window, self.every))

    def check_windows(self) -> None:
        """The joint run must complete at least one measurement window within its measured phase."""
        measured = int(self.steps * self.phase)
        if measured < self.window_steps:
            raise ConfigError(f"analyze: no measurement window of {self.window_steps} steps fits in the measured "
                              f"{measured} steps (analyze.steps x analyze.phase); raise analyze.steps or "
                              "analyze.phase, or lower analyze.window")


@dataclass
class GroupConfig(_Section):
    """``[group]``: how groupings are proposed and selected."""

    section: ClassVar[str] = "group"
    max_groups: int | None = None
    budget: float | None = None
    partition: bool = True
    measure: str = "auto"
    stability_resamples: int = 20      # resampled affinities the grouping is redone from (0: off)

    def check(self) -> None:
        _at_least_zero("group.stability_resamples", self.stability_resamples)
        if self.measure not in GROUP_MEASURES:
            raise ConfigError(f"group.measure: unknown score source {self.measure!r} (choose from "
                              f"{', '.join(GROUP_MEASURES)}){suggestion(self.measure, GROUP_MEASURES)}")
        if self.max_groups is not None and self.max_groups < 1:
            raise ConfigError(f"group.max_groups must be at least 1, not {self.max_groups}")
        if self.budget is not None and self.budget <= 0:
            raise ConfigError(f"group.budget must be above 0, not {self.budget}")


#: score sources ``group`` accepts: the measured subsets or one affinity measure
GROUP_MEASURES: tuple[str, ...] = ("auto", "subsets", "calibrated", *MEASURES)
#: the families of alternatives compare trains (the recommended grouping and single-task always)
ALTERNATIVES = ("recommended", "candidates", "single_task", "all_in_one", "soft_sharing", "random")


@dataclass
class CompareConfig(_Section):
    """``[compare]``: which alternatives are trained, and over how many seeds."""

    section: ClassVar[str] = "compare"
    seeds: int = 3
    random_groupings: int = 3
    alternatives: list[str] = field(default_factory=lambda: [
        "recommended", "candidates", "single_task", "all_in_one", "soft_sharing", "random"])
    equivalence_margin: float = 1.0
    """Delta_m points within which sharing counts as equal accuracy (two one-sided tests)."""
    scope: str = "auto"                # auto | full | bounded (auto: bounded above 30 tasks; taskgroup.scaling)
    halving: bool = True               # successive halving over the candidate groupings (comparison/halving.py)
    min_steps: int = 250               # the shortest step budget of a halving round

    def check(self) -> None:
        self._positive("seeds", "min_steps")
        self._positive("equivalence_margin")
        for name in self.alternatives:
            if name not in ALTERNATIVES:
                raise ConfigError(f"compare.alternatives: unknown alternative {name!r} (choose from "
                                  f"{', '.join(ALTERNATIVES)}){suggestion(name, ALTERNATIVES)}")
        _one_of("compare.scope", self.scope, ("auto", "full", "bounded"))
        if self.random_groupings < 0:
            raise ConfigError(f"compare.random_groupings must be 0 or more, not {self.random_groupings}")


@dataclass
class TrackConfig(_Section):
    """``[track]``: where a finished ``run`` is logged; ``mlflow`` is a tracking URI (``""``: ``./mlruns``)."""

    section: ClassVar[str] = "track"
    mlflow: str | None = None


MAX_SEED = 2**32 - 1


@dataclass
class Config:
    """A whole experiment, valid once constructed; ``base_dir`` anchors relative paths."""

    data: DataConfig = field(default_factory=DataConfig)
    tasks: list[TaskConfig] = field(default_factory=list)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    group: GroupConfig = field(default_factory=GroupConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    seed: int = 0
    base_dir: str = "."
    source: str = "<config>"

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"[{name}] must be a {cls.__name__}, not {type(getattr(self, name)).__name__}")
        if not isinstance(self.tasks, list) or not all(isinstance(t, TaskConfig) for t in self.tasks):
            raise ConfigError("tasks must be a list of TaskConfig")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}, not {self.seed!r}")
        names: set[str] = set()
        for t in self.tasks:
            if t.name in names:
                raise ConfigError(f"duplicate task name {t.name!r}")
            names.add(t.name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("base_dir")
        d.pop("source")
        return d


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "train": TrainConfig,
    "analyze": AnalyzeConfig, "group": GroupConfig, "compare": CompareConfig, "track": TrackConfig,
}
TOP_LEVEL = ("seed", "tasks", *SECTIONS)


def _build(cls: type, raw: Any, where: str, source: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown key {where}.{_shown(key)}{_suggest(key, list(known))}")
        if isinstance(value, int) and not isinstance(value, bool) and "float" in str(known[key].type) and "int" not in str(known[key].type):
            try:
                value = float(value)
            except OverflowError:
                raise ConfigError(f"{source}: {where}.{key} = {value} is too large") from None
        kwargs[key] = value
    missing = [f.name for f in fields(cls) if f.name not in kwargs and f.default is MISSING
               and f.default_factory is MISSING]
    if missing:
        raise ConfigError(f"{source}: [{where}] is missing required key(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        message = str(exc)
        if cls is TaskConfig:  # name the entry as it stands in the file: tasks[2].kind
            prefix = f"task {kwargs['name']!r}: "
            message = f"{where}.{message[len(prefix):]}" if message.startswith(prefix) else f"{where}: {message}"
        raise ConfigError(f"{source}: {message}") from None


def config_from_dict(raw: dict[str, Any], base_dir: str | Path = ".", source: str = "<config>") -> Config:
    """Validate a parsed TOML document into a :class:`Config`."""
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{source}: unknown key {key!r}{_suggest(key, list(TOP_LEVEL))}")
    if "data" not in raw:
        raise ConfigError(f"{source}: missing [data] section (give data.path or data.builtin)")
    sections = {name: _build(cls, raw.get(name, {}), name, source) for name, cls in SECTIONS.items()}
    if sections["data"].path is None and sections["data"].builtin is None and sections["data"].origin is None:
        raise ConfigError(f"{source}: [data] needs exactly one of 'path' or 'builtin'")
    tasks_raw = raw.get("tasks", [])
    if not isinstance(tasks_raw, list):
        raise ConfigError(f"{source}: 'tasks' must be an array of tables ([[tasks]])")
    tasks = [_build(TaskConfig, t, f"tasks[{i}]", source) for i, t in enumerate(tasks_raw)]
    try:
        return Config(tasks=tasks, seed=raw.get("seed", 0), base_dir=str(base_dir), source=source, **sections)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
