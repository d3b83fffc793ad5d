"""The report: ``report.html`` (one self-contained page) and ``report.md`` with ``figures/``.

:func:`render_report` reads only the files of a run directory (``affinity.json``,
``groupings.json``, ``comparison.json``, ``config.toml``; each optional), so a report can be
re-rendered at any time without training. Steps that have not run yet are named as such and the rest
is rendered. Nothing is printed; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import RunDirError
from ..runtime import ownership
from ..runtime.atomic import write_bytes, write_text
from .content import build_document
from .document import Document
from .html import render_html
from .load import RunData, load_run
from .markdown import render_markdown

__all__ = ["render_report", "build_document", "load_run", "render_html", "render_markdown", "Document", "RunData"]

FIGURE_DIR = "figures"


def render_report(run_dir: str | Path) -> dict[str, Path]:
    """Render DIR's report; return the paths written: ``html``, ``markdown`` and ``figures`` (a folder).

    Raises :class:`~taskgroup.errors.RunDirError` (one line) when DIR holds none of the step files or
    config, or when a file present is unreadable.
    """
    run_dir = Path(run_dir)
    doc = build_document(load_run(run_dir))
    if not ownership.is_run_dir(run_dir):
        raise RunDirError(f"{run_dir}: not a taskgroup run directory (no manifest.json, store.sqlite or step "
                          "file); taskgroup writes reports only into run directories")
    figures = [f"{FIGURE_DIR}/{fig.name}.png" for fig in doc.figures()]
    ownership.claim(run_dir, "report.md", "report.html", *figures)  # refuses to replace a file of the user's
    figure_dir = run_dir / FIGURE_DIR
    figure_dir.mkdir(exist_ok=True)
    for fig, rel in zip(doc.figures(), figures):
        write_bytes(run_dir / rel, fig.png)
    # figures of measures or alternatives no longer in the run; only those taskgroup wrote
    old = [f"{FIGURE_DIR}/{p.name}" for p in figure_dir.glob("*.png") if f"{FIGURE_DIR}/{p.name}" not in figures]
    ownership.discard(run_dir, *[rel for rel in old if ownership.owns(run_dir, rel) and rel != FIGURE_DIR])
    md = write_text(run_dir / "report.md", render_markdown(doc, FIGURE_DIR))
    html = write_text(run_dir / "report.html", render_html(doc))
    return {"html": html, "markdown": md, "figures": figure_dir}
