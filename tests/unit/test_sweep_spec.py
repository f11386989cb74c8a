"""Sweep specs expand to the right configurations; rows and pages are built from cards (no Ray
here: the runs on Ray are in tests/integration/test_sweep_ray.py)."""

from __future__ import annotations

import csv
import json
import os
import socket
from pathlib import Path

import pytest

from algolens import store
from algolens.errors import AlgolensError
from algolens.sweep.page import write_page
from algolens.sweep.rows import result_row
from algolens.sweep.runner import RESULT, plan, run_status, write_results
from algolens.sweep.spec import point_key, read_spec

SPEC = """
name = "grid"
questions = 500
[grid]
task = ["add", "sub"]
digits = [2, 3]
layers = 1
heads = [2, 4]
seed = 7
[train]
batch_size = 32
"""


def _spec(tmp: Path, text: str = SPEC) -> Path:
    path = tmp / "spec.toml"
    path.write_text(text)
    return path


def test_grid_expands_to_every_combination_in_order(tmp_path: Path) -> None:
    spec = read_spec(_spec(tmp_path))
    points = spec.points()
    assert len(points) == 8
    assert points[0] == {"task": "add", "digits": 2, "layers": 1, "heads": 2, "seed": 7}
    assert points[-1] == {"task": "sub", "digits": 3, "layers": 1, "heads": 4, "seed": 7}
    assert spec.questions == 500 and spec.fixed["train"] == {"batch_size": 32}


def test_points_become_configs_with_family_flags_and_fixed_options(tmp_path: Path) -> None:
    spec = read_spec(_spec(tmp_path))
    runs = plan(spec, tmp_path / "sweeps" / "grid", device=None)
    config = runs[-1].config
    assert config.task["name"] == "sub" and config.task["n_digits"] == 3
    assert config.model["n_layers"] == 1 and config.model["n_heads"] == 4
    assert config.train.seed == 7 and config.train.batch_size == 32
    assert config.init.source is None
    names = [r.out.name for r in runs]
    assert len(set(names)) == 8 and names[-1].startswith("sub_d3_l1_h4_s7-")


def test_run_folders_depend_on_the_point_and_options_only(tmp_path: Path) -> None:
    spec = read_spec(_spec(tmp_path))
    point = spec.points()[0]
    assert point_key(point, spec) == point_key(dict(point), read_spec(_spec(tmp_path)))
    assert point_key({**point, "seed": 8}, spec) != point_key(point, spec)
    other = read_spec(_spec(tmp_path, SPEC.replace("batch_size = 32", "batch_size = 64")))
    assert point_key(point, other) != point_key(point, spec)


def test_reuse_points_carry_their_source(tmp_path: Path) -> None:
    text = SPEC.replace('task = ["add", "sub"]', 'task = "mix"').replace(
        "digits = [2, 3]", "digits = 6"
    )
    text = text.replace("layers = 1", "layers = 3").replace("heads = [2, 4]", "heads = 4")
    text = text.replace("[train]", 'init_from = "zoo:add_d6_l2"\nreuse = ["none", "ins1"]\n[train]')
    runs = plan(read_spec(_spec(tmp_path, text)), tmp_path, device=None)
    assert [r.config.init.source for r in runs] == [None, "zoo:add_d6_l2"]
    assert runs[1].config.init.reuse == "ins1"
    # a reuse recipe trained from scratch drops the recipe's own source
    text = text.replace("layers = 3", 'preset = "ins1_mix_d6_l3"')
    runs = plan(read_spec(_spec(tmp_path, text)), tmp_path, device=None)
    assert [r.config.init.source for r in runs] == [None, "zoo:add_d6_l2"]
    assert "_ins1-" in runs[1].out.name and "_ins1" not in runs[0].out.name


def test_a_mistake_in_the_grid_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AlgolensError, match="did you mean 'layers'"):
        read_spec(_spec(tmp_path, SPEC.replace("layers = 1", "layer = 1")))


CARD = {
    "parameters": 1234,
    "training": {"steps": 100, "wall_seconds": 3.5, "final_loss": 0.25},
    "verification": {
        "uniform": {"questions": 1000, "failures": 2, "failures_per_million": 2000.0,
                    "interval": [242.0, 7200.0]},
        "training": {"questions": 1000, "failures": 0, "failures_per_million": 0.0,
                     "interval": [0.0, 3685.0]},
        "suites": {"carry": {"questions": 19, "failures": 1}},
    },
}  # fmt: skip


