"""The contract between a task and the generic code (trainer, verifier, analysis).

Every task family writes its task as a subclass of :class:`TaskBase`, which gives the optional
parts of the contract their neutral defaults; the trainer, the verifier and the analysis call the
methods of :class:`Task` (and :class:`SequenceTask` for tasks whose answer is a suffix of a token
sequence) and never ask what family a task belongs to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from algolens.errors import AlgolensError


@dataclass
class Batch:
    """Model inputs, the target tokens they should produce, and per-question labels.

    ``inputs`` are token ids ``[batch, n_ctx]`` for sequence models or a float tensor for MLPs;
    ``targets`` are the token ids the loss positions must predict ``[batch, n_answer]``;
    ``labels`` holds per-question tensors the metrics group by (sub-tasks, classes, ...).
    """

    inputs: Tensor
    targets: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def take(self, idx: Tensor) -> Batch:
        """The questions at ``idx`` (indices or a boolean mask)."""
        if idx.dtype == torch.bool:
            idx = idx.nonzero()[:, 0]
        return Batch(
            self.inputs[idx], self.targets[idx], {k: v[idx] for k, v in self.labels.items()}
        )

    def rows(self, start: int, stop: int) -> Batch:
        """Questions ``start`` to ``stop``, as views (no copy)."""
        return Batch(
            self.inputs[start:stop],
            self.targets[start:stop],
            {k: v[start:stop] for k, v in self.labels.items()},
        )

    def to(self, device: torch.device | str) -> Batch:
        """The batch on ``device`` (itself when it is there already)."""
        if self.inputs.device == torch.device(device):
            return self
        return Batch(
            self.inputs.to(device),
            self.targets.to(device),
            {k: v.to(device) for k, v in self.labels.items()},
        )

    @staticmethod
    def cat(batches: list[Batch]) -> Batch:
        if len(batches) == 1:
            return batches[0]
        return Batch(
            torch.cat([b.inputs for b in batches]),
            torch.cat([b.targets for b in batches]),
            {k: torch.cat([b.labels[k] for b in batches]) for k in batches[0].labels},
        )


@runtime_checkable
class Task(Protocol):
    """What the trainer needs: a seeded sampler, where the answer is read, and metrics."""

    @property
    def name(self) -> str:
        """The task's name in configs and on the command line (``add``, ``lego``, ...)."""
        ...

    @property
    def n_answer(self) -> int:
        """Answer tokens per question."""
        ...

    @property
    def answer_names(self) -> list[str]:
        """One name per answer token, in sequence order."""
        ...

    @property
    def readout(self) -> slice | None:
        """Positions that predict the answer, for a transformer's readout path (None: none)."""
        ...

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw a fresh training batch (infinite data, or minibatches of a fixed split)."""
        ...

    def answer_logits(self, output: Tensor) -> Float[Tensor, "batch n_answer d_vocab"]:
        """Select the model outputs that predict ``batch.targets``."""
        ...

    def step_metrics(
        self, logprobs: Float[Tensor, "batch n_answer"], batch: Batch
    ) -> dict[str, float]:
        """Metrics of one training batch from the target log-probabilities (float64)."""
        ...

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out metrics logged beside the training metrics ({} when there are none)."""
        ...

    def layer_masks(self, batch: Batch, n_layers: int) -> Tensor | None:
        """Deep supervision: ``[layer, batch, n_answer]`` answers each block is trained on, or
        None when the task defines no per-layer targets."""
        ...

    def model_defaults(self, kind: str) -> dict[str, Any]:
        """Model sizes the task implies for a model kind (``n_ctx``, ``d_vocab``, ...)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the task (its section of ``config.json``)."""
        ...

    def predict(self, model: nn.Module, questions: list[str]) -> list[str]:
        """The model's answers to questions written as text (one clear error if malformed)."""
        ...

    def records(self, batch: Batch) -> list[dict[str, Any]]:
        """One JSON-ready record per question, for ``algolens sample``."""
        ...


