"""Typed run documents: the JSON files of a run directory as dataclasses, validated on load.

Each document (``affinity.json``, ``groupings.json``, ``comparison.json``, ``models/index.json``,
``models/net-K.json`` and the run's ``manifest.json``) is a dataclass with ``to_json`` and
``from_json``. Loading checks every field's type from the dataclass annotations (a missing key, a
wrong type, a non-finite number) and then the document's own rules (a task that does not exist, an
empty group, a task left out, a matrix of the wrong shape); any failure is a one-line
:class:`~taskgroup.errors.RunDirError` naming the file and the field. Unknown keys are ignored, so
a field added by a later version does not break an older reader; a field is added to a document by
adding it to its dataclass with a default.

This module knows nothing of tasks, groupings or training: task names are strings, groups are
lists of strings, figures are floats. Schema versions: ``SCHEMA`` is what this version writes,
``READS`` the versions it understands; a file of another version is refused with a line saying to
rerun the step that writes it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

from ..errors import RunDirError

D = TypeVar("D", bound="Document")
Groups = list[list[str]]


class DocumentError(RunDirError):
    """A run document that cannot be used as it is (names the file and the field)."""


# -- the generic codec: dataclass annotations drive decoding ----------------------------------------

def _decode(tp: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) checked against the annotation ``tp``; ``where`` names the field."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _decode(inner[0], value, where)
        errors = []
        for a in inner:
            try:
                return _decode(a, value, where)
            except DocumentError as exc:
                errors.append(str(exc))
        raise DocumentError(errors[0])
    if value is None:
        raise DocumentError(f"{where}: is null, expected {_name(tp)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise DocumentError(f"{where}: expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DocumentError(f"{where}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DocumentError(f"{where}: expected a number, got {_show(value)}")
        if not math.isfinite(value):
            raise DocumentError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise DocumentError(f"{where}: expected a string, got {_show(value)}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise DocumentError(f"{where}: expected a list, got {_show(value)}")
        return [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _key, item = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise DocumentError(f"{where}: expected an object, got {_show(value)}")
        return {str(k): _decode(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _decode_record(tp, value, where)
    raise TypeError(f"documents: unsupported annotation {tp!r}")  # a programming error, not input


def _decode_record(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise DocumentError(f"{where}: expected an object, got {_show(value)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        sub = f"{where}.{f.name}" if not where.endswith(":") else f"{where} {f.name}"
        if f.name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DocumentError(f"{sub}: missing key")
            continue
        kwargs[f.name] = _decode(hints[f.name], value[f.name], sub)
    return cls(**kwargs)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value))
    if kind is None:
        kind = "a number" if isinstance(value, (int, float)) else type(value).__name__
    return f"{kind} {text[:40]}"


# -- shared checks ---------------------------------------------------------------------------------

def check_names(names: list[str], where: str) -> None:
    """Task names: at least one, each a non-empty string, no repeats."""
    if not names:
        raise DocumentError(f"{where}: lists no task")
    seen: set[str] = set()
    for n in names:
        if not n.strip():
            raise DocumentError(f"{where}: holds an empty task name")
        if n in seen:
            raise DocumentError(f"{where}: task {n!r} is listed twice")
        seen.add(n)


def check_groups(groups: Groups, tasks: list[str], where: str, cover: bool = True) -> None:
    """Groups name only known tasks, none empty, none twice in a group; with ``cover`` every task is in one."""
    if not groups:
        raise DocumentError(f"{where}: has no group")
    known = set(tasks)
    for i, g in enumerate(groups):
        if not g:
            raise DocumentError(f"{where}[{i}]: is an empty group")
        if len(set(g)) != len(g):
            raise DocumentError(f"{where}[{i}]: names a task twice")
        for t in g:
            if t not in known:
                raise DocumentError(f"{where}[{i}]: task {t!r} does not exist (tasks: {', '.join(tasks)})")
    if cover:
        covered = {t for g in groups for t in g}
        left = [t for t in tasks if t not in covered]
        if left:
            raise DocumentError(f"{where}: task {left[0]!r} is in no group")


def check_same_tasks(found: list[str], expected: list[str], where: str, source: str) -> None:
    """A document's tasks must be the run's tasks (a renamed, added or dropped task is refused)."""
    if list(found) == list(expected):
        return
    extra = [t for t in found if t not in expected]
    missing = [t for t in expected if t not in found]
    if extra:
        raise DocumentError(f"{where}: task {extra[0]!r} is not a task of {source} ({', '.join(expected)})")
    if missing:
        raise DocumentError(f"{where}: task {missing[0]!r} of {source} is missing")
    raise DocumentError(f"{where}: tasks are in another order than in {source}")


def _square(m: list[list[float | None]], n: int, where: str) -> None:
    if len(m) != n or any(len(row) != n for row in m):
        rows = len(m)
        raise DocumentError(f"{where}: must be {n} x {n} (one row and column per task), got {rows} rows")


# -- the document base -------------------------------------------------------------------------------

@dataclass
class Document:
    """Base of the run documents: schema handling, JSON round trip, file loading."""

    FILE: ClassVar[str] = ""
    SCHEMA: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset({1})
    STEP: ClassVar[str] = ""  # the command that writes the file (named in errors)

    def to_json(self) -> dict[str, Any]:
        """The document as plain JSON values (the current schema version first)."""
        out = _encode(self)
        out.pop("schema", None)
        return {"schema": self.SCHEMA, **out}

    @classmethod
    def from_json(cls: type[D], raw: Any, source: str | None = None) -> D:
        """Decode and validate ``raw``; errors name ``source`` (default: the file name) and the field."""
        where = source or cls.FILE
        if not isinstance(raw, dict):
            raise DocumentError(f"{where}: must hold a JSON object, got {_show(raw)}")
        schema = raw.get("schema", 1)
        if schema not in cls.READS:
            raise DocumentError(
                f"{where}: schema {schema!r} is not one this taskgroup reads ({', '.join(map(str, sorted(cls.READS)))}); "
                f"rerun 'taskgroup {cls.STEP}' to rewrite it")
        doc = _decode_record(cls, raw, f"{where}:")
        doc.validate(where)
        return doc

    def validate(self, where: str) -> None:
        """The document's own rules beyond field types (overridden)."""

    @classmethod
    def load(cls: type[D], path: str | Path, needed_by: str | None = None) -> D:
        """Read and validate the file at ``path``; a missing file names the step that writes it."""
        p = Path(path)
        if not p.is_file():
            if p.is_dir():
                raise DocumentError(f"{p}: is a folder, expected the file written by 'taskgroup {cls.STEP}'")
            hint = f" before '{needed_by}'" if needed_by else ""
            raise DocumentError(f"{p}: missing; run 'taskgroup {cls.STEP}'{hint}")
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise DocumentError(f"{p}: not UTF-8 text; rerun 'taskgroup {cls.STEP}' to rewrite it") from None
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg}); "
                                f"rerun 'taskgroup {cls.STEP}' to rewrite it") from None
        return cls.from_json(raw, str(p))


