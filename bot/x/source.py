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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import requests
import tweepy

from bot.errors import (
    SourceError,
    SourceHeld,
    SourceProblem,
    SourceRejected,
    SourceUnavailable,
)
from bot.model import (
    NO_COST,
    Cost,
    FetchedItem,
    FetchResult,
    Reference,
    SourceForPoll,
    StatementKind,
)
from bot.x.budget import Budget, BudgetState
from bot.x.plan import Endpoint
from bot.x.query import batch_query, pack_batches
from bot.x.session import make_x_session

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
EXPANSIONS = [
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    # issue 11: a post's photos, for channels with media on
    "attachments.media_keys",
]
USER_FIELDS = ["username", "name"]
MEDIA_FIELDS = ["type", "url"]
#: posts asked for on a source's first poll: enough to know where "now" is, cheap in reads
FIRST_POLL_RESULTS = 10
#: pages followed in one poll at most (each page costs a request): past them the cursor stays
MAX_PAGES = 50
_TWEPOCH_MS = 1288834974657
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


class _Meter:
    """What one call of the fetcher has cost so far: each request it sent, each post it read.

    Made per call and passed down the path that sends the requests, so the cost is a value the
    call hands back (`Cost` on its result or its error), never state shared between threads.
    """

    __slots__ = ("reads", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.reads = 0

    def cost(self) -> Cost:
        return Cost(self.requests, self.reads)

    def take(self) -> Cost:
        """The cost since the last `take`, and start counting again from zero."""
        out = self.cost()
        self.requests = self.reads = 0
        return out


class BudgetGuard:
    """The immutable `Budget` behind a lock: worker threads record into it one at a time."""

    #: a wait the plan cannot end within (no such request allowed) is retried this much later
    MAX_WAIT = 86400.0

    def __init__(
        self,
        budget: Budget,
        *,
        persist: Callable[[BudgetState], None] | None = None,
        persist_every: timedelta = timedelta(seconds=10),
    ) -> None:
        """Args:
        budget: where to start (`Budget.resume` from the stored state after a restart).
        persist: stores a state (issue 8: a restart must not forget the counts, the rate
            windows or a cap pause); called from the worker thread, at most every
            `persist_every`, and at once on a cap pause. Its failures are logged, never raised.
        """
        self._budget = budget
        self._lock = threading.Lock()
        self._persist = persist
        self._persist_every = persist_every
        self._saved_at: datetime | None = None

    def _save(self, now: datetime, *, force: bool = False) -> None:
        if self._persist is None:
            return
        with self._lock:
            due = self._saved_at is None or now - self._saved_at >= self._persist_every
            if not (due or force):
                return
            self._saved_at = now
            state = self._budget.state
        try:
            self._persist(state)
        except Exception:  # the count in memory goes on; the next save may work
            log.exception("X budget state not stored")

    @property
    def budget(self) -> Budget:
        """The current state."""
        with self._lock:
            return self._budget

    def wait(self, endpoint: Endpoint, now: datetime, max_reads: int | None = None) -> float:
        """Seconds to wait before one request to `endpoint` (0: go)."""
        with self._lock:
            return min(self._budget.may_request(endpoint, now, max_reads=max_reads), self.MAX_WAIT)

    def reserve(self, endpoint: Endpoint, now: datetime, max_reads: int | None = None) -> float:
        """Take one request to `endpoint` if the budget allows it now (0.0), else the wait.

        Checking and counting happen under one lock (issue 8: with `wait` and `record` apart,
        25 concurrent polls sent 13-14 timeline requests against 9 allowed and drew 429s). The
        posts the answer returns are added with `record(..., requests=0, ...)`.
        """
        with self._lock:
            wait = self._budget.may_request(endpoint, now, max_reads=max_reads)
            if wait > 0:
                return min(wait, self.MAX_WAIT)
            self._budget = self._budget.record(endpoint, requests=1, reads=0, now=now)
        self._save(now)
        return 0.0

    def cap_reached(self, now: datetime) -> datetime | None:
        """X said the monthly cap is used up: hold every request until the billing day; when."""
        with self._lock:
            self._budget = self._budget.cap_reached(now)
            until = self._budget.state.capped_until
        self._save(now, force=True)
        return until

    def record(
        self,
        endpoint: Endpoint,
        now: datetime,
        *,
        requests: int,
        reads: int,
        headers: Any,
        post_ids: Sequence[str] | None = None,
    ) -> None:
        """Count a response and take the server's rate-limit headers when it sent them."""
        with self._lock:
            b = self._budget.record(
                endpoint, requests=requests, reads=reads, now=now, post_ids=post_ids
            )
            if headers is not None:
                remaining = headers.get("x-rate-limit-remaining")
                reset = headers.get("x-rate-limit-reset")
                limit = headers.get("x-rate-limit-limit")
                if remaining and reset and remaining.isdigit() and reset.isdigit():
                    # The server's own limit: the reserve kept below it is a share of that,
                    # not of the plan's figure (which may be larger than this app's limit).
                    b = b.observe_limits(
                        endpoint,
                        int(remaining),
                        float(reset),
                        now,
                        limit=int(limit) if limit and limit.isdigit() else None,
                    )
            self._budget = b
        self._save(now)


def _expand_urls(text: str, entities: Mapping[str, Any] | None) -> str:
    for u in (entities or {}).get("urls", []) or []:
        short, full = u.get("url"), u.get("unwound_url") or u.get("expanded_url")
        if short and full:
            text = text.replace(short, full)
    return text


def _users_by_id(payload: Mapping[str, Any]) -> dict[str, str]:
    return {u["id"]: u["username"] for u in payload.get("includes", {}).get("users", []) or []}


def _photos(tweet: Mapping[str, Any], payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The URLs of a post's photos, in its order: ``attachments.media_keys`` looked up in
    ``includes.media`` (videos and GIFs have no ``url``, only a preview image: left out)."""
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    media = {m.get("media_key"): m for m in payload.get("includes", {}).get("media", []) or []}
    urls = []
    for key in keys:
        item = media.get(key) or {}
        url = item.get("url")
        if item.get("type") == "photo" and isinstance(url, str) and url.startswith("https://"):
            urls.append(url)
    return tuple(urls)


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
        photos=_photos(tweet, payload),
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
        #: the last answer's headers in each worker thread (set by the session's response hook)
        self._local = threading.local()
        #: (source key, new handle) renames already told to the operator
        self._renames: set[tuple[str, str]] = set()
        self._resolving = threading.Lock()
        #: handles to resolve with the next lookup, and ids resolved ahead of their poll
        self._pending: set[str] = set()
        self._resolved: dict[str, str] = {}
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

    async def visible_authors(self, user_ids: Sequence[str]) -> tuple[set[str], int]:
        """Which of these accounts show their posts (not suspended, protected or gone), and the
        requests it took (users lookups bill user reads, not post reads)."""
        return await asyncio.to_thread(self._visible, list(user_ids))

    # --- in the worker thread ---------------------------------------------------------------

    def _call(self, meter: _Meter, key: str, endpoint: Endpoint, fn: Callable[[], Any]) -> Any:
        now = self._clock()
        if self._budget is not None:
            wait = self._budget.reserve(endpoint, now)
            if wait > 0:
                raise SourceHeld(key, f"X budget: {endpoint.value} waits", retry_after=wait)
        # Counted as sent from here: a request that fails still cost what it cost.
        meter.requests += 1
        self._local.headers = None
        try:
            payload = fn()
        except tweepy.TooManyRequests as exc:
            capped = _problem_type(exc) == "usage-capped" or _title(exc) == "UsageCapExceeded"
            headers = None if capped else exc.response.headers
            self._record(meter, endpoint, now, reads=0, headers=headers)
            if capped:
                # issue 8: the monthly cap is no rate limit (its rate headers still show plenty
                # left): every X request waits for the plan's billing day.
                until = self._budget.cap_reached(now) if self._budget is not None else None
                wait = (until - now).total_seconds() if until is not None else 86400.0
                shown = until.date().isoformat() if until is not None else "the next billing day"
                raise SourceUnavailable(
                    key,
                    f"X monthly usage cap reached: X polling paused until {shown}",
                    retry_after=max(wait, 1.0),
                    problem=SourceProblem.USAGE_CAP,
                ) from exc
            reset = exc.response.headers.get("x-rate-limit-reset")
            wait = max(1.0, float(reset) - now.timestamp()) if reset and reset.isdigit() else 900.0
            raise SourceUnavailable(
                key,
                f"X 429 on {endpoint.value}",
                retry_after=wait,
                problem=SourceProblem.RATE_LIMITED,
            ) from exc
        except tweepy.Unauthorized as exc:
            raise SourceRejected(
                key, "X refused X_BEARER_TOKEN (401)", problem=SourceProblem.AUTH
            ) from exc
        except tweepy.Forbidden as exc:
            raise SourceRejected(
                key, f"X forbids this ({_detail(exc)})", problem=SourceProblem.FORBIDDEN
            ) from exc
        except tweepy.TwitterServerError as exc:
            raise SourceUnavailable(
                key, f"X server error {exc.response.status_code}", problem=SourceProblem.SERVER
            ) from exc
        except tweepy.HTTPException as exc:
            problem = SourceProblem.BAD_REQUEST
            if exc.response.status_code == 400 and _bad_parameter(exc) == "since_id":
                problem = SourceProblem.SINCE_ID_TOO_OLD
            elif exc.response.status_code in (404, 410):
                problem = SourceProblem.NOT_FOUND
            raise SourceRejected(
                key, f"X {exc.response.status_code}: {_detail(exc)}", problem=problem
            ) from exc
        except (requests.RequestException, tweepy.TweepyException) as exc:
            raise SourceUnavailable(
                key, f"X unreachable: {type(exc).__name__}", problem=SourceProblem.UNREACHABLE
            ) from exc
        # A users lookup returns accounts, not posts: X bills it as no post read.
        reads = 0 if endpoint is Endpoint.USERS else len((payload or {}).get("data") or [])
        ids = [str(t["id"]) for t in (payload or {}).get("data") or [] if "text" in t]
        self._record(meter, endpoint, now, reads=reads, headers=self._local.headers, post_ids=ids)
        return payload

    def _record(
        self,
        meter: _Meter,
        endpoint: Endpoint,
        now: datetime,
        *,
        reads: int,
        headers: Any,
        post_ids: Sequence[str] | None = None,
    ) -> None:
        """Add an answer's posts (its request was counted when it was reserved)."""
        meter.reads += reads
        if self._budget is not None:
            self._budget.record(
                endpoint, now, requests=0, reads=reads, headers=headers, post_ids=post_ids
            )

    # --- who is who: handles to ids, and the account's state ---------------------------------

    def _resolve_handles(
        self, meter: _Meter, key: str, handles: Sequence[str]
    ) -> dict[str, str | SourceError]:
        """Handle (lowercase) to user id, 100 handles a request (``GET /2/users/by``).

        A handle is resolved once, when a source is first polled; from then on the account is
        watched by its id, which a rename does not change and nobody can re-register (issue 8).
        """
        out: dict[str, str | SourceError] = {}
        for i in range(0, len(handles), USERS_PER_REQUEST):
            chunk = list(handles[i : i + USERS_PER_REQUEST])
            payload = (
                self._call(
                    meter,
                    key,
                    Endpoint.USERS,
                    partial(self._client.get_users, usernames=chunk, user_fields=USER_FIELDS),
                )
                or {}
            )
            for user in payload.get("data") or []:
                out[str(user.get("username", "")).lower()] = str(user["id"])
            for err in payload.get("errors") or []:
                handle = str(err.get("value") or err.get("resource_id") or "").lower()
                if handle in out or not handle:
                    continue
                problem = _account_problem(err)
                out[handle] = SourceRejected(
                    key, _account_message(problem, f"@{handle}"), problem=problem
                )
            for h in chunk:
                out.setdefault(
                    h.lower(),
                    SourceRejected(key, f"no X account @{h}", problem=SourceProblem.NOT_FOUND),
                )
        return out

    def expect(self, handles: Sequence[str]) -> None:
        """Handles that will be polled: the first to need resolving resolves them all, 100 a
        request (issue 8: one a request held 17 of 25 accounts at start on Basic)."""
        with self._resolving:
            self._pending.update(h.lower() for h in handles)

    def _resolve(self, meter: _Meter, source: SourceForPoll) -> str:
        handle = source.target.lower()
        # One thread resolves at a time, so concurrent first polls share one request.
        with self._resolving:
            found: str | SourceError | None = self._resolved.pop(handle, None)
            if found is None:
                others = sorted(self._pending - {handle})[: USERS_PER_REQUEST - 1]
                answers = self._resolve_handles(meter, source.key, [source.target, *others])
                found = answers[handle]
                for h in others:
                    got = answers[h]
                    if isinstance(got, str):
                        self._resolved[h] = got
                self._pending -= {handle, *others}
        if isinstance(found, SourceError):
            raise type(found)(
                source.key,
                found.message
                if found.problem is not SourceProblem.NOT_FOUND
                else f"no X account @{source.target}",
                problem=found.problem,
            )
        return found

    def _accounts_by_id(
        self, meter: _Meter, key: str, ids: Sequence[str]
    ) -> dict[str, SourceProblem | None]:
        """Each user id's state (``GET /2/users?ids=``): None when its posts are visible."""
        out: dict[str, SourceProblem | None] = {}
        for i in range(0, len(ids), USERS_PER_REQUEST):
            chunk = list(ids[i : i + USERS_PER_REQUEST])
            payload = (
                self._call(
                    meter,
                    key,
                    Endpoint.USERS,
                    partial(
                        self._client.get_users, ids=chunk, user_fields=[*USER_FIELDS, "protected"]
                    ),
                )
                or {}
            )
            for user in payload.get("data") or []:
                out[str(user["id"])] = SourceProblem.PROTECTED if user.get("protected") else None
            for err in payload.get("errors") or []:
                uid = str(err.get("value") or err.get("resource_id") or "")
                if uid and uid not in out:
                    out[uid] = _account_problem(err)
            for uid in chunk:
                out.setdefault(uid, SourceProblem.NOT_FOUND)
        return out

    def _check_account(
        self, meter: _Meter, source: SourceForPoll, user_id: str, payload: Mapping[str, Any]
    ) -> None:
        """Raise when a 200 answer carries only errors about the watched account itself.

        X answers a suspended, protected or vanished account with a 200 whose body holds only
        ``errors`` (``resource-not-found`` "User has been suspended", ``not-authorized-for-
        resource``, ``resource-not-found``): read as "no posts", it would be silence forever.
        """
        if payload.get("data") or payload.get("meta"):
            return
        for err in payload.get("errors") or []:
            if str(err.get("resource_id") or err.get("value") or "") != user_id:
                continue
            problem = _account_problem(err)
            if problem is SourceProblem.NOT_FOUND:
                # issue 8: resolve again by id, never by handle (a freed handle may be anyone's).
                state = self._accounts_by_id(meter, source.key, [user_id]).get(user_id)
                if state is None:
                    raise SourceUnavailable(
                        source.key,
                        f"X said account id {user_id} was not found, then found it: retry",
                        problem=SourceProblem.NOT_FOUND,
                    )
                problem = state
            raise SourceRejected(
                source.key,
                _account_message(problem, f"@{source.target} (id {user_id})"),
                problem=problem,
            )

    def _note_rename(self, source: SourceForPoll, user_id: str, payload: Mapping[str, Any]) -> None:
        """Tell the operator once when the watched id now shows another handle."""
        shown = _users_by_id(payload).get(user_id)
        if shown and shown.lower() != source.target.lower():
            seen = (source.key, shown.lower())
            if seen not in self._renames:
                self._renames.add(seen)
                log.warning(
                    "X account renamed source=%s id=%s: @%s is now @%s; still watched by its "
                    "id, alerts show the new handle; update the watchlist",
                    source.key,
                    user_id,
                    source.target,
                    shown,
                )

    def _own_items(
        self, source: SourceForPoll, user_id: str, pages: Sequence[Mapping[str, Any]]
    ) -> list[FetchedItem]:
        """The posts of `pages` whose author is the watched id; others are dropped and logged."""
        items: list[FetchedItem] = []
        for payload in pages:
            self._note_rename(source, user_id, payload)
            for tweet in payload.get("data") or []:
                author = str(tweet.get("author_id") or "")
                if author == user_id:
                    items.append(tweet_to_item(tweet, payload))
        return items

    # --- per account: timelines ----------------------------------------------------------------

    def _fetch_timeline(self, source: SourceForPoll) -> FetchResult:
        meter = _Meter()
        started = self._clock()
        try:
            user_id = source.remote_id or self._resolve(meter, source)
            pages, complete = self._timeline_pages(meter, source, user_id, source.cursor)
        except SourceError as exc:
            # A failed poll still cost what it cost.
            raise _copy(exc, source.key, cost=meter.cost()) from exc.__cause__
        self._drop_strangers(source, user_id, pages)
        items = self._own_items(source, user_id, pages)
        return FetchResult(
            items=tuple(items),
            cursor=_safe_cursor(pages, source.cursor, started) if complete else None,
            fetched_at=self._clock(),
            remote_id=user_id if user_id != source.remote_id else None,
            cost=meter.cost(),
        )

    def _timeline_pages(
        self, meter: _Meter, source: SourceForPoll, user_id: str, since: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Every page of the timeline since `since` (one short page on a first poll);
        and whether all were read."""

        first = since is None and not source.primed

        def page(token: str | None) -> dict[str, Any]:
            payload: dict[str, Any] = (
                self._call(
                    meter,
                    source.key,
                    Endpoint.TIMELINE,
                    lambda: self._client.get_users_tweets(
                        user_id,
                        since_id=since,
                        max_results=FIRST_POLL_RESULTS if first else 100,
                        pagination_token=token,
                        tweet_fields=TWEET_FIELDS,
                        expansions=EXPANSIONS,
                        user_fields=USER_FIELDS,
                        media_fields=MEDIA_FIELDS,
                    ),
                )
                or {}
            )
            self._check_account(meter, source, user_id, payload)
            return payload

        return self._pages(source.key, page, 1 if first else MAX_PAGES)

    def _pages(
        self, key: str, page: Callable[[str | None], dict[str, Any]], max_pages: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Pages until X gives no ``next_token`` (short pages with a token are normal on X);
        and whether every page was read.

        When a later page fails or the budget holds it, what was read is kept and the caller
        leaves the cursor where it was, so the next poll reads the rest: nothing is skipped.
        """
        pages: list[dict[str, Any]] = []
        token: str | None = None
        for n in range(max_pages):
            try:
                payload = page(token)
            except SourceError as exc:
                if n == 0:
                    raise
                log.warning(
                    "X backlog cut after %d pages source=%s: %s; the cursor stays, the rest is "
                    "read next poll",
                    n,
                    key,
                    exc,
                )
                return pages, False
            pages.append(payload)
            token = (payload.get("meta") or {}).get("next_token")
            if not token:
                return pages, True
        if max_pages > 1:
            log.warning(
                "X backlog longer than %d pages source=%s: the cursor stays, the rest is read "
                "next poll",
                max_pages,
                key,
            )
            return pages, False
        return pages, True  # a first poll reads one page on purpose

    def _drop_strangers(
        self, source: SourceForPoll, user_id: str, pages: Sequence[Mapping[str, Any]]
    ) -> None:
        for payload in pages:
            users = _users_by_id(payload)
            for tweet in payload.get("data") or []:
                author = str(tweet.get("author_id") or "")
                if author != user_id:
                    log.warning(
                        "X post dropped: not by the watched account source=%s watched_id=%s "
                        "author_id=%s author=@%s post=%s",
                        source.key,
                        user_id,
                        author or "?",
                        users.get(author, "?"),
                        tweet.get("id"),
                    )

    # --- batched: recent search by id ------------------------------------------------------------

    def _fetch_batched(self, sources: list[SourceForPoll]) -> dict[str, FetchResult | SourceError]:
        out: dict[str, FetchResult | SourceError] = {}
        ids: dict[str, str] = {s.key: s.remote_id for s in sources if s.remote_id}
        new = [s for s in sources if not s.remote_id]
        meter = _Meter()
        if new:
            found: dict[str, str | SourceError] = {}
            try:
                found = self._resolve_handles(meter, new[0].key, [s.target for s in new])
            except SourceError as exc:
                found = {s.target.lower(): exc for s in new}
            for s in new:
                got = found[s.target.lower()]
                if isinstance(got, str):
                    ids[s.key] = got
                else:
                    out[s.key] = _copy(got, s.key)
        by_id = {ids[s.key]: s for s in sources if s.key in ids}
        # The cost so far (handle lookups) goes with the first result, whatever it is.
        outcomes: list[dict[str, FetchResult | SourceError]] = [out]
        # A stable order packs the same accounts together poll after poll.
        for batch in pack_batches(sorted(by_id), self._max_query):
            outcomes.append(self._poll_batch(meter, [by_id[i] for i in batch], ids))
            _charge(outcomes, meter.take())
        _charge(outcomes, meter.take())
        return {k: v for o in outcomes for k, v in o.items()}

    def _poll_batch(
        self, meter: _Meter, members: list[SourceForPoll], ids: Mapping[str, str]
    ) -> dict[str, FetchResult | SourceError]:
        key = members[0].key
        now = self._clock()
        cursors = [int(s.cursor) for s in members if s.cursor and s.cursor.isdigit()]
        # The oldest cursor of the batch: a member that is ahead sees a few posts again, which
        # storage recognises; a member that joins without a cursor is read from there too
        # (issue 8: dropping since_id for the whole batch lost posts of the others).
        since = str(min(cursors)) if cursors else None
        query = batch_query([ids[s.key] for s in members])
        # Only a batch of first polls reads one page (what is there is stored as seen); a
        # member polled before without a cursor yet (nothing old enough read) reads them all.
        pages_max = MAX_PAGES if since or any(s.primed for s in members) else 1
        try:
            pages, complete = self._pages(
                key, partial(self._search_page, meter, key, query, since), pages_max
            )
        except SourceRejected as exc:
            if exc.problem is not SourceProblem.SINCE_ID_TOO_OLD:
                return {s.key: _copy(exc, s.key) for s in members}
            return self._catch_up(meter, members, ids, now, since)
        except SourceError as exc:
            return {s.key: _copy(exc, s.key) for s in members}
        mine = {ids[s.key] for s in members}
        for payload in pages:
            users = _users_by_id(payload)
            for tweet in payload.get("data") or []:
                author = str(tweet.get("author_id") or "")
                if author not in mine:
                    log.warning(
                        "X post dropped: not by a watched account batch=%s author_id=%s "
                        "author=@%s post=%s",
                        key,
                        author or "?",
                        users.get(author, "?"),
                        tweet.get("id"),
                    )
        cursor = _safe_cursor(pages, since, now) if complete else None
        out: dict[str, FetchResult | SourceError] = {}
        for s in members:
            out[s.key] = FetchResult(
                items=tuple(self._own_items(s, ids[s.key], pages)),
                cursor=cursor,
                fetched_at=self._clock(),
                remote_id=ids[s.key] if ids[s.key] != s.remote_id else None,
            )
        return out

    def _catch_up(
        self,
        meter: _Meter,
        members: list[SourceForPoll],
        ids: Mapping[str, str],
        now: datetime,
        since: str | None,
    ) -> dict[str, FetchResult | SourceError]:
        """Recent search refused a since_id older than 7 days: read each member's timeline
        (which reaches further back) for the gap, then batched search goes on from there."""
        out: dict[str, FetchResult | SourceError] = {}
        for s in members:
            user_id = ids[s.key]
            start = s.cursor or since  # a member without its own cursor starts at the batch's
            try:
                pages, complete = self._timeline_pages(meter, s, user_id, start)
            except SourceError as exc:
                out[s.key] = _copy(exc, s.key)
                continue
            self._drop_strangers(s, user_id, pages)
            items = self._own_items(s, user_id, pages)
            gap = now - _id_time(start) if start and start.isdigit() else None
            log.warning(
                "X catch-up source=%s: search reaches back 7 days, the gap was %s; %d posts "
                "recovered from the timeline%s",
                s.key,
                _duration(gap) if gap is not None else "unknown",
                len(items),
                "" if complete else " (backlog cut: the rest next poll)",
            )
            out[s.key] = FetchResult(
                items=tuple(items),
                cursor=_safe_cursor(pages, start, now) if complete else None,
                fetched_at=self._clock(),
                remote_id=user_id if user_id != s.remote_id else None,
            )
        return out

    def _search_page(
        self, meter: _Meter, key: str, query: str, since: str | None, token: str | None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = (
            self._call(
                meter,
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
                    media_fields=MEDIA_FIELDS,
                ),
            )
            or {}
        )
        return payload

    # --- deletion checks -----------------------------------------------------------------------

    def _lookup(self, ids: list[str]) -> tuple[set[str], int]:
        meter = _Meter()
        payload = (
            self._call(
                meter,
                "x:lookup",
                Endpoint.LOOKUP,
                lambda: self._client.get_tweets(ids[:100], tweet_fields=["edit_history_tweet_ids"]),
            )
            or {}
        )
        present = {str(t["id"]) for t in payload.get("data") or []}
        for t in payload.get("data") or []:
            present.update(str(i) for i in t.get("edit_history_tweet_ids") or [])
        return present, meter.reads

    def _visible(self, user_ids: list[str]) -> tuple[set[str], int]:
        meter = _Meter()
        states = self._accounts_by_id(meter, "x:lookup", user_ids)
        return {uid for uid, state in states.items() if state is None}, meter.requests


#: usernames or ids one users lookup takes (``GET /2/users/by``, ``GET /2/users``)
USERS_PER_REQUEST = 100
#: posts younger than this may still be missing from search (X indexes in ~30 s, not in id
#: order): the batch cursor never moves past them, they are read again next poll (issue 8)
INDEX_LAG = timedelta(seconds=120)


def _charge(outcomes: list[dict[str, FetchResult | SourceError]], cost: Cost) -> None:
    """Add a cost to the last group's first result (counted once, not per member)."""
    if not cost:
        return
    for group in reversed(outcomes):
        for key, res in group.items():
            if isinstance(res, FetchResult):
                group[key] = replace(res, cost=res.cost + cost)
            else:
                group[key] = _copy(res, key, cost=res.cost + cost)
            return


def _copy(exc: SourceError, key: str, *, cost: Cost = NO_COST) -> SourceError:
    """The same error for the source `key`, with the cost given (a poll's whole cost)."""
    return type(exc)(key, exc.message, problem=exc.problem, cost=cost, **_extra(exc))


def _id_time(tweet_id: str) -> datetime:
    # X ids are snowflakes: milliseconds since X's epoch in the high bits.
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + _TWEPOCH_MS) / 1000, UTC)


def _safe_cursor(
    pages: Sequence[Mapping[str, Any]], since: str | None, now: datetime
) -> str | None:
    """Where the next poll starts after every page since `since` was read at `now`.

    Every post created before ``now - INDEX_LAG`` has been indexed and was read; younger ones
    may still be missing, so the cursor stops at the newest older post (the younger ones are read
    again next poll, and storage recognises them). None: no post old enough yet, and no cursor
    before; the next poll then reads every page (not a first poll's one), so nothing is lost.
    """
    settled = [
        int(t["id"])
        for p in pages
        for t in p.get("data") or []
        if _id_time(str(t["id"])) <= now - INDEX_LAG
    ]
    floor = [int(since)] if since else []
    best = max([*settled, *floor], default=None)
    return None if best is None else str(best)


def _duration(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h"


def _account_problem(err: Mapping[str, Any]) -> SourceProblem:
    kind = str(err.get("type") or "")
    detail = str(err.get("detail") or "")
    if kind.endswith("/not-authorized-for-resource"):
        return SourceProblem.PROTECTED
    if detail.startswith("User has been suspended"):
        return SourceProblem.SUSPENDED
    return SourceProblem.NOT_FOUND


def _account_message(problem: SourceProblem, who: str) -> str:
    return {
        SourceProblem.SUSPENDED: f"X account {who} is suspended: paused, checked again hourly",
        SourceProblem.PROTECTED: (
            f"X account {who} is protected (followers only): paused, checked again hourly"
        ),
        SourceProblem.NOT_FOUND: f"X account {who} no longer exists (not re-resolved by handle)",
    }.get(problem, f"X account {who}: {problem.value}")


def _extra(exc: SourceError) -> dict[str, Any]:
    if isinstance(exc, SourceUnavailable):
        return {"retry_after": exc.retry_after}
    if isinstance(exc, SourceRejected):
        return {"status": exc.status}
    return {}


def _body(exc: tweepy.HTTPException) -> Mapping[str, Any]:
    try:
        body = exc.response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem_type(exc: tweepy.HTTPException) -> str:
    return str(_body(exc).get("type") or "").rsplit("/", 1)[-1]


def _title(exc: tweepy.HTTPException) -> str:
    return str(_body(exc).get("title") or "")


def _bad_parameter(exc: tweepy.HTTPException) -> str | None:
    for err in _body(exc).get("errors") or []:
        for name in (err.get("parameters") or {}) if isinstance(err, dict) else ():
            return str(name)
    return None


def _detail(exc: tweepy.HTTPException) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return str(exc.response.status_code)
    return str(body.get("detail") or body.get("title") or exc.response.status_code)
