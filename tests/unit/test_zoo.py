"""The zoo: commands on a tiny packaged model, and every shipped model against its card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.conftest import tiny_model_spec
from typer.testing import CliRunner

import algolens.store as store
import algolens.zoo as zoo
from algolens.cli import app
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.runs import load, load_run, train
from algolens.zoo.build import make_card, package

runner = CliRunner()
ARITHMETIC = ("add", "sub", "mix")


@pytest.fixture
def tiny_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A zoo folder holding one tiny 2-digit model, packaged the way the real ones are."""
    monkeypatch.setattr(store, "ZOO_DIR", tmp_path / "zoo")
    run = train(
        tmp_path / "work" / "tiny",
        {"name": "add", "n_digits": 2},
        tiny_model_spec(),
        TrainConfig(steps=20, batch_size=32, lr=3e-3, log_every=10),
        progress=False,
    )
    card = make_card(load_run(run), 1.0, "algolens zoo retrain tiny", questions=2000)
    package(run, "tiny", card, tmp_path / "zoo")
    return tmp_path


def test_zoo_commands_on_a_packaged_model(tiny_zoo: Path) -> None:
    listing = runner.invoke(app, ["zoo", "list", "--json"])
    assert listing.exit_code == 0, listing.output
    (row,) = json.loads(listing.stdout)
    assert row["name"] == "tiny" and row["task"] == "add d2" and row["parameters"] > 0
    assert "of 2,000 (" in row["check"] and row["questions"] == {"uniform": 2000, "training": 2000}
    shown = json.loads(runner.invoke(app, ["zoo", "show", "tiny", "--json"]).stdout)
    assert shown["verification"]["uniform"]["questions"] == 2000
    assert shown["verification"]["training"]["questions"] == 2000
    assert shown["training"]["command"] == "algolens zoo retrain tiny"
    out = tiny_zoo / "copy"
    assert runner.invoke(app, ["zoo", "get", "tiny", "--out", str(out)]).exit_code == 0
    assert load(out).predict(["12+34"]) == load("zoo:tiny").predict(["12+34"])
    assert not (zoo.zoo_path("tiny") / "train_state.pt").exists()


