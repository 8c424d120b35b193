"""The worker's status endpoint: ``GET /metrics`` (Prometheus text) and ``GET /healthz`` (JSON).

A minimal HTTP/1.1 responder on the worker's own event loop (`asyncio.start_server`): one request
per connection, then close. On the loop rather than prometheus-client's threaded server because
health is read from the scheduler's state, which lives on the loop, and the server then starts and
stops with the worker; the database reads behind both pages run in threads, off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Page", "StatusServer"]

log = logging.getLogger("watchpost.status")

#: (status code, content type, body)
Page = tuple[int, str, bytes]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
#: a client gets this long to send its request line and headers
_READ_TIMEOUT = 10.0
_MAX_HEADER_LINES = 100


class StatusServer:
    """Serves `routes` (path → page maker) on host:port; port 0 takes a free one."""

    def __init__(self, routes: dict[str, Callable[[], Awaitable[Page]]]) -> None:
        self._routes = routes
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port bound."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            page, head = await self._respond(reader)
            code, ctype, body = page
            header = (
                f"HTTP/1.1 {code} {_REASONS.get(code, 'Error')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(header.encode("ascii") + (b"" if head else body))
            await writer.drain()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or spoke nonsense: nothing to answer
        except Exception:  # a page that fails must not take the worker down
            log.critical("status page failed", exc_info=True)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[Page, bool]:
        line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)
        parts = line.decode("latin-1").split()
        for _ in range(_MAX_HEADER_LINES):
            if (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT)) in (b"\r\n", b"\n", b""):
                break
        if len(parts) != 3:
            raise ValueError("not an HTTP request line")
        method, target, _version = parts
        path = target.split("?", 1)[0]
        text = "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            return (405, text, b"GET only\n"), False
        make = self._routes.get(path)
        if make is None:
            return (404, text, b"not found: try /metrics or /healthz\n"), method == "HEAD"
        return await make(), method == "HEAD"
