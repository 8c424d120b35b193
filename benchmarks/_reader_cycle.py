"""The reader side of `poll_cycle.py`: one update of every feed through lemon24's `reader`.

    python benchmarks/_reader_cycle.py prime DB URLS_FILE   # add the feeds, update them once
    python benchmarks/_reader_cycle.py cycle DB [--workers 16]

``cycle`` calls ``update_feeds(workers=N, scheduled=False)``: every feed, due or not, as
``watchpost once`` polls every source (reader's default, ``scheduled=True``, would skip feeds
updated in the last hour). It prints one JSON line per new entry (``feed``, ``id``, ``link``),
collected by an ``after_entry_update_hooks`` hook, so that nothing extra is read back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

try:
    import sgmllib  # type: ignore[import-not-found]  # noqa: F401
except ModuleNotFoundError:
    # reader 3.26's bundled feedparser imports `sgmllib` (the sgmllib3k package), which reader
    # does not declare; feedparser-sgmllib is the same Python 2.7 module under another name.
    import feedparser_sgmllib

    sys.modules["sgmllib"] = feedparser_sgmllib

from reader import EntryUpdateStatus, Reader, make_reader


def prime(db: str, urls_file: str, workers: int) -> None:
    """Add every feed of `urls_file` (one URL a line) and update them all once."""
    reader = make_reader(db)
    for url in Path(urls_file).read_text().split():
        reader.add_feed(url, exist_ok=True)
    reader.update_feeds(workers=workers, scheduled=False)
    reader.close()


def cycle(db: str, workers: int) -> None:
    """Update every feed once; print the new entries as JSON lines."""
    reader = make_reader(db)
    new: list[dict[str, Any]] = []

    def on_entry(_reader: Reader, entry: Any, status: EntryUpdateStatus) -> None:
        if status is EntryUpdateStatus.NEW:
            new.append({"feed": entry.feed_url, "id": entry.id, "link": entry.link})

    reader.after_entry_update_hooks.append(on_entry)
    reader.update_feeds(workers=workers, scheduled=False)
    reader.close()
    for row in new:
        print(json.dumps(row))


def main() -> None:
    """Parse the arguments and run one mode."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("prime", "cycle"))
    p.add_argument("db")
    p.add_argument("urls", nargs="?")
    p.add_argument("--workers", type=int, default=16)
    args = p.parse_args()
    if args.mode == "prime":
        if not args.urls:
            sys.exit("prime needs URLS_FILE")
        prime(args.db, args.urls, args.workers)
    else:
        cycle(args.db, args.workers)


if __name__ == "__main__":
    main()
