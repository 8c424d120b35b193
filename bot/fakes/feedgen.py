"""Builds RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents from items, for fake feed servers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

__all__ = ["FeedEntry", "atom", "json_feed", "render_feed", "rss"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a generated feed."""

    id: str
    title: str
    #: HTML body
    html: str
    link: str | None
    published: datetime | None
    language: str | None = None


def rss(
    title: str, link: str, entries: Sequence[FeedEntry], *, language: str | None = None
) -> bytes:
    """An RSS 2.0 document, newest entry first as most sites publish them."""
    items = []
    for e in entries:
        parts = [
            f'<guid isPermaLink="false">{escape(e.id)}</guid>',
            f"<title>{escape(e.title)}</title>",
        ]
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        parts.append(f"<description>{escape(e.html)}</description>")
        items.append("<item>" + "".join(parts) + "</item>")
    lang = f"<language>{escape(language)}</language>" if language else ""
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>{lang}"
        f"<description>{escape(title)}</description>" + "".join(items) + "</channel></rss>"
    )
    return doc.encode("utf-8")


def atom(
    title: str, link: str, entries: Sequence[FeedEntry], *, language: str | None = None
) -> bytes:
    """An Atom 1.0 document."""
    items = []
    updated = max((e.published for e in entries if e.published), default=None)
    for e in entries:
        parts = [f"<id>{escape(e.id)}</id>", f"<title>{escape(e.title)}</title>"]
        if e.link:
            parts.append(f'<link rel="alternate" href={quoteattr(e.link)}/>')
        if e.published:
            parts.append(f"<published>{e.published.isoformat()}</published>")
            parts.append(f"<updated>{e.published.isoformat()}</updated>")
        parts.append(f'<content type="html">{escape(e.html)}</content>')
        lang = f" xml:lang={quoteattr(e.language)}" if e.language else ""
        items.append(f"<entry{lang}>" + "".join(parts) + "</entry>")
    lang = f" xml:lang={quoteattr(language)}" if language else ""
    upd = f"<updated>{updated.isoformat()}</updated>" if updated else ""
    doc = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{lang}>'
        f"<title>{escape(title)}</title><id>{escape(link)}</id>"
        f'<link rel="alternate" href={quoteattr(link)}/>{upd}' + "".join(items) + "</feed>"
    )
    return doc.encode("utf-8")


def json_feed(
    title: str, link: str, entries: Sequence[FeedEntry], *, language: str | None = None
) -> bytes:
    """A JSON Feed 1.1 document."""
    items = []
    for e in entries:
        item: dict[str, object] = {"id": e.id, "title": e.title, "content_html": e.html}
        if e.link:
            item["url"] = e.link
        if e.published:
            item["date_published"] = e.published.isoformat()
        if e.language:
            item["language"] = e.language
        items.append(item)
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": link,
        "items": items,
    }
    if language:
        doc["language"] = language
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


_FORMATS = {
    "rss": (rss, "application/rss+xml; charset=utf-8"),
    "atom": (atom, "application/atom+xml; charset=utf-8"),
    "json": (json_feed, "application/feed+json"),
}


def render_feed(
    fmt: str, title: str, link: str, entries: Sequence[FeedEntry], *, language: str | None = None
) -> tuple[bytes, str]:
    """The document in format `fmt` ("rss", "atom" or "json") and its content type."""
    build, content_type = _FORMATS[fmt]
    return build(title, link, entries, language=language), content_type
