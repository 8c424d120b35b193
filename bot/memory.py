"""Big buffers go back to the system when they are freed (issue 11). Process-wide, at start.

A worker meets a huge item now and then (a 9 MB press release is under the 10 MB body cap): its
body, the item's XML and its raw payload are a few blocks of megabytes each, made in a parsing
thread and in the poll's insert. glibc's malloc serves a block that large with its own mapping,
returned to the system when freed, but then raises that threshold to the freed block's size
(up to 32 MB): the next huge item's blocks come from the thread's heap, and stay there once
freed, out of reach of the other threads. The worker then held the first huge item's memory
and took more for the insert (+59 MB at the peak over the idle worker where the goal is +50,
`benchmarks/huge_item.py`; +43 MB with the threshold kept), and a month of such items leaves
each thread's heap at its largest.

Keeping the threshold at 1 MiB makes every block of a megabyte or more its own mapping, given
back when freed. Nothing a poll makes in the usual course is that large (a feed is tens of
kilobytes), so the system calls it costs are only the huge items'.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["BIG_BLOCK", "return_big_blocks"]

log = logging.getLogger(__name__)

#: blocks of this size or more get a mapping of their own
BIG_BLOCK = 1 << 20
# glibc's <malloc.h>: mallopt's parameter for the mapping threshold
_M_MMAP_THRESHOLD = -3


def return_big_blocks() -> bool:
    """Keep glibc's mapping threshold at `BIG_BLOCK`; False where the C library has no
    `mallopt` (musl, macOS): their allocators return large blocks of their own accord."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, BIG_BLOCK))
    if not done:
        log.warning("mallopt refused the mapping threshold; huge items' memory may stay held")
    return done
