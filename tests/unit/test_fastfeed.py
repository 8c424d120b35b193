"""bot.sources.fastfeed: what it reads gives what feedparser gives; what it is unsure of goes to
feedparser, with the same result as before issue 9."""

from __future__ import annotations

import calendar
import html
import re
import time
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.errors import FeedParseError
from bot.sources import fastfeed
from bot.sources.fastfeed import parse_fast
from bot.sources.feedparse import ParsedFeed, parse_feed

FETCHED = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
URL = "https://mfa.example.org/press/feed.xml"


def both(body: bytes | str, content_type: str | None = None) -> tuple[ParsedFeed, ParsedFeed]:
    """parse_feed with the fast path, and through feedparser alone."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    fast, slow = (
        parse_feed(
            data,
            source_key="feed:test",
            url=URL,
            content_type=content_type,
            fetched_at=FETCHED,
            fast=flag,
        )
        for flag in (True, False)
    )
    return fast, slow


def assert_same(fast: ParsedFeed, slow: ParsedFeed) -> None:
    assert (fast.title, fast.language, fast.warnings, fast.repaired) == (
        slow.title,
        slow.language,
        slow.warnings,
        slow.repaired,
    )
    assert [(i.external_id, i.title, i.text, i.url, i.published_at, i.published_estimated,
             i.language) for i in fast.items] == [
        (i.external_id, i.title, i.text, i.url, i.published_at, i.published_estimated,
         i.language) for i in slow.items
    ]  # fmt: skip


def rss(items: str, *, channel: str = "<title>MFA</title>", head: str = "") -> str:
    return (
        f'<?xml version="1.0"?><rss version="2.0"{head}><channel>{channel}{items}</channel></rss>'
    )


def atom(entries: str, *, head: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{head}>'
        f"<title>MFA</title><id>urn:x</id><updated>2020-11-10T00:00:00Z</updated>{entries}</feed>"
    )


ITEM = (
    "<item><guid>https://mfa.example.org/st/1</guid><title>Statement on the talks</title>"
    "<description>&lt;p&gt;We &lt;b&gt;welcome&lt;/b&gt; the talks.&lt;/p&gt;&lt;p&gt;Second."
    "&lt;/p&gt;</description><pubDate>Tue, 10 Nov 2020 01:30:00 +0400</pubDate></item>"
)
ENTRY = (
    "<entry><id>tag:mfa.example.org,2020:1</id><title>Statement</title>"
    '<link rel="alternate" href="https://mfa.example.org/st/1"/>'
    '<link rel="self" href="https://mfa.example.org/st/1.atom"/>'
    "<published>2020-11-10T01:30:00+04:00</published><updated>2020-11-11T00:00:00Z</updated>"
    '<content type="html">&lt;p&gt;Text &amp;amp; more.&lt;/p&gt;</content></entry>'
)


# Well-formed RSS 2.0 and Atom 1.0 the fast path reads, each equal to feedparser's reading.
ACCEPTED = {
    "rss": rss(ITEM, channel="<title>MFA</title><language>hy</language>"),
    "rss content:encoded and dc": rss(
        ITEM.replace(
            "</item>",
            "<content:encoded><![CDATA[<p>Full <em>text</em>.</p>]]></content:encoded>"
            "<dc:creator>Press office</dc:creator><dc:date>2020-11-09T21:30:00Z</dc:date></item>",
        ),
        head=' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"',
    ),
    "rss guid not a link, relative link": rss(
        "<item><guid isPermaLink='false'>st-1</guid><title>T</title><link>/st/1</link></item>"
    ),
    "rss no id, no date": rss("<item><title>T</title><description>x</description></item>"),
    "rss US zone": rss(
        "<item><title>T</title><pubDate>Tue, 10 Nov 2020 01:30:00 EST</pubDate></item>"
    ),
    "rss comment between elements": rss("<!-- generator --><item><title>T</title></item>"),
    "atom": atom(ENTRY, head=' xml:lang="ru"'),
    "atom xml:base": atom(
        '<entry xml:base="https://mfa.example.org/news/"><id>1</id><title>T</title>'
        '<link href="st/1"/><updated>2020-11-10T00:00:00Z</updated></entry>',
        head=' xml:base="https://mfa.example.org/"',
    ),
    # feedparser lowercases rel and type
    "atom rel and type in capitals": atom(
        ENTRY.replace('rel="alternate"', 'rel="Alternate" type="TEXT/HTML"').replace(
            'type="html"', 'type="HTML"'
        )
    ),
    "atom text that holds html": atom(
        "<entry><id>x</id><title>T</title><summary>&lt;p&gt;a&lt;/p&gt;&lt;p&gt;b&lt;/p&gt;"
        "</summary><updated>2020-11-10T00:00:00.123+02:00</updated></entry>"
    ),
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_reads_well_formed_rss_and_atom_as_feedparser_does(body: str) -> None:
    assert parse_fast(body.encode(), None) is not None
    fast, slow = both(body)
    assert fast.items
    assert_same(fast, slow)


def test_rss_fields() -> None:
    fast, _ = both(rss(ITEM, channel="<title>MFA</title><language>hy</language>"))
    (item,) = fast.items
    assert item.external_id == item.url == "https://mfa.example.org/st/1"
    assert item.text == "We welcome the talks.\n\nSecond."
    assert item.published_at == datetime(2020, 11, 9, 21, 30, tzinfo=UTC)
    assert item.language == "hy"


# What the fast path declines: parse_feed then reads it with feedparser, as before issue 9.
DECLINED = {
    "entity declaration": rss(ITEM).replace("<rss", '<!DOCTYPE rss [<!ENTITY x "y">]><rss'),
    "doctype": rss(ITEM).replace("<rss", "<!DOCTYPE rss><rss"),
    "not well-formed": rss(ITEM).replace("</title>", ""),
    "windows-1251": rss(ITEM).replace('version="1.0"', 'version="1.0" encoding="windows-1251"'),
    "RSS 1.0 (RDF)": (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>MFA</title></channel>'
        '<item rdf:about="https://mfa.example.org/1"><title>T</title>'
        "<link>https://mfa.example.org/1</link></item></rdf:RDF>"
    ),
    "item with rdf:about": rss(
        ITEM.replace("<item>", '<item rdf:about="https://mfa.example.org/x">'),
        head=' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
    ),
    "description with a type": rss(ITEM.replace("<description>", '<description type="text">')),
    # libxml2 only warns; feedparser's expat reads XML 1.1 another way
    "XML 1.1": rss(ITEM).replace('version="1.0"?>', 'version="1.1"?>'),
    "RSS 0.91": rss(ITEM).replace('version="2.0"', 'version="0.91"'),
    "Atom 0.3": atom(ENTRY).replace("http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#"),
    "xml:lang in RSS": rss(ITEM, head=' xml:lang="ru"'),
    "media:title in an item": rss(
        ITEM.replace("</item>", "<media:title>Other</media:title></item>"),
        head=' xmlns:media="http://search.yahoo.com/mrss/"',
    ),
    "unknown namespace prefixed dc": rss(
        ITEM.replace("</item>", "<dc:title>Other</dc:title></item>"),
        head=' xmlns:dc="urn:not-dublin-core"',
    ),
    "title that looks like HTML": rss(
        ITEM.replace("the talks</title>", "&lt;b&gt;talks&lt;/b&gt;</title>")
    ),
    "script in a description": rss(
        ITEM.replace("Second.", "&lt;script&gt;alert(1)&lt;/script&gt;Second.")
    ),
    "C1 control": rss(ITEM.replace("Statement", "Statement\u0093")),
    # feedparser decodes a field that is Latin-1 and valid UTF-8 once more
    "double-encoded UTF-8": rss(ITEM.replace("Statement", "Ã©")),
    "two titles": rss(ITEM.replace("<title>", "<title>A</title><title>")),
    "date feedparser reads its own way": rss(
        ITEM.replace("Tue, 10 Nov 2020 01:30:00 +0400", "mer, 16 nov 2022 00:38:15 +0100")
    ),
    "date past datetime's range in UTC": rss(
        ITEM.replace("Tue, 10 Nov 2020 01:30:00 +0400", "Fri, 31 Dec 9999 23:00:00 EST")
    ),
    "xhtml content": atom(
        ENTRY.replace(
            'type="html">&lt;p&gt;Text &amp;amp; more.&lt;/p&gt;',
            'type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div>',
        )
    ),
    "atom content src": atom(
        ENTRY.replace('<content type="html">', '<content type="html" src="x">')
    ),
    "two alternate links": atom(
        ENTRY.replace("<published>", '<link href="https://mfa.example.org/2"/><published>')
    ),
}


@pytest.mark.parametrize("body", DECLINED.values(), ids=DECLINED.keys())
def test_declines_what_it_is_not_sure_of_and_feedparser_reads_it(body: str) -> None:
    assert parse_fast(body.encode("utf-8"), None) is None
    try:
        fast, slow = both(body)
    except FeedParseError:
        with pytest.raises(FeedParseError):
            both(body)
        return
    assert_same(fast, slow)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe" + rss(ITEM).replace("1.0", '1.0" encoding="utf-16', 1).encode("utf-16-le"),
        rss(ITEM).replace("Statement", "Stat\xe9ment").encode("latin-1"),  # invalid UTF-8
    ],
    ids=["UTF-16 BOM", "bytes that are not UTF-8"],
)
def test_declines_other_encodings(body: bytes) -> None:
    assert parse_fast(body, None) is None
    fast = parse_feed(body, source_key="k", url=URL, content_type=None, fetched_at=FETCHED)
    assert fast.items
    assert_same(*both(body))


@pytest.mark.parametrize(
    ("content_type", "fast"),
    [
        (None, True),
        ("application/rss+xml; charset=utf-8", True),
        ("application/rss+xml; charset=windows-1251", False),  # feedparser decodes by it
        ("text/html; charset=utf-8", False),  # feedparser warns: not an XML media type
    ],
)
def test_http_charset_of_a_feed_without_declaration(content_type: str | None, fast: bool) -> None:
    body = rss(ITEM).replace('<?xml version="1.0"?>', "").encode()
    assert (parse_fast(body, content_type) is not None) is fast
    assert_same(*both(body, content_type))


_xml_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"
) | st.sampled_from("\n\t <>&\"'")
_HTML_PIECES = (
    "<p>", "</p>", "<br>", "<b>", "</b>", "&amp;", "&nbsp;", "&#8217;", "<li>", "</li>", "<div>",
    "</div>", "a", " ", "\n", "Карабах", "Qarabağ", "&laquo;", "&mdash;", "&hellip;", "&copy;",
    "&bogus;", "&", "<", '<a href="x">', '<a title="a>b">', "</a>", "<iframe>", "<script>",
    "</script>", "<!-- c -->",
)  # fmt: skip
_html = st.lists(st.sampled_from(_HTML_PIECES), max_size=30).map("".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(_xml_chars, max_size=60), text=st.text(_xml_chars, max_size=200) | _html)
@example(title="a  b", text="<p>x</p>\n\n<p>y</p>")
@example(title="Itâ€™s", text="Ã©")
def test_whatever_it_accepts_equals_feedparser(title: str, text: str) -> None:
    for body in (
        rss(f"<item><guid>g</guid><title>{escape(title)}</title>"
            f"<description>{escape(text)}</description></item>"),
        rss(f"<item><guid>g</guid><title>{escape(html.escape(title))}</title>"
            f"<description><![CDATA[{text.replace(']]>', '')}]]></description></item>"),
        atom(f"<entry><id>g</id><title>{escape(title)}</title>"
             f'<content type="html">{escape(text)}</content></entry>'),
        atom(f"<entry><id>g</id><title>{escape(title)}</title>"
             f"<summary>{escape(text)}</summary></entry>"),
    ):  # fmt: skip
        assert_same(*both(body))


# The check of HTML fields as first written: one regex tried at every character (issue 9 made it
# search for "<" and "&" first); it must accept and decline the same fields.
_MARKUP_REFERENCE = re.compile(
    r"</?([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?/?>|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]+);|[<&]"
)


def _html_accepted_reference(value: str) -> bool:
    for m in _MARKUP_REFERENCE.finditer(value):
        tag, entity = m.group(1), m.group(2)
        if tag is not None:
            whole = m.group(0)
            if (
                tag.lower() not in fastfeed._KEPT_ELEMENTS
                or whole.count('"') % 2
                or whole.count("'") % 2
            ):
                return False
        elif entity is None or not fastfeed._safe_entity(entity):
            return False
    return True


_MORE_PIECES = (
    "<P>", "<BR/>", "<p/>", "<p />", "< p>", "<p", "p>", "</ p>", "<a title='x'>", "<a b=\"'\">",
    "&#150;", "&#x41;", "&#X1F600;", "&#0;", "&#;", "&amp", "&AMP;", "&a1;", "<h1 class=x>",
    "<img src=a/>", "<1>", "<_x>", "&<", "<&", "<<p>>",
)  # fmt: skip
_markup = st.lists(st.sampled_from(_HTML_PIECES + _MORE_PIECES), max_size=30).map("".join)


@given(_markup)
@example("<p>a &amp; b</p>")
@example("&lt;<p>")
def test_html_fields_are_checked_as_the_reference_checks_them(value: str) -> None:
    el = etree.Element("description")
    el.text = value
    try:
        fastfeed._html(el)
        accepted = True
    except fastfeed._Decline:
        accepted = False
    stripped = value.strip()
    assert accepted == _html_accepted_reference(stripped)


# --- issue 9: settled items are not read again (bot.unchanged) ------------------------------


def _parse(body: str, *, url: str = URL, skip: frozenset[bytes] = frozenset()) -> ParsedFeed:
    return parse_feed(
        body.encode("utf-8"),
        source_key="feed:test",
        url=url,
        content_type=None,
        fetched_at=FETCHED,
        skip=skip,
    )


def _item(n: int, text: str = "Text", photo: str = "") -> str:
    enclosure = f'<enclosure url="{photo}" type="image/jpeg" length="1"/>' if photo else ""
    return (
        f"<item><guid>urn:st:{n}</guid><title>Statement {n}</title>"
        f"<description>{text} {n}</description>{enclosure}</item>"
    )


def test_a_skipped_item_is_not_read_and_the_others_are_read_as_whole() -> None:
    body = rss("".join(_item(n) for n in range(1, 5)))
    whole = _parse(body)
    assert all(i.digest for i in whole.items) and not whole.skipped
    skip = frozenset({whole.items[0].digest, whole.items[2].digest}) - {None}
    part = _parse(body, skip=skip)  # type: ignore[arg-type]
    assert part.items == (whole.items[1], whole.items[3])
    assert part.skipped == (whole.items[0].digest, whole.items[2].digest)


def test_photos_stay_with_their_items_when_an_earlier_item_is_skipped() -> None:
    body = rss(
        _item(1, photo="https://cdn.example/1.jpg") + _item(2, photo="https://cdn.example/2.jpg")
    )
    first = _parse(body).items[0]
    (second,) = _parse(body, skip=frozenset({first.digest})).items  # type: ignore[arg-type]
    assert second.photos == ("https://cdn.example/2.jpg",)


def test_the_same_item_xml_read_against_another_url_or_base_is_not_skipped() -> None:
    entry = (
        "<entry><id>st-1</id><title>T</title><link href='st/1.html'/>"
        "<updated>2020-11-10T00:00:00Z</updated><summary>Text</summary></entry>"
    )
    body = atom(entry, head=' xml:base="https://a.example/"')
    (first,) = _parse(body).items
    skip = frozenset({first.digest})  # type: ignore[arg-type]
    assert _parse(body, skip=skip).items == ()
    # links (and ids made of links) resolve against the feed's URL and its base
    moved = _parse(body, url="https://mirror.example/feed.xml", skip=skip)
    rebased = _parse(atom(entry, head=' xml:base="https://b.example/"'), skip=skip)
    assert len(moved.items) == 1
    (item,) = rebased.items
    assert item.url == "https://b.example/st/1.html" != first.url


def test_a_feed_read_by_feedparser_skips_nothing() -> None:
    # RSS 0.91: the fast path declines, feedparser reads every item, none has a digest
    body = (
        '<?xml version="1.0"?><rss version="0.91"><channel><title>MFA</title>'
        + _item(1)
        + "</channel></rss>"
    )
    (item,) = _parse(body).items
    assert item.digest is None
    assert len(_parse(body, skip=frozenset({b"x" * 16})).items) == 1


def test_an_item_read_with_the_id_of_a_skipped_one_makes_the_fetcher_read_them_all() -> None:
    from bot.sources.feeds import _parse as fetcher_parse

    old = _item(1, "Old")
    first = _parse(rss(old)).items[0]
    assert first.digest is not None
    body = rss(old + _item(1, "Another text under the same guid"))
    seen = {first.digest: first.external_id}
    parsed = fetcher_parse(body.encode(), "feed:test", URL, None, FETCHED, seen)
    assert [i.text for i in parsed.items] == ["Old 1", "Another text under the same guid 1"]
    assert parsed.skipped == ()
    # without the clash the settled item is skipped
    other = fetcher_parse(rss(old + _item(2)).encode(), "feed:test", URL, None, FETCHED, seen)
    assert [i.external_id for i in other.items] == ["urn:st:2"]


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from(["+", "-", None]),
    st.integers(0, 23),
    st.integers(0, 59),
)
@example(datetime(1900, 1, 1), "+", 14, 0)  # before 1900 in UTC: still a time feedparser gives
@example(datetime(9999, 12, 31, 23, 59, 59), "-", 12, 0)  # past 9999: declined
def test_dates_are_the_utc_time_as_timegm_gives_it(
    local: datetime, sign: str | None, hours: int, minutes: int
) -> None:
    # The first way of _utc, kept as the reference: calendar.timegm of the UTC time tuple.
    offset = timedelta(hours=hours, minutes=minutes)
    args = (local.year, local.month, local.day, local.hour, local.minute, local.second)
    try:
        aware = local.replace(tzinfo=UTC)
        instant = aware - offset if sign == "+" else aware + offset
        expected = time.gmtime(calendar.timegm(instant.utctimetuple()))
    except (ValueError, OverflowError):
        with pytest.raises(fastfeed._Decline):
            fastfeed._utc(*args, sign, offset)
        return
    assert fastfeed._utc(*args, sign, offset) == expected


# Where a document's attributes make the fast path decline, as first written: element by element.
def _entity_or_bare_lang_reference(root: etree._Element) -> bool:
    for el in root.iter():
        if not isinstance(el.tag, str):
            if isinstance(el, etree._Comment | etree._ProcessingInstruction):
                continue
            return True
        if "lang" in el.attrib or "base" in el.attrib:
            return True
    return False


_ATTRIBUTES = st.sampled_from(
    [
        "", ' lang="en"', ' base="http://x/"', ' xml:lang="en"', ' xml:base="http://x/"',
        ' a:lang="en"', ' a:base="x"', ' language="en"', ' Lang="en"', ' href="lang"',
    ]
)  # fmt: skip
_CHILDREN = st.sampled_from(["<title>t</title>", "<!-- lang -->", "<?pi base?>", "text", ""])


@st.composite
def _documents(draw: st.DrawFn) -> str:
    def element(depth: int) -> str:
        name = draw(st.sampled_from(["item", "a:x", "channel", "title"]))
        inner = "".join(
            element(depth + 1) if depth < 3 and draw(st.booleans()) else draw(_CHILDREN)
            for _ in range(draw(st.integers(0, 3)))
        )
        return f"<{name}{draw(_ATTRIBUTES)}>{inner}</{name}>"

    return f'<rss xmlns:a="urn:a" version="2.0"{draw(_ATTRIBUTES)}>{element(0)}</rss>'


@given(_documents())
@example('<rss version="2.0"><channel><item lang="en"/></channel></rss>')
@example('<rss version="2.0" base="x"/>')
def test_attributes_that_decline_are_found_as_element_by_element(document: str) -> None:
    root = etree.fromstring(document.encode())
    assert fastfeed._entity_or_bare_lang(root) == _entity_or_bare_lang_reference(root)
    assert bool(root.xpath("boolean(//@xml:lang)")) == any(
        fastfeed._XML_LANG in el.attrib for el in root.iter()
    )
