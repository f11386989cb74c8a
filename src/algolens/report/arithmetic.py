"""``algolens analyse`` for add / sub / mix runs: the report of how the model does arithmetic.

Analysis computes everything (:func:`algolens.analysis.arithmetic.analyse_arithmetic`); this
module only lays the results out as figures, tables and short texts, then writes
``report.html``, ``claims.json`` and ``algorithm_map.json`` (and static figures with ``fmt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from algolens.analysis.arithmetic import ArithmeticAnalysis, analyse_arithmetic, check_claims
from algolens.analysis.nodes import token_roles
from algolens.report import figures_arith as F
from algolens.report.html import Section, Table, write_report
from algolens.report.registry import register_reporter


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _sections(run: Any, a: ArithmeticAnalysis) -> list[Section]:
    task, model = run.task, run.model
    roles = token_roles(task)
    eq = task.answer_start - 1
    # a last layer only acts where answers are read; earlier layers can matter anywhere
    answer_pos = list(range(eq if model.cfg.n_layers == 1 else 0, task.n_ctx - 1))
    sub = task.op == "sub"
    subtasks = ["MD", "MB", "MZ", "UB", "UZ"] if sub else ["BA", "MC1", "MS9", "UC1", "US9"]
    sections = []

    sections.append(
        Section(
            "Training: loss per answer digit and per sub-task",
            "Loss of each answer digit (A0 is the units) and of the questions' sub-tasks "
            "over training "
            "steps, both axes logarithmic. Rare sub-tasks (US9: a carry cascading through a sum-9 "
            "column) are learned last.",
            figures=[
                F.training_curves(run.metrics, task.answer_names, "Loss per answer digit"),
                F.training_curves(run.metrics, subtasks, "Loss per sub-task", F.SUBTASK_COLOURS),
            ]
            if run.metrics
            else [],
        )
    )

    rates = {c: (f / q if q else 0.0) for c, (q, f) in a.class_accuracy.items()}
    worst = max(rates, key=lambda c: rates[c])
    sections.append(
        Section(
            f"Where it fails: {worst} questions ({_pct(rates[worst])} wrong)",
            "Failure rate per question class on a class-balanced set (teacher-forced argmax "
            "of every "
            "answer digit). Cascades are rare in uniform questions, so each class is "
            "sampled apart.",
            figures=[F.class_failure_chart(a.class_accuracy, "Failure rate per question class")],
        )
    )

    sections.append(
        Section(
            "Attention on one question of each class",
            "Rows are query positions from '=' on (each predicts the next token), columns "
            "the attended "
            "positions. Look for each head walking down the digit pairs, one column per token.",
            figures=[
                F.attention_grid(
                    a.sample_patterns[i].numpy(),
                    task.decode(a.samples.inputs[i]),
                    a.sample_classes[i],
                    roles,
                    eq,
                )
                for i in range(len(a.sample_classes))
            ],
        )
    )

    pos_rates = a.positions.extra_failure_rate()
    needed = [
        n.pos
        for n, r in zip(a.positions.nodes, pos_rates.tolist(), strict=True)
        if r > 0.01 and n.layer == model.cfg.n_layers - 1
    ]
    pos_title = (
        f"Only P{min(needed)}–P{max(needed)} are needed in the last layer's residual stream"
        if needed
        else "No single position of the last layer's residual stream is needed"
    )
    sections.append(
        Section(
            pos_title,
            "Share of questions that turn wrong when the residual stream after a layer is "
            "replaced by "
            "its mean over the questions at one position.",
            figures=[F.position_ablation_chart(a.positions, roles, "Mean-ablating one position")],
        )
    )

    digits = a.nodes.impacted_digits()
    text = [" ".join(d) for d in digits]
    sections.append(
        Section(
            "Which node each answer digit needs",
            "Each cell ablates one head (its hook_z) or MLP (hook_mlp_out) at one position, mean "
            "ablation above, zero ablation below; colour is the share of questions newly failing, "
            "the label the answer digits that break (> 1%). The table lists the failing answer "
            "patterns (yyNyyy: N marks a wrong digit, A5 … A0) and classes.",
            figures=[
                F.node_heatmap(
                    a.nodes, roles, answer_pos, "Mean ablation: failure rate per node", text
                ),
                F.node_heatmap(
                    a.zero_nodes,
                    roles,
                    answer_pos,
                    "Zero ablation: failure rate per node",
                    [" ".join(d) for d in a.zero_nodes.impacted_digits()],
                ),
                F.digit_impact_heatmap(a.nodes, "Answer impact: which digit each node breaks"),
            ],
            tables=[
                Table(
                    ["node", "failure rate", "digits broken", "top patterns", "failing classes"],
                    [
                        [
                            n.name,
                            _pct(r),
                            " ".join(digits[i]),
                            ", ".join(f"{p} ×{c}" for p, c in a.nodes.common_patterns(i)),
                            " ".join(a.nodes.failing_classes()[i]),
                        ]
                        for i, (n, r) in enumerate(
                            zip(a.nodes.nodes, a.nodes.extra_failure_rate().tolist(), strict=True)
                        )
                        if digits[i]
                    ],
                    "Nodes whose mean ablation breaks an answer digit in more than 1% of "
                    "questions.",
                )
            ],
        )
    )

    steps = a.stair.steps()
    step_text = ", ".join(
        f"L{layer}H{h}: {int(steps[layer, h])}"
        for layer in range(steps.shape[0])
        for h in range(steps.shape[1])
    )
    sections.append(
        Section(
            "Heads read digit pairs in a staircase"
            if int(steps.max()) >= 3
            else "No staircase: the heads do not step through the digit pairs",
            "For each head and each position that predicts an answer digit, the digit pair "
            f"(D_c, D'_c) that gets most of its mean attention (shown when >= "
            f"{a.stair.min_share:.0%}). "
            f"Longest run of consecutive positions stepping down one column: {step_text}.",
            figures=[F.attention_heatmap(a.stair, roles, "Mean attention on the best digit pair")],
        )
    )

    if a.pca:
        sections.append(
            Section(
                "PCA: head outputs "
                + ("separate" if min(p.agreement for p in a.pca) > 0.5 else "partly separate")
                + " the tri-case (sum < 9, = 9, > 9)",
                "Each head's output (z · W_O) at the position where it reads column c, over the "
                "class-balanced questions, coloured by the pair sum of column c (< 9, = 9, > 9). "
                "Silhouette and Calinski–Harabasz score the tri-case groups; ARI compares KMeans "
                "clusters with them.",
                figures=[F.pca_scatter(a.pca)],
                tables=[
                    Table(
                        [
                            "node",
                            "column",
                            "silhouette",
                            "Calinski–Harabasz",
                            "ARI",
                            "variance PC1+PC2",
                        ],
                        [
                            [
                                p.node,
                                p.column,
                                f"{p.silhouette:.2f}",
                                f"{p.calinski_harabasz:.0f}",
                                f"{p.agreement:.2f}",
                                _pct(sum(p.explained[:2])),
                            ]
                            for p in a.pca
                        ],
                    )
                ],
            )
        )

    if a.interventions:
        best = [r for r in a.interventions if r.match_informative >= 0.8 and r.informative]
        sections.append(
            Section(
                f"Interchange interventions confirm {len(best)} sub-task claims",
                "A clean question runs with one head's output taken from a store question "
                "of the same "
                "operator. If the head computes sub-task S (SA base add, SC carry, SS sum 9, ST "
                "tri-case) of column c for digit A_d, A_d must change exactly as "
                "recomputing it with "
                "the store's S predicts. Shown: the share of informative pairs (where the "
                "prediction "
                "differs from the clean digit) whose patched digit matches.",
                figures=[
                    F.intervention_chart(a.interventions, "Interventions: claim vs patched answer")
                ],
                tables=[
                    Table(
                        [
                            "nodes",
                            "claim",
                            "digit",
                            "informative pairs",
                            "match (informative)",
                            "match (all)",
                            "other digits unchanged",
                        ],
                        [
                            [
                                "+".join(r.nodes),
                                r.label,
                                f"A{r.digit}",
                                r.informative,
                                _pct(r.match_informative),
                                _pct(r.match_all),
                                _pct(r.others_unchanged),
                            ]
                            for r in a.interventions
                        ],
                    )
                ],
            )
        )

    amap = a.algorithm
    sections.append(
        Section(
            "The algorithm map",
            "Per answer digit, the nodes it needs (ablation breaks it in > 1% of questions) "
            "and what "
            "each does: the pair it attends to and the sub-task its interventions confirm "
            "(>= 80%). "
            "Saved as algorithm_map.json.",
            tables=[
                Table(["digit", "needs"], [[d, " ".join(ns)] for d, ns in amap.digits.items()]),
                Table(
                    ["node", "breaks", "attends", "sub-task", "best score", "failing classes"],
                    [
                        [
                            t.node,
                            " ".join(t.breaks),
                            t.attends,
                            t.subtask or "—",
                            _pct(t.subtask_score) if t.candidates else "",
                            " ".join(t.failing_classes),
                        ]
                        for t in amap.nodes.values()
                    ],
                ),
            ],
        )
    )
    if model.cfg.n_layers > 1:
        sections.append(Section("What the map finds in a deeper model", _depth_text(a, model)))
    return sections


def _depth_text(a: ArithmeticAnalysis, model: Any) -> str:
    amap = a.algorithm
    per_layer: dict[int, int] = {}
    for name in amap.nodes:
        layer = int(name.split(".")[1][1:])
        per_layer[layer] = per_layer.get(layer, 0) + 1
    tagged = [t for t in amap.nodes.values() if t.subtask]
    early = sorted({int(n.split(".")[0][1:]) for n in amap.nodes if n.split(".")[1] == "L0"})
    lines = [
        f"{len(amap.nodes)} nodes matter: "
        + ", ".join(f"{c} in layer {layer}" for layer, c in sorted(per_layer.items()))
        + ".",
        f"Layer-0 nodes that matter sit at positions "
        f"{', '.join(f'P{p}' for p in early) or 'none'}.",
        f"{len(tagged)} nodes have an intervention-confirmed sub-task: "
        + (", ".join(f"{t.node} = {t.subtask}" for t in tagged) or "none")
        + ".",
        "REFERENCE.md's account of the 2-layer model: the work is done after '=' (positions "
        "11-16 for 5 digits), early heads attend to digit pairs and compute the base add and "
        "tri-case of each column, and the second layer resolves carry cascades, so the model no "
        "longer fails on CascadeUS9 questions. Compare with the class failure rates above: "
        + ", ".join(f"{c} {f}/{q}" for c, (q, f) in a.class_accuracy.items())
        + ".",
    ]
    return "\n".join(lines)


def build_arithmetic_report(
    run: Any,
    out: Path,
    *,
    questions: int = 1000,
    fmt: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Analyse the run and write ``report.html``, ``claims.json``, ``algorithm_map.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    a = analyse_arithmetic(
        run.model, run.task, questions, seed, progress=progress, per_class=max(50, questions // 4)
    )
    claims = check_claims(a, run.task, n_layers=run.model.cfg.n_layers)
    if run.model.cfg.n_layers > 1:
        for c in claims[:3]:
            c.source += "; stated for the 1-layer model"
    a.algorithm.save(out / "algorithm_map.json")
    sections = _sections(run, a)
    cfg = run.model.cfg
    clean_fail = float(a.nodes.clean_failed.double().mean())
    facts = {
        "task": f"{run.task.op}, {run.task.n_digits} digits",
        "model": f"{cfg.n_layers} layer(s), {cfg.n_heads} heads, d_model {cfg.d_model}",
        "questions": f"{len(a.questions):,}",
        "accuracy": _pct(1 - clean_fail),
        "claims passed": f"{sum(c.passed for c in claims)} / {len(claims)}",
    }
    path = write_report(
        out / "report.html",
        f"How {run.name} does {run.task.op}",
        sections,
        subtitle="Ablations, attention, PCA and interchange interventions, with the seeds' claims "
        "checked (Quirke & Barez 2024).",
        claims=claims,
        facts=facts,
    )
    if fmt:
        from algolens.report.figures_export import export_figures

        figs: list[tuple[str, go.Figure]] = []
        for s in sections:
            for k, fig in enumerate(s.figures):
                figs.append((f"{s.anchor[:40]}-{k}", fig))
        export_figures(figs, out / "figures", fmt)
    return path


register_reporter(("add", "sub", "mix"), build_arithmetic_report)
