"""A tiny threaded HTTP/1.1 server on 127.0.0.1 that serves one request → response function.

The handler style is httpx's ``MockTransport``: a plain function takes a :class:`Request` and
returns a :class:`Response`; :class:`LocalServer` puts it behind a real socket so that real
clients (httpx, python-telegram-bot, tweepy) talk to it over real HTTP. It keeps connections
alive, serves each connection on its own daemon thread, never logs a request, and turns a
handler's exception into a 500 instead of dying.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Handler",
    "Headers",
    "LocalServer",
    "Request",
    "Response",
    "serve",
]

# Statuses that never carry a body (RFC 9110 §6.4.1).
_NO_BODY_STATUSES = frozenset({204, 304}) | frozenset(range(100, 200))
# Hop-by-hop and framing headers the server writes itself.
_SERVER_OWNED = frozenset({"content-length", "transfer-encoding", "date", "server"})
# An idle keep-alive connection is dropped after this many seconds, so threads do not pile up.
_IDLE_TIMEOUT = 30.0


class Headers(Mapping[str, str]):
    """Immutable HTTP headers with case-insensitive lookup; repeated names are kept in order."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple((k, v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        wanted = key.lower()
        for name, value in self._items:
            if name.lower() == wanted:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._items:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._items})

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(n.lower() == key.lower() for n, _ in self._items)

    def get_all(self, key: str) -> list[str]:
        """Every value of header `key`, in the order received."""
        wanted = key.lower()
        return [value for name, value in self._items if name.lower() == wanted]

    def items_list(self) -> list[tuple[str, str]]:
        """All (name, value) pairs, repeated names included."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the handler sees it."""

    method: str
    #: The URL path, percent-encoding kept, without the query string.
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes = b""
    #: The raw request target (path and query) as the client sent it.
    target: str = ""

    def query_one(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """One HTTP response from the handler; the server adds Content-Length, Date and Server."""

    status: int = 200
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)
    body: bytes = b""

    def header_pairs(self) -> list[tuple[str, str]]:
        """The headers as (name, value) pairs."""
        if isinstance(self.headers, Mapping):
            return list(self.headers.items())
        return list(self.headers)

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Response:
        """A JSON response (compact, UTF-8, non-ASCII kept as is)."""
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        pairs = [("Content-Type", "application/json"), *_pairs(headers)]
        return cls(status, pairs, body)

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Response:
        """A text response encoded as UTF-8."""
        pairs = [("Content-Type", content_type), *_pairs(headers)]
        return cls(status, pairs, text.encode("utf-8"))

    @classmethod
    def empty(
        cls, status: int = 204, headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    ) -> Response:
        """A response with no body (204, 304, redirects)."""
        return cls(status, _pairs(headers), b"")


def _pairs(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    # Benchmarks open many connections at once; the default backlog of 5 would drop SYNs.
    request_queue_size = 1024
    daemon_threads = True
    # stop() closes the live connections itself; waiting for idle keep-alive threads would hang.
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: LocalServer) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.accepted = 0
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name, which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is normal here (slow paths); only bugs are printed.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            live = list(self.connections)
            self.connections.clear()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "watchpost-fake"
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    # Headers and body go out in separate writes; Nagle plus delayed ACK would add ~40 ms each.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: a benchmark makes tens of thousands of requests."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        app = self.server.app
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(Response.text("bad request body", 400), head=False)
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=Headers(list(self.headers.items())),
            body=body,
            target=self.path,
        )
        try:
            response = app.handler(request)
        except Exception as exc:  # a broken handler must not take the server down
            response = Response.text(f"fake server error: {type(exc).__name__}", 500)
        if app.latency > 0:
            time.sleep(app.latency)
        self._write(response, head=self.command == "HEAD")

    def _write(self, response: Response, *, head: bool) -> None:
        self.send_response(response.status)
        no_body = response.status in _NO_BODY_STATUSES
        for name, value in response.header_pairs():
            if name.lower() not in _SERVER_OWNED:
                self.send_header(name, value)
        if not no_body:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not head and not no_body and response.body:
            self.wfile.write(response.body)

    do_GET = _handle
    do_HEAD = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle
    do_OPTIONS = _handle


class LocalServer:
    """Serves `handler` over HTTP/1.1 on 127.0.0.1 from a background thread.

    Args:
        handler: the function from request to response.
        host: the address to bind; only 127.x.x.x (or "localhost") is accepted.
        port: the port to bind; 0 picks a free one (read it back from :attr:`url`).
        latency: seconds to wait before each response (benchmarks model a far server).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        if not host.startswith("127."):
            raise ValueError(f"fake servers bind IPv4 loopback only, not {host!r}")
        self.handler = handler
        self.latency = latency
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections the server has accepted (keep-alive reuse shows here)."""
        if self._server is None:
            raise RuntimeError("server not started")
        with self._server.connections_lock:
            return self._server.accepted

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self._address[0]}:{self.port}"

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = _Server(self._address, self)
        return self._server

    def start(self) -> LocalServer:
        """Bind and serve from a daemon thread; returns self."""
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in the calling thread until :meth:`stop` is called from elsewhere."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.05)
        finally:
            server.close_connections()
            server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            self._server = None
            server.close_connections()
            server.server_close()
            thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: float = 0.0,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve `handler` in this process until SIGTERM or Ctrl-C; for benchmark subprocesses.

    Args:
        handler: the function from request to response.
        host: loopback address to bind.
        port: port to bind; 0 picks a free one.
        latency: seconds to wait before each response.
        announce: called once with the base URL when the server listens (the default prints it
            on its own line to stdout and flushes, so a parent process can read the port).
    """
    server = LocalServer(handler, host=host, port=port, latency=latency).start()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        if announce is None:
            print(server.url, flush=True)
        else:
            announce(server.url)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