@runtime_checkable
class SequenceTask(Task, Protocol):
    """A task whose answer is the last ``n_answer`` tokens of a token sequence, each predicted
    from the position before it: greedy decoding, exact-match verification and the position
    analyses apply. ``answer_start`` is the position of the first answer token."""

    @property
    def n_ctx(self) -> int: ...

    @property
    def d_vocab(self) -> int: ...

    @property
    def answer_start(self) -> int:
        """The position of the first answer token (the one before it holds a separator)."""
        ...

    @property
    def class_names(self) -> tuple[str, ...]:
        """Every question class the task can produce."""
        ...

    def sample_uniform(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Questions drawn uniformly from the question space."""
        ...

    def sample_independent(self, batch_size: int, generator: torch.Generator) -> Batch:
        """The training distribution, one question at a time (independent draws)."""
        ...

    def class_codes(self, batch: Batch) -> Int[Tensor, " batch"]:
        """Each question's class as an index into :attr:`class_names`."""
        ...

    def question_classes(self, batch: Batch) -> list[str]:
        """Each question's class name."""
        ...

    def question_groups(self, batch: Batch) -> dict[str, Tensor]:
        """Named row masks that verification counts apart ({} for none; ``add``/``sub``)."""
        ...

    def encode_batch(self, questions: list[str]) -> Int[Tensor, "batch n_ctx"]:
        """Question texts -> full token sequences (answers filled in by the oracle)."""
        ...

    def decode(self, tokens: Tensor | list[int]) -> str:
        """Token ids -> text."""
        ...

    def batch_from_tokens(self, tokens: Int[Tensor, "batch n_ctx"]) -> Batch:
        """A batch with labels for these sequences (answers recomputed by the oracle)."""
        ...

    def exhaustive_size(self) -> int:
        """How many questions there are in all (0 when they cannot be listed)."""
        ...

    def exhaustive_batch(self, start: int, stop: int) -> Batch:
        """Questions ``start .. stop - 1`` of the full question space, in a fixed order."""
        ...

    @property
    def predict_separator(self) -> str:
        """What joins a question and its answer in printed output (``=``)."""
        ...


# The methods that make questions. They run on the CPU, with CPU generators, whatever the default
# device is (an analysis runs under ``torch.device(model's device)``): the same questions on every
# device, and the caller moves the batch.
GENERATORS = ("sample", "sample_uniform", "sample_independent", "exhaustive_batch",
              "encode_batch", "tokenize")  # fmt: skip


def on_cpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the CPU as the default device for the tensors it makes."""
    if getattr(fn, "_on_cpu", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if torch.get_default_device().type == "cpu":  # the device context costs time per op
            return fn(*args, **kwargs)
        with torch.device("cpu"):
            return fn(*args, **kwargs)

    wrapper._on_cpu = True  # type: ignore[attr-defined]
    return wrapper


class TaskBase:
    """Neutral defaults for the optional parts of the :class:`Task` contract.

    A subclass's question makers (:data:`GENERATORS`) run on the CPU (see :func:`on_cpu`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in GENERATORS:
            if name in cls.__dict__ and callable(cls.__dict__[name]):
                setattr(cls, name, on_cpu(cls.__dict__[name]))

    @property
    def readout(self) -> slice | None:
        return None

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {}

    def layer_masks(self, batch: Batch, n_layers: int) -> Tensor | None:
        return None

    vocab: tuple[str, ...] = ()  # the text of each token id, for ``Run.to_str_tokens``

    def tokenize(self, questions: list[str]) -> Int[Tensor, "batch n_ctx"]:
        """The model's input tokens for questions written as text (``Run.to_tokens``)."""
        raise AlgolensError(f"the {getattr(self, 'name', 'task')} task's inputs are not tokens")

    def model_defaults(self, kind: str) -> dict[str, Any]:
        return {}

    def question_groups(self, batch: Batch) -> dict[str, Tensor]:
        return {}

    def exhaustive_size(self) -> int:
        return 0


def sequence_model_only(task_name: str, kind: str) -> None:
    """Refuse a model kind that cannot read token sequences (an MLP) for a sequence task."""
    if kind != "transformer":
        raise AlgolensError(f"the {task_name} task needs a transformer, not {kind!r}")


# sizes a model may exceed (a longer context, unused tokens) and those that must match exactly
AT_LEAST = ("n_ctx", "d_vocab", "d_in")


def check_model_fits(task_name: str, spec: dict[str, Any], needs: dict[str, Any]) -> None:
    """Refuse a model whose given sizes cannot hold the task: a context or vocabulary smaller
    than the task's, another number of outputs, or causal attention where the task needs none."""
    for key in (*AT_LEAST, "d_vocab_out"):
        value = spec.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise AlgolensError(f"model option {key!r} must be a whole number, got {value!r}")
    for key, need in needs.items():
        have = spec.get(key, need)
        ok = have >= need if key in AT_LEAST else have == need
        if not ok:
            rel = "at least " if key in AT_LEAST else ""
            raise AlgolensError(
                f"the {task_name} task needs a model with {key} {rel}{need}, got {have}"
            )
    outputs = spec.get("d_vocab_out") or 0  # 0: as many outputs as input tokens
    if "d_vocab_out" not in needs and "d_vocab" in needs and 0 < outputs < needs["d_vocab"]:
        raise AlgolensError(
            f"the {task_name} task answers in {needs['d_vocab']} tokens: d_vocab_out must be 0 "
            f"(d_vocab) or at least {needs['d_vocab']}, got {outputs}"
        )


def answer_output(
    task: Task, model: nn.Module, inputs: Tensor
) -> Float[Tensor, "batch n_answer d_vocab"]:
    """The model's outputs that predict the targets: ``task.answer_logits(model(inputs))``.

    When the task names its answer positions (``readout``) and the model has a readout path
    with nothing hooked, only those positions are computed in the last layer; the numbers are
    the same up to float rounding (tested).
    """
    inputs = inputs.to(model_device(model))
    if task.readout is not None and readout_ok(model):
        return model(inputs, readout=task.readout)  # type: ignore[no-any-return]
    return task.answer_logits(model(inputs))


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live (the CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present); an absent GPU is one line."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise AlgolensError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AlgolensError(f"device {name!r}: this machine has no CUDA GPU (try --device auto)")
    if device.type not in ("cpu", "cuda"):
        raise AlgolensError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}")
    return device


