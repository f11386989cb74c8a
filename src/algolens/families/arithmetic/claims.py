"""The papers' claims about arithmetic models, each a check that can fail.

Every claim states what it measures and its threshold, and fails on a model that does not do
the task (an untrained model answers nothing right, so no node can be "needed" by it): each
position or node claim first asks that the model answers at least ``MIN_ACCURACY`` of the
questions. The tests give every claim a model on which it must pass and one on which it must
fail (tests/unit/test_claims.py, tests/integration/test_claims_zoo.py).

Sources: Quirke & Barez 2024 ("Understanding Addition in Transformers", the 1-layer model) and
Quirke, Neo & Barez 2024 ("Increasing Trust in Language Models through the Reuse of Verified
Circuits": 2-layer addition, subtraction, mixed models, reuse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from algolens.analysis.claims import Claim, not_applicable
from algolens.families.arithmetic.questions import predicting_position
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.verify.stats import clopper_pearson

if TYPE_CHECKING:
    from algolens.families.arithmetic.analysis import ArithmeticAnalysis

PAPER_1 = "Quirke & Barez 2024"
PAPER_2 = "Quirke, Neo & Barez 2024"
THRESHOLD = 0.01  # a node or position is "needed" when ablating it adds failures in > 1%
MIN_ACCURACY = 0.9  # below this the model does not do the task: no algorithm to locate
CONFIRM = 0.8  # an interchange confirms a sub-task when >= 80% of informative pairs match
LAYOUT_EFFECT = 0.002  # a head "computes" A_d when ablating it breaks A_d in > 0.2% of questions


def accuracy(a: ArithmeticAnalysis) -> float:
    return 1.0 - float(a.nodes.clean_failed.double().mean())


def _unfit(a: ArithmeticAnalysis) -> str | None:
    """Why no algorithm claim can hold, if the model does not do the task."""
    acc = accuracy(a)
    if acc < MIN_ACCURACY:
        return f"the model answers only {acc:.1%} of the questions right (needs {MIN_ACCURACY:.0%})"
    return None


def _refused(claim: str, expected: str, why: str, source: str) -> Claim:
    return Claim(claim, expected, why, False, source)


def used_positions(a: ArithmeticAnalysis, layer: int, threshold: float = THRESHOLD) -> list[int]:
    """The positions whose residual stream after ``layer`` is needed (mean ablation)."""
    rates = a.positions.extra_failure_rate().tolist()
    return [
        n.pos
        for n, r in zip(a.positions.nodes, rates, strict=True)
        if n.layer == layer and r > threshold
    ]


def positions_before_equals(a: ArithmeticAnalysis, task: ArithmeticTask, n_layers: int) -> Claim:
    """1-layer finding, judged where information can still move: every layer but the last.

    (The last layer's residual stream at a position reaches only that position's logits, so
    in it the claim holds for any causal model; it is not counted.)"""
    claim = "Positions before '=' are not needed"
    eq = task.answer_start - 1
    expected = (
        f"mean-ablating the residual stream after layers 0..{n_layers - 2} at "
        f"P0..P{eq - 1} adds failures in at most {THRESHOLD:.0%} of questions"
    )
    if n_layers == 1:
        depth1 = "a 1-layer model has no layer before the last, so no position can carry work on"
        return not_applicable(claim, "a layer before the last to judge", depth1, PAPER_1)
    if (why := _unfit(a)) is not None:
        return _refused(claim, expected, why, PAPER_1)
    used = {layer: [p for p in used_positions(a, layer) if p < eq] for layer in range(n_layers - 1)}
    measured = "; ".join(
        f"layer {lay}: " + (", ".join(f"P{p}" for p in ps) or "none") for lay, ps in used.items()
    )
    return Claim(claim, expected, f"needed before '=': {measured}", not any(used.values()), PAPER_1)


def work_before_equals(a: ArithmeticAnalysis, task: ArithmeticTask, n_layers: int) -> Claim:
    """2-layer finding: the first layer already works before '=' (the papers' 5-digit 2-layer
    model uses positions P8 to P16), so the answer digits can be finished by the deadline."""
    claim = "A deeper model starts work before '=' (the papers' 2-layer model uses P8-P16)"
    eq = task.answer_start - 1
    expected = f"some position before P{eq} is needed in a layer before the last"
    if (why := _unfit(a)) is not None:
        return _refused(claim, expected, why, PAPER_2)
    early = sorted({p for layer in range(n_layers - 1) for p in used_positions(a, layer) if p < eq})
    layer0 = used_positions(a, 0)
    measured = f"needed before '=': {', '.join(f'P{p}' for p in early) or 'none'}; "
    measured += f"layer 0 uses P{min(layer0)}-P{max(layer0)}" if layer0 else "layer 0 uses none"
    if early:
        measured += "; layer 0 ablated before '=' adds failures: " + position_rates(a, 0, early)
    return Claim(claim, expected, measured, bool(early), PAPER_2)


def position_rates(a: ArithmeticAnalysis, layer: int, positions: list[int]) -> str:
    """``P8 7.9% [6.3%, 9.7%]`` per position: the share of questions that mean-ablating the
    residual stream after ``layer`` there turns wrong, with its 95% Clopper-Pearson interval
    and the question count (the analysis's questions, drawn with its seed)."""
    failed = a.positions.failed & ~a.positions.clean_failed
    n = failed.shape[1]
    parts = []
    for i, node in enumerate(a.positions.nodes):
        if node.layer == layer and node.pos in positions:
            k = int(failed[i].sum())
            lo, hi = clopper_pearson(k, n)
            parts.append(f"P{node.pos} {k / n:.1%} [{lo:.1%}, {hi:.1%}]")
    return ", ".join(parts) + f" of {n:,} questions"


def digit_positions_needed(a: ArithmeticAnalysis, task: ArithmeticTask) -> dict[str, list[int]]:
    """Per answer digit, the positions whose head or MLP ablation breaks it."""
    rates = a.nodes.digit_failure_rate()
    out: dict[str, list[int]] = {}
    for k, name in enumerate(task.answer_names):
        out[name] = sorted({n.pos for i, n in enumerate(a.nodes.nodes) if rates[i, k] > THRESHOLD})
    return out


def computed_one_token_early(
    a: ArithmeticAnalysis, task: ArithmeticTask, n_layers: int = 2
) -> Claim:
    """A_d needs work at the position that predicts it, and at no earlier position. In a
    1-layer model a node reaches only its own position's logits, so there it holds by
    construction and is not applicable."""
    claim = "Each answer digit is computed one token before it is emitted"
    expected = (
        f"A_d breaks (> {THRESHOLD:.0%}) when a head or MLP at the position just before "
        "A_d is ablated, and at no other position"
    )
    if n_layers == 1:
        depth1 = (
            "in a 1-layer model a node reaches only its own position's logits: any model holds it"
        )
        return not_applicable(claim, expected, depth1, PAPER_1)
    if (why := _unfit(a)) is not None:
        return _refused(claim, expected, why, PAPER_1)
    hits: list[str] = []
    misses: list[str] = []
    for name, positions in digit_positions_needed(a, task).items():
        want = predicting_position(task, int(name[1:]))
        (hits if positions == [want] else misses).append(
            f"{name}@{','.join(f'P{p}' for p in positions) or '-'}"
        )
    measured = f"{len(hits)} of {task.n_answer} digits: " + " ".join(hits + misses)
    return Claim(claim, expected, measured, not misses, PAPER_1)


def staircase_claim(a: ArithmeticAnalysis, task: ArithmeticTask) -> Claim:
    claim = "Heads attend to digit pairs in a staircase"
    steps_needed = min(3, task.n_digits)
    heads_needed = min(2, a.stair.column.shape[1])
    expected = (
        f"after '=', each of >= {heads_needed} layer-0 heads attends to (D_c, D'_c) with c "
        f"falling by one per token, for >= {steps_needed} tokens"
    )
    expected += f", and ablating each such head there breaks > {THRESHOLD:.0%} of answers"
    if (why := _unfit(a)) is not None:
        return _refused(claim, expected, why, PAPER_1)
    best = a.stair.steps()[0].tolist()
    effect = head_effects(a, 0, a.stair.positions)
    used = [h for h, s in enumerate(best) if s >= steps_needed and effect.get(h, 0.0) > THRESHOLD]
    measured = "longest staircase per layer-0 head (ablation effect after '='): " + ", ".join(
        f"L0H{h}: {s} ({effect.get(h, 0.0):.1%})" for h, s in enumerate(best)
    )
    return Claim(claim, expected, measured, len(used) >= heads_needed, PAPER_1)


def head_effects(a: ArithmeticAnalysis, layer: int, positions: list[int]) -> dict[int, float]:
    """Per head of ``layer``: the largest share of answers that mean-ablating it at one of
    ``positions`` breaks (0 where no node of it was ablated)."""
    rates = a.nodes.extra_failure_rate().tolist()
    out: dict[int, float] = {}
    for node, rate in zip(a.nodes.nodes, rates, strict=True):
        if node.kind == "head" and node.layer == layer and node.pos in positions:
            assert node.head is not None
            out[node.head] = max(out.get(node.head, 0.0), rate)
    return out


def head_layout(a: ArithmeticAnalysis, task: ArithmeticTask) -> Claim | None:
    """The 1-layer paper's layout: at the position predicting A_d, three heads read columns d,
    d - 1 and d - 2 (one token apart). None where it cannot apply (< 3 digits or heads)."""
    n, n_heads = task.n_digits, a.stair.column.shape[1]
    if n < 3 or n_heads < 3:
        return None
    claim = "The heads read columns d, d-1, d-2, one token apart"
    expected = (
        "at the position predicting A_d (2 <= d < n), the layer-0 heads read exactly "
        f"columns d, d-1, d-2, and ablating each of them there breaks A_d (> {LAYOUT_EFFECT:.1%})"
    )
    if (why := _unfit(a)) is not None:
        return _refused(claim, expected, why, PAPER_1)
    rows: list[str] = []
    ok = True
    for j, pos in enumerate(a.stair.positions):
        d = n - j
        cols = [int(c) for c in a.stair.column[0, :, j].tolist()]
        if not 2 <= d < n:
            continue
        want = {d, d - 1, d - 2}
        breaks = _digit_effects(a, pos, f"A{d}")
        good = want <= set(cols) and len(set(cols) & want) == 3
        good &= all(breaks.get(h, 0.0) > LAYOUT_EFFECT for h, c in enumerate(cols) if c in want)
        ok &= good
        read = " ".join(
            f"H{h}:{'c' + str(c) if c >= 0 else '-'} ({breaks.get(h, 0.0):.1%})"
            for h, c in enumerate(cols)
        )
        rows.append(f"A{d}@P{pos} {read}" + ("" if good else f" (want c{d},c{d - 1},c{d - 2})"))
    measured = "; ".join(rows)
    if not ok:
        measured = "differs from the paper: " + measured
    return Claim(claim, expected, measured, ok, PAPER_1)


def _digit_effects(a: ArithmeticAnalysis, pos: int, digit: str) -> dict[int, float]:
    """Per layer-0 head: the share of questions whose ``digit`` turns wrong when the head is
    mean-ablated at ``pos``."""
    k = a.nodes.answer_names.index(digit)
    rates = a.nodes.digit_failure_rate()[:, k].tolist()
    return {
        n.head: r
        for n, r in zip(a.nodes.nodes, rates, strict=True)
        if n.kind == "head" and n.layer == 0 and n.pos == pos and n.head is not None
    }


def class_rates(a: ArithmeticAnalysis) -> dict[str, float]:
    return {c: (f / q if q else 0.0) for c, (q, f) in a.class_accuracy.items()}


def fails_on_cascades(a: ArithmeticAnalysis) -> Claim:
    """The 1-layer model's finding."""
    rate, simple, casc = class_rates(a), ("BA", "MC1", "BS", "MB1"), "Cascade"
    worst_simple = max((rate[c] for c in rate if c in simple), default=0.0)
    worst_casc = max(
        (rate[c] for c in rate if c.startswith(casc) and a.class_accuracy[c][0]), default=0.0
    )
    measured = ", ".join(f"{c}: {f}/{q} ({rate[c]:.1%})" for c, (q, f) in a.class_accuracy.items())
    return Claim(
        "The model fails on cascades",
        "cascade questions fail most: above 5% and at least twice the rate of the carry-free and "
        "single-carry classes",
        measured,
        worst_casc > 0.05 and worst_casc >= 2 * worst_simple,
        PAPER_1,
    )


def no_cascade_failures(a: ArithmeticAnalysis) -> Claim:
    """The 2-layer model's finding."""
    rate = class_rates(a)
    casc = [c for c in rate if c.startswith("Cascade") and a.class_accuracy[c][0]]
    measured = ", ".join(f"{c}: {f}/{q} ({rate[c]:.1%})" for c, (q, f) in a.class_accuracy.items())
    return Claim(
        "A deeper model no longer fails on cascades",
        "cascade questions fail in at most 1% (the papers' 2-layer model: 0 failures per million)",
        measured,
        bool(casc) and max(rate[c] for c in casc) <= 0.01,
        PAPER_2,
    )
