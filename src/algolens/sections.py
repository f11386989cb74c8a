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

    ``names`` gives each figure a stable file name for static export (``--format png``): it
    says what the figure shows, never a measured number, so it does not change between runs.
    """

    title: str
    text: str = ""
    figures: list[Any] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")

    def figure_names(self) -> list[str]:
        """A stable file name per figure (``names``, or the section's anchor and an index)."""
        if len(self.names) == len(self.figures):
            return list(self.names)
        return [f"{self.anchor}-{i + 1}" for i in range(len(self.figures))]
