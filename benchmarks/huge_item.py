"""Memory of a worker that meets one huge item: peak resident memory over the idle worker.

Run from the repository root (by hand; never part of the tests)::

    python benchmarks/huge_item.py [--megabytes 9]

Two processes: a local feed server with three ordinary feeds, in a process of its own (so that
the body it builds, keeps and sends is never counted as the worker's memory), and the worker's
app, opened as `watchpost run` opens it (default settings, console mode) with a watchlist of
those feeds. One cycle reaches the idle state; then, asked over a pipe, the server builds a
single item of ``--megabytes`` MB of HTML (under the 10 MB body cap) and publishes it in one feed,
and the worker polls, stores and routes it. Printed: the worker's resident memory after the idle
cycle, its peak (``ru_maxrss``) after the huge one, and the difference. Issue 11's goal: at most
+50 MB over the idle worker.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import sys
import tempfile
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import open_app, run_once
from bot.fakes.feed_server import FeedServer
from bot.fakes.feedgen import FeedEntry, rss
from bot.fakes.http import LocalServer
from bot.settings import load_settings
from bot.watchlist import parse_watchlist

WATCHLIST = """
speakers:
  - id: am-mfa
    name: Ministry of Foreign Affairs of Armenia
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - feed: "{url}/am.rss"
      - feed: "{url}/az.rss"
      - feed: "{url}/ru.rss"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh]
channels:
  - id: main
    chat: "@main_watch"
"""


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _entry(n: int, html: str) -> FeedEntry:
    return FeedEntry(
        id=f"urn:bench:{n}",
        title="Karabakh",
        html=html,
        link=f"https://example.org/news/{n}",
        published=datetime(2020, 9, 27, 4, n % 60, tzinfo=UTC),
    )


def _serve(conn: Connection) -> None:
    """The feed server's process: sends its URL, then on "huge MEGABYTES" publishes the huge
    item in /am.rss and answers the body's length; "stop" ends it."""
    server = FeedServer()
    for path in ("/am.rss", "/az.rss", "/ru.rss"):
        server.set_feed(path, rss("f", "https://example.org/", [_entry(1, "<p>Karabakh.</p>")]))
    with LocalServer(server.handle) as feeds:
        conn.send(feeds.url)
        while (message := conn.recv()) != "stop":
            megabytes = float(message.removeprefix("huge "))
            para = "<p>" + "The ministry reports shelling near the line of contact. " * 20
            html = "<p>Karabakh ceasefire.</p>" + para * int(megabytes * 1e6 // len(para))
            body = rss("f", "https://example.org/", [_entry(2, html), _entry(1, "<p>x</p>")])
            server.set_feed("/am.rss", body)
            conn.send(len(body))


async def main(megabytes: float) -> None:
    """Idle cycle, then the huge item; print the figures."""
    # spawn: a fresh interpreter, sharing none of the worker's pages
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child_conn,), daemon=True)
    server.start()
    try:
        url = conn.recv()
        with tempfile.TemporaryDirectory() as tmp:
            database = f"sqlite:///{tmp}/wp.sqlite"
            settings = load_settings(
                {"WATCHPOST_DATABASE_URL": database, "WATCHPOST_CONSOLE": "true"}
            )
            watchlist = parse_watchlist(WATCHLIST.replace("{url}", url), path="bench.yaml")
            async with open_app(settings, watchlist) as app:
                await run_once(app)
                await run_once(app)
                idle = _rss_mb()
                idle_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                conn.send(f"huge {megabytes}")
                size = conn.recv()
                outcomes, report = await run_once(app)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                after = _rss_mb()
                new = sum(o.new_statements for o in outcomes)
    finally:
        conn.send("stop")
        server.join(timeout=10)
    print(f"item of {size / 1e6:.1f} MB (body), {new} new statement, {report.sent} alert(s)")
    print(f"idle worker: {idle:.0f} MB resident (peak so far {idle_peak:.0f} MB)")
    print(f"peak after the huge item: {peak:.0f} MB, +{peak - max(idle, idle_peak):.0f} MB")
    print(f"resident once it was stored and routed: {after:.0f} MB, +{after - idle:.0f} MB")
    print(f"goal (+50 MB at most): {'met' if peak - max(idle, idle_peak) <= 50 else 'NOT met'}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megabytes", type=float, default=9.0)
    asyncio.run(main(p.parse_args().megabytes))
