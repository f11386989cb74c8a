"""More rows of the bad-input table (tests/bad_inputs.py appends them to ``CASES``): numbers out
of range, config.json, metrics.jsonl and checkpoint parts of the wrong kind, weights that are
not a HookedTransformer's, and options that were once accepted silently. Each row is
``(name, argv, words, setup, paused)`` as in :class:`tests.bad_inputs.Case`; every one must be
one ``error:`` line, exit code 2, and nothing written.

Kept apart from tests/bad_inputs.py so that each file stays short; it imports nothing from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

BIG = str(2**64)  # overflowed torch's seed (and C's long) into a traceback
E20 = str(10**20)
TINY = ["--layers", "1", "--heads", "2", "--d-model", "16", "--steps", "3", "--no-progress"]
TRAIN = ["train", "add", "--digits", "2", "--out", "{out}", *TINY]
SWEEP = 'questions = 10\n[grid]\ntask = "add"\ndigits = 2\nlayers = 1\nsteps = 2\n'
HUGE = 10**400  # a whole number beyond any float: math.isfinite(HUGE) raises OverflowError
SPECS = {
    "sweep_big_seed": SWEEP + f"seed = {BIG}\n",
    "sweep_nan_lr": SWEEP + "[train]\nlr = nan\n",
    "sweep_huge_lr": SWEEP + f"[train]\nlr = {HUGE}\n",
}


def _edit_json(name: str, edit: Callable[[Any], object]) -> Callable[[Path], None]:
    def setup(run: Path) -> None:
        data = json.loads((run / name).read_text())
        edit(data)
        (run / name).write_text(json.dumps(data))

    return setup


def _old_layout(**fields: object) -> Callable[[Path], None]:
    """config.json in the first layout (no format), with ``fields`` set."""

    def edit(cfg: dict[str, Any]) -> None:
        for key in ("format", "init", "provenance"):
            cfg.pop(key, None)
        cfg.update(fields)

    return _edit_json("config.json", edit)


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_text(text)


def _checkpoint(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def setup(run: Path) -> None:
        state = torch.load(run / "checkpoint.pt", weights_only=True)
        edit(state)
        torch.save(state, run / "checkpoint.pt")

    return setup


def _adam_moment(state: dict[str, Any]) -> None:
    entry = state["optimizer"]["state"][0]
    entry["exp_avg"] = torch.zeros(3)


def _resume(name: str, words: tuple[str, ...], edit: Callable[[dict[str, Any]], object]) -> tuple:
    argv = ["train", "--resume", "--out", "{bad}", "--no-progress"]
    return (name, argv, words, _checkpoint(edit), True)


def _import(name: str, words: tuple[str, ...]) -> tuple:
    argv = ["import", f"{{tmp}}/imp_{name}.pth", "add", "--digits", "2", "--out", "{out}"]
    return (f"import {name}", argv, words)


def weight_files(add: Path) -> dict[str, dict[str, torch.Tensor]]:
    """State dicts that are not a HookedTransformer's, made from a run's weights."""
    from safetensors.torch import load_file

    sd = load_file(str(add / "model.safetensors"))
    b_in = sd["blocks.0.mlp.b_in"]
    return {
        "key blocks.foo.x": {**sd, "blocks.foo.x": torch.zeros(2)},
        "2-D W_Q": {**sd, "blocks.0.attn.W_Q": torch.zeros(4, 64)},
        "0-d W_E": {**sd, "embed.W_E": torch.tensor(1.0)},
        "NaN weights": {**sd, "blocks.0.mlp.b_in": torch.full_like(b_in, float("nan"))},
        "integer weights": {k: (v * 100).to(torch.int64) for k, v in sd.items()},
        "complex weights": {k: v.to(torch.complex64) for k, v in sd.items()},
        "boolean weights": {**sd, "unembed.b_U": torch.ones(13, dtype=torch.bool)},
    }


def prepare(tmp: Path, add: Path) -> None:
    """The files the rows name under ``{tmp}``: sweep specs and state dicts."""
    for name, text in SPECS.items():
        (tmp / f"{name}.toml").write_text(text)
    for name, sd in weight_files(add).items():
        torch.save(sd, tmp / f"imp_{name}.pth")


ROWS: list[tuple] = [
    # ---- numbers out of range, refused as the options are parsed ----------------------------
    ("seed 2^64 train", [*TRAIN, "--seed", BIG], ("--seed",)),
    ("seed 2^32 repeats seed 0", [*TRAIN, "--seed", str(2**32)], ("--seed",)),
    ("seed 2^64 train-opt", [*TRAIN, "--train-opt", f"seed={BIG}"], ("seed",)),
    ("seed 2^64 sample", ["sample", "add", "--seed", BIG], ("--seed",)),
    ("seed 2^64 verify", ["verify", "{add}", "-n", "10", "--seed", BIG], ("--seed",)),
    ("seed 2^64 analyse", ["analyse", "{add}", "--out", "{out}", "--seed", BIG], ("--seed",)),
    (
        "seed 2^64 lego",
        ["lego", "train", "--steps", "2", "--out", "{out}", "--seed", BIG],
        ("--seed",),
    ),
    (
        "seeds 2^64 lego compare",
        ["lego", "compare", "--seeds", BIG, "--out", "{out}"],
        ("--seeds",),
    ),
    ("seed 2^64 sweep", ["sweep", "{tmp}/sweep_big_seed.toml", "--out", "{out}"], ("seed",)),
    ("lr nan sweep", ["sweep", "{tmp}/sweep_nan_lr.toml", "--out", "{out}"], ("lr",)),
    (
        "seed 2^64 zoo build",
        ["zoo", "build", "add_d5_l2", "--work", "{out}", "--seed", BIG],
        ("--seed",),
    ),
    ("workers 1e20 verify", ["verify", "{add}", "-n", "10", "--workers", E20], ("--workers",)),
    (
        "workers 1e20 sweep",
        ["sweep", "{tmp}/sweep_ok.toml", "--workers", E20, "--out", "{out}"],
        ("--workers",),
    ),
    (
        "analyse questions 1e20",
        ["analyse", "{add}", "--questions", E20, "--out", "{out}"],
        ("--questions",),
    ),
    (
        "gpus per run nan",
        ["sweep", "{tmp}/sweep_ok.toml", "--gpus-per-run", "nan", "--out", "{out}"],
        ("--gpus-per-run",),
    ),
    ("verify timeout nan", ["verify", "{add}", "-n", "10", "--timeout", "nan"], ("--timeout",)),
    ("verify shards 1e20", ["verify", "{add}", "--exhaustive", "--shards", E20], ("--shards",)),
    ("verify questions 1e20", ["verify", "{add}", "-n", E20], ("--questions",)),
    (
        "model option of 5000 digits",
        [*TRAIN, "--model-opt", "n_layers=" + "9" * 5000],
        ("n_layers",),
    ),
    (
        "model option nested deep",
        [*TRAIN, "--model-opt", "n_layers=" + "[" * 100_000],
        ("n_layers",),
    ),
    ("batch size 1e12", [*TRAIN, "--train-opt", f"batch_size={10**12}"], ("batch_size",)),
    ("lr of 400 digits", [*TRAIN, "--train-opt", f"lr={HUGE}"], ("lr",)),
    ("sweep lr of 400 digits", ["sweep", "{tmp}/sweep_huge_lr.toml", "--out", "{out}"], ("lr",)),
    ("d_vocab_out 1", [*TRAIN, "--model-opt", "d_vocab_out=1"], ("d_vocab_out",)),
    ("model seed -1", [*TRAIN, "--model-opt", "seed=-1"], ("seed",)),
    (
        "analyse questions 1e12 (16 TB)",
        ["analyse", "{add}", "--questions", str(10**12), "--out", "{out}"],
        ("--questions",),
    ),
    ("device cuda:arabic 3", [*TRAIN, "--device", "cuda:\u0663"], ("device",)),
    ("n_ctx text", [*TRAIN, "--model-opt", "n_ctx=abc"], ("n_ctx",)),
    (
        "lego compare n-eval 0",
        [
            "lego",
            "compare",
            "--variants",
            "random",
            "--steps",
            "2",
            "--n-eval",
            "0",
            "--out",
            "{out}",
        ],
        ("--n-eval",),
    ),
    # ---- accepted silently once ------------------------------------------------------------
    ("task-opt name train", [*TRAIN, "--task-opt", "name=sub"], ("TASK",)),
    ("task-opt name sample", ["sample", "add", "--task-opt", "name=sub"], ("TASK",)),
    (
        "task-opt name import",
        [
            "import",
            "{add}/model.safetensors",
            "add",
            "--digits",
            "2",
            "--task-opt",
            "name=sub",
            "--out",
            "{out}",
        ],
        ("TASK",),
    ),
    (
        "arabic-indic --digits",
        ["train", "add", "--digits", "\u0663", "--out", "{out}", *TINY],
        ("--digits",),
    ),
    ("--digits 1_0", ["sample", "add", "--digits", "1_0"], ("--digits",)),
    ("init_range -1", [*TRAIN, "--model-opt", "init_range=-1"], ("init_range",)),
    (
        "n_key_value_heads 3 of 2",
        [*TRAIN, "--model-opt", "n_key_value_heads=3"],
        ("n_key_value_heads",),
    ),
    ("presets of no task", ["presets", "nosuch"], ("nosuch",)),
    ("verify --digits of a run", ["verify", "{add}", "-n", "10", "--digits", "3"], ("--digits",)),
    (
        "import --out empty",
        ["import", "{add}/model.safetensors", "add", "--digits", "2", "--out", ""],
        ("--out",),
    ),
    (
        "zoo retrain questions 0",
        ["zoo", "retrain", "add_d5_l2", "--questions", "0", "--out", "{out}"],
        ("--questions",),
    ),
    # ---- config.json and metrics.jsonl of the wrong kind -----------------------------------
    (
        "config model {}",
        ["info", "{bad}"],
        ("do not fit",),
        _edit_json("config.json", lambda c: c.update(model={})),
    ),
    ("old config train a list", ["info", "{bad}"], ("'train'",), _old_layout(train=[1])),
    ("old config argv a number", ["info", "{bad}"], ("'argv'",), _old_layout(argv=5)),
    (
        "old config mimic_init a number",
        ["info", "{bad}"],
        ("'mimic_init'",),
        _old_layout(mimic_init=5),
    ),
    (
        "old config versions a list",
        ["info", "{bad}"],
        ("'versions'",),
        _old_layout(versions=[1, 2]),
    ),
    (
        "config nested deep",
        ["info", "{bad}"],
        ("config.json",),
        _write("config.json", "[" * 100_000),
    ),
    (
        "metrics nested deep",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        _write("metrics.jsonl", "[" * 100_000 + '\n{"step": 1}\n'),
    ),
    (
        "metrics 5000-digit integer",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        _write("metrics.jsonl", '{"step": 1, "loss": ' + "9" * 5000 + "}\n"),
    ),
    (
        "config lr of 400 digits",
        ["info", "{bad}"],
        ("lr",),
        _edit_json("config.json", lambda c: c["train"].update(lr=HUGE)),
    ),
    (
        "metrics step true",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        _write("metrics.jsonl", '{"step": true}\n{"step": 2}\n'),
    ),
    # ---- checkpoint parts of the wrong kind (train --resume) -------------------------------
    _resume("checkpoint elapsed abc", ("elapsed",), lambda s: s.update(elapsed="abc")),
    _resume("checkpoint step true", ("step",), lambda s: s.update(step=True)),
    _resume("checkpoint elapsed of 400 digits", ("elapsed",), lambda s: s.update(elapsed=HUGE)),
    _resume(
        "checkpoint scheduler epoch of 400 digits",
        ("scheduler",),
        lambda s: s["scheduler"].update(last_epoch=HUGE),
    ),
    _resume(
        "checkpoint metrics_bytes text", ("metrics_bytes",), lambda s: s.update(metrics_bytes="abc")
    ),
    _resume("checkpoint grokfast text", ("grokfast",), lambda s: s.update(grokfast="x")),
    _resume(
        "checkpoint scheduler epoch text",
        ("scheduler",),
        lambda s: s["scheduler"].update(last_epoch="x"),
    ),
    _resume("checkpoint scheduler a number", ("scheduler",), lambda s: s.update(scheduler=5)),
    _resume(
        "checkpoint lr text",
        ("optimizer",),
        lambda s: s["optimizer"]["param_groups"][0].update(lr="x"),
    ),
    _resume("checkpoint moment of another shape", ("optimizer",), _adam_moment),
    # ---- import: names, ranks, dtypes, values --------------------------------------------
    _import("key blocks.foo.x", ("blocks.foo.x",)),
    _import("2-D W_Q", ("W_Q",)),
    _import("0-d W_E", ("W_E",)),
    _import("NaN weights", ("NaN",)),
    _import("integer weights", ("int64",)),
    _import("complex weights", ("complex64",)),
    _import("boolean weights", ("bool",)),
]
