"""Feed bodies to fetched items: RSS 0.9x/1.0/2.0, Atom and JSON Feed, read from bytes. No I/O.

XML goes to feedparser (chosen by measurement, see ``benchmarks/parse_corpus.py`` and the
README): it decodes the legacy encodings our speakers use, tolerates broken feeds, and never
raises. In front of it, ``bot.sources.fastfeed`` reads well-formed RSS 2.0 and Atom in UTF-8
with lxml into entries of feedparser's shape, or declines (issue 9); one builder
(``_feed_result``) turns the entries of either into items, and the corpus test proves the two
equal wherever the fast path reads. JSON Feed 1.0/1.1, which feedparser 6 does not read, goes
to a small reader on the standard ``json`` module.

Hostile input: the body is handed to feedparser as a stream, never as ``bytes`` (feedparser opens
a ``bytes`` value that names a local file); entity declarations are removed before parsing, so
neither internal entities (billion laughs) nor external ones (XXE) are ever expanded; deep JSON
nesting is caught. Whatever the body, the only exception is ``FeedParseError``.

Text as the source meant it (issue 7):

- Double-encoded UTF-8 ("Itâ€™s", "Ð¯Ð½Ð´ÐµÐºÑ"), common in real feeds, is repaired in items'
  titles and texts with ftfy's encoding repair only (``ftfy.fix_encoding``: no quote, dash or
  width changes), so that terms match and alerts read right; the item's ``raw`` keeps the text
  as published, and the feed result counts the items repaired (the fetcher logs it once per
  source). feedparser itself already decodes a whole field that is Latin-1-encodable and valid
  UTF-8, and maps C1 controls to their windows-1252 characters; ftfy does the rest (mixed text).
- Paragraphs are kept: texts come out with a blank line between paragraphs (see
  `bot.text.html_to_text`); titles are one line.
- Atom ``<content>``/``<summary>`` without ``type=`` is text by the RFC, but feeds put escaped
  HTML there: a text value holding HTML elements is read as HTML.
"""

from __future__ import annotations

import calendar
import io
import json
import re
import warnings
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot.errors import FeedParseError
from bot.model import FetchedItem
from bot.sources.bounds import MAX_TEXT_CHARS, MAX_TITLE_CHARS
from bot.sources.fastfeed import parse_fast
from bot.sources.feedmedia import item_photos
from bot.text import content_hash, fold_lines, fold_whitespace, html_to_text

