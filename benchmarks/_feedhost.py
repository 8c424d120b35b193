"""The feed host of `poll_cycle.py`: many RSS feeds behind one local server, in its own process.

Run by `poll_cycle.py`; by hand::

    python benchmarks/_feedhost.py --feeds 1000 --items 20 --latency 0.02

It prints its base URL on one line, then serves until SIGTERM. Every feed exists once per
namespace (``/w/feed-0001.xml`` for Watchpost, ``/r/feed-0001.xml`` for reader), identical
byte for byte, so that each client keeps its own caching state against the same content. Control
endpoints (they pay the added latency like any request):

- ``POST /_control/bump?round=N&fraction=F``: in every namespace, the same feeds (chosen from
  the seed N) get one new item in front and lose their oldest (a new body, so a new ETag). Answers
  a JSON list of ``{"path", "id", "link"}``, one per bumped feed.
- ``GET /_control/stats?ns=w``: the status counts of namespace ``w`` since the last call.
- ``POST /_control/mark``, then ``GET /_control/gaps?ns=w``: per feed, the longest time without
  a poll since the mark (``benchmarks/many_sources.py``: is each feed polled within its interval?).

``--templated`` makes every text one daily report whose numbers differ (the near-duplicate
index's hardest case).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.fakes.feed_server import FeedServer  # noqa: E402
from bot.fakes.feedgen import FeedEntry, rss  # noqa: E402
from bot.fakes.http import Request, Response, serve  # noqa: E402

NAMESPACES = ("w", "r")
# Items are dated back from here, an hour apart; new items are dated after it.
EPOCH = datetime(2020, 10, 1, 6, 0, tzinfo=UTC)

_WORDS = (
    "ministry",
    "statement",
    "ceasefire",
    "humanitarian",
    "corridor",
    "civilians",
    "shelling",
    "settlement",
    "talks",
    "delegation",
    "co-chairs",
    "negotiations",
    "sovereignty",
    "territorial",
    "integrity",
    "region",
    "border",
    "troops",
    "positions",
    "artillery",
    "drones",
    "casualties",
    "wounded",
    "evacuation",
    "agreement",
    "violation",
    "observers",
    "peacekeeping",
    "mission",
    "resolution",
    "council",
    "mediators",
    "withdrawal",
    "prisoners",
    "exchange",
    "bodies",
    "restraint",
    "escalation",
    "provocation",
    "infrastructure",
    "hospital",
    "school",
    "convoy",
    "refugees",
    "aid",
    "international",
    "community",
    "condemn",
    "urge",
    "welcome",
    "reaffirm",
    "commitment",
    "dialogue",
    "immediate",
    "spokesperson",
    "briefing",
    "parliament",
    "president",
    "minister",
    "foreign",
    "defence",
    "press",
    "release",
)


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


#: one daily report, as ministries of defence publish them: only the numbers change
_TEMPLATE = (
    "<p>Operational update of the Ministry of Defence as of {h:02d}:00. During the past day "
    "the enemy fired {a} artillery shells and {b} rockets at {c} settlements along the line of "
    "contact. {d} civilians were wounded and {e} houses damaged. Our units destroyed {f} "
    "drones and {g} armoured vehicles. The situation remains tense.</p>"
    "<p>The ministry calls on the international community to condemn the {a} violations "
    "recorded in report number {n}.</p>"
)


def _entry(feed: int, n: int, published: datetime, *, templated: bool = False) -> FeedEntry:
    """Item `n` of feed `feed`: a title and a few paragraphs of HTML (about 1 KB); with
    `templated`, the daily report of one template whose numbers differ from item to item."""
    rng = random.Random(feed * 100_003 + n)
    if templated:
        numbers = {k: rng.randint(2, 999) for k in "abcdefg"}
        return FeedEntry(
            id=f"feed-{feed:04d}-item-{n}",
            title=f"Operational update number {feed * 1000 + n}",
            html=_TEMPLATE.format(h=rng.randint(0, 23), n=feed * 1000 + n, **numbers),
            link=f"https://mod.example/{feed:04d}/updates/{n}",
            published=published,
        )
    paragraphs = "".join(
        f"<p>{' '.join(_sentence(rng, rng.randint(8, 18)) for _ in range(3))}</p>"
        for _ in range(rng.randint(2, 4))
    )
    return FeedEntry(
        id=f"feed-{feed:04d}-item-{n}",
        title=_sentence(rng, rng.randint(6, 12))[:-1],
        html=paragraphs,
        link=f"https://mfa.example/{feed:04d}/press/{n}",
        published=published,
    )


@dataclass
class _Feed:
    index: int
    entries: list[FeedEntry]


class FeedHost:
    """The feeds of every namespace and the control endpoints."""

    def __init__(self, feeds: int, items: int, *, templated: bool = False) -> None:
        self._lock = threading.Lock()
        self._templated = templated
        self._servers = {ns: FeedServer() for ns in NAMESPACES}
        self._feeds = [
            _Feed(
                f,
                [
                    _entry(f, n, EPOCH - timedelta(hours=n), templated=templated)
                    for n in range(items)
                ],
            )
            for f in range(feeds)
        ]
        self._mark = time.monotonic()
        for feed in self._feeds:
            self._publish(feed)

    @staticmethod
    def path(feed: int) -> str:
        """The path of feed `feed` inside a namespace."""
        return f"/feed-{feed:04d}.xml"

    def _publish(self, feed: _Feed) -> None:
        body = rss(
            f"Ministry {feed.index:04d}", f"https://mfa.example/{feed.index:04d}/", feed.entries
        )
        for ns, server in self._servers.items():
            server.set_feed(f"/{ns}{self.path(feed.index)}", body)

    def bump(self, round_no: int, fraction: float) -> list[dict[str, str]]:
        """Give the same `fraction` of feeds, in every namespace, one new item."""
        chosen = random.Random(round_no).sample(
            range(len(self._feeds)), round(len(self._feeds) * fraction)
        )
        out = []
        with self._lock:
            for f in sorted(chosen):
                feed = self._feeds[f]
                entry = _entry(
                    f,
                    1000 + round_no,
                    EPOCH + timedelta(minutes=round_no),
                    templated=self._templated,
                )
                feed.entries = [entry, *feed.entries[:-1]]
                self._publish(feed)
                out.append({"path": self.path(f), "id": entry.id, "link": entry.link or ""})
        return out

    def handle(self, request: Request) -> Response:
        """Route control requests; everything else goes to the namespace's feed server."""
        if request.path == "/_control/bump":
            round_no = int(request.query_one("round", "1") or 1)
            fraction = float(request.query_one("fraction", "0.1") or 0.1)
            return Response.json(self.bump(round_no, fraction))
        if request.path == "/_control/stats":
            stats = self._servers[request.query_one("ns", "w") or "w"]
            counts = stats.status_counts()
            stats.reset_counters()
            return Response.json({str(k): v for k, v in sorted(counts.items())})
        if request.path == "/_control/mark":
            self._mark = time.monotonic()
            return Response.json({"mark": self._mark})
        if request.path == "/_control/gaps":
            return Response.json(self.gaps(request.query_one("ns", "w") or "w"))
        ns = request.path.split("/", 2)[1]
        server = self._servers.get(ns)
        if server is None:
            return Response.text("not found", 404)
        return server.handle(request)

    def gaps(self, ns: str) -> dict[str, object]:
        """Since the last mark, per feed of namespace `ns`: the longest time without a poll,
        counting from the mark to the first poll and from the last poll to now."""
        now = time.monotonic()
        times: dict[str, list[float]] = {}
        for r in self._servers[ns].requests():
            if r.at >= self._mark:
                times.setdefault(r.path, []).append(r.at)
        worst: list[float] = []
        for f in range(len(self._feeds)):
            seen = times.get(f"/{ns}{self.path(f)}", [])
            points = [self._mark, *seen, now]
            worst.append(max(b - a for a, b in itertools.pairwise(points)))
        worst.sort()
        return {
            "feeds": len(worst),
            "span": now - self._mark,
            "polls": sum(len(v) for v in times.values()),
            "max": worst[-1] if worst else 0.0,
            "p99": worst[int(0.99 * (len(worst) - 1))] if worst else 0.0,
            "p50": worst[len(worst) // 2] if worst else 0.0,
            "over_60": sum(1 for w in worst if w > 60),
        }


def main() -> None:
    """Build the feeds and serve them until SIGTERM."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=1000)
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--latency", type=float, default=0.02, help="seconds added to every answer")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--templated", action="store_true", help="every text from one template")
    args = p.parse_args()
    host = FeedHost(args.feeds, args.items, templated=args.templated)
    serve(host.handle, port=args.port, latency=args.latency)


if __name__ == "__main__":
    main()
