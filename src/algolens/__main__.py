"""``python -m algolens`` is the ``algolens`` command."""

from algolens.cli import main

main()
