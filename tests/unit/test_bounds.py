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