# -- affinity.json --------------------------------------------------------------------------------

@dataclass
class MeasureDoc:
    """One affinity measure: ``matrix[i][j]`` is the effect of source i on target j (null: not measured)."""

    matrix: list[list[float | None]]
    stderr: list[list[float | None]] | None = None
    snr: float | None = None
    informative: bool | None = None
    conflict_rate: list[list[float | None]] | None = None
    norm_ratio: list[list[float | None]] | None = None
    measurements: int | None = None


@dataclass
class SubsetScore:
    """A trained task subset (exhaustive analyze): per-task score and validation metric."""

    tasks: list[str]
    scores: dict[str, float | None]
    val: dict[str, float | None] = field(default_factory=dict)


@dataclass
class TaskInfo:
    """A task as a document records it: kind, metric and direction (rows per split in affinity.json;
    import paths of a custom head and loss in a saved network's metadata)."""

    name: str
    kind: str = ""
    metric: str = ""
    lower_is_better: bool = False
    n_classes: int | None = None
    head: str | None = None
    loss: str | None = None
    rows: dict[str, int] | None = None


@dataclass
class DataInfo:
    """The data a document was made from: its content fingerprint (inputs, targets, masks, splits)."""

    fingerprint: str = ""
    name: str = ""
    source: str = ""
    split: Any = None
    split_hash: str = ""


@dataclass
class MeasureSamples:
    """The raw measurements behind one measure, which the group step resamples (stability).

    ``runs[r][k]`` is measurement k of run r, an N x N matrix like ``MeasureDoc.matrix``: a joint
    run at one seed and one of its measured windows, or the probes with one matrix per probe seed.
    """

    runs: list[list[list[list[float | None]]]]


