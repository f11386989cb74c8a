"""``algolens lego train|compare``: LEGO encoder variants and their side-by-side comparison.

The CLI adds these commands through :attr:`Family.commands`, handing over the run functions
(``api``: ``new_config``, ``train_run``, ``load_run``, ``write_report``) so that this folder
imports nothing from the floors above it.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from algolens.errors import AlgolensError
from algolens.families.lego import check_variant
from algolens.options import SEED_MAX

VariantOpt = Annotated[str, typer.Option(help="random, mimic, tied, conv or parent.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for weights and data.")]
DeviceOpt = Annotated[
    str, typer.Option(help="Where to train: cpu, cuda, cuda:N or auto (CUDA when present).")
]


def _opt(default: Any, text: str) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class LegoOptions:
    """The task, model, training and mimic-init options ``lego train`` and ``lego compare``
    share: one definition, each field one ``--option`` of both commands (see :func:`command`)."""

    n_vars: int = _opt(12, "Clauses (variables) per sentence.")
    train_k: int = _opt(6, "Loss on the first K chain positions (0: all).")
    max_vars: int = _opt(14, "Positions for up to this many clauses (longer-chain probes; 0: n).")
    names: str = _opt("any", "Names by chain position: any or split (a-m/n-z).")
    layers: int = _opt(6, "Encoder layers.")
    heads: int = _opt(4, "Attention heads per layer.")
    d_model: int = _opt(128, "Residual width.")
    d_mlp: int = _opt(256, "MLP width.")
    conv_kernel: int = _opt(
        0, "Convolution kernel inside q/k/v for every variant (0: only conv, with 3, and parent, "
        "with 7).",
    )  # fmt: skip
    steps: int = _opt(1500, "Training steps.")
    batch_size: int = _opt(64, "Sentences per step.")
    lr: float = _opt(1e-3, "Peak AdamW learning rate.")
    log_every: int = _opt(50, "Steps between metrics rows (with validation).")
    stop_when: str = _opt(
        "", "Stop early at the first log row meeting this, e.g. val_acc_trained>=1."
    )
    layer_loss: float = _opt(
        1.0, "Deep supervision: weight of the earlier layers' logit-lens loss, layer l on chain "
        "positions <= l + 2 (one hop per layer); 0: the plain loss on the last layer only.",
    )  # fmt: skip
    mimic_steps: int = _opt(150, "Mimic-init steps (mimic, parent variants).")
    mimic_lr: float = _opt(3e-3, "Mimic-init Adam learning rate.")
    window: int = _opt(3, "Manipulation window |q - k| <= W (mimic, parent).")
    parent_heads: int = _opt(
        0, "Heads per layer trained towards the parent template (mimic variant; parent has 1): "
        "a clause's name token attends to its parent clause's name token. Needs --conv-kernel "
        ">= 7 in layer 0 to see the operand; 0 keeps the paper's two templates.",
    )  # fmt: skip

    def specs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's task and model tables."""
        o = self
        return specs(o.n_vars, o.train_k, o.max_vars, o.names, o.layers, o.heads, o.d_model,
                     o.d_mlp, o.conv_kernel)  # fmt: skip

    def train_config(self, device: str, seed: int = 0) -> Any:
        o = self
        return train_config(o.steps, o.batch_size, o.lr, o.log_every, o.stop_when, o.layer_loss,
                            device, seed)  # fmt: skip

    def mimic(self) -> dict[str, Any]:
        """The mimic init's settings (its seed is the run's, added per run)."""
        return {"steps": self.mimic_steps, "lr": self.mimic_lr, "window": self.window,
                "n_parent": self.parent_heads}  # fmt: skip


