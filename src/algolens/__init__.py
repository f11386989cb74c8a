"""algolens: train small networks on algorithmic tasks, see the algorithm, prove it right.

>>> import algolens
>>> run = algolens.load("zoo:add_d5_l2")        # doctest: +SKIP
>>> run.predict(["12+34"])                      # doctest: +SKIP
['046']

Importing algolens is light (the command line starts at once): ``load`` and ``Run`` bring in
torch and the model code on first use.
"""

from typing import Any

from algolens.errors import AlgolensError

__version__ = "0.2.0"
__all__ = ["AlgolensError", "Run", "__version__", "load"]


def __getattr__(name: str) -> Any:
    if name in ("load", "Run"):
        from algolens import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'algolens' has no attribute {name!r}")
