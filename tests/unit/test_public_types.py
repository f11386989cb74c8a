"""A user's type checker sees the public API: its functions return types, not ``Any``.

``Any`` stays where data is really untyped (JSON at the edges: ``Run.iia``'s report, metrics
rows); everything else a user calls names what it returns. A slow test runs mypy --strict on a
user's script and reads the revealed types.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import algolens
import algolens.plan as plan
import algolens.runs as runs
import algolens.verify as verify

PUBLIC: list[Callable[..., Any]] = [
    algolens.load,
    runs.load_run,
    runs.Run.predict,
    runs.Run.verify,
    runs.Run.analyse,
    runs.Run.run_with_cache,
    runs.Run.to_tokens,
    runs.Run.to_str_tokens,
    runs.Run.logit_lens,
    runs.train,
    runs.train_run,
    runs.resume_run,
    plan.plan,
    plan.recipe_plan,
    plan.RunPlan.of,
    verify.verify,
    verify.verify_batches,
    verify.verify_exhaustive,
]


def _mentions_any(hint: object) -> bool:
    if hint is Any:
        return True
    return any(_mentions_any(arg) for arg in typing.get_args(hint))


def _return_hint(fn: Callable[..., Any]) -> object:
    """The return annotation, with the names the modules import only for type checkers."""
    from torch import Tensor
    from transformer_lens import ActivationCache

    from algolens.analysis.patching import LogitLens
    from algolens.families.base import Analysis
    from algolens.train import TrainResult
    from algolens.verify import VerifyResult

    kinds = (ActivationCache, Tensor, LogitLens, Analysis, TrainResult, VerifyResult)
    names = {kind.__name__: kind for kind in kinds}
    return typing.get_type_hints(fn, localns=names)["return"]


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__qualname__)
def test_a_public_function_returns_a_type_not_any(fn: Callable[..., Any]) -> None:
    assert not _mentions_any(_return_hint(fn)), _return_hint(fn)


def test_the_check_sees_any_where_it_is() -> None:
    """The control: a function returning Any, or a container of Any, is caught."""

    def loose() -> Any: ...

    def json_edge() -> dict[str, Any]: ...

    assert _mentions_any(typing.get_type_hints(loose)["return"])
    assert _mentions_any(typing.get_type_hints(json_edge)["return"])
    assert _mentions_any(_return_hint(runs.Run.iia))  # the JSON report: Any by design


@pytest.mark.slow  # mypy on a script that imports torch's stubs: about 40 s
def test_mypy_strict_reveals_the_public_types(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(
        "import algolens\n"
        "run = algolens.load('zoo:add_d5_l2')\n"
        "reveal_type(run.verify(1000).failures)\n"
        "reveal_type(run.analyse().claims)\n"
        "reveal_type(run.run_with_cache('12+34')[1])\n"
        "run.verify(1000).failurez\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(script)], capture_output=True, text=True
    ).stdout
    assert 'Revealed type is "int"' in out
    assert 'Revealed type is "list[algolens.analysis.claims.Claim]"' in out
    assert "ActivationCache" in out
    assert 'has no attribute "failurez"' in out  # the control: a misspelt field is an error
