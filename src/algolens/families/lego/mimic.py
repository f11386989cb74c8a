"""Attention-mimicking initialisation for LEGO encoders, standing in for BERT pretraining.

Zhang et al. (2022) find that pretraining helps LEGO mostly through two kinds of attention
head, and that training heads to mimic them before the task recovers most of the benefit:

- association: a variable-name token attends to the other positions holding the same name
  (``b`` in ``c = +b`` finds the clause ``b = -a``); a token with no other occurrence attends
  to itself;
- manipulation: every token attends uniformly to a small window ``|q - k| <= window``;
- parent (ours; off in the ``mimic`` variant, one head in ``parent``): a clause's name token
  attends to its parent clause's name token, association composed with manipulation, so that
  each layer can take one chain hop.

:func:`mimic_init` trains a fresh model, before the task and on the same trainer as the task
(a different objective, :class:`MimicObjective`), so that in every layer heads
``0 .. n_assoc-1`` match the association template and the next ``n_manip`` heads the
manipulation template (cross-entropy of each pattern row against the template row, on random
LEGO sentences; no labels are used). The run's config records the procedure (``init.family``),
so a retrain redoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.families.lego.task import CLAUSE_LEN, LETTERS, ONE, OPERAND
from algolens.options import from_dict
from algolens.tasks.base import Batch
from algolens.train import Trainer


@dataclass
class MimicConfig:
    """How the heads are pre-trained towards the templates (two, or three with parent heads)."""

    steps: int = 150  # the templates' loss is at its floor by about step 125 (n = 12)
    batch_size: int = 64
    lr: float = 3e-3
    window: int = 3  # manipulation: attend to |q - k| <= window
    n_assoc: int = 1  # heads 0 .. n_assoc-1 of every layer mimic association
    n_manip: int = 1  # the next n_manip heads mimic manipulation
    n_parent: int = 0  # the next n_parent heads mimic the parent pattern (see parent_template)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise AlgolensError("mimic steps, batch_size and lr must be positive")
        if min(self.window, self.n_assoc, self.n_manip, self.n_parent) < 0:
            raise AlgolensError("mimic window and head counts must be non-negative")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MimicConfig:
        """Strictly: an unknown key or a mistyped value is one clear line."""
        return from_dict(cls, d, "mimic")

    def train_config(self) -> TrainConfig:
        """The trainer settings of the mimic stage: plain Adam at a constant rate."""
        return TrainConfig(
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer="adam",
            beta1=0.9,
            beta2=0.999,
            weight_decay=0.0,
            warmup_frac=0.0,
            min_lr_frac=1.0,
            seed=self.seed,
            log_every=25,
            checkpoint_every=self.steps,
        )


def association_template(tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos pos"]:
    """Uniform over the other positions holding the same variable name; else the position itself."""
    n = tokens.shape[1]
    is_name = tokens < len(LETTERS)
    eye = torch.eye(n, dtype=torch.bool)
    other = (tokens[:, :, None] == tokens[:, None, :]) & is_name[:, :, None] & ~eye
    target = torch.where(other.any(-1, keepdim=True), other, eye).float()
    return target / target.sum(-1, keepdim=True)


def parent_template(
    tokens: Int[Tensor, "batch pos"],
) -> tuple[Float[Tensor, "batch pos pos"], Tensor]:
    """Each clause's name token attends to its parent clause's name token (the clause whose
    name is this clause's operand); the root clause (operand ``1``) attends to itself.

    Read from the tokens alone, like the other templates: the operand sits ``OPERAND``
    positions after the name. Returns the template and the ``[batch, pos]`` mask of the rows it
    constrains (the name tokens).
    """
    bsz, n = tokens.shape
    starts = torch.arange(0, n, CLAUSE_LEN)
    names = tokens[:, starts]  # [batch, clause]
    operands = tokens[:, starts + OPERAND]
    match = operands[:, :, None] == names[:, None, :]  # [batch, clause, clause]
    root = (operands == ONE)[:, :, None] & torch.eye(len(starts), dtype=torch.bool)
    target = torch.zeros(bsz, n, n)
    target[:, starts[:, None], starts[None, :]] = (match | root).float()
    rows = torch.zeros(bsz, n, dtype=torch.bool)
    rows[:, starts] = True
    return target, rows


def manipulation_template(n_pos: int, window: int) -> Float[Tensor, "pos pos"]:
    """Uniform over the window ``|q - k| <= window`` (cut at the ends)."""
    pos = torch.arange(n_pos)
    band = ((pos[:, None] - pos[None, :]).abs() <= window).float()
    return band / band.sum(-1, keepdim=True)


def attention_patterns(
    model: nn.Module, tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "layer batch head pos pos"]:
    """Every layer's attention pattern, differentiable (the hooks keep the graph)."""
    store: list[Tensor] = []
    cfg: Any = model.cfg
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(cfg.n_layers)]
    hooks = [(name, lambda t, hook: store.append(t)) for name in names]
    with model.hooks(fwd_hooks=hooks):  # type: ignore[operator]
        model(tokens)
    return torch.stack(store)


def mimic_loss(
    patterns: Float[Tensor, "layer batch head pos pos"],
    tokens: Int[Tensor, "batch pos"],
    cfg: MimicConfig,
) -> Tensor:
    """Mean cross-entropy of the assigned heads' pattern rows against their template rows."""
    logp = patterns.clamp_min(1e-9).log()
    a, m = cfg.n_assoc, cfg.n_manip
    losses = []
    if a:
        assoc = association_template(tokens)[None, :, None]  # [1, batch, 1, pos, pos]
        losses.append(-(assoc * logp[:, :, :a]).sum(-1).mean())
    if m:
        manip = manipulation_template(tokens.shape[1], cfg.window)
        losses.append(-(manip * logp[:, :, a : a + m]).sum(-1).mean())
    if cfg.n_parent:
        parent, rows = parent_template(tokens)
        ce = -(parent[None, :, None] * logp[:, :, a + m : a + m + cfg.n_parent]).sum(-1)
        losses.append(ce.transpose(1, 2)[:, :, rows].mean())  # over the name-token rows
    if not losses:
        raise AlgolensError("mimic init needs an association, manipulation or parent head")
    return torch.stack(losses).mean()


class MimicObjective:
    """The mimic stage's loss on the trainer: pattern rows against template rows (no labels)."""

    def __init__(self, cfg: MimicConfig):
        self.cfg = cfg

    def check(self, model: nn.Module) -> None:
        wanted = self.cfg.n_assoc + self.cfg.n_manip + self.cfg.n_parent
        cfg: Any = model.cfg
        n_heads = cfg.n_heads
        if wanted > n_heads:
            raise AlgolensError(f"mimic init asks for {wanted} heads, the model has {n_heads}")

    def loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Any]:
        tokens = batch.inputs
        loss = mimic_loss(attention_patterns(model, tokens), tokens, self.cfg)
        value = loss.detach()
        return loss, lambda: {"mimic_loss": float(value)}


def mimic_init(
    model: nn.Module, task: Any, cfg: MimicConfig, *, progress: bool = False
) -> list[dict[str, float]]:
    """Train ``model`` in place towards the templates, on the trainer with :class:`MimicObjective`
    (nothing written); returns the loss log (every 25 steps)."""
    trainer = Trainer(
        model,
        task,
        cfg.train_config(),
        None,
        objective=MimicObjective(cfg),
        evaluate=False,
        progress=progress,
        desc="mimic init",
    )
    trainer.run()
    return [{"step": r["step"], "mimic_loss": r["mimic_loss"]} for r in trainer.rows]
