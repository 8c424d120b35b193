"""Core domain values: who speaks, where, what was said, why it matters, where it goes.

Frozen, slotted dataclasses with UTC-aware datetimes and tuples, never lists. Imports nothing of
ours, and nothing outside the standard library. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum

__all__ = [
    "NO_COST",
    "AlertForDelivery",
    "AlertKind",
    "AlertStatus",
    "CachingInfo",
    "Channel",
    "Cost",
    "EditPolicy",
    "FetchResult",
    "FetchedItem",
    "Match",
    "MatchMode",
    "MatchedTerm",
    "PollOutcome",
    "PostWindow",
    "Priority",
    "Reference",
    "SourceForPoll",
    "SourceKind",
    "SourceSpec",
    "SourceStatus",
    "Speaker",
    "StatementKind",
    "StatementToStore",
    "StoreResult",
    "StoredStatement",
    "StoredVersion",
    "Term",
    "Threads",
    "Topic",
    "Watchlist",
]


class SourceKind(StrEnum):
    """Where a source publishes."""

    FEED = "feed"  #: RSS 0.9x/1.0/2.0, Atom or JSON Feed over HTTP
    X = "x"  #: an X (Twitter) account
    TELEGRAM = "telegram"  #: a public Telegram channel, read from its web preview


class MatchMode(StrEnum):
    """Which statements of a source alert."""

    TOPICS = "topics"  #: only those matching a topic
    ALL = "all"  #: every statement


class Priority(StrEnum):
    """How loudly an alert arrives."""

    URGENT = "urgent"
    NORMAL = "normal"
    LOW = "low"


class AlertKind(StrEnum):
    """What an outbox row announces."""

    NEW = "new"  #: a new statement
    EDIT = "edit"  #: a new version of an alerted statement (a reply to its alert)
    DELETE = "delete"  #: an alerted statement was deleted (a reply to its alert)
    ALSO = "also"  #: the statement was published elsewhere too (edits its alert)
    THREAD = "thread"  #: the speaker continued the thread (edits the first post's alert)
    DIGEST = "digest"  #: low-priority statements gathered for a channel's digest


class AlertStatus(StrEnum):
    """Where an outbox row stands; stored as its value (a plain string column).

    Only SENT means Telegram accepted the message. SHOWN is what console mode did: printed,
    never sent, and never sent later unless the operator asks (`watchpost alerts resend`).
    """

    PENDING = "pending"  #: waiting to be sent (or for its next attempt)
    SENT = "sent"  #: Telegram confirmed it, with a message id
    FAILED = "failed"  #: refused for good, or attempts exhausted; kept for the operator
    SHOWN = "shown"  #: printed on the console by a worker without a Bot API token


class StatementKind(StrEnum):
    """What kind of publication a statement is."""

    POST = "post"
    REPLY = "reply"
    QUOTE = "quote"
    REPOST = "repost"


# --- the watchlist, as operators write it ---------------------------------------------------


class EditPolicy(StrEnum):
    """What a changed item of a source does (watchlist: ``edits:``)."""

    #: a reply to the first alert shows the word diff
    ALERT = "alert"
    #: the new version is kept as evidence, nobody is told
    STORE = "store"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One place a speaker publishes, as configured."""

    #: stable identity across restarts and config reordering: "feed:<url>" or "x:<handle>"
    key: str
    kind: SourceKind
    #: the feed URL, or the X handle without "@"
    target: str
    speaker_id: str
    #: None = the settings' default interval
    interval: timedelta | None = None
    match: MatchMode = MatchMode.TOPICS
    #: how many existing items alert on the first poll (0: none, the rest are stored as seen)
    backfill_alerts: int = 0
    edits: EditPolicy = EditPolicy.ALERT


