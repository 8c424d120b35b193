"""CPU per poll and per new statement in a warm worker (issue 9), without process start-up.

    python benchmarks/warm_cycle.py [--feeds 1000] [--rounds 3] [--fraction 0.1] [--path due|all]

Starts the feed host of `poll_cycle.py` (`_feedhost.py`, 20 ms of added latency) and builds
two apps in this process with `bot.app.open_app`, each on its own SQLite file and its own copy
of the feeds: one whose channel takes every statement (alerts printed by the console sender to
/dev/null, so the dispatch tick renders each one with its context), one whose channel takes
none (the statements are stored, not routed). Each polls every feed twice to warm up (the first
poll stores 20 items per feed as seen; the second sees 304s). A cycle polls as a tick of
`watchpost run` does, every source made due first (`Poller.poll_due`: claims and 304s written
a part of the batch at a time while the tick runs); ``--path all`` polls as `watchpost once`
does (`Poller.poll_all`: a batch claimed, polled and written whole). Then, per round:

- a cycle where every feed answers 304: CPU ms per 304 poll;
- a cycle after one new item was added to `--fraction` of the feeds, per new statement: the
  whole poll's CPU less the 304s' share and the parsing of the changed feeds (so it still holds
  the HTTP client's work for a 200 and its body); the statement work alone (`Poller._write_batch`,
  or `Poller._ingest` in a checkout without batches:
  read what is known, match, fingerprint, decide, store with the alerts, record the poll);
  and the dispatch ticks' CPU per alert (routed app only: claim, context, render, console).

Uses only `open_app`, `run_once`, `Poller.poll_due`, `Poller.poll_all`, `Dispatcher.dispatch`
and the sources table, so the same script measures an older checkout
(``PYTHONPATH=/path/to/checkout``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE))  # after PYTHONPATH: the checkout measured comes first

from poll_cycle import _control, _feed_host, _watchlist  # noqa: E402
from sqlalchemy import update  # noqa: E402

from bot import pipeline  # noqa: E402
from bot.app import App, open_app, run_once  # noqa: E402
from bot.console import ConsoleSender  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.sources import feedparse, feeds  # noqa: E402
from bot.watchlist import load_watchlist  # noqa: E402
from storage.schema import SourceRow  # noqa: E402

_parse_cpu = [0.0]
_ingest_cpu = [0.0]


def _timed(fn: Callable[..., Any], acc: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # The calling thread's CPU: parsing runs in worker threads while the event loop goes on,
        # and the process's CPU over the call would count the loop's work as parsing too.
        cpu = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[0] += time.thread_time() - cpu

    return wrapper


@dataclass
class Figures:
    """One app's measurements, per round."""

    name: str
    per_304_ms: list[float] = field(default_factory=list)
    per_new_poll_ms: list[float] = field(default_factory=list)
    per_new_ingest_ms: list[float] = field(default_factory=list)
    per_alert_dispatch_ms: list[float] = field(default_factory=list)
    new: list[int] = field(default_factory=list)


def _config(tmp: Path, url: str, ns: str, n: int, routed: bool) -> dict[str, str]:
    text = _watchlist(url, n).replace("/w/feed-", f"/{ns}/feed-")
    if routed:
        text = text.replace("    topics: [unrouted]\n", "")  # the channel takes everything
    path = tmp / f"watchlist-{ns}.yaml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHPOST_", "TELEGRAM_"))}
    env.update(
        WATCHPOST_CONFIG=str(path),
        WATCHPOST_DATABASE_URL=f"sqlite:///{tmp / f'watchpost-{ns}.sqlite'}",
        WATCHPOST_LOG_LEVEL="WARNING",
        WATCHPOST_CONSOLE="true",
    )
    return env


@contextmanager
def _profiled(prefix: str | None, name: str) -> Iterator[None]:
    """cProfile the block into ``PREFIX.NAME`` when `prefix` is given."""
    if prefix is None:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        prof.dump_stats(f"{prefix}.{name}")


async def _cycle(app: App, *, dispatch: bool, path: str) -> tuple[float, float, int, int, float]:
    """One poll of every feed, then (if asked) dispatch until the outbox is drained: poll CPU s
    (parsing excluded), parse CPU s, new statements, alerts shown, dispatch CPU s."""
    _parse_cpu[0] = _ingest_cpu[0] = 0.0
    if path == "due":
        # Every source due now, as a `run` tick finds them once their interval ran out
        # (set before the timing starts; not part of what is measured).
        table = SourceRow.__table__
        with app.engine.begin() as conn:
            conn.execute(update(table).values(next_poll_at=app.clock() - timedelta(seconds=1)))
    cpu = time.process_time()
    if path == "due":
        outcomes = await app.poller.poll_due()  # what each poll tick of `watchpost run` does
    else:
        outcomes, _ = await run_once(app, dispatch=False)  # `watchpost once`
    poll_cpu = time.process_time() - cpu
    parse = _parse_cpu[0]
    new = sum(o.new_statements for o in outcomes)
    shown = 0
    cpu = time.process_time()
    if dispatch:
        while True:
            rep = await app.dispatcher.dispatch()
            shown += rep.shown + rep.sent
            if rep.sent == 0 and rep.shown == 0 and rep.deferred == 0:
                break
    disp_cpu = time.process_time() - cpu
    return poll_cpu - parse, parse, new, shown, disp_cpu


