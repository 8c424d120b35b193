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

Beside it: ``x_query`` (the search query language) and ``x_problems`` (the problem bodies).

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
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from bot.fakes.http import Request, Response
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

__all__ = [
    "DEFAULT_QUERY_LENGTH",
    "DEFAULT_RATE_LIMITS",
    "Endpoint",
    "FakeX",
    "XCall",
]


class Endpoint(StrEnum):
    """The endpoints the fake serves, named as X's docs name them."""

    USERS_BY = "GET /2/users/by"
    USERS = "GET /2/users"
    USER_BY_USERNAME = "GET /2/users/by/username/:username"
    USER_TWEETS = "GET /2/users/:id/tweets"
    SEARCH_RECENT = "GET /2/tweets/search/recent"
    TWEETS = "GET /2/tweets"
    TWEET = "GET /2/tweets/:id"


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
_TWEPOCH_MS = 1288834974657
_ID = re.compile(r"[0-9]{1,19}")
_ID_PATTERN = "^[0-9]{1,19}$"
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
_USERNAME_PATTERN = "^[A-Za-z0-9_]{1,15}$"
_URL_IN_TEXT = re.compile(r"https?://[^\s]+")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,15})\b")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_TCO_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOKEN_PREFIX = {
    Endpoint.USER_TWEETS: "7140dibdnow9c7btw",
    Endpoint.SEARCH_RECENT: "b26v89c19zqg8o3f",
}


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TWEET_FIELDS = _names(
    "attachments author_id card_uri community_id context_annotations conversation_id "
    "created_at display_text_range edit_controls edit_history_tweet_ids entities geo id "
    "in_reply_to_user_id lang media_metadata non_public_metrics note_tweet organic_metrics "
    "possibly_sensitive promoted_metrics public_metrics referenced_tweets reply_settings "
    "scopes source text withheld"
)
_USER_FIELDS = _names(
    "affiliation connection_status created_at description entities id is_identity_verified "
    "location most_recent_tweet_id name parody pinned_tweet_id profile_banner_url "
    "profile_image_url protected public_metrics receives_your_dm subscription "
    "subscription_type url username verified verified_followers_count verified_type "
    "withheld"
)
_TWEET_EXPANSIONS = _names(
    "attachments.media_keys attachments.media_source_tweet attachments.poll_ids author_id "
    "edit_history_tweet_ids entities.mentions.username geo.place_id in_reply_to_user_id "
    "entities.note.mentions.username referenced_tweets.id "
    "referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id"
)
_USER_EXPANSIONS = frozenset({"affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"})
_MEDIA_FIELDS = _names(
    "alt_text duration_ms height media_key non_public_metrics organic_metrics "
    "preview_image_url promoted_metrics public_metrics type url variants width"
)
_POLL_FIELDS = frozenset(["duration_minutes", "end_datetime", "id", "options", "voting_status"])
_PLACE_FIELDS = frozenset(
    ["contained_within", "country", "country_code", "full_name", "geo", "id", "name", "place_type"]
)
_LIST_PARAMS: Mapping[str, frozenset[str]] = {
    "tweet.fields": _TWEET_FIELDS,
    "user.fields": _USER_FIELDS,
    "media.fields": _MEDIA_FIELDS,
    "poll.fields": _POLL_FIELDS,
    "place.fields": _PLACE_FIELDS,
    "exclude": frozenset({"replies", "retweets"}),
}
_TWEET_PARAMS = frozenset(
    {"expansions", "tweet.fields", "user.fields", "media.fields", "poll.fields", "place.fields"}
)
_ALLOWED: Mapping[Endpoint, frozenset[str]] = {
    Endpoint.USERS_BY: frozenset({"usernames", "expansions", "tweet.fields", "user.fields"}),
    Endpoint.USERS: frozenset({"ids", "expansions", "tweet.fields", "user.fields"}),
    Endpoint.USER_BY_USERNAME: frozenset({"expansions", "tweet.fields", "user.fields"}),
    Endpoint.USER_TWEETS: _TWEET_PARAMS
    | _names("max_results pagination_token start_time end_time since_id until_id exclude"),
    Endpoint.SEARCH_RECENT: _TWEET_PARAMS
    | _names("query max_results next_token pagination_token start_time end_time since_id")
    | _names("until_id sort_order"),
    Endpoint.TWEETS: _TWEET_PARAMS | {"ids"},
    Endpoint.TWEET: _TWEET_PARAMS,
}
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
class _User:
    id: str
    username: str
    name: str
    created_at: float
    description: str
    verified: bool
    suspended: bool = False
    protected: bool = False
    deactivated: bool = False


@dataclass(frozen=True, slots=True)
class _Link:
    start: int
    end: int
    url: str
    expanded_url: str
    display_url: str


