"""Measure the fast path of issue 9 on the shared corpus: files it reads, and parse_feed's time
with it (feedparser on what it declines) against feedparser alone, in the same run.

Run from the repository root::

    python benchmarks/fast_path.py [--corpus ../shared/corpus] [--repeat 5]

Every feed file under ``<corpus>/feeds/`` is parsed end to end by ``parse_feed`` (text
normalization and encoding repair included), ``--repeat`` times with the fast path and as many
without, the two alternating so that a busy machine slows both alike. A file's time is the median
of its runs; totals are sums of medians. CPU time (``time.process_time``) is the figure to quote,
as other processes share the machine; wall time is printed beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.errors import FeedParseError  # noqa: E402
from bot.sources.fastfeed import parse_fast  # noqa: E402
from bot.sources.feedparse import parse_feed  # noqa: E402

FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)


def _once(body: bytes, url: str, fast: bool) -> tuple[float, float]:
    """(CPU ms, wall ms) of one parse_feed."""
    c0, w0 = time.process_time(), time.perf_counter()
    with contextlib.suppress(FeedParseError):
        parse_feed(
            body, source_key="bench", url=url, content_type=None, fetched_at=FETCHED_AT, fast=fast
        )
    return (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    feeds = args.corpus / "feeds"
    files = sorted(p for p in feeds.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")
    rows: list[tuple[str, bool, float, float, float, float]] = []
    for path in files:
        body = path.read_bytes()
        url = "https://example.org/feeds/" + str(path.relative_to(feeds))
        accepted = parse_fast(body, None) is not None
        fast: list[tuple[float, float]] = []
        slow: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            fast.append(_once(body, url, True))
            slow.append(_once(body, url, False))
        rows.append(
            (
                str(path.relative_to(feeds)),
                accepted,
                statistics.median(c for c, _ in fast),
                statistics.median(c for c, _ in slow),
                statistics.median(w for _, w in fast),
                statistics.median(w for _, w in slow),
            )
        )
    acc = [r for r in rows if r[1]]
    declined = len(rows) - len(acc)
    print(f"files: {len(rows)}, read by the fast path: {len(acc)}, by feedparser: {declined}")
    print(f"repeat: {args.repeat} (median per file), parse_feed end to end")
    print()
    print(
        "| files | fast path + feedparser, CPU ms | feedparser only, CPU ms | speedup "
        "| wall ms (fast / feedparser) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, subset in (("all", rows), ("accepted by the fast path", acc)):
        cf, cs = sum(r[2] for r in subset), sum(r[3] for r in subset)
        wf, ws = sum(r[4] for r in subset), sum(r[5] for r in subset)
        print(f"| {label} ({len(subset)}) | {cf:,.1f} | {cs:,.1f} | {cs / cf:.2f}× "
              f"| {wf:,.1f} / {ws:,.1f} |")  # fmt: skip
    if acc:
        speedups = sorted(r[3] / r[2] for r in acc if r[2] > 0)
        q = statistics.quantiles(speedups, n=4)
        print()
        print(f"per accepted file, CPU speedup: min {speedups[0]:.1f}×, quartiles {q[0]:.1f}× / "
              f"{q[1]:.1f}× / {q[2]:.1f}×, max {speedups[-1]:.1f}×")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
