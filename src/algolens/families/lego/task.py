"""LEGO (Zhang et al. 2022): follow a chain of n equalities over Z2 through a shuffled sentence.

A sentence assigns n distinct single-letter variables. In chain order the first clause sets a
value (``a = +1`` or ``a = -1``) and each later clause sets a new variable to ``+`` or ``-`` the
previous one (``b = -a``); the clauses are then shuffled. The model must output every value.

Token format: 5 tokens per clause, ``name '=' sign operand ';'`` where the operand is ``1`` or
the previous variable; vocabulary ``a``-``z`` (ids 0-25), ``=`` 26, ``+`` 27, ``-`` 28, ``1`` 29,
``;`` 30. Worked example, n = 3, chain ``a = +1 ; b = -a ; c = +b`` shuffled as clauses 2, 0, 1::

    text    c = +b ; a = +1 ; b = -a ;
    tokens  2 26 27 1 30  0 26 27 29 30  1 26 28 0 30
    values  c = -1, a = +1, b = -1   (clause order: [-1, +1, -1], bits [1, 0, 1])
    depth   c is chain position 2, a is 0, b is 1 (clause order: [2, 0, 1])

so ``n_ctx = 5 * max_vars``. A bidirectional encoder with a 2-way output (``d_vocab_out = 2``)
answers at each clause's first token, the variable it assigns: bit 0 means +1, bit 1 means -1.
Targets are in clause order; ``labels['depth']`` gives each clause's chain position.

Train-on-first-k: ``labels['loss_mask']`` is true only for clauses at chain positions below
``train_k``, so the loss covers the first k positions, while metrics report all n (``acc_pos1``
… ``acc_posN``, 1-based chain positions, on the training batch and on a fixed validation set).

The shifted distributions of the shortcut probes are task options too: ``shuffle=False`` keeps
chain order, ``signs='plus'`` makes every sign ``+``, ``names='split'`` draws even chain
positions' names from a-m and odd ones' from n-z (``'swapped'`` the other way round).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.errors import AlgolensError
from algolens.tasks.base import Batch, TaskBase, answer_output, model_device, sequence_model_only

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = [*LETTERS, "=", "+", "-", "1", ";"]
EQUALS, PLUS, MINUS, ONE, SEMI = 26, 27, 28, 29, 30
CLAUSE_LEN = 5
OPERAND = 3  # the operand's offset from its clause's name token
TOKEN_OF = {ch: i for i, ch in enumerate(VOCAB)}


def oracle(sentence: str) -> dict[str, int]:
    """Every variable's value (+1 / -1) from a sentence ``'b = -a ; a = +1'``, in plain Python.

    Resolves clauses repeatedly until all are known; raises ValueError on a malformed sentence.
    """
    clauses = [c.split() for c in sentence.split(";") if c.strip()]
    rules: dict[str, tuple[int, str]] = {}
    for c in clauses:
        if len(c) != 3 or c[1] != "=" or len(c[2]) != 2 or c[2][0] not in "+-":
            raise ValueError(f"malformed clause {' '.join(c)!r}")
        name, sign, operand = c[0], 1 if c[2][0] == "+" else -1, c[2][1]
        if name in rules:
            raise ValueError(f"variable {name!r} assigned twice")
        rules[name] = (sign, operand)
    values: dict[str, int] = {}
    while len(values) < len(rules):
        progress = False
        for name, (sign, operand) in rules.items():
            if name in values:
                continue
            if operand == "1":
                values[name] = sign
            elif operand in values:
                values[name] = sign * values[operand]
            else:
                continue
            progress = True
        if not progress:
            raise ValueError("the sentence is not a connected chain from a constant")
    return {name: values[name] for name in rules}


@dataclass(frozen=True)
class LegoTask(TaskBase):
    """LEGO sentences of ``n_vars`` clauses; loss on chain positions below ``train_k``."""

    n_vars: int = 12
    train_k: int = 0  # 0: every position is trained
    max_vars: int = 0  # 0: n_vars; sets n_ctx, so longer-chain probes fit the model
    shuffle: bool = True
    signs: Literal["random", "plus"] = "random"
    names: Literal["any", "split", "swapped"] = "any"
    eval_size: int = 512  # fixed validation sentences for evaluate(); 0 turns it off
    eval_seed: int = 12345

    def __post_init__(self) -> None:
        if not 2 <= self.n_vars <= 26:
            raise AlgolensError(f"n_vars must be 2 to 26, got {self.n_vars}")
        if self.names != "any" and self.n_vars > 26:
            raise AlgolensError("split names allow at most 26 variables")
        if not 0 <= self.train_k <= self.n_vars:
            raise AlgolensError(f"train_k must be 0 to n_vars ({self.n_vars}), got {self.train_k}")
        if self.max_vars and not self.n_vars <= self.max_vars <= 26:
            raise AlgolensError(f"max_vars must be n_vars to 26, got {self.max_vars}")
        if self.signs not in ("random", "plus"):
            raise AlgolensError(f"signs must be 'random' or 'plus', got {self.signs!r}")
        if self.names not in ("any", "split", "swapped"):
            raise AlgolensError(f"names must be any, split or swapped, got {self.names!r}")

    @property
    def name(self) -> str:
        return "lego"

    @property
    def k(self) -> int:
        return self.train_k or self.n_vars

    @property
    def n_ctx(self) -> int:
        return CLAUSE_LEN * (self.max_vars or self.n_vars)

    @property
    def d_vocab(self) -> int:
        return len(VOCAB)

    @property
    def n_answer(self) -> int:
        return self.n_vars

    @property
    def answer_names(self) -> list[str]:
        """The value of the variable each clause assigns, in the sentence's clause order."""
        return [f"clause{j + 1}" for j in range(self.n_vars)]

    def to_dict(self) -> dict[str, Any]:
        return {"name": "lego", **asdict(self)}

    def model_defaults(self, kind: str) -> dict[str, Any]:
        """A bidirectional encoder with a binary head (read by the trainer for new runs)."""
        sequence_model_only(self.name, kind)
        return {"n_ctx": self.n_ctx, "d_vocab": self.d_vocab, "causal": False, "d_vocab_out": 2}

    @property
    def readout(self) -> slice:
        """Each clause's assigned-variable token (every 5th position) carries its answer."""
        return slice(None, None, CLAUSE_LEN)

    def answer_logits(self, output: Tensor) -> Float[Tensor, "batch n_answer 2"]:
        """The outputs at the :attr:`readout` positions."""
        return output[:, self.readout]

    def _names(self, batch_size: int, gen: torch.Generator) -> Tensor:
        """Distinct names per sentence in chain order ``[batch, n_vars]``."""
        if self.names == "any":
            return torch.rand(batch_size, 26, generator=gen).argsort(-1)[:, : self.n_vars]
        halves = torch.rand(batch_size, 2, 13, generator=gen).argsort(-1)
        halves[:, 1] += 13  # [batch, half, 13]: a-m, n-z
        first = 0 if self.names == "split" else 1
        pos = torch.arange(self.n_vars)
        half = (pos + first) % 2
        return halves[:, half, pos // 2]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        names = self._names(batch_size, generator)  # [batch, n] chain order
        if self.signs == "plus":
            signs = torch.zeros(batch_size, self.n_vars, dtype=torch.long)
        else:
            signs = torch.randint(0, 2, (batch_size, self.n_vars), generator=generator)
        if self.shuffle:
            order = torch.rand(batch_size, self.n_vars, generator=generator).argsort(-1)
        else:
            order = torch.arange(self.n_vars).expand(batch_size, -1)
        return self.make_batch(names, signs, order)

    def make_batch(
        self,
        names: Int[Tensor, "batch n"],
        signs: Int[Tensor, "batch n"],
        order: Int[Tensor, "batch n"],
    ) -> Batch:
        """Sentences from chain-order names and sign bits; clause j of the text is chain
        clause ``order[:, j]``."""
        bsz = names.shape[0]
        values = signs.cumsum(-1) % 2  # [batch, n] chain order, bit 1 = -1
        operands = torch.cat([torch.full((bsz, 1), ONE), names[:, :-1]], dim=1)
        clauses = torch.stack(
            [
                names,
                torch.full_like(names, EQUALS),
                torch.where(signs.bool(), MINUS, PLUS),
                operands,
                torch.full_like(names, SEMI),
            ],
            dim=-1,
        )  # [batch, n, 5] chain order
        idx = order.long()
        tokens = clauses.gather(1, idx[..., None].expand(-1, -1, CLAUSE_LEN)).flatten(1)
        targets = values.gather(1, idx)  # [batch, n] clause order
        labels = {
            "depth": idx,
            "loss_mask": idx < self.k,
            "chain_value": values,
            "chain_names": names,
        }
        return Batch(inputs=tokens, targets=targets, labels=labels)

    def decode(self, tokens: Tensor | list[int]) -> str:
        """``'c = +b ; a = +1 ; b = -a'``."""
        toks = [VOCAB[int(t)] for t in tokens]
        parts = []
        for j in range(0, len(toks), CLAUSE_LEN):
            name, _, sign, operand, _ = toks[j : j + CLAUSE_LEN]
            parts.append(f"{name} = {sign}{operand}")
        return " ; ".join(parts)

    def encode(self, sentence: str) -> list[int]:
        """Tokens of ``'a = +1 ; b = -a'``; raises AlgolensError on a malformed sentence."""
        if not sentence.strip().strip(";").strip():
            raise AlgolensError("empty LEGO sentence: expected clauses like 'a = +1 ; b = -a'")
        try:
            oracle(sentence)
        except ValueError as e:
            raise AlgolensError(f"bad LEGO sentence: {e}") from None
        out: list[int] = []
        for c in (c.split() for c in sentence.split(";") if c.strip()):
            if c[0] not in LETTERS or len(c[0]) != 1:
                raise AlgolensError(f"bad LEGO sentence: {c[0]!r} is not a letter a-z")
            out += [TOKEN_OF[c[0]], EQUALS, TOKEN_OF[c[2][0]], TOKEN_OF[c[2][1]], SEMI]
        return out

    vocab = tuple(VOCAB)

    def tokenize(self, questions: list[str]) -> Tensor:
        """Tokens of sentences of one length: ``[batch, 5 * clauses]``."""
        rows = [self.encode(q) for q in questions]
        if len({len(r) for r in rows}) > 1:
            raise AlgolensError("sentences of different lengths: give them one at a time")
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), -1)

    predict_separator = "  ->  "  # how ``algolens predict`` joins a sentence and its answer

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, sentences: list[str]) -> list[str]:
        """The model's value for every variable, in the sentence's clause order:
        ``predict(model, ['b = -a ; a = +1']) == ['b = -1 ; a = +1']`` for a working model."""
        out = []
        for sentence in sentences:
            tokens = torch.tensor([self.encode(sentence)])
            if tokens.shape[1] > self.n_ctx:
                raise AlgolensError(
                    f"{tokens.shape[1] // CLAUSE_LEN} clauses: this model takes at most "
                    f"{self.n_ctx // CLAUSE_LEN}"
                )
            bits = answer_output(self, model, tokens)[0].argmax(-1).tolist()
            names = [VOCAB[int(t)] for t in tokens[0, ::CLAUSE_LEN]]
            pairs = zip(names, bits, strict=True)
            out.append(" ; ".join(f"{nm} = {'-' if b else '+'}1" for nm, b in pairs))
        return out

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-able dict per sentence: text, chain, values (+1/-1) and depths."""
        out = []
        for i in range(len(batch)):
            text = self.decode(batch.inputs[i])
            names = [VOCAB[int(t)] for t in batch.inputs[i, ::CLAUSE_LEN]]
            bits = batch.targets[i].tolist()
            out.append(
                {
                    "sentence": text,
                    "chain": " ".join(LETTERS[int(t)] for t in batch.labels["chain_names"][i]),
                    "values": {nm: 1 - 2 * b for nm, b in zip(names, bits, strict=True)},
                    "depth": {
                        nm: int(d) for nm, d in zip(names, batch.labels["depth"][i], strict=True)
                    },
                }
            )
        return out

    def layer_masks(self, batch: Batch, n_layers: int) -> Tensor:
        """``[layer, batch, n]`` bools: the trained clauses that block ``l`` is asked to answer
        under deep supervision (``TrainConfig.layer_loss``).

        One chain hop per block: after block ``l`` (0-based) a clause at chain position
        ``l + 2`` or lower (1-based) can know its value, since block 0 already reads the parent
        clause's sign. The last block answers every trained clause, as the plain loss does.
        """
        depth, trained = batch.labels["depth"], batch.labels["loss_mask"]
        reach = torch.arange(n_layers)[:, None, None] + 1  # deepest 0-based depth per block
        reach[-1] = self.n_vars
        return trained[None] & (depth[None] <= reach)

    def step_metrics(self, logprobs: Float[Tensor, "batch n"], batch: Batch) -> dict[str, float]:
        """Masked loss, and accuracy per chain position (1-based), trained and untrained."""
        mask = batch.labels["loss_mask"].to(logprobs.dtype)
        out = {"loss": float(-(logprobs * mask).sum() / mask.sum())}
        out.update(position_accuracy(logprobs > -0.6931471805599453, batch.labels["depth"], self.k))
        return out

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Accuracy per chain position on ``eval_size`` fixed validation sentences."""
        if not self.eval_size:
            return {}
        batch = self.sample(self.eval_size, torch.Generator().manual_seed(self.eval_seed))
        batch = batch.to(model_device(model))
        with torch.no_grad():
            right = self.correct(model, batch)
        acc = position_accuracy(right, batch.labels["depth"], self.k)
        return {f"val_{k}": v for k, v in acc.items()}

    def correct(self, model: torch.nn.Module, batch: Batch) -> Tensor:
        """``[batch, n]`` bools: is each variable's predicted value right (clause order)."""
        logits = answer_output(self, model, batch.inputs)
        return logits.argmax(-1) == batch.targets


def position_accuracy(right: Tensor, depth: Tensor, k: int) -> dict[str, float]:
    """``acc_pos{i}`` for chain positions 1..n, ``acc_trained`` (<= k), ``acc_untrained``."""
    right = right.to(torch.float64)
    n = depth.shape[1]
    out = {}
    for d in range(n):
        out[f"acc_pos{d + 1}"] = float(right[depth == d].mean())
    out["acc_trained"] = float(right[depth < k].mean())
    if k < n:
        out["acc_untrained"] = float(right[depth >= k].mean())
    return out


def accuracy_by_position(metrics: dict[str, float], n: int, prefix: str = "") -> list[float]:
    """``[acc_pos1, …, acc_posN]`` read from a metrics row."""
    return [metrics[f"{prefix}acc_pos{d + 1}"] for d in range(n)]
