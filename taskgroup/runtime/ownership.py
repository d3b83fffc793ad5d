"""What taskgroup owns in a run directory, and whether each output is still current.

A run directory holds ``manifest.json`` (:class:`~taskgroup.runtime.documents.Manifest`): the paths
taskgroup created there, and for each output the hashes of the inputs it was made from. Two rules
follow from it:

* **Ownership.** taskgroup writes into a folder only when it is new, empty, or already a run
  directory, and inside it writes or removes only the paths the manifest lists (a file of the
  user's in its way is refused, never replaced). A run directory written by the previous version
  (no manifest, but its store or step files) is adopted: its taskgroup files are listed.
* **Staleness.** An output is stale when an input's current hash differs from the recorded one
  (a changed upstream document, data or split), or when one of its inputs is itself stale.

Only :mod:`taskgroup.runtime` and plain strings here: steps name their inputs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import RunDirError
from .atomic import write_json
from .documents import DocumentError, Manifest, OutputRecord
from .hashing import file_hash

MANIFEST = Manifest.FILE
#: what the previous version left in a run directory (adopted when no manifest exists)
LEGACY = ("config.toml", "store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "store.sqlite-journal",
          "affinity.json", "groupings.json", "comparison.json", "models", "report.html", "report.md", "figures")
#: evidence that a folder without a manifest was a run directory of the previous version
LEGACY_MARKERS = ("store.sqlite", "affinity.json", "groupings.json", "comparison.json")
#: bookkeeping files that are always taskgroup's inside a run directory
BOOKKEEPING = (".lock", MANIFEST, "store.sqlite-wal", "store.sqlite-shm", "store.sqlite-journal")
#: prefix of an input that is a file outside the run directory (the data table), by absolute path
FILE_INPUT = "file:"
DATA_INPUT = "data"


def manifest_path(directory: str | Path) -> Path:
    return Path(directory) / MANIFEST


def is_run_dir(directory: str | Path) -> bool:
    """Whether ``directory`` is a taskgroup run directory (a manifest, or files of the previous version)."""
    d = Path(directory)
    return manifest_path(d).exists() or any((d / n).exists() for n in LEGACY_MARKERS)


def check_out(directory: str | Path) -> Path:
    """Refuse an output folder taskgroup must not write into; return it as a path.

    Accepted: a folder that does not exist yet, an empty one, or a run directory. Refused with one
    line: an empty string, a path that is a file, a non-empty folder holding anything else.
    """
    if str(directory).strip() == "":
        raise RunDirError("--out is empty; give a new folder for the run, for example --out runs/first")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise RunDirError(f"{d}: exists and is not a folder; give --out a new folder for the run")
    if d.is_dir() and not is_run_dir(d):
        entries = sorted(p.name for p in d.iterdir() if p.name not in BOOKKEEPING)
        if entries:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise RunDirError(f"{d}: is not empty ({shown}) and is not a taskgroup run directory; taskgroup "
                              f"never writes into such a folder: give --out a new folder, e.g. {d / 'run'}")
    return d


def load(directory: str | Path) -> Manifest:
    """The run directory's manifest; a directory of the previous version gets one listing its files."""
    d = Path(directory)
    p = manifest_path(d)
    if p.exists():
        return Manifest.load(p)
    if not is_run_dir(d):
        return Manifest()
    return Manifest(owned=sorted(n for n in LEGACY if (d / n).exists()))


def save(directory: str | Path, manifest: Manifest) -> None:
    write_json(manifest_path(directory), manifest.to_json())


def _owned(manifest: Manifest, rel: str) -> bool:
    parts = Path(rel).parts
    return rel in BOOKKEEPING or any(Path(o).parts == parts[:len(Path(o).parts)] for o in manifest.owned)


def claim(directory: str | Path, *paths: str) -> Manifest:
    """Record ``paths`` (relative) as taskgroup's before writing them; refuse one that is the user's."""
    d = Path(directory)
    manifest = load(d)
    changed = not manifest_path(d).exists()
    for rel in paths:
        if _owned(manifest, rel):
            continue
        if (d / rel).exists() or (d / rel).is_symlink():
            raise RunDirError(f"{d / rel}: exists and was not written by taskgroup; move it out of the run "
                              "directory (taskgroup never replaces a file it did not create)")
        manifest.owned.append(rel)
        changed = True
    if changed:
        save(d, manifest)
    return manifest