@dataclass
class AffinityDoc(Document):
    """``affinity.json``: the measured affinities between tasks."""

    FILE: ClassVar[str] = "affinity.json"
    STEP: ClassVar[str] = "analyze"

    tasks: list[str] = field(default_factory=list)
    measures: dict[str, MeasureDoc] = field(default_factory=dict)
    agreement: dict[str, float | None] = field(default_factory=dict)
    task_info: list[TaskInfo] = field(default_factory=list)
    data: DataInfo = field(default_factory=DataInfo)
    subsets: list[SubsetScore] | None = None
    measured_groups: list[SubsetScore] | None = None  # calibration probes: groups of 3+ tasks
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    samples: dict[str, MeasureSamples] = field(default_factory=dict)  # absent before stability

    def validate(self, where: str) -> None:
        check_names(self.tasks, f"{where}: tasks")
        n = len(self.tasks)
        for name, m in self.measures.items():
            _square(m.matrix, n, f"{where}: measures.{name}.matrix")
            for key in ("stderr", "conflict_rate", "norm_ratio"):
                extra = getattr(m, key)
                if extra is not None:
                    _square(extra, n, f"{where}: measures.{name}.{key}")
        for name, sampled in self.samples.items():
            if name not in self.measures:
                raise DocumentError(f"{where}: samples.{name}: is not a measure of this document")
            for r, run in enumerate(sampled.runs):
                for k, matrix in enumerate(run):
                    _square(matrix, n, f"{where}: samples.{name}.runs[{r}][{k}]")
        known = set(self.tasks)
        for i, info in enumerate(self.task_info):
            if info.name not in known:
                raise DocumentError(f"{where}: task_info[{i}].name: task {info.name!r} is not in tasks ({', '.join(self.tasks)})")
        for part in ("subsets", "measured_groups"):
            for i, s in enumerate(getattr(self, part) or []):
                for t in [*s.tasks, *s.scores]:
                    if t not in known:
                        raise DocumentError(f"{where}: {part}[{i}]: task {t!r} is not in tasks ({', '.join(self.tasks)})")


# -- groupings.json -------------------------------------------------------------------------------

@dataclass
class GroupingDoc:
    """One proposed grouping: its groups and who proposed it, with its predicted score."""

    groups: Groups
    method: str = ""
    name: str | None = None
    proposed_by: list[str] = field(default_factory=list)
    k: int | None = None
    measure: str | None = None
    cost: float | None = None
    assignment: dict[str, int] | None = None
    predicted: float | None = None
    predicted_stderr: float | None = None
    reason: str | None = None
    chosen_on_validation: bool | None = None


@dataclass
class CalibrationDoc:
    """The calibrated group scores (``taskgroup.grouping.calibration``): what ``auto`` uses and why,
    held-out agreement with the measured group gains, and each measure's weight in the predictor."""

    groups: int = 0
    measures: list[str] = field(default_factory=list)
    choice: str | None = None  # "calibrated", a measure, or null: the fixed order decides
    used: str | None = None    # the score source group used (the choice, or what the order picked)
    reason: str = ""
    form: str | None = None
    cv_spearman: float | None = None
    cv_r2: float | None = None
    raw_spearman: dict[str, float] = field(default_factory=dict)
    raw_r2: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    trusted: str | None = None


@dataclass
class ResampledGrouping:
    """What the group step proposed from one resample of the affinity measurements."""

    recommended: Groups
    candidates: list[Groups] = field(default_factory=list)


@dataclass
class StabilityDoc:
    """How the grouping moves under resampling of the affinity measurements (``groupings.json["stability"]``).

    ``co_assignment[i][j]``: the share of resamples whose recommended grouping puts tasks i and j in
    one group; ``reproduced``: the share whose recommended grouping equals the recommendation made
    from all measurements; ``partitions``: each resample's proposals, from which compare tells how
    often the final (verified) grouping is reproduced. ``resamples`` 0 means off (``reason`` says why).
    """

    resamples: int
    method: str = ""
    runs: dict[str, int] = field(default_factory=dict)
    co_assignment: list[list[float]] | None = None
    reproduced: float | None = None
    partitions: list[ResampledGrouping] = field(default_factory=list)
    reason: str | None = None