def test_a_row_holds_the_point_training_rates_intervals_and_suites() -> None:
    row = result_row("r1", {"task": "add", "steps": 120}, CARD, 9.04)
    assert row["steps"] == 120 and row["steps_done"] == 100  # asked for, and done
    assert row["uniform_failures"] == 2 and row["uniform_per_million_high"] == 7200.0
    assert row["training_per_million"] == 0.0 and row["suite_carry_failures"] == 1
    assert row["total_seconds"] == 9.0 and row["train_seconds"] == 3.5
    lego = {**CARD, "verification": {}, "evaluation": {"acc_trained": 0.9, "by": {"a": 1}}}
    assert result_row("r2", {}, lego, 1)["eval_acc_trained"] == 0.9


def test_results_files_and_page(tmp_path: Path) -> None:
    rows = [
        result_row("r1", {"task": "add"}, CARD, 1.0),
        result_row("r2", {"task": "sub"}, CARD, 2.0),
    ]
    csv_path, json_path = write_results(tmp_path, rows)
    read = list(csv.DictReader(csv_path.open()))
    assert [r["run"] for r in read] == ["r1", "r2"] and read[1]["task"] == "sub"
    assert json.loads(json_path.read_text()) == rows
    for name in ("r1", "r2"):  # loss curves read each run's metrics
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    html = write_page(tmp_path, "grid", rows, planned=3).read_text()
    assert "2 of 3" in html and html.count('class="plotly-graph-div"') == 2


def test_dry_run_says_where_each_run_stands(tmp_path: Path) -> None:
    item = plan(read_spec(_spec(tmp_path)), tmp_path / "sweep", device=None)[0]
    out, steps = item.out, item.config.train.steps
    assert run_status(item, 500) == "to run"
    out.mkdir(parents=True)
    (out / store.METRICS).write_text('{"step": 50, "loss": 2.0}\n{"step": 100, "loss": 1.0}\n')
    (out / store.CHECKPOINT).write_bytes(b"")
    assert (
        run_status(item, 500)
        == f"interrupted: logged step 100 of {steps:,}; the next sweep resumes it"
    )
    with store.writer_lock(out):  # this process trains it
        assert run_status(item, 500).startswith(f"training now (process {os.getpid()} on ")
    (out / store.LOCK).write_text(json.dumps({"pid": 2**22 + 7, "host": socket.gethostname()}))
    assert run_status(item, 500).startswith("interrupted")  # a lock whose process is gone
    (out / store.CHECKPOINT).unlink()
    (out / store.WEIGHTS).write_bytes(b"")
    marker = {"run_id": "0" * 32, "config_sha256": "", "done": False}
    store.write_json(out / store.RUN, marker)  # weights the trainer never marked finished
    assert run_status(item, 500).startswith("cut: ")
    store.write_json(out / store.RUN, {**marker, "done": True})
    assert run_status(item, 500) == "trained, not verified"
    store.write_json(out / RESULT, {"questions": 500, "row": {"run": out.name}})
    assert run_status(item, 500) == "done"
    assert run_status(item, 1000) == "trained, not verified"  # verified on other questions


def test_a_spec_without_init_keeps_its_run_folders() -> None:
    """Folder names are how a rerun finds its runs: the [init] table must not move them."""
    runs = plan(read_spec(Path("examples/sweeps/papers.toml")), Path("s"), device=None)
    names = ["add_d5_l2_h3_s0-5d866e46", "add_d5_l2_h4_s0-40e0b978"]
    assert [r.out.name for r in runs[:2]] == names


def test_lego_variant_points_are_the_lego_train_command_s_runs(tmp_path: Path) -> None:
    """A (variant, seed) point of examples/sweeps/lego_variants.toml is the run that
    ``algolens lego train --variant V --seed S`` (and ``lego compare``) makes."""
    from dataclasses import asdict

    from algolens import runs as api
    from algolens.families.lego.commands import run_config, specs, train_config
    from algolens.families.lego.mimic import MimicConfig

    items = plan(read_spec(Path("examples/sweeps/lego_variants.toml")), tmp_path, device=None)
    assert len(items) == 15 and len({i.out.name for i in items}) == 15
    task, model = specs(12, 6, 14, "any", 6, 4, 128, 256)
    for item in items:
        variant, seed = item.point["variant"], item.point["seed"]
        assert f"_{variant}-" in item.out.name
        mimic = {"steps": 150, "lr": 3e-3, "window": 3, "n_parent": 0, "seed": seed}
        train = train_config(1500, 64, 1e-3, 50, "", 1.0, "cpu", seed=seed)
        ref, got = run_config(api, variant, task, model, train, mimic), item.config
        assert got.task == ref.task and got.model == ref.model
        assert asdict(got.train) == {**asdict(ref.train), "checkpoint_every": 1000}
        assert got.init.variant == ref.init.variant == variant
        family = got.init.family.get("mimic")
        assert (family is None) == (variant not in ("mimic", "parent"))
        if family is not None:  # the mimic init's seed is the run's, as lego train's
            assert MimicConfig.from_dict(family) == MimicConfig.from_dict(mimic)
    conv = {i.point["variant"]: i.config.model.get("conv_kernel") for i in items}
    assert conv["parent"] == 7 and conv["conv"] == 3 and not conv["random"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('task = "lego"', 'task = "add"\ndigits = 2'), "task add has no model variants"),
        (('"parent"]', '"parnet"]'), "did you mean 'parent'"),
        (("[init.mimic]", "[init.mimc]"), "did you mean 'mimic'"),
        (("window = 3", "windw = 3"), "windw"),
    ],
)
def test_a_mistake_in_a_variant_grid_is_one_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = Path("examples/sweeps/lego_variants.toml").read_text()
    assert change[0] in text
    bad = text.replace(*change).replace("[task]\nn_vars", "[task]\n#").replace("train_k", "#k")
    bad = bad.replace("max_vars", "#m")
    with pytest.raises(AlgolensError, match=message):
        read_spec(_spec(tmp_path, bad))
    init_on_add = SPEC + "[init.mimic]\nsteps = 3\n"
    with pytest.raises(AlgolensError, match="an \\[init\\] table does not apply"):
        read_spec(_spec(tmp_path, init_on_add))


