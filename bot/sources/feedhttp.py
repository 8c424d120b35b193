"""The feed retriever's HTTP transport over aiohttp: one GET, raw body decoded under the cap.

Issue 9: aiohttp costs a fraction of httpx's CPU per request at the poller's concurrency
(`benchmarks/http_clients.py`; figures in the README). Imported by `bot.sources.feeds` on the
first feed fetch only: aiohttp takes about 0.15 s to import, which a command that polls no feed
must not pay.

Two sessions (issue 11, DNS rebinding): `as written` for the URL the operator wrote and the hops
a local address redirects to, and `public only`, whose resolver refuses any internal address in
the DNS answer the connection itself uses, for every hop after a redirect from a public address.
Each session's DNS cache and keep-alive pool then only hold what its own rule let through: a
connection opened to 127.0.0.1 for a local RSSHub is never reused for a hop that must stay
public.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.errors import FeedParseError, SourceRejected, SourceUnavailable
from bot.sources.addresses import IPAddress, answer_refusal, is_public
from bot.sources.decoding import ACCEPT_ENCODING, BodyTooLarge, CappedDecoder

__all__ = ["Answer", "FeedHttp", "InternalAnswerRefused", "PublicOnlyResolver", "Redirect"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# asyncio leaks TLS transports whose peer never completes the shutdown before these versions
# (aiohttp then aborts them itself when asked; later versions warn that it is not needed).
_CLEANUP_CLOSED = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)
# h11 (httpx) reads a header block of up to 16 KB; aiohttp's default is 8 KB per line, which a
# feed host with a long Content-Security-Policy would fail.
_MAX_HEADER_LINE = 16 * 1024


class InternalAnswerRefused(OSError):
    """The DNS answer for a hop that must stay public holds an internal address."""


class PublicOnlyResolver(AbstractResolver):
    """Resolves through `inner`, refusing an answer with any address `public` calls internal.

    The I/O edge of `bot.sources.addresses.answer_refusal`: aiohttp connects to what this
    returns, so what is checked is what is used. (aiohttp does not resolve an IP literal; the
    retriever's check before each hop judges those, and a literal cannot be rebound.)"""

    def __init__(self, inner: AbstractResolver, public: Callable[[IPAddress], bool]) -> None:
        self._inner = inner
        self._public = public

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        ips = [_ip(a["host"]) for a in answers]
        refusal = answer_refusal(host, ips, public=self._public)
        if refusal is not None:
            raise InternalAnswerRefused(refusal)
        return answers

    async def close(self) -> None:
        """The inner resolver is the transport's to close."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A final answer: its status, headers, decoded body (200 only) and URL."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirect to `location` (absolute), answered by a server at `peer` (when known)."""

    location: str
    peer: IPAddress | None


class FeedHttp:
    """The two sessions and the resolver the retriever uses; made inside a running loop."""

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_body_bytes: int,
        max_connections: int,
        user_agent: str,
        accept: str,
        resolver: AbstractResolver | None = None,
        public: Callable[[IPAddress], bool] = is_public,
    ) -> None:
        self._cap = max_body_bytes
        self._resolver = resolver or aiohttp.DefaultResolver()
        headers = {"User-Agent": user_agent, "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
        # total: None here; the retriever bounds the whole fetch, redirects included
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )

        def session(resolver: AbstractResolver) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=max_connections,
                    resolver=resolver,
                    enable_cleanup_closed=_CLEANUP_CLOSED,
                ),
                headers=headers,
                timeout=timeout,
                # decoded by CappedDecoder, so that the cap holds while decoding (issue 11)
                auto_decompress=False,
                # feeds share no state: a cookie one host sets is never sent anywhere
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                max_line_size=_MAX_HEADER_LINE,
                max_field_size=_MAX_HEADER_LINE,
            )

        self._as_written = session(self._resolver)
        self._public_only = session(PublicOnlyResolver(self._resolver, public))

    async def close(self) -> None:
        await self._as_written.close()
        await self._public_only.close()
        await self._resolver.close()

    async def resolve(self, host: str) -> list[IPAddress]:
        """The addresses of `host` (itself when it is an IP literal); none when it has none."""
        try:
            return [_ip(host.strip("[]"))]
        except ValueError:
            pass
        try:
            answers = await self._resolver.resolve(host, 0, socket.AF_UNSPEC)
        except OSError:
            return []
        return [_ip(a["host"]) for a in answers]

    async def get(
        self, key: str, url: str, headers: Mapping[str, str], *, public_only: bool
    ) -> Answer | Redirect:
        """One GET of `url`, redirects not followed.

        Raises:
            SourceRejected: a bad URL or Location; an internal DNS answer on a public-only hop.
            SourceUnavailable: timeouts, connection and protocol errors.
            FeedParseError: a body over the cap (declared or decoded), or badly compressed.
        """
        try:
            target = URL(url)
        except (ValueError, TypeError) as exc:
            raise SourceRejected(key, f"bad URL: {exc}") from exc
        session = self._public_only if public_only else self._as_written
        try:
            async with session.get(target, headers=headers, allow_redirects=False) as resp:
                return await self._read(key, resp)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            raise SourceRejected(key, f"bad URL: {exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, InternalAnswerRefused):
                raise SourceRejected(key, f"{exc.os_error}: {url}") from exc
            raise SourceUnavailable(key, f"{type(exc).__name__}: {exc}") from exc
        except aiohttp.ServerTimeoutError as exc:
            # before ClientError: a socket timeout is a timeout, as httpx's were
            raise SourceUnavailable(key, f"timeout: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise SourceUnavailable(key, f"{type(exc).__name__}: {exc}") from exc

    async def _read(self, key: str, resp: aiohttp.ClientResponse) -> Answer | Redirect:
        location = resp.headers.get("Location")
        if resp.status in _REDIRECTS and location:
            try:
                joined = resp.url.join(URL(location))
            except (ValueError, TypeError) as exc:
                raise SourceRejected(key, f"bad redirect Location {location!r}: {exc}") from exc
            return Redirect(str(joined), _peer(resp))
        if resp.status != 200:
            return Answer(resp.status, resp.headers, b"", str(resp.url))
        cap = self._cap
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FeedParseError(key, f"response of {declared} bytes is over the {cap}-byte cap")
        chunks: list[bytes] = []
        # Raw chunks as they arrive, decoded here: the cap holds while decoding, so a gzip bomb
        # stops at the cap, not after a whole chunk's expansion (issue 11).
        decoder = CappedDecoder(resp.headers.get("Content-Encoding"), cap)
        try:
            async for raw in resp.content.iter_any():
                chunks.append(decoder.feed(raw))
            chunks.append(decoder.flush())
        except BodyTooLarge as exc:
            raise FeedParseError(key, str(exc)) from exc
        except zlib.error as exc:
            raise FeedParseError(key, f"badly compressed body: {exc}") from exc
        return Answer(resp.status, resp.headers, b"".join(chunks), str(resp.url))


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not the address


def _peer(resp: aiohttp.ClientResponse) -> IPAddress | None:
    """The address the answer came from: the redirect's origin, as connected, not re-resolved
    (a second lookup could be answered otherwise)."""
    conn = resp.connection
    transport = conn.transport if conn is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return None
    try:
        return _ip(str(peer[0]))
    except ValueError:
        return None
