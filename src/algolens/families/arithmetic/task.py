"""n-digit integer addition, subtraction and mixed add/sub, most-significant digit first.

Token format (one token per character, vocabulary ``0-9 + - =``), for n = 5::

    33357+82243=115600      addition: n digits, '+', n digits, '=', n + 1 answer digits
    80002-55003=+24999      subtraction: the answer is a sign token then n digits
    55003-80002=-24999

so ``n_ctx = 3n + 3`` and the model predicts the last ``n + 1`` tokens, each from the position
before it. Answer digit ``A0`` is the units digit (the last token); ``An`` is the first answer
token (the final carry for addition, the sign for subtraction). Question digits ``D0 … Dn-1``
(first operand) and ``D'0 …`` (second operand) also count from the units.

Sub-task labels are per column (units first, shape ``[batch, n]``). Addition, from Quirke &
Barez 2024: BA base add (D + D') mod 10, MC1 make carry (D + D' >= 10), MS9 make sum 9 (D + D'
== 9), UC1 use carry (a carry arrives from the column below), US9 use sum 9 (MS9 and a carry
arrives, so the carry cascades on). Subtraction computes |a - b| as larger minus smaller, and
its twins are: MD base difference, MB make borrow (top digit < bottom digit), MZ make zero
(equal digits), UB use borrow, UZ use zero (MZ and a borrow arrives, so the borrow cascades on),
and NEG (a < b).

Question classes (the papers' analysis): BA (no carry anywhere), MC1 (carries, none passes a
sum-9 column), SimpleUS9 (the longest cascade passes one sum-9 column), CascadeUS9 (two or
more); for subtraction BS, MB1, SimpleUZ, CascadeUZ. ``depth`` is the longest US9 (UZ) run.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.errors import AlgolensError
from algolens.tasks.base import Batch, SequenceTaskBase, sequence_model_only

VOCAB = [*"0123456789", "+", "-", "="]
PLUS, MINUS, EQUALS = 10, 11, 12
TOKEN_OF = {ch: i for i, ch in enumerate(VOCAB)}
ADD_CLASSES = ("BA", "MC1", "SimpleUS9", "CascadeUS9")
SUB_CLASSES = ("BS", "MB1", "SimpleUZ", "CascadeUZ")
ADD_SUBTASKS = ("BA", "MC1", "MS9", "UC1", "US9")
SUB_SUBTASKS = ("MD", "MB", "MZ", "UB", "UZ")
MAX_DIGITS = 20
HARD_MAX_DIGITS = 18  # near-equal operands are drawn as int64 values
# ASCII digits and spaces only: \d and \s would take Arabic-Indic or fullwidth digits and an
# em-space; an answer after '=' is allowed (and ignored)
_QUESTION = re.compile(r"^ *([0-9]+) *([+-]) *([0-9]+) *(?:= *([+-]?[0-9]+) *)?$")

Op = Literal["add", "sub", "mix"]


def oracle(a: int, b: int, op: str, n_digits: int) -> str:
    """The exact answer tokens in plain Python ints: ``oracle(12, 34, '+', 2) == '046'``."""
    if op == "+":
        return str(a + b).zfill(n_digits + 1)
    if op == "-":
        return ("+" if a >= b else "-") + str(abs(a - b)).zfill(n_digits)
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True)
class ArithmeticTask(SequenceTaskBase):
    """Addition (``add``), subtraction (``sub``) or both (``mix``) of ``n_digits``-digit numbers.

    Enrichment follows the papers: in a share ``enrich_batch_share`` of batches, a share
    ``enrich_pair_share`` of digit pairs is forced to sum to 9 (addition) or to be equal
    (subtraction), so that carry and borrow cascades are common enough to learn.
    """

    op: Op = "add"
    n_digits: int = 5
    enrich_batch_share: float = 0.4
    enrich_pair_share: float = 0.4
    sub_share: float = 0.66
    # share of subtraction questions drawn near-equal (b = a +- d, |d| < 10^k, k uniform in
    # 0..n): a - a, a - (a + 1) across trailing nines, long equal prefixes that delay the sign
    hard_share: float = 0.0
    # share of questions whose operands are short: both lose their top z digits (z uniform in
    # 1..n-1), as the papers' lists write short questions padded with zeros, which the uniform
    # and enriched questions almost never are
    short_share: float = 0.0
    # share of questions with a planted carry (borrow) run: a column that makes a carry
    # (borrow) and then L - 1 sum-9 (equal) columns above it, L uniform in 1..n at a uniform
    # offset; the columns above the run are zero in half of them (a + b = 10^k is one such
    # question), random otherwise. Enrichment alone makes a run of L forced pairs with odds
    # 0.4^L, so long cascades padded with zeros are almost never seen
    cascade_share: float = 0.0
    # share of the planted addition runs that carry nothing: the run's L columns all sum to 9
    # from the units up, so the answer's low L digits are nines and no carry leaves the run
    # (a + b = 10^L - 1 when the columns above are zero), the twin of a carry run
    nines_share: float = 0.0
    # share of the zero-padded planted runs whose columns below the run are zero too, so the
    # run stands alone: 400000 + 600000 = 10^6, 438000 + 567000, 500000 - 490000
    bare_share: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in ("add", "sub", "mix"):
            raise AlgolensError(f"unknown arithmetic task {self.op!r}: use add, sub or mix")
        if not 1 <= self.n_digits <= MAX_DIGITS:
            raise AlgolensError(f"digits must be 1 to {MAX_DIGITS}, got {self.n_digits}")
        if self.hard_share and self.n_digits > HARD_MAX_DIGITS:
            raise AlgolensError(f"hard_share works up to {HARD_MAX_DIGITS} digits")
        shares = (
            "enrich_batch_share",
            "enrich_pair_share",
            "sub_share",
            "hard_share",
            "short_share",
            "cascade_share",
            "nines_share",
            "bare_share",
        )
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AlgolensError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("nines_share", "bare_share"):
            if getattr(self, name) and not self.cascade_share:
                raise AlgolensError(f"{name} is a share of the planted runs: set cascade_share too")
        if self.nines_share and self.op == "sub":
            raise AlgolensError("nines_share plants addition runs: use it with add or mix")

    # ---- shape of the sequence -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.op

    @property
    def n_ctx(self) -> int:
        return 3 * self.n_digits + 3

    @property
    def d_vocab(self) -> int:
        return len(VOCAB)

    @property
    def n_answer(self) -> int:
        return self.n_digits + 1

    @property
    def answer_start(self) -> int:
        """Position of the first answer token (just after '=')."""
        return 2 * self.n_digits + 2

    @property
    def answer_names(self) -> list[str]:
        """Names of the answer tokens in sequence order: ``['A5', ..., 'A0']`` for n = 5."""
        return [f"A{self.n_digits - k}" for k in range(self.n_answer)]

    @property
    def class_names(self) -> tuple[str, ...]:
        """Every question class this task can produce (addition's first, then subtraction's)."""
        return {"add": ADD_CLASSES, "sub": SUB_CLASSES, "mix": ADD_CLASSES + SUB_CLASSES}[self.op]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.op, **{k: v for k, v in asdict(self).items() if k != "op"}}

    def model_defaults(self, kind: str) -> dict[str, Any]:
        sequence_model_only(self.name, kind)
        return {"n_ctx": self.n_ctx, "d_vocab": self.d_vocab}

    @property
    def readout(self) -> slice:
        """The positions that predict the answer: from '=' to one before the end."""
        return slice(self.answer_start - 1, self.n_ctx - 1)

    def answer_logits(self, output: Tensor) -> Float[Tensor, "batch n_answer d_vocab"]:
        """Logits at the positions that predict the answer (:attr:`readout`)."""
        return output[:, self.readout]

    # ---- text <-> tokens ---------------------------------------------------------------------
    def parse(self, question: str) -> tuple[int, str, int]:
        """``'12+34'`` (or ``'12+34=046'``) -> ``(12, '+', 34)``; one clear error otherwise."""
        m = _QUESTION.match(question)
        if m is None:
            shown = question if len(question) <= 40 else question[:40] + "..."
            raise AlgolensError(
                f"malformed question {shown!r}: expected digits 0-9, '+' or '-', digits, like 12+34"
            )
        a_text, op, b_text, _ = m.groups()
        if (self.op == "add" and op != "+") or (self.op == "sub" and op != "-"):
            raise AlgolensError(f"this is a {self.op} model: {question!r} uses {op!r}")
        for text in (a_text, b_text):
            if len(text) > self.n_digits:
                shown = text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"
                raise AlgolensError(
                    f"operand {shown} has more than the model's {self.n_digits} digits"
                )
        return int(a_text), op, int(b_text)

    def encode(self, a: int, op: str, b: int) -> list[int]:
        """The full question-and-answer token ids, the answer from the oracle."""
        n = self.n_digits
        text = f"{str(a).zfill(n)}{op}{str(b).zfill(n)}={oracle(a, b, op, n)}"
        return [TOKEN_OF[ch] for ch in text]

    def encode_batch(self, questions: list[str]) -> Int[Tensor, "batch n_ctx"]:
        """``['12+34']`` -> token ids ``[batch, n_ctx]`` of the full sequences (answers filled)."""
        rows = [self.encode(*self.parse(q)) for q in questions]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.n_ctx)

    vocab = tuple(VOCAB)

    def decode(self, tokens: Tensor | list[int]) -> str:
        """Token ids -> text, e.g. ``'33357+82243=115600'``."""
        return "".join(VOCAB[int(t)] for t in tokens)

    # ---- the sampler -------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A fresh training batch from the seeded generator; every draw uses ``generator``.

        As in the papers, enrichment is decided per batch: in a share ``enrich_batch_share`` of
        batches, ``enrich_pair_share`` of all digit pairs are forced to sum to 9 (equal, for
        subtraction). The questions of one batch are therefore not independent draws; use
        :meth:`sample_independent` to draw the same mixture one question at a time.
        """
        n = self.n_digits
        x, y, is_sub = self._draw(batch_size, generator)
        enrich = torch.rand(1, generator=generator).item() < self.enrich_batch_share
        swap_first = torch.rand(1, generator=generator).item() < 0.5
        if enrich and self.enrich_pair_share > 0:
            k = int(self.enrich_pair_share * batch_size * n)
            idx = torch.randperm(batch_size * n, generator=generator)[:k]
            forced = torch.zeros(batch_size * n, dtype=torch.bool)
            forced[idx] = True
            swap = torch.full((batch_size, n), swap_first)
            _force_pairs(x, y, is_sub, forced.view(batch_size, n), swap)
        return self._finish(x, y, is_sub, generator)

    def sample_independent(self, batch_size: int, generator: torch.Generator) -> Batch:
        """The training mixture drawn one question at a time, so questions are independent.

        Each question is enriched with probability ``enrich_batch_share``, and then each of its
        digit pairs is forced with probability ``enrich_pair_share`` (from either operand, at
        even odds); near-equal subtraction as in :meth:`sample`. Failure counts over these
        questions are binomial, so a Clopper-Pearson interval holds.
        """
        n = self.n_digits
        x, y, is_sub = self._draw(batch_size, generator)
        enrich = torch.rand(batch_size, 1, generator=generator) < self.enrich_batch_share
        forced = (torch.rand(batch_size, n, generator=generator) < self.enrich_pair_share) & enrich
        swap = (torch.rand(batch_size, 1, generator=generator) < 0.5).expand(batch_size, n)
        _force_pairs(x, y, is_sub, forced, swap)
        return self._finish(x, y, is_sub, generator)

    def sample_uniform(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Every digit uniform; for mix, the operator at even odds."""
        n = self.n_digits
        x = torch.randint(0, 10, (batch_size, n), generator=generator)
        y = torch.randint(0, 10, (batch_size, n), generator=generator)
        if self.op == "mix":
            is_sub = torch.rand(batch_size, generator=generator) < 0.5
        else:
            is_sub = torch.full((batch_size,), self.op == "sub")
        return self.make_batch(x, y, is_sub)

    def _draw(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Uniform operand digits and the operators, the start of both training samplers."""
        x = torch.randint(0, 10, (batch_size, self.n_digits), generator=generator)
        y = torch.randint(0, 10, (batch_size, self.n_digits), generator=generator)
        return x, y, self._operators(batch_size, generator)

    def _finish(self, x: Tensor, y: Tensor, is_sub: Tensor, generator: torch.Generator) -> Batch:
        """The end of both training samplers, after enrichment: near-equal subtraction, short
        operands and planted carry (borrow) runs, each in its share of the questions."""
        if self.hard_share:
            _near_operands(x, y, is_sub, self.hard_share, generator)
        if self.short_share:
            _short_operands(x, y, self.short_share, generator)
        if self.cascade_share:
            _planted_runs(x, y, is_sub, self._planting(), generator)
        return self.make_batch(x, y, is_sub)

    def _planting(self) -> tuple[float, float, float]:
        return (self.cascade_share, self.nines_share, self.bare_share)

    def _operators(self, batch_size: int, generator: torch.Generator) -> Tensor:
        if self.op == "mix":
            return torch.rand(batch_size, generator=generator) < self.sub_share
        return torch.full((batch_size,), self.op == "sub")

    def make_batch(
        self,
        x: Int[Tensor, "batch n_digits"],
        y: Int[Tensor, "batch n_digits"],
        is_sub: Tensor | None = None,
    ) -> Batch:
        """Build tokens and labels from operand digits (most significant first)."""
        bsz, n = x.shape
        if is_sub is None:
            is_sub = torch.full((bsz,), self.op == "sub")
        labels = arithmetic_labels(x, y, is_sub)
        tokens = torch.empty(bsz, self.n_ctx, dtype=torch.long)
        tokens[:, :n] = x
        tokens[:, n] = torch.where(is_sub, MINUS, PLUS)
        tokens[:, n + 1 : 2 * n + 1] = y
        tokens[:, 2 * n + 1] = EQUALS
        tokens[:, 2 * n + 2 :] = labels.pop("answer")
        return Batch(inputs=tokens, targets=tokens[:, self.answer_start :], labels=labels)

    def batch_from_tokens(self, tokens: Int[Tensor, "batch n_ctx"]) -> Batch:
        """Labels for given question tokens; the answer tokens are recomputed by the oracle."""
        n = self.n_digits
        return self.make_batch(tokens[:, :n], tokens[:, n + 1 : 2 * n + 1], tokens[:, n] == MINUS)

    def question_groups(self, batch: Batch) -> dict[str, Tensor]:
        """Verification counts addition and subtraction apart (for mix; one group otherwise)."""
        is_sub = batch.labels["is_sub"]
        return {
            op: rows for op, rows in (("add", ~is_sub), ("sub", is_sub)) if self.op in (op, "mix")
        }

    def exhaustive_size(self) -> int:
        """Every question: each a and b (and, for mix, both operators)."""
        return (2 if self.op == "mix" else 1) * 10 ** (2 * self.n_digits)

    def exhaustive_batch(self, start: int, stop: int) -> Batch:
        """Questions ``start .. stop - 1`` of all of them: a * 10^n + b, addition first (mix)."""
        n, count = self.n_digits, 10 ** (2 * self.n_digits)
        idx = torch.arange(start, stop)
        is_sub = (
            (idx >= count)
            if self.op == "mix"
            else torch.full_like(idx, self.op == "sub", dtype=torch.bool)
        )
        idx = idx % count
        powers = 10 ** torch.arange(n - 1, -1, -1)
        a, b = idx // 10**n, idx % 10**n
        return self.make_batch((a[:, None] // powers) % 10, (b[:, None] // powers) % 10, is_sub)

    def class_codes(self, batch: Batch) -> Tensor:
        """Index into :attr:`class_names` (mix: addition's four classes, then subtraction's)."""
        codes = batch.labels["class"]
        return codes + 4 * batch.labels["is_sub"].long() if self.op == "mix" else codes

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-ready record per question: text, answer, class, depth and column labels."""
        n = self.n_digits
        classes = self.question_classes(batch)
        out = []
        for i, row in enumerate(batch.inputs.tolist()):
            sub = bool(batch.labels["is_sub"][i])
            text = self.decode(row)
            rec: dict[str, Any] = {
                "question": text[: 2 * n + 1],
                "answer": text[2 * n + 2 :],
                "class": classes[i],
                "depth": int(batch.labels["depth"][i]),
            }
            for key in SUB_SUBTASKS if sub else ADD_SUBTASKS:  # per column, units first
                rec[key] = [int(v) for v in batch.labels[key][i].tolist()]
            out.append(rec)
        return out

    # ---- metrics -----------------------------------------------------------------------------
    def step_metrics(
        self, logprobs: Float[Tensor, "batch n_answer"], batch: Batch
    ) -> dict[str, float]:
        """Loss overall, per answer digit, and per sub-task (the papers' BA / UC1 / US9 split).

        A column's answer digit is counted as BA (no carry arrives), UC1 (a carry arrives, not a
        sum-9 column) or US9 (a carry arrives at a sum-9 column): the three are disjoint. MC1 and
        MS9 count the answer digit that the made carry or sum 9 feeds, one column up.
        Subtraction rows report the same split under MD / UB / UZ, MB / MZ.
        """
        loss = -logprobs  # [batch, n_answer], answer tokens in sequence order
        out: dict[str, float] = {"loss": float(loss.mean())}
        for k, name in enumerate(self.answer_names):
            out[f"loss_{name}"] = float(loss[:, k].mean())
        col_loss = loss.flip(-1)  # [batch, n + 1], column c = answer digit A_c
        lab = batch.labels
        for rows, (base, make, pass_, use, casc) in (
            (~lab["is_sub"], ADD_SUBTASKS),
            (lab["is_sub"], SUB_SUBTASKS),
        ):
            if not bool(rows.any()):
                continue
            r = rows[:, None]
            arrives = lab[use] & r
            parts = {base: r & ~lab[use], use: arrives & ~lab[pass_], casc: arrives & lab[pass_]}
            for sub_name, mask in parts.items():
                _masked_mean(out, f"loss_{sub_name}", col_loss[:, :-1], mask)
            # made carries and sum-9s are used by the column above
            _masked_mean(out, f"loss_{make}", col_loss[:, 1:], lab[make] & r)
            _masked_mean(out, f"loss_{pass_}", col_loss[:, 1:], lab[pass_] & r)
        return out


def _force_pairs(x: Tensor, y: Tensor, is_sub: Tensor, forced: Tensor, swap: Tensor) -> None:
    """Force the ``forced`` digit pairs, in place, to sum to 9 (add) or to be equal (sub).

    Where ``swap`` is set the first operand's digit is rewritten from the second's, otherwise
    the second's from the first's (the papers pick one of the two per batch).
    """
    sub = is_sub[:, None].expand_as(x)
    from_y = torch.where(sub, y, 9 - y)
    from_x = torch.where(sub, x, 9 - x)
    x_new = torch.where(forced & swap, from_y, x)
    y_new = torch.where(forced & ~swap, from_x, y)
    x.copy_(x_new)
    y.copy_(y_new)


def _near_operands(
    x: Tensor, y: Tensor, is_sub: Tensor, share: float, generator: torch.Generator
) -> None:
    """Rewrite, in place, a share of the subtraction rows so that b = a +- d, |d| < 10^k.

    k is uniform in 0..n and d's k low digits are uniform, so a - a (k = 0), a - (a + 1)
    across trailing nines, and operands that agree on a long prefix (the sign is decided
    late) all come up often. A d that leaves the digit range is applied with the other sign
    (or, if that leaves it too, b = |a - d|).
    """
    bsz, n = x.shape
    hard = is_sub & (torch.rand(bsz, generator=generator) < share)
    k = torch.randint(0, n + 1, (bsz, 1), generator=generator)
    low = torch.arange(n - 1, -1, -1)[None] < k  # the k lowest columns (digits are MSD first)
    d_digits = torch.randint(0, 10, (bsz, n), generator=generator) * low
    sign = torch.where(torch.rand(bsz, generator=generator) < 0.5, 1, -1)
    powers = 10 ** torch.arange(n - 1, -1, -1)
    a, d = (x * powers).sum(-1), (d_digits * powers).sum(-1)
    b = a + sign * d
    b = torch.where((b < 0) | (b >= 10**n), a - sign * d, b)
    b = torch.where((b < 0) | (b >= 10**n), (a - d).abs(), b)  # only when k = n
    b_digits = (b[:, None] // powers) % 10
    y.copy_(torch.where(hard[:, None], b_digits, y))


def _short_operands(x: Tensor, y: Tensor, share: float, generator: torch.Generator) -> None:
    """Zero, in place, the top z digits of both operands (z uniform in 1..n-1) in a share of the
    rows: short questions padded with zeros."""
    bsz, n = x.shape
    if n < 2:
        return
    short = torch.rand(bsz, generator=generator) < share
    z = torch.randint(1, n, (bsz, 1), generator=generator)
    top = (torch.arange(n)[None] < z) & short[:, None]  # digits are MSD first
    x.masked_fill_(top, 0)
    y.masked_fill_(top, 0)


def _planted_runs(
    x: Tensor, y: Tensor, is_sub: Tensor, shares: tuple[float, ...], generator: torch.Generator
) -> None:
    """Plant, in place, a carry (borrow) run in a share of the rows (see ``cascade_share``).

    Columns count from the units (column c is digit index n - 1 - c). The run's bottom column
    gets a pair that makes a carry (sum >= 10), the next L - 1 columns sum to 9, and in half
    of the rows every column above the run is 0. Subtraction computes larger minus smaller, so
    its bottom column gets the larger operand's digit below the smaller's, the run equal
    digits, and the column just above the run the larger's digit above the smaller's (so a
    borrow run fills at most n - 1 columns); either operand is the larger at even odds.
    ``100000 - 000001`` is one such question. ``shares`` is (cascade_share, nines_share,
    bare_share): in the second share of the planted addition rows the run starts at the units
    and its bottom column sums to 9 too, so nothing carries (``000004 + 099995``); in the third
    share of the rows padded above, the columns below are zero too (``400000 + 600000``).
    """
    bsz, n = x.shape
    rows = torch.rand(bsz, generator=generator) < shares[0]
    room = n - (is_sub[:, None].long() if n > 1 else 0)  # a borrow run leaves a column above
    length = 1 + (torch.rand(bsz, 1, generator=generator) * room).long()
    low = (torch.rand(bsz, 1, generator=generator) * (room - length + 1)).long()
    nines = torch.zeros(bsz, 1, dtype=torch.bool)
    if shares[1]:  # drawn only when asked, so the recipes without it keep their questions
        nines = (rows & ~is_sub & (torch.rand(bsz, generator=generator) < shares[1]))[:, None]
        low = low.masked_fill(nines, 0)
    col = torch.arange(n - 1, -1, -1)[None]  # column of each digit index
    zero = rows[:, None] & (torch.rand(bsz, 1, generator=generator) < 0.5)
    start = rows[:, None] & (col == low) & ~nines
    inside = rows[:, None] & (col >= low) & (col < low + length) & ~start
    sub = is_sub[:, None].expand_as(x)
    cap = rows[:, None] & sub & (col == low + length)  # above a borrow run: decides the sign
    pad = zero & (col >= low + length) & ~cap
    if shares[2]:  # drawn only when asked, as nines
        bare = zero & (torch.rand(bsz, 1, generator=generator) < shares[2])
        pad = pad | (bare & (col < low))
    _plant(x, y, (start, inside, cap, pad, sub), generator)
    _larger_first(x, y, rows, is_sub, start, generator)


def _plant(x: Tensor, y: Tensor, masks: tuple[Tensor, ...], generator: torch.Generator) -> None:
    """Write a planted run's digits: (start, inside, cap, pad, sub) as ``_planted_runs``; the
    columns in ``pad`` are zero."""
    start, inside, cap, pad, sub = masks
    bsz, n = x.shape
    u = torch.rand(bsz, n, generator=generator)
    v = torch.rand(bsz, n, generator=generator)
    lo_digit = (u * 9).long()  # 0..8, and above it a digit in lo + 1..9
    hi_digit = lo_digit + 1 + (v * (8 - lo_digit + 1)).long()
    carry_x = 1 + lo_digit  # 1..9, and y in 10 - x..9
    carry_y = 10 - carry_x + (v * carry_x).long()
    x.copy_(torch.where(start, torch.where(sub, lo_digit, carry_x), x))
    y.copy_(torch.where(start, torch.where(sub, hi_digit, carry_y), y))
    y.copy_(torch.where(inside, torch.where(sub, x, 9 - x), y))
    x.copy_(torch.where(cap, hi_digit, x))
    y.copy_(torch.where(cap, lo_digit, y))
    x.masked_fill_(pad, 0)
    y.masked_fill_(pad, 0)


def _larger_first(
    x: Tensor, y: Tensor, rows: Tensor, is_sub: Tensor, start: Tensor, generator: torch.Generator
) -> None:
    """Swap the operands of half the planted subtraction rows, then give the larger operand
    the lower digit of the bottom pair (rows whose sign the run itself decides, where the
    column above it is equal, included)."""
    bsz, n = x.shape
    sub = is_sub[:, None].expand_as(x)
    turn = (rows & is_sub & (torch.rand(bsz, generator=generator) < 0.5))[:, None]  # a < b
    x_new, y_new = torch.where(turn, y, x), torch.where(turn, x, y)
    x.copy_(x_new)
    y.copy_(y_new)
    powers = 10 ** torch.arange(n - 1, -1, -1)
    y_larger = ((y * powers).sum(-1) > (x * powers).sum(-1))[:, None]
    flip = start & sub & torch.where(y_larger, y > x, x > y)
    x_new, y_new = torch.where(flip, y, x), torch.where(flip, x, y)
    x.copy_(x_new)
    y.copy_(y_new)


def _masked_mean(out: dict[str, float], key: str, values: Tensor, mask: Tensor) -> None:
    count = int(mask.sum())
    if count:
        out[key] = float((values * mask).sum() / count)


def arithmetic_labels(
    x: Int[Tensor, "batch n_digits"], y: Int[Tensor, "batch n_digits"], is_sub: Tensor
) -> dict[str, Tensor]:
    """Answer tokens and every per-column label, vectorised over the batch.

    Columns are carried out from the units up, so no number ever exceeds one digit pair:
    20-digit questions work although their values overflow int64.
    """
    bsz, n = x.shape
    xc, yc = x.flip(-1), y.flip(-1)  # units first
    # subtraction works on larger minus smaller: a < b iff the first differing digit is smaller
    diff = x - y
    lead = torch.zeros(bsz, dtype=torch.long)
    for i in range(n - 1, -1, -1):
        lead = torch.where(diff[:, i] != 0, diff[:, i], lead)
    neg = is_sub & (lead < 0)
    top = torch.where(neg[:, None], yc, xc)
    bot = torch.where(neg[:, None], xc, yc)

    pair_sum = xc + yc
    ms9 = pair_sum == 9
    mc1 = pair_sum >= 10
    mb = top < bot
    mz = top == bot
    carry = torch.zeros(bsz, dtype=torch.long)
    use = torch.zeros(bsz, n, dtype=torch.bool)
    digits = torch.empty(bsz, n + 1, dtype=torch.long)  # units first
    for c in range(n):
        use[:, c] = carry.bool()
        total_add = pair_sum[:, c] + carry
        total_sub = top[:, c] - bot[:, c] - carry
        digits[:, c] = torch.where(is_sub, total_sub % 10, total_add % 10)
        carry = torch.where(is_sub, total_sub < 0, total_add >= 10).long()
    digits[:, n] = torch.where(is_sub, torch.where(neg, MINUS, PLUS), carry)

    add_rows, sub_rows = ~is_sub[:, None], is_sub[:, None]
    cascade = use & torch.where(is_sub[:, None], mz, ms9)
    depth = _longest_run(cascade)
    makes = torch.where(is_sub[:, None], mb, mc1).any(-1)
    code = torch.where(~makes, 0, torch.clamp(depth, max=2) + 1)
    return {
        "answer": digits.flip(-1),
        "is_sub": is_sub,
        "class": code,
        "depth": depth,
        "BA": torch.where(add_rows, pair_sum % 10, 0),
        "MC1": mc1 & add_rows,
        "MS9": ms9 & add_rows,
        "UC1": use & add_rows,
        "US9": cascade & add_rows,
        "MD": torch.where(sub_rows, (top - bot) % 10, 0),
        "MB": mb & sub_rows,
        "MZ": mz & sub_rows,
        "UB": use & sub_rows,
        "UZ": cascade & sub_rows,
        "NEG": neg,
    }


def _longest_run(flags: Tensor) -> Tensor:
    """Length of the longest run of True along the last axis, per row."""
    run = torch.zeros(flags.shape[0], dtype=torch.long)
    best = torch.zeros_like(run)
    for c in range(flags.shape[1]):
        run = (run + 1) * flags[:, c]
        best = torch.maximum(best, run)
    return best
