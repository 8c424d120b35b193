"""Local fake servers on 127.0.0.1 that speak the real protocols: for `demo`, tests and benchmarks.

- :mod:`bot.fakes.http`: the tiny threaded HTTP/1.1 server (:class:`LocalServer`) that serves
  one request → response function.
- :mod:`bot.fakes.feed_server`: a feed host with ETag/Last-Modified, gzip and injected failures.
- :mod:`bot.fakes.telegram_api`: a strict fake of the Telegram Bot API for python-telegram-bot.
- :mod:`bot.fakes.telegram_preview`: public channel previews (``t.me/s/NAME``) as t.me serves them.
"""

from bot.fakes.feed_server import FeedServer, RequestRecord
from bot.fakes.http import Handler, Headers, LocalServer, Request, Response, serve
from bot.fakes.telegram_api import ApiCall, Edit, FakeTelegram, SentMessage
from bot.fakes.telegram_preview import FakePreview

__all__ = [
    "ApiCall",
    "Edit",
    "FakePreview",
    "FakeTelegram",
    "FeedServer",
    "Handler",
    "Headers",
    "LocalServer",
    "Request",
    "RequestRecord",
    "Response",
    "SentMessage",
    "serve",
]
