"""Everything the arithmetic report shows, computed in one call, and the papers' claims checked.

:func:`analyse_arithmetic` returns an :class:`ArithmeticAnalysis` of tensors and dataclasses;
:func:`check_claims` turns it into the claims table (:mod:`.claims`, :mod:`.subtraction`,
:mod:`.reuse`); :func:`analyse` is ``algolens analyse`` for add, sub and mix runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from algolens.analysis.ablation import AblationResult, node_ablation, position_ablation
from algolens.analysis.attention import attention_patterns, mean_attention
from algolens.analysis.claims import Claim, tally
from algolens.analysis.interchange import interchange
from algolens.analysis.nodes import Node, class_index
from algolens.analysis.progress import Stages
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
from algolens.families.arithmetic.questions import class_balanced_questions, sample_questions
from algolens.families.arithmetic.staircase import Staircase, staircase
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.families.base import Analysis

if TYPE_CHECKING:
    from algolens.families.arithmetic.reuse import ReuseResult
    from algolens.families.arithmetic.subtraction import SignResult
from algolens.models.transformer import Transformer
from algolens.tasks.base import Batch, model_device
from algolens.verify import DISTRIBUTIONS, PREFIXES, verify


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
    op: str = "add"
    sign: SignResult | None = None  # sub and mix: where the answer's sign is decided
    reuse: ReuseResult | None = None  # a reused model: its source's sub-tasks checked in it
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)  # distribution -> (q, fails)
    lens: Tensor | None = None  # [layer, n_answer]: accuracy of each digit read after each block
    notes: list[str] = field(default_factory=list)


def _candidate_columns(digit: int, col: int, n: int) -> list[tuple[str, int]]:
    """Sub-tasks worth testing for a head attending to column ``col`` on behalf of A_digit."""
    out = []
    if col == digit and digit < n:
        out.append(("base", col))
    if col < digit:
        out += [("make", col), ("pass", col), ("tri", col)]
    return out


def intervention_jobs(
    ablation: AblationResult, stair: Staircase, threshold: float = 0.01
) -> list[tuple[tuple[Node, ...], int, int]]:
    """(node set, digit, column) for every needed head and the column it reads; heads at one
    position that read the same column are also tried together (a head pair): when two heads
    share a sub-task, patching one alone moves the answer only part of the time."""
    breaks = ablation.impacted_digits(threshold)
    jobs: list[tuple[tuple[Node, ...], int, int]] = []
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
    jobs += [((h[0], h[1]), d, c) for (_, _, d, c), h in shared.items() if len(h) == 2]
    return jobs


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
    """Test every needed head against the sub-tasks its attended column suggests."""
    jobs = intervention_jobs(ablation, stair, threshold)
    if not jobs:
        return []
    node_sets = list(dict.fromkeys(j[0] for j in jobs))
    index = {s: i for i, s in enumerate(node_sets)}
    results: list[InterventionResult] = []
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
    """Ablations, attention, PCA, interventions, the sign and the algorithm map for one model
    (``progress`` shows a labelled bar over these stages)."""
    from algolens.families.arithmetic.subtraction import sign_analysis

    model.eval()
    batch = sample_questions(task, n_questions, seed).to(model_device(model))
    balanced = class_balanced_questions(task, per_class, seed + 1).to(model_device(model))
    samples, sample_classes = _one_per_class(task, balanced)
    with Stages("arithmetic analysis", 9, progress) as stages:
        positions = stages.run(
            "position ablation", position_ablation, model, task, batch, "mean", progress=progress
        )
        nodes = stages.run(
            "mean node ablation", node_ablation, model, task, batch, "mean", progress=progress
        )
        zero_nodes = stages.run(
            "zero node ablation", node_ablation, model, task, batch, "zero", progress=progress
        )
        pattern = stages.run("attention", mean_attention, model, batch.inputs)
        stair = staircase(task, pattern)
        interventions = stages.run(
            "interventions",
            run_interventions,
            model,
            task,
            balanced,
            nodes,
            stair,
            seed=seed,
            progress=progress,
        )
        sample_patterns = stages.run("sample attention", attention_patterns, model, samples.inputs)
        classes = stages.run("class failure rates", class_accuracy, model, task, balanced)
        pca = stages.run("PCA", head_pcas, model, task, balanced, stair)
        sign = stages.run("sign", sign_analysis, model, task, balanced)
    return ArithmeticAnalysis(
        questions=batch,
        positions=positions,
        nodes=nodes,
        zero_nodes=zero_nodes,
        mean_pattern=pattern,
        stair=stair,
        samples=samples,
        sample_classes=sample_classes,
        sample_patterns=sample_patterns,
        class_accuracy=classes,
        pca=pca,
        interventions=interventions,
        algorithm=build_map(nodes, stair, interventions),
        op=task.op,
        sign=sign,
    )


def add_lens(a: ArithmeticAnalysis, model: Any, task: ArithmeticTask) -> None:
    """The logit lens on the analysis's questions: per block and answer digit, the share right
    if the model stopped after that block."""
    from algolens.analysis.patching import logit_lens

    a.lens = logit_lens(model, task, a.questions.inputs).accuracy().cpu()


def _one_per_class(task: ArithmeticTask, batch: Batch) -> tuple[Batch, list[str]]:
    """The first question of each class present in ``batch`` (for the attention plots)."""
    names, q_class = class_index(task, batch)
    first = [int((q_class == c).nonzero()[0, 0]) for c in range(len(names)) if (q_class == c).any()]
    samples = Batch(batch.inputs[first], batch.targets[first], {})
    return samples, [names[int(q_class[i])] for i in first]


@torch.inference_mode()
def class_accuracy(
    model: Transformer, task: ArithmeticTask, batch: Batch
) -> dict[str, tuple[int, int]]:
    """Per question class: (questions, failures) on a class-balanced set."""
    names, q_class = class_index(task, batch)
    wrong = (task.answer_logits(model(batch.inputs)).argmax(-1) != batch.targets).any(-1)
    return {
        name: (int((q_class == c).sum()), int(wrong[q_class == c].sum()))
        for c, name in enumerate(names)
    }


def head_pcas(
    model: Transformer, task: ArithmeticTask, batch: Batch, stair: Staircase
) -> list[PcaResult]:
    """PCA of each first-layer head's output where it reads a column from the middle of the
    staircase (every layer of a 1-layer model)."""
    out = []
    for layer in range(model.cfg.n_layers if model.cfg.n_layers == 1 else 1):
        for head in range(model.cfg.n_heads):
            for j, pos in enumerate(stair.positions):
                col = int(stair.column[layer, head, j])
                if 0 < col < task.n_digits - 1:
                    out.append(head_pca(model, batch, Node(pos, layer, "head", head), col))
                    break
    return out


def check_claims(a: ArithmeticAnalysis, task: ArithmeticTask, n_layers: int = 1) -> list[Claim]:
    """The papers' claims that apply to this model: the 1-layer findings, or the deeper model's;
    for subtraction, the sub-tasks and the sign; for a reused model, the reuse."""
    from algolens.families.arithmetic import claims as C
    from algolens.families.arithmetic.reuse import reuse_claim
    from algolens.families.arithmetic.subtraction import sign_claim, subtask_claim

    out: list[Claim | None] = []
    if n_layers == 1:
        out += [C.positions_before_equals(a, task, n_layers)]
        out += [C.computed_one_token_early(a, task, n_layers), C.staircase_claim(a, task)]
        out += [C.head_layout(a, task), C.fails_on_cascades(a)]
    else:
        out += [
            C.positions_before_equals(a, task, n_layers),
            C.work_before_equals(a, task, n_layers),
        ]
        out += [C.staircase_claim(a, task), C.no_cascade_failures(a)]
    out += [subtask_claim(a), sign_claim(a), reuse_claim(a.reuse, C.accuracy(a))]
    return [c for c in out if c is not None]


def analyse(
    run: Any, questions: int = 1000, seed: int = 0, progress: bool = False, source: Any = None
) -> Analysis:
    """``algolens analyse`` for add, sub and mix runs: every analysis, and the claims checked.

    ``source``: the run a reused model was initialised from (its ``init.source``, loaded by the
    caller); its sub-tasks are then checked in this model (the papers' reuse claim).
    """
    from algolens.families.arithmetic.reuse import compare_reuse

    model, task = run.model, run.task
    per_class = max(50, questions // 4)
    a = analyse_arithmetic(model, task, questions, seed, progress=progress, per_class=per_class)
    if source is not None and source.task.op in ("add", "mix") and task.op == "mix":
        src = analyse_arithmetic(
            source.model, source.task, questions, seed, progress=progress, per_class=per_class
        )
        a.reuse = compare_reuse(source.name, src, a)
    with Stages("arithmetic failure rates", len(DISTRIBUTIONS), progress) as stages:
        for dist in DISTRIBUTIONS:  # both rates, named: the first questions of a card's stream
            res = stages.run(dist, verify, model, task, questions=PREFIXES[-1],
                             distribution=dist, seed=0, progress=progress)  # fmt: skip
            a.rates[dist] = (res.questions, res.failures)
    add_lens(a, model, task)
    claims = check_claims(a, task, n_layers=model.cfg.n_layers)
    cfg = model.cfg
    facts = {
        "task": f"{task.op}, {task.n_digits} digits",
        "model": f"{cfg.n_layers} layer(s), {cfg.n_heads} heads, d_model {cfg.d_model}",
        "questions": f"{len(a.questions):,}",
        "accuracy": f"{float(1 - a.nodes.clean_failed.double().mean()):.1%}",
        **{f"failures, {d}": f"{f:,} of {q:,}" for d, (q, f) in a.rates.items()},
        "claims passed": tally(claims),
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
