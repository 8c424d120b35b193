"""Well-formed RSS 2.0 and Atom 1.0 read fast, as feedparser reads them, or not at all. No I/O.

Issue 9: feedparser spends most of a poll's CPU. This module reads the common case with lxml and
returns entries in feedparser's own shape (the few keys ``bot.sources.feedparse`` reads: ``id``,
``title``/``title_detail``, ``link``, ``published``/``updated`` and their ``_parsed`` twins,
``summary``/``summary_detail``, ``content``), so that one builder turns either into items. It
**declines** (returns ``None``, and the caller uses feedparser) whenever it is not sure to give
the same values: another encoding, a DTD or entity, a document that is not well-formed (or that
libxml2 only warns about), RSS 1.0, 0.9x or Atom 0.3, an element feedparser maps into a field
read there that is not read here the same way, ``xml:lang`` in RSS, comments or markup inside a
field, HTML the sanitizer would change, text that feedparser would repair or re-map (C1
controls, double-encoded UTF-8), titles that look like HTML, dates it cannot read exactly as
feedparser does, repeated fields, anything unexpected. Ids and links are resolved against
``xml:base`` with feedparser's own URL functions. ``tests/adapters/test_fastfeed_corpus.py``
proves equality with feedparser on every accepted file of the shared corpus.

Not identical: the HTML of ``summary``/``content`` is the HTML as published, where feedparser
gives it sanitized; only its text (``bot.text.html_to_text``) is proven equal; and the item's raw
payload holds fewer of feedparser's keys (those read, with the same values, but not the summary
and content, which are that XML's own content) plus the entry's XML as published
(`AS_PUBLISHED`), so no evidence is lost and the item's text is held once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.entities import name2codepoint
from typing import Any

from feedparser import sanitizer as _sanitizer
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

from bot.unchanged import item_digest

__all__ = ["AS_PUBLISHED", "FastFeed", "parse_fast"]

#: the raw payload's key for the entry's XML exactly as published: the fast path reads fewer
#: keys than feedparser keeps, so the evidence keeps the whole element instead (author,
#: categories, media and all)
AS_PUBLISHED = "xml_as_published"

_ATOM = "http://www.w3.org/2005/Atom"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


def _xml_parser() -> etree.XMLParser:
    # Hardened: no entity is expanded, no DTD or network is read, no huge document is built.
    # One per call: an lxml parser (and its error log) must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# Searched, not upper-cased: a copy of the body would stay alive through the whole parse.
_DTD_OR_ENTITY = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)
# Media types feedparser reads without complaint when the HTTP Content-Type reaches it.
_XML_MEDIA = frozenset(
    {"application/xml", "text/xml", "application/rss+xml", "application/atom+xml"}
)

# Item children of RSS 2.0 that feedparser maps to fields this reader either gives or that
# bot.sources.feedparse never reads (author, category, comments, enclosure, dc:creator).
_RSS_ITEM_READ = frozenset({"title", "link", "description", "guid", "pubDate"})
_RSS_ITEM_NS_READ = frozenset({f"{{{_CONTENT}}}encoded", f"{{{_DC}}}date"})
_RSS_ITEM_IGNORED = frozenset({"author", "category", "comments", "enclosure"})
_RSS_CHANNEL_IGNORED = frozenset(
    {
        "link", "description", "copyright", "managingEditor", "webMaster", "pubDate",
        "lastBuildDate", "category", "generator", "docs", "cloud", "ttl", "image", "rating",
        "skipHours", "skipDays", f"{{{_ATOM}}}link",
    }
)  # fmt: skip
# Namespaced elements feedparser has a handler for that store only under keys never read here
# (author, tags, media, podcast data), by feedparser's name for them ("prefix_localname").
# Any namespaced element feedparser has no handler for is kept under its own prefixed key and
# is inert too. Not here, so declined: dc_title, media_title, dc_language, dc_date,
# dc_description, itunes_summary (in an item), dcterms_* and every unprefixed one.
_INERT_EVERYWHERE = frozenset(
    {
        "dc_creator", "dc_author", "dc_publisher", "dc_rights", "dc_subject", "dc_contributor",
        "media_thumbnail", "media_content", "media_category", "media_credit", "media_rating",
        "media_license", "media_restriction", "media_keywords", "media_group", "media_player",
        "itunes_author", "itunes_category", "itunes_name", "itunes_email", "itunes_subtitle",
        "itunes_owner", "itunes_keywords", "itunes_image", "itunes_block",
        "feedburner_browserfriendly", "georss_point",
    }
)  # fmt: skip
_INERT_IN_CHANNEL = _INERT_EVERYWHERE | {"itunes_summary", "media_description"}
_RSS_IMAGE = frozenset({"url", "title", "link", "width", "height", "description"})
_ATOM_ENTRY_IGNORED = frozenset(
    {f"{{{_ATOM}}}{n}" for n in ("author", "category", "contributor", "rights")}
)
_ATOM_FEED_IGNORED = frozenset(
    {
        f"{{{_ATOM}}}{n}"
        for n in (
            "id", "link", "updated", "author", "category", "contributor", "generator", "icon",
            "logo", "rights", "subtitle",
        )
    }
)  # fmt: skip
# feedparser's namespace table and handlers, read from the installed version.
_FP_NAMESPACES = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_FP_HANDLERS = frozenset(
    n.split("_", 2)[2].lower() for n in dir(_FeedParserMixin) if n.startswith(("_start_", "_end_"))
)
# Keys of feedparser's entries and feed that bot.sources.feedparse reads, and element names that
# change feedparser's state (SVG and MathML switch its title handling).
_READ_KEYS = frozenset(
    {
        "title", "link", "id", "summary", "content", "published", "updated", "created",
        "language", "description", "guid", "pubdate", "svg", "math",
    }
)  # fmt: skip
#: feedparser's base URL at an element (the element kept alive as the key); empty: none
_Bases = Mapping[Any, str]
# feedparser's map_content_type, for the types read here
_ATOM_TYPES = {
    "text": "text/plain",
    "plain": "text/plain",
    "text/plain": "text/plain",
    "html": "text/html",
    "text/html": "text/html",
}

# feedparser's own "looks like HTML" cues (mixin.looks_like_html): a close tag or an entity.
_HTMLISH = re.compile(r"</?\w|&#?\w+;")
_LINK_ENTITY = re.compile(r"&([A-Za-z0-9_]+);")
_C1 = re.compile(r"[\x80-\x9f]")
# In HTML fields: a start or end tag (its name, group 1) or a lone "<" (no group); with
# _MARKUP, also an entity (group 2) or a lone "&". Each branch starts with its literal "<" or "&",
# so that the regex engine skips the text between them without trying a branch at every
# character, and HTML without entities is searched for "<" alone, which is faster still (issue 9:
# the search cost as much as the rest of reading an item).
_TAG = re.compile(r"<(?:/?([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?/?>)?")
_MARKUP = re.compile(_TAG.pattern + r"|&(?:(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]+);)?")
# The named entities feedparser's HTML processor keeps as written (HTML 4's and "apos"); it
# turns any other into text ("&amp;name").
_NAMED_ENTITIES = frozenset(name2codepoint) | {"apos"}
# The elements feedparser's sanitizer keeps (it drops script, style and applet with their text
# and unknown elements' tags); read from the installed feedparser, so an upgrade cannot drift.
_KEPT_ELEMENTS = frozenset(
    e
    for e in getattr(_sanitizer._HTMLSanitizer, "acceptable_elements", ())
    if e not in ("script", "style", "applet", "noscript", "template", "title", "head")
)

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}
_RFC822 = re.compile(
    r"^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) (?:([+-])(\d{2})(\d{2})|(GMT|UT|UTC|Z|[ECMP][SD]T))$"
)
# feedparser's RFC 822 zone names that Watchpost's sources use (hours west of UTC).
_US_ZONES = {"EDT": 4, "EST": 5, "CDT": 5, "CST": 6, "MDT": 6, "MST": 7, "PDT": 7, "PST": 8}
_W3DTF = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:(Z)|([+-])(\d{2}):(\d{2}))$"
)


@dataclass(frozen=True, slots=True)
class FastFeed:
    """A feed read by the fast path, in feedparser's shape, to ``bot.sources.feedparse``."""

    #: feedparser's ``feed`` keys that are read: ``title``, ``title_detail``, ``language``
    feed: Mapping[str, Any]
    #: one mapping per entry, in document order, with feedparser's keys (dicts made for the
    #: caller, who may take a huge value out once it is used)
    entries: tuple[Mapping[str, Any], ...]
    #: per entry, its digest as published (`bot.unchanged.item_digest`)
    digests: tuple[bytes, ...] = ()
    #: per entry, its place among all the document's items, the skipped ones counted
    positions: tuple[int, ...] = ()
    #: the digests of the items skipped as settled, in document order
    skipped: tuple[bytes, ...] = ()