def command(fn: Callable[..., None], api: Any) -> Callable[..., None]:
    """``fn(api, ..., options: LegoOptions, ...)`` as a typer command: ``api`` (the run
    functions the CLI hands over) is bound, and ``options`` stands for one ``--option`` per
    field of :class:`LegoOptions`, in its place. Typer reads the signature made here."""
    hints = get_type_hints(LegoOptions)
    shared = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=f.default,
            annotation=Annotated[hints[f.name], typer.Option(help=f.metadata["help"])],
        )
        for f in fields(LegoOptions)
    ]
    params: list[inspect.Parameter] = []
    for p in list(inspect.signature(fn, eval_str=True).parameters.values())[1:]:
        params += shared if p.name == "options" else [p.replace(kind=p.KEYWORD_ONLY)]

    def run(**kwargs: Any) -> None:
        options = LegoOptions(**{f.name: kwargs.pop(f.name) for f in fields(LegoOptions)})
        fn(api, options=options, **kwargs)

    run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    run.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def register(app: typer.Typer, api: Any, friendly: Any) -> None:
    """Add ``algolens lego train`` and ``algolens lego compare`` to ``app``; their ``api`` is
    the run functions the CLI hands over (kept in the commands, no module global)."""
    lego_app = typer.Typer(
        cls=app.info.cls,  # the app's group class: its help answers without pydantic
        help="LEGO chain-of-reasoning encoders: train a variant, compare variants.",
        rich_markup_mode=None,
        no_args_is_help=True,
    )
    app.add_typer(lego_app, name="lego")
    lego_app.command("train")(friendly(command(train, api)))
    lego_app.command("compare")(friendly(command(compare, api)))


def specs(
    n_vars: int,
    train_k: int,
    max_vars: int,
    names: str,
    layers: int,
    heads: int,
    d_model: int,
    d_mlp: int,
    conv_kernel: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    task = {
        "name": "lego",
        "n_vars": n_vars,
        "train_k": train_k,
        "max_vars": max_vars,
        "names": names,
    }
    model = {"n_layers": layers, "n_heads": heads, "d_model": d_model, "d_mlp": d_mlp}
    if conv_kernel:
        model["conv_kernel"] = conv_kernel
    return task, model


def train_config(
    steps: int,
    batch_size: int,
    lr: float,
    log_every: int,
    stop_when: str,
    layer_loss: float,
    device: str,
    seed: int = 0,
) -> Any:
    """The training settings the lego commands share: a 5% warm-up, one final checkpoint."""
    from algolens.config import TrainConfig

    return TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup_frac=0.05,
        log_every=log_every,
        seed=seed,
        stop_when=stop_when,
        checkpoint_every=max(steps, 1),
        layer_loss=layer_loss,
        device=device,
    )


def run_config(
    api: Any,
    variant: str,
    task: dict[str, Any],
    model: dict[str, Any],
    train: Any,
    mimic: dict[str, Any],
    init_from: str | None = None,
) -> Any:
    """The config of one variant's run (its mimic settings recorded for a retrain)."""
    from algolens.config import InitConfig
    from algolens.families.lego.variants import variant_init

    family = variant_init(variant, {"mimic": mimic}, train.seed)
    init = InitConfig(source=init_from, variant=variant, family=family)
    return api.new_config(task, model, train, init)


