"""Everything the arithmetic report shows, computed in one call, and the seeds' claims checked.

:func:`analyse_arithmetic` returns an :class:`ArithmeticAnalysis` of tensors and dataclasses;
:func:`check_claims` turns it into the claims table (claim, expected, measured, verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from algolens.analysis.ablation import AblationResult, node_ablation, position_ablation
from algolens.analysis.attention import attention_patterns, mean_attention
from algolens.analysis.claims import Claim
from algolens.analysis.interchange import interchange
from algolens.analysis.nodes import Node, class_index
from algolens.families.arithmetic.algorithm_map import AlgorithmMap, build_map
from algolens.families.arithmetic.interventions import (
    ADD_SUBTASKS,
    SUB_SUBTASKS,
    InterventionResult,
    score_subtask,
    store_pairs,
    subset,
)
from algolens.families.arithmetic.pca import PcaResult, head_pca
from algolens.families.arithmetic.questions import (
    class_balanced_questions,
    predicting_position,
    sample_questions,
)
from algolens.families.arithmetic.staircase import Staircase, staircase
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.families.base import Analysis
from algolens.models.transformer import Transformer
from algolens.tasks.base import Batch


@dataclass
class ArithmeticAnalysis:
    questions: Batch
    positions: AblationResult
    nodes: AblationResult
    zero_nodes: AblationResult
    mean_pattern: Tensor  # [layer, head, query, key]
    stair: Staircase
    samples: Batch  # one question per class, for attention plots
    sample_classes: list[str]
    sample_patterns: Tensor  # [sample, layer, head, query, key]
    class_accuracy: dict[str, tuple[int, int]]  # class -> (questions, failures)
    pca: list[PcaResult]
    interventions: list[InterventionResult]
    algorithm: AlgorithmMap
    notes: list[str] = field(default_factory=list)


def _candidate_columns(digit: int, col: int, n: int) -> list[tuple[str, int]]:
    """Sub-tasks worth testing for a head attending to column ``col`` on behalf of A_digit."""
    out = []
    if col == digit and digit < n:
        out.append(("base", col))
    if col < digit:
        out += [("make", col), ("pass", col), ("tri", col)]
    return out


def run_interventions(
    model: Transformer,
    task: ArithmeticTask,
    batch: Batch,
    ablation: AblationResult,
    stair: Staircase,
    threshold: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> list[InterventionResult]:
    """Test every needed head against the sub-tasks its attended column suggests.

    Heads at one position that read the same column are also patched together (a head pair):
    when two heads share a sub-task, patching one alone moves the answer only part of the time.
    """
    breaks = ablation.impacted_digits(threshold)
    jobs: list[tuple[tuple[Node, ...], int, int]] = []  # node set, digit, column
    shared: dict[tuple[int, int, int, int], list[Node]] = {}  # (pos, layer, digit, col) -> heads
    for node, digits in zip(ablation.nodes, breaks, strict=True):
        if node.kind != "head" or node.pos not in stair.positions:
            continue
        col = int(stair.column[node.layer, node.head, stair.positions.index(node.pos)])
        if col < 0:
            continue
        for name in digits:
            jobs.append(((node,), int(name[1:]), col))
            shared.setdefault((node.pos, node.layer, int(name[1:]), col), []).append(node)
    for (_, _, digit, col), heads in shared.items():
        if len(heads) == 2:
            jobs.append(((heads[0], heads[1]), digit, col))
    results: list[InterventionResult] = []
    if not jobs:
        return results
    node_sets = list(dict.fromkeys(j[0] for j in jobs))
    index = {s: i for i, s in enumerate(node_sets)}
    for is_sub, names in ((False, ADD_SUBTASKS), (True, SUB_SUBTASKS)):
        part = subset(batch, batch.labels["is_sub"] == is_sub)
        if len(part) < 2:
            continue
        clean, store = store_pairs(part, seed)
        patched = interchange(
            model, task, clean, store, [list(s) for s in node_sets], progress=progress
        )
        roles = dict(zip(("base", "make", "pass", "tri"), names, strict=True))
        for nodes, digit, col in jobs:
            if is_sub and digit == task.n_digits:
                continue  # the sign token is not a column digit
            for role, c in _candidate_columns(digit, col, task.n_digits):
                results.append(
                    score_subtask(
                        task,
                        clean,
                        store,
                        patched[index[nodes]],
                        list(nodes),
                        roles[role],
                        c,
                        digit,
                    )
                )
    return results


def analyse_arithmetic(
    model: Transformer,
    task: ArithmeticTask,
    n_questions: int = 1000,
    seed: int = 0,
    progress: bool = False,
    per_class: int = 250,
) -> ArithmeticAnalysis:
    """Ablations, attention, PCA, interventions and the algorithm map for one model."""
    model.eval()
    batch = sample_questions(task, n_questions, seed)
    positions = position_ablation(model, task, batch, "mean", progress=progress)
    nodes = node_ablation(model, task, batch, "mean", progress=progress)
    zero_nodes = node_ablation(model, task, batch, "zero", progress=progress)
    pattern = mean_attention(model, batch.inputs)
    stair = staircase(task, pattern)

    balanced = class_balanced_questions(task, per_class, seed + 1)
    names, q_class = class_index(task, balanced)
    with torch.inference_mode():
        wrong = (task.answer_logits(model(balanced.inputs)).argmax(-1) != balanced.targets).any(-1)
    class_accuracy = {
        name: (int((q_class == c).sum()), int(wrong[q_class == c].sum()))
        for c, name in enumerate(names)
    }
    first = [int((q_class == c).nonzero()[0, 0]) for c in range(len(names)) if (q_class == c).any()]
    samples = Batch(balanced.inputs[first], balanced.targets[first], {})
    sample_patterns = attention_patterns(model, samples.inputs)

    interventions = run_interventions(
        model, task, balanced, nodes, stair, seed=seed, progress=progress
    )
    pcas = []
    for layer in range(model.cfg.n_layers if model.cfg.n_layers == 1 else 1):
        for head in range(model.cfg.n_heads):
            # the position where this head reads a pair from the middle of the staircase
            for j, pos in enumerate(stair.positions):
                col = int(stair.column[layer, head, j])
                if 0 < col < task.n_digits - 1:
                    pcas.append(
                        head_pca(model, task, balanced, Node(pos, layer, "head", head), col)
                    )
                    break
    algorithm = build_map(nodes, stair, interventions)
    return ArithmeticAnalysis(
        questions=batch,
        positions=positions,
        nodes=nodes,
        zero_nodes=zero_nodes,
        mean_pattern=pattern,
        stair=stair,
        samples=samples,
        sample_classes=[names[int(q_class[i])] for i in first],
        sample_patterns=sample_patterns,
        class_accuracy=class_accuracy,
        pca=pcas,
        interventions=interventions,
        algorithm=algorithm,
    )


def check_claims(
    a: ArithmeticAnalysis, task: ArithmeticTask, threshold: float = 0.01, n_layers: int = 1
) -> list[Claim]:
    """The seeds' four claims about the 1-layer model (the fourth inverted for deeper models)."""
    src = "Quirke & Barez 2024 (seeds/000, 002)"
    eq = task.answer_start - 1
    last_layer = max(n.layer for n in a.positions.nodes)
    res = a.positions
    extra = res.extra_failure_rate().tolist()
    before = [extra[i] for i, n in enumerate(res.nodes) if n.pos < eq and n.layer == last_layer]
    after = [
        extra[i]
        for i, n in enumerate(res.nodes)
        if eq <= n.pos < task.n_ctx - 1 and n.layer == last_layer
    ]
    claims = [
        Claim(
            "Positions before '=' are not needed",
            f"mean-ablating the residual stream at P0..P{eq - 1} adds no failures; "
            f"each of P{eq}..P{task.n_ctx - 2} does",
            f"max added failure rate before '=': {max(before):.2%}; "
            f"min at P{eq}..P{task.n_ctx - 2}: {min(after):.2%}",
            max(before) <= threshold and min(after) > threshold,
            src,
        )
    ]
    # each answer digit is computed one token before it is emitted
    digit_rates = res.digit_failure_rate()
    hits: list[str] = []
    misses: list[str] = []
    for k, name in enumerate(task.answer_names):
        d = int(name[1:])
        want = predicting_position(task, d)
        broken_at = {
            n.pos
            for i, n in enumerate(res.nodes)
            if n.layer == last_layer and digit_rates[i, k] > threshold
        }
        (hits if broken_at == {want} else misses).append(f"{name}@{sorted(broken_at) or '-'}")
    claims.append(
        Claim(
            "Each answer digit is computed one token before it is emitted",
            "A_d breaks only when the residual stream at the position just before A_d is ablated",
            f"{len(hits)} of {task.n_answer} digits: " + ", ".join(hits + misses),
            not misses,
            src,
        )
    )
    steps = a.stair.steps()
    best = steps[0].tolist()
    n_stair = sum(s >= 3 for s in best)
    claims.append(
        Claim(
            "Heads attend to digit pairs in a staircase",
            "after '=', each head attends to (D_c, D'_c) with c falling by one per token "
            "(>= 3 steps) for at least 2 layer-0 heads",
            "longest staircase per layer-0 head: "
            + ", ".join(f"L0H{h}: {s}" for h, s in enumerate(best)),
            n_stair >= min(2, len(best)),
            src,
        )
    )
    simple = [c for c in a.class_accuracy if c in ("BA", "MC1", "BS", "MB1")]
    casc = [c for c in a.class_accuracy if c.startswith("Cascade")]
    rate = {c: (f / q if q else 0.0) for c, (q, f) in a.class_accuracy.items()}
    worst_simple = max((rate[c] for c in simple), default=0.0)
    worst_casc = max((rate[c] for c in casc if a.class_accuracy[c][0]), default=0.0)
    measured = ", ".join(f"{c}: {f}/{q} ({rate[c]:.1%})" for c, (q, f) in a.class_accuracy.items())
    if n_layers == 1:
        claims.append(
            Claim(
                "The model fails on cascades",
                "cascade questions fail most: above 5% and at least twice the rate of the "
                "carry-free and single-carry classes",
                measured,
                worst_casc > 0.05 and worst_casc >= 2 * worst_simple,
                src,
            )
        )
    else:
        claims.append(
            Claim(
                "A deeper model no longer fails on cascades",
                "cascade questions fail in at most 1% (2-layer add d5: 0 failures per million)",
                measured,
                worst_casc <= 0.01 and any(a.class_accuracy[c][0] for c in casc),
                "Quirke, Neo & Barez 2024 (seeds/001; REFERENCE.md §1)",
            )
        )
    return claims


