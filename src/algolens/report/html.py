"""One self-contained HTML page from sections of plotly figures, tables and a claims table.

The page is rendered with a Jinja2 template (``templates/report.html.j2``); plotly.js is inlined
once, so the file opens offline in any browser.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

from jinja2 import Environment, PackageLoader, select_autoescape

from algolens.analysis.claims import Claim
from algolens.sections import Section


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("algolens.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class PageParts(TypedDict, total=False):
    """A report page's optional parts, the keywords of :func:`render_html` and of
    ``write_report``: the line under the title, the claims table, the header facts."""

    subtitle: str
    claims: list[Claim] | None
    facts: dict[str, Any] | None


def render_html(title: str, sections: list[Section], **parts: Unpack[PageParts]) -> str:
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
        subtitle=parts.get("subtitle", ""),
        sections=list(zip(sections, figure_html, strict=True)),
        claims=parts.get("claims") or [],
        facts={k: fact_text(v) for k, v in (parts.get("facts") or {}).items()},
        plotlyjs=get_plotlyjs(),
    )


def fact_text(value: Any) -> str:
    """A header fact as readable text, never a Python repr: mappings become ``key value``
    pairs, sequences are joined with commas, floats keep four significant digits."""
    if isinstance(value, Mapping):
        return ", ".join(f"{str(k).replace('_', ' ')} {fact_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(fact_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
