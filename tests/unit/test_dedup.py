"""Near-duplicates: one statement as sources post it, and the index that finds it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dedup import (
    BUCKET_SCAN,
    MAX_DISTANCE,
    MIN_WORDS,
    NearDupIndex,
    confirmed,
    distance,
    fingerprint,
    from_signed64,
    numbers,
    similar,
    to_signed64,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "feeds"

STATEMENT = (
    "On 27 September at 07:10 the armed forces of Azerbaijan launched a large-scale offensive "
    "along the entire line of contact, shelling peaceful settlements including the capital "
    "Stepanakert. The Ministry of Foreign Affairs strongly condemns this aggression and calls "
    "on the international community and the OSCE Minsk Group co-chairs to respond."
)
SAME = [
    "RT @MFAofArmenia: " + STATEMENT,
    STATEMENT + " https://t.co/AbCdEf123",
    STATEMENT.upper(),
    STATEMENT + " #Artsakh #StopAzerbaijaniAggression",
    STATEMENT.replace(",", "").replace("  ", " "),
    STATEMENT.replace("Stepanakert", "Stepanakert\u200b").replace("a", "а", 3),  # dodges
    "<< " + STATEMENT + " >>",
]
OTHER = [
    # the same boilerplate, another event
    "On 28 September at 10:00 the armed forces of Azerbaijan shelled the town of Martuni. The "
    "Ministry of Foreign Affairs strongly condemns this and calls on the co-chairs to act.",
    "The Ministry of Foreign Affairs of Azerbaijan states that the armed forces of Armenia "
    "shelled the city of Tartar, and calls on the international community to respond.",
    STATEMENT.split(".")[0] + ".",  # a third of it
]


def test_one_statement_as_sources_post_it_is_similar() -> None:
    base = fingerprint(STATEMENT)
    assert base is not None
    for text in SAME:
        fp = fingerprint(text)
        assert fp is not None
        assert similar(base, fp), (text, distance(base, fp))


def test_a_cut_statement_is_similar() -> None:
    cut = STATEMENT[: int(len(STATEMENT) * 0.92)].rsplit(" ", 1)[0] + "…"
    base, fp = fingerprint(STATEMENT), fingerprint(cut)
    assert base is not None and fp is not None
    assert similar(base, fp), distance(base, fp)


def test_one_statement_as_sources_post_it_is_confirmed_on_its_words() -> None:
    cut = STATEMENT[: int(len(STATEMENT) * 0.92)].rsplit(" ", 1)[0] + "…"
    for text in [*SAME, cut]:
        assert confirmed(STATEMENT, text), text
    for text in OTHER[:2]:  # other events (the third is an excerpt, which `similar` refuses)
        assert not confirmed(STATEMENT, text), text


def test_other_statements_are_not_similar() -> None:
    base = fingerprint(STATEMENT)
    assert base is not None
    for text in OTHER:
        fp = fingerprint(text)
        assert fp is not None
        assert not similar(base, fp), (text, distance(base, fp))


def test_short_texts_have_no_fingerprint() -> None:
    assert fingerprint("Ceasefire violated again.") is None
    assert fingerprint(" ".join(["word"] * (MIN_WORDS - 1))) is None
    assert fingerprint("https://t.co/x @a @b @c @d @e @f @g #h #i") is None
    assert fingerprint(" ".join(f"w{i}" for i in range(MIN_WORDS))) is not None


def test_fingerprints_are_stable_across_runs() -> None:
    # Stored fingerprints are compared with new ones after restarts: no per-process hashing.
    assert fingerprint(STATEMENT) == fingerprint(STATEMENT)
    assert fingerprint("one two three four five six seven eight") == 4905566223835599386


@given(st.text(min_size=0, max_size=400))
def test_fingerprint_fits_a_signed_bigint(text: str) -> None:
    fp = fingerprint(text)
    if fp is not None:
        assert -(2**63) <= fp < 2**63


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_signed64_round_trips(value: int) -> None:
    signed = to_signed64(value)
    assert -(2**63) <= signed < 2**63
    assert from_signed64(signed) == value


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(0, 2**64 - 1))
def test_distance_is_the_same_signed_or_not(a: int, b: int) -> None:
    assert distance(a, b) == distance(from_signed64(a), to_signed64(b)) <= 64
    assert distance(a, a) == 0


# --- the index ------------------------------------------------------------------------------


def flip(value: int, bits: list[int]) -> int:
    for b in bits:
        value ^= 1 << b
    return value


def test_index_finds_a_near_fingerprint_and_not_a_far_one() -> None:
    rng = random.Random(7)
    index = NearDupIndex()
    stored = [rng.getrandbits(64) for _ in range(2000)]
    for i, fp in enumerate(stored):
        index.add(i, to_signed64(fp))
    assert len(index) == 2000
    assert index.query(stored[5]) == [5]
    assert 5 in index.query(flip(stored[5], [0, 17, 33, 63]))
    assert 5 not in index.query(flip(stored[5], list(range(0, 64, 4))))


def test_index_recall_within_the_distance() -> None:
    rng = random.Random(11)
    index = NearDupIndex()
    stored = [rng.getrandbits(64) for _ in range(5000)]
    for i, fp in enumerate(stored):
        index.add(i, fp)
    found = {d: 0 for d in range(MAX_DISTANCE + 1)}
    for d in found:
        for _ in range(200):
            i = rng.randrange(len(stored))
            hits = index.query(flip(stored[i], rng.sample(range(64), d)))
            found[d] += i in hits
            assert all(distance(stored[j], flip(stored[i], [])) <= 64 for j in hits)
    assert all(found[d] == 200 for d in range(5))
    assert found[MAX_DISTANCE] >= 180  # banding misses a few of the farthest


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50), st.integers(0, 2**64 - 1))
def test_index_never_returns_what_similar_refuses(stored: list[int], query: int) -> None:
    index = NearDupIndex()
    for i, fp in enumerate(stored):
        index.add(i, fp)
    hits = index.query(query)
    assert hits == sorted(hits, key=lambda i: (distance(stored[i], query), i))  # closest first
    assert all(similar(stored[i], query) for i in hits)
    assert index.query(query, limit=2) == hits[:2]


def test_a_flooded_bucket_is_read_from_its_newest_entries() -> None:
    """Templated text puts thousands of close fingerprints in the same buckets: a lookup reads
    the newest `BUCKET_SCAN` of each, so it stays fast and still finds the recent cross-post."""
    index = NearDupIndex()
    base = 0x0123_4567_89AB_CDEF
    rng = random.Random(3)
    for i in range(5000):  # all within 8 bits of `base`, none identical to it
        index.add(i, flip(base, rng.sample(range(64), 6)))
    index.add(5000, base)  # the newest: the one a cross-post repeats
    hits = index.query(base, limit=3)
    assert hits[0] == 5000
    assert len(index.query(base)) <= 16 * BUCKET_SCAN


def test_index_discard_and_replace() -> None:
    index = NearDupIndex()
    index.add(1, 12345)
    index.add(2, 12345)
    assert index.query(12345) == [1, 2]
    index.discard(1)
    index.discard(99)
    assert index.query(12345) == [2]
    index.add(2, ~12345)
    assert index.query(12345) == []
    assert 2 in index and 1 not in index
    index.discard(2)
    assert len(index) == 0


def test_candidates_whose_numbers_disagree_are_left_out() -> None:
    # issue 9: daily reports of one template are each near the others; a candidate with other
    # numbers is refused by the decider, so it is not read from storage at all
    index = NearDupIndex()
    index.add(1, 12345, numbers("Shelling of Tartar: 3 wounded, 28 September"))
    index.add(2, 12345, numbers("Shelling of Tartar: 2 wounded, 28 September"))
    index.add(3, 12345)  # loaded from storage: its numbers are not known here
    index.add(4, 12345, numbers("Shelling of Tartar: 3 wounded, 28 September, 14:00"))
    said = numbers("Shelling of Tartar: 3 wounded, 28 September")
    assert index.agreeing(index.query(12345), said) == [1, 3, 4]
    index.discard(1)
    index.add(1, 12345)  # re-added without numbers: none remembered
    assert index.agreeing([1, 2], said) == [1]


@pytest.mark.corpus
def test_different_feed_items_are_rarely_similar() -> None:
    if not CORPUS.is_dir():
        pytest.skip("no ../shared/corpus")
    feedparser = pytest.importorskip("feedparser")
    from bot.text import html_to_text

    pairs = close = 0
    for path in sorted(CORPUS.glob("feed-rs/**/*.xml"))[:40]:
        entries = feedparser.parse(str(path)).entries
        texts = {html_to_text(e.get("summary", "") or "") for e in entries}
        fps = [fp for fp in map(fingerprint, texts) if fp is not None]
        for i, a in enumerate(fps):
            for b in fps[i + 1 :]:
                pairs += 1
                close += similar(a, b)
    assert pairs > 100
    assert close <= pairs // 1000
