"""``algolens train TASK``: train a model into a run directory; ``algolens presets``.

Generic flags set the model and the training; each task family adds its own task flags (for
arithmetic ``--digits``, for LEGO ``--n-vars``: see ``algolens presets`` and the help below).
Everything is checked before the run directory is written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from algolens.commands.base import app, friendly, parse_options, task_help, task_options
from algolens.errors import AlgolensError
from algolens.options import did_you_mean

if TYPE_CHECKING:
    from algolens.plan import RunPlan

Opt = typer.Option


def _family_help() -> str:
    """The family flags per task, for the help text (families import nothing heavy)."""
    from algolens.families import families

    lines = []
    for family in families().values():
        flags = ", ".join(f"{o.flag} ({o.help})" for o in family.cli_options)
        lines.append(f"{'/'.join(family.tasks)}: {flags or 'none'}.")
    return "Task flags by family: " + " ".join(lines) + " Presets and their cost: algolens presets."


TaskArg = Annotated[str | None, typer.Argument(help=f"{task_help()}.")]
PresetOpt = Annotated[
    str | None,
    Opt(help="Start from a named recipe (default: the task's CPU recipe; see algolens presets)."),
]
OVERRIDES = "(overrides the preset)"
LayersOpt = Annotated[int | None, Opt(help=f"Layers {OVERRIDES}.")]
HeadsOpt = Annotated[int | None, Opt(help=f"Attention heads per layer {OVERRIDES}.")]
DModelOpt = Annotated[int | None, Opt(help=f"Residual stream width {OVERRIDES}.")]
DHeadOpt = Annotated[int | None, Opt(help=f"Head width; 0 is d_model / heads {OVERRIDES}.")]
DMlpOpt = Annotated[int | None, Opt(help=f"MLP width; 0 is 4 d_model {OVERRIDES}.")]
StepsOpt = Annotated[int | None, Opt(help=f"Training steps {OVERRIDES}.")]
BatchOpt = Annotated[int | None, Opt(help=f"Questions per step {OVERRIDES}.")]
LrOpt = Annotated[float | None, Opt(help=f"Peak learning rate {OVERRIDES}.")]
WdOpt = Annotated[float | None, Opt(help=f"Weight decay {OVERRIDES}.")]
SeedOpt = Annotated[int | None, Opt(help=f"Seed of weights and questions {OVERRIDES}.")]
DeviceOpt = Annotated[
    str | None, Opt(help="Where to train: cpu, cuda, cuda:N or auto (CUDA when present).")
]
LogOpt = Annotated[
    str | None, Opt(help="An experiment log beside metrics.jsonl: tensorboard or wandb.")
]
ListOpt = Annotated[list[str] | None, Opt(help="A setting KEY=VALUE (repeatable).")]
InitOpt = Annotated[
    str | None, Opt(help="Reuse this run's weights where names and shapes fit (the papers' ins1).")
]
ReuseOpt = Annotated[
    str | None,
    Opt(
        help="Reuse mode with --init-from: ins1 (copy once), ins2 (re-copy the inserted heads "
        "the source needs every 100 steps), ins3 (re-copy those heads and the inserted MLPs)."
    ),
]
OutOpt = Annotated[
    str | None,
    Opt(help="Run directory (new, empty or this run's own); default runs/<name>, "
        "e.g. runs/add_d5_l2_h3_s0."),
]  # fmt: skip


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=_family_help(),
)
@friendly
def train(
    ctx: typer.Context,
    task: TaskArg = None,
    preset: PresetOpt = None,
    layers: LayersOpt = None,
    heads: HeadsOpt = None,
    d_model: DModelOpt = None,
    d_head: DHeadOpt = None,
    d_mlp: DMlpOpt = None,
    steps: StepsOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    weight_decay: WdOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    log: LogOpt = None,
    task_opt: ListOpt = None,
    model_opt: ListOpt = None,
    train_opt: ListOpt = None,
    init_from: InitOpt = None,
    reuse: ReuseOpt = None,
    freeze_heads: Annotated[bool, Opt(help="Keep the copied attention heads fixed.")] = False,
    out: OutOpt = None,
    resume: Annotated[bool, Opt(help="Continue the run in --out from its checkpoint.")] = False,
    progress: Annotated[bool, Opt(help="Show a progress bar.")] = True,
) -> None:
    """Train a model on TASK and write a run directory (config, weights, metrics, checkpoint).

    Flags you give override the preset: --layers, --heads, --d-model, --d-head and --d-mlp set
    the model; --steps, --batch-size, --lr, --weight-decay and --seed the training; --task-opt,
    --model-opt and --train-opt set any other setting. Ctrl-C or SIGTERM saves a checkpoint and
    stops; --resume continues to the same weights an unbroken run gives.
    """
    from algolens.families import family_of, task_names

    folder = out_folder(out)
    if resume:
        if folder is None:
            raise AlgolensError("--resume needs --out, the run directory to continue")
        from algolens import runs

        _note_threads(folder)
        _report(runs.resume_run(folder, steps=steps, progress=progress), folder)
        return
    if task is None:
        raise AlgolensError(f"name a task: {', '.join(task_names())} (see algolens presets)")
    family_of(task)  # an unknown task is one line before torch is imported
    from algolens import runs

    given = {"layers": layers, "heads": heads, "d_model": d_model, "d_head": d_head,
             "d_mlp": d_mlp, "steps": steps, "batch_size": batch_size, "lr": lr,
             "weight_decay": weight_decay, "seed": seed, "device": device,
             "log": log}  # fmt: skip
    opts = {"task": task_options(task, task_opt),
            "model": parse_options(model_opt, "model option"),
            "train": parse_options(train_opt, "training option")}  # fmt: skip
    init = {"source": init_from, "reuse": reuse, "freeze_heads": freeze_heads}
    plan = build_plan(task, preset, given, opts, ctx.args, init)
    folder = folder or Path("runs") / plan.config.name
    _report(runs.train_run(folder, plan, progress=progress), folder)


def out_folder(out: str | None) -> Path | None:
    """``--out`` as a folder: an empty one (``--out ''``) is refused, not read as the current
    folder."""
    if out is None:
        return None
    if not out.strip():
        raise AlgolensError("--out is empty: name the run directory")
    return Path(out)


def build_plan(
    task: str,
    preset: str | None,
    given: dict[str, Any],
    opts: dict[str, dict[str, Any]],
    extra: list[str],
    init: dict[str, Any],
) -> RunPlan:
    """A checked :class:`~algolens.plan.RunPlan` from a preset and the flags given: the task
    and the model config built once, and trained as they are."""
    from algolens.families import family_of
    from algolens.plan import recipe_plan

    task_opts = {**family_flags(family_of(task), extra), **opts["task"]}
    return recipe_plan(task, preset, given, {**opts, "task": task_opts}, init, argv=sys.argv)


def family_flags(family: Any, extra: list[str]) -> dict[str, Any]:
    """The family's task flags among the extra arguments (``--digits 5``), checked."""
    by_flag = {o.flag: o for o in family.cli_options}
    out: dict[str, Any] = {}
    args = list(extra)
    while args:
        flag = args.pop(0)
        name, _, inline = flag.partition("=")
        if name not in by_flag:
            known = ", ".join(by_flag) or "none"
            hint = did_you_mean(name, by_flag, quote=False)
            raise AlgolensError(
                f"unknown option {name!r} for this task{hint} (its own flags: {known}; see --help)"
            )
        if not inline and not args:
            raise AlgolensError(f"{name} needs a value")
        value = inline or args.pop(0)
        option = by_flag[name]
        out[option.key] = flag_value(name, value, option.type)
    return out