@dataclass(slots=True)
class _Items:
    """Each item element met, kept or skipped (issue 9: a settled item is not read again)."""

    url: str
    skip: Container[bytes]
    bases: _Bases
    entries: list[Mapping[str, Any]] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    skipped: list[bytes] = field(default_factory=list)
    seen: int = 0

    def wanted(self, el: Any) -> str | None:
        """The element's XML as published if it must be read; None if it is settled."""
        xml = _xml(el)
        digest = item_digest(self.url, self.bases.get(el, ""), xml)
        self.seen += 1
        if digest in self.skip:
            self.skipped.append(digest)
            return None
        self.digests.append(digest)
        self.positions.append(self.seen - 1)
        return xml

    def feed(self, feed: Mapping[str, Any]) -> FastFeed:
        return FastFeed(
            feed, tuple(self.entries), tuple(self.digests), tuple(self.positions),
            tuple(self.skipped),
        )  # fmt: skip


class _Decline(Exception):
    """The fast path is not sure; feedparser reads this body."""


def parse_fast(
    body: bytes,
    content_type: str | None,
    *,
    url: str = "",
    skip: Container[bytes] = frozenset(),
) -> FastFeed | None:
    """Read `body` as feedparser would, or return None when not sure to.

    Args:
        body: the response body, decompressed, entity declarations not yet removed.
        content_type: the HTTP Content-Type, as ``parse_feed`` hands it to feedparser.
        url: the feed's URL, which links are resolved against: part of each item's digest.
        skip: digests of settled items (`bot.unchanged`): not read, only listed as skipped.

    Returns:
        The feed in feedparser's shape, or None: use feedparser.
    """
    try:
        return _parse(body, content_type, url, skip)
    except _Decline:
        return None
    except Exception:  # a surprise is being unsure: feedparser reads the body
        return None


