"""The run directory: its lock, its store, its resolved config, and the JSON files each step writes.

A run directory belongs to one configuration: its hash is bound in the store on first use, and a
different configuration is refused unless ``force`` is given. One process at a time holds the
directory's lock (:func:`locked` is re-entrant within a process, so ``run`` holds it across its
steps); JSON files are written atomically, and only into paths taskgroup owns
(:mod:`taskgroup.runtime.ownership`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .atomic import remove_stale_temps, write_json, write_text
from .documents import D, AffinityDoc, Document
from ..config import Config, config_from_dict
from ..errors import ConfigError, RunDirError
from . import ownership
from .hashing import content_hash
from .store import RunLock, RunStore

STORE = "store.sqlite"
CONFIG = "config.toml"
FILES = ("affinity.json", "groupings.json", "comparison.json")


def config_hash(cfg: Config, data_fingerprint: str) -> str:
    """What binds a run directory: the resolved configuration and the data it reads (tracking aside)."""
    return content_hash({"config": _bound(cfg.to_dict()), "data": data_fingerprint})


def _bound(d: dict[str, Any]) -> dict[str, Any]:
    """The parts of a configuration that results depend on: not where they are tracked, nor the
    device they compute on (a run may move between devices)."""
    out = {k: v for k, v in d.items() if k != "track"}
    if isinstance(out.get("train"), dict):
        out["train"] = {k: v for k, v in out["train"].items() if k != "device"}
    return out


def _differences(d: Path, cfg: Config, data_fingerprint: str) -> str:
    """The keys in which ``cfg`` differs from the configuration saved in ``d``, for the refusal message."""
    try:
        old = _bound(load_run_config(d).to_dict())
    except Exception:  # an unreadable or foreign config.toml: nothing to compare with
        return "its saved config.toml cannot be compared"
    keys = changed_keys(old, _bound(cfg.to_dict()))
    try:
        affinity = read_optional(d, AffinityDoc)
        recorded = affinity.data.fingerprint or None if affinity is not None else None
    except RunDirError:
        recorded = None
    if recorded is not None and recorded != data_fingerprint:
        keys.append("the data (other content)")
    if not keys:
        return "other data or settings"
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return f"changed: {shown}"


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts (``train.steps``, ``tasks``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            out += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


_HELD: dict[Path, RunLock] = {}


@contextmanager
def locked(directory: str | Path, wait: float = 0.0) -> Iterator[None]:
    """Hold ``directory``'s lock; re-entrant within this process (``run`` holds it across its steps)."""
    d = Path(directory)
    key = d.resolve()
    if key in _HELD:
        yield
        return
    with RunLock(d, wait=wait) as lock:
        _HELD[key] = lock
        try:
            yield
        finally:
            _HELD.pop(key, None)


def prepare_out(directory: str | Path) -> Path:
    """Check that ``directory`` may become (or already is) a run directory, and create it."""
    d = ownership.check_out(directory)
    d.mkdir(parents=True, exist_ok=True)
    if not ownership.manifest_path(d).exists():
        ownership.save(d, ownership.load(d))  # a new run directory, or one of the previous version adopted
    return d


@contextmanager
def open_run(directory: str | Path, cfg: Config, data_fingerprint: str, force: bool = False,
             wait: float = 0.0) -> Iterator[RunStore]:
    """Lock ``directory``, bind it to ``cfg`` (refusing another config unless ``force``), yield its store."""
    d = prepare_out(directory)
    with locked(d, wait=wait):
        _clear_temps(d)
        ownership.claim(d, CONFIG, STORE)
        h = config_hash(cfg, data_fingerprint)
        with RunStore(d / STORE) as store:
            bound = store.get_meta("config_hash")
            if bound not in (None, h) and store.count() == 0 and not any((d / n).exists() for n in FILES):
                force = True  # nothing of the other config to protect: it failed before any unit finished
            if bound is not None and bound != h and force:
                store.clear()
                ownership.discard(d, *FILES, "report.html", "report.md", "models", "figures")
            if bound not in (None, h) and not force:
                raise RunDirError(f"{d} belongs to a different configuration ({_differences(d, cfg, data_fingerprint)}); "
                                  "use --force to overwrite it, or another --out")
            store.bind(h, force=force)
            write_text(d / CONFIG, to_toml(cfg))
            yield store


