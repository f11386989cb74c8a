"""Verification speed: algolens's verifier vs the seeds' method, same model, same machine.

For each 5-digit addition model (the zoo's trained ``add_d5_l2``, d_model 96; and the papers'
size, 2 layers, 3 heads, d_model 510, randomly initialised, as no such model is trained here)
five ways of checking questions are timed, interleaved in rounds so that machine load hits all
alike:

- ``seed``: the notebook's loop, 64 questions per forward pass, a float64 log-softmax over the
  full logits, then per-question Python (answer string, int compare);
- ``full``: big batches, the full forward, argmax vs the oracle tokens (no per-question Python);
- ``float32``: :func:`algolens.verify.verify` in float32 alone (big batches, the answer-only
  forward);
- ``one process``: :func:`algolens.verify.verify` with a bfloat16 screen where the CPU
  multiplies bfloat16 natively, re-checking in float32 whatever it is unsure of or gets wrong
  (an untrained model fails everything, so there the screen steps aside), in this process;
- ``ours``: :func:`algolens.verify.verify` as it runs by default: the screen in one one-thread
  worker process per core, folding the answers in order.

The roof is measured in the same rounds: a 2048 x 2048 x 2048 matrix multiply, float32 and
bfloat16. One JSON line per measurement: questions/s, the ratio to the seed method, and the
fraction of the float32 roof from an honest count of the multiply-adds of the answer-only forward
(2 FLOPs each; attention scores and softmax included). Then a check that the default verifier's
verdicts equal the plain float32 forward's on the trained model.

    .venv/bin/python benchmarks/verify_speed.py [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import algolens
from algolens.families import make_task
from algolens.models import Transformer, TransformerConfig
from algolens.verify import default_batch_size, random_batches, verify, verify_batches
from algolens.verify.screen import native_bf16

SIDE = 2048


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
        for batch in random_batches(
            task, questions=questions, distribution="training", seed=1, batch_size=bs
        ):
            (task.answer_logits(model(batch.inputs)).argmax(-1) != batch.targets).any(-1).sum()


def timed(fn, questions: int) -> float:
    start = time.perf_counter()
    fn(questions)
    return questions / (time.perf_counter() - start)


def roof(dtype: torch.dtype) -> float:
    """FLOP/s of one large matrix multiply (the machine's practical roof), median of three."""
    a = torch.randn(SIDE, SIDE).to(dtype)
    b = torch.randn(SIDE, SIDE).to(dtype)
    a @ b
    times = []
    for _ in range(3):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * SIDE**3 / statistics.median(times)


def models(task) -> dict[str, torch.nn.Module]:
    zoo = algolens.load("zoo:add_d5_l2").model.eval()
    spec = {"n_layers": 2, "n_heads": 3, "d_model": 510}
    cfg = TransformerConfig(n_ctx=task.n_ctx, d_vocab=task.d_vocab, **spec)
    return {
        "zoo add_d5_l2 (2 layers, 3 heads, d_model 96, trained)": zoo,
        "papers' size (2 layers, 3 heads, d_model 510, untrained)": Transformer(cfg).eval(),
    }


def methods(model: torch.nn.Module, task, bs: int) -> dict:
    return {
        "seed": lambda n: seed_method(model, task, n),
        "full": lambda n: full_forward(model, task, n, bs),
        "float32": lambda n: verify(
            model,
            task,
            questions=n,
            distribution="training",
            seed=1,
            batch_size=bs,
            precision="float32",
        ),
        "one process": lambda n: verify(
            model, task, questions=n, distribution="training", seed=1, batch_size=bs, workers=1
        ),
        "ours": lambda n: verify(
            model, task, questions=n, distribution="training", seed=1, batch_size=bs
        ),
    }


def measure(fns: dict, seconds: float, rounds: int, bs: int) -> dict[str, float]:
    """Median questions/s of each method, each sized to about ``seconds`` a timing."""
    sizes = {}
    for key, fn in fns.items():
        probe = 256 if key == "seed" else bs
        rate = timed(fn, probe)
        sizes[key] = max(probe, int(rate * seconds) // probe * probe)
    rates: dict[str, list[float]] = {k: [] for k in fns}
    roofs: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    for _ in range(rounds):
        for key, fn in fns.items():
            rates[key].append(timed(fn, sizes[key]))
        roofs["float32"].append(roof(torch.float32))
        roofs["bfloat16"].append(roof(torch.bfloat16))
    out = {k: statistics.median(v) for k, v in rates.items()}
    return out | {f"roof_{k}": statistics.median(v) for k, v in roofs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0, help="target time per timing")
    args = parser.parse_args()
    task = make_task("add", n_digits=5)
    for name, model in models(task).items():
        bs = default_batch_size(model)
        rates = measure(methods(model, task, bs), args.seconds, args.rounds, bs)
        fp32_roof = rates.pop("roof_float32")
        bf16_roof = rates.pop("roof_bfloat16")
        for key, rate in rates.items():
            flops = flops_per_question(model.cfg, task.n_ctx, task.n_answer,
                                       fast=key not in ("seed", "full"))  # fmt: skip
            print(json.dumps({
                "benchmark": "verify_speed",
                "model": name,
                "method": key,
                "questions_per_s": round(rate, 1),
                "ratio_vs_seed": round(rate / rates["seed"], 2),
                "seconds_per_million": round(1e6 / rate, 1),
                "mflop_per_question": round(flops / 1e6, 2),
                "gflop_per_s": round(rate * flops / 1e9, 2),
                "fraction_of_fp32_roof": round(rate * flops / fp32_roof, 4),
                "fp32_roof_gflop_per_s": round(fp32_roof / 1e9, 1),
                "bf16_roof_gflop_per_s": round(bf16_roof / 1e9, 1),
                "native_bf16": native_bf16(torch.device("cpu")),
                "batch_size": 64 if key == "seed" else bs,
                "threads": torch.get_num_threads(),
                "rounds": args.rounds,
            }), flush=True)  # fmt: skip
    check(task)


def check(task) -> None:
    """The default verifier's verdicts equal the plain float32 forward's on the trained model."""
    model = algolens.load("zoo:add_d5_l2").model.eval()
    batches = list(
        random_batches(task, questions=20_480, distribution="training", seed=2, batch_size=1024)
    )
    plain = sum(
        int((task.answer_logits(model(b.inputs)).argmax(-1) != b.targets).any(-1).sum())
        for b in batches
    )
    res = verify_batches(model, task, batches, source="check", workers=2)
    print(json.dumps({"benchmark": "verify_speed", "check": "same failure count", "plain": plain,
                      "ours": res.failures, "equal": plain == res.failures,
                      "precision": res.precision, "rechecked": res.rechecked}))  # fmt: skip


if __name__ == "__main__":
    main()
