"""``render``: the one writer of a report folder (``report.html``, ``claims.json``, the family's
extra files such as ``algorithm_map.json``, and static figures with ``fmt``).

The family analyses (``Family.analyse``) and lays the result out (``Family.sections``); this
module writes what they made, and never runs a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from algolens import store
from algolens.analysis.claims import claims_to_json
from algolens.families.base import Analysis
from algolens.report.html import PageParts, render_html
from algolens.sections import Section

if TYPE_CHECKING:
    from algolens.analysis.causal import Budget


def write_report(
    path: str | Path, title: str, sections: list[Section], **parts: Unpack[PageParts]
) -> Path:
    """Write ``report.html`` (and ``claims.json`` beside it when there are claims)."""
    path = Path(path)
    html = render_html(title, sections, **parts)
    store.atomic_write(path, lambda p: p.write_text(html, encoding="utf-8"))
    claims = parts.get("claims")
    if claims is not None:
        store.write_json(path.parent / "claims.json", claims_to_json(claims))
    return path


def render(analysis: Analysis, sections: list[Section], out: Path, fmt: str | None = None) -> Path:
    """Write a run's report folder; returns the path of ``report.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in analysis.files.items():
        store.write_json(out / name, data)
    path = write_report(out / "report.html", analysis.title, sections, subtitle=analysis.subtitle,
                        claims=analysis.claims, facts=analysis.facts)  # fmt: skip
    if fmt:
        from algolens.report.figures_export import export_figures

        store.refuse_symlink(out / "figures")  # figures are never written through a link
        export_figures(figure_files(sections), out / "figures", fmt)
    return path


def figure_files(sections: list[Section]) -> list[tuple[str, Any]]:
    """``(file name, figure)`` for every figure: each section's stable names (never a measured
    title), made unique across the report with a numeric suffix."""
    seen: dict[str, int] = {}
    out = []
    for section in sections:
        for name, fig in zip(section.figure_names(), section.figures, strict=True):
            seen[name] = seen.get(name, 0) + 1
            out.append((name if seen[name] == 1 else f"{name}-{seen[name]}", fig))
    return out


def report_run(run: Any, out: Path, *, questions: int = 1000, seed: int = 0, fmt: str | None = None,
               progress: bool = False, extra: list[Section] | None = None,
               device: str | None = None, causal: CausalOptions | None = None) -> Path:  # fmt: skip
    """Analyse a loaded run with its family's analysis (on ``device``; default where the model
    is) and write its report folder; ``extra`` sections (made by the caller, e.g. from the zoo's
    cards) go after the family's. With ``causal`` (keywords of :meth:`algolens.runs.Run.causal`),
    the generic causal units run too: their claims join the family's, their sections follow,
    and their results are written as ``causal.json``."""
    from algolens.errors import AlgolensError
    from algolens.families import family_of

    family = family_of(run.task.name)
    if family.analyse is None or family.sections is None:
        raise AlgolensError(f"no analysis report for task {run.task.name!r} yet")
    analysis = run.analyse(questions=questions, seed=seed, progress=progress, device=device)
    sections = family.sections(run, analysis)
    if causal is not None:
        found = run.causal(progress=progress, **causal)
        analysis.claims = [*analysis.claims, *found.claims]
        analysis.files = {**analysis.files, "causal.json": found.to_json()}
        sections += found.sections
    return render(analysis, sections + list(extra or []), out, fmt)


class CausalOptions(TypedDict, total=False):
    """What ``report_run`` hands to :meth:`algolens.runs.Run.causal`."""

    units: tuple[str, ...]
    op: str | None
    variables: list[str] | None
    budget: Budget
    compare: str | None
