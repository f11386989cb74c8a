"""Node-ablation sweep: algolens's batched sweep vs transformer_lens.patching (one forward a node).

Both mean-ablate every head (hook_z) and every MLP (hook_mlp_out) at every position over the same
questions and score the mean answer loss; the script checks that they agree, then prints one JSON
line per measurement and the ratio. TransformerLens runs every node; algolens skips the nodes
causality proves inert (``prune``), so a second line gives the ratio with pruning off too, and
a third the plain stacked-copies-with-hooks sweep (``local=False``).

    .venv/bin/python benchmarks/ablation_speed.py [RUN] [--questions 1000]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformer_lens import ActivationCache
from transformer_lens.patching import get_act_patch_attn_head_out_by_pos, get_act_patch_mlp_out

from algolens.analysis.ablation import ablation_values, node_ablation
from algolens.analysis.nodes import answer_scores
from algolens.families.arithmetic.questions import sample_questions
from algolens.families.arithmetic.task import ArithmeticTask
from algolens.models import build_model
from algolens.runs import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run",
        nargs="?",
        default=None,
        help="run dir or zoo:NAME (default: untrained 1-layer d_model 120)",
    )
    parser.add_argument("--questions", type=int, default=1000)
    args = parser.parse_args()
    if args.run:
        run = load(args.run)
        model, task, name = run.model, run.task, run.name
    else:
        task = ArithmeticTask("add", 5)
        spec = {"kind": "transformer", "n_layers": 1, "n_heads": 3, "d_model": 120}
        model, name = build_model({**spec, "n_ctx": task.n_ctx}).eval(), "untrained add_d5_l1 d120"
    batch = sample_questions(task, args.questions, 0)
    torch.set_grad_enabled(False)

    t0 = time.perf_counter()
    ours = node_ablation(model, task, batch, "mean")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = node_ablation(model, task, batch, "mean", prune=False)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    stacked = node_ablation(model, task, batch, "mean", prune=False, local=False)
    t_stacked = time.perf_counter() - t0

    t0 = time.perf_counter()
    means = ablation_values(model, batch.inputs, full.nodes, "mean")
    cache = ActivationCache({k: v.expand(len(batch), *v.shape) for k, v in means.items()}, model)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return answer_scores(task, logits, batch.targets)[1].float()

    heads = get_act_patch_attn_head_out_by_pos(model, batch.inputs, cache, metric, reduce="mean")
    mlps = get_act_patch_mlp_out(model, batch.inputs, cache, metric, reduce="mean")
    t_tl = time.perf_counter() - t0

    theirs = torch.stack(
        [
            heads[n.layer, n.pos, n.head] if n.kind == "head" else mlps[n.layer, n.pos]
            for n in full.nodes
        ]
    )
    diff = float((ours.loss.mean(-1).float() - theirs).abs().max())
    common = {
        "model": name,
        "questions": len(batch),
        "nodes": len(full.nodes),
        "max_abs_loss_diff": diff,
    }
    print(
        json.dumps(
            {
                "benchmark": "node_ablation_sweep",
                **common,
                "ours_s": round(t_ours, 2),
                "transformer_lens_s": round(t_tl, 2),
                "ratio": round(t_tl / t_ours, 1),
            }
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "node_ablation_sweep_no_pruning",
                **common,
                "ours_s": round(t_full, 2),
                "transformer_lens_s": round(t_tl, 2),
                "ratio": round(t_tl / t_full, 1),
            }
        )
    )
    print(
        json.dumps(
            {
                "benchmark": "node_ablation_sweep_stacked_hooks",
                **common,
                "ours_s": round(t_stacked, 2),
                "transformer_lens_s": round(t_tl, 2),
                "ratio": round(t_tl / t_stacked, 1),
                "max_abs_loss_diff_vs_local": float((stacked.loss - full.loss).abs().max()),
            }
        )
    )
    if diff > 1e-3:
        raise SystemExit(f"results disagree: max |loss difference| {diff}")


if __name__ == "__main__":
    main()
