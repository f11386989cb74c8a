"""One patch primitive for every analysis: WHAT replaces an activation, apart from WHERE.

WHERE is a :class:`Site`: a node (:class:`~algolens.analysis.nodes.Node`: a head's ``hook_z``,
an MLP's ``hook_mlp_out`` or the residual stream after a layer, each at one position), or a
subspace of it given by a matrix whose orthonormal columns span it (the first ``k`` columns of
a rotation, as distributed alignment search learns). A set of sites is a tuple of them.

WHAT is the value written there, one row per base question (or one row for all of them): a
source question's activation (interchange), another question's of the same batch (resample),
the mean over reference questions, or zero (:func:`intervention_values`). On a subspace only the
component inside it is replaced: ``act + (value - act) @ B @ B.T``, which is pyvene's rotated
space intervention when ``B`` is the first ``k`` columns of an orthogonal rotation.

:func:`patch_hooks` turns patches into TransformerLens forward hooks; :func:`run_patched` runs
many patches stacked along the batch axis, a few forward passes for a whole sweep. Nothing here
uses ``inference_mode``, so a basis that requires grad is trained through the hooks; callers
that only evaluate wrap the call in ``torch.inference_mode()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from algolens.analysis.ablation import mean_activations
from algolens.analysis.nodes import Node

What = Literal["interchange", "resample", "mean", "zero"]
Hook = tuple[str, Callable[..., Tensor]]


@dataclass(frozen=True, eq=False)
class Site:
    """Where to patch: one node's activation at its position, or the subspace ``basis`` of it.

    ``basis`` is ``[width, k]`` with orthonormal columns; ``width`` is ``d_head`` for a head and
    ``d_model`` for an MLP output or a residual stream.
    """

    node: Node
    basis: Float[Tensor, "width k"] | None = None

    @classmethod
    def parse(cls, name: str, basis: Tensor | None = None) -> Site:
        """``Site.parse('P14.L0.H1')``: a site from a node name."""
        return cls(Node.parse(name), basis)

    @property
    def hook(self) -> str:
        return self.node.hook

    @property
    def name(self) -> str:
        k = "" if self.basis is None else f"[{self.basis.shape[1]}d]"
        return self.node.name + k

    def width(self, cfg: Any) -> int:
        """The size of the activation patched: ``d_head`` for a head, else ``d_model``."""
        return int(cfg.d_head if self.node.kind == "head" else cfg.d_model)

    def read(self, act: Tensor) -> Float[Tensor, "batch width"]:
        """This site's rows of a hook's whole activation ``[batch, pos, (head,) width]``."""
        n = self.node
        return act[:, n.pos, n.head] if n.kind == "head" else act[:, n.pos]

    def patched(self, current: Tensor, value: Tensor) -> Tensor:
        """``current`` with ``value`` written in (inside the subspace only, when there is one)."""
        if self.basis is None:
            return value.expand_as(current)
        b = self.basis.to(current)
        return current + ((value - current) @ b) @ b.T


@dataclass(eq=False)
class Patch:
    """One intervention: at each site, the value to write (``[batch, width]`` or ``[width]``)."""

    sites: tuple[Site, ...]
    values: tuple[Tensor, ...]

    def __post_init__(self) -> None:
        if len(self.sites) != len(self.values):
            raise ValueError(f"{len(self.sites)} sites but {len(self.values)} values")


def activations(
    model: Any, tokens: Int[Tensor, "batch pos"], sites: tuple[Site, ...], chunk: int = 8192
) -> tuple[Float[Tensor, "batch width"], ...]:
    """Each site's activation on ``tokens`` (the whole node, even for a subspace site).

    In a causal model only the positions up to the last site's run (a q/k/v convolution,
    ``conv_kernel``, looks ahead: there every position runs)."""
    hooks = {s.hook for s in sites}
    causal = not getattr(model.cfg, "conv_kernel", 0)
    upto = max((s.node.pos for s in sites), default=0) + 1 if causal else None
    parts: list[list[Tensor]] = [[] for _ in sites]
    for start in range(0, len(tokens), chunk):
        _, cache = model.run_with_cache(
            tokens[start : start + chunk, :upto], names_filter=hooks.__contains__
        )
        for part, site in zip(parts, sites, strict=True):
            part.append(site.read(cache[site.hook]))
    return tuple(torch.cat(p) for p in parts)


def intervention_values(
    model: Any,
    what: What,
    sites: tuple[Site, ...],
    *,
    source: Tensor | None = None,
    reference: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, ...]:
    """The values a kind of intervention writes at ``sites``.

    ``interchange``: the activation of ``source`` tokens (row i patches base row i).
    ``resample``: the activation of ``reference`` tokens in an order drawn from ``generator``.
    ``mean``: the mean over ``reference`` tokens at each site's position. ``zero``: zeros.
    """
    if what == "interchange":
        if source is None:
            raise ValueError("an interchange needs source tokens")
        return activations(model, source, sites)
    if what == "zero":
        dev = next(model.parameters()).device
        return tuple(torch.zeros(s.width(model.cfg), device=dev) for s in sites)
    if reference is None:
        raise ValueError(f"a {what} intervention needs reference tokens")
    if what == "resample":
        order = torch.randperm(len(reference), generator=generator, device="cpu")
        return activations(model, reference[order.to(reference.device)], sites)
    if what == "mean":
        means = mean_activations(model, reference, {s.hook for s in sites})
        return tuple(s.read(means[s.hook][None])[0] for s in sites)
    raise ValueError(f"unknown intervention {what!r}: use interchange, resample, mean or zero")


def patch_hooks(patches: list[Patch], n_base: int) -> list[Hook]:
    """Forward hooks applying ``patches[k]`` to rows ``k * n_base …`` of a stacked batch.

    The batch is ``len(patches)`` copies of ``n_base`` base questions; one hook per hook name
    writes every patch's sites in its own chunk (TransformerLens's ``run_with_hooks`` runs them).
    """
    by_hook: dict[str, list[tuple[int, Site, Tensor]]] = {}
    for k, patch in enumerate(patches):
        for site, value in zip(patch.sites, patch.values, strict=True):
            by_hook.setdefault(site.hook, []).append((k, site, value))

    def make(writes: list[tuple[int, Site, Tensor]]) -> Callable[..., Tensor]:
        def hook(act: Tensor, hook: object) -> Tensor:
            if act.requires_grad:  # leave autograd the activation it saw
                act = act.clone()
            view = act.view(len(patches), n_base, *act.shape[1:])
            for k, site, value in writes:
                n = site.node
                idx = (k, slice(None), n.pos) + ((n.head,) if n.kind == "head" else ())
                view[idx] = site.patched(view[idx], value.to(act))
            return act

        return hook

    return [(name, make(writes)) for name, writes in by_hook.items()]


def run_patched(
    model: Any,
    base: Int[Tensor, "batch pos"],
    patches: list[Patch],
    *,
    readout: Callable[[Tensor], Tensor] | None = None,
    max_rows: int = 16384,
) -> Tensor:
    """``readout(logits)`` of the base questions under each patch: ``[patch, batch, ...]``.

    Patches go through the model ``max_rows // len(base)`` at a time, stacked along the batch
    axis; values with a batch axis must have ``len(base)`` rows. Without ``readout``, the
    logits at every position.
    """
    n_base = len(base)
    per_pass = max(1, max_rows // max(n_base, 1))
    outs: list[Tensor] = []
    for start in range(0, len(patches), per_pass):
        group = patches[start : start + per_pass]
        logits = model.run_with_hooks(
            base.repeat(len(group), 1), fwd_hooks=patch_hooks(group, n_base)
        )
        out = readout(logits) if readout is not None else logits
        outs.append(out.view(len(group), n_base, *out.shape[1:]))
    return torch.cat(outs)


def interchange_patch(
    model: Any, source: Int[Tensor, "batch pos"], sites: tuple[Site, ...]
) -> Patch:
    """The patch that writes the source questions' activations at ``sites``."""
    return Patch(sites, intervention_values(model, "interchange", sites, source=source))
