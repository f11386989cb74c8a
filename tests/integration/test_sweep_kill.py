"""kill -9 a sweep's worker and its driver at random moments, 20 times: the reruns finish it
with every grid point exactly once, each run's weights bit for bit those of a sweep that was
never interrupted (slow tier).

The sweep runs as ``algolens sweep`` in a driver process whose Ray is replaced by
:class:`ForkRay`: each run is a forked worker process, so the worker can be killed apart from
the driver (the driver then reports the run as failed and goes on), and the driver with its
worker (kill of the process group) as a machine going down would. Every process trains on one
thread, as a Ray task does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SPEC = """
name = "killed"
questions = 100
[grid]
task = "add"
digits = 2
layers = 1
heads = 2
d_model = 16
steps = [30, 45]
[train]
batch_size = 32
log_every = 1
checkpoint_every = 3
"""
TRIALS = 20
DRIVE = (
    "import sys; from tests.integration.test_sweep_kill import drive; "
    "sys.exit(drive(*sys.argv[1:]))"
)


class _Call:
    def __init__(self, fn: Any, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args


def _work(fn: Any, args: tuple[Any, ...], send: Any) -> None:
    try:
        send.send(("ok", fn(*args)))
    except BaseException as e:  # the driver reports it, as Ray would
        send.send(("error", f"{type(e).__name__}: {e}"))


class ForkRay:
    """Ray's calls as the sweep uses them, each task a forked process started when its result
    is asked for; its pid is written to ``pid_file`` for the test to kill."""

    def __init__(self, pid_file: Path) -> None:
        self.pid_file = pid_file

    def remote(self, **_: Any) -> Any:
        class Task:
            def __init__(self, fn: Any) -> None:
                self.remote = lambda *args: _Call(fn, args)

        return Task

    def wait(self, pending: list[Any], num_returns: int, timeout: float) -> tuple[list, list]:
        return pending[:1], pending[1:]

    def cancel(self, ref: Any, force: bool = False) -> None:
        pass

    def get(self, call: _Call) -> Any:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=_work, args=(call.fn, call.args, send))
        worker.start()
        send.close()
        self.pid_file.write_text(str(worker.pid))
        try:
            kind, value = receive.recv()
        except EOFError:  # killed
            worker.join()
            raise RuntimeError(f"worker {worker.pid} died ({worker.exitcode})") from None
        worker.join()
        if kind == "error":
            raise RuntimeError(value)
        return value


def drive(spec: str, out: str) -> int:
    """``algolens sweep SPEC --out OUT`` with :class:`ForkRay` (the driver process's body)."""
    import torch

    from algolens.cli import main
    from algolens.sweep import runner

    torch.set_num_threads(1)
    runner._ray = lambda workers, address: ForkRay(Path(out) / "worker.pid")  # type: ignore[assignment]
    return main(["sweep", spec, "--out", out, "--no-progress"])


def _start(spec: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", DRIVE, str(spec), str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip


def _kill_worker(driver: subprocess.Popen[bytes], pid_file: Path) -> bool:
    """kill -9 the driver's worker in flight, if there is one."""
    try:
        pid = int(pid_file.read_text())
        parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, ValueError, IndexError):
        return False
    if int(parent) != driver.pid:  # finished, and the pid is not the worker's any more
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def _finish(spec: Path, out: Path) -> int:
    """Rerun the sweep until it exits 0 (a run refused in one line stays refused); the reruns."""
    for again in range(1, 4):
        done = _start(spec, out)
        _, err = done.communicate(timeout=1800)
        if done.returncode == 0:
            return again
    raise AssertionError(f"the sweep did not finish: {err.decode()[-2000:]}")


def _weights(folder: Path) -> dict[str, Any]:
    """Each finished run's weights, by run name, from results.json (each name once)."""
    from safetensors.torch import load_file

    rows = json.loads((folder / "results.json").read_text())
    names = [r["run"] for r in rows]
    assert len(names) == len(set(names)), f"a run listed twice: {names}"
    return {n: load_file(folder / "runs" / n / "model.safetensors") for n in names}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_killed_sweeps_rerun_to_every_point_once_with_the_same_weights(tmp_path: Path) -> None:
    spec = tmp_path / "killed.toml"
    spec.write_text(SPEC)
    reference = tmp_path / "reference"
    started = time.monotonic()
    assert _finish(spec, reference) == 1
    seconds = time.monotonic() - started
    want = _weights(reference / "killed")
    assert len(want) == 2
    rng = random.Random(35)
    outcomes = []
    for trial in range(TRIALS):
        out = tmp_path / f"trial{trial}"
        driver = _start(spec, out)
        time.sleep(rng.uniform(0.1, 0.6) * seconds)
        worker = _kill_worker(driver, out / "worker.pid")
        time.sleep(rng.uniform(0, 0.4) * seconds)
        alive = driver.poll() is None
        if alive:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        reruns = _finish(spec, out)
        got = _weights(out / "killed")
        outcomes.append((worker, alive, reruns))
        assert got.keys() == want.keys(), (trial, outcomes)
        for name in want:
            assert _same(got[name], want[name]), (trial, name, outcomes)
    print("(worker killed, driver killed, reruns) per trial:", outcomes)  # shown with -s
    assert sum(w for w, _, _ in outcomes) >= 3 and sum(d for _, d, _ in outcomes) >= 3, outcomes


def test_the_check_can_fail(tmp_path: Path) -> None:
    """The negative control of the comparison: a sweep of other steps has other weights, and
    a results table that lists a run twice is caught."""
    spec = tmp_path / "killed.toml"
    spec.write_text(SPEC.replace("steps = [30, 45]", "steps = 31"))
    out = tmp_path / "other"
    assert _finish(spec, out) == 1
    (got,) = _weights(out / "killed").values()
    shorter = tmp_path / "shorter.toml"
    shorter.write_text(SPEC.replace("steps = [30, 45]", "steps = 30"))
    assert _finish(shorter, tmp_path / "short") == 1
    (want,) = _weights(tmp_path / "short" / "killed").values()
    assert not _same(got, want)
    results = out / "killed" / "results.json"
    rows = json.loads(results.read_text())
    results.write_text(json.dumps(rows + rows))
    with pytest.raises(AssertionError, match="listed twice"):
        _weights(out / "killed")
