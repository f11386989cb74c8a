"""One self-contained HTML page from sections of plotly figures, tables and a claims table.

The page is rendered with a Jinja2 template (``templates/report.html.j2``); plotly.js is inlined
once, so the file opens offline in any browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape

from algolens.claims import Claim, claims_to_json
from algolens.store import atomic_write


@dataclass
class Table:
    """A small table: column names and rows of plain values."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Section:
    """A titled part of the report: a short text, then figures, then tables."""

    title: str
    text: str = ""
    figures: list[go.Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("algolens.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    title: str,
    sections: list[Section],
    *,
    subtitle: str = "",
    claims: list[Claim] | None = None,
    facts: dict[str, Any] | None = None,
) -> str:
    """The report's HTML text."""
    from plotly.offline import get_plotlyjs

    figure_html = [
        [
            fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
            for fig in section.figures
        ]
        for section in sections
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        subtitle=subtitle,
        sections=list(zip(sections, figure_html, strict=True)),
        claims=claims or [],
        facts=facts or {},
        plotlyjs=get_plotlyjs(),
    )


def write_report(
    path: str | Path,
    title: str,
    sections: list[Section],
    *,
    subtitle: str = "",
    claims: list[Claim] | None = None,
    facts: dict[str, Any] | None = None,
) -> Path:
    """Write the report (and ``claims.json`` beside it when there are claims); return its path."""
    path = Path(path)
    html = render_report(title, sections, subtitle=subtitle, claims=claims, facts=facts)
    atomic_write(path, lambda p: p.write_text(html, encoding="utf-8"))
    if claims is not None:
        text = json.dumps(claims_to_json(claims), indent=2) + "\n"
        atomic_write(path.parent / "claims.json", lambda p: p.write_text(text))
    return path
