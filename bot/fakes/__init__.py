"""Local fake servers on 127.0.0.1 that speak the real protocols: for `demo`, tests and benchmarks.

- :mod:`bot.fakes.http`: the tiny threaded HTTP/1.1 server (:class:`LocalServer`) that serves
  one request → response function.
- :mod:`bot.fakes.feed_server`: a feed host with ETag/Last-Modified, gzip and injected failures.
- :mod:`bot.fakes.telegram_api`: a strict fake of the Telegram Bot API for python-telegram-bot.
"""

from bot.fakes.feed_server import FeedServer, RequestRecord
from bot.fakes.http import Handler, Headers, LocalServer, Request, Response, serve
from bot.fakes.telegram_api import ApiCall, Edit, FakeTelegram, SentMessage

__all__ = [
    "ApiCall",
    "Edit",
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
