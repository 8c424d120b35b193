"""X accounts as sources, through tweepy: since_id cursors, per-account or batched polling.

tweepy's sync `Client` runs in a worker thread (`asyncio.to_thread`): its `session` is the one
supported hook to point it at another host (`x_session`), the async client would need aiohttp
and a different hook, and a request takes milliseconds of CPU, so threads cost nothing here.
`wait_on_rate_limit` stays off: a monthly-cap 429 would make tweepy sleep for days inside the
worker; we read the limits ourselves and back off per source.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests
import tweepy

from bot.errors import SourceError, SourceHeld, SourceRejected, SourceUnavailable
from bot.model import FetchedItem, FetchResult, Reference, SourceForPoll, StatementKind
from bot.sources.x_session import make_x_session
from bot.xbudget import Budget, Endpoint, batch_query, pack_batches

__all__ = ["BudgetGuard", "XFetcher", "make_x_client", "tweet_to_item"]

log = logging.getLogger("watchpost.x")

TWEET_FIELDS = [
    "created_at",
    "lang",
    "author_id",
    "conversation_id",
    "referenced_tweets",
    "entities",
    "edit_history_tweet_ids",
    "note_tweet",
]
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]
USER_FIELDS = ["username", "name"]
#: posts asked for on a source's first poll: enough to know where "now" is, cheap in reads
FIRST_POLL_RESULTS = 10
#: pages followed in one poll after a long pause (each page costs a request)
MAX_PAGES = 5
_KINDS = {
    "replied_to": StatementKind.REPLY,
    "quoted": StatementKind.QUOTE,
    "retweeted": StatementKind.REPOST,
}


def make_x_client(bearer_token: str, *, base_url: str, timeout: float) -> tweepy.Client:
    """A tweepy client with raw-JSON answers, no sleeping on limits, and our host and timeout."""
    client = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
    client.session = make_x_session(base_url, timeout=timeout)
    return client


class BudgetGuard:
    """The immutable `Budget` behind a lock: worker threads record into it one at a time."""

    #: a wait the plan cannot end within (no such request allowed) is retried this much later
    MAX_WAIT = 86400.0

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._lock = threading.Lock()

    @property
    def budget(self) -> Budget:
        """The current state."""
        with self._lock:
            return self._budget

    def wait(self, endpoint: Endpoint, now: datetime, max_reads: int | None = None) -> float:
        """Seconds to wait before one request to `endpoint` (0: go)."""
        with self._lock:
            return min(self._budget.may_request(endpoint, now, max_reads=max_reads), self.MAX_WAIT)

    def record(
        self, endpoint: Endpoint, now: datetime, *, requests: int, reads: int, headers: Any
    ) -> None:
        """Count a response and take the server's rate-limit headers when it sent them."""
        with self._lock:
            b = self._budget.record(endpoint, requests=requests, reads=reads, now=now)
            if headers is not None:
                remaining = headers.get("x-rate-limit-remaining")
                reset = headers.get("x-rate-limit-reset")
                if remaining and reset and remaining.isdigit() and reset.isdigit():
                    b = b.observe_limits(endpoint, int(remaining), float(reset), now)
            self._budget = b


def _expand_urls(text: str, entities: Mapping[str, Any] | None) -> str:
    for u in (entities or {}).get("urls", []) or []:
        short, full = u.get("url"), u.get("unwound_url") or u.get("expanded_url")
        if short and full:
            text = text.replace(short, full)
    return text


def _users_by_id(payload: Mapping[str, Any]) -> dict[str, str]:
    return {u["id"]: u["username"] for u in payload.get("includes", {}).get("users", []) or []}


