"""Exact-match verification: does the model give every answer token right?

The engine's files, read top-down (each imports only the ones below it; an import-linter
contract in ``pyproject.toml`` keeps it so):

- :mod:`~algolens.verify.shards`: every question split over Ray tasks (local or a cluster),
  finished shards kept and skipped on a rerun;
- :mod:`~algolens.verify.engine`: the drivers: random questions (``verify``), every question
  (``verify_exhaustive``, resumable) and any batches (``verify_batches``, e.g. a family's
  suites), folding the answers into a verdict;
- :mod:`~algolens.verify.answers`: the float32 argmax of every batch, in this process or in
  one-thread worker processes, in order;
- :mod:`~algolens.verify.result`: the verdict, :class:`VerifyResult` (counts, breakdowns, the
  first failing questions);
- :mod:`~algolens.verify.screen`: the bfloat16 screen with float32 re-checks (same verdicts);
- :mod:`~algolens.verify.state`: an exhaustive run's resume file, read strictly;
- :mod:`~algolens.verify.stats`: Clopper-Pearson intervals and the "nines".
"""

from algolens.verify.engine import DISTRIBUTIONS as DISTRIBUTIONS
from algolens.verify.engine import PREFIXES as PREFIXES
from algolens.verify.engine import Distribution as Distribution
from algolens.verify.engine import default_batch_size as default_batch_size
from algolens.verify.engine import random_batches as random_batches
from algolens.verify.engine import require_sequence as require_sequence
from algolens.verify.engine import verify as verify
from algolens.verify.engine import verify_batches as verify_batches
from algolens.verify.engine import verify_exhaustive as verify_exhaustive
from algolens.verify.result import VerifyResult as VerifyResult
from algolens.verify.shards import verify_sharded as verify_sharded
