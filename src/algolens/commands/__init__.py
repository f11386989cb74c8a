"""CLI commands that live beside their subsystem (verify, zoo, analyse, ...).

Each module here imports ``app`` and ``friendly`` from :mod:`algolens.cli` and decorates its
commands; :mod:`algolens.cli` imports every module of this package at start-up.
"""
