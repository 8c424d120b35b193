"""The operator notices tick: reads the state, asks `bot.notices` what to say, says it.

Notices go to the operator chat through the `Sender` port, or to the log when no chat is set.
A notice is recorded as sent only once the chat took it: one that could not be delivered is
decided again, and sent, at the next tick — never lost.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.errors import DeliveryError, StorageError
from bot.model import SourceKind
from bot.notices import Notice, NoticePolicy, SourceHealth, decide_notices
from bot.ports import Sender
from bot.redact import redact_text

if TYPE_CHECKING:
    from bot.x.plan import XPlan

__all__ = ["OPERATOR_CHANNEL", "NoticeDesk"]

log = logging.getLogger("watchpost.notices")

#: the channel id the operator chat's messages carry (it is not a watchlist channel)
OPERATOR_CHANNEL = "operator"

#: the metered APIs whose budget state storage keeps
METERED_APIS = (SourceKind.X.value,)

#: refused-edit problems kept for the next notice (the newest ones)
MAX_REFUSED_LINES = 20


@dataclass(frozen=True, slots=True)
class _State:
    """What the notices are decided from, read from storage."""

    sources: list[SourceHealth]
    paused: list[tuple[str, str]]
    capped: list[tuple[str, datetime]]
    used_up: list[tuple[str, datetime]]
    sent: dict[str, datetime]


class NoticeDesk:
    """Tells the operator what goes wrong, at most once per subject per day."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        sender: Sender,
        chat: str | None,
        policy: NoticePolicy,
        clock: Callable[[], datetime],
        x_plan: XPlan | None = None,
    ) -> None:
        self._x_plan = x_plan
        self._sessions = sessions
        self._sender = sender
        self._chat = chat
        self._policy = policy
        self._clock = clock
        self._refused: list[str] = []

    def reload_refused(self, problems: Sequence[str]) -> None:
        """A watchlist edit was refused with these problems: said at the next tick."""
        self._refused = [*self._refused, *problems][-MAX_REFUSED_LINES:]

    def _state(self) -> _State:
        now = self._clock()
        with storage.session_scope(self._sessions) as session:
            budgets = {api: storage.load_budget_state(session, api) for api in METERED_APIS}
            statuses = storage.source_statuses(session)
            times = storage.statement_times(session, per_source=self._policy.history)
            paused = [(cid, why) for cid, _at, why in storage.paused_channels(session)]
            sent = storage.notices_sent(session)
        sources = [
            SourceHealth(
                key=st.key,
                failures=st.failures,
                last_success_at=st.last_success_at,
                last_error=st.last_error,
                statement_times=tuple(times.get(st.key, ())),
                problem=st.last_problem,
            )
            for st in statuses
            if st.gone_at is None  # a gone source was told once, as gone
        ]
        capped: list[tuple[str, datetime]] = []
        used_up: list[tuple[str, datetime]] = []
        for api, stored in budgets.items():
            if stored is None:
                continue
            # only a worker with X sources has stored a budget: a watchlist of feeds does not
            # import the X planning modules (issue 9: start-up)
            from bot.x.budget import BudgetState, used_up_until

            try:
                state = BudgetState.from_json(stored)
            except ValueError:
                continue  # the worker says so itself when it reads it
            if state.capped_until is not None:
                capped.append((api, state.capped_until))
            if api == SourceKind.X.value and self._x_plan is not None:
                held = used_up_until(self._x_plan, state, now)
                if held is not None:
                    used_up.append((api, held))
        return _State(sources, paused, capped, used_up, sent)

    async def tick(self) -> list[Notice]:
        """Decide and send the notices due now; return those sent (or logged)."""
        try:
            # In a thread: with 10,000 sources these queries held the event loop for over a
            # second every minute (issue 9), and every poll's timer with it.
            state = await asyncio.to_thread(self._state)
        except StorageError as exc:
            log.error("operator notices skipped: %s", exc)
            return []
        now = self._clock()
        due = decide_notices(
            sources=state.sources,
            paused_channels=state.paused,
            refused_reloads=self._refused,
            paused_budgets=state.capped,
            used_up_budgets=state.used_up,
            sent=state.sent,
            now=now,
            policy=self._policy,
        )
        done: list[Notice] = []
        for notice in due:
            if not await self._say(notice):
                continue
            try:
                with storage.session_scope(self._sessions) as session:
                    storage.record_notice(
                        session, notice.subject, notice.kind.value, notice.text, now=now
                    )
            except StorageError as exc:
                # Said but not recorded: it may be said again; better twice than never.
                log.error("operator notice not recorded subject=%s: %s", notice.subject, exc)
            if notice.subject == "watchlist":
                self._refused = []
            done.append(notice)
        return done

    async def _say(self, notice: Notice) -> bool:
        # A source key or error may hold a feed URL's credentials: the log filter hides them in
        # log lines, but a chat message passes no filter.
        said = redact_text(notice.text)
        if self._chat is None:
            log.warning("operator notice kind=%s: %s", notice.kind.value, said)
            return True
        text = f"<b>Watchpost</b> · {html.escape(notice.kind.value)}\n{html.escape(said)}"
        try:
            await self._sender.send(OPERATOR_CHANNEL, self._chat, text)
        except DeliveryError as exc:
            # Its words reach the log at least; the chat gets it at a later tick.
            log.error(
                "operator notice not delivered (tried again next tick) kind=%s: %s; notice: %s",
                notice.kind.value,
                exc,
                said,
            )
            return False
        log.info("operator notice sent kind=%s subject=%s", notice.kind.value, notice.subject)
        return True
