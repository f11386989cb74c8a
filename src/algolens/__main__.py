"""``python -m algolens`` is the ``algolens`` command."""

import sys

from algolens.cli import main

sys.exit(main())