def _parse(body: bytes, content_type: str | None, url: str, skip: Container[bytes]) -> FastFeed:
    _check_encoding(body, content_type)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Decline from None
    if _DTD_OR_ENTITY.search(body):
        raise _Decline
    parser = _xml_parser()
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError):
        raise _Decline from None
    if len(parser.error_log):
        # Whatever libxml2 only warned about (XML 1.1, a relative namespace URI) may be an
        # error to feedparser's expat, which then reads the body another way.
        raise _Decline
    if _entity_or_bare_lang(root):
        raise _Decline
    if root.tag == "rss" and root.get("version") == "2.0" and None not in root.nsmap:
        if root.xpath("boolean(//@xml:lang)"):
            raise _Decline  # feedparser gives titles and texts the language in scope
        bases = _bases(root, body)
        return _rss(root, bases, _Items(url, skip, bases))
    if root.tag == f"{{{_ATOM}}}feed" and None in root.nsmap:
        bases = _bases(root, body)
        return _atom(root, bases, _Items(url, skip, bases))
    raise _Decline


def _entity_or_bare_lang(root: Any) -> bool:
    """Whether the document holds an entity node or a bare "lang" or "base" attribute, which
    feedparser also reads as xml:lang / xml:base.

    Comments and processing instructions between elements are skipped by both parsers; inside a
    field they decline (_value). Asked of lxml in C, not element by element (issue 9: the loop
    cost 4 us per item).
    """
    return next(root.iter(etree.Entity), None) is not None or bool(
        root.xpath("boolean(//@lang | //@base)")
    )


