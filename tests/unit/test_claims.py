"""Every claim can fail, and can pass: controls on untrained, rewired and synthetic models.

The trained zoo models are the natural controls (tests/integration/test_claims_zoo.py); here the
models are built to pass or to fail a claim, in seconds: an untrained model (it does not do the
task, so no algorithm claim may hold), attention rewired to the papers' layout or away from it,
the wrong construction rule, and synthetic answerers for the LEGO shortcut claims.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from algolens.families.arithmetic import claims as C
from algolens.families.arithmetic.analysis import analyse_arithmetic, check_claims
from algolens.families.arithmetic.questions import digit_positions
from algolens.families.arithmetic.reuse import ReuseResult, ReuseRow, reuse_claim
from algolens.families.arithmetic.subtraction import SignResult, sign_claim, subtask_claim
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.families.lego import analysis as L
from algolens.families.lego.task import LegoTask, oracle
from algolens.families.modular.analysis import (
    construction_claims,
    grok_timing,
    mlp_claims,
    tf_claims,
)
from algolens.families.modular.fourier import analyse_transformer
from algolens.families.modular.gates import Gates, log_check, split_rates
from algolens.families.modular.mlp import SIZES, analyse_mlp, construction_curve
from algolens.families.modular.task import ModAddTask
from algolens.models import build_model

ADD3 = ArithmeticTask("add", 3)


def untrained(task: ArithmeticTask, n_layers: int, n_heads: int = 3, seed: int = 0) -> nn.Module:
    spec = {"n_layers": n_layers, "n_heads": n_heads, "d_model": 48, "n_ctx": task.n_ctx}
    return build_model(spec | {"seed": seed}).eval()


def analysis(model: nn.Module, task: ArithmeticTask) -> Any:
    return analyse_arithmetic(model, task, n_questions=120, seed=0, per_class=20)


# ---- arithmetic: an untrained model fails every claim ------------------------------------------
@pytest.mark.parametrize(("op", "n_layers"), [("add", 1), ("add", 2), ("sub", 2), ("mix", 2)])
def test_untrained_model_fails_every_arithmetic_claim(op: str, n_layers: int) -> None:
    task = ArithmeticTask(op, 3)
    a = analysis(untrained(task, n_layers), task)
    claims = check_claims(a, task, n_layers=n_layers)
    assert len(claims) >= 4
    assert not any(c.passed for c in claims), [c for c in claims if c.passed]
    # the paper's cascade claim of the other depth fails on it too
    assert not C.fails_on_cascades(a).passed and not C.no_cascade_failures(a).passed


# ---- attention rewired: the staircase and the papers' head layout ------------------------------
def rewire(model: nn.Module, task: ArithmeticTask, column_of: Any) -> None:
    """Layer-0 attention replaced: at the position predicting A_d, head h attends to both digits
    of column ``column_of(d, h)`` (or to nothing in particular when it returns None)."""
    eq, n = task.answer_start - 1, task.n_digits

    def hook(pattern: torch.Tensor, hook: Any) -> torch.Tensor:
        out = pattern.clone()
        for j in range(task.n_answer):
            q = eq + j
            for h in range(out.shape[1]):
                col = column_of(n - j, h)
                if col is None or not 0 <= col < n:
                    continue
                out[:, h, q] = 0.0
                for p in digit_positions(task, col):
                    out[:, h, q, p] = 0.5
        return out

    model.blocks[0].attn.hook_pattern.add_hook(hook)


def test_attention_alone_passes_no_layout_claim() -> None:
    """An untrained model whose layer-0 attention is rewired to the papers' staircase and
    layout shows the pattern but computes nothing: the attention claims refuse it (the trained
    models that pass them, and weight-edited copies that must fail, are in
    tests/integration/test_claims_zoo.py)."""
    task = ArithmeticTask("add", 5)
    paper = untrained(task, 1)
    rewire(paper, task, lambda d, h: d - h)  # heads read d, d-1, d-2: one token apart
    a = analysis(paper, task)
    assert a.stair.steps()[0].tolist() == [5, 5, 4]  # the pattern is there ...
    for claim in (C.head_layout(a, task), C.staircase_claim(a, task)):
        assert claim is not None and not claim.passed and "answers only" in claim.measured


# ---- the position claims: a 1-layer model padded with an identity layer ------------------------
def test_position_claims_on_a_padded_model_and_when_layer0_is_needed() -> None:
    """Padding a model with a block that adds nothing: the first layer's stream before '=' is
    unused (pass / fail); a model whose last layer reads it fails / passes."""
    a = _fake_positions({(0, 3): 0.0, (0, 8): 0.2})  # P8 is '=' for 3 digits: after it only
    assert C.positions_before_equals(a, ADD3, 2).passed
    assert not C.work_before_equals(a, ADD3, 2).passed
    b = _fake_positions({(0, 3): 0.2, (0, 8): 0.2})
    assert not C.positions_before_equals(b, ADD3, 2).passed
    work = C.work_before_equals(b, ADD3, 2)
    assert work.passed and "P3 20.0% [12.7%, 29.2%] of 100 questions" in work.measured


def _fake_positions(rates: dict[tuple[int, int], float], accuracy: float = 1.0) -> Any:
    """An analysis whose position ablation adds ``rates[(layer, pos)]`` failures."""
    from algolens.analysis.nodes import Node

    nodes = [Node(p, layer, "resid") for layer in range(2) for p in range(ADD3.n_ctx)]
    n_q = 100
    failed = torch.zeros(len(nodes), n_q, dtype=torch.bool)
    for i, n in enumerate(nodes):
        failed[i, : int(rates.get((n.layer, n.pos), 0.0) * n_q)] = True
    correct = ~failed[..., None].expand(-1, -1, ADD3.n_answer)
    clean = torch.zeros(n_q, dtype=torch.bool)
    clean[: int((1 - accuracy) * n_q)] = True
    positions = SimpleNamespace(
        nodes=nodes,
        failed=failed,
        clean_failed=clean,
        extra_failure_rate=lambda: (failed & ~clean).double().mean(-1),
    )
    del correct
    return SimpleNamespace(positions=positions, nodes=SimpleNamespace(clean_failed=clean))


def test_position_claims_refuse_a_model_that_does_not_do_the_task() -> None:
    bad = _fake_positions({(0, 8): 0.2}, accuracy=0.5)
    for claim in (C.positions_before_equals(bad, ADD3, 2), C.work_before_equals(bad, ADD3, 2)):
        assert not claim.passed and "answers only 50.0%" in claim.measured


# ---- subtraction: the sign and the sub-tasks ---------------------------------------------------
def test_sign_claim_passes_with_a_deciding_node_and_fails_without() -> None:
    fit = SimpleNamespace(nodes=SimpleNamespace(clean_failed=torch.zeros(10, dtype=torch.bool)))
    flips = {"P6.L0.H1": 0.97, "P7.L0.RES": 0.9, "P7.L0.MLP": 0.4, "P7.L1.MLP": 1.0}
    readout = ("P7.L1.MLP",)
    fit.sign = SignResult(64, flips, 60, {**flips, "P6.L0.H1": 0.85}, readout)
    claim = sign_claim(fit)
    assert claim is not None and claim.passed
    assert "P6.L0.H1 flips it in 97% of 64 uniform pairs and 85% of 60" in claim.measured
    assert "carries it from P7.L0.RES" in claim.measured
    # the D > D' test: a node that flips uniform pairs but not near-equal ones decides nothing
    fit.sign = SignResult(64, flips, 60, {**flips, "P6.L0.H1": 0.1}, readout)
    assert not sign_claim(fit).passed  # type: ignore[union-attr]
    # the readout (the last layer at '=') flips any first token: it is never the deciding node
    fit.sign = SignResult(64, {"P6.L0.H1": 0.6, "P7.L1.MLP": 1.0}, 60, {"P7.L1.MLP": 1.0}, readout)
    assert not sign_claim(fit).passed  # type: ignore[union-attr]
    fit.sign = None
    assert sign_claim(fit) is None  # addition: no sign to decide


def test_subtask_claim_needs_all_three_subtasks_confirmed() -> None:
    from algolens.families.arithmetic.interventions import InterventionResult

    def result(label: str, match: float) -> InterventionResult:
        return InterventionResult(["P9.L0.H0"], label, 2, 2, 100, 60, match, match, 1.0)

    fit = SimpleNamespace(
        nodes=SimpleNamespace(clean_failed=torch.zeros(10, dtype=torch.bool)), op="sub"
    )
    fit.interventions = [result("MD", 0.95), result("MB", 0.9), result("MZ", 0.85)]
    assert subtask_claim(fit).passed  # type: ignore[union-attr]
    fit.interventions = [result("MD", 0.95), result("MT", 0.9)]  # the tri-case: borrow and chain
    assert subtask_claim(fit).passed  # type: ignore[union-attr]
    fit.interventions = [result("MD", 0.95), result("MB", 0.5), result("MZ", 0.85)]
    claim = subtask_claim(fit)
    assert claim is not None and not claim.passed and "borrow: none" in claim.measured


# ---- reuse ------------------------------------------------------------------------------------
def test_reuse_claim_needs_the_same_jobs_at_the_same_nodes() -> None:
    kept = [ReuseRow("P9.L0.H0", f"SA{i}", i, 0.9, 0.95) for i in range(4)]
    lost = [ReuseRow("P9.L0.H0", f"SA{i}", i, 0.9, None) for i in range(4)]
    assert reuse_claim(ReuseResult("add_d6_l2", kept, []), accuracy=0.99).passed  # type: ignore[union-attr]
    assert not reuse_claim(ReuseResult("add_d6_l2", lost, []), accuracy=0.99).passed  # type: ignore[union-attr]
    assert not reuse_claim(ReuseResult("add_d6_l2", kept, []), accuracy=0.3).passed  # type: ignore[union-attr]
    assert not reuse_claim(ReuseResult("add_d6_l2", kept[:2], []), accuracy=0.99).passed  # type: ignore[union-attr]


# ---- modular addition --------------------------------------------------------------------------
def test_untrained_mlp_fails_the_model_claims() -> None:
    task = ModAddTask(p=31)
    model = build_model({"kind": "mlp", "d_in": 62, "d_mlp": 64, "d_out": 31}).eval()
    res = analyse_mlp(model.W_in, model.b_in, model.W_out, model.b_out, seeds=1)
    claims = mlp_claims(res, Gates(split_rates(task.all_logits(model), task), task.split_seed))
    assert not any(c.passed for c in claims), claims[:4]  # the construction's are n/a


def test_construction_claims_fail_with_the_wrong_output_phase() -> None:
    """The algorithm's claims rest on the construction alone: the right rule (phase a + phase
    b) reaches > 95% at 256 neurons; the wrong one (a - b) fails both claims."""
    right = construction_curve(113, [256, 512], seeds=1)
    wrong = construction_curve(113, [256, 512], seeds=1, rule="difference")
    good = construction_claims([256, 512], right, right)
    bad = construction_claims([256, 512], wrong, wrong)
    assert good[0].passed and not bad[0].passed and not bad[1].passed
    assert construction_claims([256, 512], [0.99, 1.0], [0.99, 1.0])[1].passed
    assert SIZES[:2] == [32, 64] or 256 in SIZES


def test_untrained_grokking_transformer_fails_its_claims() -> None:
    task = ModAddTask(p=31, train_frac=0.3, input="tokens")
    spec = {
        "n_layers": 1,
        "n_heads": 4,
        "d_model": 32,
        "d_mlp": 64,
        "n_ctx": 3,
        "d_vocab": 32,
        "d_vocab_out": 31,
        "normalization_type": None,
    }
    model = build_model(spec).eval()
    logits, cache = model.run_with_cache(task.all_inputs(), names_filter="blocks.0.mlp.hook_post")
    res = analyse_transformer(
        model.embed.W_E, cache["blocks.0.mlp.hook_post"][:, -1], logits[:, -1]
    )
    run = SimpleNamespace(
        task=task,
        config=SimpleNamespace(
            train=SimpleNamespace(batch_size=10**6, lr=1e-3, weight_decay=1.0, grokfast_lamb=0.0)
        ),
    )
    phases = {"memorised": None, "grokked": None, "cleaned_up": None}
    rates = split_rates(logits[:, -1], task)
    gates = Gates(rates, 0, log_check([], rates["val"]))  # no log, no ablation measured
    claims = tf_claims(res, task.evaluate(model), phases, run, gates)
    assert not any(c.passed for c in claims), claims
    # with a faster recipe, memorising at step 100 and generalising at 1,000 is grokking, and at
    # 150 it is not; with the paper's recipe, generalising at epoch 1,000 is not its timing (the
    # log's timing alone: the claim also needs the model to reach the log's accuracy,
    # tests/unit/test_modular_gates.py)
    fast = SimpleNamespace(
        task=task,
        config=SimpleNamespace(
            train=SimpleNamespace(batch_size=10**6, lr=3e-3, weight_decay=3.0, grokfast_lamb=0.0)
        ),
    )
    assert grok_timing({"memorised": 100, "grokked": 1000}, fast)[1]
    assert not grok_timing({"memorised": 100, "grokked": 150}, fast)[1]
    assert not grok_timing({"memorised": 100, "grokked": 1000}, run)[1]
    assert grok_timing({"memorised": 100, "grokked": 12_000}, run)[1]


# ---- LEGO ------------------------------------------------------------------------------------
class Answerer(nn.Module):
    """Answers LEGO sentences without attention: by the chain (oracle), by the root rule, or by
    the chain except when the clauses come in chain order (a shortcut the probes must catch)."""

    def __init__(self, task: LegoTask, rule: str):
        super().__init__()
        self.task, self.rule = task, rule
        self.cfg = SimpleNamespace(n_ctx=task.n_ctx)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        bits = L.root_rule(tokens) if self.rule == "root" else self._oracle(tokens)
        if self.rule == "not_in_order":
            ordered = self._in_chain_order(tokens)
            bits = torch.where(ordered[:, None], 1 - bits, bits)
        logits = torch.zeros(*tokens.shape, 2)
        logits[:, ::5] = torch.nn.functional.one_hot(bits, 2).float()
        return logits

    def _oracle(self, tokens: torch.Tensor) -> torch.Tensor:
        rows = []
        for row in tokens.tolist():
            text = self.task.decode(row)
            values = oracle(text)
            names = [c.split()[0] for c in text.split(";")]
            rows.append([0 if values[n] == 1 else 1 for n in names])
        return torch.tensor(rows)

    @staticmethod
    def _in_chain_order(tokens: torch.Tensor) -> torch.Tensor:
        clauses = tokens.view(tokens.shape[0], -1, 5)
        follows = clauses[:, 1:, 3] == clauses[:, :-1, 0]  # each operand is the clause before's
        return follows.all(-1)


def test_lego_claims_fail_on_an_untrained_encoder() -> None:
    task = LegoTask(n_vars=6, train_k=3, eval_size=0)
    spec = {
        "n_layers": 2,
        "n_heads": 2,
        "d_model": 32,
        "d_mlp": 64,
        "n_ctx": task.n_ctx,
        "d_vocab": 31,
        "causal": False,
        "d_vocab_out": 2,
    }
    result = L.evaluate(build_model(spec).eval(), task, n=256)
    claims = L.run_claims(result, task.k)
    assert len(claims) == 6 and not any(c.passed for c in claims), claims


def test_lego_no_shortcut_claims_pass_on_the_chain_and_fail_on_a_shortcut() -> None:
    """The claims say what the paper expects of a chain-follower ("no shortcut"), so a model
    without a shortcut passes (green) and one with a shortcut fails (red)."""
    task = LegoTask(n_vars=6, train_k=6, eval_size=0)

    def rule_result(rule: str) -> dict[str, Any]:
        model = Answerer(task, rule)
        acc = L.position_accuracies(model, task, 256)
        agree = L.root_rule_agreement(model, task, 256)
        return {"root_rule_agreement": agree, "acc_trained": sum(acc) / len(acc)}

    chain, root = rule_result("chain"), rule_result("root")
    assert L.no_root_rule_shortcut(chain).passed  # type: ignore[union-attr]
    assert not L.no_root_rule_shortcut(root).passed  # type: ignore[union-attr]
    # a k = 2 model can learn its trained positions by the root rule: still a shortcut
    assert not L.no_root_rule_shortcut({**root, "acc_trained": 1.0}).passed  # type: ignore[union-attr]
    # agreement near chance but nothing learned: no vacuous pass
    lazy = {"root_rule_agreement": chain["root_rule_agreement"], "acc_trained": 0.5}
    assert not L.no_root_rule_shortcut(lazy).passed  # type: ignore[union-attr]
    assert L.no_root_rule_shortcut(chain).claim.startswith("No shortcut")  # type: ignore[union-attr]
    tricky = [p.__dict__ for p in L.shortcut_probes(Answerer(task, "not_in_order"), task, 128)]
    honest = [p.__dict__ for p in L.shortcut_probes(Answerer(task, "chain"), task, 128)]
    assert L.survives_probes({"probes": honest}).passed  # type: ignore[union-attr]
    assert not L.survives_probes({"probes": tricky}).passed  # type: ignore[union-attr]
    assert L.survives_probes({"probes": honest}).claim.startswith("No shortcut")  # type: ignore[union-attr]


def test_lego_falls_past_trained_needs_the_trained_positions_learned() -> None:
    good = {"accuracy": [1.0] * 6 + [0.6] * 6, "acc_trained": 1.0, "acc_untrained": 0.6}
    flat = {"accuracy": [1.0] * 12, "acc_trained": 1.0, "acc_untrained": 0.99}
    chance = {"accuracy": [0.5] * 12, "acc_trained": 0.5, "acc_untrained": 0.45}
    assert L.falls_past_trained(good, 6).passed  # type: ignore[union-attr]
    assert not L.falls_past_trained(flat, 6).passed  # type: ignore[union-attr]
    assert not L.falls_past_trained(chance, 6).passed  # type: ignore[union-attr]


def test_lego_comparison_claims_need_a_margin_over_random_init() -> None:
    def run(trained: float, untrained: float) -> dict[str, Any]:
        return {"acc_trained": trained, "acc_untrained": untrained}

    better = {
        "variants": {
            "random": [run(0.66, 0.49)],
            "parent": [run(0.99, 0.53)],
            "tied": [run(0.66, 0.60)],
            "conv": [run(0.66, 0.49)],
        }
    }
    claims = {c.claim: c.passed for c in L.comparison_claims(better)}
    assert claims["Pretraining helps, as a smart initialisation (parent init)"]
    assert claims["Weight tying (ALBERT) helps extrapolation to untrained positions"]
    assert not claims["Convolution inside q/k/v helps"]  # equal to random: no margin
    same = {"variants": {"random": [run(0.66, 0.49)], "parent": [run(0.67, 0.49)]}}
    assert not any(c.passed for c in L.comparison_claims(same))
    assert math.isfinite(0.0)
