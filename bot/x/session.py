"""A requests session for tweepy that sends X API calls to a configured base URL, with a timeout.

tweepy 4.x builds every v2 URL as ``"https://api.twitter.com" + route`` in
``BaseClient.request`` and sends it with ``self.session.request(method, url, params=...,
json=..., headers=..., auth=...)`` and no timeout. Its ``session`` attribute is a public
``requests.Session``, so replacing it is the supported way to point the client elsewhere (a fake
server, a relay) and to bound how long a worker thread can wait.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

__all__ = ["OFFICIAL_API_URL", "make_x_session"]

#: The host tweepy hard-codes; requests for it are the ones rewritten.
OFFICIAL_API_URL = "https://api.twitter.com"


def _is_official(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme.lower() == "https"
        and (parts.hostname or "") == "api.twitter.com"
        and parts.port in (None, 443)
        and not parts.username
    )


class _XSession(requests.Session):
    """Rewrites official-host URLs to `base_url` and fills in a timeout when none is given."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__()
        self._base = base_url
        self._timeout = timeout

    def _rewrite(self, url: str | bytes) -> str | bytes:
        if self._base is None:
            return url
        text = url.decode("utf-8") if isinstance(url, bytes) else url
        if not _is_official(text):
            return url
        parts = urlsplit(text)
        base = urlsplit(self._base)
        return urlunsplit(
            (base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment)
        )

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Rewrite before the session resolves proxies, cookies and auth for the URL."""
        return super().request(method, self._rewrite(url), *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Apply the default timeout; rewrite again, for redirects that point at the host."""
        if request.url is not None:
            rewritten = self._rewrite(request.url)
            request.url = rewritten.decode("utf-8") if isinstance(rewritten, bytes) else rewritten
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def make_x_session(base_url: str, *, timeout: float) -> requests.Session:
    """A session for ``tweepy.Client.session`` that sends ``https://api.twitter.com/...`` to
    ``{base_url}/...`` and waits at most `timeout` seconds to connect and between reads.

    Args:
        base_url: where the X API lives, e.g. ``http://127.0.0.1:8080`` or a path-prefixed relay
            ``https://relay.example/x``; the official host means no rewrite.
        timeout: seconds, used whenever the caller passes no timeout (tweepy never does).

    Raises:
        ValueError: `base_url` is not an absolute http(s) URL without query or fragment, or
            `timeout` is not positive.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    parts = urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must have no query or fragment: {base_url!r}")
    base = base_url.rstrip("/")
    return _XSession(None if _is_official(base) and parts.path in ("", "/") else base, timeout)
