"""Hot reload through the real worker: a watchlist edit applies while `run` runs (issue 11)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, open_app, run_worker
from bot.watchlist import load_watchlist
from storage.schema import SourceRow
from tests.e2e.conftest import WATCHLIST, World, entry

#: every feed polled each second, so the worker's own polls measure its progress
FAST = WATCHLIST.replace('.rss"', '.rss"\n        interval: 1s')

NEW_SPEAKER = """
  - id: ge-mfa
    name: Ministry of Foreign Affairs of Georgia
    role: Foreign ministry
    side: Georgia
    timezone: Asia/Tbilisi
    sources:
      - feed: "{feeds}/ge.rss"
        interval: 1s
topics:"""


class Running:
    """A worker running on a watchlist file that the test edits."""

    def __init__(self, world: World, app: App, path: Path, worker: asyncio.Task[None]) -> None:
        self.world, self.app, self.path, self.worker = world, app, path, worker

    def write(self, text: str) -> None:
        self.path.write_text(text.replace("{feeds}", self.world.feeds.url), encoding="utf-8")

    def polls(self, path: str | None = None) -> int:
        return len(self.world.feed_state.requests(path))

    async def until(self, condition: Callable[[], bool], what: str, *, steps: int = 40) -> None:
        """Wait until `condition` holds; fail when the worker made `steps` feed requests without
        it, or stopped. A count of the worker's own work, never a wall-clock bound."""
        start = self.polls()
        while not condition():
            if self.worker.done():
                pytest.fail(f"the worker stopped before {what}: {self.worker!r}")
            if self.polls() - start > steps:
                pytest.fail(f"not {what} after {steps} polls")
            await asyncio.sleep(0.02)  # let the worker run; the condition is checked again

    def row(self, path: str) -> SourceRow | None:
        key = f"feed:{self.world.feeds.url}{path}"
        with self.app.sessions() as s:
            return s.scalars(select(SourceRow).where(SourceRow.key == key)).one_or_none()

    def primed(self) -> bool:
        with self.app.sessions() as s:
            rows = list(s.scalars(select(SourceRow).where(SourceRow.active)))
        return bool(rows) and all(r.primed for r in rows)

    def alerted(self, needle: str) -> int:
        return sum(needle in m.text for m in self.world.telegram.messages("@main_watch"))


@asynccontextmanager
async def running(world: World, text: str = FAST, **env: str) -> AsyncIterator[Running]:
    path = world.tmp / "watchlist.yaml"
    path.write_text(text.replace("{feeds}", world.feeds.url), encoding="utf-8")
    settings = world.settings(
        WATCHPOST_POLL_TICK_SECONDS="0.2",
        WATCHPOST_DISPATCH_TICK_SECONDS="0.2",
        WATCHPOST_RELOAD_SECONDS="0.1",
        **env,
    )
    async with open_app(settings, load_watchlist(path)) as app:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(app, stop=stop))
        run = Running(world, app, path, worker)
        try:
            await run.until(run.primed, "every source primed")
            yield run
        finally:
            stop.set()
            await worker


async def test_a_source_added_while_running_is_polled_and_its_new_item_alerted(
    world: World,
) -> None:
    world.entries["/ge.rss"] = []
    world.publish("/ge.rss", entry(1, "Old Karabakh news", "Stored as seen, never alerted."))
    async with running(world) as run:
        assert run.row("/ge.rss") is None
        run.write(FAST.replace("topics:", NEW_SPEAKER, 1))
        await run.until(lambda: (r := run.row("/ge.rss")) is not None and r.primed, "ge primed")
        world.publish("/ge.rss", entry(2, "Karabakh talks", "Said in Tbilisi after the edit."))
        await run.until(lambda: run.alerted("Said in Tbilisi") == 1, "the new source alerted")
        assert run.app.watchlist.speaker("ge-mfa") is not None
    assert run.alerted("Stored as seen") == 0  # its first poll is silent, as at start
    texts = [m.text for m in world.telegram.messages("@main_watch")]
    assert any("Ministry of Foreign Affairs of Georgia" in t for t in texts)


async def test_a_topic_term_added_while_running_matches_the_next_statement(
    world: World,
) -> None:
    async with running(world) as run:
        run.write(FAST.replace("Stepanakert]", "Stepanakert, Lachin]"))
        await run.until(
            lambda: any(t.text == "Lachin" for t in run.app.watchlist.topics[0].terms),
            "the edit applied",
        )
        world.publish("/am.rss", entry(5, "Lachin corridor", "The Lachin road is open."))
        await run.until(lambda: run.alerted("The Lachin road") == 1, "the new term alerted")


async def test_an_invalid_edit_is_refused_once_with_its_lines_and_the_old_watchlist_works(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchpost")
    async with running(world) as run:
        role = "    role: Foreign ministry\n"
        bad = FAST.replace(role, role + "    age: 3\n", 1)
        bad = bad.replace("      en: [ceasefire*]", "      en: []")
        run.write(bad)
        where = str(run.path)

        def refusals() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "watchlist edit refused" in r.getMessage()]

        await run.until(lambda: bool(refusals()), "the edit refused")
        # a dozen more polls: many reload ticks, and the same bad bytes are not reported again
        mark = run.polls("/am.rss")
        await run.until(lambda: run.polls("/am.rss") >= mark + 3, "polls go on")
        assert len(refusals()) == 1
        problems = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.ERROR and r.getMessage().startswith(f"{where}:")
        ]
        assert len(problems) == 2, problems
        lines = bad.splitlines()
        age, terms = lines.index("    age: 3") + 1, lines.index("      en: []") + 1
        assert problems[0].startswith(f"{where}:{age}: speakers[0].age: unknown key")
        assert problems[1].startswith(f"{where}:{terms - 1}: topics[1].terms:")
        # the running watchlist stays: its topics still alert
        world.publish("/am.rss", entry(6, "Karabakh", "Still watched after a bad edit."))
        await run.until(lambda: run.alerted("Still watched") == 1, "the old watchlist alerted")
        assert run.app.watchlist.speaker("am-mfa") is not None

        # a fixed file applies again
        run.write(FAST.replace("Stepanakert]", "Stepanakert, Lachin]"))
        await run.until(
            lambda: any(t.text == "Lachin" for t in run.app.watchlist.topics[0].terms),
            "the fixed edit applied",
        )


async def test_a_source_removed_while_running_is_no_longer_polled(world: World) -> None:
    async with running(world) as run:
        ru_start = FAST.index("  - id: ru-mfa")
        run.write(FAST[:ru_start] + FAST[FAST.index("topics:") :])
        await run.until(lambda: (r := run.row("/ru.rss")) is not None and not r.active, "ru off")
        # Two more polls of am start only after any tick that was polling ru has finished.
        mark = run.polls("/am.rss")
        await run.until(lambda: run.polls("/am.rss") >= mark + 2, "am polled")
        ru = run.polls("/ru.rss")
        mark = run.polls("/am.rss")
        await run.until(lambda: run.polls("/am.rss") >= mark + 3, "am polled again")
        assert run.polls("/ru.rss") == ru
        world.publish("/ru.rss", entry(7, "Карабах", "Никто не опрашивает."))
        world.publish("/am.rss", entry(8, "Karabakh", "Armenia still watched."))
        await run.until(lambda: run.alerted("Armenia still watched") == 1, "am alerted")
    assert run.alerted("Никто") == 0
