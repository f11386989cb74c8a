"""Shared fixtures: seeding, tiny CPU configs, and a trained 2-digit model reused across tests."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the network


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread for the test: tiny models and small batches run several times
    (up to 40 times) faster on one thread than on two when the 2 cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model_spec(**overrides: object) -> dict:
    """A transformer small enough to train in seconds on CPU."""
    spec = {"kind": "transformer", "n_layers": 1, "n_heads": 2, "d_model": 32}
    spec.update(overrides)
    return spec


# The recipe the integration tier uses for 2-digit addition (100% on all 10,000 questions).
ADD_D2_MODEL = {"kind": "transformer", "n_layers": 2, "n_heads": 4, "d_model": 64}
ADD_D2_TRAIN = {
    "steps": 800,
    "batch_size": 256,
    "lr": 3e-3,
    "warmup_frac": 0.05,
    "log_every": 50,
    "seed": 0,
}


ADD_D2_STORED = Path(__file__).parent / "data" / "add_d2"  # trained once by the recipe above


def train_add_d2(out: Path) -> Path:
    from algolens.config import TrainConfig
    from algolens.runs import train

    return train(
        out,
        {"name": "add", "n_digits": 2},
        ADD_D2_MODEL,
        TrainConfig(**ADD_D2_TRAIN),
        progress=False,
        argv=["tests/conftest.py"],
    )


@pytest.fixture(scope="session")
def add_d2_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2-digit addition run the recipe above trains (800 steps): a copy of the stored run,
    so the fast tier does not train it; the slow tier trains it again and checks it is the same
    (tests/integration/test_add_d2.py)."""
    import shutil

    out = tmp_path_factory.mktemp("runs") / "add_d2"
    if not ADD_D2_STORED.is_dir():
        return train_add_d2(out)
    shutil.copytree(ADD_D2_STORED, out)
    return out
