"""algolens: train small networks on algorithmic tasks, see the algorithm, prove it right.

>>> import algolens
>>> run = algolens.load("zoo:add_d5_l2")        # doctest: +SKIP
>>> run.predict(["12+34"])                      # doctest: +SKIP
['046']

Importing algolens is light (the command line starts at once): ``load`` and ``Run`` bring in
torch and the model code on first use. Type checkers see them as they are (the package ships
``py.typed``).
"""

from typing import TYPE_CHECKING, Any

from algolens.errors import AlgolensError
from algolens.version import __version__ as __version__

if TYPE_CHECKING:  # what mypy and IDEs see; at run time they are loaded on first use, below
    from algolens.runs import Run, load

__all__ = ["AlgolensError", "Run", "__version__", "load"]


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is an error there

    def __getattr__(name: str) -> Any:
        if name in ("load", "Run"):
            from algolens import runs

            return getattr(runs, name)
        raise AttributeError(f"module 'algolens' has no attribute {name!r}")