def analyse(run: Any, questions: int = 1000, seed: int = 0, progress: bool = False) -> Analysis:
    """``algolens analyse`` for add, sub and mix runs: every analysis, and the claims checked."""
    model, task = run.model, run.task
    a = analyse_arithmetic(
        model, task, questions, seed, progress=progress, per_class=max(50, questions // 4)
    )
    claims = check_claims(a, task, n_layers=model.cfg.n_layers)
    if model.cfg.n_layers > 1:
        for c in claims[:3]:
            c.source += "; stated for the 1-layer model"
    cfg = model.cfg
    clean_fail = float(a.nodes.clean_failed.double().mean())
    facts = {
        "task": f"{task.op}, {task.n_digits} digits",
        "model": f"{cfg.n_layers} layer(s), {cfg.n_heads} heads, d_model {cfg.d_model}",
        "questions": f"{len(a.questions):,}",
        "accuracy": f"{1 - clean_fail:.1%}",
        "claims passed": f"{sum(c.passed for c in claims)} / {len(claims)}",
    }
    return Analysis(
        title=f"How {run.name} does {task.op}",
        subtitle="Ablations, attention, PCA and interchange interventions, with the papers' "
        "claims checked (Quirke & Barez 2024; Quirke, Neo & Barez 2024).",
        claims=claims,
        data=a,
        facts=facts,
        files={"algorithm_map.json": a.algorithm.to_json()},
    )
