"""Analysis functions on tiny models whose answers are known, against plain-Python oracles."""

from __future__ import annotations

import json

import pytest
import torch
from transformer_lens import ActivationCache
from transformer_lens.patching import get_act_patch_attn_head_out_by_pos, get_act_patch_mlp_out

from algolens.analysis.ablation import ablate, ablation_values, node_ablation, position_ablation
from algolens.analysis.attention import mean_attention
from algolens.analysis.interchange import interchange
from algolens.analysis.nodes import Node, answer_scores, model_nodes
from algolens.families.arithmetic.algorithm_map import AlgorithmMap, build_map
from algolens.families.arithmetic.interventions import predicted_digit, store_pairs
from algolens.families.arithmetic.pca import tri_case
from algolens.families.arithmetic.questions import (
    class_balanced_questions,
    digit_positions,
    sample_questions,
)
from algolens.families.arithmetic.staircase import staircase
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.models import build_model

TASK = ArithmeticTask("add", 2)


def tiny(n_layers: int = 2, seed: int = 0):
    spec = {"kind": "transformer", "n_layers": n_layers, "n_heads": 2, "d_model": 16}
    return build_model({**spec, "n_ctx": TASK.n_ctx, "seed": seed}).eval()


def one_at_a_time(model, batch, nodes, values):
    """The oracle: one forward per node, plain indexing, as a reader would write it."""
    out = []
    for n in nodes:

        def hook(act, hook, n=n):
            if n.head is None:
                act[:, n.pos] = values[n.hook][n.pos]
            else:
                act[:, n.pos, n.head] = values[n.hook][n.pos, n.head]
            return act

        with torch.inference_mode():
            logits = model.run_with_hooks(batch.inputs, fwd_hooks=[(n.hook, hook)])
        out.append(answer_scores(TASK, logits, batch.targets))
    return torch.stack([c for c, _ in out]), torch.stack([q for _, q in out])


def test_node_names_round_trip():
    for name in ("P14.L0.H1", "P15.L1.MLP", "P3.L0.RES"):
        assert Node.parse(name).name == name
    assert Node(14, 0, "head", 1).hook == "blocks.0.attn.hook_z"
    assert Node(14, 1, "mlp").component == "L1MLP"


@pytest.mark.parametrize("local", [True, False])
def test_batched_sweep_equals_one_forward_per_node(local: bool):
    """Both sweeps (only what an ablation changes, and whole stacked forwards) against the
    oracle; zero against mean ablation's oracle is the control that the comparison can fail."""
    model, batch = tiny(), sample_questions(TASK, 40, 1)
    nodes = model_nodes(model, TASK.n_ctx, ("head", "mlp", "resid"))
    zero = ablate(model, TASK, batch, nodes, "zero", max_rows=200, prune=False, local=local)
    mean_values = ablation_values(model, batch.inputs, nodes, "mean")
    assert not torch.equal(zero.loss, one_at_a_time(model, batch, nodes, mean_values)[1])
    for mode in ("mean", "zero"):
        res = ablate(model, TASK, batch, nodes, mode, max_rows=200, prune=False, local=local)
        ok, loss = one_at_a_time(
            model, batch, nodes, ablation_values(model, batch.inputs, nodes, mode)
        )
        assert torch.equal(res.correct, ok)
        torch.testing.assert_close(res.loss, loss, rtol=1e-5, atol=1e-6)


def test_pruned_nodes_are_exactly_clean():
    model, batch = tiny(), sample_questions(TASK, 30, 2)
    full = node_ablation(model, TASK, batch, "mean", prune=False)
    pruned = node_ablation(model, TASK, batch, "mean")
    assert not all(pruned.computed)
    torch.testing.assert_close(full.loss, pruned.loss, rtol=1e-5, atol=1e-6)
    assert torch.equal(full.correct, pruned.correct)


