"""Reports: render a family's analysis and sections into one HTML page and its files.

Analysis computes (the family's ``analyse``); the family's ``sections`` draw; :func:`render`
writes ``report.html``, ``claims.json`` and the extra files.
"""

from algolens.report.render import render, report_run, write_report

__all__ = ["render", "report_run", "write_report"]
