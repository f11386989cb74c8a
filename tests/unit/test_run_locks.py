"""One writer per run (issue #35, item 3): of 2 to 4 processes taking over the same stale lock
at once exactly one holds it, every round; a malformed lock is stale, with a one-line warning.
The 200-round version is in tests/integration/test_run_unit.py (slow tier)."""

from __future__ import annotations

import json
import os
import random
import socket
import time
from pathlib import Path

import pytest

from algolens import store
from algolens.errors import AlgolensError

DEAD_PID = 2**22 + 7  # above any pid this machine hands out


def stale_lock(run_dir: Path, kind: str) -> None:
    """A lock left behind: by a dead process, malformed, empty, or none at all."""
    path = run_dir / store.LOCK
    path.unlink(missing_ok=True)
    text = {
        "dead": json.dumps({"pid": DEAD_PID, "host": socket.gethostname()}),
        "string pid": json.dumps({"pid": "123", "host": socket.gethostname()}),
        "garbage": "\x00not json{",
        "empty": "",
    }.get(kind)
    if text is not None:
        path.write_text(text)


def contend(run_dir: Path, rounds: int, seed: int = 0) -> list[int]:
    """``rounds`` rounds of 2-4 forked processes released at once onto ``run_dir``'s lock;
    a process that gets it holds it until every contender has tried. Returns the number of
    holders per round."""
    rng = random.Random(seed)
    holders = []
    for r in range(rounds):
        stale_lock(run_dir, rng.choice(["dead", "string pid", "garbage", "empty", "none"]))
        tally = run_dir / f"round_{r}"
        tally.mkdir()
        k = rng.randint(2, 4)
        gate_r, gate_w = os.pipe()
        pids = [_contender(run_dir, tally, i, k, gate_r, gate_w) for i in range(k)]
        os.close(gate_r)
        os.close(gate_w)  # every contender's read returns at once: the gate opens
        for pid in pids:
            os.waitpid(pid, 0)
        holders.append(len(list(tally.glob("got_*"))))
        assert len(list(tally.iterdir())) == k, f"round {r}: a contender did not report"
    return holders


def _contender(run_dir: Path, tally: Path, i: int, k: int, gate_r: int, gate_w: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.close(gate_w)
        os.read(gate_r, 1)  # blocks until the parent closes the gate's write end
        try:
            with store.writer_lock(run_dir):
                (tally / f"got_{i}").touch()
                deadline = time.monotonic() + 30  # a safety net, never reached normally
                while len(list(tally.iterdir())) < k and time.monotonic() < deadline:
                    time.sleep(0.001)
        except AlgolensError:
            (tally / f"refused_{i}").touch()
        code = 0
    finally:
        os._exit(code)


def test_one_holder_in_every_round_of_a_stale_lock_takeover(tmp_path: Path) -> None:
    holders = contend(tmp_path, rounds=20)
    assert holders == [1] * 20, holders
    assert not (tmp_path / store.LOCK).exists()  # the last holder removed it


def test_a_held_lock_is_refused_and_a_malformed_one_is_stale_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with store.writer_lock(tmp_path):  # the negative control: a live holder, this process
        holder = store.lock_holder(tmp_path)
        assert holder is not None and holder["pid"] == os.getpid()
        refused = pytest.raises(AlgolensError, match=f"process {os.getpid()} .* one writer per run")
        with refused, store.writer_lock(tmp_path):
            pass
    for kind, warned in (("string pid", True), ("garbage", True), ("dead", False),
                         ("empty", False)):  # fmt: skip
        stale_lock(tmp_path, kind)
        assert store.lock_holder(tmp_path) is None, kind
        with store.writer_lock(tmp_path):
            assert store.lock_holder(tmp_path) == {"pid": os.getpid(),
                                                    "host": socket.gethostname()}  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert err == (["warning: " + str(tmp_path / store.LOCK) + " was malformed: taken over "
                        "as stale"] if warned else []), (kind, err)  # fmt: skip
