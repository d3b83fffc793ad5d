"""The Execution value: validated on construction, passed down unchanged, keyword-only pipeline calls."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import taskgroup
from taskgroup import pipeline
from taskgroup.errors import ConfigError
from taskgroup.runtime.execution import EXECUTORS, Execution


def test_every_executor_name_has_a_runner() -> None:
    assert all(callable(EXECUTORS.load(name)) for name in EXECUTORS)


@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "threads"}, "unknown executor 'threads'; choose one of inline, process, ray"),
    ({"workers": 0}, "workers must be a positive integer, not 0"),
    ({"workers": True}, "workers must be a positive integer"),
    ({"threads": 0}, "threads must be a positive integer or None"),
    ({"device": ""}, "device must be a name"),
    ({"progress": 3}, "progress must be a callable"),
])
def test_a_bad_execution_is_a_one_line_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Execution(**kwargs)
    assert "\n" not in str(info.value)


def test_execution_is_frozen_and_gives_each_step_its_callback() -> None:
    seen: list[str] = []
    ex = Execution(progress=lambda label: seen.append(label) or None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.workers = 2  # type: ignore[misc]
    assert ex.progress_for("analyze") is None and seen == ["analyze"]
    assert Execution().progress_for("compare") is None


@pytest.mark.parametrize("fn, positional", [
    (pipeline.analyze, 2), (pipeline.group, 1), (pipeline.compare, 1), (pipeline.run, 2),
    (pipeline.report, 1), (pipeline.status, 1),
])
def test_pipeline_functions_are_keyword_only_after_their_first_arguments(fn, positional: int) -> None:
    params = list(inspect.signature(fn).parameters.values())
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:positional])
    assert all(p.kind is p.KEYWORD_ONLY for p in params[positional:])
    if "execution" in inspect.signature(fn).parameters:
        assert inspect.signature(fn).parameters["execution"].default == Execution()
    assert getattr(taskgroup, fn.__name__) is fn