WHOLE = re.compile(r"[+-]?[0-9]{1,18}")
DECIMAL = re.compile(r"[+-]?[0-9.]{1,30}([eE][+-]?[0-9]{1,3})?")


def flag_value(flag: str, text: str, kind: type) -> Any:
    """A task flag's value of type ``kind``, read strictly: ASCII digits only (Python's
    ``int('٣')`` is 3), no ``_`` separators, no ``nan`` or ``inf``, at most 18 digits."""
    if kind is int and WHOLE.fullmatch(text):
        return int(text)
    if kind is float and DECIMAL.fullmatch(text):
        try:
            return float(text)
        except ValueError:
            pass
    if kind not in (int, float):
        return kind(text)
    wanted = "a whole number" if kind is int else "a number"
    raise AlgolensError(f"{flag} must be {wanted} in ASCII digits, got {text[:40]!r}")


def _note_threads(out: Path) -> None:
    """One line when the run resumes on another CPU thread count than it started with."""
    import torch

    from algolens import store

    config = store.read_config(out)
    was, now = config.provenance.threads, torch.get_num_threads()
    if was is not None and was != now and not config.train.device.startswith("cuda"):
        typer.echo(
            f"note: {out} started on {was} CPU threads and resumes on {now}: float sums round "
            f"differently, so its weights will not be bit-identical to an unbroken run's "
            f"(OMP_NUM_THREADS={was} resumes it exactly)",
            err=True,
        )


def _report(result: Any, out: Path) -> None:
    """What became of the run; an interrupted one exits 130 (Ctrl-C) or 143 (SIGTERM), the
    shell's codes for a process stopped by those signals, after its checkpoint is saved."""
    if result.interrupted:
        typer.echo(
            f"interrupted at step {result.steps:,}; continue with: "
            f"algolens train --resume --out {out}",
            err=True,
        )
        raise typer.Exit(result.exit_code)
    if result.stopped_early:
        typer.echo(f"stopped early at step {result.steps:,}: the stop_when rule was met")
    typer.echo(f"run saved in {out}")


@app.command()
@friendly
def presets(
    task: Annotated[str | None, typer.Argument(help="Only this task's presets.")] = None,
) -> None:
    """List the named recipes per task: what each is and what it costs on 2 CPU cores."""
    from algolens.families import all_presets, family_of

    listed = all_presets()
    if task is not None and task not in {t for t, _ in listed}:
        family_of(task)  # an unknown task: one line naming the known ones
        raise AlgolensError(f"task {task!r} has no presets")
    for (task_name, name), preset in listed.items():
        if task is not None and task_name != task:
            continue
        default = " (default)" if family_of(task_name).defaults.get(task_name) == name else ""
        cost = f" [{preset.cost}]" if preset.cost else ""
        typer.echo(f"{task_name:<7} {name + default:<26} {preset.description}{cost}")
