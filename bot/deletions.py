"""Re-checks recent statements for deletion and answers the alerts of those that are gone.

A use case like the pipeline: storage says what is due, the platform (a `PostLookup` port) says
what still exists, storage records the verdicts and enqueues the follow-up alerts in one
transaction. The stored text is never deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.errors import SourceError, SourceHeld, StorageError
from bot.metrics import Metrics
from bot.ports import PostLookup

__all__ = ["DeletionChecker"]

log = logging.getLogger("watchpost.deletions")

#: ids one lookup request takes (the X API's limit)
LOOKUP_IDS = 100


class DeletionChecker:
    """Looks up one batch of recent statements of one kind of source per tick."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        lookup: PostLookup,
        kind: str,
        window: timedelta,
        every: timedelta,
        clock: Callable[[], datetime],
        metrics: Metrics,
    ) -> None:
        self._sessions = sessions
        self._lookup = lookup
        self._kind = kind
        self._window = window
        self._every = every
        self._clock = clock
        self._metrics = metrics

    @property
    def every(self) -> timedelta:
        """How long a statement waits between two checks."""
        return self._every

    async def check(self) -> int:
        """One batch: returns how many statements were found deleted."""
        now = self._clock()
        try:
            with storage.session_scope(self._sessions) as session:
                due = storage.due_for_deletion_check(
                    session,
                    kind=self._kind,
                    since=now - self._window,
                    limit=LOOKUP_IDS,
                    checked_before=now - self._every,
                )
        except StorageError as exc:
            log.error("deletion check skipped: %s", exc)
            return 0
        batch: list[storage.ToCheck] = []
        ids: list[str] = []
        for item in due:
            if len(ids) + len(item.remote_ids) > LOOKUP_IDS:
                break
            batch.append(item)
            ids.extend(item.remote_ids)
        if not batch:
            return 0
        try:
            present, reads = await self._lookup.lookup(ids)
        except SourceHeld as exc:
            log.debug("deletion check waits for the budget: %s", exc)
            return 0
        except SourceError as exc:
            log.warning("deletion check postponed: %s", exc)
            self._metrics.inc("deletion_check_errors")
            return 0
        missing = [c for c in batch if not present.intersection(c.remote_ids)]
        alive = [c.statement_id for c in batch if present.intersection(c.remote_ids)]
        gone, hidden, asked = await self._only_the_post_gone(missing)
        # issue 8: a post of a suspended or protected account is missing too, but it was not
        # deleted: it counts as checked, and is looked at again next time.
        alive.extend(c.statement_id for c in hidden)
        try:
            with storage.session_scope(self._sessions) as session:
                storage.record_checked(session, alive, now=now)
                alerts = sum(storage.record_deleted(session, c.statement_id, now=now) for c in gone)
                storage.record_usage(session, self._kind, now, requests=1 + asked, reads=reads)
        except StorageError as exc:
            log.error("deletion verdicts not stored: %s", exc)
            return 0
        self._metrics.inc("deletions_found", len(gone))
        if hidden:
            log.warning(
                "X posts missing but their author is not visible (suspended, protected or gone): "
                "no deletion announced statements=%s",
                ",".join(str(c.statement_id) for c in hidden),
            )
        if gone:
            log.info(
                "deleted at the source statements=%s alerts=%d",
                ",".join(str(c.statement_id) for c in gone),
                alerts,
            )
        return len(gone)

    async def _only_the_post_gone(
        self, missing: list[storage.ToCheck]
    ) -> tuple[list[storage.ToCheck], list[storage.ToCheck], int]:
        """Split missing posts into deleted ones (their author still visible) and the rest.

        A deletion is announced only when the author is still visible and the post alone is gone:
        after a suspension, or when an account turns protected, every recent post is missing.
        """
        authors = sorted({c.author_id for c in missing if c.author_id})
        if not authors:
            return [], list(missing), 0
        try:
            visible, asked = await self._lookup.visible_authors(authors)
        except SourceError as exc:
            log.warning("deletion verdicts wait: authors not checked: %s", exc)
            return [], list(missing), exc.requests
        gone = [c for c in missing if c.author_id in visible]
        return gone, [c for c in missing if c.author_id not in visible], asked