def tweet_to_item(tweet: Mapping[str, Any], payload: Mapping[str, Any]) -> FetchedItem:
    """One post of an X API v2 answer as a statement. No I/O.

    The statement's identity is the first id of its edit history, so an edit is a new version of
    the same statement; long posts carry their full text in ``note_tweet``.
    """
    users = _users_by_id(payload)
    included = {t["id"]: t for t in payload.get("includes", {}).get("tweets", []) or []}
    author = users.get(tweet.get("author_id", ""))
    note = (tweet.get("note_tweet") or {}).get("text")
    entities = (tweet.get("note_tweet") or {}).get("entities") if note else tweet.get("entities")
    text = _expand_urls(note or tweet.get("text", ""), entities)
    history = tweet.get("edit_history_tweet_ids") or [tweet["id"]]
    refs = []
    kind = StatementKind.POST
    for ref in tweet.get("referenced_tweets", []) or []:
        kind = _KINDS.get(ref["type"], kind) if kind is StatementKind.POST else kind
        target = included.get(ref["id"], {})
        ref_author = users.get(target.get("author_id", ""))
        refs.append(
            Reference(
                type=ref["type"],
                external_id=ref["id"],
                author=ref_author,
                text=_expand_urls(target.get("text", ""), target.get("entities")),
                url=f"https://x.com/{ref_author or 'i'}/status/{ref['id']}",
            )
        )
    lang = tweet.get("lang")
    created = tweet.get("created_at")
    published = (
        datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(UTC) if created else None
    )
    return FetchedItem(
        external_id=str(history[0]),
        title="",
        text=re.sub(r"[ \t]+", " ", text).strip(),
        url=f"https://x.com/{author or 'i'}/status/{tweet['id']}",
        published_at=published or datetime.now(UTC),
        published_estimated=published is None,
        language=lang if lang and lang not in ("und", "zxx", "qme", "qht") else None,
        raw=json.dumps(tweet, ensure_ascii=False, separators=(",", ":")),
        kind=kind,
        author=author,
        references=tuple(refs),
        thread_id=tweet.get("conversation_id"),
        version_id=str(tweet["id"]),
    )


