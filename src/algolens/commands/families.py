"""The families' own commands (``algolens lego ...``), added to the app at start-up.

A family's ``commands(app, api, friendly)`` (and ``zoo_commands(zoo_app, ...)``, for
``algolens zoo`` subcommands) gets the app, the run functions it may call
(:class:`RunApi`, which imports them only when called) and the one-line-error decorator.
"""

from __future__ import annotations

from typing import Any

from algolens.commands.base import app, friendly
from algolens.commands.zoo import zoo_app
from algolens.families.base import lazy


class RunApi:
    """What a family's commands may call on the floors above the families, each imported on
    its first call."""

    new_config = staticmethod(lazy("algolens.runs", "new_config"))
    train_run = staticmethod(lazy("algolens.runs", "train_run"))
    load_run = staticmethod(lazy("algolens.runs", "load_run"))
    write_report = staticmethod(lazy("algolens.report", "write_report"))

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
