"""Distributed alignment search on a planted model: a hand-built network that keeps the sum
s = a + b as an angle in a known 2-d subspace of its residual stream, hidden by a rotation.

The model reads ``a b c`` and answers (s + c) mod 19 by adding angles. DAS must find the 2-d
subspace of s (held-out IIA about 1); the negative controls: a variable the model never keeps
(a alone) stays at the baseline of an answer that ignores the patch, and so does a rank-1
subspace of s (half the angle cannot carry it)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from algolens.analysis.das import Pairs, das, make_pairs
from algolens.analysis.nodes import Node
from algolens.tasks.base import Batch

M = 19  # answers are residues mod 19; a, b, c are digits
D = 8
SITE = (Node(2, 0, "resid"),)  # blocks.0.hook_resid_post at position 2


class PlantedTask:
    """Just what DAS reads from a task: the answer is token 3, predicted at position 2."""

    answer_start, n_answer, n_ctx = 3, 1, 4

    def answer_logits(self, out: Tensor) -> Tensor:
        return out[:, 2:3]


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_resid_post = HookPoint()


class Planted(HookedRootModule):
    """resid[2] = Q @ (cos s, sin s, cos c, sin c, a/10, b/10, ab/100, 1); answer angle s + c."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(1)
        q, _ = torch.linalg.qr(torch.randn(D, D, generator=gen))
        self.register_buffer("Q", q)
        self.unused = nn.Parameter(torch.zeros(1))  # a model has parameters (DAS freezes them)
        self.cfg = SimpleNamespace(causal=True, conv_kernel=0)
        self.blocks = nn.ModuleList([_Block()])
        self.setup()

    def forward(self, tokens: Tensor) -> Tensor:
        a, b, c = (tokens[:, i].double() for i in range(3))
        ts, tc = 2 * math.pi * (a + b) / M, 2 * math.pi * c / M
        one = torch.ones_like(a)
        feats = torch.stack(
            [ts.cos(), ts.sin(), tc.cos(), tc.sin(), a / 10, b / 10, a * b / 100, one], -1
        )
        resid = torch.zeros(len(tokens), 4, D, dtype=torch.float64)
        resid[:, 2] = feats.float().double() @ self.Q.double().T
        resid = self.blocks[0].hook_resid_post(resid.float())
        x = resid[:, 2] @ self.Q  # the features again
        z = torch.complex(x[:, 0], x[:, 1]) * torch.complex(x[:, 2], x[:, 3])
        angles = 2 * math.pi * torch.arange(M) / M
        logits = 10 * (z.real[:, None] * angles.cos() + z.imag[:, None] * angles.sin())
        out = torch.zeros(len(tokens), 4, M)
        out[:, 2] = logits
        return out


def questions(n: int, seed: int) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    abc = torch.randint(0, 10, (n, 3), generator=gen)
    ans = (abc.sum(-1, keepdim=True)) % M
    return Batch(torch.cat([abc, ans], -1), ans)


def sum_swapped(base: Batch, source: Batch) -> Tensor:
    """The hypothesis's counterfactual for s: the source's a + b, the base's c."""
    s = source.inputs[:, 0] + source.inputs[:, 1]
    return ((s + base.inputs[:, 2]) % M)[:, None]


def a_swapped(base: Batch, source: Batch) -> Tensor:
    """A variable the model does not keep on its own: a, taken from the source."""
    return ((source.inputs[:, 0] + base.inputs[:, 1] + base.inputs[:, 2]) % M)[:, None]


def pairs(counterfactual, n: int, seed: int) -> Pairs:
    return make_pairs(questions(n, seed), questions(n, seed + 100), counterfactual)


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def planted() -> Planted:
    model = Planted().eval()
    q = questions(500, 7)
    assert (model(q.inputs)[:, 2].argmax(-1) == q.targets[:, 0]).all()  # the model is right
    return model


def test_das_recovers_the_planted_subspace(planted: Planted) -> None:
    res = das(
        planted,
        PlantedTask(),
        SITE,
        pairs(sum_swapped, 1024, 0),
        pairs(sum_swapped, 2000, 1),
        rank=2,
        steps=150,
        lr=0.05,
    )  # type: ignore[arg-type]
    assert res.iia >= 0.95, res.to_dict()
    assert res.interval[0] > 0.9 and res.pairs == 2000
    assert res.baseline < 0.2  # the patch matters: an ignored patch would score this
    # the learned basis spans the planted plane: Q's first two columns, up to rotation
    plane = planted.Q[:, :2]
    captured = (res.basis @ plane).pow(2).sum()  # 2 when the spans are equal
    assert captured > 1.9


def test_das_stays_at_baseline_for_a_variable_the_model_does_not_keep(planted: Planted) -> None:
    res = das(
        planted,
        PlantedTask(),
        SITE,
        pairs(a_swapped, 1024, 0),
        pairs(a_swapped, 2000, 1),
        rank=2,
        steps=150,
        lr=0.05,
    )  # type: ignore[arg-type]
    assert res.baseline > 0.05  # a_src = a_base in about one pair of ten
    assert abs(res.iia - res.baseline) < 0.1, res.to_dict()  # 0.157 vs 0.106 measured
    assert res.iia < 0.3


def test_rank_one_cannot_carry_the_angle(planted: Planted) -> None:
    res = das(
        planted,
        PlantedTask(),
        SITE,
        pairs(sum_swapped, 1024, 0),
        pairs(sum_swapped, 2000, 1),
        rank=1,
        steps=150,
        lr=0.05,
    )  # type: ignore[arg-type]
    assert res.iia < 0.6, res.to_dict()


def test_group_of_nodes_must_share_a_hook() -> None:
    with pytest.raises(ValueError, match="one hook point"):
        das(
            Planted(),
            PlantedTask(),
            (Node(2, 0, "resid"), Node(2, 0, "mlp")),
            pairs(sum_swapped, 8, 0),
            pairs(sum_swapped, 8, 1),
        )  # type: ignore[arg-type]


def test_das_over_a_group_of_nodes(planted: Planted) -> None:
    """One subspace of two positions' residual streams (position 1 holds nothing): the plane
    is found in the concatenation too."""
    group = (Node(1, 0, "resid"), Node(2, 0, "resid"))
    train, test = pairs(sum_swapped, 1024, 0), pairs(sum_swapped, 2000, 1)
    res = das(planted, PlantedTask(), group, train, test, rank=2, steps=150, lr=0.05)  # type: ignore[arg-type]
    assert res.iia >= 0.95 and res.basis.shape == (2, 2 * D)
    assert res.basis[:, :D].abs().max() < 0.1  # nothing taken from the empty position
