"""Models whose answers are known exactly, for testing verification and analysis code."""

from __future__ import annotations

import os
import signal

import torch
import torch.nn.functional as F
from torch import nn

from algolens.families.arithmetic.task import ArithmeticTask


class ArithmeticOracle(nn.Module):
    """Computes every answer token from the question alone (it never reads the answer tokens),
    so teacher-forced and greedy answers agree unless ``echo`` is set.

    ``digit``/``never``: at answer digit ``digit`` (sequence order) token ``never`` is banned,
    like a zeroed unembedding column, so that digit reads 0 wherever it should be ``never``.
    ``echo``: after a wrong answer token in the input, the next digit is that token plus one,
    so a greedy decoder's wrong digit drags the later ones with it (teacher forcing hides this).
    ``fails``: a function of the batch giving rows whose last answer digit is made wrong.
    """

    def __init__(
        self,
        task: ArithmeticTask,
        digit: int | None = None,
        never: int = 7,
        echo: bool = False,
        fails=None,
    ):
        super().__init__()
        self.task, self.digit, self.never, self.echo, self.fails = task, digit, never, echo, fails

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        task, (bsz, n_pos) = self.task, tokens.shape
        start = task.answer_start
        full = torch.cat([tokens[:, :start], torch.zeros(bsz, task.n_answer, dtype=torch.long)], 1)
        batch = task.batch_from_tokens(full)
        right = batch.targets.clone()  # [batch, n_answer]
        if self.fails is not None:
            rows = self.fails(batch)
            right[rows, -1] = (right[rows, -1] + 1) % 10
        logits = torch.zeros(bsz, n_pos, 13)
        for k in range(task.n_answer):
            p = start - 1 + k
            if p >= n_pos:
                break
            tok = right[:, k]
            if self.echo and k > 0:
                prev = tokens[:, p]
                tok = torch.where(prev != right[:, k - 1], (prev + 1) % 10, tok)
            logits[:, p] = F.one_hot(tok, 13).float()
            if k == self.digit:
                logits[:, p, self.never] = float("-inf")
        return logits


class StoppingOracle(ArithmeticOracle):
    """An oracle wrong at answer digit 1 that stops on its ``at``-th forward pass: raises
    KeyboardInterrupt (Ctrl-C), or with ``kill`` is killed outright. With ``workers_only`` the
    passes counted are a worker process's, never the test's own."""

    def __init__(self, task, at: int, workers_only: bool = False, kill: bool = False):
        super().__init__(task, digit=1)
        self.calls, self.at, self.kill = 0, at, kill
        self.parent = os.getpid() if workers_only else None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if os.getpid() != self.parent and self.calls == self.at:
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise KeyboardInterrupt
        return super().forward(tokens)