@dataclass(frozen=True, slots=True)
class Speaker:
    """A person or office that makes statements."""

    id: str
    name: str
    role: str
    side: str
    #: IANA zone name, for local times in alerts
    timezone: str
    sources: tuple[SourceSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Term:
    """One search term of a topic, in one language."""

    text: str
    #: language code as written in the watchlist ("en", "hy", ...), "" if not given
    lang: str = ""
    #: a trailing "*" in the watchlist: the word may have any ending
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Topic:
    """A named set of terms that makes a statement relevant."""

    id: str
    name: str
    terms: tuple[Term, ...]
    exclude: tuple[Term, ...] = ()
    priority: Priority = Priority.NORMAL
    #: all-of groups: each group is a set of alternatives, and every group must occur too
    #: (e.g. "ceasefire" only together with a party named)
    require: tuple[tuple[Term, ...], ...] = ()
    #: also match Cyrillic↔Latin transliterations of the terms
    transliterate: bool = False


@dataclass(frozen=True, slots=True)
class Threads:
    """A forum chat's topics (message_thread_id) by watchlist topic and by speaker's side."""

    #: (topic id, thread id), tried first, in watchlist order of the topics
    topics: tuple[tuple[str, int], ...] = ()
    #: (side, thread id)
    sides: tuple[tuple[str, int], ...] = ()
    #: for an alert no topic or side names (None: the chat's general topic)
    default: int | None = None


@dataclass(frozen=True, slots=True)
class Channel:
    """A Telegram chat that receives alerts."""

    id: str
    #: "@channelname" or a numeric chat id as text
    chat: str
    #: None = every topic
    topics: tuple[str, ...] | None = None
    #: IANA zone for quiet hours and the digest time
    timezone: str = "UTC"
    #: (start, end) local times: non-urgent alerts arrive silently in between (may wrap midnight)
    quiet_hours: tuple[time, time] | None = None
    #: local time of a daily digest that gathers this channel's low-priority alerts
    digest_at: time | None = None
    #: issue 11: which forum topic (message_thread_id) of the chat an alert goes to
    threads: Threads | None = None
    #: issue 11: send a statement's photos with the alert as caption
    media: bool = False


@dataclass(frozen=True, slots=True)
class Watchlist:
    """The operators' whole configuration: speakers with their sources, topics, channels."""

    speakers: tuple[Speaker, ...]
    topics: tuple[Topic, ...]
    channels: tuple[Channel, ...]
    #: the file it was read from, for messages
    path: str = ""
    #: `bot.reload.content_digest` of the bytes it was read from, when read from a file: the
    #: hot reload's first tick knows the file unchanged without parsing it again (issue 9)
    digest: str | None = field(default=None, compare=False)

    def sources(self) -> tuple[SourceSpec, ...]:
        """Every configured source, in file order."""
        return tuple(s for sp in self.speakers for s in sp.sources)

    def speaker(self, speaker_id: str) -> Speaker | None:
        """The speaker with this id, or None."""
        for sp in self.speakers:
            if sp.id == speaker_id:
                return sp
        return None

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, or None."""
        for t in self.topics:
            if t.id == topic_id:
                return t
        return None

    def channel(self, channel_id: str) -> Channel | None:
        """The channel with this id, or None."""
        for c in self.channels:
            if c.id == channel_id:
                return c
        return None


# --- what sources give ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """Another statement this one answers, quotes or reposts."""

    #: "replied_to", "quoted" or "retweeted" (the X API's words); "forwarded" (a Telegram
    #: forward: `external_id` is "channel/number" of the original when the preview names it)
    type: str
    external_id: str
    author: str | None = None
    text: str = ""
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FetchedItem:
    """One statement as a source adapter produced it, normalized but not yet matched or stored."""

    #: stable per source: guid/id, else link, else a hash of title+date
    external_id: str
    title: str
    #: plain text: HTML stripped, entities decoded, whitespace folded
    text: str
    url: str | None
    published_at: datetime
    #: True when the source gave no date and published_at is the fetch time
    published_estimated: bool = False
    language: str | None = None
    #: the item as fetched (JSON text), kept as evidence
    raw: str = ""
    kind: StatementKind = StatementKind.POST
    #: the account or byline that published it, when the source says (an X handle)
    author: str | None = None
    references: tuple[Reference, ...] = ()
    #: the thread it belongs to (X conversation_id)
    thread_id: str | None = None
    #: this version's own id when `external_id` names the first version (X edits)
    version_id: str | None = None
    #: issue 11: the URLs of its photos, in order (an album has several)
    photos: tuple[str, ...] = ()
    #: issue 9: the item as published, hashed with its context (`bot.unchanged.item_digest`),
    #: when the parser can tell; None: never skipped as unchanged
    digest: bytes | None = None


@dataclass(frozen=True, slots=True)
class CachingInfo:
    """What the next conditional request sends back to the server."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class PostWindow:
    """The run of numbered posts a fetch saw, for telling deletions apart (Telegram previews)."""

    #: the lowest and highest post numbers shown
    low: int
    high: int
    #: every number shown in any form (posts, album items, service messages, hidden posts)
    present: frozenset[int]
    #: the publication time of the oldest post shown: nothing older is in the window
    since: datetime


@dataclass(frozen=True, slots=True)
class Cost:
    """What a call cost on a metered API: requests sent and posts read (a failed call too)."""

    requests: int = 0
    reads: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.requests + other.requests, self.reads + other.reads)

    def __bool__(self) -> bool:
        return bool(self.requests or self.reads)


