"""The hot reload tick: a watchlist edit applies while `run` runs, a bad one is refused.

Every few seconds the file is stat'ed; when it moved, it is read, and bytes not seen before are
parsed. A valid watchlist is synced to storage (new sources due at once, removed ones
deactivated, as at start) and handed to the poller and the dispatcher in one step on the event
loop, between ticks. An invalid one is logged with every `FILE:LINE:` problem, once per distinct
content, and the running watchlist stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

import storage
from bot.delivery import Dispatcher
from bot.errors import ConfigError, StorageError
from bot.matching import compile_topics
from bot.model import SourceKind, SourceSpec, Watchlist
from bot.pipeline import Poller
from bot.reload import (
    FileStamp,
    content_changed,
    content_digest,
    keep_running_x,
    source_changes,
    stamp_moved,
    x_sources_asked,
)
from bot.watchlist import parse_watchlist_bytes, read_watchlist_bytes

__all__ = ["ReloadResult", "Reloader"]

log = logging.getLogger("watchpost.reload")


class ReloadResult(StrEnum):
    """What one reload tick did."""

    UNCHANGED = "unchanged"  #: the file is as last applied or refused
    APPLIED = "applied"  #: the edit is running now
    REFUSED = "refused"  #: the edit is invalid; the running watchlist stays
    RETRY = "retry"  #: storage failed; the same edit is tried again at the next tick
    UNREADABLE = "unreadable"  #: the file cannot be stat'ed or read; the running one stays


class Reloader:
    """Watches one watchlist file and applies its valid edits to a running worker."""

    def __init__(
        self,
        path: str,
        *,
        running: Watchlist,
        asked_x: frozenset[SourceSpec],
        fetchable: Collection[SourceKind],
        sessions: sessionmaker[Session],
        poller: Poller,
        dispatcher: Dispatcher,
        default_interval: timedelta,
        clock: Callable[[], datetime],
        on_applied: Callable[[Watchlist], None] = lambda _wl: None,
        on_refused: Callable[[list[str]], None] = lambda _problems: None,
    ) -> None:
        self.path = path
        self.watchlist = running
        self._asked_x = asked_x
        self._fetchable = frozenset(fetchable)
        self._sessions = sessions
        self._poller = poller
        self._dispatcher = dispatcher
        self._default_interval = default_interval
        self._clock = clock
        self._on_applied = on_applied
        self._on_refused = on_refused
        self._stamp: FileStamp | None = None
        self._read_ns: int | None = None
        # The bytes the running watchlist was read from, if from this file: the first tick
        # then parses nothing (issue 9: parsing 10,000 sources again, in a thread, kept the
        # GIL from the event loop for 200 ms just after start, validating in one call).
        self._digest: str | None = running.digest if running.path == path else None
        self._unreadable: str | None = None

    def _stat(self) -> FileStamp:
        st = os.stat(self.path)
        return FileStamp(mtime_ns=st.st_mtime_ns, size=st.st_size)

    async def tick(self) -> ReloadResult:
        """Look at the file once; apply or refuse an edit. Never raises for the file's faults.

        Parsing runs in a thread; the rest is synchronous on purpose: storage's sync and the
        swap happen with no await between them, so no poll tick claims a source of the new
        watchlist with the old one in hand.
        """
        try:
            stamp = self._stat()
        except OSError as exc:
            return self._cannot_read(f"cannot stat: {exc.strerror or exc}")
        if not stamp_moved(self._stamp, stamp, last_read_ns=self._read_ns):
            return ReloadResult.UNCHANGED
        read_ns = time.time_ns()
        try:
            data = read_watchlist_bytes(self.path)
        except ConfigError as exc:
            return self._cannot_read(str(exc))
        self._unreadable = None
        digest = content_digest(data)
        if not content_changed(self._digest, digest):
            self._stamp, self._read_ns = stamp, read_ns
            return ReloadResult.UNCHANGED
        try:
            # In a thread: a watchlist of 10,000 sources takes seconds to parse, and the first
            # tick after a start parses the file even when it did not change (issue 9).
            new = await asyncio.to_thread(parse_watchlist_bytes, data, path=self.path)
        except ConfigError as exc:
            self._stamp, self._read_ns, self._digest = stamp, read_ns, digest
            log.error(
                "watchlist edit refused, the running watchlist stays: %d problem(s)",
                len(exc.problems),
            )
            for problem in exc.problems:
                log.error("%s", problem)
            self._on_refused([str(p) for p in exc.problems])
            return ReloadResult.REFUSED
        result = self._apply(new)
        if result is not ReloadResult.RETRY:  # else the next tick tries the same bytes again
            self._stamp, self._read_ns, self._digest = stamp, read_ns, digest
        return result

    def _cannot_read(self, why: str) -> ReloadResult:
        # A file being replaced can vanish for a moment: said once, the running one stays.
        if why != self._unreadable:
            log.warning("watchlist %s not reloaded (the running one stays): %s", self.path, why)
            self._unreadable = why
        return ReloadResult.UNREADABLE

    def _apply(self, new: Watchlist) -> ReloadResult:
        x_refused = x_sources_asked(new) != self._asked_x
        merged = keep_running_x(new, self.watchlist)
        if merged == self.watchlist and not x_refused:
            # The first tick reads the file the worker started with: nothing to do then.
            return ReloadResult.UNCHANGED
        matcher = compile_topics(merged.topics)
        specs = [s for s in merged.sources() if s.kind in self._fetchable]
        try:
            with storage.session_scope(self._sessions) as session:
                storage.sync_watchlist(
                    session,
                    specs,
                    merged.channels,
                    default_interval=self._default_interval,
                    now=self._clock(),
                )
        except StorageError as exc:
            log.error("watchlist edit not applied yet (storage failed, retried): %s", exc)
            return ReloadResult.RETRY
        added, removed = source_changes(self.watchlist, merged)
        self._poller.replace_watchlist(merged, matcher)
        self._dispatcher.replace_watchlist(merged)
        self.watchlist = merged
        self._on_applied(merged)
        log.info(
            "watchlist reloaded path=%s sources=%d added=%s removed=%s topics=%d channels=%d",
            self.path,
            len(specs),
            ",".join(added) or "none",
            ",".join(removed) or "none",
            len(merged.topics),
            len(merged.channels),
        )
        if x_refused:
            log.warning(
                "X sources changed: restart to apply (their budget plan is made at start); "
                "the running X sources stay, the rest of the edit applies"
            )
        return ReloadResult.APPLIED
