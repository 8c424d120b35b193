"""Telegram channels end to end: fake t.me preview → httpx + lxml → worker → PTB → fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.app import App, notice_desk, run_once
from bot.cli import main
from bot.fakes.http import LocalServer
from bot.fakes.telegram_preview import FakePreview
from bot.notices import NoticeKind
from storage.schema import AlertRow, SourceRow, StatementRow
from tests.e2e.conftest import World, entry

TG_WATCHLIST = """
speakers:
  - id: az-mod
    name: Ministry of Defence of Azerbaijan
    role: Defence ministry
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
      - telegram: "@MODAzerbaijan"
  - id: am-mfa
    name: Ministry of Foreign Affairs of Armenia
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - telegram: https://t.me/s/armenianmfa
      - feed: "{feeds}/am.rss"
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh, Artsakh, Stepanakert]
      az: [Qarabağ*, Xankəndi*]
channels:
  - id: main
    chat: "@main_watch"
"""

AZ = "telegram:modazerbaijan"
AM = "telegram:armenianmfa"
T0 = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)


@pytest.fixture
def tg() -> Iterator[tuple[FakePreview, LocalServer]]:
    fake = FakePreview(start=T0)
    fake.add_channel("MODAzerbaijan", "Azərbaycan Respublikası Müdafiə Nazirliyi")
    fake.add_channel("armenianmfa", "MFA of Armenia")
    with LocalServer(fake.handle) as server:
        yield fake, server


def _app(world: World, server: LocalServer, text: str = TG_WATCHLIST, **extra: str):
    env = {
        "WATCHPOST_TELEGRAM_PREVIEW_BASE_URL": server.url,
        "WATCHPOST_TELEGRAM_PREVIEW_INTERVAL_SECONDS": "0",
        **extra,
    }
    return world.app(text, **env)


def _due_now(app: App) -> None:
    """Time passes: every source and every waiting alert is due."""
    past = app.clock() - timedelta(seconds=1)
    with app.sessions.begin() as s:
        s.execute(update(SourceRow).values(next_poll_at=past))
        s.execute(update(AlertRow).where(AlertRow.status == "pending").values(next_attempt_at=past))


async def _poll(app: App):
    _due_now(app)
    return await run_once(app)


async def test_posts_with_media_replies_and_forwards(world: World, tg) -> None:
    fake, server = tg
    fake.post("MODAzerbaijan", "Köhnə xəbər: Qarabağ.")  # before the first poll: stored as seen
    async with _app(world, server) as app:
        outcomes, report = await run_once(app)
        assert report.sent == 0 and not [o for o in outcomes if o.error]
        first = fake.post(
            "MODAzerbaijan",
            "Qarabağ cəbhəsində vəziyyət.\nİkinci abzas: https://mod.gov.az/az/news #Qarabağ",
        )
        fake.post("MODAzerbaijan", "Xankəndi yaxınlığında foto.", media="photo")
        fake.post("MODAzerbaijan", "Qarabağ: albom.", album=3)
        fake.post("MODAzerbaijan", "Qarabağ hesabatı.", document="report-karabakh.pdf")
        fake.post("MODAzerbaijan", "", poll=("Karabakh: what next?", ("Talks", "Truce")))
        fake.post("MODAzerbaijan", "Bu Qarabağ haqqında cavabdır.", reply_to=first)
        fake.post("MODAzerbaijan", service="Channel pinned «Qarabağ cəbhəsində vəziyyət»")
        fake.post("MODAzerbaijan", "Karabakh, hidden from the preview.", hidden=True)
        fake.post("MODAzerbaijan", "Nothing on topic.")
        outcomes, report = await _poll(app)
    assert not [o for o in outcomes if o.error]
    texts = [m.text for m in world.telegram.messages("@main_watch")]
    assert len(texts) == 6, texts
    assert all(t.startswith("🗣 Ministry of Defence of Azerbaijan") for t in texts)
    para = texts[0]
    assert "Qarabağ cəbhəsində vəziyyət.\nİkinci abzas: https://mod.gov.az/az/news" in para
    assert "t.me/MODAzerbaijan" in para
    assert "Photo" in texts[1] and "Xankəndi yaxınlığında foto" in texts[1]
    assert "Album: 3 photos" in texts[2]
    assert "Document: report-karabakh.pdf" in texts[3]
    assert "Poll: Karabakh: what next?" in texts[4] and "• Truce" in texts[4]
    assert "In reply to @MODAzerbaijan" in texts[5] and "cəbhəsində" in texts[5]


async def test_forward_of_a_watched_channel_is_also_published_not_new(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        original = fake.post("armenianmfa", "Statement on the shelling of Stepanakert today.")
        await _poll(app)
        fake.post(
            "MODAzerbaijan",
            "Statement on the shelling of Stepanakert today.",
            forwarded=("MFA of Armenia", f"https://t.me/armenianmfa/{original}"),
        )
        fake.post(
            "MODAzerbaijan",
            "Karabakh: a forward from a channel nobody watches.",
            forwarded=("Someone Else", "https://t.me/someone_else/7"),
        )
        outcomes, _ = await _poll(app)
    messages = world.telegram.messages("@main_watch")
    assert len(messages) == 2
    assert sum(o.duplicates for o in outcomes) == 1
    first = messages[0]
    assert first.text.startswith("🗣 Ministry of Foreign Affairs of Armenia")
    assert first.edits and "Ministry of Defence of Azerbaijan on Telegram" in first.current_text
    assert "Forwarded from @someone_else" in messages[1].text


async def test_an_edit_is_answered_with_one_diff_reply(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        ago = datetime.now(UTC) - timedelta(minutes=40)
        n = fake.post("MODAzerbaijan", "Qarabağda atəşkəs pozulub.", at=ago)
        fake.post("MODAzerbaijan", "", poll=("Qarabağ?", ("Bəli", "Xeyr")), at=ago)
        await _poll(app)
        first, _poll_alert = world.telegram.messages()
        fake.edit("MODAzerbaijan", n, "Qarabağda atəşkəs yenidən pozulub.")
        fake.vote("MODAzerbaijan")  # the poll's percentages move: no edit
        await _poll(app)
        await _poll(app)  # read again, unchanged: nothing more
    messages = world.telegram.messages()
    assert len(messages) == 3
    edit = messages[-1]
    assert edit.reply_to == first.message_id and "Edited" in edit.text
    # The preview tells no edit time: the edit is dated when it was seen, not when posted.
    assert "40 minutes after publication" in edit.text
    assert {"underline"} <= {e.type for e in edit.entities}


async def test_hidden_post_is_no_deletion_a_vanished_one_is(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        ago = datetime.now(UTC) - timedelta(minutes=40)
        a = fake.post("MODAzerbaijan", "Qarabağ: birinci.", at=ago)
        b = fake.post("MODAzerbaijan", "Qarabağ: ikinci, sonra gizlədilən.", at=ago)
        c = fake.post("MODAzerbaijan", "Qarabağ: üçüncü, sonra silinən.", at=ago)
        fake.post("MODAzerbaijan", "Qarabağ: dördüncü.", at=ago)
        await _poll(app)
        assert len(world.telegram.messages()) == 4
        fake.hide("MODAzerbaijan", b)  # "Please open Telegram to view this post"
        await _poll(app)
        assert len(world.telegram.messages()) == 4
        fake.delete("MODAzerbaijan", c)
        await _poll(app)
        await _poll(app)
        with app.sessions() as s:
            deleted = {
                r.external_id: r.deleted_at
                for r in s.scalars(select(StatementRow).where(StatementRow.deleted_at.is_not(None)))
            }
    assert set(deleted) == {f"modazerbaijan/{c}"}
    messages = world.telegram.messages()
    assert len(messages) == 5
    gone = messages[-1]
    assert gone.reply_to == messages[2].message_id
    assert "Deleted" in gone.text and "about 40 minutes after publication" in gone.text
    assert "üçüncü, sonra silinən" in gone.text
    assert a  # the oldest shown post frames the window


async def test_a_changed_layout_is_an_operator_error(world: World, tg) -> None:
    fake, server = tg
    fake.post("MODAzerbaijan", "Qarabağ: köhnə.")
    async with _app(world, server) as app:
        await run_once(app)
        fake.post("MODAzerbaijan", "Qarabağ: yeni.")
        fake.break_layout("MODAzerbaijan")
        outcomes, report = await _poll(app)
        errors = {o.source_key: o.error for o in outcomes if o.error}
        assert set(errors) == {AZ}
        assert "t.me/s/MODAzerbaijan" in (errors[AZ] or "")
        assert "layout" in (errors[AZ] or "")
        assert report.sent == 0
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == AZ)).one()
            assert row.failures == 1 and row.cursor == "1"  # kept: nothing was read
            assert row.last_problem == "layout_changed"
        # the operator hears of it at once, not after hours of failures
        desk = notice_desk(app)
        assert desk is not None
        (notice,) = await desk.tick()
        assert notice.kind is NoticeKind.LAYOUT_CHANGED and notice.subject == AZ
        fake.break_layout("MODAzerbaijan", False)
        outcomes, report = await _poll(app)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == AZ)).one()
            assert row.last_problem is None
    assert not [o for o in outcomes if o.error] and report.sent == 1


async def test_a_three_day_backlog_is_read_completely(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        # Three days away: a post every 15 minutes, every sixth on the topic.
        start = T0 + timedelta(hours=1)
        on_topic = []
        for i in range(3 * 24 * 4):
            text = f"Qarabağ: hesabat {i}." if i % 6 == 0 else f"Gündəlik xəbər {i}."
            n = fake.post("MODAzerbaijan", text, at=start + timedelta(minutes=15 * i))
            if i % 6 == 0:
                on_topic.append(n)
        outcomes, report = await _poll(app)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == AZ)).one()
    assert not [o for o in outcomes if o.error]
    assert report.sent == len(on_topic) == 48
    texts = [m.text for m in world.telegram.messages()]
    assert all(f"hesabat {6 * k}." in texts[k] for k in range(48))  # oldest first
    assert row.cursor == str(max(p.number for p in fake.posts("MODAzerbaijan")))
    pages = [r for r in fake.requests() if r.path == "/s/MODAzerbaijan"]
    assert len(pages) == 2 + 288 // 20  # first poll, newest page, 14 older pages


async def test_a_backlog_over_the_page_limit_is_a_gap_read_later(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server, WATCHPOST_TELEGRAM_PREVIEW_MAX_PAGES="3") as app:
        await run_once(app)
        for i in range(200):
            fake.post("MODAzerbaijan", f"Qarabağ {i}." if i % 10 == 0 else f"Xəbər {i}.")
        _, report = await _poll(app)
        with app.sessions() as s:
            cursor = s.scalars(select(SourceRow.cursor).where(SourceRow.key == AZ)).one()
        assert cursor is not None and " gap=" in cursor  # told, and kept until read
        assert report.sent < 20
        for _ in range(5):
            _outcomes, _ = await _poll(app)
        with app.sessions() as s:
            cursor = s.scalars(select(SourceRow.cursor).where(SourceRow.key == AZ)).one()
    assert cursor == "200"
    assert len(world.telegram.messages()) == 20


@pytest.mark.parametrize(
    ("break_it", "expect", "rejected"),
    [
        (lambda f: f.disable_preview("MODAzerbaijan"), "has no public preview", True),
        (lambda f: f.fail_next(2, 503, retry_after=None), "HTTP 503", False),
    ],
    ids=["no-preview", "server-error"],
)
async def test_preview_faults_are_clear_per_channel_outcomes(
    world: World, tg, break_it, expect: str, rejected: bool
) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        break_it(fake)
        world.publish("/am.rss", entry(90, "Karabakh", "From the ministry's site."))
        outcomes, report = await _poll(app)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == AZ)).one()
    errors = {o.source_key: o.error for o in outcomes if o.error}
    assert AZ in errors and expect in (errors[AZ] or ""), errors
    assert report.sent == 1  # the feed went on
    wait = (row.next_poll_at - app.clock()).total_seconds()
    assert wait >= (3000 if rejected else 1)


async def test_rate_limited_host_holds_every_channel_without_more_requests(
    world: World, tg
) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        fake.fail_next(5, 429, retry_after=120)
        outcomes, _ = await _poll(app)
        errors = [o.error for o in outcomes if o.error]
        assert errors and all("HTTP 429 (rate limited)" in (e or "") for e in errors)
        asked = len(fake.requests())
        # Polled again at once: t.me said wait, so nobody asks, and waiting is no failure.
        outcomes, _ = await _poll(app)
        with app.sessions() as s:
            rows = s.scalars(select(SourceRow).where(SourceRow.kind == "telegram")).all()
    assert len(fake.requests()) == asked
    assert not [o for o in outcomes if o.error]
    assert sum(r.failures for r in rows) == len(errors)
    assert all((r.next_poll_at - app.clock()).total_seconds() > 60 for r in rows)


async def test_a_renamed_channel_is_followed_and_said(world: World, tg, caplog) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
        fake.rename("MODAzerbaijan", "MODAzerbaijan_new")
        fake.post("MODAzerbaijan_new", "Qarabağ: adı dəyişmiş kanaldan.")
        outcomes, report = await _poll(app)
    assert not [o for o in outcomes if o.error] and report.sent == 1
    assert any("renamed" in r.getMessage() for r in caplog.records)


async def test_requests_say_who_we_are(world: World, tg) -> None:
    fake, server = tg
    async with _app(world, server) as app:
        await run_once(app)
    agents = {r.user_agent for r in fake.requests()}
    assert agents == {app.settings.user_agent}


def test_sources_table_shows_cursor_last_post_and_failures(
    world: World,
    tg,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, server = tg
    config = tmp_path / "w.yaml"
    config.write_text(TG_WATCHLIST.replace("{feeds}", world.feeds.url), encoding="utf-8")
    env = {
        **world.env(),
        "WATCHPOST_TELEGRAM_PREVIEW_BASE_URL": server.url,
        "WATCHPOST_TELEGRAM_PREVIEW_INTERVAL_SECONDS": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake.post("MODAzerbaijan", "Qarabağ.", at=datetime.now(UTC) - timedelta(hours=3))
    fake.disable_preview("armenianmfa")
    assert main(["--config", str(config), "once"]) == 3  # partial: one channel has no preview
    capsys.readouterr()
    assert main(["--config", str(config), "sources"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "LAST POST" in header and "CURSOR" in header
    az = next(r for r in out.splitlines() if r.startswith(AZ)).split()
    # SOURCE KIND LAST-SUCCESS(2) FAILURES NEXT-POLL(2) STATEMENTS LAST-POST(2) CURSOR
    assert az[1] == "telegram" and az[4] == "0" and az[7:11] == ["1", "3h", "ago", "1"]
    am = next(r for r in out.splitlines() if r.startswith(AM))
    assert am.split()[1:4] == ["telegram", "never", "1"]
    assert "has no public preview" in am


async def test_a_username_taken_by_another_channel_is_refused_not_believed(
    world: World, tg
) -> None:
    fake, server = tg
    fake.post("MODAzerbaijan", "Qarabağ: köhnə.")
    async with _app(world, server) as app:
        await run_once(app)
        fake.take_over("MODAzerbaijan", "Somebody else")
        fake.post("MODAzerbaijan", "Qarabağ: not the ministry speaking.")
        outcomes, report = await _poll(app)
    errors = {o.source_key: o.error for o in outcomes if o.error}
    assert "is now another channel" in (errors.get(AZ) or "")
    assert report.sent == 0 and world.telegram.messages() == []
