"""A small document model shared by the HTML and Markdown renderers.

The report's content is built once as plain data (sections of paragraphs, tables, figures, code) and
then rendered twice, so that ``report.html`` and ``report.md`` always say the same thing. Every piece
of text here is *raw*: each renderer escapes it for its own format, which keeps escaping in exactly
two places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

SpanStyle = Literal["", "b", "i", "code", "task", "swatch", "sub", "chip"]


@dataclass(frozen=True)
class Span:
    """A run of inline text with one style.

    ``swatch`` spans carry a ``#rrggbb`` colour as their text; ``sub`` is a small second line in a cell.
    """

    text: str
    style: SpanStyle = ""


Inline = list[Union[Span, str]]


@dataclass
class Para:
    """A paragraph; ``kind`` turns it into a call-out (``note``, ``warn``, ``good``, ``bad``, ``pending``)."""

    spans: Inline
    kind: Literal["", "note", "warn", "good", "bad", "pending", "lead"] = ""


@dataclass
class Cell:
    """A table cell: inline content plus an optional CSS class (``better``, ``worse``, ``muted``, ``num``)."""

    spans: Inline
    cls: str = ""


@dataclass
class Table:
    """A table with a header row; ``numeric`` lists the columns to right-align."""

    header: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    numeric: tuple[int, ...] = ()


@dataclass
class Figure:
    """A PNG figure; ``name`` is its file stem under ``figures/``."""

    name: str
    png: bytes
    alt: str
    caption: Inline = field(default_factory=list)


@dataclass
class Pre:
    """Preformatted text (configuration, formulas)."""

    text: str


@dataclass
class Bullets:
    """A bulleted list of inline items."""

    items: list[Inline]


@dataclass
class Stats:
    """Key numbers shown side by side: (label, value, detail)."""

    items: list[tuple[str, str, str]]


@dataclass
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass
class Columns:
    """Blocks shown side by side where the page is wide enough (one after another in Markdown)."""

    columns: list[list["Block"]]


Block = Union[Para, Table, Figure, Pre, Bullets, Stats, Heading, Columns]


def flatten(blocks: list[Block]) -> list[Block]:
    """The blocks with every :class:`Columns` replaced by its contents, in reading order."""
    out: list[Block] = []
    for b in blocks:
        out.extend(flatten([x for col in b.columns for x in col]) if isinstance(b, Columns) else [b])
    return out


@dataclass
class Section:
    """A top-level section with an anchor for the table of contents."""

    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """The whole report: a title, a one-line subtitle, a lead (first screen) and sections."""

    title: str
    subtitle: str
    lead: list[Block]
    sections: list[Section]

    def figures(self) -> list[Figure]:
        """Every figure of the document, in reading order."""
        found = [b for b in flatten(self.lead) if isinstance(b, Figure)]
        for section in self.sections:
            found.extend(b for b in flatten(section.blocks) if isinstance(b, Figure))
        return found


def text_of(spans: Inline) -> str:
    """The plain text of inline content (swatches dropped), for alt texts and tests."""
    out = []
    for s in spans:
        if isinstance(s, str):
            out.append(s)
        elif s.style != "swatch":
            out.append(s.text)
    return "".join(out)
