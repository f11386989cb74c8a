"""The arithmetic report's sections: one small function per section, drawing only.

:func:`sections` lays an :class:`~algolens.families.arithmetic.analysis.ArithmeticAnalysis` out
as figures, tables and short texts; :mod:`algolens.report` renders them into ``report.html``.
"""

from __future__ import annotations

from typing import Any

from algolens.families.arithmetic import figures as F
from algolens.families.arithmetic.analysis import ArithmeticAnalysis
from algolens.families.arithmetic.questions import token_roles
from algolens.families.base import Analysis
from algolens.sections import Section, Table


def _pct(x: float) -> str:
    return f"{x:.1%}"


def sections(run: Any, analysis: Analysis) -> list[Section]:
    """Every section of the report, in reading order."""
    a: ArithmeticAnalysis = analysis.data
    out = [
        training_section(run),
        rates_section(a),
        lens_section(a),
        classes_section(a),
        attention_section(run, a),
        positions_section(run, a),
        nodes_section(run, a),
        staircase_section(run, a),
        sign_section(run, a),
        pca_section(a),
        interventions_section(a),
        reuse_section(a),
        map_section(run, a),
    ]
    if run.model.cfg.n_layers > 1:
        out.append(depth_section(a))
    return [s for s in out if s is not None]


def training_section(run: Any) -> Section:
    sub = run.task.op == "sub"
    subtasks = ["MD", "MB", "MZ", "UB", "UZ"] if sub else ["BA", "MC1", "MS9", "UC1", "US9"]
    figures = []
    if run.metrics:
        figures = [
            F.training_curves(run.metrics, run.task.answer_names, "Loss per answer digit"),
            F.training_curves(run.metrics, subtasks, "Loss per sub-task", F.SUBTASK_COLOURS),
        ]
    return Section(
        "Training: loss per answer digit and per sub-task",
        "Loss of each answer digit (A0 is the units) and of the questions' sub-tasks over "
        "training steps, both axes logarithmic. Rare sub-tasks (US9: a carry cascading through "
        "a sum-9 column) are learned last.",
        figures=figures,
        names=["training-loss-per-digit", "training-loss-per-subtask"][: len(figures)],
        key="training",
    )


def classes_section(a: ArithmeticAnalysis) -> Section:
    """The failure rate of each question class; a class with no failures is named in the text,
    never drawn as an empty bar (and with no failures at all there is no chart)."""
    rates = {c: (f / q if q else 0.0) for c, (q, f) in a.class_accuracy.items()}
    failing = {c: a.class_accuracy[c] for c in rates if rates[c] > 0}
    clean = [f"{c} (0 of {q:,})" for c, (q, f) in a.class_accuracy.items() if q and not f]
    absent = [c for c, (q, _) in a.class_accuracy.items() if not q]
    text = (
        "Failure rate per question class on a class-balanced set (teacher-forced argmax of "
        "every answer digit). Cascades are rare in uniform questions, so each class is sampled "
        "apart."
    )
    if clean:
        text += f" No failures in {', '.join(clean)}."
    if absent:
        text += f" No questions of class {', '.join(absent)} exist at this length."
    if not failing:
        return Section("No question class fails", text, key="failures-per-class")
    worst = max(failing, key=lambda c: rates[c])
    return Section(
        f"Where it fails: {worst} questions ({_pct(rates[worst])} wrong)",
        text,
        figures=[F.class_failure_chart(failing, "Failure rate per question class (failing only)")],
        names=["failures-per-class"],
        key="failures-per-class",
    )


def attention_section(run: Any, a: ArithmeticAnalysis) -> Section:
    roles, eq = token_roles(run.task), run.task.answer_start - 1
    figures = [
        F.attention_grid(
            a.sample_patterns[i].numpy(),
            run.task.decode(a.samples.inputs[i]),
            a.sample_classes[i],
            roles,
            eq,
        )
        for i in range(len(a.sample_classes))
    ]
    return Section(
        "Attention on one question of each class",
        "Rows are query positions from '=' on (each predicts the next token), columns the "
        "attended positions. Look for each head walking down the digit pairs, one column per "
        "token.",
        figures=figures,
        names=[f"attention-{c}" for c in a.sample_classes],
        key="attention",
    )


