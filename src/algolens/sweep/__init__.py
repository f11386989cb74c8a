"""Sweeps (``algolens sweep SPEC``): a TOML grid of configurations, each trained and verified
as one Ray task into an ordinary run directory; results in ``results.csv``, ``results.json``
and ``sweep.html``. See :mod:`algolens.sweep.spec` for the spec's format."""
