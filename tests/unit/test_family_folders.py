"""A family folder of the shipped layout names its standard hooks and recipes once
(``folder_hooks``, ``folder_presets``): each resolves to the folder's own module, on first call."""

from __future__ import annotations

import pytest

from algolens.families import families
from algolens.families.base import FOLDER_HOOKS, folder_hooks, folder_presets


def test_the_hooks_are_the_folder_s_functions() -> None:
    from algolens.families.arithmetic import card, presets

    hooks = folder_hooks("algolens.families.arithmetic")
    assert set(hooks) == set(FOLDER_HOOKS)
    assert hooks["card"].__name__ == "card_record" and hooks["recheck"].__name__ == "recheck"
    assert folder_presets("algolens.families.arithmetic") == {
        "defaults": presets.DEFAULTS,
        "presets": presets.presets(),
    }
    assert card.card_record.__module__ == "algolens.families.arithmetic.card"
    record = families()
    assert record["lego"].recheck.__name__ == "recheck"
    assert record["modular"].card.__name__ == "_card"  # its own, not the folder layout's


def test_a_folder_without_the_module_fails_on_first_call() -> None:
    """Control: the sort family keeps no card module, so its folder's card hook cannot load."""
    card = folder_hooks("algolens.families.sort", "card")["card"]
    with pytest.raises(ModuleNotFoundError, match=r"algolens\.families\.sort\.card"):
        card(None)
    with pytest.raises(KeyError):
        folder_hooks("algolens.families.sort", "cards")
