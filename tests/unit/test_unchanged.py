"""Which feed items a poll settled (`bot.unchanged`, issue 9), as plain values."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ingest import item_hash
from bot.model import CachingInfo, FetchedItem
from bot.unchanged import SeenItems, item_digest, settle

ETAG = CachingInfo(etag='"v2"')
T = datetime(2020, 9, 27, 4, 0, tzinfo=UTC)


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
        "caching": ETAG,
    }
    args.update(kw)
    return dict(settle(items, **args).ids)  # type: ignore[arg-type]


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


class TestUsable:
    def test_usable_while_the_stored_caching_is_the_polls_own(self) -> None:
        seen = SeenItems(ETAG, {b"a": "a"})
        assert seen.usable(CachingInfo(etag='"v2"')) == {b"a": "a"}

    def test_not_after_a_later_poll_stored_other_caching(self) -> None:
        # another worker's poll, or a write of ours that failed and left the older one
        seen = SeenItems(ETAG, {b"a": "a"})
        assert seen.usable(CachingInfo(etag='"v3"')) == {}
        assert seen.usable(CachingInfo(etag='"v2"', last_modified="Sun, 27 Sep 2020")) == {}

    def test_never_for_a_source_without_caching_headers(self) -> None:
        seen = SeenItems(CachingInfo(), {b"a": "a"})
        assert seen.usable(CachingInfo()) == {}


def test_the_digest_holds_the_feed_url_the_base_and_the_xml() -> None:
    d = item_digest("https://a.example/feed", "", "<item>x</item>")
    assert d == item_digest("https://a.example/feed", "", "<item>x</item>")
    assert d != item_digest("https://b.example/feed", "", "<item>x</item>")
    assert d != item_digest("https://a.example/feed", "https://a.example/", "<item>x</item>")
    assert d != item_digest("https://a.example/feed", "", "<item>y</item>")
    # parts are delimited: moving text from one part to the next is another item
    assert item_digest("ab", "", "c") != item_digest("a", "", "bc")
    assert len(d) == 16
