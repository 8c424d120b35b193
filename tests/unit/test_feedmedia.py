"""Photos of feed items (issue 11): `bot.sources.feedmedia`, and through `parse_feed`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sources.feedmedia import item_photos
from bot.sources.feedparse import parse_feed

BASE = "https://example.org/feed.xml"
MRSS = 'xmlns:media="http://search.yahoo.com/mrss/"'

RSS = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" {MRSS}><channel><title>T</title>
<item><title>One</title><guid>1</guid>
  <enclosure url="/img/1.jpg" type="image/jpeg" length="1"/>
  <enclosure url="https://example.org/a.mp3" type="audio/mpeg" length="1"/>
</item>
<item><title>Two</title><guid>2</guid>
  <media:group>
    <media:content url="https://cdn.example.org/2a.jpg" medium="image"/>
    <media:content url="https://cdn.example.org/2b.png" type="image/png"/>
    <media:content url="https://cdn.example.org/2.mp4" medium="video"/>
  </media:group>
  <media:thumbnail url="https://cdn.example.org/2-thumb.jpg"/>
</item>
<item><title>Three</title><guid>3</guid>
  <media:thumbnail url="https://cdn.example.org/3-thumb.jpg"/>
  <media:thumbnail url="https://cdn.example.org/3-thumb-2.jpg"/>
</item>
<item><title>Four</title><guid>4</guid>
  <enclosure url="javascript:alert(1)" type="image/png"/></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:f</id>
<updated>2020-09-27T04:00:00Z</updated>
<entry><id>urn:1</id><title>One</title><updated>2020-09-27T04:00:00Z</updated>
  <link rel="enclosure" type="image/jpeg" href="https://cdn.example.org/e1.jpg"/>
  <link rel="alternate" href="https://example.org/1"/>
</entry>
</feed>
"""


def test_images_of_each_item_in_order() -> None:
    assert item_photos(RSS.encode(), BASE) == [
        ("https://example.org/img/1.jpg",),  # relative, resolved; the audio left out
        ("https://cdn.example.org/2a.jpg", "https://cdn.example.org/2b.png"),  # no thumbnail
        ("https://cdn.example.org/3-thumb.jpg",),  # only a thumbnail: the first
        (),  # not a web address
    ]
    assert item_photos(ATOM.encode(), BASE) == [("https://cdn.example.org/e1.jpg",)]


def test_no_marker_no_parse_and_broken_xml_no_photos() -> None:
    assert item_photos(b"<rss><channel><item/></channel></rss>", BASE) == []
    assert item_photos(b"<rss><item><enclosure url='x' type='image/png'></rss>", BASE) is None


@pytest.mark.parametrize("fast", [True, False])
def test_both_parsers_give_items_the_same_photos(fast: bool) -> None:
    feed = parse_feed(
        RSS.encode(),
        source_key="feed:t",
        url=BASE,
        content_type="application/rss+xml",
        fetched_at=datetime(2020, 9, 27, tzinfo=UTC),
        fast=fast,
    )
    assert [i.photos for i in feed.items] == [
        ("https://example.org/img/1.jpg",),
        ("https://cdn.example.org/2a.jpg", "https://cdn.example.org/2b.png"),
        ("https://cdn.example.org/3-thumb.jpg",),
        (),
    ]
