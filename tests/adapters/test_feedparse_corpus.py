"""Corpus checks for bot.sources.feedparse: every real feed parses or is refused cleanly, and the
results agree with what feed-rs and rss-parser publish for their own feeds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from bot.errors import FeedParseError
from bot.sources.feedparse import ParsedFeed, parse_feed
from bot.text import canonical_url, html_to_text

pytestmark = pytest.mark.corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FEEDS = CORPUS / "feeds"
EXPECTED = CORPUS / "feeds_expected"
FETCHED = datetime(2030, 1, 1, tzinfo=UTC)
BASE = "https://example.org/feeds/"

if not FEEDS.is_dir():
    pytest.skip("../shared/corpus is absent", allow_module_level=True)

FILES = sorted(
    str(p.relative_to(FEEDS)) for p in FEEDS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv"
)

# Where the published expectation and we differ on purpose, and why.
ID_DEVIATIONS = {
    # feedparser resolves Atom <id> values against xml:base ("t3_x" -> "/t3_x"); stable per feed.
    "rss-parser/test/input/reddit-home.rss",
}
# feed-rs makes up an id (an md5 or a UUID) for an item that has none; we make our own.
_GENERATED_ID = re.compile(r"^(?:[0-9a-f]{20,32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$")


@cache
def parsed(rel: str) -> ParsedFeed | FeedParseError:
    try:
        return parse_feed(
            (FEEDS / rel).read_bytes(),
            source_key=rel,
            url=BASE + rel,
            content_type=None,
            fetched_at=FETCHED,
        )
    except FeedParseError as exc:
        return exc


@pytest.mark.parametrize("rel", FILES)
def test_every_corpus_file_parses_or_is_refused(rel: str) -> None:
    result = parsed(rel)
    if isinstance(result, FeedParseError):
        assert result.source_key == rel
        return
    for item in result.items:
        assert item.external_id
        assert item.published_at.utcoffset() == timedelta(0)
        assert item.published_estimated == (item.published_at == FETCHED)
        json.loads(item.raw)


def _text(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _date(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _load(path: Path) -> Any:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return json.loads(raw.decode("latin-1"))


def expectations() -> list[tuple[str, list[dict[str, Any]]]]:
    """(feed path, expected entries as id/title/link/date) from feed-rs and rss-parser."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for p in sorted((EXPECTED / "feed-rs").rglob("*.serde.json")):
        folder = FEEDS / p.relative_to(EXPECTED).parent
        feeds = list(folder.glob(p.name[: -len(".serde.json")] + ".*"))
        if feeds:
            entries = [
                {
                    "id": None if _GENERATED_ID.match(e.get("id") or "") else _text(e.get("id")),
                    "title": (e.get("title") or {}).get("content"),
                    "link": _text((e.get("links") or [{}])[0].get("href")),
                    "date": _date(e.get("published") or e.get("updated")),
                }
                for e in _load(p).get("entries") or []
            ]
            out.append((str(feeds[0].relative_to(FEEDS)), entries))
    inputs = FEEDS / "rss-parser" / "test" / "input"
    for p in sorted((EXPECTED / "rss-parser" / "test" / "output").glob("*.json")):
        feeds = list(inputs.glob(p.stem + ".*"))
        if feeds:
            entries = [
                {
                    "id": _text(i.get("guid")) or _text(i.get("id")),
                    "title": i.get("title") if isinstance(i.get("title"), str) else None,
                    "link": _text(i.get("link")),
                    "date": _date(i.get("isoDate")),
                }
                for i in (_load(p).get("feed") or {}).get("items") or []
            ]
            out.append((str(feeds[0].relative_to(FEEDS)), entries))
    return out


EXPECTATIONS = expectations() if EXPECTED.is_dir() else []


@pytest.mark.parametrize(("rel", "expected"), EXPECTATIONS, ids=[e[0] for e in EXPECTATIONS])
def test_agrees_with_published_expectations(rel: str, expected: list[dict[str, Any]]) -> None:
    result = parsed(rel)
    assert not isinstance(result, FeedParseError), result
    assert len(result.items) == len(expected)
    for item, exp in zip(result.items, expected, strict=True):
        # rss-parser decoded some ISO-8859-1 feeds as UTF-8; a U+FFFD there is its mistake.
        if exp["title"] is not None and "\ufffd" not in exp["title"]:
            assert item.title == html_to_text(exp["title"])
        if exp["link"]:
            want = canonical_url(urljoin(BASE + rel, exp["link"]))
            assert item.url is not None
            assert canonical_url(item.url) == want
        if exp["date"] is not None:
            assert not item.published_estimated
            assert abs(item.published_at - exp["date"]) < timedelta(seconds=1)
        if exp["id"] and rel not in ID_DEVIATIONS:
            assert item.external_id == exp["id"]


