"""`algolens analyse` on the trained 2-digit model: files, contents, and a real browser render."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import plotly.graph_objects as go
import pytest
from typer.testing import CliRunner

from algolens.cli import app
from algolens.errors import AlgolensError
from algolens.report import figures_export
from algolens.report.figures_export import export_figures, find_chromium


@pytest.fixture(scope="module")
def report_dir(add_d2_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "add_d2"
    result = CliRunner().invoke(
        app, ["analyse", str(add_d2_run), "--out", str(out), "--questions", "200"]
    )
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    return out


def test_report_files_and_claims(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    assert html.count('class="plotly-graph-div"') >= 8
    for title in ("Claims", "Which node each answer digit needs", "The algorithm map", "PCA"):
        assert title in html
    claims = json.loads((report_dir / "claims.json").read_text())
    names = [c["claim"] for c in claims]  # the 2-layer model gets the deeper model's claims
    assert names[:2] == [
        "Positions before '=' are not needed",
        "A deeper model starts work before '=' (the papers' 2-layer model uses P8-P16)",
    ]
    assert all(set(c) >= {"claim", "expected", "measured", "passed"} for c in claims)
    assert "accuracy<b>100.0%</b>" in html.replace("\n", "")  # the d2 fixture is exact
    for title in ("Failures on both distributions", "Mean-ablating one position, per layer"):
        assert title in html
    amap = json.loads((report_dir / "algorithm_map.json").read_text())
    assert set(amap["digits"]) == {"A2", "A1", "A0"}
    for digit, nodes in amap["digits"].items():
        assert nodes, f"no node found for {digit}"
        for name in nodes:
            assert digit in amap["nodes"][name]["breaks"]


def test_export_without_browser_is_one_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(figures_export, "find_chromium", lambda: None)
    with pytest.raises(AlgolensError, match="needs Chromium"):
        export_figures([("f", go.Figure())], tmp_path, "png")
    with pytest.raises(AlgolensError, match="png, svg or pdf"):
        export_figures([("f", go.Figure())], tmp_path, "gif")


@pytest.mark.chromium
def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    browser = find_chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    html = (report_dir / "report.html").read_text()
    n_figs = html.count('class="plotly-graph-div"')
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
            (report_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    errors = [line for line in console if re.search(r"Uncaught|Error", line)]
    assert not errors, errors
    # plotly draws each figure into an svg.main-svg; every figure div must have rendered
    rendered = len(re.findall(r'<svg class="main-svg"', proc.stdout))
    assert rendered >= n_figs, (rendered, n_figs)


@pytest.mark.chromium
def test_static_export_through_chromium(tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    fig = go.Figure(go.Bar(x=["A1", "A0"], y=[1, 2]))
    (path,) = export_figures([("bars", fig)], tmp_path, "svg")
    assert path.read_text().lstrip().startswith(("<svg", "<?xml"))
