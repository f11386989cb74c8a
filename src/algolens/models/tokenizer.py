"""A tokenizer-like object for a task's small vocabulary, so TransformerLens's text tools work.

TransformerLens's ``to_tokens``, ``to_str_tokens`` and ``generate`` call a Hugging Face
tokenizer: ``tokenizer(texts, return_tensors="pt", padding=True, ...)["input_ids"]``,
``decode`` and ``batch_decode``. Our vocabularies are a few symbols (addition: ``0-9 + - =``,
one token per character), so :class:`VocabTokenizer` implements just that much of the interface:
text is split into the longest vocabulary entries that match, spaces between them are skipped,
and there are no special tokens (no BOS, EOS or padding token).

>>> tok = VocabTokenizer([*"0123456789", "+", "-", "="])
>>> tok.encode("12+34=")
[1, 2, 10, 3, 4, 12]
>>> tok.decode([1, 2, 10, 3, 4, 12])
'12+34='
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from algolens.errors import AlgolensError


class VocabTokenizer:
    """The parts of a Hugging Face tokenizer that TransformerLens reads, for a fixed vocabulary.

    ``vocab[i]`` is the text of token ``i``. Encoding takes the longest entry that matches at each
    point (so a vocabulary of numbers ``0 … 112`` reads ``"110"`` as one token); an unknown
    character is one :class:`~algolens.errors.AlgolensError`.
    """

    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    # no token has id -1: TransformerLens 3's generate compares tokens with the padding id to
    # mask padding, and our sequences are never padded
    pad_token_id: int = -1
    padding_side = "right"
    name_or_path = "algolens"

    def __init__(self, vocab: Sequence[str]):
        if not vocab:
            raise AlgolensError("a tokenizer needs a vocabulary of at least one token")
        self.vocab = tuple(vocab)
        self._ids = {text: i for i, text in enumerate(self.vocab)}
        self._longest = max(len(text) for text in self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._ids)

    def encode(self, text: str, add_special_tokens: bool = False, **_: Any) -> list[int]:
        """Token ids of ``text``: longest vocabulary match first, spaces between tokens skipped."""
        out: list[int] = []
        i = 0
        while i < len(text):
            if text[i].isspace() and text[i] not in self._ids:
                i += 1
                continue
            for size in range(min(self._longest, len(text) - i), 0, -1):
                if text[i : i + size] in self._ids:
                    out.append(self._ids[text[i : i + size]])
                    i += size
                    break
            else:
                vocab = " ".join(self.vocab)
                raise AlgolensError(
                    f"{text[i]!r} in {text!r} is not a token (the vocabulary: {vocab})"
                )
        return out

    def __call__(
        self,
        text: str | list[str],
        return_tensors: str | None = None,
        padding: bool = False,
        truncation: bool = False,
        max_length: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """``{"input_ids", "attention_mask"}`` like a Hugging Face tokenizer's. Without a padding
        token, the texts of one call must have the same number of tokens."""
        rows = [self.encode(t) for t in ([text] if isinstance(text, str) else text)]
        if truncation and max_length is not None:
            rows = [row[:max_length] for row in rows]
        if return_tensors is None:
            ids: Any = rows[0] if isinstance(text, str) else rows
            return {"input_ids": ids, "attention_mask": [[1] * len(r) for r in rows]}
        if len({len(row) for row in rows}) > 1:
            raise AlgolensError(
                "these texts have different numbers of tokens and the vocabulary has no padding "
                f"token: {sorted({len(row) for row in rows})}"
            )
        ids = torch.tensor(rows, dtype=torch.long).reshape(len(rows), -1)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def convert_ids_to_tokens(self, ids: int | Sequence[int] | Tensor) -> str | list[str]:
        """The text of one token id, or of each of a sequence of them."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        if isinstance(ids, int):
            return self._text(ids)
        return [self._text(int(i)) for i in ids]  # type: ignore[union-attr]

    def decode(self, ids: int | Sequence[int] | Tensor, **_: Any) -> str:
        """The text of a row of token ids (a token's text as it is, nothing between tokens)."""
        texts = self.convert_ids_to_tokens(ids)
        return texts if isinstance(texts, str) else "".join(texts)

    def batch_decode(self, rows: Sequence[Any] | Tensor, **_: Any) -> list[str]:
        """:meth:`decode` of each row."""
        return [self.decode(row) for row in rows]

    def _text(self, i: int) -> str:
        if not 0 <= int(i) < len(self.vocab):
            raise AlgolensError(f"token ids must be below {len(self.vocab)}, got {i}")
        return self.vocab[int(i)]
