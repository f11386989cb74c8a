"""Output streams: ``sample`` prints as it draws and ``predict`` answers in batches, so a
reader that stops early (``| head``) ends the command at once and quietly, whatever ``--n``."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest
from tests.bad_inputs import environment

pytestmark = pytest.mark.slow


def _feed(pipe: IO[str] | None, text: str) -> None:
    assert pipe is not None
    try:
        pipe.write(text)
        pipe.close()
    except BrokenPipeError:  # the command stopped reading: that is the point
        pass


def first_lines(argv: list[str], n: int, stdin: str | None = None) -> tuple[list[str], str, int]:
    """Read ``n`` lines of ``algolens ARGV``, close the pipe, and return them, its stderr and
    its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "algolens", *argv],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
        text=True,
    )
    if stdin is not None:  # fed from a thread: the reader below must not wait for it
        threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline() for _ in range(n)]
    proc.stdout.close()  # like head: the next write hits a closed pipe
    code = proc.wait(timeout=120)  # 10^8 questions built up front would take hours
    return lines, proc.stderr.read(), code


def test_sample_of_a_hundred_million_streams_and_ends_quietly_on_a_closed_pipe() -> None:
    lines, err, code = first_lines(["sample", "add", "--n", "100000000", "--json"], 3)
    assert all(line.startswith('{"question"') for line in lines), lines
    assert code == 0 and err == "", err


def test_predict_reads_stdin_in_batches_and_ends_quietly(add_d2_run: Path) -> None:
    questions = "".join(f"{i % 100}+{i // 100 % 100}\n" for i in range(200_000))
    lines, err, code = first_lines(["predict", str(add_d2_run), "--file", "-"], 2, questions)
    assert lines == ["0+0=000\n", "1+0=001\n"], lines
    assert code == 0 and err == "", err
