"""Hot reload decisions: when the file is read again, and what of an edit applies."""

from __future__ import annotations

from datetime import timedelta

from bot.model import SourceKind, Watchlist
from bot.reload import (
    MTIME_GRANULARITY_NS,
    FileStamp,
    content_changed,
    content_digest,
    keep_running_x,
    source_changes,
    stamp_moved,
    x_sources_asked,
)
from bot.watchlist import parse_watchlist

LONG_AGO = 10**18  # an mtime in ns, far before the reads below


def test_an_untouched_file_is_not_read_again() -> None:
    stamp = FileStamp(mtime_ns=LONG_AGO, size=100)
    read = LONG_AGO + 60 * 10**9
    assert not stamp_moved(stamp, FileStamp(LONG_AGO, 100), last_read_ns=read)


def test_a_moved_time_or_size_or_a_first_look_reads_the_file() -> None:
    stamp = FileStamp(mtime_ns=LONG_AGO, size=100)
    read = LONG_AGO + 60 * 10**9
    assert stamp_moved(stamp, FileStamp(LONG_AGO + 1, 100), last_read_ns=read)
    assert stamp_moved(stamp, FileStamp(LONG_AGO, 101), last_read_ns=read)
    assert stamp_moved(None, FileStamp(LONG_AGO, 100), last_read_ns=None)


def test_a_file_read_in_the_instant_it_was_written_is_read_again() -> None:
    """An edit of the same size within the file system's time granularity keeps the stamp:
    it is found by reading again until the last read is clearly later than the write."""
    stamp = FileStamp(mtime_ns=LONG_AGO, size=100)
    assert stamp_moved(stamp, stamp, last_read_ns=LONG_AGO + 1000)
    assert stamp_moved(stamp, stamp, last_read_ns=LONG_AGO + MTIME_GRANULARITY_NS)
    assert not stamp_moved(stamp, stamp, last_read_ns=LONG_AGO + MTIME_GRANULARITY_NS + 1)


def test_only_bytes_not_seen_before_are_parsed() -> None:
    a, b = content_digest(b"speakers: []\n"), content_digest(b"speakers: [] \n")
    assert a != b
    assert content_changed(None, a)
    assert content_changed(a, b)
    assert not content_changed(a, content_digest(b"speakers: []\n"))


BASE = """
speakers:
  - id: am
    name: Armenia MFA
    role: Foreign ministry
    side: Armenia
    timezone: Asia/Yerevan
    sources:
      - x: "@MFA_Armenia"
      - feed: "https://example.org/am.rss"
  - id: az
    name: Azerbaijan MFA
    role: Foreign ministry
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
      - x: "@AzerbaijanMFA"
topics:
  - id: karabakh
    name: Karabakh
    terms:
      en: [Karabakh]
channels:
  - id: main
    chat: "@main_watch"
"""


def _wl(text: str) -> Watchlist:
    return parse_watchlist(text, path="watchlist.yaml")


def _planned(wl: Watchlist) -> Watchlist:
    """The running watchlist: X intervals as the budget planned them."""
    from dataclasses import replace

    return replace(
        wl,
        speakers=tuple(
            replace(
                sp,
                sources=tuple(
                    replace(s, interval=timedelta(minutes=7)) if s.kind is SourceKind.X else s
                    for s in sp.sources
                ),
            )
            for sp in wl.speakers
        ),
    )


def test_an_edit_without_x_changes_applies_whole_with_the_planned_x_intervals() -> None:
    running = _planned(_wl(BASE))
    edited = _wl(
        BASE.replace(
            '      - feed: "https://example.org/am.rss"\n',
            (
                '      - feed: "https://example.org/am.rss"\n'
                '      - feed: "https://example.org/am2.rss"\n'
            ),
        )
    )
    assert x_sources_asked(edited) == x_sources_asked(_wl(BASE))
    merged = keep_running_x(edited, running)
    keys = {s.key for s in merged.sources()}
    assert "feed:https://example.org/am2.rss" in keys
    xs = [s for s in merged.sources() if s.kind is SourceKind.X]
    assert len(xs) == 2 and all(s.interval == timedelta(minutes=7) for s in xs)
    assert source_changes(running, merged) == (["feed:https://example.org/am2.rss"], [])


def test_x_changes_keep_the_running_x_sources_and_apply_the_rest() -> None:
    base = _wl(BASE)
    running = _planned(base)
    # @AzerbaijanMFA's speaker leaves, a new X account and a topic term come in
    edited_text = BASE.replace('      - x: "@MFA_Armenia"\n', '      - x: "@NewAccount"\n')
    edited_text = edited_text.replace("en: [Karabakh]", "en: [Karabakh, Artsakh]")
    az_start = edited_text.index("  - id: az")
    edited_text = edited_text[:az_start] + edited_text[edited_text.index("topics:") :]
    edited = _wl(edited_text)
    assert x_sources_asked(edited) != x_sources_asked(base)

    merged = keep_running_x(edited, running)
    assert {s.key for s in merged.sources() if s.kind is SourceKind.X} == {
        s.key for s in running.sources() if s.kind is SourceKind.X
    }
    # the speaker that left stays, with its running X source only, so its statements have one
    az = merged.speaker("az")
    assert az is not None and [s.kind for s in az.sources] == [SourceKind.X]
    # the rest of the edit applies
    assert [t.text for t in merged.topics[0].terms] == ["Karabakh", "Artsakh"]
    assert source_changes(running, merged) == ([], [])


def test_an_unchanged_file_merges_to_the_running_watchlist() -> None:
    """The first reload tick reads the file the worker started with: nothing to apply."""
    running = _planned(_wl(BASE))
    assert keep_running_x(_wl(BASE), running) == running
