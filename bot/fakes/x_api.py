"""A strict fake of the X API v2 read endpoints Watchpost polls, for the real tweepy ``Client``.

:class:`FakeX` holds users and posts and answers like ``api.twitter.com``; its
:meth:`FakeX.handle` is a handler for :class:`bot.fakes.http.LocalServer`::

    x = FakeX(tokens={"test-bearer"})
    x.add_user("MFA_Example", name="Ministry")
    x.post("MFA_Example", "Statement on the corridor")
    with LocalServer(x.handle) as server:
        client = tweepy.Client(bearer_token="test-bearer")
        client.session = make_x_session(server.url, timeout=5)

Endpoints (app-only ``Authorization: Bearer``): ``GET /2/users/by``,
``/2/users/by/username/:username``, ``/2/users/:id/tweets``, ``/2/tweets/search/recent``,
``/2/tweets`` and ``/2/tweets/:id``. Bodies follow responses recorded against the real API (tweepy's
cassettes, ``../shared/corpus/x_api``): ``data``/``includes``/``errors``/``meta``, ids as strings,
``edit_history_tweet_ids`` always present, an empty page as ``{"meta": {"result_count": 0}}``,
missing resources as ``errors`` entries in a 200, problems as RFC 7807 bodies. Unknown parameters
and out-of-range values answer 400 like the real API.

What a request meets, in order: the bearer token (401), the route (404), :meth:`FakeX.forbid`
(403), an injected failure (:meth:`FakeX.fail_next`), the monthly post-read cap (429
usage-capped), the endpoint's 15-minute rate limit (429), parameter checks (400), the answer.
Every authenticated answer carries ``x-rate-limit-limit``, ``-remaining`` and ``-reset``.

Beside it: ``x_world`` (accounts, posts, the clock, billing: :class:`FakeX` is an ``XWorld``),
``x_render`` (the JSON bodies), ``x_params`` (parameter checks), ``x_query`` (the search query
language) and ``x_problems`` (the problem bodies).

As X behaves today (issue 8): an account keeps its id when renamed (:meth:`FakeX.rename`) and its
freed handle may be registered by someone else; ``from:`` takes a handle or a numeric id;
``GET /2/users?ids=`` finds accounts by id; suspended, protected (:meth:`FakeX.protect`) and
deactivated (:meth:`FakeX.deactivate`) accounts answer a 200 holding only ``errors``; search finds
a post ``index_delay`` seconds after it is posted and shows no reposts; pages may be shorter than
``max_results`` and still carry ``next_token`` (``page_cap``); posts may be edited for 30 minutes;
a post is billed once per UTC day (``daily_dedup``) against a cap that resets on ``reset_day``.

Known gaps, on purpose: search understands ``from:``, ``is:retweet``/``is:reply``/``is:quote``,
``lang:``, keywords and quoted phrases with ``OR``, ``-`` and parentheses (other operators answer
400); relevancy order is recency order; media, polls and places are never produced; the wording of
the 400 messages for a too-long query and a too-old ``since_id`` is ours (the shape is real).
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from bot.fakes.http import Request, Response
from bot.fakes.x_params import (
    ID,
    ID_PATTERN,
    USERNAME,
    USERNAME_PATTERN,
    Endpoint,
    Params,
    parse_params,
)
from bot.fakes.x_problems import (
    PROBLEMS,
    Answer,
    blank_problem,
    invalid,
    not_authorized,
    not_found,
    suspended,
)
from bot.fakes.x_query import And, Node, Not, Or, QueryError, candidate_authors, parse_query
from bot.fakes.x_render import envelope, iso, paginate, rate_headers
from bot.fakes.x_world import Tweet, User, XWorld, snowflake_time

__all__ = [
    "DEFAULT_QUERY_LENGTH",
    "DEFAULT_RATE_LIMITS",
    "SEARCH_WINDOW_SECONDS",
    "TIMELINE_DEPTH",
    "WINDOW_SECONDS",
    "Endpoint",
    "FakeX",
    "XCall",
]


#: App-auth requests per 15-minute window, as the real API reported them in ``x-rate-limit-limit``
#: in tweepy's recorded cassettes (2021–2022): user timeline 1500, recent search 450, user and
#: post lookups 300. They match X's documented app-auth limits for those endpoints.
DEFAULT_RATE_LIMITS: Mapping[Endpoint, int] = {
    Endpoint.USERS_BY: 300,
    Endpoint.USERS: 300,
    Endpoint.USER_BY_USERNAME: 300,
    Endpoint.USER_TWEETS: 1500,
    Endpoint.SEARCH_RECENT: 450,
    Endpoint.TWEETS: 300,
    Endpoint.TWEET: 300,
}
#: Recent search's query length limit on the self-serve tiers (Enterprise allows 4096).
DEFAULT_QUERY_LENGTH = 512
WINDOW_SECONDS = 900
#: Recent search covers the last seven days.
SEARCH_WINDOW_SECONDS = 7 * 24 * 3600
#: A user timeline reaches back this many posts.
TIMELINE_DEPTH = 3200

_POST_READING = frozenset(
    {Endpoint.USER_TWEETS, Endpoint.SEARCH_RECENT, Endpoint.TWEETS, Endpoint.TWEET}
)


_CLIENT_FORBIDDEN_DETAIL = (
    "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
    "from a Twitter developer App that is attached to a Project. You can create a project via the "
    "developer portal."
)


@dataclass(frozen=True, slots=True)
class XCall:
    """One request the fake answered, for tests and benchmarks to inspect."""

    #: None when the route is not one of :class:`Endpoint`
    endpoint: Endpoint | None
    method: str
    #: the request target as sent (path and query)
    target: str
    status: int
    #: posts returned in ``data``
    posts: int
    #: the fake's clock when the request arrived
    at: float


@dataclass(slots=True)
class _Window:
    reset: int
    used: int = 0


@dataclass(slots=True)
class _Injected:
    remaining: int
    status: int
    endpoint: Endpoint | None
    reset_after: float


# --- the fake ---------------------------------------------------------------------------


class FakeX(XWorld):
    """The state of a fake X API v2 and its request handler; thread-safe.

    Args:
        tokens: the bearer tokens the server accepts.
        clock: seconds since the epoch; post times, rate-limit windows and the read cap's month.
        rate_limits: requests per 15-minute window per endpoint and token, over
            :data:`DEFAULT_RATE_LIMITS`.
        query_length: the longest recent-search query accepted.
        read_cap: posts that may be read (returned in ``data``) per calendar month (UTC) before
            every post-reading request answers 429 usage-capped; None for no cap.
        index_delay: seconds between a post's creation and recent search finding it.
        daily_dedup: bill a post returned several times in one UTC day once, as X bills
            pay-per-use reads (issue 8); the read cap counts billed reads.
        reset_day: the day of the month the read cap resets (the plan's billing day).
        search_reposts: whether recent search returns reposts; X's does not today (issue 8),
            timelines do.
        edit_window: seconds after posting during which a post may be edited (30 minutes as
            issue 8 states for X today); `edit` refuses later edits.
        page_cap: at most this many posts per page of search and timelines, with a
            ``next_token`` when more match: X's pages are often shorter than ``max_results``
            and only a missing ``next_token`` means the end (docs.x.com, "Pagination").
    """

    def __init__(
        self,
        tokens: Iterable[str] = ("test-bearer-token",),
        *,
        clock: Callable[[], float] = time.time,
        rate_limits: Mapping[Endpoint, int] | None = None,
        query_length: int = DEFAULT_QUERY_LENGTH,
        read_cap: int | None = None,
        index_delay: float = 0.0,
        page_cap: int | None = None,
        daily_dedup: bool = False,
        reset_day: int = 1,
        search_reposts: bool = False,
        edit_window: float = 1800.0,
    ) -> None:
        super().__init__(
            clock=clock,
            read_cap=read_cap,
            index_delay=index_delay,
            daily_dedup=daily_dedup,
            reset_day=reset_day,
            edit_window=edit_window,
        )
        self._search_reposts = search_reposts
        self._tokens = frozenset(tokens)
        self._limits: dict[Endpoint, int] = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self._query_length = query_length
        self._page_cap = page_cap
        self._windows: dict[tuple[str, Endpoint], _Window] = {}
        self._injected: list[_Injected] = []
        self._forbidden = False
        self._calls: list[XCall] = []

    # --- injected behaviour ---------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        endpoint: Endpoint | None = None,
        reset_after: float = 60.0,
    ) -> None:
        """Fail the next `n` authenticated requests (to `endpoint`, or any) with `status`.

        429 answers the real rate-limit body with ``x-rate-limit-remaining: 0`` and a reset
        `reset_after` seconds ahead; other statuses the ``about:blank`` problem for the status.
        Injected failures do not use up the rate-limit window.
        """
        if n < 1 or status < 400:
            raise ValueError("fail_next needs n >= 1 and an error status")
        with self._lock:
            self._injected.append(_Injected(n, status, endpoint, reset_after))

    def forbid(self, forbidden: bool = True) -> None:
        """Answer every authenticated request 403 client-forbidden (or stop doing so)."""
        with self._lock:
            self._forbidden = forbidden

    # --- inspection -----------------------------------------------------------------------

    def requests(self, endpoint: Endpoint | None = None) -> int:
        """How many requests reached `endpoint` (or the server), whatever their answer."""
        with self._lock:
            if endpoint is None:
                return len(self._calls)
            return sum(1 for c in self._calls if c.endpoint == endpoint)

    def calls(self, endpoint: Endpoint | None = None) -> list[XCall]:
        """Every request answered, oldest first."""
        with self._lock:
            return [c for c in self._calls if endpoint is None or c.endpoint == endpoint]

    # --- the handler ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one X API request; use with :class:`bot.fakes.http.LocalServer`."""
        endpoint, path_arg = _route(request.method, request.path)
        with self._lock:
            now = self._clock()
            status, body, headers, posts = self._answer(request, endpoint, path_arg, now)
            self._calls.append(XCall(endpoint, request.method, request.target, status, posts, now))
            self._posts_read += posts
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Response(
            status, [("content-type", "application/json; charset=utf-8"), *headers], payload
        )

    def _answer(
        self, request: Request, endpoint: Endpoint | None, path_arg: str, now: float
    ) -> tuple[int, Mapping[str, Any], list[tuple[str, str]], int]:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self._tokens:
            return 401, blank_problem(401), [], 0
        token = token.strip()
        if endpoint is None:
            return 404, blank_problem(404), [], 0
        if self._forbidden:
            body: dict[str, Any] = {
                "client_id": "10000001",
                "detail": _CLIENT_FORBIDDEN_DETAIL,
                "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
                "title": "Client Forbidden",
                "required_enrollment": "Appropriate Level of API Access",
                "reason": "client-not-enrolled",
                "type": PROBLEMS + "client-forbidden",
            }
            return 403, body, [], 0
        window = self._window(token, endpoint, now)
        limit = self._limits[endpoint]
        injected = self._take_injected(endpoint)
        if injected is not None:
            if injected.status == 429:
                reset = int(now + injected.reset_after)
                return 429, blank_problem(429), rate_headers(limit, 0, reset), 0
            headers = rate_headers(limit, limit - window.used, window.reset)
            return injected.status, blank_problem(injected.status), headers, 0
        if endpoint in _POST_READING and self.capped(now):
            capped: dict[str, Any] = {
                "account_id": 10000001,
                "product_name": "standard-basic",
                "title": "UsageCapExceeded",
                "period": "Monthly",
                "scope": "Product",
                "detail": "Usage cap exceeded: Monthly product cap",
                "type": PROBLEMS + "usage-capped",
            }
            return 429, capped, rate_headers(limit, limit - window.used, window.reset), 0
        if window.used >= limit:
            return 429, blank_problem(429), rate_headers(limit, 0, window.reset), 0
        window.used += 1
        headers = rate_headers(limit, limit - window.used, window.reset)
        try:
            params = parse_params(request, endpoint)
            body, posts = self._ENDPOINTS[endpoint](self, params, path_arg, now)
        except Answer as answer:
            return answer.status, answer.body, headers, 0
        self.bill(body, now)
        return 200, body, headers, posts

    def _window(self, token: str, endpoint: Endpoint, now: float) -> _Window:
        key = (token, endpoint)
        window = self._windows.get(key)
        if window is None or now >= window.reset:
            window = _Window(reset=int(now) + WINDOW_SECONDS)
            self._windows[key] = window
        return window

    def _take_injected(self, endpoint: Endpoint) -> _Injected | None:
        for rule in self._injected:
            if rule.endpoint is not None and rule.endpoint != endpoint:
                continue
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._injected.remove(rule)
            return rule
        return None

    # --- endpoints (lock held) ------------------------------------------------------------

    def _users_by(self, params: Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        names = params.id_list("usernames", USERNAME, USERNAME_PATTERN)
        found: list[User] = []
        errors: list[dict[str, Any]] = []
        for name in names:
            user_id = self.by_name.get(name.casefold())
            if user_id is None:
                errors.append(not_found("user", "usernames", name))
            elif self.users[user_id].suspended:
                errors.append(suspended("usernames", name))
            else:
                found.append(self.users[user_id])
        return envelope(self, None, params, errors, users=found), 0

    def _users_by_ids(self, params: Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        """``GET /2/users?ids=``: accounts by numeric id, whatever their handle is now."""
        ids = params.id_list("ids", ID, ID_PATTERN)
        found: list[User] = []
        errors: list[dict[str, Any]] = []
        for user_id in ids:
            user = self.users.get(user_id)
            if user is None or user.deactivated:
                errors.append(not_found("user", "ids", user_id))
            elif user.suspended:
                errors.append(suspended("ids", user_id))
            else:
                found.append(user)
        return envelope(self, None, params, errors, users=found), 0

    def _user_by_username(
        self, params: Params, name: str, _now: float
    ) -> tuple[dict[str, Any], int]:
        if USERNAME.fullmatch(name) is None:
            raise invalid(
                "username",
                name,
                f"The `username` query parameter value [{name}] does not match {USERNAME_PATTERN}",
            )
        user_id = self.by_name.get(name.casefold())
        if user_id is None:
            return {"errors": [not_found("user", "username", name)]}, 0
        user = self.users[user_id]
        if user.suspended:
            return {"errors": [suspended("username", name)]}, 0
        body = envelope(self, None, params, [], users=[user])
        body["data"] = body["data"][0]
        return body, 0

    def _user_tweets(self, params: Params, user_id: str, _now: float) -> tuple[dict[str, Any], int]:
        if ID.fullmatch(user_id) is None:
            raise invalid(
                "id",
                user_id,
                f"The `id` query parameter value [{user_id}] does not match {ID_PATTERN}",
            )
        max_results = params.integer("max_results", 5, 100, 10)
        since_id = params.tweet_id("since_id")
        until_id = params.tweet_id("until_id")
        start, end = params.time("start_time"), params.time("end_time")
        exclude = params.fields("exclude")
        token = params.get("pagination_token")
        user = self.users.get(user_id)
        if user is None or user.deactivated:
            return {"errors": [not_found("user", "id", user_id)]}, 0
        if user.suspended:
            return {"errors": [suspended("id", user_id)]}, 0
        if user.protected:
            return {"errors": [not_authorized("user", "id", user_id)]}, 0
        reachable = list(self.visible_timeline(user_id))[:TIMELINE_DEPTH]

        def keep(tweet: Tweet) -> bool:
            kinds = {k for k, _ in tweet.refs}
            if ("retweets" in exclude and "retweeted" in kinds) or (
                "replies" in exclude and "replied_to" in kinds
            ):
                return False
            return _in_range(tweet, since_id, until_id, start, end)

        matching = [t for t in reachable if keep(t)]
        page, meta = paginate(
            matching, self._size(max_results), token, Endpoint.USER_TWEETS, "pagination_token"
        )
        body = envelope(self, page, params, [])
        body["meta"] = meta
        return body, len(page)

    def _search_recent(self, params: Params, _arg: str, now: float) -> tuple[dict[str, Any], int]:
        query = params.get("query")
        if query is None or not query.strip():
            raise invalid("query", query or "", "The `query` query parameter can not be empty")
        if len(query) > self._query_length:
            raise invalid(
                "query",
                query,
                "There were errors processing your query: Query is too long: "
                f"{len(query)} characters, the maximum is {self._query_length}",
            )
        try:
            tree = parse_query(query)
        except QueryError as exc:
            raise invalid(
                "query", query, f"There were errors processing your query: {exc} (at position 1)"
            ) from None
        max_results = params.integer("max_results", 10, 100, 10)
        since_id = params.tweet_id("since_id")
        until_id = params.tweet_id("until_id")
        start, end = params.time("start_time"), params.time("end_time")
        sort_order = params.get("sort_order")
        if sort_order is not None and sort_order not in ("recency", "relevancy"):
            raise invalid(
                "sort_order",
                sort_order,
                f"The `sort_order` query parameter value [{sort_order}] is not one of "
                "[recency,relevancy]",
            )
        oldest_allowed = now - SEARCH_WINDOW_SECONDS
        if start is not None and start < oldest_allowed:
            raise invalid(
                "start_time",
                params.get("start_time") or "",
                f"Invalid 'start_time':'{params.get('start_time')}'. 'start_time' must be on or "
                f"after {iso(oldest_allowed)[:16]}Z",
            )
        if since_id is not None and snowflake_time(since_id) < oldest_allowed:
            raise invalid(
                "since_id",
                str(since_id),
                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after "
                f"{iso(oldest_allowed)[:16]}Z",
            )
        token = params.get("next_token") or params.get("pagination_token")
        authors = candidate_authors(tree)
        if authors is None:
            pool = self.all_ids
        else:
            ids = [a if a in self.users else self.by_name.get(a) for a in authors]
            pool = sorted(i for uid in ids if uid is not None for i in self.timelines[uid])
        start_at = bisect.bisect_right(pool, since_id) if since_id is not None else 0
        matching = []
        for tweet_id in reversed(pool[start_at:]):
            tweet = self.tweets[tweet_id]
            if tweet.created_at < oldest_allowed or not self.current(tweet):
                continue
            if tweet.created_at + tweet.index_delay > now:
                continue  # not indexed yet
            if not self._search_reposts and any(k == "retweeted" for k, _ in tweet.refs):
                continue
            if _in_range(tweet, since_id, until_id, start, end) and self._matches(tree, tweet):
                matching.append(tweet)
        page, meta = paginate(
            matching, self._size(max_results), token, Endpoint.SEARCH_RECENT, "next_token"
        )
        meta.pop("previous_token", None)
        body = envelope(self, page, params, [])
        body["meta"] = meta
        return body, len(page)

    def _size(self, max_results: int) -> int:
        return max_results if self._page_cap is None else min(max_results, self._page_cap)

    def _matches(self, node: Node, tweet: Tweet) -> bool:
        if isinstance(node, Or):
            return any(self._matches(p, tweet) for p in node.parts)
        if isinstance(node, And):
            return all(self._matches(p, tweet) for p in node.parts)
        if isinstance(node, Not):
            return not self._matches(node.inner, tweet)
        kinds = {k for k, _ in tweet.refs}
        if node.kind == "from":
            # X takes a handle or a numeric user id after from: (docs.x.com, "Build a query").
            author = self.users[tweet.author]
            return node.value in (author.username.casefold(), author.id)
        if node.kind == "is":
            wanted = {"retweet": "retweeted", "reply": "replied_to", "quote": "quoted"}[node.value]
            return wanted in kinds
        if node.kind == "lang":
            return tweet.lang == node.value
        haystack = (tweet.note_text or tweet.text).casefold()
        haystack += " " + " ".join(link.expanded_url.casefold() for link in tweet.links)
        return node.value in haystack

    def _tweets_lookup(self, params: Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        ids = params.id_list("ids", ID, ID_PATTERN)
        found: list[Tweet] = []
        errors: list[dict[str, Any]] = []
        for tweet_id in ids:
            tweet = self.tweets.get(int(tweet_id))
            if (
                tweet is not None
                and tweet.root not in self.deleted
                and (self.users[tweet.author].protected)
            ):
                errors.append(not_authorized("Tweet", "ids", tweet_id))
            elif tweet is None or not self.exists(tweet):
                errors.append(not_found("tweet", "ids", tweet_id))
            else:
                found.append(tweet)
        return envelope(self, found, params, errors), len(found)

    def _tweet_lookup(
        self, params: Params, tweet_id: str, _now: float
    ) -> tuple[dict[str, Any], int]:
        if ID.fullmatch(tweet_id) is None:
            raise invalid(
                "id",
                tweet_id,
                f"The `id` query parameter value [{tweet_id}] does not match {ID_PATTERN}",
            )
        tweet = self.tweets.get(int(tweet_id))
        if tweet is None or not self.exists(tweet):
            return {"errors": [not_found("tweet", "id", tweet_id)]}, 0
        body = envelope(self, [tweet], params, [])
        body["data"] = body["data"][0]
        return body, 1

    _ENDPOINTS: Mapping[
        Endpoint, Callable[[FakeX, Params, str, float], tuple[dict[str, Any], int]]
    ] = {
        Endpoint.USERS_BY: _users_by,
        Endpoint.USERS: _users_by_ids,
        Endpoint.USER_BY_USERNAME: _user_by_username,
        Endpoint.USER_TWEETS: _user_tweets,
        Endpoint.SEARCH_RECENT: _search_recent,
        Endpoint.TWEETS: _tweets_lookup,
        Endpoint.TWEET: _tweet_lookup,
    }


def _route(method: str, path: str) -> tuple[Endpoint | None, str]:
    if method != "GET":
        return None, ""
    parts = path.rstrip("/").split("/")
    if parts[:2] != ["", "2"]:
        return None, ""
    rest = parts[2:]
    match rest:
        case ["users", "by"]:
            return Endpoint.USERS_BY, ""
        case ["users"]:
            return Endpoint.USERS, ""
        case ["users", "by", "username", name]:
            return Endpoint.USER_BY_USERNAME, unquote(name)
        case ["users", user_id, "tweets"]:
            return Endpoint.USER_TWEETS, unquote(user_id)
        case ["tweets", "search", "recent"]:
            return Endpoint.SEARCH_RECENT, ""
        case ["tweets"]:
            return Endpoint.TWEETS, ""
        case ["tweets", tweet_id] if tweet_id not in ("search", "counts", "sample"):
            return Endpoint.TWEET, unquote(tweet_id)
    return None, ""


def _in_range(
    tweet: Tweet,
    since_id: int | None,
    until_id: int | None,
    start: float | None,
    end: float | None,
) -> bool:
    return (
        (since_id is None or tweet.id > since_id)
        and (until_id is None or tweet.id < until_id)
        and (start is None or tweet.created_at >= start)
        and (end is None or tweet.created_at < end)
    )