def test_zeroed_head_ablation_changes_nothing():
    model, batch = tiny(1), sample_questions(TASK, 50, 3)
    with torch.no_grad():
        model.blocks[0].attn.W_O[1] = 0
    for mode in ("mean", "zero"):
        res = node_ablation(model, TASK, batch, mode, prune=False)
        rows = [i for i, n in enumerate(res.nodes) if n.head == 1]
        torch.testing.assert_close(res.loss[rows], res.clean_loss.expand(len(rows), -1))
        assert float(res.extra_failure_rate()[rows].max()) == 0.0


def test_matches_transformer_lens_patching():
    """Mean ablation = patching in a "clean cache" that holds the per-position means."""
    model, batch = tiny(), sample_questions(TASK, 24, 4)
    res = node_ablation(model, TASK, batch, "mean", prune=False)
    means = ablation_values(model, batch.inputs, res.nodes, "mean")
    cache = ActivationCache({k: v.expand(len(batch), *v.shape) for k, v in means.items()}, model)

    def metric(logits):
        return answer_scores(TASK, logits, batch.targets)[1].float()

    heads = get_act_patch_attn_head_out_by_pos(model, batch.inputs, cache, metric, reduce="mean")
    mlps = get_act_patch_mlp_out(model, batch.inputs, cache, metric, reduce="mean")
    ours = res.loss.mean(-1).float()
    for i, n in enumerate(res.nodes):
        theirs = heads[n.layer, n.pos, n.head] if n.kind == "head" else mlps[n.layer, n.pos]
        torch.testing.assert_close(ours[i], theirs, rtol=1e-4, atol=1e-5)


def test_position_ablation_before_answer_in_last_layer_is_harmless():
    model, batch = tiny(1), sample_questions(TASK, 30, 5)
    res = position_ablation(model, TASK, batch, "zero", prune=False)
    for i, n in enumerate(res.nodes):
        if n.pos < TASK.answer_start - 1 or n.pos == TASK.n_ctx - 1:
            torch.testing.assert_close(res.loss[i], res.clean_loss)


def test_patterns_and_classes():
    model, batch = tiny(1), sample_questions(TASK, 60, 6)
    res = node_ablation(model, TASK, batch, "zero")
    pats = res.impact_pattern(0.0)
    assert all(len(p) == TASK.n_answer and set(p) <= {"y", "N"} for p in pats)
    digit = res.digit_failure_rate()
    for i, p in enumerate(pats):
        assert [ch == "N" for ch in p] == (digit[i] > 0).tolist()
    assert res.class_failure_rate().shape == (len(res.nodes), len(TASK.class_names))


def test_staircase_on_a_synthetic_pattern():
    task = ArithmeticTask("add", 5)
    pattern = torch.zeros(1, 2, task.n_ctx, task.n_ctx)
    positions = range(task.answer_start - 1, task.n_ctx - 1)
    for j, q in enumerate(positions):
        col = task.n_digits - 1 - j
        if col >= 0:
            a, b = digit_positions(task, col)
            pattern[0, 0, q, a] = pattern[0, 0, q, b] = 0.5
        pattern[0, 1, q, q] = 1.0  # head 1 attends to itself
    stair = staircase(task, pattern)
    assert stair.column[0, 0].tolist() == [4, 3, 2, 1, 0, -1]
    assert stair.column[0, 1].tolist() == [-1] * 6
    assert stair.steps().tolist() == [[5, 0]]


