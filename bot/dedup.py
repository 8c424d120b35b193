"""Near-duplicate statements: SimHash fingerprints and an index of close ones. No I/O.

Issue 4: the same statement posted on the ministry's site and on X, or reposted by a second
official account, should alert once. Exact repeats are caught by the content hash; this module
catches the near ones: other case and punctuation, a link, mention, hashtags or "RT @account:"
added, a trailing "…" where a platform cut the text.

- `fingerprint(text)` folds the text (`bot.text.fold`: case, accents, look-alike letters), blanks
  links and @mentions, drops #hashtags and a leading "RT", and takes the set of 3-word shingles.
  Each shingle is hashed (BLAKE2b, 64 bits, stable across processes and machines) and the
  fingerprint is their SimHash: bit i is set when most shingle hashes have bit i set. Texts of
  fewer than `MIN_WORDS` words get no fingerprint: a near-repeat of a short text proves nothing.
- Two fingerprints are `similar` when they differ in at most `MAX_DISTANCE` (8) bits. For sets
  of shingles, the expected share of differing bits is θ/π, θ the angle between the two sets
  (cos θ = |A∩B| / √(|A|·|B|)): about 6 of 64 bits when one text is the other cut by a tenth,
  13 when a fifth of the shingles differ, 21 when half do, 32 for unrelated texts. A false
  near-duplicate costs an alert (it is reported as the same statement), a missed one only a
  second alert, so the threshold leans to precision. Measured on the 1,244 feed items of 25+
  words in ``../shared/corpus/feeds``: "RT @account:", a link, hashtags, upper case: all found
  (distance 0); punctuation changed: 95 %; the last tenth cut with "…": 76 % (91 % at 10 bits);
  cut to 280 characters: 52 %. Different items of the same feed: 1 pair in 13,936 within 8 bits
  (two templated change-log entries; 7 pairs within 10 bits, templated release notes).
- `NearDupIndex` keeps fingerprints by 16 overlapping 12-bit windows (LSH banding): a query
  looks at 16 buckets of about ``n / 4096`` entries each and checks the true distance of those.
  Two fingerprints within the distance share some window with high probability (not always:
  the index may miss a far pair that `similar` accepts; it never returns one `similar` refuses).

Fingerprints are signed 64-bit integers, ready for a BIGINT column; `FINGERPRINT_VERSION` names
the scheme, so that stored fingerprints of another version can be told apart and recomputed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from bot.text import LINK_FILL, blank_links, fold

__all__ = [
    "BUCKET_SCAN",
    "FINGERPRINT_VERSION",
    "MAX_DISTANCE",
    "MIN_WORDS",
    "NEAR_CONFIRM",
    "NearDupIndex",
    "confirmed",
    "contained",
    "distance",
    "fingerprint",
    "from_signed64",
    "numbers",
    "numbers_agree",
    "numbers_within",
    "similar",
    "to_signed64",
]

FINGERPRINT_VERSION = 1
#: the most bits two fingerprints of one statement may differ in
MAX_DISTANCE = 8
#: the share of the shorter text's shingles that the longer must hold as well (`confirmed`)
NEAR_CONFIRM = 0.5
#: shorter texts get no fingerprint
MIN_WORDS = 8
_SHINGLE = 3
_M64 = (1 << 64) - 1
_WORD = re.compile(r"[^\W_]+")
# ASCII text's words, the same as _WORD finds, by bytes.translate and split (a fifth of the time:
# the regex tests each character's class): every ASCII character _WORD does not match is a space.
_ASCII_WORDS_ONLY = bytes(b if _WORD.fullmatch(chr(b)) else 0x20 for b in range(128)) + bytes(128)
_HASHTAG = re.compile(r"#[^\W_][\w]*")
# Fingerprints of version 1 were made with 64 counters packed in 24-bit lanes of one integer,
# so a text with more shingles than a lane holds counted only the first ones in sorted order;
# kept, so that no fingerprint changes.
_MAX_SHINGLES = (1 << 24) - 1
# Each shingle's hash: BLAKE2b of 8 bytes, from a copy of one unkeyed state (issue 9: copying it
# costs a third less than the constructor, which parses its eight keyword arguments each time).
_BLAKE2B_64 = hashlib.blake2b(digest_size=8)


def to_signed64(value: int) -> int:
    """A 64-bit pattern as the signed integer a BIGINT column holds."""
    value &= _M64
    return value - (1 << 64) if value >> 63 else value


def from_signed64(value: int) -> int:
    """The 64-bit pattern (0 to 2^64 - 1) of a signed 64-bit integer."""
    return value & _M64


def _words(text: str) -> list[str]:
    folded = blank_links(fold(text))
    if "#" in folded:
        folded = _HASHTAG.sub(lambda m: LINK_FILL * len(m.group()), folded)
    if folded.isascii():
        words = folded.encode("ascii").translate(_ASCII_WORDS_ONLY).decode("ascii").split()
    else:
        words = _WORD.findall(folded)
    if words[:1] == ["rt"]:  # "RT @account: ...": the mention is blanked already
        words = words[1:]
    return words


def _shingles(words: list[str]) -> set[str]:
    return {" ".join(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def _shingle_bytes(words: list[str]) -> set[bytes]:
    """`_shingles` as the UTF-8 that is hashed: the text encoded once, not each shingle."""
    # A word holds no space (`_WORD`), so the joined text splits back into the same words.
    enc = " ".join(words).encode("utf-8", "surrogatepass").split(b" ")
    return set(map(b" ".join, zip(enc, enc[1:], enc[2:], strict=False)))  # _SHINGLE words


def _digests(shingles: set[bytes]) -> bytes:
    """The 8-byte BLAKE2b digests of `shingles`, side by side (in the set's order)."""
    out: list[bytes] = []
    for shingle in shingles:
        h = _BLAKE2B_64.copy()
        h.update(shingle)
        out.append(h.digest())
    return b"".join(out)


def _majority_bits(digests: bytes, count: int) -> int:
    """The 64-bit value whose bit i is set when more than half of `count` digests (big-endian
    64-bit numbers, side by side) have bit i set: the SimHash."""
    ones = int.from_bytes(b"\x01" * count, "big")  # bit 0 of each byte
    value = 0
    for k in range(8):
        # Byte k of every digest (bits 63 - 8k to 56 - 8k) as one number: bit j of all of them
        # is counted by one shift, mask and bit_count, in C.
        column = int.from_bytes(digests[k::8], "big")
        low = 56 - 8 * k
        for j in range(8):
            if 2 * (column >> j & ones).bit_count() > count:
                value |= 1 << (low + j)
    return value


def fingerprint(text: str) -> int | None:
    """The SimHash of `text` as a signed 64-bit integer, or None if it has too few words.

    Pass the statement's body, not its title: a post on X has none, and a site's title is not
    part of what was said.
    """
    words = _words(text)
    if len(words) < MIN_WORDS:
        return None
    shingles = _shingle_bytes(words)
    if len(shingles) > _MAX_SHINGLES:
        # UTF-8 sorts as the code points do: the same shingles as sorting the strings
        shingles = set(sorted(shingles)[:_MAX_SHINGLES])
    # Counted per bit across all digests at once (issue 9): adding each hash's bits to packed
    # counters in Python cost half of the fingerprint's time.
    return to_signed64(_majority_bits(_digests(shingles), len(shingles)))


def numbers(text: str) -> tuple[str, ...]:
    """The numbers a statement states, in order, as digit strings.

    Read from the same words as the fingerprint (links, mentions and hashtags left out), with
    thousands groups joined: "1,234", "1 234" and "1234" are one number on every platform.
    """
    out: list[str] = []
    joinable = False
    for word in _words(text):
        if not word.isdigit():
            joinable = False
            continue
        if joinable and len(word) == 3 and out:
            out[-1] += word
        else:
            out.append(word)
        joinable = True
    return tuple(out)


def contained(short: str, long: str) -> float:
    """The share of `short`'s 3-word shingles found in `long` (0 when `short` has none): how far
    one text is an excerpt or an abridgement of the other."""
    a = _shingles(_words(short))
    if not a:
        return 0.0
    return len(a & _shingles(_words(long))) / len(a)


def confirmed(a: str, b: str) -> bool:
    """Whether two texts whose fingerprints are `similar` share their words: at least
    `NEAR_CONFIRM` of the shorter's 3-word shingles are in the longer.

    A 64-bit fingerprint cannot make this check alone: unrelated texts are 32 bits apart on
    average, and among tens of thousands of statements some pairs come within 8 bits by chance
    (issue 9: 30,000 generated statements had two unrelated ones 8 bits apart, and the second
    was stored as a repeat of the first, its alert lost). Statements that are one are far above
    the threshold (a tenth cut: 1.0; a link or "RT" added: 1.0), chance pairs far below.
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return contained(short, long_) >= NEAR_CONFIRM


def numbers_within(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether every number of the text with fewer numbers is among the other's (as a multiset):
    an abridged text may drop a sentence with its numbers, but it does not change one."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    pool = list(long_)
    for n in short:
        if n not in pool:
            return False
        pool.remove(n)
    return True


def numbers_agree(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two statements' numbers allow them to be one statement.

    Casualty counts, dates, times and vehicle counts are what a report is about: "2 helicopters"
    and "3 helicopters", "as of 28 September" and "as of 29 September" are two statements however
    alike the rest. One text may be the other cut short (a platform's limit), so the numbers of the
    shorter must be the first numbers of the longer.
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return tuple(long_[: len(short)]) == tuple(short)


def distance(a: int, b: int) -> int:
    """How many of their 64 bits two fingerprints differ in (signed or not, alike)."""
    return ((a ^ b) & _M64).bit_count()


def similar(a: int, b: int) -> bool:
    """Whether two fingerprints are of one statement: at most `MAX_DISTANCE` bits apart."""
    return distance(a, b) <= MAX_DISTANCE


# 16 windows of 12 bits, every 4 bits around the 64 (the last ones wrap to the start).
_WINDOW_BITS = 12
_WINDOW_STEP = 4
_WINDOWS = 64 // _WINDOW_STEP
#: the newest entries of one bucket a lookup reads (see `NearDupIndex.query`)
BUCKET_SCAN = 64


def _keys(value: int) -> Iterable[int]:
    doubled = value | value << 64  # rotation without a branch
    mask = (1 << _WINDOW_BITS) - 1
    for w in range(_WINDOWS):
        yield (doubled >> (w * _WINDOW_STEP) & mask) | w << _WINDOW_BITS


class NearDupIndex:
    """Fingerprints of stored statements by id, to find the near-duplicates of a new one.

    Not thread-safe; ids are the storage's statement ids (larger is newer).
    """

    __slots__ = ("_buckets", "_fingerprints", "_numbers", "max_distance")

    def __init__(self, *, max_distance: int = MAX_DISTANCE) -> None:
        self.max_distance = max_distance
        self._fingerprints: dict[int, int] = {}
        self._buckets: dict[int, list[int]] = {}
        #: the numbers of the statements added with theirs (`numbers`)
        self._numbers: dict[int, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._fingerprints)

    def __contains__(self, statement_id: object) -> bool:
        return statement_id in self._fingerprints

    def add(self, statement_id: int, fp: int, numbers: Sequence[str] | None = None) -> None:
        """Index a statement's fingerprint (signed or not), with the `numbers` of its text when
        known; a known id is replaced."""
        if statement_id in self._fingerprints:
            self.discard(statement_id)
        value = from_signed64(fp)
        self._fingerprints[statement_id] = value
        if numbers is not None:
            self._numbers[statement_id] = tuple(numbers)
        for key in _keys(value):
            self._buckets.setdefault(key, []).append(statement_id)

    def discard(self, statement_id: int) -> None:
        """Forget a statement (one that left the window of recent ones); unknown ids are fine."""
        value = self._fingerprints.pop(statement_id, None)
        self._numbers.pop(statement_id, None)
        if value is None:
            return
        for key in _keys(value):
            bucket = self._buckets[key]
            bucket.remove(statement_id)
            if not bucket:
                del self._buckets[key]

    def query(self, fp: int, *, limit: int | None = None) -> list[int]:
        """Ids of indexed statements within `max_distance` bits of `fp`, closest first (oldest
        first among equals), at most `limit` of them.

        Each bucket is read from its newest entry back, at most `BUCKET_SCAN` entries: text that
        shares one template (daily reports, "Statement K of source N: ...") fills a few buckets
        with thousands of fingerprints close to each other, and reading them all would make every
        lookup a scan. A cross-post is found within minutes or hours of its original, so it sits
        among the newest entries of its buckets; an older one the cap skips costs a second
        alert, never a merge.
        """
        value = from_signed64(fp)
        seen: set[int] = set()
        for key in _keys(value):
            bucket = self._buckets.get(key)
            if bucket:
                seen.update(bucket[-BUCKET_SCAN:])
        stored = self._fingerprints
        limit_bits = self.max_distance
        close = sorted(
            (d, i) for i in seen if (d := (stored[i] ^ value).bit_count()) <= limit_bits
        )
        if limit is not None:
            close = close[:limit]
        return [i for _, i in close]

    def agreeing(self, ids: Sequence[int], numbers: Sequence[str]) -> list[int]:
        """`ids` without the statements whose numbers are known and disagree with `numbers`
        (`numbers_agree`): two statements that say other numbers are never one, however close
        their fingerprints (issue 9: daily reports of one template, each near the others, had
        every candidate read from storage and compared, to be refused for its numbers)."""
        known = self._numbers
        return [i for i in ids if (n := known.get(i)) is None or numbers_agree(numbers, n)]
