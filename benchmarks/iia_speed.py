"""Interchange-intervention accuracy on 10,000 pairs for one variable: the issue's target is at
most 30 s on a 2-layer d_model-96 model (``add_d5_l2``) on this machine.

Three parts are timed apart: drawing the pairs (the hypothesis in plain Python), the source run
that caches the aligned activation, and the patched run; one JSON line. A second line times what
``algolens iia`` does for the variable: the search over nodes, every pair kind and the controls.

    .venv/bin/python benchmarks/iia_speed.py [zoo:add_d5_l2] [--variable SC1] [--node P14.L0.H0]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from algolens.analysis.iia import draw_pairs, iia
from algolens.analysis.interventions import Site, activations
from algolens.families.arithmetic.hypothesis import hypothesis, sampler
from algolens.runs import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="zoo:add_d5_l2")
    parser.add_argument("--variable", default="SC1")
    parser.add_argument("--node", default="P14.L0.H0", help="where the variable is patched")
    parser.add_argument("--pairs", type=int, default=10_000)
    args = parser.parse_args()
    run = load(args.run)
    model, task = run.model, run.task
    op = "add" if task.op != "sub" else "sub"
    hyp = hypothesis(task, op)
    site = (Site.parse(args.node),)
    torch.set_grad_enabled(False)

    t0 = time.perf_counter()
    pairs = draw_pairs(hyp, args.variable, sampler(task, op), args.pairs, torch.Generator())
    t_draw = time.perf_counter() - t0
    t0 = time.perf_counter()
    activations(model, pairs.source, site)  # the source run alone, to split the time
    t_source = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = iia(model, task, pairs, site)  # the source run again, and the patched run
    t_iia = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "benchmark": "iia_speed",
                "model": run.name,
                "variable": args.variable,
                "node": args.node,
                "pairs": res.pairs,
                "iia": round(res.iia, 4),
                "interval": [round(x, 4) for x in res.interval],
                "threads": torch.get_num_threads(),
                "draw_s": round(t_draw, 2),
                "source_run_s": round(t_source, 2),
                "iia_s": round(t_iia, 2),
                "total_s": round(t_draw + t_iia, 2),
                "target_s": 30,
            }
        )
    )
    torch.set_grad_enabled(True)
    t0 = time.perf_counter()
    whole = run.iia([args.variable], pairs=args.pairs)["variables"][0]
    print(json.dumps({  # what `algolens iia` does per variable: the search, every kind, controls
        "benchmark": "iia_variable", "model": run.name, "variable": args.variable,
        "best": whole["best"], "searched_nodes": len(whole["search"]),
        "seconds": round(time.perf_counter() - t0, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
