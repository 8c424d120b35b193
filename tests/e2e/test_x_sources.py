"""X accounts end to end: fake X API v2 → real tweepy → worker → real PTB → fake Bot API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

import storage
from bot.app import App, run_once
from bot.fakes.http import LocalServer
from bot.fakes.x_api import Endpoint, FakeX
from storage.schema import AlertRow, SourceRow
from tests.e2e.conftest import World

X_TOKEN = "x-bearer-for-tests"

X_WATCHLIST = """
speakers:
  - id: am-mfa
    name: Ministry of Foreign Affairs of Armenia
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - x: MFAofArmenia
      - feed: "{feeds}/am.rss"
  - id: az-mfa
    name: Ministry of Foreign Affairs of Azerbaijan
    role: Foreign ministry
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
      - x: AzerbaijanMFA
  - id: ru-mfa
    name: Ministry of Foreign Affairs of Russia
    role: Foreign ministry
    side: Russia
    timezone: Europe/Moscow
    sources:
      - x: mfa_russia
topics:
  - id: karabakh
    name: Nagorno-Karabakh
    terms:
      en: [Karabakh, Artsakh, Stepanakert]
      ru: [Карабах*]
channels:
  - id: main
    chat: "@main_watch"
"""


@pytest.fixture
def x() -> Iterator[tuple[FakeX, LocalServer]]:
    fake = FakeX(tokens={X_TOKEN})
    for handle in ("MFAofArmenia", "AzerbaijanMFA", "mfa_russia"):
        fake.add_user(handle, name=handle)
    with LocalServer(fake.handle) as server:
        yield fake, server


def _app(world: World, server: LocalServer, strategy: str = "batched", **extra: str):
    env = {
        "X_BEARER_TOKEN": X_TOKEN,
        "X_API_BASE_URL": server.url,
        "WATCHPOST_X_STRATEGY": strategy,
        "WATCHPOST_X_PLAN": "pro",
        **extra,
    }
    return world.app(X_WATCHLIST, **env)


def _due_now(app: App) -> None:
    """Time passes: every source and every waiting alert is due."""
    past = app.clock() - timedelta(seconds=1)
    with app.sessions.begin() as s:
        s.execute(update(SourceRow).values(next_poll_at=past))
        s.execute(update(AlertRow).where(AlertRow.status == "pending").values(next_attempt_at=past))


@pytest.mark.parametrize("strategy", ["batched", "per_account"])
async def test_posts_replies_quotes_and_reposts(world: World, x, strategy: str) -> None:
    fake, server = x
    old = fake.post("MFAofArmenia", "Yesterday's statement on Karabakh.")
    async with _app(world, server, strategy) as app:
        await run_once(app)  # primes: nothing alerted
        assert world.telegram.messages() == []
        az = fake.post("AzerbaijanMFA", "Our position on Karabakh is unchanged.")
        fake.post("MFAofArmenia", "We reject this claim about Stepanakert.", reply_to=az)
        fake.post("mfa_russia", "Мы призываем к миру в Карабахе.", quote_of=old)
        fake.post("AzerbaijanMFA", "", repost_of=old)  # a watched post reposted: no new alert
        fake.post("mfa_russia", "Визит министра в Минск.")  # not on topic
        _due_now(app)
        outcomes, _report = await run_once(app)
    texts = [m.text for m in world.telegram.messages("@main_watch")]
    assert len(texts) == 3, texts
    reply = next(t for t in texts if t.startswith("🗣 Ministry of Foreign Affairs of Armenia"))
    assert "In reply to @AzerbaijanMFA" in reply and "unchanged" in reply
    quote = next(t for t in texts if t.startswith("🗣 Ministry of Foreign Affairs of Russia"))
    assert "Quoting @MFAofArmenia" in quote
    # the repost: timelines show it (an "also published by"); recent search does not (issue 8)
    assert sum(o.duplicates for o in outcomes) == (1 if strategy == "per_account" else 0)
    if strategy == "batched":
        assert fake.requests(Endpoint.SEARCH_RECENT) == 2  # one per poll for all three accounts
        assert fake.requests(Endpoint.USER_TWEETS) == 0
    else:
        assert fake.requests(Endpoint.USER_TWEETS) == 6
    with app.sessions() as s:
        requests, reads = storage.month_usage(s, "x", datetime.now(UTC))
    assert requests >= 2 and reads >= 5


async def test_edit_is_answered_with_a_diff_and_deletion_with_a_quote(world: World, x) -> None:
    fake, server = x
    async with _app(world, server) as app:
        await run_once(app)
        post = fake.post("MFAofArmenia", "Shelling of Stepanakert continued overnight.")
        _due_now(app)
        await run_once(app)
        (first,) = world.telegram.messages()
        fake.edit(post, "Heavy shelling of Stepanakert continued all night.")
        _due_now(app)
        await run_once(app)
        edit = world.telegram.messages()[-1]
        assert edit.reply_to == first.message_id
        assert "Edited" in edit.text
        struck = {e.type for e in edit.entities}
        assert {"strikethrough", "underline"} <= struck
        fake.delete(post)
        _due_now(app)
        with app.sessions.begin() as s:
            s.execute(update(storage.schema.StatementRow).values(checked_at=None))
        await run_once(app)
    deletion = world.telegram.messages()[-1]
    assert deletion.reply_to == first.message_id
    assert "Deleted" in deletion.text and "Shelling of Stepanakert" in deletion.text
    assert any(e.type == "blockquote" for e in deletion.entities)


async def test_a_thread_grows_one_alert(world: World, x) -> None:
    fake, server = x
    async with _app(world, server) as app:
        await run_once(app)
        root = fake.post("MFAofArmenia", "1/ Statement on the attack on Stepanakert.")
        _due_now(app)
        await run_once(app)
        fake.post("MFAofArmenia", "2/ Civilians were hit in Karabakh.", reply_to=root)
        _due_now(app)
        await run_once(app)
    (msg,) = world.telegram.messages()
    assert msg.edits, "the first alert was edited to carry the thread"
    assert "Civilians were hit" in msg.current_text and "attack on Stepanakert" in msg.current_text


@pytest.mark.parametrize(
    ("break_it", "expect"),
    [
        (lambda fake: fake.forbid(), "X forbids"),
        (lambda fake: fake.fail_next(20, 503), "X server error 503"),
        (lambda fake: fake.fail_next(20, 429), "X 429"),
    ],
    ids=["forbidden", "5xx-storm", "429-storm"],
)
async def test_x_trouble_leaves_the_rest_running(world: World, x, break_it, expect: str) -> None:
    fake, server = x
    async with _app(world, server) as app:
        await run_once(app)
        break_it(fake)
        world.publish("/am.rss", _feed_entry())
        _due_now(app)
        outcomes, report = await run_once(app)
    errors = {o.source_key: o.error for o in outcomes if o.error}
    assert {k for k in errors} == {"x:mfaofarmenia", "x:azerbaijanmfa", "x:mfa_russia"}
    assert all(expect in e for e in errors.values() if e)
    assert report.sent == 1  # the feed's statement still arrived


async def test_bad_token_and_unknown_handle_are_clear_per_source_errors(world: World, x) -> None:
    _fake, server = x
    text = X_WATCHLIST.replace("x: mfa_russia", "x: NoSuchAccount1")
    async with _app(world, server, "per_account", X_BEARER_TOKEN="wrong") as app:
        outcomes, _ = await run_once(app)
    assert {o.error for o in outcomes if o.source_key.startswith("x:")} == {
        f"{k}: X refused X_BEARER_TOKEN (401)"
        for k in ("x:mfaofarmenia", "x:azerbaijanmfa", "x:mfa_russia")
    }
    async with world.app(
        text, X_BEARER_TOKEN=X_TOKEN, X_API_BASE_URL=server.url, WATCHPOST_X_STRATEGY="per_account"
    ) as app:
        outcomes, _ = await run_once(app)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == "x:nosuchaccount1")).one()
    assert row.last_error == "x:nosuchaccount1: no X account @NoSuchAccount1"
    assert sum(1 for o in outcomes if o.error) == 1


def _feed_entry():
    from tests.e2e.conftest import entry

    return entry(90, "Karabakh", "From the ministry's site.")


async def test_budget_hold_is_no_failure_and_keeps_the_batch_together(world: World, x) -> None:
    fake, server = x
    async with _app(world, server, WATCHPOST_X_SEARCH_PER_15M="2") as app:
        await run_once(app)  # the one search the budget allows now (90 % of 2)
        fake.post("MFAofArmenia", "News on Karabakh.")
        _due_now(app)
        outcomes, _ = await run_once(app)
        assert [o.error for o in outcomes if o.source_key.startswith("x:")] == [None] * 3
        assert app.metrics.get("poll_holds") == 3
        with app.sessions() as s:
            rows = s.scalars(select(SourceRow).where(SourceRow.kind == "x")).all()
            assert {r.failures for r in rows} == {0}
            assert len({r.next_poll_at for r in rows}) == 1  # still one batch
            assert min(r.next_poll_at for r in rows) - app.clock() > timedelta(minutes=5)
    assert fake.requests(Endpoint.SEARCH_RECENT) == 1
    assert fake.requests(Endpoint.USERS_BY) == 1  # the three handles resolved in one request
    with app.sessions() as s:
        requests, _ = storage.month_usage(s, "x", datetime.now(UTC))
    assert requests == 2


@pytest.mark.parametrize(
    "hide", [lambda fake: fake.suspend("MFAofArmenia"), lambda fake: fake.protect("MFAofArmenia")]
)
@pytest.mark.parametrize("strategy", ["batched", "per_account"])
async def test_posts_of_a_suspended_or_protected_account_are_not_announced_deleted(
    world: World, x, strategy: str, hide
) -> None:
    """Issue 8: every recent post of such an account is missing; none was deleted."""
    fake, server = x
    async with _app(world, server, strategy) as app:
        await run_once(app)
        kept = fake.post("MFAofArmenia", "Shelling of Stepanakert continued overnight.")
        gone = fake.post("MFAofArmenia", "Talks on Karabakh resume in Geneva.")
        _due_now(app)
        await run_once(app)
        assert len(world.telegram.messages()) == 2
        fake.delete(gone)
        hide(fake)
        _due_now(app)
        with app.sessions.begin() as s:
            s.execute(update(storage.schema.StatementRow).values(checked_at=None))
        await run_once(app)
        assert not any("Deleted" in m.text for m in world.telegram.messages())
        # once the account is visible again, the post that was really deleted is announced
        fake.suspend("MFAofArmenia", False)
        fake.protect("MFAofArmenia", False)
        _due_now(app)
        with app.sessions.begin() as s:
            s.execute(update(storage.schema.StatementRow).values(checked_at=None))
        await run_once(app)
    deleted = [m.text for m in world.telegram.messages() if "Deleted" in m.text]
    assert len(deleted) == 1 and "Geneva" in deleted[0]
    assert kept not in deleted[0] and "continued overnight" not in deleted[0]


async def test_a_restart_remembers_the_cap_pause(world: World, x) -> None:
    """Issue 8: the guard's state is stored; a restart does not forget a cap pause."""
    fake, server = x
    async with _app(world, server, WATCHPOST_X_SEARCH_PER_15M="20") as app:
        await run_once(app)
        fake.set_read_cap(0)
        _due_now(app)
        outcomes, _ = await run_once(app)
        x_errors = [o.error or "" for o in outcomes if o.source_key.startswith("x:")]
        assert len(x_errors) == 3 and all("monthly usage cap" in e for e in x_errors)
        with app.sessions() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.key == "x:mfa_russia")).one()
            assert "paused until" in (row.last_error or "")  # `watchpost sources` shows it
    sent = fake.requests()
    async with _app(world, server, WATCHPOST_X_SEARCH_PER_15M="20") as app:
        _due_now(app)
        outcomes, _ = await run_once(app)
        assert app.metrics.get("poll_holds") == 3
    assert fake.requests() == sent  # nothing was sent after the restart
