"""``algolens lego train|compare``: LEGO encoder variants and their side-by-side comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from algolens.cli import app, friendly
from algolens.errors import AlgolensError

lego_app = typer.Typer(
    help="LEGO chain-of-reasoning encoders: train a variant, compare variants.",
    no_args_is_help=True,
)
app.add_typer(lego_app, name="lego")

VariantOpt = Annotated[str, typer.Option(help="random, mimic, tied, conv or parent.")]
NVarsOpt = Annotated[int, typer.Option(help="Clauses (variables) per sentence.")]
TrainKOpt = Annotated[int, typer.Option(help="Loss on the first K chain positions (0: all).")]
MaxVarsOpt = Annotated[
    int, typer.Option(help="Positions for up to this many clauses (longer-chain probes; 0: n).")
]
LayersOpt = Annotated[int, typer.Option(help="Encoder layers.")]
HeadsOpt = Annotated[int, typer.Option(help="Attention heads per layer.")]
DModelOpt = Annotated[int, typer.Option(help="Residual width.")]
DMlpOpt = Annotated[int, typer.Option(help="MLP width.")]
StepsOpt = Annotated[int, typer.Option(help="Training steps.")]
BatchOpt = Annotated[int, typer.Option(help="Sentences per step.")]
LrOpt = Annotated[float, typer.Option(help="Peak AdamW learning rate.")]
LogOpt = Annotated[int, typer.Option(help="Steps between metrics rows (with validation).")]
StopOpt = Annotated[
    str, typer.Option(help="Stop early at the first log row meeting this, e.g. val_acc_trained>=1.")
]
MimicStepsOpt = Annotated[int, typer.Option(help="Mimic-init steps (mimic, parent variants).")]
MimicLrOpt = Annotated[float, typer.Option(help="Mimic-init Adam learning rate.")]
WindowOpt = Annotated[int, typer.Option(help="Manipulation window |q - k| <= W (mimic, parent).")]
LayerLossOpt = Annotated[
    float,
    typer.Option(
        help="Deep supervision: weight of the earlier layers' logit-lens loss, layer l on chain "
        "positions <= l + 2 (one hop per layer); 0: the plain loss on the last layer only."
    ),
]
ConvOpt = Annotated[
    int,
    typer.Option(
        help="Convolution kernel inside q/k/v for every variant (0: only conv, with 3, and "
        "parent, with 7)."
    ),
]
ParentOpt = Annotated[
    int,
    typer.Option(
        help="Heads per layer trained towards the parent template (mimic variant; parent "
        "has 1): a clause's name token attends to its parent clause's name token. Needs "
        "--conv-kernel >= 7 in layer 0 to see the operand; 0 keeps the paper's two templates."
    ),
]
NamesOpt = Annotated[str, typer.Option(help="Names by chain position: any or split (a-m/n-z).")]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]


def _specs(
    n_vars: int, train_k: int, max_vars: int, names: str, layers: int, heads: int, d_model: int,
    d_mlp: int, conv_kernel: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    task = {"name": "lego", "n_vars": n_vars, "train_k": train_k, "max_vars": max_vars}
    task["names"] = names
    model = {"n_layers": layers, "n_heads": heads, "d_model": d_model, "d_mlp": d_mlp}
    if conv_kernel:
        model["conv_kernel"] = conv_kernel
    return task, model


@lego_app.command("train")
@friendly
def train_cmd(
    variant: VariantOpt = "random",
    n_vars: NVarsOpt = 12,
    train_k: TrainKOpt = 6,
    max_vars: MaxVarsOpt = 14,
    names: NamesOpt = "any",
    layers: LayersOpt = 6,
    heads: HeadsOpt = 4,
    d_model: DModelOpt = 128,
    d_mlp: DMlpOpt = 256,
    conv_kernel: ConvOpt = 0,
    steps: StepsOpt = 1500,
    batch_size: BatchOpt = 64,
    lr: LrOpt = 1e-3,
    log_every: LogOpt = 50,
    stop_when: StopOpt = "",
    layer_loss: LayerLossOpt = 1.0,
    mimic_steps: MimicStepsOpt = 150,
    mimic_lr: MimicLrOpt = 3e-3,
    window: WindowOpt = 3,
    parent_heads: ParentOpt = 0,
    seed: Annotated[int, typer.Option(help="Seed for weights and data.")] = 0,
    init_from: Annotated[
        str | None,
        typer.Option(
            help="Start from this run's weights where names and shapes fit (a run directory, "
            "zoo:NAME or a hub id); random, tied and conv variants."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    progress: ProgressOpt = True,
) -> None:
    """Train one LEGO encoder variant (mimic and parent write their initialisation to
    OUT/mimic_init)."""
    from algolens.models.lego_mimic import MimicConfig
    from algolens.models.lego_variants import train_variant
    from algolens.train import TrainConfig

    task, model = _specs(
        n_vars, train_k, max_vars, names, layers, heads, d_model, d_mlp, conv_kernel
    )
    cfg = TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, warmup_frac=0.05, log_every=log_every,
        seed=seed, stop_when=stop_when, checkpoint_every=max(steps, 1), layer_loss=layer_loss,
        init_from=init_from,
    )  # fmt: skip
    mimic = MimicConfig(steps=mimic_steps, lr=mimic_lr, window=window, n_parent=parent_heads,
                        seed=seed)  # fmt: skip
    out = out or Path("runs") / f"lego_n{n_vars}_k{train_k or n_vars}_{variant}_s{seed}"
    path = train_variant(out, variant, task, model, cfg, mimic, progress=progress, argv=sys.argv)
    typer.echo(f"run saved in {path}")


@lego_app.command("compare")
@friendly
def compare_cmd(
    variants: Annotated[
        str, typer.Option(help="Comma-separated variants: random,mimic,tied,conv,parent.")
    ] = "random,mimic,tied,conv,parent",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, the same for each.")] = "0",
    n_vars: NVarsOpt = 12,
    train_k: TrainKOpt = 6,
    max_vars: MaxVarsOpt = 14,
    names: NamesOpt = "any",
    layers: LayersOpt = 6,
    heads: HeadsOpt = 4,
    d_model: DModelOpt = 128,
    d_mlp: DMlpOpt = 256,
    conv_kernel: ConvOpt = 0,
    steps: StepsOpt = 1500,
    batch_size: BatchOpt = 64,
    lr: LrOpt = 1e-3,
    log_every: LogOpt = 50,
    stop_when: StopOpt = "",
    layer_loss: LayerLossOpt = 1.0,
    mimic_steps: MimicStepsOpt = 150,
    mimic_lr: MimicLrOpt = 3e-3,
    window: WindowOpt = 3,
    parent_heads: ParentOpt = 0,
    n_eval: Annotated[int, typer.Option(help="Sentences for the final evaluation.")] = 2048,
    out: Annotated[Path, typer.Option(help="Folder for the runs and the comparison.")] = Path(
        "runs/lego_compare"
    ),
    progress: ProgressOpt = True,
) -> None:
    """Train the variants on the same seeds; write comparison.json and report.html into OUT."""
    from algolens.models.lego_mimic import MimicConfig
    from algolens.models.lego_variants import compare_variants
    from algolens.report.lego import write_comparison_report
    from algolens.train import TrainConfig

    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise AlgolensError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if not chosen or not seed_list:
        raise AlgolensError("give at least one variant and one seed")
    task, model = _specs(
        n_vars, train_k, max_vars, names, layers, heads, d_model, d_mlp, conv_kernel
    )
    cfg = TrainConfig(
        steps=steps, batch_size=batch_size, lr=lr, warmup_frac=0.05, log_every=log_every,
        stop_when=stop_when, checkpoint_every=max(steps, 1), layer_loss=layer_loss,
    )  # fmt: skip
    mimic = MimicConfig(steps=mimic_steps, lr=mimic_lr, window=window, n_parent=parent_heads)
    result = compare_variants(
        out, task, model, cfg, chosen, seed_list, mimic, n_eval=n_eval, progress=progress
    )
    result["argv"] = sys.argv
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    report = write_comparison_report(result, out / "report.html")
    k = train_k or n_vars
    for variant, rows in result["variants"].items():
        for row in rows:
            acc = row["accuracy"]
            typer.echo(
                f"{variant:>6} s{row['seed']}: trained (1-{k}) {row['acc_trained']:.4f}  "
                f"untrained ({k + 1}-{n_vars}) "
                + (f"{row['acc_untrained']:.4f}" if row["acc_untrained"] is not None else "-")
                + "  by position "
                + " ".join(f"{a:.2f}" for a in acc)
            )
    typer.echo(f"comparison written to {out / 'comparison.json'} and {report}")