def _check_encoding(body: bytes, content_type: str | None) -> None:
    if body.startswith(_OTHER_BOMS):
        raise _Decline
    stripped = body[len(_UTF8_BOM) :] if body.startswith(_UTF8_BOM) else body
    declared = _XML_DECL.match(stripped.lstrip())
    if declared:
        if declared.group(1).lower() != b"utf-8":
            raise _Decline
        return
    if body.startswith(_UTF8_BOM):
        return
    if content_type and "charset=" in content_type.lower():
        # parse_feed hands this Content-Type to feedparser: it decides the encoding, and a
        # media type feedparser does not know as XML is a warning there.
        media = content_type.split(";", 1)[0].strip().lower()
        charset = _CHARSET.search(content_type)
        if media not in _XML_MEDIA or not charset or charset.group(1).lower() != "utf-8":
            raise _Decline


# --- RSS 2.0 --------------------------------------------------------------------------------


def _rss(root: Any, bases: _Bases, items: _Items) -> FastFeed:
    channels = list(root)
    if len(channels) != 1 or channels[0].tag != "channel":
        raise _Decline
    channel = channels[0]
    feed: dict[str, Any] = {}
    seen: set[str] = set()
    for child in channel:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == "item":
            xml = items.wanted(child)
            if xml is not None:
                items.entries.append({**_rss_item(child, bases), AS_PUBLISHED: xml})
            continue
        if tag in seen and tag in ("title", "language"):
            raise _Decline
        seen.add(tag)
        if tag == "title":
            feed["title"], feed["title_detail"] = _plain_title(child)
        elif tag == "language":
            feed["language"] = _value(child)
        elif tag not in _RSS_CHANNEL_IGNORED:
            if not _inert(child, _INERT_IN_CHANNEL):
                raise _Decline
        elif len(child) and (tag != "image" or any(c.tag not in _RSS_IMAGE for c in child)):
            raise _Decline
    return items.feed(feed)


def _xml(el: Any) -> str:
    return str(etree.tostring(el, encoding="unicode", with_tail=False))


def _rss_item(item: Any, bases: _Bases) -> Mapping[str, Any]:
    # No language in an RSS item's details: xml:lang declines, and feedparser forgets the
    # channel's <language> when that element ends (the feed's language stands for it).
    if item.attrib:
        raise _Decline  # feedparser reads rdf:about as the id, href and lastmod too
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    link: str | None = None
    guid_link: str | None = None
    for child in item:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag in _RSS_ITEM_IGNORED:
            if len(child):
                raise _Decline
            continue
        if tag == f"{{{_ATOM}}}link":
            # feedparser reads it as a link of the item; one that is not "alternate" (self,
            # enclosure, replies) only joins its list of links, never read here.
            if len(child) or (child.text or "").strip() or not child.get("href"):
                raise _Decline
            if child.get("rel", "alternate").lower() == "alternate":
                raise _Decline
            continue
        if tag not in _RSS_ITEM_READ and tag not in _RSS_ITEM_NS_READ:
            if not _inert(child, _INERT_EVERYWHERE):
                raise _Decline
            continue
        if tag in seen:
            raise _Decline
        seen.add(tag)
        if child.attrib and tag != "guid":
            raise _Decline  # "type" would change how feedparser reads it
        if tag == "title":
            entry["title"], entry["title_detail"] = _plain_title(child)
        elif tag == "link":
            link = _link_value(_resolve(bases, child, _value(child)))
        elif tag == "guid":
            is_link = child.get("isPermaLink", "true") == "true"
            if any(k != "isPermaLink" for k in child.attrib):
                raise _Decline
            value = _value(child)
            if is_link:
                value = _resolve(bases, child, value)
                guid_link = value
            entry["id"] = value
        elif tag == "description":
            entry["summary"] = _html(child)
            entry["summary_detail"] = {"type": "text/html", "language": None}
        elif tag == f"{{{_CONTENT}}}encoded":
            entry["content"] = [{"type": "text/html", "language": None, "value": _html(child)}]
        elif tag == f"{{{_DC}}}date":
            # feedparser: dc:date is the entry's "updated"
            value = _value(child)
            entry["updated"] = value
            entry["updated_parsed"] = _w3dtf(value)
        elif tag == "pubDate":
            value = _value(child)
            entry["published"] = value
            entry["published_parsed"] = _rfc822(value)
        else:
            raise _Decline
    if link is not None:
        entry["link"] = link
    elif guid_link is not None:
        entry["link"] = guid_link
    return entry


