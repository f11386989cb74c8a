"""LEGO task: the generator against the plain-Python oracle, properties, metrics, analysis."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algolens.errors import AlgolensError
from algolens.families import make_task
from algolens.families.lego.task import CLAUSE_LEN, LETTERS, LegoTask, oracle


def _sentences(task: LegoTask, n: int, seed: int):
    batch = task.sample(n, torch.Generator().manual_seed(seed))
    return batch, [task.decode(row) for row in batch.inputs]


def test_worked_example_from_docstring() -> None:
    task = LegoTask(n_vars=3)
    names = torch.tensor([[0, 1, 2]])  # a, b, c in chain order
    signs = torch.tensor([[0, 1, 0]])  # a = +1, b = -a, c = +b
    batch = task.make_batch(names, signs, torch.tensor([[2, 0, 1]]))
    assert task.decode(batch.inputs[0]) == "c = +b ; a = +1 ; b = -a"
    assert batch.inputs[0].tolist() == [2, 26, 27, 1, 30, 0, 26, 27, 29, 30, 1, 26, 28, 0, 30]
    assert batch.targets[0].tolist() == [1, 0, 1]
    assert batch.labels["depth"][0].tolist() == [2, 0, 1]
    assert oracle("c = +b ; a = +1 ; b = -a") == {"c": -1, "a": 1, "b": -1}


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 26), seed=st.integers(0, 2**31 - 1), k=st.integers(0, 26))
def test_generator_matches_oracle_and_properties(n: int, seed: int, k: int) -> None:
    task = LegoTask(n_vars=n, train_k=min(k, n), eval_size=0)
    batch, texts = _sentences(task, 4, seed)
    assert batch.inputs.shape == (4, CLAUSE_LEN * n)
    for i, text in enumerate(texts):
        values = oracle(text)  # raises unless the chain is connected from the constant
        names = text.replace(" ", "").split(";")
        assigned = [c.split("=")[0] for c in names]
        assert len(set(assigned)) == n == len(assigned)  # every variable assigned exactly once
        expect = [1 - 2 * int(b) for b in batch.targets[i]]
        assert [values[a] for a in assigned] == expect
        depth = batch.labels["depth"][i].tolist()
        assert sorted(depth) == list(range(n))  # the shuffle is a permutation of the chain
        chain = [LETTERS[int(t)] for t in batch.labels["chain_names"][i]]
        assert [assigned[depth.index(d)] for d in range(n)] == chain
        operands = {c.split("=")[0]: c.split("=")[1][1:] for c in names}
        assert operands[chain[0]] == "1"
        assert all(operands[chain[d]] == chain[d - 1] for d in range(1, n))  # connected
        assert batch.labels["loss_mask"][i].tolist() == [d < task.k for d in depth]


def test_probe_options() -> None:
    batch, _ = _sentences(LegoTask(n_vars=8, shuffle=False, signs="plus"), 16, 0)
    assert (batch.labels["depth"] == torch.arange(8)).all()
    assert (batch.targets == 0).all()
    for names, parity in (("split", 0), ("swapped", 1)):
        batch, _ = _sentences(LegoTask(n_vars=12, names=names), 16, 1)
        chain = batch.labels["chain_names"]
        in_first_half = chain < 13
        expect = (torch.arange(12) + parity) % 2 == 0
        assert (in_first_half == expect).all()
        assert all(len(set(row.tolist())) == 12 for row in chain)


def test_encode_roundtrip_and_bad_input() -> None:
    task = LegoTask(n_vars=3)
    text = "c = +b ; a = -1 ; b = -a"
    assert task.decode(task.encode(text)) == text
    for bad in ("a = +1 ; a = -a", "a = +b ; b = -a", "a = 1", "A = +1"):
        with pytest.raises(AlgolensError):
            task.encode(bad)
    with pytest.raises(AlgolensError):
        make_task("lego", n_vars=27)
    with pytest.raises(AlgolensError):
        make_task("lego", n_vars=4, train_k=5)


def test_metrics_by_chain_position() -> None:
    task = LegoTask(n_vars=4, train_k=2, eval_size=0)
    batch, _ = _sentences(task, 64, 0)
    # right at chain positions 1-3, wrong at 4
    logprobs = torch.where(batch.labels["depth"] < 3, -0.1, -2.0).double()
    m = task.step_metrics(logprobs, batch)
    assert [m[f"acc_pos{d}"] for d in range(1, 5)] == [1.0, 1.0, 1.0, 0.0]
    assert m["acc_trained"] == 1.0 and m["acc_untrained"] == 0.5
    assert m["loss"] == pytest.approx(0.1)  # only the first 2 positions carry loss


def test_sample_cli_prints_sentences() -> None:
    from typer.testing import CliRunner

    from algolens.cli import app

    res = CliRunner().invoke(app, ["sample", "lego", "--n-vars", "12", "--n", "5", "--json"])
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.output.splitlines()]
    assert len(records) == 5
    for r in records:
        assert r["sentence"].count(";") == 11
        assert r["values"] == oracle(r["sentence"])


def test_mimic_templates() -> None:
    from algolens.families.lego.mimic import (
        association_template,
        manipulation_template,
        parent_template,
    )

    task = LegoTask(n_vars=3)
    tokens = torch.tensor([task.encode("c = +b ; a = +1 ; b = -a")])
    assoc = association_template(tokens)[0]
    assert assoc[3].argmax() == 10 and assoc[10, 3] == 1  # 'b' operand <-> 'b' assigned
    assert assoc[0, 0] == 1  # 'c' occurs once: itself
    assert torch.allclose(assoc.sum(-1), torch.ones(15))
    manip = manipulation_template(15, 2)
    assert manip[0, :3].tolist() == pytest.approx([1 / 3] * 3) and manip[7, 5:10].sum() == 1
    parent, rows = parent_template(tokens)
    assert rows[0].nonzero().flatten().tolist() == [0, 5, 10]  # the name tokens
    # c's operand b is assigned at 10, a is the root (itself), b's operand a is assigned at 5
    assert parent[0].nonzero().tolist() == [[0, 10], [5, 5], [10, 5]]


def test_root_rule_is_exact_at_positions_1_2_only() -> None:
    from algolens.families.lego.analysis import root_rule

    task = LegoTask(n_vars=6, eval_size=0)
    batch, texts = _sentences(task, 256, 3)
    rule = root_rule(batch.inputs)
    for i, text in enumerate(texts):  # plain-Python rule: own sign times the root's sign
        clauses = [c.split() for c in text.split(";")]
        root = next(int(c[2][0] == "-") for c in clauses if c[2][1] == "1")
        expect = [int(c[2][0] == "-") ^ (0 if c[2][1] == "1" else root) for c in clauses]
        assert rule[i].tolist() == expect
    right = rule == batch.targets
    depth = batch.labels["depth"]
    assert right[depth < 2].all() and right[depth >= 2].float().mean() < 0.7


def test_layer_masks_give_one_hop_per_layer() -> None:
    task = LegoTask(n_vars=6, train_k=4, eval_size=0)
    order = torch.tensor([[5, 0, 3, 1, 4, 2]])  # clause j of the text is chain clause order[j]
    batch = task.make_batch(torch.arange(6)[None], torch.zeros(1, 6, dtype=torch.long), order)
    masks = task.layer_masks(batch, n_layers=3)
    assert masks.shape == (3, 1, 6)
    # block 0 answers depths 0-1, block 1 depths 0-2, the last block every trained depth (0-3)
    depth = order[0].tolist()
    assert [depth[j] for j in masks[0, 0].nonzero().flatten()] == [0, 1]
    assert sorted(depth[j] for j in masks[1, 0].nonzero().flatten()) == [0, 1, 2]
    assert masks[2].equal(batch.labels["loss_mask"])
    assert not (masks & ~batch.labels["loss_mask"][None]).any()  # never an untrained clause


def test_layer_accuracies_end_at_the_model_s_own_accuracy() -> None:
    from algolens.families.lego.analysis import layer_accuracies, position_accuracies
    from algolens.models import build_model

    task = LegoTask(n_vars=5, train_k=3, eval_size=0)
    model = build_model({"kind": "transformer", "n_layers": 3, "n_heads": 2, "d_model": 16,
                         "n_ctx": task.n_ctx, "d_vocab": 31, "causal": False,
                         "d_vocab_out": 2}).eval()  # fmt: skip
    layers = layer_accuracies(model, task, 700, seed=3)  # two batches: the same sentences
    assert len(layers) == 3 and all(len(row) == 5 for row in layers)
    assert layers[-1] == pytest.approx(position_accuracies(model, task, 700, seed=3))


def test_zoo_model_predicts_like_the_oracle_on_trained_positions() -> None:
    """``algolens predict`` on LEGO: the zoo model's answers, parsed back, against the
    plain-Python oracle on fresh sentences at the trained chain positions 1-6 (the model's
    card: 0.9978 or better), and a clear error past the model's size."""
    from typer.testing import CliRunner

    from algolens import load
    from algolens.cli import app

    run = load("zoo:lego_n12_k6")
    batch, texts = _sentences(run.task, 64, seed=11)
    right = total = 0
    for i, answer in enumerate(run.predict(texts)):
        said = {c.split()[0]: int(c.split()[2]) for c in answer.split(";")}
        truth = oracle(texts[i])
        assert list(said) == list(truth)  # every variable, in clause order
        for (name, value), depth in zip(truth.items(), batch.labels["depth"][i], strict=True):
            if depth < run.task.k:
                right, total = right + (said[name] == value), total + 1
    assert right / total >= 0.99, (right, total)
    res = CliRunner().invoke(app, ["predict", "zoo:lego_n12_k6", "b = -a ; a = +1"])
    assert res.exit_code == 0 and res.stdout.strip() == "b = -a ; a = +1  ->  b = -1 ; a = +1"
    _, long = _sentences(LegoTask(n_vars=15, eval_size=0), 1, seed=0)
    res = CliRunner().invoke(app, ["predict", "zoo:lego_n12_k6", long[0]])
    assert res.exit_code == 2 and "at most 14" in res.stderr