class XFetcher:
    """Fetches X accounts; satisfies `bot.ports.Fetcher`, and polls many accounts in one search."""

    def __init__(
        self,
        client: tweepy.Client,
        *,
        budget: BudgetGuard | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_query_length: int = 512,
    ) -> None:
        self._client = client
        self._budget = budget
        self._clock = clock
        self._max_query = max_query_length
        self._local = threading.local()
        client.session.hooks["response"].append(self._observe)

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.headers = response.headers

    # --- the Fetcher port -------------------------------------------------------------------

    async def fetch(self, source: SourceForPoll) -> FetchResult:
        """New posts of one account since its cursor (its user timeline)."""
        return await asyncio.to_thread(self._fetch_timeline, source)

    async def fetch_many(
        self, sources: Sequence[SourceForPoll]
    ) -> dict[str, FetchResult | SourceError]:
        """New posts of several accounts through recent search, `from:a OR from:b …` per query."""
        return await asyncio.to_thread(self._fetch_batched, list(sources))

    async def lookup(self, ids: Sequence[str]) -> tuple[set[str], int]:
        """Which of these post ids still exist (at most 100); returns (present, reads)."""
        return await asyncio.to_thread(self._lookup, list(ids))

    # --- in the worker thread ---------------------------------------------------------------

    def _call(self, key: str, endpoint: Endpoint, fn: Callable[[], Any]) -> Any:
        now = self._clock()
        if self._budget is not None:
            wait = self._budget.wait(endpoint, now)
            if wait > 0:
                raise SourceHeld(key, f"X budget: {endpoint.value} waits", retry_after=wait)
        self._local.headers = None
        try:
            payload = fn()
        except tweepy.TooManyRequests as exc:
            reset = exc.response.headers.get("x-rate-limit-reset")
            wait = max(1.0, float(reset) - now.timestamp()) if reset and reset.isdigit() else 900.0
            self._record(endpoint, now, requests=1, reads=0, headers=exc.response.headers)
            raise SourceUnavailable(key, f"X 429 on {endpoint.value}", retry_after=wait) from exc
        except tweepy.Unauthorized as exc:
            raise SourceRejected(key, "X refused X_BEARER_TOKEN (401)") from exc
        except tweepy.Forbidden as exc:
            raise SourceRejected(key, f"X forbids this ({_detail(exc)})") from exc
        except tweepy.TwitterServerError as exc:
            raise SourceUnavailable(key, f"X server error {exc.response.status_code}") from exc
        except tweepy.HTTPException as exc:
            raise SourceRejected(key, f"X {exc.response.status_code}: {_detail(exc)}") from exc
        except (requests.RequestException, tweepy.TweepyException) as exc:
            raise SourceUnavailable(key, f"X unreachable: {type(exc).__name__}") from exc
        # A users lookup returns accounts, not posts: X bills it as no post read.
        reads = 0 if endpoint is Endpoint.USERS else len((payload or {}).get("data") or [])
        self._record(endpoint, now, requests=1, reads=reads, headers=self._local.headers)
        return payload

    def _record(
        self, endpoint: Endpoint, now: datetime, *, requests: int, reads: int, headers: Any
    ) -> None:
        self._local.requests = getattr(self._local, "requests", 0) + requests
        self._local.reads = getattr(self._local, "reads", 0) + reads
        if self._budget is not None:
            self._budget.record(endpoint, now, requests=requests, reads=reads, headers=headers)

    def _usage(self) -> tuple[int, int]:
        out = (getattr(self._local, "requests", 0), getattr(self._local, "reads", 0))
        self._local.requests = self._local.reads = 0
        return out

    def _resolve(self, source: SourceForPoll) -> str:
        payload = self._call(
            source.key,
            Endpoint.USERS,
            lambda: self._client.get_users(usernames=[source.target], user_fields=USER_FIELDS),
        )
        for user in (payload or {}).get("data") or []:
            if user.get("username", "").lower() == source.target.lower():
                return str(user["id"])
        raise SourceRejected(source.key, f"no X account @{source.target}")

    def _fetch_timeline(self, source: SourceForPoll) -> FetchResult:
        self._usage()
        try:
            user_id = source.remote_id or self._resolve(source)
            try:
                items, newest = self._collect(
                    source.key,
                    lambda token: self._timeline_page(source, user_id, token),
                    MAX_PAGES if source.cursor else 1,
                )
            except SourceRejected as exc:
                if source.remote_id is None or "404" not in exc.message:
                    raise
                # The stored id went stale (account re-created): resolve the handle again.
                user_id = self._resolve(source)
                items, newest = self._collect(
                    source.key,
                    lambda token: self._timeline_page(source, user_id, token),
                    MAX_PAGES if source.cursor else 1,
                )
        except SourceError as exc:
            exc.requests, exc.reads = self._usage()  # a failed poll still cost what it cost
            raise
        requests_made, reads = self._usage()
        return FetchResult(
            items=tuple(items),
            cursor=newest,
            fetched_at=self._clock(),
            remote_id=user_id if user_id != source.remote_id else None,
            requests=requests_made,
            reads=reads,
        )

    def _collect(
        self, key: str, page: Callable[[str | None], dict[str, Any]], max_pages: int
    ) -> tuple[list[FetchedItem], str | None]:
        """Posts of up to `max_pages` pages, newest first, and the cursor to store next.

        When a later page fails, what was read is kept and the cursor stays where it was (None),
        so the next poll reads the rest; nothing is skipped.
        """
        items: list[FetchedItem] = []
        newest: str | None = None
        token: str | None = None
        for n in range(max_pages):
            try:
                payload = page(token)
            except SourceError as exc:
                if n == 0:
                    raise
                log.warning(
                    "X page %d not read source=%s: %s; read again next poll", n + 1, key, exc
                )
                return items, None
            items.extend(tweet_to_item(t, payload) for t in payload.get("data") or [])
            meta = payload.get("meta") or {}
            newest = newest or meta.get("newest_id")
            token = meta.get("next_token")
            if not token:
                break
        else:
            log.warning(
                "more than %d pages of new posts source=%s: older ones skipped", max_pages, key
            )
        return items, newest

    def _timeline_page(
        self, source: SourceForPoll, user_id: str, token: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = (
            self._call(
                source.key,
                Endpoint.TIMELINE,
                lambda: self._client.get_users_tweets(
                    user_id,
                    since_id=source.cursor,
                    max_results=100 if source.cursor else FIRST_POLL_RESULTS,
                    pagination_token=token,
                    tweet_fields=TWEET_FIELDS,
                    expansions=EXPANSIONS,
                    user_fields=USER_FIELDS,
                ),
            )
            or {}
        )
        return payload

    def _fetch_batched(self, sources: list[SourceForPoll]) -> dict[str, FetchResult | SourceError]:
        out: dict[str, FetchResult | SourceError] = {}
        by_handle = {s.target.lower(): s for s in sources}
        # A stable order packs the same accounts together poll after poll.
        for batch in pack_batches(sorted(by_handle), self._max_query):
            members = [by_handle[h] for h in batch]
            cursors = [int(s.cursor) for s in members if s.cursor and s.cursor.isdigit()]
            # The oldest cursor of the batch: a member that is ahead sees a few posts again,
            # which storage recognises; none is skipped.
            since = str(min(cursors)) if len(cursors) == len(members) else None
            key = members[0].key
            self._usage()
            query = batch_query(batch)
            try:
                items, newest = self._collect(
                    key,
                    partial(self._search_page, key, query, since),
                    MAX_PAGES if since else 1,
                )
            except SourceError as exc:
                requests_made, reads = self._usage()
                for n, s in enumerate(members):
                    err = type(exc)(s.key, exc.message, **_extra(exc))
                    if n == 0:  # the batch's cost, counted once
                        err.requests, err.reads = requests_made, reads
                    out[s.key] = err
                continue
            requests_made, reads = self._usage()
            for n, s in enumerate(members):
                mine = tuple(i for i in items if (i.author or "").lower() == s.target.lower())
                out[s.key] = FetchResult(
                    items=mine,
                    cursor=newest,
                    fetched_at=self._clock(),
                    # the cost is the batch's: counted once, on its first member
                    requests=requests_made if n == 0 else 0,
                    reads=reads if n == 0 else 0,
                )
        return out

    def _search_page(
        self, key: str, query: str, since: str | None, token: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = (
            self._call(
                key,
                Endpoint.SEARCH,
                lambda: self._client.search_recent_tweets(
                    query,
                    since_id=since,
                    max_results=100 if since else FIRST_POLL_RESULTS * 10,
                    next_token=token,
                    tweet_fields=TWEET_FIELDS,
                    expansions=EXPANSIONS,
                    user_fields=USER_FIELDS,
                ),
            )
            or {}
        )
        return payload

    def _lookup(self, ids: list[str]) -> tuple[set[str], int]:
        self._usage()
        payload = (
            self._call(
                "x:lookup",
                Endpoint.LOOKUP,
                lambda: self._client.get_tweets(ids[:100], tweet_fields=["edit_history_tweet_ids"]),
            )
            or {}
        )
        present = {str(t["id"]) for t in payload.get("data") or []}
        for t in payload.get("data") or []:
            present.update(str(i) for i in t.get("edit_history_tweet_ids") or [])
        _, reads = self._usage()
        return present, reads


def _extra(exc: SourceError) -> dict[str, Any]:
    return {"retry_after": exc.retry_after} if isinstance(exc, SourceUnavailable) else {}


def _detail(exc: tweepy.HTTPException) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return str(exc.response.status_code)
    return str(body.get("detail") or body.get("title") or exc.response.status_code)
