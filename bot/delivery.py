"""Drains the outbox: render each due alert, send it, mark it sent with Telegram's message id.

The only reader of the outbox. Honours Telegram's `retry_after`, paces each chat and the bot as a
whole, retries passing failures with backoff and keeps refused alerts visible as failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.backoff import next_attempt
from bot.errors import DeliveryRejected, DeliveryRetryLater, StorageError
from bot.metrics import Metrics
from bot.model import AlertForDelivery, Watchlist
from bot.ports import Sender
from bot.render import render_alert
from bot.routing import is_silent

__all__ = ["DeliveryPolicy", "DispatchReport", "Dispatcher"]

log = logging.getLogger("watchpost.delivery")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How delivery behaves: from settings."""

    #: Telegram takes about 20 messages a minute in one channel or group
    chat_interval: float = 3.0
    #: and about 30 a second from one bot overall
    global_rate: float = 25.0
    max_attempts: int = 50
    backoff_cap: float = 3600.0
    lease: timedelta = timedelta(seconds=120)
    batch_size: int = 50
    #: a dispatch tick stops taking new alerts after this long (the rest wait for the next tick)
    tick_budget: float = 30.0


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one dispatch tick did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0


class Dispatcher:
    """Sends pending alerts, chat by chat in outbox order."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        sender: Sender,
        watchlist: Watchlist,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
        metrics: Metrics,
        max_text_chars: int = 1500,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._watchlist = watchlist
        self._topics = {t.id: t for t in watchlist.topics}
        self._policy = policy
        self._clock = clock
        self._metrics = metrics
        self._max_text_chars = max_text_chars
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        # Pacing lives in memory: after a restart the first message may come early, which
        # Telegram answers with a 429 that we honour anyway.
        self._chat_ready_at: dict[str, float] = {}
        self._next_global = 0.0
        self._lock = asyncio.Lock()

    async def dispatch(self) -> DispatchReport:
        """Send what is due now; one tick. Never raises for Telegram's or the database's faults."""
        async with self._lock:
            return await self._dispatch()

    async def _dispatch(self) -> DispatchReport:
        now = self._clock()
        try:
            with storage.session_scope(self._sessions) as session:
                alerts = storage.claim_alerts(
                    session, now, limit=self._policy.batch_size, lease=self._policy.lease
                )
        except StorageError as exc:
            log.error("dispatch tick skipped: %s", exc)
            self._metrics.inc("storage_errors", where="claim_alerts")
            return DispatchReport()
        started = self._monotonic()
        held: set[str] = set()  # chats told to wait: keep their order, send nothing more now
        sent = retried = failed = deferred = 0
        for alert in alerts:
            over_budget = self._monotonic() - started > self._policy.tick_budget
            if alert.channel_id in held or over_budget:
                self._release(alert)
                deferred += 1
                continue
            outcome = await self._send_one(alert)
            if outcome == "sent":
                sent += 1
            elif outcome == "failed":
                failed += 1
            else:
                retried += 1
                held.add(alert.channel_id)
        return DispatchReport(sent=sent, retried=retried, failed=failed, deferred=deferred)

    async def _pace(self, chat: str) -> None:
        now = self._monotonic()
        wait = max(self._chat_ready_at.get(chat, 0.0), self._next_global) - now
        if wait > 0:
            await self._sleep(wait)
            now = self._monotonic()
        self._chat_ready_at[chat] = now + self._policy.chat_interval
        self._next_global = now + 1.0 / self._policy.global_rate

    async def _send_one(self, alert: AlertForDelivery) -> str:
        speaker = self._watchlist.speaker(alert.statement.speaker_id)
        html = render_alert(alert, speaker, self._topics)
        silent = is_silent(alert.statement.matches, self._topics)
        await self._pace(alert.chat)
        try:
            message_id = await self._sender.send(alert.channel_id, alert.chat, html, silent=silent)
        except DeliveryRetryLater as exc:
            return self._retry(alert, exc.message, exc.retry_after)
        except DeliveryRejected as exc:
            new_chat = exc.new_chat
            if new_chat:
                log.warning(
                    "chat moved channel=%s from=%s to=%s", alert.channel_id, alert.chat, new_chat
                )
                self._write(lambda s: storage.set_channel_chat(s, alert.channel_id, new_chat))
                return self._retry(alert, exc.message, 0.0)
            return self._fail(alert, exc.message)
        except Exception as exc:  # a bug in rendering or sending: keep the alert, back off
            log.critical("delivery bug alert=%d", alert.id, exc_info=True)
            return self._retry(alert, f"bug: {exc!r}", None)
        now = self._clock()
        self._write(lambda s: storage.mark_alert_sent(s, alert.id, message_id=message_id, now=now))
        self._metrics.inc("alerts_sent")
        lag = (now - alert.statement.published_at).total_seconds()
        log.info(
            "sent alert=%d channel=%s message_id=%s statement=%d lag=%.0fs",
            alert.id,
            alert.channel_id,
            message_id,
            alert.statement.id,
            lag,
        )
        return "sent"

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
        self._write(
            lambda s: storage.mark_alert_retry(s, alert.id, error=error, next_attempt_at=when)
        )
        return "retry"

    def _fail(self, alert: AlertForDelivery, error: str) -> str:
        log.error("alert refused alert=%d channel=%s: %s", alert.id, alert.channel_id, error)
        self._metrics.inc("delivery_failures")
        now = self._clock()
        self._write(lambda s: storage.mark_alert_failed(s, alert.id, error=error, now=now))
        return "failed"

    def _release(self, alert: AlertForDelivery) -> None:
        self._write(lambda s: storage.release_alert(s, alert.id))

    def _write(self, fn: Callable[[Session], None]) -> None:
        try:
            with storage.session_scope(self._sessions) as session:
                fn(session)
        except StorageError as exc:
            # The lease runs out and the alert is taken again: at worst sent twice, never lost.
            log.error("outbox not updated: %s", exc)
            self._metrics.inc("storage_errors", where="outbox")
