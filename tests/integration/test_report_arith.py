"""`algolens analyse` on the trained 2-digit model: files, contents, and a real browser render."""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from tests.browser import check_report, figures_in
from typer.testing import CliRunner

from algolens.analysis.units import das_candidates
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
    assert "Reuse: from scratch" not in html  # the reuse comparison is for mixed models only
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
    """No console error, every figure drawn at a non-zero size, every axis range covering its
    data, and no annotation (a layer's panel titles) over tick labels (tests/browser.py)."""
    check_report(report_dir / "report.html", tmp_path)


def test_no_empty_failure_chart_and_an_algorithm_map_figure(report_dir: Path) -> None:
    """The d2 model fails no class: the section says so instead of drawing empty bars; the
    algorithm map is drawn as a position x node grid labelled with sub-tasks."""
    html = (report_dir / "report.html").read_text()
    assert "No question class fails" in html and "0.0% wrong" not in html
    figures = {f["layout"]["title"]["text"]: f for f in figures_in(html)}
    assert not [t for t in figures if t.startswith("Failure rate per question class")]
    amap = json.loads((report_dir / "algorithm_map.json").read_text())
    (heat,) = figures["The algorithm map"]["data"]
    cells = {
        (y, x): text
        for y, row in zip(heat["y"], heat["text"], strict=True)
        for x, text in zip(heat["x"], row, strict=True)
        if text
    }
    assert len(cells) == len(amap["nodes"])
    for name, tags in amap["nodes"].items():
        pos, layer, part = name.split(".")
        x = next(x for x in heat["x"] if x.split()[0] == pos)
        assert cells[(layer + part, x)] == (tags["subtask"].replace(" (pair)", "<br>pair") or "?")


@pytest.mark.chromium
def test_static_export_through_chromium(tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    fig = go.Figure(go.Bar(x=["A1", "A0"], y=[1, 2]))
    (path,) = export_figures([("bars", fig)], tmp_path, "svg")
    assert path.read_text().lstrip().startswith(("<svg", "<?xml"))


@pytest.fixture(scope="module")
def causal_dir(add_d2_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "add_d2_causal"
    argv = ["analyse", str(add_d2_run), "--out", str(out), "--questions", "100", "--causal"]
    argv += ["--units", "iia,sets,circuit,edges", "--pairs", "100", "--circuit-questions", "300"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return out


def test_causal_report_writes_its_json_claims_and_sections(causal_dir: Path) -> None:
    """``analyse --causal``: causal.json holds the units' results; claims.json gains their
    claims; the page gains the IIA heatmap (variable x node), the circuit diagram with
    sufficiency beside the model's own verification, and the edges drawn as arrows."""
    data = json.loads((causal_dir / "causal.json").read_text())
    assert list(data) == ["iia", "sets", "circuit", "edges"]
    assert data["iia"]["hypothesis"] == "add_d2" and data["iia"]["variables"]
    sets = [v["variable"] for v in data["sets"]["variables"]]
    assert sets == das_candidates(data["iia"], 6)  # every unheld kind gets a node set
    assert data["circuit"]["results"]["uniform"]["questions"] == 300
    claims = [c["claim"] for c in json.loads((causal_dir / "claims.json").read_text())]
    assert "The circuit alone does the task (sufficiency)" in claims
    html = (causal_dir / "report.html").read_text()
    assert sets and "Node sets: variables held jointly" in html  # the 2-digit model: 4 sets
    for title in ("Interchange: where each variable lives", "The circuit: sufficient and minimal",
                  "the model: wrong (95% CI)", "The algorithm map&#39;s edges"):  # fmt: skip
        assert title in html, title
    figures = {f["layout"]["title"]["text"]: f for f in figures_in(html)}
    heat = figures["IIA per variable and node (search pairs)"]
    assert len(figures["The circuit"]["data"]) == 2  # nodes holding a variable, and the others
    assert len(figures["The circuit and its measured edges"]["layout"]["annotations"]) == len(
        data["edges"]["edges"]
    )
    assert heat["data"][0]["y"] == [v["variable"] for v in data["iia"]["variables"]]


@pytest.mark.chromium
def test_causal_report_renders_in_headless_chromium(causal_dir: Path, tmp_path: Path) -> None:
    check_report(causal_dir / "report.html", tmp_path)


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--units", "iia,sae"], "--units"), (["--pairs", "0"], "--pairs"),
     (["--op", "mul"], "--op"), (["--circuit-questions", "0"], "--circuit-questions")],
)  # fmt: skip
def test_bad_causal_options_are_one_line(argv: list[str], words: str, add_d2_run: Path) -> None:
    result = CliRunner().invoke(app, ["analyse", str(add_d2_run), "--causal", *argv])
    assert result.exit_code == 2 and words in result.output
