"""Issue 11: an item dated in year 1 (or far in the future) neither crashes rendering nor holds
up its channel: the date is treated as missing, and a failing alert never blocks the ones
behind it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from bot.app import run_once
from storage.schema import StatementRow
from tests.e2e.conftest import World, entry

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>am</title><link>https://example.org/</link>
<item><guid>urn:test:old</guid><title>Old Karabakh news</title><description>Seen.</description>
<pubDate>Sun, 27 Sep 2020 04:00:00 GMT</pubDate></item>
{extra}
</channel></rss>"""


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 01 Jan 9999 00:00:00 GMT",
    ],
    ids=["year-1", "epoch-0", "year-9999"],
)
async def test_out_of_range_date_is_treated_as_missing(world: World, date: str) -> None:
    def serve(extra: str) -> None:
        body = RSS.format(extra=extra).encode()
        world.feed_state.set_raw("/am.rss", body, {"Content-Type": "application/rss+xml"})

    serve("")
    async with world.app() as app:
        await run_once(app)
        serve(
            "<item><guid>urn:test:bad</guid><title>Karabakh</title>"
            f"<description>Dated badly.</description><pubDate>{date}</pubDate></item>"
        )
        _, report = await run_once(app)
        with app.sessions() as s:
            row = s.scalars(
                select(StatementRow).where(StatementRow.external_id == "urn:test:bad")
            ).one()
        assert row.published_estimated
        assert abs((row.published_at - app.clock()).total_seconds()) < 3600
    assert report.sent == 1
    (msg,) = world.telegram.messages("@main_watch")
    assert "Dated badly." in msg.text


async def test_an_alert_that_cannot_render_does_not_block_its_channel(world: World) -> None:
    world.publish("/am.rss", entry(1, "Old Karabakh news", "Seen."))
    async with world.app() as app:
        await run_once(app)
        world.publish("/am.rss", entry(2, "Karabakh first", "Broken & all."))
        world.publish("/am.rss", entry(3, "Karabakh second", "Behind it."))
        await run_once(app, dispatch=False)
        # A statement stored with a date rendering cannot handle (an older version, another
        # adapter): the renderer raises OverflowError at every try.
        with app.sessions.begin() as s:
            s.execute(
                update(StatementRow)
                .where(StatementRow.external_id == "urn:test:2")
                .values(published_at=datetime(1, 1, 1, tzinfo=UTC))
            )
        _, report = await run_once(app)
    assert report.sent == 2 and report.undelivered == frozenset()
    first, second = world.telegram.messages("@main_watch")
    # the broken one in a plain form, escaped, with who said it and the link
    assert "Broken & all." in first.text
    assert "Ministry of Foreign Affairs of Armenia" in first.text
    assert "https://example.org/news/2" in first.text
    assert "Behind it." in second.text
