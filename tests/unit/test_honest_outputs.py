"""Outputs that say what happened (issue 35, item 8): ``info --json`` is JSON that any parser
reads (null for NaN), ``import`` converts float16 weights with one note and says nothing for
float32 ones, ``presets`` of a known task lists it (the unknown one is in the bad-input table)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from tests.conftest import ADD_D2_STORED
from tests.unit.test_fuzz_inputs import outcome


def _strict(text: str) -> object:
    """JSON as other languages read it: a bare NaN or Infinity is an error."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_info_json_writes_null_for_nan(tmp_path: Path) -> None:
    run = tmp_path / "add"
    shutil.copytree(ADD_D2_STORED, run)
    (run / "metrics.jsonl").write_text('{"step": 50, "loss": NaN, "val_loss": Infinity}\n')
    code, lines, out = outcome(["info", str(run), "--json"])
    assert code == 0 and not lines
    final = _strict(out)["final"]  # type: ignore[index]
    assert final == {"step": 50, "loss": None, "val_loss": None}
    with pytest.raises(ValueError, match="NaN"):  # control: Python's own dump is refused
        _strict(json.dumps({"loss": math.nan}))


def test_import_converts_float16_with_one_note(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(str(ADD_D2_STORED / "model.safetensors"))
    half = {k: v.to(torch.float16) for k, v in weights.items()}
    torch.save(half, tmp_path / "half.pth")
    argv = ["import", str(tmp_path / "half.pth"), "add", "--digits", "2", "--out"]
    code, lines, _ = outcome([*argv, str(tmp_path / "half")])
    assert code == 0 and lines == [f"note: converted {len(half)} float16 weights to float32"]
    imported = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert all(torch.equal(imported[k], half[k].float()) for k in half)
    torch.save(weights, tmp_path / "full.pth")  # control: float32 weights, no note
    code, lines, _ = outcome(
        [*argv[:1], str(tmp_path / "full.pth"), *argv[2:], str(tmp_path / "f")]
    )
    assert code == 0 and lines == []


def test_presets_of_a_known_task_are_listed() -> None:
    code, lines, out = outcome(["presets", "add"])
    assert code == 0 and not lines
    assert out and all(line.startswith("add ") for line in out.splitlines())


def test_out_of_memory_is_one_line() -> None:
    """torch's allocator refusing a size is one line and exit 2; any other RuntimeError is a
    bug and stays a traceback (control)."""
    import typer

    from algolens.commands.base import friendly

    def asks_too_much() -> None:
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory"
        )

    def has_a_bug() -> None:
        raise RuntimeError("index 1 is out of bounds")

    with pytest.raises(typer.Exit) as stopped:
        friendly(asks_too_much)()
    assert stopped.value.exit_code == 2
    with pytest.raises(RuntimeError, match="out of bounds"):
        friendly(has_a_bug)()
