"""Verification speed: algolens's verifier vs the seeds' method, same model, same machine.

For each 5-digit addition model (randomly initialised: speed does not depend on the weights)
three ways of checking questions are timed, interleaved in rounds so that machine load hits
all alike:

- ``seed``: the notebook's loop, 64 questions per forward pass, a float64 log-softmax over the
  full logits, then per-question Python (answer string, int compare);
- ``full``: big batches, the full forward, argmax vs the oracle tokens (no per-question Python);
- ``ours``: :func:`algolens.verify.verify` (big batches and the answer-only forward).

One JSON line per measurement: questions/s, the ratio to the seed method, and the fraction of
the fp32 matrix-multiply roof (350 GFLOP/s on these two cores) from an honest count of the
multiply-adds each method executes (2 FLOPs each; attention scores and softmax included).

    .venv/bin/python benchmarks/verify_speed.py [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from algolens.families import make_task
from algolens.models import Transformer, TransformerConfig
from algolens.verify import default_batch_size, random_batches, verify, verify_batches

ROOF = 350e9
CONFIGS = {
    "seed default (2 layers, 3 heads, d_model 510)": {"n_layers": 2, "n_heads": 3, "d_model": 510},
    "small (2 layers, 4 heads, d_model 128)": {"n_layers": 2, "n_heads": 4, "d_model": 128},
}


def flops_per_question(cfg: TransformerConfig, n_ctx: int, n_answer: int, fast: bool) -> float:
    """Matrix-multiply FLOPs of one question's forward pass."""
    d, dm, dv, hd = cfg.d_model, cfg.d_mlp, cfg.d_vocab, cfg.n_heads * cfg.d_head
    p = n_ctx - 1 if fast else n_ctx  # the fast pass drops the last token
    total = 0.0
    for layer in range(cfg.n_layers):
        q = n_answer if fast and layer == cfg.n_layers - 1 else p  # query positions
        total += 2 * (p * 2 * d * hd + q * d * hd)  # k, v at every position; q where needed
        total += 2 * 2 * q * p * hd  # scores and pattern @ v (upper bound: no causal saving)
        total += 2 * q * (hd * d + 2 * d * dm)  # W_O and the MLP
    q = n_answer if fast else p
    return total + 2 * q * d * dv


def seed_method(model: torch.nn.Module, task, questions: int) -> int:
    """The notebook's check: batches of 64, float64 log-softmax, per-question Python."""
    correct = 0
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(questions // 64):
            tokens = task.sample(64, gen).inputs
            logits = model(tokens)
            logprobs = torch.log_softmax(logits.to(torch.float64), dim=-1)
            pred = task.answer_logits(logprobs).argmax(-1)
            for q, row in zip(tokens.tolist(), pred.tolist(), strict=True):
                model_answer = int("".join(str(t) for t in row))
                right = int("".join(str(t) for t in q[task.answer_start :]))
                correct += model_answer == right
    return correct


def full_forward(model: torch.nn.Module, task, questions: int, bs: int) -> None:
    with torch.inference_mode():
        for batch in random_batches(task, questions, "training", 1, bs):
            (task.answer_logits(model(batch.inputs)).argmax(-1) != batch.targets).any(-1).sum()


def timed(fn, questions: int) -> float:
    start = time.perf_counter()
    fn(questions)
    return questions / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="target time per timing")
    args = parser.parse_args()
    task = make_task("add", n_digits=5)
    for name, spec in CONFIGS.items():
        cfg = TransformerConfig(n_ctx=task.n_ctx, d_vocab=task.d_vocab, **spec)
        model = Transformer(cfg).eval()
        bs = default_batch_size(model)
        methods = {
            "seed": lambda n, m=model: seed_method(m, task, n),
            "full": lambda n, m=model, b=bs: full_forward(m, task, n, b),
            "ours": lambda n, m=model, b=bs: verify(m, task, n, "training", 1, batch_size=b),
        }
        # size each method's work to about --seconds, from a short probe
        sizes = {}
        for key, fn in methods.items():
            probe = 256 if key == "seed" else bs
            rate = timed(fn, probe)
            sizes[key] = max(probe, int(rate * args.seconds) // probe * probe)
        rates: dict[str, list[float]] = {k: [] for k in methods}
        for _ in range(args.rounds):
            for key, fn in methods.items():
                rates[key].append(timed(fn, sizes[key]))
        seed_rate = statistics.median(rates["seed"])
        for key in methods:
            rate = statistics.median(rates[key])
            flops = flops_per_question(cfg, task.n_ctx, task.n_answer, fast=key == "ours")
            print(json.dumps({
                "benchmark": "verify_speed",
                "model": name,
                "method": key,
                "questions_per_s": round(rate, 1),
                "ratio_vs_seed": round(rate / seed_rate, 2),
                "mflop_per_question": round(flops / 1e6, 2),
                "gflop_per_s": round(rate * flops / 1e9, 2),
                "fraction_of_roof": round(rate * flops / ROOF, 4),
                "batch_size": 64 if key == "seed" else bs,
                "threads": torch.get_num_threads(),
                "rounds": args.rounds,
            }), flush=True)  # fmt: skip
    # exactness: the verifier's verdicts equal the full forward's on the same questions
    batches = list(random_batches(task, 4096, "training", 2, 4096))
    plain = sum(
        int((task.answer_logits(model(b.inputs)).argmax(-1) != b.targets).any(-1).sum())
        for b in batches
    )
    ours = verify_batches(model, task, batches, "check").failures
    print(json.dumps({"benchmark": "verify_speed", "check": "same failure count", "plain": plain,
                      "ours": ours, "equal": plain == ours}))  # fmt: skip


if __name__ == "__main__":
    main()
