"""Builders of domain values for tests, with defaults that say nothing surprising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.model import (
    Channel,
    FetchedItem,
    Match,
    MatchedTerm,
    SourceKind,
    SourceSpec,
    Speaker,
    StatementToStore,
    Term,
    Topic,
    Watchlist,
)
from bot.text import content_hash

T0 = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)


def item(
    n: int,
    *,
    title: str | None = None,
    text: str | None = None,
    url: str | None = "auto",
    published: datetime | None = None,
) -> FetchedItem:
    return FetchedItem(
        external_id=f"id-{n}",
        title=title if title is not None else f"Statement {n} on Karabakh",
        text=text if text is not None else f"Text of statement number {n} about Karabakh.",
        url=f"https://example.org/news/{n}" if url == "auto" else url,
        published_at=published or T0 + timedelta(minutes=n),
        raw=f'{{"n": {n}}}',
    )


def spec(
    key: str = "feed:https://example.org/rss",
    *,
    speaker: str = "sp1",
    interval: timedelta | None = None,
    backfill: int = 0,
) -> SourceSpec:
    return SourceSpec(
        key=key,
        kind=SourceKind(key.split(":", 1)[0]),
        target=key.split(":", 1)[1],
        speaker_id=speaker,
        interval=interval,
        backfill_alerts=backfill,
    )


def match(topic: str = "karabakh", term: str = "Karabakh") -> Match:
    return Match(topic, (MatchedTerm(term=term, found=term, start=0, end=len(term)),))


def to_store(
    it: FetchedItem,
    *,
    speaker: str = "sp1",
    channels: tuple[str, ...] = ("main",),
    canonical: str | None = None,
    check_repeat: bool = False,
) -> StatementToStore:
    return StatementToStore(
        item=it,
        speaker_id=speaker,
        canonical_url=canonical,
        content_hash=content_hash(it.title, it.text),
        check_repeat=check_repeat,
        matches=(match(),),
        channels=channels,
    )


def watchlist(*sources: SourceSpec, channels: tuple[Channel, ...] | None = None) -> Watchlist:
    speakers = {}
    for s in sources:
        speakers.setdefault(s.speaker_id, []).append(s)
    return Watchlist(
        speakers=tuple(
            Speaker(
                id=sid,
                name=f"Speaker {sid}",
                role="Foreign ministry",
                side=f"side-{sid}",
                timezone="Asia/Yerevan",
                sources=tuple(ss),
            )
            for sid, ss in speakers.items()
        ),
        topics=(
            Topic(
                "karabakh",
                "Nagorno-Karabakh",
                (Term("Karabakh", "en"), Term("Карабах", "ru", True)),
            ),
            Topic("ceasefire", "Ceasefire", (Term("ceasefire", "en", True),)),
        ),
        channels=channels if channels is not None else (Channel("main", "@main"),),
        path="test",
    )
