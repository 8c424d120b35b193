"""The state behind the fake X API: accounts, posts, renames, suspensions, the clock, billing.

As X behaves today (issue 8): an account keeps its id when renamed (:meth:`XWorld.rename`) and its
freed handle may be registered by someone else; suspended, protected (:meth:`XWorld.protect`) and
deactivated (:meth:`XWorld.deactivate`) accounts hide their posts; posts may be edited for 30
minutes; a post is billed once per UTC day (``daily_dedup``) against a cap that resets on
``reset_day``. Thread-safe: every change holds the lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.fakes.x_params import ID, USERNAME

__all__ = ["TWEPOCH_MS", "Link", "Tweet", "User", "XWorld", "snowflake_time"]

TWEPOCH_MS = 1288834974657
_URL_IN_TEXT = re.compile(r"https?://[^\s]+")
_TCO_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(slots=True)
class User:
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
class Link:
    start: int
    end: int
    url: str
    expanded_url: str
    display_url: str


@dataclass(slots=True)
class Tweet:
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
    links: tuple[Link, ...]
    note_text: str | None
    #: seconds after `created_at` before recent search finds it (X indexes in ~30 s)
    index_delay: float = 0.0


def snowflake_time(tweet_id: int) -> float:
    return ((tweet_id >> 22) + TWEPOCH_MS) / 1000


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


class XWorld:
    """Accounts and posts of a fake X, its clock, and the post reads billed; thread-safe.

    Args:
        clock: seconds since the epoch; post times and the read cap's month.
        read_cap: posts that may be read (returned in ``data``) per billing month (UTC); None
            for no cap.
        index_delay: seconds between a post's creation and recent search finding it.
        daily_dedup: bill a post returned several times in one UTC day once.
        reset_day: the day of the month the read cap resets (the plan's billing day).
        edit_window: seconds after posting during which a post may be edited.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        read_cap: int | None = None,
        index_delay: float = 0.0,
        daily_dedup: bool = False,
        reset_day: int = 1,
        edit_window: float = 1800.0,
    ) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.edit_window = edit_window
        self._index_delay = index_delay
        self.users: dict[str, User] = {}
        self.by_name: dict[str, str] = {}
        self.tweets: dict[int, Tweet] = {}
        self.chains: dict[int, list[int]] = {}
        self.deleted: set[int] = set()
        #: per author, every version id ascending (ids only grow)
        self.timelines: dict[str, list[int]] = {}
        self.all_ids: list[int] = []
        self._last_id = 0
        self._next_user = 1_000_000_000
        self._tco = 0
        # billing
        self._read_cap = read_cap
        self._daily_dedup = daily_dedup
        self._reset_day = reset_day
        self._bill_day: tuple[int, int, int] | None = None
        self._billed_today: set[str] = set()
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
        if USERNAME.fullmatch(username) is None:
            raise ValueError(f"invalid X username {username!r}")
        with self._lock:
            key = username.casefold()
            if key in self.by_name:
                raise ValueError(f"user {username!r} exists")
            if id is None:
                self._next_user += 1
                id = str(self._next_user)
            if ID.fullmatch(id) is None or id in self.users:
                raise ValueError(f"bad or taken user id {id!r}")
            created = self._clock() - 365 * 24 * 3600
            self.users[id] = User(id, username, name or username, created, description, verified)
            self.by_name[key] = id
            self.timelines[id] = []
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
        if USERNAME.fullmatch(new_username) is None:
            raise ValueError(f"invalid X username {new_username!r}")
        with self._lock:
            user = self._user(username)
            if new_username.casefold() in self.by_name:
                raise ValueError(f"user {new_username!r} exists")
            del self.by_name[user.username.casefold()]
            user.username = new_username
            self.by_name[new_username.casefold()] = user.id

    def deactivate(self, username: str) -> None:
        """Close an account: its id and posts are gone (``resource-not-found``), its handle is free.

        X frees a deactivated account's handle after 30 days (help.x.com, "How to deactivate");
        the fake frees it at once so a test can re-register it.
        """
        with self._lock:
            user = self._user(username)
            del self.by_name[user.username.casefold()]
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
                    who = self.users[original.author].username
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
            tweet = Tweet(
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
            chain = self.chains[old.root]
            if chain[-1] != old.id:
                raise ValueError(f"post {tweet_id} is not the latest version")
            when = self._epoch(created_at)
            if when - self.tweets[old.root].created_at > self.edit_window:
                raise ValueError(f"post {tweet_id} is past its edit window")
            new_id = self._new_id(when)
            full_text, links = self._linkify(new_text, old.given_urls)
            self._store(
                Tweet(
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
            self.deleted.add(tweet.root)

    # --- billing: post reads against the monthly cap ----------------------------------------

    def set_read_cap(self, cap: int | None) -> None:
        """Change the monthly post-read cap (None: no cap)."""
        with self._lock:
            self._read_cap = cap

    def posts_read(self) -> int:
        """How many posts all answers have returned in ``data`` (includes not counted)."""
        with self._lock:
            return self._posts_read

    def billed_reads(self) -> int:
        """Post reads billed in the current billing month (what the read cap counts)."""
        with self._lock:
            return self._month_reads

    def bill(self, body: Mapping[str, Any], now: float) -> None:
        """Bill the posts of an answer's ``data`` to the month (users are not post reads)."""
        self._month_reads += self._billed(body, now)

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

    def capped(self, now: float) -> bool:
        """Whether the month's billed reads have reached the read cap (a new month starts at 0)."""
        moment = datetime.fromtimestamp(now, UTC)
        # the billing month starts on the reset day
        month = (moment.year, moment.month - (moment.day < self._reset_day))
        if month != self._month:
            self._month, self._month_reads = month, 0
        return self._read_cap is not None and self._month_reads >= self._read_cap

    # --- state helpers (lock held) --------------------------------------------------------

    def _user(self, username: str) -> User:
        user_id = self.by_name.get(username.casefold())
        if user_id is None:
            raise KeyError(f"unknown user {username!r}")
        return self.users[user_id]

    def _live(self, tweet_id: str) -> Tweet:
        tweet = self.tweets.get(int(tweet_id)) if ID.fullmatch(tweet_id) else None
        if tweet is None or not self.exists(tweet):
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
        snowflake = (int(when * 1000) - TWEPOCH_MS) << 22
        self._last_id = max(snowflake, self._last_id + 1)
        return self._last_id

    def _linkify(self, text: str, urls: Sequence[str]) -> tuple[str, tuple[Link, ...]]:
        found = [m.group(0) for m in _URL_IN_TEXT.finditer(text)]
        extra = [u for u in urls if u not in text]
        for url in extra:
            text = f"{text} {url}" if text else url
        links: list[Link] = []
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
            links.append(Link(start, start + len(short), short, expanded, _display_url(expanded)))
            pos = match.end()
        out.append(text[pos:])
        return "".join(out), tuple(links)

    def _store(self, tweet: Tweet) -> None:
        self.tweets[tweet.id] = tweet
        self.chains.setdefault(tweet.root, []).append(tweet.id)
        self.timelines[tweet.author].append(tweet.id)
        self.all_ids.append(tweet.id)

    def exists(self, tweet: Tweet) -> bool:
        """Findable by id: not deleted, author not suspended, reposted post still there."""
        author = self.users[tweet.author]
        if tweet.root in self.deleted or author.suspended or author.protected:
            return False
        if author.deactivated:
            return False
        for kind, ref in tweet.refs:
            if kind == "retweeted":
                target = self.tweets[ref]
                if target.root in self.deleted:
                    return False
        return True

    def current(self, tweet: Tweet) -> bool:
        """Shown in timelines and search: findable and the newest version of its post."""
        return self.chains[tweet.root][-1] == tweet.id and self.exists(tweet)

    def latest(self, user_id: str) -> Tweet | None:
        """The user's newest current post."""
        return next(self.visible_timeline(user_id), None)

    def visible_timeline(self, user_id: str) -> Iterator[Tweet]:
        """The user's current posts, newest first."""
        for tweet_id in reversed(self.timelines[user_id]):
            tweet = self.tweets[tweet_id]
            if self.current(tweet):
                yield tweet
