"""Content-Encoding decoding with the body cap enforced while decoding. No I/O.

Issue 11: httpx decodes each network chunk whole, so a 64 KB gzip chunk became 67 MB before the
10 MB cap was looked at (peak 232 MB for one source). Here the decompressor is asked for no more
than the cap allows, so memory stays at the cap plus one network chunk whatever the ratio.
Kept apart from the HTTP client so that another client can use it as it is.
"""

from __future__ import annotations

import zlib

__all__ = ["ACCEPT_ENCODING", "BodyTooLarge", "CappedDecoder"]

#: the encodings this decoder reads, to be sent as Accept-Encoding (no br/zstd: not bounded here)
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The decoded body went over the cap."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"response over the {cap}-byte cap (decoded)")
        self.cap = cap


class CappedDecoder:
    """Decodes a body sent with `content_encoding` ("gzip", "deflate" or identity), chunk by
    chunk, raising `BodyTooLarge` as soon as the decoded bytes would pass `cap`."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        self._cap = cap
        self._size = 0
        # The last encoding applied is undone first: "gzip, identity" is gzip.
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        self._coding = codings[-1] if codings else "identity"
        self._z: zlib._Decompress | None = None
        # "deflate" is zlib-wrapped as the RFC says, or raw as some servers send it: the first
        # two bytes tell (a zlib header), so they are held until both are here.
        self._head = b""
        if self._coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, chunk: bytes) -> bytes:
        """The decoded bytes of `chunk`.

        Raises:
            BodyTooLarge: the body so far, decoded, is over the cap.
            zlib.error: the body is not validly encoded.
        """
        if self._z is None and self._coding == "deflate":
            self._head += chunk
            if len(self._head) < 2:
                return b""
            chunk, self._head = self._head, b""
            self._z = zlib.decompressobj(zlib.MAX_WBITS if _zlib_header(chunk) else -zlib.MAX_WBITS)
        if self._z is None:
            return self._count(chunk)
        out: list[bytes] = []
        data = chunk
        while data:
            room = self._cap - self._size + 1  # one byte past the cap proves it is over
            piece = self._z.decompress(data, room)
            out.append(self._count(piece))
            data = self._z.unconsumed_tail
            if self._z.eof:
                break
        return b"".join(out)

    def flush(self) -> bytes:
        """What the decompressor still holds at the end of the body."""
        if self._z is None and self._head:
            # a one-byte deflate body: only raw deflate can be that short
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._count(self._z.decompress(self._head, self._cap + 1) + self._z.flush())
        if self._z is None:
            return b""
        return self._count(self._z.flush())

    def _count(self, piece: bytes) -> bytes:
        self._size += len(piece)
        if self._size > self._cap:
            raise BodyTooLarge(self._cap)
        return piece


def _zlib_header(head: bytes) -> bool:
    """Whether `head` starts with a zlib header (RFC 1950: CM 8, check bits)."""
    return head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
