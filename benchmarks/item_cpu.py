"""The CPU a new feed item costs in the first poll cycle, step by step, on generated feeds.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/item_cpu.py [--feeds 30] [--rounds 9]

The feeds are `benchmarks/_feedhost.py`'s: ``--feeds`` RSS feeds of 10 items, each item a title
and a few paragraphs of HTML (about 1.15 KB of text), the same bytes on every run. Each step runs
over all items, ``--rounds`` times, the steps taking turns so that a busy machine slows them
alike; printed is the least CPU time (``time.process_time``) per item of each step:

- ``parse_feed``: the body to items (fast path, text, dates, digests), as the poller does;
- ``fingerprint``: `bot.dedup.fingerprint` of the item's text, as the pipeline does;
- ``match``: `Matcher.match` of title and text against benchmarks/poll_cycle.py's topics;
- ``text_hash``: `bot.ingest.text_hash` of title and text (its memo cleared each round).

Run it on two checkouts to compare them (``git worktree add``, then ``cd`` there).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _feedhost import EPOCH, _entry  # noqa: E402

from bot.dedup import fingerprint  # noqa: E402
from bot.fakes.feedgen import rss  # noqa: E402
from bot.ingest import text_hash  # noqa: E402
from bot.matching import compile_topics  # noqa: E402
from bot.model import Term, Topic  # noqa: E402
from bot.sources.feedparse import parse_feed  # noqa: E402

FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args(argv)
    bodies = [
        (
            f"https://mfa.example/{f:04d}/feed.xml",
            rss(
                f"Ministry {f:04d}",
                f"https://mfa.example/{f:04d}/",
                [_entry(f, n, EPOCH - timedelta(hours=n)) for n in range(10)],
            ),
        )
        for f in range(args.feeds)
    ]

    def parse_all() -> list[tuple[str, str]]:
        out = []
        for url, body in bodies:
            parsed = parse_feed(
                body, source_key="bench", url=url, content_type=None, fetched_at=FETCHED_AT
            )
            out += [(i.title, i.text) for i in parsed.items]
        return out

    items = parse_all()
    matcher = compile_topics(
        [
            Topic("ceasefire", "Ceasefire", (Term("ceasefire", "en"), Term("truce", "en"))),
            Topic("unrouted", "Nothing the feeds say", (Term("xqzjvw", "en"),)),
        ]
    )

    def hashes() -> None:
        text_hash.cache_clear()
        for title, text in items:
            text_hash(title, text)

    steps: dict[str, Callable[[], object]] = {
        "parse_feed": parse_all,
        "fingerprint": lambda: [fingerprint(text) for _, text in items],
        "match": lambda: [matcher.match(title, text) for title, text in items],
        "text_hash": hashes,
    }
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.process_time()
            step()
            best[name] = min(best[name], time.process_time() - start)
    print(f"{len(items)} items of {args.feeds} feeds, least of {args.rounds} rounds, CPU:")
    for name, seconds in best.items():
        print(f"  {name:12} {seconds / len(items) * 1000:.4f} ms per item")
    print(f"  {'total':12} {sum(best.values()) / len(items) * 1000:.4f} ms per item")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
