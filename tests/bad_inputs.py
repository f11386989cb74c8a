"""A table of bad inputs, one per case a tester tried: each must give one ``error:`` line on
stderr and exit code 2, and leave no run directory a plain ``train`` cannot restart.

The fast tier runs the table in-process through :func:`algolens.cli.main` (the function the
``algolens`` script calls); the slow tier runs it again as subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tests import bad_values
from tests.conftest import ADD_D2_STORED, tiny_model_spec

SUBMISSIONS = Path(__file__).resolve().parent / "data" / "submissions"
TINY = ["--layers", "1", "--heads", "2", "--d-model", "16", "--steps", "3", "--no-progress"]


# Sweep specs with one mistake each: file name -> (TOML text, words the error must hold).
SWEEP_OK = 'questions = 10\n[grid]\ntask = "add"\ndigits = 2\nlayers = 1\nsteps = 2\n'
SWEEP_SPECS = {
    "sweep_top_key": ("qestions = 10\n" + SWEEP_OK, ("did you mean 'questions'",)),
    "sweep_grid_key": (SWEEP_OK + "digit = [2, 3]\n", ("did you mean 'digits'",)),
    "sweep_no_grid": ("questions = 10\n", ("[grid]",)),
    "sweep_no_task": ("[grid]\nlayers = 1\n", ("'task'",)),
    "sweep_unknown_task": (SWEEP_OK.replace('"add"', '"addd"'), ("addd",)),
    "sweep_family_key": (SWEEP_OK.replace('"add"', '"modadd"'), ("digits",)),
    "sweep_bad_value": (SWEEP_OK.replace("layers = 1", 'layers = "two"'), ("n_layers",)),
    "sweep_bad_questions": (SWEEP_OK.replace("questions = 10", "questions = 0"), ("questions",)),
    "sweep_reuse_alone": (SWEEP_OK + 'reuse = "ins1"\n', ("init_from",)),
    "sweep_bad_name": ('name = "../x"\n' + SWEEP_OK, ("sweep name",)),
    "sweep_table_value": (SWEEP_OK + "heads = [[3]]\n", ("heads",)),
    "sweep_train_typo": (SWEEP_OK + "[train]\nbatchsize = 4\n", ("batch_size",)),
    "sweep_grid_and_model": (SWEEP_OK + "[model]\nn_layers = 3\n", ("also set by [model]",)),
    "sweep_point_twice": (SWEEP_OK.replace("steps = 2", "steps = [2, 2]"), ("twice",)),
}


@dataclass(frozen=True)
class Case:
    """``argv`` may name ``{add}`` (a finished 2-digit run), ``{mod}`` (modular addition),
    ``{lego}``, ``{paused}`` (a run with a checkpoint), ``{bad}`` (a copy of the finished run,
    or of the paused one if ``paused``, that ``setup`` breaks), ``{out}`` (a fresh path) and
    ``{tmp}``."""

    name: str
    argv: list[str]
    words: tuple[str, ...] = ()
    setup: Callable[[Path], None] | None = None
    paused: bool = False
    untouched: tuple[str, ...] = field(default=())  # files that must survive


def _other_run(run: Path) -> None:
    """The run's checkpoint as if copied from another run: run.json names another run id."""
    marker = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**marker, "run_id": "0" * 32}))


def _resume(name: str, words: tuple[str, ...], setup: Callable[[Path], None]) -> Case:
    """``train --resume`` on a copy of the paused run that ``setup`` broke."""
    return Case(name, ["train", "--resume", "--out", "{bad}", "--no-progress"], words, setup, True)


def _config(run: Path, **changes: object) -> None:
    cfg = json.loads((run / "config.json").read_text())
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            cfg[section][key] = value
        else:
            cfg[section] = value
    (run / "config.json").write_text(json.dumps(cfg))


def _replace(run: Path, name: str, make: Callable[[Path], object]) -> None:
    path = run / name
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    make(path)


def _checkpoint(run: Path, change: Callable[[dict], object]) -> None:
    path = run / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    torch.save(change(state), path)


def _drop(key: str) -> Callable[[dict], dict]:
    return lambda s: {k: v for k, v in s.items() if k != key}