def rates_section(a: ArithmeticAnalysis) -> Section | None:
    if not a.rates:
        return None
    rows = [[d, f"{q:,}", f"{f:,}", f"{1e6 * f / q:,.0f}"] for d, (q, f) in a.rates.items()]
    return Section(
        "Failures on both distributions",
        "The first 20,480 questions of each seeded stream (a zoo card records them too): "
        "uniform draws every digit uniformly; training is the training mixture (enrichment "
        "included), drawn one question at a time. The papers' failure rates come from their "
        "training generator. For a million questions: algolens verify -n 1000000.",
        tables=[Table(["distribution", "questions", "failures", "per million"], rows)],
        key="failure-rates",
    )


def lens_section(a: ArithmeticAnalysis) -> Section | None:
    """The logit lens: each answer digit read from the residual stream after each block."""
    if a.lens is None:
        return None
    names = a.nodes.answer_names
    rows = [[f"after layer {layer}", *(_pct(x) for x in row)] for layer, row in
            enumerate(a.lens.tolist())]  # fmt: skip
    return Section(
        "Logit lens: where each digit becomes right",
        f"The share of the analysis's {len(a.questions):,} questions whose answer digit would be "
        "right if the model stopped after each block (its residual stream read by the final "
        "LayerNorm and the unembedding; the last row is the model's own answer). "
        "Python: run.logit_lens(questions).accuracy().",
        tables=[Table(["read", *names], rows)],
        key="logit-lens",
    )


def positions_section(run: Any, a: ArithmeticAnalysis) -> Section:
    from algolens.families.arithmetic.claims import used_positions

    n_layers = run.model.cfg.n_layers
    eq = run.task.answer_start - 1
    used = {layer: used_positions(a, layer) for layer in range(n_layers)}
    text = "; ".join(f"after layer {lay}: " + (_span(ps) or "none") for lay, ps in used.items())
    early = sorted({p for lay in range(n_layers - 1) for p in used[lay] if p < eq})
    title = (
        f"Positions before '=' are used: {_span(early)}"
        if early
        else "Only positions from '=' on are used"
    )
    return Section(
        title,
        "Share of questions that turn wrong when the residual stream after a layer is replaced "
        f"by its mean over the questions at one position. Needed (> 1%): {text}. The last "
        "layer's stream at a position reaches only that position's answer, so it is the layers "
        "before it that show where work starts.",
        figures=[
            F.position_layer_map(
                a.positions, token_roles(run.task), "Mean-ablating one position, per layer"
            )
        ],
        names=["position-ablation"],
        key="position-ablation",
    )


def _span(positions: list[int]) -> str:
    return ", ".join(f"P{p}" for p in positions)


def nodes_section(run: Any, a: ArithmeticAnalysis) -> Section:
    task, roles = run.task, token_roles(run.task)
    eq = task.answer_start - 1
    # a last layer only acts where answers are read; earlier layers can matter anywhere
    answer_pos = list(range(eq if run.model.cfg.n_layers == 1 else 0, task.n_ctx - 1))
    digits = a.nodes.impacted_digits()
    figures = [
        F.node_heatmap(
            a.nodes,
            roles,
            answer_pos,
            "Mean ablation: failure rate per node",
            [" ".join(d) for d in digits],
        ),
        F.node_heatmap(
            a.zero_nodes,
            roles,
            answer_pos,
            "Zero ablation: failure rate per node",
            [" ".join(d) for d in a.zero_nodes.impacted_digits()],
        ),
        F.digit_impact_heatmap(a.nodes, "Answer impact: which digit each node breaks"),
    ]
    return Section(
        "Which node each answer digit needs",
        "Each cell ablates one head (its hook_z) or MLP (hook_mlp_out) at one position, mean "
        "ablation above, zero ablation below; colour is the share of questions newly failing, "
        "the label the answer digits that break (> 1%). The table lists the failing answer "
        "patterns (yyNyyy: N marks a wrong digit, A5 … A0) and classes.",
        figures=figures,
        tables=[_nodes_table(a, digits)],
        names=["nodes-mean-ablation", "nodes-zero-ablation", "nodes-digit-impact"],
        key="node-ablation",
    )