def _plain_title(el: Any) -> tuple[str, dict[str, Any]]:
    if el.attrib:
        raise _Decline
    value = _value(el)
    if _HTMLISH.search(value) or "<" in value:
        raise _Decline  # feedparser would call it HTML and sanitize it
    return value, {"type": "text/plain", "language": None}


def _inert(el: Any, inert: frozenset[str]) -> bool:
    """True when feedparser keeps `el` and all it holds only under keys never read here."""
    name = _fp_name(el)
    if name in inert:
        pass
    elif name in _FP_HANDLERS or name in _READ_KEYS or name.endswith(("_parsed", "_detail")):
        return False
    # An element feedparser has no handler for is stored under its own name ("slash_comments",
    # "post-id"), which is not a key read here.
    return all(_inert(c, inert) for c in el if isinstance(c.tag, str))


def _fp_name(el: Any) -> str:
    """feedparser's name for an element: "prefix_localname" (its own prefix for the namespaces
    it knows, else the document's), or the lowercased local name when it has no prefix."""
    qname = etree.QName(el)
    local = qname.localname.lower()
    if qname.namespace is None:
        return local
    uri = qname.namespace.lower()
    if "backend.userland.com/rss" in uri:
        return local
    prefix = _FP_NAMESPACES.get(uri, el.prefix)
    return f"{prefix}_{local}" if prefix else local


# --- Atom 1.0 -------------------------------------------------------------------------------


def _atom(root: Any, bases: _Bases, items: _Items) -> FastFeed:
    if any(k not in (_XML_LANG, _XML_BASE) for k in root.attrib):
        raise _Decline
    root_lang = _lang(root.get(_XML_LANG))
    feed: dict[str, Any] = {}
    if root_lang:
        feed["language"] = root_lang
    seen_title = False
    for child in root:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == f"{{{_ATOM}}}entry":
            xml = items.wanted(child)
            if xml is not None:
                items.entries.append({**_atom_entry(child, root_lang, bases), AS_PUBLISHED: xml})
        elif tag == f"{{{_ATOM}}}title":
            if seen_title:
                raise _Decline
            seen_title = True
            feed["title"], feed["title_detail"] = _atom_text(child, root_lang)
        elif tag not in _ATOM_FEED_IGNORED and (
            tag.startswith(f"{{{_ATOM}}}") or not _inert(child, _INERT_IN_CHANNEL)
        ):
            raise _Decline
    return items.feed(feed)


