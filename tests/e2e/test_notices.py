"""Operator notices through the real worker and the fake Bot API (issue 11)."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import notice_desk, open_app
from bot.watchlist import load_watchlist
from storage.schema import NoticeRow
from tests.e2e.conftest import World
from tests.e2e.test_reload import running

OPS = "@ops_watch"


async def test_a_failing_source_is_told_once_in_the_operator_chat(world: World) -> None:
    world.telegram.add_chat(OPS, -1001000000009)
    env = {
        "WATCHPOST_OPERATOR_CHAT": OPS,
        "WATCHPOST_NOTICE_SECONDS": "0.1",
        "WATCHPOST_NOTICE_FAILING_HOURS": "0",
    }
    async with running(world, **env) as run:
        assert world.telegram.messages(OPS) == []  # every source works: nothing to say
        world.feed_state.fail("/am.rss", 503)
        await run.until(lambda: bool(world.telegram.messages(OPS)), "the operator told")
        # many more notice ticks while the other sources are polled: nothing said twice
        mark = run.polls("/az.rss")
        await run.until(lambda: run.polls("/az.rss") >= mark + 4, "more polls")
        (notice,) = world.telegram.messages(OPS)
        assert "source_failing" in notice.text and "/am.rss failing" in notice.text
        assert "503" in notice.text
        assert world.telegram.messages("@main_watch") == []  # not in the alert channels
        with run.app.sessions() as s:
            (row,) = s.scalars(select(NoticeRow))
        assert row.subject.endswith("/am.rss") and row.kind == "source_failing"

    # a restart on the same database does not tell it again the same day
    settings = world.settings(**env)
    async with open_app(settings, load_watchlist(run.path)) as app:
        desk = notice_desk(app)
        assert desk is not None
        assert await desk.tick() == []
    assert len(world.telegram.messages(OPS)) == 1
