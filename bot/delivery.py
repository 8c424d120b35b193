"""Drains the outbox: render each due alert, send it, mark it sent with Telegram's message id.

The only reader of the outbox. Honours Telegram's `retry_after`, paces each chat and the bot as a
whole, retries passing failures with backoff and keeps refused alerts visible as failed.
"""

from __future__ import annotations

import asyncio
import html as htmllib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.backoff import next_attempt
from bot.burst import Pending, SendAs, plan_burst
from bot.context import OTHER_SIDE_WINDOW, Around, ParentState, build_context
from bot.errors import DeliveryRejected, DeliveryRetryLater, StorageError
from bot.metrics import Metrics
from bot.model import AlertForDelivery, AlertKind, AlertStatus, Watchlist
from bot.ports import Outbox, Sender
from bot.render import (
    burst_head,
    burst_line,
    render_alert,
    render_burst,
    render_deletion,
    render_digest,
    render_edit,
    visible_units,
)
from bot.routing import in_quiet_hours, is_silent, is_urgent, thread_for
from bot.tghtml import cut_html, utf16_len

__all__ = ["DeliveryPolicy", "DispatchReport", "Dispatcher"]


class _NotYet(Exception):
    """An alert must wait for another to be sent first."""


@dataclass(frozen=True, slots=True)
class _Message:
    """One Telegram operation an alert (or a digest of alerts) turns into."""

    html: str
    silent: bool = False
    #: answer this message
    reply_to: str | None = None
    #: rewrite this message instead of sending a new one
    edit: str | None = None
    #: issue 11: the forum topic it goes to (None: the chat's general one)
    thread_id: int | None = None
    #: issue 11: photos to send with `html` as their caption (at most an album's 10)
    photos: tuple[str, ...] = ()


log = logging.getLogger("watchpost.delivery")

#: how a timed-out send's error starts in the outbox (the next try is patient)
TIMED_OUT = "timed out, may have been sent: "

#: room for the statement's text in a plain (fallback) message, leaving some for the rest
PLAIN_MAX_UNITS = 3000

#: how a refused edit's error starts in the outbox (the next try answers the message instead)
EDIT_REFUSED = "edit refused, will send anew: "

#: the Bot API's limits on a caption (characters of text after entity parsing) and an album
CAPTION_UNITS = 1024
ALBUM_MAX = 10