@dataclass(slots=True)
class _Tweet:
    id: int
    #: the first version's id: the key of the edit chain
    root: int
    author: str
    text: str
    created_at: float
    lang: str
    conversation_id: int
    refs: tuple[tuple[str, int], ...]
    in_reply_to_user_id: str | None
    #: the expanded URLs given when posting, kept for edits
    given_urls: tuple[str, ...]
    links: tuple[_Link, ...]
    note_text: str | None
    #: seconds after `created_at` before recent search finds it (X indexes in ~30 s)
    index_delay: float = 0.0


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


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _snowflake_time(tweet_id: int) -> float:
    return ((tweet_id >> 22) + _TWEPOCH_MS) / 1000


def _display_url(expanded: str) -> str:
    rest = re.sub(r"^https?://", "", expanded, flags=re.IGNORECASE)
    rest = re.sub(r"^www\.", "", rest, flags=re.IGNORECASE)
    host, slash, tail = rest.partition("/")
    path = slash + tail
    if path == "/":
        path = ""
    # The real display_url keeps the host and 15 characters of the rest (corpus: zerohedge.com).
    if len(path) > 15:
        path = path[:15] + "…"
    return host + path


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


# --- the fake ---------------------------------------------------------------------------


class FakeX:
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
        self._search_reposts = search_reposts
        self._edit_window = edit_window
        self._daily_dedup = daily_dedup
        self._reset_day = reset_day
        self._bill_day: tuple[int, int, int] | None = None
        self._billed_today: set[str] = set()
        self._index_delay = index_delay
        self._tokens = frozenset(tokens)
        self._clock = clock
        self._limits: dict[Endpoint, int] = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self._query_length = query_length
        self._read_cap = read_cap
        self._lock = threading.RLock()
        self._users: dict[str, _User] = {}
        self._page_cap = page_cap
        self._by_name: dict[str, str] = {}
        self._tweets: dict[int, _Tweet] = {}
        self._chains: dict[int, list[int]] = {}
        self._deleted: set[int] = set()
        #: per author, every version id ascending (ids only grow)
        self._timelines: dict[str, list[int]] = {}
        self._all_ids: list[int] = []
        self._last_id = 0
        self._next_user = 1_000_000_000
        self._tco = 0
        self._windows: dict[tuple[str, Endpoint], _Window] = {}
        self._injected: list[_Injected] = []
        self._forbidden = False
        self._calls: list[XCall] = []
        self._posts_read = 0
        self._month: tuple[int, int] | None = None
        self._month_reads = 0

    # --- state: users and posts -----------------------------------------------------------

    def add_user(
        self,
        username: str,
        name: str | None = None,
        id: str | None = None,
        *,
        description: str = "",
        verified: bool = False,
    ) -> str:
        """Create an account; returns its id (given, or the next free one)."""
        if _USERNAME.fullmatch(username) is None:
            raise ValueError(f"invalid X username {username!r}")
        with self._lock:
            key = username.casefold()
            if key in self._by_name:
                raise ValueError(f"user {username!r} exists")
            if id is None:
                self._next_user += 1
                id = str(self._next_user)
            if _ID.fullmatch(id) is None or id in self._users:
                raise ValueError(f"bad or taken user id {id!r}")
            created = self._clock() - 365 * 24 * 3600
            self._users[id] = _User(id, username, name or username, created, description, verified)
            self._by_name[key] = id
            self._timelines[id] = []
            return id

    def user_id(self, username: str) -> str:
        """The id of account `username` (any case)."""
        with self._lock:
            return self._user(username).id

    def suspend(self, username: str, suspended: bool = True) -> None:
        """Suspend an account (lookups answer "User has been suspended"), or lift it."""
        with self._lock:
            self._user(username).suspended = suspended

    def rename(self, username: str, new_username: str) -> None:
        """Change an account's handle; the old handle is free for anyone to register.

        On X a renamed account keeps its numeric id and posts, and the freed handle can be taken
        by a new account at once (help.x.com, "How to change your username"): `from:old` then
        finds the newcomer's posts, never the renamed account's (issue 8).
        """
        if _USERNAME.fullmatch(new_username) is None:
            raise ValueError(f"invalid X username {new_username!r}")
        with self._lock:
            user = self._user(username)
            if new_username.casefold() in self._by_name:
                raise ValueError(f"user {new_username!r} exists")
            del self._by_name[user.username.casefold()]
            user.username = new_username
            self._by_name[new_username.casefold()] = user.id

    def deactivate(self, username: str) -> None:
        """Close an account: its id and posts are gone (``resource-not-found``), its handle is free.

        X frees a deactivated account's handle after 30 days (help.x.com, "How to deactivate");
        the fake frees it at once so a test can re-register it.
        """
        with self._lock:
            user = self._user(username)
            del self._by_name[user.username.casefold()]
            user.deactivated = True

    def protect(self, username: str, protected: bool = True) -> None:
        """Make an account's posts protected (followers only), or public again.

        An app-only token then meets, in a 200, ``not-authorized-for-resource`` "Sorry, you are
        not authorized to see the user with id: [...]" on the timeline (tweepy issue 2070,
        redouane59/twittered issue 157); its posts leave search, lookups by id answer the same
        problem for each post; a users lookup still returns the account, with ``protected``.
        """
        with self._lock:
            self._user(username).protected = protected

    def post(
        self,
        username: str,
        text: str,
        *,
        created_at: datetime | float | None = None,
        lang: str = "en",
        reply_to: str | None = None,
        quote_of: str | None = None,
        repost_of: str | None = None,
        urls: Sequence[str] = (),
        note_text: str | None = None,
        index_delay: float | None = None,
    ) -> str:
        """Publish a post as `username`; returns its id.

        Args:
            username: the author (created with :meth:`add_user`).
            text: the post's text. URLs in it, and `urls` not in it (appended), become t.co
                links with ``entities.urls``. Empty for a repost means the real
                ``"RT @author: text"`` form, and for a long post the first 275 characters of
                `note_text` and "…".
            created_at: when it was posted (datetime or epoch seconds); default the clock.
            lang: the detected language (BCP 47), as ``lang`` reports it.
            reply_to: the id of the post this replies to.
            quote_of: the id of the post this quotes.
            repost_of: the id of the post this reposts (a retweet).
            urls: expanded URLs the post links to.
            note_text: the full text of a long post (``note_tweet.text``).
            index_delay: seconds before recent search finds it; default the fake's
                ``index_delay``. X's search answers up to ~30 s behind (its ``end_time``
                defaults to 30 s before the request), and not strictly in id order.

        Raises:
            KeyError: unknown user or referenced post.
            ValueError: a repost with a reply or quote, or an empty text.
        """
        with self._lock:
            author = self._user(username)
            refs: list[tuple[str, int]] = []
            in_reply_to: str | None = None
            conversation: int | None = None
            if repost_of is not None:
                if reply_to is not None or quote_of is not None:
                    raise ValueError("a repost cannot also reply or quote")
                original = self._live(repost_of)
                refs.append(("retweeted", original.id))
                if not text:
                    who = self._users[original.author].username
                    text = f"RT @{who}: {original.text}"
                    if len(text) > 140:
                        text = text[:139] + "…"
            if quote_of is not None:
                refs.append(("quoted", self._live(quote_of).id))
            if reply_to is not None:
                parent = self._live(reply_to)
                refs.append(("replied_to", parent.id))
                in_reply_to = parent.author
                conversation = parent.conversation_id
            if not text and note_text:
                text = note_text[:275] + "…"
            if not text:
                raise ValueError("a post needs text")
            when = self._epoch(created_at)
            tweet_id = self._new_id(when)
            full_text, links = self._linkify(text, urls)
            tweet = _Tweet(
                id=tweet_id,
                root=tweet_id,
                author=author.id,
                text=full_text,
                created_at=when,
                lang=lang,
                conversation_id=conversation or tweet_id,
                refs=tuple(refs),
                in_reply_to_user_id=in_reply_to,
                given_urls=tuple(urls),
                links=links,
                note_text=note_text,
                index_delay=self._index_delay if index_delay is None else index_delay,
            )
            self._store(tweet)
            return str(tweet_id)

    def edit(
        self,
        tweet_id: str,
        new_text: str,
        *,
        created_at: datetime | float | None = None,
        note_text: str | None = None,
    ) -> str:
        """Edit the latest version of a post; returns the new version's id.

        Every version then lists all version ids, oldest first, in ``edit_history_tweet_ids``;
        timelines and search show only the newest, lookups by id still find the older ones.

        Raises:
            KeyError: unknown or deleted post.
            ValueError: `tweet_id` is not the latest version.
        """
        with self._lock:
            old = self._live(tweet_id)
            chain = self._chains[old.root]
            if chain[-1] != old.id:
                raise ValueError(f"post {tweet_id} is not the latest version")
            when = self._epoch(created_at)
            if when - self._tweets[old.root].created_at > self._edit_window:
                raise ValueError(f"post {tweet_id} is past its edit window")
            new_id = self._new_id(when)
            full_text, links = self._linkify(new_text, old.given_urls)
            self._store(
                _Tweet(
                    id=new_id,
                    root=old.root,
                    author=old.author,
                    text=full_text,
                    created_at=when,
                    lang=old.lang,
                    conversation_id=old.conversation_id,
                    refs=old.refs,
                    in_reply_to_user_id=old.in_reply_to_user_id,
                    given_urls=old.given_urls,
                    links=links,
                    note_text=note_text if note_text is not None else old.note_text,
                )
            )
            return str(new_id)

    def delete(self, tweet_id: str) -> None:
        """Delete a post (every version of it); reposts of it vanish too.

        Raises:
            KeyError: unknown or already deleted post.
        """
        with self._lock:
            tweet = self._live(tweet_id)
            self._deleted.add(tweet.root)

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

    def set_read_cap(self, cap: int | None) -> None:
        """Change the monthly post-read cap (None: no cap)."""
        with self._lock:
            self._read_cap = cap

    # --- inspection -----------------------------------------------------------------------

    def requests(self, endpoint: Endpoint | None = None) -> int:
        """How many requests reached `endpoint` (or the server), whatever their answer."""
        with self._lock:
            if endpoint is None:
                return len(self._calls)
            return sum(1 for c in self._calls if c.endpoint == endpoint)

    def posts_read(self) -> int:
        """How many posts all answers have returned in ``data`` (includes not counted)."""
        with self._lock:
            return self._posts_read

    def billed_reads(self) -> int:
        """Post reads billed in the current billing month (what the read cap counts)."""
        with self._lock:
            return self._month_reads

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
                return 429, blank_problem(429), _rate_headers(limit, 0, reset), 0
            headers = _rate_headers(limit, limit - window.used, window.reset)
            return injected.status, blank_problem(injected.status), headers, 0
        if endpoint in _POST_READING and self._capped(now):
            capped: dict[str, Any] = {
                "account_id": 10000001,
                "product_name": "standard-basic",
                "title": "UsageCapExceeded",
                "period": "Monthly",
                "scope": "Product",
                "detail": "Usage cap exceeded: Monthly product cap",
                "type": PROBLEMS + "usage-capped",
            }
            return 429, capped, _rate_headers(limit, limit - window.used, window.reset), 0
        if window.used >= limit:
            return 429, blank_problem(429), _rate_headers(limit, 0, window.reset), 0
        window.used += 1
        headers = _rate_headers(limit, limit - window.used, window.reset)
        try:
            params = _params(request, endpoint)
            body, posts = self._ENDPOINTS[endpoint](self, params, path_arg, now)
        except Answer as answer:
            return answer.status, answer.body, headers, 0
        self._month_reads += self._billed(body, now)
        return 200, body, headers, posts

    def _billed(self, body: Mapping[str, Any], now: float) -> int:
        data = body.get("data")
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        ids = [str(t["id"]) for t in items if "text" in t]  # posts, not users
        if not self._daily_dedup:
            return len(ids)
        moment = datetime.fromtimestamp(now, UTC)
        day = (moment.year, moment.month, moment.day)
        if day != self._bill_day:
            self._bill_day, self._billed_today = day, set()
        new = [i for i in ids if i not in self._billed_today]
        self._billed_today.update(new)
        return len(new)

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

    def _capped(self, now: float) -> bool:
        moment = datetime.fromtimestamp(now, UTC)
        # the billing month starts on the reset day
        month = (moment.year, moment.month - (moment.day < self._reset_day))
        if month != self._month:
            self._month, self._month_reads = month, 0
        return self._read_cap is not None and self._month_reads >= self._read_cap

    # --- state helpers (lock held) --------------------------------------------------------

    def _user(self, username: str) -> _User:
        user_id = self._by_name.get(username.casefold())
        if user_id is None:
            raise KeyError(f"unknown user {username!r}")
        return self._users[user_id]

    def _live(self, tweet_id: str) -> _Tweet:
        tweet = self._tweets.get(int(tweet_id)) if _ID.fullmatch(tweet_id) else None
        if tweet is None or not self._exists(tweet):
            raise KeyError(f"no post {tweet_id}")
        return tweet

    def _epoch(self, created_at: datetime | float | None) -> float:
        if created_at is None:
            return self._clock()
        if isinstance(created_at, datetime):
            if created_at.tzinfo is None:
                raise ValueError("created_at must be timezone-aware")
            return created_at.timestamp()
        return float(created_at)

    def _new_id(self, when: float) -> int:
        snowflake = (int(when * 1000) - _TWEPOCH_MS) << 22
        self._last_id = max(snowflake, self._last_id + 1)
        return self._last_id

    def _linkify(self, text: str, urls: Sequence[str]) -> tuple[str, tuple[_Link, ...]]:
        found = [m.group(0) for m in _URL_IN_TEXT.finditer(text)]
        extra = [u for u in urls if u not in text]
        for url in extra:
            text = f"{text} {url}" if text else url
        links: list[_Link] = []
        out: list[str] = []
        pos = 0
        for match in _URL_IN_TEXT.finditer(text):
            expanded = match.group(0)
            if expanded not in found and expanded not in extra:
                continue
            out.append(text[pos : match.start()])
            start = sum(len(s) for s in out)
            self._tco += 1
            # Spread the counter over the alphabet so the codes look like t.co's.
            code_number = (self._tco * 2_654_435_761) % (62**10)
            code = ""
            for _ in range(10):
                code_number, digit = divmod(code_number, 62)
                code += _TCO_ALPHABET[digit]
            short = f"https://t.co/{code}"
            out.append(short)
            links.append(_Link(start, start + len(short), short, expanded, _display_url(expanded)))
            pos = match.end()
        out.append(text[pos:])
        return "".join(out), tuple(links)

    def _store(self, tweet: _Tweet) -> None:
        self._tweets[tweet.id] = tweet
        self._chains.setdefault(tweet.root, []).append(tweet.id)
        self._timelines[tweet.author].append(tweet.id)
        self._all_ids.append(tweet.id)

    def _exists(self, tweet: _Tweet) -> bool:
        """Findable by id: not deleted, author not suspended, reposted post still there."""
        author = self._users[tweet.author]
        if tweet.root in self._deleted or author.suspended or author.protected:
            return False
        if author.deactivated:
            return False
        for kind, ref in tweet.refs:
            if kind == "retweeted":
                target = self._tweets[ref]
                if target.root in self._deleted:
                    return False
        return True

    def _current(self, tweet: _Tweet) -> bool:
        """Shown in timelines and search: findable and the newest version of its post."""
        return self._chains[tweet.root][-1] == tweet.id and self._exists(tweet)

    # --- JSON -----------------------------------------------------------------------------

    def _tweet_json(self, tweet: _Tweet, fields: frozenset[str]) -> dict[str, Any]:
        chain = self._chains[tweet.root]
        out: dict[str, Any] = {
            "edit_history_tweet_ids": [str(i) for i in chain],
            "id": str(tweet.id),
            "text": tweet.text,
        }
        if "author_id" in fields:
            out["author_id"] = tweet.author
        if "created_at" in fields:
            out["created_at"] = _iso(tweet.created_at)
        if "conversation_id" in fields:
            out["conversation_id"] = str(tweet.conversation_id)
        if "lang" in fields:
            out["lang"] = tweet.lang
        if "referenced_tweets" in fields and tweet.refs:
            out["referenced_tweets"] = [{"type": k, "id": str(i)} for k, i in tweet.refs]
        if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id is not None:
            out["in_reply_to_user_id"] = tweet.in_reply_to_user_id
        if "entities" in fields:
            entities = self._entities(tweet.text, tweet.links)
            if entities:
                out["entities"] = entities
        if "note_tweet" in fields and tweet.note_text is not None:
            note: dict[str, Any] = {"text": tweet.note_text}
            note_entities = self._entities(tweet.note_text, ())
            if note_entities:
                note["entities"] = note_entities
            out["note_tweet"] = note
        if "possibly_sensitive" in fields:
            out["possibly_sensitive"] = False
        if "reply_settings" in fields:
            out["reply_settings"] = "everyone"
        if "edit_controls" in fields:
            first = self._tweets[tweet.root]
            retweet = any(k == "retweeted" for k, _ in tweet.refs)
            out["edit_controls"] = {
                "edits_remaining": max(0, 5 - (len(chain) - 1)),
                "is_edit_eligible": not retweet,
                "editable_until": _iso(first.created_at + self._edit_window),
            }
        if "public_metrics" in fields:
            out["public_metrics"] = self._metrics(tweet)
        return out

    def _metrics(self, tweet: _Tweet) -> dict[str, int]:
        counts = {"retweeted": 0, "replied_to": 0, "quoted": 0}
        versions = set(self._chains[tweet.root])
        for other in self._tweets.values():
            if self._current(other):
                for kind, ref in other.refs:
                    if ref in versions:
                        counts[kind] += 1
        return {
            "retweet_count": counts["retweeted"],
            "reply_count": counts["replied_to"],
            "like_count": 0,
            "quote_count": counts["quoted"],
            "bookmark_count": 0,
            "impression_count": 0,
        }

    def _entities(self, text: str, links: Sequence[_Link]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if links:
            out["urls"] = [
                {
                    "start": link.start,
                    "end": link.end,
                    "url": link.url,
                    "expanded_url": link.expanded_url,
                    "display_url": link.display_url,
                }
                for link in links
            ]
        mentions = []
        for match in _MENTION.finditer(text):
            mention: dict[str, Any] = {
                "start": match.start(),
                "end": match.end(),
                "username": match.group(1),
            }
            known = self._by_name.get(match.group(1).casefold())
            if known is not None:
                mention["id"] = known
            mentions.append(mention)
        if mentions:
            out["mentions"] = mentions
        hashtags = [
            {"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _HASHTAG.finditer(text)
        ]
        if hashtags:
            out["hashtags"] = hashtags
        return out

    def _user_json(self, user: _User, fields: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            out["created_at"] = _iso(user.created_at)
        if "description" in fields:
            out["description"] = user.description
        if "protected" in fields:
            out["protected"] = user.protected
        if "verified" in fields:
            out["verified"] = user.verified
        if "verified_type" in fields:
            out["verified_type"] = "blue" if user.verified else "none"
        if "profile_image_url" in fields:
            out["profile_image_url"] = (
                "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
            )
        if "most_recent_tweet_id" in fields:
            latest = self._latest(user.id)
            if latest is not None:
                out["most_recent_tweet_id"] = str(latest.id)
        if "public_metrics" in fields:
            out["public_metrics"] = {
                "followers_count": 0,
                "following_count": 0,
                "tweet_count": sum(1 for _ in self._visible_timeline(user.id)),
                "listed_count": 0,
                "like_count": 0,
                "media_count": 0,
            }
        return out

    def _latest(self, user_id: str) -> _Tweet | None:
        return next(self._visible_timeline(user_id), None)

    def _visible_timeline(self, user_id: str) -> Iterator[_Tweet]:
        """The user's current posts, newest first."""
        for tweet_id in reversed(self._timelines[user_id]):
            tweet = self._tweets[tweet_id]
            if self._current(tweet):
                yield tweet

    def _envelope(
        self,
        data: Sequence[_Tweet] | None,
        params: _Params,
        errors: list[dict[str, Any]],
        *,
        users: Sequence[_User] = (),
    ) -> dict[str, Any]:
        """``data``, ``includes`` and ``errors`` for posts (or for `users`)."""
        tweet_fields = params.fields("tweet.fields")
        user_fields = params.fields("user.fields")
        expansions = params.fields("expansions")
        body: dict[str, Any] = {}
        inc_users: dict[str, _User] = {}
        inc_tweets: dict[int, _Tweet] = {}

        def add_user(user_id: str | None) -> None:
            if user_id is not None and user_id in self._users:
                user = self._users[user_id]
                if not user.suspended and not user.deactivated:
                    inc_users.setdefault(user_id, user)

        if data is not None:
            for tweet in data:
                if "author_id" in expansions:
                    add_user(tweet.author)
                if "in_reply_to_user_id" in expansions:
                    add_user(tweet.in_reply_to_user_id)
                if "entities.mentions.username" in expansions:
                    for match in _MENTION.finditer(tweet.text):
                        add_user(self._by_name.get(match.group(1).casefold()))
                if "edit_history_tweet_ids" in expansions:
                    for version in self._chains[tweet.root]:
                        if version != tweet.id:
                            inc_tweets.setdefault(version, self._tweets[version])
                if "referenced_tweets.id" in expansions or (
                    "referenced_tweets.id.author_id" in expansions
                ):
                    for _kind, ref in tweet.refs:
                        target = self._tweets[ref]
                        if not self._exists(target):
                            errors.append(
                                not_found(
                                    "tweet",
                                    "referenced_tweets.id",
                                    str(ref),
                                    f"Could not find tweet with referenced_tweets.id: [{ref}].",
                                )
                            )
                            continue
                        if "referenced_tweets.id" in expansions:
                            inc_tweets.setdefault(ref, target)
                        if "referenced_tweets.id.author_id" in expansions:
                            add_user(target.author)
            if data:
                body["data"] = [self._tweet_json(t, tweet_fields) for t in data]
        else:
            for user in users:
                if "most_recent_tweet_id" in expansions:
                    latest = self._latest(user.id)
                    if latest is not None:
                        inc_tweets.setdefault(latest.id, latest)
            if users:
                body["data"] = [self._user_json(u, user_fields) for u in users]
        includes: dict[str, Any] = {}
        if inc_users:
            includes["users"] = [self._user_json(u, user_fields) for u in inc_users.values()]
        if inc_tweets:
            includes["tweets"] = [self._tweet_json(t, tweet_fields) for t in inc_tweets.values()]
        if includes:
            body["includes"] = includes
        if errors:
            body["errors"] = errors
        return body

    # --- endpoints (lock held) ------------------------------------------------------------

    def _users_by(self, params: _Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        names = params.id_list("usernames", _USERNAME, _USERNAME_PATTERN)
        found: list[_User] = []
        errors: list[dict[str, Any]] = []
        for name in names:
            user_id = self._by_name.get(name.casefold())
            if user_id is None:
                errors.append(not_found("user", "usernames", name))
            elif self._users[user_id].suspended:
                errors.append(suspended("usernames", name))
            else:
                found.append(self._users[user_id])
        return self._envelope(None, params, errors, users=found), 0

    def _users_by_ids(self, params: _Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        """``GET /2/users?ids=``: accounts by numeric id, whatever their handle is now."""
        ids = params.id_list("ids", _ID, _ID_PATTERN)
        found: list[_User] = []
        errors: list[dict[str, Any]] = []
        for user_id in ids:
            user = self._users.get(user_id)
            if user is None or user.deactivated:
                errors.append(not_found("user", "ids", user_id))
            elif user.suspended:
                errors.append(suspended("ids", user_id))
            else:
                found.append(user)
        return self._envelope(None, params, errors, users=found), 0

    def _user_by_username(
        self, params: _Params, name: str, _now: float
    ) -> tuple[dict[str, Any], int]:
        if _USERNAME.fullmatch(name) is None:
            raise invalid(
                "username",
                name,
                f"The `username` query parameter value [{name}] does not match {_USERNAME_PATTERN}",
            )
        user_id = self._by_name.get(name.casefold())
        if user_id is None:
            return {"errors": [not_found("user", "username", name)]}, 0
        user = self._users[user_id]
        if user.suspended:
            return {"errors": [suspended("username", name)]}, 0
        body = self._envelope(None, params, [], users=[user])
        body["data"] = body["data"][0]
        return body, 0

    def _user_tweets(
        self, params: _Params, user_id: str, _now: float
    ) -> tuple[dict[str, Any], int]:
        if _ID.fullmatch(user_id) is None:
            raise invalid(
                "id",
                user_id,
                f"The `id` query parameter value [{user_id}] does not match {_ID_PATTERN}",
            )
        max_results = params.integer("max_results", 5, 100, 10)
        since_id = params.tweet_id("since_id")
        until_id = params.tweet_id("until_id")
        start, end = params.time("start_time"), params.time("end_time")
        exclude = params.fields("exclude")
        token = params.get("pagination_token")
        user = self._users.get(user_id)
        if user is None or user.deactivated:
            return {"errors": [not_found("user", "id", user_id)]}, 0
        if user.suspended:
            return {"errors": [suspended("id", user_id)]}, 0
        if user.protected:
            return {"errors": [not_authorized("user", "id", user_id)]}, 0
        reachable = list(self._visible_timeline(user_id))[:TIMELINE_DEPTH]

        def keep(tweet: _Tweet) -> bool:
            kinds = {k for k, _ in tweet.refs}
            if ("retweets" in exclude and "retweeted" in kinds) or (
                "replies" in exclude and "replied_to" in kinds
            ):
                return False
            return _in_range(tweet, since_id, until_id, start, end)

        matching = [t for t in reachable if keep(t)]
        page, meta = _paginate(
            matching, self._size(max_results), token, Endpoint.USER_TWEETS, "pagination_token"
        )
        body = self._envelope(page, params, [])
        body["meta"] = meta
        return body, len(page)

    def _search_recent(self, params: _Params, _arg: str, now: float) -> tuple[dict[str, Any], int]:
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
                f"after {_iso(oldest_allowed)[:16]}Z",
            )
        if since_id is not None and _snowflake_time(since_id) < oldest_allowed:
            raise invalid(
                "since_id",
                str(since_id),
                f"Invalid 'since_id':'{since_id}'. 'since_id' must be a tweet id created after "
                f"{_iso(oldest_allowed)[:16]}Z",
            )
        token = params.get("next_token") or params.get("pagination_token")
        authors = candidate_authors(tree)
        if authors is None:
            pool = self._all_ids
        else:
            ids = [a if a in self._users else self._by_name.get(a) for a in authors]
            pool = sorted(i for uid in ids if uid is not None for i in self._timelines[uid])
        start_at = bisect.bisect_right(pool, since_id) if since_id is not None else 0
        matching = []
        for tweet_id in reversed(pool[start_at:]):
            tweet = self._tweets[tweet_id]
            if tweet.created_at < oldest_allowed or not self._current(tweet):
                continue
            if tweet.created_at + tweet.index_delay > now:
                continue  # not indexed yet
            if not self._search_reposts and any(k == "retweeted" for k, _ in tweet.refs):
                continue
            if _in_range(tweet, since_id, until_id, start, end) and self._matches(tree, tweet):
                matching.append(tweet)
        page, meta = _paginate(
            matching, self._size(max_results), token, Endpoint.SEARCH_RECENT, "next_token"
        )
        meta.pop("previous_token", None)
        body = self._envelope(page, params, [])
        body["meta"] = meta
        return body, len(page)

    def _size(self, max_results: int) -> int:
        return max_results if self._page_cap is None else min(max_results, self._page_cap)

    def _matches(self, node: Node, tweet: _Tweet) -> bool:
        if isinstance(node, Or):
            return any(self._matches(p, tweet) for p in node.parts)
        if isinstance(node, And):
            return all(self._matches(p, tweet) for p in node.parts)
        if isinstance(node, Not):
            return not self._matches(node.inner, tweet)
        kinds = {k for k, _ in tweet.refs}
        if node.kind == "from":
            # X takes a handle or a numeric user id after from: (docs.x.com, "Build a query").
            author = self._users[tweet.author]
            return node.value in (author.username.casefold(), author.id)
        if node.kind == "is":
            wanted = {"retweet": "retweeted", "reply": "replied_to", "quote": "quoted"}[node.value]
            return wanted in kinds
        if node.kind == "lang":
            return tweet.lang == node.value
        haystack = (tweet.note_text or tweet.text).casefold()
        haystack += " " + " ".join(link.expanded_url.casefold() for link in tweet.links)
        return node.value in haystack

    def _tweets_lookup(self, params: _Params, _arg: str, _now: float) -> tuple[dict[str, Any], int]:
        ids = params.id_list("ids", _ID, _ID_PATTERN)
        found: list[_Tweet] = []
        errors: list[dict[str, Any]] = []
        for tweet_id in ids:
            tweet = self._tweets.get(int(tweet_id))
            if (
                tweet is not None
                and tweet.root not in self._deleted
                and (self._users[tweet.author].protected)
            ):
                errors.append(not_authorized("Tweet", "ids", tweet_id))
            elif tweet is None or not self._exists(tweet):
                errors.append(not_found("tweet", "ids", tweet_id))
            else:
                found.append(tweet)
        return self._envelope(found, params, errors), len(found)

    def _tweet_lookup(
        self, params: _Params, tweet_id: str, _now: float
    ) -> tuple[dict[str, Any], int]:
        if _ID.fullmatch(tweet_id) is None:
            raise invalid(
                "id",
                tweet_id,
                f"The `id` query parameter value [{tweet_id}] does not match {_ID_PATTERN}",
            )
        tweet = self._tweets.get(int(tweet_id))
        if tweet is None or not self._exists(tweet):
            return {"errors": [not_found("tweet", "id", tweet_id)]}, 0
        body = self._envelope([tweet], params, [])
        body["data"] = body["data"][0]
        return body, 1

    _ENDPOINTS: Mapping[
        Endpoint, Callable[[FakeX, _Params, str, float], tuple[dict[str, Any], int]]
    ] = {
        Endpoint.USERS_BY: _users_by,
        Endpoint.USERS: _users_by_ids,
        Endpoint.USER_BY_USERNAME: _user_by_username,
        Endpoint.USER_TWEETS: _user_tweets,
        Endpoint.SEARCH_RECENT: _search_recent,
        Endpoint.TWEETS: _tweets_lookup,
        Endpoint.TWEET: _tweet_lookup,
    }


def _rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    return [
        ("x-access-level", "read"),
        ("x-rate-limit-limit", str(limit)),
        ("x-rate-limit-remaining", str(max(0, remaining))),
        ("x-rate-limit-reset", str(reset)),
    ]


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
    tweet: _Tweet,
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


def _paginate(
    matching: Sequence[_Tweet], size: int, token: str | None, endpoint: Endpoint, name: str
) -> tuple[list[_Tweet], dict[str, Any]]:
    """One page of `matching` (newest first) and its ``meta``, from a pagination token."""
    prefix = _TOKEN_PREFIX[endpoint]
    if token is None:
        page = list(matching[:size])
    else:
        direction, bound = _decode_token(token, prefix, name)
        if direction == "n":
            older = [t for t in matching if t.id < bound]
            page = older[:size]
        else:
            newer = [t for t in matching if t.id > bound]
            page = newer[-size:]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta["newest_id"] = str(page[0].id)
        meta["oldest_id"] = str(page[-1].id)
        if any(t.id < page[-1].id for t in matching):
            meta["next_token"] = f"{prefix}n{_base36(page[-1].id)}"
        if token is not None and any(t.id > page[0].id for t in matching):
            meta["previous_token"] = f"{prefix}p{_base36(page[0].id)}"
    return page, meta


def _decode_token(token: str, prefix: str, name: str) -> tuple[str, int]:
    rest = token[len(prefix) :] if token.startswith(prefix) else ""
    if len(rest) >= 2 and rest[0] in "np":
        try:
            return rest[0], int(rest[1:], 36)
        except ValueError:
            pass
    raise invalid(name, token, f"The `{name}` query parameter value [{token}] is not valid")


@dataclass
class _Params:
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def fields(self, name: str) -> frozenset[str]:
        raw = self.values.get(name)
        return frozenset(raw.split(",")) if raw is not None else frozenset()

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        raw = self.values.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?[0-9]+", raw):
            raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not a number")
        value = int(raw)
        if not low <= value <= high:
            raise invalid(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] is not between {low} and {high}",
            )
        return value

    def tweet_id(self, name: str) -> int | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        if _ID.fullmatch(raw) is None:
            raise invalid(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] does not match {_ID_PATTERN}",
            )
        return int(raw)

    def time(self, name: str) -> float | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise invalid(
                name, raw, f"The `{name}` query parameter value [{raw}] is not a valid RFC3339 date"
            )
        return moment.timestamp()

    def id_list(self, name: str, pattern: re.Pattern[str], shown: str) -> list[str]:
        raw = self.values.get(name)
        if raw is None:
            raise invalid(name, "", f"The `{name}` query parameter can not be empty")
        values = raw.split(",")
        if not 1 <= len(values) <= 100:
            raise invalid(
                name,
                raw,
                f"The number of values in the `{name}` query parameter list [{len(values)}] is "
                "not between 1 and 100",
            )
        for value in values:
            if pattern.fullmatch(value) is None:
                raise invalid(
                    name,
                    value,
                    f"The `{name}` query parameter value [{value}] does not match {shown}",
                )
        return values


def _params(request: Request, endpoint: Endpoint) -> _Params:
    allowed = _ALLOWED[endpoint]
    values: dict[str, str] = {}
    for name, given in request.query.items():
        if name not in allowed:
            raise invalid(
                name,
                given[-1] if given else "",
                f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]",
            )
        values[name] = given[-1]
    for name, choices in _LIST_PARAMS.items():
        if name in values:
            for item in values[name].split(","):
                if item not in choices:
                    raise invalid(
                        name,
                        item,
                        f"The `{name}` query parameter value [{item}] is not one of "
                        f"[{','.join(sorted(choices))}]",
                    )
    if "expansions" in values:
        choices = (
            _USER_EXPANSIONS
            if endpoint in (Endpoint.USERS_BY, Endpoint.USER_BY_USERNAME)
            else _TWEET_EXPANSIONS
        )
        for item in values["expansions"].split(","):
            if item not in choices:
                raise invalid(
                    "expansions",
                    item,
                    f"The `expansions` query parameter value [{item}] is not one of "
                    f"[{','.join(sorted(choices))}]",
                )
    return _Params(values)
