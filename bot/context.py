"""What an alert says besides its statement: what it answers, who else published it, how the
thread went on, and what the other side said. Built from plain values. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model import AlertStatus, Reference, StoredStatement, Watchlist

__all__ = [
    "AlertContext",
    "Around",
    "EditTexts",
    "Mention",
    "ParentState",
    "build_context",
    "other_side",
]

#: how far back "on the other side" looks
OTHER_SIDE_WINDOW = timedelta(hours=6)
#: at most this many "other side" lines
OTHER_SIDE_MAX = 3
#: where a statement was also published, by the kind in its source key
_WHERE = {"x": "on X", "telegram": "on Telegram"}


@dataclass(frozen=True, slots=True)
class Mention:
    """A short line about another statement: who, when, what, where."""

    speaker: str
    side: str
    published_at: datetime
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class AlertContext:
    """Everything around a statement that its alert shows."""

    #: what it replies to, quotes or reposts (first reference)
    reference: Reference | None = None
    #: the same statement published by others: (speaker name, link)
    also: tuple[tuple[str, str | None], ...] = ()
    #: the speaker's own follow-up posts in the same thread, oldest first
    thread: tuple[StoredStatement, ...] = ()
    #: the latest statements on the same topics from speakers of another side
    other_side: tuple[Mention, ...] = ()


@dataclass(frozen=True, slots=True)
class ParentState:
    """The alert a follow-up answers or rewrites, as storage holds it."""

    status: AlertStatus
    message_id: str | None
    #: its Telegram message carries other statements too (a digest, issue 11)
    shared: bool = False


@dataclass(frozen=True, slots=True)
class EditTexts:
    """An edit alert's texts: before and after the version, and when the version was made."""

    before: str
    after: str
    edited_at: datetime


@dataclass(frozen=True, slots=True)
class Around:
    """What storage found around one claimed alert, loaded for a whole dispatch tick at once
    (issue 9: one query per kind of context per tick, not five per alert)."""

    also: tuple[StoredStatement, ...] = ()
    thread: tuple[StoredStatement, ...] = ()
    #: the newest original statements of other speakers on the statement's topics in the
    #: window before it (what "on the other side" chooses from)
    recent: tuple[StoredStatement, ...] = ()
    parent: ParentState | None = None
    edit: EditTexts | None = None


def _mention(st: StoredStatement, watchlist: Watchlist) -> Mention:
    sp = watchlist.speaker(st.speaker_id)
    text = st.title if st.title and not st.text.startswith(st.title) else st.text
    return Mention(
        speaker=sp.name if sp else st.speaker_id,
        side=sp.side if sp else "",
        published_at=st.published_at,
        text=text,
        url=st.url,
    )


def other_side(
    statement: StoredStatement,
    candidates: Sequence[StoredStatement],
    watchlist: Watchlist,
    *,
    window: timedelta = OTHER_SIDE_WINDOW,
    limit: int = OTHER_SIDE_MAX,
) -> tuple[Mention, ...]:
    """The newest `candidates` from speakers of a side other than the statement's speaker's,
    published within `window` before it (and not after), one per speaker."""
    speaker = watchlist.speaker(statement.speaker_id)
    if speaker is None:
        return ()
    since = statement.published_at - window
    out: list[Mention] = []
    seen: set[str] = set()
    for c in sorted(candidates, key=lambda c: (c.published_at, c.id), reverse=True):
        other = watchlist.speaker(c.speaker_id)
        if other is None or other.side == speaker.side or c.speaker_id in seen:
            continue
        if not since <= c.published_at <= statement.published_at or c.id == statement.id:
            continue
        seen.add(c.speaker_id)
        out.append(_mention(c, watchlist))
        if len(out) >= limit:
            break
    return tuple(out)


def build_context(
    statement: StoredStatement,
    watchlist: Watchlist,
    *,
    also: Sequence[StoredStatement] = (),
    thread: Sequence[StoredStatement] = (),
    recent: Sequence[StoredStatement] = (),
) -> AlertContext:
    """The context of `statement`'s alert from what storage found around it."""
    also_lines: list[tuple[str, str | None]] = []
    for st in also:
        sp = watchlist.speaker(st.speaker_id)
        name = sp.name if sp else st.speaker_id
        where = _WHERE.get(st.source_key.partition(":")[0], "on its website")
        label = f"{name} {where}"
        if label not in [n for n, _ in also_lines]:
            also_lines.append((label, st.url))
    return AlertContext(
        reference=statement.references[0] if statement.references else None,
        also=tuple(also_lines),
        thread=tuple(thread),
        other_side=other_side(statement, recent, watchlist),
    )