def _nodes_table(a: ArithmeticAnalysis, digits: list[list[str]]) -> Table:
    rates = a.nodes.extra_failure_rate().tolist()
    classes = a.nodes.failing_classes()
    rows = [
        [
            n.name,
            _pct(rates[i]),
            " ".join(digits[i]),
            ", ".join(f"{p} ×{c}" for p, c in a.nodes.common_patterns(i)),
            " ".join(classes[i]),
        ]
        for i, n in enumerate(a.nodes.nodes)
        if digits[i]
    ]
    return Table(
        ["node", "failure rate", "digits broken", "top patterns", "failing classes"],
        rows,
        "Nodes whose mean ablation breaks an answer digit in more than 1% of questions.",
    )


def staircase_section(run: Any, a: ArithmeticAnalysis) -> Section:
    steps = a.stair.steps()
    step_text = ", ".join(
        f"L{layer}H{h}: {int(steps[layer, h])}"
        for layer in range(steps.shape[0])
        for h in range(steps.shape[1])
    )
    n, n_heads = run.task.n_digits, a.stair.column.shape[1]
    rows = [
        [f"P{pos}", f"A{n - j}", *(_col(int(a.stair.column[0, h, j])) for h in range(n_heads))]
        for j, pos in enumerate(a.stair.positions)
    ]
    return Section(
        "Heads read digit pairs in a staircase"
        if int(steps.max()) >= 3
        else "No staircase: the heads do not step through the digit pairs",
        "For each head and each position that predicts an answer digit, the digit pair "
        f"(D_c, D'_c) that gets most of its mean attention (shown when >= "
        f"{a.stair.min_share:.0%}). Longest run of consecutive positions stepping down one "
        f"column: {step_text}. The table gives the column each layer-0 head reads at each "
        "position: the 1-layer paper's three heads read columns d, d-1 and d-2 for A_d.",
        figures=[
            F.attention_heatmap(
                a.stair, token_roles(run.task), "Mean attention on the best digit pair"
            )
        ],
        tables=[Table(["position", "predicts", *(f"L0H{h}" for h in range(n_heads))], rows)],
        names=["staircase"],
        key="staircase",
    )


def _col(c: int) -> str:
    return f"c{c}" if c >= 0 else "-"


def sign_section(run: Any, a: ArithmeticAnalysis) -> Section | None:
    if a.sign is None:
        return None
    top = sorted(a.sign.flips.items(), key=lambda kv: -kv[1])[:8]
    where = a.sign.decided_at()
    return Section(
        "Where the answer's sign is decided",
        f"Each node (head, MLP, or the residual stream after a layer) at a position up to '=' is "
        f"patched from a subtraction question of the opposite sign ({a.sign.pairs} pairs); a "
        f"node that decides the sign flips it to the store's. The residual stream carries the "
        f"decision from {where or 'no single position'} on.",
        figures=[
            F.sign_map(a.sign.flips, token_roles(run.task), "Sign flipped by patching one node")
        ],
        tables=[Table(["node", "sign flipped"], [[k, _pct(v)] for k, v in top])],
        names=["sign-decision"],
        key="sign",
    )


def reuse_section(a: ArithmeticAnalysis) -> Section | None:
    if a.reuse is None:
        return None
    r = a.reuse
    rows = [
        [
            row.nodes,
            row.label,
            f"A{row.digit}",
            _pct(row.source_match),
            "-" if row.target_match is None else _pct(row.target_match),
            "yes" if row.kept else "no",
        ]
        for row in r.rows
    ]
    return Section(
        f"Reuse: {r.overlap:.0%} of {r.source}'s sub-tasks kept",
        f"Every sub-task an interchange confirms in {r.source} (addition questions), checked at "
        f"the same nodes of this model. Nodes subtraction uses alone (by ablation): "
        f"{', '.join(r.added_for_sub) or 'none'}. Nodes both operators use: "
        f"{', '.join(r.shared) or 'none'}.",
        tables=[Table(["nodes", "sub-task", "digit", f"in {r.source}", "here", "kept"], rows)],
        key="reuse",
    )


