"""The one training loop, for any task and any model.

Each step draws a fresh batch from the task's seeded sampler, takes the loss on the answer
positions only (mean negative log-probability, in float64 as in the seeds) and steps AdamW
under a linear warm-up then a cosine decay. Every ``log_every`` steps the task's metrics (loss
per answer digit and per sub-task) go to ``metrics.jsonl``; every ``checkpoint_every`` steps,
on Ctrl-C and at the end the weights, optimizer and sampler state are saved, so ``resume``
continues to the very weights an uninterrupted run with the same seed gives on this machine.
Options: ``keep_every`` keeps ``checkpoints/step_XXXXXX.safetensors`` for analyses that follow
training; ``grokfast_lamb`` turns on the Grokfast-EMA gradient filter (its state is checkpointed);
``stop_when`` ends the run at the first metrics row meeting a condition such as ``val_acc>=1``;
``layer_loss`` adds deep supervision through the logit lens (see :func:`batch_loss`).
"""

from __future__ import annotations

import json
import math
import operator
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from algolens.errors import AlgolensError
from algolens.store import (
    CONFIG,
    METRICS,
    TRAIN_STATE,
    WEIGHTS,
    build_model,
    load,
    load_train_state,
    load_weights,
    read_config,
    save_train_state,
    save_weights,
    write_json,
)
from algolens.tasks import answer_logprobs, make_task
from algolens.tasks.base import Batch, layer_logprobs

ATTN_PARAMS = ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V")


@dataclass
class TrainConfig:
    """Optimisation settings; the defaults are the seeds' (AdamW 8e-5, wd 0.1, batch 64)."""

    steps: int = 15_000
    batch_size: int = 64
    lr: float = 8e-5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    warmup_frac: float = 0.2  # linear warm-up over this share of the steps ...
    warmup_start: float = 0.01  # ... from this fraction of lr, then cosine decay
    min_lr_frac: float = 0.0  # the cosine ends at this fraction of lr
    grad_clip: float = 0.0  # 0: no clipping
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000
    init_from: str | None = None  # a run whose weights seed this one where names and shapes fit
    freeze_heads: bool = False  # keep the copied attention heads fixed
    keep_every: int = 0  # >0: also keep checkpoints/step_XXXXXX.safetensors every this many steps
    grokfast_alpha: float = 0.98  # Grokfast: EMA decay of the gradients ...
    grokfast_lamb: float = 0.0  # ... added back times lamb (0: off)
    # deep supervision: weight of the mean loss of the earlier blocks' logit-lens answers, each
    # block on the answers the task's layer_masks give it (LEGO: one chain hop per block)
    layer_loss: float = 0.0
    # e.g. "val_acc>=1" or "val_loss<1e-3": stop at the first metrics row that meets it
    stop_when: str = ""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise AlgolensError("steps and batch_size must be at least 1")
        if self.lr <= 0:
            raise AlgolensError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup_frac <= 1:
            raise AlgolensError(f"warmup_frac must be between 0 and 1, got {self.warmup_frac}")
        self.log_every = max(1, self.log_every)
        self.checkpoint_every = max(1, self.checkpoint_every)
        if self.layer_loss < 0:
            raise AlgolensError(f"layer_loss must be non-negative, got {self.layer_loss}")
        if not 0 <= self.grokfast_alpha < 1:
            raise AlgolensError(f"grokfast_alpha must be in [0, 1), got {self.grokfast_alpha}")
        if self.stop_when:
            parse_stop_when(self.stop_when)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


_COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def parse_stop_when(text: str) -> Callable[[dict[str, Any]], bool]:
    """``"val_loss<1e-3"`` -> a test of a metrics row (False while the key is missing)."""
    m = re.fullmatch(r"\s*(\w+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", text)
    try:
        key, op, value = m.group(1), _COMPARE[m.group(2)], float(m.group(3))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise AlgolensError(f"stop_when must look like 'val_loss<1e-3', got {text!r}") from None
    return lambda row: key in row and bool(op(row[key], value))