#: nothing spent (a free source, or a call that sent no request)
NO_COST = Cost()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of one source returned, from an adapter."""

    items: tuple[FetchedItem, ...]
    caching: CachingInfo = CachingInfo()
    #: True for 304 Not Modified: nothing was parsed
    not_modified: bool = False
    #: adapter-specific position (an X since_id); None keeps the stored one
    cursor: str | None = None
    fetched_at: datetime | None = None
    #: non-fatal problems worth a log line (a bozo feed that still gave entries)
    warnings: tuple[str, ...] = ()
    #: the platform's id for the target, when the fetch resolved it
    remote_id: str | None = None
    #: what the fetch cost on a metered API: requests made and posts read
    cost: Cost = NO_COST
    #: the posts this fetch saw in full, when the source numbers its posts (Telegram)
    window: PostWindow | None = None
    #: issue 9: settled items the fetch did not read again (digest → id; `bot.unchanged`)
    unchanged: Mapping[bytes, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.cost.requests

    @property
    def reads(self) -> int:
        return self.cost.reads


@dataclass(frozen=True, slots=True)
class SourceForPoll:
    """Poll-relevant state of one source, from storage."""

    key: str
    kind: SourceKind
    target: str
    caching: CachingInfo
    cursor: str | None
    failures: int
    #: False until the first successful poll: its items are stored as seen, not alerted
    primed: bool
    #: the platform's id for the target (an X user id), once resolved
    remote_id: str | None = None
    #: issue 9: what the last stored poll settled, as stored (`bot.unchanged.encode`)
    settled: bytes | None = field(default=None, compare=False)
    #: issue 9: items the fetcher need not read again (digest → id): `settled`, decoded by
    #: the poller when it still applies (`bot.unchanged.decode`)
    seen_items: Mapping[bytes, str] = field(default_factory=dict, compare=False)
    #: when the source came due (its next poll as stored): how late its poll starts
    due_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll attempt did, to storage and logs, whatever the outcome."""

    source_key: str
    new_statements: int = 0
    duplicates: int = 0
    alerts: int = 0
    not_modified: bool = False
    error: str | None = None
    #: ids of the statements this poll stored that are not repeats
    statement_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One row of `watchpost sources`, from storage."""

    key: str
    kind: SourceKind
    speaker_id: str
    last_success_at: datetime | None
    last_error: str | None
    failures: int
    next_poll_at: datetime | None
    statements: int
    #: the adapter's position (a Telegram channel's highest post number)
    cursor: str | None = None
    #: when the newest stored statement was published
    last_published_at: datetime | None = None
    #: when the publisher said it is gone for good (HTTP 410); no longer polled
    gone_at: datetime | None = None
    #: why the last poll failed, as a `bot.errors.SourceProblem` value (None: not classified)
    last_problem: str | None = None


# --- why it matters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchedTerm:
    """One occurrence of a topic term in a statement."""

    #: the term as the watchlist writes it (with "*" if a prefix term)
    term: str
    #: the text as the statement writes it
    found: str
    #: where in the text searched (title + "\n" + text), in code points
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """A statement is relevant to one topic, and why."""

    topic_id: str
    terms: tuple[MatchedTerm, ...] = ()


# --- stored, and bound for a channel --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredStatement:
    """A statement as storage keeps it."""

    id: int
    source_key: str
    speaker_id: str
    external_id: str
    title: str
    text: str
    url: str | None
    published_at: datetime
    fetched_at: datetime
    language: str | None
    matches: tuple[Match, ...] = ()
    kind: StatementKind = StatementKind.POST
    author: str | None = None
    references: tuple[Reference, ...] = ()
    thread_id: str | None = None
    deleted_at: datetime | None = None
    #: no date in the source: `published_at` is when Watchpost first saw it
    published_estimated: bool = False
    #: set when this statement repeats an earlier one
    duplicate_of: int | None = None
    #: issue 11: the URLs of its photos, in order
    photos: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A later version of a statement (an edit), from storage."""

    id: int
    statement_id: int
    version_id: str | None
    title: str
    text: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class AlertForDelivery:
    """One pending outbox row with what rendering needs, from storage."""

    id: int
    channel_id: str
    chat: str
    kind: AlertKind
    attempts: int
    statement: StoredStatement
    created_at: datetime
    #: the alert this one answers or rewrites, and its Telegram message (None: not sent)
    parent_id: int | None = None
    parent_message_id: str | None = None
    #: what the alert is about besides its statement: the version (edit) or other statement
    subject_id: int | None = None
    #: why the last attempt did not deliver it (None: first attempt, or cleared)
    last_error: str | None = None
    #: issue 11: the forum topic (message_thread_id) the parent alert was posted in
    parent_thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class StatementToStore:
    """A fetched item that matters, with where it must go: from the pipeline to storage."""

    item: FetchedItem
    speaker_id: str
    canonical_url: str | None
    #: hash of the normalized title and text
    content_hash: str
    #: whether an identical text elsewhere makes this a repeat (too short a text proves nothing)
    check_repeat: bool
    matches: tuple[Match, ...]
    #: channels to alert; empty: stored as seen (a first poll, or routed nowhere)
    channels: tuple[str, ...]
    #: 64-bit SimHash (signed) of the normalized text, for near-duplicates
    simhash: int | None = None
    #: stored statements the near-duplicate index found close to this one, oldest first
    near: tuple[int, ...] = ()
    #: `bot.dedup.numbers` of the text, when it has a fingerprint (the index keeps them)
    numbers: tuple[str, ...] | None = None
    #: whether a new version of this statement alerts (X edits do; feed rewordings do not)
    alert_edits: bool = False
    #: channels that gather it in their digest instead, with the digest's time
    digest: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one poll's statements did, from storage."""

    new: int = 0
    #: repeats of an earlier statement (same link, or same text): stored, not alerted
    duplicates: int = 0
    alerts: int = 0
    #: items already stored from this source: nothing written
    known: int = 0
    #: ids of the new statements that are not repeats
    new_ids: tuple[int, ...] = ()
    #: stored statements whose text changed (a new version was kept)
    edits: int = 0
    #: (statement id, SimHash, numbers) of the new originals, for the near-duplicate index
    fingerprints: tuple[tuple[int, int, tuple[str, ...] | None], ...] = ()
    #: external id → content hash of each statement or version written (issue 9: what the
    #: poll settled, `bot.unchanged`)
    written: Mapping[str, str] = field(default_factory=dict)
