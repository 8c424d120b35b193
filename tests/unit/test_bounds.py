"""How much of an item becomes a statement's text (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from bot.model import FetchedItem
from bot.sources.bounds import bound_items

WHEN = datetime(2026, 11, 29, tzinfo=UTC)


@given(st.text(max_size=400), st.text(max_size=60))
@example("word " * 80, "t" * 60)
def test_bounded_items_are_prefixes_within_the_bounds(text: str, title: str) -> None:
    item = FetchedItem(external_id="x", title=title, text=text, url=None, published_at=WHEN)
    (out,), warnings = bound_items([item], max_text=300, max_title=40)
    assert len(out.text) <= 300 and len(out.title) <= 40
    assert text.startswith(out.text) and title.startswith(out.title)
    assert (len(warnings) == 1) == (len(text) > 300 or len(title) > 40)
    if len(text) <= 300 and len(title) <= 40:
        assert out is item


def test_a_huge_items_html_is_read_only_as_far_as_its_text_is_kept() -> None:
    """A 9 MB item's HTML read whole took 140 MB for a text cut to 100,000 characters anyway:
    it is read until its text passes the bound; the raw payload keeps all of it, and the cut is
    said (the text is over the bound before `bound_items`)."""
    from bot.fakes.feedgen import FeedEntry, rss
    from bot.sources.bounds import MAX_TEXT_CHARS
    from bot.sources.feedparse import parse_feed

    para = "<p>" + "Shelling near the line of contact was reported today. " * 20 + "</p>"
    filler = "<b></b>" * 200_000  # tags and no text: read through, whatever their length
    html = (
        f"<p>Karabakh ceasefire.</p>{filler}<p>AFTER-TAGS</p>"
        + para * (3 * MAX_TEXT_CHARS // len(para))
        + "<p>TAIL-MARK beyond the bound.</p>"
    )
    body = rss(
        "f",
        "https://example.org/",
        [FeedEntry(id="big", title="Big", html=html, link="https://example.org/1", published=WHEN)],
    )
    for content_type in ("application/rss+xml", "text/xml; charset=iso-8859-1"):  # both parsers
        (item,) = parse_feed(
            body,
            source_key="feed:x",
            url="https://example.org/feed",
            content_type=content_type,
            fetched_at=WHEN,
        ).items
        assert item.text.startswith("Karabakh ceasefire.")
        assert "AFTER-TAGS" in item.text  # markup without text costs nothing to read
        assert "TAIL-MARK" not in item.text
        assert len(item.text) > MAX_TEXT_CHARS  # so bound_items cuts it and says so
        assert "TAIL-MARK" in (item.raw or "")
        (_cut,), warnings = bound_items([item])
        assert len(warnings) == 1