@dataclass
class GroupingsDoc(Document):
    """``groupings.json``: the recommended grouping and the other candidates."""

    FILE: ClassVar[str] = "groupings.json"
    STEP: ClassVar[str] = "group"

    tasks: list[str] = field(default_factory=list)
    recommended: GroupingDoc = field(default_factory=lambda: GroupingDoc(groups=[]))
    candidates: list[GroupingDoc] = field(default_factory=list)
    linkage: dict[str, Any] | None = None
    selection: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    calibration: CalibrationDoc | None = None
    stability: StabilityDoc | None = None   # absent in documents written before stability

    @property
    def partition(self) -> bool:
        """Whether every grouping must put each task in exactly one group."""
        return bool(self.settings.get("partition", True))

    def validate(self, where: str) -> None:
        check_names(self.tasks, f"{where}: tasks")
        check_groups(self.recommended.groups, self.tasks, f"{where}: recommended.groups")
        for i, c in enumerate(self.candidates):
            check_groups(c.groups, self.tasks, f"{where}: candidates[{i}].groups")
        st = self.stability
        if st is not None:
            if st.co_assignment is not None:
                _square(st.co_assignment, len(self.tasks), f"{where}: stability.co_assignment")
            for i, p in enumerate(st.partitions):
                check_groups(p.recommended, self.tasks, f"{where}: stability.partitions[{i}].recommended",
                             cover=self.partition)
                for j, c in enumerate(p.candidates):
                    check_groups(c, self.tasks, f"{where}: stability.partitions[{i}].candidates[{j}]",
                                 cover=self.partition)


# -- comparison.json ------------------------------------------------------------------------------

@dataclass
class TaskResult:
    """One task's test metric in one alternative, over the seeds (and its validation mean)."""

    metric: str
    mean: float | None
    std: float | None = None
    lower_is_better: bool = False
    values: list[float | None] = field(default_factory=list)
    val_mean: float | None = None
    change: float | None = None


@dataclass
class AlternativeResult:
    """One compared alternative: its groups, per-task metrics, Delta_m on test and validation, costs."""

    name: str
    groups: Groups
    per_task: dict[str, TaskResult]
    delta_m: float | None
    delta_m_std: float | None = None
    delta_m_values: list[float | None] = field(default_factory=list)
    delta_m_val: float | None = None
    delta_m_val_std: float | None = None
    delta_m_val_values: list[float | None] = field(default_factory=list)
    delta_m_select: float | None = None
    delta_m_select_values: list[float | None] = field(default_factory=list)
    delta_m_estimate: float | None = None
    delta_m_estimate_values: list[float | None] = field(default_factory=list)
    params: int = 0
    inference_cost: float = 0.0
    train_seconds: float = 0.0
    method: str | None = None
    family: str | None = None
    sharing: str = "hard"
    weighting: str = "equal"
    width: float = 1.0


@dataclass
class Verdict:
    """Should the tasks share networks: the decision, a summary sentence, the figures behind it.

    ``decision`` is ``share_for_accuracy``, ``share_for_cost``, ``train_separately`` or
    ``inconclusive``; ``interval`` the paired interval of Delta_m on the estimate rows; ``train`` the
    networks to train (the groups, or one per task).
    """

    use_mtl: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    reason: str | None = None
    alternative: str | None = None
    groups: list[list[str]] = field(default_factory=list)
    train: list[list[str]] = field(default_factory=list)
    interval: dict[str, Any] | None = None
    margin: float | None = None
    cost: dict[str, Any] | None = None
    cost_ratio: float | None = None
    seeds_needed: int | None = None
    negative_transfer: dict[str, Any] | None = None


@dataclass
class SavedNetworkRef:
    """A network of the delivered grouping: its tasks and its unit key in the store."""

    tasks: list[str]
    key: str


@dataclass
class ModelsRef:
    """Which alternative and seed ``models/`` holds."""

    alternative: str
    seed: int
    networks: list[SavedNetworkRef]
    decision: str | None = None


@dataclass
class BudgetPoint:
    """One point of the cost/quality curve."""

    name: str
    inference_cost: float
    delta_m: float | None
    delta_m_std: float | None = None
    networks: int = 0


@dataclass
class FinalStability:
    """How often propose-then-verify ends at the final grouping under the group step's resamples.

    In each resample the verified answer is the best trained grouping among those the resample
    proposed and the baselines; ``reproduced`` is the share of resamples where that answer is the
    final grouping, ``co_assignment`` how often each pair of tasks shares a group in those answers,
    ``untrained`` the share of resamples whose recommended grouping no network was trained for.
    """

    resamples: int
    reproduced: float
    co_assignment: list[list[float]]
    untrained: float = 0.0