def _atom_entry(el: Any, parent_lang: str | None, bases: _Bases) -> Mapping[str, Any]:
    lang = _inherit(el, parent_lang)
    if any(k not in (_XML_LANG, _XML_BASE) for k in el.attrib):
        raise _Decline
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    link: str | None = None
    id_link: str | None = None
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag in _ATOM_ENTRY_IGNORED:
            continue
        if tag == f"{{{_ATOM}}}link":
            href = _atom_link(child, bases)
            if href is not None:
                if link is not None:
                    raise _Decline
                link = href
            continue
        if not tag.startswith(f"{{{_ATOM}}}"):
            if not _inert(child, _INERT_EVERYWHERE):
                raise _Decline
            continue
        if tag in seen:
            raise _Decline
        seen.add(tag)
        name = tag[len(_ATOM) + 2 :]
        if name == "id":
            if child.attrib or len(child):
                raise _Decline
            id_link = entry["id"] = _resolve(bases, child, _value(child))
        elif name == "title":
            entry["title"], entry["title_detail"] = _atom_text(child, lang)
        elif name in ("summary", "content"):
            value, detail = _atom_text(child, lang)
            if name == "summary":
                entry["summary"], entry["summary_detail"] = value, detail
            else:
                entry["content"] = [{**detail, "value": value}]
        elif name in ("published", "updated"):
            if child.attrib or len(child):
                raise _Decline
            value = _value(child)
            entry[name] = value
            entry[f"{name}_parsed"] = _w3dtf(value)
        else:
            raise _Decline
    if link is not None:
        entry["link"] = link
    elif id_link is not None:
        entry["link"] = id_link
    return entry


def _atom_link(el: Any, bases: _Bases) -> str | None:
    """The href of an alternate HTML link; None for links of other relations."""
    if len(el) or (el.text or "").strip():
        raise _Decline
    if any(k not in ("href", "rel", "type", "title", "hreflang", "length", _XML_BASE)
           for k in el.attrib):  # fmt: skip
        raise _Decline
    # feedparser lowercases the values of rel and type.
    rel = el.get("rel", "alternate").lower()
    kind = el.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    href = el.get("href")
    if href is None:
        raise _Decline
    if rel != "alternate":
        return None
    if kind not in ("text/html", "application/xhtml+xml"):
        raise _Decline
    return _resolve(bases, el, href)


def _atom_text(el: Any, parent_lang: str | None) -> tuple[str, dict[str, Any]]:
    lang = _inherit(el, parent_lang)
    if any(k not in ("type", _XML_LANG, _XML_BASE) for k in el.attrib):
        raise _Decline
    kind = _ATOM_TYPES.get(el.get("type", "text").lower())
    if kind is None:
        raise _Decline  # xhtml, base64 media types, src=
    value = _html(el) if kind == "text/html" else _value(el)
    return value, {"type": kind, "language": lang}


def _inherit(el: Any, parent: str | None) -> str | None:
    if _XML_LANG in el.attrib:
        return _lang(el.get(_XML_LANG))
    return parent


def _lang(value: str | None) -> str | None:
    # feedparser: an empty xml:lang clears the language; "_" is written "-".
    return value.replace("_", "-") if value else None


# --- values ---------------------------------------------------------------------------------


def _value(el: Any) -> str:
    """An element's text, which must hold no markup, as feedparser stores it."""
    if len(el):
        raise _Decline
    value = (el.text or "").strip()
    _check_text(value)
    return value


def _html(el: Any) -> str:
    """A field feedparser reads as HTML and sanitizes; declined unless the sanitizer keeps every
    element and entity it holds, so that its text (html_to_text) is the same."""
    value = _value(el)
    if "&" in value:
        for m in _MARKUP.finditer(value):
            if m.group(0)[0] == "&":
                entity = m.group(2)
                if entity is None or not _safe_entity(entity):
                    raise _Decline  # a lone "&", or an entity the sanitizer changes
            else:
                _check_tag(m)
    elif "<" in value:
        for m in _TAG.finditer(value):
            _check_tag(m)
    return value


