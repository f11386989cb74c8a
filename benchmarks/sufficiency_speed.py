"""Circuit sufficiency on 100,000 questions: the circuit alone (every other head and MLP
mean-ablated) verified by the same engine as the model, against the model's own verification.

Prints one JSON line per measurement: the model's verification, the circuit's (failures per
million with the 95% Clopper-Pearson interval, seconds, questions per second and the ratio to
the model's), per distribution; with ``--minimality N``, one line with each circuit node's
failure rate when it is ablated as well, on N training questions. ``--find`` finds the circuit
again (node ablation on 1,000 questions, then circuit.grow on 1,000 and 4,000) instead of
using the one found that way for add_d5_l2.

    nice .venv/bin/python benchmarks/sufficiency_speed.py [RUN] [--questions 100000]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from algolens.analysis.circuit import Circuit, find_circuit, minimality, sufficiency
from algolens.runs import load
from algolens.verify import verify

# add_d5_l2: the 33 nodes whose mean ablation alone breaks > 1% of 1,000 training questions,
# grown by circuit.grow until 0 failures on 1,000 and then 4,000 training questions (--find)
ADD_D5_L2 = [
    "P8.L0.H0", "P8.L0.H2", "P8.L0.MLP", "P9.L0.H0", "P9.L0.H2", "P9.L0.MLP", "P10.L0.H0",
    "P10.L0.H2", "P10.L0.MLP", "P11.L0.H0", "P11.L0.H1", "P11.L0.H2", "P11.L0.MLP",
    "P11.L1.H0", "P11.L1.H1", "P11.L1.MLP", "P12.L0.H0", "P12.L0.H1", "P12.L0.H2",
    "P12.L0.MLP", "P12.L1.H0", "P12.L1.H1", "P12.L1.MLP", "P13.L0.H0", "P13.L0.H1",
    "P13.L0.H2", "P13.L0.MLP", "P13.L1.H0", "P13.L1.MLP", "P14.L0.H0", "P14.L0.H1",
    "P14.L0.H2", "P14.L0.MLP", "P14.L1.H0", "P14.L1.H1", "P14.L1.MLP", "P15.L0.H0",
    "P15.L0.H1", "P15.L0.H2", "P15.L0.MLP", "P15.L1.MLP", "P16.L0.H1", "P16.L0.H2",
    "P16.L0.MLP", "P16.L1.MLP",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="zoo:add_d5_l2")
    parser.add_argument("--questions", type=int, default=100_000)
    parser.add_argument("--minimality", type=int, default=0, help="questions (0: skip)")
    parser.add_argument("--find", action="store_true", help="find the circuit again")
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    run = load(args.run)
    model, task = run.model, run.task
    reference = task.sample_independent(10_000, torch.Generator().manual_seed(1)).inputs
    if args.find or args.run != "zoo:add_d5_l2":
        circuit, added = find_circuit(model, task, reference)
        print(json.dumps({"run": run.name, "circuit": circuit.names, "grown": added}), flush=True)
    else:
        circuit = Circuit.of(ADD_D5_L2)
    for dist in ("uniform", "training"):
        t0 = time.perf_counter()
        own = verify(
            model, task, questions=args.questions, distribution=dist, precision=args.precision
        )
        t_own = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = sufficiency(model, task, circuit, verify, reference, questions=args.questions,
                          distributions=(dist,), precision=args.precision)  # fmt: skip
        t_circ = time.perf_counter() - t0
        r = res.results[dist]
        line = {"run": run.name, "measure": "sufficiency", "distribution": dist,
                "questions": args.questions, "counts": res.counts, "failures": r["failures"],
                "failures_per_million": r["failures_per_million"], "interval": r["interval"],
                "model_failures": own.failures, "seconds": round(t_circ, 2),
                "model_seconds": round(t_own, 2),
                "questions_per_s": round(args.questions / t_circ),
                "slowdown_vs_model": round(t_circ / t_own, 2),
                "threads": torch.get_num_threads()}  # fmt: skip
        print(json.dumps(line), flush=True)
    if args.minimality:
        q = task.sample_independent(args.minimality, torch.Generator().manual_seed(7))
        t0 = time.perf_counter()
        m = minimality(model, task, circuit, q.inputs, q.targets, reference)
        out = {
            "run": run.name,
            "measure": "minimality",
            "seconds": round(time.perf_counter() - t0, 2),
        }
        print(json.dumps({**out, **m.to_dict()}), flush=True)


if __name__ == "__main__":
    main()
