"""Corpus equality for bot.sources.fastfeed (issue 9): on every file of the shared corpus that the
fast path accepts, parse_feed gives exactly what it gives through feedparser alone."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from bot.errors import FeedParseError
from bot.sources.fastfeed import AS_PUBLISHED, parse_fast
from bot.sources.feedparse import ParsedFeed, parse_feed

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FEEDS = CORPUS / "feeds"
FETCHED = datetime(2030, 1, 1, tzinfo=UTC)
BASE = "https://example.org/feeds/"

if not FEEDS.is_dir():
    pytest.skip("../shared/corpus is absent", allow_module_level=True)

FILES = sorted(
    str(p.relative_to(FEEDS)) for p in FEEDS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv"
)
# The fast path must keep reading at least this many corpus files (it read 0 before issue 9):
# a change that makes it decline everything would pass the equality test and lose the speed.
MIN_ACCEPTED = 60
# Keys of the raw payload whose values the fast path gives exactly as feedparser does; it leaves
# out summary and content (the HTML as published, sanitized by feedparser: their text is equal),
# which its raw holds once, in the item's XML as published.
RAW_EQUAL_KEYS = ("id", "title", "link", "published", "updated")


def _parse(rel: str, *, fast: bool) -> ParsedFeed | FeedParseError:
    try:
        return parse_feed(
            (FEEDS / rel).read_bytes(),
            source_key=rel,
            url=BASE + rel,
            content_type=None,
            fetched_at=FETCHED,
            fast=fast,
        )
    except FeedParseError as exc:
        return exc


@cache
def accepted(rel: str) -> bool:
    return parse_fast((FEEDS / rel).read_bytes(), None) is not None


@pytest.mark.parametrize("rel", FILES)
def test_fast_path_gives_what_feedparser_gives(rel: str) -> None:
    if not accepted(rel):
        return
    fast, slow = _parse(rel, fast=True), _parse(rel, fast=False)
    assert isinstance(fast, ParsedFeed) and isinstance(slow, ParsedFeed), (fast, slow)
    assert (fast.title, fast.language, fast.warnings, fast.repaired) == (
        slow.title,
        slow.language,
        slow.warnings,
        slow.repaired,
    )
    assert len(fast.items) == len(slow.items)
    for a, b in zip(fast.items, slow.items, strict=True):
        # Every field but raw and the digest (only the fast path can skip an item it read
        # before), by name, so a new FetchedItem field is compared too.
        for name in a.__slots__:
            if name not in ("raw", "digest"):
                assert getattr(a, name) == getattr(b, name), (name, a.external_id)
        raw_fast, raw_slow = json.loads(a.raw), json.loads(b.raw)
        for key in RAW_EQUAL_KEYS:
            assert raw_fast.get(key) == raw_slow.get(key), (key, a.external_id)
        assert set(raw_fast) - {AS_PUBLISHED} <= set(raw_slow)
        assert not {"summary", "content"} & set(raw_fast)  # held once, in the XML as published
        assert re.match(r"<([\w.-]+:)?(item|entry)\b", raw_fast[AS_PUBLISHED])


def test_fast_path_reads_enough_of_the_corpus() -> None:
    count = sum(accepted(rel) for rel in FILES)
    print(f"fast path accepts {count} of {len(FILES)} corpus files")
    assert count >= MIN_ACCEPTED


@pytest.mark.parametrize("rel", FILES)
def test_skipping_settled_items_leaves_the_others_as_they_were(rel: str) -> None:
    """Issue 9: an item skipped as settled (`bot.unchanged`) changes nothing of the items read;
    every other item skipped, then every item."""
    if not accepted(rel):
        return
    whole = _parse(rel, fast=True)
    assert isinstance(whole, ParsedFeed)
    digests = [i.digest for i in whole.items]
    assert all(digests) and len(set(digests)) == len(digests), "one digest per item"
    skip = frozenset(d for d in digests[::2] if d)
    body = (FEEDS / rel).read_bytes()
    part = parse_feed(
        body, source_key=rel, url=BASE + rel, content_type=None, fetched_at=FETCHED, skip=skip
    )
    assert part.items == whole.items[1::2]
    assert part.skipped == tuple(digests[::2])
    every = parse_feed(
        body,
        source_key=rel,
        url=BASE + rel,
        content_type=None,
        fetched_at=FETCHED,
        skip=frozenset(d for d in digests if d),
    )
    assert (every.items, len(every.skipped), every.title) == ((), len(digests), whole.title)
