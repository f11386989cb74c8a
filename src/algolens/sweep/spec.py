"""A sweep's TOML spec: a grid of settings, expanded into one run configuration per point.

.. code-block:: toml

    name = "papers-d5-d6"      # the sweep's folder name (default: the file's stem)
    questions = 100000         # questions per distribution when each run is verified

    [grid]                     # every combination of these values is one run
    task = ["add", "sub", "mix"]
    digits = [5, 6]            # a task family's own flag, without its dashes
    layers = [2, 3]
    heads = [3, 4]
    seed = [0, 1]

    [train]                    # fixed options for every run (also [task] and [model])
    log_every = 100

Grid keys are the ``train`` command's flags (``task``, ``preset``, ``layers``, ``heads``,
``d_model``, ``d_head``, ``d_mlp``, ``steps``, ``batch_size``, ``lr``, ``weight_decay``,
``seed``), the reuse settings ``init_from`` and ``reuse`` (``none``, ``ins1``, ``ins2``,
``ins3``), a family's model ``variant`` (LEGO's encoders: ``random``, ``mimic``, ``tied``,
``conv``, ``parent``) and each task family's flags (arithmetic's ``digits``, LEGO's
``n_vars``). A single value needs no list; a value given twice, or a key that a [task], [model]
or [train] option sets again (``layers`` and ``[model] n_layers``), is refused: each grid point
is one run, and its row says what it trained with (read back from the run's config.json).
An ``[init]`` table holds a family's fixed initialisation options (LEGO: ``[init.mimic]``, the
mimic init's settings; its seed is the run's unless given), so a grid of LEGO variants and
seeds trains as ``algolens lego train`` would, each run a Ray task.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from algolens.errors import AlgolensError

if TYPE_CHECKING:
    from algolens.config import RunConfig
from algolens.options import unknown_key

GIVEN = ("layers", "heads", "d_model", "d_head", "d_mlp", "steps", "batch_size", "lr",
         "weight_decay", "seed")  # fmt: skip
OWN = ("task", "preset", "init_from", "reuse", "variant")
TOP = {"name", "questions", "grid", "task", "model", "train", "init"}


@dataclass
class SweepSpec:
    """What a sweep runs: its name, the grid, the fixed options and how much to verify."""

    name: str
    grid: dict[str, list[Any]]
    questions: int = 100_000
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)  # task/model/train options

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, in the grid's order."""
        keys = list(self.grid)
        return [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*self.grid.values())
        ]


