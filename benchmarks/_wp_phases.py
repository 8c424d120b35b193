"""Where one Watchpost poll cycle spends its time, without a profiler's overhead.

    python benchmarks/_wp_phases.py     # with the WATCHPOST_* environment of `poll_cycle.py`

Does what ``watchpost once --dry-run --json`` does, through the same public functions, and
prints wall and CPU time per phase (imports, settings and watchlist, open_app = migrations and
sync, the poll cycle, the JSON output, closing) and, inside the cycle, the summed time of the
synchronous steps (parsing, deciding and matching, storing, recording each poll). Everything
else in the cycle is the HTTP client and the event loop.
"""

from __future__ import annotations

import time

_T0 = (time.perf_counter(), time.process_time())

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage  # noqa: E402
from bot import pipeline  # noqa: E402
from bot.app import open_app, run_once  # noqa: E402
from bot.cli import statement_json  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.sources import feedparse, feeds  # noqa: E402
from bot.watchlist import load_watchlist  # noqa: E402

_marks: list[tuple[str, float, float]] = []
_steps: dict[str, list[float]] = {}


def _mark(name: str) -> None:
    _marks.append((name, time.perf_counter(), time.process_time()))


def _timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The calling thread's CPU: parsing runs in worker threads while the event loop goes
        # on, and the process's CPU over the call counted the loop's work as parsing too
        # (0.30 s for 100 feeds whose parsing took 0.12 s).
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc = _steps.setdefault(label, [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += time.perf_counter() - wall
            acc[2] += time.thread_time() - cpu

    return wrapper


async def _cycle() -> None:
    settings = load_settings()
    watchlist = load_watchlist(settings.config_path)
    _mark("settings + watchlist")
    # as `watchpost once --dry-run --json` does it: every write rolled back, the statements
    # printed from what the dry run would have stored
    async with open_app(settings, watchlist, dry_run=True) as app:
        _mark("open_app (migrate, sync)")
        await run_once(app)
        _mark("poll cycle (run_once)")
        for st in app.poller.previewed:
            json.dumps(statement_json(st))
        _mark("--json output")
    _mark("close")


def main() -> None:
    """Run one cycle and print the phases."""
    _mark("imports")
    # The synchronous steps of a poll, wrapped where the pipeline looks them up.
    # setattr: these are module globals that the pipeline and the retriever look up per call.
    setattr(feeds, "parse_feed", _timed("parse_feed", feedparse.parse_feed))  # noqa: B010
    setattr(  # noqa: B010
        pipeline,
        "statements_to_store",
        _timed("statements_to_store (match, route)", pipeline.statements_to_store),
    )
    for name in ("claim_sources", "lookup_known", "apply_intents", "record_poll_success"):
        setattr(storage, name, _timed(name, getattr(storage, name)))
    # the polls' writes: per batch in one transaction, or (an older checkout) per poll
    step = "_write_batch" if hasattr(pipeline.Poller, "_write_batch") else "_ingest"
    label = f"Poller.{step} (all of the above but parse)"
    setattr(pipeline.Poller, step, _timed(label, getattr(pipeline.Poller, step)))
    asyncio.run(_cycle())
    prev = _T0
    print(f"{'phase':44s} {'wall s':>7s} {'CPU s':>7s}")
    for name, wall, cpu in _marks:
        print(f"{name:44s} {wall - prev[0]:7.3f} {cpu - prev[1]:7.3f}")
        prev = (wall, cpu)
    print(f"{'total in process':44s} {_marks[-1][1] - _T0[0]:7.3f} {_marks[-1][2] - _T0[1]:7.3f}")
    print("inside the poll cycle (summed over calls; CPU of the calling thread):")
    for label, (calls, wall, cpu) in _steps.items():
        print(f"  {label:42s} {wall:7.3f} {cpu:7.3f}  ({int(calls)} calls)")


if __name__ == "__main__":
    main()
