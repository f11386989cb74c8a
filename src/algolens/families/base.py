"""What a task family gives algolens: one :class:`Family` record, built in the family's folder.

A family folder (``algolens/families/NAME/``) holds the family's task, presets, evaluation,
card, analysis with its claims, report sections and CLI options, and exposes them as
``FAMILY = Family(...)`` in its ``__init__.py``. Generic code (training, verification, reports,
the zoo, the CLI) reaches a family only through this record, found by task name in
:mod:`algolens.families`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from algolens.analysis.claims import Claim
from algolens.sections import Section

if TYPE_CHECKING:  # the record stays import-light: the CLI reads it before torch is loaded
    from algolens.analysis.causal import Declared
    from algolens.config import RunConfig
    from algolens.tasks.base import Task


class RunLike(Protocol):
    """A loaded run as families see it (:class:`algolens.runs.Run` is one)."""

    path: Path | None
    config: RunConfig
    model: Any  # a torch module
    task: Any
    metrics: list[dict[str, Any]]

    @property
    def name(self) -> str: ...


@dataclass
class Preset:
    """A named recipe: config sections for a new run, what it is, and what it costs here."""

    task: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    cost: str = ""  # e.g. "about 5 min on 2 CPU cores"
    init: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> Preset:
        return copy.deepcopy(self)


@dataclass
class Analysis:
    """What ``algolens analyse`` computed for one run: the claims checked, and the family's own
    results (``data``) that its report sections draw. ``files`` are extra JSON files written
    beside the report (``algorithm_map.json``)."""

    title: str
    claims: list[Claim]
    data: Any
    subtitle: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CliOption:
    """A family's shortcut flag for a task option: ``--digits 5`` sets ``n_digits``."""

    flag: str
    key: str
    type: type
    help: str


@dataclass(frozen=True)
class Family:
    """The plug-in record of one task family.

    ``tasks`` maps task names to factories taking the task options; ``presets`` maps a task
    name to its named recipes, and ``defaults`` names the one ``algolens train TASK`` starts
    from. ``analyse(run, questions, seed, progress)`` returns an :class:`Analysis`;
    ``sections(run, analysis)`` lays it out as report sections (drawing only);
    ``card(run, questions)`` measures a zoo card's record; ``recheck(run, card, quick)``
    re-measures it for ``zoo check``; ``prepare_model(spec, init)`` adapts the model section
    to the run's initialisation and ``initialise(model, task, init)`` runs a family-specific
    initialisation before training (LEGO's variants and mimic init); ``variants`` name the
    family's model variants and ``variant_init(variant, options, seed)`` gives a variant's
    ``init.family`` options for a run with that seed (a sweep's ``variant`` grid key and
    ``[init]`` table, and the family's own commands, use it); ``commands(app, api,
    friendly)`` adds CLI commands (``api`` hands over the run functions of the floors above);
    ``zoo_commands(zoo_app, api, friendly)`` adds ``algolens zoo`` subcommands (arithmetic's
    ``zoo reuse``); ``zoo_sections(run, cards)`` gives a run's report the sections it draws
    from the zoo's cards, the reuse comparison (``cards()`` reads them, only when
    needed); ``hypothesis(task, op=None)``
    declares the family's algorithm as a causal model with its pair samplers
    (:class:`~algolens.analysis.causal.Declared`), which the generic units test
    (:meth:`algolens.runs.Run.causal`);
    ``submission(path, **options)`` verifies a submitted program (``verify --submission``);
    ``suite`` verifies a named question list (``suite_names``); ``cli_options`` are the
    family's task flags (``--digits``).
    """

    name: str
    tasks: Mapping[str, Callable[..., Task]]
    defaults: Mapping[str, str]
    presets: Mapping[str, Mapping[str, Preset]]
    analyse: Callable[..., Analysis] | None = None
    sections: Callable[[RunLike, Analysis], list[Section]] | None = None
    card: Callable[..., dict[str, Any]] | None = None
    recheck: Callable[..., list[dict[str, Any]]] | None = None
    initialise: Callable[..., dict[str, Any]] | None = None
    prepare_model: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    variants: tuple[str, ...] = ()
    variant_init: Callable[[str, dict[str, Any], int], dict[str, Any]] | None = None
    commands: Callable[..., None] | None = None
    zoo_commands: Callable[..., None] | None = None
    zoo_sections: Callable[[RunLike, Callable[[], list[dict[str, Any]]]], list[Section]] | None = (
        None
    )
    hypothesis: Callable[..., Declared] | None = None
    submission: Callable[..., Any] | None = None
    # (model, task, name, examples, precision) -> VerifyResult
    suite: Callable[..., Any] | None = None
    suite_names: tuple[str, ...] = ()
    cli_options: tuple[CliOption, ...] = ()
    description: str = ""


def lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported on the first call: a family's record names its functions
    without importing torch (``lazy('algolens.families.lego.report', 'sections')``)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


# the hooks every shipped family folder keeps in the same modules: hook -> (module, function)
FOLDER_HOOKS = {
    "analyse": ("analysis", "analyse"),
    "sections": ("report", "sections"),
    "card": ("card", "card_record"),
    "recheck": ("card", "recheck"),
}


def folder_hooks(package: str, *hooks: str) -> dict[str, Any]:
    """``Family`` keywords for ``hooks`` (default: all of :data:`FOLDER_HOOKS`) of the family
    folder ``package``, each :func:`lazy`: ``Family(..., **folder_hooks(__name__))``."""
    return {
        h: lazy(f"{package}.{FOLDER_HOOKS[h][0]}", FOLDER_HOOKS[h][1])
        for h in hooks or FOLDER_HOOKS
    }


def folder_presets(package: str) -> dict[str, Any]:
    """``Family`` keywords for the recipes of a family folder with a ``presets`` module (its
    ``DEFAULTS`` and ``presets()``): ``Family(..., **folder_presets(__name__))``."""
    import importlib

    module = importlib.import_module(f"{package}.presets")
    return {"defaults": module.DEFAULTS, "presets": module.presets()}
