"""A terminal progress bar driven by the library's ``progress(done, total, info)`` callbacks."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

#: ``progress(done, total, info)``: ``done`` of ``total`` units finished; ``info`` says what happened
ProgressFn = Callable[[int, int, dict[str, Any]], None]
#: given a step's label, that step's progress callback (or None)
ProgressFactory = Callable[[str], "ProgressFn | None"]


def no_progress(label: str) -> ProgressFn | None:
    """The progress factory that listens to nothing."""
    return None


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s}s"


class ProgressBar:
    """Draws ``label [#####.....] done/total  elapsed, ETA`` on stderr; silent when ``quiet``.

    The time left is estimated from the units finished in this run (stored units count as done but
    took no time), so it stays honest when a run resumes.
    """

    def __init__(self, label: str, quiet: bool = False, stream: TextIO | None = None, width: int = 28) -> None:
        self.label, self.quiet, self.width = label, quiet, width
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.first_done: int | None = None
        self.active = False

    def __call__(self, done: int, total: int, info: dict[str, Any] | None = None) -> None:
        if self.quiet or total <= 0:
            return
        info = info or {}
        if self.first_done is None:
            self.first_done = done
            self.start = time.monotonic()
        elapsed = time.monotonic() - self.start
        ran = done - self.first_done
        eta = info.get("eta")
        if eta is None and ran > 0 and done < total:
            eta = elapsed / ran * (total - done)
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        tail = f"  {_fmt_seconds(elapsed)}" + (f", about {_fmt_seconds(eta)} left" if eta and done < total else "")
        end = "\n" if done >= total else ""
        tty = getattr(self.stream, "isatty", lambda: False)()
        if not tty and done < total and done != self.first_done:
            return  # in logs, print the first and the last line only
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{tail}{end}" if tty else
                          f"{self.label} [{bar}] {done}/{total}{tail}\n")
        self.stream.flush()
        self.active = done < total

    def close(self) -> None:
        if self.active and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
            self.active = False
