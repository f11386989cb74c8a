"""LEGO's shortcut checks fail on an order-shortcut model (issue 33), and every rate in a LEGO
claim carries its count, seed and interval.

A model trained on chains in order can answer clause j from the clauses before it in the text
(the order shortcut). Before issue 33 the "no shortcut" checks passed on such a model (k = 3,
380 steps): its probes never left chain order. Here the order rule itself (fast tier) and a
model trained that way (slow tier) must fail "no order shortcut" and the probes; a
chain-follower and the zoo model must pass; a weight-edited zoo copy with its first parent
head silenced must fail the claims read from attention.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

import algolens
from algolens.families.lego import analysis as L
from algolens.families.lego.claims import no_order_shortcut, rate_text, run_claims
from algolens.families.lego.task import CLAUSE_LEN, MINUS, LegoTask, oracle

IN_ORDER = LegoTask(n_vars=6, train_k=3, shuffle=False, eval_size=0)


class Answerer(nn.Module):
    """Answers LEGO sentences without attention: by the chain (``rule='chain'``, the oracle)
    or by the clauses' order in the text (``rule='order'``: clause j's value is the parity of
    the signs of clauses 0..j, right exactly when the clauses come in chain order)."""

    def __init__(self, task: LegoTask, rule: str):
        super().__init__()
        self.task, self.rule = task, rule
        self.cfg = SimpleNamespace(n_ctx=task.n_ctx)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.rule == "order":
            signs = (tokens.view(tokens.shape[0], -1, CLAUSE_LEN)[:, :, 2] == MINUS).long()
            bits = signs.cumsum(-1) % 2
        else:
            bits = torch.tensor([self._values(row) for row in tokens.tolist()])
        logits = torch.zeros(*tokens.shape, 2)
        logits[:, ::CLAUSE_LEN] = torch.nn.functional.one_hot(bits, 2).float()
        return logits

    def _values(self, row: list[int]) -> list[int]:
        text = self.task.decode(row)
        values = oracle(text)
        return [0 if values[c.split()[0]] == 1 else 1 for c in text.split(";")]


def test_rate_text_counts_and_bounds() -> None:
    text = rate_text(0.5, 2048)
    assert text.startswith("0.5000 (1,024 of 2,048 clauses, 95% CI 0.4")
    assert rate_text(1.0, 3072).endswith("-1.0000)")


def test_order_claim_passes_on_a_chain_follower_and_fails_on_the_order_rule() -> None:
    follower = L.order_accuracies(Answerer(IN_ORDER, "chain"), IN_ORDER, 128, seed=3)
    order = L.order_accuracies(Answerer(IN_ORDER, "order"), IN_ORDER, 128, seed=3)
    assert follower["shuffled"] == follower["in_order"] == 1.0
    assert order["in_order"] == 1.0 and order["shuffled"] < 0.8  # it collapses when shuffled
    good = no_order_shortcut({"order": follower}, IN_ORDER.k)
    bad = no_order_shortcut({"order": order}, IN_ORDER.k)
    assert good is not None and good.passed and bad is not None and not bad.passed
    assert "384 of 384 clauses" in good.measured and "128 fresh sentences, seed 3" in good.measured
    # nothing learned is no pass either, even when both orders agree
    flat = {"order": {**follower, "shuffled": 0.5, "in_order": 0.5}}
    assert not no_order_shortcut(flat, IN_ORDER.k).passed  # type: ignore[union-attr]


def test_probes_shuffle_a_model_trained_in_order() -> None:
    """The probes of an in-order model include shuffled chains: the order rule fails them;
    a model trained on shuffled chains is probed as before (no 'shuffled' probe)."""
    names = [name for name, _, _ in L.probe_tasks(IN_ORDER, IN_ORDER.n_ctx)]
    assert "shuffled" in names
    shuffled_task = LegoTask(n_vars=6, train_k=3, eval_size=0)
    assert "shuffled" not in [n for n, _, _ in L.probe_tasks(shuffled_task, shuffled_task.n_ctx)]
    probes = [p.__dict__ for p in L.shortcut_probes(Answerer(IN_ORDER, "order"), IN_ORDER, 64)]
    honest = [p.__dict__ for p in L.shortcut_probes(Answerer(IN_ORDER, "chain"), IN_ORDER, 64)]
    meta = {"probe_sentences": 64, "k": 3, "seed": 0}
    assert not L.survives_probes({"probes": probes, **meta}).passed  # type: ignore[union-attr]
    claim = L.survives_probes({"probes": honest, **meta})
    assert claim is not None and claim.passed and "192 clauses" in claim.measured


def test_root_rule_claim_reads_following_on_shuffled_sentences() -> None:
    """An order-shortcut model agrees with the root rule at chance past position 2 (so the
    rule's check alone passed it) but does not follow shuffled chains: the claim fails."""
    agree = [1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    base = {"root_rule_agreement": agree, "acc_trained": 1.0, "probe_sentences": 64}
    order = {"shuffled": 0.55, "in_order": 1.0, "sentences": 64, "seed": 0}
    assert L.no_root_rule_shortcut(base).passed  # type: ignore[union-attr]
    claim = L.no_root_rule_shortcut({**base, "order": order})
    assert claim is not None and not claim.passed and "shuffled" in claim.measured
    follower = {**base, "order": {**order, "shuffled": 1.0}}
    assert L.no_root_rule_shortcut(follower).passed  # type: ignore[union-attr]


def test_template_heads_need_the_trained_positions_learned() -> None:
    heads = [{"kind": "association"}, {"kind": "manipulation"}]
    learned = L.has_template_heads({"heads": heads, "acc_trained": 1.0, "sentences": 256})
    broken = L.has_template_heads({"heads": heads, "acc_trained": 0.6, "sentences": 256})
    assert learned.passed and not broken.passed and "GATE FAILED" in broken.measured


# ---- slow: the zoo model, a weight-edited copy of it, and a model trained in order -----------
@pytest.mark.slow
def test_zoo_model_has_no_order_shortcut_and_a_silenced_copy_fails() -> None:
    run = algolens.load("zoo:lego_n12_k6")
    claims = {c.claim: c for c in run_claims(L.evaluate(run.model, run.task, 256), run.task.k)}
    order = next(c for name, c in claims.items() if name.startswith("No order shortcut"))
    assert order.passed and "256 fresh sentences, seed 0" in order.measured
    broken = copy.deepcopy(run.model)
    with torch.no_grad():
        broken.blocks[0].attn.W_O[2].zero_()  # L0.H2, the first parent head (0.59 on 1-6)
    result = L.evaluate(broken, run.task, 256)
    by_name = {c.claim.split(" ")[0]: c for c in run_claims(result, run.task.k)}
    assert not by_name["A"].passed and not by_name["Trained"].passed  # follows chain, heads
    assert "GATE FAILED" in by_name["Trained"].measured


@pytest.mark.slow
def test_a_model_trained_on_chains_in_order_fails_the_shortcut_checks(tmp_path: Path) -> None:
    """The audit's case: n = 6, k = 3, clauses in chain order, 380 steps. The model learns its
    trained positions on in-order sentences (the order shortcut) and collapses on shuffled
    ones; "no order shortcut" and the probes must fail it."""
    from algolens.config import TrainConfig
    from algolens.runs import load_run, train

    task = {"name": "lego", "n_vars": 6, "train_k": 3, "shuffle": False, "eval_size": 256}
    model = {"n_layers": 2, "n_heads": 2, "d_model": 32, "d_mlp": 64}
    cfg = TrainConfig(steps=380, batch_size=128, lr=3e-3, weight_decay=0.0, warmup_frac=0.02,
                      log_every=50)  # fmt: skip
    run = load_run(train(tmp_path / "in_order", task, model, cfg, progress=False))
    result: Any = L.evaluate(run.model, run.task, 512)
    assert result["order"]["in_order"] >= 0.99 > 0.8 > result["order"]["shuffled"]
    claims = {c.claim.split(":")[0]: c for c in run_claims(result, run.task.k)}
    assert claims["A transformer encoder learns to follow the chain on the trained positions"]
    assert not claims["No order shortcut"].passed
    assert not claims["No shortcut the probes find"].passed
    assert not claims["No shortcut"].passed  # not the root rule, but no chain-follower either
    # the hypothesis's readout control: the last trained value (V2) is held nowhere in a model
    # that does not follow chains (measured: best 0.44 of 1,000 pairs, at a last-layer head on
    # its name token; V1 0.000). The zoo model holds its last value with a lower bound of at
    # least 0.85 (tests/unit/test_family_hypotheses.py); this one stays below that bar.
    from algolens.analysis.iia import measure_variable

    declared = run.declared()
    found = measure_variable(run.model, run.task, declared.hypothesis, "V2",
                             dict(declared.samplers), pairs=300, search_pairs=200,
                             control_pairs=100)  # fmt: skip
    assert found.search[0].iia < 0.7 and found.results[0].interval[1] < 0.85, found.search[0]


def test_comparison_claims_pool_their_clauses_over_seeds() -> None:
    def run(trained: float, untrained: float, sentences: int | None = 2048) -> dict[str, Any]:
        row = {"acc_trained": trained, "acc_untrained": untrained}
        extra = {"sentences": sentences, "k": 6, "accuracy": [0.0] * 12}
        return row | (extra if sentences else {})

    both = {"variants": {"random": [run(0.66, 0.49)] * 2, "parent": [run(0.99, 0.53)] * 2}}
    claim = L.comparison_claims(both)[0]
    assert claim.passed and "mean of 2 seeds; pooled 24,330 of 24,576 clauses" in claim.measured
    old = {"variants": {"random": [run(0.66, 0.49, None)], "parent": [run(0.99, 0.53, None)]}}
    assert (
        L.comparison_claims(old)[0].measured == "0.9900 (mean of 1 seed) vs 0.6600 (mean of 1 seed)"
    )
