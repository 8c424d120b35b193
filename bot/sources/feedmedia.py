"""The photos of each item of an XML feed: image enclosures and Media RSS. No I/O.

Read from the body itself, the same for the fast path and feedparser's (issue 11), so that both
give each item the same photos; an item's position in the document is its place in both.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from lxml import etree

__all__ = ["MAX_PHOTOS", "item_photos"]

#: a Telegram album takes at most 10
MAX_PHOTOS = 10

_ATOM = "http://www.w3.org/2005/Atom"
_MRSS = "http://search.yahoo.com/mrss/"
_ITEMS = frozenset({"item", "{http://purl.org/rss/1.0/}item", f"{{{_ATOM}}}entry"})
# Without one of these the body has no photo to read: the body is not parsed again.
_MARKERS = (b"enclosure", b"search.yahoo.com/mrss")


def item_photos(body: bytes, base: str) -> list[tuple[str, ...]] | None:
    """Per item or entry, in document order, the URLs of its photos; None when the body is no
    well-formed XML (then no item gets photos: they are an extra, never a reason to fail).

    An image ``<enclosure>`` (RSS), ``<link rel="enclosure">`` (Atom) or ``<media:content>``
    with an image medium or type counts; ``<media:thumbnail>`` only when there is none of those.
    """
    if not any(m in body for m in _MARKERS):
        return []
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return [_photos(el, base) for el in root.iter() if el.tag in _ITEMS]


def _photos(item: Any, base: str) -> tuple[str, ...]:
    found: list[str] = []
    thumbs: list[str] = []
    for el in item.iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        kind = (el.get("type") or "").strip().lower()
        if tag == "enclosure" and kind.startswith("image/"):
            found.append(el.get("url") or "")
        elif (
            tag == f"{{{_ATOM}}}link" and el.get("rel") == "enclosure" and kind.startswith("image/")
        ):
            found.append(el.get("href") or "")
        elif tag == f"{{{_MRSS}}}content" and (
            (el.get("medium") or "").strip().lower() == "image" or kind.startswith("image/")
        ):
            found.append(el.get("url") or "")
        elif tag == f"{{{_MRSS}}}thumbnail":
            thumbs.append(el.get("url") or "")
    urls: list[str] = []
    for raw in found or thumbs[:1]:
        url = urljoin(base, raw.strip()) if raw.strip() else ""
        if url.startswith(("https://", "http://")) and url not in urls:
            urls.append(url)
    return tuple(urls[:MAX_PHOTOS])