def _set(key: str, value: object) -> Callable[[dict], dict]:
    return lambda s: {**s, key: value}


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path)


def _metrics_symlink(run: Path) -> None:
    target = run.parent / f"{run.name}_victim.txt"
    target.write_text("a user's file\n")
    _replace(run, "metrics.jsonl", lambda p: p.symlink_to(target))


def _bad_utf8(run: Path) -> None:
    (run / "questions.txt").write_bytes(b"1+2\n\xff\xfe+1\n")


def _tampered_state(run: Path) -> None:
    """A verify --exhaustive state of this run whose batches were set to -3."""
    from algolens.runs import load
    from algolens.verify import verify_exhaustive

    loaded, state = load(str(run)), run / "state.json"
    verify_exhaustive(
        loaded.model, loaded.task, state_path=state, batch_size=1000, stop_after=1, workers=1
    )
    state.write_text(json.dumps({**json.loads(state.read_text()), "batches": -3}))


EXHAUSTIVE = ["verify", "{bad}", "--exhaustive", "--no-progress", "--workers", "1", "--state"]
TRAIN = ["train", "add", "--digits", "2", "--out", "{out}", *TINY]

CASES = [
    # ---- usage ---------------------------------------------------------------------------
    Case("missing argument", ["verify"], ("Missing argument",)),
    Case("unknown option", ["verify", "{add}", "--bogus"], ("--bogus",)),
    Case("unknown command", ["zoo", "nosuch"], ("nosuch",)),
    Case("unknown task", ["train", "mul", "--out", "{out}"], ("unknown task",)),
    Case("unknown task flag", [*TRAIN, "--digitz", "3"], ("--digitz",)),
    # ---- training options ----------------------------------------------------------------
    Case("lr inf", [*TRAIN, "--lr", "inf"], ("finite",)),
    Case("lr nan", [*TRAIN, "--lr", "nan"], ("finite",)),
    Case("min_lr_frac nan", [*TRAIN, "--train-opt", "min_lr_frac=NaN"], ("min_lr_frac",)),
    Case("unknown model option", [*TRAIN, "--model-opt", "bogus=1"], ("bogus",)),
    Case("misspelt model option", [*TRAIN, "--model-opt", "n_layer=2"], ("n_layers",)),
    Case("n_digits true", [*TRAIN, "--task-opt", "n_digits=true"], ("n_digits",)),
    Case("n_digits 2.5", [*TRAIN, "--task-opt", "n_digits=2.5"], ("whole number",)),
    Case("grad_clip -1", [*TRAIN, "--train-opt", "grad_clip=-1"], ("grad_clip",)),
    Case("keep_every -1", [*TRAIN, "--train-opt", "keep_every=-1"], ("keep_every",)),
    Case("warmup_start -5", [*TRAIN, "--train-opt", "warmup_start=-5"], ("warmup_start",)),
    Case("beta1 2", [*TRAIN, "--train-opt", "beta1=2"], ("beta1",)),
    Case("weight decay -1", [*TRAIN, "--weight-decay", "-1"], ("weight_decay",)),
    Case("seed abc", [*TRAIN, "--seed", "abc"], ("seed",)),
    Case("steps 1e3", [*TRAIN, "--steps", "1e3"], ("steps",)),
    Case("batch size 2.5", [*TRAIN, "--batch-size", "2.5"], ("batch-size",)),
    Case("steps 0", [*TRAIN, "--steps", "0"], ("steps",)),
    Case("n_layers abc", [*TRAIN, "--model-opt", "n_layers=abc"], ("n_layers",)),
    Case("d_mlp negative", [*TRAIN, "--d-mlp", "-5"], ("d_mlp",)),
    Case("d_head negative", [*TRAIN, "--d-head", "-1"], ("d_head",)),
    Case("huge d_model", [*TRAIN, "--d-model", "60000", "--heads", "1"], ("parameters",)),
    Case("d_vocab too small", [*TRAIN, "--model-opt", "d_vocab=5"], ("d_vocab",)),
    Case("n_ctx too small", [*TRAIN, "--model-opt", "n_ctx=4"], ("n_ctx",)),
    Case("mlp for addition", [*TRAIN, "--model-opt", "kind=mlp"], ("transformer",)),
    Case("unknown model kind", [*TRAIN, "--model-opt", "kind=rnn"], ("rnn",)),
    Case(
        "lego causal",
        ["train", "lego", "--out", "{out}", *TINY, "--model-opt", "causal=true"],
        ("causal",),
    ),
    Case("unknown preset", [*TRAIN, "--preset", "fast"], ("preset",)),
    Case("freeze without source", [*TRAIN, "--freeze-heads"], ("initialisation source",)),
    Case("reuse without source", [*TRAIN, "--reuse", "ins2"], ("init",)),
    Case(
        "init from another task",
        ["train", "modadd", "--preset", "nanda", "--out", "{out}", *TINY, "--init-from", "{add}"],
        ("cannot seed",),
    ),
    Case(
        "transformer on one-hot pairs",
        [
            "train",
            "modadd",
            "--out",
            "{out}",
            "--preset",
            "nanda",
            *TINY,
            "--task-opt",
            "input=onehot",
        ],
        ("input=tokens",),
    ),
    Case(
        "init from other digits",
        ["train", "add", "--digits", "3", "--out", "{out}", *TINY, "--init-from", "{add}"],
        ("n_ctx",),
    ),
    Case(
        "init from another kind",
        [
            "train",
            "modadd",
            "--out",
            "{out}",
            "--steps",
            "3",
            "--no-progress",
            "--model-opt",
            "kind=mlp",
            "--init-from",
            "{add}",
        ],
        ("cannot seed",),
    ),
    Case("init from nothing", [*TRAIN, "--init-from", "{tmp}/nothing"], ("no run",)),
    # ---- where a run goes ----------------------------------------------------------------
    Case("out is a file", [*TRAIN[:5], "{tmp}/a_file", *TINY], ("file",)),
    Case("out under a file", [*TRAIN[:5], "{tmp}/a_file/run", *TINY], ("a_file",)),
    Case("out read-only", [*TRAIN[:5], "/proc/algolens_run", *TINY], ("/proc/algolens_run",)),
    Case("out holds a run", [*TRAIN[:5], "{add}", *TINY], ("--resume",)),
    Case("resume without out", ["train", "add", "--resume"], ("--out",)),
    Case(
        "resume a finished run",
        ["train", "--resume", "--out", "{add}", "--no-progress"],
        ("nothing to resume",),
    ),
    Case(
        "resume with other steps",
        ["train", "--resume", "--out", "{paused}", "--steps", "5", "--no-progress"],
        ("steps",),
    ),
    # ---- broken run directories ----------------------------------------------------------
    Case("config null task", ["info", "{bad}"], ("task",), lambda r: _config(r, task=None)),
    Case("config list model", ["info", "{bad}"], ("model",), lambda r: _config(r, model=[1])),
    Case(
        "config wrong type",
        ["predict", "{bad}", "1+2"],
        ("n_layers",),
        lambda r: _config(r, model__n_layers="two"),
    ),
    Case(
        "config digits contradict weights",
        ["predict", "{bad}", "1+2"],
        ("do not fit",),
        lambda r: _config(r, task__n_digits=3),
    ),
    Case(
        "config d_model contradicts weights",
        ["verify", "{bad}", "-n", "10"],
        ("weights",),
        lambda r: _config(r, model__d_model=32, model__d_head=0, model__d_mlp=0),
    ),
    Case(
        "config huge d_model",
        ["info", "{bad}"],
        ("d_model",),
        lambda r: _config(r, model__d_model=10**9),
    ),
    Case(
        "config is a folder",
        ["info", "{bad}"],
        ("config.json",),
        lambda r: _replace(r, "config.json", lambda p: p.mkdir()),
    ),
    Case(
        "config symlink loop",
        ["info", "{bad}"],
        ("config.json",),
        lambda r: _replace(r, "config.json", _symlink_loop),
    ),
    Case(
        "config not json",
        ["info", "{bad}"],
        ("corrupt",),
        lambda r: (r / "config.json").write_text("{"),
    ),
    Case(
        "metrics bad utf-8",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        lambda r: (r / "metrics.jsonl").write_bytes(b"\xff\xfe{}\n"),
    ),
    Case(
        "metrics wrong rows",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        lambda r: (r / "metrics.jsonl").write_text('[1, 2]\n"x"\n'),
    ),
    Case(
        "metrics is a folder",
        ["info", "{bad}"],
        ("metrics.jsonl",),
        lambda r: _replace(r, "metrics.jsonl", lambda p: p.mkdir()),
    ),
    Case(
        "weights corrupt",
        ["predict", "{bad}", "1+2"],
        ("model.safetensors",),
        lambda r: (r / "model.safetensors").write_bytes(b"not safetensors"),
    ),
    Case(
        "weights missing",
        ["predict", "{bad}", "1+2"],
        ("model.safetensors",),
        lambda r: (r / "model.safetensors").unlink(),
    ),
    Case(
        "weights of other shapes",
        ["predict", "{bad}", "1+2"],
        ("do not fit",),
        lambda r: _config(r, model__d_mlp=32),
    ),
    # ---- broken checkpoints (resume) -----------------------------------------------------
    _resume(
        "checkpoint a list", ("checkpoint",), lambda r: torch.save([1, 2], r / "checkpoint.pt")
    ),
    _resume("checkpoint lacks keys", ("checkpoint",), lambda r: _checkpoint(r, _drop("optimizer"))),
    _resume(
        "checkpoint bad generator",
        ("checkpoint",),
        lambda r: _checkpoint(r, _set("generator", torch.zeros(3, dtype=torch.uint8))),
    ),
    _resume(
        "checkpoint step beyond steps", ("step",), lambda r: _checkpoint(r, _set("step", 10**6))
    ),
    _resume("checkpoint step negative", ("step",), lambda r: _checkpoint(r, _set("step", -3))),
    _resume(
        "checkpoint metrics mismatch",
        ("metrics",),
        lambda r: _checkpoint(r, _set("metrics_bytes", 10**7)),
    ),
    _resume(
        "checkpoint garbage",
        ("corrupt",),
        lambda r: (r / "checkpoint.pt").write_bytes(b"PK\x03\x04junk"),
    ),
    _resume("metrics symlink on resume", ("symbolic link",), _metrics_symlink),
    _resume(
        "metrics edited on resume", ("metrics",), lambda r: (r / "metrics.jsonl").write_text("")
    ),
    _resume("another run's checkpoint", ("belongs to another run",), _other_run),
    _resume(
        "weights without a checkpoint",
        ("no checkpoint.pt",),
        lambda r: (r / "checkpoint.pt").unlink(),
    ),
    Case("empty --out", ["train", "add", "--digits", "2", "--out", "", *TINY], ("--out is empty",)),
    # ---- questions -----------------------------------------------------------------------
    Case("arabic-indic digits", ["predict", "{add}", "\u0661\u0662+\u0663\u0664"], ("malformed",)),
    Case("fullwidth digits", ["predict", "{add}", "\uff11\uff12+34"], ("malformed",)),
    Case("mixed-script digits", ["predict", "{add}", "1\u0662+34"], ("malformed",)),
    Case("em-space", ["predict", "{add}", "12\u2003+34"], ("malformed",)),
    Case("too many digits", ["predict", "{add}", "123+4"], ("more than",)),
    Case("5000 leading zeros", ["predict", "{add}", "0" * 5000 + "1+2"], ("more than",)),
    Case("wrong operator", ["predict", "{add}", "12-3"], ("add",)),
    Case("no operator", ["predict", "{add}", "1234"], ("malformed",)),
    Case("empty question", ["predict", "{add}", ""], ("malformed",)),
    Case("superscript digits", ["predict", "{mod}", "\u00b2+3"], ("ASCII",)),
    Case("circled digits", ["predict", "{mod}", "\u2460+3"], ("ASCII",)),
    Case("10000-digit operand", ["predict", "{mod}", "9" * 10_000 + "+3"], ("ASCII",)),
    Case("operand over p", ["predict", "{mod}", "5+7"], ("below",)),
    Case("empty lego sentence", ["predict", "{lego}", ""], ("empty",)),
    Case("lego only semicolons", ["predict", "{lego}", ";;"], ("empty",)),
    Case("lego malformed", ["predict", "{lego}", "a = +1 ; b = -c"], ("c",)),
    Case("questions file missing", ["predict", "{add}", "--file", "{tmp}/none.txt"], ("none.txt",)),
    Case("questions file endless", ["predict", "{add}", "--file", "/dev/zero"], ("longer than",)),
    Case(
        "questions file not UTF-8",
        ["predict", "{bad}", "--file", "{bad}/questions.txt"],
        ("not UTF-8",),
        _bad_utf8,
    ),
    Case("sample n negative", ["sample", "add", "--n", "-1"], ("--n",)),
    Case("sample bad task flag", ["sample", "add", "--digits", "0"], ("digits",)),
    # ---- files outside the run -----------------------------------------------------------
    Case(
        "state is a run's config",
        ["verify", "{add}", "--exhaustive", "--state", "{add}/config.json", "--no-progress"],
        ("state",),
        untouched=("{add}/config.json",),
    ),
    Case(
        "state an empty file",
        [*EXHAUSTIVE, "{bad}/empty.json"],
        ("empty",),
        lambda run: (run / "empty.json").write_bytes(b""),
    ),
    Case("state batches -3", [*EXHAUSTIVE, "{bad}/state.json"], ("batches",), _tampered_state),
    Case("verify n 0", ["verify", "{add}", "-n", "0"], ("questions",)),
    Case("verify unknown suite", ["verify", "{add}", "--suite", "bogus"], ("suite",)),
    Case(
        "verify unknown distribution", ["verify", "{add}", "--distribution", "x"], ("distribution",)
    ),
    # ---- zoo and hub names ---------------------------------------------------------------
    Case("zoo escaping name", ["info", "zoo:../../etc"], ("zoo",)),
    Case("zoo absolute name", ["info", "zoo:/etc"], ("zoo",)),
    Case("zoo show a path", ["zoo", "show", "/etc"], ("zoo",)),
    Case("zoo get a path", ["zoo", "get", "../x", "--out", "{out}"], ("zoo",)),
    Case("zoo get to a file", ["zoo", "get", "add_d5_l2", "--out", "{tmp}/a_file"], ("a_file",)),
    Case("zoo unknown model", ["zoo", "show", "add_d99"], ("add_d99",)),
    Case("hub offline", ["predict", "hf:nobody/nothing", "1+2"], ("hf:nobody/nothing",)),
    Case("demo into a run", ["demo", "--train", "--run-dir", "{add}"], ("already",)),
    Case(
        "train on a device that is no device",
        ["train", "add", *TINY, "--device", "gpu", "--out", "{out}"],
        ("device",),
    ),
    Case(
        "train with an unknown log",
        ["train", "add", *TINY, "--log", "mlflow", "--out", "{out}"],
        ("log",),
    ),
    Case("shards without exhaustive", ["verify", "{add}", "--shards", "2"], ("--exhaustive",)),
    Case("negative shards", ["verify", "{add}", "--exhaustive", "--shards", "-2"], ("shards",)),
    # ---- sweep -------------------------------------------------------------------------------
    Case("sweep a missing spec", ["sweep", "{tmp}/none.toml", "--out", "{out}"], ("cannot read",)),
    Case("sweep a spec that is not TOML", ["sweep", "{tmp}/a_file", "--out", "{out}"], ("TOML",)),
    *[
        Case(f"sweep spec: {name}", ["sweep", f"{{tmp}}/{name}.toml", "--out", "{out}"], words)
        for name, (_, words) in SWEEP_SPECS.items()
    ],
    Case(
        "sweep on no workers",
        ["sweep", "{tmp}/sweep_ok.toml", "--workers", "0", "--out", "{out}"],
        ("--workers",),
    ),
    # ---- import ------------------------------------------------------------------------------
    Case(
        "import a missing file", ["import", "{tmp}/none.pth", "add", "--out", "{out}"], ("no file",)
    ),
    Case("import text", ["import", "{tmp}/a_file", "add", "--out", "{out}"], ("cannot read",)),
    Case(
        "import with the wrong digit count",
        ["import", "{add}/model.safetensors", "add", "--digits", "5", "--out", "{out}"],
        ("n_ctx",),
    ),
    Case(
        "import into a run",
        ["import", "{add}/model.safetensors", "add", "--digits", "2", "--out", "{add}"],
        ("not empty",),
    ),
    # ---- verify --submission (an AdderBoard-format adder) ---------------------------------------
    Case("submission missing", ["verify", "--submission", "{tmp}/none.py"], ("none.py",)),
    Case("submission not python", ["verify", "--submission", "{tmp}/a_file"], ("Python file",)),
    Case(
        "submission without build_model",
        ["verify", "--submission", f"{SUBMISSIONS.parent}/user_script.py"],
        ("build_model",),
    ),
    Case(
        "submission returns text",
        [
            "verify",
            "--submission",
            f"{SUBMISSIONS}/returns_str.py",
            "--digits",
            "3",
            "--no-progress",
        ],
        ("not an int",),
    ),
    Case(
        "submission hangs",
        ["verify", "--submission", f"{SUBMISSIONS}/hangs.py", "--timeout", "0.2", "--no-progress"],
        ("did not return within 0.2 s",),
    ),
    Case(
        "submission exhaustive",
        ["verify", "--submission", f"{SUBMISSIONS}/right.py", "--exhaustive"],
        ("--exhaustive",),
    ),
    *[Case(*row) for row in bad_values.ROWS],  # numbers, files, weights (issue 35)
]


