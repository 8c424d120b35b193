"""Which feed items a poll settled (`bot.unchanged`, issue 9), as plain values."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import unchanged
from bot.ingest import item_hash
from bot.model import FetchedItem, MatchMode, Term, Topic
from bot.unchanged import (
    SettledItems,
    decode,
    encode,
    item_digest,
    settle,
    settle_scope,
    topics_digest,
)
from tests.builders import spec

T = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
CODE = b"c" * 16
TOPICS = (Topic("ceasefire", "Ceasefire", (Term("ceasefire", "en"), Term("перемирие", "ru"))),)


def item(ext: str, text: str, digest: bytes | None = None) -> FetchedItem:
    return FetchedItem(
        external_id=ext,
        title="",
        text=text,
        url=None,
        published_at=T,
        digest=digest if digest is not None else ext.encode(),
    )


def settled(items: list[FetchedItem], **kw: object) -> dict[bytes, str]:
    args: dict[str, object] = {
        "skipped": {},
        "stored_hashes": {},
        "considered": (),
    }
    args.update(kw)
    return settle(items, **args)  # type: ignore[arg-type]


class TestSettle:
    def test_an_item_stored_with_its_text_is_settled(self) -> None:
        a = item("a", "Karabakh")
        assert settled([a], stored_hashes={"a": item_hash(a)}, considered=["a"]) == {b"a": "a"}

    def test_an_item_stored_with_another_text_is_not(self) -> None:
        # its id's latest text is another: this one was decided on (a flip back to an older
        # version, an edit not kept) and is decided on again at every poll
        a = item("a", "Karabakh")
        assert settled([a], stored_hashes={"a": "other"}, considered=["a"]) == {}
        assert settled([a], stored_hashes={"a": "other"}) == {}

    def test_an_item_decided_on_but_not_stored_is_not(self) -> None:
        # a made-up guid for an item stored under another id: nothing written for this id
        assert settled([item("a", "Karabakh")], considered=["a"]) == {}

    def test_an_item_that_matched_nothing_is_settled(self) -> None:
        assert settled([item("a", "Weather")]) == {b"a": "a"}

    def test_items_sharing_an_id_in_one_fetch_are_never_settled(self) -> None:
        a1, a2 = item("a", "one", b"1"), item("a", "two", b"2")
        hashes = {"a": item_hash(a1)}
        assert settled([a1, a2], stored_hashes=hashes, considered=["a"]) == {}
        assert settled([a1, a2]) == {}

    def test_an_item_without_a_digest_is_never_settled(self) -> None:
        a = FetchedItem(external_id="a", title="", text="x", url=None, published_at=T)
        assert settled([a], stored_hashes={"a": item_hash(a)}) == {}

    def test_the_skipped_items_stay_settled(self) -> None:
        assert settled([], skipped={b"old": "o"}) == {b"old": "o"}


SCOPE = settle_scope(CODE, topics_digest(TOPICS), spec())


class TestStoredForm:
    @given(st.dictionaries(st.binary(min_size=16, max_size=16), st.text(max_size=300), max_size=30))
    @example({b"\x00" * 16: "", b"\xff" * 16: "\ud800 https://mfa.am/en/press/1"})
    def test_what_is_stored_reads_back_under_its_scope(self, ids: dict[bytes, str]) -> None:
        assert decode(encode(SCOPE, ids), SCOPE) == ids

    def test_nothing_under_another_scope(self) -> None:
        other = settle_scope(CODE, topics_digest(()), spec())
        assert decode(encode(SCOPE, {b"d" * 16: "a"}), other) == {}

    def test_nothing_from_what_is_not_the_stored_form(self) -> None:
        stored = encode(SCOPE, {b"d" * 16: "a", b"e" * 16: "b"})
        assert decode(None, SCOPE) == {}
        assert decode(b"", SCOPE) == {}
        assert decode(b"S0" + stored[2:], SCOPE) == {}
        # cut short anywhere: nothing, or (cut between two items) the items before the cut
        first = len(encode(SCOPE, {b"d" * 16: "a"}))
        for end in range(len(stored)):
            want = {b"d" * 16: "a"} if end == first else {}
            assert decode(stored[:end], SCOPE) == want, end


def test_settled_items_are_decoded_at_the_first_look_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[bytes] = []

    def counting(stored: bytes | None, scope: bytes) -> dict[bytes, str]:
        decoded.append(scope)
        return decode(stored, scope)

    monkeypatch.setattr(unchanged, "decode", counting)
    lazy = SettledItems(encode(SCOPE, {b"d" * 16: "a"}), SCOPE)
    assert decoded == []  # a 304: never looked at
    assert b"d" * 16 in lazy and dict(lazy) == {b"d" * 16: "a"} and len(lazy) == 1
    assert decoded == [SCOPE]


class TestScope:
    def test_other_topics_code_or_source_settings_make_another_scope(self) -> None:
        edited = (replace(TOPICS[0], terms=(*TOPICS[0].terms, Term("truce", "en"))),)
        topics = topics_digest(TOPICS)
        others = {
            settle_scope(CODE, topics_digest(edited), spec()),
            settle_scope(b"d" * 16, topics, spec()),
            settle_scope(CODE, topics, replace(spec(), match=MatchMode.ALL)),
            settle_scope(CODE, topics, replace(spec(), speaker_id="az-mfa")),
            settle_scope(CODE, topics, replace(spec(), interval=timedelta(minutes=5))),
        }
        assert len(others) == 5 and SCOPE not in others
        assert settle_scope(CODE, topics_digest(TOPICS), spec()) == SCOPE

    def test_the_same_in_every_process(self) -> None:
        # a `watchpost once` and the next, or two workers: string hashing differs between
        # processes, the scope must not
        code = (
            "from tests.unit.test_unchanged import CODE, TOPICS, spec;"
            "from bot.unchanged import settle_scope, topics_digest;"
            "print(settle_scope(CODE, topics_digest(TOPICS), spec()).hex())"
        )
        seen = {
            subprocess.run(
                [sys.executable, "-c", code],
                env={"PYTHONHASHSEED": seed, "PATH": ""},
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).parents[2],
            ).stdout.strip()
            for seed in ("1", "2")
        }
        assert seen == {SCOPE.hex()}


def test_the_digest_holds_the_feed_url_the_base_and_the_xml() -> None:
    d = item_digest("https://a.example/feed", "", "<item>x</item>")
    assert d == item_digest("https://a.example/feed", "", "<item>x</item>")
    assert d != item_digest("https://b.example/feed", "", "<item>x</item>")
    assert d != item_digest("https://a.example/feed", "https://a.example/", "<item>x</item>")
    assert d != item_digest("https://a.example/feed", "", "<item>y</item>")
    # parts are delimited: moving text from one part to the next is another item
    assert item_digest("ab", "", "c") != item_digest("a", "", "bc")
    assert len(d) == 16
