"""The process entry point (`watchpost`, `python -m bot`): the command line, with the garbage
collector kept off what lives as long as the process.

Measured on `watchpost once` of 1,000 feeds (issue 9, `benchmarks/poll_cycle.py`): the cyclic
collector took about 0.1 s of the 0.8 s of imports (collections triggered by the allocations of
importing, which free nothing: modules and classes live until exit), 0.15 s during the cycle,
mostly full collections walking those same objects, and 0.2 s after `main` returned, when the
interpreter's shutdown collects again over everything still alive. `gc.freeze` moves the objects
alive at that moment out of every later collection; nothing is lost by it: what they reference is
still freed by reference counting, and only cyclic garbage among them would stay until exit.

A running worker freezes once more when it has started (`bot.app.run_worker`: the watchlist,
the matcher and the near-duplicate index live as long as it does). Tests call `bot.cli.main`
directly and never pass here: freezing is for a process that ends.
"""

from __future__ import annotations

import gc


def main() -> int:
    """Import the command line with the collector off, freeze what was imported, run it.

    Frozen again when the command returns: the shutdown's collections then have nothing to
    walk. Every write was committed and every file closed by the command itself, not by
    finalizers, so none of them waits for a collection.
    """
    gc.disable()
    try:
        from bot.cli import main as command
    finally:
        gc.freeze()
        gc.enable()
    try:
        return command()
    finally:
        gc.freeze()