def read_spec(path: Path) -> SweepSpec:
    """The spec in a TOML file; anything unknown or mistyped is one line."""
    data = _load_toml(Path(path))
    grid = data.get("grid")
    if not isinstance(grid, dict) or "task" not in grid:
        raise AlgolensError(f"sweep spec {path} needs a [grid] table with at least 'task'")
    questions = data.get("questions", 100_000)
    if not isinstance(questions, int) or isinstance(questions, bool) or questions < 1:
        raise AlgolensError(
            f"sweep spec 'questions' must be a whole number >= 1, got {questions!r}"
        )
    fixed = {}
    for part in ("task", "model", "train", "init"):
        table = data.get(part, {})
        if not isinstance(table, dict):
            raise AlgolensError(f"sweep spec [{part}] must be a table of options")
        if table or part != "init":  # an absent [init] leaves the runs' folder names as before
            fixed[part] = table
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise AlgolensError(f"sweep name must be letters, digits, '_' and '-', not {name!r}")
    spec = SweepSpec(name, {k: _values(k, v) for k, v in grid.items()}, questions, fixed)
    for point in spec.points():
        check_point(point, fixed.get("init"))
        check_overrides(point, fixed)
    return spec


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise AlgolensError(f"cannot read sweep spec {path}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AlgolensError(f"sweep spec {path} is not TOML: {e}") from None
    for key in data:
        if key not in TOP:
            raise AlgolensError(unknown_key(key, TOP, "sweep spec key"))
    return data


def _values(key: str, value: Any) -> list[Any]:
    """A grid key's values: numbers or text, each once (a repeated value is a repeated run)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise AlgolensError(f"grid key {key!r} has no values")
    seen: list[tuple[bool, Any]] = []
    for v in values:
        if isinstance(v, dict | list):
            raise AlgolensError(f"grid key {key!r}: values are numbers or text, got {v!r}")
        if (isinstance(v, bool), v) in seen:  # 2 and 2.0 are one value, true and 1 are not
            raise AlgolensError(
                f"grid key {key!r} lists {v!r} twice: each grid point is one run, give it once"
            )
        seen.append((isinstance(v, bool), v))
    return values


def family_keys(task: str) -> dict[str, str]:
    """The family's own grid keys for ``task``: flag without dashes -> task option."""
    from algolens.families import family_of

    return {o.flag.lstrip("-").replace("-", "_"): o.key for o in family_of(task).cli_options}


def check_point(point: dict[str, Any], init: dict[str, Any] | None = None) -> None:
    """One line for a key that is not a setting of the point's task."""
    from algolens.families import family_of

    family = family_of(str(point["task"]))  # an unknown task is one line
    if ("variant" in point or init) and family.variant_init is None:
        what = "a 'variant'" if "variant" in point else "an [init] table"
        raise AlgolensError(f"task {point['task']} has no model variants: {what} does not apply")
    if "variant" in point:
        if point["variant"] not in family.variants:
            raise AlgolensError(unknown_key(point["variant"], family.variants, "variant"))
        assert family.variant_init is not None
        family.variant_init(point["variant"], init or {}, 0)  # its options checked now
    elif init:
        raise AlgolensError("an [init] table sets a variant's initialisation: add 'variant'")
    own = family_keys(str(point["task"]))
    for key in point:
        if key not in GIVEN and key not in OWN and key not in own:
            raise AlgolensError(
                unknown_key(key, {*GIVEN, *OWN, *own}, f"grid key for {point['task']}")
            )
    if point.get("reuse") not in (None, "none") and not point.get("init_from"):
        raise AlgolensError(f"reuse {point['reuse']!r} needs init_from (a run or zoo:NAME)")


def check_overrides(point: dict[str, Any], fixed: dict[str, dict[str, Any]]) -> None:
    """One line for a grid key that a [task], [model] or [train] option also sets: the option
    would replace the grid's value in every run, so the rows would not say what ran."""
    from algolens.runs import MODEL_FLAGS

    own = family_keys(str(point["task"]))
    for key in point:
        if key in MODEL_FLAGS:
            part, option = "model", MODEL_FLAGS[key]
        elif key in GIVEN:
            part, option = "train", key
        elif key in own:
            part, option = "task", own[key]
        elif key == "task":
            part, option = "task", "name"
        else:
            continue
        if option in fixed.get(part, {}):
            raise AlgolensError(
                f"grid key {key!r} is also set by [{part}] {option} = "
                f"{fixed[part][option]!r}: set it in one place (the grid, or [{part}])"
            )


def point_config(
    point: dict[str, Any], spec: SweepSpec, device: str | None, argv: list[str]
) -> RunConfig:
    """The checked :class:`~algolens.config.RunConfig` of one grid point."""
    from algolens.runs import recipe_config

    task = str(point["task"])
    own = family_keys(task)
    given = {k: point.get(k) for k in GIVEN}
    given["device"] = device
    task_opts = {**spec.fixed.get("task", {}), **{own[k]: v for k, v in point.items() if k in own}}
    opts = {"task": task_opts, "model": spec.fixed.get("model", {}),
            "train": spec.fixed.get("train", {})}  # fmt: skip
    reuse = point.get("reuse")
    scratch = reuse == "none"  # the from-scratch row of a reuse grid, even on a reuse recipe
    init = {} if scratch else {"source": point.get("init_from"), "reuse": reuse}
    if "variant" in point:
        init |= _variant(point, spec)
    return recipe_config(
        task, point.get("preset"), given, opts, init, argv=argv, from_scratch=scratch
    )


def _variant(point: dict[str, Any], spec: SweepSpec) -> dict[str, Any]:
    """The point's family variant and its initialisation options (for the run's seed)."""
    from algolens.families import family_of, resolve_preset

    task = str(point["task"])
    variant_init = family_of(task).variant_init
    assert variant_init is not None  # check_point saw to it
    seed = point.get("seed", spec.fixed.get("train", {}).get("seed"))
    if seed is None:
        seed = resolve_preset(task, point.get("preset")).train.get("seed", 0)
    options = spec.fixed.get("init", {})
    return {"variant": point["variant"], "family": variant_init(point["variant"], options, seed)}


def point_key(point: dict[str, Any], spec: SweepSpec) -> str:
    """A short digest of what makes a run: the same point and options give the same folder."""
    text = json.dumps({"point": point, "fixed": spec.fixed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