def test_lego_rows_and_page_show_accuracy_by_chain_position(tmp_path: Path) -> None:
    evaluation = {"acc_trained": 0.9, "accuracy_by_position": {"pos1": 1.0, "pos2": 0.8},
                  "head_classes": {"L0.H0": "association"}, "probes": {"parent": 0.5}}  # fmt: skip
    lego = {**CARD, "verification": {}, "evaluation": evaluation}
    row = result_row("l1", {"task": "lego", "variant": "parent"}, lego, 1.0)
    assert row["eval_accuracy_by_position_pos2"] == 0.8 and row["eval_probes_parent"] == 0.5
    assert not any(k.startswith("eval_head_classes") for k in row)  # words, not numbers
    html = write_page(tmp_path, "lego", [row], planned=1).read_text()
    assert "Accuracy by chain position" in html and "Failures per million" not in html
    html = write_page(tmp_path, "grid", [result_row("r1", {}, CARD, 1.0)], 1).read_text()
    assert "Failures per million" in html and "Accuracy by chain position" not in html


def test_late_loss_max_looks_at_the_last_sixth_only(tmp_path: Path) -> None:
    from algolens.sweep.rows import late_loss_max
    from algolens.sweep.runner import saved_row

    logs = [{"step": s, "loss": 1e-6} for s in range(100, 1300, 100)]
    logs[5]["loss"] = 0.5  # step 600: before the window, ignored
    assert late_loss_max(logs, 1200) == 1e-6
    logs[-2]["loss"] = 3e-3  # step 1100: inside (after step 1,000 of 1,200)
    assert late_loss_max(logs, 1200) == 3e-3
    assert late_loss_max([{"step": 50, "val_acc": 1.0}], 1200) is None
    out = tmp_path / "r"  # a row saved before the column existed gets it from the metrics
    out.mkdir()
    (out / store.METRICS).write_text("\n".join(json.dumps(m) for m in logs) + "\n")
    store.write_json(out / store.CONFIG, {"task": {"name": "add"}, "train": {"steps": 1200}})
    store.write_json(out / RESULT, {"questions": 5, "row": {"run": "r", "steps_done": 1200}})
    assert saved_row(out, 5) == {"run": "r", "task": "add", "steps": 1200, "steps_done": 1200,
                                 "late_loss_max": 3e-3}  # fmt: skip


def test_the_papers_digits_sweep_trains_5_to_15_digits_on_one_recipe() -> None:
    """examples/sweeps/papers_digits.toml: addition at 5 to 15 digits, 2 layers, 3 heads, each
    run on the 15-digit recipe (clipped gradients) with planted carry and nines runs, some of
    them bare (zero columns below), verified on a million questions of both distributions."""
    spec = read_spec(Path("examples/sweeps/papers_digits.toml"))
    runs = plan(spec, Path("s"), device=None)
    assert spec.questions == 1_000_000
    assert [r.config.task["n_digits"] for r in runs] == list(range(5, 16))
    for r in runs:
        assert (r.config.model["n_layers"], r.config.model["n_heads"]) == (2, 3)
        task = r.config.task
        shares = ("short_share", "cascade_share", "nines_share", "bare_share")
        assert tuple(task[k] for k in shares) == (0.1, 0.2, 0.5, 0.5)
        t = r.config.train
        assert (t.steps, t.lr, t.grad_clip) == (18_000, 2e-3, 1.0)