def train(
    api: Any,
    variant: VariantOpt = "random",
    options: LegoOptions = LegoOptions(),
    seed: SeedOpt = 0,
    init_from: Annotated[
        str | None,
        typer.Option(
            help="Start from this run's weights where names and shapes fit (a run directory, "
            "zoo:NAME or hf:ID); random, tied and conv variants."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    device: DeviceOpt = "cpu",
    progress: ProgressOpt = True,
) -> None:
    """Train one LEGO encoder variant (mimic and parent first run their mimic init)."""
    check_variant(variant)  # one line before anything heavy is imported
    task, model = options.specs()
    cfg = options.train_config(device, seed)
    config = run_config(api, variant, task, model, cfg, {**options.mimic(), "seed": seed},
                        init_from)  # fmt: skip
    k = options.train_k or options.n_vars
    out = out or Path("runs") / f"lego_n{options.n_vars}_k{k}_{variant}_s{seed}"
    result = api.train_run(out, config, progress=progress)
    if result.interrupted:  # saved: continue with algolens train --resume, exit 130 or 143
        typer.echo(f"interrupted at step {result.steps:,}; continue with: "
                   f"algolens train --resume --out {out}", err=True)  # fmt: skip
        raise typer.Exit(result.exit_code)
    typer.echo(f"run saved in {out}")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds 0,1,2``: whole numbers in ASCII digits, each a seed torch keeps whole."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isascii() and p.isdigit() and len(p) <= 10 for p in parts) or any(
        int(p) > SEED_MAX for p in parts
    ):
        raise AlgolensError(
            f"--seeds must be comma-separated whole numbers 0 to {SEED_MAX:,}, got {text[:60]!r}"
        )
    return tuple(int(p) for p in parts)


def compare(
    api: Any,
    variants: Annotated[
        str, typer.Option(help="Comma-separated variants: random,mimic,tied,conv,parent.")
    ] = "random,mimic,tied,conv,parent",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, the same for each.")] = "0",
    options: LegoOptions = LegoOptions(),
    n_eval: Annotated[int, typer.Option(help="Sentences for the final evaluation.")] = 2048,
    out: Annotated[Path, typer.Option(help="Folder for the runs and the comparison.")] = Path(
        "runs/lego_compare"
    ),
    device: DeviceOpt = "cpu",
    progress: ProgressOpt = True,
) -> None:
    """Train the variants on the same seeds; write comparison.json and report.html into OUT.

    The runs train one after another; to train them side by side (one Ray task each, on this
    machine's cores or a cluster), sweep the same grid: algolens sweep
    examples/sweeps/lego_variants.toml --workers 2."""
    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    seed_list = parse_seeds(seeds)
    if not chosen or not seed_list:
        raise AlgolensError("give at least one variant and one seed")
    result = compare_variants(api, out, options, chosen, seed_list, device, n_eval, progress)
    _write_comparison(api, result, out)
    _print_comparison(result, options.train_k or options.n_vars, options.n_vars)


def compare_variants(
    api: Any,
    out: Path,
    options: LegoOptions,
    variants: tuple[str, ...],
    seeds: tuple[int, ...],
    device: str = "cpu",
    n_eval: int = 2048,
    progress: bool = True,
) -> dict[str, Any]:
    """Train every variant on every seed under ``out/<variant>_s<seed>`` and measure them."""
    import time

    from algolens.analysis.devices import run_on
    from algolens.families.lego.analysis import evaluate
    from algolens.tasks.base import resolve_device

    task, model = options.specs()
    train_cfg, mimic = options.train_config(device), options.mimic()
    configs = {
        (v, s): run_config(api, v, task, model, replace(train_cfg, seed=s), {**mimic, "seed": s})
        for s in seeds
        for v in variants
    }  # every config is checked first
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for (variant, seed), config in configs.items():
        run_dir = out / f"{variant}_s{seed}"
        t0 = time.perf_counter()
        trained = api.train_run(run_dir, config, progress=progress)
        run = api.load_run(run_dir)
        row = {
            "seed": seed,
            "total_seconds": time.perf_counter() - t0,
            "run": str(run_dir),
            "steps": trained.steps,
            "wall_seconds": trained.seconds,
        }
        where = resolve_device(config.train.device)  # evaluated where it was trained
        run.model.to(where)
        row.update(run_on(where, evaluate, run.model, run.task, n_eval, seed=10_000 + seed))
        results[variant].append(row)
    return {
        "task": task,
        "model": model,
        "train": asdict(train_cfg),
        "mimic": mimic,
        "seeds": list(seeds),
        "variants": results,
        "argv": sys.argv,
    }


def _write_comparison(api: Any, result: dict[str, Any], out: Path) -> None:
    from algolens.families.lego.analysis import comparison_claims
    from algolens.families.lego.report import comparison_section

    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    api.write_report(
        out / "report.html",
        "LEGO encoder variants",
        [comparison_section(result)],
        subtitle=f"task {result['task']}, model {result['model']}",
        claims=comparison_claims(result),
    )


def _print_comparison(result: dict[str, Any], k: int, n_vars: int) -> None:
    for variant, rows in result["variants"].items():
        for row in rows:
            untrained = "-" if row["acc_untrained"] is None else f"{row['acc_untrained']:.4f}"
            typer.echo(
                f"{variant:>6} s{row['seed']}: trained (1-{k}) {row['acc_trained']:.4f}  "
                f"untrained ({k + 1}-{n_vars}) {untrained}  by position "
                + " ".join(f"{a:.2f}" for a in row["accuracy"])
            )