@dataclass
class FinalChoice:
    """The final recommendation: the eligible trained grouping best on the select part of validation."""

    groups: Groups
    name: str
    proposed_by: list[str] = field(default_factory=list)
    selection_score: float | None = None
    delta_m_val: float | None = None
    delta_m_test: float | None = None
    interval: list[float] | None = None   # over seeds (validation); the estimate part's when decided on it
    delta_m_estimate: float | None = None
    decision: str | None = None
    considered: list[str] = field(default_factory=list)
    stability: FinalStability | None = None   # absent without groupings.json["stability"]


@dataclass
class HalvingRound:
    """One round of successive halving: its step budget, every contestant's score on the select
    part of validation, the contestants kept, and how many networks it trained (not reused)."""

    steps: int
    scores: dict[str, float]
    kept: list[str]
    networks_trained: int = 0
    seconds: float = 0.0              # wall seconds the round's training took


@dataclass
class HalvingRecord:
    """What successive halving did in compare (``comparison/halving.py``)."""

    budgets: list[int]
    min_steps: int
    candidates: list[str]
    full_budget: list[str]
    rounds: list[HalvingRound] = field(default_factory=list)
    full_budget_networks_trained: int = 0
    longer_budget: str = "continue"
    controls_seconds: float = 0.0     # wall seconds of the networks trained at the full budget first
    full_budget_seconds: float = 0.0  # wall seconds of the survivors' networks at the full budget


@dataclass
class ComparisonDoc(Document):
    """``comparison.json``: every alternative measured over the seeds, and the verdict."""

    FILE: ClassVar[str] = "comparison.json"
    STEP: ClassVar[str] = "compare"

    tasks: list[str] = field(default_factory=list)
    data: DataInfo = field(default_factory=DataInfo)
    alternatives: list[AlternativeResult] = field(default_factory=list)
    verdict: Verdict = field(default_factory=lambda: Verdict(use_mtl=False, summary=""))
    seeds: list[int] = field(default_factory=list)
    budget_curve: list[BudgetPoint] = field(default_factory=list)
    models: ModelsRef | None = None
    delta_m_basis: dict[str, Any] = field(default_factory=dict)
    final: FinalChoice | None = None   # absent in documents written before the final recommendation
    halving: HalvingRecord | None = None   # absent without successive halving

    def alternative(self, name: str) -> AlternativeResult | None:
        """The alternative called ``name``, or None."""
        return next((a for a in self.alternatives if a.name == name), None)

    @property
    def recommended(self) -> AlternativeResult:
        """The alternative named ``recommended`` (validated to exist)."""
        rec = self.alternative("recommended")
        assert rec is not None  # validate() guarantees it
        return rec

    def validate(self, where: str) -> None:
        check_names(self.tasks, f"{where}: tasks")
        seen: set[str] = set()
        for i, a in enumerate(self.alternatives):
            if a.name in seen:
                raise DocumentError(f"{where}: alternatives[{i}].name: {a.name!r} appears twice")
            seen.add(a.name)
            check_groups(a.groups, self.tasks, f"{where}: alternatives[{i}].groups")
            for t in self.tasks:
                if t not in a.per_task:
                    raise DocumentError(f"{where}: alternatives[{i}].per_task: task {t!r} is missing")
            for t in a.per_task:
                if t not in self.tasks:
                    raise DocumentError(f"{where}: alternatives[{i}].per_task: task {t!r} is not in tasks")
        if "recommended" not in seen:
            raise DocumentError(f"{where}: alternatives: no alternative named 'recommended'")
        if self.final is not None:
            check_groups(self.final.groups, self.tasks, f"{where}: final.groups")
            if self.final.stability is not None:
                _square(self.final.stability.co_assignment, len(self.tasks), f"{where}: final.stability.co_assignment")
            if self.final.name not in seen:
                raise DocumentError(f"{where}: final.name: {self.final.name!r} is not an alternative")
        if self.models is not None:
            for i, net in enumerate(self.models.networks):
                check_groups([net.tasks], self.tasks, f"{where}: models.networks[{i}].tasks", cover=False)