def test_zoo_retrain_reproduces_the_recorded_weights(tiny_zoo: Path) -> None:
    out = tiny_zoo / "again"
    result = runner.invoke(
        app, ["zoo", "retrain", "tiny", "--out", str(out), "--questions", "2000", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads((out / "card.json").read_text())
    for dist in ("uniform", "training"):
        assert (
            card["verification"][dist]["failures"]
            == card["original"]["verification"][dist]["failures"]
        )
    a, b = load(out).model.state_dict(), load("zoo:tiny").model.state_dict()
    assert all((a[k] == b[k]).all() for k in a)  # same seed, same machine: same weights


def test_unknown_zoo_model_is_a_clear_error(tiny_zoo: Path) -> None:
    with pytest.raises(AlgolensError, match="no zoo model"):
        load("zoo:nope")
    result = runner.invoke(app, ["zoo", "show", "nope"])
    assert result.exit_code == 2 and "no zoo model" in result.stderr


# the LEGO card re-measures 4,096 sentences on a 6-layer encoder (about 30 s): slow tier
SHIPPED = [
    pytest.param(n, marks=pytest.mark.slow) if n.startswith("lego") else n for n in zoo.zoo_names()
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_and_matches_its_card(name: str) -> None:
    """A quick re-verification: the same questions give the card's numbers exactly."""
    card = zoo.read_card(name)
    run = load(f"zoo:{name}")
    if run.config.task["name"] == "modadd":  # the whole table: the card's numbers exactly
        ev, rec = run.task.evaluate(run.model), card["evaluation"]
        assert ev["train_acc"] == pytest.approx(rec["train_accuracy"], abs=1e-6)
        assert ev["val_acc"] == pytest.approx(rec["val_accuracy"], abs=1e-6)  # cards round to 6
        assert ev["val_loss"] == pytest.approx(rec["val_loss"], rel=1e-3, abs=1e-6)
        return
    if run.config.task["name"] == "lego":  # the card's fresh sentences, re-measured
        from algolens.families.lego.analysis import position_accuracies

        ev = card["evaluation"]
        acc = position_accuracies(run.model, run.task, ev["sentences"], ev["seed"])
        assert [round(a, 4) for a in acc] == list(ev["accuracy_by_position"].values())
        assert card["parameters"] == sum(p.numel() for p in run.model.parameters())
        return
    if run.config.task["name"] not in ARITHMETIC:
        assert card.get("evaluation"), f"{name} has no evaluation record"
        return
    from algolens.zoo.build import recheck

    rows = recheck(name, quick=True)  # each distribution's first 20,480 questions, suites, lists
    assert all(row["same"] for row in rows), [row for row in rows if not row["same"]]
    # the structured families (sums of exactly 10^k, zero-padded runs) are on every card; the
    # full `zoo check` re-asks them (hundreds of thousands of questions: not in the fast tier)
    structured = card["verification"]["suites"]["structured"]
    assert structured["questions"] > 10_000 and structured["failures"] >= 0
    assert card["parameters"] == sum(p.numel() for p in run.model.parameters())


def test_zoo_check_command_reports_a_changed_card(tiny_zoo: Path) -> None:
    """`zoo check` passes on the packaged card and exits 1 once a recorded number is wrong."""
    result = runner.invoke(app, ["zoo", "check", "tiny", "--quick", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "DIFFERS" not in result.output and "same" in result.output
    card_path = zoo.zoo_path("tiny") / "card.json"
    card = json.loads(card_path.read_text())
    original = card_path.read_text()
    for field in ("failures", "questions"):  # a suite's size is checked as well as its failures
        card = json.loads(original)
        card["verification"]["suites"]["carry"][field] += 1
        card_path.write_text(json.dumps(card))
        result = runner.invoke(app, ["zoo", "check", "tiny", "--quick", "--no-progress"])
        assert result.exit_code == 1
        marks = [line.split()[0] for line in result.output.splitlines() if "suite carry" in line]
        assert marks == ["DIFFERS", "same"], result.output


def test_zoo_check_record_adds_a_missing_suite_and_never_rewrites(tiny_zoo: Path) -> None:
    """A card without the structured suite differs (exit 1); `--record` measures it into the
    card, after which the full check passes; a wrong recorded number is not rewritten."""
    card_path = zoo.zoo_path("tiny") / "card.json"
    card = json.loads(card_path.read_text())
    structured = card["verification"]["suites"].pop("structured")
    assert structured["questions"] > 100  # 2 digits: every power sum, run and one-digit pair
    card["verification"]["suites"]["carry"]["failures"] += 1  # a wrong recorded number
    card_path.write_text(json.dumps(card))
    args = ["zoo", "check", "tiny", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "DIFFERS  suite structured" in result.output
    assert "structured" not in json.loads(card_path.read_text())["verification"]["suites"]
    result = runner.invoke(app, [*args, "--record"])
    assert result.exit_code == 1, result.output  # the carry suite still differs
    assert "RECORDED suite structured" in result.output
    kept = json.loads(card_path.read_text())["verification"]["suites"]
    assert kept["structured"] == structured
    assert kept["carry"]["failures"] == card["verification"]["suites"]["carry"]["failures"]


def test_lego_zoo_model_retrains_through_its_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packaged LEGO model (parent variant) retrains from its config: mimic init redone, same
    weights, and its card's accuracies re-measured."""
    monkeypatch.setattr(store, "ZOO_DIR", tmp_path / "zoo")
    task = {"name": "lego", "n_vars": 4, "eval_size": 64}
    model = {"n_layers": 1, "n_heads": 3, "d_model": 24, "d_mlp": 32}
    cfg = TrainConfig(steps=4, batch_size=16, lr=3e-3, log_every=2, layer_loss=1.0)
    init = {"variant": "parent", "family": {"mimic": {"steps": 3}}}
    run = train(tmp_path / "work", task, model, cfg, init=init, progress=False)
    card = make_card(load_run(run), 1.0, "cmd", "a tiny LEGO model")
    assert (
        card["training"]["init"]["variant"] == "parent" and card["architecture"]["conv_kernel"] == 7
    )
    package(run, "tiny_lego", card, tmp_path / "zoo")
    out = tmp_path / "again"
    result = runner.invoke(app, ["zoo", "retrain", "tiny_lego", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    again = json.loads((out / "card.json").read_text())
    assert again["evaluation"]["accuracy_by_position"] == card["evaluation"]["accuracy_by_position"]
    a, b = load(out).model.state_dict(), load("zoo:tiny_lego").model.state_dict()
    assert all((a[k] == b[k]).all() for k in a)


def test_lego_zoo_retrain_keeps_a_random_variant_s_init_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a mimic init is redone by retrain; a random-variant run's own source is kept."""
    monkeypatch.setattr(store, "ZOO_DIR", tmp_path / "zoo")
    task = {"name": "lego", "n_vars": 4, "eval_size": 64}
    model = {"n_layers": 1, "n_heads": 2, "d_model": 16, "d_mlp": 32}
    cfg = TrainConfig(steps=6, batch_size=16, lr=1e-2, log_every=3)
    base = train(tmp_path / "base", task, model, cfg, init={"variant": "random"}, progress=False)
    cfg = TrainConfig(steps=2, batch_size=16, lr=1e-2, log_every=1)
    init = {"variant": "random", "source": str(base)}
    run = train(tmp_path / "work", task, model, cfg, init=init, progress=False)
    package(run, "tiny_reuse", make_card(load_run(run), 1.0, "cmd", "reuse"), tmp_path / "zoo")
    out = tmp_path / "again"
    result = runner.invoke(
        app, ["zoo", "retrain", "tiny_reuse", "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    a, b = load(out).model.state_dict(), load("zoo:tiny_reuse").model.state_dict()
    assert all((a[k] == b[k]).all() for k in a)


def test_reuse_comparison_reads_the_mixed_cards_learning_curves() -> None:
    from algolens.families.arithmetic.reuse import comparison_rows
    from algolens.zoo import read_card

    cards = [read_card(n) for n in ("ins1_mix_d6_l3", "mix_d6_l3", "add_d5_l2")]
    rows = {r["model"]: r for r in comparison_rows(cards)}
    assert set(rows) == {"ins1_mix_d6_l3", "mix_d6_l3"}  # addition has no reuse curve
    ins1, scratch = rows["ins1_mix_d6_l3"], rows["mix_d6_l3"]
    assert (ins1["start"], ins1["source"], ins1["sub_share"]) == ("ins1", "zoo:add_d6_l2", 0.8)
    assert scratch["start"] == "scratch" and scratch["source"] is None
    steps = cards[0]["learning_curve"]["steps_to"]
    assert [ins1[f"steps_to_{k}"] for k in steps] == list(steps.values())
    assert ins1["checkpoint_every"] == 500 and ins1["uniform_questions"] == 1_000_000
    no_curve = {**cards[0], "learning_curve": None}
    assert comparison_rows([no_curve]) == []


def test_zoo_reuse_plot_draws_one_curve_per_mixed_model(tmp_path: Path) -> None:
    """`zoo reuse --plot` writes the learning curves: the mixed models only, zeros drawn at 0.5."""
    from algolens.families.arithmetic.reuse import comparison_figure
    from algolens.zoo import read_card

    cards = [read_card(n) for n in ("ins1_mix_d6_l3", "mix_d6_l3", "add_d5_l2")]
    fig = comparison_figure(cards)
    assert [t.name for t in fig.data] == ["ins1_mix_d6_l3 (ins1)", "mix_d6_l3 (scratch)"]
    points = cards[0]["learning_curve"]["points"]
    assert list(fig.data[0].y) == [max(p["failures"], 0.5) for p in points]
    out = tmp_path / "reuse.html"
    result = runner.invoke(app, ["zoo", "reuse", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "ins1_mix_d6_l3 (ins1)" in out.read_text() and "plot written" in result.output


def test_a_mixed_models_report_carries_the_reuse_comparison(tmp_path: Path) -> None:
    """`analyse` on a mixed model appends the reuse table and curves over the zoo's mixed cards,
    marking the model itself; any other task gets no such section."""
    from types import SimpleNamespace

    from algolens.commands.analyse import zoo_sections
    from algolens.report import write_report

    def run(task: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(task=SimpleNamespace(name=task), name=name)

    assert zoo_sections(run("add", "add_d5_l2")) == []
    from algolens.families.arithmetic.reuse import zoo_sections as hook

    def no_cards() -> list[dict[str, object]]:
        raise AssertionError("an addition model's report read the zoo's cards")

    assert hook(run("add", "add_d5_l2"), no_cards) == []  # no card is read for it
    with pytest.raises(AssertionError, match="read the zoo"):  # the control: mix reads them
        hook(run("mix", "ins1_mix_d6_l3"), no_cards)
    [section] = zoo_sections(run("mix", "ins1_mix_d6_l3"))
    rows = {row[0]: row for row in section.tables[0].rows}
    assert {"ins1_mix_d6_l3 (this model)", "mix_d6_l3"} <= set(rows)
    ins1 = rows["ins1_mix_d6_l3 (this model)"]
    card = zoo.read_card("ins1_mix_d6_l3")
    assert ins1[1:4] == ["ins1", 0.8, card["training"]["steps"]]
    assert ins1[4:7] == list(card["learning_curve"]["steps_to"].values())
    html = write_report(tmp_path / "report.html", "t", [section]).read_text()
    assert 'id="reuse-comparison"' in html and "ins1_mix_d6_l3 (this model)" in html


def test_zoo_show_prints_the_recipe_across_seeds() -> None:
    """A card with a seed spread (sub_d6_l2: three seeds of its recipe) shows one line per seed;
    a card without one shows none."""
    shown = runner.invoke(app, ["zoo", "show", "sub_d6_l2"]).stdout
    assert "the recipe across seeds: 3 of 3 seeds" in shown
    assert sum(line.startswith("  seed ") for line in shown.splitlines()) == 3
    assert "across seeds" not in runner.invoke(app, ["zoo", "show", "add_d6_l2"]).stdout
    ins2 = runner.invoke(app, ["zoo", "show", "ins2_mix_d6_l4"]).stdout  # both rates per seed
    want = "  seed 1: training 1 per million, uniform 3, suites 0 wrong, 1,648 s of training"
    assert want in ins2


@pytest.mark.slow  # three small builds, each with its card: about 15 s on a quiet machine
def test_zoo_build_resumes_an_interrupted_build_and_refuses_another_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted build gets no card; `--resume` finishes it to the uninterrupted build's
    weights and card, saying it was resumed; resuming with another recipe, or nothing, is one
    clear error."""
    from algolens.families import Preset
    from algolens.families.arithmetic import presets as arithmetic_presets
    from algolens.zoo import build as zoo_build

    tiny = Preset({"name": "add", "n_digits": 2}, tiny_model_spec(),
                  {"steps": 20, "batch_size": 32, "lr": 3e-3, "log_every": 5,
                   "checkpoint_every": 5})  # fmt: skip
    monkeypatch.setattr(zoo_build, "recipe", lambda name: (tiny, None))
    whole = zoo_build.build("tiny", tmp_path / "a", questions=500, progress=False)
    real_train_run = zoo_build.train_run
    monkeypatch.setattr(
        zoo_build, "train_run", lambda *a, **k: real_train_run(*a, **{**k, "stop_after": 8})
    )
    with pytest.raises(AlgolensError, match="training stopped at step"):
        zoo_build.build("tiny", tmp_path / "b", questions=500, progress=False)
    assert not (tmp_path / "b" / "tiny_s0" / "card.json").exists()
    monkeypatch.setattr(zoo_build, "train_run", real_train_run)
    resumed = zoo_build.build("tiny", tmp_path / "b", questions=500, progress=False, resume=True)
    assert "resumed" in resumed["training"] and "resumed" not in whole["training"]
    assert resumed["verification"] == whole["verification"]
    a, b = (load_run(tmp_path / d / "tiny_s0").model.state_dict() for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(AlgolensError, match="nothing to resume"):
        zoo_build.build("tiny", tmp_path / "c", questions=500, progress=False, resume=True)
    other = Preset(tiny.task, tiny.model, {**tiny.train, "lr": 1e-3})
    monkeypatch.setattr(zoo_build, "recipe", lambda name: (other, None))
    with pytest.raises(AlgolensError, match="another recipe"):
        zoo_build.build("tiny", tmp_path / "b", questions=500, progress=False, resume=True)
    assert arithmetic_presets.ZOO  # the real recipes stay untouched


def test_package_only_ships_a_finished_build_with_its_seed_spread(tmp_path: Path) -> None:
    """``zoo build --package-only`` ships NAME_sSEED's card and files; the card's seed spread
    holds every build of the same recipe (not another recipe's) and counts the seeds with no
    training-distribution failure; a build without a card is one clear error."""
    from algolens import store
    from algolens.zoo.build import package_build

    def fake(seed: int, fails: int, lr: float) -> None:
        out = tmp_path / "work" / f"m_s{seed}"
        out.mkdir(parents=True)
        for name in store.SHIPPED_FILES:
            (out / name).write_text("x")
        dist = {"failures": fails, "questions": 1000, "failures_per_million": fails * 1e3}
        suites = {"carry": {"failures": fails, "questions": 9}}
        card = {"name": "m", "training": {"recipe": {"lr": lr}, "wall_seconds": 60.0},
                "verification": {"uniform": dist, "training": dist, "suites": suites}}  # fmt: skip
        store.write_json(out / "card.json", card)

    fake(0, 0, 1e-3), fake(1, 2, 1e-3), fake(2, 0, 1e-3), fake(3, 0, 3e-3)
    card = package_build("m", tmp_path / "work", 0, tmp_path / "zoo")
    spread = card["seed_spread"]
    assert [r["seed"] for r in spread["seeds"]] == [0, 1, 2]  # seed 3 is another recipe
    assert spread["verified"] == "2 of 3 seeds" and spread["seeds"][1]["suite_failures"] == 2
    shipped = store.read_json(tmp_path / "zoo" / "m" / "card.json", "card")
    assert shipped["seed_spread"] == spread
    with pytest.raises(AlgolensError, match="no finished build"):
        package_build("m", tmp_path / "work", 7, tmp_path / "zoo")


def test_the_seed_spread_keeps_the_seeds_the_zoo_copy_records(tmp_path: Path) -> None:
    """On a machine whose work folder lacks some seeds, the shipped card's spread (its own seed
    from its config.json, and the rows it carries) stays in the new spread for the same recipe;
    a build in the work folder replaces its seed's row, and another recipe's copy adds none."""
    from algolens.zoo.build import seed_spread

    def card(fails: int, lr: float) -> dict[str, Any]:
        dist = {"failures": fails, "questions": 1000, "failures_per_million": fails * 1e3}
        return {"training": {"recipe": {"lr": lr}, "wall_seconds": 60.0},
                "verification": {"uniform": dist, "training": dist, "suites": {}}}  # fmt: skip

    shipped = tmp_path / "zoo" / "m"
    shipped.mkdir(parents=True)
    old = {**card(3, 1e-3), "seed_spread": {"seeds": [{"seed": 5, "failures_per_million": 0,
                                                          "questions": 1000}]}}  # fmt: skip
    store.write_json(shipped / "card.json", old)
    store.write_json(shipped / store.CONFIG, {"train": {"seed": 4}})
    (tmp_path / "work" / "m_s4").mkdir(parents=True)
    store.write_json(tmp_path / "work" / "m_s4" / "card.json", card(0, 1e-3))
    spread = seed_spread("m", tmp_path / "work", {"lr": 1e-3}, shipped=shipped)
    assert [(r["seed"], r["failures_per_million"]) for r in spread["seeds"]] == [(4, 0), (5, 0)]
    assert spread["verified"] == "2 of 2 seeds"
    (tmp_path / "work" / "m_s4" / "card.json").unlink()
    spread = seed_spread("m", tmp_path / "work", {"lr": 1e-3}, shipped=shipped)
    assert [(r["seed"], r["failures_per_million"]) for r in spread["seeds"]] == [(4, 3e3), (5, 0)]
    assert seed_spread("m", tmp_path / "work", {"lr": 2e-3}, shipped=shipped)["seeds"] == []