def readout_ok(model: nn.Module) -> bool:
    """True if ``model`` takes ``readout=`` and no hook is attached (hooks see every position)."""
    if not getattr(model, "supports_readout", False):
        return False
    hooks = getattr(model, "hook_dict", {}).values()
    return not any(hp.fwd_hooks or hp.bwd_hooks for hp in hooks)


def answer_logprobs(
    task: Task, model: nn.Module, inputs: Tensor, targets: Tensor
) -> Float[Tensor, "batch n_answer"]:
    """Log-probability of each target token, computed in float64 as in the papers."""
    logits = answer_output(task, model, inputs).to(torch.float64)
    logprobs = torch.log_softmax(logits, dim=-1)
    return logprobs.gather(-1, targets[..., None])[..., 0]


def layer_logprobs(
    task: Task, model: nn.Module, inputs: Tensor, targets: Tensor
) -> Float[Tensor, "layer batch n_answer"]:
    """:func:`answer_logprobs` read after every block (the model's logit lens), float64."""
    lens: Any = model.logit_lens  # a transformer: the trainer checks before training starts
    if task.readout is not None and readout_ok(model):
        logits = lens(inputs, readout=task.readout)
    else:
        logits = torch.stack([task.answer_logits(x) for x in lens(inputs)])
    logprobs = torch.log_softmax(logits.to(torch.float64), dim=-1)
    return logprobs.gather(-1, targets.expand(logits.shape[0], *targets.shape)[..., None])[..., 0]


@torch.inference_mode()
def greedy_answers(
    model: nn.Module, task: SequenceTask, tokens: Int[Tensor, "batch n_ctx"]
) -> Int[Tensor, "batch n_answer"]:
    """Greedy decoding: each answer token is the argmax given the model's own earlier tokens."""
    seq = tokens.to(model_device(model), copy=True)
    start = task.answer_start
    for k in range(task.n_answer):
        logits = model(seq[:, : start + k])
        seq[:, start + k] = logits[:, -1].argmax(-1)
    return seq[:, start:]


class SequenceTaskBase(TaskBase):
    """Defaults for :class:`SequenceTask`: class names from codes, greedy prediction in batches."""

    def question_classes(self: Any, batch: Batch) -> list[str]:
        names = self.class_names
        return [names[c] for c in self.class_codes(batch).tolist()]

    predict_separator = "="  # how ``algolens predict`` joins a question and its answer

    def tokenize(self: Any, questions: list[str]) -> Int[Tensor, "batch n_ctx"]:
        """Full sequences, the answers filled in by the oracle."""
        return self.encode_batch(questions)

    predict_batch = 4096  # questions decoded at once: memory stays flat for any number

    def predict(self: Any, model: nn.Module, questions: list[str]) -> list[str]:
        """``predict(model, ['12+34']) == ['046']`` for a working 2-digit addition model."""
        out: list[str] = []
        for start in range(0, len(questions), self.predict_batch):
            tokens = self.encode_batch(questions[start : start + self.predict_batch])
            out += [self.decode(row) for row in greedy_answers(model, self, tokens)]
        return out
