"""The one-line error checks the tests share: a library error, a block that raises, a CLI refusal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def one_line(exc: BaseException | str, *needles: str) -> str:
    """``exc`` (or a message) is one non-empty line holding every needle; returns the message."""
    message = str(exc)
    assert message and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


@contextmanager
def raises_one_line(exc_type: type[BaseException], *needles: str) -> Iterator[Any]:
    """Like ``pytest.raises(exc_type)``, and the message is one line holding every needle."""
    with pytest.raises(exc_type) as info:
        yield info
    one_line(info.value, *needles)


def assert_refused(result: Any, *needles: str) -> str:
    """A click result: exit status 2, one ``Error:`` line on stderr holding every needle, nothing on
    stdout, no traceback; returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped exception
    err = result.stderr
    assert err.startswith("Error: ") and err.endswith("\n"), err
    assert "Traceback" not in result.output and result.stdout == ""
    return one_line(err[:-1], *needles)