async def _main(args: argparse.Namespace) -> None:
    setattr(feeds, "parse_feed", _timed(feedparse.parse_feed, _parse_cpu))  # noqa: B010
    # The statement work of the polls that got a new body: read what is known, match, decide,
    # store, record the poll, commit (private methods, wrapped as _wp_phases.py wraps steps):
    # per batch of polls in one transaction, or (before it) per poll.
    step = "_write_batch" if hasattr(pipeline.Poller, "_write_batch") else "_ingest"
    setattr(pipeline.Poller, step, _timed(getattr(pipeline.Poller, step), _ingest_cpu))
    devnull = open(os.devnull, "w")  # noqa: SIM115
    with (
        tempfile.TemporaryDirectory() as tmpdir,
        _feed_host(args.feeds, 20, args.latency) as (url, _pid),
    ):
        tmp = Path(tmpdir)
        apps: list[tuple[Figures, App, bool]] = []
        opened = []
        for ns, routed in (("w", True), ("r", False)):
            env = _config(tmp, url, ns, args.feeds, routed)
            settings = load_settings(env)
            wl = load_watchlist(settings.config_path)
            cm = open_app(settings, wl, sender=ConsoleSender(out=devnull))
            opened.append(cm)
            app = await cm.__aenter__()
            apps.append((Figures("routed" if routed else "unrouted"), app, routed))
        try:
            for fig, app, routed in apps:
                for _ in range(2):  # prime (stored as seen), then all 304
                    await _cycle(app, dispatch=routed, path=args.path)
                print(f"{fig.name}: warmed up", file=sys.stderr)
            for rnd in range(1, args.rounds + 1):
                for fig, app, routed in apps:
                    with _profiled(args.profile, f"{fig.name}.{rnd}.304"):
                        poll, parse, new, _, _ = await _cycle(app, dispatch=routed, path=args.path)
                    if new:
                        raise SystemExit(f"{fig.name}: {new} new statements in a 304 cycle")
                    fig.per_304_ms.append((poll + parse) * 1000 / args.feeds)
                _control(url, f"/_control/bump?round={rnd}&fraction={args.fraction}", post=True)
                for fig, app, routed in apps:
                    with _profiled(args.profile, f"{fig.name}.{rnd}"):
                        poll, parse, new, shown, disp = await _cycle(
                            app, dispatch=routed, path=args.path
                        )
                    unchanged = args.feeds - new
                    rest = poll - unchanged * fig.per_304_ms[-1] / 1000
                    fig.new.append(new)
                    fig.per_new_poll_ms.append(rest * 1000 / max(new, 1))
                    fig.per_new_ingest_ms.append(_ingest_cpu[0] * 1000 / max(new, 1))
                    if routed:
                        if shown != new:
                            raise SystemExit(f"{new} new statements but {shown} alerts shown")
                        fig.per_alert_dispatch_ms.append(disp * 1000 / max(shown, 1))
                    print(
                        f"round {rnd} {fig.name}: new={new} poll={poll:.3f}s parse={parse:.3f}s "
                        f"statement work={_ingest_cpu[0]:.3f}s dispatch={disp:.3f}s",
                        file=sys.stderr,
                    )
        finally:
            for cm in reversed(opened):
                await cm.__aexit__(None, None, None)
    devnull.close()
    med = statistics.median
    how = "Poller.poll_due, as `run`" if args.path == "due" else "Poller.poll_all, as `once`"
    print(f"median of {args.rounds} rounds, {args.feeds} feeds, polled by {how}, CPU ms:")
    for fig, _, routed in apps:
        work = med(fig.per_new_ingest_ms)
        line = (
            f"  {fig.name:9s} per 304 poll {med(fig.per_304_ms):.3f} | per new statement: "
            f"whole poll {med(fig.per_new_poll_ms):.2f}, of which statement work {work:.2f}"
        )
        if routed:
            d = med(fig.per_alert_dispatch_ms)
            line += f"; dispatched {d:.2f}; statement work + dispatch {work + d:.2f}"
        print(line + f" (new per round: {fig.new}; parsing excluded)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument(
        "--path",
        choices=("due", "all"),
        default="due",
        help="poll as `run`'s tick does (every source due: Poller.poll_due, the default) or as "
        "`once` does (Poller.poll_all)",
    )
    p.add_argument(
        "--profile", help="write cProfile stats of each timed cycle here (.304: the cycle of 304s)"
    )
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