__all__ = ["ParsedFeed", "parse_feed"]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed body holds, normalized, from the parser to the feed adapter."""

    #: in document order
    items: tuple[FetchedItem, ...]
    title: str
    #: the feed's own language, when it gives one
    language: str | None
    #: non-fatal problems worth a log line (a feed that is not well-formed but still gave items)
    warnings: tuple[str, ...] = ()
    #: items whose title or text had double-encoded UTF-8 repaired (their raw keeps it)
    repaired: int = 0
    #: digests of the settled items not read again (issue 9, `bot.unchanged`)
    skipped: tuple[bytes, ...] = ()


_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_GZIP_MAGIC = b"\x1f\x8b"
# An entity declaration, its quoted values allowed to hold ">".
_ENTITY_DECL = re.compile(rb"""<!ENTITY(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_XML_ENCODING_DECL = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["'][^"']+["']""")
_UNICODE_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_SAFE_SCHEMES = frozenset({"http", "https"})
_WEEKDAY = re.compile(r"^\s*[^\W\d]+\.?,\s*")
# An HTML element as feeds write it in a field that says it is text: a known tag name, then
# ">", "/" or an attribute. "a < b", "<3" or "x<y" are not.
_HTML_ELEMENT = re.compile(
    r"</?(?:p|div|br|span|a|b|i|em|strong|u|img|ul|ol|li|h[1-6]|blockquote|table|tr|td|th"
    r"|figure|figcaption|section|article|header|footer|pre|code|hr|iframe|small|sup|sub)"
    r"(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)


def parse_feed(
    body: bytes,
    *,
    source_key: str,
    url: str,
    content_type: str | None,
    fetched_at: datetime,
    repair_encoding: bool = True,
    fast: bool = True,
    skip: Container[bytes] = frozenset(),
) -> ParsedFeed:
    """Parse one feed body into items.

    Args:
        body: the response body, already decompressed (Content-Encoding decoded).
        source_key: the source's key, carried by errors.
        url: the feed's URL; relative links are resolved against it.
        content_type: the HTTP Content-Type; its charset is used when the body declares none.
        fetched_at: when the body was fetched; the date of items that give none.
        repair_encoding: repair double-encoded UTF-8 in titles and texts (off only to measure
            what the repair changes).
        fast: read well-formed RSS 2.0 and Atom with the fast path (off only to compare it
            with feedparser, which reads everything else).
        skip: digests of settled items (`bot.unchanged`): the fast path does not read them
            again and lists them in `ParsedFeed.skipped`; feedparser reads every item.

    Returns:
        The feed's items, title and language. A valid feed with no items gives no items.

    Raises:
        FeedParseError: the body is not a feed at all (empty, HTML, garbage, compressed).
    """
    fetched_at = fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    head = body.lstrip(_BOM_AND_SPACE)
    if not head:
        raise FeedParseError(source_key, "empty body")
    if body.startswith(_GZIP_MAGIC):
        raise FeedParseError(source_key, "gzip-compressed body (Content-Encoding not decoded)")
    ctx = _Context(source_key, url, fetched_at, repair_encoding, fast, skip)
    # Sniffed, not taken from Content-Type: servers label feeds of both kinds wrongly.
    if head.startswith((b"{", b"[")):
        return _parse_json_feed(body, ctx)
    return _parse_xml_feed(body, content_type, ctx)


@dataclass(frozen=True, slots=True)
class _Context:
    source_key: str
    url: str
    fetched_at: datetime
    repair_encoding: bool
    fast: bool
    skip: Container[bytes]
    #: how many items had their title or text repaired so far (one counter, filled by _item)
    repaired: list[int] = field(default_factory=lambda: [0])


# --- XML, through feedparser ----------------------------------------------------------------


def _parse_xml_feed(body: bytes, content_type: str | None, ctx: _Context) -> ParsedFeed:
    # issue 9: well-formed RSS 2.0 and Atom go through the fast path, which gives feedparser's
    # values or declines (None); equality is proven on the corpus (test_fastfeed_corpus.py).
    # issue 11: each item's photos, read from the body alike for both paths
    photos = item_photos(body, ctx.url)
    if ctx.fast:
        fast = parse_fast(body, content_type, url=ctx.url, skip=ctx.skip)
        if fast is not None:
            if photos:
                # the photos of the items read, by their place among all the body's items
                photos = (
                    [photos[p] for p in fast.positions]
                    if len(photos) == len(fast.positions) + len(fast.skipped)
                    else None
                )
            parsed = _feed_result(
                fast.feed, fast.entries, [], ctx, photos, fast.digests, as_published=True
            )
            return replace(parsed, skipped=fast.skipped)
    notes: list[str] = []
    if b"<!ENTITY" in body.upper():
        body = _ENTITY_DECL.sub(b"", body)
        notes.append("entity declarations removed; their references were not expanded")
    # No content-location: feedparser would resolve non-URL ids ("t3_x") against it. Links are
    # resolved here instead.
    headers: dict[str, str] = {}
    if content_type and "charset=" in content_type.lower() and not _declares_encoding(body):
        # The HTTP charset decides only when the body says nothing itself: servers often send a
        # default charset that the feed's own declaration contradicts.
        headers["content-type"] = content_type
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A stream, not bytes: feedparser opens a bytes value naming a local file.
            result = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser means never to raise; if it does, the body is bad
        raise FeedParseError(ctx.source_key, f"feed parser failed: {exc!r}") from exc

    entries = result.get("entries") or []
    bozo = result.get("bozo_exception")
    if not result.get("version") and not entries:
        reason = f": {_describe(bozo)}" if bozo else ""
        raise FeedParseError(ctx.source_key, f"not a feed{reason}")
    if bozo is not None:
        notes.append(f"feed is not well-formed: {_describe(bozo)}")

    return _feed_result(result.get("feed") or {}, entries, notes, ctx, photos)


def _feed_result(
    feed: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    notes: list[str],
    ctx: _Context,
    photos: list[tuple[str, ...]] | None = None,
    digests: Sequence[bytes] = (),
    *,
    as_published: bool = False,
) -> ParsedFeed:
    """The one builder of both paths: feedparser's feed and entries (or the fast path's, in the
    same shape, `as_published`: with each entry's XML as published) to items, with each entry's
    photos when the body's items are the entries."""
    if photos is not None and len(photos) != len(entries):
        photos = None  # a loose parse found other items: no photo rather than a wrong one
    feed_lang = _language(feed.get("language")) or _language(
        (feed.get("title_detail") or {}).get("language")
    )
    items: list[FetchedItem] = []
    for i, entry in enumerate(entries):
        try:
            item = _xml_item(
                entry,
                feed_lang,
                ctx,
                as_published=as_published,
                photos=photos[i] if photos else (),
                digest=digests[i] if digests else None,
            )
            items.append(item)
        except (TypeError, ValueError, OverflowError) as exc:
            notes.append(f"entry skipped: {exc}")
    title = _detail_text(feed.get("title"), feed.get("title_detail"))
    return _result(items, title, feed_lang, notes, ctx)


def _declares_encoding(body: bytes) -> bool:
    return body.startswith(_UNICODE_BOMS) or bool(_XML_ENCODING_DECL.match(body.lstrip()))


def _describe(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _xml_item(
    entry: Mapping[str, Any],
    feed_lang: str | None,
    ctx: _Context,
    *,
    as_published: bool,
    photos: tuple[str, ...],
    digest: bytes | None,
) -> FetchedItem:
    title = _detail_text(entry.get("title"), entry.get("title_detail"))
    text = _xml_text(entry)
    # Told by the path, not by a key: feedparser keeps an unknown element under its own name,
    # so a feed could name one as the fast path's AS_PUBLISHED.
    if as_published and isinstance(entry, dict):
        raw = _raw_as_published(entry)
    else:
        raw = _raw_json({k: v for k, v in entry.items() if not k.endswith(_NOT_RAW)})
    published = _struct_date(entry)
    link = _link(entry.get("link"), ctx.url)
    lang = (
        _language(entry.get("language"))
        or _language((entry.get("title_detail") or {}).get("language"))
        or feed_lang
    )
    return _item(
        raw_id=entry.get("id"),
        title=title,
        text=text,
        link=link,
        published=published,
        language=lang,
        raw=raw,
        ctx=ctx,
        photos=photos,
        digest=digest,
    )


def _raw_as_published(entry: dict[str, Any]) -> str:
    """The raw payload of a fast-path entry, which carries its XML as published: its text once.

    Left out, besides the parsed twins and details, are the summary and content: that XML's own
    content (a 9 MB item's payload held its text twice). They are taken out of `entry`, the fast
    path's own dict, once its text is made: a huge item's HTML (up to the body cap) would
    otherwise stay alive while its payload is encoded."""
    entry.pop("summary", None)
    entry.pop("content", None)
    return _raw_json({k: v for k, v in entry.items() if not k.endswith(_NOT_RAW)})


def _detail_text(value: Any, detail: Any, *, body: bool = False) -> str:
    """A title (one line) or, with `body`, a statement's text (paragraphs kept); a huge HTML
    value is read only as far as the bounds of `bot.sources.bounds` need."""
    if not isinstance(value, str):
        return ""
    kind = detail.get("type", "") if isinstance(detail, Mapping) else ""
    if kind == "text/plain" and not (body and _HTML_ELEMENT.search(value)):
        return fold_whitespace(value, paragraphs=body)
    return html_to_text(value, paragraphs=body, limit=MAX_TEXT_CHARS if body else MAX_TITLE_CHARS)


def _xml_text(entry: Mapping[str, Any]) -> str:
    # Full content first: it is what the statement says; the summary may be a teaser.
    for content in entry.get("content") or ():
        if isinstance(content, Mapping) and isinstance(content.get("value"), str):
            text = _detail_text(content["value"], content, body=True)
            if text:
                return text
    return _detail_text(entry.get("summary"), entry.get("summary_detail"), body=True)


def _struct_date(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published", "updated", "created"):
        st = entry.get(f"{key}_parsed")
        if st:
            try:
                # feedparser gives these in UTC.
                return datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    for key in ("published", "updated", "created"):
        value = entry.get(key)
        if isinstance(value, str):
            # RFC 822 dates with a localized weekday ("mer, 16 nov 2022 00:38:15 +0100"),
            # which feedparser gives up on; the weekday says nothing the date does not.
            found = _text_date(_WEEKDAY.sub("", value))
            if found:
                return found
    return None


# --- JSON Feed, through the standard library ------------------------------------------------


def _parse_json_feed(body: bytes, ctx: _Context) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FeedParseError(ctx.source_key, f"not JSON: {_describe(exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise FeedParseError(ctx.source_key, "JSON document is not a JSON Feed (no items list)")
    notes: list[str] = []
    version = doc.get("version")
    if not (isinstance(version, str) and version.startswith(_JSON_FEED_VERSION)):
        notes.append(f"unknown JSON Feed version: {str(version)[:80]!r}")
    feed_lang = _language(doc.get("language"))
    items: list[FetchedItem] = []
    for raw in doc["items"]:
        if not isinstance(raw, dict):
            notes.append("entry skipped: not an object")
            continue
        items.append(_json_item(raw, feed_lang, ctx))
    title = html_to_text(doc["title"]) if isinstance(doc.get("title"), str) else ""
    return _result(items, title, feed_lang, notes, ctx)


def _json_item(raw: Mapping[str, Any], feed_lang: str | None, ctx: _Context) -> FetchedItem:
    raw_id = raw.get("id")
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)  # JSON Feed 1.0 readers met numeric ids
    if isinstance(raw.get("content_text"), str) and raw["content_text"].strip():
        text = fold_whitespace(raw["content_text"], paragraphs=True)
    else:
        text = next(
            (
                html_to_text(raw[k], paragraphs=True, limit=MAX_TEXT_CHARS)
                for k in ("content_html", "summary")
                if isinstance(raw.get(k), str) and raw[k].strip()
            ),
            "",
        )
    return _item(
        raw_id=raw_id,
        title=html_to_text(raw["title"]) if isinstance(raw.get("title"), str) else "",
        text=text,
        link=_link(raw.get("url"), ctx.url) or _link(raw.get("external_url"), ctx.url),
        published=_text_date(raw.get("date_published")) or _text_date(raw.get("date_modified")),
        language=_language(raw.get("language")) or feed_lang,
        raw=_raw_json(raw),
        ctx=ctx,
    )


def _text_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            # JSON Feeds in the wild also use RFC 822 dates.
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# --- shared ---------------------------------------------------------------------------------


def _item(
    *,
    raw_id: Any,
    title: str,
    text: str,
    link: str | None,
    published: datetime | None,
    language: str | None,
    raw: str,
    ctx: _Context,
    photos: tuple[str, ...] = (),
    digest: bytes | None = None,
) -> FetchedItem:
    if ctx.repair_encoding:
        # After HTML and whitespace, so that the repair sees the text a reader sees; folded
        # again, as a repaired character may be a space (a no-break space, restored). Only
        # when repaired: the title and text come folded (fold_whitespace, html_to_text), which
        # folding gives back as they are (issue 9: 9 us per 1 KB text; test_feedparse.py).
        fixed_title = _refold(title, _repair(title), fold_whitespace)
        fixed_text = _refold(text, _repair(text), fold_lines)
        if (fixed_title, fixed_text) != (title, text):
            ctx.repaired[0] += 1
        title, text = fixed_title, fixed_text
    if isinstance(raw_id, str) and raw_id.strip():
        external_id = raw_id.strip()
    elif link:
        external_id = link
    else:
        # Stable across polls: nothing here depends on the fetch.
        external_id = content_hash(title or text, published.isoformat() if published else "")
    return FetchedItem(
        external_id=external_id,
        title=title,
        text=text,
        url=link,
        published_at=published or ctx.fetched_at,
        published_estimated=published is None,
        language=language,
        raw=raw,
        photos=photos,
        digest=digest,
    )


def _refold(folded: str, repaired: str, fold: Callable[[str], str]) -> str:
    """`repaired` (the repair of the already `fold`ed `folded`), folded."""
    return folded if repaired == folded else fold(repaired)


def _repair(text: str) -> str:
    """`text` with double-encoded UTF-8 decoded; correct text is returned unchanged."""
    # fix_encoding is ftfy's encoding repair alone (fix_text would also straighten quotes and
    # change widths). On the corpus it changed no correctly decoded text (README).
    # ASCII is returned as it is by ftfy's first test; asked here, it skips ftfy's setting up
    # of its options, which took most of its time on a 1 KB text (issue 9).
    if not text or text.isascii():
        return text
    import ftfy  # here, not at the top: ftfy and wcwidth take 60 ms to import (issue 9)

    return ftfy.fix_encoding(text)


def _result(
    items: list[FetchedItem], title: str, language: str | None, notes: list[str], ctx: _Context
) -> ParsedFeed:
    if ctx.repair_encoding:
        title = fold_whitespace(_repair(title))
    return ParsedFeed(tuple(items), title, language, tuple(notes), ctx.repaired[0])


def _link(value: Any, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        absolute = urljoin(base, value.strip())
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    # Links end up clickable in alerts: nothing but the web.
    return absolute if scheme in _SAFE_SCHEMES else None


def _language(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


# Keys the raw payload leaves out: the parsed twins and details say again what their field says.
_NOT_RAW = ("_parsed", "_detail")


def _raw_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(
        fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
    )