def _check_tag(m: re.Match[str]) -> None:
    """Declines a lone "<" or a tag the sanitizer does not keep as it is."""
    tag = m.group(1)
    # Unbalanced quotes: a ">" inside an attribute value, which HTML parsers split differently.
    if tag is None or tag.lower() not in _KEPT_ELEMENTS or _odd_quotes(m.group(0)):
        raise _Decline


def _odd_quotes(tag: str) -> bool:
    return tag.count('"') % 2 == 1 or tag.count("'") % 2 == 1


def _safe_entity(entity: str) -> bool:
    if entity in _NAMED_ENTITIES:
        return True
    if not entity.startswith("#"):
        return False
    try:
        code = int(entity[2:], 16) if entity[1:2] in ("x", "X") else int(entity[1:])
    except ValueError:
        return False
    # Not a C1 control (read as windows-1252 by some), a surrogate, or past Unicode.
    return (
        32 <= code < 127
        or code in (9, 10, 13)
        or 160 <= code < 0xD800
        or 0xE000 <= code <= 0x10FFFF
    )


def _check_text(value: str) -> None:
    if value.isascii():
        return  # neither C1 controls nor UTF-8 read as Latin-1: asked first, as it is quick
    if _C1.search(value):
        raise _Decline  # feedparser maps them to windows-1252 characters
    try:
        value.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return
    raise _Decline  # feedparser would decode it again as UTF-8


def _resolve(bases: _Bases, el: Any, value: str) -> str:
    """`value` resolved as feedparser resolves ids and links: against its base at `el`."""
    resolved: str = _urljoin(bases.get(el, ""), value)
    return resolved


def _bases(root: Any, body: bytes) -> _Bases:
    """feedparser's base URL at each element, for a document with xml:base.

    feedparser starts from no base (parse_feed gives it no URL), and when an element ends it
    restores its parent's base only if that base is not empty: a base set inside a document
    with none leaks into the elements that follow. This walk does what it does, with its own
    URL functions, so that links and ids resolve to the same strings.
    """
    bases: dict[Any, str] = {}
    if b"base" not in body:
        return bases
    current = ""
    stack: list[str] = []
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(el.tag, str):
            continue
        if event == "start":
            given = el.get(_XML_BASE) or current
            if current:
                current = make_safe_absolute_uri(current, given) or current
            else:
                current = _urljoin(current, given)
            stack.append(current)
            bases[el] = current
        else:
            stack.pop()
            if stack and stack[-1]:
                current = stack[-1]
    return bases


def _link_value(value: str) -> str:
    # feedparser's repair of "&amp;" in links, after resolving them.
    return _LINK_ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))


def _rfc822(value: str) -> time.struct_time:
    m = _RFC822.match(value)
    if not m:
        raise _Decline
    day, mon, year, hh, mm, ss, sign, oh, om, zone = m.groups()
    if zone in _US_ZONES:
        sign, offset = "-", timedelta(hours=_US_ZONES[zone])
    else:
        offset = timedelta(hours=int(oh), minutes=int(om)) if sign else timedelta(0)
    return _utc(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), sign, offset)


def _w3dtf(value: str) -> time.struct_time:
    m = _W3DTF.match(value)
    if not m:
        raise _Decline
    year, mon, day, hh, mm, ss, _z, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) if sign else timedelta(0)
    return _utc(int(year), int(mon), int(day), int(hh), int(mm), int(ss), sign, offset)


def _utc(
    year: int, mon: int, day: int, hh: int, mm: int, ss: int, sign: str | None, offset: timedelta
) -> time.struct_time:
    if not (1900 <= year <= 9999) or hh > 23 or mm > 59 or ss > 59:
        raise _Decline
    try:
        local = datetime(year, mon, day, hh, mm, ss, tzinfo=UTC)
        instant = local - offset if sign == "+" else local + offset
    except (ValueError, OverflowError):
        raise _Decline from None
    # An aware datetime's timestamp is exact in whole seconds (an integer of microseconds
    # divided once); a third of the time of timegm over utctimetuple (issue 9).
    return time.gmtime(int(instant.timestamp()))
