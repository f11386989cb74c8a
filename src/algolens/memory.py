"""Keep freed memory in the process, so that every batch's activations do not fault in afresh.

glibc's malloc hands a large freed block back to the kernel (blocks above an adaptive threshold
are unmapped, and the heap's top is trimmed beyond twice that threshold), and the next batch's
activations of the same size then fault in their pages one by one. In verification's one-thread
workers (5-digit addition, d_model 96, bfloat16 screen) that was 1,600 page faults per forward of
256 questions and about 17% of the time in the kernel; with the thresholds fixed at
:data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` there are none and a forward takes 10-15% less
time (training, with fewer and larger steps, gained 2-5%, and is left alone).

:func:`keep_freed_memory` is called where algolens owns the process: its verification workers
and its Ray tasks (shards of an exhaustive check, runs of a sweep). It does nothing off glibc
(macOS, musl), where malloc behaves otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to 32 MB come from the heap
TRIM_THRESHOLD = 256 << 20  # keep up to 256 MB of freed heap
_DONE: list[bool] = []


def keep_freed_memory() -> bool:
    """Fix glibc's thresholds (once per process); True if they are set, False off glibc."""
    if _DONE:
        return _DONE[0]
    ok = False
    if sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    _DONE.append(ok)
    return ok
