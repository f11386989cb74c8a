"""The parts a report is made of: sections of text, plotly figures and small tables.

Families build them (``Family.sections``) from an analysis; :mod:`algolens.report` renders them
into one HTML page. They only hold what is drawn; nothing here runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A small table: column names and rows of plain values."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report: a short text, then figures (plotly), then tables.

    ``key`` is the section's stable id (its HTML anchor) and ``names`` give each figure a
    stable file name for static export (``--format png``): they say what is shown, never a
    measured number, so they do not change between runs. A title may carry measured numbers
    ("Where it fails: MC1 questions (6.7% wrong)"), so names come from the key, never the title,
    whenever there is one.
    """

    title: str
    text: str = ""
    figures: list[Any] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    key: str = ""

    @property
    def anchor(self) -> str:
        return slug(self.key or self.title)

    def figure_names(self) -> list[str]:
        """A stable file name per figure: ``names``, else the key (or anchor) and an index."""
        if len(self.names) == len(self.figures):
            return list(self.names)
        return [f"{self.anchor}-{i + 1}" for i in range(len(self.figures))]


def slug(text: str) -> str:
    """``'Where it fails: BA'`` -> ``'where-it-fails-ba'``: letters, digits and single dashes."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in out.split("-") if part)
