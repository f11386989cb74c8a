"""Property tests: whatever a file holds, a command succeeds or says one ``error:`` line and
exits 2, never a traceback. Hypothesis writes config.json, metrics.jsonl, a checkpoint's plain
parts, state dicts to import and sweep specs; the command reads them through
:func:`algolens.cli.main`, the function the ``algolens`` script calls.

Each property runs a few dozen examples (a few seconds); the negative control shows that the
property can fail: a command that raises is caught by :func:`outcome` as a traceback.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import ADD_D2_STORED, tiny_model_spec

from algolens.cli import main

FEW = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
NUMBERS = st.one_of(
    st.integers(-3, 300),
    st.sampled_from([2**63, 2**64, -(2**64), 10**20, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
JSON = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=6,
)
COUNTER = itertools.count()


def outcome(argv: list[str]) -> tuple[int, list[str], str]:
    """Exit code, stderr lines and stdout of ``algolens ARGV`` in-process; an exception that
    escapes ``main`` (a traceback to a user) fails the test."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, [line for line in err.getvalue().splitlines() if line.strip()], out.getvalue()


def assert_ok_or_one_line(argv: list[str], notes: bool = False) -> int:
    code, lines, _ = outcome(argv)
    if code == 0:
        assert all(line.startswith(("note: ", "warning: ")) for line in lines) or not notes, lines
    else:
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, lines)
    return code


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "add"
    shutil.copytree(ADD_D2_STORED, path)
    return path


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from algolens.config import TrainConfig
    from algolens.runs import train

    quick = TrainConfig(steps=4, batch_size=8, checkpoint_every=2, log_every=2)
    out = tmp_path_factory.mktemp("fuzz_paused") / "paused"
    spec = tiny_model_spec(d_model=16)
    return train(out, {"name": "add", "n_digits": 2}, spec, quick, progress=False, stop_after=2)


