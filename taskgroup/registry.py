"""Registries of interchangeable methods: a name maps to an implementation, loaded on first use.

Each kind of method (loss weightings, samplings, schedules, affinity measures, encoders, clustering
methods, executors) keeps one :class:`Registry` in the module that defines that kind. Entries name
their implementation by import path (``"package.module:attribute"``), so the configuration, the
command line and the listings read the names without importing torch. Adding a method is one new
module (or class) plus one line in its kind's registry.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, TaskgroupError


@dataclass(frozen=True)
class Entry:
    """One method: its name, where its implementation lives, and one line saying what it is."""

    name: str
    target: str
    summary: str
    traits: frozenset[str] = frozenset()


def import_object(spec: str, what: str = "object", error: type[TaskgroupError] = TaskgroupError) -> Any:
    """The attribute named by ``"package.module:attribute"`` (dots after the colon walk attributes).

    The one importer of user and unit code by path. A bad path is a one-line ``error`` naming
    ``what`` and the path.
    """
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise error(f"{what} {spec!r} must be an import path 'package.module:name'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"{what} {spec!r}: cannot import {module_name!r} ({exc})") from None
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise error(f"{what} {spec!r}: {module_name!r} has no {qualname!r}") from None
    return target


def suggestion(value: str, options: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for a close option, else the list of options."""
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else f"; choose one of {', '.join(options)}"


class Registry(Mapping[str, Entry]):
    """The methods of one kind, by name, in the order they were registered."""

    def __init__(self, kind: str, entries: list[tuple[str, str, str]] | list[Entry]) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            self.add(entry if isinstance(entry, Entry) else Entry(*entry))

    def add(self, entry: Entry) -> None:
        """Register ``entry``; a name is registered once."""
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry

    def having(self, trait: str) -> tuple[str, ...]:
        """The names whose entries carry ``trait``."""
        return tuple(e.name for e in self._entries.values() if trait in e.traits)

    def __getitem__(self, name: str) -> Entry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def check(self, name: str, where: str) -> str:
        """``name`` if registered, else a one-line :class:`ConfigError` naming ``where``."""
        if name not in self._entries:
            raise ConfigError(f"{where} = {name!r} is not a known {self.kind}{suggestion(name, self.names)}")
        return name

    def load(self, name: str) -> Any:
        """The implementation of ``name`` (imported now)."""
        self.check(name, self.kind)
        return import_object(self._entries[name].target, self.kind)

    def table(self) -> list[tuple[str, str]]:
        """``(name, summary)`` rows for listings and documentation."""
        return [(e.name, e.summary) for e in self._entries.values()]
