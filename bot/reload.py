"""Hot reload decisions: whether the watchlist file changed, and what of an edit applies. No I/O.

The reload tick (`bot.reloader`) stats the file every few seconds; it reads it only when
`stamp_moved` says so, and parses it only when `content_changed` says the bytes differ from what
it last applied or refused. X accounts are planned against the X budget at start, so an edit
that changes them keeps the running ones (`keep_running_x`) until a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from bot.model import SourceKind, SourceSpec, Speaker, Watchlist

__all__ = [
    "MTIME_GRANULARITY_NS",
    "FileStamp",
    "content_changed",
    "content_digest",
    "keep_running_x",
    "source_changes",
    "stamp_moved",
    "x_sources_asked",
]


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What a stat of the watchlist file says, to skip reading an untouched file."""

    mtime_ns: int
    size: int


#: file systems keep modification times this coarsely at worst (FAT: 2 s; ext4: a kernel tick)
MTIME_GRANULARITY_NS = 2_000_000_000


def stamp_moved(last: FileStamp | None, now: FileStamp, *, last_read_ns: int | None) -> bool:
    """Read the file again? When its modification time or size moved, or when it was last read
    within the file system's time granularity of its modification time: an edit of the same
    size in that instant would leave the stamp as it was, and be missed until the next one
    ("racily clean", as git calls it). `last_read_ns` is the wall clock when it was last read.
    """
    if last != now or last_read_ns is None:
        return True
    return last_read_ns - now.mtime_ns <= MTIME_GRANULARITY_NS


def content_digest(data: bytes) -> str:
    """A digest of the file's bytes: an edit that restores the same bytes is no change."""
    return hashlib.sha256(data).hexdigest()


def content_changed(last_digest: str | None, digest: str) -> bool:
    """Parse the file? Only for bytes not already applied or refused: a bad edit is reported
    once, not at every tick until it is fixed."""
    return last_digest != digest


def x_sources_asked(watchlist: Watchlist) -> frozenset[SourceSpec]:
    """The X sources of a watchlist as written: what the X polling plan was made from."""
    return frozenset(s for s in watchlist.sources() if s.kind is SourceKind.X)


def _x_of(speaker: Speaker) -> tuple[SourceSpec, ...]:
    return tuple(s for s in speaker.sources if s.kind is SourceKind.X)


def _with_running_x(speaker: Speaker, running_x: tuple[SourceSpec, ...]) -> Speaker:
    """The speaker's sources in file order, each X one replaced by its running spec (or left out
    when none runs), then the running X ones the file no longer names."""
    by_key = {s.key: s for s in running_x}
    sources = [
        by_key[s.key] if s.kind is SourceKind.X else s
        for s in speaker.sources
        if s.kind is not SourceKind.X or s.key in by_key
    ]
    named = {s.key for s in sources}
    sources += [s for s in running_x if s.key not in named]
    return replace(speaker, sources=tuple(sources))


def keep_running_x(new: Watchlist, running: Watchlist) -> Watchlist:
    """`new`, with the X sources of `running` in place of its own.

    The running X sources carry the intervals the budget planned; a speaker that left the
    watchlist but has running X sources stays with those only, so that their statements still
    have a speaker. An unchanged file gives back `running` itself, order and all.
    """
    running_x = {sp.id: _x_of(sp) for sp in running.speakers}
    speakers = [_with_running_x(sp, running_x.get(sp.id, ())) for sp in new.speakers]
    kept = {sp.id for sp in new.speakers}
    speakers += [
        replace(sp, sources=running_x[sp.id])
        for sp in running.speakers
        if sp.id not in kept and running_x[sp.id]
    ]
    return replace(new, speakers=tuple(speakers))


def source_changes(before: Watchlist, after: Watchlist) -> tuple[list[str], list[str]]:
    """(added, removed) source keys, sorted, for the reload's log line."""
    old = {s.key for s in before.sources()}
    new = {s.key for s in after.sources()}
    return sorted(new - old), sorted(old - new)