def require_run_dir(directory: str | Path) -> Path:
    """``directory`` when it is a run directory with its config, else a one-line error."""
    d = Path(directory)
    if not ownership.is_run_dir(d) or not (d / CONFIG).is_file():
        raise RunDirError(f"{d}: not a run directory (no {CONFIG}); run 'taskgroup analyze CONFIG --out {d}' first")
    return d


@contextmanager
def open_existing(directory: str | Path, wait: float = 0.0) -> Iterator[tuple[Config, RunStore]]:
    """Lock an existing run directory and yield its saved config and store."""
    d = require_run_dir(directory)
    with locked(d, wait=wait):
        _clear_temps(d)
        cfg = load_run_config(d)
        with RunStore(d / STORE) as store:
            yield cfg, store


def _clear_temps(d: Path) -> None:
    """Remove temporary files left by a writer killed mid-write (we hold the lock: none is ours)."""
    for folder in (d, d / "models", d / "figures"):
        remove_stale_temps(folder)


def load_run_config(directory: str | Path) -> Config:
    """The resolved configuration saved in a run directory (its data paths are absolute)."""
    import tomllib

    p = Path(directory) / CONFIG
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{p}: not valid TOML ({str(exc).splitlines()[0]}); taskgroup writes this file: "
                          f"rerun 'taskgroup analyze CONFIG --out {directory} --force' to rewrite it") from None
    try:
        return config_from_dict(raw, base_dir=Path(directory), source=str(p))
    except ConfigError as exc:  # written by another version of taskgroup
        raise RunDirError(f"{exc}; this run directory was written by another version of taskgroup: "
                          "rerun into a new directory") from None


def read_document(directory: str | Path, cls: type[D], needed_by: str) -> D:
    """A step's document, validated, or a one-line error saying which step to run first."""
    return cls.load(Path(directory) / cls.FILE, needed_by=needed_by)


def read_optional(directory: str | Path, cls: type[D]) -> D | None:
    """A step's document when the file exists (validated), else None."""
    p = Path(directory) / cls.FILE
    return cls.load(p) if p.exists() else None


def write_document(directory: str | Path, doc: Document, step: str, inputs: dict[str, str]) -> Path:
    """Write ``doc`` atomically under its file name in ``directory``, recording what it was made from."""
    ownership.claim(directory, doc.FILE)
    path = write_json(Path(directory) / doc.FILE, doc.to_json())
    ownership.record(directory, doc.FILE, step, inputs)
    return path


# -- a small TOML writer for the resolved configuration (tomllib only reads) --------------------

def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_string(text: str) -> str:
    """A TOML basic string: every character as itself (emoji included) except quote, backslash and
    control characters, which are escaped (JSON's surrogate-pair escapes are not valid TOML)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _table(d: dict[str, Any]) -> list[str]:
    return [f"{k} = {_toml_value(v)}" for k, v in d.items() if v is not None]


def to_toml(cfg: Config) -> str:
    """The configuration as TOML, data paths made absolute so the file stands on its own."""
    d = cfg.to_dict()
    data = dict(d["data"])
    if data.get("path"):
        data["path"] = str((Path(cfg.base_dir) / data["path"]).resolve())
    lines = ["# resolved configuration written by taskgroup", f"seed = {cfg.seed}", "", "[data]", *_table(data)]
    for section in ("model", "train", "analyze", "group", "compare", "track"):
        lines += ["", f"[{section}]", *_table(d[section])]
    for t in d["tasks"]:
        lines += ["", "[[tasks]]", *_table(t)]
    return "\n".join(lines) + "\n"
