"""One writer per run: an exclusive ``flock`` held on a lock file for as long as the run trains.

The kernel frees an flock when its process ends, however it ends (kill -9 too), so a lock file
left behind by a killed writer is simply taken by the next one, and taking it is atomic: of any
number of processes trying at once, exactly one gets it. No pid is trusted to say whether the
holder lives. The file names the holder (pid and host) only for the one line a second writer
gets; a lock file that algolens did not write is taken over with a one-line warning.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from algolens.errors import AlgolensError


def take(path: Path) -> int:
    """An open descriptor of ``path`` holding its exclusive flock, the holder written in it;
    one line if another process holds it. Release with :func:`release`."""
    for _ in range(100):
        fd = _open(path, os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise AlgolensError(
                f"{path.parent} is being trained by process {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}: one writer per run"
            ) from None
        if _same_file(path, fd):
            _warn_if_malformed(path, fd)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            return fd
        os.close(fd)  # its holder removed it as we opened it: open the new one
    raise AlgolensError(f"cannot take {path}: it keeps being replaced")


def release(path: Path, fd: int) -> None:
    """Remove the lock file while still holding it, then let go: a process that opened the
    old file meanwhile sees it is gone (:func:`_same_file`) and opens the new one."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


def holder(path: Path) -> dict[str, Any] | None:
    """Who holds the lock (pid and host, as its file says) while it is held; None when free."""
    try:
        fd = _open(path, os.O_RDONLY)
    except (OSError, AlgolensError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd) or {"pid": "?", "host": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _open(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise AlgolensError(f"{path} is a symbolic link: run files are never written "
                                "through one") from None  # fmt: skip
        raise


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _warn_if_malformed(path: Path, fd: int) -> None:
    """One line on stderr when the free lock taken over was not one algolens wrote (an empty
    one is a writer killed between creating and filling it: no warning)."""
    os.lseek(fd, 0, os.SEEK_SET)
    if not os.read(fd, 4096).strip():
        return
    data = _holder(fd)
    if not (isinstance(data.get("pid"), int) and isinstance(data.get("host"), str)):
        print(f"warning: {path} was malformed: taken over as stale", file=sys.stderr)


def _holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}
