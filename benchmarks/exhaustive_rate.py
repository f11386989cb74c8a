"""One exhaustive-verification worker: questions/s of a Ray shard task, and the plan it gives.

A shard of ``algolens verify RUN --exhaustive --shards K`` is one Ray task with one CPU: one
torch thread, glibc told to keep freed memory, :func:`algolens.verify.shards.verify_range`
over a contiguous range of the exhaustive order. This times exactly that on the zoo's
``add_d5_l2`` at three places in the 10^10 questions (their digits differ: early questions are
mostly zeros), with the bfloat16 screen (the default where the CPU has native bfloat16) and in
float32 alone, interleaved in rounds, and prints the worker-hours of every 5-digit question.

    .venv/bin/python benchmarks/exhaustive_rate.py [--questions 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import algolens
from algolens.memory import keep_freed_memory
from algolens.verify import default_batch_size
from algolens.verify.screen import native_bf16
from algolens.verify.shards import verify_range

STARTS = (0, 3 * 10**9, 7 * 10**9)


def rate(model, task, start: int, questions: int, precision: str) -> float:
    t = time.perf_counter()
    res = verify_range(model, task, start=start, stop=start + questions,
                       batch_size=default_batch_size(model), examples=10,
                       precision=precision)  # fmt: skip
    assert res.questions == questions
    return questions / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=100_000, help="per place and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a Ray task of one CPU
    keep_freed_memory()
    run = algolens.load("zoo:add_d5_l2")
    model, task = run.model.eval(), run.task
    size = task.exhaustive_size()
    rates: dict[str, list[float]] = {"auto": [], "float32": []}
    for precision in rates:
        rate(model, task, 0, default_batch_size(model) * 4, precision)  # calibrate, warm up
    for _ in range(args.rounds):
        for start in STARTS:
            for precision, got in rates.items():
                got.append(rate(model, task, start, args.questions, precision))
    for precision, got in rates.items():
        qps = statistics.median(got)
        print(json.dumps({
            "benchmark": "exhaustive_rate",
            "model": "zoo:add_d5_l2",
            "precision": precision,
            "native_bf16": native_bf16(torch.device("cpu")),
            "questions_per_s_one_worker": round(qps),
            "measurements": len(got),
            "questions": size,
            "worker_hours": round(size / qps / 3600, 1),
            "hours_on_2_workers": round(size / qps / 3600 / 2, 1),
            "hours_on_64_workers": round(size / qps / 3600 / 64, 2),
            "minutes_on_256_workers": round(size / qps / 60 / 256, 1),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