def test_digit_positions_match_the_token_format():
    task = ArithmeticTask("add", 5)
    text = "12345+67890=080235"
    for col in range(5):
        a, b = digit_positions(task, col)
        assert text[a] == str(12345 // 10**col % 10) and text[b] == str(67890 // 10**col % 10)


def _batch(task, pairs):
    return task.encode_batch([f"{a}+{b}" for a, b in pairs]), task.batch_from_tokens(
        task.encode_batch([f"{a}+{b}" for a, b in pairs])
    )


def test_predicted_digit_against_integer_arithmetic():
    task = ArithmeticTask("add", 5)
    _, clean = _batch(task, [(55555, 44444), (12345, 67890)])
    _, store = _batch(task, [(22222, 11111), (1, 9)])
    # SA of column 2 from the store: 5+4 -> 2+1, no carry arrives in 55555+44444
    assert predicted_digit(clean, store, "SA", 2, 2)[0] == 3
    # ST of column 0 from 00001+00009 (a carry) cascades through the sum-9 columns
    _, store = _batch(task, [(1, 9), (1, 9)])
    for d in range(6):  # the units digit keeps its own value; only the carry out changes
        want = 9 if d == 0 else 100000 // 10**d % 10
        assert predicted_digit(clean, store, "ST", 0, d)[0] == want
        assert predicted_digit(clean, store, "SC", 0, d)[0] == want
    # store == clean predicts the clean answer for every sub-task
    for s in ("SA", "SC", "SS", "ST"):
        for d in range(6):
            for c in range(5):
                got = predicted_digit(clean, clean, s, c, d)
                assert got.tolist() == [
                    (55555 + 44444) // 10**d % 10,
                    (12345 + 67890) // 10**d % 10,
                ]


def test_identity_interchange_changes_nothing():
    model, batch = tiny(), sample_questions(TASK, 20, 7)
    nodes = [[Node(5, 0, "head", 1)], [Node(6, 1, "mlp"), Node(5, 1, "head", 0)]]
    out = interchange(model, TASK, batch, batch, nodes)
    with torch.inference_mode():
        clean = TASK.answer_logits(model(batch.inputs)).argmax(-1)
    assert torch.equal(out[0], clean) and torch.equal(out[1], clean)
    c, s = store_pairs(batch, 0)
    assert sorted(s.inputs.tolist()) == sorted(c.inputs.tolist())


def test_tri_case_and_balanced_classes():
    task = ArithmeticTask("add", 3)
    batch = class_balanced_questions(task, 10, 0)
    assert sorted(task.question_classes(batch)) == sorted(
        [c for c in task.class_names for _ in range(10)]
    )
    tri = tri_case(batch, 1)
    for row, t in zip(batch.inputs.tolist(), tri.tolist(), strict=True):
        s = row[1] + row[5]
        assert t == (0 if s < 9 else 1 if s == 9 else 2)


def test_mean_attention_rows_sum_to_one():
    model, batch = tiny(), sample_questions(TASK, 10, 8)
    pattern = mean_attention(model, batch.inputs)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[:-1]))


def test_algorithm_map_json_round_trip(tmp_path):
    model, batch = tiny(1), sample_questions(TASK, 40, 9)
    res = node_ablation(model, TASK, batch, "zero")
    stair = staircase(TASK, mean_attention(model, batch.inputs), min_share=0.0)
    amap = build_map(res, stair, [], threshold=0.0)
    for digit, nodes in amap.digits.items():
        for name in nodes:
            assert digit in amap.nodes[name].breaks
    (tmp_path / "map.json").write_text(json.dumps(amap.to_json()))  # as render writes it
    back = AlgorithmMap.load(tmp_path / "map.json")
    assert back.to_json() == amap.to_json()


def test_predicted_digit_for_subtraction_borrows():
    task = ArithmeticTask("sub", 5)
    qs = ["55555-55555", "50003-20005"]
    clean = task.batch_from_tokens(task.encode_batch(qs))
    store = task.batch_from_tokens(task.encode_batch(["10000-00001", "10000-00001"]))
    # a borrow made in column 0 runs through the equal (MZ) columns: 0 - 1 -> 9 in each
    assert [int(predicted_digit(clean, store, "MT", 0, d)[0]) for d in range(5)] == [0, 9, 9, 9, 9]
    for d in range(5):  # store == clean predicts the clean digits
        got = predicted_digit(clean, clean, "MD", 1, d)
        assert got.tolist() == [0, (50003 - 20005) // 10**d % 10]
