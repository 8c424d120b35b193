"""Fingerprints are stored (FINGERPRINT_VERSION 1): however `fingerprint` computes, its value must
stay the one of the first implementation, kept here verbatim as the reference (issue 9 made
`fingerprint` count the bits of all shingle hashes at once)."""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import dedup
from bot.dedup import MIN_WORDS, fingerprint, to_signed64
from bot.text import LINK_FILL, blank_links, fold, html_to_text
from tests.corpus import feed_texts

_WORD = re.compile(r"[^\W_]+")
_HASHTAG = re.compile(r"#[^\W_][\w]*")


# FINGERPRINT_VERSION 1 as first written (bot/dedup.py before issue 9): each shingle's hash adds
# its bits to 64 counters packed in one integer, 24 bits apiece.
_LANE = 24
_SPREAD = tuple(
    tuple(sum(1 << (_LANE * (8 * k + j)) for j in range(8) if byte >> j & 1) for byte in range(256))
    for k in range(8)
)
_LANE_MASK = (1 << _LANE) - 1


def reference(text: str, max_shingles: int = _LANE_MASK) -> int | None:
    folded = blank_links(fold(text))
    if "#" in folded:
        folded = _HASHTAG.sub(lambda m: LINK_FILL * len(m.group()), folded)
    words = _WORD.findall(folded)
    if words[:1] == ["rt"]:
        words = words[1:]
    if len(words) < MIN_WORDS:
        return None
    shingles = {" ".join(words[i : i + 3]) for i in range(len(words) - 3 + 1)}
    if len(shingles) > max_shingles:
        shingles = set(sorted(shingles)[:max_shingles])
    s0, s1, s2, s3, s4, s5, s6, s7 = _SPREAD
    acc = 0
    for shingle in shingles:
        digest = hashlib.blake2b(shingle.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        h = int.from_bytes(digest, "big")
        acc += (
            s0[h & 255]
            + s1[h >> 8 & 255]
            + s2[h >> 16 & 255]
            + s3[h >> 24 & 255]
            + s4[h >> 32 & 255]
            + s5[h >> 40 & 255]
            + s6[h >> 48 & 255]
            + s7[h >> 56]
        )
    half = len(shingles)
    value = 0
    for i in range(64):
        if 2 * (acc >> (_LANE * i) & _LANE_MASK) > half:
            value |= 1 << i
    return to_signed64(value)


# Words that fold, hold links, mentions and hashtags, several scripts, digits and repeats, so that
# most drawn texts have enough words and many shingles repeat.
_PIECES = st.sampled_from(
    [
        "ministry", "Statement", "ceasefire", "ÉCLAIR", "ёлка", "Карабах", "Արցախ", "καλη",
        "1,234", "27", "RT", "@MFA_am", "#Artsakh", "https://t.co/Ab1", "t.co/xyz", "mfa.am/en",
        "don't", "co-chairs", "İstanbul", "straße", "\u200b", "…", "a", "a", "a", "b",
    ]
)  # fmt: skip
_SEPARATORS = st.sampled_from([" ", "  ", "\n", ", ", ". ", "\t", "\u00a0", ""])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(_PIECES, _SEPARATORS), max_size=80))
    return "".join(p + s for p, s in pieces)


@given(_texts())
@example("one two three four five six seven eight")
@example("RT @a: one two three four five six seven eight")
@example("a a a a a a a a a a a a")  # one shingle, many times
def test_fingerprint_is_the_reference_on_word_texts(text: str) -> None:
    assert fingerprint(text) == reference(text)


@given(st.text(max_size=300))
def test_fingerprint_is_the_reference_on_any_text(text: str) -> None:
    assert fingerprint(text) == reference(text)


@given(_texts())
def test_the_shingle_cap_keeps_the_same_shingles(
    text: str,
) -> None:
    # Only a text of over 16 million shingles meets the cap; a small one shows that the same
    # shingles are kept (the first ones in the strings' sorted order).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dedup, "_MAX_SHINGLES", 5)
        assert fingerprint(text) == reference(text, max_shingles=5)


def test_generated_statements_have_the_reference_fingerprint() -> None:
    rng = random.Random(9)
    words = [w.strip(".,") for w in Path(__file__).read_text().split() if w.isalpha()]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(150, 300)))
        assert fingerprint(text) == reference(text)


@pytest.mark.corpus
def test_corpus_texts_have_the_reference_fingerprint() -> None:
    # Every longer text of every feed file, as published and as html_to_text gives it.
    checked = 0
    for path, value in feed_texts():
        # The long ones (up to 150,000 characters) would take most of the time for no more
        # kinds of text.
        if 40 < len(value) <= 4000:
            for text in {value, html_to_text(value, paragraphs=True)}:
                assert fingerprint(text) == reference(text), (path, text[:80])
                checked += 1
    assert checked > 1000