_CYRILLIC_DIRS = (
    "KOI8-R",
    "windows-1251-russian",
    "windows-1251-bulgarian",
    "iso-8859-5-russian",
    "IBM866",
    "MacCyrillic",
)
CYRILLIC = [f for f in FILES if f.startswith("chardet/") and f.split("/")[2] in _CYRILLIC_DIRS] + [
    "node-feedparser/test/feeds/iconv.xml"
]


@pytest.mark.parametrize("rel", CYRILLIC)
def test_cyrillic_feeds_come_out_as_cyrillic(rel: str) -> None:
    result = parsed(rel)
    assert not isinstance(result, FeedParseError), result
    words = " ".join(f"{i.title} {i.text}" for i in result.items)
    assert re.search(r"[\u0400-\u04ff]{3}", words)
    # Cyrillic decoded as Latin-1 shows as runs of accented Latin letters; U+FFFD as loss.
    assert not re.search(r"[\ufffd\u0080-\u009f]|[\u00c0-\u00ff]{3,}", words)


def test_turkish_feed_keeps_its_letters() -> None:
    result = parsed("chardet/tests/iso-8859-9-turkish/divxplanet.com.xml")
    assert not isinstance(result, FeedParseError), result
    titles = " ".join(i.title for i in result.items)
    assert "altyazısı" in titles
    assert not re.search(r"[\ufffdÝÞðýþ]", titles)


# Issue 7: what ftfy's encoding repair changes in the corpus. Every field it changes is listed
# here with why; a change anywhere else (correct text altered) fails the test.
REPAIRED_MOJIBAKE = {
    # feedparser's own test of UTF-8 read as windows-1252: "â€™â€\x9d" is "’”"
    "feedparser/tests/encoding/bozo_linenoise.xml",
}
# Feeds in a legacy encoding they do not declare: decoded as windows-1252 before ftfy sees
# them, their text is wrong already; ftfy turns some of that wrong text into other wrong text.
ALREADY_MISDECODED = {
    f"feedparser/tests/illformed/chardet/{name}.xml"
    for name in ("eucjp", "euckr", "gb2312", "koi8r", "shiftjis", "tis620")
}


@cache
def unrepaired(rel: str) -> ParsedFeed | FeedParseError:
    try:
        return parse_feed(
            (FEEDS / rel).read_bytes(),
            source_key=rel,
            url=BASE + rel,
            content_type=None,
            fetched_at=FETCHED,
            repair_encoding=False,
        )
    except FeedParseError as exc:
        return exc


def test_encoding_repair_changes_no_correct_text_in_the_corpus() -> None:
    changed: dict[str, int] = {}
    fields = 0
    for rel in FILES:
        fixed, plain = parsed(rel), unrepaired(rel)
        if isinstance(fixed, FeedParseError) or isinstance(plain, FeedParseError):
            assert type(fixed) is type(plain)
            continue
        assert fixed.repaired == sum(
            (a.title, a.text) != (b.title, b.text)
            for a, b in zip(fixed.items, plain.items, strict=True)
        )
        for a, b in zip(fixed.items, plain.items, strict=True):
            for new, old in ((a.title, b.title), (a.text, b.text)):
                fields += bool(old)
                if new != old:
                    changed[rel] = changed.get(rel, 0) + 1
            assert a.raw == b.raw  # the evidence is the text as published
    assert fields > 4000
    assert set(changed) == REPAIRED_MOJIBAKE | ALREADY_MISDECODED, changed


# (The corpus holds no Armenian; tests/unit/test_feedparse.py checks Armenian text.)
_SCRIPTS = {
    "Cyrillic": re.compile(r"[\u0400-\u04ff]{3}"),
    "Azerbaijani/Turkish": re.compile(r"[əƏğĞışŞİ]"),
}


@pytest.mark.parametrize("script", sorted(_SCRIPTS))
def test_correct_text_in_the_speakers_scripts_is_left_unchanged(script: str) -> None:
    seen = 0
    for rel in FILES:
        fixed, plain = parsed(rel), unrepaired(rel)
        if isinstance(fixed, FeedParseError) or isinstance(plain, FeedParseError):
            continue
        if rel in ALREADY_MISDECODED:
            continue
        for a, b in zip(fixed.items, plain.items, strict=True):
            if _SCRIPTS[script].search(b.title + b.text):
                seen += 1
                assert (a.title, a.text) == (b.title, b.text), rel
    assert seen > 0
