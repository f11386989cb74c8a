"""algolens: train small networks on algorithmic tasks, see the algorithm, prove it right.

>>> import algolens
>>> run = algolens.load("runs/add_d2")          # doctest: +SKIP
>>> run.predict(["12+34"])                      # doctest: +SKIP
['046']
"""

import torch

# Flush subnormal floats (below 1.2e-38) to zero. Weight-decayed runs whose loss nears zero
# (grokking) produce them, and the CPU computes with them up to 2x slower. It is set at import
# because torch's worker threads copy the flag when they start and never again.
torch.set_flush_denormal(True)

from algolens.errors import AlgolensError  # noqa: E402
from algolens.store import Run, load  # noqa: E402

__version__ = "0.1.0"
__all__ = ["AlgolensError", "Run", "__version__", "load"]
