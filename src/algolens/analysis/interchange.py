"""Interchange interventions over hook names: run clean inputs with chosen nodes' outputs taken
from store inputs, many node sets in one stacked pass. What the patched answers should be is
the family's business (arithmetic: :mod:`algolens.families.arithmetic.interventions`)."""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor
from tqdm.auto import tqdm

from algolens.analysis.nodes import Node
from algolens.tasks.base import Batch, SequenceTask


@torch.inference_mode()
def interchange(
    model: Any,
    task: SequenceTask,
    clean: Batch,
    store: Batch,
    node_sets: list[list[Node]],
    *,
    max_rows: int = 16384,
    progress: bool = False,
    length: int | None = None,
) -> Int[Tensor, "set batch n_answer"]:
    """Teacher-forced answer argmax of each clean question with each node set's output patched.

    Every node set is one chunk of a stacked batch: one pass runs many interventions. With
    ``length``, only the first ``length`` positions run (a causal model's later positions cannot
    change what they predict) and the argmax is the last position's, ``[set, batch, 1]``.
    """
    hooks = {n.hook for s in node_sets for n in s}
    store_in, clean_in = store.inputs[:, :length], clean.inputs[:, :length]
    _, cache = model.run_with_cache(store_in, names_filter=hooks.__contains__)
    n_q = len(clean)
    per_pass = max(1, max_rows // n_q)
    width = 1 if length is not None else task.n_answer
    out = torch.empty(len(node_sets), n_q, width, dtype=torch.long)
    passes = range(0, len(node_sets), per_pass)
    bar = tqdm(passes, desc="interchange interventions", disable=not progress, leave=False)
    for start in bar:
        group = node_sets[start : start + per_pass]

        def make_hook(name: str, group: list[list[Node]] = group):
            def hook(act: Tensor, hook: object) -> Tensor:
                view = act.view(len(group), n_q, *act.shape[1:])
                for k, nodes in enumerate(group):
                    for n in nodes:
                        if n.hook != name:
                            continue
                        if n.head is None:
                            view[k, :, n.pos] = cache[name][:, n.pos]
                        else:
                            view[k, :, n.pos, n.head] = cache[name][:, n.pos, n.head]
                return act

            return hook

        logits = model.run_with_hooks(
            clean_in.repeat(len(group), 1),
            fwd_hooks=[(name, make_hook(name)) for name in sorted(hooks)],
        )
        answer = logits[:, -1:] if length is not None else task.answer_logits(logits)
        out[start : start + len(group)] = answer.argmax(-1).view(len(group), n_q, -1)
    return out
