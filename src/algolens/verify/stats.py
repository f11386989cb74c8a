"""Failure-rate statistics: exact binomial intervals and the "nines".

The intervals assume independent draws, which :func:`algolens.verify.engine.random_batches` gives:
every question is drawn on its own from the task's distribution (the training generator's
per-batch enrichment is re-drawn per question for verification).
"""

from __future__ import annotations

import math

from scipy.stats import beta


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a failure rate, k failures in n: (0, 3.69e-6) for 0 in 1e6."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower, upper


def nines(failures: int, questions: int) -> int:
    """How many leading 9s the accuracy has: 6 means at most 1 failure per million."""
    if questions <= 0:
        return 0
    return max(0, math.floor(math.log10(questions / max(failures, 1)) + 1e-9))
