"""The one training loop, for any task, model and objective.

Each step draws a fresh batch from the task's seeded sampler, takes the objective's loss and
steps the optimiser under the schedule. The parts around the loop are separate and named:
metrics logging (every ``log_every`` steps, with the task's held-out evaluation), checkpoint and
resume (every ``checkpoint_every`` steps, on a signal and at the end), ``keep_every`` weight
snapshots, the ``stop_when`` rule, Grokfast, and write-backs after each step (frozen heads, the
papers' ins2/ins3 re-copies). A resumed run continues to the very weights an unbroken run with
the same seed gives on the same machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from algolens import checkpoints, store
from algolens.config import TrainConfig
from algolens.errors import AlgolensError
from algolens.tasks.base import Task, resolve_device
from algolens.train.grokfast import Grokfast
from algolens.train.layout import check_layout, check_optimizer_state
from algolens.train.loggers import ExperimentLog, open_log
from algolens.train.objective import Objective, TaskObjective
from algolens.train.schedule import optimizer, scheduler
from algolens.train.stopping import StopSignals, stop_rule


@dataclass
class TrainResult:
    """How a training run ended."""

    steps: int  # the last step done
    interrupted: bool  # stopped by a signal (resume with --resume)
    stopped_early: bool  # stopped by the stop_when rule
    seconds: float  # training seconds (wall), over every resumed part
    cpu_seconds: float = 0.0  # processor seconds of this process's threads (this session)
    signal: int = 0  # the signal that interrupted it (SIGINT, SIGTERM), 0 for none

    @property
    def exit_code(self) -> int:
        """0, or for an interrupted run the shell's code of the signal that stopped it: 130
        (Ctrl-C) or 143 (SIGTERM); SIGINT when none was recorded."""
        import signal

        return 128 + int(self.signal or signal.SIGINT) if self.interrupted else 0


class Trainer:
    """Trains ``model`` on ``task``; writes metrics, checkpoints and weights into ``out`` (or
    nothing, with ``out=None``: LEGO's mimic init trains in memory).

    ``after_step`` callables get the number of steps done after every optimiser step.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        cfg: TrainConfig,
        out: Path | None = None,
        *,
        objective: Objective | None = None,
        after_step: tuple[Callable[[int], None], ...] = (),
        evaluate: bool = True,
        progress: bool = True,
        desc: str | None = None,
    ):
        self.device = resolve_device(cfg.device)
        self.model, self.task, self.cfg, self.out = model.to(self.device), task, cfg, out
        self.objective = objective or TaskObjective(task, cfg.layer_loss)
        self.objective.check(model)
        self.after_step, self.evaluate, self.progress = after_step, evaluate, progress
        self.desc = desc or (out.name if out else "train")
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = optimizer(self.params, cfg)
        self.sched = scheduler(self.opt, cfg)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.grokfast = (
            Grokfast(cfg.grokfast_alpha, cfg.grokfast_lamb) if cfg.grokfast_lamb else None
        )
        self.stop_rule = stop_rule(cfg.stop_when)
        self.start, self.elapsed = 0, 0.0
        self.final = False  # restored from a checkpoint written as the run finished
        self.log: store.MetricsLog | None = None
        self.experiment: ExperimentLog | None = None
        self.rows: list[dict[str, Any]] = []  # the metrics rows of this session

    # ---- checkpoint and resume ---------------------------------------------------------------
    def state(self, step: int) -> dict[str, Any]:
        return {
            "step": step,
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(),
            "grokfast": self.grokfast.ema if self.grokfast else [],
            "elapsed": self.elapsed + time.perf_counter() - self._t0,
            "metrics_bytes": self.log.position() if self.log else 0,
            "metrics_sha256": self.log.digest() if self.log else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint (:func:`algolens.checkpoints.load_checkpoint`)."""
        step = state["step"]
        if not isinstance(step, int) or not 0 <= step <= self.cfg.steps:
            raise AlgolensError(f"the checkpoint is at step {step!r}, outside 0..{self.cfg.steps}")
        if self.out is not None:
            store.MetricsLog.check(self.out, state["metrics_bytes"], state.get("metrics_sha256"))
        check_optimizer_state(self.opt.state_dict(), state["optimizer"], self.params)
        check_layout(self.sched.state_dict(), state["scheduler"], "scheduler")
        if self.grokfast and state.get("grokfast"):
            check_layout([p.detach() for p in self.params], state["grokfast"], "grokfast")
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            self.gen.set_state(state["generator"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            first = str(e).splitlines()[0]
            raise AlgolensError(f"the checkpoint does not fit this run: {first}") from None
        if self.grokfast:
            self.grokfast.ema = list(state.get("grokfast", []))
        self.start, self.elapsed = step, _seconds(state.get("elapsed", 0.0))
        self.final = state.get("final") is True
        if self.out is not None:
            store.MetricsLog.truncate(self.out, int(state["metrics_bytes"]))

    def checkpoint(self, step: int, signals: StopSignals | None = None) -> None:
        """The checkpoint first, then the weights: a kill between them leaves a checkpoint to
        resume from (never weights that look finished without one)."""
        if self.out is None:
            return
        if signals is not None:
            signals.saving = True
        checkpoints.save_checkpoint(self.out, self.state(step))
        store.save_weights(self.model, self.out / store.WEIGHTS)
        if signals is not None:
            signals.saved()

    def finish(self, step: int, signals: StopSignals) -> None:
        """The final state as a checkpoint marked final, the final weights, ``run.json``'s
        ``done`` (the last write: only now is the run finished), and the checkpoint goes. A
        kill before ``done`` leaves a checkpoint from which a resume writes the same weights;
        a kill after it, a finished run whose leftover checkpoint a resume removes."""
        if self.out is None:
            return
        signals.saving = True
        state = self.state(step)
        checkpoints.save_checkpoint(self.out, {**state, "final": True})
        store.save_weights(self.model, self.out / store.WEIGHTS)
        store.mark_finished(self.out, step, state["elapsed"])
        checkpoints.drop_checkpoint(self.out)
        signals.saved()

    def keep(self, step: int) -> None:
        if self.out is not None and self.cfg.keep_every:
            path = self.out / store.SNAPSHOTS / f"step_{step:06d}.safetensors"
            store.save_weights(self.model, path, root=self.out)

    # ---- the loop ------------------------------------------------------------------------------
    def step(self) -> tuple[Callable[[], dict[str, float]], float]:
        """One optimiser step; returns the batch's metrics (lazily) and the lr it used."""
        lr = self.opt.param_groups[0]["lr"]
        # drawn on the CPU from the seeded generator: the same questions on every device
        batch = self.task.sample(self.cfg.batch_size, self.gen).to(self.device)
        half = self.cfg.precision == "bfloat16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=half):
            loss, metrics = self.objective.loss(self.model, batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.grokfast:
            self.grokfast(self.params)
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        return metrics, lr

    def log_row(
        self, done: int, metrics: Callable[[], dict[str, float]], lr: float
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"step": done, "lr": lr, **metrics()}
        if not _finite(row.get("loss", 0.0)):
            raise AlgolensError(f"training diverged at step {done}: the loss is {row['loss']}")
        if self.evaluate:
            self.model.eval()
            row.update(self.task.evaluate(self.model))
            self.model.train()
        if self.log is not None:
            self.log.write(row)
        if self.experiment is not None:
            self.experiment.write(row)
        self.rows.append(row)
        return row

    def run(self, *, stop_after: int | None = None) -> TrainResult:
        """Train from :attr:`start` to ``cfg.steps``; ``stop_after`` steps end it early as a
        signal would (tests use it to interrupt a run)."""
        torch.set_flush_denormal(True)  # subnormals cost up to 2x a step late in grokking
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        if self.out is not None:
            self.log = store.MetricsLog(self.out)
        self.experiment = open_log(self.cfg.log, self.out, self.start, asdict(self.cfg))
        if self.cfg.keep_every and self.start == 0:
            self.keep(0)
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        # with two or more threads some kernels (the embedding's backward) sum in a varying
        # order: the same seed then gives other weights; the deterministic ones cost nothing here
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            return self._loop(stop_after)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
            if self.log is not None:
                self.log.close()
            if self.experiment is not None:
                self.experiment.close()

    def _loop(self, stop_after: int | None) -> TrainResult:
        cfg = self.cfg
        self.model.train()
        bar = tqdm(
            range(self.start, cfg.steps),
            initial=self.start,
            total=cfg.steps,
            disable=not self.progress,
            desc=self.desc,
            unit="step",
            dynamic_ncols=True,
        )
        early = False
        with StopSignals() as signals:
            if self.final:  # killed while finishing: write what the finish did not
                bar.close()
                self.finish(self.start, signals)
                early = self.start < cfg.steps
                return self._result(self.start, interrupted=False, early=early)
            for step in bar:
                metrics, lr = self.step()
                done = step + 1
                for hook in self.after_step:
                    hook(done)
                if done % cfg.log_every == 0 or done == cfg.steps:
                    row = self.log_row(done, metrics, lr)
                    bar.set_postfix(loss=f"{row.get('loss', float('nan')):.3g}")
                    early = bool(self.stop_rule and self.stop_rule(row))
                if cfg.keep_every and done % cfg.keep_every == 0:
                    self.keep(done)
                stop = (
                    signals.stop
                    or early
                    or (stop_after is not None and done - self.start >= stop_after)
                )
                if done == cfg.steps or early:
                    self.finish(done, signals)
                elif done % cfg.checkpoint_every == 0 or stop:
                    self.checkpoint(done, signals)
                if stop:
                    bar.close()
                    result = self._result(done, interrupted=not early, early=early)
                    result.signal = signals.signum if result.interrupted else 0
                    return result
        self.model.eval()
        return self._result(cfg.steps, interrupted=False, early=False)

    def _result(self, done: int, interrupted: bool, early: bool) -> TrainResult:
        seconds = self.elapsed + time.perf_counter() - self._t0
        return TrainResult(done, interrupted, early, seconds, time.process_time() - self._cpu0)


def _seconds(value: Any) -> float:
    """A checkpoint's training seconds; one line if it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AlgolensError(f"corrupt checkpoint: its elapsed time is {value!r}")
    return float(value)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
