"""Decoding a feed body with the size cap enforced while decoding (issue 11)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.sources.decoding import BodyTooLarge, CappedDecoder


def _encode(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return z.compress(data) + z.flush()
    return data


def _decode(body: bytes, header: str | None, cap: int, chunk: int) -> bytes:
    d = CappedDecoder(header, cap)
    out = [d.feed(body[i : i + chunk]) for i in range(0, len(body), chunk)]
    return b"".join(out) + d.flush()


@given(
    st.binary(max_size=5000),
    st.sampled_from(["gzip", "deflate", "raw-deflate", "identity"]),
    st.integers(1, 700),
)
@example(b"", "gzip", 1)
@example(b"x" * 5000, "raw-deflate", 3)
def test_bodies_under_the_cap_decode_whole(data: bytes, coding: str, chunk: int) -> None:
    header = {"raw-deflate": "deflate", "identity": None}.get(coding, coding)
    assert _decode(_encode(data, coding), header, 5000, chunk) == data


@given(st.integers(5001, 20000), st.sampled_from(["gzip", "deflate", "identity"]))
def test_bodies_over_the_cap_are_refused(size: int, coding: str) -> None:
    body = _encode(b"a" * size, coding)
    with pytest.raises(BodyTooLarge):
        _decode(body, None if coding == "identity" else coding, 5000, 1 << 16)


def test_a_gzip_bomb_stops_at_the_cap() -> None:
    """Under 100 KB of gzip that would expand to 60 MB, given in one network chunk: memory
    stays near the 1 MB cap (httpx's decoder expanded the whole chunk first)."""
    bomb = gzip.compress(b"\0" * 60_000_000, mtime=0)
    assert len(bomb) < 100_000
    d = CappedDecoder("gzip", 1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            d.feed(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000
