"""Render a :class:`Document` as one self-contained HTML page.

Figures are inlined as base64 PNG data URIs, the style sheet is inline, and there is no JavaScript
and no external URL, so the file opens anywhere without network access. A Content-Security-Policy
forbids scripts and remote loads as a second line of defence. Every piece of text goes through
:func:`html.escape`.
"""

from __future__ import annotations

import base64
import re
import struct
from html import escape

from .document import (Block, Bullets, Cell, Columns, Document, Figure, Heading, Inline, Para, Pre, Section,
                       Stats, Table)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
WIDE_PX = 1000  # figures wider than the text column may use the whole window
LONG_NAME = 40  # task names longer than this are shortened in the page, the full name on hover

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --accent:#1b6ca8;
  --good:#1a7f37; --good-bg:#dafbe1; --bad:#b42318; --bad-bg:#ffebe9; --warn:#9a6700; --warn-bg:#fff8c5;
  --pending:#59636e; --pending-bg:#eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.5; font-size: 16px;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
  "Liberation Sans", sans-serif; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 1.9rem; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 1.4rem; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 26px 0 8px; }
p { margin: 10px 0; }
.subtitle { color: var(--muted); margin: 0 0 18px; }
nav.toc { margin: 22px 0 8px; padding: 10px 14px; background: var(--soft); border-radius: 6px;
  font-size: 0.93rem; }
