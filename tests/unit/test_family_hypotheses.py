"""The LEGO and modular-addition hypotheses: exact against their tasks, and measured on the zoo.

Oracles: each hypothesis, run without an intervention, gives the task's own answers; run with
one, it gives the hand-computed counterfactual. Measured: the grokking transformer's sum lives
at the '=' position's MLP (IIA 1.0 on the whole table and on the held-out pairs), which an
untrained copy and a copy with that MLP zeroed do not hold; the LEGO model's last trained chain
value lives at its clause's name token before the last layer, which an untrained copy and the
previous clause's position do not hold.
"""

from __future__ import annotations

import copy

import pytest
import torch

from algolens.analysis.iia import draw_pairs, iia, neighbour, untrained_like
from algolens.analysis.interventions import Site
from algolens.analysis.nodes import Node
from algolens.errors import AlgolensError
from algolens.families.lego.hypothesis import declare as lego_declare
from algolens.families.lego.task import LegoTask
from algolens.families.modular.hypothesis import declare as modular_declare
from algolens.families.modular.task import ModAddTask
from algolens.runs import load

CONTROL_MAX = 0.05  # a negative control's IIA: the baseline (0 by construction) plus this


def _free_equal(hyp_answer: tuple[int, ...], target: list[int]) -> bool:
    return all(h == t for h, t in zip(hyp_answer, target, strict=True) if h >= 0)


def test_the_lego_hypothesis_answers_like_the_task() -> None:
    task = LegoTask(n_vars=6, train_k=4, eval_size=0)
    declared = lego_declare(task)
    hyp, sample = declared.hypothesis, declared.samplers["random"]
    batch = sample(200, torch.Generator().manual_seed(0))
    answers = [hyp.run(q) for q in hyp.questions(batch)]
    assert all(_free_equal(a, t) for a, t in zip(answers, batch.targets.tolist(), strict=True))
    assert hyp.names == ["V1", "V2", "V3"]  # the first value is an input, not a variable
    assert all(sum(a >= 0 for a in ans) == 4 for ans in answers)  # k trained positions given


def test_the_lego_hypothesis_moves_every_later_value() -> None:
    hyp = lego_declare(LegoTask(n_vars=3, train_k=3, eval_size=0)).hypothesis
    # a = +1 ; b = -a ; c = +b, clauses in chain order: values 0, 1, 1
    assert hyp.run((0, 1, 2, 0, 1, 0)) == (0, 1, 1)
    assert hyp.run((0, 1, 2, 0, 1, 0), {"V1": 0}) == (0, 0, 0)
    assert hyp.run((0, 1, 2, 0, 1, 0), {"V2": 0}) == (0, 1, 0)
    # the same chain written c, a, b: answers in the sentence's order
    assert hyp.run((2, 0, 1, 0, 1, 0), {"V1": 0}) == (0, 0, 0)
    assert hyp.run((2, 0, 1, 0, 1, 0)) == (1, 0, 1)


def test_the_lego_hypothesis_refuses_what_it_cannot_test() -> None:
    with pytest.raises(AlgolensError, match="random signs"):
        lego_declare(LegoTask(n_vars=4, signs="plus", eval_size=0))
    with pytest.raises(AlgolensError, match="2 or more"):
        lego_declare(LegoTask(n_vars=4, train_k=1, eval_size=0))
    with pytest.raises(AlgolensError, match="one hypothesis"):
        lego_declare(LegoTask(n_vars=4, eval_size=0), op="sub")


def test_the_modular_hypothesis_answers_like_the_task() -> None:
    task = ModAddTask(p=31, train_frac=0.3)
    declared = modular_declare(task)
    hyp = declared.hypothesis
    assert set(declared.samplers) == {"random", "validation"}
    batch = declared.samplers["validation"](300, torch.Generator().manual_seed(0))
    answers = [hyp.run(q) for q in hyp.questions(batch)]
    assert answers == [tuple(t) for t in batch.targets.reshape(300, -1).tolist()]
    assert hyp.run((5, 7), {"A": 30}) == ((30 + 7) % 31,)
    assert hyp.run((5, 7), {"S": 3}) == (3,)


@pytest.fixture(scope="module")
def modadd():
    run = load("zoo:modadd_tf_p113")
    declared = run.declared()
    gen = torch.Generator().manual_seed(0)
    pairs = {
        kind: draw_pairs(declared.hypothesis, "S", sample, 300, gen, kind=kind)
        for kind, sample in declared.samplers.items()
    }
    return run, pairs


def test_the_modular_sum_lives_at_the_equals_mlp(modadd) -> None:
    run, pairs = modadd
    site = (Site(Node(2, 0, "mlp")),)
    for kind in ("random", "validation"):  # held-out pairs: answers it never trained on
        result = iia(run.model, run.task, pairs[kind], site)
        assert result.interval[0] >= 0.95, (kind, result)


def test_the_modular_sum_controls_stay_at_baseline(modadd) -> None:
    run, pairs = modadd
    site = (Site(Node(2, 0, "mlp")),)
    untrained = iia(untrained_like(run.model), run.task, pairs["random"], site)
    edited = copy.deepcopy(run.model)
    with torch.no_grad():
        for p in edited.blocks[0].mlp.parameters():
            p.zero_()
    zeroed = iia(edited, run.task, pairs["random"], site)
    for result in (untrained, zeroed):
        assert result.baseline == 0.0 and result.iia <= CONTROL_MAX, result


def test_the_lego_last_value_lives_at_its_name_token() -> None:
    run = load("zoo:lego_n12_k6")
    declared = run.declared()
    hyp = declared.hypothesis
    last = hyp.variable(hyp.names[-1])
    pairs = draw_pairs(hyp, last.name, declared.samplers["random"], 300, torch.Generator())
    node = Node(last.at[0], run.model.cfg.n_layers - 2, "resid")  # measured: 0.93 of 300
    found = iia(run.model, run.task, pairs, (Site(node),))
    assert found.interval[0] >= 0.85, found
    controls = [
        iia(untrained_like(run.model), run.task, pairs, (Site(node),)),
        iia(run.model, run.task, pairs, (Site(neighbour(node, run.task.n_ctx)),)),
    ]
    for result in controls:
        assert result.baseline == 0.0 and result.iia <= CONTROL_MAX, result


def test_a_mid_node_names_the_residual_stream_before_the_mlp() -> None:
    node = Node.parse("P2.L0.MID")
    assert node == Node(2, 0, "mid") and node.name == "P2.L0.MID"
    assert node.hook == "blocks.0.hook_resid_mid"
