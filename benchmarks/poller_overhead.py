"""The poller's own CPU per 304 poll in a `run` tick, without the network (issue 9).

    python benchmarks/poller_overhead.py [--sources 1000] [--rounds 8]

A SQLite database with ``--sources`` feed sources (the watchlist of `poll_cycle.py`), a
`Poller` with the default policy (32 in flight, batches of 500) and a fetcher that answers
every source 304 at the loop's next turn. Each round makes every source due and runs one tick
(`Poller.poll_due`, what `watchpost run` does every 5 s): claims, tasks, timeouts, the
semaphore, the 304s' records, the commits. CPU µs per poll, per round and the median of all
rounds but the first. What is left of a real 304 poll is the HTTP client's
(`benchmarks/http_clients.py`). ``PYTHONPATH=/path/to/checkout`` measures another checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE))  # after PYTHONPATH: the checkout measured comes first

from poll_cycle import _watchlist  # noqa: E402
from sqlalchemy import update  # noqa: E402

import storage  # noqa: E402
from bot.matching import Matcher  # noqa: E402
from bot.metrics import Metrics  # noqa: E402
from bot.model import FetchResult, SourceForPoll, SourceKind  # noqa: E402
from bot.pipeline import Poller, PollPolicy  # noqa: E402
from bot.watchlist import load_watchlist  # noqa: E402
from storage.schema import SourceRow  # noqa: E402


class Unchanged:
    """Every source answers 304, at the loop's next turn (as an answer arrives later)."""

    def __init__(self, clock: list[datetime]) -> None:
        self._clock = clock

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        await asyncio.sleep(0)
        return FetchResult(items=(), not_modified=True, fetched_at=self._clock[0])


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        path = tmp / "watchlist.yaml"
        path.write_text(_watchlist("https://feeds.example", args.sources))
        wl = load_watchlist(path)
        engine = storage.make_engine(f"sqlite:///{tmp / 'watchpost.sqlite'}")
        storage.migrate(engine)
        now = [datetime.now(UTC)]
        specs = [s for sp in wl.speakers for s in sp.sources]
        with storage.session_scope(storage.make_sessions(engine)) as s:
            storage.sync_sources(s, specs, default_interval=timedelta(seconds=60), now=now[0])
        poller = Poller(
            sessions=storage.make_sessions(engine),
            fetchers={SourceKind.FEED: Unchanged(now)},
            watchlist=wl,
            matcher=Matcher(wl.topics),
            policy=PollPolicy(),
            clock=lambda: now[0],
            metrics=Metrics(),
            owner="bench",
        )
        per_poll: list[float] = []
        for _ in range(args.rounds):
            now[0] += timedelta(minutes=2)
            with engine.begin() as conn:  # every source due, outside the timing
                conn.execute(update(SourceRow.__table__).values(next_poll_at=now[0]))
            cpu = time.process_time()
            outcomes = await poller.poll_due()
            spent = time.process_time() - cpu
            if len(outcomes) != args.sources or not all(o.not_modified for o in outcomes):
                raise SystemExit(f"{len(outcomes)} polls, not {args.sources} 304s")
            per_poll.append(spent * 1e6 / len(outcomes))
        engine.dispose()
    rounds = ", ".join(f"{x:.0f}" for x in per_poll)
    print(
        f"{args.sources} sources, default policy: the poller's own CPU per 304 poll, median of "
        f"rounds 2-{args.rounds}: {statistics.median(per_poll[1:]):.1f} µs (rounds: {rounds})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sources", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=8)
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