nav.toc a { margin-right: 16px; color: var(--accent); text-decoration: none; white-space: nowrap; }
nav.toc strong { margin-right: 12px; }
.callout { padding: 12px 16px; border-left: 5px solid; border-radius: 4px; margin: 14px 0; }
.callout.good { border-color: var(--good); background: var(--good-bg); }
.callout.bad { border-color: var(--bad); background: var(--bad-bg); }
.callout.warn { border-color: var(--warn); background: var(--warn-bg); }
.callout.note, .callout.pending { border-color: var(--pending); background: var(--pending-bg); }
.lead .callout.good, .lead .callout.bad { font-size: 1.08rem; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px; margin: 16px 0; }
.stat { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.stat .label { color: var(--muted); font-size: 0.85rem; }
.stat .value { font-size: 1.45rem; font-weight: 650; font-variant-numeric: tabular-nums; margin: 2px 0; }
.stat .detail { color: var(--muted); font-size: 0.8rem; line-height: 1.35; }
ul { padding-left: 22px; }
li { margin: 4px 0; }
.table-wrap { overflow-x: auto; margin: 12px 0 4px; }
table { border-collapse: collapse; font-size: 0.9rem; min-width: 50%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td { overflow-wrap: anywhere; }
td:has(> .swatch) { white-space: nowrap; }
td.better { background: var(--good-bg) !important; color: var(--good); }
td.worse { background: var(--bad-bg) !important; color: var(--bad); }
td.muted { color: var(--muted); }
.sub { display: block; font-size: 0.8rem; opacity: 0.85; }
.caption { color: var(--muted); font-size: 0.85rem; margin: 6px 0 14px; max-width: 860px; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 0 32px; }
.col > h3:first-child { margin-top: 18px; }
figure { margin: 14px 0 22px; }
figure.wide { width: min(96vw, 1560px); margin-left: 50%; transform: translateX(-50%); }
figure.wide figcaption { max-width: 1032px; margin-left: auto; margin-right: auto; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eef0f2; border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 6px; max-width: 860px; }
.task { font-weight: 600; white-space: nowrap; }
.chip { display: inline-block; margin: 1px 4px 1px 0; padding: 0 7px; border: 1px solid var(--line);
  border-radius: 10px; background: var(--soft); font-size: 0.85rem; white-space: normal; }
.callout, .stat, p, li, figcaption, .caption { overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
code { background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: 0.88em; }
pre { background: var(--soft); padding: 12px 14px; border-radius: 6px; overflow-x: auto; font-size: 0.85rem;
  line-height: 1.45; white-space: pre-wrap; overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 6px;
  vertical-align: -0.05em; }
footer { color: var(--muted); font-size: 0.82rem; padding-top: 12px; padding-bottom: 40px;
  border-top: 1px solid var(--line); margin-top: 40px; }
@media (max-width: 640px) { header, main, footer { padding: 0 12px; } h1 { font-size: 1.5rem; } }
@media print { nav.toc { display: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


def render_html(doc: Document) -> str:
    """The whole page as a string."""
    toc = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in doc.sections)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape(doc.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f'<header><h1>{escape(doc.title)}</h1><p class="subtitle">{escape(doc.subtitle)}</p></header>',
        "<main>", '<section class="lead" id="summary">', *(_block(b) for b in doc.lead), "</section>",
        f'<nav class="toc"><strong>Contents</strong>{toc}</nav>',
        *(_section(s) for s in doc.sections), "</main>",
        "<footer>Generated by taskgroup from the files of the run directory alone. This page is one "
        "self-contained file: no scripts, no network access.</footer>",
        "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _section(section: Section) -> str:
    body = "\n".join(_block(b) for b in section.blocks)
    return f'<section id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>\n{body}</section>'


def _block(block: Block) -> str:
    if isinstance(block, Para):
        cls = f' class="callout {block.kind}"' if block.kind not in ("", "lead") else ""
        return f"<p{cls}>{_inline(block.spans)}</p>" if not cls else f"<div{cls}>{_inline(block.spans)}</div>"
    if isinstance(block, Heading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Pre):
        return f"<pre>{escape(block.text)}</pre>"
    if isinstance(block, Stats):
        cards = "".join(f'<div class="stat"><div class="label">{escape(label)}</div>'
                        f'<div class="value">{escape(value)}</div><div class="detail">{escape(detail)}</div></div>'
                        for label, value, detail in block.items)
        return f'<div class="stats">{cards}</div>'
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Columns):
        cols = "".join('<div class="col">' + "\n".join(_block(b) for b in col) + "</div>" for col in block.columns)
        return f'<div class="columns">{cols}</div>'
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(table: Table) -> str:
    head = "".join(f'<th{_cls("num" if i in table.numeric else "")}>{escape(h)}</th>'
                   for i, h in enumerate(table.header))
    rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    caption = f'<p class="caption">{escape(table.caption)}</p>' if table.caption else ""
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{caption}'


def _cell(cell: Cell) -> str:
    return f"<td{_cls(cell.cls.strip())}>{_inline(cell.spans)}</td>"


def _cls(names: str) -> str:
    return f' class="{escape(names)}"' if names else ""


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk."""
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", png[16:24])


def _figure(fig: Figure) -> str:
    w, h = png_size(fig.png)
    data = base64.b64encode(fig.png).decode("ascii")
    caption = f"<figcaption>{_inline(fig.caption)}</figcaption>" if fig.caption else ""
    wide = ' class="wide"' if w > WIDE_PX else ""
    return (f'<figure id="fig-{escape(fig.name)}"{wide}><img src="data:image/png;base64,{data}" width="{w}" '
            f'height="{h}" alt="{escape(fig.alt)}">{caption}</figure>')


def _inline(spans: Inline) -> str:
    out = []
    for s in spans:
        if isinstance(s, str):
            out.append(escape(s))
        elif s.style == "swatch":
            if _COLOR.match(s.text):
                out.append(f'<span class="swatch" style="background:{s.text}"></span>')
        else:
            tag = {"b": "strong", "i": "em", "code": "code"}.get(s.style)
            if tag:
                out.append(f"<{tag}>{escape(s.text)}</{tag}>")
            elif s.style == "task" and len(s.text) > LONG_NAME:
                short = s.text[:LONG_NAME // 2] + "…" + s.text[-(LONG_NAME // 3):]
                out.append(f'<span class="task" title="{escape(s.text)}">{escape(short)}</span>')
            elif s.style in ("task", "sub", "chip"):
                out.append(f'<span class="{s.style}">{escape(s.text)}</span>')
            else:
                out.append(escape(s.text))
    return "".join(out)
