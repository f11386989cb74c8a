"""Static figure export (png, svg, pdf) through kaleido, using Debian's Chromium when present.

kaleido 1.x drives a Chrome through ``choreographer``, which honours ``BROWSER_PATH``; we point
it at ``/usr/bin/chromium`` (Debian's package) unless the user set it already.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import plotly.graph_objects as go

from algolens.errors import AlgolensError

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    """The browser kaleido should use: ``$BROWSER_PATH``, Debian's chromium, or one on PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).exists():
        return env
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def export_figures(figures: list[tuple[str, go.Figure]], out: Path, fmt: str) -> list[Path]:
    """Write each ``(name, figure)`` to ``out/<name>.<fmt>``; one clear error without a browser."""
    if fmt not in ("png", "svg", "pdf"):
        raise AlgolensError(f"--format must be png, svg or pdf, got {fmt!r}")
    browser = find_chromium()
    if browser is None:
        raise AlgolensError(
            "static export needs Chromium: install it (apt-get install chromium) "
            "or set BROWSER_PATH to a Chrome binary"
        )
    os.environ.setdefault("BROWSER_PATH", browser)
    try:
        import kaleido
    except ImportError:
        raise AlgolensError("static export needs kaleido: pip install 'algolens[export]'") from None
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{fmt}" for name, _ in figures]
    specs = [
        {
            "fig": fig,
            "path": str(path),
            # a figure sized in pixels (whole pixels per heatmap cell) keeps its width
            "opts": {
                "format": fmt,
                "width": fig.layout.width or 1100,
                "height": fig.layout.height or 450,
            },
        }
        for (_, fig), path in zip(figures, paths, strict=True)
    ]
    try:
        kaleido.write_fig_from_object_sync(specs)
    except Exception as e:  # kaleido raises many types when the browser fails to start
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AlgolensError(f"static export through {browser} failed: {first}") from None
    return paths
