"""Path patching on add_d5_l2: the total effect (no receiver) is TransformerLens's activation
patching; negative controls: a sender in the receiver's layer or later, and a sender whose
output weights are zeroed, have no effect; an edge of the circuit has one."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from transformer_lens.patching import generic_activation_patch, layer_pos_head_vector_patch_setter

from algolens.analysis.circuit import Circuit
from algolens.analysis.nodes import Node, score_answer_logits
from algolens.analysis.paths import circuit_edges, path_patch, reaches
from algolens.runs import load

N = 96


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def setup():
    run = load("zoo:add_d5_l2")
    base = run.task.sample_independent(N, torch.Generator().manual_seed(0)).inputs
    source = run.task.sample_independent(N, torch.Generator().manual_seed(1)).inputs
    return run.model, run.task, base, source


def test_total_effect_is_transformer_lens_activation_patching(setup) -> None:
    model, task, base, source = setup
    targets = base[:, task.answer_start :]

    def loss(logits):
        return score_answer_logits(task.answer_logits(logits), targets)[1].mean()

    nodes = [Node(12, 0, "head", 1), Node(14, 0, "head", 2), Node(13, 1, "head", 0)]
    _, src_cache = model.run_with_cache(source)
    where = pd.DataFrame(
        [(n.layer, n.pos, n.head) for n in nodes], columns=["layer", "pos", "head"]
    )
    with torch.inference_mode():
        clean = float(loss(model(base)))
        tl = generic_activation_patch(  # get_act_patch_attn_head_out_by_pos, at these nodes
            model, base, src_cache, loss, layer_pos_head_vector_patch_setter, "z", index_df=where
        )
    effects = path_patch(model, task, base, source, [(n, None) for n in nodes])
    for k, e in enumerate(effects):
        assert e.loss_rise + clean == pytest.approx(float(tl[k]), abs=1e-4)
    assert max(e.loss_rise for e in effects) > 0.5  # these nodes matter (not a vacuous match)


def test_senders_that_cannot_reach_have_no_effect(setup) -> None:
    model, task, base, source = setup
    later = (Node(12, 1, "head", 0), Node(12, 0, "head", 1))  # layer 1 cannot reach layer 0
    same = (Node(12, 0, "head", 0), Node(12, 0, "head", 1))  # heads of one layer
    edge = (Node(12, 0, "head", 1), Node(12, 0, "mlp"))  # the control: a real edge
    assert not reaches(*later) and not reaches(*same) and reaches(*edge)
    res = path_patch(model, task, base, source, [later, same, edge])
    for e in res[:2]:
        assert e.changed == 0 and abs(e.loss_rise) < 1e-5
    assert res[2].changed > N // 10 and res[2].loss_rise > 0.1


def test_zeroed_sender_has_no_effect(setup) -> None:
    model, task, base, source = setup
    edge = (Node(12, 0, "head", 1), Node(12, 0, "mlp"))
    dead = copy.deepcopy(model)
    with torch.no_grad():
        dead.blocks[0].attn.W_O[1] = 0  # head 1 of layer 0 writes nothing
    res = path_patch(dead, task, base, source, [edge])[0]
    assert res.changed == 0 and abs(res.loss_rise) < 1e-5
    live = path_patch(model, task, base, source, [edge])[0]  # control: the intact model
    assert live.changed > 0


def test_an_edge_is_a_part_of_the_total_effect(setup) -> None:
    """Through one receiver a sender changes at most about what it changes in total; through
    a receiver at a position it cannot see (an earlier one) it changes nothing."""
    model, task, base, source = setup
    sender = Node(12, 0, "mlp")
    blind = (sender, Node(11, 1, "mlp"))
    assert not reaches(*blind)
    total, edge, none = path_patch(
        model, task, base, source, [(sender, None), (sender, Node(12, 1, "mlp")), blind]
    )
    assert 0 < edge.changed <= total.changed + N // 20
    assert none.changed == 0


def test_circuit_gains_the_edges_it_measures(setup) -> None:
    model, task, base, source = setup
    small = Circuit.of(["P12.L0.H1", "P12.L0.MLP", "P11.L1.MLP"])
    grown, effects = circuit_edges(model, task, small, base, source)
    assert [(e.sender, e.receiver) for e in effects] == [("P12.L0.H1", "P12.L0.MLP")]
    assert [e[:2] for e in grown.edges] == [("P12.L0.H1", "P12.L0.MLP")]
    none, _ = circuit_edges(model, task, small, base, source, min_changed=1.0)  # control
    assert none.edges == () and none.nodes == small.nodes
