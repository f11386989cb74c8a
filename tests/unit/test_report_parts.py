"""The reports' figures and texts, checked on their plotly dicts (no browser, no trained model).

Each test pins one bug that was seen in the reports: phase lines on a log axis, moire in p x p
heatmaps, fit panels without titles, an empty failure chart, layer titles over tick labels,
names that change between runs, raw dicts in the header, a missing algorithm map, silent
analyses (tests/integration/test_report_*.py open the real reports in Chromium).
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from algolens.analysis.progress import Stages
from algolens.families.arithmetic import figures as AF
from algolens.families.arithmetic import report as AR
from algolens.families.arithmetic.algorithm_map import AlgorithmMap, NodeTags
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.families.base import Analysis
from algolens.families.lego import report as LR
from algolens.families.modular import report as MR
from algolens.families.modular.analysis import ModularAnalysis
from algolens.families.modular.mlp import analyse_mlp, cosine_network
from algolens.report.html import fact_text, render_html
from algolens.report.render import figure_files
from algolens.sections import Section

METRICS = [
    {"step": s, "train_loss": 5 / s, "val_loss": 9 / s**0.5, "train_acc": min(1, s / 150),
     "val_acc": min(1, s / 800)}
    for s in range(50, 2001, 50)
]  # fmt: skip
PHASES = {"memorised": 150, "grokked": 800, "cleaned_up": None}


def _layout(fig: Any) -> dict[str, Any]:
    return fig.to_plotly_json()["layout"]


def _axes(fig: Any, letter: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in _layout(fig).items() if k.startswith(f"{letter}axis")}


def _mlp() -> Any:
    net = cosine_network(13, 24, seed=0)
    return analyse_mlp(net.W_in, net.b_in, net.W_out, torch.zeros(13, dtype=torch.float64))


# ---- 1: phase lines -------------------------------------------------------------------------
def test_phase_lines_sit_at_their_steps_with_labels_on_log_and_linear_axes() -> None:
    fig = MR.loss_section(METRICS, PHASES).figures[0]
    assert not fig.layout.shapes  # shapes read x as log10 in some plotly.js versions only
    for name, step in (("memorised", 150), ("grokked", 800)):
        lines = [t for t in fig.data if t.legendgroup == f"phase-{name}"]
        assert len(lines) == 2 and all(list(t.x) == [step, step] for t in lines)
        assert {t.xaxis for t in lines} == {"x", "x2"}
        notes = [a for a in fig.layout.annotations if a.text == name]
        assert {a.xref for a in notes} == {"x", "x2"}  # one label per subplot, on the log axis
        assert all(a.x == pytest.approx(math.log10(step)) for a in notes)
    assert not [t for t in fig.data if t.legendgroup == "phase-cleaned_up"]  # never reached
    ys = [y for t in fig.data if t.legendgroup == "phase-memorised" and t.xaxis == "x" for y in t.y]
    assert min(ys) >= min(r["train_loss"] for r in METRICS)  # within the data: no squashing


def test_the_mlp_report_labels_its_phase_lines_and_the_progress_plot_is_linear() -> None:
    data = ModularAnalysis({"train_acc": 1.0, "val_acc": 1.0}, METRICS, mlp=_mlp())
    fig = MR.sections(None, Analysis("t", [], data))[0].figures[0]
    assert {a.text for a in fig.layout.annotations} >= {"memorised", "grokked"}
    prog = SimpleNamespace(steps=[0, 150, 800], train_loss=[4, 1, 0.1], val_loss=[4, 9, 0.2],
                           restricted=[4, 3, 0.1], excluded=[4, 1, 7])  # fmt: skip
    res = SimpleNamespace(key_freqs=[1])
    linear = MR.progress_section(res, prog, PHASES).figures[0]  # type: ignore[arg-type]
    assert [a.x for a in linear.layout.annotations] == [150, 800]


# ---- 5 and 6: cosine-fit panels, p x p heatmaps ---------------------------------------------
def test_every_cosine_fit_panel_has_a_title_and_axis_titles() -> None:
    res = _mlp()
    for fig in MR.fits_section(res).figures:
        n_panels = len(_axes(fig, "x"))
        assert len(fig.layout.annotations) == n_panels  # one title per panel
        for axes in (_axes(fig, "x"), _axes(fig, "y")):
            assert all(ax.get("title", {}).get("text") for ax in axes.values()), axes


@pytest.mark.parametrize("p", [113, 13])
def test_heatmaps_are_unsmoothed_at_whole_pixels_per_cell_with_a_and_b_on_the_axes(p: int) -> None:
    acts = torch.rand(p, p, 6)
    for fig in (MR.heatmaps(acts, [0, 1, 2, 3], "activation"), MR.heatmaps(acts, [5], "one")):
        layout = _layout(fig)
        assert layout["autosize"] is False
        m = layout["margin"]
        plot_w = layout["width"] - m["l"] - m["r"]
        plot_h = layout["height"] - m["t"] - m["b"]
        assert all(t.zsmooth is False for t in fig.data)
        for axes, size in ((_axes(fig, "x"), plot_w), (_axes(fig, "y"), plot_h)):
            for ax in axes.values():
                cell = (ax["domain"][1] - ax["domain"][0]) * size / p
                assert cell == pytest.approx(round(cell), abs=1e-6) and cell >= MR.CELL_PX
        assert {ax["title"]["text"] for ax in _axes(fig, "x").values()} == {"b"}
        assert {ax["title"]["text"] for ax in _axes(fig, "y").values()} == {"a"}


# ---- 3, 7, 9: the arithmetic report ---------------------------------------------------------
def _classes(counts: dict[str, tuple[int, int]]) -> Section:
    return AR.classes_section(SimpleNamespace(class_accuracy=counts))  # type: ignore[arg-type]


def test_a_class_without_failures_is_named_in_text_never_drawn_empty() -> None:
    none = _classes({"BA": (50, 0), "MC1": (50, 0), "CascadeUS9": (0, 0)})
    assert none.figures == [] and "0.0%" not in none.title
    assert "No failures in BA (0 of 50), MC1 (0 of 50)" in none.text
    assert "CascadeUS9" in none.text
    some = _classes({"BA": (75, 0), "MC1": (75, 5), "CascadeUS9": (75, 13)})
    assert some.title == "Where it fails: CascadeUS9 questions (17.3% wrong)"
    (chart,) = some.figures
    assert list(chart.data[0].x) == ["MC1", "CascadeUS9"] and "BA (0 of 75)" in some.text


def test_attention_grid_leaves_room_for_tick_labels_between_layers() -> None:
    roles = [f"r{i}" for i in range(12)]
    fig = AF.attention_grid(np.random.rand(2, 3, 12, 12), "1+2=3", "BA", roles, 8)
    layout = _layout(fig)
    plot_h = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    lows = sorted({tuple(ax["domain"]) for ax in _axes(fig, "y").values()})
    gap = (lows[1][0] - lows[0][1]) * plot_h
    assert gap == pytest.approx(AF.GAP_PX)
    assert gap >= 100  # rotated key labels (~50 px) plus the next row's titles
    shown = [ax.get("showticklabels", True) for ax in _axes(fig, "y").values()]
    assert shown.count(True) == 2  # query labels once per layer row


def test_the_algorithm_map_figure_labels_each_node_with_its_subtask() -> None:
    amap = AlgorithmMap(
        digits={"A1": ["P6.L0.H0", "P6.L0.MLP"], "A0": ["P7.L0.H1"]},
        nodes={
            "P6.L0.H0": NodeTags("P6.L0.H0", 0.4, ["A1"], ["BA"], "D1 D'1", "SA1", 0.9),
            "P6.L0.MLP": NodeTags("P6.L0.MLP", 0.6, ["A1"], ["BA"]),
            "P7.L0.H1": NodeTags("P7.L0.H1", 0.2, ["A0"], ["BA"], "D0 D'0", "SA0 (pair)", 0.85),
        },
        threshold=0.01,
    )
    roles = [f"r{i}" for i in range(9)]
    fig = AF.algorithm_map_figure(amap, ["L0H0", "L0H1", "L0MLP"], roles, "The algorithm map")
    (heat,) = fig.data
    assert list(heat.x) == ["P6 r6", "P7 r7"] and list(heat.y) == ["L0H0", "L0H1", "L0MLP"]
    assert heat.text[0][0] == "SA1" and heat.text[1][1] == "SA0<br>pair"
    assert heat.text[2][0] == "?" and heat.text[0][1] == ""
    assert heat.z[2][0] == pytest.approx(0.6) and math.isnan(heat.z[0][1])
    assert fig.layout.xaxis.title.text == "position" and fig.layout.yaxis.title.text == "node"


# ---- 8: stable figure names; 2: readable facts ----------------------------------------------
def test_figure_names_do_not_carry_measured_numbers() -> None:
    one = _classes({"BA": (75, 1), "MC1": (75, 5)})
    two = _classes({"BA": (80, 9), "MC1": (80, 2)})
    assert one.title != two.title and one.figure_names() == two.figure_names()
    keyed = Section("Where it fails: BA (3.2% wrong)", figures=[object(), object()], key="fails")
    assert keyed.figure_names() == ["fails-1", "fails-2"] and keyed.anchor == "fails"
    same = [Section("a", figures=[1], names=["x"]), Section("b", figures=[2], names=["x"])]
    assert [n for n, _ in figure_files(same)] == ["x", "x-2"]


def test_header_facts_are_text_never_python_reprs() -> None:
    facts = {"init": {"variant": "parent", "mimic": {"steps": 150, "lr": 0.003}},
             "freqs": [1, 6, 21], "share": 0.30000000000000004, "none": None}  # fmt: skip
    assert fact_text(facts["init"]) == "variant parent, mimic steps 150, lr 0.003"
    html = render_html("t", [], facts=facts)
    header = html[html.index("<header>") : html.index("</header>")]
    assert "{" not in header and "[" not in header and "&#39;" not in header
    assert "1, 6, 21" in header and "0.3<" in header


# ---- 2: LEGO attention heatmaps -------------------------------------------------------------
def test_lego_attention_has_one_titled_heatmap_per_layer_and_head() -> None:
    att = torch.rand(3, 4, 10, 10).softmax(-1).tolist()
    fig = LR._attention_figure(att)
    assert len(fig.data) == 12 and all(t.type == "heatmap" for t in fig.data)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [f"L{i}H{j}" for i in range(3) for j in range(4)]
    assert {ax["title"]["text"] for ax in _axes(fig, "x").values()} == {"key"}
    assert {ax["title"]["text"] for ax in _axes(fig, "y").values()} == {"query"}


# ---- 10: labelled progress bars -------------------------------------------------------------
def test_stages_show_a_labelled_bar_only_with_progress(capsys: pytest.CaptureFixture) -> None:
    with Stages("some analysis", 2, progress=True) as stages:
        assert stages.run("first", lambda x: x + 1, 1) == 2
        stages.run("second", lambda: None)
    err = capsys.readouterr().err
    assert "some analysis" in err and "first" in err and "second" in err
    with Stages("quiet analysis", 1, progress=False) as stages:
        stages.run("first", lambda: None)
    assert capsys.readouterr().err == ""


def test_family_analyses_show_labelled_bars(capsys: pytest.CaptureFixture) -> None:
    from algolens.families.lego import analysis as L
    from algolens.families.lego.task import LegoTask
    from algolens.models import build_model

    net = cosine_network(13, 24, seed=0)
    analyse_mlp(net.W_in, net.b_in, net.W_out, torch.zeros(13), progress=True)
    assert "modular MLP analysis" in capsys.readouterr().err
    task = LegoTask(n_vars=4, train_k=2, eval_size=0)
    spec = {"n_layers": 1, "n_heads": 2, "d_model": 16, "d_mlp": 32, "n_ctx": task.n_ctx,
            "d_vocab": 31, "causal": False, "d_vocab_out": 2}  # fmt: skip
    L.evaluate(build_model(spec).eval(), task, n=32, lens=True, progress=True, attention=True)
    err = capsys.readouterr().err
    assert "LEGO analysis" in err and "LEGO shortcut probes" in err and "attention" in err
    L.evaluate(build_model(spec).eval(), task, n=32, progress=False)
    assert capsys.readouterr().err == ""


def test_arithmetic_analysis_shows_a_labelled_bar(capsys: pytest.CaptureFixture) -> None:
    from algolens.families.arithmetic.analysis import analyse_arithmetic
    from algolens.models import build_model

    task = ArithmeticTask("add", 2)
    spec = {"n_layers": 1, "n_heads": 2, "d_model": 16, "n_ctx": task.n_ctx, "seed": 0}
    a = analyse_arithmetic(build_model(spec).eval(), task, 40, per_class=8, progress=True)
    err = capsys.readouterr().err
    assert "arithmetic analysis" in err and "PCA" in err
    assert dataclasses.is_dataclass(a)
