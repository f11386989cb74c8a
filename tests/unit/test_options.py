"""Strict options: every config section refuses unknown keys and mistyped values in one line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algolens.config import InitConfig, RunConfig, TrainConfig
from algolens.errors import AlgolensError
from algolens.models import build_model
from algolens.options import from_dict

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_subnormal=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), values, max_size=4))
def test_training_options_either_parse_or_give_one_line(options: dict) -> None:
    try:
        cfg = from_dict(TrainConfig, options, "training")
    except AlgolensError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert cfg.lr > 0 and cfg.steps >= 1


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "n_layers",
                "n_heads",
                "d_model",
                "d_head",
                "d_mlp",
                "n_ctx",
                "act_fn",
                "n_layer",
                "causal",
            ]
        ),
        values,
        max_size=4,
    )
)
def test_model_options_either_build_or_give_one_line(options: dict) -> None:
    try:
        build_model({"n_ctx": 9, **options, "d_model": 16, "n_heads": 2})
    except AlgolensError as e:
        assert "\n" not in str(e) and str(e)


@pytest.mark.parametrize(
    ("section", "options", "message"),
    [
        (TrainConfig, {"lr": float("inf")}, "finite"),
        (TrainConfig, {"min_lr_frac": float("nan")}, "finite"),
        (TrainConfig, {"grad_clip": -1}, "grad_clip"),
        (TrainConfig, {"keep_every": -1}, "keep_every"),
        (TrainConfig, {"warmup_start": -5}, "warmup_start"),
        (TrainConfig, {"seed": "abc"}, "whole number"),
        (TrainConfig, {"steps": 1e3}, "whole number"),
        (TrainConfig, {"batch_size": 2.5}, "whole number"),
        (TrainConfig, {"beta1": 2}, "beta1"),
        (TrainConfig, {"weight_decay": -0.1}, "weight_decay"),
        (TrainConfig, {"weight_decy": 1}, "did you mean .weight_decay."),
        (InitConfig, {"freeze_heads": True}, "initialisation source"),
        (InitConfig, {"reuse": "ins4", "source": "x"}, "one of"),
    ],
)
def test_bad_values_are_refused(section: type, options: dict, message: str) -> None:
    with pytest.raises(AlgolensError, match=message):
        from_dict(section, options, "training")


def test_run_config_refuses_wrong_shapes() -> None:
    for bad in (
        [1],
        {"task": None, "model": {}},
        {"task": {"name": "add"}, "model": [1]},
        {"task": {"name": 3}, "model": {}},
        {"format": 2, "task": {"name": "add"}, "model": {}, "extra": 1},
    ):
        with pytest.raises(AlgolensError):
            RunConfig.from_dict(bad)
