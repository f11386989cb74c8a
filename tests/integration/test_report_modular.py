"""The modular reports (zoo:modadd_tf_p113, zoo:modadd_mlp_p113) as written and as drawn in
headless Chromium: phase lines at their steps with their labels, p x p heatmaps at whole pixels
per cell, every figure drawn, every axis range covering its data, no text over text."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.browser import check_report, figures_in

from algolens.report import report_run


def _report(name: str, out: Path) -> Path:
    from algolens.runs import load

    return report_run(load(f"zoo:{name}"), out, questions=0)


@pytest.fixture(scope="module")
def tf_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report("modadd_tf_p113", tmp_path_factory.mktemp("report") / "modadd_tf")


def _check_in_chromium(html: Path, tmp: Path, p: int = 113) -> None:
    seen = check_report(html, tmp)
    phases = [ph for fig in seen.figures for ph in fig["phases"]]
    assert {ph["label"] for ph in phases} >= {"memorised", "grokked"}
    for ph in phases:  # each label drawn beside (left of) its own line
        assert abs(ph["right"] - ph["line"]) < 6, ph
    heat = [f for f in seen.figures if f.get("title") in ("activation",)]
    assert heat
    for fig in heat:  # every a x b cell is a whole number of screen pixels
        for name, ax in fig["axes"].items():
            assert ax["length"] == pytest.approx(3 * p, abs=0.01), (name, ax)


def test_tf_report_phase_lines_and_heatmaps(tf_report: Path) -> None:
    figures = figures_in(tf_report.read_text())
    curves = figures[0]
    assert not curves["layout"].get("shapes")
    lines = {
        t["name"]: t["x"] for t in curves["data"] if t.get("legendgroup", "").startswith("phase-")
    }
    assert set(lines) == {"memorised (step 150)", "grokked (step 800)", "cleaned up (step 1,300)"}
    assert lines["memorised (step 150)"] == [150, 150]
    heat = [t for f in figures for t in f["data"] if t["type"] == "heatmap"]
    assert heat and all(t["zsmooth"] is False for t in heat)


@pytest.mark.chromium
def test_tf_report_renders_in_headless_chromium(tf_report: Path, tmp_path: Path) -> None:
    _check_in_chromium(tf_report, tmp_path)


@pytest.mark.slow
@pytest.mark.chromium
def test_mlp_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The MLP analysis (construction curves) takes about 20 s: slow tier."""
    path = _report("modadd_mlp_p113", tmp_path / "modadd_mlp")
    fits = [
        f for f in figures_in(path.read_text()) if "cosine fits" in str(f["layout"].get("title"))
    ]
    titles = {
        v.get("title", {}).get("text") for f in fits for k, v in f["layout"].items() if "axis" in k
    }
    assert {"k·a mod 113", "k·b mod 113", "k·c mod 113", "weight from a"} <= titles
    _check_in_chromium(path, tmp_path)
