"""The CLI's commands, one module per subsystem (train, run, verify, analyse, zoo, demo).

Each module adds its commands to :data:`algolens.commands.base.app`; :mod:`algolens.cli` imports
every module here at start-up. ``families`` adds each task family's own commands.
"""
