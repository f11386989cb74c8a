"""The families' own commands (``algolens lego ...``), added to the app at start-up.

A family's ``commands(app, api, friendly)`` gets the app, the run functions it may call
(:class:`RunApi`, which imports them only when called) and the one-line-error decorator.
"""

from __future__ import annotations

from typing import Any

from algolens.commands.base import app, friendly


class RunApi:
    """What a family's commands may call on the floors above the families."""

    @staticmethod
    def new_config(*args: Any, **kwargs: Any) -> Any:
        from algolens.runs import new_config

        return new_config(*args, **kwargs)

    @staticmethod
    def train_run(*args: Any, **kwargs: Any) -> Any:
        from algolens.runs import train_run

        return train_run(*args, **kwargs)

    @staticmethod
    def load_run(*args: Any, **kwargs: Any) -> Any:
        from algolens.runs import load_run

        return load_run(*args, **kwargs)

    @staticmethod
    def write_report(*args: Any, **kwargs: Any) -> Any:
        from algolens.report import write_report

        return write_report(*args, **kwargs)


def _register() -> None:
    from algolens.families import families

    for family in families().values():
        if family.commands is not None:
            family.commands(app, RunApi(), friendly)


_register()