def grokfast_step(
    grads: list[torch.Tensor], ema: list[torch.Tensor], alpha: float, lamb: float
) -> None:
    """Grokfast-EMA (Lee et al. 2024): amplify the slow component of the gradients in place.

    ``ema = alpha * ema + (1 - alpha) * grad``; ``grad += lamb * ema``. An empty ``ema`` starts
    from the first gradients.
    """
    if not ema:
        ema.extend(g.detach().clone() for g in grads)
    else:
        torch._foreach_mul_(ema, alpha)
        torch._foreach_add_(ema, grads, alpha=1 - alpha)
    torch._foreach_add_(grads, ema, alpha=lamb)


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for ``step`` (0-based): linear warm-up, then cosine to ``min_lr_frac``."""
    warmup = int(cfg.warmup_frac * cfg.steps)
    if step < warmup:
        return cfg.lr * (cfg.warmup_start + (1 - cfg.warmup_start) * step / warmup)
    progress = (step - warmup) / max(1, cfg.steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * cosine)


def copy_matching_weights(model: nn.Module, source: nn.Module) -> list[str]:
    """Copy every parameter whose name and shape match (the seeds' "ins1" reuse).

    Attention weights whose shapes differ only in the number of heads get the overlapping
    heads copied, so a 3-head model can seed a 4-head one. Returns the copied names.
    """
    src = dict(source.named_parameters())
    copied = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            s = src.get(name)
            if s is None:
                continue
            if s.shape == p.shape:
                p.copy_(s)
                copied.append(name)
            elif name.split(".")[-1] in ATTN_PARAMS and s.shape[1:] == p.shape[1:]:
                h = min(s.shape[0], p.shape[0])
                p[:h] = s[:h]
                copied.append(f"{name}[:{h}]")
    return copied


def freeze_copied_heads(model: nn.Module, copied: list[str]) -> Callable[[], None]:
    """Hold copied attention weights (whole tensors or their copied heads) fixed.

    Returns ``restore``, to call after every optimizer step: it writes the saved values back,
    which also undoes AdamW's decoupled weight decay on them.
    """
    params = dict(model.named_parameters())
    frozen: list[tuple[torch.Tensor, torch.Tensor]] = []
    for entry in copied:
        name, _, heads = entry.partition("[:")
        if name.split(".")[-1] not in ATTN_PARAMS:
            continue
        h = int(heads.rstrip("]")) if heads else params[name].shape[0]
        frozen.append((params[name], params[name].detach()[:h].clone()))

    def restore() -> None:
        with torch.no_grad():
            for param, value in frozen:
                param[: value.shape[0]] = value

    return restore


def batch_loss(
    task: Any, model: nn.Module, batch: Batch, layer_loss: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss and the answers' log-probabilities ``[batch, n_answer]``.

    The loss is the mean negative log-probability over the loss positions (a task's
    ``loss_mask``, e.g. LEGO's train-on-first-k, selects some). With ``layer_loss > 0`` it adds
    ``layer_loss`` times the mean of the same loss taken after each earlier block, through the
    logit lens, on the answers ``task.layer_masks`` assigns that block (deep supervision).
    """
    mask = batch.labels.get("loss_mask")  # e.g. LEGO's train-on-first-k
    if not layer_loss:
        logprobs = answer_logprobs(task, model, batch.inputs, batch.targets)
        loss = -logprobs.mean() if mask is None else -(logprobs * mask).sum() / mask.sum()
        return loss, logprobs
    layer_masks = getattr(task, "layer_masks", None)
    if layer_masks is None:
        raise AlgolensError(f"layer_loss needs a task with layer_masks (lego), not {task.name}")
    per_layer = layer_logprobs(task, model, batch.inputs, batch.targets)  # [layer, batch, n]
    masks = layer_masks(batch, per_layer.shape[0]).to(per_layer.dtype)
    losses = -(per_layer * masks).sum((1, 2)) / masks.sum((1, 2)).clamp_min(1)  # [layer]
    extra = losses[:-1].mean() if len(losses) > 1 else losses.new_zeros(())
    return losses[-1] + layer_loss * extra, per_layer[-1]


class _StopFlag:
    """Turns the first Ctrl-C into a request to save and stop after the current step."""

    def __init__(self) -> None:
        self.stop = False

    def __enter__(self) -> _StopFlag:
        self._old = None
        if sys.platform != "win32":
            try:
                self._old = signal.signal(signal.SIGINT, self._handle)
            except ValueError:  # not the main thread
                self._old = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def run_name(task_spec: dict[str, Any], model_spec: dict[str, Any], seed: int) -> str:
    """The seeds' naming: ``add_d5_l2_h3_s0``."""
    parts = [str(task_spec["name"])]
    if "n_digits" in task_spec:
        parts.append(f"d{task_spec['n_digits']}")
    if "n_layers" in model_spec:
        parts.append(f"l{model_spec['n_layers']}")
    if "n_heads" in model_spec:
        parts.append(f"h{model_spec['n_heads']}")
    parts.append(f"s{seed}")
    return "_".join(parts)


def train(
    out: str | Path,
    task_spec: dict[str, Any] | None = None,
    model_spec: dict[str, Any] | None = None,
    train_cfg: TrainConfig | None = None,
    *,
    resume: bool = False,
    argv: list[str] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train into the run directory ``out`` and return it.

    ``task_spec`` and ``model_spec`` are the config sections (``{'name': 'add', 'n_digits': 2}``,
    ``{'kind': 'transformer', 'n_layers': 1, ...}``); ``n_ctx`` and ``d_vocab`` default to the
    task's. With ``resume`` they are read from ``out``. ``stop_after`` ends the run after that
    many steps as a Ctrl-C would (tests use it to interrupt a run).
    """
    out = Path(out)
    if resume:
        config = read_config(out)
        state = load_train_state(out / TRAIN_STATE)
        task = make_task(config["task"])
        cfg = TrainConfig.from_dict(config["train"])
        if train_cfg is not None and train_cfg.steps != cfg.steps:
            cfg.steps = train_cfg.steps  # extend or shorten a run; the schedule follows
            config["train"]["steps"] = cfg.steps
            write_json(out / CONFIG, config)
    else:
        if (out / CONFIG).exists():
            raise AlgolensError(f"{out} already holds a run: use --resume or another --out")
        if task_spec is None or model_spec is None:
            raise AlgolensError("a new run needs a task and a model")
        cfg = train_cfg or TrainConfig()
        task = make_task(task_spec)
        if cfg.layer_loss and not hasattr(task, "layer_masks"):
            raise AlgolensError(f"layer_loss needs a task with layer_masks (lego), not {task.name}")
        model_spec = {"kind": "transformer", **model_spec}
        if getattr(task, "n_ctx", None) is not None:
            model_spec.setdefault("n_ctx", task.n_ctx)
            model_spec.setdefault("d_vocab", task.d_vocab)
        implied = getattr(task, "model_defaults", None)  # sizes the task implies, per model kind
        for key, value in (implied(model_spec["kind"]) if implied else {}).items():
            model_spec.setdefault(key, value)
        model_spec.setdefault("seed", cfg.seed)
        model = build_model(model_spec)  # validates the spec before anything is written
        config = {
            "name": out.name,
            "task": task.to_dict(),
            "model": {"kind": model_spec["kind"], **model.cfg.to_dict()},  # type: ignore[union-attr,operator]
            "train": asdict(cfg),
            "seed": cfg.seed,
            "argv": argv if argv is not None else sys.argv,
            "versions": _versions(),
        }
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / CONFIG, config)
        (out / METRICS).unlink(missing_ok=True)
        state = None

    model = build_model(config["model"])
    copied: list[str] = []
    if cfg.init_from and state is None:
        copied = copy_matching_weights(model, load(cfg.init_from).model)
        config["init_copied"] = copied
        write_json(out / CONFIG, config)
    restore_frozen: Callable[[], None] | None = None
    if cfg.init_from and cfg.freeze_heads:
        # on resume the frozen values are read back from the checkpointed weights below
        restore_frozen = freeze_copied_heads(model, copied) if state is None else None

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        params,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(cfg.beta1, cfg.beta2),
        fused=True,
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    # subnormal floats flushed to zero on this thread too (see algolens/__init__.py)
    torch.set_flush_denormal(True)
    start = 0
    ema: list[torch.Tensor] = []  # Grokfast's gradient EMA, checkpointed with the optimizer
    elapsed = 0.0  # training seconds so far (saved in train_state.pt, not in the metrics log)
    if state is not None:
        load_weights(model, out / WEIGHTS)
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        start = int(state["step"])
        ema = list(state.get("grokfast", []))
        elapsed = float(state.get("elapsed", 0.0))
        _truncate_metrics(out / METRICS, start)
        if cfg.init_from and cfg.freeze_heads:
            restore_frozen = freeze_copied_heads(model, list(config.get("init_copied", [])))

    t0 = time.perf_counter() - elapsed
    stop_when = parse_stop_when(cfg.stop_when) if cfg.stop_when else None

    def checkpoint(step: int) -> None:
        save_weights(model, out / WEIGHTS)
        saved = {"step": step, "optimizer": opt.state_dict(), "generator": gen.get_state()}
        saved.update({"grokfast": ema, "elapsed": time.perf_counter() - t0})
        save_train_state(out / TRAIN_STATE, saved)

    def keep(step: int) -> None:
        save_weights(model, out / "checkpoints" / f"step_{step:06d}.safetensors")

    if cfg.keep_every and start == 0:
        keep(0)

    model.train()
    evaluate = getattr(task, "evaluate", None)
    bar = tqdm(
        range(start, cfg.steps),
        initial=start,
        total=cfg.steps,
        disable=not progress,
        desc=out.name,
        unit="step",
        dynamic_ncols=True,
    )
    stop_early = False
    with _StopFlag() as flag, (out / METRICS).open("a") as log:
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            batch = task.sample(cfg.batch_size, gen)
            loss, logprobs = batch_loss(task, model, batch, cfg.layer_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grokfast_lamb:
                grads = [p.grad for p in params if p.grad is not None]
                grokfast_step(grads, ema, cfg.grokfast_alpha, cfg.grokfast_lamb)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if restore_frozen is not None:
                restore_frozen()
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                row = {"step": done, "lr": lr_at(cfg, step)}
                row.update(task.step_metrics(logprobs.detach(), batch))
                if evaluate is not None:
                    model.eval()
                    row.update(evaluate(model))
                    model.train()
                log.write(json.dumps(row) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{row['loss']:.3g}")
                if stop_when is not None and stop_when(row):
                    flag.stop = stop_early = True
            if cfg.keep_every and done % cfg.keep_every == 0:
                keep(done)
            if done % cfg.checkpoint_every == 0:
                checkpoint(done)
            if flag.stop or (stop_after is not None and done - start >= stop_after):
                checkpoint(done)
                bar.close()
                if flag.stop and not stop_early:
                    print(f"interrupted at step {done}; continue with --resume", file=sys.stderr)
                return out
    checkpoint(cfg.steps)
    model.eval()
    return out


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log rows past the checkpoint being resumed, so the log matches an unbroken run."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line + "\n")
        except (json.JSONDecodeError, KeyError):
            continue
    path.write_text("".join(keep))


def _versions() -> dict[str, str]:
    import algolens

    return {
        "algolens": algolens.__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
