"""PCA of one head's output over questions, grouped by a column's tri-case.

Quirke & Barez (2024) find that a head working on column c separates questions into two or
three clusters by the pair sum D_c + D'_c: below 9 (no carry), exactly 9 (passes a carry on),
above 9 (makes a carry). The scores say how well the clusters match that split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Int
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score
from torch import Tensor

from algolens.analysis.nodes import Node
from algolens.models.transformer import Transformer
from algolens.tasks.base import Batch

TRI_CASE_NAMES = ("sum<9", "sum=9", "sum>9")


def tri_case(batch: Batch, column: int) -> Int[Tensor, " batch"]:
    """0 when the column's pair sums below 9, 1 at exactly 9, 2 above (subtraction: MB / MZ)."""
    lab = batch.labels
    is_sub = lab["is_sub"]
    make = torch.where(is_sub, lab["MB"][:, column], lab["MC1"][:, column])
    pass_ = torch.where(is_sub, lab["MZ"][:, column], lab["MS9"][:, column])
    return torch.where(make, 2, torch.where(pass_, 1, 0))


@dataclass
class PcaResult:
    """2-D coordinates of a head's output, the tri-case labels and the cluster scores."""

    node: str
    column: int
    coords: np.ndarray  # [batch, n_components]
    labels: np.ndarray  # [batch] tri-case
    explained: list[float]
    silhouette: float
    calinski_harabasz: float
    agreement: float  # adjusted Rand index of KMeans(n_groups) clusters vs the tri-case


@torch.inference_mode()
def head_output(model: Transformer, tokens: Tensor, node: Node) -> Tensor:
    """The head's write into the residual stream at its position: ``z @ W_O[head]``."""
    _, cache = model.run_with_cache(tokens, names_filter=node.hook)
    z = cache[node.hook][:, node.pos, node.head]  # [batch, d_head]
    w_o: Tensor = model.blocks[node.layer].attn.W_O  # type: ignore[union-attr,assignment]
    return z @ w_o[node.head]  # [batch, d_model]


def head_pca(
    model: Transformer, batch: Batch, node: Node, column: int, n_components: int = 2, seed: int = 0
) -> PcaResult:
    """PCA of the head's output at its position on ``batch``'s questions, scored against the
    column's tri-case."""
    acts = head_output(model, batch.inputs, node).double().cpu().numpy()
    labels = tri_case(batch, column).cpu().numpy()
    pca = PCA(n_components=n_components, random_state=seed)
    coords = pca.fit_transform(acts)
    groups = len(set(labels.tolist()))
    if groups >= 2:
        sil = float(silhouette_score(coords, labels))
        ch = float(calinski_harabasz_score(coords, labels))
        clusters = KMeans(n_clusters=groups, n_init=5, random_state=seed).fit_predict(coords)
        agree = float(adjusted_rand_score(labels, clusters))
    else:
        sil = ch = agree = float("nan")
    return PcaResult(
        node=node.name,
        column=column,
        coords=coords,
        labels=labels,
        explained=[float(v) for v in pca.explained_variance_ratio_],
        silhouette=sil,
        calinski_harabasz=ch,
        agreement=agree,
    )