def owns(directory: str | Path, rel: str) -> bool:
    """Whether taskgroup created ``rel`` in the run directory (and so may replace or remove it)."""
    return _owned(load(directory), rel)


def discard(directory: str | Path, *paths: str) -> None:
    """Remove owned ``paths`` (files or folders) and forget them and their provenance; others stay."""
    import shutil

    d = Path(directory)
    manifest = load(d)
    for rel in paths:
        if not _owned(manifest, rel):  # a folder of the user's may hold files of ours: those go
            inside = [o for o in manifest.owned if Path(o).parts[:len(Path(rel).parts)] == Path(rel).parts]
            for o in inside:
                (d / o).unlink(missing_ok=True)
                manifest.outputs.pop(o, None)
            manifest.owned = [o for o in manifest.owned if o not in inside]
            continue
        target = d / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        manifest.owned = [o for o in manifest.owned if o != rel]
        manifest.outputs.pop(rel, None)
    save(d, manifest)


def current_hash(directory: str | Path, name: str) -> str | None:
    """The hash an input has now: a file in the run directory, or an absolute ``file:`` path."""
    p = Path(name[len(FILE_INPUT):]) if name.startswith(FILE_INPUT) else Path(directory) / name
    try:
        return file_hash(p) if p.is_file() else None
    except OSError:
        return None


def record(directory: str | Path, output: str, step: str, inputs: dict[str, str]) -> None:
    """Note that ``step`` just wrote ``output`` from ``inputs`` (name -> hash); the output is owned."""
    d = Path(directory)
    manifest = claim(d, output)
    manifest.outputs[output] = OutputRecord(step=step, inputs=dict(inputs), content=current_hash(d, output) or "")
    save(d, manifest)


def inputs_of(directory: str | Path, names: Iterable[str]) -> dict[str, str]:
    """Current hashes of the run-directory files ``names`` that exist."""
    out = {}
    for n in names:
        h = current_hash(directory, n)
        if h is not None:
            out[n] = h
    return out


@dataclass(frozen=True)
class Staleness:
    """Why an output is stale, and the command that brings it up to date."""

    output: str
    reason: str
    rerun: str

    def hint(self, directory: str | Path) -> str:
        return f"stale ({self.reason}); run 'taskgroup {self.rerun} {directory}'"

    def message(self, directory: str | Path) -> str:
        return f"{Path(directory) / self.output}: {self.hint(directory)}"


def stale(directory: str | Path, data: str | None = None) -> dict[str, Staleness]:
    """Outputs whose recorded inputs no longer match; ``data`` is the current data fingerprint if known."""
    d = Path(directory)
    manifest = load(d)
    out: dict[str, Staleness] = {}
    records = {k: r for k, r in manifest.outputs.items() if (d / k).exists()}
    for _ in range(len(records) + 1):  # propagate: an output made from a stale one is stale
        for name, rec in records.items():
            if name not in out:
                found = _why(d, rec, data, out)
                if found:
                    out[name] = Staleness(name, *found)
    return out


def _why(d: Path, rec: OutputRecord, data: str | None, known: dict[str, Staleness]) -> tuple[str, str] | None:
    """(reason, command to rerun) when ``rec`` no longer matches its inputs."""
    again = "analyze CONFIG --out"
    for name, recorded in rec.inputs.items():
        if name == DATA_INPUT:
            if data is not None and data != recorded:
                return f"the data or its split changed since '{rec.step}' ran", again
            continue
        if name in known:
            return f"{name} is stale", rec.step
        now = current_hash(d, name)
        outside = name.startswith(FILE_INPUT)
        label = name[len(FILE_INPUT):] if outside else name
        if now is None:
            return f"{label} was removed since '{rec.step}' ran", again if outside else rec.step
        if now != recorded:
            return f"{label} changed since '{rec.step}' ran", again if outside else rec.step
    return None
