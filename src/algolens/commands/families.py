"""The families' own commands (``algolens lego ...``), added to the app at start-up.

A family's ``commands(app, api, friendly)`` (and ``zoo_commands(zoo_app, ...)``, for
``algolens zoo`` subcommands) gets the app, the run functions it may call
(:class:`RunApi`, which imports them only when called) and the one-line-error decorator.
"""

from __future__ import annotations

from typing import Any

from algolens.commands.base import app, friendly
from algolens.commands.zoo import zoo_app


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

    @staticmethod
    def zoo_cards() -> list[dict[str, Any]]:
        """Every zoo model's card, in the zoo's order."""
        from algolens.runs import zoo_names
        from algolens.zoo import read_card

        return [read_card(name) for name in zoo_names()]


def _register() -> None:
    from algolens.families import families

    for family in families().values():
        if family.commands is not None:
            family.commands(app, RunApi(), friendly)
        if family.zoo_commands is not None:
            family.zoo_commands(zoo_app, RunApi(), friendly)


_register()
