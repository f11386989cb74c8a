"""Figures and the HTML report. Analysis computes; report draws (and never computes).

``write_report`` renders :class:`Section`s (plotly figures, tables, text) and a claims table into
one self-contained HTML file. ``REPORTERS`` maps a task family to the function that builds its
report for ``algolens analyse``.
"""

from algolens.report.html import Claim, Section, Table, claims_to_json, write_report

__all__ = ["Claim", "Section", "Table", "claims_to_json", "write_report"]