def test_outcome_catches_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a command that raises is not one line and exit 2."""
    import algolens.runs

    def broken(name: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(algolens.runs, "load", broken)
    with pytest.raises(ValueError):
        outcome(["info", "zoo:add_d5_l2"])


SECTIONS = ["task", "model", "train", "init", "provenance", "name", "format"]
KEYS = ["name", "n_digits", "kind", "n_layers", "d_model", "steps", "seed", "lr", "source",
        "argv", "versions", "train", "init_from", "mimic_init", "variant", "threads"]  # fmt: skip


@FEW
@given(
    section=st.sampled_from(SECTIONS),
    key=st.sampled_from(KEYS) | st.text(max_size=5) | st.none(),
    value=JSON,
    old=st.booleans(),
)
def test_any_config_json(run: Path, section: str, key: str | None, value: Any, old: bool) -> None:
    original = json.loads((ADD_D2_STORED / "config.json").read_text())
    cfg = json.loads(json.dumps(original))
    if old:  # the first layout: no format, provenance at the top level
        cfg.pop("format", None)
    if key is None or not isinstance(cfg.get(section), dict):
        cfg[section] = value
    else:
        cfg[section][key] = value
    (run / "config.json").write_text(json.dumps(cfg))
    try:
        assert_ok_or_one_line(["info", str(run)])
    finally:
        (run / "config.json").write_text(json.dumps(original))


ROWS = st.fixed_dictionaries({"step": NUMBERS | SCALARS}, optional={"loss": JSON, "x": JSON})
LINES = st.one_of(
    ROWS.map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=12),
    st.sampled_from(["[" * 100_000, '{"step": 1, "a": ' + "9" * 5000 + "}"]),
)


@FEW
@given(lines=st.lists(LINES, max_size=4), as_json=st.booleans())
def test_any_metrics_jsonl(run: Path, lines: list[str], as_json: bool) -> None:
    original = (ADD_D2_STORED / "metrics.jsonl").read_bytes()
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    try:
        argv = ["info", str(run), *(["--json"] if as_json else [])]
        code, lines_err, out = outcome(argv)
        assert code == 0 or (code == 2 and len(lines_err) == 1), (code, lines_err)
        if code == 0 and as_json:  # strict JSON: no NaN or Infinity
            json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in info --json"))
    finally:
        (run / "metrics.jsonl").write_bytes(original)


PARTS = ["step", "elapsed", "metrics_bytes", "metrics_sha256", "grokfast", "final", "run_id",
         "config_sha256", "scheduler", "generator"]  # fmt: skip


@settings(FEW, max_examples=8)
@given(changes=st.dictionaries(st.sampled_from(PARTS), JSON, min_size=1, max_size=3))
def test_any_checkpoint_parts(paused: Path, changes: dict[str, Any]) -> None:
    copy = paused.parent / f"resume_{next(COUNTER)}"
    shutil.copytree(paused, copy)
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    torch.save({**state, **changes}, copy / "checkpoint.pt")
    assert_ok_or_one_line(["train", "--resume", "--out", str(copy), "--no-progress"])
    shutil.rmtree(copy)


DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.bool,
          torch.complex64, torch.uint8]  # fmt: skip
NAMES = ["embed.W_E", "pos_embed.W_pos", "unembed.W_U", "blocks.0.attn.W_Q", "blocks.1.mlp.W_in",
         "blocks.foo.x", "blocks.", "blocks.0.attn.mask", "blocks.0.attn.IGNORE", "x"]  # fmt: skip


@st.composite
def weights(draw: st.DrawFn) -> torch.Tensor:
    shape = draw(st.lists(st.integers(0, 5), max_size=3))
    value = torch.randn(shape).mul(draw(st.sampled_from([1.0, 1e30, 1e300])))
    if draw(st.booleans()) and value.numel():
        value.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return value.to(draw(st.sampled_from(DTYPES)))


@FEW
@given(changes=st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), weights(), max_size=3))
def test_any_state_dict_to_import(run: Path, changes: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import load_file

    where = run.parent / f"import_{next(COUNTER)}"
    where.mkdir()
    state_dict = {**load_file(str(run / "model.safetensors")), **changes}
    torch.save(state_dict, where / "weights.pth")
    argv = ["import", str(where / "weights.pth"), "add", "--digits", "2", "--out", str(where / "o")]
    assert_ok_or_one_line(argv, notes=True)
    shutil.rmtree(where)


def _toml(value: Any) -> str:
    """A TOML value (floats as TOML writes nan and inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


TOML_VALUES = st.one_of(
    st.booleans(), NUMBERS, st.text(max_size=5), st.lists(st.booleans() | NUMBERS, max_size=3)
)
GRID = ["task", "digits", "layers", "heads", "d_model", "steps", "seed", "variant", "p", "lr"]
TOP = ["questions", "name", "reuse", "init_from", "qestions"]


@FEW
@given(
    top=st.dictionaries(st.sampled_from(TOP), TOML_VALUES, max_size=2),
    grid=st.dictionaries(
        st.sampled_from(GRID) | st.text("abcdefg_", max_size=5), TOML_VALUES, max_size=3
    ),
    train=st.dictionaries(st.sampled_from(["lr", "batch_size", "seed", "steps"]), TOML_VALUES),
    task=st.sampled_from(["add", "modadd", "lego", "nosuch"]),
)
def test_any_sweep_spec(run: Path, top: dict, grid: dict, train: dict, task: str) -> None:
    where = run.parent / f"sweep_{next(COUNTER)}"
    where.mkdir()
    grid = {k: v for k, v in grid.items() if k}
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in top.items())
    text += f'[grid]\ntask = "{task}"\n' + "".join(
        f"{k} = {_toml(v)}\n" for k, v in grid.items() if k != "task"
    )
    text += "[train]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in train.items())
    (where / "spec.toml").write_text(text)
    argv = ["sweep", str(where / "spec.toml"), "--dry-run", "--out", str(where / "out")]
    assert_ok_or_one_line(argv)
    shutil.rmtree(where)


@FEW
@given(
    name=st.sampled_from(["seed", "workers", "questions", "n_eval", "gpus_per_run", "lr", "x"]),
    value=NUMBERS,
)
def test_any_number_for_an_option(name: str, value: float) -> None:
    """Every parsed number is in its range or one line naming its flag (``show_number`` says a
    10^400 by its size: ``str`` refuses an integer of over 4,300 digits)."""
    from algolens.commands.base import INT64, LIMITS, check_numbers
    from algolens.errors import AlgolensError

    low, high = LIMITS.get(name, (-INT64, INT64))
    fits = low <= value <= high and (isinstance(value, int) or math.isfinite(value))
    try:
        check_numbers({name: value})
    except AlgolensError as e:
        assert str(e).startswith("--" + name.replace("_", "-")) and "\n" not in str(e)
        assert not fits
    else:
        assert fits