def prepare(tmp: Path) -> dict[str, Path]:
    """The runs the table reads: copied or trained once (a few seconds), never modified."""
    from algolens.config import TrainConfig
    from algolens.runs import train

    runs = {"tmp": tmp, "add": tmp / "add"}
    shutil.copytree(ADD_D2_STORED, runs["add"])
    quick = TrainConfig(steps=6, batch_size=16, checkpoint_every=2, log_every=2)
    spec = tiny_model_spec(d_model=16)
    mlp = {"kind": "mlp", "d_mlp": 8}
    runs["mod"] = train(tmp / "mod", {"name": "modadd", "p": 7}, mlp, quick, progress=False)
    runs["lego"] = train(tmp / "lego", {"name": "lego", "n_vars": 3}, spec, quick, progress=False)
    runs["paused"] = train(
        tmp / "paused", {"name": "add", "n_digits": 2}, spec, quick, progress=False, stop_after=4
    )
    (tmp / "a_file").write_text("a user's file\n")
    (tmp / "sweep_ok.toml").write_text(SWEEP_OK)
    for name, (text, _) in SWEEP_SPECS.items():
        (tmp / f"{name}.toml").write_text(text)
    bad_values.prepare(tmp, runs["add"])
    return runs


def fill(case: Case, runs: dict[str, Path], tmp: Path) -> tuple[list[str], dict[str, Path]]:
    """The case's argv with its paths, after ``setup`` broke its own copy of a run."""
    where = {k: str(v) for k, v in runs.items()}
    out = tmp / "out"
    where["out"] = str(out)
    if case.setup is not None:
        bad = tmp / "bad"
        shutil.copytree(runs["paused" if case.paused else "add"], bad, symlinks=True)
        case.setup(bad)
        where["bad"] = str(bad)
    paths = {"out": out}
    return [a.format(**where) for a in case.argv], paths


def snapshot(paths: list[Path]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in paths if p.is_file()}


def check(case: Case, code: int, stderr: str, out: Path) -> None:
    """One line, exit 2, no traceback, and nothing written in ``--out`` (at most the empty
    folder itself)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"{case.name}: exit {code}, stderr {stderr!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{case.name}: {stderr!r}"
    for word in case.words:
        assert word in lines[0], f"{case.name}: {word!r} not in {lines[0]!r}"
    if out.exists():
        written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        assert out.is_dir() and not written, f"{case.name}: wrote {written[:5]} in {out}"


def environment() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def run_cli(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``algolens ARGV`` as a process (offline), its output captured; never raises on exit."""
    return subprocess.run(
        [sys.executable, "-m", "algolens", *argv],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
        check=False,
    )