#: tries for the rest of a cut caption, sent after its photo (which is already delivered)
CAPTION_REST_TRIES = 3


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How delivery behaves: from settings."""

    #: Telegram takes about 20 messages a minute in one channel or group
    chat_interval: float = 3.0
    #: and about 30 a second from one bot overall
    global_rate: float = 25.0
    #: issue 11: a backlog that would make an alert later than this is gathered into digests
    #: (0: never)
    burst_max_delay: float = 60.0
    max_attempts: int = 50
    backoff_cap: float = 3600.0
    lease: timedelta = timedelta(seconds=120)
    batch_size: int = 50
    #: a dispatch tick stops taking new alerts after this long (the rest wait for the next tick)
    tick_budget: float = 30.0
    #: the statement's text is cut (at a sentence, with a link to the rest) beyond this
    max_text: int = 1500


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one dispatch tick did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    #: printed on the console (console mode): done, but not sent
    shown: int = 0
    #: ids of the alerts this tick delivered (sent or shown), and of those it could not
    done_ids: frozenset[int] = frozenset()
    undone_ids: frozenset[int] = frozenset()

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            sent=self.sent + other.sent,
            retried=self.retried + other.retried,
            failed=self.failed + other.failed,
            deferred=self.deferred + other.deferred,
            shown=self.shown + other.shown,
            done_ids=self.done_ids | other.done_ids,
            undone_ids=self.undone_ids | other.undone_ids,
        )

    @property
    def undelivered(self) -> frozenset[int]:
        """Alerts that were retried or refused and not delivered later in the same run."""
        return self.undone_ids - self.done_ids


class Dispatcher:
    """Sends pending alerts, chat by chat in outbox order."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session] | None = None,
        outbox: Outbox | None = None,
        sender: Sender,
        watchlist: Watchlist,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
        metrics: Metrics,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        if outbox is None:
            if sessions is None:
                raise TypeError("Dispatcher needs an outbox (or sessions to make one)")
            outbox = storage.SqlOutbox(sessions)
        self._outbox = outbox
        self._sender = sender
        self._owner = owner
        self._watchlist = watchlist
        self._topics = {t.id: t for t in watchlist.topics}
        self._speakers = {sp.id: sp for sp in watchlist.speakers}
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        # Pacing lives in memory, seeded at the first tick from each chat's last send.
        self._chat_ready_at: dict[str, float] = {}
        self._next_global = 0.0
        # Each chat's last send before this worker started, read once (see `_remember_paces`).
        self._paces_known = False
        self._lock = asyncio.Lock()
        # issue 11: alerts claimed by the tick in flight (given back if it is cancelled), and
        # outbox writes that failed on a database error, retried first at the next tick.
        self._claimed: set[int] = set()
        self._unwritten: list[Callable[[Outbox], None]] = []
        # issue 9: the context of every alert of the tick, loaded at once after the claim (or
        # why it could not be), and the state this tick gave to alerts others follow up on.
        self._around: dict[int, Around] = {}
        self._around_error: Exception | None = None
        self._settled: dict[int, ParentState] = {}

    async def dispatch(self) -> DispatchReport:
        """Send what is due now; one tick. Never raises for Telegram's or the database's faults."""
        async with self._lock:
            return await self._dispatch()

    def replace_watchlist(self, watchlist: Watchlist) -> None:
        """Render by a reloaded watchlist from the next alert on (hot reload, issue 11)."""
        self._watchlist = watchlist
        self._topics = {t.id: t for t in watchlist.topics}
        self._speakers = {sp.id: sp for sp in watchlist.speakers}

    def release_all(self) -> None:
        """On shutdown: record what can be, and give back the alerts of a cancelled tick."""
        self._retry_unwritten()
        if not self._claimed:
            return
        ids, self._claimed = sorted(self._claimed), set()
        try:
            self._outbox.release(ids)
            log.info("released %d claimed alert(s)", len(ids))
        except StorageError as exc:
            log.error("alert leases not released (they run out): %s", exc)

    def _retry_unwritten(self) -> None:
        while self._unwritten:
            try:
                self._unwritten[0](self._outbox)
            except StorageError as exc:
                log.error("%d outbox updates still not written: %s", len(self._unwritten), exc)
                return
            self._unwritten.pop(0)

    async def _dispatch(self) -> DispatchReport:
        self._retry_unwritten()
        now = self._clock()
        try:
            alerts = self._outbox.claim(
                now,
                # issue 11: a digest carries up to 50 lines; a tick that saw only 50 alerts
                # would send half-full digests and fall behind a burst.
                limit=self._policy.batch_size * (4 if self._policy.burst_max_delay else 1),
                lease=self._policy.lease,
                owner=self._owner,
            )
            self._claimed = {a.id for a in alerts}
        except StorageError as exc:
            log.error("dispatch tick skipped: %s", exc)
            self._metrics.inc("storage_errors", where="claim_alerts")
            return DispatchReport()
        self._remember_paces(now)
        started = self._monotonic()
        units = self._units(alerts, now)
        self._load_around([a for unit, burst in units if not burst for a in unit])
        # One lane per chat, all at once: a chat's messages keep their order and its pace, and
        # no chat waits out another's pace (issue 11: in one loop, a channel with several alerts
        # in a row held every other channel 3 s per message; the kill -9 soak measured 213 s
        # of its 263 s of sending spent so).
        lanes: dict[str, list[tuple[list[AlertForDelivery], bool]]] = {}
        for unit, burst in units:
            lanes.setdefault(unit[0].chat, []).append((unit, burst))
        reports = await asyncio.gather(*(self._lane(lane, started) for lane in lanes.values()))
        return sum(reports, DispatchReport())

    def _remember_paces(self, now: datetime) -> None:
        """Take up each chat's pace where the last run left it: a restarted worker that forgot
        it sent to every chat at once and was answered 429 by each (issue 11: the soak's 20
        restarts drew 118 of them). Read once; a database fault leaves it for the next tick."""
        if self._paces_known:
            return
        try:
            last = self._outbox.last_sent()
        except StorageError:
            return
        self._paces_known = True
        mono = self._monotonic()
        for chat, at in last.items():
            wait = (at - now).total_seconds() + self._policy.chat_interval
            if wait > 0:
                self._chat_ready_at[chat] = max(self._chat_ready_at.get(chat, 0.0), mono + wait)

    async def _lane(
        self, units: list[tuple[list[AlertForDelivery], bool]], started: float
    ) -> DispatchReport:
        """Send one chat's messages in order; a channel told to wait sends nothing more now."""
        held: set[str] = set()
        sent = retried = failed = deferred = shown = 0
        done: set[int] = set()
        undone: set[int] = set()
        for unit, burst in units:
            first = unit[0]
            over_budget = self._monotonic() - started > self._policy.tick_budget
            ids = {a.id for a in unit}
            if first.channel_id in held or over_budget:
                for alert in unit:
                    self._release(alert)
                self._claimed -= ids
                deferred += len(unit)
                continue
            outcome = await self._deliver(unit, burst=burst)
            self._claimed -= ids
            if outcome == "sent":
                if self._sender.delivers:
                    sent += len(unit)
                else:
                    shown += len(unit)
                done |= ids
            elif outcome == "failed":
                failed += len(unit)
                undone |= ids
            else:
                retried += len(unit)
                undone |= ids
                held.add(first.channel_id)
        return DispatchReport(
            sent=sent,
            retried=retried,
            failed=failed,
            deferred=deferred,
            shown=shown,
            done_ids=frozenset(done),
            undone_ids=frozenset(undone),
        )

    def _load_around(self, alerts: list[AlertForDelivery]) -> None:
        """Load the context of the tick's alerts in a fixed number of queries (issue 9); on a
        database error each alert that needs it is retried later, as a failed read was."""
        self._settled = {}
        self._around, self._around_error = {}, None
        try:
            self._around = self._outbox.load_around(alerts, window=OTHER_SIDE_WINDOW)
        except StorageError as exc:
            self._around_error = exc
        except Exception as exc:
            # A bug (or data it cannot handle) must not stop the tick: each alert that needs
            # the context then goes out in its plain form, as a rendering fault does.
            log.critical("alert context failed for the tick", exc_info=True)
            self._around_error = exc

    def _around_of(self, alert: AlertForDelivery) -> Around:
        if isinstance(self._around_error, StorageError):
            raise StorageError(str(self._around_error)) from self._around_error
        if self._around_error is not None:
            raise RuntimeError(f"context: {self._around_error!r}") from self._around_error
        around = self._around.get(alert.id, Around())
        if alert.parent_id in self._settled and around.parent is not None:
            # The parent was sent (or refused) earlier in this tick, after the context was read.
            return Around(
                also=around.also,
                thread=around.thread,
                recent=around.recent,
                parent=self._settled[alert.parent_id],
            )
        return around

    def _settle(
        self, unit: list[AlertForDelivery], status: AlertStatus, message_id: str | None
    ) -> None:
        """Remember what this tick made of `unit`, for follow-ups claimed in the same tick."""
        firsts = [a for a in unit if a.kind not in (AlertKind.ALSO, AlertKind.THREAD)]
        for a in unit:
            # A new message id is this unit's alone: shared when the unit is a digest.
            self._settled[a.id] = ParentState(
                status, message_id, message_id is not None and len(firsts) > 1
            )

    def _units(
        self, alerts: list[AlertForDelivery], now: datetime
    ) -> list[tuple[list[AlertForDelivery], bool]]:
        """The messages the claimed alerts go out as, each with whether it is a burst digest.

        A channel's daily digest is one message; its other alerts follow the burst plan. The
        channels' messages keep interleaving in outbox order: a channel's n-th message takes
        the place of its n-th claimed alert, so one channel's burst does not delay the others.
        """
        keyed: list[tuple[int, list[AlertForDelivery], bool]] = []
        digests: dict[str, list[AlertForDelivery]] = {}
        by_channel: dict[str, list[tuple[int, AlertForDelivery]]] = {}
        for i, alert in enumerate(alerts):
            if alert.kind is AlertKind.DIGEST:
                if alert.channel_id not in digests:
                    digests[alert.channel_id] = []
                    keyed.append((i, digests[alert.channel_id], False))
                digests[alert.channel_id].append(alert)
            else:
                by_channel.setdefault(alert.channel_id, []).append((i, alert))
        for channel_id, items in by_channel.items():
            by_id = {a.id: a for _, a in items}
            plan = plan_burst(
                [self._pending(a) for _, a in items],
                now=now,
                interval=self._policy.chat_interval,
                max_delay=self._policy.burst_max_delay,
                head_units=visible_units(burst_head(len(items))),
            )
            gathered = [step for step in plan if step.kind is SendAs.DIGEST]
            if gathered:
                log.info(
                    "burst channel=%s alerts=%d digests=%d messages=%d",
                    channel_id,
                    len(items),
                    len(gathered),
                    len(plan),
                )
            for (pos, _), step in zip(items, plan, strict=False):
                keyed.append((pos, [by_id[i] for i in step.ids], step.kind is SendAs.DIGEST))
        keyed.sort(key=lambda k: k[0])
        return [(unit, burst) for _, unit, burst in keyed]

    def _pending(self, alert: AlertForDelivery) -> Pending:
        """What the burst plan needs to know of an alert."""
        # A follow-up answers or rewrites one message; a timed-out try may have posted the
        # alert already, and its next try must be the patient one for that alert alone.
        alone = alert.kind is not AlertKind.NEW or (alert.last_error or "").startswith(TIMED_OUT)
        try:
            units = visible_units(burst_line(alert, self._speakers))
        except Exception:
            # It goes alone, where a rendering fault has its plain fallback (issue 11).
            log.critical("burst line failed alert=%d", alert.id, exc_info=True)
            alone, units = True, 0
        return Pending(
            id=alert.id,
            created_at=alert.created_at,
            urgent=is_urgent(alert.statement.matches, self._topics),
            alone=alone,
            line_units=units,
        )

    @asynccontextmanager
    async def _turn(self, chat: str, items: int = 1) -> AsyncIterator[None]:
        """The chat's turn for one send of `items` messages: waited for before it, and counted
        again from when the answer came back. Telegram measures the gap between messages as
        they arrive; spaced only at their start, two sends whose requests took different times
        to arrive came closer than the pace (one lane per chat made every send start exactly
        on the pace: the soak drew 108 429s in 300 messages)."""
        await self._pace(chat, items)
        try:
            yield
        finally:
            after = self._monotonic() + self._policy.chat_interval * items
            self._chat_ready_at[chat] = max(self._chat_ready_at.get(chat, 0.0), after)

    async def _pace(self, chat: str, items: int = 1) -> None:
        """Wait for the chat's and the bot's next turn; `items` messages go now (an album's
        photos are messages each, for Telegram's flood limits: issue 11)."""
        now = self._monotonic()
        # The turn is taken before the wait: lanes run at once, and two that read the same
        # free turn would both send in it (the bot's global rate is shared by every chat).
        turn = max(self._chat_ready_at.get(chat, 0.0), self._next_global, now)
        self._chat_ready_at[chat] = turn + self._policy.chat_interval * items
        self._next_global = turn + items / self._policy.global_rate
        if turn > now:
            await self._sleep(turn - now)

    def _thread(self, alert: AlertForDelivery, *, own: bool = True) -> int | None:
        """The forum topic for this alert: its original's for a follow-up, else by the
        channel's `threads` (`own=False`: a digest of many statements, the default topic)."""
        if alert.parent_message_id is not None:
            return alert.parent_thread_id
        channel = self._watchlist.channel(alert.channel_id)
        if channel is None:
            return None
        if not own:
            return thread_for(channel.threads, (), None)
        speaker = self._speakers.get(alert.statement.speaker_id)
        side = speaker.side if speaker is not None else None
        return thread_for(channel.threads, alert.statement.matches, side)

    def _photos(self, alert: AlertForDelivery) -> tuple[str, ...]:
        """The photos to send with a standalone alert: none unless the channel has media on."""
        channel = self._watchlist.channel(alert.channel_id)
        if channel is None or not channel.media:
            return ()
        return alert.statement.photos[:ALBUM_MAX]

    def _silent(self, alert: AlertForDelivery, now: datetime) -> bool:
        matches = alert.statement.matches
        if is_silent(matches, self._topics):
            return True
        channel = self._watchlist.channel(alert.channel_id)
        return (
            channel is not None
            and in_quiet_hours(channel, now)
            and not is_urgent(matches, self._topics)
        )

    def _prepare(self, unit: list[AlertForDelivery], *, burst: bool = False) -> _Message:
        """What to send or edit for these alerts, with the context storage holds."""
        alert = unit[0]
        st = alert.statement
        speaker = self._watchlist.speaker(st.speaker_id)
        now = self._clock()
        if burst:
            # Notifies as the loudest of its alerts would have.
            html = render_burst(unit, self._speakers)
            return _Message(
                html=html,
                silent=all(self._silent(a, now) for a in unit),
                thread_id=self._thread(alert, own=False),
            )
        silent = self._silent(alert, now)
        if alert.kind is AlertKind.DIGEST:
            html = render_digest(unit, self._speakers)
            return _Message(html=html, silent=True, thread_id=self._thread(alert, own=False))
        thread = self._thread(alert)
        if alert.kind is AlertKind.DELETE:
            html = render_deletion(alert, speaker, deleted_at=st.deleted_at or now)
            return _Message(
                html=html, silent=silent, reply_to=alert.parent_message_id, thread_id=thread
            )
        around = self._around_of(alert)
        if alert.kind is AlertKind.EDIT and alert.subject_id is not None:
            if around.edit is None:
                raise LookupError(f"version {alert.subject_id} not found")
            edit = around.edit
            html = render_edit(
                alert, speaker, before=edit.before, after=edit.after, edited_at=edit.edited_at
            )
            return _Message(
                html=html, silent=silent, reply_to=alert.parent_message_id, thread_id=thread
            )
        context = build_context(
            st, self._watchlist, also=around.also, thread=around.thread, recent=around.recent
        )
        parent = around.parent
        html = render_alert(
            alert, speaker, self._topics, context=context, max_text=self._policy.max_text
        )
        if parent is None:
            return _Message(html=html, silent=silent, thread_id=thread, photos=self._photos(alert))
        status, message_id, shared = parent.status, parent.message_id, parent.shared
        if status == AlertStatus.PENDING:
            # The first alert is still on its way: grow it once it is there.
            raise _NotYet("the first alert is not sent yet")
        if message_id is not None and shared:
            # issue 11: the first alert went out as a line of a digest; rewriting that message
            # would take the other statements' lines away: answer it instead.
            return _Message(html=html, silent=True, reply_to=message_id, thread_id=thread)
        if message_id is not None and (alert.last_error or "").startswith(EDIT_REFUSED):
            # The first message cannot be edited (a photo's has no text to edit): answer it,
            # rather than be refused the same edit at every try.
            return _Message(html=html, silent=True, reply_to=message_id, thread_id=thread)
        if message_id is not None:
            # The first alert grows instead of a second message.
            return _Message(html=html, silent=True, edit=message_id, thread_id=thread)
        if alert.kind is AlertKind.ALSO:
            return _Message(html="", silent=True)  # the first alert was refused: nothing to add
        return _Message(html=html, silent=silent, thread_id=thread, photos=self._photos(alert))

    def _plain(self, unit: list[AlertForDelivery]) -> _Message:
        """A minimal, safe message for alerts the renderer failed on: who, what, the link."""
        parts = []
        for alert in unit:
            st = alert.statement
            speaker = self._speakers.get(st.speaker_id)
            name = speaker.name if speaker is not None else st.speaker_id
            body = st.text
            while utf16_len(body) > PLAIN_MAX_UNITS // len(unit):
                body = body[: len(body) * 9 // 10]
            lines = [f"<b>{htmllib.escape(name)}</b>"]
            if st.title:
                lines.append(htmllib.escape(st.title[:300]))
            if body:
                lines.append(htmllib.escape(body) + ("…" if body != st.text else ""))
            if st.url:
                lines.append(htmllib.escape(st.url[:1000]))
            parts.append("\n".join(lines))
        first = unit[0]
        return _Message(
            html="\n\n".join(parts),
            reply_to=first.parent_message_id,
            thread_id=self._thread(first, own=len(unit) == 1),
        )

    async def _deliver(self, unit: list[AlertForDelivery], *, burst: bool = False) -> str:
        alert = unit[0]
        try:
            msg = self._prepare(unit, burst=burst)
        except _NotYet as exc:
            return self._retry_all(unit, str(exc), 1.0)
        except StorageError as exc:
            return self._retry_all(unit, f"context unavailable: {exc}", None)
        except Exception as exc:
            # A bug in rendering (or data it cannot handle) would fail the same way at every
            # try, and the channel's later alerts would wait behind it for days (issue 11):
            # say what was said in a plain form instead, and never hold the channel.
            log.critical("render bug alert=%d: sending a plain version", alert.id, exc_info=True)
            try:
                msg = self._plain(unit)
            except Exception:
                log.critical("plain render failed too alert=%d", alert.id, exc_info=True)
                for a in unit:
                    self._fail(a, f"could not be rendered: {exc!r}")
                return "failed"
        if not msg.html:
            self._mark_sent(unit, None)
            return "sent"
        try:
            message_id, thread_id = await self._send(alert, msg)
        except DeliveryRetryLater as exc:
            error = f"{TIMED_OUT}{exc.message}" if exc.timed_out else exc.message
            return self._retry_all(unit, error, exc.retry_after)
        except DeliveryRejected as exc:
            new_chat = exc.new_chat
            if new_chat:
                log.warning(
                    "chat moved channel=%s from=%s to=%s", alert.channel_id, alert.chat, new_chat
                )
                self._write(lambda o: o.set_channel_chat(alert.channel_id, new_chat))
                return self._retry_all(unit, exc.message, 0.0)
            if exc.chat_refused:
                return self._pause(unit, exc.message)
            if msg.edit is not None:
                # The first message can no longer be edited: say it in a message of its own.
                return self._retry_all(unit, f"{EDIT_REFUSED}{exc.message}", 0.0)
            for a in unit:
                self._fail(a, exc.message)
            return "failed"
        except Exception as exc:  # a bug in sending: keep the alerts, back off
            log.critical("delivery bug alert=%d", alert.id, exc_info=True)
            return self._retry_all(unit, f"bug: {exc!r}", None)
        self._mark_sent(unit, message_id, thread_id)
        now = self._clock()
        verb = "sent" if self._sender.delivers else "shown"
        self._metrics.inc(f"alerts_{verb}", len(unit), kind=alert.kind.value)
        if self._sender.delivers:  # console alerts are shown, not delivered: not a latency
            for a in unit:  # a digest delivers each of its alerts: one latency each
                self._metrics.observe_delivery((now - a.created_at).total_seconds())
        lag = (now - alert.statement.published_at).total_seconds()
        log.info(
            "%s alert=%d kind=%s channel=%s message_id=%s statement=%d lag=%.0fs",
            verb,
            alert.id,
            alert.kind.value,
            alert.channel_id,
            message_id,
            alert.statement.id,
            lag,
        )
        return "sent"

    async def _send(self, alert: AlertForDelivery, msg: _Message) -> tuple[str, int | None]:
        """Send or edit `msg`; Telegram's message id and the forum topic it went to.

        Raises:
            DeliveryRetryLater, DeliveryRejected: as the sender does.
        """
        if msg.edit is not None:
            async with self._turn(alert.chat):
                await self._sender.edit(alert.channel_id, alert.chat, msg.edit, msg.html)
            return msg.edit, msg.thread_id
        try:
            if msg.photos:
                return await self._send_photos(alert, msg), msg.thread_id
            async with self._turn(alert.chat):
                message_id = await self._sender.send(
                    alert.channel_id,
                    alert.chat,
                    msg.html,
                    silent=msg.silent,
                    reply_to=msg.reply_to,
                    # After a timeout Telegram may have posted it: wait long enough this time
                    # to learn the outcome, so one such event costs at most one repeat.
                    patient=(alert.last_error or "").startswith(TIMED_OUT),
                    thread_id=msg.thread_id,
                )
            return message_id, msg.thread_id
        except DeliveryRejected as exc:
            if not exc.thread_refused or msg.thread_id is None:
                raise
            # issue 11: the forum topic was deleted or the chat is no forum: the alert goes to
            # the chat's general topic rather than nowhere; the operator fixes `threads`.
            log.error(
                "forum topic refused channel=%s thread=%s alert=%d: %s; sent to the general "
                "topic, fix the channel's threads in the watchlist",
                alert.channel_id,
                msg.thread_id,
                alert.id,
                exc.message,
            )
            self._metrics.inc("threads_refused")
            return await self._send(alert, replace(msg, thread_id=None))

    async def _send_photos(self, alert: AlertForDelivery, msg: _Message) -> str:
        """A photo (or an album) with the alert as its caption, the caption's overflow in a
        reply; a photo Telegram cannot take turns the alert into text with the link (issue 11).
        """
        caption, rest = cut_html(msg.html, CAPTION_UNITS)
        # Each photo of an album is a message for Telegram's flood limits.
        try:
            async with self._turn(alert.chat, len(msg.photos)):
                first = await self._sender.send_photos(
                    alert.channel_id,
                    alert.chat,
                    msg.photos,
                    caption,
                    silent=msg.silent,
                    reply_to=msg.reply_to,
                    patient=(alert.last_error or "").startswith(TIMED_OUT),
                    thread_id=msg.thread_id,
                )
        except DeliveryRejected as exc:
            if not exc.media_refused:
                raise
            log.warning(
                "photo refused alert=%d channel=%s: %s; sent as text with the link",
                alert.id,
                alert.channel_id,
                exc.message,
            )
            self._metrics.inc("photos_refused")
            links = "\n".join(
                f'<a href="{htmllib.escape(url)}">📷 photo {i}</a>'
                for i, url in enumerate(msg.photos, 1)
            )
            async with self._turn(alert.chat):
                return await self._sender.send(
                    alert.channel_id,
                    alert.chat,
                    f"{msg.html}\n\n{links}",
                    silent=msg.silent,
                    reply_to=msg.reply_to,
                    thread_id=msg.thread_id,
                )
        if rest:
            await self._send_rest(alert, msg, rest, first)
        return first

    async def _send_rest(
        self, alert: AlertForDelivery, msg: _Message, rest: str, first: str
    ) -> None:
        """The part of a caption beyond 1,024 characters, as a reply to its photo. The photo is
        delivered already: a retry of the alert would post it twice, so the rest is tried here."""
        for attempt in range(1, CAPTION_REST_TRIES + 1):
            try:
                async with self._turn(alert.chat):
                    await self._sender.send(
                        alert.channel_id,
                        alert.chat,
                        rest,
                        silent=True,
                        reply_to=first,
                        thread_id=msg.thread_id,
                    )
                return
            except DeliveryRetryLater as exc:
                if exc.retry_after:
                    self._chat_ready_at[alert.chat] = self._monotonic() + exc.retry_after
                error = exc.message
                if attempt == CAPTION_REST_TRIES:
                    break
            except DeliveryRejected as exc:
                error = exc.message
                break
        log.error(
            "caption rest not sent alert=%d channel=%s message_id=%s: %s",
            alert.id,
            alert.channel_id,
            first,
            error,
        )
        self._metrics.inc("caption_rest_lost")

    def _pause(self, unit: list[AlertForDelivery], reason: str) -> str:
        """The chat refuses the bot: every alert of the channel would fail alike. Keep them all
        (issue 11: they were failed for good on the first try) and tell the operator."""
        alert = unit[0]
        now = self._clock()
        log.error(
            "channel paused channel=%s chat=%s: %s; its alerts wait: fix the chat, then run "
            "`watchpost channels resume %s`",
            alert.channel_id,
            alert.chat,
            reason,
            alert.channel_id,
        )
        self._metrics.inc("channels_paused")
        ids = [a.id for a in unit]
        self._write(
            lambda o: o.pause_channel(alert.channel_id, reason=reason, now=now, release=ids)
        )
        return "retry"

    def _mark_sent(
        self, unit: list[AlertForDelivery], message_id: str | None, thread_id: int | None = None
    ) -> None:
        now = self._clock()
        ids = [a.id for a in unit]

        delivers = self._sender.delivers
        if delivers:
            self._settle(unit, AlertStatus.SENT, message_id)
        else:
            self._settle(unit, AlertStatus.SHOWN, None)

        def mark_sent(o: Outbox) -> None:
            if delivers:
                o.mark_sent(ids, message_id=message_id, now=now, thread_id=thread_id)
            else:
                # issue 7: a console print is no delivery; the operator may send it later.
                o.mark_shown(ids, now=now)

        self._write(mark_sent)

    def _retry_all(
        self, unit: list[AlertForDelivery], error: str, retry_after: float | None
    ) -> str:
        outcome = "retry"
        for a in unit:
            outcome = self._retry(a, error, retry_after)
        return outcome

    def _retry(self, alert: AlertForDelivery, error: str, retry_after: float | None) -> str:
        attempts = alert.attempts + 1
        if attempts >= self._policy.max_attempts:
            return self._fail(alert, f"gave up after {attempts} attempts: {error}")
        now = self._clock()
        when = next_attempt(
            now, attempts, retry_after=retry_after, cap=self._policy.backoff_cap, rng=self._rng
        )
        if retry_after:
            # Telegram's wait applies to the chat: hold the chat's other alerts as long.
            self._chat_ready_at[alert.chat] = self._monotonic() + retry_after
        log.warning(
            "send deferred alert=%d channel=%s attempt=%d retry_in=%.1fs: %s",
            alert.id,
            alert.channel_id,
            attempts,
            (when - now).total_seconds(),
            error,
        )
        self._metrics.inc("delivery_retries")
        self._write(lambda o: o.mark_retry(alert.id, error=error, next_attempt_at=when))
        return "retry"

    def _fail(self, alert: AlertForDelivery, error: str) -> str:
        log.error("alert refused alert=%d channel=%s: %s", alert.id, alert.channel_id, error)
        self._metrics.inc("delivery_failures")
        self._settle([alert], AlertStatus.FAILED, None)
        now = self._clock()
        self._write(lambda o: o.mark_failed(alert.id, error=error, now=now))
        return "failed"

    def _release(self, alert: AlertForDelivery) -> None:
        self._write(lambda o: o.release([alert.id]))

    def _write(self, fn: Callable[[Outbox], None]) -> None:
        try:
            fn(self._outbox)
        except StorageError as exc:
            # Written at the next tick, before anything is claimed; if the worker dies first,
            # the lease runs out and the alert is taken again: at worst sent twice, never lost.
            log.error("outbox not updated (retried next tick): %s", exc)
            self._metrics.inc("storage_errors", where="outbox")
            self._unwritten.append(fn)
