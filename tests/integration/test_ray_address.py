"""``--address`` joins a Ray cluster that is already running (here a head node started with
``ray start`` on this machine): sharded exhaustive verification through it equals the unsharded
run, and a sweep through it writes its results. The local-Ray tests are in test_shards.py and
test_sweep_ray.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.bad_inputs import environment, run_cli
from tests.integration.test_shards import _failing_copy, _verdict
from tests.sweeps import tiny_spec

from algolens.runs import load
from algolens.verify import verify_exhaustive

pytestmark = pytest.mark.slow  # a Ray head takes tens of seconds to start here
pytest.importorskip("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head node of 2 CPUs in its own session (``--block``: it lives as long as this
    process, and stopping it stops what it started), and its address."""
    port = _free_port()
    ray = str(Path(sys.executable).with_name("ray"))
    argv = [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
            "--disable-usage-stats", "--block"]  # fmt: skip
    head = subprocess.Popen(argv, env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        _wait_for_port(port, head)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        _forget(port)


def _forget(port: int) -> None:
    """Remove the address ``ray start`` left in /tmp/ray/ray_current_cluster, if it is ours."""
    current = Path("/tmp/ray/ray_current_cluster")
    if current.is_file() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()


def _wait_for_port(port: int, head: subprocess.Popen[bytes], timeout: float = 180) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if head.poll() is not None:
            raise AssertionError(f"ray start exited with {head.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError("the Ray head never opened its port")


def _with_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The head started by ``ray start`` asks for its token (in ~/.ray/auth_token)."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")


def test_without_the_token_mode_joining_is_one_line_with_the_fix(
    tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    done = run_cli(["sweep", str(tiny_spec(tmp_path, [30, 40])), "--out", str(tmp_path / "s"),
                    "--address", cluster, "--no-progress"], 600)  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "RAY_AUTH_MODE=token" in done.stderr.strip().splitlines()[-1]


def test_sharded_verification_through_address_equals_unsharded(
    tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_token(monkeypatch)
    path = _failing_copy(tmp_path)
    run = load(path)
    whole = verify_exhaustive(run.model, run.task, examples=7)
    argv = ["verify", str(path), "--exhaustive", "--shards", "3", "--address", cluster,
            "--examples", "7", "--json", "--no-progress"]  # fmt: skip
    done = run_cli(argv, 600)
    assert done.returncode == 0, done.stderr
    sharded = json.loads(done.stdout)
    assert sharded["failures"] == whole.failures > 0
    got = {k: v for k, v in sharded.items() if k != "run"}
    want = json.loads(json.dumps(whole.to_dict()))  # as --json prints it
    assert _verdict(got, source=False) == _verdict(want, source=False)


def test_a_sweep_through_address_writes_its_results(
    tmp_path: Path, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_token(monkeypatch)
    spec = tiny_spec(tmp_path, [30, 40])
    argv = ["sweep", str(spec), "--out", str(tmp_path / "sweeps"), "--address", cluster,
            "--no-progress"]  # fmt: skip
    done = run_cli(argv, 600)
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "sweeps" / "tiny" / "results.json").read_text())
    assert [row["steps_done"] for row in rows] == [30, 40]