# -- models/index.json and models/net-K.json -------------------------------------------------------

@dataclass
class FeatureScaling:
    """The per-feature standardisation the data loader applied to training inputs."""

    mean: list[Any]  # one number per feature, or nested per channel/pixel for images
    std: list[Any]
    per: str = "feature"
    rows: str = "train"


@dataclass
class ModelsIndex(Document):
    """``models/index.json``: which saved network serves each task, and the feature layout."""

    FILE: ClassVar[str] = "models/index.json"
    STEP: ClassVar[str] = "compare"

    tasks: list[str] = field(default_factory=list)
    routes: dict[str, int] = field(default_factory=dict)
    networks: int = 0
    feature_names: list[str] = field(default_factory=list)
    feature_scaling: FeatureScaling | None = None

    def validate(self, where: str) -> None:
        check_names(self.tasks, f"{where}: tasks")
        if self.networks < 1:
            raise DocumentError(f"{where}: networks: must be at least 1, got {self.networks}")
        for t in self.tasks:
            if t not in self.routes:
                raise DocumentError(f"{where}: routes: task {t!r} has no network")
        for t, k in self.routes.items():
            if t not in self.tasks:
                raise DocumentError(f"{where}: routes: task {t!r} is not in tasks")
            if not 0 <= k < self.networks:
                raise DocumentError(f"{where}: routes.{t}: network {k} does not exist ({self.networks} saved)")
        s = self.feature_scaling
        if s is not None:
            import numpy as np

            try:
                mean, std = np.asarray(s.mean, dtype=float), np.asarray(s.std, dtype=float)
            except (TypeError, ValueError):
                raise DocumentError(f"{where}: feature_scaling: mean and std must be (nested lists of) numbers") from None
            n = len(self.feature_names)
            if n and mean.ndim == 1 and (mean.shape != (n,) or std.shape != (n,)):
                raise DocumentError(f"{where}: feature_scaling: needs {n} means and stds, one per feature")
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
                raise DocumentError(f"{where}: feature_scaling: means must be finite and stds positive")


@dataclass
class NetworkMeta(Document):
    """``models/net-K.json``: a saved network's tasks, architecture, input shape and target scaling."""

    FILE: ClassVar[str] = "models/net-K.json"
    STEP: ClassVar[str] = "compare"

    tasks: list[TaskInfo] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    input_shape: list[int] = field(default_factory=list)
    target_mean: dict[str, float] = field(default_factory=dict)
    target_std: dict[str, float] = field(default_factory=dict)
    classes: dict[str, list[Any]] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        if not self.tasks:
            raise DocumentError(f"{where}: tasks: lists no task")
        for i, t in enumerate(self.tasks):
            if not t.kind:
                raise DocumentError(f"{where}: tasks[{i}].kind: missing (the task {t.name!r} needs its kind)")
        if not self.input_shape or any(d < 1 for d in self.input_shape):
            raise DocumentError(f"{where}: input_shape: must be positive sizes, got {self.input_shape}")
        for t in self.tasks:
            if t.kind == "regression" and (t.name not in self.target_mean or t.name not in self.target_std):
                raise DocumentError(f"{where}: target_mean: task {t.name!r} has no target scaling")


# -- manifest.json: what taskgroup owns in a run directory, and what each output was made from -----

@dataclass
class OutputRecord:
    """One output of a step: the hashes of the inputs it was made from and of its own content."""

    step: str
    inputs: dict[str, str] = field(default_factory=dict)
    content: str = ""


@dataclass
class Manifest(Document):
    """``manifest.json``: the files and folders taskgroup created in this run directory, with provenance.

    Only the paths listed in ``owned`` are ever written or removed by taskgroup. ``outputs`` maps an
    output (``affinity.json``, ``report.html``...) to the inputs it was made from; when an input's
    current hash differs, the output is stale.
    """

    FILE: ClassVar[str] = "manifest.json"
    STEP: ClassVar[str] = "run"

    tool: str = "taskgroup"
    owned: list[str] = field(default_factory=list)
    outputs: dict[str, OutputRecord] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        if self.tool != "taskgroup":
            raise DocumentError(f"{where}: tool: {self.tool!r} is not taskgroup; this folder belongs to another tool")
        for p in self.owned:
            if p.startswith("/") or ".." in Path(p).parts or not p:
                raise DocumentError(f"{where}: owned: {p!r} is not a path inside the run directory")
