"""algolens: train small networks on algorithmic tasks, see the algorithm, prove it right.

>>> import algolens
>>> run = algolens.load("runs/add_d2")          # doctest: +SKIP
>>> run.predict(["12+34"])                      # doctest: +SKIP
['046']
"""

from algolens.errors import AlgolensError
from algolens.store import Run, load

__version__ = "0.1.0"
__all__ = ["AlgolensError", "Run", "__version__", "load"]
