"""Runs: load one (a directory, ``zoo:NAME`` or ``hf:OWNER/NAME``), start one, resume one.

This is where a run's parts meet: the config (:mod:`algolens.config`), its files
(:mod:`algolens.store`), its task and family (:mod:`algolens.families`), the model and the
trainer. Everything a new run needs is built and checked before its directory is written, so a
refused start leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from algolens import checkpoints, store
from algolens.config import InitConfig, RunConfig, TrainConfig
from algolens.errors import AlgolensError
from algolens.families import family_of, make_task
from algolens.models import build_model, model_spec
from algolens.models.tokenizer import VocabTokenizer
from algolens.plan import MODEL_FLAGS as MODEL_FLAGS
from algolens.plan import RunPlan
from algolens.plan import new_config as new_config
from algolens.plan import recipe_config as recipe_config
from algolens.plan import recipe_plan as recipe_plan
from algolens.store import ZOO_DIR as ZOO_DIR  # re-exported: the zoo lives in store
from algolens.store import zoo_names as zoo_names
from algolens.store import zoo_path
from algolens.tasks.base import Task, check_model_fits, model_device, resolve_device

if TYPE_CHECKING:
    from transformer_lens import ActivationCache

    from algolens.analysis.causal import Budget, Declared
    from algolens.analysis.patching import LogitLens
    from algolens.analysis.units import Causal
    from algolens.families.base import Analysis
    from algolens.train import TrainResult
    from algolens.verify import VerifyResult


@dataclass
class Run:
    """A loaded run: ``.model`` (in eval mode), ``.task``, ``.config`` and ``.predict``."""

    path: Path | None
    config: RunConfig
    model: nn.Module
    task: Any  # a Task; most analyses need a SequenceTask, which a run's task may not be
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.name or (self.path.name if self.path else "run")

    def predict(self, questions: list[str]) -> list[str]:
        """Greedy answers: ``run.predict(['12+34', '99+1']) == ['046', '100']``."""
        return list(self.task.predict(self.model, questions))

    def verify(
        self,
        questions: int = 100_000,
        distribution: str = "training",
        seed: int = 0,
        precision: str = "auto",
        workers: int | None = None,
    ) -> VerifyResult:
        """Exact-match verdict on seeded random questions (``algolens verify``): ``.failures``,
        ``.questions``, ``.interval`` and failures by class. ``precision`` and ``workers`` as in
        :func:`algolens.verify.verify_batches` (the bfloat16 screen and one-thread worker
        processes: same verdicts; by default one worker per core for 64 batches or more)."""
        from algolens.options import check_precision
        from algolens.verify import verify

        prec = check_precision(precision)
        return verify(self.model, self.task, questions=questions, distribution=distribution,  # type: ignore[arg-type]
                      seed=seed, precision=prec, workers=workers)  # fmt: skip

    def analyse(
        self, questions: int = 1000, seed: int = 0, progress: bool = False,
        device: str | None = None,
    ) -> Analysis:  # fmt: skip
        """The family's analysis (``algolens analyse`` without the report): ``.claims`` each
        with ``.passed`` and its evidence, and ``.data``, the family's results.

        ``device`` (``cpu``, ``cuda``, ``auto``; default: where the model is) moves the model
        there and runs the analysis there; the results come back on the CPU."""
        from algolens.analysis.devices import run_on

        family = family_of(self.task.name)
        if family.analyse is None:
            raise AlgolensError(f"no analysis for task {self.task.name!r} yet")
        where = resolve_device(device) if device is not None else model_device(self.model)
        self.model.to(where)
        # a reused model: its source's confirmed jobs are checked in it
        source = load(self.config.init.source) if self.config.init.source is not None else None
        if source is not None:
            source.model.to(where)
        return run_on(where, family.analyse, self, questions=questions, seed=seed,
                      progress=progress, source=source)  # fmt: skip

    def run_with_cache(
        self, questions: str | list[str], **kwargs: Any
    ) -> tuple[Tensor, ActivationCache]:
        """Logits and TransformerLens ``ActivationCache`` for questions written as text."""
        model: Any = self.model
        return model.run_with_cache(self.to_tokens(questions), **kwargs)

    def to_tokens(self, questions: str | list[str]) -> Tensor:
        """Input tokens ``[batch, n_ctx]``: ``run.to_tokens('12345+54321')`` (answers filled in
        by the task's oracle, so teacher-forced logits and caches see the right answer)."""
        return self.task.tokenize([questions] if isinstance(questions, str) else list(questions))

    def to_str_tokens(self, tokens: str | Tensor | list[int]) -> list[str]:
        """The text of each token of one question: ``run.to_str_tokens('1+2')`` or of a row of
        token ids, like TransformerLens's ``to_str_tokens``."""
        if isinstance(tokens, str):
            tokens = self.to_tokens(tokens)[0]
        ids = tokens.flatten().tolist() if isinstance(tokens, Tensor) else list(tokens)
        vocab = self.task.vocab
        if not vocab:
            raise AlgolensError(f"the {self.task.name} task's inputs are not tokens")
        bad = [t for t in ids if not 0 <= int(t) < len(vocab)]
        if bad:
            raise AlgolensError(f"token ids must be below {len(vocab)}, got {bad[0]}")
        return [vocab[int(t)] for t in ids]

    def to_transformer_lens(self) -> Any:
        """The model as a TransformerLens ``TransformerBridge`` with the same logits, in eval
        mode and with a tokenizer (``to_tokens``, ``to_str_tokens``, ``generate``)."""
        return self._lens_model().to_transformer_lens()

    def to_hooked_transformer(self) -> Any:
        """The model as a TransformerLens 3.x ``HookedTransformer`` with the same logits, in eval
        mode, with a tokenizer (``to_tokens``, ``generate``); under TransformerLens 4, one error."""
        return self._lens_model().to_hooked_transformer()

    def logit_lens(self, questions: str | list[str]) -> LogitLens:
        """The logit lens at the answer positions: what the model would answer after each block
        (:func:`algolens.analysis.patching.logit_lens`); ``.accuracy()`` per layer and digit."""
        from algolens.analysis.patching import logit_lens

        return logit_lens(self._lens_model(), self.task, self.to_tokens(questions))

    def declared(self, op: str | None = None) -> Declared:
        """The hypothesis the run's family declares for its task (arithmetic: the carry and
        borrow algorithm of Quirke & Barez 2024; Quirke, Neo & Barez 2024; ``op`` picks ``'add'``,
        ``'sub'`` (a mixed model's default) or ``'sub_direct'``), with its pair samplers."""
        family = family_of(self.task.name)
        if family.hypothesis is None:
            raise AlgolensError(f"no hypothesis for the {self.task.name} task yet")
        return family.hypothesis(self.task, op=op)

    def iia(
        self, variables: list[str] | None = None, *, op: str | None = None,
        pairs: int = 10_000, targeted_pairs: int = 2_000, search_pairs: int = 1_000, seed: int = 0,
    ) -> dict[str, Any]:  # fmt: skip
        """Interchange-intervention accuracy of the family's hypothesis (:meth:`declared`): per
        variable (all, or ``variables``) the best node of a search, its IIA with Clopper-Pearson
        intervals on random and targeted pairs, and the negative controls, as JSON. A model with
        no heads or positions (the one-hot MLP) gets its family's measurement over groups of
        neurons (``{"groups": ...}``) on ``pairs`` pairs."""
        from algolens.analysis.causal import Budget, measure_hypothesis

        budget = Budget(pairs=pairs, targeted_pairs=targeted_pairs, search_pairs=search_pairs,
                        seed=seed)  # fmt: skip
        declared = self.declared(op)
        if not hasattr(self.model, "blocks"):
            if declared.neurons is None or variables:
                why = "per-variable" if declared.neurons else "any"
                raise AlgolensError(f"this model has no heads or positions: no {why} IIA")
            return {"groups": declared.neurons(self.model, budget)}
        return measure_hypothesis(self.model, self.task, declared, variables, budget).to_json()

    def causal(
        self, units: tuple[str, ...] = ("iia", "sets", "das", "circuit", "edges", "reuse"), *,
        op: str | None = None, variables: list[str] | None = None, budget: Budget | None = None,
        progress: bool = False, compare: str | Run | None = None,
    ) -> Causal:  # fmt: skip
        """The generic causal units on the family's hypothesis: IIA per variable, node sets
        and DAS for the variables no single node holds, the circuit (sufficiency beside the
        model's own verification, minimality), its edges by path patching, and which circuit
        nodes the ``compare`` model's circuit also has (default: the model this run was
        initialised from; none: the reuse unit says so). ``.to_json()`` is what ``algolens analyse
        --causal`` writes as causal.json; ``.claims`` and ``.sections`` go into its report. A
        family without a hypothesis gets the circuit alone."""
        from algolens.analysis.causal import Budget
        from algolens.analysis.units import Compared, Context, run_units
        from algolens.analysis.units import units as make_units
        from algolens.verify import verify

        family = family_of(self.task.name)
        declared = self.declared(op) if family.hypothesis is not None else None
        ctx = Context(self.model, self.task, declared, budget or Budget(), verify, variables)
        other = compare if compare is not None else self.config.init.source
        if other is not None and "reuse" in units:
            other = load(other) if isinstance(other, str) else other
            ctx.compare = Compared(other.name, other.model, other.task)
        return run_units(ctx, make_units(units), progress)

    def _lens_model(self) -> Any:
        if not hasattr(self.model, "to_transformer_lens"):
            raise AlgolensError(
                f"a {self.config.model.get('kind')} model has no TransformerLens form"
            )
        return self.model


# ---- loading ------------------------------------------------------------------------------------
def load_run(path: str | Path) -> Run:
    """Load a run directory; a missing or corrupt one raises :class:`AlgolensError`."""
    path = Path(path)
    config = store.read_config(path)
    task = make_task(config.task)
    try:
        check_model_fits(task.name, config.model, task.model_defaults(config.model["kind"]))
    except AlgolensError as e:
        raise AlgolensError(f"{path / store.CONFIG}: its task and model do not fit: {e}") from None
    model = build_model(config.model)
    store.load_weights(model, store.weights_path(path))
    model.eval()
    vocab, net = getattr(task, "vocab", ()), model
    if vocab and hasattr(net, "to_tokens"):  # model.to_tokens, to_str_tokens; generate on TL's
        net.tokenizer = VocabTokenizer(vocab)  # type: ignore[assignment]
    return Run(path=path, config=config, model=model, task=task, metrics=store.read_metrics(path))


def load(name: str | Path) -> Run:
    """A run from a directory, a zoo name (``'zoo:add_d5_l2'``) or a hub id (``'hf:owner/x'``)."""
    text = str(name)
    if text.startswith("zoo:"):
        return load_run(zoo_path(text[4:]))
    if text.startswith("hf:"):
        from algolens.hub import from_hub

        return load_run(from_hub(text[3:]))
    store.check_ref(text)
    return load_run(text)


# ---- new runs ------------------------------------------------------------------------------------
def import_state_dict(
    source: Path,
    out: Path,
    task: dict[str, Any],
    model: dict[str, Any] | None = None,
    *,
    note: Any = None,
) -> Run:
    """A run directory from a HookedTransformer state dict (a ``.pth`` such as the addition
    papers' published models, or ``.safetensors``): the architecture is read from the weights'
    shapes, the task is given, the weights load by name and strictly. Weights that are not
    float32 are converted (``note(text)`` is told, once the run is written) or refused
    (:func:`algolens.models.imported.checked_state_dict`)."""
    from algolens.models.imported import checked_state_dict
    from algolens.models.transformer import hooked_transformer_spec

    state_dict, notes = checked_state_dict(_read_state_dict(Path(source)))
    spec = {**hooked_transformer_spec(state_dict), **(model or {})}
    needs = make_task(task).model_defaults("transformer").get("n_ctx")
    if needs is not None and spec["n_ctx"] != needs:
        raise AlgolensError(
            f"the weights have n_ctx {spec['n_ctx']} but this {task['name']} task needs {needs}: "
            "are the task's flags (--digits) right?"
        )
    config = new_config(task, spec, TrainConfig(), name=Path(out).name)  # argv records the import
    net: Any = build_model(config.model)
    net.load_hooked_transformer_state_dict(state_dict)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise AlgolensError(f"{out} exists and is not empty: give a new directory")
    store.make_run_dir(out)
    store.write_config(out, config)
    store.save_weights(net, out / store.WEIGHTS)
    store.mark_finished(out, 0)  # nothing to train: complete as imported
    run = load_run(out)
    for text in notes if note is not None else ():
        note(text)
    return run


def _read_state_dict(path: Path) -> dict[str, Any]:
    """A state dict from ``.safetensors`` or a torch file read with ``weights_only`` (no pickled
    code runs); a ``{'state_dict': ...}`` or ``{'model': ...}`` wrapper is unwrapped."""
    import torch

    if not path.is_file():
        raise AlgolensError(f"no file {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(path))
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file is one line
        raise AlgolensError(f"cannot read {path} as weights: {type(e).__name__}") from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise AlgolensError(f"{path} does not hold a state dict (names to tensors)")
    return data


def _start_model(plan: RunPlan, progress: bool) -> tuple[nn.Module, RunConfig, Any]:
    """The model a new run starts from (reused weights, a family's initialisation) and the
    config with what was copied recorded in it; returns the write-backs to run after steps."""
    config, task = plan.config, plan.task
    model = build_model(plan.model)
    init = config.init
    after: tuple[Any, ...] = ()
    if init.source is not None:
        source = load(init.source)
        init, after = _reuse(model, task, source, init)
    family = family_of(task.name)
    if family.initialise is not None and (init.variant or init.family):
        family.initialise(model, task, init, progress=progress)
    return model, replace(config, init=init), after


def _reuse(
    model: nn.Module, task: Task, source: Run, init: InitConfig
) -> tuple[InitConfig, tuple[Any, ...]]:
    """Copy the source's weights in (ins1) and set up the papers' re-copies (ins2, ins3) or
    frozen heads; returns the init with what was copied, and the write-backs."""
    from algolens.train import copy_matching_weights, recopy_entries

    kinds = model_spec(source.model)["kind"], model_spec(model)["kind"]
    if kinds[0] != kinds[1]:
        raise AlgolensError(f"--init-from {init.source}: a {kinds[0]} cannot seed a {kinds[1]}")
    _check_source_task(str(init.source), source.task, task, kinds[1])
    copied = copy_matching_weights(model, source.model)
    if not copied:
        raise AlgolensError(f"--init-from {init.source}: none of its weights fits this model")
    recopy: list[str] = []
    if init.reuse in ("ins2", "ins3"):
        from algolens.analysis.ablation import useful_heads

        net: Any = source.model
        recopy = recopy_entries(init.reuse, copied, useful_heads(net, source.task))
    init = replace(init, copied=copied, recopy=recopy)
    return init, write_backs(model, source.model, init)


def _check_source_task(name: str, source: Any, task: Any, kind: str) -> None:
    """A source must be of the same family and read the same tokens at the same positions:
    addition seeds mixed add/sub of the same digit count (the papers' reuse); 5 digits cannot
    seed 6, and LEGO cannot seed arithmetic."""
    if family_of(source.name).name != family_of(task.name).name:
        raise AlgolensError(
            f"--init-from {name}: a {source.name} run cannot seed a {task.name} run"
        )
    want, have = task.model_defaults(kind), source.model_defaults(kind)
    if want != have:
        diff = ", ".join(
            f"{k} {have.get(k)} (needs {v})" for k, v in want.items() if have.get(k) != v
        )
        raise AlgolensError(f"--init-from {name}: its task does not fit this one: {diff}")


def write_backs(model: nn.Module, source: nn.Module, init: InitConfig) -> tuple[Any, ...]:
    """The papers' re-copies every ``recopy_every`` steps, and frozen heads after every step."""
    from algolens.train import WriteBack, head_entries

    out = []
    if init.recopy:
        out.append(WriteBack(model, source, init.recopy, init.recopy_every))
    if init.freeze_heads:
        out.append(WriteBack(model, source, head_entries(init.copied), 1))
    return tuple(out)


def train_run(
    out: str | Path,
    config: RunConfig | RunPlan,
    *,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Start a new run in ``out`` from a plan (or a stored config, read back typed) and train
    it; returns the :class:`TrainResult`."""
    from algolens.train import Trainer

    out = Path(out)
    store.claim_run_dir(out, create=False)  # an empty folder or a run's own, before any work
    state, detail = store.run_state(out) if out.is_dir() else ("new", "")
    if state == "cut":
        raise AlgolensError(detail)
    if state != "new":
        raise AlgolensError(f"{out} already holds a run: use --resume or another --out")
    plan = config if isinstance(config, RunPlan) else RunPlan.of(config)
    model, config, after = _start_model(plan, progress)
    trainer = Trainer(model, plan.task, config.train, out, after_step=after, progress=progress)
    if config.name == "run":
        config = replace(config, name=out.name)
    # recorded where training happens: a sweep builds its configs in another process
    config = replace(config, provenance=replace(config.provenance, threads=torch.get_num_threads()))
    store.claim_run_dir(out)
    with store.writer_lock(out):
        store.write_config(out, config)
        return trainer.run(stop_after=stop_after)


def resume_run(
    out: str | Path,
    *,
    steps: int | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Continue the run in ``out`` from its checkpoint, to the weights an unbroken run gives."""
    from algolens.train import Trainer

    out = Path(out)
    config = store.read_config(out)
    if steps is not None and steps != config.train.steps:
        raise AlgolensError(
            f"{out} was started for {config.train.steps:,} steps; its schedule depends on that, "
            f"so it resumes only to {config.train.steps:,} (drop --steps)"
        )
    with store.writer_lock(out):
        state = checkpoints.load_checkpoint(out)
        if store.run_state(out)[0] == "finished":  # killed after its finish, before the cleanup
            checkpoints.drop_checkpoint(out)
            return _finished_result(state)
        task = make_task(config.task)
        model = build_model(config.model)
        after: tuple[Any, ...] = ()
        if config.init.source is not None and (config.init.recopy or config.init.freeze_heads):
            after = write_backs(model, load(config.init.source).model, config.init)
        trainer = Trainer(model, task, config.train, out, after_step=after, progress=progress)
        trainer.restore(state)
        return trainer.run(stop_after=stop_after)


def _finished_result(state: dict[str, Any]) -> TrainResult:
    """The result of a run whose finish had written all but the removal of its checkpoint."""
    from algolens.train import TrainResult

    seconds = float(state.get("elapsed", 0.0)) if isinstance(state.get("elapsed"), float) else 0.0
    return TrainResult(state["step"], interrupted=False, stopped_early=False, seconds=seconds)


def train(
    out: str | Path,
    task: dict[str, Any],
    model: dict[str, Any],
    train_cfg: TrainConfig | dict[str, Any] | None = None,
    *,
    init: InitConfig | dict[str, Any] | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    argv: list[str] | None = None,
) -> Path:
    """Train a new run in ``out`` in one call; returns ``out``.

    >>> train("runs/add_d2", {"name": "add", "n_digits": 2},
    ...       {"n_layers": 2, "n_heads": 4, "d_model": 64},
    ...       {"steps": 800, "batch_size": 256, "lr": 3e-3, "warmup_frac": 0.05})  # doctest: +SKIP
    """
    from algolens.options import from_dict

    if not isinstance(train_cfg, TrainConfig):
        train_cfg = from_dict(TrainConfig, train_cfg or {}, "training")
    if not isinstance(init, InitConfig):
        init = from_dict(InitConfig, init or {}, "initialisation")
    config = new_config(task, model, train_cfg, init, name=Path(out).name, argv=argv)
    train_run(out, config, progress=progress, stop_after=stop_after)
    return Path(out)