def pca_section(a: ArithmeticAnalysis) -> Section | None:
    if not a.pca:
        return None
    rows = [
        [
            p.node,
            p.column,
            f"{p.silhouette:.2f}",
            f"{p.calinski_harabasz:.0f}",
            f"{p.agreement:.2f}",
            _pct(sum(p.explained[:2])),
        ]
        for p in a.pca
    ]
    separate = "separate" if min(p.agreement for p in a.pca) > 0.5 else "partly separate"
    return Section(
        f"PCA: head outputs {separate} the tri-case (sum < 9, = 9, > 9)",
        "Each head's output (z · W_O) at the position where it reads column c, over the "
        "class-balanced questions, coloured by the pair sum of column c (< 9, = 9, > 9). "
        "Silhouette and Calinski–Harabasz score the tri-case groups; ARI compares KMeans "
        "clusters with them.",
        figures=[F.pca_scatter(a.pca)],
        tables=[
            Table(
                ["node", "column", "silhouette", "Calinski–Harabasz", "ARI", "variance PC1+PC2"],
                rows,
            )
        ],
        names=["pca-tri-case"],
        key="pca",
    )


def interventions_section(a: ArithmeticAnalysis) -> Section | None:
    if not a.interventions:
        return None
    best = [r for r in a.interventions if r.match_informative >= 0.8 and r.informative]
    rows = [
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
    ]
    columns = [
        "nodes",
        "claim",
        "digit",
        "informative pairs",
        "match (informative)",
        "match (all)",
        "other digits unchanged",
    ]
    return Section(
        f"Interchange interventions confirm {len(best)} sub-task claims",
        "A clean question runs with one head's output taken from a store question of the same "
        "operator. If the head computes sub-task S (SA base add, SC carry, SS sum 9, ST "
        "tri-case) of column c for digit A_d, A_d must change exactly as recomputing it with "
        "the store's S predicts. Shown: the share of informative pairs (where the prediction "
        "differs from the clean digit) whose patched digit matches.",
        figures=[F.intervention_chart(a.interventions, "Interventions: claim vs patched answer")],
        tables=[Table(columns, rows)],
        names=["interventions"],
        key="interventions",
    )


def map_section(run: Any, a: ArithmeticAnalysis) -> Section:
    amap = a.algorithm
    rows = [
        [
            t.node,
            " ".join(t.breaks),
            t.attends,
            t.subtask or "—",
            _pct(t.subtask_score) if t.candidates else "",
            " ".join(t.failing_classes),
        ]
        for t in amap.nodes.values()
    ]
    components = list(dict.fromkeys(n.component for n in a.nodes.nodes))
    figures = (
        [F.algorithm_map_figure(amap, components, token_roles(run.task), "The algorithm map")]
        if amap.nodes
        else []
    )
    return Section(
        "The algorithm map",
        "Per answer digit, the nodes it needs (ablation breaks it in > 1% of questions) and "
        "what each does: the pair it attends to and the sub-task its interventions confirm "
        "(>= 80%). The grid puts each needed node at its position and component, labelled with "
        "its confirmed sub-task ('?' where none is confirmed) and coloured by the share of "
        "questions that fail when it is mean-ablated. Saved as algorithm_map.json.",
        figures=figures,
        tables=[
            Table(["digit", "needs"], [[d, " ".join(ns)] for d, ns in amap.digits.items()]),
            Table(["node", "breaks", "attends", "sub-task", "best score", "failing classes"], rows),
        ],
        names=["algorithm-map"][: len(figures)],
        key="algorithm-map",
    )


def depth_section(a: ArithmeticAnalysis) -> Section:
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
        "Layer-0 nodes that matter sit at positions "
        f"{', '.join(f'P{p}' for p in early) or 'none'}.",
        f"{len(tagged)} nodes have an intervention-confirmed sub-task: "
        + (", ".join(f"{t.node} = {t.subtask}" for t in tagged) or "none")
        + ".",
        "The papers' account of the 2-layer model (Quirke, Neo & Barez 2024): the tri-case of "
        "each column is computed early and chained, the '=' token is the deadline, and the "
        "second layer resolves carry cascades, so the model no longer fails on CascadeUS9 "
        "questions. Compare with the class failure rates above: "
        + ", ".join(f"{c} {f}/{q}" for c, (q, f) in a.class_accuracy.items())
        + ".",
    ]
    return Section("What the map finds in a deeper model", "\n".join(lines), key="depth")
